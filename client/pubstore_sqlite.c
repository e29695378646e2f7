/* The SQLite publish store ("sqlite"): outgoing messages kept in an SQLite
 * database in WAL mode, written through the runtime's file layer by the VFS
 * shim (sqlite_vfs.c), so simulated power loss, torn writes and I/O errors
 * reach SQLite's own recovery.
 *
 * Format (application_id 0x464C5053 "FLPS", user_version 1), in
 * <env->dir>/pubstore.db:
 *   msgs(seq INTEGER PRIMARY KEY, topic TEXT, payload BLOB)   one row per message
 *   meta(key TEXT PRIMARY KEY, value INTEGER)                 'last_sequence'
 * last_sequence on reopen is max(meta.last_sequence, max(msgs.seq)): store()
 * only inserts the row, and discard_up_to() raises the meta row (never
 * lowers it) in the same transaction as the DELETE, so a sequence can never
 * be reused even after every message was discarded.
 *
 * Sequence reservation (store.h, last_sequence): under sync=batch or none a
 * power loss may take rows whose messages were already sent. So before
 * store() accepts a sequence above `reserved`, it raises meta.last_sequence
 * to seq + RESERVE_BLOCK - 1 and makes that durable at once (commit the
 * group, sync the WAL: fl__sqlite_db_flush), one sync per block. After any
 * crash or power loss last_sequence is then at least every sequence a
 * store() returned; a restart skips the rest of the block. Under
 * sync=always every row is durable on return and nothing is reserved.
 * A store() that fails with FL_E_SYNC_FAILED (the commit's WAL sync
 * failed) may leave its row committed in the WAL: after reopen the message
 * is there, intact, or absent. Topics are stored as TEXT with their exact
 * bytes (SQLite does not transcode a UTF-8 database); capacity counts topic
 * plus payload bytes, as the memory store does.
 *
 * Sync policies (sqlite_vfs.h): always = one transaction per call under
 * synchronous=FULL; batch = group transactions under NORMAL, committed by
 * count and at the end of the batch window, when the WAL is also synced;
 * none = one transaction per call under NORMAL (survives a process crash).
 * Under batch a process crash loses the open group (at most the window).
 *
 * Limits: sequences above INT64_MAX (SQLite's INTEGER) are refused with
 * FL_E_INVAL. The recovery option is accepted; SQLite's WAL recovery
 * always rolls back to the last intact commit (torn or unsynced frames are
 * ignored by their checksums and salts), whatever the mode.
 *
 * The answers (order, counts, last_sequence, errors) are the memory store's
 * (pubstore_mem.c); counts, bytes and the lowest sequence are cached in
 * memory so the count queries need no SQL.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/store.h"
#include "sqlite_vfs.h"
#include "store_util.h"

#define PUB_APPLICATION_ID 0x464C5053 /* "FLPS" */
#define PUB_USER_VERSION   1

/* Sequences covered by one durable reservation (one sync per block). */
#define RESERVE_BLOCK 4096u

static const fl__sqlite_kind k_pub_kind = {
    .what = "pubstore sqlite",
    .file = "pubstore.db",
    .application_id = PUB_APPLICATION_ID,
    .user_version = PUB_USER_VERSION,
    .schema = "CREATE TABLE msgs(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
              "payload BLOB NOT NULL);"
              "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
              "INSERT INTO meta VALUES('last_sequence', 0);",
};

typedef struct pubstore_sqlite {
    fl__sqlite_db d;
    uint64_t count;     /* stored messages */
    uint64_t bytes;     /* topic + payload bytes stored (capacity) */
    uint64_t lowest;    /* lowest stored sequence, 0 if empty */
    uint64_t last_seq;  /* highest sequence ever stored */
    uint64_t meta_last; /* last_sequence as written in meta */
    uint64_t reserved;  /* sequences up to this are durably in meta */
    sqlite3_stmt *st_ins, *st_meta, *st_sum, *st_del, *st_min, *st_all, *st_one;
} pubstore_sqlite;

/* ------------------------------------------------------------------ */
/* open / close */

