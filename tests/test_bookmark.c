/* Unit tests for client/bookmark.c: selector/point/timestamp parsing
 * (tables of valid and invalid inputs with expected codes and offsets),
 * canonical formatting and round trips, calendar arithmetic against an
 * independent day-by-day oracle, ordering and range-bound helpers, and
 * publisher ids. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"

/* Reference instants (computed independently with Python's calendar). */
#define T_20200604        1591228800000000LL
#define T_20200605        1591315200000000LL
#define T_20200604_12     1591272000000000LL
#define T_20200101        1577836800000000LL
#define T_20000229_123456 951827696000000LL
#define T_20240229_235959 1709251199000000LL
#define T_19000301        (-2203891200000000LL)

#define P_EPOCH                                                                                    \
    {                                                                                              \
        FL_BM_EPOCH, 0, 0, FL_BM_NO_TS                                                             \
    }
#define P_NOW                                                                                      \
    {                                                                                              \
        FL_BM_NOW, 0, 0, FL_BM_NO_TS                                                               \
    }
#define P_RECENT                                                                                   \
    {                                                                                              \
        FL_BM_RECENT, 0, 0, FL_BM_NO_TS                                                            \
    }
#define P_EX(p, s, t)                                                                              \
    {                                                                                              \
        FL_BM_EXACT, (p), (s), (t)                                                                 \
    }
#define P_TS(t)                                                                                    \
    {                                                                                              \
        FL_BM_TIMESTAMP, 0, 0, (t)                                                                 \
    }

/* ---- fixtures ------------------------------------------------------------ */

static int sel_setup(void **state)
{
    fl_bm_selector *sel = calloc(1, sizeof *sel);
    if (sel == NULL)
        return -1;
    fl_bm_selector_init(sel);
    *state = sel;
    return 0;
}

static int sel_teardown(void **state)
{
    fl_bm_selector *sel = *state;
    fl_bm_selector_free(sel);
    free(sel);
    return 0;
}

/* ---- valid selectors ------------------------------------------------------- */

typedef struct valid_case {
    const char *in;
    const char *canon; /* canonical format output */
    fl_bm_sel_kind kind;
    bool bi, ei; /* range inclusive flags */
    size_t np;   /* points (or range begin) */
    fl_bookmark p[4];
    size_t ne; /* range end */
    fl_bookmark e[4];
} valid_case;

static const valid_case valid_cases[] = {
    {"0", "0", FL_BM_SEL_POINTS, 0, 0, 1, {P_EPOCH}, 0, {{0}}},
    {"0|1|", "0|1|", FL_BM_SEL_POINTS, 0, 0, 1, {P_NOW}, 0, {{0}}},
    {"recent", "recent", FL_BM_SEL_POINTS, 0, 0, 1, {P_RECENT}, 0, {{0}}},
    {"123|45|20200604T120000Z",
     "123|45|20200604T120000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_EX(123, 45, T_20200604_12)},
     0,
     {{0}}},
    {"123|45|", "123|45|", FL_BM_SEL_POINTS, 0, 0, 1, {P_EX(123, 45, FL_BM_NO_TS)}, 0, {{0}}},
    {"123|0|", "123|0|", FL_BM_SEL_POINTS, 0, 0, 1, {P_EX(123, 0, FL_BM_NO_TS)}, 0, {{0}}},
    {"123|45|20200604T120000",
     "123|45|20200604T120000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_EX(123, 45, T_20200604_12)},
     0,
     {{0}}},
    {"18446744073709551615|18446744073709551615|",
     "18446744073709551615|18446744073709551615|",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_EX(UINT64_MAX, UINT64_MAX, FL_BM_NO_TS)},
     0,
     {{0}}},
    {"1|1|", "1|1|", FL_BM_SEL_POINTS, 0, 0, 1, {P_EX(1, 1, FL_BM_NO_TS)}, 0, {{0}}},
    {"20200604T000000",
     "20200604T000000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604)},
     0,
     {{0}}},
    {"20200604T000000Z",
     "20200604T000000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604)},
     0,
     {{0}}},
    {"20200604T120000.5",
     "20200604T120000.500000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604_12 + 500000)},
     0,
     {{0}}},
    {"20200604T120000.000001Z",
     "20200604T120000.000001Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604_12 + 1)},
     0,
     {{0}}},
    {"20200604T120000.123Z",
     "20200604T120000.123000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604_12 + 123000)},
     0,
     {{0}}},
    {"20200604T120000.000000Z",
     "20200604T120000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20200604_12)},
     0,
     {{0}}},
    {"20000229T123456",
     "20000229T123456Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20000229_123456)},
     0,
     {{0}}},
    {"20240229T235959Z",
     "20240229T235959Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_20240229_235959)},
     0,
     {{0}}},
    {"19000301T000000",
     "19000301T000000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(T_19000301)},
     0,
     {{0}}},
    {"19691231T235959.999999Z",
     "19691231T235959.999999Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     1,
     {P_TS(-1)},
     0,
     {{0}}},
    {"1|5|,2|7|20200101T000000Z",
     "1|5|,2|7|20200101T000000Z",
     FL_BM_SEL_POINTS,
     0,
     0,
     2,
     {P_EX(1, 5, FL_BM_NO_TS), P_EX(2, 7, T_20200101)},
     0,
     {{0}}},
    {"20200605T000000,0,0|1|,9|9|",
     "20200605T000000Z,0,0|1|,9|9|",
     FL_BM_SEL_POINTS,
     0,
     0,
     4,
     {P_TS(T_20200605), P_EPOCH, P_NOW, P_EX(9, 9, FL_BM_NO_TS)},
     0,
     {{0}}},
    {"[20200604T000000:20200605T000000)",
     "[20200604T000000Z:20200605T000000Z)",
     FL_BM_SEL_RANGE,
     1,
     0,
     1,
     {P_TS(T_20200604)},
     1,
     {P_TS(T_20200605)}},
    {"(0:20200605T000000Z]",
     "(0:20200605T000000Z]",
     FL_BM_SEL_RANGE,
     0,
     1,
     1,
     {P_EPOCH},
     1,
     {P_TS(T_20200605)}},
    {"(1|2|:3|4|]",
     "(1|2|:3|4|]",
     FL_BM_SEL_RANGE,
     0,
     1,
     1,
     {P_EX(1, 2, FL_BM_NO_TS)},
     1,
     {P_EX(3, 4, FL_BM_NO_TS)}},
    {"(1|2|,5|6|20200604T000000:3|4|,20200605T000000]",
     "(1|2|,5|6|20200604T000000Z:3|4|,20200605T000000Z]",
     FL_BM_SEL_RANGE,
     0,
     1,
     2,
     {P_EX(1, 2, FL_BM_NO_TS), P_EX(5, 6, T_20200604)},
     2,
     {P_EX(3, 4, FL_BM_NO_TS), P_TS(T_20200605)}},
    {"[recent:0|1|]", "[recent:0|1|]", FL_BM_SEL_RANGE, 1, 1, 1, {P_RECENT}, 1, {P_NOW}},
    {"[0:0)", "[0:0)", FL_BM_SEL_RANGE, 1, 0, 1, {P_EPOCH}, 1, {P_EPOCH}},
    {"(123|45|20200604T120000Z:20200605T000000.25)",
     "(123|45|20200604T120000Z:20200605T000000.250000Z)",
     FL_BM_SEL_RANGE,
     0,
     0,
     1,
     {P_EX(123, 45, T_20200604_12)},
     1,
     {P_TS(T_20200605 + 250000)}},
};

