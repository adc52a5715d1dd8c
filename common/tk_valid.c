#include "tk_valid.h"

/* Character classes of the ids, one table lookup a byte (this runs on every
 * request, twice for a claim). Bit 1: event ids [a-z0-9_-]; bit 2: user ids
 * [A-Za-z0-9_.:@-]. */
enum { EVENT_CHAR = 1, USER_CHAR = 2 };
static unsigned char id_class[256];

__attribute__((constructor)) static void build_classes(void)
{
    for (int c = 0; c < 256; c++) {
        int lower = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9', upper = c >= 'A' && c <= 'Z';
        if (lower || digit || c == '_' || c == '-')
            id_class[c] |= EVENT_CHAR;
        if (lower || digit || upper || c == '_' || c == '.' || c == ':' || c == '@' || c == '-')
            id_class[c] |= USER_CHAR;
    }
}

static int id_chars(const char *s, size_t len, unsigned char cls)
{
    if (len == 0 || len > TK_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if ((id_class[(unsigned char)s[i]] & cls) == 0)
            return 0;
    }
    return 1;
}

int tk_valid_event_id(const char *s, size_t len)
{
    return id_chars(s, len, EVENT_CHAR);
}

int tk_valid_user_id(const char *s, size_t len)
{
    return id_chars(s, len, USER_CHAR);
}

int tk_valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

int tk_valid_name(const char *s, size_t len)
{
    if (len == 0 || len > TK_NAME_MAX || !tk_valid_utf8(s, len))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            return 0;
    }
    return 1;
}
