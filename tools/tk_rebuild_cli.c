/*
 * tk-rebuild: rebuild events' Redis state from MariaDB on demand
 * (common/tk_rebuild.h, docs/REBUILD.md).
 *
 *   tk-rebuild --event ID | --board ID | --all [--wait-drain-ms N] [backend flags]
 *
 * Per event: waits (up to --wait-drain-ms) while its stream still holds
 * entries the workers have not written to MariaDB, retries a swap refused
 * because a claim or an admin change arrived meanwhile (up to --retries
 * times), reconnects once per failure of a lost connection. Prints one line
 * per event; exits 0 when every event was rebuilt, 1 when one was not,
 * 2 on bad usage or when a backend cannot be reached at all.
 *
 * --board ID rebuilds one leaderboard (common/tk_lb_rebuild.h) with the
 * same waits and retries: its hash, seasons, the current season's and the
 * kept closed seasons' zsets and users hashes, tk:boards and the group.
 */
#include "tk_backend.h"
#include "tk_db.h"
#include "tk_lb_rebuild.h"
#include "tk_opt.h"
#include "tk_keys.h"
#include "tk_rcluster.h"
#include "tk_rebuild.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_TIMEOUT_S 20 /* connect; reads and writes x3 (a lock wait fits inside) */
#define REDIS_TIMEOUT_S 30
#define DRAIN_POLL_MS 100
#define MAX_EVENTS 100000 /* --all: more than this many events is refused */

typedef struct {
    tk_backend_t backend;
    const char *event;
    const char *board;
    const char *var_dir;
    int all;
    long wait_drain_ms;
    long retries;
    const char *redis_cluster; /* REDIS_CLUSTER as given: parsed into backend.redis_seeds */
} cfg_t;

typedef struct {
    const cfg_t *cfg;
    MYSQL *db;
    tk_rcluster_t rcl;   /* the Redis connections (one, or one per master of a cluster) */
    redisContext *redis; /* the one for the event or board at hand: rcl's, never freed here */
} conn_t;

static int connect_db(conn_t *c)
{
    char err[512];
    if (c->db != NULL)
        mysql_close(c->db);
    tk_db_conf_t dc = tk_backend_db(&c->cfg->backend, DB_TIMEOUT_S);
    c->db = tk_db_connect(&dc, err, sizeof(err));
    if (c->db == NULL)
        fprintf(stderr, "tk-rebuild: %s\n", err);
    return c->db != NULL ? 0 : -1;
}

/*
 * The connection to the Redis that holds event or board @id's keys (all in
 * the slot of its tag {id}); with @id NULL, just reach Redis (a cluster: read
 * its map). On a single Redis it is the one connection, kept across ids.
 */
static int connect_redis(conn_t *c, const char *id)
{
    char tag[TK_ID_MAX + 3];
    int n = snprintf(tag, sizeof(tag), "{%s}", id != NULL ? id : "");
    if (id == NULL)
        c->redis = tk_rcluster_refresh(&c->rcl) == 0 ? tk_rcluster_key_ctx(&c->rcl, tag, (size_t)n) : NULL;
    else
        c->redis = tk_rcluster_key_ctx(&c->rcl, tag, (size_t)n);
    if (c->redis == NULL) {
        fprintf(stderr, "tk-rebuild: Redis: %s\n", c->rcl.errstr);
        return -1;
    }
    return 0;
}

/* Forgets the Redis connection after a failure: @lost, dropped (the next pass connects again); a MOVED or ASK met on a
 * cluster (in @err), the map read again. 1 when the pass should be retried. */
static int redis_failed(conn_t *c, int lost, const char *err)
{
    int redirected = tk_rcluster_is_cluster(&c->rcl) && (strstr(err, "MOVED ") != NULL || strstr(err, "ASK ") != NULL);
    if (lost && c->redis != NULL)
        tk_rcluster_drop_ctx(&c->rcl, c->redis);
    if (redirected)
        tk_rcluster_refresh(&c->rcl);
    if (lost || redirected)
        c->redis = NULL;
    return lost || redirected;
}

