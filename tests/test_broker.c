/* Tests for the simulated broker (simulator/broker.c), driven through RAW
 * FRAMES over the simulation core: a tiny test client in this file connects
 * from its own sim node, encodes frames with the wire codec and decodes what
 * comes back. Covers logon (credentials, duplicate logon, logon ack
 * sequence), publish dedupe, conflated persisted acks after sync with the
 * contiguous rule, failure acks, live and bookmark subscriptions, the
 * replay-to-live handover under concurrent publishes, ranges (the June-4
 * example, inclusive/exclusive ends, future begin, completed), persisted
 * acks to bookmark subscribers, expiry policies after retention, sync and
 * async replication with failover, crash and power loss, heartbeats,
 * journal failures (a failed sync: sessions dropped, journal reopened;
 * a persistent one: logons refused with a reason until it clears; a full
 * disk: the publish is not acked, logons refused for a while, then
 * everything converges) and determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "faultline/wire.h"
#include "sim.h"
#include "sim_disk.h"
#include "sim_net.h"

#define MS  1000ull
#define SEC 1000000ull

/* ---- a raw-frame test client ----------------------------------------- */

typedef struct rx_frame {
    uint8_t *raw;
    fl_frame f;  /* slices into raw */
    uint64_t at; /* virtual time received */
} rx_frame;

typedef struct tclient {
    sim_ctx *ctx;
    sim_node *node;
    fl_conn_id conn;
    int opened, closed, reason;
    fl_buf rx;
    rx_frame *frames;
    size_t n, cap;
} tclient;

static const fl_runtime *trt(tclient *c)
{
    return sim_node_runtime(c->node);
}

static void tc_opened(void *arg, fl_conn_id conn)
{
    (void)conn;
    ((tclient *)arg)->opened = 1;
}

static void tc_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    tclient *c = arg;
    (void)conn;
    assert_int_equal(fl_buf_append(&c->rx, buf, len), 0);
    size_t off = 0;
    for (;;) {
        fl_frame f;
        size_t used;
        int rc = fl_frame_decode(c->rx.data + off, c->rx.len - off, 0, &f, &used);
        if (rc == FL_E_AGAIN)
            break;
        assert_int_equal(rc, 0);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->frames = realloc(c->frames, c->cap * sizeof *c->frames);
        }
        rx_frame *r = &c->frames[c->n++];
        r->raw = malloc(used);
        memcpy(r->raw, c->rx.data + off, used);
        assert_int_equal(fl_frame_decode(r->raw, used, 0, &r->f, &used), 0);
        r->at = sim_now(c->ctx);
        off += used;
    }
    fl_buf_consume(&c->rx, off);
}

static void tc_closed(void *arg, fl_conn_id conn, int reason)
{
    tclient *c = arg;
    (void)conn;
    c->closed = 1;
    c->reason = reason;
}

static const fl_conn_callbacks TC_CBS = {tc_opened, tc_data, tc_closed};

static void tc_clear(tclient *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->frames[i].raw);
    c->n = 0;
}

static void tc_free(tclient *c)
{
    if (!c)
        return;
    tc_clear(c);
    free(c->frames);
    fl_buf_free(&c->rx);
    free(c);
}

static void tc_connect(tclient *c, const char *broker)
{
    c->opened = c->closed = 0;
    fl_buf_clear(&c->rx);
    assert_int_equal(trt(c)->ops->connect(trt(c)->self, broker, &TC_CBS, c, &c->conn), 0);
}

static void tc_send(tclient *c, fl_buf *b)
{
    assert_int_equal(trt(c)->ops->send(trt(c)->self, c->conn, b->data, b->len), 0);
    fl_buf_free(b);
}

static void tc_logon(tclient *c, const char *name, const char *pw, uint64_t hb)
{
    fl_buf b = FL_BUF_INIT;
    assert_int_equal(fl_wire_encode_logon(&b, fl_slice_cstr(name),
                                          pw ? fl_slice_cstr(pw) : (fl_slice){NULL, 0}, hb, 1),
                     0);
    tc_send(c, &b);
}

static void tc_publish(tclient *c, const char *topic, uint64_t seq)
{
    char payload[32];
    int n = snprintf(payload, sizeof payload, "m%llu", (unsigned long long)seq);
    fl_buf b = FL_BUF_INIT;
    assert_int_equal(
        fl_wire_encode_publish(&b, fl_slice_cstr(topic), seq, fl_slice_make(payload, (size_t)n)),
        0);
    tc_send(c, &b);
}

static void tc_subscribe(tclient *c, const char *topic, const char *sub_id, const char *bm,
                         uint32_t options)
{
    fl_buf b = FL_BUF_INIT;
    assert_int_equal(fl_wire_encode_subscribe(&b, fl_slice_cstr(topic), fl_slice_cstr(sub_id),
                                              bm ? fl_slice_cstr(bm) : (fl_slice){NULL, 0}, options,
                                              0, 2),
                     0);
    tc_send(c, &b);
}

static void tc_heartbeat(tclient *c)
{
    fl_buf b = FL_BUF_INIT;
    assert_int_equal(fl_wire_encode_heartbeat(&b), 0);
    tc_send(c, &b);
}

/* The i-th ack of `type` (i < 0: the last), or NULL. */
static const rx_frame *tc_ack(const tclient *c, int type, int i)
{
    const rx_frame *last = NULL;
    int k = 0;
    for (size_t j = 0; j < c->n; j++) {
        const fl_frame *f = &c->frames[j].f;
        if (f->command != FL_CMD_ACK || f->ack_type != type)
            continue;
        if (k++ == i)
            return &c->frames[j];
        last = &c->frames[j];
    }
    return i < 0 ? last : NULL;
}

static int tc_count(const tclient *c, int cmd, int ack_type, int status)
{
    int k = 0;
    for (size_t j = 0; j < c->n; j++) {
        const fl_frame *f = &c->frames[j].f;
        if (f->command == cmd && (cmd != FL_CMD_ACK || ((ack_type < 0 || f->ack_type == ack_type) &&
                                                        (status < 0 || f->status == status))))
            k++;
    }
    return k;
}

/* Publisher-side persisted acks (no sub id). */
static int tc_pub_acks(const tclient *c, uint64_t *seqs, int max)
{
    int k = 0;
    for (size_t j = 0; j < c->n; j++) {
        const fl_frame *f = &c->frames[j].f;
        if (f->command == FL_CMD_ACK && f->ack_type == FL_ACK_PERSISTED &&
            f->status == FL_STATUS_SUCCESS && !(f->present & FL_HAS_SUB_ID)) {
            if (k < max)
                seqs[k] = f->sequence;
            k++;
        }
    }
    return k;
}

/* Sequences delivered on `sub_id`, in order. */
static size_t tc_delivered(const tclient *c, const char *sub_id, uint64_t *seqs, size_t max)
{
    size_t k = 0;
    for (size_t j = 0; j < c->n; j++) {
        const fl_frame *f = &c->frames[j].f;
        if (f->command == FL_CMD_DELIVERY && fl_slice_eq(f->sub_id, fl_slice_cstr(sub_id))) {
            if (k < max)
                seqs[k] = f->bookmark.sequence;
            k++;
        }
    }
    return k;
}

