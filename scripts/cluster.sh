#!/usr/bin/env bash
# cluster.sh: a Redis Cluster of 3 masters and 3 replicas on loopback, under
# one directory, without systemd -- what `CLUSTER=1 make run` uses instead of
# services.sh's single Redis (docs/DEPLOY.md, "Trying it on one machine").
#
# Usage: scripts/cluster.sh {start|stop|status} DIR
# Environment: CLUSTER_PORT (7001: the nodes listen on CLUSTER_PORT ..
# CLUSTER_PORT+5, their cluster bus 10000 above each), CLUSTER_MASTERS (3;
# 1 makes a one-shard cluster of two nodes, a master and its replica, which
# the benchmark compares with 3: start, stop and status must be given the
# same value), REDIS_APPENDFSYNC (always | everysec), REDIS_ACL_TEST_USER
# (passed on to services.sh).
#
# Layout of DIR: cluster/<port>/ for each node (redis.conf, nodes.conf, the
# AOF, redis.pid, redis.log), cluster/create.log (the creation's output);
# the ACL file is services.sh's (DIR/redis/users.acl, written by
# `services.sh write-acl` with REDIS_ACL_CLUSTER_USER=1): the same users and
# passwords as the single Redis, plus tk-cluster, the user replicas
# authenticate to their master as (masteruser/masterauth) and this script
# and `redis-cli --cluster create` run as. Its password is in
# secrets/redis_cluster; the nodes' redis.conf holds it too (masterauth), so
# that file is 0600 in a 0700 directory, like everything here (umask 077).
#
# The first start creates the cluster (redis-cli --cluster create, one
# replica per master; with CLUSTER_MASTERS=1, which redis-cli refuses -- it
# wants 3 masters -- by hand: every slot to the first node, CLUSTER MEET and
# CLUSTER REPLICATE for the second); a later one finds the nodes' nodes.conf and only
# starts them: the cluster comes back with its data (AOF, appendonly yes).
# start waits, bounded, until every node answers and says cluster_state:ok
# and every replica's link to its master is up. Each node runs in its own
# session (setsid), so a Ctrl-C meant for `make run` does not reach it; stop
# sends SIGTERM to every node by its pid file, then waits (bounded).
set -euo pipefail
umask 077

TK_PROG=cluster.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SERVICES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services.sh

usage() {
    echo "usage: scripts/cluster.sh {start|stop|status} DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
DIR=$(tk_abspath "$2")
[[ "$DIR" != *[\"\\$'\n']* ]] || tk_die "DIR must not contain quotes, backslashes or newlines: $DIR"

CLUSTER_PORT=${CLUSTER_PORT:-7001}
CLUSTER_MASTERS=${CLUSTER_MASTERS:-3}
REDIS_APPENDFSYNC=${REDIS_APPENDFSYNC:-always}
tk_check_port CLUSTER_PORT "$CLUSTER_PORT"
# The last node's bus port (+10000) must be a port too.
[ "$((10#$CLUSTER_PORT))" -le 55530 ] || tk_die "CLUSTER_PORT=$CLUSTER_PORT: at most 55530 (six ports, each with its bus port 10000 above)"
case "$CLUSTER_MASTERS" in
    1 | 3) ;;
    *) tk_die "CLUSTER_MASTERS=$CLUSTER_MASTERS: expected 1 or 3" ;;
esac
case "$REDIS_APPENDFSYNC" in
    always | everysec) ;;
    *) tk_die "REDIS_APPENDFSYNC=$REDIS_APPENDFSYNC: expected always or everysec" ;;
esac

