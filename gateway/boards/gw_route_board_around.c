/*
 * GET /v1/boards/{board_id}/users/{user_id}/around?radius=R&season=S — up to R
 * entries above and R below the user, and the user (radius 1-100, default
 * 5); 404 when the user has no score in that season.
 * Public: no token. The read itself is gw_board_read.h's.
 */
#include "gw_board_read.h"
#include "gw_routes.h"

void gw_route_board_around(gw_req_t *r)
{
    gw_board_read_get(r, GW_BOARD_AROUND);
}
