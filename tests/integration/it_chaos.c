/*
 * it_chaos: the invariants of shared/BRIEF.md under faults, during a bounded
 * claim storm on an event whose demand exceeds its stock.
 *
 * The storm (a thread of its own, while the test injects the fault):
 * USERS distinct users, a tenth of them sending their claim twice, in a
 * shuffled order, over PARALLEL keep-alive connections, chunks alternating
 * HTTP/1.1 and HTTP/2. Until the first `sold_out` it is paced (PACE_CHUNK
 * requests every PACE_MS) so that the units are granted over a few seconds
 * and the fault lands while grants are being made and drained; after that
 * the rest goes at full speed. A user whose answer was 503, 429 or no
 * answer at all (the gateway restarting, Redis down) is retried in later
 * waves until every user has a definite answer (201/200/409) or the storm's
 * deadline passes. Every wait is bounded.
 *
 * The scenarios, each on a fresh event with 2 workers (WORKER_BATCH and
 * WORKER_CLAIM_IDLE_MS small so re-claims happen within the test):
 *   worker-kill      SIGKILL a worker while it holds an unconfirmed batch
 *                    (XPENDING of its consumer > 0), KILLS times; restarted
 *                    alternately under its own name (re-reads its pending
 *                    entries) and under a new one (the dead consumer's
 *                    entries are XAUTOCLAIMed by the others).
 *   db-outage        stop MariaDB for DB_DOWN_MS during the storm, start it.
 *   redis-kill       SIGKILL Redis during the storm, restart it from its AOF
 *                    (appendfsync always). Down longer than the gateway's
 *                    FALLBACK_AFTER_MS (1 s; at scale 10), the fallback may
 *                    grant meanwhile: then tickets are checked as in
 *                    redis-stop (gaps allowed), else exactly 1..stock.
 *   gateway-restart  SIGTERM the gateway with requests in flight (it must
 *                    exit 0), start a new one on the same ports, continue.
 *   redis-stop       stop Redis (SIGTERM) with a quarter of the stock
 *                    granted and keep it down for REDIS_STOP_MS: /readyz
 *                    must reach "path":"grant" (bounded) and the lock-table
 *                    fallback must answer 201s from MariaDB meanwhile
 *                    (counted by answer time; tk_fallback_grants_total > 0);
 *                    then start it: /readyz must go back to "path":"fast"
 *                    (bounded: the merge waits for the drain and rebuilds
 *                    the event in Redis). Order across the switches: every
 *                    ticket the fallback granted to a request sent after
 *                    "grant" was seen is above every ticket answered before
 *                    the stop, and every ticket granted to a request sent
 *                    after "fast" was seen is above every ticket answered
 *                    before Redis was started again; and once "fast" is
 *                    seen, Redis's seq is at least MariaDB's highest ticket
 *                    (the event was rebuilt before the fast path drew
 *                    again). CHAOS_REDIS_BALLAST=N writes N filler keys
 *                    first, so that the restarted Redis answers LOADING for
 *                    a while (1,000,000: ~1.7 s under the sanitizers) while
 *                    the gateway reconnects and merges (default 0 at scale
 *                    1, 1,000,000 above: make chaos).
 *   gateway-kill-fallback  as redis-stop until the fallback has answered
 *                    some 201s from MariaDB (at least FB_KILL_AFTER, or
 *                    FB_KILL_WAIT_MS in grant), then SIGKILL the gateway
 *                    in the middle of the fallback (its journal, lock and
 *                    knowledge of what it granted die with it), start Redis
 *                    from its AOF (now older than MariaDB: its seq is below
 *                    the fallback's tickets) and a new gateway on the same
 *                    ports; the storm goes on against it. /readyz must say
 *                    "path":"fast" again (bounded), and then Redis's seq
 *                    must be at or above MariaDB's highest ticket (the stale
 *                    event was rebuilt before the fast path drew again); no
 *                    two users were told the same ticket; every ticket told
 *                    to a request sent after "fast" is above every ticket
 *                    told before the kill; both workers still run (a
 *                    duplicate ticket kills a worker on error 1062: its
 *                    log line is printed); then verify() with gaps allowed
 *                    as in redis-stop.
 *
 * After each, at quiescence (pending = 0 and the books agree, bounded), the
 * checks: granted = stock exactly in Redis and MariaDB; every claim a client
 * was told (201, or 200 carrying its claim) has exactly one row, `confirmed`,
 * with the ticket and claim id the client was told; rows nobody was told
 * about belong to users whose every answer was lost (ambiguous), and there
 * are none when every user got an answer; no user holds more than one unit;
 * no user got two different claims or two 201s; tickets: the confirmed rows
 * hold exactly tickets 1..stock (tickets are drawn only by grants and every
 * claim asks for 1 unit, so no claim was refused for stock before the stock
 * was gone, and the sell-out left nothing unsold), and Redis's seq and the
 * admin view's tickets_issued are stock. Except in redis-stop (and in
 * redis-kill when the fallback granted, tk_fallback_grants_total > 0):
 * there the fallback's first ticket lies above the highest ticket it knew
 * plus the claims whose Redis reply was lost (granted or not, unknowable),
 * so the rows' tickets must be unique, >= 1 and strictly increasing, with
 * gaps (printed) no more than the claims that can be in flight (the
 * storm's connections), and seq = tickets_issued = the highest ticket; no
 * 201 in a chunk sent after a chunk that got `sold_out` (no grant after a
 * refusal for stock); a told claim beyond the stock is an oversell;
 * Redis and MariaDB books equal in the admin view and in the stores. The
 * same holds for gateway-kill-fallback.
 *
 * Scale: CHAOS_SCALE (default 1: stock 300, 3,000 users, 32 connections;
 * scripts/chaos.sh runs 10). CHAOS_ONLY=<cmocka filter> runs one scenario.
 * Environment given to the gateway and workers this binary starts:
 * WORKER_BATCH=8, WORKER_CLAIM_IDLE_MS=1000, WORKER_DISCOVER_MS=200,
 * RATE_IP_PER_S=0 (the whole storm comes from one address), and
 * REDIS_APPENDFSYNC=always for services.sh start-redis; LSAN_OPTIONS names
 * tests/lsan.supp (it_proc does that).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_redis.h"

/* ------------------------------------------------------------ the scale */

typedef struct {
    int scale;
    int stock, users, parallel;
    int pace_chunk, pace_ms; /* paced phase: chunk size and period */
    int kills;               /* worker-kill */
    int db_down_ms;          /* db-outage */
    int redis_down_ms;       /* redis-kill */
    int gw_restarts;         /* gateway-restart */
    int redis_stop_ms;       /* redis-stop: Redis kept down this long (from the stop) */
    int grant_wait_ms;       /* redis-stop: stop until /readyz says "grant", at most */
    int merge_wait_ms;       /* redis-stop: start until /readyz says "fast", at most */
    int fb_kill_after;       /* gateway-kill-fallback: fallback 201s before the kill (FB_KILL_AFTER) */
    int fb_kill_wait_ms;     /* gateway-kill-fallback: or this long in grant, at most (FB_KILL_WAIT_MS) */
    int storm_ms;            /* storm deadline */
    int drain_ms;            /* quiescence deadline */
} chaos_cfg_t;

static chaos_cfg_t C;

