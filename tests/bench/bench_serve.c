/* Benchmarks of `faultline serve` over real loopback TCP (suite "client"):
 *
 *   serve_publish_persisted_msgs_per_s  the reference client with a file
 *       publish store (sync=batch) publishes N 100-byte messages as fast as
 *       its window allows; the figure is N over the time until the last one
 *       is persisted (acked after the broker's journal fsync);
 *   serve_replay_msgs_per_s  a bookmark subscription from EPOCH with a file
 *       bookmark store (sync=batch) replays those N messages; the figure is
 *       N over the time from connect to the N-th delivery.
 *
 * The broker is `faultline serve` itself (sim_serve_main) in a forked child
 * process with its journal in a temporary directory (ack_interval 10ms so
 * the final conflated ack does not dominate); the client runs in this
 * process on the libevent runtime. Wall time via CLOCK_MONOTONIC.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/client.h"
#include "faultline/error.h"
#include "faultline/rt_libevent.h"
#include "serve.h"

#define NMSG    200000u
#define PAYLOAD 100u
#define WINDOW  50000u
#define CHUNK   2000u
#define TOPIC   "bench"

typedef struct bench {
    struct event_base *base;
    const fl_runtime *rt;
    fl_client *c;
    uint64_t published, delivered;
    double t_end;
    int failed;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_error(void *arg, fl_client *c, int err, const char *text)
{
    bench *b = arg;
    (void)c;
    fprintf(stderr, "bench_serve: client error %s: %s\n", fl_err_name(err), text);
    b->failed = 1;
    event_base_loopbreak(b->base);
}

static void on_flushed(void *arg, fl_client *c, int result)
{
    bench *b = arg;
    (void)c;
    if (result)
        b->failed = 1;
    b->t_end = now_s();
    event_base_loopbreak(b->base);
}

static void pub_tick(void *arg)
{
    bench *b = arg;
    static const char payload[PAYLOAD] = {0};
    for (unsigned i = 0; i < CHUNK && b->published < NMSG; i++) {
        if (fl_client_unpersisted_count(b->c) >= WINDOW)
            break;
        if (fl_client_publish(b->c, TOPIC, payload, sizeof payload, NULL) != 0)
            break;
        b->published++;
    }
    if (b->published == NMSG) {
        fl_client_publish_flush(b->c, 60000000, on_flushed, b);
        return;
    }
    fl_rt_timer_start(b->rt, 0, pub_tick, b, NULL);
}

static void on_message(void *arg, fl_client *c, const fl_message *m)
{
    bench *b = arg;
    fl_client_discard(c, m);
    if (++b->delivered == NMSG) {
        b->t_end = now_s();
        event_base_loopbreak(b->base);
    }
}

static int make_client(bench *b, const char *name, const char *port)
{
    fl_client_options co = FL_CLIENT_OPTIONS_INIT;
    co.cb.arg = b;
    co.cb.error = on_error;
    int rc = fl_client_new(b->rt, name, &co, &b->c);
    fl_chooser ch;
    if (rc == 0 && (rc = fl_chooser_default_new(&ch)) == 0) {
        char uri[64];
        snprintf(uri, sizeof uri, "127.0.0.1:%s", port);
        fl_chooser_default_add(&ch, uri, NULL);
        rc = fl_client_set_chooser(b->c, &ch);
    }
    return rc;
}

/* One phase on a fresh loop: publish (sub == 0) or replay (sub == 1). */
static double run_phase(const char *dir, const char *port, int sub)
{
    bench b = {0};
    b.base = event_base_new();
    fl_rt_libevent_options ro = FL_RT_LIBEVENT_OPTIONS_INIT;
    ro.data_dir = dir;
    fl_rt_libevent *le = NULL;
    if (fl_rt_libevent_new(b.base, &ro, &le) != 0)
        return -1;
    b.rt = fl_rt_libevent_runtime(le);
    b.rt->ops->dir_create(b.rt->self, "store");
    fl_store_env env = {FL_STORE_ABI_VERSION, b.rt, "store", sub ? "bench-sub" : "bench-pub",
                        "sync=batch"};
    char err[256];
    void *st = NULL;
    const fl_pubstore_ops *ps = fl_pubstore_builtin("file");
    const fl_bmstore_ops *bs = fl_bmstore_builtin("file");
    int rc = sub ? bs->open(&env, &st, NULL, err, sizeof err)
                 : ps->open(&env, &st, NULL, err, sizeof err);
    if (rc == 0)
        rc = make_client(&b, sub ? "bench-sub" : "bench-pub", port);
    if (rc == 0)
        rc = sub ? fl_client_set_bookmark_store(b.c, bs, st)
                 : fl_client_set_publish_store(b.c, ps, st);
    if (rc == 0 && sub) {
        fl_sub_options so = FL_SUB_OPTIONS_INIT;
        so.topic = TOPIC;
        so.sub_id = "replay";
        so.bookmark = "0";
        so.fn = on_message;
        so.arg = &b;
        rc = fl_client_subscribe(b.c, &so);
    }
    double t0 = now_s();
    if (rc == 0)
        rc = fl_client_connect(b.c);
    if (rc == 0 && !sub)
        fl_rt_timer_start(b.rt, 0, pub_tick, &b, NULL);
    if (rc == 0)
        event_base_dispatch(b.base);
    fl_client_free(b.c);
    if (st)
        sub ? bs->close(st) : ps->close(st);
    fl_rt_libevent_free(le);
    event_base_free(b.base);
    if (rc || b.failed || b.t_end == 0) {
        fprintf(stderr, "bench_serve: %s phase failed (%s)\n", sub ? "replay" : "publish",
                rc ? fl_strerror(rc) : "see above");
        return -1;
    }
    return b.t_end - t0;
}

