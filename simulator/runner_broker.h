/* The runner's glue to the simulated broker (broker.h), in a translation
 * unit of its own so that the broker's configuration types and the
 * scenario's (scenario.h) never meet: the runner describes an instance with
 * plain values and names (rn_broker_spec) and holds the instance as an
 * opaque pointer. Internal to the runner.
 */
#ifndef SIM_RUNNER_BROKER_H
#define SIM_RUNNER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"
#include "sim.h"

/* One replication target. */
typedef struct rn_broker_replica {
    const char *peer; /* the peer instance's name */
    bool sync;
    uint64_t lag_us;
} rn_broker_replica;

/* One broker instance, described with plain values; enums by their
 * scenario-format names. Everything is borrowed for rn_broker_new. */
typedef struct rn_broker_spec {
    const char *name;
    const char *const *topics; /* topic names */
    const bool *journaled;     /* per topic */
    size_t ntopics;
    uint64_t segment_size;
    uint64_t segment_age_us;
    uint64_t retention_us; /* 0: none */
    uint64_t sync_interval_us;
    const char *recovery; /* "strict", "tolerate_torn_tail", "point_in_time", "salvage" */
    uint64_t ack_interval_us;
    uint64_t heartbeat_us;
    const char *expired_bookmark; /* "error", "now", "oldest" */
    const rn_broker_replica *replicas;
    size_t nreplicas;
    bool has_credentials;
    const char *const *cred_clients;
    const char *const *cred_passwords;
    size_t ncredentials;
    bool duplicate_logon_replace;
    const char *journal_dir;
} rn_broker_spec;

/* Broker events for the trigger engine. */
enum {
    RN_BEV_JOURNAL_WRITE = 1,
    RN_BEV_JOURNAL_SYNC,
    RN_BEV_PERSISTED_ACK,
    RN_BEV_DELIVERY,
    RN_BEV_LOGON,
    RN_BEV_REPLICATION,
};

typedef void (*rn_broker_event_fn)(void *arg, int ev, const char *client, uint64_t value);

/* Create the instance on the node's current runtime (recovering its
 * journal), listen under spec->name and install the observer. 0 or a code
 * of sim_broker_new / sim_listen (detail in err). */
int rn_broker_new(sim_node *node, const rn_broker_spec *spec, rn_broker_event_fn fn, void *arg,
                  void **out, char *err, size_t errcap);

/* Free after a crash (no teardown logic) / in an orderly way. NULL no-op. */
void rn_broker_abandon(void *b);
void rn_broker_free(void *b);

/* Apply retention now (after a clock jump). */
void rn_broker_run_retention(void *b);

/* One journaled message as the runner sees it (borrowed for the call). */
typedef struct rn_journaled {
    const char *topic; /* NUL-terminated (cut at 1023 bytes) */
    uint64_t publisher;
    uint64_t seq;
    int64_t ts_us; /* the broker's receipt time (the origin's for a replica) */
    uint64_t recno;
    const uint8_t *payload;
    size_t payload_len;
} rn_journaled;

typedef void (*rn_truth_fn)(void *arg, const rn_journaled *m);

/* Ground truth: every surviving message of the journal. */
void rn_broker_ground_truth(void *b, rn_truth_fn fn, void *arg);

/* Call fn with every message the instance journals from now on (published
 * to it or replicated in), right after the append. NULL fn: stop. */
void rn_broker_on_journaled(void *b, rn_truth_fn fn, void *arg);

/* Messages of `publisher` that retention removed: sequences up to the
 * returned one that the journal no longer holds (0: none removed). */
uint64_t rn_broker_highest_expired(void *b, uint64_t publisher);
bool rn_broker_holds(void *b, uint64_t publisher, uint64_t seq);

#endif
