/* Unit tests of worker/wk_batch.c: parsing stream entries, grouping by event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wk_batch.h"

#include <stdio.h>
#include <string.h>

/* Parses an entry given as a NULL-terminated list of field, value strings. */
static int parse(const char *id, wk_row_t *row, char *err, const char **kv)
{
    size_t n = 0, lens[32];
    while (kv[n] != NULL) {
        lens[n] = strlen(kv[n]);
        n++;
    }
    return wk_row_parse(id, strlen(id), kv, lens, n, row, err, 160);
}

/* The r shape (issue 16, read, never written by claim.lua): u, and r = "<ticket> <quantity> <created_ms>". */
static void test_parse_r_shape(void **state)
{
    (void)state;
    wk_row_t row;
    char err[160] = "";
    const char *kv[] = {"u", "u-42", "r", "812 2 1763802000123", NULL};
    assert_int_equal(parse("1763802000123-7", &row, err, kv), 0);
    assert_string_equal(row.user, "u-42");
    assert_int_equal(row.ticket, 812);
    assert_int_equal(row.quantity, 2);
    assert_int_equal(row.created_ms, 1763802000123LL);
    static const char *const bad[] = {"812 2", "812", "", "812 2 ", "812  2 1763802000123", "812 2 1763802000123 p", "812 x 1763802000123",
                                      " 812 2 1763802000123", "0 2 1763802000123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *b[] = {"u", "u-42", "r", bad[i], NULL};
        err[0] = '\0';
        if (parse("1-1", &row, err, b) != -1)
            fail_msg("r \"%s\" parsed", bad[i]);
        assert_true(err[0] != '\0');
    }
    /* r beside a field of the old shape: refused, not guessed */
    const char *both[] = {"u", "u-42", "r", "812 2 1763802000123", "t", "812", NULL};
    assert_int_equal(parse("1-1", &row, err, both), -1);
}

static void test_parse_good(void **state)
{
    (void)state;
    wk_row_t row;
    char err[160] = "";
    const char *kv[] = {"u", "u-42", "t", "812", "n", "2", "c", "1763802000123", "x", "ignored", NULL};
    assert_int_equal(parse("1763802000123-7", &row, err, kv), 0);
    assert_string_equal(row.id, "1763802000123-7");
    assert_string_equal(row.user, "u-42");
    assert_int_equal(row.ulen, 4);
    assert_int_equal(row.ticket, 812);
    assert_int_equal(row.quantity, 2);
    assert_int_equal(row.created_ms, 1763802000123LL);
    assert_int_equal(row.dup_of, -1);
    assert_int_equal(row.status, 0);
}

static void test_parse_field_order_free(void **state)
{
    (void)state;
    wk_row_t row;
    char err[160];
    const char *kv[] = {"c", "5", "n", "1", "t", "9", "u", "A.b:c@d_e-f", NULL};
    assert_int_equal(parse("1-0", &row, err, kv), 0);
    assert_string_equal(row.user, "A.b:c@d_e-f");
    assert_int_equal(row.ticket, 9);
}

static void expect_bad(const char **kv, const char *why)
{
    wk_row_t row;
    char err[160] = "";
    assert_int_equal(parse("1-0", &row, err, kv), -1);
    assert_non_null(strstr(err, why));
}

/* The good entry u=a t=1 n=1 c=5 (in that order) with @key's value replaced by @value: refused with @why. */
static void expect_bad_value(const char *key, const char *value, const char *why)
{
    const char *kv[] = {"u", "a", "t", "1", "n", "1", "c", "5", NULL};
    for (int i = 0; kv[i] != NULL; i += 2)
        if (strcmp(kv[i], key) == 0)
            kv[i + 1] = value;
    expect_bad(kv, why);
}

static void test_parse_missing_field(void **state)
{
    (void)state;
    const char *no_u[] = {"t", "1", "n", "1", "c", "5", NULL};
    const char *no_t[] = {"u", "a", "n", "1", "c", "5", NULL};
    const char *no_n[] = {"u", "a", "t", "1", "c", "5", NULL};
    const char *no_c[] = {"u", "a", "t", "1", "n", "1", NULL};
    expect_bad(no_u, "field u missing");
    expect_bad(no_t, "field t missing");
    expect_bad(no_n, "field n missing");
    expect_bad(no_c, "field c missing");
    const char *twice[] = {"u", "a", "u", "b", "t", "1", "n", "1", "c", "5", NULL};
    expect_bad(twice, "twice");
    const char *odd[] = {"u", "a", "t", "1", "n", "1", "c", NULL};
    expect_bad(odd, "odd");
}

