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
 * and the MARK are durable before the originals disappear). A crash at any
 * point leaves either the originals, or both copies (deduplicated by
 * sequence as above), or only the durable copies. Since compaction only
 * copies live messages, no DISCARD between an original and its copy covers
 * it, so applying records in order gives the same index whichever of the
 * two survives.
 *
 * Under sync=none that sync is skipped unless the log still holds a record
 * that flush() or open made durable ("promised": recno <= promised_recno,
 * taken from the seglog's durable_recno after each of them, never after the
 * prune's own syncs). A process crash keeps every write and unlink in the
 * order they were made, so none's promise needs no sync; what a power loss
 * may take is everything after the last flush, and while promised records
 * remain the sync keeps them (compacted copies, and the MARK carrying
 * last_sequence) from being lost by a deletion. Once every promised record
 * is deleted, every message up to the flushed last_sequence has been
 * discarded, that is persisted by the broker (whose logon ack then carries
 * it), and nothing flushed is left to protect. So a none store that is
 * never flushed prunes without a single sync.
 *
 * Sequence reservation (store.h, last_sequence). Under sync=batch or none
 * a power loss may drop STORE records whose messages were already sent (and
 * logged by the broker); numbering again from the surviving last_sequence
 * would reuse their sequences. So before store() accepts a sequence above
 * the reservation R, it durably raises R to seq + block - 1 in the
 * reservation file "reserve" next to the segments (store_file_util.h: one
 * 20-byte write into the slot not holding the current R, and one sync of
 * that small file; the first raise creates the file). The log itself is not
 * synced: under none nothing but flush() ever syncs it (a sync of the log
 * per block would write out every unsynced record, about 600 KB per 4096
 * stores, which made none about 30% slower). The block is RESERVE_BLOCK,
 * 65536 sequences, under both policies: with bench_store_file (ext4, 2
 * cores) none/raw went back from 0.53 to 0.76, and under batch (1 ms
 * window, which syncs the log every window anyway) 65536 gave about 8% more
 * appends/s than 4096 (1.53 vs 1.41 M/s, five interleaved runs). Open sets
 * last_sequence = max(the log's highest STORE or MARK, R), so after any
 * crash or power loss last_sequence is at least every sequence a store()
 * returned, and the first store() of a session always raises R afresh: a
 * restart skips the rest of the block (sequences may jump). Under
 * sync=always each STORE is durable on return: nothing is reserved (the
 * file, if an earlier session under batch/none left one, is still read).
 * The file is never pruned, so the prune MARK only has to carry
 * last_sequence (for stores that never reserved: sync=always). Stores
 * written before the file existed reserved with MARK records in the log,
 * which recovery still folds into last_sequence; such a store has no file
 * and opens as one without a reservation. A reservation file with no valid
 * slot is refused by strict and tolerate_torn_tail; point_in_time and
 * salvage quarantine it and take the log's last_sequence + 65536, reported
 * in the recovery report (store_file_util.h).
 *
 * A failed sync poisons the handle (FL_E_SYNC_FAILED from every later
 * mutating call); reopening runs recovery. A store() that fails with
 * FL_E_SYNC_FAILED may have left its STORE record in the file (written,
 * then the sync failed): after reopen the message is there, intact under
 * its sequence, or absent (store.h); a torn record never validates.
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
#include "store_file_util.h"

#define REC_STORE   (FL_REC_TYPE_USER_MIN + 0u)
#define REC_DISCARD (FL_REC_TYPE_USER_MIN + 1u)
#define REC_MARK    (FL_REC_TYPE_USER_MIN + 2u)

#define STORE_HDR 12u /* seq u64 + topic_len u32 */

/* Sequences covered by one durable reservation (one small file sync per
 * block, under batch and none); see the design note. */
#define RESERVE_BLOCK 65536u

static uint64_t pf_recovered_last(void *arg);

/* Segments rotate at 16 MiB by default (option segment_size); two dead
 * segment files are kept and written over by the next rotations (option
 * recycle; used under recovery=point_in_time and salvage only): overwriting cached pages is
 * cheaper than creating, filling and later unlinking a fresh file. */
static const fl__file_kind pub_kind = {
    .what = "pubstore file",
    .source = "pubstore",
    .seg_kind = FL_SEG_KIND_PUBLISH_STORE,
    .segment_size = 16ull << 20,
    .max_record = 16u << 20,
    .recycle = 2,
    .reserve_name = "reserve",
    .recovered_last = pf_recovered_last,
    .reserve_fallback = RESERVE_BLOCK,
};

typedef struct pub_entry {
    uint64_t seq;
    uint64_t recno;
    uint32_t bytes; /* STORE record payload size (header + topic + message) */
    uint32_t held;  /* topic + message bytes, what capacity counts */
} pub_entry;

typedef struct pubstore_file {
    fl__file_store fs; /* seglog, options, scratch, poison, error text */
    pub_entry *ents;   /* live entries are ents[head..n), ascending seq */
    size_t head, n, cap;
    uint64_t last_seq;       /* highest stored; at open also the reservation */
    uint64_t live_bytes;     /* topic + payload bytes of live messages (capacity) */
    uint64_t promised_recno; /* durable after the last flush() or open */
} pubstore_file;

/* ------------------------------------------------------------------ */
/* errors */

/* Record an error from the seglog: a failed sync poisons the handle. */
static int fail(pubstore_file *s, const char *what, int rc)
{
    return fl__file_store_fail(&s->fs, what, rc);
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

/* Append a STORE record: the header from a small stack buffer, topic and
 * payload straight from the caller's message (fl_seglog_appendv copies each
 * once, into the record). */
static int append_store(pubstore_file *s, const fl_pub_msg *m, uint64_t *recno)
{
    uint8_t hdr[STORE_HDR];
    fl_store_be64(hdr, m->sequence);
    fl_store_be32(hdr + 8, (uint32_t)m->topic_len);
    const fl_seglog_iov iov[3] = {
        {hdr, sizeof hdr}, {m->topic, m->topic_len}, {m->payload, m->payload_len}};
    int rc = fl_seglog_appendv(s->fs.log, REC_STORE, iov, 3, recno);
    return rc < 0 ? fail(s, "store", rc) : 0;
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
    /* A record with a good checksum but a body we cannot use: written by
     * something else. strict refuses it, the other modes drop it. */
    return fl__file_store_on_bad_record(&s->fs, recno, type, len, rc);
}

/* The highest sequence of any STORE or MARK recovered (for a damaged
 * reservation file, store_file_util.h). */
static uint64_t pf_recovered_last(void *arg)
{
    return ((const pubstore_file *)arg)->last_seq;
}

/* ------------------------------------------------------------------ */
/* open / close */

static void free_store(pubstore_file *s)
{
    fl__file_store_close(&s->fs);
    free(s->ents);
    free(s);
}

static int pf_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    int rc = fl__file_store_check_open(&pub_kind, env, self_out, err, errcap);
    if (rc < 0)
        return rc;
    pubstore_file *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FL_E_NOMEM;
    rc = fl__file_store_open(&s->fs, &pub_kind, env, on_record, s, recovery, err, errcap);
    if (rc < 0) {
        free(s->ents);
        free(s);
        return rc;
    }
    s->promised_recno = fl_seglog_durable_recno(s->fs.log); /* open synced what it kept */
    if (s->fs.resv_upto > s->last_seq)
        s->last_seq = s->fs.resv_upto; /* handed out before a crash, maybe */
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
        copy_ctx c = {e->recno, &s->fs.scratch, 0, 0};
        int rc = fl_seglog_read(s->fs.log, e->recno, copy_record, &c);
        if (rc >= 0 && c.rc < 0)
            rc = c.rc;
        if (rc >= 0 && !c.found)
            rc = FL_E_CORRUPT;
        if (rc < 0)
            return fail(s, "compaction read", rc);
        uint64_t recno = 0;
        rc = fl__file_store_append_scratch(&s->fs, REC_STORE, "compaction append", &recno);
        if (rc < 0)
            return rc;
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

/* Whether a deletion must be preceded by a sync (see the design note):
 * always under always and batch; under none only while the log holds a
 * record that flush() or open made durable. */
static int prune_needs_sync(const pubstore_file *s)
{
    if (s->fs.opts.sync != FL_SYNC_NONE)
        return 1;
    return s->promised_recno >= fl_seglog_first_recno(s->fs.log);
}

/* MARK, sync (see prune_needs_sync), delete every segment below the lowest
 * live record. */
static int delete_dead(pubstore_file *s)
{
    uint8_t mark[8];
    fl_store_be64(mark, s->last_seq); /* a reservation lives in its own file */
    int rc = fl_seglog_append(s->fs.log, REC_MARK, mark, sizeof mark, NULL);
    if (rc < 0)
        return fail(s, "prune mark", rc);
    if (prune_needs_sync(s) && (rc = fl_seglog_sync(s->fs.log)) < 0)
        return fail(s, "prune sync", rc);
    uint64_t boundary = min_live_recno(s);
    if (boundary == UINT64_MAX)
        boundary = fl_seglog_next_recno(s->fs.log);
    rc = fl_seglog_delete_before(s->fs.log, boundary);
    if (rc < 0)
        return fail(s, "prune delete", rc);
    return 0;
}

/* Called after a discard. Failures leave the logical contents unchanged
 * (every step is redundant until the deletion). */
static int prune(pubstore_file *s)
{
    seg_list l = {NULL, 0, 0};
    int rc = fl_seglog_segments(s->fs.log, collect_seg, &l);
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
    if (rc < 0 && rc != FL_E_SYNC_FAILED && s->fs.err[0] == '\0')
        fl__file_store_set_err(&s->fs, "prune", rc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* operations */

/* Make sure `seq` is covered by a durable reservation before store()
 * accepts it (see the design note). Nothing to do under sync=always. */
static int reserve_for(pubstore_file *s, uint64_t seq)
{
    if (s->fs.opts.sync == FL_SYNC_ALWAYS || seq <= s->fs.resv_upto)
        return 0;
    uint64_t upto = seq > UINT64_MAX - (RESERVE_BLOCK - 1) ? UINT64_MAX : seq + RESERVE_BLOCK - 1;
    return fl__file_store_reserve(&s->fs, upto);
}

static int pf_store(void *self, const fl_pub_msg *msg)
{
    pubstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    if (msg == NULL || msg->sequence <= s->last_seq || (msg->topic == NULL && msg->topic_len) ||
        (msg->payload == NULL && msg->payload_len)) {
        snprintf(s->fs.err, sizeof s->fs.err,
                 "pubstore file: sequence %" PRIu64 " not above last %" PRIu64 " or bad message",
                 msg ? msg->sequence : 0, s->last_seq);
        return FL_E_INVAL;
    }
    if (msg->topic_len > s->fs.opts.max_record - STORE_HDR ||
        msg->payload_len > s->fs.opts.max_record - STORE_HDR - msg->topic_len) {
        snprintf(s->fs.err, sizeof s->fs.err, "pubstore file: message of %zu bytes is too large",
                 msg->payload_len);
        return FL_E_INVAL;
    }
    uint64_t held = (uint64_t)msg->topic_len + msg->payload_len;
    if (s->fs.opts.capacity &&
        (held > s->fs.opts.capacity || s->live_bytes > s->fs.opts.capacity - held)) {
        snprintf(s->fs.err, sizeof s->fs.err,
                 "pubstore file: capacity %" PRIu64 " bytes reached (%" PRIu64 " stored)",
                 s->fs.opts.capacity, s->live_bytes);
        return FL_E_FULL;
    }
    int rc = index_reserve(s);
    if (rc < 0)
        return rc;
    rc = reserve_for(s, msg->sequence);
    if (rc < 0)
        return rc;
    uint64_t recno = 0;
    rc = append_store(s, msg, &recno);
    if (rc < 0)
        return rc;
    pub_entry e = {msg->sequence, recno, (uint32_t)(STORE_HDR + held), (uint32_t)held};
    s->ents[s->n++] = e; /* reserved above; sequences only grow */
    s->live_bytes += held;
    s->last_seq = msg->sequence;
    return 0;
}

static int pf_discard_up_to(void *self, uint64_t seq)
{
    pubstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
    if (live_count(s) == 0 || s->ents[s->head].seq > seq)
        return 0; /* nothing to forget: nothing to write */
    uint8_t b[8];
    fl_store_be64(b, seq);
    int rc = fl_seglog_append(s->fs.log, REC_DISCARD, b, sizeof b, NULL);
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
        int rc = fl_seglog_read(s->fs.log, s->ents[at].recno, replay_record, &c);
        if (rc < 0)
            return fail(s, "replay read", rc);
        if (c.rc < 0 || c.i == at) {
            snprintf(s->fs.err, sizeof s->fs.err,
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
    if (s->fs.poison)
        return s->fs.poison;
    if (fn == NULL)
        return FL_E_INVAL;
    return replay_span(s, s->head, s->n, fn, arg);
}

static int pf_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    pubstore_file *s = self;
    if (s->fs.poison)
        return s->fs.poison;
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
    int rc = fl__file_store_flush(&s->fs);
    if (rc == 0)
        s->promised_recno = fl_seglog_durable_recno(s->fs.log);
    return rc;
}

static int pf_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return fl__file_store_list_files(&((pubstore_file *)self)->fs, fn, arg);
}

static const char *pf_last_error(void *self)
{
    return fl__file_store_last_error(&((pubstore_file *)self)->fs);
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
