/* The deterministic simulation core (sim.h): the context, the virtual clock,
 * the event queue, nodes and the simulation runtime seam.
 *
 * Design note: the event queue.
 *   Events live in a slot table (fn, arg, owner, generation) recycled through
 *   a free list; a binary min-heap of (time, insertion number, slot) orders
 *   them. An event id is (generation << 32 | slot + 1), so a stale id (fired
 *   or cancelled, slot reused) never matches. Each slot knows its heap
 *   position, so cancellation removes the entry at once: long runs that
 *   cancel most of their timers (heartbeats, timeouts) keep the heap at the
 *   size of what is really pending. The insertion number makes the order
 *   total, so two events due at the same time run in the order they were
 *   scheduled, whatever the heap's shape.
 *
 *   Timers started through a node's runtime carry the node incarnation as
 *   their owner: a crash drops exactly those (one O(n) filter + heapify; crashes
 *   are rare), and timer_cancel only cancels the caller's own timers.
 *
 * Design note: slow syncs (sim_disk_set_sync_latency).
 *   file_sync is a synchronous call, so a slow fsync blocks the whole
 *   single-threaded process. A sync with latency L makes its node busy until
 *   max(busy_until, now) + L (several syncs in one callback add up). The
 *   clock cannot move inside a callback, so the block is modelled around it:
 *     - every event that runs code of the node (its timers, and the network's
 *       deliveries and closed notifications to it) carries the node as its
 *       `gate`; when such an event reaches the top of the queue before the
 *       node's busy time, it is moved to the busy time instead of running
 *       (settle_top). The heap orders by (time, orig, seq) where `orig` is
 *       the time the event was first due, so deferred events keep their
 *       original order among themselves and ahead of anything first due at
 *       the busy time;
 *     - what the node does after the sync starts from its busy time: bytes
 *       it sends leave no earlier (sim_net.c) and timers it starts count
 *       from it.
 *   Other nodes are unaffected; a crash ends the block. Nothing here draws
 *   from the PRNG, so a run stays deterministic.
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "sim_disk.h"
#include "sim_net.h"

#define NO_POS       UINT32_MAX
#define NAME_MAX_LEN 63

typedef struct ev_slot {
    sim_event_fn fn;
    void *arg;
    const void *owner; /* the sim_incarnation of a node timer, else NULL */
    sim_node *gate;    /* node whose slow sync defers this event, or NULL */
    uint32_t gen;
    uint32_t pos; /* heap index, or the next free slot while free */
} ev_slot;

typedef struct heap_ent {
    uint64_t time;
    uint64_t orig; /* when first due: == time unless deferred by a slow sync */
    uint64_t seq;
    uint32_t slot;
} heap_ent;

/* One life of a node: the runtime handed to the application. */
typedef struct sim_incarnation {
    fl_runtime rt;
    sim_node *node;
    uint64_t inc;
    struct sim_incarnation *older;
} sim_incarnation;

struct sim_node {
    sim_ctx *ctx;
    char name[NAME_MAX_LEN + 1];
    bool alive;
    uint64_t inc;
    sim_incarnation *cur; /* newest incarnation (the dead one while down) */
    sim_disk *disk;
    uint64_t busy_until; /* blocked in a slow sync until then (0: never) */
};

struct sim_ctx {
    uint64_t now;       /* virtual us */
    uint64_t start_utc; /* UTC us of virtual zero */
    uint64_t jump_utc;  /* sum of clock jumps */
    uint64_t seq;
    uint64_t events_run;
    bool stop;

    heap_ent *heap;
    uint32_t nheap, heap_cap;
    ev_slot *slots;
    uint32_t nslots, free_slot;

    sim_prng prng;
    sim_history *history;
    sim_net *net;

    sim_node **nodes;
    size_t nnodes, nodes_cap;
};

/* ------------------------------------------------------------------ */
/* event queue                                                          */

static inline bool ent_less(const heap_ent *a, const heap_ent *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    if (a->orig != b->orig)
        return a->orig < b->orig;
    return a->seq < b->seq;
}

static inline void heap_set(sim_ctx *ctx, uint32_t i, heap_ent e)
{
    ctx->heap[i] = e;
    ctx->slots[e.slot].pos = i;
}

