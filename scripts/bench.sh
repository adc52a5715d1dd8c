#!/usr/bin/env bash
# bench.sh: the benchmark (`make bench` calls it after the release build).
# Starts its own Redis and MariaDB in a temporary directory on free loopback
# ports, the release gateway (HTTPS + a cleartext port) and the workers,
# runs bounded loads and measures, in ONE run, side by side:
#   ceilings   GET /healthz (no backend call) over HTTP/1.1 (wrk, 64 conns)
#              and HTTP/2 TLS (h2load, 16 conns x 32 streams); redis-benchmark
#              running lua/claim.lua and bench/reference.lua (pipelining 16)
#   claims     wrk HTTP/1.1, wrk HTTPS, tk-h2bench HTTP/2 (random users)
#   tokens     tk-h2bench HTTP/2 claims carrying user tokens (tk-token CSV),
#              once against USER_AUTH=off, once against a second gateway
#              with USER_AUTH=required: the verification's cost as a ratio
#   drain      the claims' backlog into MariaDB: rows/s
#   storm      stock 1,000 then >= 200,000 random users, HTTP/1.1 and HTTP/2:
#              req/s, p99, exactly 1,000 granted (Redis, admin view, MariaDB),
#              time from the last grant to the last confirmed row
#   durability claims/s with appendfsync always against everysec
#   fallback   Redis stopped: claims/s the gateway grants from MariaDB (HTTP/2,
#              BENCH_FALLBACK_CONNS x BENCH_FALLBACK_STREAMS, a new user per
#              request), then Redis started: ms until the merge is done; the
#              event's books checked (201s = grants = Redis = MariaDB)
#   live       (scripts/bench_live.sh) watches held over HTTP/2 and HTTP/1.1
#              TLS and the gateway's memory per held request, heartbeats/s,
#              claim -> last of 10,000 watchers answered, the waiting room's
#              join storm and admission rate (when the build has the room)
#   boards     (scripts/bench_boards.sh) a 300,000-row import, a board of
#              1,000,000 users: score writes/s and rank reads/s over HTTP/2,
#              p50/p99, the MariaDB backlog after the writes
#   cluster    (scripts/bench_cluster.sh) Redis Cluster (scripts/cluster.sh)
#              of 1 shard, then 3: claims/s and Redis CPU per granted claim
#              over 48 events and over one, HTTP/2 and HTTP/1.1; the cost of
#              REDIS_WAIT_REPLICAS=1; failover: kill -9 of the hot event's
#              master -> the first 201 on it again
# then prints a table, the bars (PASS/MISS with figures) and writes
# var/bench/latest.json. See bench/README.md.
#
# Environment: BENCH_SECONDS (10; 5 = short mode) seconds per load,
# GW_THREADS (1), BENCH_WORKERS (2), WRK_THREADS (1), BENCH_STORM_REQUESTS
# (200000), BENCH_TOKEN_USERS (200000: users with a token, so requests, of
# each token load), BENCH_FALLBACK_CONNS (4), BENCH_FALLBACK_STREAMS (16),
# BENCH_OUT (var/bench), BENCH_KEEP=1 keeps the temporary directory (logs)
# after the run. BENCH_PHASES=live (boards, cluster) runs only that phase
# (its sizes: scripts/bench_live.sh, bench_boards.sh, bench_cluster.sh) and
# writes var/bench/latest-live.json (latest-boards.json,
# latest-cluster.json) instead; BENCH_PHASES=core runs phases 1-6 alone
# (their keys in latest.json, those of 7-9 null).
set -euo pipefail

TK_PROG=bench.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# Its services and worker functions; bench.sh's own rcli, db and admin (below) replace scratch.sh's.
# shellcheck source=scripts/scratch.sh
. "$ROOT/scripts/scratch.sh"

SECS=${BENCH_SECONDS:-10}
GW_THREADS=${GW_THREADS:-1}
WORKERS=${BENCH_WORKERS:-2}
WRK_THREADS=${WRK_THREADS:-1}
STORM_REQUESTS=${BENCH_STORM_REQUESTS:-200000}
FB_CONNS=${BENCH_FALLBACK_CONNS:-4}
TOKEN_USERS=${BENCH_TOKEN_USERS:-200000}
FB_STREAMS=${BENCH_FALLBACK_STREAMS:-16}
FB_SETTLE=20       # s, at most, from creating the fallback's event to the gateway tracking it
FB_GRANT_WAIT=30   # s, at most, from stop-redis to /readyz "path":"grant"
FB_MERGE_WAIT=120  # s, at most, from start-redis to /readyz "path":"fast"
OUT_DIR=$(tk_abspath "${BENCH_OUT:-var/bench}")
GATEWAY=$ROOT/build/release/bin/tk-gateway
WORKER=$ROOT/build/release/bin/tk-worker
H2BENCH=$ROOT/build/release/bench/tk-h2bench
TK_TOKEN=$ROOT/build/release/bin/tk-token
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || tk_die "BENCH_SECONDS=$SECS: expected 1..120"
[[ "$GW_THREADS" =~ ^[0-9]+$ ]] && [ "$GW_THREADS" -ge 1 ] && [ "$GW_THREADS" -le 16 ] || tk_die "GW_THREADS=$GW_THREADS: expected 1..16"
[[ "$WORKERS" =~ ^[0-9]+$ ]] && [ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 16 ] || tk_die "BENCH_WORKERS=$WORKERS: expected 1..16"
[[ "$FB_CONNS" =~ ^[0-9]+$ ]] && [ "$FB_CONNS" -ge 1 ] && [ "$FB_CONNS" -le 256 ] || tk_die "BENCH_FALLBACK_CONNS=$FB_CONNS: expected 1..256"
[[ "$FB_STREAMS" =~ ^[0-9]+$ ]] && [ "$FB_STREAMS" -ge 1 ] && [ "$FB_STREAMS" -le 256 ] || tk_die "BENCH_FALLBACK_STREAMS=$FB_STREAMS: expected 1..256"
[[ "$STORM_REQUESTS" =~ ^[0-9]+$ ]] && [ "$STORM_REQUESTS" -ge 1000 ] && [ "$STORM_REQUESTS" -le 20000000 ] || tk_die "BENCH_STORM_REQUESTS: expected 1000..20000000"
[[ "$TOKEN_USERS" =~ ^[0-9]+$ ]] && [ "$TOKEN_USERS" -ge 1000 ] && [ "$TOKEN_USERS" -le 5000000 ] || tk_die "BENCH_TOKEN_USERS=$TOKEN_USERS: expected 1000..5000000"
for f in "$GATEWAY" "$WORKER" "$H2BENCH" "$TK_TOKEN"; do
    [ -x "$f" ] || tk_die "$f not found: run make bench (it builds everything first)"
done
for c in wrk h2load redis-benchmark redis-cli mariadb curl openssl awk; do
    command -v "$c" >/dev/null 2>&1 || tk_die "$c not found; run scripts/deps.sh core bench (as root)"
done

# ---- temporary world -----------------------------------------------------

DIR=$(mktemp -d /tmp/tkb.XXXXXX) # short: the MariaDB socket path must fit
RES=$DIR/res
mkdir -p "$RES" "$OUT_DIR"
REDIS_PORT=$(tk_free_port 20000 29999) || tk_die "no free port"
DB_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT") || tk_die "no free port"
PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT") || tk_die "no free port"
HTTP_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT") || tk_die "no free port"
# The second gateway of the token phase (USER_AUTH=required).
PORT2=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT") || tk_die "no free port"
HTTP_PORT2=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT" "$PORT2") || tk_die "no free port"
export REDIS_PORT DB_PORT VAR_DIR=$DIR DB_PASSWORD_FILE=$DIR/secrets/db_password
export USER_TOKEN_SECRET_FILE=$DIR/secrets/user_token_secret
export REDIS_APPENDFSYNC=always LOG_LEVEL=${LOG_LEVEL:-warn}
# Redis runs with ACLs (docs/DESIGN.md, "Redis ACLs"): the gateway and the
# workers as their own users; this script's redis-cli as the test user
# tk-test (set-up, stats, AOF rewrite), which services.sh adds for it.
export REDIS_ACL_TEST_USER=1
ADMIN_TOKEN=$(openssl rand -hex 24)
export ADMIN_TOKEN
RUNID=$(openssl rand -hex 4)

gw_pid=""
gw_http=$HTTP_PORT  # the cleartext port of the gateway a phase measures (its /metrics)
auth_pid=""
wk_pids=()
services_up=0

