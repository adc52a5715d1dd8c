/*
 * gw_dbtxn: a job's MariaDB transaction with redo on deadlock; see gw_dbtxn.h.
 */
#include "gw_dbtxn.h"
#include "tk_db.h"
#include "tk_log.h"

#define TXN_RETRY_MAX 3 /* redos of a transaction after a deadlock or lock wait */

int gw_dbtxn_run(gw_dbjob_t *job, gw_dbconn_t *conn, gw_dbtxn_body_fn body, void *arg)
{
    for (int attempt = 0;; attempt++) {
        MYSQL *db = gw_dbconn_db(conn);
        if (db == NULL) {
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        unsigned e = body(db, arg, job);
        if (e == 0) {
            if (mysql_commit(db) == 0)
                return 0;
            e = mysql_errno(db) != 0 ? mysql_errno(db) : 2000;
        }
        if (e == GW_DBTXN_ANSWERED) {
            if (mysql_rollback(db) != 0)
                gw_dbconn_db_reset(conn);
            return -1;
        }
        tk_db_class_t cls = tk_db_classify(e);
        tk_warn("%s %s: database error %u (%s)", job->r != NULL ? "admin" : "background job", job->r != NULL ? job->r->event_id : "-", e,
                tk_db_class_name(cls));
        if (cls == TK_DB_RECONNECT) {
            gw_dbconn_db_reset(conn);
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        if (mysql_rollback(db) != 0) {
            gw_dbconn_db_reset(conn);
            gw_dbjob_error(job, 503, "unavailable", "the database is unavailable");
            return -1;
        }
        if (cls == TK_DB_RETRY && attempt < TXN_RETRY_MAX)
            continue;
        if (cls == TK_DB_RETRY) {
            gw_dbjob_error(job, 503, "unavailable", "the database is busy; try again");
            return -1;
        }
        gw_dbjob_error(job, 500, "internal", "database error %u", e);
        return -1;
    }
}
