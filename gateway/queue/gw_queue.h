/*
 * gw_queue: what the waiting room's routes and held polls share: the keys
 * of the room scripts (lua/wq_*.lua), a user's standing as those scripts
 * return it, and the answers of docs/API.md "Waiting room" built from it.
 */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include "gw_http.h"
#include "gw_redis.h"
#include "tk_keys.h"

#include <hiredis.h>
#include <stdint.h>

#define GW_QUEUE_NKEYS 8      /* ev, wq, pos, line, seen, live, gone, adm: wq_join.lua and wq_status.lua */
#define GW_QUEUE_ITEMS 6      /* items per user in a wq_status.lua / wq_join.lua reply */
#define GW_QUEUE_POLL_AFTER_MS 1000
#define GW_QUEUE_WAIT_MAX_S 25
#define GW_QUEUE_WAIT_DEFAULT_S 20
#define GW_QUEUE_BODY_MAX 1024
#define GW_QUEUE_PAGE "queue" /* the presence page of a waiting-room heartbeat (gw_presence.h) */

typedef enum {
    GW_QUEUE_WAITING = 0,
    GW_QUEUE_ADMITTED,
    GW_QUEUE_EXPIRED, /* passed while absent: 410 */
    GW_QUEUE_NONE,    /* no place: 404 */
    GW_QUEUE_LAPSED,  /* admitted, but the admission ran out with its token: 410 */
} gw_queue_kind_t;

/* A user's standing, from one script reply. */
typedef struct {
    gw_queue_kind_t kind;
    int64_t place, ahead, serving, rate_x1000; /* waiting */
    int paused;                                /* waiting */
    int64_t admitted_ms;                       /* admitted */
    int ttl_s;                                 /* admitted */
} gw_queue_place_t;

/** Writes the GW_QUEUE_NKEYS keys of event @event_id (@elen bytes, valid) into @keys, in the scripts' order. */
void gw_queue_keys(const char *event_id, size_t elen, char keys[][TK_KEY_MAX]);

/**
 * The seconds until a user with @ahead present users before them is
 * admitted at @rate_x1000 admissions per 1000 s: ceil(ahead * 1000 /
 * rate_x1000); 0 when nobody is ahead; -1 (JSON null) when paused or the
 * rate is 0.
 */
int64_t gw_queue_eta(int64_t ahead, int64_t rate_x1000, int paused);

/**
 * Reads the six items of one user from @items (an array reply's elements
 * from @items[0]) into @p. 0, or -1 when they are malformed.
 */
int gw_queue_place_parse(redisReply *const *items, gw_queue_place_t *p);

/**
 * Answers @r from @p: 200 (or @waiting_status for a waiting place, 201 for
 * a join that made it) with the waiting or admitted body, 410 expired, 404
 * not_found. The event and user are @r's.
 */
void gw_queue_answer(gw_req_t *r, const gw_queue_place_t *p, int waiting_status);

/**
 * Sends one call of lua/wq_status.lua for the @n users @users of event
 * @event_id (@elen bytes), a heartbeat of each when @beat. The reply is
 * {"not_found"} / {"no_waiting_room"}, or GW_QUEUE_ITEMS items per user.
 * Returns 0, or -1 as gw_redis_script (then @cb is never called).
 */
int gw_queue_status_call(gw_redis_t *redis, const char *event_id, size_t elen, const char *const *users, int n, int beat,
                         gw_redis_cb cb, void *data);

/** Answers a refusal code of a room script ("not_found", "closed", …) with its status; unknown codes 500. */
void gw_queue_refuse(gw_req_t *r, const char *code);

/**
 * Sorts the reply of a join or status call for one user: 0 with the place
 * in @p when @reply holds @lead leading integers, then GW_QUEUE_ITEMS items;
 * else -1 with @r answered (503 `unavailable` with Retry-After when Redis
 * did not answer or answered an error, the script's refusal, or 500 naming
 * @script for a malformed answer).
 */
int gw_queue_reply_place(gw_req_t *r, const redisReply *reply, size_t lead, const char *script, gw_queue_place_t *p);

#endif
