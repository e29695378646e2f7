/* The reference HA client: reconnect state machine, publish path and
 * subscription manager (public API in faultline/client.h).
 *
 * Design note: the reconnect state machine
 * ----------------------------------------
 * `phase` is the client's internal position; the public state (what the
 * state callback last said) follows it.
 *
 *   IDLE ──connect()──► WAIT ──delay timer──► CONNECTING ──opened──► LOGON
 *    ▲                   ▲ │                     │ refused/timeout     │ logon ack ok
 *    │ disconnect()      │ │ chooser empty,      ▼                     ▼
 *    │                   │ │ delay refuses  attempt_failed ◄──── SESSION (republish,
 *    │                   │ ▼                (report_failure)     heartbeats, resubscribe)
 *    │                   │ GAVE_UP ◄── connection_timeout            │ closed / idle
 *    │                   └──────────────── loop_next ◄── session_lost (no chooser report)
 *
 * - Only one reconnect runs at a time: there is one connection, one delay
 *   timer and one attempt timer; every way into the loop goes through
 *   loop_next(), which first tears the old connection down.
 * - loop_next(): chooser URI (none: give up with get_error()) -> delay
 *   strategy wait (refusal: give up) -> timer -> connect. The first attempt
 *   is also driven by a timer, so no callback runs inside fl_client_connect.
 * - A failure before the logon ack (refused, attempt timeout, logon
 *   refused, auth failure, connection lost) is reported to the chooser,
 *   which advances; a lost session is not, so the same server is retried
 *   first.
 * - On the logon ack: stop the connection_timeout timer, report_success,
 *   discard the publish store up to the ack's sequence, next sequence =
 *   max(next, ack + 1), republish the rest in order, start heartbeats,
 *   re-enter subscriptions, and arm the stability timer (stable_after,
 *   default 1 s). The whole sequence runs inside the logon ack's handling.
 * - The delay strategy is reset only when the session has proven stable:
 *   the stability timer fired with the session still up (stable_after 0:
 *   at once, at the logon ack). DEVIATION FROM AMPS: the reference client
 *   resets its delay strategy on every successful logon, so a broker that
 *   accepts logons and drops each session right after (a poisoned journal,
 *   a failing entitlement check, a full disk) is retried with no delay at
 *   all -- a hot loop of connect/logon/close. Here such a flapping session
 *   counts as one more attempt of the same reconnect sequence: the next
 *   wait comes from the strategy's running state (fixed: its delay;
 *   exponential: the growing backoff; max_total_us keeps counting), so a
 *   flapping server is retried at the strategy's pace. A session lost after
 *   stable_after restarts with a fresh strategy (first wait 0), as before.
 *   The chooser still hears report_success at the logon ack, so it does
 *   not advance on a flap; a custom chooser can count flaps.
 * - connection_timeout is armed when the loop starts from a connected or
 *   idle state and cancelled by a logon; when it fires the loop gives up.
 * - Re-entrancy: callbacks may call back into the client (disconnect,
 *   unsubscribe, publish). Every step that runs a callback and then goes on
 *   compares `gen` (bumped whenever the connection is torn down) before and
 *   after, and stops if it changed. The receive buffer keeps its memory
 *   across teardown, so frame slices stay readable until the handler
 *   returns.
 *
 * Publish path: store -> send when a session is up. Persisted acks discard
 * up to their sequence. Failure acks go to the failed-write callback with
 * the stored message; the sequence joins a `failed` list and leaves the
 * store once it is the lowest stored sequence (so a failure ack never
 * discards an earlier message that is not yet persisted); republish skips
 * failed sequences.
 *
 * Subscription manager: subscriptions in creation order. Resume text is
 * computed at each (re)subscribe: live -> none; bookmark -> the store's
 * most_recent when it knows the sub id (else the original text, "recent"
 * meaning "0"); ranges -> "(" + most_recent + ":" + original end. On a
 * bookmark_expired subscribe failure the gap callback always runs; FAIL
 * drops the subscription with an error, EPOCH/NOW purge the sub id from the
 * bookmark store (its old points would pin the resume point to the expired
 * position) and resubscribe from "0" / "0|1|" (a range keeps its end).
 */
#include "faultline/client.h"

#include "faultline/bookmark.h"
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255
#define TRACE_MAX    768

typedef enum phase {
    PH_IDLE = 0,
    PH_WAIT,
    PH_CONNECTING,
    PH_LOGON,
    PH_SESSION,
    PH_SHUTDOWN,
    PH_GAVE_UP,
} phase;

typedef enum sub_status {
    SUB_NEW = 0,   /* not sent on this session */
    SUB_SENT,      /* sent, no ack yet */
    SUB_ACTIVE,    /* subscribed ack */
    SUB_COMPLETED, /* range ended: never re-entered */
} sub_status;

/* A message held back by max_pending (one allocation). */
typedef struct held_msg {
    struct held_msg *next;
    fl_store_bookmark bm;
    char *topic;
    uint8_t *payload;
    size_t payload_len;
} held_msg;

typedef struct sub {
    uint64_t serial;
    char *sub_id;
    char *topic;
    char *bookmark;  /* original (or fallback) selector text; NULL: live */
    char *range_end; /* for ranges: ":" END and closing bracket */
    char *range_begin;
    char open_br; /* '[' or '(' */
    bool range;
    bool fell_back; /* a fallback was applied on this session */
    bool sent_once; /* subscribed at least once in this client's life */
    uint32_t options;
    uint32_t max_pending;
    int fallback;
    fl_message_fn fn;
    void *arg;
    sub_status status;
    char *last_sent; /* bookmark text of the last subscribe frame */
    uint32_t outstanding;
    held_msg *held_head, *held_tail;
    uint64_t held_count;
} sub;

/* A delivered message; `pub` first so a fl_message* maps back. */
typedef struct msg_obj {
    fl_message pub;
    uint64_t sub_serial;
    bool logged; /* logged to the bookmark store: discard marks it */
    struct msg_obj *prev, *next;
} msg_obj;

typedef struct flush_waiter {
    struct flush_waiter *next;
    fl_client *c;
    fl_flush_fn fn;
    void *arg;
    fl_timer_id timer;
    bool done;
    int result;
} flush_waiter;

struct fl_client {
    const fl_runtime *rt;
    char *name;
    char *trace_prefix; /* "\"client\":\"<name, JSON-escaped>\"", built once */
    size_t trace_prefix_len;
    fl_client_options o;

    const fl_pubstore_ops *pub_ops;
    void *pub;
    const fl_bmstore_ops *bm_ops;
    void *bm;
    fl_chooser chooser;
    fl_delay delay;

    phase ph;
    int state; /* last public state */
    uint64_t gen;
    fl_conn_id conn;
    char *uri;      /* URI of the current attempt/session */
    char *password; /* its password, NULL: none */

    fl_timer_id t_delay, t_attempt, t_conn_timeout, t_hb, t_idle, t_defer, t_stable;
    uint64_t stable_after_us; /* a session up this long resets the delay strategy */
    uint64_t last_rx_us;
    uint64_t loop_start_us;
    fl_buf rx, tx;

    uint64_t next_seq;
    uint64_t *failed; /* sorted failed sequences still in the store */
    size_t nfailed, capfailed;
    bool was_full;
    bool defer_full;
    bool defer_shutdown;
    bool defer_pump;
    uint64_t next_cmd_id;

    sub **subs;
    size_t nsubs, capsubs;
    uint64_t next_serial;
    msg_obj *msgs; /* outstanding delivered messages */
    flush_waiter *flushes;

    fl_client_stats st;
    char errtext[1024];
};

/* ---- small helpers ------------------------------------------------------- */

