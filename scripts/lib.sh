# lib.sh: shell helpers shared by scripts/*.sh and tests/integration/run.sh.
# Sourced, never run. Callers set TK_PROG (their name, for messages) first.
# shellcheck shell=bash

TK_PROG=${TK_PROG:-tk}

tk_say() { printf '%s: %s\n' "$TK_PROG" "$*"; }
tk_warn() { printf '%s: %s\n' "$TK_PROG" "$*" >&2; }
tk_die() { printf '%s: %s\n' "$TK_PROG" "$*" >&2; exit 1; }

# tk_abspath PATH: PATH made absolute (it need not exist yet).
tk_abspath() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "${1#./}" ;;
    esac
}

# tk_check_port NAME VALUE: dies unless VALUE is a TCP port number.
tk_check_port() {
    if ! [[ "$2" =~ ^[0-9]{1,5}$ ]] || [ "$((10#$2))" -lt 1 ] || [ "$((10#$2))" -gt 65535 ]; then
        tk_die "$1=$2 is not a port number (1-65535)"
    fi
}

# tk_port_in_use PORT: true when something listens on TCP PORT (any address).
tk_port_in_use() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        # No iproute2: try to connect (bash's /dev/tcp), bounded by timeout.
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    fi
}

# tk_free_port LO HI [EXCEPT...]: prints a port in LO..HI nothing listens on,
# trying at most 100 random ones; fails when none is found.
tk_free_port() {
    local lo=$1 hi=$2 p i e taken
    shift 2
    for ((i = 0; i < 100; i++)); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        taken=0
        for e in "$@"; do [ "$e" = "$p" ] && taken=1; done
        [ "$taken" = 0 ] && ! tk_port_in_use "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# tk_proc_running PID: true when PID is a live process (a zombie is not).
tk_proc_running() {
    local stat
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# tk_proc_is PID COMM [CWD]: true when PID runs a program named COMM (and,
# if given, with working directory CWD). Used to tell our own process from a
# stranger that was given a recycled pid.
tk_proc_is() {
    tk_proc_running "$1" || return 1
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    [ $# -lt 3 ] || [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$3" ]
}

# tk_read_pidfile FILE: prints the pid recorded in FILE, if any.
tk_read_pidfile() {
    local pid=""
    if [ -r "$1" ]; then read -r pid <"$1" 2>/dev/null || true; fi
    [[ "$pid" =~ ^[0-9]+$ ]] && echo "$pid"
    return 0
}

# tk_wait_exit PID SECONDS: polls (every 0.1 s) until PID is gone; fails if
# it is still there after SECONDS.
tk_wait_exit() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        tk_proc_running "$1" || return 0
        sleep 0.1
    done
    ! tk_proc_running "$1"
}

# tk_stop_pid NAME PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL
# with a warning. Returns 1 if it had to kill.
tk_stop_pid() {
    local name=$1 pid=$2 secs=$3
    tk_proc_running "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    tk_wait_exit "$pid" "$secs" && return 0
    tk_warn "$name (pid $pid) did not exit ${secs}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    tk_wait_exit "$pid" 5 || tk_warn "$name (pid $pid) survived SIGKILL"
    return 1
}

# tk_log_tail FILE [LINES]: prints the last lines of a log, framed.
tk_log_tail() {
    [ -f "$1" ] || return 0
    printf -- '----- last %s lines of %s -----\n' "${2:-20}" "$1"
    tail -n "${2:-20}" "$1" || true
    printf -- '-----\n'
}

# tk_secret_file FILE BYTES: creates FILE (mode 0600, directory 0700) with
# BYTES random bytes in hex, unless it already exists and is not empty.
tk_secret_file() {
    local f=$1 d
    d=$(dirname "$f")
    [ -d "$d" ] || { mkdir -p "$d" && chmod 0700 "$d"; }
    [ -s "$f" ] && return 0
    (umask 077 && openssl rand -hex "$2" >"$f.tmp.$$") && mv -f "$f.tmp.$$" "$f"
    chmod 0600 "$f"
}

# tk_read_secret FILE: prints the secret in FILE without its trailing newline
# (the same rule as tk_read_secret() in common/tk_opt.c).
tk_read_secret() {
    local s
    [ -r "$1" ] || return 1
    s=$(cat "$1"; echo x)
    s=${s%x}
    s=${s%$'\n'}
    s=${s%$'\r'}
    [ -n "$s" ] || return 1
    printf '%s' "$s"
}

# tk_redis_cli DIR ROLE PORT ARGS...: redis-cli on 127.0.0.1:PORT as the
# Redis ACL user tk-ROLE that scripts/services.sh made for DIR, with the
# password from DIR/secrets/redis_ROLE handed over in the environment
# (REDISCLI_AUTH), never on the command line where ps would show it.
tk_redis_cli() {
    local dir=$1 role=$2 port=$3 pw
    shift 3
    pw=$(tk_read_secret "$dir/secrets/redis_$role") || { tk_warn "cannot read $dir/secrets/redis_$role"; return 1; }
    REDISCLI_AUTH=$pw redis-cli --no-auth-warning --user "tk-$role" -h 127.0.0.1 -p "$port" "$@"
}

# ---- cmocka result counting (scripts/test.sh, tests/integration/run.sh) ----

TK_PASSED=0
TK_FAILED=0
TK_RAN=0

TK_TEST_PIDFILE=""

# tk_stop_test: from a signal trap, stops the test binary tk_run_cmocka is
# running, if any (SIGTERM through its timeout, bounded wait, then SIGKILL).
tk_stop_test() {
    local pid
    [ -n "$TK_TEST_PIDFILE" ] || return 0
    pid=$(tk_read_pidfile "$TK_TEST_PIDFILE")
    [ -n "$pid" ] && tk_proc_is "$pid" timeout || return 0
    tk_warn "stopping the running test (timeout pid $pid)"
    tk_stop_pid "test binary" "$pid" 15 || true
}

# tk_run_teed OUT PIDVAR CMD...: runs CMD (stdin /dev/null, stderr into
# stdout) in the background and waits for it, its output shown and copied to
# OUT; its exit status is left in OUT.rc. In the background and waited for,
# so that a signal to the caller runs its trap at once: while CMD runs, the
# caller's variable PIDVAR names OUT.pid, the file with CMD's pid, for the
# trap to stop it. The caller removes OUT, OUT.pid and OUT.rc.
tk_run_teed() {
    local out=$1 pidvar=$2
    shift 2
    {
        r=0
        "$@" </dev/null 2>&1 &
        echo "$!" >"$out.pid"
        wait "$!" || r=$?
        echo "$r" >"$out.rc"
    } | tee "$out" &
    printf -v "$pidvar" %s "$out.pid"
    wait "$!" || true
    printf -v "$pidvar" %s ""
}

# tk_run_cmocka SECONDS BINARY: runs one cmocka binary under a timeout,
# shows its output and adds its "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines to TK_PASSED / TK_FAILED. A binary that
# exits non-zero without a FAILED line (a crash, a sanitizer report, a
# timeout) counts as one failure. Returns the binary's exit status.
tk_run_cmocka() {
    local secs=$1 bin=$2 out rc=0 p=0 f=0 line t0=$SECONDS
    out=$(mktemp "${TMPDIR:-/tmp}/tk-test.XXXXXX")
    printf '=== %s\n' "$bin"
    # tk_stop_test stops the binary on a signal (timeout passes the signal on
    # to the binary's process group).
    tk_run_teed "$out" TK_TEST_PIDFILE env CMOCKA_MESSAGE_OUTPUT=STDOUT timeout --kill-after=10 "$secs" "$bin"
    rc=$(cat "$out.rc" 2>/dev/null || echo 1)
    while IFS= read -r line; do
        if [[ "$line" =~ ^\[\ \ PASSED\ \ \]\ ([0-9]+)\ test\(s\)\. ]]; then
            p=$((p + BASH_REMATCH[1]))
        elif [[ "$line" =~ ^\[\ \ FAILED\ \ \]\ ([0-9]+)\ test\(s\) ]]; then
            f=$((f + BASH_REMATCH[1]))
        fi
    done <"$out"
    rm -f "$out" "$out.rc" "$out.pid"
    TK_RAN=$((TK_RAN + 1))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        case "$rc" in
            124 | 137) printf '=== %s: timed out after %ss\n' "$bin" "$secs" ;;
            *) printf '=== %s: exited with status %s without a cmocka FAILED line (crash or sanitizer)\n' "$bin" "$rc" ;;
        esac
        f=1
    fi
    TK_PASSED=$((TK_PASSED + p))
    TK_FAILED=$((TK_FAILED + f))
    # The time lets a slow binary be found in CI's log (make test's budget: tests/README.md).
    printf '=== %s: %d passed, %d failed (exit %d, %ds)\n' "$bin" "$p" "$f" "$rc" "$((SECONDS - t0))"
    return "$rc"
}
