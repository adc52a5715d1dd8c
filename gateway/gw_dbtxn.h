/*
 * gw_dbtxn: one MariaDB transaction run for a job on a database thread
 * (gw_dbpool.h), the way every gateway writer and reader of MariaDB needs
 * it: the admin routes, the status lookup off the fast path, the
 * Idempotency-Key's replay, both fallbacks.
 *
 * The transaction's body is written once and may run more than once: a
 * deadlock or a lock wait timeout rolls everything back and runs it again
 * (a few times), so a body starts from nothing decided and keeps no state
 * across runs that its redo would not reset.
 */
#ifndef GW_DBTXN_H
#define GW_DBTXN_H

#include "gw_dbpool.h"

#include <mysql.h>

/* A transaction body's result besides 0 (commit) and a MariaDB error number:
 * it has answered the job itself (404, 409, …) and wants a rollback. */
#define GW_DBTXN_ANSWERED 1u

/**
 * A transaction's body: its statements on @db for @arg, 0 to commit, a
 * MariaDB error number, or GW_DBTXN_ANSWERED.
 */
typedef unsigned (*gw_dbtxn_body_fn)(MYSQL *db, void *arg, gw_dbjob_t *job);

/**
 * Runs @body(db, @arg, @job) as one transaction on @conn's MariaDB
 * connection and commits when it returns 0. A deadlock or lock wait timeout
 * rolls back and runs it again (a few times); a connection-class error
 * resets the connection and answers 503; any other error answers 500.
 * Returns 0 once committed, or -1 with the job answered (including
 * GW_DBTXN_ANSWERED, where the body answered it).
 */
int gw_dbtxn_run(gw_dbjob_t *job, gw_dbconn_t *conn, gw_dbtxn_body_fn body, void *arg);

#endif
