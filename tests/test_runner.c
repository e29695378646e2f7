/* Tests for the scenario runner (simulator/runner.c): topology and
 * workloads, the application model (feeds that outlive crashes, discard
 * modes, subscription stop, flushes), the trigger engine, the liveness
 * phase, verdicts against `expect`, determinism and reproduction from the
 * concrete scenario.
 *
 * Scenarios are written inline with single quotes for readability; q()
 * turns them into JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "runner.h"
#include "scenario.h"

typedef struct fx {
    sim_scenario *sc;
    sim_run *run;
    char *hist; /* history.jsonl captured with open_memstream */
    size_t hist_len;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_run_free(f->run);
    sim_scenario_free(f->sc);
    free(f->hist);
    free(f);
    return 0;
}

/* Single quotes -> double quotes. */
static char *q(const char *s)
{
    char *o = strdup(s);
    assert_non_null(o);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static sim_scenario *load(const char *single_quoted)
{
    char *text = q(single_quoted);
    sim_scenario *sc = NULL;
    sim_scenario_error e;
    int rc = sim_scenario_load_buffer("test", text, strlen(text), &sc, &e);
    if (rc != 0)
        fprintf(stderr, "scenario: %s\n", e.message);
    assert_int_equal(rc, 0);
    free(text);
    return sc;
}

/* Run f->sc, capturing the history. */
static void run(fx *f)
{
    FILE *m = open_memstream(&f->hist, &f->hist_len);
    assert_non_null(m);
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.history_sink = m;
    char err[512];
    int rc = sim_run_scenario(f->sc, &o, &f->run, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "run: %s\n", err);
    assert_int_equal(rc, 0);
    fclose(m);
}

static void load_run(fx *f, const char *text)
{
    f->sc = load(text);
    run(f);
}

/* Number of history lines containing every one of the given fragments. */
static size_t count_lines(const fx *f, const char *a, const char *b)
{
    size_t n = 0;
    const char *p = f->hist;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, len);
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
        free(line);
        p = e ? e + 1 : p + len;
    }
    return n;
}

/* Virtual time of the nth (1-based) line containing a and b; UINT64_MAX. */
static uint64_t nth_time(const fx *f, const char *a, const char *b, size_t nth)
{
    const char *p = f->hist;
    size_t n = 0;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = strndup(p, len);
        if (strstr(line, a) && (!b || strstr(line, b)) && ++n == nth) {
            uint64_t t = strtoull(line + 5, NULL, 10); /* {"t":N */
            free(line);
            return t;
        }
        free(line);
        p = e ? e + 1 : p + len;
    }
    return UINT64_MAX;
}

static sim_chk_verdict verdict(const fx *f, int check)
{
    sim_checker_verdict v;
    assert_int_equal(sim_checker_verdict_at(sim_run_checker(f->run), check, &v), 0);
    return v.verdict;
}

#define PUBSUB(extra_pub, extra_sub)                                                               \
    "'brokers': {'a': {'topics': {'t': {'journal': true}}}},"                                      \
    "'clients': {"                                                                                 \
    " 'pub': {'servers': ['a'], " extra_pub                                                        \
    "         'publish': [{'topic': 't', 'count': 200, 'rate': '100/s', 'size': '50B'}]},"         \
    " 'sub': {'servers': ['a'], " extra_sub                                                        \
    "         'subscribe': [{'topic': 't', 'sub_id': 's', 'bookmark': 'recent'}]}}"

/* ------------------------------------------------------------------ */

static void no_faults_delivers_everything(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'plain', 'duration': '5s', " PUBSUB("", "") ", 'expect': {'delivered': "
                                                                      "{'sub/s': 200}}}");
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_true(sim_run_passed(f->run));
    assert_int_equal(g->published, 200);
    assert_int_equal(g->accepted, 200);
    assert_int_equal(g->delivered, 200);
    assert_int_equal(g->journal_messages, 200);
    assert_int_equal(sim_run_delivered_count(f->run, 1, 0), 200);
    assert_true(g->converged);
    /* converged early: well before the end of the recovery bound */
    assert_true(g->virtual_us < 5000000u + 30000000u);
    assert_int_equal(g->faults_fired, 0);
    assert_int_equal(g->history_hash, sim_run_get_figures(f->run)->history_hash);
    assert_int_equal(count_lines(f, "\"ev\":\"publish\"", "\"src\":\"client\""), 200);
    assert_string_equal(sim_run_failure_text(f->run), "");
    assert_null(sim_run_failing_check(f->run));
    assert_int_equal(verdict(f, SIM_CHK_DELIVERED), SIM_CHK_PASS);
}