/*
 * On a cluster the registries (tk:events, tk:boards, tk:wq:rooms) live in
 * their own slots, not the event's or board's: each SADD goes to its set's
 * master by tk_rcluster_cmd, and the rebuild is told to send none
 * (TK_REBUILD_NO_REGISTRY; the gateway's rebuild check does the same).
 * Before the rebuild for tk:events and tk:boards (a listed id whose keys are
 * missing is tolerated by every reader; a rebuilt event nobody lists would
 * never be drained), after it for tk:wq:rooms, as lua/rebuild_swap.lua's
 * header says. The client may drop connections on the way, so the
 * item's connection is asked for again afterwards. 0, or -1 with @err.
 */
static int registry_add(conn_t *c, const char *set, const char *id, char *err, size_t errlen)
{
    const char *argv[] = {"SADD", set, id};
    size_t lens[] = {4, strlen(set), strlen(id)};
    redisReply *r = tk_rcluster_cmd(&c->rcl, set, strlen(set), 3, argv, lens);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    if (!ok)
        snprintf(err, errlen, "Redis SADD %s: %.200s", set, r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : c->rcl.errstr);
    freeReplyObject(r);
    c->redis = NULL;
    return ok ? 0 : -1;
}

/* One event, with the waits and retries above. Returns 0 when rebuilt. */
static int rebuild_one(conn_t *c, const char *event)
{
    const cfg_t *cfg = c->cfg;
    int64_t start = tk_time_mono_ms();
    long conflicts = 0, reconnects = 0;
    tk_rebuild_stats_t st;
    char err[512] = "";
    int rc = TK_REBUILD_ERR_REDIS;
    c->redis = NULL; /* the event's own master's (the same connection on a single Redis) */
    /* Bounded: each pass either returns, sleeps towards the drain deadline, or uses up a retry or a reconnect. */
    for (;;) {
        if ((c->redis == NULL && connect_redis(c, event) != 0) || (c->db == NULL && connect_db(c) != 0)) {
            snprintf(err, sizeof(err), "cannot connect");
            rc = c->redis == NULL ? TK_REBUILD_ERR_REDIS : TK_REBUILD_ERR_DB;
        } else if (!tk_rcluster_is_cluster(&c->rcl)) {
            rc = tk_rebuild_event(c->db, c->redis, event, &st, err, sizeof(err));
        } else if (registry_add(c, TK_KEY_EVENTS, event, err, sizeof(err)) != 0 || connect_redis(c, event) != 0) {
            if (c->redis == NULL && strncmp(err, "Redis SADD", 10) != 0)
                snprintf(err, sizeof(err), "cannot connect");
            rc = TK_REBUILD_ERR_REDIS;
        } else {
            rc = tk_rebuild_event_ex(c->db, c->redis, event, TK_REBUILD_NO_REGISTRY, &st, err, sizeof(err));
            char werr[256];
            if (rc == TK_REBUILD_OK && st.wr_on && registry_add(c, TK_KEY_WQ_ROOMS, event, werr, sizeof(werr)) != 0)
                fprintf(stderr, "tk-rebuild: event %s: its waiting room not listed (%s); its next join or admin change lists it\n", event,
                        werr);
        }
        if (rc == TK_REBUILD_OK)
            break;
        if (rc == TK_REBUILD_NOT_DRAINED && tk_time_mono_ms() - start < cfg->wait_drain_ms) {
            tk_time_sleep_ms(DRAIN_POLL_MS, NULL);
            continue;
        }
        if (rc == TK_REBUILD_CONFLICT && conflicts++ < cfg->retries) {
            tk_time_sleep_ms(10 * conflicts, NULL);
            continue;
        }
        if (rc == TK_REBUILD_ERR_DB && st.db_errno != 0 && tk_db_classify(st.db_errno) == TK_DB_RETRY && conflicts++ < cfg->retries) {
            tk_time_sleep_ms(10 * conflicts, NULL);
            continue;
        }
        int lost_db = rc == TK_REBUILD_ERR_DB && (c->db == NULL || tk_db_classify(st.db_errno) == TK_DB_RECONNECT);
        int lost_redis = rc == TK_REBUILD_ERR_REDIS && (c->redis == NULL || c->redis->err != 0);
        if ((lost_db || (rc == TK_REBUILD_ERR_REDIS && redis_failed(c, lost_redis, err))) && reconnects++ < cfg->retries) {
            if (lost_db && c->db != NULL) {
                mysql_close(c->db);
                c->db = NULL;
            }
            tk_time_sleep_ms(200 * reconnects, NULL);
            continue;
        }
        break;
    }
    if (rc != TK_REBUILD_OK) {
        printf("event %s: FAILED %s: %s (after %lld ms, %ld conflicts)\n", event, tk_rebuild_rc_name(rc), err,
               (long long)(tk_time_mono_ms() - start), conflicts);
        fflush(stdout);
        return -1;
    }
    double rate = st.ms_total > 0 ? (double)st.claims * 1000.0 / (double)st.ms_total : 0.0;
    printf("event %s: rebuilt %llu claims in %lld ms (%.0f claims/s; read %lld, check %lld, load %lld, swap %lld ms); total %llu sold "
           "%llu remaining %llu seq %llu; waited %lld ms, %ld conflicts\n",
           event, (unsigned long long)st.claims, (long long)st.ms_total, rate, (long long)st.ms_read, (long long)st.ms_check,
           (long long)st.ms_load, (long long)st.ms_swap, (unsigned long long)st.total, (unsigned long long)st.sold,
           (unsigned long long)st.remaining, (unsigned long long)st.seq, (long long)(tk_time_mono_ms() - start - st.ms_total),
           conflicts);
    if (st.prio > 0) /* a line of its own: the line above keeps its shape for whoever reads it */
        printf("event %s: priority snapshot: %llu users copied in %lld ms\n", event, (unsigned long long)st.prio, (long long)st.ms_prio);
    fflush(stdout);
    return 0;
}