static char *dup_n(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static char *dup_s(const char *s)
{
    return s ? dup_n(s, strlen(s)) : NULL;
}

/* Write s as a JSON string body (without quotes) into out[cap]. */
static void json_esc(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (; s && *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

/* Whether history events go anywhere: a runtime without a trace op (a
 * benchmark's, or one that does not log) makes tracing free -- callers that
 * escape strings for a trace skip that work too. */
static bool tracing(const fl_client *c)
{
    return c->rt->ops->trace != NULL;
}

/* Record a history event: fields are `"client":"<name>"` plus `fmt` (at
 * most TRACE_MAX - 1 bytes of it). Called for every publish, delivery and
 * discard, so it formats once, behind the prefix built at fl_client_new. */
__attribute__((format(printf, 3, 4))) static void trace(const fl_client *c, const char *event,
                                                        const char *fmt, ...)
{
    if (!tracing(c))
        return;
    char all[NAME_MAX_LEN * 2 + 32 + TRACE_MAX];
    size_t o = c->trace_prefix_len;
    memcpy(all, c->trace_prefix, o + 1);
    if (fmt) {
        all[o] = ',';
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(all + o + 1, TRACE_MAX, fmt, ap);
        va_end(ap);
        if (n <= 0)
            all[o] = '\0'; /* nothing to add: no comma */
    }
    fl_rt_trace(c->rt, "client", event, all);
}

/* Append s (n bytes) at out[*o], bounded by cap (keeping room for NUL). */
static void tput(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + n >= cap)
        n = *o + 1 < cap ? cap - *o - 1 : 0;
    memcpy(out + *o, s, n);
    *o += n;
}

static void tput_u64(char *out, size_t cap, size_t *o, uint64_t v)
{
    char tmp[20], dig[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dig[i] = tmp[n - 1 - i];
    tput(out, cap, o, dig, n);
}

/* The per-message traces (publish, deliver, discard) run for every message,
 * so they are assembled without printf: `"client":"<name>","<k1>":"<s1>",
 * "<k2>":<v2>,"<k3>":<v3>` -- the same bytes as trace() with the format
 * "\"k1\":\"%s\",\"k2\":%llu,\"k3\":%llu". s1 is JSON-escaped here. */
static void trace_msg(const fl_client *c, const char *event, const char *k1, const char *s1,
                      const char *k2, uint64_t v2, const char *k3, uint64_t v3)
{
    if (!tracing(c))
        return;
    char all[NAME_MAX_LEN * 2 + 32 + TRACE_MAX], esc[300];
    size_t o = 0, cap = sizeof all;
    json_esc(esc, sizeof esc, s1);
    tput(all, cap, &o, c->trace_prefix, c->trace_prefix_len);
    tput(all, cap, &o, ",\"", 2);
    tput(all, cap, &o, k1, strlen(k1));
    tput(all, cap, &o, "\":\"", 3);
    tput(all, cap, &o, esc, strlen(esc));
    tput(all, cap, &o, "\",\"", 3);
    tput(all, cap, &o, k2, strlen(k2));
    tput(all, cap, &o, "\":", 2);
    tput_u64(all, cap, &o, v2);
    tput(all, cap, &o, ",\"", 2);
    tput(all, cap, &o, k3, strlen(k3));
    tput(all, cap, &o, "\":", 2);
    tput_u64(all, cap, &o, v3);
    all[o] = '\0';
    fl_rt_trace(c->rt, "client", event, all);
}

/* The fixed part of every trace of this client. */
static char *make_trace_prefix(const char *name, size_t *len)
{
    char esc[NAME_MAX_LEN * 2 + 8];
    json_esc(esc, sizeof esc, name);
    size_t n = strlen("\"client\":\"\"") + strlen(esc);
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    snprintf(p, n + 1, "\"client\":\"%s\"", esc);
    *len = n;
    return p;
}

static uint64_t now_us(const fl_client *c)
{
    return fl_rt_now(c->rt);
}

static bool in_session(const fl_client *c)
{
    return c->ph == PH_SESSION && c->conn != 0;
}

static bool configurable(const fl_client *c)
{
    return c->ph == PH_IDLE || c->ph == PH_SHUTDOWN || c->ph == PH_GAVE_UP;
}

const char *fl_client_state_name(int state)
{
    switch (state) {
    case FL_CLIENT_DISCONNECTED:
        return "disconnected";
    case FL_CLIENT_CONNECTED:
        return "connected";
    case FL_CLIENT_LOGGED_ON:
        return "logged_on";
    case FL_CLIENT_PUBLISH_REPLAYED:
        return "publish_replayed";
    case FL_CLIENT_HEARTBEAT_INITIATED:
        return "heartbeat_initiated";
    case FL_CLIENT_RESUBSCRIBED:
        return "resubscribed";
    case FL_CLIENT_SHUT_DOWN:
        return "shut_down";
    case FL_CLIENT_GAVE_UP:
        return "gave_up";
    default:
        return "unknown";
    }
}

static const char *fallback_name(int p)
{
    switch (p) {
    case FL_FALLBACK_FAIL:
        return "fail";
    case FL_FALLBACK_EPOCH:
        return "epoch";
    case FL_FALLBACK_NOW:
        return "now";
    default:
        return "default";
    }
}

/* ---- callbacks to the application (all traced) ----------------------------- */

static void notify_state(fl_client *c, int st)
{
    c->state = st;
    trace(c, "state", "\"state\":\"%s\"", fl_client_state_name(st));
    if (c->o.cb.state)
        c->o.cb.state(c->o.cb.arg, c, st);
}

static void notify_error(fl_client *c, int err, const char *text)
{
    char t[512];
    json_esc(t, sizeof t, text);
    trace(c, "error", "\"err\":\"%s\",\"text\":\"%s\"", fl_err_name(err), t);
    if (c->o.cb.error)
        c->o.cb.error(c->o.cb.arg, c, err, text);
}

static void notify_capacity(fl_client *c, int event)
{
    uint64_t n = fl_client_unpersisted_count(c);
    trace(c, "capacity", "\"event\":\"%s\",\"unpersisted\":%llu",
          event == FL_CAPACITY_FULL ? "full" : "available", (unsigned long long)n);
    if (c->o.cb.capacity)
        c->o.cb.capacity(c->o.cb.arg, c, event, n);
}

/* ---- deferred notifications (never inside an API call) ------------------------ */

static void run_deferred(void *arg);

static void defer(fl_client *c)
{
    if (c->t_defer == 0 && fl_rt_timer_start(c->rt, 0, run_deferred, c, &c->t_defer) != 0)
        c->t_defer = 0;
}

static void flush_finish(fl_client *c, flush_waiter *w)
{
    flush_waiter **pp = &c->flushes;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
        *pp = w->next;
    fl_rt_timer_cancel(c->rt, w->timer);
    trace(c, "flush_done", "\"result\":\"%s\"", fl_err_name(w->result));
    fl_flush_fn fn = w->fn;
    void *arg = w->arg;
    int result = w->result;
    free(w);
    fn(arg, c, result);
}

/* Mark every waiting flush complete with `result`; they run deferred. */
static void flushes_complete(fl_client *c, int result)
{
    bool any = false;
    for (flush_waiter *w = c->flushes; w; w = w->next) {
        if (!w->done) {
            w->done = true;
            w->result = result;
            any = true;
        }
    }
    if (any)
        defer(c);
}

static void check_flushes(fl_client *c)
{
    if (c->flushes && fl_client_unpersisted_count(c) == 0)
        flushes_complete(c, 0);
}

static void pump_held(fl_client *c);

static void run_deferred(void *arg)
{
    fl_client *c = arg;
    c->t_defer = 0;
    if (c->defer_shutdown) {
        c->defer_shutdown = false;
        notify_state(c, FL_CLIENT_SHUT_DOWN);
    }
    if (c->defer_full) {
        c->defer_full = false;
        notify_capacity(c, FL_CAPACITY_FULL);
    }
    for (;;) {
        flush_waiter *w = c->flushes;
        while (w && !w->done)
            w = w->next;
        if (w == NULL)
            break;
        flush_finish(c, w);
    }
    if (c->defer_pump) {
        c->defer_pump = false;
        pump_held(c);
    }
}

/* ---- sending ---------------------------------------------------------------- */

/* Send what is in c->tx on the current connection and clear it. Send
 * errors are left to the closed callback, which always follows. */
static void send_tx(fl_client *c)
{
    if (c->conn && c->tx.len)
        (void)c->rt->ops->send(c->rt->self, c->conn, c->tx.data, c->tx.len);
    fl_buf_clear(&c->tx);
}

static void send_publish(fl_client *c, const fl_pub_msg *m)
{
    fl_buf_clear(&c->tx);
    if (fl_wire_encode_publish(&c->tx, fl_slice_make(m->topic, m->topic_len), m->sequence,
                               fl_slice_make(m->payload, m->payload_len)) == 0)
        send_tx(c);
}

/* ---- publish store helpers --------------------------------------------------- */

static bool failed_has(const fl_client *c, uint64_t seq)
{
    for (size_t i = 0; i < c->nfailed; i++)
        if (c->failed[i] == seq)
            return true;
    return false;
}

static int failed_add(fl_client *c, uint64_t seq)
{
    if (failed_has(c, seq))
        return 0;
    if (c->nfailed == c->capfailed) {
        size_t ncap = c->capfailed ? c->capfailed * 2 : 8;
        uint64_t *n = realloc(c->failed, ncap * sizeof *n);
        if (n == NULL)
            return FL_E_NOMEM;
        c->failed = n;
        c->capfailed = ncap;
    }
    size_t i = c->nfailed;
    while (i > 0 && c->failed[i - 1] > seq) {
        c->failed[i] = c->failed[i - 1];
        i--;
    }
    c->failed[i] = seq;
    c->nfailed++;
    return 0;
}

/* Drop failed entries <= seq. */
static void failed_drop_upto(fl_client *c, uint64_t seq)
{
    size_t k = 0;
    while (k < c->nfailed && c->failed[k] <= seq)
        k++;
    if (k == 0)
        return;
    memmove(c->failed, c->failed + k, (c->nfailed - k) * sizeof *c->failed);
    c->nfailed -= k;
}

/* Discard up to `seq` and then every failed message that became the lowest
 * stored one. */
static void pub_discard(fl_client *c, uint64_t seq)
{
    if (c->pub_ops == NULL)
        return;
    uint64_t before = c->pub_ops->unpersisted_count(c->pub);
    if (seq > 0) {
        int rc = c->pub_ops->discard_up_to(c->pub, seq);
        if (rc != 0)
            trace(c, "store_error", "\"op\":\"discard_up_to\",\"err\":\"%s\"", fl_err_name(rc));
    }
    failed_drop_upto(c, seq);
    while (c->nfailed > 0) {
        uint64_t low = c->pub_ops->lowest_unpersisted(c->pub);
        if (low == 0 || low != c->failed[0]) {
            if (low == 0 || low > c->failed[0]) {
                failed_drop_upto(c, c->failed[0]);
                continue;
            }
            break;
        }
        (void)c->pub_ops->discard_up_to(c->pub, low);
        failed_drop_upto(c, low);
    }
    uint64_t after = c->pub_ops->unpersisted_count(c->pub);
    if (after < before && c->was_full) {
        c->was_full = false;
        notify_capacity(c, FL_CAPACITY_AVAILABLE);
    }
    check_flushes(c);
}

typedef struct republish_ctx {
    fl_client *c;
    uint64_t count;
} republish_ctx;

static int republish_one(void *arg, const fl_pub_msg *m)
{
    republish_ctx *r = arg;
    if (failed_has(r->c, m->sequence))
        return 0;
    send_publish(r->c, m);
    r->count++;
    return 0;
}

/* Copy of a stored message, for the failed-write callback. */
typedef struct msg_copy {
    fl_pub_msg m;
    char *topic;
    uint8_t *payload;
    bool found;
} msg_copy;

static int copy_one(void *arg, const fl_pub_msg *m)
{
    msg_copy *mc = arg;
    mc->topic = dup_n(m->topic, m->topic_len);
    mc->payload = malloc(m->payload_len ? m->payload_len : 1);
    if (mc->topic == NULL || mc->payload == NULL)
        return 1;
    if (m->payload_len)
        memcpy(mc->payload, m->payload, m->payload_len);
    mc->m = *m;
    mc->m.topic = mc->topic;
    mc->m.payload = mc->payload;
    mc->found = true;
    return 1;
}

/* ---- subscriptions: lookup and resume text ----------------------------------- */

static sub *sub_find(const fl_client *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (strlen(c->subs[i]->sub_id) == len && memcmp(c->subs[i]->sub_id, id, len) == 0)
            return c->subs[i];
    return NULL;
}

static sub *sub_by_serial(const fl_client *c, uint64_t serial)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->serial == serial)
            return c->subs[i];
    return NULL;
}

static void held_clear(fl_client *c, sub *s)
{
    while (s->held_head) {
        held_msg *h = s->held_head;
        s->held_head = h->next;
        free(h);
    }
    s->held_tail = NULL;
    c->st.held -= s->held_count;
    s->held_count = 0;
}

static void sub_free(fl_client *c, sub *s)
{
    held_clear(c, s);
    free(s->sub_id);
    free(s->topic);
    free(s->bookmark);
    free(s->range_begin);
    free(s->range_end);
    free(s->last_sent);
    free(s);
}

static void sub_remove(fl_client *c, sub *s)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (c->subs[i] == s) {
            memmove(&c->subs[i], &c->subs[i + 1], (c->nsubs - i - 1) * sizeof *c->subs);
            c->nsubs--;
            break;
        }
    }
    sub_free(c, s);
}

