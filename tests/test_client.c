/* Unit tests for the reference HA client (client/client.c), driven in
 * virtual time over the simulation core with a scripted fake broker.
 *
 * The fake broker (below) listens on a broker node under server names "a"
 * and "b", records every frame the client sends, and answers per a small
 * script (accept or not, logon answer and the logon ack's sequence, a
 * required password, closing the connection after the Nth publish or
 * subscribe frame, refusing bookmark subscriptions as expired, auto
 * persisted acks). Tests send acks and deliveries themselves. Two tiny
 * in-test stores implement the store ABI so the tests do not depend on the
 * built-in stores.
 *
 * Covered: the reconnect state machine with every step failing in turn
 * (refused, connect hangs, logon refused / auth failure, disconnect during
 * republish and during resubscribe), plain disconnect retrying the same
 * server, heartbeat stall detection, the publish path (discard up to the
 * logon ack, ordered republish, sequences continuing, persisted and failed
 * acks, flush, back-pressure), the subscribe path (resume point, duplicate
 * filtering, range resume with an exclusive begin and `completed`, expiry
 * fallback for each policy with the gap callback, max_pending), give-up by
 * connection_timeout and by the delay strategy with the chooser's
 * description, and tracing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/bookmark.h"
#include "faultline/buf.h"
#include "faultline/client.h"
#include "faultline/error.h"
#include "faultline/wire.h"
#include "sim.h"
#include "sim_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000ULL
#define S  1000000ULL

/* ---- an in-test publish store ---------------------------------------------------- */

typedef struct tps_msg {
    uint64_t seq;
    char topic[32];
    uint8_t payload[64];
    size_t len;
} tps_msg;

typedef struct tps {
    tps_msg m[128];
    size_t n;
    uint64_t last;
    size_t capacity; /* 0: unbounded */
    int sync_fail;   /* next store writes, then fails its "sync": poisoned after */
    int poisoned;
} tps;

static int tps_store(void *self, const fl_pub_msg *msg)
{
    tps *s = self;
    if (s->poisoned)
        return FL_E_SYNC_FAILED;
    if (msg->sequence <= s->last)
        return FL_E_INVAL;
    if ((s->capacity && s->n >= s->capacity) || s->n == 128)
        return FL_E_FULL;
    if (msg->topic_len >= 32 || msg->payload_len > 64)
        return FL_E_INVAL;
    tps_msg *m = &s->m[s->n++];
    m->seq = msg->sequence;
    memcpy(m->topic, msg->topic, msg->topic_len);
    m->topic[msg->topic_len] = '\0';
    memcpy(m->payload, msg->payload, msg->payload_len);
    m->len = msg->payload_len;
    s->last = msg->sequence;
    if (s->sync_fail) {
        /* written, then the sync failed: outcome unknown (store.h) */
        s->poisoned = 1;
        return FL_E_SYNC_FAILED;
    }
    return 0;
}

static int tps_discard_up_to(void *self, uint64_t seq)
{
    tps *s = self;
    size_t k = 0;
    while (k < s->n && s->m[k].seq <= seq)
        k++;
    memmove(s->m, s->m + k, (s->n - k) * sizeof s->m[0]);
    s->n -= k;
    return 0;
}

static fl_pub_msg tps_view(const tps_msg *m)
{
    fl_pub_msg v = {m->seq, m->topic, strlen(m->topic), m->payload, m->len};
    return v;
}

static int tps_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    tps *s = self;
    for (size_t i = 0; i < s->n; i++) {
        fl_pub_msg v = tps_view(&s->m[i]);
        if (fn(arg, &v))
            break;
    }
    return 0;
}

static int tps_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    tps *s = self;
    for (size_t i = 0; i < s->n; i++) {
        if (s->m[i].seq == seq) {
            fl_pub_msg v = tps_view(&s->m[i]);
            fn(arg, &v);
            return 0;
        }
    }
    return FL_E_NOT_FOUND;
}

static uint64_t tps_unpersisted(void *self)
{
    return ((tps *)self)->n;
}

static uint64_t tps_last(void *self)
{
    return ((tps *)self)->last;
}

static uint64_t tps_lowest(void *self)
{
    tps *s = self;
    return s->n ? s->m[0].seq : 0;
}

static int tps_flush(void *self)
{
    (void)self;
    return 0;
}

static const char *tps_last_error(void *self)
{
    (void)self;
    return "";
}

static const fl_pubstore_ops TPS_OPS = {
    .version = FL_STORE_ABI_VERSION,
    .name = "test-pub",
    .store = tps_store,
    .discard_up_to = tps_discard_up_to,
    .replay = tps_replay,
    .replay_one = tps_replay_one,
    .unpersisted_count = tps_unpersisted,
    .last_sequence = tps_last,
    .lowest_unpersisted = tps_lowest,
    .flush = tps_flush,
    .last_error = tps_last_error,
};

/* ---- an in-test bookmark store ----------------------------------------------------- */

typedef struct tbs_entry {
    char sub[16];
    uint64_t pub, seq;
    int discarded;
} tbs_entry;

typedef struct tbs {
    tbs_entry e[256];
    size_t n;
    int purges;
} tbs;

static tbs_entry *tbs_find(tbs *s, const char *sub, const fl_store_bookmark *bm)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].sub, sub) && s->e[i].pub == bm->publisher &&
            s->e[i].seq == bm->sequence)
            return &s->e[i];
    return NULL;
}

static int tbs_log(void *self, const char *sub, const fl_store_bookmark *bm)
{
    tbs *s = self;
    tbs_entry *e = tbs_find(s, sub, bm);
    if (e)
        return e->discarded ? 1 : 0;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].sub, sub) && s->e[i].pub == bm->publisher &&
            s->e[i].seq >= bm->sequence)
            return 1; /* at/below the highest seen and unknown */
    if (s->n == 256)
        return FL_E_FULL;
    e = &s->e[s->n++];
    snprintf(e->sub, sizeof e->sub, "%s", sub);
    e->pub = bm->publisher;
    e->seq = bm->sequence;
    e->discarded = 0;
    return 0;
}

static int tbs_discard(void *self, const char *sub, const fl_store_bookmark *bm)
{
    tbs_entry *e = tbs_find(self, sub, bm);
    if (e)
        e->discarded = 1;
    return 0;
}

static int tbs_is_discarded(void *self, const char *sub, const fl_store_bookmark *bm)
{
    tbs_entry *e = tbs_find(self, sub, bm);
    return e && e->discarded;
}

/* Single-publisher resume point (enough for these tests): the highest
 * discarded sequence with every earlier logged one discarded. */
static int tbs_most_recent(void *self, const char *sub, char *buf, size_t cap)
{
    tbs *s = self;
    uint64_t pub = 0, best = 0, lowest_open = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->e[i].sub, sub))
            continue;
        pub = s->e[i].pub;
        if (!s->e[i].discarded && s->e[i].seq < lowest_open)
            lowest_open = s->e[i].seq;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].sub, sub) && s->e[i].discarded && s->e[i].seq < lowest_open &&
            s->e[i].seq > best)
            best = s->e[i].seq;
    int n =
        best ? snprintf(buf, cap, "%llu|%llu|", (unsigned long long)pub, (unsigned long long)best)
             : snprintf(buf, cap, "0");
    return (size_t)n >= cap ? FL_E_OVERFLOW : n;
}

static int tbs_noop(void *self)
{
    (void)self;
    return 0;
}

static int tbs_persisted(void *self, const char *sub, const fl_store_bookmark *bm)
{
    (void)self, (void)sub, (void)bm;
    return 0;
}

static int tbs_purge(void *self, const char *sub)
{
    tbs *s = self;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (sub && strcmp(s->e[i].sub, sub))
            s->e[k++] = s->e[i];
    s->n = k;
    s->purges++;
    return 0;
}

static const fl_bmstore_ops TBS_OPS = {
    .version = FL_STORE_ABI_VERSION,
    .name = "test-bm",
    .log = tbs_log,
    .discard = tbs_discard,
    .is_discarded = tbs_is_discarded,
    .most_recent = tbs_most_recent,
    .persisted = tbs_persisted,
    .prune = tbs_noop,
    .purge = tbs_purge,
    .flush = tbs_noop,
    .last_error = tps_last_error,
};

