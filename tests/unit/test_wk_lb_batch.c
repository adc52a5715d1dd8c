/* Unit tests of worker/wk_lb_batch.c: board stream entries parsed, coalesced per (board, season, user). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wk_lb_batch.h"

#include <stdio.h>
#include <string.h>

/* Adds an entry given as a NULL-terminated list of field, value strings. */
static int add(wk_lb_batch_t *b, const char *board, const char *id, const char **kv, char *err)
{
    size_t n = 0, lens[32];
    while (kv[n] != NULL) {
        lens[n] = strlen(kv[n]);
        n++;
    }
    return wk_lb_batch_add(b, 0, board, strlen(board), id, strlen(id), kv, lens, n, err, 160);
}

static void score(wk_lb_batch_t *b, const char *board, const char *id, const char *season, const char *user, const char *c1, const char *seq)
{
    char err[160] = "";
    const char *kv[] = {"k", "s", "s", season, "u", user, "a", c1, "b", "0", "t", "1700000000000", "q", seq, NULL};
    assert_int_equal(add(b, board, id, kv, err), 0);
}

static void test_parse_score_and_rollover(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    char err[160] = "";
    const char *s[] = {"k", "s", "s", "3", "u", "u-1", "a", "-9007199254740991", "b", "9007199254740991", "t", "9999999999999", "q", "9999999999",
                       "x", "ignored", NULL};
    assert_int_equal(add(&b, "bd", "5-1", s, err), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.items[0].kind, 's');
    assert_int_equal(b.items[0].season, 3);
    assert_string_equal(b.items[0].user, "u-1");
    assert_true(b.items[0].c1 == -INT64_C(9007199254740991));
    assert_true(b.items[0].c2 == INT64_C(9007199254740991));
    assert_true(b.items[0].t_ms == INT64_C(9999999999999));
    assert_true(b.items[0].seq == INT64_C(9999999999));
    assert_string_equal(b.items[0].board, "bd");
    const char *r[] = {"k", "r", "s", "4", "t", "1700000000000", NULL};
    assert_int_equal(add(&b, "bd", "5-2", r, err), 0);
    assert_int_equal(b.items[1].kind, 'r');
    assert_int_equal(b.items[1].season, 4);
    assert_true(b.items[1].t_ms == INT64_C(1700000000000));
    wk_lb_batch_free(&b);
}

