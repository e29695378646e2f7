/* Unit tests for the reconnect delay strategies (client/delay.c): exact
 * exponential sequences (the AMPS guide's example with its exact give-up
 * time), defaults, per-URI tracking, reset, the fixed strategy, jitter from
 * a seeded runtime PRNG, and option validation. A minimal runtime supplies
 * a settable clock and a seeded PRNG. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/delay.h"
#include "faultline/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_rt {
    fl_runtime rt;
    uint64_t now;
    uint64_t rng;
    unsigned draws;
} fake_rt;

static uint64_t f_now(void *self)
{
    return ((fake_rt *)self)->now;
}

/* splitmix64 */
static uint64_t f_random(void *self)
{
    fake_rt *f = self;
    f->draws++;
    uint64_t z = (f->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const fl_runtime_ops F_OPS = {
    .version = FL_RUNTIME_OPS_VERSION, .name = "fake", .now = f_now, .random = f_random};

static int setup(void **state)
{
    fake_rt *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->rt.ops = &F_OPS;
    f->rt.self = f;
    f->now = 1000000; /* not zero: the budget must be relative */
    f->rng = 42;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* The AMPS guide's example: 200 ms, x1.5, max 5 s, give up after 60 s.
 * Attempts take no time: the clock advances by exactly each wait. */
static void test_exponential_guide_example(void **state)
{
    fake_rt *f = *state;
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT;
    o.initial_us = 200000;
    o.exponent = 1.5;
    o.max_us = 5000000;
    o.max_total_us = 60000000;
    o.jitter = 0.0;
    fl_delay d;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &o, &d), 0);

    const uint64_t expect[] = {0,       200000,  300000,  450000,  675000,  1012500, 1518750,
                               2278125, 3417187, 5000000, 5000000, 5000000, 5000000, 5000000,
                               5000000, 5000000, 5000000, 5000000, 5000000};
    const uint64_t start = f->now;
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        uint64_t w = 99;
        assert_int_equal(fl_delay_next_wait(&d, "tcp://a", &w), 0);
        assert_int_equal(w, expect[i]);
        f->now += w;
        total += w;
    }
    /* 9,851,562 us so far + 10 x 5 s = 59,851,562 us: 148,438 us remain. */
    assert_int_equal(total, 59851562);
    uint64_t w = 0;
    assert_int_equal(fl_delay_next_wait(&d, "tcp://a", &w), 0);
    assert_int_equal(w, 148438);
    f->now += w;
    assert_int_equal(f->now - start, 60000000);
    assert_int_equal(fl_delay_next_wait(&d, "tcp://a", &w), FL_E_GAVE_UP);
    assert_int_equal(w, 148438); /* untouched */
    assert_int_equal(f->draws, 0);

    /* Reset restarts both the per-URI history and the budget. */
    fl_delay_reset(&d);
    assert_int_equal(fl_delay_next_wait(&d, "tcp://a", &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(fl_delay_next_wait(&d, "tcp://a", &w), 0);
    assert_int_equal(w, 200000);
    fl_delay_free(&d);
    assert_null(d.ops);
}

static void test_exponential_defaults_capped(void **state)
{
    fake_rt *f = *state;
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT;
    assert_int_equal(o.initial_us, 200000);
    assert_true(o.exponent == 2.0);
    assert_int_equal(o.max_us, 20000000);
    assert_int_equal(o.max_total_us, 0);
    assert_true(o.jitter == 1.0);
    o.jitter = 0;
    fl_delay d;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &o, &d), 0);
    const uint64_t expect[] = {0,       200000,   400000,   800000,   1600000, 3200000,
                               6400000, 12800000, 20000000, 20000000, 20000000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        uint64_t w;
        assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
        assert_int_equal(w, expect[i]);
        f->now += w + 12345; /* attempts take time; no total limit */
    }
    fl_delay_free(&d);
}

static void test_exponential_per_uri(void **state)
{
    fake_rt *f = *state;
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT;
    o.jitter = 0;
    fl_delay d;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &o, &d), 0);
    uint64_t w;
    /* Alternating servers: each URI's first attempt waits 0, then each
     * grows on its own. */
    const char *uris[] = {"a", "b", "a", "b", "a", "c"};
    const uint64_t expect[] = {0, 0, 200000, 200000, 400000, 0};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(fl_delay_next_wait(&d, uris[i], &w), 0);
        assert_int_equal(w, expect[i]);
    }
    fl_delay_free(&d);
}

