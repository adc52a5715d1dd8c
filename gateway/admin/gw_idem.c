/*
 * gw_idem: Idempotency-Key for admin writes. The design is in gw_idem.h.
 */
#include "gw_idem.h"
#include "gw_dbtxn.h"
#include "tk_sql.h"
#include "tk_db.h"
#include "tk_log.h"
#include "tk_time.h"

#include <mysqld_error.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HEADER "idempotency-key" /* h2o keeps header names lower-cased */

/* The LIMIT below is GW_IDEM_PRUNE_MAX. */
static const char sql_prune[] = "DELETE FROM admin_requests WHERE expires_at <= ? ORDER BY expires_at LIMIT 32";
static const char sql_expired[] = "DELETE FROM admin_requests WHERE idem_key = ? AND expires_at <= ?";
static const char sql_insert[] = "INSERT INTO admin_requests (idem_key, fingerprint, event_id, status, body, created_at, expires_at) "
                                 "VALUES (?, ?, ?, ?, NULL, ?, ?)";
static const char sql_find[] = "SELECT fingerprint, status, body FROM admin_requests WHERE idem_key = ? AND expires_at > ?";
static const char sql_body[] = "UPDATE admin_requests SET body = ? WHERE idem_key = ? AND body IS NULL";

static int valid_key(const char *s, size_t len)
{
    if (len == 0 || len > GW_IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

int gw_idem_read(gw_req_t *r, gw_idem_t *k)
{
    memset(k, 0, sizeof(*k));
    if (r->req == NULL)
        return 0;
    h2o_headers_t *hs = &r->req->headers;
    ssize_t i = h2o_find_header_by_str(hs, H2O_STRLIT(HEADER), -1);
    if (i < 0)
        return 0;
    const h2o_iovec_t *v = &hs->entries[i].value;
    if (h2o_find_header_by_str(hs, H2O_STRLIT(HEADER), i) >= 0 || !valid_key(v->base, v->len)) {
        gw_reply_errorf(r, 400, "bad_idempotency_key", "Idempotency-Key must be sent once, as 1-%d of [A-Za-z0-9_.:-]", GW_IDEM_KEY_MAX);
        return -1;
    }
    memcpy(k->key, v->base, v->len);
    k->key[k->klen = v->len] = '\0';
    k->present = 1;
    return 0;
}

int gw_idem_fingerprint(gw_idem_t *k, const char *route, const char *canon, size_t len)
{
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    /* The NUL separates the route from the request. */
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, route, strlen(route) + 1) == 1 &&
             EVP_DigestUpdate(c, canon, len) == 1 && EVP_DigestFinal_ex(c, k->fp, &n) == 1 && n == sizeof(k->fp);
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

int gw_idem_prepare(gw_req_t *r, gw_idem_t *k, const char *route, const char *fmt, ...)
{
    if (gw_idem_read(r, k) != 0)
        return -1;
    if (!k->present)
        return 0;
    char canon[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(canon, sizeof(canon), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(canon) || gw_idem_fingerprint(k, route, canon, (size_t)n) != 0) {
        gw_reply_error(r, 503, "unavailable", "the request could not be fingerprinted");
        return -1;
    }
    return 0;
}

/* Records @k: 0, ER_DUP_ENTRY when the key is taken, or another MariaDB error. */
static unsigned record(MYSQL *db, const gw_idem_t *k, const char *event, size_t elen, int status)
{
    MYSQL_BIND b[6];
    unsigned long klen, flen, elen_;
    long long st = status;
    int64_t now_ms = tk_time_now_ms();
    MYSQL_TIME now, expires;
    tk_db_time_from_ms(now_ms, &now);
    tk_db_time_from_ms(now_ms + GW_IDEM_TTL_MS, &expires);

    /* Bounded housekeeping: a few expired keys per write, oldest first. */
    tk_sql_bind_time(&b[0], &now, NULL);
    unsigned e = tk_sql_stmt(db, sql_prune, b, NULL, 0, NULL, NULL, NULL);
    if (e != 0)
        return e;
    /* An expired use of this very key is forgotten, whatever the prune reached. */
    tk_sql_bind_str(&b[0], k->key, &klen, k->klen);
    tk_sql_bind_time(&b[1], &now, NULL);
    if ((e = tk_sql_stmt(db, sql_expired, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    tk_sql_bind_str(&b[0], k->key, &klen, k->klen);
    tk_sql_bind_str(&b[1], (const char *)k->fp, &flen, sizeof(k->fp));
    b[1].buffer_type = MYSQL_TYPE_BLOB;
    tk_sql_bind_str(&b[2], event, &elen_, elen);
    tk_sql_bind_i64(&b[3], &st);
    tk_sql_bind_time(&b[4], &now, NULL);
    tk_sql_bind_time(&b[5], &expires, NULL);
    return tk_sql_stmt(db, sql_insert, b, NULL, 0, NULL, NULL, NULL);
}

unsigned gw_idem_record(MYSQL *db, gw_dbjob_t *job, const gw_idem_t *k, const char *event, size_t elen, int status, int *raced)
{
    if (!k->present)
        return 0;
    unsigned e = record(db, k, event, elen, status);
    if (e != ER_DUP_ENTRY)
        return e;
    *raced = 1;
    gw_dbjob_error(job, 503, "unavailable", "the Idempotency-Key is in use");
    return GW_DBTXN_ANSWERED;
}

/* ---------------------------------------------------------------- replay */

typedef struct {
    const gw_idem_t *k;
    int found;
    long long status;
    char fp[sizeof(((gw_idem_t *)0)->fp) + 1];
    unsigned long fplen;
    char body[GW_IDEM_BODY_MAX + 1];
    unsigned long blen;
    my_bool bnull;
} look_t;

static unsigned look_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)job;
    look_t *l = arg;
    MYSQL_BIND in[2], out[3];
    unsigned long klen;
    MYSQL_TIME now;
    tk_db_time_from_ms(tk_time_now_ms(), &now);
    tk_sql_bind_str(&in[0], l->k->key, &klen, l->k->klen);
    tk_sql_bind_time(&in[1], &now, NULL);
    tk_sql_bind_strbuf(&out[0], l->fp, sizeof(l->fp), &l->fplen);
    out[0].buffer_type = MYSQL_TYPE_BLOB;
    tk_sql_bind_i64(&out[1], &l->status);
    tk_sql_bind_strbuf(&out[2], l->body, sizeof(l->body) - 1, &l->blen);
    out[2].buffer_type = MYSQL_TYPE_BLOB;
    out[2].is_null = &l->bnull;
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql_find, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    l->found = rows == 1;
    if (l->found && !l->bnull && l->blen > sizeof(l->body) - 1)
        l->bnull = 1; /* truncated: never stored so (gw_idem_store_answer), but compose afresh rather than answer half */
    return 0;
}

int gw_idem_replay(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k, gw_idem_redo_fn redo, void *in)
{
    look_t l;
    memset(&l, 0, sizeof(l));
    l.k = k;
    if (gw_dbtxn_run(job, conn, look_body, &l) != 0)
        return 1;
    if (!l.found)
        return 0;
    if (l.fplen != sizeof(k->fp) || memcmp(l.fp, k->fp, sizeof(k->fp)) != 0) {
        gw_dbjob_error(job, 422, "idempotency_key_reused", "Idempotency-Key %s was used for another request", k->key);
        return 1;
    }
    if (redo(job, conn, in) != 0)
        return 1;
    if (!l.bnull)
        gw_dbjob_answer(job, (int)l.status, l.body, l.blen);
    else if (job->status == (int)l.status)
        gw_idem_store_answer(job, conn, k);
    return 1;
}

int gw_idem_change(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k, gw_dbtxn_body_fn body, const int *raced, gw_idem_redo_fn redo,
                   void *in)
{
    if (k->present && gw_idem_replay(job, conn, k, redo, in))
        return -1;
    if (gw_dbtxn_run(job, conn, body, in) == 0)
        return 0;
    if (*raced && !gw_idem_replay(job, conn, k, redo, in))
        gw_dbjob_error(job, 503, "unavailable", "the Idempotency-Key is in use; retry");
    return -1;
}

void gw_idem_store_answer(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k)
{
    if (!k->present || job->status < 200 || job->status > 299 || job->body == NULL || job->len > GW_IDEM_BODY_MAX)
        return;
    MYSQL *db = gw_dbconn_db(conn);
    if (db == NULL)
        return;
    MYSQL_BIND b[2];
    unsigned long blen, klen;
    tk_sql_bind_str(&b[0], job->body, &blen, job->len);
    b[0].buffer_type = MYSQL_TYPE_BLOB;
    tk_sql_bind_str(&b[1], k->key, &klen, k->klen);
    unsigned e = tk_sql_stmt(db, sql_body, b, NULL, 0, NULL, NULL, NULL);
    if (e == 0 && mysql_commit(db) != 0)
        e = mysql_errno(db) != 0 ? mysql_errno(db) : 2000;
    if (e == 0)
        return;
    tk_warn("admin %s: could not store the answer of Idempotency-Key %s (database error %u); a replay composes it afresh",
            job->r != NULL ? job->r->event_id : "-", k->key, e);
    if (tk_db_classify(e) == TK_DB_RECONNECT || mysql_rollback(db) != 0)
        gw_dbconn_db_reset(conn);
}