# shellcheck disable=SC2317 # run from the trap
cleanup() {
    local rc=$? p
    trap '' INT TERM HUP
    set +e
    # First: during a cluster load gw_pid names the cluster's gateway, and
    # cluster_cleanup puts bench.sh's own back before stopping its own.
    ! declare -F cluster_cleanup >/dev/null || cluster_cleanup
    [ -z "$gw_pid" ] || tk_stop_pid tk-gateway "$gw_pid" 15 >/dev/null
    [ -z "$auth_pid" ] || [ "$auth_pid" = "$gw_pid" ] || tk_stop_pid tk-gateway "$auth_pid" 15 >/dev/null
    [ -z "${live_pid:-}" ] || [ "$live_pid" = "$gw_pid" ] || tk_stop_pid tk-gateway "$live_pid" 15 >/dev/null
    for p in "${wk_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${wk_pids[@]}"; do tk_stop_pid tk-worker "$p" 30 >/dev/null; done
    [ "$services_up" = 0 ] || "$ROOT/scripts/services.sh" stop "$DIR" >/dev/null 2>&1 ||
        tk_warn "stopping the services in $DIR reported a problem"
    if [ "$rc" != 0 ]; then
        mkdir -p "$OUT_DIR/failed-logs"
        cp -r "$DIR"/*.log "$DIR"/redis/redis.log "$DIR"/mariadb/mariadb.log "$OUT_DIR/failed-logs/" 2>/dev/null
        tk_warn "failed (status $rc); logs copied to $OUT_DIR/failed-logs/"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        tk_say "kept $DIR"
    else
        rm -rf "$DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- helpers ---------------------------------------------------------------

rcli() { tk_redis_cli "$DIR" test "$REDIS_PORT" "$@"; }

db() {
    mariadb --defaults-file="$DIR/client.cnf" --batch --skip-column-names -e "$1"
}

# jget FILE KEY: a number from a one-line JSON object (our drivers' output).
jget() { sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p" "$1" | head -1; }

# calc EXPR: floating-point arithmetic; prints "null" when an input is null/empty.
calc() { awk "BEGIN { x = $1; printf \"%.6g\", x }" 2>/dev/null || echo null; }

nn() { [ -n "${1:-}" ] && echo "$1" || echo null; }

proc_ticks() { # PID (empty: a stopped server, 0; /proc//stat would be /proc/stat)
    [ -n "$1" ] || { echo 0; return; }
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

redis_pid() { tk_read_pidfile "$DIR/redis/redis.pid"; }
# The Redis a phase measures: the single Redis, or the pids the cluster
# phase puts in bench_redis_pids (every node of its cluster), summed.
bench_redis_pids=""
redis_ticks() {
    local p n=0
    [ -n "$bench_redis_pids" ] || { proc_ticks "$(redis_pid)"; return; }
    for p in $bench_redis_pids; do n=$((n + $(proc_ticks "$p"))); done
    echo "$n"
}
wk_ticks() { local p n=0; for p in "${wk_pids[@]}"; do n=$((n + $(proc_ticks "$p"))); done; echo "$n"; }

# Busy jiffies of the whole machine (all cores), and CPU seconds of this
# script's finished children (the load generators), from bash's `times`.
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# `times` must run in this shell (a subshell has no finished children), so
# it writes to a file that is parsed afterwards.
children_secs() { # FILE written by `times`
    tail -1 "$1" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] } print s }'
}

# HTTP statuses the gateway answered, from its own /metrics, as "201=N 409=M".
statuses() {
    curl -sf --max-time 5 "http://127.0.0.1:$gw_http/metrics" 2>/dev/null |
        awk '/^tk_http_requests_total\{/ && !/route="metrics"/ { if (match($0, /status="[^"]*"/)) { s = substr($0, RSTART + 8, RLENGTH - 9); n[s] += $NF } }
             END { for (s in n) printf "%s=%d\n", s, n[s] }' | sort
}
status_delta() { # BEFORE AFTER files -> "201=N 409=M" (non-zero changes only)
    awk -F= 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) { printf "%s%s=%d", sep, $1, d; sep = " " } }' "$1" "$2"
}

# Per phase: CPU of Redis and the gateway (% of one core) and the claim
# script's calls and cost, from Redis's own INFO commandstats.
# Samples the counters a phase compares, as of now, into _rN _gN _dN _wN _mN
# _cN (Redis, gateway, MariaDB, workers, machine, load generators) and
# $DIR/times.N, $DIR/status.N. In this shell, not a subshell (`times`).
phase_sample() { # N (0: the phase's start, 1: its end)
    local v
    v=$(redis_ticks)
    printf -v "_r$1" %s "$v"
    v=$(proc_ticks "$gw_pid")
    printf -v "_g$1" %s "$v"
    v=$(proc_ticks "$(tk_read_pidfile "$DIR/mariadb/mariadb.pid")")
    printf -v "_d$1" %s "$v"
    v=$(wk_ticks)
    printf -v "_w$1" %s "$v"
    v=$(machine_busy)
    printf -v "_m$1" %s "$v"
    times >"$DIR/times.$1"
    v=$(children_secs "$DIR/times.$1")
    printf -v "_c$1" %s "$v"
    statuses >"$DIR/status.$1"
}
phase_begin() { # (Redis may be down: the fallback phase)
    rcli config resetstat >/dev/null 2>&1 || true
    phase_sample 0
    _l0=$(cut -d' ' -f1 /proc/loadavg)
    _t0=$(date +%s.%N)
}
# shellcheck disable=SC2154 # _r0.._c1 are set by phase_sample (printf -v)
phase_end() { # NAME
    local t1 hz dt line calls usec
    phase_sample 1
    t1=$(date +%s.%N)
    hz=$(getconf CLK_TCK)
    dt=$(calc "$t1 - $_t0")
    line=$(rcli info commandstats 2>/dev/null | tr -d '\r' | grep '^cmdstat_evalsha:' || true)
    calls=$(sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p' <<<"$line")
    usec=$(sed -n 's/.*usec_per_call=\([0-9.]*\).*/\1/p' <<<"$line")
    # CPU in % of ONE core (the machine has $(nproc) x 100); loadgen = the
    # load generator; machine = everything, ours and anyone else's.
    printf '{"redis_cpu_pct":%s,"gw_cpu_pct":%s,"db_cpu_pct":%s,"workers_cpu_pct":%s,"loadgen_cpu_pct":%s,"machine_cpu_pct":%s,"loadavg_before":%s,"evalsha_calls":%s,"evalsha_usec_per_call":%s,"statuses":"%s"}\n' \
        "$(calc "int(100 * ($_r1 - $_r0) / $hz / $dt)")" "$(calc "int(100 * ($_g1 - $_g0) / $hz / $dt)")" \
        "$(calc "int(100 * ($_d1 - $_d0) / $hz / $dt)")" "$(calc "int(100 * ($_w1 - $_w0) / $hz / $dt)")" \
        "$(calc "int(100 * ($_c1 - $_c0) / $dt)")" "$(calc "int(100 * ($_m1 - $_m0) / $hz / $dt)")" "$_l0" \
        "$(nn "$calls")" "$(nn "$usec")" "$(status_delta "$DIR/status.0" "$DIR/status.1")" >"$RES/$1.cpu"
}

admin() { # METHOD PATH [BODY] -> body on stdout, fails unless 2xx
    local tq=${ADMIN_TOKEN//\"/\\\"}
    curl -sf --max-time 10 -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} \
        -k -K - "https://127.0.0.1:$PORT$2" <<<"header = \"Authorization: Bearer $tq\"" # admin: HTTPS only (ADMIN_ON_HTTP)
}

# Retried: right after a Redis restart the gateway's admin path fails its
# first Redis call ("Server closed the connection") before it reconnects.
create_event() { # ID STOCK
    local i
    for ((i = 0; i < 5; i++)); do
        admin POST /v1/admin/events "{\"event_id\":\"$1\",\"name\":\"bench $1\",\"stock\":$2,\"max_per_user\":1}" >/dev/null 2>&1 && return 0
        [ "$(rcli exists "tk:{$1}:ev")" = 1 ] && return 0
        tk_warn "creating event $1 failed (try $((i + 1))); retrying"
        sleep 1
    done
    tk_die "could not create event $1 through the admin API"
}

