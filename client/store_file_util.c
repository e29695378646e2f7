/* The core shared by the file publish and bookmark stores: options, the
 * open sequence with its recovery report, the reservation file, errors and
 * the poison rule (store_file_util.h).
 */
#include "store_file_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/crc32c.h"
#include "faultline/error.h"
#include "faultline/record.h"
#include "store_util.h"

/* ------------------------------------------------------------------ */
/* options */

/* Where own_option writes, and which of its keys were given already. */
typedef struct own_ctx {
    fl__file_opts *out;
    bool seen_segment_size;
    bool seen_recycle;
} own_ctx;

/* Parse a decimal u64 into *x (0 when empty); false for a non-digit or a
 * value above UINT64_MAX. */
static bool parse_u64(const char *v, size_t vlen, uint64_t *x)
{
    *x = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9' || *x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return false;
        *x = *x * 10 + (uint64_t)(v[i] - '0');
    }
    return true;
}

/* recycle=<n> (0..FL_SEGLOG_MAX_RECYCLE), at most once. */
static int recycle_option(own_ctx *oc, const char *v, size_t vlen, char *err, size_t errcap)
{
    if (oc->seen_recycle)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: key 'recycle' given twice");
    uint64_t x = 0;
    if (vlen == 0 || !parse_u64(v, vlen, &x) || x > FL_SEGLOG_MAX_RECYCLE)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: recycle '%.*s' must be 0..%d",
                              (int)vlen, v, FL_SEGLOG_MAX_RECYCLE);
    oc->out->recycle = (uint32_t)x;
    oc->seen_recycle = true;
    return 0;
}

/* The file stores' own keys on top of the shared ones (store_util.h):
 * segment_size=<bytes> (>= 4096) and recycle=<n>, each at most once like
 * every other key. */
static int own_option(void *arg, const char *key, size_t klen, const char *v, size_t vlen,
                      char *err, size_t errcap)
{
    own_ctx *oc = arg;
    if (klen == 7 && memcmp(key, "recycle", 7) == 0)
        return recycle_option(oc, v, vlen, err, errcap);
    if (klen != 12 || memcmp(key, "segment_size", 12) != 0)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: unknown key '%.*s'", (int)klen,
                              key);
    if (oc->seen_segment_size)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: key 'segment_size' given twice");
    uint64_t x = 0;
    if (!parse_u64(v, vlen, &x))
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: bad segment_size '%.*s'",
                              (int)vlen, v);
    if (vlen == 0 || x < 4096)
        return fl__store_errf(FL_E_INVAL, err, errcap,
                              "options: segment_size '%.*s' must be >= 4096", (int)vlen, v);
    oc->out->segment_size = x;
    oc->seen_segment_size = true;
    return 0;
}

int fl__file_opts_parse(const fl__file_kind *kind, const char *text, fl__file_opts *out, char *err,
                        size_t errcap)
{
    static const int modes[] = {
        [FL__RECOVERY_STRICT] = FL_RECOVERY_STRICT,
        [FL__RECOVERY_TOLERATE_TORN_TAIL] = FL_RECOVERY_TOLERATE_TORN_TAIL,
        [FL__RECOVERY_POINT_IN_TIME] = FL_RECOVERY_POINT_IN_TIME,
        [FL__RECOVERY_SALVAGE] = FL_RECOVERY_SALVAGE,
    };
    fl__store_options so;
    out->segment_size = kind->segment_size;
    out->max_record = kind->max_record;
    out->recycle = kind->recycle;
    own_ctx oc = {out, false, false};
    int rc = fl__store_options_parse_ex(text, &so, own_option, &oc, err, errcap);
    if (rc < 0)
        return rc;
    out->sync = so.sync == FL__SYNC_ALWAYS ? FL_SYNC_ALWAYS
                : so.sync == FL__SYNC_NONE ? FL_SYNC_NONE
                                           : FL_SYNC_BATCH;
    out->batch_window_us = so.batch_window_us;
    out->recovery = modes[so.recovery];
    out->capacity = so.capacity;
    return 0;
}

