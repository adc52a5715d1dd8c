#!/usr/bin/env bash
# chaos.sh [BUILD_DIR]: the chaos scenarios of tests/integration/it_chaos.c
# (worker killed mid-batch, MariaDB outage, Redis SIGKILL + AOF restart,
# gateway restart with requests in flight) at a larger scale than inside
# `make test`: CHAOS_SCALE (default 10) times stock 300, 3,000 users.
#
# Like tests/integration/run.sh, but for it_chaos alone: Redis and MariaDB
# on free loopback ports in a temporary directory, always stopped again
# (trap); the directory is kept when a scenario fails. Each scenario prints
# its verdict line ("chaos worker-kill: PASS granted=…"). Environment:
# CHAOS_SCALE (1..100, default 10), CHAOS_TIMEOUT (seconds for the binary,
# default 1800), KEEP_IT_DIR=1.
set -euo pipefail

TK_PROG=chaos
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BUILD_DIR=$(tk_abspath "${1:-$ROOT/build/san}")
BIN=$BUILD_DIR/tests/it_chaos
[ -x "$BIN" ] || tk_die "$BIN not found (make MODE=san test-build)"
CHAOS_SCALE=${CHAOS_SCALE:-10}
CHAOS_TIMEOUT=${CHAOS_TIMEOUT:-1800}
[[ "$CHAOS_SCALE" =~ ^[0-9]+$ ]] && [ "$CHAOS_SCALE" -ge 1 ] && [ "$CHAOS_SCALE" -le 100 ] ||
    tk_die "CHAOS_SCALE=$CHAOS_SCALE: expected 1..100"
[[ "$CHAOS_TIMEOUT" =~ ^[0-9]+$ ]] || tk_die "CHAOS_TIMEOUT=$CHAOS_TIMEOUT: expected seconds"

# As scripts/test.sh: leaks are failures, UBSan stops at the first report,
# h2o's own per-thread caches are suppressed (tests/lsan.supp).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}

TK_IT_DIR=$(mktemp -d /tmp/tk-chaos.XXXXXX)
failed=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    tk_stop_test
    "$ROOT/scripts/services.sh" stop "$TK_IT_DIR" >/dev/null 2>&1 ||
        tk_warn "stopping the services in $TK_IT_DIR reported a problem"
    if [ "$failed" = 0 ] && [ "$rc" = 0 ] && [ "${KEEP_IT_DIR:-0}" != 1 ]; then
        rm -rf "$TK_IT_DIR"
    else
        tk_say "kept $TK_IT_DIR for inspection (gateway and worker logs, redis/, mariadb/)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

REDIS_PORT=$(tk_free_port 20000 60000) || tk_die "no free loopback port for Redis"
DB_PORT=$(tk_free_port 20000 60000 "$REDIS_PORT") || tk_die "no free loopback port for MariaDB"
DB_USER=tk
DB_NAME=tk
DB_PASSWORD_FILE=$TK_IT_DIR/secrets/db_password
TK_BUILD=$BUILD_DIR
TK_ROOT=$ROOT
REDIS_APPENDFSYNC=always
unset DB_PASSWORD ADMIN_TOKEN
export TK_IT_DIR TK_BUILD TK_ROOT REDIS_PORT DB_PORT DB_USER DB_NAME DB_PASSWORD_FILE REDIS_APPENDFSYNC CHAOS_SCALE

tk_say "scale $CHAOS_SCALE; services in $TK_IT_DIR (redis $REDIS_PORT, mariadb $DB_PORT)"
"$ROOT/scripts/services.sh" start "$TK_IT_DIR"
"$ROOT/scripts/migrate.sh" "$TK_IT_DIR"

cd "$ROOT"
start=$SECONDS
tk_run_cmocka "$CHAOS_TIMEOUT" "$BIN" || true
[ "$TK_FAILED" -eq 0 ] && [ "$TK_PASSED" -gt 0 ] && failed=0
echo "chaos (scale $CHAOS_SCALE): $TK_PASSED passed, $TK_FAILED failed in $((SECONDS - start))s"
[ "$failed" = 0 ]