/* The bookmark store's resume point for `s` (malloc'd), or NULL when the
 * store has none for it ("0") or there is no store. */
static char *most_recent(fl_client *c, const sub *s)
{
    if (c->bm_ops == NULL)
        return NULL;
    size_t cap = 256;
    for (int tries = 0; tries < 16; tries++) {
        char *buf = malloc(cap);
        if (buf == NULL)
            return NULL;
        int n = c->bm_ops->most_recent(c->bm, s->sub_id, buf, cap);
        if (n == FL_E_OVERFLOW) {
            free(buf);
            cap *= 4;
            continue;
        }
        if (n < 0 || strcmp(buf, "0") == 0) {
            if (n < 0)
                trace(c, "store_error", "\"op\":\"most_recent\",\"err\":\"%s\"", fl_err_name(n));
            free(buf);
            return NULL;
        }
        return buf;
    }
    return NULL;
}

static char *concat3(const char *a, const char *b, const char *d)
{
    size_t la = strlen(a), lb = strlen(b), ld = strlen(d);
    char *s = malloc(la + lb + ld + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, d, ld + 1);
    return s;
}

/* The bookmark text for the next subscribe frame of `s` (malloc'd), or
 * NULL for a live subscription. *oom is set on allocation failure. */
static char *resume_text(fl_client *c, const sub *s, bool *oom)
{
    *oom = false;
    if (s->bookmark == NULL)
        return NULL;
    char *out = NULL;
    const char *begin = s->range ? s->range_begin : s->bookmark;
    bool recent = strcmp(begin, "recent") == 0;
    char *mr = (recent || s->sent_once) ? most_recent(c, s) : NULL;
    if (s->range) {
        if (mr) {
            out = concat3("(", mr, s->range_end);
        } else {
            char br[2] = {s->open_br, '\0'};
            out = concat3(br, recent ? "0" : begin, s->range_end);
        }
    } else {
        out = dup_s(mr ? mr : (recent ? "0" : s->bookmark));
    }
    free(mr);
    if (out == NULL)
        *oom = true;
    return out;
}

static void send_subscribe(fl_client *c, sub *s)
{
    bool oom;
    char *text = resume_text(c, s, &oom);
    if (oom) {
        notify_error(c, FL_E_NOMEM, "out of memory building a subscribe frame");
        return;
    }
    uint32_t maxp = s->max_pending;
    fl_buf_clear(&c->tx);
    int rc = fl_wire_encode_subscribe(&c->tx, fl_slice_cstr(s->topic), fl_slice_cstr(s->sub_id),
                                      text ? fl_slice_cstr(text) : fl_slice_make(NULL, 0),
                                      s->options, maxp, c->next_cmd_id++);
    char sid[300], bmt[300];
    json_esc(sid, sizeof sid, s->sub_id);
    json_esc(bmt, sizeof bmt, text ? text : "");
    trace(c, "send_subscribe", "\"sub_id\":\"%s\",\"bookmark\":\"%s\",\"live\":%s", sid, bmt,
          text ? "false" : "true");
    if (rc == 0)
        send_tx(c);
    free(s->last_sent);
    s->last_sent = text;
    s->status = SUB_SENT;
    s->sent_once = true;
}

/* ---- connection teardown and the reconnect loop ------------------------------- */

static void cancel_session_timers(fl_client *c)
{
    fl_rt_timer_cancel(c->rt, c->t_hb);
    fl_rt_timer_cancel(c->rt, c->t_idle);
    fl_rt_timer_cancel(c->rt, c->t_attempt);
    fl_rt_timer_cancel(c->rt, c->t_stable);
    c->t_hb = c->t_idle = c->t_attempt = c->t_stable = 0;
}

/* Close the connection (if any), drop session-scoped state. */
static void teardown(fl_client *c)
{
    c->gen++;
    cancel_session_timers(c);
    if (c->conn) {
        c->rt->ops->close(c->rt->self, c->conn);
        c->conn = 0;
    }
    fl_buf_clear(&c->rx);
    for (size_t i = 0; i < c->nsubs; i++) {
        sub *s = c->subs[i];
        if (s->status != SUB_COMPLETED)
            s->status = SUB_NEW;
        s->fell_back = false;
        if (s->bookmark != NULL)
            held_clear(c, s); /* replayed from the resume point */
    }
}