static int group_setup(void **st)
{
    (void)st;
    if (it_env() == NULL)
        return -1;
    const char *s = getenv("CHAOS_SCALE");
    int scale = s != NULL ? atoi(s) : 1;
    if (scale < 1 || scale > 100) {
        fprintf(stderr, "CHAOS_SCALE=%s: expected 1..100\n", s);
        return -1;
    }
    C.scale = scale;
    C.stock = 300 * scale;
    C.users = 3000 * scale;
    C.parallel = scale > 1 ? 64 : 32;
    /* The grants spread over about 3 s at scale 1, about 10 s at scale 10. */
    C.pace_chunk = C.parallel;
    C.pace_ms = scale > 1 ? 200 : 250;
    C.kills = scale > 1 ? 6 : 3;
    C.db_down_ms = scale > 1 ? 10000 : 3000;
    C.redis_down_ms = scale > 1 ? 3000 : 1000;
    C.gw_restarts = scale > 1 ? 2 : 1;
    /*
     * Down ~4 s at scale 1: about 1-2 s in mode lost (FALLBACK_AFTER_MS is
     * 1 s, plus the stop itself), the rest granting from MariaDB at the
     * storm's pace (~128 claims/s, ~320 at scale 10), which leaves the
     * fallback a good part of what is left of the stock; at scale 10 not all
     * of it, so the fast path grants again after the merge.
     */
    C.redis_stop_ms = scale > 1 ? 6000 : 4000;
    C.grant_wait_ms = 15000;
    C.merge_wait_ms = 60000 + 2000 * scale;
    C.fb_kill_after = C.stock / 10;
    C.fb_kill_wait_ms = 8000;
    C.storm_ms = 45000 + 15000 * scale;
    C.drain_ms = 60000 + 6000 * scale;
    /* Inherited by the gateway and workers this binary starts (a flag would win; it_proc passes none of these). */
    setenv("WORKER_BATCH", "8", 1);
    setenv("WORKER_CLAIM_IDLE_MS", "1000", 1);
    setenv("WORKER_DISCOVER_MS", "200", 1);
    /* One client address sends the whole storm: the per-address limit would answer 429 (retried, but slow). */
    setenv("RATE_IP_PER_S", "0", 1);
    /* services.sh start-redis rewrites redis.conf from this. */
    setenv("REDIS_APPENDFSYNC", "always", 1);
    fprintf(stderr, "chaos: scale %d: stock %d, %d users (+10%% retrying), %d connections\n", C.scale, C.stock, C.users,
            C.parallel);
    return 0;
}

static int setup(void **st)
{
    it_fix_t *f = calloc(1, sizeof *f);
    if (f == NULL || it_fix_setup(f, 0) != 0) {
        free(f);
        return -1;
    }
    /* Workers named so the test can find them in XPENDING. */
    if (it_fix_add_worker(f, "cw1") != 0 || it_fix_add_worker(f, "cw2") != 0) {
        it_fix_teardown(f);
        free(f);
        return -1;
    }
    *st = f;
    return 0;
}

static void storm_leftover_free(void);

static int teardown(void **st)
{
    it_fix_t *f = *st;
    storm_leftover_free();
    int rc = it_fix_teardown(f);
    /* A scenario that failed half-way may have left a backend down: bring both back for the tests after it (a no-op when up). */
    if (it_services("start-redis", 90000) != 0 || it_services("start-db", 90000) != 0)
        rc = -1;
    free(f);
    return rc;
}

/* ------------------------------------------------------------ the storm */

typedef struct {
    long long ticket; /* told (201, or 200 with the claim), 0 none */
    long long t201_sent, t201_done; /* the 201: its chunk's start, its answer's arrival (it_now_ms), 0 none */
    char claim_id[96];
    unsigned n201, n200, n409, nerr;
    unsigned char settled; /* got 201, 200 or 409 sold_out */
    unsigned char tried;
} user_t;

typedef struct {
    char url[256];
    char body[96];
    int user;
} req_t;

typedef struct {
    char event[64];
    char url[256];
    int users, parallel, pace_chunk, pace_ms;
    atomic_llong deadline; /* the test thread sets it to 0 to end the storm early */
    user_t *u;
    pthread_t th;
    /* read by the test thread while the storm runs */
    atomic_long requests, answered, s201, s200, s409, s503, s429, snone, sother;
    atomic_int sold_out_seen, done, in_chunk;
    /* redis-stop: 201s whose answer arrived in [fb_from, fb_until) (0: not set / still open), counted as chunks end */
    atomic_llong fb_from, fb_until;
    atomic_long fb201_live;
    /* the storm thread's own, read after the join */
    int chunk_seq, first_soldout_chunk, last_201_chunk;
    long dup201, mismatch, bad_body;
    int unsettled, retry_waves;
    long long started, wave0_end, ended;
    char first_other[256];
    int joined;                /* the thread was joined (storm_join, storm_abort) */
    long curl_errs[CURL_LAST]; /* no answer, by libcurl code */
    long long slowest_chunk_ms;
} storm_t;

/* "7x96,52x3": the libcurl codes of the requests that got no answer. */
static void curl_err_summary(const storm_t *s, char *out, size_t len)
{
    out[0] = '\0';
    for (int c = 0; c < CURL_LAST; c++) {
        size_t l = strlen(out);
        if (s->curl_errs[c] != 0 && l + 24 < len)
            snprintf(out + l, len - l, "%s%dx%ld", l ? "," : "", c, s->curl_errs[c]);
    }
    if (out[0] == '\0')
        snprintf(out, len, "none");
}

