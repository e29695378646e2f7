/* The simulated broker's transaction log (simulator/journal.h).
 *
 * Design note.
 *
 * Storage is an fl_seglog; this file adds the message record codec and the
 * in-memory view. The view is rebuilt from the records recovery yields, so
 * after a crash it holds exactly what the recovery mode kept.
 *
 * Message record (type SIM_JREC_MESSAGE), big-endian:
 *     0 u8  version (1)        1 u8  reserved (0)
 *     2 u16 topic length       4 u16 origin length     6 u16 reserved (0)
 *     8 u64 publisher         16 u64 sequence         24 i64 timestamp
 *    32 u64 origin recno      40 topic, origin, then the payload
 * High-water record (type SIM_JREC_HIGHWATER):
 *     0 u8 version (1), 3 reserved bytes, 4 u32 count, 8 i64 deleted max ts,
 *    16 count x (u64 publisher, u64 highest, u64 deleted max)
 * A record whose checksum verifies but whose body does not decode is a
 * writer bug or hostile input: it is skipped, counted as dropped and traced.
 *
 * The view: `ents` is a deque of retained messages ordered by record number
 * (gapless except where salvage skipped damage). Each entry also keeps the
 * running maximum of timestamps up to it, so a timestamp lookup is a binary
 * search even when replicated messages (which carry their origin's receipt
 * time) make timestamps non-monotonic. Publishers live in an array sorted by
 * id (binary search, deterministic order); each has a deque of (sequence,
 * record number) of its retained messages, ascending in both because the
 * broker never logs a sequence at or below the publisher's highest.
 *
 * Failed syncs. The seglog poisons itself when a file or directory sync
 * fails (the outcome of the sync is unknown, DESIGN.md: never retry it) but
 * it has no way to tell its owner when that happens inside its own
 * group-commit timer: the broker would only find out at its next append,
 * and a quiet journal would sit with acks waiting forever. So the seglog is
 * given a wrapper of the journal's runtime that forwards every call and
 * remembers a failed file_sync / dir_sync (every one of them poisons the log
 * or fails the open, see seglog.c); the journal then calls the owner's
 * on_failed from the loop, once. Wrapping the seam, as SQLite's test VFS
 * wraps a VFS, keeps the seglog untouched and changes no file operation.
 */
#include "journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/seglog.h"
#include "util.h"

#define MSG_HDR   40u
#define HW_HDR    16u
#define HW_ENTRY  24u
#define ERR_CAP   256
#define TRACE_CAP 512

typedef struct jent {
    uint64_t recno;
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;
    int64_t max_ts; /* running maximum of ts_us up to this entry */
    uint64_t origin_recno;
    uint32_t topic;  /* index into topics */
    uint32_t origin; /* index into origins (0: local) */
    uint32_t len;
    uint8_t *payload;
} jent;

typedef struct jref {
    uint64_t seq;
    uint64_t recno;
} jref;

typedef struct jpub {
    uint64_t id;
    uint64_t highest;
    uint64_t deleted_max;
    jref *refs;
    size_t head, len, cap; /* refs[head .. head+len) */
} jpub;

typedef struct jname {
    char *name;
    size_t len;
    uint64_t max_recno; /* origins only */
} jname;

struct sim_journal {
    sim_journal_options o;
    const fl_runtime *rt;
    char *dir;
    char *source;
    fl_seglog *log;
    jent *ents;
    size_t head, len, cap;
    jpub **pubs; /* sorted by id */
    size_t npubs, cappubs;
    jname *topics;
    size_t ntopics, captopics;
    jname *origins; /* origins[0] is "" (local) */
    size_t norigins, caporigins;
    int64_t deleted_max_ts; /* INT64_MIN: nothing deleted */
    int64_t max_ts;
    uint64_t bad_records;
    fl_buf wbuf;
    char err[ERR_CAP];
    fl_runtime wrt;         /* what the seglog sees: rt with syncs watched */
    int failed;             /* 0, or FL_E_SYNC_FAILED after a failed sync */
    fl_timer_id fail_timer; /* on_failed from the loop */
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void trace(sim_journal *j, const char *event, const char *fields)
{
    fl_rt_trace(j->rt, j->source, event, fields);
}

static jent *ent_at(const sim_journal *j, size_t i)
{
    return &j->ents[j->head + i];
}

/* Index of the first entry with recno >= r (j->len when none). */
static size_t ent_lower_bound(const sim_journal *j, uint64_t r)
{
    size_t lo = 0, hi = j->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ent_at(j, mid)->recno < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------ */
/* names (topics, origins)                                              */

static int name_intern(jname **arr, size_t *n, size_t *cap, const char *s, size_t len,
                       uint32_t *out)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*arr)[i].len == len && (len == 0 || memcmp((*arr)[i].name, s, len) == 0)) {
            *out = (uint32_t)i;
            return 0;
        }
    }
    if (sim_grow((void **)arr, cap, *n + 1, sizeof **arr, 16))
        return FL_E_NOMEM;
    char *copy = sim_dup_n(s, len);
    if (!copy)
        return FL_E_NOMEM;
    (*arr)[*n] = (jname){copy, len, 0};
    *out = (uint32_t)(*n)++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* publishers                                                           */

