#include "gw_dbpool.h"
#include "tk_json.h"
#include "tk_log.h"
#include "tk_redis.h"
#include "tk_time.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct st_gw_dbpool_t {
    const gw_config_t *conf;
    pthread_mutex_t mutex;
    pthread_cond_t cond;         /* general threads wait here */
    pthread_cond_t cond_control; /* the control lane's reserved thread waits here */
    h2o_linklist_t queue[GW_DBLANE__COUNT]; /* of gw_dbjob_t.super.link */
    size_t depth[GW_DBLANE__COUNT];         /* jobs in each queue (written under mutex, read atomically) */
    int stopping;
    int ngeneral; /* threads 0..ngeneral-1 serve both lanes; thread ngeneral only the control lane */
    int nthreads;
    pthread_t *tids;
    gw_dbconn_t *conns;
    int db_up;
    uint64_t db_errors; /* connects failed and connections dropped after an error (atomic) */
};

static void free_job(gw_dbjob_t *job)
{
    if (job->in_free != NULL && job->in != NULL)
        job->in_free(job->in);
    free(job->body);
    if (job->r != NULL)
        gw_req_release(job->r);
    free(job);
}

MYSQL *gw_dbconn_db(gw_dbconn_t *c)
{
    if (c->db != NULL)
        return c->db;
    char err[512];
    tk_db_conf_t dc = tk_backend_db(&c->conf->backend, 2);
    c->db = tk_db_connect(&dc, err, sizeof(err));
    if (c->db == NULL) {
        if (c->pool != NULL)
            __atomic_add_fetch(&c->pool->db_errors, 1, __ATOMIC_RELAXED);
        tk_warn("db thread %d: %s", c->index, err);
    }
    return c->db;
}

void gw_dbconn_db_reset(gw_dbconn_t *c)
{
    if (c->db != NULL) {
        mysql_close(c->db);
        if (c->pool != NULL && !__atomic_load_n(&c->pool->stopping, __ATOMIC_RELAXED))
            __atomic_add_fetch(&c->pool->db_errors, 1, __ATOMIC_RELAXED); /* reset after an error */
    }
    c->db = NULL;
}

tk_rcluster_t *gw_dbconn_rcluster(gw_dbconn_t *c)
{
    if (c->conf->backend.redis_nseeds == 0)
        return NULL;
    if (c->rcl == NULL) {
        tk_rcluster_t *rcl = malloc(sizeof(*rcl));
        if (rcl == NULL || tk_rcluster_init(rcl, &c->conf->backend, 2000) != 0) {
            tk_warn("db thread %d: redis cluster: out of memory", c->index);
            free(rcl);
            return NULL;
        }
        c->rcl = rcl;
    }
    return c->rcl;
}

/* 1 when @rep is a MOVED or ASK: the master no longer serves (or is handing over) the key's slot. */
static int redirected(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && rep->str != NULL && (strncmp(rep->str, "MOVED ", 6) == 0 || strncmp(rep->str, "ASK ", 4) == 0);
}

/*
 * Cluster: the context of @key's master, proven with EXISTS @key. A
 * master that cannot be reached, or a lost connection (dropped), reads the
 * map again (the master may have failed over: its replica serves the
 * slot), and so does a MOVED; then one more try, handed out unproven. An ASK (the slot half-way to another
 * master) reads the map again too, which still names the old owner: its
 * context is handed out and the call site's command meets the ASK as an
 * error reply (a refusal: nothing ran), as tk-rebuild does.
 */
static redisContext *cluster_for(gw_dbconn_t *c, tk_rcluster_t *rcl, const char *key, size_t keylen)
{
    for (int attempt = 0;; attempt++) {
        redisContext *rc = tk_rcluster_key_ctx(rcl, key, keylen);
        if (rc == NULL && attempt == 0) {
            tk_rcluster_refresh(rcl); /* the master unreachable: failed over, maybe; the map says */
            continue;
        }
        if (rc == NULL || attempt > 0) {
            if (rc == NULL)
                tk_warn("db thread %d: redis: %s", c->index, rcl->errstr);
            return rc;
        }
        redisReply *rep = redisCommand(rc, "EXISTS %b", key, keylen);
        int lost = rep == NULL, moved = rep != NULL && redirected(rep);
        freeReplyObject(rep);
        if (!lost && !moved)
            return rc;
        if (lost)
            tk_rcluster_drop_ctx(rcl, rc);
        tk_rcluster_refresh(rcl); /* failed: the map stays, and the next try says so */
    }
}

