/*
 * The pure part of the board reads (gw_board_read.h): the query and body
 * they take, an entry from what Redis or MariaDB holds, and the JSON.
 * Nothing here touches a backend; tests/unit/test_gw_board_read.c holds it.
 */
#include "gw_board_read.h"
#include "gw_query.h"
#include "tk_fmt.h"
#include "tk_grow.h"
#include "tk_time.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal of 1..@maxdig digits within [@lo, @hi] into *@v; else -1 with "@name must be @lo-@hi" in @err. */
static int take_range(const char *v, size_t vlen, const char *name, int maxdig, int64_t lo, int64_t hi, int64_t *out, char *err)
{
    int64_t x;
    if (gw_query_uint(v, vlen, maxdig, &x) != 0 || x < lo || x > hi) {
        snprintf(err, GW_BOARD_ERR_MAX, "%s must be an integer %" PRId64 "-%" PRId64, name, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int gw_board_query(const char *q, size_t len, gw_board_read_t *rd, char *err)
{
    static const char *const names[] = {"season", "limit", "offset", "radius"};
    const char *v;
    size_t vlen, pos = 0;
    unsigned seen = 0;
    int k;
    while ((k = gw_query_next(q, len, &pos, names, 4, &seen, &v, &vlen, err, GW_BOARD_ERR_MAX)) != GW_QUERY_END) {
        if (k < 0)
            return -1;
        if (k == 0) {
            int64_t s;
            if (vlen == 7 && memcmp(v, "current", 7) == 0) {
                rd->season = GW_BOARD_SEASON_CURRENT;
            } else if (gw_query_uint(v, vlen, GW_BOARD_SEASON_DIGITS, &s) == 0) {
                rd->season = s; /* 0 or one above the current season: 404 from the script */
            } else {
                snprintf(err, GW_BOARD_ERR_MAX, "season must be \"current\" or a season number");
                return -1;
            }
        } else if (k == 1 && rd->shape == GW_BOARD_TOP) {
            if (take_range(v, vlen, "limit", 4, 1, GW_BOARD_LIMIT_MAX, &rd->limit, err) != 0)
                return -1;
        } else if (k == 2 && rd->shape == GW_BOARD_TOP) {
            if (take_range(v, vlen, "offset", 8, 0, GW_BOARD_OFFSET_MAX, &rd->offset, err) != 0)
                return -1;
        } else if (k == 3 && rd->shape == GW_BOARD_AROUND) {
            if (take_range(v, vlen, "radius", 3, 1, GW_BOARD_RADIUS_MAX, &rd->radius, err) != 0)
                return -1;
        }
    }
    return 0;
}

int gw_board_ranks_body(const char *body, size_t len, gw_board_read_t *rd, char *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, GW_BOARD_ERR_MAX, "the body must be a JSON object {\"user_ids\":[...]}");
        goto out;
    }
    json_t *ids = json_object_get(root, "user_ids");
    size_t n = json_is_array(ids) ? json_array_size(ids) : 0;
    if (n == 0 || n > GW_BOARD_USERS_MAX) {
        snprintf(err, GW_BOARD_ERR_MAX, "user_ids must be an array of 1-%d user ids", GW_BOARD_USERS_MAX);
        goto out;
    }
    char(*users)[TK_ID_MAX + 1] = malloc(n * sizeof *users);
    if (users == NULL) {
        snprintf(err, GW_BOARD_ERR_MAX, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_array_get(ids, i);
        size_t ulen = json_is_string(u) ? json_string_length(u) : 0;
        if (ulen == 0 || !tk_valid_user_id(json_string_value(u), ulen)) {
            snprintf(err, GW_BOARD_ERR_MAX, "user_ids[%zu] must be a user id: 1-64 of [A-Za-z0-9_.:@-]", i);
            free(users);
            goto out;
        }
        memcpy(users[i], json_string_value(u), ulen);
        users[i][ulen] = '\0';
    }
    free(rd->users);
    rd->users = users;
    rd->nusers = n;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int gw_board_add_entry(gw_board_read_t *rd, int64_t rank, const char *user, size_t ulen, const tk_lb_entry_t *e)
{
    if (!tk_valid_user_id(user, ulen))
        return -1;
    gw_board_entry_t *a = tk_grow(rd->entries, &rd->cap, rd->n + 1, sizeof *a, 16);
    if (a == NULL)
        return -1;
    rd->entries = a;
    gw_board_entry_t *x = &a[rd->n++];
    x->rank = rank;
    memcpy(x->user, user, ulen);
    x->user[ulen] = '\0';
    x->ulen = ulen;
    x->e = *e;
    return 0;
}

int gw_board_add_member(gw_board_read_t *rd, int64_t rank, const char *member, size_t mlen, const char *score, size_t slen)
{
    tk_lb_entry_t e = {0};
    size_t at;
    if (tk_lb_score_c1(score, slen, &e.c1) != 0 || tk_lb_member_parse(member, mlen, rd->comps, &e, &at) != 0)
        return -1;
    return gw_board_add_entry(rd, rank, member + at, mlen - at, &e);
}

int gw_board_add_value(gw_board_read_t *rd, int64_t rank, const char *user, size_t ulen, const char *value, size_t vlen)
{
    tk_lb_entry_t e;
    if (tk_lb_entry_parse(value, vlen, &e) != 0)
        return -1;
    return gw_board_add_entry(rd, rank, user, ulen, &e);
}

/* Bytes one entry's JSON takes at most: the keys, a 19-digit rank, a 64-byte id, two 20-byte components, the time. */
#define ENTRY_JSON_MAX 256

/* Appends the @n bytes of @s at @p; returns the end. */
static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/*
 * Writes the members of entry @x, without braces, into @p (ENTRY_JSON_MAX
 * bytes free) and returns the end:
 * "rank":R,"user_id":"U","score":[C1(,C2)],"updated_at":"T". Without printf
 * (tk_fmt.h: why). User ids have no character JSON escapes
 * ([A-Za-z0-9_.:@-], checked when the entry was added), so they are
 * written as they are.
 */
static char *entry_fields(char *p, const gw_board_entry_t *x, int comps)
{
    p = PUT_LIT(p, "\"rank\":");
    p += tk_fmt_i64(p, x->rank);
    p = PUT_LIT(p, ",\"user_id\":\"");
    p = put(p, x->user, x->ulen);
    p = PUT_LIT(p, "\",\"score\":[");
    p += tk_fmt_i64(p, x->e.c1);
    if (comps == 2) {
        *p++ = ',';
        p += tk_fmt_i64(p, x->e.c2);
    }
    p = PUT_LIT(p, "],\"updated_at\":\"");
    tk_time_format_rfc3339(x->e.t_ms, p);
    p += TK_TIME_RFC3339_LEN;
    *p++ = '"';
    return p;
}

char *gw_board_json(const gw_board_read_t *rd, size_t *len)
{
    if (rd->shape == GW_BOARD_USER && rd->n == 0)
        return NULL;
    size_t cap = 64 + rd->n * (ENTRY_JSON_MAX + 1);
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    char *p = PUT_LIT(out, "{\"season\":");
    p += tk_fmt_i64(p, rd->season_no);
    if (rd->shape == GW_BOARD_USER) {
        /* One entry: its fields beside "season", not in a list. */
        *p++ = ',';
        p = entry_fields(p, &rd->entries[0], rd->comps);
        *p++ = '}';
    } else {
        p = PUT_LIT(p, ",\"entries\":[");
        for (size_t i = 0; i < rd->n; i++) {
            if (i > 0)
                *p++ = ',';
            *p++ = '{';
            p = entry_fields(p, &rd->entries[i], rd->comps);
            *p++ = '}';
        }
        p = PUT_LIT(p, "]}");
    }
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}
