/*
 * POST /v1/admin/boards/{board_id}/seasons: roll the board over to a new
 * season now (docs/API.md, "Leaderboards"). lua/lb_write.lua applies the
 * schedule first, then closes the current season at max(TIME, last_t) and
 * starts the next at the same instant, in one atomic step; the writes this
 * thread holds for the board go before it (gw_board_writer.h). No MariaDB
 * step: the rollover's stream entry (k=r) carries it to board_seasons
 * through the workers, after the scores written before it. 201 with the
 * new season and the one it closed.
 */
#include "gw_board_writer.h"
#include "gw_routes.h"

void gw_route_board_season(gw_req_t *r)
{
    gw_board_writer_roll(r->th->boards, r);
}
