/* `faultline serve` and `faultline admin` (see serve.h).
 *
 * Design note.
 *
 * The broker instance (broker.h) is the simulation's, unchanged: it talks to
 * an fl_runtime. Here that runtime is a thin wrapper ("srt") over the
 * libevent runtime. The wrapper forwards every call, adds the clock offset
 * that the admin `advance` command moves (so retention can be tested
 * without waiting), and keeps the broker's pending timers and its
 * connections on lists. That is what makes an admin crash faithful: on a
 * crash the wrapper cancels every timer and closes every connection of the
 * instance and turns dead (later calls fail with FL_E_SHUTDOWN, as on a
 * crashed simulated node), then sim_broker_abandon frees the instance; the
 * journal close it does cannot sync anything through a dead runtime, and
 * only the file descriptors are released. Bytes the journal had written but
 * not synced stay in the OS page cache, exactly as after a real process
 * crash. A restart is sim_broker_new on a fresh wrapper over the same data
 * directory: the journal recovers from the files.
 *
 * Power loss cannot be had on real files without dropping the page cache,
 * which a process cannot do for its own files. `power-loss` is therefore
 * the same as `crash`; the reply says how many appended records the broker
 * had not yet synced (those would be at risk on a real power loss).
 *
 * Connections: the libevent runtime accepts on the listener and calls
 * serve_accept, which hands the connection to the current instance
 * (sim_broker_accept) behind trampoline callbacks (sconn). Trampolines
 * print the status lines, learn the client name (the broker's `logon`
 * trace event is emitted while the connection's data is being handled) and
 * implement `stall`: while a connection is stalled, bytes in both
 * directions are held in memory (a black hole that keeps the stream
 * intact) and released when the stall ends.
 *
 * Admin: a second listener, loopback only, one text line per request:
 *     TOKEN COMMAND [ARG...]\n
 * answered with one line, "ok[ TEXT]" or "error KIND: TEXT". A wrong token
 * gets "error auth: bad token" and the connection is closed.
 *
 * Everything runs on one libevent loop, one thread. Wall time is read here
 * (it is real-time serving, not simulation).
 */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/rt_libevent.h"
#include "faultline/wire.h"
#include "units.h"

#define DEFAULT_LISTEN       "127.0.0.1:9100"
#define DEFAULT_ADMIN        "127.0.0.1:0"
#define DEFAULT_DATA_DIR     "faultline-data"
#define DEFAULT_TOPIC        "orders"
#define ADMIN_LINE_MAX       4096
#define ADMIN_TOKEN_BYTES    16
#define ADMIN_CLOSE_DELAY_US 200000
#define MAX_TOPICS_ARGS      64
#define JOURNAL_DIR          "journal"

typedef struct server server;
typedef struct srt srt;

/* A pending timer of the instance. */
typedef struct srt_timer {
    srt *w;
    fl_timer_id id; /* the libevent runtime's id */
    fl_timer_fn fn;
    void *arg;
    struct srt_timer *prev, *next;
} srt_timer;

/* A connection of the instance (accepted, or a replication connect). */
typedef struct sconn {
    server *srv;
    srt *w;
    fl_conn_id id;
    const fl_conn_callbacks *cbs; /* the broker's */
    void *arg;
    char peer[80];
    char name[256]; /* client name once logged on */
    bool stalled;
    fl_timer_id stall_timer; /* on the libevent runtime */
    fl_buf in_hold, out_hold;
    struct sconn *prev, *next;
} sconn;

/* The wrapper runtime of one broker incarnation. */
struct srt {
    server *srv;
    fl_runtime rt; /* {&srt_ops, this} */
    bool dead;
    srt_timer *timers;
};

typedef struct admin_conn {
    server *srv;
    fl_conn_id id;
    fl_buf rx;
    bool closed;             /* no more requests: closing after the reply */
    fl_timer_id close_timer; /* on the libevent runtime */
    struct admin_conn *prev, *next;
} admin_conn;

typedef struct serve_opts {
    const char *listen;
    const char *admin_listen;
    const char *config;
    const char *broker;
    const char *data_dir;
    const char *token;
    const char *ready_file;
    const char *trace_file;
    const char *topics[MAX_TOPICS_ARGS];
    size_t ntopics;
    bool allow_remote;
    bool quiet;
    uint64_t max_frame;
} serve_opts;

struct server {
    struct event_base *base;
    fl_rt_libevent *le;
    const fl_runtime *in; /* the libevent runtime's seam */
    serve_opts o;
    sim_serve_config *cfgfile;
    sim_broker_topic *topics;
    char token[2 * ADMIN_TOKEN_BYTES + 1];
    FILE *trace;
    /* the instance */
    srt *w;
    sim_broker *b;
    bool down;
    fl_timer_id restart_timer;
    uint64_t clock_offset_us;
    uint64_t incarnation;
    /* connections */
    sconn *conns;
    size_t nstalled;
    sconn *current; /* the connection whose data the broker is handling */
    admin_conn *admins;
    uint16_t port, admin_port;
};

/* ------------------------------------------------------------------ */
/* logging                                                              */