static void test_parse_bad_numbers(void **state)
{
    (void)state;
    expect_bad_value("t", "-1", "bad ticket");
    expect_bad_value("t", "0", "bad ticket");
    expect_bad_value("t", "12x", "bad ticket");
    expect_bad_value("t", "", "bad ticket");
    expect_bad_value("t", "99999999999999999999", "bad ticket");
    expect_bad_value("t", " 1", "bad ticket");
    expect_bad_value("c", "1.5", "bad created");
}

static void test_parse_bad_quantity(void **state)
{
    (void)state;
    expect_bad_value("n", "0", "bad quantity");
    expect_bad_value("n", "1001", "bad quantity");
    expect_bad_value("n", "+1", "bad quantity");
    wk_row_t row;
    char err[160];
    const char *max[] = {"u", "a", "t", "1", "n", "1000", "c", "5", NULL};
    assert_int_equal(parse("1-0", &row, err, max), 0);
    assert_int_equal(row.quantity, 1000);
}

static void test_parse_bad_user(void **state)
{
    (void)state;
    expect_bad_value("u", "", "bad user");
    expect_bad_value("u", "a b", "bad user");
    expect_bad_value("u", "a/b", "bad user");
    char long_user[66];
    memset(long_user, 'a', 65);
    long_user[65] = '\0';
    expect_bad_value("u", long_user, "bad user");
    long_user[64] = '\0';
    const char *max[] = {"u", long_user, "t", "1", "n", "1", "c", "5", NULL};
    wk_row_t row;
    char err[160];
    assert_int_equal(parse("1-0", &row, err, max), 0);
    assert_int_equal(row.ulen, 64);
}

static void test_parse_bad_id(void **state)
{
    (void)state;
    wk_row_t row;
    char err[160], id[WK_ENTRY_ID_MAX + 1];
    const char *kv[] = {"u", "a", "t", "1", "n", "1", "c", "5"};
    size_t lens[] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(wk_row_parse("", 0, kv, lens, 8, &row, err, sizeof(err)), -1);
    memset(id, '1', sizeof(id));
    assert_int_equal(wk_row_parse(id, WK_ENTRY_ID_MAX, kv, lens, 8, &row, err, sizeof(err)), -1);
    assert_int_equal(wk_row_parse(id, WK_ENTRY_ID_MAX - 1, kv, lens, 8, &row, err, sizeof(err)), 0);
}

/* wk_row_salvage over a NULL-terminated field list. */
static void salvage(const char *id, wk_row_t *row, const char **kv)
{
    size_t n = 0, lens[32];
    while (kv[n] != NULL) {
        lens[n] = strlen(kv[n]);
        n++;
    }
    wk_row_salvage(id, strlen(id), kv, lens, n, row);
}

/* What a malformed entry's dead letter keeps (worker/wk_malformed.c): the user and ticket it names, when readable; nothing made up. */
static void test_salvage(void **state)
{
    (void)state;
    wk_row_t row;
    const char *lost_n[] = {"u", "m-2", "t", "2", "c", "1763802000999", NULL};
    salvage("1763802000123-7", &row, lost_n);
    assert_string_equal(row.id, "1763802000123-7");
    assert_string_equal(row.user, "m-2");
    assert_int_equal(row.ulen, 3);
    assert_int_equal(row.ticket, 2);
    assert_int_equal(row.quantity, 0);
    assert_int_equal(row.created_ms, 1763802000999LL);
    assert_int_equal(row.dup_of, -1);

    const char *r_shape[] = {"u", "m-3", "r", "812 x", NULL};
    salvage("1763802000123-8", &row, r_shape);
    assert_string_equal(row.user, "m-3");
    assert_int_equal(row.ticket, 812);
    assert_int_equal(row.created_ms, 1763802000123LL); /* from the entry id */

    const char *nobody[] = {"u", "bad user!", "t", "-4", "c", "99999999999999999", "junk", "1", NULL};
    salvage("5-0", &row, nobody);
    assert_int_equal(row.ulen, 0);
    assert_string_equal(row.user, "");
    assert_int_equal(row.ticket, 0);
    assert_int_equal(row.created_ms, 5); /* c past year 9999: the id's */

    const char *none[] = {NULL};
    salvage("not-an-id", &row, none);
    assert_int_equal(row.created_ms, 0);
    assert_int_equal(row.ticket, 0);
}