static void check_list(const fl_bm_list *l, size_t n, const fl_bookmark *want, const char *in)
{
    if (l->count != n)
        fail_msg("%s: %zu points, want %zu", in, l->count, n);
    for (size_t i = 0; i < n; i++) {
        const fl_bookmark *g = &l->items[i];
        if (g->kind != want[i].kind || g->publisher != want[i].publisher ||
            g->sequence != want[i].sequence || g->ts_us != want[i].ts_us)
            fail_msg("%s: point %zu is kind %d %llu|%llu|%lld, want kind %d %llu|%llu|%lld", in, i,
                     (int)g->kind, (unsigned long long)g->publisher,
                     (unsigned long long)g->sequence, (long long)g->ts_us, (int)want[i].kind,
                     (unsigned long long)want[i].publisher, (unsigned long long)want[i].sequence,
                     (long long)want[i].ts_us);
    }
}

static void check_valid(const valid_case *c, const fl_bm_selector *sel)
{
    assert_int_equal(sel->kind, c->kind);
    if (c->kind == FL_BM_SEL_POINTS) {
        check_list(&sel->points, c->np, c->p, c->in);
        assert_int_equal(sel->begin.count, 0);
        assert_int_equal(sel->end.count, 0);
        return;
    }
    assert_int_equal(sel->points.count, 0);
    assert_int_equal(sel->begin_inclusive, c->bi);
    assert_int_equal(sel->end_inclusive, c->ei);
    check_list(&sel->begin, c->np, c->p, c->in);
    check_list(&sel->end, c->ne, c->e, c->in);
}

static void test_valid_selectors(void **state)
{
    fl_bm_selector *sel = *state;
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        const valid_case *c = &valid_cases[i];
        fl_bm_error err = {0};
        int rc = fl_bm_selector_parse(c->in, strlen(c->in), sel, &err);
        if (rc != 0)
            fail_msg("%s: %s (%s)", c->in, fl_err_name(rc), err.text);
        check_valid(c, sel);

        char buf[256];
        int n = fl_bm_selector_format(sel, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(c->canon));
        assert_string_equal(buf, c->canon);
        assert_int_equal(fl_bm_selector_format_len(sel), n);

        fl_bm_selector again;
        assert_int_equal(fl_bm_selector_parse(buf, (size_t)n, &again, NULL), 0);
        assert_true(fl_bm_selector_equal(sel, &again));
        check_valid(c, &again);
        fl_bm_selector_free(&again);
        fl_bm_selector_free(sel);
    }
}

/* A single point through fl_bookmark_parse/format. */
static void test_valid_points(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        const valid_case *c = &valid_cases[i];
        if (c->kind != FL_BM_SEL_POINTS || c->np != 1)
            continue;
        fl_bookmark bm;
        assert_int_equal(fl_bookmark_parse(c->in, strlen(c->in), &bm, NULL), 0);
        assert_true(fl_bookmark_equal(&bm, &c->p[0]));
        char buf[FL_BOOKMARK_MAX_TEXT];
        int n = fl_bookmark_format(&bm, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(c->canon));
        assert_string_equal(buf, c->canon);
    }
}

/* ---- invalid selectors ----------------------------------------------------- */

typedef struct invalid_case {
    const char *in;
    size_t len; /* 0: strlen(in) */
    int code;
    size_t offset;
} invalid_case;