static int prepare_all(pubstore_sqlite *s)
{
    static const char *const sql[] = {
        "INSERT INTO msgs(seq, topic, payload) VALUES(?1, ?2, ?3)",
        "UPDATE meta SET value = ?1 WHERE key = 'last_sequence'",
        ("SELECT count(*), coalesce(sum(length(CAST(topic AS BLOB)) + length(payload)), 0) "
         "FROM msgs WHERE seq <= ?1"),
        "DELETE FROM msgs WHERE seq <= ?1",
        "SELECT coalesce(min(seq), 0) FROM msgs",
        "SELECT seq, topic, payload FROM msgs ORDER BY seq",
        "SELECT seq, topic, payload FROM msgs WHERE seq = ?1",
    };
    sqlite3_stmt **st[] = {&s->st_ins, &s->st_meta, &s->st_sum, &s->st_del,
                           &s->st_min, &s->st_all,  &s->st_one};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        int rc = fl__sqlite_db_prepare(&s->d, sql[i], st[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Load the cached counters from the database. */
static int load_state(pubstore_sqlite *s)
{
    sqlite3_stmt *st = NULL;
    int rc = fl__sqlite_db_prepare(
        &s->d,
        "SELECT (SELECT value FROM meta WHERE key = 'last_sequence'), count(*), "
        "coalesce(sum(length(CAST(topic AS BLOB)) + length(payload)), 0), "
        "coalesce(min(seq), 0), coalesce(max(seq), 0) FROM msgs",
        &st);
    if (rc < 0)
        return rc;
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fl__sqlite_db_fail(&s->d, src, "load");
    }
    int64_t meta = sqlite3_column_int64(st, 0), maxseq = sqlite3_column_int64(st, 4);
    s->count = (uint64_t)sqlite3_column_int64(st, 1);
    s->bytes = (uint64_t)sqlite3_column_int64(st, 2);
    s->lowest = (uint64_t)sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    if (meta < 0 || maxseq < 0 || (s->count && s->lowest == 0))
        return fl__sqlite_db_errf(&s->d, FL_E_CORRUPT, "negative or zero sequence in %s",
                                  s->d.path);
    s->meta_last = (uint64_t)meta;
    s->last_seq = meta > maxseq ? (uint64_t)meta : (uint64_t)maxseq;
    s->reserved = s->last_seq; /* the next store reserves above it */
    return 0;
}

static int ps_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    if (!self_out)
        return fl__store_errf(FL_E_INVAL, err, errcap, "pubstore sqlite: self_out is NULL");
    int rc = fl__store_env_check(env, true, err, errcap);
    if (rc < 0)
        return rc;
    fl__store_options o;
    rc = fl__store_options_parse(env->options, &o, err, errcap);
    if (rc < 0)
        return rc;
    pubstore_sqlite *s = calloc(1, sizeof *s);
    if (!s)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "pubstore sqlite: out of memory");
    rc = fl__sqlite_db_open(&s->d, env, &k_pub_kind, &o, err, errcap);
    if (rc < 0) {
        free(s);
        return rc;
    }
    rc = prepare_all(s);
    if (rc == 0)
        rc = load_state(s);
    if (rc < 0) {
        fl__store_errf(rc, err, errcap, "%s", s->d.err);
        fl__sqlite_db_close(&s->d);
        free(s);
        return rc;
    }
    if (recovery) {
        memset(recovery, 0, sizeof *recovery);
        recovery->records_ok = s->count;
    }
    *self_out = s;
    return 0;
}

static void ps_close(void *self)
{
    pubstore_sqlite *s = self;
    if (!s)
        return;
    fl__sqlite_db_close(&s->d);
    free(s);
}

/* ------------------------------------------------------------------ */
/* operations */

/* Make sure `seq` is covered by a durable reservation before store()
 * accepts it (see the design note). Nothing to do under sync=always. */
