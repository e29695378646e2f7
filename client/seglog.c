/* The segmented, checksummed append-only log (faultline/seglog.h).
 *
 * Design note.
 *
 * State. The log keeps an in-memory list of its segments, oldest first, each
 * with its id, salt, first/last record number, the end offset of its last
 * good record (or seal) and a sparse index (the first record in every 64 KiB
 * of the file, filled by recovery and by appends into an array sized up
 * front) so a read from any record number starts near it. The newest segment
 * is the active one; only it is kept open. Appends encode into one reusable
 * write buffer and issue one file write at the tracked end offset, so a
 * failed write can be cut back by truncating to that offset and the log is
 * unchanged.
 *
 * Segment ids double as creation times. The record format's header has no
 * creation time, so a new segment's id is max(highest id ever seen + 1,
 * runtime now): ids stay strictly increasing (file names sort in id order)
 * and created_us is the id. It can run ahead of the true creation time by
 * one microsecond per segment created in the same microsecond, or by the
 * size of a backwards wall-clock step (the age then counts from the later
 * time, never rotating early).
 *
 * Rotation: seal the active segment (seal record), sync it, then create the
 * next one: create the file exclusively, write its header (predecessor id
 * and last record number, fresh salt from the runtime PRNG), sync it, sync
 * the directory. Under FL_SYNC_NONE none of these syncs happen (nor the
 * directory sync after delete_before): the sealed segment is marked dirty
 * and the directory as changed, and the owner's next fl_seglog_sync syncs
 * every dirty segment, oldest first, then the directory. If creation fails
 * the sealed segment stays the newest and
 * the next append retries the creation; recovery treats a sealed newest
 * segment the same way (the next append creates its successor). Segments
 * are created lazily: opening an empty directory creates no file.
 *
 * Recovery (fl_seglog_open): segments are taken in id order. For each, the
 * header is decoded and checked against the previous kept segment
 * (fl_seg_chain_check), then the records are scanned with the configured
 * mode (fl_seg_scan, expect_sealed off: the seal is checked here, knowing
 * the successor). What the modes do with what is found:
 *
 *   damage found              strict   tolerate     point_in_time  salvage
 *   torn/zeroed tail, newest  refuse   drop tail    drop tail      drop tail
 *   other damage in records   refuse   refuse       drop from it   skip it
 *   damage in an older seg.   refuse   refuse       drop from it   skip it
 *                                                   and every
 *                                                   later segment
 *   bad header / chain break  refuse   refuse       drop from that skip that
 *                                                   segment on     segment
 *
 * ("refuse": open fails with FL_E_DAMAGED and changes nothing on disk.)
 * Every dropped byte range is first copied to "<segment>.seg.quarantine"
 * (appended, synced, directory synced), then a damaged tail is truncated and
 * the segment synced, all before open returns. A whole dropped segment is
 * copied to its quarantine file and unlinked. Each drop is traced as
 * ("seglog", "recovery_drop").
 *
 * Special cases that are not damage: an empty (0-byte) newest segment file
 * is the residue of an interrupted creation and is removed; a sealed newest
 * segment means the crash came between sealing and creating its successor.
 * An older segment whose seal is missing but whose successor's header proves
 * that no record is missing (prev_last_recno equals its last record) gets
 * its seal written again (strict refuses it). Under salvage a damaged region
 * in the middle of a segment stays in the file (records after it survive),
 * so every later open reports and quarantines it again. A newest segment
 * whose header is cut short (a torn creation) counts as a torn tail. The
 * records of a segment dropped for a bad header are unknown and not counted
 * in records_dropped (salvage counts the record-number gap it leaves). A
 * missing first segment cannot be told from one removed by delete_before.
 *
 * Record numbers continue from the newest kept segment. Recovery that drops
 * a tail (records that were never durable, or were damaged) rolls the next
 * number back to just after the last surviving record: numbers are never
 * reused after delete_before, but a dropped record's number is given again.
 *
 * Durability: durable_recno is the highest record number covered by a
 * successful file sync of its segment and of every older one (under always
 * and batch rotation syncs the sealed segment, so only the active one is
 * ever unsynced; under none fl_seglog_sync syncs every dirty segment and the
 * directory; open syncs every segment it keeps, in every mode, so what
 * survived a process crash is durable too). on_durable runs from the
 * runtime loop: directly from the batch timer, or from a zero-delay notify
 * timer armed after a sync inside append/rotate; fl_seglog_sync calls it
 * itself.
 *
 * Power loss under FL_SYNC_NONE. Since nothing but the owner's syncs orders
 * the disk, a power loss may leave any segment damaged or missing, not only
 * the tail: a segment created since the last sync may vanish or come back
 * empty or cut short, a deleted one may come back, a sealed one may lose its
 * seal and records (a real file system may also keep a newer segment's
 * directory entry and not an older segment's data). Recovery needs nothing
 * new for this: every record is verified (CRC, salt, record number) before
 * it is believed, and the headers' predecessor fields tell a missing or cut
 * segment from a complete one, so no mode ever yields a damaged record; each
 * drop is reported and quarantined as in the table above, and strict (any
 * damage) and tolerate_torn_tail (damage other than the newest segment's
 * tail) refuse to open with FL_E_DAMAGED, which is the documented outcome
 * for them. Things recovery cannot see: a lost first segment (as for
 * delete_before) and a whole suffix of the log lost with its segments
 * (records never synced are simply not there). Open's own repairs
 * (quarantine copies, truncation, a seal written again, the final sync of
 * what it kept) are synced in every mode.
 *
 * Recycling (opts.recycle > 0, only under point_in_time and salvage: see
 * recycling_on). Writing a fresh segment
 * file costs page allocation, zeroing and, at unlink, freeing the whole
 * page cache of the dead one; overwriting a dead file's cached pages does
 * not (about 16 ns per append on ext4 for 16 MiB segments). So
 * delete_before renames a dead segment to "<its id>.spare" while fewer than
 * `recycle` spares exist (unlinks it otherwise), and create_segment renames
 * the newest spare to the new segment's name, opens it without truncating
 * and writes the new header (flag FL_SEG_FLAG_RECYCLED, a fresh salt drawn
 * again while it equals the spare's old one) at offset 0; then it goes on
 * as for a fresh file (always/batch: sync the file, then the directory;
 * none: nothing). delete_before syncs the directory after making spares
 * under every policy, none included (one directory sync per recycled
 * segment), so a spare's rename is durable before its file is written
 * over. The file keeps the older generation's bytes after
 * the new segment's data; the scanner ends the data at the first position
 * that is not a good record unless something of the segment follows (see
 * record.h), so they are never damage. They are cut off when the segment
 * is sealed, at close and at open (not
 * synced on their own: if the cut is lost they are stale again), so a
 * cleanly closed log also opens in strict. Strict, which cannot tell a torn
 * or damaged last record from stale bytes, does not recycle: spares are
 * neither made nor used, and the ones found at open are removed; after a
 * crash with a recycled active segment it refuses to open (a non-strict
 * open first cuts the stale tail). Spares found at open are kept, up to
 * `recycle` (the newest; the others are unlinked); their headers raise
 * max_id so an id seen in one is never given again, and when no segment
 * survived their records (a salvage scan) set the next record number.
 *
 * Crash points of a reuse (X the spare's old id, Y the new segment):
 *   - process crash anywhere: the OS keeps every rename and write in order;
 *     the worst is Y.seg with X's header (rename done, header not written),
 *     handled as below, or an X.spare that is simply a spare.
 *   - always/batch power loss: delete_before synced the directory, so
 *     X.spare is durable before any reuse; create syncs Y's header before
 *     the directory and appends only after both. Before the file sync the
 *     rename is lost (X.spare, maybe holding Y's header: still a spare) and
 *     Y holds no records yet; after the directory sync all is durable.
 *   - none power loss: nothing is ordered. The rename to X.spare was made
 *     durable by delete_before's directory sync; the rename to Y may be
 *     kept or lost independently of the header write. Outcomes: (a) X.seg back
 *     (delete undone) holding Y's header and maybe Y's records: a header
 *     of a NEWER segment than its name says the file was deleted and
 *     reused; the owner had deleted it and every older segment, so they
 *     are removed before recovery reads anything (drop_deleted_prefix,
 *     said in the report's text; strict refuses); (b) Y.seg holding X's
 *     old header (rename kept, header lost): a valid header of another id
 *     means it holds nothing of Y (its records carry Y's salt), so it is
 *     removed (drop_residue, said in the report's text; strict refuses) and
 *     Y's records, never synced, are lost like any unsynced tail (if Y was not
 *     the newest, its successor's chain check reports the gap as for a
 *     missing segment); (c) Y.seg with Y's header and a prefix of its
 *     records, stale bytes after them: a recycled segment like any other;
 *     (d) X.spare with any content: a spare. When every segment file turns
 *     out to be a residue, numbering continues after the highest first
 *     record number their headers show, so numbers are not given again.
 *     (a) cannot happen since the spare's rename is synced before reuse;
 *     it stays handled for files written by older versions, which did not
 *     sync it. That sync also rules out a file system writing the reused
 *     file's pages back before committing the rename and bringing X.seg
 *     back with X's header and some of Y's records over X's.
 */
#include "faultline/seglog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/record.h"

#define READ_CHUNK     (256u * 1024)
#define SEG_NAME_LEN   20 /* 16 hex digits + ".seg" */
#define QUAR_SUFFIX    ".quarantine"
#define SPARE_SUFFIX   ".spare"
#define SPARE_NAME_LEN 22 /* 16 hex digits + ".spare" */
#define DIR_MAX        900
#define PATH_CAP       (DIR_MAX + 64)
#define MIN_SEG_SIZE   (FL_SEG_HEADER_SIZE + FL_SEAL_RECORD_SIZE + FL_RECORD_HEADER_SIZE)
#define ERR_CAP        256
#define INDEX_STRIDE   (64u * 1024)
#define INDEX_MAX      (1u << 20) /* points per segment at most */

