/* Benchmark: the SQLite publish store appending 100-byte messages on the
 * real disk, through the VFS shim over the libevent runtime's POSIX file
 * layer (client/rt_libevent.c: pread/pwrite, fdatasync, directory fsync).
 *
 * The publisher acks (discard_up_to) all but its last 1000 messages every
 * 1000 stores, as a client would, and turns the event loop every 64 stores
 * (non-blocking) so the batch window's timer can commit and sync the group.
 * Files go to a fresh directory under /tmp, removed at the end. Each figure
 * is the best of five short rounds (the machine is shared), the two
 * policies interleaved, about 3 s in all.
 *
 * Figures (suite "client"):
 *   pubstore_sqlite_batch_appends   sync=batch (WAL, synchronous=NORMAL,
 *                                   group transactions, 1 ms window),
 *                                   appends/s, target 300000
 *   pubstore_sqlite_always_appends  sync=always (WAL, synchronous=FULL, one
 *                                   transaction and WAL sync per call),
 *                                   appends/s, no target
 */
#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/error.h"
#include "faultline/rt_libevent.h"
#include "faultline/runtime.h"
#include "faultline/store.h"

#define PAYLOAD    100
#define ACK_WINDOW 1000 /* discard everything older than this many messages */
#define LOOP_EVERY 64   /* stores between two turns of the event loop */
#define ROUNDS     5

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rm of the files in dir/sub, then the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char p[1600];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* An open SQLite publish store being appended to. */
typedef struct store_loop {
    struct event_base *base;
    const fl_runtime *rt;
    void *ps;
    uint64_t seq;
    const char *options;
} store_loop;

static int store_begin(store_loop *l, struct event_base *base, const fl_runtime *rt,
                       const char *sub, const char *options)
{
    memset(l, 0, sizeof *l);
    l->base = base;
    l->rt = rt;
    l->options = options;
    fl_store_env env = {FL_STORE_ABI_VERSION, rt, sub, "bench", options};
    char err[512] = "";
    int rc = fl_pubstore_sqlite.open(&env, &l->ps, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "open %s: %s: %s\n", options, fl_err_name(rc), err);
    return rc;
}

/* Store appends/s for `secs`. */
static double store_round(store_loop *l, double secs)
{
    uint8_t payload[PAYLOAD];
    uint64_t s0 = l->seq;
    double t0 = mono_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            uint64_t seq = ++l->seq;
            memset(payload, (int)(seq & 0xff), sizeof payload);
            fl_pub_msg m = {seq, "orders", 6, payload, sizeof payload};
            int rc = fl_pubstore_sqlite.store(l->ps, &m);
            if (rc != 0) {
                fprintf(stderr, "store (%s): %s: %s\n", l->options, fl_err_name(rc),
                        fl_pubstore_sqlite.last_error(l->ps));
                return 0;
            }
            if (seq % ACK_WINDOW == 0 && seq > ACK_WINDOW)
                fl_pubstore_sqlite.discard_up_to(l->ps, seq - ACK_WINDOW);
            if (seq % LOOP_EVERY == 0)
                event_base_loop(l->base, EVLOOP_NONBLOCK);
        }
        t = mono_s();
    } while (t - t0 < secs);
    if (fl_pubstore_sqlite.flush(l->ps) != 0) /* the round ends durable */
        return 0;
    t = mono_s();
    return (double)(l->seq - s0) / (t - t0);
}

static void print_figure(const char *name, double value, const char *target)
{
    printf("{\"suite\": \"client\", \"name\": \"%s\", \"value\": %.0f, \"unit\": \"appends/s\", "
           "\"target\": %s, \"higher_is_better\": true, \"baseline\": null}\n",
           name, value, target);
}

int main(void)
{
    char dir[] = "/tmp/fl-bench-sqlite-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct event_base *base = event_base_new();
    fl_rt_libevent *rl = NULL;
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = dir;
    o.seed = 1;
    if (!base || fl_rt_libevent_new(base, &o, &rl) != 0) {
        fprintf(stderr, "bench_store_sqlite: cannot create the libevent runtime\n");
        return 1;
    }
    const fl_runtime *rt = fl_rt_libevent_runtime(rl);
    static const char *const subs[2] = {"batch", "always"};
    static const char *const opts[2] = {"sync=batch;batch_window=1000", "sync=always"};
    static const double secs[2] = {0.4, 0.2};
    store_loop l[2];
    double best[2] = {0, 0};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++)
        rc = store_begin(&l[k], base, rt, subs[k], opts[k]);
    for (int round = 0; round < ROUNDS && rc == 0; round++) {
        for (int k = 0; k < 2; k++) {
            double v = store_round(&l[k], secs[k]);
            if (v > best[k])
                best[k] = v;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (l[k].ps)
            fl_pubstore_sqlite.close(l[k].ps);
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, subs[k]);
        remove_dir(p);
    }
    fl_rt_libevent_free(rl);
    event_base_free(base);
    rmdir(dir);
    if (rc != 0 || best[0] == 0 || best[1] == 0)
        return 1;
    print_figure("pubstore_sqlite_batch_appends", best[0], "300000");
    print_figure("pubstore_sqlite_always_appends", best[1], "null");
    return 0;
}
