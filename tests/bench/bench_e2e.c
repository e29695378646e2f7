/* End-to-end benchmark of the simulated pipeline (suite "client"):
 *
 *   e2e_delivered_per_s         messages per wall second delivered to the
 *                               subscriber application: reference publisher
 *                               (memory publish store) -> simulated broker
 *                               (journal on the simulated disk) -> reference
 *                               bookmark subscriber (memory bookmark store,
 *                               discards every message at once), 100-byte
 *                               payloads, built directly on the sim, broker
 *                               and client APIs (setup and connection are
 *                               outside the timed part). Per-message history
 *                               tracing off, as in bench_broker: the broker's
 *                               trace_messages knob, the network's "tx" line
 *                               per send unit (sim_net_set_trace_tx), and
 *                               for the clients a runtime whose trace op is
 *                               NULL (the client then formats nothing); the
 *                               broker's logons, subscribes and handovers
 *                               and every connection event still go into
 *                               the history and its hash.
 *   e2e_delivered_per_s_traced  the same with every event traced (what a
 *                               scenario run pays: every publish, delivery,
 *                               discard and send unit is a history line).
 *   scenario_library_wall_s     wall time of running every scenarios/<x>.json
 *                               once through sim_run_scenario (from the
 *                               repository root; skipped when not found).
 *
 * Prints one JSON object per figure on stdout (see ci/bench.sh).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "faultline/chooser.h"
#include "faultline/client.h"
#include "faultline/delay.h"
#include "faultline/error.h"
#include "faultline/store.h"
#include "sim.h"
#include "sim_net.h"

/* broker.h and scenario.h both define the scenario-format enums (the runner
 * keeps them apart in runner_broker.c), so this file, which needs the
 * broker's own configuration, declares the runner entry points it uses with
 * opaque types; signatures as in scenario.h and runner.h. */
typedef struct sim_scenario sim_scenario;
typedef struct sim_scenario_error sim_scenario_error;
typedef struct sim_run sim_run;
typedef struct sim_run_options sim_run_options;
int sim_scenario_load_file(const char *path, sim_scenario **out, sim_scenario_error *err);
void sim_scenario_free(sim_scenario *sc);
int sim_run_scenario(const sim_scenario *sc, const sim_run_options *opts, sim_run **out, char *err,
                     size_t errcap);
bool sim_run_passed(const sim_run *r);
void sim_run_free(sim_run *r);

#define PAYLOAD  100u
#define PER_MS   200u /* messages published per virtual millisecond */
#define MESSAGES 2000000u
#define MS       1000ull

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit(const char *name, double value, const char *unit, const char *target, int hib)
{
    printf("{\"suite\": \"client\", \"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", "
           "\"target\": %s, \"higher_is_better\": %s, \"baseline\": null}\n",
           name, value, unit, target, hib ? "true" : "false");
    fflush(stdout);
}

/* One application: a node, its (possibly trace-less) runtime, a client. */
typedef struct app {
    sim_node *node;
    fl_runtime_ops ops; /* the node's ops, trace removed when untraced */
    fl_runtime rt;
    fl_client *c;
    void *pself, *bself;
    const fl_pubstore_ops *pops;
    const fl_bmstore_ops *bops;
    uint64_t delivered;
    uint64_t last_seq;
    int order_errors;
} app;

typedef struct world {
    sim_ctx *ctx;
    sim_node *bnode;
    sim_broker *broker;
    app pub, sub;
} world;

static void on_message(void *arg, fl_client *c, const fl_message *msg)
{
    app *a = arg;
    if (msg->bookmark.sequence != a->last_seq + 1)
        a->order_errors++;
    a->last_seq = msg->bookmark.sequence;
    a->delivered++;
    fl_client_discard(c, msg);
}

static int app_new(world *w, app *a, const char *name, bool traced, bool subscriber)
{
    int rc = sim_node_new(w->ctx, name, &a->node);
    if (rc)
        return rc;
    a->ops = *sim_node_runtime(a->node)->ops;
    if (!traced)
        a->ops.trace = NULL;
    a->rt = (fl_runtime){&a->ops, sim_node_runtime(a->node)->self};
    fl_client_options o = FL_CLIENT_OPTIONS_INIT;
    rc = fl_client_new(&a->rt, name, &o, &a->c);
    if (rc)
        return rc;
    fl_chooser ch;
    fl_delay d;
    fl_delay_fixed_options dopt = FL_DELAY_FIXED_OPTIONS_INIT;
    if ((rc = fl_chooser_default_new(&ch)) || (rc = fl_chooser_default_add(&ch, "a", NULL)) ||
        (rc = fl_client_set_chooser(a->c, &ch)))
        return rc;
    if ((rc = fl_delay_fixed_new(&a->rt, &dopt, &d)) || (rc = fl_client_set_delay(a->c, &d)))
        return rc;
    fl_store_env env = {FL_STORE_ABI_VERSION, &a->rt, name, name, NULL};
    a->pops = fl_pubstore_builtin("memory");
    if (!a->pops || (rc = a->pops->open(&env, &a->pself, NULL, NULL, 0)) ||
        (rc = fl_client_set_publish_store(a->c, a->pops, a->pself)))
        return rc ? rc : FL_E_INVAL;
    if (subscriber) {
        a->bops = fl_bmstore_builtin("memory");
        if (!a->bops || (rc = a->bops->open(&env, &a->bself, NULL, NULL, 0)) ||
            (rc = fl_client_set_bookmark_store(a->c, a->bops, a->bself)))
            return rc ? rc : FL_E_INVAL;
        fl_sub_options so = FL_SUB_OPTIONS_INIT;
        so.topic = "orders";
        so.sub_id = "s1";
        so.bookmark = "recent";
        so.fn = on_message;
        so.arg = a;
        if ((rc = fl_client_subscribe(a->c, &so)))
            return rc;
    }
    return fl_client_connect(a->c);
}

