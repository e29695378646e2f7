/* Tests for the bookmark state shared by the memory and file bookmark stores
 * (client/bmstate.c), driven directly rather than through a store vtable:
 * the argument check, log verdicts, out-of-order discards and the
 * contiguous point, resume points (EPOCH pinning, publisher order, buffer
 * limits), purge, a log that goes backwards, ring growth and wrap-around,
 * and loading a checkpoint. The store contract tables (test_store_mem,
 * test_store_file) cover the same rules through the stores.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bmstate.h"
#include "faultline/bookmark.h"
#include "faultline/error.h"

#define NO_TS (-1) /* a negative timestamp formats as "pub|seq|" */

static int setup(void **state)
{
    fl__bmstate *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    fl__bmstate_free(*state);
    free(*state);
    return 0;
}

static fl_store_bookmark bm(uint64_t pub, uint64_t seq)
{
    return (fl_store_bookmark){.publisher = pub, .sequence = seq, .ts_us = NO_TS};
}

/* log() as the stores run it: verdict, then the state change when new. */
static int log_bm(fl__bmstate *st, const char *sub, uint64_t pub, uint64_t seq)
{
    fl_store_bookmark b = bm(pub, seq);
    int v = fl__bmstate_log_verdict(st, sub, &b);
    if (v != 2)
        return v;
    return fl__bmstate_log(st, sub, pub, seq, NO_TS);
}

static int is_disc(fl__bmstate *st, const char *sub, uint64_t pub, uint64_t seq)
{
    fl_store_bookmark b = bm(pub, seq);
    return fl__bmstate_is_discarded(st, sub, &b);
}

