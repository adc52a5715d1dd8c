#!/usr/bin/env bash
# bench_aof_bytes.sh [LUA_DIR]: AOF bytes per claim of lua/claim.lua, of the
# workers' XREADGROUP and of lua/confirm.lua (issue 16). A scratch
# redis-server (appendonly yes, appendfsync always, no ACLs) on a free
# loopback port in a temporary directory: 1,000 claims in 20 calls of 50,
# then reads of 100 entries until none is left (10 of one claim each; 1
# with the 20 packed entries of AOF_ENTRY=m, the default), each confirmed,
# all confirmed; the growth of
# the AOF's incremental file is measured around each step. LUA_DIR (default
# this tree's lua/) may be an older tree's, to compare: its confirm.lua is
# called with the argument shape it expects (triplets before issue 16).
set -euo pipefail

TK_PROG=bench_aof_bytes.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
L=$(tk_abspath "${1:-$ROOT/lua}")
[ -r "$L/claim.lua" ] && [ -r "$L/confirm.lua" ] || tk_die "$L: no claim.lua / confirm.lua"
# triplets (before issue 16) or "n, ids, pairs"
if grep -q "ARGV\[2\] n, the number of entry ids" "$L/confirm.lua"; then style=count; else style=triplets; fi
P=$(tk_free_port 20000 29999) || tk_die "no free port"
D=$(mktemp -d /tmp/tka.XXXXXX)
cleanup() {
    [ ! -s "$D/pid" ] || kill "$(cat "$D/pid")" 2>/dev/null || true
    sleep 0.2
    rm -rf "$D"
}
trap cleanup EXIT
redis-server --port "$P" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --dir "$D" \
    --daemonize yes --pidfile "$D/pid" --logfile "$D/redis.log" >/dev/null
for ((i = 0; i < 50; i++)); do redis-cli -p "$P" ping >/dev/null 2>&1 && break; sleep 0.1; done
r() { redis-cli -p "$P" "$@"; }
size() { cat "$D"/appendonlydir/*.incr.aof | wc -c; }
r hset 'tk:{a}:ev' state open total 100000 remaining 100000 maxpu 1 opens 0 closes 0 seq 0 >/dev/null
r xgroup create 'tk:{a}:q' wk 0 MKSTREAM >/dev/null
# the entry shape (ARGV[3]) to a claim.lua that takes one: AOF_ENTRY m (packed, default) or s (one entry per claim)
shape=()
if grep -q "ARGV\[3\] the entry shape" "$L/claim.lua"; then shape=("${AOF_ENTRY:-m}"); fi
cs=$(r script load "$(cat "$L/claim.lua")")
fs=$(r script load "$(cat "$L/confirm.lua")")
s0=$(size)
for c in $(seq 1 20); do
    args=()
    for u in $(seq 1 50); do args+=("user-$c-$u" 1); done
    r evalsha "$cs" 4 'tk:{a}:ev' 'tk:{a}:claims' 'tk:{a}:q' 'tk:{a}:prio' 1764547200000 0 "${shape[@]}" "${args[@]}" >/dev/null
done
s1=$(size)
sr=0 sc=0 nusers=0
for b in $(seq 1 1000); do
    x0=$(size)
    r --no-raw xreadgroup group wk w1 count 100 streams 'tk:{a}:q' '>' >"$D/read.txt"
    x1=$(size)
    sr=$((sr + x1 - x0))
    mapfile -t ids < <(grep -o '"[0-9]*-[0-9]*"' "$D/read.txt" | tr -d '"')
    [ "${#ids[@]}" -gt 0 ] || break
    # a packed entry's users are inside its m field's string: match them unquoted
    mapfile -t users < <(grep -o 'user-[0-9]*-[0-9]*' "$D/read.txt")
    nusers=$((nusers + ${#users[@]}))
    [ "$style" = count ] || [ "${#ids[@]}" = "${#users[@]}" ] || tk_die "read $b: ${#ids[@]} ids, ${#users[@]} users"
    if [ "$style" = triplets ]; then
        a=()
        for k in "${!ids[@]}"; do a+=("${ids[$k]}" "${users[$k]}" c); done
        r evalsha "$fs" 3 'tk:{a}:claims' 'tk:{a}:q' 'tk:{a}:ev' wk "${a[@]}" >/dev/null
    else
        r evalsha "$fs" 3 'tk:{a}:claims' 'tk:{a}:q' 'tk:{a}:ev' wk "${#ids[@]}" "${ids[@]}" >/dev/null
    fi
    sc=$((sc + $(size) - x1))
done
[ "$nusers" = 1000 ] || tk_die "read $nusers claims of 1000"
[ "$(r xlen 'tk:{a}:q')" = 0 ] || tk_die "the stream is not empty after the confirms"
echo "AOF bytes per claim ($L): claim.lua $(((s1 - s0) / 1000)), XREADGROUP $((sr / 1000)), confirm.lua $((sc / 1000)), total $(((s1 - s0 + sr + sc) / 1000))"
