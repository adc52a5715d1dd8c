/*
 * it_api: the gateway's HTTP API (shared/API.md) as the tests call it, and
 * the per-test fixture: clean Redis and MariaDB, a fresh gateway (and
 * workers), all stopped again in teardown whatever the test did.
 */
#ifndef IT_API_H
#define IT_API_H

#include <hiredis.h>
#include <mysql.h>

#include "it_http.h"
#include "it_proc.h"

#define IT_TIMEOUT_MS 10000 /* one request */
#define IT_READY_MS 30000   /* gateway start until /healthz answers */
#define IT_STOP_MS 20000    /* SIGTERM until exit */
#define IT_MAX_WORKERS 4
#define IT_SVC_MS 60000     /* scripts/services.sh start-redis and the like */

typedef enum {
    IT_NO_AUTH = 0,  /* no Authorization header */
    IT_ADMIN,        /* the gateway's admin token */
    IT_BAD_AUTH,     /* a wrong bearer token */
    IT_USER,         /* a user token (it_token.h) for the user the request is about: see it_api_user_of */
} it_auth_t;

#define IT_USER_DEFAULT "it-user" /* IT_USER's signer when the request names no valid user */

typedef struct {
    it_gateway_t gw;
    it_proc_t workers[IT_MAX_WORKERS];
    int nworkers;
    redisContext *redis;
    MYSQL *db;
} it_fix_t;

/**
 * Connects to Redis and MariaDB, wipes both (FLUSHALL; every table's rows),
 * starts a gateway and @nworkers workers. Returns 0, or -1 with whatever
 * started stopped again.
 */
int it_fix_setup(it_fix_t *f, int nworkers);

/** Closes and reopens the fixture's Redis and MariaDB connections (after a restart of either); fails the test when one does not connect. */
void it_fix_reconnect(it_fix_t *f);

/** How many of the fixture's workers still run. */
int it_fix_workers_alive(it_fix_t *f);

/** Starts one more worker named @consumer. Returns 0 or -1. */
int it_fix_add_worker(it_fix_t *f, const char *consumer);

/**
 * Stops the workers and the gateway (SIGTERM, bounded wait) and closes the
 * connections. Returns 0 when every process that was still running exited 0,
 * else -1 (so cmocka reports a leak report or a crash at exit as a failure).
 */
int it_fix_teardown(it_fix_t *f);

/**
 * The user an IT_USER request is signed for, into @out (TK_ID_MAX + 1
 * bytes): the {user_id} of a path /v1/events/{event_id}/claims/{user_id},
 * else the "user_id" of a JSON object @body, else IT_USER_DEFAULT (also when
 * the one named is not a valid user_id: a request that tests a bad id still
 * carries a good token, so it is the id the gateway refuses).
 */
const char *it_api_user_of(const char *path, const char *body, char *out);

/** The Authorization line of a user token for @user into @out (IT_AUTH_LINE_MAX bytes); NULL (said on stderr) when none can be minted. */
const char *it_api_user_header(const it_fix_t *f, const char *user, char *out);

/** A request to the gateway's HTTPS port. @body may be NULL. Returns as it_http. */
int it_api(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, it_auth_t auth, const char *method, const char *path,
           const char *body);

/*
 * User tokens for a batch of it_http_multi requests: request i gets the
 * headers {@extra (a header line, or left out when NULL), its Authorization
 * line}, signed as IT_USER signs (the user of its URL's path, else of its
 * body). The storage is the batch's: free it with it_multi_auth_free after
 * the requests' last use.
 */
typedef struct {
    char (*lines)[IT_AUTH_LINE_MAX];
    const char *(*headers)[3];
} it_multi_auth_t;

/** Sets reqs[i].headers for @n requests (their url and body already set). 0, or -1 (said on stderr) with nothing left to free. */
int it_multi_sign(it_multi_auth_t *a, const it_fix_t *f, it_multi_req_t *reqs, size_t n, const char *extra);

/** Frees what it_multi_sign allocated (safe on a zeroed one). */
void it_multi_auth_free(it_multi_auth_t *a);

/** it_api signed with a user token for @user, whoever the request names (403 tests, the per-user limit). */
int it_api_as(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, const char *user, const char *method, const char *path,
              const char *body);

