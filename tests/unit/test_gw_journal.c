/* Unit tests of the journal (gateway/failover/gw_journal.c, gw_journal_events.c): mode moves, the journal's completeness (base, drain, foreign, overflow), pruning, uncertain claims, locks, reset, and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw_journal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EV "demo"
#define EVL (sizeof(EV) - 1)
#define EV2 "cookie-day"
#define EV2L (sizeof(EV2) - 1)

static int setup(void **state)
{
    gw_journal_t *p = gw_journal_new(1000);
    if (p == NULL)
        return -1;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    gw_journal_free(*state);
    return 0;
}

/* setup, with EV tracked. */
static int setup_ev(void **state)
{
    if (setup(state) != 0)
        return -1;
    if (gw_journal_track(*state, EV, EVL) == 0)
        return 0;
    teardown(state);
    return -1;
}

/* setup, with EV then EV2 tracked. */
static int setup_ev2(void **state)
{
    if (setup_ev(state) != 0)
        return -1;
    if (gw_journal_track(*state, EV2, EV2L) == 0)
        return 0;
    teardown(state);
    return -1;
}

static gw_journal_grant_t grant(uint64_t ticket, const char *user, int32_t qty)
{
    gw_journal_grant_t g;
    memset(&g, 0, sizeof(g));
    g.ticket = ticket;
    g.qty = qty;
    g.created_ms = 1700000000000 + (int64_t)ticket;
    g.ulen = (uint8_t)strlen(user);
    memcpy(g.user, user, g.ulen);
    return g;
}

/* Sends one claim of @ev and gets it granted with @ticket. */
static void claim(gw_journal_t *p, const char *ev, uint64_t ticket)
{
    char user[32];
    snprintf(user, sizeof(user), "u-%llu", (unsigned long long)ticket);
    gw_journal_grant_t g = grant(ticket, user, 1);
    assert_int_equal(gw_journal_sent(p, ev, strlen(ev), 1), 0);
    assert_int_equal(gw_journal_replied(p, ev, strlen(ev), 1, &g, 1), 0);
}

/* The reply to one claim of @user (@qty units) on @ev was lost: the user becomes uncertain. */
static void lose(gw_journal_t *p, const char *ev, size_t elen, const char *user, int qty)
{
    const char *u[] = {user};
    size_t ul[] = {strlen(user)};
    int q[] = {qty};
    gw_journal_lost(p, ev, elen, 1, u, ul, q);
}

static gw_journal_counts_t counts(gw_journal_t *p)
{
    gw_journal_counts_t c;
    gw_journal_counts(p, &c);
    return c;
}

static gw_journal_info_t info(gw_journal_t *p, const char *ev)
{
    gw_journal_info_t in;
    memset(&in, 0xa5, sizeof(in));
    assert_int_equal(gw_journal_info(p, ev, strlen(ev), &in), 0);
    return in;
}

/* Applies a watermark (seq, oldest) to ev, then reads what the journal concludes from it. */
static gw_journal_info_t watermark(gw_journal_t *p, const char *ev, uint64_t seq, uint64_t oldest)
{
    gw_journal_watermark(p, ev, strlen(ev), seq, oldest);
    return info(p, ev);
}

/* Nothing known of the event: no journal, no flag, no uncertain claim, no watermark yet. */
static void assert_blank(const gw_journal_info_t *in)
{
    assert_int_equal(in->complete, 0);
    assert_int_equal(in->foreign, 0);
    assert_int_equal(in->overflow, 0);
    assert_int_equal(in->flushed, 0);
    assert_int_equal(in->locked, 0);
    assert_string_equal(in->token, "");
    assert_int_equal(in->max_ticket, 0);
    assert_int_equal(in->uncertain_n, 0);
    assert_int_equal(in->uncertain_qty, 0);
    assert_int_equal(in->entries, 0);
}

/* ---- modes --------------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(gw_mode_name(GW_MODE_FAST), "fast");
    assert_string_equal(gw_mode_name(GW_MODE_LOST), "lost");
    assert_string_equal(gw_mode_name(GW_MODE_GRANT), "grant");
    assert_string_equal(gw_mode_name(GW_MODE_MERGE), "merge");
    assert_string_equal(gw_evmode_name(GW_EVMODE_REDIS), "redis");
    assert_string_equal(gw_evmode_name(GW_EVMODE_READONLY), "read-only");
    assert_string_equal(gw_evmode_name(GW_EVMODE_FALLBACK), "fallback");
    assert_string_equal(gw_evmode_name(GW_EVMODE_MERGING), "merging");
    assert_non_null(gw_mode_name((gw_mode_t)42));
    assert_non_null(gw_evmode_name((gw_evmode_t)42));
}

static void test_new_is_fast_and_empty(void **state)
{
    gw_journal_t *p = *state;
    gw_journal_info_t in;
    assert_int_equal(gw_journal_mode(p), GW_MODE_FAST);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(counts(p).entries, 0);
    assert_int_equal(gw_journal_info(p, EV, EVL, &in), -1);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0); /* twice is once */
    in = info(p, EV);
    assert_blank(&in);
    assert_int_equal(in.inflight, 0);
    assert_int_equal(in.evmode, GW_EVMODE_REDIS);
    char ids[4][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, 4, 0), 1);
}

static void test_bad_event_ids(void **state)
{
    gw_journal_t *p = *state;
    char longid[TK_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid));
    assert_int_equal(gw_journal_track(p, "", 0), -1);
    assert_int_equal(gw_journal_track(p, longid, TK_ID_MAX + 1), -1);
    assert_int_equal(gw_journal_track(p, "a\0b", 3), -1);
    assert_int_equal(gw_journal_sent(p, longid, TK_ID_MAX + 1, 1), -1);
    assert_int_equal(gw_journal_sent(p, EV, EVL, -1), -1);
    assert_int_equal(counts(p).inflight, 0);
    /* The longest id is fine and comes back whole. */
    assert_int_equal(gw_journal_track(p, longid, TK_ID_MAX), 0);
    char ids[2][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, 2, 0), 1);
    assert_int_equal(strlen(ids[0]), TK_ID_MAX);
    assert_memory_equal(ids[0], longid, TK_ID_MAX);
}

static void test_sent_refused_outside_fast(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    assert_int_equal(gw_journal_sent(p, EV, EVL, 3), 0);
    assert_int_equal(counts(p).inflight, 3);
    assert_int_equal(info(p, EV).inflight, 3);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), -1);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 1), -1);
    assert_int_equal(counts(p).inflight, 3);
    assert_int_equal(gw_journal_info(p, EV2, EV2L, &(gw_journal_info_t){0}), -1); /* a refused send tracks nothing */
    assert_int_equal(gw_journal_replied(p, EV, EVL, 3, NULL, 0), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), -1);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_FAST), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(counts(p).inflight, 1);
}

