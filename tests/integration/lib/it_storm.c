/*
 * it_storm: the claim storm of the chaos scenarios (what it sends and how it
 * paces, in it_storm.h). Everything the storm thread writes outside the
 * atomics is read by the test thread only after it_storm_join.
 */
#include "it_storm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    char url[256];
    char body[96];
    int user;
} req_t;

void it_storm_curl_errs(const it_storm_t *s, char *out, size_t len)
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

static void note_other(it_storm_t *s, const it_resp_t *r)
{
    atomic_fetch_add(&s->sother, 1);
    if (s->first_other[0] == '\0')
        snprintf(s->first_other, sizeof s->first_other, "%ld %.200s", r->status, r->body ? r->body : r->errbuf);
}

static void take_answer(it_storm_t *s, int uidx, const it_resp_t *r, int chunk, long long sent_ms, long long done_ms)
{
    it_storm_user_t *u = &s->u[uidx];
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
static void run_chunk(it_storm_t *s, req_t *reqs, size_t n)
{
    it_multi_req_t *mr = calloc(n, sizeof *mr);
    /* Each claim signed for its user (minted per chunk: a token per request lives only for the chunk). */
    char(*auth)[IT_AUTH_LINE_MAX] = calloc(n, sizeof *auth);
    const char *(*hdrs)[2] = calloc(n, sizeof *hdrs);
    if (mr == NULL || auth == NULL || hdrs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char user[16];
        snprintf(user, sizeof user, "cu-%06d", reqs[i].user);
        hdrs[i][0] = it_token_auth_line(&s->tokens, user, auth[i]); /* NULL (said on stderr): sent unsigned, answered 401 */
        mr[i].method = "POST";
        mr[i].url = reqs[i].url;
        mr[i].body = reqs[i].body;
        mr[i].headers = hdrs[i];
        s->u[reqs[i].user].tried = 1;
    }
    int chunk = ++s->chunk_seq;
    long long left = s->deadline - it_now_ms();
    int budget = left > 15000 ? 15000 : left > 100 ? (int)left : 100;
    atomic_fetch_add(&s->requests, (long)n);
    long long t0 = it_now_ms();
    atomic_store(&s->in_chunk, 1);
    size_t got = it_http_multi(mr, n, s->cfg.parallel, chunk % 2 ? IT_HTTP1 : IT_HTTP2, budget);
    atomic_store(&s->in_chunk, 0);
    if (it_now_ms() - t0 > s->slowest_chunk_ms)
        s->slowest_chunk_ms = it_now_ms() - t0;
    atomic_fetch_add(&s->answered, (long)got);
    for (size_t i = 0; i < n; i++) {
        take_answer(s, reqs[i].user, &mr[i].resp, chunk, t0, mr[i].done_ms);
        it_resp_free(&mr[i].resp);
    }
out:
    free(hdrs);
    free(auth);
    free(mr);
}

static void fill_req(it_storm_t *s, req_t *q, int user)
{
    q->user = user;
    snprintf(q->url, sizeof q->url, "%s", s->url[s->next_url++ % (unsigned)s->nurl]);
    snprintf(q->body, sizeof q->body, "{\"user_id\":\"cu-%06d\",\"quantity\":1}", user);
}

static void *storm_main(void *arg)
{
    it_storm_t *s = arg;
    s->started = it_now_ms();
    size_t n = (size_t)s->cfg.users + (size_t)s->cfg.users / 10;
    req_t *reqs = calloc(n, sizeof *reqs);
    if (reqs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        fill_req(s, &reqs[i], i < (size_t)s->cfg.users ? (int)i : (int)(i - (size_t)s->cfg.users) * 10);
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
        size_t k = paced ? (size_t)s->cfg.pace_chunk : (size_t)s->cfg.parallel * 16;
        if (k > n - next)
            k = n - next;
        run_chunk(s, reqs + next, k);
        next += k;
        long long spent = it_now_ms() - t0;
        if (paced && spent < s->cfg.pace_ms)
            it_sleep_ms((int)(s->cfg.pace_ms - spent));
    }
    s->wave0_end = it_now_ms();
    /* Retry waves: every user still without a definite answer asks again. */
    while (it_now_ms() < s->deadline) {
        size_t k = 0;
        for (int u = 0; u < s->cfg.users; u++)
            if (s->u[u].tried && !s->u[u].settled)
                fill_req(s, &reqs[k++], u);
        if (k == 0)
            break;
        s->retry_waves++;
        for (size_t i = 0; i < k; i += (size_t)s->cfg.parallel * 16) {
            size_t m = k - i < (size_t)s->cfg.parallel * 16 ? k - i : (size_t)s->cfg.parallel * 16;
            run_chunk(s, reqs + i, m);
        }
        it_sleep_ms(250);
    }
    for (int u = 0; u < s->cfg.users; u++)
        if (!s->u[u].settled)
            s->unsettled++;
    free(reqs);
out:
    s->ended = it_now_ms();
    atomic_store(&s->done, 1);
    return NULL;
}

/* The storm of the running scenario, so that teardown frees it when an assertion left it behind. */
static it_storm_t *cur_storm;

void it_storm_abort(it_storm_t *s)
{
    atomic_store(&s->deadline, 0);
    if (!s->joined)
        pthread_join(s->th, NULL);
    s->joined = 1;
}

it_storm_t *it_storm_start(const it_fix_t *f, const char *event_id, const it_storm_cfg_t *cfg)
{
    const it_gateway_t *gw = &f->gw;
    return it_storm_start_gws(f, &gw, 1, event_id, cfg);
}

it_storm_t *it_storm_start_gws(const it_fix_t *f, const it_gateway_t *const *gws, int ngw, const char *event_id, const it_storm_cfg_t *cfg)
{
    assert_true(ngw >= 1 && ngw <= IT_STORM_MAX_GW);
    it_storm_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->event, sizeof s->event, "%s", event_id);
    for (int i = 0; i < ngw; i++)
        snprintf(s->url[i], sizeof s->url[i], "%s/v1/events/%s/claims", gws[i]->base_url, event_id);
    s->nurl = ngw;
    s->tokens = f->gw.user_tokens;
    s->cfg = *cfg;
    s->deadline = it_now_ms() + cfg->storm_ms;
    s->u = calloc((size_t)cfg->users, sizeof *s->u);
    assert_non_null(s->u);
    s->joined = 1; /* nothing to join until the thread runs */
    cur_storm = s;
    assert_int_equal(pthread_create(&s->th, NULL, storm_main, s), 0);
    s->joined = 0;
    return s;
}

void it_storm_join(it_storm_t *s)
{
    /* storm_main ends by its deadline (+ one chunk's budget); it_http_multi is bounded too. */
    if (!s->joined)
        pthread_join(s->th, NULL);
    s->joined = 1;
}

void it_storm_free(it_storm_t *s)
{
    if (s == cur_storm)
        cur_storm = NULL;
    free(s->u);
    free(s);
}

void it_storm_leftover_free(void)
{
    if (cur_storm != NULL) {
        it_storm_abort(cur_storm);
        it_storm_free(cur_storm);
    }
}

int it_storm_wait_granted(it_storm_t *s, long n, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    while (atomic_load(&s->s201) < n) {
        if (atomic_load(&s->done) || it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(5);
    }
    return 0;
}
