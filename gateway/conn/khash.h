/*
 * khash.h: just enough of the stream table's declaration for
 * <h2o/http2_internal.h> to compile — not a hash table library.
 *
 * h2o 2.2.5 keeps an HTTP/2 connection's streams in a klib khash table
 * (`KHASH_MAP_INIT_INT64(h2o_http2_stream_t, h2o_http2_stream_t *)`), and its
 * public internals header includes "khash.h", which Debian's
 * libh2o-evloop-dev does not ship. The HTTP/2 guard (gw_h2guard.c) only
 * reads that table — it walks the buckets and looks one stream up by id —
 * so all it needs is the table's layout and the meaning of its flag bits,
 * which is what this header declares. Because the library, not us, builds
 * and changes the table, the layout here must be exactly the one libh2o was
 * compiled with:
 *
 *   n_buckets, size, n_occupied, upper_bound (32-bit each), then the
 *   pointers flags (2 bits per bucket: 2 = empty, 1 = deleted), keys, vals.
 *
 * A lookup scans the buckets instead of probing: it does not depend on the
 * library's hash function, and a connection has at most a few hundred
 * buckets (100 streams). tests/integration/it_h2_limits.c fails if the
 * guard stops finding streams (a changed layout after an h2o upgrade).
 *
 * Found by the include path (gateway/conn is on it) because
 * http2_internal.h includes it with quotes from /usr/include/h2o.
 */
#ifndef GW_KHASH_SHIM_H
#define GW_KHASH_SHIM_H

#include <stdint.h>

typedef uint32_t khint32_t;
typedef uint64_t khint64_t;
typedef khint32_t khint_t;
typedef khint_t khiter_t;

#define gw_kh_flag_either(flags, i) (((flags)[(i) >> 4] >> (((i) & 0xfU) << 1)) & 3)

#define KHASH_MAP_INIT_INT64(name, khval_t)                                                                                    \
    typedef struct kh_##name##_s {                                                                                             \
        khint_t n_buckets, size, n_occupied, upper_bound;                                                                      \
        khint32_t *flags;                                                                                                      \
        khint64_t *keys;                                                                                                       \
        khval_t *vals;                                                                                                         \
    } kh_##name##_t;                                                                                                           \
    static inline khint_t kh_get_##name(const kh_##name##_t *h, khint64_t key)                                                 \
    {                                                                                                                          \
        for (khint_t i = 0; i < h->n_buckets; i++)                                                                             \
            if (!gw_kh_flag_either(h->flags, i) && h->keys[i] == key)                                                          \
                return i;                                                                                                      \
        return h->n_buckets;                                                                                                   \
    }

#define khash_t(name) kh_##name##_t
#define kh_get(name, h, k) kh_get_##name(h, k)
#define kh_begin(h) ((khint_t)0)
#define kh_end(h) ((h)->n_buckets)
#define kh_exist(h, x) (!gw_kh_flag_either((h)->flags, (x)))
#define kh_key(h, x) ((h)->keys[x])
#define kh_val(h, x) ((h)->vals[x])

#endif
