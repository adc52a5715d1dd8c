/*
 * wk_drain: streams of granted claims -> MariaDB -> confirmation in Redis.
 *
 * Why it is exact
 * ---------------
 * Each event's granted claims are entries of tk:{E}:q, read by the consumer
 * group "wk". An entry read by a worker sits in the group's pending list
 * (PEL) under that worker's name until the worker XACKs it, and a worker
 * XACKs (and XDELs) an entry only inside the confirm script, which it runs
 * only after the MariaDB transaction holding the entry's row has COMMITted.
 * So at every instant an entry is either pending in Redis or durably stored:
 *
 *  - killed before COMMIT: nothing is stored; the entries stay pending under
 *    the dead consumer's name. Live workers XAUTOCLAIM entries idle longer
 *    than --claim-idle-ms and write them; a restarted worker with the same
 *    name first re-reads its own pending entries (XREADGROUP … 0).
 *  - killed after COMMIT, before the confirm script: the entries are
 *    re-claimed the same way; the writer finds their rows already there
 *    (under the stock row lock) and inserts nothing, and the replayed confirm
 *    sets the record's letter from the database's row. Replay is harmless.
 *  - MariaDB down: the writer keeps the batch and reconnects with backoff;
 *    nothing is acked meanwhile. Redis down: reads fail and are retried; a
 *    confirm that cannot reach Redis is retried, and if the worker has to
 *    give up, the committed rows are replayed later as above.
 *  - An entry that is not a claim in the shape claim.lua writes is stored in
 *    claims_dead before it is acked, and the claim it names, if any, is
 *    marked 'r' (wk_malformed.c says why neither acking it silently nor
 *    keeping it pending would do).
 *  - MariaDB refuses an entry for good (a poison entry): the writer commits
 *    every other event, and the rest of that entry's event, in transactions
 *    of their own and stores the entry in claims_dead; the confirm marks its
 *    record 'r' and releases it, and the "dead" counter goes to tk:wk:stats.
 *    An error not caused by one entry leaves that event's entries pending
 *    for XAUTOCLAIM to retry. Neither ends the worker (wk_writer.c).
 *
 *  - Redis Cluster (REDIS_CLUSTER): every command goes to the master of its
 *    key's slot (common/tk_rcluster.h), and everything above is about one
 *    stream, whose entries, group and pending list are one key: a slot
 *    migrated or failed over moves them together, a redirected command ran
 *    nothing (sent again, it runs once), and a command whose connection
 *    failed is sent once more, which no worker command minds running twice
 *    (XREADGROUP's lost entries are re-claimed, the confirm is idempotent).
 *    docs/DESIGN.md, "Workers, tk-rebuild and tk-import on a cluster".
 *  - REDIS_WAIT_REPLICAS > 0: a read's entries are written only after a WAIT
 *    on the read's connection says that many replicas hold them; short of
 *    it they stay pending as above, so MariaDB never holds a claim that a
 *    promoted replica lacks (wk_read.c, wk_read_replicated).
 *
 * The confirm script leaves a confirmed claim's record as it is (a 'p'
 * whose entry has left the stream reads confirmed: lua/confirm.lua says
 * why that is exact with several workers committing out of ticket order)
 * and sets the letter of a rejected or cancelled one only while it is
 * still 'p', so a cancel or a fallback write that got there first is never
 * overwritten; when it turns a 'p' into 'x' (the row was cancelled before
 * this worker wrote it) it returns the units to the event's remaining, as
 * the admin cancel's own Redis step would have (exactly once). It trims the
 * stream up to the group's oldest pending entry, so at quiescence XLEN is
 * 0, and in between the stream holds at least the claims not yet written
 * (an entry of claim.lua holds every claim of one call: wk_batch.h; it is
 * acked only once all of them are written, wk_confirm.c).
 *
 * Every --discover-ms the set tk:events is re-read; a new event gets
 * XGROUP CREATE … MKSTREAM (BUSYGROUP is fine), so new events are drained
 * without a restart. One XREADGROUP covers every stream; COUNT is per
 * stream. The boards' streams (tk:boards, tk:lb:{B}:q) are drained in the
 * same loop by wk_lb_drain.c, with the same pattern. On a Redis Cluster
 * (REDIS_CLUSTER) each command goes to the master of its key's slot and
 * the streams are read one call per stream (wk_read.c; docs/DESIGN.md,
 * "Workers on a cluster").
 *
 * The drain's files, one job each (their state: wk_drain_int.h):
 * wk_streams.c finds the streams, wk_read.c takes entries into the batch,
 * wk_recover.c re-reads and re-claims pending ones, wk_writer.c writes the
 * batch, wk_confirm.c tells Redis, wk_stats.c counts. This file holds the
 * loop and one batch's round trip (wk_drain_flush).
 */
#include "wk_drain.h"
#include "tk_db.h"
#include "tk_grow.h"
#include "tk_log.h"
#include "tk_lua.h"
#include "tk_time.h"
#include "wk_drain_int.h"

#include <stdlib.h>
#include <string.h>

#define WK_AUTOCLAIM_MS 1000
#define WK_REDIS_BACKOFF_MAX_MS 2000

