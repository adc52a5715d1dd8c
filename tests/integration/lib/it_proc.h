/*
 * it_proc: the processes an integration test starts and always stops: the
 * gateway, workers, and scripts/services.sh for fault tests.
 *
 * Every wait here has a deadline. A process is started with fork/exec
 * (never a shell), its stdout and stderr appended to a log file in
 * $TK_IT_DIR, and it_proc_stop() reports how it ended so a test can assert
 * a clean exit 0 (an AddressSanitizer leak report at exit is a non-zero exit;
 * children get LSAN_OPTIONS naming tests/lsan.supp unless it names a file).
 */
#ifndef IT_PROC_H
#define IT_PROC_H

#include <limits.h>
#include <sys/types.h>

#include "it_token.h"

#define IT_EXIT_TIMEOUT (-1000) /* it_proc_stop/it_proc_wait: still running at the deadline */

typedef struct {
    pid_t pid; /* 0: not running (never started, or reaped) */
    char name[64];
    char log_path[PATH_MAX];
} it_proc_t;

typedef struct {
    it_proc_t proc;
    int port;              /* HTTPS */
    int http_port;         /* cleartext */
    char admin_token[65];  /* random hex, given as ADMIN_TOKEN */
    char base_url[64];     /* "https://127.0.0.1:PORT" */
    char http_base[64];    /* "http://127.0.0.1:HTTP_PORT" */
    it_token_cfg_t user_tokens; /* what user tokens it accepts (it_token.h), read at each (re)start */
} it_gateway_t;

/** A loopback TCP port that was free a moment ago, or -1. */
int it_free_port(void);

/**
 * Starts `$TK_BUILD/bin/tk-gateway` on two fresh loopback ports with a fresh
 * admin token and the harness's user token secret (it_token.h; unless
 * USER_TOKEN_SECRET_FILE is set in the environment) and waits up to @ready_ms for GET /healthz to answer 200.
 * Retries with other ports when the process dies at once (a port race).
 * IT_GW_REDIS_PORT in the environment, when set, replaces Redis's port (a
 * test's proxy in front of Redis).
 * Returns 0, or -1 with the process stopped and its log tail printed.
 */
int it_gateway_start(it_gateway_t *gw, int ready_ms);

/** Like it_gateway_start, reusing gw's ports and token (a restart). */
int it_gateway_restart(it_gateway_t *gw, int ready_ms);

/**
 * Starts `$TK_BUILD/bin/tk-worker --consumer @consumer`. IT_WK_REDIS_PORT in
 * the environment, when set, replaces Redis's port. Returns 0 or -1.
 */
int it_worker_start(it_proc_t *w, const char *consumer);

/** Sends @sig. Returns 0, or -1 when the process is not running. */
int it_proc_signal(it_proc_t *p, int sig);

/**
 * Waits up to @timeout_ms for the process to end. Returns its exit code
 * (0–255), 128+N when killed by signal N, or IT_EXIT_TIMEOUT.
 */
int it_proc_wait(it_proc_t *p, int timeout_ms);

/**
 * SIGTERM, then waits up to @timeout_ms; on timeout SIGKILL and reap.
 * Returns as it_proc_wait (IT_EXIT_TIMEOUT when it had to be killed);
 * 0 when it was not running. Prints the log tail when the result is not 0.
 */
int it_proc_stop(it_proc_t *p, int timeout_ms);

/** SIGKILL and reap (fault tests; also the last resort of a teardown). */
void it_proc_kill(it_proc_t *p);

/** 1 when the process is still running (reaps it when it is not). */
int it_proc_alive(it_proc_t *p);

/** Prints the last @lines lines of the process's log to stderr. */
void it_proc_log_tail(const it_proc_t *p, int lines);

/**
 * Runs `$TK_ROOT/scripts/services.sh @cmd $TK_IT_DIR` (stop-redis,
 * start-redis, kill-redis, stop-db, start-db, …) and waits up to
 * @timeout_ms. Returns its exit code, or -1.
 */
int it_services(const char *cmd, int timeout_ms);

/**
 * In a child about to exec @prog: its Redis ACL user (tests/README.md),
 * REDIS_USER tk-gateway / tk-worker / tk-admin (for tk-rebuild, tk-import) and
 * REDIS_PASSWORD_FILE $TK_IT_DIR/secrets/redis_<role>, unless the test set
 * REDIS_USER itself (then nothing changes). it_proc's own children get it.
 */
void it_proc_redis_user_env(const char *prog);

/**
 * Starts @argv (found on PATH; a server that is not ours: redis-server)
 * with stdin from /dev/null and stdout and stderr appended to @log, killed
 * if this test process dies. Its pid, or -1.
 */
pid_t it_proc_run(char *const argv[], const char *log);

/**
 * Runs the tool $TK_BUILD/bin/@prog (tk-rebuild, tk-import) with @args
 * (NULL-terminated, at most 30) as its Redis ACL user
 * (it_proc_redis_user_env) and the environment as it is now; stdout into
 * the file @outp and stderr into @errp (NULL: into @outp too; both NULL:
 * this process's own). Killed after @timeout_ms. Returns its exit code
 * (128 + the signal when one ended it), -1 when it could not run or ran
 * out of time.
 */
int it_run_tool(const char *prog, const char *const *args, const char *outp, const char *errp, int timeout_ms);

/** Reads up to @cap - 1 bytes of the file @path into @buf, NUL-terminated (empty when unreadable). */
void it_read_file(const char *path, char *buf, size_t cap);

/** The pid in $TK_IT_DIR/@pidfile ("redis/redis.pid", "mariadb/mariadb.pid"), or -1 when unreadable. */
pid_t it_service_pid(const char *pidfile);

/** Sleeps @ms milliseconds. */
void it_sleep_ms(int ms);

/** Milliseconds from a monotonic clock. */
long long it_now_ms(void);

#endif
