/* Tests for slow syncs in the simulation core (sim.c, sim_net.c): a node
 * whose disk has a sync latency L is blocked by every file_sync for L, as a
 * slow fsync blocks a single-threaded process. Its timers and the data and
 * closed notifications to it wait for the busy time and then run in their
 * original order, what it sends after the sync leaves at the busy time,
 * syncs add up, other nodes are unaffected, a crash ends the block, and the
 * run stays deterministic. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/runtime.h"
#include "sim.h"
#include "sim_disk.h"
#include "sim_net.h"

#define MAXLOG 256
#define LAT    100u /* link latency (the default) */

typedef struct world world;

/* One process: a node with an open file to sync and at most one
 * connection. */
typedef struct proc {
    world *w;
    const char *name;
    sim_node *node;
    fl_file *file;
    fl_conn_id conn;
} proc;

typedef struct entry {
    uint64_t t;
    char what[32];
} entry;

struct world {
    sim_ctx *ctx;
    proc c, s, o; /* client, server (listens as "s"), an unrelated other */
    entry log[MAXLOG];
    size_t nlog;
};

/* A timer action: log `tag`, then run `ops` one character at a time:
 *   y  file_sync        s  send `tag`        x  close the connection
 *   t  start the timer `then` with delay `then_us`
 */
typedef struct action {
    proc *p;
    const char *tag;
    const char *ops;
    struct action *then;
    uint64_t then_us;
} action;

static const fl_runtime *rt(proc *p)
{
    return sim_node_runtime(p->node);
}

static void note(world *w, const char *who, const char *what)
{
    assert_true(w->nlog < MAXLOG);
    entry *e = &w->log[w->nlog++];
    e->t = sim_now(w->ctx);
    snprintf(e->what, sizeof e->what, "%s:%s", who, what);
}

static int start_timer(proc *p, uint64_t delay_us, fl_timer_fn fn, void *arg)
{
    fl_timer_id id;
    return rt(p)->ops->timer_start(rt(p)->self, delay_us, fn, arg, &id);
}

static int do_sync(proc *p)
{
    return rt(p)->ops->file_sync(rt(p)->self, p->file);
}

static void act_fn(void *arg)
{
    action *a = arg;
    proc *p = a->p;
    note(p->w, p->name, a->tag);
    for (const char *op = a->ops; op && *op; op++) {
        switch (*op) {
        case 'y':
            assert_int_equal(do_sync(p), 0);
            break;
        case 's':
            assert_int_equal(rt(p)->ops->send(rt(p)->self, p->conn, a->tag, strlen(a->tag)), 0);
            break;
        case 'x':
            rt(p)->ops->close(rt(p)->self, p->conn);
            break;
        case 't':
            assert_int_equal(start_timer(p, a->then_us, act_fn, a->then), 0);
            break;
        default:
            fail();
        }
    }
}

/* Schedule action `a` on its node `delay_us` from now (the node's own
 * timer, so a slow sync of the node defers it). */
static void at(action *a, uint64_t delay_us)
{
    assert_int_equal(start_timer(a->p, delay_us, act_fn, a), 0);
}

static void cb_opened(void *arg, fl_conn_id conn)
{
    proc *p = arg;
    (void)conn;
    note(p->w, p->name, "opened");
}

static void cb_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    proc *p = arg;
    (void)conn;
    char what[24];
    snprintf(what, sizeof what, "rx %.*s", (int)(len < 16 ? len : 16), (const char *)buf);
    note(p->w, p->name, what);
}

static void cb_closed(void *arg, fl_conn_id conn, int reason)
{
    proc *p = arg;
    (void)conn;
    note(p->w, p->name, reason ? "reset" : "closed");
}

static const fl_conn_callbacks cbs = {cb_opened, cb_data, cb_closed};

static int srv_accept(void *arg, fl_conn_id conn, const char *client_node,
                      const fl_conn_callbacks **out, void **out_arg)
{
    proc *p = arg;
    (void)client_node;
    p->conn = conn;
    note(p->w, p->name, "accept");
    *out = &cbs;
    *out_arg = p;
    return 0;
}

static void proc_init(world *w, proc *p, const char *name)
{
    p->w = w;
    p->name = name;
    assert_int_equal(sim_node_new(w->ctx, name, &p->node), 0);
    assert_int_equal(
        rt(p)->ops->file_open(rt(p)->self, "f", FL_FILE_WRITE | FL_FILE_CREATE, &p->file), 0);
}