static void test_lost_to_grant_waits_for_inflight(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 2), 0);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 1), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), -1);
    gw_journal_grant_t g = grant(1, "a", 1);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 2, &g, 1), 0); /* a reply after the move still journals */
    assert_int_equal(counts(p).entries, 1);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), -1); /* EV2 still in flight */
    assert_int_equal(gw_journal_mode(p), GW_MODE_LOST);
    lose(p, EV2, EV2L, "b", 1);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    assert_int_equal(gw_journal_mode(p), GW_MODE_GRANT);
}

static void test_move_rules(void **state)
{
    gw_journal_t *p = *state;
    /* Only from the current mode. */
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_FAST), -1);
    /* From FAST only to LOST. */
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_FAST), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_GRANT), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_MERGE), -1);
    assert_int_equal(gw_journal_mode(p), GW_MODE_FAST);
    claim(p, EV, 1);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_LOST), -1);
    /* LOST -> MERGE (the check before the fast path) and back to LOST (it failed): nothing is reset. */
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_LOST), 0);
    assert_int_equal(counts(p).entries, 1);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_FAST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    /* From GRANT only to MERGE. */
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_FAST), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_LOST), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_GRANT), -1);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_mode(p), GW_MODE_LOST);
}

/* The check before the fast path starts only with nothing in flight, like the fallback. */
static void test_lost_to_merge_waits_for_inflight(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_MERGE), -1);
    gw_journal_grant_t g = grant(7, "a", 1);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 1, &g, 1), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_mode(p), GW_MODE_MERGE);
}

/* Only events whose journal holds grants are listed; journal_max is their highest ticket. */
static void test_scan_journaled(void **state)
{
    gw_journal_t *p = *state; /* EV and EV2 tracked */
    char ids[4][TK_ID_MAX + 1];
    size_t pos = 0;
    assert_int_equal(gw_journal_scan(p, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, 4), 0);
    claim(p, EV2, 3);
    claim(p, EV2, 9);
    claim(p, EV2, 5);
    pos = 0;
    assert_int_equal(gw_journal_scan(p, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, 4), 1);
    assert_string_equal(ids[0], EV2);
    assert_int_equal(gw_journal_scan(p, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, 4), 0); /* the end */
    assert_int_equal(info(p, EV2).journal_max, 9);
    assert_int_equal(info(p, EV).journal_max, 0);
    /* Drained (pruned by a watermark): no longer listed. */
    gw_journal_watermark(p, EV2, EV2L, 9, 0);
    gw_journal_watermark(p, EV2, EV2L, 9, 0);
    pos = 0;
    assert_int_equal(gw_journal_scan(p, &pos, GW_JOURNAL_SCAN_JOURNALED, ids, 4), 0);
}

/* The merge walks every touched event, a page at a time, each once. */
static void test_scan_pages(void **state)
{
    gw_journal_t *p = *state;
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "ev-%d", i);
        assert_int_equal(gw_journal_track(p, id, strlen(id)), 0);
        if (i % 3 == 0)
            gw_journal_set_locked(p, id, strlen(id), "t");
    }
    char ids[2][TK_ID_MAX + 1];
    size_t pos = 0, n, total = 0;
    char seen[64] = "";
    while ((n = gw_journal_scan(p, &pos, GW_JOURNAL_SCAN_TOUCHED, ids, 2)) > 0) {
        for (size_t i = 0; i < n; i++) {
            strcat(seen, ids[i]);
            strcat(seen, " ");
        }
        total += n;
    }
    assert_int_equal(total, 4);
    assert_string_equal(seen, "ev-0 ev-3 ev-6 ev-9 ");
}

static void test_info_path_per_mode(void **state)
{
    gw_journal_t *p = *state; /* EV and EV2 tracked */
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_REDIS);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_READONLY);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_READONLY);
    gw_journal_set_locked(p, EV, EVL, "tok");
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_FALLBACK);
    assert_int_equal(info(p, EV2).evmode, GW_EVMODE_READONLY);
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_MERGE), 0);
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_MERGING);
    assert_int_equal(info(p, EV2).evmode, GW_EVMODE_MERGING);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_LOST), 0);
    assert_int_equal(info(p, EV).evmode, GW_EVMODE_READONLY);
    assert_int_equal(info(p, EV).locked, 1); /* MERGE -> LOST keeps everything */
}

/* ---- completeness ------------------------------------------------------------- */

static void test_base_from_first_watermark(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    /* 10 tickets drawn before us; the stream still holds 4..10. */
    gw_journal_info_t in = watermark(p, EV, 10, 4);
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.max_ticket, 10);
    claim(p, EV, 11);
    claim(p, EV, 12);
    /* oldest <= base: grants we never saw may still be undrained. */
    assert_int_equal(watermark(p, EV, 12, 10).complete, 0);
    assert_int_equal(info(p, EV).foreign, 0);
    /* oldest == base + 1: everything at or below base is in MariaDB. */
    in = watermark(p, EV, 12, 11);
    assert_int_equal(in.complete, 1);
    assert_int_equal(in.entries, 2);
    /* Complete stays complete while the stream keeps draining. */
    claim(p, EV, 13);
    in = watermark(p, EV, 13, 12);
    assert_int_equal(in.complete, 1);
    assert_int_equal(in.entries, 2); /* 11 pruned */
    assert_int_equal(in.max_ticket, 13);
}

static void test_base_is_not_moved_by_later_watermarks(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 5, 3);
    claim(p, EV, 6);
    claim(p, EV, 7);
    /* Were base moved to 7, oldest 6 would look drained past it. */
    assert_int_equal(watermark(p, EV, 7, 5).complete, 0);
    assert_int_equal(watermark(p, EV, 7, 6).complete, 1);
}

static void test_complete_when_stream_empty(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    /* Nothing tracked yet: no watermark, no base, not complete. */
    assert_int_equal(info(p, EV).complete, 0);
    assert_int_equal(watermark(p, EV, 40, 0).complete, 1);
    /* A fresh event that never sold anything. */
    assert_int_equal(gw_journal_track(p, EV2, EV2L), 0);
    assert_int_equal(watermark(p, EV2, 0, 0).complete, 1);
    assert_int_equal(info(p, EV2).max_ticket, 0);
}

static void test_watermark_ignored_outside_fast_or_untracked(void **state)
{
    gw_journal_t *p = *state;
    gw_journal_watermark(p, EV, EVL, 10, 0); /* untracked: ignored, not tracked */
    assert_int_equal(gw_journal_info(p, EV, EVL, &(gw_journal_info_t){0}), -1);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    gw_journal_info_t in = watermark(p, EV, 10, 0);
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.max_ticket, 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_FAST), 0);
    assert_int_equal(watermark(p, EV, 10, 0).complete, 1);
}