static size_t pub_lower_bound(const sim_journal *j, uint64_t id)
{
    size_t lo = 0, hi = j->npubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->pubs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static jpub *pub_find(const sim_journal *j, uint64_t id)
{
    size_t i = pub_lower_bound(j, id);
    return i < j->npubs && j->pubs[i]->id == id ? j->pubs[i] : NULL;
}

static jpub *pub_get(sim_journal *j, uint64_t id)
{
    size_t i = pub_lower_bound(j, id);
    if (i < j->npubs && j->pubs[i]->id == id)
        return j->pubs[i];
    if (sim_grow((void **)&j->pubs, &j->cappubs, j->npubs + 1, sizeof *j->pubs, 16))
        return NULL;
    jpub *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = id;
    memmove(&j->pubs[i + 1], &j->pubs[i], (j->npubs - i) * sizeof *j->pubs);
    j->pubs[i] = p;
    j->npubs++;
    return p;
}

static int pub_push(jpub *p, uint64_t seq, uint64_t recno)
{
    if (p->head + p->len == p->cap) {
        if (p->head > p->cap / 2) {
            memmove(p->refs, p->refs + p->head, p->len * sizeof *p->refs);
            p->head = 0;
        } else if (sim_grow((void **)&p->refs, &p->cap, p->cap + 1, sizeof *p->refs, 16)) {
            return FL_E_NOMEM;
        }
    }
    p->refs[p->head + p->len++] = (jref){seq, recno};
    return 0;
}

/* Index of the first ref with seq >= s. */
static size_t ref_lower_bound(const jpub *p, uint64_t s)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->refs[p->head + mid].seq < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------ */
/* the view                                                             */

static int view_add(sim_journal *j, uint64_t recno, const sim_journal_msg *m, uint32_t topic,
                    uint32_t origin)
{
    if (j->head + j->len == j->cap) {
        if (j->head > j->cap / 2) {
            memmove(j->ents, j->ents + j->head, j->len * sizeof *j->ents);
            j->head = 0;
        } else if (sim_grow((void **)&j->ents, &j->cap, j->cap + 1, sizeof *j->ents, 16)) {
            return FL_E_NOMEM;
        }
    }
    jpub *p = pub_get(j, m->publisher);
    if (!p)
        return FL_E_NOMEM;
    uint8_t *copy = NULL;
    if (m->payload_len) {
        copy = malloc(m->payload_len);
        if (!copy)
            return FL_E_NOMEM;
        memcpy(copy, m->payload, m->payload_len);
    }
    if (pub_push(p, m->sequence, recno)) {
        free(copy);
        return FL_E_NOMEM;
    }
    if (m->sequence > p->highest)
        p->highest = m->sequence;
    if (m->ts_us > j->max_ts)
        j->max_ts = m->ts_us;
    if (m->origin_recno > j->origins[origin].max_recno)
        j->origins[origin].max_recno = m->origin_recno;
    j->ents[j->head + j->len++] = (jent){recno,    m->publisher, m->sequence,
                                         m->ts_us, j->max_ts,    m->origin_recno,
                                         topic,    origin,       (uint32_t)m->payload_len,
                                         copy};
    return 0;
}

static void fill_msg(const sim_journal *j, const jent *e, sim_journal_msg *out)
{
    const jname *t = &j->topics[e->topic], *o = &j->origins[e->origin];
    *out =
        (sim_journal_msg){e->recno, t->name, t->len,          e->publisher, e->sequence, e->ts_us,
                          o->name,  o->len,  e->origin_recno, e->payload,   e->len};
}

/* ------------------------------------------------------------------ */
/* record codec                                                         */

static int encode_msg(fl_buf *b, const sim_journal_msg *m)
{
    uint8_t h[MSG_HDR];
    memset(h, 0, sizeof h);
    h[0] = 1;
    fl_store_be16(h + 2, (uint16_t)m->topic_len);
    fl_store_be16(h + 4, (uint16_t)m->origin_len);
    fl_store_be64(h + 8, m->publisher);
    fl_store_be64(h + 16, m->sequence);
    fl_store_be64(h + 24, (uint64_t)m->ts_us);
    fl_store_be64(h + 32, m->origin_recno);
    fl_buf_clear(b);
    if (fl_buf_append(b, h, sizeof h) || fl_buf_append(b, m->topic, m->topic_len) ||
        fl_buf_append(b, m->origin, m->origin_len) || fl_buf_append(b, m->payload, m->payload_len))
        return FL_E_NOMEM;
    return 0;
}

static int decode_msg(const uint8_t *p, size_t n, sim_journal_msg *m)
{
    if (n < MSG_HDR || p[0] != 1 || p[1] != 0 || fl_load_be16(p + 6) != 0)
        return FL_E_CORRUPT;
    size_t tl = fl_load_be16(p + 2), ol = fl_load_be16(p + 4);
    if (tl == 0 || tl + ol > n - MSG_HDR)
        return FL_E_CORRUPT;
    *m = (sim_journal_msg){0,
                           (const char *)p + MSG_HDR,
                           tl,
                           fl_load_be64(p + 8),
                           fl_load_be64(p + 16),
                           (int64_t)fl_load_be64(p + 24),
                           (const char *)p + MSG_HDR + tl,
                           ol,
                           fl_load_be64(p + 32),
                           p + MSG_HDR + tl + ol,
                           n - MSG_HDR - tl - ol};
    return 0;
}

static int apply_highwater(sim_journal *j, const uint8_t *p, size_t n)
{
    if (n < HW_HDR || p[0] != 1)
        return FL_E_CORRUPT;
    uint32_t count = fl_load_be32(p + 4);
    if ((n - HW_HDR) / HW_ENTRY < count || n != HW_HDR + (size_t)count * HW_ENTRY)
        return FL_E_CORRUPT;
    int64_t dts = (int64_t)fl_load_be64(p + 8);
    if (dts > j->deleted_max_ts)
        j->deleted_max_ts = dts;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = p + HW_HDR + (size_t)i * HW_ENTRY;
        jpub *pub = pub_get(j, fl_load_be64(e));
        if (!pub)
            return FL_E_NOMEM;
        uint64_t hi = fl_load_be64(e + 8), del = fl_load_be64(e + 16);
        if (hi > pub->highest)
            pub->highest = hi;
        if (del > pub->deleted_max)
            pub->deleted_max = del;
    }
    return 0;
}