static void log_line(server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(server *s, const char *fmt, ...)
{
    if (s->o.quiet)
        return;
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    printf("%s.%06ldZ ", ts, (long)(now.tv_nsec / 1000));
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

/* "{fields}" as "k=v k=v" (strings unquoted when they have no space). */
static void fields_text(const char *fields, char *out, size_t cap)
{
    out[0] = '\0';
    if (!fields || !*fields)
        return;
    char *doc = NULL;
    if (asprintf(&doc, "{%s}", fields) < 0)
        return;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    if (!o) {
        snprintf(out, cap, "%s", fields);
        return;
    }
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach(o, k, v)
    {
        char *val =
            json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
        if (val && n < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n ? " " : "", k, val);
        free(val);
    }
    json_decref(o);
}

bool sim_serve_status_event(const char *source, const char *event)
{
    static const char *const broker_ev[] = {
        "start",
        "start_failed",
        "logon",
        "logon_refused",
        "disconnect",
        "session_closed",
        "bad_frame",
        "journal_error",
        "journal_failed",
        "journal_reopened",
        "journal_reopen_failed",
        "repl_logon",
    };
    if (strcmp(source, "broker") == 0) {
        for (size_t i = 0; i < sizeof broker_ev / sizeof *broker_ev; i++)
            if (strcmp(event, broker_ev[i]) == 0)
                return true;
        return false;
    }
    return strcmp(event, "recovered") == 0 || strcmp(event, "bad_record") == 0 ||
           strcmp(event, "recovery_failed") == 0 || strcmp(event, "retention") == 0 ||
           strcmp(event, "recovery_drop") == 0;
}

/* The client name of a `logon` event, for the connection being handled. */
static void learn_name(server *s, const char *fields)
{
    if (!s->current || !fields)
        return;
    char *doc = NULL;
    if (asprintf(&doc, "{%s}", fields) < 0)
        return;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *n = json_string_value(json_object_get(o, "client"));
    if (n)
        snprintf(s->current->name, sizeof s->current->name, "%s", n);
    json_decref(o);
}

static void on_trace(server *s, const char *source, const char *event, const char *fields)
{
    if (strcmp(source, "broker") == 0 && strcmp(event, "logon") == 0)
        learn_name(s, fields);
    if (s->trace) {
        uint64_t t = fl_rt_now(s->in) + s->clock_offset_us;
        fprintf(s->trace, "{\"t_us\":%llu,\"source\":\"%s\",\"event\":\"%s\"%s%s}\n",
                (unsigned long long)t, source, event, fields && *fields ? "," : "",
                fields ? fields : "");
    }
    if (!sim_serve_status_event(source, event))
        return;
    char text[1024];
    fields_text(fields, text, sizeof text);
    log_line(s, "%s %s%s%s", source, event, text[0] ? " " : "", text);
}

/* ------------------------------------------------------------------ */
/* the wrapper runtime                                                  */

static sconn *conn_find(server *s, fl_conn_id id)
{
    for (sconn *c = s->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void conn_unlink_free(sconn *c)
{
    server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->stalled)
        s->nstalled--;
    fl_rt_timer_cancel(s->in, c->stall_timer);
    if (s->current == c)
        s->current = NULL;
    fl_buf_free(&c->in_hold);
    fl_buf_free(&c->out_hold);
    free(c);
}

static sconn *conn_new(server *s, srt *w, fl_conn_id id, const char *peer)
{
    sconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->w = w;
    c->id = id;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

static srt *W(void *self)
{
    return self;
}

static uint64_t w_now(void *self)
{
    return fl_rt_now(W(self)->srv->in) + W(self)->srv->clock_offset_us;
}

static uint64_t w_random(void *self)
{
    return fl_rt_random(W(self)->srv->in);
}

static void timer_unlink(srt_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->w->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void w_timer_fire(void *arg)
{
    srt_timer *t = arg;
    fl_timer_fn fn = t->fn;
    void *a = t->arg;
    timer_unlink(t);
    free(t);
    fn(a);
}

static int w_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg, fl_timer_id *out)
{
    srt *w = self;
    if (w->dead)
        return FL_E_SHUTDOWN;
    srt_timer *t = calloc(1, sizeof *t);
    if (!t)
        return FL_E_NOMEM;
    *t = (srt_timer){w, 0, fn, arg, NULL, w->timers};
    int rc = fl_rt_timer_start(w->srv->in, delay_us, w_timer_fire, t, &t->id);
    if (rc) {
        free(t);
        return rc;
    }
    if (w->timers)
        w->timers->prev = t;
    w->timers = t;
    if (out)
        *out = t->id;
    return 0;
}

static void w_timer_cancel(void *self, fl_timer_id id)
{
    srt *w = self;
    if (w->dead)
        return;
    for (srt_timer *t = w->timers; t; t = t->next) {
        if (t->id == id) {
            fl_rt_timer_cancel(w->srv->in, id);
            timer_unlink(t);
            free(t);
            return;
        }
    }
}

/* Trampolines between the libevent runtime and the broker. */
static void tr_opened(void *arg, fl_conn_id id)
{
    sconn *c = arg;
    if (c->cbs->opened)
        c->cbs->opened(c->arg, id);
}

static void tr_data(void *arg, fl_conn_id id, const uint8_t *buf, size_t len)
{
    sconn *c = arg;
    server *s = c->srv;
    if (c->stalled) {
        if (fl_buf_append(&c->in_hold, buf, len) != 0)
            log_line(s, "stall: out of memory holding data of %s", c->peer);
        return;
    }
    s->current = c;
    c->cbs->data(c->arg, id, buf, len); /* may free c (broker close) */
    s->current = NULL;
}

static void tr_closed(void *arg, fl_conn_id id, int reason)
{
    sconn *c = arg;
    server *s = c->srv;
    const fl_conn_callbacks *cbs = c->cbs;
    void *a = c->arg;
    log_line(s, "conn closed peer=%s client=%s reason=%s", c->peer, c->name[0] ? c->name : "-",
             reason ? fl_err_name(reason) : "closed_by_peer");
    conn_unlink_free(c);
    if (cbs->closed)
        cbs->closed(a, id, reason);
}

static const fl_conn_callbacks tramp_cbs = {tr_opened, tr_data, tr_closed};

static int w_connect(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                     fl_conn_id *out)
{
    srt *w = self;
    if (w->dead)
        return FL_E_SHUTDOWN;
    sconn *c = conn_new(w->srv, w, 0, uri);
    if (!c)
        return FL_E_NOMEM;
    c->cbs = cbs;
    c->arg = arg;
    fl_conn_id id = 0;
    int rc = w->srv->in->ops->connect(w->srv->in->self, uri, &tramp_cbs, c, &id);
    if (rc) {
        conn_unlink_free(c);
        return rc;
    }
    c->id = id;
    if (out)
        *out = id;
    return 0;
}

static int w_send(void *self, fl_conn_id id, const void *buf, size_t len)
{
    srt *w = self;
    server *s = w->srv;
    if (w->dead)
        return FL_E_SHUTDOWN;
    if (s->nstalled) {
        sconn *c = conn_find(s, id);
        if (c && c->stalled)
            return fl_buf_append(&c->out_hold, buf, len);
    }
    return s->in->ops->send(s->in->self, id, buf, len);
}

static void w_close(void *self, fl_conn_id id)
{
    srt *w = self;
    server *s = w->srv;
    if (w->dead)
        return;
    sconn *c = conn_find(s, id);
    if (c) {
        log_line(s, "conn closed peer=%s client=%s reason=closed_by_broker", c->peer,
                 c->name[0] ? c->name : "-");
        conn_unlink_free(c);
    }
    s->in->ops->close(s->in->self, id);
}

#define FWD_FILE(call) (W(self)->dead ? FL_E_SHUTDOWN : (call))
#define IN(self)       (W(self)->srv->in)

static int w_file_open(void *self, const char *path, int flags, fl_file **out)
{
    return FWD_FILE(IN(self)->ops->file_open(IN(self)->self, path, flags, out));
}
static int w_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    if (W(self)->dead && nread)
        *nread = 0;
    return FWD_FILE(IN(self)->ops->file_read(IN(self)->self, f, off, buf, len, nread));
}
static int w_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    return FWD_FILE(IN(self)->ops->file_write(IN(self)->self, f, off, buf, len));
}
static int w_file_sync(void *self, fl_file *f)
{
    return FWD_FILE(IN(self)->ops->file_sync(IN(self)->self, f));
}
static int w_file_truncate(void *self, fl_file *f, uint64_t size)
{
    return FWD_FILE(IN(self)->ops->file_truncate(IN(self)->self, f, size));
}
static int w_file_size(void *self, fl_file *f, uint64_t *size)
{
    return FWD_FILE(IN(self)->ops->file_size(IN(self)->self, f, size));
}
/* Closing is allowed on a dead wrapper: it releases the descriptor, which
 * is all a crashed process's exit does (unsynced bytes stay in the cache). */
static void w_file_close(void *self, fl_file *f)
{
    IN(self)->ops->file_close(IN(self)->self, f);
}
static int w_file_unlink(void *self, const char *path)
{
    return FWD_FILE(IN(self)->ops->file_unlink(IN(self)->self, path));
}
static int w_file_rename(void *self, const char *from, const char *to)
{
    return FWD_FILE(IN(self)->ops->file_rename(IN(self)->self, from, to));
}
static int w_dir_create(void *self, const char *path)
{
    return FWD_FILE(IN(self)->ops->dir_create(IN(self)->self, path));
}
static int w_dir_sync(void *self, const char *path)
{
    return FWD_FILE(IN(self)->ops->dir_sync(IN(self)->self, path));
}
static int w_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    return FWD_FILE(IN(self)->ops->dir_list(IN(self)->self, path, fn, arg));
}

static void w_trace(void *self, const char *source, const char *event, const char *fields_json)
{
    if (!W(self)->dead)
        on_trace(W(self)->srv, source, event, fields_json);
}

static const fl_runtime_ops srt_ops = {
    FL_RUNTIME_OPS_VERSION,
    "serve",
    w_now,
    w_random,
    w_timer_start,
    w_timer_cancel,
    w_connect,
    w_send,
    w_close,
    w_file_open,
    w_file_read,
    w_file_write,
    w_file_sync,
    w_file_truncate,
    w_file_size,
    w_file_close,
    w_file_unlink,
    w_file_rename,
    w_dir_create,
    w_dir_sync,
    w_dir_list,
    w_trace,
};

static srt *srt_new(server *s)
{
    srt *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->srv = s;
    w->rt = (fl_runtime){&srt_ops, w};
    return w;
}

/* The crash: cancel every timer, close every connection, turn dead. */
static void srt_kill(srt *w)
{
    server *s = w->srv;
    while (w->timers) {
        srt_timer *t = w->timers;
        fl_rt_timer_cancel(s->in, t->id);
        timer_unlink(t);
        free(t);
    }
    sconn *c = s->conns;
    while (c) {
        sconn *next = c->next;
        if (c->w == w) {
            log_line(s, "conn closed peer=%s client=%s reason=broker_down", c->peer,
                     c->name[0] ? c->name : "-");
            s->in->ops->close(s->in->self, c->id);
            conn_unlink_free(c);
        }
        c = next;
    }
    w->dead = true;
}

/* ------------------------------------------------------------------ */
/* the instance                                                         */

/* The broker config: the file's broker (or the defaults, named "serve")
 * plus --topic topics, journaled; its replicate_to is not served. The topic
 * array lives in the server until exit. */
static int build_config(server *s, sim_broker_config *cfg)
{
    sim_broker_config init = SIM_BROKER_CONFIG_INIT;
    const sim_broker_config *fc = s->cfgfile ? sim_serve_config_broker(s->cfgfile) : NULL;
    size_t nft = fc ? fc->ntopics : 0, nt = nft + s->o.ntopics;
    if (!s->topics) {
        s->topics = calloc(nt + 1, sizeof *s->topics);
        if (!s->topics)
            return FL_E_NOMEM;
        for (size_t i = 0; i < nft; i++)
            s->topics[i] = fc->topics[i];
        for (size_t i = 0; i < s->o.ntopics; i++)
            s->topics[nft + i] = (sim_broker_topic){s->o.topics[i], true};
    }
    *cfg = fc ? *fc : init;
    if (!fc)
        cfg->name = "serve";
    cfg->topics = s->topics;
    cfg->ntopics = nt;
    cfg->replicate_to = NULL;
    cfg->nreplicas = 0;
    cfg->journal_dir = JOURNAL_DIR;
    cfg->trace_messages = s->trace != NULL;
    if (s->o.max_frame)
        cfg->max_frame = (uint32_t)s->o.max_frame;
    return 0;
}

static int start_instance(server *s, char *err, size_t cap)
{
    sim_broker_config cfg;
    int rc = build_config(s, &cfg);
    if (rc)
        return rc;
    srt *w = srt_new(s);
    if (!w)
        return FL_E_NOMEM;
    sim_broker *b = NULL;
    rc = sim_broker_new(&w->rt, &cfg, &b, err, cap);
    if (rc) {
        srt_kill(w);
        free(w);
        return rc;
    }
    s->w = w;
    s->b = b;
    s->down = false;
    s->incarnation++;
    return 0;
}

/* Crash: no teardown against the live runtime (see the design note). */
static void crash_instance(server *s)
{
    srt_kill(s->w);
    sim_broker_abandon(s->b);
    free(s->w);
    s->w = NULL;
    s->b = NULL;
    s->down = true;
}

/* Orderly: close sessions, sync and close the journal. */
static void stop_instance(server *s)
{
    if (!s->b)
        return;
    sim_broker_free(s->b);
    srt_kill(s->w);
    free(s->w);
    s->w = NULL;
    s->b = NULL;
    s->down = true;
}

static void restart_fn(void *arg)
{
    server *s = arg;
    char err[512] = "";
    s->restart_timer = 0;
    if (s->b)
        return;
    int rc = start_instance(s, err, sizeof err);
    if (rc)
        log_line(s, "restart failed: %s%s%s (the broker stays down; admin `restart` retries)",
                 fl_strerror(rc), err[0] ? ": " : "", err);
    else
        log_line(s, "broker restarted (incarnation %llu)", (unsigned long long)s->incarnation);
}

static int serve_accept(void *arg, fl_conn_id conn, const char *peer, const fl_conn_callbacks **cbs,
                        void **cbs_arg)
{
    server *s = arg;
    if (!s->b) {
        log_line(s, "conn refused peer=%s reason=broker_down", peer ? peer : "?");
        return FL_E_SHUTDOWN;
    }
    sconn *c = conn_new(s, s->w, conn, peer);
    if (!c)
        return FL_E_NOMEM;
    int rc = sim_broker_accept(s->b, conn, peer, &c->cbs, &c->arg);
    if (rc) {
        conn_unlink_free(c);
        return rc;
    }
    log_line(s, "conn accepted peer=%s", c->peer);
    *cbs = &tramp_cbs;
    *cbs_arg = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* stall                                                                */

static sconn *conn_by_name(server *s, const char *name)
{
    /* newest first: the list is kept newest first */
    for (sconn *c = s->conns; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void stall_end(sconn *c)
{
    server *s = c->srv;
    if (!c->stalled)
        return;
    c->stalled = false;
    s->nstalled--;
    fl_rt_timer_cancel(s->in, c->stall_timer);
    c->stall_timer = 0;
    log_line(s, "stall ended client=%s (held in %zu bytes, out %zu bytes)", c->name, c->in_hold.len,
             c->out_hold.len);
    if (c->out_hold.len)
        s->in->ops->send(s->in->self, c->id, c->out_hold.data, c->out_hold.len);
    fl_buf_free(&c->out_hold);
    if (c->in_hold.len == 0)
        return;
    fl_buf h = c->in_hold;
    fl_buf_init(&c->in_hold);
    s->current = c;
    c->cbs->data(c->arg, c->id, h.data, h.len); /* may free c */
    s->current = NULL;
    fl_buf_free(&h);
}

static void stall_timer_fn(void *arg)
{
    sconn *c = arg;
    c->stall_timer = 0;
    stall_end(c);
}

/* ------------------------------------------------------------------ */
/* admin commands                                                       */

typedef struct reply {
    char text[1024];
    bool close;
} reply;

static void ok(reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(reply *r, const char *fmt, ...)
{
    int n = snprintf(r->text, sizeof r->text, "ok%s", fmt[0] ? " " : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text + n, sizeof r->text - (size_t)n, fmt, ap);
    va_end(ap);
}

static void fail(reply *r, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(reply *r, const char *kind, const char *fmt, ...)
{
    int n = snprintf(r->text, sizeof r->text, "error %s: ", kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text + n, sizeof r->text - (size_t)n, fmt, ap);
    va_end(ap);
}

static const char admin_help[] =
    "commands: status | cut CLIENT | stall CLIENT [DURATION] | unstall CLIENT | "
    "crash [DOWN|never] | power-loss [DOWN|never] | restart | advance DURATION | retention | "
    "drop-acks CLIENT COUNT | help";

static bool need_up(server *s, reply *r)
{
    if (s->b)
        return true;
    fail(r, "state", "the broker is down (restart it with `restart`)");
    return false;
}

static void cmd_status(server *s, reply *r)
{
    if (!s->b) {
        ok(r, "down incarnation=%llu restart=%s", (unsigned long long)s->incarnation,
           s->restart_timer ? "pending" : "manual");
        return;
    }
    sim_broker_counters k;
    sim_broker_get_counters(s->b, &k);
    const sim_journal *j = sim_broker_journal(s->b);
    char clients[512] = "";
    size_t n = 0;
    for (sconn *c = s->conns; c && n < sizeof clients; c = c->next)
        if (c->name[0])
            n += (size_t)snprintf(clients + n, sizeof clients - n, "%s%s%s", n ? "," : "", c->name,
                                  c->stalled ? "(stalled)" : "");
    ok(r,
       "up broker=%s incarnation=%llu clients=%s journal_messages=%zu next_recno=%llu "
       "durable_recno=%llu publishes=%llu duplicates=%llu persisted_acks=%llu deliveries=%llu "
       "clock_offset_us=%llu",
       sim_broker_name(s->b), (unsigned long long)s->incarnation, clients[0] ? clients : "-",
       sim_journal_count(j), (unsigned long long)sim_journal_next_recno(j),
       (unsigned long long)sim_journal_durable_recno(j), (unsigned long long)k.publishes,
       (unsigned long long)k.duplicates, (unsigned long long)k.persisted_acks,
       (unsigned long long)k.deliveries, (unsigned long long)s->clock_offset_us);
}

static void cmd_crash(server *s, reply *r, const char *down, bool power)
{
    uint64_t down_us = 0;
    bool never = down && strcmp(down, "never") == 0;
    if (down && !never && sim_parse_duration(down, &down_us) != 0) {
        fail(r, "usage", "bad duration \"%s\" (e.g. 500ms, 2s)", down);
        return;
    }
    if (!need_up(s, r))
        return;
    const sim_journal *j = sim_broker_journal(s->b);
    uint64_t next = sim_journal_next_recno(j), durable = sim_journal_durable_recno(j);
    uint64_t unsynced = next > durable + 1 ? next - durable - 1 : 0;
    log_line(s, "%s: broker crashed by admin (%llu appended records not yet synced)",
             power ? "power-loss" : "crash", (unsigned long long)unsynced);
    crash_instance(s);
    if (!never)
        fl_rt_timer_start(s->in, down_us, restart_fn, s, &s->restart_timer);
    char when[64] = "never (use restart)";
    if (!never)
        sim_format_duration(down_us, when, sizeof when);
    ok(r, "%s: broker down, restart in %s; %llu appended records were not yet synced%s",
       power ? "power-loss" : "crash", when, (unsigned long long)unsynced,
       power ? " (real files: power loss is served as a process crash, the page cache keeps "
               "unsynced bytes)"
             : "");
}

static void cmd_restart(server *s, reply *r)
{
    if (s->b) {
        fail(r, "state", "the broker is up");
        return;
    }
    fl_rt_timer_cancel(s->in, s->restart_timer);
    s->restart_timer = 0;
    char err[512] = "";
    int rc = start_instance(s, err, sizeof err);
    if (rc) {
        fail(r, "restart", "%s%s%s", fl_strerror(rc), err[0] ? ": " : "", err);
        return;
    }
    log_line(s, "broker restarted by admin (incarnation %llu)", (unsigned long long)s->incarnation);
    ok(r, "restarted incarnation=%llu", (unsigned long long)s->incarnation);
}

static void cmd_retention(server *s, reply *r, const char *by)
{
    uint64_t d = 0;
    if (by && sim_parse_duration(by, &d) != 0) {
        fail(r, "usage", "bad duration \"%s\" (e.g. 2h)", by);
        return;
    }
    if (!need_up(s, r))
        return;
    s->clock_offset_us += d;
    sim_broker_counters k0, k1;
    sim_broker_get_counters(s->b, &k0);
    int rc = sim_broker_run_retention(s->b);
    sim_broker_get_counters(s->b, &k1);
    if (rc) {
        fail(r, "retention", "%s", fl_strerror(rc));
        return;
    }
    ok(r, "clock_offset_us=%llu retention_removed=%llu journal_messages=%zu",
       (unsigned long long)s->clock_offset_us,
       (unsigned long long)(k1.retention_removed - k0.retention_removed),
       sim_journal_count(sim_broker_journal(s->b)));
}

static void cmd_stall(server *s, reply *r, const char *client, const char *dur, bool start)
{
    uint64_t d = 0;
    if (dur && sim_parse_duration(dur, &d) != 0) {
        fail(r, "usage", "bad duration \"%s\"", dur);
        return;
    }
    if (!need_up(s, r))
        return;
    sconn *c = conn_by_name(s, client);
    if (!c) {
        fail(r, "not_found", "no connection of client \"%s\"", client);
        return;
    }
    if (!start) {
        if (!c->stalled) {
            fail(r, "state", "client \"%s\" is not stalled", client);
            return;
        }
        stall_end(c);
        ok(r, "unstalled %s", client);
        return;
    }
    if (c->stalled) {
        fail(r, "state", "client \"%s\" is already stalled", client);
        return;
    }
    c->stalled = true;
    s->nstalled++;
    if (d)
        fl_rt_timer_start(s->in, d, stall_timer_fn, c, &c->stall_timer);
    log_line(s, "stall client=%s peer=%s for=%s", client, c->peer, dur ? dur : "until unstall");
    ok(r, "stalled %s %s", client, dur ? dur : "until unstall or disconnect");
}

static void cmd_cut(server *s, reply *r, const char *client)
{
    if (!need_up(s, r))
        return;
    int rc = sim_broker_cut_client(s->b, client);
    if (rc == FL_E_NOT_FOUND) {
        fail(r, "not_found", "no session of client \"%s\"", client);
        return;
    }
    if (rc) {
        fail(r, "cut", "%s", fl_strerror(rc));
        return;
    }
    log_line(s, "cut client=%s by admin", client);
    ok(r, "cut %s", client);
}

static void cmd_drop_acks(server *s, reply *r, const char *client, const char *count)
{
    char *end = NULL;
    unsigned long n = strtoul(count, &end, 10);
    if (!*count || *end || n == 0 || n > UINT32_MAX) {
        fail(r, "usage", "drop-acks CLIENT COUNT (COUNT a positive integer)");
        return;
    }
    if (!need_up(s, r))
        return;
    int rc = sim_broker_drop_acks(s->b, client, FL_ACK_PERSISTED, (uint32_t)n, 0);
    if (rc) {
        fail(r, "drop-acks", "%s", fl_strerror(rc));
        return;
    }
    ok(r, "dropping the next %lu persisted acks to %s", n, client);
}

/* Equal-time token comparison. */
static bool token_ok(const char *want, const char *got)
{
    size_t lw = strlen(want), lg = strlen(got);
    unsigned diff = (unsigned)(lw ^ lg);
    for (size_t i = 0; i < lw; i++)
        diff |= (unsigned)(want[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

#define ADMIN_MAX_ARGS 8

static void admin_command(server *s, char *line, reply *r)
{
    char *argv[ADMIN_MAX_ARGS + 1];
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (argc == ADMIN_MAX_ARGS) {
            fail(r, "usage", "too many words");
            return;
        }
        argv[argc++] = t;
    }
    if (argc == 0 || !token_ok(s->token, argv[0])) {
        fail(r, "auth", "bad token");
        r->close = true;
        return;
    }
    if (argc < 2) {
        fail(r, "usage", "no command; %s", admin_help);
        return;
    }
    const char *cmd = argv[1], *a1 = argc > 2 ? argv[2] : NULL, *a2 = argc > 3 ? argv[3] : NULL;
    int nargs = argc - 2;
    if (strcmp(cmd, "help") == 0 && nargs == 0)
        ok(r, "%s", admin_help);
    else if (strcmp(cmd, "status") == 0 && nargs == 0)
        cmd_status(s, r);
    else if (strcmp(cmd, "cut") == 0 && nargs == 1)
        cmd_cut(s, r, a1);
    else if (strcmp(cmd, "stall") == 0 && (nargs == 1 || nargs == 2))
        cmd_stall(s, r, a1, a2, true);
    else if (strcmp(cmd, "unstall") == 0 && nargs == 1)
        cmd_stall(s, r, a1, NULL, false);
    else if (strcmp(cmd, "crash") == 0 && nargs <= 1)
        cmd_crash(s, r, a1, false);
    else if (strcmp(cmd, "power-loss") == 0 && nargs <= 1)
        cmd_crash(s, r, a1, true);
    else if (strcmp(cmd, "restart") == 0 && nargs == 0)
        cmd_restart(s, r);
    else if (strcmp(cmd, "advance") == 0 && nargs == 1)
        cmd_retention(s, r, a1);
    else if (strcmp(cmd, "retention") == 0 && nargs == 0)
        cmd_retention(s, r, NULL);
    else if (strcmp(cmd, "drop-acks") == 0 && nargs == 2)
        cmd_drop_acks(s, r, a1, a2);
    else
        fail(r, "usage", "unknown command or wrong arguments \"%s\"; %s", cmd, admin_help);
}

static void admin_free(admin_conn *a)
{
    server *s = a->srv;
    if (a->prev)
        a->prev->next = a->next;
    else
        s->admins = a->next;
    if (a->next)
        a->next->prev = a->prev;
    fl_rt_timer_cancel(s->in, a->close_timer);
    fl_buf_free(&a->rx);
    free(a);
}

static void admin_send(admin_conn *a, const char *text)
{
    server *s = a->srv;
    s->in->ops->send(s->in->self, a->id, text, strlen(text));
    s->in->ops->send(s->in->self, a->id, "\n", 1);
}

static void admin_close_fn(void *arg)
{
    admin_conn *a = arg;
    a->srv->in->ops->close(a->srv->in->self, a->id);
    admin_free(a);
}

static void admin_data(void *arg, fl_conn_id id, const uint8_t *buf, size_t len)
{
    admin_conn *a = arg;
    server *s = a->srv;
    (void)id;
    if (a->closed)
        return;
    if (fl_buf_append(&a->rx, buf, len) != 0) {
        admin_send(a, "error nomem: out of memory");
        a->closed = true;
    }
    while (!a->closed) {
        uint8_t *nl = memchr(a->rx.data, '\n', a->rx.len);
        if (!nl) {
            if (a->rx.len > ADMIN_LINE_MAX) {
                admin_send(a, "error usage: line longer than 4096 bytes");
                a->closed = true;
            }
            break;
        }
        size_t n = (size_t)(nl - a->rx.data);
        char line[ADMIN_LINE_MAX + 1];
        if (n > ADMIN_LINE_MAX) {
            admin_send(a, "error usage: line longer than 4096 bytes");
            a->closed = true;
            break;
        }
        memcpy(line, a->rx.data, n);
        line[n] = '\0';
        fl_buf_consume(&a->rx, n + 1);
        char words[ADMIN_LINE_MAX + 1];
        const char *sp = strpbrk(line, " \t");
        snprintf(words, sizeof words, "%s", sp ? sp + strspn(sp, " \t") : "");
        reply r = {"", false};
        admin_command(s, line, &r);
        log_line(s, "admin %s -> %s", words[0] ? words : "(no command)", r.text);
        admin_send(a, r.text);
        a->closed = r.close;
    }
    if (a->closed) /* let the reply go out first: close() discards unsent bytes */
        fl_rt_timer_start(s->in, ADMIN_CLOSE_DELAY_US, admin_close_fn, a, &a->close_timer);
}

static void admin_closed(void *arg, fl_conn_id id, int reason)
{
    (void)id;
    (void)reason;
    admin_free(arg);
}

static const fl_conn_callbacks admin_cbs = {NULL, admin_data, admin_closed};

static int admin_accept(void *arg, fl_conn_id conn, const char *peer, const fl_conn_callbacks **cbs,
                        void **cbs_arg)
{
    server *s = arg;
    (void)peer;
    admin_conn *a = calloc(1, sizeof *a);
    if (!a)
        return FL_E_NOMEM;
    a->srv = s;
    a->id = conn;
    a->next = s->admins;
    if (s->admins)
        s->admins->prev = a;
    s->admins = a;
    *cbs = &admin_cbs;
    *cbs_arg = a;
    return 0;
}

/* ------------------------------------------------------------------ */
/* command line                                                         */

static const char usage_serve[] =
    "usage: faultline serve [--listen ADDR] [--config FILE] [--data-dir DIR] [options]\n"
    "\n"
    "Serves the simulated broker (the same code as in `faultline run`) over real\n"
    "TCP, in real time, with its journal on real files under DIR/journal.\n"
    "Clients speak the faultline wire protocol (the reference client, the\n"
    "examples in client/examples/). Status lines (one per connection event,\n"
    "logon, recovery, admin command) go to stdout; SIGINT/SIGTERM shut down in\n"
    "order (sessions closed, journal synced).\n"
    "\n"
    "options:\n"
    "  --listen ADDR        client address (default " DEFAULT_LISTEN "; port 0 picks one)\n"
    "  --allow-remote       allow a non-loopback --listen address\n"
    "  --config FILE        broker settings: a scenario file or {\"brokers\": {NAME: {...}}}\n"
    "                       (scenario broker keys: topics, journal.*, ack_interval,\n"
    "                       heartbeat, expired_bookmark, credentials, duplicate_logon;\n"
    "                       replicate_to is not served)\n"
    "  --broker NAME        which broker of the config file (default: its only one)\n"
    "  --topic NAME         journal this topic too (repeatable; without --config and\n"
    "                       --topic the topic \"" DEFAULT_TOPIC "\" is journaled)\n"
    "  --data-dir DIR       where the journal lives (default " DEFAULT_DATA_DIR ")\n"
    "  --max-frame SIZE     largest frame accepted (default 16MiB); a bigger or\n"
    "                       malformed frame closes that connection, logged\n"
    "  --admin-listen ADDR  admin address, loopback only (default " DEFAULT_ADMIN ")\n"
    "  --token TOKEN        admin token (default: random, printed at start)\n"
    "  --ready-file FILE    once listening, write port=, admin_port=, token= lines\n"
    "  --trace FILE         write every broker trace event as JSON lines\n"
    "  --quiet              no status lines\n"
    "  --help               this text\n"
    "\n"
    "admin commands (faultline admin --port P --token T COMMAND...):\n"
    "  status                   state, sessions, journal and counters\n"
    "  cut CLIENT               close the client's session (it reconnects)\n"
    "  stall CLIENT [DURATION]  hold the connection's bytes both ways (a black hole)\n"
    "                           until DURATION passed, unstall, or the session dies\n"
    "  unstall CLIENT           release a stall\n"
    "  crash [DOWN|never]       process crash of the broker: sessions dropped, no\n"
    "                           teardown; restart after DOWN (default 0s) by\n"
    "                           recovering the journal files\n"
    "  power-loss [DOWN|never]  served as crash: real files keep the page cache, so\n"
    "                           unsynced bytes survive (the reply counts them)\n"
    "  restart                  start a broker that is down now\n"
    "  advance DURATION         move the broker's clock forward, then run retention\n"
    "  retention                run retention now\n"
    "  drop-acks CLIENT COUNT   drop the next COUNT persisted acks to CLIENT\n";

static const char usage_admin[] =
    "usage: faultline admin --port PORT [--token TOKEN] [--host HOST] [--timeout DURATION]\n"
    "                       COMMAND [ARG...]\n"
    "\n"
    "Sends one admin command to a running `faultline serve` and prints its reply.\n"
    "The token is the one `serve` printed at start (or FAULTLINE_ADMIN_TOKEN).\n"
    "Commands: status, cut CLIENT, stall CLIENT [DURATION], unstall CLIENT,\n"
    "crash [DOWN|never], power-loss [DOWN|never], restart, advance DURATION,\n"
    "retention, drop-acks CLIENT COUNT, help (faultline serve --help says more).\n"
    "\n"
    "options:\n"
    "  --port PORT          the admin port (required)\n"
    "  --host HOST          default 127.0.0.1\n"
    "  --token TOKEN        default $FAULTLINE_ADMIN_TOKEN\n"
    "  --timeout DURATION   bound on connect + reply (default 5s)\n"
    "\n"
    "exit status: 0 the server replied ok, 1 it replied with an error, 2 bad usage\n"
    "or no reply.\n";

/* "--name VALUE" or "--name=VALUE": *val set, *i advanced. */
static bool opt_val(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *val = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *val = NULL;
        return true;
    }
    *val = argv[++*i];
    return true;
}

/* The host part of "host:port" / "[v6]:port" is loopback. */
static bool addr_is_loopback(const char *addr)
{
    char host[256];
    const char *end;
    if (addr[0] == '[') {
        end = strchr(addr, ']');
        addr++;
    } else {
        end = strrchr(addr, ':');
    }
    if (!end || (size_t)(end - addr) >= sizeof host)
        return false;
    memcpy(host, addr, (size_t)(end - addr));
    host[end - addr] = '\0';
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

/* "host" of "host:port" ("[v6]" kept bracketed). */
static void host_of(const char *addr, char *out, size_t cap)
{
    const char *c = addr[0] == '[' ? strchr(addr, ']') : strrchr(addr, ':');
    size_t n = c ? (size_t)(c - addr) + (addr[0] == '[') : strlen(addr);
    snprintf(out, cap, "%.*s", (int)n, addr);
}

static int parse_serve_args(int argc, char **argv, serve_opts *o, bool *help)
{
    *o = (serve_opts){
        .listen = DEFAULT_LISTEN, .admin_listen = DEFAULT_ADMIN, .data_dir = DEFAULT_DATA_DIR};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            return 0;
        } else if (strcmp(a, "--allow-remote") == 0) {
            o->allow_remote = true;
            continue;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        } else if (opt_val(argc, argv, &i, "--listen", &v)) {
            o->listen = v;
        } else if (opt_val(argc, argv, &i, "--admin-listen", &v)) {
            o->admin_listen = v;
        } else if (opt_val(argc, argv, &i, "--config", &v)) {
            o->config = v;
        } else if (opt_val(argc, argv, &i, "--broker", &v)) {
            o->broker = v;
        } else if (opt_val(argc, argv, &i, "--data-dir", &v)) {
            o->data_dir = v;
        } else if (opt_val(argc, argv, &i, "--token", &v)) {
            o->token = v;
        } else if (opt_val(argc, argv, &i, "--ready-file", &v)) {
            o->ready_file = v;
        } else if (opt_val(argc, argv, &i, "--trace", &v)) {
            o->trace_file = v;
        } else if (opt_val(argc, argv, &i, "--topic", &v)) {
            if (v && o->ntopics == MAX_TOPICS_ARGS) {
                fprintf(stderr, "faultline serve: at most %d --topic\n", MAX_TOPICS_ARGS);
                return FL_E_INVAL;
            }
            if (v)
                o->topics[o->ntopics++] = v;
        } else if (opt_val(argc, argv, &i, "--max-frame", &v)) {
            char *end = NULL;
            if (v && sim_parse_size(v, &o->max_frame) != 0) {
                o->max_frame = strtoull(v, &end, 10);
                if (!*v || *end)
                    o->max_frame = 0;
            }
            if (v && (o->max_frame < 64 || o->max_frame > UINT32_MAX)) {
                fprintf(stderr, "faultline serve: --max-frame %s: not a size in [64B, 4GiB)\n", v);
                return FL_E_INVAL;
            }
        } else {
            fprintf(stderr, "faultline serve: unknown option \"%s\" (see --help)\n", a);
            return FL_E_INVAL;
        }
        if (!v || !*v) {
            fprintf(stderr, "faultline serve: %s needs a value\n", a);
            return FL_E_INVAL;
        }
    }
    if (!o->allow_remote && !addr_is_loopback(o->listen)) {
        fprintf(stderr,
                "faultline serve: --listen %s is not a loopback address; add --allow-remote to "
                "serve it (the broker has no TLS)\n",
                o->listen);
        return FL_E_INVAL;
    }
    if (!addr_is_loopback(o->admin_listen)) {
        fprintf(stderr, "faultline serve: --admin-listen %s must be a loopback address\n",
                o->admin_listen);
        return FL_E_INVAL;
    }
    if (o->token && (strlen(o->token) > 256 || strpbrk(o->token, " \t\r\n"))) {
        fprintf(stderr, "faultline serve: --token must be 1..256 bytes without spaces\n");
        return FL_E_INVAL;
    }
    return 0;
}

static void make_token(server *s)
{
    if (s->o.token) {
        snprintf(s->token, sizeof s->token, "%s", s->o.token);
        return;
    }
    uint8_t r[ADMIN_TOKEN_BYTES];
    for (size_t i = 0; i < sizeof r; i += 8) {
        uint64_t v = fl_rt_random(s->in); /* the libevent runtime seeds from the OS */
        memcpy(r + i, &v, 8);
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(s->token + 2 * i, 3, "%02x", r[i]);
}

static int write_ready_file(server *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->o.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return FL_E_IO;
    fprintf(f, "port=%u\nadmin_port=%u\ntoken=%s\npid=%ld\n", s->port, s->admin_port, s->token,
            (long)getpid());
    if (fclose(f) != 0 || rename(tmp, s->o.ready_file) != 0)
        return FL_E_IO;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    (void)what;
    log_line(s, "signal %d: shutting down", (int)sig);
    event_base_loopbreak(s->base);
}

static int serve_setup(server *s, char *err, size_t cap)
{
    fl_rt_libevent_options lo = FL_RT_LIBEVENT_OPTIONS_INIT;
    lo.data_dir = s->o.data_dir;
    int rc = fl_rt_libevent_new(s->base, &lo, &s->le);
    if (rc) {
        snprintf(err, cap, "data dir %s: %s", s->o.data_dir, fl_strerror(rc));
        return rc;
    }
    s->in = fl_rt_libevent_runtime(s->le);
    make_token(s);
    const sim_broker_config *fc = s->cfgfile ? sim_serve_config_broker(s->cfgfile) : NULL;
    for (size_t i = 0; fc && i < fc->nreplicas; i++)
        log_line(s, "note: replicate_to %s is not served (one instance per process)",
                 fc->replicate_to[i].broker);
    rc = start_instance(s, err, cap);
    if (rc) {
        if (!err[0])
            snprintf(err, cap, "broker start: %s", fl_strerror(rc));
        return rc;
    }
    rc = fl_rt_libevent_listen(s->le, s->o.listen, serve_accept, s, &s->port);
    if (rc) {
        snprintf(err, cap, "listen %s: %s", s->o.listen, fl_strerror(rc));
        return rc;
    }
    rc = fl_rt_libevent_listen(s->le, s->o.admin_listen, admin_accept, s, &s->admin_port);
    if (rc) {
        snprintf(err, cap, "admin listen %s: %s", s->o.admin_listen, fl_strerror(rc));
        return rc;
    }
    return 0;
}

static void serve_teardown(server *s)
{
    stop_instance(s);
    if (s->le)
        fl_rt_libevent_free(s->le); /* closes admin connections and listeners */
    while (s->admins)
        admin_free(s->admins);
    while (s->conns) /* none left after stop_instance; defensive */
        conn_unlink_free(s->conns);
    if (s->trace)
        fclose(s->trace);
    free(s->topics);
    sim_serve_config_free(s->cfgfile);
}

int sim_serve_main(int argc, char **argv)
{
    server s = {0};
    bool help = false;
    if (parse_serve_args(argc, argv, &s.o, &help) != 0)
        return 2;
    if (help) {
        fputs(usage_serve, stdout);
        return 0;
    }
    char err[1024] = "";
    if (s.o.config) {
        int rc = sim_serve_config_load(s.o.config, s.o.broker, &s.cfgfile, err, sizeof err);
        if (rc) {
            fprintf(stderr, "faultline serve: %s\n", err[0] ? err : fl_strerror(rc));
            return 2;
        }
    }
    if (!s.o.config && s.o.ntopics == 0)
        s.o.topics[s.o.ntopics++] = DEFAULT_TOPIC;
    if (s.o.trace_file && !(s.trace = fopen(s.o.trace_file, "w"))) {
        fprintf(stderr, "faultline serve: --trace %s: %s\n", s.o.trace_file, strerror(errno));
        serve_teardown(&s);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    if (!s.base) {
        fprintf(stderr, "faultline serve: cannot create the event loop\n");
        serve_teardown(&s);
        return 1;
    }
    int rc = serve_setup(&s, err, sizeof err);
    struct event *sigint = NULL, *sigterm = NULL;
    if (rc == 0) {
        sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
        sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
        if (!sigint || !sigterm || event_add(sigint, NULL) || event_add(sigterm, NULL)) {
            snprintf(err, sizeof err, "cannot install signal handlers");
            rc = FL_E_NOMEM;
        }
    }
    if (rc == 0 && s.o.ready_file && write_ready_file(&s) != 0) {
        snprintf(err, sizeof err, "--ready-file %s: cannot write", s.o.ready_file);
        rc = FL_E_IO;
    }
    if (rc) {
        fprintf(stderr, "faultline serve: %s\n", err);
    } else {
        char host[300], ahost[300];
        host_of(s.o.listen, host, sizeof host);
        host_of(s.o.admin_listen, ahost, sizeof ahost);
        printf("faultline serve: broker %s listening on %s:%u, data dir %s\n", sim_broker_name(s.b),
               host, s.port, s.o.data_dir);
        printf("faultline serve: admin on %s:%u token %s\n", ahost, s.admin_port, s.token);
        fflush(stdout);
        event_base_dispatch(s.base);
        log_line(&s, "shutdown: closing sessions, syncing the journal");
    }
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    serve_teardown(&s);
    event_base_free(s.base);
    if (rc == 0) {
        printf("faultline serve: stopped\n");
        fflush(stdout);
    }
    return rc ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* faultline admin                                                      */

static int admin_connect(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0) {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int admin_roundtrip(int fd, const char *line, char *out, size_t cap)
{
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = recv(fd, out + got, 1, 0);
        if (r <= 0)
            break;
        if (out[got] == '\n')
            break;
        got++;
    }
    out[got] = '\0';
    return got > 0 ? 0 : -1;
}

int sim_admin_main(int argc, char **argv)
{
    const char *port = NULL, *host = "127.0.0.1", *token = getenv("FAULTLINE_ADMIN_TOKEN");
    uint64_t timeout_us = 5000000;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *v = NULL, *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            fputs(usage_admin, stdout);
            return 0;
        } else if (opt_val(argc, argv, &i, "--port", &v)) {
            port = v;
        } else if (opt_val(argc, argv, &i, "--host", &v)) {
            host = v;
        } else if (opt_val(argc, argv, &i, "--token", &v)) {
            token = v;
        } else if (opt_val(argc, argv, &i, "--timeout", &v)) {
            if (v && (sim_parse_duration(v, &timeout_us) != 0 || timeout_us < 1000)) {
                fprintf(stderr, "faultline admin: --timeout %s: not a duration >= 1ms\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "faultline admin: unknown option \"%s\" (see --help)\n", a);
            return 2;
        }
        if (!v || !*v) {
            fprintf(stderr, "faultline admin: %s needs a value\n", a);
            return 2;
        }
    }
    if (!port || !token || !*token || i >= argc) {
        fprintf(stderr, "faultline admin: %s\n%s",
                !port    ? "--port is required"
                : !token ? "--token (or FAULTLINE_ADMIN_TOKEN) is required"
                         : "no command",
                usage_admin);
        return 2;
    }
    char line[ADMIN_LINE_MAX + 2];
    size_t n = (size_t)snprintf(line, sizeof line, "%s", token);
    for (; i < argc && n < sizeof line; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, " %s", argv[i]);
    if (n + 1 >= sizeof line) {
        fprintf(stderr, "faultline admin: command too long\n");
        return 2;
    }
    line[n++] = '\n';
    line[n] = '\0';
    int ms = (int)(timeout_us / 1000 > INT32_MAX ? INT32_MAX : timeout_us / 1000);
    int fd = admin_connect(host, port, ms);
    if (fd < 0) {
        fprintf(stderr, "faultline admin: cannot connect to %s port %s: %s\n", host, port,
                strerror(errno));
        return 2;
    }
    char answer[2048];
    int rc = admin_roundtrip(fd, line, answer, sizeof answer);
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "faultline admin: no reply from %s port %s\n", host, port);
        return 2;
    }
    bool is_ok = strncmp(answer, "ok", 2) == 0 && (answer[2] == '\0' || answer[2] == ' ');
    fprintf(is_ok ? stdout : stderr, "%s\n", answer);
    return is_ok ? 0 : 1;
}
