/*
 * wk_malformed: stream entries that are not claims, set aside so that they
 * neither stop the drain nor make a claim read "confirmed" without a row.
 *
 * claim.lua writes every entry of tk:{E}:q, always in the shape of
 * docs/CONTRACTS.md, so an entry wk_row_parse refuses comes from elsewhere:
 * a hand-made XADD, a bug, a damaged AOF. Before, the drain acked such an
 * entry and wrote nothing, which broke the status rule of lua/confirm.lua:
 * a 'p' record reads confirmed once its ticket is below the oldest entry
 * left, so a claim whose own entry was the damaged one would read
 * "confirmed" with no row in MariaDB, and nothing would say where it went.
 * Keeping it pending instead would stop the rule for every later claim of
 * the event (they would read "pending" for ever) and grow the stream: one
 * bad entry must stop neither.
 *
 * A packed entry (one per claim-script call, a line per claim) is kept line
 * by line (wk_read.c add_bad): each line names its own claim and gets its
 * own dead letter "<entry id>/<line>", and the entry is acked once every
 * line is stored (wk_confirm.c). Each line, or an entry of one claim, is
 * set aside like a poison entry (worker/wk_poison.c), in this order, each
 * step idempotent:
 *  0. it waits until every entry before it in the stream is acked
 *     (XPENDING over the ids below it is empty). Entries are acked only
 *     after their rows commit, and a claim's own entry precedes any copy of
 *     it (ids only grow), so from then on, if the claim the entry names was
 *     written from another entry, its row is in MariaDB. The drain confirms
 *     a batch's rows before it settles its malformed entries, so one batch
 *     is enough in the common case; otherwise the entry stays pending and
 *     comes back by XAUTOCLAIM.
 *  1. the record it names is read: when the entry names a valid user and a
 *     ticket (wk_row_salvage) and that user's record holds that ticket as
 *     'p' (or already 'r', a replay), the entry may be that claim's own;
 *     its quantity is the record's;
 *  2. in one transaction, MariaDB is asked whether that user holds a claims
 *     row: if so, the entry was a copy (the claim was written from its own
 *     entry, step 0), and it names no claim after all; then the entry is
 *     stored in claims_dead (primary key event and entry id, so a replay
 *     adds nothing) with error 0, the reason, and the quantity read in 1
 *     when it is the claim's own entry, else 0 (no unit is granted for it,
 *     and the books of docs/DESIGN.md "Hole 3" still hold);
 *  3. the confirm acks it and, when it is the claim's own, marks the record
 *     'r' only while it is still 'p' with that ticket (lua/confirm.lua's
 *     ticket guard: an entry naming another user's ticket marks nothing).
 * A worker that dies between any two steps leaves the entry pending, and
 * the next one redoes the steps with the same result. If 2 fails (MariaDB
 * refused even that) or Redis cannot be read, the entry stays pending and
 * is retried after the claim idle time, as a poison entry's dead letter is.
 * The claim whose own entry it was then reads "rejected" with reason
 * dead_letter, its units stay granted, and the books read redis.granted =
 * sold + rejected + dead.
 *
 * What is not covered: an entry that names a claim but whose ticket cannot
 * be read is stored with quantity 0 and marks nothing; if it was that
 * claim's own, the claim then reads "confirmed" with no row, and the books
 * show its units missing. And an admin cancel of the very claim between
 * step 2 and step 3 returns its units while the dead letter holds them.
 * Nothing but damage writes such an entry; the ERROR log and the
 * dead-letter counter are the alert.
 */
#include "tk_claim.h"
#include "tk_log.h"
#include "wk_drain_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Step 1 for @b: 1 when @b names a claim whose record is 'p' or 'r' with
 * @b's ticket (then b->row.quantity is the record's), 0 when it names none,
 * -1 when Redis could not be read.
 */
static int names_claim(wk_drain_t *d, wk_bad_t *b)
{
    if (b->row.ulen == 0 || b->row.ticket <= 0)
        return 0;
    const wk_stream_t *s = &d->streams[b->stream];
    /* HMGET, not HGET: the worker's Redis user may run only what the drain needs (scripts/services.sh, ACL_WORKER). */
    const char *argv[3] = {"HMGET", s->claims, b->row.user};
    size_t lens[3] = {5, strlen(s->claims), b->row.ulen};
    redisReply *r = wk_redis_cmd(&d->redis, s->claims, 3, argv, lens);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        tk_warn("%s: reading the record of %s: %s; entry %s stays pending", s->claims, b->row.user,
                r != NULL ? r->str : "redis unreachable", b->id);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    int found = 0;
    tk_claim_t c;
    const redisReply *rec = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0] : NULL;
    if (rec != NULL && rec->type == REDIS_REPLY_STRING && tk_claim_decode(rec->str, rec->len, &c) == 0 && c.ticket == b->row.ticket &&
        c.quantity > 0 && (c.status == TK_CLAIM_PENDING || c.status == TK_CLAIM_REJECTED)) {
        b->row.quantity = c.quantity;
        found = 1;
    }
    freeReplyObject(r);
    return found;
}

/* Step 0 for @b: 1 when an entry before it is still pending in the group (then it waits), 0 when none, -1 when Redis failed. */
static int earlier_pending(wk_drain_t *d, const wk_bad_t *b)
{
    const wk_stream_t *s = &d->streams[b->stream];
    char below[WK_ENTRY_ID_MAX + 1];
    snprintf(below, sizeof(below), "(%s", b->id);
    const char *argv[6] = {"XPENDING", s->key, TK_STREAM_GROUP, "-", below, "1"};
    redisReply *r = wk_redis_cmd(&d->redis, s->key, 6, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        tk_warn("%s: XPENDING below %s: %s; it stays pending", s->key, b->id,
                r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "redis unreachable");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    int pending = r->elements > 0;
    freeReplyObject(r);
    if (pending)
        tk_info("%s: entry %s waits until the entries before it are written", s->key, b->id);
    return pending;
}

void wk_malformed_settle(wk_drain_t *d, wk_write_stats_t *st)
{
    for (size_t i = 0; i < d->nbad; i++) {
        wk_bad_t *b = &d->bad[i];
        const wk_stream_t *s = &d->streams[b->stream];
        b->ack = 0;
        b->letter = 0;
        if (earlier_pending(d, b) != 0)
            continue;
        int claim = names_claim(d, b);
        if (claim < 0)
            continue;
        int claimed = 0;
        int stored = wk_poison_store(d->writer, s->event, s->elen, &b->row, 0, b->reason, claim ? &claimed : NULL, d->stop, st);
        if (stored < 0)
            continue;
        if (claimed) {
            claim = 0; /* a copy of a claim written from its own entry */
            b->row.quantity = 0;
        }
        b->ack = 1;
        b->letter = claim ? TK_CLAIM_REJECTED : 0;
        st->dead += (uint64_t)stored; /* once, not again on a replay */
        tk_error("event %s: entry %s set aside in claims_dead (%s)%s%s%s", s->event, b->id, b->reason,
                 claim ? "; the claim it names is now rejected: user " : "", claim ? b->row.user : "",
                 claimed ? "; a copy of a claim already written: nothing marked" : "");
    }
}
