/*
 * gw_tls: the TLS context of the HTTPS listener (TLS 1.2+, ALPN h2 and
 * http/1.1), and the self-signed certificate made when none is configured.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/**
 * Writes a new self-signed certificate for localhost / 127.0.0.1 / ::1 and
 * its key to @cert_path and @key_path (mode 0600), creating the directory.
 * Only called when neither file exists. Returns 0 or -1 with @err.
 */
int gw_tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen);

/**
 * Creates the server SSL_CTX from PEM files, with ALPN for h2 and http/1.1.
 * When @generate is set and both files are missing they are made first.
 * Returns the context (caller frees with SSL_CTX_free) or NULL with @err.
 */
SSL_CTX *gw_tls_create(const char *cert_path, const char *key_path, int generate, char *err, size_t errlen);

#endif
