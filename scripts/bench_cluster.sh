# bench_cluster.sh: the benchmark's Redis Cluster phase (issue 15 item 8),
# sourced by scripts/bench.sh (phase 9/9, or alone with
# BENCH_PHASES=cluster). Never run by itself: it uses bench.sh's temporary
# world (its directory, ACL users and passwords, MariaDB) and helpers
# (admin, phase_begin/_end, gateway_up, calc, jget, nn, ms_now, tk_*).
#
# The clusters are scripts/cluster.sh's, run as a command (start, stop) with
# CLUSTER_MASTERS and CLUSTER_PORT: the same nodes, configuration
# (cluster-node-timeout 3000, appendfsync always) and waits as
# `CLUSTER=1 make run`, on free loopback ports, under bench.sh's directory
# (its ACL file, so the same passwords). Each cluster has a MariaDB database
# of its own (tkc1, tkc3: services.sh start-db and migrate.sh with DB_NAME,
# on bench.sh's MariaDB): a gateway rebuilds in Redis, at its start, every
# event MariaDB has and Redis lacks, which with the one database would put
# the earlier phases' events (millions of claims in a full run) and the
# other shape's into the cluster. One gateway of its own per measurement
# (REDIS_CLUSTER = every node, DB_NAME = that database; FALLBACK_GRANTS=0,
# so that no claim is ever granted from MariaDB here and the failover's
# first 201 is the promoted replica's; otherwise bench.sh's settings),
# driven directly, as the other phases drive theirs; no workers run (as in
# phase 2).
#
#   cl_ok_h1, cl_ok_h2   GET /healthz on the cluster gateway (wrk 64 conns,
#                        tk-h2bench 16 x 32): this run's ceiling
#   cl_sS_many_h2/_h1    claims, a new user each, spread over
#                        BENCH_CLUSTER_EVENTS (48) events m-u1.. (so over
#                        slots and, with 3 shards, masters), HTTP/2 16 x 32
#                        (tk-h2bench -U) and HTTP/1.1 64 conns (wrk.lua's
#                        path template); S = 1 (one master + its replica)
#                        and 3 (3 masters + 3 replicas)
#   cl_sS_hot_h2/_h1     the same on one event (hot): one slot, one master
#   cl_s3w_many_h2/_hot_h2  3 shards again, the gateway started with
#                        REDIS_WAIT_REPLICAS=1 (WAIT 1 after a claim batch
#                        with grants): its cost against cl_s3_*_h2
#   cl_failover          3 shards, a moderate load on hot (tk-h2bench
#                        BENCH_CLUSTER_FO_CONNS x _STREAMS, 2 x 4), then
#                        kill -9 of the master owning hot's slot; a probe
#                        claim every 50 ms until the first 201 on hot:
#                        ms from the kill (and ms until the replica says
#                        role master), at most BENCH_CLUSTER_FO_WAIT (60) s
# For each claim load, besides bench.sh's per-phase CPU (whose redis_cpu_pct
# sums every node of the cluster, replicas too): the granted claims (201s,
# the gateway's /metrics), and the masters' own CPU (used_cpu_sys +
# used_cpu_user of INFO cpu, before and after) divided by them: Redis CPU
# per granted claim; and the deltas of the gateway's tk_redis_waits_total
# and tk_redis_wait_timeouts_total (null from a gateway without them).
# shellcheck shell=bash

CL_EVENTS=${BENCH_CLUSTER_EVENTS:-48}
CL_FO_CONNS=${BENCH_CLUSTER_FO_CONNS:-2}
CL_FO_STREAMS=${BENCH_CLUSTER_FO_STREAMS:-4}
CL_FO_WAIT=${BENCH_CLUSTER_FO_WAIT:-60}
CL_FO_LEAD=2  # s of load before the kill
CL_FO_LOAD=20 # s the failover's load lasts (it goes on past the first 201)

[[ "$CL_EVENTS" =~ ^[0-9]+$ ]] && [ "$CL_EVENTS" -ge 2 ] && [ "$CL_EVENTS" -le 1000 ] || tk_die "BENCH_CLUSTER_EVENTS=$CL_EVENTS: expected 2..1000"
[[ "$CL_FO_CONNS" =~ ^[0-9]+$ ]] && [ "$CL_FO_CONNS" -ge 1 ] && [ "$CL_FO_CONNS" -le 64 ] || tk_die "BENCH_CLUSTER_FO_CONNS=$CL_FO_CONNS: expected 1..64"
[[ "$CL_FO_STREAMS" =~ ^[0-9]+$ ]] && [ "$CL_FO_STREAMS" -ge 1 ] && [ "$CL_FO_STREAMS" -le 64 ] || tk_die "BENCH_CLUSTER_FO_STREAMS=$CL_FO_STREAMS: expected 1..64"
[[ "$CL_FO_WAIT" =~ ^[0-9]+$ ]] && [ "$CL_FO_WAIT" -ge 10 ] && [ "$CL_FO_WAIT" -le 300 ] || tk_die "BENCH_CLUSTER_FO_WAIT=$CL_FO_WAIT: expected 10..300"

