/* The sqlite3_vfs shim over the runtime seam's file layer, and the database
 * core shared by the SQLite stores (see sqlite_vfs.h for the registration
 * choice and the locking model).
 *
 * Design note (shim).
 *   - Paths are runtime paths (relative to the runtime's data directory);
 *     xFullPathname returns them unchanged, so SQLite derives "<db>-wal" and
 *     "<db>-journal" next to the database.
 *   - xOpen with CREATE first tries the file without CREATE, so it knows
 *     whether it created it; a created file's directory is synced at the
 *     file's first xSync (as SQLite's unix VFS does for new journals), so a
 *     synced file is never lost by its directory entry.
 *   - xRead zero-fills a short read and returns SQLITE_IOERR_SHORT_READ;
 *     FL_E_NOSPC becomes SQLITE_FULL, other failures SQLITE_IOERR_<op>.
 *   - A failed file or directory sync marks the VFS: the store poisons its
 *     handle (FL_E_SYNC_FAILED) and never retries.
 *   - xDelete syncs the directory when SQLite asks (syncDir).
 *   - xLock/xUnlock/xCheckReservedLock are trivial and there is no shared
 *     memory (io_methods version 1): the core puts every connection in
 *     exclusive locking mode before WAL is enabled.
 *   - xRandomness draws from the runtime PRNG, xCurrentTimeInt64 reads the
 *     runtime clock, xSleep returns at once (no timers, no wall clock).
 *
 * Design note (core).
 *   sync=always runs every operation in its own transaction with
 *   synchronous=FULL (the WAL is synced at each commit). sync=batch keeps a
 *   group transaction open across operations with synchronous=NORMAL; the
 *   group commits when it holds BATCH_MAX_OPS operations, and at the end of
 *   the batch window (a runtime timer armed by the group's first operation)
 *   the group commits and the WAL is synced through the shim, so a batch is
 *   durable within the window. sync=none commits each operation with
 *   NORMAL (in the OS cache: survives a process crash) and syncs only at
 *   checkpoints, flush and close.
 */
#include "sqlite_vfs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"

#define MAX_PATHNAME  512
#define SECTOR_SIZE   512
#define BATCH_MAX_OPS 1024u
/* 1970-01-01T00:00:00Z as a Julian day number in milliseconds. */
#define UNIX_EPOCH_JD_MS INT64_C(210866760000000)

typedef struct vfs_file vfs_file;

struct fl__sqlite_vfs {
    sqlite3_vfs base;
    const fl_runtime *rt;
    char name[48];
    bool sync_failed;
    int last_code;
    char last_error[256];
    vfs_file *files; /* open files, most recent first */
};

struct vfs_file {
    sqlite3_file base; /* first: SQLite hands us this pointer */
    fl__sqlite_vfs *vfs;
    fl_file *f;
    char *path;
    bool dirty;        /* written or truncated since the last sync */
    bool need_dirsync; /* created: sync the directory at the first sync */
    bool delete_on_close;
    vfs_file *next, *prev;
};

/* ------------------------------------------------------------------ */
/* helpers */

static const fl_runtime_ops *ops_of(const fl__sqlite_vfs *v)
{
    return v->rt->ops;
}

/* Remember a runtime failure for the store's error text; returns sqlite_rc. */
static int io_fail(fl__sqlite_vfs *v, int code, const char *op, const char *path, int sqlite_rc)
{
    v->last_code = code;
    snprintf(v->last_error, sizeof v->last_error, "%s %.200s: %s", op, path ? path : "?",
             fl_strerror(code));
    if (code == FL_E_NOSPC)
        return SQLITE_FULL;
    return sqlite_rc;
}

/* The directory part of a runtime path ("" for a bare name). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

static int dir_sync_of(fl__sqlite_vfs *v, const char *path)
{
    char dir[MAX_PATHNAME + 1];
    dir_of(path, dir, sizeof dir);
    int rc = ops_of(v)->dir_sync(v->rt->self, dir);
    if (rc < 0) {
        v->sync_failed = true;
        io_fail(v, rc, "dir_sync", dir[0] ? dir : ".", SQLITE_IOERR_DIR_FSYNC);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* io methods */

