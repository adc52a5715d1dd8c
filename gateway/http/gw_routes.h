/*
 * gw_routes: every API route handler, one file each (gw_route_*.c). The
 * router has already matched the method and path, checked the admin token
 * for admin routes and the user token for user routes (r->sub, and
 * r->user_id set to it), refused oversized bodies, and validated the ids
 * in the path (r->event_id, r->user_id). A handler answers exactly once through
 * gw_reply*, now or from a callback.
 */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "gw_http.h"

void gw_route_healthz(gw_req_t *r);
void gw_route_readyz(gw_req_t *r);
void gw_route_metrics(gw_req_t *r);
void gw_route_events_list(gw_req_t *r);
void gw_route_event_get(gw_req_t *r);
void gw_route_claim_post(gw_req_t *r);
void gw_route_status_get(gw_req_t *r);
void gw_route_admin_create(gw_req_t *r);
void gw_route_admin_view(gw_req_t *r);
void gw_route_admin_stock(gw_req_t *r);
void gw_route_admin_state(gw_req_t *r);
void gw_route_admin_cancel(gw_req_t *r);
void gw_route_dev_login(gw_req_t *r);
void gw_route_watch(gw_req_t *r);
void gw_route_admin_presence(gw_req_t *r);
void gw_route_queue_join(gw_req_t *r);
void gw_route_queue_status(gw_req_t *r);
void gw_route_admin_queue_view(gw_req_t *r);
void gw_route_admin_queue_update(gw_req_t *r);
void gw_route_board_top(gw_req_t *r);
void gw_route_board_user(gw_req_t *r);
void gw_route_board_around(gw_req_t *r);
void gw_route_board_ranks(gw_req_t *r);
void gw_route_board_create(gw_req_t *r);
void gw_route_board_scores(gw_req_t *r);
void gw_route_board_season(gw_req_t *r);
void gw_route_admin_board_view(gw_req_t *r);

/** Makes every thread's cached GET /v1/events list old: an admin change. Any thread. */
void gw_route_events_changed(void);

/** Frees the calling loop thread's GET /v1/events cache; at thread exit, once its Redis connection is gone. */
void gw_route_events_dispose(void);

/**
 * Answers a route that read one event (HMGET, gw_event_from_hmget) and did
 * not get it: @rc 1 (no such event: 404, or 503 while events are being
 * rebuilt), -2 (Redis did not answer: 503), else the malformed hash (500).
 */
void gw_reply_event_unread(gw_req_t *r, int rc);

#endif
