/* The simulated broker (simulator/broker.h).
 *
 * Design note.
 *
 * Sessions. Every accepted connection is a session: first anonymous, then a
 * client (after logon) or an inbound replication stream (after repl_logon).
 * Frames are decoded from the session's receive buffer; replies are
 * appended to its send buffer and flushed once at the end of every entry
 * point (data, timer, durability callback), so a replay batch goes out as
 * one unit on the simulated link rather than one per message. A session the
 * broker closes is marked dead and freed at the end of the entry point, so
 * no code runs on freed memory.
 *
 * Publish and persisted acks. A journaled publish is appended to the
 * journal and put on the session's ack queue with its record number. The
 * queue is resolved in arrival order: an entry is done when its record is
 * "safe" (durable locally and, for a local message, acked by every sync
 * replica), or at once for live-only topics and failure-acked messages.
 * Every ack_interval the session sends one persisted ack with the highest
 * sequence of the resolved prefix (the highest CONTIGUOUS persisted one);
 * if nothing new was resolvable at the tick, the ack goes out as soon as
 * durability catches up. A sequence at or below the publisher's highest
 * logged one is a duplicate: if its original is safe it gets a `duplicate`
 * failure ack; if the original is still in flight (a republish after a
 * quick reconnect) it is absorbed and acked when the original is safe. The
 * logon ack carries the highest safe sequence of the client name, so
 * nothing the client discards on it can be lost by a power loss of this
 * instance or a failover to a sync replica.
 *
 * Replay and the replay-to-live handover. A bookmark or range subscription
 * resolves its start to a record number (journal.h's locate) and then
 * replays from a cursor in bounded batches, one batch per loop turn (a
 * zero-delay timer), so a huge replay does not starve other work. Messages
 * journaled meanwhile are simply further along the log: the cursor reaches
 * them. When the cursor reaches the end of the log the subscription turns
 * live in that same event; from then on each append is delivered at append
 * time. Because the loop is single-threaded, no append can fall between the
 * last replay batch and the switch: no gap, no duplicate.
 *
 * Ranges. The begin bound is the start position plus an exact filter
 * (fl_bm_range_begin_admits); the end bound is checked per message with
 * record positions resolved from the log (an end bookmark of another
 * publisher that is already logged is compared by position). A range whose
 * end cannot admit any later message (a past end time, a passed end
 * bookmark) completes when the replay catches up or when its end time
 * passes: `completed` ack, subscription removed. A begin timestamp in the
 * future holds the subscription until that time.
 *
 * Replication. For each replicate_to entry the instance connects to the
 * peer's listener through the runtime, sends repl_logon, and learns from the
 * logon ack the highest of its record numbers the peer holds durably; it
 * then streams every local message (not ones replicated to it) past that
 * point once it is durable here (async: `lag` later), and the peer acks the
 * origin record numbers it made durable. The peer logs replicated messages
 * with their original publisher, sequence and timestamp, so a failed-over
 * client finds the same bookmarks, and dedupes them by (publisher,
 * sequence) as usual. After a disconnect the link retries every
 * retry_interval and resumes from the peer's answer. Retention never
 * removes records a replica has not acked, nor ones a replay still needs.
 *
 * Heartbeats: when a client asks for them (logon heartbeat_us > 0) the
 * instance sends one every min(`heartbeat`, client interval) of send
 * silence and closes a session silent for two client intervals.
 *
 * Journal failures. Two kinds, handled the way a broker process would:
 *   - A failed sync (file or directory; from the group-commit timer, a
 *     rotation, retention or a replication logon) is fatal for the journal
 *     handle (DESIGN.md: reopen and recover, never retry the sync): the
 *     seglog is poisoned and the journal tells us through on_failed, or an
 *     append returns FL_E_SYNC_FAILED first. The instance then behaves as
 *     if its journal component had restarted: every session (clients and
 *     inbound replication) is closed, so clients reconnect and republish
 *     from their stores; on the next loop turn the journal is opened again
 *     with the configured recovery mode, everything recovered is synced, and
 *     a new segment is started (write + sync + directory sync: the probe
 *     that the disk works again). Only then is the new handle swapped in and
 *     the old, poisoned one closed, so the in-memory view stays readable for
 *     the runner and the checkers throughout. Dedupe high-water marks,
 *     publishers' highest persisted sequences (logon acks) and replication
 *     resume points all come from the recovered view; subscriptions are
 *     re-entered by the reconnecting clients from their bookmarks. What was
 *     not durable may be gone after the reopen: it was never acked (persisted
 *     acks and logon acks only ever carry records at or below the durable
 *     record number, and b->durable only moves on a successful sync), so the
 *     clients still hold it and republish it. If the reopen fails (the I/O
 *     error persists), logons are refused with a failure ack (reason
 *     logon_refused, text "journal unavailable: ...") so the clients' delay
 *     strategies apply, and the reopen is retried every journal_retry_us.
 *   - A failed write (FL_E_NOSPC, FL_E_IO on an append) leaves the journal
 *     intact (the seglog cuts the partial record back). The publish is not
 *     acked: its session is closed (the client republishes after
 *     reconnecting) and for journal_retry_us logons are refused the same
 *     way, so a full disk does not turn into a reconnect storm; the first
 *     publish after that window is the probe. Sessions already up stay up.
 * Every step is traced: journal_error, journal_failed, session_closed,
 * journal_reopen_failed, journal_reopened (plus the journal's own
 * sync_failed and recovered lines) and logon_refused with the reason text.
 */
#include "broker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/bookmark.h"
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"
#include "history.h"
#include "sim.h"
#include "util.h"

#define TRACE_CAP 768
#define NAME_CAP  260

enum { SK_NEW = 0, SK_CLIENT, SK_REPLICA_IN };
enum { SUB_LIVE = 0, SUB_BOOKMARK, SUB_RANGE };
enum { ST_HELD = 0, ST_REPLAY, ST_LIVE };
enum { RL_IDLE = 0, RL_CONNECTING, RL_LOGON, RL_STREAM };

typedef struct pend {
    uint64_t seq;   /* publisher sequence (replica-in: origin recno) */
    uint64_t recno; /* record to wait for; 0: resolved */
    bool local;     /* the record is local-origin (sync replicas matter) */
} pend;

typedef struct session session;
typedef struct broker_sub broker_sub;

struct broker_sub {
    session *s;
    char *sub_id;
    char *topic;
    int kind;
    int state;
    uint32_t options;
    fl_bm_selector sel;
    bool ts_filter;    /* points selector of timestamps only: filter ts >= point */
    uint64_t *end_pos; /* per end point: resolved record (0: unresolved) */
    uint64_t cursor;
    fl_timer_id timer;
    bool done;
    uint64_t last_recno; /* last delivered journaled message */
    fl_wire_bookmark last_bm;
    uint64_t acked_recno;
    uint64_t cand_recno; /* ack candidate waiting for durability */
    fl_wire_bookmark cand_bm;
    broker_sub *next;
};

struct session {
    sim_broker *b;
    fl_conn_id conn;
    int kind;
    bool dead;
    bool close_after_flush;
    char *name;
    uint64_t pub;
    fl_buf rx, tx;
    uint64_t client_hb_us;
    uint64_t last_rx, last_tx;
    fl_timer_id hb_timer, ack_timer;
    pend *q;
    size_t qh, ql, qc;
    uint64_t acked;
    bool ack_due;
    broker_sub *subs;
    const struct ent_rule *ent; /* entitlement (NULL: unrestricted) */
};

typedef struct lagq {
    uint64_t t, recno;
} lagq;

typedef struct rlink {
    sim_broker *b;
    char *peer;
    sim_repl_mode mode;
    uint64_t lag_us;
    fl_conn_id conn;
    int state;
    fl_buf rx, tx;
    uint64_t acked; /* highest of our records the peer holds durably */
    uint64_t next;  /* next record to consider sending */
    uint64_t ready; /* records up to here may be sent */
    fl_timer_id timer, pump_timer;
    lagq *lq;
    size_t lqh, lql, lqc;
} rlink;

typedef struct ent_rule {
    char *client;
    char **topics;
    size_t ntopics;
} ent_rule;

typedef struct drop_rule {
    char *client;
    int ack_type;
    uint32_t count;
    uint64_t until_us; /* runtime time; 0 with count */
} drop_rule;

typedef struct topic_cfg {
    char *name;
    size_t len;
    bool journal;
} topic_cfg;

