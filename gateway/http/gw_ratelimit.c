#include "gw_ratelimit.h"
#include "gw_metrics.h"
#include "gw_http.h"

#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

/* ---- keyed hash (SipHash-1-3) --------------------------------------------- */

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
        /* Without entropy the limits still work; only aimed collisions get easier. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec;
        k[1] = (uint64_t)(uintptr_t)&ts * 0xbf58476d1ce4e5b9u;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                                   \
    do {                                                                                                                           \
        v0 += v1;                                                                                                                  \
        v1 = ROTL(v1, 13);                                                                                                         \
        v1 ^= v0;                                                                                                                  \
        v0 = ROTL(v0, 32);                                                                                                         \
        v2 += v3;                                                                                                                  \
        v3 = ROTL(v3, 16);                                                                                                         \
        v3 ^= v2;                                                                                                                  \
        v0 += v3;                                                                                                                  \
        v3 = ROTL(v3, 21);                                                                                                         \
        v3 ^= v0;                                                                                                                  \
        v2 += v1;                                                                                                                  \
        v1 = ROTL(v1, 17);                                                                                                         \
        v1 ^= v2;                                                                                                                  \
        v2 = ROTL(v2, 32);                                                                                                         \
    } while (0)

uint64_t gw_rl_hash(const void *p, size_t len)
{
    pthread_once(&sip_once, sip_seed);
    const unsigned char *in = p;
    uint64_t v0 = 0x736f6d6570736575u ^ sip_k0, v1 = 0x646f72616e646f6du ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261u ^ sip_k0, v3 = 0x7465646279746573u ^ sip_k1;
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--)
            m = m << 8 | in[i + (size_t)j];
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = len - full; j > 0; j--)
        b |= (uint64_t)in[full + j - 1] << (8 * (j - 1));
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    uint64_t h = v0 ^ v1 ^ v2 ^ v3;
    return h != 0 ? h : 1; /* 0 marks an empty slot */
}

/* ---- buckets ---------------------------------------------------------------- */

void gw_rl_table_init(gw_rl_table_t *t, gw_rl_slot_t *slots, size_t nslots, long rate, long burst)
{
    memset(t, 0, sizeof(*t));
    memset(slots, 0, nslots * sizeof(*slots));
    t->slots = slots;
    t->mask = nslots - 1;
    if (rate <= 0)
        return;
    if (burst <= 0)
        burst = rate;
    t->interval = 1000000000u / (uint64_t)rate;
    if (t->interval == 0)
        t->interval = 1;
    t->tolerance = t->interval * (uint64_t)burst;
}

int gw_rl_take(gw_rl_table_t *t, uint64_t key, uint64_t now_ns, uint64_t *retry_ns)
{
    if (t->interval == 0)
        return 0;
    gw_rl_slot_t *hit = NULL, *empty = NULL, *stale = NULL, *fullest = NULL;
    size_t start = (size_t)key & t->mask;
    for (size_t i = 0; i < GW_RL_PROBE; i++) {
        gw_rl_slot_t *s = &t->slots[(start + i) & t->mask];
        if (s->key == key) {
            hit = s;
            break;
        }
        if (s->key == 0) {
            if (empty == NULL)
                empty = s;
        } else if (s->tat <= now_ns) {
            if (stale == NULL)
                stale = s;
        } else if (fullest == NULL || s->tat < fullest->tat) {
            fullest = s;
        }
    }
    if (hit == NULL) {
        hit = empty != NULL ? empty : stale != NULL ? stale : fullest;
        if (hit == fullest)
            gw_metrics_add(&t->evicted, 1); /* read by /metrics */
        hit->key = key;
        hit->tat = 0;
    }
    uint64_t next = (hit->tat > now_ns ? hit->tat : now_ns) + t->interval;
    if (next - now_ns > t->tolerance) {
        gw_metrics_add(&t->limited, 1); /* read by /metrics */
        if (retry_ns != NULL)
            *retry_ns = next - now_ns - t->tolerance;
        return 1;
    }
    hit->tat = next;
    gw_metrics_add(&t->allowed, 1); /* read by /metrics */
    return 0;
}

unsigned gw_rl_retry_after_s(uint64_t retry_ns)
{
    uint64_t s = (retry_ns + 999999999u) / 1000000000u;
    return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}

/* ---- the gateway's two limits ----------------------------------------------- */

static gw_ratelimit_t *limits_of(gw_req_t *r)
{
    gw_ratelimit_t *rl = &r->th->ratelimit;
    if (!rl->ready) {
        const gw_config_t *c = r->th->server->conf;
        gw_rl_table_init(&rl->ip, rl->ip_slots, GW_RL_IP_SLOTS, c->rate_ip, c->rate_ip_burst);
        gw_rl_table_init(&rl->user, rl->user_slots, GW_RL_USER_SLOTS, c->rate_user, c->rate_user_burst);
        rl->ready = 1;
    }
    return rl;
}

/* Every 429 says "Retry-After: 1" (gw_reply). That is exact: a refused
 * request waits for one token, at most 1/rate s, and rates are whole
 * numbers per second, so the wait rounded up is always 1 s. */
static void refuse(gw_req_t *r, const char *what, uint64_t retry_ns)
{
    gw_reply_errorf(r, 429, "rate_limited", "too many requests %s; retry in %u s", what, gw_rl_retry_after_s(retry_ns));
}

int gw_ratelimit_ip(gw_req_t *r)
{
    if (r->route == GW_ROUTE_HEALTHZ || r->route == GW_ROUTE_READYZ || r->route == GW_ROUTE_METRICS || r->req == NULL)
        return 0;
    gw_ratelimit_t *rl = limits_of(r);
    if (rl->ip.interval == 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t sl = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    unsigned char key[1 + 8];
    size_t klen;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    if (sl >= sizeof(struct sockaddr_in) && ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
        klen = 5;
    } else if (sl >= sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        key[0] = 4;
        memcpy(key + 1, sin6->sin6_addr.s6_addr + 12, 4);
        klen = 5;
    } else if (sl >= sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6) {
        key[0] = 6; /* one /64 is what one subscriber usually gets */
        memcpy(key + 1, sin6->sin6_addr.s6_addr, 8);
        klen = 9;
    } else {
        return 0; /* no address (a unix socket, or none): nothing to key on */
    }
    uint64_t retry;
    if (gw_rl_take(&rl->ip, gw_rl_hash(key, klen), r->start_us * 1000u, &retry) == 0)
        return 0;
    refuse(r, "from this address", retry);
    return -1;
}

int gw_ratelimit_user(gw_req_t *r)
{
    if (r->route != GW_ROUTE_CLAIM_POST && r->route != GW_ROUTE_CLAIM_GET)
        return 0;
    /* With a verified token the bucket is its "sub": whoever a request names, it spends its sender's budget. */
    const char *key = r->sublen > 0 ? r->sub : r->user_id;
    size_t klen = r->sublen > 0 ? r->sublen : r->ulen;
    if (klen == 0)
        return 0;
    gw_ratelimit_t *rl = limits_of(r);
    uint64_t retry;
    if (gw_rl_take(&rl->user, gw_rl_hash(key, klen), r->start_us * 1000u, &retry) == 0)
        return 0;
    refuse(r, "for this user", retry);
    return -1;
}
