/*
 * Unit tests of gateway/conn: the TRUSTED_PROXIES parser and matcher
 * (gw_cidr), the X-Forwarded-For walk and the limit key (gw_client_addr),
 * the PROXY v1 line (gw_proxy_line), and the per-address connection table
 * (gw_connlimit), also from several threads at once.
 */
#include "gw_cidr.h"
#include "gw_client_addr.h"
#include "gw_connlimit.h"
#include "gw_proxy_line.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

/* ---- gw_cidr ---------------------------------------------------------------------- */

static int has(const gw_cidr_list_t *l, const char *ip)
{
    uint8_t a[16] = {0};
    int family = strchr(ip, ':') != NULL ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, ip, a), 1);
    if (family == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        memcpy(&sin6.sin6_addr, a, 16);
        return gw_cidr_list_has_sa(l, (struct sockaddr *)&sin6, sizeof sin6);
    }
    return gw_cidr_list_has(l, family, a);
}

static void cidr_list_parses_and_matches(void **state)
{
    (void)state;
    gw_cidr_list_t l;
    char err[256];
    assert_int_equal(gw_cidr_parse_list(" 10.0.0.0/8 ,192.0.2.7, 2001:db8::/32,::1,198.51.100.128/25", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 5);
    assert_true(has(&l, "10.0.0.1"));
    assert_true(has(&l, "10.255.255.255"));
    assert_false(has(&l, "11.0.0.0"));
    assert_true(has(&l, "192.0.2.7"));
    assert_false(has(&l, "192.0.2.8"));
    assert_true(has(&l, "198.51.100.200"));
    assert_false(has(&l, "198.51.100.127"));
    assert_true(has(&l, "2001:db8:1::5"));
    assert_false(has(&l, "2001:db9::1"));
    assert_true(has(&l, "::1"));
    assert_false(has(&l, "::2"));
    assert_true(has(&l, "::ffff:10.1.2.3")); /* an IPv4-mapped peer matches the IPv4 block */
    assert_false(has(&l, "::ffff:11.1.2.3"));
    /* /0 matches its family only; a mapped block is stored as IPv4. */
    assert_int_equal(gw_cidr_parse_list("0.0.0.0/0,::ffff:203.0.113.0/120", &l, err, sizeof err), 0);
    assert_int_equal(l.v[1].family, AF_INET);
    assert_int_equal(l.v[1].prefix, 24);
    assert_true(has(&l, "8.8.8.8"));
    assert_false(has(&l, "2001:db8::1"));
    /* Empty is empty. */
    assert_int_equal(gw_cidr_parse_list("", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(gw_cidr_parse_list(NULL, &l, err, sizeof err), 0);
    assert_false(has(&l, "10.0.0.1"));
}

static void cidr_refusals_name_the_entry(void **state)
{
    (void)state;
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"10.0.0.1/8", "10.0.0.0/8"},      /* host bits set: the message says the block meant */
        {"10.0.0.0/33", "at most 32"},
        {"::/129", "at most 128"},
        {"10.0.0.0/", "prefix"},
        {"10.0.0.0/-1", "prefix"},
        {"10.0.0.0/8x", "prefix"},
        {"10.0.0.0/0008", "prefix"},
        {"10.0.0", "not an IPv4"},
        {"example.org", "example.org"},
        {"fe80::1%eth0", "fe80::1%eth0"},
        {"10.0.0.0/8,", "empty"},
        {",10.0.0.0/8", "empty"},
        {"10.0.0.0/8,  ,::1", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_cidr_list_t l;
        char err[256] = "";
        assert_int_equal(gw_cidr_parse_list(bad[i].in, &l, err, sizeof err), -1);
        assert_int_equal(l.n, 0);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].why);
    }
    /* More than GW_CIDR_MAX entries. */
    char many[GW_CIDR_MAX * 16 + 16] = "";
    for (int i = 0; i <= GW_CIDR_MAX; i++)
        sprintf(many + strlen(many), "%s10.0.%d.0/24", i ? "," : "", i);
    gw_cidr_list_t l;
    char err[256];
    assert_int_equal(gw_cidr_parse_list(many, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than"));
}

/* ---- gw_client_addr: the X-Forwarded-For walk ---------------------------------------------- */

/* Walks @lines (NULL-terminated header values) from trusted peer 127.0.0.1 with TRUSTED_PROXIES @trusted; the client's text into @out. */
static size_t walk(const char *trusted, const char *const *lines, char *out)
{
    gw_cidr_list_t l;
    char err[256];
    assert_int_equal(gw_cidr_parse_list(trusted, &l, err, sizeof err), 0);
    h2o_iovec_t v[8];
    size_t n = 0;
    for (; lines[n] != NULL; n++)
        v[n] = h2o_iovec_init(lines[n], strlen(lines[n]));
    int family = AF_INET;
    uint8_t addr[16] = {127, 0, 0, 1};
    size_t taken = gw_xff_walk(v, n, &l, &family, addr);
    inet_ntop(family, addr, out, INET6_ADDRSTRLEN);
    return taken;
}

#define WALK(trusted, want, want_taken, ...)                                                                                       \
    do {                                                                                                                           \
        const char *const lines_[] = {__VA_ARGS__, NULL};                                                                          \
        char got_[INET6_ADDRSTRLEN];                                                                                               \
        size_t taken_ = walk(trusted, lines_, got_);                                                                               \
        if (strcmp(got_, want) != 0 || taken_ != (want_taken))                                                                     \
            fail_msg("XFF %s: got %s (%zu taken), want %s (%d)", lines_[0], got_, taken_, want, (int)(want_taken));               \
    } while (0)

static void xff_walk_takes_the_rightmost_untrusted_hop(void **state)
{
    (void)state;
    const char *t = "127.0.0.1/32,10.0.0.0/8,2001:db8::/32";
    WALK(t, "198.51.100.1", 1, "198.51.100.1");
    WALK(t, "198.51.100.1", 1, "203.0.113.9, 198.51.100.1");           /* the left is the client's own word */
    WALK(t, "198.51.100.1", 3, "203.0.113.9, 198.51.100.1, 10.1.1.1, 10.2.2.2"); /* trusted hops on the right are skipped */
    WALK(t, "198.51.100.1", 2, "198.51.100.1", "10.1.1.1");             /* two header lines are one list, in order */
    WALK(t, "203.0.113.9", 1, "198.51.100.1", "203.0.113.9");
    WALK(t, "10.0.0.1", 2, "10.0.0.1, 10.0.0.2");                       /* every hop trusted: the left-most */
    WALK(t, "2001:db9::1", 1, "2001:db9::1");
    WALK(t, "2001:db9::1", 2, "[2001:db9::1]:443, 2001:db8::5");        /* brackets and ports */
    WALK(t, "198.51.100.1", 1, "198.51.100.1:8080");
    WALK(t, "198.51.100.1", 1, "::ffff:198.51.100.1");                  /* mapped: read as IPv4 */
    WALK(t, "127.0.0.1", 0, "unknown");                                 /* garbage: the peer stays */
    WALK(t, "127.0.0.1", 0, "198.51.100.1, ");                          /* an empty right-most entry */
    WALK(t, "10.9.9.9", 1, "198.51.100.1, _hidden, 10.9.9.9");          /* the walk stops at garbage: the last hop taken */
    WALK(t, "127.0.0.1", 0, "198.51.100.1:99999");
    WALK(t, "127.0.0.1", 0, "[2001:db9::1");
    WALK(t, "127.0.0.1", 0, "");
}

static void xff_walk_is_bounded(void **state)
{
    (void)state;
    /* 40 trusted hops: the walk looks at GW_XFF_MAX_HOPS and stops at the last one it took. */
    char line[40 * 12] = "";
    for (int i = 0; i < 40; i++)
        sprintf(line + strlen(line), "%s10.0.0.%d", i ? "," : "", i + 1);
    const char *const lines[] = {line, NULL};
    char got[INET6_ADDRSTRLEN];
    assert_int_equal(walk("10.0.0.0/8", lines, got), GW_XFF_MAX_HOPS);
    assert_string_equal(got, "10.0.0.9"); /* hops 40..9 from the right */
}

static void addr_key_is_the_address_or_its_64(void **state)
{
    (void)state;
    unsigned char k1[GW_ADDR_KEY_MAX], k2[GW_ADDR_KEY_MAX];
    uint8_t a[16] = {192, 0, 2, 1};
    assert_int_equal(gw_addr_key(AF_INET, a, k1), 5);
    assert_int_equal(k1[0], 4);
    uint8_t b[16], c[16];
    inet_pton(AF_INET6, "2001:db8:1:2::1", b);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", c);
    assert_int_equal(gw_addr_key(AF_INET6, b, k1), 9);
    assert_int_equal(gw_addr_key(AF_INET6, c, k2), 9);
    assert_memory_equal(k1, k2, 9); /* one /64, one key */
    inet_pton(AF_INET6, "2001:db8:1:3::1", c);
    gw_addr_key(AF_INET6, c, k2);
    assert_memory_not_equal(k1, k2, 9);
}

/* ---- gw_proxy_line --------------------------------------------------------------------------- */

static gw_proxy_result_t line(const char *s, char *ip, unsigned *port, size_t *used)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    *used = 0;
    gw_proxy_result_t r = gw_proxy_line_parse(s, strlen(s), &ss, &sl, used);
    if (r == GW_PROXY_ADDR) {
        if (ss.ss_family == AF_INET) {
            assert_int_equal(sl, sizeof(struct sockaddr_in));
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, INET6_ADDRSTRLEN);
            *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            assert_int_equal(sl, sizeof(struct sockaddr_in6));
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, INET6_ADDRSTRLEN);
            *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return r;
}

static void proxy_line_reads_v1(void **state)
{
    (void)state;
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    size_t used;
    const char *l4 = "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET / HTTP/1.1\r\n";
    assert_int_equal(line(l4, ip, &port, &used), GW_PROXY_ADDR);
    assert_string_equal(ip, "203.0.113.7");
    assert_int_equal(port, 40000);
    assert_int_equal(used, strlen("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"));
    assert_int_equal(line("PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n\x16\x03", ip, &port, &used), GW_PROXY_ADDR);
    assert_string_equal(ip, "2001:db8::7");
    assert_int_equal(port, 65535);
    assert_int_equal(line("PROXY UNKNOWN\r\n", ip, &port, &used), GW_PROXY_UNKNOWN);
    assert_int_equal(used, 15);
    assert_int_equal(line("PROXY UNKNOWN ffff:f...f:ffff 1 2\r\nX", ip, &port, &used), GW_PROXY_UNKNOWN);
    /* No line at all: TLS, HTTP/1, the HTTP/2 preface. */
    assert_int_equal(line("\x16\x03\x01", ip, &port, &used), GW_PROXY_NONE);
    assert_int_equal(line("POST / HTTP/1.1\r\n", ip, &port, &used), GW_PROXY_NONE);
    assert_int_equal(line("PRI * HTTP/2.0\r\n", ip, &port, &used), GW_PROXY_NONE);
    /* Prefixes: read more. */
    assert_int_equal(line("PRO", ip, &port, &used), GW_PROXY_MORE);
    assert_int_equal(line("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443", ip, &port, &used), GW_PROXY_MORE);
    assert_int_equal(line("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r", ip, &port, &used), GW_PROXY_MORE);
}

static void proxy_line_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "PROXY TCP4 203.0.113.7 192.0.2.1 99999 443\r\n",    /* port out of range (h2o's %hu would wrap it) */
        "PROXY TCP4 203.0.113.7 192.0.2.1 040000 443\r\n",   /* leading zero */
        "PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n",          /* family mismatch */
        "PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n",            /* a field missing */
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 2 3\r\n",        /* one too many */
        "PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n",         /* double space */
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 2 \r\n",         /* trailing space */
        "PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n",
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 2\rX",           /* CR without LF */
        "PROXY TCP4 host.example 192.0.2.1 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
    };
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    size_t used;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (line(bad[i], ip, &port, &used) != GW_PROXY_BAD)
            fail_msg("accepted: %s", bad[i]);
    /* 107 bytes without a CRLF: too long, not "read more". */
    char lng[200] = "PROXY UNKNOWN ";
    memset(lng + strlen(lng), 'x', 110);
    lng[124] = '\0';
    assert_int_equal(line(lng, ip, &port, &used), GW_PROXY_BAD);
}