CL_PORT=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT" "$PORT2" "$HTTP_PORT2" "$LIVE_PORT" "$LIVE_HTTP") || tk_die "no free port"
CL_HTTP=$(tk_free_port 20000 29999 "$REDIS_PORT" "$DB_PORT" "$PORT" "$HTTP_PORT" "$PORT2" "$HTTP_PORT2" "$LIVE_PORT" "$LIVE_HTTP" "$CL_PORT") || tk_die "no free port"

cl_reason=""      # why the phase measured nothing (empty when it did)
cl_up=0           # a cluster of cluster.sh runs (cl_shards masters from cl_base)
cl_shards=0
cl_base=""
cl_nodes=()
cl_seeds=""       # REDIS_CLUSTER for the gateway
cl_gw_pid=""
cl_gw_wait=0      # the REDIS_WAIT_REPLICAS cl_gw_pid runs with
cl_db=""          # the cluster's MariaDB database
cl_main_gw=""     # bench.sh's gateway while gw_pid names the cluster's (a load)
cl_main_http=""
cl_fo_pid=""      # the failover's background load
cl_node_timeout=""
cl_pw=""

# ---- the cluster -------------------------------------------------------------

# cl_pick_base N: a port B with B..B+N-1 and their bus ports (+10000) free
# and none of bench.sh's ports; 100 tries at most. The bus ports stay below
# the kernel's ephemeral range (ip_local_port_range, 32768 by default): a
# client socket of the loads took one between the check and the start.
cl_pick_base() {
    local n=$1 b i k ok lo span
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
    span=$((lo - 10000 - n - 20000))
    [ "$span" -ge 100 ] || span=9990
    for ((i = 0; i < 100; i++)); do
        b=$((20000 + (RANDOM * 32768 + RANDOM) % span))
        ok=1
        for ((k = 0; k < n; k++)); do
            case " $REDIS_PORT $DB_PORT $PORT $HTTP_PORT $PORT2 $HTTP_PORT2 $LIVE_PORT $LIVE_HTTP $CL_PORT $CL_HTTP " in
                *" $((b + k)) "*) ok=0 ;;
            esac
            [ "$ok" = 1 ] && ! tk_port_in_use $((b + k)) && ! tk_port_in_use $((b + k + 10000)) || { ok=0; break; }
        done
        [ "$ok" = 1 ] && { echo "$b"; return 0; }
    done
    return 1
}

# redis-cli on a node as tk-test (bench.sh's REDIS_ACL_TEST_USER=1 puts it
# in the ACL file cluster.sh's nodes load), bounded, the password in the
# environment.
cl_cli() { # PORT ARGS...
    local port=$1
    shift
    [ -n "$cl_pw" ] || cl_pw=$(tk_read_secret "$DIR/secrets/redis_test") || return 1
    REDISCLI_AUTH=$cl_pw timeout 5 redis-cli --no-auth-warning --user tk-test -h 127.0.0.1 -p "$port" "$@" 2>/dev/null | tr -d '\r'
}

cl_node_pid() { tk_read_pidfile "$DIR/cluster/$1/redis.pid"; }

# cl_masters: the ports of the nodes that answer and say role master.
cl_masters() {
    local p out=()
    for p in "${cl_nodes[@]}"; do
        [ "$(cl_cli "$p" role | head -1)" != master ] || out+=("$p")
    done
    echo "${out[*]}"
}

