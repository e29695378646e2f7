/* The simulated disk (see sim_disk.h for the model and the API).
 *
 * Design note.
 *
 * Namespace: one array of entries sorted by normalised path (strcmp). An
 * entry points to the inode it names *now* (cur) and the inode it would name
 * after a power loss (dur); either may be NULL, never both (such entries are
 * removed). Creations, renames and unlinks change `cur`; dir_sync copies
 * `cur` to `dur` for the entries of that directory; a power loss copies `dur`
 * to `cur` everywhere. The entries of a directory "a" are a contiguous run of
 * the array (the paths starting with "a/"), found by binary search.
 * Directories are a separate sorted array of paths (the root is implicit).
 *
 * Inodes are reference counted by entries (cur and dur) and open handles.
 *
 * File contents: an inode keeps only its *current* bytes plus
 *   - dur_len: the durable size;
 *   - an undo log: the prior bytes of every change made since the last sync
 *     to the region [0, min(len, dur_len)) — overwrites and truncates below
 *     the durable size. Appends past the durable size need no undo. Replaying
 *     the log backwards (and cutting to dur_len) yields the durable bytes;
 *   - the ordered list of pending operations (write extents and truncates)
 *     since the last sync, so a power loss can keep a prefix of them and
 *     tear the last one.
 * So a sync is O(1) (it just forgets the logs), a write is O(len), and a power
 * loss is O(pending). The data buffer never shrinks, so reverting never needs
 * to allocate for the file itself.
 *
 * Handles are kept in a list owned by the disk; a crash or power loss drops
 * their inode references and marks them stale; sim_disk_file_close frees
 * them; sim_disk_free frees whatever is left.
 */
#include "sim_disk.h"

#include "faultline/error.h"
#include "util.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct sim_undo {
    uint64_t off;
    uint64_t len;
    size_t pos; /* offset of the saved bytes in the undo arena */
} sim_undo;

typedef struct sim_pending {
    uint64_t off; /* write offset, or the new size of a truncate */
    uint64_t len; /* write length; 0 for a truncate */
    bool truncate;
} sim_pending;

typedef struct sim_inode {
    unsigned refs;
    uint64_t mark; /* power-loss visit mark */
    uint8_t *data;
    uint64_t len;
    uint64_t cap;
    uint64_t dur_len;
    sim_undo *undo;
    size_t nundo, capundo;
    uint8_t *ubytes;
    size_t nubytes, capubytes;
    sim_pending *pend;
    size_t npend, cappend;
} sim_inode;

typedef struct sim_entry {
    char *path;
    sim_inode *cur;
    sim_inode *dur;
} sim_entry;

struct fl_file {
    sim_disk *disk;
    sim_inode *ino; /* NULL once stale */
    char *path;
    int flags;
    fl_file *prev, *next;
};

typedef struct sim_fault_rule {
    int op;
    unsigned remaining; /* fails when this reaches 0 */
    bool persistent;
    bool firing;  /* persistent and triggered */
    char *prefix; /* NULL: any path */
} sim_fault_rule;

struct sim_disk {
    sim_entry *ents;
    size_t nents, capents;
    char **dirs;
    size_t ndirs, capdirs;
    fl_file *handles;
    sim_fault_rule *rules;
    size_t nrules, caprules;
    uint64_t budget;
    uint64_t total;
    uint64_t sync_latency;
    uint64_t mark;
    sim_disk_observer_fn obs;
    void *obs_arg;
};

/* How a power loss chooses what survives of each file's pending writes. */
typedef struct sim_keep_plan {
    int mode; /* 0 exact, 1 random, 2 at one path */
    sim_disk_rand_fn rand;
    void *rand_arg;
    sim_inode *at_ino;
    size_t at_ops;
    uint64_t at_bytes;
} sim_keep_plan;

typedef char sim_pathbuf[SIM_DISK_PATH_MAX + 1];

/* ------------------------------------------------------------------ */
/* small helpers */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Uniform draw in [0, n) without modulo bias (n > 0). */
static uint64_t rand_below(sim_disk_rand_fn rand, void *arg, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do {
        v = rand(arg);
    } while (v >= limit);
    return v % n;
}

/* Normalise `in` into `out`: drop "." components; reject "..", empty
 * components, absolute and overlong paths. The root ("" or ".") is allowed
 * only when allow_root. */