static world *world_new(uint64_t seed)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = seed;
    w->ctx = sim_ctx_new(&o);
    assert_non_null(w->ctx);
    proc_init(w, &w->c, "c");
    proc_init(w, &w->s, "s");
    proc_init(w, &w->o, "o");
    assert_int_equal(sim_listen(w->s.node, "s", srv_accept, &w->s), 0);
    return w;
}

static void world_free(world *w)
{
    sim_ctx_free(w->ctx);
    free(w);
}

static int setup(void **state)
{
    *state = world_new(3);
    return 0;
}

static int teardown(void **state)
{
    world_free(*state);
    return 0;
}

/* Connect c to s and run until both ends are open (at t = 2 * LAT without
 * jitter). */
static void connect_cs(world *w)
{
    assert_int_equal(rt(&w->c)->ops->connect(rt(&w->c)->self, "s", &cbs, &w->c, &w->c.conn), 0);
    while (w->nlog < 2 && sim_step(w->ctx))
        ;
    assert_int_equal(w->nlog, 2);
    assert_string_equal(w->log[1].what, "c:opened");
    w->nlog = 0;
}

/* The index of the log entry `what`, failing if absent. */
static size_t find(const world *w, const char *what)
{
    for (size_t i = 0; i < w->nlog; i++)
        if (strcmp(w->log[i].what, what) == 0)
            return i;
    fail_msg("no log entry %s", what);
    return 0;
}

static void assert_log(const world *w, size_t i, uint64_t t, const char *what)
{
    assert_true(i < w->nlog);
    assert_string_equal(w->log[i].what, what);
    assert_int_equal(w->log[i].t, t);
}

static void set_latency(proc *p, uint64_t us)
{
    sim_disk_set_sync_latency(sim_node_disk(p->node), us);
}

/* --- timers --- */

static void test_timers_wait_for_the_busy_time_in_order(void **state)
{
    world *w = *state;
    set_latency(&w->s, 1000);
    action sync = {&w->s, "sync", "y", NULL, 0};
    action a = {&w->s, "a", NULL, NULL, 0}, b = {&w->s, "b", NULL, NULL, 0};
    action c = {&w->s, "c", NULL, NULL, 0}, d = {&w->s, "d", NULL, NULL, 0};
    action e = {&w->s, "e", NULL, NULL, 0};
    at(&c, 900); /* started first, due last of the three: order is by due time */
    at(&sync, 100);
    at(&a, 100); /* due at the very instant of the sync, after it */
    at(&b, 500);
    at(&d, 1100); /* due exactly at the busy time: after the deferred ones */
    at(&e, 1101);
    sim_run_until_idle(w->ctx, 0);
    assert_int_equal(w->nlog, 6);
    assert_log(w, 0, 100, "s:sync");
    assert_log(w, 1, 1100, "s:a");
    assert_log(w, 2, 1100, "s:b");
    assert_log(w, 3, 1100, "s:c");
    assert_log(w, 4, 1100, "s:d");
    assert_log(w, 5, 1101, "s:e");
    assert_int_equal(sim_node_busy_until(w->s.node), sim_now(w->ctx));
}

static void test_syncs_add_up_and_timers_count_from_busy_time(void **state)
{
    world *w = *state;
    set_latency(&w->s, 300);
    action late = {&w->s, "late", NULL, NULL, 0};
    action two = {&w->s, "two", "yyt", &late, 50};
    at(&two, 10);
    sim_run_until(w->ctx, 10);
    /* Two syncs in one callback: 10 + 2 * 300. */
    assert_int_equal(sim_now(w->ctx), 10);
    assert_int_equal(sim_node_busy_until(w->s.node), 610);
    assert_int_equal(sim_node_busy_until(w->c.node), 10);
    sim_run_until_idle(w->ctx, 0);
    /* The timer started after the syncs counts from when they return. */
    assert_int_equal(w->nlog, 2);
    assert_log(w, 1, 660, "s:late");
    /* One sync_wait line per sync, in the history. */
    sim_history *h = sim_ctx_history(w->ctx);
    size_t waits = 0;
    for (size_t i = 0; i < sim_history_tail_count(h); i++)
        waits += strstr(sim_history_tail_line(h, i), "\"sync_wait\"") != NULL;
    assert_int_equal(waits, 2);
}

static void test_zero_latency_does_not_block(void **state)
{
    world *w = *state;
    action a = {&w->s, "a", NULL, NULL, 0};
    action sync = {&w->s, "sync", "yt", &a, 5};
    at(&sync, 10);
    sim_run_until_idle(w->ctx, 0);
    assert_log(w, 1, 15, "s:a");
}