static const fl_frame *tc_delivery(const tclient *c, const char *sub_id, uint64_t seq)
{
    for (size_t j = 0; j < c->n; j++) {
        const fl_frame *f = &c->frames[j].f;
        if (f->command == FL_CMD_DELIVERY && fl_slice_eq(f->sub_id, fl_slice_cstr(sub_id)) &&
            f->bookmark.sequence == seq)
            return f;
    }
    return NULL;
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
    sim_ctx *ctx;
    sim_node *na, *nb;
    sim_broker *a, *b;
    sim_broker_config ca, cb;
    sim_broker_topic topics[3];
    sim_broker_replica repl;
    tclient *cl[4];
    size_t ncl;
    uint64_t start_utc;
} fx;

static fx *fx_make(uint64_t start_utc)
{
    fx *f = calloc(1, sizeof *f);
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    co.seed = 7;
    co.start_utc_us = start_utc;
    co.history_tail = 4096;
    f->start_utc = start_utc;
    f->ctx = sim_ctx_new(&co);
    f->topics[0] = (sim_broker_topic){"orders", true};
    f->topics[1] = (sim_broker_topic){"prices", true};
    f->topics[2] = (sim_broker_topic){"live", false};
    sim_broker_config c = SIM_BROKER_CONFIG_INIT;
    c.topics = f->topics;
    c.ntopics = 3;
    c.trace_messages = true;
    f->ca = c;
    f->ca.name = "a";
    f->cb = c;
    f->cb.name = "b";
    assert_int_equal(sim_node_new(f->ctx, "a", &f->na), 0);
    return f;
}

static int setup(void **state)
{
    *state = fx_make(SIM_DEFAULT_START_UTC_US);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->ncl; i++)
        tc_free(f->cl[i]);
    sim_broker_free(f->a);
    sim_broker_free(f->b);
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

static void start_a(fx *f)
{
    char err[256];
    assert_int_equal(sim_broker_new(sim_node_runtime(f->na), &f->ca, &f->a, err, sizeof err), 0);
    assert_int_equal(sim_broker_listen_sim(f->a, f->na, "a"), 0);
}

static void start_b(fx *f)
{
    if (!f->nb)
        assert_int_equal(sim_node_new(f->ctx, "b", &f->nb), 0);
    char err[256];
    assert_int_equal(sim_broker_new(sim_node_runtime(f->nb), &f->cb, &f->b, err, sizeof err), 0);
    assert_int_equal(sim_broker_listen_sim(f->b, f->nb, "b"), 0);
}

static void run(fx *f, uint64_t dt)
{
    sim_run_until(f->ctx, sim_now(f->ctx) + dt);
}

static tclient *client(fx *f, const char *node, const char *broker)
{
    tclient *c = calloc(1, sizeof *c);
    c->ctx = f->ctx;
    c->node = sim_node_find(f->ctx, node);
    if (!c->node)
        assert_int_equal(sim_node_new(f->ctx, node, &c->node), 0);
    f->cl[f->ncl++] = c;
    tc_connect(c, broker);
    run(f, 1 * MS);
    assert_true(c->opened);
    return c;
}

/* Connect and log on as `name`; returns the client after the logon ack. */
static tclient *logon(fx *f, const char *name, const char *broker)
{
    tclient *c = client(f, name, broker);
    tc_logon(c, name, NULL, 0);
    run(f, 1 * MS);
    const rx_frame *a = tc_ack(c, FL_ACK_LOGON, 0);
    assert_non_null(a);
    assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
    return c;
}

static void crash_a(fx *f, bool power)
{
    if (power)
        sim_node_power_loss(f->na);
    else
        sim_node_crash(f->na);
    sim_broker_abandon(f->a);
    f->a = NULL;
}

static void restart_a(fx *f)
{
    assert_int_equal(sim_node_restart(f->na), 0);
    start_a(f);
}

static uint64_t pub_id(const char *name)
{
    return fl_publisher_id(name, strlen(name));
}

/* ---- logon -------------------------------------------------------------- */

static void test_logon_and_ack_sequence(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.sequence == 0);
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.command_id == 1);
    for (uint64_t s = 1; s <= 5; s++)
        tc_publish(p, "orders", s);
    run(f, 2 * SEC);
    /* reconnect: the logon ack carries the highest persisted sequence */
    trt(p)->ops->close(trt(p)->self, p->conn);
    run(f, 10 * MS);
    tc_clear(p);
    tc_connect(p, "a");
    run(f, 1 * MS);
    tc_logon(p, "pub-1", NULL, 0);
    run(f, 1 * MS);
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.sequence == 5);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.logons == 2 && k.journal_writes == 5);
}

static void test_logon_credentials(void **state)
{
    fx *f = *state;
    sim_broker_credential cr[] = {{"pub-1", "secret"}};
    f->ca.has_credentials = true;
    f->ca.credentials = cr;
    f->ca.ncredentials = 1;
    start_a(f);
    tclient *bad = client(f, "pub-1", "a");
    tc_logon(bad, "pub-1", "wrong", 0);
    run(f, 1 * MS);
    const rx_frame *a = tc_ack(bad, FL_ACK_LOGON, 0);
    assert_non_null(a);
    assert_int_equal(a->f.status, FL_STATUS_FAILURE);
    assert_int_equal(a->f.reason, FL_REASON_AUTH_FAILED);
    assert_true(bad->closed);
    tclient *unknown = client(f, "x", "a");
    tc_logon(unknown, "x", "secret", 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(unknown, FL_ACK_LOGON, 0)->f.reason, FL_REASON_AUTH_FAILED);
    tclient *good = client(f, "pub-2", "a");
    tc_logon(good, "pub-1", "secret", 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(good, FL_ACK_LOGON, 0)->f.status, FL_STATUS_SUCCESS);
    assert_false(good->closed);
}

static void test_duplicate_logon_refuse(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *one = logon(f, "pub-1", "a");
    tclient *two = client(f, "other-node", "a");
    tc_logon(two, "pub-1", NULL, 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(two, FL_ACK_LOGON, 0)->f.reason, FL_REASON_NAME_IN_USE);
    assert_true(two->closed);
    assert_false(one->closed);
    tc_publish(one, "orders", 1);
    run(f, 2 * SEC);
    assert_int_equal(tc_count(one, FL_CMD_ACK, FL_ACK_PERSISTED, FL_STATUS_SUCCESS), 1);
}

static void test_duplicate_logon_replace(void **state)
{
    fx *f = *state;
    f->ca.duplicate_logon = SIM_DUP_LOGON_REPLACE;
    start_a(f);
    tclient *one = logon(f, "pub-1", "a");
    tclient *two = client(f, "other-node", "a");
    tc_logon(two, "pub-1", NULL, 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(two, FL_ACK_LOGON, 0)->f.status, FL_STATUS_SUCCESS);
    assert_true(one->closed);
    assert_false(two->closed);
    assert_true(sim_broker_has_session(f->a, "pub-1"));
}

static void test_frames_before_logon_close(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *c = client(f, "c", "a");
    tc_publish(c, "orders", 1);
    run(f, 1 * MS);
    assert_true(c->closed);
    /* garbage closes too */
    tclient *g = client(f, "g", "a");
    uint8_t junk[8] = {0, 0, 0, 4, 0xAA, 1, 1, 0};
    assert_int_equal(trt(g)->ops->send(trt(g)->self, g->conn, junk, sizeof junk), 0);
    run(f, 1 * MS);
    assert_true(g->closed);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 0);
}

/* ---- publish and acks -------------------------------------------------- */