struct sim_broker {
    const fl_runtime *rt;
    sim_broker_config c;
    char *name;
    char *journal_dir;
    topic_cfg *topics;
    size_t ntopics;
    sim_broker_credential *creds;
    ent_rule *ents;
    sim_journal *j;
    session **sessions;
    size_t nsessions, capsessions;
    rlink **links;
    size_t nlinks;
    drop_rule *drops;
    size_t ndrops;
    sim_broker_counters k;
    sim_broker_observer_fn obs;
    void *obs_arg;
    fl_timer_id retention_timer;
    uint64_t durable;
    int depth; /* entry-point nesting */
    bool abandoned;
    bool closing;
    /* journal failures (design note) */
    int jfail;                 /* 0, or FL_E_SYNC_FAILED while the journal must be reopened */
    bool reopening;            /* on_durable of the journal being opened is ignored */
    uint32_t reopen_attempts;  /* failed reopens since the failure */
    fl_timer_id reopen_timer;  /* next reopen attempt */
    uint64_t write_blocked_to; /* after an append write error: logons refused until then */
    int write_block_rc;        /* that error */
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static char *dup_s(const char *s)
{
    return s ? sim_dup_n(s, strlen(s)) : NULL;
}

static uint64_t now_us(const sim_broker *b)
{
    return fl_rt_now(b->rt);
}

static void tracef(sim_broker *b, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tracef(sim_broker *b, const char *event, const char *fmt, ...)
{
    char f[TRACE_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f, sizeof f, fmt, ap);
    va_end(ap);
    fl_rt_trace(b->rt, "broker", event, f);
}

/* JSON-escaped copy of a name (quotes included). */
static const char *esc(char *buf, size_t cap, const char *s)
{
    sim_json_escape(buf, cap, s ? s : "");
    return buf;
}

/* The per-message traces (publish, deliver, replicated_in) run for every
 * message when trace_messages is on, so they are assembled without printf:
 * the same bytes as tracef() with "\"k\":%s" (an escaped name) and
 * "\"k\":%llu" fields, in call order. Over-long lines are cut like
 * vsnprintf's (TRACE_CAP - 1 bytes). */
typedef struct tline {
    char p[TRACE_CAP];
    size_t n;
} tline;

static void tl_raw(tline *t, const char *s, size_t len)
{
    if (t->n + len >= sizeof t->p)
        len = sizeof t->p - 1 - t->n;
    memcpy(t->p + t->n, s, len);
    t->n += len;
    t->p[t->n] = '\0';
}

static void tl_key(tline *t, const char *key)
{
    if (t->n)
        tl_raw(t, ",", 1);
    tl_raw(t, "\"", 1);
    tl_raw(t, key, strlen(key));
    tl_raw(t, "\":", 2);
}

static void tl_u64(tline *t, const char *key, uint64_t v)
{
    char dig[20];
    size_t n = sim_u64_digits(v, dig);
    tl_key(t, key);
    tl_raw(t, dig, n);
}

/* A name as an escaped JSON string (cut at NAME_CAP as esc() does). */
static void tl_name(tline *t, const char *key, const char *name)
{
    char e[NAME_CAP];
    tl_key(t, key);
    tl_raw(t, e, strlen(esc(e, sizeof e, name)));
}

/* A value that is JSON already, verbatim. */
static void tl_json(tline *t, const char *key, const char *json)
{
    tl_key(t, key);
    tl_raw(t, json, strlen(json));
}

static void observe(sim_broker *b, sim_broker_event ev, const char *client, uint64_t v)
{
    if (b->obs)
        b->obs(b->obs_arg, ev, client, v);
}

static int ms_timer(sim_broker *b, uint64_t delay, fl_timer_fn fn, void *arg, fl_timer_id *id)
{
    *id = 0;
    return fl_rt_timer_start(b->rt, delay, fn, arg, id);
}

static void cancel(sim_broker *b, fl_timer_id *id)
{
    fl_rt_timer_cancel(b->rt, *id);
    *id = 0;
}

/* ------------------------------------------------------------------ */
/* configuration                                                        */

static const topic_cfg *topic_find(const sim_broker *b, fl_slice t)
{
    for (size_t i = 0; i < b->ntopics; i++)
        if (b->topics[i].len == t.len && memcmp(b->topics[i].name, t.ptr, t.len) == 0)
            return &b->topics[i];
    return NULL;
}

static bool entitled(const session *s, fl_slice topic)
{
    if (!s->ent)
        return true;
    for (size_t i = 0; i < s->ent->ntopics; i++)
        if (strlen(s->ent->topics[i]) == topic.len &&
            memcmp(s->ent->topics[i], topic.ptr, topic.len) == 0)
            return true;
    return false;
}

static int copy_config(sim_broker *b, const sim_broker_config *c)
{
    b->c = *c;
    b->name = dup_s(c->name ? c->name : "broker");
    b->journal_dir = dup_s(c->journal_dir ? c->journal_dir : "journal");
    if (!b->name || !b->journal_dir)
        return FL_E_NOMEM;
    b->c.name = b->name;
    b->c.journal_dir = b->journal_dir;
    b->topics = calloc(c->ntopics + 1, sizeof *b->topics);
    b->creds = calloc(c->ncredentials + 1, sizeof *b->creds);
    b->ents = calloc(c->nentitlements + 1, sizeof *b->ents);
    if (!b->topics || !b->creds || !b->ents)
        return FL_E_NOMEM;
    for (size_t i = 0; i < c->ntopics; i++, b->ntopics++) {
        if (!c->topics[i].name || !*c->topics[i].name)
            return FL_E_INVAL;
        b->topics[i] =
            (topic_cfg){dup_s(c->topics[i].name), strlen(c->topics[i].name), c->topics[i].journal};
        if (!b->topics[i].name)
            return FL_E_NOMEM;
    }
    for (size_t i = 0; i < c->ncredentials; i++) {
        b->creds[i].client = dup_s(c->credentials[i].client);
        b->creds[i].password = dup_s(c->credentials[i].password ? c->credentials[i].password : "");
        if (!b->creds[i].client || !b->creds[i].password)
            return FL_E_NOMEM;
    }
    for (size_t i = 0; i < c->nentitlements; i++) {
        ent_rule *e = &b->ents[i];
        e->client = dup_s(c->entitlements[i].client);
        e->topics = calloc(c->entitlements[i].ntopics + 1, sizeof *e->topics);
        if (!e->client || !e->topics)
            return FL_E_NOMEM;
        for (size_t t = 0; t < c->entitlements[i].ntopics; t++, e->ntopics++)
            if (!(e->topics[t] = dup_s(c->entitlements[i].topics[t])))
                return FL_E_NOMEM;
    }
    if (b->c.replay_batch == 0)
        b->c.replay_batch = 4096;
    if (b->c.retry_interval_us == 0)
        b->c.retry_interval_us = 1000000;
    if (b->c.journal_retry_us == 0)
        b->c.journal_retry_us = 1000000;
    return 0;
}

static void free_config(sim_broker *b)
{
    for (size_t i = 0; i < b->ntopics; i++)
        free(b->topics[i].name);
    free(b->topics);
    for (size_t i = 0; b->creds && i < b->c.ncredentials; i++) {
        free((char *)b->creds[i].client);
        free((char *)b->creds[i].password);
    }
    free(b->creds);
    for (size_t i = 0; b->ents && i < b->c.nentitlements; i++) {
        for (size_t t = 0; t < b->ents[i].ntopics; t++)
            free(b->ents[i].topics[t]);
        free(b->ents[i].topics);
        free(b->ents[i].client);
    }
    free(b->ents);
    for (size_t i = 0; i < b->ndrops; i++)
        free(b->drops[i].client);
    free(b->drops);
    free(b->name);
    free(b->journal_dir);
}

/* ------------------------------------------------------------------ */
/* safety of a record (durable + sync-replicated)                       */

static bool recno_safe_local(const sim_broker *b, uint64_t recno, bool local)
{
    if (recno > b->durable)
        return false;
    if (!local)
        return true;
    for (size_t i = 0; i < b->nlinks; i++)
        if (b->links[i]->mode == SIM_REPL_SYNC && b->links[i]->acked < recno)
            return false;
    return true;
}

static bool recno_safe(void *arg, uint64_t recno)
{
    sim_broker *b = arg;
    sim_journal_msg m;
    bool local = sim_journal_get(b->j, recno, &m) == 0 ? m.origin_len == 0 : true;
    return recno_safe_local(b, recno, local);
}

/* ------------------------------------------------------------------ */
/* sending                                                              */

static bool drop_ack(sim_broker *b, const session *s, int ack_type)
{
    if (!s->name)
        return false;
    for (size_t i = 0; i < b->ndrops; i++) {
        drop_rule *d = &b->drops[i];
        if (d->ack_type != ack_type || strcmp(d->client, s->name) != 0)
            continue;
        if (d->count > 0) {
            d->count--;
        } else if (now_us(b) >= d->until_us) {
            continue;
        }
        b->k.acks_dropped++;
        char n[NAME_CAP];
        tracef(b, "ack_dropped", "\"client\":%s,\"type\":\"%s\"", esc(n, sizeof n, s->name),
               fl_ack_type_name(ack_type));
        return true;
    }
    return false;
}

static void send_frame(session *s, const fl_frame *f)
{
    if (s->dead)
        return;
    if (fl_frame_encode(&s->tx, f) == 0)
        s->last_tx = now_us(s->b);
}

static void send_ack(session *s, int type, int status, int reason, uint64_t seq, bool has_seq,
                     fl_slice sub_id, uint64_t command_id)
{
    if (drop_ack(s->b, s, type))
        return;
    fl_frame f;
    fl_frame_init(&f, FL_CMD_ACK);
    f.ack_type = (uint8_t)type;
    f.status = (uint8_t)status;
    f.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS;
    if (status != FL_STATUS_SUCCESS) {
        f.reason = (uint8_t)reason;
        f.present |= FL_HAS_REASON;
    }
    if (has_seq) {
        f.sequence = seq;
        f.present |= FL_HAS_SEQUENCE;
    }
    if (sub_id.ptr) {
        f.sub_id = sub_id;
        f.present |= FL_HAS_SUB_ID;
    }
    if (command_id) {
        f.command_id = command_id;
        f.present |= FL_HAS_COMMAND_ID;
    }
    send_frame(s, &f);
}

static void session_free(session *s);

static void flush_session(session *s)
{
    sim_broker *b = s->b;
    if (!s->dead && s->tx.len) {
        if (b->rt->ops->send(b->rt->self, s->conn, s->tx.data, s->tx.len) != 0)
            s->dead = true;
        fl_buf_clear(&s->tx);
    }
    if (!s->dead && s->close_after_flush) {
        b->rt->ops->close(b->rt->self, s->conn);
        s->dead = true;
    }
}

static void flush_link(rlink *l)
{
    sim_broker *b = l->b;
    if (l->conn && l->tx.len && l->state >= RL_LOGON)
        b->rt->ops->send(b->rt->self, l->conn, l->tx.data, l->tx.len);
    fl_buf_clear(&l->tx);
}

/* End of an entry point: flush every send buffer, free dead sessions. */
static void broker_flush(sim_broker *b)
{
    if (b->depth > 0)
        return;
    size_t w = 0;
    for (size_t i = 0; i < b->nsessions; i++) {
        session *s = b->sessions[i];
        flush_session(s);
        if (s->dead)
            session_free(s);
        else
            b->sessions[w++] = s;
    }
    b->nsessions = w;
    for (size_t i = 0; i < b->nlinks; i++)
        flush_link(b->links[i]);
}

#define ENTER(b) ((b)->depth++)
#define LEAVE(b)                                                                                   \
    do {                                                                                           \
        (b)->depth--;                                                                              \
        broker_flush(b);                                                                           \
    } while (0)

/* ------------------------------------------------------------------ */
/* session lifetime                                                     */

static void sub_free(sim_broker *b, broker_sub *u, bool live_runtime)
{
    if (live_runtime)
        cancel(b, &u->timer);
    fl_bm_selector_free(&u->sel);
    free(u->end_pos);
    free(u->sub_id);
    free(u->topic);
    free(u);
}

static void session_free(session *s)
{
    sim_broker *b = s->b;
    bool live = !b->abandoned;
    if (live) {
        cancel(b, &s->hb_timer);
        cancel(b, &s->ack_timer);
    }
    while (s->subs) {
        broker_sub *u = s->subs;
        s->subs = u->next;
        sub_free(b, u, live);
    }
    fl_buf_free(&s->rx);
    fl_buf_free(&s->tx);
    free(s->q);
    free(s->name);
    free(s);
}

/* Close a session from the broker side (after flushing what it queued). */
static void session_close(session *s, const char *why)
{
    if (s->dead || s->close_after_flush)
        return;
    char n[NAME_CAP];
    tracef(s->b, "session_closed", "\"client\":%s,\"why\":\"%s\"", esc(n, sizeof n, s->name), why);
    s->close_after_flush = true;
    cancel(s->b, &s->hb_timer);
    cancel(s->b, &s->ack_timer);
    for (broker_sub *u = s->subs; u; u = u->next)
        cancel(s->b, &u->timer);
}

static session *session_by_name(const sim_broker *b, const char *name)
{
    for (size_t i = 0; i < b->nsessions; i++) {
        session *s = b->sessions[i];
        if (!s->dead && !s->close_after_flush && s->kind == SK_CLIENT && s->name &&
            strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* persisted acks to publishers                                         */

static int q_push(session *s, uint64_t seq, uint64_t recno, bool local)
{
    if (s->qh + s->ql == s->qc) {
        if (s->qh > 0) {
            memmove(s->q, s->q + s->qh, s->ql * sizeof *s->q);
            s->qh = 0;
        } else {
            size_t n = s->qc ? s->qc * 2 : 64;
            pend *p = realloc(s->q, n * sizeof *p);
            if (!p)
                return FL_E_NOMEM;
            s->q = p;
            s->qc = n;
        }
    }
    s->q[s->qh + s->ql++] = (pend){seq, recno, local};
    return 0;
}

/* Pop the resolved prefix; returns the highest sequence popped (0: none). */
static uint64_t q_pop_resolved(session *s, bool *popped)
{
    uint64_t hi = 0;
    *popped = false;
    while (s->ql) {
        pend *p = &s->q[s->qh];
        if (p->recno && !recno_safe_local(s->b, p->recno, p->local))
            break;
        if (p->seq > hi)
            hi = p->seq;
        s->qh++;
        s->ql--;
        *popped = true;
    }
    if (s->ql == 0)
        s->qh = 0;
    return hi;
}

static void ack_tick(void *arg);

static void arm_ack_timer(session *s)
{
    if (s->ack_timer || s->dead || s->close_after_flush)
        return;
    ms_timer(s->b, s->b->c.ack_interval_us, ack_tick, s, &s->ack_timer);
}

static void send_bookmark_ack(session *s, broker_sub *u, uint64_t recno, const fl_wire_bookmark *bm)
{
    u->acked_recno = recno;
    if (drop_ack(s->b, s, FL_ACK_PERSISTED))
        return;
    fl_frame f;
    fl_frame_init(&f, FL_CMD_ACK);
    f.ack_type = FL_ACK_PERSISTED;
    f.status = FL_STATUS_SUCCESS;
    f.sub_id = fl_slice_cstr(u->sub_id);
    f.bookmark = *bm;
    f.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_SUB_ID | FL_HAS_BOOKMARK;
    send_frame(s, &f);
    s->b->k.bookmark_acks++;
}

/* Bookmark subscribers: ack the latest delivered message that is safe. */
static bool bookmark_acks(session *s, bool tick)
{
    bool pending = false;
    for (broker_sub *u = s->subs; u; u = u->next) {
        if (u->kind == SUB_LIVE)
            continue;
        if (u->cand_recno && recno_safe(s->b, u->cand_recno)) {
            if (u->cand_recno > u->acked_recno)
                send_bookmark_ack(s, u, u->cand_recno, &u->cand_bm);
            u->cand_recno = 0;
        }
        if (!tick || u->last_recno <= u->acked_recno) {
            pending |= u->last_recno > u->acked_recno;
            continue;
        }
        if (recno_safe(s->b, u->last_recno)) {
            send_bookmark_ack(s, u, u->last_recno, &u->last_bm);
            u->cand_recno = 0;
        } else if (!u->cand_recno) {
            u->cand_recno = u->last_recno;
            u->cand_bm = u->last_bm;
        }
        pending |= u->last_recno > u->acked_recno;
    }
    return pending;
}

/* Send the conflated persisted ack if one is due and something resolved. */
static void try_pub_ack(session *s)
{
    if (!s->ack_due || s->kind != SK_CLIENT)
        return;
    bool popped;
    uint64_t hi = q_pop_resolved(s, &popped);
    if (!popped)
        return;
    s->ack_due = false;
    if (hi > s->acked) {
        s->acked = hi;
        sim_broker *b = s->b;
        if (!drop_ack(b, s, FL_ACK_PERSISTED)) {
            send_ack(s, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, hi, true, (fl_slice){NULL, 0}, 0);
            b->k.persisted_acks++;
            if (b->c.trace_messages) {
                char n[NAME_CAP];
                tracef(b, "persisted_ack", "\"client\":%s,\"seq\":%llu", esc(n, sizeof n, s->name),
                       (unsigned long long)hi);
            }
            observe(b, SIM_BROKER_EV_PERSISTED_ACK, s->name, hi);
        }
    }
    if (s->ql)
        arm_ack_timer(s);
}

static void ack_tick(void *arg)
{
    session *s = arg;
    sim_broker *b = s->b;
    ENTER(b);
    s->ack_timer = 0;
    if (s->ql)
        s->ack_due = true;
    try_pub_ack(s);
    /* with a zero interval, waiting bookmark acks go out from progress() */
    bool pending = bookmark_acks(s, true) && b->c.ack_interval_us > 0;
    if (pending || (s->ql && !s->ack_due))
        arm_ack_timer(s);
    LEAVE(b);
}

/* Replica-in sessions: ack every origin record now durable here. */
static void replica_acks(session *s)
{
    bool popped;
    uint64_t hi = q_pop_resolved(s, &popped);
    if (popped && hi > s->acked) {
        s->acked = hi;
        send_ack(s, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, 0, hi, true, (fl_slice){NULL, 0}, 0);
    }
}

/* Durability or sync-replication progress: let waiting acks go. */
static void progress(sim_broker *b)
{
    for (size_t i = 0; i < b->nsessions; i++) {
        session *s = b->sessions[i];
        if (s->dead)
            continue;
        if (s->kind == SK_REPLICA_IN) {
            replica_acks(s);
            continue;
        }
        try_pub_ack(s);
        bookmark_acks(s, false);
    }
}

/* ------------------------------------------------------------------ */
/* deliveries and subscriptions                                         */

static void sub_complete(broker_sub *u, const char *why);

static void deliver(broker_sub *u, const sim_journal_msg *m)
{
    session *s = u->s;
    sim_broker *b = s->b;
    fl_wire_bookmark bm = {m->publisher, m->sequence, m->ts_us};
    fl_frame f;
    fl_frame_init(&f, FL_CMD_DELIVERY);
    f.topic = fl_slice_make(m->topic, m->topic_len);
    f.sub_id = fl_slice_cstr(u->sub_id);
    f.bookmark = bm;
    f.payload = fl_slice_make(m->payload, m->payload_len);
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD;
    send_frame(s, &f);
    b->k.deliveries++;
    if (m->recno) {
        u->last_recno = m->recno;
        u->last_bm = bm;
    }
    if (b->c.trace_messages) {
        tline t = {.n = 0};
        tl_name(&t, "client", s->name);
        tl_name(&t, "sub_id", u->sub_id);
        tl_u64(&t, "publisher", m->publisher);
        tl_u64(&t, "seq", m->sequence);
        fl_rt_trace(b->rt, "broker", "deliver", t.p);
    }
    observe(b, SIM_BROKER_EV_DELIVERY, s->name, m->sequence);
    if (u->kind != SUB_LIVE)
        arm_ack_timer(s);
}

/* Range end check for one message, positions resolved from the log. */
static fl_bm_end end_check(const broker_sub *u, const sim_journal_msg *m)
{
    const fl_bm_list *end = &u->sel.end;
    bool incl = u->sel.end_inclusive, inside = false, last = false;
    for (size_t i = 0; i < end->count; i++) {
        const fl_bookmark *p = &end->items[i];
        int v = 2; /* 0 inside, 1 last, 2 past */
        switch (p->kind) {
        case FL_BM_TIMESTAMP:
            v = m->ts_us < p->ts_us ? 0 : m->ts_us == p->ts_us ? (incl ? 0 : 2) : 2;
            break;
        case FL_BM_EXACT:
            if (m->publisher == p->publisher)
                v = m->sequence < p->sequence ? 0 : m->sequence == p->sequence ? (incl ? 1 : 2) : 2;
            else if (u->end_pos[i] && m->recno)
                v = m->recno < u->end_pos[i] ? 0 : 2;
            else if (p->ts_us != FL_BM_NO_TS)
                v = m->ts_us <= p->ts_us ? 0 : 2;
            else
                v = 0; /* the end bookmark is not logged yet: still ahead */
            break;
        case FL_BM_NOW:
            v = m->recno && m->recno < u->end_pos[i] ? 0 : 2;
            break;
        default:
            v = 2;
            break;
        }
        inside |= v == 0;
        last |= v == 1;
    }
    return inside ? FL_BM_END_INSIDE : last ? FL_BM_END_LAST : FL_BM_END_PAST;
}

/* Could a message appended from now on still be inside the range end? */
static bool range_open(const broker_sub *u)
{
    const fl_bm_list *end = &u->sel.end;
    const sim_broker *b = u->s->b;
    int64_t now = (int64_t)now_us(b);
    for (size_t i = 0; i < end->count; i++) {
        const fl_bookmark *p = &end->items[i];
        if (p->kind == FL_BM_TIMESTAMP &&
            (now < p->ts_us || (u->sel.end_inclusive && now == p->ts_us)))
            return true;
        if (p->kind == FL_BM_EXACT && !u->end_pos[i] &&
            sim_journal_highest_seq(b->j, p->publisher) < p->sequence)
            return true;
    }
    return false;
}

/* Offer one message to a subscription (replay or live). Returns 1 when the
 * subscription completed. */
static int offer(broker_sub *u, const sim_journal_msg *m)
{
    if (u->done || strlen(u->topic) != m->topic_len || memcmp(u->topic, m->topic, m->topic_len))
        return 0;
    if (u->kind == SUB_RANGE) {
        if (fl_bm_range_begin_admits(&u->sel.begin, u->sel.begin_inclusive, m->publisher,
                                     m->sequence, m->ts_us) == FL_BM_NO)
            return 0;
        fl_bm_end e = end_check(u, m);
        if (e == FL_BM_END_PAST) {
            sub_complete(u, "end");
            return 1;
        }
        deliver(u, m);
        if (e == FL_BM_END_LAST) {
            sub_complete(u, "end");
            return 1;
        }
        return 0;
    }
    if (u->ts_filter && fl_bm_range_begin_admits(&u->sel.points, true, m->publisher, m->sequence,
                                                 m->ts_us) == FL_BM_NO)
        return 0;
    deliver(u, m);
    return 0;
}

static void unlink_sub(session *s, broker_sub *u)
{
    for (broker_sub **pp = &s->subs; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            return;
        }
}

static void sub_complete(broker_sub *u, const char *why)
{
    session *s = u->s;
    sim_broker *b = s->b;
    u->done = true;
    cancel(b, &u->timer);
    send_ack(s, FL_ACK_COMPLETED, FL_STATUS_SUCCESS, 0, 0, false, fl_slice_cstr(u->sub_id), 0);
    b->k.completed++;
    char n[NAME_CAP], sid[NAME_CAP];
    tracef(b, "completed", "\"client\":%s,\"sub_id\":%s,\"why\":\"%s\"", esc(n, sizeof n, s->name),
           esc(sid, sizeof sid, u->sub_id), why);
    /* a final bookmark ack for what was delivered and is safe */
    if (u->last_recno > u->acked_recno && recno_safe(b, u->last_recno))
        send_bookmark_ack(s, u, u->last_recno, &u->last_bm);
}

/* Remove completed subscriptions of a session. */
static void reap_subs(session *s)
{
    broker_sub **pp = &s->subs;
    while (*pp) {
        broker_sub *u = *pp;
        if (u->done) {
            *pp = u->next;
            sub_free(s->b, u, true);
        } else {
            pp = &u->next;
        }
    }
}

static void end_timer(void *arg);

static void arm_end_timer(broker_sub *u)
{
    sim_broker *b = u->s->b;
    int64_t latest = INT64_MIN;
    for (size_t i = 0; i < u->sel.end.count; i++)
        if (u->sel.end.items[i].kind == FL_BM_TIMESTAMP && u->sel.end.items[i].ts_us > latest)
            latest = u->sel.end.items[i].ts_us;
    int64_t now = (int64_t)now_us(b);
    if (latest == INT64_MIN || latest < now)
        return;
    cancel(b, &u->timer);
    ms_timer(b, (uint64_t)(latest - now) + 1, end_timer, u, &u->timer);
}

static void go_live(broker_sub *u)
{
    sim_broker *b = u->s->b;
    u->state = ST_LIVE;
    char n[NAME_CAP], sid[NAME_CAP];
    tracef(b, "handover", "\"client\":%s,\"sub_id\":%s,\"recno\":%llu",
           esc(n, sizeof n, u->s->name), esc(sid, sizeof sid, u->sub_id),
           (unsigned long long)u->cursor);
    if (u->kind == SUB_RANGE) {
        if (!range_open(u))
            sub_complete(u, "caught_up");
        else
            arm_end_timer(u);
    } else if (u->options & FL_SUB_COMPLETED) {
        send_ack(u->s, FL_ACK_COMPLETED, FL_STATUS_SUCCESS, 0, 0, false, fl_slice_cstr(u->sub_id),
                 0);
        b->k.completed++;
    }
}

static void end_timer(void *arg)
{
    broker_sub *u = arg;
    sim_broker *b = u->s->b;
    ENTER(b);
    u->timer = 0;
    if (u->state == ST_LIVE && !range_open(u))
        sub_complete(u, "end_time");
    else if (u->state == ST_LIVE)
        arm_end_timer(u);
    reap_subs(u->s);
    LEAVE(b);
}

static int replay_cb(void *arg, const sim_journal_msg *m)
{
    return offer(arg, m);
}

static void replay_step(void *arg)
{
    broker_sub *u = arg;
    session *s = u->s;
    sim_broker *b = s->b;
    ENTER(b);
    u->timer = 0;
    sim_journal_read_batch(b->j, &u->cursor, b->c.replay_batch, replay_cb, u);
    if (!u->done) {
        if (u->cursor >= sim_journal_next_recno(b->j))
            go_live(u);
        else
            ms_timer(b, 0, replay_step, u, &u->timer);
    }
    reap_subs(s);
    LEAVE(b);
}

/* Live delivery of a message just logged (recno > 0) or live-only. */
static void deliver_live(sim_broker *b, const sim_journal_msg *m)
{
    for (size_t i = 0; i < b->nsessions; i++) {
        session *s = b->sessions[i];
        if (s->dead || s->close_after_flush || s->kind != SK_CLIENT)
            continue;
        bool any_done = false;
        for (broker_sub *u = s->subs; u; u = u->next) {
            if (u->state != ST_LIVE || u->done)
                continue;
            if (m->recno)
                u->cursor = m->recno + 1;
            any_done |= offer(u, m) != 0;
        }
        if (any_done)
            reap_subs(s);
    }
}

/* ------------------------------------------------------------------ */
/* subscribe                                                            */

static broker_sub *sub_find(session *s, fl_slice id)
{
    for (broker_sub *u = s->subs; u; u = u->next)
        if (strlen(u->sub_id) == id.len && memcmp(u->sub_id, id.ptr, id.len) == 0)
            return u;
    return NULL;
}

/* Resolve a list's earliest start. Returns SIM_JLOC_* of the outcome. */
static sim_jloc resolve_list(sim_broker *b, const fl_bm_list *l, bool inclusive, uint64_t *pos)
{
    bool found = false, expired = false;
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < l->count; i++) {
        uint64_t r = 0;
        sim_jloc loc = sim_journal_locate(b->j, &l->items[i], inclusive, &r);
        if (loc == SIM_JLOC_EXPIRED)
            expired = true;
        if (loc == SIM_JLOC_FOUND) {
            found = true;
            if (r < best)
                best = r;
        }
    }
    if (expired)
        return SIM_JLOC_EXPIRED;
    if (!found)
        return SIM_JLOC_UNKNOWN;
    *pos = best;
    return SIM_JLOC_FOUND;
}

static void held_timer(void *arg);

static const char *policy_name(sim_expired_policy p)
{
    return p == SIM_EXPIRED_ERROR ? "error" : p == SIM_EXPIRED_OLDEST ? "oldest" : "now";
}

/* Resolve the start of a bookmark/range subscription. Returns 0, or a
 * failure reason for the subscribed ack. */
static int resolve_start(broker_sub *u, const char **how)
{
    sim_broker *b = u->s->b;
    const fl_bm_list *l = u->kind == SUB_RANGE ? &u->sel.begin : &u->sel.points;
    bool incl = u->kind == SUB_RANGE ? u->sel.begin_inclusive : false;
    uint64_t pos = 0;
    sim_jloc loc = resolve_list(b, l, incl, &pos);
    *how = "found";
    if (loc == SIM_JLOC_UNKNOWN) {
        *how = "unknown_bookmark";
        pos = sim_journal_next_recno(b->j);
    } else if (loc == SIM_JLOC_EXPIRED) {
        switch (b->c.expired_bookmark) {
        case SIM_EXPIRED_ERROR:
            *how = "expired_error";
            return FL_REASON_BOOKMARK_EXPIRED;
        case SIM_EXPIRED_OLDEST:
            *how = "expired_oldest";
            pos = sim_journal_first_recno(b->j);
            break;
        case SIM_EXPIRED_NOW:
            *how = "expired_now";
            pos = sim_journal_next_recno(b->j);
            break;
        }
    }
    u->cursor = pos;
    /* end points resolved against the log */
    for (size_t i = 0; u->kind == SUB_RANGE && i < u->sel.end.count; i++) {
        const fl_bookmark *p = &u->sel.end.items[i];
        uint64_t r;
        if (p->kind == FL_BM_NOW)
            u->end_pos[i] = sim_journal_next_recno(b->j);
        else if (p->kind == FL_BM_EXACT &&
                 sim_journal_find(b->j, p->publisher, p->sequence, &r) == 0)
            u->end_pos[i] = r;
    }
    return 0;
}

static void trace_subscribe(broker_sub *u, const char *how, const char *text)
{
    sim_broker *b = u->s->b;
    char n[NAME_CAP], sid[NAME_CAP], bt[NAME_CAP];
    tracef(b, "subscribe",
           "\"client\":%s,\"sub_id\":%s,\"bookmark\":%s,\"kind\":\"%s\",\"start\":%llu,"
           "\"resolution\":\"%s\",\"policy\":\"%s\"",
           esc(n, sizeof n, u->s->name), esc(sid, sizeof sid, u->sub_id), esc(bt, sizeof bt, text),
           u->kind == SUB_LIVE    ? "live"
           : u->kind == SUB_RANGE ? "range"
                                  : "bookmark",
           (unsigned long long)u->cursor, how, policy_name(b->c.expired_bookmark));
}

static void start_replay(broker_sub *u)
{
    u->state = ST_REPLAY;
    ms_timer(u->s->b, 0, replay_step, u, &u->timer);
}

/* A range whose begin is a timestamp in the future waits for it. */
static bool hold_if_future(broker_sub *u)
{
    if (u->kind != SUB_RANGE)
        return false;
    int64_t earliest = INT64_MAX;
    for (size_t i = 0; i < u->sel.begin.count; i++) {
        const fl_bookmark *p = &u->sel.begin.items[i];
        if (p->kind != FL_BM_TIMESTAMP)
            return false;
        if (p->ts_us < earliest)
            earliest = p->ts_us;
    }
    int64_t now = (int64_t)now_us(u->s->b);
    if (earliest <= now)
        return false;
    u->state = ST_HELD;
    ms_timer(u->s->b, (uint64_t)(earliest - now), held_timer, u, &u->timer);
    return true;
}

static void held_timer(void *arg)
{
    broker_sub *u = arg;
    sim_broker *b = u->s->b;
    ENTER(b);
    u->timer = 0;
    const char *how;
    resolve_start(u, &how);
    trace_subscribe(u, "released", how);
    start_replay(u);
    LEAVE(b);
}

static bool all_timestamps(const fl_bm_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].kind != FL_BM_TIMESTAMP)
            return false;
    return l->count > 0;
}

static int sim_broker_run_retention_(sim_broker *b);

static void handle_subscribe(session *s, const fl_frame *f)
{
    sim_broker *b = s->b;
    if (sub_find(s, f->sub_id)) {
        send_ack(s, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, FL_REASON_SUB_ID_IN_USE, 0, false,
                 f->sub_id, f->command_id);
        return;
    }
    if (!entitled(s, f->topic)) {
        b->k.not_entitled++;
        send_ack(s, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, FL_REASON_NOT_ENTITLED, 0, false,
                 f->sub_id, f->command_id);
        return;
    }
    broker_sub *u = calloc(1, sizeof *u);
    if (!u || !(u->sub_id = sim_dup_n(f->sub_id.ptr, f->sub_id.len)) ||
        !(u->topic = sim_dup_n(f->topic.ptr, f->topic.len))) {
        if (u)
            sub_free(b, u, true);
        send_ack(s, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, FL_REASON_INTERNAL, 0, false, f->sub_id,
                 f->command_id);
        return;
    }
    u->s = s;
    u->options = f->sub_options;
    fl_bm_selector_init(&u->sel);
    char text[512];
    snprintf(text, sizeof text, "%.*s", (int)f->bookmark_text.len,
             f->bookmark_text.ptr ? (const char *)f->bookmark_text.ptr : "");
    const char *how = "live";
    if (!(f->present & FL_HAS_BOOKMARK_TEXT)) {
        u->kind = SUB_LIVE;
        u->state = ST_LIVE;
        u->cursor = sim_journal_next_recno(b->j);
    } else if (fl_bm_selector_parse((const char *)f->bookmark_text.ptr, f->bookmark_text.len,
                                    &u->sel, NULL) != 0) {
        /* AMPS: an invalid bookmark starts at the end of the log, silently */
        u->kind = SUB_BOOKMARK;
        u->state = ST_LIVE;
        u->cursor = sim_journal_next_recno(b->j);
        how = "invalid_bookmark";
    } else {
        u->kind = u->sel.kind == FL_BM_SEL_RANGE ? SUB_RANGE : SUB_BOOKMARK;
        u->ts_filter = u->kind == SUB_BOOKMARK && all_timestamps(&u->sel.points);
        u->end_pos = calloc(u->sel.end.count + 1, sizeof *u->end_pos);
        if (!u->end_pos) {
            sub_free(b, u, true);
            return;
        }
        sim_broker_run_retention_(b);
        if (hold_if_future(u)) {
            how = "held";
        } else {
            int reason = resolve_start(u, &how);
            if (reason) {
                trace_subscribe(u, how, text);
                send_ack(s, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, reason, 0, false, f->sub_id,
                         f->command_id);
                sub_free(b, u, true);
                return;
            }
        }
    }
    u->next = s->subs;
    s->subs = u;
    trace_subscribe(u, how, text);
    send_ack(s, FL_ACK_SUBSCRIBED, FL_STATUS_SUCCESS, 0, 0, false, f->sub_id, f->command_id);
    if (u->kind != SUB_LIVE && u->state == ST_HELD && u->timer == 0)
        start_replay(u); /* resolved (not held): replay from the start found */
}

static void handle_unsubscribe(session *s, const fl_frame *f)
{
    broker_sub *u = sub_find(s, f->sub_id);
    if (!u) {
        send_ack(s, FL_ACK_PROCESSED, FL_STATUS_FAILURE, FL_REASON_UNKNOWN_SUB, 0, false, f->sub_id,
                 f->command_id);
        return;
    }
    unlink_sub(s, u);
    char n[NAME_CAP], sid[NAME_CAP];
    tracef(s->b, "unsubscribe", "\"client\":%s,\"sub_id\":%s", esc(n, sizeof n, s->name),
           esc(sid, sizeof sid, u->sub_id));
    sub_free(s->b, u, true);
}

/* ------------------------------------------------------------------ */
/* journal failures (design note)                                       */

static void reopen_fn(void *arg);

/* The journal handle is unusable (a sync failed): close every session and
 * reopen on the next loop turn. Idempotent. */
static void journal_failed(sim_broker *b, int rc, const char *where)
{
    if (b->jfail || b->closing)
        return;
    b->jfail = rc ? rc : FL_E_SYNC_FAILED;
    b->reopen_attempts = 0;
    b->k.journal_failures++;
    size_t n = 0;
    for (size_t i = 0; i < b->nsessions; i++)
        n += !b->sessions[i]->dead && !b->sessions[i]->close_after_flush;
    char d[NAME_CAP];
    tracef(b, "journal_failed",
           "\"error\":\"%s\",\"where\":\"%s\",\"detail\":%s,\"durable\":%llu,"
           "\"next_recno\":%llu,\"sessions\":%zu",
           fl_err_name(b->jfail), where, esc(d, sizeof d, sim_journal_last_error(b->j)),
           (unsigned long long)b->durable, (unsigned long long)sim_journal_next_recno(b->j), n);
    for (size_t i = 0; i < b->nsessions; i++)
        session_close(b->sessions[i], "journal_failed");
    cancel(b, &b->reopen_timer);
    ms_timer(b, 0, reopen_fn, b, &b->reopen_timer);
}

/* The journal's on_failed (from the loop). */
static void on_journal_failed(void *arg, int error)
{
    sim_broker *b = arg;
    if (b->closing)
        return;
    ENTER(b);
    journal_failed(b, error, "sync");
    LEAVE(b);
}

/* An append for session s (client or inbound replication) failed. Nothing
 * is acked and the session closes (the client republishes after
 * reconnecting; a replicating peer resumes). A write error (NOSPC, IO)
 * leaves the journal intact but refuses logons for journal_retry_us; a
 * failed sync makes the journal fail. */
static void append_failed(session *s, uint64_t seq, int rc)
{
    sim_broker *b = s->b;
    char n[NAME_CAP], d[NAME_CAP];
    uint64_t block_us = rc == FL_E_NOSPC || rc == FL_E_IO ? b->c.journal_retry_us : 0;
    if (block_us) {
        b->write_blocked_to = now_us(b) + block_us;
        b->write_block_rc = rc;
        b->k.journal_write_errors++;
    }
    tracef(b, "journal_error",
           "\"client\":%s,\"seq\":%llu,\"error\":\"%s\",\"detail\":%s,\"refuse_logons_us\":%llu",
           esc(n, sizeof n, s->name), (unsigned long long)seq, fl_err_name(rc),
           esc(d, sizeof d, sim_journal_last_error(b->j)), (unsigned long long)block_us);
    if (rc == FL_E_SYNC_FAILED)
        journal_failed(b, rc, "append");
    session_close(s, "journal_error");
}

/* ------------------------------------------------------------------ */
/* publish                                                              */

/* A failure ack goes out at once; its queue entry (sequence 0) keeps the
 * order but never raises the next success ack by itself. */
static void fail_publish(session *s, uint64_t seq, int reason)
{
    send_ack(s, FL_ACK_PERSISTED, FL_STATUS_FAILURE, reason, seq, true, (fl_slice){NULL, 0}, 0);
    q_push(s, 0, 0, true);
}

static void handle_duplicate(session *s, uint64_t seq)
{
    sim_broker *b = s->b;
    b->k.duplicates++;
    uint64_t r;
    sim_journal_msg m;
    bool inflight = sim_journal_find(b->j, s->pub, seq, &r) == 0 &&
                    sim_journal_get(b->j, r, &m) == 0 && !recno_safe_local(b, r, m.origin_len == 0);
    char n[NAME_CAP];
    tracef(b, "publish", "\"client\":%s,\"seq\":%llu,\"outcome\":\"%s\"", esc(n, sizeof n, s->name),
           (unsigned long long)seq, inflight ? "duplicate_inflight" : "duplicate");
    if (inflight) {
        q_push(s, seq, r, m.origin_len == 0);
        return;
    }
    fail_publish(s, seq, FL_REASON_DUPLICATE);
}

static void handle_publish(session *s, const fl_frame *f)
{
    sim_broker *b = s->b;
    b->k.publishes++;
    arm_ack_timer(s);
    if (!entitled(s, f->topic)) {
        b->k.not_entitled++;
        char n[NAME_CAP];
        tracef(b, "publish", "\"client\":%s,\"seq\":%llu,\"outcome\":\"not_entitled\"",
               esc(n, sizeof n, s->name), (unsigned long long)f->sequence);
        fail_publish(s, f->sequence, FL_REASON_NOT_ENTITLED);
        return;
    }
    const topic_cfg *t = topic_find(b, f->topic);
    sim_journal_msg m = {0,
                         (const char *)f->topic.ptr,
                         f->topic.len,
                         s->pub,
                         f->sequence,
                         (int64_t)now_us(b),
                         NULL,
                         0,
                         0,
                         f->payload.ptr,
                         f->payload.len};
    if (!t || !t->journal) {
        q_push(s, f->sequence, 0, true);
        deliver_live(b, &m);
        return;
    }
    if (f->sequence <= sim_journal_highest_seq(b->j, s->pub)) {
        handle_duplicate(s, f->sequence);
        return;
    }
    uint64_t r = 0;
    int rc = sim_journal_append(b->j, &m, &r);
    if (rc) {
        append_failed(s, f->sequence, rc);
        return;
    }
    b->k.journal_writes++;
    if (b->c.trace_messages) {
        tline tl = {.n = 0};
        tl_name(&tl, "client", s->name);
        tl_u64(&tl, "seq", f->sequence);
        tl_json(&tl, "outcome", "\"logged\"");
        tl_u64(&tl, "recno", r);
        fl_rt_trace(b->rt, "broker", "publish", tl.p);
    }
    observe(b, SIM_BROKER_EV_JOURNAL_WRITE, NULL, r);
    q_push(s, f->sequence, r, true);
    m.recno = r;
    deliver_live(b, &m);
}

/* ------------------------------------------------------------------ */
/* logon and heartbeats                                                 */

static void hb_timer_fn(void *arg);

static uint64_t hb_send_interval(const session *s)
{
    uint64_t iv = s->b->c.heartbeat_us;
    if (iv == 0 || (s->client_hb_us && s->client_hb_us < iv))
        iv = s->client_hb_us;
    return iv;
}

static void arm_hb(session *s)
{
    if (!s->client_hb_us || s->dead || s->close_after_flush)
        return;
    uint64_t now = now_us(s->b);
    uint64_t due_send = s->last_tx + hb_send_interval(s);
    uint64_t due_dead = s->last_rx + 2 * s->client_hb_us;
    uint64_t due = due_send < due_dead ? due_send : due_dead;
    cancel(s->b, &s->hb_timer);
    ms_timer(s->b, due > now ? due - now : 0, hb_timer_fn, s, &s->hb_timer);
}

static void hb_timer_fn(void *arg)
{
    session *s = arg;
    sim_broker *b = s->b;
    ENTER(b);
    s->hb_timer = 0;
    uint64_t now = now_us(b);
    if (now >= s->last_rx + 2 * s->client_hb_us) {
        b->k.sessions_closed_silent++;
        session_close(s, "silent");
    } else {
        if (now >= s->last_tx + hb_send_interval(s)) {
            fl_frame f;
            fl_frame_init(&f, FL_CMD_HEARTBEAT);
            send_frame(s, &f);
        }
        arm_hb(s);
    }
    LEAVE(b);
}

static const ent_rule *ent_find(const sim_broker *b, const char *name)
{
    for (size_t i = 0; i < b->c.nentitlements; i++)
        if (strcmp(b->ents[i].client, name) == 0)
            return &b->ents[i];
    return NULL;
}

static bool credentials_ok(const sim_broker *b, const char *name, const fl_frame *f)
{
    if (!b->c.has_credentials)
        return true;
    for (size_t i = 0; i < b->c.ncredentials; i++) {
        if (strcmp(b->creds[i].client, name) != 0)
            continue;
        fl_slice pw = (f->present & FL_HAS_PASSWORD) ? f->password : fl_slice_cstr("");
        return fl_slice_eq(pw, fl_slice_cstr(b->creds[i].password));
    }
    return false;
}

/* Failure logon ack (with an optional reason text) and close. */
static void refuse_logon(session *s, const fl_frame *f, int reason, const char *name,
                         const char *text)
{
    sim_broker *b = s->b;
    b->k.logons_refused++;
    char n[NAME_CAP], t[NAME_CAP];
    if (text)
        tracef(b, "logon_refused", "\"client\":%s,\"reason\":\"%s\",\"text\":%s",
               esc(n, sizeof n, name), fl_reason_name(reason), esc(t, sizeof t, text));
    else
        tracef(b, "logon_refused", "\"client\":%s,\"reason\":\"%s\"", esc(n, sizeof n, name),
               fl_reason_name(reason));
    fl_frame a;
    fl_frame_init(&a, FL_CMD_ACK);
    a.ack_type = FL_ACK_LOGON;
    a.status = FL_STATUS_FAILURE;
    a.reason = (uint8_t)reason;
    a.command_id = f->command_id;
    a.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_REASON | FL_HAS_COMMAND_ID;
    if (text) {
        a.reason_text = fl_slice_cstr(text);
        a.present |= FL_HAS_REASON_TEXT;
    }
    send_frame(s, &a);
    session_close(s, "logon_refused");
}

/* Why the journal cannot take a session now ("journal unavailable: ..."
 * into buf), or NULL when it can. */
static const char *journal_unavailable(const sim_broker *b, char *buf, size_t cap)
{
    if (b->jfail) {
        snprintf(buf, cap, "journal unavailable: %s, reopen failed %u time(s)",
                 fl_err_name(b->jfail), b->reopen_attempts);
        return buf;
    }
    if (now_us(b) < b->write_blocked_to) {
        snprintf(buf, cap, "journal unavailable: append failed with %s",
                 fl_err_name(b->write_block_rc));
        return buf;
    }
    return NULL;
}

static void handle_logon(session *s, const fl_frame *f)
{
    sim_broker *b = s->b;
    char *name = sim_dup_n(f->client_name.ptr, f->client_name.len);
    if (!name) {
        session_close(s, "nomem");
        return;
    }
    if (!credentials_ok(b, name, f)) {
        refuse_logon(s, f, FL_REASON_AUTH_FAILED, name, NULL);
        free(name);
        return;
    }
    char why[160];
    if (journal_unavailable(b, why, sizeof why)) {
        refuse_logon(s, f, FL_REASON_LOGON_REFUSED, name, why);
        free(name);
        return;
    }
    session *old = session_by_name(b, name);
    if (old && b->c.duplicate_logon == SIM_DUP_LOGON_REFUSE) {
        refuse_logon(s, f, FL_REASON_NAME_IN_USE, name, NULL);
        free(name);
        return;
    }
    if (old)
        session_close(old, "replaced");
    s->kind = SK_CLIENT;
    s->name = name;
    s->pub = fl_publisher_id(name, strlen(name));
    s->client_hb_us = f->heartbeat_us;
    s->ent = ent_find(b, name);
    uint64_t seq = sim_journal_highest_seq_where(b->j, s->pub, recno_safe, b);
    s->acked = seq;
    b->k.logons++;
    char n[NAME_CAP];
    tracef(b, "logon", "\"client\":%s,\"seq\":%llu,\"heartbeat_us\":%llu%s", esc(n, sizeof n, name),
           (unsigned long long)seq, (unsigned long long)f->heartbeat_us,
           old ? ",\"replaced\":true" : "");
    send_ack(s, FL_ACK_LOGON, FL_STATUS_SUCCESS, 0, seq, true, (fl_slice){NULL, 0}, f->command_id);
    observe(b, SIM_BROKER_EV_LOGON, name, seq);
    arm_hb(s);
}

/* ------------------------------------------------------------------ */
/* inbound replication                                                  */

static void handle_repl_logon(session *s, const fl_frame *f)
{
    sim_broker *b = s->b;
    char *name = sim_dup_n(f->client_name.ptr, f->client_name.len);
    if (!name) {
        session_close(s, "nomem");
        return;
    }
    s->kind = SK_REPLICA_IN;
    s->name = name;
    char why[160];
    if (journal_unavailable(b, why, sizeof why)) {
        /* the peer's link retries on its own: no failure ack to parse */
        session_close(s, "journal_unavailable");
        return;
    }
    /* answer with what is durable: sync first so the answer is exact */
    int rc = sim_journal_sync(b->j);
    if (rc) {
        journal_failed(b, rc, "repl_logon");
        session_close(s, "journal_failed");
        return;
    }
    uint64_t have = sim_journal_origin_recno(b->j, name);
    s->acked = have;
    char n[NAME_CAP];
    tracef(b, "repl_logon", "\"origin\":%s,\"have\":%llu", esc(n, sizeof n, name),
           (unsigned long long)have);
    send_ack(s, FL_ACK_LOGON, FL_STATUS_SUCCESS, 0, have, true, (fl_slice){NULL, 0}, f->command_id);
}

static void handle_replicate(session *s, const fl_frame *f)
{
    sim_broker *b = s->b;
    uint64_t pub = f->bookmark.publisher, seq = f->bookmark.sequence;
    if (seq <= sim_journal_highest_seq(b->j, pub)) {
        uint64_t r = 0;
        sim_journal_msg om;
        bool wait = sim_journal_find(b->j, pub, seq, &r) == 0 &&
                    sim_journal_get(b->j, r, &om) == 0 && r > b->durable;
        q_push(s, f->sequence, wait ? r : 0, false);
        return;
    }
    sim_journal_msg m = {0,
                         (const char *)f->topic.ptr,
                         f->topic.len,
                         pub,
                         seq,
                         f->bookmark.timestamp_us,
                         s->name,
                         strlen(s->name),
                         f->sequence,
                         f->payload.ptr,
                         f->payload.len};
    uint64_t r;
    int rc = sim_journal_append(b->j, &m, &r);
    if (rc) {
        append_failed(s, f->sequence, rc);
        return;
    }
    b->k.replicated_in++;
    b->k.journal_writes++;
    observe(b, SIM_BROKER_EV_JOURNAL_WRITE, NULL, r);
    if (b->c.trace_messages) {
        tline t = {.n = 0};
        tl_name(&t, "origin", s->name);
        tl_u64(&t, "origin_recno", f->sequence);
        tl_u64(&t, "publisher", pub);
        tl_u64(&t, "seq", seq);
        tl_u64(&t, "recno", r);
        fl_rt_trace(b->rt, "broker", "replicated_in", t.p);
    }
    q_push(s, f->sequence, r, false);
    m.recno = r;
    deliver_live(b, &m);
}

/* ------------------------------------------------------------------ */
/* frames in                                                            */

static void handle_frame(session *s, const fl_frame *f)
{
    if (s->kind == SK_NEW) {
        if (f->command == FL_CMD_LOGON)
            handle_logon(s, f);
        else if (f->command == FL_CMD_REPL_LOGON)
            handle_repl_logon(s, f);
        else if (f->command != FL_CMD_HEARTBEAT)
            session_close(s, "not_logged_on");
        return;
    }
    if (s->kind == SK_REPLICA_IN) {
        if (f->command == FL_CMD_REPLICATE)
            handle_replicate(s, f);
        else if (f->command != FL_CMD_HEARTBEAT)
            session_close(s, "bad_replication_frame");
        return;
    }
    switch (f->command) {
    case FL_CMD_PUBLISH:
        handle_publish(s, f);
        break;
    case FL_CMD_SUBSCRIBE:
        handle_subscribe(s, f);
        break;
    case FL_CMD_UNSUBSCRIBE:
        handle_unsubscribe(s, f);
        break;
    case FL_CMD_HEARTBEAT:
        break;
    default:
        session_close(s, "unexpected_command");
        break;
    }
}

static void on_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    session *s = arg;
    sim_broker *b = s->b;
    (void)conn;
    if (s->dead || s->close_after_flush)
        return;
    ENTER(b);
    s->last_rx = now_us(b);
    if (fl_buf_append(&s->rx, buf, len) != 0) {
        session_close(s, "nomem");
        LEAVE(b);
        return;
    }
    size_t off = 0;
    while (!s->dead && !s->close_after_flush) {
        fl_frame f;
        size_t used = 0;
        char why[160];
        int rc = fl_frame_decode_ex(s->rx.data + off, s->rx.len - off, b->c.max_frame, &f, &used,
                                    NULL, why, sizeof why);
        if (rc == FL_E_AGAIN)
            break;
        if (rc) {
            char n[NAME_CAP], w[200];
            tracef(b, "bad_frame", "\"client\":%s,\"error\":\"%s\",\"detail\":%s",
                   esc(n, sizeof n, s->name), fl_err_name(rc), esc(w, sizeof w, why));
            session_close(s, "bad_frame");
            break;
        }
        handle_frame(s, &f);
        off += used;
    }
    fl_buf_consume(&s->rx, off);
    LEAVE(b);
}

static void on_closed(void *arg, fl_conn_id conn, int reason)
{
    session *s = arg;
    sim_broker *b = s->b;
    (void)conn;
    ENTER(b);
    if (!s->dead && !s->close_after_flush) {
        char n[NAME_CAP];
        tracef(b, "disconnect", "\"client\":%s,\"reason\":\"%s\"", esc(n, sizeof n, s->name),
               reason ? fl_err_name(reason) : "closed");
    }
    s->dead = true; /* the runtime forgets the connection: no close() */
    cancel(b, &s->hb_timer);
    cancel(b, &s->ack_timer);
    for (broker_sub *u = s->subs; u; u = u->next)
        cancel(b, &u->timer);
    LEAVE(b);
}

static const fl_conn_callbacks session_cbs = {NULL, on_data, on_closed};

int sim_broker_accept(void *broker, fl_conn_id conn, const char *peer_name,
                      const fl_conn_callbacks **cbs, void **cbs_arg)
{
    sim_broker *b = broker;
    (void)peer_name;
    if (b->nsessions == b->capsessions) {
        size_t n = b->capsessions ? b->capsessions * 2 : 16;
        session **p = realloc(b->sessions, n * sizeof *p);
        if (!p)
            return FL_E_NOMEM;
        b->sessions = p;
        b->capsessions = n;
    }
    session *s = calloc(1, sizeof *s);
    if (!s)
        return FL_E_NOMEM;
    s->b = b;
    s->conn = conn;
    s->last_rx = s->last_tx = now_us(b);
    b->sessions[b->nsessions++] = s;
    *cbs = &session_cbs;
    *cbs_arg = s;
    return 0;
}

int sim_broker_listen_sim(sim_broker *b, sim_node *node, const char *name)
{
    return sim_listen(node, name ? name : b->name, sim_broker_accept, b);
}

/* ------------------------------------------------------------------ */
/* outbound replication                                                 */

static void link_connect(rlink *l);

static void link_retry_fn(void *arg)
{
    rlink *l = arg;
    ENTER(l->b);
    l->timer = 0;
    link_connect(l);
    LEAVE(l->b);
}

static void link_down(rlink *l, const char *why)
{
    sim_broker *b = l->b;
    if (l->state != RL_IDLE) {
        char n[NAME_CAP];
        tracef(b, "replication_down", "\"peer\":%s,\"why\":\"%s\"", esc(n, sizeof n, l->peer), why);
    }
    l->state = RL_IDLE;
    l->conn = 0;
    fl_buf_clear(&l->rx);
    fl_buf_clear(&l->tx);
    cancel(b, &l->pump_timer);
    cancel(b, &l->timer);
    ms_timer(b, b->c.retry_interval_us, link_retry_fn, l, &l->timer);
}

typedef struct pump_ctx {
    rlink *l;
    uint64_t stop; /* first record not sent because it is not ready */
} pump_ctx;

static int pump_cb(void *arg, const sim_journal_msg *m)
{
    pump_ctx *p = arg;
    rlink *l = p->l;
    if (m->recno > l->ready) {
        p->stop = m->recno;
        return 1;
    }
    if (m->origin_len != 0)
        return 0; /* replicated to us: not ours to pass on */
    fl_frame f;
    fl_frame_init(&f, FL_CMD_REPLICATE);
    f.topic = fl_slice_make(m->topic, m->topic_len);
    f.sequence = m->recno;
    f.bookmark = (fl_wire_bookmark){m->publisher, m->sequence, m->ts_us};
    f.payload = fl_slice_make(m->payload, m->payload_len);
    f.present = FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD;
    if (fl_frame_encode(&l->tx, &f) == 0) {
        l->b->k.replicated_out++;
        observe(l->b, SIM_BROKER_EV_REPLICATION, l->peer, m->recno);
    }
    return 0;
}

static void link_pump_fn(void *arg);

static void link_pump(rlink *l)
{
    sim_broker *b = l->b;
    if (l->state != RL_STREAM || l->pump_timer)
        return;
    if (l->next < sim_journal_first_recno(b->j))
        l->next = sim_journal_first_recno(b->j);
    if (l->next > l->ready)
        return;
    pump_ctx p = {l, 0};
    sim_journal_read_batch(b->j, &l->next, b->c.replay_batch, pump_cb, &p);
    if (p.stop)
        l->next = p.stop;
    if (l->next <= l->ready && l->next < sim_journal_next_recno(b->j))
        ms_timer(b, 0, link_pump_fn, l, &l->pump_timer);
}

static void link_pump_fn(void *arg)
{
    rlink *l = arg;
    ENTER(l->b);
    l->pump_timer = 0;
    link_pump(l);
    LEAVE(l->b);
}

static void link_lag_fn(void *arg);

static void link_lag_arm(rlink *l)
{
    if (l->timer || l->lql == 0)
        return;
    uint64_t now = now_us(l->b), t = l->lq[l->lqh].t;
    ms_timer(l->b, t > now ? t - now : 0, link_lag_fn, l, &l->timer);
}

static void link_lag_fn(void *arg)
{
    rlink *l = arg;
    ENTER(l->b);
    l->timer = 0;
    uint64_t now = now_us(l->b);
    while (l->lql && l->lq[l->lqh].t <= now) {
        if (l->lq[l->lqh].recno > l->ready)
            l->ready = l->lq[l->lqh].recno;
        l->lqh++;
        l->lql--;
    }
    if (l->lql == 0)
        l->lqh = 0;
    link_pump(l);
    if (l->state != RL_IDLE)
        link_lag_arm(l);
    LEAVE(l->b);
}

static void link_durable(rlink *l, uint64_t recno)
{
    if (l->mode == SIM_REPL_SYNC || l->lag_us == 0) {
        l->ready = recno;
        link_pump(l);
        return;
    }
    if (l->lqh + l->lql == l->lqc) {
        if (l->lqh) {
            memmove(l->lq, l->lq + l->lqh, l->lql * sizeof *l->lq);
            l->lqh = 0;
        } else {
            size_t n = l->lqc ? l->lqc * 2 : 64;
            lagq *q = realloc(l->lq, n * sizeof *q);
            if (!q)
                return; /* caught up by the next durability callback */
            l->lq = q;
            l->lqc = n;
        }
    }
    l->lq[l->lqh + l->lql++] = (lagq){now_us(l->b) + l->lag_us, recno};
    if (l->state != RL_IDLE)
        link_lag_arm(l);
}

static void link_ack(rlink *l, const fl_frame *f)
{
    sim_broker *b = l->b;
    uint64_t top = sim_journal_next_recno(b->j) - 1;
    uint64_t v = f->sequence > top ? top : f->sequence;
    if (f->ack_type == FL_ACK_LOGON) {
        l->state = RL_STREAM;
        l->acked = v;
        l->next = v + 1;
        char n[NAME_CAP];
        tracef(b, "replication_up", "\"peer\":%s,\"resume\":%llu", esc(n, sizeof n, l->peer),
               (unsigned long long)l->next);
        link_pump(l);
        link_lag_arm(l);
        progress(b);
        return;
    }
    if (f->ack_type == FL_ACK_PERSISTED && v > l->acked) {
        l->acked = v;
        if (l->mode == SIM_REPL_SYNC)
            progress(b);
    }
}

static void link_on_opened(void *arg, fl_conn_id conn)
{
    rlink *l = arg;
    ENTER(l->b);
    (void)conn;
    cancel(l->b, &l->timer);
    l->state = RL_LOGON;
    fl_frame f;
    fl_frame_init(&f, FL_CMD_REPL_LOGON);
    f.client_name = fl_slice_cstr(l->b->name);
    f.command_id = 1;
    f.present = FL_HAS_CLIENT_NAME | FL_HAS_COMMAND_ID;
    fl_frame_encode(&l->tx, &f);
    LEAVE(l->b);
}

static void link_on_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    rlink *l = arg;
    (void)conn;
    ENTER(l->b);
    if (fl_buf_append(&l->rx, buf, len) == 0) {
        size_t off = 0;
        for (;;) {
            fl_frame f;
            size_t used;
            int rc = fl_frame_decode(l->rx.data + off, l->rx.len - off, 0, &f, &used);
            if (rc == FL_E_AGAIN)
                break;
            if (rc || f.command != FL_CMD_ACK) {
                l->b->rt->ops->close(l->b->rt->self, l->conn);
                link_down(l, "bad_frame");
                off = 0;
                break;
            }
            link_ack(l, &f);
            off += used;
        }
        fl_buf_consume(&l->rx, off);
    }
    LEAVE(l->b);
}

