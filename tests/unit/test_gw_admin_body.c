/* Unit tests of gateway/admin/gw_admin_body.c: the admin bodies' parsing and validation, and the time conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_admin_body.h"
#include "tk_db.h"
#include "tk_time.h"

#include <stdio.h>
#include <string.h>

/* 2026-01-01T00:00:00.000Z: a fixed "now" so the tests do not age. */
#define NOW INT64_C(1767225600000)

static int create(const char *json, gw_admin_body_create_t *out, char *err)
{
    return gw_admin_body_parse_create(json, strlen(json), NOW, out, err, GW_ADMIN_BODY_ERR_MAX);
}

/* Asserts that @json is refused and the message mentions @word. */
static void refused(const char *json, const char *word)
{
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX] = "";
    if (create(json, &c, err) != -1)
        fail_msg("accepted: %s", json);
    if (strstr(err, word) == NULL)
        fail_msg("message for %s is '%s', wanted it to mention '%s'", json, err, word);
}

static void test_create_minimal_defaults(void **state)
{
    (void)state;
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"cookie-day\",\"stock\":10}", &c, err), 0);
    assert_string_equal(c.event_id, "cookie-day");
    assert_int_equal(c.elen, 10);
    assert_string_equal(c.name, "cookie-day"); /* name defaults to the id */
    assert_int_equal(c.nlen, 10);
    assert_int_equal(c.stock, 10);
    assert_int_equal(c.max_per_user, 1);
    assert_int_equal(c.opens_ms, 0);
    assert_int_equal(c.closes_ms, 0);
}

static void test_create_full(void **state)
{
    (void)state;
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    const char *json = "{\"event_id\":\"e_1\",\"name\":\"Cookie day \\u00e9\",\"stock\":100000000,\"max_per_user\":1000,"
                       "\"opens_at\":\"2026-11-22T09:00:00.000Z\",\"closes_at\":\"2026-11-22T10:00:00.500+00:00\","
                       "\"colour\":\"blue\",\"extra\":{\"nested\":[1,2]}}";
    assert_int_equal(create(json, &c, err), 0);
    assert_string_equal(c.name, "Cookie day \xc3\xa9");
    assert_int_equal(c.nlen, 13);
    assert_int_equal(c.stock, 100000000);
    assert_int_equal(c.max_per_user, 1000);
    int64_t opens, closes;
    assert_int_equal(tk_time_parse_rfc3339("2026-11-22T09:00:00.000Z", &opens), 0);
    assert_int_equal(tk_time_parse_rfc3339("2026-11-22T10:00:00.500Z", &closes), 0);
    assert_int_equal(c.opens_ms, opens);
    assert_int_equal(c.closes_ms, closes);
    assert_int_equal(closes - opens, 3600500);
}

static void test_create_nulls_are_absent(void **state)
{
    (void)state;
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":0,\"name\":null,\"max_per_user\":null,\"opens_at\":null,\"closes_at\":null}", &c, err),
                     0);
    assert_string_equal(c.name, "a");
    assert_int_equal(c.stock, 0); /* zero stock is allowed */
    assert_int_equal(c.max_per_user, 1);
    assert_int_equal(c.opens_ms, 0);
    assert_int_equal(c.closes_ms, 0);
    /* A past opening time is fine: the event is open at once. */
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2020-01-01T00:00:00Z\"}", &c, err), 0);
    assert_true(c.opens_ms > 0 && c.opens_ms < NOW);
}

