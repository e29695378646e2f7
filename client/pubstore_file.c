/* The file publish store: outgoing messages kept in a segmented checksummed
 * log (faultline/seglog.h) until the broker has persisted them.
 *
 * Design note.
 *
 * Records (segment kind FL_SEG_KIND_PUBLISH_STORE, all integers big-endian):
 *   STORE    seq u64, topic_len u32, topic, payload     one stored message
 *   DISCARD  up_to u64                                  forget seq <= up_to
 *   MARK     last_seq u64                               written before old
 *                                                       segments are deleted
 *
 * Memory: the store keeps no message bytes. Its index is an array of
 * (seq, recno, payload bytes) sorted by sequence; replay reads the messages
 * back with fl_seglog_read, one forward read per run of ascending record
 * numbers.
 *
 * Recovery rebuilds the index from the records, oldest first:
 *   - a DISCARD drops the messages indexed at that point with sequence <=
 *     up_to (exactly what the call did: a later store of a lower sequence,
 *     which the contract allows when the discard went past last_sequence,
 *     is not affected);
 *   - a STORE whose sequence is already indexed is a compacted copy: the
 *     index points at the newer copy (both are the same message);
 *   - last_sequence is the highest sequence of any STORE or MARK (a discard
 *     does not raise it: store.h says "highest ever stored", and the
 *     contract table checks it).
 *
 * Pruning (after a discard): a segment whose records are all below the
 * lowest live record number is deleted (fl_seglog_delete_before). When the
 * oldest segment only pins a few live messages ("stragglers": their records
 * take at most a quarter of the segment) and is not the segment sealed
 * last (whose live tail is just the newest messages, soon acked), they are
 * re-appended as STORE
 * records at the head (compacted forward) and the old segment is deleted.
 * Before any deletion the store appends a MARK (so last_sequence survives
 * even when every older segment goes: the seglog never deletes its active
 * segment, which holds the MARK) and syncs the log (so the compacted copies
 * and the MARK are durable before the originals disappear, whatever the
 * sync policy). A crash at any point leaves either the originals, or both
 * copies (deduplicated by sequence as above), or only the durable copies.
 * Since compaction only copies live messages, no DISCARD between an
 * original and its copy covers it, so applying records in order gives the
 * same index whichever of the two survives.
 *
 * A failed sync poisons the handle (FL_E_SYNC_FAILED from every later
 * mutating call); reopening runs recovery.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/record.h"
#include "faultline/seglog.h"
#include "faultline/store.h"
#include "store_util.h"

#define REC_STORE   (FL_REC_TYPE_USER_MIN + 0u)
#define REC_DISCARD (FL_REC_TYPE_USER_MIN + 1u)
#define REC_MARK    (FL_REC_TYPE_USER_MIN + 2u)

#define STORE_HDR 12u /* seq u64 + topic_len u32 */

/* ------------------------------------------------------------------ */
/* options, shared shape with bmstore_file.c */

typedef struct file_opts {
    fl_sync_policy sync;
    uint64_t batch_window_us;
    int recovery;
    uint64_t capacity; /* 0: unlimited */
    uint64_t segment_size;
    uint32_t max_record;
} file_opts;

#define DEFAULT_SEGMENT_SIZE (16ull << 20)
#define DEFAULT_MAX_RECORD   (16u << 20)

/* Our own option on top of the shared ones (store_util.h):
 * segment_size=<bytes> (>= 4096), the size at which segments rotate. */
static int own_option(void *arg, const char *key, size_t klen, const char *v, size_t vlen,
                      char *err, size_t errcap)
{
    file_opts *fo = arg;
    if (klen != 12 || memcmp(key, "segment_size", 12) != 0)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: unknown key '%.*s'", (int)klen,
                              key);
    uint64_t x = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return fl__store_errf(FL_E_INVAL, err, errcap, "options: bad segment_size '%.*s'",
                                  (int)vlen, v);
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (vlen == 0 || x < 4096)
        return fl__store_errf(FL_E_INVAL, err, errcap,
                              "options: segment_size '%.*s' must be >= 4096", (int)vlen, v);
    fo->segment_size = x;
    return 0;
}

