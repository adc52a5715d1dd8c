#include "it_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it_env.h"
#include "it_http.h"

static int log_seq;

long long it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * A port below Linux's ephemeral range (32768-60999 by default): a port the
 * kernel handed out by bind(0) lies in that range, where any outgoing
 * connection (a worker's to MariaDB, a test client's) may take it as its
 * source port between this check and the gateway's bind: a rare "Address
 * already in use". Below the range only listeners compete, and they bind
 * where they are told.
 */
#define PORT_LO 20000
#define PORT_SPAN 12000

/*
 * The range: PORT_LO and PORT_SPAN, or IT_PORT_LO and IT_PORT_SPAN when
 * run.sh gives this shard a slice of its own (tests/integration/run.sh:
 * shards side by side never pick the same port). A slice outside
 * 1024..32767 is refused: the default is used, with a warning.
 */
static void port_range(int *lo, int *span)
{
    static int got_lo, got_span;
    if (got_lo == 0) {
        const char *l = getenv("IT_PORT_LO"), *n = getenv("IT_PORT_SPAN");
        int vl = l != NULL ? atoi(l) : 0, vn = n != NULL ? atoi(n) : 0;
        if (l == NULL && n == NULL) {
            vl = PORT_LO, vn = PORT_SPAN;
        } else if (vl < 1024 || vn < 100 || vl + vn > 32768) {
            fprintf(stderr, "it_free_port: IT_PORT_LO=%s IT_PORT_SPAN=%s: not a slice of 1024..32767; using %d..%d\n", l ? l : "", n ? n : "",
                    PORT_LO, PORT_LO + PORT_SPAN - 1);
            vl = PORT_LO, vn = PORT_SPAN;
        }
        got_lo = vl, got_span = vn;
    }
    *lo = got_lo, *span = got_span;
}

int it_free_port(void)
{
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)it_now_ms();
    int lo, span;
    port_range(&lo, &span);
    for (int tries = 0; tries < 500; tries++) {
        seed = seed * 1103515245u + 12345u;
        int port = lo + (int)((seed >> 8) % (unsigned)span);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

static int random_hex(char *out, size_t nbytes)
{
    unsigned char buf[64];
    if (nbytes > sizeof buf)
        return -1;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, nbytes);
    close(fd);
    if (got != (ssize_t)nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
    return 0;
}

/*
 * The leak check at a child's exit uses the project's suppressions
 * (tests/lsan.supp: h2o 2.2.5's own per-thread caches) unless the caller's
 * LSAN_OPTIONS already names a suppressions file. Runs in the child.
 */
static void set_lsan_suppressions(void)
{
    const it_env_t *env = it_env();
    const char *cur = getenv("LSAN_OPTIONS");
    if (env == NULL || (cur != NULL && strstr(cur, "suppressions=") != NULL))
        return;
    char path[PATH_MAX], opts[PATH_MAX + 512];
    snprintf(path, sizeof path, "%s/tests/lsan.supp", env->root);
    if (access(path, R_OK) != 0)
        return;
    snprintf(opts, sizeof opts, "%s%ssuppressions=%s:print_suppressions=0", cur ? cur : "", cur && *cur ? ":" : "", path);
    setenv("LSAN_OPTIONS", opts, 1);
}

void it_proc_redis_user_env(const char *prog)
{
    const it_env_t *env = it_env();
    const char *base = strrchr(prog, '/');
    base = base != NULL ? base + 1 : prog;
    const char *role = strcmp(base, "tk-gateway") == 0   ? "gateway"
                       : strcmp(base, "tk-worker") == 0  ? "worker"
                       : strcmp(base, "tk-rebuild") == 0 ? "admin"
                       : strcmp(base, "tk-import") == 0  ? "admin"
                                                         : NULL;
    if (env == NULL || role == NULL || getenv("REDIS_USER") != NULL)
        return;
    char user[32], file[PATH_MAX];
    snprintf(user, sizeof user, "tk-%s", role);
    snprintf(file, sizeof file, "%s/secrets/redis_%s", env->it_dir, role);
    setenv("REDIS_USER", user, 1);
    setenv("REDIS_PASSWORD_FILE", file, 1);
}

/* fork/exec @argv with stdout+stderr appended to p->log_path; @admin_token set as ADMIN_TOKEN when not NULL. */
static int spawn(it_proc_t *p, char *const argv[], const char *admin_token)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "it_proc: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The child dies with the test, so a crashed test never leaves servers behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int out = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || out < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        if (admin_token != NULL)
            setenv("ADMIN_TOKEN", admin_token, 1);
        set_lsan_suppressions();
        it_proc_redis_user_env(argv[0]);
        execv(argv[0], argv);
        dprintf(2, "it_proc: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

int it_proc_alive(it_proc_t *p)
{
    if (p->pid <= 0)
        return 0;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0)
        return 1;
    if (r == p->pid)
        fprintf(stderr, "it_proc: %s (pid %d) ended: %s %d\n", p->name, (int)p->pid, WIFEXITED(st) ? "exit" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    p->pid = 0;
    return 0;
}

int it_proc_signal(it_proc_t *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    return kill(p->pid, sig);
}

int it_proc_wait(it_proc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return 0;
    long long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            return 128 + WTERMSIG(st);
        }
        if (r < 0 && errno != EINTR) {
            p->pid = 0;
            return -1;
        }
        if (it_now_ms() >= deadline)
            return IT_EXIT_TIMEOUT;
        it_sleep_ms(10);
    }
}