/* ---- the scripted fake broker ------------------------------------------------------ */

enum { LOGON_OK = 0, LOGON_SILENT, LOGON_REFUSE };

typedef struct fb_server {
    const char *name;
    int logon_mode;
    uint64_t logon_seq;
    const char *password;       /* required password, NULL: any */
    int close_after_publishes;  /* on the first connection only; 0: never */
    int close_after_subscribes; /* likewise */
    int close_after_logon;      /* every connection: close right after the logon ack */
    int expire_subs;            /* refuse this many bookmark subscribes as expired */
    int auto_ack;               /* persisted ack after each publish */
    int track_seq;              /* logon_seq follows the highest publish received */
    int connections;
} fb_server;

typedef struct fb_rec {
    uint8_t cmd;
    char server;
    uint64_t t;
    uint64_t seq;
    uint64_t hb;
    uint32_t maxp;
    char topic[32];
    char sub_id[32];
    char bm[128];
    char password[32];
    int has_bm;
} fb_rec;

typedef struct fx fx;

typedef struct fb {
    fx *f;
    fb_server sv[2];
    fl_conn_id conn;
    fb_server *cur;
    int pubs_on_conn, subs_on_conn;
    fl_buf rx;
    fb_rec rec[512];
    size_t nrec;
} fb;

/* ---- the fixture ---------------------------------------------------------------- */

typedef struct got_msg {
    const fl_message *m;
    uint64_t seq;
    char sub_id[16];
} got_msg;

struct fx {
    sim_ctx *ctx;
    sim_node *cn, *bn;
    const fl_runtime *crt, *brt;
    fb broker;
    fl_client *c;
    tps pub;
    tbs bm;
    int states[128];
    uint64_t state_t[128];
    size_t nstates;
    int last_err;
    char err_text[1024];
    int nerrors;
    uint64_t err_t;
    int failed_err;
    uint64_t failed_seq;
    char failed_topic[32];
    int nfailed;
    int ndups;
    int ngaps;
    fl_gap_info gap;
    char gap_req[128], gap_from[128];
    int ncompleted;
    int cap_events[8];
    int ncap;
    int flush_result[8];
    uint64_t flush_t[8];
    int nflush;
    got_msg msgs[64];
    size_t nmsgs;
    int auto_discard;
    int in_api; /* set while a test calls the client: no callback may run */
    char trace_hits[8][32];
};

static void fb_send_frame(fb *b, const fl_frame *fr)
{
    fl_buf out = FL_BUF_INIT;
    assert_int_equal(fl_frame_encode(&out, fr), 0);
    if (b->conn)
        b->f->brt->ops->send(b->f->brt->self, b->conn, out.data, out.len);
    fl_buf_free(&out);
}

static void fb_ack(fb *b, int type, int status, int reason, uint64_t seq, const char *sub_id)
{
    fl_frame fr;
    fl_frame_init(&fr, FL_CMD_ACK);
    fr.ack_type = (uint8_t)type;
    fr.status = (uint8_t)status;
    fr.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS;
    if (reason) {
        fr.reason = (uint8_t)reason;
        fr.present |= FL_HAS_REASON;
    }
    if (seq || type == FL_ACK_LOGON) {
        fr.sequence = seq;
        fr.present |= FL_HAS_SEQUENCE;
    }
    if (sub_id) {
        fr.sub_id = fl_slice_cstr(sub_id);
        fr.present |= FL_HAS_SUB_ID;
    }
    fb_send_frame(b, &fr);
}

static void fb_deliver(fb *b, const char *sub_id, uint64_t pub, uint64_t seq)
{
    fl_buf out = FL_BUF_INIT;
    fl_wire_bookmark bm = {pub, seq, 1577836800000000LL + (int64_t)seq};
    char payload[32];
    snprintf(payload, sizeof payload, "m%llu", (unsigned long long)seq);
    assert_int_equal(fl_wire_encode_delivery(&out, fl_slice_cstr("orders"), fl_slice_cstr(sub_id),
                                             &bm, fl_slice_cstr(payload)),
                     0);
    b->f->brt->ops->send(b->f->brt->self, b->conn, out.data, out.len);
    fl_buf_free(&out);
}

static void copy_slice(char *dst, size_t cap, fl_slice s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void fb_close(fb *b)
{
    if (b->conn)
        b->f->brt->ops->close(b->f->brt->self, b->conn);
    b->conn = 0;
}

static void fb_handle(fb *b, const fl_frame *fr)
{
    fb_server *sv = b->cur;
    if (b->nrec < 512) {
        fb_rec *r = &b->rec[b->nrec++];
        memset(r, 0, sizeof *r);
        r->cmd = fr->command;
        r->server = sv->name[0];
        r->t = sim_now(b->f->ctx);
        r->seq = fr->sequence;
        r->hb = fr->heartbeat_us;
        r->maxp = fr->max_pending;
        copy_slice(r->topic, sizeof r->topic, fr->topic);
        copy_slice(r->sub_id, sizeof r->sub_id, fr->sub_id);
        copy_slice(r->bm, sizeof r->bm, fr->bookmark_text);
        copy_slice(r->password, sizeof r->password, fr->password);
        r->has_bm = (fr->present & FL_HAS_BOOKMARK_TEXT) != 0;
    }
    switch (fr->command) {
    case FL_CMD_LOGON:
        if (sv->logon_mode == LOGON_SILENT)
            return;
        if (sv->password && !fl_slice_eq(fr->password, fl_slice_cstr(sv->password))) {
            fb_ack(b, FL_ACK_LOGON, FL_STATUS_FAILURE, FL_REASON_AUTH_FAILED, 0, NULL);
            return;
        }
        if (sv->logon_mode == LOGON_REFUSE) {
            fb_ack(b, FL_ACK_LOGON, FL_STATUS_FAILURE, FL_REASON_LOGON_REFUSED, 0, NULL);
            return;
        }
        fb_ack(b, FL_ACK_LOGON, FL_STATUS_SUCCESS, 0, sv->logon_seq, NULL);
        if (sv->close_after_logon)
            fb_close(b);
        return;
    case FL_CMD_PUBLISH:
        b->pubs_on_conn++;
        if (sv->track_seq && fr->sequence > sv->logon_seq)
            sv->logon_seq = fr->sequence;
        if (sv->auto_ack)
            fb_ack(b, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, fr->sequence, NULL);
        if (sv->connections == 1 && b->pubs_on_conn == sv->close_after_publishes)
            fb_close(b);
        return;
    case FL_CMD_SUBSCRIBE: {
        b->subs_on_conn++;
        char sid[32];
        copy_slice(sid, sizeof sid, fr->sub_id);
        if (sv->connections == 1 && b->subs_on_conn == sv->close_after_subscribes) {
            fb_close(b);
            return;
        }
        if (sv->expire_subs > 0 && (fr->present & FL_HAS_BOOKMARK_TEXT)) {
            sv->expire_subs--;
            fb_ack(b, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, FL_REASON_BOOKMARK_EXPIRED, 0, sid);
            return;
        }
        fb_ack(b, FL_ACK_SUBSCRIBED, FL_STATUS_SUCCESS, 0, 0, sid);
        return;
    }
    default:
        return;
    }
}

static void fb_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    fb *b = arg;
    if (conn != b->conn)
        return;
    assert_int_equal(fl_buf_append(&b->rx, buf, len), 0);
    size_t off = 0;
    for (;;) {
        fl_frame fr;
        size_t used;
        int rc = fl_frame_decode(b->rx.data + off, b->rx.len - off, 0, &fr, &used);
        if (rc == FL_E_AGAIN)
            break;
        assert_int_equal(rc, 0);
        off += used;
        fb_handle(b, &fr);
        if (b->conn != conn) {
            fl_buf_clear(&b->rx);
            return;
        }
    }
    fl_buf_consume(&b->rx, off);
}

