/* The runtime seam.
 *
 * The client core, the stores and the broker journal never call the OS, the
 * clock or libevent directly: they call through an fl_runtime, a vtable plus
 * an instance pointer. Two implementations plug in behind it:
 *
 *   - the simulation runtime (simulator/), in virtual time, with in-memory
 *     links and a simulated disk that models volatile vs durable contents;
 *   - the libevent runtime (client/), with TCP bufferevents, evtimers and
 *     POSIX files with real fsync.
 *
 * Contracts common to every call:
 *   - Calls return 0 or a negative FL_E... code (faultline/error.h).
 *   - Callbacks never run inside the call that registered them or inside any
 *     other seam call: they run from the runtime's loop. So code may call
 *     send/close/timer_cancel from within a callback without re-entrancy.
 *   - If a call that takes a callback fails, that callback never runs.
 *   - Time is UTC microseconds since the Unix epoch. In simulation it is the
 *     scenario's `start` plus virtual time; it never goes backwards.
 *
 * Versioning: `version` comes first; new members are only appended and a
 * caller checks `version` before using a member added later.
 */
#ifndef FAULTLINE_RUNTIME_H
#define FAULTLINE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_RUNTIME_OPS_VERSION 1

typedef uint64_t fl_timer_id;   /* 0 is never a valid id */
typedef uint64_t fl_conn_id;    /* 0 is never a valid id */
typedef struct fl_file fl_file; /* opaque; owned by the runtime */

typedef void (*fl_timer_fn)(void *arg);

/* Connection callbacks. `arg` is the pointer given to connect().
 *
 *   opened: the connection is established; send() may now be called.
 *   data:   bytes arrived, in order. `buf` is borrowed for the call only.
 *           Byte boundaries are arbitrary (a stream, not frames).
 *   closed: the connection is gone: refused, timed out, reset by the peer or
 *           by a fault. `reason` is 0 for an orderly close by the peer or an
 *           FL_E... code (FL_E_REFUSED, FL_E_TIMEOUT, FL_E_DISCONNECTED...).
 *           Runs at most once and is the last callback for that connection.
 *           It does not run after the caller itself called close(). */
typedef struct fl_conn_callbacks {
    void (*opened)(void *arg, fl_conn_id conn);
    void (*data)(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len);
    void (*closed)(void *arg, fl_conn_id conn, int reason);
} fl_conn_callbacks;

/* file_open flags */
enum {
    FL_FILE_READ = 1 << 0,
    FL_FILE_WRITE = 1 << 1,
    FL_FILE_CREATE = 1 << 2, /* create if missing */
    FL_FILE_EXCL = 1 << 3,   /* with CREATE: fail with FL_E_EXIST if present */
    FL_FILE_TRUNC = 1 << 4,  /* truncate to 0 on open */
};

/* Called once per directory entry, in strcmp order of `name` (a plain file
 * name, no directory part). Return non-zero to stop the listing early. */
typedef int (*fl_dir_entry_fn)(void *arg, const char *name);

