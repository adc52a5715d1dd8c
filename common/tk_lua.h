/*
 * tk_lua: the Redis scripts of lua/, compiled into every binary by
 * scripts/embed-lua.sh. A script is loaded with SCRIPT LOAD at start and
 * called by SHA; on NOSCRIPT (Redis restarted) it is loaded again.
 */
#ifndef TK_LUA_H
#define TK_LUA_H

typedef struct {
    const char *name; /* file name without ".lua" */
    const char *text;
} tk_lua_script_t;

/** Every script of lua/, ending with {NULL, NULL}. */
extern const tk_lua_script_t tk_lua_scripts[];

/** The text of lua/@name.lua, or NULL. */
const char *tk_lua_find(const char *name);

#endif
