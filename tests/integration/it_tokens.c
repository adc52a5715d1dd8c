/*
 * it_tokens: user tokens at the gateway (API.md "User identity (tokens)").
 *
 * Every refusal of the list (missing, malformed, bad signature, expired,
 * not yet valid, alg none, HS512, wrong iss, wrong aud) is 401
 * unauthorized with WWW-Authenticate and changes nothing; a body user
 * other than the token's sub is 403 and changes nothing; reading another
 * user's claim is 403; a token alone claims for its sub; a second key is
 * accepted during a rotation and the old one refused after it; a token
 * holder naming a victim spends only its own rate limit; USER_AUTH=off is
 * v1; the dev login works only when switched on; a bad secret stops the
 * start with a clear message.
 *
 * The tokens are minted here with tk_jwt_mint (or crafted by hand for the
 * headers no minter writes) from secret files this test writes, mode 0600.
 * The gateway gets its settings through the environment of it_evfix_new.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <hiredis.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/it_api.h"
#include "lib/it_db.h"
#include "lib/it_env.h"
#include "lib/it_redis.h"
#include "tk_jwt.h"
#include "tk_keys.h"
#include "tk_time.h"

#define ISS "login.example"
#define AUD "tk-gateway"

/* The keys: current (A), next (B), and one the gateway never knows (X). */
static tk_jwt_key_t key_a, key_b, key_x;
static char path_a[512], path_b[512], path_short[512], path_open[512];
/* "USER_TOKEN_SECRET_FILE=…" lines for the gateway's environment (putenv keeps the pointer). */
static char env_a[600], env_b_as_cur[600], env_b_next[600];

