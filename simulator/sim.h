/* The deterministic simulation core: context, virtual clock, event queue,
 * nodes and the simulation implementation of the runtime seam.
 *
 * A sim_ctx owns one virtual clock (microseconds since virtual zero), one
 * event queue, one seeded PRNG (prng.h), one history recorder (history.h) and
 * one network (sim_net.h). Everything runs single-threaded from the event
 * loop: sim_step / sim_run_until / sim_run_until_idle pop events in order of
 * (time, insertion number), so events due at the same instant run in the
 * order they were scheduled.
 *
 * Nodes. A sim_node is one process: a client application or a broker
 * instance, created by name. Each node has
 *   - its own fl_runtime (sim_node_runtime) whose calls are attributed to the
 *     node: timers, connections, files (its private sim_disk namespace) and
 *     trace (history lines carry the node name);
 *   - an incarnation counter, bumped by every crash. A runtime handle belongs
 *     to one incarnation: after the node crashes, every call through the old
 *     handle is a harmless no-op (timer_start/connect/send/file ops return
 *     FL_E_SHUTDOWN, timer_cancel/close/file_close do nothing), so a dead
 *     application's teardown may still call into it safely.
 * sim_node_crash (process dies: timers cancelled, connections cut so the
 * peers see closed(FL_E_DISCONNECTED) after link latency, listeners removed,
 * disk keeps volatile data: sim_disk_crash) and sim_node_power_loss (same,
 * and the disk loses unsynced data: sim_disk_power_loss). sim_node_restart
 * brings the node back with a new incarnation; the runner then recreates the
 * application on sim_node_runtime(node).
 *
 * Runtime contracts (faultline/runtime.h) honoured here: callbacks never run
 * inside a seam call (everything is delivered from the event loop); if a
 * call fails its callback never runs; closed runs at most once, is the last
 * callback of a connection and never runs after the caller's own close();
 * timers due at the same time run in start order; now() never goes back.
 *
 * Listening. A broker node calls sim_listen(node, name, accept, arg). A
 * client's connect(uri) sends a SYN over the link; when it arrives the
 * listener named `uri` is looked up: none, or its node down, or accept
 * refusing => the client sees closed(FL_E_REFUSED) one link latency later.
 * Otherwise accept() returns the server-side callbacks; the server side
 * has no `opened` callback (accept is its opened) and sends/closes with
 * its own node runtime's send(conn)/close(conn). The client sees opened one
 * latency later, before any byte the server sent.
 *
 * Slow syncs. When the node's disk has a sync latency L
 * (sim_disk_set_sync_latency), every file_sync through the node's runtime
 * blocks the node, as a slow fsync blocks a single-threaded process: the
 * node is busy until max(busy time, now) + L (syncs add up) and nothing of
 * it runs before then. Its timers that come due and the network's
 * deliveries and closed notifications to it wait for the busy time and then
 * run in their original order; what it does after the sync in the same
 * callback starts from the busy time (bytes sent leave then, timers started
 * count from then). The virtual clock, now() included, does not move inside
 * a callback. Recorded ("sync_wait"). A sync refused at once (stale or bad
 * handle) does not block; one failing with FL_E_IO does. A crash ends the
 * block. Other nodes are unaffected.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"
#include "history.h"
#include "prng.h"

typedef struct sim_ctx sim_ctx;
typedef struct sim_node sim_node;
typedef struct sim_net sim_net;
typedef struct sim_disk sim_disk;

typedef uint64_t sim_event_id; /* 0 is never a valid id */
typedef void (*sim_event_fn)(void *arg);

/* Context options. */
typedef struct sim_ctx_options {
    int version;           /* SIM_CTX_OPTIONS_VERSION */
    uint64_t seed;         /* PRNG seed */
    uint64_t start_utc_us; /* the UTC time virtual zero stands for */
    size_t history_tail;   /* history lines kept in memory for reports */
} sim_ctx_options;

#define SIM_CTX_OPTIONS_VERSION 1
/* Default start: 2020-01-01T00:00:00Z, as in scenario-format.md. */
#define SIM_DEFAULT_START_UTC_US 1577836800000000ULL
#define SIM_CTX_OPTIONS_INIT                                                                       \
    {                                                                                              \
        SIM_CTX_OPTIONS_VERSION, 1, SIM_DEFAULT_START_UTC_US, 256                                  \
    }

/* --- context --- */

/* New context. opts NULL means SIM_CTX_OPTIONS_INIT. NULL on out of memory
 * or an unknown options version. */
sim_ctx *sim_ctx_new(const sim_ctx_options *opts);

/* Free the context with every node, connection, pending event and disk.
 * No callback runs. NULL is a no-op. */
void sim_ctx_free(sim_ctx *ctx);

/* Virtual time, microseconds since virtual zero. */
uint64_t sim_now(const sim_ctx *ctx);

/* The runtime seam's clock: start_utc_us + virtual time + any clock jump. */
uint64_t sim_now_utc(const sim_ctx *ctx);

/* Jump the UTC clock forward by `by_us` (the advance_clock fault): now()
 * seen through the seam and the history's UTC both move; pending timers are
 * not affected (they are relative, like a monotonic clock). Recorded. */
void sim_clock_jump(sim_ctx *ctx, uint64_t by_us);

sim_prng *sim_ctx_prng(sim_ctx *ctx);
sim_history *sim_ctx_history(sim_ctx *ctx);
sim_net *sim_ctx_net(sim_ctx *ctx);

/* Record a simulator-level history event at the current virtual time
 * (node may be NULL for ""). */