static void add(wk_batch_t *b, const char *event, const char *user, int64_t ticket)
{
    wk_row_t row;
    memset(&row, 0, sizeof(row));
    snprintf(row.id, sizeof(row.id), "%lld-0", (long long)ticket);
    snprintf(row.user, sizeof(row.user), "%s", user);
    row.ulen = strlen(user);
    row.ticket = ticket;
    row.quantity = 1;
    row.created_ms = 1000 + ticket;
    row.dup_of = -1;
    assert_int_equal(wk_batch_add(b, event, strlen(event), 0, &row), 0);
}

static void test_group_by_event_in_ticket_order(void **state)
{
    (void)state;
    wk_batch_t b;
    memset(&b, 0, sizeof(b));
    add(&b, "zeta", "u1", 30);
    add(&b, "alpha", "u2", 7);
    add(&b, "zeta", "u3", 10);
    add(&b, "alpha", "u4", 3);
    add(&b, "zeta", "u5", 20);
    add(&b, "mid", "u6", 1);
    assert_int_equal(b.rows, 6);
    wk_batch_group(&b);
    assert_int_equal(b.n, 3);
    assert_string_equal(b.groups[0].event, "alpha");
    assert_string_equal(b.groups[1].event, "mid");
    assert_string_equal(b.groups[2].event, "zeta");
    assert_int_equal(b.groups[0].n, 2);
    assert_int_equal(b.groups[0].rows[0].ticket, 3);
    assert_string_equal(b.groups[0].rows[0].user, "u4");
    assert_int_equal(b.groups[0].rows[1].ticket, 7);
    assert_int_equal(b.groups[2].n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(b.groups[2].rows[i].ticket, (int64_t)(10 * (i + 1)));
    for (size_t g = 0; g < b.n; g++)
        for (size_t i = 0; i < b.groups[g].n; i++)
            assert_int_equal(b.groups[g].rows[i].dup_of, -1);

    /* Cleared batches are reused: groups start empty, old events are gone. */
    wk_batch_clear(&b);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.rows, 0);
    add(&b, "mid", "u9", 5);
    wk_batch_group(&b);
    assert_int_equal(b.n, 1);
    assert_string_equal(b.groups[0].event, "mid");
    assert_int_equal(b.groups[0].n, 1);
    assert_string_equal(b.groups[0].rows[0].user, "u9");
    wk_batch_free(&b);
}

static void test_group_many_rows_and_dups(void **state)
{
    (void)state;
    wk_batch_t b;
    memset(&b, 0, sizeof(b));
    /* 300 rows in reverse ticket order (forces growth past the first allocation). */
    for (int t = 300; t >= 1; t--) {
        char u[16];
        snprintf(u, sizeof(u), "u%d", t);
        add(&b, "ev", u, t);
    }
    add(&b, "ev", "u5", 400);  /* same user again, later ticket */
    add(&b, "ev", "u5", 500);  /* and again */
    add(&b, "other", "u5", 1); /* another event: not a duplicate */
    wk_batch_group(&b);
    assert_int_equal(b.n, 2);
    const wk_group_t *g = &b.groups[0];
    assert_string_equal(g->event, "ev");
    assert_int_equal(g->n, 302);
    for (size_t i = 1; i < g->n; i++)
        assert_true(g->rows[i - 1].ticket < g->rows[i].ticket);
    /* u5's first row is ticket 5 at index 4; the later two point at it. */
    assert_int_equal(g->rows[4].ticket, 5);
    assert_int_equal(g->rows[4].dup_of, -1);
    assert_int_equal(g->rows[300].ticket, 400);
    assert_int_equal(g->rows[300].dup_of, 4);
    assert_int_equal(g->rows[301].dup_of, 4);
    size_t dups = 0;
    for (size_t i = 0; i < g->n; i++)
        dups += g->rows[i].dup_of >= 0;
    assert_int_equal(dups, 2);
    assert_int_equal(b.groups[1].rows[0].dup_of, -1);
    wk_batch_free(&b);
}

static void test_add_bad_event(void **state)
{
    (void)state;
    wk_batch_t b;
    wk_row_t row;
    memset(&b, 0, sizeof(b));
    memset(&row, 0, sizeof(row));
    assert_int_equal(wk_batch_add(&b, "", 0, 0, &row), -1);
    char ev[80];
    memset(ev, 'e', sizeof(ev));
    assert_int_equal(wk_batch_add(&b, ev, 65, 0, &row), -1);
    assert_int_equal(b.rows, 0);
    wk_batch_free(&b);
}