# Every load comes from 127.0.0.1: the per-address rate limit (docs/ABUSE.md)
# would answer most of it with 429, so it is off here; the per-user limit
# stays at its default (every bench user is new, so it refuses nothing but
# still costs its lookup, as in production).
# The main gateway runs with USER_AUTH=off: its loads are v1 claims naming
# a new user each (the token phase measures what tokens cost, beside them);
# its admin routes are reached on the cleartext port (ADMIN_ON_HTTP=1).
# gateway_up PID HTTP_PORT LOG: waits for /readyz, at most 20 s.
gateway_up() {
    local i
    for ((i = 0; i < 100; i++)); do
        tk_proc_running "$1" || { tk_log_tail "$3" 20 >&2; tk_die "the gateway exited during start-up"; }
        curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$2/readyz" && return 0
        sleep 0.2
    done
    tk_die "the gateway was not ready within 20s"
}
start_gateway() {
    USER_AUTH=off ADMIN_ON_HTTP=1 RATE_IP_PER_S=0 FALLBACK_GRANTS=1 setsid "$GATEWAY" --port "$PORT" --http-port "$HTTP_PORT" --threads "$GW_THREADS" \
        --var-dir "$DIR" --web-root "$ROOT/web" --redis-user tk-gateway --redis-password-file "$DIR/secrets/redis_gateway" \
        </dev/null >>"$DIR/gateway.log" 2>&1 &
    gw_pid=$!
    gateway_up "$gw_pid" "$HTTP_PORT" "$DIR/gateway.log"
}
# The token phase's second gateway: the same settings, USER_AUTH=required.
start_auth_gateway() {
    USER_AUTH=required ADMIN_ON_HTTP=1 RATE_IP_PER_S=0 FALLBACK_GRANTS=1 setsid "$GATEWAY" --port "$PORT2" --http-port "$HTTP_PORT2" --threads "$GW_THREADS" \
        --var-dir "$DIR" --web-root "$ROOT/web" --redis-user tk-gateway --redis-password-file "$DIR/secrets/redis_gateway" \
        </dev/null >>"$DIR/gateway-auth.log" 2>&1 &
    auth_pid=$!
    gateway_up "$auth_pid" "$HTTP_PORT2" "$DIR/gateway-auth.log"
}

# The workers (scripts/scratch.sh): WORKERS of them, named bench-1, bench-2, ...
start_workers() { scratch_start_workers "$WORKERS" bench; }
stop_workers() { scratch_stop_workers; }

pending() { # ID...: claims not yet written to MariaDB, as the admin view counts them (lua/admin_view.lua: an entry holds a call's claims)
    local n=0 e
    for e in "$@"; do n=$((n + $(rcli --eval "$ROOT/lua/admin_view.lua" "tk:{$e}:ev" "tk:{$e}:q" , seq | sed -n 2p))); done
    echo "$n"
}

# /readyz's body whatever its status (503 while Redis is away), and its
# "path": fast | lost | grant | merge (empty from a gateway without it).
readyz_body() { curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null || true; }
path_of() { sed -n 's/.*"path":"\([a-z]*\)".*/\1/p' <<<"$1"; }

ms_now() { echo $(($(date +%s%N) / 1000000)); }

wait_ready() { # after a Redis restart: the gateway answers claims again, on the fast path
    local i b p
    for ((i = 0; i < 150; i++)); do
        if b=$(curl -sf --max-time 1 "http://127.0.0.1:$HTTP_PORT/readyz" 2>/dev/null); then
            p=$(path_of "$b")
            [ -z "$p" ] || [ "$p" = fast ] && return 0
        fi
        sleep 0.2
    done
    tk_die "the gateway did not become ready (path fast) again after the Redis restart: $(readyz_body)"
}

say_load() { printf '  %-34s %s\n' "$1" "$(cat "$2")"; }

# wrk NAME CONNS URL MODE: a wrk load of SECS seconds, result in $RES/NAME.json
run_wrk() {
    local name=$1 conns=$2 url=$3 mode=$4
    phase_begin
    timeout $((SECS + 30)) wrk -t "$WRK_THREADS" -c "$conns" -d "${SECS}s" --timeout 5s \
        -s "$ROOT/bench/wrk.lua" "$url" -- "$mode" "$RUNID$name" >"$RES/$name.out" 2>&1 ||
        { cat "$RES/$name.out" >&2; tk_die "wrk ($name) failed"; }
    phase_end "$name"
    sed -n 's/^TKWRK //p' "$RES/$name.out" >"$RES/$name.json"
    [ -s "$RES/$name.json" ] || { cat "$RES/$name.out" >&2; tk_die "wrk ($name) printed no result"; }
    say_load "$name" "$RES/$name.json"
}

# h2 NAME METHOD PATH [MAXREQ [PORT [TOKENS.csv]]]: tk-h2bench, 16 connections
# x 32 streams; with TOKENS.csv, claims by its users with their tokens
run_h2() {
    local name=$1 method=$2 path=$3 maxreq=${4:-50000000} port=${5:-$PORT} tokens=${6:-}
    phase_begin
    timeout $((SECS + 30)) "$H2BENCH" -p "$port" -c 16 -m 32 -d "$SECS" -n "$maxreq" ${tokens:+-T "$tokens"} -X "$method" "$path" \
        >"$RES/$name.json" 2>"$RES/$name.err" || { cat "$RES/$name.err" >&2; tk_die "tk-h2bench ($name) failed"; }
    phase_end "$name"
    say_load "$name" "$RES/$name.json"
}

# redis-benchmark NAME KEYCOUNT SHA KEYS_AND_ARGS...: the script with pipelining 16,
# a new random user per call; requests sized to last about SECS seconds. As
# the Redis user tk-$RB_USER (default gateway: the claim script under the
# gateway's own ACL checks); redis-benchmark takes the password only as -a.
run_rb() {
    local name=$1 nkeys=$2 sha=$3 n rps rb_user=${RB_USER:-gateway} rb_pw
    shift 3
    n=${RB_N:-$((SECS * ${RB_RATE_GUESS:-60000}))}
    rb_pw=$(tk_read_secret "$DIR/secrets/redis_$rb_user") || tk_die "cannot read $DIR/secrets/redis_$rb_user"
    phase_begin
    timeout $((SECS * 4 + 30)) redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" --user "tk-$rb_user" -a "$rb_pw" \
        -c "${RB_CLIENTS:-50}" -n "$n" -P "${RB_PIPELINE:-16}" -r 100000000 --csv \
        EVALSHA "$sha" "$nkeys" "$@" >"$RES/$name.out" 2>&1 ||
        { cat "$RES/$name.out" >&2; tk_die "redis-benchmark ($name) failed"; }
    phase_end "$name"
    rps=$(tail -1 "$RES/$name.out" | awk -F'","' '{print $2}')
    [ -n "$rps" ] || { cat "$RES/$name.out" >&2; tk_die "redis-benchmark ($name) printed no result"; }
    printf '{"requests":%s,"rps":%.0f,"p50_ms":%s,"p99_ms":%s}\n' "$n" "$rps" \
        "$(tail -1 "$RES/$name.out" | awk -F'","' '{print $5}')" "$(tail -1 "$RES/$name.out" | awk -F'","' '{print $7}')" >"$RES/$name.json"
    say_load "$name" "$RES/$name.json"
}

# h2load NAME URL: the HTTP/2 ceiling on the trivial route
run_h2load() {
    local name=$1 url=$2 rps ok
    phase_begin
    timeout $((SECS + 30)) h2load -t 1 -c 16 -m 32 -D "$SECS" "$url" >"$RES/$name.out" 2>&1 ||
        { cat "$RES/$name.out" >&2; tk_die "h2load ($name) failed"; }
    phase_end "$name"
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$RES/$name.out")
    ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$RES/$name.out")
    [ -n "$rps" ] || { cat "$RES/$name.out" >&2; tk_die "h2load ($name) printed no result"; }
    printf '{"rps":%.0f,"s2xx":%s}\n' "$rps" "$(nn "$ok")" >"$RES/$name.json"
    say_load "$name" "$RES/$name.json"
}

# ---- start -----------------------------------------------------------------

tk_say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr); loads of ${SECS}s; GW_THREADS=$GW_THREADS; $WORKERS workers"
tk_say "services in $DIR (redis $REDIS_PORT, mariadb $DB_PORT, gateway https $PORT / http $HTTP_PORT)"
scratch_services # Redis, MariaDB, the schema, $DIR/client.cnf (scripts/scratch.sh)
start_gateway

