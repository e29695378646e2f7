/* The SQLite bookmark store ("sqlite"): duplicate filtering and resume
 * points for bookmark subscriptions in an SQLite database in WAL mode,
 * written through the runtime's file layer by the VFS shim (sqlite_vfs.c).
 *
 * Design note. The state is the memory store's (bmstore_mem.c), held in two
 * tables instead of arrays, and every answer is computed by SQL lookups, so
 * the two stores give the same answers and byte-identical resume points:
 *
 *   bm_pubs(sub, pub, highest, has_point, point_seq, point_ts)
 *       per sub id and publisher: the highest sequence logged and the
 *       contiguous point (highest discarded sequence with every earlier
 *       logged one discarded too, and its timestamp);
 *   bm_entries(sub, pub, seq, ts, discarded)
 *       the entries logged above the point (the memory store's ring), each
 *       flagged discarded or not; the lowest one is never discarded (a
 *       discard at the front advances the point over every discarded entry
 *       there and deletes them).
 *
 * Format (application_id 0x464C4253 "FLBS", user_version 1), in
 * <env->dir>/bmstore.db. Publisher ids and sequences are unsigned 64-bit;
 * SQLite's INTEGER is signed, so they are stored with the top bit flipped
 * (u ^ 2^63), which keeps their order: ORDER BY pub is ascending unsigned
 * publisher id, the order of the resume list. Timestamps are stored as is.
 *
 * Rules (anchors.md, as the memory store): log above highest is new; at or
 * below it a logged, undiscarded entry is a redelivery (new again, 0) and a
 * discarded or unknown one a duplicate (1). most_recent is "0" (EPOCH) for
 * an unknown sub id or when some publisher has no point yet. persisted
 * changes nothing. prune checkpoints the WAL into the database and
 * truncates it (no answer changes). Only calls that change the state write.
 *
 * Sync policies and the limits of recovery modes are the publish store's
 * (pubstore_sqlite.c).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "faultline/store.h"
#include "sqlite_vfs.h"
#include "store_util.h"

#define BM_APPLICATION_ID 0x464C4253 /* "FLBS" */
#define BM_USER_VERSION   1
#define SUB_MAX           4096u /* longest sub id accepted, as the file store */

static const fl__sqlite_kind k_bm_kind = {
    .what = "bmstore sqlite",
    .file = "bmstore.db",
    .application_id = BM_APPLICATION_ID,
    .user_version = BM_USER_VERSION,
    .schema = "CREATE TABLE bm_pubs(sub TEXT NOT NULL, pub INTEGER NOT NULL, "
              "highest INTEGER NOT NULL, has_point INTEGER NOT NULL, point_seq INTEGER NOT NULL, "
              "point_ts INTEGER NOT NULL, PRIMARY KEY(sub, pub)) WITHOUT ROWID;"
              "CREATE TABLE bm_entries(sub TEXT NOT NULL, pub INTEGER NOT NULL, "
              "seq INTEGER NOT NULL, ts INTEGER NOT NULL, discarded INTEGER NOT NULL, "
              "PRIMARY KEY(sub, pub, seq)) WITHOUT ROWID;",
};

enum {
    ST_PUB_GET,
    ST_ENT_GET,
    ST_ENT_INS,
    ST_PUB_UPSERT,
    ST_ENT_MARK,
    ST_ENT_FRONT,
    ST_ENT_DEL_UPTO,
    ST_PUB_POINT,
    ST_RECENT,
    ST_PURGE_ENTS,
    ST_PURGE_PUBS,
    ST_PURGE_ALL_ENTS,
    ST_PURGE_ALL_PUBS,
    ST_COUNT,
};

