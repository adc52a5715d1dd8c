/*
 * gw_connlimit: open connections per client address, counted across all
 * loop threads (CONN_PER_IP; docs/ABUSE.md, "Connections per address").
 *
 * The guarantee is exact: at no moment are more than @limit connections of
 * one key open, whichever threads the kernel handed them to. A connection
 * takes its slot when it is accepted (or, behind a PROXY protocol balancer,
 * when its line has named the client) and gives it back when its socket
 * closes, on whatever path.
 *
 * The table: one array of (key, count) slots, open addressing with linear
 * probing, and deletion by backward shift (no tombstones, so probe lengths
 * never degrade). Keys are the keyed 64-bit hashes of gw_addr_key (random
 * per process: nobody can aim a collision at a victim). Only addresses
 * with a connection open have a slot, and every connection holds a file
 * descriptor, so sizing the table at twice the descriptor limit keeps it at
 * most half full; should it ever fill (a smaller table, or more
 * descriptors later), a new address is let in uncounted and reported
 * (GW_CONNLIMIT_UNTRACKED), never refused for want of room.
 *
 * Threads: one mutex, held for a probe of a half-empty table; taken only at
 * accept and close, never per request.
 */
#ifndef GW_CONNLIMIT_H
#define GW_CONNLIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_connlimit gw_connlimit_t;

typedef enum {
    GW_CONNLIMIT_TAKEN = 0,    /* counted: release it at close */
    GW_CONNLIMIT_OVER,         /* the key already holds @limit connections: refuse; nothing counted */
    GW_CONNLIMIT_UNTRACKED,    /* the table is full: let in, nothing counted */
} gw_connlimit_result_t;

/**
 * A table for @limit connections per key (at least 1), with room for
 * @max_keys keys (rounded up to a power of two, at least 64). NULL on no
 * memory. Free with gw_connlimit_free.
 */
gw_connlimit_t *gw_connlimit_new(long limit, size_t max_keys);

void gw_connlimit_free(gw_connlimit_t *t);

/** Counts one more connection of @key (never 0). Any thread. */
gw_connlimit_result_t gw_connlimit_take(gw_connlimit_t *t, uint64_t key);

/** Gives back one connection of @key, which gw_connlimit_take counted (TAKEN). Any thread. */
void gw_connlimit_release(gw_connlimit_t *t, uint64_t key);

/** The connections counted for @key now. */
long gw_connlimit_count(gw_connlimit_t *t, uint64_t key);

/** Keys with a connection open (slots in use). */
size_t gw_connlimit_keys(gw_connlimit_t *t);

#endif