static void test_pruning(void **state)
{
    gw_journal_t *p = *state; /* EV and EV2 tracked */
    gw_journal_watermark(p, EV, EVL, 0, 0);
    gw_journal_watermark(p, EV2, EV2L, 100, 0);
    for (uint64_t t = 1; t <= 10; t++)
        claim(p, EV, t);
    for (uint64_t t = 101; t <= 105; t++)
        claim(p, EV2, t);
    assert_int_equal(counts(p).entries, 15);
    /* Tickets below oldest are drained; oldest itself is not. */
    assert_int_equal(watermark(p, EV, 10, 4).entries, 7);
    assert_int_equal(counts(p).entries, 12);
    gw_journal_grant_t *g;
    size_t n;
    assert_int_equal(gw_journal_grants(p, EV, EVL, &g, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(g[0].ticket, 4);
    assert_int_equal(g[6].ticket, 10);
    free(g);
    /* An empty stream: everything up to seq is drained, not what came after. */
    claim(p, EV, 11);
    assert_int_equal(watermark(p, EV, 10, 0).entries, 1);
    assert_int_equal(counts(p).entries, 6);
    /* The other event is untouched until its own watermark. */
    assert_int_equal(info(p, EV2).entries, 5);
    assert_int_equal(watermark(p, EV2, 105, 0).entries, 0);
    assert_int_equal(counts(p).entries, 1);
    assert_int_equal(info(p, EV).complete, 1);
    assert_int_equal(info(p, EV2).complete, 1);
    assert_int_equal(info(p, EV).foreign, 0);
}

static void test_prune_frees_room(void **state)
{
    (void)state;
    gw_journal_t *p = gw_journal_new(3);
    assert_non_null(p);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    gw_journal_watermark(p, EV, EVL, 0, 0);
    claim(p, EV, 1);
    claim(p, EV, 2);
    claim(p, EV, 3);
    gw_journal_watermark(p, EV, EVL, 3, 3);
    assert_int_equal(counts(p).entries, 1);
    claim(p, EV, 4);
    claim(p, EV, 5);
    assert_int_equal(counts(p).entries, 3);
    assert_int_equal(info(p, EV).overflow, 0);
    gw_journal_free(p);
}

/* ---- foreign grants ----------------------------------------------------------- */

static void test_foreign_detected(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 10, 0);
    claim(p, EV, 11);
    claim(p, EV, 12);
    assert_int_equal(watermark(p, EV, 12, 0).complete, 1);
    /* Ticket 13 is no claim of ours. */
    claim(p, EV, 14);
    gw_journal_info_t in = watermark(p, EV, 14, 13);
    assert_int_equal(in.foreign, 1);
    assert_int_equal(in.complete, 0);
    /* Never complete again until a reset. */
    assert_int_equal(watermark(p, EV, 14, 0).complete, 0);
    gw_journal_reset(p);
    in = watermark(p, EV, 14, 0);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 1);
}

static void test_foreign_exactly_one_beyond(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 0, 0);
    /* 3 in flight (tickets 1..3 drawn, replies not in): seq 3 is ours. */
    assert_int_equal(gw_journal_sent(p, EV, EVL, 3), 0);
    assert_int_equal(watermark(p, EV, 3, 1).foreign, 0);
    /* seq 4 is one more than we could have drawn. */
    assert_int_equal(watermark(p, EV, 4, 1).foreign, 1);
}

static void test_own_late_replies_not_foreign(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 100, 0);
    /* A batch of 4: Redis draws 101..104, the watermark reads seq 104
     * before the reply is in. In flight covers them. */
    assert_int_equal(gw_journal_sent(p, EV, EVL, 4), 0);
    assert_int_equal(watermark(p, EV, 104, 101).foreign, 0);
    gw_journal_grant_t g[4] = {grant(101, "a", 1), grant(102, "b", 2), grant(103, "c", 1), grant(104, "d", 1)};
    assert_int_equal(gw_journal_replied(p, EV, EVL, 4, g, 4), 0);
    /* Now journaled; then most of it drained and pruned: still ours. */
    assert_int_equal(watermark(p, EV, 104, 104).entries, 1);
    assert_int_equal(info(p, EV).foreign, 0);
    gw_journal_info_t in = watermark(p, EV, 104, 0);
    assert_int_equal(in.entries, 0);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 1);
    /* Pruned-above-base still counts as ours on later watermarks. */
    claim(p, EV, 105);
    assert_int_equal(watermark(p, EV, 105, 105).foreign, 0);
    assert_int_equal(watermark(p, EV, 106, 105).foreign, 1);
}

static void test_replied_before_base_above_base(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    /* The first watermark reads seq 50; before it is applied, ticket 51
     * (drawn after the read) is answered, and 49, 50 (before it) too. */
    claim(p, EV, 49);
    claim(p, EV, 50);
    claim(p, EV, 51);
    assert_int_equal(watermark(p, EV, 50, 49).foreign, 0);
    assert_int_equal(info(p, EV).entries, 3);
    gw_journal_info_t in = watermark(p, EV, 51, 51);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 1);
    assert_int_equal(in.entries, 1);
    assert_int_equal(watermark(p, EV, 51, 0).foreign, 0);
    assert_int_equal(counts(p).entries, 0);
}

static void test_seq_below_base_is_foreign(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 30, 0);
    gw_journal_watermark(p, EV, EVL, 5, 0); /* the event's Redis state was replaced */
    assert_int_equal(info(p, EV).foreign, 1);
    assert_int_equal(info(p, EV).complete, 0);
    assert_int_equal(info(p, EV).max_ticket, 30);
}

/* ---- overflow ------------------------------------------------------------------ */