static int on_record(void *arg, uint64_t recno, unsigned type, const uint8_t *payload, size_t len)
{
    sim_journal *j = arg;
    int rc = 0;
    if (type == SIM_JREC_MESSAGE) {
        sim_journal_msg m;
        uint32_t t, o;
        rc = decode_msg(payload, len, &m);
        if (!rc &&
            !(rc = name_intern(&j->topics, &j->ntopics, &j->captopics, m.topic, m.topic_len, &t)) &&
            !(rc = name_intern(&j->origins, &j->norigins, &j->caporigins, m.origin, m.origin_len,
                               &o)))
            rc = view_add(j, recno, &m, t, o);
    } else if (type == SIM_JREC_HIGHWATER) {
        rc = apply_highwater(j, payload, len);
    }
    if (rc == FL_E_NOMEM)
        return rc;
    if (rc) {
        char f[128];
        j->bad_records++;
        snprintf(f, sizeof f, "\"recno\":%llu,\"type\":%u,\"len\":%zu", (unsigned long long)recno,
                 type, len);
        trace(j, "bad_record", f);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* the seglog's runtime: forwards everything, watches syncs             */

#define FWD(self) (((sim_journal *)(self))->rt)

static void fail_notify(void *arg)
{
    sim_journal *j = arg;
    j->fail_timer = 0;
    if (j->o.on_failed)
        j->o.on_failed(j->o.arg, j->failed);
}

/* A sync of the log failed: the log is poisoned (or its open fails). */
static void note_sync_failure(sim_journal *j, const char *what, int rc)
{
    if (j->failed)
        return;
    j->failed = FL_E_SYNC_FAILED;
    snprintf(j->err, sizeof j->err, "%s failed: %s", what, fl_strerror(rc));
    char f[160];
    snprintf(f, sizeof f, "\"op\":\"%s\",\"error\":\"%s\"", what, fl_err_name(rc));
    trace(j, "sync_failed", f);
    if (j->o.on_failed && fl_rt_timer_start(j->rt, 0, fail_notify, j, &j->fail_timer) != 0)
        j->fail_timer = 0;
}

static uint64_t w_now(void *self)
{
    return fl_rt_now(FWD(self));
}

static uint64_t w_random(void *self)
{
    return fl_rt_random(FWD(self));
}

static int w_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg, fl_timer_id *out)
{
    return fl_rt_timer_start(FWD(self), delay_us, fn, arg, out);
}

static void w_timer_cancel(void *self, fl_timer_id id)
{
    fl_rt_timer_cancel(FWD(self), id);
}

static int w_connect(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                     fl_conn_id *out)
{
    return FWD(self)->ops->connect(FWD(self)->self, uri, cbs, arg, out);
}

static int w_send(void *self, fl_conn_id conn, const void *buf, size_t len)
{
    return FWD(self)->ops->send(FWD(self)->self, conn, buf, len);
}

static void w_close(void *self, fl_conn_id conn)
{
    FWD(self)->ops->close(FWD(self)->self, conn);
}

static int w_file_open(void *self, const char *path, int flags, fl_file **out)
{
    return FWD(self)->ops->file_open(FWD(self)->self, path, flags, out);
}

static int w_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    return FWD(self)->ops->file_read(FWD(self)->self, f, off, buf, len, nread);
}

