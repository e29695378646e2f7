/* Tests for the fault engine (simulator/faults.c): every fault kind of
 * scenario-format.md applied end to end through small scenarios, with its
 * effect and its heal; the instant barrier (faults apply last in their
 * instant, in the order they joined); corruption of store and journal files
 * at the next open.
 *
 * Scenarios are inline with single quotes; q() turns them into JSON.
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
    char *hist;
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

static void load_run(fx *f, const char *single_quoted)
{
    char *text = strdup(single_quoted);
    assert_non_null(text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    sim_scenario_error e;
    int rc = sim_scenario_load_buffer("test", text, strlen(text), &f->sc, &e);
    if (rc != 0)
        fprintf(stderr, "scenario: %s\n", e.message);
    assert_int_equal(rc, 0);
    free(text);
    FILE *m = open_memstream(&f->hist, &f->hist_len);
    assert_non_null(m);
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.history_sink = m;
    char err[512];
    rc = sim_run_scenario(f->sc, &o, &f->run, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "run: %s\n", err);
    assert_int_equal(rc, 0);
    fclose(m);
}

/* History lines containing a and (if given) b. */
static size_t count(const fx *f, const char *a, const char *b)
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

static const sim_run_fault *fault(const fx *f, size_t i)
{
    const sim_run_fault *rf = sim_run_fault_at(f->run, i);
    assert_non_null(rf);
    return rf;
}

static const sim_run_figures *fig(const fx *f)
{
    return sim_run_get_figures(f->run);
}

#define BROKER_A "'brokers': {'a': {'topics': {'t': {'journal': true}}}},"
#define PUB(extra)                                                                                 \
    "'pub': {'servers': ['a'], 'delay': {'type': 'fixed', 'delay': '50ms'}, " extra                \
    "'publish': [{'topic': 't', 'count': 300, 'rate': '100/s', 'size': '40B'}]}"
#define SUB(extra)                                                                                 \
    "'sub': {'servers': ['a'], 'delay': {'type': 'fixed', 'delay': '50ms'}, " extra                \
    "'subscribe': [{'topic': 't', 'sub_id': 's', 'bookmark': 'recent'}]}"

/* ------------------------------------------------------------------ */

static void disconnect_cuts_and_client_reconnects(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', " BROKER_A "'clients': {" PUB("") "," SUB(
                    "") "}, 'faults': [{'at': '1s', 'kind': 'disconnect', 'target': 'pub'}]}");
    assert_int_equal(count(f, "\"src\":\"fault\",\"ev\":\"cut\"", NULL), 1);
    assert_true(fault(f, 0)->fired && fault(f, 0)->healed);
    assert_int_equal(fault(f, 0)->healed_us, 1000000); /* instant */
    assert_int_equal(fig(f)->reconnects, 1);
    assert_true(sim_run_passed(f->run));
}