# The live phase (7), the leaderboard phase (8) and the Redis Cluster phase
# (9) live in their own files; BENCH_PHASES=live, boards or cluster runs one
# alone.
# shellcheck source=scripts/bench_live.sh
. "$ROOT/scripts/bench_live.sh"
# shellcheck source=scripts/bench_boards.sh
. "$ROOT/scripts/bench_boards.sh"
# shellcheck source=scripts/bench_cluster.sh
. "$ROOT/scripts/bench_cluster.sh"
case ${BENCH_PHASES:-all} in
    all | core) ;;
    live) live_phase; live_report_alone; exit 0 ;;
    boards) boards_phase; boards_report_alone; exit 0 ;;
    cluster) cluster_phase; cluster_report_alone; exit 0 ;;
    *) tk_die "BENCH_PHASES=${BENCH_PHASES}: expected all, core, live, boards or cluster" ;;
esac

# ---- 1. ceilings -----------------------------------------------------------

tk_say "1/6 ceilings"
run_wrk ok_h1 64 "http://127.0.0.1:$HTTP_PORT/healthz" get
run_h2load ok_h2 "https://127.0.0.1:$PORT/healthz"
run_h2 ok_h2_driver GET /healthz

# The project's claim script, on an event stocked far beyond what sells.
# ARGV: now, the admitted flags (one per claim; read only on a waiting-room event), the entry shape (m: packed), then user/quantity pairs.
claim_sha=$(rcli -x script load <"$ROOT/lua/claim.lua")
rcli hset 'tk:{bench}:ev' name bench state open total 1000000000000 remaining 1000000000000 maxpu 1 opens 0 closes 0 seq 0 created 0 >/dev/null
now_ms=$(($(date +%s) * 1000))
run_rb redis_ceiling 3 "$claim_sha" 'tk:{bench}:ev' 'tk:{bench}:claims' 'tk:{bench}:q' "$now_ms" 0 m u:__rand_int__ 1
# Informational: the same script given 32 claims per call, as the gateway's
# batcher does under load (redis-benchmark draws each __rand_int__ anew);
# 4 clients without pipelining, about what one gateway keeps in flight.
pairs=()
for ((i = 0; i < 32; i++)); do pairs+=(u:__rand_int__ 1); done
RB_N=$((SECS * 3000)) RB_CLIENTS=4 RB_PIPELINE=1 run_rb redis_batch32 3 "$claim_sha" 'tk:{bench}:ev' 'tk:{bench}:claims' 'tk:{bench}:q' "$now_ms" 00000000000000000000000000000000 m "${pairs[@]}"
ref_sha=$(rcli -x script load <"$ROOT/bench/reference.lua")
rcli set 'tk:{ref}:stock' 1000000000000 >/dev/null
RB_USER=test run_rb reference_ceiling 5 "$ref_sha" 'tk:{ref}:ticket' 'tk:{ref}:stock' 'tk:{ref}:users' 'tk:{ref}:claims' 'tk:{ref}:q' "$now_ms" u:__rand_int__ 1
rcli del 'tk:{bench}:ev' 'tk:{bench}:claims' 'tk:{bench}:q' 'tk:{ref}:ticket' 'tk:{ref}:stock' 'tk:{ref}:users' 'tk:{ref}:claims' 'tk:{ref}:q' >/dev/null

# ---- 2. claims (workers stopped: the same conditions as the ceilings) ------

tk_say "2/6 claims (random users, stock 100,000,000 each)"
# Redis CPU per granted claim (issue 16): Redis's CPU time from here to the
# end of the drain (phase 3) -- the claim loads of 2 and 2b, then the
# workers' reads and confirms of every claim they granted -- over the
# claims granted (the events' seq). Nothing else uses Redis in between.
redis_claims_t0=$(redis_ticks)
for e in c-h1 c-tls c-h2; do create_event "$e" 100000000; done
run_wrk h1_claims 64 "http://127.0.0.1:$HTTP_PORT/v1/events/c-h1/claims" claim
run_wrk tls_h1_claims 64 "https://127.0.0.1:$PORT/v1/events/c-tls/claims" claim
run_h2 h2_claims POST /v1/events/c-h2/claims

# ---- 2b. claims with user tokens: what verifying them costs ----------------
#
# The same tk-h2bench load twice, request for request: each POST a claim by
# a user of a tk-token CSV never seen on that event (the driver shuffles the
# file and takes each user once), the token as bearer, the same user in the
# body. First this gateway (USER_AUTH=off: the header is not looked at), then
# a second gateway on the same Redis started with USER_AUTH=required (each
# token's signature and claims checked, body user = sub). Each load ends
# after TOKEN_USERS requests or SECS seconds. required / off is the ratio.

tk_say "2/6 claims with user tokens ($TOKEN_USERS users from tk-token; USER_AUTH=off, then required)"
tk_secret_file "$USER_TOKEN_SECRET_FILE" 32 || tk_die "cannot create $USER_TOKEN_SECRET_FILE"
tokens_csv=$DIR/tokens.csv
t0=$(date +%s%N)
(umask 077 && "$TK_TOKEN" --secret-file "$USER_TOKEN_SECRET_FILE" --csv "$TOKEN_USERS" --prefix "b$RUNID-" --ttl 3600 >"$tokens_csv") ||
    tk_die "tk-token could not mint $TOKEN_USERS tokens"
tk_say "  minted $TOKEN_USERS tokens in $(calc "int(($(date +%s%N) - $t0) / 1e6)") ms ($(wc -c <"$tokens_csv") bytes)"
create_event c-h2-off 100000000
create_event c-h2-tok 100000000
run_h2 h2_claims_tokoff POST /v1/events/c-h2-off/claims "$TOKEN_USERS" "$PORT" "$tokens_csv"
start_auth_gateway
# The second gateway tracks the event before the load (it reads tk:events
# about every 2 s; /readyz then lists it under "paths").
t0=$(ms_now)
until curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT2/readyz" 2>/dev/null | grep -q '"c-h2-tok":"redis"'; do
    [ $(($(ms_now) - t0)) -lt 20000 ] || { tk_warn "the second gateway did not list event c-h2-tok within 20 s; going on"; break; }
    sleep 0.1
done
main_pid=$gw_pid
gw_pid=$auth_pid gw_http=$HTTP_PORT2
run_h2 h2_claims_tok POST /v1/events/c-h2-tok/claims "$TOKEN_USERS" "$PORT2" "$tokens_csv"
gw_pid=$main_pid gw_http=$HTTP_PORT
tk_stop_pid tk-gateway "$auth_pid" 15 >/dev/null || tk_warn "the second gateway did not stop cleanly"
auth_pid=""
rm -f "$tokens_csv"

# ---- 3. drain: the claims' backlog into MariaDB ---------------------------

CLAIM_EVENTS=(c-h1 c-tls c-h2 c-h2-off c-h2-tok)
tk_say "3/6 drain"
backlog=$(pending "${CLAIM_EVENTS[@]}")
phase_begin
rows0=$(db "SELECT COUNT(*) FROM claims")
t0=$(date +%s%N)
start_workers
streams_wait_empty 300 "${CLAIM_EVENTS[@]}" ||
    tk_die "the drain did not finish within 300s ($(pending "${CLAIM_EVENTS[@]}") left)"
t1=$(date +%s%N)
phase_end drain
rows1=$(db "SELECT COUNT(*) FROM claims")
drain_secs=$(calc "($t1 - $t0) / 1e9")
drain_rows=$((rows1 - rows0))
drain_rows_per_s=$(calc "$drain_rows / $drain_secs")
printf '{"backlog":%s,"rows":%s,"seconds":%s,"rows_per_s":%.0f}\n' "$backlog" "$drain_rows" "$drain_secs" "$drain_rows_per_s" >"$RES/drain.json"
say_load drain "$RES/drain.json"
redis_claims_t1=$(redis_ticks)
granted_claims=0
for e in "${CLAIM_EVENTS[@]}"; do granted_claims=$((granted_claims + $(rcli hget "tk:{$e}:ev" seq))); done
redis_us_per_granted=$(calc "1e6 * ($redis_claims_t1 - $redis_claims_t0) / $(getconf CLK_TCK) / $granted_claims")
tk_say "  Redis CPU per granted claim (claim + confirm): $redis_us_per_granted us over $granted_claims claims"
[ "$granted_claims" = "$drain_rows" ] || tk_warn "MariaDB has $drain_rows new rows but Redis granted $granted_claims"

# ---- 4. sold-out storm (workers running) ----------------------------------