static int w_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    return FWD(self)->ops->file_write(FWD(self)->self, f, off, buf, len);
}

static int w_file_sync(void *self, fl_file *f)
{
    int rc = FWD(self)->ops->file_sync(FWD(self)->self, f);
    if (rc)
        note_sync_failure(self, "file_sync", rc);
    return rc;
}

static int w_file_truncate(void *self, fl_file *f, uint64_t size)
{
    return FWD(self)->ops->file_truncate(FWD(self)->self, f, size);
}

static int w_file_size(void *self, fl_file *f, uint64_t *size)
{
    return FWD(self)->ops->file_size(FWD(self)->self, f, size);
}

static void w_file_close(void *self, fl_file *f)
{
    FWD(self)->ops->file_close(FWD(self)->self, f);
}

static int w_file_unlink(void *self, const char *path)
{
    return FWD(self)->ops->file_unlink(FWD(self)->self, path);
}

static int w_file_rename(void *self, const char *from, const char *to)
{
    return FWD(self)->ops->file_rename(FWD(self)->self, from, to);
}

static int w_dir_create(void *self, const char *path)
{
    return FWD(self)->ops->dir_create(FWD(self)->self, path);
}

static int w_dir_sync(void *self, const char *path)
{
    int rc = FWD(self)->ops->dir_sync(FWD(self)->self, path);
    if (rc)
        note_sync_failure(self, "dir_sync", rc);
    return rc;
}

static int w_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    return FWD(self)->ops->dir_list(FWD(self)->self, path, fn, arg);
}

static void w_trace(void *self, const char *source, const char *event, const char *fields_json)
{
    fl_rt_trace(FWD(self), source, event, fields_json);
}

static const fl_runtime_ops WATCH_OPS = {
    .version = FL_RUNTIME_OPS_VERSION,
    .name = "journal",
    .now = w_now,
    .random = w_random,
    .timer_start = w_timer_start,
    .timer_cancel = w_timer_cancel,
    .connect = w_connect,
    .send = w_send,
    .close = w_close,
    .file_open = w_file_open,
    .file_read = w_file_read,
    .file_write = w_file_write,
    .file_sync = w_file_sync,
    .file_truncate = w_file_truncate,
    .file_size = w_file_size,
    .file_close = w_file_close,
    .file_unlink = w_file_unlink,
    .file_rename = w_file_rename,
    .dir_create = w_dir_create,
    .dir_sync = w_dir_sync,
    .dir_list = w_dir_list,
    .trace = w_trace,
};

