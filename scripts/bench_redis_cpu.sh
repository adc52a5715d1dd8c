#!/usr/bin/env bash
# bench_redis_cpu.sh: Redis CPU per granted claim, claim and confirm, and
# where it goes (issue 16). Starts what scripts/bench.sh starts (Redis with
# ACLs and AOF `always`, MariaDB, the release gateway, BENCH_WORKERS
# workers) in a temporary directory, then per load (h1: wrk HTTP/1.1, 64
# connections; h2: tk-h2bench HTTP/2, 16 x 32 streams; each a new user per
# request on an event stocked far beyond what sells):
#   storm   the load with the workers stopped (bench.sh's claim phase)
#   drain   the workers started until every stream is empty (bench.sh's drain)
# and prints, per phase, Redis's CPU (INFO cpu used_cpu_user + used_cpu_sys)
# and INFO commandstats (calls, usec), and per load the CPU µs per granted
# claim over storm + drain, the drain's rows/s and mariadbd's CPU per row. CPU time per claim is
# what to compare across runs on a shared machine, not rates.
#
# Environment: BENCH_SECONDS (10), BENCH_WORKERS (2), GW_THREADS (1),
# CPU_LOADS ("h1 h2"), BENCH_KEEP=1 keeps the directory.
set -euo pipefail

TK_PROG=bench_redis_cpu.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/scratch.sh
. "$ROOT/scripts/scratch.sh"

SECS=${BENCH_SECONDS:-10}
WORKERS=${BENCH_WORKERS:-2}
GW_THREADS=${GW_THREADS:-1}
LOADS=${CPU_LOADS:-h1 h2}
GATEWAY=$ROOT/build/release/bin/tk-gateway
WORKER=$ROOT/build/release/bin/tk-worker
H2BENCH=$ROOT/build/release/bench/tk-h2bench
for f in "$GATEWAY" "$WORKER" "$H2BENCH"; do
    [ -x "$f" ] || tk_die "$f not found: make build first"
done

scratch_init tkc

# CPU µs (user + system) the process @1 has used so far, from /proc (0 when it is gone).
proc_cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
db_cpu_us() { proc_cpu_us "$(cat "$DIR/mariadb/mariadb.pid")"; }
cpu_us() { rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.0f", s * 1e6 }'; }
# "cmd calls usec" lines of INFO commandstats, scripts' inner commands included.
cmdstats() { rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p' | sort; }

# report PHASE CPU0 CPU1 GRANTED: the phase's CPU and commandstats table
report() {
    local us=$(($3 - $2))
    printf '  %s: redis cpu %d us' "$1" "$us"
    [ "$4" -gt 0 ] && printf ' = %.2f us per granted claim' "$(awk "BEGIN { print $us / $4 }")"
    printf '\n'
    cmdstats | awk -v g="$4" '{ printf "    %-12s calls %9d  usec %10d  usec/claim %7.3f\n", $1, $2, $3, (g > 0 ? $3 / g : 0) }'
}

scratch_services
scratch_gateway "$GW_THREADS"
tk_say "redis-cpu: ${SECS}s loads, $WORKERS workers, GW_THREADS=$GW_THREADS, AOF always, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

for load in $LOADS; do
    ev=cpu-$load
    admin POST /v1/admin/events "{\"event_id\":\"$ev\",\"name\":\"cpu $ev\",\"stock\":100000000,\"max_per_user\":1}" >/dev/null ||
        tk_die "cannot create $ev"
    sleep 2.5 # the gateway learns the event (tk:events is re-read about every 2 s)
    rcli config resetstat >/dev/null
    c0=$(cpu_us)
    case $load in
        h1) timeout $((SECS + 30)) wrk -t 1 -c 64 -d "${SECS}s" --timeout 5s -s "$ROOT/bench/wrk.lua" \
                "http://127.0.0.1:$HTTP_PORT/v1/events/$ev/claims" -- claim "$RUNID$load" >"$DIR/$load.out" 2>&1 ;;
        h2) timeout $((SECS + 30)) "$H2BENCH" -p "$PORT" -c 16 -m 32 -d "$SECS" -n 50000000 -X POST "/v1/events/$ev/claims" \
                >"$DIR/$load.out" 2>&1 ;;
        *) tk_die "CPU_LOADS: unknown load $load" ;;
    esac
    c1=$(cpu_us)
    granted=$(rcli hget "tk:{$ev}:ev" seq)
    tk_say "$load: $granted claims granted in ${SECS}s"
    report "$load storm" "$c0" "$c1" "$granted"
    rcli config resetstat >/dev/null
    rows0=$(db "SELECT COUNT(*) FROM claims")
    c2=$(cpu_us)
    m2=$(db_cpu_us)
    t0=$(date +%s%N)
    scratch_start_workers "$WORKERS" cpu
    streams_wait_empty 300 "$ev" || tk_die "the drain did not finish within 300 s"
    t1=$(date +%s%N)
    c3=$(cpu_us)
    m3=$(db_cpu_us)
    scratch_stop_workers
    rows=$(($(db "SELECT COUNT(*) FROM claims") - rows0))
    report "$load drain" "$c2" "$c3" "$granted"
    printf '  %s drain: %d rows in %.3f s = %.0f rows/s\n' "$load" "$rows" "$(awk "BEGIN { print ($t1 - $t0) / 1e9 }")" \
        "$(awk "BEGIN { print $rows / (($t1 - $t0) / 1e9) }")"
    printf '  %s drain: mariadbd cpu %.2f us per row\n' "$load" "$(awk "BEGIN { print ($m3 - $m2) / ($rows > 0 ? $rows : 1) }")"
    printf '  %s TOTAL: %.2f us of redis cpu per granted claim (storm %.2f + drain %.2f)\n' "$load" \
        "$(awk "BEGIN { print ($c1 - $c0 + $c3 - $c2) / $granted }")" "$(awk "BEGIN { print ($c1 - $c0) / $granted }")" \
        "$(awk "BEGIN { print ($c3 - $c2) / $granted }")"
    [ "$rows" = "$granted" ] || tk_warn "MariaDB has $rows new rows but Redis granted $granted"
done