static void link_on_closed(void *arg, fl_conn_id conn, int reason)
{
    rlink *l = arg;
    (void)conn;
    ENTER(l->b);
    link_down(l, reason ? fl_err_name(reason) : "closed");
    LEAVE(l->b);
}

static const fl_conn_callbacks link_cbs = {link_on_opened, link_on_data, link_on_closed};

static void link_connect_timeout(void *arg)
{
    rlink *l = arg;
    ENTER(l->b);
    l->timer = 0;
    if (l->state == RL_CONNECTING) {
        l->b->rt->ops->close(l->b->rt->self, l->conn);
        link_down(l, "connect_timeout");
    }
    LEAVE(l->b);
}

static void link_connect(rlink *l)
{
    sim_broker *b = l->b;
    fl_conn_id id = 0;
    int rc = b->rt->ops->connect(b->rt->self, l->peer, &link_cbs, l, &id);
    if (rc) {
        ms_timer(b, b->c.retry_interval_us, link_retry_fn, l, &l->timer);
        return;
    }
    l->conn = id;
    l->state = RL_CONNECTING;
    /* a partition drops the SYN without any callback: time the attempt out */
    ms_timer(b, 4 * b->c.retry_interval_us, link_connect_timeout, l, &l->timer);
}

static void link_free(sim_broker *b, rlink *l, bool live)
{
    if (live) {
        cancel(b, &l->timer);
        cancel(b, &l->pump_timer);
        if (l->conn)
            b->rt->ops->close(b->rt->self, l->conn);
    }
    fl_buf_free(&l->rx);
    fl_buf_free(&l->tx);
    free(l->lq);
    free(l->peer);
    free(l);
}

