/* Benchmark for the simulated broker (suite "simulator"):
 *
 *   broker_ingest              publishes/s through the broker in simulation:
 *                              one publisher, 100-byte payloads, frames sent
 *                              in batches of 1000, journal on the simulated
 *                              disk (group commit each loop turn), persisted
 *                              acks every second; per-message history
 *                              tracing off (decisions are still traced).
 *   broker_replay              msgs/s replayed to a bookmark subscriber
 *                              (EPOCH) from the 1,000,000-message journal the
 *                              ingest built; the subscriber only splits
 *                              frames and counts them.
 *   broker_virtual_24h         wall seconds to simulate 24 virtual hours: a
 *                              publish every second, heartbeats both ways
 *                              every 3 s, hourly segments, 12-hour retention,
 *                              full tracing.
 *   broker_rss_1m / _10m       peak RSS (VmHWM) while streaming messages
 *                              through a broker whose retention prunes as it
 *                              goes (1-second segments, 2-second retention,
 *                              10,000 messages per virtual millisecond... see
 *                              stream()), measured in a forked child so the
 *                              other figures do not pollute it.
 *
 * Prints one JSON object per figure on stdout (see ci/bench.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"
#include "sim.h"

#define PAYLOAD 100u
#define BATCH   1000u
#define MS      1000ull
#define SEC     1000000ull

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit(const char *name, double value, const char *unit, const char *target, int hib)
{
    printf("{\"suite\": \"simulator\", \"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", "
           "\"target\": %s, \"higher_is_better\": %s, \"baseline\": null}\n",
           name, value, unit, target, hib ? "true" : "false");
    fflush(stdout);
}

/* A minimal client: counts frames by command. */
typedef struct bclient {
    sim_ctx *ctx;
    sim_node *node;
    fl_conn_id conn;
    int opened, closed;
    fl_buf rx;
    uint64_t deliveries, acks, heartbeats;
    uint64_t last_ack_seq;
} bclient;

static void b_opened(void *arg, fl_conn_id c)
{
    (void)c;
    ((bclient *)arg)->opened = 1;
}

static void b_data(void *arg, fl_conn_id c, const uint8_t *buf, size_t len)
{
    bclient *b = arg;
    (void)c;
    fl_buf_append(&b->rx, buf, len);
    size_t off = 0;
    while (b->rx.len - off >= FL_WIRE_MIN_FRAME) {
        uint32_t n = fl_load_be32(b->rx.data + off);
        if (b->rx.len - off < 4 + (size_t)n)
            break;
        uint8_t cmd = b->rx.data[off + 6];
        if (cmd == FL_CMD_DELIVERY) {
            b->deliveries++;
        } else if (cmd == FL_CMD_ACK) {
            fl_frame f;
            size_t used;
            if (fl_frame_decode(b->rx.data + off, 4 + (size_t)n, 0, &f, &used) == 0 &&
                (f.present & FL_HAS_SEQUENCE))
                b->last_ack_seq = f.sequence;
            b->acks++;
        } else if (cmd == FL_CMD_HEARTBEAT) {
            b->heartbeats++;
        }
        off += 4 + (size_t)n;
    }
    fl_buf_consume(&b->rx, off);
}

static void b_closed(void *arg, fl_conn_id c, int reason)
{
    (void)c;
    (void)reason;
    ((bclient *)arg)->closed = 1;
}

static const fl_conn_callbacks BCBS = {b_opened, b_data, b_closed};

static const fl_runtime *brt(bclient *b)
{
    return sim_node_runtime(b->node);
}

static void b_send(bclient *b, fl_buf *buf)
{
    brt(b)->ops->send(brt(b)->self, b->conn, buf->data, buf->len);
    fl_buf_clear(buf);
}

