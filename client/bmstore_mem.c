/* The built-in "memory" bookmark store: duplicate filtering and resume
 * points for bookmark subscriptions, kept in memory only (nothing survives
 * close or a crash; a restarted client resumes from EPOCH for every sub id).
 *
 * The state and its rules (log, is_discarded, most_recent) are bmstate.h's,
 * shared with the file store; this file is the vtable over it. Persisted
 * acks change nothing here (nothing to prune in memory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmstate.h"
#include "faultline/error.h"
#include "faultline/store.h"
#include "store_util.h"

typedef struct mem_bmstore {
    fl__bmstate st;
    char err[160];
} mem_bmstore;

static int set_err(mem_bmstore *s, int code, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s", what);
    return code;
}

static int check_args(mem_bmstore *s, const char *op, const char *sub_id,
                      const fl_store_bookmark *bm)
{
    return fl__bmstate_check_args(op, sub_id, bm, s->err, sizeof s->err);
}

static int bm_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    if (!self_out)
        return fl__store_errf(FL_E_INVAL, err, errcap, "open: self_out is NULL");
    int rc = fl__store_env_check(env, false, err, errcap);
    if (rc)
        return rc;
    fl__store_options o;
    rc = fl__store_options_parse(env->options, &o, err, errcap);
    if (rc)
        return rc;
    mem_bmstore *s = calloc(1, sizeof *s);
    if (!s)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "out of memory");
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    *self_out = s;
    return 0;
}

static void bm_close(void *self)
{
    mem_bmstore *s = self;
    if (!s)
        return;
    fl__bmstate_free(&s->st);
    free(s);
}

static int bm_log(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "log", sub_id, bm);
    if (rc)
        return rc;
    int v = fl__bmstate_log_verdict(&s->st, sub_id, bm);
    if (v != 2)
        return v;
    rc = fl__bmstate_log(&s->st, sub_id, bm->publisher, bm->sequence, bm->ts_us);
    return rc ? set_err(s, rc, "log: out of memory") : 0; /* the verdict rules out CORRUPT */
}

static int bm_discard(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "discard", sub_id, bm);
    if (rc)
        return rc;
    fl__bmstate_discard(&s->st, sub_id, bm->publisher, bm->sequence);
    return 0;
}

static int bm_is_discarded(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "is_discarded", sub_id, bm);
    if (rc)
        return rc;
    return fl__bmstate_is_discarded(&s->st, sub_id, bm);
}

static int bm_most_recent(void *self, const char *sub_id, char *buf, size_t cap)
{
    mem_bmstore *s = self;
    if (!sub_id || (!buf && cap))
        return set_err(s, FL_E_INVAL, "most_recent: NULL sub id or buffer");
    return fl__bmstate_most_recent(&s->st, sub_id, buf, cap);
}

static int bm_persisted(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    return check_args(self, "persisted", sub_id, bm);
}

static int bm_prune(void *self)
{
    return 0; /* nothing dead is kept: discarded entries leave the ring at once */
}

static int bm_purge(void *self, const char *sub_id)
{
    fl__bmstate_purge(&((mem_bmstore *)self)->st, sub_id);
    return 0;
}

static int bm_flush(void *self)
{
    return 0;
}

static int bm_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return 0;
}

static const char *bm_last_error(void *self)
{
    return ((mem_bmstore *)self)->err;
}

const fl_bmstore_ops fl_bmstore_memory = {
    .version = FL_STORE_ABI_VERSION,
    .name = "memory",
    .open = bm_open,
    .close = bm_close,
    .log = bm_log,
    .discard = bm_discard,
    .is_discarded = bm_is_discarded,
    .most_recent = bm_most_recent,
    .persisted = bm_persisted,
    .prune = bm_prune,
    .purge = bm_purge,
    .flush = bm_flush,
    .list_files = bm_list_files,
    .last_error = bm_last_error,
};