static void sift_up(sim_ctx *ctx, uint32_t i)
{
    heap_ent e = ctx->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!ent_less(&e, &ctx->heap[parent]))
            break;
        heap_set(ctx, i, ctx->heap[parent]);
        i = parent;
    }
    heap_set(ctx, i, e);
}

static void sift_down(sim_ctx *ctx, uint32_t i)
{
    heap_ent e = ctx->heap[i];
    uint32_t n = ctx->nheap;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ent_less(&ctx->heap[c + 1], &ctx->heap[c]))
            c++;
        if (!ent_less(&ctx->heap[c], &e))
            break;
        heap_set(ctx, i, ctx->heap[c]);
        i = c;
    }
    heap_set(ctx, i, e);
}

static void heap_remove_at(sim_ctx *ctx, uint32_t i)
{
    uint32_t last = --ctx->nheap;
    if (i == last)
        return;
    heap_set(ctx, i, ctx->heap[last]);
    if (i > 0 && ent_less(&ctx->heap[i], &ctx->heap[(i - 1) / 2]))
        sift_up(ctx, i);
    else
        sift_down(ctx, i);
}

static void slot_release(sim_ctx *ctx, uint32_t s)
{
    ev_slot *sl = &ctx->slots[s];
    sl->fn = NULL;
    sl->arg = NULL;
    sl->owner = NULL;
    sl->gate = NULL;
    sl->gen = sl->gen + 1 ? sl->gen + 1 : 1;
    sl->pos = ctx->free_slot;
    ctx->free_slot = s;
}

static int slot_alloc(sim_ctx *ctx, uint32_t *out)
{
    if (ctx->free_slot != NO_POS) {
        *out = ctx->free_slot;
        ctx->free_slot = ctx->slots[*out].pos;
        return 0;
    }
    if (ctx->nslots == NO_POS - 1)
        return FL_E_OVERFLOW;
    if (ctx->nslots == ctx->heap_cap) {
        uint32_t cap = ctx->heap_cap ? ctx->heap_cap * 2 : 256;
        if (cap >= NO_POS)
            cap = NO_POS - 1;
        ev_slot *sl = realloc(ctx->slots, (size_t)cap * sizeof *sl);
        if (!sl)
            return FL_E_NOMEM;
        ctx->slots = sl;
        heap_ent *h = realloc(ctx->heap, (size_t)cap * sizeof *h);
        if (!h)
            return FL_E_NOMEM;
        ctx->heap = h;
        ctx->heap_cap = cap;
    }
    *out = ctx->nslots++;
    ctx->slots[*out].gen = 1;
    return 0;
}

/* Queue fn(arg) at t (a past t runs now). A gated event due in the past
 * keeps t as its `orig`, so deliveries held back by a slow sync stay in
 * their original order; otherwise orig is the (clamped) due time. */
static int schedule_owned(sim_ctx *ctx, uint64_t t, sim_event_fn fn, void *arg, const void *owner,
                          sim_node *gate, sim_event_id *out)
{
    if (!fn)
        return FL_E_INVAL;
    uint32_t s;
    int rc = slot_alloc(ctx, &s);
    if (rc)
        return rc;
    ev_slot *sl = &ctx->slots[s];
    sl->fn = fn;
    sl->arg = arg;
    sl->owner = owner;
    sl->gate = gate;
    uint64_t due = t < ctx->now ? ctx->now : t;
    uint32_t i = ctx->nheap++;
    heap_set(ctx, i, (heap_ent){due, gate ? t : due, ctx->seq++, s});
    sift_up(ctx, i);
    if (out)
        *out = ((uint64_t)sl->gen << 32) | (uint64_t)(s + 1);
    return 0;
}

int sim_schedule_at(sim_ctx *ctx, uint64_t t_us, sim_event_fn fn, void *arg, sim_event_id *out)
{
    return schedule_owned(ctx, t_us, fn, arg, NULL, NULL, out);
}

int sim_schedule_for_node(sim_ctx *ctx, sim_node *node, uint64_t t_us, sim_event_fn fn, void *arg,
                          sim_event_id *out)
{
    return schedule_owned(ctx, t_us, fn, arg, NULL, node, out);
}