/* A sparse index point: the record `recno` starts at byte `offset`. */
typedef struct idx_point {
    uint64_t recno;
    uint64_t offset;
} idx_point;

typedef struct seg {
    uint64_t id;
    uint64_t salt;
    uint64_t first_recno;
    uint64_t last_recno; /* first_recno - 1 when empty */
    uint64_t end;        /* end of the last good record or of the seal */
    int sealed;
    int holes; /* salvage left damaged regions between good records */
    /* Sparse index: the first record at or after every INDEX_STRIDE bytes,
     * in an array sized when the segment is created or recovered (so appends
     * never allocate); reads start from the nearest point. */
    idx_point *idx;
    size_t nidx, capidx;
    /* Bytes written and not yet synced other than the active segment's
     * records (those count in fl_seglog.unsynced): a header or seal written
     * under FL_SYNC_NONE, or anything found by recovery. Only fl_seglog_sync
     * (and open) clears it for a segment that is not the active one. */
    int dirty;
    /* Written over a spare file: bytes past `end` may be an older
     * generation's (cut off when it is sealed, at close and at open). */
    int recycled;
} seg;

struct fl_seglog {
    fl_seglog_options o;
    const fl_runtime *rt;
    char *dir;
    seg *segs; /* oldest first; the last one is the active segment */
    size_t nsegs, capsegs;
    uint64_t max_id; /* highest segment id ever seen in the directory */
    fl_file *af;     /* handle on the active segment (NULL when nsegs == 0) */
    uint64_t next_recno;
    uint64_t durable_recno;
    uint64_t notified_recno; /* last value given to on_durable */
    uint64_t unsynced;       /* appends since the last sync */
    int tail_dirty;          /* a failed write may have left bytes past the end */
    int dir_dirty;           /* FL_SYNC_NONE: a segment was created or deleted
                                since the directory was last synced */
    int poisoned;
    /* Recycling: ids (old segment ids, the names' "<id>.spare") of the spare
     * files, in the order they became spares; rotation takes the last one
     * (its pages are likeliest still cached). Capacity o.recycle. */
    uint64_t *spares;
    size_t nspares;
    fl_timer_id batch_timer, notify_timer;
    uint8_t *wbuf;
    size_t wcap;
    uint8_t *rbuf;
    size_t rcap;
    char err[ERR_CAP];
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void set_err(fl_seglog *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(fl_seglog *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log->err, sizeof log->err, fmt, ap);
    va_end(ap);
}

static void copy_err(char *dst, size_t cap, const char *src)
{
    if (dst && cap)
        snprintf(dst, cap, "%s", src);
}

static seg *active_seg(fl_seglog *log)
{
    return log->nsegs ? &log->segs[log->nsegs - 1] : NULL;
}

static void seg_name(uint64_t id, char out[SEG_NAME_LEN + 1])
{
    snprintf(out, SEG_NAME_LEN + 1, "%016llx.seg", (unsigned long long)id);
}

static void seg_path(const fl_seglog *log, uint64_t id, int quarantine, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016llx.seg%s", log->dir, (unsigned long long)id,
             quarantine ? QUAR_SUFFIX : "");
}

static void spare_path(const fl_seglog *log, uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%016llx" SPARE_SUFFIX, log->dir, (unsigned long long)id);
}

/* Whether dead segments are kept as spares: only under point_in_time and
 * salvage, whose contract is to drop a damaged tail anyway. Strict cannot
 * tell a torn last record from a recycled file's stale bytes, and
 * tolerate_torn_tail would have to accept a checksum-damaged last record as
 * torn (it refuses one in a fresh file), so neither recycles. */
static int recycling_on(const fl_seglog *log)
{
    return log->o.recycle > 0 &&
           (log->o.recovery == FL_RECOVERY_POINT_IN_TIME || log->o.recovery == FL_RECOVERY_SALVAGE);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 16 lowercase hex digits that open a file name; 0 when they are not. */
static uint64_t parse_hex_id(const char *name)
{
    uint64_t id = 0;
    for (int i = 0; i < 16; i++) {
        int v = hexval(name[i]);
        if (v < 0)
            return 0;
        id = id << 4 | (uint64_t)v;
    }
    return id;
}

/* Parse "<16 lowercase hex>.seg" (quarantine: followed by ".quarantine").
 * Returns the id, 0 when the name is not one of ours. */
static uint64_t parse_seg_name(const char *name, int quarantine)
{
    size_t want = SEG_NAME_LEN + (quarantine ? strlen(QUAR_SUFFIX) : 0);
    if (strlen(name) != want || memcmp(name + 16, ".seg", 4) != 0)
        return 0;
    if (quarantine && strcmp(name + SEG_NAME_LEN, QUAR_SUFFIX) != 0)
        return 0;
    return parse_hex_id(name);
}

/* Parse "<16 lowercase hex>.spare"; the id, 0 when it is not a spare name. */
static uint64_t parse_spare_name(const char *name)
{
    if (strlen(name) != SPARE_NAME_LEN || strcmp(name + 16, SPARE_SUFFIX) != 0)
        return 0;
    return parse_hex_id(name);
}

/* Poison the log after a failed sync: nothing but close works any more. */
static int poison(fl_seglog *log, int rc, const char *what)
{
    log->poisoned = 1;
    fl_rt_timer_cancel(log->rt, log->batch_timer);
    log->batch_timer = 0;
    set_err(log, "%s failed (%s); the log must be reopened", what, fl_strerror(rc));
    return FL_E_SYNC_FAILED;
}

/* ------------------------------------------------------------------ */
/* runtime file layer shorthands                                        */

static int f_open(fl_seglog *log, const char *path, int flags, fl_file **out)
{
    return log->rt->ops->file_open(log->rt->self, path, flags, out);
}
static int f_read(fl_seglog *log, fl_file *f, uint64_t off, void *buf, size_t len, size_t *n)
{
    return log->rt->ops->file_read(log->rt->self, f, off, buf, len, n);
}
static int f_write(fl_seglog *log, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    return log->rt->ops->file_write(log->rt->self, f, off, buf, len);
}
static int f_sync(fl_seglog *log, fl_file *f)
{
    return log->rt->ops->file_sync(log->rt->self, f);
}
static int f_truncate(fl_seglog *log, fl_file *f, uint64_t size)
{
    return log->rt->ops->file_truncate(log->rt->self, f, size);
}
static int f_size(fl_seglog *log, fl_file *f, uint64_t *size)
{
    return log->rt->ops->file_size(log->rt->self, f, size);
}
static void f_close(fl_seglog *log, fl_file *f)
{
    if (f)
        log->rt->ops->file_close(log->rt->self, f);
}
static int f_unlink(fl_seglog *log, const char *path)
{
    return log->rt->ops->file_unlink(log->rt->self, path);
}
static int f_rename(fl_seglog *log, const char *from, const char *to)
{
    return log->rt->ops->file_rename(log->rt->self, from, to);
}
static int d_sync(fl_seglog *log)
{
    return log->rt->ops->dir_sync(log->rt->self, log->dir);
}

/* Read exactly len bytes at off (FL_E_TRUNCATED if the file is shorter). */
static int read_full(fl_seglog *log, fl_file *f, uint64_t off, void *buf, size_t len)
{
    size_t n = 0;
    int rc = f_read(log, f, off, buf, len, &n);
    if (rc)
        return rc;
    return n == len ? 0 : FL_E_TRUNCATED;
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        return FL_E_NOMEM;
    *buf = p;
    *cap = need;
    return 0;
}

/* Allocate the sparse index of a segment that may grow to `bytes`. */
static int index_alloc(seg *s, uint64_t bytes)
{
    uint64_t n = bytes / INDEX_STRIDE + 2;
    if (n > INDEX_MAX)
        n = INDEX_MAX;
    s->idx = malloc((size_t)n * sizeof *s->idx);
    if (!s->idx)
        return FL_E_NOMEM;
    s->capidx = (size_t)n;
    s->nidx = 0;
    return 0;
}

/* Note that record `recno` starts at `offset` (records come in order). */
static void index_note(seg *s, uint64_t recno, uint64_t offset)
{
    if (s->nidx == s->capidx)
        return;
    if (s->nidx && offset / INDEX_STRIDE == s->idx[s->nidx - 1].offset / INDEX_STRIDE)
        return;
    s->idx[s->nidx].recno = recno;
    s->idx[s->nidx].offset = offset;
    s->nidx++;
}

/* Where to start reading segment s for record `from`: the offset, and in
 * *expect the record number found there. */
static uint64_t index_find(const seg *s, uint64_t from, uint64_t *expect)
{
    size_t lo = 0, hi = s->nidx;
    if (hi == 0 || s->idx[0].recno > from) {
        *expect = s->first_recno;
        return FL_SEG_HEADER_SIZE;
    }
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].recno <= from)
            lo = mid;
        else
            hi = mid;
    }
    *expect = s->idx[lo].recno;
    return s->idx[lo].offset;
}

static int push_seg(fl_seglog *log, const seg *s)
{
    if (log->nsegs == log->capsegs) {
        size_t nc = log->capsegs ? log->capsegs * 2 : 8;
        seg *p = realloc(log->segs, nc * sizeof *p);
        if (!p)
            return FL_E_NOMEM;
        log->segs = p;
        log->capsegs = nc;
    }
    log->segs[log->nsegs++] = *s;
    return 0;
}

/* ------------------------------------------------------------------ */
/* sync policy names                                                    */

static const char *const policy_names[] = {"always", "batch", "none"};

