/* The simulated broker: one instance per call to sim_broker_new.
 *
 * An instance speaks the faultline wire protocol (faultline/wire.h) with
 * clients and with peer instances (replication), keeps a transaction log
 * (journal.h) for the topics configured as journaled, and implements the
 * AMPS-like semantics of DESIGN.md "Simulated broker": logon with optional
 * credentials and one connection per client name, publish dedupe by
 * (publisher id, sequence), conflated persisted acks carrying the highest
 * contiguous persisted sequence, live / bookmark / range subscriptions with
 * a gapless replay-to-live handover, expiry policies, retention, sync and
 * async replication, heartbeats, and recovery from its journal after a
 * crash or power loss.
 *
 * The instance uses ONLY the fl_runtime it is given (clock, timers,
 * connections, files, trace), so the same code could be served over real
 * TCP. In simulation the runner accepts connections for it with
 * sim_broker_listen_sim (or calls sim_broker_accept from its own
 * sim_accept_fn).
 *
 * The API is shaped like librdkafka's mock cluster: one call per thing the
 * runner needs (fault hooks, counters, an observer, ground truth).
 *
 * Semantics chosen where the anchors leave room (see broker.c's design
 * note for the rest):
 *   - entitlements: a client listed in `entitlements` may publish and
 *     subscribe only to its listed topics (not_entitled failure acks);
 *     clients not listed are unrestricted;
 *   - the logon ack carries the highest sequence of that client name whose
 *     message is durable (and sync-replicated); a republished message whose
 *     original is logged but not yet durable is absorbed (acked when the
 *     original is durable), only a sequence already durable is acked as a
 *     `duplicate` failure;
 *   - heartbeats are sent every min(`heartbeat`, the client's interval);
 *   - a failed journal sync is fatal for the journal handle, not for the
 *     instance: every session is closed, the journal is reopened (recovery
 *     with the configured mode; what was not durable may be gone, and it was
 *     never acked) and the instance goes on; while the reopen fails (a
 *     persistent I/O error) logons are refused with a failure ack, reason
 *     logon_refused and a text "journal unavailable: ...", and the reopen
 *     is retried every journal_retry_us. A failed append write (disk full,
 *     I/O error) is not acked, closes that session and refuses logons for
 *     journal_retry_us. Details in broker.c's design note.
 */
#ifndef SIM_BROKER_H
#define SIM_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_policy.h"
#include "faultline/record.h"
#include "faultline/runtime.h"
#include "journal.h"

typedef struct sim_broker sim_broker;
typedef struct sim_node sim_node;

typedef struct sim_broker_topic {
    const char *name;
    bool journal;
} sim_broker_topic;

typedef struct sim_broker_credential {
    const char *client;
    const char *password;
} sim_broker_credential;

typedef struct sim_broker_entitlement {
    const char *client;
    const char *const *topics;
    size_t ntopics;
} sim_broker_entitlement;

typedef struct sim_broker_replica {
    const char *broker; /* the peer's listener name (what connect() takes) */
    sim_repl_mode mode;
    uint64_t lag_us; /* async only */
} sim_broker_replica;

#define SIM_BROKER_CONFIG_VERSION 1
/* Every broker key of scenario-format.md, plus a few knobs of the model.
 * Strings and arrays are borrowed for sim_broker_new only (copied). */
typedef struct sim_broker_config {
    int version;                    /* SIM_BROKER_CONFIG_VERSION */
    const char *name;               /* instance name: trace, replication origin */
    const sim_broker_topic *topics; /* `topics` */
    size_t ntopics;
    uint64_t segment_size;                  /* `journal.segment_size` (64 MiB) */
    uint64_t segment_age_us;                /* `journal.segment_age` (1 h) */
    uint64_t retention_us;                  /* `journal.retention`; 0 = "none" */
    uint64_t sync_interval_us;              /* `journal.sync_interval` (0) */
    fl_recovery_mode recovery;              /* `journal.recovery` (point_in_time) */
    uint64_t ack_interval_us;               /* `ack_interval` (1 s) */
    uint64_t heartbeat_us;                  /* `heartbeat` (3 s) */
    sim_expired_policy expired_bookmark;    /* `expired_bookmark` (now) */
    const sim_broker_replica *replicate_to; /* `replicate_to` */
    size_t nreplicas;
    /* `credentials`: when has_credentials, every logon must name a listed
     * client with its password (auth_failed otherwise) */
    bool has_credentials;
    const sim_broker_credential *credentials;
    size_t ncredentials;
    sim_dup_logon duplicate_logon; /* `duplicate_logon` (refuse) */
    bool down;                     /* `down`: the runner's business; carried only */
    /* model knobs */
    const sim_broker_entitlement *entitlements;
    size_t nentitlements;
    const char *journal_dir;    /* directory on the node's disk ("journal") */
    uint32_t replay_batch;      /* messages delivered per replay turn (4096) */
    uint32_t max_frame;         /* largest accepted frame (0: wire default) */
    bool trace_messages;        /* trace every publish/delivery (true) */
    uint64_t retry_interval_us; /* replication reconnect delay (1 s) */
    uint64_t journal_retry_us;  /* journal reopen retry; logons refused after a write error (1 s) */
} sim_broker_config;

