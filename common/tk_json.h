/*
 * tk_json: writing JSON strings. Parsing is jansson's job (see docs); the
 * hot paths write their few fixed-shape bodies with snprintf, and every
 * string that is not a validated id goes through tk_json_escape.
 */
#ifndef TK_JSON_H
#define TK_JSON_H

#include <stddef.h>

/** Bytes tk_json_escape may need for @len input bytes, NUL included. */
#define TK_JSON_ESCAPED_MAX(len) ((len) * 6 + 1)

/**
 * Writes @s (@len bytes of UTF-8) into @out as the inside of a JSON string:
 * quote, backslash and control characters escaped. @out holds
 * TK_JSON_ESCAPED_MAX(@len) bytes. Returns the length written (NUL-terminated).
 */
size_t tk_json_escape(const char *s, size_t len, char *out);

#endif
