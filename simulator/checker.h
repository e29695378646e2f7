/* The checkers: online over the event stream of a run, final over the
 * surviving brokers' journals.
 *
 * The runner creates one sim_checker per run from a sim_checker_config (the
 * clients, their stores, the subscriptions, which checks run, what `expect`
 * demands), feeds it the run's events as they happen (sim_checker_publish,
 * _store_discard, _delivery, ...; each with its virtual time), then the
 * ground truth: every message of every SURVIVING broker journal
 * (sim_checker_journal_begin / _message / _expired), then calls
 * sim_checker_finish. After that the verdicts and violations can be read
 * (sim_checker_verdict_at, sim_checker_violation_at, sim_checker_to_json).
 * The checker depends on nothing of the broker or the client: the runner
 * translates.
 *
 * Message identity is (publisher id, sequence); the publisher id is
 * fl_publisher_id(client name). Journal and bookmark timestamps (`ts_us`)
 * are UTC microseconds (the broker's receipt time = scenario start + virtual
 * time + the clock jumps made by then, sim_checker_clock_jump); event times
 * (`t_us`) are virtual microseconds since zero.
 *
 * THE CHECKS (names as in scenario-format.md `expect`):
 *
 * no_loss        Every message the application published and the client
 *                ACCEPTED (sim_checker_publish with result 0) on a journaled
 *                topic (config.journaled_topics) is in the union of the
 *                surviving journals (or was removed from one by retention:
 *                sim_checker_journal_expired) -- unless the broker refused it
 *                as not_entitled (sim_checker_failed_write: the application
 *                was told). Also fires when a journal holds one (publisher,
 *                sequence) twice ("exactly once"), when the union of the
 *                journals holds one APPLICATION message (its identity,
 *                sim_checker_app_msg) under two sequence numbers (a message
 *                the application handed again after an outcome it could not
 *                know), and, online, when a client
 *                accepts a sequence number it had already accepted (a
 *                memory publish store that lost its contents across a crash
 *                reuses sequence numbers: one of the two messages cannot be
 *                in the journal).
 *                A message lost from the publish store at a crash or power
 *                loss (sim_checker_store_lost / _store_reopened) and in no
 *                journal is a no_loss violation too -- the application was
 *                told it was accepted -- and its text says where it went
 *                and whether the store's configuration allows that (a
 *                memory store at any crash; file or sqlite with sync
 *                none/batch at a power loss) or not (a store bug).
 * ack_honesty    Every message discarded from a publish store on a
 *                persisted ack (sim_checker_store_discard: up to a sequence)
 *                that was accepted on a journaled topic is in the surviving
 *                journals (or expired by retention). Only messages that
 *                were IN the store when the discard came count: one lost
 *                from the store at a crash (sim_checker_store_lost) lies
 *                below later acks but was never discarded on one.
 * no_duplicates  A subscription hands a (publisher, sequence) to the
 *                application at most once, except:
 *                - after a crash or power loss of the subscriber's client,
 *                  a message delivered before it may be delivered again
 *                  UNLESS it had been discarded before the crash into a
 *                  bookmark store that keeps discards across that kind of
 *                  crash. Durable across a process crash: file, sqlite,
 *                  plugin stores (any sync policy). Durable across a power
 *                  loss: those with sync `always` only. A memory store
 *                  forgets everything at a crash;
 *                - within one client incarnation, after a new logon
 *                  (sim_checker_client_logon), a message delivered in an
 *                  earlier session and NOT discarded since may be delivered
 *                  again: the store ABI's log() treats a logged but not
 *                  discarded message as new, as AMPS does. A message
 *                  discarded before is never redelivered within the
 *                  incarnation; within one session nothing is.
 *                Without logon events every session is the incarnation.
 *                Also fires when a subscription delivers one application
 *                message (sim_checker_delivery_app) under two sequence
 *                numbers.
 * order          Per subscription and publisher, within one client
 *                incarnation, every delivery that is not a repeat within
 *                that incarnation has a higher sequence than every earlier
 *                one. A crash starts a new incarnation (redelivery from the
 *                resume point starts lower by design).
 * range_exact    For a range subscription: every delivery is inside the
 *                range (online), every journaled message of its topic inside
 *                the range was delivered, every delivered message is in a
 *                surviving journal, nothing is delivered after `completed`,
 *                and `completed` arrived -- unless the range's end lies after
 *                the end of the run or the subscription ended first.
 * gaps_reported  Subscriber completeness, for bookmark and range
 *                subscriptions (live subscriptions promise nothing across
 *                disconnects and are not checked): every journaled message
 *                of the topic inside the subscription's window was delivered
 *                unless a reported gap covers it; so was every message
 *                retention removed before the subscription got it, if it
 *                was subscribed before the message expired
 *                (sim_checker_journal_expired_msg). The window: the bookmark
 *                or range begin (EPOCH/"recent": the start of the log; NOW:
 *                the subscription's start time plus inflight_grace_us),
 *                the range end, and, when the subscription ended
 *                (sim_checker_sub_end), its end time minus inflight_grace_us.
 *                A gap covers the timestamps given with it, or without them
 *                the messages after the newest one delivered before the
 *                report and before the first one delivered after it (no
 *                delivery after: up to the report time plus
 *                inflight_grace_us).
 * liveness       Let LH be the time of the last fault heal (an instant fault
 *                heals when it fires). Every client must have discarded
 *                (persisted) everything it had accepted by LH, and every
 *                bookmark subscription that existed at LH must have
 *                delivered, of every publisher, its last message on the
 *                topic accepted by LH, both by LH + recovery_us. Not
 *                applicable when no fault healed, or when a fault never
 *                healed. Targets whose message is in no journal are left to
 *                no_loss; those covered by a reported gap are skipped.
 * unpersisted_zero  Every unpersisted count reported at the end
 *                (sim_checker_unpersisted) is 0.
 * errors         (pseudo-check for expect.errors) each expected error is
 *                matched by a sim_checker_error with the same name (case
 *                insensitive), client
 *                (when given) and after <= t <= before (when given).
 * delivered      (pseudo-check for expect.delivered) the subscription
 *                delivered exactly that many distinct messages.
 *
 * Message windows are decided with the bookmark helpers of bookmark.h:
 * when a bound needs the log to decide (an exact bookmark of another
 * publisher with no or the same timestamp, a message stamped exactly at a
 * plain timestamp bookmark) the message is "ambiguous": neither required nor
 * forbidden.
 *
 * VERDICT: a check runs when it is in config.checks or config.violations.
 * A check in `violations` must fire (EXPECTED_FIRED, else EXPECTED_MISSING,
 * a failure); one in `checks` must not (PASS / NOT_APPLICABLE, else FAIL).
 * The run passes when no verdict is FAIL or EXPECTED_MISSING.
 *
 * MEMORY: no per-event log is kept. Sequence sets are sorted interval sets
 * (in-order streams stay at O(1) intervals): per publisher the accepted,
 * not-entitled and journaled (union, and per journal for the exactly-once
 * check) sets; per subscription and publisher the delivered and discarded
 * sets. These are O(messages) only when the streams are out of order (holes).
 * Per client a ring of the last events and of the last notable events
 * (crashes, errors, gaps, failed writes); a global ring of fault events; the
 * publish-time index used to date a lost message is thinned to a fixed size.
 * Errors (up to 65536), faults and gaps (up to 4096 per subscription; beyond
 * that the last one widens) are kept in full; stored violations are capped
 * per check (all are counted).
 */
