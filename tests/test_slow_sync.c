/* End-to-end tests of the slow_sync fault (simulator/faults.c over the
 * slow-sync model of simulator/sim.c) through the scenario runner: a broker
 * whose journal syncs take L longer sends its persisted acks L later while
 * the fault lasts and on time after it heals; a client with a slow store
 * still gets everything through; every run passes its checks and replays to
 * the same history.
 *
 * Scenarios are inline with single quotes; q() turns them into JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "runner.h"
#include "scenario.h"

#define MS    1000u
#define NMSGS 30u

/* One finished run with its whole history. */
typedef struct run {
    sim_scenario *sc;
    sim_run *run;
    char *hist;
    size_t hist_len;
} run;

static void run_free(run *r)
{
    sim_run_free(r->run);
    sim_scenario_free(r->sc);
    free(r->hist);
    memset(r, 0, sizeof *r);
}

static void load_run(run *r, const char *single_quoted)
{
    char *text = strdup(single_quoted);
    assert_non_null(text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    sim_scenario_error e;
    int rc = sim_scenario_load_buffer("test", text, strlen(text), &r->sc, &e);
    if (rc != 0)
        fprintf(stderr, "scenario: %s\n", e.message);
    assert_int_equal(rc, 0);
    free(text);
    FILE *m = open_memstream(&r->hist, &r->hist_len);
    assert_non_null(m);
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.history_sink = m;
    char err[512];
    rc = sim_run_scenario(r->sc, &o, &r->run, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "run: %s\n", err);
    assert_int_equal(rc, 0);
    fclose(m);
    if (!sim_run_passed(r->run))
        fprintf(stderr, "run failed: %s\n", sim_run_failure_text(r->run));
}

/* The time of each history line containing `needle` and "seq":N, by N
 * (1..NMSGS; 0 when absent; the first such line wins). */
static void times_by_seq(const run *r, const char *needle, uint64_t at[NMSGS + 1])
{
    memset(at, 0, (NMSGS + 1) * sizeof *at);
    const char *p = r->hist;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, len);
        assert_non_null(line);
        const char *s = strstr(line, "\"seq\":");
        uint64_t t = 0, seq = 0;
        if (strstr(line, needle) && s && sscanf(line, "{\"t\":%" SCNu64, &t) == 1 &&
            sscanf(s, "\"seq\":%" SCNu64, &seq) == 1 && seq >= 1 && seq <= NMSGS && !at[seq])
            at[seq] = t;
        free(line);
        p = e ? e + 1 : p + len;
    }
}

static size_t count_lines(const run *r, const char *a, const char *b)
{
    size_t n = 0;
    const char *p = r->hist;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, len);
        assert_non_null(line);
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
        free(line);
        p = e ? e + 1 : p + len;
    }
    return n;
}

/* A publisher at 10/s (one message every 100 ms from t=0, seq 1..30) to a
 * journaling broker that acks each batch at once; `faults` is the JSON
 * array. */
#define SCENARIO(faults)                                                                           \
    "{'name': 'x', 'duration': '4s', "                                                             \
    "'brokers': {'a': {'topics': {'t': {'journal': true}}, 'ack_interval': '0ms'}}, "              \
    "'clients': {'pub': {'servers': ['a'], "                                                       \
    "'publish': [{'topic': 't', 'count': 30, 'rate': '10/s', 'size': '40B'}]}, "                   \
    "'sub': {'servers': ['a'], "                                                                   \
    "'subscribe': [{'topic': 't', 'sub_id': 's', 'bookmark': '0'}]}}, "                            \
    "'faults': " faults ", 'expect': {'delivered': {'sub/s': 30}}}"

#define CLIENT_ACK "\"src\":\"client\",\"ev\":\"persisted_ack\""

static void persisted_acks_late_by_the_sync_latency(void **state)
{
    (void)state;
    run base = {0}, slow = {0};
    load_run(&base, SCENARIO("[]"));
    load_run(&slow, SCENARIO("[{'at': '1s', 'kind': 'slow_sync', 'target': 'a', 'add': '30ms', "
                             "'for': '1s'}]"));
    assert_true(sim_run_passed(base.run));
    assert_true(sim_run_passed(slow.run));
    const sim_run_fault *f = sim_run_fault_at(slow.run, 0);
    assert_true(f->fired && f->healed && !f->skipped);
    assert_int_equal(f->healed_us, 2000 * MS);
    uint64_t b[NMSGS + 1], s[NMSGS + 1];
    times_by_seq(&base, CLIENT_ACK, b);
    times_by_seq(&slow, CLIENT_ACK, s);
    for (unsigned seq = 1; seq <= NMSGS; seq++) {
        assert_true(b[seq] > 0 && s[seq] > 0);
        /* Message seq is published at (seq - 1) * 100 ms; those that reach
         * the broker while the fault lasts (1 s .. 2 s) are acked exactly
         * one sync latency later, the others on time. */
        bool during = seq >= 11 && seq <= 20;
        if (s[seq] - b[seq] != (during ? 30 * MS : 0))
            fail_msg("seq %u: ack at %" PRIu64 " with slow_sync, %" PRIu64 " without", seq, s[seq],
                     b[seq]);
    }
    /* Each journal sync of the broker blocked it while the fault lasted, and
     * only then. */
    assert_int_equal(count_lines(&base, "\"ev\":\"sync_wait\"", NULL), 0);
    assert_true(count_lines(&slow, "\"ev\":\"sync_wait\"", "\"node\":\"a\"") >= 10);
    assert_int_equal(count_lines(&slow, "\"ev\":\"sync_wait\"", "\"node\":\"pub\""), 0);
    run_free(&base);
    run_free(&slow);
}

