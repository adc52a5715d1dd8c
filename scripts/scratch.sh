# scratch.sh: a throw-away world on loopback for the measuring scripts
# (claim_cpu.sh, soldout_cpu.sh, bench_redis_cpu.sh): Redis with ACLs and
# AOF `always` and MariaDB in a temporary directory (scripts/services.sh),
# the release gateway on free ports, workers on demand; everything stopped
# again on exit. Sourced after scripts/lib.sh, with $ROOT set. The caller
# sets GATEWAY and (for workers) WORKER.
#
#   scratch_init PREFIX     DIR=/tmp/PREFIX.XXXXXX, the ports, the
#                           environment, ADMIN_TOKEN, RUNID, the exit trap
#                           (the directory is kept when the script failed
#                           or BENCH_KEEP=1)
#   scratch_services        Redis and MariaDB started, migrated; db() works
#   scratch_gateway THREADS the gateway started (USER_AUTH=off, admin on
#                           the cleartext port, no per-IP rate limit), its
#                           /readyz awaited; gw_pid
#   scratch_start_workers N NAME / scratch_stop_workers
#   rcli ARGS, db SQL, admin METHOD PATH [BODY] (the token on stdin, not on
#                           the command line)
#   streams_wait_empty SECS EVENT...  waits until every EVENT's claim stream
#                           is empty (drained), polled by one redis-cli
# shellcheck shell=bash

scratch_init() {
    DIR=$(mktemp -d "/tmp/$1.XXXXXX") # short: the MariaDB socket path must fit
    REDIS_PORT=$(tk_free_port 20000 29999) || tk_die "no free port"
    DB_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT") || tk_die "no free port"
    PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT") || tk_die "no free port"
    HTTP_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT") || tk_die "no free port"
    export REDIS_PORT DB_PORT VAR_DIR=$DIR DB_PASSWORD_FILE=$DIR/secrets/db_password
    export REDIS_APPENDFSYNC=always LOG_LEVEL=${LOG_LEVEL:-warn} REDIS_ACL_TEST_USER=1
    ADMIN_TOKEN=$(openssl rand -hex 24)
    export ADMIN_TOKEN
    # shellcheck disable=SC2034 # used by the scripts that source this one
    RUNID=$(openssl rand -hex 4)
    gw_pid=""
    wk_pids=()
    services_up=0
    trap scratch_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
}

# shellcheck disable=SC2317 # run from the trap
scratch_cleanup() {
    local rc=$? p
    trap '' INT TERM HUP
    set +e
    [ -z "$gw_pid" ] || tk_stop_pid tk-gateway "$gw_pid" 15 >/dev/null
    for p in "${wk_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${wk_pids[@]}"; do tk_stop_pid tk-worker "$p" 30 >/dev/null; done
    [ "$services_up" = 0 ] || "$ROOT/scripts/services.sh" stop "$DIR" >/dev/null 2>&1
    if [ "$rc" != 0 ]; then
        tk_warn "failed (status $rc); logs kept in $DIR"
    elif [ "${BENCH_KEEP:-0}" = 1 ]; then
        tk_say "kept $DIR"
    else
        rm -rf "$DIR"
    fi
    exit "$rc"
}

scratch_services() {
    local pw
    services_up=1
    "$ROOT/scripts/services.sh" start "$DIR" >/dev/null
    "$ROOT/scripts/migrate.sh" "$DIR" >/dev/null
    pw=$(tk_read_secret "$DB_PASSWORD_FILE")
    (umask 077 && printf '[client]\nuser=tk\npassword="%s"\nhost=127.0.0.1\nport=%s\nprotocol=tcp\ndatabase=tk\n' \
        "${pw//\"/\\\"}" "$DB_PORT" >"$DIR/client.cnf")
}

scratch_gateway() { # THREADS
    local i
    USER_AUTH=off ADMIN_ON_HTTP=1 RATE_IP_PER_S=0 FALLBACK_GRANTS=1 setsid "$GATEWAY" --port "$PORT" --http-port "$HTTP_PORT" \
        --threads "$1" --var-dir "$DIR" --web-root "$ROOT/web" --redis-user tk-gateway \
        --redis-password-file "$DIR/secrets/redis_gateway" </dev/null >>"$DIR/gateway.log" 2>&1 &
    gw_pid=$!
    for ((i = 0; i < 100; i++)); do
        curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$HTTP_PORT/readyz" && return 0
        tk_proc_running "$gw_pid" || tk_die "the gateway exited during start-up ($DIR/gateway.log)"
        sleep 0.2
    done
    tk_die "the gateway was not ready within 20 s ($DIR/gateway.log)"
}

scratch_start_workers() { # N NAME
    local i
    for ((i = 1; i <= $1; i++)); do
        setsid "$WORKER" --consumer "$2-$i" --redis-user tk-worker --redis-password-file "$DIR/secrets/redis_worker" \
            </dev/null >>"$DIR/worker-$i.log" 2>&1 &
        wk_pids+=("$!")
    done
}

scratch_stop_workers() {
    local p
    for p in "${wk_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${wk_pids[@]}"; do tk_stop_pid tk-worker "$p" 30 >/dev/null || true; done
    wk_pids=()
}

rcli() { tk_redis_cli "$DIR" test "$REDIS_PORT" "$@"; }
db() { mariadb --defaults-file="$DIR/client.cnf" --batch --skip-column-names -e "$1"; }

# streams_wait_empty SECS EVENT...: returns 0 as soon as the claim stream of
# every EVENT is empty, 1 after SECS. A worker trims an entry only once it
# and every entry before it are committed and acked (lua/confirm.lua), so an
# empty stream is a drained event. One redis-cli polls every 50 ms (-r/-i):
# a poll of a process per event (redis-cli, sed) cost ~35 ms of CPU each on
# this 2-core machine, about a whole core taken from the drain it timed.
streams_wait_empty() {
    local secs=$1 n e keys=()
    shift
    for e in "$@"; do keys+=("tk:{$e}:q"); done
    while read -r n; do
        [ "$n" = 0 ] && return 0
    done < <(rcli -r $((secs * 20)) -i 0.05 EVAL \
        "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('XLEN', k) end return n" "${#keys[@]}" "${keys[@]}")
    return 1
}
admin() { # METHOD PATH [BODY]: the answer on stdout, fails unless 2xx
    curl -sf --max-time 10 -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} \
        -K - "http://127.0.0.1:$HTTP_PORT$2" <<<"header = \"Authorization: Bearer $ADMIN_TOKEN\""
}