static const char *const k_sql[ST_COUNT] = {
    [ST_PUB_GET] = "SELECT highest, has_point, point_seq FROM bm_pubs WHERE sub = ?1 AND pub = ?2",
    [ST_ENT_GET] = "SELECT discarded FROM bm_entries WHERE sub = ?1 AND pub = ?2 AND seq = ?3",
    [ST_ENT_INS] = "INSERT INTO bm_entries VALUES(?1, ?2, ?3, ?4, 0)",
    [ST_PUB_UPSERT] = "INSERT INTO bm_pubs VALUES(?1, ?2, ?3, 0, 0, 0) "
                      "ON CONFLICT(sub, pub) DO UPDATE SET highest = excluded.highest",
    [ST_ENT_MARK] = "UPDATE bm_entries SET discarded = 1 WHERE sub = ?1 AND pub = ?2 AND seq = ?3",
    [ST_ENT_FRONT] = "SELECT seq, ts, discarded FROM bm_entries WHERE sub = ?1 AND pub = ?2 "
                     "ORDER BY seq",
    [ST_ENT_DEL_UPTO] = "DELETE FROM bm_entries WHERE sub = ?1 AND pub = ?2 AND seq <= ?3",
    [ST_PUB_POINT] = "UPDATE bm_pubs SET has_point = 1, point_seq = ?3, point_ts = ?4 "
                     "WHERE sub = ?1 AND pub = ?2",
    [ST_RECENT] = "SELECT pub, has_point, point_seq, point_ts FROM bm_pubs WHERE sub = ?1 "
                  "ORDER BY pub",
    [ST_PURGE_ENTS] = "DELETE FROM bm_entries WHERE sub = ?1",
    [ST_PURGE_PUBS] = "DELETE FROM bm_pubs WHERE sub = ?1",
    [ST_PURGE_ALL_ENTS] = "DELETE FROM bm_entries",
    [ST_PURGE_ALL_PUBS] = "DELETE FROM bm_pubs",
};

typedef struct bmstore_sqlite {
    fl__sqlite_db d;
    sqlite3_stmt *st[ST_COUNT];
} bmstore_sqlite;

/* A publisher's row. */
typedef struct pub_row {
    uint64_t highest;
    bool has_point;
    uint64_t point_seq;
} pub_row;

static int64_t enc(uint64_t u)
{
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static uint64_t dec(int64_t v)
{
    return (uint64_t)v ^ (UINT64_C(1) << 63);
}

/* Bind (sub, pub[, seq]) to the first parameters of statement `i`. */
static sqlite3_stmt *bind_key(bmstore_sqlite *s, int i, const char *sub, uint64_t pub)
{
    sqlite3_stmt *st = s->st[i];
    sqlite3_bind_text(st, 1, sub, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, enc(pub));
    return st;
}

/* Step a statement without rows to completion and reset it. */
static int run(bmstore_sqlite *s, sqlite3_stmt *st, const char *op)
{
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    return src == SQLITE_DONE ? 0 : fl__sqlite_db_fail(&s->d, src, op);
}

/* ------------------------------------------------------------------ */
/* open / close */

static int bs_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    if (!self_out)
        return fl__store_errf(FL_E_INVAL, err, errcap, "bmstore sqlite: self_out is NULL");
    int rc = fl__store_env_check(env, true, err, errcap);
    if (rc < 0)
        return rc;
    fl__store_options o;
    rc = fl__store_options_parse(env->options, &o, err, errcap);
    if (rc < 0)
        return rc;
    bmstore_sqlite *s = calloc(1, sizeof *s);
    if (!s)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "bmstore sqlite: out of memory");
    rc = fl__sqlite_db_open(&s->d, env, &k_bm_kind, &o, err, errcap);
    if (rc < 0) {
        free(s);
        return rc;
    }
    for (int i = 0; i < ST_COUNT && rc == 0; i++)
        rc = fl__sqlite_db_prepare(&s->d, k_sql[i], &s->st[i]);
    if (rc < 0) {
        fl__store_errf(rc, err, errcap, "%s", s->d.err);
        fl__sqlite_db_close(&s->d);
        free(s);
        return rc;
    }
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    *self_out = s;
    return 0;
}

static void bs_close(void *self)
{
    bmstore_sqlite *s = self;
    if (!s)
        return;
    fl__sqlite_db_close(&s->d);
    free(s);
}

/* ------------------------------------------------------------------ */
/* lookups */

static int check_args(bmstore_sqlite *s, const char *op, const char *sub_id,
                      const fl_store_bookmark *bm)
{
    if (s->d.poison)
        return s->d.poison;
    if (!sub_id || !bm)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "%s: NULL sub id or bookmark", op);
    if (bm->publisher == 0 || bm->ts_us > FL_TIME_MAX_US)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "%s: publisher 0 or timestamp out of range",
                                  op);
    if (strlen(sub_id) > SUB_MAX)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "%s: sub id longer than %u bytes", op,
                                  SUB_MAX);
    return 0;
}