tk_say "4/6 sold-out storm (stock 1,000; at least $STORM_REQUESTS requests each)"
storm_check() { # ID NAME: granted per Redis, admin view, MariaDB; drain tail
    local e=$1 name=$2 i seq rem view vgr dbc tail
    for ((i = 0; i < 100; i++)); do
        [ "$(pending "$e")" = 0 ] && break
        sleep 0.1
    done
    seq=$(rcli hget "tk:{$e}:ev" seq)
    rem=$(rcli hget "tk:{$e}:ev" remaining)
    view=$(admin GET "/v1/admin/events/$e" || echo '{}')
    vgr=$(sed -n 's/.*"redis":{[^}]*"granted":\([0-9]*\).*/\1/p' <<<"$view")
    dbc=$(db "SELECT COUNT(*) FROM claims WHERE event_id='$e' AND status='confirmed'")
    tail=$(db "SELECT ROUND(TIMESTAMPDIFF(MICROSECOND, MAX(created_at), MAX(confirmed_at)) / 1000) FROM claims WHERE event_id='$e'")
    printf '{"redis_granted":%s,"redis_remaining":%s,"admin_granted":%s,"db_confirmed":%s,"pending":%s,"tail_ms":%s}\n' \
        "$(nn "$seq")" "$(nn "$rem")" "$(nn "$vgr")" "$(nn "$dbc")" "$(pending "$e")" "$(nn "$tail")" >"$RES/$name.check.json"
    say_load "$name check" "$RES/$name.check.json"
}
create_event so-h1 1000
create_event so-h2 1000
run_wrk soldout_h1 64 "http://127.0.0.1:$HTTP_PORT/v1/events/so-h1/claims" claim
storm_check so-h1 soldout_h1
run_h2 soldout_h2 POST /v1/events/so-h2/claims 50000000
storm_check so-h2 soldout_h2

# ---- 5. durability: appendfsync always (above) against everysec -----------

tk_say "5/6 durability (Redis restarted with appendfsync always, then everysec)"
# Both measured the same way: Redis restarted (its AOF replayed), an AOF
# rewrite run to completion so none runs during the load, workers stopped.
stop_workers
aof_quiet() {
    local i
    rcli bgrewriteaof >/dev/null 2>&1 || true
    for ((i = 0; i < 600; i++)); do
        rcli info persistence | tr -d '\r' | grep -Eq '^aof_rewrite_in_progress:0' &&
            rcli info persistence | tr -d '\r' | grep -Eq '^aof_rewrite_scheduled:0' && return 0
        sleep 0.1
    done
    tk_warn "the AOF rewrite did not finish within 60s"
}
for mode in always everysec; do
    "$ROOT/scripts/services.sh" stop-redis "$DIR" >/dev/null
    REDIS_APPENDFSYNC=$mode "$ROOT/scripts/services.sh" start-redis "$DIR" >/dev/null
    wait_ready
    aof_quiet
    create_event "d-$mode" 100000000
    run_h2 "${mode}_h2_claims" POST "/v1/events/d-$mode/claims"
    claim_sha=$(rcli -x script load <"$ROOT/lua/claim.lua")
    rcli hset 'tk:{bench}:ev' name bench state open total 1000000000000 remaining 1000000000000 maxpu 1 opens 0 closes 0 seq 0 created 0 >/dev/null
    run_rb "${mode}_redis_ceiling" 3 "$claim_sha" 'tk:{bench}:ev' 'tk:{bench}:claims' 'tk:{bench}:q' "$now_ms" 0 m u:__rand_int__ 1
    rcli del 'tk:{bench}:ev' 'tk:{bench}:claims' 'tk:{bench}:q' >/dev/null
done

# ---- 6. fallback: claims granted from MariaDB while Redis is down ----------
#
# A fresh event (stock 100,000,000: it does not sell out), Redis stopped, and
# once /readyz says "path":"grant" a tk-h2bench load of SECS seconds with
# FB_CONNS x FB_STREAMS (the fallback is bound by MariaDB, so far fewer in
# flight than the fast path's 16 x 32); then Redis started again and the
# time until "path":"fast" (the merge) measured; last the event's books.
# Any failure here is reported and recorded as null: the other figures stand.

tk_say "6/6 fallback (Redis stopped: claims granted from MariaDB; $FB_CONNS conns x $FB_STREAMS streams)"
FB_EVENTS=("${CLAIM_EVENTS[@]}" so-h1 so-h2 d-always d-everysec)
fb_reason=""     # why the phase measured nothing (empty when it did)
fb_redis_down=0  # Redis stopped by this phase and not yet started again
fb_merge_ms=""
fb_fast_ms=""
fb_merges=""
fb_m0=""
fb_lock_lost=""
fb_redis_start_ms=""
fb_grant_after_ms=""
fb_grants=""
fb_path_after=""
fb_event_path=""

fb_gw_log() { # the gateway's own account of its path switches, for a report
    grep -E 'path:|merge:|fallback:' "$DIR/gateway.log" 2>/dev/null | tail -8 | sed 's/^/    gateway.log: /' >&2 || true
}

fb_fail() { # REASON
    fb_reason=$1
    tk_warn "6/6 fallback NOT MEASURED: $1"
}

metric_value() { # NAME: an unlabelled series of the gateway's /metrics; empty when absent
    curl -sf --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null | awk -v m="$1" '$1 == m { print $2; exit }'
}

