#!/usr/bin/env bash
# run.sh: everything, locally, in the foreground (what `make run` calls after
# the release build): Redis and MariaDB under $VAR_DIR, the schema, the
# gateway on https://localhost:$PORT, $WORKERS workers and a demo event.
# Prints the URLs, the admin token and a user token, then waits. Ctrl-C (or SIGINT/SIGTERM
# from a script) stops the gateway, then the workers, then the services, and
# exits 0; the data stays in $VAR_DIR. If a child dies on its own, run.sh
# says which, shows the tail of its log and shuts everything down (exit 1).
#
# CLUSTER=1: a Redis Cluster (scripts/cluster.sh: 3 masters + 3 replicas on
# CLUSTER_PORT (7001) .. +5) instead of the single Redis, two gateways (HTTPS
# on GW_PORTS, "8444 8445"; /readyz in cleartext on GW_HTTP_PORTS, "8081
# 8082") and HAProxy on $PORT in front of them, passing TLS through in TCP mode
# (deploy/haproxy/tk.cfg's shape, written to $VAR_DIR/haproxy/tk.cfg): HTTP/2
# stays end to end, the client's address comes in a PROXY v1 line.
#
# Environment: VAR_DIR (var), PORT (8443), HTTP_PORT (off), WORKERS (2),
# REDIS_PORT (6390), DB_PORT (3310), ADMIN_TOKEN (else $VAR_DIR/secrets/
# admin_token, generated once), BIN_DIR (build/release/bin), LOG_LEVEL,
# USER_TOKEN_SECRET_FILE (else $VAR_DIR/secrets/user_token_secret, generated
# once: the key user tokens are signed with), ACCESS_TOKEN_SECRET_FILE (else
# $VAR_DIR/secrets/access_token_secret, generated once: the key the gateways
# sign waiting-room access tokens with), DEV_LOGIN (1: the pages sign in
# through POST /v1/dev/login; only this script turns it on; 0 turns it off),
# CLUSTER (0), CLUSTER_PORT, GW_PORTS, GW_HTTP_PORTS (above).
#
# The gateway and workers (and HAProxy) are started in their own sessions (setsid), so a
# Ctrl-C reaches only run.sh, which stops them in order.
set -euo pipefail

# A shell started in the background by a script without job control begins
# with SIGINT and SIGQUIT ignored, and bash cannot trap a signal ignored on
# entry: re-exec once with their default disposition so `kill -INT` works.
if [ -z "${TK_RUN_SIGNALS_RESET:-}" ]; then
    TK_RUN_SIGNALS_RESET=1 exec env --default-signal=INT,QUIT "$BASH" "$0" "$@"
fi
unset TK_RUN_SIGNALS_RESET

TK_PROG=run.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

VAR_DIR=$(tk_abspath "${VAR_DIR:-var}")
BIN_DIR=$(tk_abspath "${BIN_DIR:-build/release/bin}")
PORT=${PORT:-8443}
HTTP_PORT=${HTTP_PORT:-}
WORKERS=${WORKERS:-2}
REDIS_PORT=${REDIS_PORT:-6390}
DB_PORT=${DB_PORT:-3310}
HEALTH_SECS=20
GW_STOP_SECS=15
WK_STOP_SECS=30
CLUSTER=${CLUSTER:-0}
CLUSTER_PORT=${CLUSTER_PORT:-7001}
GW_PORTS=${GW_PORTS:-8444 8445}
GW_HTTP_PORTS=${GW_HTTP_PORTS:-8081 8082}

