/*
 * Unit tests of gateway/gw_redis_reply: replies built from the free lists
 * must be the trees hiredis's own functions build, for every kind of reply,
 * and be given back whole (LSan checks nothing leaks, with partial replies
 * and protocol errors too).
 */
#include "gw_redis_reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void same_tree(const redisReply *a, const redisReply *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->integer, b->integer);
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->elements, b->elements);
    if (b->str == NULL) {
        assert_null(a->str);
    } else {
        assert_non_null(a->str);
        assert_memory_equal(a->str, b->str, b->len + 1); /* with its NUL */
    }
    for (size_t i = 0; i < b->elements; i++)
        same_tree(a->element[i], b->element[i]);
}

/* @proto parsed by a reader with our functions and by a default one, in pieces of @step bytes: the same replies. Returns how many. */
static int parse_both(const char *proto, size_t len, size_t step)
{
    redisContext ours = {0};
    ours.reader = redisReaderCreate();
    gw_redis_reply_use(&ours);
    redisReader *theirs = redisReaderCreate();
    int count = 0;
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        int fa = redisReaderFeed(ours.reader, proto + at, n), fb = redisReaderFeed(theirs, proto + at, n);
        assert_int_equal(fa, fb);
        if (fb != REDIS_OK)
            break; /* the reader failed earlier: both did */
        for (;;) {
            void *a = NULL, *b = NULL;
            int ra = redisReaderGetReply(ours.reader, &a), rb = redisReaderGetReply(theirs, &b);
            assert_int_equal(ra, rb);
            if (ra != REDIS_OK || b == NULL) {
                assert_true(a == NULL);
                if (ra != REDIS_OK)
                    assert_string_equal(ours.reader->errstr, theirs->errstr);
                break;
            }
            same_tree(a, b);
            count++;
            ours.reader->fn->freeObject(a);
            freeReplyObject(b);
        }
    }
    redisReaderFree(ours.reader); /* frees a reply still half read */
    redisReaderFree(theirs);
    return count;
}

static void test_every_kind(void **state)
{
    (void)state;
    char big[2048], text[1200];
    memset(text, 'x', sizeof(text));
    static const char kinds[] = "+OK\r\n-ERR no such key\r\n:0\r\n:-42\r\n:9223372036854775807\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n"
                                "*2\r\n$1\r\nN\r\n$21\r\n812 1 1763802000123 p\r\n"
                                "*1\r\n$9\r\nnot_found\r\n"
                                "*3\r\n*2\r\n:1\r\n$-1\r\n*0\r\n*1\r\n*1\r\n+deep\r\n";
    for (size_t step = 1; step <= sizeof(kinds); step += 3)
        assert_int_equal(parse_both(kinds, sizeof(kinds) - 1, step), 12);
    /* strings at the fixed block's edge and beyond it */
    const size_t lens[] = {62, 63, 64, 65, 1000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int n = snprintf(big, sizeof(big), "*2\r\n$%zu\r\n%.*s\r\n+%.*s\r\n", lens[i], (int)lens[i], text, (int)lens[i], text);
        assert_int_equal(parse_both(big, (size_t)n, (size_t)n), 1);
        assert_int_equal(parse_both(big, (size_t)n, 7), 1);
    }
}

/* A batch's answer of 128 claims, many times: the lists fill past their bound and are reused. */
static void test_batches(void **state)
{
    (void)state;
    static char proto[128 * 64 + 16];
    size_t at = (size_t)snprintf(proto, sizeof(proto), "*256\r\n");
    for (int i = 0; i < 128; i++) {
        char rec[32];
        int n = snprintf(rec, sizeof(rec), "%d 1 1763802000123 p", 100 + i);
        at += (size_t)snprintf(proto + at, sizeof(proto) - at, "$1\r\n%c\r\n$%d\r\n%s\r\n", i % 2 ? 'N' : 'E', n, rec);
    }
    for (int k = 0; k < 40; k++) {
        assert_int_equal(parse_both(proto, at, k % 2 ? at : 97), 1);
    }
}

/* Bad input: the reader fails, and what it had built is given back. */
static void test_protocol_errors(void **state)
{
    (void)state;
    static const char *bad[] = {"*2\r\n$1\r\nN\r\n!oops\r\n", "$3\r\nab\r\n\r\n", "*1\r\n*1\r\n:x\r\n", "?\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_both(bad[i], strlen(bad[i]), strlen(bad[i])); /* the same replies and the same error, however many */
}

static int drain(void **state)
{
    (void)state;
    gw_redis_reply_drain();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_protocol_errors),
    };
    return cmocka_run_group_tests_name("gw_redis_reply", tests, NULL, drain);
}
