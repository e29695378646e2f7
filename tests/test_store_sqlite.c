/* Unit tests for the SQLite publish store (client/pubstore_sqlite.c), the
 * SQLite bookmark store (client/bmstore_sqlite.c) and the VFS shim under
 * them (client/sqlite_vfs.c), on the simulation runtime's disk:
 *   - the store contract table under every sync policy;
 *   - power loss right after the Nth file sync of a small workload, for
 *     every N until the workload runs untouched: the reopened store equals
 *     the reference (memory store) state as of some operation at or after
 *     the last durable point (with sync=always: every acknowledged call),
 *     nothing half-applied, and PRAGMA integrity_check is ok;
 *   - an injected I/O error on the Nth read / write / sync / truncate /
 *     open / unlink / directory sync surfaces as a store error (never a
 *     crash), and the reopened database is consistent;
 *   - torn writes: power loss with random tearing of unsynced writes;
 *   - files that are not ours (not SQLite, other application_id, a foreign
 *     SQLite database) and newer format versions are refused with clear text;
 *   - the batch window makes a group durable by itself (runtime timer);
 *   - the same seed writes the same bytes (the SQLite PRNG is seeded from
 *     the runtime);
 *   - the shim's methods one by one (short reads, xAccess, directory syncs,
 *     ENOSPC, clock, randomness). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/crc32c.h"
#include "faultline/error.h"
#include "faultline/store.h"
#include "lib/store_contract.h"
#include "lib/store_contract_sim.h"
#include "sim.h"
#include "sim_disk.h"
#include "sqlite_vfs.h"

#define DIR       "store"
#define PUB_DB    DIR "/pubstore.db"
#define BM_DB     DIR "/bmstore.db"
#define PAYLOAD   100
#define WINDOW_US 1000
#define SNAP_CAP  4096

/* ------------------------------------------------------------------ */
/* a runtime wrapper that freezes the file layer after the Nth file sync */

/* Forwards everything to the node's runtime. Once `frozen` is set (by the
 * disk observer, right after the Nth successful file sync), every file
 * operation fails with FL_E_IO without reaching the disk: the process is
 * stopped at that instant, and the power loss that follows keeps exactly
 * what the disk held then. */
typedef struct freeze_rt {
    fl_runtime rt;
    fl_runtime_ops ops;
    const fl_runtime *inner;
    unsigned syncs; /* file syncs seen by the observer */
    unsigned limit; /* freeze after this many (0: never) */
    bool frozen;
    unsigned op_counts[16]; /* successful disk operations by kind */
} freeze_rt;

#define INNER(self)  (((freeze_rt *)(self))->inner)
#define FROZEN(self) (((freeze_rt *)(self))->frozen)

static uint64_t w_now(void *self)
{
    return fl_rt_now(INNER(self));
}

static uint64_t w_random(void *self)
{
    return fl_rt_random(INNER(self));
}

static int w_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg, fl_timer_id *out)
{
    return fl_rt_timer_start(INNER(self), delay_us, fn, arg, out);
}

static void w_timer_cancel(void *self, fl_timer_id id)
{
    fl_rt_timer_cancel(INNER(self), id);
}

static int w_file_open(void *self, const char *path, int flags, fl_file **out)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_open(INNER(self)->self, path, flags, out);
}

static int w_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    if (FROZEN(self)) {
        *nread = 0;
        return FL_E_IO;
    }
    return INNER(self)->ops->file_read(INNER(self)->self, f, off, buf, len, nread);
}

static int w_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_write(INNER(self)->self, f, off, buf, len);
}

static int w_file_sync(void *self, fl_file *f)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_sync(INNER(self)->self, f);
}

static int w_file_truncate(void *self, fl_file *f, uint64_t size)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_truncate(INNER(self)->self, f, size);
}

static int w_file_size(void *self, fl_file *f, uint64_t *size)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_size(INNER(self)->self, f, size);
}

static void w_file_close(void *self, fl_file *f)
{
    INNER(self)->ops->file_close(INNER(self)->self, f);
}

static int w_file_unlink(void *self, const char *path)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_unlink(INNER(self)->self, path);
}

static int w_file_rename(void *self, const char *from, const char *to)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->file_rename(INNER(self)->self, from, to);
}

static int w_dir_create(void *self, const char *path)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->dir_create(INNER(self)->self, path);
}

static int w_dir_sync(void *self, const char *path)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->dir_sync(INNER(self)->self, path);
}

static int w_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    if (FROZEN(self))
        return FL_E_IO;
    return INNER(self)->ops->dir_list(INNER(self)->self, path, fn, arg);
}

static void freeze_observer(void *arg, int op, const char *path, uint64_t bytes)
{
    freeze_rt *w = arg;
    if (op > 0 && op < 16)
        w->op_counts[op]++;
    if (op == SIM_DISK_OP_SYNC && !w->frozen && ++w->syncs == w->limit)
        w->frozen = true;
}

