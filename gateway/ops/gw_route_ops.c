/*
 * Operations routes: GET /healthz (the process runs), GET /readyz (Redis
 * and MariaDB answer) and GET /metrics (Prometheus text).
 */
#include "gw_admitter.h"
#include "gw_conn.h"
#include "gw_dbpool.h"
#include "gw_fallback_grant.h"
#include "gw_journal.h"
#include "gw_peers.h"
#include "gw_failover.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_routes.h"

#include "tk_json.h"
#include "tk_keys.h"
#include "tk_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_route_healthz(gw_req_t *r)
{
    static const char body[] = "{\"status\":\"ok\"}";
    gw_reply(r, 200, body, sizeof(body) - 1, NULL);
}

#define PATHS_SHOWN 64 /* events listed by /readyz and /metrics, at most */

/* Writes one event's path at @out (room @cap); @first: the first one written. Returns as snprintf. */
typedef int (*event_path_fn)(char *out, size_t cap, int first, const char *id, const char *path);

/*
 * Appends, from out[len], one entry per tracked event (the first
 * PATHS_SHOWN) written by @fn, keeping @reserve bytes of @cap free; stops
 * at the first that does not fit. Returns the new length.
 */
static size_t append_event_paths(gw_server_t *srv, char *out, size_t len, size_t cap, size_t reserve, event_path_fn fn)
{
    static __thread char ids[PATHS_SHOWN][TK_ID_MAX + 1];
    size_t n = gw_journal_events(srv->journal, ids, PATHS_SHOWN, 0);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        gw_journal_info_t info;
        if (gw_journal_info(srv->journal, ids[i], strlen(ids[i]), &info) != 0)
            continue;
        int w = fn(out + len, cap - len, first, ids[i], gw_evmode_name(info.evmode));
        if (w < 0 || (size_t)w >= cap - len - reserve)
            break;
        len += (size_t)w;
        first = 0;
    }
    return len;
}

/* Event ids are [a-z0-9_-]: nothing to escape. */
static int path_json(char *out, size_t cap, int first, const char *id, const char *path)
{
    return snprintf(out, cap, "%s\"%s\":\"%s\"", first ? "" : ",", id, path);
}

static int path_metric(char *out, size_t cap, int first, const char *id, const char *path)
{
    (void)first;
    return snprintf(out, cap, "tk_event_path{event=\"%s\",path=\"%s\"} 1\n", id, path);
}

/*
 * ,"path":"<mode>","paths":{"<event>":"<path>",…} for /readyz: the
 * gateway-wide mode and each tracked event's path (the first PATHS_SHOWN).
 */
static size_t paths_json(gw_server_t *srv, char *out, size_t cap)
{
    int w = snprintf(out, cap, ",\"path\":\"%s\",\"paths\":{", gw_mode_name(gw_journal_mode(srv->journal)));
    if (w < 0 || (size_t)w >= cap)
        return 0;
    size_t len = append_event_paths(srv, out, (size_t)w, cap, 2, path_json); /* room for "}" and the NUL */
    out[len++] = '}';
    out[len] = '\0';
    return len;
}

