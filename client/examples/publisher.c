/* A reliable publisher: the tutorial for the publishing side of the
 * faultline client API (faultline/client.h).
 *
 *   publisher --server HOST:PORT [--name pub-1] [--topic orders]
 *             [--count 10000] [--rate 1000] [--dir pub-1.data] [--password PW]
 *
 * It publishes messages 1..count on a topic and exits once the broker has
 * persisted all of them. Kill it at any moment (even kill -9) and start it
 * again with the same arguments: it goes on where it stopped, and no
 * message is lost or published twice. Three things make that true:
 *
 *   1. A file publish store. Every message fl_client_publish accepts is
 *      written to the store before the call returns, and stays there until
 *      the broker's persisted ack covers it. After a restart the client
 *      re-sends whatever was not acked; the broker drops the ones it already
 *      has (deduplication by publisher name and sequence number).
 *   2. A stable client name: it is the publisher's identity to the broker.
 *   3. Message numbers that come from the store: sequence numbers continue
 *      after the store's last one, so "message n" here is the message with
 *      sequence n, and a restarted publisher knows which one is next. That
 *      needs sync=always: with batch or none the store reserves sequences
 *      in blocks so that a power loss never makes it reuse one, and a
 *      restart then skips the rest of the block (store.h, last_sequence);
 *      an application on those policies numbers its messages itself.
 *
 * The runtime is libevent: we own the event_base and run its loop; the
 * client does everything from callbacks on that loop.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/client.h"
#include "faultline/error.h"
#include "faultline/rt_libevent.h"

typedef struct app {
    struct event_base *base;
    const fl_runtime *rt;
    fl_client *c;
    const char *topic;
    const char *name;
    uint64_t count;    /* publish messages 1..count */
    uint64_t per_tick; /* messages per 10 ms tick */
    fl_timer_id tick;
    int exit_code;
} app;

#define TICK_US         10000
#define MAX_UNPERSISTED 20000 /* pause when this many wait for their ack */

static void on_state(void *arg, fl_client *c, int state)
{
    (void)arg;
    printf("%s: %s\n", fl_client_name(c), fl_client_state_name(state));
    fflush(stdout);
}

static void on_error(void *arg, fl_client *c, int err, const char *text)
{
    app *a = arg;
    fprintf(stderr, "%s: error %s: %s\n", fl_client_name(c), fl_err_name(err), text);
    if (err == FL_E_GAVE_UP || err == FL_E_TIMEOUT) {
        a->exit_code = 1;
        event_base_loopbreak(a->base);
    }
}

/* The broker refused a message (not entitled, ...): it will never be
 * persisted, so say so. */
static void on_failed_write(void *arg, fl_client *c, int err, const fl_pub_msg *msg)
{
    (void)arg;
    fprintf(stderr, "%s: message %llu refused: %s\n", fl_client_name(c),
            (unsigned long long)msg->sequence, fl_strerror(err));
}

static void on_flushed(void *arg, fl_client *c, int result)
{
    app *a = arg;
    if (result != 0) {
        fprintf(stderr, "%s: flush: %s\n", fl_client_name(c), fl_strerror(result));
        a->exit_code = 1;
    } else {
        printf("%s: all %llu messages persisted\n", fl_client_name(c),
               (unsigned long long)a->count);
    }
    event_base_loopbreak(a->base);
}

/* Publish the next batch; when everything is published, wait for the last
 * persisted ack. */
static void tick(void *arg)
{
    app *a = arg;
    a->tick = 0;
    for (uint64_t i = 0; i < a->per_tick; i++) {
        fl_client_stats st;
        fl_client_get_stats(a->c, &st);
        uint64_t n = st.next_sequence; /* the number this message will get */
        if (n > a->count) {
            /* wait (no time limit) until the broker persisted everything */
            fl_client_publish_flush(a->c, 0, on_flushed, a);
            return;
        }
        if (fl_client_unpersisted_count(a->c) >= MAX_UNPERSISTED)
            break; /* let the acks catch up */
        char payload[128];
        int len = snprintf(payload, sizeof payload, "%s #%llu", a->name, (unsigned long long)n);
        int rc = fl_client_publish(a->c, a->topic, payload, (size_t)len, NULL);
        if (rc != 0) {
            fprintf(stderr, "%s: publish: %s\n", a->name, fl_strerror(rc));
            break; /* FL_E_FULL and friends: try again on the next tick */
        }
    }
    fl_rt_timer_start(a->rt, TICK_US, tick, a, &a->tick);
}

static const char usage[] =
    "usage: publisher --server HOST:PORT [--name pub-1] [--topic orders] [--count 10000]\n"
    "                 [--rate 1000] [--dir DIR] [--password PW]\n"
    "Publishes messages 1..count (rate per second, 0 = as fast as acks allow) and\n"
    "exits 0 once all are persisted. Restart it after a kill to finish the job.\n";