int sim_broker_set_replica(sim_broker *b, const char *peer, sim_repl_mode mode, uint64_t lag_us)
{
    if (!b || !peer || !*peer)
        return FL_E_INVAL;
    for (size_t i = 0; i < b->nlinks; i++)
        if (strcmp(b->links[i]->peer, peer) == 0) {
            b->links[i]->mode = mode;
            b->links[i]->lag_us = lag_us;
            return 0;
        }
    rlink **p = realloc(b->links, (b->nlinks + 1) * sizeof *p);
    if (!p)
        return FL_E_NOMEM;
    b->links = p;
    rlink *l = calloc(1, sizeof *l);
    if (!l || !(l->peer = dup_s(peer))) {
        free(l);
        return FL_E_NOMEM;
    }
    l->b = b;
    l->mode = mode;
    l->lag_us = lag_us;
    l->ready = b->durable;
    b->links[b->nlinks++] = l;
    ENTER(b);
    link_connect(l);
    LEAVE(b);
    return 0;
}

/* ------------------------------------------------------------------ */
/* journal durability, retention                                        */

static void on_durable(void *arg, uint64_t recno)
{
    sim_broker *b = arg;
    if (b->closing || b->reopening)
        return; /* a reopen sets b->durable itself once the new handle is in */
    ENTER(b);
    b->durable = recno;
    observe(b, SIM_BROKER_EV_JOURNAL_SYNC, NULL, recno);
    for (size_t i = 0; i < b->nlinks; i++)
        link_durable(b->links[i], recno);
    progress(b);
    LEAVE(b);
}