static const invalid_case invalid_cases[] = {
    {"", 0, FL_E_BAD_BOOKMARK, 0},
    {"2020013", 0, FL_E_BAD_TIMESTAMP, 7},
    {"20200230T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"20230229T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"19000229T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"21000229T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"20201301T000000", 0, FL_E_BAD_TIMESTAMP, 4},
    {"20200001T000000", 0, FL_E_BAD_TIMESTAMP, 4},
    {"20200100T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"20200431T000000", 0, FL_E_BAD_TIMESTAMP, 6},
    {"20200101T240000", 0, FL_E_BAD_TIMESTAMP, 9},
    {"20200101T236000", 0, FL_E_BAD_TIMESTAMP, 11},
    {"20200101T235960", 0, FL_E_BAD_TIMESTAMP, 13},
    {"20200101X000000", 0, FL_E_BAD_TIMESTAMP, 8},
    {"20200101t000000", 0, FL_E_BAD_TIMESTAMP, 8},
    {"2020010AT000000", 0, FL_E_BAD_TIMESTAMP, 7},
    {"20200101T000000.", 0, FL_E_BAD_TIMESTAMP, 16},
    {"20200101T000000.1234567", 0, FL_E_BAD_TIMESTAMP, 22},
    {"20200101T000000ZZ", 0, FL_E_BAD_TIMESTAMP, 16},
    {"20200101T000000z", 0, FL_E_BAD_TIMESTAMP, 15},
    {"20200101T000000.5x", 0, FL_E_BAD_TIMESTAMP, 17},
    {"[x:", 0, FL_E_BAD_BOOKMARK, 1},
    {"[0:", 0, FL_E_BAD_RANGE, 3},
    {"(0:1", 0, FL_E_BAD_TIMESTAMP, 4},
    {"(0:0|1|", 0, FL_E_BAD_RANGE, 7},
    {"[0:0", 0, FL_E_BAD_RANGE, 4},
    {"[0", 0, FL_E_BAD_RANGE, 2},
    {"[0]", 0, FL_E_BAD_RANGE, 2},
    {"[", 0, FL_E_BAD_RANGE, 1},
    {"[:0]", 0, FL_E_BAD_RANGE, 1},
    {"[0:]", 0, FL_E_BAD_RANGE, 3},
    {"[0:0:0]", 0, FL_E_BAD_RANGE, 4},
    {"[0:0]x", 0, FL_E_BAD_RANGE, 5},
    {"[0:0])", 0, FL_E_BAD_RANGE, 5},
    {"[[0:0]:0]", 0, FL_E_BAD_RANGE, 1},
    {"[0:(0:0)]", 0, FL_E_BAD_RANGE, 3},
    {"[0,[0:0]:0]", 0, FL_E_BAD_RANGE, 3},
    {"0,[0:0]", 0, FL_E_BAD_RANGE, 2},
    {"0[", 0, FL_E_BAD_RANGE, 1},
    {"0:0", 0, FL_E_BAD_RANGE, 1},
    {"0]", 0, FL_E_BAD_RANGE, 1},
    {")", 0, FL_E_BAD_BOOKMARK, 0},
    {"1|2", 0, FL_E_BAD_BOOKMARK, 3},
    {"1||", 0, FL_E_BAD_BOOKMARK, 2},
    {"|1|", 0, FL_E_BAD_BOOKMARK, 0},
    {"||", 0, FL_E_BAD_BOOKMARK, 0},
    {"1|x|", 0, FL_E_BAD_BOOKMARK, 2},
    {"01|1|", 0, FL_E_BAD_BOOKMARK, 0},
    {"1|01|", 0, FL_E_BAD_BOOKMARK, 2},
    {"99999999999999999999|1|", 0, FL_E_BAD_BOOKMARK, 0},
    {"18446744073709551616|1|", 0, FL_E_BAD_BOOKMARK, 0},
    {"1|18446744073709551616|", 0, FL_E_BAD_BOOKMARK, 2},
    {"1|2|3", 0, FL_E_BAD_TIMESTAMP, 5},
    {"1|2|20200230T000000Z", 0, FL_E_BAD_TIMESTAMP, 10},
    {"1|2|20200101T000000|", 0, FL_E_BAD_TIMESTAMP, 19},
    {"0|2|", 0, FL_E_BAD_BOOKMARK, 0},
    {"0|1|20200101T000000", 0, FL_E_BAD_BOOKMARK, 0},
    {"0|0|", 0, FL_E_BAD_BOOKMARK, 0},
    {"00", 0, FL_E_BAD_TIMESTAMP, 2},
    {"5", 0, FL_E_BAD_TIMESTAMP, 1},
    {"Recent", 0, FL_E_BAD_BOOKMARK, 0},
    {"recentx", 0, FL_E_BAD_BOOKMARK, 0},
    {"now", 0, FL_E_BAD_BOOKMARK, 0},
    {"recent,0", 0, FL_E_BAD_BOOKMARK, 0},
    {"0,recent", 0, FL_E_BAD_BOOKMARK, 2},
    {"[0:recent]", 0, FL_E_BAD_BOOKMARK, 3},
    {"[recent,0:0]", 0, FL_E_BAD_BOOKMARK, 1},
    {"0,", 0, FL_E_BAD_BOOKMARK, 2},
    {",0", 0, FL_E_BAD_BOOKMARK, 0},
    {"0,,0", 0, FL_E_BAD_BOOKMARK, 2},
    {"[0,:0]", 0, FL_E_BAD_BOOKMARK, 3},
    {"0 ", 0, FL_E_BAD_BOOKMARK, 1},
    {" 0", 0, FL_E_BAD_BOOKMARK, 0},
    {"0, 1|1|", 0, FL_E_BAD_BOOKMARK, 2},
    {"0\0", 2, FL_E_BAD_BOOKMARK, 1},
    {"1|2|\0", 5, FL_E_BAD_BOOKMARK, 4},
    {"0|1|\xff", 0, FL_E_BAD_BOOKMARK, 4},
    {"0garbage", 0, FL_E_BAD_TIMESTAMP, 1},
    {"20200604T000000Zjunk", 0, FL_E_BAD_TIMESTAMP, 16},
};

static void test_invalid_selectors(void **state)
{
    fl_bm_selector *sel = *state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        const invalid_case *c = &invalid_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        fl_bm_error err = {0};
        int rc = fl_bm_selector_parse(c->in, len, sel, &err);
        if (rc != c->code || err.offset != c->offset)
            fail_msg("case %zu \"%s\": got %s at %zu (%s), want %s at %zu", i, c->in,
                     fl_err_name(rc), err.offset, err.text, fl_err_name(c->code), c->offset);
        assert_non_null(strstr(err.text, "at offset"));
        /* On failure the selector is left empty. */
        assert_int_equal(sel->points.count, 0);
        assert_int_equal(sel->begin.count, 0);
        assert_int_equal(sel->end.count, 0);
        /* A NULL error pointer gives the same code. */
        assert_int_equal(fl_bm_selector_parse(c->in, len, sel, NULL), c->code);
    }
}