static void test_publish_dedupe(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    for (uint64_t s = 1; s <= 5; s++)
        tc_publish(p, "orders", s);
    run(f, 1500 * MS);
    tc_publish(p, "orders", 3); /* durable already: duplicate failure */
    tc_publish(p, "orders", 6);
    run(f, 1500 * MS);
    const sim_journal *j = sim_broker_journal(f->a);
    assert_int_equal(sim_journal_count(j), 6);
    assert_int_equal(tc_count(p, FL_CMD_ACK, FL_ACK_PERSISTED, FL_STATUS_FAILURE), 1);
    const rx_frame *fa = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (p->frames[i].f.command == FL_CMD_ACK && p->frames[i].f.status == FL_STATUS_FAILURE)
            fa = &p->frames[i];
    assert_int_equal(fa->f.reason, FL_REASON_DUPLICATE);
    assert_true(fa->f.sequence == 3);
    uint64_t acks[8];
    int n = tc_pub_acks(p, acks, 8);
    assert_int_equal(n, 2);
    assert_true(acks[0] == 5 && acks[1] == 6);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.duplicates == 1 && k.publishes == 7);
}

typedef struct ack_watch {
    const sim_journal *j;
    sim_broker *b;
    int acks;
    int violations; /* an ack beyond the durable sequence */
    uint64_t journal_syncs;
} ack_watch;

static void watch_obs(void *arg, sim_broker_event ev, const char *client, uint64_t v)
{
    ack_watch *w = arg;
    if (ev == SIM_BROKER_EV_JOURNAL_SYNC)
        w->journal_syncs++;
    if (ev != SIM_BROKER_EV_PERSISTED_ACK)
        return;
    (void)client;
    w->acks++;
    /* the acked sequence's record must be durable */
    uint64_t r;
    if (sim_journal_find(w->j, pub_id("pub-1"), v, &r) == 0 && r > sim_journal_durable_recno(w->j))
        w->violations++;
}

static void test_acks_conflated_after_sync(void **state)
{
    fx *f = *state;
    f->ca.sync_interval_us = 500 * MS;
    f->ca.ack_interval_us = 100 * MS;
    start_a(f);
    ack_watch w = {sim_broker_journal(f->a), f->a, 0, 0, 0};
    sim_broker_set_observer(f->a, watch_obs, &w);
    tclient *p = logon(f, "pub-1", "a");
    uint64_t t0 = sim_now(f->ctx);
    for (uint64_t s = 1; s <= 3; s++)
        tc_publish(p, "orders", s);
    run(f, 300 * MS);
    assert_int_equal(tc_pub_acks(p, NULL, 0), 0); /* nothing durable yet */
    run(f, 300 * MS);
    uint64_t acks[16];
    assert_int_equal(tc_pub_acks(p, acks, 16), 1); /* right after the sync */
    assert_true(acks[0] == 3);
    const rx_frame *a = tc_ack(p, FL_ACK_PERSISTED, 0);
    assert_true(a->at >= t0 + 500 * MS && a->at < t0 + 510 * MS);
    /* ten quick publishes: one conflated ack per sync, carrying the last */
    for (uint64_t s = 4; s <= 13; s++) {
        tc_publish(p, "orders", s);
        run(f, 10 * MS);
    }
    run(f, 1 * SEC);
    int n = tc_pub_acks(p, acks, 16);
    assert_int_equal(n, 2);
    assert_true(acks[1] == 13);
    assert_int_equal(w.violations, 0);
    assert_true(w.acks == 2);
}

static void test_acks_contiguous_with_inflight_duplicate(void **state)
{
    fx *f = *state;
    f->ca.sync_interval_us = 400 * MS;
    f->ca.ack_interval_us = 50 * MS;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tc_publish(p, "orders", 1);
    tc_publish(p, "orders", 2);
    run(f, 100 * MS);
    /* a quick reconnect: the logon ack says 0 (nothing durable) and the
     * client republishes 1 and 2; they are absorbed, not failed */
    trt(p)->ops->close(trt(p)->self, p->conn);
    run(f, 10 * MS);
    tc_clear(p);
    tc_connect(p, "a");
    run(f, 1 * MS);
    tc_logon(p, "pub-1", NULL, 0);
    run(f, 1 * MS);
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.sequence == 0);
    tc_publish(p, "orders", 1);
    tc_publish(p, "orders", 2);
    tc_publish(p, "orders", 3);
    run(f, 100 * MS);
    assert_int_equal(tc_pub_acks(p, NULL, 0), 0);
    run(f, 1 * SEC);
    uint64_t acks[4];
    assert_int_equal(tc_pub_acks(p, acks, 4), 1);
    assert_true(acks[0] == 3);
    assert_int_equal(tc_count(p, FL_CMD_ACK, FL_ACK_PERSISTED, FL_STATUS_FAILURE), 0);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 3);
}

static void test_failure_acks_between_success(void **state)
{
    fx *f = *state;
    const char *allowed[] = {"orders"};
    sim_broker_entitlement ent[] = {{"pub-1", allowed, 1}};
    f->ca.entitlements = ent;
    f->ca.nentitlements = 1;
    f->ca.ack_interval_us = 0;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tc_publish(p, "orders", 1);
    run(f, 10 * MS);
    tc_publish(p, "prices", 2); /* not entitled */
    run(f, 10 * MS);
    tc_publish(p, "orders", 3);
    run(f, 10 * MS);
    /* success 1, failure 2 (not_entitled), success 3 */
    int order[3] = {-1, -1, -1}, k = 0;
    for (size_t i = 0; i < p->n && k < 3; i++) {
        const fl_frame *a = &p->frames[i].f;
        if (a->command != FL_CMD_ACK || a->ack_type != FL_ACK_PERSISTED)
            continue;
        order[k++] = a->status == FL_STATUS_SUCCESS ? (int)a->sequence : -(int)a->sequence;
        if (a->status != FL_STATUS_SUCCESS)
            assert_int_equal(a->reason, FL_REASON_NOT_ENTITLED);
    }
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], -2);
    assert_int_equal(order[2], 3);
    tc_subscribe(p, "prices", "s1", NULL, 0);
    run(f, 1 * MS);
    const rx_frame *sa = tc_ack(p, FL_ACK_SUBSCRIBED, 0);
    assert_int_equal(sa->f.status, FL_STATUS_FAILURE);
    assert_int_equal(sa->f.reason, FL_REASON_NOT_ENTITLED);
    assert_true(fl_slice_eq(sa->f.sub_id, fl_slice_cstr("s1")));
}

/* ---- subscriptions ------------------------------------------------------ */

static void test_live_subscribe(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_publish(p, "orders", 1); /* before the subscription: not delivered */
    run(f, 1 * MS);
    tc_subscribe(s, "orders", "s1", NULL, 0);
    tc_subscribe(s, "live", "s2", NULL, 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, 0)->f.status, FL_STATUS_SUCCESS);
    tc_publish(p, "orders", 2);
    tc_publish(p, "live", 3);
    tc_publish(p, "prices", 4);
    run(f, 1 * MS);
    uint64_t seqs[8];
    assert_int_equal(tc_delivered(s, "s1", seqs, 8), 1);
    assert_true(seqs[0] == 2);
    const fl_frame *d = tc_delivery(s, "s1", 2);
    assert_true(d->bookmark.publisher == pub_id("pub-1"));
    assert_true(fl_slice_eq(d->payload, fl_slice_cstr("m2")));
    assert_int_equal(tc_delivered(s, "s2", seqs, 8), 1); /* live-only topic */
    assert_true(seqs[0] == 3);
    /* the live-only message was not journaled */
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 3);
    /* sub id in use */
    tc_subscribe(s, "orders", "s1", NULL, 0);
    run(f, 1 * MS);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, -1)->f.reason, FL_REASON_SUB_ID_IN_USE);
}