static void write_file(char *path, size_t plen, const char *name, const void *bytes, size_t n, mode_t mode)
{
    snprintf(path, plen, "%s/%s", it_env()->it_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int group_setup(void **st)
{
    (void)st;
    if (it_env() == NULL)
        return -1;
    char err[256];
    unsigned char a[48], b[40];
    memset(a, 'A', sizeof a);
    memcpy(a, "current-key-", 12);
    memset(b, 'B', sizeof b);
    memcpy(b, "next-key-", 9);
    write_file(path_a, sizeof path_a, "tok_key_a", a, sizeof a, 0600);
    write_file(path_b, sizeof path_b, "tok_key_b", b, sizeof b, 0600);
    write_file(path_short, sizeof path_short, "tok_key_short", "0123456789abcdef0123456789abcde\n", 32, 0600);
    write_file(path_open, sizeof path_open, "tok_key_open", a, sizeof a, 0644);
    if (tk_jwt_key_load(&key_a, path_a, err, sizeof err) != 0 || tk_jwt_key_load(&key_b, path_b, err, sizeof err) != 0) {
        fprintf(stderr, "it_tokens: %s\n", err);
        return -1;
    }
    memset(key_x.bytes, 'X', 48);
    key_x.len = 48;
    snprintf(env_a, sizeof env_a, "USER_TOKEN_SECRET_FILE=%s", path_a);
    snprintf(env_b_as_cur, sizeof env_b_as_cur, "USER_TOKEN_SECRET_FILE=%s", path_b);
    snprintf(env_b_next, sizeof env_b_next, "USER_TOKEN_SECRET_NEXT_FILE=%s", path_b);
    return 0;
}

static int64_t now_s(void)
{
    return tk_time_now_ms() / 1000;
}

/* ---- tokens -------------------------------------------------------------- */

typedef struct {
    char t[TK_JWT_MAX];
} tok_t;

/* A token for @user by @k, valid for an hour, with the policy's iss and aud. */
static tok_t mint(const tk_jwt_key_t *k, const char *user)
{
    tok_t t;
    int64_t now = now_s();
    assert_int_equal(tk_jwt_mint(k, user, now, now + 3600, ISS, AUD, t.t, sizeof t.t), 0);
    return t;
}

static void b64u(const void *in, size_t n, char *out)
{
    char *p = out + strlen(out);
    int m = EVP_EncodeBlock((unsigned char *)p, in, (int)n);
    while (m > 0 && p[m - 1] == '=')
        m--;
    p[m] = '\0';
    for (int i = 0; i < m; i++)
        p[i] = p[i] == '+' ? '-' : p[i] == '/' ? '_' : p[i];
}

/* "<header>.<payload>.<signature>": HMAC with @md under @k, or no signature when @k is NULL. */
static tok_t craft(const char *hdr, const char *payload, const EVP_MD *md, const tk_jwt_key_t *k)
{
    tok_t t;
    t.t[0] = '\0';
    b64u(hdr, strlen(hdr), t.t);
    strcat(t.t, ".");
    b64u(payload, strlen(payload), t.t);
    unsigned char sig[EVP_MAX_MD_SIZE];
    unsigned int siglen = 0;
    if (k != NULL)
        assert_non_null(HMAC(md, k->bytes, (int)k->len, (unsigned char *)t.t, strlen(t.t), sig, &siglen));
    strcat(t.t, ".");
    b64u(sig, siglen, t.t);
    return t;
}

/* ---- requests ------------------------------------------------------------ */

/* @method @path with @body and, when @tok is not NULL, "Authorization: Bearer @tok"; a raw @auth line instead when given. */
static long call(it_resp_t *r, const it_fix_t *f, const char *auth, const char *tok, const char *method, const char *path,
                 const char *body)
{
    char url[1024], line[TK_JWT_MAX + 64];
    snprintf(url, sizeof url, "%s%s", f->gw.base_url, path);
    const char *headers[2] = {NULL, NULL};
    if (auth != NULL) {
        headers[0] = auth;
    } else if (tok != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
        headers[0] = line;
    }
    it_http(r, IT_HTTP1, method, url, headers, body, body != NULL ? strlen(body) : 0, IT_TIMEOUT_MS);
    return r->status;
}

static long claim(it_resp_t *r, const it_fix_t *f, const char *ev, const char *tok, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims", ev);
    return call(r, f, NULL, tok, "POST", path, body);
}

static long status_of(it_resp_t *r, const it_fix_t *f, const char *ev, const char *user, const char *tok)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/events/%s/claims/%s", ev, user);
    return call(r, f, NULL, tok, "GET", path, NULL);
}

/* Asserts @status and, for an error, the code; frees @r. */
static void expect(it_resp_t *r, long status, const char *code, const char *what)
{
    if (r->status != status || (code != NULL && (it_resp_error_code(r) == NULL || strcmp(it_resp_error_code(r), code) != 0))) {
        it_show(what, r);
        fail_msg("%s: expected %ld %s", what, status, code != NULL ? code : "");
    }
    it_resp_free(r);
}

/* Collects the WWW-Authenticate header of a response (libcurl header callback). */
static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    char *out = arg;
    size_t len = size * n;
    static const char name[] = "www-authenticate:";
    if (len > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
        size_t v = sizeof name - 1;
        while (v < len && buf[v] == ' ')
            v++;
        size_t e = len;
        while (e > v && (buf[e - 1] == '\r' || buf[e - 1] == '\n'))
            e--;
        snprintf(out, 256, "%.*s", (int)(e - v), buf + v);
    }
    return len;
}

/* The WWW-Authenticate of a POST claim with @auth_line (NULL: none); "" when absent. Status into *@status. */
static void www_authenticate(const it_fix_t *f, const char *ev, const char *auth_line, char out[256], long *status)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", f->gw.base_url, ev);
    out[0] = '\0';
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = auth_line != NULL ? curl_slist_append(NULL, auth_line) : NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"user_id\":\"u-victim\"}");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)IT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    fclose(devnull);
}

/* ---- books --------------------------------------------------------------- */

/* 1 when Redis or MariaDB hold any claim of @user on @ev. */
static int has_claim(const it_fix_t *f, const char *ev, const char *user)
{
    char k[TK_KEY_MAX];
    assert_true(tk_key(TK_KEY_CLAIMS, ev, strlen(ev), k) > 0);
    redisReply *rep = redisCommand(f->redis, "HEXISTS %s %s", k, user);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long in_redis = rep->integer;
    freeReplyObject(rep);
    long long rows = it_db_int(f->db, -1, "SELECT COUNT(*) FROM claims WHERE event_id = '%s' AND user_id = '%s'", ev, user);
    assert_true(rows >= 0);
    return in_redis > 0 || rows > 0;
}

