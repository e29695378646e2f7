/* The file bookmark store: duplicate filtering and resume points for
 * bookmark subscriptions, kept in a segmented checksummed log
 * (faultline/seglog.h) so they survive restarts.
 *
 * Design note.
 *
 * State: the memory bookmark store's (bmstate.h, shared with
 * bmstore_mem.c), so the two give the same answers and byte-identical
 * resume points. Per sub id (sorted array) a sorted array of publishers,
 * and per publisher the highest sequence logged, the contiguous point (the
 * highest discarded sequence with every earlier logged one discarded too,
 * and its timestamp) and a ring of the entries logged above the point,
 * ascending, each flagged discarded or not. Invariant: highest_seen is the
 * last ring entry, or the point when the ring is empty; the first ring
 * entry is never discarded.
 *
 * Records (segment kind FL_SEG_KIND_BOOKMARK_STORE, big-endian):
 *   LOG       sub_len u16, sub, publisher u64, seq u64, ts i64
 *   DISCARD   sub_len u16, sub, publisher u64, seq u64
 *   PURGE     all u8, sub_len u16, sub
 *   CK_BEGIN  id u64
 *   CK_PUB    sub_len u16, sub, publisher u64, flags u8 (1: has point,
 *             2: continues the previous CK_PUB of this publisher),
 *             point_seq u64, point_ts i64, count u32,
 *             count x (seq u64, ts i64, discarded u8)
 *   CK_END    id u64, number of CK_PUB records u64
 * Only calls that change the state are written: a log() answered from the
 * state (a duplicate or a redelivery) and a discard of an unknown bookmark
 * write nothing. Persisted acks change nothing in the state (as in the
 * memory store) and are not written.
 *
 * Recovery applies LOG / DISCARD / PURGE to the state in record order. A
 * checkpoint (CK_BEGIN, CK_PUB..., CK_END) is built in a shadow state and
 * replaces the state only when its CK_END arrives with the right id and
 * count; an incomplete checkpoint (a crash during prune) is ignored, and
 * the normal records written after it still apply to the state.
 *
 * Prune writes a checkpoint of the whole state at the head, syncs the log
 * (whatever the policy: the checkpoint must be durable before what it
 * replaces goes) and deletes every segment wholly before CK_BEGIN. It runs
 * when asked, and by itself after a discard once the bytes written since
 * the last checkpoint pass four segments and twice the last checkpoint's
 * size (so a large live state is not rewritten over and over).
 *
 * After a crash, entries logged but not discarded come back logged and not
 * discarded, so their redelivery counts as new (anchors.md). A failed sync
 * poisons the handle (FL_E_SYNC_FAILED until reopened).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmstate.h"
#include "faultline/bookmark.h"
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/record.h"
#include "faultline/seglog.h"
#include "faultline/store.h"
#include "store_file_util.h"
#include "store_util.h"

#define REC_LOG      (FL_REC_TYPE_USER_MIN + 0u)
#define REC_DISCARD  (FL_REC_TYPE_USER_MIN + 1u)
#define REC_PURGE    (FL_REC_TYPE_USER_MIN + 2u)
#define REC_CK_BEGIN (FL_REC_TYPE_USER_MIN + 3u)
#define REC_CK_PUB   (FL_REC_TYPE_USER_MIN + 4u)
#define REC_CK_END   (FL_REC_TYPE_USER_MIN + 5u)

#define SUB_MAX         4096u /* longest sub id accepted */
#define CK_CHUNK        4096u /* ring entries per CK_PUB record */
#define CK_ENTRY_SIZE   17u
#define CK_FLAG_POINT   1u
#define CK_FLAG_CONT    2u
#define AUTO_PRUNE_SEGS 4u

/* Segments rotate at 4 MiB by default (option segment_size). capacity is
 * accepted and ignored (the state is bounded by what is outstanding, not by
 * a byte budget). */
static const fl__file_kind bm_kind = {
    .what = "bmstore file",
    .source = "bmstore",
    .seg_kind = FL_SEG_KIND_BOOKMARK_STORE,
    .segment_size = 4ull << 20,
    .max_record = 1u << 20,
};

/* ------------------------------------------------------------------ */
/* the store */