static void fb_closed(void *arg, fl_conn_id conn, int reason)
{
    fb *b = arg;
    (void)reason;
    if (conn == b->conn)
        b->conn = 0;
}

static const fl_conn_callbacks FB_CBS = {NULL, fb_data, fb_closed};

static int fb_accept(void *arg, fl_conn_id conn, const char *client_node,
                     const fl_conn_callbacks **cbs, void **cbs_arg)
{
    fb_server *sv = arg;
    fb *b = NULL;
    (void)client_node;
    /* sv is inside fb.sv[]: find the broker from it. */
    b = (fb *)((char *)(sv - (sv->name[0] - 'a')) - offsetof(fb, sv));
    fb_close(b);
    b->conn = conn;
    b->cur = sv;
    sv->connections++;
    b->pubs_on_conn = b->subs_on_conn = 0;
    fl_buf_clear(&b->rx);
    *cbs = &FB_CBS;
    *cbs_arg = b;
    return 0;
}

static void fb_listen(fx *f, int idx)
{
    assert_int_equal(sim_listen(f->bn, f->broker.sv[idx].name, fb_accept, &f->broker.sv[idx]), 0);
}

static size_t fb_count(const fb *b, int cmd)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nrec; i++)
        n += b->rec[i].cmd == cmd;
    return n;
}

/* The k-th (0-based) recorded frame of `cmd`, or NULL. */
static const fb_rec *fb_nth(const fb *b, int cmd, size_t k)
{
    for (size_t i = 0; i < b->nrec; i++)
        if (b->rec[i].cmd == cmd && k-- == 0)
            return &b->rec[i];
    return NULL;
}

/* ---- client callbacks ------------------------------------------------------------- */

static void cb_state(void *arg, fl_client *c, int st)
{
    fx *f = arg;
    (void)c;
    assert_false(f->in_api);
    if (f->nstates < 128) {
        f->state_t[f->nstates] = sim_now(f->ctx);
        f->states[f->nstates++] = st;
    }
}

static void cb_error(void *arg, fl_client *c, int err, const char *text)
{
    fx *f = arg;
    (void)c;
    assert_false(f->in_api);
    f->last_err = err;
    f->nerrors++;
    f->err_t = sim_now(f->ctx);
    snprintf(f->err_text, sizeof f->err_text, "%s", text);
}

static void cb_failed(void *arg, fl_client *c, int err, const fl_pub_msg *m)
{
    fx *f = arg;
    (void)c;
    f->nfailed++;
    f->failed_err = err;
    f->failed_seq = m->sequence;
    snprintf(f->failed_topic, sizeof f->failed_topic, "%.*s", (int)m->topic_len,
             m->topic ? m->topic : "");
}

static void cb_dup(void *arg, fl_client *c, const char *sub_id, const fl_store_bookmark *bm)
{
    fx *f = arg;
    (void)c, (void)sub_id, (void)bm;
    f->ndups++;
}

static void cb_gap(void *arg, fl_client *c, const fl_gap_info *g)
{
    fx *f = arg;
    (void)c;
    f->ngaps++;
    f->gap = *g;
    snprintf(f->gap_req, sizeof f->gap_req, "%s", g->requested);
    snprintf(f->gap_from, sizeof f->gap_from, "%s", g->resumed_from ? g->resumed_from : "");
}

static void cb_capacity(void *arg, fl_client *c, int ev, uint64_t n)
{
    fx *f = arg;
    (void)c, (void)n;
    assert_false(f->in_api);
    if (f->ncap < 8)
        f->cap_events[f->ncap++] = ev;
}

static void cb_completed(void *arg, fl_client *c, const char *sub_id)
{
    fx *f = arg;
    (void)c, (void)sub_id;
    f->ncompleted++;
}

static void on_msg(void *arg, fl_client *c, const fl_message *m)
{
    fx *f = arg;
    assert_false(f->in_api);
    assert_true(f->nmsgs < 64);
    got_msg *g = &f->msgs[f->nmsgs++];
    g->m = m;
    g->seq = m->bookmark.sequence;
    snprintf(g->sub_id, sizeof g->sub_id, "%s", m->sub_id);
    if (f->auto_discard)
        assert_int_equal(fl_client_discard(c, m), 0);
}

static void on_flush(void *arg, fl_client *c, int result)
{
    fx *f = arg;
    (void)c;
    assert_false(f->in_api);
    f->flush_t[f->nflush] = sim_now(f->ctx);
    f->flush_result[f->nflush++] = result;
}

/* ---- fixture setup ------------------------------------------------------------------ */

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->ctx = sim_ctx_new(NULL);
    if (f->ctx == NULL || sim_node_new(f->ctx, "app", &f->cn) ||
        sim_node_new(f->ctx, "broker", &f->bn))
        return -1;
    f->crt = sim_node_runtime(f->cn);
    f->brt = sim_node_runtime(f->bn);
    f->broker.f = f;
    f->broker.sv[0].name = "a";
    f->broker.sv[1].name = "b";
    fl_buf_init(&f->broker.rx);

    fl_client_options o = FL_CLIENT_OPTIONS_INIT;
    o.attempt_timeout_us = 1 * S;
    o.cb = (fl_client_callbacks){f,      cb_state, cb_error,    cb_failed,
                                 cb_dup, cb_gap,   cb_capacity, cb_completed};
    if (fl_client_new(f->crt, "pub-1", &o, &f->c))
        return -1;
    fl_chooser ch;
    if (fl_chooser_default_new(&ch) || fl_chooser_default_add(&ch, "a", "pa") ||
        fl_chooser_default_add(&ch, "b", "pb") || fl_client_set_chooser(f->c, &ch))
        return -1;
    fl_delay_exp_options d = FL_DELAY_EXP_OPTIONS_INIT;
    d.jitter = 0;
    fl_delay dl;
    if (fl_delay_exponential_new(f->crt, &d, &dl) || fl_client_set_delay(f->c, &dl))
        return -1;
    if (fl_client_set_publish_store(f->c, &TPS_OPS, &f->pub) ||
        fl_client_set_bookmark_store(f->c, &TBS_OPS, &f->bm))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    fl_client_free(f->c);
    fl_buf_free(&f->broker.rx);
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

static void run_for(fx *f, uint64_t us)
{
    sim_run_until(f->ctx, sim_now(f->ctx) + us);
}

static int api_connect(fx *f)
{
    f->in_api = 1;
    int rc = fl_client_connect(f->c);
    f->in_api = 0;
    return rc;
}

static bool saw_state(const fx *f, int st)
{
    for (size_t i = 0; i < f->nstates; i++)
        if (f->states[i] == st)
            return true;
    return false;
}

static size_t count_state(const fx *f, int st)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nstates; i++)
        n += f->states[i] == st;
    return n;
}

/* Run until the client has re-entered its subscriptions once more than
 * `before` times (a new session is up), at most 30 virtual seconds; the
 * session just lost was short, so the wait comes from the delay strategy
 * (client.h, "Reconnect pacing"). */
static void run_until_resubscribed(fx *f, size_t before)
{
    for (int i = 0; i < 3000 && count_state(f, FL_CLIENT_RESUBSCRIBED) <= before; i++)
        run_for(f, 10 * MS);
    assert_true(count_state(f, FL_CLIENT_RESUBSCRIBED) > before);
    run_for(f, 1 * MS);
}

/* Cut the client's link and wait for the next session. */
static void cut_and_reconnect(fx *f)
{
    size_t before = count_state(f, FL_CLIENT_RESUBSCRIBED);
    assert_int_equal(sim_net_cut(sim_ctx_net(f->ctx), "app"), 0);
    run_until_resubscribed(f, before);
}

static uint64_t publish(fx *f, const char *payload)
{
    uint64_t seq = 0;
    f->in_api = 1;
    assert_int_equal(fl_client_publish(f->c, "orders", payload, strlen(payload), &seq), 0);
    f->in_api = 0;
    return seq;
}

