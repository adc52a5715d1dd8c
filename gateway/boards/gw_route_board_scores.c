/*
 * POST /v1/admin/boards/{board_id}/scores: apply up to 1,000 score writes
 * (docs/API.md, "Leaderboards"). The body is validated here, on the loop
 * thread (gw_board_body.h: a broken shape is 400, an invalid entry is
 * skipped and counted); the valid entries join this loop turn's batch for
 * the board (gw_board_writer.h), and the answer comes when the script ran:
 * 200 {"accepted","invalid","refused","season"}.
 */
#include "gw_admin.h"
#include "gw_board_body.h"
#include "gw_board_writer.h"
#include "gw_routes.h"

#include <stdlib.h>
#include <string.h>

void gw_route_board_scores(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_BOARD_BODY_ERR_MAX];
    int n, invalid;
    gw_board_score_t *all = gw_board_writer_scratch(r->th->boards);
    gw_admin_req_body(r, &body, &len);
    if (gw_board_body_parse_scores(body, len, all, &n, &invalid, err, sizeof(err)) != 0) {
        gw_reply_error(r, 400, "bad_request", err);
        return;
    }
    gw_board_score_t *e = malloc(sizeof(*e) * (size_t)n); /* what the batch holds: only the valid entries */
    if (e == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    memcpy(e, all, sizeof(*e) * (size_t)n);
    gw_board_writer_add(r->th->boards, r, e, n, invalid);
}