int sim_schedule(sim_ctx *ctx, uint64_t delay_us, sim_event_fn fn, void *arg, sim_event_id *out)
{
    if (delay_us > UINT64_MAX - ctx->now)
        return FL_E_OVERFLOW;
    return schedule_owned(ctx, ctx->now + delay_us, fn, arg, NULL, NULL, out);
}

/* The live slot for `id`, or NULL when the id is stale or invalid. */
static ev_slot *slot_of(sim_ctx *ctx, sim_event_id id, uint32_t *slot)
{
    uint64_t s1 = id & 0xffffffffu;
    if (s1 == 0 || s1 > ctx->nslots)
        return NULL;
    ev_slot *sl = &ctx->slots[s1 - 1];
    if (sl->gen != (uint32_t)(id >> 32) || !sl->fn)
        return NULL;
    *slot = (uint32_t)(s1 - 1);
    return sl;
}

static void cancel_owned(sim_ctx *ctx, sim_event_id id, const void *owner)
{
    uint32_t s;
    ev_slot *sl = slot_of(ctx, id, &s);
    if (!sl || sl->owner != owner)
        return;
    heap_remove_at(ctx, sl->pos);
    slot_release(ctx, s);
}

void sim_cancel(sim_ctx *ctx, sim_event_id id)
{
    uint32_t s;
    ev_slot *sl = slot_of(ctx, id, &s);
    if (!sl)
        return;
    heap_remove_at(ctx, sl->pos);
    slot_release(ctx, s);
}

/* Drop every pending event owned by `owner` (a crashed incarnation). */
static void cancel_all_owned(sim_ctx *ctx, const void *owner)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < ctx->nheap; i++) {
        heap_ent e = ctx->heap[i];
        if (ctx->slots[e.slot].owner == owner)
            slot_release(ctx, e.slot);
        else
            ctx->heap[j++] = e;
    }
    ctx->nheap = j;
    for (uint32_t i = 0; i < j; i++)
        ctx->slots[ctx->heap[i].slot].pos = i;
    for (uint32_t i = j / 2; i-- > 0;)
        sift_down(ctx, i);
}

size_t sim_pending(const sim_ctx *ctx)
{
    return ctx->nheap;
}

/* Move events whose node is blocked in a slow sync to its busy time until
 * the first event may run. Terminates: a moved event is due no earlier
 * than its node's busy time, and busy times only grow when events run. */
static void settle_top(sim_ctx *ctx)
{
    while (ctx->nheap) {
        heap_ent *e = &ctx->heap[0];
        const sim_node *g = ctx->slots[e->slot].gate;
        if (!g || g->busy_until <= e->time)
            return;
        e->time = g->busy_until;
        sift_down(ctx, 0);
    }
}

bool sim_next_time(const sim_ctx *ctx, uint64_t *t_us)
{
    /* Settling reorders nothing that will run, it only makes the top's time
     * the one it will run at; the context is never really const. */
    settle_top((sim_ctx *)ctx);
    if (!ctx->nheap)
        return false;
    if (t_us)
        *t_us = ctx->heap[0].time;
    return true;
}

/* Pop the first event and run it. The slot is freed before the call, so an
 * event cancelling its own id is a no-op and may schedule freely. */
static void run_top(sim_ctx *ctx)
{
    heap_ent top = ctx->heap[0];
    ev_slot *sl = &ctx->slots[top.slot];
    sim_event_fn fn = sl->fn;
    void *arg = sl->arg;
    heap_remove_at(ctx, 0);
    slot_release(ctx, top.slot);
    ctx->now = top.time;
    ctx->events_run++;
    fn(arg);
}

bool sim_step(sim_ctx *ctx)
{
    settle_top(ctx);
    if (!ctx->nheap)
        return false;
    run_top(ctx);
    return true;
}

uint64_t sim_run_until(sim_ctx *ctx, uint64_t t_us)
{
    uint64_t n = 0;
    ctx->stop = false;
    for (settle_top(ctx); ctx->nheap && ctx->heap[0].time <= t_us && !ctx->stop; settle_top(ctx)) {
        run_top(ctx);
        n++;
    }
    if (!ctx->stop && ctx->now < t_us)
        ctx->now = t_us;
    return n;
}

uint64_t sim_run_until_idle(sim_ctx *ctx, uint64_t max_events)
{
    uint64_t n = 0;
    ctx->stop = false;
    while (!ctx->stop && (max_events == 0 || n < max_events)) {
        settle_top(ctx);
        if (!ctx->nheap)
            break;
        run_top(ctx);
        n++;
    }
    return n;
}