static int reserve_for(pubstore_sqlite *s, uint64_t seq)
{
    if (s->d.opts.sync == FL__SYNC_ALWAYS || seq <= s->reserved)
        return 0;
    uint64_t upto = seq > FL__SQLITE_SEQ_MAX - (RESERVE_BLOCK - 1) ? FL__SQLITE_SEQ_MAX
                                                                   : seq + RESERVE_BLOCK - 1;
    int rc = fl__sqlite_db_op_begin(&s->d, false);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s->st_meta, 1, (sqlite3_int64)upto);
    int src = sqlite3_step(s->st_meta);
    sqlite3_reset(s->st_meta);
    rc = src == SQLITE_DONE ? 0 : fl__sqlite_db_fail(&s->d, src, "reserve");
    rc = fl__sqlite_db_op_end(&s->d, false, rc);
    if (rc == 0)
        rc = fl__sqlite_db_flush(&s->d);
    if (rc < 0)
        return rc;
    s->meta_last = s->reserved = upto;
    return 0;
}

static int ps_store(void *self, const fl_pub_msg *msg)
{
    pubstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    if (!msg)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "store: msg is NULL");
    if ((msg->topic_len && !msg->topic) || (msg->payload_len && !msg->payload))
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL,
                                  "store: NULL topic or payload with a non-zero length");
    if (msg->sequence <= s->last_seq)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL,
                                  "store: sequence %" PRIu64 " is not above the last %" PRIu64,
                                  msg->sequence, s->last_seq);
    if (msg->sequence > FL__SQLITE_SEQ_MAX)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL,
                                  "store: sequence %" PRIu64 " is above %" PRIu64, msg->sequence,
                                  FL__SQLITE_SEQ_MAX);
    if (msg->topic_len > INT32_MAX || msg->payload_len > INT32_MAX)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "store: message too large");
    uint64_t size = (uint64_t)msg->topic_len + msg->payload_len;
    uint64_t cap = s->d.opts.capacity;
    if (cap && (size > cap || s->bytes > cap - size))
        return fl__sqlite_db_errf(&s->d, FL_E_FULL,
                                  "store: capacity %" PRIu64 " bytes reached (%" PRIu64
                                  " held, %" PRIu64 " more)",
                                  cap, s->bytes, size);
    int rc = reserve_for(s, msg->sequence);
    if (rc < 0)
        return rc;
    rc = fl__sqlite_db_op_begin(&s->d, false);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->st_ins;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)msg->sequence);
    sqlite3_bind_text(st, 2, msg->topic_len ? msg->topic : "", (int)msg->topic_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, msg->payload_len ? (const void *)msg->payload : "",
                      (int)msg->payload_len, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    rc = src == SQLITE_DONE ? 0 : fl__sqlite_db_fail(&s->d, src, "store");
    rc = fl__sqlite_db_op_end(&s->d, false, rc);
    if (rc < 0)
        return rc;
    if (s->count++ == 0)
        s->lowest = msg->sequence;
    s->bytes += size;
    s->last_seq = msg->sequence;
    return 0;
}

/* The statements of one discard; the caller brackets them. */
static int discard_rows(pubstore_sqlite *s, uint64_t seq, uint64_t *n, uint64_t *bytes,
                        uint64_t *lowest)
{
    sqlite3_stmt *st = s->st_sum;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *n = (uint64_t)sqlite3_column_int64(st, 0);
        *bytes = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (src != SQLITE_ROW)
        return fl__sqlite_db_fail(&s->d, src, "discard");
    if (s->meta_last < s->last_seq) {
        sqlite3_bind_int64(s->st_meta, 1, (sqlite3_int64)s->last_seq);
        src = sqlite3_step(s->st_meta);
        sqlite3_reset(s->st_meta);
        if (src != SQLITE_DONE)
            return fl__sqlite_db_fail(&s->d, src, "discard");
    }
    sqlite3_bind_int64(s->st_del, 1, (sqlite3_int64)seq);
    src = sqlite3_step(s->st_del);
    sqlite3_reset(s->st_del);
    if (src != SQLITE_DONE)
        return fl__sqlite_db_fail(&s->d, src, "discard");
    src = sqlite3_step(s->st_min);
    if (src == SQLITE_ROW)
        *lowest = (uint64_t)sqlite3_column_int64(s->st_min, 0);
    sqlite3_reset(s->st_min);
    return src == SQLITE_ROW ? 0 : fl__sqlite_db_fail(&s->d, src, "discard");
}

