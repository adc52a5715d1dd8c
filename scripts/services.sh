#!/usr/bin/env bash
# services.sh: our own redis-server and mariadbd under one directory, on
# loopback, without systemd (see "Local services" in docs/CONTRACTS.md).
#
# Usage: scripts/services.sh CMD DIR
#   start | stop | status | start-redis | stop-redis | kill-redis | start-db | stop-db
#   | write-acl (only DIR/redis/users.acl and the passwords: scripts/cluster.sh's nodes load it)
# Environment: REDIS_PORT (6390), DB_PORT (3310), REDIS_APPENDFSYNC (always |
# everysec), DB_NAME (tk), DB_USER (tk), DB_PASSWORD_FILE
# (DIR/secrets/db_password, generated once), DB_PASSWORD (overrides the file),
# REDIS_ACL_TEST_USER (0 | 1: also the tests' user tk-test, every command and
# key; set by the test and bench scripts only), REDIS_ACL_CLUSTER_USER (0 | 1:
# also tk-cluster, the Redis Cluster nodes' replication and set-up user; set
# by scripts/cluster.sh only).
#
# Layout of DIR: redis/ (redis.conf, users.acl, AOF, redis.pid, redis.log),
# mariadb/ (data/, mariadb.sock, mariadb.pid, mariadb.log), secrets/
# (db_password, redis_gateway, redis_worker, redis_admin[, redis_test][,
# redis_cluster]).
#
# Redis runs with ACLs (docs/DESIGN.md, "Redis ACLs"): nobody can use the
# default user (its password is random and never kept), and each component
# has its own user allowed only its commands and keys -- tk-gateway,
# tk-worker, tk-admin (tk-rebuild, and this script's PING) -- with a
# password generated once into secrets/redis_<role> (0600).
# The data directories are 0700 and the servers run under umask 077, so
# the AOF and the database files are readable by their owner only.
#
# Each server is started in its own session (setsid), so a Ctrl-C meant for
# `make run` does not reach it: the caller stops it, in order, with SIGTERM
# to the recorded pid. A pid is trusted only if that process still runs the
# right program from the right directory (its cwd is its data directory).
set -euo pipefail
# Every file this script and its servers create is the owner's only: the
# AOF, the database files, the ACL file, the secrets, the logs.
umask 077

TK_PROG=services.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: scripts/services.sh {start|stop|status|start-redis|stop-redis|kill-redis|start-db|stop-db|write-acl} DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
DIR=$(tk_abspath "$2")
[[ "$DIR" != *[\"\\$'\n']* ]] || tk_die "DIR must not contain quotes, backslashes or newlines: $DIR"

REDIS_PORT=${REDIS_PORT:-6390}
DB_PORT=${DB_PORT:-3310}
REDIS_APPENDFSYNC=${REDIS_APPENDFSYNC:-always}
DB_NAME=${DB_NAME:-tk}
DB_USER=${DB_USER:-tk}
DB_PASSWORD_FILE=$(tk_abspath "${DB_PASSWORD_FILE:-$DIR/secrets/db_password}")
REDIS_ACL_TEST_USER=${REDIS_ACL_TEST_USER:-0}
REDIS_ACL_CLUSTER_USER=${REDIS_ACL_CLUSTER_USER:-0}
tk_check_port REDIS_PORT "$REDIS_PORT"
tk_check_port DB_PORT "$DB_PORT"
case "$REDIS_APPENDFSYNC" in
    always | everysec) ;;
    *) tk_die "REDIS_APPENDFSYNC=$REDIS_APPENDFSYNC: expected always or everysec" ;;
esac
[[ "$DB_NAME" =~ ^[A-Za-z0-9_]{1,64}$ ]] || tk_die "DB_NAME=$DB_NAME: expected 1-64 of [A-Za-z0-9_]"
[[ "$DB_USER" =~ ^[A-Za-z0-9_]{1,32}$ ]] || tk_die "DB_USER=$DB_USER: expected 1-32 of [A-Za-z0-9_]"
case "$REDIS_ACL_TEST_USER" in
    0 | 1) ;;
    *) tk_die "REDIS_ACL_TEST_USER=$REDIS_ACL_TEST_USER: expected 0 or 1" ;;
esac
case "$REDIS_ACL_CLUSTER_USER" in
    0 | 1) ;;
    *) tk_die "REDIS_ACL_CLUSTER_USER=$REDIS_ACL_CLUSTER_USER: expected 0 or 1" ;;