typedef struct bmstore_file {
    fl__file_store fs; /* seglog, options, scratch, poison, error text */
    fl__bmstate st;
    uint64_t bytes_since_ck; /* record bytes appended since the last checkpoint */
    uint64_t ck_bytes;       /* size of the last checkpoint */
    uint64_t ck_id;          /* id of the last checkpoint written or recovered */
    /* recovery only */
    fl__bmstate shadow;
    bool in_ck;
    uint64_t shadow_id, shadow_pubs;
} bmstore_file;

static int fail(bmstore_file *s, const char *what, int rc)
{
    return fl__file_store_fail(&s->fs, what, rc);
}

static int check_args(bmstore_file *s, const char *op, const char *sub_id,
                      const fl_store_bookmark *bm)
{
    int rc = fl__bmstate_check_args(op, sub_id, bm, s->fs.err, sizeof s->fs.err);
    if (rc < 0)
        return rc;
    if (strlen(sub_id) > SUB_MAX) {
        snprintf(s->fs.err, sizeof s->fs.err, "%s: sub id longer than %u bytes", op, SUB_MAX);
        return FL_E_INVAL;
    }
    return 0;
}

static int append_rec(bmstore_file *s, unsigned type, const char *what)
{
    int rc = fl__file_store_append_scratch(&s->fs, type, what, NULL);
    if (rc < 0)
        return rc;
    s->bytes_since_ck += fl_record_size((uint32_t)s->fs.scratch.len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* record codec */

typedef struct rd {
    const uint8_t *p;
    size_t len, at;
    bool bad;
} rd;

static uint64_t rd_u(rd *r, size_t n)
{
    if (r->bad || r->len - r->at < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[r->at + i];
    r->at += n;
    return v;
}

/* Copy a u16-length-prefixed sub id into out (SUB_MAX + 1 bytes). */
static void rd_sub(rd *r, char *out)
{
    size_t n = (size_t)rd_u(r, 2);
    if (r->bad || n > SUB_MAX || r->len - r->at < n || memchr(r->p + r->at, 0, n)) {
        r->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, r->p + r->at, n);
    out[n] = '\0';
    r->at += n;
}

static int put_sub(fl_buf *b, const char *sub)
{
    size_t n = strlen(sub);
    int rc = fl_buf_append_u16(b, (uint16_t)n);
    return rc ? rc : fl_buf_append(b, sub, n);
}

static int encode_bm(fl_buf *b, const char *sub, const fl_store_bookmark *bm, bool with_ts)
{
    fl_buf_clear(b);
    int rc = put_sub(b, sub);
    if (rc == 0)
        rc = fl_buf_append_u64(b, bm->publisher);
    if (rc == 0)
        rc = fl_buf_append_u64(b, bm->sequence);
    if (rc == 0 && with_ts)
        rc = fl_buf_append_u64(b, (uint64_t)bm->ts_us);
    return rc;
}

/* ------------------------------------------------------------------ */
/* recovery */

static int rec_log(bmstore_file *s, rd *r)
{
    char sub[SUB_MAX + 1];
    rd_sub(r, sub);
    uint64_t pub = rd_u(r, 8), seq = rd_u(r, 8);
    int64_t ts = (int64_t)rd_u(r, 8);
    if (r->bad || r->at != r->len || pub == 0 || ts > FL_TIME_MAX_US)
        return FL_E_CORRUPT;
    fl_store_bookmark bm = {pub, seq, ts};
    if (fl__bmstate_log_verdict(&s->st, sub, &bm) != 2)
        return 0; /* salvage may leave a gap that makes a record redundant */
    return fl__bmstate_log(&s->st, sub, pub, seq, ts);
}

static int rec_discard(bmstore_file *s, rd *r)
{
    char sub[SUB_MAX + 1];
    rd_sub(r, sub);
    uint64_t pub = rd_u(r, 8), seq = rd_u(r, 8);
    if (r->bad || r->at != r->len)
        return FL_E_CORRUPT;
    fl__bmstate_discard(&s->st, sub, pub, seq);
    return 0;
}

static int rec_purge(bmstore_file *s, rd *r)
{
    char sub[SUB_MAX + 1];
    uint64_t all = rd_u(r, 1);
    rd_sub(r, sub);
    if (r->bad || r->at != r->len || all > 1)
        return FL_E_CORRUPT;
    fl__bmstate_purge(&s->st, all ? NULL : sub);
    return 0;
}

/* One CK_PUB record into the shadow state. */
static int rec_ck_pub(bmstore_file *s, rd *r)
{
    char sub_id[SUB_MAX + 1];
    rd_sub(r, sub_id);
    uint64_t pub = rd_u(r, 8), flags = rd_u(r, 1), pseq = rd_u(r, 8);
    int64_t pts = (int64_t)rd_u(r, 8);
    uint64_t count = rd_u(r, 4);
    if (r->bad || pub == 0 || flags > 3 || (r->len - r->at) != count * CK_ENTRY_SIZE)
        return FL_E_CORRUPT;
    fl__bm_pub *p = fl__bmstate_pub_get(&s->shadow, sub_id, pub);
    if (p == NULL)
        return FL_E_NOMEM;
    bool fresh = p->len == 0 && !p->has_point;
    if (fresh == !!(flags & CK_FLAG_CONT))
        return FL_E_CORRUPT;
    if (flags & CK_FLAG_POINT)
        fl__bmstate_set_point(p, pseq, pts);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t seq = rd_u(r, 8);
        int64_t ts = (int64_t)rd_u(r, 8);
        uint64_t disc = rd_u(r, 1);
        bool first = p->len == 0 && !p->has_point;
        if (disc > 1 || (!first && seq <= p->highest_seen) || (p->len == 0 && disc))
            return FL_E_CORRUPT;
        int rc = fl__bmstate_push(p, seq, ts, disc != 0);
        if (rc < 0)
            return rc;
    }
    if (p->len == 0 && !p->has_point)
        return FL_E_CORRUPT;
    s->shadow_pubs++;
    return 0;
}

static int rec_ck_mark(bmstore_file *s, unsigned type, rd *r)
{
    uint64_t id = rd_u(r, 8);
    if (type == REC_CK_BEGIN) {
        if (r->bad || r->at != r->len)
            return FL_E_CORRUPT;
        fl__bmstate_free(&s->shadow);
        s->in_ck = true;
        s->shadow_id = id;
        s->shadow_pubs = 0;
        return 0;
    }
    uint64_t npubs = rd_u(r, 8);
    if (r->bad || r->at != r->len)
        return FL_E_CORRUPT;
    if (!s->in_ck)
        return 0; /* the tail of a checkpoint whose start a later prune deleted */
    if (id != s->shadow_id || npubs != s->shadow_pubs) {
        s->in_ck = false; /* incomplete or damaged: keep the state as it is */
        fl__bmstate_free(&s->shadow);
        return FL_E_CORRUPT;
    }
    fl__bmstate_free(&s->st);
    s->st = s->shadow;
    memset(&s->shadow, 0, sizeof s->shadow);
    s->in_ck = false;
    s->ck_id = id;
    return 0;
}

static int apply_record(bmstore_file *s, unsigned type, rd *r)
{
    switch (type) {
    case REC_LOG:
        return rec_log(s, r);
    case REC_DISCARD:
        return rec_discard(s, r);
    case REC_PURGE:
        return rec_purge(s, r);
    case REC_CK_BEGIN:
    case REC_CK_END:
        return rec_ck_mark(s, type, r);
    case REC_CK_PUB:
        /* outside a checkpoint: the tail of one whose start a later prune
         * deleted (a checkpoint can straddle a rotation); superseded */
        return s->in_ck ? rec_ck_pub(s, r) : 0;
    default:
        return (type & FL_REC_SAFE_TO_IGNORE) ? 0 : FL_E_CORRUPT;
    }
}

static int on_record(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    bmstore_file *s = arg;
    rd r = {p, len, 0, false};
    int rc = apply_record(s, type, &r);
    s->bytes_since_ck += fl_record_size((uint32_t)len);
    if (type == REC_CK_END && rc == 0)
        s->bytes_since_ck = 0;
    return fl__file_store_on_bad_record(&s->fs, recno, type, len, rc);
}

/* ------------------------------------------------------------------ */
/* open / close */

static void free_store(bmstore_file *s)
{
    fl__file_store_close(&s->fs);
    fl__bmstate_free(&s->st);
    fl__bmstate_free(&s->shadow);
    free(s);
}

static int bf_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    int rc = fl__file_store_check_open(&bm_kind, env, self_out, err, errcap);
    if (rc < 0)
        return rc;
    bmstore_file *s = calloc(1, sizeof *s);
    if (s == NULL)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "bmstore file: out of memory");
    rc = fl__file_store_open(&s->fs, &bm_kind, env, on_record, s, recovery, err, errcap);
    if (rc < 0) {
        free_store(s);
        return rc;
    }
    if (s->in_ck) { /* a checkpoint cut short by a crash: ignored */
        fl__bmstate_free(&s->shadow);
        s->in_ck = false;
    }
    *self_out = s;
    return 0;
}

