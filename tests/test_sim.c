/* Tests for the simulation core (simulator/sim.c): the event queue and the
 * virtual clock, nodes and their lifecycle, and the runtime seam's timers,
 * files and trace. Connections are in test_sim_net.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/runtime.h"
#include "sim.h"
#include "sim_disk.h"

typedef struct fixture {
    sim_ctx *ctx;
    uint64_t log[4096]; /* what ran, in order */
    size_t nlog;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = 11;
    o.history_tail = 64;
    f->ctx = sim_ctx_new(&o);
    *state = f;
    return f->ctx ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

typedef struct tag {
    fixture *f;
    uint64_t v;
} tag;

static void log_ev(void *arg)
{
    tag *t = arg;
    if (t->f->nlog < 4096)
        t->f->log[t->f->nlog++] = t->v;
}

/* --- event queue --- */

static void test_equal_times_run_in_insertion_order(void **state)
{
    fixture *f = *state;
    tag tags[60];
    for (int i = 0; i < 60; i++) {
        tags[i] = (tag){f, (uint64_t)i};
        /* 0..29 at t=10, 30..59 at t=5, interleaved */
        uint64_t t = i < 30 ? 10 : 5;
        assert_int_equal(sim_schedule(f->ctx, t, log_ev, &tags[i], NULL), 0);
    }
    assert_int_equal(sim_pending(f->ctx), 60);
    assert_int_equal(sim_run_until_idle(f->ctx, 0), 60);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(f->log[i], 30 + i);
        assert_int_equal(f->log[30 + i], i);
    }
    assert_int_equal(sim_now(f->ctx), 10);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    tag a = {f, 1}, b = {f, 2}, c = {f, 3};
    sim_event_id ia, ib, ic;
    sim_schedule(f->ctx, 5, log_ev, &a, &ia);
    sim_schedule(f->ctx, 5, log_ev, &b, &ib);
    sim_schedule(f->ctx, 5, log_ev, &c, &ic);
    assert_true(ia && ib && ic && ia != ib && ib != ic);
    sim_cancel(f->ctx, ib);
    sim_cancel(f->ctx, ib); /* twice: no-op */
    sim_cancel(f->ctx, 0);
    assert_int_equal(sim_pending(f->ctx), 2);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->nlog, 2);
    assert_int_equal(f->log[0], 1);
    assert_int_equal(f->log[1], 3);
    /* A fired id does nothing, even once its slot is reused. */
    tag d = {f, 4};
    sim_event_id id;
    sim_schedule(f->ctx, 1, log_ev, &d, &id);
    sim_cancel(f->ctx, ia);
    sim_cancel(f->ctx, ic);
    assert_int_equal(sim_pending(f->ctx), 1);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->log[2], 4);
}

/* A deterministic LCG for the test's own choices. */
static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

typedef struct order_ctx {
    sim_ctx *ctx;
    uint64_t last_t, last_key;
    uint64_t ran;
    bool ok;
} order_ctx;

typedef struct order_ev {
    order_ctx *oc;
    uint64_t t, key; /* key = insertion number */
    bool cancelled;
} order_ev;

static void order_fn(void *arg)
{
    order_ev *e = arg;
    order_ctx *oc = e->oc;
    oc->ran++;
    if (e->cancelled || sim_now(oc->ctx) != e->t)
        oc->ok = false;
    if (e->t < oc->last_t || (e->t == oc->last_t && e->key < oc->last_key))
        oc->ok = false;
    oc->last_t = e->t;
    oc->last_key = e->key;
}

