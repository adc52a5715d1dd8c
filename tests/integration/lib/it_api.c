#include "it_api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_db.h"
#include "it_env.h"
#include "it_redis.h"
#include "tk_time.h"
#include "tk_valid.h"

const char *it_api_auth_header(const it_fix_t *f, it_auth_t auth, char *out)
{
    switch (auth) {
    case IT_ADMIN:
        snprintf(out, 128, "Authorization: Bearer %s", f->gw.admin_token);
        return out;
    case IT_BAD_AUTH:
        /* Same length as the real one, one character off: a prefix check would pass it. */
        snprintf(out, 128, "Authorization: Bearer %s", f->gw.admin_token);
        out[strlen(out) - 1] = out[strlen(out) - 1] == '0' ? '1' : '0';
        return out;
    default:
        return NULL;
    }
}

const char *it_api_user_of(const char *path, const char *body, char *out)
{
    static const char events[] = "/v1/events/";
    const char *user = NULL;
    size_t len = 0;
    if (strncmp(path, events, sizeof events - 1) == 0) {
        const char *ev = path + sizeof events - 1, *slash = strchr(ev, '/');
        if (slash != NULL && strncmp(slash, "/claims/", 8) == 0 && strchr(slash + 8, '/') == NULL) {
            user = slash + 8;
            len = strcspn(user, "?");
        }
    }
    json_t *root = NULL;
    if (user == NULL && body != NULL && (root = json_loads(body, 0, NULL)) != NULL) {
        const json_t *u = json_object_get(root, "user_id");
        if (json_is_string(u)) {
            user = json_string_value(u);
            len = json_string_length(u);
        }
    }
    if (user == NULL || len > TK_ID_MAX || !tk_valid_user_id(user, len)) {
        user = IT_USER_DEFAULT;
        len = strlen(user);
    }
    memcpy(out, user, len);
    out[len] = '\0';
    json_decref(root);
    return out;
}

const char *it_api_user_header(const it_fix_t *f, const char *user, char *out)
{
    return it_token_auth_line(&f->gw.user_tokens, user, out);
}

int it_multi_sign(it_multi_auth_t *a, const it_fix_t *f, it_multi_req_t *reqs, size_t n, const char *extra)
{
    a->lines = calloc(n ? n : 1, sizeof *a->lines);
    a->headers = calloc(n ? n : 1, sizeof *a->headers);
    if (a->lines == NULL || a->headers == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        /* The path: what follows "scheme://host:port". */
        const char *host = strstr(reqs[i].url, "://");
        const char *path = host != NULL ? strchr(host + 3, '/') : NULL;
        char user[TK_ID_MAX + 1];
        it_api_user_of(path != NULL ? path : "/", reqs[i].body, user);
        if (it_api_user_header(f, user, a->lines[i]) == NULL)
            goto fail;
        size_t k = 0;
        if (extra != NULL)
            a->headers[i][k++] = extra;
        a->headers[i][k++] = a->lines[i];
        a->headers[i][k] = NULL;
        reqs[i].headers = a->headers[i];
    }
    return 0;
fail:
    fprintf(stderr, "it_multi_sign: cannot sign %zu requests\n", n);
    it_multi_auth_free(a);
    return -1;
}

void it_multi_auth_free(it_multi_auth_t *a)
{
    free(a->lines);
    free(a->headers);
    a->lines = NULL;
    a->headers = NULL;
}

/* One request to the HTTPS port with the one Authorization line @auth_line (or none). */
static int api_send(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, const char *auth_line, const char *method, const char *path,
                    const char *body)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    const char *headers[2] = {auth_line, NULL};
    return it_http(r, ver, method, url, headers, body, body ? strlen(body) : 0, IT_TIMEOUT_MS);
}

int it_api(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, it_auth_t auth, const char *method, const char *path,
           const char *body)
{
    if (auth == IT_USER) {
        char user[TK_ID_MAX + 1];
        return it_api_as(r, f, ver, it_api_user_of(path, body, user), method, path, body);
    }
    char auth_line[128];
    return api_send(r, f, ver, it_api_auth_header(f, auth, auth_line), method, path, body);
}