void fl__file_seglog_options(const fl__file_kind *kind, const fl__file_opts *opts,
                             const fl_store_env *env, fl_seglog_options *o)
{
    *o = (fl_seglog_options)FL_SEGLOG_OPTIONS_INIT;
    o->rt = env->rt;
    o->dir = env->dir;
    o->kind = kind->seg_kind;
    o->segment_size = opts->segment_size;
    o->segment_age_us = 0;
    o->recovery = opts->recovery;
    o->sync = opts->sync;
    o->batch_window_us = opts->batch_window_us;
    o->batch_count = 0;
    o->max_record = opts->max_record;
    o->recycle = opts->recycle; /* the seglog uses it under point_in_time and salvage only */
}

/* ------------------------------------------------------------------ */
/* the recovery report */

/* Advance *at by n, never past cap - 1 (snprintf reports what it wanted). */
static void clamp_add(size_t *at, int n, size_t cap)
{
    if (n > 0)
        *at += (size_t)n;
    if (*at >= cap)
        *at = cap - 1;
}

/* Append `text` JSON-escaped to out[*at..cap), NUL terminated. */
static void json_escape(char *out, size_t cap, size_t *at, const char *text)
{
    for (const char *c = text; *c && *at + 7 < cap; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == '"' || ch == '\\') {
            out[(*at)++] = '\\';
            out[(*at)++] = (char)ch;
        } else if (ch < 0x20) {
            *at += (size_t)snprintf(out + *at, cap - *at, "\\u%04x", ch);
        } else {
            out[(*at)++] = (char)ch;
        }
    }
    out[*at] = '\0';
}

/* Fold records with a good checksum but an unusable body into the report,
 * and trace what recovery dropped ("recovery_drop"). */
static void report_recovery(const fl_store_env *env, const char *source, fl_store_recovery *rep,
                            uint64_t bad_records)
{
    if (bad_records) {
        rep->records_dropped += bad_records;
        size_t n = strlen(rep->text);
        snprintf(rep->text + n, sizeof rep->text - n, "%s%" PRIu64 " malformed record(s) dropped",
                 n ? "; " : "", bad_records);
    }
    if (rep->records_dropped == 0 && rep->bytes_dropped == 0)
        return;
    char f[1024];
    size_t at = 0;
    clamp_add(&at, snprintf(f, sizeof f, "\"dir\":\""), sizeof f);
    json_escape(f, sizeof f / 4, &at, env->dir);
    clamp_add(
        &at,
        snprintf(f + at, sizeof f - at,
                 "\",\"records_ok\":%" PRIu64 ",\"records_dropped\":%" PRIu64
                 ",\"bytes_dropped\":%" PRIu64 ",\"bytes_quarantined\":%" PRIu64 ",\"text\":\"",
                 rep->records_ok, rep->records_dropped, rep->bytes_dropped, rep->bytes_quarantined),
        sizeof f);
    json_escape(f, sizeof f - 2, &at, rep->text);
    if (at > sizeof f - 2)
        at = sizeof f - 2;
    f[at++] = '"';
    f[at] = '\0';
    fl_rt_trace(env->rt, source, "recovery_drop", f);
}

/* ------------------------------------------------------------------ */
/* the reservation file (store_file_util.h) */

#define RESV_MAGIC    0x464c5256u /* "FLRV" */
#define RESV_VERSION  1u
#define RESV_REC      20u  /* magic u32, version u32, upto u64, masked crc u32 */
#define RESV_SLOT     512u /* slot i at i * RESV_SLOT: one sector each */
#define RESV_SIZE     (2u * RESV_SLOT)
#define RESV_PATH_CAP 1024u

static void resv_encode(uint8_t *p, uint64_t upto)
{
    fl_store_be32(p, RESV_MAGIC);
    fl_store_be32(p + 4, RESV_VERSION);
    fl_store_be64(p + 8, upto);
    fl_store_be32(p + 16, fl_crc32c_mask(fl_crc32c(0, p, 16)));
}