static void test_create_event_id(void **state)
{
    (void)state;
    refused("{\"stock\":1}", "event_id is required");
    refused("{\"event_id\":null,\"stock\":1}", "event_id is required");
    refused("{\"event_id\":\"\",\"stock\":1}", "event_id");
    refused("{\"event_id\":\"Cookie\",\"stock\":1}", "event_id");
    refused("{\"event_id\":\"a b\",\"stock\":1}", "event_id");
    refused("{\"event_id\":\"a/b\",\"stock\":1}", "event_id");
    refused("{\"event_id\":42,\"stock\":1}", "event_id");
    refused("{\"event_id\":[\"a\"],\"stock\":1}", "event_id");
    refused("{\"event_id\":\"a\\u0000b\",\"stock\":1}", "malformed"); /* NUL inside a string */
    char json[256], id[TK_ID_MAX + 2];
    memset(id, 'a', TK_ID_MAX + 1);
    id[TK_ID_MAX + 1] = '\0';
    snprintf(json, sizeof(json), "{\"event_id\":\"%s\",\"stock\":1}", id);
    refused(json, "event_id");
    id[TK_ID_MAX] = '\0'; /* exactly 64: fine */
    snprintf(json, sizeof(json), "{\"event_id\":\"%s\",\"stock\":1}", id);
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create(json, &c, err), 0);
    assert_int_equal(c.elen, TK_ID_MAX);
}

static void test_create_name(void **state)
{
    (void)state;
    refused("{\"event_id\":\"a\",\"stock\":1,\"name\":\"\"}", "name");
    refused("{\"event_id\":\"a\",\"stock\":1,\"name\":7}", "name");
    refused("{\"event_id\":\"a\",\"stock\":1,\"name\":\"tab\\there\"}", "name");
    refused("{\"event_id\":\"a\",\"stock\":1,\"name\":\"line\\nbreak\"}", "name");
    char json[512], name[TK_NAME_MAX + 2];
    memset(name, 'n', TK_NAME_MAX + 1);
    name[TK_NAME_MAX + 1] = '\0';
    snprintf(json, sizeof(json), "{\"event_id\":\"a\",\"stock\":1,\"name\":\"%s\"}", name);
    refused(json, "name");
    name[TK_NAME_MAX] = '\0';
    snprintf(json, sizeof(json), "{\"event_id\":\"a\",\"stock\":1,\"name\":\"%s\"}", name);
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create(json, &c, err), 0);
    assert_int_equal(c.nlen, TK_NAME_MAX);
    assert_int_equal(strlen(c.name), TK_NAME_MAX);
}

static void test_create_stock(void **state)
{
    (void)state;
    refused("{\"event_id\":\"a\"}", "stock is required");
    refused("{\"event_id\":\"a\",\"stock\":null}", "stock is required");
    refused("{\"event_id\":\"a\",\"stock\":-1}", "stock");
    /* The cap (1e14 - 1) is accepted; one more is GW_ADMIN_BODY_LIMIT (400 stock_limit). */
    gw_admin_body_create_t cap;
    char cerr[GW_ADMIN_BODY_ERR_MAX] = "";
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":99999999999999}", &cap, cerr), 0);
    assert_int_equal(cap.stock, TK_STOCK_MAX);
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":100000000000000}", &cap, cerr), GW_ADMIN_BODY_LIMIT);
    assert_non_null(strstr(cerr, "99999999999999"));
    refused("{\"event_id\":\"a\",\"stock\":10.0}", "stock"); /* a float is not an integer */
    refused("{\"event_id\":\"a\",\"stock\":1.5}", "stock");
    refused("{\"event_id\":\"a\",\"stock\":1e3}", "stock");
    refused("{\"event_id\":\"a\",\"stock\":\"10\"}", "stock");
    refused("{\"event_id\":\"a\",\"stock\":true}", "stock");
    refused("{\"event_id\":\"a\",\"stock\":99999999999999999999999}", "malformed"); /* beyond 64 bits */
}

static void test_create_max_per_user(void **state)
{
    (void)state;
    refused("{\"event_id\":\"a\",\"stock\":1,\"max_per_user\":0}", "max_per_user");
    refused("{\"event_id\":\"a\",\"stock\":1,\"max_per_user\":1001}", "max_per_user");
    refused("{\"event_id\":\"a\",\"stock\":1,\"max_per_user\":2.0}", "max_per_user");
    refused("{\"event_id\":\"a\",\"stock\":1,\"max_per_user\":\"2\"}", "max_per_user");
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":1,\"max_per_user\":7}", &c, err), 0);
    assert_int_equal(c.max_per_user, 7);
}

