/* The scenario file loader: JSON text -> a fully defaulted, typed
 * sim_scenario, with strict validation and positioned error messages.
 *
 * The format is specified in shared/scenario-format.md and
 * scenarios/schema.json. Unknown keys are errors (with a "did you mean"
 * suggestion), references between parts (servers, replicate_to, fault
 * targets and triggers, expect.delivered) are resolved to indices, and every
 * default is filled in, so the runner never looks at JSON.
 *
 * Conventions of the loaded struct:
 * - Brokers and clients are sorted by name (strcmp order); every reference
 *   to one is an index into sc->brokers / sc->clients. Faults keep file order.
 * - Every time (`at`, `start` of workloads, ...) is microseconds since
 *   virtual zero (absolute timestamps are converted using sc->start_unix_us);
 *   every duration is microseconds; sizes are bytes.
 * - Optional values without a default have a `has_` flag.
 * - All strings are owned by the scenario and freed by sim_scenario_free().
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include "broker_policy.h"
#include "units.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- enums (each has a name table: sim_scenario_enum_name(); the broker
 * policies sim_expired_policy, sim_repl_mode and sim_dup_logon are in
 * broker_policy.h) --- */

typedef enum sim_recovery_mode {
    SIM_RECOVERY_STRICT,
    SIM_RECOVERY_TOLERATE_TORN_TAIL,
    SIM_RECOVERY_POINT_IN_TIME,
    SIM_RECOVERY_SALVAGE,
} sim_recovery_mode;

typedef enum sim_store_type {
    SIM_STORE_NONE, /* publish store only */
    SIM_STORE_MEMORY,
    SIM_STORE_FILE,
    SIM_STORE_SQLITE,
    SIM_STORE_PLUGIN,
} sim_store_type;

typedef enum sim_sync_policy {
    SIM_SYNC_ALWAYS,
    SIM_SYNC_BATCH,
    SIM_SYNC_NONE,
} sim_sync_policy;

typedef enum sim_delay_type {
    SIM_DELAY_FIXED,
    SIM_DELAY_EXPONENTIAL,
} sim_delay_type;

typedef enum sim_discard_mode {
    SIM_DISCARD_IMMEDIATE,
    SIM_DISCARD_DELAY,
    SIM_DISCARD_NEVER,
} sim_discard_mode;

typedef enum sim_replay_fallback {
    SIM_FALLBACK_FAIL,
    SIM_FALLBACK_EPOCH,
    SIM_FALLBACK_NOW,
} sim_replay_fallback;

typedef enum sim_fault_kind {
    SIM_FAULT_DISCONNECT,
    SIM_FAULT_STALL,
    SIM_FAULT_PARTITION,
    SIM_FAULT_LATENCY,
    SIM_FAULT_DROP_ACKS,
    SIM_FAULT_CRASH_CLIENT,
    SIM_FAULT_POWER_LOSS_CLIENT,
    SIM_FAULT_CRASH_BROKER,
    SIM_FAULT_POWER_LOSS_BROKER,
    SIM_FAULT_FAILOVER,
    SIM_FAULT_CORRUPT_FILE,
    SIM_FAULT_DISK_FULL,
    SIM_FAULT_IO_ERROR,
    SIM_FAULT_ADVANCE_CLOCK,
    SIM_FAULT_SLOW_SYNC, /* added after the others: existing values keep their numbers */
} sim_fault_kind;

typedef enum sim_event {
    SIM_EVENT_PUBLISH,
    SIM_EVENT_PERSISTED_ACK,
    SIM_EVENT_DELIVERY,
    SIM_EVENT_DISCARD,
    SIM_EVENT_LOGON,
    SIM_EVENT_RECONNECT_ATTEMPT,
    SIM_EVENT_STORE_WRITE,
    SIM_EVENT_STORE_SYNC,
    SIM_EVENT_JOURNAL_WRITE,
    SIM_EVENT_JOURNAL_SYNC,
    SIM_EVENT_REPLICATION,
} sim_event;

typedef enum sim_target_sort {
    SIM_TARGET_NONE, /* advance_clock */
    SIM_TARGET_CLIENT,
    SIM_TARGET_BROKER,
} sim_target_sort;

