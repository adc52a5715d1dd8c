#include "gw_redis_reply.h"
#include "gw_keep.h"

#include <stdlib.h>
#include <string.h>

#define GW_REPLY_SHORT 63    /* bytes of a string kept in a fixed block (a claim record is about 25) */
#define GW_REPLY_KEEP GW_KEEP(4096) /* replies, and as many blocks, kept per thread at most (none under ASan: gw_keep.h) */

typedef union block {
    union block *next; /* while free */
    char text[GW_REPLY_SHORT + 1];
} block_t;

typedef union spare {
    union spare *next; /* while free */
    redisReply reply;
} spare_t;

static _Thread_local spare_t *replies;
static _Thread_local block_t *blocks;
static _Thread_local int nreplies, nblocks, off;

static redisReply *reply_new(int type)
{
    redisReply *r;
    if (replies != NULL) {
        r = &replies->reply;
        replies = replies->next;
        nreplies--;
    } else if ((r = malloc(sizeof(spare_t))) == NULL) {
        return NULL;
    }
    memset(r, 0, sizeof(*r));
    r->type = type;
    return r;
}

static void reply_put(redisReply *r)
{
    if (off || nreplies >= GW_REPLY_KEEP) {
        free(r);
        return;
    }
    spare_t *s = (spare_t *)r;
    s->next = replies;
    replies = s;
    nreplies++;
}

static char *text_new(size_t len)
{
    if (len > GW_REPLY_SHORT)
        return malloc(len + 1);
    block_t *b = blocks;
    if (b == NULL)
        return malloc(sizeof(block_t));
    blocks = b->next;
    nblocks--;
    return b->text;
}

static void text_put(char *text, size_t len)
{
    if (len > GW_REPLY_SHORT || off || nblocks >= GW_REPLY_KEEP) {
        free(text);
        return;
    }
    block_t *b = (block_t *)(void *)text;
    b->next = blocks;
    blocks = b;
    nblocks++;
}

static void free_object(void *p)
{
    redisReply *r = p;
    if (r == NULL)
        return;
    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        if (r->element != NULL) {
            for (size_t i = 0; i < r->elements; i++)
                free_object(r->element[i]);
            free(r->element);
        }
        break;
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
        if (r->str != NULL)
            text_put(r->str, r->len);
        break;
    default:
        break;
    }
    reply_put(r);
}

/* As hiredis's own: a child goes into its parent's slot at once. */
static void *attach(const redisReadTask *task, redisReply *r)
{
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = reply_new(task->type);
    if (r == NULL)
        return NULL;
    char *text = text_new(len);
    if (text == NULL) {
        reply_put(r);
        return NULL;
    }
    memcpy(text, str, len);
    text[len] = '\0';
    r->str = text;
    r->len = len;
    return attach(task, r);
}

static void *create_array(const redisReadTask *task, int elements)
{
    redisReply *r = reply_new(REDIS_REPLY_ARRAY);
    if (r == NULL)
        return NULL;
    if (elements > 0 && (r->element = calloc((size_t)elements, sizeof(redisReply *))) == NULL) {
        reply_put(r);
        return NULL;
    }
    r->elements = (size_t)elements;
    return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = reply_new(REDIS_REPLY_INTEGER);
    if (r == NULL)
        return NULL;
    r->integer = value;
    return attach(task, r);
}

static void *create_nil(const redisReadTask *task)
{
    redisReply *r = reply_new(REDIS_REPLY_NIL);
    return r == NULL ? NULL : attach(task, r);
}

static redisReplyObjectFunctions fns = {create_string, create_array, create_integer, create_nil, free_object};

void gw_redis_reply_use(redisContext *c)
{
    c->reader->fn = &fns;
}

void gw_redis_reply_drain(void)
{
    off = 1;
    while (replies != NULL) {
        spare_t *s = replies;
        replies = s->next;
        free(s);
    }
    while (blocks != NULL) {
        block_t *b = blocks;
        blocks = b->next;
        free(b);
    }
    nreplies = nblocks = 0;
}
