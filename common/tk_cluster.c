#include "tk_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key slots ---------------------------------------------------------- */

/*
 * CRC16/XMODEM one byte at a time: entry i is the CRC register after
 * shifting the byte i through it (i << 8, then 8 steps of: shift left, xor
 * 0x1021 when the bit shifted out was 1). Generated from that definition;
 * tests/unit/test_tk_cluster.c checks it against a bit-by-bit CRC.
 */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t tk_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ (unsigned char)buf[i]) & 0xff]);
    return crc;
}

unsigned tk_key_slot(const char *key, size_t len)
{
    if (len == 0)
        return 0; /* CRC16 of nothing; and memchr is not given a NULL key */
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        const char *tag = open + 1;
        const char *close = memchr(tag, '}', len - (size_t)(tag - key));
        if (close != NULL && close > tag)
            return tk_crc16(tag, (size_t)(close - tag)) & (TK_CLUSTER_SLOTS - 1);
    }
    return tk_crc16(key, len) & (TK_CLUSTER_SLOTS - 1);
}

/* ---- the slot map ------------------------------------------------------- */

void tk_cluster_map_init(tk_cluster_map_t *m)
{
    m->nnodes = 0;
    m->covered = 0;
    memset(m->nodes, 0, sizeof(m->nodes));
    memset(m->slot, TK_CLUSTER_NO_NODE, sizeof(m->slot));
}

int tk_cluster_map_node(const tk_cluster_map_t *m, unsigned slot)
{
    if (slot >= TK_CLUSTER_SLOTS || m->slot[slot] == TK_CLUSTER_NO_NODE)
        return -1;
    return m->slot[slot];
}

int tk_cluster_map_find(const tk_cluster_map_t *m, const char *host, int port)
{
    for (unsigned i = 0; i < m->nnodes; i++)
        if (m->nodes[i].addr.port == port && strcmp(m->nodes[i].addr.host, host) == 0)
            return (int)i;
    return -1;
}

size_t tk_cluster_covered(const tk_cluster_map_t *m)
{
    return m->covered;
}

/* Copies the host of @len bytes into @a; "?" and an over-long or NUL-holding
 * host are refused. Returns NULL or why not (a constant). */
static const char *set_host(tk_cluster_addr_t *a, const char *host, size_t len)
{
    if (len > TK_CLUSTER_HOST_MAX)
        return "host longer than 255 bytes";
    if (memchr(host, '\0', len) != NULL)
        return "host holds a NUL byte";
    if (len == 1 && host[0] == '?')
        return "endpoint '?' (the node has no hostname for cluster-preferred-endpoint-type)";
    memcpy(a->host, host, len);
    a->host[len] = '\0';
    return NULL;
}

/* One node entry of CLUSTER SLOTS, [endpoint, port, id, ...], into @a (and
 * @id when not NULL: "" when absent). Returns NULL or why not. */
static const char *read_node(const redisReply *n, const char *origin, tk_cluster_addr_t *a, char *id)
{
    if (n == NULL || n->type != REDIS_REPLY_ARRAY)
        return "not an array";
    if (n->elements < 2)
        return "no port";
    const redisReply *ep = n->element[0], *port = n->element[1];
    if (ep == NULL || (ep->type != REDIS_REPLY_STRING && ep->type != REDIS_REPLY_NIL))
        return "endpoint is not a string";
    if (port == NULL || port->type != REDIS_REPLY_INTEGER)
        return "port is not an integer";
    if (port->integer < 1 || port->integer > 65535)
        return "port is not 1..65535";
    const char *why;
    if (ep->type == REDIS_REPLY_NIL || ep->len == 0) {
        /* Unknown to the node itself: the host this reply came from. */
        if (origin == NULL)
            return "endpoint is empty and the origin host is not known";
        why = set_host(a, origin, strlen(origin));
    } else {
        why = set_host(a, ep->str, ep->len);
    }
    if (why != NULL)
        return why;
    a->port = (int)port->integer;
    if (id != NULL) {
        id[0] = '\0';
        if (n->elements >= 3) {
            const redisReply *r = n->element[2];
            if (r == NULL || r->type != REDIS_REPLY_STRING)
                return "node id is not a string";
            if (r->len > TK_CLUSTER_ID_MAX || memchr(r->str, '\0', r->len) != NULL)
                return "node id is not a node id";
            memcpy(id, r->str, r->len);
            id[r->len] = '\0';
        }
    }
    return NULL;
}

/* The slot number in @r, an integer 0..16383; returns it, or -1 when @r is not one. */
static long slot_of(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer >= TK_CLUSTER_SLOTS)
        return -1;
    return (long)r->integer;
}