static void test_overflow(void **state)
{
    (void)state;
    gw_journal_t *p = gw_journal_new(4);
    assert_non_null(p);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    assert_int_equal(gw_journal_track(p, EV2, EV2L), 0);
    gw_journal_watermark(p, EV, EVL, 0, 0);
    gw_journal_watermark(p, EV2, EV2L, 0, 0);
    claim(p, EV2, 1);
    gw_journal_grant_t g[4] = {grant(1, "a", 1), grant(2, "b", 1), grant(3, "c", 1), grant(4, "d", 1)};
    assert_int_equal(gw_journal_sent(p, EV, EVL, 4), 0);
    /* 1 + 4 > 4: the whole batch is dropped, the event incomplete. */
    assert_int_equal(gw_journal_replied(p, EV, EVL, 4, g, 4), -1);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.overflow, 1);
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.entries, 0);
    assert_int_equal(in.inflight, 0);     /* the grants themselves stand */
    assert_int_equal(in.max_ticket, 4);   /* and their tickets are known */
    assert_int_equal(counts(p).entries, 1);
    assert_int_equal(info(p, EV2).complete, 1); /* the other event is unaffected */
    /* Our dropped grants do not look like another writer's. */
    assert_int_equal(watermark(p, EV, 4, 1).foreign, 0);
    /* Still incomplete after draining, until a reset. */
    assert_int_equal(watermark(p, EV, 4, 0).complete, 0);
    gw_journal_reset(p);
    assert_int_equal(watermark(p, EV, 4, 0).complete, 1);
    assert_int_equal(info(p, EV).overflow, 0);
    gw_journal_free(p);
}

static void test_zero_room(void **state)
{
    (void)state;
    gw_journal_t *p = gw_journal_new(0);
    assert_non_null(p);
    gw_journal_grant_t g = grant(1, "a", 1);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 1, &g, 1), -1);
    assert_int_equal(counts(p).inflight, 0);
    /* A batch with no grant needs no room. */
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 1, NULL, 0), 0);
    gw_journal_free(p);
}

/* ---- in flight and replies ---------------------------------------------------- */

static void test_inflight_counts(void **state)
{
    gw_journal_t *p = *state; /* EV and EV2 tracked */
    assert_int_equal(gw_journal_sent(p, EV, EVL, 5), 0);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 2), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 0), 0);
    assert_int_equal(counts(p).inflight, 7);
    /* A send that failed before anything left: out of flight, nothing journaled. */
    assert_int_equal(gw_journal_replied(p, EV, EVL, 2, NULL, 0), 0);
    assert_int_equal(info(p, EV).inflight, 3);
    assert_int_equal(counts(p).inflight, 5);
    assert_int_equal(counts(p).entries, 0);
    /* Never below zero, per event and in all. */
    assert_int_equal(gw_journal_replied(p, EV, EVL, 10, NULL, 0), 0);
    assert_int_equal(info(p, EV).inflight, 0);
    assert_int_equal(info(p, EV2).inflight, 2);
    assert_int_equal(counts(p).inflight, 2);
}

static void test_grants_sorted_copy(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 6), 0);
    gw_journal_grant_t a[3] = {grant(7, "u7", 1), grant(3, "u3", 2), grant(5, "u5", 1)};
    gw_journal_grant_t b[3] = {grant(4, "u4", 1), grant(9, "u9", 3), grant(1, "u1", 1)};
    assert_int_equal(gw_journal_replied(p, EV, EVL, 3, a, 3), 0);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 3, b, 3), 0);
    gw_journal_grant_t *g = NULL;
    size_t n = 0;
    assert_int_equal(gw_journal_grants(p, EV, EVL, &g, &n), 0);
    assert_int_equal(n, 6);
    const uint64_t want[] = {1, 3, 4, 5, 7, 9};
    for (size_t i = 0; i < n; i++) {
        char u[8];
        snprintf(u, sizeof(u), "u%llu", (unsigned long long)want[i]);
        assert_int_equal(g[i].ticket, want[i]);
        assert_string_equal(g[i].user, u);
        assert_int_equal(g[i].ulen, strlen(u));
        assert_int_equal(g[i].created_ms, 1700000000000 + (int64_t)want[i]);
    }
    assert_int_equal(g[1].qty, 2);
    assert_int_equal(g[5].qty, 3);
    /* A copy: changing it changes nothing inside. */
    g[0].ticket = 999;
    free(g);
    assert_int_equal(gw_journal_grants(p, EV, EVL, &g, &n), 0);
    assert_int_equal(g[0].ticket, 1);
    free(g);
    assert_int_equal(info(p, EV).max_ticket, 9);
    /* Unknown event: -1; known but empty: 0 entries. */
    assert_int_equal(gw_journal_grants(p, EV2, EV2L, &g, &n), -1);
    assert_int_equal(gw_journal_track(p, EV2, EV2L), 0);
    g = NULL;
    n = 99;
    assert_int_equal(gw_journal_grants(p, EV2, EV2L, &g, &n), 0);
    assert_int_equal(n, 0);
    free(g);
}

static void test_grant_user_copied_safely(void **state)
{
    gw_journal_t *p = *state;
    gw_journal_grant_t g;
    memset(&g, 'x', sizeof(g)); /* no NUL anywhere in user */
    g.ticket = 1;
    g.qty = 1;
    g.ulen = 3;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 1, &g, 1), 0);
    gw_journal_grant_t *out;
    size_t n;
    assert_int_equal(gw_journal_grants(p, EV, EVL, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].user, "xxx");
    free(out);
}

static void test_many_grants_grow_and_shrink(void **state)
{
    (void)state;
    gw_journal_t *p = gw_journal_new(100000);
    assert_non_null(p);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    gw_journal_watermark(p, EV, EVL, 0, 0);
    /* Batches of 10 whose replies arrive in reverse order of tickets. */
    for (uint64_t b = 0; b < 1000; b++) {
        gw_journal_grant_t g[10];
        for (int i = 0; i < 10; i++)
            g[i] = grant(b * 10 + (uint64_t)(10 - i), "u", 1);
        assert_int_equal(gw_journal_sent(p, EV, EVL, 10), 0);
        assert_int_equal(gw_journal_replied(p, EV, EVL, 10, g, 10), 0);
    }
    assert_int_equal(counts(p).entries, 10000);
    gw_journal_grant_t *out;
    size_t n;
    assert_int_equal(gw_journal_grants(p, EV, EVL, &out, &n), 0);
    assert_int_equal(n, 10000);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].ticket, i + 1);
    free(out);
    gw_journal_watermark(p, EV, EVL, 10000, 9990);
    assert_int_equal(counts(p).entries, 11);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 1);
    gw_journal_free(p);
}

/* ---- uncertain claims ----------------------------------------------------------- */

static void test_lost_uncertain(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 3), 0);
    const char *u[] = {"u-1", "u-2", "u-3"};
    size_t ul[] = {3, 3, 3};
    int q[] = {1, 2, 4};
    gw_journal_lost(p, EV, EVL, 3, u, ul, q);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.inflight, 0);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(in.uncertain_n, 3);
    assert_int_equal(in.uncertain_qty, 7);
    assert_int_equal(in.entries, 0);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "u-1", 3), 1);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "u-3", 3), 1);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "u-4", 3), 0);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "u-", 2), 0);
    assert_int_equal(gw_journal_uncertain_user(p, EV2, EV2L, "u-1", 3), 0); /* per event */
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "", 0), 0);
}

