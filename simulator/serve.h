/* `faultline serve` and `faultline admin`: the simulated broker served over
 * real TCP, in real time, with its journal on real files, and the
 * line-based admin command that injects faults into it.
 *
 * `serve` runs ONE broker instance (the same code as in simulation,
 * broker.h) on the libevent runtime (faultline/rt_libevent.h). Between the
 * broker and the libevent runtime sits a thin runtime of serve.c's own that
 * forwards every seam call and keeps track of the broker's timers and
 * connections, so that an admin "crash" can make the runtime dead at once
 * (every timer cancelled, every connection closed, every later call a
 * no-op), exactly as a node crash does in simulation, before
 * sim_broker_abandon frees the instance without any teardown that matters.
 * The restarted instance is a new sim_broker on a fresh wrapper over the
 * same data directory: it recovers from the journal files.
 *
 * The broker configuration comes from a config file (see
 * sim_serve_config_load below) or from defaults plus command-line flags.
 */
#ifndef SIM_SERVE_H
#define SIM_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "broker.h"

/* `faultline serve ...` (argv[0] is "serve"). Runs until SIGINT/SIGTERM,
 * then shuts the broker down in order (journal synced) and returns 0; 2 for
 * bad usage or a config that does not load, 1 for a start failure (address
 * in use, journal refused by its recovery mode...). `--help` says more. */
int sim_serve_main(int argc, char **argv);

/* `faultline admin ...` (argv[0] is "admin"): send one admin command to a
 * running `faultline serve` and print its reply. 0 when the server replied
 * "ok", 1 when it replied with an error, 2 for bad usage or when the server
 * could not be reached. `--help` says more. */
int sim_admin_main(int argc, char **argv);

/* Whether a trace event (source "broker", or the journal's) is one of the
 * status lines `faultline serve` logs: connection events, start, journal
 * failures and reopens, recovery, retention. Per-message events are not. */
bool sim_serve_status_event(const char *source, const char *event);

/* --- the config file (serve_config.c) --------------------------------
 *
 * Two forms, both read with the scenario loader (scenario.h), so a broker
 * object means exactly what it means in a scenario and errors name the
 * JSON path:
 *
 *   - a whole scenario file: its broker named `broker` (or its only one)
 *     is served; clients, faults and expect are ignored;
 *   - a small file {"brokers": {"NAME": {...broker keys...}}}: the loader
 *     needs clients, so one is added per name in the brokers' `credentials`
 *     (or a placeholder when there are none) before loading.
 *
 * `replicate_to` is loaded and reported but not served (one instance per
 * process; peers are simulation names, not addresses). */
typedef struct sim_serve_config sim_serve_config;

/* Load `path` and pick the broker named `broker` (NULL: the only one).
 * 0, FL_E_SCENARIO (invalid file, or no/ambiguous broker; err says which),
 * FL_E_NOENT / FL_E_IO (unreadable), FL_E_NOMEM. *out on success only. */
int sim_serve_config_load(const char *path, const char *broker, sim_serve_config **out, char *err,
                          size_t errcap);

/* The chosen broker's configuration (strings and arrays borrowed from the
 * config; journal_dir and the model knobs are SIM_BROKER_CONFIG_INIT's).
 * Valid until sim_serve_config_free. */
const sim_broker_config *sim_serve_config_broker(const sim_serve_config *cfg);

/* NULL is a no-op. */
void sim_serve_config_free(sim_serve_config *cfg);

#endif
