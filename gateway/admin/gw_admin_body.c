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

/* Loads @body as a JSON object; NULL with @err set otherwise. */
static json_t *load_object(const char *body, size_t len, char *err, size_t errlen)
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

int gw_admin_body_parse_create(const char *body, size_t len, int64_t now_ms, gw_admin_body_create_t *out, char *err, size_t errlen)
{
    json_t *root = load_object(body, len, err, errlen);
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
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int gw_admin_body_parse_stock(const char *body, size_t len, int64_t *delta, char *err, size_t errlen)
{
    json_t *root = load_object(body, len, err, errlen);
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

int gw_admin_body_parse_state(const char *body, size_t len, char state[8], char *err, size_t errlen)
{
    static const char *const states[] = {"open", "paused", "closed"};
    json_t *root = load_object(body, len, err, errlen);
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
