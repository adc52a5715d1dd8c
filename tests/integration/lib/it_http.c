#include "it_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "it_proc.h"

static int curl_ready;

static void init_once(void)
{
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    it_resp_t *r = ud;
    size_t n = size * nmemb;
    if (r->body_len + n > 64 * 1024 * 1024)
        return 0; /* nothing we test is that big: fail the transfer */
    char *b = realloc(r->body, r->body_len + n + 1);
    if (b == NULL)
        return 0;
    memcpy(b + r->body_len, data, n);
    r->body = b;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void copy_header_value(char *dst, size_t dstlen, const char *line, size_t len, size_t name_len)
{
    const char *v = line + name_len;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t n = (size_t)(end - v) < dstlen - 1 ? (size_t)(end - v) : dstlen - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    it_resp_t *r = ud;
    size_t n = size * nmemb;
    static const struct {
        const char *name;
        size_t off, len;
    } wanted[] = {
        {"content-type:", offsetof(it_resp_t, content_type), sizeof(((it_resp_t *)0)->content_type)},
        {"location:", offsetof(it_resp_t, location), sizeof(((it_resp_t *)0)->location)},
        {"retry-after:", offsetof(it_resp_t, retry_after), sizeof(((it_resp_t *)0)->retry_after)},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t nl = strlen(wanted[i].name);
        if (n >= nl && strncasecmp(line, wanted[i].name, nl) == 0)
            copy_header_value((char *)r + wanted[i].off, wanted[i].len, line, n, nl);
    }
    if (n >= 12 && strncasecmp(line, "retry-after:", 12) == 0)
        r->retry_after_n++;
    return n;
}

static CURL *setup(CURL *c, it_resp_t *r, it_http_ver_t ver, const char *method, const char *url, struct curl_slist *hdrs,
                   const char *body, size_t body_len)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    /* The gateway's certificate is not verified, so the system CA bundle is not needed: a libcurl
     * built on GnuTLS re-reads it for every handle (measured ~250 ms of client CPU per request,
     * enough to let it_abuse's rate-limit buckets refill faster than the test spends them). */
    curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, ver == IT_HTTP2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    return c;
}

static struct curl_slist *make_headers(const char *const *headers, int has_body)
{
    struct curl_slist *h = NULL;
    /* No "Expect: 100-continue" round trip on big bodies: we test the server's answer, not curl's. */
    h = curl_slist_append(h, "Expect:");
    if (has_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    return h;
}

static void finish(CURL *c, it_resp_t *r, CURLcode code)
{
    r->code = code;
    if (code == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->http_version);
        if (r->body_len > 0)
            r->json = json_loadb(r->body, r->body_len, 0, NULL);
    }
}

int it_http(it_resp_t *r, it_http_ver_t ver, const char *method, const char *url, const char *const *headers, const char *body,
            size_t body_len, int timeout_ms)
{
    init_once();
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        r->code = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    struct curl_slist *hdrs = make_headers(headers, body != NULL);
    setup(c, r, ver, method, url, hdrs, body, body_len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    finish(c, r, curl_easy_perform(c));
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return r->code == CURLE_OK ? 0 : -1;
}

void it_resp_free(it_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    if (r->json != NULL)
        json_decref(r->json);
    r->json = NULL;
}

const char *it_resp_error_code(const it_resp_t *r)
{
    json_t *e = r->json != NULL ? json_object_get(r->json, "error") : NULL;
    return e != NULL ? it_json_str(e, "code") : NULL;
}

const char *it_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long it_json_int(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The state of one it_http_multi run. Each slot owns one easy handle, reused so its connection stays alive. */
typedef struct {
    CURLM *m;
    it_multi_req_t *reqs;
    size_t n, next;
    it_http_ver_t ver;
    long long deadline;
    CURL **easy;
    size_t *slot_req;
    struct curl_slist **slot_hdrs;
} multi_t;

static void start_slot(multi_t *mt, int slot)
{
    it_multi_req_t *q = &mt->reqs[mt->next];
    if (mt->easy[slot] == NULL)
        mt->easy[slot] = curl_easy_init();
    else
        curl_easy_reset(mt->easy[slot]);
    CURL *c = mt->easy[slot];
    mt->slot_hdrs[slot] = make_headers(q->headers, q->body != NULL);
    setup(c, &q->resp, mt->ver, q->method, q->url, mt->slot_hdrs[slot], q->body, q->body ? strlen(q->body) : 0);
    long left = (long)(mt->deadline - it_now_ms());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left > 1 ? left : 1L);
    curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)(intptr_t)slot);
    mt->slot_req[slot] = mt->next++;
    curl_multi_add_handle(mt->m, c);
}

size_t it_http_multi(it_multi_req_t *reqs, size_t n, int parallel, it_http_ver_t ver, int deadline_ms)
{
    init_once();
    if (parallel < 1)
        parallel = 1;
    multi_t mt = {.reqs = reqs, .n = n, .ver = ver, .deadline = it_now_ms() + deadline_ms};
    mt.m = curl_multi_init();
    mt.easy = calloc((size_t)parallel, sizeof *mt.easy);
    mt.slot_req = calloc((size_t)parallel, sizeof *mt.slot_req);
    mt.slot_hdrs = calloc((size_t)parallel, sizeof *mt.slot_hdrs);
    size_t answered = 0;
    for (size_t i = 0; i < n; i++)
        memset(&reqs[i].resp, 0, sizeof reqs[i].resp);
    if (mt.m == NULL || mt.easy == NULL || mt.slot_req == NULL || mt.slot_hdrs == NULL)
        goto out;
    curl_multi_setopt(mt.m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
    curl_multi_setopt(mt.m, CURLMOPT_MAXCONNECTS, (long)parallel);
    curl_multi_setopt(mt.m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

    int running = 0;
    for (int s = 0; s < parallel && mt.next < n; s++, running++)
        start_slot(&mt, s);
    while (running > 0) {
        int still;
        curl_multi_perform(mt.m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(mt.m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            int slot = (int)(intptr_t)priv;
            it_multi_req_t *q = &reqs[mt.slot_req[slot]];
            finish(mt.easy[slot], &q->resp, msg->data.result);
            q->done_ms = it_now_ms();
            if (msg->data.result == CURLE_OK)
                answered++;
            curl_multi_remove_handle(mt.m, mt.easy[slot]);
            curl_slist_free_all(mt.slot_hdrs[slot]);
            mt.slot_hdrs[slot] = NULL;
            running--;
            if (mt.next < n && it_now_ms() < mt.deadline) {
                start_slot(&mt, slot);
                running++;
            }
        }
        if (it_now_ms() >= mt.deadline + 2000)
            break; /* curl's own timeouts should have ended every transfer by now */
        if (running > 0)
            curl_multi_poll(mt.m, NULL, 0, 50, NULL);
    }
out:
    for (int s = 0; mt.easy != NULL && s < parallel; s++) {
        if (mt.easy[s] != NULL) {
            curl_multi_remove_handle(mt.m, mt.easy[s]);
            curl_easy_cleanup(mt.easy[s]);
        }
        if (mt.slot_hdrs != NULL)
            curl_slist_free_all(mt.slot_hdrs[s]);
    }
    for (size_t i = 0; i < n; i++)
        if (reqs[i].resp.status == 0 && reqs[i].resp.code == CURLE_OK)
            reqs[i].resp.code = CURLE_OPERATION_TIMEDOUT; /* never started, or cut off */
    free(mt.easy);
    free(mt.slot_req);
    free(mt.slot_hdrs);
    if (mt.m != NULL)
        curl_multi_cleanup(mt.m);
    return answered;
}