static void test_lost_same_user_once(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 2), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 2), 0);
    const char *u1[] = {"alice", "bob"};
    size_t l1[] = {5, 3};
    int q1[] = {2, 1};
    gw_journal_lost(p, EV, EVL, 2, u1, l1, q1);
    /* Another thread's batch lost alice's retry with a larger quantity, and carol. */
    const char *u2[] = {"alice", "carol"};
    size_t l2[] = {5, 5};
    int q2[] = {3, 1};
    gw_journal_lost(p, EV, EVL, 2, u2, l2, q2);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.uncertain_n, 3);
    assert_int_equal(in.uncertain_qty, 3 + 1 + 1); /* alice at most 3, not 2 + 3 */
    assert_int_equal(counts(p).inflight, 0);
    /* The same users again with the same or a smaller ask change nothing. */
    const char *u3[] = {"bob", "alice"};
    size_t l3[] = {3, 5};
    int q3[] = {1, 1};
    gw_journal_lost(p, EV, EVL, 2, u3, l3, q3);
    in = info(p, EV);
    assert_int_equal(in.uncertain_n, 3);
    assert_int_equal(in.uncertain_qty, 5);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "carol", 5), 1);
}

static void test_lost_in_any_mode(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    lose(p, EV, EVL, "z", 2);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.uncertain_n, 1);
    assert_int_equal(in.uncertain_qty, 2);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "z", 1), 1);
    /* And LOST -> FAST forgets them. */
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_FAST), 0);
    in = info(p, EV);
    assert_int_equal(in.uncertain_n, 0);
    assert_int_equal(in.uncertain_qty, 0);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "z", 1), 0);
}

static void test_lost_many_users(void **state)
{
    gw_journal_t *p = *state;
    enum { N = 500 };
    static char names[N][24];
    const char *u[N];
    size_t ul[N];
    int q[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "user-%d", i);
        u[i] = names[i];
        ul[i] = strlen(names[i]);
        q[i] = 1 + i % 3;
    }
    assert_int_equal(gw_journal_sent(p, EV, EVL, N), 0);
    gw_journal_lost(p, EV, EVL, N, u, ul, q);
    uint64_t qty = 0;
    for (int i = 0; i < N; i++)
        qty += (uint64_t)q[i];
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.uncertain_n, N);
    assert_int_equal(in.uncertain_qty, qty);
    assert_int_equal(in.overflow, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, names[i], ul[i]), 1);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "user-500", 8), 0);
}

/* ---- locks, events, reset -------------------------------------------------------- */

static void test_locked_and_events(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_track(p, "a", 1), 0);
    assert_int_equal(gw_journal_track(p, "b", 1), 0);
    assert_int_equal(gw_journal_track(p, "c", 1), 0);
    char ids[8][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, 8, 0), 3);
    assert_string_equal(ids[0], "a");
    assert_string_equal(ids[1], "b");
    assert_string_equal(ids[2], "c");
    assert_int_equal(gw_journal_events(p, ids, 2, 0), 2);
    assert_int_equal(gw_journal_events(p, ids, 0, 0), 0);
    assert_int_equal(gw_journal_events(p, ids, 8, 1), 0);

    gw_journal_set_locked(p, "b", 1, "0123456789abcdef0123456789abcdef");
    gw_journal_set_locked(p, "c", 1, "t2");
    gw_journal_info_t in = info(p, "b");
    assert_int_equal(in.locked, 1);
    assert_int_equal(in.flushed, 1);
    assert_string_equal(in.token, "0123456789abcdef0123456789abcdef");
    assert_int_equal(gw_journal_events(p, ids, 8, 1), 2);
    assert_string_equal(ids[0], "b");
    assert_string_equal(ids[1], "c");
    assert_int_equal(gw_journal_events(p, ids, 1, 1), 1);
    assert_string_equal(ids[0], "b");

    gw_journal_clear_locked(p, "b", 1);
    in = info(p, "b");
    assert_int_equal(in.locked, 0);
    assert_int_equal(in.flushed, 1); /* the journal was still written */
    assert_string_equal(in.token, "");
    /* Still listed for the merge: the fallback may have granted on it before the lock went. */
    assert_int_equal(gw_journal_events(p, ids, 8, 1), 2);
    assert_string_equal(ids[0], "b");
    assert_string_equal(ids[1], "c");

    /* A token longer than 32 is cut, never overruns. */
    gw_journal_set_locked(p, "a", 1, "0123456789abcdef0123456789abcdefXYZ");
    assert_int_equal(strlen(info(p, "a").token), 32);
    /* A lock on an event never seen is still remembered, so it gets released. */
    gw_journal_set_locked(p, "d", 1, "t4");
    assert_int_equal(gw_journal_events(p, ids, 8, 1), 4);
    gw_journal_clear_locked(p, "zz", 2); /* unknown: nothing */
    assert_int_equal(gw_journal_events(p, ids, 8, 0), 4);
}

static void test_reset(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 10, 0);
    claim(p, EV, 11);
    claim(p, EV, 13); /* 12 is foreign */
    gw_journal_watermark(p, EV, EVL, 13, 11);
    assert_int_equal(gw_journal_track(p, EV2, EV2L), 0);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 2), 0);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 1), 0);
    lose(p, EV, EVL, "x", 1);
    gw_journal_set_locked(p, EV, EVL, "tok");
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.foreign, 1);
    assert_int_equal(in.entries, 2);
    assert_int_equal(in.uncertain_n, 1);
    assert_int_equal(in.inflight, 1);

    gw_journal_reset(p);
    in = info(p, EV);
    /* Forgotten: what the journal proved, the flags, the uncertain users. */
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.overflow, 0);
    assert_int_equal(in.flushed, 0);
    assert_int_equal(in.locked, 0);
    assert_string_equal(in.token, "");
    assert_int_equal(in.uncertain_n, 0);
    assert_int_equal(in.uncertain_qty, 0);
    assert_int_equal(gw_journal_uncertain_user(p, EV, EVL, "x", 1), 0);
    /* Kept: the grants (11 and 13, undrained: a Redis that loses them yet needs them written), the highest
     * ticket, the tracked events, in-flight counts, the mode. */
    assert_int_equal(in.entries, 2);
    assert_int_equal(counts(p).entries, 2);
    assert_int_equal(in.max_ticket, 13);
    assert_int_equal(in.inflight, 1);
    assert_int_equal(info(p, EV2).inflight, 1);
    assert_int_equal(counts(p).inflight, 2);
    char ids[4][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, 4, 0), 2);
    assert_int_equal(gw_journal_mode(p), GW_MODE_FAST);
    /* The next watermark is a new base; the stream empty, the kept grants are pruned as drained. */
    assert_int_equal(watermark(p, EV, 20, 0).complete, 1);
    assert_int_equal(info(p, EV).max_ticket, 20);
    assert_int_equal(counts(p).entries, 0);
    /* The journal works again after a reset. */
    claim(p, EV, 21);
    assert_int_equal(counts(p).entries, 1);
}