int wk_drain_grow_args(wk_drain_t *d, size_t n)
{
    /* Two arrays of one capacity: it moves only once both have grown. */
    size_t acap = d->acap, lcap = d->acap;
    const char **a = tk_grow(d->argv, &acap, n, sizeof(*a), n);
    if (a == NULL)
        return -1;
    d->argv = a;
    size_t *l = tk_grow(d->lens, &lcap, n, sizeof(*l), n);
    if (l == NULL)
        return -1;
    d->lens = l;
    d->acap = lcap;
    return 0;
}

void wk_drain_redis_wait(wk_drain_t *d)
{
    tk_time_sleep_ms(d->redis_backoff, d->stop);
    d->redis_backoff = d->redis_backoff * 2 > WK_REDIS_BACKOFF_MAX_MS ? WK_REDIS_BACKOFF_MAX_MS : d->redis_backoff * 2;
}

/* ---------------------------------------------------------------- one batch */

/*
 * The next read's COUNT (XREADGROUP and XAUTOCLAIM, per stream): --batch
 * rows at the most rows one entry of this batch held (a packed entry holds
 * one claim-script call's claims), so a transaction stays within about
 * --batch rows per stream and a read's memory is bounded whatever the
 * gateways pack. The most, not the mean: one large entry among single ones
 * would otherwise let the next read take --batch large ones. Before any
 * batch, WK_ROWS_PER_ENTRY_GUESS (wk_drain_int.h).
 */
long wk_drain_read_count(const wk_drain_t *d)
{
    if (d->read_count > 0)
        return d->read_count;
    long count = d->cfg->batch / WK_ROWS_PER_ENTRY_GUESS;
    return count > 0 ? count : 1;
}

static void adapt_read_count(wk_drain_t *d)
{
    if (d->taken > 0 && d->entry_rows_max > 0) {
        long count = d->cfg->batch / (long)d->entry_rows_max;
        d->read_count = count > 0 ? count : 1;
    }
    d->taken = 0;
    d->entry_rows_max = 0;
}

int wk_drain_flush(wk_drain_t *d)
{
    adapt_read_count(d);
    if (d->batch.rows == 0 && d->nbad == 0)
        return 0;
    wk_batch_group(&d->batch);
    wk_write_stats_t ws;
    memset(&ws, 0, sizeof(ws));
    int64_t t0 = tk_time_mono_ms();
    wk_write_result_t wr = d->batch.rows > 0 ? wk_writer_write(d->writer, &d->batch, d->stop, &ws) : WK_WRITE_OK;
    d->total.errors += ws.retries + ws.reconnects;
    if (wr != WK_WRITE_OK) {
        wk_batch_clear(&d->batch);
        d->nbad = 0;
        return -1;
    }
    int64_t oldest = INT64_MAX;
    for (size_t gi = 0; gi < d->batch.n; gi++)
        for (size_t i = 0; i < d->batch.groups[gi].n; i++)
            if (d->batch.groups[gi].rows[i].created_ms < oldest)
                oldest = d->batch.groups[gi].rows[i].created_ms;
    int64_t committed = tk_time_now_ms();
    if (wk_confirm(d) != 0)
        tk_warn("out of memory confirming; entries stay pending and will be replayed");
    if (d->nbad > 0) {
        /* after the rows' confirm: an entry is settled only once every entry before it is acked (wk_malformed.c) */
        wk_malformed_settle(d, &ws);
        if (wk_confirm_bad(d) != 0)
            tk_warn("out of memory confirming; entries stay pending and will be replayed");
    }
    d->total.rows += ws.inserted;
    d->total.rejected += ws.rejected;
    d->total.replayed += ws.replayed;
    d->total.dead += ws.dead;
    d->total.errors += ws.splits + ws.held;
    d->total.batches++;
    d->total.last_batch = d->batch.rows;
    if (oldest != INT64_MAX)
        d->total.lag_ms = committed > oldest ? committed - oldest : 0; /* clocks of hosts may differ */
    tk_debug("batch: %zu rows (%zu events), %llu inserted, %llu replayed, %llu rejected, %llu skipped, %llu dead, %llu held, %zu malformed, "
             "%llu groups not fresh, %lld ms",
             d->batch.rows, d->batch.n, (unsigned long long)ws.inserted, (unsigned long long)ws.replayed,
             (unsigned long long)ws.rejected, (unsigned long long)ws.skipped, (unsigned long long)ws.dead, (unsigned long long)ws.held,
             d->nbad, (unsigned long long)ws.fresh_misses, (long long)(tk_time_mono_ms() - t0));
    wk_batch_clear(&d->batch);
    d->nbad = 0;
    return 0;
}

/* ---------------------------------------------------------------- the loop */

