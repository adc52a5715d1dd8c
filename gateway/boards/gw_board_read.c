/*
 * The Redis side of the board reads (gw_board_read.h): one call of
 * lua/lb_read.lua per top or ranks request, its reply sorted into an
 * answer; user and around reads share one call per board per loop turn
 * (gw_board_reader.h) and each is answered here from its part of it.
 *
 * Why one call is enough, and exact. The script resolves the season and
 * reads it in one atomic step, so a page never mixes two states of the
 * board (a score write between a season lookup and a ZRANGE would). The
 * ranks it gives are the zset's (ZRANGE offsets, ZRANK), and the zset's
 * order is the board's order byte for byte (common/tk_lb.h), so the C side
 * only decodes: c1 from the score, the rest from the member, or the users
 * hash value for named users.
 *
 * Failures. Redis away (the call refused at once, or no reply): 503 with
 * Retry-After, nothing read from elsewhere (MariaDB may lag the current
 * season; an old season is read there only because Redis said so). An
 * error reply (a LOADING Redis, a script error) is logged and answered 503
 * too: the client can only retry. No such board: 404, or 503 while the
 * gateway is rebuilding Redis from MariaDB (the board may be on its way
 * back, gw_rebuild.h).
 *
 * Bounded. Each read holds one of its loop thread's BOARD_READS_MAX places
 * from gw_board_read_start until gw_board_read_free (MariaDB's part
 * included), so a stalled Redis holds at most that many reads per thread
 * (their requests, their replies to come); beyond, 503 at once. The count
 * is only touched on the loop thread: the database job frees its read there
 * too (gw_dbpool.h).
 */
#include "gw_board_read.h"
#include "gw_board_batch.h"
#include "gw_board_reader.h"
#include "gw_query.h"
#include "gw_rebuild.h"
#include "gw_redis.h"
#include "gw_server.h"
#include "tk_keys.h"
#include "tk_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lua/lb_read.lua's first element. */
enum { LB_RANGE = 1, LB_LIST = 2, LB_OLD = 3, LB_NO_BOARD = 4, LB_NO_SEASON = 5, LB_TORN = 6 };

gw_board_read_t *gw_board_read_new(gw_req_t *r, gw_board_shape_t shape)
{
    gw_board_read_t *rd = calloc(1, sizeof *rd);
    if (rd == NULL)
        return NULL;
    rd->r = gw_req_ref(r);
    rd->shape = shape;
    rd->season = GW_BOARD_SEASON_CURRENT;
    rd->limit = GW_BOARD_LIMIT_DEFAULT;
    rd->radius = GW_BOARD_RADIUS_DEFAULT;
    return rd;
}

void gw_board_read_free(void *p)
{
    gw_board_read_t *rd = p;
    if (rd == NULL)
        return;
    if (rd->held)
        rd->r->th->board_reads--; /* freed on the loop thread, the job's too (gw_dbpool.h) */
    if (rd->db_held)
        rd->r->th->board_db_reads--;
    gw_req_release(rd->r);
    free(rd->users);
    free(rd->entries);
    free(rd);
}

static int64_t int_at(const redisReply *reply, size_t i)
{
    return i < reply->elements && reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer : -1;
}

static int is_str(const redisReply *x)
{
    return x->type == REDIS_REPLY_STRING;
}

/* The entries of a LB_RANGE or LB_LIST reply into @rd. 0, or -1 when the reply is malformed. */
static int decode(gw_board_read_t *rd, const redisReply *reply, int64_t kind)
{
    if (kind == LB_RANGE) {
        int64_t first = int_at(reply, 3);
        if (first < 1 || (reply->elements - 4) % 2 != 0)
            return -1;
        for (size_t i = 4; i + 1 < reply->elements; i += 2) {
            const redisReply *m = reply->element[i], *s = reply->element[i + 1];
            if (!is_str(m) || !is_str(s) || gw_board_add_member(rd, first + (int64_t)(i - 4) / 2, m->str, m->len, s->str, s->len) != 0)
                return -1;
        }
        return 0;
    }
    if ((reply->elements - 3) % 3 != 0)
        return -1;
    for (size_t i = 3; i + 2 < reply->elements; i += 3) {
        const redisReply *u = reply->element[i], *v = reply->element[i + 1];
        int64_t rank = int_at(reply, i + 2);
        if (!is_str(u) || !is_str(v) || rank < 1 || gw_board_add_value(rd, rank, u->str, u->len, v->str, v->len) != 0)
            return -1;
    }
    return 0;
}

/* The answer of a read whose entries are in @rd. */
static void answer(gw_board_read_t *rd)
{
    gw_req_t *r = rd->r;
    if ((rd->shape == GW_BOARD_USER || rd->shape == GW_BOARD_AROUND) && rd->n == 0) {
        gw_reply_errorf(r, 404, "not_found", "user %s has no score in season %" PRId64 " of board %s", r->user_id, rd->season_no,
                        r->event_id);
        return;
    }
    size_t len;
    char *body = gw_board_json(rd, &len);
    if (body == NULL) {
        gw_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    gw_reply(r, 200, body, len, NULL);
    free(body);
}

void gw_board_read_answer(gw_board_read_t *rd, const redisReply *reply)
{
    gw_req_t *r = rd->r;
    int64_t kind = reply != NULL && reply->type == REDIS_REPLY_ARRAY ? int_at(reply, 0) : -1;
    if (reply == NULL) {
        gw_reply_unavailable(r, "redis");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        tk_warn("board read of %s: redis answered %.*s", r->event_id, (int)reply->len, reply->str);
        gw_reply_unavailable(r, "redis");
    } else if (kind == LB_NO_BOARD) {
        gw_board_answer_not_found(r, r->event_id, rd->token);
    } else if (kind == LB_NO_SEASON) {
        gw_reply_errorf(r, 404, "not_found", "board %s has no such season", r->event_id);
    } else if ((kind == LB_RANGE || kind == LB_LIST || kind == LB_OLD) && (int_at(reply, 1) >= 1 && int_at(reply, 2) >= 1 && int_at(reply, 2) <= 2)) {
        rd->season_no = int_at(reply, 1);
        rd->comps = (int)int_at(reply, 2);
        if (kind == LB_OLD) {
            gw_board_db_read(rd); /* takes it */
            return;
        }
        if (decode(rd, reply, kind) != 0) {
            tk_error("board read of %s: malformed entry in season %" PRId64, r->event_id, rd->season_no);
            gw_reply_error(r, 500, "internal", "malformed board entry");
        } else {
            answer(rd);
        }
    } else {
        tk_error("board read of %s: unexpected reply of lb_read.lua (kind %" PRId64 ")", r->event_id, kind);
        gw_reply_error(r, 500, "internal", "unexpected answer from Redis");
    }
    gw_board_read_free(rd);
}

static void on_reply(gw_redis_t *redis, redisReply *reply, void *data)
{
    (void)redis;
    gw_board_read_answer(data, reply);
}

void gw_board_read_start(gw_board_read_t *rd)
{
    static const char *const shapes[] = {"top", "user", "around", "ranks"};
    gw_req_t *r = rd->r;
    if (r->th->board_reads >= (size_t)r->th->server->conf->board_reads_max) {
        /* Redis is slow or stalled: refuse now rather than queue behind it (a ranks read is up to 1,000 ZRANKs). */
        gw_metrics_add(&r->th->metrics.shed[GW_SHED_BOARD_READS], 1);
        gw_reply_error(r, 503, "unavailable", "too many board reads are waiting; retry shortly");
        gw_board_read_free(rd);
        return;
    }
    r->th->board_reads++;
    rd->held = 1;
    if (rd->shape == GW_BOARD_USER || rd->shape == GW_BOARD_AROUND) {
        gw_board_reader_add(r->th->board_reader, rd); /* one call per board per loop turn (gw_board_reader.h) */
        return;
    }
    char key[TK_KEY_MAX], season[24], a[24], b[24];
    int klen = tk_lb_key(TK_LB_BOARD, r->event_id, r->elen, 0, key);
    if (rd->season == GW_BOARD_SEASON_CURRENT)
        snprintf(season, sizeof season, "current");
    else
        snprintf(season, sizeof season, "%" PRId64, rd->season);
    size_t argc = 4, cap = 6 + rd->nusers;
    const char **argv = malloc(cap * sizeof *argv);
    size_t *lens = malloc(cap * sizeof *lens);
    if (argv == NULL || lens == NULL || klen < 0) {
        free(argv);
        free(lens);
        gw_reply_error(r, 503, "unavailable", "out of memory");
        gw_board_read_free(rd);
        return;
    }
    argv[0] = key;
    argv[1] = shapes[rd->shape];
    argv[2] = season;
    argv[3] = gw_board_keep_closed;
    switch (rd->shape) {
    case GW_BOARD_TOP:
        snprintf(a, sizeof a, "%" PRId64, rd->offset);
        snprintf(b, sizeof b, "%" PRId64, rd->limit);
        argv[argc++] = a;
        argv[argc++] = b;
        break;
    case GW_BOARD_AROUND:
        snprintf(b, sizeof b, "%" PRId64, rd->radius);
        argv[argc++] = r->user_id;
        argv[argc++] = b;
        break;
    case GW_BOARD_USER:
        argv[argc++] = r->user_id;
        break;
    case GW_BOARD_RANKS:
        for (size_t i = 0; i < rd->nusers; i++)
            argv[argc++] = rd->users[i];
        break;
    }
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rd->token = gw_rebuild_token(r->th->server);
    int rc = gw_redis_script(r->th->redis, GW_SCRIPT_LB_READ, on_reply, rd, 1, (int)argc, argv, lens);
    free(argv);
    free(lens);
    if (rc != 0) {
        gw_reply_unavailable(r, "redis");
        gw_board_read_free(rd);
    }
}

void gw_board_read_get(gw_req_t *r, gw_board_shape_t shape)
{
    gw_board_read_t *rd = gw_board_read_new(r, shape);
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
