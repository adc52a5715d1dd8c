/*
 * GET /v1/boards/{board_id}/users/{user_id}/around?radius=R&season=S — up to R
 * entries above and R below the user, and the user (radius 1-100, default
 * 5); 404 when the user has no score in that season.
 * Public: no token. The read itself is gw_board_read.h's.
 */
#include "gw_board_read.h"
#include "gw_query.h"
#include "gw_routes.h"

void gw_route_board_around(gw_req_t *r)
{
    gw_board_read_t *rd = gw_board_read_new(r, GW_BOARD_AROUND);
    char err[GW_BOARD_ERR_MAX];
    const char *q;
    size_t qlen;
    if (rd == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    gw_query_of(r->req, &q, &qlen);
    if (gw_board_query(q, qlen, rd, err) != 0) {
        gw_reply_error(r, 400, "bad_request", err);
        gw_board_read_free(rd);
        return;
    }
    gw_board_read_start(rd);
}
