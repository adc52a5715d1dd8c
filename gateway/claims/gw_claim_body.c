#include "gw_claim_body.h"
#include "gw_claim_quick.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* @user_required 0: user_id may be absent (then out->ulen is 0), as with a user token. */
static int parse(const char *body, size_t len, int user_required, gw_claim_body_t *out, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    if (gw_claim_quick(body, len, user_required, out))
        return 0; /* the plain shape: what jansson would have given (gw_claim_quick.h) */
    if (len == 0) {
        snprintf(err, errlen, user_required ? "the body must be a JSON object with user_id" : "the body must be a JSON object");
        return -1;
    }
    /* Bounded depth and size: the body is at most 16 KiB (refused above). */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the body must be a JSON object");
        goto exit;
    }
    json_t *user = json_object_get(root, "user_id");
    out->user_id[0] = '\0';
    out->ulen = 0;
    if (user != NULL || user_required) {
        if (!json_is_string(user)) {
            snprintf(err, errlen, user_required ? "user_id is required and must be a string" : "user_id must be a string");
            goto exit;
        }
        size_t ulen = json_string_length(user);
        if (!tk_valid_user_id(json_string_value(user), ulen)) {
            snprintf(err, errlen, "user_id must be 1-64 of [A-Za-z0-9_.:@-]");
            goto exit;
        }
        memcpy(out->user_id, json_string_value(user), ulen);
        out->user_id[ulen] = '\0';
        out->ulen = ulen;
    }
    out->quantity = 1;
    json_t *qty = json_object_get(root, "quantity");
    if (qty != NULL && !json_is_null(qty)) {
        if (!json_is_integer(qty) || json_integer_value(qty) < 1 || json_integer_value(qty) > TK_QUANTITY_MAX) {
            snprintf(err, errlen, "quantity must be a whole number from 1 to %d", TK_QUANTITY_MAX);
            goto exit;
        }
        out->quantity = (int)json_integer_value(qty);
    }
    rc = 0;
exit:
    json_decref(root);
    return rc;
}

int gw_claim_body_parse(const char *body, size_t len, gw_claim_body_t *out, char *err, size_t errlen)
{
    return parse(body, len, 1, out, err, errlen);
}

int gw_claim_body_parse_opt_user(const char *body, size_t len, gw_claim_body_t *out, char *err, size_t errlen)
{
    return parse(body, len, 0, out, err, errlen);
}
