#!/usr/bin/env bash
# flame.sh: a perf profile of the gateway as a flame graph and a table of
# where its CPU goes, by function group (bench/README.md, "The claim path
# over HTTP/1.1"). awk only, no third-party tool.
#
# Usage: scripts/flame.sh PERF_DATA OUT_PREFIX [TITLE]
#   writes OUT_PREFIX.folded (one "root;...;leaf count" line per stack),
#   OUT_PREFIX.svg (the flame graph; hover a frame for its name and share)
#   and prints the share of each function group. A sample counts for the
#   first group met walking from the leaf toward the root: malloc called by
#   jansson counts as malloc/free, jansson's own code as JSON.
# PERF_DATA from `perf record --call-graph dwarf` (scripts/claim_cpu.sh with
# PERF_OUT) or `-g` on a build with frame pointers.
set -euo pipefail

TK_PROG=flame.sh
[ $# -ge 2 ] || { echo "usage: $0 PERF_DATA OUT_PREFIX [TITLE]" >&2; exit 2; }
data=$1 out=$2 title=${3:-$1}
command -v perf >/dev/null 2>&1 || { echo "$TK_PROG: perf not found (apt-get install linux-perf)" >&2; exit 1; }

# perf script: a header line per sample, then one "addr sym (dso)" line per frame, leaf first.
perf script -i "$data" -F comm,tid,ip,sym,dso 2>/dev/null | awk '
/^[^ \t]/ { if (n) emit(); n = 0; next }
/^[ \t]*$/ { if (n) emit(); n = 0; next }
{
    sub(/^[ \t]*[0-9a-f]+ /, "")
    dso = $0; sub(/.*\(/, "", dso); sub(/\)$/, "", dso); sub(/.*\//, "", dso)
    sym = $0; sub(/ \(.*$/, "", sym)
    if (sym == "[unknown]") sym = "[" dso "]"
    if (dso == "[kernel.kallsyms]") sym = sym "_[k]"
    gsub(/;/, ":", sym)
    fr[n++] = sym
}
function emit(  i, st) { st = fr[n - 1]; for (i = n - 2; i >= 0; i--) st = st ";" fr[i]; cnt[st]++ }
END { if (n) emit(); for (s in cnt) print s, cnt[s] }' |
    # sorted as if ";" came before every other byte, so the stacks under one frame are one run
    tr ';' '\001' | sed 's/ \([0-9]*\)$/\t\1/' | LC_ALL=C sort | tr '\001' ';' | tr '\t' ' ' >"$out.folded"

# The flame graph: stacks sorted, so each frame is one run of equal prefixes (as flamegraph.pl draws it).
awk -v title="$title" '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }
function close_frame(d,  w, x, name, chars, lab, h, y, i, fill) {
    name = open[d]; x = start[d]
    w = (at - x) * scale; x = 10 + x * scale
    if (w < 0.3) return
    y = 40 + (maxd - d) * 16
    h = 0; for (i = 1; i <= length(name) && i <= 12; i++) h = (h * 31 + index(alnum, substr(name, i, 1))) % 65536
    fill = name ~ /_\[k\]$/ ? sprintf("rgb(%d,%d,60)", 200 + h % 55, 120 + h % 60) : sprintf("rgb(%d,%d,%d)", 220 + h % 35, 90 + int(h / 16) % 120, 30 + int(h / 256) % 40)
    svg = svg sprintf("<g><title>%s (%d samples, %.2f%%)</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"15\" fill=\"%s\" rx=\"2\"/>", esc(name), at - start[d], 100 * (at - start[d]) / total, x, y, w, fill)
    chars = int(w / 7)
    if (chars >= 3) { lab = length(name) <= chars ? name : substr(name, 1, chars - 2) ".."; svg = svg sprintf("<text x=\"%.1f\" y=\"%d\" font-size=\"11\" font-family=\"monospace\">%s</text>", x + 2, y + 12, esc(lab)) }
    svg = svg "</g>\n"
}
BEGIN { alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" }
{ c = $NF; st = $0; sub(/ [0-9]+$/, "", st); line[NR] = st; num[NR] = c; total += c; k = split(st, f, ";"); if (k > maxd) maxd = k }
END {
    maxd++; scale = 1580 / (total > 0 ? total : 1); at = 0; depth = 1; open[0] = "all"; start[0] = 0
    for (r = 1; r <= NR; r++) {
        k = split(line[r], f, ";")
        same = 0; while (same < k && same < depth - 1 && open[same + 1] == f[same + 1]) same++
        for (d = depth - 1; d > same; d--) close_frame(d)
        for (d = same + 1; d <= k; d++) { open[d] = f[d]; start[d] = at }
        depth = k + 1; at += num[r]
    }
    for (d = depth - 1; d >= 0; d--) close_frame(d)
    printf "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1600\" height=\"%d\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", 60 + (maxd + 1) * 16
    printf "<text x=\"10\" y=\"22\" font-size=\"15\" font-family=\"sans-serif\">%s (%d samples; hover a frame)</text>\n%s</svg>\n", esc(title), total, svg
}' "$out.folded" >"$out.svg"

# The groups: patterns tried leaf first; the first that matches takes the sample.
awk '
function grp(f) {
    if (f ~ /^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|_int_realloc|malloc_consolidate|unlink_chunk|__GI___libc_malloc|__GI___libc_free|__libc_malloc|__libc_free|__libc_calloc|__libc_realloc)$/) return "malloc/free"
    if (f ~ /_\[k\]$/ || f ~ /^(__GI___writev|__GI___libc_read|__GI___libc_write|__GI_epoll_ctl|epoll_wait|__GI_epoll_wait|accept4|__GI___clock_gettime|__vdso_clock_gettime)$/) return "kernel (syscalls: TCP, epoll)"
    if (f ~ /^tk_log/) return "logging"
    if (f ~ /printf|^_itoa|^_IO_/) return "printf"
    if (f ~ /^json_|libjansson|^jsonp_|^hashtable_/) return "JSON parse (jansson)"
    if (f ~ /^(tk_claim_json|tk_claim_id|tk_claim_location|tk_claim_decode|tk_time_format_rfc3339|tk_fmt_)/) return "claim answer (tk_claim_json)"
    if (f ~ /^(gw_claim_body|gw_claim_quick|parse|user_value|qty_value|key|skip_ws|tk_valid_|id_chars)/) return "claim body parse"
    if (f ~ /^(gw_reply|gw_metrics)/) return "gw_reply, metrics"
    if (f ~ /^(gw_batcher|send_batch|on_reply|answer_one|answer_all|free_batch|batch_|on_flush|flush_all|gw_journal|tk_key)/) return "batcher, journal"
    if (f ~ /libhiredis|^redis|^__redis|^sds|^gw_redis|^on_call_reply|^deliver|^send_script/) return "hiredis"
    if (f ~ /^(gw_route|gw_router|gw_ratelimit|gw_rl_|gw_req_|on_req|take_param)/) return "router, rate limit"
    if (f ~ /libh2o|^h2o_|^phr_/) return "h2o"
    if (f ~ /^(__)?(mem|str)/) return "libc mem/str (callers: h2o, hiredis, ours)"
    return ""
}
{
    c = $NF; st = $0; sub(/ [0-9]+$/, "", st); n = split(st, fr, ";"); g = "other"
    for (i = n; i >= 1; i--) { x = grp(fr[i]); if (x != "") { g = x; break } }
    tot[g] += c; all += c
}
END { for (g in tot) printf "%6.1f%%  %s\n", 100 * tot[g] / all, g | "sort -rn"; close("sort -rn"); printf "%d samples\n", all }' "$out.folded"
