/*
 * it_redis_acl: Redis runs with ACLs (docs/DESIGN.md, "Redis ACLs";
 * scripts/services.sh writes the users).
 *
 * - Nobody can use the default user: a connection that did not
 *   authenticate is refused (NOAUTH), and so is a wrong password
 *   (WRONGPASS). It is not "off" because Redis 7.0 would then drop the
 *   AOF's MULTI/EXEC blocks at replay: a claim script's writes must survive
 *   a restart.
 * - Each component's user may run only its commands on only its keys, and
 *   nothing else (NOPERM; inside a script "can't run"/"can't access"): the
 *   gateway cannot wipe or reconfigure Redis nor read the workers' streams
 *   as a consumer; a worker cannot grant a claim (claim.lua stops at its
 *   first write, nothing changes) nor create an event (admin_create.lua);
 *   the admin user (tk-rebuild, tk-import) cannot append to a stream nor read what it
 *   has no business with. Each is allowed what it needs.
 * - A gateway whose AUTH Redis refuses counts Redis as down (/readyz 503
 *   "redis":"down") and says why in its log; so does a worker. A password
 *   file others may read is refused at start.
 * - Files: the data directories are 0700, the AOF, the database files and
 *   the secrets are readable by their owner only.
 * - With every component as its own user, a claim goes through the gateway,
 *   the worker stores it, and the admin routes work (the whole integration
 *   suite runs this way; this is the short proof inside this binary).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_lua.h"

#define LOG_MS 10000
#define DRAIN_MS 20000

/* Sends the NULL-terminated arguments on @c; the reply (NULL when the connection failed) is the caller's. */
static redisReply *cmd(redisContext *c, ...)
{
    const char *argv[32];
    int n = 0;
    va_list ap;
    va_start(ap, c);
    for (const char *a; n < 32 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    return redisCommandArgv(c, n, argv, NULL);
}

/* Asserts that @rep is an error reply holding @want, and frees it. */
static void refused(redisReply *rep, const char *want, const char *what)
{
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_ERROR || strstr(rep->str, want) == NULL)
        fprintf(stderr, "%s: expected an error with \"%s\", got type %d: %s\n", what, want, rep->type,
                rep->type == REDIS_REPLY_ERROR || rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING ? rep->str : "");
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(rep->str, want));
    freeReplyObject(rep);
}

/* Asserts that @rep is not an error (the command was allowed), and frees it. */
static void allowed(redisReply *rep, const char *what)
{
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "%s: refused: %s\n", what, rep->str);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
}

#define NOPERM_CMD "NOPERM this user has no permissions to run"
#define NOPERM_KEY "NOPERM this user has no permissions to access one of the keys"
#define SCRIPT_CMD "can't run this command"

/* A Redis 7 EVAL of lua/@name.lua's text with the given keys then args (@nkeys of @n). */
static redisReply *eval_script(redisContext *c, const char *name, int nkeys, int n, const char **args)
{
    const char *text = tk_lua_find(name);
    assert_non_null(text);
    const char *argv[32];
    char nk[8];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = text;
    argv[2] = nk;
    for (int i = 0; i < n && i < 29; i++)
        argv[3 + i] = args[i];
    return redisCommandArgv(c, 3 + n, argv, NULL);
}

static void default_user_is_refused(void **st)
{
    (void)st;
    redisContext *c = it_redis_connect_as(NULL);
    assert_non_null(c);
    refused(cmd(c, "PING", NULL), "NOAUTH", "PING without AUTH");
    refused(cmd(c, "GET", "tk:events", NULL), "NOAUTH", "GET without AUTH");
    refused(cmd(c, "AUTH", "nopass-guess", NULL), "WRONGPASS", "AUTH as the default user");
    refused(cmd(c, "AUTH", "default", "", NULL), "WRONGPASS", "AUTH default with an empty password");
    refused(cmd(c, "AUTH", "tk-gateway", "not-the-password", NULL), "WRONGPASS", "AUTH tk-gateway with a wrong password");
    refused(cmd(c, "PING", NULL), "NOAUTH", "PING after refused AUTHs");
    redisFree(c);
}