static void stall_with_and_without_duration(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '8s', 'brokers': {'a': {'topics': {'t': {'journal': "
        "true}}, 'heartbeat': '500ms'}}, 'clients': {" PUB(
            "'heartbeat': {'interval': "
            "'500ms'},") "," SUB("") "}, 'faults': [{'at': '1s', 'kind': 'stall', 'target': 'pub'},"
                                     "{'at': '4s', 'kind': 'stall', 'target': 'sub', 'for': "
                                     "'300ms'}]}");
    assert_int_equal(fault(f, 0)->healed_us, 1000000);
    assert_int_equal(fault(f, 1)->healed_us, 4300000);
    assert_int_equal(count(f, "\"ev\":\"stall_detected\"", "\"node\":\"pub\""), 1);
    assert_int_equal(count(f, "\"src\":\"fault\",\"ev\":\"stall_heal\"", NULL), 1);
    assert_true(sim_run_passed(f->run));
}

static void partition_heals_at_its_end_or_at_duration(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '6s', " BROKER_A
             "'clients': {" PUB("'heartbeat': {'interval': '500ms'},") "," SUB(
                 "") "}, 'faults': [{'at': '1s', 'kind': 'partition', 'target': 'pub', 'for': '1s',"
                     " 'from': ['a']}, {'at': '5s', 'kind': 'partition', 'target': 'sub'}]}");
    assert_int_equal(fault(f, 0)->healed_us, 2000000);
    assert_int_equal(fault(f, 1)->healed_us, 6000000); /* no `for`: until the end */
    assert_int_equal(count(f, "\"src\":\"fault\",\"ev\":\"partition\"", NULL), 2);
    assert_int_equal(fig(f)->last_heal_us, 6000000);
    assert_true(sim_run_passed(f->run));
}

static void latency_adds_delay(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '4s', " BROKER_A "'clients': {" PUB("") "," SUB(
                 "") "}, 'faults': [{'at': '1s', 'kind': 'latency', 'target': 'sub', 'for': '1s', "
                     "'add': '200ms', 'jitter': '10ms'}]}");
    assert_int_equal(fault(f, 0)->healed_us, 2000000);
    assert_int_equal(count(f, "\"src\":\"fault\",\"ev\":\"latency\"", NULL), 1);
    assert_true(sim_run_passed(f->run));
}

static void drop_acks_by_count(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '6s', " BROKER_A
                "'clients': {" PUB("") "}, 'faults': [{'at': '500ms', 'kind': 'drop_acks', "
                                       "'target': 'pub', 'count': 2}]}");
    assert_int_equal(count(f, "\"ev\":\"filter_drop\"", NULL), 2);
    assert_true(fault(f, 0)->healed);
    assert_true(fault(f, 0)->healed_us > 500000);
    assert_true(sim_run_passed(f->run)); /* later conflated acks cover the dropped ones */
}

static void drop_acks_for_a_while(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '6s', " BROKER_A "'clients': {" PUB(
            "") "}, 'faults': [{'at': '500ms', 'kind': 'drop_acks', 'target': 'pub', 'for': '2s',"
                " 'type': 'persisted'}]}");
    assert_int_equal(fault(f, 0)->healed_us, 2500000);
    assert_true(count(f, "\"ev\":\"filter_drop\"", NULL) >= 1);
    assert_int_equal(count(f, "\"src\":\"client\",\"ev\":\"persisted_ack\"", "\"t\":1"), 0);
    assert_true(sim_run_passed(f->run));
}

static void power_loss_client_restarts(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', " BROKER_A
                "'clients': {" PUB("'publish_store': {'type': 'file', 'sync': 'always'},") "," SUB(
                    "") "}, 'faults': [{'at': '1s', 'kind': 'power_loss_client', 'target': 'pub', "
                        "'restart_after': '250ms'}, {'at': '1100ms', 'kind': 'crash_client', "
                        "'target': 'pub'}]}");
    assert_int_equal(count(f, "\"src\":\"sim\",\"ev\":\"power_loss\"", "\"node\":\"pub\""), 1);
    assert_int_equal(fault(f, 0)->healed_us, 1250000);
    assert_true(fault(f, 1)->skipped); /* already down */
    assert_int_equal(fig(f)->client_restarts, 1);
    assert_true(sim_run_passed(f->run));
}

static void broker_crash_and_power_loss(void **state)
{
    fx *f = *state;
    load_run(
        f, "{'name': 'x', 'duration': '8s', " BROKER_A
           "'clients': {" PUB("'publish_store': {'type': 'file'},") "," SUB(
               "") "}, 'faults': [{'at': '1s', 'kind': 'crash_broker', 'target': 'a', "
                   "'down_for': '500ms'}, {'at': '3s', 'kind': 'power_loss_broker', 'target': 'a', "
                   "'down_for': '1s'}]}");
    assert_int_equal(fault(f, 0)->healed_us, 1500000);
    assert_int_equal(fault(f, 1)->healed_us, 4000000);
    assert_int_equal(fig(f)->broker_restarts, 2);
    assert_int_equal(count(f, "\"src\":\"sim\",\"ev\":\"power_loss\"", "\"node\":\"a\""), 1);
    assert_int_equal(fig(f)->journal_messages, 300);
    assert_true(sim_run_passed(f->run));
}

