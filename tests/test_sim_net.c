/* Tests for the simulated network (simulator/sim_net.c): connection
 * lifecycle through the runtime seam, link timing (latency, jitter,
 * bandwidth), every network fault, the runtime contracts, and a seed sweep
 * checking that randomized workloads give identical histories. */
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
#include "sim_net.h"

#define MAXU 512

typedef struct peer {
    sim_ctx *ctx;
    sim_node *node;
    fl_conn_id conn;
    int opened, closed, reason;
    uint64_t opened_at, closed_at;
    uint8_t rx[16384];
    size_t nrx;
    uint64_t unit_at[MAXU];
    size_t nunits;
    bool in_call;       /* a seam call of ours is running */
    bool closed_self;   /* we called close() */
    int after_close;    /* callbacks after our close(): must stay 0 */
    int inside_call;    /* callbacks run inside our seam call: must stay 0 */
    size_t close_after; /* close() from the data callback after N units */
    int refuse;         /* server: refuse in accept */
    const char *send_on_accept;
    int accepted;
    char accepted_from[64];
} peer;

static const fl_runtime *rt_of(peer *p)
{
    return sim_node_runtime(p->node);
}

static void p_close(peer *p)
{
    p->in_call = true;
    rt_of(p)->ops->close(rt_of(p)->self, p->conn);
    p->in_call = false;
    p->closed_self = true;
}

static void check_cb(peer *p)
{
    if (p->in_call)
        p->inside_call++;
    if (p->closed_self)
        p->after_close++;
}

static void cb_opened(void *arg, fl_conn_id conn)
{
    peer *p = arg;
    check_cb(p);
    assert_int_equal(conn, p->conn);
    p->opened++;
    p->opened_at = sim_now(p->ctx);
}

static void cb_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    peer *p = arg;
    check_cb(p);
    assert_int_equal(conn, p->conn);
    assert_true(p->nrx + len <= sizeof p->rx);
    memcpy(p->rx + p->nrx, buf, len);
    p->nrx += len;
    if (p->nunits < MAXU)
        p->unit_at[p->nunits] = sim_now(p->ctx);
    p->nunits++;
    if (p->close_after && p->nunits == p->close_after)
        p_close(p);
}

static void cb_closed(void *arg, fl_conn_id conn, int reason)
{
    peer *p = arg;
    check_cb(p);
    assert_int_equal(conn, p->conn);
    p->closed++;
    p->reason = reason;
    p->closed_at = sim_now(p->ctx);
}

static const fl_conn_callbacks peer_cbs = {cb_opened, cb_data, cb_closed};

static int p_connect(peer *p, const char *uri)
{
    p->in_call = true;
    int rc = rt_of(p)->ops->connect(rt_of(p)->self, uri, &peer_cbs, p, &p->conn);
    p->in_call = false;
    return rc;
}

static int p_send(peer *p, const char *s)
{
    p->in_call = true;
    int rc = rt_of(p)->ops->send(rt_of(p)->self, p->conn, s, strlen(s));
    p->in_call = false;
    return rc;
}

static int srv_accept(void *arg, fl_conn_id conn, const char *client_node,
                      const fl_conn_callbacks **cbs, void **cbs_arg)
{
    peer *p = arg;
    check_cb(p);
    p->accepted++;
    snprintf(p->accepted_from, sizeof p->accepted_from, "%s", client_node);
    if (p->refuse)
        return FL_E_AUTH;
    p->conn = conn;
    *cbs = &peer_cbs;
    *cbs_arg = p;
    if (p->send_on_accept)
        assert_int_equal(p_send(p, p->send_on_accept), 0);
    return 0;
}

typedef struct fixture {
    sim_ctx *ctx;
    sim_net *net;
    sim_node *cn, *bn;
    peer cl, sv;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = 5;
    f->ctx = sim_ctx_new(&o);
    if (!f->ctx)
        return -1;
    f->net = sim_ctx_net(f->ctx);
    sim_node_new(f->ctx, "c", &f->cn);
    sim_node_new(f->ctx, "b", &f->bn);
    f->cl = (peer){.ctx = f->ctx, .node = f->cn};
    f->sv = (peer){.ctx = f->ctx, .node = f->bn};
    if (sim_listen(f->bn, "b", srv_accept, &f->sv))
        return -1;
    *state = f;
    return 0;
}

