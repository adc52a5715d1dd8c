#include "gw_tls_ticket.h"
#include "tk_log.h"
#include "tk_time.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int valid;
    unsigned char name[16]; /* sent in the clear at the start of the ticket: which key */
    unsigned char aes[32];  /* AES-256-CBC, as OpenSSL's own tickets (encrypt-then-MAC below) */
    unsigned char hmac[32]; /* HMAC-SHA256 over the encrypted ticket */
} ticket_key_t;

typedef struct {
    pthread_mutex_t lock;
    ticket_key_t keys[GW_TLS_TICKET_KEYS]; /* [0] encrypts; every valid one decrypts */
    int64_t period_ms;
    int64_t rotated_ms; /* monotonic time keys[0] became current */
} ring_t;

static int ring_index = -1;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    ring_t *ring = ptr;
    if (ring == NULL)
        return;
    OPENSSL_cleanse(ring->keys, sizeof(ring->keys));
    pthread_mutex_destroy(&ring->lock);
    free(ring);
}

static void make_index(void)
{
    ring_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ring_free);
}

static int make_key(ticket_key_t *k)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
        OPENSSL_cleanse(k, sizeof(*k));
        return -1;
    }
    k->valid = 1;
    return 0;
}

/* Moves the ring on by the periods passed since the last rotation. Lock held. */
static void rotate_due(ring_t *ring, int64_t now_ms)
{
    int64_t steps = (now_ms - ring->rotated_ms) / ring->period_ms;
    if (steps <= 0)
        return;
    size_t shift = steps >= GW_TLS_TICKET_KEYS ? GW_TLS_TICKET_KEYS : (size_t)steps;
    for (size_t i = GW_TLS_TICKET_KEYS; i-- > 0;) {
        if (i >= shift)
            ring->keys[i] = ring->keys[i - shift];
        else
            OPENSSL_cleanse(&ring->keys[i], sizeof(ring->keys[i]));
    }
    /* Kept on the period grid, so a ticket's life does not stretch with late handshakes. */
    ring->rotated_ms += steps * ring->period_ms;
    if (make_key(&ring->keys[0]) != 0)
        tk_warn("TLS: no randomness for a new session-ticket key; no tickets issued until the next rotation");
}

static int set_mac_key(EVP_MAC_CTX *hctx, unsigned char *key, size_t len)
{
    static char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, len),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/*
 * OpenSSL's ticket callback. Encrypting (enc = 1): fill name and iv, set
 * up both contexts with the current key; 1, or 0 for "no ticket" when
 * there is no current key. Decrypting: the key named @name; 1 when it is
 * the current one, 2 (decrypt, then issue a renewed ticket) for an older
 * one, 0 (a full handshake) when the key is gone; -1 on an OpenSSL error.
 */
static int on_ticket(SSL *s, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
                     int enc)
{
    ring_t *ring = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), ring_index);
    if (ring == NULL)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&ring->lock);
    rotate_due(ring, tk_time_mono_ms());
    if (enc) {
        ticket_key_t *k = &ring->keys[0];
        if (!k->valid)
            goto out;
        rc = -1;
        if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1)
            goto out;
        memcpy(name, k->name, sizeof(k->name));
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 || set_mac_key(hctx, k->hmac, sizeof(k->hmac)) != 0)
            goto out;
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < GW_TLS_TICKET_KEYS; i++) {
        ticket_key_t *k = &ring->keys[i];
        if (!k->valid || CRYPTO_memcmp(k->name, name, sizeof(k->name)) != 0)
            continue;
        rc = -1;
        if (set_mac_key(hctx, k->hmac, sizeof(k->hmac)) != 0 || EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            goto out;
        rc = i == 0 ? 1 : 2;
        goto out;
    }
out:
    pthread_mutex_unlock(&ring->lock);
    return rc;
}

int gw_tls_ticket_setup(SSL_CTX *ctx, long rotate_s, char *err, size_t errlen)
{
    pthread_once(&ring_once, make_index);
    if (ring_index < 0) {
        snprintf(err, errlen, "session tickets: no SSL_CTX ex_data index");
        return -1;
    }
    if (rotate_s < 1) {
        snprintf(err, errlen, "session tickets: rotation period %ld s, must be at least 1", rotate_s);
        return -1;
    }
    ring_t *ring = calloc(1, sizeof(*ring));
    if (ring == NULL) {
        snprintf(err, errlen, "session tickets: out of memory");
        return -1;
    }
    pthread_mutex_init(&ring->lock, NULL);
    ring->period_ms = (int64_t)rotate_s * 1000;
    ring->rotated_ms = tk_time_mono_ms();
    if (make_key(&ring->keys[0]) != 0) {
        ring_free(NULL, ring, NULL, 0, 0, NULL);
        snprintf(err, errlen, "session tickets: RAND_bytes failed");
        return -1;
    }
    if (SSL_CTX_set_ex_data(ctx, ring_index, ring) != 1) {
        ring_free(NULL, ring, NULL, 0, 0, NULL);
        snprintf(err, errlen, "session tickets: SSL_CTX_set_ex_data failed");
        return -1;
    }
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket) != 1) {
        snprintf(err, errlen, "session tickets: cannot set the key callback");
        return -1; /* the ring is the context's now: freed with it */
    }
    return 0;
}
