/*
 * gw_board_body: the board write routes' JSON bodies (jansson); see
 * gw_board_body.h. Integers are jansson's json_int_t (64 bits), so a
 * component is read exactly and compared with the range in integers; a JSON
 * number with a fraction or an exponent is a real, never an integer, and is
 * refused (1.0 included). An integer beyond 64 bits fails jansson's parse:
 * the whole body is malformed.
 */
#include "gw_board_body.h"
#include "gw_admin_body.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int gw_board_body_parse_create(const char *body, size_t len, gw_board_def_t *out, char *err, size_t errlen)
{
    static const char *const ops[] = {"best", "set", "incr"};
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    memset(out, 0, sizeof(*out));

    json_t *f = json_object_get(root, "board_id");
    if (!json_is_string(f) || !tk_valid_event_id(json_string_value(f), json_string_length(f))) {
        snprintf(err, errlen, "%s", f == NULL || json_is_null(f) ? "board_id is required" : "board_id must be 1-64 of [a-z0-9_-]");
        goto done;
    }
    out->blen = json_string_length(f);
    memcpy(out->board_id, json_string_value(f), out->blen);

    f = json_object_get(root, "name");
    if (f == NULL || json_is_null(f)) {
        memcpy(out->name, out->board_id, out->blen + 1);
        out->nlen = out->blen;
    } else if (!json_is_string(f) || !tk_valid_name(json_string_value(f), json_string_length(f))) {
        snprintf(err, errlen, "name must be 1-%d bytes of UTF-8 without control characters", TK_NAME_MAX);
        goto done;
    } else {
        out->nlen = json_string_length(f);
        memcpy(out->name, json_string_value(f), out->nlen);
    }

    f = json_object_get(root, "components");
    if (!json_is_integer(f) || (json_integer_value(f) != 1 && json_integer_value(f) != 2)) {
        snprintf(err, errlen, "%s", f == NULL || json_is_null(f) ? "components is required" : "components must be 1 or 2");
        goto done;
    }
    out->comps = (int)json_integer_value(f);

    f = json_object_get(root, "operator");
    for (size_t i = 0; json_is_string(f) && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (json_string_length(f) == strlen(ops[i]) && strcmp(json_string_value(f), ops[i]) == 0)
            strcpy(out->op, ops[i]);
    if (out->op[0] == '\0') {
        snprintf(err, errlen, "%s", f == NULL || json_is_null(f) ? "operator is required" : "operator must be one of best, set, incr");
        goto done;
    }

    f = json_object_get(root, "season_length_s");
    if (f != NULL && !json_is_null(f)) {
        if (!json_is_integer(f) || json_integer_value(f) < 0 || json_integer_value(f) > GW_BOARD_SEASON_LEN_MAX) {
            snprintf(err, errlen, "season_length_s must be an integer from 0 (by hand only) to %lld", (long long)GW_BOARD_SEASON_LEN_MAX);
            goto done;
        }
        out->season_len_s = json_integer_value(f);
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* One component: an integer (not a real) within the boards' range. */
static int component(json_t *v, int64_t *c)
{
    if (!json_is_integer(v) || !tk_lb_score_ok(json_integer_value(v)))
        return -1;
    *c = json_integer_value(v);
    return 0;
}

/* One item of "scores" into @e: 0, or -1 when it is not a valid entry. */
static int entry(json_t *item, gw_board_score_t *e)
{
    if (!json_is_object(item))
        return -1;
    json_t *u = json_object_get(item, "user_id"), *s = json_object_get(item, "score");
    if (!json_is_string(u) || !tk_valid_user_id(json_string_value(u), json_string_length(u)) || !json_is_array(s) ||
        json_array_size(s) < 1 || json_array_size(s) > 2)
        return -1;
    e->comps = (uint8_t)json_array_size(s);
    e->c2 = 0;
    if (component(json_array_get(s, 0), &e->c1) != 0 || (e->comps == 2 && component(json_array_get(s, 1), &e->c2) != 0))
        return -1;
    e->ulen = (uint8_t)json_string_length(u);
    memcpy(e->user, json_string_value(u), e->ulen);
    e->user[e->ulen] = '\0';
    return 0;
}

int gw_board_body_parse_scores(const char *body, size_t len, gw_board_score_t *out, int *n, int *invalid, char *err, size_t errlen)
{
    *n = *invalid = 0;
    json_t *root = gw_admin_body_load(body, len, err, errlen);
    if (root == NULL)
        return -1;
    int rc = -1;
    json_t *scores = json_object_get(root, "scores");
    if (!json_is_array(scores) || json_array_size(scores) < 1 || json_array_size(scores) > GW_BOARD_SCORES_MAX) {
        snprintf(err, errlen, "scores must be an array of 1 to %d entries", GW_BOARD_SCORES_MAX);
        goto done;
    }
    size_t i;
    json_t *item;
    json_array_foreach(scores, i, item) {
        if (entry(item, &out[*n]) == 0)
            (*n)++;
        else
            (*invalid)++;
    }
    if (*n == 0) {
        snprintf(err, errlen,
                 "no valid entry: each needs a user_id (1-64 of [A-Za-z0-9_.:@-]) and a score of 1 or 2 integers from %lld to %lld",
                 (long long)-TK_LB_SCORE_MAX, (long long)TK_LB_SCORE_MAX);
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}
