/* Unit tests of gateway/claims/gw_event: the event hash, the derived state, the JSON. */
#include "gw_event.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A fake HMGET reply: @vals are the GW_EVENT_FIELDS values, NULL for nil. */
typedef struct {
    redisReply top, elems[GW_EVENT_NFIELDS];
    redisReply *ptrs[GW_EVENT_NFIELDS];
} fake_t;

static redisReply *fake(fake_t *f, const char *const vals[GW_EVENT_NFIELDS])
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < GW_EVENT_NFIELDS; i++) {
        f->ptrs[i] = &f->elems[i];
        if (vals[i] == NULL) {
            f->elems[i].type = REDIS_REPLY_NIL;
        } else {
            f->elems[i].type = REDIS_REPLY_STRING;
            f->elems[i].str = (char *)vals[i];
            f->elems[i].len = strlen(vals[i]);
        }
    }
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = GW_EVENT_NFIELDS;
    f->top.element = f->ptrs;
    return &f->top;
}

/* name, state, total, remaining, maxpu, opens, closes, seq, ver (the room's fields absent: no room) */
static const char *const open_ev[GW_EVENT_NFIELDS] = {"Cookie \"day\"", "open", "10", "4", "2", "0", "0", "6", "7"};

static void test_parse(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    assert_int_equal(gw_event_from_hmget(fake(&f, open_ev), "cookie-day", 10, &ev), 0);
    assert_string_equal(ev.event_id, "cookie-day");
    assert_string_equal(ev.name, "Cookie \"day\"");
    assert_int_equal(ev.total, 10);
    assert_int_equal(ev.remaining, 4);
    assert_int_equal(ev.max_per_user, 2);
    assert_int_equal(ev.seq, 6);
    assert_int_equal(ev.ver, 7);
    const char *const missing[GW_EVENT_NFIELDS] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(gw_event_from_hmget(fake(&f, missing), "x", 1, &ev), 1);
    const char *const bad[GW_EVENT_NFIELDS] = {"n", "open", "ten", "4", "2", "0", "0", "6", "1"};
    assert_int_equal(gw_event_from_hmget(fake(&f, bad), "x", 1, &ev), -1);
    const char *const partial[GW_EVENT_NFIELDS] = {"n", "open", "10", NULL, "2", "0", "0", "6", "1"};
    assert_int_equal(gw_event_from_hmget(fake(&f, partial), "x", 1, &ev), -1);
    const char *const badver[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "x"};
    assert_int_equal(gw_event_from_hmget(fake(&f, badver), "x", 1, &ev), -1);
    const char *const nover[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", NULL};
    assert_int_equal(gw_event_from_hmget(fake(&f, nover), "x", 1, &ev), 0);
    assert_int_equal(ev.ver, 0);
}

/* The clock moves the version at opens_at and at closes_at, exactly. */
static void test_version(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    gw_event_from_hmget(fake(&f, open_ev), "e", 1, &ev);
    assert_int_equal(gw_event_version(&ev, 1000), 7);
    ev.opens_ms = 2000;
    ev.closes_ms = 3000;
    assert_int_equal(gw_event_version(&ev, 1999), 7);
    assert_int_equal(gw_event_version(&ev, 2000), 8);
    assert_int_equal(gw_event_version(&ev, 2999), 8);
    assert_int_equal(gw_event_version(&ev, 3000), 9);
}

static void test_state(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    gw_event_from_hmget(fake(&f, open_ev), "e", 1, &ev);
    assert_string_equal(gw_event_state(&ev, 1000), "open");
    ev.remaining = 0;
    assert_string_equal(gw_event_state(&ev, 1000), "sold_out");
    ev.remaining = 4;
    ev.opens_ms = 2000;
    assert_string_equal(gw_event_state(&ev, 1000), "scheduled");
    assert_string_equal(gw_event_state(&ev, 2000), "open");
    ev.closes_ms = 3000;
    assert_string_equal(gw_event_state(&ev, 3000), "closed");
    strcpy(ev.state, "paused");
    assert_string_equal(gw_event_state(&ev, 2500), "paused");
    strcpy(ev.state, "closed");
    assert_string_equal(gw_event_state(&ev, 2500), "closed");
}

static void test_json(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    gw_event_from_hmget(fake(&f, open_ev), "cookie-day", 10, &ev);
    ev.opens_ms = 1763802000000LL;
    char out[GW_EVENT_JSON_MAX];
    int n = gw_event_json(&ev, 1763802000001LL, out);
    assert_int_equal((size_t)n, strlen(out));
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Cookie \"day\"");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "open");
    assert_int_equal(json_integer_value(json_object_get(j, "stock_total")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "remaining")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "max_per_user")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "opens_at")), "2025-11-22T09:00:00.000Z");
    assert_true(json_is_null(json_object_get(j, "closes_at")));
    json_decref(j);
}

