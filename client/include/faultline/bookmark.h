/* Bookmarks, bookmark lists, bookmark ranges and UTC timestamps.
 *
 * A bookmark names a point in a broker's transaction log. Text forms
 * (strict: no whitespace, case-sensitive, no leading zeros in numbers):
 *
 *   "0"                        FL_BM_EPOCH      start of the log
 *   "0|1|"                     FL_BM_NOW        only messages after subscribing
 *   "recent"                   FL_BM_RECENT     MOST_RECENT, resolved by the
 *                                               client from its bookmark store
 *   "pub|seq|" "pub|seq|TS"    FL_BM_EXACT      one message; pub and seq are
 *                                               decimal u64, pub != 0, TS optional
 *   "TS"                       FL_BM_TIMESTAMP  a bare timestamp
 *
 * TS is YYYYMMDDTHHMMSS, optionally .f to .ffffff (1-6 fraction digits),
 * optionally a trailing Z; always UTC. Years 0000-9999, proleptic Gregorian,
 * no leap seconds (second 60 is rejected). Internally a timestamp is int64
 * microseconds since 1970-01-01T00:00:00Z; conversion is pure arithmetic
 * (days-from-civil), never timegm()/localtime(), so it is TZ- and
 * locale-independent and deterministic.
 *
 * Canonical timestamp output: "YYYYMMDDTHHMMSS" + ".ffffff" (always six
 * digits) only when the fraction is non-zero + "Z". E.g. 20200604T120000Z,
 * 20200604T120000.500000Z.
 *
 * A selector is what a subscribe names:
 *   - a list "p1,p2,...": "the earliest of these" (one point for a plain
 *     bookmark); at most FL_BM_MAX_POINTS points, no empty elements;
 *   - a range: '[' or '(' BEGIN ':' END ']' or ')' where BEGIN and END are
 *     lists ('[' / ']' inclusive, '(' / ')' exclusive). A BEGIN list means
 *     its earliest point, an END list its latest. Both BEGIN and END are
 *     required (as in AMPS): "[0:)" is FL_E_BAD_RANGE. A ':' outside
 *     brackets is FL_E_BAD_RANGE; nested brackets are FL_E_BAD_RANGE.
 *   - "recent" is only allowed as the whole selector or as a range BEGIN
 *     on its own ("[recent:...)"); anywhere else it is FL_E_BAD_BOOKMARK
 *     (the client resolves it before anything reaches a broker).
 *
 * Error codes from the parsers: FL_E_BAD_TIMESTAMP for anything wrong
 * inside a timestamp (including an invalid date), FL_E_BAD_RANGE for range
 * structure (brackets, ':', missing begin/end), FL_E_BAD_BOOKMARK for
 * everything else (unknown token, bad numbers, empty input or list element,
 * too many points, stray characters including NUL bytes).
 *
 * The structs here are plain values (not opaque): stores and the broker
 * read them directly. Lists own their array; free with fl_bm_list_free /
 * fl_bm_selector_free. Nothing here allocates except lists.
 */
#ifndef FAULTLINE_BOOKMARK_H
#define FAULTLINE_BOOKMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Buffer size (including the NUL) that holds any single formatted point:
 * "18446744073709551615|18446744073709551615|99991231T235959.999999Z". */
#define FL_BOOKMARK_MAX_TEXT 72

/* Buffer size (including the NUL) for any fl_time_format /
 * fl_time_format_rfc3339 output. */
#define FL_TIME_MAX_TEXT 32

/* The most points a list (or each side of a range) may hold. */
#define FL_BM_MAX_POINTS 4096

/* ts_us value of an EXACT bookmark written without a timestamp ("1|2|"),
 * and of EPOCH / NOW / RECENT points. */
#define FL_BM_NO_TS INT64_MIN

/* Smallest and largest representable timestamps:
 * 00000101T000000Z and 99991231T235959.999999Z, in microseconds. */
