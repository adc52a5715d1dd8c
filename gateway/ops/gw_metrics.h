/*
 * gw_metrics: Prometheus counters and latency histograms.
 *
 * Each loop thread owns a shard and is its only writer (relaxed atomic
 * stores, no locked instructions on the hot path); the /metrics route sums
 * the shards with relaxed loads. A scrape may see a count a few requests
 * old, never a torn one.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <h2o.h>
#include <stdint.h>

typedef enum {
    GW_ROUTE_HEALTHZ = 0,
    GW_ROUTE_READYZ,
    GW_ROUTE_METRICS,
    GW_ROUTE_EVENTS_LIST,
    GW_ROUTE_EVENT_GET,
    GW_ROUTE_CLAIM_POST,
    GW_ROUTE_CLAIM_GET,
    GW_ROUTE_ADMIN_CREATE,
    GW_ROUTE_ADMIN_VIEW,
    GW_ROUTE_ADMIN_STOCK,
    GW_ROUTE_ADMIN_STATE,
    GW_ROUTE_ADMIN_CANCEL,
    GW_ROUTE_DEV_LOGIN,
    GW_ROUTE_WATCH,
    GW_ROUTE_ADMIN_PRESENCE,
    GW_ROUTE_ADMIN_QUEUE_VIEW,
    GW_ROUTE_ADMIN_QUEUE_UPDATE,
    GW_ROUTE_QUEUE_JOIN,
    GW_ROUTE_QUEUE_STATUS,
    GW_ROUTE_BOARD_TOP, /* the public reads of a leaderboard (gateway/boards/) */
    GW_ROUTE_BOARD_USER,
    GW_ROUTE_BOARD_AROUND,
    GW_ROUTE_BOARD_RANKS,
    GW_ROUTE_BOARD_CREATE,
    GW_ROUTE_BOARD_SCORES,
    GW_ROUTE_BOARD_SEASON,
    GW_ROUTE_BOARD_VIEW,
    GW_ROUTE_UNMATCHED,
    GW_ROUTE__COUNT,
} gw_route_id_t;

/* The statuses the gateway answers with; anything else counts as "other". */
#define GW_STATUS_LIST 200, 201, 400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 500, 503
#define GW_STATUS__COUNT 15
#define GW_LATENCY__BUCKETS 14

typedef enum {
    GW_CLAIM_CREATED = 0,
    GW_CLAIM_EXISTING,
    GW_CLAIM_SOLD_OUT,
    GW_CLAIM_LIMIT,
    GW_CLAIM_NOT_OPEN,
    GW_CLAIM_PAUSED,
    GW_CLAIM_CLOSED,
    GW_CLAIM_NOT_FOUND,
    GW_CLAIM_INVALID,
    GW_CLAIM_UNAVAILABLE,
    GW_CLAIM_NOT_ADMITTED, /* a waiting-room event, the claim without a valid access token for it (gw_access.h) */
    GW_CLAIM__COUNT,
} gw_claim_result_t;

/* Why a request was answered 503 at once instead of queued (docs/DESIGN.md, "Bounded queues"). */
typedef enum {
    GW_SHED_DB_QUEUE_FULL = 0, /* its database lane held DB_QUEUE_MAX jobs */
    GW_SHED_DB_DEADLINE,       /* its job waited past DB_JOB_DEADLINE_MS: answered without running */
    GW_SHED_REDIS_INFLIGHT,    /* its loop thread held REDIS_INFLIGHT_MAX claims for Redis */
    GW_SHED_EVENTS_WAITERS,    /* too many GET /v1/events waiting on one listing round */
    GW_SHED_BOARD_READS,       /* its loop thread had BOARD_READS_MAX leaderboard reads in flight */
    GW_SHED_BOARD_DB_READS,    /* its loop thread had BOARD_DB_READS_MAX old-season reads on MariaDB */
    GW_SHED__COUNT,
} gw_shed_reason_t;