static void down_broker_comes_up_by_a_fault_end(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', 'brokers': {'a': {'topics': {'t': {'journal': "
                "true}}, 'down': true}}, 'clients': {" PUB(
                    "'publish_store': {'type': 'file'},") "}, 'faults': [{'at': '0s', 'kind': "
                                                          "'crash_broker', 'target': 'a', "
                                                          "'down_for': '1s'}]}");
    assert_int_equal(fig(f)->broker_restarts, 1);
    assert_int_equal(fig(f)->journal_messages, 300);
    assert_true(sim_run_passed(f->run));
}

static void failover_drops_ground_truth(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', 'brokers': {"
                "'a': {'topics': {'t': {'journal': true}}, 'replicate_to': [{'broker': 'b', "
                "'mode': 'sync'}]}, 'b': {'topics': {'t': {'journal': true}}}},"
                "'clients': {'pub': {'servers': ['a', 'b'], 'publish_store': {'type': 'file'},"
                " 'delay': {'type': 'fixed', 'delay': '50ms'}, 'publish': [{'topic': 't', "
                "'count': 300, 'rate': '100/s'}]}},"
                "'faults': [{'at': '1s', 'kind': 'failover', 'target': 'a'},"
                "{'at': '2s', 'kind': 'failover', 'target': 'a'}]}");
    assert_false(fault(f, 0)->skipped);
    assert_true(fault(f, 1)->skipped);
    /* only b's journal counts, and it has everything */
    assert_int_equal(fig(f)->journal_messages, 300);
    assert_true(sim_run_passed(f->run));
}

static void corrupt_journal_at_restart(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '5s', 'brokers': {'a': {'topics': {'t': {'journal': "
                "true}}, 'journal': {'recovery': 'salvage'}}}, 'clients': {" PUB(
                    "'publish_store': {'type': 'file'},") "}, 'faults': ["
                                                          "{'at': '1s', 'kind': 'corrupt_file', "
                                                          "'target': 'a', 'file': 'journal', "
                                                          "'mode': 'bit_flip', 'offset': 'middle', "
                                                          "'bytes': 4},"
                                                          "{'at': '2s', 'kind': 'crash_broker', "
                                                          "'target': 'a', 'down_for': '100ms'}]}");
    /* the damage is applied right before the restart, not when it fired */
    assert_int_equal(count(f, "\"ev\":\"corrupt\"", "\"mode\":\"bit_flip\""), 1);
    assert_true(strstr(f->hist, "\"ev\":\"corrupt\"") > strstr(f->hist, "\"ev\":\"crash\""));
    assert_false(fault(f, 0)->skipped);
}

static void corrupt_store_strict_refuses_to_open(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '3s', " BROKER_A "'clients': {" PUB(
            "'publish_store': {'type': 'file', 'recovery': 'strict'},") "}, 'faults': [{'at': "
                                                                        "'500ms', 'kind': "
                                                                        "'crash_client', 'target': "
                                                                        "'pub', "
                                                                        "'restart_after': "
                                                                        "'100ms'}, {'at': '500ms', "
                                                                        "'kind': 'corrupt_file', "
                                                                        "'target': "
                                                                        "'pub', 'file': "
                                                                        "'publish_store', 'mode': "
                                                                        "'zero_sector', 'offset': "
                                                                        "100}],"
                                                                        "'expect': {'checks': [], "
                                                                        "'errors': ['damaged']}}");
    assert_int_equal(count(f, "\"ev\":\"corrupt\"", "\"sector\":0"), 1);
    assert_int_equal(count(f, "\"ev\":\"app_start_failed\"", "DAMAGED"), 1);
    assert_true(sim_run_passed(f->run));
}

static void corrupt_without_restart_is_not_applied(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '2s', " BROKER_A "'clients': {" PUB(
                    "'publish_store': {'type': 'file'},") "}, 'faults': [{'at': '500ms', 'kind': "
                                                          "'corrupt_file', 'target': 'pub', "
                                                          "'file': 'publish_store', 'mode': "
                                                          "'truncate', 'offset': 'tail'}]}");
    assert_true(fault(f, 0)->fired && fault(f, 0)->skipped);
    assert_int_equal(count(f, "\"ev\":\"corrupt_not_applied\"", NULL), 1);
    assert_int_equal(count(f, "\"ev\":\"corrupt\"", NULL), 0);
}

static void disk_full_refuses_then_heals(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '5s', " BROKER_A "'clients': {" PUB(
                 "'publish_store': {'type': 'file', 'sync': 'always'},") "}, 'faults': [{'at': "
                                                                         "'1s', 'kind': "
                                                                         "'disk_full', 'target': "
                                                                         "'pub', 'for': '1s'}]}");
    assert_true(count(f, "\"ev\":\"publish_refused\"", "NOSPC") > 0);
    assert_int_equal(fault(f, 0)->healed_us, 2000000);
    assert_int_equal(fig(f)->accepted, 300);
    assert_true(sim_run_passed(f->run));
}