void sim_trace(sim_ctx *ctx, const char *node, const char *source, const char *event,
               const char *fields_json);

/* --- event queue --- */

/* Run fn(arg) at now + delay_us (after every event already due at that
 * time). *out (optional) receives the id. FL_E_NOMEM, FL_E_OVERFLOW. */
int sim_schedule(sim_ctx *ctx, uint64_t delay_us, sim_event_fn fn, void *arg, sim_event_id *out);

/* Same at an absolute virtual time (t < now is treated as now). */
int sim_schedule_at(sim_ctx *ctx, uint64_t t_us, sim_event_fn fn, void *arg, sim_event_id *out);

/* Same as sim_schedule_at for an event that runs code of `node` (NULL:
 * none): while the node is blocked in a slow sync it waits for the busy
 * time, ordered by when it was first due among the node's deferred events.
 * A t_us in the past runs now, ahead of events first due later than t_us.
 * The event is not tied to an incarnation: a crash does not cancel it. */
int sim_schedule_for_node(sim_ctx *ctx, sim_node *node, uint64_t t_us, sim_event_fn fn, void *arg,
                          sim_event_id *out);

/* Cancel a pending event; no-op for an id that fired, was cancelled or is
 * 0. The slot is reclaimed at once (no lazy garbage). */
void sim_cancel(sim_ctx *ctx, sim_event_id id);

/* Number of pending events. */
size_t sim_pending(const sim_ctx *ctx);

/* Time of the next pending event; false when the queue is empty. */
bool sim_next_time(const sim_ctx *ctx, uint64_t *t_us);

/* Run the next event (advancing the clock to its time). Returns true if one
 * ran, false if the queue was empty. */
bool sim_step(sim_ctx *ctx);

/* Run every event due at or before t_us, then set the clock to t_us (if it
 * is later). Stops early after sim_stop(). Returns the number of events
 * run. */
uint64_t sim_run_until(sim_ctx *ctx, uint64_t t_us);

/* Run until the queue is empty, sim_stop() is called or max_events ran
 * (0: no limit). Returns the number of events run. */
uint64_t sim_run_until_idle(sim_ctx *ctx, uint64_t max_events);

/* Ask the running loop to return after the current event. The flag is
 * cleared when the next run starts. */
void sim_stop(sim_ctx *ctx);

/* Total events run since the context was created. */
uint64_t sim_events_run(const sim_ctx *ctx);

/* --- nodes --- */

/* Create a node (alive, incarnation 1, empty disk). Names are unique
 * (FL_E_EXIST), 1..63 bytes (FL_E_INVAL). The context owns the node. */
int sim_node_new(sim_ctx *ctx, const char *name, sim_node **out);

/* The node named `name`, or NULL. */
sim_node *sim_node_find(const sim_ctx *ctx, const char *name);

const char *sim_node_name(const sim_node *node);
sim_ctx *sim_node_ctx(const sim_node *node);
bool sim_node_alive(const sim_node *node);
uint64_t sim_node_incarnation(const sim_node *node);

/* The runtime of the node's current incarnation. The pointer stays valid
 * until sim_ctx_free; once the node crashes, calls through it are no-ops. */
const fl_runtime *sim_node_runtime(sim_node *node);

/* The node's disk (survives crashes; the runner corrupts files through it). */
sim_disk *sim_node_disk(sim_node *node);

/* When the node's slow syncs return (see "Slow syncs" above): a time after
 * now while it is blocked, else now (also while the node is down). */
uint64_t sim_node_busy_until(const sim_node *node);

/* Process crash: cancel the node's timers, cut its connections (peers see
 * closed(FL_E_DISCONNECTED) after latency, the node itself gets no
 * callback), remove its listeners, sim_disk_crash. Bumps the incarnation.
 * No-op if already down. Recorded ("crash"). */
void sim_node_crash(sim_node *node);

/* Power loss: as sim_node_crash, but the disk loses what was not durable
 * and may tear the last write (sim_disk_power_loss with the ctx PRNG).
 * Recorded ("power_loss"). */
void sim_node_power_loss(sim_node *node);

/* Bring a crashed node back (its new incarnation's runtime is
 * sim_node_runtime). 0 (also if already alive) or FL_E_NOMEM (the node stays
 * down). Recorded ("restart"). */
int sim_node_restart(sim_node *node);

/* Number of nodes and the i-th in creation order (NULL if out of range). */
size_t sim_node_count(const sim_ctx *ctx);
sim_node *sim_node_at(const sim_ctx *ctx, size_t i);

/* --- listening --- */

/* Called (from the event loop) when a client's SYN reaches a listener.
 * `conn` is the server side's id; `client_node` the connecting node's name.
 * Return 0 and set *cbs (data and closed are used; opened is not) and
 * *cbs_arg to accept, or a negative code to refuse (the client sees
 * closed(FL_E_REFUSED)). */
typedef int (*sim_accept_fn)(void *arg, fl_conn_id conn, const char *client_node,
                             const fl_conn_callbacks **cbs, void **cbs_arg);

/* Listen under `name` (what clients pass to connect). FL_E_EXIST if the name
 * is taken by a live listener, FL_E_SHUTDOWN if the node is down. A crash
 * removes the node's listeners. */
int sim_listen(sim_node *node, const char *name, sim_accept_fn accept, void *arg);

/* Stop listening under `name` (existing connections stay). FL_E_NOT_FOUND. */
int sim_unlisten(sim_node *node, const char *name);

#endif
