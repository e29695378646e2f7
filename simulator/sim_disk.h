/* The simulated disk: an in-memory file system with a volatile/durable model
 * and fault injection, one per simulated node.
 *
 * The simulation runtime's file layer (fl_runtime_ops file members) forwards
 * to the sim_disk_file_* / sim_disk_dir_* functions below, which have exactly
 * the seam's signatures with the node's disk as the first argument.
 *
 * Model (POSIX-like, strict):
 *   - Every file has *current* contents (what reads see) and *durable*
 *     contents (as of its last sim_disk_file_sync). Writes and truncates are
 *     volatile until the file is synced.
 *   - Directory entries (a creation, a rename, an unlink) are volatile until
 *     sim_disk_dir_sync of the directory that holds the entry; for a rename
 *     across directories each side becomes durable with its own directory.
 *   - Directories themselves are durable as soon as sim_disk_dir_create
 *     returns (a simplification: as if mkdir were followed by a sync of the
 *     parent). There is no way to remove a directory. The root directory is
 *     named "" (or ".").
 *   - Paths are '/'-separated and relative; "." components are dropped;
 *     "..", empty components ("a//b", "a/", "/a") and overlong paths
 *     (> SIM_DISK_PATH_MAX) are rejected with FL_E_INVAL.
 *   - An unlinked file stays readable and writable through handles that were
 *     open on it (POSIX), until they are closed or invalidated.
 *   - A process crash loses nothing; a power loss keeps only what was durable,
 *     plus possibly a prefix of each file's pending (unsynced) writes, the
 *     last of which may be torn at a SIM_DISK_SECTOR boundary.
 *   - Kept pending writes persist with the file's *current* bytes for their
 *     extent (as page-cache writeback does), not with the bytes as they were
 *     at the time of the write; a kept write whose extent was later cut off
 *     by a truncate persists only up to the current size.
 *
 * Media damage (flip_bit, truncate_file, zero_range) changes both the durable
 * and the current contents, so it is seen by the next open after a restart
 * and also by any handle still open.
 *
 * Determinism: everything is iterated in path (strcmp) order; the only
 * randomness is the PRNG function passed to sim_disk_power_loss.
 * No threads, no clock.
 */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"

#define SIM_DISK_SECTOR   512u
#define SIM_DISK_PATH_MAX 1024u
/* Largest file size a write or truncate may produce (FL_E_OVERFLOW beyond). */
#define SIM_DISK_MAX_FILE_SIZE (UINT64_C(1) << 34)

typedef struct sim_disk sim_disk;

/* Operation kinds: reported to the observer and selectable for injected I/O
 * errors. */
typedef enum sim_disk_op {
    SIM_DISK_OP_READ = 1,
    SIM_DISK_OP_WRITE,
    SIM_DISK_OP_SYNC, /* file_sync */
    SIM_DISK_OP_TRUNCATE,
    SIM_DISK_OP_OPEN,
    SIM_DISK_OP_UNLINK,
    SIM_DISK_OP_RENAME,
    SIM_DISK_OP_DIR_CREATE,
    SIM_DISK_OP_DIR_SYNC,
    SIM_DISK_OP_DIR_LIST,
} sim_disk_op;

/* Observer: called after each successful operation. `path` is the path the
 * handle was opened with (for handle operations) or the path argument (for
 * rename: `from`); borrowed for the call. `bytes`: READ bytes read, WRITE
 * bytes written, SYNC file size, TRUNCATE new size, otherwise 0. The
 * observer must not call back into the disk. */
typedef void (*sim_disk_observer_fn)(void *arg, int op, const char *path, uint64_t bytes);

/* A PRNG: returns 64 uniformly random bits (e.g. the scenario's PRNG). */
typedef uint64_t (*sim_disk_rand_fn)(void *arg);