/* The line of the last history event whose fields contain `needle`. */
static const char *last_line_with(fx *f, const char *needle)
{
    sim_history *h = sim_ctx_history(f->ctx);
    for (size_t i = sim_history_tail_count(h); i-- > 0;)
        if (strstr(sim_history_tail_line(h, i), needle))
            return sim_history_tail_line(h, i);
    return "";
}

/* The per-message traces are assembled without printf: pin their bytes
 * (names escaped, numbers in full). */
static void test_message_trace_lines(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *p = logon(f, "pub-\"1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s\\1", NULL, 0);
    run(f, 1 * MS);
    tc_publish(p, "orders", 12345678901234ull);
    run(f, 1 * MS);
    char want[256];
    const char *line = last_line_with(f, "\"ev\":\"publish\"");
    snprintf(want, sizeof want,
             "\"ev\":\"publish\",\"client\":\"pub-\\\"1\",\"seq\":12345678901234,"
             "\"outcome\":\"logged\",\"recno\":1}");
    assert_non_null(strstr(line, want));
    line = last_line_with(f, "\"ev\":\"deliver\"");
    snprintf(want, sizeof want,
             "\"ev\":\"deliver\",\"client\":\"sub-1\",\"sub_id\":\"s\\\\1\",\"publisher\":%llu,"
             "\"seq\":12345678901234}",
             (unsigned long long)pub_id("pub-\"1"));
    assert_non_null(strstr(line, want));
}

static void publish_n(fx *f, tclient *p, const char *topic, uint64_t from, uint64_t to,
                      uint64_t gap)
{
    for (uint64_t s = from; s <= to; s++) {
        tc_publish(p, topic, s);
        run(f, gap);
    }
}

static void check_seqs(const uint64_t *seqs, size_t n, uint64_t from, uint64_t to)
{
    assert_int_equal(n, to - from + 1);
    for (size_t i = 0; i < n; i++)
        assert_true(seqs[i] == from + i);
}

static void test_bookmark_replay_forms(void **state)
{
    fx *f = *state;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tclient *q = logon(f, "pub-2", "a");
    publish_n(f, p, "orders", 1, 10, 1 * SEC);
    publish_n(f, q, "orders", 1, 3, 1 * SEC);
    run(f, 2 * SEC);
    tclient *s = logon(f, "sub-1", "a");
    uint64_t seqs[64];
    /* EPOCH */
    tc_subscribe(s, "orders", "e", "0", 0);
    run(f, 10 * MS);
    assert_int_equal(tc_delivered(s, "e", seqs, 64), 13);
    /* one bookmark: everything after it */
    char bm[128];
    snprintf(bm, sizeof bm, "%llu|7|", (unsigned long long)pub_id("pub-1"));
    tc_subscribe(s, "orders", "b", bm, 0);
    run(f, 10 * MS);
    size_t n = tc_delivered(s, "b", seqs, 64);
    assert_int_equal(n, 6); /* p 8,9,10 and q 1,2,3 */
    assert_true(seqs[0] == 8 && seqs[2] == 10 && seqs[3] == 1);
    /* a list: the earliest of them */
    snprintf(bm, sizeof bm, "%llu|9|,%llu|2|", (unsigned long long)pub_id("pub-1"),
             (unsigned long long)pub_id("pub-2"));
    tc_subscribe(s, "orders", "l", bm, 0);
    run(f, 10 * MS);
    n = tc_delivered(s, "l", seqs, 64);
    assert_int_equal(n, 4); /* p 10, q 1,2,3 (the client filters what it had) */
    /* a timestamp: messages at or after it (p 6 was published at start+6s
     * + link latency) */
    char ts[FL_TIME_MAX_TEXT];
    fl_time_format((int64_t)(f->start_utc + 4500 * MS), ts, sizeof ts);
    tc_subscribe(s, "orders", "t", ts, 0);
    run(f, 10 * MS);
    n = tc_delivered(s, "t", seqs, 64);
    assert_int_equal(n, 8);
    assert_true(seqs[0] == 6);
    /* an unknown bookmark starts at the end, silently (and is traced) */
    tc_subscribe(s, "orders", "u", "999|5|", 0);
    run(f, 10 * MS);
    assert_int_equal(tc_delivered(s, "u", seqs, 64), 0);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, -1)->f.status, FL_STATUS_SUCCESS);
    tc_publish(p, "orders", 11);
    run(f, 10 * MS);
    assert_int_equal(tc_delivered(s, "u", seqs, 64), 1);
    assert_int_equal(tc_delivered(s, "e", seqs, 64), 14); /* EPOCH went live */
    sim_history *h = sim_ctx_history(f->ctx);
    int unknown = 0;
    for (size_t i = 0; i < sim_history_tail_count(h); i++)
        unknown += strstr(sim_history_tail_line(h, i), "unknown_bookmark") != NULL;
    assert_int_equal(unknown, 1);
    /* an invalid bookmark too */
    tc_subscribe(s, "orders", "i", "not-a-bookmark", 0);
    run(f, 10 * MS);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, -1)->f.status, FL_STATUS_SUCCESS);
    assert_int_equal(tc_delivered(s, "i", seqs, 64), 0);
}

static void test_replay_to_live_handover(void **state)
{
    fx *f = *state;
    f->ca.replay_batch = 7; /* many turns of replay */
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    for (uint64_t s = 1; s <= 500; s++)
        tc_publish(p, "orders", s);
    run(f, 10 * MS);
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s", "0", FL_SUB_COMPLETED);
    /* keep publishing while the replay runs, in tiny steps */
    uint64_t seq = 500;
    for (int i = 0; i < 300; i++) {
        tc_publish(p, "orders", ++seq);
        sim_step(f->ctx);
        sim_step(f->ctx);
    }
    run(f, 100 * MS);
    uint64_t *seqs = calloc(2000, sizeof *seqs);
    size_t n = tc_delivered(s, "s", seqs, 2000);
    check_seqs(seqs, n, 1, seq);
    free(seqs);
    /* the completed ack marks where replay caught up, the sub goes on */
    assert_int_equal(tc_count(s, FL_CMD_ACK, FL_ACK_COMPLETED, -1), 1);
    tc_publish(p, "orders", ++seq);
    run(f, 1 * MS);
    assert_non_null(tc_delivery(s, "s", seq));
}

static void test_bookmark_subscriber_persisted_acks(void **state)
{
    fx *f = *state;
    f->ca.sync_interval_us = 200 * MS;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s", "0", 0);
    run(f, 1 * MS);
    publish_n(f, p, "orders", 1, 5, 10 * MS);
    run(f, 2 * SEC);
    /* an ack naming the last delivered (durable) message's bookmark */
    const rx_frame *a = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->frames[i].f.command == FL_CMD_ACK && s->frames[i].f.ack_type == FL_ACK_PERSISTED &&
            (s->frames[i].f.present & FL_HAS_SUB_ID))
            a = &s->frames[i];
    assert_non_null(a);
    assert_true(a->f.bookmark.publisher == pub_id("pub-1"));
    assert_true(a->f.bookmark.sequence == 5);
    assert_true(fl_slice_eq(a->f.sub_id, fl_slice_cstr("s")));
    const fl_frame *d = tc_delivery(s, "s", 5);
    assert_true(d->bookmark.timestamp_us == a->f.bookmark.timestamp_us);
}