static void assert_contracts(const peer *p)
{
    assert_int_equal(p->inside_call, 0);
    assert_int_equal(p->after_close, 0);
    assert_true(p->closed <= 1);
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_contracts(&f->cl);
    assert_contracts(&f->sv);
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

/* Connect, exchange, close both ways; everything is freed afterwards. */
static void open_conn(fixture *f)
{
    assert_int_equal(p_connect(&f->cl, "b"), 0);
    while (!f->cl.opened && sim_step(f->ctx))
        ;
    assert_int_equal(f->cl.opened, 1);
    assert_int_equal(f->sv.accepted, 1);
}

static void test_connect_exact_timing(void **state)
{
    fixture *f = *state;
    assert_int_equal(p_connect(&f->cl, "b"), 0);
    assert_true(f->cl.conn != 0);
    assert_int_equal(f->cl.opened + f->sv.accepted, 0); /* not inside the call */
    sim_run_until(f->ctx, 99);
    assert_int_equal(f->sv.accepted, 0);
    sim_run_until(f->ctx, 100);
    assert_int_equal(f->sv.accepted, 1);
    assert_string_equal(f->sv.accepted_from, "c");
    assert_true(f->sv.conn != 0 && f->sv.conn != f->cl.conn);
    sim_run_until(f->ctx, 200);
    assert_int_equal(f->cl.opened, 1);
    assert_int_equal(f->cl.opened_at, 200);
    assert_int_equal(p_send(&f->cl, "hello"), 0);
    sim_run_until(f->ctx, 1000);
    assert_int_equal(f->sv.nrx, 5);
    assert_memory_equal(f->sv.rx, "hello", 5);
    assert_int_equal(f->sv.unit_at[0], 300);
    assert_int_equal(p_send(&f->sv, "world!"), 0);
    sim_run_until(f->ctx, 2000);
    assert_int_equal(f->cl.unit_at[0], 1100);
    assert_int_equal(sim_net_conn_count(f->net), 1);
    /* Orderly close: the peer sees closed(0) after the bytes sent before. */
    assert_int_equal(p_send(&f->cl, "bye"), 0);
    p_close(&f->cl);
    assert_int_equal(p_send(&f->cl, "late"), FL_E_DISCONNECTED);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nrx, 8);
    assert_int_equal(f->sv.closed, 1);
    assert_int_equal(f->sv.reason, 0);
    assert_int_equal(f->sv.closed_at, 2100);
    assert_int_equal(f->cl.closed, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
    assert_int_equal(sim_net_queued_bytes(f->net), 0);
}

static void test_send_errors(void **state)
{
    fixture *f = *state;
    assert_int_equal(p_connect(&f->cl, "b"), 0);
    assert_int_equal(p_send(&f->cl, "early"), FL_E_STATE);
    const fl_runtime *rt = rt_of(&f->cl);
    assert_int_equal(rt->ops->send(rt->self, 9999, "x", 1), FL_E_DISCONNECTED);
    rt->ops->close(rt->self, 9999); /* unknown: no-op */
    fl_conn_id c;
    assert_int_equal(rt->ops->connect(rt->self, "", &peer_cbs, &f->cl, &c), FL_E_INVAL);
    assert_int_equal(rt->ops->connect(rt->self, "b", NULL, &f->cl, &c), FL_E_INVAL);
    sim_run_until_idle(f->ctx, 0);
    /* A node cannot use another node's connection id. */
    const fl_runtime *brt = rt_of(&f->sv);
    assert_int_equal(brt->ops->send(brt->self, f->cl.conn, "x", 1), FL_E_DISCONNECTED);
    assert_int_equal(p_send(&f->cl, ""), 0);
}

static void test_refused_when_no_listener(void **state)
{
    fixture *f = *state;
    assert_int_equal(p_connect(&f->cl, "nobody"), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.opened, 0);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->cl.reason, FL_E_REFUSED);
    assert_int_equal(f->cl.closed_at, 200);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

static void test_refused_by_accept_and_unlisten(void **state)
{
    fixture *f = *state;
    f->sv.refuse = 1;
    assert_int_equal(p_connect(&f->cl, "b"), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.accepted, 1);
    assert_int_equal(f->cl.reason, FL_E_REFUSED);
    assert_int_equal(f->cl.opened, 0);
    f->sv.refuse = 0;
    assert_int_equal(sim_unlisten(f->bn, "b"), 0);
    assert_int_equal(sim_unlisten(f->bn, "b"), FL_E_NOT_FOUND);
    peer p2 = {.ctx = f->ctx, .node = f->cn};
    p_connect(&p2, "b");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(p2.reason, FL_E_REFUSED);
    assert_int_equal(f->sv.accepted, 1);
    assert_int_equal(sim_listen(f->bn, "b", srv_accept, &f->sv), 0);
    assert_int_equal(sim_listen(f->bn, "b", srv_accept, &f->sv), FL_E_EXIST);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

static void test_server_send_in_accept_follows_opened(void **state)
{
    fixture *f = *state;
    f->sv.send_on_accept = "welcome";
    open_conn(f);
    assert_int_equal(f->cl.nunits, 0); /* opened came first */
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.opened_at, 200);
    assert_int_equal(f->cl.nunits, 1);
    assert_int_equal(f->cl.unit_at[0], 200);
    assert_memory_equal(f->cl.rx, "welcome", 7);
}

static void test_jitter_never_reorders(void **state)
{
    fixture *f = *state;
    sim_link_params p = {1000, 900, 0};
    assert_int_equal(sim_net_set_link(f->net, "c", "b", &p, &p), 0);
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    for (int i = 0; i < 200; i++) {
        char u[16];
        snprintf(u, sizeof u, "%03d,", i);
        assert_int_equal(p_send(&f->cl, u), 0);
        sim_run_until(f->ctx, sim_now(f->ctx) + 50);
    }
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nunits, 200);
    size_t distinct_delay = 0;
    for (int i = 0; i < 200; i++) {
        char u[16];
        snprintf(u, sizeof u, "%03d,", i);
        assert_memory_equal(f->sv.rx + 4 * i, u, 4);
        uint64_t sent = t0 + 50 * (uint64_t)i;
        assert_true(f->sv.unit_at[i] >= sent + 1000);
        if (i)
            assert_true(f->sv.unit_at[i] >= f->sv.unit_at[i - 1]);
        distinct_delay += f->sv.unit_at[i] - sent > 1000;
    }
    assert_true(distinct_delay > 150); /* jitter really applied */
}

