/* Tests for the history recorder (simulator/history.c): canonical lines,
 * the FNV-1a 64 hash, the bounded tail, the jsonl sink and observers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "history.h"

static int setup(void **state)
{
    *state = sim_history_new(4);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    sim_history_free(*state);
    return 0;
}

/* An independent FNV-1a 64 over line + '\n'. */
static uint64_t fnv_line(uint64_t h, const char *line)
{
    for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= '\n';
    h *= 0x100000001b3ULL;
    return h;
}

typedef struct line_case {
    uint64_t t;
    const char *node, *src, *ev, *fields;
    const char *want;
} line_case;

static const line_case line_cases[] = {
    {5, "pub-1", "client", "publish", "\"seq\":1,\"topic\":\"orders\"",
     "{\"t\":5,\"node\":\"pub-1\",\"src\":\"client\",\"ev\":\"publish\",\"seq\":1,\"topic\":"
     "\"orders\"}"},
    {0, "a", "sim", "crash", NULL, "{\"t\":0,\"node\":\"a\",\"src\":\"sim\",\"ev\":\"crash\"}"},
    {18446744073709551615ULL, NULL, NULL, NULL, "",
     "{\"t\":18446744073709551615,\"node\":\"\",\"src\":\"\",\"ev\":\"\"}"},
    {7, "we\"ird\\", "s\n\t\r", "\x01\x1f\x7f", NULL,
     "{\"t\":7,\"node\":\"we\\\"ird\\\\\",\"src\":\"s\\n\\t\\r\",\"ev\":"
     "\"\\u0001\\u001f\\u007f\"}"},
    {9, "caf\xc3\xa9", "x", "y", "\"k\":[1,2]",
     "{\"t\":9,\"node\":\"caf\xc3\xa9\",\"src\":\"x\",\"ev\":\"y\",\"k\":[1,2]}"},
};

static void test_line_format(void **state)
{
    sim_history *h = *state;
    uint64_t hash = SIM_HISTORY_FNV_OFFSET;
    assert_int_equal(sim_history_hash(h), hash);
    size_t n = sizeof line_cases / sizeof line_cases[0];
    for (size_t i = 0; i < n; i++) {
        const line_case *c = &line_cases[i];
        sim_history_add(h, c->t, c->node, c->src, c->ev, c->fields);
        size_t last = sim_history_tail_count(h) - 1;
        assert_string_equal(sim_history_tail_line(h, last), c->want);
        hash = fnv_line(hash, c->want);
        assert_int_equal(sim_history_hash(h), hash);
    }
    assert_int_equal(sim_history_count(h), n);
    assert_int_equal(sim_history_dropped(h), 0);
}

/* Escapes at both ends of a long plain run (copied as one run), and a line
 * longer than the initial line buffer, twice (the buffer is reused). */
static void test_line_long_runs(void **state)
{
    sim_history *h = *state;
    char node[402], want[520];
    node[0] = '"';
    memset(node + 1, 'x', 399);
    node[400] = '\n';
    node[401] = '\0';
    int n =
        snprintf(want, sizeof want,
                 "{\"t\":42,\"node\":\"\\\"%.*s\\n\",\"src\":\"s\",\"ev\":\"e\"}", 399, node + 1);
    assert_true(n > 0 && (size_t)n < sizeof want);
    for (int i = 0; i < 2; i++) {
        sim_history_add(h, 42, node, "s", "e", NULL);
        assert_string_equal(sim_history_tail_line(h, sim_history_tail_count(h) - 1), want);
    }
    sim_history_add(h, 1, "short", "s", "e", "\"k\":1");
    assert_string_equal(sim_history_tail_line(h, sim_history_tail_count(h) - 1),
                        "{\"t\":1,\"node\":\"short\",\"src\":\"s\",\"ev\":\"e\",\"k\":1}");
}

static uint64_t run_script(const char *variant)
{
    sim_history *h = sim_history_new(0);
    assert_non_null(h);
    for (int i = 0; i < 100; i++) {
        char f[32];
        snprintf(f, sizeof f, "\"i\":%d", i);
        sim_history_add(h, (uint64_t)i * 10, "n", "src", i == 50 ? variant : "ev", f);
    }
    uint64_t hash = sim_history_hash(h);
    sim_history_free(h);
    return hash;
}

