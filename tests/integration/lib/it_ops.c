/*
 * it_ops: /readyz, /metrics and log readers shared by the it_*.c files
 * (it_ops.h).
 */
#include "it_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_redis.h"

void it_readyz(const it_fix_t *f, const char *ev, it_ready_t *out)
{
    it_resp_t r;
    memset(&r, 0, sizeof r);
    int got = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/readyz") == 0 && r.json != NULL;
    const char *p = got ? it_json_str(r.json, "path") : NULL;
    const char *e = got && ev != NULL ? it_json_str(json_object_get(r.json, "paths"), ev) : NULL;
    out->status = r.status;
    snprintf(out->path, sizeof out->path, "%s", p != NULL ? p : "(none)");
    snprintf(out->evpath, sizeof out->evpath, "%s", e != NULL ? e : "(absent)");
    snprintf(out->body, sizeof out->body, "%.590s", r.body != NULL ? r.body : r.errbuf);
    it_resp_free(&r);
}

void it_seen_add(char *seen, size_t len, const char *path)
{
    const char *tail = strrchr(seen, '>');
    tail = tail != NULL ? tail + 1 : seen;
    if (strcmp(tail, path) == 0)
        return;
    size_t l = strlen(seen);
    if (l + strlen(path) + 2 < len)
        snprintf(seen + l, len - l, "%s%s", l ? ">" : "", path);
}

int it_wait_path(const it_fix_t *f, const char *what, const char *ev, const char *want, int timeout_ms, char *seen, size_t seenlen,
                 it_ready_t *last)
{
    long long deadline = it_now_ms() + timeout_ms;
    char own[256] = "";
    if (seen == NULL) {
        seen = own;
        seenlen = sizeof own;
    }
    it_ready_t r;
    for (;;) {
        it_readyz(f, ev, &r);
        if (strcmp(r.path, "(none)") != 0)
            it_seen_add(seen, seenlen, r.path);
        int hit = strcmp(r.path, want) == 0;
        if (hit || it_now_ms() >= deadline)
            break;
        it_sleep_ms(50);
    }
    if (last != NULL)
        *last = r;
    if (strcmp(r.path, want) == 0)
        return 0;
    fprintf(stderr, "%s: /readyz never said \"path\":\"%s\" within %d ms (paths seen: %s); last answer: %ld %s; gateway log %s\n", what,
            want, timeout_ms, seen[0] ? seen : "none", r.status, r.body, f->gw.proc.log_path);
    return -1;
}

int it_wait_tracked(const it_fix_t *f, const char *ev, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    it_ready_t r;
    for (;;) {
        it_readyz(f, ev, &r);
        if (strcmp(r.evpath, "redis") == 0)
            return 0;
        if (it_now_ms() >= deadline)
            break;
        it_sleep_ms(100);
    }
    fprintf(stderr, "the gateway did not track event %s within %d ms (its path: %s); last /readyz: %ld %s; gateway log %s\n", ev,
            timeout_ms, r.evpath, r.status, r.body, f->gw.proc.log_path);
    redisReply *m = redisCommand(f->redis, "SMEMBERS tk:events");
    for (size_t i = 0; m != NULL && m->type == REDIS_REPLY_ARRAY && i < m->elements; i++)
        fprintf(stderr, "tk:events holds %s\n", m->element[i]->str);
    if (m != NULL)
        freeReplyObject(m);
    return -1;
}

int it_wait_watermarks(const it_fix_t *f, long long n, int min_ms, int timeout_ms)
{
    long long calls0 = it_redis_cmd_calls(f->redis, "evalsha"), deadline = it_now_ms() + timeout_ms, now = calls0;
    if (calls0 < 0)
        return -1;
    it_sleep_ms(min_ms);
    while ((now = it_redis_cmd_calls(f->redis, "evalsha")) < calls0 + n && it_now_ms() < deadline)
        it_sleep_ms(50);
    if (now >= calls0 + n)
        return 0;
    fprintf(stderr, "no watermark rounds within %d ms: EVALSHA calls %lld -> %lld\n", timeout_ms, calls0, now);
    return -1;
}

long long it_metric_in(const char *body, const char *series)
{
    size_t n = strlen(series);
    int bare = strchr(series, '{') == NULL, found = 0;
    long long sum = 0;
    for (const char *p = body; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (*p != '#' && strncmp(p, series, n) == 0) {
            const char *q = p + n;
            if (bare && *q == '{') {
                q = strchr(q, '}');
                q = q != NULL && (eol == NULL || q < eol) ? q + 1 : NULL;
            }
            if (q != NULL && *q == ' ') {
                sum += (long long)strtod(q + 1, NULL);
                found = 1;
            }
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return found ? sum : -1;
}

void it_metrics_read(const it_fix_t *f, const char *const *series, long long *out, int n)
{
    it_resp_t r;
    memset(&r, 0, sizeof r);
    int ok = it_apif(&r, f, IT_NO_AUTH, "GET", NULL, "/metrics") == 0 && r.status == 200 && r.body != NULL;
    for (int i = 0; i < n; i++)
        out[i] = ok ? it_metric_in(r.body, series[i]) : -1;
    it_resp_free(&r);
}

long long it_metric(const it_fix_t *f, const char *series)
{
    long long v;
    it_metrics_read(f, &series, &v, 1);
    return v;
}

void it_log_grep(const char *path, const char *needle, char *out, size_t len)
{
    out[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strstr(line, needle) != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, len, "%.400s", line);
            break;
        }
    }
    fclose(fp);
}

int it_log_count(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, fp) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(fp);
    return n;
}

int it_log_wait(const char *path, const char *needle, int n, int timeout_ms)
{
    long long deadline = it_now_ms() + timeout_ms;
    int got;
    while ((got = it_log_count(path, needle)) < n && it_now_ms() < deadline)
        it_sleep_ms(50);
    return got;
}

int it_identity_changes(const it_fix_t *f)
{
    return it_log_count(f->gw.proc.log_path, "identity: Redis");
}

int it_wait_flush_noticed(const it_fix_t *f, int before)
{
    if (it_log_wait(f->gw.proc.log_path, "identity: Redis", before + 1, 5000) <= before) {
        fprintf(stderr, "it_ops: the gateway did not notice the FLUSHALL within 5 s (log %s)\n", f->gw.proc.log_path);
        return -1;
    }
    return it_wait_path(f, "after a FLUSHALL", NULL, "fast", 30000, NULL, 0, NULL);
}