static void test_bandwidth_serialises(void **state)
{
    fixture *f = *state;
    sim_link_params p = {100, 0, 1000}; /* 1000 bytes/s: 1 ms per byte */
    sim_net_set_link(f->net, "c", "b", &p, NULL);
    sim_link_params got;
    assert_int_equal(sim_net_get_link(f->net, "c", "b", SIM_DIR_TO_SERVER, &got), 0);
    assert_int_equal(got.bandwidth_bps, 1000);
    assert_int_equal(sim_net_get_link(f->net, "c", "b", SIM_DIR_TO_CLIENT, &got), 0);
    assert_int_equal(got.bandwidth_bps, 0);
    open_conn(f); /* the SYN has no bytes: no serialisation */
    uint64_t t0 = sim_now(f->ctx);
    char buf[101];
    memset(buf, 'x', 100);
    buf[100] = '\0';
    p_send(&f->cl, buf);
    p_send(&f->cl, buf);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nunits, 2);
    assert_int_equal(f->sv.unit_at[0], t0 + 100000 + 100);
    assert_int_equal(f->sv.unit_at[1], t0 + 200000 + 100);
}

static void test_stall_heal_releases_in_order(void **state)
{
    fixture *f = *state;
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(sim_net_stall(f->net, "c", 5000), 0);
    for (int i = 0; i < 5; i++) {
        char u[4] = {(char)('a' + i), 0};
        assert_int_equal(p_send(&f->cl, u), 0);
        assert_int_equal(p_send(&f->sv, u), 0);
        sim_run_until(f->ctx, sim_now(f->ctx) + 500);
    }
    sim_run_until(f->ctx, t0 + 4999);
    assert_int_equal(f->sv.nunits + f->cl.nunits, 0);
    assert_int_equal(f->sv.closed + f->cl.closed, 0); /* looks open */
    assert_true(sim_net_queued_bytes(f->net) == 10);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nunits, 5);
    assert_int_equal(f->cl.nunits, 5);
    assert_memory_equal(f->sv.rx, "abcde", 5);
    assert_memory_equal(f->cl.rx, "abcde", 5);
    assert_int_equal(f->sv.unit_at[0], t0 + 5000);
    /* After the heal the link is normal again. */
    p_send(&f->cl, "z");
    uint64_t t1 = sim_now(f->ctx);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.unit_at[5], t1 + 100);
}

static void test_stall_forever_until_closed(void **state)
{
    fixture *f = *state;
    open_conn(f);
    assert_int_equal(sim_net_stall(f->net, "c", 0), 0);
    p_send(&f->cl, "lost");
    p_close(&f->cl);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000000);
    assert_int_equal(f->sv.nunits, 0);
    assert_int_equal(f->sv.closed, 0); /* even the FIN is black-holed */
    assert_int_equal(sim_net_conn_count(f->net), 1);
    p_close(&f->sv);
    assert_int_equal(sim_net_conn_count(f->net), 0);
    assert_int_equal(sim_net_queued_bytes(f->net), 0);
    assert_int_equal(sim_pending(f->ctx), 0);
}