static void test_exponential_jitter_seeded(void **state)
{
    fake_rt *f = *state;
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT; /* jitter 1.0 */
    o.max_us = 1000000;
    fl_delay d;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &o, &d), 0);
    uint64_t w, got[8];
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    assert_int_equal(w, 0); /* first attempt: no draw */
    assert_int_equal(f->draws, 0);
    const uint64_t base[] = {200000, 400000, 800000, 1000000, 1000000, 1000000, 1000000, 1000000};
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(fl_delay_next_wait(&d, "a", &got[i]), 0);
        assert_true(got[i] >= base[i]);
        assert_true(got[i] <= base[i] + 200000);
        assert_true(got[i] <= o.max_us); /* never past the maximum */
    }
    assert_int_equal(f->draws, 8);
    /* At least one of the first three draws added something. */
    assert_true(got[0] != base[0] || got[1] != base[1] || got[2] != base[2]);
    fl_delay_free(&d);

    /* Same seed, same waits. */
    fake_rt g = *f;
    g.rt.self = &g;
    g.rng = 42;
    g.draws = 0;
    assert_int_equal(fl_delay_exponential_new(&g.rt, &o, &d), 0);
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
        assert_int_equal(w, got[i]);
    }
    fl_delay_free(&d);
}

static void test_fixed(void **state)
{
    fake_rt *f = *state;
    fl_delay_fixed_options o = FL_DELAY_FIXED_OPTIONS_INIT;
    o.delay_us = 500000;
    o.max_total_us = 1200000;
    fl_delay d;
    assert_int_equal(fl_delay_fixed_new(&f->rt, &o, &d), 0);
    uint64_t w;
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    assert_int_equal(w, 0); /* new URI at once */
    assert_int_equal(fl_delay_next_wait(&d, "b", &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    assert_int_equal(w, 500000);
    f->now += 500000;
    assert_int_equal(fl_delay_next_wait(&d, "b", &w), 0);
    assert_int_equal(w, 500000);
    f->now += 500000;
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    assert_int_equal(w, 200000); /* cut to the remaining budget */
    f->now += 200000;
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), FL_E_GAVE_UP);
    assert_non_null(strstr(fl_delay_describe(&d), "fixed delay=500000us"));
    fl_delay_reset(&d);
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    assert_int_equal(w, 0);
    fl_delay_free(&d);
}

static void test_fixed_defaults_no_limit(void **state)
{
    fake_rt *f = *state;
    fl_delay d;
    assert_int_equal(fl_delay_fixed_new(&f->rt, NULL, &d), 0);
    uint64_t w;
    assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
    for (int i = 0; i < 100; i++) {
        f->now += 3600000000ULL;
        assert_int_equal(fl_delay_next_wait(&d, "a", &w), 0);
        assert_int_equal(w, 200000);
    }
    fl_delay_free(&d);
}

static void test_validation(void **state)
{
    fake_rt *f = *state;
    fl_delay d = {NULL, NULL};
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT;
    fl_delay_exp_options bad = o;
    bad.exponent = 0.5;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &bad, &d), FL_E_INVAL);
    bad = o;
    bad.exponent = NAN;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &bad, &d), FL_E_INVAL);
    bad = o;
    bad.jitter = -1;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &bad, &d), FL_E_INVAL);
    bad = o;
    bad.max_us = 1000;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &bad, &d), FL_E_INVAL);
    bad = o;
    bad.version = 99;
    assert_int_equal(fl_delay_exponential_new(&f->rt, &bad, &d), FL_E_INVAL);
    assert_int_equal(fl_delay_exponential_new(NULL, &o, &d), FL_E_INVAL);
    assert_int_equal(fl_delay_fixed_new(&f->rt, NULL, NULL), FL_E_INVAL);
    assert_null(d.ops);
    assert_int_equal(fl_delay_next_wait(&d, "a", NULL), FL_E_INVAL);
    assert_string_equal(fl_delay_describe(&d), "no delay strategy");
    fl_delay_reset(&d);
    fl_delay_free(&d);
    assert_int_equal(fl_delay_exponential_new(&f->rt, &o, &d), 0);
    assert_non_null(strstr(fl_delay_describe(&d), "exponential initial=200000us"));
    fl_delay_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exponential_guide_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exponential_defaults_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exponential_per_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exponential_jitter_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_defaults_no_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
