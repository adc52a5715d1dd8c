/* Unit tests of gateway/boards/gw_board_body.c: the board create and score bodies' parsing and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_board_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int create(const char *json, gw_board_def_t *d, char *err)
{
    return gw_board_body_parse_create(json, strlen(json), d, err, GW_BOARD_BODY_ERR_MAX);
}

/* Asserts that @json is refused and the message mentions @word. */
static void create_refused(const char *json, const char *word)
{
    gw_board_def_t d;
    char err[GW_BOARD_BODY_ERR_MAX] = "";
    if (create(json, &d, err) != -1)
        fail_msg("accepted: %s", json);
    if (strstr(err, word) == NULL)
        fail_msg("message for %s is '%s', wanted it to mention '%s'", json, err, word);
}

static void test_create(void **state)
{
    (void)state;
    gw_board_def_t d;
    char err[GW_BOARD_BODY_ERR_MAX];
    assert_int_equal(create("{\"board_id\":\"fans\",\"name\":\"Fans\",\"components\":2,\"operator\":\"best\",\"season_length_s\":604800}", &d,
                            err),
                     0);
    assert_string_equal(d.board_id, "fans");
    assert_int_equal(d.blen, 4);
    assert_string_equal(d.name, "Fans");
    assert_int_equal(d.nlen, 4);
    assert_int_equal(d.comps, 2);
    assert_string_equal(d.op, "best");
    assert_int_equal(d.season_len_s, 604800);
    /* Defaults: name = the id, no schedule; null is absent. */
    assert_int_equal(create("{\"board_id\":\"b-1\",\"components\":1,\"operator\":\"incr\",\"name\":null,\"season_length_s\":null}", &d, err), 0);
    assert_string_equal(d.name, "b-1");
    assert_string_equal(d.op, "incr");
    assert_int_equal(d.season_len_s, 0);
    assert_int_equal(create("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":316224000,\"x\":[]}", &d, err), 0);
    assert_int_equal(d.season_len_s, GW_BOARD_SEASON_LEN_MAX);
    assert_string_equal(d.op, "set");
}

static void test_create_refused(void **state)
{
    (void)state;
    create_refused("", "JSON object");
    create_refused("[1]", "JSON object");
    create_refused("{\"components\":1,\"operator\":\"set\"}", "board_id is required");
    create_refused("{\"board_id\":\"A\",\"components\":1,\"operator\":\"set\"}", "board_id must be");
    create_refused("{\"board_id\":7,\"components\":1,\"operator\":\"set\"}", "board_id must be");
    create_refused("{\"board_id\":\"b\",\"operator\":\"set\"}", "components is required");
    create_refused("{\"board_id\":\"b\",\"components\":0,\"operator\":\"set\"}", "components must be 1 or 2");
    create_refused("{\"board_id\":\"b\",\"components\":2.0,\"operator\":\"set\"}", "components must be 1 or 2");
    create_refused("{\"board_id\":\"b\",\"components\":\"1\",\"operator\":\"set\"}", "components must be 1 or 2");
    create_refused("{\"board_id\":\"b\",\"components\":1}", "operator is required");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"Best\"}", "operator must be");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"bes\"}", "operator must be");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":-1}", "season_length_s");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":316224001}", "season_length_s");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"season_length_s\":\"60\"}", "season_length_s");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"name\":\"\"}", "name");
    create_refused("{\"board_id\":\"b\",\"components\":1,\"operator\":\"set\",\"name\":\"a\\u0001\"}", "name");
    create_refused("{\"board_id\":\"b\",\"board_id\":\"c\",\"components\":1,\"operator\":\"set\"}", "malformed");
}

static gw_board_score_t out[GW_BOARD_SCORES_MAX];

static int scores(const char *json, int *n, int *invalid, char *err)
{
    return gw_board_body_parse_scores(json, strlen(json), out, n, invalid, err, GW_BOARD_BODY_ERR_MAX);
}