static bclient *b_connect(sim_ctx *ctx, const char *name, uint64_t hb)
{
    bclient *b = calloc(1, sizeof *b);
    b->ctx = ctx;
    sim_node_new(ctx, name, &b->node);
    brt(b)->ops->connect(brt(b)->self, "a", &BCBS, b, &b->conn);
    sim_run_until(ctx, sim_now(ctx) + 1 * MS);
    fl_buf out = FL_BUF_INIT;
    fl_wire_encode_logon(&out, fl_slice_cstr(name), (fl_slice){NULL, 0}, hb, 1);
    b_send(b, &out);
    fl_buf_free(&out);
    sim_run_until(ctx, sim_now(ctx) + 1 * MS);
    return b;
}

static void b_free(bclient *b)
{
    fl_buf_free(&b->rx);
    free(b);
}

typedef struct world {
    sim_ctx *ctx;
    sim_node *node;
    sim_broker *broker;
    sim_broker_topic topic;
} world;

static int world_new(world *w, const sim_broker_config *base)
{
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    co.history_tail = 16;
    w->ctx = sim_ctx_new(&co);
    sim_node_new(w->ctx, "a", &w->node);
    w->topic = (sim_broker_topic){"orders", true};
    sim_broker_config c = *base;
    c.topics = &w->topic;
    c.ntopics = 1;
    char err[256];
    int rc = sim_broker_new(sim_node_runtime(w->node), &c, &w->broker, err, sizeof err);
    if (rc) {
        fprintf(stderr, "broker: %s %s\n", fl_err_name(rc), err);
        return rc;
    }
    return sim_broker_listen_sim(w->broker, w->node, "a");
}

static void world_free(world *w)
{
    sim_broker_free(w->broker);
    sim_ctx_free(w->ctx);
}

/* Publish `n` messages from `p` in batches of BATCH frames, running the
 * simulation 1 ms of virtual time per batch. `every` (may be NULL) runs
 * after each batch with the number published so far. */
static void publish_stream(world *w, bclient *p, uint64_t first, uint64_t n,
                           void (*every)(void *, uint64_t), void *arg)
{
    uint8_t payload[PAYLOAD];
    memset(payload, 'x', sizeof payload);
    fl_buf out = FL_BUF_INIT;
    for (uint64_t s = first; s < first + n;) {
        for (unsigned i = 0; i < BATCH && s < first + n; i++, s++)
            fl_wire_encode_publish(&out, fl_slice_cstr("orders"), s,
                                   fl_slice_make(payload, sizeof payload));
        b_send(p, &out);
        sim_run_until(w->ctx, sim_now(w->ctx) + 1 * MS);
        if (every)
            every(arg, s - first);
    }
    fl_buf_free(&out);
}

/* ---- ingest + replay ---------------------------------------------------- */

static void bench_ingest_replay(void)
{
    const uint64_t n = 1000000;
    sim_broker_config c = SIM_BROKER_CONFIG_INIT;
    c.name = "a";
    c.trace_messages = false;
    world w;
    if (world_new(&w, &c))
        return;
    bclient *p = b_connect(w.ctx, "pub-1", 0);
    double t0 = now_s();
    publish_stream(&w, p, 1, n, NULL, NULL);
    sim_run_until(w.ctx, sim_now(w.ctx) + 2 * SEC); /* the last acks */
    double dt = now_s() - t0;
    if (p->last_ack_seq != n)
        fprintf(stderr, "ingest: last ack %llu, want %llu\n", (unsigned long long)p->last_ack_seq,
                (unsigned long long)n);
    emit("broker_ingest", (double)n / dt, "msgs/s", "1000000", 1);

    bclient *s = b_connect(w.ctx, "sub-1", 0);
    fl_buf out = FL_BUF_INIT;
    fl_wire_encode_subscribe(&out, fl_slice_cstr("orders"), fl_slice_cstr("s"), fl_slice_cstr("0"),
                             0, 0, 2);
    t0 = now_s();
    b_send(s, &out);
    while (s->deliveries < n && sim_step(w.ctx))
        ;
    dt = now_s() - t0;
    if (s->deliveries != n)
        fprintf(stderr, "replay: %llu delivered\n", (unsigned long long)s->deliveries);
    emit("broker_replay", (double)s->deliveries / dt, "msgs/s", "2000000", 1);
    fl_buf_free(&out);
    b_free(p);
    b_free(s);
    world_free(&w);
}