/* --- the network --- */

static void test_data_waits_for_the_busy_time_in_order(void **state)
{
    world *w = *state;
    connect_cs(w); /* now = 200 */
    set_latency(&w->s, 1000);
    action sync = {&w->s, "sync", "y", NULL, 0};
    action tick = {&w->s, "tick", NULL, NULL, 0}, tock = {&w->s, "tock", NULL, NULL, 0};
    action m1 = {&w->c, "m1", "s", NULL, 0}, m2 = {&w->c, "m2", "s", NULL, 0};
    action m3 = {&w->c, "m3", "s", NULL, 0}, m4 = {&w->c, "m4", "s", NULL, 0};
    at(&sync, 100); /* s busy from 300 to 1300 */
    at(&m1, 300);   /* arrives at 600 */
    at(&tick, 500); /* s's own timer, due 700 */
    at(&m2, 600);   /* arrives at 900 */
    at(&tock, 750); /* due 950 */
    at(&m3, 700);   /* arrives at 1000, after m2 on the same queue */
    at(&m4, 1200);  /* arrives at 1500: after the block */
    sim_run_until_idle(w->ctx, 0);
    size_t i = find(w, "s:sync");
    assert_log(w, i, 300, "s:sync");
    assert_log(w, find(w, "s:rx m1"), 1300, "s:rx m1");
    /* The receiver's deferred events merge by when they were first due. */
    assert_true(find(w, "s:rx m1") < find(w, "s:tick"));
    assert_true(find(w, "s:tick") < find(w, "s:rx m2"));
    assert_true(find(w, "s:rx m2") < find(w, "s:tock"));
    assert_true(find(w, "s:tock") < find(w, "s:rx m3"));
    assert_int_equal(w->log[find(w, "s:tick")].t, 1300);
    assert_int_equal(w->log[find(w, "s:rx m3")].t, 1300);
    assert_int_equal(w->log[find(w, "s:rx m4")].t, 1500);
    /* The sender was never blocked. */
    assert_int_equal(w->log[find(w, "c:m3")].t, 900);
}

static void test_closed_waits_behind_data(void **state)
{
    world *w = *state;
    connect_cs(w); /* now = 200 */
    set_latency(&w->s, 1000);
    action sync = {&w->s, "sync", "y", NULL, 0};
    action bye = {&w->c, "bye", "sx", NULL, 0};
    at(&sync, 0);  /* s busy from 200 to 1200 */
    at(&bye, 100); /* data then FIN, both arrive at 400 */
    sim_run_until_idle(w->ctx, 0);
    assert_log(w, find(w, "s:rx bye"), 1200, "s:rx bye");
    assert_log(w, find(w, "s:closed"), 1200, "s:closed");
    assert_true(find(w, "s:rx bye") < find(w, "s:closed"));
}

/* The same exchange with sync latency L and without: what s sends after
 * its sync arrives exactly L later, what it sent before is on time. */
static void send_around_sync(uint64_t l, uint64_t *before_at, uint64_t *after_at)
{
    world *w = world_new(3);
    connect_cs(w);
    set_latency(&w->s, l);
    action act = {&w->s, "x", "sys", NULL, 0}; /* send, sync, send */
    at(&act, 50);                              /* at 250 */
    sim_run_until_idle(w->ctx, 0);
    assert_int_equal(w->nlog, 3);
    assert_string_equal(w->log[1].what, "c:rx x");
    assert_string_equal(w->log[2].what, "c:rx x");
    *before_at = w->log[1].t;
    *after_at = w->log[2].t;
    world_free(w);
}

static void test_send_after_sync_leaves_at_busy_time(void **state)
{
    (void)state;
    uint64_t b0, a0, b1, a1;
    send_around_sync(0, &b0, &a0);
    send_around_sync(700, &b1, &a1);
    assert_int_equal(b0, 250 + LAT);
    assert_int_equal(a0, 250 + LAT);
    assert_int_equal(b1, b0);
    assert_int_equal(a1, a0 + 700);
}

static void test_other_nodes_unaffected(void **state)
{
    world *w = *state;
    connect_cs(w); /* now = 200 */
    set_latency(&w->s, 5000);
    action sync = {&w->s, "sync", "y", NULL, 0};
    action ot = {&w->o, "ot", NULL, NULL, 0};
    action ct = {&w->c, "ct", NULL, NULL, 0};
    at(&sync, 0);
    at(&ot, 100);
    at(&ct, 200);
    sim_run_until_idle(w->ctx, 0);
    assert_log(w, find(w, "o:ot"), 300, "o:ot");
    assert_log(w, find(w, "c:ct"), 400, "c:ct");
    assert_int_equal(sim_node_busy_until(w->o.node), sim_now(w->ctx));
}