/* The waiting room's fields: off unless wr is "1"; its settings in the event object, else null. */
static void test_room(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    char out[GW_EVENT_JSON_MAX];
    json_error_t err;
    assert_int_equal(gw_event_from_hmget(fake(&f, open_ev), "e", 1, &ev), 0);
    assert_int_equal(ev.wr_on, 0);
    gw_event_json(&ev, 1000, out);
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "waiting_room")));
    json_decref(j);

    const char *const room[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "1", "200", "300", "1763802000000"};
    assert_int_equal(gw_event_from_hmget(fake(&f, room), "e", 1, &ev), 0);
    assert_int_equal(ev.wr_on, 1);
    assert_int_equal(ev.wr_rate, 200);
    assert_int_equal(ev.wr_ttl_s, 300);
    assert_int_equal(ev.wr_opens_ms, 1763802000000LL);
    int n = gw_event_json(&ev, 1000, out);
    assert_int_equal((size_t)n, strlen(out));
    j = json_loads(out, 0, &err);
    assert_non_null(j);
    json_t *w = json_object_get(j, "waiting_room");
    assert_true(json_is_true(json_object_get(w, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(w, "release_per_s")), 200);
    assert_int_equal(json_integer_value(json_object_get(w, "access_ttl_s")), 300);
    assert_string_equal(json_string_value(json_object_get(w, "opens_at")), "2025-11-22T09:00:00.000Z");
    json_decref(j);

    /* Opens at once: opens_at null. A room turned off (wr "0") shows null. */
    const char *const at_once[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "1", "5", "60", "0"};
    assert_int_equal(gw_event_from_hmget(fake(&f, at_once), "e", 1, &ev), 0);
    gw_event_json(&ev, 1000, out);
    j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(json_object_get(j, "waiting_room"), "opens_at")));
    json_decref(j);
    const char *const off[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "0", "5", "60", "0"};
    assert_int_equal(gw_event_from_hmget(fake(&f, off), "e", 1, &ev), 0);
    assert_int_equal(ev.wr_on, 0);
    /* wr alone (set by hand): on, settings 0. Malformed values are refused. */
    const char *const bare[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "1"};
    assert_int_equal(gw_event_from_hmget(fake(&f, bare), "e", 1, &ev), 0);
    assert_int_equal(ev.wr_on, 1);
    assert_int_equal(ev.wr_rate, 0);
    const char *const badwr[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "2", "5", "60", "0"};
    assert_int_equal(gw_event_from_hmget(fake(&f, badwr), "e", 1, &ev), -1);
    const char *const badrate[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "0", "0", "6", "7", "1", "x", "60", "0"};
    assert_int_equal(gw_event_from_hmget(fake(&f, badrate), "e", 1, &ev), -1);
}

/* The presale: fields, derived state "priority" inside the window, the version's step at its start, the JSON. */
static void test_priority(void **state)
{
    (void)state;
    fake_t f;
    gw_event_t ev;
    char out[GW_EVENT_JSON_MAX];
    json_error_t err;
    /* opens 5000, presale from 2000 on board "fans", top 3; no snapshot copy yet */
    const char *const pr[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "5000", "0", "6", "7", NULL, NULL, NULL, NULL, "fans", "3", "2000"};
    assert_int_equal(gw_event_from_hmget(fake(&f, pr), "e", 1, &ev), 0);
    assert_string_equal(ev.pr_board, "fans");
    assert_int_equal(ev.pr_top, 3);
    assert_int_equal(ev.pr_opens_ms, 2000);
    assert_int_equal(ev.pr_snap_ms, 0);
    assert_string_equal(gw_event_state(&ev, 1999), "scheduled");
    assert_int_equal(gw_event_in_priority(&ev, 1999), 0);
    assert_string_equal(gw_event_state(&ev, 2000), "priority");
    assert_int_equal(gw_event_in_priority(&ev, 4999), 1);
    assert_string_equal(gw_event_state(&ev, 5000), "open");
    assert_int_equal(gw_event_in_priority(&ev, 5000), 0);
    ev.remaining = 0;
    assert_string_equal(gw_event_state(&ev, 3000), "sold_out");
    ev.remaining = 4;
    strcpy(ev.state, "paused");
    assert_string_equal(gw_event_state(&ev, 3000), "paused");
    strcpy(ev.state, "open");
    /* the version moves at the window's start, then at opens_at */
    assert_int_equal(gw_event_version(&ev, 1999), 7);
    assert_int_equal(gw_event_version(&ev, 2000), 8);
    assert_int_equal(gw_event_version(&ev, 5000), 9);
    int n = gw_event_json(&ev, 3000, out);
    assert_int_equal((size_t)n, strlen(out));
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "priority");
    json_t *p = json_object_get(j, "priority");
    assert_string_equal(json_string_value(json_object_get(p, "board_id")), "fans");
    assert_int_equal(json_integer_value(json_object_get(p, "top")), 3);
    assert_string_equal(json_string_value(json_object_get(p, "opens_at")), "1970-01-01T00:00:02.000Z");
    json_decref(j);
    /* the snapshot's copy */
    const char *const snap[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "5000", "0", "6", "7", NULL, NULL, NULL, NULL,
                                                "fans", "3", "2000", "2100", "3"};
    assert_int_equal(gw_event_from_hmget(fake(&f, snap), "e", 1, &ev), 0);
    assert_int_equal(ev.pr_snap_ms, 2100);
    assert_int_equal(ev.pr_n, 3);
    /* none: pr_opens absent or "0"; the object says null, the state is as before */
    assert_int_equal(gw_event_from_hmget(fake(&f, open_ev), "e", 1, &ev), 0);
    assert_int_equal(ev.pr_opens_ms, 0);
    gw_event_json(&ev, 1000, out);
    j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "priority")));
    json_decref(j);
    const char *const zero[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "5000", "0", "6", "7", NULL, NULL, NULL, NULL, "fans", "3", "0"};
    assert_int_equal(gw_event_from_hmget(fake(&f, zero), "e", 1, &ev), 0);
    assert_string_equal(gw_event_state(&ev, 3000), "scheduled");
    assert_string_equal(ev.pr_board, "");
    const char *const bad[GW_EVENT_NFIELDS] = {"n", "open", "10", "4", "2", "5000", "0", "6", "7", NULL, NULL, NULL, NULL, "fans", "x", "2000"};
    assert_int_equal(gw_event_from_hmget(fake(&f, bad), "e", 1, &ev), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_priority),
    };
    return cmocka_run_group_tests_name("gw_event", tests, NULL, NULL);
}
