/* The scenario runner: one loaded scenario + one seed -> one simulated run
 * and its verdict.
 *
 * A run builds a sim_ctx (the seed, the scenario's start), one node per
 * broker (listening under the broker's name) and one per client
 * application, sets each client's link to every broker, starts the brokers
 * (replication as configured, `down` brokers stay down) and drives each
 * application's reference client from its workload:
 *
 *   - publish workloads are an external feed: message k of a workload is
 *     due at its time; an application that is down (crashed) hands the
 *     overdue messages to its new client when it restarts, in order, so the
 *     feed outlives crashes and nothing is handed over twice;
 *   - subscriptions start and stop at their times and discard at once,
 *     after a delay or never (chosen message indices);
 *   - flushes call fl_client_publish_flush at their times.
 *
 * The fault engine applies the scenario's fault timeline (faults.h): at a
 * time or on the Nth event of a trigger. Then the phases:
 *
 *   1. workload phase, virtual time 0 .. duration;
 *   2. liveness phase: every fault still active is healed (pending restarts
 *      happen now), then the run goes on until the system has converged
 *      (every feed handed over, every publish store empty, every client
 *      logged on, no message moved for a quiet period) or until
 *      expect.recovery has passed since the last heal;
 *   3. the checkers' final pass with the ground truth of every surviving
 *      broker journal (failed-over brokers do not count), and the verdict
 *      against `expect`.
 *
 * Determinism: the same scenario and seed give the same history, hence the
 * same history hash (sim_run_figures.history_hash). Nothing of a run reads
 * the wall clock except the wall_us figure, which never enters the history.
 *
 * The result (sim_run) is read-only once sim_run_scenario returns: reports
 * read it through the accessors below.
 */
#ifndef SIM_RUNNER_H
#define SIM_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "checker.h"
#include "history.h"
#include "scenario.h"

typedef struct sim_run sim_run;

#define SIM_RUN_OPTIONS_VERSION 1

/* Options of one run. _INIT gives the defaults. */
typedef struct sim_run_options {
    int version;         /* SIM_RUN_OPTIONS_VERSION */
    bool has_seed;       /* true: use `seed` instead of the scenario's */
    uint64_t seed;       /* --seed */
    FILE *history_sink;  /* NULL, or where history.jsonl lines go (not owned) */
    size_t history_tail; /* history lines kept for reports (default 200) */
    uint64_t quiet_us;   /* liveness: no progress for this long = converged; 0 = 2 s */
    uint64_t max_events; /* safety stop (0 = default 50,000,000) */
    /* Called with every history event of the run (e.g. a report's timeline
     * collector, sim_timeline_observe); NULL for none. */
    sim_history_observer_fn observe;
    void *observe_arg;
} sim_run_options;

#define SIM_RUN_OPTIONS_INIT                                                                       \
    {                                                                                              \
        SIM_RUN_OPTIONS_VERSION, false, 0, NULL, 200, 0, 0, NULL, NULL                             \
    }

/* Overall verdict of a run. */
typedef enum sim_run_result {
    SIM_RUN_PASS = 0, /* every expectation met */
    SIM_RUN_FAIL = 1, /* a check failed, an expected violation did not fire, an
                         expected error or delivered count was missing, or a
                         fault that is not `optional` never fired */
} sim_run_result;

/* Figures of a run (all counts over the whole run, every incarnation). */
typedef struct sim_run_figures {
    uint64_t published;       /* messages the applications handed to fl_client_publish */
    uint64_t accepted;        /* ... that the client accepted (returned 0) */
    uint64_t refused;         /* publish calls refused (FULL, DISCONNECTED, ...) */
    uint64_t persisted_acks;  /* persisted acks the clients received */
    uint64_t delivered;       /* messages handed to subscription handlers */
    uint64_t discarded;       /* fl_client_discard calls */
    uint64_t duplicates;      /* duplicates filtered by bookmark stores */
    uint64_t gaps;            /* gaps reported to applications */
    uint64_t errors;          /* errors reported to applications */
    uint64_t faults_fired;    /* faults applied */
    uint64_t faults_healed;   /* faults healed (by themselves or at the liveness phase) */
    uint64_t reconnects;      /* logons after a client incarnation's first */
    uint64_t client_restarts; /* application restarts after crash / power loss */
    uint64_t broker_restarts;
    uint64_t journal_messages;   /* ground truth: messages in the surviving journals */
    uint64_t max_outage_us;      /* longest time any client spent without a session,
                                    counted from its first logon */
    uint64_t last_heal_us;       /* virtual time of the last heal (0: no fault) */
    bool converged;              /* the liveness phase reached convergence */
    uint64_t converged_us;       /* when (virtual time of the last progress) */
    uint64_t recovery_us;        /* converged_us - last_heal_us (0 if before) */
    uint64_t virtual_us;         /* virtual time at the end of the run */
    uint64_t liveness_start_us;  /* = duration */
    uint64_t wall_us;            /* wall time of the run (not part of the simulation) */
    uint64_t events_run;         /* simulation events run */
    uint64_t history_events;     /* history lines recorded */
    uint64_t history_hash;       /* FNV-1a 64 of history.jsonl */
    uint64_t faults_not_fired;   /* faults that never fired (optional ones included) */
    uint64_t delivered_distinct; /* distinct messages delivered, summed over subscriptions */
    uint64_t redelivered;        /* deliveries of a message the subscription had delivered */
} sim_run_figures;