static void give_up(fl_client *c, int err, const char *why)
{
    teardown(c);
    fl_rt_timer_cancel(c->rt, c->t_delay);
    fl_rt_timer_cancel(c->rt, c->t_conn_timeout);
    c->t_delay = c->t_conn_timeout = 0;
    c->ph = PH_GAVE_UP;
    snprintf(c->errtext, sizeof c->errtext, "%s after %llu us; chooser: %s; delay: %s", why,
             (unsigned long long)(now_us(c) - c->loop_start_us), fl_chooser_describe(&c->chooser),
             fl_delay_describe(&c->delay));
    uint64_t g = c->gen;
    notify_state(c, FL_CLIENT_GAVE_UP);
    if (g != c->gen || c->ph != PH_GAVE_UP)
        return;
    notify_error(c, err, c->errtext);
}

static void start_connect(void *arg);

static void on_conn_timeout(void *arg)
{
    fl_client *c = arg;
    c->t_conn_timeout = 0;
    char why[128];
    snprintf(why, sizeof why, "no session within connection_timeout %llu us",
             (unsigned long long)c->o.connection_timeout_us);
    give_up(c, FL_E_TIMEOUT, why);
}

/* Arm connection_timeout at the start of a loop (if not armed). */
static void arm_conn_timeout(fl_client *c)
{
    if (c->t_conn_timeout != 0)
        return;
    c->loop_start_us = now_us(c);
    if (c->o.connection_timeout_us == 0)
        return;
    if (fl_rt_timer_start(c->rt, c->o.connection_timeout_us, on_conn_timeout, c,
                          &c->t_conn_timeout) != 0)
        c->t_conn_timeout = 0;
}

/* Ask the chooser and the delay strategy for the next attempt. */
static void loop_next(fl_client *c)
{
    teardown(c);
    c->ph = PH_WAIT;
    const char *uri = fl_chooser_current_uri(&c->chooser);
    if (uri == NULL || uri[0] == '\0') {
        char why[300];
        snprintf(why, sizeof why, "gave up reconnecting: no server to try (%s)",
                 fl_chooser_get_error(&c->chooser));
        give_up(c, FL_E_GAVE_UP, why);
        return;
    }
    char *u = dup_s(uri);
    char *p = dup_s(fl_chooser_current_password(&c->chooser));
    if (u == NULL) {
        free(p);
        give_up(c, FL_E_NOMEM, "out of memory");
        return;
    }
    free(c->uri);
    free(c->password);
    c->uri = u;
    c->password = p;
    uint64_t wait = 0;
    int rc = fl_delay_next_wait(&c->delay, c->uri, &wait);
    if (rc != 0) {
        char why[300], ju[200];
        json_esc(ju, sizeof ju, c->uri);
        snprintf(why, sizeof why, "gave up reconnecting: the delay strategy refused %s (%s)",
                 c->uri, fl_strerror(rc));
        give_up(c, rc == FL_E_GAVE_UP ? FL_E_GAVE_UP : rc, why);
        return;
    }
    char ju[300];
    json_esc(ju, sizeof ju, c->uri);
    trace(c, "reconnect_wait", "\"uri\":\"%s\",\"wait_us\":%llu", ju, (unsigned long long)wait);
    if (fl_rt_timer_start(c->rt, wait, start_connect, c, &c->t_delay) != 0) {
        c->t_delay = 0;
        give_up(c, FL_E_NOMEM, "could not start the delay timer");
    }
}

/* An attempt failed before its session: tell the chooser, loop. */
static void attempt_failed(fl_client *c, int err)
{
    char ju[300];
    json_esc(ju, sizeof ju, c->uri ? c->uri : "");
    trace(c, "attempt_failed", "\"uri\":\"%s\",\"err\":\"%s\"", ju, fl_err_name(err));
    bool was_connected = c->ph == PH_LOGON;
    teardown(c);
    fl_chooser_report_failure(&c->chooser, c->uri, err);
    c->ph = PH_WAIT;
    if (was_connected) {
        uint64_t g = c->gen;
        notify_state(c, FL_CLIENT_DISCONNECTED);
        if (g != c->gen || c->ph != PH_WAIT)
            return; /* the application disconnected or reconfigured */
    }
    loop_next(c);
}

/* A logged-on session ended (closed, stalled, protocol error). */
static void session_lost(fl_client *c, int err)
{
    char ju[300];
    json_esc(ju, sizeof ju, c->uri ? c->uri : "");
    trace(c, "session_lost", "\"uri\":\"%s\",\"err\":\"%s\"", ju, fl_err_name(err));
    teardown(c);
    c->ph = PH_WAIT;
    uint64_t g = c->gen;
    notify_state(c, FL_CLIENT_DISCONNECTED);
    if (g != c->gen || c->ph != PH_WAIT)
        return;
    arm_conn_timeout(c);
    loop_next(c);
}

static void on_attempt_timeout(void *arg)
{
    fl_client *c = arg;
    c->t_attempt = 0;
    attempt_failed(c, FL_E_TIMEOUT);
}

static void on_opened(void *arg, fl_conn_id conn);
static void on_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len);
static void on_closed(void *arg, fl_conn_id conn, int reason);

static const fl_conn_callbacks CONN_CBS = {on_opened, on_data, on_closed};

static void start_connect(void *arg)
{
    fl_client *c = arg;
    c->t_delay = 0;
    c->ph = PH_CONNECTING;
    c->st.attempts++;
    char ju[300];
    json_esc(ju, sizeof ju, c->uri);
    trace(c, "reconnect_attempt", "\"uri\":\"%s\",\"attempt\":%llu", ju,
          (unsigned long long)c->st.attempts);
    fl_buf_clear(&c->rx);
    int rc = c->rt->ops->connect(c->rt->self, c->uri, &CONN_CBS, c, &c->conn);
    if (rc != 0) {
        c->conn = 0;
        attempt_failed(c, rc);
        return;
    }
    if (c->o.attempt_timeout_us && fl_rt_timer_start(c->rt, c->o.attempt_timeout_us,
                                                     on_attempt_timeout, c, &c->t_attempt) != 0)
        c->t_attempt = 0;
}

static void on_opened(void *arg, fl_conn_id conn)
{
    fl_client *c = arg;
    if (conn != c->conn || c->ph != PH_CONNECTING)
        return;
    c->ph = PH_LOGON;
    c->last_rx_us = now_us(c);
    uint64_t g = c->gen;
    notify_state(c, FL_CLIENT_CONNECTED);
    if (g != c->gen)
        return;
    fl_buf_clear(&c->tx);
    int rc = fl_wire_encode_logon(&c->tx, fl_slice_cstr(c->name),
                                  c->password ? fl_slice_cstr(c->password) : fl_slice_make(NULL, 0),
                                  c->o.heartbeat_us, c->next_cmd_id++);
    trace(c, "send_logon", "\"heartbeat_us\":%llu", (unsigned long long)c->o.heartbeat_us);
    if (rc != 0) {
        attempt_failed(c, rc);
        return;
    }
    send_tx(c);
}

static void on_closed(void *arg, fl_conn_id conn, int reason)
{
    fl_client *c = arg;
    if (conn != c->conn)
        return;
    c->conn = 0; /* the runtime is done with it */
    int err = reason ? reason : FL_E_DISCONNECTED;
    if (c->ph == PH_CONNECTING || c->ph == PH_LOGON)
        attempt_failed(c, err);
    else if (c->ph == PH_SESSION)
        session_lost(c, err);
}

/* ---- heartbeats ---------------------------------------------------------------- */

static uint64_t idle_timeout(const fl_client *c)
{
    return c->o.idle_timeout_us ? c->o.idle_timeout_us : 2 * c->o.heartbeat_us;
}

static void on_hb_send(void *arg)
{
    fl_client *c = arg;
    c->t_hb = 0;
    if (!in_session(c))
        return;
    fl_buf_clear(&c->tx);
    if (fl_wire_encode_heartbeat(&c->tx) == 0)
        send_tx(c);
    if (fl_rt_timer_start(c->rt, c->o.heartbeat_us, on_hb_send, c, &c->t_hb) != 0)
        c->t_hb = 0;
}

static void on_idle_check(void *arg)
{
    fl_client *c = arg;
    c->t_idle = 0;
    if (!in_session(c))
        return;
    uint64_t idle = idle_timeout(c), now = now_us(c), quiet = now - c->last_rx_us;
    if (quiet >= idle) {
        c->st.stalls++;
        trace(c, "stall_detected", "\"quiet_us\":%llu", (unsigned long long)quiet);
        session_lost(c, FL_E_TIMEOUT);
        return;
    }
    if (fl_rt_timer_start(c->rt, idle - quiet, on_idle_check, c, &c->t_idle) != 0)
        c->t_idle = 0;
}