/* ------------------------------------------------------------------ */
/* open / close                                                         */

static void on_durable(void *arg, uint64_t recno)
{
    sim_journal *j = arg;
    if (j->o.on_durable)
        j->o.on_durable(j->o.arg, recno);
}

static void journal_free(sim_journal *j)
{
    fl_rt_timer_cancel(j->rt, j->fail_timer);
    for (size_t i = 0; i < j->len; i++)
        free(ent_at(j, i)->payload);
    free(j->ents);
    for (size_t i = 0; i < j->npubs; i++) {
        free(j->pubs[i]->refs);
        free(j->pubs[i]);
    }
    free(j->pubs);
    for (size_t i = 0; i < j->ntopics; i++)
        free(j->topics[i].name);
    free(j->topics);
    for (size_t i = 0; i < j->norigins; i++)
        free(j->origins[i].name);
    free(j->origins);
    fl_buf_free(&j->wbuf);
    free(j->dir);
    free(j->source);
    free(j);
}

static void trace_open(sim_journal *j, const fl_store_recovery *rep)
{
    char f[TRACE_CAP];
    snprintf(f, sizeof f,
             "\"mode\":\"%s\",\"records_ok\":%llu,\"records_dropped\":%llu,"
             "\"bytes_dropped\":%llu,\"bad_records\":%llu,\"messages\":%zu,\"next_recno\":%llu",
             fl_recovery_mode_name(j->o.recovery), (unsigned long long)rep->records_ok,
             (unsigned long long)rep->records_dropped, (unsigned long long)rep->bytes_dropped,
             (unsigned long long)j->bad_records, j->len,
             (unsigned long long)fl_seglog_next_recno(j->log));
    trace(j, "recovered", f);
}

int sim_journal_open(const sim_journal_options *opts, sim_journal **out, fl_store_recovery *report,
                     char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!opts || !out || !opts->rt || !opts->dir || opts->version != SIM_JOURNAL_OPTIONS_VERSION) {
        if (err && errcap)
            snprintf(err, errcap, "journal: bad options");
        return FL_E_INVAL;
    }
    sim_journal *j = calloc(1, sizeof *j);
    if (!j)
        return FL_E_NOMEM;
    j->o = *opts;
    j->rt = opts->rt;
    j->deleted_max_ts = INT64_MIN;
    j->max_ts = INT64_MIN;
    j->dir = sim_dup_n(opts->dir, strlen(opts->dir));
    const char *src = opts->trace_source ? opts->trace_source : "journal";
    j->source = sim_dup_n(src, strlen(src));
    uint32_t local;
    if (!j->dir || !j->source ||
        name_intern(&j->origins, &j->norigins, &j->caporigins, "", 0, &local)) {
        journal_free(j);
        return FL_E_NOMEM;
    }
    j->o.dir = j->dir;
    j->o.trace_source = j->source;
    j->wrt = (fl_runtime){&WATCH_OPS, j};

    fl_seglog_options so = FL_SEGLOG_OPTIONS_INIT;
    so.rt = &j->wrt;
    so.dir = j->dir;
    so.kind = FL_SEG_KIND_JOURNAL;
    so.segment_size = opts->segment_size;
    so.segment_age_us = opts->segment_age_us;
    so.recovery = opts->recovery;
    so.sync = FL_SYNC_BATCH;
    so.batch_window_us = opts->sync_interval_us;
    so.batch_count = 0;
    if (opts->max_record)
        so.max_record = opts->max_record;
    so.on_durable = on_durable;
    so.arg = j;
    fl_store_recovery rep;
    memset(&rep, 0, sizeof rep);
    int rc = fl_seglog_open(&so, on_record, j, &j->log, &rep, err, errcap);
    if (report)
        *report = rep;
    if (rc) {
        char f[TRACE_CAP];
        snprintf(f, sizeof f, "\"mode\":\"%s\",\"error\":\"%s\"",
                 fl_recovery_mode_name(opts->recovery), fl_err_name(rc));
        trace(j, "recovery_failed", f);
        journal_free(j);
        return rc;
    }
    trace_open(j, &rep);
    *out = j;
    return 0;
}