static void test_create_times(void **state)
{
    (void)state;
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"tomorrow\"}", "opens_at");
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":1767225600000}", "opens_at"); /* ms are not RFC 3339 */
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2026-02-30T00:00:00Z\"}", "opens_at");
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2026-11-22 09:00:00\"}", "opens_at");
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"1969-12-31T23:59:59Z\"}", "opens_at");
    refused("{\"event_id\":\"a\",\"stock\":1,\"closes_at\":\"2026-13-01T00:00:00Z\"}", "closes_at");
    /* closes before, or at, opens */
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2026-11-22T10:00:00Z\",\"closes_at\":\"2026-11-22T09:00:00Z\"}",
            "after opens_at");
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2026-11-22T10:00:00Z\",\"closes_at\":\"2026-11-22T10:00:00Z\"}",
            "after opens_at");
    /* closes in the past (before NOW), with or without opens */
    refused("{\"event_id\":\"a\",\"stock\":1,\"closes_at\":\"2025-12-31T23:59:59.999Z\"}", "future");
    refused("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2025-01-01T00:00:00Z\",\"closes_at\":\"2025-06-01T00:00:00Z\"}", "future");
    /* a time zone offset is converted to UTC */
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":1,\"opens_at\":\"2026-11-22T18:00:00+09:00\"}", &c, err), 0);
    int64_t utc;
    assert_int_equal(tk_time_parse_rfc3339("2026-11-22T09:00:00Z", &utc), 0);
    assert_int_equal(c.opens_ms, utc);
    /* closes_at alone, in the future */
    assert_int_equal(create("{\"event_id\":\"a\",\"stock\":1,\"closes_at\":\"2026-01-01T00:00:00.001Z\"}", &c, err), 0);
    assert_int_equal(c.closes_ms, NOW + 1);
}

static void test_create_not_an_object(void **state)
{
    (void)state;
    refused("", "required");
    refused("[]", "object");
    refused("[{\"event_id\":\"a\",\"stock\":1}]", "object");
    refused("\"event\"", "object");
    refused("42", "object");
    refused("null", "object");
    refused("{\"event_id\":\"a\",\"stock\":1", "malformed");
    refused("{\"event_id\":\"a\",\"stock\":1}}", "malformed"); /* trailing garbage */
    refused("{event_id:\"a\"}", "malformed");
    refused("{\"event_id\":\"a\",\"event_id\":\"b\",\"stock\":1}", "malformed"); /* duplicate key */
}

static void test_stock(void **state)
{
    (void)state;
    int64_t d = 0;
    char err[GW_ADMIN_BODY_ERR_MAX];
#define STOCK(json) gw_admin_body_parse_stock(json, strlen(json), &d, err, sizeof(err))
    assert_int_equal(STOCK("{\"delta\":500}"), 0);
    assert_int_equal(d, 500);
    assert_int_equal(STOCK("{\"delta\":-3,\"why\":\"typo\"}"), 0);
    assert_int_equal(d, -3);
    assert_int_equal(STOCK("{\"delta\":99999999999999}"), 0);
    assert_int_equal(d, TK_STOCK_MAX);
    assert_int_equal(STOCK("{\"delta\":-99999999999999}"), 0);
    assert_int_equal(d, -TK_STOCK_MAX);
    assert_int_equal(STOCK("{\"delta\":0}"), -1);
    assert_non_null(strstr(err, "non-zero"));
    /* Past the cap: its own result (400 stock_limit), not a malformed body. */
    assert_int_equal(STOCK("{\"delta\":100000000000000}"), GW_ADMIN_BODY_LIMIT);
    assert_int_equal(STOCK("{\"delta\":-100000000000000}"), GW_ADMIN_BODY_LIMIT);
    assert_int_equal(STOCK("{\"delta\":5.0}"), -1);
    assert_non_null(strstr(err, "integer"));
    assert_int_equal(STOCK("{\"delta\":\"5\"}"), -1);
    assert_int_equal(STOCK("{\"delta\":null}"), -1);
    assert_non_null(strstr(err, "required"));
    assert_int_equal(STOCK("{}"), -1);
    assert_int_equal(STOCK("[5]"), -1);
    assert_non_null(strstr(err, "object"));
    assert_int_equal(STOCK("{\"delta\":5"), -1);
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(STOCK(""), -1);
#undef STOCK
}