int fl_sync_policy_parse(const char *s, fl_sync_policy *out)
{
    if (!s || !out)
        return FL_E_INVAL;
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, policy_names[i]) == 0) {
            *out = (fl_sync_policy)i;
            return 0;
        }
    }
    return FL_E_INVAL;
}

const char *fl_sync_policy_name(fl_sync_policy p)
{
    return (unsigned)p < 3 ? policy_names[p] : "unknown";
}

/* ------------------------------------------------------------------ */
/* options                                                              */

static int validate_options(const fl_seglog_options *o, char *err, size_t errcap)
{
    const char *why = NULL;
    if (!o)
        why = "options are NULL";
    else if (o->version != 1 && o->version != FL_SEGLOG_OPTIONS_VERSION)
        why = "unknown options version";
    else if (!o->rt || !o->rt->ops || o->rt->ops->version < 1)
        why = "runtime missing";
    else if (!o->dir || !o->dir[0] || strlen(o->dir) > DIR_MAX)
        why = "directory missing or too long";
    else if (o->kind == 0 || o->kind > 0xffff)
        why = "segment kind must be 1..65535";
    else if (o->segment_size < MIN_SEG_SIZE)
        why = "segment_size too small";
    else if (o->recovery < FL_RECOVERY_POINT_IN_TIME || o->recovery > FL_RECOVERY_SALVAGE)
        why = "unknown recovery mode";
    else if ((unsigned)o->sync > FL_SYNC_NONE)
        why = "unknown sync policy";
    else if (o->max_record > FL_RECORD_MAX_PAYLOAD)
        why = "max_record above the format limit";
    else if (o->recycle > FL_SEGLOG_MAX_RECYCLE)
        why = "recycle above FL_SEGLOG_MAX_RECYCLE";
    if (!why)
        return 0;
    copy_err(err, errcap, why);
    return FL_E_INVAL;
}

/* ------------------------------------------------------------------ */
/* durability notification                                              */

static void notify_durable(fl_seglog *log)
{
    if (log->o.on_durable && log->durable_recno > log->notified_recno) {
        log->notified_recno = log->durable_recno;
        log->o.on_durable(log->o.arg, log->durable_recno);
    }
}

static void on_notify_timer(void *arg)
{
    fl_seglog *log = arg;
    log->notify_timer = 0;
    if (!log->poisoned)
        notify_durable(log);
}

/* Arrange for on_durable to run from the loop (never inside this call). */
static void schedule_notify(fl_seglog *log)
{
    if (!log->o.on_durable || log->notify_timer || log->durable_recno <= log->notified_recno)
        return;
    /* If the timer cannot start, the next sync's notification covers it. */
    if (fl_rt_timer_start(log->rt, 0, on_notify_timer, log, &log->notify_timer))
        log->notify_timer = 0;
}

/* Everything appended so far has just become durable. */
static void all_durable(fl_seglog *log)
{
    log->durable_recno = log->next_recno - 1;
    log->unsynced = 0;
    fl_rt_timer_cancel(log->rt, log->batch_timer);
    log->batch_timer = 0;
}

/* Sync the active segment. Under always and batch every older segment and
 * the directory were synced when they changed, so everything appended so far
 * becomes durable. */
static int sync_active(fl_seglog *log)
{
    if (!log->af)
        return 0;
    int rc = f_sync(log, log->af);
    if (rc)
        return poison(log, rc, "segment sync");
    active_seg(log)->dirty = 0;
    all_durable(log);
    return 0;
}

/* Sync every segment with unsynced bytes, oldest first and the active one
 * last, then the directory when entries were created or removed since it was
 * last synced: everything appended so far becomes durable. Under always and
 * batch only the active segment can be unsynced; under none (and at open)
 * any can. Returns the file layer's code with *failed_sync set when a sync
 * failed (the caller poisons the log or fails the open) and clear when a
 * sealed segment could not be opened (nothing is lost: it stays dirty). */
static int sync_everything(fl_seglog *log, int *failed_sync)
{
    *failed_sync = 0;
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        seg *s = &log->segs[i];
        if (!s->dirty)
            continue;
        char path[PATH_CAP];
        seg_path(log, s->id, 0, path, sizeof path);
        fl_file *f = NULL;
        int rc = f_open(log, path, FL_FILE_READ, &f);
        if (rc) {
            set_err(log, "open %s to sync it: %s", path, fl_strerror(rc));
            return rc;
        }
        rc = f_sync(log, f);
        f_close(log, f);
        if (rc) {
            set_err(log, "sync %s: %s", path, fl_strerror(rc));
            *failed_sync = 1;
            return rc;
        }
        s->dirty = 0;
    }
    seg *a = active_seg(log);
    if (log->af && (log->unsynced || a->dirty)) {
        int rc = f_sync(log, log->af);
        if (rc) {
            set_err(log, "sync of the newest segment: %s", fl_strerror(rc));
            *failed_sync = 1;
            return rc;
        }
        a->dirty = 0;
    }
    if (log->dir_dirty) {
        int rc = d_sync(log);
        if (rc) {
            set_err(log, "directory sync: %s", fl_strerror(rc));
            *failed_sync = 1;
            return rc;
        }
        log->dir_dirty = 0;
    }
    all_durable(log);
    return 0;
}

static void on_batch_timer(void *arg)
{
    fl_seglog *log = arg;
    log->batch_timer = 0;
    if (log->poisoned || log->unsynced == 0)
        return;
    if (sync_active(log) == 0)
        notify_durable(log);
}

/* ------------------------------------------------------------------ */
/* segment creation, sealing, rotation                                  */

static uint64_t new_segment_id(fl_seglog *log)
{
    uint64_t now = fl_rt_now(log->rt);
    uint64_t next = log->max_id + 1;
    return now > next ? now : next;
}

/* Recycling: rename the newest spare to `path` and open it read-write, not
 * truncated (its cached pages are written over). 0 and *out, or non-zero
 * when there is no spare or a step failed (the spare is then removed, best
 * effort, and the caller creates a fresh file). */
static int take_spare(fl_seglog *log, const char *path, fl_file **out, uint64_t *old_salt)
{
    if (!log->nspares || !recycling_on(log))
        return FL_E_NOENT;
    char sp[PATH_CAP];
    spare_path(log, log->spares[--log->nspares], sp, sizeof sp);
    log->dir_dirty |= log->o.sync == FL_SYNC_NONE; /* always/batch: create syncs it */
    int rc = f_rename(log, sp, path);
    if (rc) {
        f_unlink(log, sp);
        return rc;
    }
    rc = f_open(log, path, FL_FILE_READ | FL_FILE_WRITE, out);
    if (rc) {
        f_unlink(log, path);
        return rc;
    }
    uint8_t hb[FL_SEG_HEADER_SIZE];
    fl_seg_header old;
    if (read_full(log, *out, 0, hb, sizeof hb) == 0 &&
        fl_seg_header_decode(hb, sizeof hb, &old) == 0)
        *old_salt = old.salt;
    return 0;
}

/* Create the next segment after the newest one (which must be sealed, or
 * absent), in a spare file when there is one (header flagged recycled). On
 * failure the new file is removed (best effort) and the list is
 * unchanged. */
static int create_segment(fl_seglog *log)
{
    seg *prev = active_seg(log);
    if (prev && !prev->sealed)
        return FL_E_STATE;
    fl_seg_header h = {0};
    h.kind = (uint16_t)log->o.kind;
    h.segment_id = new_segment_id(log);
    h.salt = fl_rt_random(log->rt);
    h.prev_segment_id = prev ? prev->id : 0;
    h.prev_last_recno = log->next_recno - 1;
    h.first_recno = log->next_recno;
    uint8_t hdr[FL_SEG_HEADER_SIZE];

    char path[PATH_CAP];
    seg_path(log, h.segment_id, 0, path, sizeof path);
    fl_file *f = NULL;
    int rc = 0;
    uint64_t old_salt = 0;
    if (take_spare(log, path, &f, &old_salt) == 0) {
        h.flags = FL_SEG_FLAG_RECYCLED;
        /* The old generation's records must never validate as this one's. */
        while (h.salt == old_salt)
            h.salt = fl_rt_random(log->rt);
    } else {
        rc = f_open(log, path, FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_EXCL, &f);
        if (rc) {
            set_err(log, "create %s: %s", path, fl_strerror(rc));
            return rc;
        }
    }
    log->max_id = h.segment_id;
    const char *step = "write header";
    rc = fl_seg_header_encode(&h, hdr, sizeof hdr);
    if (rc == 0)
        rc = f_write(log, f, 0, hdr, sizeof hdr);
    int unsynced = log->o.sync == FL_SYNC_NONE; /* none: the owner's sync does it */
    if (rc == 0 && !unsynced) {
        step = "sync";
        rc = f_sync(log, f);
        if (rc == 0) {
            step = "directory sync";
            rc = d_sync(log);
        }
        if (rc) {
            f_close(log, f);
            f_unlink(log, path);
            return poison(log, rc, "new segment sync");
        }
    }
    if (rc == 0) {
        seg s = {h.segment_id,
                 h.salt,
                 h.first_recno,
                 h.first_recno - 1,
                 FL_SEG_HEADER_SIZE,
                 0,
                 0,
                 NULL,
                 0,
                 0,
                 unsynced,
                 h.flags == FL_SEG_FLAG_RECYCLED};
        rc = index_alloc(&s, log->o.segment_size);
        if (rc == 0 && (rc = push_seg(log, &s)) != 0)
            free(s.idx);
    }
    if (rc) {
        set_err(log, "create %s: %s: %s", path, step, fl_strerror(rc));
        f_close(log, f);
        f_unlink(log, path);
        log->dir_dirty |= unsynced;
        return rc;
    }
    f_close(log, log->af);
    log->af = f;
    log->dir_dirty |= unsynced;
    return 0;
}

