/*
 * gw_fallback_grant: the lock-table fallback, granting from MariaDB; the
 * argument is in gw_fallback_grant.h.
 */
#include "gw_fallback_grant.h"
#include "gw_dbtxn.h"
#include "gw_fallback_db.h"
#include "gw_fallback_readonly.h"
#include "gw_lock.h"
#include "gw_journal.h"
#include "gw_peers.h"
#include "gw_types.h"
#include "tk_db.h"
#include "tk_log.h"
#include "tk_sql.h"
#include "tk_time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLUSH_CHUNK 256 /* journal rows checked and written per statement round */

static pthread_mutex_t take_mutex = PTHREAD_MUTEX_INITIALIZER; /* one lock take + journal write at a time */
static uint64_t grants_total, lock_lost_total;

static const char sql_insert[] = "INSERT INTO claims (event_id, user_id, claim_id, ticket, quantity, status, reason, created_at, "
                                 "confirmed_at, updated_at) VALUES (?, ?, ?, ?, ?, 'confirmed', NULL, ?, NOW(3), NOW(3))";
static const char sql_stock[] = "UPDATE event_stock SET sold = ?, ticket_hwm = ? WHERE event_id = ? AND ? <= total";
static const char sql_has_ticket[] = "SELECT COUNT(*) FROM claims WHERE event_id = ? AND ticket = ?";

uint64_t gw_fallback_grant_count(void)
{
    return __atomic_load_n(&grants_total, __ATOMIC_RELAXED);
}

uint64_t gw_fallback_lock_lost_count(void)
{
    return __atomic_load_n(&lock_lost_total, __ATOMIC_RELAXED);
}

static unsigned insert_claim(MYSQL *db, const char *event, size_t elen, const char *user, size_t ulen, long long ticket, long long qty,
                             int64_t created_ms)
{
    MYSQL_BIND in[6];
    unsigned long lens[3];
    char claim_id[TK_CLAIM_ID_MAX];
    MYSQL_TIME created;
    my_bool created_null = 0;
    int n = tk_claim_id(event, elen, (uint64_t)ticket, claim_id);
    if (n < 0)
        return 1; /* cannot happen with a valid id; refuse rather than write a bad row */
    tk_db_time_from_ms(created_ms, &created);
    tk_sql_bind_str(&in[0], event, &lens[0], elen);
    tk_sql_bind_str(&in[1], user, &lens[1], ulen);
    tk_sql_bind_str(&in[2], claim_id, &lens[2], (size_t)n);
    tk_sql_bind_i64(&in[3], &ticket);
    tk_sql_bind_i64(&in[4], &qty);
    tk_sql_bind_time(&in[5], &created, &created_null);
    return tk_sql_stmt(db, sql_insert, in, NULL, 0, NULL, NULL, NULL);
}

static unsigned update_stock(MYSQL *db, const char *event, size_t elen, long long sold, long long hwm, int *fits)
{
    MYSQL_BIND in[4];
    unsigned long len;
    unsigned long long rows = 0;
    tk_sql_bind_i64(&in[0], &sold);
    tk_sql_bind_i64(&in[1], &hwm);
    tk_sql_bind_str(&in[2], event, &len, elen);
    tk_sql_bind_i64(&in[3], &sold);
    unsigned e = tk_sql_stmt(db, sql_stock, in, NULL, 0, NULL, NULL, &rows);
    /* Called only when sold moved, so a changed row is the only success;
     * 0 rows: the guard refused (sold would pass total). */
    *fits = rows == 1;
    return e;
}

static unsigned has_ticket(MYSQL *db, const char *event, size_t elen, long long ticket, int *has)
{
    MYSQL_BIND in[2], out[1];
    unsigned long len;
    long long count = 0;
    tk_sql_bind_str(&in[0], event, &len, elen);
    tk_sql_bind_i64(&in[1], &ticket);
    tk_sql_bind_i64(&out[0], &count);
    unsigned e = tk_sql_stmt(db, sql_has_ticket, in, out, 1, NULL, NULL, NULL);
    *has = count > 0;
    return e;
}