/* ---- ranges ------------------------------------------------------------- */

#define JUNE3_235959 1591228799000000ull /* 2020-06-03T23:59:59Z */

/* Start at 2020-06-03T23:59:59Z with zero link latency; publish on both
 * sides of both ends of 4 June and exactly on them. Returns the publisher. */
static tclient *june_setup(fx *f)
{
    sim_link_params z = {0, 0, 0};
    sim_net_set_default(sim_ctx_net(f->ctx), &z);
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    /* virtual 0 is June 3 23:59:59; logon took 2 ms */
    uint64_t t[] = {500 * MS,                  /* seq 1: June 3, before */
                    1 * SEC,                   /* seq 2: exactly June 4 00:00:00 */
                    1 * SEC + 1,               /* seq 3: just after */
                    1 * SEC + 43200 * SEC,     /* seq 4: noon */
                    1 * SEC + 86400 * SEC - 1, /* seq 5: last microsecond of June 4 */
                    1 * SEC + 86400 * SEC,     /* seq 6: exactly June 5 00:00:00 */
                    2 * SEC + 86400 * SEC};    /* seq 7: after */
    for (uint64_t i = 0; i < 7; i++) {
        sim_run_until(f->ctx, t[i]);
        tc_publish(p, "orders", i + 1);
    }
    run(f, 1 * SEC);
    return p;
}

static void range_case(fx *f, tclient *s, const char *sub, const char *range, uint64_t from,
                       uint64_t to)
{
    tc_subscribe(s, "orders", sub, range, 0);
    run(f, 10 * MS);
    uint64_t seqs[16];
    size_t n = tc_delivered(s, sub, seqs, 16);
    check_seqs(seqs, n, from, to);
    /* completed, and then nothing more */
    int completed = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->frames[i].f.command == FL_CMD_ACK && s->frames[i].f.ack_type == FL_ACK_COMPLETED &&
            fl_slice_eq(s->frames[i].f.sub_id, fl_slice_cstr(sub)))
            completed++;
    assert_int_equal(completed, 1);
}

static void test_range_june_4(void **state)
{
    fx *f = *state;
    teardown(state);
    f = fx_make(JUNE3_235959);
    *state = f;
    tclient *p = june_setup(f);
    tclient *s = logon(f, "sub-1", "a");
    range_case(f, s, "x", "[20200604T000000:20200605T000000)", 2, 5);
    range_case(f, s, "y", "[20200604T000000:20200605T000000]", 2, 6);
    range_case(f, s, "z", "(20200604T000000:20200605T000000)", 3, 5);
    range_case(f, s, "w", "(20200604T000000Z:20200605T000000Z]", 3, 6);
    /* bookmark ends: [seq 3 : seq 5] and (seq 3 : seq 5) */
    char r[160];
    uint64_t id = pub_id("pub-1");
    snprintf(r, sizeof r, "[%llu|3|:%llu|5|]", (unsigned long long)id, (unsigned long long)id);
    range_case(f, s, "b1", r, 3, 5);
    snprintf(r, sizeof r, "(%llu|3|:%llu|5|)", (unsigned long long)id, (unsigned long long)id);
    range_case(f, s, "b2", r, 4, 4);
    /* a range wholly in the past that the log has nothing for */
    range_case(f, s, "none", "[20200101T000000:20200102T000000)", 1, 0);
    /* a completed range does not take live messages */
    tc_publish(p, "orders", 8);
    run(f, 10 * MS);
    uint64_t seqs[16];
    assert_int_equal(tc_delivered(s, "x", seqs, 16), 4);
}

static void test_range_future_begin_held(void **state)
{
    fx *f = *state;
    teardown(state);
    f = fx_make(JUNE3_235959);
    *state = f;
    sim_link_params z = {0, 0, 0};
    sim_net_set_default(sim_ctx_net(f->ctx), &z);
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_publish(p, "orders", 1); /* before the begin: excluded */
    run(f, 10 * MS);
    tc_subscribe(s, "orders", "r", "[20200604T000000:20200604T000010)", 0);
    run(f, 10 * MS);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, 0)->f.status, FL_STATUS_SUCCESS);
    sim_run_until(f->ctx, 1 * SEC); /* June 4 00:00:00 */
    tc_publish(p, "orders", 2);     /* exactly at the begin */
    run(f, 5 * SEC);
    tc_publish(p, "orders", 3);
    run(f, 10 * SEC); /* past the end: completed without another message */
    tc_publish(p, "orders", 4);
    run(f, 10 * MS);
    uint64_t seqs[8];
    size_t n = tc_delivered(s, "r", seqs, 8);
    check_seqs(seqs, n, 2, 3);
    const rx_frame *c = tc_ack(s, FL_ACK_COMPLETED, 0);
    assert_non_null(c);
    assert_true(c->at >= 11 * SEC && c->at < 12 * SEC);
}

/* ---- expiry --------------------------------------------------------------- */

static void expiry_setup(fx *f, sim_expired_policy pol)
{
    f->ca.segment_age_us = 600 * SEC;
    f->ca.retention_us = 3600 * SEC;
    f->ca.expired_bookmark = pol;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 18, 600 * SEC); /* three hours, one per 10 min */
    run(f, 1 * SEC);
}

static void test_expired_bookmark_policies(void **state)
{
    fx *f = *state;
    char bm[64];
    snprintf(bm, sizeof bm, "%llu|1|", (unsigned long long)pub_id("pub-1"));
    for (int pol = 0; pol < 3; pol++) {
        if (pol) {
            teardown(state);
            *state = f = fx_make(SIM_DEFAULT_START_UTC_US);
        }
        expiry_setup(f, (sim_expired_policy)pol);
        const sim_journal *j = sim_broker_journal(f->a);
        assert_int_equal(sim_broker_run_retention(f->a), 0);
        uint64_t first_seq = 0;
        sim_journal_msg m;
        assert_int_equal(sim_journal_get(j, sim_journal_first_recno(j), &m), 0);
        first_seq = m.sequence;
        assert_true(first_seq > 5 && first_seq < 18); /* retention removed the first hours */
        tclient *s = logon(f, "sub-1", "a");
        tc_subscribe(s, "orders", "s", bm, 0);
        run(f, 10 * MS);
        const rx_frame *a = tc_ack(s, FL_ACK_SUBSCRIBED, 0);
        uint64_t seqs[32];
        size_t n = tc_delivered(s, "s", seqs, 32);
        switch ((sim_expired_policy)pol) {
        case SIM_EXPIRED_ERROR:
            assert_int_equal(a->f.status, FL_STATUS_FAILURE);
            assert_int_equal(a->f.reason, FL_REASON_BOOKMARK_EXPIRED);
            assert_int_equal(n, 0);
            break;
        case SIM_EXPIRED_NOW:
            assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
            assert_int_equal(n, 0);
            break;
        case SIM_EXPIRED_OLDEST:
            assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
            check_seqs(seqs, n, first_seq, 18);
            break;
        }
        /* EPOCH is never expired: it means the oldest retained */
        tc_subscribe(s, "orders", "e", "0", 0);
        run(f, 10 * MS);
        n = tc_delivered(s, "e", seqs, 32);
        check_seqs(seqs, n, first_seq, 18);
    }
}

