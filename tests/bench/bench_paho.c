/* Benchmark: the file publish store in `batch` sync against Paho MQTT C's
 * default file persistence, side by side in the same run, for the same
 * messages (topic "orders", 100-byte payloads) and the same count.
 *
 * Paho: the default persistence functions of Debian's libpaho-mqtt3c.a
 * (MQTTPersistenceDefault.c: pstopen/pstput/pstremove/pstclose), called
 * directly, one put per message, keyed "s-<msgid>" as MQTTClient keys a
 * sent QoS 1 PUBLISH, with the buffers MQTTClient hands to the persistence
 * for one (fixed header, topic length, topic, message id, payload: 112
 * bytes). Each put creates, writes and closes one file; Paho never syncs.
 * Paho's allocator tracks every allocation in a tree that MQTTClient_create
 * initialises on first use, so the bench calls Heap_initialize() the same
 * way. Paho's trace ring is not initialised (Log_initialize), which only
 * makes its puts cheaper.
 *
 * Ours: fl_pubstore_file, "sync=batch;batch_window=1000" (appends grouped,
 * fdatasync'd within 1 ms), on the libevent runtime's POSIX file layer; the
 * loop is turned (non-blocking) every 64 stores so the batch timer can sync
 * the group, and each round ends with flush(), so everything stored in the
 * round is durable when the clock stops.
 *
 * Both sides work in a fresh directory under /tmp (the real disk), removed
 * at the end. A round is N puts / N stores, timed; between rounds (untimed)
 * every Paho key is removed (pstremove, as MQTTClient does on PUBACK; its
 * pstclear lstat()s the entry names relative to the working directory, so
 * it removes nothing here) and our store discards everything
 * (discard_up_to), so every round starts empty. Each figure is the best of
 * five rounds, the two sides interleaved (the machine is shared).
 *
 * Figures (suite "client", msgs/s):
 *   paho_default_persistence_puts  Paho puts/s, no target
 *   pubstore_file_batch_vs_paho    our appends/s, baseline = Paho's puts/s,
 *                                  target = 10 x Paho's puts/s in this run
 * Every round's rates and the ratio are also printed on stderr.
 */
#include <event2/event.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "faultline/error.h"
#include "faultline/rt_libevent.h"
#include "faultline/runtime.h"
#include "faultline/store.h"

#define PAYLOAD    100
#define NMSG       20000 /* per round; MQTTClient's message ids stop at 65535 */
#define LOOP_EVERY 64    /* stores between two turns of the event loop */
#define ROUNDS     5
#define TOPIC      "orders"

/* Paho MQTT C 1.3, MQTTPersistenceDefault.h and Heap.h (not installed by
 * Debian; the signatures match MQTTClientPersistence.h's Persistence_*). */
int pstopen(void **handle, const char *clientID, const char *serverURI, void *context);
int pstclose(void *handle);
int pstput(void *handle, char *key, int bufcount, char *buffers[], int buflens[]);
int pstremove(void *handle, char *key);
int Heap_initialize(void);

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* rm -rf dir */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* Paho */

/* Paho puts/s for NMSG messages into an empty persistence directory; 0 on
 * error. Every key is removed afterwards (untimed). */
static double paho_round(void *handle)
{
    uint8_t payload[PAYLOAD];
    char header[2] = {0x32, (char)(2 + sizeof TOPIC - 1 + 2 + PAYLOAD)}; /* PUBLISH QoS 1 */
    char topic_len[2] = {0, (char)(sizeof TOPIC - 1)};
    char topic[] = TOPIC;
    char msgid[2];
    char *bufs[5] = {header, topic_len, topic, msgid, (char *)payload};
    int lens[5] = {2, 2, (int)sizeof TOPIC - 1, 2, PAYLOAD};
    char key[16];
    double t0 = mono_s();
    for (int id = 1; id <= NMSG; id++) {
        memset(payload, id & 0xff, sizeof payload);
        msgid[0] = (char)(id >> 8);
        msgid[1] = (char)(id & 0xff);
        snprintf(key, sizeof key, "s-%d", id);
        int rc = pstput(handle, key, 5, bufs, lens);
        if (rc != 0) {
            fprintf(stderr, "bench_paho: pstput %s: %d\n", key, rc);
            return 0;
        }
    }
    double t = mono_s() - t0;
    for (int id = 1; id <= NMSG; id++) { /* as MQTTClient does on each PUBACK */
        snprintf(key, sizeof key, "s-%d", id);
        if (pstremove(handle, key) != 0) {
            fprintf(stderr, "bench_paho: pstremove %s failed\n", key);
            return 0;
        }
    }
    return NMSG / t;
}

/* ------------------------------------------------------------------ */
/* ours */

/* The file publish store being appended to. */
typedef struct store_loop {
    struct event_base *base;
    void *ps;
    uint64_t seq;
} store_loop;