/* ---- gw_connlimit ------------------------------------------------------------------------------- */

static void connlimit_counts_and_gives_back(void **state)
{
    (void)state;
    gw_connlimit_t *t = gw_connlimit_new(3, 64);
    assert_non_null(t);
    for (int i = 0; i < 3; i++)
        assert_int_equal(gw_connlimit_take(t, 42), GW_CONNLIMIT_TAKEN);
    assert_int_equal(gw_connlimit_take(t, 42), GW_CONNLIMIT_OVER);
    assert_int_equal(gw_connlimit_count(t, 42), 3); /* a refusal counts nothing */
    assert_int_equal(gw_connlimit_take(t, 43), GW_CONNLIMIT_TAKEN);
    gw_connlimit_release(t, 42);
    assert_int_equal(gw_connlimit_take(t, 42), GW_CONNLIMIT_TAKEN);
    for (int i = 0; i < 3; i++)
        gw_connlimit_release(t, 42);
    gw_connlimit_release(t, 43);
    assert_int_equal(gw_connlimit_keys(t), 0);
    assert_int_equal(gw_connlimit_count(t, 42), 0);
    gw_connlimit_free(t);
}

/*
 * Keys that collide on their home slot (same low bits) form one probe run;
 * removing one from the middle must keep the others findable (backward
 * shift), and a full table lets new keys in uncounted.
 */
