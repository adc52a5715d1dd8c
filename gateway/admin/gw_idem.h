/*
 * gw_idem: the Idempotency-Key of admin writes (create, stock, state,
 * cancel; issue 10, hole 6).
 *
 * The problem it solves. An admin write touches MariaDB and Redis; a client
 * that got 503 cannot tell whether the change committed, and retrying a
 * restock used to apply it twice. With a key, the change and a row of
 * admin_requests (sql/005) — the key, the request's fingerprint, the
 * answer's status — commit in one transaction, so the key exists exactly
 * when the change does. A later request with the key:
 *  - same fingerprint: the route re-does its Redis step from what MariaDB
 *    committed (idempotent: versions, see gw_admin.c), then gets the stored
 *    answer back (status and body; the body is stored once the first
 *    attempt answered, and composed afresh if it never did);
 *  - another fingerprint (other route, event, user or body): 422
 *    idempotency_key_reused, nothing changes.
 * Two requests with one key at once: the second's INSERT waits on the
 * first's row and then fails as a duplicate; its transaction is rolled back
 * and it replays the first's answer.
 *
 * A key is 1..GW_IDEM_KEY_MAX of [A-Za-z0-9_.:-], sent at most once; else
 * 400 bad_idempotency_key. Keys are global (not per event) and expire
 * GW_IDEM_TTL_MS after use; each recording prunes at most GW_IDEM_PRUNE_MAX
 * expired rows, so the table stays bounded by the admin write rate.
 *
 * The fingerprint is SHA-256 over the route's name and its validated,
 * canonical request (not the raw bytes): a retry re-serialised by a client
 * library is the same request.
 */
#ifndef GW_IDEM_H
#define GW_IDEM_H

#include "gw_dbpool.h"
#include "gw_dbtxn.h"

#include <mysql.h>
#include <stddef.h>

#define GW_IDEM_KEY_MAX 64
#define GW_IDEM_TTL_MS (24LL * 3600 * 1000)
#define GW_IDEM_PRUNE_MAX 32
#define GW_IDEM_BODY_MAX 4096 /* answers longer than this are composed afresh on a replay */

typedef struct {
    int present;
    char key[GW_IDEM_KEY_MAX + 1];
    size_t klen;
    unsigned char fp[32]; /* set by gw_idem_fingerprint */
} gw_idem_t;

/**
 * Reads the Idempotency-Key header of @r into @k (present = 0 when there is
 * none). Returns 0, or -1 after answering 400 bad_idempotency_key. Loop thread.
 */
int gw_idem_read(gw_req_t *r, gw_idem_t *k);

/** Sets @k's fingerprint from @route and the canonical request @canon (@len bytes). 0, or -1 (no memory). */
int gw_idem_fingerprint(gw_idem_t *k, const char *route, const char *canon, size_t len);

/**
 * gw_idem_read, then, when a key came, its fingerprint from @route and the
 * canonical request printf'ed from @fmt (at most 1 KiB; the routes print
 * validated fields only). Returns 0, or -1 with @r answered (400, 503).
 */
int gw_idem_prepare(gw_req_t *r, gw_idem_t *k, const char *route, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * A gw_dbtxn body's last step, after the change: records @k (nothing when
 * absent) for @event with the answer's @status, and prunes a few expired
 * rows. Returns 0, a MariaDB error, or GW_DBTXN_ANSWERED when the key is
 * taken: then *@raced = 1 and @job is answered 503 (the change rolls back;
 * the route then looks the key up with gw_idem_replay).
 */
unsigned gw_idem_record(MYSQL *db, gw_dbjob_t *job, const gw_idem_t *k, const char *event, size_t elen, int status, int *raced);

/**
 * Re-does a replayed request's Redis step and answers the job as a fresh
 * success would (the route's redo); returns 0, or -1 with the job answered
 * (503, …). @in is the route's input.
 */
typedef int (*gw_idem_redo_fn)(gw_dbjob_t *job, gw_dbconn_t *conn, void *in);

/**
 * Before a change (and after a change lost the race for its key): looks @k
 * up. Returns 0 when it is unused (go ahead), or 1 when the job has been
 * answered: replayed (@redo, then the stored answer), refused (422
 * idempotency_key_reused) or failed (503). Database thread.
 */
int gw_idem_replay(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k, gw_idem_redo_fn redo, void *in);

/**
 * The database step of an admin change under @k: a replay when @k was used
 * already; else @body (which ends with gw_idem_record, setting *@raced) as
 * one transaction (gw_dbtxn_run), and, when the change lost the race for
 * its key, the replay of the change that won. Returns 0 when this change
 * committed (the route goes on with its Redis step), or -1 with the job
 * answered. @in is the route's input, for @body and @redo.
 */
int gw_idem_change(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k, gw_dbtxn_body_fn body, const int *raced, gw_idem_redo_fn redo,
                   void *in);

/**
 * After a change answered: stores the job's answer body under @k (its own
 * short transaction; best effort: a failure only means a replay composes
 * the answer afresh). Nothing when @k is absent or the job failed.
 */
void gw_idem_store_answer(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_idem_t *k);

#endif