/* One file as seen by sim_disk_list_all / sim_disk_stat. */
typedef struct sim_disk_file_info {
    const char *path;      /* borrowed for the call */
    bool exists_current;   /* visible to open/dir_list now */
    bool exists_durable;   /* would exist after a power loss */
    uint64_t current_size; /* 0 if !exists_current */
    uint64_t durable_size; /* of the durable entry's file; 0 if !exists_durable */
    uint64_t pending_ops;  /* unsynced writes+truncates of the current file */
} sim_disk_file_info;

/* Return non-zero to stop the listing early. */
typedef int (*sim_disk_list_fn)(void *arg, const sim_disk_file_info *info);

/* --- lifetime --- */

/* A new empty disk (only the root directory). NULL on allocation failure. */
sim_disk *sim_disk_new(void);
/* Free the disk, its files and every handle still allocated (open or stale).
 * NULL is a no-op. */
void sim_disk_free(sim_disk *d);

/* --- the runtime seam's file layer (see faultline/runtime.h) ---
 * Errors: FL_E_INVAL (bad path, bad flags, handle of another disk or opened
 * without the needed READ/WRITE flag), FL_E_NOENT, FL_E_EXIST, FL_E_CLOSED
 * (stale handle after a crash or power loss), FL_E_IO (injected), FL_E_NOSPC
 * (space budget), FL_E_OVERFLOW (beyond SIM_DISK_MAX_FILE_SIZE), FL_E_NOMEM.
 * A failed write or truncate changes nothing (no partial writes). A failed
 * sync leaves the data volatile. */

/* flags: FL_FILE_*; READ or WRITE required; TRUNC requires WRITE. Opening a
 * directory is FL_E_INVAL. CREATE needs the parent directory (FL_E_NOENT). */
int sim_disk_file_open(sim_disk *d, const char *path, int flags, fl_file **out);
int sim_disk_file_read(sim_disk *d, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread);
/* Writing past the end fills the gap with zeros. */
int sim_disk_file_write(sim_disk *d, fl_file *f, uint64_t off, const void *buf, size_t len);
/* O(number of pending writes), never copies the file. */
int sim_disk_file_sync(sim_disk *d, fl_file *f);
int sim_disk_file_truncate(sim_disk *d, fl_file *f, uint64_t size);
int sim_disk_file_size(sim_disk *d, fl_file *f, uint64_t *size);
/* Frees the handle, stale or not. NULL is a no-op. */
void sim_disk_file_close(sim_disk *d, fl_file *f);
int sim_disk_file_unlink(sim_disk *d, const char *path);
/* Replace `to` with `from`; both are files (a directory is FL_E_INVAL); the
 * parent of `to` must exist. Renaming a file onto itself is a no-op. */
int sim_disk_file_rename(sim_disk *d, const char *from, const char *to);
/* Create a directory and its parents; existing is fine; a file in the way is
 * FL_E_EXIST. Durable at once. */
int sim_disk_dir_create(sim_disk *d, const char *path);
int sim_disk_dir_sync(sim_disk *d, const char *path);
/* Current regular files directly in `path`, strcmp order of name. */
int sim_disk_dir_list(sim_disk *d, const char *path, fl_dir_entry_fn fn, void *arg);

/* --- faults --- */

/* Process crash: nothing is lost; every handle becomes stale (operations on
 * it return FL_E_CLOSED; sim_disk_file_close frees it). */
void sim_disk_crash(sim_disk *d);

/* Power loss: entries revert to their durable state (a file created without
 * a dir sync disappears, an unlinked one comes back, a rename reverts); each
 * durable file reverts to its durable contents plus a prefix of its pending
 * writes chosen with `rand`, the last kept write possibly torn at a sector
 * boundary (relative to file offset). Files are visited in path order, so
 * the same PRNG sequence gives the same disk. Handles become stale.
 * Afterwards everything on the disk is durable. */