static void readyz_answer(gw_req_t *r, int redis_up)
{
    gw_server_t *srv = r->th->server;
    int db_up = gw_dbpool_db_up(srv->dbpool);
    int rebuilding = gw_rebuild_active(srv);
    gw_mode_t mode = gw_journal_mode(srv->journal);
    char body[8192], paths[6144];
    size_t plen = paths_json(srv, paths, sizeof(paths));
    /* Cluster mode: what this thread's adapter sees (gw_redis.h), before the paths. */
    gw_redis_state_t rs;
    gw_redis_state(r->th->redis, &rs);
    if (rs.cluster) {
        char cl[160];
        int k = snprintf(cl, sizeof(cl), ",\"redis_mode\":\"cluster\",\"masters\":%u,\"masters_up\":%u,\"slots_covered\":%zu", rs.masters,
                         rs.masters_up, rs.slots_covered);
        if (k > 0 && (size_t)k + plen < sizeof(paths)) {
            memmove(paths + k, paths, plen + 1);
            memcpy(paths, cl, (size_t)k);
        }
    }
    int n;
    if (redis_up && db_up && mode == GW_MODE_FAST) {
        n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"redis\":\"up\",\"database\":\"up\",\"fallback\":\"inactive\",\"rebuilding\":%s%s}",
                     rebuilding ? "true" : "false", paths);
        gw_reply(r, 200, body, (size_t)n, NULL);
        return;
    }
    /* Not on the fast path: claims are answered from MariaDB (granting or read-only) or 503. */
    const char *fallback = !db_up ? "inactive" : mode == GW_MODE_GRANT ? "granting" : mode == GW_MODE_MERGE ? "merging" : "read-only";
    const char *down = !redis_up && !db_up ? "redis and database are down"
                       : !redis_up          ? "redis is down"
                       : !db_up             ? "database is down"
                                            : "claims are not on the fast path yet (merging back to redis)";
    n = snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":\"unavailable\",\"message\":\"%s\"},\"status\":\"unavailable\",\"redis\":\"%s\","
                 "\"database\":\"%s\",\"fallback\":\"%s\",\"rebuilding\":%s%s}",
                 down, redis_up ? "up" : "down", db_up ? "up" : "down", fallback, rebuilding ? "true" : "false", paths);
    gw_reply(r, 503, body, (size_t)n, NULL);
}

/* The path metrics: mode one-hot, each tracked event's path, fallback counters. */
static size_t paths_metrics(gw_server_t *srv, char *out, size_t cap)
{
    gw_mode_t mode = gw_journal_mode(srv->journal);
    gw_journal_counts_t counts;
    gw_journal_counts(srv->journal, &counts);
    size_t len = 0;
    int w = snprintf(out, cap,
                     "# HELP tk_path_mode The gateway's claim path: fast (Redis), lost (Redis away, read-only), grant (lock-table "
                     "fallback), merge (back to Redis).\n# TYPE tk_path_mode gauge\n"
                     "tk_path_mode{mode=\"fast\"} %d\ntk_path_mode{mode=\"lost\"} %d\ntk_path_mode{mode=\"grant\"} %d\n"
                     "tk_path_mode{mode=\"merge\"} %d\n"
                     "# HELP tk_fallback_grants_total Claims granted (201) by the lock-table fallback.\n"
                     "# TYPE tk_fallback_grants_total counter\ntk_fallback_grants_total %llu\n"
                     "# HELP tk_fallback_lock_lost_total Fallback batches rolled back because the event lock was no longer ours.\n"
                     "# TYPE tk_fallback_lock_lost_total counter\ntk_fallback_lock_lost_total %llu\n"
                     "# HELP tk_fallback_peer_refusals_total Fallback batches answered read-only because another gateway was alive.\n"
                     "# TYPE tk_fallback_peer_refusals_total counter\ntk_fallback_peer_refusals_total %llu\n"
                     "# HELP tk_fallback_merges_total Returns to the fast path that rebuilt events in Redis from MariaDB (the fallback granted, or Redis came back behind MariaDB).\n"
                     "# TYPE tk_fallback_merges_total counter\ntk_fallback_merges_total %llu\n"
                     "# HELP tk_journal_entries Redis grants remembered until drained (gw_journal.h).\n"
                     "# TYPE tk_journal_entries gauge\ntk_journal_entries %zu\n"
                     "# HELP tk_claims_in_flight Claims sent to Redis, answer not yet in.\n"
                     "# TYPE tk_claims_in_flight gauge\ntk_claims_in_flight %llu\n",
                     mode == GW_MODE_FAST, mode == GW_MODE_LOST, mode == GW_MODE_GRANT, mode == GW_MODE_MERGE,
                     (unsigned long long)gw_fallback_grant_count(), (unsigned long long)gw_fallback_lock_lost_count(),
                     (unsigned long long)gw_peers_refusal_count(), (unsigned long long)gw_failover_merges(srv), counts.entries, (unsigned long long)counts.inflight);
    if (w < 0 || (size_t)w >= cap)
        return 0;
    len = (size_t)w;
    w = snprintf(out + len, cap - len,
                 "# HELP tk_path_events_tracked Events the journal tracks and watermarks (those that exist, gw_journal.h).\n"
                 "# TYPE tk_path_events_tracked gauge\ntk_path_events_tracked %zu\n"
                 "# HELP tk_path_events_untracked_inflight Untracked event ids with claims in flight.\n"
                 "# TYPE tk_path_events_untracked_inflight gauge\ntk_path_events_untracked_inflight %zu\n"
                 /* Last: its samples follow, so the family's lines stay together (Prometheus text format). */
                 "# HELP tk_event_path Each tracked event's claim path (first %d events).\n# TYPE tk_event_path gauge\n",
                 counts.tracked, counts.untracked_inflight, PATHS_SHOWN);
    if (w < 0 || (size_t)w >= cap - len)
        return len;
    return append_event_paths(srv, out, len + (size_t)w, cap, 0, path_metric);
}

