/*
 * tk_fmt: decimal integers written without printf, for the bodies the hot
 * paths write many times per request (a board page has up to 1,000
 * entries, each with three integers and a time). A profile of the gateway
 * under 16,000 "around" reads/s put a third of its CPU in vfprintf and its
 * helpers; these write the same bytes in a few instructions per digit.
 */
#ifndef TK_FMT_H
#define TK_FMT_H

#include <stddef.h>
#include <stdint.h>

/** Bytes tk_fmt_i64 writes at most: a sign and 19 digits (no NUL). */
#define TK_FMT_I64_MAX 20

/** Writes @v in decimal, as printf's "%" PRId64 would, into @out (TK_FMT_I64_MAX bytes, no NUL). Returns the length. */
size_t tk_fmt_i64(char *out, int64_t v);

/** Writes the low @width decimal digits of @v, zero-padded, into @out (@width bytes, no NUL). */
void tk_fmt_pad(char *out, unsigned v, int width);

#endif