/* ---- 24 virtual hours --------------------------------------------------- */

typedef struct day {
    world *w;
    bclient *p;
    uint64_t seq;
    fl_buf out;
} day;

static void day_publish(void *arg)
{
    day *d = arg;
    uint8_t payload[PAYLOAD];
    memset(payload, 'y', sizeof payload);
    fl_wire_encode_publish(&d->out, fl_slice_cstr("orders"), ++d->seq,
                           fl_slice_make(payload, sizeof payload));
    b_send(d->p, &d->out);
    sim_schedule(d->w->ctx, 1 * SEC, day_publish, d, NULL);
}

static void day_heartbeat(void *arg)
{
    day *d = arg;
    fl_wire_encode_heartbeat(&d->out);
    b_send(d->p, &d->out);
    sim_schedule(d->w->ctx, 3 * SEC, day_heartbeat, d, NULL);
}

static void bench_virtual_day(void)
{
    sim_broker_config c = SIM_BROKER_CONFIG_INIT;
    c.name = "a";
    c.segment_age_us = 3600 * SEC;
    c.retention_us = 12 * 3600 * SEC;
    c.heartbeat_us = 3 * SEC;
    world w;
    if (world_new(&w, &c))
        return;
    double t0 = now_s();
    day d = {&w, NULL, 0, FL_BUF_INIT};
    d.p = b_connect(w.ctx, "pub-1", 3 * SEC);
    sim_schedule(w.ctx, 0, day_publish, &d, NULL);
    sim_schedule(w.ctx, 0, day_heartbeat, &d, NULL);
    sim_run_until(w.ctx, 24 * 3600 * SEC);
    double dt = now_s() - t0;
    if (d.p->closed || d.seq < 86000)
        fprintf(stderr, "day: closed=%d published=%llu\n", d.p->closed, (unsigned long long)d.seq);
    emit("broker_virtual_24h", dt, "s", "1", 0);
    fl_buf_free(&d.out);
    b_free(d.p);
    world_free(&w);
}

/* ---- memory while streaming with retention --------------------------------- */

static double vm_hwm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    return kib / 1024.0;
}

typedef struct rss_probe {
    double at_1m;
} rss_probe;

static void probe(void *arg, uint64_t done)
{
    rss_probe *r = arg;
    if (done == 1000000)
        r->at_1m = vm_hwm_mib();
}

static void stream(uint64_t n, double out[2])
{
    sim_broker_config c = SIM_BROKER_CONFIG_INIT;
    c.name = "a";
    c.trace_messages = false;
    c.segment_age_us = 100 * MS;
    c.retention_us = 200 * MS;
    world w;
    if (world_new(&w, &c))
        return;
    bclient *p = b_connect(w.ctx, "pub-1", 0);
    rss_probe r = {0};
    publish_stream(&w, p, 1, n, probe, &r);
    out[0] = r.at_1m;
    out[1] = vm_hwm_mib();
    b_free(p);
    world_free(&w);
}

static void bench_memory(void)
{
    uint64_t n = 10000000;
    const char *env = getenv("BENCH_BROKER_STREAM");
    if (env)
        n = strtoull(env, NULL, 10);
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        double r[2] = {0, 0};
        stream(n, r);
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double r[2] = {0, 0};
    ssize_t got = read(fds[0], r, sizeof r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    if (got != (ssize_t)sizeof r)
        return;
    emit("broker_rss_1m", r[0], "MiB", "null", 0);
    if (n >= 10000000)
        emit("broker_rss_10m", r[1], "MiB", "null", 0);
}

int main(void)
{
    bench_memory();
    bench_virtual_day();
    bench_ingest_replay();
    return 0;
}