static int norm_path(const char *in, char *out, bool allow_root)
{
    if (in == NULL)
        return FL_E_INVAL;
    size_t inlen = strnlen(in, SIM_DISK_PATH_MAX + 1);
    if (inlen > SIM_DISK_PATH_MAX)
        return FL_E_INVAL;
    size_t o = 0;
    out[0] = '\0';
    if (inlen == 0)
        return allow_root ? 0 : FL_E_INVAL;
    const char *p = in;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            return FL_E_INVAL;
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return FL_E_INVAL;
        if (!(n == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    out[o] = '\0';
    if (o == 0 && !allow_root)
        return FL_E_INVAL;
    return 0;
}

/* The parent directory of normalised path `path` into `out` ("" = root). */
static void parent_of(const char *path, char *out)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    memcpy(out, path, n);
    out[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* directories */

/* Lower bound of `path` in the sorted directory array. */
static size_t dir_lower(const sim_disk *d, const char *path, bool *found)
{
    size_t lo = 0, hi = d->ndirs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->dirs[mid], path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < d->ndirs && strcmp(d->dirs[lo], path) == 0;
    return lo;
}

static bool dir_exists(const sim_disk *d, const char *path)
{
    bool found;
    if (path[0] == '\0')
        return true;
    dir_lower(d, path, &found);
    return found;
}

static int dir_insert(sim_disk *d, const char *path)
{
    bool found;
    size_t i = dir_lower(d, path, &found);
    if (found)
        return 0;
    int rc = sim_grow((void **)&d->dirs, &d->capdirs, d->ndirs + 1, sizeof *d->dirs, 8);
    if (rc < 0)
        return rc;
    char *copy = dup_str(path);
    if (copy == NULL)
        return FL_E_NOMEM;
    memmove(d->dirs + i + 1, d->dirs + i, (d->ndirs - i) * sizeof *d->dirs);
    d->dirs[i] = copy;
    d->ndirs++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* entries */

static size_t ent_lower(const sim_disk *d, const char *path, bool *found)
{
    size_t lo = 0, hi = d->nents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->ents[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < d->nents && strcmp(d->ents[lo].path, path) == 0;
    return lo;
}

static sim_entry *ent_find(const sim_disk *d, const char *path)
{
    bool found;
    size_t i = ent_lower(d, path, &found);
    return found ? &d->ents[i] : NULL;
}

/* Find or insert the entry for `path` (new entries have cur = dur = NULL;
 * the caller must set one). Returns its index or a negative error. */
static int ent_get(sim_disk *d, const char *path, size_t *idx)
{
    bool found;
    size_t i = ent_lower(d, path, &found);
    if (!found) {
        int rc = sim_grow((void **)&d->ents, &d->capents, d->nents + 1, sizeof *d->ents, 8);
        if (rc < 0)
            return rc;
        char *copy = dup_str(path);
        if (copy == NULL)
            return FL_E_NOMEM;
        memmove(d->ents + i + 1, d->ents + i, (d->nents - i) * sizeof *d->ents);
        d->ents[i] = (sim_entry){.path = copy};
        d->nents++;
    }
    *idx = i;
    return 0;
}

static void ent_remove(sim_disk *d, size_t i)
{
    free(d->ents[i].path);
    memmove(d->ents + i, d->ents + i + 1, (d->nents - i - 1) * sizeof *d->ents);
    d->nents--;
}

/* The first entry index inside directory `dir` ("" = all) and the length of
 * the prefix to strip ("a/" -> 2). Entries of `dir` directly are those from
 * that index on that share the prefix and have no further '/'. */
static size_t dir_run_start(const sim_disk *d, const char *dir, size_t *plen)
{
    bool found;
    if (dir[0] == '\0') {
        *plen = 0;
        return 0;
    }
    char pre[SIM_DISK_PATH_MAX + 2];
    size_t n = strlen(dir);
    memcpy(pre, dir, n);
    pre[n] = '/';
    pre[n + 1] = '\0';
    *plen = n + 1;
    return ent_lower(d, pre, &found);
}

/* Whether entry path `p` lies in the run of `dir` (prefix length plen). */
static bool in_dir_run(const char *p, const char *dir, size_t plen)
{
    return plen == 0 || (strncmp(p, dir, plen - 1) == 0 && p[plen - 1] == '/');
}

/* ------------------------------------------------------------------ */
/* inodes */

static void inode_set_len(sim_disk *d, sim_inode *ino, uint64_t nlen)
{
    assert(nlen <= ino->cap);
    if (nlen > ino->len)
        memset(ino->data + ino->len, 0, (size_t)(nlen - ino->len));
    d->total = d->total - ino->len + nlen;
    ino->len = nlen;
}

static int inode_reserve(sim_inode *ino, uint64_t need)
{
    if (need <= ino->cap)
        return 0;
    if (need > SIZE_MAX)
        return FL_E_NOMEM;
    uint64_t ncap = ino->cap ? ino->cap : 64;
    while (ncap < need)
        ncap *= 2;
    uint8_t *p = realloc(ino->data, (size_t)ncap);
    if (p == NULL)
        return FL_E_NOMEM;
    ino->data = p;
    ino->cap = ncap;
    return 0;
}

static sim_inode *inode_new(void)
{
    return calloc(1, sizeof(sim_inode));
}

static void inode_ref(sim_inode *ino)
{
    if (ino != NULL)
        ino->refs++;
}

static void inode_unref(sim_disk *d, sim_inode *ino)
{
    if (ino == NULL)
        return;
    assert(ino->refs > 0);
    if (--ino->refs > 0)
        return;
    d->total -= ino->len;
    free(ino->data);
    free(ino->undo);
    free(ino->ubytes);
    free(ino->pend);
    free(ino);
}

/* Forget the logs: everything now is durable. */
static void inode_commit(sim_inode *ino)
{
    ino->dur_len = ino->len;
    ino->nundo = 0;
    ino->nubytes = 0;
    ino->npend = 0;
}

/* Reserve room to log the prior bytes of [off, off+len) and one pending op. */
static int inode_reserve_logs(sim_inode *ino, uint64_t undo_len)
{
    int rc = sim_grow((void **)&ino->pend, &ino->cappend, ino->npend + 1, sizeof *ino->pend, 8);
    if (rc < 0 || undo_len == 0)
        return rc;
    rc = sim_grow((void **)&ino->undo, &ino->capundo, ino->nundo + 1, sizeof *ino->undo, 8);
    if (rc < 0)
        return rc;
    if (undo_len > SIZE_MAX - ino->nubytes)
        return FL_E_NOMEM;
    return sim_grow((void **)&ino->ubytes, &ino->capubytes, ino->nubytes + (size_t)undo_len, 1, 8);
}

/* The part of [off, end) that needs undo: inside [0, min(len, dur_len)). */
static uint64_t undo_span(const sim_inode *ino, uint64_t off, uint64_t end)
{
    uint64_t lim = min_u64(ino->len, ino->dur_len);
    if (off >= lim)
        return 0;
    return min_u64(end, lim) - off;
}

/* Log the current bytes of [off, off+n) (room reserved). */
static void inode_log_undo(sim_inode *ino, uint64_t off, uint64_t n)
{
    if (n == 0)
        return;
    sim_undo *u = &ino->undo[ino->nundo++];
    *u = (sim_undo){.off = off, .len = n, .pos = ino->nubytes};
    memcpy(ino->ubytes + ino->nubytes, ino->data + off, (size_t)n);
    ino->nubytes += (size_t)n;
}

/* Apply the undo log backwards to `buf` (of durable length dlen). */
static void undo_apply(const sim_inode *ino, uint8_t *buf, uint64_t dlen)
{
    for (size_t i = ino->nundo; i-- > 0;) {
        const sim_undo *u = &ino->undo[i];
        if (u->off >= dlen)
            continue;
        uint64_t n = min_u64(u->len, dlen - u->off);
        memcpy(buf + u->off, ino->ubytes + u->pos, (size_t)n);
    }
}

/* Truncate (no fault or budget checks: the caller did them). */
static int inode_truncate(sim_disk *d, sim_inode *ino, uint64_t size)
{
    uint64_t un = undo_span(ino, size, UINT64_MAX);
    int rc = inode_reserve_logs(ino, un);
    if (rc == 0)
        rc = inode_reserve(ino, size);
    if (rc < 0)
        return rc;
    inode_log_undo(ino, size, un);
    inode_set_len(d, ino, size);
    ino->pend[ino->npend++] = (sim_pending){.off = size, .truncate = true};
    return 0;
}

/* ------------------------------------------------------------------ */
/* faults and observer */

static bool prefix_match(const char *prefix, const char *path)
{
    return prefix == NULL || strncmp(path, prefix, strlen(prefix)) == 0;
}

/* Count this operation against the armed rules; FL_E_IO if one fires. */
static int fault_check(sim_disk *d, int op, const char *path)
{
    int rc = 0;
    size_t w = 0;
    for (size_t i = 0; i < d->nrules; i++) {
        sim_fault_rule *r = &d->rules[i];
        bool keep = true;
        if (r->op == op && prefix_match(r->prefix, path)) {
            if (r->firing) {
                rc = FL_E_IO;
            } else if (--r->remaining == 0) {
                rc = FL_E_IO;
                r->firing = r->persistent;
                keep = r->persistent;
            }
        }
        if (keep) {
            d->rules[w++] = *r;
        } else {
            free(r->prefix);
        }
    }
    d->nrules = w;
    return rc;
}

/* How an operation on a path starts: `path` normalised into p, naming a
 * directory (dir: the root allowed; FL_E_NOENT otherwise) or not naming
 * one (!dir: FL_E_INVAL otherwise), then fault_check for op. */
static int op_path(sim_disk *d, int op, const char *path, bool dir, char *p)
{
    int rc = norm_path(path, p, dir);
    if (rc < 0)
        return rc;
    if (dir_exists(d, p) != dir)
        return dir ? FL_E_NOENT : FL_E_INVAL;
    return fault_check(d, op, p);
}

static void observe(sim_disk *d, int op, const char *path, uint64_t bytes)
{
    if (d->obs != NULL)
        d->obs(d->obs_arg, op, path, bytes);
}

/* ------------------------------------------------------------------ */
/* lifetime */

sim_disk *sim_disk_new(void)
{
    sim_disk *d = calloc(1, sizeof *d);
    if (d != NULL)
        d->budget = UINT64_MAX;
    return d;
}

static void handle_free(fl_file *f)
{
    free(f->path);
    free(f);
}

void sim_disk_free(sim_disk *d)
{
    if (d == NULL)
        return;
    while (d->handles != NULL) {
        fl_file *f = d->handles;
        d->handles = f->next;
        inode_unref(d, f->ino);
        handle_free(f);
    }
    for (size_t i = 0; i < d->nents; i++) {
        inode_unref(d, d->ents[i].cur);
        inode_unref(d, d->ents[i].dur);
        free(d->ents[i].path);
    }
    for (size_t i = 0; i < d->ndirs; i++)
        free(d->dirs[i]);
    sim_disk_clear_faults(d);
    free(d->ents);
    free(d->dirs);
    free(d->rules);
    free(d);
}

/* ------------------------------------------------------------------ */
/* handles */

static int handle_check(const sim_disk *d, const fl_file *f, int need_flag)
{
    if (d == NULL || f == NULL || f->disk != d)
        return FL_E_INVAL;
    if (f->ino == NULL)
        return FL_E_CLOSED;
    if (need_flag && !(f->flags & need_flag))
        return FL_E_INVAL;
    return 0;
}

static void handle_unlink(sim_disk *d, fl_file *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        d->handles = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
}

/* Make every handle stale, dropping its inode reference. */
static void invalidate_handles(sim_disk *d)
{
    for (fl_file *f = d->handles; f != NULL; f = f->next) {
        inode_unref(d, f->ino);
        f->ino = NULL;
    }
}

static bool open_flags_valid(int flags)
{
    const int all = FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_EXCL | FL_FILE_TRUNC;
    if (flags & ~all)
        return false;
    if (!(flags & (FL_FILE_READ | FL_FILE_WRITE)))
        return false;
    if ((flags & FL_FILE_TRUNC) && !(flags & FL_FILE_WRITE))
        return false;
    if ((flags & FL_FILE_EXCL) && !(flags & FL_FILE_CREATE))
        return false;
    return true;
}

/* Create a new empty file at `path` (parent checked by the caller). */
static int create_file(sim_disk *d, const char *path, sim_inode **out)
{
    sim_inode *ino = inode_new();
    if (ino == NULL)
        return FL_E_NOMEM;
    size_t i;
    int rc = ent_get(d, path, &i);
    if (rc < 0) {
        free(ino);
        return rc;
    }
    assert(d->ents[i].cur == NULL);
    ino->refs = 1;
    d->ents[i].cur = ino;
    *out = ino;
    return 0;
}

int sim_disk_file_open(sim_disk *d, const char *path, int flags, fl_file **out)
{
    sim_pathbuf p, parent;
    if (d == NULL || out == NULL || !open_flags_valid(flags))
        return FL_E_INVAL;
    *out = NULL;
    int rc = op_path(d, SIM_DISK_OP_OPEN, path, false, p);
    if (rc < 0)
        return rc;
    sim_entry *e = ent_find(d, p);
    sim_inode *ino = e ? e->cur : NULL;
    if (ino != NULL && (flags & FL_FILE_CREATE) && (flags & FL_FILE_EXCL))
        return FL_E_EXIST;
    if (ino == NULL && !(flags & FL_FILE_CREATE))
        return FL_E_NOENT;
    parent_of(p, parent);
    if (ino == NULL && !dir_exists(d, parent))
        return FL_E_NOENT;

    fl_file *f = calloc(1, sizeof *f);
    char *pcopy = dup_str(p);
    if (f == NULL || pcopy == NULL) {
        free(f);
        free(pcopy);
        return FL_E_NOMEM;
    }
    if (ino == NULL)
        rc = create_file(d, p, &ino);
    else if ((flags & FL_FILE_TRUNC) && ino->len > 0)
        rc = inode_truncate(d, ino, 0);
    if (rc < 0) {
        free(f);
        free(pcopy);
        return rc;
    }
    *f = (fl_file){.disk = d, .ino = ino, .path = pcopy, .flags = flags, .next = d->handles};
    inode_ref(ino);
    if (d->handles != NULL)
        d->handles->prev = f;
    d->handles = f;
    *out = f;
    observe(d, SIM_DISK_OP_OPEN, p, 0);
    return 0;
}

int sim_disk_file_read(sim_disk *d, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    if (nread != NULL)
        *nread = 0;
    int rc = handle_check(d, f, FL_FILE_READ);
    if (rc < 0)
        return rc;
    if (nread == NULL || (buf == NULL && len > 0))
        return FL_E_INVAL;
    rc = fault_check(d, SIM_DISK_OP_READ, f->path);
    if (rc < 0)
        return rc;
    const sim_inode *ino = f->ino;
    size_t n = 0;
    if (off < ino->len && len > 0) {
        n = (size_t)min_u64(len, ino->len - off);
        memcpy(buf, ino->data + off, n);
    }
    *nread = n;
    observe(d, SIM_DISK_OP_READ, f->path, n);
    return 0;
}

int sim_disk_file_write(sim_disk *d, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    int rc = handle_check(d, f, FL_FILE_WRITE);
    if (rc < 0)
        return rc;
    if (buf == NULL && len > 0)
        return FL_E_INVAL;
    if (off > SIM_DISK_MAX_FILE_SIZE || len > SIM_DISK_MAX_FILE_SIZE - off)
        return FL_E_OVERFLOW;
    rc = fault_check(d, SIM_DISK_OP_WRITE, f->path);
    if (rc < 0)
        return rc;
    sim_inode *ino = f->ino;
    uint64_t end = off + len;
    uint64_t nlen = max_u64(ino->len, end);
    if (nlen - ino->len > d->budget - min_u64(d->total, d->budget))
        return FL_E_NOSPC;
    if (len > 0) {
        uint64_t un = undo_span(ino, off, end);
        rc = inode_reserve_logs(ino, un);
        if (rc == 0)
            rc = inode_reserve(ino, nlen);
        if (rc < 0)
            return rc;
        inode_log_undo(ino, off, un);
        if (off > ino->len)
            inode_set_len(d, ino, off);
        memcpy(ino->data + off, buf, len);
        if (end > ino->len) {
            d->total += end - ino->len;
            ino->len = end;
        }
        ino->pend[ino->npend++] = (sim_pending){.off = off, .len = len};
    }
    observe(d, SIM_DISK_OP_WRITE, f->path, len);
    return 0;
}

int sim_disk_file_sync(sim_disk *d, fl_file *f)
{
    int rc = handle_check(d, f, 0);
    if (rc < 0)
        return rc;
    rc = fault_check(d, SIM_DISK_OP_SYNC, f->path);
    if (rc < 0)
        return rc;
    inode_commit(f->ino);
    observe(d, SIM_DISK_OP_SYNC, f->path, f->ino->len);
    return 0;
}

int sim_disk_file_truncate(sim_disk *d, fl_file *f, uint64_t size)
{
    int rc = handle_check(d, f, FL_FILE_WRITE);
    if (rc < 0)
        return rc;
    if (size > SIM_DISK_MAX_FILE_SIZE)
        return FL_E_OVERFLOW;
    rc = fault_check(d, SIM_DISK_OP_TRUNCATE, f->path);
    if (rc < 0)
        return rc;
    sim_inode *ino = f->ino;
    if (size > ino->len && size - ino->len > d->budget - min_u64(d->total, d->budget))
        return FL_E_NOSPC;
    rc = inode_truncate(d, ino, size);
    if (rc < 0)
        return rc;
    observe(d, SIM_DISK_OP_TRUNCATE, f->path, size);
    return 0;
}

int sim_disk_file_size(sim_disk *d, fl_file *f, uint64_t *size)
{
    int rc = handle_check(d, f, 0);
    if (rc < 0)
        return rc;
    if (size == NULL)
        return FL_E_INVAL;
    *size = f->ino->len;
    return 0;
}

void sim_disk_file_close(sim_disk *d, fl_file *f)
{
    if (d == NULL || f == NULL || f->disk != d)
        return;
    handle_unlink(d, f);
    inode_unref(d, f->ino);
    handle_free(f);
}

/* ------------------------------------------------------------------ */
/* namespace operations */

int sim_disk_file_unlink(sim_disk *d, const char *path)
{
    sim_pathbuf p;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = op_path(d, SIM_DISK_OP_UNLINK, path, false, p);
    if (rc < 0)
        return rc;
    bool found;
    size_t i = ent_lower(d, p, &found);
    if (!found || d->ents[i].cur == NULL)
        return FL_E_NOENT;
    inode_unref(d, d->ents[i].cur);
    d->ents[i].cur = NULL;
    if (d->ents[i].dur == NULL)
        ent_remove(d, i);
    observe(d, SIM_DISK_OP_UNLINK, p, 0);
    return 0;
}

int sim_disk_file_rename(sim_disk *d, const char *from, const char *to)
{
    sim_pathbuf pf, pt, parent;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = norm_path(from, pf, false);
    if (rc == 0)
        rc = norm_path(to, pt, false);
    if (rc < 0)
        return rc;
    if (dir_exists(d, pf) || dir_exists(d, pt))
        return FL_E_INVAL;
    rc = fault_check(d, SIM_DISK_OP_RENAME, pf);
    if (rc < 0)
        return rc;
    sim_entry *ef = ent_find(d, pf);
    if (ef == NULL || ef->cur == NULL)
        return FL_E_NOENT;
    parent_of(pt, parent);
    if (!dir_exists(d, parent))
        return FL_E_NOENT;
    if (strcmp(pf, pt) != 0) {
        size_t it;
        rc = ent_get(d, pt, &it);
        if (rc < 0)
            return rc;
        bool found;
        size_t ifr = ent_lower(d, pf, &found);
        assert(found);
        sim_inode *old = d->ents[it].cur;
        d->ents[it].cur = d->ents[ifr].cur; /* the reference moves */
        d->ents[ifr].cur = NULL;
        inode_unref(d, old);
        if (d->ents[ifr].dur == NULL)
            ent_remove(d, ifr);
    }
    observe(d, SIM_DISK_OP_RENAME, pf, 0);
    return 0;
}

int sim_disk_dir_create(sim_disk *d, const char *path)
{
    sim_pathbuf p, sub;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = norm_path(path, p, true);
    if (rc < 0)
        return rc;
    if (p[0] == '\0')
        return 0;
    rc = fault_check(d, SIM_DISK_OP_DIR_CREATE, p);
    if (rc < 0)
        return rc;
    /* First check that no file is in the way, then create. */
    for (size_t n = 0;; n++) {
        if (p[n] == '/' || p[n] == '\0') {
            memcpy(sub, p, n);
            sub[n] = '\0';
            const sim_entry *e = ent_find(d, sub);
            if (e != NULL && e->cur != NULL)
                return FL_E_EXIST;
        }
        if (p[n] == '\0')
            break;
    }
    for (size_t n = 0;; n++) {
        if (p[n] == '/' || p[n] == '\0') {
            memcpy(sub, p, n);
            sub[n] = '\0';
            rc = dir_insert(d, sub);
            if (rc < 0)
                return rc;
        }
        if (p[n] == '\0')
            break;
    }
    observe(d, SIM_DISK_OP_DIR_CREATE, p, 0);
    return 0;
}

int sim_disk_dir_sync(sim_disk *d, const char *path)
{
    sim_pathbuf p;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = op_path(d, SIM_DISK_OP_DIR_SYNC, path, true, p);
    if (rc < 0)
        return rc;
    size_t plen;
    size_t i = dir_run_start(d, p, &plen);
    while (i < d->nents && in_dir_run(d->ents[i].path, p, plen)) {
        sim_entry *e = &d->ents[i];
        if (strchr(e->path + plen, '/') != NULL || e->cur == e->dur) {
            i++;
            continue;
        }
        inode_ref(e->cur);
        inode_unref(d, e->dur);
        e->dur = e->cur;
        if (e->cur == NULL)
            ent_remove(d, i);
        else
            i++;
    }
    observe(d, SIM_DISK_OP_DIR_SYNC, p, 0);
    return 0;
}

int sim_disk_dir_list(sim_disk *d, const char *path, fl_dir_entry_fn fn, void *arg)
{
    sim_pathbuf p;
    if (d == NULL || fn == NULL)
        return FL_E_INVAL;
    int rc = op_path(d, SIM_DISK_OP_DIR_LIST, path, true, p);
    if (rc < 0)
        return rc;
    /* Copy the names first: the callback may open, create or unlink. */
    size_t plen, n = 0, cap = 0;
    char **names = NULL;
    for (size_t i = dir_run_start(d, p, &plen);
         i < d->nents && in_dir_run(d->ents[i].path, p, plen); i++) {
        const sim_entry *e = &d->ents[i];
        if (e->cur == NULL || strchr(e->path + plen, '/') != NULL)
            continue;
        char *name = dup_str(e->path + plen);
        if (name == NULL || sim_grow((void **)&names, &cap, n + 1, sizeof *names, 8) < 0) {
            free(name);
            rc = FL_E_NOMEM;
            break;
        }
        names[n++] = name;
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && fn(arg, names[i]) != 0)
            rc = 1; /* stopped early; not an error */
        free(names[i]);
    }
    free(names);
    if (rc < 0)
        return rc;
    observe(d, SIM_DISK_OP_DIR_LIST, p, 0);
    return 0;
}

/* ------------------------------------------------------------------ */
/* crash and power loss */

void sim_disk_crash(sim_disk *d)
{
    if (d != NULL)
        invalidate_handles(d);
}

/* Bytes a kept write contributes: its extent clipped to the current size
 * (a later truncate cut the rest) and, for the last kept one, to `last`. */
static uint64_t kept_write_len(uint64_t cur_len, const sim_pending *op, bool is_last, uint64_t last)
{
    if (op->truncate || op->off >= cur_len)
        return 0;
    uint64_t n = min_u64(op->len, cur_len - op->off);
    return is_last ? min_u64(n, last) : n;
}

/* Revert `ino` to its durable contents plus its first `k` pending operations
 * (the last write keeping at most `last` bytes), then make it all durable. */
static void inode_power_loss(sim_disk *d, sim_inode *ino, size_t k, uint64_t last)
{
    if (k == ino->npend && (k == 0 || ino->pend[k - 1].truncate || last >= ino->pend[k - 1].len)) {
        inode_commit(ino); /* everything pending survives */
        return;
    }
    /* Save the kept writes' bytes from the current contents. */
    const uint64_t cur_len = ino->len;
    uint64_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += kept_write_len(cur_len, &ino->pend[i], i + 1 == k, last);
    uint8_t *saved = NULL;
    if (total > 0 && (total > SIZE_MAX || (saved = malloc((size_t)total)) == NULL))
        k = 0; /* out of memory: degrade to dropping everything unsynced */
    uint64_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t n = kept_write_len(cur_len, &ino->pend[i], i + 1 == k, last);
        if (n == 0)
            continue;
        memcpy(saved + pos, ino->data + ino->pend[i].off, (size_t)n);
        pos += n;
    }
    /* Back to the durable bytes (the buffer never shrinks: cap >= dur_len). */
    if (ino->len < ino->dur_len)
        inode_set_len(d, ino, ino->dur_len);
    undo_apply(ino, ino->data, ino->dur_len);
    inode_set_len(d, ino, ino->dur_len);
    /* Replay the kept prefix. */
    pos = 0;
    for (size_t i = 0; i < k; i++) {
        const sim_pending *op = &ino->pend[i];
        if (op->truncate) {
            inode_set_len(d, ino, min_u64(op->off, ino->cap));
            continue;
        }
        uint64_t n = kept_write_len(cur_len, op, i + 1 == k, last);
        if (n == 0)
            continue;
        if (op->off + n > ino->len)
            inode_set_len(d, ino, op->off + n);
        memcpy(ino->data + op->off, saved + pos, (size_t)n);
        pos += n;
    }
    free(saved);
    inode_commit(ino);
}

/* The number of sector boundaries strictly inside a write's extent. */
static uint64_t inner_boundaries(const sim_pending *op)
{
    if (op->len == 0)
        return 0;
    return (op->off + op->len - 1) / SIM_DISK_SECTOR - op->off / SIM_DISK_SECTOR;
}

/* Decide how much of `ino`'s pending work survives under `plan`. */
static void plan_choose(const sim_keep_plan *plan, const sim_inode *ino, size_t *k, uint64_t *last)
{
    *k = 0;
    *last = UINT64_MAX;
    if (plan->mode == 2 && plan->at_ino == ino) {
        *k = plan->at_ops;
        *last = plan->at_bytes;
        return;
    }
    if (plan->mode != 1 || ino->npend == 0)
        return;
    *k = (size_t)rand_below(plan->rand, plan->rand_arg, (uint64_t)ino->npend + 1);
    if (*k == 0 || ino->pend[*k - 1].truncate)
        return;
    const sim_pending *op = &ino->pend[*k - 1];
    uint64_t nb = inner_boundaries(op);
    if (nb == 0)
        return;
    uint64_t c = rand_below(plan->rand, plan->rand_arg, nb + 1);
    if (c < nb)
        *last = (op->off / SIM_DISK_SECTOR + 1 + c) * SIM_DISK_SECTOR - op->off;
}

static void power_loss(sim_disk *d, const sim_keep_plan *plan)
{
    invalidate_handles(d);
    d->mark++;
    for (size_t i = 0; i < d->nents; i++) {
        sim_inode *ino = d->ents[i].dur;
        if (ino == NULL || ino->mark == d->mark)
            continue;
        ino->mark = d->mark;
        size_t k;
        uint64_t last;
        plan_choose(plan, ino, &k, &last);
        inode_power_loss(d, ino, k, last);
    }
    size_t i = 0;
    while (i < d->nents) {
        sim_entry *e = &d->ents[i];
        if (e->cur != e->dur) {
            inode_ref(e->dur);
            inode_unref(d, e->cur);
            e->cur = e->dur;
        }
        if (e->cur == NULL)
            ent_remove(d, i);
        else
            i++;
    }
}

void sim_disk_power_loss(sim_disk *d, sim_disk_rand_fn rand, void *rand_arg)
{
    if (d == NULL)
        return;
    sim_keep_plan plan = {.mode = rand ? 1 : 0, .rand = rand, .rand_arg = rand_arg};
    power_loss(d, &plan);
}

void sim_disk_power_loss_exact(sim_disk *d)
{
    if (d == NULL)
        return;
    sim_keep_plan plan = {.mode = 0};
    power_loss(d, &plan);
}

int sim_disk_power_loss_at(sim_disk *d, const char *path, size_t keep_ops, uint64_t last_bytes)
{
    sim_pathbuf p;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = norm_path(path, p, false);
    if (rc < 0)
        return rc;
    const sim_entry *e = ent_find(d, p);
    if (e == NULL || e->dur == NULL)
        return FL_E_NOENT;
    if (keep_ops > e->dur->npend)
        return FL_E_INVAL;
    sim_keep_plan plan = {.mode = 2, .at_ino = e->dur, .at_ops = keep_ops, .at_bytes = last_bytes};
    power_loss(d, &plan);
    return 0;
}

/* ------------------------------------------------------------------ */
/* media damage */

/* The inode `path` names now, else the one it names durably. */
static int damage_target(const sim_disk *d, const char *path, sim_inode **out)
{
    sim_pathbuf p;
    if (d == NULL)
        return FL_E_INVAL;
    int rc = norm_path(path, p, false);
    if (rc < 0)
        return rc;
    const sim_entry *e = ent_find(d, p);
    if (e == NULL)
        return FL_E_NOENT;
    *out = e->cur ? e->cur : e->dur;
    return 0;
}

int sim_disk_flip_bit(sim_disk *d, const char *path, uint64_t offset, int bit)
{
    sim_inode *ino;
    int rc = damage_target(d, path, &ino);
    if (rc < 0)
        return rc;
    if (bit < 0 || bit > 7 || offset >= max_u64(ino->len, ino->dur_len))
        return FL_E_INVAL;
    uint8_t m = (uint8_t)(1u << bit);
    if (offset < ino->len)
        ino->data[offset] ^= m;
    for (size_t i = 0; i < ino->nundo; i++) {
        const sim_undo *u = &ino->undo[i];
        if (offset >= u->off && offset - u->off < u->len)
            ino->ubytes[u->pos + (offset - u->off)] ^= m;
    }
    return 0;
}

int sim_disk_truncate_file(sim_disk *d, const char *path, uint64_t size)
{
    sim_inode *ino;
    int rc = damage_target(d, path, &ino);
    if (rc < 0)
        return rc;
    if (size < ino->len)
        inode_set_len(d, ino, size);
    ino->dur_len = min_u64(ino->dur_len, size);
    return 0;
}

int sim_disk_zero_range(sim_disk *d, const char *path, uint64_t offset, uint64_t len)
{
    sim_inode *ino;
    int rc = damage_target(d, path, &ino);
    if (rc < 0)
        return rc;
    if (offset >= max_u64(ino->len, ino->dur_len))
        return FL_E_INVAL;
    uint64_t end = len > UINT64_MAX - offset ? UINT64_MAX : offset + len;
    if (offset < ino->len)
        memset(ino->data + offset, 0, (size_t)(min_u64(end, ino->len) - offset));
    for (size_t i = 0; i < ino->nundo; i++) {
        const sim_undo *u = &ino->undo[i];
        uint64_t lo = max_u64(offset, u->off), hi = min_u64(end, u->off + u->len);
        if (lo < hi)
            memset(ino->ubytes + u->pos + (lo - u->off), 0, (size_t)(hi - lo));
    }
    return 0;
}

int sim_disk_zero_sector(sim_disk *d, const char *path, uint64_t sector)
{
    if (sector > UINT64_MAX / SIM_DISK_SECTOR)
        return FL_E_INVAL;
    return sim_disk_zero_range(d, path, sector * SIM_DISK_SECTOR, SIM_DISK_SECTOR);
}

/* ------------------------------------------------------------------ */
/* fault configuration */

int sim_disk_inject_io_error(sim_disk *d, sim_disk_op op, unsigned nth, bool persistent,
                             const char *path_prefix)
{
    if (d == NULL || nth == 0 || op < SIM_DISK_OP_READ || op > SIM_DISK_OP_DIR_LIST)
        return FL_E_INVAL;
    int rc = sim_grow((void **)&d->rules, &d->caprules, d->nrules + 1, sizeof *d->rules, 8);
    if (rc < 0)
        return rc;
    char *prefix = NULL;
    if (path_prefix != NULL && (prefix = dup_str(path_prefix)) == NULL)
        return FL_E_NOMEM;
    d->rules[d->nrules++] = (sim_fault_rule){
        .op = (int)op, .remaining = nth, .persistent = persistent, .prefix = prefix};
    return 0;
}

void sim_disk_clear_faults(sim_disk *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nrules; i++)
        free(d->rules[i].prefix);
    d->nrules = 0;
}

void sim_disk_set_space_budget(sim_disk *d, uint64_t bytes)
{
    if (d != NULL)
        d->budget = bytes;
}

void sim_disk_set_sync_latency(sim_disk *d, uint64_t us)
{
    if (d != NULL)
        d->sync_latency = us;
}

uint64_t sim_disk_sync_latency(const sim_disk *d)
{
    return d ? d->sync_latency : 0;
}

void sim_disk_set_observer(sim_disk *d, sim_disk_observer_fn fn, void *arg)
{
    if (d == NULL)
        return;
    d->obs = fn;
    d->obs_arg = fn ? arg : NULL;
}

/* ------------------------------------------------------------------ */
/* inspection */

static int copy_out(const uint8_t *src, uint64_t n, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX)
        return FL_E_NOMEM;
    uint8_t *p = malloc((size_t)n);
    if (p == NULL)
        return FL_E_NOMEM;
    if (src != NULL)
        memcpy(p, src, (size_t)n);
    *out = p;
    *len = (size_t)n;
    return 0;
}

static const sim_entry *inspect_entry(const sim_disk *d, const char *path)
{
    sim_pathbuf p;
    if (d == NULL || norm_path(path, p, false) < 0)
        return NULL;
    return ent_find(d, p);
}

int sim_disk_read_durable(const sim_disk *d, const char *path, uint8_t **out, size_t *len)
{
    if (out == NULL || len == NULL)
        return FL_E_INVAL;
    const sim_entry *e = inspect_entry(d, path);
    if (e == NULL || e->dur == NULL)
        return FL_E_NOENT;
    const sim_inode *ino = e->dur;
    int rc = copy_out(NULL, ino->dur_len, out, len);
    if (rc < 0 || *out == NULL)
        return rc;
    uint64_t have = min_u64(ino->len, ino->dur_len);
    if (have > 0)
        memcpy(*out, ino->data, (size_t)have);
    memset(*out + have, 0, (size_t)(ino->dur_len - have));
    undo_apply(ino, *out, ino->dur_len);
    return 0;
}

int sim_disk_read_current(const sim_disk *d, const char *path, uint8_t **out, size_t *len)
{
    if (out == NULL || len == NULL)
        return FL_E_INVAL;
    const sim_entry *e = inspect_entry(d, path);
    if (e == NULL || e->cur == NULL)
        return FL_E_NOENT;
    return copy_out(e->cur->data, e->cur->len, out, len);
}

bool sim_disk_exists(const sim_disk *d, const char *path, int durable)
{
    const sim_entry *e = inspect_entry(d, path);
    if (e == NULL)
        return false;
    return durable ? e->dur != NULL : e->cur != NULL;
}

static void fill_info(const sim_entry *e, sim_disk_file_info *info)
{
    *info = (sim_disk_file_info){
        .path = e->path,
        .exists_current = e->cur != NULL,
        .exists_durable = e->dur != NULL,
        .current_size = e->cur ? e->cur->len : 0,
        .durable_size = e->dur ? e->dur->dur_len : 0,
        .pending_ops = e->cur ? e->cur->npend : 0,
    };
}

int sim_disk_stat(const sim_disk *d, const char *path, sim_disk_file_info *info)
{
    if (info == NULL)
        return FL_E_INVAL;
    const sim_entry *e = inspect_entry(d, path);
    if (e == NULL)
        return FL_E_NOENT;
    fill_info(e, info);
    return 0;
}

uint64_t sim_disk_total_bytes(const sim_disk *d)
{
    return d ? d->total : 0;
}

size_t sim_disk_file_count(const sim_disk *d)
{
    size_t n = 0;
    for (size_t i = 0; d != NULL && i < d->nents; i++)
        n += d->ents[i].cur != NULL;
    return n;
}

int sim_disk_list_all(const sim_disk *d, sim_disk_list_fn fn, void *arg)
{
    if (d == NULL || fn == NULL)
        return FL_E_INVAL;
    for (size_t i = 0; i < d->nents; i++) {
        sim_disk_file_info info;
        fill_info(&d->ents[i], &info);
        int rc = fn(arg, &info);
        if (rc != 0)
            return rc;
    }
    return 0;
}