void sim_journal_close(sim_journal *j)
{
    if (!j)
        return;
    fl_seglog_close(j->log);
    journal_free(j);
}

/* ------------------------------------------------------------------ */
/* append                                                               */

int sim_journal_append(sim_journal *j, const sim_journal_msg *m, uint64_t *recno)
{
    if (!j || !m || !m->topic || m->topic_len == 0 || m->topic_len > UINT16_MAX ||
        m->origin_len > UINT16_MAX || (m->origin_len && !m->origin) ||
        (m->payload_len && !m->payload) || m->payload_len > UINT32_MAX - MSG_HDR - 2 * UINT16_MAX)
        return FL_E_INVAL;
    uint32_t t, o;
    if (name_intern(&j->topics, &j->ntopics, &j->captopics, m->topic, m->topic_len, &t) ||
        name_intern(&j->origins, &j->norigins, &j->caporigins, m->origin ? m->origin : "",
                    m->origin_len, &o) ||
        encode_msg(&j->wbuf, m))
        return FL_E_NOMEM;
    uint64_t r = 0;
    int rc = fl_seglog_append(j->log, SIM_JREC_MESSAGE, j->wbuf.data, (uint32_t)j->wbuf.len, &r);
    if (rc) {
        snprintf(j->err, sizeof j->err, "append: %s", fl_seglog_last_error(j->log));
        return rc;
    }
    rc = view_add(j, r, m, t, o);
    if (rc)
        return rc; /* out of memory after the write: the view misses it until reopen */
    if (recno)
        *recno = r;
    return 0;
}

int sim_journal_sync(sim_journal *j)
{
    return j ? fl_seglog_sync(j->log) : FL_E_INVAL;
}

int sim_journal_rotate(sim_journal *j)
{
    if (!j)
        return FL_E_INVAL;
    int rc = fl_seglog_rotate(j->log);
    if (rc)
        snprintf(j->err, sizeof j->err, "rotate: %s", fl_seglog_last_error(j->log));
    return rc;
}

int sim_journal_failed(const sim_journal *j)
{
    return j ? j->failed : FL_E_INVAL;
}

uint64_t sim_journal_next_recno(const sim_journal *j)
{
    return fl_seglog_next_recno(j->log);
}

uint64_t sim_journal_durable_recno(const sim_journal *j)
{
    return fl_seglog_durable_recno(j->log);
}

uint64_t sim_journal_first_recno(const sim_journal *j)
{
    return j->len ? ent_at(j, 0)->recno : fl_seglog_next_recno(j->log);
}

size_t sim_journal_count(const sim_journal *j)
{
    return j->len;
}

/* ------------------------------------------------------------------ */
/* reads                                                                */

int sim_journal_get(const sim_journal *j, uint64_t recno, sim_journal_msg *out)
{
    size_t i = ent_lower_bound(j, recno);
    if (i == j->len || ent_at(j, i)->recno != recno)
        return FL_E_NOT_FOUND;
    fill_msg(j, ent_at(j, i), out);
    return 0;
}

int sim_journal_iterate(const sim_journal *j, uint64_t from_recno, sim_journal_msg_fn fn, void *arg)
{
    for (size_t i = ent_lower_bound(j, from_recno); i < j->len; i++) {
        sim_journal_msg m;
        fill_msg(j, ent_at(j, i), &m);
        if (fn(arg, &m))
            break;
    }
    return 0;
}

size_t sim_journal_read_batch(const sim_journal *j, uint64_t *cursor, size_t max,
                              sim_journal_msg_fn fn, void *arg)
{
    size_t i = ent_lower_bound(j, *cursor), n = 0;
    for (; i < j->len && n < max; i++, n++) {
        sim_journal_msg m;
        const jent *e = ent_at(j, i);
        fill_msg(j, e, &m);
        *cursor = e->recno + 1;
        if (fn(arg, &m)) {
            n++;
            break;
        }
    }
    if (i == j->len && *cursor < fl_seglog_next_recno(j->log))
        *cursor = fl_seglog_next_recno(j->log);
    return n;
}

uint64_t sim_journal_highest_seq(const sim_journal *j, uint64_t publisher)
{
    const jpub *p = pub_find(j, publisher);
    return p ? p->highest : 0;
}