typedef enum sim_ack_type {
    SIM_ACK_PERSISTED,
    SIM_ACK_LOGON,
    SIM_ACK_COMPLETED,
} sim_ack_type;

typedef enum sim_file_kind {
    SIM_FILE_PUBLISH_STORE,
    SIM_FILE_BOOKMARK_STORE,
    SIM_FILE_JOURNAL,
} sim_file_kind;

typedef enum sim_corrupt_mode {
    SIM_CORRUPT_BIT_FLIP,
    SIM_CORRUPT_TRUNCATE,
    SIM_CORRUPT_TEAR_LAST_RECORD,
    SIM_CORRUPT_ZERO_SECTOR,
} sim_corrupt_mode;

typedef enum sim_offset_kind {
    SIM_OFFSET_BYTES,
    SIM_OFFSET_MIDDLE,
    SIM_OFFSET_TAIL,
} sim_offset_kind;

typedef enum sim_io_op {
    SIM_IO_READ,
    SIM_IO_WRITE,
    SIM_IO_SYNC,
} sim_io_op;

/* Checkers, as bits for expect.checks / expect.violations. */
typedef enum sim_check {
    SIM_CHECK_NO_LOSS = 1u << 0,
    SIM_CHECK_ACK_HONESTY = 1u << 1,
    SIM_CHECK_NO_DUPLICATES = 1u << 2,
    SIM_CHECK_ORDER = 1u << 3,
    SIM_CHECK_RANGE_EXACT = 1u << 4,
    SIM_CHECK_GAPS_REPORTED = 1u << 5,
    SIM_CHECK_LIVENESS = 1u << 6,
    SIM_CHECK_UNPERSISTED_ZERO = 1u << 7,
} sim_check;
#define SIM_CHECK_COUNT 8
#define SIM_CHECK_ALL   0xFFu

/* Which enum a name table belongs to, for sim_scenario_enum_name(). */
typedef enum sim_enum_id {
    SIM_ENUM_RECOVERY,
    SIM_ENUM_EXPIRED,
    SIM_ENUM_REPL_MODE,
    SIM_ENUM_DUP_LOGON,
    SIM_ENUM_STORE_TYPE,
    SIM_ENUM_SYNC,
    SIM_ENUM_DELAY_TYPE,
    SIM_ENUM_REPLAY_FALLBACK,
    SIM_ENUM_FAULT_KIND,
    SIM_ENUM_EVENT,
    SIM_ENUM_ACK_TYPE,
    SIM_ENUM_FILE,
    SIM_ENUM_CORRUPT_MODE,
    SIM_ENUM_IO_OP,
    SIM_ENUM_CHECK, /* value = bit index (0 = no_loss) */
} sim_enum_id;

/* --- brokers --- */

typedef struct sim_topic {
    char *name;
    bool journal; /* default false (a topic not listed is not journaled) */
} sim_topic;

typedef struct sim_journal_cfg {
    uint64_t segment_size;   /* bytes, default 64MiB */
    uint64_t segment_age_us; /* default 1h */
    bool has_retention;      /* false: "none" (default) */
    uint64_t retention_us;
    uint64_t sync_interval_us;  /* default 0 */
    sim_recovery_mode recovery; /* default point_in_time */
} sim_journal_cfg;

typedef struct sim_replica {
    size_t broker; /* index into sc->brokers, never the broker itself */
    sim_repl_mode mode;
    uint64_t lag_us; /* default 0; only async may set it */
} sim_replica;

typedef struct sim_credential {
    size_t client; /* index into sc->clients */
    char *password;
} sim_credential;

typedef struct sim_broker_spec {
    char *name;
    sim_topic *topics; /* sorted by name */
    size_t ntopics;
    sim_journal_cfg journal;
    uint64_t ack_interval_us;            /* default 1s */
    uint64_t heartbeat_us;               /* default 3s */
    sim_expired_policy expired_bookmark; /* default now */
    sim_replica *replicate_to;           /* file order */
    size_t nreplicate_to;
    bool has_credentials;        /* false: no credentials checked */
    sim_credential *credentials; /* sorted by client name */
    size_t ncredentials;
    sim_dup_logon duplicate_logon; /* default refuse */
    bool down;                     /* default false */
} sim_broker_spec;