/*
 * The journal into MariaDB, in one transaction under the lock and the stock
 * row: grants whose ticket already has a row were drained (by a worker, or by
 * an earlier write of this journal) and are skipped. The same transaction
 * flags the event's Redis state stale (gw_lock.h): from its commit on, no
 * gateway serves this event from Redis before rebuilding it from MariaDB,
 * even if this process dies before its merge. *@written: the rows written.
 *
 * The fallback's way in (@peers set) always flags: it grants from MariaDB
 * next. The merge's (@peers NULL) flags only when it wrote a row: when every
 * journaled grant was drained already, MariaDB holds nothing Redis lacks
 * because of this journal, and a Redis that is behind MariaDB anyway is
 * rebuilt by the merge's step 5 (seq below ticket_hwm, or the event gone).
 * Flagging it regardless made every gateway rebuild every event it sold in
 * the last watermark period after each Redis restart, waiting for a drain
 * of a stream its peers kept filling: read-only until the sale stopped.
 */
static unsigned write_journal(MYSQL *db, const char *event, size_t elen, const char *token, long ttl_ms, const gw_journal_grant_t *g,
                              size_t n, const gw_server_t *srv, int *peers, int *ok, size_t *written_out)
{
    gw_fb_event_t ev = {0};
    unsigned e = gw_lock_check(db, event, elen, token, ttl_ms, ok);
    if (e != 0 || !*ok)
        return e;
    if (peers != NULL) {
        /* The fallback's way in: not while another gateway is alive
         * (gw_peers.h), so no stale flag is set for nothing. */
        long long alive = 0;
        if ((e = gw_peers_check(db, srv->holder, srv->conf->peer_alive_ms, &alive)) != 0)
            return e;
        if (alive > 0) {
            *peers = 1;
            *ok = 0;
            return 0;
        }
    }
    *written_out = 0;
    if (peers != NULL && (e = gw_lock_mark_stale(db, event, elen, token)) != 0)
        return e;
    if ((e = gw_fallback_db_event(db, event, elen, &ev, 1)) != 0)
        return e;
    if (!ev.found) {
        *ok = 0;
        return 0;
    }
    long long sold = ev.sold, hwm = ev.hwm;
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        int has = 0;
        if ((e = has_ticket(db, event, elen, (long long)g[i].ticket, &has)) != 0)
            return e;
        if (has)
            continue;
        if ((e = insert_claim(db, event, elen, g[i].user, g[i].ulen, (long long)g[i].ticket, g[i].qty, g[i].created_ms)) != 0)
            return e;
        sold += g[i].qty;
        if ((long long)g[i].ticket > hwm)
            hwm = (long long)g[i].ticket;
        written++;
    }
    if (sold > ev.total) {
        /* Redis granted more than MariaDB holds: only a backend fault does that. Do not grant on top. */
        tk_error("fallback: event %.*s: the journal holds %lld units above the database's stock; the event stays read-only", (int)elen,
                 event, sold - ev.total);
        *ok = 0;
        return 0;
    }
    int fits = 1;
    if (written > 0 && (e = update_stock(db, event, elen, sold, hwm, &fits)) != 0)
        return e;
    if (!fits) {
        *ok = 0;
        return 0;
    }
    if (peers == NULL && written > 0 && (e = gw_lock_mark_stale(db, event, elen, token)) != 0)
        return e;
    *written_out = written;
    tk_info("fallback: event %.*s: %zu journaled grants, %zu written to MariaDB (the rest were drained)", (int)elen, event, n, written);
    return 0;
}

/*
 * Takes @event's lock and writes its journal (write_journal). 1 when
 * committed, with the lock held under @token (the caller keeps or releases
 * it) and *@written the rows written; 0 when not (nothing written, the lock
 * not held). With @peers
 * (the granting path; the merge passes NULL: Redis lost grants it must
 * write whoever is alive), refuses while another gateway is alive and
 * sets *@peers.
 */
