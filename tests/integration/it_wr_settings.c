/*
 * it_wr_settings: a waiting room's settings end to end (issue 13 item 3,
 * docs/API.md "Waiting room"), against real Redis and MariaDB, no worker:
 *
 *  - create_with_room_shows_it_everywhere: a create with "waiting_room"
 *    writes the settings in MariaDB (events.wr_*) and Redis (ev fields wr,
 *    wr_rate, wr_ttl, wr_opens; wq paused; tk:wq:rooms), and every route
 *    that shows the event carries them (create's 201, GET event, the list,
 *    the admin view, watch); a create without one, or with enabled false,
 *    shows "waiting_room":null and writes no room anywhere;
 *  - create_refuses_bad_rooms: each bad field is 400 bad_request naming it,
 *    and nothing is created in either store;
 *  - create_retry_finishes_the_room: a create whose Redis step never
 *    happened (its hash deleted) shows its room from MariaDB in the admin
 *    view; the retry with the same room finishes it (201, room in Redis),
 *    one with another room is 409 exists; a keyed create replayed is 201
 *    and the key with another room 422;
 *  - queue_view_maps_the_counters: GET …/queue maps tk:{E}:wq (set here by
 *    hand, as the room's scripts would) and counts present = heartbeats
 *    younger than 30 s; 404 unknown event, 409 no_waiting_room;
 *  - queue_update_is_durable_and_moves_the_version: POST …/queue changes the
 *    rate and the pause in both stores, answers the view, moves the event's
 *    version, and the settings survive Redis's loss (tk-rebuild, as the
 *    admin ACL user); a rebuild over an intact room changes nothing;
 *  - queue_update_refuses_and_changes_nothing: each bad body is 400, a
 *    room-less event 409 no_waiting_room, an unknown one 404: the MariaDB
 *    row and the Redis hashes unchanged;
 *  - queue_update_idempotency_key: a keyed update retried is applied once
 *    and answers the first body; the key with another body is 422;
 *  - concurrent_updates_agree: rounds of two updates at once (bounded in
 *    count and time) end with Redis holding MariaDB's settings.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_ops.h"
#include "lib/it_proc.h"
#include "lib/it_redis.h"
#include "tk_rebuild.h"
#include "tk_time.h"

#define CMD_MS 60000
#define ROUNDS 30       /* concurrent update rounds, at most */
#define ROUNDS_MS 15000 /* and at most this long */
#define DUMP_MAX 4096

/* ------------------------------------------------------------- helpers */

/* POST /v1/admin/events with @room (the "waiting_room" value, or NULL for none); the status, the answer in @r. */
static long create(it_resp_t *r, const it_fix_t *f, const char *ev, const char *extra, const char *room)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"name\":\"Room %s\",\"stock\":10%s%s%s}", ev, ev, extra ? extra : "",
             room ? ",\"waiting_room\":" : "", room ? room : "");
    memset(r, 0, sizeof *r);
    it_api(r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events", body);
    return r->status;
}

/* A fresh event with a room of @rate per s, ttl 300 s, opening at once; fails the test unless created. */
static void new_room(const it_fix_t *f, char *ev, size_t len, const char *prefix, int rate)
{
    char room[128];
    it_resp_t r;
    it_event_id(ev, len, prefix);
    snprintf(room, sizeof room, "{\"enabled\":true,\"release_per_s\":%d,\"access_ttl_s\":300}", rate);
    if (create(&r, f, ev, NULL, room) != 201)
        it_show("create with a room", &r);
    assert_int_equal(r.status, 201);
    it_resp_free(&r);
}

/* An admin request with an optional Idempotency-Key (@key NULL: none). */
static long admin(it_resp_t *r, const it_fix_t *f, const char *method, const char *path, const char *body, const char *key)
{
    char auth[128], k[128], url[1024];
    const char *h[3] = {it_api_auth_header(f, IT_ADMIN, auth), NULL, NULL};
    if (key != NULL) {
        snprintf(k, sizeof k, "Idempotency-Key: %s", key);
        h[1] = k;
    }
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    memset(r, 0, sizeof *r);
    if (it_http(r, IT_HTTP1, method, url, h, body, body ? strlen(body) : 0, IT_TIMEOUT_MS) != 0)
        return 0;
    return r->status;
}