static void test_large_random_schedule_sorted(void **state)
{
    fixture *f = *state;
    enum { N = 100000 };
    order_ev *evs = calloc(N, sizeof *evs);
    sim_event_id *ids = calloc(N, sizeof *ids);
    order_ctx oc = {f->ctx, 0, 0, 0, true};
    uint64_t x = 99, live = N;
    for (uint64_t i = 0; i < N; i++) {
        evs[i] = (order_ev){&oc, lcg(&x) % 5000, i, false};
        assert_int_equal(sim_schedule_at(f->ctx, evs[i].t, order_fn, &evs[i], &ids[i]), 0);
    }
    for (uint64_t i = 0; i < N; i += 1 + lcg(&x) % 4) {
        evs[i].cancelled = true;
        sim_cancel(f->ctx, ids[i]);
        live--;
    }
    assert_int_equal(sim_pending(f->ctx), live);
    assert_int_equal(sim_run_until_idle(f->ctx, 0), live);
    assert_true(oc.ok);
    assert_int_equal(oc.ran, live);
    free(evs);
    free(ids);
}

/* Long runs that cancel nearly everything keep the queue small. */
static void resched_fn(void *arg);
typedef struct churn {
    sim_ctx *ctx;
    sim_event_id timeout;
    uint64_t rounds;
    size_t max_pending;
} churn;

static void never_fn(void *arg)
{
    (void)arg;
    fail_msg("a cancelled timeout ran");
}

static void resched_fn(void *arg)
{
    churn *c = arg;
    sim_cancel(c->ctx, c->timeout);
    if (sim_pending(c->ctx) > c->max_pending)
        c->max_pending = sim_pending(c->ctx);
    if (++c->rounds == 200000)
        return;
    sim_schedule(c->ctx, 1000000, never_fn, NULL, &c->timeout);
    sim_schedule(c->ctx, 10, resched_fn, c, NULL);
}

static void test_cancel_does_not_accumulate(void **state)
{
    fixture *f = *state;
    churn c = {f->ctx, 0, 0, 0};
    sim_schedule(f->ctx, 0, resched_fn, &c, NULL);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(c.rounds, 200000);
    assert_true(c.max_pending <= 2);
    assert_int_equal(sim_pending(f->ctx), 0);
}

static void test_run_until_and_clock(void **state)
{
    fixture *f = *state;
    tag a = {f, 1}, b = {f, 2}, c = {f, 3};
    sim_schedule(f->ctx, 100, log_ev, &a, NULL);
    sim_schedule(f->ctx, 200, log_ev, &b, NULL);
    sim_schedule(f->ctx, 201, log_ev, &c, NULL);
    assert_int_equal(sim_run_until(f->ctx, 200), 2);
    assert_int_equal(sim_now(f->ctx), 200);
    uint64_t next;
    assert_true(sim_next_time(f->ctx, &next));
    assert_int_equal(next, 201);
    assert_int_equal(sim_run_until(f->ctx, 150), 0); /* never goes back */
    assert_int_equal(sim_now(f->ctx), 200);
    assert_int_equal(sim_run_until(f->ctx, 1000), 1);
    assert_int_equal(sim_now(f->ctx), 1000);
    assert_false(sim_next_time(f->ctx, NULL));
    assert_false(sim_step(f->ctx));
    assert_int_equal(sim_events_run(f->ctx), 3);
    /* schedule_at in the past means now */
    tag d = {f, 4};
    sim_schedule_at(f->ctx, 5, log_ev, &d, NULL);
    assert_true(sim_step(f->ctx));
    assert_int_equal(sim_now(f->ctx), 1000);
    assert_int_equal(sim_schedule(f->ctx, UINT64_MAX, log_ev, &d, NULL), FL_E_OVERFLOW);
    assert_int_equal(sim_schedule(f->ctx, 1, NULL, &d, NULL), FL_E_INVAL);
}

typedef struct chain {
    fixture *f;
    tag later;
} chain;

static void chain_fn(void *arg)
{
    chain *c = arg;
    log_ev(&(tag){c->f, 100});
    /* Delay 0 goes after what is already due now. */
    sim_schedule(c->f->ctx, 0, log_ev, &c->later, NULL);
}