/** it_api with a printf-style path (callers pass validated or deliberately bad ids, never anything else). */
int it_apif(it_resp_t *r, const it_fix_t *f, it_auth_t auth, const char *method, const char *body, const char *path_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/**
 * GET /v1/events/@ev/claims/@user (IT_USER) into @r, asked again every
 * 100 ms, for at most @timeout_ms, while the answer is the database lane's
 * deadline 503 ("waited too long for the database": off the fast path the
 * lookup reads MariaDB first, and a merge or a rebuild check may hold the
 * database threads a while). 0 with the last answer in @r (free it), -1.
 */
int it_status_past_db_wait(const it_fix_t *f, const char *ev, const char *user, it_resp_t *r, int timeout_ms);

/** The Authorization header line of an admin kind (IT_ADMIN, IT_BAD_AUTH) into @out (128 bytes), or NULL for the others. */
const char *it_api_auth_header(const it_fix_t *f, it_auth_t auth, char *out);

/**
 * POST /v1/admin/events. @opens_ms / @closes_ms: ms since the epoch, 0 for
 * absent. Returns the HTTP status (0 when no response).
 */
long it_api_create_event(const it_fix_t *f, const char *event_id, long long stock, long long max_per_user, long long opens_ms,
                         long long closes_ms);

/**
 * GET /v1/events/{id}: the event's "remaining", or -1 when the request
 * failed or the field is missing.
 */
long long it_api_remaining(const it_fix_t *f, const char *event_id);

/**
 * Polls GET /v1/admin/events/{id} until "pending" is 0, for at most
 * @timeout_ms. Returns 0 (and leaves the last view in @r, owned by the
 * caller) or -1 (the last view is still in @r when there was one).
 */
int it_api_wait_drained(it_resp_t *r, const it_fix_t *f, const char *event_id, int timeout_ms);

/**
 * Quiescence: polls GET /v1/admin/events/{id} every 300 ms until it answers
 * 200 with pending 0 and redis.granted = database.confirmed twice in a row
 * (the drain lag has settled). Bounded by @timeout_ms, and over at once
 * when no worker of @f runs any more (nothing would drain). Leaves the last
 * view in @r (the caller frees it). 0 or -1.
 */
int it_api_wait_quiet(it_resp_t *r, it_fix_t *f, const char *event_id, int timeout_ms);

/** A fresh event id "PREFIX-<pid>-<n>", unique within this test run. */
void it_event_id(char *out, size_t len, const char *prefix);

/** A fresh event (id from @prefix into @ev, @len bytes) with @stock and @max_per_user, open now; fails the test unless created (201). */
void it_new_event(const it_fix_t *f, char *ev, size_t len, const char *prefix, long long stock, long long max_per_user);

/** POST /v1/admin/events/{@ev}/state {"state": @state}; fails the test (the answer shown) unless 200. */
void it_admin_set_state(const it_fix_t *f, const char *ev, const char *state);

/** POST /v1/admin/events/{@ev}/stock {"delta": @delta}; fails the test (the answer shown) unless 200. */
void it_admin_restock(const it_fix_t *f, const char *ev, long long delta);

/* ---- cmocka glue shared by the it_*.c files ---- */

/** Group setup: fails the group when the runner's environment is incomplete. */
int it_group_setup(void **st);

/** Per-test setup: *st = a calloc'ed fixture with @nworkers workers running. */
int it_fix_new(void **st, int nworkers);
int it_fix_new0(void **st); /* no worker */

/** it_fix_new0 with the environment variable @name set to @value while the gateway starts (a setting of that fixture only). */
int it_fix_new0_env(void **st, const char *name, const char *value);
int it_fix_new1(void **st); /* one worker */
int it_fix_new2(void **st); /* two workers */

/** Per-test teardown of it_fix_new: stops everything; fails when a process did not exit 0. */
int it_fix_free(void **st);

/** it_fix_free, after starting Redis again (a no-op when it runs) whatever the test did; fails when either failed. */
int it_fix_free_redis_up(void **st);

/** Prints "@what: status body" to stderr, the context of a failing assertion. */
void it_show(const char *what, const it_resp_t *r);

/** POSTs a claim of @user_id, signed for @user_id as IT_USER does (@quantity 0: the field is left out); returns the status, the answer in @r. */
long it_claim(it_resp_t *r, const it_fix_t *f, const char *event_id, const char *user_id, int quantity);

/** it_claim whose status must be @want (asserted); the answer is freed. */
void it_claim_expect(const it_fix_t *f, const char *event_id, const char *user_id, int quantity, long want);

/** it_claim_expect for users "@prefix-@from" .. "@prefix-@to", in that order. */
void it_claim_users(const it_fix_t *f, const char *event_id, const char *prefix, int from, int to, int quantity, long want);

/**
 * Creates a fresh event (id from @prefix into @ev, @evlen bytes) with @stock
 * and @max_per_user, and one claim by @user, so that "unchanged" has
 * something to hold. Returns 0, or -1 (and prints why) when either failed.
 */
int it_fix_event_with_claim(const it_fix_t *f, char *ev, size_t evlen, const char *prefix, long long stock, long long max_per_user,
                            const char *user);

/* ---- the one-event fixture of it_admin, it_input, it_server_basics and it_abuse ---- */

/* A gateway (no worker) and, when asked, one event holding one claim, so that "unchanged" has something to hold. */
typedef struct {
    it_fix_t fix;
    char ev[64];       /* the event; "" when none was asked for */
    int redis_stopped; /* a test that stopped Redis sets it: teardown starts Redis again */
} it_evfix_t;

/* What it_evfix_new makes. */
typedef struct {
    const char *prefix;       /* the event id's prefix; NULL: no event */
    long long stock, max_per_user;
    const char *user;         /* who makes the first claim */
    const char *const *env;   /* "NAME=value" pairs (NULL-terminated, or NULL) in the gateway's environment only */
} it_evfix_spec_t;

/** Per-test setup: *st = a calloc'ed it_evfix_t made as @spec says (NULL: no event). 0, or -1 with everything stopped again. */
int it_evfix_new(void **st, const it_evfix_spec_t *spec);

/** Per-test teardown of it_evfix_new: Redis started again if the test stopped it, everything stopped; -1 when either failed. */
int it_evfix_free(void **st);

/* ---- "changes nothing": the figures a refused request must leave alone ---- */

typedef struct {
    long long remaining, seq; /* the event hash in Redis */
    long long claims, stream; /* its claims hash and stream in Redis */
    long long rows;           /* every claim row in MariaDB */
} it_books_t;

/** Reads the books of event @ev. */
void it_books_read(const it_fix_t *f, const char *ev, it_books_t *b);

/** 1 when @a and @b are equal; otherwise prints what @what changed (to stderr) and returns 0. */
int it_books_same(const it_books_t *a, const it_books_t *b, const char *what);

#endif
