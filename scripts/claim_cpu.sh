#!/usr/bin/env bash
# claim_cpu.sh: the gateway's CPU time per claim over HTTP/1.1, measured
# the way bench.sh's claims phase loads it (Redis with AOF always, MariaDB,
# two workers draining, wrk with 64 connections, a new user per claim),
# but reported per claim instead of per second: the gateway's utime+stime
# from /proc/PID/stat over the load, divided by the claims it answered 201.
# Throughput on a shared machine moves with everyone else's load; the CPU
# a claim costs the gateway moves far less, so two builds compare fairly.
#
# Usage: scripts/claim_cpu.sh [GATEWAY_BINARY]   (default build/release/bin/tk-gateway)
# Environment: CPU_SECONDS (10) per load, CPU_RUNS (3) loads (a new event
# each), PERF_OUT (unset; a path: `perf record --call-graph dwarf -F PERF_FREQ` (999) on the
# gateway during the last load, perf.data written there).
# Prints one line per load and the median:
#   claim_cpu.sh: run 1: 82535 claims (8178/s), 15.63 us gateway CPU per claim (user 5.10, system 10.53); 9.1 claims per script call
# (fewer claims per call cost more system time per claim: the batching
# depends on how many requests a loop turn finds, so on the machine's load)
set -euo pipefail

TK_PROG=claim_cpu.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/scratch.sh
. "$ROOT/scripts/scratch.sh"

GATEWAY=$(tk_abspath "${1:-$ROOT/build/release/bin/tk-gateway}")
WORKER=$ROOT/build/release/bin/tk-worker
SECS=${CPU_SECONDS:-10}
RUNS=${CPU_RUNS:-3}
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || tk_die "CPU_SECONDS=$SECS: expected 1..120"
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] && [ "$RUNS" -le 20 ] || tk_die "CPU_RUNS=$RUNS: expected 1..20"
for f in "$GATEWAY" "$WORKER"; do [ -x "$f" ] || tk_die "$f not found: make build first"; done
for c in wrk curl openssl awk; do command -v "$c" >/dev/null 2>&1 || tk_die "$c not found"; done
[ -z "${PERF_OUT:-}" ] || command -v perf >/dev/null 2>&1 || tk_die "perf not found (apt-get install linux-perf)"

scratch_init tkc

ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # user system
counters() { # the gateway's 201 answers and claim script calls so far, from its /metrics
    curl -sf --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" |
        awk '/^tk_http_requests_total\{/ && /status="201"/ { n += $NF } /^tk_claim_batches_total / { b = $NF } END { printf "%d %d\n", n, b }'
}
scratch_services
scratch_gateway 1
scratch_start_workers 2 cpu

hz=$(getconf CLK_TCK)
results=()
for ((run = 1; run <= RUNS; run++)); do
    ev=cpu-$run
    admin POST /v1/admin/events "{\"event_id\":\"$ev\",\"name\":\"cpu $ev\",\"stock\":100000000,\"max_per_user\":1}" >/dev/null ||
        tk_die "could not create event $ev"
    perf_pid=""
    if [ -n "${PERF_OUT:-}" ] && [ "$run" = "$RUNS" ]; then
        perf record -q --call-graph dwarf,16384 -F "${PERF_FREQ:-999}" -p "$gw_pid" -o "$PERF_OUT" -- sleep "$SECS" 2>"$DIR/perf.err" &
        perf_pid=$!
    fi
    read -r c0 b0 < <(counters)
    read -r u0 s0 < <(ticks "$gw_pid")
    wrk -t 1 -c 64 -d "${SECS}s" --timeout 5s -s "$ROOT/bench/wrk.lua" "http://127.0.0.1:$HTTP_PORT/v1/events/$ev/claims" \
        -- claim "$RUNID$run" >"$DIR/wrk.$run" 2>&1 || { cat "$DIR/wrk.$run" >&2; tk_die "wrk failed"; }
    read -r u1 s1 < <(ticks "$gw_pid")
    read -r c1 b1 < <(counters)
    [ -z "$perf_pid" ] || wait "$perf_pid" || tk_warn "perf record failed: $(head -c 300 "$DIR/perf.err")"
    n=$((c1 - c0))
    [ "$n" -gt 0 ] || tk_die "no claim was answered 201 in run $run"
    per() { awk -v t="$1" -v hz="$hz" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'; }
    us=$(per $((u1 - u0 + s1 - s0)))
    tk_say "run $run: $n claims ($(sed -n 's/.*"rps":\([0-9]*\).*/\1/p' "$DIR/wrk.$run")/s), $us us gateway CPU per claim (user $(per $((u1 - u0))), system $(per $((s1 - s0)))); $(awk -v n="$n" -v b=$((b1 - b0)) 'BEGIN { printf "%.1f", (b > 0 ? n / b : 0) }') claims per script call"
    results+=("$us")
done
tk_say "median: $(printf '%s\n' "${results[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') us gateway CPU per claim ($(basename "$GATEWAY"), $RUNS x ${SECS}s, wrk 64 connections)"
