#include "gw_metrics.h"

#include <stdio.h>
#include <string.h>

static const int statuses[GW_STATUS__COUNT - 1] = {GW_STATUS_LIST};
static const char *const route_names[GW_ROUTE__COUNT] = {
    "healthz",     "readyz",      "metrics",           "events_list",       "event_get",   "claim_post", "claim_get",
    "admin_create", "admin_view", "admin_stock", "admin_state", "admin_cancel", "dev_login", "watch", "admin_presence",
    "admin_queue_view", "admin_queue_update", "queue_join", "queue_status", "board_top", "board_user", "board_around", "board_ranks", "board_create", "board_scores", "board_season", "board_view", "unmatched"};
/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bucket_us[GW_LATENCY__BUCKETS - 1] = {250,   500,   1000,   2000,   5000,   10000,  25000,
                                                            50000, 100000, 250000, 500000, 1000000, 5000000};
static const char *const claim_names[GW_CLAIM__COUNT] = {"created", "existing", "sold_out", "limit_reached", "not_open",
                                                         "paused",  "closed",   "not_found", "invalid",     "unavailable",
                                                         "not_admitted"};

static const char *const shed_names[GW_SHED__COUNT] = {"db_queue_full", "db_deadline", "redis_inflight", "events_waiters", "board_reads",
                                                              "board_db_reads"};

const char *gw_metrics_route_name(gw_route_id_t route)
{
    return (unsigned)route < GW_ROUTE__COUNT ? route_names[route] : "unknown";
}

void gw_metrics_request(gw_metrics_t *m, gw_route_id_t route, int status, uint64_t latency_us)
{
    size_t s = GW_STATUS__COUNT - 1; /* "other" */
    for (size_t i = 0; i < GW_STATUS__COUNT - 1; i++) {
        if (statuses[i] == status) {
            s = i;
            break;
        }
    }
    size_t b = GW_LATENCY__BUCKETS - 1;
    for (size_t i = 0; i < GW_LATENCY__BUCKETS - 1; i++) {
        if (latency_us <= bucket_us[i]) {
            b = i;
            break;
        }
    }
    gw_metrics_add(&m->requests[route][s], 1);
    gw_metrics_add(&m->latency[route][b], 1);
    gw_metrics_add(&m->latency_sum_us[route], latency_us);
}

void gw_metrics_sum(gw_metrics_t *const *shards, size_t n, gw_metrics_t *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *src = (const uint64_t *)shards[i];
        for (size_t j = 0; j < sizeof(*out) / sizeof(uint64_t); j++)
            dst[j] += __atomic_load_n(&src[j], __ATOMIC_RELAXED);
    }
}

typedef struct {
    char *buf;
    size_t len, cap;
    h2o_mem_pool_t *pool;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *nb = h2o_mem_alloc_pool(o->pool, cap);
        memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
}

