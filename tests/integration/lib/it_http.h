/*
 * it_http: HTTP requests for the integration tests, with libcurl.
 *
 * One request at a time (it_http) or many over K parallel keep-alive
 * connections (it_http_multi, the curl multi interface). HTTPS certificates
 * are not verified: the gateway's is self-signed. Every call has a deadline.
 */
#ifndef IT_HTTP_H
#define IT_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

typedef enum {
    IT_HTTP1 = 1, /* HTTP/1.1 */
    IT_HTTP2 = 2, /* HTTP/2 over TLS by ALPN (CURL_HTTP_VERSION_2TLS) */
} it_http_ver_t;

typedef struct {
    CURLcode code;       /* CURLE_OK when a response arrived */
    char errbuf[CURL_ERROR_SIZE];
    long status;         /* HTTP status, 0 when none */
    long http_version;   /* CURLINFO_HTTP_VERSION: CURL_HTTP_VERSION_1_1, _2_0 */
    char *body;          /* NUL-terminated, owned; freed by it_resp_free */
    size_t body_len;
    json_t *json;        /* the body parsed, or NULL when it is not JSON; owned */
    char content_type[128];
    char location[512];
    char retry_after[32];
    int retry_after_n;   /* Retry-After header lines received: a reply carries at most one */
} it_resp_t;

/**
 * Sends one request. @headers: NULL-terminated "Name: value" lines, or NULL.
 * @body may be NULL. Fills @r (always; free it with it_resp_free). Returns 0
 * when a response arrived within @timeout_ms, else -1 (r->code, r->errbuf).
 */
int it_http(it_resp_t *r, it_http_ver_t ver, const char *method, const char *url, const char *const *headers, const char *body,
            size_t body_len, int timeout_ms);

/** Frees what @r owns; safe on a zeroed or already freed response. */
void it_resp_free(it_resp_t *r);

/** The error code of an error body ({"error":{"code":…}}), or NULL. */
const char *it_resp_error_code(const it_resp_t *r);

/** json_string_value / json_integer_value of a top-level field; NULL / -1 when absent or of another type. */
const char *it_json_str(const json_t *obj, const char *key);
long long it_json_int(const json_t *obj, const char *key);

/** One request of a batch for it_http_multi. The caller owns method, url, body, headers. */
typedef struct {
    const char *method;
    const char *url;
    const char *body; /* or NULL */
    const char *const *headers;
    it_resp_t resp; /* filled by it_http_multi; free each with it_resp_free */
    long long done_ms; /* when the response completed (it_now_ms), for order checks */
} it_multi_req_t;

/**
 * Runs @n requests with at most @parallel in flight, over at most @parallel
 * connections kept alive between requests (for HTTP/2 each its own
 * connection, no multiplexing, so @parallel is the connection count). Stops
 * at @deadline_ms overall. Returns the number of requests that got a
 * response; the rest have resp.code set (CURLE_OPERATION_TIMEDOUT when the
 * deadline cut them off).
 */
size_t it_http_multi(it_multi_req_t *reqs, size_t n, int parallel, it_http_ver_t ver, int deadline_ms);

#endif