static void connlimit_probe_runs_survive_deletes(void **state)
{
    (void)state;
    gw_connlimit_t *t = gw_connlimit_new(2, 64); /* 64 slots, 63 keys at most */
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(gw_connlimit_take(t, i << 6 | 5), GW_CONNLIMIT_TAKEN); /* all home to slot 5 */
    assert_int_equal(gw_connlimit_take(t, 6), GW_CONNLIMIT_TAKEN);            /* home 6, pushed along the run */
    gw_connlimit_release(t, 3 << 6 | 5);
    gw_connlimit_release(t, 1 << 6 | 5);
    for (uint64_t i = 2; i <= 10; i++)
        assert_int_equal(gw_connlimit_count(t, i << 6 | 5), i == 3 ? 0 : 1);
    assert_int_equal(gw_connlimit_count(t, 6), 1);
    assert_int_equal(gw_connlimit_keys(t), 9);
    /* Fill: 63 keys fit, the 64th is let in uncounted. */
    for (uint64_t k = 1000; gw_connlimit_keys(t) < 63; k++)
        assert_int_equal(gw_connlimit_take(t, k), GW_CONNLIMIT_TAKEN);
    assert_int_equal(gw_connlimit_take(t, 99999), GW_CONNLIMIT_UNTRACKED);
    assert_int_equal(gw_connlimit_take(t, 6), GW_CONNLIMIT_TAKEN); /* a known key still counts */
    assert_int_equal(gw_connlimit_take(t, 6), GW_CONNLIMIT_OVER);
    gw_connlimit_free(t);
}

