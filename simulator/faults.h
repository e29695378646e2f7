/* The run state shared by the scenario runner (runner.c: topology,
 * applications, phases, verdict) and the fault engine (faults.c: applying
 * and healing faults, trigger counting, file corruption). Internal to those
 * two files; reports use runner.h.
 *
 * Fault timing. A fault never applies inside the event that caused it. Both
 * an `at` fault (due at T) and a trigger-fired one (its Nth event happened
 * at T) join the "barrier" of instant T: a single event that re-queues itself
 * (delay 0) while anything else is still due at T, and then applies the
 * queued faults in the order they joined. So every fault applies after
 * everything else of its instant, whichever way it was fired; that is what
 * makes the concrete scenario of a run (trigger faults turned into `at`
 * faults) replay to the same history. Nothing is recorded when a fault
 * joins the barrier or when a trigger counts: only the application.
 */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checker.h"
#include "faultline/client.h"
#include "runner.h"
#include "runner_broker.h"
#include "scenario.h"
#include "sim.h"
#include "sim_disk.h"
#include "sim_net.h"

#define RN_NEVENTS      (SIM_EVENT_REPLICATION + 1)
#define RN_PUBSTORE_DIR "pubstore"
#define RN_BMSTORE_DIR  "bmstore"
#define RN_JOURNAL_DIR  "journal"
#define RN_RETRY_US     50000u /* a refused publish is tried again after this */

typedef struct rn_app rn_app;

/* One publish workload of an application: an external feed. */
typedef struct rn_feed {
    rn_app *app;
    size_t w;        /* index into the client's publish[] */
    uint64_t next;   /* next message index to hand over */
    uint64_t total;  /* messages due by the end of the workload phase */
    sim_event_id ev; /* pending hand-over event, 0 if none */
    bool unsure;     /* message `next` was refused with FL_E_SYNC_FAILED: it may be
                        stored; the restarted application looks before handing it again */
} rn_feed;

/* A set of (publisher, sequence) pairs (open addressing; sequence 0 marks
 * an empty slot, a real 0 is stored as UINT64_MAX). */
typedef struct rn_key_set {
    uint64_t *k;
    size_t cap, n;
} rn_key_set;

/* One subscription of an application. */
typedef struct rn_sub {
    rn_app *app;
    size_t s;              /* index into the client's subscribe[] */
    bool started;          /* its start time has passed */
    bool stopped;          /* its stop time has passed */
    uint64_t distinct;     /* distinct messages delivered (all incarnations): "never" indices */
    rn_key_set seen;       /* distinct messages delivered */
    rn_key_set never_msgs; /* those of them chosen by `never` (never discarded) */
} rn_sub;

/* One planned publish_flush call of an application. */
typedef struct rn_flush {
    rn_app *app;
    size_t i; /* index into the client's flush[] */
} rn_flush;

/* A delivered message waiting for its delayed discard. */
typedef struct rn_discard {
    rn_app *app;
    const fl_message *msg;
    sim_event_id ev;
    struct rn_discard *next;
} rn_discard;

/* One application with its reference client. */
struct rn_app {
    sim_run *run;
    size_t idx;
    const sim_client *cfg;
    sim_node *node;
    fl_client *c; /* NULL while the application is down */
    const fl_pubstore_ops *pops;
    void *pself;
    fl_pubstore_ops pwrap; /* the runner's wrapper around pops */
    const fl_bmstore_ops *bops;
    void *bself;
    rn_feed *feeds;
    rn_sub *subs;
    rn_flush *flushes;
    rn_discard *discards;
    sim_event_id restart_ev;
    bool down; /* crashed, restart pending or never */
    bool session;
    bool ever_session;
    uint64_t lost_us;
    uint64_t logons; /* this incarnation */
};

/* What the runner remembers of a journaled message, for when retention
 * removes it (the checkers still hold subscriptions to it). */
typedef struct rn_lent {
    uint64_t seq, recno;
    int64_t ts_us;
    uint64_t expired_us; /* UINT64_MAX: still retained (as far as known) */
    size_t topic;        /* index into the broker's topics */
    sim_checker_app_msg app;
} rn_lent;