static long queue_post(it_resp_t *r, const it_fix_t *f, const char *ev, const char *body, const char *key)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/admin/events/%s/queue", ev);
    return admin(r, f, "POST", path, body, key);
}

static long queue_get(it_resp_t *r, const it_fix_t *f, const char *ev)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/admin/events/%s/queue", ev);
    return admin(r, f, "GET", path, NULL, NULL);
}

/* A string field of hash @key into @out ("" when absent). */
static void hget(const it_fix_t *f, const char *key, const char *field, char *out, size_t len)
{
    out[0] = '\0';
    redisReply *rep = redisCommand(f->redis, "HGET %s %s", key, field);
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        snprintf(out, len, "%s", rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
}

static void ev_field(const it_fix_t *f, const char *ev, const char *field, char *out, size_t len)
{
    char key[128];
    snprintf(key, sizeof key, "tk:{%s}:ev", ev);
    hget(f, key, field, out, len);
}

static void wq_field(const it_fix_t *f, const char *ev, const char *field, char *out, size_t len)
{
    char key[128];
    snprintf(key, sizeof key, "tk:{%s}:wq", ev);
    hget(f, key, field, out, len);
}

static long long is_room(const it_fix_t *f, const char *ev)
{
    redisReply *rep = redisCommand(f->redis, "SISMEMBER tk:wq:rooms %s", ev);
    long long v = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep != NULL)
        freeReplyObject(rep);
    return v;
}

static void rcmd(const it_fix_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(f->redis, fmt, ap);
    va_end(ap);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fail_msg("redis: %s", rep->str);
    freeReplyObject(rep);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* HGETALL @key as sorted "field=value;" into @out (DUMP_MAX bytes). */
static void hash_dump(const it_fix_t *f, const char *key, char *out)
{
    out[0] = '\0';
    redisReply *rep = redisCommand(f->redis, "HGETALL %s", key);
    assert_non_null(rep);
    size_t n = rep->elements / 2;
    char **lines = calloc(n + 1, sizeof *lines);
    assert_non_null(lines);
    for (size_t i = 0; i < n; i++) {
        lines[i] = malloc(512);
        assert_non_null(lines[i]);
        const char *field = rep->element[2 * i]->str;
        /* Left out: the admitter's own clock (lua/wq_admit.lua, "An outage"), which its steps stamp while the test runs. */
        if (strcmp(field, "step") == 0 || strcmp(field, "grace") == 0)
            lines[i][0] = '\0';
        else
            snprintf(lines[i], 512, "%s=%s;", field, rep->element[2 * i + 1]->str);
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        strncat(out, lines[i], DUMP_MAX - strlen(out) - 1);
        free(lines[i]);
    }
    free(lines);
    freeReplyObject(rep);
}

/* The room as Redis and MariaDB hold it, as one comparable line. */
static void room_dump(const it_fix_t *f, const char *ev, char *out)
{
    char kev[128], kwq[128], a[DUMP_MAX], b[DUMP_MAX];
    snprintf(kev, sizeof kev, "tk:{%s}:ev", ev);
    snprintf(kwq, sizeof kwq, "tk:{%s}:wq", ev);
    hash_dump(f, kev, a);
    hash_dump(f, kwq, b);
    snprintf(out, 3 * DUMP_MAX, "ev[%s] wq[%s] room=%lld db=%lld/%lld/%lld/%lld/%lld", a, b, is_room(f, ev),
             it_db_int(f->db, -1, "SELECT wr_on FROM events WHERE event_id='%s'", ev),
             it_db_int(f->db, -1, "SELECT wr_release_per_s FROM events WHERE event_id='%s'", ev),
             it_db_int(f->db, -1, "SELECT wr_access_ttl_s FROM events WHERE event_id='%s'", ev),
             it_db_int(f->db, -1, "SELECT wr_paused FROM events WHERE event_id='%s'", ev),
             it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev));
}

