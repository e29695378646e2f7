/* A bookmark subscriber: the tutorial for the subscribing side of the
 * faultline client API (faultline/client.h).
 *
 *   subscriber --server HOST:PORT [--name sub-1] [--topic orders]
 *              [--sub-id tutorial] [--dir sub-1.data] [--out received.txt]
 *              [--expect N] [--password PW]
 *
 * It "processes" every message of a topic by appending one line to an
 * output file: "SEQUENCE PUBLISHER-ID PAYLOAD". With --expect N it exits
 * once N messages are in the file. Kill it at any moment (even kill -9) and
 * start it again with the same arguments: it resumes where it stopped, and
 * the file gets every message exactly once.
 *
 *   1. A bookmark subscription with a file bookmark store. Every delivered
 *      message is logged in the store; fl_client_discard marks it
 *      processed. On (re)subscribe the client asks the broker to replay
 *      from the store's most recent point: the first message of each
 *      publisher that was not processed. Messages the store has already
 *      seen are filtered out (the duplicate callback tells you).
 *   2. Process first, discard second. A message is discarded only after
 *      its line is in the file, so a kill can never lose one.
 *   3. The one message that can come twice: if the kill lands after the
 *      line was written but before the discard was, the store does not
 *      know it was processed and the broker replays it. So processing is
 *      made idempotent: at start we read the last sequence of each
 *      publisher from our own output (the application's state), and a
 *      message at or below it is discarded without writing it again.
 *      Every exactly-once consumer needs this step in some form.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/client.h"
#include "faultline/error.h"
#include "faultline/rt_libevent.h"

#define MAX_PUBLISHERS 64

typedef struct app {
    struct event_base *base;
    fl_client *c;
    FILE *out;
    uint64_t expect;
    uint64_t processed;   /* lines in the output file */
    uint64_t redelivered; /* messages already in the file, skipped */
    uint64_t filtered;    /* duplicates the bookmark store filtered */
    /* highest processed sequence per publisher (read back at start) */
    uint64_t pub[MAX_PUBLISHERS], last[MAX_PUBLISHERS];
    size_t npub;
    int exit_code;
} app;

static uint64_t *last_of(app *a, uint64_t publisher)
{
    for (size_t i = 0; i < a->npub; i++)
        if (a->pub[i] == publisher)
            return &a->last[i];
    if (a->npub == MAX_PUBLISHERS)
        return NULL;
    a->pub[a->npub] = publisher;
    a->last[a->npub] = 0;
    return &a->last[a->npub++];
}

/* Read back what an earlier run processed. A line cut short by a kill is
 * dropped (its message was not discarded, so it comes again). */
static int load_output(app *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* first run */
    char line[1024];
    long good = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n'))
            break; /* partial last line */
        uint64_t seq, publisher;
        if (sscanf(line, "%" SCNu64 " %" SCNx64, &seq, &publisher) != 2)
            break;
        uint64_t *l = last_of(a, publisher);
        if (l && seq > *l)
            *l = seq;
        a->processed++;
        good = ftell(f);
    }
    fclose(f);
    return truncate(path, good);
}

static void on_message(void *arg, fl_client *c, const fl_message *m)
{
    app *a = arg;
    uint64_t *last = last_of(a, m->bookmark.publisher);
    if (last && m->bookmark.sequence <= *last) {
        a->redelivered++; /* processed before a kill: do not do it twice */
        fl_client_discard(c, m);
        return;
    }
    /* process: one line, flushed to the OS in one write */
    fprintf(a->out, "%" PRIu64 " %016" PRIx64 " %.*s\n", m->bookmark.sequence,
            m->bookmark.publisher, (int)m->payload_len, (const char *)m->payload);
    if (fflush(a->out) != 0) {
        fprintf(stderr, "output: write failed\n");
        a->exit_code = 1;
        event_base_loopbreak(a->base);
        return; /* not discarded: it will come again */
    }
    if (last)
        *last = m->bookmark.sequence;
    a->processed++;
    /* then mark it processed in the bookmark store */
    fl_client_discard(c, m);
    if (a->expect && a->processed >= a->expect)
        event_base_loopbreak(a->base);
}

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
    if (err == FL_E_GAVE_UP || err == FL_E_TIMEOUT || err == FL_E_BOOKMARK_EXPIRED) {
        a->exit_code = 1;
        event_base_loopbreak(a->base);
    }
}

static void on_duplicate(void *arg, fl_client *c, const char *sub_id, const fl_store_bookmark *bm)
{
    app *a = arg;
    (void)c;
    (void)sub_id;
    (void)bm;
    a->filtered++;
}

