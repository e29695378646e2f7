/* Reconnect delay strategies: how long the HA client waits before each
 * connection attempt, and when it gives up.
 *
 * A strategy is a vtable plus an instance (fl_delay), like fl_runtime. The
 * client asks it once per attempt, after the server chooser has named the
 * URI: next_wait(uri) gives the wait, or FL_E_GAVE_UP to stop reconnecting.
 * The client calls reset() when a reconnect sequence succeeds, which is not
 * at the logon itself: only once the new session has stayed up for
 * `stable_after` (default 1 s, fl_client_set_stable_after; 0 resets at the
 * logon ack, as AMPS does), so a broker that drops every session right
 * after logon is retried at the strategy's pace and max_total_us keeps
 * running (client.h, "Reconnect pacing"). It also calls reset() when the
 * application calls fl_client_connect() (the first time, or again after a
 * give-up).
 *
 * Built-in strategies (semantics of the AMPS reconnect delay strategies):
 *
 *   fixed        the first attempt at a URI (since the last reset) waits 0,
 *                every later attempt at that URI waits `delay_us`.
 *   exponential  delays are tracked per URI; the first attempt at a URI
 *                waits 0; the next waits `initial_us`, and each following
 *                wait is the previous one times `exponent`, capped at
 *                `max_us`. `jitter` adds a uniform draw in
 *                [0, initial_us * jitter] (from the runtime's PRNG) to each
 *                non-zero wait, never past `max_us`.
 *
 * Both take an optional total limit (`max_total_us`, 0 = none), measured
 * from the first next_wait() call after creation or reset: each wait is cut
 * to the time remaining, and once the limit has passed next_wait() returns
 * FL_E_GAVE_UP. Times are microseconds.
 *
 * Example (the AMPS guide's): initial 200 ms, exponent 1.5, maximum 5 s,
 * give up after 60 s: waits 0, 200 ms, 300 ms, 450 ms, 675 ms, 1012.5 ms,
 * 1518.75 ms, 2278.125 ms, 3417.1875 ms, then 5 s each, the last one cut so
 * that the strategy gives up exactly 60 s after its first call (when the
 * attempts themselves take no time). Fractions of a microsecond are dropped
 * from each wait (not from the running delay).
 */
#ifndef FAULTLINE_DELAY_H
#define FAULTLINE_DELAY_H

#include <stdint.h>

#include "faultline/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_DELAY_OPS_VERSION 1

typedef struct fl_delay_ops {
    int version; /* FL_DELAY_OPS_VERSION */
    const char *name;
    /* The wait before the next attempt at `uri`, in *wait_us. Returns 0, or
     * FL_E_GAVE_UP when the strategy refuses another attempt (then *wait_us
     * is untouched). `uri` is borrowed for the call. */
    int (*next_wait)(void *self, const char *uri, uint64_t *wait_us);
    /* Forget per-URI history and restart the total-time budget. */
    void (*reset)(void *self);
    /* One line describing the strategy and its state, for error texts
     * ("exponential initial=200000us ..."). Valid until the next call. */
    const char *(*describe)(void *self);
    /* Free the instance. */
    void (*free)(void *self);
} fl_delay_ops;

/* A strategy: the vtable and its instance. Plain value, copied freely; the
 * instance is owned by whoever holds it (see fl_client_set_delay). */
typedef struct fl_delay {
    const fl_delay_ops *ops;
    void *self;
} fl_delay;

#define FL_DELAY_OPTIONS_VERSION 1

/* Options for the fixed strategy. */
typedef struct fl_delay_fixed_options {
    int version;           /* FL_DELAY_OPTIONS_VERSION */
    uint64_t delay_us;     /* wait for a repeated URI */
    uint64_t max_total_us; /* give up after this long; 0 = never */
} fl_delay_fixed_options;

#define FL_DELAY_FIXED_OPTIONS_INIT                                                                \
    {                                                                                              \
        FL_DELAY_OPTIONS_VERSION, 200000, 0                                                        \
    }

/* Options for the exponential strategy; the _INIT values are the defaults. */
typedef struct fl_delay_exp_options {
    int version;           /* FL_DELAY_OPTIONS_VERSION */
    uint64_t initial_us;   /* 200 ms */
    double exponent;       /* 2.0; must be >= 1.0 */
    uint64_t max_us;       /* 20 s; must be >= initial_us */
    uint64_t max_total_us; /* 0 = no total limit */
    double jitter;         /* 1.0; >= 0 */
} fl_delay_exp_options;

#define FL_DELAY_EXP_OPTIONS_INIT                                                                  \
    {                                                                                              \
        FL_DELAY_OPTIONS_VERSION, 200000, 2.0, 20000000, 0, 1.0                                    \
    }

/* Create a fixed strategy. `rt` supplies the clock (for max_total_us) and
 * must outlive the strategy. opts NULL means FL_DELAY_FIXED_OPTIONS_INIT.
 * 0, FL_E_INVAL (bad version, NULL rt/out), FL_E_NOMEM; *out is written on
 * success only. */
int fl_delay_fixed_new(const fl_runtime *rt, const fl_delay_fixed_options *opts, fl_delay *out);

/* Create an exponential strategy. `rt` supplies the clock and the PRNG for
 * jitter (a draw is made only when jitter > 0 and the wait is non-zero),
 * and must outlive the strategy. opts NULL means FL_DELAY_EXP_OPTIONS_INIT.
 * 0, FL_E_INVAL (bad version, exponent < 1, max < initial, jitter < 0 or
 * not finite, NULL rt/out), FL_E_NOMEM. */
int fl_delay_exponential_new(const fl_runtime *rt, const fl_delay_exp_options *opts, fl_delay *out);

/* Call-through helpers. fl_delay_free frees the instance (NULL ops is a
 * no-op) and clears *d. */
int fl_delay_next_wait(const fl_delay *d, const char *uri, uint64_t *wait_us);
void fl_delay_reset(const fl_delay *d);
const char *fl_delay_describe(const fl_delay *d);
void fl_delay_free(fl_delay *d);

#ifdef __cplusplus
}
#endif
#endif
