/*
 * gw_tls_ticket: the keys that encrypt TLS session tickets, rotated.
 *
 * Left alone, OpenSSL encrypts every session ticket of the process's life
 * with one random key made at SSL_CTX_new: whoever reads that key from
 * memory once can decrypt every ticket (and so every resumed session's
 * traffic) since the start, and a ticket is good as long as the process
 * runs. Here a small keyring replaces it: the newest key encrypts, the one
 * before still decrypts (and asks the client to take a renewed ticket), and
 * every @rotate_s the ring moves on and the oldest key is wiped. A ticket is
 * therefore resumable for at least @rotate_s and at most twice that.
 *
 * Rotation happens on use: every ticket callback first moves the ring by as
 * many periods as have passed (all keys replaced when that is more than the
 * ring holds), so no timer is needed and a ticket older than the window is
 * refused even when no handshake came in between. The loop threads share
 * one SSL_CTX, so the ring has a mutex; a callback holds it for a key lookup
 * and two cipher initialisations.
 *
 * Keys come from RAND_bytes; they are wiped (OPENSSL_cleanse) when they
 * leave the ring and when the SSL_CTX is freed (the ring is the context's
 * ex_data, freed with it: no separate free call).
 */
#ifndef GW_TLS_TICKET_H
#define GW_TLS_TICKET_H

#include <openssl/ssl.h>
#include <stddef.h>

#define GW_TLS_TICKET_KEYS 2 /* the current key and the one before it */

/**
 * Gives @ctx a ticket keyring rotated every @rotate_s seconds (>= 1) and the
 * callback that uses it. The ring belongs to @ctx from here on. Returns 0,
 * or -1 with @err (no randomness, no memory).
 */
int gw_tls_ticket_setup(SSL_CTX *ctx, long rotate_s, char *err, size_t errlen);

#endif
