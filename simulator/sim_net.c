/* The simulated network (sim_net.h): connections over in-memory links with
 * latency, jitter and bandwidth, listeners, and the network faults.
 *
 * Design note.
 *   A connection has two ends (client side = connect caller, server side =
 *   accepted by a listener), each with its own fl_conn_id, and two directed
 *   queues of units (dq[SIM_DIR_TO_SERVER] feeds the server end,
 *   dq[SIM_DIR_TO_CLIENT] the client end). A unit is one send() call or a
 *   control message (SYN, SYN-ACK, refusal, FIN). Arrival times are
 *   non-decreasing along a queue, and at most one delivery event per queue
 *   is pending (for its head), so bytes never reorder within a connection
 *   and the event queue holds O(connections), not O(units).
 *
 *   Holds (stalls, partitions) are counters on the queues: a held queue
 *   keeps its units and schedules nothing; when the last hold goes, queued
 *   units due in the past are re-timed to "now" (in order) and delivery
 *   resumes. A reset (cut, crash) drops both queues and schedules the
 *   closed(FL_E_DISCONNECTED) notifications directly, ignoring holds.
 *
 *   An end is "done" once it got closed, called close(), or its process
 *   died; a done end's id leaves the id map (later calls on it see an
 *   unknown id) and its incoming queue is freed. The connection is freed
 *   when both ends are done and no callback into it is running (`busy`).
 *
 *   Slow syncs (sim.h): a node blocked in a slow sync sends nothing before
 *   its busy time (arrival_time starts from it), and every delivery or
 *   closed notification to a node is scheduled with sim_schedule_for_node,
 *   so the event queue holds it back until the node is free.
 *
 *   Every iteration (faults over connections, paths, listeners) is over
 *   arrays or lists in creation order, never over hash order; the id map is
 *   only used for lookups.
 */
#include "sim_net.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "util.h"

enum { U_DATA, U_SYN, U_SYNACK, U_REFUSE, U_FIN };

typedef struct unit {
    struct unit *next;
    uint64_t arrival;
    uint32_t len;
    uint8_t kind;
    uint8_t data[];
} unit;

typedef struct dirq {
    unit *head, *tail;
    uint64_t last_arrival;
    uint64_t bytes;
    sim_event_id ev; /* pending delivery of head */
    unsigned hold;
    unit *reorder_held; /* first unit of an armed swap */
    struct sim_conn *conn;
    int dir;
} dirq;

enum { EP_PENDING, EP_CONNECTING, EP_OPEN, EP_DONE };

typedef struct endpoint {
    fl_conn_id id;
    sim_node *node;
    const fl_conn_callbacks *cbs;
    void *arg;
    int state;
    int close_reason;
    sim_event_id close_ev; /* pending closed() notification after a reset */
    struct sim_conn *conn;
} endpoint;

typedef struct path path;

typedef struct sim_conn {
    sim_net *net;
    struct sim_conn *prev, *next;
    uint64_t serial;
    endpoint ep[2]; /* [0] client, [1] server */
    dirq dq[2];     /* [SIM_DIR_TO_SERVER] feeds ep[1], [SIM_DIR_TO_CLIENT] ep[0] */
    path *path;     /* NULL when the uri names no node */
    sim_node *server_node;
    bool reset;
    int busy;
    char uri[];
} sim_conn;

struct path {
    sim_node *client, *server;
    sim_link_params p[2];
    uint64_t tx_free[2];
    bool reorder_armed[2];
    sim_link_filter_fn filter;
    void *filter_arg;
};

typedef struct node_extra {
    sim_node *node;
    uint64_t latency, jitter;
} node_extra;

typedef struct listener {
    char *name;
    sim_node *node;
    sim_accept_fn accept;
    void *arg;
} listener;

enum { F_STALL, F_PARTITION, F_LATENCY };

typedef struct fault {
    struct fault *prev, *next;
    sim_net *net;
    int kind;
    sim_node *node;
    sim_event_id heal_ev;
    uint64_t *serials; /* connections held, ascending */
    size_t nserials;
    char **peers; /* partition */
    size_t npeers;
    uint64_t latency, jitter;
} fault;

/* id -> endpoint, open addressing with linear probing. */
typedef struct idmap {
    fl_conn_id *keys; /* 0 = empty */
    endpoint **vals;
    size_t cap, len;
} idmap;