static void test_state(void **state_)
{
    (void)state_;
    char st[8], err[GW_ADMIN_BODY_ERR_MAX];
#define STATE(json) gw_admin_body_parse_state(json, strlen(json), st, err, sizeof(err))
    assert_int_equal(STATE("{\"state\":\"open\"}"), 0);
    assert_string_equal(st, "open");
    assert_int_equal(STATE("{\"state\":\"paused\",\"note\":1}"), 0);
    assert_string_equal(st, "paused");
    assert_int_equal(STATE("{\"state\":\"closed\"}"), 0);
    assert_string_equal(st, "closed");
    const char *bad[] = {"{\"state\":\"sold_out\"}", "{\"state\":\"scheduled\"}", "{\"state\":\"OPEN\"}", "{\"state\":\"open \"}",
                         "{\"state\":\"\"}", "{\"state\":1}", "{\"state\":null}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (STATE(bad[i]) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "one of open, paused, closed"));
    }
    assert_int_equal(STATE("{\"state\":\"open\\u0000x\"}"), -1); /* NUL: refused by the parser */
    assert_int_equal(STATE("{}"), -1);
    assert_non_null(strstr(err, "required"));
    assert_int_equal(STATE("\"open\""), -1);
    assert_non_null(strstr(err, "object"));
    assert_int_equal(STATE("{\"state\":"), -1);
    assert_non_null(strstr(err, "malformed"));
#undef STATE
}

/* The create body's "waiting_room": settings, defaults, and each bad field refused with its name. */
static void test_create_waiting_room(void **state)
{
    (void)state;
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1}", &c, err), 0);
    assert_int_equal(c.wr_on, 0);
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":null}", &c, err), 0);
    assert_int_equal(c.wr_on, 0);
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"enabled\":true,\"release_per_s\":200,"
                            "\"access_ttl_s\":600,\"opens_at\":\"2026-11-22T08:00:00.000Z\",\"extra\":1}}",
                            &c, err),
                     0);
    assert_int_equal(c.wr_on, 1);
    assert_int_equal(c.wr_rate, 200);
    assert_int_equal(c.wr_ttl_s, 600);
    int64_t t;
    assert_int_equal(tk_time_parse_rfc3339("2026-11-22T08:00:00.000Z", &t), 0);
    assert_int_equal(c.wr_opens_ms, t);
    /* enabled defaults to true, access_ttl_s to 300, opens_at to at once; the edges are accepted */
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":100000}}", &c, err), 0);
    assert_int_equal(c.wr_on, 1);
    assert_int_equal(c.wr_rate, GW_WR_RATE_MAX);
    assert_int_equal(c.wr_ttl_s, GW_WR_TTL_DEFAULT);
    assert_int_equal(c.wr_opens_ms, 0);
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":1,\"access_ttl_s\":10}}", &c, err), 0);
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":1,\"access_ttl_s\":86400}}", &c, err), 0);
    /* enabled false: no room, no settings kept (but what is given is still checked) */
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"enabled\":false,\"release_per_s\":5}}", &c, err), 0);
    assert_int_equal(c.wr_on, 0);
    assert_int_equal(c.wr_rate, 0);
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"enabled\":false,\"release_per_s\":0}}", "waiting_room.release_per_s");

    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":true}", "waiting_room must be an object");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":[]}", "waiting_room must be an object");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"enabled\":1,\"release_per_s\":5}}", "waiting_room.enabled");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"enabled\":true}}", "waiting_room.release_per_s is required");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{}}", "waiting_room.release_per_s is required");
    const char *rates[] = {"0", "-1", "100001", "1.5", "\"5\"", "true"};
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        char json[160];
        snprintf(json, sizeof(json), "{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":%s}}", rates[i]);
        refused(json, "waiting_room.release_per_s must be an integer from 1 to 100000");
    }
    const char *ttls[] = {"9", "0", "86401", "\"300\""};
    for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
        char json[160];
        snprintf(json, sizeof(json), "{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":5,\"access_ttl_s\":%s}}", ttls[i]);
        refused(json, "waiting_room.access_ttl_s must be an integer from 10 to 86400");
    }
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":5,\"opens_at\":\"tomorrow\"}}", "waiting_room.opens_at");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":5,\"opens_at\":5}}", "waiting_room.opens_at");
    refused("{\"event_id\":\"e\",\"stock\":1,\"closes_at\":\"2026-11-22T10:00:00.000Z\","
            "\"waiting_room\":{\"release_per_s\":5,\"opens_at\":\"2026-11-22T10:00:00.000Z\"}}",
            "waiting_room.opens_at must be before closes_at");
    refused("{\"event_id\":\"e\",\"stock\":1,\"waiting_room\":{\"release_per_s\":5,\"release_per_s\":6}}", "malformed");
}