static void subscribe(fx *f, const char *sub_id, const char *bookmark, int fallback)
{
    fl_sub_options so = FL_SUB_OPTIONS_INIT;
    so.topic = "orders";
    so.sub_id = sub_id;
    so.bookmark = bookmark;
    so.replay_fallback = fallback;
    so.options = FL_SUB_COMPLETED;
    so.fn = on_msg;
    so.arg = f;
    f->in_api = 1;
    assert_int_equal(fl_client_subscribe(f->c, &so), 0);
    f->in_api = 0;
}

/* ---- reconnect state machine ---------------------------------------------------------- */

static void test_connect_states_and_logon(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    fl_client_set_heartbeat(f->c, 1 * S, 0);
    assert_int_equal(api_connect(f), 0);
    assert_int_equal(f->nstates, 0); /* nothing inside the call */
    assert_int_equal(api_connect(f), FL_E_STATE);
    run_for(f, 10 * MS);
    const int expect[] = {FL_CLIENT_CONNECTED, FL_CLIENT_LOGGED_ON, FL_CLIENT_PUBLISH_REPLAYED,
                          FL_CLIENT_HEARTBEAT_INITIATED, FL_CLIENT_RESUBSCRIBED};
    assert_int_equal(f->nstates, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(f->states[i], expect[i]);
    const fb_rec *l = fb_nth(&f->broker, FL_CMD_LOGON, 0);
    assert_non_null(l);
    assert_string_equal(l->password, "pa"); /* per-URI credentials */
    assert_int_equal(l->hb, 1 * S);
    assert_int_equal(fl_client_state_get(f->c), FL_CLIENT_RESUBSCRIBED);

    /* disconnect: SHUT_DOWN reported from the loop, not inside the call. */
    f->in_api = 1;
    assert_int_equal(fl_client_disconnect(f->c), 0);
    f->in_api = 0;
    assert_int_not_equal(f->states[f->nstates - 1], FL_CLIENT_SHUT_DOWN);
    run_for(f, 1 * MS);
    assert_int_equal(f->states[f->nstates - 1], FL_CLIENT_SHUT_DOWN);
    assert_int_equal(fl_client_disconnect(f->c), FL_E_STATE);
}

static void test_refused_fails_over(void **state)
{
    fx *f = *state;
    fb_listen(f, 1); /* "a" is not listening: refused */
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_true(saw_state(f, FL_CLIENT_RESUBSCRIBED));
    const fb_rec *l = fb_nth(&f->broker, FL_CMD_LOGON, 0);
    assert_non_null(l);
    assert_int_equal(l->server, 'b');
    assert_string_equal(l->password, "pb");
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.attempts, 2);
    /* The refused attempt never reported CONNECTED. */
    assert_int_equal(count_state(f, FL_CLIENT_CONNECTED), 1);
}

static void test_connect_hangs_times_out(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    fb_listen(f, 1);
    const char *peers[] = {"a"};
    assert_int_equal(sim_net_partition(sim_ctx_net(f->ctx), "app", peers, 1, 60 * S), 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 999 * MS);
    assert_int_equal(f->broker.nrec, 0);
    run_for(f, 20 * MS);
    /* The attempt timed out at 1 s; b (new URI: no wait) took over. */
    const fb_rec *l = fb_nth(&f->broker, FL_CMD_LOGON, 0);
    assert_non_null(l);
    assert_int_equal(l->server, 'b');
    assert_true(l->t >= 1 * S && l->t < 1 * S + 5 * MS);
}

static void test_logon_refused_and_auth_fail_over(void **state)
{
    fx *f = *state;
    f->broker.sv[0].password = "not-pa"; /* auth failure on a */
    f->broker.sv[1].logon_mode = LOGON_REFUSE;
    fb_listen(f, 0);
    fb_listen(f, 1);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 5 * MS);
    /* a: auth failure, b: refused, then back to a after 200 ms. */
    assert_int_equal(fb_count(&f->broker, FL_CMD_LOGON), 2);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_LOGON, 0)->server, 'a');
    assert_int_equal(fb_nth(&f->broker, FL_CMD_LOGON, 1)->server, 'b');
    assert_int_equal(count_state(f, FL_CLIENT_DISCONNECTED), 2);
    assert_false(saw_state(f, FL_CLIENT_LOGGED_ON));
    f->broker.sv[0].password = "pa";
    run_for(f, 300 * MS);
    assert_int_equal(fb_count(&f->broker, FL_CMD_LOGON), 3);
    const fb_rec *l = fb_nth(&f->broker, FL_CMD_LOGON, 2);
    assert_int_equal(l->server, 'a');
    assert_true(l->t >= 200 * MS);
    assert_true(saw_state(f, FL_CLIENT_RESUBSCRIBED));
}

static void test_logon_silent_times_out(void **state)
{
    fx *f = *state;
    f->broker.sv[0].logon_mode = LOGON_SILENT;
    fb_listen(f, 0);
    fb_listen(f, 1);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 1100 * MS);
    assert_int_equal(fb_count(&f->broker, FL_CMD_LOGON), 2);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_LOGON, 1)->server, 'b');
    assert_true(saw_state(f, FL_CLIENT_LOGGED_ON));
}

static void test_plain_disconnect_retries_same_server(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    fb_listen(f, 1);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 1 * S + 10 * MS); /* past stable_after: the delay strategy is reset */
    assert_int_equal(sim_net_cut(sim_ctx_net(f->ctx), "app"), 0);
    run_for(f, 10 * MS); /* so the first retry waits 0 */
    assert_int_equal(fb_count(&f->broker, FL_CMD_LOGON), 2);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_LOGON, 1)->server, 'a');
    assert_int_equal(count_state(f, FL_CLIENT_RESUBSCRIBED), 2);
}

static void test_disconnect_during_republish(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 5; i++)
        publish(f, "x"); /* stored while disconnected: 1..5 */
    f->broker.sv[0].close_after_publishes = 2;
    f->broker.sv[0].track_seq = 1;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    /* First session: the broker takes 1 and 2 and closes; second session
     * (same server; its logon ack says 2) republishes exactly 3..5. */
    run_for(f, 1 * S);
    assert_int_equal(f->broker.sv[0].connections, 2);
    size_t n = fb_count(&f->broker, FL_CMD_PUBLISH);
    assert_int_equal(n, 5);
    const uint64_t tail[] = {3, 4, 5};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fb_nth(&f->broker, FL_CMD_PUBLISH, n - 3 + i)->seq, tail[i]);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_PUBLISH, 0)->seq, 1);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_PUBLISH, 1)->seq, 2);
    assert_int_equal(fl_client_unpersisted_count(f->c), 3); /* 1,2 discarded */
    assert_int_equal(count_state(f, FL_CLIENT_RESUBSCRIBED), 2);
}

static void test_disconnect_during_resubscribe(void **state)
{
    fx *f = *state;
    subscribe(f, "s1", NULL, 0);
    subscribe(f, "s2", "0", 0);
    f->broker.sv[0].close_after_subscribes = 1;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 1 * S);
    assert_int_equal(f->broker.sv[0].connections, 2);
    /* Both re-entered on the second session: s1 live, s2 from "0". */
    /* The broker closed on the first frame (s1); s2's never got in. */
    size_t n = fb_count(&f->broker, FL_CMD_SUBSCRIBE);
    assert_int_equal(n, 3);
    const fb_rec *a = fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1);
    const fb_rec *b = fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 2);
    assert_string_equal(a->sub_id, "s1");
    assert_false(a->has_bm);
    assert_string_equal(b->sub_id, "s2");
    assert_string_equal(b->bm, "0");
}

static void test_heartbeat_stall_detected(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    fl_client_set_heartbeat(f->c, 1 * S, 3 * S);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    /* The broker keeps talking: no stall for 10 s. */
    for (int i = 0; i < 10; i++) {
        fl_frame hb;
        fl_frame_init(&hb, FL_CMD_HEARTBEAT);
        fb_send_frame(&f->broker, &hb);
        run_for(f, 1 * S);
    }
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.stalls, 0);
    assert_true(fb_count(&f->broker, FL_CMD_HEARTBEAT) >= 9); /* the client's own */
    /* Black hole, no close: detected within the idle timeout. */
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(sim_net_stall(sim_ctx_net(f->ctx), "app", 0), 0);
    size_t before = f->nstates;
    run_for(f, 3 * S + 10 * MS);
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.stalls, 1);
    bool found = false;
    for (size_t i = before; i < f->nstates; i++) {
        if (f->states[i] == FL_CLIENT_DISCONNECTED) {
            assert_true(f->state_t[i] > t0 && f->state_t[i] <= t0 + 3 * S);
            found = true;
            break;
        }
    }
    assert_true(found);
    /* ... and failover: a new logon follows on a fresh connection. */
    run_for(f, 1 * S);
    assert_true(fb_count(&f->broker, FL_CMD_LOGON) >= 2);
}