void sim_stop(sim_ctx *ctx)
{
    ctx->stop = true;
}

uint64_t sim_events_run(const sim_ctx *ctx)
{
    return ctx->events_run;
}

/* ------------------------------------------------------------------ */
/* context                                                              */

sim_ctx *sim_ctx_new(const sim_ctx_options *opts)
{
    sim_ctx_options def = SIM_CTX_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    if (opts->version != SIM_CTX_OPTIONS_VERSION)
        return NULL;
    sim_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->start_utc = opts->start_utc_us;
    ctx->free_slot = NO_POS;
    sim_prng_seed(&ctx->prng, opts->seed);
    ctx->history = sim_history_new(opts->history_tail);
    ctx->net = ctx->history ? sim__net_new(ctx) : NULL;
    if (!ctx->net) {
        sim_history_free(ctx->history);
        free(ctx);
        return NULL;
    }
    return ctx;
}

static void node_free(sim_node *n)
{
    sim_incarnation *i = n->cur;
    while (i) {
        sim_incarnation *older = i->older;
        free(i);
        i = older;
    }
    sim_disk_free(n->disk);
    free(n);
}

void sim_ctx_free(sim_ctx *ctx)
{
    if (!ctx)
        return;
    sim__net_free(ctx->net);
    for (size_t i = 0; i < ctx->nnodes; i++)
        node_free(ctx->nodes[i]);
    free(ctx->nodes);
    free(ctx->heap);
    free(ctx->slots);
    sim_history_free(ctx->history);
    free(ctx);
}

uint64_t sim_now(const sim_ctx *ctx)
{
    return ctx->now;
}

uint64_t sim_now_utc(const sim_ctx *ctx)
{
    return ctx->start_utc + ctx->jump_utc + ctx->now;
}

void sim_clock_jump(sim_ctx *ctx, uint64_t by_us)
{
    ctx->jump_utc += by_us;
    char f[48];
    snprintf(f, sizeof f, "\"by_us\":%" PRIu64, by_us);
    sim_trace(ctx, NULL, "fault", "clock_jump", f);
}

sim_prng *sim_ctx_prng(sim_ctx *ctx)
{
    return &ctx->prng;
}

sim_history *sim_ctx_history(sim_ctx *ctx)
{
    return ctx->history;
}

sim_net *sim_ctx_net(sim_ctx *ctx)
{
    return ctx->net;
}

void sim_trace(sim_ctx *ctx, const char *node, const char *source, const char *event,
               const char *fields_json)
{
    sim_history_add(ctx->history, ctx->now, node, source, event, fields_json);
}

/* ------------------------------------------------------------------ */
/* the runtime seam                                                     */

/* The node behind a runtime `self` if that incarnation is the live one. */
static sim_node *live_node(void *self)
{
    sim_incarnation *in = self;
    sim_node *n = in->node;
    return n->alive && n->inc == in->inc ? n : NULL;
}

/* The node's own time: now, or when its pending slow syncs return. */
static uint64_t node_time(const sim_node *n)
{
    return n->busy_until > n->ctx->now ? n->busy_until : n->ctx->now;
}

/* The node is blocked in a sync for `us` more (after any earlier block). */
static void node_block(sim_node *n, uint64_t us)
{
    if (us == 0)
        return;
    uint64_t base = node_time(n);
    n->busy_until = us > UINT64_MAX - base ? UINT64_MAX : base + us;
    char f[64];
    snprintf(f, sizeof f, "\"us\":%" PRIu64 ",\"until_us\":%" PRIu64, us, n->busy_until);
    sim_trace(n->ctx, n->name, "sim", "sync_wait", f);
}

static uint64_t rt_now(void *self)
{
    sim_incarnation *in = self;
    return sim_now_utc(in->node->ctx);
}

static uint64_t rt_random(void *self)
{
    sim_incarnation *in = self;
    return sim_prng_next(&in->node->ctx->prng);
}