wait_path() { # WANT SECONDS: polls /readyz every 50 ms until "path" is WANT; fb_body: the last answer
    local deadline=$(($(ms_now) + $2 * 1000))
    while :; do
        fb_body=$(readyz_body)
        [ "$(path_of "$fb_body")" = "$1" ] && return 0
        [ "$(ms_now)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# Starts Redis again (after stop-redis) and waits for the fast path; sets
# fb_redis_start_ms (start-redis alone), fb_fast_ms (start-redis called ->
# /readyz "path":"fast", empty when not reached in FB_MERGE_WAIT s),
# fb_merges (the tk_fallback_merges_total delta) and fb_merge_ms (= fb_fast_ms
# when a merge completed, else empty: fast without a merge is no merge time).
fb_redis_back() {
    local t0 m1
    [ "$fb_redis_down" = 1 ] || return 0
    t0=$(ms_now)
    if ! "$ROOT/scripts/services.sh" start-redis "$DIR" >/dev/null; then
        tk_warn "6/6 fallback: start-redis failed; the run cannot go on"
        return 1
    fi
    fb_redis_down=0
    fb_redis_start_ms=$(($(ms_now) - t0))
    if wait_path fast "$FB_MERGE_WAIT"; then
        fb_fast_ms=$(($(ms_now) - t0))
        m1=$(metric_value tk_fallback_merges_total)
        [ -z "$fb_m0" ] || [ -z "$m1" ] || fb_merges=$((${m1%.*} - ${fb_m0%.*}))
        if [ "${fb_merges:-0}" -ge 1 ]; then
            fb_merge_ms=$fb_fast_ms
        else
            tk_warn "6/6 fallback: /readyz says \"path\":\"fast\" but tk_fallback_merges_total did not move ($fb_m0 -> $m1): the gateway went back to the fast path WITHOUT merging (gateway side):"
            fb_gw_log
        fi
        return 0
    fi
    tk_warn "6/6 fallback: /readyz did not say \"path\":\"fast\" within ${FB_MERGE_WAIT}s of start-redis (gateway side: the merge did not finish); last /readyz: $fb_body"
    fb_gw_log
    return 1
}

fallback_phase() {
    local t0 body p g0 g1 l0 l1 rc
    # The backlog of phase 5 (its loads ran with the workers stopped) is
    # drained first, so that neither the grants nor the merge share MariaDB
    # with it, and the AOF rewritten so that start-redis replays little.
    start_workers
    t0=$(ms_now)
    while [ "$(pending "${FB_EVENTS[@]}")" -gt 0 ]; do
        [ $(($(ms_now) - t0)) -lt 300000 ] || { fb_fail "the backlog of phase 5 did not drain within 300 s"; return 1; }
        sleep 0.1
    done
    tk_say "  backlog of phase 5 drained in $(($(ms_now) - t0)) ms (workers stay up)"
    aof_quiet
    body=$(readyz_body)
    p=$(path_of "$body")
    if [ -z "$p" ]; then
        fb_fail "this gateway's /readyz has no \"path\" field, so it has no granting fallback to measure (/readyz: $body)"
        return 1
    fi
    [ "$p" = fast ] || { fb_fail "/readyz says \"path\":\"$p\" before the phase, expected \"fast\""; return 1; }
    (create_event fb 100000000) || { fb_fail "could not create event fb"; return 1; }
    # The gateway must have tracked the new event (it reads tk:events about
    # every 2 s; /readyz then lists it under "paths") and read its watermark
    # (an empty stream; every 200 ms) before Redis goes, or the event's
    # journal is not known complete and the fallback answers 503 for it.
    t0=$(ms_now)
    until readyz_body | grep -q '"paths":{[^}]*"fb":"redis"'; do
        [ $(($(ms_now) - t0)) -lt $((FB_SETTLE * 1000)) ] || {
            tk_warn "6/6 fallback: /readyz did not list event fb under \"paths\" within ${FB_SETTLE}s; going on"
            break
        }
        sleep 0.1
    done
    sleep 0.5
    g0=$(metric_value tk_fallback_grants_total)
    fb_m0=$(metric_value tk_fallback_merges_total)
    l0=$(metric_value tk_fallback_lock_lost_total)

    t0=$(ms_now)
    "$ROOT/scripts/services.sh" stop-redis "$DIR" >/dev/null || { fb_fail "stop-redis failed"; return 1; }
    fb_redis_down=1
    if ! wait_path grant "$FB_GRANT_WAIT"; then
        fb_fail "Redis stopped, but /readyz did not say \"path\":\"grant\" within ${FB_GRANT_WAIT}s (FALLBACK_AFTER_MS=${FALLBACK_AFTER_MS:-1000 by default}); last /readyz: $fb_body"
        fb_gw_log
        fb_redis_back || true
        return 1
    fi
    fb_grant_after_ms=$(($(ms_now) - t0))
    tk_say "  Redis stopped; /readyz \"path\":\"grant\" after $fb_grant_after_ms ms"

    phase_begin
    rc=0
    timeout $((SECS + 30)) "$H2BENCH" -p "$PORT" -c "$FB_CONNS" -m "$FB_STREAMS" -d "$SECS" -n 5000000 -X POST /v1/events/fb/claims \
        >"$RES/fallback.json" 2>"$RES/fallback.err" || rc=$?
    phase_end fallback
    g1=$(metric_value tk_fallback_grants_total)
    l1=$(metric_value tk_fallback_lock_lost_total)
    [ -z "$l0" ] || [ -z "$l1" ] || fb_lock_lost=$((${l1%.*} - ${l0%.*}))
    body=$(readyz_body)
    fb_path_after=$(path_of "$body")
    fb_event_path=$(sed -n 's/.*"paths":{[^}]*"fb":"\([a-z-]*\)".*/\1/p' <<<"$body")
    if [ "$rc" != 0 ] || ! [ -s "$RES/fallback.json" ]; then
        fb_fail "tk-h2bench failed (status $rc): $(head -c 300 "$RES/fallback.err")"
        rm -f "$RES/fallback.json"
        fb_redis_back || true
        return 1
    fi
    say_load fallback "$RES/fallback.json"
    [ "$fb_path_after" = grant ] || tk_warn "6/6 fallback: /readyz said \"path\":\"$fb_path_after\" at the end of the load, not \"grant\""
    [ "$fb_event_path" = fallback ] || tk_warn "6/6 fallback: /readyz said event fb's path was \"$fb_event_path\" at the end of the load, not \"fallback\""
    if [ -n "$g0" ] && [ -n "$g1" ]; then
        fb_grants=$((${g1%.*} - ${g0%.*}))
    else
        tk_warn "6/6 fallback: /metrics has no tk_fallback_grants_total"
    fi

    if fb_redis_back; then
        tk_say "  Redis started again; /readyz \"path\":\"fast\" after $fb_fast_ms ms (start-redis itself: $fb_redis_start_ms ms; merges completed: $(nn "$fb_merges"))"
    fi
    fallback_check
    return 0
}

# The event's books after the merge: what the driver saw granted (201), the
# gateway's grants counter, Redis (admin view), MariaDB (admin view and a
# direct count), nothing pending. They must all agree.
fallback_check() {
    local i view rgr dbc dbn pend s201 agree
    for ((i = 0; i < 100; i++)); do
        [ "$(pending fb 2>/dev/null)" = 0 ] && break
        sleep 0.1
    done
    view=$(admin GET /v1/admin/events/fb || echo '{}')
    rgr=$(sed -n 's/.*"redis":{[^}]*"granted":\([0-9]*\).*/\1/p' <<<"$view")
    dbc=$(sed -n 's/.*"database":{"confirmed":\([0-9]*\).*/\1/p' <<<"$view")
    pend=$(sed -n 's/.*"pending":\([0-9]*\).*/\1/p' <<<"$view")
    dbn=$(db "SELECT COUNT(*) FROM claims WHERE event_id='fb' AND status='confirmed'" 2>/dev/null || true)
    s201=$(jget "$RES/fallback.json" s201)
    agree=0
    [ -n "$s201" ] && [ "$s201" = "${fb_grants:-}" ] && [ "$s201" = "$rgr" ] && [ "$s201" = "$dbc" ] &&
        [ "$s201" = "$dbn" ] && [ "$pend" = 0 ] && agree=1
    printf '{"s201":%s,"grants_metric":%s,"admin_redis_granted":%s,"admin_db_confirmed":%s,"db_confirmed_rows":%s,"pending":%s,"driver_errors":%s,"agree":%s}\n' \
        "$(nn "$s201")" "$(nn "$fb_grants")" "$(nn "$rgr")" "$(nn "$dbc")" "$(nn "$dbn")" "$(nn "$pend")" \
        "$(nn "$(jget "$RES/fallback.json" errors)")" "$agree" >"$RES/fallback.check.json"
    say_load "fallback check" "$RES/fallback.check.json"
    [ "$agree" = 1 ] || tk_warn "6/6 fallback: the books do NOT agree (201s, tk_fallback_grants_total, Redis granted, MariaDB confirmed, pending 0): $(cat "$RES/fallback.check.json")"
}

if ! fallback_phase; then
    [ "$fb_redis_down" = 0 ] || tk_die "Redis could not be started again after the fallback phase"
fi

# ---- 7. live updates and the waiting room (scripts/bench_live.sh) ---------

[ "${BENCH_PHASES:-all}" = core ] || live_phase

# ---- 8. leaderboards (scripts/bench_boards.sh) ------------------------------

[ "${BENCH_PHASES:-all}" = core ] || boards_phase

# ---- 9. Redis Cluster (scripts/bench_cluster.sh) ----------------------------

[ "${BENCH_PHASES:-all}" = core ] || cluster_phase

# ---- results ---------------------------------------------------------------

r() { local v; v=$(jget "$RES/$1.json" "$2" 2>/dev/null); nn "$v"; }
c() { local v; v=$(jget "$RES/$1.cpu" "$2" 2>/dev/null); nn "$v"; }
st() { sed -n 's/.*"statuses":"\([^"]*\)".*/\1/p' "$RES/$1.cpu" 2>/dev/null; }
cpu() { echo "[$(st "$1")] cpu% redis $(c "$1" redis_cpu_pct) db $(c "$1" db_cpu_pct) wk $(c "$1" workers_cpu_pct) gw $(c "$1" gw_cpu_pct) gen $(c "$1" loadgen_cpu_pct) all $(c "$1" machine_cpu_pct)/$(($(nproc) * 100))"; }
ok_h1=$(r ok_h1 rps); ok_h2=$(r ok_h2 rps)
redis_ceiling=$(r redis_ceiling rps); ref_ceiling=$(r reference_ceiling rps)
h1=$(r h1_claims rps); tls=$(r tls_h1_claims rps); h2=$(r h2_claims rps)
so_h1=$(r soldout_h1 rps); so_h2=$(r soldout_h2 rps)
so_granted=$(r soldout_h1.check redis_granted)
so_granted2=$(r soldout_h2.check redis_granted)
tail1=$(r soldout_h1.check tail_ms); tail2=$(r soldout_h2.check tail_ms)
drain_tail=$(calc "($tail1 > $tail2) ? $tail1 : $tail2")
everysec=$(r everysec_h2_claims rps)
tok=$(r h2_claims_tok rps); tokoff=$(r h2_claims_tokoff rps)
tok_ratio=$(calc "$tok / $tokoff")

# Fallback: claims granted per second (201s over the driver's measured
# seconds) and every answer per second; null when the phase measured nothing.
fb_cps=null fb_json=null fb_ratio=null fb_ratio_drain=null fb_notes="not measured: $fb_reason" fb_reason_json=null
[ -z "$fb_reason" ] || fb_reason_json="\"$(printf '%s' "$fb_reason" | tr -d '\042\134\n' | cut -c1-300)\""
if [ -s "$RES/fallback.json" ]; then
    fb_cps=$(calc "int($(r fallback s201) / $(r fallback seconds) + 0.5)")
    fb_ratio=$(calc "$fb_cps / $h2")
    fb_ratio_drain=$(calc "$fb_cps / $(r drain rows_per_s)")
    fb_json=$(printf '{"rps":%s,"s201":%s,"s201_per_s":%s,"p50_ms":%s,"p99_ms":%s,"merge_ms":%s,"grants_metric":%s,"requests":%s,"seconds":%s,"s409":%s,"s429":%s,"s5xx":%s,"errors":%s,"conns":%s,"streams":%s,"grant_after_ms":%s,"redis_start_ms":%s,"fast_ms":%s,"merges_metric":%s,"lock_lost_metric":%s,"path_at_end":"%s","event_path_at_end":"%s","books_agree":%s,"vs_h2_claims":%s,"vs_drain_rows":%s}' \
        "$(r fallback rps)" "$(r fallback s201)" "$fb_cps" "$(r fallback p50_ms)" "$(r fallback p99_ms)" "$(nn "$fb_merge_ms")" \
        "$(nn "$fb_grants")" "$(r fallback requests)" "$(r fallback seconds)" "$(r fallback s409)" "$(r fallback s429)" \
        "$(r fallback s5xx)" "$(r fallback errors)" "$FB_CONNS" "$FB_STREAMS" "$(nn "$fb_grant_after_ms")" \
        "$(nn "$fb_redis_start_ms")" "$(nn "$fb_fast_ms")" "$(nn "$fb_merges")" "$(nn "$fb_lock_lost")" "$fb_path_after" "$fb_event_path" "$(r fallback.check agree)" "$fb_ratio" "$fb_ratio_drain")
    fb_notes="answers $(r fallback rps)/s ($(r fallback requests) req, errors $(r fallback errors)); grants metric $(nn "$fb_grants"); merge $(nn "$fb_merge_ms") ms (fast after $(nn "$fb_fast_ms") ms, merges $(nn "$fb_merges")); books 201 $(r fallback.check s201) / redis $(r fallback.check admin_redis_granted) / db $(r fallback.check db_confirmed_rows) / pending $(r fallback.check pending); $fb_ratio x h2 claims; $(cpu fallback)"
fi

cat >"$OUT_DIR/latest.json.tmp" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "bench_seconds": $SECS,
  "gw_threads": $GW_THREADS,
  "workers": $WORKERS,
  "cores": $(nproc),
  "ok_h1_per_s": $ok_h1,
  "ok_h1_p99_ms": $(r ok_h1 p99_ms),
  "ok_h2_per_s": $ok_h2,
  "ok_h2_driver_per_s": $(r ok_h2_driver rps),
  "redis_ceiling_claims_per_s": $redis_ceiling,
  "redis_ceiling_usec_per_call": $(c redis_ceiling evalsha_usec_per_call),
  "redis_batch32_claims_per_s": $(calc "32 * $(r redis_batch32 rps)"),
  "redis_batch32_usec_per_call": $(c redis_batch32 evalsha_usec_per_call),
  "reference_ceiling_claims_per_s": $ref_ceiling,
  "reference_ceiling_usec_per_call": $(c reference_ceiling evalsha_usec_per_call),
  "h1_claims_per_s": $h1,
  "h1_claims_p50_ms": $(r h1_claims p50_ms),
  "h1_claims_p99_ms": $(r h1_claims p99_ms),
  "h1_claims_non2xx": $(r h1_claims non2xx3xx),
  "h1_claims_redis_cpu_pct": $(c h1_claims redis_cpu_pct),
  "h1_claims_gw_cpu_pct": $(c h1_claims gw_cpu_pct),
  "h1_claims_per_evalsha": $(calc "$(r h1_claims requests) / $(c h1_claims evalsha_calls)"),
  "tls_h1_claims_per_s": $tls,
  "tls_h1_claims_p50_ms": $(r tls_h1_claims p50_ms),
  "tls_h1_claims_p99_ms": $(r tls_h1_claims p99_ms),
  "tls_h1_claims_non2xx": $(r tls_h1_claims non2xx3xx),
  "h2_claims_per_s": $h2,
  "h2_claims_p50_ms": $(r h2_claims p50_ms),
  "h2_claims_p99_ms": $(r h2_claims p99_ms),
  "h2_claims_non2xx": $(calc "$(r h2_claims requests) - $(r h2_claims s2xx)"),
  "h2_claims_redis_cpu_pct": $(c h2_claims redis_cpu_pct),
  "h2_claims_gw_cpu_pct": $(c h2_claims gw_cpu_pct),
  "h2_claims_evalsha_usec_per_call": $(c h2_claims evalsha_usec_per_call),
  "h2_claims_per_evalsha": $(calc "$(r h2_claims requests) / $(c h2_claims evalsha_calls)"),
  "token_users": $TOKEN_USERS,
  "h2_claims_token_off_per_s": $tokoff,
  "h2_claims_token_off_p50_ms": $(r h2_claims_tokoff p50_ms),
  "h2_claims_token_off_p99_ms": $(r h2_claims_tokoff p99_ms),
  "h2_claims_token_off_gw_cpu_pct": $(c h2_claims_tokoff gw_cpu_pct),
  "h2_claims_token_per_s": $tok,
  "h2_claims_token_p50_ms": $(r h2_claims_tok p50_ms),
  "h2_claims_token_p99_ms": $(r h2_claims_tok p99_ms),
  "h2_claims_token_non2xx": $(calc "$(r h2_claims_tok requests) - $(r h2_claims_tok s2xx)"),
  "h2_claims_token_gw_cpu_pct": $(c h2_claims_tok gw_cpu_pct),
  "token_verified_vs_off": $tok_ratio,
  "soldout_granted": $so_granted,
  "soldout_h2_granted": $so_granted2,
  "soldout_db_confirmed": $(r soldout_h1.check db_confirmed),
  "soldout_h2_db_confirmed": $(r soldout_h2.check db_confirmed),
  "soldout_h1_requests": $(r soldout_h1 requests),
  "soldout_h1_per_s": $so_h1,
  "soldout_h1_p99_ms": $(r soldout_h1 p99_ms),
  "soldout_h1_redis_cpu_pct": $(c soldout_h1 redis_cpu_pct),
  "soldout_h2_requests": $(r soldout_h2 requests),
  "soldout_h2_per_s": $so_h2,
  "soldout_h2_p99_ms": $(r soldout_h2 p99_ms),
  "soldout_h2_redis_cpu_pct": $(c soldout_h2 redis_cpu_pct),
  "drain_rows": $(r drain rows),
  "drain_rows_per_s": $(r drain rows_per_s),
  "drain_tail_ms": $drain_tail,
  "redis_us_per_granted_claim": $redis_us_per_granted,
  "always_claims_per_s": $(r always_h2_claims rps),
  "everysec_claims_per_s": $everysec,
  "always_redis_ceiling_per_s": $(r always_redis_ceiling rps),
  "everysec_redis_ceiling_per_s": $(r everysec_redis_ceiling rps),
  "fallback_claims_per_s": $fb_cps,
  "fallback": $fb_json,
  "fallback_not_measured": $fb_reason_json,
$(live_json_fields)
$(boards_json_fields)
$(cluster_json_fields)
  "phases_cpu": {
$(for f in "$RES"/*.cpu; do printf '    "%s": %s,\n' "$(basename "$f" .cpu)" "$(cat "$f")"; done | sed '$ s/,$//')
  }
}
EOF
mv "$OUT_DIR/latest.json.tmp" "$OUT_DIR/latest.json"

row() { printf '| %-44s | %12s | %9s | %9s | %s\n' "$@"; }
echo
row "load" "per s" "p50 ms" "p99 ms" "notes"
row "--------------------------------------------" "------------" "---------" "---------" "-----"
row "ceiling: GET /healthz HTTP/1.1 wrk 64c" "$ok_h1" "$(r ok_h1 p50_ms)" "$(r ok_h1 p99_ms)" "$(cpu ok_h1)"
row "ceiling: GET /healthz HTTP/2 h2load 16x32" "$ok_h2" "" "" "$(cpu ok_h2)"
row "  same with tk-h2bench (driver cost)" "$(r ok_h2_driver rps)" "$(r ok_h2_driver p50_ms)" "$(r ok_h2_driver p99_ms)" "$(cpu ok_h2_driver)"
row "ceiling: redis-benchmark claim.lua -P16" "$redis_ceiling" "" "" "$(c redis_ceiling evalsha_usec_per_call) us/call; $(cpu redis_ceiling)"
row "  claim.lua, 32 claims per call (info)" "$(calc "32 * $(r redis_batch32 rps)")" "" "" "$(c redis_batch32 evalsha_usec_per_call) us/call; $(cpu redis_batch32)"
row "reference: redis-benchmark reference.lua" "$ref_ceiling" "" "" "$(c reference_ceiling evalsha_usec_per_call) us/call; $(cpu reference_ceiling)"
row "claims HTTP/1.1 wrk 64c" "$h1" "$(r h1_claims p50_ms)" "$(r h1_claims p99_ms)" "non2xx $(r h1_claims non2xx3xx); $(c h1_claims evalsha_usec_per_call) us/call, $(calc "$(r h1_claims requests) / $(c h1_claims evalsha_calls)") claims/call; $(cpu h1_claims)"
row "claims HTTPS/1.1 wrk 64c" "$tls" "$(r tls_h1_claims p50_ms)" "$(r tls_h1_claims p99_ms)" "non2xx $(r tls_h1_claims non2xx3xx); $(cpu tls_h1_claims)"
row "claims HTTP/2 tk-h2bench 16x32" "$h2" "$(r h2_claims p50_ms)" "$(r h2_claims p99_ms)" "2xx $(r h2_claims s2xx)/$(r h2_claims requests); $(c h2_claims evalsha_usec_per_call) us/call, $(calc "$(r h2_claims requests) / $(c h2_claims evalsha_calls)") claims/call; $(cpu h2_claims)"
row "claims HTTP/2 + user tokens, USER_AUTH=off" "$tokoff" "$(r h2_claims_tokoff p50_ms)" "$(r h2_claims_tokoff p99_ms)" "2xx $(r h2_claims_tokoff s2xx)/$(r h2_claims_tokoff requests) ($(r h2_claims_tokoff users) users, wrapped $(r h2_claims_tokoff wrapped)); $(cpu h2_claims_tokoff)"
row "claims HTTP/2 + user tokens verified" "$tok" "$(r h2_claims_tok p50_ms)" "$(r h2_claims_tok p99_ms)" "$tok_ratio x off; 2xx $(r h2_claims_tok s2xx)/$(r h2_claims_tok requests) (wrapped $(r h2_claims_tok wrapped)); $(cpu h2_claims_tok)"
row "sold-out storm HTTP/1.1 wrk 64c" "$so_h1" "$(r soldout_h1 p50_ms)" "$(r soldout_h1 p99_ms)" "$(r soldout_h1 requests) req; granted redis $so_granted / admin $(r soldout_h1.check admin_granted) / db $(r soldout_h1.check db_confirmed); $(cpu soldout_h1)"
row "sold-out storm HTTP/2 tk-h2bench 16x32" "$so_h2" "$(r soldout_h2 p50_ms)" "$(r soldout_h2 p99_ms)" "$(r soldout_h2 requests) req; granted redis $so_granted2 / admin $(r soldout_h2.check admin_granted) / db $(r soldout_h2.check db_confirmed); $(cpu soldout_h2)"
row "drain into MariaDB ($WORKERS workers)" "$(r drain rows_per_s)" "" "" "$(r drain rows) rows in $(r drain seconds)s; storm tail ${tail1} / ${tail2} ms; cpu% db $(c drain db_cpu_pct) workers $(c drain workers_cpu_pct) redis $(c drain redis_cpu_pct) all $(c drain machine_cpu_pct)"
row "durability: HTTP/2 claims everysec" "$everysec" "$(r everysec_h2_claims p50_ms)" "$(r everysec_h2_claims p99_ms)" "always: $(r always_h2_claims rps) (p99 $(r always_h2_claims p99_ms)); $(cpu everysec_h2_claims)"
row "durability: redis-benchmark everysec" "$(r everysec_redis_ceiling rps)" "" "" "always: $(r always_redis_ceiling rps); $(cpu everysec_redis_ceiling)"
row "fallback (Redis down) h2 ${FB_CONNS}x${FB_STREAMS}, 201/s" "$fb_cps" "$(r fallback p50_ms)" "$(r fallback p99_ms)" "$fb_notes"
if [ "${BENCH_PHASES:-all}" != core ]; then # phases 7-9 ran
    live_rows
    boards_rows
    cluster_rows
fi
echo
[ "${BENCH_PHASES:-all}" = core ] || cluster_notes
echo

bar() { # NAME VALUE OP LIMIT TEXT
    local verdict
    if [ "$2" = null ] || [ -z "$2" ]; then
        verdict=MISS
    elif awk "BEGIN { exit !($2 $3 $4) }"; then
        verdict=PASS
    else
        verdict=MISS
    fi
    printf '  %-4s %-52s %s\n' "$verdict" "$1" "$5"
}
echo "bars (ratios from this run):"
x=$(calc "$h2 / $redis_ceiling")
bar "HTTP/2 claims/s >= 1.0 x Redis ceiling" "$x" '>=' 1.0 "$x = $h2 / $redis_ceiling"
x=$(calc "$h2 / $ref_ceiling")
bar "HTTP/2 claims/s >= 1.5 x reference ceiling" "$x" '>=' 1.5 "$x = $h2 / $ref_ceiling"
x=$(calc "$so_h1 / $ok_h1")
bar "sold-out HTTP/1.1 >= 0.7 x /healthz HTTP/1.1" "$x" '>=' 0.7 "$x = $so_h1 / $ok_h1"
x=$(calc "$so_h2 / $ok_h2")
bar "sold-out HTTP/2 >= 0.7 x /healthz HTTP/2" "$x" '>=' 0.7 "$x = $so_h2 / $ok_h2 (h2load; own driver did $(r ok_h2_driver rps))"
x=$(calc "$(r h1_claims rps) / $ok_h1")
bar "HTTP/1.1 claims >= 0.5 x /healthz HTTP/1.1" "$x" '>=' 0.5 "$x = $(r h1_claims rps) / $ok_h1"
x=$(r h1_claims p99_ms)
bar "p99 HTTP/1.1 claims 64 conns <= 10 ms" "$x" '<=' 10 "$x ms"
x=$(r drain rows_per_s)
bar "drain >= 80,000 rows/s" "$x" '>=' 80000 "$x rows/s"
# 0.7 x the 17 us issue 16 measured (61b2b75; claim script only, HTTP/1.1)
bar "Redis CPU per granted claim <= 11.9 us" "$redis_us_per_granted" '<=' 11.9 "$redis_us_per_granted us (claim + confirm, loads of 2 and 2b and the drain)"
bar "last confirmed <= 1 s after the last grant" "$drain_tail" '<=' 1000 "$drain_tail ms"
x=$(( so_granted == 1000 && so_granted2 == 1000 ))
bar "sold-out: exactly 1,000 granted (each storm)" "$x" '==' 1 "redis $so_granted, $so_granted2; db $(r soldout_h1.check db_confirmed), $(r soldout_h2.check db_confirmed)"
x=$(r fallback.check agree)
bar "fallback: books agree (201s = grants = Redis = MariaDB)" "$x" '==' 1 "$([ -s "$RES/fallback.check.json" ] && cat "$RES/fallback.check.json" || echo "not measured")"
if [ "${BENCH_PHASES:-all}" != core ]; then
    live_bars
    boards_bars
fi
for n in h1_claims tls_h1_claims h2_claims h2_claims_tokoff h2_claims_tok always_h2_claims everysec_h2_claims; do
    [[ "$(st "$n")" =~ ^(201=[0-9]+)?$ ]] || tk_warn "$n: answers other than 201: $(st "$n")"
done
[ ! -s "$RES/fallback.json" ] || [[ "$(st fallback)" =~ ^(201=[0-9]+)?$ ]] || tk_warn "fallback: answers other than 201: $(st fallback)"
for n in soldout_h1 soldout_h2; do
    [[ "$(st "$n")" =~ ^(201=[0-9]+ ?)?(409=[0-9]+)?$ ]] || tk_warn "$n: answers other than 201/409: $(st "$n")"
done
for n in soldout_h1 soldout_h2; do
    [ "$(r "$n" requests | cut -d. -f1)" -ge "$STORM_REQUESTS" ] 2>/dev/null ||
        tk_warn "$n: only $(r "$n" requests) requests (< $STORM_REQUESTS); raise BENCH_SECONDS"
done
echo
tk_say "wrote $OUT_DIR/latest.json"