static void delivered_expectation_fails(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', " PUBSUB("", "") ", 'expect': {'delivered': "
                                                                  "{'sub/s': 201}}}");
    assert_false(sim_run_passed(f->run));
    assert_int_equal(sim_run_get_result(f->run), SIM_RUN_FAIL);
    assert_string_equal(sim_run_failing_check(f->run), "delivered");
    assert_int_equal(verdict(f, SIM_CHK_DELIVERED), SIM_CHK_FAIL);
}

/* The feed outlives crashes: every message index is handed over exactly
 * once, overdue ones right after the restart; with a synced file store
 * nothing is lost. */
static void feed_outlives_crash(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '5s', " PUBSUB(
            "'publish_store': {'type': 'file', 'sync': 'always'},",
            "'bookmark_store': {'type': 'file', 'sync': 'always'},") ", 'faults': [{'at': '500ms', "
                                                                     "'kind': 'crash_client', "
                                                                     "'target': 'pub', "
                                                                     "'restart_after': '700ms'}], "
                                                                     "'expect': {'delivered': "
                                                                     "{'sub/s': 200}}}");
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_true(sim_run_passed(f->run));
    assert_int_equal(g->accepted, 200);
    assert_int_equal(g->client_restarts, 1);
    assert_int_equal(sim_run_delivered_count(f->run, 1, 0), 200);
    /* message 50 is due at 500 ms, the crash instant: it is handed over
     * before the fault applies (faults come last in their instant); 51..120
     * fell due while it was down and are handed over at the restart */
    static const char *const pub = "\"src\":\"client\",\"ev\":\"publish\",\"client\":\"pub\"";
    assert_int_equal(nth_time(f, "\"src\":\"sim\"", "\"ev\":\"restart\"", 1), 1200000);
    assert_int_equal(nth_time(f, pub, NULL, 51), 500000);
    assert_int_equal(nth_time(f, pub, NULL, 52), 1200000);
    assert_int_equal(nth_time(f, pub, NULL, 121), 1200000);
    assert_int_equal(nth_time(f, pub, NULL, 122), 1210000);
    assert_int_equal(count_lines(f, pub, NULL), 200);
    const sim_run_fault *rf = sim_run_fault_at(f->run, 0);
    assert_true(rf->fired && rf->healed && !rf->by_trigger && !rf->skipped);
    assert_int_equal(rf->fired_us, 500000);
    assert_int_equal(rf->healed_us, 1200000);
}

/* Unsafe: memory store + crash => no_loss fires (expected violation). */
static void memory_store_crash_expected_violation(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '5s', " PUBSUB(
                 "'publish_store': {'type': 'memory'},",
                 "") ", 'faults': [{'on': {'event': 'persisted_ack', 'client': 'pub', 'count': 1}, "
                     "'kind': 'crash_client', 'target': 'pub', 'restart_after': '1s'}],"
                     " 'expect': {'violations': ['no_loss']}}");
    assert_true(sim_run_passed(f->run));
    assert_int_equal(verdict(f, 0), SIM_CHK_EXPECTED_FIRED);
    assert_true(sim_checker_violation_count(sim_run_checker(f->run)) > 0);
}

/* Trigger engine: the fault fires once, in the instant of the Nth event,
 * after everything else of that instant. */