static void heartbeat_start(fl_client *c)
{
    if (c->o.heartbeat_us == 0)
        return;
    c->last_rx_us = now_us(c);
    if (fl_rt_timer_start(c->rt, c->o.heartbeat_us, on_hb_send, c, &c->t_hb) != 0)
        c->t_hb = 0;
    if (fl_rt_timer_start(c->rt, idle_timeout(c), on_idle_check, c, &c->t_idle) != 0)
        c->t_idle = 0;
}

/* ---- the logon sequence ------------------------------------------------------ */

/* The session stayed up for stable_after: only now the reconnect sequence
 * counts as a success for the delay strategy (design note). */
static void on_stable(void *arg)
{
    fl_client *c = arg;
    c->t_stable = 0;
    if (!in_session(c))
        return;
    trace(c, "session_stable", "\"after_us\":%llu", (unsigned long long)c->stable_after_us);
    fl_delay_reset(&c->delay);
}

static void arm_stable(fl_client *c)
{
    if (c->stable_after_us == 0 ||
        fl_rt_timer_start(c->rt, c->stable_after_us, on_stable, c, &c->t_stable) != 0) {
        c->t_stable = 0;
        fl_delay_reset(&c->delay); /* no timer: reset at once, as AMPS does */
    }
}

static void on_logged_on(fl_client *c, uint64_t acked_seq)
{
    fl_rt_timer_cancel(c->rt, c->t_attempt);
    fl_rt_timer_cancel(c->rt, c->t_conn_timeout);
    c->t_attempt = c->t_conn_timeout = 0;
    c->ph = PH_SESSION;
    c->st.sessions++;
    uint64_t g = c->gen;
    trace(c, "logon", "\"acked_seq\":%llu", (unsigned long long)acked_seq);
    notify_state(c, FL_CLIENT_LOGGED_ON);
    if (g != c->gen)
        return;
    fl_chooser_report_success(&c->chooser);

    /* Publish store: discard what the broker has, continue sequences, and
     * republish the rest in order. */
    if (acked_seq + 1 > c->next_seq)
        c->next_seq = acked_seq + 1;
    pub_discard(c, acked_seq);
    if (g != c->gen)
        return;
    republish_ctx r = {c, 0};
    if (c->pub_ops) {
        int rc = c->pub_ops->replay(c->pub, republish_one, &r);
        if (rc != 0)
            trace(c, "store_error", "\"op\":\"replay\",\"err\":\"%s\"", fl_err_name(rc));
    }
    c->st.republished += r.count;
    trace(c, "republish", "\"count\":%llu", (unsigned long long)r.count);
    notify_state(c, FL_CLIENT_PUBLISH_REPLAYED);
    if (g != c->gen)
        return;

    if (c->o.heartbeat_us) {
        heartbeat_start(c);
        notify_state(c, FL_CLIENT_HEARTBEAT_INITIATED);
        if (g != c->gen)
            return;
    }

    /* Subscription manager: re-enter everything not completed. */
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->status == SUB_NEW)
            send_subscribe(c, c->subs[i]);
    arm_stable(c);
    notify_state(c, FL_CLIENT_RESUBSCRIBED);
}

/* ---- frame handlers ------------------------------------------------------------- */

static void on_publish_ack(fl_client *c, const fl_frame *f)
{
    if (!(f->present & FL_HAS_SEQUENCE))
        return;
    if (f->status == FL_STATUS_SUCCESS) {
        c->st.persisted_acks++;
        trace(c, "persisted_ack", "\"seq\":%llu", (unsigned long long)f->sequence);
        pub_discard(c, f->sequence);
        return;
    }
    int err = fl_reason_to_err(f->reason);
    c->st.failed_writes++;
    msg_copy mc = {{f->sequence, NULL, 0, NULL, 0}, NULL, NULL, false};
    if (c->pub_ops)
        (void)c->pub_ops->replay_one(c->pub, f->sequence, copy_one, &mc);
    if (!mc.found)
        mc.m.sequence = f->sequence;
    trace(c, "failed_write", "\"seq\":%llu,\"reason\":\"%s\"", (unsigned long long)f->sequence,
          fl_reason_name(f->reason));
    if (c->o.cb.failed_write)
        c->o.cb.failed_write(c->o.cb.arg, c, err ? err : FL_E_INVAL, &mc.m);
    free(mc.topic);
    free(mc.payload);
    if (c->pub_ops && failed_add(c, f->sequence) == 0)
        pub_discard(c, 0);
}

static void fallback_text(const sub *s, int policy, char **bm_out)
{
    const char *point = policy == FL_FALLBACK_EPOCH ? "0" : "0|1|";
    *bm_out = s->range ? concat3("[", point, s->range_end) : dup_s(point);
}

static void on_sub_failed(fl_client *c, sub *s, const fl_frame *f)
{
    int err = fl_reason_to_err(f->reason);
    char text[600];
    int policy = s->fallback;
    bool expired = f->reason == FL_REASON_BOOKMARK_EXPIRED && s->bookmark != NULL;
    if (!expired) {
        snprintf(text, sizeof text, "subscription %s on %s refused: %s", s->sub_id, s->topic,
                 fl_reason_name(f->reason));
        sub_remove(c, s);
        notify_error(c, err ? err : FL_E_INVAL, text);
        return;
    }
    if (s->fell_back)
        policy = FL_FALLBACK_FAIL; /* the fallback itself expired: stop */
    char *fb = NULL;
    if (policy != FL_FALLBACK_FAIL) {
        fallback_text(s, policy, &fb);
        if (fb == NULL)
            policy = FL_FALLBACK_FAIL;
    }
    c->st.gaps++;
    fl_gap_info gap = {s->sub_id, s->topic, s->last_sent ? s->last_sent : "",
                       fb,        policy,   FL_E_BOOKMARK_EXPIRED};
    char sid[300], req[300];
    json_esc(sid, sizeof sid, s->sub_id);
    json_esc(req, sizeof req, gap.requested);
    trace(c, "gap", "\"sub_id\":\"%s\",\"requested\":\"%s\",\"policy\":\"%s\"", sid, req,
          fallback_name(policy));
    uint64_t serial = s->serial, g = c->gen;
    if (c->o.cb.gap)
        c->o.cb.gap(c->o.cb.arg, c, &gap);
    s = sub_by_serial(c, serial);
    if (s == NULL) {
        free(fb);
        return;
    }
    if (policy == FL_FALLBACK_FAIL) {
        snprintf(text, sizeof text,
                 "subscription %s on %s: bookmark %s expired; replay_fallback=fail, "
                 "subscription dropped",
                 s->sub_id, s->topic, gap.requested);
        sub_remove(c, s);
        notify_error(c, FL_E_BOOKMARK_EXPIRED, text);
        return;
    }
    if (c->bm_ops)
        (void)c->bm_ops->purge(c->bm, s->sub_id);
    if (s->range) {
        free(s->range_begin);
        s->range_begin = dup_s(policy == FL_FALLBACK_EPOCH ? "0" : "0|1|");
        s->open_br = '[';
    }
    free(s->bookmark);
    s->bookmark = fb;
    s->sent_once = false; /* the store was purged: use the fallback text */
    s->fell_back = true;
    if (g == c->gen && in_session(c))
        send_subscribe(c, s);
    if (s->range_begin == NULL && s->range)
        notify_error(c, FL_E_NOMEM, "out of memory applying replay_fallback");
}

static void on_sub_ack(fl_client *c, const fl_frame *f)
{
    sub *s = sub_find(c, (const char *)f->sub_id.ptr, f->sub_id.len);
    if (s == NULL)
        return;
    if (f->status == FL_STATUS_SUCCESS) {
        if (s->status == SUB_SENT)
            s->status = SUB_ACTIVE;
        return;
    }
    on_sub_failed(c, s, f);
}

static void on_completed(fl_client *c, const fl_frame *f)
{
    sub *s = sub_find(c, (const char *)f->sub_id.ptr, f->sub_id.len);
    if (s == NULL)
        return;
    if (s->range)
        s->status = SUB_COMPLETED;
    char sid[300];
    json_esc(sid, sizeof sid, s->sub_id);
    trace(c, "completed", "\"sub_id\":\"%s\",\"range\":%s", sid, s->range ? "true" : "false");
    if (c->o.cb.completed)
        c->o.cb.completed(c->o.cb.arg, c, s->sub_id);
}

static void on_bookmark_persisted(fl_client *c, const fl_frame *f)
{
    if (c->bm_ops == NULL || !(f->present & FL_HAS_BOOKMARK))
        return;
    sub *s = sub_find(c, (const char *)f->sub_id.ptr, f->sub_id.len);
    if (s == NULL)
        return;
    fl_store_bookmark bm = {f->bookmark.publisher, f->bookmark.sequence, f->bookmark.timestamp_us};
    (void)c->bm_ops->persisted(c->bm, s->sub_id, &bm);
}