static int flush_journal(gw_dbconn_t *conn, gw_server_t *srv, const char *event, size_t elen, char token[GW_LOCK_TOKEN_LEN + 1],
                         int *peers, size_t *written)
{
    MYSQL *db = gw_dbconn_db(conn);
    int taken = 0, ok = 0;
    if (db == NULL || gw_lock_token(token) != 0)
        return 0;
    unsigned e = gw_lock_take(db, event, elen, srv->holder, token, srv->conf->lock_ttl_ms, &taken);
    if (e != 0 || !taken) {
        if (e != 0 && tk_db_classify(e) == TK_DB_RECONNECT)
            gw_dbconn_db_reset(conn);
        if (e == 0)
            tk_warn("fallback: event %.*s: its lock is held by another gateway", (int)elen, event);
        return 0;
    }
    gw_journal_grant_t *g = NULL;
    size_t n = 0;
    if (gw_journal_grants(srv->journal, event, elen, &g, &n) != 0)
        goto release;
    e = write_journal(db, event, elen, token, srv->conf->lock_ttl_ms, g, n, srv, peers, &ok, written);
    free(g);
    if (e == 0 && ok && mysql_commit(db) == 0)
        return 1;
    if (e != 0)
        tk_warn("fallback: event %.*s: writing the journal failed: MariaDB error %u", (int)elen, event, e);
    mysql_rollback(db);
    if (e != 0 && tk_db_classify(e) == TK_DB_RECONNECT) {
        gw_dbconn_db_reset(conn);
        return 0;
    }
release:
    gw_lock_release(db, event, elen, token);
    return 0;
}

/* Makes @r's event grantable: 1 when it is (lock held, journal written), 0 when it stays read-only. */
static int make_grantable(gw_dbconn_t *conn, const gw_req_t *r)
{
    gw_server_t *srv = r->th->server;
    gw_journal_info_t info;
    int ready = 0;
    pthread_mutex_lock(&take_mutex);
    if (gw_journal_info(srv->journal, r->event_id, r->elen, &info) != 0)
        goto out; /* never seen: whatever Redis granted for it is unknown here */
    if (info.evmode == GW_EVMODE_FALLBACK) {
        ready = 1;
        goto out;
    }
    if (!info.complete || gw_journal_mode(srv->journal) != GW_MODE_GRANT)
        goto out;
    if (gw_peers_seen()) {
        gw_peers_refused(); /* a peer was alive during this stay away from Redis (gw_peers.h) */
        goto out;
    }
    char token[GW_LOCK_TOKEN_LEN + 1];
    int peers = 0;
    size_t written = 0;
    if (flush_journal(conn, srv, r->event_id, r->elen, token, &peers, &written)) {
        gw_journal_set_locked(srv->journal, r->event_id, r->elen, token);
        tk_warn("fallback: event %s: claims are granted from MariaDB (lock-table path) until Redis is back", r->event_id);
        ready = 1;
    } else if (peers) {
        gw_peers_refused();
        tk_warn("fallback: event %s: another gateway is alive; claims stay read-only (the fallback grants only alone)", r->event_id);
    }
out:
    pthread_mutex_unlock(&take_mutex);
    return ready;
}

int gw_fallback_grant_write(gw_dbconn_t *conn, gw_server_t *srv, const char *event, size_t elen)
{
    char token[GW_LOCK_TOKEN_LEN + 1];
    size_t written = 0;
    pthread_mutex_lock(&take_mutex);
    int ok = flush_journal(conn, srv, event, elen, token, NULL, &written);
    if (ok && written > 0)
        gw_journal_set_locked(srv->journal, event, elen, token); /* flushed: the merge's step 3 rebuilds it */
    pthread_mutex_unlock(&take_mutex);
    if (!ok)
        return -1;
    /* Released with the token taken here, not one read back from the journal (a fallback batch that lost the lock
     * may clear the journal's copy meanwhile). */
    MYSQL *db = gw_dbconn_db(conn);
    unsigned e = db != NULL ? gw_lock_release(db, event, elen, token) : 2002;
    if (e != 0) {
        tk_warn("fallback: event %.*s: releasing its lock: MariaDB error %u (it expires on its own)", (int)elen, event, e);
        if (db != NULL)
            gw_dbconn_db_reset(conn);
        return 0; /* written */
    }
    if (written > 0) /* else not recorded above: the journal's state untouched (not flushed: a later merge looks again) */
        gw_journal_clear_locked(srv->journal, event, elen);
    return 0;
}

#define STOP_WRITE_MS 10000 /* the clean stop's journal write, at most: a stop must end */