static void trigger_fires_at_nth_event(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '5s', " PUBSUB(
                 "", "") ", 'faults': [{'on': {'event': 'publish', 'client': 'pub', 'count': 37}, "
                         "'kind': 'disconnect', 'target': 'pub'},"
                         "{'on': {'event': 'delivery', 'client': 'sub', 'count': 50}, "
                         "'kind': 'disconnect', 'target': 'sub'},"
                         "{'on': {'event': 'publish', 'client': 'pub', 'count': 5000}, "
                         "'kind': 'disconnect', 'target': 'pub', 'optional': true}]}");
    const sim_run_fault *a = sim_run_fault_at(f->run, 0);
    const sim_run_fault *b = sim_run_fault_at(f->run, 1);
    const sim_run_fault *c = sim_run_fault_at(f->run, 2);
    assert_true(a->fired && a->by_trigger);
    assert_int_equal(a->fired_us, 360000); /* 37th publish at 100/s */
    assert_int_equal(
        a->fired_us,
        nth_time(f, "\"src\":\"client\",\"ev\":\"publish\",\"client\":\"pub\"", NULL, 37));
    assert_true(b->fired && b->by_trigger);
    assert_int_equal(
        b->fired_us,
        nth_time(f, "\"src\":\"client\",\"ev\":\"deliver\",\"client\":\"sub\"", NULL, 50));
    assert_false(c->fired);
    assert_int_equal(count_lines(f, "\"ev\":\"fault_start\"", NULL), 2);
    /* nothing of the instant comes after the fault: the 37th publish line
     * precedes the fault line */
    const char *pub37 = strstr(f->hist, "\"seq\":37,");
    const char *fs = strstr(f->hist, "\"ev\":\"fault_start\"");
    assert_non_null(pub37);
    assert_true(fs > pub37);
    assert_int_equal(sim_run_get_figures(f->run)->faults_fired, 2);
    assert_true(sim_run_passed(f->run));
}

/* A trigger on a store event counts the client's store file operations. */
static void trigger_on_store_sync(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '3s', " PUBSUB(
                 "'publish_store': {'type': 'file', 'sync': 'always'},",
                 "") ", 'faults': [{'on': {'event': 'store_sync', 'client': 'pub', 'count': 20}, "
                     "'kind': 'power_loss_client', 'target': 'pub', 'restart_after': '300ms'}]}");
    const sim_run_fault *a = sim_run_fault_at(f->run, 0);
    assert_true(a->fired && a->by_trigger && a->healed);
    assert_int_equal(a->healed_us - a->fired_us, 300000);
    assert_true(sim_run_passed(f->run));
}

/* The liveness phase stops as soon as everything converged... */
static void liveness_converges_early(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '5s', " PUBSUB(
            "", "") ", 'faults': [{'at': '1s', 'kind': 'partition', 'target': 'pub', 'for': '6s'}],"
                    " 'expect': {'recovery': '20s'}}");
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_int_equal(g->liveness_start_us, 5000000);
    assert_int_equal(g->last_heal_us, 7000000); /* the partition outlived the workload */
    assert_true(g->converged);
    assert_true(g->virtual_us < 7000000u + 20000000u);
    assert_true(sim_run_passed(f->run));
    assert_int_equal(verdict(f, 6), SIM_CHK_PASS);
}

/* ... and runs to the bound when it cannot converge (the only broker is
 * gone for good): liveness fails. */
static void liveness_fails_without_a_broker(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '3s', " PUBSUB(
                    "", "") ", 'faults': [{'at': '1s', 'kind': 'failover', 'target': 'a'}],"
                            " 'expect': {'recovery': '4s', 'checks': ['liveness']}}");
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_false(g->converged);
    assert_int_equal(g->virtual_us, 3000000 + 4000000);
    assert_false(sim_run_passed(f->run));
    assert_string_equal(sim_run_failing_check(f->run), "liveness");
}

/* Discard modes, stop and flush. */
static void app_model_discard_stop_flush(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '4s',"
                "'brokers': {'a': {'topics': {'t': {'journal': true}}}},"
                "'clients': {"
                " 'pub': {'servers': ['a'], 'publish': [{'topic': 't', 'count': 100, 'rate': "
                "'100/s'}], 'flush': [{'at': '500ms', 'timeout': '1us'}, {'at': '2s'}]},"
                " 'sub': {'servers': ['a'], 'subscribe': ["
                "   {'topic': 't', 'sub_id': 'd', 'bookmark': '0', 'discard': {'delay': '5ms'}},"
                "   {'topic': 't', 'sub_id': 'n', 'bookmark': '0', 'discard': {'never': [3, 4]}},"
                "   {'topic': 't', 'sub_id': 'st', 'start': '200ms', 'stop': '500ms'}]}},"
                "'expect': {'errors': [{'name': 'timeout', 'client': 'pub'}],"
                "           'delivered': {'sub/d': 100, 'sub/n': 100}}}");
    assert_true(sim_run_passed(f->run));
    assert_int_equal(sim_run_delivered_count(f->run, 1, 0), 100);
    /* the live subscription ran from 200 ms to 500 ms: about 30 messages */
    uint64_t live = sim_run_delivered_count(f->run, 1, 2);
    assert_true(live >= 28 && live <= 31);
    assert_int_equal(count_lines(f, "\"ev\":\"discard\"", "\"sub_id\":\"n\""), 98);
    assert_int_equal(count_lines(f, "\"src\":\"runner\",\"ev\":\"flush_done\"", "TIMEOUT"), 1);
    assert_int_equal(count_lines(f, "\"src\":\"runner\",\"ev\":\"flush_done\"", "\"OK\""), 1);
    assert_int_equal(sim_run_error_count(f->run), 1);
    assert_int_equal(sim_run_error_at(f->run, 0)->code, FL_E_TIMEOUT);
}

