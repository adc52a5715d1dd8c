/*
 * tk-import: loads a leaderboard CSV into an existing board, or exports a
 * season of one (docs/DESIGN.md, "Leaderboards: import and export").
 *
 *   tk-import --board B [--season current|N] [--partial] FILE.csv|-
 *   tk-import --export --board B [--season current|N] [FILE|-]
 *
 * Import. The whole file is read and validated first (tools/tk_import_file.h,
 * common/tk_lb_csv.h): every refused line is reported with its number and
 * reason (the first 20, then the count). Without --partial a single refused
 * line means nothing is written (exit 1); with it the good lines load and
 * the refused ones are reported. A user on several lines keeps the last.
 * An updated_at more than 1 s past the host clock is refused.
 *
 * Each imported user replaces their entry of that season (time =
 * updated_at) with a real sequence number. For a season Redis keeps (the
 * current one and TK_LB_KEEP_CLOSED closed ones): Redis first, in atomic
 * chunks (lua/lb_import.lua) that draw the rows' seqs from the board's
 * `seq`, then MariaDB, one transaction, under the worker's newer-rule
 * (a higher seq wins). A live write before a chunk loses in both stores, a
 * live write after it wins in both, whatever order the worker drains in:
 * no wait for the workers' backlog is needed (there was one; an import no
 * longer depends on the workers running). A failure between the two
 * phases (Redis refused a chunk, MariaDB failed, a crash) leaves rows in
 * Redis and not in MariaDB: exit 1, "run the import again" (it is
 * idempotent: a re-run replaces every row with newer seqs). For a season
 * only MariaDB keeps: MariaDB only, set semantics, seq 0 (no live writes
 * reach such a season, and there is no Redis to draw seqs from). The
 * board's last_t becomes max(last_t, min(the latest updated_at, Redis's
 * TIME)). On a terminal a progress bar per phase; the summary line goes to
 * standard output:
 *   imported N rows into board B season S in X.XX s (R rows/s), K refused

 * Export writes the season in rank order in the import's own format (so an
 * export loads back as it is), from MariaDB: one streamed, consistent
 * SELECT, whatever the season's age. Writes not yet drained by the workers
 * are not in it: it says how many (the stream's length) on standard error.
 *
 * Backends as tk-rebuild (REDIS_*, DB_*: docs/CONTRACTS.md); under
 * scripts/services.sh it runs as the Redis user tk-admin. Exits 0 when done;
 * 1 when lines were refused (without --partial), the board or season does
 * not exist, or a write failed; 2 on bad usage or when a backend cannot be
 * reached.
 */
#include "tk_backend.h"
#include "tk_db.h"
#include "tk_import_db.h"
#include "tk_import_file.h"
#include "tk_import_progress.h"
#include "tk_import_redis.h"
#include "tk_lb.h"
#include "tk_opt.h"
#include "tk_rcluster.h"
#include "tk_time.h"
#include "tk_valid.h"

#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_TIMEOUT_S 60
#define REDIS_TIMEOUT_S 30
#define PRINT_MAX 20  /* refused lines printed; then the count */
#define DB_RETRIES 3  /* a deadlock or lock wait: the whole transaction again */

typedef struct {
    tk_backend_t backend;
    const char *board;
    const char *season;
    const char *var_dir;
    int partial;
    int export;
    const char *redis_cluster; /* REDIS_CLUSTER as given: parsed into backend.redis_seeds */
} cfg_t;

/*
 * tk_opt reads flags only: takes the one positional argument (FILE, "-")
 * out of argv. An argument is positional when it does not start with "--"
 * (or is "-") and does not follow a flag that takes a value. Returns 0, or
 * -1 when there are several.
 */
static int take_file(const tk_opt_t *opts, size_t nopts, int *argc, char **argv, const char **file)
{
    *file = NULL;
    int out = 1;
    for (int a = 1; a < *argc; a++) {
        const char *s = argv[a];
        int positional = strcmp(s, "-") == 0 || strncmp(s, "--", 2) != 0;
        if (positional && a > 1 && strncmp(argv[a - 1], "--", 2) == 0 && strchr(argv[a - 1], '=') == NULL) {
            for (size_t i = 0; i < nopts; i++)
                if (strcmp(argv[a - 1], opts[i].flag) == 0 && opts[i].type != TK_OPT_FLAG)
                    positional = 0;
        }
        if (positional) {
            if (*file != NULL)
                return -1;
            *file = s;
            continue;
        }
        argv[out++] = argv[a];
    }
    *argc = out;
    return 0;
}