/* ---- publish path ----------------------------------------------------------------------- */

static void test_sequences_continue_from_store_and_logon(void **state)
{
    fx *f = *state;
    fl_client_free(f->c);
    /* A store from a previous run: 8..10 unpersisted. */
    for (uint64_t s = 8; s <= 10; s++) {
        fl_pub_msg m = {s, "orders", 6, (const uint8_t *)"old", 3};
        assert_int_equal(tps_store(&f->pub, &m), 0);
    }
    fl_client_options o = FL_CLIENT_OPTIONS_INIT;
    o.cb = (fl_client_callbacks){f, cb_state, cb_error, cb_failed, NULL, NULL, NULL, NULL};
    assert_int_equal(fl_client_new(f->crt, "pub-1", &o, &f->c), 0);
    fl_chooser ch;
    assert_int_equal(fl_chooser_default_new(&ch), 0);
    assert_int_equal(fl_chooser_default_add(&ch, "a", NULL), 0);
    assert_int_equal(fl_client_set_chooser(f->c, &ch), 0);
    assert_int_equal(fl_client_set_publish_store(f->c, &TPS_OPS, &f->pub), 0);
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.next_sequence, 11);

    f->broker.sv[0].logon_seq = 9; /* the broker has 8 and 9 */
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_int_equal(fb_count(&f->broker, FL_CMD_PUBLISH), 1);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_PUBLISH, 0)->seq, 10);
    assert_int_equal(fl_client_unpersisted_count(f->c), 1);
    assert_int_equal(publish(f, "new"), 11);

    /* Restart where the broker has seen more than the store (store lost):
     * sequences jump past the logon ack's, never reuse a seen one. */
    f->broker.sv[0].logon_seq = 40;
    cut_and_reconnect(f);
    assert_int_equal(fl_client_unpersisted_count(f->c), 0);
    assert_int_equal(publish(f, "newer"), 41);
    run_for(f, 1 * MS);
    const fb_rec *last =
        fb_nth(&f->broker, FL_CMD_PUBLISH, fb_count(&f->broker, FL_CMD_PUBLISH) - 1);
    assert_int_equal(last->seq, 41);
}

static void test_republish_in_order_after_reconnect(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    for (int i = 0; i < 4; i++)
        publish(f, "p");
    run_for(f, 1 * MS);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, 2, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(fl_client_unpersisted_count(f->c), 2);
    size_t sessions = count_state(f, FL_CLIENT_RESUBSCRIBED);
    assert_int_equal(sim_net_cut(sim_ctx_net(f->ctx), "app"), 0);
    publish(f, "while-down"); /* 5: stored, sent after the republish */
    f->broker.sv[0].logon_seq = 2;
    run_until_resubscribed(f, sessions);
    size_t n = fb_count(&f->broker, FL_CMD_PUBLISH);
    assert_int_equal(n, 4 + 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fb_nth(&f->broker, FL_CMD_PUBLISH, 4 + i)->seq, 3 + i);
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.republished, 3);
}

static void test_flush_and_persisted_acks(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    /* Nothing unpersisted: completes from the loop, not inside the call. */
    f->in_api = 1;
    assert_int_equal(fl_client_publish_flush(f->c, 0, on_flush, f), 0);
    f->in_api = 0;
    assert_int_equal(f->nflush, 0);
    run_for(f, 1 * MS);
    assert_int_equal(f->nflush, 1);
    assert_int_equal(f->flush_result[0], 0);

    publish(f, "a");
    publish(f, "b");
    assert_int_equal(fl_client_publish_flush(f->c, 500 * MS, on_flush, f), 0);
    assert_int_equal(fl_client_publish_flush(f->c, 0, on_flush, f), 0);
    run_for(f, 600 * MS);
    assert_int_equal(f->nflush, 2);
    assert_int_equal(f->flush_result[1], FL_E_TIMEOUT);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, 1, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(fl_client_unpersisted_count(f->c), 1);
    assert_int_equal(f->nflush, 2);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, 2, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(f->nflush, 3);
    assert_int_equal(f->flush_result[2], 0);

    /* A flush pending at disconnect completes with SHUTDOWN. */
    publish(f, "c");
    assert_int_equal(fl_client_publish_flush(f->c, 0, on_flush, f), 0);
    assert_int_equal(fl_client_disconnect(f->c), 0);
    run_for(f, 1 * MS);
    assert_int_equal(f->nflush, 4);
    assert_int_equal(f->flush_result[3], FL_E_SHUTDOWN);
}

static void test_failed_write(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    publish(f, "one");
    publish(f, "two");
    publish(f, "three");
    run_for(f, 1 * MS);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_FAILURE, FL_REASON_NOT_ENTITLED, 2, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(f->nfailed, 1);
    assert_int_equal(f->failed_err, FL_E_NOT_ENTITLED);
    assert_int_equal(f->failed_seq, 2);
    assert_string_equal(f->failed_topic, "orders");
    /* 1 is not persisted yet: nothing may leave the store. */
    assert_int_equal(fl_client_unpersisted_count(f->c), 3);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, 1, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(fl_client_unpersisted_count(f->c), 1); /* 1 persisted, 2 failed */
    assert_int_equal(tps_lowest(&f->pub), 3);
    /* A duplicate ack reports too. */
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_FAILURE, FL_REASON_DUPLICATE, 3, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(f->nfailed, 2);
    assert_int_equal(f->failed_err, FL_E_DUPLICATE);
    assert_int_equal(fl_client_unpersisted_count(f->c), 0);
    assert_int_equal(publish(f, "four"), 4);
}

static void test_store_full_backpressure(void **state)
{
    fx *f = *state;
    f->pub.capacity = 2;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    publish(f, "1");
    publish(f, "2");
    uint64_t seq = 0;
    f->in_api = 1;
    assert_int_equal(fl_client_publish(f->c, "orders", "3", 1, &seq), FL_E_FULL);
    f->in_api = 0;
    assert_int_equal(seq, 0);
    run_for(f, 1 * MS);
    assert_int_equal(f->ncap, 1);
    assert_int_equal(f->cap_events[0], FL_CAPACITY_FULL);
    fb_ack(&f->broker, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, 1, NULL);
    run_for(f, 1 * MS);
    assert_int_equal(f->ncap, 2);
    assert_int_equal(f->cap_events[1], FL_CAPACITY_AVAILABLE);
    assert_int_equal(publish(f, "3"), 3); /* the refused publish used no number */
}

static void test_publish_without_store(void **state)
{
    fx *f = *state;
    assert_int_equal(fl_client_set_publish_store(f->c, NULL, NULL), 0);
    uint64_t seq;
    assert_int_equal(fl_client_publish(f->c, "orders", "x", 1, &seq), FL_E_DISCONNECTED);
    assert_int_equal(fl_client_publish(f->c, "", "x", 1, &seq), FL_E_INVAL);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_int_equal(publish(f, "x"), 1);
    assert_int_equal(fl_client_unpersisted_count(f->c), 0);
    assert_int_equal(fl_client_set_publish_store(f->c, &TPS_OPS, &f->pub), FL_E_STATE);
    fl_pubstore_ops bad = TPS_OPS;
    bad.version = FL_STORE_ABI_VERSION + 1;
    fl_client_disconnect(f->c);
    assert_int_equal(fl_client_set_publish_store(f->c, &bad, &f->pub), FL_E_BAD_VERSION);
}

/* F1: a store() that fails its sync has an unknown outcome; the client
 * still reports the sequence it assigned, sends nothing, and never hands
 * that sequence out again. */