/* The event's "waiting_room" in @r's JSON (the event itself, or {"event":…} of the admin view). */
static json_t *room_of(const it_resp_t *r)
{
    json_t *e = json_object_get(r->json, "event");
    return json_object_get(e != NULL ? e : r->json, "waiting_room");
}

/* Asserts that @w is {"enabled":true,"release_per_s":@rate,"access_ttl_s":@ttl,"opens_at":@opens or null}. */
static void assert_room(const json_t *w, long long rate, long long ttl, const char *opens)
{
    assert_true(json_is_object(w));
    assert_true(json_is_true(json_object_get(w, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(w, "release_per_s")), rate);
    assert_int_equal(json_integer_value(json_object_get(w, "access_ttl_s")), ttl);
    if (opens == NULL)
        assert_true(json_is_null(json_object_get(w, "opens_at")));
    else
        assert_string_equal(json_string_value(json_object_get(w, "opens_at")), opens);
}

static long long version_of(const it_fix_t *f, const char *ev)
{
    it_resp_t r;
    long long v = -1;
    if (it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev) == 0 && r.status == 200)
        v = it_json_int(r.json, "version");
    else
        it_show("GET event", &r);
    it_resp_free(&r);
    return v;
}

/* Runs tk-rebuild with @args (NULL-terminated) as the admin ACL user; its exit code, -1 when it could not run. */
static int rebuild_cmd(const char *const *args)
{
    return it_run_tool("tk-rebuild", args, NULL, NULL, CMD_MS);
}

/* ------------------------------------------------------------- create */

static void create_with_room_shows_it_everywhere(void **st)
{
    it_fix_t *f = *st;
    char ev[64], plain[64], off[64], v[64];
    it_resp_t r;
    it_event_id(ev, sizeof ev, "room");
    long long opens = tk_time_now_ms() + 3600 * 1000LL;
    opens -= opens % 1000;
    char opens_s[TK_TIME_RFC3339_LEN + 1], room[256];
    tk_time_format_rfc3339(opens, opens_s);
    snprintf(room, sizeof room, "{\"enabled\":true,\"release_per_s\":200,\"access_ttl_s\":600,\"opens_at\":\"%s\"}", opens_s);
    assert_int_equal(create(&r, f, ev, NULL, room), 201);
    assert_room(room_of(&r), 200, 600, opens_s);
    it_resp_free(&r);

    /* MariaDB */
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_on FROM events WHERE event_id='%s'", ev), 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_release_per_s FROM events WHERE event_id='%s'", ev), 200);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_access_ttl_s FROM events WHERE event_id='%s'", ev), 600);
    assert_int_equal(it_db_int(f->db, -1, "SELECT CAST(UNIX_TIMESTAMP(wr_opens_at) * 1000 AS UNSIGNED) FROM events WHERE event_id='%s'", ev),
                     opens);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_paused FROM events WHERE event_id='%s'", ev), 0);
    /* Redis */
    ev_field(f, ev, "wr", v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 200);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_ttl", -1), 600);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_opens", -1), opens);
    wq_field(f, ev, "paused", v, sizeof v);
    assert_string_equal(v, "0");
    assert_int_equal(is_room(f, ev), 1);

    /* Every route that shows the event */
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
    assert_int_equal(r.status, 200);
    assert_room(room_of(&r), 200, 600, opens_s);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", ev), 0);
    assert_int_equal(r.status, 200);
    assert_room(room_of(&r), 200, 600, opens_s);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_USER, "GET", NULL, "/v1/events/%s/watch?since=0&wait=1", ev), 0);
    assert_int_equal(r.status, 200);
    assert_room(room_of(&r), 200, 600, opens_s);
    it_resp_free(&r);

    /* No room, and a room asked off: null everywhere, nothing written for a room. */
    it_event_id(plain, sizeof plain, "plain");
    assert_int_equal(create(&r, f, plain, NULL, NULL), 201);
    assert_true(json_is_null(room_of(&r)));
    it_resp_free(&r);
    it_event_id(off, sizeof off, "off");
    assert_int_equal(create(&r, f, off, NULL, "{\"enabled\":false,\"release_per_s\":5}"), 201);
    assert_true(json_is_null(room_of(&r)));
    it_resp_free(&r);
    const char *const ids[] = {plain, off};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(it_db_int(f->db, -1, "SELECT wr_on + wr_release_per_s + wr_access_ttl_s FROM events WHERE event_id='%s'", ids[i]), 0);
        ev_field(f, ids[i], "wr", v, sizeof v);
        assert_string_equal(v, "");
        assert_int_equal(is_room(f, ids[i]), 0);
        assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ids[i]), 0);
        assert_true(json_is_null(room_of(&r)));
        it_resp_free(&r);
    }
    /* The list: each event with its own room (access_ttl_s defaults to 300). */
    char ttl_ev[64];
    it_event_id(ttl_ev, sizeof ttl_ev, "ttl");
    assert_int_equal(create(&r, f, ttl_ev, NULL, "{\"release_per_s\":7}"), 201);
    assert_room(room_of(&r), 7, 300, NULL);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events"), 0);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "events");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(e, "event_id"));
        if (strcmp(id, ev) == 0)
            assert_room(json_object_get(e, "waiting_room"), 200, 600, opens_s), seen++;
        else if (strcmp(id, ttl_ev) == 0)
            assert_room(json_object_get(e, "waiting_room"), 7, 300, NULL), seen++;
        else
            assert_true(json_is_null(json_object_get(e, "waiting_room"))), seen++;
    }
    assert_int_equal(seen, 4);
    it_resp_free(&r);
}