void it_proc_kill(it_proc_t *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    if (it_proc_wait(p, 10000) == IT_EXIT_TIMEOUT)
        fprintf(stderr, "it_proc: %s (pid %d) survived SIGKILL for 10 s\n", p->name, (int)p->pid);
}

int it_proc_stop(it_proc_t *p, int timeout_ms)
{
    if (p->pid <= 0)
        return 0;
    kill(p->pid, SIGTERM);
    int rc = it_proc_wait(p, timeout_ms);
    if (rc == IT_EXIT_TIMEOUT) {
        fprintf(stderr, "it_proc: %s (pid %d) did not exit %d ms after SIGTERM; killing it\n", p->name, (int)p->pid, timeout_ms);
        it_proc_kill(p);
    }
    if (rc != 0) {
        fprintf(stderr, "it_proc: %s stopped with status %d; log %s:\n", p->name, rc, p->log_path);
        it_proc_log_tail(p, 40);
    }
    return rc;
}

void it_proc_log_tail(const it_proc_t *p, int lines)
{
    FILE *f = fopen(p->log_path, "r");
    if (f == NULL)
        return;
    /* Bounded: look at the last 64 KiB only. */
    static char buf[65536];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)sizeof buf - 1 ? size - (long)(sizeof buf - 1) : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t i = n;
    int seen = 0;
    while (i > 0 && seen <= lines) {
        i--;
        if (buf[i] == '\n')
            seen++;
    }
    fprintf(stderr, "---- %s ----\n%s---- end ----\n", p->log_path, buf + (i > 0 ? i + 1 : 0));
}