/* 1 and *row if the publisher is known on the sub, 0 if not, or an error. */
static int pub_get(bmstore_sqlite *s, const char *sub, uint64_t pub, pub_row *row)
{
    sqlite3_stmt *st = bind_key(s, ST_PUB_GET, sub, pub);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        row->highest = dec(sqlite3_column_int64(st, 0));
        row->has_point = sqlite3_column_int(st, 1) != 0;
        row->point_seq = dec(sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    if (src == SQLITE_ROW)
        return 1;
    return src == SQLITE_DONE ? 0 : fl__sqlite_db_fail(&s->d, src, "lookup");
}

/* Entry above the point: 1 discarded, 0 not, FL_E_NOT_FOUND if absent. */
static int ent_get(bmstore_sqlite *s, const char *sub, uint64_t pub, uint64_t seq)
{
    sqlite3_stmt *st = bind_key(s, ST_ENT_GET, sub, pub);
    sqlite3_bind_int64(st, 3, enc(seq));
    int src = sqlite3_step(st);
    int discarded = src == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : 0;
    sqlite3_reset(st);
    if (src == SQLITE_ROW)
        return discarded;
    return src == SQLITE_DONE ? FL_E_NOT_FOUND : fl__sqlite_db_fail(&s->d, src, "lookup");
}

/* For a sequence at or below highest: 1 if it counts as a duplicate. */
static int lookup_is_dup(bmstore_sqlite *s, const char *sub, uint64_t pub, const pub_row *row,
                         uint64_t seq)
{
    if (row->has_point && seq <= row->point_seq)
        return 1;
    int rc = ent_get(s, sub, pub, seq);
    return rc == FL_E_NOT_FOUND ? 1 : rc;
}

/* ------------------------------------------------------------------ */
/* operations */

static int log_new(bmstore_sqlite *s, const char *sub, const fl_store_bookmark *bm)
{
    sqlite3_stmt *st = bind_key(s, ST_ENT_INS, sub, bm->publisher);
    sqlite3_bind_int64(st, 3, enc(bm->sequence));
    sqlite3_bind_int64(st, 4, bm->ts_us);
    int rc = run(s, st, "log");
    if (rc < 0)
        return rc;
    st = bind_key(s, ST_PUB_UPSERT, sub, bm->publisher);
    sqlite3_bind_int64(st, 3, enc(bm->sequence));
    return run(s, st, "log");
}

static int bs_log(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_sqlite *s = self;
    int rc = check_args(s, "log", sub_id, bm);
    if (rc)
        return rc;
    pub_row row;
    rc = pub_get(s, sub_id, bm->publisher, &row);
    if (rc < 0)
        return rc;
    if (rc == 1 && bm->sequence <= row.highest)
        return lookup_is_dup(s, sub_id, bm->publisher, &row, bm->sequence);
    rc = fl__sqlite_db_op_begin(&s->d, true);
    if (rc < 0)
        return rc;
    return fl__sqlite_db_op_end(&s->d, true, log_new(s, sub_id, bm));
}

/* Move the point past every discarded entry at the front. */
static int advance_point(bmstore_sqlite *s, const char *sub, uint64_t pub)
{
    sqlite3_stmt *st = bind_key(s, ST_ENT_FRONT, sub, pub);
    int64_t last_seq = 0, last_ts = 0;
    bool any = false;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_int(st, 2)) {
        last_seq = sqlite3_column_int64(st, 0);
        last_ts = sqlite3_column_int64(st, 1);
        any = true;
    }
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fl__sqlite_db_fail(&s->d, src, "discard");
    if (!any)
        return 0;
    st = bind_key(s, ST_ENT_DEL_UPTO, sub, pub);
    sqlite3_bind_int64(st, 3, last_seq);
    int rc = run(s, st, "discard");
    if (rc < 0)
        return rc;
    st = bind_key(s, ST_PUB_POINT, sub, pub);
    sqlite3_bind_int64(st, 3, last_seq);
    sqlite3_bind_int64(st, 4, last_ts);
    return run(s, st, "discard");
}

static int discard_entry(bmstore_sqlite *s, const char *sub, const fl_store_bookmark *bm)
{
    sqlite3_stmt *st = bind_key(s, ST_ENT_MARK, sub, bm->publisher);
    sqlite3_bind_int64(st, 3, enc(bm->sequence));
    int rc = run(s, st, "discard");
    return rc < 0 ? rc : advance_point(s, sub, bm->publisher);
}

static int bs_discard(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_sqlite *s = self;
    int rc = check_args(s, "discard", sub_id, bm);
    if (rc)
        return rc;
    rc = ent_get(s, sub_id, bm->publisher, bm->sequence);
    if (rc == FL_E_NOT_FOUND || rc == 1)
        return 0; /* unknown, behind the point, or already discarded */
    if (rc < 0)
        return rc;
    rc = fl__sqlite_db_op_begin(&s->d, true);
    if (rc < 0)
        return rc;
    return fl__sqlite_db_op_end(&s->d, true, discard_entry(s, sub_id, bm));
}

