#include "tk_lua.h"

#include <string.h>

const char *tk_lua_find(const char *name)
{
    for (const tk_lua_script_t *s = tk_lua_scripts; s->name != NULL; s++) {
        if (strcmp(s->name, name) == 0)
            return s->text;
    }
    return NULL;
}
