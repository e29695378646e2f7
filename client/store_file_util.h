/* Internal core shared by the file publish and bookmark stores
 * (pubstore_file.c, bmstore_file.c): the option parser (the built-in keys of
 * store_util.h plus segment_size), the mapping onto seglog options, the
 * open sequence (env checks, options, seglog recovery, the recovery report
 * and its "recovery_drop" trace), error text, the poison-on-failed-sync
 * rule, the treatment of records with a good checksum but an unusable body,
 * flush and file listing. Not installed; include as "store_file_util.h"
 * from client/ sources only.
 *
 * Each store embeds an fl__file_store (its seglog, options, scratch buffer,
 * error text, poison) and describes itself with a constant fl__file_kind;
 * the record formats and in-memory state stay in the store's own file.
 *
 * The reservation file (kinds that set reserve_name; the file publish
 * store's "reserve"): a tiny file next to the segments holding one number,
 * "everything up to R may have been handed out", which the store raises
 * durably before it hands out anything above R (one write and one file sync
 * per raise, never a sync of the log). Layout: two slots of 20 bytes
 * at offsets 0 and 512 (different sectors), each
 *   magic u32 "FLRV", version u32 (1), upto u64, masked CRC32C u32 of the
 *   first 16 bytes (all big-endian);
 * a raise overwrites the slot NOT holding the current value, so an
 * interrupted write (torn, or lost with the power) never destroys the last
 * durable value; open takes the highest valid slot. The file is created
 * whole (both slots) as "<name>.tmp", synced, renamed and the directory
 * synced, so a "<name>" file always had a durable valid slot. At open:
 *   - no file: no reservation (stores created before the file existed, or
 *     that never reserved); a leftover "<name>.tmp" is removed;
 *   - one valid slot: the other is an interrupted write, whose raise was
 *     never relied upon: not damage, not reported, in every mode;
 *   - no valid slot (media damage, or a file written by something else):
 *     strict and tolerate_torn_tail refuse to open (FL_E_DAMAGED, nothing
 *     changed on disk); point_in_time and salvage copy the file to
 *     "<name>.quarantine", take recovered_last(arg) + reserve_fallback as
 *     the reservation, write it at once (a fresh file, as above) and report
 *     it in the recovery report (one record dropped, the text says from
 *     what to what last_sequence was raised). That is safe as long as fewer
 *     than reserve_fallback numbers were handed out above what the log
 *     kept; the store cannot know more once the file is gone.
 *
 * Option keys: sync, batch_window, recovery, capacity (store_util.h) and
 *   segment_size=<bytes>   decimal >= 4096, the size at which segments
 *                          rotate; default per kind
 *   recycle=<n>            decimal 0..FL_SEGLOG_MAX_RECYCLE, dead segment
 *                          files kept as spares and written over by the
 *                          next rotations (0: unlink them); default per
 *                          kind; recovery=strict never recycles
 * Errors as fl__store_options_parse_ex: FL_E_INVAL (unknown key, bad or
 * small segment_size, recycle out of range, ...) or FL_E_OVERFLOW, with
 * detail in err.
 */
#ifndef FAULTLINE_STORE_FILE_UTIL_H
#define FAULTLINE_STORE_FILE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/buf.h"
#include "faultline/seglog.h"
#include "faultline/store.h"

/* The options of a file store, in seglog terms. */
typedef struct fl__file_opts {
    fl_sync_policy sync;
    uint64_t batch_window_us;
    int recovery;          /* fl_recovery_mode */
    uint64_t capacity;     /* bytes; 0: unlimited (stores may ignore it) */
    uint64_t segment_size; /* rotate at this many bytes */
    uint32_t max_record;   /* largest record payload written or believed */
    uint32_t recycle;      /* dead segment files kept for reuse (seglog) */
} fl__file_opts;

/* What distinguishes one kind of file store from another. */
typedef struct fl__file_kind {
    const char *what;      /* message prefix: "pubstore file" */
    const char *source;    /* trace source: "pubstore" */
    unsigned seg_kind;     /* FL_SEG_KIND_* of its segments */
    uint64_t segment_size; /* default segment_size */
    uint32_t max_record;   /* max_record (no option sets it) */
    uint32_t recycle;      /* default recycle */
    /* The reservation file (see above), or NULL for a kind without one. */
    const char *reserve_name;
    /* With reserve_name: the highest number the recovered log shows handed
     * out (called once, after the seglog's recovery, with open's arg), and
     * what is added to it when the reservation file is damaged. */
    uint64_t (*recovered_last)(void *arg);
    uint64_t reserve_fallback;
} fl__file_kind;

#define FL__FILE_ERR_CAP 256

/* The part every file store has. Embedded in each store; zeroed by the
 * store's calloc, then set up by fl__file_store_open. */