static int bs_is_discarded(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_sqlite *s = self;
    int rc = check_args(s, "is_discarded", sub_id, bm);
    if (rc)
        return rc;
    pub_row row;
    rc = pub_get(s, sub_id, bm->publisher, &row);
    if (rc <= 0)
        return rc;
    if (bm->sequence > row.highest)
        return 0;
    return lookup_is_dup(s, sub_id, bm->publisher, &row, bm->sequence);
}

/* Append text to buf at *len; false when it (plus the NUL) won't fit. */
static bool append(char *buf, size_t cap, size_t *len, const char *text, size_t n)
{
    if (n >= cap - *len)
        return false;
    memcpy(buf + *len, text, n);
    *len += n;
    buf[*len] = '\0';
    return true;
}

/* Format one "pub|seq|ts" (with a leading ',' unless first) into text. */
static size_t format_point(sqlite3_stmt *st, bool first, char *text, size_t cap)
{
    int64_t ts = sqlite3_column_int64(st, 3);
    fl_bookmark b = fl_bookmark_exact(dec(sqlite3_column_int64(st, 0)),
                                      dec(sqlite3_column_int64(st, 2)), ts < 0 ? FL_BM_NO_TS : ts);
    size_t n = 0;
    if (!first)
        text[n++] = ',';
    int w = fl_bookmark_format(&b, text + n, cap - n);
    return w > 0 ? n + (size_t)w : 0;
}

static int bs_most_recent(void *self, const char *sub_id, char *buf, size_t cap)
{
    bmstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    if (!sub_id || (!buf && cap))
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "most_recent: NULL sub id or buffer");
    if (cap == 0)
        return FL_E_OVERFLOW;
    buf[0] = '\0';
    size_t len = 0;
    bool epoch = false, overflow = false, any = false;
    sqlite3_stmt *st = bind_key(s, ST_RECENT, sub_id, 0);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (!sqlite3_column_int(st, 1)) {
            epoch = true; /* an unprocessed first message pins the sub to EPOCH */
            src = SQLITE_DONE;
            break;
        }
        char text[FL_BOOKMARK_MAX_TEXT + 2];
        size_t n = format_point(st, !any, text, sizeof text);
        if (n == 0) {
            sqlite3_reset(st);
            return fl__sqlite_db_errf(&s->d, FL_E_CORRUPT, "most_recent: unformattable point in %s",
                                      s->d.path);
        }
        any = true;
        if (!overflow && !append(buf, cap, &len, text, n))
            overflow = true;
    }
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return fl__sqlite_db_fail(&s->d, src, "most_recent");
    if (epoch || !any) {
        buf[0] = '\0';
        len = 0;
        return append(buf, cap, &len, "0", 1) ? 1 : FL_E_OVERFLOW;
    }
    return overflow ? FL_E_OVERFLOW : (int)len;
}

static int bs_persisted(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    return check_args(self, "persisted", sub_id, bm);
}

static int bs_prune(void *self)
{
    bmstore_sqlite *s = self;
    return fl__sqlite_db_checkpoint(&s->d);
}

static int purge_rows(bmstore_sqlite *s, const char *sub_id)
{
    int rc;
    if (sub_id) {
        rc = run(s, bind_key(s, ST_PURGE_ENTS, sub_id, 0), "purge");
        if (rc == 0)
            rc = run(s, bind_key(s, ST_PURGE_PUBS, sub_id, 0), "purge");
        return rc;
    }
    rc = run(s, s->st[ST_PURGE_ALL_ENTS], "purge");
    return rc < 0 ? rc : run(s, s->st[ST_PURGE_ALL_PUBS], "purge");
}

static int bs_purge(void *self, const char *sub_id)
{
    bmstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    int rc = fl__sqlite_db_op_begin(&s->d, true);
    if (rc < 0)
        return rc;
    return fl__sqlite_db_op_end(&s->d, true, purge_rows(s, sub_id));
}

const fl_bmstore_ops fl_bmstore_sqlite = {
    .version = FL_STORE_ABI_VERSION,
    .name = "sqlite",
    .open = bs_open,
    .close = bs_close,
    .log = bs_log,
    .discard = bs_discard,
    .is_discarded = bs_is_discarded,
    .most_recent = bs_most_recent,
    .persisted = bs_persisted,
    .prune = bs_prune,
    .purge = bs_purge,
    .flush = fl__sqlite_store_flush,
    .list_files = fl__sqlite_store_list_files,
    .last_error = fl__sqlite_store_last_error,
};