static void gateway_user_runs_only_its_commands(void **st)
{
    (void)st;
    redisContext *c = it_redis_connect_as("gateway");
    assert_non_null(c);
    /* What it needs: /readyz, the events list, /metrics, the claim script. */
    allowed(cmd(c, "PING", NULL), "gateway PING");
    allowed(cmd(c, "SMEMBERS", "tk:events", NULL), "gateway SMEMBERS tk:events");
    allowed(cmd(c, "HGETALL", "tk:wk:stats", NULL), "gateway HGETALL tk:wk:stats");
    allowed(cmd(c, "RPUSH", "tk:lb:{acl-gw}:drop", "1", NULL), "gateway RPUSH of a board's drop list (lb_write.lua)");
    allowed(cmd(c, "LPOP", "tk:lb:{acl-gw}:drop", NULL), "gateway LPOP of a board's drop list (lb_write.lua)");
    const char *keys[] = {"tk:{acl-gw}:ev", "tk:{acl-gw}:claims", "tk:{acl-gw}:q", "1", "0", "m", "u-1", "1"};
    redisReply *r = eval_script(c, "claim", 3, 8, keys);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY); /* {"not_found"}: the script ran */
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "not_found");
    freeReplyObject(r);
    /* Not its business. */
    refused(cmd(c, "FLUSHALL", NULL), NOPERM_CMD, "gateway FLUSHALL");
    refused(cmd(c, "CONFIG", "GET", "dir", NULL), NOPERM_CMD, "gateway CONFIG GET");
    refused(cmd(c, "KEYS", "*", NULL), NOPERM_CMD, "gateway KEYS");
    refused(cmd(c, "SCRIPT", "FLUSH", NULL), NOPERM_CMD, "gateway SCRIPT FLUSH");
    refused(cmd(c, "XREADGROUP", "GROUP", "wk", "intruder", "STREAMS", "tk:{acl-gw}:q", ">", NULL), NOPERM_CMD,
            "gateway XREADGROUP (the workers' command)");
    refused(cmd(c, "HSET", "tk:wk:stats", "x:rows", "1", NULL), NOPERM_KEY, "gateway HSET on the workers' counters");
    refused(cmd(c, "HGET", "other:key", "f", NULL), NOPERM_KEY, "gateway HGET outside its keys");
    refused(cmd(c, "EVAL", "return redis.call('FLUSHALL')", "0", NULL), SCRIPT_CMD, "gateway FLUSHALL inside a script");
    redisFree(c);
}