/* 1 with *upto when the `avail` bytes at p hold a valid slot, else 0. */
static int resv_decode(const uint8_t *p, size_t avail, uint64_t *upto)
{
    if (avail < RESV_REC || fl_load_be32(p) != RESV_MAGIC || fl_load_be32(p + 4) != RESV_VERSION ||
        fl_crc32c_unmask(fl_load_be32(p + 16)) != fl_crc32c(0, p, 16))
        return 0;
    *upto = fl_load_be64(p + 8);
    return 1;
}

/* out = fs->resv_path + suffix; FL_E_INVAL when it does not fit. */
static int resv_path_with(const fl__file_store *fs, const char *suffix, char *out)
{
    int n = snprintf(out, RESV_PATH_CAP, "%s%s", fs->resv_path, suffix);
    return n < 0 || (size_t)n >= RESV_PATH_CAP ? FL_E_INVAL : 0;
}

/* The directory part of fs->resv_path (the store's dir) into out. */
static void resv_dir(const fl__file_store *fs, char *out)
{
    snprintf(out, RESV_PATH_CAP, "%s", fs->resv_path);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
}

static int resv_errf(fl__file_store *fs, const char *what, const char *path, int rc)
{
    snprintf(fs->err, sizeof fs->err, "%s: %s %.160s: %s", fs->kind->what, what, path,
             fl_strerror(rc));
    return rc;
}

/* A failed file or directory sync: the state on disk is unknown and the
 * sync is never retried (runtime.h), so the handle is poisoned. */
static int resv_sync_failed(fl__file_store *fs, const char *what, const char *path, int rc)
{
    resv_errf(fs, what, path, rc);
    fs->poison = FL_E_SYNC_FAILED;
    return FL_E_SYNC_FAILED;
}

/* Write the whole file (both slots = upto) as "<name>.tmp", sync it,
 * rename it over "<name>", sync the directory; keep the handle open. */
static int resv_create(fl__file_store *fs, uint64_t upto)
{
    const fl_runtime *rt = fs->rt;
    char tmp[RESV_PATH_CAP], dir[RESV_PATH_CAP];
    int rc = resv_path_with(fs, ".tmp", tmp);
    if (rc < 0)
        return resv_errf(fs, "path", fs->resv_path, rc);
    uint8_t b[RESV_SIZE];
    memset(b, 0, sizeof b);
    resv_encode(b, upto);
    resv_encode(b + RESV_SLOT, upto);
    fl_file *f = NULL;
    rc = rt->ops->file_open(rt->self, tmp,
                            FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_TRUNC, &f);
    if (rc < 0)
        return resv_errf(fs, "create", tmp, rc);
    rc = rt->ops->file_write(rt->self, f, 0, b, sizeof b);
    if (rc < 0) {
        rt->ops->file_close(rt->self, f);
        return resv_errf(fs, "write", tmp, rc);
    }
    rc = rt->ops->file_sync(rt->self, f);
    if (rc < 0) {
        rt->ops->file_close(rt->self, f);
        return resv_sync_failed(fs, "sync", tmp, rc);
    }
    rc = rt->ops->file_rename(rt->self, tmp, fs->resv_path);
    if (rc < 0) {
        rt->ops->file_close(rt->self, f);
        return resv_errf(fs, "rename to", fs->resv_path, rc);
    }
    if (fs->resv_file)
        rt->ops->file_close(rt->self, fs->resv_file);
    fs->resv_file = f; /* the handle follows the file through the rename */
    resv_dir(fs, dir);
    rc = rt->ops->dir_sync(rt->self, dir);
    if (rc < 0)
        return resv_sync_failed(fs, "directory sync", dir, rc);
    fs->resv_upto = upto;
    fs->resv_slot = 0;
    return 0;
}