static int rt_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg,
                          fl_timer_id *out)
{
    sim_node *n = live_node(self);
    if (!n)
        return FL_E_SHUTDOWN;
    if (!fn || !out)
        return FL_E_INVAL;
    /* Started after a slow sync in this callback: counts from when the
     * sync returns. */
    uint64_t base = node_time(n);
    if (delay_us > UINT64_MAX - base)
        return FL_E_OVERFLOW;
    return schedule_owned(n->ctx, base + delay_us, fn, arg, self, n, out);
}

static void rt_timer_cancel(void *self, fl_timer_id id)
{
    sim_node *n = live_node(self);
    if (n)
        cancel_owned(n->ctx, id, self);
}

static int rt_connect(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                      fl_conn_id *out)
{
    sim_node *n = live_node(self);
    if (!n)
        return FL_E_SHUTDOWN;
    return sim__net_connect(n->ctx->net, n, uri, cbs, arg, out);
}

static int rt_send(void *self, fl_conn_id conn, const void *buf, size_t len)
{
    sim_node *n = live_node(self);
    if (!n)
        return FL_E_SHUTDOWN;
    return sim__net_send(n->ctx->net, n, conn, buf, len);
}

static void rt_close(void *self, fl_conn_id conn)
{
    sim_node *n = live_node(self);
    if (n)
        sim__net_close(n->ctx->net, n, conn);
}

static int rt_file_open(void *self, const char *path, int flags, fl_file **out)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_open(n->disk, path, flags, out) : FL_E_SHUTDOWN;
}

static int rt_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    sim_node *n = live_node(self);
    if (!n) {
        if (nread)
            *nread = 0;
        return FL_E_SHUTDOWN;
    }
    return sim_disk_file_read(n->disk, f, off, buf, len, nread);
}

static int rt_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_write(n->disk, f, off, buf, len) : FL_E_SHUTDOWN;
}

static int rt_file_sync(void *self, fl_file *f)
{
    sim_node *n = live_node(self);
    if (!n)
        return FL_E_SHUTDOWN;
    int rc = sim_disk_file_sync(n->disk, f);
    /* A sync that reached the device takes its time, failed or not; one
     * refused up front (bad or stale handle) returns at once. */
    if (rc == 0 || rc == FL_E_IO)
        node_block(n, sim_disk_sync_latency(n->disk));
    return rc;
}

static int rt_file_truncate(void *self, fl_file *f, uint64_t size)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_truncate(n->disk, f, size) : FL_E_SHUTDOWN;
}

static int rt_file_size(void *self, fl_file *f, uint64_t *size)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_size(n->disk, f, size) : FL_E_SHUTDOWN;
}

/* Closing is allowed from a dead incarnation: the disk made the handle
 * stale at the crash and this frees it, which is all a dead process's
 * teardown can usefully do. */
static void rt_file_close(void *self, fl_file *f)
{
    sim_incarnation *in = self;
    sim_disk_file_close(in->node->disk, f);
}

static int rt_file_unlink(void *self, const char *path)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_unlink(n->disk, path) : FL_E_SHUTDOWN;
}

static int rt_file_rename(void *self, const char *from, const char *to)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_file_rename(n->disk, from, to) : FL_E_SHUTDOWN;
}

static int rt_dir_create(void *self, const char *path)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_dir_create(n->disk, path) : FL_E_SHUTDOWN;
}

static int rt_dir_sync(void *self, const char *path)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_dir_sync(n->disk, path) : FL_E_SHUTDOWN;
}

static int rt_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    sim_node *n = live_node(self);
    return n ? sim_disk_dir_list(n->disk, path, fn, arg) : FL_E_SHUTDOWN;
}

static void rt_trace(void *self, const char *source, const char *event, const char *fields_json)
{
    sim_node *n = live_node(self);
    if (n)
        sim_trace(n->ctx, n->name, source, event, fields_json);
}

static const fl_runtime_ops sim_runtime_ops = {
    .version = FL_RUNTIME_OPS_VERSION,
    .name = "sim",
    .now = rt_now,
    .random = rt_random,
    .timer_start = rt_timer_start,
    .timer_cancel = rt_timer_cancel,
    .connect = rt_connect,
    .send = rt_send,
    .close = rt_close,
    .file_open = rt_file_open,
    .file_read = rt_file_read,
    .file_write = rt_file_write,
    .file_sync = rt_file_sync,
    .file_truncate = rt_file_truncate,
    .file_size = rt_file_size,
    .file_close = rt_file_close,
    .file_unlink = rt_file_unlink,
    .file_rename = rt_file_rename,
    .dir_create = rt_dir_create,
    .dir_sync = rt_dir_sync,
    .dir_list = rt_dir_list,
    .trace = rt_trace,
};

