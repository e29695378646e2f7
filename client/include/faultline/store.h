/* The store ABI: publish stores and bookmark stores.
 *
 * This header is public and stable: users write their own stores against
 * it and load them as plugins (a shared object exporting FL_STORE_PLUGIN_SYMBOL).
 * The reference client uses only these vtables, so the built-in stores
 * (none, memory, file, sqlite) and users' stores are interchangeable and are
 * run through the same conformance table.
 *
 * Versioning: every ops struct starts with `version`; new members are only
 * appended. A store sets version to the FL_STORE_ABI_VERSION it was built
 * against; the client refuses a store whose version is 0 or newer than its own.
 *
 * General contract for every operation:
 *   - Returns 0 or a negative FL_E... code (faultline/error.h).
 *   - On failure the store's logical contents are unchanged, unless the
 *     operation says otherwise. FL_E_SYNC_FAILED poisons the handle: every
 *     later call fails with it until the store is closed and reopened (a
 *     failed fsync is never retried; reopening runs recovery). After a
 *     failed fsync the outcome of the write it was meant to make durable is
 *     unknown (the bytes may or may not be on disk), so an operation that
 *     fails with FL_E_SYNC_FAILED may or may not have taken effect: see
 *     store() for what that means for a message.
 *   - Memory handed to a callback is borrowed for the duration of that call.
 *     Memory handed to the store is copied by the store if it keeps it.
 *   - Operations are called from one thread (the client's loop), never
 *     concurrently, never re-entrantly from a replay callback.
 *   - A store does its I/O through env->rt's file layer to get the full
 *     simulated power-loss, torn-write and I/O-error model; a store that does
 *     its own I/O is crash-tested by killing a child process instead.
 */
#ifndef FAULTLINE_STORE_H
#define FAULTLINE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_STORE_ABI_VERSION 1

/* What a store is opened with. Owned by the caller; valid during open only
 * (copy what you keep, except `rt`, which outlives the store). */
typedef struct fl_store_env {
    int version;             /* FL_STORE_ABI_VERSION */
    const fl_runtime *rt;    /* clock, timers, PRNG, file layer, trace */
    const char *dir;         /* directory the store owns, relative to the runtime's
                                data dir; created by the caller */
    const char *client_name; /* the owning client's name */
    const char *options;     /* "key=value;key=value", store specific; may be NULL.
                                Built-in stores understand sync=always|batch|none,
                                batch_window=<us>, recovery=strict|tolerate_torn_tail|
                                point_in_time|salvage, capacity=<bytes>. */
} fl_store_env;

/* What recovery found when the store was opened. */
typedef struct fl_store_recovery {
    uint64_t records_ok;        /* records recovered intact */
    uint64_t records_dropped;   /* records (or whole entries) dropped as damaged */
    uint64_t bytes_dropped;     /* bytes truncated or skipped */
    uint64_t bytes_quarantined; /* bytes copied to a quarantine file */
    char text[256];             /* human summary, "" when nothing was dropped */
} fl_store_recovery;

/* Called once per file a store uses, in a stable order. */
typedef int (*fl_store_file_fn)(void *arg, const char *path);

/* --- publish store ---------------------------------------------------- */

/* A stored outgoing message. Pointers are borrowed. */
typedef struct fl_pub_msg {
    uint64_t sequence;
    const char *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
} fl_pub_msg;

/* Return non-zero to stop a replay early (replay then returns 0). */
typedef int (*fl_pub_replay_fn)(void *arg, const fl_pub_msg *msg);

typedef struct fl_pubstore_ops {
    int version; /* FL_STORE_ABI_VERSION */
    const char *name;

    /* Open or create the store; recovery runs here. *self_out receives the
     * instance. `recovery` (may be NULL) receives what recovery dropped.
     * On failure nothing is allocated and `err` (may be NULL) holds a
     * message. FL_E_DAMAGED when the recovery mode refuses the damage found. */
    int (*open)(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                size_t errcap);
    /* Close and free. Flushes what the sync policy promises. Never fails. */
    void (*close)(void *self);

    /* Store `msg`. msg->sequence must be greater than last_sequence()
     * (FL_E_INVAL otherwise). Durable on return when the sync policy is
     * `always`; with `batch` durable within the batch window; with `none`
     * it survives a process crash only. FL_E_FULL when the capacity is
     * reached (nothing stored); any other error except FL_E_SYNC_FAILED
     * stores nothing either.
     *
     * FL_E_SYNC_FAILED means OUTCOME UNKNOWN: the handle is poisoned, and
     * after the store is reopened the message either is in it, intact
     * under msg->sequence (it will then be replayed and republished like
     * any stored message), or is not -- never a different or damaged
     * message under that sequence. Whoever called store() must find out
     * after the reopen (replay_one(msg->sequence) answers it, before any
     * discard) rather than assume either outcome. */
    int (*store)(void *self, const fl_pub_msg *msg);
    /* Forget every message with sequence <= seq (the broker persisted them).
     * Discarding nothing is fine. Need not be durable on return: a message
     * that reappears after a crash is republished and deduplicated. */
    int (*discard_up_to)(void *self, uint64_t seq);
    /* Call fn for every stored message, ascending by sequence. */
    int (*replay)(void *self, fl_pub_replay_fn fn, void *arg);
    /* Call fn for the message with this sequence; FL_E_NOT_FOUND if absent. */
    int (*replay_one)(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg);
    /* Number of stored (not discarded) messages. */
    uint64_t (*unpersisted_count)(void *self);
    /* The highest sequence ever stored, even if since discarded; survives
     * restarts and prunes, so sequences are never reused. 0 if none ever.
     * A store that survives a reopen (file, sqlite, durable plugins) must
     * also keep this promise across a crash or a power loss whatever its
     * sync policy: last_sequence after reopen is >= every sequence returned
     * by a successful store() call before the crash or power loss, even if
     * the message itself was lost (under batch/none). It may be higher than
     * any message that survived: the built-in stores reserve sequences in
     * blocks (a synced record "sequences up to R may have been handed out",
     * written before the first store above the previous R, one sync per
     * block; not needed under `always`), and after a reopen last_sequence
     * is R, so sequences continue above the block and may jump. */
    uint64_t (*last_sequence)(void *self);
    /* The lowest stored sequence, 0 if the store is empty. */
    uint64_t (*lowest_unpersisted)(void *self);
    /* Make everything stored so far durable now (whatever the policy). */
    int (*flush)(void *self);
    /* List the store's files (for fault injection and reports). */
    int (*list_files)(void *self, fl_store_file_fn fn, void *arg);
    /* The last error's detail text ("" if none). Never NULL. */
    const char *(*last_error)(void *self);
} fl_pubstore_ops;