static void test_zero_delay_runs_after_due_events(void **state)
{
    fixture *f = *state;
    chain c = {f, {f, 300}};
    tag t2 = {f, 200};
    sim_schedule(f->ctx, 7, chain_fn, &c, NULL);
    sim_schedule(f->ctx, 7, log_ev, &t2, NULL);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->nlog, 3);
    assert_int_equal(f->log[0], 100);
    assert_int_equal(f->log[1], 200);
    assert_int_equal(f->log[2], 300);
}

static void stop_fn(void *arg)
{
    fixture *f = arg;
    log_ev(&(tag){f, 9});
    sim_stop(f->ctx);
}

static void test_stop_and_max_events(void **state)
{
    fixture *f = *state;
    tag a = {f, 1};
    sim_schedule(f->ctx, 1, stop_fn, f, NULL);
    sim_schedule(f->ctx, 2, log_ev, &a, NULL);
    sim_schedule(f->ctx, 3, log_ev, &a, NULL);
    assert_int_equal(sim_run_until(f->ctx, 100), 1);
    assert_int_equal(sim_now(f->ctx), 1); /* a stopped run leaves the clock */
    assert_int_equal(sim_run_until_idle(f->ctx, 1), 1);
    assert_int_equal(sim_pending(f->ctx), 1);
    assert_int_equal(sim_run_until_idle(f->ctx, 0), 1);
}

/* --- nodes and the runtime seam --- */

static void test_node_names(void **state)
{
    fixture *f = *state;
    sim_node *a, *b;
    assert_int_equal(sim_node_new(f->ctx, "a", &a), 0);
    assert_int_equal(sim_node_new(f->ctx, "a", &b), FL_E_EXIST);
    assert_int_equal(sim_node_new(f->ctx, "", &b), FL_E_INVAL);
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[79] = '\0';
    assert_int_equal(sim_node_new(f->ctx, longname, &b), FL_E_INVAL);
    assert_int_equal(sim_node_new(f->ctx, "b", &b), 0);
    assert_ptr_equal(sim_node_find(f->ctx, "b"), b);
    assert_null(sim_node_find(f->ctx, "c"));
    assert_int_equal(sim_node_count(f->ctx), 2);
    assert_ptr_equal(sim_node_at(f->ctx, 0), a);
    assert_null(sim_node_at(f->ctx, 2));
    assert_string_equal(sim_node_name(a), "a");
    assert_ptr_equal(sim_node_ctx(a), f->ctx);
    assert_true(sim_node_alive(a));
    assert_int_equal(sim_node_incarnation(a), 1);
    assert_non_null(sim_node_disk(a));
    assert_ptr_not_equal(sim_node_disk(a), sim_node_disk(b));
}

static void test_runtime_clock_and_random(void **state)
{
    fixture *f = *state;
    sim_node *n;
    sim_node_new(f->ctx, "n", &n);
    const fl_runtime *rt = sim_node_runtime(n);
    assert_int_equal(rt->ops->version, FL_RUNTIME_OPS_VERSION);
    assert_string_equal(rt->ops->name, "sim");
    assert_int_equal(fl_rt_now(rt), SIM_DEFAULT_START_UTC_US);
    sim_run_until(f->ctx, 1500);
    assert_int_equal(fl_rt_now(rt), SIM_DEFAULT_START_UTC_US + 1500);
    sim_clock_jump(f->ctx, 3600000000ULL);
    assert_int_equal(fl_rt_now(rt), SIM_DEFAULT_START_UTC_US + 1500 + 3600000000ULL);
    assert_int_equal(sim_now(f->ctx), 1500);
    /* random comes from the ctx PRNG */
    sim_prng copy = *sim_ctx_prng(f->ctx);
    assert_int_equal(fl_rt_random(rt), sim_prng_next(&copy));
}

typedef struct tapp {
    fixture *f;
    const fl_runtime *rt;
    int fired[8];
    fl_timer_id ids[8];
} tapp;

typedef struct tslot {
    tapp *app;
    int i;
} tslot;