int fl__file_store_reserve(fl__file_store *fs, uint64_t upto)
{
    if (fs->poison)
        return fs->poison;
    if (fs->resv_path == NULL)
        return FL_E_INVAL;
    if (fs->resv_file == NULL)
        return resv_create(fs, upto);
    const fl_runtime *rt = fs->rt;
    unsigned slot = fs->resv_slot ^ 1u; /* never the slot holding the current value */
    uint8_t b[RESV_REC];
    resv_encode(b, upto);
    int rc = rt->ops->file_write(rt->self, fs->resv_file, (uint64_t)slot * RESV_SLOT, b, sizeof b);
    if (rc < 0)
        return resv_errf(fs, "write", fs->resv_path, rc);
    rc = rt->ops->file_sync(rt->self, fs->resv_file);
    if (rc < 0)
        return resv_sync_failed(fs, "sync", fs->resv_path, rc);
    fs->resv_upto = upto;
    fs->resv_slot = slot;
    return 0;
}

/* Read up to RESV_SIZE bytes of the open file; *n is how many. */
static int resv_read(fl__file_store *fs, fl_file *f, uint8_t *b, size_t *n)
{
    const fl_runtime *rt = fs->rt;
    *n = 0;
    memset(b, 0, RESV_SIZE);
    int rc = rt->ops->file_read(rt->self, f, 0, b, RESV_SIZE, n);
    return rc < 0 ? resv_errf(fs, "read", fs->resv_path, rc) : 0;
}

/* Append the whole damaged file to "<name>.quarantine" and sync it. */
static int resv_quarantine(fl__file_store *fs, fl_file *src, fl_store_recovery *rep)
{
    const fl_runtime *rt = fs->rt;
    char q[RESV_PATH_CAP];
    int rc = resv_path_with(fs, ".quarantine", q);
    if (rc < 0)
        return resv_errf(fs, "path", fs->resv_path, rc);
    fl_file *f = NULL;
    rc = rt->ops->file_open(rt->self, q, FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE, &f);
    if (rc < 0)
        return resv_errf(fs, "create", q, rc);
    uint64_t at = 0, off = 0;
    rc = rt->ops->file_size(rt->self, f, &at);
    uint8_t b[RESV_SIZE];
    for (size_t n = sizeof b; rc == 0 && n == sizeof b; off += n) {
        rc = rt->ops->file_read(rt->self, src, off, b, sizeof b, &n);
        if (rc == 0 && n)
            rc = rt->ops->file_write(rt->self, f, at + off, b, n);
    }
    if (rc < 0) {
        rt->ops->file_close(rt->self, f);
        return resv_errf(fs, "quarantine", q, rc);
    }
    rc = rt->ops->file_sync(rt->self, f);
    rt->ops->file_close(rt->self, f);
    if (rc < 0)
        return resv_errf(fs, "sync", q, rc);
    rep->bytes_quarantined += off;
    return 0;
}

/* No valid slot (see the header for the rule per mode). */
static int resv_damaged(fl__file_store *fs, fl_file *f, void *arg, fl_store_recovery *rep)
{
    if (fs->opts.recovery == FL_RECOVERY_STRICT ||
        fs->opts.recovery == FL_RECOVERY_TOLERATE_TORN_TAIL) {
        snprintf(fs->err, sizeof fs->err,
                 "%s: %s: no valid reservation slot (recovery mode %s refuses damage)",
                 fs->kind->what, fs->resv_path,
                 fs->opts.recovery == FL_RECOVERY_STRICT ? "strict" : "tolerate_torn_tail");
        return FL_E_DAMAGED;
    }
    int rc = resv_quarantine(fs, f, rep);
    if (rc < 0)
        return rc;
    uint64_t last = fs->kind->recovered_last ? fs->kind->recovered_last(arg) : 0;
    uint64_t upto = last > UINT64_MAX - fs->kind->reserve_fallback
                        ? UINT64_MAX
                        : last + fs->kind->reserve_fallback;
    rc = resv_create(fs, upto);
    if (rc < 0)
        return rc == FL_E_SYNC_FAILED ? FL_E_IO : rc;
    rep->records_dropped++;
    size_t n = strlen(rep->text);
    snprintf(rep->text + n, sizeof rep->text - n,
             "%sreservation file damaged (no valid slot): last_sequence raised from %" PRIu64
             " to %" PRIu64,
             n ? "; " : "", last, upto);
    return 0;
}

/* Remove "<name>.tmp", the residue of an interrupted creation, if any (its
 * reservation was never relied upon). Always 0. */