/*
 * Grants undrained when the mode returns to FAST stay in the journal until
 * a watermark says they drained: a blip's merge ends on the same Redis, and
 * if that Redis is then lost with its stream, the next merge must still
 * find them to write (before, the reset forgot them: the merge's step 1
 * had nothing to write, and their tickets went out again). Kept grants lie
 * at or below the next base: the foreign test does not count them.
 */
static void test_reset_keeps_undrained_grants(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    assert_int_equal(watermark(p, EV, 0, 0).complete, 1);
    for (uint64_t t = 1; t <= 3; t++)
        claim(p, EV, t);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_FAST), 0);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.entries, 3);
    assert_int_equal(in.journal_max, 3);
    assert_int_equal(in.complete, 0);
    /* First watermark after the reset: seq 3, 1..3 still in the stream. Base 3; not drained; not foreign. */
    in = watermark(p, EV, 3, 1);
    assert_int_equal(in.entries, 3);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 0);
    /* Our grant 4, then 1..4 drained: pruned, complete, still not foreign. (A first seq below a kept grant: foreign,
     * test_reset_then_seq_below_kept_grants.) */
    claim(p, EV, 4);
    in = watermark(p, EV, 4, 0);
    assert_int_equal(in.entries, 0);
    assert_int_equal(in.foreign, 0);
    assert_int_equal(in.complete, 1);
    assert_int_equal(counts(p).entries, 0);
}

/* Redis's seq went back below grants kept across a reset (its state replaced without a dropped connection): the
 * tickets above it will be drawn again, and our old grants must not pass for the new ones in the foreign test. */
static void test_reset_then_seq_below_kept_grants(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    assert_int_equal(watermark(p, EV, 0, 0).complete, 1);
    for (uint64_t t = 1; t <= 3; t++)
        claim(p, EV, t);
    gw_journal_reset(p);
    gw_journal_info_t in = watermark(p, EV, 1, 0);
    assert_int_equal(in.foreign, 1);
    assert_int_equal(in.complete, 0);
}

static void test_merge_to_fast_resets(void **state)
{
    gw_journal_t *p = *state; /* EV tracked */
    gw_journal_watermark(p, EV, EVL, 5, 0);
    claim(p, EV, 6);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    gw_journal_set_locked(p, EV, EVL, "tok");
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_MERGE), 0);
    /* MERGE -> LOST keeps everything... */
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_LOST), 0);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.entries, 1);
    assert_int_equal(in.complete, 1);
    assert_int_equal(in.locked, 1);
    assert_int_equal(in.max_ticket, 6);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_GRANT, GW_MODE_MERGE), 0);
    gw_journal_clear_locked(p, EV, EVL);
    /* ...MERGE -> FAST forgets what it proved (the grant stays until a watermark says it drained). */
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_FAST), 0);
    in = info(p, EV);
    assert_int_equal(in.entries, 1);
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.flushed, 0);
    assert_int_equal(in.locked, 0);
    assert_int_equal(in.evmode, GW_EVMODE_REDIS);
}

static void test_many_events(void **state)
{
    gw_journal_t *p = *state;
    enum { N = 3000 };
    char id[24];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "ev-%d", i);
        assert_int_equal(gw_journal_track(p, id, strlen(id)), 0);
        assert_int_equal(gw_journal_sent(p, id, strlen(id), i % 5), 0);
    }
    uint64_t want = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "ev-%d", i);
        assert_int_equal(info(p, id).inflight, (uint64_t)(i % 5));
        want += (uint64_t)(i % 5);
    }
    assert_int_equal(counts(p).inflight, want);
    static char ids[N + 1][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, N + 1, 0), N);
    assert_string_equal(ids[N - 1], "ev-2999");
}


/* ---- tracking only events that exist (issue 10, hole 4) ------------------------- */

/* A claim on an id nobody created: counted in flight, never tracked, forgotten with its reply. */
static void test_untracked_sent_tracks_nothing(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, "nx-1", 4, 3), 0);
    assert_int_equal(gw_journal_sent(p, "nx-1", 4, 2), 0);
    assert_int_equal(gw_journal_sent(p, "nx-2", 4, 1), 0);
    assert_int_equal(counts(p).inflight, 6);
    assert_int_equal(counts(p).tracked, 0);
    assert_int_equal(counts(p).untracked_inflight, 2);
    assert_int_equal(gw_journal_info(p, "nx-1", 4, &(gw_journal_info_t){0}), -1);
    char ids[4][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_events(p, ids, 4, 0), 0);
    assert_int_equal(gw_journal_watermark_pick(p, ids, 4), 0);
    /* The move to GRANT still sees them in flight. */
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), -1);
    /* not_found (no reply array: g NULL) takes them out, and the slot goes. */
    assert_int_equal(gw_journal_replied(p, "nx-1", 4, 3, NULL, 0), 0);
    assert_int_equal(counts(p).untracked_inflight, 2);
    assert_int_equal(gw_journal_replied(p, "nx-1", 4, 2, NULL, 0), 0);
    assert_int_equal(counts(p).untracked_inflight, 1);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), -1);
    assert_int_equal(gw_journal_replied(p, "nx-2", 4, 5, NULL, 0), 0); /* never below zero */
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(counts(p).untracked_inflight, 0);
    assert_int_equal(counts(p).tracked, 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_GRANT), 0);
}

/* An event tracked while its claims are in flight takes their exact count along. */
static void test_untracked_count_moves_when_tracked(void **state)
{
    gw_journal_t *p = *state;
    assert_int_equal(gw_journal_sent(p, EV, EVL, 4), 0);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 3), 0);
    assert_int_equal(gw_journal_track(p, EV, EVL), 0); /* from tk:events */
    assert_int_equal(info(p, EV).inflight, 4);
    assert_int_equal(counts(p).untracked_inflight, 1);
    /* A reply with results (the script ran: the event exists) tracks EV2 with its 3. */
    gw_journal_grant_t none[1];
    assert_int_equal(gw_journal_replied(p, EV2, EV2L, 1, none, 0), 0);
    assert_int_equal(info(p, EV2).inflight, 2);
    assert_int_equal(counts(p).untracked_inflight, 0);
    assert_int_equal(counts(p).inflight, 6);
    /* The foreign test counts them: a watermark base, then seq moved by our 2 in flight only. */
    gw_journal_watermark(p, EV2, EV2L, 10, 0);
    assert_int_equal(watermark(p, EV2, 12, 11).foreign, 0);
    assert_int_equal(watermark(p, EV2, 13, 11).foreign, 1);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 4, NULL, 0), 0);
    assert_int_equal(gw_journal_replied(p, EV2, EV2L, 2, NULL, 0), 0);
    assert_int_equal(counts(p).inflight, 0);
}