static int x_close(sqlite3_file *file)
{
    vfs_file *p = (vfs_file *)file;
    fl__sqlite_vfs *v = p->vfs;
    ops_of(v)->file_close(v->rt->self, p->f);
    if (p->delete_on_close)
        (void)ops_of(v)->file_unlink(v->rt->self, p->path);
    if (p->prev)
        p->prev->next = p->next;
    else
        v->files = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p->path);
    p->base.pMethods = NULL;
    return SQLITE_OK;
}

static int x_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    vfs_file *p = (vfs_file *)file;
    size_t got = 0;
    if (amt < 0 || off < 0)
        return SQLITE_IOERR_READ;
    int rc =
        ops_of(p->vfs)->file_read(p->vfs->rt->self, p->f, (uint64_t)off, buf, (size_t)amt, &got);
    if (rc < 0)
        return io_fail(p->vfs, rc, "read", p->path, SQLITE_IOERR_READ);
    if (got < (size_t)amt) {
        memset((uint8_t *)buf + got, 0, (size_t)amt - got); /* SQLite requires the zero fill */
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int x_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    vfs_file *p = (vfs_file *)file;
    if (amt < 0 || off < 0)
        return SQLITE_IOERR_WRITE;
    p->dirty = true;
    int rc = ops_of(p->vfs)->file_write(p->vfs->rt->self, p->f, (uint64_t)off, buf, (size_t)amt);
    if (rc < 0)
        return io_fail(p->vfs, rc, "write", p->path, SQLITE_IOERR_WRITE);
    return SQLITE_OK;
}

static int x_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    vfs_file *p = (vfs_file *)file;
    if (size < 0)
        return SQLITE_IOERR_TRUNCATE;
    p->dirty = true;
    int rc = ops_of(p->vfs)->file_truncate(p->vfs->rt->self, p->f, (uint64_t)size);
    if (rc < 0)
        return io_fail(p->vfs, rc, "truncate", p->path, SQLITE_IOERR_TRUNCATE);
    return SQLITE_OK;
}

/* Sync the file's data and, once after creation, its directory entry. */
static int file_sync(vfs_file *p)
{
    fl__sqlite_vfs *v = p->vfs;
    int rc = ops_of(v)->file_sync(v->rt->self, p->f);
    if (rc < 0) {
        v->sync_failed = true;
        io_fail(v, rc, "sync", p->path, SQLITE_IOERR_FSYNC);
        return rc;
    }
    p->dirty = false;
    if (p->need_dirsync) {
        rc = dir_sync_of(v, p->path);
        if (rc < 0)
            return rc;
        p->need_dirsync = false;
    }
    return 0;
}

static int x_sync(sqlite3_file *file, int flags)
{
    vfs_file *p = (vfs_file *)file;
    if (p->vfs->sync_failed)
        return SQLITE_IOERR_FSYNC; /* never retry a failed sync */
    int rc = file_sync(p);
    if (rc < 0)
        return rc == FL_E_NOSPC ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
    return SQLITE_OK;
}

static int x_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    vfs_file *p = (vfs_file *)file;
    uint64_t n = 0;
    int rc = ops_of(p->vfs)->file_size(p->vfs->rt->self, p->f, &n);
    if (rc < 0)
        return io_fail(p->vfs, rc, "size", p->path, SQLITE_IOERR_FSTAT);
    if (n > (uint64_t)INT64_MAX)
        return SQLITE_IOERR_FSTAT;
    *size = (sqlite3_int64)n;
    return SQLITE_OK;
}

static int x_lock(sqlite3_file *file, int level)
{
    return SQLITE_OK; /* exclusive locking mode: one connection per file */
}

static int x_unlock(sqlite3_file *file, int level)
{
    return SQLITE_OK;
}

static int x_check_reserved_lock(sqlite3_file *file, int *out)
{
    *out = 0;
    return SQLITE_OK;
}

static int x_file_control(sqlite3_file *file, int op, void *arg)
{
    return SQLITE_NOTFOUND;
}

