/*
 * GET /v1/boards/{board_id}/top?limit=L&offset=O&season=S — a page of the season,
 * from rank O + 1 (limit 1-1000, default 100; offset 0-10,000,000).
 * Public: no token. The read itself is gw_board_read.h's.
 */
#include "gw_board_read.h"
#include "gw_routes.h"

void gw_route_board_top(gw_req_t *r)
{
    gw_board_read_get(r, GW_BOARD_TOP);
}
