/* The core shared by the file publish and bookmark stores: options, the
 * open sequence with its recovery report, errors and the poison rule
 * (store_file_util.h).
 */
#include "store_file_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/record.h"
#include "store_util.h"

/* ------------------------------------------------------------------ */
/* options */

/* Where own_option writes, and whether segment_size was given already. */
typedef struct own_ctx {
    fl__file_opts *out;
    bool seen_segment_size;
} own_ctx;

/* The file stores' own key on top of the shared ones (store_util.h):
 * segment_size=<bytes> (>= 4096), at most once like every other key. */
static int own_option(void *arg, const char *key, size_t klen, const char *v, size_t vlen,
                      char *err, size_t errcap)
{
    own_ctx *oc = arg;
    if (klen != 12 || memcmp(key, "segment_size", 12) != 0)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: unknown key '%.*s'", (int)klen,
                              key);
    if (oc->seen_segment_size)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: key 'segment_size' given twice");
    uint64_t x = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return fl__store_errf(FL_E_INVAL, err, errcap, "options: bad segment_size '%.*s'",
                                  (int)vlen, v);
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
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
    own_ctx oc = {out, false};
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
    if (rc < 0) {
        if (rc == FL_E_DAMAGED && fs->err[0])
            fl__store_errf(rc, err, errcap, "%s", fs->err);
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

int fl__file_store_list_files(fl__file_store *fs, fl_store_file_fn fn, void *arg)
{
    return fl_seglog_list_files(fs->log, fn, arg);
}

const char *fl__file_store_last_error(const fl__file_store *fs)
{
    return fs->err;
}
