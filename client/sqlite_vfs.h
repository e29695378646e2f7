/* Internal glue shared by the SQLite publish and bookmark stores
 * (pubstore_sqlite.c, bmstore_sqlite.c): a sqlite3_vfs shim over the runtime
 * seam's file layer, and the database core both stores sit on (open with
 * format checks, pragmas, the sync policy as transactions, error mapping).
 * Not installed; include as "sqlite_vfs.h" from client/ sources and tests.
 *
 * VFS registration: one sqlite3_vfs per store instance, registered under a
 * unique name ("faultline-<address of the instance>") that the store passes
 * to sqlite3_open_v2 and unregisters after sqlite3_close. So the fl_runtime
 * reaches the VFS through the vfs struct itself (pAppData), with no registry
 * and no global state of ours; the only process-wide state touched is
 * SQLite's own VFS list (what sqlite3_vfs_register requires) and SQLite's
 * PRNG, which every open reseeds from the runtime (SQLITE_TESTCTRL_PRNG_SEED)
 * so WAL salts are deterministic in simulation.
 *
 * The shim has no shared memory (iVersion 1 io_methods) and trivial locks:
 * the core sets PRAGMA locking_mode=EXCLUSIVE before WAL is first touched,
 * so SQLite keeps the WAL index in heap memory. One connection per file.
 */
#ifndef FAULTLINE_SQLITE_VFS_H
#define FAULTLINE_SQLITE_VFS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"
#include "faultline/store.h"
#include "store_util.h"

/* --- the VFS shim ----------------------------------------------------- */

typedef struct fl__sqlite_vfs fl__sqlite_vfs;

/* Create a VFS over rt's file layer and register it (not as the default)
 * under a unique name. rt must outlive it. 0, FL_E_NOMEM or FL_E_IO. */
int fl__sqlite_vfs_new(const fl_runtime *rt, fl__sqlite_vfs **out);
/* The registered name, for sqlite3_open_v2. */
const char *fl__sqlite_vfs_name(const fl__sqlite_vfs *v);
/* Unregister and free. Every database using it must be closed. NULL ok. */
void fl__sqlite_vfs_free(fl__sqlite_vfs *v);
/* Sync every open file written or truncated since its last sync, and the
 * directory of any file created since (as SQLite's xSync does). 0 or the
 * runtime's error; a failure marks the VFS sync-failed. */
int fl__sqlite_vfs_sync_dirty(fl__sqlite_vfs *v);
/* True once any file sync or directory sync through this VFS failed: the
 * handle must be closed and reopened (never retry a failed fsync). */
bool fl__sqlite_vfs_sync_failed(const fl__sqlite_vfs *v);
/* The last runtime error seen by the shim, as text ("" if none):
 * "write contract/pub/pubstore.db-wal: I/O error". */
const char *fl__sqlite_vfs_last_error(const fl__sqlite_vfs *v);
/* The runtime error code behind the last failed call (0 if none). */
int fl__sqlite_vfs_last_code(const fl__sqlite_vfs *v);

/* --- the database core ------------------------------------------------ */

/* What distinguishes one kind of SQLite store from another. */
typedef struct fl__sqlite_kind {
    const char *what;       /* message prefix: "pubstore sqlite" */
    const char *file;       /* database file name inside env->dir */
    int32_t application_id; /* PRAGMA application_id of this kind */
    int32_t user_version;   /* current format version */
    const char *schema;     /* DDL run once on a new database */
} fl__sqlite_kind;

/* An open database with its sync policy. Embedded in each store. */
typedef struct fl__sqlite_db {
    const fl_runtime *rt;
    const fl__sqlite_kind *kind;
    fl__sqlite_vfs *vfs;
    sqlite3 *db;
    fl__store_options opts;
    char *path;       /* env->dir + "/" + kind->file */
    char *wal_path;   /* path + "-wal" */
    bool in_txn;      /* batch: a group transaction is open */
    unsigned txn_ops; /* operations in the open group */
    fl_timer_id timer;
    int poison; /* 0, or the code every later call returns */
    sqlite3_stmt *st_begin, *st_commit, *st_sp, *st_release, *st_rollback_to;
    char err[320];
} fl__sqlite_db;

/* Open or create the database of `kind` in env->dir with options `o`:
 * exclusive locking, WAL, synchronous FULL (always) or NORMAL (batch, none),
 * format checks. FL_E_BAD_MAGIC for a file that is not SQLite or carries
 * another application_id, FL_E_BAD_VERSION for a newer (or unknown)
 * user_version, FL_E_IO / FL_E_CORRUPT / FL_E_NOSPC from the database;
 * detail in err. On failure nothing stays allocated or registered. */
int fl__sqlite_db_open(fl__sqlite_db *d, const fl_store_env *env, const fl__sqlite_kind *kind,
                       const fl__store_options *o, char *err, size_t errcap);
/* Commit and make durable what the policy promises, then close. Never fails. */
void fl__sqlite_db_close(fl__sqlite_db *d);

/* Prepare a statement (kept by the caller, finalized before close). */
int fl__sqlite_db_prepare(fl__sqlite_db *d, const char *sql, sqlite3_stmt **out);

/* Bracket one mutating operation. begin: the poison check; batch opens the
 * group transaction (and arms the window timer); `multi` wraps the
 * operation in a savepoint so its statements apply together (a single
 * statement is atomic by itself). end(rc): release or roll back the
 * savepoint (in autocommit mode that commits, synced under FULL), count the
 * operation into the group and commit the group when it is full; returns
 * rc or the commit's error. An I/O error that made SQLite roll back a
 * whole group transaction poisons the handle (acknowledged operations
 * would otherwise silently vanish). */
int fl__sqlite_db_op_begin(fl__sqlite_db *d, bool multi);
int fl__sqlite_db_op_end(fl__sqlite_db *d, bool multi, int rc);

/* Map an SQLite result code from a statement to an FL_E code, with detail
 * "<what>: <op>: <sqlite message>[: <runtime detail>]" in d->err; a failed
 * sync poisons the handle (FL_E_SYNC_FAILED). */
int fl__sqlite_db_fail(fl__sqlite_db *d, int sqlite_rc, const char *op);

/* Commit the open group and sync the WAL (and anything dirty). */
int fl__sqlite_db_flush(fl__sqlite_db *d);
/* Checkpoint the WAL into the database file and truncate it. */
int fl__sqlite_db_checkpoint(fl__sqlite_db *d);
/* The database file and, when present, its WAL, in that order
 * (FL_E_INVAL for a NULL fn). */
int fl__sqlite_db_list_files(fl__sqlite_db *d, fl_store_file_fn fn, void *arg);

/* "<kind->what>: <message>" into d->err; returns code. */
int fl__sqlite_db_errf(fl__sqlite_db *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Store-ABI operations both SQLite stores share, for a store whose first
 * member is its fl__sqlite_db (so `self` points at it): flush, list_files
 * and last_error. */
int fl__sqlite_store_flush(void *self);
int fl__sqlite_store_list_files(void *self, fl_store_file_fn fn, void *arg);
const char *fl__sqlite_store_last_error(void *self);

/* Largest sequence value SQLite's signed INTEGER holds. */
#define FL__SQLITE_SEQ_MAX ((uint64_t)INT64_MAX)

#endif