static void test_expiry_after_clock_jump(void **state)
{
    fx *f = *state;
    f->ca.segment_age_us = 60 * SEC;
    f->ca.retention_us = 3600 * SEC;
    f->ca.expired_bookmark = SIM_EXPIRED_ERROR;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 5, 90 * SEC);
    tclient *s = logon(f, "sub-1", "a");
    char bm[64];
    snprintf(bm, sizeof bm, "%llu|2|", (unsigned long long)pub_id("pub-1"));
    tc_subscribe(s, "orders", "before", bm, 0);
    run(f, 10 * MS);
    assert_int_equal(tc_ack(s, FL_ACK_SUBSCRIBED, 0)->f.status, FL_STATUS_SUCCESS);
    sim_clock_jump(f->ctx, 2 * 3600 * SEC); /* the advance_clock fault */
    tc_publish(p, "orders", 6);             /* a new segment after the jump */
    run(f, 70 * SEC);
    tc_publish(p, "orders", 7);
    run(f, 1 * SEC);
    tc_subscribe(s, "orders", "after", bm, 0);
    run(f, 10 * MS);
    const rx_frame *a = tc_ack(s, FL_ACK_SUBSCRIBED, 1);
    assert_int_equal(a->f.status, FL_STATUS_FAILURE);
    assert_int_equal(a->f.reason, FL_REASON_BOOKMARK_EXPIRED);
}

/* ---- replication ------------------------------------------------------------ */

static void repl_setup(fx *f, sim_repl_mode mode, uint64_t lag)
{
    f->repl = (sim_broker_replica){"b", mode, lag};
    f->ca.replicate_to = &f->repl;
    f->ca.nreplicas = 1;
    f->ca.ack_interval_us = 0;
    f->cb.ack_interval_us = 0;
    f->cb.sync_interval_us = 50 * MS; /* the peer's sync is slow */
    start_b(f);
    start_a(f);
    run(f, 10 * MS);
}

static void test_sync_replication_failover(void **state)
{
    fx *f = *state;
    repl_setup(f, SIM_REPL_SYNC, 0);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s", "0", 0);
    tc_publish(p, "orders", 1);
    run(f, 20 * MS);
    /* durable on a, not yet on b: no persisted ack */
    assert_int_equal(tc_pub_acks(p, NULL, 0), 0);
    run(f, 100 * MS);
    uint64_t acks[4];
    assert_int_equal(tc_pub_acks(p, acks, 4), 1);
    publish_n(f, p, "orders", 2, 20, 5 * MS);
    run(f, 500 * MS);
    assert_true(tc_pub_acks(p, acks, 4) >= 2);
    /* every acked message is on b with the same bookmark */
    const sim_journal *jb = sim_broker_journal(f->b);
    assert_int_equal(sim_journal_count(jb), 20);
    /* a goes away for good; the subscriber resumes on b from a bookmark it
     * got from a and finds the rest under the same bookmarks */
    sim_node_crash(f->na);
    sim_broker_abandon(f->a);
    f->a = NULL;
    const fl_frame *d10 = tc_delivery(s, "s", 10);
    assert_non_null(d10);
    tclient *s2 = logon(f, "sub-1b", "b");
    char bm[128];
    snprintf(bm, sizeof bm, "%llu|10|", (unsigned long long)d10->bookmark.publisher);
    tc_subscribe(s2, "orders", "s", bm, 0);
    run(f, 10 * MS);
    uint64_t seqs[32];
    size_t n = tc_delivered(s2, "s", seqs, 32);
    check_seqs(seqs, n, 11, 20);
    for (uint64_t q = 11; q <= 20; q++) {
        const fl_frame *x = tc_delivery(s, "s", q), *y = tc_delivery(s2, "s", q);
        assert_true(x->bookmark.publisher == y->bookmark.publisher);
        assert_true(x->bookmark.timestamp_us == y->bookmark.timestamp_us);
        assert_true(fl_slice_eq(x->payload, y->payload));
    }
    /* the publisher fails over too: its logon ack on b says 20 */
    tclient *p2 = logon(f, "pub-1", "b");
    assert_true(tc_ack(p2, FL_ACK_LOGON, 0)->f.sequence == 20);
}

static void test_async_replication_lag_and_catch_up(void **state)
{
    fx *f = *state;
    repl_setup(f, SIM_REPL_ASYNC, 2 * SEC);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 5, 10 * MS);
    run(f, 100 * MS);
    /* acked without waiting for b, which has nothing yet */
    uint64_t acks[16];
    int na = tc_pub_acks(p, acks, 16);
    assert_true(na >= 1 && na <= 16);
    assert_true(acks[na - 1] == 5);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->b)), 0);
    run(f, 2 * SEC);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->b)), 5);
    /* b restarts (power loss after its sync): a catches it up afterwards */
    sim_node_power_loss(f->nb);
    sim_broker_abandon(f->b);
    f->b = NULL;
    publish_n(f, p, "orders", 6, 10, 10 * MS);
    run(f, 1 * SEC);
    assert_int_equal(sim_node_restart(f->nb), 0);
    start_b(f);
    run(f, 5 * SEC);
    const sim_journal *jb = sim_broker_journal(f->b);
    assert_int_equal(sim_journal_count(jb), 10);
    uint64_t r;
    assert_int_equal(sim_journal_find(jb, pub_id("pub-1"), 10, &r), 0);
    sim_journal_msg mb, ma;
    assert_int_equal(sim_journal_get(jb, r, &mb), 0);
    const sim_journal *ja = sim_broker_journal(f->a);
    assert_int_equal(sim_journal_find(ja, pub_id("pub-1"), 10, &r), 0);
    assert_int_equal(sim_journal_get(ja, r, &ma), 0);
    assert_true(ma.ts_us == mb.ts_us);
    assert_int_equal(mb.origin_len, 1);
    sim_broker_counters k;
    sim_broker_get_counters(f->b, &k);
    assert_true(k.replicated_in == 5); /* only what it lacked */
}

/* ---- crash, power loss, heartbeats --------------------------------------------- */

static void test_power_loss_and_crash_recovery(void **state)
{
    fx *f = *state;
    f->ca.sync_interval_us = 1 * SEC;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 10, 10 * MS);
    run(f, 1500 * MS); /* synced */
    publish_n(f, p, "orders", 11, 15, 10 * MS);
    crash_a(f, true); /* power loss before the next sync */
    run(f, 1 * SEC);
    assert_true(p->closed);
    restart_a(f);
    /* the synced ten survive, plus possibly a prefix of the unsynced writes
     * (the power loss keeps a random prefix of pending writes) */
    const sim_journal *j = sim_broker_journal(f->a);
    size_t n = sim_journal_count(j);
    assert_true(n >= 10 && n <= 15);
    assert_true(sim_journal_highest_seq(j, pub_id("pub-1")) == n);
    tc_clear(p);
    tc_connect(p, "a");
    run(f, 1 * MS);
    tc_logon(p, "pub-1", NULL, 0);
    run(f, 1 * MS);
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.sequence == n);
    /* the client republishes the rest; then a process crash keeps unsynced data */
    publish_n(f, p, "orders", n + 1, 15, 10 * MS);
    crash_a(f, false);
    restart_a(f);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 15);
}

