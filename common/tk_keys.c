#include "tk_keys.h"
#include "tk_valid.h"

#include <stdio.h>

int tk_key(tk_key_kind_t kind, const char *event_id, size_t len, char *out)
{
    static const char *const suffix[] = {"ev",     "claims",  "q",      "pr",      "wq",
                                         "wq:pos", "wq:line", "wq:seen", "wq:live", "wq:adm",
                                         "wq:gone", "wq:rel"};
    if (len == 0 || len > TK_ID_MAX || (unsigned)kind > TK_KEY_WQ_REL)
        return -1;
    int n = snprintf(out, TK_KEY_MAX, "tk:{%.*s}:%s", (int)len, event_id, suffix[kind]);
    return n > 0 && n < TK_KEY_MAX ? n : -1;
}