struct sim_net {
    sim_ctx *ctx;
    sim_link_params def;
    sim_conn *conns_head, *conns_tail;
    size_t nconns;
    uint64_t next_serial;
    fl_conn_id next_id;
    uint64_t queued_bytes;
    idmap ids;
    path **paths;
    size_t npaths, paths_cap;
    node_extra *extras;
    size_t nextras, extras_cap;
    listener *listeners;
    size_t nlisteners, listeners_cap;
    fault *faults_head;
    bool no_trace_tx; /* sim_net_set_trace_tx(net, false) */
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void net_trace(sim_net *net, const sim_node *node, const char *src, const char *ev,
                      const char *fields)
{
    sim_trace(net->ctx, node ? sim_node_name(node) : NULL, src, ev, fields);
}

static void trace_conn(sim_net *net, const sim_node *node, const char *ev, fl_conn_id id)
{
    char f[48];
    snprintf(f, sizeof f, "\"conn\":%" PRIu64, id);
    net_trace(net, node, "net", ev, f);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ------------------------------------------------------------------ */
/* id map                                                               */

static size_t id_hash(fl_conn_id id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

static int idmap_put(idmap *m, fl_conn_id id, endpoint *ep)
{
    if ((m->len + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        fl_conn_id *k = calloc(cap, sizeof *k);
        endpoint **v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return FL_E_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = id_hash(m->keys[i], cap);
            while (k[j])
                j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = cap;
    }
    size_t j = id_hash(id, m->cap);
    while (m->keys[j])
        j = (j + 1) & (m->cap - 1);
    m->keys[j] = id;
    m->vals[j] = ep;
    m->len++;
    return 0;
}

static endpoint *idmap_get(const idmap *m, fl_conn_id id)
{
    if (!m->cap || !id)
        return NULL;
    for (size_t j = id_hash(id, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (m->keys[j] == id)
            return m->vals[j];
    return NULL;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void idmap_del(idmap *m, fl_conn_id id)
{
    if (!m->cap || !id)
        return;
    size_t mask = m->cap - 1, j = id_hash(id, m->cap);
    while (m->keys[j] && m->keys[j] != id)
        j = (j + 1) & mask;
    if (!m->keys[j])
        return;
    m->keys[j] = 0;
    m->len--;
    for (size_t i = (j + 1) & mask; m->keys[i]; i = (i + 1) & mask) {
        size_t home = id_hash(m->keys[i], m->cap);
        /* Move entry i into the hole at j if its home is not in (j, i]. */
        bool in_range = j <= i ? (home > j && home <= i) : (home > j || home <= i);
        if (in_range)
            continue;
        m->keys[j] = m->keys[i];
        m->vals[j] = m->vals[i];
        m->keys[i] = 0;
        j = i;
    }
}

/* ------------------------------------------------------------------ */
/* paths, extras, listeners                                             */

static path *path_find(sim_net *net, const sim_node *client, const sim_node *server)
{
    for (size_t i = 0; i < net->npaths; i++)
        if (net->paths[i]->client == client && net->paths[i]->server == server)
            return net->paths[i];
    return NULL;
}

static path *path_get(sim_net *net, sim_node *client, sim_node *server)
{
    path *p = path_find(net, client, server);
    if (p)
        return p;
    if (sim_grow((void **)&net->paths, &net->paths_cap, net->npaths + 1, sizeof *net->paths, 8))
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->client = client;
    p->server = server;
    p->p[0] = net->def;
    p->p[1] = net->def;
    net->paths[net->npaths++] = p;
    return p;
}

static node_extra *extra_find(sim_net *net, const sim_node *n)
{
    for (size_t i = 0; i < net->nextras; i++)
        if (net->extras[i].node == n)
            return &net->extras[i];
    return NULL;
}

static listener *listener_find(sim_net *net, const char *name)
{
    for (size_t i = 0; i < net->nlisteners; i++)
        if (strcmp(net->listeners[i].name, name) == 0)
            return &net->listeners[i];
    return NULL;
}

static void listener_remove_at(sim_net *net, size_t i)
{
    free(net->listeners[i].name);
    memmove(&net->listeners[i], &net->listeners[i + 1],
            (net->nlisteners - i - 1) * sizeof *net->listeners);
    net->nlisteners--;
}

int sim_listen(sim_node *node, const char *name, sim_accept_fn accept, void *arg)
{
    sim_net *net = sim_ctx_net(sim_node_ctx(node));
    if (!name || !name[0] || !accept)
        return FL_E_INVAL;
    if (!sim_node_alive(node))
        return FL_E_SHUTDOWN;
    if (listener_find(net, name))
        return FL_E_EXIST;
    if (sim_grow((void **)&net->listeners, &net->listeners_cap, net->nlisteners + 1,
                 sizeof *net->listeners, 8))
        return FL_E_NOMEM;
    char *copy = strdup(name);
    if (!copy)
        return FL_E_NOMEM;
    net->listeners[net->nlisteners++] = (listener){copy, node, accept, arg};
    return 0;
}

int sim_unlisten(sim_node *node, const char *name)
{
    sim_net *net = sim_ctx_net(sim_node_ctx(node));
    for (size_t i = 0; name && i < net->nlisteners; i++) {
        if (net->listeners[i].node == node && strcmp(net->listeners[i].name, name) == 0) {
            listener_remove_at(net, i);
            return 0;
        }
    }
    return FL_E_NOT_FOUND;
}

/* ------------------------------------------------------------------ */
/* queues                                                               */

static void deliver_ev(void *arg);

static void unit_free(sim_net *net, dirq *q, unit *u)
{
    q->bytes -= u->len;
    net->queued_bytes -= u->len;
    free(u);
}

static void dirq_clear(sim_net *net, dirq *q)
{
    sim_cancel(net->ctx, q->ev);
    q->ev = 0;
    unit *u = q->head;
    while (u) {
        unit *next = u->next;
        unit_free(net, q, u);
        u = next;
    }
    q->head = q->tail = NULL;
    if (q->reorder_held) {
        unit_free(net, q, q->reorder_held);
        q->reorder_held = NULL;
    }
}

/* The node whose code a unit on q runs (the receiving end), or NULL. */
static sim_node *dirq_receiver(const dirq *q)
{
    const sim_conn *c = q->conn;
    return q->dir == SIM_DIR_TO_SERVER ? c->server_node : c->ep[0].node;
}

static void dirq_arm(sim_net *net, dirq *q)
{
    if (q->ev || q->hold || !q->head)
        return;
    if (sim_schedule_for_node(net->ctx, dirq_receiver(q), q->head->arrival, deliver_ev, q, &q->ev))
        q->ev = 0; /* out of memory: the queue stalls; nothing better to do */
}

static unit *unit_new(sim_net *net, int kind, const void *buf, size_t len)
{
    unit *u = malloc(sizeof *u + len);
    if (!u)
        return NULL;
    u->next = NULL;
    u->arrival = 0;
    u->len = (uint32_t)len;
    u->kind = (uint8_t)kind;
    if (len)
        memcpy(u->data, buf, len);
    return u;
}

/* The arrival time of a unit of `len` bytes sent now on q (see sim_net.h). */
static uint64_t arrival_time(sim_net *net, sim_conn *c, dirq *q, size_t len)
{
    sim_ctx *ctx = net->ctx;
    /* Departure: now, or when the sender's slow syncs return. */
    const sim_node *sender = q->dir == SIM_DIR_TO_SERVER ? c->ep[0].node : c->server_node;
    uint64_t depart = sender ? sim_node_busy_until(sender) : sim_now(ctx);
    sim_link_params p = c->path ? c->path->p[q->dir] : net->def;
    uint64_t start = depart, ser = 0;
    if (c->path && p.bandwidth_bps) {
        uint64_t *tx = &c->path->tx_free[q->dir];
        start = *tx > depart ? *tx : depart;
        ser =
            (uint64_t)(((unsigned __int128)len * 1000000u + p.bandwidth_bps - 1) / p.bandwidth_bps);
        *tx = sat_add(start, ser);
    }
    uint64_t lat = p.latency_us, jit = p.jitter_us;
    const sim_node *ends[2] = {c->ep[0].node, c->server_node};
    for (int i = 0; i < 2; i++) {
        node_extra *x = ends[i] ? extra_find(net, ends[i]) : NULL;
        if (x) {
            lat = sat_add(lat, x->latency);
            jit = sat_add(jit, x->jitter);
        }
    }
    uint64_t t = sat_add(sat_add(start, ser), lat);
    if (jit)
        t = sat_add(t, sim_prng_range(sim_ctx_prng(ctx), 0, jit));
    if (t < q->last_arrival)
        t = q->last_arrival;
    q->last_arrival = t;
    return t;
}

static void dirq_push(sim_net *net, dirq *q, unit *u)
{
    u->arrival = arrival_time(net, q->conn, q, u->len);
    q->bytes += u->len;
    net->queued_bytes += u->len;
    if (q->tail)
        q->tail->next = u;
    else
        q->head = u;
    q->tail = u;
    dirq_arm(net, q);
}

static int push_control(sim_net *net, dirq *q, int kind)
{
    unit *u = unit_new(net, kind, NULL, 0);
    if (!u)
        return FL_E_NOMEM;
    dirq_push(net, q, u);
    return 0;
}

static void hold(dirq *q)
{
    q->hold++;
}

static void release(sim_net *net, dirq *q)
{
    if (!q->hold || --q->hold)
        return;
    uint64_t now = sim_now(net->ctx);
    for (unit *u = q->head; u; u = u->next)
        if (u->arrival < now)
            u->arrival = now;
    if (q->last_arrival < now)
        q->last_arrival = now;
    dirq_arm(net, q);
}

/* ------------------------------------------------------------------ */
/* connection lifetime                                                  */

static sim_conn *conn_new(sim_net *net, const char *uri)
{
    size_t ulen = strlen(uri);
    sim_conn *c = calloc(1, sizeof *c + ulen + 1);
    if (!c)
        return NULL;
    memcpy(c->uri, uri, ulen + 1);
    c->net = net;
    c->serial = ++net->next_serial;
    for (int d = 0; d < 2; d++) {
        c->dq[d].conn = c;
        c->dq[d].dir = d;
        c->ep[d].conn = c;
    }
    c->prev = net->conns_tail;
    if (net->conns_tail)
        net->conns_tail->next = c;
    else
        net->conns_head = c;
    net->conns_tail = c;
    net->nconns++;
    return c;
}

static void conn_free(sim_net *net, sim_conn *c)
{
    for (int d = 0; d < 2; d++)
        dirq_clear(net, &c->dq[d]);
    if (c->prev)
        c->prev->next = c->next;
    else
        net->conns_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        net->conns_tail = c->prev;
    net->nconns--;
    free(c);
}

static void maybe_free(sim_net *net, sim_conn *c)
{
    if (c->busy == 0 && c->ep[0].state == EP_DONE && c->ep[1].state == EP_DONE)
        conn_free(net, c);
}

/* The queue feeding end `side`. */
static dirq *incoming(sim_conn *c, int side)
{
    return &c->dq[side == 0 ? SIM_DIR_TO_CLIENT : SIM_DIR_TO_SERVER];
}

static dirq *outgoing(sim_conn *c, int side)
{
    return &c->dq[side == 0 ? SIM_DIR_TO_SERVER : SIM_DIR_TO_CLIENT];
}

/* End `side` is done: forget its id, drop what was coming to it. */
static void ep_done(sim_net *net, sim_conn *c, int side)
{
    endpoint *ep = &c->ep[side];
    if (ep->state == EP_DONE)
        return;
    ep->state = EP_DONE;
    idmap_del(&net->ids, ep->id);
    sim_cancel(net->ctx, ep->close_ev);
    ep->close_ev = 0;
    dirq_clear(net, incoming(c, side));
}

/* Run a callback of end `side` with the connection pinned. */
#define PINNED(c, call)                                                                            \
    do {                                                                                           \
        (c)->busy++;                                                                               \
        call;                                                                                      \
        (c)->busy--;                                                                               \
    } while (0)

static void notify_closed(sim_net *net, sim_conn *c, int side, int reason)
{
    endpoint *ep = &c->ep[side];
    const fl_conn_callbacks *cbs = ep->cbs;
    void *arg = ep->arg;
    fl_conn_id id = ep->id;
    char f[96];
    snprintf(f, sizeof f, "\"conn\":%" PRIu64 ",\"reason\":\"%s\"", id, fl_err_name(reason));
    net_trace(net, ep->node, "net", "closed", f);
    ep_done(net, c, side);
    if (cbs && cbs->closed)
        PINNED(c, cbs->closed(arg, id, reason));
    maybe_free(net, c);
}

static void close_ev(void *arg)
{
    endpoint *ep = arg;
    sim_conn *c = ep->conn;
    ep->close_ev = 0;
    notify_closed(c->net, c, ep == &c->ep[0] ? 0 : 1, ep->close_reason);
}

/* The base latency (with node extras) of a direction, for notifications. */
static uint64_t dir_latency(sim_net *net, sim_conn *c, int dir)
{
    uint64_t lat = c->path ? c->path->p[dir].latency_us : net->def.latency_us;
    const sim_node *ends[2] = {c->ep[0].node, c->server_node};
    for (int i = 0; i < 2; i++) {
        node_extra *x = ends[i] ? extra_find(net, ends[i]) : NULL;
        if (x)
            lat = sat_add(lat, x->latency);
    }
    return lat;
}

/* Reset the connection: data dropped, live ends told `reason` after the
 * latency towards them; `silent` ends (a dead process) are just done. */
static void conn_reset(sim_net *net, sim_conn *c, const sim_node *silent, int reason)
{
    c->reset = true;
    for (int d = 0; d < 2; d++)
        dirq_clear(net, &c->dq[d]);
    for (int side = 0; side < 2; side++) {
        endpoint *ep = &c->ep[side];
        if (ep->state == EP_DONE)
            continue;
        if (ep->state == EP_PENDING || ep->node == silent) {
            ep_done(net, c, side); /* SYN not arrived yet, or process gone */
            continue;
        }
        if (ep->close_ev)
            continue;
        ep->close_reason = reason;
        uint64_t lat = dir_latency(net, c, side == 0 ? SIM_DIR_TO_CLIENT : SIM_DIR_TO_SERVER);
        if (sim_schedule_for_node(net->ctx, ep->node, sat_add(sim_now(net->ctx), lat), close_ev, ep,
                                  &ep->close_ev))
            ep->close_ev = 0;
    }
}

/* ------------------------------------------------------------------ */
/* delivery                                                             */

static void accept_syn(sim_net *net, sim_conn *c)
{
    endpoint *sv = &c->ep[1];
    listener *l = listener_find(net, c->uri);
    sv->id = net->next_id + 1;
    if (!l || !sim_node_alive(l->node) || idmap_put(&net->ids, sv->id, sv)) {
        sv->id = 0;
        sv->state = EP_DONE;
        push_control(net, &c->dq[SIM_DIR_TO_CLIENT], U_REFUSE);
        return;
    }
    net->next_id++;
    sv->node = l->node;
    sv->state = EP_OPEN;
    /* The SYN-ACK goes first so the client sees opened before any byte the
     * server sends from inside accept. */
    push_control(net, &c->dq[SIM_DIR_TO_CLIENT], U_SYNACK);
    char f[160], esc[80];
    sim_json_escape(esc, sizeof esc, sim_node_name(c->ep[0].node));
    snprintf(f, sizeof f, "\"conn\":%" PRIu64 ",\"peer_conn\":%" PRIu64 ",\"from\":%s", sv->id,
             c->ep[0].id, esc);
    net_trace(net, sv->node, "net", "accept", f);
    const fl_conn_callbacks *cbs = NULL;
    void *cbarg = NULL;
    int rc;
    PINNED(c, rc = l->accept(l->arg, sv->id, sim_node_name(c->ep[0].node), &cbs, &cbarg));
    if (sv->state != EP_OPEN)
        return; /* closed from inside accept */
    if (rc < 0 || !cbs) {
        ep_done(net, c, 1);
        dirq_clear(net, &c->dq[SIM_DIR_TO_CLIENT]);
        c->dq[SIM_DIR_TO_CLIENT].last_arrival = 0;
        push_control(net, &c->dq[SIM_DIR_TO_CLIENT], U_REFUSE);
        return;
    }
    sv->cbs = cbs;
    sv->arg = cbarg;
}

static void deliver_unit(sim_net *net, sim_conn *c, int dir, unit *u)
{
    int side = dir == SIM_DIR_TO_SERVER ? 1 : 0;
    endpoint *ep = &c->ep[side];
    switch (u->kind) {
    case U_SYN:
        accept_syn(net, c);
        break;
    case U_SYNACK:
        if (ep->state != EP_CONNECTING)
            break;
        ep->state = EP_OPEN;
        trace_conn(net, ep->node, "opened", ep->id);
        if (ep->cbs->opened)
            PINNED(c, ep->cbs->opened(ep->arg, ep->id));
        break;
    case U_REFUSE:
        notify_closed(net, c, side, FL_E_REFUSED);
        break;
    case U_FIN:
        notify_closed(net, c, side, 0);
        break;
    default:
        if (ep->state == EP_OPEN && ep->cbs && ep->cbs->data)
            PINNED(c, ep->cbs->data(ep->arg, ep->id, u->data, u->len));
        break;
    }
}

static void deliver_ev(void *arg)
{
    dirq *q = arg;
    sim_conn *c = q->conn;
    sim_net *net = c->net;
    q->ev = 0;
    unit *u = q->head;
    if (!u || q->hold)
        return;
    q->head = u->next;
    if (!q->head)
        q->tail = NULL;
    dirq_arm(net, q);
    c->busy++;
    deliver_unit(net, c, q->dir, u);
    c->busy--;
    q->bytes -= u->len;
    net->queued_bytes -= u->len;
    free(u);
    maybe_free(net, c);
}

/* ------------------------------------------------------------------ */
/* partitions                                                           */

static bool name_in(const fault *f, const char *name)
{
    if (!name)
        return false;
    for (size_t i = 0; i < f->npeers; i++)
        if (strcmp(f->peers[i], name) == 0)
            return true;
    return false;
}

/* Does partition f separate a connection from `client` to uri/`server`? */
static bool partition_matches(const fault *f, const sim_node *client, const sim_node *server,
                              const char *uri)
{
    if (client == f->node)
        return f->npeers == 0 || name_in(f, uri) || (server && name_in(f, sim_node_name(server)));
    if (server && server == f->node)
        return f->npeers == 0 || name_in(f, sim_node_name(client));
    return false;
}

static bool partitioned(sim_net *net, const sim_node *client, const sim_node *server,
                        const char *uri)
{
    for (fault *f = net->faults_head; f; f = f->next)
        if (f->kind == F_PARTITION && partition_matches(f, client, server, uri))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* the runtime seam's connection calls                                  */

static sim_node *server_node_for(sim_net *net, const char *uri)
{
    listener *l = listener_find(net, uri);
    return l ? l->node : sim_node_find(net->ctx, uri);
}

int sim__net_connect(sim_net *net, sim_node *node, const char *uri, const fl_conn_callbacks *cbs,
                     void *arg, fl_conn_id *out)
{
    if (!uri || !uri[0] || !cbs || !cbs->closed || !out || strlen(uri) > 255)
        return FL_E_INVAL;
    sim_conn *c = conn_new(net, uri);
    if (!c)
        return FL_E_NOMEM;
    endpoint *cl = &c->ep[0];
    cl->id = net->next_id + 1;
    if (idmap_put(&net->ids, cl->id, cl)) {
        c->ep[0].state = c->ep[1].state = EP_DONE;
        conn_free(net, c);
        return FL_E_NOMEM;
    }
    net->next_id++;
    cl->node = node;
    cl->cbs = cbs;
    cl->arg = arg;
    cl->state = EP_CONNECTING;
    c->ep[1].state = EP_PENDING;
    c->server_node = server_node_for(net, uri);
    if (c->server_node && c->server_node != node)
        c->path = path_get(net, node, c->server_node);
    bool blackholed = partitioned(net, node, c->server_node, uri);
    char f[320], esc[280];
    sim_json_escape(esc, sizeof esc, uri);
    snprintf(f, sizeof f, "\"conn\":%" PRIu64 ",\"to\":%s%s", cl->id, esc,
             blackholed ? ",\"blackholed\":true" : "");
    net_trace(net, node, "net", "connect", f);
    if (!blackholed && push_control(net, &c->dq[SIM_DIR_TO_SERVER], U_SYN)) {
        ep_done(net, c, 0);
        c->ep[1].state = EP_DONE;
        conn_free(net, c);
        return FL_E_NOMEM;
    }
    *out = cl->id;
    return 0;
}

/* The end `id` of `node`, or NULL. */
static endpoint *own_end(sim_net *net, const sim_node *node, fl_conn_id id)
{
    endpoint *ep = idmap_get(&net->ids, id);
    return ep && ep->node == node ? ep : NULL;
}

/* Decimal digits of v at p (no NUL); returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    return p + sim_u64_digits(v, p);
}

/* One line per send unit, so formatted by hand rather than with snprintf
 * (the same bytes: "conn":<id>,"len":<len>). */
static void trace_tx(sim_net *net, const endpoint *ep, const char *ev, size_t len)
{
    char f[64], *p = f;
    memcpy(p, "\"conn\":", 7);
    p = put_u64(p + 7, ep->id);
    memcpy(p, ",\"len\":", 7);
    p = put_u64(p + 7, (uint64_t)len);
    *p = '\0';
    net_trace(net, ep->node, "net", ev, f);
}

int sim__net_send(sim_net *net, sim_node *node, fl_conn_id id, const void *buf, size_t len)
{
    endpoint *ep = own_end(net, node, id);
    if (!ep)
        return FL_E_DISCONNECTED;
    if (ep->state != EP_OPEN)
        return FL_E_STATE;
    if (len > UINT32_MAX || (len && !buf))
        return FL_E_INVAL;
    sim_conn *c = ep->conn;
    int side = ep == &c->ep[0] ? 0 : 1;
    if (len == 0 || c->reset || c->ep[!side].state == EP_DONE)
        return 0; /* nobody will read it: the bytes are lost on the wire */
    dirq *q = outgoing(c, side);
    int verdict = SIM_UNIT_PASS;
    if (c->path && c->path->filter)
        verdict = c->path->filter(c->path->filter_arg, (sim_dir)q->dir, buf, len);
    if (!net->no_trace_tx)
        trace_tx(net, ep, "tx", len);
    if (verdict == SIM_UNIT_DROP) {
        trace_tx(net, ep, "filter_drop", len);
        return 0;
    }
    unit *u = unit_new(net, U_DATA, buf, len);
    unit *dup = verdict == SIM_UNIT_DUPLICATE ? unit_new(net, U_DATA, buf, len) : NULL;
    if (!u || (verdict == SIM_UNIT_DUPLICATE && !dup)) {
        free(u);
        free(dup);
        return FL_E_NOMEM;
    }
    if (dup)
        trace_tx(net, ep, "filter_dup", len);
    if (c->path && c->path->reorder_armed[q->dir] && !q->reorder_held) {
        c->path->reorder_armed[q->dir] = false;
        q->reorder_held = u; /* waits for the next unit, then goes after it */
        q->bytes += u->len;
        net->queued_bytes += u->len;
        if (dup)
            dirq_push(net, q, dup);
        return 0;
    }
    dirq_push(net, q, u);
    if (dup)
        dirq_push(net, q, dup);
    if (q->reorder_held) {
        unit *held = q->reorder_held;
        q->reorder_held = NULL;
        q->bytes -= held->len;
        net->queued_bytes -= held->len;
        dirq_push(net, q, held);
    }
    return 0;
}

void sim__net_close(sim_net *net, sim_node *node, fl_conn_id id)
{
    endpoint *ep = own_end(net, node, id);
    if (!ep)
        return;
    sim_conn *c = ep->conn;
    int side = ep == &c->ep[0] ? 0 : 1;
    trace_conn(net, node, "close", id);
    ep_done(net, c, side);
    endpoint *peer = &c->ep[!side];
    dirq *q = outgoing(c, side);
    if (peer->state == EP_PENDING) {
        /* The SYN has not arrived: the connection never existed for the
         * server. */
        peer->state = EP_DONE;
    } else if (peer->state != EP_DONE && !c->reset) {
        if (q->reorder_held) {
            unit *held = q->reorder_held;
            q->reorder_held = NULL;
            q->bytes -= held->len;
            net->queued_bytes -= held->len;
            dirq_push(net, q, held);
        }
        if (push_control(net, q, U_FIN))
            conn_reset(net, c, NULL, FL_E_DISCONNECTED);
    }
    if (peer->state == EP_DONE)
        dirq_clear(net, q);
    maybe_free(net, c);
}

void sim__net_node_down(sim_net *net, sim_node *node)
{
    for (size_t i = net->nlisteners; i-- > 0;)
        if (net->listeners[i].node == node)
            listener_remove_at(net, i);
    sim_conn *c = net->conns_head;
    while (c) {
        sim_conn *next = c->next;
        bool mine = (c->ep[0].node == node && c->ep[0].state != EP_DONE) ||
                    (c->ep[1].node == node && c->ep[1].state != EP_DONE);
        if (mine) {
            conn_reset(net, c, node, FL_E_DISCONNECTED);
            maybe_free(net, c);
        }
        c = next;
    }
}

/* ------------------------------------------------------------------ */
/* lifetime                                                             */

sim_net *sim__net_new(sim_ctx *ctx)
{
    sim_net *net = calloc(1, sizeof *net);
    if (!net)
        return NULL;
    net->ctx = ctx;
    net->def = (sim_link_params)SIM_LINK_PARAMS_DEFAULT;
    return net;
}

void sim_net_set_trace_tx(sim_net *net, bool on)
{
    net->no_trace_tx = !on;
}

static void fault_free(fault *f)
{
    for (size_t i = 0; i < f->npeers; i++)
        free(f->peers[i]);
    free(f->peers);
    free(f->serials);
    free(f);
}

void sim__net_free(sim_net *net)
{
    if (!net)
        return;
    while (net->conns_head) {
        sim_conn *c = net->conns_head;
        c->ep[0].state = c->ep[1].state = EP_DONE;
        c->busy = 0;
        conn_free(net, c);
    }
    while (net->faults_head) {
        fault *f = net->faults_head;
        net->faults_head = f->next;
        fault_free(f);
    }
    for (size_t i = 0; i < net->npaths; i++)
        free(net->paths[i]);
    free(net->paths);
    for (size_t i = 0; i < net->nlisteners; i++)
        free(net->listeners[i].name);
    free(net->listeners);
    free(net->extras);
    free(net->ids.keys);
    free(net->ids.vals);
    free(net);
}

size_t sim_net_conn_count(const sim_net *net)
{
    return net->nconns;
}

uint64_t sim_net_queued_bytes(const sim_net *net)
{
    return net->queued_bytes;
}

/* ------------------------------------------------------------------ */
/* link configuration                                                   */

void sim_net_set_default(sim_net *net, const sim_link_params *p)
{
    if (p)
        net->def = *p;
}

static int find_nodes(sim_net *net, const char *client, const char *server, sim_node **c,
                      sim_node **s)
{
    *c = sim_node_find(net->ctx, client);
    *s = server ? sim_node_find(net->ctx, server) : NULL;
    if (!*c || (server && !*s))
        return FL_E_NOT_FOUND;
    return 0;
}

int sim_net_set_link(sim_net *net, const char *client, const char *server,
                     const sim_link_params *to_server, const sim_link_params *to_client)
{
    sim_node *cn, *sn;
    int rc = find_nodes(net, client, server, &cn, &sn);
    if (rc || !sn)
        return rc ? rc : FL_E_INVAL;
    path *p = path_get(net, cn, sn);
    if (!p)
        return FL_E_NOMEM;
    if (to_server)
        p->p[SIM_DIR_TO_SERVER] = *to_server;
    if (to_client)
        p->p[SIM_DIR_TO_CLIENT] = *to_client;
    return 0;
}

int sim_net_set_node_links(sim_net *net, const char *client, const sim_link_params *p)
{
    sim_node *cn = sim_node_find(net->ctx, client);
    if (!cn)
        return FL_E_NOT_FOUND;
    for (size_t i = 0; i < sim_node_count(net->ctx); i++) {
        sim_node *sn = sim_node_at(net->ctx, i);
        if (sn == cn)
            continue;
        int rc = sim_net_set_link(net, client, sim_node_name(sn), p, p);
        if (rc)
            return rc;
    }
    return 0;
}

int sim_net_get_link(sim_net *net, const char *client, const char *server, sim_dir dir,
                     sim_link_params *out)
{
    sim_node *cn, *sn;
    int rc = find_nodes(net, client, server, &cn, &sn);
    if (rc || !sn)
        return rc ? rc : FL_E_INVAL;
    if ((unsigned)dir > 1 || !out)
        return FL_E_INVAL;
    path *p = path_find(net, cn, sn);
    *out = p ? p->p[dir] : net->def;
    return 0;
}

int sim_net_set_filter(sim_net *net, const char *client, const char *server, sim_link_filter_fn fn,
                       void *arg)
{
    sim_node *cn, *sn;
    int rc = find_nodes(net, client, server, &cn, &sn);
    if (rc)
        return rc;
    for (size_t i = 0; i < sim_node_count(net->ctx); i++) {
        sim_node *n = sim_node_at(net->ctx, i);
        if (n == cn || (sn && n != sn))
            continue;
        path *p = path_get(net, cn, n);
        if (!p)
            return FL_E_NOMEM;
        p->filter = fn;
        p->filter_arg = arg;
    }
    char f[160], esc[80];
    sim_json_escape(esc, sizeof esc, server ? server : "*");
    snprintf(f, sizeof f, "\"server\":%s,\"on\":%s", esc, fn ? "true" : "false");
    net_trace(net, cn, "fault", "filter", f);
    return 0;
}

int sim_net_reorder_next(sim_net *net, const char *client, const char *server, sim_dir dir)
{
    sim_node *cn, *sn;
    int rc = find_nodes(net, client, server, &cn, &sn);
    if (rc || !sn)
        return rc ? rc : FL_E_INVAL;
    if ((unsigned)dir > 1)
        return FL_E_INVAL;
    path *p = path_get(net, cn, sn);
    if (!p)
        return FL_E_NOMEM;
    p->reorder_armed[dir] = true;
    char f[128], esc[80];
    sim_json_escape(esc, sizeof esc, server);
    snprintf(f, sizeof f, "\"server\":%s,\"dir\":\"%s\"", esc,
             dir == SIM_DIR_TO_SERVER ? "to_server" : "to_client");
    net_trace(net, cn, "fault", "reorder", f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* faults with a duration                                               */

static fault *fault_new(sim_net *net, int kind, sim_node *node)
{
    fault *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->net = net;
    f->kind = kind;
    f->node = node;
    return f;
}

static void fault_link(sim_net *net, fault *f)
{
    f->next = net->faults_head;
    if (f->next)
        f->next->prev = f;
    net->faults_head = f;
}

static void fault_unlink(sim_net *net, fault *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        net->faults_head = f->next;
    if (f->next)
        f->next->prev = f->prev;
}

static bool touches(const sim_conn *c, const sim_node *n)
{
    return (c->ep[0].node == n && c->ep[0].state != EP_DONE) ||
           (c->ep[1].node == n && c->ep[1].state != EP_DONE) ||
           (c->server_node == n && c->ep[1].state == EP_PENDING);
}

/* Hold both queues of every connection `pick` selects; remember them in f
 * (serials ascend because the list is in creation order). */
static int hold_conns(sim_net *net, fault *f, bool (*pick)(const fault *, const sim_conn *))
{
    size_t n = 0;
    for (sim_conn *c = net->conns_head; c; c = c->next)
        n += pick(f, c);
    f->serials = n ? malloc(n * sizeof *f->serials) : NULL;
    if (n && !f->serials)
        return FL_E_NOMEM;
    for (sim_conn *c = net->conns_head; c; c = c->next) {
        if (!pick(f, c))
            continue;
        f->serials[f->nserials++] = c->serial;
        hold(&c->dq[0]);
        hold(&c->dq[1]);
    }
    return 0;
}

static bool held_by(const fault *f, uint64_t serial)
{
    size_t lo = 0, hi = f->nserials;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->serials[mid] == serial)
            return true;
        if (f->serials[mid] < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void release_conns(sim_net *net, fault *f)
{
    for (sim_conn *c = net->conns_head; c; c = c->next) {
        if (!held_by(f, c->serial))
            continue;
        release(net, &c->dq[0]);
        release(net, &c->dq[1]);
    }
}

static void heal_ev(void *arg)
{
    fault *f = arg;
    sim_net *net = f->net;
    f->heal_ev = 0;
    const char *ev = "stall_heal";
    if (f->kind == F_PARTITION)
        ev = "partition_heal";
    if (f->kind == F_LATENCY) {
        ev = "latency_heal";
        node_extra *x = extra_find(net, f->node);
        if (x) {
            x->latency -= f->latency;
            x->jitter -= f->jitter;
        }
    }
    fault_unlink(net, f);
    release_conns(net, f);
    net_trace(net, f->node, "fault", ev, NULL);
    fault_free(f);
}

static int arm_heal(sim_net *net, fault *f, uint64_t duration_us)
{
    return sim_schedule(net->ctx, duration_us, heal_ev, f, &f->heal_ev);
}

static bool pick_stall(const fault *f, const sim_conn *c)
{
    return touches(c, f->node) && !c->reset;
}

int sim_net_stall(sim_net *net, const char *node, uint64_t duration_us)
{
    sim_node *n = sim_node_find(net->ctx, node);
    if (!n)
        return FL_E_NOT_FOUND;
    fault *f = fault_new(net, F_STALL, n);
    if (!f)
        return FL_E_NOMEM;
    int rc = hold_conns(net, f, pick_stall);
    if (!rc && duration_us)
        rc = arm_heal(net, f, duration_us);
    if (rc) {
        release_conns(net, f);
        fault_free(f);
        return rc;
    }
    char fs[64];
    snprintf(fs, sizeof fs, "\"for_us\":%" PRIu64 ",\"conns\":%zu", duration_us, f->nserials);
    net_trace(net, n, "fault", "stall", fs);
    if (duration_us)
        fault_link(net, f);
    else
        fault_free(f); /* held until the connections close */
    return 0;
}

int sim_net_cut(sim_net *net, const char *node)
{
    sim_node *n = sim_node_find(net->ctx, node);
    if (!n)
        return FL_E_NOT_FOUND;
    size_t count = 0;
    sim_conn *c = net->conns_head;
    while (c) {
        sim_conn *next = c->next;
        if (touches(c, n) && !c->reset) {
            count++;
            conn_reset(net, c, NULL, FL_E_DISCONNECTED);
            maybe_free(net, c);
        }
        c = next;
    }
    char fs[32];
    snprintf(fs, sizeof fs, "\"conns\":%zu", count);
    net_trace(net, n, "fault", "cut", fs);
    return 0;
}

static bool pick_partition(const fault *f, const sim_conn *c)
{
    if (c->reset || (c->ep[0].state == EP_DONE && c->ep[1].state == EP_DONE))
        return false;
    return partition_matches(f, c->ep[0].node, c->server_node, c->uri);
}

int sim_net_partition(sim_net *net, const char *node, const char *const *peers, size_t npeers,
                      uint64_t duration_us)
{
    sim_node *n = sim_node_find(net->ctx, node);
    if (!n)
        return FL_E_NOT_FOUND;
    if (duration_us == 0 || (npeers && !peers))
        return FL_E_INVAL;
    fault *f = fault_new(net, F_PARTITION, n);
    if (!f)
        return FL_E_NOMEM;
    f->peers = npeers ? calloc(npeers, sizeof *f->peers) : NULL;
    int rc = npeers && !f->peers ? FL_E_NOMEM : 0;
    for (size_t i = 0; !rc && i < npeers; i++) {
        f->peers[i] = strdup(peers[i] ? peers[i] : "");
        rc = f->peers[i] ? 0 : FL_E_NOMEM;
        f->npeers += !rc;
    }
    if (!rc)
        rc = hold_conns(net, f, pick_partition);
    if (!rc)
        rc = arm_heal(net, f, duration_us);
    if (rc) {
        release_conns(net, f);
        fault_free(f);
        return rc;
    }
    fault_link(net, f);
    char fs[80];
    snprintf(fs, sizeof fs, "\"for_us\":%" PRIu64 ",\"peers\":%zu,\"conns\":%zu", duration_us,
             npeers, f->nserials);
    net_trace(net, n, "fault", "partition", fs);
    return 0;
}

int sim_net_add_latency(sim_net *net, const char *node, uint64_t add_us, uint64_t jitter_us,
                        uint64_t duration_us)
{
    sim_node *n = sim_node_find(net->ctx, node);
    if (!n)
        return FL_E_NOT_FOUND;
    if (duration_us == 0)
        return FL_E_INVAL;
    node_extra *x = extra_find(net, n);
    if (!x) {
        if (sim_grow((void **)&net->extras, &net->extras_cap, net->nextras + 1, sizeof *net->extras,
                     8))
            return FL_E_NOMEM;
        x = &net->extras[net->nextras++];
        *x = (node_extra){n, 0, 0};
    }
    fault *f = fault_new(net, F_LATENCY, n);
    if (!f)
        return FL_E_NOMEM;
    f->latency = add_us;
    f->jitter = jitter_us;
    int rc = arm_heal(net, f, duration_us);
    if (rc) {
        fault_free(f);
        return rc;
    }
    x->latency += add_us;
    x->jitter += jitter_us;
    fault_link(net, f);
    char fs[96];
    snprintf(fs, sizeof fs, "\"add_us\":%" PRIu64 ",\"jitter_us\":%" PRIu64 ",\"for_us\":%" PRIu64,
             add_us, jitter_us, duration_us);
    net_trace(net, n, "fault", "latency", fs);
    return 0;
}