static void test_cut_both_sides_closed(void **state)
{
    fixture *f = *state;
    sim_link_params to_b = {300, 0, 0}, to_c = {700, 0, 0};
    sim_net_set_link(f->net, "c", "b", &to_b, &to_c);
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    p_send(&f->cl, "in flight");
    assert_int_equal(sim_net_cut(f->net, "c"), 0);
    assert_int_equal(sim_net_queued_bytes(f->net), 0);
    assert_int_equal(p_send(&f->cl, "into the void"), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nunits, 0);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->sv.closed, 1);
    assert_int_equal(f->cl.reason, FL_E_DISCONNECTED);
    assert_int_equal(f->sv.reason, FL_E_DISCONNECTED);
    assert_int_equal(f->cl.closed_at, t0 + 700);
    assert_int_equal(f->sv.closed_at, t0 + 300);
    assert_int_equal(sim_net_conn_count(f->net), 0);
    assert_int_equal(sim_net_cut(f->net, "nope"), FL_E_NOT_FOUND);
}

/* Closing before the reset notification arrives: no callback at all. */
static void test_close_before_cut_notice(void **state)
{
    fixture *f = *state;
    open_conn(f);
    sim_net_cut(f->net, "b");
    p_close(&f->cl);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.closed, 0);
    assert_int_equal(f->sv.closed, 1);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

static void test_partition_connect_never_completes(void **state)
{
    fixture *f = *state;
    const char *peers[] = {"b"};
    assert_int_equal(sim_net_partition(f->net, "c", peers, 1, 5000000), 0);
    p_connect(&f->cl, "b");
    sim_run_until(f->ctx, 20000000);
    assert_int_equal(f->sv.accepted, 0);
    assert_int_equal(f->cl.opened + f->cl.closed, 0);
    assert_int_equal(sim_net_conn_count(f->net), 1);
    /* The caller's own timeout closes it; nothing leaks. */
    p_close(&f->cl);
    assert_int_equal(sim_net_conn_count(f->net), 0);
    /* Healed: a new connect works. */
    peer p2 = {.ctx = f->ctx, .node = f->cn};
    p_connect(&p2, "b");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(p2.opened, 1);
    assert_contracts(&p2);
}

static void test_partition_holds_existing_until_heal(void **state)
{
    fixture *f = *state;
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(sim_net_partition(f->net, "c", NULL, 0, 3000), 0);
    p_send(&f->cl, "one");
    p_send(&f->cl, "two");
    sim_run_until(f->ctx, t0 + 2999);
    assert_int_equal(f->sv.nunits, 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.nunits, 2);
    assert_memory_equal(f->sv.rx, "onetwo", 6);
    assert_int_equal(f->sv.unit_at[0], t0 + 3000);
    assert_int_equal(f->sv.closed + f->cl.closed, 0);
    assert_int_equal(sim_net_partition(f->net, "c", NULL, 0, 0), FL_E_INVAL);
}

static void test_partition_other_peer_unaffected(void **state)
{
    fixture *f = *state;
    const char *peers[] = {"other"};
    sim_net_partition(f->net, "c", peers, 1, 1000000);
    open_conn(f);
    p_send(&f->cl, "x");
    sim_run_until(f->ctx, sim_now(f->ctx) + 1000);
    assert_int_equal(f->sv.nunits, 1);
}

static int filter_fn(void *arg, sim_dir dir, const uint8_t *buf, size_t len)
{
    int *calls = arg;
    (*calls)++;
    if (dir != SIM_DIR_TO_CLIENT || len == 0)
        return SIM_UNIT_PASS;
    if (buf[0] == 'A')
        return SIM_UNIT_DROP;
    if (buf[0] == 'D')
        return SIM_UNIT_DUPLICATE;
    return SIM_UNIT_PASS;
}

static void test_filter_drop_and_duplicate(void **state)
{
    fixture *f = *state;
    int calls = 0;
    assert_int_equal(sim_net_set_filter(f->net, "c", NULL, filter_fn, &calls), 0);
    open_conn(f);
    p_send(&f->sv, "x1");
    p_send(&f->sv, "A2");
    p_send(&f->sv, "D3");
    p_send(&f->sv, "x4");
    p_send(&f->cl, "A5"); /* other direction: passes */
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(calls, 5);
    assert_int_equal(f->cl.nrx, 8);
    assert_memory_equal(f->cl.rx, "x1D3D3x4", 8);
    assert_int_equal(f->sv.nrx, 2);
    assert_int_equal(sim_net_set_filter(f->net, "c", "b", NULL, NULL), 0);
    p_send(&f->sv, "A6");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.nrx, 10);
    assert_int_equal(calls, 5);
    assert_int_equal(sim_net_set_filter(f->net, "zz", NULL, NULL, NULL), FL_E_NOT_FOUND);
}