static void test_error_text(void **state)
{
    fl_bm_selector *sel = *state;
    fl_bm_error err;
    const char *in = "[20200604T000000]";
    assert_int_equal(fl_bm_selector_parse(in, strlen(in), sel, &err), FL_E_BAD_RANGE);
    assert_int_equal(err.offset, 16);
    assert_non_null(strstr(err.text, "expected ':' in range"));
    assert_non_null(strstr(err.text, "at offset 16"));
}

/* Parsing never reads past len: a valid prefix of a longer buffer. */
static void test_length_bound(void **state)
{
    fl_bm_selector *sel = *state;
    const char *in = "[0:0)garbage";
    assert_int_equal(fl_bm_selector_parse(in, 5, sel, NULL), 0);
    assert_int_equal(sel->kind, FL_BM_SEL_RANGE);
    fl_bm_selector_free(sel);
    assert_int_equal(fl_bm_selector_parse(in, 4, sel, NULL), FL_E_BAD_RANGE);
    assert_int_equal(fl_bm_selector_parse(NULL, 0, sel, NULL), FL_E_BAD_BOOKMARK);
}

static void test_point_parse_rejects_structure(void **state)
{
    (void)state;
    fl_bookmark bm;
    fl_bm_error err;
    assert_int_equal(fl_bookmark_parse("0,0", 3, &bm, &err), FL_E_BAD_BOOKMARK);
    assert_int_equal(err.offset, 1);
    assert_int_equal(fl_bookmark_parse("[0:0]", 5, &bm, &err), FL_E_BAD_BOOKMARK);
    assert_int_equal(err.offset, 0);
    assert_int_equal(fl_bookmark_parse("", 0, &bm, &err), FL_E_BAD_BOOKMARK);
    assert_int_equal(fl_bookmark_parse("1|2", 3, &bm, &err), FL_E_BAD_BOOKMARK);
    assert_int_equal(err.offset, 3);
}

/* ---- list limits ----------------------------------------------------------- */

static char *make_list(size_t n, size_t *len)
{
    char *s = malloc(n * 2 + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = '0';
        s[2 * i + 1] = ',';
    }
    *len = n * 2 - 1;
    s[*len] = '\0';
    return s;
}

static void test_list_limit(void **state)
{
    fl_bm_selector *sel = *state;
    size_t len;
    char *s = make_list(FL_BM_MAX_POINTS, &len);
    assert_int_equal(fl_bm_selector_parse(s, len, sel, NULL), 0);
    assert_int_equal(sel->points.count, FL_BM_MAX_POINTS);
    assert_int_equal(fl_bm_selector_format_len(sel), (int)len);
    fl_bm_selector_free(sel);
    free(s);

    s = make_list(FL_BM_MAX_POINTS + 1, &len);
    fl_bm_error err;
    assert_int_equal(fl_bm_selector_parse(s, len, sel, &err), FL_E_BAD_BOOKMARK);
    assert_int_equal(err.offset, 2 * FL_BM_MAX_POINTS);
    free(s);

    fl_bm_list l;
    fl_bm_list_init(&l);
    fl_bookmark e = fl_bookmark_epoch();
    for (size_t i = 0; i < FL_BM_MAX_POINTS; i++)
        assert_int_equal(fl_bm_list_append(&l, &e), 0);
    assert_int_equal(fl_bm_list_append(&l, &e), FL_E_BAD_BOOKMARK);
    assert_int_equal(l.count, FL_BM_MAX_POINTS);
    fl_bm_list_free(&l);
    fl_bm_list_free(&l);
    assert_null(l.items);
}

/* ---- selector formatting and copies ---------------------------------------- */

static void test_selector_format_errors(void **state)
{
    fl_bm_selector *sel = *state;
    char buf[64];
    /* Empty selector: nothing to express. */
    assert_int_equal(fl_bm_selector_format(sel, buf, sizeof buf), FL_E_INVAL);
    assert_int_equal(fl_bm_selector_format_len(sel), FL_E_INVAL);

    fl_bookmark r = fl_bookmark_recent(), z = fl_bookmark_epoch();
    sel->kind = FL_BM_SEL_RANGE;
    assert_int_equal(fl_bm_list_append(&sel->begin, &z), 0);
    assert_int_equal(fl_bm_list_append(&sel->end, &r), 0);
    assert_int_equal(fl_bm_selector_format(sel, buf, sizeof buf), FL_E_INVAL);
    fl_bm_selector_free(sel);

    fl_bookmark bad = fl_bookmark_exact(0, 5, FL_BM_NO_TS);
    assert_int_equal(fl_bm_list_append(&sel->points, &bad), 0);
    assert_int_equal(fl_bm_selector_format(sel, buf, sizeof buf), FL_E_INVAL);
    fl_bm_selector_free(sel);

    const char *in = "[20200604T000000:20200605T000000)";
    assert_int_equal(fl_bm_selector_parse(in, strlen(in), sel, NULL), 0);
    int need = fl_bm_selector_format_len(sel);
    assert_int_equal(need, 35);
    char small[10];
    memset(small, 'x', sizeof small);
    assert_int_equal(fl_bm_selector_format(sel, small, sizeof small), FL_E_OVERFLOW);
    assert_string_equal(small, "[20200604");
    char exact[36];
    assert_int_equal(fl_bm_selector_format(sel, exact, (size_t)need), FL_E_OVERFLOW);
    assert_int_equal(fl_bm_selector_format(sel, exact, sizeof exact), need);
    assert_string_equal(exact, "[20200604T000000Z:20200605T000000Z)");
    assert_int_equal(fl_bm_selector_format(sel, NULL, 0), FL_E_OVERFLOW);
}