static int x_sector_size(sqlite3_file *file)
{
    return SECTOR_SIZE;
}

static int x_device_characteristics(sqlite3_file *file)
{
    return 0; /* assume nothing: writes may tear, sectors may be lost */
}

static const sqlite3_io_methods k_io_methods = {
    .iVersion = 1,
    .xClose = x_close,
    .xRead = x_read,
    .xWrite = x_write,
    .xTruncate = x_truncate,
    .xSync = x_sync,
    .xFileSize = x_file_size,
    .xLock = x_lock,
    .xUnlock = x_unlock,
    .xCheckReservedLock = x_check_reserved_lock,
    .xFileControl = x_file_control,
    .xSectorSize = x_sector_size,
    .xDeviceCharacteristics = x_device_characteristics,
};

/* ------------------------------------------------------------------ */
/* vfs methods */

/* Open `path`, creating it when asked; *created tells whether we did. */
static int open_file(fl__sqlite_vfs *v, const char *path, int flags, fl_file **f, bool *created)
{
    int fl = FL_FILE_READ | ((flags & SQLITE_OPEN_READONLY) ? 0 : FL_FILE_WRITE);
    *created = false;
    if (!(flags & SQLITE_OPEN_EXCLUSIVE)) {
        int rc = ops_of(v)->file_open(v->rt->self, path, fl, f);
        if (rc != FL_E_NOENT || !(flags & SQLITE_OPEN_CREATE))
            return rc;
    }
    if (!(flags & SQLITE_OPEN_CREATE))
        return FL_E_INVAL;
    int rc = ops_of(v)->file_open(v->rt->self, path, fl | FL_FILE_CREATE | FL_FILE_EXCL, f);
    if (rc == 0)
        *created = true;
    return rc;
}

static int x_open(sqlite3_vfs *base, const char *name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    fl__sqlite_vfs *v = base->pAppData;
    vfs_file *p = (vfs_file *)file;
    memset(p, 0, sizeof *p);
    char tmp[64];
    if (!name) { /* a temp file (temp_store=MEMORY normally avoids them) */
        snprintf(tmp, sizeof tmp, "sqlite-tmp-%016" PRIx64, fl_rt_random(v->rt));
        name = tmp;
        flags |= SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE | SQLITE_OPEN_DELETEONCLOSE;
    }
    p->path = strdup(name);
    if (!p->path)
        return SQLITE_NOMEM;
    bool created = false;
    int rc = open_file(v, name, flags, &p->f, &created);
    if (rc < 0) {
        io_fail(v, rc, "open", name, SQLITE_CANTOPEN);
        free(p->path);
        p->path = NULL;
        return SQLITE_CANTOPEN;
    }
    p->vfs = v;
    p->need_dirsync = created;
    p->delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
    p->next = v->files;
    if (v->files)
        v->files->prev = p;
    v->files = p;
    if (out_flags)
        *out_flags = flags;
    p->base.pMethods = &k_io_methods;
    return SQLITE_OK;
}

static int x_delete(sqlite3_vfs *base, const char *name, int sync_dir)
{
    fl__sqlite_vfs *v = base->pAppData;
    int rc = ops_of(v)->file_unlink(v->rt->self, name);
    if (rc == FL_E_NOENT)
        return SQLITE_IOERR_DELETE_NOENT;
    if (rc < 0)
        return io_fail(v, rc, "unlink", name, SQLITE_IOERR_DELETE);
    if (sync_dir && dir_sync_of(v, name) < 0)
        return SQLITE_IOERR_DIR_FSYNC;
    return SQLITE_OK;
}

/* EXISTS: present and not empty (an empty WAL or journal is as good as
 * none, as in SQLite's unix VFS); READWRITE/READ: present. */