static void test_publish_sync_failed_reports_sequence(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_int_equal(publish(f, "a"), 1);
    f->pub.sync_fail = 1;
    uint64_t seq = 0;
    f->in_api = 1;
    assert_int_equal(fl_client_publish(f->c, "orders", "b", 1, &seq), FL_E_SYNC_FAILED);
    f->in_api = 0;
    assert_int_equal(seq, 2);      /* reported although the publish failed */
    assert_int_equal(f->pub.n, 2); /* the store may hold it (here it does) */
    /* the poisoned store refuses the next one: a new sequence again */
    seq = 0;
    f->in_api = 1;
    assert_int_equal(fl_client_publish(f->c, "orders", "c", 1, &seq), FL_E_SYNC_FAILED);
    f->in_api = 0;
    assert_int_equal(seq, 3);
    run_for(f, 10 * MS);
    assert_int_equal(fb_count(&f->broker, FL_CMD_PUBLISH), 1); /* only seq 1 was sent */
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.published, 1);
    assert_int_equal(st.next_sequence, 4);
    /* other failures leave *seq_out alone */
    seq = 99;
    f->in_api = 1;
    assert_int_equal(fl_client_publish(f->c, "", "d", 1, &seq), FL_E_INVAL);
    f->in_api = 0;
    assert_int_equal(seq, 99);
}

/* ---- reconnect pacing (F4) ---------------------------------------------------------------- */

/* Logon times of server `name`, in order. */
static size_t logon_times(const fx *f, char name, uint64_t *t, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < f->broker.nrec; i++)
        if (f->broker.rec[i].cmd == FL_CMD_LOGON && f->broker.rec[i].server == name) {
            if (n < cap)
                t[n] = f->broker.rec[i].t;
            n++;
        }
    return n;
}

/* A broker that accepts every logon and drops the session right after
 * (a poisoned journal): the attempts follow the delay strategy instead of
 * a hot loop. The fixture's exponential strategy (200 ms, x2, max 20 s, no
 * jitter) allows, over one virtual minute, attempts at 0, 0.2, 0.6, 1.4,
 * 3.0, 6.2, 12.6, 25.4 and 45.4 s (plus connect and logon round trips). */
static void test_flapping_broker_backs_off(void **state)
{
    fx *f = *state;
    f->broker.sv[0].close_after_logon = 1;
    f->broker.sv[1].close_after_logon = 1;
    fb_listen(f, 0);
    fb_listen(f, 1);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 60 * S);
    uint64_t t[64];
    size_t n = logon_times(f, 'a', t, 64);
    assert_int_equal(n, 9);
    assert_int_equal(fb_count(&f->broker, FL_CMD_LOGON), 9); /* never failed over to b */
    uint64_t want_gap = 200 * MS;
    for (size_t i = 1; i < n; i++) {
        uint64_t gap = t[i] - t[i - 1];
        uint64_t want = want_gap < 20 * S ? want_gap : 20 * S;
        if (gap < want || gap > want + 10 * MS)
            fail_msg("logon %zu came %llu us after the previous one, want %llu us", i,
                     (unsigned long long)gap, (unsigned long long)want);
        want_gap *= 2;
    }
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.sessions, 9);
    assert_int_equal(st.attempts, 9);

    /* The broker heals: a session that stays up past stable_after resets the
     * strategy, so the next plain disconnect is retried at once. */
    f->broker.sv[0].close_after_logon = 0;
    run_for(f, 30 * S); /* the 10th attempt (65.4 s) finds a healthy broker */
    assert_int_equal(logon_times(f, 'a', t, 64), 10);
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(sim_net_cut(sim_ctx_net(f->ctx), "app"), 0);
    run_for(f, 10 * MS);
    n = logon_times(f, 'a', t, 64);
    assert_int_equal(n, 11);
    assert_true(t[10] >= t0 && t[10] < t0 + 10 * MS);
}

/* The same with a fixed strategy: one attempt per delay, not thousands. */
static void test_flapping_broker_fixed_delay(void **state)
{
    fx *f = *state;
    fl_delay_fixed_options o = FL_DELAY_FIXED_OPTIONS_INIT;
    o.delay_us = 100 * MS;
    fl_delay d;
    assert_int_equal(fl_delay_fixed_new(f->crt, &o, &d), 0);
    assert_int_equal(fl_client_set_delay(f->c, &d), 0);
    f->broker.sv[0].close_after_logon = 1;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * S);
    size_t n = fb_count(&f->broker, FL_CMD_LOGON);
    /* one every 100 ms plus a round trip or two: 90..101 in 10 s */
    if (n < 90 || n > 101)
        fail_msg("%zu logons in 10 virtual seconds, want about 100", n);
}

/* stable_after 0 restores the AMPS behaviour: reset at every logon, so a
 * flapping broker is retried without delay (kept as an option, documented
 * as a hot loop). */
static void test_stable_after_zero_resets_at_logon(void **state)
{
    fx *f = *state;
    assert_int_equal(fl_client_set_stable_after(f->c, 0), 0);
    f->broker.sv[0].close_after_logon = 1;
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 100 * MS);
    assert_true(fb_count(&f->broker, FL_CMD_LOGON) > 20);
    assert_int_equal(fl_client_set_stable_after(f->c, 5), FL_E_STATE); /* while connecting */
}

/* ---- subscribe path --------------------------------------------------------------------- */

#define PUB 777

static void test_bookmark_resume_and_duplicates(void **state)
{
    fx *f = *state;
    f->auto_discard = 1;
    subscribe(f, "s1", "recent", 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 0)->bm, "0"); /* unseen: EPOCH */
    for (uint64_t s = 1; s <= 3; s++)
        fb_deliver(&f->broker, "s1", PUB, s);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 3);
    cut_and_reconnect(f);
    const fb_rec *r = fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1);
    assert_non_null(r);
    assert_string_equal(r->bm, "777|3|");
    /* The broker replays from an earlier point: 2 and 3 are filtered. */
    for (uint64_t s = 2; s <= 4; s++)
        fb_deliver(&f->broker, "s1", PUB, s);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 4);
    assert_int_equal(f->msgs[3].seq, 4);
    assert_int_equal(f->ndups, 2);
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.discarded, 4);
}

static void test_undiscarded_pins_resume(void **state)
{
    fx *f = *state;
    subscribe(f, "s1", "0", 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    for (uint64_t s = 1; s <= 3; s++)
        fb_deliver(&f->broker, "s1", PUB, s);
    run_for(f, 1 * MS);
    assert_int_equal(fl_client_discard(f->c, f->msgs[0].m), 0);
    assert_int_equal(fl_client_discard(f->c, f->msgs[2].m), 0);
    assert_int_equal(fl_client_discard(f->c, f->msgs[2].m), FL_E_NOT_FOUND);
    cut_and_reconnect(f);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1)->bm, "777|1|");
    /* Replay: 2 comes again (never discarded), 3 is filtered. */
    fb_deliver(&f->broker, "s1", PUB, 2);
    fb_deliver(&f->broker, "s1", PUB, 3);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 4);
    assert_int_equal(f->msgs[3].seq, 2);
    assert_int_equal(f->ndups, 1);
}

static void test_live_resubscribe_is_live(void **state)
{
    fx *f = *state;
    subscribe(f, "live", NULL, 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    fb_deliver(&f->broker, "live", PUB, 1);
    run_for(f, 1 * MS);
    cut_and_reconnect(f);
    assert_int_equal(fb_count(&f->broker, FL_CMD_SUBSCRIBE), 2);
    assert_false(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1)->has_bm);
    assert_int_equal(f->bm.n, 0); /* live messages are not logged */
    /* Unsubscribe: not re-entered any more. */
    assert_int_equal(fl_client_unsubscribe(f->c, "live"), 0);
    assert_int_equal(fl_client_unsubscribe(f->c, "live"), FL_E_NOT_FOUND);
    run_for(f, 1 * MS);
    assert_int_equal(fb_count(&f->broker, FL_CMD_UNSUBSCRIBE), 1);
}

