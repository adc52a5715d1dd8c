/*
 * POST /v1/admin/events: create an event. MariaDB first (events, with its
 * waiting room's and priority presale's settings, event_stock, event_locks
 * in one transaction; a presale's board must exist in boards, read in the
 * same transaction),
 * then Redis (lua/admin_create.lua). A create whose Redis step failed is
 * finished by its retry; see gw_admin.c.
 */
#include "gw_admin.h"
#include "gw_admin_body.h"
#include "gw_dbtxn.h"
#include "gw_idem.h"
#include "gw_routes.h"
#include "tk_time.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gw_admin_body_create_t def;
    int64_t now_ms;
    int duplicate; /* set by insert_body when the id is taken */
    gw_idem_t idem;
    int raced; /* the Idempotency-Key was taken meanwhile */
    int no_board; /* set by insert_body: the presale's board does not exist (400, nothing created) */
} create_in_t;

static const char sql_event[] = "INSERT INTO events (event_id, name, max_per_user, opens_at, closes_at, state, created_at, updated_at, "
                                "wr_on, wr_release_per_s, wr_access_ttl_s, wr_opens_at, pr_board, pr_top, pr_opens_at) "
                                "VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/* A shared lock: a board is never deleted today, but if it ever is, not under a create that names it. */
static const char sql_board[] = "SELECT COUNT(*) FROM boards WHERE board_id = ? LOCK IN SHARE MODE";
static const char sql_stock[] = "INSERT INTO event_stock (event_id, total) VALUES (?, ?)";
static const char sql_lock[] = "INSERT INTO event_locks (event_id) VALUES (?)";
static const char sql_read[] = "SELECT " GW_ADMIN_DEF_COLUMNS ", e.created_at, s.ticket_hwm, s.stock_ver, e.state_ver "
                               "FROM events e JOIN event_stock s ON s.event_id = e.event_id WHERE e.event_id = ?";