/* Reads one range (@e, the @i-th, 1-based) of CLUSTER SLOTS into @t. */
static int read_range(tk_cluster_map_t *t, const redisReply *e, size_t i, const char *origin, char *err, size_t errlen)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 3) {
        snprintf(err, errlen, "CLUSTER SLOTS range %zu: not an array of start, end and master", i);
        return -1;
    }
    long start = slot_of(e->element[0]), end = slot_of(e->element[1]);
    if (start < 0 || end < 0) {
        snprintf(err, errlen, "CLUSTER SLOTS range %zu: %s is not a slot (an integer 0..16383)", i, start < 0 ? "start" : "end");
        return -1;
    }
    if (start > end) {
        snprintf(err, errlen, "CLUSTER SLOTS range %zu: start %ld after end %ld", i, start, end);
        return -1;
    }
    tk_cluster_node_t node;
    memset(&node, 0, sizeof(node));
    const char *why = read_node(e->element[2], origin, &node.addr, node.id);
    if (why != NULL) {
        snprintf(err, errlen, "CLUSTER SLOTS range %zu, master: %s", i, why);
        return -1;
    }
    for (size_t j = 3; j < e->elements; j++) {
        tk_cluster_addr_t rep;
        if ((why = read_node(e->element[j], origin, &rep, NULL)) != NULL) {
            snprintf(err, errlen, "CLUSTER SLOTS range %zu, replica %zu: %s", i, j - 2, why);
            return -1;
        }
        if (node.nreplicas < TK_CLUSTER_REPLICAS_MAX)
            node.replicas[node.nreplicas++] = rep;
    }
    /* A master owning several ranges is one node: the first range naming it
     * gives its id and replicas. */
    int idx = tk_cluster_map_find(t, node.addr.host, node.addr.port);
    if (idx < 0) {
        if (t->nnodes == TK_CLUSTER_NODES_MAX) {
            snprintf(err, errlen, "CLUSTER SLOTS range %zu: more than %d masters", i, TK_CLUSTER_NODES_MAX);
            return -1;
        }
        idx = (int)t->nnodes++;
        t->nodes[idx] = node;
    }
    for (long s = start; s <= end; s++) {
        if (t->slot[s] != TK_CLUSTER_NO_NODE) {
            snprintf(err, errlen, "CLUSTER SLOTS range %zu: slot %ld is in an earlier range too", i, s);
            return -1;
        }
        t->slot[s] = (uint8_t)idx;
    }
    t->covered += (size_t)(end - start + 1);
    return 0;
}

int tk_cluster_map_parse(tk_cluster_map_t *m, const redisReply *reply, const char *origin_host, char *err, size_t errlen)
{
    if (reply == NULL) {
        snprintf(err, errlen, "CLUSTER SLOTS: no reply (connection lost)");
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "CLUSTER SLOTS: %s", reply->str);
        return -1;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "CLUSTER SLOTS: the reply is not an array (type %d)", reply->type);
        return -1;
    }
    /* Built apart and copied at the end, so a bad reply leaves @m as it was. */
    tk_cluster_map_t *t = malloc(sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "CLUSTER SLOTS: out of memory");
        return -1;
    }
    tk_cluster_map_init(t);
    int rc = -1;
    for (size_t i = 0; i < reply->elements; i++)
        if (read_range(t, reply->element[i], i + 1, origin_host, err, errlen) != 0)
            goto out;
    memcpy(m, t, sizeof(*t));
    rc = 0;
out:
    free(t);
    return rc;
}

int tk_cluster_map_moved(tk_cluster_map_t *m, const tk_cluster_redirect_t *rd, char *err, size_t errlen)
{
    if (rd->kind != TK_CLUSTER_MOVED || rd->slot >= TK_CLUSTER_SLOTS || rd->to.port < 1 || rd->to.port > 65535) {
        snprintf(err, errlen, "not a MOVED redirect: the map is left as it is");
        return -1;
    }
    int idx = tk_cluster_map_find(m, rd->to.host, rd->to.port);
    if (idx < 0) {
        if (m->nnodes == TK_CLUSTER_NODES_MAX) {
            snprintf(err, errlen, "MOVED %u to %s:%d: already %d masters, refresh the map", rd->slot, rd->to.host, rd->to.port,
                     TK_CLUSTER_NODES_MAX);
            return -1;
        }
        idx = (int)m->nnodes++;
        memset(&m->nodes[idx], 0, sizeof(m->nodes[idx]));
        m->nodes[idx].addr = rd->to;
    }
    if (m->slot[rd->slot] == TK_CLUSTER_NO_NODE)
        m->covered++;
    m->slot[rd->slot] = (uint8_t)idx;
    return 0;
}

/* ---- redirects ---------------------------------------------------------- */