/*
 * Rank order (c1 DESC, c2 DESC, t_ms), ties in file order (the line): the seqs lua/lb_import.lua draws follow this
 * order, so it is the zset's own order, and an export (written in rank order) loads back with its ties as they were.
 */
static int by_rank(const void *a, const void *b)
{
    const tk_import_row_t *x = a, *y = b;
    if (x->c1 != y->c1)
        return x->c1 > y->c1 ? -1 : 1;
    if (x->c2 != y->c2)
        return x->c2 > y->c2 ? -1 : 1;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line); /* distinct users: distinct lines */
}

/* "current" or 1..current. Returns the season, or 0 with @err. */
static unsigned pick_season(const char *s, unsigned current, char *err, size_t errlen)
{
    if (s == NULL || strcmp(s, "current") == 0)
        return current;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s < '1' || *s > '9' || *end != '\0' || v > UINT32_MAX) {
        snprintf(err, errlen, "--season %s: want current or a season number", s);
        return 0;
    }
    if (v > current) {
        snprintf(err, errlen, "--season %lu: no such season (the current one is %u)", v, current);
        return 0;
    }
    return (unsigned)v;
}

typedef struct {
    MYSQL *db;
    tk_rcluster_t rcl;   /* the Redis connections (one, or one per master of a cluster) */
    redisContext *redis; /* the one to the board's master (rcl's, never freed here): every key of a call is the board's */
    tk_import_board_t board;
} conn_t;

/* Connects to both and reads the board from both. Returns 0, 1 (the board is missing or inconsistent), or 2 (a backend). */
static int open_board(const cfg_t *cfg, conn_t *c)
{
    char err[512];
    tk_db_conf_t dc = tk_backend_db(&cfg->backend, DB_TIMEOUT_S);
    c->db = tk_db_connect(&dc, err, sizeof(err));
    if (c->db == NULL) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 2;
    }
    /* Every key tk-import touches carries the board's tag {B}: one slot, one master. A slot that moves during the import
     * makes a chunk refused (MOVED): the import stops and says to run it again, which replaces what it wrote. */
    char tag[TK_ID_MAX + 3];
    int tl = snprintf(tag, sizeof(tag), "{%s}", cfg->board);
    if (tk_rcluster_init(&c->rcl, &cfg->backend, REDIS_TIMEOUT_S * 1000) != 0 || (c->redis = tk_rcluster_key_ctx(&c->rcl, tag, (size_t)tl)) == NULL) {
        fprintf(stderr, "tk-import: Redis: %s\n", c->rcl.errstr);
        return 2;
    }
    int db_comps = 0;
    if (tk_import_db_board(c->db, cfg->board, &db_comps, err, sizeof(err)) != 0 ||
        tk_import_redis_board(c->redis, cfg->board, &c->board, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 2;
    }
    if (db_comps == 0) {
        fprintf(stderr, "tk-import: no board %s (create it first: POST /v1/admin/boards)\n", cfg->board);
        return 1;
    }
    if (c->board.comps == 0) {
        fprintf(stderr, "tk-import: board %s is in MariaDB but not in Redis: rebuild it first (tk-rebuild --board %s)\n", cfg->board,
                cfg->board);
        return 1;
    }
    if (db_comps != c->board.comps) {
        fprintf(stderr, "tk-import: board %s has %d components in MariaDB and %d in Redis\n", cfg->board, db_comps, c->board.comps);
        return 1;
    }
    return 0;
}