#define THREADS 4
#define ROUNDS 20000

static gw_connlimit_t *shared;
static long over_limit_seen;

/* Each thread takes and gives back connections of 8 keys; the count of a key must never pass the limit. */
static void *hammer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
    uint64_t held[16];
    int n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        uint64_t key = (seed >> 33) % 8 + 1;
        if (n < 16 && (seed & 1)) {
            if (gw_connlimit_take(shared, key) == GW_CONNLIMIT_TAKEN)
                held[n++] = key;
        } else if (n > 0) {
            gw_connlimit_release(shared, held[--n]);
        }
        if (gw_connlimit_count(shared, key) > 5)
            __atomic_fetch_add(&over_limit_seen, 1, __ATOMIC_RELAXED);
    }
    while (n > 0)
        gw_connlimit_release(shared, held[--n]);
    return NULL;
}

static void connlimit_holds_across_threads(void **state)
{
    (void)state;
    shared = gw_connlimit_new(5, 64);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(uintptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(over_limit_seen, 0);
    assert_int_equal(gw_connlimit_keys(shared), 0); /* every take given back: nothing left behind */
    gw_connlimit_free(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_list_parses_and_matches),
        cmocka_unit_test(cidr_refusals_name_the_entry),
        cmocka_unit_test(xff_walk_takes_the_rightmost_untrusted_hop),
        cmocka_unit_test(xff_walk_is_bounded),
        cmocka_unit_test(addr_key_is_the_address_or_its_64),
        cmocka_unit_test(proxy_line_reads_v1),
        cmocka_unit_test(proxy_line_refusals),
        cmocka_unit_test(connlimit_counts_and_gives_back),
        cmocka_unit_test(connlimit_probe_runs_survive_deletes),
        cmocka_unit_test(connlimit_holds_across_threads),
    };
    return cmocka_run_group_tests_name("gw_conn", tests, NULL, NULL);
}