redisContext *gw_dbconn_redis_for(gw_dbconn_t *c, const char *key, size_t keylen)
{
    if (c->conf->backend.redis_nseeds == 0)
        return gw_dbconn_redis(c);
    tk_rcluster_t *rcl = gw_dbconn_rcluster(c);
    return rcl != NULL ? cluster_for(c, rcl, key, keylen) : NULL;
}

void gw_dbconn_redis_drop(gw_dbconn_t *c, redisContext *rc)
{
    if (c->rcl == NULL) {
        gw_dbconn_redis_reset(c);
        return;
    }
    tk_rcluster_drop_ctx(c->rcl, rc);
}

redisContext *gw_dbconn_redis(gw_dbconn_t *c)
{
    if (c->conf->backend.redis_nseeds > 0)
        return gw_dbconn_redis_for(c, "", 0);
    if (c->redis != NULL) {
        /* A connection idle across a Redis restart looks fine until it is
         * used, and then a non-idempotent command (a restock) could not be
         * retried safely. Admin work is rare: prove the connection first. */
        redisReply *pong = redisCommand(c->redis, "PING");
        int alive = pong != NULL && pong->type == REDIS_REPLY_STATUS;
        freeReplyObject(pong);
        if (alive)
            return c->redis;
        gw_dbconn_redis_reset(c);
    }
    char err[512];
    redisContext *rc = tk_redis_connect(&c->conf->backend, 2000, err, sizeof(err));
    if (rc == NULL) {
        tk_warn("db thread %d: redis: %s", c->index, err);
        return NULL;
    }
    return c->redis = rc;
}

void gw_dbconn_redis_reset(gw_dbconn_t *c)
{
    redisFree(c->redis);
    c->redis = NULL;
    if (c->rcl != NULL) {
        tk_rcluster_free(c->rcl); /* every master's connection, and the map: read again on the next use */
        free(c->rcl);
        c->rcl = NULL;
    }
}

void gw_dbjob_answer(gw_dbjob_t *job, int status, const char *body, size_t len)
{
    free(job->body);
    job->status = status;
    job->body = malloc(len + 1);
    if (job->body == NULL) {
        job->status = 503;
        job->len = 0;
        return;
    }
    memcpy(job->body, body, len);
    job->body[len] = '\0';
    job->len = len;
}

void gw_dbjob_error(gw_dbjob_t *job, int status, const char *code, const char *fmt, ...)
{
    char msg[256], esc[TK_JSON_ESCAPED_MAX(sizeof(msg))], body[sizeof(esc) + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tk_json_escape(msg, strlen(msg), esc);
    int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, esc);
    gw_dbjob_answer(job, status, body, (size_t)n);
}

typedef struct {
    gw_dbpool_t *pool;
    int index;
} thread_arg_t;

/*
 * Hands every waiting request job whose deadline has passed back to its loop
 * thread, expired (answered 503 there, MariaDB untouched). Without this a
 * deadline would be checked only when a thread picks the job up, and with
 * every thread stuck in MariaDB (a lock held for long) nothing is picked up:
 * the waiting clients would hang for as long as the database does. Bounded:
 * at most DB_QUEUE_MAX request jobs wait per lane. Under the mutex.
 */
static void sweep_locked(gw_dbpool_t *pool)
{
    int64_t now = tk_time_mono_ms();
    for (int lane = 0; lane < GW_DBLANE__COUNT; lane++) {
        h2o_linklist_t *node = pool->queue[lane].next;
        while (node != &pool->queue[lane]) {
            gw_dbjob_t *job = H2O_STRUCT_FROM_MEMBER(gw_dbjob_t, super.link, node);
            node = node->next;
            if (job->deadline_ms == 0 || now <= job->deadline_ms)
                continue;
            h2o_linklist_unlink(&job->super.link);
            __atomic_store_n(&pool->depth[lane], pool->depth[lane] - 1, __ATOMIC_RELAXED);
            job->status = 0;
            job->expired = 1;
            h2o_multithread_send_message(&job->origin->db_done, &job->super);
        }
    }
}

void gw_dbpool_sweep(gw_dbpool_t *pool)
{
    pthread_mutex_lock(&pool->mutex);
    sweep_locked(pool);
    pthread_mutex_unlock(&pool->mutex);
}