static void on_ack(fl_client *c, const fl_frame *f)
{
    switch (f->ack_type) {
    case FL_ACK_LOGON:
        if (c->ph != PH_LOGON)
            return;
        if (f->status == FL_STATUS_SUCCESS) {
            on_logged_on(c, (f->present & FL_HAS_SEQUENCE) ? f->sequence : 0);
        } else {
            int err = fl_reason_to_err(f->reason);
            trace(c, "logon_failed", "\"reason\":\"%s\"", fl_reason_name(f->reason));
            attempt_failed(c, err ? err : FL_E_LOGON_REFUSED);
        }
        return;
    case FL_ACK_PERSISTED:
        if (f->present & FL_HAS_SUB_ID)
            on_bookmark_persisted(c, f);
        else
            on_publish_ack(c, f);
        return;
    case FL_ACK_SUBSCRIBED:
        on_sub_ack(c, f);
        return;
    case FL_ACK_COMPLETED:
        on_completed(c, f);
        return;
    default:
        return; /* processed acks carry nothing the client needs */
    }
}

/* ---- deliveries and flow control ------------------------------------------------- */

/* A bookmark subscription got a message the store already saw. */
static void report_duplicate(fl_client *c, const sub *s, const fl_store_bookmark *bm)
{
    c->st.duplicates++;
    char sid[300];
    json_esc(sid, sizeof sid, s->sub_id);
    trace(c, "duplicate", "\"sub_id\":\"%s\",\"publisher\":%llu,\"seq\":%llu", sid,
          (unsigned long long)bm->publisher, (unsigned long long)bm->sequence);
    if (c->o.cb.duplicate)
        c->o.cb.duplicate(c->o.cb.arg, c, s->sub_id, bm);
}

/* Deliver (or hold) one message for the subscription with `serial`. */
static void deliver(fl_client *c, uint64_t serial, const char *topic, size_t topic_len,
                    const fl_store_bookmark *bm, const uint8_t *payload, size_t len);

static bool can_deliver(const sub *s)
{
    return s->max_pending == 0 || s->outstanding < s->max_pending;
}

static int hold(fl_client *c, sub *s, const char *topic, size_t topic_len,
                const fl_store_bookmark *bm, const uint8_t *payload, size_t len)
{
    held_msg *h = malloc(sizeof *h + topic_len + 1 + len);
    if (h == NULL)
        return FL_E_NOMEM;
    h->next = NULL;
    h->bm = *bm;
    h->topic = (char *)(h + 1);
    memcpy(h->topic, topic, topic_len);
    h->topic[topic_len] = '\0';
    h->payload = (uint8_t *)h->topic + topic_len + 1;
    if (len)
        memcpy(h->payload, payload, len);
    h->payload_len = len;
    if (s->held_tail)
        s->held_tail->next = h;
    else
        s->held_head = h;
    s->held_tail = h;
    s->held_count++;
    c->st.held++;
    return 0;
}

static void on_delivery(fl_client *c, const fl_frame *f)
{
    sub *s = sub_find(c, (const char *)f->sub_id.ptr, f->sub_id.len);
    if (s == NULL)
        return;
    fl_store_bookmark bm = {f->bookmark.publisher, f->bookmark.sequence, f->bookmark.timestamp_us};
    if (!can_deliver(s) || s->held_head != NULL) {
        if (hold(c, s, (const char *)f->topic.ptr, f->topic.len, &bm, f->payload.ptr,
                 f->payload.len) != 0)
            notify_error(c, FL_E_NOMEM, "out of memory holding a message");
        return;
    }
    deliver(c, s->serial, (const char *)f->topic.ptr, f->topic.len, &bm, f->payload.ptr,
            f->payload.len);
}

/* Deliver held messages of every subscription while max_pending allows.
 * Runs from the loop (deferred); handlers may change the subscription set,
 * so each round looks the subscriptions up again. */
static void pump_held(fl_client *c)
{
    for (;;) {
        sub *s = NULL;
        for (size_t i = 0; i < c->nsubs && s == NULL; i++)
            if (c->subs[i]->held_head && can_deliver(c->subs[i]))
                s = c->subs[i];
        if (s == NULL)
            return;
        held_msg *h = s->held_head;
        s->held_head = h->next;
        if (s->held_head == NULL)
            s->held_tail = NULL;
        s->held_count--;
        c->st.held--;
        deliver(c, s->serial, h->topic, strlen(h->topic), &h->bm, h->payload, h->payload_len);
        free(h);
    }
}

/* ---- receiving -------------------------------------------------------------------- */

static void handle_frame(fl_client *c, const fl_frame *f)
{
    switch (f->command) {
    case FL_CMD_HEARTBEAT:
        return;
    case FL_CMD_ACK:
        on_ack(c, f);
        return;
    case FL_CMD_DELIVERY:
        if (c->ph == PH_SESSION)
            on_delivery(c, f);
        return;
    default:
        return; /* client-bound commands only; others are ignored */
    }
}

static void on_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    fl_client *c = arg;
    if (conn != c->conn)
        return;
    c->last_rx_us = now_us(c);
    if (fl_buf_append(&c->rx, buf, len) != 0) {
        notify_error(c, FL_E_NOMEM, "out of memory buffering input");
        return;
    }
    uint64_t g = c->gen;
    size_t off = 0;
    for (;;) {
        fl_frame f;
        size_t used = 0, eoff = 0;
        char why[160];
        int rc = fl_frame_decode_ex(c->rx.data + off, c->rx.len - off, c->o.max_frame, &f, &used,
                                    &eoff, why, sizeof why);
        if (rc == FL_E_AGAIN)
            break;
        if (rc != 0) {
            char t[300];
            snprintf(t, sizeof t, "bad frame from %s at byte %zu: %s", c->uri ? c->uri : "?",
                     off + eoff, why);
            notify_error(c, rc, t);
            if (g != c->gen)
                return;
            if (c->ph == PH_SESSION)
                session_lost(c, rc);
            else
                attempt_failed(c, rc);
            return;
        }
        off += used;
        handle_frame(c, &f);
        if (g != c->gen)
            return; /* torn down inside: rx was cleared */
    }
    fl_buf_consume(&c->rx, off);
}

/* ---- deliver (defined here: needs the message list) ------------------------------ */

static void deliver(fl_client *c, uint64_t serial, const char *topic, size_t topic_len,
                    const fl_store_bookmark *bm, const uint8_t *payload, size_t len)
{
    sub *s = sub_by_serial(c, serial);
    if (s == NULL)
        return;
    bool logged = false;
    if (s->bookmark != NULL && c->bm_ops) {
        int r = c->bm_ops->log(c->bm, s->sub_id, bm);
        if (r == 1) {
            report_duplicate(c, s, bm);
            return;
        }
        if (r < 0) {
            char t[200];
            snprintf(t, sizeof t, "bookmark store log failed on %s: %s", s->sub_id, fl_strerror(r));
            notify_error(c, r, t);
            s = sub_by_serial(c, serial);
            if (s == NULL)
                return;
        } else {
            logged = true;
        }
    }
    size_t idlen = strlen(s->sub_id);
    msg_obj *m = malloc(sizeof *m + topic_len + 1 + idlen + 1 + len);
    if (m == NULL) {
        notify_error(c, FL_E_NOMEM, "out of memory delivering a message");
        return;
    }
    char *p = (char *)(m + 1);
    memcpy(p, topic, topic_len);
    p[topic_len] = '\0';
    m->pub.topic = p;
    p += topic_len + 1;
    memcpy(p, s->sub_id, idlen + 1);
    m->pub.sub_id = p;
    p += idlen + 1;
    if (len)
        memcpy(p, payload, len);
    m->pub.payload = (const uint8_t *)p;
    m->pub.payload_len = len;
    m->pub.bookmark = *bm;
    m->sub_serial = serial;
    m->logged = logged;
    m->prev = NULL;
    m->next = c->msgs;
    if (c->msgs)
        c->msgs->prev = m;
    c->msgs = m;
    s->outstanding++;
    c->st.delivered++;
    trace_msg(c, "deliver", "sub_id", s->sub_id, "publisher", bm->publisher, "seq", bm->sequence);
    s->fn(s->arg, c, &m->pub);
}

/* ---- public API ---------------------------------------------------------------------- */