static void test_selector_copy_equal(void **state)
{
    fl_bm_selector *sel = *state;
    const char *in = "(1|2|,3|4|:20200605T000000]";
    assert_int_equal(fl_bm_selector_parse(in, strlen(in), sel, NULL), 0);
    fl_bm_selector copy;
    assert_int_equal(fl_bm_selector_copy(&copy, sel), 0);
    assert_true(fl_bm_selector_equal(sel, &copy));
    assert_ptr_not_equal(copy.begin.items, sel->begin.items);
    copy.end_inclusive = false;
    assert_false(fl_bm_selector_equal(sel, &copy));
    copy.end_inclusive = true;
    copy.begin.items[1].sequence = 5;
    assert_false(fl_bm_selector_equal(sel, &copy));
    fl_bm_selector_free(&copy);

    fl_bm_selector pts;
    assert_int_equal(fl_bm_selector_parse("1|2|,3|4|", 9, &pts, NULL), 0);
    assert_false(fl_bm_selector_equal(sel, &pts));
    fl_bm_selector_free(&pts);
}

/* ---- timestamps ------------------------------------------------------------ */

static unsigned oracle_dim(int y, int m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Every day 1970-01-01 .. 2100-12-31 at three times of day: the expected
 * instant comes from counting days one by one (independent of the
 * library's era arithmetic). Parse, format and compare both ways. */
static void test_time_every_day(void **state)
{
    (void)state;
    static const int64_t tod[3] = {0, 12 * 3600 * 1000000LL + 34 * 60000000LL + 56000000 + 789,
                                   86399999999LL};
    int64_t day = 0;
    for (int y = 1970; y <= 2100; y++) {
        for (int m = 1; m <= 12; m++) {
            for (unsigned d = 1; d <= oracle_dim(y, m); d++, day++) {
                for (int k = 0; k < 3; k++) {
                    int64_t us = day * 86400000000LL + tod[k];
                    int64_t secs = tod[k] / 1000000, frac = tod[k] % 1000000;
                    char want[40];
                    int wn = snprintf(want, sizeof want, "%04d%02d%02uT%02d%02d%02d", y, m, d,
                                      (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
                    if (frac)
                        snprintf(want + wn, sizeof want - (size_t)wn, ".%06dZ", (int)frac);
                    else
                        snprintf(want + wn, sizeof want - (size_t)wn, "Z");
                    char got[FL_TIME_MAX_TEXT];
                    int n = fl_time_format(us, got, sizeof got);
                    assert_int_equal(n, (int)strlen(want));
                    if (strcmp(got, want) != 0)
                        fail_msg("format %lld: %s, want %s", (long long)us, got, want);
                    int64_t back = 0;
                    assert_int_equal(fl_time_parse(want, strlen(want), &back, NULL), 0);
                    assert_int_equal(back, us);
                }
            }
        }
    }
    assert_int_equal(day, 47847); /* days from 1970-01-01 to 2101-01-01 */
}

/* Every day of years 0000..9999 at noon: format/parse round trip and the
 * days are consecutive. */
static void test_time_all_years_round_trip(void **state)
{
    (void)state;
    char buf[FL_TIME_MAX_TEXT];
    int64_t step = 86400000000LL;
    int64_t first = FL_TIME_MIN_US + step / 2;
    for (int64_t us = first; us <= FL_TIME_MAX_US; us += step * 7) {
        int n = fl_time_format(us, buf, sizeof buf);
        assert_true(n > 0);
        int64_t back;
        assert_int_equal(fl_time_parse(buf, (size_t)n, &back, NULL), 0);
        assert_int_equal(back, us);
    }
}

static void test_time_bounds_and_special(void **state)
{
    (void)state;
    char buf[FL_TIME_MAX_TEXT];
    assert_int_equal(fl_time_format(FL_TIME_MIN_US, buf, sizeof buf), 16);
    assert_string_equal(buf, "00000101T000000Z");
    assert_int_equal(fl_time_format(FL_TIME_MAX_US, buf, sizeof buf), 23);
    assert_string_equal(buf, "99991231T235959.999999Z");
    assert_int_equal(fl_time_format(FL_TIME_MIN_US - 1, buf, sizeof buf), FL_E_BAD_TIMESTAMP);
    assert_int_equal(fl_time_format(FL_TIME_MAX_US + 1, buf, sizeof buf), FL_E_BAD_TIMESTAMP);
    assert_int_equal(fl_time_format(INT64_MIN, buf, sizeof buf), FL_E_BAD_TIMESTAMP);
    assert_int_equal(fl_time_format(0, buf, 16), FL_E_OVERFLOW);
    assert_int_equal(fl_time_format(0, buf, 17), 16);
    assert_string_equal(buf, "19700101T000000Z");

    int64_t us;
    assert_int_equal(fl_time_parse("00000101T000000", 15, &us, NULL), 0);
    assert_int_equal(us, FL_TIME_MIN_US);
    assert_int_equal(fl_time_parse("00000229T000000", 15, &us, NULL), 0); /* year 0 is leap */
    assert_int_equal(fl_time_parse("99991231T235959.999999Z", 23, &us, NULL), 0);
    assert_int_equal(us, FL_TIME_MAX_US);

    /* Leap years: 2000 yes (400), 1900 no (100), 2024 yes (4), 2023 no. */
    assert_int_equal(fl_time_parse("20000229T000000", 15, &us, NULL), 0);
    assert_int_equal(fl_time_parse("20240229T000000", 15, &us, NULL), 0);
    assert_int_equal(fl_time_parse("19000229T000000", 15, &us, NULL), FL_E_BAD_TIMESTAMP);
    assert_int_equal(fl_time_parse("20230229T000000", 15, &us, NULL), FL_E_BAD_TIMESTAMP);
    assert_int_equal(fl_time_parse("19000228T000000", 15, &us, NULL), 0);
    assert_int_equal(fl_time_parse("19000301T000000", 15, &us, NULL), 0);
    assert_int_equal(us, T_19000301);

    /* Failure leaves the output alone. */
    us = 42;
    assert_int_equal(fl_time_parse("2020", 4, &us, NULL), FL_E_BAD_TIMESTAMP);
    assert_int_equal(us, 42);
}

typedef struct rfc_case {
    const char *in;
    int code;
    int64_t us;    /* when code == 0 */
    size_t offset; /* when code != 0 */
} rfc_case;

static const rfc_case rfc_cases[] = {
    {"2020-01-01T00:00:00Z", 0, T_20200101, 0},
    {"2020-01-01t00:00:00z", 0, T_20200101, 0},
    {"2020-06-04T12:00:00.5Z", 0, T_20200604_12 + 500000, 0},
    {"2020-06-04T12:00:00.000001Z", 0, T_20200604_12 + 1, 0},
    {"2020-06-04T14:00:00+02:00", 0, T_20200604_12, 0},
    {"2020-06-04T10:30:00-01:30", 0, T_20200604_12, 0},
    {"2020-06-04T12:00:00+00:00", 0, T_20200604_12, 0},
    {"2000-02-29T12:34:56Z", 0, T_20000229_123456, 0},
    {"2020-01-01T00:00:00", FL_E_BAD_TIMESTAMP, 0, 19},
    {"2020-01-01 00:00:00Z", FL_E_BAD_TIMESTAMP, 0, 10},
    {"2020-01-01T00:00Z", FL_E_BAD_TIMESTAMP, 0, 16},
    {"2020-13-01T00:00:00Z", FL_E_BAD_TIMESTAMP, 0, 5},
    {"2019-02-29T00:00:00Z", FL_E_BAD_TIMESTAMP, 0, 8},
    {"2020-01-01T25:00:00Z", FL_E_BAD_TIMESTAMP, 0, 11},
    {"2020-01-01T00:61:00Z", FL_E_BAD_TIMESTAMP, 0, 14},
    {"2020-01-01T00:00:60Z", FL_E_BAD_TIMESTAMP, 0, 17},
    {"2020-01-01T00:00:00.Z", FL_E_BAD_TIMESTAMP, 0, 20},
    {"2020-01-01T00:00:00.1234567Z", FL_E_BAD_TIMESTAMP, 0, 26},
    {"2020-01-01T00:00:00+24:00", FL_E_BAD_TIMESTAMP, 0, 20},
    {"2020-01-01T00:00:00+01:60", FL_E_BAD_TIMESTAMP, 0, 23},
    {"2020-01-01T00:00:00+0100", FL_E_BAD_TIMESTAMP, 0, 22},
    {"2020-01-01T00:00:00Zx", FL_E_BAD_TIMESTAMP, 0, 20},
    {"20200101T000000Z", FL_E_BAD_TIMESTAMP, 0, 4},
    {"0000-01-01T00:00:00+01:00", FL_E_BAD_TIMESTAMP, 0, 0},
    {"", FL_E_BAD_TIMESTAMP, 0, 0},
};

static void test_rfc3339(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc_cases / sizeof rfc_cases[0]; i++) {
        const rfc_case *c = &rfc_cases[i];
        int64_t us = -7;
        fl_bm_error err = {0};
        int rc = fl_time_parse_rfc3339(c->in, strlen(c->in), &us, &err);
        if (rc != c->code)
            fail_msg("%s: got %s (%s), want %s", c->in, fl_err_name(rc), err.text,
                     fl_err_name(c->code));
        if (rc == 0)
            assert_int_equal(us, c->us);
        else if (err.offset != c->offset)
            fail_msg("%s: offset %zu (%s), want %zu", c->in, err.offset, err.text, c->offset);
    }
    char buf[FL_TIME_MAX_TEXT];
    assert_int_equal(fl_time_format_rfc3339(T_20200101, buf, sizeof buf), 20);
    assert_string_equal(buf, "2020-01-01T00:00:00Z");
    assert_int_equal(fl_time_format_rfc3339(T_20200604_12 + 250, buf, sizeof buf), 27);
    assert_string_equal(buf, "2020-06-04T12:00:00.000250Z");
    int64_t back;
    assert_int_equal(fl_time_parse_rfc3339(buf, 27, &back, NULL), 0);
    assert_int_equal(back, T_20200604_12 + 250);
}

/* ---- points: format, compare, order ---------------------------------------- */

static void test_point_format_errors(void **state)
{
    (void)state;
    char buf[FL_BOOKMARK_MAX_TEXT];
    fl_bookmark b = fl_bookmark_exact(0, 1, FL_BM_NO_TS);
    assert_int_equal(fl_bookmark_format(&b, buf, sizeof buf), FL_E_INVAL);
    b = fl_bookmark_exact(1, 1, FL_TIME_MAX_US + 1);
    assert_int_equal(fl_bookmark_format(&b, buf, sizeof buf), FL_E_INVAL);
    b = fl_bookmark_timestamp(FL_BM_NO_TS);
    assert_int_equal(fl_bookmark_format(&b, buf, sizeof buf), FL_E_INVAL);
    b.kind = (fl_bm_kind)99;
    assert_int_equal(fl_bookmark_format(&b, buf, sizeof buf), FL_E_INVAL);
    b = fl_bookmark_exact(UINT64_MAX, UINT64_MAX, FL_TIME_MAX_US);
    int n = fl_bookmark_format(&b, buf, sizeof buf);
    assert_int_equal(n, 65);
    assert_string_equal(buf, "18446744073709551615|18446744073709551615|99991231T235959.999999Z");
    assert_true(n < FL_BOOKMARK_MAX_TEXT);
    assert_int_equal(fl_bookmark_format(&b, buf, 65), FL_E_OVERFLOW);
    b = fl_bookmark_now();
    assert_int_equal(fl_bookmark_format(&b, buf, 4), FL_E_OVERFLOW);
    assert_int_equal(fl_bookmark_format(&b, buf, 5), 4);
}

typedef struct cmp_case {
    fl_bookmark a, b;
    int rc;
    int cmp;
} cmp_case;

static const cmp_case cmp_cases[] = {
    {P_EX(7, 1, FL_BM_NO_TS), P_EX(7, 2, FL_BM_NO_TS), 0, -1},
    {P_EX(7, 2, T_20200605), P_EX(7, 2, T_20200604), 0, 0}, /* timestamps ignored */
    {P_EX(7, 3, FL_BM_NO_TS), P_EX(7, 2, FL_BM_NO_TS), 0, 1},
    {P_EX(7, 1, FL_BM_NO_TS), P_EX(8, 2, FL_BM_NO_TS), FL_E_INVAL, 0},
    {P_TS(T_20200604), P_TS(T_20200605), 0, -1},
    {P_TS(T_20200605), P_TS(T_20200605), 0, 0},
    {P_EPOCH, P_TS(T_20200604), 0, -1},
    {P_EPOCH, P_EX(1, 0, FL_BM_NO_TS), 0, -1},
    {P_EX(1, 0, FL_BM_NO_TS), P_EPOCH, 0, 1},
    {P_EPOCH, P_EPOCH, 0, 0},
    {P_EPOCH, P_NOW, FL_E_INVAL, 0},
    {P_NOW, P_NOW, FL_E_INVAL, 0},
    {P_RECENT, P_EPOCH, FL_E_INVAL, 0},
    {P_TS(T_20200604), P_EX(1, 1, T_20200605), FL_E_INVAL, 0},
};

static void test_compare(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cmp_cases / sizeof cmp_cases[0]; i++) {
        const cmp_case *c = &cmp_cases[i];
        int cmp = 42;
        int rc = fl_bookmark_compare(&c->a, &c->b, &cmp);
        if (rc != c->rc)
            fail_msg("case %zu: rc %d want %d", i, rc, c->rc);
        if (rc == 0 && (cmp > 0) - (cmp < 0) != c->cmp)
            fail_msg("case %zu: cmp %d want %d", i, cmp, c->cmp);
        if (rc != 0)
            assert_int_equal(cmp, 42);
    }
}

typedef struct msg {
    uint64_t pub, seq;
    int64_t ts;
} msg;

typedef struct order_case {
    fl_bookmark point;
    msg m;
    fl_bm_order want;
} order_case;

static const order_case order_cases[] = {
    {P_EPOCH, {5, 1, T_20200101}, FL_BM_ORDER_AFTER},
    {P_NOW, {5, 1, T_20200101}, FL_BM_ORDER_UNKNOWN},
    {P_RECENT, {5, 1, T_20200101}, FL_BM_ORDER_UNKNOWN},
    {P_TS(T_20200604), {5, 1, T_20200604 - 1}, FL_BM_ORDER_BEFORE},
    {P_TS(T_20200604), {5, 1, T_20200604}, FL_BM_ORDER_AT},
    {P_TS(T_20200604), {5, 1, T_20200604 + 1}, FL_BM_ORDER_AFTER},
    {P_TS(T_20200604), {5, 1, FL_BM_NO_TS}, FL_BM_ORDER_UNKNOWN},
    {P_EX(5, 10, T_20200604), {5, 9, T_20200605}, FL_BM_ORDER_BEFORE}, /* seq wins */
    {P_EX(5, 10, T_20200604), {5, 10, T_20200604}, FL_BM_ORDER_AT},
    {P_EX(5, 10, FL_BM_NO_TS), {5, 11, 0}, FL_BM_ORDER_AFTER},
    {P_EX(5, 10, T_20200604), {6, 1, T_20200604 - 1}, FL_BM_ORDER_BEFORE},
    {P_EX(5, 10, T_20200604), {6, 1, T_20200604 + 1}, FL_BM_ORDER_AFTER},
    {P_EX(5, 10, T_20200604), {6, 1, T_20200604}, FL_BM_ORDER_UNKNOWN},
    {P_EX(5, 10, FL_BM_NO_TS), {6, 1, T_20200604}, FL_BM_ORDER_UNKNOWN},
};

static void test_order_msg(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof order_cases / sizeof order_cases[0]; i++) {
        const order_case *c = &order_cases[i];
        fl_bm_order got = fl_bm_order_msg(&c->point, c->m.pub, c->m.seq, c->m.ts);
        if (got != c->want)
            fail_msg("case %zu: %d want %d", i, (int)got, (int)c->want);
    }
}

/* ---- range bounds ------------------------------------------------------------ */

typedef struct bound_case {
    const char *range; /* parsed with fl_bm_selector_parse */
    msg m;
    fl_bm_verdict begin;
    fl_bm_end end;
} bound_case;

#define D FL_BM_UNDECIDED
static const bound_case bound_cases[] = {
    /* The messages of 4 June exactly. */
    {"[20200604T000000:20200605T000000)", {1, 1, T_20200604 - 1}, FL_BM_NO, FL_BM_END_INSIDE},
    {"[20200604T000000:20200605T000000)", {1, 1, T_20200604}, FL_BM_YES, FL_BM_END_INSIDE},
    {"[20200604T000000:20200605T000000)", {1, 1, T_20200605 - 1}, FL_BM_YES, FL_BM_END_INSIDE},
    {"[20200604T000000:20200605T000000)", {1, 1, T_20200605}, FL_BM_YES, FL_BM_END_PAST},
    /* Exclusive begin, inclusive timestamp end: the end microsecond is in. */
    {"(20200604T000000:20200605T000000]", {1, 1, T_20200604}, FL_BM_NO, FL_BM_END_INSIDE},
    {"(20200604T000000:20200605T000000]", {1, 1, T_20200605}, FL_BM_YES, FL_BM_END_INSIDE},
    {"(20200604T000000:20200605T000000]", {1, 1, T_20200605 + 1}, FL_BM_YES, FL_BM_END_PAST},
    /* Exact bookmarks of one publisher. */
    {"[7|10|:7|20|]", {7, 10, 0}, FL_BM_YES, FL_BM_END_INSIDE},
    {"(7|10|:7|20|]", {7, 10, 0}, FL_BM_NO, FL_BM_END_INSIDE},
    {"(7|10|:7|20|]", {7, 9, 0}, FL_BM_NO, FL_BM_END_INSIDE},
    {"(7|10|:7|20|]", {7, 11, 0}, FL_BM_YES, FL_BM_END_INSIDE},
    {"(7|10|:7|20|]", {7, 20, 0}, FL_BM_YES, FL_BM_END_LAST},
    {"(7|10|:7|20|)", {7, 20, 0}, FL_BM_YES, FL_BM_END_PAST},
    {"(7|10|:7|20|]", {7, 21, 0}, FL_BM_YES, FL_BM_END_PAST},
    /* Other publisher, no timestamps: needs the log. */
    {"(7|10|:7|20|]", {8, 15, T_20200604}, D, FL_BM_END_UNDECIDED},
    /* Other publisher, resolved by the bookmark's timestamp. */
    {"(7|10|20200604T000000:7|20|20200605T000000]",
     {8, 1, T_20200604_12},
     FL_BM_YES,
     FL_BM_END_INSIDE},
    {"(7|10|20200604T000000:7|20|20200605T000000]",
     {8, 1, T_20200605 + 1},
     FL_BM_YES,
     FL_BM_END_PAST},
    /* Lists: begin is the earliest, end the latest. */
    {"(7|10|,8|3|:7|20|,8|9|]", {8, 4, 0}, FL_BM_YES, FL_BM_END_INSIDE},
    /* Past 7|20 but 8|9 may lie later in the log: undecided. */
    {"(7|10|,8|3|:7|20|,8|9|]", {7, 25, 0}, FL_BM_YES, FL_BM_END_UNDECIDED},
    {"(7|10|,8|3|:7|20|,8|9|]", {7, 5, 0}, D, FL_BM_END_INSIDE},
    {"[20200604T000000,20200604T120000:20200604T120000,20200605T000000)",
     {1, 1, T_20200604_12 + 1},
     FL_BM_YES,
     FL_BM_END_INSIDE},
    {"[20200604T000000,20200604T120000:20200604T120000,20200605T000000)",
     {1, 1, T_20200605},
     FL_BM_YES,
     FL_BM_END_PAST},
    {"[0:20200604T000000,7|20|]", {7, 20, T_20200605}, FL_BM_YES, FL_BM_END_LAST},
    {"[0:20200604T000000,7|20|]", {7, 21, T_20200605}, FL_BM_YES, FL_BM_END_PAST},
    {"[0:20200604T000000,7|20|]", {8, 1, T_20200605}, FL_BM_YES, FL_BM_END_UNDECIDED},
    /* EPOCH and NOW. */
    {"[0:0|1|)", {1, 1, 0}, FL_BM_YES, FL_BM_END_UNDECIDED},
    {"(0:0]", {1, 1, 0}, FL_BM_YES, FL_BM_END_PAST},
    {"[0|1|:20200605T000000)", {1, 1, T_20200604}, D, FL_BM_END_INSIDE},
};
#undef D

static void test_range_bounds(void **state)
{
    fl_bm_selector *sel = *state;
    for (size_t i = 0; i < sizeof bound_cases / sizeof bound_cases[0]; i++) {
        const bound_case *c = &bound_cases[i];
        assert_int_equal(fl_bm_selector_parse(c->range, strlen(c->range), sel, NULL), 0);
        assert_int_equal(sel->kind, FL_BM_SEL_RANGE);
        fl_bm_verdict b = fl_bm_range_begin_admits(&sel->begin, sel->begin_inclusive, c->m.pub,
                                                   c->m.seq, c->m.ts);
        fl_bm_end e =
            fl_bm_range_end_check(&sel->end, sel->end_inclusive, c->m.pub, c->m.seq, c->m.ts);
        if (b != c->begin || e != c->end)
            fail_msg("case %zu %s msg %llu|%llu|%lld: begin %d end %d, want %d %d", i, c->range,
                     (unsigned long long)c->m.pub, (unsigned long long)c->m.seq, (long long)c->m.ts,
                     (int)b, (int)e, (int)c->begin, (int)c->end);
        fl_bm_selector_free(sel);
    }
    fl_bm_list empty;
    fl_bm_list_init(&empty);
    assert_int_equal(fl_bm_range_begin_admits(&empty, true, 1, 1, 0), FL_BM_NO);
    assert_int_equal(fl_bm_range_end_check(&empty, true, 1, 1, 0), FL_BM_END_PAST);
}

/* ---- publisher ids ----------------------------------------------------------- */

static void test_publisher_id(void **state)
{
    (void)state;
    /* Published FNV-1a 64 test vectors. */
    assert_true(fl_publisher_id("", 0) == 0xcbf29ce484222325ULL);
    assert_true(fl_publisher_id("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(fl_publisher_id("foobar", 6) == 0x85944171f73967e8ULL);
    /* Stable, length-bounded, and distinct for distinct names here. */
    assert_true(fl_publisher_id("pub-1", 5) == fl_publisher_id("pub-1xyz", 5));
    assert_true(fl_publisher_id("pub-1", 5) != fl_publisher_id("pub-2", 5));
    for (int i = 0; i < 1000; i++) {
        char name[16];
        int n = snprintf(name, sizeof name, "client-%d", i);
        assert_true(fl_publisher_id(name, (size_t)n) > 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_selectors, sel_setup, sel_teardown),
        cmocka_unit_test(test_valid_points),
        cmocka_unit_test_setup_teardown(test_invalid_selectors, sel_setup, sel_teardown),
        cmocka_unit_test_setup_teardown(test_error_text, sel_setup, sel_teardown),
        cmocka_unit_test_setup_teardown(test_length_bound, sel_setup, sel_teardown),
        cmocka_unit_test(test_point_parse_rejects_structure),
        cmocka_unit_test_setup_teardown(test_list_limit, sel_setup, sel_teardown),
        cmocka_unit_test_setup_teardown(test_selector_format_errors, sel_setup, sel_teardown),
        cmocka_unit_test_setup_teardown(test_selector_copy_equal, sel_setup, sel_teardown),
        cmocka_unit_test(test_time_every_day),
        cmocka_unit_test(test_time_all_years_round_trip),
        cmocka_unit_test(test_time_bounds_and_special),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_point_format_errors),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_order_msg),
        cmocka_unit_test_setup_teardown(test_range_bounds, sel_setup, sel_teardown),
        cmocka_unit_test(test_publisher_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