typedef struct fl__file_store {
    const fl__file_kind *kind;
    const fl_runtime *rt;
    fl_seglog *log;
    fl__file_opts opts;
    int poison;           /* FL_E_SYNC_FAILED once a sync failed */
    bool strict;          /* recovery=strict: a malformed record fails open */
    uint64_t bad_records; /* malformed records dropped by recovery */
    fl_buf scratch;       /* record encoding buffer */
    char err[FL__FILE_ERR_CAP];
    /* the reservation file (kinds with reserve_name) */
    fl_file *resv_file; /* open handle, NULL while the file does not exist */
    uint64_t resv_upto; /* its value: the highest valid slot; 0 if none */
    unsigned resv_slot; /* the slot holding resv_upto (raises write the other) */
    char *resv_path;    /* "<dir>/<reserve_name>" */
} fl__file_store;

/* Parse an option string for `kind` into *out (defaults: store_util.h's,
 * and the kind's segment_size and max_record). 0, or FL_E_INVAL /
 * FL_E_OVERFLOW with detail in err (may be NULL); *out is unspecified on
 * failure. */
int fl__file_opts_parse(const fl__file_kind *kind, const char *text, fl__file_opts *out, char *err,
                        size_t errcap);

/* The seglog options for opts in env->dir: no segment age, no batch count,
 * no durability callback. o is first set to FL_SEGLOG_OPTIONS_INIT. */
void fl__file_seglog_options(const fl__file_kind *kind, const fl__file_opts *opts,
                             const fl_store_env *env, fl_seglog_options *o);

/* Check the arguments of a store's open(): a valid env with a runtime and a
 * dir, and self_out. 0, or FL_E_INVAL / FL_E_BAD_VERSION with detail. */
int fl__file_store_check_open(const fl__file_kind *kind, const fl_store_env *env, void **self_out,
                              char *err, size_t errcap);

/* Open fs (zeroed, embedded in its store): parse env->options, open and
 * recover the seglog, passing every good record to on_record(arg, ...),
 * fold the malformed records counted in fs->bad_records into the report,
 * trace ("<kind source>", "recovery_drop") when anything was dropped, and
 * copy the report to *recovery (may be NULL). On failure err holds the
 * reason (for FL_E_DAMAGED the store's own text when fs->err has one) and
 * fs owns nothing; the caller frees its store. */
int fl__file_store_open(fl__file_store *fs, const fl__file_kind *kind, const fl_store_env *env,
                        fl_seglog_record_fn on_record, void *arg, fl_store_recovery *recovery,
                        char *err, size_t errcap);

/* With kind->reserve_name, open also loads the reservation file (see
 * above) into fs->resv_upto; damage follows the table above (FL_E_DAMAGED
 * with the reason in err under strict and tolerate_torn_tail). */

/* Close the seglog (syncing per policy), the reservation file, and free
 * the scratch buffer. The store frees itself. */
void fl__file_store_close(fl__file_store *fs);

/* err = "<what prefix>: <what>: <strerror(rc)>[: <seglog detail>]". */
void fl__file_store_set_err(fl__file_store *fs, const char *what, int rc);

/* Record an error from the seglog and return rc; FL_E_SYNC_FAILED also
 * poisons the handle (every later mutating call returns it). */
int fl__file_store_fail(fl__file_store *fs, const char *what, int rc);

/* For a store's recovery callback: `rc` is what applying record `recno`
 * gave. FL_E_NOMEM is returned as is (open fails); another error means a
 * record with a good checksum but a body the store cannot use (written by
 * something else): strict returns FL_E_DAMAGED with the reason in fs->err,
 * the other modes count it in fs->bad_records and return 0. 0 stays 0. */
int fl__file_store_on_bad_record(fl__file_store *fs, uint64_t recno, unsigned type, size_t len,
                                 int rc);

/* Append the scratch buffer as one record of `type` (*recno may be NULL).
 * On failure the error is recorded as by fl__file_store_fail(what). */
int fl__file_store_append_scratch(fl__file_store *fs, unsigned type, const char *what,
                                  uint64_t *recno);

/* Raise the reservation to `upto` (> fs->resv_upto) durably: on return 0
 * the value survives a crash or a power loss. The first raise creates the
 * file (a file sync and a directory sync), later ones write one slot and
 * sync the file. FL_E_SYNC_FAILED (the handle is poisoned, the value may
 * or may not be durable), or another error (FL_E_IO, FL_E_NOSPC, ...:
 * fs->resv_upto unchanged, the file still holds it), detail in fs->err. */
int fl__file_store_reserve(fl__file_store *fs, uint64_t upto);

/* The stores' flush(), list_files() and last_error(). list_files names the
 * seglog's files, then the reservation file and its quarantine copy when
 * they exist. */
int fl__file_store_flush(fl__file_store *fs);
int fl__file_store_list_files(fl__file_store *fs, fl_store_file_fn fn, void *arg);
const char *fl__file_store_last_error(const fl__file_store *fs);

#endif
