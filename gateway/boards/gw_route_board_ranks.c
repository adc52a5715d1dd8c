/*
 * POST /v1/boards/{board_id}/ranks?season=S {"user_ids":[…]} — the entries
 * of up to 1000 users (a friends list), ordered by rank, each with its
 * global rank; users without a score are left out, a user named twice is
 * listed once. Public: no token. The router allows this route a body of
 * 128 KiB (TK_BODY_MAX_SCORES). The read itself is gw_board_read.h's.
 */
#include "gw_admin.h"
#include "gw_board_read.h"
#include "gw_query.h"
#include "gw_routes.h"

void gw_route_board_ranks(gw_req_t *r)
{
    gw_board_read_t *rd = gw_board_read_new(r, GW_BOARD_RANKS);
    char err[GW_BOARD_ERR_MAX];
    const char *q, *body;
    size_t qlen, blen;
    if (rd == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    gw_query_of(r->req, &q, &qlen);
    gw_admin_req_body(r, &body, &blen);
    if (gw_board_query(q, qlen, rd, err) != 0 || gw_board_ranks_body(body, blen, rd, err) != 0) {
        gw_reply_error(r, 400, "bad_request", err);
        gw_board_read_free(rd);
        return;
    }
    gw_board_read_start(rd);
}
