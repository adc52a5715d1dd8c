/* Unit tests of common/tk_cluster: CRC16 and key slots, the slot map from
 * CLUSTER SLOTS, redirects, the REDIS_CLUSTER seed list. */
#include "tk_cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------ */

/* CRC16/XMODEM bit by bit, straight from the definition (poly 0x1021, init
 * 0, MSB first, no final xor): an implementation independent of the table. */
static uint16_t crc16_bits(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* redisReply trees built by hand, freed with freeReplyObject (hiredis frees
 * str and the element array with its elements). */
static redisReply *r_new(int type)
{
    redisReply *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->type = type;
    return r;
}

static redisReply *r_int(long long v)
{
    redisReply *r = r_new(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

static redisReply *r_strtype(int type, const char *s)
{
    redisReply *r = r_new(type);
    r->len = strlen(s);
    r->str = malloc(r->len + 1);
    assert_non_null(r->str);
    memcpy(r->str, s, r->len + 1);
    return r;
}

static redisReply *r_str(const char *s)
{
    return r_strtype(REDIS_REPLY_STRING, s);
}

/* An array of @n elements, to fill. */
static redisReply *r_arrn(size_t n)
{
    redisReply *r = r_new(REDIS_REPLY_ARRAY);
    r->elements = n;
    r->element = calloc(n > 0 ? n : 1, sizeof(redisReply *));
    assert_non_null(r->element);
    return r;
}

/* An array of @n replies given as arguments. */
static redisReply *r_arr(size_t n, ...)
{
    redisReply *r = r_arrn(n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

/* A node entry [host, port, id] (no id when @id is NULL). */
static redisReply *node(const char *host, long long port, const char *id)
{
    if (id == NULL)
        return r_arr(2, r_str(host), r_int(port));
    return r_arr(3, r_str(host), r_int(port), r_str(id));
}

static redisReply *range(long long start, long long end, redisReply *master)
{
    return r_arr(3, r_int(start), r_int(end), master);
}

/* Three masters covering every slot, as redis-cli --cluster create makes
 * them; each with one replica, the second with two, and Redis 7's fourth
 * field (metadata) on one node, which is ignored. */
static redisReply *three_masters(void)
{
    return r_arr(3,
                 r_arr(4, r_int(0), r_int(5460), node("10.0.0.1", 7000, "aaaa"), node("10.0.0.4", 7003, "dddd")),
                 r_arr(5, r_int(5461), r_int(10922), node("10.0.0.2", 7001, "bbbb"), node("10.0.0.5", 7004, "eeee"),
                       node("10.0.0.6", 7005, NULL)),
                 r_arr(4, r_int(10923), r_int(16383),
                       r_arr(4, r_str("10.0.0.3"), r_int(7002), r_str("cccc"), r_arr(2, r_str("hostname"), r_str("c"))),
                       node("10.0.0.7", 7006, "ffff")));
}

static tk_cluster_map_t *good_map(void)
{
    tk_cluster_map_t *m = malloc(sizeof(*m));
    assert_non_null(m);
    tk_cluster_map_init(m);
    redisReply *rep = three_masters();
    char err[256] = "";
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    freeReplyObject(rep);
    return m;
}

/* ---- CRC16 and key slots ------------------------------------------------ */

static void test_crc16_vectors(void **state)
{
    (void)state;
    assert_int_equal(tk_crc16("123456789", 9), 0x31C3);
    assert_int_equal(tk_crc16("", 0), 0);
    /* Computed bit by bit (above), and by hand for the short ones. */
    assert_int_equal(tk_crc16("a", 1), 0x7C87);
    assert_int_equal(tk_crc16("foo", 3), 0xAF96);
    assert_int_equal(tk_crc16("hello", 5), 0xC362);
    /* Every single byte (each table entry) and strings with high bytes. */
    for (int i = 0; i < 256; i++) {
        char c = (char)i;
        assert_int_equal(tk_crc16(&c, 1), crc16_bits(&c, 1));
    }
    const char *more[] = {"tk:{cookie-day}:ev", "\xff\xfe\x80\x7f\x00 zz", "The quick brown fox jumps over the lazy dog"};
    size_t lens[] = {18, 8, 43};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(tk_crc16(more[i], lens[i]), crc16_bits(more[i], lens[i]));
}

static unsigned slot_of(const char *key)
{
    return tk_key_slot(key, strlen(key));
}

static void test_key_slot(void **state)
{
    (void)state;
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("hello"), 866);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("123456789"), 0x31C3 % 16384);
    assert_int_equal(tk_key_slot(NULL, 0), 0);
    /* the spec's examples */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_not_equal(slot_of("user1000.following"), slot_of("user1000.followers"));
    assert_int_equal(slot_of("foo{}{bar}"), tk_crc16("foo{}{bar}", 10) % 16384); /* empty tag: the whole key */
    assert_int_not_equal(slot_of("foo{}{bar}"), slot_of("bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar")); /* tag "{bar" */
    assert_int_equal(slot_of("foo{{bar}}zap"), tk_crc16("{bar", 4) % 16384);
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar")); /* the first tag */
    assert_int_equal(slot_of("foo{bar"), tk_crc16("foo{bar", 7) % 16384); /* no '}': the whole key */
    assert_int_equal(slot_of("foo}bar{"), tk_crc16("foo}bar{", 8) % 16384); /* '}' before '{' */
    assert_int_equal(slot_of("a{b}"), slot_of("b"));
    /* the project's keys: every key of an event in its event's slot */
    assert_int_equal(slot_of("tk:{cookie-day}:ev"), slot_of("cookie-day"));
    assert_int_equal(slot_of("tk:{cookie-day}:q"), slot_of("tk:{cookie-day}:wq:line"));
    assert_int_equal(slot_of("tk:lb:{fans}"), slot_of("tk:lb:{fans}:z:12"));
    /* only @len bytes: a tag beyond them is not seen */
    assert_int_equal(tk_key_slot("ab{c}", 3), tk_crc16("ab{", 3) % 16384);
    assert_int_equal(tk_key_slot("x{ab}", 4), tk_crc16("x{ab", 4) % 16384);
}

/* ---- the slot map ------------------------------------------------------- */

static void test_map_good(void **state)
{
    (void)state;
    tk_cluster_map_t *m = good_map();
    assert_int_equal(m->nnodes, 3);
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS);
    assert_int_equal(tk_cluster_map_node(m, 0), 0);
    assert_int_equal(tk_cluster_map_node(m, 5460), 0);
    assert_int_equal(tk_cluster_map_node(m, 5461), 1);
    assert_int_equal(tk_cluster_map_node(m, 10922), 1);
    assert_int_equal(tk_cluster_map_node(m, 10923), 2);
    assert_int_equal(tk_cluster_map_node(m, 16383), 2);
    assert_int_equal(tk_cluster_map_node(m, 16384), -1);
    assert_int_equal(tk_cluster_map_node(m, slot_of("foo")), 2);
    assert_string_equal(m->nodes[0].addr.host, "10.0.0.1");
    assert_int_equal(m->nodes[0].addr.port, 7000);
    assert_string_equal(m->nodes[0].id, "aaaa");
    assert_int_equal(m->nodes[0].nreplicas, 1);
    assert_string_equal(m->nodes[0].replicas[0].host, "10.0.0.4");
    assert_int_equal(m->nodes[0].replicas[0].port, 7003);
    assert_int_equal(m->nodes[1].nreplicas, 2);
    assert_string_equal(m->nodes[1].replicas[1].host, "10.0.0.6");
    assert_int_equal(m->nodes[1].replicas[1].port, 7005);
    assert_string_equal(m->nodes[2].id, "cccc");
    assert_int_equal(tk_cluster_map_find(m, "10.0.0.2", 7001), 1);
    assert_int_equal(tk_cluster_map_find(m, "10.0.0.2", 7002), -1);
    assert_int_equal(tk_cluster_map_find(m, "10.0.0.4", 7003), -1); /* a replica is not a master */
    free(m);
}

static void test_map_shapes(void **state)
{
    (void)state;
    tk_cluster_map_t *m = malloc(sizeof(*m));
    assert_non_null(m);
    tk_cluster_map_init(m);
    assert_int_equal(tk_cluster_covered(m), 0);
    assert_int_equal(tk_cluster_map_node(m, 0), -1);
    char err[256] = "";

    /* One master in two ranges is one node; Redis 3's [ip, port] without id;
     * NULL and "" endpoints are the origin host. */
    redisReply *nil = r_new(REDIS_REPLY_NIL);
    redisReply *rep = r_arr(4, range(0, 99, node("10.0.0.1", 7000, NULL)), range(100, 199, r_arr(2, nil, r_int(7001))),
                            range(200, 299, node("10.0.0.1", 7000, NULL)), range(300, 16383, node("", 7002, "x")));
    assert_int_equal(tk_cluster_map_parse(m, rep, "seed.example", err, sizeof(err)), 0);
    assert_int_equal(m->nnodes, 3);
    assert_int_equal(tk_cluster_map_node(m, 250), 0);
    assert_string_equal(m->nodes[0].id, "");
    assert_int_equal(m->nodes[0].nreplicas, 0);
    assert_string_equal(m->nodes[1].addr.host, "seed.example");
    assert_int_equal(m->nodes[1].addr.port, 7001);
    assert_string_equal(m->nodes[2].addr.host, "seed.example");
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS);
    /* the same reply without an origin host: refused */
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "origin"));
    freeReplyObject(rep);

    /* Gaps: slot 5461 and the last 10 slots are served by nobody. */
    rep = r_arr(2, range(0, 5460, node("10.0.0.1", 7000, NULL)), range(5462, 16373, node("10.0.0.2", 7001, NULL)));
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    freeReplyObject(rep);
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS - 11);
    assert_int_equal(tk_cluster_map_node(m, 5461), -1);
    assert_int_equal(tk_cluster_map_node(m, 5462), 1);
    assert_int_equal(tk_cluster_map_node(m, 16374), -1);
    assert_int_equal(tk_cluster_map_node(m, 16373), 1);

    /* Ranges in any order; an empty reply is a map that covers nothing. */
    rep = r_arr(2, range(8192, 16383, node("b", 2, NULL)), range(0, 8191, node("a", 1, NULL)));
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    freeReplyObject(rep);
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS);
    assert_string_equal(m->nodes[tk_cluster_map_node(m, 0)].addr.host, "a");
    rep = r_arr(0);
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    freeReplyObject(rep);
    assert_int_equal(tk_cluster_covered(m), 0);
    assert_int_equal(m->nnodes, 0);

    /* More replicas than kept: checked, the first TK_CLUSTER_REPLICAS_MAX kept. */
    rep = r_arr(1, r_arr(9, r_int(0), r_int(16383), node("m", 1, NULL), node("r1", 2, NULL), node("r2", 3, NULL),
                         node("r3", 4, NULL), node("r4", 5, NULL), node("r5", 6, NULL), node("r6", 7, NULL)));
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    freeReplyObject(rep);
    assert_int_equal(m->nodes[0].nreplicas, TK_CLUSTER_REPLICAS_MAX);
    assert_string_equal(m->nodes[0].replicas[3].host, "r4");
    free(m);
}

