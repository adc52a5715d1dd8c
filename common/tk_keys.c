#include "tk_keys.h"
#include "tk_valid.h"

#include <stdio.h>

int tk_key(tk_key_kind_t kind, const char *event_id, size_t len, char *out)
{
    static const char *const suffix[] = {"ev",     "claims",  "q",      "pr",      "wq",
                                         "wq:pos", "wq:line", "wq:seen", "wq:live", "wq:adm",
                                         "wq:gone", "wq:rel", "prio", "wq:fence"};
    if (len == 0 || len > TK_ID_MAX || (unsigned)kind > TK_KEY_WQ_FENCE)
        return -1;
    int n = snprintf(out, TK_KEY_MAX, "tk:{%.*s}:%s", (int)len, event_id, suffix[kind]);
    return n > 0 && n < TK_KEY_MAX ? n : -1;
}

int tk_lb_key(tk_lb_key_kind_t kind, const char *board_id, size_t len, unsigned season, char *out)
{
    if (len == 0 || len > TK_ID_MAX)
        return -1;
    int n;
    switch (kind) {
    case TK_LB_BOARD:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}", (int)len, board_id);
        break;
    case TK_LB_STREAM:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:q", (int)len, board_id);
        break;
    case TK_LB_SEASONS:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:sn", (int)len, board_id);
        break;
    case TK_LB_RANK:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:z:%u", (int)len, board_id, season);
        break;
    case TK_LB_USERS:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:u:%u", (int)len, board_id, season);
        break;
    case TK_LB_PEND:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:pend", (int)len, board_id);
        break;
    case TK_LB_DROP:
        n = snprintf(out, TK_KEY_MAX, "tk:lb:{%.*s}:drop", (int)len, board_id);
        break;
    default:
        return -1;
    }
    return n > 0 && n < TK_KEY_MAX ? n : -1;
}