/* --- clients --- */

typedef struct sim_store_cfg {
    sim_store_type type;        /* default memory */
    sim_sync_policy sync;       /* default batch */
    uint64_t batch_window_us;   /* default 1ms */
    sim_recovery_mode recovery; /* default point_in_time */
    bool has_capacity;          /* false: unbounded */
    uint64_t capacity;          /* bytes */
    char *plugin;               /* type plugin only (required there) */
    char *options;              /* NULL if absent */
} sim_store_cfg;

typedef struct sim_delay_cfg {
    sim_delay_type type; /* default exponential */
    uint64_t delay_us;   /* fixed: default 200ms */
    uint64_t initial_us; /* exponential: default 200ms */
    double exponent;     /* default 2.0 */
    uint64_t max_us;     /* default 20s */
    double jitter;       /* default 1.0 */
    bool has_max_retry;  /* both types; false: "none" (default) */
    uint64_t max_retry_us;
} sim_delay_cfg;

typedef struct sim_publish {
    char *topic;
    uint64_t size; /* bytes, default 100B */
    /* rate form (nat == 0): count messages at rate from start */
    uint64_t count;
    sim_rate rate;
    uint64_t start_us; /* default 0 */
    /* explicit form: one message at each time, in file order */
    uint64_t *at_us;
    size_t nat;
} sim_publish;

typedef struct sim_subscribe {
    char *topic;
    char *sub_id;      /* unique within the client */
    char *bookmark;    /* NULL: live subscription; else the text as written */
    uint64_t start_us; /* default 0 */
    bool has_stop;
    uint64_t stop_us;          /* > start_us */
    sim_discard_mode discard;  /* default immediate */
    uint64_t discard_delay_us; /* SIM_DISCARD_DELAY */
    uint64_t *never;           /* SIM_DISCARD_NEVER: 0-based message indices, sorted, unique */
    size_t nnever;
    bool has_max_pending;
    uint64_t max_pending;                /* >= 1 */
    sim_replay_fallback replay_fallback; /* default fail */
} sim_subscribe;

typedef struct sim_flush {
    uint64_t at_us;
    uint64_t timeout_us; /* default 0: wait forever */
} sim_flush;

typedef struct sim_client {
    char *name;
    size_t *servers; /* indices into sc->brokers, chooser order; >= 1 */
    size_t nservers;
    char *password; /* NULL if absent */
    sim_store_cfg publish_store;
    sim_store_cfg bookmark_store;
    sim_delay_cfg delay;
    bool has_heartbeat;
    uint64_t hb_interval_us;
    uint64_t hb_idle_timeout_us; /* default 2 x interval */
    bool has_connection_timeout;
    uint64_t connection_timeout_us;
    uint64_t link_latency_us; /* default 100us */
    uint64_t link_jitter_us;  /* default 0 */
    bool has_bandwidth;
    sim_rate bandwidth; /* bytes per per_us */
    sim_publish *publish;
    size_t npublish;
    sim_subscribe *subscribe;
    size_t nsubscribe;
    sim_flush *flush;
    size_t nflush;
} sim_client;

/* --- faults --- */