int fl_client_new(const fl_runtime *rt, const char *name, const fl_client_options *opts,
                  fl_client **out)
{
    fl_client_options defaults = FL_CLIENT_OPTIONS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (rt == NULL || rt->ops == NULL || name == NULL || out == NULL ||
        opts->version != FL_CLIENT_OPTIONS_VERSION)
        return FL_E_INVAL;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > NAME_MAX_LEN)
        return FL_E_INVAL;
    if (opts->replay_fallback < FL_FALLBACK_FAIL || opts->replay_fallback > FL_FALLBACK_NOW)
        return FL_E_INVAL;
    fl_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return FL_E_NOMEM;
    c->rt = rt;
    c->o = *opts;
    c->name = dup_s(name);
    c->trace_prefix = make_trace_prefix(name, &c->trace_prefix_len);
    c->next_seq = 1;
    c->stable_after_us = FL_CLIENT_STABLE_AFTER_DEFAULT_US;
    c->next_cmd_id = 1;
    c->next_serial = 1;
    fl_buf_init(&c->rx);
    fl_buf_init(&c->tx);
    if (c->name == NULL || c->trace_prefix == NULL || fl_chooser_default_new(&c->chooser) != 0 ||
        fl_delay_exponential_new(rt, NULL, &c->delay) != 0) {
        fl_chooser_free(&c->chooser);
        free(c->trace_prefix);
        free(c->name);
        free(c);
        return FL_E_NOMEM;
    }
    trace(c, "new", NULL);
    *out = c;
    return 0;
}

void fl_client_free(fl_client *c)
{
    if (c == NULL)
        return;
    trace(c, "free", NULL);
    teardown(c);
    fl_rt_timer_cancel(c->rt, c->t_delay);
    fl_rt_timer_cancel(c->rt, c->t_conn_timeout);
    fl_rt_timer_cancel(c->rt, c->t_defer);
    while (c->flushes) {
        flush_waiter *w = c->flushes;
        c->flushes = w->next;
        fl_rt_timer_cancel(c->rt, w->timer);
        free(w);
    }
    while (c->msgs) {
        msg_obj *m = c->msgs;
        c->msgs = m->next;
        free(m);
    }
    for (size_t i = 0; i < c->nsubs; i++)
        sub_free(c, c->subs[i]);
    free(c->subs);
    free(c->failed);
    fl_chooser_free(&c->chooser);
    fl_delay_free(&c->delay);
    fl_buf_free(&c->rx);
    fl_buf_free(&c->tx);
    free(c->uri);
    free(c->password);
    free(c->trace_prefix);
    free(c->name);
    free(c);
}

