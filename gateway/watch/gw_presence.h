/*
 * gw_presence: who is on which page of an event, from heartbeats.
 *
 * Every watch request (gw_route_watch.c) is a heartbeat of (event, page,
 * tab, user), stamped when it arrives and again when a held watch is
 * answered. The heartbeats of one loop turn are grouped per event and sent
 * in one call of lua/presence.lua per event (as gw_batcher.h groups claims),
 * at the end of the turn or at once when a group reaches
 * GW_PRESENCE_BATCH_MAX. The call is not waited for: a heartbeat that is
 * lost (Redis away) only makes a user look absent until the next one.
 *
 * The rule (docs/API.md): a user is present while a heartbeat is younger
 * than exactly GW_PRESENCE_TTL_MS at the time of the query, so every
 * reader filters by last-seen time (gw_presence_present, and the same
 * bound in Redis: scores > now - 30000). Cleanup in presence.lua only keeps
 * the sets small; nothing depends on it having run.
 */
#ifndef GW_PRESENCE_H
#define GW_PRESENCE_H

#include "gw_types.h"

#include <stddef.h>
#include <stdint.h>

#define GW_PRESENCE_TTL_MS 30000
#define GW_PRESENCE_BATCH_MAX 256
#define GW_PRESENCE_KEY_MAX 192

/** 1 when a heartbeat at @last_ms still counts at @now_ms (younger than 30 s), else 0. */
static inline int gw_presence_present(int64_t last_ms, int64_t now_ms)
{
    return now_ms - last_ms < GW_PRESENCE_TTL_MS;
}

/** The exclusive lower score bound "(<now - 30000>" of the users present at @now_ms, into @out (32 bytes). */
int gw_presence_min_arg(int64_t now_ms, char *out);

/** Writes the key of the users on @page / @tab of event @event_id into @out (GW_PRESENCE_KEY_MAX bytes). */
int gw_presence_page_key(const char *event_id, const char *page, int tab, char *out);

/** Writes the key of @user's pages on event @event_id into @out (GW_PRESENCE_KEY_MAX bytes). */
int gw_presence_user_key(const char *event_id, const char *user, char *out);

/** Creates @th's heartbeat batcher. NULL on no memory. */
gw_presence_t *gw_presence_create(gw_thread_t *th);

/** Drops what is queued (stopping: a heartbeat lost is harmless) and frees @p. After the thread's Redis connection is gone. */
void gw_presence_destroy(gw_presence_t *p);

/** Queues a heartbeat of @user on @page / @tab of @event_id at @at_ms (all validated). Its loop thread only. */
void gw_presence_beat(gw_presence_t *p, const char *event_id, const char *user, const char *page, int tab, int64_t at_ms);

#endif
