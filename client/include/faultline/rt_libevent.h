/* The libevent implementation of the runtime seam (faultline/runtime.h).
 *
 * The same client, store and broker code that runs in simulation runs on
 * this runtime against real sockets, real timers and real files:
 *
 *   - Clock: CLOCK_REALTIME in microseconds, clamped so now() never goes
 *     backwards (a wall-clock step back repeats the last value).
 *   - Randomness: xoshiro256** seeded through splitmix64 from the options'
 *     seed, or from the OS (getrandom) when the seed is 0. The effective
 *     seed is readable (fl_rt_libevent_seed) so a run can be repeated.
 *   - Timers: one heap ordered by (due, start order) on CLOCK_MONOTONIC,
 *     driven by a single libevent timer; timers due at the same instant run
 *     in start order. timer_start(0) runs on a later loop turn, never inside
 *     the call, and a timer started by a timer callback never runs in the
 *     same turn (no starvation of I/O).
 *   - Connections: TCP bufferevents with TCP_NODELAY. connect(uri) takes
 *     "host:port" or "[v6]:port"; the host is an IPv4/IPv6 literal or a name
 *     resolved SYNCHRONOUSLY with evutil_getaddrinfo (first address only;
 *     use literals where blocking matters). The TCP connect is non-blocking
 *     and bounded by connect_timeout_us (closed(FL_E_TIMEOUT)). A connect
 *     that fails at once (refused on loopback) still reports closed from the
 *     loop. A malformed URI or an unresolvable name fails the call itself
 *     (FL_E_INVAL / FL_E_NOT_FOUND) and no callback runs. The output buffer
 *     is unbounded. close() first hands the bytes already given to send()
 *     to the kernel, as far as it takes them without blocking (so "send a
 *     failure ack, then close" delivers the ack, as in simulation); the
 *     rest is discarded. A peer's orderly shutdown is closed(0) (half-open
 *     connections are not kept); errors map through fl_err_from_errno
 *     (refused FL_E_REFUSED, reset FL_E_DISCONNECTED, timed out
 *     FL_E_TIMEOUT, anything else, e.g. unreachable, FL_E_IO).
 *   - Server side (fl_rt_libevent_listen): accepted connections are seam
 *     connections like any other (send/close through the runtime ops); the
 *     accept callback mirrors the simulator's sim_accept_fn so the same
 *     broker code plugs into both.
 *   - Files: POSIX files under the data directory, through a directory
 *     descriptor opened at creation (openat/renameat/unlinkat/mkdirat, so a
 *     later chdir does not matter). file_sync is fdatasync, or fsync when the
 *     size may have changed since the last sync; dir_sync opens the
 *     directory and fsyncs it. After a failed file_sync every later
 *     file_sync on that handle fails too (FL_E_IO): the kernel may have
 *     dropped the dirty pages, so a retry could report a false success.
 *     Paths are validated as in the simulator: relative, '/'-separated, no
 *     "..", no empty component, "." components dropped, at most 1024 bytes;
 *     "" or "." is the data directory itself (directory calls only).
 *     file_open refuses anything but a regular file (FL_E_INVAL).
 *   - Trace: written as one JSON object per line to a FILE*, handed to a
 *     callback, or ignored.
 *
 * Everything runs on the caller's event_base, on one thread; this runtime
 * does not lock. The caller runs the loop (event_base_dispatch/loop). As in
 * any libevent program, the application must ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)): a library may not change process-wide signal
 * dispositions, and a write to a reset socket would otherwise kill it.
 */
#ifndef FAULTLINE_RT_LIBEVENT_H
#define FAULTLINE_RT_LIBEVENT_H

#include <stdint.h>
#include <stdio.h>

#include "faultline/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
typedef struct fl_rt_libevent fl_rt_libevent;

/* A trace sink: receives what fl_rt_trace was given (fields_json may be
 * NULL). Runs inside the trace call: it must not call the runtime. */