static void test_reorder_two_units(void **state)
{
    fixture *f = *state;
    open_conn(f);
    assert_int_equal(sim_net_reorder_next(f->net, "c", "b", SIM_DIR_TO_CLIENT), 0);
    p_send(&f->sv, "first,");
    p_send(&f->sv, "second,");
    p_send(&f->sv, "third");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.nrx, 18);
    assert_memory_equal(f->cl.rx, "second,first,third", 18);
    /* Armed, then the connection closes with the unit held: it goes out
     * before the FIN. */
    sim_net_reorder_next(f->net, "c", "b", SIM_DIR_TO_CLIENT);
    p_send(&f->sv, "last");
    p_close(&f->sv);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.nrx, 22);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->cl.reason, 0);
}

static void test_added_latency_heals(void **state)
{
    fixture *f = *state;
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(sim_net_add_latency(f->net, "c", 5000, 0, 10000), 0);
    p_send(&f->cl, "slow");
    sim_run_until(f->ctx, t0 + 20000);
    assert_int_equal(f->sv.unit_at[0], t0 + 5100);
    p_send(&f->cl, "fast");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.unit_at[1], t0 + 20100);
    assert_int_equal(sim_net_add_latency(f->net, "c", 1, 1, 0), FL_E_INVAL);
}

static void test_server_crash_cuts_peer(void **state)
{
    fixture *f = *state;
    open_conn(f);
    uint64_t t0 = sim_now(f->ctx);
    p_send(&f->cl, "to a dying broker");
    sim_node_crash(f->bn);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->cl.reason, FL_E_DISCONNECTED);
    assert_int_equal(f->cl.closed_at, t0 + 100);
    assert_int_equal(f->sv.closed + (int)f->sv.nunits, 0); /* dead: no callbacks */
    assert_int_equal(sim_net_conn_count(f->net), 0);
    /* Its listener is gone: refused. */
    peer p2 = {.ctx = f->ctx, .node = f->cn};
    p_connect(&p2, "b");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(p2.reason, FL_E_REFUSED);
    assert_int_equal(sim_listen(f->bn, "b", srv_accept, &f->sv), FL_E_SHUTDOWN);
    /* Back up and listening: accepted again. */
    sim_node_restart(f->bn);
    assert_int_equal(sim_listen(f->bn, "b", srv_accept, &f->sv), 0);
    peer p3 = {.ctx = f->ctx, .node = f->cn};
    p_connect(&p3, "b");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(p3.opened, 1);
    assert_int_equal(f->sv.accepted, 2);
    assert_contracts(&p2);
    assert_contracts(&p3);
}