/* ---- fixture ------------------------------------------------------------- */

/* A gateway with @env (plus nothing else) and, unless @no_event, an event with one claim by u-first (made with a token). */
static int start(void **st, const char *const *env, int no_event)
{
    static const it_evfix_spec_t none = {0};
    it_evfix_spec_t spec = none;
    spec.env = env;
    if (it_evfix_new(st, &spec) != 0)
        return -1;
    it_evfix_t *s = *st;
    if (no_event)
        return 0;
    it_event_id(s->ev, sizeof s->ev, "tok");
    if (it_api_create_event(&s->fix, s->ev, 10, 1, 0, 0) != 201)
        goto fail;
    tok_t t = mint(&key_a, "u-first");
    it_resp_t r;
    if (claim(&r, &s->fix, s->ev, t.t, "{\"user_id\":\"u-first\"}") != 201) {
        it_show("it_tokens: the first claim", &r);
        it_resp_free(&r);
        goto fail;
    }
    it_resp_free(&r);
    return 0;
fail:
    it_evfix_free(st);
    return -1;
}

static int setup_policy(void **st)
{
    const char *env[] = {env_a, "USER_TOKEN_ISSUER=" ISS, "USER_TOKEN_AUDIENCE=" AUD, NULL};
    return start(st, env, 0);
}

static int setup_rotation(void **st)
{
    const char *env[] = {env_a, env_b_next, "USER_TOKEN_ISSUER=" ISS, NULL};
    return start(st, env, 0);
}

static int setup_plain_event(void **st)
{
    const char *env[] = {env_a, NULL};
    return start(st, env, 0);
}

static int setup_limited(void **st)
{
    const char *env[] = {env_a, "RATE_USER_PER_S=1", "RATE_USER_BURST=3", NULL};
    return start(st, env, 0);
}

static int setup_off(void **st)
{
    const char *env[] = {"USER_AUTH=off", "USER_TOKEN_SECRET_FILE=/nonexistent/secret", NULL};
    return start(st, env, 1);
}

static int setup_dev(void **st)
{
    const char *env[] = {env_a, "DEV_LOGIN=1", NULL};
    return start(st, env, 1);
}

static int setup_plain(void **st)
{
    const char *env[] = {env_a, NULL};
    return start(st, env, 1);
}

/* ---- tests --------------------------------------------------------------- */

static void every_refusal_is_401_and_changes_nothing(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    int64_t now = now_s();
    char pl[512];
    struct {
        const char *what;
        tok_t t;
    } bad[16];
    size_t n = 0;
#define BAD(w, tok) (bad[n].what = (w), bad[n].t = (tok), n++)
    snprintf(pl, sizeof pl, "{\"sub\":\"u-victim\",\"exp\":%lld,\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", (long long)now + 600);
    const char *hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    tok_t good = craft(hs256, pl, EVP_sha256(), &key_a);
    tok_t t;
    strcpy(t.t, "not-a-token");
    BAD("malformed", t);
    strcpy(t.t, good.t);
    t.t[strlen(t.t) - 30] = '\0'; /* cut inside the signature */
    BAD("truncated", t);
    BAD("bad signature", craft(hs256, pl, EVP_sha256(), &key_x));
    {
        tok_t forged = good; /* another payload under a good signature */
        char other[512], *d1 = strchr(good.t, '.'), *d2 = strrchr(good.t, '.');
        snprintf(other, sizeof other, "{\"sub\":\"u-victim\",\"exp\":%lld,\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", (long long)now + 601);
        forged.t[d1 - good.t + 1] = '\0';
        b64u(other, strlen(other), forged.t);
        strcat(forged.t, d2);
        BAD("payload swapped", forged);
    }
    char p2[512];
    snprintf(p2, sizeof p2, "{\"sub\":\"u-victim\",\"exp\":%lld,\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", (long long)now - 60);
    BAD("expired", craft(hs256, p2, EVP_sha256(), &key_a));
    snprintf(p2, sizeof p2, "{\"sub\":\"u-victim\",\"exp\":%lld,\"nbf\":%lld,\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}",
             (long long)now + 3600, (long long)now + 600);
    BAD("not yet valid", craft(hs256, p2, EVP_sha256(), &key_a));
    BAD("alg none", craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NULL, NULL));
    BAD("HS512", craft("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", pl, EVP_sha512(), &key_a));
    snprintf(p2, sizeof p2, "{\"sub\":\"u-victim\",\"exp\":%lld,\"iss\":\"evil\",\"aud\":\"" AUD "\"}", (long long)now + 600);
    BAD("wrong iss", craft(hs256, p2, EVP_sha256(), &key_a));
    snprintf(p2, sizeof p2, "{\"sub\":\"u-victim\",\"exp\":%lld,\"iss\":\"" ISS "\",\"aud\":[\"other\"]}", (long long)now + 600);
    BAD("wrong aud", craft(hs256, p2, EVP_sha256(), &key_a));
