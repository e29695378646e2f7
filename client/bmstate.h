/* The in-memory bookmark state shared by the memory and file bookmark
 * stores (bmstore_mem.c, bmstore_file.c), so the two give the same answers
 * and byte-identical resume points. Not installed; include as "bmstate.h"
 * from client/ sources only.
 *
 * Design. Per sub id (sorted array, binary search) a sorted array of
 * publishers (ascending id, which is also the order of the resume list), and
 * per publisher:
 *   - highest_seen: the highest sequence ever logged;
 *   - the contiguous point: the highest discarded sequence such that every
 *     sequence logged before it is discarded too (with its timestamp);
 *   - a ring of the entries logged above that point, ascending by sequence
 *     (log only ever appends: a sequence not above highest_seen is never
 *     new), each flagged discarded or not. Discarding the head advances the
 *     contiguous point past every discarded entry at the front.
 * So log and discard are O(log p + log n) and amortised O(1) in the ring,
 * with n the entries outstanding above the contiguous point. Invariants:
 * highest_seen is the last ring entry, or the point when the ring is empty;
 * the first ring entry is never discarded; every publisher has a point or a
 * ring entry.
 *
 * Rules (anchors.md, AMPS bookmark store):
 *   - log: above highest_seen is new (logged, 0). At or below it the entry is
 *     looked up: a logged, not yet discarded entry is a redelivery of
 *     something unprocessed (0); a discarded one, or one the state does not
 *     know, is a duplicate (1).
 *   - is_discarded answers the same lookup without logging anything: 1 for a
 *     discarded or unknown sequence at or below highest_seen, else 0.
 *   - most_recent: per publisher the contiguous point, "pub|seq|ts" joined by
 *     ',' in ascending publisher id. If a publisher's first logged message is
 *     still undiscarded there is no point for it that precedes that message,
 *     so the answer is "0" (EPOCH): replaying from the start and filtering is
 *     safe, leaving the publisher out would lose the message.
 *
 * The types are visible so the file store can walk the state for its
 * checkpoints (subs ascending by strcmp, pubs ascending by id, entries via
 * fl__bmstate_entry); everything else goes through the functions. A state
 * is a zeroed fl__bmstate; fl__bmstate_free releases it. No function writes
 * error text: callers own their messages.
 */
#ifndef FAULTLINE_BMSTATE_H
#define FAULTLINE_BMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/store.h"

typedef struct fl__bm_entry {
    uint64_t seq;
    int64_t ts_us;
    bool discarded;
} fl__bm_entry;

typedef struct fl__bm_pub {
    uint64_t id;
    uint64_t highest_seen;
    bool has_point;
    uint64_t point_seq;
    int64_t point_ts;
    fl__bm_entry *ring; /* cap is a power of two (or 0) */
    size_t cap, head, len;
} fl__bm_pub;

typedef struct fl__bm_sub {
    char *id;
    fl__bm_pub *pubs; /* ascending id */
    size_t npubs, cappubs;
} fl__bm_sub;

typedef struct fl__bmstate {
    fl__bm_sub *subs; /* ascending strcmp(id) */
    size_t nsubs, capsubs;
} fl__bmstate;

/* Free everything the state holds and zero it (it may be used again). */
void fl__bmstate_free(fl__bmstate *st);

/* The argument check every bookmark-store operation starts with: sub_id and
 * bm non-NULL, publisher non-zero, timestamp at most FL_TIME_MAX_US. 0, or
 * FL_E_INVAL with "<op>: ..." written into err (when err && errcap). */
int fl__bmstate_check_args(const char *op, const char *sub_id, const fl_store_bookmark *bm,
                           char *err, size_t errcap);

/* The sub with this id, or NULL. */
fl__bm_sub *fl__bmstate_sub_find(const fl__bmstate *st, const char *sub_id);

/* The i-th ring entry of p (i < p->len), ascending by sequence. */
fl__bm_entry *fl__bmstate_entry(const fl__bm_pub *p, size_t i);

/* What a log of bm would answer, changing nothing: 1 a duplicate, 0 a
 * redelivery of a logged, undiscarded entry, 2 new (fl__bmstate_log it). */
int fl__bmstate_log_verdict(const fl__bmstate *st, const char *sub_id, const fl_store_bookmark *bm);

/* Log a new entry (one fl__bmstate_log_verdict calls new). 0; FL_E_NOMEM
 * with the state unchanged; FL_E_CORRUPT (state unchanged) if seq is not
 * above the publisher's highest_seen, which only a damaged log can ask. */
int fl__bmstate_log(fl__bmstate *st, const char *sub_id, uint64_t pub, uint64_t seq, int64_t ts);

/* 1 if a discard of (sub_id, pub, seq) would change the state (the entry is
 * in a ring and not yet discarded), else 0. */
int fl__bmstate_discard_changes(const fl__bmstate *st, const char *sub_id, uint64_t pub,
                                uint64_t seq);

/* Mark the entry discarded and advance the contiguous point; a no-op when
 * fl__bmstate_discard_changes says 0. Cannot fail. */
void fl__bmstate_discard(fl__bmstate *st, const char *sub_id, uint64_t pub, uint64_t seq);

/* 1 for a discarded or unknown sequence at or below the publisher's
 * highest_seen, else 0. */
int fl__bmstate_is_discarded(const fl__bmstate *st, const char *sub_id,
                             const fl_store_bookmark *bm);

/* Write the resume point for sub_id into buf (cap bytes, NUL-terminated):
 * "0" when there is none (returns 1), else the points joined by ','
 * (returns the length). FL_E_OVERFLOW when it does not fit (cap 0
 * included; buf may be NULL only then); fl_bookmark_format's error if a
 * point cannot be formatted (not reached for state built from checked
 * arguments). */
int fl__bmstate_most_recent(const fl__bmstate *st, const char *sub_id, char *buf, size_t cap);

/* Forget sub_id (NULL: every sub). Unknown ids are a no-op. */
void fl__bmstate_purge(fl__bmstate *st, const char *sub_id);

/* Loading a checkpoint. The publisher (and its sub) is created when absent;
 * NULL on FL_E_NOMEM (a sub created for it may remain, without
 * publishers). The caller keeps the invariants in the design note. */
fl__bm_pub *fl__bmstate_pub_get(fl__bmstate *st, const char *sub_id, uint64_t pub);

/* Set p's contiguous point (and highest_seen) to seq, ts. */
void fl__bmstate_set_point(fl__bm_pub *p, uint64_t seq, int64_t ts);

/* Append an entry above everything in p's ring and make it highest_seen.
 * 0 or FL_E_NOMEM (p unchanged). */
int fl__bmstate_push(fl__bm_pub *p, uint64_t seq, int64_t ts, bool discarded);

#endif