/* ------------------------------------------------------------------ */
/* nodes                                                                */

static int new_incarnation(sim_node *n)
{
    sim_incarnation *in = calloc(1, sizeof *in);
    if (!in)
        return FL_E_NOMEM;
    in->rt.ops = &sim_runtime_ops;
    in->rt.self = in;
    in->node = n;
    in->inc = n->inc;
    in->older = n->cur;
    n->cur = in;
    return 0;
}

static void node_trace(sim_node *n, const char *event)
{
    char f[48];
    snprintf(f, sizeof f, "\"incarnation\":%" PRIu64, n->inc);
    sim_trace(n->ctx, n->name, "sim", event, f);
}

int sim_node_new(sim_ctx *ctx, const char *name, sim_node **out)
{
    if (!name || !out)
        return FL_E_INVAL;
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN)
        return FL_E_INVAL;
    if (sim_node_find(ctx, name))
        return FL_E_EXIST;
    if (ctx->nnodes == ctx->nodes_cap) {
        size_t cap = ctx->nodes_cap ? ctx->nodes_cap * 2 : 8;
        sim_node **v = realloc(ctx->nodes, cap * sizeof *v);
        if (!v)
            return FL_E_NOMEM;
        ctx->nodes = v;
        ctx->nodes_cap = cap;
    }
    sim_node *n = calloc(1, sizeof *n);
    if (!n)
        return FL_E_NOMEM;
    n->ctx = ctx;
    memcpy(n->name, name, len + 1);
    n->alive = true;
    n->inc = 1;
    n->disk = sim_disk_new();
    if (!n->disk || new_incarnation(n)) {
        sim_disk_free(n->disk);
        free(n);
        return FL_E_NOMEM;
    }
    ctx->nodes[ctx->nnodes++] = n;
    node_trace(n, "node_create");
    *out = n;
    return 0;
}

sim_node *sim_node_find(const sim_ctx *ctx, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ctx->nnodes; i++)
        if (strcmp(ctx->nodes[i]->name, name) == 0)
            return ctx->nodes[i];
    return NULL;
}

size_t sim_node_count(const sim_ctx *ctx)
{
    return ctx->nnodes;
}

sim_node *sim_node_at(const sim_ctx *ctx, size_t i)
{
    return i < ctx->nnodes ? ctx->nodes[i] : NULL;
}

const char *sim_node_name(const sim_node *node)
{
    return node->name;
}

sim_ctx *sim_node_ctx(const sim_node *node)
{
    return node->ctx;
}

bool sim_node_alive(const sim_node *node)
{
    return node->alive;
}

uint64_t sim_node_incarnation(const sim_node *node)
{
    return node->inc;
}

const fl_runtime *sim_node_runtime(sim_node *node)
{
    return &node->cur->rt;
}

sim_disk *sim_node_disk(sim_node *node)
{
    return node->disk;
}

uint64_t sim_node_busy_until(const sim_node *node)
{
    return node->alive ? node_time(node) : node->ctx->now;
}

/* Everything a dying process loses, except the disk's fate. */
static void node_down(sim_node *n, const char *event)
{
    node_trace(n, event);
    n->alive = false;
    n->busy_until = 0; /* the blocked process is gone */
    cancel_all_owned(n->ctx, n->cur);
    sim__net_node_down(n->ctx->net, n);
    n->inc++;
}

void sim_node_crash(sim_node *node)
{
    if (!node->alive)
        return;
    node_down(node, "crash");
    sim_disk_crash(node->disk);
}

static uint64_t prng_rand(void *arg)
{
    return sim_prng_next(arg);
}

void sim_node_power_loss(sim_node *node)
{
    if (!node->alive)
        return;
    node_down(node, "power_loss");
    sim_disk_power_loss(node->disk, prng_rand, &node->ctx->prng);
}

int sim_node_restart(sim_node *node)
{
    if (node->alive)
        return 0;
    int rc = new_incarnation(node);
    if (rc)
        return rc;
    node->alive = true;
    node_trace(node, "restart");
    return 0;
}