static void test_scores(void **state)
{
    (void)state;
    int n, invalid;
    char err[GW_BOARD_BODY_ERR_MAX];
    assert_int_equal(scores("{\"scores\":[{\"user_id\":\"u-1\",\"score\":[12,3400]},{\"user_id\":\"u@2\",\"score\":[-5]}]}", &n, &invalid, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(invalid, 0);
    assert_string_equal(out[0].user, "u-1");
    assert_int_equal(out[0].ulen, 3);
    assert_int_equal(out[0].comps, 2);
    assert_int_equal(out[0].c1, 12);
    assert_int_equal(out[0].c2, 3400);
    assert_string_equal(out[1].user, "u@2");
    assert_int_equal(out[1].comps, 1);
    assert_int_equal(out[1].c1, -5);
    assert_int_equal(out[1].c2, 0);
    /* The range's edges, exactly; one past them invalid. */
    assert_int_equal(scores("{\"scores\":[{\"user_id\":\"a\",\"score\":[9007199254740991,-9007199254740991]},"
                            "{\"user_id\":\"b\",\"score\":[9007199254740992]},{\"user_id\":\"c\",\"score\":[1,-9007199254740992]}]}",
                            &n, &invalid, err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(invalid, 2);
    assert_int_equal(out[0].c1, TK_LB_SCORE_MAX);
    assert_int_equal(out[0].c2, -TK_LB_SCORE_MAX);
    /* Invalid entries are skipped in place, the valid ones kept in order. */
    assert_int_equal(scores("{\"scores\":[1,{\"user_id\":\"x\"},{\"user_id\":\"ok1\",\"score\":[1]},{\"user_id\":\"bad id\",\"score\":[1]},"
                            "{\"user_id\":\"y\",\"score\":1},{\"user_id\":\"y\",\"score\":[]},{\"user_id\":\"y\",\"score\":[1,2,3]},"
                            "{\"user_id\":\"y\",\"score\":[1.0]},{\"user_id\":\"y\",\"score\":[1e2]},{\"user_id\":\"y\",\"score\":[\"1\"]},"
                            "{\"user_id\":\"y\",\"score\":[null]},{\"score\":[1]},{\"user_id\":\"ok2\",\"score\":[2,3],\"extra\":true}]}",
                            &n, &invalid, err),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(invalid, 11);
    assert_string_equal(out[0].user, "ok1");
    assert_string_equal(out[1].user, "ok2");
    assert_int_equal(out[1].c2, 3);
    /* A 64-byte id is valid, 65 is not. */
    char body[512];
    snprintf(body, sizeof body, "{\"scores\":[{\"user_id\":\"%064d\",\"score\":[1]},{\"user_id\":\"%065d\",\"score\":[1]}]}", 0, 0);
    assert_int_equal(scores(body, &n, &invalid, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(invalid, 1);
    assert_int_equal(out[0].ulen, 64);
}

static void test_scores_refused(void **state)
{
    (void)state;
    int n, invalid;
    char err[GW_BOARD_BODY_ERR_MAX];
    const char *bad[] = {"", "{", "[]", "{}", "{\"scores\":null}", "{\"scores\":{}}", "{\"scores\":[]}",
                         "{\"scores\":[{\"user_id\":\"u\",\"score\":[99999999999999999999]}]}",
                         "{\"scores\":[],\"scores\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (scores(bad[i], &n, &invalid, err) != -1)
            fail_msg("accepted: %s", bad[i]);
    /* Every entry invalid: refused, with the count. */
    assert_int_equal(scores("{\"scores\":[{\"user_id\":\"u\",\"score\":1},{\"user_id\":\"\",\"score\":[1]}]}", &n, &invalid, err), -1);
    assert_int_equal(n, 0);
    assert_int_equal(invalid, 2);
    assert_non_null(strstr(err, "no valid entry"));
    /* 1000 entries pass, 1001 do not. */
    size_t cap = 1001 * 48 + 32, o = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    o += (size_t)snprintf(big + o, cap - o, "{\"scores\":[");
    for (int i = 0; i < 1001; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s{\"user_id\":\"u%d\",\"score\":[%d]}", i ? "," : "", i, i);
    snprintf(big + o, cap - o, "]}");
    assert_int_equal(gw_board_body_parse_scores(big, strlen(big), out, &n, &invalid, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 to 1000"));
    char *cut = strstr(big, ",{\"user_id\":\"u1000\"");
    assert_non_null(cut);
    strcpy(cut, "]}");
    assert_int_equal(gw_board_body_parse_scores(big, strlen(big), out, &n, &invalid, err, sizeof err), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(out[999].c1, 999);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_refused),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_scores_refused),
    };
    return cmocka_run_group_tests_name("gw_board_body", tests, NULL, NULL);
}