/* One board, with the waits and retries of rebuild_one. Returns 0 when rebuilt. */
static int rebuild_board(conn_t *c, const char *board)
{
    const cfg_t *cfg = c->cfg;
    int64_t start = tk_time_mono_ms();
    long conflicts = 0, reconnects = 0;
    tk_lb_rebuild_stats_t st;
    memset(&st, 0, sizeof(st));
    char err[512] = "";
    int rc = TK_REBUILD_ERR_REDIS;
    c->redis = NULL; /* the board's own master's (the same connection on a single Redis) */
    /* Bounded: each pass returns, sleeps towards the drain deadline, or uses up a retry or a reconnect. */
    for (;;) {
        if ((c->redis == NULL && connect_redis(c, board) != 0) || (c->db == NULL && connect_db(c) != 0)) {
            snprintf(err, sizeof(err), "cannot connect");
            rc = c->redis == NULL ? TK_REBUILD_ERR_REDIS : TK_REBUILD_ERR_DB;
        } else if (!tk_rcluster_is_cluster(&c->rcl)) {
            rc = tk_lb_rebuild_board(c->db, c->redis, board, &st, err, sizeof(err));
        } else if (registry_add(c, TK_KEY_BOARDS, board, err, sizeof(err)) != 0 || connect_redis(c, board) != 0) {
            if (c->redis == NULL && strncmp(err, "Redis SADD", 10) != 0)
                snprintf(err, sizeof(err), "cannot connect");
            rc = TK_REBUILD_ERR_REDIS;
        } else {
            rc = tk_lb_rebuild_board_ex(c->db, c->redis, board, TK_LB_REBUILD_NO_REGISTRY, &st, err, sizeof(err));
        }
        if (rc == TK_REBUILD_OK)
            break;
        if (rc == TK_REBUILD_NOT_DRAINED && tk_time_mono_ms() - start < cfg->wait_drain_ms) {
            tk_time_sleep_ms(DRAIN_POLL_MS, NULL);
            continue;
        }
        if (rc == TK_REBUILD_CONFLICT && conflicts++ < cfg->retries) {
            tk_time_sleep_ms(10 * conflicts, NULL);
            continue;
        }
        int lost_db = rc == TK_REBUILD_ERR_DB && (c->db == NULL || tk_db_classify(st.db_errno) == TK_DB_RECONNECT);
        int lost_redis = rc == TK_REBUILD_ERR_REDIS && (c->redis == NULL || c->redis->err != 0);
        if ((lost_db || (rc == TK_REBUILD_ERR_REDIS && redis_failed(c, lost_redis, err))) && reconnects++ < cfg->retries) {
            if (lost_db && c->db != NULL) {
                mysql_close(c->db);
                c->db = NULL;
            }
            tk_time_sleep_ms(200 * reconnects, NULL);
            continue;
        }
        break;
    }
    if (rc != TK_REBUILD_OK) {
        const char *code = rc == TK_REBUILD_UNKNOWN_EVENT ? "unknown_board" : tk_rebuild_rc_name(rc);
        printf("board %s: FAILED %s: %s (after %lld ms, %ld conflicts)\n", board, code, err, (long long)(tk_time_mono_ms() - start), conflicts);
        fflush(stdout);
        return -1;
    }
    double rate = st.ms_total > 0 ? (double)st.rows * 1000.0 / (double)st.ms_total : 0.0;
    printf("board %s: rebuilt %llu rows in %lld ms (%.0f rows/s; check %lld, read %lld, load %lld, swap %lld ms); season %u with %llu users, "
           "%u seasons, seq %llu, last_t %llu\n",
           board, (unsigned long long)st.rows, (long long)st.ms_total, rate, (long long)st.ms_check, (long long)st.ms_read, (long long)st.ms_load,
           (long long)st.ms_swap, st.season, (unsigned long long)st.current, st.seasons, (unsigned long long)st.seq,
           (unsigned long long)st.last_t);
    fflush(stdout);
    return 0;
}