void sim_disk_power_loss(sim_disk *d, sim_disk_rand_fn rand, void *rand_arg);
/* Power loss that drops every unsynced write (no tear). */
void sim_disk_power_loss_exact(sim_disk *d);
/* Power loss that drops every unsynced write except in the file at `path`
 * (its durable entry), which keeps its first `keep_ops` pending operations,
 * the last of which (if a write) keeps only its first `last_bytes` bytes
 * (any count; UINT64_MAX for all). FL_E_NOENT if `path` has no durable
 * entry, FL_E_INVAL if keep_ops exceeds its pending operations; on error
 * nothing happens. */
int sim_disk_power_loss_at(sim_disk *d, const char *path, size_t keep_ops, uint64_t last_bytes);

/* Media damage to the file at `path` (its current entry, else its durable
 * one), durable and current contents alike. FL_E_NOENT, FL_E_INVAL (offset
 * beyond both sizes, bit > 7). */
int sim_disk_flip_bit(sim_disk *d, const char *path, uint64_t offset, int bit);
/* Shrink both the current and the durable size to at most `size`. */
int sim_disk_truncate_file(sim_disk *d, const char *path, uint64_t size);
/* Zero [offset, offset+len) where it lies within the file. */
int sim_disk_zero_range(sim_disk *d, const char *path, uint64_t offset, uint64_t len);
/* Zero sector number `sector` (bytes sector*512 .. +512). */
int sim_disk_zero_sector(sim_disk *d, const char *path, uint64_t sector);

/* The nth (1 = next) subsequent operation of kind `op` whose path starts
 * with `path_prefix` (NULL: any path) fails with FL_E_IO. Transient: only
 * that one; persistent: it and every later matching one until
 * sim_disk_clear_faults. Several rules may be armed at once. FL_E_INVAL for
 * nth == 0 or an unknown op. */
int sim_disk_inject_io_error(sim_disk *d, sim_disk_op op, unsigned nth, bool persistent,
                             const char *path_prefix);
/* Disarm every injected I/O error (the space budget is kept). */
void sim_disk_clear_faults(sim_disk *d);

/* Writes and truncates that would grow the total bytes (sum of the current
 * sizes of all files alive) beyond `bytes` fail whole with FL_E_NOSPC.
 * UINT64_MAX (the default) means unlimited. */
void sim_disk_set_space_budget(sim_disk *d, uint64_t bytes);

/* Sync latency in virtual microseconds: stored for the simulation core. */
void sim_disk_set_sync_latency(sim_disk *d, uint64_t us);
uint64_t sim_disk_sync_latency(const sim_disk *d);

/* Install (or with fn NULL remove) the observer. */
void sim_disk_set_observer(sim_disk *d, sim_disk_observer_fn fn, void *arg);

/* --- inspection (tests, checkers) --- */

/* Malloc'd copy of the durable contents of the durable entry at `path`
 * (*out may be NULL when *len is 0). Caller frees. FL_E_NOENT. */
int sim_disk_read_durable(const sim_disk *d, const char *path, uint8_t **out, size_t *len);
/* Malloc'd copy of the current contents of the current entry at `path`. */
int sim_disk_read_current(const sim_disk *d, const char *path, uint8_t **out, size_t *len);
/* Whether `path` names a file now (durable == 0) or after a power loss
 * (durable != 0). Invalid paths are false. */
bool sim_disk_exists(const sim_disk *d, const char *path, int durable);
/* Fill *info for `path` (current or durable entry). FL_E_NOENT. */
int sim_disk_stat(const sim_disk *d, const char *path, sim_disk_file_info *info);
/* Sum of the current sizes of all files alive (the space-budget measure). */
uint64_t sim_disk_total_bytes(const sim_disk *d);
/* Number of files that exist now. */
size_t sim_disk_file_count(const sim_disk *d);
/* Every file entry (current or durable) in path order. Returns the callback's
 * non-zero value if it stopped, else 0. */
int sim_disk_list_all(const sim_disk *d, sim_disk_list_fn fn, void *arg);

#endif