static int resv_drop_tmp(fl__file_store *fs)
{
    char tmp[RESV_PATH_CAP];
    if (resv_path_with(fs, ".tmp", tmp) == 0)
        (void)fs->rt->ops->file_unlink(fs->rt->self, tmp);
    return 0;
}

/* Open: load the reservation file (store_file_util.h), after the seglog's
 * recovery. */
static int resv_open(fl__file_store *fs, const fl_store_env *env, void *arg, fl_store_recovery *rep)
{
    const fl_runtime *rt = fs->rt;
    size_t len = strlen(env->dir) + 1 + strlen(fs->kind->reserve_name) + 1;
    if (len + 16 > RESV_PATH_CAP)
        return resv_errf(fs, "path too long:", env->dir, FL_E_INVAL);
    fs->resv_path = malloc(len);
    if (fs->resv_path == NULL)
        return resv_errf(fs, "open", fs->kind->reserve_name, FL_E_NOMEM);
    snprintf(fs->resv_path, len, "%s/%s", env->dir, fs->kind->reserve_name);
    fl_file *f = NULL;
    int rc = rt->ops->file_open(rt->self, fs->resv_path, FL_FILE_READ | FL_FILE_WRITE, &f);
    if (rc == FL_E_NOENT)
        return resv_drop_tmp(fs);
    if (rc < 0)
        return resv_errf(fs, "open", fs->resv_path, rc);
    uint8_t b[RESV_SIZE];
    size_t n = 0;
    rc = resv_read(fs, f, b, &n);
    uint64_t v0 = 0, v1 = 0;
    int ok0 = rc == 0 && resv_decode(b, n, &v0);
    int ok1 = rc == 0 && n > RESV_SLOT && resv_decode(b + RESV_SLOT, n - RESV_SLOT, &v1);
    if (rc == 0 && (ok0 || ok1)) {
        fs->resv_file = f;
        fs->resv_slot = ok1 && (!ok0 || v1 > v0) ? 1u : 0u;
        fs->resv_upto = fs->resv_slot ? v1 : v0;
        return resv_drop_tmp(fs);
    }
    if (rc == 0)
        rc = resv_damaged(fs, f, arg, rep);
    rt->ops->file_close(rt->self, f); /* the repair opened the new file */
    return rc < 0 ? rc : resv_drop_tmp(fs);
}

static void resv_close(fl__file_store *fs)
{
    if (fs->resv_file)
        fs->rt->ops->file_close(fs->rt->self, fs->resv_file);
    fs->resv_file = NULL;
    free(fs->resv_path);
    fs->resv_path = NULL;
}

/* ------------------------------------------------------------------ */
/* open / close */

int fl__file_store_check_open(const fl__file_kind *kind, const fl_store_env *env, void **self_out,
                              char *err, size_t errcap)
{
    int rc = fl__store_env_check(env, true, err, errcap);
    if (rc < 0)
        return rc;
    if (self_out == NULL || env->dir == NULL)
        return fl__store_errf(FL_E_INVAL, err, errcap, "%s: no dir or self_out", kind->what);
    return 0;
}

int fl__file_store_open(fl__file_store *fs, const fl__file_kind *kind, const fl_store_env *env,
                        fl_seglog_record_fn on_record, void *arg, fl_store_recovery *recovery,
                        char *err, size_t errcap)
{
    fs->kind = kind;
    fs->rt = env->rt;
    fl_buf_init(&fs->scratch);
    int rc = fl__file_opts_parse(kind, env->options, &fs->opts, err, errcap);
    if (rc < 0)
        return rc;
    fs->strict = fs->opts.recovery == FL_RECOVERY_STRICT;
    fl_store_recovery rep;
    memset(&rep, 0, sizeof rep);
    fl_seglog_options o;
    fl__file_seglog_options(kind, &fs->opts, env, &o);
    rc = fl_seglog_open(&o, on_record, arg, &fs->log, &rep, err, errcap);
    if (rc == 0 && kind->reserve_name) {
        rc = resv_open(fs, env, arg, &rep);
        if (rc < 0) {
            fl__store_errf(rc, err, errcap, "%s", fs->err);
            fl_seglog_close(fs->log);
            resv_close(fs);
        }
    } else if (rc < 0 && rc == FL_E_DAMAGED && fs->err[0]) {
        fl__store_errf(rc, err, errcap, "%s", fs->err);
    }
    if (rc < 0) {
        fs->log = NULL;
        fl_buf_free(&fs->scratch);
        return rc;
    }
    report_recovery(env, kind->source, &rep, fs->bad_records);
    if (recovery)
        *recovery = rep;
    return 0;
}

