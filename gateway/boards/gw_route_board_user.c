/*
 * GET /v1/boards/{board_id}/users/{user_id}?season=S — one user's entry and
 * rank, 404 when the user has no score in that season.
 * Public: no token. The read itself is gw_board_read.h's.
 */
#include "gw_board_read.h"
#include "gw_routes.h"

void gw_route_board_user(gw_req_t *r)
{
    gw_board_read_get(r, GW_BOARD_USER);
}