static int x_access(sqlite3_vfs *base, const char *name, int flags, int *out)
{
    fl__sqlite_vfs *v = base->pAppData;
    fl_file *f = NULL;
    *out = 0;
    int rc = ops_of(v)->file_open(v->rt->self, name, FL_FILE_READ, &f);
    if (rc == FL_E_NOENT)
        return SQLITE_OK;
    if (rc < 0)
        return io_fail(v, rc, "access", name, SQLITE_IOERR_ACCESS);
    uint64_t size = 0;
    rc = ops_of(v)->file_size(v->rt->self, f, &size);
    ops_of(v)->file_close(v->rt->self, f);
    if (rc < 0)
        return io_fail(v, rc, "access", name, SQLITE_IOERR_ACCESS);
    *out = flags == SQLITE_ACCESS_EXISTS ? size > 0 : 1;
    return SQLITE_OK;
}

static int x_full_pathname(sqlite3_vfs *base, const char *name, int n_out, char *out)
{
    size_t n = strlen(name);
    if (n_out <= 0 || n >= (size_t)n_out)
        return SQLITE_CANTOPEN;
    memcpy(out, name, n + 1);
    return SQLITE_OK;
}

static void *x_dl_open(sqlite3_vfs *base, const char *name)
{
    return NULL; /* no extensions */
}

static void x_dl_error(sqlite3_vfs *base, int n, char *msg)
{
    if (n > 0)
        snprintf(msg, (size_t)n, "extensions are not supported");
}

static void (*x_dl_sym(sqlite3_vfs *base, void *h, const char *sym))(void)
{
    return NULL;
}

static void x_dl_close(sqlite3_vfs *base, void *h)
{
}

static int x_randomness(sqlite3_vfs *base, int n, char *out)
{
    fl__sqlite_vfs *v = base->pAppData;
    for (int i = 0; i < n; i += 8) {
        uint64_t r = fl_rt_random(v->rt);
        int k = n - i < 8 ? n - i : 8;
        memcpy(out + i, &r, (size_t)k);
    }
    return n;
}

static int x_sleep(sqlite3_vfs *base, int us)
{
    return us; /* never waits: one connection, nothing to wait for */
}

static int x_current_time_int64(sqlite3_vfs *base, sqlite3_int64 *out)
{
    fl__sqlite_vfs *v = base->pAppData;
    *out = UNIX_EPOCH_JD_MS + (sqlite3_int64)(fl_rt_now(v->rt) / 1000u);
    return SQLITE_OK;
}

static int x_current_time(sqlite3_vfs *base, double *out)
{
    sqlite3_int64 ms = 0;
    x_current_time_int64(base, &ms);
    *out = (double)ms / 86400000.0;
    return SQLITE_OK;
}

static int x_get_last_error(sqlite3_vfs *base, int n, char *out)
{
    fl__sqlite_vfs *v = base->pAppData;
    if (n > 0)
        snprintf(out, (size_t)n, "%s", v->last_error);
    return v->last_code;
}

/* ------------------------------------------------------------------ */
/* public (internal) API of the shim */

int fl__sqlite_vfs_new(const fl_runtime *rt, fl__sqlite_vfs **out)
{
    fl__sqlite_vfs *v = calloc(1, sizeof *v);
    if (!v)
        return FL_E_NOMEM;
    v->rt = rt;
    snprintf(v->name, sizeof v->name, "faultline-%p", (void *)v);
    v->base = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(vfs_file),
        .mxPathname = MAX_PATHNAME,
        .zName = v->name,
        .pAppData = v,
        .xOpen = x_open,
        .xDelete = x_delete,
        .xAccess = x_access,
        .xFullPathname = x_full_pathname,
        .xDlOpen = x_dl_open,
        .xDlError = x_dl_error,
        .xDlSym = x_dl_sym,
        .xDlClose = x_dl_close,
        .xRandomness = x_randomness,
        .xSleep = x_sleep,
        .xCurrentTime = x_current_time,
        .xGetLastError = x_get_last_error,
        .xCurrentTimeInt64 = x_current_time_int64,
    };
    if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
        free(v);
        return FL_E_IO;
    }
    *out = v;
    return 0;
}

const char *fl__sqlite_vfs_name(const fl__sqlite_vfs *v)
{
    return v->name;
}

void fl__sqlite_vfs_free(fl__sqlite_vfs *v)
{
    if (!v)
        return;
    sqlite3_vfs_unregister(&v->base);
    free(v);
}

