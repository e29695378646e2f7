/* libFuzzer target for the bookmark parsers (client/bookmark.c).
 *
 * Parses the input as a selector; on success the canonical text must have
 * exactly fl_bm_selector_format_len() bytes, parse back to an equal
 * selector, and format again to identical text; a copy must compare equal.
 * On failure the error offset must lie within the input and the selector
 * must be empty. The same bytes also go through the single-point and both
 * timestamp parsers with the same round-trip checks, and every parsed
 * range is run through the range-bound helpers. A violation aborts so the
 * fuzzer reports it.
 */
#include "faultline/bookmark.h"
#include "faultline/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_bookmark: check failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_selector_round_trip(const fl_bm_selector *sel)
{
    int need = fl_bm_selector_format_len(sel);
    CHECK(need > 0);
    char *buf = malloc((size_t)need + 1);
    char *buf2 = malloc((size_t)need + 1);
    CHECK(buf != NULL && buf2 != NULL);
    CHECK(fl_bm_selector_format(sel, buf, (size_t)need) == FL_E_OVERFLOW);
    CHECK(fl_bm_selector_format(sel, buf, (size_t)need + 1) == need);
    CHECK(strlen(buf) == (size_t)need);

    fl_bm_selector again;
    fl_bm_error err;
    CHECK(fl_bm_selector_parse(buf, (size_t)need, &again, &err) == 0);
    CHECK(fl_bm_selector_equal(sel, &again));
    CHECK(fl_bm_selector_format(&again, buf2, (size_t)need + 1) == need);
    CHECK(memcmp(buf, buf2, (size_t)need + 1) == 0);
    fl_bm_selector_free(&again);

    fl_bm_selector copy;
    CHECK(fl_bm_selector_copy(&copy, sel) == 0);
    CHECK(fl_bm_selector_equal(sel, &copy));
    fl_bm_selector_free(&copy);
    free(buf);
    free(buf2);
}

/* Exercise the bound helpers with messages derived from the range's own
 * points; they are pure, so only their result ranges are checked. */
static void check_bounds(const fl_bm_selector *sel)
{
    if (sel->kind != FL_BM_SEL_RANGE)
        return;
    for (size_t i = 0; i < sel->begin.count && i < 8; i++) {
        const fl_bookmark *p = &sel->begin.items[i];
        int64_t ts = p->ts_us == FL_BM_NO_TS ? 0 : p->ts_us;
        fl_bm_verdict v = fl_bm_range_begin_admits(&sel->begin, sel->begin_inclusive, p->publisher,
                                                   p->sequence, ts);
        CHECK(v == FL_BM_NO || v == FL_BM_YES || v == FL_BM_UNDECIDED);
        fl_bm_end e =
            fl_bm_range_end_check(&sel->end, sel->end_inclusive, p->publisher, p->sequence, ts);
        CHECK(e >= FL_BM_END_INSIDE && e <= FL_BM_END_UNDECIDED);
    }
    /* A message equal to an EXACT end point under an inclusive end can only
     * be INSIDE, LAST or UNDECIDED, never PAST. */
    for (size_t i = 0; i < sel->end.count && i < 8; i++) {
        const fl_bookmark *p = &sel->end.items[i];
        if (p->kind != FL_BM_EXACT || !sel->end_inclusive)
            continue;
        fl_bm_end e = fl_bm_range_end_check(&sel->end, true, p->publisher, p->sequence, 0);
        CHECK(e != FL_BM_END_PAST);
    }
}

static void fuzz_selector(const char *s, size_t size)
{
    fl_bm_selector sel;
    fl_bm_error err;
    int rc = fl_bm_selector_parse(s, size, &sel, &err);
    if (rc != 0) {
        CHECK(rc == FL_E_BAD_BOOKMARK || rc == FL_E_BAD_RANGE || rc == FL_E_BAD_TIMESTAMP);
        CHECK(err.offset <= size);
        CHECK(sel.points.count == 0 && sel.begin.count == 0 && sel.end.count == 0);
        return;
    }
    check_selector_round_trip(&sel);
    check_bounds(&sel);
    fl_bm_selector_free(&sel);
}

static void fuzz_point(const char *s, size_t size)
{
    fl_bookmark bm;
    fl_bm_error err;
    int rc = fl_bookmark_parse(s, size, &bm, &err);
    if (rc != 0) {
        CHECK(err.offset <= size);
        return;
    }
    char buf[FL_BOOKMARK_MAX_TEXT];
    int n = fl_bookmark_format(&bm, buf, sizeof buf);
    CHECK(n > 0);
    fl_bookmark back;
    CHECK(fl_bookmark_parse(buf, (size_t)n, &back, NULL) == 0);
    CHECK(fl_bookmark_equal(&bm, &back));
}

static void fuzz_times(const char *s, size_t size)
{
    int64_t us;
    fl_bm_error err;
    char buf[FL_TIME_MAX_TEXT];
    if (fl_time_parse(s, size, &us, &err) == 0) {
        int n = fl_time_format(us, buf, sizeof buf);
        CHECK(n > 0);
        int64_t back;
        CHECK(fl_time_parse(buf, (size_t)n, &back, NULL) == 0 && back == us);
    } else {
        CHECK(err.offset <= size);
    }
    if (fl_time_parse_rfc3339(s, size, &us, &err) == 0) {
        int n = fl_time_format_rfc3339(us, buf, sizeof buf);
        CHECK(n > 0);
        int64_t back;
        CHECK(fl_time_parse_rfc3339(buf, (size_t)n, &back, NULL) == 0 && back == us);
    } else {
        CHECK(err.offset <= size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap block so ASan catches any read past it. */
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    fuzz_selector(s, size);
    fuzz_point(s, size);
    fuzz_times(s, size);
    free(s);
    return 0;
}
