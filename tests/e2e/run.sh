#!/usr/bin/env bash
# tests/e2e/run.sh BUILD_DIR: the client surfaces against the whole system.
#
# Starts Redis and MariaDB on free loopback ports in a temporary directory,
# migrates, starts BUILD_DIR's gateway (serving web/; user tokens required,
# signed with a secret of this run, and the dev login on so the pages can
# sign in, as under `make run`) and two workers, then
# runs what users run: the JMeter smoke (jmeter/smoke.sh: every plan loads
# and every sample passes) and the browser tests (tests/browser/run.sh:
# Debian's Chromium through playwright-core), then `CLUSTER=1 make run`
# briefly (tests/e2e/cluster_run.sh). Always stops everything; the
# gateway must then exit 0 (under the sanitizers a leak is a failure).
#
# Prints "e2e tests: N passed, N failed" (each browser test counts one, the
# JMeter smoke one, a clean gateway exit one); scripts/test.sh reads it.
# Screenshots of the pages are kept in var/screenshots/.
set -euo pipefail

TK_PROG=e2e
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ $# -eq 1 ] || { echo "usage: tests/e2e/run.sh BUILD_DIR" >&2; exit 2; }
BUILD_DIR=$(tk_abspath "$1")
for bin in tk-gateway tk-worker tk-token; do
    [ -x "$BUILD_DIR/bin/$bin" ] || tk_die "$BUILD_DIR/bin/$bin not found (make MODE=san test-build)"
done

DIR=$(mktemp -d /tmp/tk-e2e.XXXXXX)
pids=()
passed=0
failed=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        tk_wait_exit "$pid" 20 || kill -KILL "$pid" 2>/dev/null
    done
    "$ROOT/scripts/services.sh" stop "$DIR" >/dev/null 2>&1 || tk_warn "stopping the services in $DIR reported a problem"
    if [ "$rc" = 0 ] && [ "$failed" = 0 ]; then
        rm -rf "$DIR"
    else
        tk_say "kept $DIR for inspection"
        tk_log_tail "$DIR/gateway.log" 40
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

REDIS_PORT=$(tk_free_port 20000 32000) || tk_die "no free loopback port"
DB_PORT=$(tk_free_port 20000 32000 "$REDIS_PORT") || tk_die "no free loopback port"
GW_PORT=$(tk_free_port 20000 32000 "$REDIS_PORT" "$DB_PORT") || tk_die "no free loopback port"
export REDIS_PORT DB_PORT DB_PASSWORD_FILE="$DIR/secrets/db_password"
ADMIN_TOKEN=$(openssl rand -hex 24)
export ADMIN_TOKEN
# The user token key: the gateway checks with it, jmeter/run.sh mints the
# smoke's token CSV with it (tk-token), the pages get tokens from the dev login.
export USER_TOKEN_SECRET_FILE=$DIR/secrets/user_token_secret
export TK_TOKEN=$BUILD_DIR/bin/tk-token
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}

tk_say "services in $DIR (redis $REDIS_PORT, mariadb $DB_PORT, gateway $GW_PORT)"
"$ROOT/scripts/services.sh" start "$DIR" >/dev/null
"$ROOT/scripts/migrate.sh" "$DIR" >/dev/null
tk_secret_file "$USER_TOKEN_SECRET_FILE" 32 || tk_die "cannot create $USER_TOKEN_SECRET_FILE"

# Each as its own Redis ACL user (scripts/services.sh made them for $DIR).
USER_AUTH=required DEV_LOGIN=1 "$BUILD_DIR/bin/tk-gateway" --port "$GW_PORT" --var-dir "$DIR/gw" --web-root "$ROOT/web" \
    --redis-user tk-gateway --redis-password-file "$DIR/secrets/redis_gateway" >"$DIR/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
for i in 1 2; do
    "$BUILD_DIR/bin/tk-worker" --consumer "e2e-$i" --claim-idle-ms 2000 \
        --redis-user tk-worker --redis-password-file "$DIR/secrets/redis_worker" >"$DIR/worker-$i.log" 2>&1 &
    pids+=("$!")
done
ok=0
for _ in $(seq 1 100); do
    # /readyz: 200 once the gateway checked Redis against MariaDB and serves claims from Redis.
    if curl -skf "https://127.0.0.1:$GW_PORT/readyz" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
done
[ "$ok" = 1 ] || tk_die "the gateway was not ready (/readyz) within 20 s"

url=https://127.0.0.1:$GW_PORT
tk_say "JMeter smoke against $url"
if JMETER_OUT="$DIR/jmeter" "$ROOT/jmeter/smoke.sh" 127.0.0.1 "$GW_PORT" https "$ADMIN_TOKEN"; then
    passed=$((passed + 1))
else
    tk_warn "JMeter smoke failed"
    failed=$((failed + 1))
fi

tk_say "browser tests against $url"
out=$DIR/browser.out
rc=0
SCREENSHOT_DIR="$ROOT/var/screenshots" "$ROOT/tests/browser/run.sh" "$url" "$ADMIN_TOKEN" 2>&1 | tee "$out" || rc=$?
summary=$(grep -E '^browser tests: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
if [[ "$summary" =~ ^browser\ tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
fi
if [ "$rc" -ne 0 ] && ! [[ "$summary" =~ [1-9][0-9]*\ failed$ ]]; then
    tk_warn "tests/browser/run.sh failed (exit $rc) before any test failed: counted as one failure"
    failed=$((failed + 1))
fi

# CLUSTER=1 make run, briefly (its own directory and ports; ~20-30 s).
tk_say "CLUSTER=1 run.sh (tests/e2e/cluster_run.sh)"
out=$DIR/cluster_run.out
rc=0
"$ROOT/tests/e2e/cluster_run.sh" "$BUILD_DIR" 2>&1 | tee "$out" || rc=$?
summary=$(grep -E '^cluster_run tests: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
if [[ "$summary" =~ ^cluster_run\ tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
fi
if [ "$rc" -ne 0 ] && ! [[ "$summary" =~ [1-9][0-9]*\ failed$ ]]; then
    tk_warn "tests/e2e/cluster_run.sh failed (exit $rc) before any test failed: counted as one failure"
    failed=$((failed + 1))
fi

# A clean stop is part of the contract: exit 0, nothing leaked.
kill -TERM "$gw_pid"
gw_rc=0
wait "$gw_pid" || gw_rc=$?
pids=("${pids[@]:1}")
if [ "$gw_rc" = 0 ]; then
    passed=$((passed + 1))
else
    tk_warn "the gateway exited $gw_rc at SIGTERM"
    tk_log_tail "$DIR/gateway.log" 40
    failed=$((failed + 1))
fi

echo "e2e tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