static uint64_t retention_floor(const sim_broker *b)
{
    uint64_t floor = UINT64_MAX;
    for (size_t i = 0; i < b->nlinks; i++)
        if (b->links[i]->acked + 1 < floor)
            floor = b->links[i]->acked + 1;
    for (size_t i = 0; i < b->nsessions; i++)
        for (broker_sub *u = b->sessions[i]->subs; u; u = u->next)
            if (u->state == ST_REPLAY && u->cursor < floor)
                floor = u->cursor;
    return floor;
}

static int sim_broker_run_retention_(sim_broker *b)
{
    if (!b->c.retention_us)
        return 0;
    if (b->jfail)
        return b->jfail; /* the handle is poisoned: after the reopen */
    uint64_t now = now_us(b);
    int64_t cutoff = (int64_t)(now - (b->c.retention_us < now ? b->c.retention_us : now));
    uint64_t removed = 0;
    int rc = sim_journal_retain(b->j, cutoff, retention_floor(b), &removed);
    b->k.retention_removed += removed;
    return rc;
}

int sim_broker_run_retention(sim_broker *b)
{
    ENTER(b);
    int rc = sim_broker_run_retention_(b);
    LEAVE(b);
    return rc;
}

static uint64_t retention_period(const sim_broker *b)
{
    uint64_t p = b->c.retention_us / 8;
    if (b->c.segment_age_us && b->c.segment_age_us < p)
        p = b->c.segment_age_us;
    return p < 10000 ? 10000 : p; /* at least every 10 ms */
}