int fl__sqlite_vfs_sync_dirty(fl__sqlite_vfs *v)
{
    if (v->sync_failed)
        return FL_E_SYNC_FAILED;
    for (vfs_file *p = v->files; p; p = p->next) {
        if (!p->dirty && !p->need_dirsync)
            continue;
        int rc = file_sync(p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

bool fl__sqlite_vfs_sync_failed(const fl__sqlite_vfs *v)
{
    return v->sync_failed;
}

const char *fl__sqlite_vfs_last_error(const fl__sqlite_vfs *v)
{
    return v->last_error;
}

int fl__sqlite_vfs_last_code(const fl__sqlite_vfs *v)
{
    return v->last_code;
}

/* ------------------------------------------------------------------ */
/* the database core */

static int errf(fl__sqlite_db *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errf(fl__sqlite_db *d, int code, const char *fmt, ...)
{
    int n = snprintf(d->err, sizeof d->err, "%s: ", d->kind ? d->kind->what : "sqlite store");
    if (n < 0 || (size_t)n >= sizeof d->err)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static int map_code(fl__sqlite_db *d, int sqlite_rc)
{
    if (d->vfs && fl__sqlite_vfs_sync_failed(d->vfs))
        return FL_E_SYNC_FAILED;
    switch (sqlite_rc & 0xff) {
    case SQLITE_FULL:
        return FL_E_NOSPC;
    case SQLITE_NOMEM:
        return FL_E_NOMEM;
    case SQLITE_CORRUPT:
        return FL_E_CORRUPT;
    case SQLITE_NOTADB:
        return FL_E_BAD_MAGIC;
    case SQLITE_TOOBIG:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        return FL_E_INVAL;
    default:
        break;
    }
    if (d->vfs && fl__sqlite_vfs_last_code(d->vfs) == FL_E_NOSPC)
        return FL_E_NOSPC;
    return FL_E_IO;
}

int fl__sqlite_db_fail(fl__sqlite_db *d, int sqlite_rc, const char *op)
{
    int code = map_code(d, sqlite_rc);
    const char *io = d->vfs ? fl__sqlite_vfs_last_error(d->vfs) : "";
    bool show_io = (sqlite_rc & 0xff) == SQLITE_IOERR || (sqlite_rc & 0xff) == SQLITE_FULL ||
                   code == FL_E_SYNC_FAILED;
    errf(d, code, "%s: %s (sqlite %d)%s%s", op,
         d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(sqlite_rc), sqlite_rc,
         show_io && io[0] ? ": " : "", show_io ? io : "");
    if (code == FL_E_SYNC_FAILED)
        d->poison = FL_E_SYNC_FAILED;
    return code;
}

int fl__sqlite_db_prepare(fl__sqlite_db *d, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : fl__sqlite_db_fail(d, rc, "prepare");
}

/* Run a prepared statement without results to completion and reset it. */
static int run(fl__sqlite_db *d, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return fl__sqlite_db_fail(d, rc, op);
    return 0;
}

/* Run SQL text (may be several statements); the first row of the last
 * statement's first column goes to text_out / int_out when given. */
static int exec_sql(fl__sqlite_db *d, const char *sql, char *text_out, size_t text_cap,
                    int64_t *int_out, const char *op)
{
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(d->db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return fl__sqlite_db_fail(d, rc, op);
        if (!st)
            break; /* trailing whitespace or comment */
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && text_out) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(text_out, text_cap, "%s", t ? (const char *)t : "");
        }
        if (rc == SQLITE_ROW && int_out)
            *int_out = sqlite3_column_int64(st, 0);
        while (rc == SQLITE_ROW)
            rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fl__sqlite_db_fail(d, rc, op);
    }
    return 0;
}

static void finalize_all(fl__sqlite_db *d)
{
    if (!d->db)
        return;
    for (sqlite3_stmt *st; (st = sqlite3_next_stmt(d->db, NULL)) != NULL;)
        sqlite3_finalize(st);
    d->st_begin = d->st_commit = d->st_sp = d->st_release = d->st_rollback_to = NULL;
}

static void free_db(fl__sqlite_db *d)
{
    fl_rt_timer_cancel(d->rt, d->timer);
    d->timer = 0;
    finalize_all(d);
    if (d->db)
        sqlite3_close(d->db);
    d->db = NULL;
    fl__sqlite_vfs_free(d->vfs);
    d->vfs = NULL;
    free(d->path);
    free(d->wal_path);
    d->path = d->wal_path = NULL;
}

/* Is this file ours, and of a format we read? *exists is false for a new
 * database (no tables, no application_id): the caller creates the schema. */
static int check_format(fl__sqlite_db *d, bool *exists)
{
    const fl__sqlite_kind *k = d->kind;
    int64_t app = 0, ver = 0, tables = 0;
    int rc = exec_sql(d, "PRAGMA application_id", NULL, 0, &app, "read application_id");
    if (rc == FL_E_BAD_MAGIC)
        return errf(d, rc, "%s is not an SQLite database (%s)", d->path, sqlite3_errmsg(d->db));
    if (rc < 0)
        return rc;
    rc = exec_sql(d, "PRAGMA user_version", NULL, 0, &ver, "read user_version");
    if (rc == 0)
        rc = exec_sql(d, "SELECT count(*) FROM sqlite_schema", NULL, 0, &tables, "read schema");
    if (rc < 0)
        return rc;
    *exists = false;
    if (app == 0 && tables == 0)
        return 0;
    if (app != k->application_id)
        return errf(d, FL_E_BAD_MAGIC,
                    "%s is not a faultline %s database (application_id 0x%08" PRIx32
                    ", want 0x%08" PRIx32 ")",
                    d->path, k->what, (uint32_t)app, (uint32_t)k->application_id);
    if (ver > k->user_version)
        return errf(d, FL_E_BAD_VERSION,
                    "%s has format version %" PRId64 ", newer than this library's %" PRId32,
                    d->path, ver, k->user_version);
    if (ver < 1)
        return errf(d, FL_E_BAD_VERSION, "%s has unknown format version %" PRId64, d->path, ver);
    *exists = true;
    return 0;
}

static int create_schema(fl__sqlite_db *d)
{
    const fl__sqlite_kind *k = d->kind;
    char sql[128];
    int rc = exec_sql(d, "BEGIN IMMEDIATE", NULL, 0, NULL, "create");
    if (rc < 0)
        return rc;
    rc = exec_sql(d, k->schema, NULL, 0, NULL, "create schema");
    if (rc == 0) {
        snprintf(sql, sizeof sql, "PRAGMA application_id=%" PRId32 "; PRAGMA user_version=%" PRId32,
                 k->application_id, k->user_version);
        rc = exec_sql(d, sql, NULL, 0, NULL, "set format");
    }
    if (rc == 0)
        return exec_sql(d, "COMMIT", NULL, 0, NULL, "create commit");
    (void)exec_sql(d, "ROLLBACK", NULL, 0, NULL, "create rollback");
    return rc;
}

static int setup_db(fl__sqlite_db *d)
{
    char mode[32] = "";
    /* Exclusive locking before WAL is touched: the shim has no shared memory. */
    int rc = exec_sql(d, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA temp_store=MEMORY", NULL, 0, NULL,
                      "set locking mode");
    if (rc < 0)
        return rc;
    bool exists = false;
    rc = check_format(d, &exists);
    if (rc < 0)
        return rc;
    rc = exec_sql(d, "PRAGMA journal_mode=WAL", mode, sizeof mode, NULL, "enable WAL");
    if (rc < 0)
        return rc;
    if (strcmp(mode, "wal") != 0)
        return errf(d, FL_E_IO, "%s: journal_mode is '%s', want 'wal'", d->path, mode);
    rc = exec_sql(d,
                  d->opts.sync == FL__SYNC_ALWAYS ? "PRAGMA synchronous=FULL"
                                                  : "PRAGMA synchronous=NORMAL",
                  NULL, 0, NULL, "set synchronous");
    if (rc == 0 && !exists)
        rc = create_schema(d);
    if (rc < 0)
        return rc;
    static const char *const sql[] = {"BEGIN", "COMMIT", "SAVEPOINT op", "RELEASE op",
                                      "ROLLBACK TO op"};
    sqlite3_stmt **st[] = {&d->st_begin, &d->st_commit, &d->st_sp, &d->st_release,
                           &d->st_rollback_to};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0] && rc == 0; i++)
        rc = fl__sqlite_db_prepare(d, sql[i], st[i]);
    return rc;
}

static int join_path(const char *dir, const char *file, const char *suffix, char **out)
{
    size_t n = strlen(dir) + strlen(file) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (!p)
        return FL_E_NOMEM;
    snprintf(p, n, "%s%s%s%s", dir, dir[0] ? "/" : "", file, suffix);
    *out = p;
    return 0;
}

int fl__sqlite_db_open(fl__sqlite_db *d, const fl_store_env *env, const fl__sqlite_kind *kind,
                       const fl__store_options *o, char *err, size_t errcap)
{
    memset(d, 0, sizeof *d);
    d->rt = env->rt;
    d->kind = kind;
    d->opts = *o;
    const char *dir = env->dir ? env->dir : "";
    if (join_path(dir, kind->file, "", &d->path) < 0 ||
        join_path(dir, kind->file, "-wal", &d->wal_path) < 0) {
        free_db(d);
        return fl__store_errf(FL_E_NOMEM, err, errcap, "%s: out of memory", kind->what);
    }
    if (dir[0] && env->rt->ops->dir_create)
        (void)env->rt->ops->dir_create(env->rt->self, dir); /* "created by the caller"; be kind */
    /* SQLite draws WAL salts from its process-wide PRNG: seed it from the
     * runtime so a simulation writes the same bytes every run. */
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, (int)(fl_rt_random(env->rt) & 0x7fffffff) | 1,
                         (sqlite3 *)NULL);
    int rc = fl__sqlite_vfs_new(env->rt, &d->vfs);
    if (rc < 0) {
        free_db(d);
        return fl__store_errf(rc, err, errcap, "%s: cannot register the VFS", kind->what);
    }
    int src = sqlite3_open_v2(d->path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              fl__sqlite_vfs_name(d->vfs));
    if (src != SQLITE_OK)
        rc = fl__sqlite_db_fail(d, src, "open");
    else {
        sqlite3_extended_result_codes(d->db, 1);
        rc = setup_db(d);
    }
    if (rc < 0) {
        fl__store_errf(rc, err, errcap, "%s", d->err);
        free_db(d);
        return rc;
    }
    d->err[0] = '\0';
    return 0;
}