/* --- failures, crashes --- */

static void test_failed_syncs(void **state)
{
    world *w = *state;
    set_latency(&w->s, 400);
    sim_disk *d = sim_node_disk(w->s.node);
    /* An I/O error reached the device: it took its time. */
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    assert_int_equal(do_sync(&w->s), FL_E_IO);
    assert_int_equal(sim_node_busy_until(w->s.node), 400);
    /* A stale handle is refused at once. */
    sim_node_crash(w->s.node);
    assert_int_equal(sim_node_busy_until(w->s.node), 0); /* the crash ended the block */
    assert_int_equal(sim_node_restart(w->s.node), 0);
    assert_int_equal(rt(&w->s)->ops->file_sync(rt(&w->s)->self, w->s.file), FL_E_CLOSED);
    assert_int_equal(sim_node_busy_until(w->s.node), 0);
}

static void test_crash_ends_the_block(void **state)
{
    world *w = *state;
    set_latency(&w->s, 10000);
    action sync = {&w->s, "sync", "y", NULL, 0};
    action old = {&w->s, "old", NULL, NULL, 0};
    at(&sync, 10);
    at(&old, 20);
    sim_run_until(w->ctx, 100);
    sim_node_crash(w->s.node);
    assert_int_equal(sim_node_restart(w->s.node), 0);
    action fresh = {&w->s, "fresh", NULL, NULL, 0};
    at(&fresh, 50);
    sim_run_until_idle(w->ctx, 0);
    assert_int_equal(w->nlog, 2);
    assert_log(w, 1, 150, "s:fresh"); /* the old timer died with its process */
}

/* --- determinism --- */

typedef struct chatter {
    proc *p;
    int left;
    uint64_t state;
} chatter;

/* Send, sync every third time, re-arm after a pseudo-random delay drawn
 * from the seam's PRNG. */
static void chatter_fn(void *arg)
{
    chatter *ch = arg;
    proc *p = ch->p;
    const fl_runtime *r = rt(p);
    char msg[16];
    snprintf(msg, sizeof msg, "%s%d", p->name, ch->left);
    assert_int_equal(r->ops->send(r->self, p->conn, msg, strlen(msg)), 0);
    if (ch->left % 3 == 0)
        assert_int_equal(do_sync(p), 0);
    if (--ch->left > 0)
        assert_int_equal(start_timer(p, 1 + r->ops->random(r->self) % 500, chatter_fn, ch), 0);
}

static uint64_t chatter_run(uint64_t seed, uint64_t l)
{
    world *w = world_new(seed);
    sim_link_params jittery = {LAT, 80, 0};
    assert_int_equal(sim_net_set_link(sim_ctx_net(w->ctx), "c", "s", &jittery, &jittery), 0);
    connect_cs(w);
    set_latency(&w->s, l);
    set_latency(&w->c, l / 2);
    chatter a = {&w->c, 40, 0}, b = {&w->s, 40, 0};
    assert_int_equal(start_timer(&w->c, 1, chatter_fn, &a), 0);
    assert_int_equal(start_timer(&w->s, 1, chatter_fn, &b), 0);
    sim_run_until_idle(w->ctx, 0);
    assert_int_equal(a.left + b.left, 0);
    uint64_t h = sim_history_hash(sim_ctx_history(w->ctx));
    world_free(w);
    return h;
}

static void test_deterministic(void **state)
{
    (void)state;
    uint64_t h1 = chatter_run(42, 700), h2 = chatter_run(42, 700);
    assert_int_equal(h1, h2);
    assert_true(h1 != chatter_run(42, 0)); /* the latency did change the run */
    assert_true(h1 != chatter_run(43, 700));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_timers_wait_for_the_busy_time_in_order),
        T(test_syncs_add_up_and_timers_count_from_busy_time),
        T(test_zero_latency_does_not_block),
        T(test_data_waits_for_the_busy_time_in_order),
        T(test_closed_waits_behind_data),
        cmocka_unit_test(test_send_after_sync_leaves_at_busy_time),
        T(test_other_nodes_unaffected),
        T(test_failed_syncs),
        T(test_crash_ends_the_block),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