static void freeze_init(freeze_rt *w, const fl_runtime *inner, unsigned limit)
{
    memset(w, 0, sizeof *w);
    w->inner = inner;
    w->limit = limit;
    w->ops = (fl_runtime_ops){
        .version = FL_RUNTIME_OPS_VERSION,
        .name = "freeze",
        .now = w_now,
        .random = w_random,
        .timer_start = w_timer_start,
        .timer_cancel = w_timer_cancel,
        .file_open = w_file_open,
        .file_read = w_file_read,
        .file_write = w_file_write,
        .file_sync = w_file_sync,
        .file_truncate = w_file_truncate,
        .file_size = w_file_size,
        .file_close = w_file_close,
        .file_unlink = w_file_unlink,
        .file_rename = w_file_rename,
        .dir_create = w_dir_create,
        .dir_sync = w_dir_sync,
        .dir_list = w_dir_list,
    };
    w->rt.ops = &w->ops;
    w->rt.self = w;
}

/* ------------------------------------------------------------------ */
/* fixture: one simulated node */

typedef struct fx {
    uint64_t seed;
    sim_ctx *ctx;
    sim_node *node;
    char err[512];
} fx;

static int world_new(fx *f, uint64_t seed)
{
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = seed;
    f->seed = seed;
    f->ctx = sim_ctx_new(&o);
    if (!f->ctx || sim_node_new(f->ctx, "c", &f->node) != 0)
        return -1;
    const fl_runtime *rt = sim_node_runtime(f->node);
    return rt->ops->dir_create(rt->self, DIR) == 0 ? 0 : -1;
}

static void world_free(fx *f)
{
    sim_ctx_free(f->ctx);
    f->ctx = NULL;
    f->node = NULL;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f || world_new(f, 7) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    world_free(f);
    free(f);
    return 0;
}

static const fl_runtime *rt_of(fx *f)
{
    return sim_node_runtime(f->node);
}

static sim_disk *disk_of(fx *f)
{
    return sim_node_disk(f->node);
}

static fl_store_env env_for(const fl_runtime *rt, const char *options)
{
    fl_store_env env = {FL_STORE_ABI_VERSION, rt, DIR, "c", options};
    return env;
}

/* Cut the power (`tear`: random tear of unsynced writes; else drop them
 * all) and bring the node back. */
static void power_cycle(fx *f, bool tear)
{
    if (tear) {
        sim_node_power_loss(f->node);
    } else {
        sim_disk_power_loss_exact(disk_of(f));
        sim_node_crash(f->node);
    }
    assert_int_equal(sim_node_restart(f->node), 0);
}

/* PRAGMA integrity_check of a database file through a fresh shim. */
static void assert_integrity(fx *f, const char *path)
{
    fl__sqlite_vfs *v = NULL;
    assert_int_equal(fl__sqlite_vfs_new(rt_of(f), &v), 0);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, fl__sqlite_vfs_name(v));
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char got[256];
    snprintf(got, sizeof got, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    fl__sqlite_vfs_free(v);
    assert_string_equal(got, "ok");
}

/* Run raw SQL on a database file through a fresh shim (test setup). */
static void raw_exec(fx *f, const char *path, const char *sql)
{
    fl__sqlite_vfs *v = NULL;
    assert_int_equal(fl__sqlite_vfs_new(rt_of(f), &v), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     fl__sqlite_vfs_name(v)),
                     SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("raw_exec(%s): %s", sql, msg ? msg : "?");
    sqlite3_close(db);
    fl__sqlite_vfs_free(v);
}

/* ------------------------------------------------------------------ */
/* workloads: steps applied to a reference (memory) store and the SUT */

typedef enum step_kind {
    P_STORE,
    P_DISCARD,
    B_LOG,
    B_DISCARD,
    B_PURGE,
    B_PRUNE,
    FLUSH,
} step_kind;

typedef struct step {
    step_kind kind;
    const char *sub;
    uint64_t pub;
    uint64_t seq;
} step;

#define MAX_STEPS 96

typedef struct workload {
    bool bm; /* bookmark store (else publish store) */
    step steps[MAX_STEPS];
    size_t n;
} workload;

static void add(workload *w, step s)
{
    assert_true(w->n < MAX_STEPS);
    w->steps[w->n++] = s;
}

static void pub_workload(workload *w)
{
    memset(w, 0, sizeof *w);
    for (uint64_t s = 1; s <= 12; s++)
        add(w, (step){P_STORE, NULL, 0, s});
    add(w, (step){P_DISCARD, NULL, 0, 5});
    add(w, (step){FLUSH, NULL, 0, 0});
    for (uint64_t s = 13; s <= 20; s++)
        add(w, (step){P_STORE, NULL, 0, s});
    add(w, (step){P_DISCARD, NULL, 0, 20}); /* all: last_sequence must survive */
    add(w, (step){P_STORE, NULL, 0, 25});
    add(w, (step){FLUSH, NULL, 0, 0});
}

static void bm_workload(workload *w)
{
    memset(w, 0, sizeof *w);
    for (uint64_t s = 1; s <= 8; s++) {
        add(w, (step){B_LOG, "a", 7, s});
        add(w, (step){B_LOG, "b", 8, s});
        if (s % 3 != 0)
            add(w, (step){B_DISCARD, "a", 7, s});
        if (s == 4)
            add(w, (step){FLUSH, NULL, 0, 0});
    }
    add(w, (step){B_DISCARD, "a", 7, 3}); /* fills the gap: the point jumps */
    add(w, (step){B_DISCARD, "b", 8, 1});
    add(w, (step){B_PRUNE, NULL, 0, 0});
    add(w, (step){B_PURGE, "b", 0, 0});
    add(w, (step){B_LOG, "b", 8, 2});
    add(w, (step){B_DISCARD, "b", 8, 2});
    add(w, (step){FLUSH, NULL, 0, 0});
}