static void retention_fn(void *arg)
{
    sim_broker *b = arg;
    ENTER(b);
    b->retention_timer = 0;
    sim_broker_run_retention_(b);
    ms_timer(b, retention_period(b), retention_fn, b, &b->retention_timer);
    LEAVE(b);
}

/* ------------------------------------------------------------------ */
/* journal open and reopen                                              */

static int open_journal(sim_broker *b, sim_journal **out, fl_store_recovery *rep, char *err,
                        size_t errcap)
{
    sim_journal_options jo = SIM_JOURNAL_OPTIONS_INIT;
    jo.rt = b->rt;
    jo.dir = b->journal_dir;
    jo.segment_size = b->c.segment_size;
    jo.segment_age_us = b->c.segment_age_us;
    jo.recovery = b->c.recovery;
    jo.sync_interval_us = b->c.sync_interval_us;
    jo.on_durable = on_durable;
    jo.on_failed = on_journal_failed;
    jo.arg = b;
    return sim_journal_open(&jo, out, rep, err, errcap);
}

/* Open a second handle on the journal directory (recovery), make what it
 * recovered durable and start a new segment; on success it replaces the
 * poisoned handle. err gets the reason of a failure. */
static int journal_reopen(sim_broker *b, char *err, size_t errcap)
{
    sim_journal *old = b->j, *nj = NULL;
    fl_store_recovery rep;
    memset(&rep, 0, sizeof rep);
    b->reopening = true;
    int rc = open_journal(b, &nj, &rep, err, errcap);
    const char *step = "open";
    if (!rc && (rc = sim_journal_sync(nj)) != 0)
        step = "sync";
    if (!rc && (rc = sim_journal_rotate(nj)) != 0)
        step = "new segment";
    if (!rc && (rc = sim_journal_failed(nj)) != 0)
        step = "sync";
    b->reopening = false;
    if (rc) {
        if (nj)
            snprintf(err, errcap, "%s: %s", step, sim_journal_last_error(nj));
        sim_journal_close(nj);
        return rc;
    }
    uint64_t old_durable = b->durable, old_next = sim_journal_next_recno(old);
    size_t old_count = sim_journal_count(old);
    b->j = nj;
    sim_journal_close(old);
    b->jfail = 0;
    b->durable = sim_journal_durable_recno(nj);
    b->k.journal_reopens++;
    tracef(b, "journal_reopened",
           "\"recovery\":\"%s\",\"attempts\":%u,\"messages\":%zu,\"messages_before\":%zu,"
           "\"records_dropped\":%llu,\"durable_before\":%llu,\"next_recno_before\":%llu,"
           "\"durable\":%llu,\"next_recno\":%llu",
           fl_recovery_mode_name(b->c.recovery), b->reopen_attempts + 1, sim_journal_count(nj),
           old_count, (unsigned long long)rep.records_dropped, (unsigned long long)old_durable,
           (unsigned long long)old_next, (unsigned long long)b->durable,
           (unsigned long long)sim_journal_next_recno(nj));
    b->reopen_attempts = 0;
    /* what recovery made durable may now go to the replicas */
    for (size_t i = 0; i < b->nlinks; i++)
        link_durable(b->links[i], b->durable);
    return 0;
}