/* The create body's "priority": the three fields, the window before opens_at, each bad field refused with its name. */
static void test_create_priority(void **state)
{
    (void)state;
    gw_admin_body_create_t c;
    char err[GW_ADMIN_BODY_ERR_MAX];
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1}", &c, err), 0);
    assert_int_equal(c.pr_opens_ms, 0);
    assert_int_equal(c.pr_top, 0);
    assert_string_equal(c.pr_board, "");
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"priority\":null}", &c, err), 0);
    assert_int_equal(c.pr_opens_ms, 0);
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"opens_at\":\"2026-11-22T09:00:00.000Z\","
                            "\"priority\":{\"board_id\":\"fans\",\"top\":100000,\"opens_at\":\"2026-11-22T08:00:00.000Z\",\"x\":1}}",
                            &c, err),
                     0);
    int64_t t;
    assert_int_equal(tk_time_parse_rfc3339("2026-11-22T08:00:00.000Z", &t), 0);
    assert_string_equal(c.pr_board, "fans");
    assert_int_equal(c.pr_blen, 4);
    assert_int_equal(c.pr_top, GW_PR_TOP_MAX);
    assert_int_equal(c.pr_opens_ms, t);
    static const char opens[] = "\"opens_at\":\"2026-11-22T09:00:00.000Z\"";
    char json[512];
    struct {
        const char *prio;
        const char *word;
    } bad[] = {
        {"{\"board_id\":\"fans\",\"top\":1,\"opens_at\":\"2026-11-22T09:00:00.000Z\"}", "priority.opens_at must be before opens_at"},
        {"{\"board_id\":\"fans\",\"top\":0,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.top"},
        {"{\"board_id\":\"fans\",\"top\":100001,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.top"},
        {"{\"board_id\":\"fans\",\"top\":\"3\",\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.top"},
        {"{\"board_id\":\"fans\",\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.top is required"},
        {"{\"board_id\":\"fans\",\"top\":1}", "priority.opens_at is required"},
        {"{\"board_id\":\"fans\",\"top\":1,\"opens_at\":\"soon\"}", "priority.opens_at"},
        {"{\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.board_id is required"},
        {"{\"board_id\":\"Fans!\",\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.board_id"},
        {"{\"board_id\":7,\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}", "priority.board_id"},
        {"true", "priority must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, "{\"event_id\":\"e\",\"stock\":1,%s,\"priority\":%s}", opens, bad[i].prio);
        refused(json, bad[i].word);
    }
    /* without the event's opens_at */
    refused("{\"event_id\":\"e\",\"stock\":1,\"priority\":{\"board_id\":\"fans\",\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}}",
            "needs the event's opens_at");
    /* not behind a waiting room (its admitter admits from opens_at); a room turned off is none */
    refused("{\"event_id\":\"e\",\"stock\":1,\"opens_at\":\"2026-11-22T09:00:00.000Z\",\"waiting_room\":{\"release_per_s\":5},"
            "\"priority\":{\"board_id\":\"fans\",\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}}",
            "cannot be combined");
    assert_int_equal(create("{\"event_id\":\"e\",\"stock\":1,\"opens_at\":\"2026-11-22T09:00:00.000Z\",\"waiting_room\":{\"enabled\":false},"
                            "\"priority\":{\"board_id\":\"fans\",\"top\":1,\"opens_at\":\"2026-11-22T08:00:00.000Z\"}}",
                            &c, err),
                     0);
}