static void test_hash_stable_and_sensitive(void **state)
{
    (void)state;
    assert_int_equal(run_script("ev"), run_script("ev"));
    assert_int_not_equal(run_script("ev"), run_script("eV"));
    assert_int_not_equal(run_script("ev"), run_script("ev "));
}

static void test_hash_order_sensitive(void **state)
{
    (void)state;
    sim_history *a = sim_history_new(0), *b = sim_history_new(0);
    sim_history_add(a, 1, "x", "s", "e1", NULL);
    sim_history_add(a, 1, "x", "s", "e2", NULL);
    sim_history_add(b, 1, "x", "s", "e2", NULL);
    sim_history_add(b, 1, "x", "s", "e1", NULL);
    assert_int_not_equal(sim_history_hash(a), sim_history_hash(b));
    sim_history_free(a);
    sim_history_free(b);
}

static void test_tail_bounded(void **state)
{
    sim_history *h = *state; /* 4 lines */
    for (int i = 0; i < 10; i++) {
        char ev[16];
        snprintf(ev, sizeof ev, "e%d", i);
        sim_history_add(h, (uint64_t)i, "n", "s", ev, NULL);
        assert_true(sim_history_tail_count(h) <= 4);
    }
    assert_int_equal(sim_history_tail_count(h), 4);
    for (size_t i = 0; i < 4; i++) {
        char want[80];
        snprintf(want, sizeof want, "{\"t\":%zu,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e%zu\"}",
                 i + 6, i + 6);
        assert_string_equal(sim_history_tail_line(h, i), want);
    }
    assert_null(sim_history_tail_line(h, 4));
    assert_int_equal(sim_history_count(h), 10);

    sim_history *none = sim_history_new(0);
    sim_history_add(none, 1, "n", "s", "e", NULL);
    assert_int_equal(sim_history_tail_count(none), 0);
    assert_null(sim_history_tail_line(none, 0));
    assert_int_equal(sim_history_count(none), 1);
    sim_history_free(none);
}

static void test_sink_matches_lines_and_hash(void **state)
{
    (void)state;
    sim_history *h = sim_history_new(100);
    FILE *f = tmpfile();
    assert_non_null(f);
    sim_history_set_sink(h, f);
    for (int i = 0; i < 20; i++) {
        char fl[32];
        snprintf(fl, sizeof fl, "\"i\":%d,\"s\":\"a\\\"b\"", i);
        sim_history_add(h, (uint64_t)i, "node", "src", "ev", fl);
    }
    assert_int_equal(sim_history_sink_error(h), 0);
    rewind(f);
    char line[256];
    size_t i = 0;
    uint64_t hash = SIM_HISTORY_FNV_OFFSET;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        assert_true(len > 0 && line[len - 1] == '\n');
        line[len - 1] = '\0';
        assert_string_equal(line, sim_history_tail_line(h, i));
        hash = fnv_line(hash, line);
        i++;
    }
    assert_int_equal(i, 20);
    assert_int_equal(hash, sim_history_hash(h));
    fclose(f);
    sim_history_free(h);
}

static void test_sink_error_reported(void **state)
{
    sim_history *h = *state;
    FILE *f = fopen("/dev/full", "w");
    if (!f)
        skip();
    setvbuf(f, NULL, _IONBF, 0);
    sim_history_set_sink(h, f);
    sim_history_add(h, 1, "n", "s", "e", NULL);
    assert_int_equal(sim_history_sink_error(h), FL_E_IO);
    /* The hash and the tail are unaffected. */
    assert_int_equal(sim_history_count(h), 1);
    assert_int_equal(sim_history_tail_count(h), 1);
    sim_history_set_sink(h, NULL);
    assert_int_equal(sim_history_sink_error(h), 0);
    fclose(f);
}

/* --- observers --- */

typedef struct obs_log {
    sim_history *h;
    char seen[16][128];
    int n;
    const char *tag;
    int nest_on;   /* add a nested event when this seq is observed (-1 none) */
    int remove_on; /* unobserve itself at this seq (-1 none) */
} obs_log;

static void observer(void *arg, const sim_history_event *ev)
{
    obs_log *o = arg;
    if (o->n < 16)
        snprintf(o->seen[o->n++], sizeof o->seen[0], "%s:%llu:%s:%s", o->tag,
                 (unsigned long long)ev->seq, ev->event, ev->line);
    if ((int)ev->seq == o->nest_on)
        sim_history_add(o->h, ev->t_us, "obs", "trigger", "nested", "\"k\":1");
    if ((int)ev->seq == o->remove_on)
        assert_int_equal(sim_history_unobserve(o->h, observer, o), 0);
}

