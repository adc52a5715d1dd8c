#include "gw_tls.h"
#include "gw_tls_ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void ssl_err(char *err, size_t errlen, const char *what)
{
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    snprintf(err, errlen, "%s: %s", what, buf);
}

/* mkdir -p for the directory part of @path. */
static int make_parent(const char *path)
{
    char dir[512];
    if (strlen(path) >= sizeof(dir))
        return -1;
    strcpy(dir, path);
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static FILE *open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    return fd < 0 ? NULL : fdopen(fd, "w");
}

int gw_tls_make_self_signed(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
    int rc = -1;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    X509_EXTENSION *ext = NULL;
    FILE *f = NULL;

    if (make_parent(cert_path) != 0 || make_parent(key_path) != 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", cert_path, strerror(errno));
        goto exit;
    }
    if ((pkey = EVP_EC_gen("P-256")) == NULL) {
        ssl_err(err, errlen, "generating a P-256 key");
        goto exit;
    }
    if ((x = X509_new()) == NULL)
        goto fail;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tk gateway (self-signed)", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1")) == NULL ||
        !X509_add_ext(x, ext, -1))
        goto fail;
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto fail;

    if ((f = open_private(key_path)) == NULL || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0) {
        f = NULL;
        snprintf(err, errlen, "cannot write %s", key_path);
        goto exit;
    }
    if ((f = open_private(cert_path)) == NULL || !PEM_write_X509(f, x) || fclose(f) != 0) {
        f = NULL;
        snprintf(err, errlen, "cannot write %s", cert_path);
        goto exit;
    }
    f = NULL;
    rc = 0;
    goto exit;
fail:
    ssl_err(err, errlen, "making the self-signed certificate");
exit:
    if (f != NULL)
        fclose(f);
    X509_EXTENSION_free(ext);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

SSL_CTX *gw_tls_create(const char *cert_path, const char *key_path, int generate, long ticket_rotate_s, char *err, size_t errlen)
{
    if (generate && access(cert_path, F_OK) != 0 && access(key_path, F_OK) != 0 &&
        gw_tls_make_self_signed(cert_path, key_path, err, errlen) != 0)
        return NULL;

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_err(err, errlen, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(ctx, GW_TLS_CIPHERS_TLS12) != 1) {
        ssl_err(err, errlen, "setting the TLS versions and ciphers");
        goto fail;
    }
    /* TLS 1.3 keeps OpenSSL's suites (all AEAD, all forward-secret). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    /* Resumption only through tickets, whose keys rotate (gw_tls_ticket.h):
     * OpenSSL's server cache would keep up to 20,480 sessions' secrets for
     * two hours, and no other gateway behind a load balancer shares it. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (gw_tls_ticket_setup(ctx, ticket_rotate_s, err, errlen) != 0)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        ssl_err(err, errlen, cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, key_path);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int gw_tls_req_is_secure(h2o_req_t *req)
{
    /* The socket, not req->scheme: over cleartext HTTP/2 the client names
     * the scheme itself (":scheme: https"). */
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    return sock != NULL && sock->ssl != NULL;
}