#define SIM_BROKER_CONFIG_INIT                                                                     \
    {                                                                                              \
        SIM_BROKER_CONFIG_VERSION, "broker", NULL, 0, 64ull << 20, 3600000000ull, 0, 0,            \
            FL_RECOVERY_POINT_IN_TIME, 1000000, 3000000, SIM_EXPIRED_NOW, NULL, 0, false, NULL, 0, \
            SIM_DUP_LOGON_REFUSE, false, NULL, 0, "journal", 4096, 0, true, 1000000, 1000000       \
    }

/* Counters (monotonic over the instance's life). */
typedef struct sim_broker_counters {
    uint64_t logons;
    uint64_t logons_refused;
    uint64_t publishes;      /* publish frames accepted (logged, live-only or dup) */
    uint64_t journal_writes; /* messages appended */
    uint64_t duplicates;     /* duplicate publishes (failure-acked or absorbed) */
    uint64_t not_entitled;
    uint64_t persisted_acks; /* persisted acks sent to publishers */
    uint64_t bookmark_acks;  /* persisted acks sent to bookmark subscribers */
    uint64_t deliveries;
    uint64_t completed;      /* completed acks */
    uint64_t acks_dropped;   /* by the drop_acks fault */
    uint64_t replicated_out; /* replicate frames sent */
    uint64_t replicated_in;  /* replicate frames logged */
    uint64_t retention_removed;
    uint64_t sessions_closed_silent;  /* heartbeat rule */
    uint64_t journal_failures;        /* failed syncs that poisoned the journal */
    uint64_t journal_reopens;         /* successful reopens after one */
    uint64_t journal_reopen_failures; /* reopen attempts that failed */
    uint64_t journal_write_errors;    /* appends refused with NOSPC / IO */
} sim_broker_counters;

/* Events for the trigger engine. `client` is the client name (or the
 * peer's name for replication; NULL for journal events). */
typedef enum sim_broker_event {
    SIM_BROKER_EV_JOURNAL_WRITE = 1,
    SIM_BROKER_EV_JOURNAL_SYNC,
    SIM_BROKER_EV_PERSISTED_ACK, /* value: the acked sequence */
    SIM_BROKER_EV_DELIVERY,      /* value: the message's sequence */
    SIM_BROKER_EV_LOGON,
    SIM_BROKER_EV_REPLICATION, /* value: the origin record number replicated */
} sim_broker_event;

typedef void (*sim_broker_observer_fn)(void *arg, sim_broker_event ev, const char *client,
                                       uint64_t value);

/* Create an instance on `rt` and recover its journal (config->recovery).
 * Everything recovery dropped is traced. FL_E_DAMAGED when the mode refuses
 * the damage, FL_E_INVAL for a bad config; err (may be NULL) says why. The
 * instance starts its replication links at once (they retry while the peer
 * is unreachable). */
int sim_broker_new(const fl_runtime *rt, const sim_broker_config *config, sim_broker **out,
                   char *err, size_t errcap);

/* Orderly shutdown: close every session and link, sync and close the
 * journal, free. NULL is a no-op. */
void sim_broker_free(sim_broker *b);

/* Free the memory of an instance whose node crashed or lost power, without
 * any seam call that matters (the runtime is dead: the simulation makes
 * every call through it a no-op). NULL is a no-op. */
void sim_broker_abandon(sim_broker *b);

/* Accept a connection (shape of sim_accept_fn, with the broker as `arg`). */
int sim_broker_accept(void *broker, fl_conn_id conn, const char *peer_name,
                      const fl_conn_callbacks **cbs, void **cbs_arg);

/* sim_listen(node, name, sim_broker_accept, b). */
int sim_broker_listen_sim(sim_broker *b, sim_node *node, const char *name);

/* Add (or change) a replication target at run time. */
int sim_broker_set_replica(sim_broker *b, const char *peer, sim_repl_mode mode, uint64_t lag_us);

/* Fault: drop acks of `ack_type` (FL_ACK_PERSISTED, FL_ACK_LOGON,
 * FL_ACK_COMPLETED) to client `client`: the next `count` of them (count >
 * 0), or every one for `duration_us` from now (count 0). Survives the
 * client's reconnects. FL_E_INVAL, FL_E_NOMEM. */
int sim_broker_drop_acks(sim_broker *b, const char *client, int ack_type, uint32_t count,
                         uint64_t duration_us);

/* Fault: close the session of `client` (it sees its connection drop).
 * FL_E_NOT_FOUND if it has none. */
int sim_broker_cut_client(sim_broker *b, const char *client);

/* Run retention now (it also runs on a timer and before each subscribe). */
int sim_broker_run_retention(sim_broker *b);

/* Read-only access. */
const sim_journal *sim_broker_journal(const sim_broker *b);
void sim_broker_get_counters(const sim_broker *b, sim_broker_counters *out);
/* Install (fn non-NULL) or remove the observer. */
void sim_broker_set_observer(sim_broker *b, sim_broker_observer_fn fn, void *arg);
/* Whether a client name has a session now. */
bool sim_broker_has_session(const sim_broker *b, const char *client);
const char *sim_broker_name(const sim_broker *b);

#endif