#ifndef SIM_CHECKER_H
#define SIM_CHECKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/bookmark.h"
#include "scenario.h"

typedef struct sim_checker sim_checker;

/* Check indices: 0..7 are the SIM_CHECK_* bit indices (1u << i), then the
 * two pseudo-checks for expect.errors and expect.delivered. */
#define SIM_CHK_ERRORS    8
#define SIM_CHK_DELIVERED 9
#define SIM_CHK_COUNT     10

/* Name of check index i ("no_loss" ... "unpersisted_zero", "errors",
 * "delivered"), "?" out of range. */
const char *sim_checker_check_name(int i);

typedef enum sim_chk_sub_kind {
    SIM_CHK_SUB_LIVE,     /* no bookmark */
    SIM_CHK_SUB_BOOKMARK, /* points: "0", "recent", "0|1|", a bookmark, a timestamp, a list */
    SIM_CHK_SUB_RANGE,    /* a range */
} sim_chk_sub_kind;

/* One client application. All strings are copied. */
typedef struct sim_checker_client_cfg {
    const char *name;
    uint64_t publisher_id; /* 0: computed with fl_publisher_id(name) */
    sim_store_type publish_store;
    sim_sync_policy publish_sync;
    sim_store_type bookmark_store;
    sim_sync_policy bookmark_sync;
} sim_checker_client_cfg;