static void test_power_loss_torn_journal_traced(void **state)
{
    fx *f = *state;
    f->ca.sync_interval_us = 10 * SEC;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 50, 1 * MS);
    crash_a(f, true);
    restart_a(f);
    /* whatever survived is a prefix, and the restart is traced */
    const sim_journal *j = sim_broker_journal(f->a);
    size_t n = sim_journal_count(j);
    assert_true(n <= 50);
    sim_history *h = sim_ctx_history(f->ctx);
    int starts = 0;
    for (size_t i = 0; i < sim_history_tail_count(h); i++)
        starts += strstr(sim_history_tail_line(h, i), "\"start\"") != NULL;
    assert_int_equal(starts, 2);
}

static void test_heartbeats(void **state)
{
    fx *f = *state;
    f->ca.heartbeat_us = 3 * SEC;
    start_a(f);
    tclient *quiet = client(f, "quiet", "a");
    tc_logon(quiet, "quiet", NULL, 1 * SEC);
    tclient *chatty = client(f, "chatty", "a");
    tc_logon(chatty, "chatty", NULL, 1 * SEC);
    uint64_t t0 = sim_now(f->ctx);
    for (int i = 0; i < 5; i++) {
        run(f, 900 * MS);
        tc_heartbeat(chatty);
    }
    /* the silent one was closed after two of its intervals */
    assert_true(quiet->closed);
    assert_false(chatty->closed);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.sessions_closed_silent == 1);
    assert_false(sim_broker_has_session(f->a, "quiet"));
    /* the broker heartbeats every min(3s, 1s) */
    int hb = tc_count(chatty, FL_CMD_HEARTBEAT, -1, -1);
    assert_true(hb >= 3 && hb <= 5);
    (void)t0;
}

/* ---- fault hooks --------------------------------------------------------------- */

static void test_drop_acks_and_cut(void **state)
{
    fx *f = *state;
    f->ca.ack_interval_us = 0;
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    assert_int_equal(sim_broker_drop_acks(f->a, "pub-1", FL_ACK_PERSISTED, 2, 0), 0);
    for (uint64_t s = 1; s <= 3; s++) {
        tc_publish(p, "orders", s);
        run(f, 10 * MS);
    }
    uint64_t acks[4];
    assert_int_equal(tc_pub_acks(p, acks, 4), 1);
    assert_true(acks[0] == 3);
    assert_int_equal(sim_broker_drop_acks(f->a, "pub-1", 99, 1, 0), FL_E_INVAL);
    assert_int_equal(sim_broker_cut_client(f->a, "pub-1"), 0);
    run(f, 1 * MS);
    assert_true(p->closed);
    assert_int_equal(sim_broker_cut_client(f->a, "pub-1"), FL_E_NOT_FOUND);
}

/* ---- journal failures ----------------------------------------------------------- */

/* Ack honesty across reopens: every persisted ack names a record that is
 * durable in the broker's CURRENT journal (the handle changes on reopen). */
typedef struct honest_watch {
    sim_broker *b;
    int acks, violations;
    uint64_t max_acked;
} honest_watch;

static void honest_obs(void *arg, sim_broker_event ev, const char *client, uint64_t v)
{
    honest_watch *w = arg;
    (void)client;
    if (ev != SIM_BROKER_EV_PERSISTED_ACK)
        return;
    w->acks++;
    if (v > w->max_acked)
        w->max_acked = v;
    const sim_journal *j = sim_broker_journal(w->b);
    uint64_t r;
    if (sim_journal_find(j, pub_id("pub-1"), v, &r) != 0 || r > sim_journal_durable_recno(j))
        w->violations++;
}

/* Close (if needed), reconnect and log on again; the logon ack or NULL. */
static const rx_frame *relogon(fx *f, tclient *c, const char *name)
{
    if (!c->closed) {
        trt(c)->ops->close(trt(c)->self, c->conn);
        run(f, 10 * MS);
    }
    tc_clear(c);
    tc_connect(c, "a");
    run(f, 1 * MS);
    tc_logon(c, name, NULL, 0);
    run(f, 1 * MS);
    return tc_ack(c, FL_ACK_LOGON, 0);
}

static int history_count(fx *f, const char *needle)
{
    sim_history *h = sim_ctx_history(f->ctx);
    int n = 0;
    for (size_t i = 0; i < sim_history_tail_count(h); i++)
        n += strstr(sim_history_tail_line(h, i), needle) != NULL;
    return n;
}

static uint64_t last_pub_ack(const tclient *c)
{
    uint64_t acks[64];
    int n = tc_pub_acks(c, acks, 64);
    return n > 0 && n <= 64 ? acks[n - 1] : 0;
}

static void assert_refused_journal(const tclient *c, const char *why)
{
    const rx_frame *a = tc_ack(c, FL_ACK_LOGON, 0);
    assert_non_null(a);
    assert_int_equal(a->f.status, FL_STATUS_FAILURE);
    assert_int_equal(a->f.reason, FL_REASON_LOGON_REFUSED);
    assert_true(a->f.present & FL_HAS_REASON_TEXT);
    char text[256];
    snprintf(text, sizeof text, "%.*s", (int)a->f.reason_text.len,
             (const char *)a->f.reason_text.ptr);
    assert_non_null(strstr(text, "journal unavailable"));
    assert_non_null(strstr(text, why));
    assert_true(c->closed);
}