static int gateway_spawn(it_gateway_t *gw)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return -1;
    char bin[PATH_MAX], port[16], http_port[16], redis_port[16], db_port[16], var_dir[PATH_MAX], web_root[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/bin/tk-gateway", env->build);
    snprintf(port, sizeof port, "%d", gw->port);
    snprintf(http_port, sizeof http_port, "%d", gw->http_port);
    /* IT_GW_REDIS_PORT: a test's own way to Redis (a proxy that delays the gateway's traffic, it_wr_fix) */
    const char *via = getenv("IT_GW_REDIS_PORT");
    snprintf(redis_port, sizeof redis_port, "%d", via != NULL ? atoi(via) : env->redis_port);
    snprintf(db_port, sizeof db_port, "%d", env->db_port);
    snprintf(var_dir, sizeof var_dir, "%s/gw-var", env->it_dir);
    snprintf(web_root, sizeof web_root, "%s/web", env->root);
    snprintf(gw->proc.name, sizeof gw->proc.name, "tk-gateway-%d-%d", (int)getpid(), ++log_seq);
    snprintf(gw->proc.log_path, sizeof gw->proc.log_path, "%s/%s.log", env->it_dir, gw->proc.name);
    snprintf(gw->base_url, sizeof gw->base_url, "https://127.0.0.1:%d", gw->port);
    snprintf(gw->http_base, sizeof gw->http_base, "http://127.0.0.1:%d", gw->http_port);
    char *argv[] = {bin,         "--port",     port,        "--http-port",        http_port,
                          "--redis-port", redis_port, "--db-port",  db_port,             "--db-user",
                          (char *)env->db_user, "--db-name", (char *)env->db_name, "--db-password-file",
                          (char *)env->db_password_file, "--var-dir", var_dir, "--web-root", web_root, NULL, NULL, NULL, NULL, NULL};
    size_t last = sizeof argv / sizeof argv[0] - 5;
    /* A test's own USER_TOKEN_SECRET_FILE wins (a flag would override it); else the harness's secret. */
    const char *secret = NULL;
    if (getenv("USER_TOKEN_SECRET_FILE") == NULL) {
        if ((secret = it_token_secret_path()) == NULL)
            return -1;
        argv[last++] = "--user-token-secret-file";
        argv[last++] = (char *)secret;
    }
    /* The same for the access secret: one file for every gateway of the run, so they admit alike. */
    if (getenv("ACCESS_TOKEN_SECRET_FILE") == NULL) {
        const char *access = it_access_secret_path();
        if (access == NULL)
            return -1;
        argv[last++] = "--access-token-secret-file";
        argv[last++] = (char *)access;
    }
    it_token_cfg_read(&gw->user_tokens, secret);
    return spawn(&gw->proc, argv, gw->admin_token);
}

static int gateway_wait_ready(it_gateway_t *gw, int ready_ms)
{
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", gw->base_url);
    long long deadline = it_now_ms() + ready_ms;
    while (it_now_ms() < deadline) {
        if (!it_proc_alive(&gw->proc))
            return -2;
        it_resp_t r;
        if (it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, 1000) == 0 && r.status == 200) {
            it_resp_free(&r);
            /* After connecting to Redis the gateway checks every event's Redis
             * state against MariaDB (gw_failover's check, gw_rebuild) before
             * it serves claims from Redis; tests start once that is done, so a
             * claim on an unknown event is a 404 and not the check's 503. With
             * a backend down on purpose, the test waits for what it wants. */
            snprintf(url, sizeof url, "%s/readyz", gw->base_url);
            while (it_now_ms() < deadline) {
                int checking = it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, 1000) != 0 ||
                               (r.body != NULL && strstr(r.body, "\"rebuilding\":true") != NULL) ||
                               (r.status != 200 && r.body != NULL && strstr(r.body, "\"redis\":\"up\"") != NULL &&
                                strstr(r.body, "\"database\":\"up\"") != NULL);
                it_resp_free(&r);
                if (!checking)
                    break;
                it_sleep_ms(20);
            }
            return 0;
        }
        it_resp_free(&r);
        it_sleep_ms(50);
    }
    return -1;
}

int it_gateway_restart(it_gateway_t *gw, int ready_ms)
{
    if (gateway_spawn(gw) != 0)
        return -1;
    int rc = gateway_wait_ready(gw, ready_ms);
    if (rc == 0)
        return 0;
    if (rc == -2)
        fprintf(stderr, "it_proc: %s exited before it was ready on %s\n", gw->proc.name, gw->base_url);
    else
        fprintf(stderr, "it_proc: %s not ready on %s within %d ms\n", gw->proc.name, gw->base_url, ready_ms);
    it_proc_log_tail(&gw->proc, 40);
    it_proc_kill(&gw->proc);
    return rc;
}

int it_gateway_start(it_gateway_t *gw, int ready_ms)
{
    memset(gw, 0, sizeof *gw);
    if (random_hex(gw->admin_token, 32) != 0)
        return -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        gw->port = it_free_port();
        gw->http_port = it_free_port();
        if (gw->port < 0 || gw->http_port < 0 || gw->port == gw->http_port)
            continue;
        int rc = it_gateway_restart(gw, ready_ms);
        if (rc != -2) /* -2: died at once, perhaps a port taken in between: try others */
            return rc;
    }
    return -1;
}