static void bf_close(void *self)
{
    if (self)
        free_store(self);
}

/* ------------------------------------------------------------------ */
/* prune: checkpoint the state at the head, then delete what it replaces */

static int ck_pub_records(bmstore_file *s, const char *sub, const fl__bm_pub *p, uint64_t *nrec)
{
    size_t done = 0;
    do {
        size_t n = p->len - done < CK_CHUNK ? p->len - done : CK_CHUNK;
        unsigned flags =
            (done == 0 && p->has_point ? CK_FLAG_POINT : 0) | (done > 0 ? CK_FLAG_CONT : 0);
        fl_buf *b = &s->fs.scratch;
        fl_buf_clear(b);
        int rc = put_sub(b, sub);
        rc = rc ? rc : fl_buf_append_u64(b, p->id);
        rc = rc ? rc : fl_buf_append_u8(b, (uint8_t)flags);
        rc = rc ? rc : fl_buf_append_u64(b, p->has_point ? p->point_seq : 0);
        rc = rc ? rc : fl_buf_append_u64(b, (uint64_t)(p->has_point ? p->point_ts : 0));
        rc = rc ? rc : fl_buf_append_u32(b, (uint32_t)n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const fl__bm_entry *e = fl__bmstate_entry(p, done + i);
            rc = fl_buf_append_u64(b, e->seq);
            rc = rc ? rc : fl_buf_append_u64(b, (uint64_t)e->ts_us);
            rc = rc ? rc : fl_buf_append_u8(b, e->discarded ? 1 : 0);
        }
        if (rc < 0)
            return rc;
        rc = append_rec(s, REC_CK_PUB, "checkpoint");
        if (rc < 0)
            return rc;
        (*nrec)++;
        done += n;
    } while (done < p->len);
    return 0;
}