/* Delivered-but-not-discarded messages come again after a reconnect (the
 * store ABI's log() contract): the checkers allow it, and `never` counts
 * distinct messages, so a redelivered "never" message stays undiscarded. */
static void never_discard_survives_redelivery(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '10s', 'brokers': {'a': {'topics': {'orders': "
                "{'journal': true}}}}, 'clients': {"
                "'pub': {'servers': ['a'], 'publish': [{'topic': 'orders', 'count': 500, "
                "'rate': '100/s'}]},"
                "'sub': {'servers': ['a'], 'delay': {'type': 'fixed', 'delay': '100ms'},"
                " 'bookmark_store': {'type': 'file', 'sync': 'always'},"
                " 'subscribe': [{'topic': 'orders', 'sub_id': 's1', 'bookmark': 'recent',"
                " 'discard': {'never': [5, 50, 250]}}]}},"
                "'faults': [{'at': '3s', 'kind': 'disconnect', 'target': 'sub'}],"
                "'expect': {'recovery': '10s', 'delivered': {'sub/s1': 500}}}");
    if (!sim_run_passed(f->run))
        fail_msg("%s", sim_run_failure_text(f->run));
    static const char *const seqs[] = {"\"seq\":6}", "\"seq\":51}", "\"seq\":251}"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(count_lines(f, "\"src\":\"client\",\"ev\":\"deliver\"", seqs[i]), 2);
        assert_int_equal(count_lines(f, "\"src\":\"client\",\"ev\":\"discard\"", seqs[i]), 0);
    }
    assert_int_equal(count_lines(f, "\"src\":\"client\",\"ev\":\"discard\"", NULL), 497);
    assert_int_equal(verdict(f, 2), SIM_CHK_PASS); /* no_duplicates */
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_int_equal(g->delivered_distinct, 500);
    assert_int_equal(g->redelivered, 3);
    assert_int_equal(g->delivered, 503);
}

/* A fault that never fires tested nothing: the run fails and says which,
 * unless the fault is optional; either way the figures count it. */
static void fault_that_never_fires_fails_the_run(void **state)
{
    fx *f = *state;
    static const char *const texts[] = {
        "{'name': 'x', 'duration': '2s', " PUBSUB(
            "", "") ", 'faults': [{'on': {'event': 'publish', 'client': 'pub', 'count': 5000}, "
                    "'kind': 'disconnect', 'target': 'pub'}]}",
        "{'name': 'x', 'duration': '2s', " PUBSUB(
            "", "") ", 'faults': [{'on': {'event': 'publish', 'client': 'pub', 'count': 5000}, "
                    "'kind': 'disconnect', 'target': 'pub', 'optional': true}]}",
    };
    for (size_t i = 0; i < 2; i++) {
        load_run(f, texts[i]);
        assert_false(sim_run_fault_at(f->run, 0)->fired);
        assert_int_equal(sim_run_get_figures(f->run)->faults_not_fired, 1);
        assert_int_equal(count_lines(f, "\"ev\":\"fault_not_fired\"", NULL), 1);
        if (i == 0) {
            assert_false(sim_run_passed(f->run));
            assert_string_equal(sim_run_failing_check(f->run), "faults");
            assert_string_equal(sim_run_failure_text(f->run),
                                "fault #0 (disconnect pub) never fired");
        } else {
            assert_true(sim_run_passed(f->run));
            assert_string_equal(sim_run_failure_text(f->run), "");
        }
        sim_run_free(f->run);
        sim_scenario_free(f->sc);
        free(f->hist);
        f->run = NULL;
        f->sc = NULL;
        f->hist = NULL;
    }
}

/* A publish refused with FL_E_SYNC_FAILED may still be in the store (a
 * failed fsync does not undo the write): the restarted application finds
 * it there and does not hand it again, so it is logged and delivered once. */
static void sync_failed_publish_is_not_handed_twice(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', 'brokers': {'a': {'topics': {'orders': "
                "{'journal': true}}}}, 'clients': {"
                "'pub': {'servers': ['a'], 'publish_store': {'type': 'file', 'sync': 'always'},"
                " 'delay': {'type': 'fixed', 'delay': '100ms'},"
                " 'publish': [{'topic': 'orders', 'count': 100, 'rate': '100/s', 'size': '100B'}]},"
                "'sub': {'servers': ['a'], 'subscribe': [{'topic': 'orders', 'sub_id': 's1', "
                "'bookmark': '0'}]}},"
                "'faults': [{'at': '500ms', 'kind': 'io_error', 'target': 'pub', 'op': 'sync', "
                "'nth': 1}],"
                "'expect': {'recovery': '10s', 'delivered': {'sub/s1': 100}}}");
    if (!sim_run_passed(f->run))
        fail_msg("%s", sim_run_failure_text(f->run));
    assert_int_equal(count_lines(f, "\"ev\":\"publish_refused\"", "SYNC_FAILED"), 1);
    assert_int_equal(count_lines(f, "\"ev\":\"publish_outcome\"", "\"stored\":true"), 1);
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_int_equal(g->published, 100);
    assert_int_equal(g->accepted, 100);
    assert_int_equal(g->journal_messages, 100);
}

/* The silent `now` expiry policy (unsafe-expired-bookmark-now-silent):
 * the subscriber is down across a 2 h clock jump. */
#define SILENT_EXPIRY(policy, count)                                                               \
    "{'name': 'x', 'duration': '30m', 'brokers': {'a': {'topics': {'orders': {'journal': true}},"  \
    " 'journal': {'segment_age': '1m', 'retention': '1h'}, 'expired_bookmark': '" policy "'}},"    \
    "'clients': {'pub': {'servers': ['a'], 'publish': [{'topic': 'orders', 'count': " count ","    \
    " 'rate': '1/s', 'size': '100B'}]},"                                                           \
    " 'sub': {'servers': ['a'], 'bookmark_store': {'type': 'file', 'sync': 'always'},"             \
    " 'subscribe': [{'topic': 'orders', 'sub_id': 's1', 'bookmark': 'recent'}]}},"                 \
    "'faults': [{'at': '100s', 'kind': 'crash_client', 'target': 'sub', 'restart_after': '10m'},"  \
    " {'at': '4m', 'kind': 'advance_clock', 'by': '2h'}],"                                         \
    "'expect': {'recovery': '1m', 'violations': ['gaps_reported']}}"

/* Violations dated from journal timestamps land inside the run after a
 * clock jump (the checker is told about advance_clock). */
static void violations_dated_in_virtual_time_after_clock_jump(void **state)
{
    fx *f = *state;
    load_run(f, SILENT_EXPIRY("now", "1200"));
    assert_true(sim_run_passed(f->run));
    const sim_checker *chk = sim_run_checker(f->run);
    const sim_run_figures *g = sim_run_get_figures(f->run);
    assert_true(sim_checker_violation_count(chk) > 0);
    for (size_t i = 0; i < sim_checker_violation_count(chk); i++) {
        const sim_checker_violation *v = sim_checker_violation_at(chk, i);
        if (v->t_us > g->virtual_us)
            fail_msg("violation %zu (seq %llu) dated %llu, after the run's end %llu", i,
                     (unsigned long long)v->sequence, (unsigned long long)v->t_us,
                     (unsigned long long)g->virtual_us);
        /* message k is published at k-1 s; the 2 h jump is not in its date */
        assert_true(v->t_us >= (v->sequence - 1) * 1000000u);
        assert_true(v->t_us < (v->sequence - 1) * 1000000u + 1000000u);
    }
}

/* A silent expiry policy that skips only messages retention removed (the
 * publisher stops before the clock jump) is caught on exactly those: the
 * subscriber was subscribed before they expired and heard of no gap. With
 * `error` and a fallback the gap is reported and nothing fires. */
static void silent_expiry_of_removed_messages_is_caught(void **state)
{
    fx *f = *state;
    static const char *const texts[] = {SILENT_EXPIRY("now", "200"),
                                        SILENT_EXPIRY("oldest", "200")};
    for (size_t i = 0; i < 2; i++) {
        sim_scenario *sc = load(texts[i]);
        sim_run *run = NULL;
        assert_int_equal(sim_run_scenario(sc, NULL, &run, NULL, 0), 0);
        if (!sim_run_passed(run))
            fail_msg("%zu: %s", i, sim_run_failure_text(run));
        const sim_checker *chk = sim_run_checker(run);
        sim_checker_verdict v;
        assert_int_equal(sim_checker_verdict_at(chk, 5, &v), 0);
        assert_int_equal(v.violations, 100); /* 101..200, skipped after the restart */
        for (size_t k = 0; k < sim_checker_violation_count(chk); k++) {
            const sim_checker_violation *x = sim_checker_violation_at(chk, k);
            assert_int_equal(x->check, 5);
            assert_true(x->sequence >= 101 && x->sequence <= 200);
            assert_non_null(strstr(x->text, "removed by retention"));
        }
        sim_run_free(run);
        sim_scenario_free(sc);
    }
    (void)f;
}

/* A subscription that first subscribes (at EPOCH) after the messages
 * expired is not owed them; one subscribed before is. */
static void expired_before_first_subscribe_is_not_owed(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '10m', 'brokers': {'a': {'topics': {'orders': "
                "{'journal': true}}, 'journal': {'segment_age': '1m', 'retention': '1h'},"
                " 'expired_bookmark': 'now'}},"
                "'clients': {'pub': {'servers': ['a'], 'publish': [{'topic': 'orders', "
                "'count': 100, 'rate': '1/s', 'size': '100B'}]},"
                " 'sub': {'servers': ['a'], 'bookmark_store': {'type': 'file', 'sync': 'always'},"
                " 'subscribe': [{'topic': 'orders', 'sub_id': 'late', 'bookmark': '0', "
                "'start': '5m'}]}},"
                "'faults': [{'at': '4m', 'kind': 'advance_clock', 'by': '2h'}],"
                "'expect': {'recovery': '1m', 'delivered': {'sub/late': 0}}}");
    if (!sim_run_passed(f->run))
        fail_msg("%s", sim_run_failure_text(f->run));
    assert_int_equal(verdict(f, 5), SIM_CHK_PASS);
}

/* Determinism: the same scenario and seed give the same history hash; the
 * seed option overrides the scenario's. */
static void determinism_same_hash(void **state)
{
    fx *f = *state;
    static const char *const texts[] = {
        "{'name': 'x', 'duration': '3s', 'seed': 5, 'clients': {'pub': {'servers': ['a'], "
        "'link': {'latency': '1ms', 'jitter': '3ms'}, 'delay': {'type': 'exponential'},"
        "'publish': [{'topic': 't', 'count': 100, 'rate': '100/s'}]}}, 'brokers': {'a': "
        "{'topics': {'t': {'journal': true}}}}, 'faults': [{'at': '300ms', 'kind': 'disconnect',"
        " 'target': 'pub'}, {'at': '1s', 'kind': 'power_loss_broker', 'target': 'a', "
        "'down_for': '500ms'}]}",
        "{'name': 'y', 'duration': '3s', " PUBSUB(
            "",
            "") ", 'faults': [{'on': {'event': "
                "'persisted_ack', 'client': 'pub', 'count': 1}, 'kind': 'crash_client', 'target': "
                "'pub'}]}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        sim_scenario *sc = load(texts[i]);
        sim_run *a = NULL, *b = NULL, *c = NULL;
        sim_run_options o = SIM_RUN_OPTIONS_INIT;
        assert_int_equal(sim_run_scenario(sc, &o, &a, NULL, 0), 0);
        assert_int_equal(sim_run_scenario(sc, &o, &b, NULL, 0), 0);
        o.has_seed = true;
        o.seed = 999;
        assert_int_equal(sim_run_scenario(sc, &o, &c, NULL, 0), 0);
        assert_int_equal(sim_run_get_figures(a)->history_hash,
                         sim_run_get_figures(b)->history_hash);
        assert_int_equal(sim_run_seed(c), 999);
        if (i == 0) /* jitter draws from the PRNG: another seed, another run */
            assert_int_not_equal(sim_run_get_figures(a)->history_hash,
                                 sim_run_get_figures(c)->history_hash);
        sim_run_free(a);
        sim_run_free(b);
        sim_run_free(c);
        sim_scenario_free(sc);
    }
    (void)f;
}

/* Reproduction: a failing run's concrete scenario (trigger faults turned
 * into timed ones) fails again with the same checker and the same hash. */
static void concrete_scenario_reproduces(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '4s', " PUBSUB(
                    "'publish_store': {'type': 'memory'},",
                    "") ", 'faults': [{'at': '3500ms', 'kind': 'disconnect', 'target': 'sub'},"
                        "{'on': {'event': 'persisted_ack', 'client': 'pub', 'count': 1}, "
                        "'kind': 'crash_client', 'target': 'pub', 'restart_after': '400ms'},"
                        "{'on': {'event': 'delivery', 'client': 'sub', 'count': 20}, "
                        "'kind': 'disconnect', 'target': 'sub'},"
                        "{'on': {'event': 'publish', 'client': 'pub', 'count': 100000}, "
                        "'kind': 'disconnect', 'target': 'pub'}]}");
    assert_false(sim_run_passed(f->run));
    const char *failing = sim_run_failing_check(f->run);
    assert_string_equal(failing, "no_loss");
    json_t *j = sim_run_concrete_scenario(f->run);
    assert_non_null(j);
    json_t *faults = json_object_get(j, "faults");
    assert_int_equal(json_array_size(faults), 4);
    for (size_t i = 0; i < 3; i++) /* fired ones first, all timed */
        assert_non_null(json_object_get(json_array_get(faults, i), "at"));
    assert_non_null(json_object_get(json_array_get(faults, 3), "on"));
    char *text = json_dumps(j, 0);
    json_decref(j);
    sim_scenario *sc2 = NULL;
    assert_int_equal(sim_scenario_load_buffer("concrete", text, strlen(text), &sc2, NULL), 0);
    free(text);
    sim_run *r2 = NULL;
    assert_int_equal(sim_run_scenario(sc2, NULL, &r2, NULL, 0), 0);
    assert_false(sim_run_passed(r2));
    assert_string_equal(sim_run_failing_check(r2), failing);
    assert_int_equal(sim_run_get_figures(r2)->history_hash,
                     sim_run_get_figures(f->run)->history_hash);
    for (size_t i = 0; i < 3; i++)
        assert_false(sim_run_fault_at(r2, i)->by_trigger);
    sim_run_free(r2);
    sim_scenario_free(sc2);
}

/* Scenarios that cannot run are FL_E_INVAL with a reason. */
static void unrunnable_scenarios(void **state)
{
    fx *f = *state;
    f->sc = load("{'name': 'x', 'duration': '1s', 'brokers': {'a': {}}, 'clients': {'c': "
                 "{'servers': ['a'], 'publish_store': {'type': 'plugin', 'plugin': "
                 "'/nonexistent/plugin.so'}}}}");
    char err[256] = "";
    assert_int_equal(sim_run_scenario(f->sc, NULL, &f->run, err, sizeof err), FL_E_INVAL);
    assert_null(f->run);
    assert_true(strlen(err) > 0);
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.version = 99;
    assert_int_equal(sim_run_scenario(f->sc, &o, &f->run, NULL, 0), FL_E_INVAL);
}

/* A client that gives up reports gave_up; expect.errors matches it. */
static void expected_error_gave_up(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', 'brokers': {'a': {'down': true}},"
                "'clients': {'c': {'servers': ['a'], 'connection_timeout': '1s',"
                " 'delay': {'type': 'fixed', 'delay': '100ms'}}},"
                "'expect': {'checks': [], 'errors': [{'name': 'timeout', 'client': 'c',"
                " 'before': '2s'}]}}");
    assert_true(sim_run_passed(f->run));
    assert_true(sim_run_error_count(f->run) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_faults_delivers_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(delivered_expectation_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(feed_outlives_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_store_crash_expected_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(trigger_fires_at_nth_event, setup, teardown),
        cmocka_unit_test_setup_teardown(trigger_on_store_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(liveness_converges_early, setup, teardown),
        cmocka_unit_test_setup_teardown(liveness_fails_without_a_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(app_model_discard_stop_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(never_discard_survives_redelivery, setup, teardown),
        cmocka_unit_test_setup_teardown(fault_that_never_fires_fails_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_failed_publish_is_not_handed_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(violations_dated_in_virtual_time_after_clock_jump, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(silent_expiry_of_removed_messages_is_caught, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(expired_before_first_subscribe_is_not_owed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(determinism_same_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(concrete_scenario_reproduces, setup, teardown),
        cmocka_unit_test_setup_teardown(unrunnable_scenarios, setup, teardown),
        cmocka_unit_test_setup_teardown(expected_error_gave_up, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