static void create_refuses_bad_rooms(void **st)
{
    it_fix_t *f = *st;
    const struct {
        const char *extra, *room, *word;
    } bad[] = {
        {NULL, "true", "waiting_room must be an object"},
        {NULL, "[1]", "waiting_room must be an object"},
        {NULL, "{\"enabled\":\"yes\",\"release_per_s\":5}", "waiting_room.enabled"},
        {NULL, "{\"enabled\":true}", "waiting_room.release_per_s is required"},
        {NULL, "{\"release_per_s\":0}", "waiting_room.release_per_s"},
        {NULL, "{\"release_per_s\":100001}", "waiting_room.release_per_s"},
        {NULL, "{\"release_per_s\":2.5}", "waiting_room.release_per_s"},
        {NULL, "{\"release_per_s\":5,\"access_ttl_s\":9}", "waiting_room.access_ttl_s"},
        {NULL, "{\"release_per_s\":5,\"access_ttl_s\":86401}", "waiting_room.access_ttl_s"},
        {NULL, "{\"release_per_s\":5,\"opens_at\":\"soon\"}", "waiting_room.opens_at"},
        {",\"closes_at\":\"2099-01-01T10:00:00.000Z\"", "{\"release_per_s\":5,\"opens_at\":\"2099-01-01T10:00:00.000Z\"}",
         "waiting_room.opens_at must be before closes_at"},
        {NULL, "{\"enabled\":false,\"access_ttl_s\":5}", "waiting_room.access_ttl_s"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ev[64];
        it_resp_t r;
        it_event_id(ev, sizeof ev, "badroom");
        long got = create(&r, f, ev, bad[i].extra, bad[i].room);
        if (got != 400 || strcmp(it_resp_error_code(&r), "bad_request") != 0 || r.body == NULL || strstr(r.body, bad[i].word) == NULL)
            fail_msg("waiting_room %s: %ld %s (wanted 400 bad_request naming %s)", bad[i].room, got, r.body ? r.body : "", bad[i].word);
        it_resp_free(&r);
        assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM events WHERE event_id='%s'", ev), 0);
        assert_int_equal(it_redis_ev_int(f->redis, ev, "total", -1), -1);
        assert_int_equal(is_room(f, ev), 0);
    }
    redisReply *rep = redisCommand(f->redis, "EXISTS tk:wq:rooms tk:events");
    assert_non_null(rep);
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
}

static void create_retry_finishes_the_room(void **st)
{
    it_fix_t *f = *st;
    char ev[64], v[64];
    const char *room = "{\"release_per_s\":40,\"access_ttl_s\":120}";
    it_resp_t r;
    it_event_id(ev, sizeof ev, "retry");
    assert_int_equal(create(&r, f, ev, NULL, room), 201);
    it_resp_free(&r);
    /* As if the create's Redis step had failed after the commit. */
    rcmd(f, "DEL tk:{%s}:ev tk:{%s}:wq", ev, ev);
    rcmd(f, "SREM tk:wq:rooms %s", ev);
    assert_int_equal(it_apif(&r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", ev), 0);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "redis")));
    assert_room(room_of(&r), 40, 120, NULL); /* built from the MariaDB row */
    it_resp_free(&r);
    /* Another room is another definition: 409, nothing loaded. */
    assert_int_equal(create(&r, f, ev, NULL, "{\"release_per_s\":41,\"access_ttl_s\":120}"), 409);
    assert_string_equal(it_resp_error_code(&r), "exists");
    it_resp_free(&r);
    assert_int_equal(create(&r, f, ev, NULL, NULL), 409);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "total", -1), -1);
    assert_int_equal(is_room(f, ev), 0);
    /* The same room: the retry finishes the load, room included. */
    assert_int_equal(create(&r, f, ev, NULL, room), 201);
    assert_room(room_of(&r), 40, 120, NULL);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 40);
    wq_field(f, ev, "paused", v, sizeof v);
    assert_string_equal(v, "0");
    assert_int_equal(is_room(f, ev), 1);

    /* Keyed: the replay is 201 with the first body; the key with another room is 422. */
    char keyed[64], body[512], path[] = "/v1/admin/events";
    it_event_id(keyed, sizeof keyed, "keyed");
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"stock\":3,\"waiting_room\":%s}", keyed, room);
    assert_int_equal(admin(&r, f, "POST", path, body, "k-create-room"), 201);
    char *first = strdup(r.body);
    it_resp_free(&r);
    assert_int_equal(admin(&r, f, "POST", path, body, "k-create-room"), 201);
    assert_string_equal(r.body, first);
    it_resp_free(&r);
    free(first);
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"stock\":3,\"waiting_room\":{\"release_per_s\":40,\"access_ttl_s\":121}}", keyed);
    assert_int_equal(admin(&r, f, "POST", path, body, "k-create-room"), 422);
    assert_string_equal(it_resp_error_code(&r), "idempotency_key_reused");
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(f->redis, keyed, "wr_ttl", -1), 120);
}