# cl_cpu PORTS...: seconds of CPU the nodes have used (used_cpu_sys +
# used_cpu_user of INFO cpu), summed.
cl_cpu() {
    local p s=0 v
    for p in "$@"; do
        v=$(cl_cli "$p" info cpu | awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" { s += $2 } END { printf "%.6f", s }')
        s=$(calc "$s + ${v:-0}")
    done
    echo "$s"
}

# cl_start SHARDS: cluster.sh start with CLUSTER_MASTERS=SHARDS on a free
# base port, three tries (a port taken between the check and the start
# fails a node; cluster.sh then stops the others); bench_redis_pids
# (bench.sh's per-phase Redis CPU) = its nodes.
cl_start() {
    local n=$(($1 * 2)) k p try
    cl_shards=$1
    for ((try = 1; try <= 3; try++)); do
        cl_base=$(cl_pick_base "$n") || { cl_reason="no free range of $n ports (and bus ports) for the cluster"; return 1; }
        cl_up=1
        CLUSTER_MASTERS=$1 CLUSTER_PORT=$cl_base REDIS_APPENDFSYNC=always "$ROOT/scripts/cluster.sh" start "$DIR" \
            </dev/null >>"$DIR/cluster-$1.log" 2>&1 && break
        tk_log_tail "$DIR/cluster-$1.log" 20 >&2
        tk_warn "cluster: scripts/cluster.sh start ($1 master(s), ports from $cl_base) failed (try $try of 3)"
        cl_stop
        [ "$try" -lt 3 ] || { cl_reason="scripts/cluster.sh start ($1 master(s)) failed three times"; return 1; }
    done
    cl_nodes=()
    cl_seeds=""
    bench_redis_pids=""
    for ((k = 0; k < n; k++)); do
        p=$((cl_base + k))
        cl_nodes+=("$p")
        cl_seeds+=${cl_seeds:+,}127.0.0.1:$p
        bench_redis_pids+=" $(cl_node_pid "$p")"
    done
    cl_node_timeout=$(cl_cli "$cl_base" config get cluster-node-timeout | sed -n 2p)
    cl_db=tkc$1
    if ! DB_NAME=$cl_db "$ROOT/scripts/services.sh" start-db "$DIR" </dev/null >>"$DIR/cluster-$1.log" 2>&1 ||
        ! DB_NAME=$cl_db "$ROOT/scripts/migrate.sh" "$DIR" </dev/null >>"$DIR/cluster-$1.log" 2>&1; then
        tk_log_tail "$DIR/cluster-$1.log" 20 >&2
        cl_reason="could not make the MariaDB database $cl_db"
        return 1
    fi
    tk_say "  cluster of $1 master(s) + $1 replica(s) on $cl_base..$((cl_base + n - 1)) (masters $(cl_masters); cluster-node-timeout ${cl_node_timeout:-?} ms)"
}

# cl_stop: stops the cluster and removes its nodes' directories (their AOF).
cl_stop() {
    local p
    [ "$cl_up" = 1 ] || return 0
    CLUSTER_MASTERS=$cl_shards CLUSTER_PORT=$cl_base "$ROOT/scripts/cluster.sh" stop "$DIR" </dev/null >>"$DIR/cluster-$cl_shards.log" 2>&1 ||
        tk_warn "cluster: stopping the $cl_shards-master cluster reported a problem"
    cl_up=0
    bench_redis_pids=""
    for ((p = cl_base; p < cl_base + cl_shards * 2; p++)); do rm -rf "${DIR:?}/cluster/$p"; done
    cl_nodes=()
}

# ---- its gateway ---------------------------------------------------------------

# cl_gw_start WAIT: the cluster's gateway, REDIS_WAIT_REPLICAS=WAIT (a
# gateway without that setting ignores it: then WAIT changes nothing).
cl_gw_start() {
    REDIS_CLUSTER=$cl_seeds DB_NAME=$cl_db REDIS_WAIT_REPLICAS=$1 USER_AUTH=off ADMIN_ON_HTTP=1 RATE_IP_PER_S=0 FALLBACK_GRANTS=0 \
        setsid "$GATEWAY" --port "$CL_PORT" --http-port "$CL_HTTP" --threads "$GW_THREADS" \
        --var-dir "$DIR" --web-root "$ROOT/web" --redis-user tk-gateway --redis-password-file "$DIR/secrets/redis_gateway" \
        </dev/null >>"$DIR/gateway-cluster.log" 2>&1 &
    cl_gw_pid=$!
    cl_gw_wait=$1
    gateway_up "$cl_gw_pid" "$CL_HTTP" "$DIR/gateway-cluster.log"
}
cl_gw_stop() {
    [ -z "$cl_gw_pid" ] || tk_stop_pid tk-gateway "$cl_gw_pid" 15 >/dev/null || tk_warn "cluster: the gateway did not stop cleanly"
    cl_gw_pid=""
}

cl_create_event() { # ID STOCK (bench.sh's admin call, aimed at this gateway)
    local i
    for ((i = 0; i < 5; i++)); do
        PORT=$CL_PORT admin POST /v1/admin/events "{\"event_id\":\"$1\",\"name\":\"bench $1\",\"stock\":$2,\"max_per_user\":1}" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

# Each shape has its own events (MariaDB keeps those of the shape before,
# and a gateway rebuilds, at its start, an event Redis does not have): the
# hot one h<S>, the many m<S>-u1..m<S>-u<N> (tk-h2bench -U N and wrk.lua
# make "u<k>" of "{u}", k in 1..N).
cl_hot=""
cl_many=""        # the many events' claim path, "{u}" in it
cl_events() { # the many events' ids
    local k
    for ((k = 1; k <= CL_EVENTS; k++)); do printf 'm%s-u%d ' "$cl_shards" "$k"; done
}

# cl_await_events: this gateway's /readyz lists every event under "paths"
# (it reads tk:events about every 2 s), at most 30 s.
cl_await_events() {
    local t0 e body missing
    t0=$(ms_now)
    while :; do
        body=$(curl -s --max-time 2 "http://127.0.0.1:$CL_HTTP/readyz" 2>/dev/null || true)
        missing=""
        for e in "$cl_hot" $(cl_events); do
            [[ "$body" == *"\"$e\":\"redis\""* ]] || { missing=$e; break; }
        done
        [ -n "$missing" ] || return 0
        [ $(($(ms_now) - t0)) -lt 30000 ] || { tk_warn "cluster: /readyz did not list event $missing within 30 s; going on"; return 0; }
        sleep 0.2
    done
}

# cl_spread: how many of the many events each master holds, e.g. "16 17 15".
cl_spread() {
    local e slot out
    out=$(for e in $(cl_events); do
        slot=$(cl_cli "$cl_base" cluster keyslot "tk:{$e}:ev")
        cl_cli "$cl_base" cluster nodes | awk -v s="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
            for (i = 9; i <= NF; i++) { n = split($i, r, "-"); if (n == 1) r[2] = r[1]; if (s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) print $2 } }'
    done | sort | uniq -c | awk '{ printf "%s%s", sep, $1; sep = " " }')
    echo "$out"
}

# cl_metric NAME: an unlabelled series of the cluster gateway's /metrics
# (empty when absent: tk_redis_waits_total on a gateway without
# REDIS_WAIT_REPLICAS).
cl_metric() {
    curl -sf --max-time 5 "http://127.0.0.1:$CL_HTTP/metrics" 2>/dev/null | awk -v m="$1" '$1 == m { print $2; exit }'
}
cl_delta() { # BEFORE AFTER: AFTER - BEFORE, null when either is empty
    [ -n "$1" ] && [ -n "$2" ] && echo $((${2%.*} - ${1%.*})) || echo null
}

# ---- a load ---------------------------------------------------------------------

# cl_load NAME KIND [PATH_TEMPLATE N]: KIND get_h1 | get_h2 (GET /healthz),
# claim_h1 | claim_h2 (POST PATH_TEMPLATE, "{u}" -> u1..uN at random; N 0:
# the path as it is). $RES/NAME.json is the driver's, $RES/NAME.cpu
# bench.sh's, $RES/NAME.cl.json the cluster's figures.
cl_load() {
    local name=$1 kind=$2 tpl=${3:-} n=${4:-0} masters c0 c1 granted dur rc=0 w0 w1 t0 t1
    read -r -a masters <<<"$(cl_masters)"
    cl_main_gw=$gw_pid cl_main_http=$gw_http
    gw_pid=$cl_gw_pid gw_http=$CL_HTTP
    c0=$(cl_cpu "${masters[@]}")
    w0=$(cl_metric tk_redis_waits_total)
    t0=$(cl_metric tk_redis_wait_timeouts_total)
    phase_begin
    case "$kind" in
        get_h1 | claim_h1)
            local wargs=(get) path=/healthz
            [ "$kind" = get_h1 ] || { wargs=(claim "$RUNID$name"); path=${tpl//\{u\}/u1}; }
            [ "$n" = 0 ] || wargs+=("$tpl" "$n")
            timeout $((SECS + 30)) wrk -t "$WRK_THREADS" -c 64 -d "${SECS}s" --timeout 5s -s "$ROOT/bench/wrk.lua" \
                "http://127.0.0.1:$CL_HTTP$path" -- "${wargs[@]}" >"$RES/$name.out" 2>&1 || rc=$?
            sed -n 's/^TKWRK //p' "$RES/$name.out" >"$RES/$name.json"
            ;;
        get_h2 | claim_h2)
            local hargs=(-X GET) path=/healthz
            [ "$kind" = get_h2 ] || { hargs=(-X POST); path=$tpl; }
            [ "$n" = 0 ] || hargs+=(-U "$n")
            timeout $((SECS + 30)) "$H2BENCH" -p "$CL_PORT" -c 16 -m 32 -d "$SECS" -n 50000000 "${hargs[@]}" "$path" \
                >"$RES/$name.json" 2>"$RES/$name.out" || rc=$?
            ;;
    esac
    phase_end "$name"
    c1=$(cl_cpu "${masters[@]}")
    w1=$(cl_metric tk_redis_waits_total)
    t1=$(cl_metric tk_redis_wait_timeouts_total)
    gw_pid=$cl_main_gw gw_http=$cl_main_http
    cl_main_gw="" cl_main_http=""
    if [ "$rc" != 0 ] || ! [ -s "$RES/$name.json" ]; then
        tk_warn "cluster: $name: the driver failed (status $rc): $(tail -c 300 "$RES/$name.out")"
        rm -f "$RES/$name.json"
        return 0
    fi
    granted=$(sed -n 's/.*"statuses":"\([^"]*\)".*/\1/p' "$RES/$name.cpu" | tr ' ' '\n' | sed -n 's/^201=//p')
    dur=$(jget "$RES/$name.json" seconds)
    printf '{"shards":%s,"masters":%s,"wait_replicas":%s,"granted":%s,"claims_per_s":%s,"masters_cpu_s":%s,"redis_cpu_us_per_claim":%s,"waits":%s,"wait_timeouts":%s}\n' \
        "$cl_shards" "${#masters[@]}" "$cl_gw_wait" "${granted:-0}" "$(calc "int(${granted:-0} / $dur + 0.5)")" \
        "$(calc "$c1 - $c0")" "$([ "${granted:-0}" -gt 0 ] && calc "($c1 - $c0) * 1e6 / $granted" || echo null)" \
        "$(cl_delta "$w0" "$w1")" "$(cl_delta "$t0" "$t1")" >"$RES/$name.cl.json"
    printf '  %-34s %s %s\n' "$name" "$(cat "$RES/$name.json")" "$(cat "$RES/$name.cl.json")"
}

# cl_claims S: the four claim loads on the running S-shard cluster.
cl_claims() {
    cl_load "cl_s$1_many_h2" claim_h2 "$cl_many" "$CL_EVENTS"
    cl_load "cl_s$1_hot_h2" claim_h2 "/v1/events/$cl_hot/claims"
    cl_load "cl_s$1_many_h1" claim_h1 "$cl_many" "$CL_EVENTS"
    cl_load "cl_s$1_hot_h1" claim_h1 "/v1/events/$cl_hot/claims"
}

# ---- failover ----------------------------------------------------------------------

# cl_failover: a moderate load on hot, kill -9 of the master owning its
# slot, the first 201 on hot again. $RES/cl_failover.json.
cl_failover() {
    local slot line mport mid rport mpid t0 tk now code first="" promoted="" i=0 codes="" fo_rc=0
    slot=$(cl_cli "$cl_base" cluster keyslot "tk:{$cl_hot}:ev")
    line=$(cl_cli "$cl_base" cluster nodes | awk -v s="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) { n = split($i, r, "-"); if (n == 1) r[2] = r[1]; if (s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) print $1, $2 } }')
    mid=${line%% *}
    mport=${line#* }
    mport=${mport#*:}
    mport=${mport%@*}
    rport=$(cl_cli "$cl_base" cluster nodes | awk -v m="$mid" '$4 == m { sub(/^[^:]*:/, "", $2); sub(/@.*/, "", $2); print $2; exit }')
    mpid=$(cl_node_pid "$mport")
    if [ -z "$mid" ] || [ -z "$rport" ] || [ -z "$mpid" ] || ! tk_proc_is "$mpid" redis-server "$DIR/cluster/$mport"; then
        tk_warn "cluster: failover not measured: could not find hot's master (slot $slot: '$line'), its replica ($rport) or its pid ($mpid)"
        return 0
    fi
    tk_say "  failover: hot is slot $slot on master $mport (pid $mpid), replica $rport; load ${CL_FO_CONNS}x${CL_FO_STREAMS}, kill -9 after ${CL_FO_LEAD} s"
    timeout $((CL_FO_LOAD + 30)) "$H2BENCH" -p "$CL_PORT" -c "$CL_FO_CONNS" -m "$CL_FO_STREAMS" -d "$CL_FO_LOAD" -n 50000000 \
        -X POST "/v1/events/$cl_hot/claims" >"$RES/cl_failover_load.json" 2>"$RES/cl_failover_load.err" &
    cl_fo_pid=$!
    sleep "$CL_FO_LEAD"
    tk_proc_running "$cl_fo_pid" || tk_warn "cluster: the failover's load ended before the kill: $(head -c 300 "$RES/cl_failover_load.err")"
    t0=$(ms_now)
    kill -KILL "$mpid"
    # One probe claim (a new user) every 50 ms, each at most 2 s, until a
    # 201, bounded by CL_FO_WAIT; the replica's role read on the way.
    while :; do
        now=$(ms_now)
        [ $((now - t0)) -lt $((CL_FO_WAIT * 1000)) ] || break
        if [ -z "$promoted" ] && [ "$(cl_cli "$rport" role | head -1)" = master ]; then promoted=$(($(ms_now) - t0)); fi
        i=$((i + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' \
            -d "{\"user_id\":\"fo-$RUNID-$i\"}" "http://127.0.0.1:$CL_HTTP/v1/events/$cl_hot/claims" 2>/dev/null || true)
        tk=$(ms_now)
        [[ " $codes " == *" ${code:-none} "* ]] || codes+="${codes:+ }${code:-none}"
        [ "$code" != 201 ] || { first=$((tk - t0)); break; }
        sleep 0.05
    done
    [ -n "$promoted" ] || [ "$(cl_cli "$rport" role | head -1)" != master ] || promoted=$(($(ms_now) - t0))
    wait "$cl_fo_pid" || fo_rc=$?
    cl_fo_pid=""
    [ "$fo_rc" = 0 ] || tk_warn "cluster: the failover's load exited with status $fo_rc: $(head -c 300 "$RES/cl_failover_load.err")"
    printf '{"node_timeout_ms":%s,"slot":%s,"killed_port":%s,"replica_port":%s,"promoted_ms":%s,"first_201_ms":%s,"probes":%s,"probe_codes":"%s","load_conns":%s,"load_streams":%s,"load":%s}\n' \
        "$(nn "$cl_node_timeout")" "$(nn "$slot")" "$mport" "$rport" "$(nn "$promoted")" "$(nn "$first")" "$i" "$codes" \
        "$CL_FO_CONNS" "$CL_FO_STREAMS" "$([ -s "$RES/cl_failover_load.json" ] && cat "$RES/cl_failover_load.json" || echo null)" >"$RES/cl_failover.json"
    say_load cl_failover "$RES/cl_failover.json"
    [ -n "$first" ] || tk_warn "cluster: no 201 on hot within ${CL_FO_WAIT} s of the kill (probe answers: $codes)"
}

# ---- the phase ----------------------------------------------------------------------

# cl_shape S: the cluster of S shards, its gateway, the events, its loads.
cl_shape() {
    local e
    cl_start "$1" || return 1
    cl_hot=h$1
    cl_many="/v1/events/m$1-{u}/claims"
    cl_gw_start 0
    for e in "$cl_hot" $(cl_events); do
        cl_create_event "$e" 100000000 || { cl_reason="could not create event $e on the $1-shard cluster"; return 1; }
    done
    cl_await_events
    [ "$1" = 1 ] || cl_spread_3=$(cl_spread)
    if [ "$1" = 3 ]; then
        cl_load cl_ok_h1 get_h1
        cl_load cl_ok_h2 get_h2
    fi
    cl_claims "$1"
    if [ "$1" = 3 ]; then
        tk_say "  REDIS_WAIT_REPLICAS=1"
        cl_gw_stop
        cl_gw_start 1
        cl_await_events
        cl_load cl_s3w_many_h2 claim_h2 "$cl_many" "$CL_EVENTS"
        cl_load cl_s3w_hot_h2 claim_h2 "/v1/events/$cl_hot/claims"
        cl_gw_stop
        cl_gw_start 0
        cl_await_events
        cl_failover
    fi
    cl_gw_stop
    cl_stop
}

cl_spread_3=""
cluster_phase() {
    tk_say "9/9 Redis Cluster: 1 shard, then 3; $CL_EVENTS events and one hot event; REDIS_WAIT_REPLICAS=1; failover ($(nproc) cores: 3 shards share them, no throughput gain can show)"
    local s
    for s in 1 3; do
        if ! cl_shape "$s"; then
            tk_warn "cluster: $s-shard shape stopped: $cl_reason"
            cl_gw_stop
            cl_stop
        fi
    done
    return 0
}

# From bench.sh's cleanup (a trap), before it stops gw_pid: what this phase
# may have left running. During a load gw_pid names the cluster's gateway
# (cl_load): bench.sh's own is put back, for cleanup to stop.
cluster_cleanup() {
    [ -z "$cl_fo_pid" ] || { kill -TERM "$cl_fo_pid" 2>/dev/null; tk_wait_exit "$cl_fo_pid" 10 || kill -KILL "$cl_fo_pid" 2>/dev/null; }
    [ -z "$cl_main_gw" ] || { gw_pid=$cl_main_gw; gw_http=$cl_main_http; }
    cl_main_gw=""
    cl_gw_stop
    cl_stop
}

# ---- report ----------------------------------------------------------------------------

clr() { local v; v=$(jget "$RES/$1.json" "$2" 2>/dev/null); nn "$v"; }
clc() { local v; v=$(jget "$RES/$1.cl.json" "$2" 2>/dev/null); nn "$v"; }
cl_ratio() { # A B: A / B, null when either is
    [ "$1" = null ] || [ "$2" = null ] && { echo null; return; }
    calc "$1 / $2"
}

cluster_json_fields() {
    local n
    for n in cl_ok_h1 cl_ok_h2; do
        printf '  "%s": %s,\n' "$n" "$([ -s "$RES/$n.json" ] && cat "$RES/$n.json" || echo null)"
    done
    for n in cl_s1_many_h2 cl_s1_hot_h2 cl_s1_many_h1 cl_s1_hot_h1 cl_s3_many_h2 cl_s3_hot_h2 cl_s3_many_h1 cl_s3_hot_h1 cl_s3w_many_h2 cl_s3w_hot_h2; do
        if [ -s "$RES/$n.json" ] && [ -s "$RES/$n.cl.json" ]; then
            printf '  "%s": {"driver":%s,"cluster":%s},\n' "$n" "$(cat "$RES/$n.json")" "$(cat "$RES/$n.cl.json")"
        else
            printf '  "%s": null,\n' "$n"
        fi
    done
    printf '  "cl_failover": %s,\n' "$([ -s "$RES/cl_failover.json" ] && cat "$RES/cl_failover.json" || echo null)"
    cat <<EOF
  "cluster_events": $CL_EVENTS,
  "cluster_events_per_master_3": "$cl_spread_3",
  "cluster_node_timeout_ms": $(nn "$cl_node_timeout"),
  "cluster_ok_h1_per_s": $(clr cl_ok_h1 rps),
  "cluster_ok_h2_per_s": $(clr cl_ok_h2 rps),
  "cluster_s1_many_h2_claims_per_s": $(clc cl_s1_many_h2 claims_per_s),
  "cluster_s3_many_h2_claims_per_s": $(clc cl_s3_many_h2 claims_per_s),
  "cluster_s1_hot_h2_claims_per_s": $(clc cl_s1_hot_h2 claims_per_s),
  "cluster_s3_hot_h2_claims_per_s": $(clc cl_s3_hot_h2 claims_per_s),
  "cluster_s1_many_h1_claims_per_s": $(clc cl_s1_many_h1 claims_per_s),
  "cluster_s3_many_h1_claims_per_s": $(clc cl_s3_many_h1 claims_per_s),
  "cluster_s1_hot_h1_claims_per_s": $(clc cl_s1_hot_h1 claims_per_s),
  "cluster_s3_hot_h1_claims_per_s": $(clc cl_s3_hot_h1 claims_per_s),
  "cluster_s1_many_h2_redis_cpu_us_per_claim": $(clc cl_s1_many_h2 redis_cpu_us_per_claim),
  "cluster_s3_many_h2_redis_cpu_us_per_claim": $(clc cl_s3_many_h2 redis_cpu_us_per_claim),
  "cluster_s1_hot_h2_redis_cpu_us_per_claim": $(clc cl_s1_hot_h2 redis_cpu_us_per_claim),
  "cluster_s3_hot_h2_redis_cpu_us_per_claim": $(clc cl_s3_hot_h2 redis_cpu_us_per_claim),
  "cluster_s3_vs_s1_many_h2": $(cl_ratio "$(clc cl_s3_many_h2 claims_per_s)" "$(clc cl_s1_many_h2 claims_per_s)"),
  "cluster_s3_vs_s1_many_h1": $(cl_ratio "$(clc cl_s3_many_h1 claims_per_s)" "$(clc cl_s1_many_h1 claims_per_s)"),
  "cluster_s3_many_h2_vs_ok_h2": $(cl_ratio "$(clc cl_s3_many_h2 claims_per_s)" "$(clr cl_ok_h2 rps)"),
  "cluster_s3_many_h1_vs_ok_h1": $(cl_ratio "$(clc cl_s3_many_h1 claims_per_s)" "$(clr cl_ok_h1 rps)"),
  "cluster_wait1_many_h2_claims_per_s": $(clc cl_s3w_many_h2 claims_per_s),
  "cluster_wait1_many_h2_p99_ms": $(clr cl_s3w_many_h2 p99_ms),
  "cluster_wait0_many_h2_p99_ms": $(clr cl_s3_many_h2 p99_ms),
  "cluster_wait1_hot_h2_claims_per_s": $(clc cl_s3w_hot_h2 claims_per_s),
  "cluster_wait1_hot_h2_p99_ms": $(clr cl_s3w_hot_h2 p99_ms),
  "cluster_wait0_hot_h2_p99_ms": $(clr cl_s3_hot_h2 p99_ms),
  "cluster_wait_timeout_ms": $(nn "${REDIS_WAIT_TIMEOUT_MS:-}"),
  "cluster_wait1_many_h2_waits": $(clc cl_s3w_many_h2 waits),
  "cluster_wait1_many_h2_wait_timeouts": $(clc cl_s3w_many_h2 wait_timeouts),
  "cluster_wait1_hot_h2_waits": $(clc cl_s3w_hot_h2 waits),
  "cluster_wait1_hot_h2_wait_timeouts": $(clc cl_s3w_hot_h2 wait_timeouts),
  "cluster_wait1_vs_wait0_many_h2": $(cl_ratio "$(clc cl_s3w_many_h2 claims_per_s)" "$(clc cl_s3_many_h2 claims_per_s)"),
  "cluster_wait1_vs_wait0_hot_h2": $(cl_ratio "$(clc cl_s3w_hot_h2 claims_per_s)" "$(clc cl_s3_hot_h2 claims_per_s)"),
  "cluster_failover_first_201_ms": $(clr cl_failover first_201_ms),
  "cluster_failover_promoted_ms": $(clr cl_failover promoted_ms),
  "cluster_not_measured": $([ -n "$cl_reason" ] && echo "\"$(printf '%s' "$cl_reason" | tr -d '\042\134\n' | cut -c1-300)\"" || echo null),
EOF
}

cl_row() { printf '| %-44s | %12s | %9s | %9s | %s\n' "$@"; }
cl_cpu_note() { # NAME
    local st
    [ -s "$RES/$1.cpu" ] || { echo "not measured"; return 0; }
    st=$(sed -n 's/.*"statuses":"\([^"]*\)".*/\1/p' "$RES/$1.cpu" 2>/dev/null)
    echo "[$st] redis $(clc "$1" redis_cpu_us_per_claim) us CPU/claim on $(clc "$1" masters) master(s); cpu% all nodes $(jget "$RES/$1.cpu" redis_cpu_pct) gw $(jget "$RES/$1.cpu" gw_cpu_pct) gen $(jget "$RES/$1.cpu" loadgen_cpu_pct) all $(jget "$RES/$1.cpu" machine_cpu_pct)/$(($(nproc) * 100))"
}
cl_claim_row() { # NAME TEXT
    cl_row "$2" "$(clc "$1" claims_per_s)" "$(clr "$1" p50_ms)" "$(clr "$1" p99_ms)" "$(cl_cpu_note "$1")"
}
cluster_rows() {
    [ -z "$cl_reason" ] || cl_row "Redis Cluster" "" "" "" "stopped early: $cl_reason"
    cl_row "cluster gw: GET /healthz HTTP/1.1 wrk 64c" "$(clr cl_ok_h1 rps)" "$(clr cl_ok_h1 p50_ms)" "$(clr cl_ok_h1 p99_ms)" "this run's ceiling"
    cl_row "cluster gw: GET /healthz HTTP/2 16x32" "$(clr cl_ok_h2 rps)" "$(clr cl_ok_h2 p50_ms)" "$(clr cl_ok_h2 p99_ms)" "tk-h2bench"
    cl_claim_row cl_s1_many_h2 "1 shard, $CL_EVENTS events, HTTP/2 16x32"
    cl_claim_row cl_s3_many_h2 "3 shards, $CL_EVENTS events, HTTP/2 16x32"
    cl_claim_row cl_s1_hot_h2 "1 shard, one event, HTTP/2 16x32"
    cl_claim_row cl_s3_hot_h2 "3 shards, one event, HTTP/2 16x32"
    cl_claim_row cl_s1_many_h1 "1 shard, $CL_EVENTS events, HTTP/1.1 64c"
    cl_claim_row cl_s3_many_h1 "3 shards, $CL_EVENTS events, HTTP/1.1 64c"
    cl_claim_row cl_s1_hot_h1 "1 shard, one event, HTTP/1.1 64c"
    cl_claim_row cl_s3_hot_h1 "3 shards, one event, HTTP/1.1 64c"
    cl_claim_row cl_s3w_many_h2 "3 shards WAIT 1, $CL_EVENTS events, HTTP/2"
    cl_row "  WAITs sent (timed out)" "$(clc cl_s3w_many_h2 waits)" "" "" "($(clc cl_s3w_many_h2 wait_timeouts)); null would mean a gateway without REDIS_WAIT_REPLICAS"
    cl_claim_row cl_s3w_hot_h2 "3 shards WAIT 1, one event, HTTP/2"
    cl_row "  WAITs sent (timed out)" "$(clc cl_s3w_hot_h2 waits)" "" "" "($(clc cl_s3w_hot_h2 wait_timeouts)); REDIS_WAIT_TIMEOUT_MS ${REDIS_WAIT_TIMEOUT_MS:-default}"
    cl_row "failover: kill -9 -> first 201 (ms)" "$(clr cl_failover first_201_ms)" "" "" "cluster-node-timeout $(nn "$cl_node_timeout") ms; replica master after $(clr cl_failover promoted_ms) ms; probes $(clr cl_failover probes) ($(sed -n 's/.*"probe_codes":"\([^"]*\)".*/\1/p' "$RES/cl_failover.json" 2>/dev/null)); load ${CL_FO_CONNS}x${CL_FO_STREAMS}"
}
cluster_notes() {
    echo "Redis Cluster (phase 9): ratios from this run"
    echo "  3 / 1 shard, $CL_EVENTS events: HTTP/2 $(cl_ratio "$(clc cl_s3_many_h2 claims_per_s)" "$(clc cl_s1_many_h2 claims_per_s)"), HTTP/1.1 $(cl_ratio "$(clc cl_s3_many_h1 claims_per_s)" "$(clc cl_s1_many_h1 claims_per_s)") (events per master: ${cl_spread_3:-?})"
    echo "  3 shards, $CL_EVENTS events / cluster gw /healthz: HTTP/2 $(cl_ratio "$(clc cl_s3_many_h2 claims_per_s)" "$(clr cl_ok_h2 rps)"), HTTP/1.1 $(cl_ratio "$(clc cl_s3_many_h1 claims_per_s)" "$(clr cl_ok_h1 rps)")"
    echo "  REDIS_WAIT_REPLICAS=1 / 0 (3 shards, HTTP/2): $CL_EVENTS events $(cl_ratio "$(clc cl_s3w_many_h2 claims_per_s)" "$(clc cl_s3_many_h2 claims_per_s)") (p99 $(clr cl_s3w_many_h2 p99_ms) vs $(clr cl_s3_many_h2 p99_ms) ms), one event $(cl_ratio "$(clc cl_s3w_hot_h2 claims_per_s)" "$(clc cl_s3_hot_h2 claims_per_s)") (p99 $(clr cl_s3w_hot_h2 p99_ms) vs $(clr cl_s3_hot_h2 p99_ms) ms); WAITs sent $(clc cl_s3w_many_h2 waits), $(clc cl_s3w_hot_h2 waits) (null or 0: the gateway has no REDIS_WAIT_REPLICAS, and the two figures measure the same code)"
    echo "  this machine has $(nproc) core(s): 3 shards, their replicas, the gateway and the driver share them, so 3 shards cannot show a throughput gain here; Redis CPU per claim is the figure that carries over"
}

cluster_report_alone() {
    cat >"$OUT_DIR/latest-cluster.json.tmp" <<EOF2
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "phases": "cluster",
  "bench_seconds": $SECS,
  "gw_threads": $GW_THREADS,
  "cores": $(nproc),
$(cluster_json_fields)
  "phases_cpu": {
$(for f in "$RES"/cl_*.cpu; do [ -s "$f" ] && printf '    "%s": %s,\n' "$(basename "$f" .cpu)" "$(cat "$f")"; done | sed '$ s/,$//')
  }
}
EOF2
    mv "$OUT_DIR/latest-cluster.json.tmp" "$OUT_DIR/latest-cluster.json"
    echo
    cl_row "load" "claims/s" "p50 ms" "p99 ms" "notes"
    cl_row "--------------------------------------------" "------------" "---------" "---------" "-----"
    cluster_rows
    echo
    cluster_notes
    echo
    tk_say "wrote $OUT_DIR/latest-cluster.json"
}