/* The next job a thread may run, control lane first; NULL when none. Under the mutex. */
static gw_dbjob_t *take(gw_dbpool_t *pool, int control_only)
{
    for (int lane = 0; lane < (control_only ? 1 : GW_DBLANE__COUNT); lane++) {
        if (!h2o_linklist_is_empty(&pool->queue[lane])) {
            gw_dbjob_t *job = H2O_STRUCT_FROM_MEMBER(gw_dbjob_t, super.link, pool->queue[lane].next);
            h2o_linklist_unlink(&job->super.link);
            __atomic_store_n(&pool->depth[lane], pool->depth[lane] - 1, __ATOMIC_RELAXED);
            return job;
        }
    }
    return NULL;
}

static void *db_thread(void *arg)
{
    gw_dbpool_t *pool = ((thread_arg_t *)arg)->pool;
    int index = ((thread_arg_t *)arg)->index;
    free(arg);
    gw_dbconn_t *conn = &pool->conns[index];
    int control_only = index == pool->ngeneral;
    pthread_cond_t *cond = control_only ? &pool->cond_control : &pool->cond;

    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        gw_dbjob_t *job;
        while ((job = take(pool, control_only)) == NULL && !pool->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(cond, &pool->mutex, &until) != 0 && index == 0) {
                /* Idle for a second: refresh the health flag /readyz reads. */
                pthread_mutex_unlock(&pool->mutex);
                MYSQL *db = gw_dbconn_db(conn);
                int up = db != NULL && mysql_ping(db) == 0;
                if (db != NULL && !up)
                    gw_dbconn_db_reset(conn);
                __atomic_store_n(&pool->db_up, up, __ATOMIC_RELAXED);
                pthread_mutex_lock(&pool->mutex);
            }
        }
        if (job == NULL)
            break; /* stopping, and nothing left to do */
        pthread_mutex_unlock(&pool->mutex);

        job->status = 0;
        if (job->deadline_ms != 0 && tk_time_mono_ms() > job->deadline_ms) {
            job->expired = 1; /* answered 503 on its loop thread; MariaDB untouched */
        } else {
            job->run(job, conn);
            if (job->status == 0)
                gw_dbjob_error(job, 500, "internal", "the operation produced no answer");
            __atomic_store_n(&pool->db_up, conn->db != NULL, __ATOMIC_RELAXED);
        }
        h2o_multithread_send_message(&job->origin->db_done, &job->super);

        pthread_mutex_lock(&pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    gw_dbconn_db_reset(conn);
    gw_dbconn_redis_reset(conn);
    mysql_thread_end();
    return NULL;
}

gw_dbpool_t *gw_dbpool_start(const gw_config_t *conf, int n)
{
    gw_dbpool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->conf = conf;
    pool->ngeneral = n;
    n += 1; /* the control lane's reserved thread */
    pool->nthreads = n;
    pool->db_up = 1;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pthread_cond_init(&pool->cond_control, NULL);
    for (int lane = 0; lane < GW_DBLANE__COUNT; lane++)
        h2o_linklist_init_anchor(&pool->queue[lane]);
    pool->tids = calloc((size_t)n, sizeof(*pool->tids));
    pool->conns = calloc((size_t)n, sizeof(*pool->conns));
    if (pool->tids == NULL || pool->conns == NULL)
        goto fail;
    for (int i = 0; i < n; i++) {
        thread_arg_t *arg = malloc(sizeof(*arg));
        if (arg == NULL)
            goto fail;
        *arg = (thread_arg_t){pool, i};
        pool->conns[i].conf = conf;
        pool->conns[i].pool = pool;
        pool->conns[i].index = i;
        if (pthread_create(&pool->tids[i], NULL, db_thread, arg) != 0) {
            free(arg);
            pool->nthreads = i;
            gw_dbpool_stop(pool);
            return NULL;
        }
    }
    return pool;
fail:
    free(pool->tids);
    free(pool->conns);
    free(pool);
    return NULL;
}

void gw_dbpool_stop(gw_dbpool_t *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_cond_broadcast(&pool->cond_control);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->tids[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->cond);
    pthread_cond_destroy(&pool->cond_control);
    free(pool->tids);
    free(pool->conns);
    free(pool);
}