static void app_free(app *a)
{
    fl_client_free(a->c);
    if (a->pself)
        a->pops->close(a->pself);
    if (a->bself)
        a->bops->close(a->bself);
}

static int world_new(world *w, bool traced)
{
    memset(w, 0, sizeof *w);
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    co.history_tail = 16;
    w->ctx = sim_ctx_new(&co);
    if (!w->ctx)
        return FL_E_NOMEM;
    sim_net_set_trace_tx(sim_ctx_net(w->ctx), traced);
    int rc = sim_node_new(w->ctx, "a", &w->bnode);
    if (rc)
        return rc;
    sim_broker_topic topic = {"orders", true};
    sim_broker_config c = SIM_BROKER_CONFIG_INIT;
    c.name = "a";
    c.topics = &topic;
    c.ntopics = 1;
    c.ack_interval_us = 10 * MS; /* keep the publish store small */
    c.trace_messages = traced;
    char err[256];
    rc = sim_broker_new(sim_node_runtime(w->bnode), &c, &w->broker, err, sizeof err);
    if (rc) {
        fprintf(stderr, "broker: %s %s\n", fl_err_name(rc), err);
        return rc;
    }
    if ((rc = sim_broker_listen_sim(w->broker, w->bnode, "a")))
        return rc;
    if ((rc = app_new(w, &w->sub, "sub-1", traced, true)) ||
        (rc = app_new(w, &w->pub, "pub-1", traced, false)))
        return rc;
    sim_run_until(w->ctx, sim_now(w->ctx) + 10 * MS);
    if (fl_client_state_get(w->pub.c) < FL_CLIENT_LOGGED_ON ||
        fl_client_state_get(w->sub.c) < FL_CLIENT_LOGGED_ON) {
        fprintf(stderr, "clients did not log on\n");
        return FL_E_STATE;
    }
    return 0;
}

static void world_free(world *w)
{
    app_free(&w->pub);
    app_free(&w->sub);
    sim_broker_free(w->broker);
    sim_ctx_free(w->ctx);
}

/* Publish n messages, PER_MS per virtual millisecond, until the subscriber
 * has them all; returns delivered messages per wall second (0 on error). */
static double pipeline(bool traced, uint64_t n)
{
    world w;
    if (world_new(&w, traced) != 0)
        return 0;
    uint8_t payload[PAYLOAD];
    memset(payload, 'x', sizeof payload);
    double t0 = now_s();
    for (uint64_t i = 0; i < n;) {
        for (unsigned k = 0; k < PER_MS && i < n; k++, i++) {
            uint64_t seq;
            int rc = fl_client_publish(w.pub.c, "orders", payload, sizeof payload, &seq);
            if (rc) {
                fprintf(stderr, "publish: %s\n", fl_err_name(rc));
                world_free(&w);
                return 0;
            }
        }
        sim_run_until(w.ctx, sim_now(w.ctx) + 1 * MS);
    }
    for (int guard = 0; w.sub.delivered < n && guard < 10000; guard++)
        sim_run_until(w.ctx, sim_now(w.ctx) + 1 * MS);
    double dt = now_s() - t0;
    uint64_t got = w.sub.delivered;
    int bad = w.sub.order_errors;
    world_free(&w);
    if (got != n || bad) {
        fprintf(stderr, "pipeline: delivered %llu of %llu, %d out of order\n",
                (unsigned long long)got, (unsigned long long)n, bad);
        return 0;
    }
    return (double)n / dt;
}

/* ---- the scenario library through the runner ---------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Wall seconds to run every scenario file of `dir` once (each must pass); < 0 when the directory
 * is missing or a scenario cannot be loaded or run. */
static double scenario_library(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0 && strcmp(e->d_name, "schema.json"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    double total = 0;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        sim_scenario *sc = NULL;
        sim_run *r = NULL;
        double t0 = now_s();
        int rc = sim_scenario_load_file(path, &sc, NULL);
        if (rc == 0)
            rc = sim_run_scenario(sc, NULL, &r, err, sizeof err);
        total += now_s() - t0;
        if (rc == 0 && !sim_run_passed(r))
            snprintf(err, sizeof err, "the run failed"), rc = FL_E_STATE;
        if (rc) {
            fprintf(stderr, "%s: %s %s\n", path, fl_err_name(rc), err);
            failed = 1;
        }
        sim_run_free(r);
        sim_scenario_free(sc);
        free(names[i]);
    }
    return failed || n == 0 ? -1 : total;
}

/* usage: bench_e2e [MESSAGES [SCENARIO_DIR [untraced]]] -- the last form
 * runs only the untraced pipeline (for profiling). */
int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : MESSAGES;
    /* The best of three runs: the machine is shared, and a run at a quiet
     * moment is the better estimate of what the code costs (as the other
     * benches do). */
    double rate = 0;
    for (int round = 0; round < 3; round++) {
        double r = pipeline(false, n);
        if (r <= 0)
            return 1;
        rate = r > rate ? r : rate;
    }
    emit("e2e_delivered_per_s", rate, "msg/s", "1000000", 1);
    if (argc > 3 && strcmp(argv[3], "untraced") == 0)
        return 0;
    double traced = pipeline(true, n / 4);
    if (traced <= 0)
        return 1;
    emit("e2e_delivered_per_s_traced", traced, "msg/s", "null", 1);
    double lib = scenario_library(argc > 2 ? argv[2] : "scenarios");
    if (lib >= 0)
        emit("scenario_library_wall_s", lib, "s", "null", 0);
    else
        fprintf(stderr, "scenario_library_wall_s: skipped (no scenarios/ here or a run failed)\n");
    return 0;
}