static unsigned int lcg(unsigned int *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void note_other(storm_t *s, const it_resp_t *r)
{
    atomic_fetch_add(&s->sother, 1);
    if (s->first_other[0] == '\0')
        snprintf(s->first_other, sizeof s->first_other, "%ld %.200s", r->status, r->body ? r->body : r->errbuf);
}

static void take_answer(storm_t *s, int uidx, const it_resp_t *r, int chunk, long long sent_ms, long long done_ms)
{
    user_t *u = &s->u[uidx];
    if (r->status == 201 || r->status == 200) {
        long long t = it_json_int(r->json, "ticket");
        const char *cid = it_json_str(r->json, "claim_id");
        char want[128];
        snprintf(want, sizeof want, "c-%s-%lld", s->event, t);
        if (t < 1 || cid == NULL || strcmp(cid, want) != 0) {
            s->bad_body++;
            note_other(s, r);
            return;
        }
        if (r->status == 201) {
            atomic_fetch_add(&s->s201, 1);
            if (u->n201++ > 0)
                s->dup201++; /* a second unit, or a lost claim granted again */
            else {
                u->t201_sent = sent_ms;
                u->t201_done = done_ms;
            }
            s->last_201_chunk = chunk;
            long long from = atomic_load(&s->fb_from), until = atomic_load(&s->fb_until);
            if (from != 0 && done_ms >= from && (until == 0 || done_ms < until))
                atomic_fetch_add(&s->fb201_live, 1);
        } else {
            atomic_fetch_add(&s->s200, 1);
            u->n200++;
        }
        if (u->ticket != 0 && u->ticket != t)
            s->mismatch++;
        if (u->ticket == 0) {
            u->ticket = t;
            snprintf(u->claim_id, sizeof u->claim_id, "%s", cid);
        }
        u->settled = 1;
    } else if (r->status == 409 && it_resp_error_code(r) != NULL && strcmp(it_resp_error_code(r), "sold_out") == 0) {
        atomic_fetch_add(&s->s409, 1);
        u->n409++;
        u->settled = 1;
        if (s->first_soldout_chunk == 0)
            s->first_soldout_chunk = chunk;
        atomic_store(&s->sold_out_seen, 1);
    } else if (r->status == 503) {
        atomic_fetch_add(&s->s503, 1);
        u->nerr++;
    } else if (r->status == 429) {
        atomic_fetch_add(&s->s429, 1);
        u->nerr++;
    } else if (r->status == 0) {
        atomic_fetch_add(&s->snone, 1);
        if ((int)r->code >= 0 && (int)r->code < CURL_LAST)
            s->curl_errs[r->code]++;
        u->nerr++;
    } else {
        note_other(s, r);
        u->nerr++;
    }
}

/* Sends reqs[0..n) as one it_http_multi call; chunk numbers start at 1. */
static void run_chunk(storm_t *s, req_t *reqs, size_t n)
{
    it_multi_req_t *mr = calloc(n, sizeof *mr);
    if (mr == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        mr[i].method = "POST";
        mr[i].url = reqs[i].url;
        mr[i].body = reqs[i].body;
        s->u[reqs[i].user].tried = 1;
    }
    int chunk = ++s->chunk_seq;
    long long left = s->deadline - it_now_ms();
    int budget = left > 15000 ? 15000 : left > 100 ? (int)left : 100;
    atomic_fetch_add(&s->requests, (long)n);
    long long t0 = it_now_ms();
    atomic_store(&s->in_chunk, 1);
    size_t got = it_http_multi(mr, n, s->parallel, chunk % 2 ? IT_HTTP1 : IT_HTTP2, budget);
    atomic_store(&s->in_chunk, 0);
    if (it_now_ms() - t0 > s->slowest_chunk_ms)
        s->slowest_chunk_ms = it_now_ms() - t0;
    atomic_fetch_add(&s->answered, (long)got);
    for (size_t i = 0; i < n; i++) {
        take_answer(s, reqs[i].user, &mr[i].resp, chunk, t0, mr[i].done_ms);
        it_resp_free(&mr[i].resp);
    }
    free(mr);
}

static void fill_req(const storm_t *s, req_t *q, int user)
{
    q->user = user;
    snprintf(q->url, sizeof q->url, "%s", s->url);
    snprintf(q->body, sizeof q->body, "{\"user_id\":\"cu-%06d\",\"quantity\":1}", user);
}

static void *storm_main(void *arg)
{
    storm_t *s = arg;
    s->started = it_now_ms();
    size_t n = (size_t)s->users + (size_t)s->users / 10;
    req_t *reqs = calloc(n, sizeof *reqs);
    if (reqs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        fill_req(s, &reqs[i], i < (size_t)s->users ? (int)i : (int)(i - (size_t)s->users) * 10);
    unsigned int seed = 4242;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = ((size_t)lcg(&seed) << 15 | lcg(&seed)) % (i + 1);
        req_t t = reqs[i];
        reqs[i] = reqs[j];
        reqs[j] = t;
    }
    /* Wave 0: paced until sold out, then the rest at full speed. */
    size_t next = 0;
    while (next < n && it_now_ms() < s->deadline) {
        long long t0 = it_now_ms();
        int paced = !atomic_load(&s->sold_out_seen);
        size_t k = paced ? (size_t)s->pace_chunk : (size_t)s->parallel * 16;
        if (k > n - next)
            k = n - next;
        run_chunk(s, reqs + next, k);
        next += k;
        long long spent = it_now_ms() - t0;
        if (paced && spent < s->pace_ms)
            it_sleep_ms((int)(s->pace_ms - spent));
    }
    s->wave0_end = it_now_ms();
    /* Retry waves: every user still without a definite answer asks again. */
    while (it_now_ms() < s->deadline) {
        size_t k = 0;
        for (int u = 0; u < s->users; u++)
            if (s->u[u].tried && !s->u[u].settled)
                fill_req(s, &reqs[k++], u);
        if (k == 0)
            break;
        s->retry_waves++;
        for (size_t i = 0; i < k; i += (size_t)s->parallel * 16) {
            size_t m = k - i < (size_t)s->parallel * 16 ? k - i : (size_t)s->parallel * 16;
            run_chunk(s, reqs + i, m);
        }
        it_sleep_ms(250);
    }
    for (int u = 0; u < s->users; u++)
        if (!s->u[u].settled)
            s->unsettled++;
    free(reqs);
out:
    s->ended = it_now_ms();
    atomic_store(&s->done, 1);
    return NULL;
}

static void storm_free(storm_t *s);

/* The storm of the running scenario, so that teardown frees it when an assertion left it behind. */
static storm_t *cur_storm;

/* Ends the storm now (a failed step of the test): the thread stops after its current chunk. */
static void storm_abort(storm_t *s)
{
    atomic_store(&s->deadline, 0);
    if (!s->joined)
        pthread_join(s->th, NULL);
    s->joined = 1;
}

/* An assertion taken while the storm runs: the storm is stopped first, so no thread outlives the test. */
#define STORM_ASSERT(s, cond)                                                                                                   \
    do {                                                                                                                        \
        if (!(cond)) {                                                                                                          \
            fprintf(stderr, "chaos: failed while the storm ran: %s\n", #cond);                                                   \
            storm_abort(s);                                                                                                     \
            storm_free(s);                                                                                                      \
            fail_msg("%s", #cond);                                                                                              \
        }                                                                                                                       \
    } while (0)

static storm_t *storm_start(const it_fix_t *f, const char *event_id)
{
    storm_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->event, sizeof s->event, "%s", event_id);
    snprintf(s->url, sizeof s->url, "%s/v1/events/%s/claims", f->gw.base_url, event_id);
    s->users = C.users;
    s->parallel = C.parallel;
    s->pace_chunk = C.pace_chunk;
    s->pace_ms = C.pace_ms;
    s->deadline = it_now_ms() + C.storm_ms;
    s->u = calloc((size_t)C.users, sizeof *s->u);
    assert_non_null(s->u);
    s->joined = 1; /* nothing to join until the thread runs */
    cur_storm = s;
    assert_int_equal(pthread_create(&s->th, NULL, storm_main, s), 0);
    s->joined = 0;
    return s;
}

static void storm_join(storm_t *s)
{
    /* storm_main ends by its deadline (+ one chunk's budget); it_http_multi is bounded too. */
    if (!s->joined)
        pthread_join(s->th, NULL);
    s->joined = 1;
}

static void storm_free(storm_t *s)
{
    if (s == cur_storm)
        cur_storm = NULL;
    free(s->u);
    free(s);
}

/* A scenario that failed an assertion after its storm started (in verify, say) left the storm: stop and free it (no leak report at exit). */
static void storm_leftover_free(void)
{
    if (cur_storm != NULL) {
        storm_abort(cur_storm);
        storm_free(cur_storm);
    }
}

/* Waits (bounded) until the storm has seen @n 201s; returns 0, or -1 at the deadline or when the storm ended. */
static int wait_granted(storm_t *s, long n, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    while (atomic_load(&s->s201) < n) {
        if (atomic_load(&s->done) || it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(5);
    }
    return 0;
}

/* --------------------------------------------------------- the verdict */

typedef struct {
    char why[1024];
    int ok;
} verdict_t;

static void fail_if(verdict_t *v, int bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_if(verdict_t *v, int bad, const char *fmt, ...)
{
    if (!bad)
        return;
    v->ok = 0;
    size_t len = strlen(v->why);
    if (len + 4 >= sizeof v->why)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why + len, sizeof v->why - len, fmt, ap);
    va_end(ap);
    len = strlen(v->why);
    if (len + 2 < sizeof v->why)
        strcat(v->why, "; ");
}

static void reconnect(it_fix_t *f)
{
    if (f->redis != NULL)
        redisFree(f->redis);
    f->redis = it_redis_connect();
    if (f->db != NULL)
        mysql_close(f->db);
    f->db = it_db_connect();
    assert_non_null(f->redis);
    assert_non_null(f->db);
}

/*
 * Quiescence: the admin view answers with pending = 0 and the books equal
 * (redis.granted == database.confirmed), twice in a row 300 ms apart (the
 * drain lag has settled). Bounded by C.drain_ms, and over at once when no
 * worker runs any more. Leaves the last view in @r.
 */
static int workers_running(it_fix_t *f)
{
    int n = 0;
    for (int i = 0; i < f->nworkers; i++)
        n += it_proc_alive(&f->workers[i]);
    return n;
}

static int wait_quiet(it_resp_t *r, it_fix_t *f, const char *ev)
{
    long long deadline = it_now_ms() + C.drain_ms;
    int good = 0;
    memset(r, 0, sizeof *r);
    for (;;) {
        it_resp_free(r);
        if (it_apif(r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", ev) == 0 && r->status == 200 &&
            it_json_int(r->json, "pending") == 0 &&
            it_json_int(json_object_get(r->json, "redis"), "granted") ==
                it_json_int(json_object_get(r->json, "database"), "confirmed")) {
            if (++good >= 2)
                return 0;
        } else {
            good = 0;
        }
        /* No worker left (one that meets a duplicate ticket exits): nothing will drain. */
        if (it_now_ms() >= deadline || workers_running(f) == 0)
            return -1;
        it_sleep_ms(300);
    }
}

typedef struct {
    char user[72];
    char claim_id[100];
    long long ticket, quantity;
    char status[16];
} row_t;

/* The event's rows in MariaDB, ordered by ticket; NULL on error. */
static row_t *db_rows(MYSQL *db, const char *ev, size_t *count)
{
    char q[256];
    *count = 0;
    mysql_query(db, "COMMIT");
    snprintf(q, sizeof q,
             "SELECT user_id, claim_id, ticket, quantity, status FROM claims WHERE event_id='%s' ORDER BY ticket, user_id", ev);
    if (mysql_query(db, q) != 0) {
        fprintf(stderr, "chaos: %s: %s\n", q, mysql_error(db));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(db);
    if (res == NULL)
        return NULL;
    size_t n = (size_t)mysql_num_rows(res);
    row_t *rows = calloc(n + 1, sizeof *rows);
    MYSQL_ROW row;
    size_t i = 0;
    while (rows != NULL && (row = mysql_fetch_row(res)) != NULL && i < n) {
        snprintf(rows[i].user, sizeof rows[i].user, "%s", row[0] ? row[0] : "");
        snprintf(rows[i].claim_id, sizeof rows[i].claim_id, "%s", row[1] ? row[1] : "");
        rows[i].ticket = row[2] ? strtoll(row[2], NULL, 10) : -1;
        rows[i].quantity = row[3] ? strtoll(row[3], NULL, 10) : -1;
        snprintf(rows[i].status, sizeof rows[i].status, "%s", row[4] ? row[4] : "");
        i++;
    }
    mysql_free_result(res);
    mysql_query(db, "COMMIT");
    *count = i;
    return rows;
}

/* verify()'s flags. */
enum {
    /*
     * The tickets may have gaps (redis-stop only): unique, >= 1 and strictly
     * increasing instead of exactly 1..stock; Redis seq and tickets_issued
     * equal the highest ticket instead of stock.
     */
    VERIFY_TICKET_GAPS = 1,
};

/* Every invariant at quiescence; prints the verdict line and fails the test when one is broken. */
static void verify(it_fix_t *f, storm_t *s, const char *name, const char *extra, int flags)
{
    verdict_t v = {.ok = 1};
    const long stock = C.stock;
    const int gaps_ok = (flags & VERIFY_TICKET_GAPS) != 0;

    /* The storm's own findings. */
    fail_if(&v, s->dup201 != 0, "%ld users got a second 201", s->dup201);
    fail_if(&v, s->mismatch != 0, "%ld users were told two different claims", s->mismatch);
    fail_if(&v, s->bad_body != 0, "%ld 200/201 bodies without a valid ticket/claim_id", s->bad_body);
    fail_if(&v, atomic_load(&s->sother) != 0, "%ld unexpected answers, first: %s", (long)atomic_load(&s->sother), s->first_other);
    fail_if(&v, s->first_soldout_chunk == 0, "no sold_out answer: demand did not exceed stock");
    fail_if(&v, s->first_soldout_chunk != 0 && s->last_201_chunk > s->first_soldout_chunk,
            "a 201 in chunk %d after sold_out in chunk %d", s->last_201_chunk, s->first_soldout_chunk);

    /* Quiescence and the admin view. */
    it_resp_t view;
    int quiet = wait_quiet(&view, f, s->event);
    json_t *rj = json_object_get(view.json, "redis"), *dj = json_object_get(view.json, "database");
    long long v_granted = it_json_int(rj, "granted"), v_remaining = it_json_int(rj, "remaining"),
              v_issued = it_json_int(rj, "tickets_issued"), v_conf = it_json_int(dj, "confirmed"),
              v_rej = it_json_int(dj, "rejected"), v_canc = it_json_int(dj, "cancelled"), v_pending = it_json_int(view.json, "pending");
    fail_if(&v, quiet != 0, "not quiet within %d ms (%d of %d workers running): %ld %.300s", C.drain_ms, workers_running(f), f->nworkers,
            view.status, view.body ? view.body : view.errbuf);
    fail_if(&v, v_granted != stock, "admin redis.granted=%lld", v_granted);
    fail_if(&v, v_remaining != 0, "admin redis.remaining=%lld", v_remaining);
    fail_if(&v, v_conf != stock, "admin database.confirmed=%lld", v_conf);
    fail_if(&v, v_rej != 0 || v_canc != 0, "admin database.rejected=%lld cancelled=%lld", v_rej, v_canc);
    fail_if(&v, v_pending != 0, "admin pending=%lld", v_pending);
    it_resp_free(&view);

    /* Redis directly. */
    long long r_total = it_redis_ev_int(f->redis, s->event, "total", -1);
    long long r_rem = it_redis_ev_int(f->redis, s->event, "remaining", -1);
    long long r_seq = it_redis_ev_int(f->redis, s->event, "seq", -1);
    long long r_claims = it_redis_claims_count(f->redis, s->event), r_xlen = it_redis_xlen(f->redis, s->event);
    fail_if(&v, r_total != stock || r_rem != 0, "redis total=%lld remaining=%lld", r_total, r_rem);
    fail_if(&v, r_claims != stock, "redis claims=%lld", r_claims);
    fail_if(&v, r_xlen != 0, "redis stream length=%lld", r_xlen);

    /* MariaDB: the stock row and every claim row. */
    long long db_sold = it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", s->event);
    long long db_total = it_db_int(f->db, -1, "SELECT total FROM event_stock WHERE event_id='%s'", s->event);
    fail_if(&v, db_sold != stock || db_total != stock, "event_stock sold=%lld total=%lld", db_sold, db_total);
    size_t nrows = 0;
    row_t *rows = db_rows(f->db, s->event, &nrows);
    fail_if(&v, rows == NULL, "cannot read the claim rows");
    long confirmed = 0, units = 0, order_bad = 0, over_limit = 0, untold = 0, untold_settled = 0, wrong_id = 0;
    long long max_ticket = 0;
    unsigned char *row_of_user = calloc((size_t)C.users, 1);
    assert_non_null(row_of_user);
    for (size_t i = 0; rows != NULL && i < nrows; i++) {
        row_t *w = &rows[i];
        if (strcmp(w->status, "confirmed") == 0)
            confirmed++;
        units += w->quantity;
        if (w->quantity != 1)
            over_limit++;
        if (gaps_ok ? w->ticket < 1 || (i > 0 && w->ticket <= rows[i - 1].ticket) /* sorted by ticket: unique, increasing */
                    : w->ticket != (long long)i + 1)                             /* sorted by ticket: exactly 1..n */
            order_bad++;
        if (w->ticket > max_ticket)
            max_ticket = w->ticket;
        char want[128];
        snprintf(want, sizeof want, "c-%s-%lld", s->event, w->ticket);
        if (strcmp(want, w->claim_id) != 0)
            wrong_id++;
        int u = -1;
        if (sscanf(w->user, "cu-%d", &u) != 1 || u < 0 || u >= C.users) {
            fail_if(&v, 1, "row of unknown user %s", w->user);
            continue;
        }
        row_of_user[u]++;
        user_t *us = &s->u[u];
        if (us->ticket == 0) {
            untold++; /* granted, but every answer this user got was lost */
            if (us->settled)
                untold_settled++;
        } else if (us->ticket != w->ticket || strcmp(us->claim_id, w->claim_id) != 0) {
            fail_if(&v, 1, "user %s told %s, row says %s", w->user, us->claim_id, w->claim_id);
        }
    }
    long told = 0, lost = 0, dup_rows = 0;
    for (int u = 0; u < C.users; u++) {
        if (row_of_user[u] > 1)
            dup_rows++;
        if (s->u[u].ticket == 0)
            continue;
        told++;
        if (row_of_user[u] == 0)
            lost++;
    }
    free(row_of_user);
    free(rows);
    fail_if(&v, (long)nrows != stock, "%zu rows for stock %ld", nrows, stock);
    fail_if(&v, confirmed != stock, "%ld confirmed rows", confirmed);
    fail_if(&v, units != stock, "%ld units in rows (oversell=%ld)", units, units > stock ? units - stock : 0);
    fail_if(&v, over_limit != 0, "%ld rows above max_per_user", over_limit);
    if (gaps_ok)
        fail_if(&v, order_bad != 0, "%ld rows whose ticket is < 1 or not above the previous row's (duplicate tickets)", order_bad);
    else
        fail_if(&v, order_bad != 0, "%ld rows out of the ticket sequence 1..%ld", order_bad, stock);
    /* The highest ticket drawn: stock without gaps; with gaps, each unused ticket is a gap. */
    long long want_seq = gaps_ok ? max_ticket : stock, gaps = max_ticket - (long long)nrows;
    fail_if(&v, v_issued != want_seq, "admin redis.tickets_issued=%lld, expected %lld", v_issued, want_seq);
    fail_if(&v, r_seq != want_seq, "redis seq=%lld, expected %lld", r_seq, want_seq);
    /* Gaps come only from claims whose Redis reply was lost: at most one per storm connection in flight at the stop. */
    fail_if(&v, gaps_ok && gaps > C.parallel, "%lld ticket gaps (highest ticket %lld for %zu rows), more than the %d claims that can be in flight",
            gaps, max_ticket, nrows, C.parallel);
    fail_if(&v, wrong_id != 0, "%ld rows whose claim_id is not c-E-ticket", wrong_id);
    fail_if(&v, lost != 0, "%ld told claims have no row (LOST)", lost);
    fail_if(&v, dup_rows != 0, "%ld users with two rows", dup_rows);
    fail_if(&v, untold_settled != 0, "%ld rows of users who were answered sold_out, never told", untold_settled);
    fail_if(&v, s->unsettled == 0 && untold != 0, "%ld rows nobody was told about, though every user got an answer", untold);
    fail_if(&v, told + untold != stock, "told %ld + untold %ld != stock", told, untold);
    fail_if(&v, told > stock, "%ld users were told a claim (201, or 200 with a claim) for stock %ld: OVERSOLD to clients by %ld", told,
            stock, told - stock);

    /* Units beyond the stock, in the rows or in the claims clients were told (each claim is 1 unit). */
    long oversell = units > stock ? units - stock : 0;
    if (told - stock > oversell)
        oversell = told - stock;
    char errs[128], ticket_note[96] = "";
    curl_err_summary(s, errs, sizeof errs);
    if (gaps_ok)
        snprintf(ticket_note, sizeof ticket_note, " max-ticket=%lld gaps=%lld", max_ticket, gaps);
    fprintf(stderr,
            "chaos %s: %s granted=%lld/%ld confirmed=%ld told=%ld untold=%ld %s%s 503s=%ld 429s=%ld no-answer=%ld (curl %s) oversell=%ld "
            "duplicates=%ld books redis=%lld db=%lld storm=%ld req/%ld 201s in %.1fs (first wave %.1fs, slowest chunk %.1fs, %d retry waves) unsettled=%d\n",
            name, v.ok ? "PASS" : "FAIL", v_granted, stock, confirmed, told, untold, extra, ticket_note, (long)atomic_load(&s->s503),
            (long)atomic_load(&s->s429), (long)atomic_load(&s->snone), errs, oversell, s->dup201 + dup_rows, v_granted, db_sold,
            (long)atomic_load(&s->requests), (long)atomic_load(&s->s201), (s->ended - s->started) / 1000.0,
            (s->wave0_end - s->started) / 1000.0, s->slowest_chunk_ms / 1000.0, s->retry_waves, s->unsettled);
    if (!v.ok)
        fprintf(stderr, "chaos %s: broken: %s\n", name, v.why);
    assert_true(v.ok);
}

static void new_event(const it_fix_t *f, char *ev, size_t len, const char *prefix)
{
    it_event_id(ev, len, prefix);
    assert_int_equal(it_api_create_event(f, ev, C.stock, 1, 0, 0), 201);
    /* Let the workers discover the event (WORKER_DISCOVER_MS) before the storm. */
    it_sleep_ms(400);
}

/* ------------------------------------------- the gateway's path (redis-stop) */

/*
 * Polls GET /readyz (its status is 503 while Redis is down; the body says
 * "path" either way) every 50 ms until its "path" is @want, for at most
 * @timeout_ms. Appends each new path it sees to @seen ("fast>lost>grant");
 * copies the event @ev's entry of "paths" at the moment @want was seen into
 * @evpath; leaves the last answer (status and body) in @last. Returns 0, or
 * -1 at the deadline.
 */
static int wait_path(const it_fix_t *f, const char *ev, const char *want, int timeout_ms, char *seen, size_t seenlen,
                     char *evpath, size_t evlen, char *last, size_t lastlen)
{
    long long deadline = it_now_ms() + timeout_ms;
    char prev[32] = "";
    size_t l = strlen(seen);
    const char *tail = strrchr(seen, '>');
    snprintf(prev, sizeof prev, "%s", tail != NULL ? tail + 1 : seen);
    for (;;) {
        it_resp_t r;
        memset(&r, 0, sizeof r);
        int got = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0;
        const char *path = got ? it_json_str(r.json, "path") : NULL;
        snprintf(last, lastlen, "%ld %.400s", r.status, r.body != NULL ? r.body : r.errbuf);
        if (path != NULL && strcmp(path, prev) != 0) {
            snprintf(prev, sizeof prev, "%s", path);
            l = strlen(seen);
            if (l + strlen(path) + 2 < seenlen)
                snprintf(seen + l, seenlen - l, "%s%s", l ? ">" : "", path);
        }
        int hit = path != NULL && strcmp(path, want) == 0;
        if (hit) {
            const char *e = it_json_str(json_object_get(r.json, "paths"), ev);
            snprintf(evpath, evlen, "%s", e != NULL ? e : "(absent)");
        }
        it_resp_free(&r);
        if (hit)
            return 0;
        if (it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(50);
    }
}

/*
 * The value of the series @series in the Prometheus text @body: @series is
 * either a bare metric name (then every series of that name is summed, with
 * or without labels) or a name with its labels exactly as printed
 * (tk_path_mode{mode="grant"}). -1 when there is none.
 */
static long long metric_in(const char *body, const char *series)
{
    size_t n = strlen(series);
    int bare = strchr(series, '{') == NULL, found = 0;
    long long sum = 0;
    for (const char *p = body; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (*p != '#' && strncmp(p, series, n) == 0) {
            const char *q = p + n;
            if (bare && *q == '{') {
                q = strchr(q, '}');
                q = q != NULL && (eol == NULL || q < eol) ? q + 1 : NULL;
            }
            if (q != NULL && *q == ' ') {
                sum += (long long)strtod(q + 1, NULL);
                found = 1;
            }
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

/* GET /metrics and metric_in() of each @series[i] into @out[i] (-1 when absent or no answer). */
static void metrics_read(const it_fix_t *f, const char *const *series, long long *out, int n)
{
    it_resp_t r;
    memset(&r, 0, sizeof r);
    int ok = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/metrics") == 0 && r.status == 200 && r.body != NULL;
    for (int i = 0; i < n; i++)
        out[i] = ok ? metric_in(r.body, series[i]) : -1;
    it_resp_free(&r);
}

/* ---------------------------------------------------------- scenarios */

static void worker_kill(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-wk");
    storm_t *s = storm_start(f, ev);

    int kills = 0, renamed = 0;
    char names[2][32] = {"cw1", "cw2"};
    char at_kill[256] = "";
    long long deadline = it_now_ms() + C.storm_ms;
    /* Prefer a fuller batch (several entries read, none confirmed); after 700 ms without one, any batch. */
    long long since = it_now_ms();
    while (kills < C.kills && it_now_ms() < deadline) {
        int hit = 0;
        long long want = it_now_ms() - since < 700 ? 3 : 1;
        for (int i = 0; i < 2 && !hit; i++) {
            int w = (kills + i) % 2; /* alternate which worker dies first */
            long long pend = it_redis_pending_of(f->redis, ev, names[w]);
            if (pend < want || !it_proc_alive(&f->workers[w]))
                continue;
            it_proc_kill(&f->workers[w]);
            kills++;
            hit = 1;
            size_t l = strlen(at_kill);
            snprintf(at_kill + l, sizeof at_kill - l, "%s%s:%lld", l ? "," : "", names[w], pend);
            /* Odd kills: back under the same name (it re-reads its own pending entries); even: a new name. */
            if (kills % 2 == 0)
                snprintf(names[w], sizeof names[w], "cw%d-r%d", w + 1, ++renamed);
            STORM_ASSERT(s, it_worker_start(&f->workers[w], names[w]) == 0);
            since = it_now_ms();
        }
        if (!hit) {
            if (atomic_load(&s->done) && it_redis_xlen(f->redis, ev) == 0)
                break; /* nothing left to drain: no batch to kill in */
            it_sleep_ms(1);
        }
    }
    storm_join(s);
    char extra[400];
    snprintf(extra, sizeof extra, "kills=%d pending-at-kill=[%s]", kills, at_kill);
    verify(f, s, "worker-kill", extra, 0);
    assert_int_equal(kills, C.kills);
    /* Both workers (the restarted ones) still up, and they stop cleanly. */
    assert_true(it_proc_alive(&f->workers[0]));
    assert_true(it_proc_alive(&f->workers[1]));
    storm_free(s);
}

static void db_outage(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-db");
    storm_t *s = storm_start(f, ev);
    STORM_ASSERT(s, wait_granted(s, C.stock / 20, 20000) == 0);
    long long t0 = it_now_ms();
    STORM_ASSERT(s, it_services("stop-db", 90000) == 0);
    long long t_down = it_now_ms();
    long granted_at_stop = atomic_load(&s->s201);
    it_sleep_ms(C.db_down_ms);
    long long backlog = it_redis_xlen(f->redis, ev);
    long granted_down = atomic_load(&s->s201) - granted_at_stop;
    STORM_ASSERT(s, it_services("start-db", 90000) == 0);
    long long t_up = it_now_ms();
    storm_join(s);
    reconnect(f);
    char extra[300];
    snprintf(extra, sizeof extra, "db-down=%.1fs (stop took %.1fs, start %.1fs) backlog-at-start=%lld granted-while-down=%ld",
             (t_up - t_down) / 1000.0, (t_down - t0) / 1000.0, (t_up - t_down - C.db_down_ms) / 1000.0, backlog, granted_down);
    verify(f, s, "db-outage", extra, 0);
    /* The outage met claims waiting to be written, or it proved nothing. */
    assert_true(backlog > 0);
    storm_free(s);
}

static void redis_kill(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-rk");
    storm_t *s = storm_start(f, ev);
    STORM_ASSERT(s, wait_granted(s, C.stock / 3, 20000) == 0);
    long told_before = atomic_load(&s->s201) + atomic_load(&s->s200);
    STORM_ASSERT(s, it_services("kill-redis", 30000) == 0);
    long long t_down = it_now_ms();
    it_sleep_ms(C.redis_down_ms);
    STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    storm_join(s);
    reconnect(f);
    /*
     * Down longer than FALLBACK_AFTER_MS (at scale 10), the gateway may have
     * granted from MariaDB meanwhile; then, as in redis-stop, a claim whose
     * reply the kill cut off may have left an unused ticket. Only then are
     * gaps accepted.
     */
    static const char *const fb_series[] = {"tk_fallback_grants_total"};
    long long fb_grants;
    metrics_read(f, fb_series, &fb_grants, 1);
    char extra[300];
    snprintf(extra, sizeof extra, "redis-down=%.1fs told-before-kill=%ld fallback-grants=%lld", (t_up - t_down) / 1000.0, told_before,
             fb_grants);
    verify(f, s, "redis-kill", extra, fb_grants > 0 ? VERIFY_TICKET_GAPS : 0);
    storm_free(s);
}

static void gateway_restart(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-gw");
    storm_t *s = storm_start(f, ev);
    char extra[300] = "";
    for (int i = 0; i < C.gw_restarts; i++) {
        STORM_ASSERT(s, wait_granted(s, C.stock * (i + 1) / (C.gw_restarts + 2), 20000) == 0);
        /* SIGTERM just after a chunk started: its requests are in flight. */
        long long until = it_now_ms() + 5000;
        while (!atomic_load(&s->in_chunk) && it_now_ms() < until)
            it_sleep_ms(1);
        it_sleep_ms(10);
        int inflight = atomic_load(&s->in_chunk);
        long long t0 = it_now_ms();
        int rc = it_proc_stop(&f->gw.proc, IT_STOP_MS);
        long long t1 = it_now_ms();
        STORM_ASSERT(s, rc == 0); /* in-flight requests finished, clean exit under the sanitizers */
        STORM_ASSERT(s, it_gateway_restart(&f->gw, IT_READY_MS) == 0);
        long long t2 = it_now_ms();
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, "%srestart%d: stop=%.2fs start=%.2fs chunk-in-flight=%s", i ? " " : "", i + 1,
                 (t1 - t0) / 1000.0, (t2 - t1) / 1000.0, inflight ? "yes" : "no");
    }
    storm_join(s);
    verify(f, s, "gateway-restart", extra, 0);
    /* In-flight requests completed: the only requests without an answer are those refused a connection while no gateway listened. */
    long cut = atomic_load(&s->snone) - s->curl_errs[CURLE_COULDNT_CONNECT];
    if (cut != 0) {
        char errs[128];
        curl_err_summary(s, errs, sizeof errs);
        fprintf(stderr, "chaos gateway-restart: %ld requests cut off without an answer (curl codes %s)\n", cut, errs);
    }
    assert_int_equal(cut, 0);
    storm_free(s);
}

/*
 * CHAOS_REDIS_BALLAST=N (default 0): N keys "chaos:ballast:<i>" written
 * before the storm, so that Redis restarting from its AOF spends a while
 * answering LOADING (a big dataset) while the gateway reconnects and merges.
 * Pipelined, 1,000 per round trip. Returns 0 or -1.
 */
static int redis_ballast(redisContext *rc, long n)
{
    for (long i = 0; i < n; i += 1000) {
        long m = n - i < 1000 ? n - i : 1000;
        for (long j = 0; j < m; j++)
            if (redisAppendCommand(rc, "SET chaos:ballast:%ld %ld", i + j, i + j) != REDIS_OK)
                return -1;
        for (long j = 0; j < m; j++) {
            void *reply = NULL;
            if (redisGetReply(rc, &reply) != REDIS_OK)
                return -1;
            freeReplyObject(reply);
        }
    }
    return 0;
}

static void redis_stop(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-rs");
    /* Default: none inside make test (the AOF it would leave slows every later Redis restart of the run); 1,000,000 in make chaos. */
    long ballast = getenv("CHAOS_REDIS_BALLAST") != NULL ? atol(getenv("CHAOS_REDIS_BALLAST")) : C.scale > 1 ? 1000000 : 0;
    if (ballast > 0) {
        long long tb = it_now_ms();
        assert_int_equal(redis_ballast(f->redis, ballast), 0);
        fprintf(stderr, "chaos redis-stop: %ld ballast keys written in %.1fs\n", ballast, (it_now_ms() - tb) / 1000.0);
    }
    storm_t *s = storm_start(f, ev);
    STORM_ASSERT(s, wait_granted(s, C.stock / 4, 20000) == 0);
    long told_before = atomic_load(&s->s201) + atomic_load(&s->s200);
    long long t_stop = it_now_ms();
    STORM_ASSERT(s, it_services("stop-redis", 90000) == 0);
    long long t_down = it_now_ms();

    /* Mode lost, then grant: FALLBACK_AFTER_MS with nothing in flight. */
    char seen[160] = "", evpath_grant[32] = "", evpath_fast[32] = "", last[512] = "";
    int rc = wait_path(f, ev, "grant", C.grant_wait_ms, seen, sizeof seen, evpath_grant, sizeof evpath_grant, last, sizeof last);
    if (rc != 0)
        fprintf(stderr,
                "chaos redis-stop: /readyz never said \"path\":\"grant\" within %d ms of Redis stopping (paths seen: %s); "
                "last answer: %s\n",
                C.grant_wait_ms, seen[0] ? seen : "none", last);
    STORM_ASSERT(s, rc == 0);
    long long t_grant = it_now_ms();
    atomic_store(&s->fb_from, t_grant);

    /* Redis stays down REDIS_STOP_MS from the stop, and at least 1 s in grant; longer (bounded) while the fallback has granted nothing yet with stock left. */
    long long until = t_down + C.redis_stop_ms;
    if (until < t_grant + 1000)
        until = t_grant + 1000;
    while (it_now_ms() < until)
        it_sleep_ms(20);
    long long extend_to = it_now_ms() + 5000;
    while (atomic_load(&s->fb201_live) == 0 && !atomic_load(&s->sold_out_seen) && !atomic_load(&s->done) && it_now_ms() < extend_to)
        it_sleep_ms(20);
    static const char *const down_series[] = {"tk_fallback_grants_total", "tk_path_mode{mode=\"grant\"}"};
    long long down_m[2];
    metrics_read(f, down_series, down_m, 2);
    /* Still grant at the end of the window (one poll). */
    char still[512], evpath_end[32] = "";
    int still_grant = wait_path(f, ev, "grant", 0, seen, sizeof seen, evpath_end, sizeof evpath_end, still, sizeof still) == 0;
    long long t_until = it_now_ms();
    atomic_store(&s->fb_until, t_until);

    STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    /* Mode merge (drain, rebuild, unlock), then fast. */
    rc = wait_path(f, ev, "fast", C.merge_wait_ms, seen, sizeof seen, evpath_fast, sizeof evpath_fast, last, sizeof last);
    long long t_fast = it_now_ms();
    if (rc != 0)
        fprintf(stderr,
                "chaos redis-stop: /readyz never said \"path\":\"fast\" within %d ms of Redis starting again (paths seen: %s); "
                "last answer: %s\n",
                C.merge_wait_ms, seen, last);
    STORM_ASSERT(s, rc == 0);
    static const char *const up_series[] = {"tk_fallback_merges_total", "tk_fallback_grants_total"};
    long long up_m[2];
    metrics_read(f, up_series, up_m, 2);
    /*
     * Back on the fast path, Redis's ticket sequence must already be at or
     * above every ticket MariaDB holds (the fallback's included): MariaDB
     * read first, then Redis (seq only grows). Redis may still answer
     * LOADING for a moment: retried, bounded.
     */
    reconnect(f);
    long long db_max_at_fast = it_db_int(f->db, 0, "SELECT COALESCE(MAX(ticket), 0) FROM claims WHERE event_id='%s'", ev);
    long long seq_at_fast = -1, seq_until = it_now_ms() + 3000;
    while ((seq_at_fast = it_redis_ev_int(f->redis, ev, "seq", -1)) < 0 && it_now_ms() < seq_until) {
        it_sleep_ms(50);
        reconnect(f);
    }
    int seq_behind = seq_at_fast < db_max_at_fast;
    if (seq_behind)
        fprintf(stderr,
                "chaos redis-stop: /readyz said \"path\":\"fast\" (merges counted: %lld) while Redis seq was %lld, below the highest "
                "ticket in MariaDB, %lld: the event was not rebuilt from MariaDB, the fast path will draw tickets the fallback drew\n",
                up_m[0], seq_at_fast, db_max_at_fast);
    storm_join(s);
    reconnect(f);

    /*
     * By the 201s' times (the storm thread has ended): those answered while
     * the mode was grant; the order across the switches; the fast path's
     * grants once it was back.
     */
    long fb201 = 0, after201 = 0, order_fb = 0, order_fast = 0;
    long long max_before_stop = 0, min_fb = 0, max_before_up = 0, min_after = 0;
    for (int u = 0; u < C.users; u++) {
        const user_t *us = &s->u[u];
        if (us->t201_done == 0)
            continue;
        if (us->t201_done < t_stop && us->ticket > max_before_stop)
            max_before_stop = us->ticket;
        if (us->t201_done < t_until && us->ticket > max_before_up)
            max_before_up = us->ticket;
        if (us->t201_done >= t_grant && us->t201_done < t_until)
            fb201++;
        if (us->t201_sent >= t_grant && us->t201_done < t_until && (min_fb == 0 || us->ticket < min_fb))
            min_fb = us->ticket;
        if (us->t201_sent >= t_fast) {
            after201++;
            if (min_after == 0 || us->ticket < min_after)
                min_after = us->ticket;
        }
    }
    if (min_fb != 0 && min_fb <= max_before_stop)
        order_fb = 1;
    if (min_after != 0 && min_after <= max_before_up)
        order_fast = 1;

    char extra[900];
    snprintf(extra, sizeof extra,
             "redis-down=%.1fs (stop took %.1fs, grant after %.1fs, %.1fs in grant%s) paths=%s event-path=%s/%s "
             "fallback-201s=%ld (tickets from %lld, before the stop up to %lld) tk_fallback_grants_total=%lld/%lld merge=%.1fs "
             "tk_fallback_merges_total=%lld seq-at-fast=%lld (MariaDB max ticket %lld) fast-201s=%ld (tickets from %lld) told-before-stop=%ld",
             (t_up - t_down) / 1000.0, (t_down - t_stop) / 1000.0, (t_grant - t_down) / 1000.0, (t_until - t_grant) / 1000.0,
             still_grant ? "" : ", NOT grant at the end", seen, evpath_grant, evpath_fast, fb201, min_fb, max_before_stop, down_m[0],
             up_m[1], (t_fast - t_up) / 1000.0, up_m[0], seq_at_fast, db_max_at_fast, after201, min_after, told_before);
    verify(f, s, "redis-stop", extra, VERIFY_TICKET_GAPS);
    if (fb201 == 0 || down_m[0] <= 0 || down_m[1] != 1 || !still_grant || up_m[0] < 1 || up_m[1] < fb201 || order_fb || order_fast)
        fprintf(stderr,
                "chaos redis-stop: fallback checks: 201s while grant=%ld (want > 0), tk_fallback_grants_total=%lld in grant (want > 0) "
                "and %lld after the merge (want >= the 201s while grant), tk_path_mode{mode=\"grant\"}=%lld (want 1), "
                "still grant before the start=%s (last: %s), tk_fallback_merges_total=%lld (want >= 1), "
                "lowest fallback ticket %lld above %lld before the stop=%s, lowest fast ticket after the merge %lld above %lld "
                "before the start=%s\n",
                fb201, down_m[0], up_m[1], down_m[1], still_grant ? "yes" : "no", still, up_m[0], min_fb, max_before_stop,
                order_fb ? "NO" : "yes", min_after, max_before_up, order_fast ? "NO" : "yes");
    /* The fallback served claims while Redis was away, and said so. */
    assert_true(fb201 > 0);
    assert_true(down_m[0] > 0);
    assert_int_equal(down_m[1], 1);
    assert_true(still_grant);
    assert_true(up_m[0] >= 1);
    assert_false(seq_behind);
    assert_true(up_m[1] >= fb201); /* every 201 while Redis was down was a fallback grant */
    /* First come, first served across both switches. */
    assert_false(order_fb);
    assert_false(order_fast);
    storm_free(s);
}

/* The first line of the log @path that holds @needle into @out ("" when none). */
static void log_grep(const char *path, const char *needle, char *out, size_t len)
{
    out[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strstr(line, needle) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, len, "%.400s", line);
            break;
        }
    }
    fclose(fp);
}

typedef struct {
    long long ticket;
    int user;
} told_ticket_t;

static int told_ticket_cmp(const void *a, const void *b)
{
    const told_ticket_t *x = a, *y = b;
    return x->ticket < y->ticket ? -1 : x->ticket > y->ticket ? 1 : x->user - y->user;
}

/*
 * Users told the same ticket (201, or 200 with a claim): how many such
 * pairs; the first printed into @first.
 */
static long told_ticket_dups(const storm_t *s, char *first, size_t len)
{
    told_ticket_t *t = calloc((size_t)s->users, sizeof *t);
    assert_non_null(t);
    size_t n = 0;
    for (int u = 0; u < s->users; u++)
        if (s->u[u].ticket != 0)
            t[n++] = (told_ticket_t){s->u[u].ticket, u};
    qsort(t, n, sizeof *t, told_ticket_cmp);
    long dups = 0;
    first[0] = '\0';
    for (size_t i = 1; i < n; i++) {
        if (t[i].ticket != t[i - 1].ticket)
            continue;
        if (dups++ == 0)
            snprintf(first, len, "ticket %lld told to cu-%06d and cu-%06d", t[i].ticket, t[i - 1].user, t[i].user);
    }
    free(t);
    return dups;
}

static void gateway_kill_fallback(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    new_event(f, ev, sizeof ev, "chaos-gk");
    storm_t *s = storm_start(f, ev);
    STORM_ASSERT(s, wait_granted(s, C.stock / 4, 20000) == 0);
    long long t_stop = it_now_ms();
    STORM_ASSERT(s, it_services("stop-redis", 90000) == 0);
    long long t_down = it_now_ms();

    char seen[160] = "", evpath_grant[32] = "", evpath_fast[32] = "", last[512] = "";
    int rc = wait_path(f, ev, "grant", C.grant_wait_ms, seen, sizeof seen, evpath_grant, sizeof evpath_grant, last, sizeof last);
    if (rc != 0)
        fprintf(stderr,
                "chaos gateway-kill-fallback: /readyz never said \"path\":\"grant\" within %d ms of Redis stopping (paths seen: %s); "
                "last answer: %s\n",
                C.grant_wait_ms, seen[0] ? seen : "none", last);
    STORM_ASSERT(s, rc == 0);
    long long t_grant = it_now_ms();
    atomic_store(&s->fb_from, t_grant);

    /* The fallback grants for a while: until FB_KILL_AFTER 201s arrived, sold out, or FB_KILL_WAIT_MS. */
    long long until = t_grant + C.fb_kill_wait_ms;
    while (atomic_load(&s->fb201_live) < C.fb_kill_after && !atomic_load(&s->sold_out_seen) && !atomic_load(&s->done) &&
           it_now_ms() < until)
        it_sleep_ms(10);
    static const char *const down_series[] = {"tk_fallback_grants_total"};
    long long fb_grants;
    metrics_read(f, down_series, &fb_grants, 1);

    /* SIGKILL mid-fallback: whatever the gateway knew in memory is gone. */
    long long t_kill = it_now_ms();
    atomic_store(&s->fb_until, t_kill);
    it_proc_kill(&f->gw.proc);
    STORM_ASSERT(s, !it_proc_alive(&f->gw.proc));
    long long db_max_at_kill = it_db_int(f->db, 0, "SELECT COALESCE(MAX(ticket), 0) FROM claims WHERE event_id='%s'", ev);

    STORM_ASSERT(s, it_services("start-redis", 90000) == 0);
    long long t_up = it_now_ms();
    reconnect(f);
    long long seq_from_aof = it_redis_ev_int(f->redis, ev, "seq", -1);
    STORM_ASSERT(s, it_gateway_restart(&f->gw, IT_READY_MS) == 0);
    long long t_gw = it_now_ms();

    seen[0] = '\0';
    rc = wait_path(f, ev, "fast", C.merge_wait_ms, seen, sizeof seen, evpath_fast, sizeof evpath_fast, last, sizeof last);
    long long t_fast = it_now_ms();
    if (rc != 0)
        fprintf(stderr,
                "chaos gateway-kill-fallback: the new gateway's /readyz never said \"path\":\"fast\" within %d ms (paths seen: %s); "
                "last answer: %s\n",
                C.merge_wait_ms, seen, last);
    STORM_ASSERT(s, rc == 0);
    /* On the fast path, Redis must already hold every ticket MariaDB holds: MariaDB read first (seq only grows). */
    reconnect(f);
    long long db_max_at_fast = it_db_int(f->db, 0, "SELECT COALESCE(MAX(ticket), 0) FROM claims WHERE event_id='%s'", ev);
    long long seq_at_fast = -1, seq_until = it_now_ms() + 3000;
    while ((seq_at_fast = it_redis_ev_int(f->redis, ev, "seq", -1)) < 0 && it_now_ms() < seq_until) {
        it_sleep_ms(50);
        reconnect(f);
    }
    int seq_behind = seq_at_fast < db_max_at_fast;
    if (seq_behind)
        fprintf(stderr,
                "chaos gateway-kill-fallback: the new gateway said \"path\":\"fast\" while Redis seq was %lld (from its AOF: %lld), below "
                "the highest ticket in MariaDB, %lld: Redis sells from stale books, tickets above %lld are drawn twice\n",
                seq_at_fast, seq_from_aof, db_max_at_fast, seq_at_fast);
    storm_join(s);
    reconnect(f);

    /* By the 201s' times: those answered by the fallback before the kill; order across the kill. */
    long fb201 = 0, after201 = 0;
    long long max_before_kill = 0, min_after = 0;
    for (int u = 0; u < C.users; u++) {
        const user_t *us = &s->u[u];
        if (us->t201_done == 0)
            continue;
        if (us->t201_done < t_kill && us->ticket > max_before_kill)
            max_before_kill = us->ticket;
        if (us->t201_done >= t_grant && us->t201_done < t_kill)
            fb201++;
        if (us->t201_sent >= t_fast) {
            after201++;
            if (min_after == 0 || us->ticket < min_after)
                min_after = us->ticket;
        }
    }
    int order_bad = min_after != 0 && min_after <= max_before_kill;
    char dup_first[128];
    long told_dups = told_ticket_dups(s, dup_first, sizeof dup_first);
    if (told_dups != 0)
        fprintf(stderr, "chaos gateway-kill-fallback: %ld tickets told to two users (DUPLICATE TICKETS), first: %s\n", told_dups, dup_first);
    if (order_bad)
        fprintf(stderr,
                "chaos gateway-kill-fallback: a request sent after the new gateway said \"fast\" got ticket %lld, not above %lld, the "
                "highest ticket told before the kill\n",
                min_after, max_before_kill);
    /* A worker that met a duplicate ticket exits (error 1062): say so before verify() reports what is left undrained. */
    int dead = 0;
    for (int i = 0; i < f->nworkers; i++) {
        char line[512];
        log_grep(f->workers[i].log_path, "1062", line, sizeof line);
        if (!it_proc_alive(&f->workers[i])) {
            dead++;
            fprintf(stderr, "chaos gateway-kill-fallback: worker %s is no longer running (log %s)%s%s\n", f->workers[i].name,
                    f->workers[i].log_path, line[0] ? ": " : "", line);
        } else if (line[0] != '\0') {
            fprintf(stderr, "chaos gateway-kill-fallback: worker %s met a duplicate key: %s\n", f->workers[i].name, line);
        }
    }

    char extra[900];
    snprintf(extra, sizeof extra,
             "redis-down=%.1fs (stop took %.1fs, grant after %.1fs, killed %.1fs into grant) paths-after-restart=%s event-path=%s/%s "
             "fallback-201s=%ld tk_fallback_grants_total=%lld (before the kill) mariadb-max-ticket-at-kill=%lld seq-from-aof=%lld "
             "new-gateway-up=%.1fs fast-after=%.1fs seq-at-fast=%lld (MariaDB max ticket %lld) fast-201s=%ld (tickets from %lld, before "
             "the kill up to %lld) told-duplicates=%ld dead-workers=%d",
             (t_up - t_down) / 1000.0, (t_down - t_stop) / 1000.0, (t_grant - t_down) / 1000.0, (t_kill - t_grant) / 1000.0, seen,
             evpath_grant, evpath_fast, fb201, fb_grants, db_max_at_kill, seq_from_aof, (t_gw - t_up) / 1000.0, (t_fast - t_gw) / 1000.0,
             seq_at_fast, db_max_at_fast, after201, min_after, max_before_kill, told_dups, dead);
    verify(f, s, "gateway-kill-fallback", extra, VERIFY_TICKET_GAPS);
    /* The premise: the fallback had granted when the gateway died, and Redis came back older than MariaDB. */
    assert_true(fb201 > 0);
    assert_true(fb_grants > 0);
    assert_true(seq_from_aof < db_max_at_kill);
    assert_false(seq_behind);
    assert_int_equal(told_dups, 0);
    assert_false(order_bad);
    assert_int_equal(dead, 0);
    storm_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(worker_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(db_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(redis_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(gateway_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(redis_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(gateway_kill_fallback, setup, teardown),
    };
    /* CHAOS_ONLY=redis_kill (a cmocka filter, * and ? allowed) runs one scenario. */
    if (getenv("CHAOS_ONLY") != NULL)
        cmocka_set_test_filter(getenv("CHAOS_ONLY"));
    return cmocka_run_group_tests_name("it_chaos", tests, group_setup, NULL);
}