void fl__file_store_close(fl__file_store *fs)
{
    fl_seglog_close(fs->log);
    fs->log = NULL;
    resv_close(fs);
    fl_buf_free(&fs->scratch);
}

/* ------------------------------------------------------------------ */
/* errors */

void fl__file_store_set_err(fl__file_store *fs, const char *what, int rc)
{
    const char *detail = fs->log ? fl_seglog_last_error(fs->log) : "";
    snprintf(fs->err, sizeof fs->err, "%s: %s: %s%s%s", fs->kind->what, what, fl_strerror(rc),
             detail[0] ? ": " : "", detail);
}

int fl__file_store_fail(fl__file_store *fs, const char *what, int rc)
{
    if (rc == FL_E_SYNC_FAILED)
        fs->poison = FL_E_SYNC_FAILED;
    fl__file_store_set_err(fs, what, rc);
    return rc;
}

int fl__file_store_on_bad_record(fl__file_store *fs, uint64_t recno, unsigned type, size_t len,
                                 int rc)
{
    if (rc >= 0 || rc == FL_E_NOMEM)
        return rc;
    if (fs->strict) {
        snprintf(fs->err, sizeof fs->err,
                 "%s: record %" PRIu64 " (type %u, %zu bytes) is malformed", fs->kind->what, recno,
                 type, len);
        return FL_E_DAMAGED;
    }
    fs->bad_records++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* operations */

int fl__file_store_append_scratch(fl__file_store *fs, unsigned type, const char *what,
                                  uint64_t *recno)
{
    int rc = fl_seglog_append(fs->log, type, fs->scratch.data, (uint32_t)fs->scratch.len, recno);
    return rc < 0 ? fl__file_store_fail(fs, what, rc) : 0;
}

int fl__file_store_flush(fl__file_store *fs)
{
    if (fs->poison)
        return fs->poison;
    int rc = fl_seglog_sync(fs->log);
    return rc < 0 ? fl__file_store_fail(fs, "flush", rc) : 0;
}

/* The caller's callback, and whether it asked to stop. */
typedef struct list_ctx {
    fl_store_file_fn fn;
    void *arg;
    int stopped;
} list_ctx;

static int list_one(void *arg, const char *path)
{
    list_ctx *c = arg;
    if (c->fn(c->arg, path))
        c->stopped = 1;
    return c->stopped;
}

/* The reservation file, then its quarantine copy, if they exist (segment
 * names are hex digits, so the whole list stays in name order). */
static void resv_list_files(fl__file_store *fs, list_ctx *c)
{
    const fl_runtime *rt = fs->rt;
    char p[RESV_PATH_CAP];
    if (fs->resv_file && !c->stopped)
        list_one(c, fs->resv_path);
    fl_file *f = NULL;
    if (c->stopped || resv_path_with(fs, ".quarantine", p) < 0 ||
        rt->ops->file_open(rt->self, p, FL_FILE_READ, &f) < 0)
        return;
    rt->ops->file_close(rt->self, f);
    list_one(c, p);
}

int fl__file_store_list_files(fl__file_store *fs, fl_store_file_fn fn, void *arg)
{
    if (fn == NULL)
        return FL_E_INVAL;
    list_ctx c = {fn, arg, 0};
    int rc = fl_seglog_list_files(fs->log, list_one, &c);
    if (rc == 0 && fs->resv_path)
        resv_list_files(fs, &c);
    return rc;
}

const char *fl__file_store_last_error(const fl__file_store *fs)
{
    return fs->err;
}
