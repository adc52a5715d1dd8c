/*
 * gw_keep: how many freed objects a per-thread free list may keep.
 *
 * Three hot paths keep what they free for reuse on the same thread
 * (gw_http.c's request contexts, gw_batcher.c's claim batches,
 * gw_redis_reply.c's hiredis replies). A kept object handed out again
 * hides a use after its release from AddressSanitizer: the memory is never
 * freed, so the stale pointer reads the next owner's data and nothing is
 * reported. In a build with AddressSanitizer (MODE=san, what the unit and
 * integration tests run) the lists keep nothing, so every release is a
 * free() and such a bug is reported as before the lists existed; the
 * release build keeps its lists.
 */
#ifndef GW_KEEP_H
#define GW_KEEP_H

#if defined(__SANITIZE_ADDRESS__)
#define GW_KEEP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_KEEP_ASAN 1
#endif
#endif

/** @n in a release build; 0 under AddressSanitizer (every release frees). */
#ifdef GW_KEEP_ASAN
#define GW_KEEP(n) 0
#else
#define GW_KEEP(n) (n)
#endif

#endif