#define FL_TIME_MIN_US (-62167219200000000LL)
#define FL_TIME_MAX_US (253402300799999999LL)

typedef enum fl_bm_kind {
    FL_BM_EPOCH = 0, /* "0" */
    FL_BM_NOW,       /* "0|1|" */
    FL_BM_RECENT,    /* "recent" */
    FL_BM_EXACT,     /* "publisher|sequence|[timestamp]" */
    FL_BM_TIMESTAMP, /* bare timestamp */
} fl_bm_kind;

/* One bookmark point. publisher/sequence are meaningful for EXACT only
 * (0 otherwise); ts_us for TIMESTAMP (always set) and EXACT (FL_BM_NO_TS
 * when absent); FL_BM_NO_TS for the other kinds. */
typedef struct fl_bookmark {
    fl_bm_kind kind;
    uint64_t publisher;
    uint64_t sequence;
    int64_t ts_us;
} fl_bookmark;

/* A list of points, "the earliest of these" (as a range end: the latest). */
typedef struct fl_bm_list {
    fl_bookmark *items; /* owned; NULL when count == 0 */
    size_t count;
    size_t cap;
} fl_bm_list;

typedef enum fl_bm_sel_kind {
    FL_BM_SEL_POINTS = 0, /* `points` holds >= 1 point */
    FL_BM_SEL_RANGE,      /* `begin`/`end` each hold >= 1 point */
} fl_bm_sel_kind;

/* What a subscribe names. For FL_BM_SEL_POINTS only `points` is used; for
 * FL_BM_SEL_RANGE only begin, end and the inclusive flags. Zero-initialise
 * (or fl_bm_selector_init) before use. */
typedef struct fl_bm_selector {
    fl_bm_sel_kind kind;
    fl_bm_list points;
    fl_bm_list begin;
    fl_bm_list end;
    bool begin_inclusive; /* '[' */
    bool end_inclusive;   /* ']' */
} fl_bm_selector;

/* Parse error detail: byte offset into the parsed text and a short message
 * ("expected ':' in range at offset 17"). */
typedef struct fl_bm_error {
    size_t offset;
    char text[96];
} fl_bm_error;

/* ---- timestamps -------------------------------------------------------- */

/* Parse a bookmark timestamp (YYYYMMDDTHHMMSS[.f{1,6}][Z]) occupying all of
 * s[0..len). On success stores microseconds since the Unix epoch in *out_us
 * and returns 0; otherwise FL_E_BAD_TIMESTAMP with *err (may be NULL) set,
 * offset relative to s. *out_us is untouched on failure. */
int fl_time_parse(const char *s, size_t len, int64_t *out_us, fl_bm_error *err);

/* Parse an RFC 3339 date-time: YYYY-MM-DD('T'|'t')HH:MM:SS[.f{1,6}] then
 * 'Z', 'z' or a numeric offset +HH:MM / -HH:MM (converted to UTC). Same
 * contract as fl_time_parse. Used for the scenario `start` key. */
int fl_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us, fl_bm_error *err);

/* Write the canonical bookmark timestamp for `us` (see the top of this
 * file) plus a NUL. Returns the length (excluding the NUL), FL_E_OVERFLOW
 * if cap is too small (FL_TIME_MAX_TEXT always suffices), or
 * FL_E_BAD_TIMESTAMP if us is outside [FL_TIME_MIN_US, FL_TIME_MAX_US]. */
int fl_time_format(int64_t us, char *buf, size_t cap);

/* Same as fl_time_format but "YYYY-MM-DDTHH:MM:SS[.ffffff]Z". */
int fl_time_format_rfc3339(int64_t us, char *buf, size_t cap);

/* ---- single points ----------------------------------------------------- */

/* Parse one point occupying all of s[0..len) (no lists, no ranges).
 * Returns 0 and fills *out, or FL_E_BAD_BOOKMARK / FL_E_BAD_TIMESTAMP with
 * *err set (may be NULL); *out is untouched on failure. "recent" is
 * accepted here. */
