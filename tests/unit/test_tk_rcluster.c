/* Unit tests of common/tk_rcluster: the modes chosen from the backend
 * (REDIS_CLUSTER parsed by tk_backend_cluster), the connections' new
 * indexes after a refresh (tk_rcluster_remap_index), and a cluster that
 * cannot be reached (NULL with the reason, no crash, nothing kept). Routing
 * against real nodes: tests/integration/it_wk_cluster.c. */
#include "tk_backend.h"
#include "tk_rcluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_backend_cluster(void **st)
{
    (void)st;
    tk_backend_t b;
    tk_backend_defaults(&b);
    char err[256];
    assert_int_equal(tk_backend_cluster(&b, NULL, err, sizeof(err)), 0);
    assert_int_equal(b.redis_nseeds, 0);
    assert_int_equal(tk_backend_cluster(&b, "", err, sizeof(err)), 0);
    assert_int_equal(b.redis_nseeds, 0);
    assert_int_equal(tk_backend_cluster(&b, "10.0.0.1:7000, 10.0.0.2:7001", err, sizeof(err)), 0);
    assert_int_equal(b.redis_nseeds, 2);
    assert_string_equal(b.redis_seeds[1].host, "10.0.0.2");
    assert_int_equal(b.redis_seeds[1].port, 7001);
    assert_int_equal(tk_backend_cluster(&b, "10.0.0.1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "REDIS_CLUSTER"));
    assert_int_equal(b.redis_nseeds, 0); /* refused: back to a single Redis, not half a list */
}

static void test_single_mode(void **st)
{
    (void)st;
    tk_backend_t b;
    tk_backend_defaults(&b);
    b.redis_host = "127.0.0.9";
    b.redis_port = 6999;
    tk_rcluster_t c;
    assert_int_equal(tk_rcluster_init(&c, &b, 100), 0);
    assert_int_equal(tk_rcluster_is_cluster(&c), 0);
    assert_null(c.map); /* no slot map, no CLUSTER SLOTS */
    assert_int_equal(tk_rcluster_nnodes(&c), 1);
    const tk_cluster_addr_t *a = tk_rcluster_node_addr(&c, 0);
    assert_non_null(a);
    assert_string_equal(a->host, "127.0.0.9");
    assert_int_equal(a->port, 6999);
    assert_null(tk_rcluster_node_addr(&c, 1));
    assert_null(c.ctx[0]); /* nothing connected before the first command */
    tk_rcluster_free(&c);
}

static void test_cluster_unreachable(void **st)
{
    (void)st;
    tk_backend_t b;
    tk_backend_defaults(&b);
    char err[256];
    /* Port 1 on loopback: refused at once. */
    assert_int_equal(tk_backend_cluster(&b, "127.0.0.1:1,127.0.0.1:2", err, sizeof(err)), 0);
    tk_rcluster_t c;
    assert_int_equal(tk_rcluster_init(&c, &b, 200), 0);
    assert_int_equal(tk_rcluster_is_cluster(&c), 1);
    const char *argv[] = {"GET", "tk:{e}:ev"};
    assert_null(tk_rcluster_cmd(&c, "tk:{e}:ev", 9, 2, argv, NULL));
    assert_non_null(strstr(c.errstr, "127.0.0.1:2")); /* the last seed tried, named */
    assert_int_equal(tk_rcluster_nnodes(&c), 0);
    assert_null(tk_rcluster_key_ctx(&c, "{e}", 3));
    for (size_t i = 0; i < TK_CLUSTER_NODES_MAX; i++)
        assert_null(c.ctx[i]);
    tk_rcluster_free(&c);
}

/* A map of masters on ports @ports (n of them), each serving one range. */
static void map_of(tk_cluster_map_t *m, const int *ports, size_t n)
{
    tk_cluster_map_init(m);
    for (size_t i = 0; i < n; i++) {
        tk_cluster_redirect_t rd = {.kind = TK_CLUSTER_MOVED, .slot = (unsigned)i};
        strcpy(rd.to.host, "127.0.0.1");
        rd.to.port = ports[i];
        char err[128];
        assert_int_equal(tk_cluster_map_moved(m, &rd, err, sizeof(err)), 0);
    }
}

static void test_remap_index(void **st)
{
    (void)st;
    tk_cluster_map_t *m = malloc(sizeof(*m));
    assert_non_null(m);
    /* Before: 7000, 7001, 7002 at 0, 1, 2. After a failover: 7001 is gone, 7003 (its replica) came, the order changed. */
    int after[] = {7002, 7003, 7000};
    map_of(m, after, 3);
    tk_cluster_addr_t old[4];
    int ports[] = {7000, 7001, 7002, 7000};
    for (int i = 0; i < 4; i++) {
        strcpy(old[i].host, "127.0.0.1");
        old[i].port = ports[i];
    }
    int to[4];
    tk_rcluster_remap_index(old, 4, m, to);
    assert_int_equal(to[0], 2);  /* 7000 moved from 0 to 2 */
    assert_int_equal(to[1], -1); /* 7001 gone: its connection closes */
    assert_int_equal(to[2], 0);  /* 7002 from 2 to 0 */
    assert_int_equal(to[3], -1); /* 7000 twice: one connection kept */
    strcpy(old[0].host, "127.0.0.2"); /* same port, another host: another node */
    tk_rcluster_remap_index(old, 1, m, to);
    assert_int_equal(to[0], -1);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_cluster),
        cmocka_unit_test(test_single_mode),
        cmocka_unit_test(test_cluster_unreachable),
        cmocka_unit_test(test_remap_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