static void test_queue(void **state)
{
    (void)state;
    gw_admin_body_queue_t q;
    char err[GW_ADMIN_BODY_ERR_MAX];
#define QUEUE(json) gw_admin_body_parse_queue(json, strlen(json), &q, err, sizeof(err))
    assert_int_equal(QUEUE("{\"release_per_s\":50}"), 0);
    assert_true(q.has_rate && !q.has_paused && q.rate == 50);
    assert_int_equal(QUEUE("{\"paused\":true}"), 0);
    assert_true(!q.has_rate && q.has_paused && q.paused == 1);
    assert_int_equal(QUEUE("{\"paused\":false,\"release_per_s\":100000,\"x\":1}"), 0);
    assert_true(q.has_rate && q.has_paused && q.paused == 0 && q.rate == 100000);
    assert_int_equal(QUEUE("{\"paused\":null,\"release_per_s\":1}"), 0);
    assert_true(q.has_rate && !q.has_paused);
    const char *bad_rate[] = {"{\"release_per_s\":0}", "{\"release_per_s\":100001}", "{\"release_per_s\":-5}", "{\"release_per_s\":2.5}",
                              "{\"release_per_s\":\"7\"}", "{\"release_per_s\":7,\"paused\":\"yes\"}"};
    for (size_t i = 0; i < sizeof(bad_rate) / sizeof(bad_rate[0]); i++) {
        if (QUEUE(bad_rate[i]) != -1)
            fail_msg("accepted %s", bad_rate[i]);
    }
    assert_int_equal(QUEUE("{\"release_per_s\":0}"), -1);
    assert_non_null(strstr(err, "release_per_s must be an integer from 1 to 100000"));
    assert_int_equal(QUEUE("{\"paused\":1}"), -1);
    assert_non_null(strstr(err, "paused must be true or false"));
    assert_int_equal(QUEUE("{}"), -1);
    assert_non_null(strstr(err, "release_per_s or paused is required"));
    assert_int_equal(QUEUE("{\"paused\":null}"), -1);
    assert_int_equal(QUEUE("[]"), -1);
    assert_int_equal(QUEUE(""), -1);
    assert_int_equal(QUEUE("{\"paused\":true,\"paused\":false}"), -1);
#undef QUEUE
}

static void test_time_roundtrip(void **state)
{
    (void)state;
    const int64_t cases[] = {1, 999, 1000, NOW, NOW + 123, INT64_C(951782400456) /* 2000-02-29 */, GW_ADMIN_BODY_TIME_MAX_MS};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        MYSQL_TIME t;
        tk_db_time_from_ms(cases[i], &t);
        assert_int_equal(tk_db_time_to_ms(&t), cases[i]);
    }
    MYSQL_TIME t;
    tk_db_time_from_ms(NOW + 45, &t);
    assert_int_equal(t.year, 2026);
    assert_int_equal(t.month, 1);
    assert_int_equal(t.day, 1);
    assert_int_equal(t.hour, 0);
    assert_int_equal(t.second_part, 45000);
    assert_int_equal(t.time_type, MYSQL_TIMESTAMP_DATETIME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_minimal_defaults),
        cmocka_unit_test(test_create_full),
        cmocka_unit_test(test_create_nulls_are_absent),
        cmocka_unit_test(test_create_event_id),
        cmocka_unit_test(test_create_name),
        cmocka_unit_test(test_create_stock),
        cmocka_unit_test(test_create_max_per_user),
        cmocka_unit_test(test_create_times),
        cmocka_unit_test(test_create_not_an_object),
        cmocka_unit_test(test_stock),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_create_waiting_room),
        cmocka_unit_test(test_create_priority),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_time_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