/* The bounded queues' gauges (docs/DESIGN.md, "Bounded queues"); their sheds are tk_shed_total. */
static size_t queues_metrics(gw_server_t *srv, char *out, size_t cap)
{
    int w = snprintf(out, cap,
                     "# HELP tk_db_queue_depth Database jobs waiting for a thread, by lane (at most DB_QUEUE_MAX each).\n"
                     "# TYPE tk_db_queue_depth gauge\ntk_db_queue_depth{lane=\"control\"} %zu\ntk_db_queue_depth{lane=\"client\"} %zu\n",
                     gw_dbpool_depth(srv->dbpool, GW_DBLANE_CONTROL), gw_dbpool_depth(srv->dbpool, GW_DBLANE_CLIENT));
    return w < 0 || (size_t)w >= cap ? 0 : (size_t)w;
}

static void on_ping(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    readyz_answer(r, reply != NULL && reply->type == REDIS_REPLY_STATUS);
    gw_req_release(r);
}

void gw_route_readyz(gw_req_t *r)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    if (gw_redis_command(r->th->redis, on_ping, gw_req_ref(r), 1, argv, lens) != 0) {
        gw_req_release(r);
        readyz_answer(r, 0);
    }
}

/* The workers publish per-consumer counters in the hash tk:wk:stats, fields
 * "<consumer>:<stat>" (worker/wk_drain.c); they become labelled series. */
static const struct {
    const char *stat, *metric, *type, *help;
} worker_stats[] = {
    {"rows", "tk_worker_rows_total", "counter", "Claim rows written to MariaDB, by worker."},
    {"batches", "tk_worker_batches_total", "counter", "Batches committed, by worker."},
    {"errors", "tk_worker_errors_total", "counter", "Backend errors met by the worker."},
    {"dead", "tk_worker_dead_letters_total", "counter", "Poison stream entries set aside in claims_dead, by worker (alert on any)."},
    {"batch_last", "tk_worker_last_batch_rows", "gauge", "Rows in the worker's last batch."},
    {"lag_ms", "tk_worker_drain_lag_ms", "gauge", "Commit time minus the oldest claim's grant time in the last batch."},
    /* boards (worker/wk_lb_drain.c) */
    {"lb_entries", "tk_worker_board_entries_total", "counter", "Board stream entries stored (or superseded in their batch) and acked, by worker."},
    {"lb_rows", "tk_worker_board_rows_total", "counter", "board_scores rows upserted (one per user and season of a batch), by worker."},
    {"lb_stmts", "tk_worker_board_statements_total", "counter", "Multi-row board_scores upserts executed, by worker."},
    {"lb_dead", "tk_worker_board_dead_total", "counter", "Board entries MariaDB refused alone, logged and acked, by worker (alert on any)."},
    {"lb_bad", "tk_worker_board_malformed_total", "counter", "Malformed board entries acked without a row, by worker (alert on any)."},
    {"lb_stmt_max", "tk_worker_board_statement_rows_max", "gauge", "The most rows one board upsert of the worker carried."},
};

