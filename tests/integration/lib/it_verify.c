/*
 * it_verify: the book checks after a claim storm (what they are and why,
 * in it_verify.h). Broken invariants are collected into one verdict, so a
 * failing run names all of them at once.
 */
#include "it_verify.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "it_db.h"
#include "it_redis.h"

void it_verdict_fail_if(it_verdict_t *v, int bad, const char *fmt, ...)
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

void it_verify_storm(it_fix_t *f, it_storm_t *s, const char *name, const char *extra, int flags)
{
    it_verdict_t v = {.ok = 1};
    const long stock = s->cfg.stock;
    const int gaps_ok = (flags & IT_VERIFY_TICKET_GAPS) != 0;

    /* The storm's own findings. */
    it_verdict_fail_if(&v, s->dup201 != 0, "%ld users got a second 201", s->dup201);
    it_verdict_fail_if(&v, s->mismatch != 0, "%ld users were told two different claims", s->mismatch);
    it_verdict_fail_if(&v, s->bad_body != 0, "%ld 200/201 bodies without a valid ticket/claim_id", s->bad_body);
    it_verdict_fail_if(&v, atomic_load(&s->sother) != 0, "%ld unexpected answers, first: %s", (long)atomic_load(&s->sother), s->first_other);
    it_verdict_fail_if(&v, s->first_soldout_chunk == 0, "no sold_out answer: demand did not exceed stock");
    it_verdict_fail_if(&v, s->first_soldout_chunk != 0 && s->last_201_chunk > s->first_soldout_chunk,
            "a 201 in chunk %d after sold_out in chunk %d", s->last_201_chunk, s->first_soldout_chunk);

    /* Quiescence and the admin view. */
    it_resp_t view;
    int quiet = it_api_wait_quiet(&view, f, s->event, s->cfg.drain_ms);
    json_t *rj = json_object_get(view.json, "redis"), *dj = json_object_get(view.json, "database");
    long long v_granted = it_json_int(rj, "granted"), v_remaining = it_json_int(rj, "remaining"),
              v_issued = it_json_int(rj, "tickets_issued"), v_conf = it_json_int(dj, "confirmed"),
              v_rej = it_json_int(dj, "rejected"), v_canc = it_json_int(dj, "cancelled"), v_pending = it_json_int(view.json, "pending");
    it_verdict_fail_if(&v, quiet != 0, "not quiet within %d ms (%d of %d workers running): %ld %.300s", s->cfg.drain_ms, it_fix_workers_alive(f), f->nworkers,
            view.status, view.body ? view.body : view.errbuf);
    it_verdict_fail_if(&v, v_granted != stock, "admin redis.granted=%lld", v_granted);
    it_verdict_fail_if(&v, v_remaining != 0, "admin redis.remaining=%lld", v_remaining);
    it_verdict_fail_if(&v, v_conf != stock, "admin database.confirmed=%lld", v_conf);
    it_verdict_fail_if(&v, v_rej != 0 || v_canc != 0, "admin database.rejected=%lld cancelled=%lld", v_rej, v_canc);
    it_verdict_fail_if(&v, v_pending != 0, "admin pending=%lld", v_pending);
    it_resp_free(&view);

    /* Redis directly. */
    long long r_total = it_redis_ev_int(f->redis, s->event, "total", -1);
    long long r_rem = it_redis_ev_int(f->redis, s->event, "remaining", -1);
    long long r_seq = it_redis_ev_int(f->redis, s->event, "seq", -1);
    long long r_claims = it_redis_claims_count(f->redis, s->event), r_xlen = it_redis_xlen(f->redis, s->event);
    it_verdict_fail_if(&v, r_total != stock || r_rem != 0, "redis total=%lld remaining=%lld", r_total, r_rem);
    it_verdict_fail_if(&v, r_claims != stock, "redis claims=%lld", r_claims);
    it_verdict_fail_if(&v, r_xlen != 0, "redis stream length=%lld", r_xlen);

    /* MariaDB: the stock row and every claim row. */
    long long db_sold = it_db_int(f->db, -1, "SELECT sold FROM event_stock WHERE event_id='%s'", s->event);
    long long db_total = it_db_int(f->db, -1, "SELECT total FROM event_stock WHERE event_id='%s'", s->event);
    it_verdict_fail_if(&v, db_sold != stock || db_total != stock, "event_stock sold=%lld total=%lld", db_sold, db_total);
    size_t nrows = 0;
    it_db_claim_row_t *rows = it_db_claim_rows(f->db, s->event, &nrows);
    it_verdict_fail_if(&v, rows == NULL, "cannot read the claim rows");
    long confirmed = 0, units = 0, order_bad = 0, over_limit = 0, untold = 0, untold_settled = 0, wrong_id = 0;
    long long max_ticket = 0;
    unsigned char *row_of_user = calloc((size_t)s->cfg.users, 1);
    assert_non_null(row_of_user);
    for (size_t i = 0; rows != NULL && i < nrows; i++) {
        it_db_claim_row_t *w = &rows[i];
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
        if (sscanf(w->user, "cu-%d", &u) != 1 || u < 0 || u >= s->cfg.users) {
            it_verdict_fail_if(&v, 1, "row of unknown user %s", w->user);
            continue;
        }
        row_of_user[u]++;
        it_storm_user_t *us = &s->u[u];
        if (us->ticket == 0) {
            untold++; /* granted, but every answer this user got was lost */
            if (us->settled)
                untold_settled++;
        } else if (us->ticket != w->ticket || strcmp(us->claim_id, w->claim_id) != 0) {
            it_verdict_fail_if(&v, 1, "user %s told %s, row says %s", w->user, us->claim_id, w->claim_id);
        }
    }
    long told = 0, lost = 0, dup_rows = 0;
    for (int u = 0; u < s->cfg.users; u++) {
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
    it_verdict_fail_if(&v, (long)nrows != stock, "%zu rows for stock %ld", nrows, stock);
    it_verdict_fail_if(&v, confirmed != stock, "%ld confirmed rows", confirmed);
    it_verdict_fail_if(&v, units != stock, "%ld units in rows (oversell=%ld)", units, units > stock ? units - stock : 0);
    it_verdict_fail_if(&v, over_limit != 0, "%ld rows above max_per_user", over_limit);
    if (gaps_ok)
        it_verdict_fail_if(&v, order_bad != 0, "%ld rows whose ticket is < 1 or not above the previous row's (duplicate tickets)", order_bad);
    else
        it_verdict_fail_if(&v, order_bad != 0, "%ld rows out of the ticket sequence 1..%ld", order_bad, stock);
    /* The highest ticket drawn: stock without gaps; with gaps, each unused ticket is a gap. */
    long long want_seq = gaps_ok ? max_ticket : stock, gaps = max_ticket - (long long)nrows;
    it_verdict_fail_if(&v, v_issued != want_seq, "admin redis.tickets_issued=%lld, expected %lld", v_issued, want_seq);
    it_verdict_fail_if(&v, r_seq != want_seq, "redis seq=%lld, expected %lld", r_seq, want_seq);
    /* Gaps come only from claims whose Redis reply was lost: at most one per storm connection in flight at the stop. */
    it_verdict_fail_if(&v, gaps_ok && gaps > s->cfg.parallel, "%lld ticket gaps (highest ticket %lld for %zu rows), more than the %d claims that can be in flight",
            gaps, max_ticket, nrows, s->cfg.parallel);
    it_verdict_fail_if(&v, wrong_id != 0, "%ld rows whose claim_id is not c-E-ticket", wrong_id);
    it_verdict_fail_if(&v, lost != 0, "%ld told claims have no row (LOST)", lost);
    it_verdict_fail_if(&v, dup_rows != 0, "%ld users with two rows", dup_rows);
    it_verdict_fail_if(&v, untold_settled != 0, "%ld rows of users who were answered sold_out, never told", untold_settled);
    it_verdict_fail_if(&v, s->unsettled == 0 && untold != 0, "%ld rows nobody was told about, though every user got an answer", untold);
    it_verdict_fail_if(&v, told + untold != stock, "told %ld + untold %ld != stock", told, untold);
    it_verdict_fail_if(&v, told > stock, "%ld users were told a claim (201, or 200 with a claim) for stock %ld: OVERSOLD to clients by %ld", told,
            stock, told - stock);

    /* Units beyond the stock, in the rows or in the claims clients were told (each claim is 1 unit). */
    long oversell = units > stock ? units - stock : 0;
    if (told - stock > oversell)
        oversell = told - stock;
    char errs[128], ticket_note[96] = "";
    it_storm_curl_errs(s, errs, sizeof errs);
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