/* ------------------------------------------------------------- view */

static void queue_view_maps_the_counters(void **st)
{
    it_fix_t *f = *st;
    char ev[64], plain[64];
    it_resp_t r;
    new_room(f, ev, sizeof ev, "view", 120);
    assert_int_equal(queue_get(&r, f, ev), 200);
    assert_string_equal(r.body, "{\"joined\":0,\"present\":0,\"admitted\":0,\"serving\":0,\"abandoned\":0,\"release_per_s\":120,"
                                "\"measured_release_per_s\":null,\"paused\":false}");
    it_resp_free(&r);

    /* What the room's scripts keep (lua/wq_*.lua), set by hand. */
    long long now = tk_time_now_ms();
    rcmd(f, "HSET tk:{%s}:wq n 12 serving 7 admitted 5 abandoned 2 meas 4500", ev);
    rcmd(f, "ZADD tk:{%s}:wq:seen %lld u-a %lld u-b %lld u-c", ev, now - 1000, now - 25000, now - 31000);
    assert_int_equal(queue_get(&r, f, ev), 200);
    assert_int_equal(it_json_int(r.json, "joined"), 12);
    assert_int_equal(it_json_int(r.json, "present"), 2); /* u-c's heartbeat is 31 s old */
    assert_int_equal(it_json_int(r.json, "admitted"), 5);
    assert_int_equal(it_json_int(r.json, "serving"), 7);
    assert_int_equal(it_json_int(r.json, "abandoned"), 2);
    assert_int_equal(it_json_int(r.json, "release_per_s"), 120);
    assert_true(json_is_number(json_object_get(r.json, "measured_release_per_s")));
    assert_true(json_number_value(json_object_get(r.json, "measured_release_per_s")) == 4.5);
    assert_true(json_is_false(json_object_get(r.json, "paused")));
    it_resp_free(&r);
    rcmd(f, "HSET tk:{%s}:wq paused 1", ev);
    assert_int_equal(queue_get(&r, f, ev), 200);
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    it_resp_free(&r);

    /* Unknown event, no room, no token, a malformed counter. */
    assert_int_equal(queue_get(&r, f, "no-such-event"), 404);
    assert_string_equal(it_resp_error_code(&r), "not_found");
    it_resp_free(&r);
    it_event_id(plain, sizeof plain, "plainview");
    assert_int_equal(it_api_create_event(f, plain, 5, 1, 0, 0), 201);
    assert_int_equal(queue_get(&r, f, plain), 409);
    assert_string_equal(it_resp_error_code(&r), "no_waiting_room");
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/admin/events/%s/queue", ev), 0);
    assert_int_equal(r.status, 401);
    it_resp_free(&r);
    rcmd(f, "HSET tk:{%s}:wq admitted lots", ev);
    assert_int_equal(queue_get(&r, f, ev), 500);
    assert_string_equal(it_resp_error_code(&r), "internal");
    it_resp_free(&r);
}