static const fl_store_bookmark *bk(fl_store_bookmark *b, uint64_t pub, uint64_t seq)
{
    b->publisher = pub;
    b->sequence = seq;
    b->ts_us = 1591228800000000LL + (int64_t)seq * 1000;
    return b;
}

static void payload_of(uint64_t seq, uint8_t *out)
{
    for (size_t i = 0; i < PAYLOAD; i++)
        out[i] = (uint8_t)(seq * 31 + i * 7);
}

/* One store of either kind behind its vtable. */
typedef struct any_store {
    const fl_pubstore_ops *pub;
    const fl_bmstore_ops *bm;
    void *self;
} any_store;

static int do_step(const any_store *s, const step *st)
{
    fl_store_bookmark b;
    switch (st->kind) {
    case P_STORE: {
        uint8_t p[PAYLOAD];
        payload_of(st->seq, p);
        fl_pub_msg m = {st->seq, "orders", 6, p, PAYLOAD};
        return s->pub->store(s->self, &m);
    }
    case P_DISCARD:
        return s->pub->discard_up_to(s->self, st->seq);
    case B_LOG: {
        int rc = s->bm->log(s->self, st->sub, bk(&b, st->pub, st->seq));
        return rc > 0 ? 0 : rc;
    }
    case B_DISCARD:
        return s->bm->discard(s->self, st->sub, bk(&b, st->pub, st->seq));
    case B_PURGE:
        return s->bm->purge(s->self, st->sub);
    case B_PRUNE:
        return s->bm->prune(s->self);
    case FLUSH:
        return s->pub ? s->pub->flush(s->self) : s->bm->flush(s->self);
    }
    return FL_E_INVAL;
}

typedef struct snap_ctx {
    char *out;
    size_t len, cap;
} snap_ctx;