/* One subscription. `bookmark` is the text as written in the scenario
 * (NULL for a live subscription); it is parsed here. */
typedef struct sim_checker_sub_cfg {
    const char *client;
    const char *sub_id;
    const char *topic;
    const char *bookmark;
    uint64_t start_us; /* virtual time the subscription starts (NOW resolves to it) */
} sim_checker_sub_cfg;

/* expect.errors entry. */
typedef struct sim_checker_expect_error {
    const char *name;   /* "bookmark_expired", "gave_up", ... */
    const char *client; /* NULL: any client */
    bool has_after;
    uint64_t after_us;
    bool has_before;
    uint64_t before_us;
} sim_checker_expect_error;

/* expect.delivered entry. */
typedef struct sim_checker_expect_delivered {
    const char *client;
    const char *sub_id;
    uint64_t count;
} sim_checker_expect_delivered;

#define SIM_CHECKER_CONFIG_VERSION 1

typedef struct sim_checker_config {
    int version;                /* SIM_CHECKER_CONFIG_VERSION */
    uint32_t checks;            /* SIM_CHECK_* bits that must pass */
    uint32_t violations;        /* SIM_CHECK_* bits that must fire */
    int64_t start_unix_us;      /* UTC of virtual zero (scenario `start`) */
    uint64_t recovery_us;       /* expect.recovery */
    uint64_t inflight_grace_us; /* slack at subscription starts/ends and gaps */
    const sim_checker_client_cfg *clients;
    size_t nclients;
    const sim_checker_sub_cfg *subs;
    size_t nsubs;
    const char *const *journaled_topics; /* journaled on at least one broker */
    size_t njournaled_topics;
    const sim_checker_expect_error *errors;
    size_t nerrors;
    const sim_checker_expect_delivered *delivered;
    size_t ndelivered;
    size_t context_events; /* lines of context per violation (max 16) */
    size_t max_violations; /* stored per check (all are counted) */
} sim_checker_config;

/* Defaults: every check must pass, start 2020-01-01T00:00:00Z, recovery
 * 30 s, grace 1 s, 8 context lines, 32 stored violations per check. */
#define SIM_CHECKER_CONFIG_INIT                                                                    \
    {                                                                                              \
        SIM_CHECKER_CONFIG_VERSION, SIM_CHECK_ALL, 0, 1577836800000000LL, 30000000u, 1000000u,     \
            NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 8, 32                                     \
    }

/* New checker. Returns 0 and *out, or FL_E_INVAL (unknown version, a
 * subscription of an unknown client, two clients or subscriptions with the
 * same name, checks and violations overlapping) or FL_E_BAD_BOOKMARK /
 * FL_E_BAD_RANGE / FL_E_BAD_TIMESTAMP for a subscription's bookmark, or
 * FL_E_NOMEM; detail in err (may be NULL). *out is NULL on failure. */
int sim_checker_new(const sim_checker_config *cfg, sim_checker **out, char *err, size_t errcap);

/* New checker for a loaded scenario: clients and their stores,
 * subscriptions (bookmark text, start), journaled topics (journal: true on
 * any broker), expect.checks (absent: every check not in
 * expect.violations), expect.violations, errors, delivered and recovery;
 * `start` of the scenario. Grace, context and caps take the defaults of
 * SIM_CHECKER_CONFIG_INIT. Same results as sim_checker_new. sc is only
 * read during the call. */
int sim_checker_new_for_scenario(const sim_scenario *sc, sim_checker **out, char *err,
                                 size_t errcap);

/* Free; NULL is a no-op. */
void sim_checker_free(sim_checker *chk);

/* --- online events --------------------------------------------------------
 * Each returns 0, FL_E_NOT_FOUND for an unknown client / subscription,
 * FL_E_STATE after the journal feed started, or FL_E_NOMEM. A failed call
 * records nothing. Feed events in the order they happened. */

/* The application's identity of a message: message `index` of publish
 * workload `workload` of the publishing client (the runner tags every
 * payload "client/workload/index;"). valid false: unknown (then only
 * (publisher, sequence) identifies it). workload < 2^24, index < 2^40. */
typedef struct sim_checker_app_msg {
    bool valid;
    uint32_t workload;
    uint64_t index;
} sim_checker_app_msg;

/* The application handed a message to the client: result 0 = accepted with
 * sequence `seq`; otherwise the FL_E_* code returned (seq ignored). */
