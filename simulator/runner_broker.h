/* The runner's glue to the simulated broker (broker.h): a scenario's broker
 * (scenario.h) as the broker's configuration, and thin wrappers for the
 * calls the runner makes on an instance, which it holds as an opaque
 * pointer. Internal to the runner (and `faultline serve`, which reads its
 * config file with the scenario loader).
 */
#ifndef SIM_RUNNER_BROKER_H
#define SIM_RUNNER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "faultline/runtime.h"
#include "scenario.h"
#include "sim.h"

/* A scenario's broker as the broker's configuration: `cfg` points into the
 * arrays here and borrows every string from the scenario. */
typedef struct rn_broker_config {
    sim_broker_config cfg;
    sim_broker_topic *topics;
    sim_broker_replica *replicas;
    sim_broker_credential *credentials;
} rn_broker_config;

/* Fill *out with broker `b` of `sc` over SIM_BROKER_CONFIG_INIT: every key
 * of the scenario's broker object except `down` (the runner's business);
 * journal_dir and the model knobs keep their defaults. 0 or FL_E_NOMEM;
 * release *out with rn_broker_config_release either way. */
int rn_broker_config_init(rn_broker_config *out, const sim_scenario *sc, const sim_broker_spec *b);

/* Free the arrays of rn_broker_config_init. */
void rn_broker_config_release(rn_broker_config *c);

typedef void (*rn_broker_event_fn)(void *arg, sim_broker_event ev, const char *client,
                                   uint64_t value);

/* Create the instance on the node's current runtime (recovering its
 * journal), listen under cfg->name and install the observer (events as
 * sim_broker_observer_fn). cfg is borrowed for the call. 0 or a code of
 * sim_broker_new / sim_listen (detail in err). */
int rn_broker_new(sim_node *node, const sim_broker_config *cfg, rn_broker_event_fn fn, void *arg,
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