/* Commit the open group transaction (batch), if any. */
static int commit_group(fl__sqlite_db *d)
{
    if (!d->in_txn)
        return 0;
    d->in_txn = false;
    d->txn_ops = 0;
    if (sqlite3_get_autocommit(d->db))
        return 0; /* rolled back under us: op_end already poisoned */
    int rc = run(d, d->st_commit, "commit");
    if (rc < 0 && !d->poison)
        d->poison = rc == FL_E_SYNC_FAILED ? rc : FL_E_IO; /* the group is lost */
    return rc;
}

static void on_window(void *arg)
{
    fl__sqlite_db *d = arg;
    d->timer = 0;
    if (d->poison)
        return;
    (void)fl__sqlite_db_flush(d); /* a failure is in err and poisons */
}

int fl__sqlite_db_op_begin(fl__sqlite_db *d, bool multi)
{
    if (d->poison)
        return d->poison;
    if (d->opts.sync == FL__SYNC_BATCH && !d->in_txn) {
        int rc = run(d, d->st_begin, "begin");
        if (rc < 0)
            return rc;
        d->in_txn = true;
        if (!d->timer &&
            fl_rt_timer_start(d->rt, d->opts.batch_window_us, on_window, d, &d->timer) < 0)
            d->timer = 0; /* no timer: the group commits by count, flush or close */
    }
    if (multi)
        return run(d, d->st_sp, "savepoint");
    return 0;
}