static int write_checkpoint(bmstore_file *s, uint64_t *begin_recno)
{
    uint64_t id = s->ck_id + 1, nrec = 0;
    fl_buf_clear(&s->fs.scratch);
    int rc = fl_buf_append_u64(&s->fs.scratch, id);
    if (rc < 0)
        return rc;
    *begin_recno = fl_seglog_next_recno(s->fs.log);
    uint64_t start = s->bytes_since_ck;
    rc = append_rec(s, REC_CK_BEGIN, "checkpoint");
    for (size_t i = 0; rc == 0 && i < s->st.nsubs; i++) {
        const fl__bm_sub *sub = &s->st.subs[i];
        for (size_t j = 0; rc == 0 && j < sub->npubs; j++)
            rc = ck_pub_records(s, sub->id, &sub->pubs[j], &nrec);
    }
    if (rc < 0)
        return rc;
    fl_buf_clear(&s->fs.scratch);
    rc = fl_buf_append_u64(&s->fs.scratch, id);
    rc = rc ? rc : fl_buf_append_u64(&s->fs.scratch, nrec);
    rc = rc ? rc : append_rec(s, REC_CK_END, "checkpoint");
    if (rc < 0)
        return rc;
    s->ck_id = id;
    s->ck_bytes = s->bytes_since_ck - start;
    s->bytes_since_ck = s->ck_bytes;
    return 0;
}

static int bf_prune(void *self)
{
    bmstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    uint64_t begin = 0;
    int rc = write_checkpoint(s, &begin);
    if (rc < 0)
        return rc;
    rc = fl_seglog_sync(s->fs.log);
    if (rc < 0)
        return fail(s, "prune sync", rc);
    rc = fl_seglog_delete_before(s->fs.log, begin);
    return rc < 0 ? fail(s, "prune delete", rc) : 0;
}