static void assert_resume(fl__bmstate *st, const char *sub, const char *want)
{
    char buf[256];
    int n = fl__bmstate_most_recent(st, sub, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_check_args(void **state)
{
    static const struct {
        const char *sub;
        bool null_bm;
        uint64_t pub;
        int64_t ts;
        int rc;
        const char *text;
    } cases[] = {
        {"s", false, 1, 0, 0, ""},
        {"s", false, 1, FL_TIME_MAX_US, 0, ""},
        {"s", false, 1, NO_TS, 0, ""},
        {NULL, false, 1, 0, FL_E_INVAL, "log: NULL sub id or bookmark"},
        {"s", true, 1, 0, FL_E_INVAL, "log: NULL sub id or bookmark"},
        {"s", false, 0, 0, FL_E_INVAL, "log: publisher 0 or timestamp out of range"},
        {"s", false, 1, FL_TIME_MAX_US + 1, FL_E_INVAL,
         "log: publisher 0 or timestamp out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_store_bookmark b = {.publisher = cases[i].pub, .sequence = 1, .ts_us = cases[i].ts};
        char err[80] = "";
        int rc = fl__bmstate_check_args("log", cases[i].sub, cases[i].null_bm ? NULL : &b, err,
                                        sizeof err);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(err, cases[i].text);
        rc = fl__bmstate_check_args("log", cases[i].sub, cases[i].null_bm ? NULL : &b, NULL, 0);
        assert_int_equal(rc, cases[i].rc);
    }
}

static void test_log_verdicts(void **state)
{
    fl__bmstate *st = *state;
    assert_int_equal(log_bm(st, "s", 7, 1), 0);
    assert_int_equal(log_bm(st, "s", 7, 3), 0);
    fl_store_bookmark b = bm(7, 1);
    assert_int_equal(fl__bmstate_log_verdict(st, "s", &b), 0); /* redelivery */
    b = bm(7, 2);
    assert_int_equal(fl__bmstate_log_verdict(st, "s", &b), 1); /* a gap: unknown */
    b = bm(7, 4);
    assert_int_equal(fl__bmstate_log_verdict(st, "s", &b), 2);
    b = bm(8, 1);
    assert_int_equal(fl__bmstate_log_verdict(st, "s", &b), 2); /* other publisher */
    b = bm(7, 1);
    assert_int_equal(fl__bmstate_log_verdict(st, "t", &b), 2); /* other sub */

    fl__bmstate_discard(st, "s", 7, 1);
    assert_int_equal(log_bm(st, "s", 7, 1), 1);
    assert_int_equal(is_disc(st, "s", 7, 1), 1);
    assert_int_equal(is_disc(st, "s", 7, 2), 1);
    assert_int_equal(is_disc(st, "s", 7, 3), 0);
    assert_int_equal(is_disc(st, "s", 7, 4), 0); /* above highest_seen */
    assert_int_equal(is_disc(st, "t", 7, 1), 0);
}

static void test_discard_out_of_order(void **state)
{
    fl__bmstate *st = *state;
    for (uint64_t q = 1; q <= 4; q++)
        assert_int_equal(log_bm(st, "s", 5, q), 0);
    assert_int_equal(fl__bmstate_discard_changes(st, "s", 5, 3), 1);
    fl__bmstate_discard(st, "s", 5, 3);
    assert_int_equal(fl__bmstate_discard_changes(st, "s", 5, 3), 0);
    assert_int_equal(fl__bmstate_discard_changes(st, "s", 5, 9), 0);
    assert_int_equal(fl__bmstate_discard_changes(st, "x", 5, 1), 0);
    assert_resume(st, "s", "0"); /* 1 is still unprocessed */

    fl__bmstate_discard(st, "s", 5, 1);
    assert_resume(st, "s", "5|1|");
    fl__bmstate_discard(st, "s", 5, 2); /* advances past the discarded 3 */
    assert_resume(st, "s", "5|3|");
    const fl__bm_pub *p = &fl__bmstate_sub_find(st, "s")->pubs[0];
    assert_int_equal(p->len, 1);
    assert_int_equal(fl__bmstate_entry(p, 0)->seq, 4);
    assert_int_equal(fl__bmstate_discard_changes(st, "s", 5, 2), 0); /* behind the point */
}

static void test_most_recent(void **state)
{
    fl__bmstate *st = *state;
    assert_resume(st, "none", "0");
    assert_int_equal(log_bm(st, "s", 9, 4), 0);
    assert_int_equal(log_bm(st, "s", 2, 6), 0);
    fl__bmstate_discard(st, "s", 9, 4);
    assert_resume(st, "s", "0"); /* publisher 2's first message pins EPOCH */
    fl__bmstate_discard(st, "s", 2, 6);
    assert_resume(st, "s", "2|6|,9|4|"); /* ascending publisher id */

    char buf[16];
    assert_int_equal(fl__bmstate_most_recent(st, "s", buf, 9), FL_E_OVERFLOW);
    assert_int_equal(fl__bmstate_most_recent(st, "s", buf, 10), 9);
    assert_int_equal(fl__bmstate_most_recent(st, "s", NULL, 0), FL_E_OVERFLOW);
    assert_int_equal(fl__bmstate_most_recent(st, "none", buf, 1), FL_E_OVERFLOW);
    assert_int_equal(fl__bmstate_most_recent(st, "none", buf, 2), 1);

    assert_int_equal(fl__bmstate_log(st, "u", 1, 3, 0), 0);
    fl__bmstate_discard(st, "u", 1, 3);
    char text[FL_BOOKMARK_MAX_TEXT + 1];
    fl_bookmark want = fl_bookmark_exact(1, 3, 0);
    assert_true(fl_bookmark_format(&want, text, sizeof text) > 4);
    assert_resume(st, "u", text);
}

static void test_log_backwards_is_corrupt(void **state)
{
    fl__bmstate *st = *state;
    assert_int_equal(fl__bmstate_log(st, "s", 1, 10, NO_TS), 0);
    assert_int_equal(fl__bmstate_log(st, "s", 1, 10, NO_TS), FL_E_CORRUPT);
    assert_int_equal(fl__bmstate_log(st, "s", 1, 4, NO_TS), FL_E_CORRUPT);
    const fl__bm_pub *p = &fl__bmstate_sub_find(st, "s")->pubs[0];
    assert_int_equal(p->len, 1);
    assert_int_equal(p->highest_seen, 10);
}

static void test_purge_and_order(void **state)
{
    fl__bmstate *st = *state;
    const char *ids[] = {"b", "a", "c"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(log_bm(st, ids[i], 1, 1), 0);
    assert_int_equal(st->nsubs, 3);
    assert_string_equal(st->subs[0].id, "a");
    assert_string_equal(st->subs[1].id, "b");
    assert_string_equal(st->subs[2].id, "c");
    fl__bmstate_purge(st, "zz");
    assert_int_equal(st->nsubs, 3);
    fl__bmstate_purge(st, "b");
    assert_int_equal(st->nsubs, 2);
    assert_null(fl__bmstate_sub_find(st, "b"));
    assert_int_equal(log_bm(st, "b", 1, 1), 0); /* forgotten: new again */
    fl__bmstate_purge(st, NULL);
    assert_int_equal(st->nsubs, 0);
    assert_int_equal(log_bm(st, "a", 1, 1), 0);
}

static void test_ring_wrap_and_growth(void **state)
{
    fl__bmstate *st = *state;
    for (uint64_t q = 1; q <= 12; q++)
        assert_int_equal(log_bm(st, "s", 3, q), 0);
    for (uint64_t q = 1; q <= 10; q++)
        fl__bmstate_discard(st, "s", 3, q);
    for (uint64_t q = 13; q <= 60; q++) /* wraps the 16-slot ring, then grows it */
        assert_int_equal(log_bm(st, "s", 3, q), 0);
    const fl__bm_pub *p = &fl__bmstate_sub_find(st, "s")->pubs[0];
    assert_int_equal(p->len, 50);
    for (size_t i = 0; i < p->len; i++)
        assert_int_equal(fl__bmstate_entry(p, i)->seq, 11 + i);
    assert_int_equal(is_disc(st, "s", 3, 10), 1);
    assert_int_equal(is_disc(st, "s", 3, 11), 0);
    assert_int_equal(is_disc(st, "s", 3, 60), 0);
    for (uint64_t q = 11; q <= 59; q++)
        fl__bmstate_discard(st, "s", 3, q);
    assert_resume(st, "s", "3|59|");
}

static void test_checkpoint_load(void **state)
{
    fl__bmstate *st = *state;
    fl__bm_pub *p = fl__bmstate_pub_get(st, "s", 4);
    assert_non_null(p);
    fl__bmstate_set_point(p, 20, NO_TS);
    assert_int_equal(fl__bmstate_push(p, 22, NO_TS, false), 0);
    assert_int_equal(fl__bmstate_push(p, 25, NO_TS, true), 0);
    assert_ptr_equal(fl__bmstate_pub_get(st, "s", 4), p);
    assert_int_equal(p->highest_seen, 25);
    assert_resume(st, "s", "4|20|");
    assert_int_equal(is_disc(st, "s", 4, 20), 1);
    assert_int_equal(is_disc(st, "s", 4, 21), 1);
    assert_int_equal(is_disc(st, "s", 4, 22), 0);
    assert_int_equal(is_disc(st, "s", 4, 25), 1);
    fl__bmstate_discard(st, "s", 4, 22);
    assert_resume(st, "s", "4|25|");
    assert_int_equal(log_bm(st, "s", 4, 26), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_args),
        cmocka_unit_test_setup_teardown(test_log_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_most_recent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_backwards_is_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_wrap_and_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