int main(int argc, char **argv)
{
    const char *server = NULL, *dir = NULL, *password = NULL;
    app a = {.topic = "orders", .name = "pub-1", .count = 10000};
    uint64_t rate = 1000;
    for (int i = 1; i < argc; i += 2) { /* --option value pairs */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "%s needs a value\n%s", argv[i], usage);
            return 2;
        }
        if (strcmp(argv[i], "--server") == 0)
            server = v;
        else if (strcmp(argv[i], "--name") == 0)
            a.name = v;
        else if (strcmp(argv[i], "--topic") == 0)
            a.topic = v;
        else if (strcmp(argv[i], "--count") == 0)
            a.count = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = v;
        else if (strcmp(argv[i], "--password") == 0)
            password = v;
        else {
            fprintf(stderr, "unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!server) {
        fputs(usage, stderr);
        return 2;
    }
    a.per_tick = rate ? (rate * TICK_US + 999999) / 1000000 : MAX_UNPERSISTED;
    char dirbuf[300];
    if (!dir) {
        snprintf(dirbuf, sizeof dirbuf, "%s.data", a.name);
        dir = dirbuf;
    }

    /* 0. Ignore SIGPIPE, as every libevent program must (faultline/rt_libevent.h).
     *    When the broker closes the connection while we still write to it,
     *    the write after its reset raises SIGPIPE, and the default action
     *    kills the process without a word. Ignored, that write fails with
     *    EPIPE, the client sees the connection closed and reconnects. */
    signal(SIGPIPE, SIG_IGN);

    /* 1. The runtime: libevent on our event_base; files live under `dir`. */
    a.base = event_base_new();
    fl_rt_libevent_options ro = FL_RT_LIBEVENT_OPTIONS_INIT;
    ro.data_dir = dir;
    fl_rt_libevent *le = NULL;
    int rc = a.base ? fl_rt_libevent_new(a.base, &ro, &le) : FL_E_NOMEM;
    if (rc) {
        fprintf(stderr, "runtime: %s\n", fl_strerror(rc));
        return 1;
    }
    a.rt = fl_rt_libevent_runtime(le);

    /* 2. The publish store: the file store, in `dir`/pubstore. sync=always
     *    makes each message durable before fl_client_publish returns (so
     *    even a power loss loses nothing accepted) and keeps sequence
     *    numbers contiguous across restarts (point 3 above). */
    const fl_pubstore_ops *store = fl_pubstore_builtin("file");
    a.rt->ops->dir_create(a.rt->self, "pubstore");
    fl_store_env env = {FL_STORE_ABI_VERSION, a.rt, "pubstore", a.name, "sync=always"};
    fl_store_recovery rec;
    void *store_self = NULL;
    char err[256];
    rc = store->open(&env, &store_self, &rec, err, sizeof err);
    if (rc) {
        fprintf(stderr, "publish store: %s: %s\n", fl_strerror(rc), err);
        return 1;
    }
    if (rec.text[0])
        printf("%s: publish store recovery: %s\n", a.name, rec.text);

    /* 3. The client: callbacks, heartbeats (a stalled connection is found
     *    in 2 s), the server and a reconnect delay strategy. */
    fl_client_options co = FL_CLIENT_OPTIONS_INIT;
    co.heartbeat_us = 1000000;
    co.cb = (fl_client_callbacks){
        .arg = &a, .state = on_state, .error = on_error, .failed_write = on_failed_write};
    rc = fl_client_new(a.rt, a.name, &co, &a.c);
    if (rc == 0)
        rc = fl_client_set_publish_store(a.c, store, store_self);
    fl_chooser ch;
    if (rc == 0 && (rc = fl_chooser_default_new(&ch)) == 0) {
        fl_chooser_default_add(&ch, server, password);
        if ((rc = fl_client_set_chooser(a.c, &ch)) != 0)
            fl_chooser_free(&ch);
    }
    fl_delay_exp_options dopt = FL_DELAY_EXP_OPTIONS_INIT;
    dopt.initial_us = 100000; /* retry after 100 ms, doubling up to 2 s */
    dopt.max_us = 2000000;
    fl_delay delay;
    if (rc == 0 && (rc = fl_delay_exponential_new(a.rt, &dopt, &delay)) == 0 &&
        (rc = fl_client_set_delay(a.c, &delay)) != 0)
        fl_delay_free(&delay);
    if (rc) {
        fprintf(stderr, "client: %s\n", fl_strerror(rc));
        return 1;
    }
    fl_client_stats st;
    fl_client_get_stats(a.c, &st);
    printf("%s: starting at message %llu of %llu (%llu stored, not yet persisted)\n", a.name,
           (unsigned long long)st.next_sequence, (unsigned long long)a.count,
           (unsigned long long)fl_client_unpersisted_count(a.c));

    /* 4. Connect (the client reconnects by itself from now on), start
     *    publishing, and run the loop until everything is persisted. */
    fl_client_connect(a.c);
    fl_rt_timer_start(a.rt, 0, tick, &a, &a.tick);
    event_base_dispatch(a.base);

    /* 5. Orderly exit: client first (it borrows the store), then the store. */
    fl_client_free(a.c);
    store->close(store_self);
    fl_rt_libevent_free(le);
    event_base_free(a.base);
    return a.exit_code;
}