esac

RDIR=$DIR/redis
SECRETS=$DIR/secrets
REDIS_ACL=$RDIR/users.acl
MDIR=$DIR/mariadb
REDIS_PID=$RDIR/redis.pid
REDIS_LOG=$RDIR/redis.log
DB_DATA=$MDIR/data
DB_SOCK=$MDIR/mariadb.sock
DB_PID=$MDIR/mariadb.pid
DB_LOG=$MDIR/mariadb.log

START_SECS=60 # AOF replay or InnoDB recovery can take a while
STOP_SECS=60

need() {
    command -v "$1" >/dev/null 2>&1 || tk_die "$1 not found; run scripts/deps.sh (as root) to install it"
}

# One services.sh at a time per DIR. The lock fd is closed for the servers
# (9>&-), or they would hold the lock for as long as they run.
lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.services.lock"
    flock -w 120 9 || tk_die "another services.sh is busy with $DIR (waited 120s)"
}

# ---- redis ----

redis_pid() {
    local pid
    pid=$(tk_read_pidfile "$REDIS_PID")
    [ -n "$pid" ] && tk_proc_is "$pid" redis-server "$RDIR" && echo "$pid"
    return 0
}

# PONG only once the data is loaded (LOADING before), as the admin user:
# nobody can use the default user.
redis_ping() {
    local pw
    pw=$(tk_read_secret "$SECRETS/redis_admin") || return 1
    [ "$(REDISCLI_AUTH=$pw timeout 3 redis-cli --no-auth-warning --user tk-admin -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

# ---- Redis ACL users ----
#
# Each component may run only the commands its C code and its Lua scripts
# send (ACLs apply inside EVAL/EVALSHA too), on only the keys it names
# (common/tk_keys.c; docs/CONTRACTS.md, "Redis keys"). An event id is
# [a-z0-9_-], so tk:{*}:ev and its kin match exactly the keys of events.
# A key handed to a script as KEYS needs read and write access (%R~ is
# enough only for a command sent directly). How to add a command:
# docs/DESIGN.md, "Redis ACLs".
K_EVENT='~tk:{*}:ev ~tk:{*}:claims ~tk:{*}:q'
# presence (lua/presence.lua): the gateway's only
K_PRESENCE='~tk:{*}:pr ~tk:{*}:pp:* ~tk:{*}:pu:*'
K_REBUILD='~tk:{*}:claims:rebuild ~tk:{*}:claims:old'
# the waiting room (docs/CONTRACTS.md): the room's hash (its settings' pause,
# written by the create, the admin update and the rebuild) and the set of
# rooms; the gateway also reads and keeps the line (tk:{E}:wq:*) and the lease
# (tk:{wq}:*; it reads tk:wq:epoch, the epoch's name before issue 15, once)
K_WQ='~tk:{*}:wq ~tk:wq:rooms'
K_WQ_GATEWAY="$K_WQ ~tk:{*}:wq:* ~tk:{wq}:lease ~tk:{wq}:epoch %R~tk:wq:epoch"
# leaderboards (docs/CONTRACTS.md): every key of a board (tk:lb:{B}, its
# seasons, its stream, its per-season zset and users hash) and the set of boards
K_LB='~tk:lb:* ~tk:boards'
# the workers: only the board streams, their pending counts (lua/lb_ack.lua)
# and tk:boards read-only (their discovery)
K_LB_WORKER='~tk:lb:{*}:q ~tk:lb:{*}:pend %R~tk:boards'
# the gateway's room scripts (lua/wq_join, wq_status, wq_admit, wq_lease) beyond the commands below
C_WQ='+hdel +zrem +zrangebyscore +lindex +lpush +ltrim +lrange +get +set +time +incr +srem +zcard'
# the priority presale (docs/CONTRACTS.md): the snapshot's set, written by
# the gateway (gateway/claims/gw_prio.c, lua/prio_copy.lua) and the rebuild,
# read by claim.lua (SISMEMBER); the gateway reads the boards (HMGET, TIME,
# ZRANGE of the current season: all in $K_LB and the list) to take it
K_PRIO='~tk:{*}:prio'

# tk-gateway: the claim path (claim.lua, watermark.lua, status, events,
# /readyz, /metrics), the admin routes (admin_*.lua, run by EVAL), the
# merge (INFO server and replication, GET and SET NX of tk:instance: its
# identity, gateway/failover/gw_identity.h; HGET seq), the rebuild after a reconnect
# (common/tk_rebuild.c, rebuild_swap.lua) and the boards' writes
# (lb_create.lua, lb_write.lua: TIME for the time of a score, RPUSH LPOP
# of the seasons past the window); with REDIS_CLUSTER, CLUSTER SLOTS (the
# slot map) and ASKING (an ASK redirect; gateway/gw_redis.c); WAIT after a
# claim batch with REDIS_WAIT_REPLICAS > 0 (gateway/claims/gw_batcher.c).
ACL_GATEWAY="$K_EVENT $K_REBUILD $K_PRESENCE $K_WQ_GATEWAY $K_LB $K_PRIO ~tk:events ~tk:instance %R~tk:wk:stats nocommands
 +ping +info +script|load +eval +evalsha +rpush +lpop
 +hget +hmget +hset +hsetnx +hincrby +hlen +hgetall +exists +smembers +sadd +zrank
 +xadd +xlen +xrange +xgroup|create +unlink +expire +rename +persist
 +zadd +zremrangebyscore +zcount +zrange +zscore +pexpire $C_WQ +time +sismember
 +hscan +xpending +xinfo|groups +cluster|slots +asking +wait"
# tk-worker: discovery, XREADGROUP/XAUTOCLAIM, confirm.lua (HMGET, HSET,
# EXISTS, HINCRBY, XACK, XPENDING, XINFO GROUPS, XTRIM, XDEL), lb_ack.lua (XRANGE of the entries it acks,
# HMGET HINCRBY HDEL of the board's pend hash), its counters and
# wk_stats_prune.lua; with REDIS_CLUSTER, CLUSTER SLOTS and ASKING
# (common/tk_rcluster.c; unused with a single Redis); WAIT after a read
# with REDIS_WAIT_REPLICAS > 0 (worker/wk_read.c).
ACL_WORKER="$K_EVENT $K_LB_WORKER ~tk:wk:stats %R~tk:events nocommands
 +script|load +eval +evalsha +smembers +xgroup|create +xreadgroup +xautoclaim
 +xack +xdel +xtrim +xpending +xinfo|groups +hmget +hset +hincrby +hgetall +hdel +exists +xrange +cluster|slots +asking +wait"
# tk-admin: tk-rebuild (common/tk_rebuild.c, rebuild_swap.lua; a board's:
# common/tk_lb_rebuild.c, ZADD ZCARD, LRANGE of the seasons past the window), tk-import (HMGET of the board,
# lua/lb_import.lua: HGET HMGET ZREM ZADD HSET) and the PING of this script;
# with REDIS_CLUSTER, CLUSTER SLOTS and ASKING (common/tk_rcluster.c).
ACL_ADMIN="$K_EVENT $K_REBUILD $K_WQ $K_PRIO $K_LB ~tk:events nocommands
 +ping +eval +xlen +hmget +hset +hlen +exists +unlink +expire +rename +persist
 +sadd +xgroup|create +hget +zadd +zrem +zcard +time +lrange +cluster|slots +asking"
# tk-test (REDIS_ACL_TEST_USER=1 only): the integration tests' and the
# benchmark's own connection, which wipes, inspects and sets up odd states.
ACL_TEST="allkeys allchannels allcommands"
# tk-cluster (REDIS_ACL_CLUSTER_USER=1 only: scripts/cluster.sh): a replica's
# link to its master (masteruser: AUTH, PSYNC, REPLCONF; PING), the creation
# by `redis-cli --cluster create` (INFO, CLUSTER INFO NODES ADDSLOTS
# SET-CONFIG-EPOCH MEET REPLICATE) and cluster.sh's waits (PING, CLUSTER
# INFO, INFO). No key. Tried one right off at a time (Redis 7.0): without
# +ping, +info, +psync, +cluster|info, nodes, addslots or meet the start
# fails; without +replconf the replicas still sync but the master never
# learns their port or offset (INFO: port=0, offset=0); without
# set-config-epoch or replicate redis-cli goes on past the error (with no
# replicas: cluster.sh refuses that cluster).
ACL_CLUSTER="nocommands +ping +info +psync +replconf +cluster|info +cluster|nodes +cluster|addslots +cluster|set-config-epoch +cluster|meet +cluster|replicate"

# Generates the role's password once (0600), prints its ACL user line: the
# password as its SHA-256 (#...), so the file holds no password.
acl_user() { # ROLE RULES
    local f=$SECRETS/redis_$1 pw hash
    if [ ! -s "$f" ]; then
        tk_secret_file "$f" 24 || tk_die "cannot create $f"
    fi
    chmod 0600 "$f"
    pw=$(tk_read_secret "$f") || tk_die "cannot read a password from $f"
    hash=$(printf '%s' "$pw" | sha256sum | cut -d' ' -f1)
    # shellcheck disable=SC2086 # the rules are words on purpose
    echo "user tk-$1 on resetpass #$hash resetkeys resetchannels" $2
}

write_redis_acl() {
    mkdir -p "$SECRETS"
    chmod 0700 "$SECRETS"
    {
        # The default user: a client that has not authenticated can do
        # nothing (NOAUTH), and nobody can authenticate as it (WRONGPASS):
        # its password is random, made at each start and never kept, only
        # its hash written here. It is not "off", and keeps every right,
        # only because Redis 7.0 replays the AOF's MULTI/EXEC blocks (how a
        # script's writes are logged) as the default user and re-checks its
        # ACL at EXEC: "off" makes a restart drop every claim script's
        # writes, silently (redis/redis#14545, fixed after 7.0; it_redis_acl).
        echo "user default on resetpass #$(openssl rand -hex 32 | tr -d '\n' | sha256sum | cut -d' ' -f1)" \
            "resetkeys resetchannels allkeys allchannels allcommands"
        acl_user gateway "$ACL_GATEWAY"
        acl_user worker "$ACL_WORKER"
        acl_user admin "$ACL_ADMIN"
        [ "$REDIS_ACL_TEST_USER" = 0 ] || acl_user test "$ACL_TEST"
        [ "$REDIS_ACL_CLUSTER_USER" = 0 ] || acl_user cluster "$ACL_CLUSTER"
    } >"$REDIS_ACL.tmp"
    chmod 0600 "$REDIS_ACL.tmp"
    mv -f "$REDIS_ACL.tmp" "$REDIS_ACL"
}

write_redis_conf() {
    cat >"$RDIR/redis.conf.tmp" <<EOF
# Written by scripts/services.sh on every start; edits are lost.
port $REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize no
dir "$RDIR"
pidfile "$REDIS_PID"
logfile "$REDIS_LOG"
appendonly yes
appendfsync $REDIS_APPENDFSYNC
save ""
aclfile "$REDIS_ACL"
EOF
    mv -f "$RDIR/redis.conf.tmp" "$RDIR/redis.conf"
}

# Waits up to START_SECS for a server just started in the background (a child of this shell) to pass
# its ping command ("$@" after the first five arguments). If it exits or stays silent, its pid file is
# removed, its log tail shown, and the script dies (killing a silent one first) -- the caller never
# sees a half-started server.
await_up() {
    local name=$1 pid=$2 pidfile=$3 log=$4 what=$5 i
    shift 5
    for ((i = 0; i < START_SECS * 10; i++)); do
        if ! tk_proc_running "$pid"; then
            wait "$pid" 2>/dev/null || true
            rm -f "$pidfile"
            tk_log_tail "$log" >&2
            tk_die "$name exited during start-up (log: $log)"
        fi
        "$@" && return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    tk_log_tail "$log" >&2
    tk_die "$name did not $what within ${START_SECS}s; killed it (log: $log)"
}

start_redis() {
    local pid
    need redis-server
    need redis-cli
    need sha256sum
    need openssl
    # 0700, and nothing inside readable by others, data of older runs too.
    mkdir -p "$RDIR"
    chmod -R go-rwx "$RDIR"
    write_redis_acl
    pid=$(redis_pid)
    if [ -n "$pid" ]; then
        redis_ping "$REDIS_PORT" ||
            tk_die "redis is already running from $RDIR (pid $pid) but does not answer on port $REDIS_PORT; stop it first (scripts/services.sh stop-redis $DIR)"
        tk_say "redis already running (pid $pid, port $REDIS_PORT)"
        return 0
    fi
    rm -f "$REDIS_PID"
    tk_port_in_use "$REDIS_PORT" &&
        tk_die "port $REDIS_PORT is already in use by another process; set REDIS_PORT"
    write_redis_conf
    # Under umask 077 (above): the AOF (appendonlydir/), an RDB and the log are the owner's only.
    (cd "$RDIR" && exec setsid redis-server "$RDIR/redis.conf" </dev/null >>"$REDIS_LOG" 2>&1 9>&-) &
    pid=$!
    echo "$pid" >"$REDIS_PID"
    await_up redis-server "$pid" "$REDIS_PID" "$REDIS_LOG" "answer PING" redis_ping "$REDIS_PORT"
    tk_say "redis running (pid $pid, port $REDIS_PORT, appendfsync $REDIS_APPENDFSYNC)"
}

# Stops one server by the pid its pid file names (PID empty: not running, not an error), then
# removes the pid file. LABEL is the name the messages use, PROGRAM the binary tk_stop_pid expects.
stop_server() { # LABEL PROGRAM PID PIDFILE
    local rc=0
    if [ -z "$3" ]; then
        rm -f "$4"
        tk_say "$1 not running"
        return 0
    fi
    tk_stop_pid "$2" "$3" "$STOP_SECS" || rc=1
    rm -f "$4"
    tk_say "$1 stopped (pid $3)"
    return "$rc"
}

stop_redis() {
    stop_server redis redis-server "$(redis_pid)" "$REDIS_PID"
}

kill_redis() {
    local pid
    pid=$(redis_pid)
    if [ -z "$pid" ]; then
        rm -f "$REDIS_PID"
        tk_say "redis not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    tk_wait_exit "$pid" 10 || tk_die "redis-server (pid $pid) survived SIGKILL"
    rm -f "$REDIS_PID"
    tk_say "redis killed (SIGKILL, pid $pid); start-redis replays the AOF"
}

# ---- mariadb ----

db_pid() {
    local pid
    pid=$(tk_read_pidfile "$DB_PID")
    [ -n "$pid" ] && tk_proc_is "$pid" mariadbd "$DB_DATA" && echo "$pid"
    return 0
}

# Root over the unix socket only (unix_socket authentication).
db_root() {
    mariadb --no-defaults --socket="$DB_SOCK" --user=root --batch --skip-column-names
}

db_ping() {
    timeout 5 mariadb-admin --no-defaults --socket="$DB_SOCK" --user=root --connect-timeout=2 ping >/dev/null 2>&1
}

# Generates the password file once (not inside $(...): its message goes to
# stdout).
db_password_file() {
    [ -z "${DB_PASSWORD:-}" ] || return 0
    [ ! -e "$DB_PASSWORD_FILE" ] || return 0
    tk_secret_file "$DB_PASSWORD_FILE" 16 || tk_die "cannot create $DB_PASSWORD_FILE"
    tk_say "generated the database password in $DB_PASSWORD_FILE"
}

db_password() {
    if [ -n "${DB_PASSWORD:-}" ]; then
        printf '%s' "$DB_PASSWORD"
    else
        tk_read_secret "$DB_PASSWORD_FILE" || tk_die "cannot read a password from $DB_PASSWORD_FILE (missing or empty)"
    fi
}

# Creates the database and the application user, or brings an existing user's
# password and grant up to date: safe on every start.
db_bootstrap() {
    local pw
    db_password_file
    pw=$(db_password)
    pw=${pw//\\/\\\\}
    pw=${pw//\'/\\\'}
    # Through stdin, so the password never shows in ps.
    db_root <<EOF || tk_die "could not create database $DB_NAME and user $DB_USER (log: $DB_LOG)"
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'127.0.0.1';
EOF
}

db_init() {
    local tmp=$MDIR/data.init out
    [ -d "$DB_DATA/mysql" ] && return 0
    need mariadb-install-db
    rm -rf "$tmp"
    mkdir -p "$tmp" "$MDIR/tmp"
    tk_say "initialising a new MariaDB data directory in $DB_DATA"
    # Into a side directory, then renamed: a half-made data directory is
    # never mistaken for a good one.
    # Its own tmpdir, as mariadbd's below: a mariadbd starting on the same
    # machine deletes every #sql* file of its tmpdir, the bootstrap's too
    # when both use /tmp ("Error on delete of '/tmp/#sql-temptable-…'").
    if ! out=$(mariadb-install-db --no-defaults --datadir="$tmp" --tmpdir="$MDIR/tmp" --user="$(id -un)" \
        --auth-root-authentication-method=socket --skip-test-db 2>&1 </dev/null 9>&-); then
        printf '%s\n' "$out" >&2
        rm -rf "$tmp"
        tk_die "mariadb-install-db failed"
    fi
    rm -rf "$DB_DATA"
    mv "$tmp" "$DB_DATA"
}

start_db() {
    local pid
    need mariadbd
    need mariadb
    need mariadb-admin
    mkdir -p "$MDIR"
    chmod 0700 "$MDIR"
    [ "${#DB_SOCK}" -le 100 ] || tk_die "socket path too long for a unix socket (${#DB_SOCK} > 100): $DB_SOCK; use a shorter DIR"
    pid=$(db_pid)
    if [ -n "$pid" ]; then
        db_ping || tk_die "mariadbd is already running from $DB_DATA (pid $pid) but does not answer; stop it first (scripts/services.sh stop-db $DIR)"
        tk_say "mariadb already running (pid $pid, port $DB_PORT)"
        db_bootstrap
        return 0
    fi
    rm -f "$DB_PID"
    tk_port_in_use "$DB_PORT" &&
        tk_die "port $DB_PORT is already in use by another process; set DB_PORT"
    db_init
    mkdir -p "$MDIR/tmp" # a data directory made before the tmpdir was
    # The database files: the owner's only, those of older runs too.
    chmod -R go-rwx "$DB_DATA"
    rm -f "$DB_SOCK"
    # mariadbd sets its own umask from UMASK / UMASK_DIR (default 0660 /
    # 0700: group-readable); 0600 / 0700 keep new files the owner's.
    (cd "$DB_DATA" && export UMASK=0600 UMASK_DIR=0700 && exec setsid mariadbd --no-defaults \
        --datadir="$DB_DATA" --tmpdir="$MDIR/tmp" --socket="$DB_SOCK" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$DB_PID" --log-error="$DB_LOG" \
        --user="$(id -un)" --innodb-flush-log-at-trx-commit=1 \
        --innodb-buffer-pool-size="${DB_BUFFER_POOL:-256M}" --skip-name-resolve \
        --max-connections=300 --character-set-server=utf8mb4 \
        </dev/null >>"$DB_LOG" 2>&1 9>&-) &
    pid=$!
    echo "$pid" >"$DB_PID"
    await_up mariadbd "$pid" "$DB_PID" "$DB_LOG" "answer" db_ping
    db_bootstrap
    tk_say "mariadb running (pid $pid, port $DB_PORT, socket $DB_SOCK)"
}

stop_db() {
    stop_server mariadb mariadbd "$(db_pid)" "$DB_PID"
}

status() {
    local pid rc=0
    pid=$(redis_pid)
    if [ -n "$pid" ] && redis_ping "$REDIS_PORT"; then
        tk_say "redis running (pid $pid, port $REDIS_PORT)"
    elif [ -n "$pid" ]; then
        tk_say "redis running (pid $pid) but not answering on port $REDIS_PORT"
        rc=3
    else
        tk_say "redis stopped"
        rc=3
    fi
    pid=$(db_pid)
    if [ -n "$pid" ] && db_ping; then
        tk_say "mariadb running (pid $pid, port $DB_PORT, socket $DB_SOCK)"
    elif [ -n "$pid" ]; then
        tk_say "mariadb running (pid $pid) but not answering on $DB_SOCK"
        rc=3
    else
        tk_say "mariadb stopped"
        rc=3
    fi
    return "$rc"
}

case "$cmd" in
    stop | status | stop-redis | kill-redis | stop-db)
        [ -d "$DIR" ] || { tk_say "nothing under $DIR: redis and mariadb not running"; [ "$cmd" = status ] && exit 3; exit 0; }
        ;;
esac

case "$cmd" in
    start)
        lock
        # Both ports checked before either server starts, so a refusal
        # leaves nothing half-started.
        if [ -z "$(redis_pid)" ] && tk_port_in_use "$REDIS_PORT"; then
            tk_die "port $REDIS_PORT is already in use by another process; set REDIS_PORT"
        fi
        if [ -z "$(db_pid)" ] && tk_port_in_use "$DB_PORT"; then
            tk_die "port $DB_PORT is already in use by another process; set DB_PORT"
        fi
        start_redis
        start_db
        ;;
    stop)
        lock
        rc=0
        stop_redis || rc=1
        stop_db || rc=1
        exit "$rc"
        ;;
    status) status ;;
    start-redis) lock && start_redis ;;
    stop-redis) lock && stop_redis ;;
    kill-redis) lock && kill_redis ;;
    start-db) lock && start_db ;;
    stop-db) lock && stop_db ;;
    write-acl)
        lock
        mkdir -p "$RDIR"
        chmod -R go-rwx "$RDIR"
        write_redis_acl
        ;;
    *) usage ;;
esac