int sim_checker_publish(sim_checker *chk, uint64_t t_us, const char *client, const char *topic,
                        uint64_t seq, int result);

/* As sim_checker_publish, naming the application message (app may be NULL).
 * An outcome the application learnt only later (a publish refused with
 * FL_E_SYNC_FAILED: the message may have been stored) is reported when it
 * is known, with the sequence the store holds it under. */
int sim_checker_publish_app(sim_checker *chk, uint64_t t_us, const char *client, const char *topic,
                            uint64_t seq, int result, const sim_checker_app_msg *app);

/* The client discarded its publish store up to `up_to` on a persisted ack
 * (including the discard after the logon ack). */
int sim_checker_store_discard(sim_checker *chk, uint64_t t_us, const char *client, uint64_t up_to);

/* Sequences lo..hi (lo <= hi, else FL_E_INVAL) of the client were lost from
 * its publish store at its last crash or power loss: the store reopened
 * at the restart (t_us) without them. Only sequences above the client's
 * highest discard so far are taken (those below were discarded, not lost)
 * and only accepted ones matter: ack_honesty does not count them as
 * discarded by later acks, no_loss names the loss and its cause. A
 * sequence reported lost twice keeps its first loss. */
int sim_checker_store_lost(sim_checker *chk, uint64_t t_us, const char *client, uint64_t lo,
                           uint64_t hi);

/* An inclusive range of sequences. */
typedef struct sim_checker_seq_range {
    uint64_t lo, hi;
} sim_checker_seq_range;

/* The client's publish store was reopened at its restart (t_us) and holds
 * the messages with the sequences in kept[0..nkept) (ascending, disjoint,
 * lo <= hi, else FL_E_INVAL; kept may be NULL when nkept is 0). Every
 * sequence the client accepted above its highest discard that is not
 * kept was lost from the store at the crash: as sim_checker_store_lost
 * for each missing run. */
int sim_checker_store_reopened(sim_checker *chk, uint64_t t_us, const char *client,
                               const sim_checker_seq_range *kept, size_t nkept);

/* The failed-write callback ran: `reason` FL_E_DUPLICATE or
 * FL_E_NOT_ENTITLED (other codes are recorded as context only). */
int sim_checker_failed_write(sim_checker *chk, uint64_t t_us, const char *client, uint64_t seq,
                             int reason);

/* A message as delivered. ts_us: the bookmark's timestamp (FL_BM_NO_TS if
 * unknown); topic may be NULL. */
typedef struct sim_checker_msg {
    const char *topic;
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;
} sim_checker_msg;

/* The client handed a message to the application's handler. */
int sim_checker_delivery(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id,
                         const sim_checker_msg *m);

/* As sim_checker_delivery with the application identity read from the
 * payload's tag (app may be NULL). */
int sim_checker_delivery_app(sim_checker *chk, uint64_t t_us, const char *client,
                             const char *sub_id, const sim_checker_msg *m,
                             const sim_checker_app_msg *app);

/* The bookmark store filtered a duplicate (context and figures only). */
int sim_checker_duplicate_filtered(sim_checker *chk, uint64_t t_us, const char *client,
                                   const char *sub_id, const sim_checker_msg *m);

/* The application discarded (finished processing) a message. */
int sim_checker_bookmark_discard(sim_checker *chk, uint64_t t_us, const char *client,
                                 const char *sub_id, uint64_t publisher, uint64_t seq);

/* A gap was reported to the application. With has_bounds, the gap covers
 * journal timestamps from_ts..to_ts (inclusive, UTC); without, see the top
 * of this file. */
int sim_checker_gap(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id,
                    bool has_bounds, int64_t from_ts, int64_t to_ts);

/* The range subscription received its `completed` ack. */
int sim_checker_completed(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id);

/* The client subscribed (or re-subscribed) the subscription. The first
 * one dates when it began to be owed messages that later expired. */
int sim_checker_sub_subscribed(sim_checker *chk, uint64_t t_us, const char *client,
                               const char *sub_id);

/* The subscription ended for good (stop time, failed for good). Not for a
 * crash: a subscription resumes after a restart. */
int sim_checker_sub_end(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id);

/* An error reached the application; `name` as in expect.errors
 * ("bookmark_expired", "gave_up", "timeout", "not_entitled", ...). client may
 * be NULL for an error of no client. */
int sim_checker_error(sim_checker *chk, uint64_t t_us, const char *client, const char *name);

