/* The broker's policy enums, shared by the scenario loader (scenario.h,
 * which reads them from a file) and the simulated broker (broker.h, which
 * acts on them), so that a loaded value is passed on as it is.
 *
 * The values are also the indices of the scenario's name tables
 * (scenario.c: "error", "now", "oldest"; ...): keep the order.
 */
#ifndef SIM_BROKER_POLICY_H
#define SIM_BROKER_POLICY_H

/* `expired_bookmark`: a bookmark subscription whose start retention
 * removed. */
typedef enum sim_expired_policy {
    SIM_EXPIRED_ERROR,  /* failed subscribe ack, reason bookmark_expired */
    SIM_EXPIRED_NOW,    /* silently start at the end (default, as AMPS) */
    SIM_EXPIRED_OLDEST, /* start at the oldest retained record */
} sim_expired_policy;

/* `replicate_to[].mode`. */
typedef enum sim_repl_mode {
    SIM_REPL_SYNC,  /* persisted acks wait for the peer's durable write */
    SIM_REPL_ASYNC, /* sent `lag` after the local write is durable */
} sim_repl_mode;

/* `duplicate_logon`: a logon under a client name that has a session. */
typedef enum sim_dup_logon {
    SIM_DUP_LOGON_REFUSE,  /* the second logon is refused (name_in_use) */
    SIM_DUP_LOGON_REPLACE, /* the first session is closed, the second wins */
} sim_dup_logon;

#endif