/* The port in @p (@len bytes): 1 to 5 digits, 1..65535. Returns it, or -1 when @p is not one. */
static int port_of(const char *p, size_t len)
{
    if (len == 0 || len > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

/* 1 when @str (@len bytes) is the word @w alone or followed by a space. */
static int first_word(const char *str, size_t len, const char *w)
{
    size_t n = strlen(w);
    return len >= n && memcmp(str, w, n) == 0 && (len == n || str[n] == ' ');
}

/* "<slot> <host>:<port>" of MOVED and ASK into @out; returns 0 or -1. */
static int read_target(const char *p, size_t len, const char *origin, tk_cluster_redirect_t *out)
{
    const char *end = p + len, *sp = memchr(p, ' ', len);
    if (sp == NULL || sp == p || sp - p > 5)
        return -1;
    unsigned slot = 0;
    for (const char *c = p; c < sp; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        slot = slot * 10 + (unsigned)(*c - '0');
    }
    if (slot >= TK_CLUSTER_SLOTS)
        return -1;
    const char *host = sp + 1, *colon = NULL;
    for (const char *c = host; c < end; c++) {
        if (*c == ' ')
            return -1;
        if (*c == ':')
            colon = c;
    }
    if (colon == NULL)
        return -1;
    int port = port_of(colon + 1, (size_t)(end - colon - 1));
    if (port < 0)
        return -1;
    if (colon == host) {
        if (origin == NULL || set_host(&out->to, origin, strlen(origin)) != NULL)
            return -1;
    } else if (set_host(&out->to, host, (size_t)(colon - host)) != NULL) {
        return -1;
    }
    out->to.port = port;
    out->slot = slot;
    return 0;
}

tk_cluster_redirect_kind_t tk_cluster_redirect(const char *str, size_t len, const char *origin_host, tk_cluster_redirect_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = TK_CLUSTER_ERROR;
    if (str == NULL)
        return out->kind;
    if (first_word(str, len, "MOVED") && len > 6) {
        if (read_target(str + 6, len - 6, origin_host, out) == 0)
            out->kind = TK_CLUSTER_MOVED;
    } else if (first_word(str, len, "ASK") && len > 4) {
        if (read_target(str + 4, len - 4, origin_host, out) == 0)
            out->kind = TK_CLUSTER_ASK;
    } else if (first_word(str, len, "TRYAGAIN")) {
        out->kind = TK_CLUSTER_TRYAGAIN;
    } else if (first_word(str, len, "CLUSTERDOWN")) {
        out->kind = TK_CLUSTER_DOWN;
    }
    if (out->kind == TK_CLUSTER_ERROR)
        memset(out, 0, sizeof(*out)); /* a half-read target is not left behind */
    return out->kind;
}

/* ---- the seed list ------------------------------------------------------ */

/* One item "host:port" or "[v6]:port" (@len bytes, trimmed, not empty) into @a. */
static const char *read_seed(const char *p, size_t len, tk_cluster_addr_t *a)
{
    const char *end = p + len, *host, *hend, *colon;
    if (p[0] == '[') {
        hend = memchr(p, ']', len);
        if (hend == NULL)
            return "no ']' after '['";
        host = p + 1;
        colon = hend + 1;
        if (colon == end || *colon != ':')
            return "no ':port' after the ']'";
    } else {
        colon = memchr(p, ':', len);
        if (colon == NULL)
            return "no ':port'";
        if (memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
            return "more than one ':' (write an IPv6 address in brackets: [::1]:7000)";
        host = p;
        hend = colon;
    }
    if (hend == host)
        return "no host";
    for (const char *c = host; c < hend; c++)
        if (*c == ' ' || *c == '\t' || *c == '[' || *c == ']' || *c == ',')
            return "a space or bracket in the host";
    int port = port_of(colon + 1, (size_t)(end - colon - 1));
    if (port < 0)
        return "the port is not 1..65535";
    const char *why = set_host(a, host, (size_t)(hend - host));
    if (why != NULL)
        return why;
    a->port = port;
    return NULL;
}

int tk_cluster_seeds_parse(const char *s, tk_cluster_addr_t *out, size_t max, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (s == NULL) {
        snprintf(err, errlen, "REDIS_CLUSTER: no value");
        return -1;
    }
    if (max > TK_CLUSTER_SEEDS_MAX)
        max = TK_CLUSTER_SEEDS_MAX;
    size_t count = 0, item = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma != NULL ? comma : p + strlen(p);
        const char *a = p, *b = e;
        item++;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b) {
            snprintf(err, errlen, "REDIS_CLUSTER: item %zu is empty (expected host:port,host:port,...)", item);
            return -1;
        }
        if (count == max) {
            snprintf(err, errlen, "REDIS_CLUSTER: more than %zu items", max);
            return -1;
        }
        const char *why = read_seed(a, (size_t)(b - a), &out[count]);
        if (why != NULL) {
            snprintf(err, errlen, "REDIS_CLUSTER: item %zu (%.*s): %s", item, (int)((b - a) > 64 ? 64 : (b - a)), a, why);
            return -1;
        }
        count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *n = count;
    return 0;
}