static int run_export(const cfg_t *cfg, conn_t *c, const char *file)
{
    char err[512];
    unsigned season = pick_season(cfg->season, c->board.season, err, sizeof(err));
    if (season == 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 1;
    }
    int to_stdout = file == NULL || strcmp(file, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(file, "w");
    if (out == NULL) {
        perror(file);
        return 1;
    }
    long long backlog = 0;
    if (tk_import_redis_backlog(c->redis, cfg->board, &backlog, err, sizeof(err)) == 0 && backlog > 0)
        fprintf(stderr, "tk-import: note: %lld writes of board %s are not in MariaDB yet (the workers' backlog), so not in this export\n",
                backlog, cfg->board);
    int64_t t0 = tk_time_mono_us();
    size_t rows = 0;
    int rc = tk_import_db_export(c->db, cfg->board, season, c->board.comps, out, &rows, err, sizeof(err));
    if (!to_stdout && fclose(out) != 0 && rc == 0) {
        snprintf(err, sizeof(err), "%s: write error", file);
        rc = -1;
    }
    if (rc != 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 1;
    }
    fprintf(stderr, "exported %zu rows of board %s season %u in %.2f s\n", rows, cfg->board, season,
            (double)(tk_time_mono_us() - t0) / 1e6);
    return 0;
}

static int run_import(const cfg_t *cfg, conn_t *c, const char *file)
{
    char err[512];
    const tk_import_board_t *b = &c->board;
    unsigned season = pick_season(cfg->season, b->season, err, sizeof(err));
    if (season == 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 1;
    }
    int64_t now = tk_time_now_ms();
    if (season == b->season && b->len_s > 0 && now >= b->start_ms + b->len_s * 1000) {
        /* The next score write or read script moves the board on: rows written now would land in a closed season. */
        fprintf(stderr, "tk-import: season %u of board %s has ended by its schedule; the next score write (or a rollover) "
                        "starts the next one: import after that\n", season, cfg->board);
        return 1;
    }
    int in_redis = season + TK_LB_KEEP_CLOSED >= b->season;
    int64_t t0 = tk_time_mono_us();
    tk_import_file_t f;
    int rc = 1;
    if (tk_import_file_load(file, b->comps, now, PRINT_MAX, stderr, &f, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        goto out;
    }
    if (f.refused > 0 && !cfg->partial) {
        fprintf(stderr, "tk-import: nothing imported: %zu lines refused (--partial loads the good ones)\n", f.refused);
        goto out;
    }
    /* Both stores take the rows in rank order. In Redis each ZADD then lands next to the previous member, so the
     * skiplist's search path stays in the CPU's cache (1.1 ms per 1,000 members against 4.1 in user id order); in
     * MariaDB the rank index (board_rank) grows at one end (the upserts 10-15 % faster than in primary key order).
     * Measured by hand on 300,000 rows. */
    qsort(f.rows, f.n, sizeof(*f.rows), by_rank);
    int64_t t_read = tk_time_mono_us();
    int tty = isatty(STDERR_FILENO);
    tk_import_progress_t prog;
    size_t replaced = 0, in_db = f.n;
    if (in_redis) {
        /* Redis first: it draws the seqs MariaDB's upsert then carries (lua/lb_import.lua: why this order wins). */
        tk_import_progress_start(&prog, tty, "redis", f.n);
        int r = tk_import_redis_write(c->redis, cfg->board, b, season, f.rows, f.n, &prog, &replaced, &in_db, err, sizeof(err));
        tk_import_progress_end(&prog, in_db);
        if (r != 0)
            fprintf(stderr, "tk-import: %s; Redis took %zu of %zu rows\n", err, in_db, f.n);
    }
    int64_t t_redis = tk_time_mono_us();
    /* The rows Redis took (all of them for a season only MariaDB keeps), even after a refused chunk: fewer rows in
     * Redis only. */
    unsigned db_errno = 0;
    int written = in_db == 0 ? 0 : -1;
    for (int attempt = 0; written != 0 && attempt <= DB_RETRIES; attempt++) {
        if (attempt > 0 && tk_db_classify(db_errno) != TK_DB_RETRY)
            break;
        tk_import_progress_start(&prog, tty, "mariadb", in_db);
        written = tk_import_db_write(c->db, cfg->board, season, in_redis ? TK_IMPORT_DB_NEWER : TK_IMPORT_DB_SET, f.rows, in_db, &prog,
                                     &db_errno, err, sizeof(err));
        tk_import_progress_end(&prog, written == 0 ? in_db : 0);
    }
    if (written != 0) {
        if (in_redis)
            fprintf(stderr, "tk-import: %s; Redis holds %zu rows MariaDB does not: run the import again (it is idempotent)\n", err, in_db);
        else
            fprintf(stderr, "tk-import: %s; nothing imported\n", err);
        goto out;
    }
    if (in_db < f.n) {
        fprintf(stderr, "tk-import: %zu of %zu rows imported (in both stores); run the import again once the cause is fixed "
                        "(it is idempotent)\n", in_db, f.n);
        goto out;
    }
    int64_t t_end = tk_time_mono_us();
    double secs = (double)(t_end - t0) / 1e6;
    printf("imported %zu rows into board %s season %u in %.2f s (%.0f rows/s), %zu refused", f.n, cfg->board, season, secs,
           secs > 0 ? (double)f.n / secs : 0.0, f.refused);
    if (f.replaced > 0)
        printf(", %zu lines superseded by a later line of the same user", f.replaced);
    if (in_redis)
        printf(", %zu users replaced", replaced);
    else
        printf(", MariaDB only (season %u is no longer kept in Redis)", season);
    printf(" (read %.2f s, Redis %.2f s, MariaDB %.2f s)\n", (double)(t_read - t0) / 1e6, (double)(t_redis - t_read) / 1e6,
           (double)(t_end - t_redis) / 1e6);
    rc = 0;
out:
    tk_import_file_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    cfg_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    tk_backend_defaults(&cfg.backend);
    cfg.var_dir = "var";
    cfg.season = "current";
    const tk_opt_t opts[] = {
        {"--board", NULL, TK_OPT_STR, &cfg.board, 0, 0, "the board (it must exist)"},
        {"--season", NULL, TK_OPT_STR, &cfg.season, 0, 0, "current or a season number"},
        {"--partial", NULL, TK_OPT_FLAG, &cfg.partial, 0, 0, "load the good lines even when some are refused"},
        {"--export", NULL, TK_OPT_FLAG, &cfg.export, 0, 0, "write the season as CSV to FILE (default -, standard output)"},
        {"--var-dir", "VAR_DIR", TK_OPT_STR, &cfg.var_dir, 0, 0, "default place of secrets/db_password"},
        TK_BACKEND_OPTS(&cfg.backend),
        TK_BACKEND_CLUSTER_OPT(&cfg.redis_cluster),
    };
    const size_t nopts = TK_OPT_COUNT(opts);
    const char *file = NULL;
    char err[512];
    if (take_file(opts, nopts, &argc, argv, &file) != 0) {
        fprintf(stderr, "tk-import: give one FILE (see --help)\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("tk-import --board B [--season current|N] [--partial] FILE.csv|-\n"
                   "tk-import --export --board B [--season current|N] [FILE|-]\n"
                   "  CSV: user_id,level,exp,updated_at (user_id,score,updated_at on a board of one component),\n"
                   "  header optional; updated_at RFC 3339 or integer ms since the epoch; the last line of a user wins.\n"
                   "  docs/DESIGN.md, \"Leaderboards: import and export\".\n");
            tk_opt_usage(stdout, "tk-import", opts, nopts);
            return 0;
        }
    }
    int prc = tk_opt_parse(opts, nopts, argc, argv, err, sizeof(err));
    if (prc == 1)
        return 0;
    if (prc != 0 || tk_backend_check(&cfg.backend, err, sizeof(err)) != 0 || tk_backend_cluster(&cfg.backend, cfg.redis_cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 2;
    }
    if (cfg.board == NULL || !tk_valid_event_id(cfg.board, strlen(cfg.board))) {
        fprintf(stderr, "tk-import: %s\n", cfg.board == NULL ? "--board is required" : "--board: not a valid board id ([a-z0-9_-], 1-64)");
        return 2;
    }
    if (!cfg.export && file == NULL) {
        fprintf(stderr, "tk-import: give the CSV file to import (- for standard input)\n");
        return 2;
    }
    if (cfg.export && cfg.partial) {
        fprintf(stderr, "tk-import: --partial is for an import\n");
        return 2;
    }
    if (tk_backend_read_password(&cfg.backend, cfg.var_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "tk-import: %s\n", err);
        return 2;
    }
    conn_t c;
    memset(&c, 0, sizeof(c));
    int rc = open_board(&cfg, &c);
    if (rc == 0)
        rc = cfg.export ? run_export(&cfg, &c, file) : run_import(&cfg, &c, file);
    if (c.db != NULL)
        mysql_close(c.db);
    tk_rcluster_free(&c.rcl); /* closes c.redis */
    return rc;
}
