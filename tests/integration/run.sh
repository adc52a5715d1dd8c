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
# (a shell pattern: run only the binaries whose name matches, e.g. it_chaos),
# IT_JOBS (shards run side by side, default: the cores, at most 2).
#
# Shards: with IT_JOBS > 1 this script runs itself IT_JOBS times, each copy
# (a shard) with its own Redis, MariaDB and directory under one parent
# directory, taking the next binary from one queue until it is empty. Most
# binaries wait on timers (lock expiries, peers' beats, drains), so two
# shards nearly halve the stage on two cores. The binaries never share a
# service, so one that stops or empties its Redis cannot disturb another.
# A shard shows a binary's output whole, when it ends (the services'
# start-up lines of the shards may interleave). The queue starts
# with the slowest binaries (IT_SLOW, longest first), so that the last to
# start are short ones.
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

# The slowest binaries, longest first (seconds under the sanitizers on two
# busy cores, December 2026): the queue starts with them. Only the balance
# of the shards depends on this list; a binary missing from it runs after.
IT_SLOW=(it_chaos it_drain it_wait it_wr_queue it_wr_fix it_cluster it_presence it_priority it_boards_durable
    it_fallback_restart it_wk_cluster it_abuse it_watch it_bounds it_admin_idem)

bins=()
for b in "$BUILD_DIR"/tests/it_*; do
    [ -z "${IT_SHARD_QUEUE:-}" ] || break # a shard: its binaries come from the queue
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
if [ -z "${IT_SHARD_QUEUE:-}" ] && [ ${#bins[@]} -eq 0 ]; then
    tk_say "no integration tests in $BUILD_DIR/tests (it_*)"
    echo "integration tests: 0 passed, 0 failed"
    exit 0
fi

if [ -z "${IT_JOBS:-}" ]; then
    IT_JOBS=$(nproc 2>/dev/null || echo 1)
    [ "$IT_JOBS" -le 2 ] || IT_JOBS=2
fi
[[ "$IT_JOBS" =~ ^[1-9][0-9]?$ ]] || tk_die "IT_JOBS=$IT_JOBS: expected a number of shards (1-99)"
[ -n "${IT_SHARD_QUEUE:-}" ] || [ "$IT_JOBS" -le ${#bins[@]} ] || IT_JOBS=${#bins[@]}

# ---------------------------------------------------------------- the coordinator
# IT_JOBS shards, each this script with IT_SHARD_* set; their counts summed.
if [ -z "${IT_SHARD_QUEUE:-}" ] && [ "$IT_JOBS" -gt 1 ]; then
    TOP=$(mktemp -d /tmp/tk-it.XXXXXX)
    queue=$TOP/queue
    : >"$queue"
    for name in "${IT_SLOW[@]}"; do
        for b in "${bins[@]}"; do [ "$(basename "$b")" = "$name" ] && echo "$b" >>"$queue"; done
    done
    for b in "${bins[@]}"; do grep -qxF "$b" "$queue" || echo "$b" >>"$queue"; done
    # Ports. The shards' services take theirs below the range the binaries
    # pick from, so a gateway one shard starts cannot take the port another
    # shard's Redis or MariaDB is about to bind. The binaries' range,
    # 20000-29999, is cut into one slice per shard (IT_PORT_LO, IT_PORT_SPAN:
    # it_free_port), so two binaries of two shards never pick the same port
    # between its check and its bind; a Redis Cluster node's bus port (+10000)
    # then lies in 30000-39999, outside every slice and in its own shard's part.
    ports=()
    for ((k = 1; k <= IT_JOBS; k++)); do
        ports+=("$(tk_free_port 10000 19999 "${ports[@]}")") || tk_die "no free loopback port for shard $k"
        ports+=("$(tk_free_port 10000 19999 "${ports[@]}")") || tk_die "no free loopback port for shard $k"
    done
    span=$((10000 / IT_JOBS))
    shard_pids=()
    # shellcheck disable=SC2317 # run from the traps below
    stop_shards() {
        local pid k
        trap - EXIT INT TERM HUP
        set +e
        for pid in "${shard_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        # Each shard stops its binary (15 s) and its services itself, once the
        # command it is in ends; all within one deadline, inside the 150 s
        # scripts/test.sh gives this script. A shard still there is killed, and
        # its services are stopped here (services.sh stop works from the pid files).
        local until=$((SECONDS + 100))
        for pid in "${shard_pids[@]}"; do
            tk_wait_exit "$pid" $((until > SECONDS ? until - SECONDS : 0)) || kill -KILL "$pid" 2>/dev/null
        done
        for ((k = 1; k <= ${#shard_pids[@]}; k++)); do
            [ -d "$TOP/s$k/redis" ] || [ -d "$TOP/s$k/mariadb" ] || continue
            "$ROOT/scripts/services.sh" stop "$TOP/s$k" >/dev/null 2>&1 || tk_warn "stopping the services in $TOP/s$k reported a problem"
        done
        tk_say "kept $TOP for inspection"
    }
    trap 'stop_shards; exit 130' INT
    trap 'stop_shards; exit 143' TERM
    trap 'stop_shards; exit 129' HUP
    trap 'stop_shards' EXIT # tk_die below, or a shell error
    tk_say "${#bins[@]} binaries in $IT_JOBS shards under $TOP (IT_JOBS)"
    for ((k = 1; k <= IT_JOBS; k++)); do
        IT_SHARD_QUEUE=$queue IT_SHARD_DIR=$TOP/s$k IT_SHARD_NAME=$k \
            IT_SHARD_REDIS_PORT=${ports[2 * k - 2]} IT_SHARD_DB_PORT=${ports[2 * k - 1]} \
            IT_PORT_LO=$((20000 + (k - 1) * span)) IT_PORT_SPAN=$span \
            "$ROOT/tests/integration/run.sh" "$BUILD_DIR" </dev/null &
        shard_pids+=("$!")
    done
    shard_rc=()
    for pid in "${shard_pids[@]}"; do
        rc=0
        wait "$pid" || rc=$?
        shard_rc+=("$rc")
    done
    trap - EXIT INT TERM HUP
    passed=0 failed=0
    for ((k = 1; k <= IT_JOBS; k++)); do
        if read -r p f <"$TOP/s$k.result" 2>/dev/null && [[ "$p $f" =~ ^[0-9]+\ [0-9]+$ ]]; then
            passed=$((passed + p)) failed=$((failed + f))
            if [ "${shard_rc[k - 1]}" != 0 ] && [ "$f" = 0 ]; then
                tk_warn "shard $k exited ${shard_rc[k - 1]} after its counts: counted as one failure"
                failed=$((failed + 1))
            fi
        else
            tk_warn "shard $k ended (exit ${shard_rc[k - 1]}) without its counts: counted as one failure"
            failed=$((failed + 1))
        fi
    done
    if [ -s "$queue" ]; then
        tk_warn "$(wc -l <"$queue") binaries never ran: counted as failures"
        failed=$((failed + $(wc -l <"$queue")))
    fi
    # A failed shard kept its directory (and said where): keep the parent too.
    if [ "$failed" = 0 ] && [ "${KEEP_IT_DIR:-0}" != 1 ]; then rm -rf "$TOP"; fi
    echo "integration tests: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
fi

# ---------------------------------------------------------------- one set of services
# Alone (IT_JOBS=1), or a shard of the coordinator above.
if [ -n "${IT_SHARD_QUEUE:-}" ]; then
    TK_PROG="integration[${IT_SHARD_NAME:-?}]"
    TK_IT_DIR=$IT_SHARD_DIR
    mkdir -p "$TK_IT_DIR"
    # The shard's own output, kept for cleanup (a binary's goes to a file).
    exec 3>&1 4>&2
else
    # Short path: the MariaDB socket lives under it (unix sockets: < 108 bytes).
    TK_IT_DIR=$(mktemp -d /tmp/tk-it.XXXXXX)
fi
failed=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    # A shard interrupted inside a binary: back to its own output.
    [ -z "${IT_SHARD_QUEUE:-}" ] || exec 1>&3 2>&4
    tk_stop_test
    "$ROOT/scripts/services.sh" stop "$TK_IT_DIR" >/dev/null 2>&1 ||
        tk_warn "stopping the services in $TK_IT_DIR reported a problem"
    if [ -n "${IT_SHARD_QUEUE:-}" ]; then
        # What follows shows whole (the lock is let go at exit), after what
        # the interrupted binary had written.
        exec {print_lock}>>"$IT_SHARD_QUEUE.print"
        flock "$print_lock"
        [ ! -f "$TK_IT_DIR/binary.out" ] || cat "$TK_IT_DIR/binary.out"
        rm -f "$TK_IT_DIR/binary.out"
    fi
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

if [ -n "${IT_SHARD_QUEUE:-}" ]; then
    REDIS_PORT=$IT_SHARD_REDIS_PORT DB_PORT=$IT_SHARD_DB_PORT
else
    REDIS_PORT=$(tk_free_port 20000 32000) || tk_die "no free loopback port for Redis"
    DB_PORT=$(tk_free_port 20000 32000 "$REDIS_PORT") || tk_die "no free loopback port for MariaDB"
fi
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
if [ -n "${IT_SHARD_QUEUE:-}" ]; then
    # it_next: the next binary of the queue (nothing when it is empty), taken under its lock.
    # shellcheck disable=SC2016 # expanded by the inner bash
    it_next() {
        flock "$IT_SHARD_QUEUE.lock" bash -c 'b=$(head -n 1 "$1") && [ -n "$b" ] && sed -i 1d "$1" && printf "%s" "$b"' _ "$IT_SHARD_QUEUE" || true
    }
    while b=$(it_next) && [ -n "$b" ]; do
        # Shown whole when it ends, under the lock every shard prints under.
        # The binary does not get the shard's own output (3, 4): a process it
        # leaked must not hold scripts/test.sh's pipe open.
        tk_run_cmocka "$IT_TIMEOUT" "$b" >"$TK_IT_DIR/binary.out" 2>&1 3>&- 4>&- || true
        flock "$IT_SHARD_QUEUE.print" cat "$TK_IT_DIR/binary.out"
        rm -f "$TK_IT_DIR/binary.out"
    done
    echo "$TK_PASSED $TK_FAILED" >"$IT_SHARD_DIR.result"
    [ "$TK_FAILED" -eq 0 ] && failed=0
    tk_say "shard ${IT_SHARD_NAME:-?}: $TK_PASSED passed, $TK_FAILED failed"
    [ "$failed" = 0 ]
    exit
fi
for b in "${bins[@]}"; do
    tk_run_cmocka "$IT_TIMEOUT" "$b" || true
done
[ "$TK_FAILED" -eq 0 ] && failed=0
echo "integration tests: $TK_PASSED passed, $TK_FAILED failed"
[ "$failed" = 0 ]