/* wk_batch_add_entry of an entry given as a NULL-terminated list of field, value strings, into event "e" from stream 3. */
static int add_entry(wk_batch_t *b, const char *id, char *err, const char **kv)
{
    size_t n = 0, lens[32];
    while (kv[n] != NULL) {
        lens[n] = strlen(kv[n]);
        n++;
    }
    return wk_batch_add_entry(b, "e", 1, 3, id, strlen(id), kv, lens, n, err, 160);
}

/* The packed entry claim.lua writes (one per call): c created ms, m one line "<user> <ticket> <quantity>" per claim. */
static void test_entry_packed(void **state)
{
    (void)state;
    wk_batch_t b;
    memset(&b, 0, sizeof(b));
    char err[160] = "";
    const char *kv[] = {"c", "1763802000123", "m", "u-1 7 1\nu-22 8 3\nu-3 9 1", NULL};
    assert_int_equal(add_entry(&b, "1763802000123-0", err, kv), 0);
    assert_int_equal(b.rows, 3);
    assert_int_equal(b.n, 1);
    const wk_group_t *g = &b.groups[0];
    assert_string_equal(g->event, "e");
    assert_int_equal(g->src, 3);
    static const char *const users[] = {"u-1", "u-22", "u-3"};
    static const int64_t qty[] = {1, 3, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(g->rows[i].id, "1763802000123-0"); /* every row carries the entry's id */
        assert_string_equal(g->rows[i].user, users[i]);
        assert_int_equal(g->rows[i].ulen, strlen(users[i]));
        assert_int_equal(g->rows[i].ticket, 7 + (int64_t)i);
        assert_int_equal(g->rows[i].quantity, qty[i]);
        assert_int_equal(g->rows[i].created_ms, 1763802000123LL);
        assert_int_equal(g->rows[i].line, i + 1);
        assert_int_equal(g->rows[i].status, 0);
        char dead[WK_DEAD_ID_MAX], want[64];
        snprintf(want, sizeof want, "1763802000123-0/%zu", i + 1);
        assert_int_equal(wk_row_dead_id(&g->rows[i], dead), strlen(want));
        assert_string_equal(dead, want);
    }
    /* one line: one row; field order free; unknown fields ignored */
    const char *one[] = {"m", "u-9 10 2", "x", "y", "c", "5", NULL};
    assert_int_equal(add_entry(&b, "2-0", err, one), 0);
    assert_int_equal(b.rows, 4);
    assert_int_equal(b.groups[0].rows[3].ticket, 10);
    assert_int_equal(b.groups[0].rows[3].line, 1);
    wk_batch_free(&b);
}

