#include "tk_grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *tk_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return arr;
    size_t n = *cap > 0 ? *cap * 2 : (first > 0 ? first : 1);
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return NULL;
    char *p = realloc(arr, n * size);
    if (p == NULL)
        return NULL;
    memset(p + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return p;
}