/* One fault of the concrete timeline: what happened to sc->faults[index]. */
typedef struct sim_run_fault {
    size_t index;       /* into the scenario's faults[] */
    bool fired;         /* applied at fired_us */
    bool by_trigger;    /* fired by its `on` trigger (not by `at`) */
    uint64_t fire_seq;  /* order among fired faults (0-based) */
    uint64_t fired_us;  /* virtual time */
    bool healed;        /* its effect ended at healed_us */
    uint64_t healed_us; /* = fired_us for instantaneous faults */
    bool skipped;       /* fired but had no effect (target down, nothing to corrupt...) */
} sim_run_fault;

/* Run `sc` (borrowed: keep it alive until sim_run_free). opts NULL means
 * SIM_RUN_OPTIONS_INIT. Returns 0 when the run completed, whatever its
 * verdict; *out is then the result. Otherwise *out is NULL and the result
 * is FL_E_INVAL (the scenario cannot be run: e.g. a store plugin that does
 * not load, an unsupported store type; detail in err), FL_E_NOMEM, or
 * another code from setting up the simulation. */
int sim_run_scenario(const sim_scenario *sc, const sim_run_options *opts, sim_run **out, char *err,
                     size_t errcap);

/* Free a result; NULL is a no-op. */
void sim_run_free(sim_run *r);

/* --- read-only accessors --- */

const sim_scenario *sim_run_get_scenario(const sim_run *r);
uint64_t sim_run_seed(const sim_run *r);
sim_run_result sim_run_get_result(const sim_run *r);
bool sim_run_passed(const sim_run *r);

/* One line saying why the run failed ("no_loss: 3 violations; expected error
 * bookmark_expired not reported; fault #2 (crash_client pub-1) never
 * fired"), "" for a pass. Never NULL. */
const char *sim_run_failure_text(const sim_run *r);

/* The failing checker's name for a failed run (the first one by check
 * order: "no_loss" ... "unpersisted_zero", "errors", "delivered"; "faults"
 * when only a fault that never fired failed it), NULL for a pass. */
const char *sim_run_failing_check(const sim_run *r);

/* The checker of the run (checker.h), finished: per-check verdicts
 * (sim_checker_verdict_at, SIM_CHK_COUNT of them, including the
 * pseudo-checks "errors" and "delivered"), violations with their context
 * (sim_checker_violation_at), sim_checker_to_json. Valid until
 * sim_run_free. */
const sim_checker *sim_run_checker(const sim_run *r);

const sim_run_figures *sim_run_get_figures(const sim_run *r);

/* The concrete fault timeline, one entry per scenario fault, in scenario
 * order. */
size_t sim_run_fault_count(const sim_run *r);
const sim_run_fault *sim_run_fault_at(const sim_run *r, size_t i);

/* The last history lines (oldest first), without '\n'. */
size_t sim_run_history_tail_count(const sim_run *r);
const char *sim_run_history_tail_line(const sim_run *r, size_t i);

/* The concrete scenario of this run (new reference; NULL on out of memory):
 * sim_scenario_to_json with the run's seed, and every fault fired by a
 * trigger turned into an `at` fault at the time it fired; fired faults come
 * first in the order they fired, the others follow in scenario order.
 * Running it reproduces the run: same checkers fail, same history hash. */
json_t *sim_run_concrete_scenario(const sim_run *r);

/* Errors the applications were told about, in order. */
typedef struct sim_run_error {
    size_t client; /* index into sc->clients */
    int code;      /* FL_E_* */
    uint64_t t_us; /* virtual time */
} sim_run_error;
size_t sim_run_error_count(const sim_run *r);
const sim_run_error *sim_run_error_at(const sim_run *r, size_t i);

/* Distinct messages subscription `sub` of client `client` delivered to its
 * application (over every incarnation). */
uint64_t sim_run_delivered_count(const sim_run *r, size_t client, size_t sub);

#endif