void gw_fallback_grant_write_at_stop(gw_server_t *srv, gw_mode_t mode)
{
    if (srv->journal == NULL || mode == GW_MODE_FAST)
        return; /* on the fast path every journaled grant is in the Redis that answers: the workers drain it */
    gw_dbconn_t conn = {.conf = srv->conf, .index = -1};
    char(*ids)[TK_ID_MAX + 1] = malloc(64 * sizeof(*ids));
    size_t pos = 0, n, written = 0, failed = 0;
    int64_t until = tk_time_mono_ms() + STOP_WRITE_MS;
    int give_up = 0;
    while (ids != NULL && (n = gw_journal_scan(srv->journal, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            gw_journal_info_t info;
            if (gw_journal_info(srv->journal, ids[i], strlen(ids[i]), &info) != 0 || info.flushed || info.journal_max == 0)
                continue;
            /* MariaDB unreachable, or the time is up: no more tries (each would wait out a timeout). The beat
             * goes on meanwhile: a peer's merge waits for this journal only while this gateway looks alive. */
            give_up = give_up || gw_dbconn_db(&conn) == NULL || tk_time_mono_ms() >= until || gw_peers_beat_due(&conn, srv) != 0;
            if (!give_up && gw_fallback_grant_write(&conn, srv, ids[i], strlen(ids[i])) == 0) {
                written++;
            } else {
                failed++;
                tk_error("stop: event %s: its journal (grants up to ticket %llu that Redis may have lost) could not be written to MariaDB",
                         ids[i], (unsigned long long)info.journal_max);
            }
        }
    }
    free(ids);
    if (written > 0 || failed > 0)
        tk_warn("stop: off the fast path (%s): the journal of %zu event(s) written to MariaDB before leaving, %zu not", gw_mode_name(mode),
                written, failed);
    gw_dbconn_db_reset(&conn);
}

typedef struct {
    gw_fb_in_t *in;
    gw_journal_info_t info;
    int lock_lost;
    int peers; /* another gateway was alive (gw_peers.h): nothing granted */
} grant_arg_t;

static void grant_error_all(gw_fb_in_t *in, const char *msg)
{
    for (int i = 0; i < in->n; i++)
        gw_fallback_db_error(&in->items[i], 503, "unavailable", msg);
}

static unsigned grant_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    grant_arg_t *a = arg;
    gw_fb_in_t *in = a->in;
    const gw_req_t *r0 = in->items[0].r;
    gw_server_t *srv = r0->th->server;
    (void)job;
    grant_error_all(in, "redis is unavailable; retry shortly"); /* a redo starts from nothing decided */
    a->peers = 0;
    int ok = 0;
    unsigned e = gw_lock_check(db, r0->event_id, r0->elen, a->info.token, srv->conf->lock_ttl_ms, &ok);
    if (e != 0)
        return e;
    if (!ok || gw_journal_mode(srv->journal) != GW_MODE_GRANT) {
        a->lock_lost = !ok;
        return GW_DBTXN_ANSWERED; /* rollback; every claim stays 503 */
    }
    /* Alone, or nothing: before anything is written, the fence shared and
     * the other gateways' beats read (gw_peers.h says why this is exact). */
    long long alive = 0;
    if ((e = gw_peers_check(db, srv->holder, srv->conf->peer_alive_ms, &alive)) != 0)
        return e;
    if (alive > 0 || gw_peers_seen()) {
        a->peers = 1;
        return GW_DBTXN_ANSWERED; /* rollback; answered read-only by the caller */
    }
    gw_fb_event_t ev = {0};
    if ((e = gw_fallback_db_event(db, r0->event_id, r0->elen, &ev, 1)) != 0)
        return e;
    int64_t now = tk_time_now_ms();
    long long sold = ev.sold, hwm = ev.hwm;
    long long floor = (long long)(a->info.max_ticket + a->info.uncertain_n);
    long long reserved = (long long)a->info.uncertain_qty;
    int granted = 0;
    for (int i = 0; i < in->n; i++) {
        gw_fb_item_t *it = &in->items[i];
        int settled = 0;
        if (gw_fallback_db_gate(it, &ev, 0))
            continue; /* a waiting room, and this claim not admitted: 403, as claim.lua says it */
        if ((e = gw_fallback_db_known(db, &ev, it, &settled)) != 0)
            return e;
        if (settled)
            continue; /* 404, or 200 with the claim held as the claim script says "E" */
        int open = 0;
        if ((e = gw_fallback_db_priority(db, &ev, it, now, 0, &settled, &open)) != 0)
            return e;
        if (settled)
            continue; /* the priority gate (events.pr_*, event_priority), as claim.lua keeps it */
        if (gw_journal_uncertain_user(srv->journal, it->r->event_id, it->r->elen, it->r->user_id, it->r->ulen)) {
            gw_fallback_db_error(it, 503, "unavailable", "redis is unavailable; retry shortly");
            continue;
        }
        gw_fb_event_t now_ev = ev;
        now_ev.sold = sold;
        if (open)
            now_ev.opens_ms = 0; /* a snapshot member inside the priority window: as if open */
        gw_fallback_db_decide(it, &now_ev, now, 0); /* refusals MariaDB can say exactly; 503 when it could be granted */
        if (it->status != 503)
            continue;
        if (it->qty > ev.total - sold - reserved)
            continue; /* only units of lost replies are left: they may come back; 503, never sold_out */
        long long ticket = (hwm > floor ? hwm : floor) + 1;
        if ((e = insert_claim(db, it->r->event_id, it->r->elen, it->r->user_id, it->r->ulen, ticket, it->qty, now)) != 0)
            return e;
        sold += it->qty;
        hwm = ticket;
        tk_claim_t c = {(uint64_t)ticket, (uint64_t)it->qty, now, TK_CLAIM_CONFIRMED};
        int n = tk_claim_json(it->r->event_id, it->r->elen, it->r->user_id, it->r->ulen, &c, NULL, it->body);
        if (n < 0)
            return 1; /* cannot happen for valid ids: roll back rather than answer garbage */
        it->len = (size_t)n;
        it->status = 201;
        granted++;
    }
    if (granted > 0) {
        int fits = 0;
        if ((e = update_stock(db, r0->event_id, r0->elen, sold, hwm, &fits)) != 0)
            return e;
        if (!fits)
            return 1; /* cannot happen under the stock row's lock: roll back rather than oversell */
    }
    return 0;
}

