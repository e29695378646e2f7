/* The reference HA client: a C version of the AMPS HAClient concepts.
 *
 * One fl_client is one named application connection that stays connected
 * on its own: a server chooser names the broker, a delay strategy paces the
 * attempts, a publish store keeps what was published until the broker
 * persisted it, a bookmark store remembers what each bookmark subscription
 * received and processed, and a subscription manager re-enters every
 * subscription after a reconnect. The client runs on an fl_runtime (the
 * simulation or libevent) and never calls the OS or the clock directly.
 *
 * Threading and callbacks. Everything happens on the runtime's loop, one
 * thread. No client callback runs inside an fl_client_* call: effects of a
 * call that the application hears about (the shut-down state after
 * fl_client_disconnect, a flush that is already complete, messages held
 * back by max_pending) are reported from the loop, on a later turn. A
 * callback may call any fl_client_* function except fl_client_free (free
 * the client from outside its callbacks). Every pointer handed to a
 * callback is borrowed for that call only, except fl_message (see below).
 *
 * Connection states, reported in this order by the state callback during a
 * (re)connect: CONNECTED (transport open), LOGGED_ON (logon acked),
 * PUBLISH_REPLAYED (publish store discarded up to the logon ack's sequence
 * and the rest re-sent), HEARTBEAT_INITIATED (only when heartbeats are on),
 * RESUBSCRIBED (every subscription re-entered). DISCONNECTED when an
 * attempt or a session is lost (the reconnect loop goes on by itself),
 * SHUT_DOWN after fl_client_disconnect, GAVE_UP when the loop stopped (the
 * error callback follows with FL_E_GAVE_UP or FL_E_TIMEOUT and a text that
 * includes the chooser's description).
 *
 * Flow control (max_pending). A subscription delivers at most max_pending
 * messages that the application has not yet discarded. Beyond that the
 * client holds further deliveries in a per-subscription queue (in memory)
 * and hands them over, in order, as the application discards. The subscribe
 * frame carries max_pending so a broker may also bound what it sends, but
 * the client does not depend on it. Held messages of a bookmark
 * subscription are not logged to the bookmark store until delivered; if
 * the connection is lost they are dropped and come back with the replay
 * from the resume point. Held live messages are kept across reconnects.
 *
 * Reconnect pacing. The delay strategy is reset (its next wait 0 again)
 * only once a session has stayed up for `stable_after` (default 1 s,
 * fl_client_set_stable_after), not at every logon as in AMPS: a broker
 * that accepts logons and drops every session right after is retried at
 * the strategy's pace (fixed delay, growing exponential backoff, and
 * max_total_us keeps running, so such a flapping server can make the
 * client give up), never in a hot loop. A session lost after stable_after
 * starts a fresh sequence whose first attempt waits 0.
 *
 * Back-pressure. When the publish store reports FL_E_FULL, fl_client_publish
 * returns FL_E_FULL, stores and sends nothing and uses no sequence number;
 * the capacity callback then reports FL_CAPACITY_FULL (from the loop) and,
 * once a persisted ack has freed space, FL_CAPACITY_AVAILABLE: publish
 * again then. The client never queues a publish the store refused.
 *
 * Every API call and every callback is recorded with fl_rt_trace(rt,
 * "client", event, fields) with the client's name in the fields.
 */
#ifndef FAULTLINE_CLIENT_H
#define FAULTLINE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/chooser.h"
#include "faultline/delay.h"
#include "faultline/runtime.h"
#include "faultline/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_client fl_client;

typedef enum fl_client_state {
    FL_CLIENT_DISCONNECTED = 0,
    FL_CLIENT_CONNECTED = 1,
    FL_CLIENT_LOGGED_ON = 2,
    FL_CLIENT_PUBLISH_REPLAYED = 3,
    FL_CLIENT_HEARTBEAT_INITIATED = 4,
    FL_CLIENT_RESUBSCRIBED = 5,
    FL_CLIENT_SHUT_DOWN = 6,
    FL_CLIENT_GAVE_UP = 7,
} fl_client_state;

/* What a bookmark subscription does when the broker says its resume point
 * has expired (failed subscribe ack, reason bookmark_expired). In every case
 * the gap callback runs first. */
typedef enum fl_replay_fallback {
    FL_FALLBACK_DEFAULT = 0, /* subscriptions only: use the client's policy */
    FL_FALLBACK_FAIL = 1,    /* error callback FL_E_BOOKMARK_EXPIRED; subscription dropped */
    FL_FALLBACK_EPOCH = 2,   /* resubscribe from "0": duplicates possible */
    FL_FALLBACK_NOW = 3,     /* resubscribe from "0|1|": messages skipped */
} fl_replay_fallback;