static void test_range_resume_exclusive_and_completed(void **state)
{
    fx *f = *state;
    f->auto_discard = 1;
    subscribe(f, "r1", "[20200101T000000Z:20200102T000000Z)", 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 0)->bm,
                        "[20200101T000000Z:20200102T000000Z)");
    fb_deliver(&f->broker, "r1", PUB, 1);
    fb_deliver(&f->broker, "r1", PUB, 2);
    run_for(f, 1 * MS);
    cut_and_reconnect(f);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1)->bm, "(777|2|:20200102T000000Z)");
    fb_ack(&f->broker, FL_ACK_COMPLETED, FL_STATUS_SUCCESS, 0, 0, "r1");
    run_for(f, 1 * MS);
    assert_int_equal(f->ncompleted, 1);
    /* A completed range is not re-entered. */
    cut_and_reconnect(f);
    assert_int_equal(count_state(f, FL_CLIENT_RESUBSCRIBED), 3);
    assert_int_equal(fb_count(&f->broker, FL_CMD_SUBSCRIBE), 2);

    /* An inclusive end stays inclusive. */
    subscribe(f, "r2", "[0:777|9|]", 0);
    fb_deliver(&f->broker, "r2", PUB, 5);
    run_for(f, 1 * MS);
    cut_and_reconnect(f);
    const fb_rec *r =
        fb_nth(&f->broker, FL_CMD_SUBSCRIBE, fb_count(&f->broker, FL_CMD_SUBSCRIBE) - 1);
    assert_string_equal(r->bm, "(777|5|:777|9|]");
}

static void test_expiry_fallback_policies(void **state)
{
    fx *f = *state;
    static const struct {
        int policy;
        const char *resub; /* NULL: dropped */
    } cases[] = {
        {FL_FALLBACK_FAIL, NULL},
        {FL_FALLBACK_EPOCH, "0"},
        {FL_FALLBACK_NOW, "0|1|"},
    };
    fb_listen(f, 0);
    f->auto_discard = 1;
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    for (size_t i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "e%zu", i);
        /* Give the store an old resume point for the sub id. */
        fl_store_bookmark old = {PUB, 5, 0};
        assert_int_equal(tbs_log(&f->bm, id, &old), 0);
        assert_int_equal(tbs_discard(&f->bm, id, &old), 0);
        int gaps = f->ngaps, errs = f->nerrors;
        size_t nsub = fb_count(&f->broker, FL_CMD_SUBSCRIBE);
        f->broker.sv[0].expire_subs = 1;
        subscribe(f, id, "recent", cases[i].policy);
        run_for(f, 2 * MS);
        assert_int_equal(f->ngaps, gaps + 1); /* always reported */
        assert_string_equal(f->gap_req, "777|5|");
        assert_int_equal(f->gap.policy, cases[i].policy);
        assert_int_equal(f->gap.reason, FL_E_BOOKMARK_EXPIRED);
        if (cases[i].resub == NULL) {
            assert_int_equal(f->nerrors, errs + 1);
            assert_int_equal(f->last_err, FL_E_BOOKMARK_EXPIRED);
            assert_non_null(strstr(f->err_text, id));
            assert_int_equal(fb_count(&f->broker, FL_CMD_SUBSCRIBE), nsub + 1);
            assert_string_equal(f->gap_from, "");
        } else {
            assert_int_equal(f->nerrors, errs);
            assert_int_equal(fb_count(&f->broker, FL_CMD_SUBSCRIBE), nsub + 2);
            const fb_rec *r = fb_nth(&f->broker, FL_CMD_SUBSCRIBE, nsub + 1);
            assert_string_equal(r->sub_id, id);
            assert_string_equal(r->bm, cases[i].resub);
            assert_string_equal(f->gap_from, cases[i].resub);
        }
    }
    /* After a reconnect the FAIL sub is gone; the others come back. */
    size_t nsub = fb_count(&f->broker, FL_CMD_SUBSCRIBE);
    cut_and_reconnect(f);
    assert_int_equal(fb_count(&f->broker, FL_CMD_SUBSCRIBE), nsub + 2);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, nsub)->sub_id, "e1");
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, nsub)->bm, "0");
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, nsub + 1)->bm, "0|1|");
}

static void test_expired_range_keeps_end(void **state)
{
    fx *f = *state;
    fb_listen(f, 0);
    f->broker.sv[0].expire_subs = 1;
    subscribe(f, "r", "[20200101T000000Z:20200102T000000Z]", FL_FALLBACK_EPOCH);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_int_equal(f->ngaps, 1);
    assert_string_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 1)->bm, "[0:20200102T000000Z]");
}

static void test_max_pending_holds(void **state)
{
    fx *f = *state;
    fl_client_set_max_pending(f->c, 2);
    subscribe(f, "s1", "0", 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    assert_int_equal(fb_nth(&f->broker, FL_CMD_SUBSCRIBE, 0)->maxp, 2);
    for (uint64_t s = 1; s <= 5; s++)
        fb_deliver(&f->broker, "s1", PUB, s);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 2);
    fl_client_stats st;
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.held, 3);
    f->in_api = 1;
    assert_int_equal(fl_client_discard(f->c, f->msgs[0].m), 0);
    f->in_api = 0;
    assert_int_equal(f->nmsgs, 2); /* not inside discard */
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 3);
    assert_int_equal(f->msgs[2].seq, 3);
    f->auto_discard = 1;
    assert_int_equal(fl_client_discard(f->c, f->msgs[1].m), 0);
    assert_int_equal(fl_client_discard(f->c, f->msgs[2].m), 0);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 5);
    assert_int_equal(f->msgs[4].seq, 5);
    fl_client_get_stats(f->c, &st);
    assert_int_equal(st.held, 0);
}

static void test_subscribe_validation(void **state)
{
    fx *f = *state;
    fl_sub_options so = FL_SUB_OPTIONS_INIT;
    so.topic = "orders";
    so.sub_id = "x";
    so.fn = on_msg;
    so.bookmark = "[0:";
    assert_int_equal(fl_client_subscribe(f->c, &so), FL_E_BAD_RANGE);
    so.bookmark = "garbage";
    assert_int_equal(fl_client_subscribe(f->c, &so), FL_E_BAD_BOOKMARK);
    so.bookmark = NULL;
    so.fn = NULL;
    assert_int_equal(fl_client_subscribe(f->c, &so), FL_E_INVAL);
    so.fn = on_msg;
    assert_int_equal(fl_client_subscribe(f->c, &so), 0);
    assert_int_equal(fl_client_subscribe(f->c, &so), FL_E_BUSY);
}

/* ---- giving up ---------------------------------------------------------------------------- */

static void test_give_up_connection_timeout(void **state)
{
    fx *f = *state;
    assert_int_equal(fl_client_set_connection_timeout(f->c, 5 * S), 0);
    assert_int_equal(api_connect(f), 0); /* nobody listens */
    run_for(f, 10 * S);
    assert_int_equal(f->nerrors, 1);
    assert_int_equal(f->last_err, FL_E_TIMEOUT);
    assert_int_equal(f->err_t, 5 * S);
    assert_int_equal(f->states[f->nstates - 1], FL_CLIENT_GAVE_UP);
    assert_non_null(strstr(f->err_text, "connection_timeout"));
    assert_non_null(strstr(f->err_text, "round-robin over [a: connection refused"));
    assert_non_null(strstr(f->err_text, "b (current): connection refused"));
    /* connect() after the give-up resets the delay strategy: the first
     * attempt happens at once. */
    fb_listen(f, 0);
    uint64_t t0 = sim_now(f->ctx);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    const fb_rec *l = fb_nth(&f->broker, FL_CMD_LOGON, 0);
    assert_non_null(l);
    assert_true(l->t - t0 < 1 * MS);
}