/* As sim_checker_error with the name of an FL_E_* code in lower case
 * (FL_E_BOOKMARK_EXPIRED -> "bookmark_expired", FL_E_GAVE_UP -> "gave_up"),
 * the names expect.errors uses. */
int sim_checker_error_code(sim_checker *chk, uint64_t t_us, const char *client, int code);

/* The client logged on (first logon of an incarnation or a reconnect): a
 * new session, see no_duplicates. */
int sim_checker_client_logon(sim_checker *chk, uint64_t t_us, const char *client);

/* The client's application crashed (power_loss: unsynced data lost) /
 * restarted. */
int sim_checker_client_crash(sim_checker *chk, uint64_t t_us, const char *client, bool power_loss);
int sim_checker_client_restart(sim_checker *chk, uint64_t t_us, const char *client);

typedef enum sim_chk_fault_phase {
    SIM_CHK_FAULT_START,   /* takes effect; heals later */
    SIM_CHK_FAULT_HEAL,    /* its effect ended */
    SIM_CHK_FAULT_INSTANT, /* takes effect and is over at once (failover, corrupt, ...) */
} sim_chk_fault_phase;

/* A fault of the timeline; `id` pairs START with HEAL (the scenario's fault
 * index). kind and target are for the report ("crash_client", "pub-1"). */
int sim_checker_fault(sim_checker *chk, uint64_t t_us, uint64_t id, const char *kind,
                      const char *target, sim_chk_fault_phase phase);

/* The UTC clock jumped forward by `by_us` at t_us (advance_clock). Journal
 * and bookmark timestamps after it are read on the new clock, and
 * violations dated from them are expressed in virtual time accordingly.
 * Jumps come in time order (FL_E_INVAL otherwise). */
int sim_checker_clock_jump(sim_checker *chk, uint64_t t_us, uint64_t by_us);

/* The client's unpersisted count at the end of the run (last call wins). */
int sim_checker_unpersisted(sim_checker *chk, uint64_t t_us, const char *client, uint64_t count);

/* --- ground truth: the surviving journals --------------------------------
 * After the last online event. Each journal is introduced once by _begin,
 * then its messages in any order. */

/* Start feeding the journal of broker `broker`. FL_E_INVAL if that journal
 * was already fed. */
int sim_checker_journal_begin(sim_checker *chk, const char *broker);

/* One surviving message of `broker`'s journal (broker must have begun). */
int sim_checker_journal_message(sim_checker *chk, const char *broker, const char *topic,
                                uint64_t publisher, uint64_t seq, int64_t ts_us);

/* As sim_checker_journal_message with the application identity read from
 * the journaled payload (app may be NULL). */
int sim_checker_journal_message_app(sim_checker *chk, const char *broker, const char *topic,
                                    uint64_t publisher, uint64_t seq, int64_t ts_us,
                                    const sim_checker_app_msg *app);

/* A message the broker's retention removed: it was journaled, so no_loss
 * and ack_honesty are satisfied; nothing is known of its topic and time,
 * so no subscription is held to it. */
int sim_checker_journal_expired(sim_checker *chk, const char *broker, uint64_t publisher,
                                uint64_t seq);

/* A message the broker's retention removed, with what was known of it. */
typedef struct sim_checker_expired_msg {
    const char *topic; /* NULL: unknown (as sim_checker_journal_expired) */
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;                  /* journal timestamp (UTC); FL_BM_NO_TS: unknown */
    bool has_expired_at;            /* when retention removed it is known */
    uint64_t expired_us;            /* virtual time it was removed */
    const sim_checker_app_msg *app; /* may be NULL */
} sim_checker_expired_msg;

/* As sim_checker_journal_expired; with topic and timestamp the message is
 * also held against subscriptions (gaps_reported, range_exact): one that
 * was subscribed before the message expired (sim_checker_sub_subscribed;
 * without that event: started before it; without has_expired_at: before
 * it was journaled) and whose window holds it must have delivered it or
 * reported a gap. A silent expiry policy (`now`, `oldest`) that skips it
 * is caught this way. Unless another journal still holds it, it also
 * counts for exactly-once per application message. */
int sim_checker_journal_expired_msg(sim_checker *chk, const char *broker,
                                    const sim_checker_expired_msg *m);

/* --- verdict ------------------------------------------------------------- */

/* Run the final checks at the end of the run (virtual time t_end_us) and
 * compute the verdicts. Returns 0 or FL_E_NOMEM; FL_E_STATE if called twice. */
