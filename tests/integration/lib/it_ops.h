/*
 * it_ops: what the tests read from the gateway's operations side: /readyz
 * (the claim path, the events it tracks), /metrics (Prometheus text), and
 * the processes' logs.
 */
#ifndef IT_OPS_H
#define IT_OPS_H

#include <stddef.h>

#include "it_api.h"

/* One answer of GET /readyz. */
typedef struct {
    long status;     /* 0: no answer */
    char path[32];   /* "path", or "(none)" */
    char evpath[32]; /* the asked event's entry of "paths", or "(absent)" */
    char body[600];  /* the body (or libcurl's error), cut */
} it_ready_t;

/** GET /readyz into @out; @ev (may be NULL) names the event whose entry of "paths" goes to out->evpath. */
void it_readyz(const it_fix_t *f, const char *ev, it_ready_t *out);

/** Appends @path to @seen ("fast>lost>grant") when it differs from the last one there. */
void it_seen_add(char *seen, size_t len, const char *path);

/**
 * Polls GET /readyz every 50 ms until its "path" is @want, for at most
 * @timeout_ms. Appends each new path to @seen (may be NULL; not cleared
 * first). @last (may be NULL) keeps the last answer, with @ev's entry of
 * "paths" at that moment. Returns 0, or -1 at the deadline, printed under
 * @what with the paths seen, the last answer and the gateway's log.
 */
int it_wait_path(const it_fix_t *f, const char *what, const char *ev, const char *want, int timeout_ms, char *seen, size_t seenlen,
                 it_ready_t *last);

/** Polls GET /readyz every 100 ms until it lists @ev in "paths" with path "redis" (the gateway tracks it), at most @timeout_ms. 0 or -1 (printed). */
int it_wait_tracked(const it_fix_t *f, const char *ev, int timeout_ms);

/**
 * The journal of an event is complete once a watermark saw its stream empty
 * at or below its base (gw_journal.h). With no claim, no admin view and no
 * worker batch running, the gateway's watermarks are Redis's only EVALSHA
 * calls: waits at least @min_ms and until Redis has counted @n more EVALSHA
 * calls than when called, both within @timeout_ms. 0, or -1 (printed).
 */
int it_wait_watermarks(const it_fix_t *f, long long n, int min_ms, int timeout_ms);

/**
 * The value of @series in the Prometheus text @body: @series is either a
 * bare metric name (then every series of that name is summed, with or
 * without labels) or a name with its labels exactly as printed
 * (tk_path_mode{mode="grant"}). -1 when there is none.
 */
long long it_metric_in(const char *body, const char *series);

/** One GET /metrics and it_metric_in() of each @series[i] into @out[i] (-1 when absent or no answer). */
void it_metrics_read(const it_fix_t *f, const char *const *series, long long *out, int n);

/** One series from GET /metrics (as it_metrics_read), -1 when absent. */
long long it_metric(const it_fix_t *f, const char *series);

/** The first line of the file @path that holds @needle into @out, cut to 400 bytes ("" when none). */
void it_log_grep(const char *path, const char *needle, char *out, size_t len);

/** Lines of the log at @path holding @needle (0 when unreadable): a gateway's merges that ended, say. */
int it_log_count(const char *path, const char *needle);

/** Polls it_log_count every 50 ms until it is at least @n, for at most @timeout_ms; returns the last count. */
int it_log_wait(const char *path, const char *needle, int n, int timeout_ms);

/** Lines of gateway @f's log saying Redis's identity changed: take it before a FLUSHALL, for it_wait_flush_noticed. */
int it_identity_changes(const it_fix_t *f);

/**
 * After a FLUSHALL under the running gateway @f (which drops no
 * connection): waits until @f noticed it (its identity watch logs one more
 * change than @before, within 5 s: gw_identity.h) and is back on the fast
 * path after its check. 0, or -1 (printed).
 */
int it_wait_flush_noticed(const it_fix_t *f, int before);

#endif