static void test_journal_sync_failure_reopens(void **state)
{
    fx *f = *state;
    f->ca.ack_interval_us = 100 * MS;
    start_a(f);
    honest_watch w = {f->a, 0, 0, 0};
    sim_broker_set_observer(f->a, honest_obs, &w);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s1", "0", 0);
    publish_n(f, p, "orders", 1, 5, 10 * MS);
    run(f, 1 * SEC);
    assert_true(last_pub_ack(p) == 5);
    /* the next journal sync fails once (a transient I/O error) */
    assert_int_equal(
        sim_disk_inject_io_error(sim_node_disk(f->na), SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    tc_publish(p, "orders", 6);
    run(f, 50 * MS);
    /* every session dropped, no ack for 6, the journal reopened at once */
    assert_true(p->closed && s->closed);
    assert_true(w.max_acked == 5);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_failures == 1 && k.journal_reopens == 1);
    assert_true(k.journal_reopen_failures == 0);
    assert_int_equal(history_count(f, "\"ev\":\"journal_failed\""), 1);
    assert_int_equal(history_count(f, "\"why\":\"journal_failed\""), 2);
    assert_int_equal(history_count(f, "\"ev\":\"journal_reopened\""), 1);
    /* no power loss: recovery found 6 in the page cache and made it durable,
     * so the logon ack says 6 (the client discards it, never republishes) */
    const rx_frame *a = relogon(f, p, "pub-1");
    assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
    assert_true(a->f.sequence == 6);
    publish_n(f, p, "orders", 7, 8, 10 * MS);
    run(f, 1 * SEC);
    assert_true(last_pub_ack(p) == 8);
    assert_int_equal(tc_count(p, FL_CMD_ACK, FL_ACK_PERSISTED, FL_STATUS_FAILURE), 0);
    /* the subscriber resubscribes from the start: everything, once */
    relogon(f, s, "sub-1");
    tc_subscribe(s, "orders", "s1", "0", 0);
    run(f, 100 * MS);
    uint64_t seqs[16];
    check_seqs(seqs, tc_delivered(s, "s1", seqs, 16), 1, 8);
    const sim_journal *j = sim_broker_journal(f->a);
    assert_int_equal(sim_journal_count(j), 8);
    assert_int_equal(sim_journal_failed(j), 0);
    assert_int_equal(w.violations, 0);
    assert_true(w.acks >= 2);
}

static void test_journal_persistent_failure_refuses_logons(void **state)
{
    fx *f = *state;
    f->ca.ack_interval_us = 100 * MS;
    f->ca.journal_retry_us = 500 * MS;
    start_a(f);
    honest_watch w = {f->a, 0, 0, 0};
    sim_broker_set_observer(f->a, honest_obs, &w);
    tclient *p = logon(f, "pub-1", "a");
    publish_n(f, p, "orders", 1, 3, 10 * MS);
    run(f, 1 * SEC);
    assert_true(last_pub_ack(p) == 3);
    sim_disk *d = sim_node_disk(f->na);
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, true, NULL), 0);
    tc_publish(p, "orders", 4);
    run(f, 50 * MS);
    assert_true(p->closed);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_failures == 1 && k.journal_reopens == 0);
    assert_true(k.journal_reopen_failures == 1);
    /* the old view stays readable for the runner and the checkers */
    assert_non_null(sim_broker_journal(f->a));
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 4);
    /* logons are refused, with a reason, while the reopen keeps failing */
    relogon(f, p, "pub-1");
    assert_refused_journal(p, "SYNC_FAILED");
    run(f, 2 * SEC);
    relogon(f, p, "pub-1");
    assert_refused_journal(p, "SYNC_FAILED");
    tclient *s = client(f, "sub-1", "a");
    tc_logon(s, "sub-1", NULL, 0);
    run(f, 1 * MS);
    assert_refused_journal(s, "reopen failed");
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_reopen_failures >= 5);
    assert_true(k.logons_refused == 3);
    assert_true(history_count(f, "\"ev\":\"journal_reopen_failed\"") >= 5);
    assert_true(w.max_acked == 3);
    /* the fault clears: the next retry reopens and clients get back in */
    sim_disk_clear_faults(d);
    run(f, 500 * MS);
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_reopens == 1);
    const rx_frame *a = relogon(f, p, "pub-1");
    assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
    assert_true(a->f.sequence == 4); /* recovered, then synced by the reopen */
    tc_publish(p, "orders", 5);
    run(f, 1 * SEC);
    assert_true(last_pub_ack(p) == 5);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 5);
    assert_int_equal(w.violations, 0);
}

static void test_journal_disk_full(void **state)
{
    fx *f = *state;
    f->ca.ack_interval_us = 50 * MS;
    start_a(f);
    honest_watch w = {f->a, 0, 0, 0};
    sim_broker_set_observer(f->a, honest_obs, &w);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s1", NULL, 0);
    publish_n(f, p, "orders", 1, 3, 10 * MS);
    run(f, 500 * MS);
    assert_true(last_pub_ack(p) == 3);
    sim_disk *d = sim_node_disk(f->na);
    sim_disk_set_space_budget(d, sim_disk_total_bytes(d));
    tc_publish(p, "orders", 4);
    run(f, 500 * MS);
    /* not logged, not acked, not delivered; that session closes, the
     * subscriber's stays up; the journal is intact (no reopen) */
    assert_true(p->closed);
    assert_false(s->closed);
    assert_true(w.max_acked == 3);
    sim_broker_counters k;
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_write_errors == 1 && k.journal_failures == 0);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 3);
    assert_int_equal(history_count(f, "\"error\":\"NOSPC\""), 1);
    /* within journal_retry_us of the error logons are refused */
    relogon(f, p, "pub-1");
    assert_refused_journal(p, "NOSPC");
    /* the space returns; after the window the publisher gets back in */
    sim_disk_set_space_budget(d, UINT64_MAX);
    run(f, 1 * SEC);
    const rx_frame *a = relogon(f, p, "pub-1");
    assert_int_equal(a->f.status, FL_STATUS_SUCCESS);
    assert_true(a->f.sequence == 3);
    publish_n(f, p, "orders", 4, 5, 10 * MS);
    run(f, 500 * MS);
    assert_true(last_pub_ack(p) == 5);
    uint64_t seqs[16];
    check_seqs(seqs, tc_delivered(s, "s1", seqs, 16), 1, 5);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 5);
    assert_int_equal(w.violations, 0);
    /* a disk that stays full: each probe fails again, nothing is acked */
    sim_disk_set_space_budget(d, sim_disk_total_bytes(d));
    tc_publish(p, "orders", 6);
    run(f, 100 * MS);
    assert_true(p->closed);
    run(f, 1 * SEC);
    relogon(f, p, "pub-1");
    assert_true(tc_ack(p, FL_ACK_LOGON, 0)->f.sequence == 5);
    tc_publish(p, "orders", 6);
    run(f, 100 * MS);
    assert_true(p->closed);
    assert_true(w.max_acked == 5);
    sim_broker_get_counters(f->a, &k);
    assert_true(k.journal_write_errors == 3);
    assert_int_equal(sim_journal_count(sim_broker_journal(f->a)), 5);
}

/* ---- determinism --------------------------------------------------------------- */

static uint64_t workload_hash(void)
{
    fx *f = fx_make(SIM_DEFAULT_START_UTC_US);
    f->ca.sync_interval_us = 3 * MS;
    f->ca.segment_size = 4096;
    sim_link_params jit = {200, 150, 0};
    sim_net_set_default(sim_ctx_net(f->ctx), &jit);
    start_a(f);
    tclient *p = logon(f, "pub-1", "a");
    tclient *s = logon(f, "sub-1", "a");
    tc_subscribe(s, "orders", "s", "0", 0);
    publish_n(f, p, "orders", 1, 200, 700);
    crash_a(f, true);
    restart_a(f);
    run(f, 1 * SEC);
    uint64_t h = sim_history_hash(sim_ctx_history(f->ctx));
    void *st = f;
    teardown(&st);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    uint64_t h1 = workload_hash(), h2 = workload_hash();
    assert_true(h1 == h2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_logon_and_ack_sequence),
        T(test_logon_credentials),
        T(test_duplicate_logon_refuse),
        T(test_duplicate_logon_replace),
        T(test_frames_before_logon_close),
        T(test_publish_dedupe),
        T(test_acks_conflated_after_sync),
        T(test_acks_contiguous_with_inflight_duplicate),
        T(test_failure_acks_between_success),
        T(test_live_subscribe),
        T(test_message_trace_lines),
        T(test_bookmark_replay_forms),
        T(test_replay_to_live_handover),
        T(test_bookmark_subscriber_persisted_acks),
        T(test_range_june_4),
        T(test_range_future_begin_held),
        T(test_expired_bookmark_policies),
        T(test_expiry_after_clock_jump),
        T(test_sync_replication_failover),
        T(test_async_replication_lag_and_catch_up),
        T(test_power_loss_and_crash_recovery),
        T(test_power_loss_torn_journal_traced),
        T(test_heartbeats),
        T(test_drop_acks_and_cut),
        T(test_journal_sync_failure_reopens),
        T(test_journal_persistent_failure_refuses_logons),
        T(test_journal_disk_full),
        T(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
