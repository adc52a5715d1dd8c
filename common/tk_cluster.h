/*
 * tk_cluster: the pure part of Redis Cluster routing — key slots, the slot
 * map, redirects and the seed list. No I/O: the callers (the gateway's
 * adapter, later the worker, tk-rebuild, tk-import) send CLUSTER SLOTS and
 * hand the reply in, and turn an error reply into a tk_cluster_redirect_t.
 *
 * Why the routing is correct
 * --------------------------
 * Redis Cluster splits the key space into 16384 slots; a key's slot is
 * CRC16(key) mod 16384, where CRC16 is the XMODEM variant (polynomial
 * 0x1021, initial value 0, no reflection, no final xor), and each slot is
 * served by exactly one master at a time. When a key holds a hash tag — the
 * bytes between its first '{' and the first '}' after it, when there is at
 * least one byte between them — only the tag is hashed. Every key of one
 * event carries the tag {event_id}, every key of one board {board_id}
 * (common/tk_keys.h), so all the keys of a script call about one event or
 * one board are in one slot, hence on one master, and Redis runs the call
 * there atomically as it does on a single Redis. (A call whose keys are in
 * two slots is refused by the cluster with CROSSSLOT: the scripts that
 * still do that are listed in docs/DESIGN.md, "Redis Cluster routing".)
 *
 * The map says which master to send a slot's commands to. It is a cache of
 * the cluster's own assignment, and it can be stale: a slot migrated to
 * another master (resharding), a replica promoted after its master failed,
 * a node that left. A stale entry never makes a command run on the wrong
 * data, because the node that receives a command for a slot it does not
 * serve refuses it and says where to go:
 * - MOVED <slot> <host>:<port>: the slot now lives there, permanently. The
 *   map's slot is set to that node (tk_cluster_map_moved) and the command
 *   sent again there; every later command for the slot goes there too.
 * - ASK <slot> <host>:<port>: the slot is being migrated and this key has
 *   already moved. The command is sent once to that node, preceded by
 *   ASKING on the same connection; the map does not change, because until
 *   the migration ends the other keys of the slot are still served by the
 *   old owner (which keeps answering ASK for the moved ones). When the
 *   migration ends the old owner answers MOVED, and the map follows.
 * - TRYAGAIN (a multi-key command during a migration whose keys are split
 *   for a moment) and CLUSTERDOWN (the cluster cannot serve the slot, e.g.
 *   while a failover elects a new master): nothing was run; retry a bounded
 *   number of times after a short wait, then answer 503.
 * Each MOVED fixes the one slot it names, so the map converges slot by slot
 * as commands meet it; a full refresh (CLUSTER SLOTS again, parsed with
 * tk_cluster_map_parse) after a lost connection, a failover or too many
 * MOVED fixes all of them at once. A master that failed answers nothing, so
 * only a refresh (asked of another node) learns its successor. Commands in
 * flight to one master keep their order on one connection; a redirect
 * re-sends only the command redirected.
 *
 * Ownership: every type here is a plain value with no pointer inside. The
 * caller allocates a tk_cluster_map_t (about 100 KiB: on the heap, not a
 * thread's stack) and frees it; nothing here allocates except
 * tk_cluster_map_parse, which frees its scratch copy before it returns. A
 * redisReply passed in stays the caller's (freeReplyObject, or hiredis after
 * an async callback). A map is not synchronised: one thread changes it, or
 * each loop thread keeps its own.
 */
#ifndef TK_CLUSTER_H
#define TK_CLUSTER_H

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define TK_CLUSTER_SLOTS 16384
/* Bounds, each refused with a clear error when exceeded (replicas excepted,
 * see tk_cluster_node_t). */
#define TK_CLUSTER_NODES_MAX 64    /* masters in a map (a table index fits in a uint8_t) */
#define TK_CLUSTER_REPLICAS_MAX 4  /* replicas kept per master */
#define TK_CLUSTER_SEEDS_MAX 16    /* host:port items in REDIS_CLUSTER */
#define TK_CLUSTER_HOST_MAX 255    /* bytes of a host name or address, without the NUL */
#define TK_CLUSTER_ID_MAX 40       /* bytes of a node id (40 hex digits) */
#define TK_CLUSTER_NO_NODE 0xff    /* tk_cluster_map_t.slot of a slot no master serves */

/** A node's address: a host name, an IPv4 or an IPv6 address (no brackets), and a port 1..65535. */
typedef struct {
    char host[TK_CLUSTER_HOST_MAX + 1];
    int port;
} tk_cluster_addr_t;

/**
 * A master. @id is "" when the reply did not give one (Redis < 4, or a node
 * added by a MOVED). @nreplicas counts the replicas kept in @replicas: at
 * most TK_CLUSTER_REPLICAS_MAX, the first ones listed; further ones are
 * checked but not kept (they are for /readyz and a failover's logs; no
 * command is routed to a replica).
 */
typedef struct {
    tk_cluster_addr_t addr;
    char id[TK_CLUSTER_ID_MAX + 1];
    unsigned nreplicas;
    tk_cluster_addr_t replicas[TK_CLUSTER_REPLICAS_MAX];
} tk_cluster_node_t;

/**
 * The slot map: @slot[s] is the index in @nodes of the master serving slot
 * s, or TK_CLUSTER_NO_NODE. Indexes are stable until the next
 * tk_cluster_map_parse (a MOVED only appends), so a loop thread may keep its
 * connections in an array indexed like @nodes and, after a refresh, find
 * each one's new index with tk_cluster_map_find. Read the fields directly;
 * change them only through the functions below (@covered is kept in step).
 */
