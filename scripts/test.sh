#!/usr/bin/env bash
# test.sh BUILD_DIR [unit|integration|all]: runs the cmocka unit tests
# (BUILD_DIR/tests/test_*), then the integration tests
# (tests/integration/run.sh BUILD_DIR), showing every binary's output.
#
# Counts cmocka's "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"
# lines over all binaries; a binary that exits non-zero without a FAILED
# line (a crash, a sanitizer report, a timeout) counts as one failure. Ends
# with exactly one line "tests: N passed, N failed" and exits non-zero if
# anything failed or no test ran at all. UNIT_TIMEOUT: seconds per unit
# binary (default 300).
set -euo pipefail

TK_PROG=test.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: scripts/test.sh BUILD_DIR [unit|integration|all]" >&2
    exit 2
fi
BUILD_DIR=$1
what=${2:-all}
case "$what" in
    unit | integration | all) ;;
    *) echo "usage: scripts/test.sh BUILD_DIR [unit|integration|all]" >&2; exit 2 ;;
esac
[ -d "$BUILD_DIR" ] || tk_die "build directory $BUILD_DIR not found (make MODE=san test-build)"
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}

# Leaks are failures; UBSan stops at the first report with a stack.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# A signal stops the running unit test, or the integration runner (which
# stops its services: bounded by its own waits), then ends the run.
it_pidfile=""
# shellcheck disable=SC2317 # run from the traps below
on_signal() {
    local pid
    trap '' INT TERM HUP
    tk_stop_test
    if [ -n "$it_pidfile" ]; then
        pid=$(tk_read_pidfile "$it_pidfile")
        if [ -n "$pid" ] && tk_proc_running "$pid"; then
            tk_warn "stopping the integration tests (pid $pid)"
            tk_stop_pid tests/integration/run.sh "$pid" 150 || true
        fi
    fi
    tk_warn "interrupted by $1"
    exit 130
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP

cd "$ROOT"
passed=0
failed=0
ran=0

if [ "$what" != integration ]; then
    for b in "$BUILD_DIR"/tests/test_*; do
        if [ ! -f "$b" ] || [ ! -x "$b" ] || [[ "$(basename "$b")" == *.* ]]; then continue; fi
        tk_run_cmocka "$UNIT_TIMEOUT" "$b" || true
    done
    [ "$TK_RAN" -gt 0 ] || tk_warn "no unit tests in $BUILD_DIR/tests (test_*)"
    passed=$TK_PASSED
    failed=$TK_FAILED
    ran=$((TK_PASSED + TK_FAILED))
fi

if [ "$what" != unit ]; then
    out=$(mktemp "${TMPDIR:-/tmp}/tk-it-out.XXXXXX")
    rc=0
    # In the background and waited for, so that on_signal can pass a signal
    # on to the runner, which then stops its services.
    {
        r=0
        "$ROOT/tests/integration/run.sh" "$BUILD_DIR" </dev/null 2>&1 &
        echo "$!" >"$out.pid"
        wait "$!" || r=$?
        echo "$r" >"$out.rc"
    } | tee "$out" &
    it_pidfile=$out.pid
    wait "$!" || true
    it_pidfile=""
    rc=$(cat "$out.rc" 2>/dev/null || echo 1)
    summary=$(grep -E '^integration tests: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    rm -f "$out" "$out.rc" "$out.pid"
    ip=0
    if_=0
    if [[ "$summary" =~ ^integration\ tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        ip=${BASH_REMATCH[1]}
        if_=${BASH_REMATCH[2]}
    fi
    if [ "$rc" -ne 0 ] && [ "$if_" -eq 0 ]; then
        tk_warn "tests/integration/run.sh failed (exit $rc) before any test failed: counted as one failure"
        if_=1
    fi
    passed=$((passed + ip))
    failed=$((failed + if_))
    ran=$((ran + ip + if_))
fi

[ "$ran" -gt 0 ] || tk_warn "no test ran at all: that is a failure"
echo "tests: $passed passed, $failed failed"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