static int read_port(const char *ready, char *port, size_t cap)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(ready, "r");
        char line[128];
        while (f && fgets(line, sizeof line, f)) {
            if (strncmp(line, "port=", 5) == 0) {
                snprintf(port, cap, "%.*s", (int)strcspn(line + 5, "\n"), line + 5);
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
        usleep(25000);
    }
    return -1;
}

static void print_figure(const char *name, double value)
{
    printf("{\"suite\": \"client\", \"name\": \"%s\", \"value\": %.0f, \"unit\": \"msgs/s\", "
           "\"target\": null, \"higher_is_better\": true, \"baseline\": null}\n",
           name, value);
}

int main(void)
{
    /* Every libevent program must ignore SIGPIPE (faultline/rt_libevent.h):
     * a write after the server reset a connection would kill the bench. */
    signal(SIGPIPE, SIG_IGN);
    char tmp[] = "/tmp/fl-bench-serve.XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char cfg[256], ready[256], data[256], pub[256], sub[256];
    snprintf(cfg, sizeof cfg, "%s/serve.json", tmp);
    snprintf(ready, sizeof ready, "%s/ready", tmp);
    snprintf(data, sizeof data, "%s/broker", tmp);
    snprintf(pub, sizeof pub, "%s/pub", tmp);
    snprintf(sub, sizeof sub, "%s/sub", tmp);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return 1;
    fprintf(f, "{\"brokers\": {\"bench\": {\"topics\": {\"" TOPIC "\": {\"journal\": true}}, "
               "\"ack_interval\": \"10ms\"}}}\n");
    fclose(f);
    pid_t child = fork();
    if (child == 0) {
        char *argv[] = {"serve", "--listen",     "127.0.0.1:0", "--config", cfg, "--data-dir",
                        data,    "--ready-file", ready,         "--quiet",  NULL};
        if (!freopen("/dev/null", "w", stdout)) /* keep stdout for the JSON figures */
            _exit(1);
        _exit(sim_serve_main(10, argv));
    }
    char port[16];
    int rc = 1;
    if (child > 0 && read_port(ready, port, sizeof port) == 0) {
        double tp = run_phase(pub, port, 0);
        double tr = tp > 0 ? run_phase(sub, port, 1) : -1;
        if (tp > 0 && tr > 0) {
            print_figure("serve_publish_persisted_msgs_per_s", NMSG / tp);
            print_figure("serve_replay_msgs_per_s", NMSG / tr);
            rc = 0;
        }
    } else {
        fprintf(stderr, "bench_serve: faultline serve did not start\n");
    }
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_serve: could not remove %s\n", tmp);
    return rc;
}