int it_api_as(it_resp_t *r, const it_fix_t *f, it_http_ver_t ver, const char *user, const char *method, const char *path,
              const char *body)
{
    char auth_line[IT_AUTH_LINE_MAX];
    if (it_api_user_header(f, user, auth_line) == NULL) {
        memset(r, 0, sizeof *r);
        snprintf(r->errbuf, sizeof r->errbuf, "it_api: no user token for %s", user);
        return -1;
    }
    return api_send(r, f, ver, auth_line, method, path, body);
}

int it_apif(it_resp_t *r, const it_fix_t *f, it_auth_t auth, const char *method, const char *body, const char *path_fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, path_fmt);
    vsnprintf(path, sizeof path, path_fmt, ap);
    va_end(ap);
    return it_api(r, f, IT_HTTP1, auth, method, path, body);
}

int it_status_past_db_wait(const it_fix_t *f, const char *ev, const char *user, it_resp_t *r, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    for (;;) {
        if (it_apif(r, f, IT_USER, "GET", NULL, "/v1/events/%s/claims/%s", ev, user) != 0)
            return -1;
        int db_wait = r->status == 503 && r->body != NULL && strstr(r->body, "waited too long for the database") != NULL;
        if (!db_wait || it_now_ms() >= deadline)
            return 0;
        it_resp_free(r);
        it_sleep_ms(100);
    }
}

long it_api_create_event(const it_fix_t *f, const char *event_id, long long stock, long long max_per_user, long long opens_ms,
                         long long closes_ms)
{
    char body[512], opens[64] = "", closes[64] = "";
    if (opens_ms > 0) {
        char t[TK_TIME_RFC3339_LEN + 1];
        tk_time_format_rfc3339(opens_ms, t);
        snprintf(opens, sizeof opens, ",\"opens_at\":\"%s\"", t);
    }
    if (closes_ms > 0) {
        char t[TK_TIME_RFC3339_LEN + 1];
        tk_time_format_rfc3339(closes_ms, t);
        snprintf(closes, sizeof closes, ",\"closes_at\":\"%s\"", t);
    }
    snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"name\":\"Test %s\",\"stock\":%lld,\"max_per_user\":%lld%s%s}", event_id,
             event_id, stock, max_per_user, opens, closes);
    it_resp_t r;
    it_api(&r, f, IT_HTTP1, IT_ADMIN, "POST", "/v1/admin/events", body);
    long status = r.status;
    if (status != 201)
        fprintf(stderr, "it_api: create %s: %ld %s\n", event_id, status, r.body ? r.body : r.errbuf);
    it_resp_free(&r);
    return status;
}

long long it_api_remaining(const it_fix_t *f, const char *event_id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s", event_id);
    it_resp_t r;
    long long v = -1;
    if (it_api(&r, f, IT_HTTP1, IT_NO_AUTH, "GET", path, NULL) == 0 && r.status == 200)
        v = it_json_int(r.json, "remaining");
    it_resp_free(&r);
    return v;
}

int it_api_wait_drained(it_resp_t *r, const it_fix_t *f, const char *event_id, int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/admin/events/%s", event_id);
    long long deadline = it_now_ms() + timeout_ms;
    memset(r, 0, sizeof *r);
    for (;;) {
        it_resp_free(r);
        if (it_api(r, f, IT_HTTP1, IT_ADMIN, "GET", path, NULL) == 0 && r->status == 200 && it_json_int(r->json, "pending") == 0)
            return 0;
        if (it_now_ms() >= deadline)
            return -1;
        it_sleep_ms(100);
    }
}

int it_api_wait_quiet(it_resp_t *r, it_fix_t *f, const char *event_id, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    int good = 0;
    memset(r, 0, sizeof *r);
    for (;;) {
        it_resp_free(r);
        if (it_apif(r, f, IT_ADMIN, "GET", NULL, "/v1/admin/events/%s", event_id) == 0 && r->status == 200 &&
            it_json_int(r->json, "pending") == 0 &&
            it_json_int(json_object_get(r->json, "redis"), "granted") == it_json_int(json_object_get(r->json, "database"), "confirmed")) {
            if (++good >= 2)
                return 0;
        } else {
            good = 0;
        }
        /* No worker left (one that meets a duplicate ticket exits): nothing will drain. */
        if (it_now_ms() >= deadline || it_fix_workers_alive(f) == 0)
            return -1;
        it_sleep_ms(300);
    }
}

void it_event_id(char *out, size_t len, const char *prefix)
{
    static int seq;
    snprintf(out, len, "%s-%d-%d", prefix, (int)getpid(), ++seq);
}