#undef BAD

    it_books_t before, after;
    it_books_read(f, s->ev, &before);
    it_resp_t r;
    /* Missing: no Authorization, or another scheme. */
    expect((claim(&r, f, s->ev, NULL, "{\"user_id\":\"u-victim\"}"), &r), 401, "unauthorized", "no token");
    expect((call(&r, f, "Authorization: Basic dTpw", NULL, "POST", "/v1/events/x/claims", "{\"user_id\":\"u-victim\"}"), &r), 401,
           "unauthorized", "basic auth");
    expect((status_of(&r, f, s->ev, "u-first", NULL), &r), 401, "unauthorized", "status without a token");
    for (size_t i = 0; i < n; i++) {
        claim(&r, f, s->ev, bad[i].t.t, "{\"user_id\":\"u-victim\"}");
        expect(&r, 401, "unauthorized", bad[i].what);
        claim(&r, f, s->ev, bad[i].t.t, "{}");
        expect(&r, 401, "unauthorized", bad[i].what);
        status_of(&r, f, s->ev, "u-victim", bad[i].t.t);
        expect(&r, 401, "unauthorized", bad[i].what);
    }
    /* The message says why. */
    claim(&r, f, s->ev, bad[4].t.t, "{}");
    assert_non_null(r.body);
    assert_non_null(strstr(r.body, "expired"));
    it_resp_free(&r);
    /* WWW-Authenticate: plain Bearer when none was sent, error="invalid_token" when one was. */
    char www[256], line[TK_JWT_MAX + 64];
    long code = 0;
    www_authenticate(f, s->ev, NULL, www, &code);
    assert_int_equal(code, 401);
    assert_string_equal(www, "Bearer");
    snprintf(line, sizeof line, "Authorization: Bearer %s", bad[2].t.t);
    www_authenticate(f, s->ev, line, www, &code);
    assert_int_equal(code, 401);
    assert_string_equal(www, "Bearer error=\"invalid_token\"");

    it_books_read(f, s->ev, &after);
    assert_true(it_books_same(&before, &after, "refused tokens"));
    assert_false(has_claim(f, s->ev, "u-victim"));
    /* The good token of the same payload is accepted: the refusals were the tokens' fault. */
    expect((claim(&r, f, s->ev, good.t, "{}"), &r), 201, NULL, "the good token");
    assert_true(has_claim(f, s->ev, "u-victim"));
}