static void worker_user_runs_only_its_commands(void **st)
{
    (void)st;
    redisContext *t = it_redis_connect();
    redisContext *c = it_redis_connect_as("worker");
    assert_non_null(t);
    assert_non_null(c);
    const char *ev = "tk:{acl-wk}:ev", *claims = "tk:{acl-wk}:claims", *q = "tk:{acl-wk}:q";
    allowed(cmd(t, "DEL", ev, claims, q, NULL), "test DEL");
    allowed(cmd(t, "HSET", ev, "name", "acl", "state", "open", "total", "5", "remaining", "5", "maxpu", "1", "opens", "0", "closes", "0",
                "seq", "0", NULL),
            "test HSET event");
    /* What it needs: discovery, its group, its counters. */
    allowed(cmd(c, "SMEMBERS", "tk:events", NULL), "worker SMEMBERS tk:events");
    allowed(cmd(c, "XGROUP", "CREATE", q, "wk", "0", "MKSTREAM", NULL), "worker XGROUP CREATE");
    allowed(cmd(c, "XREADGROUP", "GROUP", "wk", "acl-w", "COUNT", "1", "STREAMS", q, ">", NULL), "worker XREADGROUP");
    allowed(cmd(c, "HINCRBY", "tk:wk:stats", "acl-w:rows", "1", NULL), "worker HINCRBY tk:wk:stats");
    allowed(cmd(c, "HDEL", "tk:wk:stats", "acl-w:rows", NULL), "worker HDEL tk:wk:stats");
    /* It cannot grant a claim: claim.lua stops at its first write, nothing changed. */
    const char *ckeys[] = {ev, claims, q, "1", "0", "m", "u-1", "1"};
    refused(eval_script(c, "claim", 3, 8, ckeys), SCRIPT_CMD, "worker running claim.lua");
    assert_int_equal(it_redis_ev_int(t, "acl-wk", "remaining", -1), 5);
    assert_int_equal(it_redis_ev_int(t, "acl-wk", "seq", -1), 0);
    assert_int_equal(it_redis_claims_count(t, "acl-wk"), 0);
    assert_int_equal(it_redis_xlen(t, "acl-wk"), 0);
    refused(cmd(c, "XADD", q, "*", "u", "u-1", NULL), NOPERM_CMD, "worker XADD");
    /* Nor create an event: the admin script names the room's hash, which the worker may not touch. */
    const char *akeys[] = {"tk:{acl-new}:ev", "tk:{acl-new}:q", "tk:{acl-new}:wq", "acl-new", "n", "open", "5", "5", "1", "0", "0", "0", "0"};
    refused(eval_script(c, "admin_create", 3, 13, akeys), NOPERM_KEY, "worker running admin_create.lua");
    redisReply *r = cmd(t, "EXISTS", "tk:{acl-new}:ev", NULL);
    assert_non_null(r);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    refused(cmd(c, "SADD", "tk:events", "acl-new", NULL), NOPERM_CMD, "worker SADD tk:events");
    refused(cmd(c, "EVAL", "return redis.call('SADD', 'tk:events', 'x')", "0", NULL), SCRIPT_CMD, "worker SADD inside a script");
    refused(cmd(c, "HMGET", "tk:{acl-wk}:claims:rebuild", "u", NULL), NOPERM_KEY, "worker HMGET on a rebuild key");
    /* boards: the stream and its season counts only (lua/lb_ack.lua), tk:boards read-only */
    allowed(cmd(c, "XGROUP", "CREATE", "tk:lb:{acl-wk}:q", "wk", "0", "MKSTREAM", NULL), "worker XGROUP CREATE on a board stream");
    allowed(cmd(c, "XRANGE", "tk:lb:{acl-wk}:q", "0-1", "0-1", NULL), "worker XRANGE of a board stream (lb_ack.lua)");
    allowed(cmd(c, "HINCRBY", "tk:lb:{acl-wk}:pend", "1", "1", NULL), "worker HINCRBY of a board's pend (lb_ack.lua)");
    allowed(cmd(c, "HDEL", "tk:lb:{acl-wk}:pend", "1", NULL), "worker HDEL of a board's pend (lb_ack.lua)");
    refused(cmd(c, "HMGET", "tk:lb:{acl-wk}:drop", "x", NULL), NOPERM_KEY, "worker on a board's drop list");
    allowed(cmd(c, "SMEMBERS", "tk:boards", NULL), "worker SMEMBERS tk:boards");
    refused(cmd(c, "SADD", "tk:boards", "acl-new", NULL), NOPERM_CMD, "worker SADD tk:boards");
    refused(cmd(c, "HMGET", "tk:lb:{acl-wk}", "seq", NULL), NOPERM_KEY, "worker HMGET on a board hash");
    refused(cmd(c, "FLUSHALL", NULL), NOPERM_CMD, "worker FLUSHALL");
    refused(cmd(c, "CONFIG", "SET", "appendonly", "no", NULL), NOPERM_CMD, "worker CONFIG SET");
    allowed(cmd(t, "DEL", ev, claims, q, NULL), "test DEL");
    redisFree(c);
    redisFree(t);
}