void it_new_event(const it_fix_t *f, char *ev, size_t len, const char *prefix, long long stock, long long max_per_user)
{
    it_event_id(ev, len, prefix);
    assert_int_equal(it_api_create_event(f, ev, stock, max_per_user, 0, 0), 201);
}

/* POST @body to the admin route @fmt of @ev; fails the test (the answer shown under @what) unless 200. */
static void admin_post_ok(const it_fix_t *f, const char *ev, const char *fmt, const char *body, const char *what)
{
    it_resp_t r;
    it_apif(&r, f, IT_ADMIN, "POST", body, fmt, ev);
    if (r.status != 200)
        it_show(what, &r);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

void it_admin_set_state(const it_fix_t *f, const char *ev, const char *state)
{
    char body[64];
    snprintf(body, sizeof body, "{\"state\":\"%s\"}", state);
    admin_post_ok(f, ev, "/v1/admin/events/%s/state", body, "set state");
}

void it_admin_restock(const it_fix_t *f, const char *ev, long long delta)
{
    char body[64];
    snprintf(body, sizeof body, "{\"delta\":%lld}", delta);
    admin_post_ok(f, ev, "/v1/admin/events/%s/stock", body, "restock");
}

int it_fix_setup(it_fix_t *f, int nworkers)
{
    memset(f, 0, sizeof *f);
    if ((f->redis = it_redis_connect()) == NULL || (f->db = it_db_connect()) == NULL)
        goto fail;
    if (it_redis_flushall(f->redis) != 0 || it_db_clean(f->db) != 0)
        goto fail;
    if (it_gateway_start(&f->gw, IT_READY_MS) != 0)
        goto fail;
    for (int i = 0; i < nworkers; i++) {
        char name[32];
        snprintf(name, sizeof name, "it-w%d", i + 1);
        if (it_fix_add_worker(f, name) != 0)
            goto fail;
    }
    return 0;
fail:
    it_fix_teardown(f);
    return -1;
}

int it_fix_add_worker(it_fix_t *f, const char *consumer)
{
    if (f->nworkers >= IT_MAX_WORKERS)
        return -1;
    if (it_worker_start(&f->workers[f->nworkers], consumer) != 0)
        return -1;
    f->nworkers++;
    return 0;
}

int it_fix_teardown(it_fix_t *f)
{
    int bad = 0;
    for (int i = 0; i < f->nworkers; i++)
        if (it_proc_stop(&f->workers[i], IT_STOP_MS) != 0)
            bad = 1;
    f->nworkers = 0;
    if (it_proc_stop(&f->gw.proc, IT_STOP_MS) != 0)
        bad = 1;
    if (f->redis != NULL)
        redisFree(f->redis);
    f->redis = NULL;
    if (f->db != NULL)
        mysql_close(f->db);
    f->db = NULL;
    return bad ? -1 : 0;
}

/* ---- cmocka glue ---- */

int it_group_setup(void **st)
{
    (void)st;
    return it_env() != NULL ? 0 : -1;
}

int it_fix_new(void **st, int nworkers)
{
    it_fix_t *f = calloc(1, sizeof *f);
    if (f == NULL || it_fix_setup(f, nworkers) != 0) {
        free(f);
        return -1;
    }
    *st = f;
    return 0;
}

int it_fix_new0(void **st)
{
    return it_fix_new(st, 0);
}

int it_fix_new0_env(void **st, const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        return -1;
    int rc = it_fix_new0(st);
    unsetenv(name);
    return rc;
}

int it_fix_new1(void **st)
{
    return it_fix_new(st, 1);
}

int it_fix_new2(void **st)
{
    return it_fix_new(st, 2);
}

int it_fix_free(void **st)
{
    it_fix_t *f = *st;
    int rc = it_fix_teardown(f);
    free(f);
    return rc;
}

int it_fix_free_redis_up(void **st)
{
    int rc = it_services("start-redis", IT_SVC_MS);
    return it_fix_free(st) != 0 || rc != 0 ? -1 : 0;
}

void it_fix_reconnect(it_fix_t *f)
{
    if (f->redis != NULL)
        redisFree(f->redis);
    f->redis = it_redis_connect();
    if (f->db != NULL)
        mysql_close(f->db);
    f->db = it_db_connect();
    assert_non_null(f->redis);
    assert_non_null(f->db);
}

int it_fix_workers_alive(it_fix_t *f)
{
    int n = 0;
    for (int i = 0; i < f->nworkers; i++)
        n += it_proc_alive(&f->workers[i]);
    return n;
}

void it_show(const char *what, const it_resp_t *r)
{
    fprintf(stderr, "%s: %ld %s\n", what, r->status, r->body ? r->body : r->errbuf);
}

long it_claim(it_resp_t *r, const it_fix_t *f, const char *event_id, const char *user_id, int quantity)
{
    char body[256];
    if (quantity > 0)
        snprintf(body, sizeof body, "{\"user_id\":\"%s\",\"quantity\":%d}", user_id, quantity);
    else
        snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", user_id);
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims", event_id);
    it_api(r, f, IT_HTTP1, IT_USER, "POST", path, body); /* signed for user_id (it_api_user_of) */
    return r->status;
}

void it_claim_expect(const it_fix_t *f, const char *event_id, const char *user_id, int quantity, long want)
{
    it_resp_t r;
    assert_int_equal(it_claim(&r, f, event_id, user_id, quantity), want);
    it_resp_free(&r);
}

void it_claim_users(const it_fix_t *f, const char *event_id, const char *prefix, int from, int to, int quantity, long want)
{
    for (int u = from; u <= to; u++) {
        char user[64];
        snprintf(user, sizeof user, "%s-%d", prefix, u);
        it_claim_expect(f, event_id, user, quantity, want);
    }
}

int it_fix_event_with_claim(const it_fix_t *f, char *ev, size_t evlen, const char *prefix, long long stock, long long max_per_user,
                            const char *user)
{
    it_event_id(ev, evlen, prefix);
    long status = it_api_create_event(f, ev, stock, max_per_user, 0, 0);
    if (status != 201) {
        fprintf(stderr, "it_fix_event_with_claim: creating %s answered %ld\n", ev, status);
        return -1;
    }
    it_resp_t r;
    if (it_claim(&r, f, ev, user, 0) != 201) {
        it_show("it_fix_event_with_claim: the first claim", &r);
        it_resp_free(&r);
        return -1;
    }
    it_resp_free(&r);
    return 0;
}

int it_evfix_new(void **st, const it_evfix_spec_t *spec)
{
    it_evfix_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    const char *const *env = spec != NULL ? spec->env : NULL;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        putenv((char *)env[i]);
    int rc = it_fix_setup(&s->fix, 0);
    /* Only this gateway gets them: the next test's starts without. */
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(env[i], "="), env[i]);
        unsetenv(name);
    }
    if (rc != 0) {
        free(s);
        return -1;
    }
    if (spec != NULL && spec->prefix != NULL &&
        it_fix_event_with_claim(&s->fix, s->ev, sizeof s->ev, spec->prefix, spec->stock, spec->max_per_user, spec->user) != 0) {
        it_fix_teardown(&s->fix);
        free(s);
        return -1;
    }
    *st = s;
    return 0;
}