static void snap_add(snap_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void snap_add(snap_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out + c->len, c->cap - c->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->len += (size_t)n < c->cap - c->len ? (size_t)n : c->cap - c->len - 1;
}

static int snap_msg(void *arg, const fl_pub_msg *m)
{
    snap_add(arg, "%" PRIu64 ":%.*s:%08x,", m->sequence, (int)m->topic_len, m->topic,
             fl_crc32c(0, m->payload, m->payload_len));
    return 0;
}

/* Everything the store answers, as text. */
static void snapshot(const any_store *s, char *out, size_t cap)
{
    snap_ctx c = {out, 0, cap};
    out[0] = '\0';
    if (s->pub) {
        snap_add(&c, "last=%" PRIu64 " n=%" PRIu64 " low=%" PRIu64 " [",
                 s->pub->last_sequence(s->self), s->pub->unpersisted_count(s->self),
                 s->pub->lowest_unpersisted(s->self));
        assert_int_equal(s->pub->replay(s->self, snap_msg, &c), 0);
        snap_add(&c, "]");
        return;
    }
    static const char *const subs[] = {"a", "b"};
    static const uint64_t pubs[] = {7, 8};
    for (size_t i = 0; i < 2; i++) {
        char recent[512];
        int rc = s->bm->most_recent(s->self, subs[i], recent, sizeof recent);
        assert_true(rc > 0);
        snap_add(&c, "%s=%s;", subs[i], recent);
        for (size_t p = 0; p < 2; p++) {
            for (uint64_t q = 1; q <= 9; q++) {
                fl_store_bookmark b;
                int d = s->bm->is_discarded(s->self, subs[i], bk(&b, pubs[p], q));
                assert_true(d == 0 || d == 1);
                snap_add(&c, "%d", d);
            }
        }
        snap_add(&c, ";");
    }
}

/* snaps[k]: the reference state after the first k steps (k = 0..n). */
static char (*reference_snaps(const workload *w))[SNAP_CAP]
{
    char(*snaps)[SNAP_CAP] = calloc(w->n + 1, SNAP_CAP);
    assert_non_null(snaps);
    any_store m = {w->bm ? NULL : &fl_pubstore_memory, w->bm ? &fl_bmstore_memory : NULL, NULL};
    fl_store_env env = {FL_STORE_ABI_VERSION, NULL, NULL, "c", NULL};
    int rc = w->bm ? m.bm->open(&env, &m.self, NULL, NULL, 0)
                   : m.pub->open(&env, &m.self, NULL, NULL, 0);
    assert_int_equal(rc, 0);
    snapshot(&m, snaps[0], SNAP_CAP);
    for (size_t k = 0; k < w->n; k++) {
        assert_int_equal(do_step(&m, &w->steps[k]), 0);
        snapshot(&m, snaps[k + 1], SNAP_CAP);
    }
    if (w->bm)
        m.bm->close(m.self);
    else
        m.pub->close(m.self);
    return snaps;
}

static int sut_open(const workload *w, const fl_runtime *rt, const char *options, any_store *s,
                    char *err, size_t errcap)
{
    fl_store_env env = env_for(rt, options);
    s->pub = w->bm ? NULL : &fl_pubstore_sqlite;
    s->bm = w->bm ? &fl_bmstore_sqlite : NULL;
    s->self = NULL;
    return w->bm ? s->bm->open(&env, &s->self, NULL, err, errcap)
                 : s->pub->open(&env, &s->self, NULL, err, errcap);
}

static void sut_close(any_store *s)
{
    if (!s->self)
        return;
    if (s->pub)
        s->pub->close(s->self);
    else
        s->bm->close(s->self);
    s->self = NULL;
}

/* What a run did: steps acknowledged, the step that failed (== n if none),
 * and the number of steps made durable by the last successful flush. */
typedef struct run_out {
    int open_rc;
    size_t failed; /* index of the failing step; n when all succeeded */
    int fail_rc;
    size_t durable; /* steps covered by the last durable point */
} run_out;

static run_out run_workload(const workload *w, const fl_runtime *rt, const char *options,
                            bool always, any_store *s)
{
    run_out r = {0, w->n, 0, 0};
    char err[256] = "";
    r.open_rc = sut_open(w, rt, options, s, err, sizeof err);
    if (r.open_rc < 0) {
        r.failed = 0;
        r.fail_rc = r.open_rc;
        return r;
    }
    for (size_t k = 0; k < w->n; k++) {
        int rc = do_step(s, &w->steps[k]);
        if (rc < 0) {
            r.failed = k;
            r.fail_rc = rc;
            return r;
        }
        if (always || w->steps[k].kind == FLUSH)
            r.durable = k + 1;
    }
    return r;
}

/* A publish snapshot's "last=N " prefix: N, and the rest after it. */
static const char *split_last(const char *snap, uint64_t *last)
{
    *last = 0;
    if (strncmp(snap, "last=", 5) != 0)
        return snap;
    char *end = NULL;
    *last = strtoull(snap + 5, &end, 10);
    return end;
}

/* Reopen (plain runtime), compare with the reference snapshots in
 * [lo, hi], close, check the database's integrity. `acked` steps had
 * succeeded before the crash: for a publish store last_sequence must be at
 * least the reference's after them (no sequence handed out is reused,
 * store.h), and may be higher (a reserved block); the rest of the answers
 * must match a reference state exactly. */
static void check_recovered(fx *f, const workload *w, char (*snaps)[SNAP_CAP], size_t lo, size_t hi,
                            size_t acked, const char *options, const char *what)
{
    any_store s;
    char err[256] = "";
    int rc = sut_open(w, rt_of(f), options, &s, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: reopen failed: %s: %s", what, fl_err_name(rc), err);
    char got[SNAP_CAP];
    snapshot(&s, got, sizeof got);
    uint64_t got_last, acked_last;
    const char *got_rest = split_last(got, &got_last);
    split_last(snaps[acked], &acked_last);
    if (got_last < acked_last)
        fail_msg("%s: last_sequence %" PRIu64 " after recovery is below %" PRIu64
                 ", already handed out",
                 what, got_last, acked_last);
    bool ok = false;
    for (size_t k = lo; k <= hi && !ok; k++) {
        uint64_t ref_last;
        const char *ref_rest = split_last(snaps[k], &ref_last);
        ok = got_last >= ref_last && strcmp(got_rest, ref_rest) == 0;
    }
    if (!ok)
        fail_msg("%s: recovered state matches no reference state in steps %zu..%zu:\n got %s\n "
                 "lo  %s\n hi  %s",
                 what, lo, hi, got, snaps[lo], snaps[hi]);
    sut_close(&s);
    assert_integrity(f, w->bm ? BM_DB : PUB_DB);
}

/* ------------------------------------------------------------------ */
/* power loss after the Nth file sync */

static void power_loss_loop(const workload *w, const char *options, bool always, bool tear)
{
    char(*snaps)[SNAP_CAP] = reference_snaps(w);
    unsigned n = 1, completed_at = 0;
    for (; n < 2000; n++) {
        fx f = {0};
        assert_int_equal(world_new(&f, 100 + n), 0);
        freeze_rt wr;
        freeze_init(&wr, rt_of(&f), n);
        sim_disk_set_observer(disk_of(&f), freeze_observer, &wr);
        any_store s = {0};
        run_out r = run_workload(w, &wr.rt, options, always, &s);
        bool tripped = wr.frozen;
        if (!tripped)
            assert_int_equal(r.failed, w->n); /* untouched: every step succeeds */
        else if (r.failed < w->n || r.open_rc < 0)
            assert_true(r.fail_rc < 0); /* the freeze surfaced as an error */
        sim_disk_set_observer(disk_of(&f), NULL, NULL);
        /* The process stops here: power loss, then its handles are closed
         * (their I/O goes nowhere), restart and recover. */
        if (tripped) {
            power_cycle(&f, tear);
            sut_close(&s);
        } else {
            sut_close(&s);
            power_cycle(&f, tear);
        }
        char what[96];
        snprintf(what, sizeof what, "%s sync #%u of %s", options, n, w->bm ? "bm" : "pub");
        size_t hi = r.failed < w->n ? r.failed + 1 : w->n;
        size_t lo = always ? r.failed : r.durable;
        if (!tripped)
            lo = hi = w->n; /* closed cleanly: everything */
        check_recovered(&f, w, snaps, lo, hi, tripped ? r.failed : w->n, options, what);
        world_free(&f);
        if (!tripped) {
            completed_at = n;
            break;
        }
    }
    free(snaps);
    assert_true(completed_at > 5); /* the workload had several sync points */
}

static void test_pub_power_loss_every_sync_always(void **state)
{
    workload w;
    pub_workload(&w);
    power_loss_loop(&w, "sync=always", true, false);
    power_loss_loop(&w, "sync=always", true, true);
}

static void test_pub_power_loss_every_sync_batch(void **state)
{
    workload w;
    pub_workload(&w);
    power_loss_loop(&w, "sync=batch;batch_window=1000", false, true);
    power_loss_loop(&w, "sync=none", false, true);
}

static void test_bm_power_loss_every_sync_always(void **state)
{
    workload w;
    bm_workload(&w);
    w.bm = true;
    power_loss_loop(&w, "sync=always", true, false);
    power_loss_loop(&w, "sync=always", true, true);
}

static void test_bm_power_loss_every_sync_batch(void **state)
{
    workload w;
    bm_workload(&w);
    w.bm = true;
    power_loss_loop(&w, "sync=batch;batch_window=1000", false, true);
    power_loss_loop(&w, "sync=none", false, true);
}

/* ------------------------------------------------------------------ */
/* injected I/O errors */

static const sim_disk_op k_error_ops[] = {
    SIM_DISK_OP_READ, SIM_DISK_OP_WRITE,  SIM_DISK_OP_SYNC,     SIM_DISK_OP_TRUNCATE,
    SIM_DISK_OP_OPEN, SIM_DISK_OP_UNLINK, SIM_DISK_OP_DIR_SYNC,
};

/* Count the disk operations of an untouched run (open + workload). */
static void dry_counts(const workload *w, const char *options, unsigned counts[16])
{
    fx f = {0};
    assert_int_equal(world_new(&f, 5), 0);
    freeze_rt wr;
    freeze_init(&wr, rt_of(&f), 0);
    sim_disk_set_observer(disk_of(&f), freeze_observer, &wr);
    any_store s = {0};
    run_out r = run_workload(w, &wr.rt, options, false, &s);
    assert_int_equal(r.failed, w->n);
    memcpy(counts, wr.op_counts, sizeof wr.op_counts);
    sim_disk_set_observer(disk_of(&f), NULL, NULL);
    sut_close(&s);
    world_free(&f);
}

static void io_error_loop(const workload *w, const char *options, bool always)
{
    char(*snaps)[SNAP_CAP] = reference_snaps(w);
    unsigned counts[16];
    dry_counts(w, options, counts);
    unsigned surfaced = 0;
    for (size_t i = 0; i < sizeof k_error_ops / sizeof k_error_ops[0]; i++) {
        sim_disk_op op = k_error_ops[i];
        for (unsigned nth = 1; nth <= counts[op]; nth++) {
            fx f = {0};
            assert_int_equal(world_new(&f, 5), 0);
            assert_int_equal(sim_disk_inject_io_error(disk_of(&f), op, nth, false, NULL), 0);
            any_store s = {0};
            run_out r = run_workload(w, rt_of(&f), options, always, &s);
            /* Everything up to the Nth operation is the dry run's: the
             * error fires inside the workload and must come back as a store
             * error (never a crash, never silently swallowed). */
            char what[128];
            snprintf(what, sizeof what, "%s: I/O error on op %d #%u of %s", options, (int)op, nth,
                     w->bm ? "bm" : "pub");
            if (r.fail_rc == 0)
                fail_msg("%s: no store call failed", what);
            surfaced++;
            if (s.self) {
                const char *e = s.pub ? s.pub->last_error(s.self) : s.bm->last_error(s.self);
                if (e[0] == '\0')
                    fail_msg("%s: %s without error text", what, fl_err_name(r.fail_rc));
            }
            sut_close(&s);
            sim_disk_clear_faults(disk_of(&f));
            power_cycle(&f, false);
            size_t hi = r.failed < w->n ? r.failed + 1 : w->n;
            check_recovered(&f, w, snaps, always ? r.failed : r.durable, hi, r.failed, options,
                            what);
            world_free(&f);
        }
    }
    free(snaps);
    assert_true(surfaced > 20);
}

static void test_pub_io_errors(void **state)
{
    workload w;
    pub_workload(&w);
    io_error_loop(&w, "sync=always", true);
    io_error_loop(&w, "sync=batch", false);
}

static void test_bm_io_errors(void **state)
{
    workload w;
    bm_workload(&w);
    w.bm = true;
    io_error_loop(&w, "sync=always", true);
}

/* A failed sync poisons the handle: every later call fails until reopen. */
static void test_failed_sync_poisons(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(do_step(&s, &w.steps[0]), 0);
    assert_int_equal(sim_disk_inject_io_error(disk_of(f), SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    assert_int_equal(do_step(&s, &w.steps[1]), FL_E_SYNC_FAILED);
    assert_non_null(strstr(s.pub->last_error(s.self), "sync"));
    assert_int_equal(do_step(&s, &w.steps[2]), FL_E_SYNC_FAILED); /* no retry */
    assert_int_equal(s.pub->flush(s.self), FL_E_SYNC_FAILED);
    sut_close(&s);
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_true(s.pub->last_sequence(s.self) >= 1);
    sut_close(&s);
}

/* Disk full surfaces as FL_E_NOSPC and changes nothing. */
static void test_disk_full(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(do_step(&s, &w.steps[0]), 0);
    sim_disk_set_space_budget(disk_of(f), sim_disk_total_bytes(disk_of(f)));
    int rc = 0;
    uint64_t seq = 2;
    for (; seq < 200 && rc == 0; seq++) {
        step st = {P_STORE, NULL, 0, seq};
        rc = do_step(&s, &st);
    }
    assert_int_equal(rc, FL_E_NOSPC);
    assert_non_null(strstr(s.pub->last_error(s.self), "no space"));
    sut_close(&s);
    sim_disk_set_space_budget(disk_of(f), UINT64_MAX);
    power_cycle(f, false);
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_true(s.pub->last_sequence(s.self) >= seq - 2);
    assert_true(s.pub->last_sequence(s.self) <= seq - 1);
    sut_close(&s);
    assert_integrity(f, PUB_DB);
}

/* ------------------------------------------------------------------ */
/* not ours, newer versions */

static void write_file(fx *f, const char *path, const void *data, size_t len)
{
    const fl_runtime *rt = rt_of(f);
    fl_file *h = NULL;
    assert_int_equal(
        rt->ops->file_open(rt->self, path, FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_TRUNC, &h), 0);
    assert_int_equal(rt->ops->file_write(rt->self, h, 0, data, len), 0);
    assert_int_equal(rt->ops->file_sync(rt->self, h), 0);
    rt->ops->file_close(rt->self, h);
}

static void expect_open_error(fx *f, bool bm, int want, const char *text)
{
    workload w = {.bm = bm};
    any_store s;
    char err[512] = "";
    int rc = sut_open(&w, rt_of(f), "sync=always", &s, err, sizeof err);
    if (rc != want || !strstr(err, text))
        fail_msg("open: %s '%s', want %s and text '%s'", fl_err_name(rc), err, fl_err_name(want),
                 text);
    assert_null(s.self);
}

static void test_not_sqlite(void **state)
{
    fx *f = *state;
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 13 + 5);
    write_file(f, PUB_DB, junk, sizeof junk);
    expect_open_error(f, false, FL_E_BAD_MAGIC, "is not an SQLite database");
    write_file(f, BM_DB, "faultline journal, not SQLite\n", 30);
    expect_open_error(f, true, FL_E_BAD_MAGIC, "is not an SQLite database");
}

static void test_other_application_id(void **state)
{
    fx *f = *state;
    raw_exec(f, PUB_DB, "PRAGMA application_id=1234; CREATE TABLE t(x)");
    expect_open_error(f, false, FL_E_BAD_MAGIC, "application_id 0x000004d2");
    /* a foreign SQLite database without an application_id */
    raw_exec(f, BM_DB, "CREATE TABLE other(x)");
    expect_open_error(f, true, FL_E_BAD_MAGIC, "is not a faultline bmstore sqlite database");
}

static void test_kind_mismatch(void **state)
{
    fx *f = *state;
    workload w = {.bm = true};
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    sut_close(&s);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(sim_disk_read_durable(disk_of(f), BM_DB, &data, &len), 0);
    write_file(f, PUB_DB, data, len); /* a bookmark database where the publish one goes */
    free(data);
    expect_open_error(f, false, FL_E_BAD_MAGIC, "is not a faultline pubstore sqlite database");
}

static void test_newer_version(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(do_step(&s, &w.steps[0]), 0);
    sut_close(&s);
    raw_exec(f, PUB_DB, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA user_version=2");
    expect_open_error(f, false, FL_E_BAD_VERSION, "format version 2, newer than");
    raw_exec(f, PUB_DB, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA user_version=1");
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(s.pub->last_sequence(s.self), 1);
    sut_close(&s);
}

/* ------------------------------------------------------------------ */
/* behaviour */

static void test_bad_options_and_sequences(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    char err[256] = "";
    assert_int_equal(sut_open(&w, rt_of(f), "sync=sometimes", &s, err, sizeof err), FL_E_INVAL);
    assert_non_null(strstr(err, "sync"));
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    uint8_t p[1] = {1};
    fl_pub_msg m = {UINT64_C(1) << 63, "t", 1, p, 1};
    assert_int_equal(s.pub->store(s.self, &m), FL_E_INVAL);
    assert_non_null(strstr(s.pub->last_error(s.self), "above"));
    assert_int_equal(s.pub->last_sequence(s.self), 0);
    m.sequence = INT64_MAX;
    assert_int_equal(s.pub->store(s.self, &m), 0);
    assert_int_equal(s.pub->discard_up_to(s.self, UINT64_MAX), 0);
    assert_int_equal(s.pub->unpersisted_count(s.self), 0);
    sut_close(&s);
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(s.pub->last_sequence(s.self), INT64_MAX);
    sut_close(&s);
}

/* Topics with any bytes (NUL, invalid UTF-8) and empty payloads round-trip. */
static int check_odd(void *arg, const fl_pub_msg *m)
{
    int *n = arg;
    static const char topic[] = {'a', 0, (char)0xff, 'b'};
    assert_int_equal(m->topic_len, sizeof topic);
    assert_memory_equal(m->topic, topic, sizeof topic);
    assert_int_equal(m->payload_len, 0);
    (*n)++;
    return 0;
}

static void test_odd_bytes(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    static const char topic[] = {'a', 0, (char)0xff, 'b'};
    fl_pub_msg m = {1, topic, sizeof topic, NULL, 0};
    assert_int_equal(s.pub->store(s.self, &m), 0);
    sut_close(&s);
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    int n = 0;
    assert_int_equal(s.pub->replay(s.self, check_odd, &n), 0);
    assert_int_equal(n, 1);
    sut_close(&s);
}

/* sync=batch: the window timer commits and syncs the group by itself. */
static void test_batch_window_makes_durable(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=batch;batch_window=1000", &s, NULL, 0), 0);
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(do_step(&s, &w.steps[k]), 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10 * WINDOW_US);
    step extra = {P_STORE, NULL, 0, 6}; /* in the next window: may be lost */
    assert_int_equal(do_step(&s, &extra), 0);
    power_cycle(f, false);
    sut_close(&s);
    assert_int_equal(sut_open(&w, rt_of(f), "sync=batch", &s, NULL, 0), 0);
    assert_int_equal(s.pub->unpersisted_count(s.self), 5);
    /* 6 was handed out before the power loss: never again (store.h), even
     * though the message itself is lost */
    assert_true(s.pub->last_sequence(s.self) >= 6);
    sut_close(&s);
}

/* list_files names the database, then the WAL while it exists. */
static int name_fn(void *arg, const char *path)
{
    snap_add(arg, "%s;", path);
    return 0;
}

static void test_list_files(void **state)
{
    fx *f = *state;
    workload w;
    pub_workload(&w);
    any_store s;
    assert_int_equal(sut_open(&w, rt_of(f), "sync=always", &s, NULL, 0), 0);
    assert_int_equal(do_step(&s, &w.steps[0]), 0);
    char names[256];
    snap_ctx c = {names, 0, sizeof names};
    assert_int_equal(s.pub->list_files(s.self, name_fn, &c), 0);
    assert_string_equal(names, PUB_DB ";" PUB_DB "-wal;");
    sut_close(&s);
    assert_true(sim_disk_exists(disk_of(f), PUB_DB, 1));
}

/* The same seed writes the same bytes (SQLite's PRNG is seeded from the
 * runtime), so simulation runs are reproducible to the byte. */
static void durable_bytes(uint64_t seed, uint8_t **out, size_t *len)
{
    fx f = {0};
    assert_int_equal(world_new(&f, seed), 0);
    workload w;
    pub_workload(&w);
    any_store s = {0};
    run_out r = run_workload(&w, rt_of(&f), "sync=always", true, &s);
    assert_int_equal(r.failed, w.n);
    power_cycle(&f, false); /* keep the WAL as it is */
    sut_close(&s);
    assert_int_equal(sim_disk_read_durable(disk_of(&f), PUB_DB "-wal", out, len), 0);
    world_free(&f);
}

static void test_deterministic_bytes(void **state)
{
    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    durable_bytes(3, &a, &na);
    durable_bytes(3, &b, &nb);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

/* The shim's methods called directly: short reads zero-fill, an empty file
 * does not "exist" for SQLite, a created file's directory entry becomes
 * durable with its first sync, xDelete syncs the directory when asked,
 * ENOSPC is SQLITE_FULL, time and randomness come from the runtime. */
static void test_vfs_methods(void **state)
{
    fx *f = *state;
    fl__sqlite_vfs *v = NULL;
    assert_int_equal(fl__sqlite_vfs_new(rt_of(f), &v), 0);
    sqlite3_vfs *vfs = sqlite3_vfs_find(fl__sqlite_vfs_name(v));
    assert_non_null(vfs);
    sqlite3_file *file = calloc(1, (size_t)vfs->szOsFile);
    assert_non_null(file);
    const char *path = DIR "/x-journal";
    int out = -1, oflags = 0;
    assert_int_equal(vfs->xAccess(vfs, path, SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
    assert_int_equal(out, 0);
    assert_int_equal(vfs->xOpen(vfs, path, file, SQLITE_OPEN_READWRITE, &oflags), SQLITE_CANTOPEN);
    assert_non_null(strstr(fl__sqlite_vfs_last_error(v), "no such file"));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_JOURNAL;
    assert_int_equal(vfs->xOpen(vfs, path, file, flags, &oflags), SQLITE_OK);
    assert_int_equal(vfs->xAccess(vfs, path, SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
    assert_int_equal(out, 0); /* empty: as good as absent */
    assert_int_equal(vfs->xAccess(vfs, path, SQLITE_ACCESS_READWRITE, &out), SQLITE_OK);
    assert_int_equal(out, 1);
    const sqlite3_io_methods *m = file->pMethods;
    assert_int_equal(m->iVersion, 1); /* no shared memory */
    assert_int_equal(m->xWrite(file, "abcd", 4, 0), SQLITE_OK);
    char buf[8];
    memset(buf, 'z', sizeof buf);
    assert_int_equal(m->xRead(file, buf, 8, 0), SQLITE_IOERR_SHORT_READ);
    assert_memory_equal(buf, "abcd\0\0\0\0", 8);
    sqlite3_int64 size = 0;
    assert_int_equal(m->xFileSize(file, &size), SQLITE_OK);
    assert_int_equal(size, 4);
    assert_false(sim_disk_exists(disk_of(f), path, 1));
    assert_int_equal(m->xSync(file, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_true(sim_disk_exists(disk_of(f), path, 1)); /* the directory was synced too */
    sim_disk_set_space_budget(disk_of(f), sim_disk_total_bytes(disk_of(f)));
    assert_int_equal(m->xWrite(file, "efgh", 4, 4), SQLITE_FULL);
    sim_disk_set_space_budget(disk_of(f), UINT64_MAX);
    assert_int_equal(m->xTruncate(file, 2), SQLITE_OK);
    assert_int_equal(m->xFileSize(file, &size), SQLITE_OK);
    assert_int_equal(size, 2);
    assert_int_equal(m->xClose(file), SQLITE_OK);
    assert_int_equal(vfs->xDelete(vfs, path, 1), SQLITE_OK);
    assert_false(sim_disk_exists(disk_of(f), path, 1)); /* the unlink is durable */
    assert_int_equal(vfs->xDelete(vfs, path, 0), SQLITE_IOERR_DELETE_NOENT);
    sqlite3_int64 jd_ms = 0;
    assert_int_equal(vfs->xCurrentTimeInt64(vfs, &jd_ms), SQLITE_OK);
    assert_int_equal(jd_ms, INT64_C(210866760000000) + (int64_t)(fl_rt_now(rt_of(f)) / 1000));
    char full[64];
    assert_int_equal(vfs->xFullPathname(vfs, path, sizeof full, full), SQLITE_OK);
    assert_string_equal(full, path);
    assert_int_equal(vfs->xSleep(vfs, 1000000), 1000000); /* returns at once */
    free(file);
    char name[64];
    snprintf(name, sizeof name, "%s", fl__sqlite_vfs_name(v));
    fl__sqlite_vfs_free(v);
    assert_null(sqlite3_vfs_find(name)); /* unregistered */
}

/* xRandomness draws from the runtime: two worlds with the same seed agree. */
static void test_vfs_randomness(void **state)
{
    char a[24], b[24];
    for (int k = 0; k < 2; k++) {
        fx f = {0};
        assert_int_equal(world_new(&f, 42), 0);
        fl__sqlite_vfs *v = NULL;
        assert_int_equal(fl__sqlite_vfs_new(rt_of(&f), &v), 0);
        sqlite3_vfs *vfs = sqlite3_vfs_find(fl__sqlite_vfs_name(v));
        assert_int_equal(vfs->xRandomness(vfs, (int)sizeof a, k ? b : a), (int)sizeof a);
        fl__sqlite_vfs_free(v);
        world_free(&f);
    }
    assert_memory_equal(a, b, sizeof a);
}

static void test_builtin_lookup(void **state)
{
    assert_ptr_equal(fl_pubstore_builtin("sqlite"), &fl_pubstore_sqlite);
    assert_ptr_equal(fl_bmstore_builtin("sqlite"), &fl_bmstore_sqlite);
    char err[128];
    assert_int_equal(fl__pubstore_ops_check(&fl_pubstore_sqlite, err, sizeof err), 0);
    assert_int_equal(fl__bmstore_ops_check(&fl_bmstore_sqlite, err, sizeof err), 0);
}

/* ------------------------------------------------------------------ */
/* the contract table */

/* The contract's fail_next_sync hook: the next fsync on the node's disk
 * fails once. */
static void sim_fail_next_sync(void *ctx)
{
    fl_sc_sim *f = ctx;
    assert_int_equal(
        sim_disk_inject_io_error(sim_node_disk(f->node), SIM_DISK_OP_SYNC, 1, false, NULL), 0);
}

static int run_contract(void)
{
    static const struct {
        const char *name, *options, *capacity;
    } cfg[] = {
        {"sqlite_always", "sync=always", "sync=always;capacity=16384"},
        {"sqlite_batch", "sync=batch;batch_window=1000", "sync=batch;capacity=16384"},
        {"sqlite_none", "sync=none", "sync=none;capacity=16384"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        fl_sc_sim sim = {.seed = 21 + i};
        bool always = strncmp(cfg[i].options, "sync=always", 11) == 0;
        fl_store_under_test sut = {
            .name = cfg[i].name,
            .pub = &fl_pubstore_sqlite,
            .bm = &fl_bmstore_sqlite,
            .options = cfg[i].options,
            .capacity_options = cfg[i].capacity,
            .flags = FL_SUT_RETAINS | FL_SUT_DURABLE,
            .ctx = &sim,
            .setup = fl_sc_sim_setup,
            .teardown = fl_sc_sim_teardown,
            .crash = always ? fl_sc_sim_power_loss : NULL,
            .restart = fl_sc_sim_restart,
            .power_loss = fl_sc_sim_power_loss, /* any policy: the sequence promise */
            .fail_next_sync = sim_fail_next_sync,
        };
        int rc = fl__run_store_contract(&sut);
        failed += rc < 0 ? 1 : rc;
    }
    return failed;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_builtin_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vfs_randomness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options_and_sequences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_window_makes_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_application_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_sync_poisons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pub_power_loss_every_sync_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pub_power_loss_every_sync_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm_power_loss_every_sync_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm_power_loss_every_sync_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pub_io_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm_io_errors, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + run_contract();
}
