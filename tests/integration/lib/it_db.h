/*
 * it_db: a MariaDB connection for the tests' checks and clean-up, opened
 * with tk_db_connect (autocommit off): every helper here commits after its
 * statement, so a check always sees the latest committed rows.
 */
#ifndef IT_DB_H
#define IT_DB_H

#include <mysql.h>

/** Connects with the environment's port, user, database and password; NULL (message printed) on failure. */
MYSQL *it_db_connect(void);

/** Deletes every row of admin_requests, claims_dead, claims, event_locks, event_stock and events. Returns 0 or -1. */
int it_db_clean(MYSQL *db);

/**
 * Runs a query (printf-style; callers pass only validated ids) whose first
 * column of the first row is an integer. Returns it; @dflt when there is no
 * row or it is NULL; -1 on error (printed).
 */
long long it_db_int(MYSQL *db, long long dflt, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Runs a statement and commits. Returns 0 or -1 (printed). */
int it_db_exec(MYSQL *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One claim row, as it_db_claim_rows reads it. */
typedef struct {
    char user[72];
    char claim_id[100];
    long long ticket, quantity;
    char status[16];
} it_db_claim_row_t;

/** The claim rows of event @ev, ordered by ticket then user, into a calloc'ed array the caller frees (@count rows); NULL on error (printed). */
it_db_claim_row_t *it_db_claim_rows(MYSQL *db, const char *ev, size_t *count);

#endif