static size_t render_worker_stats(const redisReply *reply, char *out, size_t cap)
{
    size_t len = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t s = 0; s < sizeof(worker_stats) / sizeof(worker_stats[0]); s++) {
        size_t slen = strlen(worker_stats[s].stat);
        int header = 0;
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *f = reply->element[i], *v = reply->element[i + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len <= slen + 1 || f->len > 200 ||
                f->str[f->len - slen - 1] != ':' || memcmp(f->str + f->len - slen, worker_stats[s].stat, slen) != 0)
                continue;
            char *end;
            long long value = strtoll(v->str, &end, 10);
            if (end == v->str)
                continue;
            char consumer[TK_JSON_ESCAPED_MAX(200)];
            tk_json_escape(f->str, f->len - slen - 1, consumer); /* label values escape like JSON strings */
            int n = header ? 0
                           : snprintf(out + len, cap - len, "# HELP %s %s\n# TYPE %s %s\n", worker_stats[s].metric, worker_stats[s].help,
                                      worker_stats[s].metric, worker_stats[s].type);
            if (n < 0 || (size_t)n >= cap - len)
                return len;
            len += (size_t)n;
            header = 1;
            n = snprintf(out + len, cap - len, "%s{consumer=\"%s\"} %lld\n", worker_stats[s].metric, consumer, value);
            if (n < 0 || (size_t)n >= cap - len)
                return len;
            len += (size_t)n;
        }
    }
    return len;
}