static void admin_user_runs_only_its_commands(void **st)
{
    (void)st;
    redisContext *c = it_redis_connect_as("admin");
    assert_non_null(c);
    /* What tk-rebuild and services.sh need (a few of them). */
    allowed(cmd(c, "PING", NULL), "admin PING");
    allowed(cmd(c, "XLEN", "tk:{acl-ad}:q", NULL), "admin XLEN");
    allowed(cmd(c, "HMGET", "tk:{acl-ad}:ev", "seq", "total", NULL), "admin HMGET");
    allowed(cmd(c, "UNLINK", "tk:{acl-ad}:claims:rebuild", "tk:{acl-ad}:claims:old", NULL), "admin UNLINK");
    /* a board's rebuild (common/tk_lb_rebuild.c) */
    allowed(cmd(c, "ZADD", "tk:lb:{acl-ad}:z:1:rebuild", "-5", "m", NULL), "admin ZADD on a board's temporary zset");
    allowed(cmd(c, "UNLINK", "tk:lb:{acl-ad}:z:1:rebuild", NULL), "admin UNLINK of a board key");
    allowed(cmd(c, "SADD", "tk:boards", "acl-ad", NULL), "admin SADD tk:boards");
    allowed(cmd(c, "LRANGE", "tk:lb:{acl-ad}:drop", "0", "-1", NULL), "admin LRANGE of a board's drop list (lb_rebuild_swap.lua)");
    /* What tk-import needs: the board hash, lua/lb_import.lua's commands on a season's keys. */
    allowed(cmd(c, "HMGET", "tk:lb:{acl-ad}", "comps", "season", NULL), "admin HMGET of a board");
    allowed(cmd(c, "EVAL",
                "redis.call('HMGET', KEYS[3], 'u-1'); redis.call('ZADD', KEYS[2], '-5', 'm'); redis.call('ZREM', KEYS[2], 'm'); "
                "redis.call('HSET', KEYS[3], 'u-1', '5 0 1 0'); redis.call('TIME'); return redis.call('HGET', KEYS[1], 'last_t')",
                "3", "tk:lb:{acl-ad}", "tk:lb:{acl-ad}:z:1", "tk:lb:{acl-ad}:u:1", NULL),
            "admin lb_import.lua's commands");
    /* Not its business: the claim path, the drain, the counters, the server. */
    refused(cmd(c, "XADD", "tk:{acl-ad}:q", "*", "u", "u-1", NULL), NOPERM_CMD, "admin XADD");
    refused(cmd(c, "HSETNX", "tk:{acl-ad}:claims", "u-1", "1 1 1 p", NULL), NOPERM_CMD, "admin HSETNX");
    refused(cmd(c, "XREADGROUP", "GROUP", "wk", "x", "STREAMS", "tk:{acl-ad}:q", ">", NULL), NOPERM_CMD, "admin XREADGROUP");
    refused(cmd(c, "HGET", "tk:wk:stats", "x", NULL), NOPERM_KEY, "admin HGET of the workers' counters (HGET is tk-import's)");
    refused(cmd(c, "ZADD", "tk:{acl-ad}:pr", "1", "u-1", NULL), NOPERM_KEY, "admin ZADD outside a board (presence)");
    refused(cmd(c, "ZRANGE", "tk:lb:{acl-ad}:z:1", "0", "-1", NULL), NOPERM_CMD, "admin ZRANGE (tk-import exports from MariaDB)");
    refused(cmd(c, "HSET", "tk:wk:stats", "x", "1", NULL), NOPERM_KEY, "admin HSET on the workers' counters");
    refused(cmd(c, "SMEMBERS", "tk:events", NULL), NOPERM_CMD, "admin SMEMBERS");
    refused(cmd(c, "SCRIPT", "LOAD", "return 1", NULL), NOPERM_CMD, "admin SCRIPT LOAD");
    refused(cmd(c, "FLUSHALL", NULL), NOPERM_CMD, "admin FLUSHALL");
    refused(cmd(c, "CONFIG", "SET", "save", "", NULL), NOPERM_CMD, "admin CONFIG SET");
    refused(cmd(c, "EVAL", "return redis.call('XADD', KEYS[1], '*', 'u', 'x')", "1", "tk:{acl-ad}:q", NULL), SCRIPT_CMD,
            "admin XADD inside a script");
    redisReply *r = cmd(c, "XLEN", "tk:{acl-ad}:q", NULL);
    assert_non_null(r);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    redisFree(c);
}

/* Asserts (mode & 077) == 0 for @path, and that it exists; @dir: also a directory of mode 0700. */
static void private_path(const char *path, int dir)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fprintf(stderr, "cannot stat %s\n", path);
    assert_int_equal(stat(path, &sb), 0);
    if ((sb.st_mode & 077) != 0 || (dir && (sb.st_mode & 0777) != 0700))
        fprintf(stderr, "%s: mode %04o\n", path, (unsigned)(sb.st_mode & 07777));
    assert_int_equal(sb.st_mode & 077, 0);
    if (dir) {
        assert_true(S_ISDIR(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, 0700);
    }
}