/* Capacity callback events. */
enum {
    FL_CAPACITY_FULL = 1,      /* a publish was refused with FL_E_FULL */
    FL_CAPACITY_AVAILABLE = 2, /* a persisted ack freed space after FULL */
};

/* A delivered message. Owned by the client; valid from the message callback
 * until the application passes it to fl_client_discard (which frees it) or
 * frees the client. Every delivered message should be discarded: it counts
 * against max_pending until then, and for bookmark subscriptions an
 * undiscarded message pins the resume point. */
typedef struct fl_message {
    const char *topic;  /* NUL-terminated */
    const char *sub_id; /* NUL-terminated */
    fl_store_bookmark bookmark;
    const uint8_t *payload;
    size_t payload_len;
} fl_message;

/* What the gap callback reports: a bookmark subscription could not resume
 * where it wanted. `requested` is the bookmark text the client asked for;
 * `resumed_from` the fallback it subscribed with instead (NULL for FAIL). */
typedef struct fl_gap_info {
    const char *sub_id;
    const char *topic;
    const char *requested;
    const char *resumed_from;
    int policy; /* fl_replay_fallback actually applied */
    int reason; /* FL_E_BOOKMARK_EXPIRED */
} fl_gap_info;

/* Client-wide callbacks; any may be NULL. All run from the loop. */
typedef struct fl_client_callbacks {
    void *arg; /* first argument of every callback below */
    /* A connection state change (fl_client_state). */
    void (*state)(void *arg, fl_client *c, int state);
    /* Something the application must know: gave up (FL_E_GAVE_UP,
     * FL_E_TIMEOUT), an expired bookmark with FAIL (FL_E_BOOKMARK_EXPIRED),
     * a refused subscription, a store error. `text` is a one-line detail. */
    void (*error)(void *arg, fl_client *c, int err, const char *text);
    /* The broker refused a stored publish (err FL_E_DUPLICATE or
     * FL_E_NOT_ENTITLED...). `msg` is the stored message (topic NULL if the
     * store no longer holds it, sequence always set). The message leaves the
     * store once every earlier message has been persisted or failed. */
    void (*failed_write)(void *arg, fl_client *c, int err, const fl_pub_msg *msg);
    /* A bookmark subscription received a message the bookmark store already
     * saw (after a replay); it was not delivered. */
    void (*duplicate)(void *arg, fl_client *c, const char *sub_id, const fl_store_bookmark *bm);
    /* A bookmark subscription could not resume: always reported, whatever
     * the replay_fallback policy. */
    void (*gap)(void *arg, fl_client *c, const fl_gap_info *gap);
    /* Publish store capacity (FL_CAPACITY_*); `unpersisted` is the store's
     * current count. */
    void (*capacity)(void *arg, fl_client *c, int event, uint64_t unpersisted);
    /* A `completed` ack: a range subscription ended (it is not re-entered
     * after reconnects; held messages are still delivered), or a plain
     * bookmark replay caught up. */
    void (*completed)(void *arg, fl_client *c, const char *sub_id);
} fl_client_callbacks;

#define FL_CLIENT_OPTIONS_VERSION 1

/* Default of fl_client_set_stable_after: 1 s. */
#define FL_CLIENT_STABLE_AFTER_DEFAULT_US 1000000u

/* Client options. The _INIT values are the defaults. */
typedef struct fl_client_options {
    int version;                    /* FL_CLIENT_OPTIONS_VERSION */
    uint64_t heartbeat_us;          /* asked of the broker at logon; 0 = off */
    uint64_t idle_timeout_us;       /* silence that kills a session; 0 = 2 x heartbeat */
    uint64_t connection_timeout_us; /* give up after this long without a session; 0 = never */
    uint64_t attempt_timeout_us;    /* one attempt (connect + logon); default 10 s; 0 = none */
    uint32_t max_pending;           /* per subscription default; 0 = unbounded */
    int replay_fallback;            /* fl_replay_fallback; default FAIL */
    size_t max_frame;               /* largest frame accepted; 0 = wire default */
    fl_client_callbacks cb;
} fl_client_options;

#define FL_CLIENT_OPTIONS_INIT                                                                     \
    {                                                                                              \
        FL_CLIENT_OPTIONS_VERSION, 0, 0, 0, 10000000, 0, FL_FALLBACK_FAIL, 0,                      \
        {                                                                                          \
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL                                         \
        }                                                                                          \
    }

