#!/usr/bin/env bash
# tests/e2e/cluster_run.sh BUILD_DIR: `CLUSTER=1 make run` briefly, as a user
# would: scripts/run.sh with CLUSTER=1 on free loopback ports in a temporary
# directory (the Redis Cluster, MariaDB, two gateways, HAProxy, two
# workers), then through HAProxy: /readyz over HTTP/2, a claim over HTTP/2
# and one over HTTP/1.1, both confirmed (a worker stored them in MariaDB),
# connections on both gateways (HAProxy's log); then SIGINT to run.sh, which
# must exit 0 with every process it started gone.
#
# Prints "cluster_run tests: N passed, N failed"; tests/e2e/run.sh adds them.
set -euo pipefail

TK_PROG=cluster_run
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ $# -eq 1 ] || { echo "usage: tests/e2e/cluster_run.sh BUILD_DIR" >&2; exit 2; }
BUILD_DIR=$(tk_abspath "$1")
for bin in tk-gateway tk-worker tk-token; do
    [ -x "$BUILD_DIR/bin/$bin" ] || tk_die "$BUILD_DIR/bin/$bin not found (make MODE=san test-build)"
done

DIR=$(mktemp -d /tmp/tk-crun.XXXXXX)
run_pid=""
passed=0
failed=0
ok() { tk_say "ok: $1"; passed=$((passed + 1)); }
bad() { tk_warn "FAILED: $1"; failed=$((failed + 1)); }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    if [ -n "$run_pid" ] && tk_proc_running "$run_pid"; then
        kill -TERM "$run_pid" 2>/dev/null
        tk_wait_exit "$run_pid" 90 || kill -KILL "$run_pid" 2>/dev/null
    fi
    # Whatever a run.sh killed half-way left: by pid file, never by name.
    "$ROOT/scripts/cluster.sh" stop "$DIR" >/dev/null 2>&1
    "$ROOT/scripts/services.sh" stop-db "$DIR" >/dev/null 2>&1
    if [ "$rc" = 0 ] && [ "$failed" = 0 ]; then
        rm -rf "$DIR"
    else
        tk_say "kept $DIR for inspection"
        tk_log_tail "$DIR/run.out" 40
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Six consecutive ports with their bus ports (+10000) free, and six more.
taken=()
cport=""
for _ in $(seq 1 50); do
    p=$(tk_free_port 20000 22000) || break
    free=1
    for ((i = 0; i < 6; i++)); do
        if tk_port_in_use $((p + i)) || tk_port_in_use $((p + i + 10000)); then free=0; break; fi
    done
    [ "$free" = 0 ] || { cport=$p; break; }
done
[ -n "$cport" ] || tk_die "no six free loopback ports (and their bus ports)"
for ((i = 0; i < 6; i++)); do taken+=($((cport + i)) $((cport + i + 10000))); done
# Below the kernel's ephemeral range (32768-60999 by default): a port free
# when picked there can be taken by an outgoing connection before its server
# binds it (seen: a gateway's "Address already in use" after the cluster and
# MariaDB started). Between the cluster's ports (20000-22005) and their bus
# ports (30000-32005).
# pick VAR: sets VAR, in this shell: a pick inside $(...) added to a copy of
# `taken`, so two picks could return the same port (seen in CI: HAProxy and
# gateway 2's cleartext port both 23140, every request through HAProxy failed).
pick() {
    local p
    p=$(tk_free_port 23000 29999 "${taken[@]}") || tk_die "no free loopback port"
    taken+=("$p")
    printf -v "$1" %s "$p"
}
pick PORT
pick GW1
pick GW2
pick H1
pick H2
pick DB_PORT

# Hermetic: what the e2e stage exported for its own gateway (tests/e2e/run.sh:
# the user token key, the admin token, the database password file) must not
# reach this run.sh, or its gateways verify tokens with another key than the
# one minted with below (CI saw 401 for both claims).
unset ADMIN_TOKEN ADMIN_TOKEN_FILE USER_TOKEN_SECRET_FILE ACCESS_TOKEN_SECRET_FILE DB_PASSWORD_FILE REDIS_PORT TK_TOKEN
export CLUSTER=1 CLUSTER_PORT=$cport PORT GW_PORTS="$GW1 $GW2" GW_HTTP_PORTS="$H1 $H2" DB_PORT VAR_DIR=$DIR
export BIN_DIR=$BUILD_DIR/bin REDIS_ACL_TEST_USER=1 WORKERS=2
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp}
tk_say "CLUSTER=1 run.sh in $DIR (HAProxy $PORT, gateways $GW1 $GW2, cluster $cport.., mariadb $DB_PORT)"