static void body_user_other_than_sub_is_403(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    tok_t t = mint(&key_a, "u-mallory");
    it_books_t before, after;
    it_books_read(f, s->ev, &before);
    it_resp_t r;
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":\"u-victim\"}"), &r), 403, "forbidden", "body user != sub");
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":\"u-mallor\"}"), &r), 403, "forbidden", "a prefix of sub");
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":\"u-mallory \"}"), &r), 400, "bad_request", "invalid body user");
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":\"\"}"), &r), 400, "bad_request", "empty body user");
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":7}"), &r), 400, "bad_request", "body user not a string");
    it_books_read(f, s->ev, &after);
    assert_true(it_books_same(&before, &after, "403 and 400"));
    assert_false(has_claim(f, s->ev, "u-victim"));
    assert_false(has_claim(f, s->ev, "u-mallory"));
    /* Its own id in the body is fine. */
    expect((claim(&r, f, s->ev, t.t, "{\"user_id\":\"u-mallory\",\"quantity\":1}"), &r), 201, NULL, "body user == sub");
    assert_true(has_claim(f, s->ev, "u-mallory"));
}

static void another_users_claim_is_403(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    tok_t mine = mint(&key_a, "u-first"), other = mint(&key_a, "u-snoop");
    it_resp_t r;
    expect((status_of(&r, f, s->ev, "u-first", other.t), &r), 403, "forbidden", "another user's claim");
    expect((status_of(&r, f, s->ev, "u-nobody", other.t), &r), 403, "forbidden", "another user's missing claim");
    /* Own: u-first's claim; u-snoop has none. */
    status_of(&r, f, s->ev, "u-first", mine.t);
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-first");
    it_resp_free(&r);
    expect((status_of(&r, f, s->ev, "u-snoop", other.t), &r), 404, NULL, "own missing claim");
}

static void token_alone_claims_for_its_sub(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    tok_t t = mint(&key_a, "u-sub");
    it_resp_t r;
    claim(&r, f, s->ev, t.t, "{\"quantity\":1}");
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-sub");
    it_resp_free(&r);
    assert_true(has_claim(f, s->ev, "u-sub"));
    /* Idempotent as in v1: the same token again is the same claim. */
    claim(&r, f, s->ev, t.t, "{}");
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-sub");
    it_resp_free(&r);
    status_of(&r, f, s->ev, "u-sub", t.t);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
    /* The same over HTTP/2: another user's token claims for that user; none is 401. */
    tok_t t2 = mint(&key_a, "u-h2");
    char url[512], line[TK_JWT_MAX + 64];
    snprintf(url, sizeof url, "%s/v1/events/%s/claims", f->gw.base_url, s->ev);
    snprintf(line, sizeof line, "Authorization: Bearer %s", t2.t);
    const char *hdrs[] = {line, NULL};
    assert_int_equal(it_http(&r, IT_HTTP2, "POST", url, hdrs, "{}", 2, IT_TIMEOUT_MS), 0);
    assert_int_equal(r.http_version, CURL_HTTP_VERSION_2_0);
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-h2");
    it_resp_free(&r);
    assert_int_equal(it_http(&r, IT_HTTP2, "POST", url, NULL, "{}", 2, IT_TIMEOUT_MS), 0);
    expect(&r, 401, "unauthorized", "HTTP/2 without a token");
}

static void rotation_accepts_next_then_refuses_old(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    tok_t by_a = mint(&key_a, "u-rot-a"), by_b = mint(&key_b, "u-rot-b"), later_a = mint(&key_a, "u-rot-c");
    it_resp_t r;
    expect((claim(&r, f, s->ev, by_a.t, "{}"), &r), 201, NULL, "current key");
    expect((claim(&r, f, s->ev, by_b.t, "{}"), &r), 201, NULL, "next key");
    /* Rotate: B becomes the current key, A is gone. Restart with the same ports. */
    assert_int_equal(it_proc_stop(&f->gw.proc, IT_STOP_MS), 0);
    putenv(env_b_as_cur);
    putenv("USER_TOKEN_ISSUER=" ISS);
    int rc = it_gateway_restart(&f->gw, IT_READY_MS);
    unsetenv("USER_TOKEN_SECRET_FILE");
    unsetenv("USER_TOKEN_ISSUER");
    assert_int_equal(rc, 0);
    it_books_t before, after;
    it_books_read(f, s->ev, &before);
    expect((claim(&r, f, s->ev, later_a.t, "{}"), &r), 401, "unauthorized", "old key after the rotation");
    expect((status_of(&r, f, s->ev, "u-rot-a", by_a.t), &r), 401, "unauthorized", "old key reading");
    it_books_read(f, s->ev, &after);
    assert_true(it_books_same(&before, &after, "old-key tokens"));
    assert_false(has_claim(f, s->ev, "u-rot-c"));
    status_of(&r, f, s->ev, "u-rot-b", by_b.t);
    assert_int_equal(r.status, 200);
    it_resp_free(&r);
}

