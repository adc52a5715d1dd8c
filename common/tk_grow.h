/*
 * tk_grow: the one way the project grows an array it owns.
 */
#ifndef TK_GROW_H
#define TK_GROW_H

#include <stddef.h>

/**
 * Makes room for @need elements of @size bytes in @arr (*@cap of them
 * today): when @need > *@cap, reallocates to the first of @first, 2·@first,
 * 4·@first, … (at least *@cap doubled) that holds @need, zeroes the new
 * elements and updates *@cap. Returns the array to use from now on (@arr
 * itself when it had room), or NULL when out of memory: then @arr and *@cap
 * are untouched and the caller still owns @arr.
 */
void *tk_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first);

#endif