static int parse_options(const char *text, file_opts *fo, char *err, size_t errcap)
{
    static const int modes[] = {
        [FL__RECOVERY_STRICT] = FL_RECOVERY_STRICT,
        [FL__RECOVERY_TOLERATE_TORN_TAIL] = FL_RECOVERY_TOLERATE_TORN_TAIL,
        [FL__RECOVERY_POINT_IN_TIME] = FL_RECOVERY_POINT_IN_TIME,
        [FL__RECOVERY_SALVAGE] = FL_RECOVERY_SALVAGE,
    };
    fl__store_options so;
    fo->segment_size = DEFAULT_SEGMENT_SIZE;
    fo->max_record = DEFAULT_MAX_RECORD;
    int rc = fl__store_options_parse_ex(text, &so, own_option, fo, err, errcap);
    if (rc < 0)
        return rc;
    fo->sync = so.sync == FL__SYNC_ALWAYS ? FL_SYNC_ALWAYS
               : so.sync == FL__SYNC_NONE ? FL_SYNC_NONE
                                          : FL_SYNC_BATCH;
    fo->batch_window_us = so.batch_window_us;
    fo->recovery = modes[so.recovery];
    fo->capacity = so.capacity;
    return 0;
}

/* Map the store options onto seglog options for env->dir. */
static void seglog_options(const file_opts *fo, const fl_store_env *env, unsigned kind,
                           fl_seglog_options *o)
{
    o->rt = env->rt;
    o->dir = env->dir;
    o->kind = kind;
    o->segment_size = fo->segment_size;
    o->segment_age_us = 0;
    o->recovery = fo->recovery;
    o->sync = fo->sync;
    o->batch_window_us = fo->batch_window_us;
    o->batch_count = 0;
    o->max_record = fo->max_record;
}

/* Advance *at by n, never past cap - 1 (snprintf reports what it wanted). */
static void clamp_add(size_t *at, int n, size_t cap)
{
    if (n > 0)
        *at += (size_t)n;
    if (*at >= cap)
        *at = cap - 1;
}

/* Append `text` JSON-escaped to out[*at..cap), NUL terminated. */
static void json_escape(char *out, size_t cap, size_t *at, const char *text)
{
    for (const char *c = text; *c && *at + 7 < cap; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == '"' || ch == '\\') {
            out[(*at)++] = '\\';
            out[(*at)++] = (char)ch;
        } else if (ch < 0x20) {
            *at += (size_t)snprintf(out + *at, cap - *at, "\\u%04x", ch);
        } else {
            out[(*at)++] = (char)ch;
        }
    }
    out[*at] = '\0';
}

/* Fold records with a good checksum but an unusable body into the report,
 * and trace what recovery dropped ("recovery_drop"). */
static void report_recovery(const fl_store_env *env, const char *source, fl_store_recovery *rep,
                            uint64_t bad_records)
{
    if (bad_records) {
        rep->records_dropped += bad_records;
        size_t n = strlen(rep->text);
        snprintf(rep->text + n, sizeof rep->text - n, "%s%" PRIu64 " malformed record(s) dropped",
                 n ? "; " : "", bad_records);
    }
    if (rep->records_dropped == 0 && rep->bytes_dropped == 0)
        return;
    char f[1024];
    size_t at = 0;
    clamp_add(&at, snprintf(f, sizeof f, "\"dir\":\""), sizeof f);
    json_escape(f, sizeof f / 4, &at, env->dir);
    clamp_add(
        &at,
        snprintf(f + at, sizeof f - at,
                 "\",\"records_ok\":%" PRIu64 ",\"records_dropped\":%" PRIu64
                 ",\"bytes_dropped\":%" PRIu64 ",\"bytes_quarantined\":%" PRIu64 ",\"text\":\"",
                 rep->records_ok, rep->records_dropped, rep->bytes_dropped, rep->bytes_quarantined),
        sizeof f);
    json_escape(f, sizeof f - 2, &at, rep->text);
    if (at > sizeof f - 2)
        at = sizeof f - 2;
    f[at++] = '"';
    f[at] = '\0';
    fl_rt_trace(env->rt, source, "recovery_drop", f);
}

