#include "tk_json.h"

size_t tk_json_escape(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            out[o++] = '\\', out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\', out[o++] = '\\';
            break;
        case '\n':
            out[o++] = '\\', out[o++] = 'n';
            break;
        case '\r':
            out[o++] = '\\', out[o++] = 'r';
            break;
        case '\t':
            out[o++] = '\\', out[o++] = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out[o++] = '\\', out[o++] = 'u', out[o++] = '0', out[o++] = '0';
                out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
            } else {
                out[o++] = (char)c;
            }
        }
    }
    out[o] = '\0';
    return o;
}