/* What became of a score write entry (POST /v1/admin/boards/{B}/scores). */
typedef enum {
    GW_BOARD_WRITE_APPLIED = 0, /* changed the user's entry */
    GW_BOARD_WRITE_UNCHANGED,   /* valid, left the score as it was (equal, or lower under best) */
    GW_BOARD_WRITE_REFUSED,     /* an incr out of range */
    GW_BOARD_WRITE_INVALID,     /* skipped: malformed, or the wrong number of components for the board */
    GW_BOARD_WRITE__COUNT,
} gw_board_write_result_t;

typedef struct {
    uint64_t requests[GW_ROUTE__COUNT][GW_STATUS__COUNT];
    uint64_t latency[GW_ROUTE__COUNT][GW_LATENCY__BUCKETS]; /* not cumulative; summed at scrape */
    uint64_t latency_sum_us[GW_ROUTE__COUNT];
    uint64_t claims[GW_CLAIM__COUNT];
    uint64_t batches, batched_claims; /* claim script calls and the claims they carried */
    uint64_t soldout_checks, soldout_local; /* sold-out checks sent, and claims they answered 409 (gw_soldout.h) */
    uint64_t fallback_answers;        /* claims and lookups answered from MariaDB while Redis was away */
    uint64_t journal_overflows;       /* replies whose grants did not fit the journal (gw_journal.h) */
    uint64_t redis_waits;             /* WAITs sent after claim batches (REDIS_WAIT_REPLICAS; gw_batch_wait.c) */
    uint64_t redis_wait_batches;      /* claim batches those WAITs covered (one WAIT per connection per loop turn) */
    uint64_t redis_wait_timeouts;     /* of those WAITs, answered with fewer replicas than asked: their batches answered 503 */
    uint64_t redis_errors; /* error replies; connection failures are added at scrape (gw_redis_errors) */
    uint64_t db_errors;    /* set at scrape from gw_dbpool_db_errors */
    uint64_t shed[GW_SHED__COUNT]; /* requests answered 503 by a full queue or a passed deadline */
    uint64_t redis_held;           /* gauge: claims the batcher holds for Redis (gw_batcher.h); summed over threads */
    uint64_t soldout_held;         /* gauge: claims gw_soldout holds for its check (gw_soldout.h); in tk_redis_held_claims */
    uint64_t watch_held;           /* gauge: long-polls the thread's gw_watch holds (gw_watch_held); summed over threads */
    uint64_t presence_beats;       /* heartbeats queued by gw_presence_beat */
    uint64_t wq_joined;            /* places given by this gateway's joins (201) */
    uint64_t wq_admitted;          /* users admitted by this gateway's admitter (gw_admitter.h) */
    uint64_t wq_abandoned;         /* places its admitter passed while their users were away */
    uint64_t wq_held;              /* gauge: waiting-room status polls held (gw_queue_hold.h); summed over threads */
    uint64_t board_writes[GW_BOARD_WRITE__COUNT]; /* score write entries answered, by result (gw_board_writer.h) */
    uint64_t board_calls;                         /* lb_write.lua calls carrying score writes */
} gw_metrics_t;

/** The label of @route ("claim_post", …). */
const char *gw_metrics_route_name(gw_route_id_t route);

/** Counts one answered request. Owner thread only. */
void gw_metrics_request(gw_metrics_t *m, gw_route_id_t route, int status, uint64_t latency_us);

/** Adds @n to a counter of @m. Owner thread only. */
static inline void gw_metrics_add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** Sums @n shards into @out (any thread). */
void gw_metrics_sum(gw_metrics_t *const *shards, size_t n, gw_metrics_t *out);

/**
 * Renders @m in the Prometheus text format into @buf (grown as needed),
 * with @extra lines (already formatted; may be NULL) appended.
 */
void gw_metrics_render(const gw_metrics_t *m, h2o_mem_pool_t *pool, h2o_iovec_t *out, const char *extra);

#endif
