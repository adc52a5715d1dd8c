#!/usr/bin/env bash
# tests/integration/run.sh BUILD_DIR: starts Redis and MariaDB on free
# loopback ports in a temporary directory, migrates, runs every
# BUILD_DIR/tests/it_* binary built from a tests/integration/it_*.c (see
# "Integration tests" in docs/CONTRACTS.md)
# and always stops the services, even when a test fails or we are
# interrupted. On success the directory is removed; on failure it is kept
# and its path and the tails of its logs are printed.
#
# It prints "integration tests: N passed, N failed" (cmocka counts;
# scripts/test.sh reads it). Environment: IT_TIMEOUT (seconds per binary,
# default 300), KEEP_IT_DIR=1 keeps the directory even on success, IT_ONLY
# (a shell pattern: run only the binaries whose name matches, e.g. it_chaos).
set -euo pipefail

TK_PROG=integration
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ $# -eq 1 ] || { echo "usage: tests/integration/run.sh BUILD_DIR" >&2; exit 2; }
BUILD_DIR=$(tk_abspath "$1")
[ -d "$BUILD_DIR" ] || tk_die "build directory $BUILD_DIR not found (make MODE=san test-build)"
IT_TIMEOUT=${IT_TIMEOUT:-300}
[[ "$IT_TIMEOUT" =~ ^[0-9]+$ ]] || tk_die "IT_TIMEOUT=$IT_TIMEOUT: expected seconds"

bins=()
for b in "$BUILD_DIR"/tests/it_*; do
    name=$(basename "$b")
    # shellcheck disable=SC2053 # IT_ONLY is a pattern on purpose
    if [ -n "${IT_ONLY:-}" ] && [[ "$name" != $IT_ONLY ]]; then continue; fi
    [ -f "$b" ] && [ -x "$b" ] && [[ "$name" != *.* ]] || continue
    # A binary whose source is gone (a renamed test: it_foundation, it_hostile) is a leftover of an
    # older build, with an older harness: not a test of this tree.
    if [ ! -f "$ROOT/tests/integration/$name.c" ]; then
        tk_warn "skipping $b: no tests/integration/$name.c (a leftover of an older build; make clean removes it)"
        continue
    fi
    bins+=("$b")
done
if [ ${#bins[@]} -eq 0 ]; then
    tk_say "no integration tests in $BUILD_DIR/tests (it_*)"
    echo "integration tests: 0 passed, 0 failed"
    exit 0
fi

# Short path: the MariaDB socket lives under it (unix sockets: < 108 bytes).
TK_IT_DIR=$(mktemp -d /tmp/tk-it.XXXXXX)
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
        tk_say "kept $TK_IT_DIR for inspection"
        if [ "$failed" != 0 ] || [ "$rc" != 0 ]; then
            tk_log_tail "$TK_IT_DIR/redis/redis.log" 20
            tk_log_tail "$TK_IT_DIR/mariadb/mariadb.log" 20
            while IFS= read -r f; do
                tk_log_tail "$f" 40
            done < <(find "$TK_IT_DIR" -maxdepth 3 -name '*.log' -type f \
                ! -path "$TK_IT_DIR/redis/*" ! -path "$TK_IT_DIR/mariadb/*" 2>/dev/null | sort | head -n 50)
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

REDIS_PORT=$(tk_free_port 20000 32000) || tk_die "no free loopback port for Redis"
DB_PORT=$(tk_free_port 20000 32000 "$REDIS_PORT") || tk_die "no free loopback port for MariaDB"
DB_USER=tk
DB_NAME=tk
DB_PASSWORD_FILE=$TK_IT_DIR/secrets/db_password
TK_BUILD=$BUILD_DIR
TK_ROOT=$ROOT
# Redis with ACLs, plus the tests' own user tk-test (tests/README.md); each
# process a test starts gets its own user from lib/it_proc.c.
REDIS_ACL_TEST_USER=1
unset DB_PASSWORD ADMIN_TOKEN REDIS_USER REDIS_PASSWORD_FILE
export TK_IT_DIR TK_BUILD TK_ROOT REDIS_PORT DB_PORT DB_USER DB_NAME DB_PASSWORD_FILE REDIS_ACL_TEST_USER

tk_say "services in $TK_IT_DIR (redis $REDIS_PORT, mariadb $DB_PORT)"
"$ROOT/scripts/services.sh" start "$TK_IT_DIR"
"$ROOT/scripts/migrate.sh" "$TK_IT_DIR"

cd "$ROOT"
for b in "${bins[@]}"; do
    tk_run_cmocka "$IT_TIMEOUT" "$b" || true
done
[ "$TK_FAILED" -eq 0 ] && failed=0
echo "integration tests: $TK_PASSED passed, $TK_FAILED failed"
[ "$failed" = 0 ]