int fl__sqlite_db_op_end(fl__sqlite_db *d, bool multi, int rc)
{
    if (multi && rc == 0) {
        rc = run(d, d->st_release, "commit");
    } else if (multi && !sqlite3_get_autocommit(d->db)) {
        char keep[sizeof d->err];
        memcpy(keep, d->err, sizeof keep); /* report the first failure */
        (void)run(d, d->st_rollback_to, "rollback");
        (void)run(d, d->st_release, "rollback");
        memcpy(d->err, keep, sizeof keep);
    }
    if (fl__sqlite_vfs_sync_failed(d->vfs))
        d->poison = FL_E_SYNC_FAILED;
    if (d->in_txn && sqlite3_get_autocommit(d->db)) {
        /* An I/O error rolled back the whole group: operations already
         * acknowledged are gone from the database. */
        d->in_txn = false;
        if (!d->poison)
            d->poison = FL_E_IO;
        size_t n = strlen(d->err);
        snprintf(d->err + n, sizeof d->err - n,
                 "%sthe open batch was rolled back; reopen the store", n ? "; " : "");
        return rc < 0 ? rc : d->poison;
    }
    if (rc == 0 && d->in_txn && ++d->txn_ops >= BATCH_MAX_OPS)
        rc = commit_group(d);
    return rc;
}

