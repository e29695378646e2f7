/* Unit tests for the scenario value syntaxes (simulator/units.c): durations,
 * sizes, rates, bandwidths, RFC 3339 and bookmark timestamps, scenario times,
 * calendar arithmetic and the canonical formatters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "units.h"

#include "faultline/error.h"

#include <stdio.h>
#include <string.h>

typedef struct u64_case {
    const char *text;
    int rc;
    uint64_t want;
} u64_case;

static const u64_case duration_cases[] = {
    {"0s", 0, 0},
    {"0us", 0, 0},
    {"250ms", 0, 250000},
    {"1.5s", 0, 1500000},
    {"26h", 0, 26ull * 3600 * 1000000},
    {"1d", 0, 86400ull * 1000000},
    {"2m", 0, 120000000},
    {"100us", 0, 100},
    {"0.001ms", 0, 1},
    {"1.000000s", 0, 1000000},
    {"18446744073709551615us", 0, UINT64_MAX},
    {"", FL_E_INVAL, 0},
    {"5", FL_E_INVAL, 0},
    {"s", FL_E_INVAL, 0},
    {"5 s", FL_E_INVAL, 0},
    {" 5s", FL_E_INVAL, 0},
    {"5S", FL_E_INVAL, 0},
    {"5sec", FL_E_INVAL, 0},
    {"1.5us", FL_E_INVAL, 0},
    {"1.s", FL_E_INVAL, 0},
    {".5s", FL_E_INVAL, 0},
    {"+5s", FL_E_INVAL, 0},
    {"5ms ", FL_E_INVAL, 0},
    {"-1s", FL_E_OVERFLOW, 0},
    {"-0s", FL_E_OVERFLOW, 0},
    {"-x", FL_E_INVAL, 0},
    {"18446744073709551616us", FL_E_OVERFLOW, 0},
    {"213503982d", 0, 213503982ull * 86400000000ull},
    {"213503983d", FL_E_OVERFLOW, 0},
    {"99999999999999999999999d", FL_E_OVERFLOW, 0},
};

static const u64_case size_cases[] = {
    {"0B", 0, 0},
    {"100B", 0, 100},
    {"1KiB", 0, 1024},
    {"64MiB", 0, 64ull << 20},
    {"2GiB", 0, 2ull << 30},
    {"1.5KiB", 0, 1536},
    {"0.5B", FL_E_INVAL, 0},
    {"64MB", FL_E_INVAL, 0},
    {"64mib", FL_E_INVAL, 0},
    {"64", FL_E_INVAL, 0},
    {"-1B", FL_E_OVERFLOW, 0},
    {"17179869184GiB", FL_E_OVERFLOW, 0},
};

static void run_u64_cases(const u64_case *cases, size_t n, int (*fn)(const char *, uint64_t *))
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = fn(cases[i].text, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].want)
            fail_msg("\"%s\": got %llu, want %llu", cases[i].text, (unsigned long long)v,
                     (unsigned long long)cases[i].want);
        if (rc != 0)
            assert_int_equal(v, 12345); /* untouched on failure */
    }
}

static void test_durations(void **state)
{
    (void)state;
    run_u64_cases(duration_cases, sizeof duration_cases / sizeof duration_cases[0],
                  sim_parse_duration);
    uint64_t v;
    assert_int_equal(sim_parse_duration(NULL, &v), FL_E_INVAL);
}

static void test_sizes(void **state)
{
    (void)state;
    run_u64_cases(size_cases, sizeof size_cases / sizeof size_cases[0], sim_parse_size);
}

typedef struct rate_case {
    const char *text;
    int rc;
    uint64_t num, per_us;
} rate_case;

static void test_rates(void **state)
{
    (void)state;
    static const rate_case cases[] = {
        {"200/s", 0, 1, 5000},        {"1/s", 0, 1, 1000000},
        {"2.5/s", 0, 1, 400000},      {"30/m", 0, 1, 2000000},
        {"7/m", 0, 7, 60000000},      {"0.5/s", 0, 1, 2000000},
        {"0/s", FL_E_OVERFLOW, 0, 0}, {"-1/s", FL_E_OVERFLOW, 0, 0},
        {"fast", FL_E_INVAL, 0, 0},   {"10/h", FL_E_INVAL, 0, 0},
        {"10", FL_E_INVAL, 0, 0},     {"10/", FL_E_INVAL, 0, 0},
        {"/s", FL_E_INVAL, 0, 0},     {"1.0000001/s", FL_E_INVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sim_rate r = {99, 99};
        int rc = sim_parse_rate(cases[i].text, &r);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && (r.num != cases[i].num || r.per_us != cases[i].per_us))
            fail_msg("\"%s\": got %llu per %llu", cases[i].text, (unsigned long long)r.num,
                     (unsigned long long)r.per_us);
    }
}