/* Every regular file and directory under @path is private (recursively, bounded in depth). Returns how many files were seen. */
static int private_tree(const char *path, int depth)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue; /* gone meanwhile (a server's temporary file) */
        if (S_ISDIR(sb.st_mode) && depth > 0) {
            private_path(p, 1);
            files += private_tree(p, depth - 1);
        } else if (S_ISREG(sb.st_mode)) {
            private_path(p, 0);
            files++;
        }
    }
    closedir(d);
    return files;
}

static void files_are_private(void **st)
{
    (void)st;
    const it_env_t *env = it_env();
    char p[PATH_MAX];
    /* The data directories. */
    const char *dirs[] = {"redis", "redis/appendonlydir", "mariadb", "mariadb/data", "secrets"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", env->it_dir, dirs[i]);
        private_path(p, 1);
    }
    /* The AOF (and anything else Redis wrote), the database files. */
    snprintf(p, sizeof p, "%s/redis", env->it_dir);
    assert_true(private_tree(p, 1) >= 3); /* the AOF's manifest, base and incr files at least */
    snprintf(p, sizeof p, "%s/mariadb/data", env->it_dir);
    assert_true(private_tree(p, 2) >= 10);
    /* The secrets. */
    const char *secrets[] = {"db_password", "redis_gateway", "redis_worker", "redis_admin", "redis_test"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        snprintf(p, sizeof p, "%s/secrets/%s", env->it_dir, secrets[i]);
        private_path(p, 0);
    }
}

/* Waits up to LOG_MS for @needle in the log at @path; prints the log's tail when it never shows. */
static void log_shows(const it_proc_t *p, const char *needle)
{
    char line[512] = "";
    for (long long end = it_now_ms() + LOG_MS; line[0] == '\0' && it_now_ms() < end; it_sleep_ms(50))
        it_log_grep(p->log_path, needle, line, sizeof line);
    if (line[0] == '\0') {
        fprintf(stderr, "no \"%s\" in %s\n", needle, p->log_path);
        it_proc_log_tail(p, 30);
    }
    assert_true(line[0] != '\0');
}

/* A 0600 (or @mode) file in $TK_IT_DIR holding a password Redis does not know; its path into @out. */
static void wrong_password_file(char *out, size_t len, mode_t mode)
{
    snprintf(out, len, "%s/redis_wrong_%o", it_env()->it_dir, (unsigned)mode);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, "not-the-password\n", 17), 17);
    close(fd);
}

static void refused_auth_counts_as_redis_down(void **st)
{
    (void)st;
    char wrong[PATH_MAX];
    wrong_password_file(wrong, sizeof wrong, 0600);
    assert_int_equal(setenv("REDIS_PASSWORD_FILE", wrong, 1), 0);

    /* The gateway: up (liveness), not ready, and says why. */
    assert_int_equal(setenv("REDIS_USER", "tk-gateway", 1), 0);
    it_gateway_t gw;
    int started = it_gateway_start(&gw, IT_READY_MS);
    unsetenv("REDIS_USER");
    assert_int_equal(started, 0);
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", gw.base_url);
    it_resp_t r;
    assert_int_equal(it_http(&r, IT_HTTP1, "GET", url, NULL, NULL, 0, IT_TIMEOUT_MS), 0);
    if (r.status != 503 || r.body == NULL || strstr(r.body, "\"redis\":\"down\"") == NULL)
        it_show("/readyz with a refused AUTH", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"redis\":\"down\""));
    it_resp_free(&r);
    log_shows(&gw.proc, "refused AUTH as tk-gateway: WRONGPASS");
    assert_int_equal(it_proc_stop(&gw.proc, IT_STOP_MS), 0);

    /* A worker: keeps trying, and says why. */
    assert_int_equal(setenv("REDIS_USER", "tk-worker", 1), 0);
    it_proc_t w;
    started = it_worker_start(&w, "acl-wrong");
    assert_int_equal(started, 0);
    log_shows(&w, "refused AUTH as tk-worker: WRONGPASS");
    assert_int_equal(it_proc_stop(&w, IT_STOP_MS), 0);

    /* A password file others may read: refused at start. */
    wrong_password_file(wrong, sizeof wrong, 0644);
    assert_int_equal(setenv("REDIS_PASSWORD_FILE", wrong, 1), 0);
    started = it_worker_start(&w, "acl-0644");
    unsetenv("REDIS_USER");
    unsetenv("REDIS_PASSWORD_FILE");
    assert_int_equal(started, -1);
    log_shows(&w, "group or others may access it");
}

