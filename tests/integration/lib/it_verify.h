/*
 * it_verify: the book checks after a claim storm (it_storm.h), at
 * quiescence: pending = 0 and the books agree (bounded by cfg.drain_ms).
 *
 * The checks: granted = stock exactly in Redis and MariaDB; every claim a
 * client was told (201, or 200 carrying its claim) has exactly one row,
 * `confirmed`, with the ticket and claim id the client was told; rows
 * nobody was told about belong to users whose every answer was lost
 * (ambiguous), and there are none when every user got an answer; no user
 * holds more than one unit; no user got two different claims or two 201s;
 * tickets: the confirmed rows hold exactly tickets 1..stock (tickets are
 * drawn only by grants and every claim asks for 1 unit, so no claim was
 * refused for stock before the stock was gone, and the sell-out left
 * nothing unsold), and Redis's seq and the admin view's tickets_issued are
 * stock. With IT_VERIFY_TICKET_GAPS (the scenarios where the fallback
 * granted): there the fallback's first ticket lies above the highest ticket
 * it knew plus the claims whose Redis reply was lost (granted or not,
 * unknowable), so the rows' tickets must be unique, >= 1 and strictly
 * increasing, with gaps (printed) no more than the claims that can be in
 * flight (the storm's connections), and seq = tickets_issued = the highest
 * ticket. Always: no 201 in a chunk sent after a chunk that got `sold_out`
 * (no grant after a refusal for stock); a told claim beyond the stock is an
 * oversell; Redis and MariaDB books equal in the admin view and in the
 * stores.
 */
#ifndef IT_VERIFY_H
#define IT_VERIFY_H

#include "it_api.h"
#include "it_storm.h"

/* A verdict built by several checks: ok until one fails; why lists every failure ("...; ..."). */
typedef struct {
    char why[1024];
    int ok;
} it_verdict_t;

/** When @bad: @v is not ok any more and the message (printf @fmt) is appended to v->why (cut when full). */
void it_verdict_fail_if(it_verdict_t *v, int bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* it_verify_storm's flags. */
enum {
    /*
     * The tickets may have gaps (the fallback granted): unique, >= 1 and
     * strictly increasing instead of exactly 1..stock; Redis seq and
     * tickets_issued equal the highest ticket instead of stock.
     */
    IT_VERIFY_TICKET_GAPS = 1,
};

/**
 * Every invariant above over the joined storm @s on @f, at quiescence.
 * Prints the verdict line "chaos @name: PASS|FAIL … @extra …" (and what
 * broke) and fails the test when an invariant is broken. @s stays the
 * caller's.
 */
void it_verify_storm(it_fix_t *f, it_storm_t *s, const char *name, const char *extra, int flags);

#endif