static void reopen_fn(void *arg)
{
    sim_broker *b = arg;
    ENTER(b);
    b->reopen_timer = 0;
    char err[256] = "";
    int rc = journal_reopen(b, err, sizeof err);
    if (rc) {
        b->reopen_attempts++;
        b->k.journal_reopen_failures++;
        char d[NAME_CAP];
        tracef(b, "journal_reopen_failed",
               "\"attempt\":%u,\"error\":\"%s\",\"detail\":%s,\"retry_us\":%llu",
               b->reopen_attempts, fl_err_name(rc), esc(d, sizeof d, err),
               (unsigned long long)b->c.journal_retry_us);
        ms_timer(b, b->c.journal_retry_us, reopen_fn, b, &b->reopen_timer);
    }
    LEAVE(b);
}

/* ------------------------------------------------------------------ */
/* lifetime                                                             */

static void broker_release(sim_broker *b, bool live)
{
    b->abandoned = !live;
    b->closing = true;
    for (size_t i = 0; i < b->nsessions; i++) {
        session *s = b->sessions[i];
        if (live && !s->dead)
            b->rt->ops->close(b->rt->self, s->conn);
        session_free(s);
    }
    free(b->sessions);
    for (size_t i = 0; i < b->nlinks; i++)
        link_free(b, b->links[i], live);
    free(b->links);
    if (live) {
        cancel(b, &b->retention_timer);
        cancel(b, &b->reopen_timer);
    }
    sim_journal_close(b->j);
    free_config(b);
    free(b);
}