/* Write the seal at the end of segment `s` (open as `f`) and sync it, or
 * with `sync` 0 leave it unsynced (marked dirty). */
static int write_seal(fl_seglog *log, seg *s, fl_file *f, int sync)
{
    uint8_t rec[FL_SEAL_RECORD_SIZE];
    int rc = fl_record_encode_seal(rec, sizeof rec, s->salt, s->first_recno, s->last_recno);
    if (rc)
        return rc;
    rc = f_write(log, f, s->end, rec, sizeof rec);
    if (rc) {
        f_truncate(log, f, s->end); /* cut back; a later write overwrites it anyway */
        set_err(log, "seal %016llx.seg: %s", (unsigned long long)s->id, fl_strerror(rc));
        return rc;
    }
    /* A recycled file's stale bytes after the seal (at most about one record
     * when it is full) go, so a finished segment holds only its own bytes.
     * Best effort: stale bytes after a seal are not damage. */
    if (s->recycled)
        (void)f_truncate(log, f, s->end + sizeof rec);
    if (sync && (rc = f_sync(log, f)) != 0)
        return poison(log, rc, "seal sync");
    s->end += sizeof rec;
    s->sealed = 1;
    s->dirty |= !sync;
    return 0;
}

static int rotate(fl_seglog *log)
{
    seg *a = active_seg(log);
    if (a && !a->sealed) {
        if (log->o.sync == FL_SYNC_NONE) {
            /* Nothing is synced: the segment keeps its unsynced records for
             * the owner's next fl_seglog_sync. */
            int rc = write_seal(log, a, log->af, 0);
            if (rc)
                return rc;
            log->unsynced = 0; /* the records count in a->dirty now */
            return create_segment(log);
        }
        int rc = write_seal(log, a, log->af, 1);
        if (rc)
            return rc;
        /* the seal's sync made every record so far durable */
        a->dirty = 0;
        all_durable(log);
        schedule_notify(log);
    }
    return create_segment(log);
}