static int store_begin(store_loop *l, struct event_base *base, const fl_runtime *rt)
{
    memset(l, 0, sizeof *l);
    l->base = base;
    fl_store_env env = {FL_STORE_ABI_VERSION, rt, "batch", "bench", "sync=batch;batch_window=1000"};
    char err[512] = "";
    int rc = fl_pubstore_file.open(&env, &l->ps, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "bench_paho: open the file store: %s: %s\n", fl_err_name(rc), err);
    return rc;
}

static void store_failed(store_loop *l, const char *what, int rc)
{
    fprintf(stderr, "bench_paho: %s: %s: %s\n", what, fl_err_name(rc),
            fl_pubstore_file.last_error(l->ps));
}

/* Our appends/s for NMSG messages, ending durable (flush); 0 on error.
 * Everything is discarded afterwards (untimed). */
static double store_round(store_loop *l)
{
    uint8_t payload[PAYLOAD];
    int rc = 0;
    double t0 = mono_s();
    for (int i = 1; i <= NMSG && rc == 0; i++) {
        uint64_t seq = ++l->seq;
        memset(payload, i & 0xff, sizeof payload);
        fl_pub_msg m = {seq, TOPIC, sizeof TOPIC - 1, payload, sizeof payload};
        rc = fl_pubstore_file.store(l->ps, &m);
        if (rc != 0) {
            store_failed(l, "store", rc);
            return 0;
        }
        if (i % LOOP_EVERY == 0)
            event_base_loop(l->base, EVLOOP_NONBLOCK);
    }
    rc = fl_pubstore_file.flush(l->ps);
    if (rc != 0) {
        store_failed(l, "flush", rc);
        return 0;
    }
    double t = mono_s() - t0;
    rc = fl_pubstore_file.discard_up_to(l->ps, l->seq);
    if (rc == 0)
        rc = fl_pubstore_file.flush(l->ps);
    if (rc != 0) {
        store_failed(l, "discard", rc);
        return 0;
    }
    event_base_loop(l->base, EVLOOP_NONBLOCK);
    return NMSG / t;
}

/* ------------------------------------------------------------------ */

static void print_figure(const char *name, double value, const char *target, const char *baseline)
{
    printf("{\"suite\": \"client\", \"name\": \"%s\", \"value\": %.0f, \"unit\": \"msgs/s\", "
           "\"target\": %s, \"higher_is_better\": true, \"baseline\": %s}\n",
           name, value, target, baseline);
}

/* Best-of-ROUNDS rates, the two sides interleaved; 0 on success. */
static int run_rounds(void *paho, store_loop *l, double *paho_best, double *ours_best)
{
    for (int round = 0; round < ROUNDS; round++) {
        double p = paho_round(paho);
        double o = store_round(l);
        if (p == 0 || o == 0)
            return 1;
        fprintf(stderr, "bench_paho: round %d: Paho %.0f puts/s, file store batch %.0f appends/s\n",
                round + 1, p, o);
        if (p > *paho_best)
            *paho_best = p;
        if (o > *ours_best)
            *ours_best = o;
    }
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/fl-bench-paho-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char paho_dir[64], ours_dir[64];
    snprintf(paho_dir, sizeof paho_dir, "%s/paho", dir);
    snprintf(ours_dir, sizeof ours_dir, "%s/ours", dir);
    struct event_base *base = event_base_new();
    fl_rt_libevent *rl = NULL;
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = ours_dir;
    o.seed = 1;
    void *paho = NULL;
    store_loop l = {0};
    double paho_best = 0, ours_best = 0;
    int rc = 1;
    if (!base || fl_rt_libevent_new(base, &o, &rl) != 0) {
        fprintf(stderr, "bench_paho: cannot create the libevent runtime\n");
        goto out;
    }
    Heap_initialize(); /* as MQTTClient_create does on first use */
    if (mkdir(paho_dir, 0700) != 0 ||
        pstopen(&paho, "bench", "tcp://localhost:1883", paho_dir) != 0) {
        fprintf(stderr, "bench_paho: cannot open Paho's persistence in %s\n", paho_dir);
        goto out;
    }
    if (store_begin(&l, base, fl_rt_libevent_runtime(rl)) != 0)
        goto out;
    rc = run_rounds(paho, &l, &paho_best, &ours_best);
    if (rc == 0) {
        char target[64], baseline[64];
        snprintf(target, sizeof target, "%.0f", 10 * paho_best);
        snprintf(baseline, sizeof baseline, "%.0f", paho_best);
        print_figure("paho_default_persistence_puts", paho_best, "null", "null");
        print_figure("pubstore_file_batch_vs_paho", ours_best, target, baseline);
        fprintf(stderr,
                "bench_paho: %d msgs x %d rounds: file store batch %.0f/s, Paho %.0f/s, "
                "ratio %.1f (target >= 10)\n",
                NMSG, ROUNDS, ours_best, paho_best, ours_best / paho_best);
    }
out:
    if (l.ps)
        fl_pubstore_file.close(l.ps);
    if (paho)
        pstclose(paho);
    fl_rt_libevent_free(rl);
    if (base)
        event_base_free(base);
    remove_tree(dir);
    return rc;
}