static int ps_discard_up_to(void *self, uint64_t seq)
{
    pubstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    if (seq > FL__SQLITE_SEQ_MAX)
        seq = FL__SQLITE_SEQ_MAX; /* nothing is stored above it */
    if (s->count == 0 || s->lowest > seq)
        return 0; /* nothing to forget: nothing to write */
    uint64_t n = 0, bytes = 0, lowest = 0;
    int rc = fl__sqlite_db_op_begin(&s->d, true);
    if (rc < 0)
        return rc;
    rc = discard_rows(s, seq, &n, &bytes, &lowest);
    rc = fl__sqlite_db_op_end(&s->d, true, rc);
    if (rc < 0)
        return rc;
    if (s->meta_last < s->last_seq)
        s->meta_last = s->last_seq;
    s->count -= n;
    s->bytes -= bytes;
    s->lowest = lowest;
    return 0;
}

/* Hand one row to fn; returns fn's answer. */
static int emit(sqlite3_stmt *st, fl_pub_replay_fn fn, void *arg)
{
    const void *topic = sqlite3_column_blob(st, 1);
    size_t tlen = (size_t)sqlite3_column_bytes(st, 1);
    const void *payload = sqlite3_column_blob(st, 2);
    size_t plen = (size_t)sqlite3_column_bytes(st, 2);
    fl_pub_msg m = {
        .sequence = (uint64_t)sqlite3_column_int64(st, 0),
        .topic = topic ? topic : "",
        .topic_len = tlen,
        .payload = payload ? payload : (const void *)"",
        .payload_len = plen,
    };
    return fn(arg, &m);
}

static int ps_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    pubstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    if (!fn)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "replay: fn is NULL");
    sqlite3_stmt *st = s->st_all;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (emit(st, fn, arg) != 0) {
            src = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return src == SQLITE_DONE ? 0 : fl__sqlite_db_fail(&s->d, src, "replay");
}

static int ps_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    pubstore_sqlite *s = self;
    if (s->d.poison)
        return s->d.poison;
    if (!fn)
        return fl__sqlite_db_errf(&s->d, FL_E_INVAL, "replay_one: fn is NULL");
    if (seq == 0 || seq > FL__SQLITE_SEQ_MAX)
        return FL_E_NOT_FOUND;
    sqlite3_stmt *st = s->st_one;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int src = sqlite3_step(st);
    int rc = 0;
    if (src == SQLITE_ROW)
        emit(st, fn, arg);
    else if (src == SQLITE_DONE)
        rc = FL_E_NOT_FOUND;
    else
        rc = fl__sqlite_db_fail(&s->d, src, "replay_one");
    sqlite3_reset(st);
    return rc;
}

static uint64_t ps_unpersisted_count(void *self)
{
    return ((pubstore_sqlite *)self)->count;
}

static uint64_t ps_last_sequence(void *self)
{
    return ((pubstore_sqlite *)self)->last_seq;
}

static uint64_t ps_lowest_unpersisted(void *self)
{
    pubstore_sqlite *s = self;
    return s->count ? s->lowest : 0;
}

const fl_pubstore_ops fl_pubstore_sqlite = {
    .version = FL_STORE_ABI_VERSION,
    .name = "sqlite",
    .open = ps_open,
    .close = ps_close,
    .store = ps_store,
    .discard_up_to = ps_discard_up_to,
    .replay = ps_replay,
    .replay_one = ps_replay_one,
    .unpersisted_count = ps_unpersisted_count,
    .last_sequence = ps_last_sequence,
    .lowest_unpersisted = ps_lowest_unpersisted,
    .flush = fl__sqlite_store_flush,
    .list_files = fl__sqlite_store_list_files,
    .last_error = fl__sqlite_store_last_error,
};