static unsigned insert_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    create_in_t *in = arg;
    const gw_admin_body_create_t *d = &in->def;
    MYSQL_BIND b[14];
    unsigned long elen, nlen, blen;
    long long maxpu = d->max_per_user, total = d->stock, wr_on = d->wr_on, wr_rate = d->wr_rate, wr_ttl = d->wr_ttl_s, pr_top = d->pr_top;
    MYSQL_TIME opens, closes, now, wr_opens, pr_opens;
    my_bool opens_null = d->opens_ms == 0, closes_null = d->closes_ms == 0, wr_opens_null = d->wr_opens_ms == 0;
    my_bool pr_null = d->pr_opens_ms == 0;
    tk_db_time_from_ms(d->pr_opens_ms, &pr_opens);
    tk_db_time_from_ms(d->opens_ms, &opens);
    tk_db_time_from_ms(d->closes_ms, &closes);
    tk_db_time_from_ms(in->now_ms, &now);
    tk_db_time_from_ms(d->wr_opens_ms, &wr_opens);

    tk_sql_bind_str(&b[0], d->event_id, &elen, d->elen);
    tk_sql_bind_str(&b[1], d->name, &nlen, d->nlen);
    tk_sql_bind_i64(&b[2], &maxpu);
    tk_sql_bind_time(&b[3], &opens, &opens_null);
    tk_sql_bind_time(&b[4], &closes, &closes_null);
    tk_sql_bind_time(&b[5], &now, NULL);
    tk_sql_bind_time(&b[6], &now, NULL);
    tk_sql_bind_i64(&b[7], &wr_on);
    tk_sql_bind_i64(&b[8], &wr_rate);
    tk_sql_bind_i64(&b[9], &wr_ttl);
    tk_sql_bind_time(&b[10], &wr_opens, &wr_opens_null);
    tk_sql_bind_str(&b[11], d->pr_board, &blen, d->pr_blen);
    b[11].is_null = &pr_null;
    tk_sql_bind_i64(&b[12], &pr_top);
    tk_sql_bind_time(&b[13], &pr_opens, &pr_null);
    unsigned e = tk_sql_stmt(db, sql_event, b, NULL, 0, NULL, NULL, NULL);
    if (e == ER_DUP_ENTRY) {
        in->duplicate = 1;
        return GW_DBTXN_ANSWERED; /* roll back; the caller looks at the existing row */
    }
    if (e != 0)
        return e;
    if (d->pr_opens_ms > 0) {
        long long boards = 0;
        MYSQL_BIND bin[1], out[1];
        unsigned long bl;
        tk_sql_bind_str(&bin[0], d->pr_board, &bl, d->pr_blen);
        tk_sql_bind_i64(&out[0], &boards);
        e = tk_sql_stmt(db, sql_board, bin, out, 1, NULL, NULL, NULL);
        if (e != 0)
            return e;
        if (boards == 0) {
            in->no_board = 1;
            gw_dbjob_error(job, 400, "bad_request", "priority.board_id: no board %s", d->pr_board);
            return GW_DBTXN_ANSWERED; /* roll back: nothing created */
        }
    }
    tk_sql_bind_i64(&b[1], &total);
    if ((e = tk_sql_stmt(db, sql_stock, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    if ((e = tk_sql_stmt(db, sql_lock, b, NULL, 0, NULL, NULL, NULL)) != 0)
        return e;
    return gw_idem_record(db, job, &in->idem, d->event_id, d->elen, 201, &in->raced);
}

/* The existing database row of a duplicate create. */
typedef struct {
    const create_in_t *in;
    gw_admin_def_t row;
    long long sold, hwm;
    int found;
} existing_t;

static unsigned read_body(MYSQL *db, void *arg, gw_dbjob_t *job)
{
    (void)job;
    existing_t *x = arg;
    MYSQL_BIND in[1], out[GW_ADMIN_DEF_NCOLUMNS + 4];
    unsigned long elen;
    gw_admin_defrow_t row;
    MYSQL_TIME created;
    long long stock_ver, state_ver;
    tk_sql_bind_str(&in[0], x->in->def.event_id, &elen, x->in->def.elen);
    gw_admin_def_bind(&row, &x->row, out);
    tk_sql_bind_time(&out[GW_ADMIN_DEF_NCOLUMNS], &created, NULL);
    tk_sql_bind_i64(&out[GW_ADMIN_DEF_NCOLUMNS + 1], &x->hwm);
    tk_sql_bind_i64(&out[GW_ADMIN_DEF_NCOLUMNS + 2], &stock_ver);
    tk_sql_bind_i64(&out[GW_ADMIN_DEF_NCOLUMNS + 3], &state_ver);
    unsigned long long rows = 0;
    unsigned e = tk_sql_stmt(db, sql_read, in, out, 1, NULL, NULL, &rows);
    if (e != 0)
        return e;
    x->found = rows == 1;
    if (!x->found)
        return 0;
    gw_admin_def_t *r = &x->row;
    gw_admin_def_fill(&row, r, x->in->def.event_id, x->in->def.elen);
    x->sold = row.sold;
    r->created_ms = tk_db_time_to_ms(&created);
    r->seq = x->hwm;
    r->stock_ver = stock_ver;
    r->state_ver = state_ver;
    return 0;
}

static void set_location(gw_dbjob_t *job, const gw_admin_body_create_t *d)
{
    snprintf(job->location, sizeof(job->location), "/v1/events/%s", d->event_id);
}

/*
 * Loads @def into Redis and answers 201 with the event; 409 exists when
 * Redis already holds a hash for it (@where: "" or " in redis", for the
 * message). 0, or -1 with the job answered otherwise.
 */
static int load_and_answer(gw_dbjob_t *job, gw_dbconn_t *conn, const gw_admin_body_create_t *d, const gw_admin_def_t *def,
                           const char *where)
{
    int rv = gw_admin_redis_load(job, conn, def);
    if (rv < 0)
        return -1;
    if (rv == 1) {
        gw_dbjob_error(job, 409, "exists", "event %s already exists%s", d->event_id, where);
        return -1;
    }
    set_location(job, d);
    gw_admin_answer_event(job, conn, d->event_id, d->elen, 201);
    return 0;
}

/*
 * The id is taken. Finish the create only when this is its retry: Redis has
 * no hash, and the row holds exactly this definition with no claim ever
 * written (a fallback claim would need its record rebuilt too: that is the
 * rebuild's job, not a create's).
 */
static void on_duplicate(gw_dbjob_t *job, gw_dbconn_t *conn, create_in_t *in)
{
    const gw_admin_body_create_t *d = &in->def;
    gw_event_t ev;
    int rv = gw_admin_read_event(job, conn, d->event_id, d->elen, &ev);
    if (rv < 0)
        return;
    if (rv == 0) {
        gw_dbjob_error(job, 409, "exists", "event %s already exists", d->event_id);
        return;
    }
    existing_t x = {.in = in};
    if (gw_dbtxn_run(job, conn, read_body, &x) != 0)
        return;
    const gw_admin_def_t *r = &x.row;
    if (!x.found || r->nlen != d->nlen || memcmp(r->name, d->name, d->nlen) != 0 || r->max_per_user != d->max_per_user ||
        r->opens_ms != d->opens_ms || r->closes_ms != d->closes_ms || r->total != d->stock || x.sold != 0 || x.hwm != 0 ||
        r->wr_on != d->wr_on || r->wr_rate != d->wr_rate || r->wr_ttl_s != d->wr_ttl_s || r->wr_opens_ms != d->wr_opens_ms ||
        r->pr_opens_ms != d->pr_opens_ms || r->pr_top != d->pr_top || strcmp(r->pr_board, d->pr_board) != 0) {
        gw_dbjob_error(job, 409, "exists", "event %s already exists", d->event_id);
        return;
    }
    load_and_answer(job, conn, d, r, "");
}

/*
 * A replay (the create committed under this key): the event is in MariaDB;
 * load it into Redis if the first attempt's Redis step never happened, as a
 * create's retry does, then answer the event.
 */
static int redo(gw_dbjob_t *job, gw_dbconn_t *conn, void *arg)
{
    create_in_t *in = arg;
    const gw_admin_body_create_t *d = &in->def;
    gw_event_t ev;
    int rv = gw_admin_read_event(job, conn, d->event_id, d->elen, &ev);
    if (rv < 0)
        return -1;
    if (rv == 1) {
        existing_t x = {.in = in};
        if (gw_dbtxn_run(job, conn, read_body, &x) != 0)
            return -1;
        if (!x.found) {
            gw_dbjob_error(job, 404, "not_found", "no event %s", d->event_id);
            return -1;
        }
        if (x.sold != 0 || x.hwm != 0) { /* claims exist: their records come back with a rebuild, not here */
            gw_dbjob_error(job, 503, "unavailable", "event %s is not loaded in redis; it is rebuilt from MariaDB", d->event_id);
            return -1;
        }
        if (gw_admin_redis_load(job, conn, &x.row) < 0)
            return -1;
    }
    set_location(job, d);
    gw_admin_answer_event(job, conn, d->event_id, d->elen, 201);
    return job->status == 201 ? 0 : -1;
}

static void run(gw_dbjob_t *job, gw_dbconn_t *conn)
{
    create_in_t *in = job->in;
    const gw_admin_body_create_t *d = &in->def;
    if (gw_idem_change(job, conn, &in->idem, insert_body, &in->raced, redo, in) != 0) {
        if (in->no_board)
            return; /* answered 400 by insert_body */
        if (in->duplicate && !(in->idem.present && gw_idem_replay(job, conn, &in->idem, redo, in)))
            on_duplicate(job, conn, in); /* (a create with this key that committed meanwhile was replayed instead) */
        return;
    }
    gw_admin_def_t def = {.elen = d->elen,
                          .nlen = d->nlen,
                          .state = "open",
                          .total = d->stock,
                          .remaining = d->stock,
                          .max_per_user = d->max_per_user,
                          .opens_ms = d->opens_ms,
                          .closes_ms = d->closes_ms,
                          .seq = 0,
                          .created_ms = in->now_ms,
                          .wr_on = d->wr_on,
                          .wr_rate = d->wr_rate,
                          .wr_ttl_s = d->wr_ttl_s,
                          .wr_opens_ms = d->wr_opens_ms,
                          .pr_top = d->pr_top,
                          .pr_opens_ms = d->pr_opens_ms};
    memcpy(def.event_id, d->event_id, d->elen + 1);
    memcpy(def.pr_board, d->pr_board, d->pr_blen + 1);
    memcpy(def.name, d->name, d->nlen + 1);
    /* A hash Redis holds that the database did not know is left alone: 409. */
    if (load_and_answer(job, conn, d, &def, " in redis") == 0)
        gw_idem_store_answer(job, conn, &in->idem);
}

void gw_route_admin_create(gw_req_t *r)
{
    const char *body;
    size_t len;
    char err[GW_ADMIN_BODY_ERR_MAX];
    create_in_t *in = gw_admin_in_new(r, sizeof(*in), 0);
    if (in == NULL)
        return;
    in->now_ms = tk_time_now_ms();
    gw_admin_req_body(r, &body, &len);
    const gw_admin_body_create_t *d = &in->def;
    /* The room's part is printed only for a room, so a create without one keeps the fingerprint it always had. */
    char room[96] = "", prio[128] = "";
    int parsed = gw_admin_parsed(r, gw_admin_body_parse_create(body, len, in->now_ms, &in->def, err, sizeof(err)), err) == 0;
    if (parsed && d->wr_on)
        snprintf(room, sizeof(room), "\nwr %lld %lld %lld", (long long)d->wr_rate, (long long)d->wr_ttl_s, (long long)d->wr_opens_ms);
    /* The same for a presale. */
    if (parsed && d->pr_opens_ms > 0)
        snprintf(prio, sizeof(prio), "\npr %s %lld %lld", d->pr_board, (long long)d->pr_top, (long long)d->pr_opens_ms);
    if (!parsed || gw_idem_prepare(r, &in->idem, "create", "%s\n%s\n%lld\n%lld\n%lld\n%lld%s%s", d->event_id, d->name, (long long)d->stock,
                                   (long long)d->max_per_user, (long long)d->opens_ms, (long long)d->closes_ms, room, prio) != 0) {
        free(in);
        return;
    }
    gw_admin_submit(r, run, in, free);
}