/* ------------------------------------------------------------- update */

static void queue_update_is_durable_and_moves_the_version(void **st)
{
    it_fix_t *f = *st;
    char ev[64], v[64];
    it_resp_t r;
    new_room(f, ev, sizeof ev, "upd", 100);
    long long ver0 = version_of(f, ev);

    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":50}", NULL), 200);
    assert_int_equal(it_json_int(r.json, "release_per_s"), 50);
    assert_true(json_is_false(json_object_get(r.json, "paused")));
    assert_non_null(json_object_get(r.json, "joined")); /* the answer is the view */
    it_resp_free(&r);
    assert_int_equal(version_of(f, ev), ver0 + 1);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_release_per_s FROM events WHERE event_id='%s'", ev), 50);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev), 1);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 50);

    assert_int_equal(queue_post(&r, f, ev, "{\"paused\":true}", NULL), 200);
    assert_int_equal(it_json_int(r.json, "release_per_s"), 50); /* kept */
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    it_resp_free(&r);
    assert_int_equal(version_of(f, ev), ver0 + 2);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_paused FROM events WHERE event_id='%s'", ev), 1);
    wq_field(f, ev, "paused", v, sizeof v);
    assert_string_equal(v, "1");

    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":77,\"paused\":true}", NULL), 200);
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
    assert_room(room_of(&r), 77, 300, NULL);
    it_resp_free(&r);

    /* A rebuild over the intact room changes nothing (as the admin ACL user, through the command). */
    static char before[3 * DUMP_MAX], after[3 * DUMP_MAX];
    room_dump(f, ev, before);
    const char *args[] = {"--event", ev, NULL};
    assert_int_equal(rebuild_cmd(args), 0);
    room_dump(f, ev, after);
    assert_string_equal(before, after);

    /* Redis loses everything: the rebuild brings the room back from MariaDB
     * (and the gateway notices the loss, checks Redis and serves again). */
    int changes = it_identity_changes(f);
    assert_int_equal(it_redis_flushall(f->redis), 0);
    assert_int_equal(rebuild_cmd(args), 0);
    assert_int_equal(it_wait_flush_noticed(f, changes), 0);
    ev_field(f, ev, "wr", v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 77);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_ttl", -1), 300);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_opens", -1), 0);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_ver", -1), 3);
    wq_field(f, ev, "paused", v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(is_room(f, ev), 1);
    assert_int_equal(queue_get(&r, f, ev), 200);
    assert_int_equal(it_json_int(r.json, "release_per_s"), 77);
    assert_true(json_is_true(json_object_get(r.json, "paused")));
    it_resp_free(&r);
    assert_int_equal(it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/v1/events/%s", ev), 0);
    assert_room(room_of(&r), 77, 300, NULL);
    it_resp_free(&r);

    /* A later update still applies on the rebuilt hash (its version is newer). */
    assert_int_equal(queue_post(&r, f, ev, "{\"paused\":false}", NULL), 200);
    assert_true(json_is_false(json_object_get(r.json, "paused")));
    it_resp_free(&r);
    wq_field(f, ev, "paused", v, sizeof v);
    assert_string_equal(v, "0");
}

static void queue_update_refuses_and_changes_nothing(void **st)
{
    it_fix_t *f = *st;
    char ev[64], plain[64];
    it_resp_t r;
    new_room(f, ev, sizeof ev, "refuse", 100);
    assert_int_equal(queue_post(&r, f, ev, "{\"paused\":true}", NULL), 200);
    it_resp_free(&r);
    static char before[3 * DUMP_MAX], after[3 * DUMP_MAX];
    room_dump(f, ev, before);
    const struct {
        const char *body, *word;
    } bad[] = {
        {"", "a JSON object body is required"},
        {"{", "malformed"},
        {"[]", "object"},
        {"{}", "release_per_s or paused is required"},
        {"{\"release_per_s\":null,\"paused\":null}", "release_per_s or paused is required"},
        {"{\"release_per_s\":0}", "release_per_s must be an integer from 1 to 100000"},
        {"{\"release_per_s\":100001}", "release_per_s must be an integer from 1 to 100000"},
        {"{\"release_per_s\":-3}", "release_per_s must be"},
        {"{\"release_per_s\":1.5}", "release_per_s must be"},
        {"{\"release_per_s\":\"10\"}", "release_per_s must be"},
        {"{\"paused\":1}", "paused must be true or false"},
        {"{\"paused\":\"true\"}", "paused must be true or false"},
        {"{\"release_per_s\":10,\"paused\":\"no\"}", "paused must be true or false"},
        {"{\"paused\":true,\"paused\":false}", "malformed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long got = queue_post(&r, f, ev, bad[i].body, NULL);
        if (got != 400 || strcmp(it_resp_error_code(&r), "bad_request") != 0 || strstr(r.body, bad[i].word) == NULL)
            fail_msg("body '%s': %ld %s (wanted 400 bad_request: %s)", bad[i].body, got, r.body ? r.body : "", bad[i].word);
        it_resp_free(&r);
        room_dump(f, ev, after);
        if (strcmp(before, after) != 0)
            fail_msg("body '%s' changed the room:\n  %s\n  %s", bad[i].body, before, after);
    }
    /* A bad Idempotency-Key: 400, nothing. */
    assert_int_equal(queue_post(&r, f, ev, "{\"paused\":false}", "bad key!"), 400);
    assert_string_equal(it_resp_error_code(&r), "bad_idempotency_key");
    it_resp_free(&r);
    room_dump(f, ev, after);
    assert_string_equal(before, after);

    /* A room-less event: 409, its row and hash untouched (no wr fields appear, the version stays). */
    it_event_id(plain, sizeof plain, "noroom");
    assert_int_equal(it_api_create_event(f, plain, 5, 1, 0, 0), 201);
    long long ver = version_of(f, plain);
    room_dump(f, plain, before);
    assert_int_equal(queue_post(&r, f, plain, "{\"release_per_s\":10}", NULL), 409);
    assert_string_equal(it_resp_error_code(&r), "no_waiting_room");
    it_resp_free(&r);
    assert_int_equal(queue_post(&r, f, plain, "{\"paused\":true}", "k-noroom"), 409);
    it_resp_free(&r);
    room_dump(f, plain, after);
    assert_string_equal(before, after);
    assert_int_equal(version_of(f, plain), ver);
    assert_int_equal(it_db_int(f->db, -1, "SELECT COUNT(*) FROM admin_requests WHERE idem_key='k-noroom'"), 0);

    /* Unknown event: 404. */
    assert_int_equal(queue_post(&r, f, "no-such-event", "{\"paused\":true}", NULL), 404);
    assert_string_equal(it_resp_error_code(&r), "not_found");
    it_resp_free(&r);
    assert_int_equal(is_room(f, "no-such-event"), 0);
}

static void queue_update_idempotency_key(void **st)
{
    it_fix_t *f = *st;
    char ev[64];
    it_resp_t r;
    new_room(f, ev, sizeof ev, "idem", 100);
    long long ver0 = version_of(f, ev);
    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":70}", "k-room-1"), 200);
    char *first = strdup(r.body);
    it_resp_free(&r);
    /* The operator changes the rate meanwhile; the retry with K must not undo it, and answers the first body. */
    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":90}", NULL), 200);
    it_resp_free(&r);
    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":70}", "k-room-1"), 200);
    assert_string_equal(r.body, first);
    it_resp_free(&r);
    free(first);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev), 2);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_release_per_s FROM events WHERE event_id='%s'", ev), 90);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 90);
    assert_int_equal(version_of(f, ev), ver0 + 2);
    /* The key for another request: 422, nothing. */
    assert_int_equal(queue_post(&r, f, ev, "{\"release_per_s\":71}", "k-room-1"), 422);
    assert_string_equal(it_resp_error_code(&r), "idempotency_key_reused");
    it_resp_free(&r);
    assert_int_equal(queue_post(&r, f, ev, "{\"paused\":true}", "k-room-1"), 422);
    it_resp_free(&r);
    assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), 90);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev), 2);
}