/* Message handler of one subscription. `msg` is owned by the client (see
 * fl_message); pass it to fl_client_discard when processed. */
typedef void (*fl_message_fn)(void *arg, fl_client *c, const fl_message *msg);

#define FL_SUB_OPTIONS_VERSION 1

typedef struct fl_sub_options {
    int version;          /* FL_SUB_OPTIONS_VERSION */
    const char *topic;    /* required */
    const char *sub_id;   /* required, unique within the client; keep it
                             stable across restarts to resume */
    const char *bookmark; /* NULL: live; else a bookmark, list, "recent", or
                             a range "[b:e)" (see bookmark.h) */
    uint32_t options;     /* FL_SUB_* (wire.h), e.g. FL_SUB_COMPLETED */
    uint32_t max_pending; /* 0: the client's default */
    int replay_fallback;  /* FL_FALLBACK_DEFAULT: the client's */
    fl_message_fn fn;     /* required */
    void *arg;
} fl_sub_options;

#define FL_SUB_OPTIONS_INIT                                                                        \
    {                                                                                              \
        FL_SUB_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, FL_FALLBACK_DEFAULT, NULL, NULL            \
    }

/* Counters for tests and reports. */
typedef struct fl_client_stats {
    uint64_t published;      /* accepted by fl_client_publish */
    uint64_t republished;    /* frames re-sent from the store after logon */
    uint64_t persisted_acks; /* successful persisted acks for publishes */
    uint64_t failed_writes;
    uint64_t delivered; /* messages handed to handlers */
    uint64_t discarded;
    uint64_t duplicates; /* filtered by the bookmark store */
    uint64_t gaps;
    uint64_t held;     /* messages currently held back by max_pending */
    uint64_t attempts; /* connection attempts started */
    uint64_t sessions; /* logons that succeeded */
    uint64_t stalls;   /* sessions killed by the idle timeout */
    uint64_t next_sequence;
} fl_client_stats;

/* Create a client named `name` (1..255 bytes, no NUL; it is the publisher
 * identity, keep it stable across restarts) on `rt`, which must outlive the
 * client. opts NULL means FL_CLIENT_OPTIONS_INIT. The client starts with
 * the default exponential delay strategy and an empty round-robin chooser.
 * 0, FL_E_INVAL, FL_E_NOMEM; *out written on success only. */
int fl_client_new(const fl_runtime *rt, const char *name, const fl_client_options *opts,
                  fl_client **out);

/* Close the connection, cancel every timer, free every subscription,
 * outstanding message, the chooser and the delay strategy. No callback runs
 * (pending flush callbacks never run). The stores stay open: they are the
 * caller's. NULL is a no-op. Not from inside a client callback. */
void fl_client_free(fl_client *c);

/* --- configuration: only while not connecting (new, shut down or gave up),
 *     else FL_E_STATE --- */

/* Use an opened publish store (ops + the instance from ops->open). The
 * store is borrowed: close it after fl_client_free. Sequence numbers
 * continue after the store's last_sequence. ops NULL removes the store.
 * FL_E_BAD_VERSION for a version 0 or newer than FL_STORE_ABI_VERSION. */
int fl_client_set_publish_store(fl_client *c, const fl_pubstore_ops *ops, void *self);

/* Use an opened bookmark store (borrowed, as above). */
int fl_client_set_bookmark_store(fl_client *c, const fl_bmstore_ops *ops, void *self);

/* Replace the server chooser. On success the client owns the instance (it
 * frees the previous one and this one at fl_client_free); on failure it
 * stays the caller's. */
int fl_client_set_chooser(fl_client *c, const fl_chooser *ch);

/* Replace the delay strategy; ownership as for the chooser. */
int fl_client_set_delay(fl_client *c, const fl_delay *d);

/* Heartbeat interval asked of the broker, and the idle timeout after which
 * a silent session is closed and the reconnect loop runs (0: 2 x interval). */
int fl_client_set_heartbeat(fl_client *c, uint64_t interval_us, uint64_t idle_timeout_us);
int fl_client_set_connection_timeout(fl_client *c, uint64_t timeout_us);

/* How long a session must stay up (from the logon ack) before the
 * reconnect sequence counts as a success and the delay strategy is reset
 * (see "Reconnect pacing"). 0 resets at the logon ack itself (the AMPS
 * behaviour, which hot-loops against a broker that drops every session).
 * Default FL_CLIENT_STABLE_AFTER_DEFAULT_US. */
int fl_client_set_stable_after(fl_client *c, uint64_t stable_after_us);
int fl_client_set_max_pending(fl_client *c, uint32_t max_pending);
int fl_client_set_replay_fallback(fl_client *c, int policy);

