/*
 * Operations routes: GET /healthz (the process runs), GET /readyz (Redis
 * and MariaDB answer) and GET /metrics (Prometheus text).
 */
#include "gw_dbpool.h"
#include "gw_routes.h"

#include <stdio.h>
#include <stdlib.h>

void gw_route_healthz(gw_req_t *r)
{
    static const char body[] = "{\"status\":\"ok\"}";
    gw_reply(r, 200, body, sizeof(body) - 1, NULL);
}

static void readyz_answer(gw_req_t *r, int redis_up)
{
    int db_up = gw_dbpool_db_up(r->th->server->dbpool);
    char body[512];
    int n;
    if (redis_up && db_up) {
        n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"redis\":\"up\",\"database\":\"up\",\"fallback\":\"inactive\"}");
        gw_reply(r, 200, body, (size_t)n, NULL);
        return;
    }
    const char *down = !redis_up && !db_up ? "redis and database are down" : !redis_up ? "redis is down" : "database is down";
    n = snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":\"unavailable\",\"message\":\"%s\"},\"status\":\"unavailable\",\"redis\":\"%s\","
                 "\"database\":\"%s\",\"fallback\":\"inactive\"}",
                 down, redis_up ? "up" : "down", db_up ? "up" : "down");
    gw_reply(r, 503, body, (size_t)n, NULL);
}

static void on_ping(gw_redis_t *redis, redisReply *reply, void *data)
{
    gw_req_t *r = data;
    (void)redis;
    readyz_answer(r, reply != NULL && reply->type == REDIS_REPLY_STATUS);
    gw_req_release(r);
}

void gw_route_readyz(gw_req_t *r)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    if (gw_redis_command(r->th->redis, on_ping, gw_req_ref(r), 1, argv, lens) != 0) {
        gw_req_release(r);
        readyz_answer(r, 0);
    }
}

void gw_route_metrics(gw_req_t *r)
{
    gw_server_t *srv = r->th->server;
    gw_metrics_t *shards[srv->nthreads], sum;
    int redis_up = 0;
    for (int i = 0; i < srv->nthreads; i++) {
        shards[i] = &srv->threads[i].metrics;
        redis_up += gw_redis_is_up(srv->threads[i].redis);
    }
    gw_metrics_sum(shards, (size_t)srv->nthreads, &sum);
    char extra[1024];
    snprintf(extra, sizeof(extra),
             "# HELP tk_backend_up 1 when the backend answers (redis: connections up / threads).\n"
             "# TYPE tk_backend_up gauge\ntk_backend_up{backend=\"redis\"} %g\ntk_backend_up{backend=\"database\"} %d\n"
             "# HELP tk_fallback_active 1 while claims go through the MariaDB fallback path.\n"
             "# TYPE tk_fallback_active gauge\ntk_fallback_active 0\n",
             (double)redis_up / srv->nthreads, gw_dbpool_db_up(srv->dbpool));
    h2o_iovec_t body;
    h2o_req_t *req = r->req;
    gw_metrics_render(&sum, &req->pool, &body, extra);
    /* Prometheus text, not JSON: answered here rather than through gw_reply. */
    gw_metrics_request(&r->th->metrics, r->route, 200, gw_now_us() - r->start_us);
    r->req = NULL;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; version=0.0.4"));
    h2o_send_inline(req, body.base, body.len);
}