int sim_journal_find(const sim_journal *j, uint64_t publisher, uint64_t sequence, uint64_t *recno)
{
    const jpub *p = pub_find(j, publisher);
    if (!p)
        return FL_E_NOT_FOUND;
    size_t i = ref_lower_bound(p, sequence);
    if (i == p->len || p->refs[p->head + i].seq != sequence)
        return FL_E_NOT_FOUND;
    if (recno)
        *recno = p->refs[p->head + i].recno;
    return 0;
}

uint64_t sim_journal_highest_seq_where(const sim_journal *j, uint64_t publisher,
                                       sim_journal_recno_pred ok, void *arg)
{
    const jpub *p = pub_find(j, publisher);
    if (!p)
        return 0;
    for (size_t i = p->len; i > 0; i--) {
        const jref *r = &p->refs[p->head + i - 1];
        if (ok(arg, r->recno))
            return r->seq;
    }
    return p->deleted_max;
}

uint64_t sim_journal_origin_recno(const sim_journal *j, const char *origin)
{
    size_t n = origin ? strlen(origin) : 0;
    for (size_t i = 0; i < j->norigins; i++)
        if (j->origins[i].len == n && (n == 0 || memcmp(j->origins[i].name, origin, n) == 0))
            return j->origins[i].max_recno;
    return 0;
}

/* ------------------------------------------------------------------ */
/* locating bookmark points                                             */

static sim_jloc locate_time(const sim_journal *j, int64_t ts, uint64_t *recno)
{
    if (j->deleted_max_ts != INT64_MIN && j->deleted_max_ts >= ts)
        return SIM_JLOC_EXPIRED;
    size_t lo = 0, hi = j->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ent_at(j, mid)->max_ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    *recno = lo < j->len ? ent_at(j, lo)->recno : fl_seglog_next_recno(j->log);
    return SIM_JLOC_FOUND;
}

static sim_jloc locate_exact(const sim_journal *j, const fl_bookmark *bm, bool inclusive,
                             uint64_t *recno)
{
    const jpub *p = pub_find(j, bm->publisher);
    if (!p || p->highest == 0) {
        if (bm->ts_us != FL_BM_NO_TS)
            return locate_time(j, bm->ts_us, recno);
        return SIM_JLOC_UNKNOWN;
    }
    if (bm->sequence > p->highest)
        return SIM_JLOC_UNKNOWN;
    size_t i = ref_lower_bound(p, bm->sequence);
    if (i < p->len && p->refs[p->head + i].seq == bm->sequence) {
        *recno = p->refs[p->head + i].recno + (inclusive ? 0 : 1);
        return SIM_JLOC_FOUND;
    }
    /* not retained: removed by retention, or never logged (a gap) */
    if (p->deleted_max > bm->sequence || (inclusive && p->deleted_max == bm->sequence))
        return SIM_JLOC_EXPIRED;
    if (p->deleted_max == bm->sequence) {
        /* the bookmark's own message is gone, nothing of its publisher after
         * it: every retained record comes after it */
        *recno = sim_journal_first_recno(j);
        return SIM_JLOC_FOUND;
    }
    *recno = i < p->len ? p->refs[p->head + i].recno : sim_journal_first_recno(j);
    return SIM_JLOC_FOUND;
}

sim_jloc sim_journal_locate(const sim_journal *j, const fl_bookmark *point, bool inclusive,
                            uint64_t *recno)
{
    switch (point->kind) {
    case FL_BM_EPOCH:
    case FL_BM_RECENT:
        *recno = sim_journal_first_recno(j);
        return SIM_JLOC_FOUND;
    case FL_BM_NOW:
        *recno = fl_seglog_next_recno(j->log);
        return SIM_JLOC_FOUND;
    case FL_BM_EXACT:
        return locate_exact(j, point, inclusive, recno);
    case FL_BM_TIMESTAMP:
        return locate_time(j, point->ts_us, recno);
    }
    return SIM_JLOC_UNKNOWN;
}

/* ------------------------------------------------------------------ */
/* retention                                                            */

typedef struct cut_scan {
    const sim_journal *j;
    int64_t cutoff;
    uint64_t floor;
    uint64_t cut; /* delete records below this */
    int stop;
} cut_scan;