typedef struct pub_entry {
    uint64_t seq;
    uint64_t recno;
    uint32_t bytes; /* STORE record payload size (header + topic + message) */
    uint32_t held;  /* topic + message bytes, what capacity counts */
} pub_entry;

typedef struct pubstore_file {
    const fl_runtime *rt;
    fl_seglog *log;
    file_opts opts;
    pub_entry *ents; /* live entries are ents[head..n), ascending seq */
    size_t head, n, cap;
    uint64_t last_seq;
    uint64_t live_bytes; /* topic + payload bytes of live messages (capacity) */
    int poison;          /* FL_E_SYNC_FAILED once a sync failed */
    fl_buf scratch;
    /* recovery only */
    uint64_t bad_records;
    int strict;
    char err[256];
} pubstore_file;

/* ------------------------------------------------------------------ */
/* errors */

static void set_err(pubstore_file *s, const char *what, int rc)
{
    const char *detail = s->log ? fl_seglog_last_error(s->log) : "";
    snprintf(s->err, sizeof s->err, "pubstore file: %s: %s%s%s", what, fl_strerror(rc),
             detail[0] ? ": " : "", detail);
}

/* Record an error from the seglog: a failed sync poisons the handle. */
static int fail(pubstore_file *s, const char *what, int rc)
{
    if (rc == FL_E_SYNC_FAILED)
        s->poison = FL_E_SYNC_FAILED;
    set_err(s, what, rc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* index */

static size_t live_count(const pubstore_file *s)
{
    return s->n - s->head;
}

static int index_reserve(pubstore_file *s)
{
    if (s->head > 0 && (s->head >= s->n / 2 || s->n == s->cap)) {
        memmove(s->ents, s->ents + s->head, live_count(s) * sizeof *s->ents);
        s->n -= s->head;
        s->head = 0;
    }
    if (s->n < s->cap)
        return 0;
    size_t ncap = s->cap ? s->cap * 2 : 64;
    if (ncap > SIZE_MAX / sizeof *s->ents)
        return FL_E_NOMEM;
    pub_entry *p = realloc(s->ents, ncap * sizeof *p);
    if (p == NULL)
        return FL_E_NOMEM;
    s->ents = p;
    s->cap = ncap;
    return 0;
}

/* Position of the first live entry with seq >= `seq`. */
static size_t index_lower_bound(const pubstore_file *s, uint64_t seq)
{
    size_t lo = s->head, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ents[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert or (for a compacted copy) relocate an entry, keeping seq order. */
static int index_put(pubstore_file *s, const pub_entry *e)
{
    if (live_count(s) == 0 || s->ents[s->n - 1].seq < e->seq) {
        int rc = index_reserve(s);
        if (rc < 0)
            return rc;
        s->ents[s->n++] = *e;
        s->live_bytes += e->held;
        return 0;
    }
    size_t pos = index_lower_bound(s, e->seq);
    if (pos < s->n && s->ents[pos].seq == e->seq) {
        s->ents[pos].recno = e->recno;
        return 0;
    }
    int rc = index_reserve(s);
    if (rc < 0)
        return rc;
    pos = index_lower_bound(s, e->seq); /* reserve may have moved the array */
    memmove(s->ents + pos + 1, s->ents + pos, (s->n - pos) * sizeof *s->ents);
    s->ents[pos] = *e;
    s->n++;
    s->live_bytes += e->held;
    return 0;
}

/* Drop every live entry with seq <= up_to. */
static void index_drop_through(pubstore_file *s, uint64_t up_to)
{
    while (s->head < s->n && s->ents[s->head].seq <= up_to) {
        s->live_bytes -= s->ents[s->head].held;
        s->head++;
    }
    if (s->head == s->n)
        s->head = s->n = 0;
}

/* ------------------------------------------------------------------ */
/* record codec */

typedef struct store_rec {
    uint64_t seq;
    const uint8_t *topic;
    uint32_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
} store_rec;

static int decode_store(const uint8_t *p, size_t len, store_rec *out)
{
    if (len < STORE_HDR)
        return FL_E_CORRUPT;
    uint64_t seq = fl_load_be64(p);
    uint32_t tlen = fl_load_be32(p + 8);
    if (seq == 0 || tlen > len - STORE_HDR)
        return FL_E_CORRUPT;
    out->seq = seq;
    out->topic_len = tlen;
    out->topic = p + STORE_HDR;
    out->payload = p + STORE_HDR + tlen;
    out->payload_len = len - STORE_HDR - tlen;
    return 0;
}

static int encode_store(fl_buf *b, uint64_t seq, const void *topic, uint32_t tlen,
                        const void *payload, size_t plen)
{
    fl_buf_clear(b);
    int rc = fl_buf_append_u64(b, seq);
    if (rc == 0)
        rc = fl_buf_append_u32(b, tlen);
    if (rc == 0)
        rc = fl_buf_append(b, topic, tlen);
    if (rc == 0)
        rc = fl_buf_append(b, payload, plen);
    return rc;
}

/* ------------------------------------------------------------------ */
/* recovery */

static int recover_store(pubstore_file *s, uint64_t recno, const uint8_t *p, size_t len)
{
    store_rec r;
    if (decode_store(p, len, &r) < 0)
        return FL_E_CORRUPT;
    if (r.seq > s->last_seq)
        s->last_seq = r.seq;
    pub_entry e = {r.seq, recno, (uint32_t)len, (uint32_t)(len - STORE_HDR)};
    return index_put(s, &e);
}

static int on_record(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    pubstore_file *s = arg;
    int rc = 0;
    switch (type) {
    case REC_STORE:
        rc = recover_store(s, recno, p, len);
        break;
    case REC_DISCARD:
        if (len != 8)
            rc = FL_E_CORRUPT;
        else
            index_drop_through(s, fl_load_be64(p));
        break;
    case REC_MARK:
        if (len != 8)
            rc = FL_E_CORRUPT;
        else if (fl_load_be64(p) > s->last_seq)
            s->last_seq = fl_load_be64(p);
        break;
    default:
        if (!(type & FL_REC_SAFE_TO_IGNORE))
            rc = FL_E_CORRUPT;
        break;
    }
    if (rc == FL_E_NOMEM)
        return rc;
    if (rc < 0) {
        /* A record with a good checksum but a body we cannot use: written
         * by something else. strict refuses it, the other modes drop it. */
        if (s->strict) {
            snprintf(s->err, sizeof s->err,
                     "pubstore file: record %" PRIu64 " (type %u, %zu bytes) is malformed", recno,
                     type, len);
            return FL_E_DAMAGED;
        }
        s->bad_records++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* open / close */

static void free_store(pubstore_file *s)
{
    fl_seglog_close(s->log);
    fl_buf_free(&s->scratch);
    free(s->ents);
    free(s);
}

static int pf_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    int rc = fl__store_env_check(env, true, err, errcap);
    if (rc < 0)
        return rc;
    if (self_out == NULL || env->dir == NULL)
        return fl__store_errf(FL_E_INVAL, err, errcap, "pubstore file: no dir or self_out");
    pubstore_file *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FL_E_NOMEM;
    s->rt = env->rt;
    fl_buf_init(&s->scratch);
    rc = parse_options(env->options, &s->opts, err, errcap);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->strict = s->opts.recovery == FL_RECOVERY_STRICT;

    fl_store_recovery rep;
    memset(&rep, 0, sizeof rep);
    fl_seglog_options o = FL_SEGLOG_OPTIONS_INIT;
    seglog_options(&s->opts, env, FL_SEG_KIND_PUBLISH_STORE, &o);
    rc = fl_seglog_open(&o, on_record, s, &s->log, &rep, err, errcap);
    if (rc < 0) {
        if (rc == FL_E_DAMAGED && s->err[0])
            fl__store_errf(rc, err, errcap, "%s", s->err);
        s->log = NULL;
        free_store(s);
        return rc;
    }
    report_recovery(env, "pubstore", &rep, s->bad_records);
    if (recovery)
        *recovery = rep;
    *self_out = s;
    return 0;
}

static void pf_close(void *self)
{
    if (self)
        free_store(self);
}

/* ------------------------------------------------------------------ */
/* pruning */

typedef struct seg_list {
    fl_seglog_segment *v;
    size_t n, cap;
} seg_list;

static int collect_seg(void *arg, const fl_seglog_segment *seg)
{
    seg_list *l = arg;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        fl_seglog_segment *p = realloc(l->v, ncap * sizeof *p);
        if (p == NULL)
            return FL_E_NOMEM;
        l->v = p;
        l->cap = ncap;
    }
    l->v[l->n++] = *seg;
    return 0;
}

static uint64_t min_live_recno(const pubstore_file *s)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = s->head; i < s->n; i++)
        if (s->ents[i].recno < m)
            m = s->ents[i].recno;
    return m;
}

typedef struct copy_ctx {
    uint64_t want;
    fl_buf *out;
    int found;
    int rc;
} copy_ctx;

static int copy_record(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    copy_ctx *c = arg;
    if (recno != c->want || type != REC_STORE) {
        c->rc = FL_E_CORRUPT;
        return 1;
    }
    fl_buf_clear(c->out);
    c->rc = fl_buf_append(c->out, p, len);
    c->found = 1;
    return 1;
}

/* Re-append the live messages whose records lie in [first, last] at the
 * head of the log, updating the index. */
static int compact_range(pubstore_file *s, uint64_t first, uint64_t last)
{
    for (size_t i = s->head; i < s->n; i++) {
        pub_entry *e = &s->ents[i];
        if (e->recno < first || e->recno > last)
            continue;
        copy_ctx c = {e->recno, &s->scratch, 0, 0};
        int rc = fl_seglog_read(s->log, e->recno, copy_record, &c);
        if (rc >= 0 && c.rc < 0)
            rc = c.rc;
        if (rc >= 0 && !c.found)
            rc = FL_E_CORRUPT;
        if (rc < 0)
            return fail(s, "compaction read", rc);
        uint64_t recno = 0;
        rc = fl_seglog_append(s->log, REC_STORE, s->scratch.data, (uint32_t)s->scratch.len, &recno);
        if (rc < 0)
            return fail(s, "compaction append", rc);
        e->recno = recno;
    }
    return 0;
}

/* Straggler test: the live records of the segment take at most a quarter
 * of it. */
static int is_straggler_segment(const pubstore_file *s, const fl_seglog_segment *seg)
{
    uint64_t live = 0;
    for (size_t i = s->head; i < s->n; i++) {
        const pub_entry *e = &s->ents[i];
        if (e->recno >= seg->first_recno && e->recno <= seg->last_recno)
            live += fl_record_size(e->bytes);
    }
    return live * 4 <= seg->bytes;
}

/* MARK, sync, delete every segment below the lowest live record. */
static int delete_dead(pubstore_file *s)
{
    uint8_t mark[8];
    fl_store_be64(mark, s->last_seq);
    int rc = fl_seglog_append(s->log, REC_MARK, mark, sizeof mark, NULL);
    if (rc < 0)
        return fail(s, "prune mark", rc);
    rc = fl_seglog_sync(s->log);
    if (rc < 0)
        return fail(s, "prune sync", rc);
    uint64_t boundary = min_live_recno(s);
    if (boundary == UINT64_MAX)
        boundary = fl_seglog_next_recno(s->log);
    rc = fl_seglog_delete_before(s->log, boundary);
    if (rc < 0)
        return fail(s, "prune delete", rc);
    return 0;
}

/* Called after a discard. Failures leave the logical contents unchanged
 * (every step is redundant until the deletion). */
static int prune(pubstore_file *s)
{
    seg_list l = {NULL, 0, 0};
    int rc = fl_seglog_segments(s->log, collect_seg, &l);
    if (rc < 0 || l.n < 2 || l.v[0].active)
        goto out;
    const fl_seglog_segment *old = &l.v[0];
    uint64_t lo = min_live_recno(s);
    if (old->last_recno < lo) {
        rc = delete_dead(s);
    } else if (l.n >= 3 && is_straggler_segment(s, old)) {
        /* Not the segment just sealed: its live tail is simply the newest
         * messages, which the next acks will discard anyway. */
        rc = compact_range(s, old->first_recno, old->last_recno);
        if (rc == 0)
            rc = delete_dead(s);
    }
out:
    free(l.v);
    if (rc < 0 && rc != FL_E_SYNC_FAILED && s->err[0] == '\0')
        set_err(s, "prune", rc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* operations */

static int pf_store(void *self, const fl_pub_msg *msg)
{
    pubstore_file *s = self;
    if (s->poison)
        return s->poison;
    if (msg == NULL || msg->sequence <= s->last_seq || (msg->topic == NULL && msg->topic_len) ||
        (msg->payload == NULL && msg->payload_len)) {
        snprintf(s->err, sizeof s->err,
                 "pubstore file: sequence %" PRIu64 " not above last %" PRIu64 " or bad message",
                 msg ? msg->sequence : 0, s->last_seq);
        return FL_E_INVAL;
    }
    if (msg->topic_len > s->opts.max_record - STORE_HDR ||
        msg->payload_len > s->opts.max_record - STORE_HDR - msg->topic_len) {
        snprintf(s->err, sizeof s->err, "pubstore file: message of %zu bytes is too large",
                 msg->payload_len);
        return FL_E_INVAL;
    }
    uint64_t held = (uint64_t)msg->topic_len + msg->payload_len;
    if (s->opts.capacity && (held > s->opts.capacity || s->live_bytes > s->opts.capacity - held)) {
        snprintf(s->err, sizeof s->err,
                 "pubstore file: capacity %" PRIu64 " bytes reached (%" PRIu64 " stored)",
                 s->opts.capacity, s->live_bytes);
        return FL_E_FULL;
    }
    int rc = encode_store(&s->scratch, msg->sequence, msg->topic, (uint32_t)msg->topic_len,
                          msg->payload, msg->payload_len);
    if (rc < 0)
        return rc;
    uint64_t recno = 0;
    rc = index_reserve(s);
    if (rc < 0)
        return rc;
    rc = fl_seglog_append(s->log, REC_STORE, s->scratch.data, (uint32_t)s->scratch.len, &recno);
    if (rc < 0)
        return fail(s, "store", rc);
    pub_entry e = {msg->sequence, recno, (uint32_t)s->scratch.len, (uint32_t)held};
    s->ents[s->n++] = e; /* reserved above; sequences only grow */
    s->live_bytes += held;
    s->last_seq = msg->sequence;
    return 0;
}

static int pf_discard_up_to(void *self, uint64_t seq)
{
    pubstore_file *s = self;
    if (s->poison)
        return s->poison;
    if (live_count(s) == 0 || s->ents[s->head].seq > seq)
        return 0; /* nothing to forget: nothing to write */
    uint8_t b[8];
    fl_store_be64(b, seq);
    int rc = fl_seglog_append(s->log, REC_DISCARD, b, sizeof b, NULL);
    if (rc < 0)
        return fail(s, "discard", rc);
    index_drop_through(s, seq);
    /* The discard itself is done; a failed prune is reported but changes
     * nothing the caller can see (unless it poisoned the handle). */
    rc = prune(s);
    return rc == FL_E_SYNC_FAILED ? rc : 0;
}

typedef struct replay_ctx {
    pubstore_file *s;
    size_t i, end;
    fl_pub_replay_fn fn;
    void *arg;
    int stopped;
    int rc;
} replay_ctx;

static int replay_record(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    replay_ctx *c = arg;
    const pub_entry *e = &c->s->ents[c->i];
    if (recno < e->recno)
        return 0; /* a DISCARD, MARK or dead STORE in between */
    if (recno > e->recno)
        return 1; /* the next message lies earlier (a compacted copy): re-read */
    store_rec r;
    if (type != REC_STORE || decode_store(p, len, &r) < 0 || r.seq != e->seq) {
        c->rc = FL_E_CORRUPT;
        return 1;
    }
    fl_pub_msg m = {r.seq, (const char *)r.topic, r.topic_len, r.payload, r.payload_len};
    c->i++;
    if (c->fn(c->arg, &m)) {
        c->stopped = 1;
        return 1;
    }
    return c->i == c->end;
}

static int replay_span(pubstore_file *s, size_t from, size_t end, fl_pub_replay_fn fn, void *arg)
{
    replay_ctx c = {s, from, end, fn, arg, 0, 0};
    while (c.i < c.end && !c.stopped) {
        size_t at = c.i;
        int rc = fl_seglog_read(s->log, s->ents[at].recno, replay_record, &c);
        if (rc < 0)
            return fail(s, "replay read", rc);
        if (c.rc < 0 || c.i == at) {
            snprintf(s->err, sizeof s->err,
                     "pubstore file: record %" PRIu64 " of sequence %" PRIu64
                     " is missing or damaged",
                     s->ents[c.i].recno, s->ents[c.i].seq);
            return FL_E_CORRUPT;
        }
    }
    return 0;
}

static int pf_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    pubstore_file *s = self;
    if (s->poison)
        return s->poison;
    if (fn == NULL)
        return FL_E_INVAL;
    return replay_span(s, s->head, s->n, fn, arg);
}

static int pf_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    pubstore_file *s = self;
    if (s->poison)
        return s->poison;
    if (fn == NULL)
        return FL_E_INVAL;
    size_t pos = index_lower_bound(s, seq);
    if (pos == s->n || s->ents[pos].seq != seq)
        return FL_E_NOT_FOUND;
    return replay_span(s, pos, pos + 1, fn, arg);
}

static uint64_t pf_unpersisted_count(void *self)
{
    return live_count((pubstore_file *)self);
}

static uint64_t pf_last_sequence(void *self)
{
    return ((pubstore_file *)self)->last_seq;
}

static uint64_t pf_lowest_unpersisted(void *self)
{
    pubstore_file *s = self;
    return live_count(s) ? s->ents[s->head].seq : 0;
}

static int pf_flush(void *self)
{
    pubstore_file *s = self;
    if (s->poison)
        return s->poison;
    int rc = fl_seglog_sync(s->log);
    return rc < 0 ? fail(s, "flush", rc) : 0;
}

static int pf_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    pubstore_file *s = self;
    return fl_seglog_list_files(s->log, fn, arg);
}

static const char *pf_last_error(void *self)
{
    return ((pubstore_file *)self)->err;
}

const fl_pubstore_ops fl_pubstore_file = {
    .version = FL_STORE_ABI_VERSION,
    .name = "file",
    .open = pf_open,
    .close = pf_close,
    .store = pf_store,
    .discard_up_to = pf_discard_up_to,
    .replay = pf_replay,
    .replay_one = pf_replay_one,
    .unpersisted_count = pf_unpersisted_count,
    .last_sequence = pf_last_sequence,
    .lowest_unpersisted = pf_lowest_unpersisted,
    .flush = pf_flush,
    .list_files = pf_list_files,
    .last_error = pf_last_error,
};
