#!/usr/bin/env bash
# soldout_cpu.sh: what a sold-out claim costs Redis and the gateway, per
# request, over a fixed number of requests (not a benchmark of rates: CPU
# time per request, read from the processes themselves).
#
# Usage: scripts/soldout_cpu.sh [GATEWAY [REQUESTS]]
#   GATEWAY   the tk-gateway binary (default build/release/bin/tk-gateway),
#             so that two builds can be compared on the same machine
#   REQUESTS  sold-out claims per load (default 200000)
#
# Starts its own Redis (AOF always) and MariaDB in a temporary directory
# (scripts/services.sh), one gateway (1 loop thread, USER_AUTH=off), an event
# of 1,000 units sold out by tk-h2bench, then two loads of REQUESTS claims by
# new users: tk-h2bench over HTTP/2 (16 connections x 32 streams, REQUESTS
# claims), then wrk over HTTP/1.1 (64 connections, SOLDOUT_SECS seconds,
# default 5, bench/wrk.lua), as scripts/bench.sh's sold-out phase loads
# them. For each it prints Redis's CPU (INFO cpu, used_cpu_sys +
# used_cpu_user) and the gateway's (/proc/PID/stat) in microseconds per
# request, and INFO commandstats of the commands the load sent; then
# /healthz over both (wrk, h2load as the bench does) with the gateway's CPU
# per /healthz request, and the two ratios of issue 16's bars, from this
# one run. Nothing is kept (the logs are, when it
# fails; scripts/scratch.sh).
set -euo pipefail
TK_PROG=soldout_cpu.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/scratch.sh
. "$ROOT/scripts/scratch.sh"

GATEWAY=$(tk_abspath "${1:-build/release/bin/tk-gateway}")
N=${2:-200000}
H2BENCH=$ROOT/build/release/bench/tk-h2bench
[ -x "$GATEWAY" ] || tk_die "$GATEWAY not found"
[ -x "$H2BENCH" ] || tk_die "$H2BENCH not found: make -s build"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1000 ] || tk_die "REQUESTS: expected a number >= 1000"

scratch_init tks

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
redis_cpu() { rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }

scratch_services
scratch_gateway 1
admin POST /v1/admin/events '{"event_id":"so","name":"so","stock":1000,"max_per_user":1}' >/dev/null || tk_die "could not create the event"
"$H2BENCH" -p "$PORT" -c 16 -m 32 -d 60 -n 5000 -X POST /v1/events/so/claims >/dev/null 2>&1
[ "$(rcli hget 'tk:{so}:ev' remaining)" = 0 ] || tk_die "the event did not sell out"
hz=$(getconf CLK_TCK)

report() { # NAME REQUESTS R0 R1 G0 G1
    awk -v name="$1" -v n="$2" -v r0="$3" -v r1="$4" -v g0="$5" -v g1="$6" -v hz="$hz" 'BEGIN {
        printf "%s: %d requests; Redis %.2f us/request, gateway %.2f us/request\n", name, n, (r1 - r0) * 1e6 / n, (g1 - g0) / hz * 1e6 / n }'
    rcli info commandstats | tr -d '\r' | grep -E '^cmdstat_(evalsha|hget|hmget):' | sed 's/^/  /'
}
h2_soldout() { # CONNS STREAMS: REQUESTS sold-out claims by new users over HTTP/2
    rcli config resetstat >/dev/null
    local r0 g0 out
    r0=$(redis_cpu)
    g0=$(ticks "$gw_pid")
    out=$("$H2BENCH" -p "$PORT" -c "$1" -m "$2" -d 120 -n "$N" -X POST /v1/events/so/claims 2>/dev/null)
    report "sold-out HTTP/2 ${1}x$2" "$N" "$r0" "$(redis_cpu)" "$g0" "$(ticks "$gw_pid")"
    echo "  tk-h2bench: $out"
    so_h2=$(sed -n 's/.*"rps":\([0-9]*\).*/\1/p' <<<"$out")
}
h1_soldout() { # wrk, 64 connections, SECS seconds: the bench's HTTP/1.1 storm (counted by its requests)
    rcli config resetstat >/dev/null
    local r0 g0 out n
    r0=$(redis_cpu)
    g0=$(ticks "$gw_pid")
    out=$(wrk -t 1 -c 64 -d "${SECS}s" --timeout 5s -s "$ROOT/bench/wrk.lua" "http://127.0.0.1:$HTTP_PORT/v1/events/so/claims" -- claim "$RANDOM$RANDOM" | sed -n 's/^TKWRK //p')
    n=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<<"$out")
    report "sold-out HTTP/1.1 wrk 64c" "$n" "$r0" "$(redis_cpu)" "$g0" "$(ticks "$gw_pid")"
    echo "  wrk: $out"
    so_h1=$(sed -n 's/.*"rps":\([0-9]*\).*/\1/p' <<<"$out")
}
SECS=${SOLDOUT_SECS:-5}
h2_soldout 16 32
h1_soldout
g0=$(ticks "$gw_pid")
out=$(wrk -t 1 -c 64 -d "${SECS}s" -s "$ROOT/bench/wrk.lua" "http://127.0.0.1:$HTTP_PORT/healthz" -- get | sed -n 's/^TKWRK //p')
g1=$(ticks "$gw_pid")
ok_h1=$(sed -n 's/.*"rps":\([0-9]*\).*/\1/p' <<<"$out")
n_h1=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' <<<"$out")
out=$(h2load -t 1 -c 16 -m 32 -D "$SECS" "https://127.0.0.1:$PORT/healthz" 2>/dev/null)
g2=$(ticks "$gw_pid")
ok_h2=$(sed -n 's/^finished in [^,]*, \([0-9]*\)[0-9.]* req\/s.*/\1/p' <<<"$out")
n_h2=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' <<<"$out")
# The same figure for /healthz: the gateway's CPU per request that a sold-out claim is compared with.
awk -v a="$n_h1" -v b="$n_h2" -v g0="$g0" -v g1="$g1" -v g2="$g2" -v hz="$hz" 'BEGIN {
    printf "/healthz: gateway %.2f us/request over HTTP/1.1 (wrk 64c, %d), %.2f over HTTP/2 (h2load 16x32, %d)\n", (g1 - g0) / hz * 1e6 / a, a, (g2 - g1) / hz * 1e6 / b, b }'
awk -v a="$so_h1" -v b="$ok_h1" -v c="$so_h2" -v d="$ok_h2" 'BEGIN {
    printf "ratios (same run): sold-out HTTP/1.1 %d / /healthz %d = %.2f; sold-out HTTP/2 %d / /healthz %d = %.2f\n", a, b, a / b, c, d, c / d }'
[ "$(rcli hget 'tk:{so}:ev' remaining)" = 0 ] && [ "$(rcli hget 'tk:{so}:ev' seq)" = 1000 ] || tk_die "the books moved: remaining $(rcli hget 'tk:{so}:ev' remaining), seq $(rcli hget 'tk:{so}:ev' seq)"
echo "books: 1000 granted, remaining 0 (unchanged by the loads)"