int sim_broker_new(const fl_runtime *rt, const sim_broker_config *config, sim_broker **out,
                   char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!rt || !config || !out || config->version != SIM_BROKER_CONFIG_VERSION)
        return FL_E_INVAL;
    sim_broker *b = calloc(1, sizeof *b);
    if (!b)
        return FL_E_NOMEM;
    b->rt = rt;
    int rc = copy_config(b, config);
    if (rc) {
        if (err && errcap)
            snprintf(err, errcap, "broker config: %s", fl_strerror(rc));
        free_config(b);
        free(b);
        return rc;
    }
    fl_store_recovery rep;
    rc = open_journal(b, &b->j, &rep, err, errcap);
    if (rc) {
        tracef(b, "start_failed", "\"error\":\"%s\"", fl_err_name(rc));
        free_config(b);
        free(b);
        return rc;
    }
    /* records recovered after a process crash may still be volatile */
    if (sim_journal_durable_recno(b->j) + 1 < sim_journal_next_recno(b->j))
        sim_journal_sync(b->j);
    b->durable = sim_journal_durable_recno(b->j);
    tracef(b, "start",
           "\"recovery\":\"%s\",\"messages\":%zu,\"records_dropped\":%llu,\"next_recno\":%llu",
           fl_recovery_mode_name(b->c.recovery), sim_journal_count(b->j),
           (unsigned long long)rep.records_dropped,
           (unsigned long long)sim_journal_next_recno(b->j));
    for (size_t i = 0; i < config->nreplicas; i++) {
        const sim_broker_replica *r = &config->replicate_to[i];
        rc = sim_broker_set_replica(b, r->broker, r->mode, r->lag_us);
        if (rc) {
            broker_release(b, true);
            return rc;
        }
    }
    b->c.replicate_to = NULL;
    b->c.nreplicas = 0;
    b->c.topics = NULL;
    b->c.credentials = NULL;
    b->c.entitlements = NULL;
    if (b->c.retention_us)
        ms_timer(b, retention_period(b), retention_fn, b, &b->retention_timer);
    *out = b;
    return 0;
}

void sim_broker_free(sim_broker *b)
{
    if (!b)
        return;
    broker_release(b, true);
}

void sim_broker_abandon(sim_broker *b)
{
    if (!b)
        return;
    broker_release(b, false);
}

/* ------------------------------------------------------------------ */
/* fault hooks and read-only access                                     */

int sim_broker_drop_acks(sim_broker *b, const char *client, int ack_type, uint32_t count,
                         uint64_t duration_us)
{
    if (!b || !client ||
        (ack_type != FL_ACK_PERSISTED && ack_type != FL_ACK_LOGON &&
         ack_type != FL_ACK_COMPLETED) ||
        (count == 0 && duration_us == 0))
        return FL_E_INVAL;
    drop_rule *d = realloc(b->drops, (b->ndrops + 1) * sizeof *d);
    if (!d)
        return FL_E_NOMEM;
    b->drops = d;
    char *c = dup_s(client);
    if (!c)
        return FL_E_NOMEM;
    b->drops[b->ndrops++] = (drop_rule){c, ack_type, count, count ? 0 : now_us(b) + duration_us};
    return 0;
}

int sim_broker_cut_client(sim_broker *b, const char *client)
{
    session *s = session_by_name(b, client);
    if (!s)
        return FL_E_NOT_FOUND;
    ENTER(b);
    session_close(s, "cut");
    LEAVE(b);
    return 0;
}

const sim_journal *sim_broker_journal(const sim_broker *b)
{
    return b->j;
}

void sim_broker_get_counters(const sim_broker *b, sim_broker_counters *out)
{
    *out = b->k;
}

void sim_broker_set_observer(sim_broker *b, sim_broker_observer_fn fn, void *arg)
{
    b->obs = fn;
    b->obs_arg = arg;
}

bool sim_broker_has_session(const sim_broker *b, const char *client)
{
    return session_by_name(b, client) != NULL;
}

const char *sim_broker_name(const sim_broker *b)
{
    return b->name;
}
