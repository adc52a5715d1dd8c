/*
 * gw_admin_body: the admin routes' JSON bodies (jansson); see gw_admin_body.h.
 */
#include "gw_admin_body.h"
#include "tk_time.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
}

json_t *gw_admin_body_load(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    if (len == 0) {
        fail(err, errlen, "a JSON object body is required");
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* An integer field in [lo, hi]. Absent or null: *v = def when @required is 0. */
static int get_int(json_t *root, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *v, char *err,
                   size_t errlen)
{
    json_t *f = json_object_get(root, key);
    if (f == NULL || json_is_null(f)) {
        if (required) {
            snprintf(err, errlen, "%s is required", key);
            return -1;
        }
        *v = def;
        return 0;
    }
    if (!json_is_integer(f) || json_integer_value(f) < lo || json_integer_value(f) > hi) {
        snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, (long long)lo, (long long)hi);
        return -1;
    }
    *v = json_integer_value(f);
    return 0;
}

/* An optional RFC 3339 time: absent or null -> 0. */
static int get_time(json_t *root, const char *key, int64_t *ms, char *err, size_t errlen)
{
    json_t *f = json_object_get(root, key);
    *ms = 0;
    if (f == NULL || json_is_null(f))
        return 0;
    if (!json_is_string(f) || tk_time_parse_rfc3339(json_string_value(f), ms) != 0 || *ms <= 0 || *ms > GW_ADMIN_BODY_TIME_MAX_MS) {
        snprintf(err, errlen, "%s must be an RFC 3339 time between 1970 and 9999 (e.g. 2026-11-22T09:00:00.000Z) or null", key);
        *ms = 0;
        return -1;
    }
    return 0;
}

/*
 * The create body's "waiting_room" object into @out's wr_* fields. Absent or
 * null: no room. "enabled" defaults to true (an object given asks for a
 * room); every field given is validated even when "enabled" is false, and a
 * room that is off keeps no settings. Messages name the field in full
 * ("waiting_room.release_per_s …").
 */
static int get_room(json_t *root, gw_admin_body_create_t *out, char *err, size_t errlen)
{
    json_t *w = json_object_get(root, "waiting_room");
    if (w == NULL || json_is_null(w))
        return 0;
    if (!json_is_object(w)) {
        fail(err, errlen, "waiting_room must be an object or null");
        return -1;
    }
    json_t *f = json_object_get(w, "enabled");
    int on = 1;
    if (f != NULL && !json_is_null(f)) {
        if (!json_is_boolean(f)) {
            fail(err, errlen, "waiting_room.enabled must be true or false");
            return -1;
        }
        on = json_is_true(f);
    }
    int64_t rate, ttl, opens;
    f = json_object_get(w, "release_per_s");
    if (on && (f == NULL || json_is_null(f))) {
        fail(err, errlen, "waiting_room.release_per_s is required");
        return -1;
    }
    if (get_int(w, "release_per_s", 0, 0, 1, GW_WR_RATE_MAX, &rate, err, errlen) ||
        get_int(w, "access_ttl_s", 0, GW_WR_TTL_DEFAULT, GW_WR_TTL_MIN, GW_WR_TTL_MAX, &ttl, err, errlen) ||
        get_time(w, "opens_at", &opens, err, errlen)) {
        char inner[GW_ADMIN_BODY_ERR_MAX];
        snprintf(inner, sizeof(inner), "%s", err);
        snprintf(err, errlen, "waiting_room.%s", inner);
        return -1;
    }
    if (on && opens > 0 && out->closes_ms > 0 && opens >= out->closes_ms) {
        fail(err, errlen, "waiting_room.opens_at must be before closes_at");
        return -1;
    }
    if (on) {
        out->wr_on = 1;
        out->wr_rate = rate;
        out->wr_ttl_s = ttl;
        out->wr_opens_ms = opens;
    }
    return 0;
}

/*
 * The create body's "priority" object into @out's pr_* fields. Absent or
 * null: no presale. All three fields are required; the window needs the
 * event's opens_at (there is nothing to be early for without it) and must
 * start before it. Messages name the field in full ("priority.top …").
 */
static int get_priority(json_t *root, gw_admin_body_create_t *out, char *err, size_t errlen)
{
    json_t *p = json_object_get(root, "priority");
    if (p == NULL || json_is_null(p))
        return 0;
    if (!json_is_object(p)) {
        fail(err, errlen, "priority must be an object or null");
        return -1;
    }
    json_t *f = json_object_get(p, "board_id");
    if (f == NULL || json_is_null(f)) {
        fail(err, errlen, "priority.board_id is required");
        return -1;
    }
    if (!json_is_string(f) || !tk_valid_event_id(json_string_value(f), json_string_length(f))) {
        fail(err, errlen, "priority.board_id must be 1-64 of [a-z0-9_-]");
        return -1;
    }
    int64_t top, opens;
    if (get_int(p, "top", 1, 0, 1, GW_PR_TOP_MAX, &top, err, errlen) || get_time(p, "opens_at", &opens, err, errlen)) {
        char inner[GW_ADMIN_BODY_ERR_MAX];
        snprintf(inner, sizeof(inner), "%s", err);
        snprintf(err, errlen, "priority.%s", inner);
        return -1;
    }
    if (opens == 0) {
        fail(err, errlen, "priority.opens_at is required");
        return -1;
    }
    if (out->opens_ms == 0) {
        fail(err, errlen, "priority needs the event's opens_at (the presale starts before it)");
        return -1;
    }
    if (opens >= out->opens_ms) {
        fail(err, errlen, "priority.opens_at must be before opens_at");
        return -1;
    }
    f = json_object_get(p, "board_id");
    out->pr_blen = json_string_length(f);
    memcpy(out->pr_board, json_string_value(f), out->pr_blen);
    out->pr_board[out->pr_blen] = '\0';
    out->pr_top = top;
    out->pr_opens_ms = opens;
    return 0;
}

int gw_admin_body_parse_create(const char *body, size_t len, int64_t now_ms, gw_admin_body_create_t *out, char *err, size_t errlen)
{
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    memset(out, 0, sizeof(*out));

    json_t *f = json_object_get(root, "event_id");
    if (f == NULL || json_is_null(f)) {
        fail(err, errlen, "event_id is required");
        goto done;
    }
    if (!json_is_string(f) || !tk_valid_event_id(json_string_value(f), json_string_length(f))) {
        fail(err, errlen, "event_id must be 1-64 of [a-z0-9_-]");
        goto done;
    }
    out->elen = json_string_length(f);
    memcpy(out->event_id, json_string_value(f), out->elen);

    f = json_object_get(root, "name");
    if (f == NULL || json_is_null(f)) {
        memcpy(out->name, out->event_id, out->elen + 1);
        out->nlen = out->elen;
    } else if (!json_is_string(f) || !tk_valid_name(json_string_value(f), json_string_length(f))) {
        snprintf(err, errlen, "name must be 1-%d bytes of UTF-8 without control characters", TK_NAME_MAX);
        goto done;
    } else {
        out->nlen = json_string_length(f);
        memcpy(out->name, json_string_value(f), out->nlen);
        out->name[out->nlen] = '\0';
    }

    f = json_object_get(root, "stock");
    if (json_is_integer(f) && json_integer_value(f) > TK_STOCK_MAX) {
        snprintf(err, errlen, "stock must be at most %lld", (long long)TK_STOCK_MAX);
        rc = GW_ADMIN_BODY_LIMIT;
        goto done;
    }
    if (get_int(root, "stock", 1, 0, 0, TK_STOCK_MAX, &out->stock, err, errlen) ||
        get_int(root, "max_per_user", 0, 1, 1, TK_QUANTITY_MAX, &out->max_per_user, err, errlen) ||
        get_time(root, "opens_at", &out->opens_ms, err, errlen) || get_time(root, "closes_at", &out->closes_ms, err, errlen))
        goto done;
    if (out->closes_ms > 0 && out->opens_ms > 0 && out->closes_ms <= out->opens_ms) {
        fail(err, errlen, "closes_at must be after opens_at");
        goto done;
    }
    if (out->closes_ms > 0 && out->closes_ms <= now_ms) {
        fail(err, errlen, "closes_at must be in the future");
        goto done;
    }
    if (get_room(root, out, err, errlen) != 0 || get_priority(root, out, err, errlen) != 0)
        goto done;
    /* The room's admitter admits from opens_at (lua/wq_admit.lua), and the room's gate comes first: a
     * presale behind a room would give nobody an earlier start. Refused rather than kept silently useless. */
    if (out->wr_on && out->pr_opens_ms > 0) {
        fail(err, errlen, "priority and waiting_room cannot be combined (the room admits from opens_at)");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int gw_admin_body_parse_stock(const char *body, size_t len, int64_t *delta, char *err, size_t errlen)
{
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    json_t *f = json_object_get(root, "delta");
    if (json_is_integer(f) && (json_integer_value(f) > TK_STOCK_MAX || json_integer_value(f) < -TK_STOCK_MAX)) {
        snprintf(err, errlen, "delta must be from %lld to %lld", (long long)-TK_STOCK_MAX, (long long)TK_STOCK_MAX);
        json_decref(root);
        return GW_ADMIN_BODY_LIMIT;
    }
    int rc = get_int(root, "delta", 1, 0, -TK_STOCK_MAX, TK_STOCK_MAX, delta, err, errlen);
    if (rc == 0 && *delta == 0) {
        snprintf(err, errlen, "delta must be a non-zero integer from %lld to %lld", (long long)-TK_STOCK_MAX, (long long)TK_STOCK_MAX);
        rc = -1;
    }
    json_decref(root);
    return rc;
}

int gw_admin_body_parse_queue(const char *body, size_t len, gw_admin_body_queue_t *out, char *err, size_t errlen)
{
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    json_t *f = json_object_get(root, "release_per_s");
    out->has_rate = f != NULL && !json_is_null(f);
    if (get_int(root, "release_per_s", 0, 0, 1, GW_WR_RATE_MAX, &out->rate, err, errlen) != 0)
        goto done;
    f = json_object_get(root, "paused");
    out->has_paused = f != NULL && !json_is_null(f);
    if (out->has_paused && !json_is_boolean(f)) {
        fail(err, errlen, "paused must be true or false");
        goto done;
    }
    out->paused = out->has_paused && json_is_true(f);
    if (!out->has_rate && !out->has_paused) {
        fail(err, errlen, "release_per_s or paused is required");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int gw_admin_body_parse_state(const char *body, size_t len, char state[8], char *err, size_t errlen)
{
    static const char *const states[] = {"open", "paused", "closed"};
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    json_t *f = json_object_get(root, "state");
    if (json_is_string(f)) {
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
            if (strcmp(json_string_value(f), states[i]) == 0 && json_string_length(f) == strlen(states[i])) {
                strcpy(state, states[i]);
                rc = 0;
            }
        }
    }
    if (rc != 0)
        fail(err, errlen, f == NULL ? "state is required" : "state must be one of open, paused, closed");
    json_decref(root);
    return rc;
}