int fl_bookmark_parse(const char *s, size_t len, fl_bookmark *out, fl_bm_error *err);

/* Write the canonical text of one point plus a NUL. Returns the length
 * (excluding the NUL), FL_E_OVERFLOW when cap is too small
 * (FL_BOOKMARK_MAX_TEXT always suffices), FL_E_INVAL for a point that no
 * text can express (bad kind, EXACT with publisher 0, timestamp out of
 * range). */
int fl_bookmark_format(const fl_bookmark *bm, char *buf, size_t cap);

/* Points constructed in code. */
fl_bookmark fl_bookmark_epoch(void);
fl_bookmark fl_bookmark_now(void);
fl_bookmark fl_bookmark_recent(void);
fl_bookmark fl_bookmark_exact(uint64_t publisher, uint64_t sequence, int64_t ts_us);
fl_bookmark fl_bookmark_timestamp(int64_t ts_us);

/* Structural equality (kind and every field that kind uses). */
bool fl_bookmark_equal(const fl_bookmark *a, const fl_bookmark *b);

/* Order two points where an order is defined without a transaction log:
 *   - EXACT vs EXACT of the same publisher: by sequence (timestamps ignored);
 *   - TIMESTAMP vs TIMESTAMP: by ts_us;
 *   - EPOCH is before every EXACT and TIMESTAMP and equal to EPOCH.
 * Returns 0 and sets *cmp to <0, 0 or >0 (a before / same as / after b), or
 * FL_E_INVAL (*cmp untouched) when the pair has no such order. */
int fl_bookmark_compare(const fl_bookmark *a, const fl_bookmark *b, int *cmp);

/* Where a message lies relative to a point, without a transaction log. */
typedef enum fl_bm_order {
    FL_BM_ORDER_BEFORE = -1, /* the message precedes the point */
    FL_BM_ORDER_AT = 0,      /* the message is the point */
    FL_BM_ORDER_AFTER = 1,   /* the message follows the point */
    FL_BM_ORDER_UNKNOWN = 2, /* needs the log (the broker resolves it) */
} fl_bm_order;

/* Relate a message (publisher, sequence, broker receipt time ts_us) to a
 * point:
 *   EPOCH      AFTER for every message.
 *   TIMESTAMP  by ts_us: BEFORE if msg < point, AT if equal, else AFTER.
 *   EXACT      same publisher: by sequence (AT when equal). Other
 *              publisher: by the point's timestamp when it has one and it
 *              differs from ts_us; otherwise UNKNOWN.
 *   NOW, RECENT UNKNOWN (they depend on the log / the store). */
fl_bm_order fl_bm_order_msg(const fl_bookmark *point, uint64_t publisher, uint64_t sequence,
                            int64_t ts_us);

/* ---- lists and selectors ---------------------------------------------- */

/* Empty list / selector owning nothing. */
void fl_bm_list_init(fl_bm_list *l);
void fl_bm_selector_init(fl_bm_selector *sel);

/* Release the list's array and leave it empty (safe to call twice). */
void fl_bm_list_free(fl_bm_list *l);

/* Append a copy of *bm. 0, FL_E_NOMEM, or FL_E_BAD_BOOKMARK when the list
 * already holds FL_BM_MAX_POINTS; on failure the list is unchanged. */
int fl_bm_list_append(fl_bm_list *l, const fl_bookmark *bm);

/* Release everything the selector owns and re-initialise it. */
void fl_bm_selector_free(fl_bm_selector *sel);

/* Parse a selector (list or range, see the top of this file) occupying all
 * of s[0..len). On success *out (which must not own anything: it is
 * overwritten) holds the result, owned by the caller (fl_bm_selector_free).
 * On failure returns FL_E_BAD_BOOKMARK / FL_E_BAD_RANGE / FL_E_BAD_TIMESTAMP
 * (or FL_E_NOMEM) with *err set (may be NULL) and *out left initialised
 * and empty. */