CDIR=$DIR/cluster
REDIS_ACL=$DIR/redis/users.acl
NODES=$((CLUSTER_MASTERS * 2))
PORTS=()
for ((i = 0; i < NODES; i++)); do PORTS+=($((10#$CLUSTER_PORT + i))); done
START_SECS=60 # AOF replay can take a while
OK_SECS=30    # cluster_state:ok and the replicas' links, once every node answers
STOP_SECS=60

need() {
    command -v "$1" >/dev/null 2>&1 || tk_die "$1 not found; run scripts/deps.sh (as root) to install it"
}

# One cluster.sh at a time per DIR; the nodes must not inherit the lock (9>&-).
lock() {
    mkdir -p "$CDIR"
    chmod 0700 "$CDIR"
    exec 9>"$CDIR/.cluster.lock"
    flock -w 120 9 || tk_die "another cluster.sh is busy with $DIR (waited 120s)"
}

node_dir() { echo "$CDIR/$1"; }

node_pid() { # PORT: the node's pid, if its pid file names a redis-server running in its directory
    local d pid
    d=$(node_dir "$1")
    pid=$(tk_read_pidfile "$d/redis.pid")
    [ -n "$pid" ] && tk_proc_is "$pid" redis-server "$d" && echo "$pid"
    return 0
}

# redis-cli as tk-cluster, its password in the environment (never in ps).
CLUSTER_PW=""
cli_pw() {
    [ -n "$CLUSTER_PW" ] || CLUSTER_PW=$(tk_read_secret "$DIR/secrets/redis_cluster") ||
        tk_die "cannot read $DIR/secrets/redis_cluster"
}
cli() { # PORT ARGS...: bounded
    local port=$1
    shift
    REDISCLI_AUTH=$CLUSTER_PW timeout 5 redis-cli --no-auth-warning --user tk-cluster -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# PONG only once the data is loaded (LOADING before).
node_ping() { [ "$(cli "$1" ping)" = PONG ]; }

info_field() { # PORT SECTION FIELD: one field of INFO SECTION (or CLUSTER INFO when SECTION is "cluster-info")
    local out
    if [ "$2" = cluster-info ]; then out=$(cli "$1" cluster info) || return 1; else out=$(cli "$1" info "$2") || return 1; fi
    printf '%s\n' "$out" | tr -d '\r' | sed -n "s/^$3://p"
}

write_node_conf() { # PORT PASSWORD
    local d pw
    d=$(node_dir "$1")
    pw=${2//\\/\\\\}
    pw=${pw//\"/\\\"}
    cat >"$d/redis.conf.tmp" <<EOF
# Written by scripts/cluster.sh on every start; edits are lost. 0600: it
# holds tk-cluster's password (masterauth).
port $1
bind 127.0.0.1
protected-mode yes
daemonize no
dir "$d"
pidfile "$d/redis.pid"
logfile "$d/redis.log"
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 3000
appendonly yes
appendfsync $REDIS_APPENDFSYNC
save ""
aclfile "$REDIS_ACL"
masteruser tk-cluster
masterauth "$pw"
EOF
    chmod 0600 "$d/redis.conf.tmp"
    mv -f "$d/redis.conf.tmp" "$d/redis.conf"
}

# Stops the nodes whose pid files name a live node: SIGTERM to all, then a
# bounded wait for each (all at once: a master stopped long before its
# replica would make the replica try a failover).
stop_nodes() {
    local port pid rc=0 stopped=()
    for port in "${PORTS[@]}"; do
        pid=$(node_pid "$port")
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            stopped+=("$port:$pid")
        else
            rm -f "$(node_dir "$port")/redis.pid"
        fi
    done
    for port in "${stopped[@]}"; do
        tk_stop_pid "redis-server (cluster node ${port%%:*})" "${port#*:}" "$STOP_SECS" || rc=1
        rm -f "$(node_dir "${port%%:*}")/redis.pid"
    done
    if [ ${#stopped[@]} -eq 0 ]; then
        tk_say "cluster not running"
    else
        tk_say "cluster stopped (${#stopped[@]} node(s): ${stopped[*]})"
    fi
    return "$rc"
}

# fail MESSAGE: stops the nodes this start left running, then dies: the
# caller never sees a half-started cluster.
fail() {
    tk_warn "$1"
    stop_nodes >&2 || true
    exit 1
}

start_nodes() {
    local port d pid pw started=() i
    need redis-server
    need redis-cli
    # The ACL file (and tk-cluster's password) from services.sh: the same users as the single Redis.
    REDIS_ACL_CLUSTER_USER=1 "$SERVICES" write-acl "$DIR" 9>&- || tk_die "services.sh write-acl $DIR failed"
    cli_pw
    pw=$CLUSTER_PW
    # Every port checked before any node starts, so a refusal leaves nothing half-started.
    for port in "${PORTS[@]}"; do
        [ -z "$(node_pid "$port")" ] || continue
        tk_port_in_use "$port" && tk_die "port $port is already in use by another process; set CLUSTER_PORT (the nodes use $CLUSTER_PORT..$((CLUSTER_PORT + NODES - 1)))"
        tk_port_in_use $((port + 10000)) && tk_die "port $((port + 10000)) (node $port's cluster bus) is already in use by another process; set CLUSTER_PORT"
    done
    for port in "${PORTS[@]}"; do
        d=$(node_dir "$port")
        mkdir -p "$d"
        chmod -R go-rwx "$d"
        write_node_conf "$port" "$pw"
        pid=$(node_pid "$port")
        if [ -n "$pid" ]; then
            tk_say "cluster node $port already running (pid $pid)"
            continue
        fi
        rm -f "$d/redis.pid"
        (cd "$d" && exec setsid redis-server "$d/redis.conf" </dev/null >>"$d/redis.log" 2>&1 9>&-) &
        pid=$!
        echo "$pid" >"$d/redis.pid"
        started+=("$port")
    done
    # Every node answers PING (its AOF loaded), bounded.
    for port in "${PORTS[@]}"; do
        d=$(node_dir "$port")
        for ((i = 0; i < START_SECS * 10; i++)); do
            pid=$(node_pid "$port")
            if [ -z "$pid" ]; then
                tk_log_tail "$d/redis.log" >&2
                fail "cluster node $port exited during start-up (log: $d/redis.log)"
            fi
            node_ping "$port" && break
            sleep 0.1
        done
        node_ping "$port" || { tk_log_tail "$d/redis.log" >&2; fail "cluster node $port did not answer PING within ${START_SECS}s (log: $d/redis.log)"; }
    done
    [ ${#started[@]} -eq 0 ] || tk_say "cluster nodes up (ports ${started[*]})"
}

# True when no node knows another and no slot is assigned: a new cluster.
is_new() {
    local port
    for port in "${PORTS[@]}"; do
        [ "$(info_field "$port" cluster-info cluster_known_nodes)" = 1 ] || return 1
        [ "$(info_field "$port" cluster-info cluster_slots_assigned)" = 0 ] || return 1
    done
}

# One shard: every slot to the first node, the second met and made its
# replica (bounded: the second must learn the first's id by gossip first).
create_one() {
    local log=$CDIR/create.log m=${PORTS[0]} r=${PORTS[1]} id i
    tk_say "creating the cluster (1 master, 1 replica; log: $log)"
    printf '\n===== %s: one shard: addslots 0..16383 on %s, meet and replicate %s =====\n' "$(date '+%F %T')" "$m" "$r" >>"$log"
    # shellcheck disable=SC2046 # the slot numbers are words on purpose
    [ "$(cli "$m" cluster addslots $(seq 0 16383))" = OK ] || fail "CLUSTER ADDSLOTS on node $m failed"
    [ "$(cli "$m" cluster meet 127.0.0.1 "$r")" = OK ] || fail "CLUSTER MEET 127.0.0.1 $r on node $m failed"
    id=$(cli "$m" cluster nodes | tr -d '\r' | awk '$3 ~ /myself/ { print $1 }')
    [ -n "$id" ] || fail "node $m did not say its id (CLUSTER NODES)"
    for ((i = 0; i < OK_SECS * 5; i++)); do
        [ "$(cli "$r" cluster replicate "$id")" = OK ] && { echo "node $r replicates $id" >>"$log"; return 0; }
        sleep 0.2
    done
    fail "node $r did not accept CLUSTER REPLICATE $id within ${OK_SECS}s"
}

create() {
    local addrs=() port log=$CDIR/create.log
    [ "$CLUSTER_MASTERS" != 1 ] || { create_one; return; }
    for port in "${PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
    tk_say "creating the cluster (3 masters, 1 replica each; log: $log)"
    printf '\n===== %s: redis-cli --cluster create %s =====\n' "$(date '+%F %T')" "${addrs[*]}" >>"$log"
    if ! REDISCLI_AUTH=$CLUSTER_PW timeout 60 redis-cli --no-auth-warning --user tk-cluster \
        --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes </dev/null >>"$log" 2>&1 9>&-; then
        tk_log_tail "$log" 30 >&2
        fail "redis-cli --cluster create failed (log: $log)"
    fi
}

# Every node says cluster_state:ok, half of them are replicas whose link to
# their master is up, bounded.
await_ok() {
    local port i bad="" replicas
    for ((i = 0; i < OK_SECS * 5; i++)); do
        bad=""
        replicas=0
        for port in "${PORTS[@]}"; do
            if [ "$(info_field "$port" cluster-info cluster_state)" != ok ]; then
                bad="node $port is not cluster_state:ok"
                break
            fi
            if [ "$(info_field "$port" replication role)" = slave ]; then
                if [ "$(info_field "$port" replication master_link_status)" != up ]; then
                    bad="replica $port's link to its master is not up"
                    break
                fi
                replicas=$((replicas + 1))
            fi
        done
        [ -n "$bad" ] || [ "$replicas" = $((NODES / 2)) ] || bad="$replicas replica(s), not $((NODES / 2))"
        [ -n "$bad" ] || return 0
        sleep 0.2
    done
    fail "$bad after ${OK_SECS}s (logs: $CDIR/<port>/redis.log; a cluster half-made by an interrupted first start: stop it and remove $CDIR, which loses its data)"
}

masters() { # the masters' ports, space-separated
    local port out=()
    for port in "${PORTS[@]}"; do
        [ "$(info_field "$port" replication role)" != master ] || out+=("$port")
    done
    echo "${out[*]}"
}

start() {
    start_nodes
    if is_new; then
        create
    else
        tk_say "the nodes know their cluster (nodes.conf): not creating it again"
    fi
    await_ok
    tk_say "cluster ok (masters on $(masters); ports ${PORTS[0]}..${PORTS[NODES - 1]}, appendfsync $REDIS_APPENDFSYNC)"
}

status() {
    local port pid rc=0 state role
    cli_pw
    for port in "${PORTS[@]}"; do
        pid=$(node_pid "$port")
        if [ -z "$pid" ]; then
            tk_say "node $port stopped"
            rc=3
        elif ! node_ping "$port"; then
            tk_say "node $port running (pid $pid) but not answering"
            rc=3
        else
            state=$(info_field "$port" cluster-info cluster_state)
            role=$(info_field "$port" replication role)
            tk_say "node $port running (pid $pid, $role, cluster_state:$state)"
            [ "$state" = ok ] || rc=3
        fi
    done
    return "$rc"
}

case "$cmd" in
    stop | status)
        [ -d "$CDIR" ] || { tk_say "nothing under $CDIR: the cluster is not running"; [ "$cmd" = status ] && exit 3; exit 0; }
        ;;
esac

case "$cmd" in
    start) lock && start ;;
    stop) lock && stop_nodes ;;
    status) status ;;
    *) usage ;;
esac
