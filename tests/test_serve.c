/* Tests of `faultline serve`'s config file loader (simulator/serve_config.c):
 * both forms, broker selection, and errors with the JSON path. The server
 * itself is tested end to end over loopback by tests/test_serve.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/error.h"
#include "serve.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/fl-test-serve-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/config.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

typedef struct load_case {
    const char *what;
    const char *text;
    const char *broker; /* --broker */
    int rc;
    const char *err_has; /* substring of the error text (rc != 0) */
} load_case;

static const load_case cases[] = {
    {"small form, one broker", "{\"brokers\": {\"b\": {}}}", NULL, 0, NULL},
    {"small form with credentials",
     "{\"brokers\": {\"b\": {\"credentials\": {\"pub-1\": \"pw\"}}}}", NULL, 0, NULL},
    {"whole scenario",
     "{\"name\": \"s\", \"duration\": \"1s\", \"brokers\": {\"a\": {}},"
     " \"clients\": {\"c\": {\"servers\": [\"a\"]}}}",
     NULL, 0, NULL},
    {"two brokers, --broker picks",
     "{\"brokers\": {\"a\": {}, \"b\": {\"ack_interval\": \"5ms\"}}}", "b", 0, NULL},
    {"two brokers, no --broker", "{\"brokers\": {\"a\": {}, \"b\": {}}}", NULL, FL_E_SCENARIO,
     "several brokers (a, b)"},
    {"unknown --broker", "{\"brokers\": {\"a\": {}}}", "zz", FL_E_SCENARIO, "no broker \"zz\""},
    {"unknown broker key", "{\"brokers\": {\"a\": {\"ack_intervall\": \"1s\"}}}", NULL,
     FL_E_SCENARIO, "brokers.a"},
    {"bad duration", "{\"brokers\": {\"a\": {\"heartbeat\": \"fast\"}}}", NULL, FL_E_SCENARIO,
     "heartbeat"},
    {"other top-level key", "{\"brokers\": {\"a\": {}}, \"faults\": []}", NULL, FL_E_SCENARIO,
     "a config file is a scenario or"},
    {"not JSON", "{\"brokers\": ", NULL, FL_E_SCENARIO, "config.json"},
    {"empty brokers", "{\"brokers\": {}}", NULL, FL_E_SCENARIO, "a config file is a scenario"},
};

static void test_load_table(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const load_case *c = &cases[i];
        write_file(f, c->text);
        sim_serve_config *cfg = NULL;
        char err[1024] = "";
        int rc = sim_serve_config_load(f->path, c->broker, &cfg, err, sizeof err);
        if (rc != c->rc)
            fail_msg("case \"%s\": rc %s, want %s (%s)", c->what, fl_err_name(rc),
                     fl_err_name(c->rc), err);
        if (rc == 0) {
            assert_non_null(cfg);
            sim_serve_config_free(cfg);
        } else {
            assert_null(cfg);
            if (!strstr(err, c->err_has))
                fail_msg("case \"%s\": error \"%s\" lacks \"%s\"", c->what, err, c->err_has);
        }
    }
}

static void test_spec_values(void **state)
{
    fixture *f = *state;
    write_file(f, "{\"brokers\": {\"east\": {\"topics\": {\"orders\": {\"journal\": true},"
                  " \"ticks\": {}}, \"credentials\": {\"pub-1\": \"pw1\", \"sub-1\": \"pw2\"},"
                  " \"journal\": {\"retention\": \"2h\", \"recovery\": \"salvage\"},"
                  " \"ack_interval\": \"10ms\", \"expired_bookmark\": \"error\","
                  " \"duplicate_logon\": \"replace\"}}}");
    sim_serve_config *cfg = NULL;
    assert_int_equal(sim_serve_config_load(f->path, NULL, &cfg, NULL, 0), 0);
    const sim_broker_config *sp = sim_serve_config_broker(cfg);
    assert_string_equal(sp->name, "east");
    assert_int_equal(sp->ntopics, 2);
    assert_string_equal(sp->topics[0].name, "orders");
    assert_true(sp->topics[0].journal);
    assert_string_equal(sp->topics[1].name, "ticks");
    assert_false(sp->topics[1].journal);
    assert_true(sp->has_credentials);
    assert_int_equal(sp->ncredentials, 2);
    assert_string_equal(sp->credentials[0].client, "pub-1");
    assert_string_equal(sp->credentials[0].password, "pw1");
    assert_string_equal(sp->credentials[1].client, "sub-1");
    assert_string_equal(sp->credentials[1].password, "pw2");
    assert_int_equal(sp->retention_us, 2ull * 3600 * 1000000);
    assert_int_equal(sp->recovery, FL_RECOVERY_SALVAGE);
    assert_int_equal(sp->ack_interval_us, 10000);
    assert_int_equal(sp->expired_bookmark, SIM_EXPIRED_ERROR);
    assert_int_equal(sp->duplicate_logon, SIM_DUP_LOGON_REPLACE);
    assert_int_equal(sp->heartbeat_us, 3000000); /* the scenario default */
    sim_serve_config_free(cfg);
}

static void test_defaults_without_credentials(void **state)
{
    fixture *f = *state;
    write_file(f, "{\"brokers\": {\"b\": {}}}");
    sim_serve_config *cfg = NULL;
    assert_int_equal(sim_serve_config_load(f->path, "b", &cfg, NULL, 0), 0);
    const sim_broker_config *sp = sim_serve_config_broker(cfg);
    assert_false(sp->has_credentials); /* the placeholder client adds none */
    assert_int_equal(sp->ncredentials, 0);
    assert_int_equal(sp->retention_us, 0);
    assert_int_equal(sp->ack_interval_us, 1000000);
    sim_serve_config_free(cfg);
}

static void test_missing_file(void **state)
{
    fixture *f = *state;
    sim_serve_config *cfg = NULL;
    char err[256] = "";
    assert_int_equal(sim_serve_config_load(f->path, NULL, &cfg, err, sizeof err), FL_E_NOENT);
    assert_null(cfg);
    assert_non_null(strstr(err, "config.json"));
    assert_int_equal(sim_serve_config_load(NULL, NULL, &cfg, NULL, 0), FL_E_INVAL);
}

/* The serve log carries the journal's failure and reopen as status lines
 * (an operator must see that sessions were dropped because an fsync
 * failed), and never a per-message event. */
static void test_status_events(void **state)
{
    static const char *const status[][2] = {
        {"broker", "journal_failed"},
        {"broker", "journal_reopened"},
        {"broker", "journal_reopen_failed"},
        {"broker", "journal_error"},
        {"broker", "logon"},
        {"broker", "session_closed"},
        {"journal", "recovered"},
        {"journal", "recovery_drop"},
    };
    static const char *const quiet[][2] = {
        {"broker", "publish"},   {"broker", "deliver"}, {"broker", "replicated_in"},
        {"broker", "recovered"}, {"journal", "append"},
    };
    for (size_t i = 0; i < sizeof status / sizeof status[0]; i++)
        assert_true(sim_serve_status_event(status[i][0], status[i][1]));
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        assert_false(sim_serve_status_event(quiet[i][0], quiet[i][1]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_events),
        cmocka_unit_test_setup_teardown(test_load_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_without_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
