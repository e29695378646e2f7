/* A segmented, checksummed append-only log over the runtime file layer.
 *
 * The one piece of storage code shared by the broker's transaction log
 * (simulator/journal.c) and the file-backed stores (client/pubstore_file.c,
 * client/bmstore_file.c). It owns one directory of segment files named
 * "<segment id as 16 hex digits>.seg", each in the record format of
 * faultline/record.h (segment header with salt and predecessor info, records
 * with masked CRC32C, gapless record numbers, a seal record when a segment is
 * finished).
 *
 * Opening runs recovery: every segment is scanned in id order with the
 * configured recovery mode; each good record is handed to the owner's
 * callback so it can rebuild its in-memory index; damage is reported
 * (fl_store_recovery), the damaged bytes are copied to
 * "<segment>.quarantine", and a damaged tail is truncated and synced before
 * any new append. A mode that refuses the damage makes open fail with
 * FL_E_DAMAGED.
 *
 * Sync policy (who makes appends durable and when):
 *   FL_SYNC_ALWAYS  each append is synced before fl_seglog_append returns;
 *   FL_SYNC_BATCH   appends are synced together when the batch window (a
 *                   runtime timer armed by the first unsynced append) fires,
 *                   or at once when batch_count unsynced appends pile up;
 *   FL_SYNC_NONE    the log never syncs on its own: not on append, not at
 *                   rotation, not when it creates or deletes a segment, not
 *                   at close. Only fl_seglog_sync syncs, and it makes every
 *                   append so far durable (every segment sealed since the
 *                   last sync, the active one, then the directory).
 *                   Everything survives a process crash (appends, seals,
 *                   creations and deletions are all in the OS before the
 *                   call returns); after a power loss only what the last
 *                   fl_seglog_sync covered is certain, and any segment may
 *                   come back damaged, cut short, empty or missing (a
 *                   deleted one may come back). Recovery still never yields
 *                   a damaged record in any mode and reports (and
 *                   quarantines) what it dropped; strict and
 *                   tolerate_torn_tail may then refuse to open with
 *                   FL_E_DAMAGED, as they do for any damage they refuse.
 * After every successful sync the owner's on_durable callback (from the
 * runtime loop, never inside an fl_seglog call except fl_seglog_sync itself
 * — see its contract) learns the highest durable record number. Under
 * always and batch, creating, rotating and deleting segments also syncs the
 * sealed segment and the directory. Open syncs what recovery kept, and its
 * repairs, in every mode. A failed sync
 * poisons the log: every later call returns FL_E_SYNC_FAILED; close and
 * reopen (recovery) is the only way on.
 *
 * Recycling (opts.recycle, off by default): dead segment files are kept as
 * "<id>.spare" and written over by later rotations instead of unlinked and
 * created afresh (faster under every policy); their stale bytes are never
 * taken for damage. Off under FL_RECOVERY_STRICT. See seglog.c's design
 * note for every crash point.
 *
 * Record numbers start at 1, are gapless and are never reused, even after
 * every older segment has been deleted: the active (newest) segment is never
 * deleted, and its header carries the predecessor's last record number.
 */
#ifndef FAULTLINE_SEGLOG_H
#define FAULTLINE_SEGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"
#include "faultline/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_seglog fl_seglog;

typedef enum fl_sync_policy {
    FL_SYNC_ALWAYS = 0,
    FL_SYNC_BATCH = 1,
    FL_SYNC_NONE = 2,
} fl_sync_policy;

/* "always" / "batch" / "none" <-> enum; parse returns FL_E_INVAL. */
int fl_sync_policy_parse(const char *s, fl_sync_policy *out);
const char *fl_sync_policy_name(fl_sync_policy p);

/* A good record found by recovery or by a read. `payload` is borrowed for
 * the duration of the call. Return non-zero to stop the iteration. */
typedef int (*fl_seglog_record_fn)(void *arg, uint64_t recno, unsigned type, const uint8_t *payload,
                                   size_t len);

/* Everything up to and including `recno` is durable. */
typedef void (*fl_seglog_durable_fn)(void *arg, uint64_t recno);

/* 2 added `recycle`; a version-1 struct (without it) is still accepted
 * and read as recycle = 0. */
#define FL_SEGLOG_OPTIONS_VERSION 2
typedef struct fl_seglog_options {
    int version;             /* FL_SEGLOG_OPTIONS_VERSION */
    const fl_runtime *rt;    /* file layer, clock (segment age), PRNG (salts), timers */
    const char *dir;         /* the log's directory (created if missing) */
    unsigned kind;           /* segment kind, from record.h */
    uint64_t segment_size;   /* rotate when a segment reaches this many bytes */
    uint64_t segment_age_us; /* ... or this age (0: no age limit) */
    int recovery;            /* recovery mode, from record.h */
    fl_sync_policy sync;
    uint64_t batch_window_us; /* FL_SYNC_BATCH: sync this long after the first unsynced append */
    uint32_t batch_count;     /* FL_SYNC_BATCH: ... or once this many are unsynced (0: no limit) */
    uint32_t max_record;      /* largest payload accepted and believed when scanning */
    fl_seglog_durable_fn on_durable; /* may be NULL */
    void *arg;                       /* for on_durable */
    /* Dead segment files kept as spares for reuse, at most FL_SEGLOG_MAX_RECYCLE
     * (0: delete_before unlinks them, rotation creates fresh files). Used
     * only under point_in_time and salvage (see "Recycling" in seglog.c's
     * design note). Since version 2. */
    uint32_t recycle;
} fl_seglog_options;