static void test_rate_offsets(void **state)
{
    (void)state;
    sim_rate r;
    assert_int_equal(sim_parse_rate("3/s", &r), 0);
    /* no drift: message 3k is exactly at k seconds */
    assert_int_equal(sim_rate_offset_us(r, 0), 0);
    assert_int_equal(sim_rate_offset_us(r, 1), 333333);
    assert_int_equal(sim_rate_offset_us(r, 2), 666666);
    assert_int_equal(sim_rate_offset_us(r, 3), 1000000);
    assert_int_equal(sim_rate_offset_us(r, 3000000), 1000000000000ull);
    assert_int_equal(sim_parse_rate("1/m", &r), 0);
    assert_int_equal(sim_rate_offset_us(r, UINT64_MAX), UINT64_MAX); /* saturates */
}

static void test_bandwidth(void **state)
{
    (void)state;
    sim_rate r;
    char buf[64];
    assert_int_equal(sim_parse_bandwidth("10MiB/s", &r), 0);
    assert_int_equal(sim_rate_offset_us(r, 10ull << 20), 1000000);
    sim_format_bandwidth(r, buf, sizeof buf);
    assert_string_equal(buf, "10MiB/s");
    assert_int_equal(sim_parse_bandwidth("1000B/m", &r), 0);
    sim_format_bandwidth(r, buf, sizeof buf);
    assert_string_equal(buf, "1000B/m");
    assert_int_equal(sim_parse_bandwidth("10MB/s", &r), FL_E_INVAL);
    assert_int_equal(sim_parse_bandwidth("10MiB", &r), FL_E_INVAL);
    assert_int_equal(sim_parse_bandwidth("0B/s", &r), FL_E_OVERFLOW);
    assert_int_equal(sim_parse_bandwidth("10MiB/h", &r), FL_E_INVAL);
}

typedef struct ts_case {
    const char *text;
    int rc;
    int64_t want;
} ts_case;

static void test_rfc3339(void **state)
{
    (void)state;
    static const ts_case cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2020-01-01T00:00:00Z", 0, 1577836800000000LL},
        {"2020-06-04T12:00:00.5Z", 0, 1591272000500000LL},
        {"2020-02-29T23:59:59.999999Z", 0, 1583020799999999LL},
        {"1969-12-31T23:59:59Z", 0, -1000000LL},
        {"2000-02-29T00:00:00Z", 0, 951782400000000LL},
        {"2021-02-29T00:00:00Z", FL_E_INVAL, 0},
        {"1900-02-29T00:00:00Z", FL_E_INVAL, 0},
        {"2020-04-31T00:00:00Z", FL_E_INVAL, 0},
        {"2020-13-01T00:00:00Z", FL_E_INVAL, 0},
        {"2020-01-01T24:00:00Z", FL_E_INVAL, 0},
        {"2020-01-01T00:60:00Z", FL_E_INVAL, 0},
        {"2020-01-01T00:00:60Z", FL_E_INVAL, 0},
        {"2020-01-01T00:00:00", FL_E_INVAL, 0},
        {"2020-01-01T00:00:00+01:00", FL_E_INVAL, 0},
        {"2020-01-01 00:00:00Z", FL_E_INVAL, 0},
        {"2020-01-01T00:00:00.Z", FL_E_INVAL, 0},
        {"2020-01-01T00:00:00.1234567Z", FL_E_INVAL, 0},
        {"0000-01-01T00:00:00Z", FL_E_INVAL, 0},
        {"2020-01-01T00:00:00ZZ", FL_E_INVAL, 0},
        {"20200101T000000Z", FL_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 7;
        int rc = sim_parse_rfc3339(cases[i].text, &t);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && t != cases[i].want)
            fail_msg("\"%s\": got %lld", cases[i].text, (long long)t);
        if (rc != 0)
            assert_int_equal(t, 7);
    }
}

static void test_bookmark_time(void **state)
{
    (void)state;
    static const ts_case cases[] = {
        {"20200604T120000Z", 0, 1591272000000000LL},
        {"20200604T120000", 0, 1591272000000000LL},
        {"20200604T120000.25Z", 0, 1591272000250000LL},
        {"20200604T120000.000001Z", 0, 1591272000000001LL},
        {"20200631T120000Z", FL_E_INVAL, 0},
        {"20200604T1200Z", FL_E_INVAL, 0},
        {"20200604120000Z", FL_E_INVAL, 0},
        {"20200604T120000ZX", FL_E_INVAL, 0},
        {"2020-06-04T12:00:00Z", FL_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 7;
        int rc = sim_parse_bookmark_time(cases[i].text, &t);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && t != cases[i].want)
            fail_msg("\"%s\": got %lld", cases[i].text, (long long)t);
    }
}

