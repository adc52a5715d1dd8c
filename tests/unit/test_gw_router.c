/* Unit tests of gateway/http/gw_router: route matching and the admin token check. */
#include "gw_router.h"

#include <openssl/sha.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

/* The route index, or -404 / -405 (then *allow for 405) when no route takes it. */
static int match(const char *method, const char *path, h2o_iovec_t p[2], const char **allow)
{
    gw_route_match_t m;
    if (gw_router_match(method, strlen(method), path, strlen(path), &m) != 0) {
        assert_true(m.status == 404 || m.status == 405);
        assert_true((m.status == 405) == (m.allow != NULL));
        *allow = m.allow;
        return -m.status;
    }
    assert_true(m.route >= 0);
    p[0] = m.params[0];
    p[1] = m.params[1];
    return m.route;
}

static void test_routes(void **state)
{
    (void)state;
    h2o_iovec_t p[2];
    const char *allow = NULL;
    int a = match("GET", "/v1/events", p, &allow);
    int b = match("GET", "/v1/events/cookie-day", p, &allow);
    assert_true(a >= 0 && b >= 0 && a != b);
    assert_int_equal(p[0].len, 10);
    assert_memory_equal(p[0].base, "cookie-day", 10);
    assert_true(match("POST", "/v1/events/e1/claims", p, &allow) >= 0);
    assert_int_equal(match("GET", "/v1/events/e1/claims/u-42", p, &allow) >= 0, 1);
    assert_memory_equal(p[0].base, "e1", 2);
    assert_memory_equal(p[1].base, "u-42", 4);
    assert_true(match("DELETE", "/v1/admin/events/e1/claims/u", p, &allow) >= 0);
    assert_true(match("GET", "/healthz", p, &allow) >= 0);
    /* The board reads: the board, then the user; around is not the user entry. */
    int top = match("GET", "/v1/boards/b1/top", p, &allow);
    assert_true(top >= 0);
    assert_memory_equal(p[0].base, "b1", 2);
    int user = match("GET", "/v1/boards/b1/users/u-7", p, &allow);
    assert_memory_equal(p[1].base, "u-7", 3);
    int around = match("GET", "/v1/boards/b1/users/u-7/around", p, &allow);
    assert_int_equal(p[1].len, 3);
    assert_true(user >= 0 && around >= 0 && user != around && top != user);
    assert_true(match("POST", "/v1/boards/b1/ranks", p, &allow) >= 0);
    assert_int_equal(match("GET", "/v1/boards/b1/ranks", p, &allow), -405);
    assert_string_equal(allow, "POST");
    assert_int_equal(match("GET", "/v1/boards/b1/users/u/x", p, &allow), -404);
    assert_int_equal(match("GET", "/v1/boards/b1", p, &allow), -404);
    assert_true(match("POST", "/v1/admin/boards", p, &allow) >= 0);
    assert_true(match("POST", "/v1/admin/boards/fans/scores", p, &allow) >= 0);
    assert_memory_equal(p[0].base, "fans", 4);
    assert_true(match("POST", "/v1/admin/boards/fans/seasons", p, &allow) >= 0);
    assert_int_equal(match("GET", "/v1/admin/boards/fans/seasons", p, &allow), -405);
}

static void test_not_found(void **state)
{
    (void)state;
    h2o_iovec_t p[2];
    const char *allow = NULL;
    const char *paths[] = {"/", "/v1", "/v1/", "/v1/events/", "/v1/events//claims", "/v1/events/e1/claims/", "/v1/events/e1/claims/u/x",
                           "/v1/eventsx", "/healthzz", "/v1/admin/events/e1/nope"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (match("GET", paths[i], p, &allow) != -404)
            fail_msg("matched %s", paths[i]);
    }
}

static void test_wrong_method(void **state)
{
    (void)state;
    h2o_iovec_t p[2];
    const char *allow = NULL;
    assert_int_equal(match("DELETE", "/v1/events", p, &allow), -405);
    assert_string_equal(allow, "GET");
    assert_int_equal(match("GET", "/v1/events/e1/claims", p, &allow), -405);
    assert_string_equal(allow, "POST");
    assert_int_equal(match("PUT", "/v1/admin/events/e1/stock", p, &allow), -405);
    assert_int_equal(match("GETX", "/healthz", p, &allow), -405);
}

static void test_token(void **state)
{
    (void)state;
    unsigned char h[SHA256_DIGEST_LENGTH];
    const char *token = "0123456789abcdef-token";
    SHA256((const unsigned char *)token, strlen(token), h);
    const char *good = "Bearer 0123456789abcdef-token";
    assert_true(gw_router_check_token(h, good, strlen(good)));
    const char *lower = "bearer 0123456789abcdef-token"; /* the scheme is case-insensitive */
    assert_true(gw_router_check_token(h, lower, strlen(lower)));
    const char *bad[] = {"", "Bearer ", "Bearer 0123456789abcdef-toke", "Bearer 0123456789abcdef-tokenX", "Basic 0123456789abcdef-token",
                         "0123456789abcdef-token", "Bearer  0123456789abcdef-token"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (gw_router_check_token(h, bad[i], strlen(bad[i])))
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_token),
    };
    return cmocka_run_group_tests_name("gw_router", tests, NULL, NULL);
}