/* A slow store on the publisher (sync=always: one sync per publish) until
 * the end of the workload phase: everything still arrives exactly once. */
static void slow_client_store_still_passes(void **state)
{
    (void)state;
    run r = {0};
    load_run(&r, "{'name': 'x', 'duration': '4s', "
                 "'brokers': {'a': {'topics': {'t': {'journal': true}}}}, "
                 "'clients': {'pub': {'servers': ['a'], "
                 "'publish_store': {'type': 'file', 'sync': 'always'}, "
                 "'publish': [{'topic': 't', 'count': 30, 'rate': '10/s', 'size': '40B'}]}, "
                 "'sub': {'servers': ['a'], 'bookmark_store': {'type': 'file', 'sync': 'always'}, "
                 "'subscribe': [{'topic': 't', 'sub_id': 's', 'bookmark': 'recent'}]}}, "
                 "'faults': [{'at': '500ms', 'kind': 'slow_sync', 'target': 'pub', 'add': '20ms'},"
                 " {'at': '1s', 'kind': 'slow_sync', 'target': 'sub', 'add': '5ms', 'for': '1s'}],"
                 " 'expect': {'delivered': {'sub/s': 30}}}");
    assert_true(sim_run_passed(r.run));
    assert_int_equal(sim_run_get_figures(r.run)->accepted, NMSGS);
    const sim_run_fault *f = sim_run_fault_at(r.run, 0);
    assert_true(f->fired && f->healed);
    assert_int_equal(f->healed_us, 4000 * MS); /* no `for`: the end of the workload */
    assert_true(count_lines(&r, "\"ev\":\"sync_wait\"", "\"node\":\"pub\"") > 0);
    assert_true(count_lines(&r, "\"ev\":\"sync_wait\"", "\"node\":\"sub\"") > 0);
    /* The publisher's messages left after its store sync returned: none
     * reached the broker before 20 ms after its publish while the fault
     * lasted. */
    uint64_t pub[NMSGS + 1], logged[NMSGS + 1];
    times_by_seq(&r, "\"src\":\"client\",\"ev\":\"publish\"", pub);
    times_by_seq(&r, "\"src\":\"broker\",\"ev\":\"publish\"", logged);
    for (unsigned seq = 7; seq <= NMSGS; seq++)
        assert_true(logged[seq] >= pub[seq] + 20 * MS);
    run_free(&r);
}

/* The application on a blocked node waits too: a publisher whose store
 * sync (sync=always) takes 150 ms cannot hand over its next message 100 ms
 * later; its feed runs when the node is free again, so publishes are at
 * least one sync latency apart while the fault lasts. */
static void application_waits_while_its_node_is_blocked(void **state)
{
    (void)state;
    run r = {0};
    load_run(&r, "{'name': 'x', 'duration': '6s', "
                 "'brokers': {'a': {'topics': {'t': {'journal': true}}}}, "
                 "'clients': {'pub': {'servers': ['a'], "
                 "'publish_store': {'type': 'file', 'sync': 'always'}, "
                 "'publish': [{'topic': 't', 'count': 30, 'rate': '10/s', 'size': '40B'}]}, "
                 "'sub': {'servers': ['a'], "
                 "'subscribe': [{'topic': 't', 'sub_id': 's', 'bookmark': '0'}]}}, "
                 "'faults': [{'at': '50ms', 'kind': 'slow_sync', 'target': 'pub', 'add': '150ms', "
                 "'for': '1500ms'}], 'expect': {'delivered': {'sub/s': 30}}}");
    assert_true(sim_run_passed(r.run));
    uint64_t pub[NMSGS + 1];
    times_by_seq(&r, "\"src\":\"client\",\"ev\":\"publish\"", pub);
    for (unsigned seq = 2; seq <= 8; seq++) {
        assert_true(pub[seq] > 0 && pub[seq + 1] > 0);
        if (pub[seq + 1] - pub[seq] < 150 * MS)
            fail_msg("seq %u at %" PRIu64 ", seq %u at %" PRIu64 ": the feed ran while blocked",
                     seq, pub[seq], seq + 1, pub[seq + 1]);
    }
    run_free(&r);
}

static void deterministic(void **state)
{
    (void)state;
    run a = {0}, b = {0};
    const char *sc = SCENARIO("[{'at': '700ms', 'kind': 'slow_sync', 'target': 'a', 'add': '7ms', "
                              "'for': '2s'}, {'at': '1s', 'kind': 'slow_sync', 'target': 'a', "
                              "'add': '3ms', 'for': '500ms'}]");
    load_run(&a, sc);
    load_run(&b, sc);
    assert_true(sim_run_passed(a.run));
    assert_int_equal(sim_run_get_figures(a.run)->history_hash,
                     sim_run_get_figures(b.run)->history_hash);
    assert_int_equal(a.hist_len, b.hist_len);
    assert_memory_equal(a.hist, b.hist, a.hist_len);
    /* Overlapping faults add up: 10 ms while both last. */
    assert_true(count_lines(&a, "\"us\":10000", "\"ev\":\"sync_wait\"") > 0);
    run_free(&a);
    run_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(persisted_acks_late_by_the_sync_latency),
        cmocka_unit_test(slow_client_store_still_passes),
        cmocka_unit_test(application_waits_while_its_node_is_blocked),
        cmocka_unit_test(deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
