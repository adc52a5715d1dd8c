/*
 * wk_txn: one transaction of the writer, run until it commits or cannot.
 *
 * Failures are sorted by tk_db_classify in one place (fail()): a deadlock or
 * lock wait rolls back and redoes the whole transaction (bounded); a lost
 * connection closes everything, reconnects with capped exponential backoff
 * and redoes it, for as long as MariaDB is away (the batch is kept; nothing
 * is acked meanwhile). A redo starts from scratch: statuses decided by a
 * rolled-back attempt are forgotten.
 */
#include "tk_log.h"
#include "tk_time.h"
#include "wk_writer_int.h"

#include <stdio.h>
#include <string.h>

#define WK_RETRY_MAX 20                  /* redos after deadlock / lock wait */
#define WK_BACKOFF_MIN_MS 100
#define WK_BACKOFF_MAX_MS 2000
#define WK_STOP_GRACE_MS 10000 /* after a stop request, how long to keep trying */

void wk_txn_disconnect(wk_writer_t *w)
{
    MYSQL_STMT **all[] = {&w->lock, &w->update, &w->dead, &w->claimed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL)
            mysql_stmt_close(*all[i]);
        *all[i] = NULL;
    }
    for (int k = 0; k < WK_POW; k++) {
        if (w->exist[k] != NULL)
            mysql_stmt_close(w->exist[k]);
        if (w->insert[k] != NULL)
            mysql_stmt_close(w->insert[k]);
        w->exist[k] = w->insert[k] = NULL;
    }
    for (int k = 0; k < WK_LB_POW; k++) {
        if (w->lb_upsert[k] != NULL)
            mysql_stmt_close(w->lb_upsert[k]);
        w->lb_upsert[k] = NULL;
    }
    MYSQL_STMT **lb[] = {&w->lb_sn_open, &w->lb_sn_close};
    for (size_t i = 0; i < 2; i++) {
        if (*lb[i] != NULL)
            mysql_stmt_close(*lb[i]);
        *lb[i] = NULL;
    }
    if (w->db != NULL)
        mysql_close(w->db);
    w->db = NULL;
}

static unsigned attempt(wk_writer_t *w, wk_body_t body, void *arg, wk_write_stats_t *st)
{
    wk_write_stats_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    w->failed_what = NULL;
    w->failed_msg[0] = '\0';
    unsigned e = body(w, arg, &tmp);
    if (e)
        return e;
    if (mysql_commit(w->db) != 0) {
        w->failed_what = "commit";
        snprintf(w->failed_msg, sizeof(w->failed_msg), "%s", mysql_error(w->db));
        return mysql_errno(w->db) ? mysql_errno(w->db) : 2000;
    }
    st->inserted += tmp.inserted;
    st->confirmed += tmp.confirmed;
    st->rejected += tmp.rejected;
    st->replayed += tmp.replayed;
    st->skipped += tmp.skipped;
    st->fresh_misses += tmp.fresh_misses;
    return 0;
}

static int connect_db(wk_writer_t *w)
{
    char err[256];
    w->db = tk_db_connect(&w->conf, err, sizeof(err));
    if (w->db == NULL) {
        tk_warn("%s", err);
        return -1;
    }
    tk_info("connected to MariaDB %s:%d", w->conf.host, w->conf.port);
    return 0;
}

/* The one place a failure is sorted. */
static tk_db_class_t fail(wk_writer_t *w, unsigned e)
{
    tk_db_class_t c = e == WK_ERR_INTERNAL || e == WK_ERR_ROW ? TK_DB_FATAL : tk_db_classify(e);
    if (c == TK_DB_FATAL)
        tk_error("MariaDB %s failed: error %u (%s)", w->failed_what ? w->failed_what : "call", e,
                 w->failed_msg[0] ? w->failed_msg : "see debug log");
    else
        tk_warn("MariaDB %s failed: error %u, %s", w->failed_what ? w->failed_what : "call", e, tk_db_class_name(c));
    if (c == TK_DB_RETRY && w->db != NULL && mysql_rollback(w->db) != 0)
        c = TK_DB_RECONNECT;
    if (c == TK_DB_RECONNECT)
        wk_txn_disconnect(w);
    return c;
}

wk_write_result_t wk_txn_run(wk_writer_t *w, wk_body_t body, void *arg, const volatile sig_atomic_t *stop, wk_write_stats_t *st,
                             unsigned *err)
{
    long backoff = WK_BACKOFF_MIN_MS;
    int retries = 0;
    int64_t stop_seen = 0;
    for (;;) {
        if (*stop) {
            int64_t now = tk_time_mono_ms();
            if (stop_seen == 0)
                stop_seen = now;
            else if (now - stop_seen > WK_STOP_GRACE_MS && w->db == NULL)
                return WK_WRITE_STOPPED;
        }
        if (w->db == NULL && connect_db(w) != 0) {
            tk_time_sleep_ms(backoff, NULL);
            backoff = backoff * 2 > WK_BACKOFF_MAX_MS ? WK_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        unsigned e = attempt(w, body, arg, st);
        if (e == 0)
            return WK_WRITE_OK;
        switch (fail(w, e)) {
        case TK_DB_RETRY:
            st->retries++;
            if (++retries > WK_RETRY_MAX) {
                tk_error("transaction still conflicting after %d redos", WK_RETRY_MAX);
                *err = e;
                return WK_WRITE_FAILED;
            }
            tk_time_sleep_ms(retries * 5, NULL);
            break;
        case TK_DB_RECONNECT:
            st->reconnects++;
            break;
        default:
            if (w->db != NULL && mysql_rollback(w->db) != 0)
                wk_txn_disconnect(w);
            *err = e;
            return WK_WRITE_FAILED;
        }
    }
}