static void test_scenario_times(void **state)
{
    (void)state;
    int64_t start;
    assert_int_equal(sim_parse_rfc3339("2020-06-04T12:00:00Z", &start), 0);
    uint64_t t = 0;
    assert_int_equal(sim_parse_time("30s", start, &t), 0);
    assert_int_equal(t, 30000000);
    assert_int_equal(sim_parse_time("20200604T120000Z", start, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(sim_parse_time("20200604T120130.5Z", start, &t), 0);
    assert_int_equal(t, 90500000);
    assert_int_equal(sim_parse_time("20200605T120000", start, &t), 0);
    assert_int_equal(t, 86400ull * 1000000);
    assert_int_equal(sim_parse_time("20200604T115959.999999Z", start, &t), FL_E_OVERFLOW);
    assert_int_equal(sim_parse_time("20200604T250000Z", start, &t), FL_E_INVAL);
    assert_int_equal(sim_parse_time("-1s", start, &t), FL_E_OVERFLOW);
    assert_int_equal(sim_parse_time("soon", start, &t), FL_E_INVAL);
    assert_true(sim_time_is_absolute("20200604T"));
    assert_false(sim_time_is_absolute("2020060T"));
    assert_false(sim_time_is_absolute("30s"));
    assert_false(sim_time_is_absolute(NULL));
}

static void test_civil_round_trip(void **state)
{
    (void)state;
    assert_int_equal(sim_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(sim_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(sim_days_from_civil(1969, 12, 31), -1);
    int64_t prev = sim_days_from_civil(1, 1, 1) - 1;
    for (int64_t y = 1; y <= 9999; y += 7) {
        for (unsigned m = 1; m <= 12; m++) {
            int64_t d = sim_days_from_civil(y, m, 1);
            assert_true(d > prev);
            prev = d;
            int64_t y2;
            unsigned m2, d2;
            sim_civil_from_days(d, &y2, &m2, &d2);
            assert_int_equal(y2, y);
            assert_int_equal(m2, m);
            assert_int_equal(d2, 1);
            sim_civil_from_days(d - 1, &y2, &m2, &d2);
            assert_true(d2 >= 28 && d2 <= 31);
        }
    }
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char buf[64];
    static const struct {
        uint64_t us;
        const char *text;
    } durs[] = {{0, "0s"},
                {1, "1us"},
                {1500, "1500us"},
                {1500000, "1500ms"},
                {60000000, "1m"},
                {90000000, "90s"},
                {3600000000ull, "1h"},
                {86400000000ull, "1d"},
                {93600000000ull, "26h"}};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        sim_format_duration(durs[i].us, buf, sizeof buf);
        assert_string_equal(buf, durs[i].text);
        uint64_t back;
        assert_int_equal(sim_parse_duration(buf, &back), 0);
        assert_int_equal(back, durs[i].us);
    }
    sim_format_size(0, buf, sizeof buf);
    assert_string_equal(buf, "0B");
    sim_format_size(64ull << 20, buf, sizeof buf);
    assert_string_equal(buf, "64MiB");
    sim_format_size(1536, buf, sizeof buf);
    assert_string_equal(buf, "1536B");

    static const struct {
        const char *in, *out;
    } rates[] = {{"200/s", "200/s"}, {"2.5/s", "2.5/s"},           {"30/m", "0.5/s"},
                 {"7/m", "7/m"},     {"0.000001/s", "0.000001/s"}, {"1.5/m", "0.025/s"}};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        sim_rate r, r2;
        assert_int_equal(sim_parse_rate(rates[i].in, &r), 0);
        sim_format_rate(r, buf, sizeof buf);
        assert_string_equal(buf, rates[i].out);
        assert_int_equal(sim_parse_rate(buf, &r2), 0);
        assert_int_equal(r.num, r2.num);
        assert_int_equal(r.per_us, r2.per_us);
    }

    int64_t t;
    assert_int_equal(sim_parse_rfc3339("2020-06-04T12:00:00.5Z", &t), 0);
    sim_format_rfc3339(t, buf, sizeof buf);
    assert_string_equal(buf, "2020-06-04T12:00:00.5Z");
    sim_format_bookmark_time(t, buf, sizeof buf);
    assert_string_equal(buf, "20200604T120000.500000Z");
    sim_format_rfc3339(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    sim_format_rfc3339(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    /* truncation is safe and reports the full length */
    char small[5];
    assert_int_equal(sim_format_rfc3339(0, small, sizeof small), 20);
    assert_string_equal(small, "1970");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_rate_offsets),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_bookmark_time),
        cmocka_unit_test(test_scenario_times),
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