static void test_malformed_entries_are_refused(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    char err[160];
    const char *cases[][20] = {
        {"k", "x", "s", "1", "t", "1", NULL},                                                        /* unknown kind */
        {"s", "1", "t", "1", NULL},                                                                  /* no kind */
        {"k", "r", "s", "0", "t", "1", NULL},                                                        /* season 0 */
        {"k", "r", "s", "1", "t", "-1", NULL},                                                       /* negative time */
        {"k", "r", "s", "1", NULL},                                                                  /* no time */
        {"k", "s", "s", "1", "u", "bad user", "a", "1", "b", "0", "t", "1", "q", "1", NULL},        /* bad user id */
        {"k", "s", "s", "1", "u", "u", "a", "9007199254740992", "b", "0", "t", "1", "q", "1", NULL}, /* c1 out of range */
        {"k", "s", "s", "1", "u", "u", "a", "1", "b", "x", "t", "1", "q", "1", NULL},               /* c2 not a number */
        {"k", "s", "s", "1", "u", "u", "a", "1", "b", "0", "t", "1", "q", "-1", NULL},              /* negative seq */
        {"k", "s", "s", "1", "u", "u", "a", "1", "b", "0", "t", "1", NULL},                         /* no seq */
        {"k", "s", "s", "1", "u", "u", "a", "1", "a", "2", "b", "0", "t", "1", "q", "1", NULL},     /* a twice */
        {"k", "s", "s", "1", "u", "u", "a", "1.5", "b", "0", "t", "1", "q", "1", NULL},             /* not an integer */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (add(&b, "bd", "1-1", cases[i], err) != 1)
            fail_msg("case %zu accepted", i);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(b.n, 0);
    wk_lb_batch_free(&b);
}

static void test_coalesce_keeps_the_latest_per_user(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    score(&b, "b2", "1-1", "1", "u-a", "1", "1");
    score(&b, "b1", "1-2", "1", "u-a", "5", "7");
    score(&b, "b1", "1-3", "1", "u-a", "9", "9"); /* the latest of b1/1/u-a */
    score(&b, "b1", "1-4", "1", "u-a", "3", "8");
    score(&b, "b1", "1-5", "2", "u-a", "4", "10"); /* another season: its own row */
    score(&b, "b1", "1-6", "1", "u-b", "2", "2");
    char err[160];
    const char *r[] = {"k", "r", "s", "2", "t", "5", NULL};
    assert_int_equal(add(&b, "b1", "1-7", r, err), 0);
    assert_int_equal(add(&b, "b1", "1-8", r, err), 0); /* rollovers are never coalesced */
    size_t written = wk_lb_batch_coalesce(&b);
    assert_int_equal(written, 6); /* b1: 2 rollovers, 1/u-a, 1/u-b, 2/u-a; b2: 1/u-a */
    size_t seen9 = 0;
    for (size_t i = 0; i < b.n; i++) {
        const wk_lb_item_t *it = &b.items[i];
        const wk_lb_item_t *w = &b.items[it->winner];
        if (strcmp(it->board, "b1") == 0 && it->kind == 's' && it->season == 1 && strcmp(it->user, "u-a") == 0) {
            assert_true(w->seq == 9);
            assert_true(w->c1 == 9);
            seen9++;
        } else {
            assert_int_equal(it->winner, i);
        }
    }
    assert_int_equal(seen9, 3);
    /* Sorted by board: b1's items first, then b2's. */
    assert_string_equal(b.items[0].board, "b1");
    assert_string_equal(b.items[b.n - 1].board, "b2");
    wk_lb_batch_clear(&b);
    assert_int_equal(b.n, 0);
    wk_lb_batch_free(&b);
}

static void test_seq_zero_orders_by_time(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    char err[160];
    const char *e1[] = {"k", "s", "s", "1", "u", "u", "a", "1", "b", "0", "t", "200", "q", "0", NULL};
    const char *e2[] = {"k", "s", "s", "1", "u", "u", "a", "2", "b", "0", "t", "100", "q", "0", NULL};
    assert_int_equal(add(&b, "bd", "1-1", e1, err), 0);
    assert_int_equal(add(&b, "bd", "1-2", e2, err), 0);
    assert_int_equal(wk_lb_batch_coalesce(&b), 1);
    assert_true(b.items[b.items[0].winner].t_ms == 200);
    wk_lb_batch_free(&b);
}

/* A packed entry (k = m, lua/lb_write.lua): one score item per line, all with the entry's id, season and time. */
static void test_packed_entry_gives_an_item_per_line(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    char err[160] = "";
    const char *m[] = {"k", "m", "s", "2", "t", "1700000000123", "n", "3",
                       "d", "u-1 5 -7 11\nu-2 -9007199254740991 9007199254740991 12\nu-1 6 0 13", NULL};
    assert_int_equal(add(&b, "bd", "9-4", m, err), 0);
    assert_int_equal(b.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(b.items[i].kind, 's');
        assert_int_equal(b.items[i].season, 2);
        assert_true(b.items[i].t_ms == INT64_C(1700000000123));
        assert_string_equal(b.items[i].id, "9-4");
        assert_string_equal(b.items[i].board, "bd");
    }
    assert_string_equal(b.items[0].user, "u-1");
    assert_true(b.items[0].c1 == 5 && b.items[0].c2 == -7 && b.items[0].seq == 11);
    assert_string_equal(b.items[1].user, "u-2");
    assert_true(b.items[1].c1 == -INT64_C(9007199254740991) && b.items[1].c2 == INT64_C(9007199254740991));
    assert_true(b.items[2].c1 == 6 && b.items[2].seq == 13);
    /* Coalesced with the single entries as ever: u-1's latest (seq 13) is written, once. */
    assert_int_equal(wk_lb_batch_coalesce(&b), 2);
    wk_lb_batch_free(&b);
}

/* A packed entry with one bad line adds nothing at all (it is acked whole, without rows, by the drain). */
static void test_packed_entry_is_all_or_nothing(void **state)
{
    (void)state;
    wk_lb_batch_t b = {0};
    char err[160];
    const char *bad[][12] = {
        {"k", "m", "s", "1", "t", "5", "n", "2", "d", "u-1 1 0 1\nbad user! 1 0 2", NULL},   /* a bad user id */
        {"k", "m", "s", "1", "t", "5", "n", "2", "d", "u-1 1 0 1\nu-2 1 0", NULL},           /* three words */
        {"k", "m", "s", "1", "t", "5", "n", "2", "d", "u-1 1 0 1\nu-2 1 0 2 9", NULL},       /* five words */
        {"k", "m", "s", "1", "t", "5", "n", "2", "d", "u-1 1 0 1", NULL},                    /* fewer lines than n */
        {"k", "m", "s", "1", "t", "5", "n", "1", "d", "u-1 1 0 1\nu-2 1 0 2", NULL},         /* more lines than n */
        {"k", "m", "s", "1", "t", "5", "n", "0", "d", "u-1 1 0 1", NULL},                    /* n 0 */
        {"k", "m", "s", "1", "t", "5", "n", "65", "d", "u-1 1 0 1", NULL},                   /* n above TK_LB_PACK_MAX */
        {"k", "m", "s", "1", "t", "5", "n", "1", "d", "u-1 99999999999999999 0 1", NULL},    /* c1 out of range */
        {"k", "m", "s", "1", "t", "5", "n", "1", "d", "u-1 1 0 99999999999", NULL},          /* seq out of range */
        {"k", "m", "s", "1", "t", "5", "n", "1", NULL},                                      /* no d */
        {"k", "m", "s", "1", "t", "5", "d", "u-1 1 0 1", NULL},                              /* no n */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(add(&b, "bd", "1-1", bad[i], err), 1);
        assert_true(err[0] != '\0');
        assert_int_equal(b.n, 0);
    }
    wk_lb_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_score_and_rollover),
        cmocka_unit_test(test_malformed_entries_are_refused),
        cmocka_unit_test(test_coalesce_keeps_the_latest_per_user),
        cmocka_unit_test(test_seq_zero_orders_by_time),
        cmocka_unit_test(test_packed_entry_gives_an_item_per_line),
        cmocka_unit_test(test_packed_entry_is_all_or_nothing),
    };
    return cmocka_run_group_tests_name("test_wk_lb_batch", tests, NULL, NULL);
}