/*
 * Redis 7.0 replays the AOF's MULTI/EXEC blocks (how a script's writes are
 * logged) as the default user and re-checks that user's ACL at EXEC: with
 * the default user off it drops them silently (redis/redis#14545, fixed
 * after 7.0), and a restart would lose every granted claim. A claim
 * written by claim.lua must still be there after Redis restarts from its AOF.
 */
static void aof_replay_keeps_script_writes(void **st)
{
    (void)st;
    redisContext *t = it_redis_connect();
    assert_non_null(t);
    const char *ev = "tk:{acl-aof}:ev", *claims = "tk:{acl-aof}:claims", *q = "tk:{acl-aof}:q";
    allowed(cmd(t, "DEL", ev, claims, q, NULL), "test DEL");
    allowed(cmd(t, "HSET", ev, "name", "acl", "state", "open", "total", "5", "remaining", "5", "maxpu", "1", "opens", "0", "closes", "0",
                "seq", "0", NULL),
            "test HSET event");
    const char *ckeys[] = {ev, claims, q, "1", "0", "m", "u-aof", "1"};
    redisReply *r = eval_script(t, "claim", 3, 8, ckeys);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "N");
    freeReplyObject(r);
    redisFree(t);

    assert_int_equal(it_services("stop-redis", IT_SVC_MS), 0);
    assert_int_equal(it_services("start-redis", IT_SVC_MS), 0);
    t = it_redis_connect();
    assert_non_null(t);
    long long seq = it_redis_ev_int(t, "acl-aof", "seq", -1), remaining = it_redis_ev_int(t, "acl-aof", "remaining", -1);
    long long nclaims = it_redis_claims_count(t, "acl-aof"), xlen = it_redis_xlen(t, "acl-aof");
    if (seq != 1 || remaining != 4 || nclaims != 1 || xlen != 1)
        fprintf(stderr, "after the AOF replay: seq %lld remaining %lld claims %lld stream %lld (want 1 4 1 1)\n", seq, remaining, nclaims,
                xlen);
    assert_int_equal(seq, 1);
    assert_int_equal(remaining, 4);
    assert_int_equal(nclaims, 1);
    assert_int_equal(xlen, 1);
    allowed(cmd(t, "DEL", ev, claims, q, NULL), "test DEL");
    redisFree(t);
}

static void components_work_as_their_users(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_new_event(f, ev, sizeof ev, "acl", 3, 1);      /* admin route: admin_create.lua */
    it_claim_expect(f, ev, "u-acl", 1, 201);          /* claim.lua */
    it_resp_t r;
    int drained = it_api_wait_drained(&r, f, ev, DRAIN_MS); /* the worker: XREADGROUP, confirm.lua; admin_view.lua */
    if (drained != 0)
        it_show("admin view", &r);
    it_resp_free(&r);
    assert_int_equal(drained, 0);
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/u-acl", ev), 0);
    if (r.status != 200 || it_json_str(r.json, "status") == NULL || strcmp(it_json_str(r.json, "status"), "confirmed") != 0)
        it_show("status", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "status"), "confirmed");
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "DELETE", NULL, "/v1/admin/events/%s/claims/u-acl", ev), 0); /* admin_cancel.lua */
    if (r.status != 200)
        it_show("cancel", &r);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    assert_int_equal(it_api_remaining(f, ev), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_user_is_refused),
        cmocka_unit_test(gateway_user_runs_only_its_commands),
        cmocka_unit_test(worker_user_runs_only_its_commands),
        cmocka_unit_test(admin_user_runs_only_its_commands),
        cmocka_unit_test(files_are_private),
        cmocka_unit_test(refused_auth_counts_as_redis_down),
        cmocka_unit_test(aof_replay_keeps_script_writes),
        cmocka_unit_test_setup_teardown(components_work_as_their_users, it_fix_new1, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_redis_acl", tests, it_group_setup, NULL);
}