int fl__sqlite_db_flush(fl__sqlite_db *d)
{
    if (d->poison)
        return d->poison;
    int rc = commit_group(d);
    if (rc < 0)
        return rc;
    rc = fl__sqlite_vfs_sync_dirty(d->vfs);
    if (rc < 0) {
        d->poison = FL_E_SYNC_FAILED;
        return errf(d, FL_E_SYNC_FAILED, "flush: %s", fl__sqlite_vfs_last_error(d->vfs));
    }
    return 0;
}

int fl__sqlite_db_checkpoint(fl__sqlite_db *d)
{
    int rc = fl__sqlite_db_flush(d);
    if (rc < 0)
        return rc;
    int src = sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (src != SQLITE_OK)
        return fl__sqlite_db_fail(d, src, "checkpoint");
    return 0;
}

void fl__sqlite_db_close(fl__sqlite_db *d)
{
    if (!d->db) {
        free_db(d);
        return;
    }
    if (!d->poison && d->opts.sync != FL__SYNC_NONE)
        (void)fl__sqlite_db_flush(d);
    else if (!d->poison)
        (void)commit_group(d);
    free_db(d);
}

typedef struct exists_ctx {
    const char *name;
    bool found;
} exists_ctx;

static int exists_fn(void *arg, const char *name)
{
    exists_ctx *c = arg;
    if (strcmp(name, c->name) == 0) {
        c->found = true;
        return 1;
    }
    return 0;
}

int fl__sqlite_db_errf(fl__sqlite_db *d, int code, const char *fmt, ...)
{
    int n = snprintf(d->err, sizeof d->err, "%s: ", d->kind->what);
    if (n < 0 || (size_t)n >= sizeof d->err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

int fl__sqlite_db_list_files(fl__sqlite_db *d, fl_store_file_fn fn, void *arg)
{
    if (!fn)
        return fl__sqlite_db_errf(d, FL_E_INVAL, "list_files: fn is NULL");
    int rc = fn(arg, d->path);
    if (rc)
        return rc;
    const char *slash = strrchr(d->wal_path, '/');
    exists_ctx c = {slash ? slash + 1 : d->wal_path, false};
    char dir[MAX_PATHNAME + 1];
    dir_of(d->wal_path, dir, sizeof dir);
    if (d->rt->ops->dir_list && d->rt->ops->dir_list(d->rt->self, dir, exists_fn, &c) == 0 &&
        c.found)
        rc = fn(arg, d->wal_path);
    return rc;
}

int fl__sqlite_store_flush(void *self)
{
    return fl__sqlite_db_flush((fl__sqlite_db *)self);
}

int fl__sqlite_store_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return fl__sqlite_db_list_files((fl__sqlite_db *)self, fn, arg);
}

const char *fl__sqlite_store_last_error(void *self)
{
    return ((fl__sqlite_db *)self)->err;
}