/*
 * v1's per-user limit keyed on the user a request named, so 40 requests/s
 * naming a victim locked the victim out (issue 12). With tokens the key is
 * the verified sub: the flood spends the flooder's budget only.
 */
static void naming_a_victim_does_not_rate_limit_the_victim(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    tok_t att = mint(&key_a, "u-attacker"), vic = mint(&key_a, "u-victim");
    it_resp_t r;
    int limited = 0;
    for (int i = 0; i < 10; i++) {
        status_of(&r, f, s->ev, "u-victim", att.t);
        assert_true(r.status == 403 || r.status == 429);
        limited += r.status == 429;
        it_resp_free(&r);
        claim(&r, f, s->ev, att.t, "{\"user_id\":\"u-victim\"}");
        assert_true(r.status == 403 || r.status == 429);
        limited += r.status == 429;
        it_resp_free(&r);
    }
    assert_true(limited > 0); /* the attacker's own bucket (burst 3, 1/s) ran dry */
    expect((status_of(&r, f, s->ev, "u-victim", vic.t), &r), 404, NULL, "the victim reads");
    expect((claim(&r, f, s->ev, vic.t, "{}"), &r), 201, NULL, "the victim claims");
    expect((status_of(&r, f, s->ev, "u-victim", vic.t), &r), 200, NULL, "the victim reads its claim");
}

static void user_auth_off_is_v1(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    it_new_event(f, s->ev, sizeof s->ev, "tokoff", 10, 1);
    it_resp_t r;
    /* No token: the body's user_id is trusted, and anyone reads anyone's claim. */
    claim(&r, f, s->ev, NULL, "{\"user_id\":\"u-v1\"}");
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-v1");
    it_resp_free(&r);
    expect((status_of(&r, f, s->ev, "u-v1", NULL), &r), 200, NULL, "v1 status");
    expect((claim(&r, f, s->ev, NULL, "{}"), &r), 400, "bad_request", "v1 needs user_id");
    /* A token is not looked at: the body decides. */
    tok_t t = mint(&key_a, "u-other");
    claim(&r, f, s->ev, t.t, "{\"user_id\":\"u-v1b\"}");
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-v1b");
    it_resp_free(&r);
    /* And the gateway said so at start. */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "grep -q 'WARNING: USER_AUTH=off' '%s'", f->gw.proc.log_path);
    assert_int_equal(system(cmd), 0);
}

static void dev_login_signs_when_on(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    it_new_event(f, s->ev, sizeof s->ev, "tokdev", 10, 1);
    it_resp_t r;
    call(&r, f, NULL, NULL, "POST", "/v1/dev/login", "{\"user_id\":\"u-dev\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-dev");
    const char *tok = it_json_str(r.json, "token");
    const char *exp = it_json_str(r.json, "expires_at");
    assert_non_null(tok);
    assert_non_null(exp);
    int64_t exp_ms;
    assert_int_equal(tk_time_parse_rfc3339(exp, &exp_ms), 0);
    int64_t ttl = exp_ms - tk_time_now_ms();
    assert_true(ttl > 3500 * 1000 && ttl <= 3600 * 1000);
    /* Signed with the current key: it verifies here too, and it claims. */
    char sub[TK_ID_MAX + 1];
    assert_int_equal(tk_jwt_verify(tok, strlen(tok), &key_a, 1, NULL, now_s(), sub, NULL), TK_JWT_OK);
    assert_string_equal(sub, "u-dev");
    tok_t t;
    snprintf(t.t, sizeof t.t, "%s", tok);
    it_resp_free(&r);
    claim(&r, f, s->ev, t.t, "{}");
    assert_int_equal(r.status, 201);
    assert_string_equal(it_json_str(r.json, "user_id"), "u-dev");
    it_resp_free(&r);
    expect((call(&r, f, NULL, NULL, "POST", "/v1/dev/login", "{\"user_id\":\"a b\"}"), &r), 400, "bad_request", "bad user_id");
    expect((call(&r, f, NULL, NULL, "POST", "/v1/dev/login", "{}"), &r), 400, "bad_request", "no user_id");
    expect((call(&r, f, NULL, NULL, "POST", "/v1/dev/login", "nope"), &r), 400, "bad_request", "not JSON");
    expect((call(&r, f, NULL, NULL, "GET", "/v1/dev/login", NULL), &r), 405, "method_not_allowed", "GET");
}