typedef struct fl_runtime_ops {
    int version;      /* FL_RUNTIME_OPS_VERSION */
    const char *name; /* "sim", "libevent" */

    /* --- clock and randomness --- */

    /* Current time, UTC microseconds since the Unix epoch. Monotonic. */
    uint64_t (*now)(void *self);
    /* 64 uniformly random bits. In simulation drawn from the scenario's
     * seeded PRNG, so every draw is part of the deterministic history. */
    uint64_t (*random)(void *self);

    /* --- timers --- */

    /* Run fn(arg) once, `delay_us` from now (0: on the next loop turn, after
     * callbacks already due). Timers due at the same instant run in the order
     * they were started. *out receives the id. */
    int (*timer_start)(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg, fl_timer_id *out);
    /* Cancel a pending timer; after it returns fn will not run. Cancelling an
     * id that already fired or was cancelled is a no-op. */
    void (*timer_cancel)(void *self, fl_timer_id id);

    /* --- connections --- */

    /* Start connecting to `uri` (in simulation a broker instance name, with
     * libevent "host:port"). Returns at once; the outcome arrives as opened or
     * closed. A connect may also never complete (a partition drops the SYN):
     * callers that care arm their own timer and close(). */
    int (*connect)(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                   fl_conn_id *out);
    /* Queue `len` bytes (copied before return) for in-order delivery.
     * FL_E_DISCONNECTED if the connection is known to be closed; a send that
     * returns 0 may still be lost if the connection later fails. */
    int (*send)(void *self, fl_conn_id conn, const void *buf, size_t len);
    /* Close the connection. Unsent bytes are discarded. No callback for this
     * connection runs after close() returns. */
    void (*close)(void *self, fl_conn_id conn);

    /* --- files ---
     * Paths are relative to the runtime's data directory ("pub-1/store/0001.seg").
     * The model is POSIX: writes land in a volatile cache; file_sync makes the
     * file's contents (and size) durable; dir_sync makes the creations,
     * renames and unlinks done in that directory durable. A power loss
     * (simulation) keeps only what was durable. A failed file_sync leaves the
     * file in an unknown state: the caller must not retry it but close, reopen
     * and recover (FL_E_SYNC_FAILED from higher layers). */

    /* Open (optionally create) a file. FL_E_NOENT, FL_E_EXIST, FL_E_IO. */
    int (*file_open)(void *self, const char *path, int flags, fl_file **out);
    /* Read up to len bytes at `off`; *nread < len only at end of file.
     * On error *nread is 0 and buf contents are unspecified. */
    int (*file_read)(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread);
    /* Write len bytes at `off` (extending the file as needed). On error
     * (FL_E_IO, FL_E_NOSPC) a prefix of the bytes may have been written. */
    int (*file_write)(void *self, fl_file *f, uint64_t off, const void *buf, size_t len);
    /* Make the file's data and size durable. */
    int (*file_sync)(void *self, fl_file *f);
    int (*file_truncate)(void *self, fl_file *f, uint64_t size);
    int (*file_size)(void *self, fl_file *f, uint64_t *size);
    /* Close the handle (never fails; unsynced data stays volatile). */
    void (*file_close)(void *self, fl_file *f);
    int (*file_unlink)(void *self, const char *path);
    /* Atomically replace `to` with `from` (POSIX rename). */
    int (*file_rename)(void *self, const char *from, const char *to);
    /* Create a directory and its parents; an existing one is not an error. */
    int (*dir_create)(void *self, const char *path);
    /* Make entry changes in directory `path` durable. */
    int (*dir_sync)(void *self, const char *path);
    /* List regular files in `path` in name order. FL_E_NOENT if missing. */
    int (*dir_list)(void *self, const char *path, fl_dir_entry_fn fn, void *arg);

    /* --- history ---
     * Record an event in the run's history: `source` names the component
     * ("client", "pubstore", ...), `event` the event ("publish", ...),
     * `fields_json` is either NULL or the inside of a JSON object without
     * braces ("\"seq\":12,\"topic\":\"orders\""). The libevent runtime may
     * log it or ignore it. Never fails. */
    void (*trace)(void *self, const char *source, const char *event, const char *fields_json);
} fl_runtime_ops;

/* A runtime: the vtable and its instance. Passed by pointer; the caller
 * owns it and keeps it alive while anything uses it. */
typedef struct fl_runtime {
    const fl_runtime_ops *ops;
    void *self;
} fl_runtime;

/* Small inline wrappers so call sites read as plain calls. */
static inline uint64_t fl_rt_now(const fl_runtime *rt)
{
    return rt->ops->now(rt->self);
}
static inline uint64_t fl_rt_random(const fl_runtime *rt)
{
    return rt->ops->random(rt->self);
}
/* A uniform draw in [0, n) (n > 0), without modulo bias. */
static inline uint64_t fl_rt_random_below(const fl_runtime *rt, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do {
        v = fl_rt_random(rt);
    } while (v >= limit);
    return v % n;
}
static inline int fl_rt_timer_start(const fl_runtime *rt, uint64_t delay_us, fl_timer_fn fn,
                                    void *arg, fl_timer_id *out)
{
    return rt->ops->timer_start(rt->self, delay_us, fn, arg, out);
}
static inline void fl_rt_timer_cancel(const fl_runtime *rt, fl_timer_id id)
{
    if (id)
        rt->ops->timer_cancel(rt->self, id);
}
static inline void fl_rt_trace(const fl_runtime *rt, const char *source, const char *event,
                               const char *fields_json)
{
    if (rt->ops->trace)
        rt->ops->trace(rt->self, source, event, fields_json);
}

#ifdef __cplusplus
}
#endif
#endif