# run.sh starts the cluster itself (a new one: redis-cli --cluster create).
# tk:events (slot 9582) and the demo event (slot 903) live on different
# masters: the admin create's registry SADD and its script go to each one's
# own master (the database threads' routing by key).
"$ROOT/scripts/run.sh" >"$DIR/run.out" 2>&1 &
run_pid=$!
for _ in $(seq 1 600); do
    grep -q "tk is running" "$DIR/run.out" && break
    tk_proc_running "$run_pid" || break
    sleep 0.2
done
grep -q "tk is running" "$DIR/run.out" || tk_die "run.sh did not start within 120 s"
if grep -q "created the demo event" "$DIR/run.out"; then ok "the demo event created through HAProxy"; else bad "the demo event not created: $(grep demo "$DIR/run.out" | head -2)"; fi

base=https://127.0.0.1:$PORT
v=$(curl -sk --http2 --max-time 5 -o /dev/null -w '%{http_version} %{http_code}' "$base/readyz" || true)
if [ "$v" = "2 200" ]; then ok "/readyz through HAProxy over HTTP/2 (TLS passed through)"; else bad "/readyz through HAProxy: '$v', expected '2 200'"; fi

claim() { # USER HTTP-OPTION: the claim's HTTP version and status
    local t
    t=$("$BUILD_DIR/bin/tk-token" --secret-file "$DIR/secrets/user_token_secret" --user "$1" --ttl 600)
    curl -sk "$2" --max-time 5 -o /dev/null -w '%{http_version} %{http_code}' -X POST "$base/v1/events/demo/claims" \
        -H 'Content-Type: application/json' -d '{"quantity":1}' -K - <<<"header = \"Authorization: Bearer $t\"" || true
}
v=$(claim u-1 --http2)
if [ "$v" = "2 201" ]; then ok "a claim over HTTP/2"; else bad "a claim over HTTP/2: '$v', expected '2 201'"; fi
v=$(claim u-2 --http1.1)
if [ "$v" = "1.1 201" ]; then ok "a claim over HTTP/1.1"; else bad "a claim over HTTP/1.1: '$v', expected '1.1 201'"; fi

n=0
for _ in $(seq 1 50); do
    n=$(MYSQL_PWD=$(tk_read_secret "$DIR/secrets/db_password") mariadb --no-defaults -h 127.0.0.1 -P "$DB_PORT" -u tk \
        --batch --skip-column-names tk -e "SELECT COUNT(*) FROM claims WHERE event_id='demo'" 2>/dev/null || echo 0)
    [ "$n" = 2 ] && break
    sleep 0.2
done
if [ "$n" = 2 ]; then ok "both claims in MariaDB (the workers drained the cluster)"; else bad "claims in MariaDB: $n, expected 2"; fi

for g in gw1 gw2; do
    if grep -q "tk_gateways/$g " "$DIR/log/haproxy.log"; then ok "HAProxy sent connections to $g"; else bad "no connection went to $g (log/haproxy.log)"; fi
done

# Ctrl-C: everything stops, run.sh exits 0.
mapfile -t recorded < <(cat "$DIR"/run/*.pid "$DIR"/cluster/*/redis.pid "$DIR/mariadb/mariadb.pid" 2>/dev/null)
kill -INT "$run_pid"
rc=0
tk_wait_exit "$run_pid" 90 || rc=timeout
wait "$run_pid" || rc=$?
run_pid=""
if [ "$rc" = 0 ]; then ok "run.sh exited 0 at SIGINT"; else bad "run.sh at SIGINT: exit $rc"; fi
left=()
for p in "${recorded[@]}"; do tk_proc_running "$p" && left+=("$p($(cat "/proc/$p/comm" 2>/dev/null))"); done
if [ ${#recorded[@]} -ge 12 ] && [ ${#left[@]} = 0 ]; then
    ok "every process gone (${#recorded[@]} recorded)"
else
    bad "after SIGINT: ${#recorded[@]} recorded, left: ${left[*]}"
fi

echo "cluster_run tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