static void maybe_prune(bmstore_file *s)
{
    uint64_t floor = AUTO_PRUNE_SEGS * s->fs.opts.segment_size;
    if (s->bytes_since_ck < floor || s->bytes_since_ck < 3 * s->ck_bytes)
        return;
    (void)bf_prune(s); /* a failure is in last_error; a poisoned handle shows next call */
}

/* ------------------------------------------------------------------ */
/* operations */

static int bf_log(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    int rc = check_args(s, "log", sub_id, bm);
    if (rc < 0)
        return rc;
    int v = fl__bmstate_log_verdict(&s->st, sub_id, bm);
    if (v != 2)
        return v;
    rc = encode_bm(&s->fs.scratch, sub_id, bm, true);
    if (rc < 0)
        return rc;
    rc = append_rec(s, REC_LOG, "log");
    if (rc < 0)
        return rc;
    rc = fl__bmstate_log(&s->st, sub_id, bm->publisher, bm->sequence, bm->ts_us);
    if (rc < 0)
        snprintf(s->fs.err, sizeof s->fs.err, "bmstore file: log: %s", fl_strerror(rc));
    return rc;
}

static int bf_discard(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    int rc = check_args(s, "discard", sub_id, bm);
    if (rc < 0)
        return rc;
    if (!fl__bmstate_discard_changes(&s->st, sub_id, bm->publisher, bm->sequence))
        return 0;
    rc = encode_bm(&s->fs.scratch, sub_id, bm, false);
    if (rc < 0)
        return rc;
    rc = append_rec(s, REC_DISCARD, "discard");
    if (rc < 0)
        return rc;
    fl__bmstate_discard(&s->st, sub_id, bm->publisher, bm->sequence);
    maybe_prune(s);
    return s->fs.poison;
}

static int bf_is_discarded(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_file *s = self;
    int rc = check_args(s, "is_discarded", sub_id, bm);
    if (rc < 0)
        return rc;
    return fl__bmstate_is_discarded(&s->st, sub_id, bm);
}

/* Byte for byte the memory store's resume point (bmstate.h). */
static int bf_most_recent(void *self, const char *sub_id, char *buf, size_t cap)
{
    bmstore_file *s = self;
    if (!sub_id || (!buf && cap)) {
        snprintf(s->fs.err, sizeof s->fs.err, "most_recent: NULL sub id or buffer");
        return FL_E_INVAL;
    }
    return fl__bmstate_most_recent(&s->st, sub_id, buf, cap);
}

static int bf_persisted(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    bmstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    return check_args(s, "persisted", sub_id, bm);
}

static int bf_purge(void *self, const char *sub_id)
{
    bmstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    if (sub_id && strlen(sub_id) > SUB_MAX)
        return 0; /* log never accepted such a sub id: nothing to forget */
    if (sub_id ? fl__bmstate_sub_find(&s->st, sub_id) == NULL : s->st.nsubs == 0)
        return 0;
    fl_buf_clear(&s->fs.scratch);
    int rc = fl_buf_append_u8(&s->fs.scratch, sub_id ? 0 : 1);
    rc = rc ? rc : put_sub(&s->fs.scratch, sub_id ? sub_id : "");
    rc = rc ? rc : append_rec(s, REC_PURGE, "purge");
    if (rc < 0)
        return rc;
    fl__bmstate_purge(&s->st, sub_id);
    return 0;
}

static int bf_flush(void *self)
{
    return fl__file_store_flush(&((bmstore_file *)self)->fs);
}

static int bf_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return fl__file_store_list_files(&((bmstore_file *)self)->fs, fn, arg);
}

static const char *bf_last_error(void *self)
{
    return fl__file_store_last_error(&((bmstore_file *)self)->fs);
}

const fl_bmstore_ops fl_bmstore_file = {
    .version = FL_STORE_ABI_VERSION,
    .name = "file",
    .open = bf_open,
    .close = bf_close,
    .log = bf_log,
    .discard = bf_discard,
    .is_discarded = bf_is_discarded,
    .most_recent = bf_most_recent,
    .persisted = bf_persisted,
    .prune = bf_prune,
    .purge = bf_purge,
    .flush = bf_flush,
    .list_files = bf_list_files,
    .last_error = bf_last_error,
};
