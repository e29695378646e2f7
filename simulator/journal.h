/* The simulated broker's transaction log (journal).
 *
 * A journal is an fl_seglog (faultline/seglog.h: segment files of
 * checksummed records, rotation by size or age, recovery modes, group
 * commit) holding one record per journaled message:
 *
 *     topic, publisher id, publisher sequence, receipt timestamp (UTC us),
 *     origin (the broker instance it was first published to, "" for this
 *     one) and the origin's record number, payload
 *
 * plus an in-memory view rebuilt by recovery at open and kept up to date by
 * every append and retention run:
 *   - every retained message, in record-number order (replay, lookups and
 *     the checkers' ground truth read this, never the files: a real broker
 *     would serve replays from its page cache; the files are for recovery);
 *   - per publisher: the highest sequence ever logged (dedupe), the highest
 *     sequence removed by retention, and (sequence, record number) of every
 *     retained message (bookmark lookup);
 *   - per origin: the highest origin record number held (replication resume).
 *
 * Retention removes whole segments whose newest message is older than a
 * cut-off, never the active segment and never a record at or above a
 * caller-given floor (records still needed for a replay or a replication).
 * Before deleting, it appends a "high-water" record carrying each
 * publisher's highest and highest-deleted sequence, so dedupe and expiry
 * survive a restart even when every message of a publisher is gone.
 *
 * A failed sync (file or directory) is fatal for the journal handle, as
 * DESIGN.md says of every store: the seglog is poisoned, every later
 * append / sync / retention returns FL_E_SYNC_FAILED, and the owner learns
 * it from on_failed (from the runtime loop, once) even when the sync ran in
 * the group-commit timer. The owner closes the journal and opens it again
 * (recovery); the in-memory view stays readable until it closes.
 *
 * Ownership: strings in sim_journal_msg are borrowed for the call (append)
 * or point into the journal (reads; valid until the next append, retention
 * or close). No global state; everything goes through the runtime given in
 * the options.
 */
#ifndef SIM_JOURNAL_H
#define SIM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/bookmark.h"
#include "faultline/record.h"
#include "faultline/runtime.h"
#include "faultline/store.h"

typedef struct sim_journal sim_journal;

/* Record types in the journal's segments. */
#define SIM_JREC_MESSAGE   (FL_REC_TYPE_USER_MIN + 0)
#define SIM_JREC_HIGHWATER (FL_REC_TYPE_USER_MIN + 1)

/* One journaled message. */
typedef struct sim_journal_msg {
    uint64_t recno; /* set by the journal (ignored by append) */
    const char *topic;
    size_t topic_len;
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;      /* broker receipt time (the origin's, for replicated messages) */
    const char *origin; /* "" (or NULL with origin_len 0): published to this instance */
    size_t origin_len;
    uint64_t origin_recno; /* the origin's record number; 0 for local messages */
    const uint8_t *payload;
    size_t payload_len;
} sim_journal_msg;

/* Everything up to and including `recno` is durable. */
typedef void (*sim_journal_durable_fn)(void *arg, uint64_t recno);

/* A sync failed: the journal is unusable for writing (`error` is
 * FL_E_SYNC_FAILED); close it and open it again. */
typedef void (*sim_journal_failed_fn)(void *arg, int error);

#define SIM_JOURNAL_OPTIONS_VERSION 1
typedef struct sim_journal_options {
    int version;             /* SIM_JOURNAL_OPTIONS_VERSION */
    const fl_runtime *rt;    /* files, clock, PRNG (salts), timers, trace */
    const char *dir;         /* directory of the segment files */
    uint64_t segment_size;   /* rotate at this many bytes */
    uint64_t segment_age_us; /* ... or this age (0: none) */
    fl_recovery_mode recovery;
    uint64_t sync_interval_us;         /* group-commit window; 0: sync on the next loop turn */
    uint32_t max_record;               /* largest record payload (0: 16 MiB) */
    sim_journal_durable_fn on_durable; /* may be NULL; runs from the runtime loop */
    void *arg;
    const char *trace_source; /* history source name; NULL: "journal" */
    /* may be NULL; runs from the runtime loop, at most once per open
     * journal, never after sim_journal_close; gets `arg` */
    sim_journal_failed_fn on_failed;
} sim_journal_options;

#define SIM_JOURNAL_OPTIONS_INIT                                                                   \
    {                                                                                              \
        SIM_JOURNAL_OPTIONS_VERSION, NULL, "journal", 64ull << 20, 3600000000ull,                  \
            FL_RECOVERY_POINT_IN_TIME, 0, 0, NULL, NULL, NULL, NULL                                \
    }

/* Open (creating if needed) and recover the journal in opts->dir with the
 * configured recovery mode, rebuilding the in-memory view. What recovery
 * dropped goes into *report (may be NULL) and is traced (the seglog traces
 * each dropped region; the journal traces a summary). FL_E_DAMAGED when the
 * mode refuses the damage; on failure nothing stays allocated and err (may
 * be NULL) says why. */
int sim_journal_open(const sim_journal_options *opts, sim_journal **out, fl_store_recovery *report,
                     char *err, size_t errcap);