/* Grants, or a lost reply, track the event: the journal and the uncertain users must be kept. */
static void test_untracked_grant_or_loss_tracks(void **state)
{
    gw_journal_t *p = *state;
    gw_journal_grant_t g = grant(1, "a", 1);
    assert_int_equal(gw_journal_sent(p, EV, EVL, 1), 0);
    assert_int_equal(gw_journal_replied(p, EV, EVL, 1, &g, 1), 0);
    assert_int_equal(info(p, EV).entries, 1);
    assert_int_equal(gw_journal_sent(p, EV2, EV2L, 1), 0);
    lose(p, EV2, EV2L, "z", 2);
    assert_int_equal(info(p, EV2).uncertain_n, 1);
    assert_int_equal(gw_journal_uncertain_user(p, EV2, EV2L, "z", 1), 1);
    assert_int_equal(counts(p).tracked, 2);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(counts(p).untracked_inflight, 0);
}

/* 100,000 made-up ids come and go: nothing stays. */
static void test_untracked_flood_leaves_nothing(void **state)
{
    gw_journal_t *p = *state;
    enum { N = 100000, WINDOW = 500 };
    char id[32];
    for (int i = 0; i < N + WINDOW; i++) {
        if (i < N) {
            snprintf(id, sizeof(id), "nx-%d", i);
            assert_int_equal(gw_journal_sent(p, id, strlen(id), 1 + i % 3), 0);
        }
        if (i >= WINDOW) { /* replies come back WINDOW sends later */
            snprintf(id, sizeof(id), "nx-%d", i - WINDOW);
            assert_int_equal(gw_journal_replied(p, id, strlen(id), 1 + (i - WINDOW) % 3, NULL, 0), 0);
        }
        if (i == N - 1)
            assert_int_equal(counts(p).untracked_inflight, WINDOW);
    }
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(counts(p).untracked_inflight, 0);
    assert_int_equal(counts(p).tracked, 0);
}

/* A read of tk:events forgets the tracked events it no longer lists, unless they hold something. */
static void test_sync_forgets_only_idle_events(void **state)
{
    gw_journal_t *p = *state;
    static const char *const evs[] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(gw_journal_track(p, evs[i], 1), 0);
    gw_journal_watermark(p, "b", 1, 0, 0);
    claim(p, "b", 1);                         /* b: a journal entry */
    gw_journal_set_locked(p, "c", 1, "tok");     /* c: locked */
    assert_int_equal(gw_journal_sent(p, "d", 1, 1), 0); /* d: a claim in flight */
    assert_int_equal(gw_journal_sent(p, "e", 1, 1), 0);
    lose(p, "e", 1, "x", 1); /* e: an uncertain user */
    /* f: nothing. a: listed. */
    gw_journal_sync_begin(p);
    assert_int_equal(gw_journal_sync_track(p, "a", 1), 0);
    assert_int_equal(gw_journal_sync_track(p, "g", 1), 0); /* new */
    assert_int_equal(gw_journal_sync_end(p), 1);
    assert_int_equal(gw_journal_info(p, "f", 1, &(gw_journal_info_t){0}), -1);
    assert_int_equal(counts(p).tracked, 6);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_journal_info(p, evs[i], 1, &(gw_journal_info_t){0}), 0);
    assert_int_equal(info(p, "b").entries, 1);
    assert_int_equal(info(p, "d").inflight, 1);
    /* Lookups still work after the compaction, and new ids still track. */
    assert_int_equal(gw_journal_replied(p, "d", 1, 1, NULL, 0), 0);
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(gw_journal_track(p, "f", 1), 0);
    assert_int_equal(counts(p).tracked, 7);
    /* Outside FAST nothing is forgotten (the fallback may be deciding on them). */
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    gw_journal_sync_begin(p);
    assert_int_equal(gw_journal_sync_end(p), 0);
    assert_int_equal(counts(p).tracked, 7);
    /* Back in FAST (a reset: locks and flags gone) the unlisted ones go, but b: its grant is kept until drained. */
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_FAST), 0);
    gw_journal_sync_begin(p);
    assert_int_equal(gw_journal_sync_track(p, "a", 1), 0);
    assert_int_equal(gw_journal_sync_end(p), 5);
    assert_int_equal(counts(p).tracked, 2);
    assert_int_equal(info(p, "b").entries, 1);
}

/* Every tracked event is watermarked, round-robin, at most max per round; busy ones first. */
static void test_watermark_pick_covers_all(void **state)
{
    gw_journal_t *p = *state;
    enum { N = 600, MAX = 64 };
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "ev-%d", i);
        assert_int_equal(gw_journal_track(p, id, strlen(id)), 0);
    }
    static char ids[MAX][TK_ID_MAX + 1];
    static int seen[N];
    /* All new (busy: no base yet): three quarters of each round go to them (the rest to the idle
     * ones, which the first rounds make), so every event is seen within N / (3 MAX / 4) + 1 rounds,
     * none twice in a round. */
    int rounds = 0;
    for (int covered = 0; covered < N && rounds < 100; rounds++) {
        static int in_round[N];
        memset(in_round, 0, sizeof(in_round));
        size_t n = gw_journal_watermark_pick(p, ids, MAX);
        assert_true(n > 0 && n <= MAX);
        for (size_t k = 0; k < n; k++) {
            int i = atoi(ids[k] + 3);
            assert_int_equal(in_round[i]++, 0);
            covered += seen[i]++ == 0;
            gw_journal_watermark(p, ids[k], strlen(ids[k]), 0, 0); /* now complete and idle */
        }
    }
    assert_true(rounds <= N / (MAX - MAX / 4) + 1);
    /* One busy event (a grant to prune) is in every round; the idle ones still come round. */
    claim(p, "ev-7", 1);
    memset(seen, 0, sizeof(seen));
    rounds = 0;
    for (int covered = 0; covered < N && rounds < 100; rounds++) {
        size_t n = gw_journal_watermark_pick(p, ids, MAX);
        int busy_seen = 0;
        assert_int_equal(n, MAX);
        for (size_t k = 0; k < n; k++) {
            int i = atoi(ids[k] + 3);
            busy_seen += i == 7;
            covered += seen[i]++ == 0;
        }
        assert_int_equal(busy_seen, 1);
    }
    assert_true(rounds <= N / (MAX - 1) + 2);
    assert_int_equal(gw_journal_watermark_pick(p, ids, 0), 0);
}