/* Every event id in MariaDB, sorted; NULL-terminated, malloc'ed. */
static char **list_events(conn_t *c, size_t *n)
{
    *n = 0;
    if (mysql_query(c->db, "SELECT event_id FROM events ORDER BY event_id") != 0) {
        fprintf(stderr, "tk-rebuild: list events: %s\n", mysql_error(c->db));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(c->db);
    if (res == NULL) {
        fprintf(stderr, "tk-rebuild: list events: %s\n", mysql_error(c->db));
        return NULL;
    }
    uint64_t rows = mysql_num_rows(res);
    if (rows > MAX_EVENTS) {
        fprintf(stderr, "tk-rebuild: %llu events: more than %d, rebuild them with --event\n", (unsigned long long)rows, MAX_EVENTS);
        mysql_free_result(res);
        mysql_rollback(c->db);
        return NULL;
    }
    char **ids = calloc((size_t)rows + 1, sizeof(*ids));
    MYSQL_ROW row;
    while (ids != NULL && *n < rows && (row = mysql_fetch_row(res)) != NULL) {
        ids[*n] = strdup(row[0] != NULL ? row[0] : "");
        if (ids[*n] == NULL)
            break;
        (*n)++;
    }
    mysql_free_result(res);
    mysql_rollback(c->db);
    if (ids == NULL || *n < rows) {
        fprintf(stderr, "tk-rebuild: out of memory\n");
        for (size_t i = 0; ids != NULL && i < *n; i++)
            free(ids[i]);
        free(ids);
        return NULL;
    }
    return ids;
}

int main(int argc, char **argv)
{
    cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    tk_backend_defaults(&cfg.backend);
    cfg.var_dir = "var";
    cfg.wait_drain_ms = 30000;
    cfg.retries = 10;
    const tk_opt_t opts[] = {
        {"--event", NULL, TK_OPT_STR, &cfg.event, 0, 0, "the event to rebuild"},
        {"--board", NULL, TK_OPT_STR, &cfg.board, 0, 0, "the leaderboard to rebuild"},
        {"--all", NULL, TK_OPT_FLAG, &cfg.all, 0, 0, "rebuild every event in MariaDB"},
        {"--wait-drain-ms", "REBUILD_WAIT_DRAIN_MS", TK_OPT_INT, &cfg.wait_drain_ms, 0, 86400000,
         "wait this long for the workers to drain an event's stream"},
        {"--retries", "REBUILD_RETRIES", TK_OPT_INT, &cfg.retries, 0, 1000, "retries of a refused swap, and reconnects"},
        {"--var-dir", "VAR_DIR", TK_OPT_STR, &cfg.var_dir, 0, 0, "default place of secrets/db_password"},
        TK_BACKEND_OPTS(&cfg.backend),
        TK_BACKEND_CLUSTER_OPT(&cfg.redis_cluster),
    };
    const size_t nopts = TK_OPT_COUNT(opts);
    char err[512];
    int prc = tk_opt_parse(opts, nopts, argc, argv, err, sizeof(err));
    if (prc == 1)
        return 0;
    if (prc != 0 || tk_backend_check(&cfg.backend, err, sizeof(err)) != 0 || tk_backend_cluster(&cfg.backend, cfg.redis_cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-rebuild: %s\n", err);
        return 2;
    }
    if ((cfg.event != NULL) + (cfg.board != NULL) + (cfg.all != 0) != 1) {
        fprintf(stderr, "tk-rebuild: give exactly one of --event ID, --board ID and --all\n");
        tk_opt_usage(stderr, "tk-rebuild", opts, nopts);
        return 2;
    }
    if (cfg.event != NULL && !tk_valid_event_id(cfg.event, strlen(cfg.event))) {
        fprintf(stderr, "tk-rebuild: --event %s: not a valid event id\n", cfg.event);
        return 2;
    }
    if (cfg.board != NULL && !tk_valid_event_id(cfg.board, strlen(cfg.board))) {
        fprintf(stderr, "tk-rebuild: --board %s: not a valid board id\n", cfg.board);
        return 2;
    }
    if (tk_backend_read_password(&cfg.backend, cfg.var_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-rebuild: %s\n", err);
        return 2;
    }
    conn_t c;
    memset(&c, 0, sizeof(c));
    c.cfg = &cfg;
    if (tk_rcluster_init(&c.rcl, &cfg.backend, REDIS_TIMEOUT_S * 1000) != 0) {
        fprintf(stderr, "tk-rebuild: %s\n", c.rcl.errstr);
        return 2;
    }
    if (connect_db(&c) != 0 || connect_redis(&c, NULL) != 0) {
        if (c.db != NULL)
            mysql_close(c.db);
        tk_rcluster_free(&c.rcl);
        return 2;
    }
    int failed = 0;
    if (cfg.event != NULL) {
        failed = rebuild_one(&c, cfg.event) != 0;
    } else if (cfg.board != NULL) {
        failed = rebuild_board(&c, cfg.board) != 0;
    } else {
        size_t n = 0;
        char **ids = list_events(&c, &n);
        if (ids == NULL) {
            failed = 1;
        } else {
            int64_t t0 = tk_time_mono_ms();
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) {
                if (rebuild_one(&c, ids[i]) != 0)
                    bad++;
                free(ids[i]);
            }
            free(ids);
            printf("%zu events: %zu rebuilt, %zu failed, %lld ms\n", n, n - bad, bad, (long long)(tk_time_mono_ms() - t0));
            failed = bad > 0;
        }
    }
    if (c.db != NULL)
        mysql_close(c.db);
    tk_rcluster_free(&c.rcl);
    return failed ? 1 : 0;
}