/*
 * What a client is told of a claim not decided on the granting path: Redis
 * is away, whatever else failed meanwhile (every 503 of this path says so).
 */
static void unavailable_all(gw_fb_in_t *in)
{
    for (int i = 0; i < in->n; i++) {
        if (in->items[i].status == 503)
            gw_fallback_db_error(&in->items[i], 503, "unavailable", "redis is unavailable; retry shortly");
    }
}

void gw_fallback_grant_run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    gw_fb_in_t *in = job->in;
    const gw_req_t *r0 = in->items[0].r;
    gw_server_t *srv = r0->th->server;
    grant_arg_t a = {.in = in};
    grant_error_all(in, "redis is unavailable; retry shortly");
    if (!make_grantable(conn, r0) || gw_journal_info(srv->journal, r0->event_id, r0->elen, &a.info) != 0) {
        /* Read-only for this event: answer what MariaDB knows exactly. */
        gw_fallback_readonly_run(job, conn);
        unavailable_all(in);
        return;
    }
    if (gw_dbtxn_run(job, conn, grant_body, &a) != 0) {
        if (a.peers) {
            /* Another gateway is alive: MariaDB answers what it knows, as
             * for an event this gateway cannot grant. */
            gw_peers_refused();
            gw_fallback_readonly_run(job, conn);
            unavailable_all(in);
            return;
        }
        if (a.lock_lost) {
            __atomic_add_fetch(&lock_lost_total, 1, __ATOMIC_RELAXED);
            tk_warn("fallback: event %s: the lock is no longer ours (released or taken after expiry); nothing granted", r0->event_id);
            gw_journal_clear_locked(srv->journal, r0->event_id, r0->elen);
        }
        grant_error_all(in, "redis is unavailable; retry shortly"); /* nothing was granted */
    }
    for (int i = 0; i < in->n; i++) {
        if (in->items[i].status == 201)
            __atomic_add_fetch(&grants_total, 1, __ATOMIC_RELAXED); /* committed: each is answered 201 */
    }
    gw_dbjob_answer(job, 200, "", 0); /* each request is answered in done() (gw_fallback.c) */
}