void gw_metrics_render(const gw_metrics_t *m, h2o_mem_pool_t *pool, h2o_iovec_t *result, const char *extra)
{
    out_t o = {h2o_mem_alloc_pool(pool, 16384), 0, 16384, pool};
    put(&o, "# HELP tk_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE tk_http_requests_total counter\n");
    for (int r = 0; r < GW_ROUTE__COUNT; r++) {
        for (int s = 0; s < GW_STATUS__COUNT; s++) {
            if (m->requests[r][s] == 0)
                continue;
            if (s < GW_STATUS__COUNT - 1)
                put(&o, "tk_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r], statuses[s],
                    (unsigned long long)m->requests[r][s]);
            else
                put(&o, "tk_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", route_names[r],
                    (unsigned long long)m->requests[r][s]);
        }
    }
    put(&o, "# HELP tk_http_request_duration_seconds Time from request start to response, by route.\n"
            "# TYPE tk_http_request_duration_seconds histogram\n");
    for (int r = 0; r < GW_ROUTE__COUNT; r++) {
        uint64_t cum = 0;
        for (int b = 0; b < GW_LATENCY__BUCKETS; b++)
            cum += m->latency[r][b];
        if (cum == 0)
            continue;
        cum = 0;
        for (int b = 0; b < GW_LATENCY__BUCKETS - 1; b++) {
            cum += m->latency[r][b];
            put(&o, "tk_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", route_names[r], bucket_us[b] / 1e6,
                (unsigned long long)cum);
        }
        cum += m->latency[r][GW_LATENCY__BUCKETS - 1];
        put(&o, "tk_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route_names[r], (unsigned long long)cum);
        put(&o, "tk_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_names[r], m->latency_sum_us[r] / 1e6);
        put(&o, "tk_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_names[r], (unsigned long long)cum);
    }
    put(&o, "# HELP tk_claims_total Claim requests by result.\n# TYPE tk_claims_total counter\n");
    for (int c = 0; c < GW_CLAIM__COUNT; c++)
        put(&o, "tk_claims_total{result=\"%s\"} %llu\n", claim_names[c], (unsigned long long)m->claims[c]);
    put(&o, "# HELP tk_claim_batches_total Claim script calls (one per event per loop turn).\n"
            "# TYPE tk_claim_batches_total counter\ntk_claim_batches_total %llu\n"
            "# HELP tk_claim_batched_claims_total Claims carried by those calls.\n"
            "# TYPE tk_claim_batched_claims_total counter\ntk_claim_batched_claims_total %llu\n",
        (unsigned long long)m->batches, (unsigned long long)m->batched_claims);
    put(&o, "# HELP tk_claim_soldout_checks_total Reads that checked the claims of an event known sold out, without the claim script.\n"
            "# TYPE tk_claim_soldout_checks_total counter\ntk_claim_soldout_checks_total %llu\n"
            "# HELP tk_claim_soldout_local_total Claims those reads answered 409 sold_out.\n"
            "# TYPE tk_claim_soldout_local_total counter\ntk_claim_soldout_local_total %llu\n",
        (unsigned long long)m->soldout_checks, (unsigned long long)m->soldout_local);
    put(&o, "# HELP tk_fallback_answers_total Claims and status lookups answered from MariaDB while Redis was unreachable.\n"
            "# TYPE tk_fallback_answers_total counter\ntk_fallback_answers_total %llu\n"
            "# HELP tk_journal_overflows_total Redis replies whose grants did not fit the journal (JOURNAL_MAX): their events "
            "stay read-only in a fallback.\n"
            "# TYPE tk_journal_overflows_total counter\ntk_journal_overflows_total %llu\n",
        (unsigned long long)m->fallback_answers, (unsigned long long)m->journal_overflows);
    put(&o, "# HELP tk_redis_waits_total WAITs sent after claim batches that acknowledged a claim (REDIS_WAIT_REPLICAS > 0; "
            "one per Redis connection per loop turn).\n"
            "# TYPE tk_redis_waits_total counter\ntk_redis_waits_total %llu\n"
            "# HELP tk_redis_wait_batches_total Claim batches those WAITs covered.\n"
            "# TYPE tk_redis_wait_batches_total counter\ntk_redis_wait_batches_total %llu\n"
            "# HELP tk_redis_wait_timeouts_total Of those WAITs, answered with fewer replicas than REDIS_WAIT_REPLICAS within "
            "REDIS_WAIT_TIMEOUT_MS: every claim of their batches answered 503 and recorded as uncertain.\n"
            "# TYPE tk_redis_wait_timeouts_total counter\ntk_redis_wait_timeouts_total %llu\n",
        (unsigned long long)m->redis_waits, (unsigned long long)m->redis_wait_batches, (unsigned long long)m->redis_wait_timeouts);
    put(&o, "# HELP tk_backend_errors_total Failed backend calls.\n# TYPE tk_backend_errors_total counter\n"
            "tk_backend_errors_total{backend=\"redis\"} %llu\ntk_backend_errors_total{backend=\"database\"} %llu\n",
        (unsigned long long)m->redis_errors, (unsigned long long)m->db_errors);
    put(&o, "# HELP tk_shed_total Requests answered 503 with Retry-After at once by a bounded queue, by reason.\n"
            "# TYPE tk_shed_total counter\n");
    for (int i = 0; i < GW_SHED__COUNT; i++)
        put(&o, "tk_shed_total{reason=\"%s\"} %llu\n", shed_names[i], (unsigned long long)m->shed[i]);
    put(&o, "# HELP tk_redis_held_claims Claims batched for or waiting on Redis, all loop threads (at most REDIS_INFLIGHT_MAX each).\n"
            "# TYPE tk_redis_held_claims gauge\ntk_redis_held_claims %llu\n",
        (unsigned long long)(m->redis_held + m->soldout_held));
    put(&o, "# HELP tk_watch_held Long-polls (GET .../watch) held, all loop threads (at most WATCH_HELD_MAX each).\n"
            "# TYPE tk_watch_held gauge\ntk_watch_held %llu\n"
            "# HELP tk_presence_heartbeats_total Presence heartbeats queued for Redis (watch requests and their answers).\n"
            "# TYPE tk_presence_heartbeats_total counter\ntk_presence_heartbeats_total %llu\n",
        (unsigned long long)m->watch_held, (unsigned long long)m->presence_beats);
    put(&o, "# HELP tk_wq_joined_total Waiting-room places given by this gateway's joins.\n# TYPE tk_wq_joined_total counter\n"
            "tk_wq_joined_total %llu\n"
            "# HELP tk_wq_admitted_total Users admitted by this gateway's admitter (while it held the lease).\n"
            "# TYPE tk_wq_admitted_total counter\ntk_wq_admitted_total %llu\n"
            "# HELP tk_wq_abandoned_total Places this gateway's admitter passed while their users were away (30 s).\n"
            "# TYPE tk_wq_abandoned_total counter\ntk_wq_abandoned_total %llu\n"
            "# HELP tk_wq_held Waiting-room status long-polls held, all loop threads (at most WQ_HELD_MAX each).\n"
            "# TYPE tk_wq_held gauge\ntk_wq_held %llu\n",
        (unsigned long long)m->wq_joined, (unsigned long long)m->wq_admitted, (unsigned long long)m->wq_abandoned,
        (unsigned long long)m->wq_held);
    static const char *const board_results[GW_BOARD_WRITE__COUNT] = {"applied", "unchanged", "refused", "invalid"};
    put(&o, "# HELP tk_board_writes_total Leaderboard score write entries, by result.\n# TYPE tk_board_writes_total counter\n");
    for (int i = 0; i < GW_BOARD_WRITE__COUNT; i++)
        put(&o, "tk_board_writes_total{result=\"%s\"} %llu\n", board_results[i], (unsigned long long)m->board_writes[i]);
    put(&o, "# HELP tk_board_write_calls_total Calls of the board write script carrying score writes (one per board per loop turn).\n"
            "# TYPE tk_board_write_calls_total counter\ntk_board_write_calls_total %llu\n",
        (unsigned long long)m->board_calls);
    if (extra != NULL)
        put(&o, "%s", extra);
    *result = h2o_iovec_init(o.buf, o.len);
}
