/* Ready-made store-contract hooks backed by one simulator node: its runtime
 * (virtual clock, simulated disk) is what the store under test opens with,
 * and a crash is a power loss (or a process crash) of that node.
 *
 * Header-only (static inline) so that only test binaries which include it
 * depend on the simulator library. Usage:
 *
 *     fl_sc_sim sim = {.seed = 1};
 *     fl_store_under_test sut = {
 *         ..., .ctx = &sim, .setup = fl_sc_sim_setup, .teardown = fl_sc_sim_teardown,
 *         .crash = fl_sc_sim_power_loss, .restart = fl_sc_sim_restart,
 *     };
 *
 * After a case (pass or fail) teardown frees the whole simulation, so the
 * next case starts with an empty disk.
 */
#ifndef FAULTLINE_TESTS_STORE_CONTRACT_SIM_H
#define FAULTLINE_TESTS_STORE_CONTRACT_SIM_H

#include <stdint.h>

#include "faultline/runtime.h"
#include "sim.h"

typedef struct fl_sc_sim {
    uint64_t seed;  /* PRNG seed for the simulation (power-loss tearing); 0 means 1 */
    sim_ctx *ctx;   /* set by setup */
    sim_node *node; /* the "client" node whose runtime the store uses */
} fl_sc_sim;

static inline void fl_sc_sim_teardown(void *arg)
{
    fl_sc_sim *f = arg;
    sim_ctx_free(f->ctx);
    f->ctx = NULL;
    f->node = NULL;
}

static inline const fl_runtime *fl_sc_sim_setup(void *arg)
{
    fl_sc_sim *f = arg;
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = f->seed ? f->seed : 1;
    f->ctx = sim_ctx_new(&o);
    if (!f->ctx)
        return NULL;
    if (sim_node_new(f->ctx, "client", &f->node) != 0) {
        fl_sc_sim_teardown(f);
        return NULL;
    }
    return sim_node_runtime(f->node);
}

/* Power loss: unsynced data is lost and the last write may tear. */
static inline void fl_sc_sim_power_loss(void *arg)
{
    sim_node_power_loss(((fl_sc_sim *)arg)->node);
}

/* Process crash: written data survives (in the OS cache), handles die. */
static inline void fl_sc_sim_process_crash(void *arg)
{
    sim_node_crash(((fl_sc_sim *)arg)->node);
}

static inline const fl_runtime *fl_sc_sim_restart(void *arg)
{
    fl_sc_sim *f = arg;
    if (sim_node_restart(f->node) != 0)
        return NULL;
    return sim_node_runtime(f->node);
}

#endif