static void timer_fn(void *arg)
{
    tslot *s = arg;
    s->app->fired[s->i]++;
    log_ev(&(tag){s->app->f, (uint64_t)s->i});
}

static void test_timers_not_inside_call_and_ordered(void **state)
{
    fixture *f = *state;
    sim_node *n;
    sim_node_new(f->ctx, "n", &n);
    tapp app = {f, sim_node_runtime(n), {0}, {0}};
    tslot s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (tslot){&app, i};
        assert_int_equal(fl_rt_timer_start(app.rt, i == 3 ? 5 : 0, timer_fn, &s[i], &app.ids[i]),
                         0);
        assert_int_equal(app.fired[i], 0); /* never inside the call */
        assert_true(app.ids[i] != 0);
    }
    fl_rt_timer_cancel(app.rt, app.ids[1]);
    fl_rt_timer_cancel(app.rt, 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->nlog, 3);
    assert_int_equal(f->log[0], 0);
    assert_int_equal(f->log[1], 2);
    assert_int_equal(f->log[2], 3);
    assert_int_equal(sim_now(f->ctx), 5);
    fl_rt_timer_cancel(app.rt, app.ids[0]); /* already fired: no-op */
    assert_int_equal(fl_rt_timer_start(app.rt, 1, NULL, NULL, &app.ids[0]), FL_E_INVAL);
}

/* A node can cancel only its own timers. */
static void test_timer_cancel_is_per_node(void **state)
{
    fixture *f = *state;
    sim_node *a, *b;
    sim_node_new(f->ctx, "a", &a);
    sim_node_new(f->ctx, "b", &b);
    tapp app = {f, sim_node_runtime(a), {0}, {0}};
    tslot s = {&app, 0};
    fl_rt_timer_start(app.rt, 10, timer_fn, &s, &app.ids[0]);
    fl_rt_timer_cancel(sim_node_runtime(b), app.ids[0]);
    sim_event_id internal;
    tag t = {f, 77};
    sim_schedule(f->ctx, 10, log_ev, &t, &internal);
    fl_rt_timer_cancel(app.rt, internal); /* not a timer of a: no-op */
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(app.fired[0], 1);
    assert_int_equal(f->nlog, 2);
}