static void on_gap(void *arg, fl_client *c, const fl_gap_info *g)
{
    (void)arg;
    fprintf(stderr, "%s: GAP on %s: could not resume from %s\n", fl_client_name(c), g->sub_id,
            g->requested);
}

static const char usage[] =
    "usage: subscriber --server HOST:PORT [--name sub-1] [--topic orders] [--sub-id tutorial]\n"
    "                  [--dir DIR] [--out FILE] [--expect N] [--password PW]\n"
    "Appends every message to FILE (default received.txt) exactly once; with\n"
    "--expect N exits 0 once N messages are in it.\n";

int main(int argc, char **argv)
{
    const char *server = NULL, *name = "sub-1", *topic = "orders", *sub_id = "tutorial";
    const char *dir = NULL, *out = "received.txt", *password = NULL;
    app a = {0};
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
            name = v;
        else if (strcmp(argv[i], "--topic") == 0)
            topic = v;
        else if (strcmp(argv[i], "--sub-id") == 0)
            sub_id = v;
        else if (strcmp(argv[i], "--dir") == 0)
            dir = v;
        else if (strcmp(argv[i], "--out") == 0)
            out = v;
        else if (strcmp(argv[i], "--expect") == 0)
            a.expect = strtoull(v, NULL, 10);
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
    char dirbuf[300];
    if (!dir) {
        snprintf(dirbuf, sizeof dirbuf, "%s.data", name);
        dir = dirbuf;
    }
    if (load_output(&a, out) != 0 || !(a.out = fopen(out, "a"))) {
        perror(out);
        return 1;
    }
    printf("%s: %llu messages processed before this run\n", name, (unsigned long long)a.processed);
    if (a.expect && a.processed >= a.expect)
        return 0;

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
    const fl_runtime *rt = fl_rt_libevent_runtime(le);

    /* 2. The bookmark store: the file store in `dir`/bmstore. */
    const fl_bmstore_ops *store = fl_bmstore_builtin("file");
    rt->ops->dir_create(rt->self, "bmstore");
    fl_store_env env = {FL_STORE_ABI_VERSION, rt, "bmstore", name, "sync=batch"};
    fl_store_recovery rec;
    void *store_self = NULL;
    char err[256];
    rc = store->open(&env, &store_self, &rec, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bookmark store: %s: %s\n", fl_strerror(rc), err);
        return 1;
    }

    /* 3. The client, as in the publisher: callbacks, heartbeats, server,
     *    reconnect delays. */
    fl_client_options co = FL_CLIENT_OPTIONS_INIT;
    co.heartbeat_us = 1000000;
    co.cb = (fl_client_callbacks){
        .arg = &a, .state = on_state, .error = on_error, .duplicate = on_duplicate, .gap = on_gap};
    rc = fl_client_new(rt, name, &co, &a.c);
    if (rc == 0)
        rc = fl_client_set_bookmark_store(a.c, store, store_self);
    fl_chooser ch;
    if (rc == 0 && (rc = fl_chooser_default_new(&ch)) == 0) {
        fl_chooser_default_add(&ch, server, password);
        if ((rc = fl_client_set_chooser(a.c, &ch)) != 0)
            fl_chooser_free(&ch);
    }
    fl_delay_exp_options dopt = FL_DELAY_EXP_OPTIONS_INIT;
    dopt.initial_us = 100000;
    dopt.max_us = 2000000;
    fl_delay delay;
    if (rc == 0 && (rc = fl_delay_exponential_new(rt, &dopt, &delay)) == 0 &&
        (rc = fl_client_set_delay(a.c, &delay)) != 0)
        fl_delay_free(&delay);

    /* 4. The subscription: "recent" = resume from the bookmark store (EPOCH
     *    the first time). The subscription manager re-enters it after every
     *    reconnect, from the store's most recent point. */
    fl_sub_options so = FL_SUB_OPTIONS_INIT;
    so.topic = topic;
    so.sub_id = sub_id;
    so.bookmark = "recent";
    so.fn = on_message;
    so.arg = &a;
    if (rc == 0)
        rc = fl_client_subscribe(a.c, &so);
    if (rc) {
        fprintf(stderr, "client: %s\n", fl_strerror(rc));
        return 1;
    }

    /* 5. Connect and run the loop. */
    fl_client_connect(a.c);
    event_base_dispatch(a.base);

    printf("%s: %llu messages processed; %llu redelivered after a restart and skipped; "
           "%llu duplicates filtered by the bookmark store\n",
           name, (unsigned long long)a.processed, (unsigned long long)a.redelivered,
           (unsigned long long)a.filtered);
    fl_client_free(a.c);
    store->close(store_self);
    fl_rt_libevent_free(le);
    event_base_free(a.base);
    fclose(a.out);
    return a.exit_code;
}