typedef struct {
    unsigned nnodes;
    size_t covered; /* slots whose entry is a node */
    tk_cluster_node_t nodes[TK_CLUSTER_NODES_MAX];
    uint8_t slot[TK_CLUSTER_SLOTS];
} tk_cluster_map_t;

typedef enum {
    TK_CLUSTER_ERROR = 0, /* a plain error reply (or a redirect we cannot read): answer it as it is */
    TK_CLUSTER_MOVED,     /* the slot moved for good: tk_cluster_map_moved, then send again to @to */
    TK_CLUSTER_ASK,       /* send once to @to after ASKING; the map does not change */
    TK_CLUSTER_TRYAGAIN,  /* nothing ran: retry after a short wait, a bounded number of times */
    TK_CLUSTER_DOWN,      /* CLUSTERDOWN: nothing ran; as TRYAGAIN, then 503 and a refresh */
} tk_cluster_redirect_kind_t;

/** A classified error reply; @slot and @to are set for MOVED and ASK only. */
typedef struct {
    tk_cluster_redirect_kind_t kind;
    unsigned slot;
    tk_cluster_addr_t to;
} tk_cluster_redirect_t;

/** CRC16/XMODEM of @len bytes of @buf (Redis Cluster's key hash): "123456789" gives 0x31C3. */
uint16_t tk_crc16(const char *buf, size_t len);

/**
 * The cluster slot (0..16383) of the key @key of @len bytes (not
 * NUL-terminated; may hold any byte). With a hash tag — the bytes after the
 * first '{' up to the first '}' after it, at least one — only the tag is
 * hashed; "{}" or a '{' without a '}' after it means the whole key is.
 */
unsigned tk_key_slot(const char *key, size_t len);

/** Empties @m: no node, no slot covered. */
void tk_cluster_map_init(tk_cluster_map_t *m);

/**
 * Replaces @m by the map in @reply, a reply to CLUSTER SLOTS: an array of
 * [start, end, master, replica...] where each node is [endpoint, port, id,
 * ...] (the id from Redis 4, further fields ignored). An endpoint that is
 * NULL or "" means the host the reply came from, @origin_host (the
 * connection's; needed only then, may be NULL otherwise); "?" (a node
 * without the hostname cluster-preferred-endpoint-type asks for) is refused.
 * A master named in several ranges is one node (same host and port). An
 * empty array is a valid map that covers nothing.
 *
 * Returns 0, or -1 with @err saying what is wrong ("CLUSTER SLOTS range 2:
 * end is not a slot (an integer 0..16383)", a slot in two ranges, Redis's
 * own message for an error reply, the node bound, no memory) and @m
 * unchanged. @reply stays the caller's.
 */
int tk_cluster_map_parse(tk_cluster_map_t *m, const redisReply *reply, const char *origin_host, char *err, size_t errlen);

/** The index in @m->nodes of the master serving @slot, or -1 when none does (or @slot >= 16384). */
int tk_cluster_map_node(const tk_cluster_map_t *m, unsigned slot);

/** The index in @m->nodes of the master at @host:@port, or -1 when @m has none. */
int tk_cluster_map_find(const tk_cluster_map_t *m, const char *host, int port);

/** Slots served by a master in @m: TK_CLUSTER_SLOTS when the map covers every slot. */
size_t tk_cluster_covered(const tk_cluster_map_t *m);

/**
 * Classifies the error reply @str (@len bytes, the str of a
 * REDIS_REPLY_ERROR) into @out and returns its kind. MOVED and ASK must read
 * exactly "<KIND> <slot> <host>:<port>" (the port after the last ':', so an
 * IPv6 address needs no brackets); an empty host means the host the reply
 * came from, @origin_host (NULL: such a redirect is a plain error). One
 * that does not read so, or names "?" as its host, is TK_CLUSTER_ERROR:
 * answered as the error it is, never followed somewhere wrong. TRYAGAIN and
 * CLUSTERDOWN are recognised by their first word. Never fails.
 */
tk_cluster_redirect_kind_t tk_cluster_redirect(const char *str, size_t len, const char *origin_host, tk_cluster_redirect_t *out);

/**
 * Applies a MOVED (@rd->kind TK_CLUSTER_MOVED): slot @rd->slot is served
 * by @rd->to from now on, appended to @m's nodes when new (no id, no
 * replicas). Returns 0, or -1 with @err when @rd is not a MOVED or the node
 * table is full (TK_CLUSTER_NODES_MAX: refresh the map instead); @m is then
 * unchanged. An ASK is never applied: it is refused the same way.
 */
int tk_cluster_map_moved(tk_cluster_map_t *m, const tk_cluster_redirect_t *rd, char *err, size_t errlen);

/**
 * Parses a seed list, REDIS_CLUSTER's value: "host:port,host:port,...",
 * spaces around an item ignored, an IPv6 address in brackets
 * ("[::1]:7000"). Fills @out (room for @max, at most TK_CLUSTER_SEEDS_MAX
 * used) and @n. Returns 0, or -1 with @err naming the item (empty item, no
 * port, a port that is not 1..65535, a host too long, too many items),
 * @n set to 0 and @out's entries not to be used.
 */
int tk_cluster_seeds_parse(const char *s, tk_cluster_addr_t *out, size_t max, size_t *n, char *err, size_t errlen);

#endif
