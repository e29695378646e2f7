/* The simulated network: links between nodes and the network faults.
 *
 * A path joins a connecting node (the "client" side, which called connect)
 * and a listening node (the "server" side). Each direction of a path has a
 * latency, a jitter and an optional bandwidth. Every send() call is one unit
 * on the link; a unit sent at time t arrives at
 *
 *     start   = max(t, when the direction's transmitter is free)
 *     arrival = start + len / bandwidth + latency + extra latency
 *               + uniform[0, jitter + extra jitter]          (ctx PRNG)
 *     arrival = max(arrival, arrival of the previous unit of the connection
 *                            in that direction)
 *
 * so jitter never reorders bytes within a connection. Control units (SYN,
 * SYN-ACK, refusal, FIN) travel the same way, so a client always sees
 * opened before the server's first byte, and a peer sees an orderly close
 * (closed(0)) only after the bytes sent before it.
 *
 * Faults (each one call, each recorded in the history):
 *   - stall: black hole. Units are held (the connection looks open); with a
 *     duration the held units are released in order when it heals; without,
 *     the connection stays stalled until an end closes it.
 *   - cut: the node's connections are reset; queued data is dropped; both
 *     ends see closed(FL_E_DISCONNECTED) one latency later.
 *   - partition: a node is cut off from a set of peers for a duration.
 *     Connects between them never complete (no callback at all, as
 *     runtime.h allows; the caller's own timeout closes them) and existing
 *     connections are black-holed until it heals, then released in order.
 *   - latency: add latency and jitter to every path of a node for a duration.
 *   - filter: a per-path hook that passes, drops or duplicates each unit
 *     (e.g. drop persisted-ack frames).
 *   - reorder: the next two data units on a path direction (same
 *     connection) are delivered swapped.
 * Closed and cut connections free their queued data at once.
 *
 * Names: `client` and `server` below are node names; `server` set arguments
 * also match listener names (what clients pass to connect).
 */
#ifndef SIM_SIM_NET_H
#define SIM_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

/* Direction of a unit on a path. */
typedef enum sim_dir {
    SIM_DIR_TO_SERVER = 0, /* client -> server (connect side -> listen side) */
    SIM_DIR_TO_CLIENT = 1, /* server -> client */
} sim_dir;

/* Parameters of one direction of a link. */
typedef struct sim_link_params {
    uint64_t latency_us;
    uint64_t jitter_us;     /* extra delay drawn uniformly in [0, jitter] */
    uint64_t bandwidth_bps; /* bytes per second; 0 = unlimited */
} sim_link_params;

/* The default for paths nobody configured: 100us latency, no jitter, as in
 * scenario-format.md. */
#define SIM_LINK_PARAMS_DEFAULT                                                                    \
    {                                                                                              \
        100, 0, 0                                                                                  \
    }

typedef enum sim_unit_verdict {
    SIM_UNIT_PASS = 0,
    SIM_UNIT_DROP = 1,      /* the unit vanishes (the connection stays open) */
    SIM_UNIT_DUPLICATE = 2, /* the unit is delivered twice, back to back */
} sim_unit_verdict;

/* Called for every data unit sent on the path (at send time, from inside the
 * sender's send() call: it must not call into the runtime). `buf` is
 * borrowed. Returns a sim_unit_verdict. */
typedef int (*sim_link_filter_fn)(void *arg, sim_dir dir, const uint8_t *buf, size_t len);

/* Parameters used by paths that were never configured. */
void sim_net_set_default(sim_net *net, const sim_link_params *p);

/* Set both directions of the path client -> server (creating it).
 * to_server / to_client may be NULL to leave that direction. Applies to
 * units sent from now on. FL_E_NOT_FOUND if a node does not exist. */
int sim_net_set_link(sim_net *net, const char *client, const char *server,
                     const sim_link_params *to_server, const sim_link_params *to_client);

/* Set both directions of every path between `client` and any other node
 * (current nodes; paths to nodes created later use the default).
 * FL_E_NOT_FOUND. */
int sim_net_set_node_links(sim_net *net, const char *client, const sim_link_params *p);

/* Read back a path direction's parameters (the default when never set).
 * FL_E_NOT_FOUND. */
int sim_net_get_link(sim_net *net, const char *client, const char *server, sim_dir dir,
                     sim_link_params *out);

/* Stall every open connection of `node` (both directions). duration_us > 0
 * heals after that long; 0 stalls until the connection is closed.
 * FL_E_NOT_FOUND. */
int sim_net_stall(sim_net *net, const char *node, uint64_t duration_us);

/* Reset every connection of `node`: both ends see closed(FL_E_DISCONNECTED)
 * after the latency towards them. FL_E_NOT_FOUND. */
int sim_net_cut(sim_net *net, const char *node);

/* Partition `node` from the peers named in peers[0..npeers) (node or
 * listener names; npeers == 0: from everyone) for duration_us (> 0, else
 * FL_E_INVAL). FL_E_NOT_FOUND if `node` does not exist. */
int sim_net_partition(sim_net *net, const char *node, const char *const *peers, size_t npeers,
                      uint64_t duration_us);

/* Add latency and jitter to both directions of every path of `node` for
 * duration_us (> 0, else FL_E_INVAL). Overlapping additions sum.
 * FL_E_NOT_FOUND. */
int sim_net_add_latency(sim_net *net, const char *node, uint64_t add_us, uint64_t jitter_us,
                        uint64_t duration_us);

/* Install (fn non-NULL) or remove (fn NULL) the unit filter of the path
 * client -> server; server NULL: every path from client to the current
 * nodes. FL_E_NOT_FOUND. */
int sim_net_set_filter(sim_net *net, const char *client, const char *server, sim_link_filter_fn fn,
                       void *arg);

/* Swap the next two data units sent on the path in direction `dir` (both
 * on the same connection: the first is held until the second is sent, or
 * released in place if its connection closes first). FL_E_NOT_FOUND. */
int sim_net_reorder_next(sim_net *net, const char *client, const char *server, sim_dir dir);

/* Record a "tx" history event for every send unit (the default: true).
 * Benchmarks that measure the pipeline without per-message tracing turn it
 * off, as they do the broker's trace_messages; filter_drop / filter_dup and
 * every connection event are recorded either way. */
void sim_net_set_trace_tx(sim_net *net, bool on);

/* Number of connections alive in the network (any end not yet done), for
 * leak checks. */
size_t sim_net_conn_count(const sim_net *net);

/* Bytes of data currently queued on links (for leak checks and stats). */
uint64_t sim_net_queued_bytes(const sim_net *net);

/* --- internal to the simulation core (sim.c <-> sim_net.c) ---
 * The runtime seam's connection calls of a node forward here; `inc` is the
 * calling runtime's incarnation (sim.c has already checked it is current). */
sim_net *sim__net_new(sim_ctx *ctx);
void sim__net_free(sim_net *net);
int sim__net_connect(sim_net *net, sim_node *node, const char *uri, const fl_conn_callbacks *cbs,
                     void *arg, fl_conn_id *out);
int sim__net_send(sim_net *net, sim_node *node, fl_conn_id conn, const void *buf, size_t len);
void sim__net_close(sim_net *net, sim_node *node, fl_conn_id conn);
/* The node's process died: its ends go away silently, peers see
 * closed(FL_E_DISCONNECTED) after latency, its listeners are removed. */
void sim__net_node_down(sim_net *net, sim_node *node);

#endif