#define FL_SEGLOG_MAX_RECYCLE 64

#define FL_SEGLOG_OPTIONS_INIT                                                                     \
    {                                                                                              \
        FL_SEGLOG_OPTIONS_VERSION, NULL, NULL, 0, 64ull << 20, 3600000000ull, 0, FL_SYNC_BATCH,    \
            1000, 0, 16u << 20, NULL, NULL, 0                                                      \
    }

/* Open (or create) the log in opts->dir and recover it: on_record is called
 * for every good record, oldest first (it may be NULL). `report` (may be
 * NULL) receives what recovery dropped. On failure nothing stays allocated
 * and err (may be NULL) holds the reason; records already passed to
 * on_record must then be discarded (strict and tolerate_torn_tail find some
 * damage only after yielding earlier records). A non-zero return from
 * on_record aborts the open: it returns that value if negative, else
 * FL_E_STATE. What each mode does with each kind of damage, and the
 * quarantine file naming ("<id>.seg.quarantine"), are in seglog.c's design
 * note. No segment file is created until the first append. */
int fl_seglog_open(const fl_seglog_options *opts, fl_seglog_record_fn on_record, void *arg,
                   fl_seglog **out, fl_store_recovery *report, char *err, size_t errcap);

/* Close: sync per policy (always/batch: everything; none: nothing), free.
 * NULL is a no-op. No callback runs after it returns. */
void fl_seglog_close(fl_seglog *log);

/* Append one record; *recno (may be NULL) receives its number. Rotates
 * first when the active segment is full or old. Durability per policy.
 * FL_E_INVAL for type 0 or a payload over max_record; FL_E_NOSPC / FL_E_IO
 * from the file layer (the log is unchanged: a partial write is cut back). */
int fl_seglog_append(fl_seglog *log, unsigned type, const void *payload, uint32_t len,
                     uint64_t *recno);

/* One piece of a record payload, for fl_seglog_appendv. */
typedef struct fl_seglog_iov {
    const void *base; /* may be NULL when len is 0 */
    size_t len;
} fl_seglog_iov;

/* As fl_seglog_append, with the payload given as the concatenation of
 * iov[0..n): the pieces are copied once, straight into the encoded record
 * (no intermediate buffer in the caller), and the record still goes to the
 * file in one write. FL_E_INVAL also for a piece with base NULL and len > 0,
 * or pieces adding up to more than max_record. */
int fl_seglog_appendv(fl_seglog *log, unsigned type, const fl_seglog_iov *iov, size_t n,
                      uint64_t *recno);

/* Make every append so far durable now, whatever the policy (under none
 * that includes the segments sealed since the last sync and the directory
 * entries created or removed since); calls on_durable before returning when
 * something new became durable. A sealed segment that cannot be opened to
 * sync it returns the file layer's code (nothing poisoned); a failed sync
 * poisons the log. */
int fl_seglog_sync(fl_seglog *log);

/* Seal the active segment and start a new one (synced per policy, as an
 * append's rotation). */
int fl_seglog_rotate(fl_seglog *log);

/* Number the next append will get, and the highest durable one. */
uint64_t fl_seglog_next_recno(const fl_seglog *log);
uint64_t fl_seglog_durable_recno(const fl_seglog *log);

/* The lowest record number still readable: the oldest segment's first
 * record number (next_recno when the log has no segment yet). */
uint64_t fl_seglog_first_recno(const fl_seglog *log);

/* One segment as listed by fl_seglog_segments. */
typedef struct fl_seglog_segment {
    uint64_t id;
    uint64_t first_recno; /* first record number it may hold */
    uint64_t last_recno;  /* last record it holds (first_recno - 1 if empty) */
    uint64_t created_us;  /* runtime time when created: the id is max(previous
                             id + 1, runtime now) at creation, see seglog.c */
    uint64_t bytes;
    int active; /* the segment appends go to */
} fl_seglog_segment;

typedef int (*fl_seglog_segment_fn)(void *arg, const fl_seglog_segment *seg);

/* List the segments, oldest first. */
int fl_seglog_segments(fl_seglog *log, fl_seglog_segment_fn fn, void *arg);

/* Delete every segment whose records are all below `recno` (never the
 * active one); the directory is synced (under none: by the next
 * fl_seglog_sync). Used for retention and pruning. With opts.recycle (not
 * strict) a deleted segment's file is renamed to "<id>.spare" while fewer
 * than `recycle` spares exist, and the next rotation writes over it. */
int fl_seglog_delete_before(fl_seglog *log, uint64_t recno);

/* Read records with number >= from_recno, in order, calling fn until it
 * returns non-zero (the read then returns 0) or the end is reached. Reads
 * through the file layer in large chunks; it sees every appended record,
 * synced or not. A record that no longer verifies (damaged after open) ends
 * the read with FL_E_CORRUPT. from_recno below fl_seglog_first_recno (its
 * segment was deleted) is FL_E_NOT_FOUND; 0 means 1; at or past next_recno
 * reads nothing. Record numbers lost to salvage are skipped. fn must not
 * call other fl_seglog functions on this log. */
int fl_seglog_read(fl_seglog *log, uint64_t from_recno, fl_seglog_record_fn fn, void *arg);

/* Last error detail ("" if none). Never NULL. */
const char *fl_seglog_last_error(const fl_seglog *log);

/* List the log's files (segments and quarantine files; not spares, which
 * hold no data) in name order, as paths including opts->dir. */
int fl_seglog_list_files(fl_seglog *log, fl_store_file_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