/* Close: sync what the policy promises, free everything. NULL is a no-op.
 * Safe on a dead simulation runtime (every seam call is then a no-op), which
 * is how an abandoned broker frees its journal. */
void sim_journal_close(sim_journal *j);

/* Append one message (m->recno ignored); *recno (may be NULL) receives its
 * record number. Durable after the sync window (on_durable reports it).
 * Does not deduplicate: the caller checks sim_journal_highest_seq first.
 * FL_E_INVAL for a topic or origin over 65535 bytes or an empty topic;
 * errors of fl_seglog_append (the journal is then unchanged). */
int sim_journal_append(sim_journal *j, const sim_journal_msg *m, uint64_t *recno);

/* Make every append durable now (on_durable runs before it returns).
 * FL_E_SYNC_FAILED once a sync has failed (the journal is then poisoned). */
int sim_journal_sync(sim_journal *j);

/* Seal the active segment and start a new one (writes, syncs the files and
 * the directory). The broker does it after a reopen, as RocksDB starts a new
 * WAL on every open: it proves the disk takes writes and syncs again before
 * clients are let back in. Errors of fl_seglog_rotate. */
int sim_journal_rotate(sim_journal *j);

/* 0, or FL_E_SYNC_FAILED when a sync of this journal has failed. */
int sim_journal_failed(const sim_journal *j);

/* Record numbers: the next append's, the highest durable one, the oldest
 * retained one (next_recno when nothing is retained). */
uint64_t sim_journal_next_recno(const sim_journal *j);
uint64_t sim_journal_durable_recno(const sim_journal *j);
uint64_t sim_journal_first_recno(const sim_journal *j);

/* Number of retained messages. */
size_t sim_journal_count(const sim_journal *j);

/* The message with record number `recno`: 0 or FL_E_NOT_FOUND. */
int sim_journal_get(const sim_journal *j, uint64_t recno, sim_journal_msg *out);

/* Call fn for every retained message with record number >= from_recno, in
 * order, until it returns non-zero (iterate then returns 0). fn must not
 * append to or prune the journal. */
typedef int (*sim_journal_msg_fn)(void *arg, const sim_journal_msg *m);
int sim_journal_iterate(const sim_journal *j, uint64_t from_recno, sim_journal_msg_fn fn,
                        void *arg);

/* Batch form of iterate for replays: from *cursor, call fn for up to
 * `max` messages; *cursor becomes the record number after the last one
 * visited (next_recno at the end). Returns the number visited. */
size_t sim_journal_read_batch(const sim_journal *j, uint64_t *cursor, size_t max,
                              sim_journal_msg_fn fn, void *arg);

/* Highest sequence ever logged for `publisher` (0: none), across retention
 * and restarts. */
uint64_t sim_journal_highest_seq(const sim_journal *j, uint64_t publisher);

/* Record number of the retained message (publisher, sequence):
 * 0 or FL_E_NOT_FOUND. */
int sim_journal_find(const sim_journal *j, uint64_t publisher, uint64_t sequence, uint64_t *recno);

/* The highest sequence of `publisher` whose message satisfies ok(arg,
 * recno), scanning its retained messages newest first (messages already
 * removed by retention count as satisfying it). 0 when none. */
typedef bool (*sim_journal_recno_pred)(void *arg, uint64_t recno);
uint64_t sim_journal_highest_seq_where(const sim_journal *j, uint64_t publisher,
                                       sim_journal_recno_pred ok, void *arg);

/* Highest origin record number held from `origin` (0: none). */
uint64_t sim_journal_origin_recno(const sim_journal *j, const char *origin);

/* Where a replay from a bookmark point starts. */
typedef enum sim_jloc {
    SIM_JLOC_FOUND = 0,   /* *recno: the first record to read */
    SIM_JLOC_EXPIRED = 1, /* messages after the point were removed by retention */
    SIM_JLOC_UNKNOWN = 2, /* the log knows nothing of the point (AMPS: start at the end) */
} sim_jloc;

/* Resolve one point to a start position:
 *   EPOCH, RECENT   the oldest retained record;
 *   NOW             next_recno;
 *   EXACT           the record after the message (inclusive: the message
 *                   itself); a sequence above the publisher's highest, or
 *                   an unknown publisher without a timestamp: UNKNOWN; a
 *                   message removed with later ones of its publisher:
 *                   EXPIRED; unknown publisher with a timestamp: as TIMESTAMP;
 *   TIMESTAMP       the first record that may have ts >= point (filter the
 *                   rest exactly); EXPIRED if retention removed a message
 *                   with ts >= point. */
sim_jloc sim_journal_locate(const sim_journal *j, const fl_bookmark *point, bool inclusive,
                            uint64_t *recno);

/* Remove every whole segment (never the active one) whose newest message is
 * older than cutoff_us and whose records are all below floor_recno; then
 * drop those messages from the view. *removed (may be NULL) receives the
 * number of messages removed. Traced ("retention"). */
int sim_journal_retain(sim_journal *j, int64_t cutoff_us, uint64_t floor_recno, uint64_t *removed);

/* Number of segment files and the last error's detail ("" if none). */
size_t sim_journal_segment_count(sim_journal *j);
const char *sim_journal_last_error(const sim_journal *j);

#endif