int it_worker_start(it_proc_t *w, const char *consumer)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return -1;
    memset(w, 0, sizeof *w);
    char bin[PATH_MAX], redis_port[16], db_port[16];
    snprintf(bin, sizeof bin, "%s/bin/tk-worker", env->build);
    /* IT_WK_REDIS_PORT: a test's own Redis (it_wait's master with a replica) */
    const char *via = getenv("IT_WK_REDIS_PORT");
    snprintf(redis_port, sizeof redis_port, "%d", via != NULL ? atoi(via) : env->redis_port);
    snprintf(db_port, sizeof db_port, "%d", env->db_port);
    snprintf(w->name, sizeof w->name, "tk-worker-%s-%d-%d", consumer, (int)getpid(), ++log_seq);
    snprintf(w->log_path, sizeof w->log_path, "%s/%s.log", env->it_dir, w->name);
    char *const argv[] = {bin, "--redis-port", redis_port, "--db-port", db_port, "--db-user", (char *)env->db_user, "--db-name",
                          (char *)env->db_name, "--db-password-file", (char *)env->db_password_file, "--consumer",
                          (char *)consumer, NULL};
    if (spawn(w, argv, NULL) != 0)
        return -1;
    /* A worker has no health route: it counts as started when it is still up a moment later. */
    it_sleep_ms(200);
    if (!it_proc_alive(w)) {
        fprintf(stderr, "it_proc: %s exited at start\n", w->name);
        it_proc_log_tail(w, 40);
        return -1;
    }
    return 0;
}

pid_t it_service_pid(const char *pidfile)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return -1;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", env->it_dir, pidfile);
    FILE *fp = fopen(path, "r");
    long pid = -1;
    if (fp != NULL) {
        if (fscanf(fp, "%ld", &pid) != 1)
            pid = -1;
        fclose(fp);
    }
    return (pid_t)pid;
}

int it_services(const char *cmd, int timeout_ms)
{
    const it_env_t *env = it_env();
    if (env == NULL)
        return -1;
    it_proc_t p = {0};
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/scripts/services.sh", env->root);
    snprintf(p.name, sizeof p.name, "services.sh %s", cmd);
    snprintf(p.log_path, sizeof p.log_path, "%s/it-services.log", env->it_dir);
    char *const argv[] = {script, (char *)cmd, (char *)env->it_dir, NULL};
    if (spawn(&p, argv, NULL) != 0)
        return -1;
    int rc = it_proc_wait(&p, timeout_ms);
    if (rc == IT_EXIT_TIMEOUT) {
        fprintf(stderr, "it_proc: services.sh %s took over %d ms\n", cmd, timeout_ms);
        it_proc_kill(&p);
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "it_proc: services.sh %s exited %d\n", cmd, rc);
        it_proc_log_tail(&p, 20);
    }
    return rc;
}

int it_run_tool(const char *prog, const char *const *args, const char *outp, const char *errp, int timeout_ms)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bin/%s", it_env()->build, prog);
    char *argv[32];
    int n = 0;
    argv[n++] = path;
    for (; args[n - 1] != NULL && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (outp != NULL) {
            int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            int e = errp != NULL ? open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : o;
            if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                _exit(126);
        }
        it_proc_redis_user_env(path);
        execv(path, argv);
        _exit(127);
    }
    long long deadline = it_now_ms() + timeout_ms;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (it_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "%s: still running after %d ms: killed\n", prog, timeout_ms);
            return -1;
        }
        it_sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void it_read_file(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return;
    size_t n = fread(buf, 1, cap - 1, in);
    buf[n] = '\0';
    fclose(in);
}

pid_t it_proc_run(char *const argv[], const char *log)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the child dies with the test: no server left behind */
    if (getppid() != parent)
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0)
        _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execvp(argv[0], argv);
    dprintf(2, "it_proc: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}