/* "Has the fallback touched anything?" is answered from a count. */
static void test_touched_is_counted(void **state)
{
    gw_journal_t *p = *state;
    char ids[2][TK_ID_MAX + 1];
    assert_int_equal(gw_journal_track(p, EV, EVL), 0);
    assert_int_equal(gw_journal_events(p, ids, 1, 1), 0);
    gw_journal_set_locked(p, EV2, EV2L, "t");
    gw_journal_set_locked(p, EV2, EV2L, "t2"); /* twice is once */
    assert_int_equal(gw_journal_events(p, ids, 2, 1), 1);
    assert_string_equal(ids[0], EV2);
    gw_journal_reset(p);
    assert_int_equal(gw_journal_events(p, ids, 2, 1), 0);
    gw_journal_set_locked(p, EV, EVL, "t");
    assert_int_equal(gw_journal_events(p, ids, 2, 1), 1);
    assert_string_equal(ids[0], EV);
}

/* ---- threads -------------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 2000
#define BATCH 3

typedef struct {
    gw_journal_t *p;
    int k;
} worker_t;

/* Each thread grants tickets k, k + THREADS, ...: every ticket exactly once over all threads. */
static void *worker(void *arg)
{
    worker_t *w = arg;
    const char *ev = w->k % 2 ? EV : EV2;
    for (int r = 0; r < ROUNDS; r++) {
        if (gw_journal_sent(w->p, ev, strlen(ev), BATCH) != 0)
            return (void *)1;
        gw_journal_grant_t g[BATCH - 1];
        for (int i = 0; i < BATCH - 1; i++)
            g[i] = grant((uint64_t)(r * (BATCH - 1) + i) * THREADS + (uint64_t)w->k + 1, "t", 1);
        if (gw_journal_replied(w->p, ev, strlen(ev), BATCH, g, BATCH - 1) != 0)
            return (void *)1;
        if (r % 100 == 0)
            (void)counts(w->p);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    gw_journal_t *p = gw_journal_new(THREADS * ROUNDS * BATCH);
    assert_non_null(p);
    pthread_t th[THREADS];
    worker_t w[THREADS];
    for (int k = 0; k < THREADS; k++) {
        w[k] = (worker_t){p, k};
        assert_int_equal(pthread_create(&th[k], NULL, worker, &w[k]), 0);
    }
    for (int k = 0; k < THREADS; k++) {
        void *rc;
        assert_int_equal(pthread_join(th[k], &rc), 0);
        assert_null(rc);
    }
    assert_int_equal(counts(p).inflight, 0);
    assert_int_equal(counts(p).entries, THREADS * ROUNDS * (BATCH - 1));
    const char *evs[] = {EV, EV2};
    for (int e = 0; e < 2; e++) {
        gw_journal_grant_t *g;
        size_t n;
        assert_int_equal(gw_journal_grants(p, evs[e], strlen(evs[e]), &g, &n), 0);
        assert_int_equal(n, THREADS / 2 * ROUNDS * (BATCH - 1));
        for (size_t i = 1; i < n; i++)
            assert_true(g[i - 1].ticket < g[i].ticket);
        free(g);
    }
    gw_journal_free(p);
}

/*
 * A watermark read sent on the fast path whose reply arrives after the
 * mode went LOST -> MERGE -> FAST (the journal reset) describes the stream
 * before the merge: here "stream empty at seq 5" while grants 6..8 this
 * journal does not hold (another gateway's) were drawn since and are
 * still undrained. Taken as the first watermark after the reset it set
 * base 5 and "drained": the event read complete, and the fallback would
 * have granted above a journal missing 6..8. Seen failing with the epoch
 * check removed (complete 1). A read sent after the reset counts as
 * before. (Grants of this journal are kept across the reset, and a base
 * below them reads foreign: test_reset_keeps_undrained_grants.)
 */
static void test_stale_watermark_after_a_merge_is_ignored(void **state)
{
    gw_journal_t *p = *state;
    uint64_t sent_at = gw_journal_epoch(p);
    assert_int_equal(gw_journal_move(p, GW_MODE_FAST, GW_MODE_LOST), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_LOST, GW_MODE_MERGE), 0);
    assert_int_equal(gw_journal_move(p, GW_MODE_MERGE, GW_MODE_FAST), 0);
    gw_journal_watermark_at(p, EV, EVL, 5, 0, sent_at);
    gw_journal_info_t in = info(p, EV);
    assert_int_equal(in.complete, 0);
    assert_int_equal(in.max_ticket, 0); /* ignored: nothing of it was applied */
    gw_journal_watermark_at(p, EV, EVL, 8, 6, gw_journal_epoch(p));
    in = info(p, EV);
    assert_int_equal(in.max_ticket, 8);
    assert_int_equal(in.complete, 0); /* 6..8 undrained at or below the base 8: not complete */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_new_is_fast_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_event_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sent_refused_outside_fast, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_lost_to_grant_waits_for_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_to_merge_waits_for_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_journaled, setup_ev2, teardown),
        cmocka_unit_test_setup_teardown(test_scan_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_path_per_mode, setup_ev2, teardown),
        cmocka_unit_test_setup_teardown(test_base_from_first_watermark, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_base_is_not_moved_by_later_watermarks, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_complete_when_stream_empty, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_watermark_ignored_outside_fast_or_untracked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pruning, setup_ev2, teardown),
        cmocka_unit_test(test_prune_frees_room),
        cmocka_unit_test_setup_teardown(test_foreign_detected, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_exactly_one_beyond, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_own_late_replies_not_foreign, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_replied_before_base_above_base, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_seq_below_base_is_foreign, setup_ev, teardown),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_zero_room),
        cmocka_unit_test_setup_teardown(test_inflight_counts, setup_ev2, teardown),
        cmocka_unit_test_setup_teardown(test_grants_sorted_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_user_copied_safely, setup, teardown),
        cmocka_unit_test(test_many_grants_grow_and_shrink),
        cmocka_unit_test_setup_teardown(test_lost_uncertain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_same_user_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_in_any_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_many_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_reset_keeps_undrained_grants, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_reset_then_seq_below_kept_grants, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_merge_to_fast_resets, setup_ev, teardown),
        cmocka_unit_test_setup_teardown(test_many_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_sent_tracks_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_count_moves_when_tracked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_grant_or_loss_tracks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_flood_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_forgets_only_idle_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watermark_pick_covers_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touched_is_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_watermark_after_a_merge_is_ignored, setup_ev, teardown),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("gw_journal", tests, NULL, NULL);
}