/* One publisher's journaled messages, ascending by sequence and record. */
typedef struct rn_lpub {
    uint64_t pub;
    rn_lent *v;
    size_t n, cap;
    size_t nexp; /* v[0..nexp) are marked expired */
} rn_lpub;

/* The journal ledger of a broker with retention (off otherwise): fed by
 * every append (rn_broker_on_journaled) and by the journal's `retention`
 * trace, across restarts of the instance. */
typedef struct rn_ledger {
    bool on;
    rn_lpub *pubs;
    size_t npubs, cap;
    uint64_t last_recno;
} rn_ledger;

/* One broker instance. */
typedef struct rn_broker {
    rn_ledger ledger;
    sim_run *run;
    size_t idx;
    const sim_broker_spec *cfg;
    sim_node *node;
    void *b;   /* the instance (runner_broker.h); NULL while down */
    bool gone; /* failed over for good */
    sim_event_id restart_ev;
} rn_broker;

/* Runtime state of one scenario fault. */
typedef struct rn_fault {
    sim_run *run;
    const sim_fault *f;
    sim_run_fault pub; /* what the result reports */
    bool queued;       /* joined the barrier, not applied yet */
    bool active;       /* applied, heal pending */
    bool pending_corruption;
    bool chk_started; /* the checker was told START (a HEAL follows) */
    sim_event_id at_ev, heal_ev;
    uint64_t drops_left; /* drop_acks with count */
} rn_fault;

struct sim_run {
    const sim_scenario *sc;
    sim_run_options opts;
    uint64_t seed;
    sim_ctx *ctx;
    sim_checker *chk;
    rn_app *apps;
    rn_broker *brokers;
    rn_fault *faults;
    uint64_t *counters; /* [event][client 0..n) then [event][broker 0..m) */
    /* barrier */
    size_t *barrier;
    size_t nbarrier;
    sim_event_id barrier_ev;
    uint64_t fire_seq;
    bool liveness; /* in the liveness phase */
    uint8_t *payload;
    size_t payload_cap;
    uint64_t *pub_ids; /* per client (scenario order): fl_publisher_id(name) */
    /* progress tracking for convergence */
    uint64_t last_progress_us;
    /* results */
    sim_run_figures fig;
    sim_run_result result;
    const char *failing;
    char *failure_text; /* checker text plus faults that never fired; NULL: the checker's */
    char **tail;
    size_t ntail;
    sim_run_error *errors;
    size_t nerrors, errors_cap;
};

/* --- faults.c --- */

/* Schedule the `at` faults and arm the triggers. */
int rn_faults_start(sim_run *r);

/* Count one trigger event of a client (sort SIM_TARGET_CLIENT) or broker;
 * a fault whose trigger reaches its count joins the barrier. */
void rn_trigger(sim_run *r, sim_event ev, sim_target_sort sort, size_t idx);

/* The liveness phase begins: disarm what never fired, heal what is still
 * active (restarts happen now). */
void rn_faults_heal_all(sim_run *r);

/* Apply the pending corruptions of a client's store or a broker's journal
 * (right before that target reopens its files). */
void rn_faults_apply_corruptions(sim_run *r, sim_target_sort sort, size_t idx);

/* Record a heal at the current time (fault stays in the result). */
void rn_fault_healed(sim_run *r, rn_fault *rf);

/* Install the disk observers that count store_write / store_sync (the
 * broker's journal events come from the broker's observer). */
void rn_faults_observe_disks(sim_run *r);

/* --- runner.c (used by faults.c) --- */

/* Crash (power_loss false) or power-loss an application; it restarts after
 * restart_after_us (UINT64_MAX: never). Returns false if it was down. */
bool rn_app_crash(sim_run *r, rn_app *a, bool power_loss, uint64_t restart_after_us);
/* Restart a crashed application now. */
void rn_app_restart(sim_run *r, rn_app *a);
bool rn_broker_crash(sim_run *r, rn_broker *b, bool power_loss, uint64_t down_for_us);
void rn_broker_restart(sim_run *r, rn_broker *b);
/* Record an event of the runner in the history. */
void rn_trace(sim_run *r, const char *node, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