tk_check_port PORT "$PORT"
[ -z "$HTTP_PORT" ] || [ "$HTTP_PORT" = 0 ] || tk_check_port HTTP_PORT "$HTTP_PORT"
[ "$HTTP_PORT" != 0 ] || HTTP_PORT=
tk_check_port REDIS_PORT "$REDIS_PORT"
tk_check_port DB_PORT "$DB_PORT"
case "$CLUSTER" in
    0) ;;
    1)
        [ -z "$HTTP_PORT" ] || tk_die "HTTP_PORT=$HTTP_PORT: with CLUSTER=1 the gateways' cleartext ports are GW_HTTP_PORTS ($GW_HTTP_PORTS)"
        tk_check_port CLUSTER_PORT "$CLUSTER_PORT"
        read -r -a gw_ports <<<"${GW_PORTS//,/ }"
        read -r -a gw_http_ports <<<"${GW_HTTP_PORTS//,/ }"
        [ ${#gw_ports[@]} = 2 ] || tk_die "GW_PORTS=$GW_PORTS: expected two ports (the gateways' HTTPS ports)"
        [ ${#gw_http_ports[@]} = 2 ] || tk_die "GW_HTTP_PORTS=$GW_HTTP_PORTS: expected two ports (the gateways' /readyz for HAProxy)"
        for p in "${gw_ports[@]}"; do tk_check_port GW_PORTS "$p"; done
        for p in "${gw_http_ports[@]}"; do tk_check_port GW_HTTP_PORTS "$p"; done
        command -v haproxy >/dev/null 2>&1 || tk_die "haproxy not found; run scripts/deps.sh (as root)"
        ;;
    *) tk_die "CLUSTER=$CLUSTER: expected 0 or 1" ;;
esac
if ! [[ "$WORKERS" =~ ^[0-9]{1,2}$ ]] || [ "$WORKERS" -lt 1 ] || [ "$WORKERS" -gt 64 ]; then
    tk_die "WORKERS=$WORKERS: expected a number from 1 to 64"
fi
GATEWAY=$BIN_DIR/tk-gateway
WORKER=$BIN_DIR/tk-worker
[ -x "$GATEWAY" ] || tk_die "$GATEWAY not found: build it first (make run builds it; or make build)"
[ -x "$WORKER" ] || tk_die "$WORKER not found: build it first (make run builds it; or make build)"
command -v curl >/dev/null 2>&1 || tk_die "curl not found; run scripts/deps.sh (as root)"
command -v openssl >/dev/null 2>&1 || tk_die "openssl not found; run scripts/deps.sh (as root)"

LOG_DIR=$VAR_DIR/log
RUN_DIR=$VAR_DIR/run
mkdir -p "$LOG_DIR" "$RUN_DIR"

# One run.sh per VAR_DIR.
exec 8>"$RUN_DIR/run.lock"
flock -n 8 || tk_die "another scripts/run.sh is already running with $VAR_DIR; stop it first (Ctrl-C in its terminal)"

# ---- leftovers of an earlier run that was killed without cleaning up ----

for f in "$RUN_DIR"/gateway*.pid "$RUN_DIR"/worker-*.pid "$RUN_DIR"/haproxy.pid; do
    [ -e "$f" ] || continue
    pid=$(tk_read_pidfile "$f")
    base=$(basename "$f" .pid)
    prog=tk-worker
    [[ "$base" != gateway* ]] || prog=tk-gateway
    [ "$base" != haproxy ] || prog=haproxy
    if [ -n "$pid" ] && tk_proc_is "$pid" "$prog" "$ROOT"; then
        tk_say "stopping $prog (pid $pid) left over from an earlier run"
        tk_stop_pid "$prog" "$pid" "$GW_STOP_SECS" || true
    fi
    rm -f "$f"
done

tk_port_in_use "$PORT" && tk_die "port $PORT is already in use by another process; set PORT"
if [ -n "$HTTP_PORT" ] && tk_port_in_use "$HTTP_PORT"; then
    tk_die "port $HTTP_PORT is already in use by another process; set HTTP_PORT"
fi
if [ "$CLUSTER" = 1 ]; then
    for p in "${gw_ports[@]}"; do tk_port_in_use "$p" && tk_die "port $p is already in use by another process; set GW_PORTS"; done
    for p in "${gw_http_ports[@]}"; do tk_port_in_use "$p" && tk_die "port $p is already in use by another process; set GW_HTTP_PORTS"; done
fi

# ---- shutdown ----

names=()          # names[i] is the name of pids[i]
pids=()
logs=()
services_up=0
stopping=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-run.XXXXXX")

# shellcheck disable=SC2317 # run from stop_all
stop_named() { # NAME SECONDS: SIGTERM to each child called NAME, then a bounded wait for each
    local i
    for i in "${!pids[@]}"; do
        [ "${names[$i]}" = "$1" ] && tk_proc_running "${pids[$i]}" && kill -TERM "${pids[$i]}" 2>/dev/null
    done
    for i in "${!pids[@]}"; do
        [ "${names[$i]}" = "$1" ] && tk_stop_pid "$1" "${pids[$i]}" "$2"
    done
}

# shellcheck disable=SC2317 # run from the traps below
stop_all() {
    local i pid
    [ "$stopping" = 0 ] || return 0
    stopping=1
    trap '' INT TERM HUP
    set +e
    # Gateways first (no new claims), then the workers finish their batch,
    # then the balancer (CLUSTER=1).
    for i in "${!pids[@]}"; do
        [ "${names[$i]}" = tk-gateway ] && tk_proc_running "${pids[$i]}" && tk_say "stopping tk-gateway (pid ${pids[$i]})"
    done
    stop_named tk-gateway "$GW_STOP_SECS"
    stop_named tk-worker "$WK_STOP_SECS"
    stop_named haproxy "$GW_STOP_SECS"
    [ ${#pids[@]} -eq 0 ] || tk_say "gateway and workers stopped"
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    rm -f "$RUN_DIR"/gateway*.pid "$RUN_DIR"/worker-*.pid "$RUN_DIR"/haproxy.pid
    if [ "$services_up" = 1 ] && [ "$CLUSTER" = 1 ]; then
        setsid "$ROOT/scripts/cluster.sh" stop "$VAR_DIR" </dev/null 8>&- || tk_warn "stopping the Redis Cluster reported a problem"
        setsid "$ROOT/scripts/services.sh" stop-db "$VAR_DIR" </dev/null 8>&- || tk_warn "stopping MariaDB reported a problem"
    elif [ "$services_up" = 1 ]; then
        # In its own session: a second Ctrl-C must not cut the stop short.
        setsid "$ROOT/scripts/services.sh" stop "$VAR_DIR" </dev/null 8>&- || tk_warn "stopping the services reported a problem"
    fi
    rm -rf "$tmp"
}

# shellcheck disable=SC2317 # run from the traps below
on_signal() {
    echo
    tk_say "$1: shutting down (data stays in $VAR_DIR)"
    stop_all
    exit 0
}

# shellcheck disable=SC2317 # run from the traps below
on_exit() {
    local rc=$?
    stop_all
    exit "$rc"
}

trap on_exit EXIT
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP

# ---- services, schema, secrets ----

export REDIS_PORT DB_PORT VAR_DIR
export DB_PASSWORD_FILE=${DB_PASSWORD_FILE:-$VAR_DIR/secrets/db_password}
services_up=1
# 8>&-: the servers must not inherit (and so hold) the run lock.
if [ "$CLUSTER" = 1 ]; then
    export CLUSTER_PORT
    setsid "$ROOT/scripts/cluster.sh" start "$VAR_DIR" </dev/null 8>&-
    setsid "$ROOT/scripts/services.sh" start-db "$VAR_DIR" </dev/null 8>&-
    # The gateways, the workers and the printed tk-import hint.
    REDIS_CLUSTER=
    for ((i = 0; i < 6; i++)); do REDIS_CLUSTER+=${REDIS_CLUSTER:+,}127.0.0.1:$((10#$CLUSTER_PORT + i)); done
    export REDIS_CLUSTER
else
    setsid "$ROOT/scripts/services.sh" start "$VAR_DIR" </dev/null 8>&-
fi
"$ROOT/scripts/migrate.sh" "$VAR_DIR" 8>&-

if [ -n "${ADMIN_TOKEN:-}" ]; then
    token=$ADMIN_TOKEN
    export ADMIN_TOKEN
    token_from="the ADMIN_TOKEN environment variable"
else
    export ADMIN_TOKEN_FILE=$VAR_DIR/secrets/admin_token
    if [ ! -s "$ADMIN_TOKEN_FILE" ]; then
        tk_secret_file "$ADMIN_TOKEN_FILE" 24 || tk_die "cannot create $ADMIN_TOKEN_FILE"
        tk_say "generated the admin token in $ADMIN_TOKEN_FILE"
    fi
    token=$(tk_read_secret "$ADMIN_TOKEN_FILE") || tk_die "cannot read $ADMIN_TOKEN_FILE"
    token_from=$ADMIN_TOKEN_FILE
fi

# User tokens (JWT HS256) are signed with this key: the gateway checks them,
# tk-token and the dev login mint them. 32 random bytes (64 hex characters).
export USER_TOKEN_SECRET_FILE=${USER_TOKEN_SECRET_FILE:-$VAR_DIR/secrets/user_token_secret}
if [ ! -s "$USER_TOKEN_SECRET_FILE" ]; then
    tk_secret_file "$USER_TOKEN_SECRET_FILE" 32 || tk_die "cannot create $USER_TOKEN_SECRET_FILE"
    tk_say "generated the user token secret in $USER_TOKEN_SECRET_FILE"
fi
# Waiting-room access tokens (gateway/queue/gw_access.h) are signed with this
# key, never the user token one: one 0600 file that every gateway is given, so
# a user admitted through one gateway claims through any.
export ACCESS_TOKEN_SECRET_FILE=${ACCESS_TOKEN_SECRET_FILE:-$VAR_DIR/secrets/access_token_secret}
if [ ! -s "$ACCESS_TOKEN_SECRET_FILE" ]; then
    tk_secret_file "$ACCESS_TOKEN_SECRET_FILE" 32 || tk_die "cannot create $ACCESS_TOKEN_SECRET_FILE"
    tk_say "generated the access token secret in $ACCESS_TOKEN_SECRET_FILE"
fi
DEV_LOGIN=${DEV_LOGIN:-1}
[ "$DEV_LOGIN" = 0 ] || [ "$DEV_LOGIN" = 1 ] || tk_die "DEV_LOGIN=$DEV_LOGIN: expected 0 or 1"

# ---- gateway and workers ----

# spawn NAME LOG PROGRAM ARGS...: starts PROGRAM in its own session in the
# background, SIGINT not ignored; a non-interactive shell's background child
# is no process-group leader, so setsid and env exec in place and $! is the
# program's pid. The header goes through the program's own descriptor, which
# it leaves at the end of the log: HAProxy makes its stdout non-blocking,
# which clears O_APPEND, and then writes from the descriptor's offset (0 for
# a descriptor only just opened: it overwrote the earlier runs' lines).
spawn() {
    local name=$1 log=$2
    shift 2
    {
        printf '\n===== %s: %s starting =====\n' "$(date '+%F %T')" "$name"
        exec setsid env --default-signal=INT,QUIT "$@" </dev/null 2>&1 8>&-
    } >>"$log" &
    pids+=("$!")
    names+=("$name")
    logs+=("$log")
}

# await_ready URL WHAT LOG: waits up to HEALTH_SECS for URL to answer 200,
# or shuts everything down.
await_ready() {
    local i
    tk_say "waiting for $1"
    for ((i = 0; i < HEALTH_SECS * 5; i++)); do
        check_children || tk_die "shutting everything down"
        curl -ksf --max-time 2 -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    tk_log_tail "$3" 30 >&2
    tk_die "$2 was not ready ($1) within ${HEALTH_SECS}s; shutting everything down"
}

# died_report INDEX: says which child died, with the tail of its log.
died_report() {
    local i=$1 st=0
    wait "${pids[$i]}" 2>/dev/null || st=$?
    tk_warn "${names[$i]} (pid ${pids[$i]}) exited unexpectedly with status $st"
    tk_log_tail "${logs[$i]}" 30 >&2
}

check_children() {
    local i
    for i in "${!pids[@]}"; do
        if ! tk_proc_running "${pids[$i]}"; then
            died_report "$i"
            return 1
        fi
    done
}

# Each as its own Redis ACL user; services.sh wrote the users and passwords.
gw_auth=(--redis-user tk-gateway --redis-password-file "$VAR_DIR/secrets/redis_gateway")
if [ "$CLUSTER" = 1 ]; then
    # One at a time: the first makes the self-signed certificate both use.
    for g in 1 2; do
        spawn tk-gateway "$LOG_DIR/gateway-$g.log" DEV_LOGIN="$DEV_LOGIN" TRUSTED_PROXIES=127.0.0.1 PROXY_PROTOCOL=1 \
            "$GATEWAY" --port "${gw_ports[g - 1]}" --http-port "${gw_http_ports[g - 1]}" "${gw_auth[@]}"
        echo "${pids[-1]}" >"$RUN_DIR/gateway-$g.pid"
        [ "$g" = 2 ] || await_ready "http://127.0.0.1:${gw_http_ports[0]}/readyz" "gateway 1" "$LOG_DIR/gateway-1.log"
    done
else
    gw_args=(--port "$PORT")
    [ -z "$HTTP_PORT" ] || gw_args+=(--http-port "$HTTP_PORT")
    spawn tk-gateway "$LOG_DIR/gateway.log" DEV_LOGIN="$DEV_LOGIN" "$GATEWAY" "${gw_args[@]}" "${gw_auth[@]}"
    echo "${pids[0]}" >"$RUN_DIR/gateway.pid"
fi
for ((i = 1; i <= WORKERS; i++)); do
    spawn tk-worker "$LOG_DIR/worker-$i.log" "$WORKER" --redis-user tk-worker --redis-password-file "$VAR_DIR/secrets/redis_worker"
    echo "${pids[-1]}" >"$RUN_DIR/worker-$i.pid"
done
if [ "$CLUSTER" = 1 ]; then
    # deploy/haproxy/tk.cfg with this machine's addresses: the same mode,
    # timeouts and checks (/readyz on each gateway's cleartext port, no PROXY
    # line there: HAProxy sends none to a check on another port).
    mkdir -p "$VAR_DIR/haproxy"
    hacfg=$VAR_DIR/haproxy/tk.cfg
    {
        echo "# Written by scripts/run.sh (CLUSTER=1) from deploy/haproxy/tk.cfg on every start; edits are lost."
        sed -e '/^#/d' -e '/^ *server /d' -e "s/^\( *bind \):8443\$/\1127.0.0.1:$PORT/" \
            -e 's/^\( *maxconn \).*/\14096/' -e 's/ check port [0-9]* / check /' "$ROOT/deploy/haproxy/tk.cfg"
        for g in 1 2; do
            echo "    server gw$g 127.0.0.1:${gw_ports[g - 1]} port ${gw_http_ports[g - 1]}"
        done
    } >"$hacfg.tmp"
    mv -f "$hacfg.tmp" "$hacfg"
    if ! grep -q "^ *bind 127.0.0.1:$PORT\$" "$hacfg" || ! grep -q '^ *default-server send-proxy check ' "$hacfg"; then
        tk_die "deploy/haproxy/tk.cfg changed shape: could not write $hacfg from it"
    fi
    haproxy -c -q -f "$hacfg" >"$tmp/haproxy-check" 2>&1 || { cat "$tmp/haproxy-check" >&2; tk_die "haproxy refused $hacfg"; }
    spawn haproxy "$LOG_DIR/haproxy.log" haproxy -db -f "$hacfg"
    echo "${pids[-1]}" >"$RUN_DIR/haproxy.pid"
fi

# /readyz, not /healthz: the gateway serves claims from Redis once it has
# checked Redis against MariaDB (docs/DESIGN.md, "the check before every fast path").
if [ "$CLUSTER" = 1 ]; then
    await_ready "http://127.0.0.1:${gw_http_ports[1]}/readyz" "gateway 2" "$LOG_DIR/gateway-2.log"
    # Through HAProxy: up once its checks have passed twice (rise 2).
    await_ready "https://127.0.0.1:$PORT/readyz" HAProxy "$LOG_DIR/haproxy.log"
else
    await_ready "https://127.0.0.1:$PORT/readyz" "the gateway" "$LOG_DIR/gateway.log"
fi

# ---- demo events (201 created, or 409: they exist from an earlier run) ----

tq=${token//\\/\\\\}
tq=${tq//\"/\\\"}
demo_post() { # PATH BODY: the HTTP status of an admin POST (body in $tmp/demo.json)
    curl -ks --max-time 10 -o "$tmp/demo.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" \
        -K - "https://127.0.0.1:$PORT$1" <<<"header = \"Authorization: Bearer $tq\"" || true
}
demo_made() { # KIND ID WHAT CODE
    case "$4" in
        201) tk_say "created the $2 $1 ($3)" ;;
        409) tk_say "the $2 $1 exists already" ;;
        *) tk_warn "could not create the $2 $1 (HTTP ${4:-none}): $(head -c 300 "$tmp/demo.json" 2>/dev/null || true)" ;;
    esac
}
demo_event() { # ID BODY WHAT
    demo_made event "$1" "$3" "$(demo_post /v1/admin/events "$2")"
}
demo_event demo '{"event_id":"demo","name":"Demo event","stock":1000,"max_per_user":1}' "1000 units, 1 per user"
demo_event demo-queue '{"event_id":"demo-queue","name":"Demo with a waiting room","stock":100,"max_per_user":1,"waiting_room":{"enabled":true,"release_per_s":5,"access_ttl_s":300}}' \
    "100 units behind a waiting room admitting 5 a second"
# A leaderboard with a few fans, and an event whose top 3 fans may claim
# from a minute after this start, everybody ten minutes after it.
code=$(demo_post /v1/admin/boards '{"board_id":"demo-fans","name":"Demo fans","components":2,"operator":"best"}')
demo_made board demo-fans "level then exp, the best score kept" "$code"
if [ "$code" = 201 ]; then
    demo_post /v1/admin/boards/demo-fans/scores '{"scores":[{"user_id":"u-1","score":[12,3400]},{"user_id":"u-2","score":[12,3400]},{"user_id":"u-42","score":[11,9000]},{"user_id":"u-7","score":[9,100]},{"user_id":"u-8","score":[30,0]}]}' >/dev/null
fi
pr_opens=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%S.000Z)
ev_opens=$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%S.000Z)
demo_event demo-presale "{\"event_id\":\"demo-presale\",\"name\":\"Demo presale\",\"stock\":50,\"max_per_user\":1,\"opens_at\":\"$ev_opens\",\"priority\":{\"board_id\":\"demo-fans\",\"top\":3,\"opens_at\":\"$pr_opens\"}}" \
    "the top 3 of demo-fans from $pr_opens, everybody from $ev_opens"

# ---- a user token for the examples (tk-token, the same key as the gateway) ----

demo_user=u-42
user_token=$("$BIN_DIR/tk-token" --secret-file "$USER_TOKEN_SECRET_FILE" --user "$demo_user" --ttl 3600 2>"$tmp/tk-token.err") || {
    tk_warn "tk-token could not mint a user token: $(head -c 300 "$tmp/tk-token.err")"
    user_token='<user token: build/release/bin/tk-token --user u-42>'
}

# ---- what to do now ----

base=https://localhost:$PORT
running="gateway pid ${pids[0]}"
import_env=""
if [ "$CLUSTER" = 1 ]; then
    running="CLUSTER=1: HAProxy on :$PORT (TLS passed through) in front of gateways pid ${pids[0]} (:${gw_ports[0]}) and ${pids[1]} (:${gw_ports[1]}), a Redis Cluster on $CLUSTER_PORT..$((10#$CLUSTER_PORT + 5))"
    import_env="REDIS_CLUSTER=$REDIS_CLUSTER "
fi
cat <<EOF

  tk is running ($running, $WORKERS worker(s); logs in $LOG_DIR)

  Pages        $base/
  Events       $base/v1/events
  Health       $base/healthz
  Metrics      $base/metrics
EOF
[ -z "$HTTP_PORT" ] || echo "  Cleartext    http://localhost:$HTTP_PORT/healthz"
cat <<EOF

  Admin token  $token
               (from $token_from)
  User token   for $demo_user, valid 1 h, in the claims below; mint another with
               $BIN_DIR/tk-token --secret-file $USER_TOKEN_SECRET_FILE --user u-7
$([ "$DEV_LOGIN" != 1 ] || echo "  Sign in      on the pages with any user id (DEV_LOGIN=1: POST /v1/dev/login)")

  Try:
    curl -k $base/v1/events/demo
    curl -k -X POST $base/v1/events/demo/claims \\
         -H 'Authorization: Bearer $user_token' \\
         -H 'Content-Type: application/json' -d '{"quantity":1}'
    curl -k -H 'Authorization: Bearer $user_token' $base/v1/events/demo/claims/$demo_user
    curl -k -H 'Authorization: Bearer $token' $base/v1/admin/events/demo

  A claim without a user token is 401: the claim is the token's user's.

  Waiting room (demo-queue): open $base/queue.html?event=demo-queue, or
    curl -k -X POST -H 'Authorization: Bearer $user_token' $base/v1/events/demo-queue/queue
    curl -k -H 'Authorization: Bearer $user_token' '$base/v1/events/demo-queue/queue/$demo_user?wait=20'
  until "state":"admitted"; then claim with its access_token as the bearer:
    curl -k -X POST $base/v1/events/demo-queue/claims -H 'Authorization: Bearer <access_token>' \\
         -H 'Content-Type: application/json' -d '{"quantity":1}'

  Leaderboard (demo-fans): open $base/board.html?board=demo-fans, or
    curl -k '$base/v1/boards/demo-fans/top?limit=10'
    curl -k '$base/v1/boards/demo-fans/users/$demo_user/around?radius=2'
    curl -k -X POST -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
         $base/v1/admin/boards/demo-fans/scores -d '{"scores":[{"user_id":"$demo_user","score":[40,1]}]}'
  Priority presale (demo-presale): $base/event.html?event=demo-presale — the
  board's top 3 (fixed when the presale opens) may claim first.
  Import a CSV (user_id,level,exp,updated_at; scripts/gen_board_csv.sh makes one):
    $import_env$BIN_DIR/tk-import --board demo-fans --var-dir $VAR_DIR \\
         --redis-user tk-admin --redis-password-file $VAR_DIR/secrets/redis_admin FILE.csv

  The certificate is self-signed (hence -k). Ctrl-C stops everything; the
  data stays in $VAR_DIR$([ "$VAR_DIR" != "$ROOT/var" ] || echo ' (make reset wipes it)').
$(if [ "$CLUSTER" = 1 ]; then
    echo "  Redis Cluster: scripts/cluster.sh status $VAR_DIR; HAProxy's config: $VAR_DIR/haproxy/tk.cfg"
else
    echo "  CLUSTER=1 make run: the same on a Redis Cluster (3 masters + 3 replicas), two gateways, HAProxy."
fi)

EOF

# ---- wait in the foreground ----

# wait -n returns when a child exits, or early when a trapped signal arrives
# (the trap then shuts down and exits).
while true; do
    died=""
    wait -n -p died "${pids[@]}" || true
    if [ -z "$died" ]; then
        check_children || break
        sleep 1
        continue
    fi
    for i in "${!pids[@]}"; do
        [ "${pids[$i]}" = "$died" ] || continue
        tk_warn "${names[$i]} (pid $died) exited unexpectedly"
        tk_log_tail "${logs[$i]}" 30 >&2
    done
    break
done
tk_warn "shutting everything down"
exit 1