/* Parses @rep (freed) over a good map: must fail with @want in the error
 * and leave the map exactly as it was. */
static void expect_bad(redisReply *rep, const char *origin, const char *want)
{
    tk_cluster_map_t *m = good_map();
    tk_cluster_map_t *before = malloc(sizeof(*before));
    assert_non_null(before);
    memcpy(before, m, sizeof(*m));
    char err[256] = "";
    assert_int_equal(tk_cluster_map_parse(m, rep, origin, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    assert_memory_equal(m, before, sizeof(*m));
    freeReplyObject(rep);
    free(before);
    free(m);
}

static void test_map_malformed(void **state)
{
    (void)state;
    char err[256];
    tk_cluster_map_t *m = good_map();
    assert_int_equal(tk_cluster_map_parse(m, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "connection lost"));
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS);
    free(m);

    expect_bad(r_strtype(REDIS_REPLY_ERROR, "ERR This instance has cluster support disabled"), NULL, "cluster support disabled");
    expect_bad(r_int(3), NULL, "not an array");
    expect_bad(r_arr(1, r_str("0 16383")), NULL, "range 1: not an array");
    expect_bad(r_arr(1, r_arr(2, r_int(0), r_int(16383))), NULL, "range 1: not an array of start, end and master");
    /* a bad range after good ones: still nothing changes */
    expect_bad(r_arr(3, range(0, 100, node("x", 1, NULL)), range(101, 200, node("y", 1, NULL)), r_int(7)), NULL,
               "range 3: not an array");
}

static void test_map_malformed_fields(void **state)
{
    (void)state;
    expect_bad(r_arr(1, r_arr(3, r_str("0"), r_int(16383), node("a", 1, NULL))), NULL, "start is not a slot");
    expect_bad(r_arr(1, r_arr(3, r_int(0), r_str("16383"), node("a", 1, NULL))), NULL, "end is not a slot");
    expect_bad(r_arr(1, range(0, 100, r_str("a:1"))), NULL, "master: not an array");
    expect_bad(r_arr(1, range(0, 100, r_arr(2, r_int(1), r_int(1)))), NULL, "endpoint is not a string");
    expect_bad(r_arr(1, range(0, 100, r_arr(2, r_str("a"), r_str("7000")))), NULL, "port is not an integer");
    expect_bad(r_arr(1, range(0, 100, r_arr(3, r_str("a"), r_int(1), r_int(5)))), NULL, "node id is not a string");
    expect_bad(r_arr(1, range(0, 100, node("a", 1, "0123456789012345678901234567890123456789X"))), NULL,
               "node id is not a node id");
    /* slots out of range, start after end */
    expect_bad(r_arr(2, range(0, 100, node("a", 1, NULL)), range(101, 16384, node("b", 1, NULL))), NULL,
               "range 2: end is not a slot");
    expect_bad(r_arr(1, range(-1, 100, node("a", 1, NULL))), NULL, "range 1: start is not a slot");
    expect_bad(r_arr(1, range(200, 100, node("a", 1, NULL))), NULL, "start 200 after end 100");
    /* missing or bad port */
    expect_bad(r_arr(1, range(0, 100, r_arr(1, r_str("a")))), NULL, "master: no port");
    expect_bad(r_arr(1, range(0, 100, node("a", 0, NULL))), NULL, "port is not 1..65535");
    expect_bad(r_arr(1, range(0, 100, node("a", 65536, NULL))), NULL, "port is not 1..65535");
    expect_bad(r_arr(1, r_arr(4, r_int(0), r_int(100), node("a", 1, NULL), r_arr(1, r_str("r")))), NULL,
               "range 1, replica 1: no port");
    /* a slot twice, an unusable endpoint, no origin for an empty one */
    expect_bad(r_arr(2, range(0, 100, node("a", 1, NULL)), range(100, 200, node("b", 1, NULL))), NULL,
               "slot 100 is in an earlier range");
    expect_bad(r_arr(1, range(0, 100, node("?", 1, NULL))), NULL, "endpoint '?'");
    expect_bad(r_arr(1, range(0, 100, node("", 1, NULL))), NULL, "origin host is not known");
    char longhost[300];
    memset(longhost, 'h', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    expect_bad(r_arr(1, range(0, 100, node(longhost, 1, NULL))), NULL, "longer than 255");
}

static void test_map_node_bound(void **state)
{
    (void)state;
    /* TK_CLUSTER_NODES_MAX masters fit; one more is refused. */
    redisReply *rep = r_arrn(TK_CLUSTER_NODES_MAX + 1);
    for (int i = 0; i <= TK_CLUSTER_NODES_MAX; i++) {
        char host[32];
        snprintf(host, sizeof(host), "10.1.0.%d", i);
        rep->element[i] = range(i, i, node(host, 7000, NULL));
    }
    rep->elements = TK_CLUSTER_NODES_MAX;
    tk_cluster_map_t *m = malloc(sizeof(*m));
    assert_non_null(m);
    tk_cluster_map_init(m);
    char err[256] = "";
    assert_int_equal(tk_cluster_map_parse(m, rep, NULL, err, sizeof(err)), 0);
    assert_int_equal(m->nnodes, TK_CLUSTER_NODES_MAX);
    assert_int_equal(tk_cluster_map_node(m, TK_CLUSTER_NODES_MAX - 1), TK_CLUSTER_NODES_MAX - 1);
    free(m);
    rep->elements = TK_CLUSTER_NODES_MAX + 1;
    expect_bad(rep, NULL, "more than 64 masters");
}

/* ---- redirects ---------------------------------------------------------- */

static tk_cluster_redirect_kind_t classify(const char *s, const char *origin, tk_cluster_redirect_t *rd)
{
    return tk_cluster_redirect(s, strlen(s), origin, rd);
}

static void test_redirect_moved_ask(void **state)
{
    (void)state;
    tk_cluster_redirect_t rd;
    assert_int_equal(classify("MOVED 3999 127.0.0.1:6381", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(rd.kind, TK_CLUSTER_MOVED);
    assert_int_equal(rd.slot, 3999);
    assert_string_equal(rd.to.host, "127.0.0.1");
    assert_int_equal(rd.to.port, 6381);

    assert_int_equal(classify("ASK 16383 redis-2.internal:7002", NULL, &rd), TK_CLUSTER_ASK);
    assert_int_equal(rd.slot, 16383);
    assert_string_equal(rd.to.host, "redis-2.internal");
    assert_int_equal(rd.to.port, 7002);

    /* IPv6 without brackets, as Redis writes it: the port after the last ':' */
    assert_int_equal(classify("MOVED 0 2001:db8::1:7000", NULL, &rd), TK_CLUSTER_MOVED);
    assert_string_equal(rd.to.host, "2001:db8::1");
    assert_int_equal(rd.to.port, 7000);

    /* an empty host: the one the reply came from */
    assert_int_equal(classify("MOVED 12 :6380", "10.0.0.9", &rd), TK_CLUSTER_MOVED);
    assert_string_equal(rd.to.host, "10.0.0.9");
    assert_int_equal(rd.to.port, 6380);
    assert_int_equal(classify("MOVED 12 :6380", NULL, &rd), TK_CLUSTER_ERROR);

    /* only @len bytes are read */
    assert_int_equal(tk_cluster_redirect("ASK 5 h:12345", 11, NULL, &rd), TK_CLUSTER_ASK);
    assert_int_equal(rd.to.port, 123);
}

static void test_redirect_other(void **state)
{
    (void)state;
    tk_cluster_redirect_t rd;
    assert_int_equal(classify("TRYAGAIN Multiple keys request during rehashing of slot", NULL, &rd), TK_CLUSTER_TRYAGAIN);
    assert_int_equal(classify("TRYAGAIN", NULL, &rd), TK_CLUSTER_TRYAGAIN);
    assert_int_equal(classify("CLUSTERDOWN The cluster is down", NULL, &rd), TK_CLUSTER_DOWN);
    assert_int_equal(rd.kind, TK_CLUSTER_DOWN);
    assert_int_equal(classify("CLUSTERDOWN Hash slot not served", NULL, &rd), TK_CLUSTER_DOWN);
    /* plain errors, and redirects we cannot read: never followed */
    const char *plain[] = {
        "ERR wrong number of arguments",
        "NOSCRIPT No matching script. Please use EVAL.",
        "CROSSSLOT Keys in request don't hash to the same slot",
        "CLUSTERDOWNX",
        "TRYAGAINX 1",
        "MOVED",
        "MOVED ",
        "MOVED 1",
        "MOVED 1 ",
        "MOVED 1 host",
        "MOVED 1 host:",
        "MOVED 1 host:0",
        "MOVED 1 host:65536",
        "MOVED 1 host:80x",
        "MOVED 16384 host:1",
        "MOVED 123456 host:1",
        "MOVED -1 host:1",
        "MOVED x host:1",
        "MOVED  1 host:1",
        "MOVED 1 host:1 extra",
        "MOVED 1 ?:7000",
        "moved 1 host:1",
        "MOVEDX 1 host:1",
        "ASKING 1 host:1",
        "ASK 1",
        "",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        memset(&rd, 0x5a, sizeof(rd));
        if (classify(plain[i], "origin", &rd) != TK_CLUSTER_ERROR)
            fail_msg("\"%s\" is not a plain error", plain[i]);
        assert_int_equal(rd.kind, TK_CLUSTER_ERROR);
        assert_int_equal(rd.slot, 0);
        assert_string_equal(rd.to.host, "");
    }
    assert_int_equal(tk_cluster_redirect(NULL, 0, NULL, &rd), TK_CLUSTER_ERROR);
}

static void test_apply_moved(void **state)
{
    (void)state;
    tk_cluster_map_t *m = good_map();
    char err[256] = "";
    tk_cluster_redirect_t rd;
    unsigned s = slot_of("foo"); /* 12182, on the third master */

    /* to a known master: the slot moves, no node is added */
    assert_int_equal(classify("MOVED 12182 10.0.0.1:7000", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    assert_int_equal(tk_cluster_map_node(m, s), 0);
    assert_int_equal(tk_cluster_map_node(m, s + 1), 2); /* one slot only */
    assert_int_equal(m->nnodes, 3);
    assert_int_equal(tk_cluster_covered(m), TK_CLUSTER_SLOTS);

    /* to a new master (a failover's promoted replica): appended */
    assert_int_equal(classify("MOVED 0 10.0.0.4:7003", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    assert_int_equal(m->nnodes, 4);
    assert_int_equal(tk_cluster_map_node(m, 0), 3);
    assert_string_equal(m->nodes[3].addr.host, "10.0.0.4");
    assert_int_equal(m->nodes[3].addr.port, 7003);
    assert_string_equal(m->nodes[3].id, "");
    assert_int_equal(m->nodes[3].nreplicas, 0);
    assert_int_equal(tk_cluster_map_node(m, 1), 0);
    assert_int_equal(tk_cluster_map_find(m, "10.0.0.4", 7003), 3);
    free(m);

    /* into a gap: the slot becomes covered */
    m = malloc(sizeof(*m));
    assert_non_null(m);
    tk_cluster_map_init(m);
    assert_int_equal(classify("MOVED 77 a:1", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    assert_int_equal(tk_cluster_covered(m), 1);
    assert_int_equal(tk_cluster_map_node(m, 77), 0);
    free(m);
}

static void test_ask_and_refusals_leave_map(void **state)
{
    (void)state;
    tk_cluster_map_t *m = good_map();
    tk_cluster_map_t *before = malloc(sizeof(*before));
    assert_non_null(before);
    memcpy(before, m, sizeof(*m));
    char err[256] = "";
    tk_cluster_redirect_t rd;

    /* ASK is one-shot: applying it is refused, the map stays */
    assert_int_equal(classify("ASK 12182 10.0.0.9:7009", NULL, &rd), TK_CLUSTER_ASK);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a MOVED"));
    assert_memory_equal(m, before, sizeof(*m));
    classify("TRYAGAIN", NULL, &rd);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), -1);
    classify("MOVED 1 bad", NULL, &rd); /* a plain error */
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), -1);
    assert_memory_equal(m, before, sizeof(*m));

    /* a full node table: refused, refresh instead */
    tk_cluster_map_init(m);
    for (int i = 0; i < TK_CLUSTER_NODES_MAX; i++) {
        char s[64];
        snprintf(s, sizeof(s), "MOVED %d n%d:7000", i, i);
        assert_int_equal(classify(s, NULL, &rd), TK_CLUSTER_MOVED);
        assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    }
    assert_int_equal(m->nnodes, TK_CLUSTER_NODES_MAX);
    memcpy(before, m, sizeof(*m));
    assert_int_equal(classify("MOVED 100 new:7000", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "refresh the map"));
    assert_memory_equal(m, before, sizeof(*m));
    /* a known node still works when the table is full */
    assert_int_equal(classify("MOVED 100 n5:7000", NULL, &rd), TK_CLUSTER_MOVED);
    assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    assert_int_equal(tk_cluster_map_node(m, 100), 5);
    free(before);
    free(m);
}

/* ---- the seed list ------------------------------------------------------ */

static void test_seeds_good(void **state)
{
    (void)state;
    tk_cluster_addr_t a[TK_CLUSTER_SEEDS_MAX];
    size_t n = 99;
    char err[256] = "";
    assert_int_equal(tk_cluster_seeds_parse("redis-1:7000", a, TK_CLUSTER_SEEDS_MAX, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].host, "redis-1");
    assert_int_equal(a[0].port, 7000);
    assert_int_equal(tk_cluster_seeds_parse(" 10.0.0.1:7000 ,\t[::1]:7001,redis-3:65535", a, TK_CLUSTER_SEEDS_MAX, &n, err,
                                            sizeof(err)),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].host, "10.0.0.1");
    assert_int_equal(a[0].port, 7000);
    assert_string_equal(a[1].host, "::1");
    assert_int_equal(a[1].port, 7001);
    assert_string_equal(a[2].host, "redis-3");
    assert_int_equal(a[2].port, 65535);
    /* exactly the bound */
    char s[TK_CLUSTER_SEEDS_MAX * 16] = "";
    for (int i = 0; i < TK_CLUSTER_SEEDS_MAX; i++)
        snprintf(s + strlen(s), sizeof(s) - strlen(s), "%sh%d:%d", i ? "," : "", i, 7000 + i);
    assert_int_equal(tk_cluster_seeds_parse(s, a, TK_CLUSTER_SEEDS_MAX, &n, err, sizeof(err)), 0);
    assert_int_equal(n, TK_CLUSTER_SEEDS_MAX);
    assert_string_equal(a[15].host, "h15");
    assert_int_equal(a[15].port, 7015);
}

static void expect_bad_seeds(const char *s, size_t max, const char *want)
{
    tk_cluster_addr_t a[TK_CLUSTER_SEEDS_MAX + 1];
    size_t n = 99;
    char err[256] = "";
    assert_int_equal(tk_cluster_seeds_parse(s, a, max, &n, err, sizeof(err)), -1);
    assert_int_equal(n, 0);
    if (strstr(err, want) == NULL)
        fail_msg("seeds \"%s\": error \"%s\" does not say \"%s\"", s != NULL ? s : "(null)", err, want);
}

static void test_seeds_bad(void **state)
{
    (void)state;
    expect_bad_seeds(NULL, 4, "no value");
    expect_bad_seeds("", 4, "item 1 is empty");
    expect_bad_seeds("  ", 4, "item 1 is empty");
    expect_bad_seeds("a:1,", 4, "item 2 is empty");
    expect_bad_seeds(",a:1", 4, "item 1 is empty");
    expect_bad_seeds("a:1,,b:2", 4, "item 2 is empty");
    expect_bad_seeds("a:1, ,b:2", 4, "item 2 is empty");
    expect_bad_seeds("redis", 4, "item 1 (redis): no ':port'");
    expect_bad_seeds("a:1,b:", 4, "item 2 (b:): the port is not 1..65535");
    expect_bad_seeds("a:0", 4, "the port is not 1..65535");
    expect_bad_seeds("a:65536", 4, "the port is not 1..65535");
    expect_bad_seeds("a:123456", 4, "the port is not 1..65535");
    expect_bad_seeds("a:70x", 4, "the port is not 1..65535");
    expect_bad_seeds("a:-1", 4, "the port is not 1..65535");
    expect_bad_seeds("a: 7000", 4, "the port is not 1..65535");
    expect_bad_seeds(":7000", 4, "no host");
    expect_bad_seeds("[]:7000", 4, "no host");
    expect_bad_seeds("::1:7000", 4, "IPv6 address in brackets");
    expect_bad_seeds("[::1]7000", 4, "no ':port' after the ']'");
    expect_bad_seeds("[::1:7000", 4, "no ']'");
    expect_bad_seeds("a b:7000", 4, "a space or bracket");
    expect_bad_seeds("a:1,b:2,c:3", 2, "more than 2 items");
    char s[TK_CLUSTER_SEEDS_MAX * 16 + 16] = "";
    for (int i = 0; i <= TK_CLUSTER_SEEDS_MAX; i++)
        snprintf(s + strlen(s), sizeof(s) - strlen(s), "%sh%d:%d", i ? "," : "", i, 7000 + i);
    expect_bad_seeds(s, TK_CLUSTER_SEEDS_MAX + 1, "more than 16 items");
    char longhost[300];
    memset(longhost, 'h', 290);
    memcpy(longhost + 290, ":7000", 6);
    expect_bad_seeds(longhost, 4, "longer than 255");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vectors),
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_map_good),
        cmocka_unit_test(test_map_shapes),
        cmocka_unit_test(test_map_malformed),
        cmocka_unit_test(test_map_malformed_fields),
        cmocka_unit_test(test_map_node_bound),
        cmocka_unit_test(test_redirect_moved_ask),
        cmocka_unit_test(test_redirect_other),
        cmocka_unit_test(test_apply_moved),
        cmocka_unit_test(test_ask_and_refusals_leave_map),
        cmocka_unit_test(test_seeds_good),
        cmocka_unit_test(test_seeds_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