uint64_t gw_dbpool_db_errors(gw_dbpool_t *pool)
{
    return __atomic_load_n(&pool->db_errors, __ATOMIC_RELAXED);
}

int gw_dbpool_db_up(gw_dbpool_t *pool)
{
    return __atomic_load_n(&pool->db_up, __ATOMIC_RELAXED);
}

size_t gw_dbpool_depth(gw_dbpool_t *pool, gw_dblane_t lane)
{
    return __atomic_load_n(&pool->depth[lane], __ATOMIC_RELAXED);
}

/* Answers the requests of a job that will not run: 503 + Retry-After, counted as @why. Loop thread. */
static void shed(gw_dbjob_t *job, gw_shed_reason_t why, const char *message)
{
    size_t n = 0;
    if (job->shed != NULL) {
        n = job->shed(job, message);
    } else if (job->r != NULL) {
        gw_reply_error(job->r, 503, "unavailable", message);
        n = 1;
    }
    gw_metrics_add(&job->origin->metrics.shed[why], n);
}

static void on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        gw_dbjob_t *job = H2O_STRUCT_FROM_MEMBER(gw_dbjob_t, super.link, messages->next);
        h2o_linklist_unlink(&job->super.link);
        job->origin->db_jobs--;
        if (job->expired)
            shed(job, GW_SHED_DB_DEADLINE, "the request waited too long for the database; retry shortly");
        else if (job->done != NULL)
            job->done(job);
        else if (job->r != NULL)
            gw_reply(job->r, job->status, job->body != NULL ? job->body : "", job->len, job->location[0] ? job->location : NULL);
        free_job(job);
    }
}

void gw_dbpool_attach(gw_thread_t *th)
{
    h2o_multithread_register_receiver(th->ctx.queue, &th->db_done, on_done);
}

void gw_dbpool_detach(gw_thread_t *th)
{
    h2o_multithread_unregister_receiver(th->ctx.queue, &th->db_done);
}

/* A job of @th in @lane; one that answers requests (@sheddable) may be refused when its lane is full and gets the deadline. */
static gw_dbjob_t *job_new(gw_thread_t *th, void (*run)(gw_dbjob_t *, gw_dbconn_t *), gw_dblane_t lane, int sheddable)
{
    gw_dbjob_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return NULL;
    job->origin = th;
    job->run = run;
    job->lane = lane;
    job->sheddable = sheddable;
    if (sheddable)
        job->deadline_ms = tk_time_mono_ms() + th->server->conf->db_job_deadline_ms;
    return job;
}

gw_dbjob_t *gw_dbjob_new(gw_req_t *r, void (*run)(gw_dbjob_t *, gw_dbconn_t *))
{
    gw_dbjob_t *job = job_new(r->th, run, GW_DBLANE_CONTROL, 1);
    if (job != NULL)
        job->r = gw_req_ref(r);
    return job;
}

gw_dbjob_t *gw_dbjob_new_client(gw_thread_t *th, void (*run)(gw_dbjob_t *, gw_dbconn_t *))
{
    return job_new(th, run, GW_DBLANE_CLIENT, 1);
}

gw_dbjob_t *gw_dbjob_new_bg(gw_thread_t *th, void (*run)(gw_dbjob_t *, gw_dbconn_t *))
{
    return job_new(th, run, GW_DBLANE_CONTROL, 0);
}

int gw_dbpool_submit(gw_dbpool_t *pool, gw_dbjob_t *job)
{
    gw_dblane_t lane = job->lane;
    pthread_mutex_lock(&pool->mutex);
    if (job->sheddable && pool->depth[lane] >= (size_t)pool->conf->db_queue_max) {
        pthread_mutex_unlock(&pool->mutex);
        shed(job, GW_SHED_DB_QUEUE_FULL, "the database queue is full; retry shortly");
        free_job(job);
        return -1;
    }
    job->origin->db_jobs++;
    h2o_linklist_insert(&pool->queue[lane], &job->super.link);
    __atomic_store_n(&pool->depth[lane], pool->depth[lane] + 1, __ATOMIC_RELAXED);
    /* Any general thread serves either lane; the reserved one only control work. */
    pthread_cond_signal(&pool->cond);
    if (lane == GW_DBLANE_CONTROL)
        pthread_cond_signal(&pool->cond_control);
    pthread_mutex_unlock(&pool->mutex);
    return 0;
}