int fl_bm_selector_parse(const char *s, size_t len, fl_bm_selector *out, fl_bm_error *err);

/* Exact length (excluding the NUL) of the canonical text of `sel`, or a
 * negative code as for fl_bm_selector_format. */
int fl_bm_selector_format_len(const fl_bm_selector *sel);

/* Write the canonical text of `sel` plus a NUL: points joined by ',';
 * ranges as '[' or '(' BEGIN ':' END ']' or ')'. The text parses back to an
 * equal selector. Returns the length (excluding the NUL), FL_E_OVERFLOW if
 * cap is too small (buf then holds a NUL-terminated prefix when cap > 0), or
 * FL_E_INVAL if the selector is not expressible (empty list, bad point,
 * misplaced RECENT). */
int fl_bm_selector_format(const fl_bm_selector *sel, char *buf, size_t cap);

/* Deep copy: *dst (owning nothing) becomes an independent copy of *src.
 * 0 or FL_E_NOMEM (then *dst is initialised and empty). */
int fl_bm_selector_copy(fl_bm_selector *dst, const fl_bm_selector *src);

/* Structural equality: same kind, same inclusive flags (ranges), same
 * points in the same order. */
bool fl_bm_selector_equal(const fl_bm_selector *a, const fl_bm_selector *b);

/* ---- range bounds for the broker (pure) --------------------------------- */

typedef enum fl_bm_verdict {
    FL_BM_NO = 0,
    FL_BM_YES = 1,
    FL_BM_UNDECIDED = 2, /* some point said UNKNOWN: resolve via the log */
} fl_bm_verdict;

/* Is the message inside the begin bound of `begin` ("the earliest of
 * these")? YES if for some point the message is AFTER it (or AT it when
 * `inclusive`); NO if every point says BEFORE (or AT when exclusive);
 * otherwise UNDECIDED. An empty list gives NO. */
fl_bm_verdict fl_bm_range_begin_admits(const fl_bm_list *begin, bool inclusive, uint64_t publisher,
                                       uint64_t sequence, int64_t ts_us);

/* What to do with a message against an end bound ("the latest of these"),
 * scanning the log in order. */
typedef enum fl_bm_end {
    FL_BM_END_INSIDE = 0,    /* deliver; the range goes on */
    FL_BM_END_LAST = 1,      /* deliver; then the range is complete */
    FL_BM_END_PAST = 2,      /* do not deliver; the range is complete */
    FL_BM_END_UNDECIDED = 3, /* some point said UNKNOWN: resolve via the log */
} fl_bm_end;

/* Classify a message against the end bound `end` ("the latest of these").
 * Each point first gives its own answer: BEFORE -> inside; AT -> inside for
 * an inclusive TIMESTAMP (a later message may share the microsecond), last
 * for an inclusive EXACT (the message is the end bookmark), past when
 * exclusive; AFTER -> past; UNKNOWN -> unknown. Then:
 *   INSIDE    if any point says inside (the latest end is still ahead);
 *   UNDECIDED else if any point says unknown;
 *   LAST      else if any point says last;
 *   PAST      otherwise (also for an empty list). */
fl_bm_end fl_bm_range_end_check(const fl_bm_list *end, bool inclusive, uint64_t publisher,
                                uint64_t sequence, int64_t ts_us);

/* ---- publisher ids ------------------------------------------------------ */

/* The publisher id of a client name: FNV-1a 64 over the name bytes
 * (offset basis 0xcbf29ce484222325, prime 0x100000001b3). The values 0 and
 * 1 are reserved (0 is the EPOCH/NOW publisher, 1 is kept free as well), so
 * a hash of 0 becomes 2 and a hash of 1 becomes 3. Never returns 0 or 1. */
uint64_t fl_publisher_id(const char *client_name, size_t len);

#ifdef __cplusplus
}
#endif
#endif
