/*
 * it_storm: a bounded claim storm on one event whose demand exceeds its
 * stock, run by a thread of its own while the test injects a fault (the
 * chaos scenarios, tests/integration/chaos/).
 *
 * The storm: cfg.users distinct users, a tenth of them sending their claim
 * twice, in a shuffled order, over cfg.parallel keep-alive connections,
 * chunks alternating HTTP/1.1 and HTTP/2. Until the first `sold_out` it is
 * paced (cfg.pace_chunk requests every cfg.pace_ms) so that the units are
 * granted over a few seconds and the fault lands while grants are being
 * made and drained; after that the rest goes at full speed. A user whose
 * answer was 503, 429 or no answer at all (the gateway restarting, Redis
 * down) is retried in later waves until every user has a definite answer
 * (201/200/409) or the storm's deadline passes. Every wait is bounded.
 *
 * The storm goes to the fixture's gateway, or split over several
 * (it_storm_start_gws): request k of the storm, retries included, to
 * gateway k mod n, so a user's second claim and retries may reach another
 * gateway than the first.
 *
 * User i is "cu-%06d", and each claim carries a user token for its user
 * (it_token.h); every claim asks for 1 unit. What each user was told
 * is kept in it_storm_t.u for the book checks (it_verify.h).
 */
#ifndef IT_STORM_H
#define IT_STORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>

#include "it_api.h"

/* The storm's shape (the chaos scale sets it). */
typedef struct {
    int stock, users, parallel;
    int pace_chunk, pace_ms; /* paced phase: chunk size and period */
    int storm_ms;            /* storm deadline */
    int drain_ms;            /* quiescence deadline (it_verify_storm) */
} it_storm_cfg_t;

typedef struct {
    long long ticket; /* told (201, or 200 with the claim), 0 none */
    long long t201_sent, t201_done; /* the 201: its chunk's start, its answer's arrival (it_now_ms), 0 none */
    char claim_id[96];
    unsigned n201, n200, n409, nerr;
    unsigned char settled; /* got 201, 200 or 409 sold_out */
    unsigned char tried;
} it_storm_user_t;

#define IT_STORM_MAX_GW 4 /* gateways one storm is split over */

typedef struct {
    it_storm_cfg_t cfg;
    char event[64];
    char url[IT_STORM_MAX_GW][256]; /* the claim URL on each gateway */
    int nurl;
    unsigned next_url; /* the storm thread's: the gateway of the next request */
    it_token_cfg_t tokens; /* the gateway's, copied at the start: its claims are signed with them */
    atomic_llong deadline; /* the test thread sets it to 0 to end the storm early */
    it_storm_user_t *u;    /* cfg.users entries */
    pthread_t th;
    /* read by the test thread while the storm runs */
    atomic_long requests, answered, s201, s200, s409, s503, s429, snone, sother;
    atomic_int sold_out_seen, done, in_chunk;
    /* redis-stop: 201s whose answer arrived in [fb_from, fb_until) (0: not set / still open), counted as chunks end */
    atomic_llong fb_from, fb_until;
    atomic_long fb201_live;
    /* the storm thread's own, read after the join */
    int chunk_seq, first_soldout_chunk, last_201_chunk;
    long dup201, mismatch, bad_body;
    int unsettled, retry_waves;
    long long started, wave0_end, ended;
    char first_other[256];
    int joined;                /* the thread was joined (it_storm_join, it_storm_abort) */
    long curl_errs[CURL_LAST]; /* no answer, by libcurl code */
    long long slowest_chunk_ms;
} it_storm_t;

/**
 * Starts the storm on @event_id against @f's gateway. The storm is owned by
 * the caller (it_storm_free) and also remembered as the running one, so that
 * it_storm_leftover_free() can stop and free it when an assertion left it.
 */
it_storm_t *it_storm_start(const it_fix_t *f, const char *event_id, const it_storm_cfg_t *cfg);

/**
 * it_storm_start split over @ngw gateways (1..IT_STORM_MAX_GW; @gws[i]
 * the caller's, read here only): request k goes to gws[k % ngw]. Every
 * gateway must accept f's user tokens (it_gateway_start gives each the
 * harness's secret).
 */
it_storm_t *it_storm_start_gws(const it_fix_t *f, const it_gateway_t *const *gws, int ngw, const char *event_id, const it_storm_cfg_t *cfg);

/** Waits for the storm thread (it ends by its deadline, plus one chunk's bounded budget). */
void it_storm_join(it_storm_t *s);

/** Ends the storm now (a failed step of the test): the thread stops after its current chunk. */
void it_storm_abort(it_storm_t *s);

/** Frees a joined storm. */
void it_storm_free(it_storm_t *s);

/** The running storm, if an assertion left one behind (a teardown calls this): stopped and freed. */
void it_storm_leftover_free(void);

/** Waits (bounded) until the storm has seen @n 201s; returns 0, or -1 at the deadline or when the storm ended. */
int it_storm_wait_granted(it_storm_t *s, long n, int timeout_ms);

/** "7x96,52x3": the libcurl codes of the requests that got no answer ("none"). */
void it_storm_curl_errs(const it_storm_t *s, char *out, size_t len);

/** An assertion taken while the storm runs: the storm is stopped first, so no thread outlives the test. */
#define IT_STORM_ASSERT(s, cond)                                                                                                \
    do {                                                                                                                        \
        if (!(cond)) {                                                                                                          \
            fprintf(stderr, "chaos: failed while the storm ran: %s\n", #cond);                                                   \
            it_storm_abort(s);                                                                                                  \
            it_storm_free(s);                                                                                                   \
            fail_msg("%s", #cond);                                                                                              \
        }                                                                                                                       \
    } while (0)

#endif