typedef struct sim_fault {
    sim_fault_kind kind;
    sim_target_sort target_sort; /* NONE only for advance_clock */
    size_t target;               /* index into clients or brokers */
    /* when: at a time, or on the count-th event of a client or broker */
    bool has_at;
    uint64_t at_us;
    sim_event on_event;
    sim_target_sort on_sort;
    size_t on_index;
    uint64_t on_count; /* default 1 */
    bool optional;     /* `optional`: the run need not see it fire (default false) */
    /* kind-specific (zero when not applicable) */
    bool has_for; /* the kinds that take `for`; false: until the end */
    uint64_t for_us;
    size_t *from; /* partition: broker indices; nfrom == 0 means all */
    size_t nfrom;
    uint64_t add_us;    /* latency, slow_sync (required) */
    uint64_t jitter_us; /* latency, default 0 */
    bool has_count;     /* drop_acks: drop this many acks instead of `for` */
    uint64_t count;
    sim_ack_type ack_type;       /* drop_acks, default persisted */
    uint64_t restart_after_us;   /* crash_client, power_loss_client; default 1s */
    uint64_t down_for_us;        /* crash_broker, power_loss_broker; default 1s */
    sim_file_kind file;          /* corrupt_file (required) */
    sim_corrupt_mode mode;       /* corrupt_file, default bit_flip */
    sim_offset_kind offset_kind; /* corrupt_file, default middle */
    uint64_t offset;             /* SIM_OFFSET_BYTES */
    uint64_t bytes;              /* corrupt_file, default 1 */
    sim_io_op op;                /* io_error (required) */
    uint64_t nth;                /* io_error, default 1 */
    bool persistent;             /* io_error, default false */
    uint64_t by_us;              /* advance_clock (required) */
} sim_fault;

/* --- expect --- */

typedef struct sim_expect_error {
    char *name; /* e.g. "bookmark_expired" */
    int code;   /* the matching FL_E_* code */
    bool has_client;
    size_t client;
    bool has_after;
    uint64_t after_us;
    bool has_before;
    uint64_t before_us;
} sim_expect_error;

typedef struct sim_expect_delivered {
    size_t client;    /* index into sc->clients */
    size_t subscribe; /* index into that client's subscribe[] */
    uint64_t count;
} sim_expect_delivered;

typedef struct sim_expect {
    bool has_checks;     /* false: all checks that apply (default) */
    uint32_t checks;     /* SIM_CHECK_* bits */
    uint32_t violations; /* must fire; disjoint from checks */
    sim_expect_error *errors;
    size_t nerrors;
    bool has_delivered;
    sim_expect_delivered *delivered; /* sorted by "client/sub_id" */
    size_t ndelivered;
    uint64_t recovery_us; /* default 30s */
} sim_expect;

typedef struct sim_scenario {
    char *source; /* the file name given to the loader */
    char *name;
    char *description;     /* default "" */
    uint64_t seed;         /* default 1 */
    int64_t start_unix_us; /* default 2020-01-01T00:00:00Z */
    uint64_t duration_us;
    sim_broker_spec *brokers; /* sorted by name, >= 1 */
    size_t nbrokers;
    sim_client *clients; /* sorted by name, >= 1 */
    size_t nclients;
    sim_fault *faults; /* file order */
    size_t nfaults;
    sim_expect expect;
} sim_scenario;

/* The first error found. `line`/`column` are 1-based (0 when unknown),
 * `path` the JSON path ("" for the whole document or a syntax error), `text`
 * the problem, `message` all of it as "file:line:column: path: text". */
typedef struct sim_scenario_error {
    char file[256];
    int line;
    int column;
    char path[256];
    char text[512];
    char message[1280];
} sim_scenario_error;

/* Load a scenario file. On success *out is a new scenario (free with
 * sim_scenario_free) and 0 is returned. On failure *out is NULL and the
 * result is FL_E_SCENARIO (invalid scenario, details in *err), FL_E_NOENT /
 * FL_E_IO (the file could not be read) or FL_E_NOMEM. err may be NULL. */
int sim_scenario_load_file(const char *path, sim_scenario **out, sim_scenario_error *err);

/* As sim_scenario_load_file for text in memory; `name` is used as the file
 * name in messages. The text need not be NUL-terminated. */
int sim_scenario_load_buffer(const char *name, const char *text, size_t len, sim_scenario **out,
                             sim_scenario_error *err);

/* Free a scenario; NULL is a no-op. */
void sim_scenario_free(sim_scenario *sc);

/* The canonical, fully defaulted JSON form (new reference, NULL on
 * allocation failure). Loading it gives an equal scenario. Keys that have no
 * default and were absent are left out. */
json_t *sim_scenario_to_json(const sim_scenario *sc);

/* Name of an enum value ("point_in_time"), or "?" if out of range. */
const char *sim_scenario_enum_name(sim_enum_id which, int value);

#endif