static void test_crash_cancels_timers_and_old_runtime_is_inert(void **state)
{
    fixture *f = *state;
    sim_node *a, *b;
    sim_node_new(f->ctx, "a", &a);
    sim_node_new(f->ctx, "b", &b);
    tapp app = {f, sim_node_runtime(a), {0}, {0}};
    tapp other = {f, sim_node_runtime(b), {0}, {0}};
    tslot s0 = {&app, 0}, s1 = {&app, 1}, o0 = {&other, 2};
    fl_rt_timer_start(app.rt, 10, timer_fn, &s0, &app.ids[0]);
    fl_rt_timer_start(app.rt, 20, timer_fn, &s1, &app.ids[1]);
    fl_rt_timer_start(other.rt, 20, timer_fn, &o0, &other.ids[0]);
    fl_file *fh;
    assert_int_equal(app.rt->ops->file_open(app.rt->self, "f", FL_FILE_WRITE | FL_FILE_CREATE, &fh),
                     0);

    sim_node_crash(a);
    assert_false(sim_node_alive(a));
    assert_int_equal(sim_node_incarnation(a), 2);
    assert_int_equal(sim_pending(f->ctx), 1); /* only b's timer */

    /* The dead application's teardown calls are harmless. */
    const fl_runtime *old = app.rt;
    fl_rt_timer_cancel(old, app.ids[0]);
    fl_timer_id t;
    assert_int_equal(fl_rt_timer_start(old, 1, timer_fn, &s0, &t), FL_E_SHUTDOWN);
    fl_conn_id c;
    static const fl_conn_callbacks cbs = {NULL, NULL, NULL};
    assert_int_equal(old->ops->connect(old->self, "b", &cbs, NULL, &c), FL_E_SHUTDOWN);
    assert_int_equal(old->ops->send(old->self, 1, "x", 1), FL_E_SHUTDOWN);
    old->ops->close(old->self, 1);
    assert_int_equal(old->ops->file_write(old->self, fh, 0, "x", 1), FL_E_SHUTDOWN);
    old->ops->file_close(old->self, fh); /* frees the stale handle */
    uint64_t before = sim_history_count(sim_ctx_history(f->ctx));
    fl_rt_trace(old, "client", "ghost", NULL);
    assert_int_equal(sim_history_count(sim_ctx_history(f->ctx)), before);
    sim_node_crash(a); /* already down: no-op */
    assert_int_equal(sim_node_incarnation(a), 2);

    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(app.fired[0] + app.fired[1], 0);
    assert_int_equal(other.fired[2], 1);

    /* Restart: a new runtime works, the old one stays dead. */
    assert_int_equal(sim_node_restart(a), 0);
    assert_true(sim_node_alive(a));
    const fl_runtime *fresh = sim_node_runtime(a);
    assert_ptr_not_equal(fresh, old);
    assert_int_equal(fl_rt_timer_start(old, 1, timer_fn, &s0, &t), FL_E_SHUTDOWN);
    assert_int_equal(fl_rt_timer_start(fresh, 1, timer_fn, &s0, &t), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(app.fired[0], 1);
    assert_int_equal(sim_node_restart(a), 0); /* alive: no-op */
    assert_int_equal(sim_node_incarnation(a), 2);
}

static int list_cb(void *arg, const char *name)
{
    int *n = arg;
    assert_string_equal(name, "x");
    (*n)++;
    return 0;
}

static void test_files_forward_to_node_disk(void **state)
{
    fixture *f = *state;
    sim_node *a, *b;
    sim_node_new(f->ctx, "a", &a);
    sim_node_new(f->ctx, "b", &b);
    const fl_runtime *rt = sim_node_runtime(a);
    const fl_runtime_ops *o = rt->ops;
    assert_int_equal(o->dir_create(rt->self, "d"), 0);
    fl_file *fh;
    assert_int_equal(
        o->file_open(rt->self, "d/x", FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE, &fh), 0);
    assert_int_equal(o->file_write(rt->self, fh, 0, "hello", 5), 0);
    assert_int_equal(o->file_sync(rt->self, fh), 0);
    assert_int_equal(o->dir_sync(rt->self, "d"), 0);
    assert_int_equal(o->file_write(rt->self, fh, 5, " world", 6), 0);
    uint64_t size;
    assert_int_equal(o->file_size(rt->self, fh, &size), 0);
    assert_int_equal(size, 11);
    char buf[16];
    size_t nread;
    assert_int_equal(o->file_read(rt->self, fh, 0, buf, sizeof buf, &nread), 0);
    assert_int_equal(nread, 11);
    assert_memory_equal(buf, "hello world", 11);
    assert_int_equal(o->file_truncate(rt->self, fh, 5), 0);
    o->file_close(rt->self, fh);
    int count = 0;
    assert_int_equal(o->dir_list(rt->self, "d", list_cb, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(o->file_rename(rt->self, "d/x", "d/y"), 0);
    /* node-private namespace */
    assert_true(sim_disk_exists(sim_node_disk(a), "d/y", 0));
    assert_false(sim_disk_exists(sim_node_disk(b), "d/y", 0));
    assert_int_equal(o->file_unlink(rt->self, "d/y"), 0);
    assert_false(sim_disk_exists(sim_node_disk(a), "d/y", 0));
}

/* A process crash keeps unsynced data; a power loss keeps at most what was
 * synced plus a prefix of the pending writes. */
static void write_file(const fl_runtime *rt, const char *path, const char *synced,
                       const char *unsynced)
{
    fl_file *fh;
    assert_int_equal(rt->ops->file_open(rt->self, path, FL_FILE_WRITE | FL_FILE_CREATE, &fh), 0);
    rt->ops->file_write(rt->self, fh, 0, synced, strlen(synced));
    rt->ops->file_sync(rt->self, fh);
    rt->ops->dir_sync(rt->self, "");
    rt->ops->file_write(rt->self, fh, strlen(synced), unsynced, strlen(unsynced));
    rt->ops->file_close(rt->self, fh);
}

static uint64_t file_size_of(sim_node *n, const char *path)
{
    sim_disk_file_info info;
    assert_int_equal(sim_disk_stat(sim_node_disk(n), path, &info), 0);
    return info.current_size;
}

static void test_crash_vs_power_loss_disk(void **state)
{
    fixture *f = *state;
    sim_node *a;
    sim_node_new(f->ctx, "a", &a);
    write_file(sim_node_runtime(a), "f", "durable", "-volatile-volatile-volatile");
    sim_node_crash(a);
    assert_int_equal(file_size_of(a, "f"), 7 + 27);
    sim_node_restart(a);
    write_file(sim_node_runtime(a), "g", "durable", "-volatile-volatile-volatile");
    sim_node_power_loss(a);
    uint64_t s = file_size_of(a, "g");
    assert_true(s >= 7 && s <= 7 + 27);
    assert_false(sim_node_alive(a));
    assert_int_equal(sim_node_incarnation(a), 3);
}

static void test_trace_and_lifecycle_in_history(void **state)
{
    fixture *f = *state;
    sim_history *h = sim_ctx_history(f->ctx);
    sim_node *a;
    sim_node_new(f->ctx, "pub-1", &a);
    sim_run_until(f->ctx, 42);
    fl_rt_trace(sim_node_runtime(a), "client", "publish", "\"seq\":3");
    size_t last = sim_history_tail_count(h) - 1;
    assert_string_equal(sim_history_tail_line(h, last),
                        "{\"t\":42,\"node\":\"pub-1\",\"src\":\"client\",\"ev\":\"publish\","
                        "\"seq\":3}");
    sim_node_crash(a);
    sim_node_restart(a);
    last = sim_history_tail_count(h) - 1;
    assert_string_equal(sim_history_tail_line(h, last - 1),
                        "{\"t\":42,\"node\":\"pub-1\",\"src\":\"sim\",\"ev\":\"crash\","
                        "\"incarnation\":1}");
    assert_string_equal(sim_history_tail_line(h, last),
                        "{\"t\":42,\"node\":\"pub-1\",\"src\":\"sim\",\"ev\":\"restart\","
                        "\"incarnation\":2}");
}

static void test_options(void **state)
{
    (void)state;
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.version = 99;
    assert_null(sim_ctx_new(&o));
    sim_ctx *ctx = sim_ctx_new(NULL);
    assert_non_null(ctx);
    assert_int_equal(sim_now_utc(ctx), SIM_DEFAULT_START_UTC_US);
    sim_prng p;
    sim_prng_seed(&p, 1);
    assert_int_equal(sim_prng_next(sim_ctx_prng(ctx)), sim_prng_next(&p));
    sim_ctx_free(ctx);
    sim_ctx_free(NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_equal_times_run_in_insertion_order),
        T(test_cancel),
        T(test_large_random_schedule_sorted),
        T(test_cancel_does_not_accumulate),
        T(test_run_until_and_clock),
        T(test_zero_delay_runs_after_due_events),
        T(test_stop_and_max_events),
        T(test_node_names),
        T(test_runtime_clock_and_random),
        T(test_timers_not_inside_call_and_ordered),
        T(test_timer_cancel_is_per_node),
        T(test_crash_cancels_timers_and_old_runtime_is_inert),
        T(test_files_forward_to_node_disk),
        T(test_crash_vs_power_loss_disk),
        T(test_trace_and_lifecycle_in_history),
        cmocka_unit_test(test_options),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