/*
 * Live heap bytes, when the process runs on the sanitizers' allocator (the
 * builds make test runs): what the gateway holds, without AddressSanitizer's
 * quarantine and its per-thread caches, which its RSS counts too and which
 * grow with the threads' allocation pattern, not with what is kept
 * (tests/integration/it_bounds.c). Weak: absent from release builds, and so
 * is the series.
 */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_metrics(char *out, size_t cap)
{
    if (__sanitizer_get_current_allocated_bytes == NULL)
        return 0;
    int k = snprintf(out, cap,
                     "# HELP tk_heap_live_bytes Heap bytes allocated and not freed (sanitizer builds only).\n"
                     "# TYPE tk_heap_live_bytes gauge\ntk_heap_live_bytes %zu\n",
                     __sanitizer_get_current_allocated_bytes());
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

static void metrics_answer(gw_req_t *r, const redisReply *worker_reply)
{
    gw_server_t *srv = r->th->server;
    gw_metrics_t *shards[srv->nthreads], sum;
    int redis_up = 0;
    for (int i = 0; i < srv->nthreads; i++) {
        shards[i] = &srv->threads[i].metrics;
        redis_up += gw_redis_is_up(srv->threads[i].redis);
    }
    gw_metrics_sum(shards, (size_t)srv->nthreads, &sum);
    for (int i = 0; i < srv->nthreads; i++)
        sum.redis_errors += gw_redis_errors(srv->threads[i].redis);
    sum.db_errors = gw_dbpool_db_errors(srv->dbpool);
    uint64_t rl[2][3] = {{0}};
    for (int i = 0; i < srv->nthreads; i++) {
        const gw_ratelimit_t *t = &srv->threads[i].ratelimit;
        const gw_rl_table_t *tables[2] = {&t->ip, &t->user};
        for (int k = 0; k < 2; k++) {
            rl[k][0] += __atomic_load_n(&tables[k]->allowed, __ATOMIC_RELAXED);
            rl[k][1] += __atomic_load_n(&tables[k]->limited, __ATOMIC_RELAXED);
            rl[k][2] += __atomic_load_n(&tables[k]->evicted, __ATOMIC_RELAXED);
        }
    }
    char extra[32768];
    int n = snprintf(extra, sizeof(extra),
                     "# HELP tk_backend_up 1 when the backend answers (redis: connections up / threads).\n"
                     "# TYPE tk_backend_up gauge\ntk_backend_up{backend=\"redis\"} %g\ntk_backend_up{backend=\"database\"} %d\n"
                     "# HELP tk_fallback_active 1 while some thread answers from MariaDB (Redis unreachable; read-only).\n"
                     "# TYPE tk_fallback_active gauge\ntk_fallback_active %d\n"
                     "# HELP tk_ratelimit_total Requests checked by the abuse limits, by limit and outcome.\n"
                     "# TYPE tk_ratelimit_total counter\n"
                     "tk_ratelimit_total{limit=\"address\",outcome=\"allowed\"} %llu\n"
                     "tk_ratelimit_total{limit=\"address\",outcome=\"limited\"} %llu\n"
                     "tk_ratelimit_total{limit=\"user\",outcome=\"allowed\"} %llu\n"
                     "tk_ratelimit_total{limit=\"user\",outcome=\"limited\"} %llu\n"
                     "# HELP tk_ratelimit_evictions_total Buckets evicted from the fixed tables.\n"
                     "# TYPE tk_ratelimit_evictions_total counter\n"
                     "tk_ratelimit_evictions_total{limit=\"address\"} %llu\ntk_ratelimit_evictions_total{limit=\"user\"} %llu\n"
                     "# HELP tk_rebuild_active 1 while the gateway checks (and rebuilds) events' Redis state after a reconnect.\n"
                     "# TYPE tk_rebuild_active gauge\ntk_rebuild_active %d\n"
                     "# HELP tk_rebuilt_events_total Events rebuilt in Redis from MariaDB.\n"
                     "# TYPE tk_rebuilt_events_total counter\ntk_rebuilt_events_total %llu\n"
                     "# HELP tk_rebuilt_boards_total Leaderboards rebuilt in Redis from MariaDB.\n"
                     "# TYPE tk_rebuilt_boards_total counter\ntk_rebuilt_boards_total %llu\n",
                     (double)redis_up / srv->nthreads, gw_dbpool_db_up(srv->dbpool), redis_up < srv->nthreads,
                     (unsigned long long)rl[0][0],
                     (unsigned long long)rl[0][1], (unsigned long long)rl[1][0], (unsigned long long)rl[1][1], (unsigned long long)rl[0][2],
                     (unsigned long long)rl[1][2], gw_rebuild_active(srv), (unsigned long long)gw_rebuild_count(srv),
                     (unsigned long long)gw_rebuild_board_count(srv));
    n += (int)paths_metrics(srv, extra + n, sizeof(extra) - (size_t)n);
    n += (int)queues_metrics(srv, extra + n, sizeof(extra) - (size_t)n);
    n += (int)gw_conn_metrics(srv, extra + n, sizeof(extra) - (size_t)n);
    n += (int)gw_admitter_metrics(srv->threads[0].admitter, extra + n, sizeof(extra) - (size_t)n);
    n += (int)heap_metrics(extra + n, sizeof(extra) - (size_t)n);
    extra[(size_t)n + render_worker_stats(worker_reply, extra + n, sizeof(extra) - (size_t)n)] = '\0';
    h2o_req_t *req = r->req;
    gw_metrics_request(&r->th->metrics, r->route, 200, (uint64_t)tk_time_mono_us() - r->start_us);
    if (req == NULL)
        return;
    h2o_iovec_t body;
    gw_metrics_render(&sum, &req->pool, &body, extra);
    /* Prometheus text, not JSON: answered here rather than through gw_reply. */
    r->req = NULL;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; version=0.0.4"));
    h2o_send_inline(req, body.base, body.len);
}

static void on_worker_stats(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    metrics_answer(r, reply);
    gw_req_release(r);
}

void gw_route_metrics(gw_req_t *r)
{
    const char *argv[] = {"HGETALL", TK_KEY_WK_STATS};
    size_t lens[] = {7, sizeof(TK_KEY_WK_STATS) - 1};
    if (gw_redis_command(r->th->redis, on_worker_stats, gw_req_ref(r), 2, argv, lens) != 0) {
        gw_req_release(r);
        metrics_answer(r, NULL); /* Redis down: the gateway's own figures still count */
    }
}