int it_evfix_free(void **st)
{
    it_evfix_t *s = *st;
    int rc = 0;
    if (s->redis_stopped && it_services("start-redis", 30000) != 0)
        rc = -1;
    if (it_fix_teardown(&s->fix) != 0)
        rc = -1;
    free(s);
    return rc;
}

/* ---- books ---- */

void it_books_read(const it_fix_t *f, const char *ev, it_books_t *b)
{
    b->remaining = it_redis_ev_int(f->redis, ev, "remaining", -1);
    b->seq = it_redis_ev_int(f->redis, ev, "seq", -1);
    b->claims = it_redis_claims_count(f->redis, ev);
    b->stream = it_redis_xlen(f->redis, ev);
    b->rows = it_db_int(f->db, 0, "SELECT COUNT(*) FROM claims");
}

int it_books_same(const it_books_t *a, const it_books_t *b, const char *what)
{
    if (a->remaining == b->remaining && a->seq == b->seq && a->claims == b->claims && a->stream == b->stream && a->rows == b->rows)
        return 1;
    fprintf(stderr, "%s changed the books: remaining %lld->%lld seq %lld->%lld claims %lld->%lld stream %lld->%lld rows %lld->%lld\n",
            what, a->remaining, b->remaining, a->seq, b->seq, a->claims, b->claims, a->stream, b->stream, a->rows, b->rows);
    return 0;
}