static void test_observers_order_and_fields(void **state)
{
    sim_history *h = *state;
    obs_log a = {.h = h, .tag = "a", .nest_on = -1, .remove_on = -1};
    obs_log b = {.h = h, .tag = "b", .nest_on = -1, .remove_on = -1};
    assert_int_equal(sim_history_observe(h, observer, &a), 0);
    assert_int_equal(sim_history_observe(h, observer, &b), 0);
    sim_history_add(h, 3, "n", "s", "e", "\"x\":2");
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_string_equal(a.seen[0],
                        "a:0:e:{\"t\":3,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\",\"x\":2}");
    assert_string_equal(b.seen[0],
                        "b:0:e:{\"t\":3,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\",\"x\":2}");
    assert_int_equal(sim_history_unobserve(h, observer, &a), 0);
    assert_int_equal(sim_history_unobserve(h, observer, &a), FL_E_NOT_FOUND);
    sim_history_add(h, 4, "n", "s", "f", NULL);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 2);
    assert_int_equal(sim_history_observe(h, NULL, NULL), FL_E_INVAL);
}

/* An observer adding an event: it is recorded and observed at once, and
 * the outer event still reaches the next observer intact. */
static void test_observer_nested_add(void **state)
{
    sim_history *h = *state;
    obs_log a = {.h = h, .tag = "a", .nest_on = 0, .remove_on = -1};
    obs_log b = {.h = h, .tag = "b", .nest_on = -1, .remove_on = -1};
    sim_history_observe(h, observer, &a);
    sim_history_observe(h, observer, &b);
    sim_history_add(h, 1, "n", "s", "outer", NULL);
    assert_int_equal(sim_history_count(h), 2);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    assert_string_equal(a.seen[1],
                        "a:1:nested:{\"t\":1,\"node\":\"obs\",\"src\":\"trigger\",\"ev\":"
                        "\"nested\",\"k\":1}");
    assert_string_equal(b.seen[0],
                        "b:1:nested:{\"t\":1,\"node\":\"obs\",\"src\":\"trigger\",\"ev\":"
                        "\"nested\",\"k\":1}");
    assert_string_equal(b.seen[1],
                        "b:0:outer:{\"t\":1,\"node\":\"n\",\"src\":\"s\",\"ev\":\"outer\"}");
    /* The tail has both, nested first (it was recorded first). */
    assert_int_equal(sim_history_tail_count(h), 2);
    assert_string_equal(sim_history_tail_line(h, 0),
                        "{\"t\":1,\"node\":\"n\",\"src\":\"s\",\"ev\":\"outer\"}");
}

static void test_observer_removes_itself(void **state)
{
    sim_history *h = *state;
    obs_log a = {.h = h, .tag = "a", .nest_on = -1, .remove_on = 0};
    obs_log b = {.h = h, .tag = "b", .nest_on = -1, .remove_on = -1};
    sim_history_observe(h, observer, &a);
    sim_history_observe(h, observer, &b);
    sim_history_add(h, 1, "n", "s", "e", NULL);
    sim_history_add(h, 2, "n", "s", "e", NULL);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 2);
}

static void test_json_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sim_json_escape(out, sizeof out, "a\"b"), 6);
    assert_string_equal(out, "\"a\\\"b\"");
    assert_int_equal(sim_json_escape(NULL, 0, "\x01"), 8);
    char small[5];
    size_t need = sim_json_escape(small, sizeof small, "abcdef");
    assert_int_equal(need, 8);
    assert_true(strlen(small) < sizeof small);
    assert_int_equal(sim_json_escape(out, sizeof out, NULL), 2);
    assert_string_equal(out, "\"\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_long_runs, setup, teardown),
        cmocka_unit_test(test_hash_stable_and_sensitive),
        cmocka_unit_test(test_hash_order_sensitive),
        cmocka_unit_test_setup_teardown(test_tail_bounded, setup, teardown),
        cmocka_unit_test(test_sink_matches_lines_and_hash),
        cmocka_unit_test_setup_teardown(test_sink_error_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observers_order_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observer_nested_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observer_removes_itself, setup, teardown),
        cmocka_unit_test(test_json_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