int sim_checker_finish(sim_checker *chk, uint64_t t_end_us);

typedef enum sim_chk_verdict {
    SIM_CHK_SKIPPED = 0,      /* not asked for */
    SIM_CHK_PASS,             /* asked to pass and found nothing */
    SIM_CHK_NOT_APPLICABLE,   /* asked to pass, nothing to check */
    SIM_CHK_FAIL,             /* asked to pass and fired */
    SIM_CHK_EXPECTED_FIRED,   /* asked to fire and fired */
    SIM_CHK_EXPECTED_MISSING, /* asked to fire and did not */
} sim_chk_verdict;

/* "skipped", "pass", "not_applicable", "fail", "expected_violation_fired",
 * "expected_violation_missing"; "?" out of range. */
const char *sim_chk_verdict_name(sim_chk_verdict v);

typedef struct sim_checker_verdict {
    const char *check; /* sim_checker_check_name(index) */
    int index;         /* 0 .. SIM_CHK_COUNT-1 */
    sim_chk_verdict verdict;
    uint64_t violations; /* how many fired (also those not stored) */
    const char *detail;  /* one line, "" when nothing to say */
} sim_checker_verdict;

/* Verdict of check index i (after finish). FL_E_STATE before finish,
 * FL_E_INVAL for a bad index. Pointers stay valid until sim_checker_free. */
int sim_checker_verdict_at(const sim_checker *chk, int i, sim_checker_verdict *out);

/* True after finish when no verdict is FAIL or EXPECTED_MISSING. */
bool sim_checker_passed(const sim_checker *chk);

/* One line summarising the failures ("no_loss: 3 violations; expected
 * violation `ack_honesty` did not occur"), "" for a pass. Never NULL. */
const char *sim_checker_failure_text(const sim_checker *chk);

typedef struct sim_checker_violation {
    int check;          /* check index */
    const char *client; /* "" when none */
    const char *sub_id; /* "" when none */
    const char *topic;  /* "" when unknown */
    bool has_message;   /* publisher/sequence/bookmark are meaningful */
    uint64_t publisher;
    uint64_t sequence;
    const char *bookmark;       /* "pub|seq|TS" when known, "" otherwise */
    uint64_t t_us;              /* virtual time it was detected or dated */
    const char *text;           /* one line */
    bool expected;              /* its check is in config.violations */
    const char *const *context; /* "t=1.000100s ..." lines, oldest first */
    size_t ncontext;
} sim_checker_violation;

/* Stored violations in detection order (online ones first, then those of
 * the final pass in check order). Pointers valid until sim_checker_free. */
size_t sim_checker_violation_count(const sim_checker *chk);
const sim_checker_violation *sim_checker_violation_at(const sim_checker *chk, size_t i);

/* Figures gathered on the way (for reports). */
typedef struct sim_checker_figures {
    uint64_t published, accepted, refused;
    uint64_t delivered, redelivered_allowed, duplicates_filtered;
    uint64_t gaps, errors, crashes;
    uint64_t journal_messages; /* distinct (publisher, sequence) in the surviving journals */
    bool has_last_heal;
    uint64_t last_heal_us;
    bool has_recovery;
    uint64_t recovery_us; /* latest convergence of a liveness target - last heal */
} sim_checker_figures;
void sim_checker_get_figures(const sim_checker *chk, sim_checker_figures *out);

/* Memory accounting, for tests and benchmarks. */
typedef struct sim_checker_memory {
    size_t intervals;         /* in every sequence set */
    size_t max_set_intervals; /* the largest single set */
    size_t time_index;        /* publish-time index entries */
    size_t gaps, errors, faults;
} sim_checker_memory;
void sim_checker_get_memory(const sim_checker *chk, sim_checker_memory *out);

/* Distinct messages a subscription delivered (over every incarnation);
 * 0 for an unknown one. */
uint64_t sim_checker_delivered_count(const sim_checker *chk, const char *client,
                                     const char *sub_id);

/* {"passed": bool, "failure": "...", "verdicts": [{"check", "verdict",
 *  "violations", "detail"}], "violations": [{"check", "client", "sub_id",
 *  "topic", "publisher" (decimal string), "sequence", "bookmark", "t_us",
 *  "text", "expected", "context": [..]}]}; publisher/sequence/bookmark only
 * when the violation names a message. New reference; NULL before finish or
 * on out of memory. */
json_t *sim_checker_to_json(const sim_checker *chk);

#endif