static int loop(wk_drain_t *d)
{
    const wk_config_t *cfg = d->cfg;
    int64_t next_discover = 0, next_claim = 0, next_stats = 0, next_prune = 0;
    int recovered = 0;
    const char **gt = NULL;
    size_t gtcap = 0;
    int rc = 0;
    d->logged_at = tk_time_mono_ms();
    while (!*d->stop) {
        int64_t now = tk_time_mono_ms();
        if (d->need_discover || now >= next_discover) {
            if (wk_streams_discover(d, d->need_discover == 2) != 0) {
                wk_drain_redis_wait(d);
                continue;
            }
            d->need_discover = 0;
            next_discover = now + cfg->discover_ms;
        }
        if (!recovered) {
            int r = wk_recover_own(d);
            if (r == -2) {
                rc = 1;
                break;
            }
            if (r != 0) {
                wk_drain_redis_wait(d);
                continue;
            }
            recovered = 1;
        }
        if (now >= next_claim) {
            int r = wk_recover_autoclaim(d);
            if (r == -2) {
                rc = 1;
                break;
            }
            next_claim = now + WK_AUTOCLAIM_MS;
        }
        if (now >= next_stats) {
            wk_stats_push(&d->redis, cfg->consumer, &d->total, &d->flushed);
            next_stats = now + cfg->stats_ms;
            if (now >= next_prune && wk_stats_prune(&d->redis, NULL, cfg->stats_ms) >= 0)
                next_prune = now + WK_STATS_PRUNE_MS;
        }
        if (now - d->logged_at >= cfg->log_every_s * 1000)
            wk_stats_log(&d->total, &d->logged, &d->logged_at, now, d->ns);
        /* The board streams: blocking only when there is no event stream to block on. */
        long lbgot = wk_lb_step(d, d->ns == 0 ? cfg->block_ms : 0);
        if (lbgot == -2) {
            rc = 1;
            break;
        }
        if (d->ns == 0) {
            if (lbgot < 0)
                wk_drain_redis_wait(d);
            else if (wk_lb_nstreams(d) == 0)
                tk_time_sleep_ms(cfg->block_ms, d->stop);
            continue;
        }
        const char **p = tk_grow(gt, &gtcap, d->ns, sizeof(*p), d->ns);
        if (p == NULL) {
            rc = 1;
            break;
        }
        gt = p;
        for (size_t i = 0; i < d->ns; i++)
            gt[i] = ">";
        long got = wk_read_group(d, 0, d->ns, gt, lbgot > 0 ? 0 : cfg->block_ms);
        if (got < 0 && d->batch.rows == 0 && d->nbad == 0) {
            wk_drain_redis_wait(d);
            continue;
        }
        d->redis_backoff = 100;
        if (got == 0)
            d->total.lag_ms = 0; /* caught up */
        /* Entries read are in our PEL now: write them even if a stop came meanwhile. */
        if (wk_drain_flush(d) != 0) {
            rc = 1;
            break;
        }
    }
    free(gt);
    if (rc == 0) {
        /* A clean exit ends this consumer's series: its fields go (wk_stats.h). */
        wk_stats_prune(&d->redis, cfg->consumer, cfg->stats_ms);
        wk_stats_log(&d->total, &d->logged, &d->logged_at, tk_time_mono_ms(), d->ns);
    }
    return rc;
}

int wk_drain_run(const wk_config_t *cfg, const volatile sig_atomic_t *stop)
{
    wk_drain_t d;
    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.stop = stop;
    d.redis_backoff = 100;
    const char *script = tk_lua_find("confirm");
    if (script == NULL) {
        tk_error("lua/confirm.lua is not compiled in");
        return 1;
    }
    tk_db_conf_t dbc = tk_backend_db(&cfg->backend, 2);
    wk_redis_init(&d.redis, &cfg->backend, (int)cfg->block_ms + 3000, script);
    d.writer = wk_writer_new(&dbc);
    d.lb = wk_lb_new();
    if (d.writer == NULL || d.lb == NULL) {
        tk_error("out of memory");
        wk_writer_free(d.writer);
        wk_lb_free(d.lb);
        return 1;
    }
    if (cfg->backend.redis_nseeds > 0)
        tk_info("worker %s: redis cluster (%zu seeds, first %s:%d)", cfg->consumer, cfg->backend.redis_nseeds,
                cfg->backend.redis_seeds[0].host, cfg->backend.redis_seeds[0].port);
    tk_info("worker %s: redis %s:%ld, MariaDB %s:%ld/%s, batch %ld", cfg->consumer, cfg->backend.redis_host, cfg->backend.redis_port,
            cfg->backend.db_host, cfg->backend.db_port, cfg->backend.db_name, cfg->batch);
    if (cfg->wait_replicas > 0)
        tk_info("worker %s: REDIS_WAIT_REPLICAS=%ld: claims go to MariaDB only once that many replicas hold them (WAIT %ld ms)",
                cfg->consumer, cfg->wait_replicas, cfg->wait_timeout_ms);
    int rc = loop(&d);
    wk_writer_free(d.writer);
    wk_lb_free(d.lb);
    wk_redis_close(&d.redis);
    wk_batch_free(&d.batch);
    free(d.streams);
    free(d.bad);
    free(d.tickets);
    free(d.order);
    free(d.argv);
    free(d.lens);
    tk_info("worker %s: stopped (%s), %llu rows written", cfg->consumer, rc == 0 ? "clean" : "error", (unsigned long long)d.total.rows);
    return rc;
}