/* A packed entry with one bad line adds no row at all (malformed as a whole, acked without rows by the caller). */
static void test_entry_packed_bad(void **state)
{
    (void)state;
    wk_batch_t b;
    memset(&b, 0, sizeof(b));
    char err[160];
    static const char *const bad[] = {
        "",                      /* no line */
        "u-1 7 1\n",             /* an empty last line */
        "u-1 7 1\n\nu-2 8 1",    /* an empty line */
        "u-1 7 1\nu-2 8",        /* two words */
        "u-1 7 1\nu-2 8 1 9",    /* four words */
        "u-1 7 1\nu-2  8 1",     /* two spaces */
        "u-1 7 1\nu-2 8 1 ",     /* a trailing space */
        "u-1 7 1\n u-2 8 1",     /* a leading space */
        "u-1 7 1\nu 2 8 1",      /* a bad user (space) */
        "u-1 7 1\nu/2 8 1",      /* a bad user */
        "u-1 7 1\nu-2 0 1",      /* ticket 0 */
        "u-1 7 1\nu-2 x 1",      /* not a number */
        "u-1 7 1\nu-2 8 0",      /* quantity 0 */
        "u-1 7 1\nu-2 8 1001",   /* quantity over TK_QUANTITY_MAX */
        "u-1 7 1\nu-2 7 1",      /* tickets do not rise */
        "u-1 7 1\nu-2 6 1",      /* tickets go down */
        "u-1 7 1\r\nu-2 8 1",    /* CRLF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *kv[] = {"c", "1763802000123", "m", bad[i], NULL};
        err[0] = '\0';
        if (add_entry(&b, "1-1", err, kv) != 1)
            fail_msg("m \"%s\" taken", bad[i]);
        assert_true(err[0] != '\0');
        assert_int_equal(b.rows, 0);
    }
    const char *noc[] = {"m", "u-1 7 1", NULL};
    assert_int_equal(add_entry(&b, "1-1", err, noc), 1);
    const char *badc[] = {"c", "x", "m", "u-1 7 1", NULL};
    assert_int_equal(add_entry(&b, "1-1", err, badc), 1);
    const char *twom[] = {"c", "1", "m", "u-1 7 1", "m", "u-2 8 1", NULL};
    assert_int_equal(add_entry(&b, "1-1", err, twom), 1);
    const char *twoc[] = {"c", "1", "m", "u-1 7 1", "c", "2", NULL};
    assert_int_equal(add_entry(&b, "1-1", err, twoc), 1);
    const char *mixed[] = {"c", "1", "m", "u-1 7 1", "u", "u-1", NULL};
    assert_int_equal(add_entry(&b, "1-1", err, mixed), 1);
    const char *noid[] = {"c", "1", "m", "u-1 7 1", NULL};
    assert_int_equal(wk_batch_add_entry(&b, "e", 1, 0, "", 0, noid, (size_t[]){1, 1, 1, 7}, 4, err, sizeof err), 1);
    assert_int_equal(b.rows, 0);

    /* TK_CLAIM_PACK_MAX lines are taken, one more is refused */
    static char lines[1025 * 16];
    size_t off = 0;
    for (int i = 1; i <= 1025; i++)
        off += (size_t)snprintf(lines + off, sizeof(lines) - off, "%su%d %d 1", i > 1 ? "\n" : "", i, i);
    const char *many[] = {"c", "1", "m", lines, NULL};
    assert_int_equal(add_entry(&b, "1-1", err, many), 1);
    assert_int_equal(b.rows, 0);
    *strrchr(lines, '\n') = '\0';
    assert_int_equal(add_entry(&b, "1-1", err, many), 0);
    assert_int_equal(b.rows, 1024);
    wk_batch_free(&b);
}

/* The shapes before the packing are still read by wk_batch_add_entry: one row each, line 0, dead id the entry id. */
static void test_entry_old_shapes(void **state)
{
    (void)state;
    wk_batch_t b;
    memset(&b, 0, sizeof(b));
    char err[160] = "", dead[WK_DEAD_ID_MAX];
    const char *tnc[] = {"u", "u-1", "t", "4", "n", "1", "c", "1763802000123", NULL};
    const char *r[] = {"u", "u-2", "r", "5 2 1763802000124", NULL};
    assert_int_equal(add_entry(&b, "9-1", err, tnc), 0);
    assert_int_equal(add_entry(&b, "9-2", err, r), 0);
    assert_int_equal(b.rows, 2);
    assert_int_equal(b.groups[0].rows[0].line, 0);
    assert_int_equal(b.groups[0].rows[1].ticket, 5);
    assert_int_equal(b.groups[0].rows[1].quantity, 2);
    assert_int_equal(wk_row_dead_id(&b.groups[0].rows[1], dead), 3);
    assert_string_equal(dead, "9-2");
    const char *bad[] = {"u", "u-1", "t", "4", NULL};
    assert_int_equal(add_entry(&b, "9-3", err, bad), 1);
    assert_int_equal(b.rows, 2);
    /* grouped with packed rows of the same event: sorted by ticket */
    const char *m[] = {"c", "1", "m", "u-3 2 1\nu-4 3 1", NULL};
    assert_int_equal(add_entry(&b, "8-0", err, m), 0);
    wk_batch_group(&b);
    assert_int_equal(b.groups[0].rows[0].ticket, 2);
    assert_string_equal(b.groups[0].rows[0].id, "8-0");
    assert_string_equal(b.groups[0].rows[3].id, "9-2");
    wk_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_r_shape),
        cmocka_unit_test(test_parse_field_order_free),
        cmocka_unit_test(test_parse_missing_field),
        cmocka_unit_test(test_parse_bad_numbers),
        cmocka_unit_test(test_parse_bad_quantity),
        cmocka_unit_test(test_parse_bad_user),
        cmocka_unit_test(test_parse_bad_id),
        cmocka_unit_test(test_group_by_event_in_ticket_order),
        cmocka_unit_test(test_group_many_rows_and_dups),
        cmocka_unit_test(test_add_bad_event),
        cmocka_unit_test(test_salvage),
        cmocka_unit_test(test_entry_packed),
        cmocka_unit_test(test_entry_packed_bad),
        cmocka_unit_test(test_entry_old_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
