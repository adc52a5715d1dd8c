/*
 * GET /v1/boards/{board_id}/top?limit=L&offset=O&season=S — a page of the season,
 * from rank O + 1 (limit 1-1000, default 100; offset 0-10,000,000).
 * Public: no token. The read itself is gw_board_read.h's.
 */
#include "gw_board_read.h"
#include "gw_query.h"
#include "gw_routes.h"

void gw_route_board_top(gw_req_t *r)
{
    gw_board_read_t *rd = gw_board_read_new(r, GW_BOARD_TOP);
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