static void io_error_persistent_until_liveness(void **state)
{
    fx *f = *state;
    load_run(
        f,
        "{'name': 'x', 'duration': '3s', " BROKER_A "'clients': {" PUB(
            "'publish_store': {'type': 'file', 'sync': 'always'},") "}, 'faults': [{'at': '1s', "
                                                                    "'kind': 'io_error', 'target': "
                                                                    "'pub', 'op': 'write',"
                                                                    " 'persistent': true}]}");
    assert_true(count(f, "\"ev\":\"publish_refused\"", NULL) > 0);
    assert_true(fault(f, 0)->healed);
    assert_int_equal(fault(f, 0)->healed_us, 3000000); /* the liveness phase healed it */
    assert_int_equal(fig(f)->accepted, 300);
}

static void advance_clock_jumps_utc(void **state)
{
    fx *f = *state;
    load_run(f, "{'name': 'x', 'duration': '3s', " BROKER_A "'clients': {" PUB(
                    "") "}, 'faults': [{'at': '1s', 'kind': 'advance_clock', 'by': '2h'}]}");
    assert_int_equal(count(f, "\"ev\":\"clock_jump\"", NULL), 1);
    assert_true(fault(f, 0)->healed);
    assert_true(sim_run_passed(f->run));
}

/* Two faults of one instant apply in order, after everything else of it. */
static void barrier_orders_an_instant(void **state)
{
    fx *f = *state;
    load_run(f,
             "{'name': 'x', 'duration': '3s', " BROKER_A "'clients': {" PUB(
                 "") "}, 'faults': [{'at': '1s', 'kind': 'latency', 'target': 'pub', 'for': '1s', "
                     "'add': '1ms'}, {'at': '1s', 'kind': 'disconnect', 'target': 'pub'}]}");
    assert_int_equal(fault(f, 0)->fire_seq, 0);
    assert_int_equal(fault(f, 1)->fire_seq, 1);
    const char *lat = strstr(f->hist, "\"kind\":\"latency\"");
    const char *dis = strstr(f->hist, "\"kind\":\"disconnect\"");
    const char *pub = strstr(f->hist, "\"src\":\"client\",\"ev\":\"publish\",\"client\":\"pub\","
                                      "\"topic\":\"t\",\"seq\":101,");
    assert_non_null(lat);
    assert_non_null(dis);
    assert_non_null(pub); /* message 100 is due at 1 s: it goes first */
    assert_true(pub < lat && lat < dis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(disconnect_cuts_and_client_reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(stall_with_and_without_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(partition_heals_at_its_end_or_at_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(latency_adds_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(drop_acks_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(drop_acks_for_a_while, setup, teardown),
        cmocka_unit_test_setup_teardown(power_loss_client_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_crash_and_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(down_broker_comes_up_by_a_fault_end, setup, teardown),
        cmocka_unit_test_setup_teardown(failover_drops_ground_truth, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_journal_at_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_store_strict_refuses_to_open, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_without_restart_is_not_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_full_refuses_then_heals, setup, teardown),
        cmocka_unit_test_setup_teardown(io_error_persistent_until_liveness, setup, teardown),
        cmocka_unit_test_setup_teardown(advance_clock_jumps_utc, setup, teardown),
        cmocka_unit_test_setup_teardown(barrier_orders_an_instant, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