/* --- connection --- */

/* Start the reconnect loop: chooser -> delay wait -> connect -> logon ->
 * republish -> resubscribe. Returns at once; progress arrives through the
 * state callback. Resets the delay strategy. FL_E_STATE if already
 * connecting or connected. */
int fl_client_connect(fl_client *c);

/* Close the session (or stop the loop) for good; subscriptions stay
 * registered (a later fl_client_connect re-enters them). Pending flushes
 * complete with FL_E_SHUTDOWN. The SHUT_DOWN state is reported from the
 * loop. FL_E_STATE if already shut down or never connected. */
int fl_client_disconnect(fl_client *c);

/* The last state reported (or about to be reported). */
int fl_client_state_get(const fl_client *c);

/* Name of a state ("logged_on"); "unknown" for others. Never NULL. */
const char *fl_client_state_name(int state);

/* --- publishing --- */

/* Publish payload[0..len) on `topic`. The message is stored in the publish
 * store (if any) and sent when a session is up; *seq_out (may be NULL)
 * receives its sequence number. Sequence numbers never go backwards: they
 * start above max(store last_sequence, the logon ack's sequence). Without a
 * publish store and without a session: FL_E_DISCONNECTED. FL_E_FULL: see
 * "Back-pressure" above. FL_E_INVAL (empty topic), FL_E_FRAME_TOO_LARGE.
 * Except as below, on failure *seq_out is untouched and no sequence is used.
 *
 * FL_E_SYNC_FAILED: the publish store's sync failed, the OUTCOME IS UNKNOWN
 * (store.h, store()). *seq_out still receives the sequence assigned to the
 * message (it is never handed out again); nothing was sent, and the store
 * is poisoned: every later publish fails the same way until the
 * application closes and reopens the store (recovery) and restarts the
 * client with it. After that reopen the message either is in the store
 * under that sequence -- it is then republished at the next logon, so the
 * application must NOT publish it again -- or is not, and the application
 * publishes it again (it gets a new sequence). The store's
 * replay_one(sequence) tells which, before the client connects. This is
 * the idempotent-producer rule: remember (message, sequence) for a publish
 * whose outcome is unknown. */
int fl_client_publish(fl_client *c, const char *topic, const void *payload, size_t len,
                      uint64_t *seq_out);

typedef void (*fl_flush_fn)(void *arg, fl_client *c, int result);

/* Call fn(arg, c, result) from the loop once the publish store's
 * unpersisted count is 0 (result 0), or after timeout_us (FL_E_TIMEOUT;
 * 0 = no timeout), or at fl_client_disconnect (FL_E_SHUTDOWN). Never inside
 * this call, even when nothing is unpersisted. FL_E_INVAL (fn NULL). */
int fl_client_publish_flush(fl_client *c, uint64_t timeout_us, fl_flush_fn fn, void *arg);

/* Messages in the publish store not yet persisted by the broker. */
uint64_t fl_client_unpersisted_count(const fl_client *c);

/* --- subscribing --- */

/* Register a subscription and send it when a session is up. A bookmark
 * subscription logs every delivered message to the bookmark store, filters
 * duplicates and resumes from the store's MOST_RECENT after reconnects (a
 * range resumes with an exclusive begin). 0, FL_E_INVAL (missing topic,
 * sub_id or fn), FL_E_BAD_BOOKMARK / FL_E_BAD_RANGE / FL_E_BAD_TIMESTAMP
 * (bookmark text), FL_E_BUSY (sub_id in use), FL_E_NOMEM. */
int fl_client_subscribe(fl_client *c, const fl_sub_options *opts);

/* Remove a subscription (and tell the broker when a session is up). Its
 * held messages are dropped; delivered ones stay valid until discarded.
 * FL_E_NOT_FOUND. */
int fl_client_unsubscribe(fl_client *c, const char *sub_id);

/* The application processed `msg`: mark it discarded in the bookmark store
 * (bookmark subscriptions), free it, and let a held message through.
 * FL_E_NOT_FOUND if msg is not an outstanding message of this client. */
int fl_client_discard(fl_client *c, const fl_message *msg);

/* Prune the bookmark store (rewrite without dead entries). FL_E_STATE
 * without a bookmark store. */
int fl_client_prune(fl_client *c);

/* --- introspection --- */

const char *fl_client_name(const fl_client *c);
void fl_client_get_stats(const fl_client *c, fl_client_stats *out);

#ifdef __cplusplus
}
#endif
#endif