typedef void (*fl_rt_trace_fn)(void *arg, uint64_t now_us, const char *source, const char *event,
                               const char *fields_json);

#define FL_RT_LIBEVENT_OPTIONS_VERSION            1
#define FL_RT_LIBEVENT_CONNECT_TIMEOUT_DEFAULT_US 10000000u

typedef struct fl_rt_libevent_options {
    int version;                 /* FL_RT_LIBEVENT_OPTIONS_VERSION */
    const char *data_dir;        /* root of every file path; NULL = "."; created if missing */
    uint64_t seed;               /* PRNG seed; 0 = from the OS */
    uint64_t connect_timeout_us; /* bound on one TCP connect; 0 = none */
    FILE *trace_file;            /* trace lines go here when set ... */
    fl_rt_trace_fn trace_fn;     /* ... or to this callback (used if both set) */
    void *trace_arg;
} fl_rt_libevent_options;

#define FL_RT_LIBEVENT_OPTIONS_INIT                                                                \
    {                                                                                              \
        FL_RT_LIBEVENT_OPTIONS_VERSION, NULL, 0, FL_RT_LIBEVENT_CONNECT_TIMEOUT_DEFAULT_US, NULL,  \
            NULL, NULL                                                                             \
    }

/* Create a runtime on `base` (borrowed; it must outlive the runtime). opts
 * NULL means FL_RT_LIBEVENT_OPTIONS_INIT; strings are copied. 0, FL_E_INVAL
 * (base or out NULL, bad version), FL_E_NOMEM, or the error of creating or
 * opening data_dir (FL_E_IO, FL_E_NOENT...). *out written on success only. */
int fl_rt_libevent_new(struct event_base *base, const fl_rt_libevent_options *opts,
                       fl_rt_libevent **out);

/* Close every connection and listener, drop every pending timer and free the
 * runtime. No callback runs. File handles still open are NOT closed (they
 * belong to whoever opened them; close them first). NULL is a no-op. Not
 * from inside a runtime callback. */
void fl_rt_libevent_free(fl_rt_libevent *rt);

/* The seam view of this runtime; valid until fl_rt_libevent_free. */
const fl_runtime *fl_rt_libevent_runtime(fl_rt_libevent *rt);

/* The seed the PRNG was seeded with (the option, or the OS-drawn one). */
uint64_t fl_rt_libevent_seed(const fl_rt_libevent *rt);

/* Called from the loop for every accepted TCP connection. `conn` is the
 * server side's id; `peer` the remote address ("127.0.0.1:54321", borrowed).
 * Return 0 and set *cbs (data and closed are used; opened is not: accept is
 * the opened) and *cbs_arg to accept, or a negative code to refuse (the
 * socket is closed at once; the peer sees an orderly close or a reset, not a
 * refused connect). The callback may already send() and close() on `conn`.
 * Same shape as the simulator's sim_accept_fn. */
typedef int (*fl_rt_accept_fn)(void *arg, fl_conn_id conn, const char *peer,
                               const fl_conn_callbacks **cbs, void **cbs_arg);

/* Listen on `addr` ("127.0.0.1:0", "[::1]:7000", "host:port" resolved as in
 * connect) with SO_REUSEADDR. *port_out (may be NULL) receives the bound
 * port, useful with port 0. Listeners live until fl_rt_libevent_unlisten or
 * fl_rt_libevent_free. 0, FL_E_INVAL (bad address, accept NULL),
 * FL_E_NOT_FOUND (name), FL_E_BUSY (address in use), FL_E_IO, FL_E_NOMEM. */
int fl_rt_libevent_listen(fl_rt_libevent *rt, const char *addr, fl_rt_accept_fn accept, void *arg,
                          uint16_t *port_out);

/* Stop the listener bound to `port` (connections it accepted stay).
 * FL_E_NOT_FOUND if there is none. */
int fl_rt_libevent_unlisten(fl_rt_libevent *rt, uint16_t port);

#ifdef __cplusplus
}
#endif
#endif