static void test_give_up_by_delay_strategy(void **state)
{
    fx *f = *state;
    fl_delay_fixed_options o = FL_DELAY_FIXED_OPTIONS_INIT;
    o.delay_us = 1 * S;
    o.max_total_us = 3 * S;
    fl_delay d;
    assert_int_equal(fl_delay_fixed_new(f->crt, &o, &d), 0);
    assert_int_equal(fl_client_set_delay(f->c, &d), 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * S);
    assert_int_equal(f->nerrors, 1);
    assert_int_equal(f->last_err, FL_E_GAVE_UP);
    assert_true(f->err_t >= 3 * S && f->err_t < 3 * S + 10 * MS);
    assert_non_null(strstr(f->err_text, "round-robin over ["));
    assert_non_null(strstr(f->err_text, "delay strategy refused"));
}

static void test_no_servers(void **state)
{
    fx *f = *state;
    fl_chooser ch;
    assert_int_equal(fl_chooser_default_new(&ch), 0);
    assert_int_equal(fl_client_set_chooser(f->c, &ch), 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 1 * MS);
    assert_int_equal(f->last_err, FL_E_GAVE_UP);
    assert_non_null(strstr(f->err_text, "no servers configured"));
    assert_int_equal(fl_client_state_get(f->c), FL_CLIENT_GAVE_UP);
}

/* ---- tracing and determinism ------------------------------------------------------------ */

typedef struct trace_seen {
    int publish, state, deliver, connect;
} trace_seen;

static void observe(void *arg, const sim_history_event *ev)
{
    trace_seen *t = arg;
    if (strcmp(ev->source, "client") != 0)
        return;
    assert_non_null(strstr(ev->fields_json, "\"client\":\"pub-1\""));
    t->publish += !strcmp(ev->event, "publish");
    t->state += !strcmp(ev->event, "state");
    t->deliver += !strcmp(ev->event, "deliver");
    t->connect += !strcmp(ev->event, "connect");
}

static void test_trace_records_api_and_callbacks(void **state)
{
    fx *f = *state;
    trace_seen t = {0, 0, 0, 0};
    assert_int_equal(sim_history_observe(sim_ctx_history(f->ctx), observe, &t), 0);
    subscribe(f, "s1", NULL, 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    publish(f, "x");
    fb_deliver(&f->broker, "s1", PUB, 1);
    run_for(f, 1 * MS);
    assert_int_equal(t.connect, 1);
    assert_int_equal(t.publish, 1);
    assert_int_equal(t.deliver, 1);
    assert_int_equal(t.state, 4);
}

/* The per-message lines (publish, deliver, discard) are assembled without
 * printf: byte for byte what the format strings gave, names escaped. */
typedef struct msg_lines {
    char publish[256], deliver[256], discard[256];
} msg_lines;

static void observe_msg_lines(void *arg, const sim_history_event *ev)
{
    msg_lines *l = arg;
    if (strcmp(ev->source, "client") != 0)
        return;
    char *dst = !strcmp(ev->event, "publish")   ? l->publish
                : !strcmp(ev->event, "deliver") ? l->deliver
                : !strcmp(ev->event, "discard") ? l->discard
                                                : NULL;
    if (dst)
        snprintf(dst, 256, "%s", ev->fields_json);
}

static void test_trace_message_lines_exact(void **state)
{
    fx *f = *state;
    msg_lines l;
    memset(&l, 0, sizeof l);
    assert_int_equal(sim_history_observe(sim_ctx_history(f->ctx), observe_msg_lines, &l), 0);
    subscribe(f, "s\"1", NULL, 0);
    fb_listen(f, 0);
    assert_int_equal(api_connect(f), 0);
    run_for(f, 10 * MS);
    publish(f, "hello");
    assert_string_equal(l.publish, "\"client\":\"pub-1\",\"topic\":\"orders\",\"seq\":1,\"len\":5");
    f->auto_discard = 1;
    fb_deliver(&f->broker, "s\"1", 18446744073709551615ULL, 1234567);
    run_for(f, 1 * MS);
    assert_int_equal(f->nmsgs, 1);
    assert_string_equal(l.deliver, "\"client\":\"pub-1\",\"sub_id\":\"s\\\"1\",\"publisher\":"
                                   "18446744073709551615,\"seq\":1234567");
    assert_string_equal(l.discard, "\"client\":\"pub-1\",\"sub_id\":\"s\\\"1\",\"publisher\":"
                                   "18446744073709551615,\"seq\":1234567");
}

/* A runtime without a trace op: the client records nothing (and formats
 * nothing) but works as usual. */
static void test_no_trace_op_records_nothing(void **state)
{
    fx *f = *state;
    fl_runtime_ops ops = *f->crt->ops;
    ops.trace = NULL;
    fl_runtime quiet = {&ops, f->crt->self};
    sim_history *h = sim_ctx_history(f->ctx);
    uint64_t before = sim_history_count(h);
    fl_client *c = NULL;
    assert_int_equal(fl_client_new(&quiet, "quiet", NULL, &c), 0);
    tps store;
    memset(&store, 0, sizeof store);
    assert_int_equal(fl_client_set_publish_store(c, &TPS_OPS, &store), 0);
    uint64_t seq = 0;
    assert_int_equal(fl_client_publish(c, "orders", "x", 1, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(fl_client_unpersisted_count(c), 1);
    fl_client_free(c);
    assert_int_equal(sim_history_count(h), before);
}

/* The same seed gives the same history, jittered delays included. */
static uint64_t run_jittered(uint64_t seed)
{
    sim_ctx_options so = SIM_CTX_OPTIONS_INIT;
    so.seed = seed;
    sim_ctx *ctx = sim_ctx_new(&so);
    sim_node *cn;
    assert_int_equal(sim_node_new(ctx, "app", &cn), 0);
    const fl_runtime *rt = sim_node_runtime(cn);
    fl_client *c;
    assert_int_equal(fl_client_new(rt, "pub-1", NULL, &c), 0);
    fl_chooser ch;
    assert_int_equal(fl_chooser_default_new(&ch), 0);
    assert_int_equal(fl_chooser_default_add(&ch, "a", NULL), 0);
    assert_int_equal(fl_client_set_chooser(c, &ch), 0);
    assert_int_equal(fl_client_set_connection_timeout(c, 30 * S), 0);
    assert_int_equal(fl_client_connect(c), 0); /* default delay: jitter 1.0 */
    sim_run_until(ctx, 40 * S);
    assert_int_equal(fl_client_state_get(c), FL_CLIENT_GAVE_UP);
    uint64_t h = sim_history_hash(sim_ctx_history(ctx));
    fl_client_free(c);
    sim_ctx_free(ctx);
    return h;
}

static void test_deterministic_with_jitter(void **state)
{
    (void)state;
    uint64_t a = run_jittered(7), b = run_jittered(7), d = run_jittered(8);
    assert_true(a == b);
    assert_true(a != d);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_connect_states_and_logon),
        T(test_refused_fails_over),
        T(test_connect_hangs_times_out),
        T(test_logon_refused_and_auth_fail_over),
        T(test_logon_silent_times_out),
        T(test_plain_disconnect_retries_same_server),
        T(test_disconnect_during_republish),
        T(test_disconnect_during_resubscribe),
        T(test_heartbeat_stall_detected),
        T(test_sequences_continue_from_store_and_logon),
        T(test_republish_in_order_after_reconnect),
        T(test_flush_and_persisted_acks),
        T(test_failed_write),
        T(test_store_full_backpressure),
        T(test_publish_without_store),
        T(test_publish_sync_failed_reports_sequence),
        T(test_flapping_broker_backs_off),
        T(test_flapping_broker_fixed_delay),
        T(test_stable_after_zero_resets_at_logon),
        T(test_bookmark_resume_and_duplicates),
        T(test_undiscarded_pins_resume),
        T(test_live_resubscribe_is_live),
        T(test_range_resume_exclusive_and_completed),
        T(test_expiry_fallback_policies),
        T(test_expired_range_keeps_end),
        T(test_max_pending_holds),
        T(test_subscribe_validation),
        T(test_give_up_connection_timeout),
        T(test_give_up_by_delay_strategy),
        T(test_no_servers),
        T(test_trace_records_api_and_callbacks),
        T(test_trace_message_lines_exact),
        T(test_no_trace_op_records_nothing),
        cmocka_unit_test(test_deterministic_with_jitter),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