/* --- bookmark store --------------------------------------------------- */

/* A bookmark in binary form: publisher id, publisher's sequence, broker
 * receipt timestamp (UTC microseconds, -1 if unknown). */
typedef struct fl_store_bookmark {
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;
} fl_store_bookmark;

typedef struct fl_bmstore_ops {
    int version; /* FL_STORE_ABI_VERSION */
    const char *name;

    int (*open)(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                size_t errcap);
    void (*close)(void *self);

    /* Record that `bm` was received on `sub_id`. Returns 1 if the message is
     * a duplicate (already discarded, or at/below the publisher's highest
     * seen sequence and unknown to the store) and must not be delivered;
     * 0 if it is new and was logged. */
    int (*log)(void *self, const char *sub_id, const fl_store_bookmark *bm);
    /* Mark `bm` processed. Discarding an unknown bookmark is a no-op. Durable
     * per the sync policy, like pubstore store(). */
    int (*discard)(void *self, const char *sub_id, const fl_store_bookmark *bm);
    /* 1 if `bm` was discarded on `sub_id`, 0 if not. */
    int (*is_discarded)(void *self, const char *sub_id, const fl_store_bookmark *bm);
    /* Write the resume point of `sub_id` as bookmark text into buf (NUL
     * terminated): for each publisher the highest discarded bookmark such that
     * every earlier logged one is discarded too, comma-separated in ascending
     * publisher-id order; "0" (EPOCH) for a sub id the store has never seen.
     * Returns the text length, or FL_E_OVERFLOW if cap is too small (call
     * again with a larger buffer). */
    int (*most_recent)(void *self, const char *sub_id, char *buf, size_t cap);
    /* The broker says everything up to `bm` is durable on its side. */
    int (*persisted)(void *self, const char *sub_id, const fl_store_bookmark *bm);
    /* Rewrite storage without dead entries (never changes answers). */
    int (*prune)(void *self);
    /* Forget sub_id entirely (NULL: every sub id). */
    int (*purge)(void *self, const char *sub_id);
    int (*flush)(void *self);
    int (*list_files)(void *self, fl_store_file_fn fn, void *arg);
    const char *(*last_error)(void *self);
} fl_bmstore_ops;

/* --- plugins ---------------------------------------------------------- */

/* A plugin shared object exports one function named FL_STORE_PLUGIN_SYMBOL
 * returning a pointer to a static fl_store_plugin. Either ops pointer may be
 * NULL when the plugin offers only one kind of store. */
typedef struct fl_store_plugin {
    int version; /* FL_STORE_ABI_VERSION */
    const char *name;
    const fl_pubstore_ops *pubstore;
    const fl_bmstore_ops *bmstore;
} fl_store_plugin;

#define FL_STORE_PLUGIN_SYMBOL "fl_store_plugin_v1"
typedef const fl_store_plugin *(*fl_store_plugin_entry_fn)(void);

/* --- built-in stores -------------------------------------------------- */

extern const fl_pubstore_ops fl_pubstore_none; /* keeps nothing */
extern const fl_pubstore_ops fl_pubstore_memory;
extern const fl_pubstore_ops fl_pubstore_file;
extern const fl_bmstore_ops fl_bmstore_memory;
extern const fl_bmstore_ops fl_bmstore_file;
extern const fl_pubstore_ops fl_pubstore_sqlite; /* SQLite in WAL mode */
extern const fl_bmstore_ops fl_bmstore_sqlite;

/* Look up a built-in store by name ("none", "memory", "file", "sqlite");
 * NULL if unknown. */
const fl_pubstore_ops *fl_pubstore_builtin(const char *name);
const fl_bmstore_ops *fl_bmstore_builtin(const char *name);

/* Load a plugin with dlopen and check its version. On failure returns NULL
 * and writes the reason into err. The handle stays loaded for the process. */
const fl_store_plugin *fl_store_plugin_load(const char *path, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif
