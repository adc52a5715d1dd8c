/*
 * tk_streamid: Redis stream entry ids ("<ms>-<seq>"), compared as Redis
 * orders them.
 *
 * An id is two 64-bit numbers, so its text does not sort: "5-10" comes
 * after "5-9" in the stream but before it under strcmp, and "10-0" before
 * "9-0". Every comparison of entry ids in the project goes through
 * tk_streamid_cmp.
 */
#ifndef TK_STREAMID_H
#define TK_STREAMID_H

#include <stdint.h>

/**
 * Parses "<ms>-<seq>" (or "<ms>" alone, seq 0), each part 1-20 decimal
 * digits that fit in 64 bits. Returns 0 and sets *@ms and *@seq, or -1 when
 * @s is not such an id.
 */
int tk_streamid_parse(const char *s, uint64_t *ms, uint64_t *seq);

/**
 * Orders two entry ids as Redis does: by ms, then by seq, as numbers. Text
 * that is not an id sorts before every id, and such texts among themselves
 * by strcmp, so the order is total. Returns <0, 0 or >0.
 */
int tk_streamid_cmp(const char *a, const char *b);

#endif