/* Rotate before appending a record of `size` bytes when needed. */
static int maybe_rotate(fl_seglog *log, size_t size)
{
    seg *a = active_seg(log);
    if (!a || a->sealed)
        return rotate(log);
    if (a->last_recno < a->first_recno)
        return 0; /* never rotate an empty segment */
    uint64_t need = a->end + size + FL_SEAL_RECORD_SIZE;
    if (need > log->o.segment_size)
        return rotate(log);
    if (log->o.segment_age_us) {
        uint64_t now = fl_rt_now(log->rt);
        if (now > a->id && now - a->id >= log->o.segment_age_us)
            return rotate(log);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* recovery                                                             */

typedef struct recovery {
    fl_seglog *log;
    fl_seglog_record_fn on_record;
    void *arg;
    int stop_rc;   /* non-zero: on_record asked to stop */
    seg *building; /* the segment being scanned (its index is filled) */
    fl_store_recovery *rep;
    size_t text_len;
    int dir_dirty;
    uint64_t residue_next; /* highest first_recno in a removed residue's header */
} recovery;

typedef struct file_reader {
    fl_seglog *log;
    fl_file *f;
} file_reader;

static int reader_fn(void *arg, uint64_t off, void *buf, size_t len, size_t *nread)
{
    file_reader *r = arg;
    return f_read(r->log, r->f, off, buf, len, nread);
}

static int scan_record_cb(void *arg, const fl_record *rec)
{
    recovery *rc = arg;
    if (rc->building)
        index_note(rc->building, rec->recno, rec->offset);
    if (!rc->on_record)
        return 0;
    int v = rc->on_record(rc->arg, rec->recno, rec->type, rec->payload, rec->len);
    if (v)
        rc->stop_rc = v;
    return v;
}

/* Append to the report's summary text, keeping it NUL-terminated. */
static void rep_text(recovery *rv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rep_text(recovery *rv, const char *fmt, ...)
{
    size_t cap = sizeof rv->rep->text;
    if (rv->text_len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rv->rep->text + rv->text_len, cap - rv->text_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        rv->text_len += (size_t)n < cap - rv->text_len ? (size_t)n : cap - 1 - rv->text_len;
}

/* Append s to out as a JSON string body (no quotes). */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
    return n;
}

/* Account for, describe and trace one dropped region. */
static void note_drop(recovery *rv, uint64_t seg_id, uint64_t off, uint64_t len, uint64_t first,
                      uint64_t last, uint64_t nrecords, const char *reason)
{
    fl_seglog *log = rv->log;
    rv->rep->records_dropped += nrecords;
    rv->rep->bytes_dropped += len;
    char name[SEG_NAME_LEN + 1];
    seg_name(seg_id, name);
    if (rv->text_len)
        rep_text(rv, "; ");
    rep_text(rv, "%s@%llu+%llu", name, (unsigned long long)off, (unsigned long long)len);
    if (first)
        rep_text(rv, " recno %llu-%llu", (unsigned long long)first,
                 (unsigned long long)(last >= first ? last : first));
    rep_text(rv, " %s", reason);

    char dir[256], fields[640];
    json_escape(dir, sizeof dir, log->dir);
    snprintf(fields, sizeof fields,
             "\"dir\":\"%s\",\"segment\":\"%s\",\"offset\":%llu,\"length\":%llu,"
             "\"first_recno\":%llu,\"last_recno\":%llu,\"records\":%llu,\"reason\":\"%s\","
             "\"mode\":\"%s\"",
             dir, name, (unsigned long long)off, (unsigned long long)len, (unsigned long long)first,
             (unsigned long long)last, (unsigned long long)nrecords, reason,
             fl_recovery_mode_name((fl_recovery_mode)log->o.recovery));
    fl_rt_trace(log->rt, "seglog", "recovery_drop", fields);
}

/* Append bytes [off, off+len) of segment `id` (open as f) to its quarantine
 * file, sync it and the directory. */
static int quarantine(recovery *rv, uint64_t id, fl_file *f, uint64_t off, uint64_t len)
{
    fl_seglog *log = rv->log;
    if (len == 0)
        return 0;
    char path[PATH_CAP];
    seg_path(log, id, 1, path, sizeof path);
    fl_file *q = NULL;
    int rc = f_open(log, path, FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE, &q);
    uint64_t qoff = 0;
    if (rc == 0)
        rc = f_size(log, q, &qoff);
    if (rc == 0)
        rc = reserve(&log->rbuf, &log->rcap, READ_CHUNK);
    uint64_t done = 0;
    while (rc == 0 && done < len) {
        size_t chunk = len - done < READ_CHUNK ? (size_t)(len - done) : READ_CHUNK;
        size_t n = 0;
        rc = f_read(log, f, off + done, log->rbuf, chunk, &n);
        if (rc == 0 && n == 0)
            break; /* the region ends before the file does: copy what exists */
        if (rc == 0)
            rc = f_write(log, q, qoff + done, log->rbuf, n);
        done += n;
    }
    if (rc == 0)
        rc = f_sync(log, q);
    if (rc == 0)
        rc = d_sync(log);
    f_close(log, q);
    if (rc) {
        set_err(log, "quarantine %s: %s", path, fl_strerror(rc));
        return rc;
    }
    rv->rep->bytes_quarantined += done;
    return 0;
}

/* Count the records of a segment that is being dropped whole (for the
 * report). Damage inside it does not matter here. *data_end (left alone
 * when the scan fails) is where a recycled segment's stale bytes start. */
static uint64_t count_records(fl_seglog *log, fl_file *f, uint64_t *data_end)
{
    file_reader r = {log, f};
    fl_scan_opts so = FL_SCAN_OPTS_INIT;
    so.mode = FL_RECOVERY_SALVAGE;
    so.max_payload = log->o.max_record;
    so.read_chunk = READ_CHUNK;
    fl_scan_report sr;
    if (fl_seg_scan(reader_fn, &r, &so, NULL, NULL, &sr, NULL, 0) != 0)
        return 0;
    if (sr.recycled)
        *data_end = sr.file_size - sr.stale_bytes;
    return sr.records_ok;
}

/* The last record number a salvage scan of the segment finds (0 if the scan
 * fails). */
static uint64_t salvage_last_recno(fl_seglog *log, fl_file *f)
{
    file_reader r = {log, f};
    fl_scan_opts so = FL_SCAN_OPTS_INIT;
    so.mode = FL_RECOVERY_SALVAGE;
    so.max_payload = log->o.max_record;
    so.read_chunk = READ_CHUNK;
    fl_scan_report sr;
    if (fl_seg_scan(reader_fn, &r, &so, NULL, NULL, &sr, NULL, 0) != 0)
        return 0;
    return sr.last_recno;
}

/* Drop the segment file `id` whole: quarantine its bytes, unlink it. */
static int drop_whole(recovery *rv, uint64_t id, const char *reason)
{
    fl_seglog *log = rv->log;
    char path[PATH_CAP];
    seg_path(log, id, 0, path, sizeof path);
    fl_file *f = NULL;
    int rc = f_open(log, path, FL_FILE_READ, &f);
    uint64_t size = 0;
    if (rc == 0)
        rc = f_size(log, f, &size);
    if (rc) {
        f_close(log, f);
        set_err(log, "open %s: %s", path, fl_strerror(rc));
        return rc;
    }
    fl_seg_header h;
    uint8_t hb[FL_SEG_HEADER_SIZE];
    uint64_t first = 0, last = 0, n = 0;
    uint64_t data_end = size; /* a recycled file's stale bytes are not copied */
    if (read_full(log, f, 0, hb, sizeof hb) == 0 && fl_seg_header_decode(hb, sizeof hb, &h) == 0) {
        n = count_records(log, f, &data_end);
        first = h.first_recno;
        last = n ? first + n - 1 : 0;
        if (!n)
            first = 0;
    }
    note_drop(rv, id, 0, data_end, first, last, n, reason);
    rc = quarantine(rv, id, f, 0, data_end);
    f_close(log, f);
    if (rc)
        return rc;
    rc = f_unlink(log, path);
    if (rc) {
        set_err(log, "unlink %s: %s", path, fl_strerror(rc));
        return rc;
    }
    rv->dir_dirty = 1;
    return 0;
}

/* Records a dropped scan region is believed to have held. */
static uint64_t drop_records(const fl_scan_drop *d)
{
    if (d->first_recno && d->last_recno >= d->first_recno)
        return d->last_recno - d->first_recno + 1;
    /* Unknown extent (a torn or zeroed tail): at least the record that was
     * being written, unless the bytes are only what follows a seal. */
    return d->length && d->reason != FL_DROP_AFTER_SEAL ? 1 : 0;
}

/* Handle the damage the scan of one segment found: report, quarantine,
 * truncate the tail and sync. */
static int repair_segment(recovery *rv, seg *s, fl_file *f, const fl_scan_report *sr)
{
    fl_seglog *log = rv->log;
    uint64_t covered_to = sr->end_offset;
    uint64_t salvage_last = 0;
    for (size_t i = 0; i < sr->drops_len; i++) {
        fl_scan_drop d = sr->drops[i];
        if (d.first_recno && !d.last_recno && d.length) {
            /* The scan stopped at this region: count the records it held by
             * looking past the damage as salvage would. */
            if (!salvage_last)
                salvage_last = salvage_last_recno(log, f);
            if (salvage_last >= d.first_recno)
                d.last_recno = salvage_last;
        }
        note_drop(rv, s->id, d.offset, d.length, d.first_recno, d.last_recno, drop_records(&d),
                  fl_drop_reason_name(d.reason));
        int rc = quarantine(rv, s->id, f, d.offset, d.length);
        if (rc)
            return rc;
        if (d.offset + d.length > covered_to)
            covered_to = d.offset + d.length;
    }
    if (sr->drops_total > sr->drops_len) {
        rep_text(rv, " (+%llu more)", (unsigned long long)(sr->drops_total - sr->drops_len));
        /* bytes past the reported regions that the truncation will remove */
        if (sr->file_size > covered_to) {
            int rc = quarantine(rv, s->id, f, covered_to, sr->file_size - covered_to);
            if (rc)
                return rc;
        }
    }
    if (sr->file_size > sr->end_offset) {
        int rc = f_truncate(log, f, sr->end_offset);
        if (rc == 0)
            rc = f_sync(log, f);
        if (rc) {
            set_err(log, "truncate %016llx.seg to %llu: %s", (unsigned long long)s->id,
                    (unsigned long long)sr->end_offset, fl_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Whether the damage in a scan report loses any record (bytes after a seal
 * do not). */
static int loses_records(const fl_scan_report *sr)
{
    if (!sr->damaged)
        return 0;
    if (sr->drops_total > sr->drops_len)
        return 1;
    for (size_t i = 0; i < sr->drops_len; i++)
        if (sr->drops[i].reason != FL_DROP_AFTER_SEAL)
            return 1;
    return 0;
}

/* Whether only a torn or zeroed tail was dropped. */
static int only_torn_tail(const fl_scan_report *sr)
{
    if (sr->drops_total != sr->drops_len)
        return 0;
    for (size_t i = 0; i < sr->drops_len; i++) {
        int r = sr->drops[i].reason;
        if (r != FL_DROP_TORN_TAIL && r != FL_DROP_ZEROED && r != FL_DROP_AFTER_SEAL)
            return 0;
    }
    return 1;
}

typedef struct id_list {
    uint64_t *ids; /* segments */
    size_t n, cap;
    uint64_t *spares; /* spare files */
    size_t ns, caps;
    uint64_t max_id;
    int rc;
} id_list;

static int push_id(uint64_t **ids, size_t *n, size_t *cap, uint64_t id)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        uint64_t *p = realloc(*ids, nc * sizeof *p);
        if (!p)
            return FL_E_NOMEM;
        *ids = p;
        *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

static int list_cb(void *arg, const char *name)
{
    id_list *l = arg;
    uint64_t id = parse_seg_name(name, 0);
    uint64_t qid = parse_seg_name(name, 1);
    uint64_t sid = parse_spare_name(name);
    if (qid > l->max_id)
        l->max_id = qid;
    if (sid > l->max_id)
        l->max_id = sid;
    if (id > l->max_id)
        l->max_id = id;
    if (sid)
        l->rc = push_id(&l->spares, &l->ns, &l->caps, sid);
    else if (id)
        l->rc = push_id(&l->ids, &l->n, &l->cap, id);
    return l->rc != 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int damaged_refusal(fl_seglog *log, uint64_t id, const char *what)
{
    set_err(log, "%016llx.seg: %s (recovery mode %s refuses damage)", (unsigned long long)id, what,
            fl_recovery_mode_name((fl_recovery_mode)log->o.recovery));
    return FL_E_DAMAGED;
}

/* A file named as segment `id` whose header is a valid header of another
 * segment (h): a recycled file whose rename became durable and whose new
 * header did not (or a deleted segment's rename undone after its file was
 * reused). It holds no record of `id` (every record carries its segment's
 * salt); it is removed (said in the report's text, not counted as
 * damage), except under strict, which refuses it. */
static int drop_residue(recovery *rv, uint64_t id, const fl_seg_header *h)
{
    fl_seglog *log = rv->log;
    /* Strict changes nothing on disk it cannot prove harmless: a file that
     * does not hold what its name says is refused, as it was before
     * recycling existed. */
    if (log->o.recovery == FL_RECOVERY_STRICT)
        return damaged_refusal(log, id, "header of another segment (a recycled file's residue?)");
    if (h->first_recno > rv->residue_next)
        rv->residue_next = h->first_recno;
    if (h->segment_id > log->max_id) /* that id is never given again */
        log->max_id = h->segment_id;
    char path[PATH_CAP];
    seg_path(log, id, 0, path, sizeof path);
    int rc = f_unlink(log, path);
    if (rc) {
        set_err(log, "unlink %s: %s", path, fl_strerror(rc));
        return rc;
    }
    rv->dir_dirty = 1;
    char dir[256], fields[512];
    json_escape(dir, sizeof dir, log->dir);
    snprintf(fields, sizeof fields,
             "\"dir\":\"%s\",\"segment\":\"%016llx.seg\",\"header_id\":\"%016llx\"", dir,
             (unsigned long long)id, (unsigned long long)h->segment_id);
    fl_rt_trace(log->rt, "seglog", "recycled_residue", fields);
    if (rv->text_len)
        rep_text(rv, "; ");
    rep_text(rv, "%016llx.seg removed: a recycled file's residue (header of segment %016llx)",
             (unsigned long long)id, (unsigned long long)h->segment_id);
    return 0;
}

/* Whether a code from reading a header says its bytes are bad (rather than
 * that reading them failed). */
static int header_damage(int rc)
{
    return rc == FL_E_TRUNCATED || rc == FL_E_BAD_MAGIC || rc == FL_E_BAD_VERSION ||
           rc == FL_E_CHECKSUM || rc == FL_E_CORRUPT;
}

/* Read the header of segment file `id`; 0 and *h when it is a valid header of
 * this log's kind. */
static int peek_header(fl_seglog *log, uint64_t id, fl_seg_header *h)
{
    char path[PATH_CAP];
    seg_path(log, id, 0, path, sizeof path);
    fl_file *f = NULL;
    uint8_t hb[FL_SEG_HEADER_SIZE];
    int rc = f_open(log, path, FL_FILE_READ, &f);
    if (rc == 0)
        rc = read_full(log, f, 0, hb, sizeof hb);
    f_close(log, f);
    if (rc == 0)
        rc = fl_seg_header_decode(hb, sizeof hb, h);
    if (rc == 0 && h->kind != log->o.kind)
        rc = FL_E_CORRUPT;
    return rc;
}

/* Dead files from before a power loss under none. A segment file whose
 * header is that of a NEWER segment was deleted (renamed to a spare) and
 * reused, and the power loss undid the rename but kept the new header: the
 * owner had deleted it, and with it every older segment (delete_before
 * deletes the oldest first). They are removed without a report before
 * recovery looks at anything (so no record of theirs reaches the owner).
 * *from receives the index of the first segment to recover. */
static int drop_deleted_prefix(recovery *rv, const uint64_t *ids, size_t n, size_t *from)
{
    fl_seglog *log = rv->log;
    *from = 0;
    for (size_t i = n; i-- > 0;) {
        fl_seg_header h;
        int rc = peek_header(log, ids[i], &h);
        if (rc && !header_damage(rc)) {
            set_err(log, "read the header of %016llx.seg: %s", (unsigned long long)ids[i],
                    fl_strerror(rc));
            return rc;
        }
        if (rc == 0 && h.segment_id > ids[i]) {
            *from = i + 1;
            break;
        }
    }
    for (size_t i = 0; i < *from; i++) {
        fl_seg_header h;
        if (peek_header(log, ids[i], &h) != 0)
            memset(&h, 0, sizeof h); /* header_id 0 in the trace */
        int rc = drop_residue(rv, ids[i], &h);
        if (rc)
            return rc;
    }
    return 0;
}

/* Outcome of recovering one segment. */
enum { SEG_KEEP, SEG_SKIP, SEG_STOP };

/* Recover segment `id` (index i of n). On SEG_KEEP it is appended to the
 * list; `*fout` receives its open handle (the caller closes it unless it
 * becomes the active one). */
static int recover_one(recovery *rv, uint64_t id, int is_last, int *outcome, fl_file **fout)
{
    fl_seglog *log = rv->log;
    int mode = log->o.recovery;
    char path[PATH_CAP];
    seg_path(log, id, 0, path, sizeof path);
    fl_file *f = NULL;
    *fout = NULL;
    int rc = f_open(log, path, FL_FILE_READ | FL_FILE_WRITE, &f);
    uint64_t size = 0;
    if (rc == 0)
        rc = f_size(log, f, &size);
    if (rc) {
        f_close(log, f);
        set_err(log, "open %s: %s", path, fl_strerror(rc));
        return rc;
    }

    /* An empty newest file: a creation interrupted before its header. */
    if (size == 0 && is_last) {
        f_close(log, f);
        rc = f_unlink(log, path);
        if (rc)
            return rc;
        rv->dir_dirty = 1;
        *outcome = SEG_SKIP;
        return 0;
    }

    /* header */
    uint8_t hb[FL_SEG_HEADER_SIZE];
    fl_seg_header h;
    rc = read_full(log, f, 0, hb, sizeof hb);
    if (rc == 0 || rc == FL_E_TRUNCATED)
        rc = rc ? rc : fl_seg_header_decode(hb, sizeof hb, &h);
    if (rc == 0 && h.segment_id != id && h.kind == log->o.kind) {
        f_close(log, f);
        *outcome = SEG_SKIP;
        return drop_residue(rv, id, &h);
    }
    if (rc == 0 && h.kind != log->o.kind) {
        f_close(log, f);
        set_err(log, "%s: segment kind %u, expected %u", path, h.kind, log->o.kind);
        return FL_E_CORRUPT;
    }
    if (rc && rc != FL_E_IO && rc != FL_E_NOMEM && rc != FL_E_SHUTDOWN && rc != FL_E_CLOSED) {
        f_close(log, f);
        int torn_creation = is_last && rc == FL_E_TRUNCATED;
        if (mode == FL_RECOVERY_STRICT ||
            (mode == FL_RECOVERY_TOLERATE_TORN_TAIL && !torn_creation))
            return damaged_refusal(log, id, fl_strerror(rc));
        *outcome = mode == FL_RECOVERY_SALVAGE ? SEG_SKIP : SEG_STOP;
        return drop_whole(rv, id, torn_creation ? "torn_header" : "bad_header");
    }
    if (rc) {
        f_close(log, f);
        set_err(log, "read %s: %s", path, fl_strerror(rc));
        return rc;
    }

    /* chain */
    seg *prev = active_seg(log);
    if (prev) {
        fl_seg_header ph = {0};
        ph.kind = (uint16_t)log->o.kind;
        ph.segment_id = prev->id;
        ph.first_recno = prev->first_recno;
        char why[160];
        if (fl_seg_chain_check(&ph, prev->last_recno, &h, why, sizeof why) != 0) {
            if (mode == FL_RECOVERY_STRICT || mode == FL_RECOVERY_TOLERATE_TORN_TAIL) {
                f_close(log, f);
                return damaged_refusal(log, id, why);
            }
            if (mode == FL_RECOVERY_POINT_IN_TIME || h.first_recno <= prev->last_recno) {
                f_close(log, f);
                *outcome = mode == FL_RECOVERY_SALVAGE ? SEG_SKIP : SEG_STOP;
                return drop_whole(rv, id, "chain_break");
            }
            /* salvage: a gap of record numbers (a missing segment or tail) */
            uint64_t gap = h.first_recno - prev->last_recno - 1;
            note_drop(rv, id, 0, 0, gap ? prev->last_recno + 1 : 0, h.first_recno - 1, gap,
                      "chain_break");
        }
        if (!prev->sealed) {
            /* The successor exists, so the predecessor must be finished: write
             * its seal again (the chain check said whether records are
             * missing). */
            if (mode == FL_RECOVERY_STRICT) {
                f_close(log, f);
                return damaged_refusal(log, prev->id, "missing seal");
            }
            fl_file *pf = NULL;
            char ppath[PATH_CAP];
            seg_path(log, prev->id, 0, ppath, sizeof ppath);
            rc = f_open(log, ppath, FL_FILE_READ | FL_FILE_WRITE, &pf);
            if (rc == 0)
                rc = write_seal(log, prev, pf, 1); /* a repair: synced in every mode */
            f_close(log, pf);
            if (rc) {
                f_close(log, f);
                return rc == FL_E_SYNC_FAILED ? FL_E_IO : rc;
            }
        }
    }

    /* records */
    /* dirty: a process crash may have left any of it unsynced (open syncs
     * every segment it keeps) */
    seg s = {id,
             h.salt,
             h.first_recno,
             h.first_recno - 1,
             FL_SEG_HEADER_SIZE,
             0,
             0,
             NULL,
             0,
             0,
             1,
             (h.flags & FL_SEG_FLAG_RECYCLED) != 0};
    rc = index_alloc(&s, size > log->o.segment_size ? size : log->o.segment_size);
    if (rc) {
        f_close(log, f);
        return rc;
    }
    rv->building = &s;
    file_reader r = {log, f};
    fl_scan_opts so = FL_SCAN_OPTS_INIT;
    so.mode = (fl_recovery_mode)mode;
    so.max_payload = log->o.max_record;
    so.read_chunk = READ_CHUNK;
    fl_scan_report sr;
    char why[200] = "";
    rc = fl_seg_scan(reader_fn, &r, &so, scan_record_cb, rv, &sr, why, sizeof why);
    rv->building = NULL;
    if (rv->stop_rc) {
        free(s.idx);
        f_close(log, f);
        set_err(log, "recovery stopped by the record callback (%d)", rv->stop_rc);
        return rv->stop_rc < 0 ? rv->stop_rc : FL_E_STATE;
    }
    if (rc == FL_E_DAMAGED || (rc == 0 && mode == FL_RECOVERY_TOLERATE_TORN_TAIL && sr.damaged &&
                               (!is_last || !only_torn_tail(&sr)))) {
        free(s.idx);
        f_close(log, f);
        return damaged_refusal(log, id, why[0] ? why : "damaged records");
    }
    if (rc) {
        free(s.idx);
        f_close(log, f);
        set_err(log, "scan %s: %s%s%s", path, fl_strerror(rc), why[0] ? ": " : "", why);
        return rc;
    }
    s.last_recno = sr.last_recno;
    s.end = sr.end_offset;
    s.sealed = sr.sealed;
    s.holes = mode == FL_RECOVERY_SALVAGE && loses_records(&sr);
    if (sr.damaged) {
        rc = repair_segment(rv, &s, f, &sr);
        if (rc) {
            free(s.idx);
            f_close(log, f);
            return rc;
        }
    } else if (sr.stale_bytes && (rc = f_truncate(log, f, sr.end_offset)) != 0) {
        /* a recycled file's stale tail: not damage, cut off (synced below
         * with everything open keeps) so no later open sees it */
        free(s.idx);
        f_close(log, f);
        set_err(log, "truncate %s to %llu: %s", path, (unsigned long long)sr.end_offset,
                fl_strerror(rc));
        return rc;
    }
    rv->rep->records_ok += sr.records_ok;
    rc = push_seg(log, &s);
    if (rc) {
        free(s.idx);
        f_close(log, f);
        return rc;
    }
    log->next_recno = s.last_recno + 1;
    *outcome = (mode == FL_RECOVERY_POINT_IN_TIME && loses_records(&sr)) ? SEG_STOP : SEG_KEEP;
    *fout = f;
    return 0;
}

/* A spare may hold the header of a segment created in it whose rename a
 * power loss undid: never give that id again (a reuse whose header write is
 * lost would otherwise show that segment's old records under its name). */
static int spare_max_id(fl_seglog *log, uint64_t id)
{
    char path[PATH_CAP];
    spare_path(log, id, path, sizeof path);
    fl_file *f = NULL;
    uint8_t hb[FL_SEG_HEADER_SIZE];
    fl_seg_header h;
    int rc = f_open(log, path, FL_FILE_READ, &f);
    if (rc == 0)
        rc = read_full(log, f, 0, hb, sizeof hb);
    f_close(log, f);
    if (rc == 0)
        rc = fl_seg_header_decode(hb, sizeof hb, &h);
    if (rc == 0 && h.segment_id > log->max_id)
        log->max_id = h.segment_id;
    if (rc && !header_damage(rc)) {
        set_err(log, "read the header of %s: %s", path, fl_strerror(rc));
        return rc;
    }
    return 0;
}

/* The spare files found at open: with recycling on, the newest `recycle`
 * stay spares (their contents do not matter: a reuse writes a new header
 * and salt); the others, and every one with recycling off, are removed. */
/* When no segment survived, the spares still show how far the numbering
 * went: their records (a salvage scan's last number) were handed out
 * before their segments were deleted, and are never given again. */
static void spare_floor(fl_seglog *log, recovery *rv, uint64_t id)
{
    char path[PATH_CAP];
    spare_path(log, id, path, sizeof path);
    fl_file *f = NULL;
    if (f_open(log, path, FL_FILE_READ, &f) != 0)
        return;
    uint64_t last = salvage_last_recno(log, f);
    f_close(log, f);
    if (last + 1 > rv->residue_next)
        rv->residue_next = last + 1;
}

static int adopt_spares(fl_seglog *log, recovery *rv, uint64_t *ids, size_t n)
{
    size_t keep = 0;
    if (log->nsegs == 0)
        for (size_t i = 0; i < n; i++)
            spare_floor(log, rv, ids[i]);
    if (recycling_on(log)) {
        log->spares = calloc(log->o.recycle, sizeof *log->spares);
        if (!log->spares)
            return FL_E_NOMEM;
        keep = n < log->o.recycle ? n : log->o.recycle;
    }
    if (n)
        qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        if (i >= n - keep) {
            log->spares[log->nspares++] = ids[i];
            int rc = spare_max_id(log, ids[i]);
            if (rc)
                return rc;
            continue;
        }
        char path[PATH_CAP];
        spare_path(log, ids[i], path, sizeof path);
        int rc = f_unlink(log, path);
        if (rc) {
            set_err(log, "unlink %s: %s", path, fl_strerror(rc));
            return rc;
        }
        rv->dir_dirty = 1;
    }
    return 0;
}

static int recover(fl_seglog *log, recovery *rv)
{
    id_list l = {0};
    int rc = log->rt->ops->dir_list(log->rt->self, log->dir, list_cb, &l);
    if (rc == 0)
        rc = l.rc;
    if (rc) {
        free(l.ids);
        free(l.spares);
        set_err(log, "list %s: %s", log->dir, fl_strerror(rc));
        return rc;
    }
    if (l.n)
        qsort(l.ids, l.n, sizeof *l.ids, cmp_u64);
    log->max_id = l.max_id;

    size_t i = 0;
    int stopped = 0;
    rc = drop_deleted_prefix(rv, l.ids, l.n, &i);
    for (; rc == 0 && i < l.n; i++) {
        if (stopped) {
            rc = drop_whole(rv, l.ids[i], "after_damage");
            continue;
        }
        int outcome = SEG_KEEP;
        fl_file *f = NULL;
        rc = recover_one(rv, l.ids[i], i + 1 == l.n, &outcome, &f);
        if (rc)
            break;
        if (f) {
            f_close(log, log->af);
            log->af = f;
        }
        stopped = outcome == SEG_STOP;
    }
    free(l.ids);
    if (rc == 0)
        rc = adopt_spares(log, rv, l.spares, l.ns);
    free(l.spares);
    if (rc)
        return rc;
    if (log->nsegs == 0)
        log->next_recno = 1;
    /* Every file was a residue: keep numbering past what they show was
     * written, so a number is not given again after its segment was deleted
     * (and never past a live segment's: its successor must chain to it). */
    if (log->nsegs == 0 && rv->residue_next > log->next_recno)
        log->next_recno = rv->residue_next;
    /* After a process crash any segment may still be only in the cache
     * (under none nothing syncs a segment when it is sealed): make what
     * recovery read durable, in every mode, so durable_recno is true from
     * the start and a later deletion never loses what was durable. The
     * directory goes last, after the segments it names (under none their
     * creation may never have been synced). */
    log->dir_dirty = rv->dir_dirty || log->nsegs > 0;
    int failed_sync = 0;
    rc = sync_everything(log, &failed_sync);
    if (rc)
        return rc;
    log->notified_recno = log->durable_recno;
    return 0;
}

/* ------------------------------------------------------------------ */
/* open / close                                                         */

int fl_seglog_open(const fl_seglog_options *opts, fl_seglog_record_fn on_record, void *arg,
                   fl_seglog **out, fl_store_recovery *report, char *err, size_t errcap)
{
    fl_store_recovery local;
    if (!report)
        report = &local;
    memset(report, 0, sizeof *report);
    if (!out) {
        copy_err(err, errcap, "out is NULL");
        return FL_E_INVAL;
    }
    *out = NULL;
    int rc = validate_options(opts, err, errcap);
    if (rc)
        return rc;
    fl_seglog *log = calloc(1, sizeof *log);
    if (!log || !(log->dir = strdup(opts->dir))) {
        free(log);
        copy_err(err, errcap, "out of memory");
        return FL_E_NOMEM;
    }
    if (opts->version == 1) { /* before `recycle`: the struct ends there */
        memcpy(&log->o, opts, offsetof(fl_seglog_options, recycle));
        log->o.recycle = 0;
    } else {
        log->o = *opts;
    }
    log->o.version = FL_SEGLOG_OPTIONS_VERSION;
    log->o.dir = log->dir;
    if (log->o.max_record == 0)
        log->o.max_record = FL_RECORD_DEFAULT_MAX;
    log->rt = opts->rt;
    log->next_recno = 1;

    rc = log->rt->ops->dir_create(log->rt->self, log->dir);
    if (rc) {
        set_err(log, "create directory %s: %s", log->dir, fl_strerror(rc));
    } else {
        recovery rv = {log, on_record, arg, 0, NULL, report, 0, 0, 0};
        rc = recover(log, &rv);
    }
    if (rc == 0)
        rc = reserve(&log->rbuf, &log->rcap, READ_CHUNK);
    if (rc == 0)
        rc = reserve(&log->wbuf, &log->wcap, 4096);
    if (rc) {
        copy_err(err, errcap, log->err[0] ? log->err : fl_strerror(rc));
        log->o.on_durable = NULL;
        fl_seglog_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

void fl_seglog_close(fl_seglog *log)
{
    if (!log)
        return;
    seg *a = active_seg(log);
    if (!log->poisoned && a && a->recycled && !log->tail_dirty)
        (void)f_truncate(log, log->af, a->end); /* stale bytes go (best effort) */
    if (!log->poisoned && log->af && log->unsynced && log->o.sync != FL_SYNC_NONE)
        sync_active(log);
    fl_rt_timer_cancel(log->rt, log->batch_timer);
    fl_rt_timer_cancel(log->rt, log->notify_timer);
    f_close(log, log->af);
    for (size_t i = 0; i < log->nsegs; i++)
        free(log->segs[i].idx);
    free(log->segs);
    free(log->spares);
    free(log->wbuf);
    free(log->rbuf);
    free(log->dir);
    free(log);
}

/* ------------------------------------------------------------------ */
/* append / sync / rotate                                               */

static int valid_user_type(unsigned type)
{
    unsigned base = type & ~FL_REC_SAFE_TO_IGNORE;
    return type <= FL_REC_TYPE_MAX && base >= FL_REC_TYPE_USER_MIN;
}

/* Apply the sync policy after a successful write. */
static int after_append(fl_seglog *log)
{
    switch (log->o.sync) {
    case FL_SYNC_ALWAYS: {
        int rc = sync_active(log);
        if (rc)
            return rc;
        schedule_notify(log);
        return 0;
    }
    case FL_SYNC_BATCH:
        if (log->o.batch_count && log->unsynced >= log->o.batch_count) {
            int rc = sync_active(log);
            if (rc)
                return rc;
            schedule_notify(log);
            return 0;
        }
        if (!log->batch_timer && fl_rt_timer_start(log->rt, log->o.batch_window_us, on_batch_timer,
                                                   log, &log->batch_timer) != 0) {
            /* no timer: fall back to syncing now rather than never */
            log->batch_timer = 0;
            int rc = sync_active(log);
            if (rc)
                return rc;
            schedule_notify(log);
        }
        return 0;
    default:
        return 0;
    }
}

/* Total payload of iov[0..n) into *len; 0, or FL_E_INVAL for a NULL piece
 * with bytes or a total above max. */
static int iov_total(const fl_seglog_iov *iov, size_t n, uint32_t max, uint32_t *len)
{
    uint64_t total = 0;
    if (n && !iov)
        return FL_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!iov[i].base && iov[i].len)
            return FL_E_INVAL;
        if (iov[i].len > max || (total += iov[i].len) > max)
            return FL_E_INVAL;
    }
    *len = (uint32_t)total;
    return 0;
}

/* Bring the active segment to a state where a record of `size` bytes can be
 * appended at its end: cut back a failed write, rotate when needed, make
 * room in the write buffer. */
static int prepare_append(fl_seglog *log, size_t size)
{
    if (log->tail_dirty) {
        int rc = f_truncate(log, log->af, active_seg(log)->end);
        if (rc) {
            set_err(log, "cut back after a failed write: %s", fl_strerror(rc));
            return rc;
        }
        log->tail_dirty = 0;
    }
    int rc = maybe_rotate(log, size);
    if (rc)
        return rc;
    return reserve(&log->wbuf, &log->wcap, size);
}

/* Write the record encoded in wbuf[0..size) at the end of the active
 * segment `a` and account for it; on failure the segment is cut back. */
static int write_record(fl_seglog *log, seg *a, size_t size, uint64_t *recno)
{
    int rc = f_write(log, log->af, a->end, log->wbuf, size);
    if (rc) {
        if (f_truncate(log, log->af, a->end))
            log->tail_dirty = 1;
        set_err(log, "append at %016llx.seg@%llu: %s", (unsigned long long)a->id,
                (unsigned long long)a->end, fl_strerror(rc));
        return rc;
    }
    index_note(a, log->next_recno, a->end);
    a->end += size;
    a->last_recno = log->next_recno;
    if (recno)
        *recno = log->next_recno;
    log->next_recno++;
    log->unsynced++;
    return after_append(log);
}

int fl_seglog_appendv(fl_seglog *log, unsigned type, const fl_seglog_iov *iov, size_t n,
                      uint64_t *recno)
{
    if (!log)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    uint32_t len = 0;
    if (!valid_user_type(type) || iov_total(iov, n, log->o.max_record, &len) != 0) {
        set_err(log, "append: bad type %u or payload", type);
        return FL_E_INVAL;
    }
    size_t size = fl_record_size(len);
    int rc = prepare_append(log, size);
    if (rc)
        return rc;
    /* Gather the payload in place; fl_record_encode then only frames it
     * (its copy of the payload onto itself is a no-op). */
    uint8_t *body = log->wbuf + FL_RECORD_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len)
            memcpy(body, iov[i].base, iov[i].len);
        body += iov[i].len;
    }
    seg *a = active_seg(log);
    rc = fl_record_encode(log->wbuf, size, a->salt, log->next_recno, type,
                          log->wbuf + FL_RECORD_HEADER_SIZE, len);
    if (rc)
        return rc;
    return write_record(log, a, size, recno);
}

int fl_seglog_append(fl_seglog *log, unsigned type, const void *payload, uint32_t len,
                     uint64_t *recno)
{
    if (!log)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    if (!valid_user_type(type) || len > log->o.max_record || (!payload && len)) {
        set_err(log, "append: bad type %u or length %u", type, len);
        return FL_E_INVAL;
    }
    size_t size = fl_record_size(len);
    int rc = prepare_append(log, size);
    if (rc)
        return rc;
    seg *a = active_seg(log);
    rc = fl_record_encode(log->wbuf, size, a->salt, log->next_recno, type, payload, len);
    if (rc)
        return rc;
    return write_record(log, a, size, recno);
}

int fl_seglog_sync(fl_seglog *log)
{
    if (!log)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    int failed_sync = 0;
    int rc = sync_everything(log, &failed_sync);
    if (rc)
        return failed_sync ? poison(log, rc, "sync") : rc;
    notify_durable(log);
    return 0;
}

int fl_seglog_rotate(fl_seglog *log)
{
    if (!log)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    return rotate(log);
}

uint64_t fl_seglog_next_recno(const fl_seglog *log)
{
    return log ? log->next_recno : 0;
}

uint64_t fl_seglog_durable_recno(const fl_seglog *log)
{
    return log ? log->durable_recno : 0;
}

uint64_t fl_seglog_first_recno(const fl_seglog *log)
{
    if (!log)
        return 0;
    return log->nsegs ? log->segs[0].first_recno : log->next_recno;
}

/* ------------------------------------------------------------------ */
/* segments, deletion, files                                            */

int fl_seglog_segments(fl_seglog *log, fl_seglog_segment_fn fn, void *arg)
{
    if (!log || !fn)
        return FL_E_INVAL;
    for (size_t i = 0; i < log->nsegs; i++) {
        const seg *s = &log->segs[i];
        fl_seglog_segment out = {s->id, s->first_recno, s->last_recno,
                                 s->id, s->end,         i + 1 == log->nsegs};
        if (fn(arg, &out))
            break;
    }
    return 0;
}

int fl_seglog_delete_before(fl_seglog *log, uint64_t recno)
{
    if (!log)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    size_t k = 0, spared = 0;
    int rc = 0;
    while (k + 1 < log->nsegs && log->segs[k].last_recno < recno) {
        char path[PATH_CAP];
        seg_path(log, log->segs[k].id, 0, path, sizeof path);
        if (recycling_on(log) && log->nspares < log->o.recycle) {
            char sp[PATH_CAP];
            spare_path(log, log->segs[k].id, sp, sizeof sp);
            rc = f_rename(log, path, sp);
            if (rc) {
                set_err(log, "rename %s to a spare: %s", path, fl_strerror(rc));
                break;
            }
            log->spares[log->nspares++] = log->segs[k].id;
            spared++;
        } else {
            rc = f_unlink(log, path);
            if (rc) {
                set_err(log, "unlink %s: %s", path, fl_strerror(rc));
                break;
            }
        }
        k++;
    }
    if (k == 0)
        return rc;
    for (size_t i = 0; i < k; i++)
        free(log->segs[i].idx);
    memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *log->segs);
    log->nsegs -= k;
    if (log->o.sync == FL_SYNC_NONE && spared == 0) {
        log->dir_dirty = 1; /* the owner's next fl_seglog_sync makes it durable */
        return rc;
    }
    /* A spare's rename is made durable before the file can be written over,
     * under none too (one directory sync per recycled segment): otherwise a
     * file system that writes the reused file's pages back before it
     * commits the rename could bring the dead segment back under its old
     * name holding the new segment's records, damage that point_in_time
     * would answer by dropping every later segment. */
    int src = d_sync(log);
    if (src)
        return poison(log, src, "directory sync");
    return rc;
}

typedef struct files_ctx {
    fl_seglog *log;
    fl_store_file_fn fn;
    void *arg;
    int stopped;
} files_ctx;

static int files_cb(void *arg, const char *name)
{
    files_ctx *c = arg;
    if (!parse_seg_name(name, 0) && !parse_seg_name(name, 1))
        return 0;
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", c->log->dir, name);
    if (c->fn(c->arg, path)) {
        c->stopped = 1;
        return 1;
    }
    return 0;
}

int fl_seglog_list_files(fl_seglog *log, fl_store_file_fn fn, void *arg)
{
    if (!log || !fn)
        return FL_E_INVAL;
    files_ctx c = {log, fn, arg, 0};
    return log->rt->ops->dir_list(log->rt->self, log->dir, files_cb, &c);
}

const char *fl_seglog_last_error(const fl_seglog *log)
{
    return log ? log->err : "";
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

typedef struct salvage_read {
    uint64_t from;
    fl_seglog_record_fn fn;
    void *arg;
} salvage_read;

static int salvage_read_cb(void *arg, const fl_record *rec)
{
    salvage_read *sr = arg;
    if (rec->recno < sr->from)
        return 0;
    return sr->fn(sr->arg, rec->recno, rec->type, rec->payload, rec->len) ? 1 : 0;
}

/* Read a segment that salvage left with damaged regions: the scanner skips
 * them again. */
static int read_segment_salvage(fl_seglog *log, fl_file *f, uint64_t from, fl_seglog_record_fn fn,
                                void *arg)
{
    file_reader r = {log, f};
    fl_scan_opts so = FL_SCAN_OPTS_INIT;
    so.mode = FL_RECOVERY_SALVAGE;
    so.max_payload = log->o.max_record;
    so.read_chunk = READ_CHUNK;
    fl_scan_report rep;
    salvage_read ctx = {from, fn, arg};
    int rc = fl_seg_scan(reader_fn, &r, &so, salvage_read_cb, &ctx, &rep, NULL, 0);
    return rc == 1 ? 1 : rc;
}

/* Read the records of segment s with number >= from. Returns 0 at the end of
 * the segment, 1 when fn stopped, or a negative code. */
static int read_segment(fl_seglog *log, const seg *s, fl_file *f, uint64_t from,
                        fl_seglog_record_fn fn, void *arg)
{
    uint64_t expect = 0;
    uint64_t fpos = index_find(s, from, &expect); /* file offset of rbuf[have] */
    size_t have = 0, pos = 0;
    unsigned nreads = 0;
    while (fpos - have + pos < s->end) {
        size_t avail = have - pos;
        fl_record rec;
        int rc = avail >= FL_RECORD_HEADER_SIZE
                     ? fl_record_decode(log->rbuf + pos, avail, s->salt, log->o.max_record, &rec)
                     : FL_E_TRUNCATED;
        if (rc == FL_E_TRUNCATED && fpos < s->end) {
            size_t need = FL_RECORD_HEADER_SIZE;
            if (avail >= FL_RECORD_HEADER_SIZE) {
                uint32_t len = fl_load_be32(log->rbuf + pos + 8);
                if (len > log->o.max_record)
                    goto corrupt;
                need = fl_record_size(len);
            }
            memmove(log->rbuf, log->rbuf + pos, avail);
            have = avail;
            pos = 0;
            rc = reserve(&log->rbuf, &log->rcap, need > READ_CHUNK ? need : READ_CHUNK);
            if (rc)
                return rc;
            uint64_t left = s->end - fpos;
            size_t want = log->rcap - have;
            /* The first read only needs to reach past the wanted record (an
             * index point is at most one stride before it); a long read
             * continues with full chunks. */
            if (nreads++ == 0 && want > INDEX_STRIDE && need <= INDEX_STRIDE)
                want = INDEX_STRIDE;
            if (want > left)
                want = (size_t)left;
            size_t n = 0;
            rc = f_read(log, f, fpos, log->rbuf + have, want, &n);
            if (rc)
                return rc;
            if (n == 0)
                goto corrupt;
            have += n;
            fpos += n;
            continue;
        }
        if (rc)
            goto corrupt;
        if (rec.type == FL_REC_SEAL)
            return 0;
        if (rec.recno < expect)
            goto corrupt;
        expect = rec.recno + 1;
        pos += fl_record_size(rec.len);
        if (rec.recno >= from && fn(arg, rec.recno, rec.type, rec.payload, rec.len))
            return 1;
    }
    return 0;
corrupt:
    set_err(log, "read %016llx.seg@%llu: record does not verify", (unsigned long long)s->id,
            (unsigned long long)(fpos - have + pos));
    return FL_E_CORRUPT;
}

int fl_seglog_read(fl_seglog *log, uint64_t from_recno, fl_seglog_record_fn fn, void *arg)
{
    if (!log || !fn)
        return FL_E_INVAL;
    if (log->poisoned)
        return FL_E_SYNC_FAILED;
    if (from_recno == 0)
        from_recno = 1;
    if (from_recno < fl_seglog_first_recno(log)) {
        set_err(log, "record %llu was deleted (oldest is %llu)", (unsigned long long)from_recno,
                (unsigned long long)fl_seglog_first_recno(log));
        return FL_E_NOT_FOUND;
    }
    /* the last segment whose first record number is <= from_recno */
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid].first_recno <= from_recno)
            lo = mid;
        else
            hi = mid;
    }
    for (size_t i = lo; i < log->nsegs; i++) {
        const seg *s = &log->segs[i];
        if (s->last_recno < from_recno || s->last_recno < s->first_recno)
            continue;
        fl_file *f = log->af;
        int rc = 0;
        if (i + 1 != log->nsegs) {
            char path[PATH_CAP];
            seg_path(log, s->id, 0, path, sizeof path);
            rc = f_open(log, path, FL_FILE_READ, &f);
            if (rc) {
                set_err(log, "open %s: %s", path, fl_strerror(rc));
                return rc;
            }
        }
        rc = s->holes ? read_segment_salvage(log, f, from_recno, fn, arg)
                      : read_segment(log, s, f, from_recno, fn, arg);
        if (f != log->af)
            f_close(log, f);
        if (rc)
            return rc < 0 ? rc : 0;
    }
    return 0;
}