int fl_client_set_publish_store(fl_client *c, const fl_pubstore_ops *ops, void *self)
{
    if (c == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    if (ops && (ops->version <= 0 || ops->version > FL_STORE_ABI_VERSION))
        return FL_E_BAD_VERSION;
    c->pub_ops = ops;
    c->pub = ops ? self : NULL;
    c->nfailed = 0;
    if (ops) {
        uint64_t last = ops->last_sequence(self);
        if (last + 1 > c->next_seq)
            c->next_seq = last + 1;
    }
    trace(c, "set_publish_store", "\"store\":\"%s\",\"next_seq\":%llu",
          ops && ops->name ? ops->name : "none", (unsigned long long)c->next_seq);
    return 0;
}

int fl_client_set_bookmark_store(fl_client *c, const fl_bmstore_ops *ops, void *self)
{
    if (c == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    if (ops && (ops->version <= 0 || ops->version > FL_STORE_ABI_VERSION))
        return FL_E_BAD_VERSION;
    c->bm_ops = ops;
    c->bm = ops ? self : NULL;
    trace(c, "set_bookmark_store", "\"store\":\"%s\"", ops && ops->name ? ops->name : "none");
    return 0;
}

int fl_client_set_chooser(fl_client *c, const fl_chooser *ch)
{
    if (c == NULL || ch == NULL || ch->ops == NULL || ch->ops->current_uri == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    fl_chooser_free(&c->chooser);
    c->chooser = *ch;
    trace(c, "set_chooser", "\"chooser\":\"%s\"", ch->ops->name ? ch->ops->name : "custom");
    return 0;
}

int fl_client_set_delay(fl_client *c, const fl_delay *d)
{
    if (c == NULL || d == NULL || d->ops == NULL || d->ops->next_wait == NULL ||
        d->ops->reset == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    fl_delay_free(&c->delay);
    c->delay = *d;
    trace(c, "set_delay", "\"delay\":\"%s\"", d->ops->name ? d->ops->name : "custom");
    return 0;
}

int fl_client_set_heartbeat(fl_client *c, uint64_t interval_us, uint64_t idle_timeout_us)
{
    if (c == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    c->o.heartbeat_us = interval_us;
    c->o.idle_timeout_us = idle_timeout_us;
    trace(c, "set_heartbeat", "\"interval_us\":%llu,\"idle_timeout_us\":%llu",
          (unsigned long long)interval_us, (unsigned long long)idle_timeout_us);
    return 0;
}

int fl_client_set_connection_timeout(fl_client *c, uint64_t timeout_us)
{
    if (c == NULL)
        return FL_E_INVAL;
    c->o.connection_timeout_us = timeout_us;
    trace(c, "set_connection_timeout", "\"timeout_us\":%llu", (unsigned long long)timeout_us);
    return 0;
}

int fl_client_set_stable_after(fl_client *c, uint64_t stable_after_us)
{
    if (c == NULL)
        return FL_E_INVAL;
    if (!configurable(c))
        return FL_E_STATE;
    c->stable_after_us = stable_after_us;
    trace(c, "set_stable_after", "\"stable_after_us\":%llu", (unsigned long long)stable_after_us);
    return 0;
}

int fl_client_set_max_pending(fl_client *c, uint32_t max_pending)
{
    if (c == NULL)
        return FL_E_INVAL;
    c->o.max_pending = max_pending;
    trace(c, "set_max_pending", "\"max_pending\":%u", max_pending);
    return 0;
}

int fl_client_set_replay_fallback(fl_client *c, int policy)
{
    if (c == NULL || policy < FL_FALLBACK_FAIL || policy > FL_FALLBACK_NOW)
        return FL_E_INVAL;
    c->o.replay_fallback = policy;
    trace(c, "set_replay_fallback", "\"policy\":\"%s\"", fallback_name(policy));
    return 0;
}

static void on_first_step(void *arg)
{
    fl_client *c = arg;
    c->t_delay = 0;
    loop_next(c);
}

int fl_client_connect(fl_client *c)
{
    if (c == NULL)
        return FL_E_INVAL;
    trace(c, "connect", NULL);
    if (!configurable(c))
        return FL_E_STATE;
    fl_delay_reset(&c->delay);
    c->ph = PH_WAIT;
    c->defer_shutdown = false;
    c->loop_start_us = now_us(c);
    c->t_conn_timeout = 0;
    arm_conn_timeout(c);
    if (fl_rt_timer_start(c->rt, 0, on_first_step, c, &c->t_delay) != 0) {
        c->t_delay = 0;
        fl_rt_timer_cancel(c->rt, c->t_conn_timeout);
        c->t_conn_timeout = 0;
        c->ph = PH_IDLE;
        return FL_E_NOMEM;
    }
    return 0;
}

int fl_client_disconnect(fl_client *c)
{
    if (c == NULL)
        return FL_E_INVAL;
    trace(c, "disconnect", NULL);
    if (c->ph == PH_IDLE || c->ph == PH_SHUTDOWN)
        return FL_E_STATE;
    if (c->ph == PH_SESSION && c->pub_ops)
        (void)c->pub_ops->flush(c->pub);
    teardown(c);
    fl_rt_timer_cancel(c->rt, c->t_delay);
    fl_rt_timer_cancel(c->rt, c->t_conn_timeout);
    c->t_delay = c->t_conn_timeout = 0;
    c->ph = PH_SHUTDOWN;
    c->state = FL_CLIENT_SHUT_DOWN;
    c->defer_shutdown = true;
    flushes_complete(c, FL_E_SHUTDOWN);
    defer(c);
    return 0;
}

int fl_client_state_get(const fl_client *c)
{
    return c ? c->state : FL_CLIENT_DISCONNECTED;
}

int fl_client_publish(fl_client *c, const char *topic, const void *payload, size_t len,
                      uint64_t *seq_out)
{
    if (c == NULL || topic == NULL || topic[0] == '\0' || (payload == NULL && len > 0))
        return FL_E_INVAL;
    size_t tlen = strlen(topic);
    fl_pub_msg m = {c->next_seq, topic, tlen, payload, len};
    fl_frame f;
    fl_frame_init(&f, FL_CMD_PUBLISH);
    f.topic = fl_slice_make(topic, tlen);
    f.sequence = m.sequence;
    f.payload = fl_slice_make(payload, len);
    f.present = FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD;
    size_t fsize = fl_frame_encoded_size(&f);
    size_t maxf = c->o.max_frame ? c->o.max_frame : FL_WIRE_MAX_FRAME_DEFAULT;
    if (fsize == 0 || fsize > maxf)
        return fsize == 0 ? FL_E_INVAL : FL_E_FRAME_TOO_LARGE;
    if (c->pub_ops == NULL && !in_session(c))
        return FL_E_DISCONNECTED;
    if (c->pub_ops) {
        int rc = c->pub_ops->store(c->pub, &m);
        if (rc == FL_E_FULL) {
            trace(c, "publish_refused", "\"err\":\"FULL\",\"seq\":%llu",
                  (unsigned long long)m.sequence);
            c->was_full = true;
            c->defer_full = true;
            defer(c);
            return rc;
        }
        if (rc == FL_E_SYNC_FAILED) {
            /* Outcome unknown (store.h): after a reopen the message may be
             * in the store under this sequence and will be republished
             * then. Report the sequence so the application can tell, and
             * never hand it out again. Nothing is sent: the store is
             * poisoned, the application must reopen it. */
            c->next_seq++;
            trace(c, "publish_sync_failed", "\"seq\":%llu", (unsigned long long)m.sequence);
            if (seq_out)
                *seq_out = m.sequence;
            return rc;
        }
        if (rc != 0)
            return rc;
    }
    c->next_seq++;
    c->st.published++;
    trace_msg(c, "publish", "topic", topic, "seq", m.sequence, "len", (uint64_t)len);
    if (in_session(c))
        send_publish(c, &m);
    if (seq_out)
        *seq_out = m.sequence;
    return 0;
}

static void on_flush_timeout(void *arg)
{
    flush_waiter *w = arg;
    w->timer = 0;
    w->done = true;
    w->result = FL_E_TIMEOUT;
    flush_finish(w->c, w);
}

int fl_client_publish_flush(fl_client *c, uint64_t timeout_us, fl_flush_fn fn, void *arg)
{
    if (c == NULL || fn == NULL)
        return FL_E_INVAL;
    trace(c, "publish_flush", "\"timeout_us\":%llu,\"unpersisted\":%llu",
          (unsigned long long)timeout_us, (unsigned long long)fl_client_unpersisted_count(c));
    flush_waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return FL_E_NOMEM;
    w->c = c;
    w->fn = fn;
    w->arg = arg;
    if (timeout_us && fl_rt_timer_start(c->rt, timeout_us, on_flush_timeout, w, &w->timer) != 0) {
        free(w);
        return FL_E_NOMEM;
    }
    if (c->pub_ops)
        (void)c->pub_ops->flush(c->pub);
    /* Append, so completions run in request order. */
    flush_waiter **pp = &c->flushes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    if (fl_client_unpersisted_count(c) == 0) {
        w->done = true;
        w->result = 0;
        defer(c);
    }
    return 0;
}

uint64_t fl_client_unpersisted_count(const fl_client *c)
{
    if (c == NULL || c->pub_ops == NULL)
        return 0;
    return c->pub_ops->unpersisted_count(c->pub);
}

/* Split a validated range "[B:E)" into begin text and ":E)". */
static int split_range(sub *s, const char *text)
{
    const char *colon = strchr(text, ':');
    if (colon == NULL)
        return FL_E_BAD_RANGE;
    s->open_br = text[0];
    s->range_begin = dup_n(text + 1, (size_t)(colon - text - 1));
    s->range_end = dup_s(colon);
    return s->range_begin && s->range_end ? 0 : FL_E_NOMEM;
}

static int sub_add(fl_client *c, sub *s)
{
    if (c->nsubs == c->capsubs) {
        size_t ncap = c->capsubs ? c->capsubs * 2 : 8;
        sub **n = realloc(c->subs, ncap * sizeof *n);
        if (n == NULL)
            return FL_E_NOMEM;
        c->subs = n;
        c->capsubs = ncap;
    }
    c->subs[c->nsubs++] = s;
    return 0;
}

/* Check a bookmark selector; *range set when it is a range. */
static int check_bookmark(const char *text, bool *range)
{
    fl_bm_selector sel;
    fl_bm_selector_init(&sel);
    int rc = fl_bm_selector_parse(text, strlen(text), &sel, NULL);
    *range = rc == 0 && sel.kind == FL_BM_SEL_RANGE;
    fl_bm_selector_free(&sel);
    return rc;
}

int fl_client_subscribe(fl_client *c, const fl_sub_options *o)
{
    if (c == NULL || o == NULL || o->version != FL_SUB_OPTIONS_VERSION || o->fn == NULL ||
        o->topic == NULL || o->topic[0] == '\0' || o->sub_id == NULL || o->sub_id[0] == '\0')
        return FL_E_INVAL;
    if (o->replay_fallback < FL_FALLBACK_DEFAULT || o->replay_fallback > FL_FALLBACK_NOW)
        return FL_E_INVAL;
    char sid[300], jt[300], jb[300];
    json_esc(sid, sizeof sid, o->sub_id);
    json_esc(jt, sizeof jt, o->topic);
    json_esc(jb, sizeof jb, o->bookmark ? o->bookmark : "");
    trace(c, "subscribe", "\"sub_id\":\"%s\",\"topic\":\"%s\",\"bookmark\":\"%s\"", sid, jt, jb);
    if (sub_find(c, o->sub_id, strlen(o->sub_id)))
        return FL_E_BUSY;
    bool range = false;
    if (o->bookmark) {
        int rc = check_bookmark(o->bookmark, &range);
        if (rc != 0)
            return rc;
    }
    sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FL_E_NOMEM;
    s->serial = c->next_serial++;
    s->sub_id = dup_s(o->sub_id);
    s->topic = dup_s(o->topic);
    s->bookmark = dup_s(o->bookmark);
    s->range = range;
    s->options = o->options;
    s->max_pending = o->max_pending ? o->max_pending : c->o.max_pending;
    s->fallback = o->replay_fallback ? o->replay_fallback : c->o.replay_fallback;
    s->fn = o->fn;
    s->arg = o->arg;
    int rc = (s->sub_id && s->topic && (s->bookmark || !o->bookmark)) ? 0 : FL_E_NOMEM;
    if (rc == 0 && range)
        rc = split_range(s, o->bookmark);
    if (rc == 0)
        rc = sub_add(c, s);
    if (rc != 0) {
        sub_free(c, s);
        return rc;
    }
    if (in_session(c))
        send_subscribe(c, s);
    return 0;
}

int fl_client_unsubscribe(fl_client *c, const char *sub_id)
{
    if (c == NULL || sub_id == NULL)
        return FL_E_INVAL;
    char sid[300];
    json_esc(sid, sizeof sid, sub_id);
    trace(c, "unsubscribe", "\"sub_id\":\"%s\"", sid);
    sub *s = sub_find(c, sub_id, strlen(sub_id));
    if (s == NULL)
        return FL_E_NOT_FOUND;
    if (in_session(c)) {
        fl_buf_clear(&c->tx);
        if (fl_wire_encode_unsubscribe(&c->tx, fl_slice_cstr(sub_id)) == 0)
            send_tx(c);
    }
    sub_remove(c, s);
    return 0;
}

int fl_client_discard(fl_client *c, const fl_message *msg)
{
    if (c == NULL || msg == NULL)
        return FL_E_INVAL;
    msg_obj *m = c->msgs;
    while (m && &m->pub != msg)
        m = m->next;
    if (m == NULL)
        return FL_E_NOT_FOUND;
    trace_msg(c, "discard", "sub_id", m->pub.sub_id, "publisher", m->pub.bookmark.publisher, "seq",
              m->pub.bookmark.sequence);
    int rc = 0;
    if (m->logged && c->bm_ops)
        rc = c->bm_ops->discard(c->bm, m->pub.sub_id, &m->pub.bookmark);
    sub *s = sub_by_serial(c, m->sub_serial);
    if (s && s->outstanding > 0) {
        s->outstanding--;
        if (s->held_head) {
            c->defer_pump = true;
            defer(c);
        }
    }
    if (m->prev)
        m->prev->next = m->next;
    else
        c->msgs = m->next;
    if (m->next)
        m->next->prev = m->prev;
    free(m);
    c->st.discarded++;
    return rc;
}

int fl_client_prune(fl_client *c)
{
    if (c == NULL)
        return FL_E_INVAL;
    trace(c, "prune", NULL);
    if (c->bm_ops == NULL)
        return FL_E_STATE;
    return c->bm_ops->prune(c->bm);
}

const char *fl_client_name(const fl_client *c)
{
    return c ? c->name : "";
}

void fl_client_get_stats(const fl_client *c, fl_client_stats *out)
{
    if (c == NULL || out == NULL)
        return;
    *out = c->st;
    out->next_sequence = c->next_seq;
}