static void dev_login_is_404_when_off(void **st)
{
    it_evfix_t *s = *st;
    it_fix_t *f = &s->fix;
    it_resp_t r;
    expect((call(&r, f, NULL, NULL, "POST", "/v1/dev/login", "{\"user_id\":\"u-dev\"}"), &r), 404, "not_found", "POST off");
    expect((call(&r, f, NULL, NULL, "GET", "/v1/dev/login", NULL), &r), 404, "not_found", "GET off");
}

/* Runs the gateway binary with @env_line prepended; returns its exit code, its output in @out. */
static int run_gateway(const char *env_line, char *out, size_t outlen)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ADMIN_TOKEN=0123456789abcdef0123 PORT=1 HTTP_PORT=0 USER_AUTH=required %s timeout 20 '%s/bin/tk-gateway' 2>&1", env_line,
             it_env()->build);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void bad_secret_stops_the_start(void **st)
{
    (void)st;
    char out[4096], env[1200];
    snprintf(env, sizeof env, "USER_TOKEN_SECRET_FILE='%s'", path_short);
    assert_int_equal(run_gateway(env, out, sizeof out), 2);
    assert_non_null(strstr(out, "USER_TOKEN_SECRET_FILE"));
    assert_non_null(strstr(out, "shorter than 32"));
    snprintf(env, sizeof env, "USER_TOKEN_SECRET_FILE='%s'", path_open);
    assert_int_equal(run_gateway(env, out, sizeof out), 2);
    assert_non_null(strstr(out, "chmod 600"));
    assert_int_equal(run_gateway("USER_TOKEN_SECRET_FILE=/nonexistent/secret", out, sizeof out), 2);
    assert_non_null(strstr(out, "/nonexistent/secret"));
    snprintf(env, sizeof env, "USER_TOKEN_SECRET_FILE='%s' USER_TOKEN_SECRET_NEXT_FILE='%s'", path_a, path_open);
    assert_int_equal(run_gateway(env, out, sizeof out), 2);
    assert_non_null(strstr(out, "USER_TOKEN_SECRET_NEXT_FILE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_refusal_is_401_and_changes_nothing, setup_policy, it_evfix_free),
        cmocka_unit_test_setup_teardown(body_user_other_than_sub_is_403, setup_plain_event, it_evfix_free),
        cmocka_unit_test_setup_teardown(another_users_claim_is_403, setup_plain_event, it_evfix_free),
        cmocka_unit_test_setup_teardown(token_alone_claims_for_its_sub, setup_plain_event, it_evfix_free),
        cmocka_unit_test_setup_teardown(rotation_accepts_next_then_refuses_old, setup_rotation, it_evfix_free),
        cmocka_unit_test_setup_teardown(naming_a_victim_does_not_rate_limit_the_victim, setup_limited, it_evfix_free),
        cmocka_unit_test_setup_teardown(user_auth_off_is_v1, setup_off, it_evfix_free),
        cmocka_unit_test_setup_teardown(dev_login_signs_when_on, setup_dev, it_evfix_free),
        cmocka_unit_test_setup_teardown(dev_login_is_404_when_off, setup_plain, it_evfix_free),
        cmocka_unit_test(bad_secret_stops_the_start),
    };
    return cmocka_run_group_tests_name("it_tokens", tests, group_setup, NULL);
}