/* ------------------------------------------------------------- concurrency */

typedef struct {
    const it_fix_t *f;
    const char *ev;
    char body[64];
    long status;
} racer_t;

static void *race(void *arg)
{
    racer_t *x = arg;
    it_resp_t r;
    x->status = queue_post(&r, x->f, x->ev, x->body, NULL);
    it_resp_free(&r);
    return NULL;
}

static void concurrent_updates_agree(void **st)
{
    it_fix_t *f = *st;
    char ev[64], v[64];
    new_room(f, ev, sizeof ev, "race", 100);
    long long deadline = it_now_ms() + ROUNDS_MS;
    int rounds = 0;
    for (; rounds < ROUNDS && it_now_ms() < deadline; rounds++) {
        racer_t a = {.f = f, .ev = ev}, b = {.f = f, .ev = ev};
        snprintf(a.body, sizeof a.body, "{\"release_per_s\":%d,\"paused\":true}", 1000 + rounds);
        snprintf(b.body, sizeof b.body, "{\"release_per_s\":%d,\"paused\":false}", 2000 + rounds);
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(b.status, 200);
        long long db_rate = it_db_int(f->db, -1, "SELECT wr_release_per_s FROM events WHERE event_id='%s'", ev);
        long long db_paused = it_db_int(f->db, -1, "SELECT wr_paused FROM events WHERE event_id='%s'", ev);
        assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_rate", -1), db_rate);
        wq_field(f, ev, "paused", v, sizeof v);
        assert_int_equal(atoll(v), db_paused);
        assert_int_equal(it_redis_ev_int(f->redis, ev, "wr_ver", -1),
                         it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev));
    }
    assert_true(rounds > 0);
    assert_int_equal(it_db_int(f->db, -1, "SELECT wr_ver FROM events WHERE event_id='%s'", ev), 2 * rounds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_with_room_shows_it_everywhere, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(create_refuses_bad_rooms, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(create_retry_finishes_the_room, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(queue_view_maps_the_counters, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(queue_update_is_durable_and_moves_the_version, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(queue_update_refuses_and_changes_nothing, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(queue_update_idempotency_key, it_fix_new0, it_fix_free),
        cmocka_unit_test_setup_teardown(concurrent_updates_agree, it_fix_new0, it_fix_free),
    };
    return cmocka_run_group_tests_name("it_wr_settings", tests, it_group_setup, NULL);
}