static void test_client_crash_cuts_peer(void **state)
{
    fixture *f = *state;
    open_conn(f);
    const fl_runtime *old = rt_of(&f->cl);
    fl_conn_id conn = f->cl.conn;
    p_send(&f->sv, "to a dying client");
    sim_node_power_loss(f->cn);
    old->ops->close(old->self, conn); /* dead client's teardown: no-op */
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.closed, 1);
    assert_int_equal(f->sv.reason, FL_E_DISCONNECTED);
    assert_int_equal(f->cl.nunits + (size_t)f->cl.closed, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

/* A SYN in flight to a broker that crashes is refused. */
static void test_connect_in_flight_to_crashing_server(void **state)
{
    fixture *f = *state;
    p_connect(&f->cl, "b");
    sim_run_until(f->ctx, 50);
    sim_node_crash(f->bn);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.reason, FL_E_REFUSED);
    assert_int_equal(f->sv.accepted, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

/* close() from inside a data callback: no more callbacks for that end even
 * though more data was already queued. */
static void test_no_callback_after_close(void **state)
{
    fixture *f = *state;
    f->cl.close_after = 2;
    open_conn(f);
    for (int i = 0; i < 5; i++)
        p_send(&f->sv, "unit");
    p_close(&f->sv); /* FIN queued too */
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.nunits, 2);
    assert_int_equal(f->cl.closed, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
    assert_int_equal(sim_net_queued_bytes(f->net), 0);
}

/* The client closes while its SYN is in flight: the server never hears of
 * it. */
static void test_close_while_connecting(void **state)
{
    fixture *f = *state;
    p_connect(&f->cl, "b");
    p_close(&f->cl);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.accepted, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

static void test_history_records_connection(void **state)
{
    fixture *f = *state;
    sim_history *h = sim_ctx_history(f->ctx);
    open_conn(f);
    p_send(&f->cl, "abc");
    sim_run_until_idle(f->ctx, 0);
    size_t n = sim_history_tail_count(h);
    const char *want[] = {
        "{\"t\":0,\"node\":\"c\",\"src\":\"net\",\"ev\":\"connect\",\"conn\":1,\"to\":\"b\"}",
        ("{\"t\":100,\"node\":\"b\",\"src\":\"net\",\"ev\":\"accept\",\"conn\":2,\"peer_conn\":1,"
         "\"from\":\"c\"}"),
        "{\"t\":200,\"node\":\"c\",\"src\":\"net\",\"ev\":\"opened\",\"conn\":1}",
        "{\"t\":200,\"node\":\"c\",\"src\":\"net\",\"ev\":\"tx\",\"conn\":1,\"len\":3}",
    };
    assert_true(n >= 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(sim_history_tail_line(h, n - 4 + i), want[i]);
}

/* sim_net_set_trace_tx(false) leaves out the "tx" line of each send unit
 * (benchmarks measure without per-message tracing) and nothing else; true
 * brings it back. */
static void test_trace_tx_switch(void **state)
{
    fixture *f = *state;
    sim_history *h = sim_ctx_history(f->ctx);
    open_conn(f);
    uint64_t before = sim_history_count(h);
    sim_net_set_trace_tx(f->net, false);
    assert_int_equal(p_send(&f->cl, "abc"), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(sim_history_count(h), before);
    assert_int_equal(f->sv.nrx, 3); /* the bytes still flow */
    sim_net_set_trace_tx(f->net, true);
    char want[128];
    snprintf(want, sizeof want,
             "{\"t\":%llu,\"node\":\"c\",\"src\":\"net\",\"ev\":\"tx\",\"conn\":1,\"len\":2}",
             (unsigned long long)sim_now(f->ctx));
    assert_int_equal(p_send(&f->cl, "de"), 0);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(sim_history_count(h), before + 1);
    assert_string_equal(sim_history_tail_line(h, sim_history_tail_count(h) - 1), want);
    sim_net_set_trace_tx(f->net, false);
    p_close(&f->cl); /* connection events are recorded either way */
    assert_int_equal(sim_history_count(h), before + 2);
}

static int close_in_accept(void *arg, fl_conn_id conn, const char *client_node,
                           const fl_conn_callbacks **cbs, void **cbs_arg)
{
    peer *p = arg;
    (void)client_node;
    p->accepted++;
    p->conn = conn;
    assert_int_equal(p_send(p, "bye"), 0);
    p_close(p);
    *cbs = &peer_cbs;
    *cbs_arg = p;
    return 0;
}

/* The server sends and closes from inside accept: the client sees opened,
 * the bytes, then closed(0). */
static void test_server_close_inside_accept(void **state)
{
    fixture *f = *state;
    sim_unlisten(f->bn, "b");
    assert_int_equal(sim_listen(f->bn, "b", close_in_accept, &f->sv), 0);
    p_connect(&f->cl, "b");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.opened, 1);
    assert_int_equal(f->cl.nrx, 3);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->cl.reason, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

static void test_link_config_errors(void **state)
{
    fixture *f = *state;
    sim_link_params p = {1, 2, 3}, got;
    assert_int_equal(sim_net_set_link(f->net, "x", "b", &p, &p), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_set_link(f->net, "c", "x", &p, &p), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_set_link(f->net, "c", NULL, &p, &p), FL_E_INVAL);
    assert_int_equal(sim_net_get_link(f->net, "c", "b", SIM_DIR_TO_SERVER, &got), 0);
    assert_int_equal(got.latency_us, 100); /* the default */
    assert_int_equal(sim_net_get_link(f->net, "c", "b", (sim_dir)7, &got), FL_E_INVAL);
    sim_link_params def = {42, 0, 0};
    sim_net_set_default(f->net, &def);
    sim_node *d;
    sim_node_new(f->ctx, "d", &d);
    assert_int_equal(sim_net_get_link(f->net, "c", "d", SIM_DIR_TO_CLIENT, &got), 0);
    assert_int_equal(got.latency_us, 42);
    assert_int_equal(sim_net_set_node_links(f->net, "c", &p), 0);
    assert_int_equal(sim_net_get_link(f->net, "c", "d", SIM_DIR_TO_CLIENT, &got), 0);
    assert_int_equal(got.bandwidth_bps, 3);
    assert_int_equal(sim_net_get_link(f->net, "c", "b", SIM_DIR_TO_SERVER, &got), 0);
    assert_int_equal(got.jitter_us, 2);
    assert_int_equal(sim_net_set_node_links(f->net, "x", &p), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_stall(f->net, "x", 1), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_partition(f->net, "x", NULL, 0, 1), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_add_latency(f->net, "x", 1, 1, 1), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_reorder_next(f->net, "c", "x", SIM_DIR_TO_CLIENT), FL_E_NOT_FOUND);
    assert_int_equal(sim_net_reorder_next(f->net, "c", "b", (sim_dir)3), FL_E_INVAL);
}

/* A cut's notice is pending for the server when the server node crashes:
 * the dead server gets nothing, the client its one closed. */
static void test_crash_with_pending_notice(void **state)
{
    fixture *f = *state;
    open_conn(f);
    sim_net_cut(f->net, "c");
    sim_node_crash(f->bn);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->sv.closed, 0);
    assert_int_equal(f->cl.closed, 1);
    assert_int_equal(f->cl.reason, FL_E_DISCONNECTED);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

/* Two listeners on one node and a node connecting to itself. */
static void test_connect_to_own_listener(void **state)
{
    fixture *f = *state;
    peer self_srv = {.ctx = f->ctx, .node = f->cn};
    assert_int_equal(sim_listen(f->cn, "c-admin", srv_accept, &self_srv), 0);
    p_connect(&f->cl, "c-admin");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.opened, 1);
    assert_int_equal(self_srv.accepted, 1);
    p_send(&f->cl, "me");
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(self_srv.nrx, 2);
    sim_node_crash(f->cn);
    sim_run_until_idle(f->ctx, 0);
    assert_int_equal(f->cl.closed + self_srv.closed, 0);
    assert_int_equal(sim_net_conn_count(f->net), 0);
}

/* --- determinism: randomized workloads, 50 seeds, each run twice --- */

typedef struct wl_app {
    struct workload *w;
    sim_node *node;
    fl_conn_id conn;
    bool open, connecting;
    fl_timer_id tick;
    uint64_t rx;
    int id;
} wl_app;

typedef struct workload {
    sim_ctx *ctx;
    wl_app clients[4];
    wl_app servers[8];
    int nservers;
    sim_prng rng; /* the workload's own choices, seeded from the seed */
} workload;

static void wl_tick(void *arg);

static void wl_opened(void *arg, fl_conn_id conn)
{
    wl_app *a = arg;
    a->open = true;
    a->connecting = false;
    (void)conn;
}

static void wl_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    wl_app *a = arg;
    a->rx += len;
    char f[64];
    snprintf(f, sizeof f, "\"len\":%zu,\"b0\":%u", len, buf[0]);
    fl_rt_trace(sim_node_runtime(a->node), "app", "rx", f);
    /* servers echo back */
    if (a->w && a->id >= 100)
        sim_node_runtime(a->node)->ops->send(sim_node_runtime(a->node)->self, conn, buf, len);
}

static void wl_closed(void *arg, fl_conn_id conn, int reason)
{
    wl_app *a = arg;
    (void)conn;
    a->open = a->connecting = false;
    char f[48];
    snprintf(f, sizeof f, "\"reason\":%d", reason);
    fl_rt_trace(sim_node_runtime(a->node), "app", "closed", f);
}

static const fl_conn_callbacks wl_cbs = {wl_opened, wl_data, wl_closed};

static int wl_accept(void *arg, fl_conn_id conn, const char *client, const fl_conn_callbacks **cbs,
                     void **cbs_arg)
{
    wl_app *s = arg;
    (void)conn;
    (void)client;
    *cbs = &wl_cbs;
    *cbs_arg = s;
    return 0;
}

static void wl_tick(void *arg)
{
    wl_app *a = arg;
    workload *w = a->w;
    const fl_runtime *rt = sim_node_runtime(a->node);
    uint64_t r = fl_rt_random_below(rt, 10);
    if (!a->open && !a->connecting) {
        char uri[16];
        snprintf(uri, sizeof uri, "s%d", (int)fl_rt_random_below(rt, (uint64_t)w->nservers + 1));
        if (rt->ops->connect(rt->self, uri, &wl_cbs, a, &a->conn) == 0)
            a->connecting = true;
    } else if (a->open && r < 7) {
        uint8_t buf[64];
        size_t len = 1 + (size_t)fl_rt_random_below(rt, sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)fl_rt_random(rt);
        rt->ops->send(rt->self, a->conn, buf, len);
    } else if (r == 9) {
        rt->ops->close(rt->self, a->conn);
        a->open = a->connecting = false;
    }
    fl_rt_timer_start(rt, 1 + fl_rt_random_below(rt, 2000), wl_tick, a, &a->tick);
}

static void wl_fault(void *arg)
{
    workload *w = arg;
    sim_net *net = sim_ctx_net(w->ctx);
    char name[16];
    snprintf(name, sizeof name, "c%d", (int)sim_prng_below(&w->rng, 4));
    switch (sim_prng_below(&w->rng, 6)) {
    case 0:
        sim_net_stall(net, name, 1 + sim_prng_below(&w->rng, 20000));
        break;
    case 1:
        sim_net_cut(net, name);
        break;
    case 2:
        sim_net_partition(net, name, NULL, 0, 1 + sim_prng_below(&w->rng, 30000));
        break;
    case 3:
        sim_net_add_latency(net, name, sim_prng_below(&w->rng, 3000), sim_prng_below(&w->rng, 3000),
                            1 + sim_prng_below(&w->rng, 30000));
        break;
    case 4: {
        sim_node *s = sim_node_find(w->ctx, "s0");
        if (sim_node_alive(s)) {
            sim_node_crash(s);
        } else {
            sim_node_restart(s);
            sim_listen(s, "s0", wl_accept, &w->servers[0]);
        }
        break;
    }
    default:
        sim_net_reorder_next(net, name, "s1", SIM_DIR_TO_CLIENT);
        break;
    }
    sim_schedule(w->ctx, 1 + sim_prng_below(&w->rng, 50000), wl_fault, w, NULL);
}

static uint64_t run_workload(uint64_t seed, uint64_t *events)
{
    workload *w = calloc(1, sizeof *w);
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = seed;
    o.history_tail = 0;
    w->ctx = sim_ctx_new(&o);
    sim_prng_seed(&w->rng, seed ^ 0xabcdefULL);
    w->nservers = 2;
    for (int i = 0; i < w->nservers; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        w->servers[i] = (wl_app){.w = w, .id = 100 + i};
        sim_node_new(w->ctx, name, &w->servers[i].node);
        sim_listen(w->servers[i].node, name, wl_accept, &w->servers[i]);
    }
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        w->clients[i] = (wl_app){.w = w, .id = i};
        sim_node_new(w->ctx, name, &w->clients[i].node);
        sim_link_params p = {50 + sim_prng_below(&w->rng, 500), sim_prng_below(&w->rng, 300),
                             sim_prng_below(&w->rng, 2) ? 1000000 : 0};
        sim_net_set_node_links(sim_ctx_net(w->ctx), name, &p);
        sim_schedule(w->ctx, sim_prng_below(&w->rng, 1000), wl_tick, &w->clients[i], NULL);
    }
    sim_schedule(w->ctx, 10000, wl_fault, w, NULL);
    sim_run_until(w->ctx, 2000000);
    uint64_t hash = sim_history_hash(sim_ctx_history(w->ctx));
    *events = sim_history_count(sim_ctx_history(w->ctx));
    sim_ctx_free(w->ctx);
    free(w);
    return hash;
}

static void test_determinism_seed_sweep(void **state)
{
    (void)state;
    uint64_t hashes[50];
    for (uint64_t seed = 0; seed < 50; seed++) {
        uint64_t n1, n2;
        uint64_t h1 = run_workload(seed, &n1);
        uint64_t h2 = run_workload(seed, &n2);
        assert_int_equal(h1, h2);
        assert_int_equal(n1, n2);
        assert_true(n1 > 1000); /* a real workload ran */
        hashes[seed] = h1;
        for (uint64_t j = 0; j < seed; j++)
            assert_int_not_equal(hashes[j], h1);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_connect_exact_timing),
        T(test_send_errors),
        T(test_refused_when_no_listener),
        T(test_refused_by_accept_and_unlisten),
        T(test_server_send_in_accept_follows_opened),
        T(test_jitter_never_reorders),
        T(test_bandwidth_serialises),
        T(test_stall_heal_releases_in_order),
        T(test_stall_forever_until_closed),
        T(test_cut_both_sides_closed),
        T(test_close_before_cut_notice),
        T(test_partition_connect_never_completes),
        T(test_partition_holds_existing_until_heal),
        T(test_partition_other_peer_unaffected),
        T(test_filter_drop_and_duplicate),
        T(test_reorder_two_units),
        T(test_added_latency_heals),
        T(test_server_crash_cuts_peer),
        T(test_client_crash_cuts_peer),
        T(test_connect_in_flight_to_crashing_server),
        T(test_no_callback_after_close),
        T(test_close_while_connecting),
        T(test_history_records_connection),
        T(test_trace_tx_switch),
        T(test_server_close_inside_accept),
        T(test_link_config_errors),
        T(test_crash_with_pending_notice),
        T(test_connect_to_own_listener),
        cmocka_unit_test(test_determinism_seed_sweep),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
