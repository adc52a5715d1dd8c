#!/usr/bin/env bash
# test.sh BUILD_DIR [unit|integration|e2e|all]: runs the cmocka unit tests
# (BUILD_DIR/tests/test_*), then the integration tests
# (tests/integration/run.sh BUILD_DIR), then the client surfaces, JMeter
# and the browser (tests/e2e/run.sh BUILD_DIR), showing every output.
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
    echo "usage: scripts/test.sh BUILD_DIR [unit|integration|e2e|all]" >&2
    exit 2
fi
BUILD_DIR=$1
what=${2:-all}
case "$what" in
    unit | integration | e2e | all) ;;
    *) echo "usage: scripts/test.sh BUILD_DIR [unit|integration|e2e|all]" >&2; exit 2 ;;
esac
[ -d "$BUILD_DIR" ] || tk_die "build directory $BUILD_DIR not found (make MODE=san test-build)"
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}

# Leaks are failures; UBSan stops at the first report with a stack.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# h2o's own per-thread caches, which it cannot free (see the file).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}

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

if [ "$what" = unit ] || [ "$what" = all ]; then
    for b in "$BUILD_DIR"/tests/test_*; do
        if [ ! -f "$b" ] || [ ! -x "$b" ] || [[ "$(basename "$b")" == *.* ]]; then continue; fi
        tk_run_cmocka "$UNIT_TIMEOUT" "$b" || true
    done
    [ "$TK_RAN" -gt 0 ] || tk_warn "no unit tests in $BUILD_DIR/tests (test_*)"
    passed=$TK_PASSED
    failed=$TK_FAILED
    ran=$((TK_PASSED + TK_FAILED))
fi

# run_stage SCRIPT LABEL: runs a stage runner (tests/integration/run.sh,
# tests/e2e/run.sh) on BUILD_DIR and adds its "LABEL tests: N passed, N
# failed" line to the totals; a runner that fails before any test failed
# counts as one failure.
run_stage() {
    local script=$1 label=$2 out rc summary sp=0 sf=0
    out=$(mktemp "${TMPDIR:-/tmp}/tk-stage-out.XXXXXX")
    # on_signal passes a signal on to the runner, which then stops its services.
    tk_run_teed "$out" it_pidfile "$ROOT/$script" "$BUILD_DIR"
    rc=$(cat "$out.rc" 2>/dev/null || echo 1)
    summary=$(grep -E "^$label tests: [0-9]+ passed, [0-9]+ failed\$" "$out" | tail -n 1 || true)
    rm -f "$out" "$out.rc" "$out.pid"
    if [[ "$summary" =~ ^$label\ tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        sp=${BASH_REMATCH[1]}
        sf=${BASH_REMATCH[2]}
    fi
    if [ "$rc" -ne 0 ] && [ "$sf" -eq 0 ]; then
        tk_warn "$script failed (exit $rc) before any test failed: counted as one failure"
        sf=1
    fi
    passed=$((passed + sp))
    failed=$((failed + sf))
    ran=$((ran + sp + sf))
}

if [ "$what" = integration ] || [ "$what" = all ]; then
    run_stage tests/integration/run.sh integration
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
    run_stage tests/e2e/run.sh e2e
fi

[ "$ran" -gt 0 ] || tk_warn "no test ran at all: that is a failure"
echo "tests: $passed passed, $failed failed"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
