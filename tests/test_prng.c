/* Tests for the simulator PRNG (simulator/prng.c): known-answer vectors for
 * xoshiro256** and splitmix64, and the bounded draws. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "prng.h"

/* Reference outputs of xoshiro256** from state {1, 2, 3, 4}, as produced by
 * the published algorithm (prng.shi.it/xoshiro256starstar.c). */
static void test_xoshiro_kat(void **state)
{
    (void)state;
    static const uint64_t want[10] = {
        11520ULL,
        0ULL,
        1509978240ULL,
        1215971899390074240ULL,
        1216172134540287360ULL,
        607988272756665600ULL,
        16172922978634559625ULL,
        8476171486693032832ULL,
        10595114339597558777ULL,
        2904607092377533576ULL,
    };
    const uint64_t s[4] = {1, 2, 3, 4};
    sim_prng p;
    sim_prng_seed_state(&p, s);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(sim_prng_next(&p), want[i]);
}

/* splitmix64 from seed 1234567 (the values java.util.SplittableRandom and
 * the reference splitmix64.c give). */
static void test_splitmix_kat(void **state)
{
    (void)state;
    static const uint64_t want[5] = {
        6457827717110365317ULL, 3203168211198807973ULL,  9817491932198370423ULL,
        4593380528125082431ULL, 16408922859458223821ULL,
    };
    uint64_t x = 1234567;
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(sim_splitmix64(&x), want[i]);
}

/* Seeding = four splitmix64 outputs; then xoshiro256**. */
static void test_seed_kat(void **state)
{
    (void)state;
    sim_prng p;
    sim_prng_seed(&p, 42);
    assert_int_equal(p.s[0], 0xbdd732262feb6e95ULL);
    assert_int_equal(p.s[1], 0x28efe333b266f103ULL);
    assert_int_equal(p.s[2], 0x47526757130f9f52ULL);
    assert_int_equal(p.s[3], 0x581ce1ff0e4ae394ULL);
    static const uint64_t want[5] = {
        1546998764402558742ULL,  6990951692964543102ULL,  12544586762248559009ULL,
        17057574109182124193ULL, 18295552978065317476ULL,
    };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(sim_prng_next(&p), want[i]);
}

static void test_zero_state_is_fixed_up(void **state)
{
    (void)state;
    const uint64_t z[4] = {0, 0, 0, 0};
    sim_prng p;
    sim_prng_seed_state(&p, z);
    uint64_t a = sim_prng_next(&p), b = sim_prng_next(&p);
    assert_true(a != 0 || b != 0);
}

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    sim_prng a, b, c;
    sim_prng_seed(&a, 7);
    sim_prng_seed(&b, 7);
    sim_prng_seed(&c, 8);
    int differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_prng_next(&a);
        assert_int_equal(x, sim_prng_next(&b));
        differs += x != sim_prng_next(&c);
    }
    assert_true(differs > 990);
}

static void test_below_range(void **state)
{
    (void)state;
    static const uint64_t ns[] = {1, 2, 3, 7, 10, 1000, (1ULL << 63) + 1, UINT64_MAX};
    sim_prng p;
    sim_prng_seed(&p, 1);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int i = 0; i < 2000; i++)
            assert_true(sim_prng_below(&p, ns[k]) < ns[k]);
    /* n == 0 returns 0 and draws nothing. */
    sim_prng q = p;
    assert_int_equal(sim_prng_below(&p, 0), 0);
    assert_int_equal(sim_prng_next(&p), sim_prng_next(&q));
}

static void test_below_uniform(void **state)
{
    (void)state;
    sim_prng p;
    sim_prng_seed(&p, 3);
    unsigned counts[6] = {0};
    for (int i = 0; i < 60000; i++)
        counts[sim_prng_below(&p, 6)]++;
    for (int k = 0; k < 6; k++) {
        assert_true(counts[k] > 9500);
        assert_true(counts[k] < 10500);
    }
}

/* A bound just above 2^63 rejects almost half the raw draws: the results
 * must still be below n and both halves of the range must appear. */
static void test_below_large_bound(void **state)
{
    (void)state;
    sim_prng p;
    sim_prng_seed(&p, 4);
    uint64_t n = (1ULL << 63) + 12345;
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = sim_prng_below(&p, n);
        assert_true(v < n);
        high += v >= (1ULL << 62);
    }
    assert_true(high > 300 && high < 700);
}

static void test_range_inclusive(void **state)
{
    (void)state;
    sim_prng p;
    sim_prng_seed(&p, 5);
    int seen[3] = {0};
    for (int i = 0; i < 300; i++) {
        uint64_t v = sim_prng_range(&p, 5, 7);
        assert_true(v >= 5 && v <= 7);
        seen[v - 5] = 1;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    assert_int_equal(sim_prng_range(&p, 9, 9), 9);
    assert_int_equal(sim_prng_range(&p, 9, 3), 9);
}

static void test_double_unit_interval(void **state)
{
    (void)state;
    sim_prng p;
    sim_prng_seed(&p, 6);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double d = sim_prng_double(&p);
        assert_true(d >= 0.0 && d < 1.0);
        sum += d;
    }
    assert_true(sum / 10000 > 0.48 && sum / 10000 < 0.52);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoshiro_kat),
        cmocka_unit_test(test_splitmix_kat),
        cmocka_unit_test(test_seed_kat),
        cmocka_unit_test(test_zero_state_is_fixed_up),
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_below_range),
        cmocka_unit_test(test_below_uniform),
        cmocka_unit_test(test_below_large_bound),
        cmocka_unit_test(test_range_inclusive),
        cmocka_unit_test(test_double_unit_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