static int cut_seg(void *arg, const fl_seglog_segment *s)
{
    cut_scan *c = arg;
    if (c->stop || s->active || s->last_recno >= c->floor) {
        c->stop = 1;
        return 1;
    }
    if (s->last_recno >= s->first_recno) {
        size_t i = ent_lower_bound(c->j, s->last_recno + 1);
        /* newest retained message at or below the segment's last record */
        if (i > 0 && ent_at(c->j, i - 1)->recno >= s->first_recno &&
            ent_at(c->j, i - 1)->ts_us >= c->cutoff) {
            c->stop = 1;
            return 1;
        }
    }
    c->cut = s->last_recno + 1;
    return 0;
}

static int write_highwater(sim_journal *j, uint64_t cut)
{
    fl_buf *b = &j->wbuf;
    uint8_t h[HW_HDR];
    int64_t dts = j->deleted_max_ts;
    size_t end = ent_lower_bound(j, cut);
    for (size_t i = 0; i < end; i++)
        if (ent_at(j, i)->ts_us > dts)
            dts = ent_at(j, i)->ts_us;
    memset(h, 0, sizeof h);
    h[0] = 1;
    fl_store_be32(h + 4, (uint32_t)j->npubs);
    fl_store_be64(h + 8, (uint64_t)dts);
    fl_buf_clear(b);
    if (fl_buf_append(b, h, sizeof h))
        return FL_E_NOMEM;
    for (size_t i = 0; i < j->npubs; i++) {
        const jpub *p = j->pubs[i];
        size_t k = 0;
        uint64_t del = p->deleted_max;
        while (k < p->len && p->refs[p->head + k].recno < cut)
            del = p->refs[p->head + k++].seq;
        if (fl_buf_append_u64(b, p->id) || fl_buf_append_u64(b, p->highest) ||
            fl_buf_append_u64(b, del))
            return FL_E_NOMEM;
    }
    return fl_seglog_append(j->log, SIM_JREC_HIGHWATER, b->data, (uint32_t)b->len, NULL);
}

static uint64_t drop_view_before(sim_journal *j, uint64_t cut)
{
    uint64_t n = 0;
    while (j->len && ent_at(j, 0)->recno < cut) {
        jent *e = ent_at(j, 0);
        if (e->ts_us > j->deleted_max_ts)
            j->deleted_max_ts = e->ts_us;
        free(e->payload);
        j->head++;
        j->len--;
        n++;
    }
    if (j->len == 0)
        j->head = 0;
    for (size_t i = 0; i < j->npubs; i++) {
        jpub *p = j->pubs[i];
        while (p->len && p->refs[p->head].recno < cut) {
            p->deleted_max = p->refs[p->head].seq;
            p->head++;
            p->len--;
        }
        if (p->len == 0)
            p->head = 0;
    }
    return n;
}

int sim_journal_retain(sim_journal *j, int64_t cutoff_us, uint64_t floor_recno, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    cut_scan c = {j, cutoff_us, floor_recno, 0, 0};
    int rc = fl_seglog_segments(j->log, cut_seg, &c);
    if (rc < 0)
        return rc;
    if (c.cut == 0 || c.cut <= fl_seglog_first_recno(j->log))
        return 0;
    rc = write_highwater(j, c.cut);
    if (!rc)
        rc = fl_seglog_delete_before(j->log, c.cut);
    if (rc) {
        snprintf(j->err, sizeof j->err, "retention: %s", fl_seglog_last_error(j->log));
        return rc;
    }
    uint64_t first = fl_seglog_first_recno(j->log);
    uint64_t n = drop_view_before(j, first);
    if (removed)
        *removed = n;
    char f[160];
    snprintf(f, sizeof f, "\"removed\":%llu,\"first_recno\":%llu,\"cutoff_us\":%lld",
             (unsigned long long)n, (unsigned long long)first, (long long)cutoff_us);
    trace(j, "retention", f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* misc                                                                 */

static int count_seg(void *arg, const fl_seglog_segment *s)
{
    (void)s;
    (*(size_t *)arg)++;
    return 0;
}

size_t sim_journal_segment_count(sim_journal *j)
{
    size_t n = 0;
    fl_seglog_segments(j->log, count_seg, &n);
    return n;
}

const char *sim_journal_last_error(const sim_journal *j)
{
    return j->err;
}
