/*
 * gw_tls: the TLS context of the HTTPS listener, and the self-signed
 * certificate made when none is configured.
 *
 * What the context allows, and why (docs/DESIGN.md, "Edge hardening"):
 * TLS 1.2 and 1.3 only; on TLS 1.2 only ECDHE key exchange with AEAD
 * ciphers (AES-GCM, ChaCha20-Poly1305): no CBC, no SHA-1 MAC, no RSA key
 * exchange, so every session is forward-secret; TLS 1.3's suites as
 * OpenSSL has them. The server's order decides (SSL_OP_CIPHER_SERVER_
 * PREFERENCE; libh2o leaves the context's options alone, it_edge checks).
 * Session tickets are encrypted with rotated keys (gw_tls_ticket.h) and
 * OpenSSL's server session cache is off. ALPN offers h2 and http/1.1.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <stddef.h>

/* TLS 1.2 suites, in the server's order of preference: AES-128-GCM first
 * (fast with AES-NI, as strong as needed), then AES-256-GCM, then
 * ChaCha20-Poly1305 (for clients without AES instructions). ECDSA and RSA
 * certificates both work. */
#define GW_TLS_CIPHERS_TLS12                                                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/**
 * Writes a new self-signed certificate for localhost / 127.0.0.1 / ::1 and
 * its key to @cert_path and @key_path (mode 0600), creating the directory.
 * Only called when neither file exists. Returns 0 or -1 with @err.
 */
int gw_tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen);

/**
 * Creates the server SSL_CTX from PEM files, with ALPN for h2 and http/1.1,
 * the versions and ciphers above, and session-ticket keys rotated every
 * @ticket_rotate_s seconds. When @generate is set and both files are
 * missing they are made first. Returns the context (caller frees with
 * SSL_CTX_free, which also wipes the ticket keys) or NULL with @err.
 */
SSL_CTX *gw_tls_create(const char *cert_path, const char *key_path, int generate, long ticket_rotate_s, char *err, size_t errlen);

/** 1 when @req came over TLS (the HTTPS listener), 0 over the cleartext port. */
int gw_tls_req_is_secure(h2o_req_t *req);

#endif
