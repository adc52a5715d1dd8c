/*
 * tk_wait: "acknowledged means replicated" (REDIS_WAIT_REPLICAS,
 * REDIS_WAIT_TIMEOUT_MS; docs/DEPLOY.md, "Acknowledged means replicated"),
 * the part the gateway and the worker share: the options, the WAIT command
 * and how its reply is read.
 *
 * Redis replicates asynchronously: a write is answered by the master before
 * any replica has it, so a master that dies right after answering can take
 * the write with it when a replica is promoted. `WAIT numreplicas timeout`
 * blocks the connection it is sent on until @numreplicas replicas have
 * acknowledged every write this connection made so far (the connection's
 * replication offset), or until @timeout ms passed, and answers how many
 * did. So it must go on the very connection the writes were made on, after
 * them: the gateway sends one per connection per loop turn after the claim
 * scripts' replies (gateway/claims/gw_batch_wait.c), the worker after an XREADGROUP that
 * delivered entries (worker/wk_read.c). WAIT does not make a replica fsync:
 * "acknowledged" means in the replica's memory.
 */
#ifndef TK_WAIT_H
#define TK_WAIT_H

#include <hiredis.h>

/*
 * Why 500 ms by default: a healthy replica acknowledges within a round trip
 * (the master asks it with REPLCONF GETACK as soon as a WAIT blocks), well
 * under a millisecond on one network, so 500 ms is passed only by a replica
 * that is stalled, cut off or far behind; a client then gets its 503 in half
 * a second and retries (the retry finds its claim, 200, once replicated),
 * rather than holding its request open. Shorter would fail claims over an
 * ordinary hiccup of a replica (a fork for a background save pauses it for
 * tens of milliseconds on a large instance).
 * Why at most 2000: WAIT blocks the connection it is sent on, so every
 * command behind it waits too, and the gateway drops a Redis connection that
 * answers nothing for GW_REDIS_STALL_MS (3 s; gateway/gw_redis.h), which
 * would turn every claim in flight on it into an uncertain one. The limit
 * keeps a WAIT clear of that with a margin for the commands around it.
 * And not 0: WAIT 0 means "block forever".
 */
#define TK_WAIT_TIMEOUT_MS_DEFAULT 500
#define TK_WAIT_TIMEOUT_MS_MAX 2000
#define TK_WAIT_REPLICAS_MAX 16

/** The two option entries, for the program's tk_opt table: @n and @ms are long *. */
#define TK_WAIT_OPTS(n, ms)                                                                                                  \
    {"--redis-wait-replicas", "REDIS_WAIT_REPLICAS", TK_OPT_INT, (n), 0, TK_WAIT_REPLICAS_MAX,                              \
     "replicas that must hold a claim before it is answered (gateway) or written to MariaDB (worker): WAIT after each "    \
     "claim batch; 0 = off, no WAIT (docs/DEPLOY.md)"},                                                                      \
    {"--redis-wait-timeout-ms", "REDIS_WAIT_TIMEOUT_MS", TK_OPT_INT, (ms), 1, TK_WAIT_TIMEOUT_MS_MAX,                       \
     "how long a WAIT waits for those replicas; then 503 (gateway) or a retry later (worker)"}

typedef enum {
    TK_WAIT_OK = 0, /* at least the replicas asked acknowledged */
    TK_WAIT_SHORT,  /* fewer did within the timeout */
    TK_WAIT_ERROR,  /* no reply (connection lost) or not an integer (an error: e.g. WAIT sent to a replica) */
} tk_wait_result_t;

/** Buffers for tk_wait_argv: the command's text lives in them. */
typedef struct {
    char n[24], ms[24];
    const char *argv[3];
    size_t lens[3];
} tk_wait_cmd_t;

/** Fills @cmd with `WAIT @replicas @timeout_ms` (argv and lens, 3 arguments). */
void tk_wait_argv(tk_wait_cmd_t *cmd, long replicas, long timeout_ms);

/** Reads WAIT's reply @rep (NULL: the connection failed) against @replicas wanted; @got (may be NULL) = replicas that acknowledged, -1 on TK_WAIT_ERROR. */
tk_wait_result_t tk_wait_result(const redisReply *rep, long replicas, long long *got);

#endif
