/* Tests for run reports (simulator/report.c, simulator/timeline.c):
 * report.json against its documented shape, junit.xml well-formedness and
 * counts, repro.json loading back through the scenario loader, the
 * timeline collector and page, and a run's report directory.
 *
 * `test_report --timeline-sample FILE` writes the sample timeline page
 * that tests/test_timeline.sh renders in headless Chromium. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "report.h"
#include "scenario.h"

/* ---- a sample run --------------------------------------------------------- */

static const char *const CTX0[] = {
    "{\"t\":1500000,\"node\":\"pub-1\",\"src\":\"client\",\"ev\":\"publish\",\"topic\":\"orders\","
    "\"seq\":17,\"len\":100}",
    "{\"t\":2100000,\"node\":\"pub-1\",\"src\":\"client\",\"ev\":\"persisted_ack\",\"seq\":17}",
    "not json at all </script>",
    "t=2.100000s pub-1 publish store discard up to seq=17 (persisted ack)",
};
static const char *const CTX1[] = {
    "{\"t\":4000000,\"node\":\"sub-1\",\"src\":\"client\",\"ev\":\"deliver\",\"sub_id\":\"s\","
    "\"publisher\":9,\"seq\":3}",
};
static const sim_report_check CHECKS[] = {
    {"no_loss", "fail"},
    {"ack_honesty", "pass"},
    {"no_duplicates", "expected_violation_fired"},
    {"order", "skipped"},
    {"liveness", "expected_violation_missing"},
};
static const sim_report_violation VIOLATIONS[] = {
    {"no_loss", "pub-1", "", "orders", "9|17|",
     "message <17> & \"friends\" accepted but not in the journal", 2100000, CTX0, 4},
    {"no_duplicates", "sub-1", "s", "orders", "9|3|20200101T000004Z", "delivered twice", 4000000,
     CTX1, 1},
};
static const sim_report_fault FAULTS[] = {
    {0, "disconnect", "pub-1", true, false, true, 1000000, true, 1000000, false},
    {1, "crash_broker", "a", true, true, false, 2000000, true, 3500000, false},
    {2, "stall", "sub-1", true, false, false, 3000000, false, 0, false},
    {3, "advance_clock", "", false, false, false, 0, false, 0, true},
};
static const sim_report_error ERRORS[] = {{"sub-1", "BOOKMARK_EXPIRED", 3200000}};
static const char *const CLIENTS[] = {"pub-1", "sub-1"};
static const char *const BROKERS[] = {"a", "b"};

static sim_report sample_report(void)
{
    sim_report r = {0};
    r.scenario = "failover <\"sample\">";
    r.file = "scenarios/failover&co.json";
    r.description = "two brokers, a crash, a stall";
    r.seed = 42;
    r.revision = "v0.1.0-7-g1234abc";
    r.passed = false;
    r.failure = "no_loss: 1 violation; liveness: expected violation did not fire";
    r.checks = CHECKS;
    r.nchecks = sizeof CHECKS / sizeof CHECKS[0];
    r.violations = VIOLATIONS;
    r.nviolations = sizeof VIOLATIONS / sizeof VIOLATIONS[0];
    r.faults = FAULTS;
    r.nfaults = sizeof FAULTS / sizeof FAULTS[0];
    r.errors = ERRORS;
    r.nerrors = 1;
    r.figures.published = 100;
    r.figures.accepted = 99;
    r.figures.persisted_acks = 12;
    r.figures.delivered = 98;
    r.figures.faults_fired = 3;
    r.figures.reconnects = 2;
    r.figures.converged = true;
    r.figures.virtual_us = 6000000;
    r.figures.wall_us = 12345;
    r.figures.events_run = 5000;
    r.figures.history_hash = 0x0123456789abcdefULL;
    r.figures.delivered_distinct = 97;
    r.figures.redelivered = 1;
    r.figures.faults_not_fired = 1;
    r.clients = CLIENTS;
    r.nclients = 2;
    r.brokers = BROKERS;
    r.nbrokers = 2;
    r.history_file = "history.jsonl";
    return r;
}

/* A timeline fed with the events of the sample run. */
static sim_timeline *sample_timeline(void)
{
    sim_timeline *tl = sim_timeline_new();
    assert_non_null(tl);
    static const char *const nodes[] = {"a", "b", "pub-1", "sub-1"};
    for (size_t i = 0; i < 4; i++)
        sim_timeline_add_event(tl, 0, nodes[i], "sim", "node_create", "");
    static const char *const clients[] = {"pub-1", "sub-1"};
    for (size_t i = 0; i < 2; i++) {
        sim_timeline_add_event(tl, 1000, clients[i], "client", "connect", "");
        sim_timeline_add_event(tl, 2000, clients[i], "client", "state", "\"state\":\"connected\"");
        sim_timeline_add_event(tl, 3000, clients[i], "client", "state", "\"state\":\"logged_on\"");
    }
    sim_timeline_add_event(tl, 1000000, "pub-1", "client", "state", "\"state\":\"disconnected\"");
    sim_timeline_add_event(tl, 1000000, "pub-1", "client", "reconnect_wait", "\"wait_us\":200000");
    sim_timeline_add_event(tl, 1200000, "pub-1", "client", "reconnect_attempt", "\"attempt\":1");
    sim_timeline_add_event(tl, 1300000, "pub-1", "client", "state", "\"state\":\"logged_on\"");
    sim_timeline_add_event(tl, 2000000, "a", "sim", "crash", "");
    sim_timeline_add_event(tl, 3500000, "a", "sim", "restart", "\"incarnation\":2");
    for (uint64_t t = 0; t < 6000000; t += 60000) {
        sim_timeline_add_event(tl, t, "pub-1", "client", "publish", "\"seq\":1");
        sim_timeline_add_event(tl, t + 300, "sub-1", "client", "deliver", "\"seq\":1");
        if ((t / 60000) % 10 == 0)
            sim_timeline_add_event(tl, t + 500, "pub-1", "client", "persisted_ack", "\"seq\":1");
    }
    return tl;
}

/* ---- report.json shape --------------------------------------------------- */

typedef enum jt {
    J_STR,
    J_INT,
    J_BOOL,
    J_OBJ,
    J_ARR,
    J_INT_OR_NULL,
    J_STR_OR_NULL,
    J_OBJ_OR_NULL,
} jt;

typedef struct shape {
    const char *key;
    jt type;
} shape;

static void check_shape(const json_t *o, const shape *s, size_t n, const char *where)
{
    assert_true(json_is_object(o));
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(o, s[i].key);
        if (!v)
            fail_msg("%s: missing key %s", where, s[i].key);
        bool ok = false;
        switch (s[i].type) {
        case J_STR:
            ok = json_is_string(v);
            break;
        case J_INT:
            ok = json_is_integer(v) && json_integer_value(v) >= 0;
            break;
        case J_BOOL:
            ok = json_is_boolean(v);
            break;
        case J_OBJ:
            ok = json_is_object(v);
            break;
        case J_ARR:
            ok = json_is_array(v);
            break;
        case J_INT_OR_NULL:
            ok = json_is_null(v) || json_is_integer(v);
            break;
        case J_STR_OR_NULL:
            ok = json_is_null(v) || json_is_string(v);
            break;
        case J_OBJ_OR_NULL:
            ok = json_is_null(v) || json_is_object(v);
            break;
        }
        if (!ok)
            fail_msg("%s: key %s has the wrong type", where, s[i].key);
    }
}

static const shape TOP[] = {
    {"format", J_STR},     {"version", J_INT}, {"scenario", J_OBJ}, {"seed", J_INT},
    {"revision", J_STR},   {"result", J_STR},  {"failure", J_STR},  {"checks", J_OBJ},
    {"violations", J_ARR}, {"faults", J_ARR},  {"errors", J_ARR},   {"figures", J_OBJ},
    {"files", J_OBJ},
};
static const shape SCENARIO[] = {{"name", J_STR}, {"file", J_STR}, {"description", J_STR}};
static const shape VIOLATION[] = {
    {"checker", J_STR}, {"client", J_STR}, {"sub_id", J_STR}, {"topic", J_STR},
    {"message", J_STR}, {"text", J_STR},   {"t_us", J_INT},   {"context", J_ARR},
};
static const shape CONTEXT[] = {{"t_us", J_INT_OR_NULL}, {"text", J_STR}, {"event", J_OBJ_OR_NULL}};
static const shape EVENT[] = {{"t", J_INT}, {"node", J_STR}, {"src", J_STR}, {"ev", J_STR}};
static const shape FAULT[] = {
    {"index", J_INT},
    {"kind", J_STR},
    {"target", J_STR},
    {"status", J_STR},
    {"optional", J_BOOL},
    {"fired", J_BOOL},
    {"by_trigger", J_BOOL},
    {"skipped", J_BOOL},
    {"fired_us", J_INT_OR_NULL},
    {"healed", J_BOOL},
    {"healed_us", J_INT_OR_NULL},
};
static const shape ERROR[] = {{"client", J_STR}, {"error", J_STR}, {"t_us", J_INT}};
static const shape FIGURES[] = {
    {"published", J_INT},        {"accepted", J_INT},
    {"refused", J_INT},          {"persisted_acks", J_INT},
    {"delivered", J_INT},        {"discarded", J_INT},
    {"duplicates", J_INT},       {"gaps", J_INT},
    {"errors", J_INT},           {"faults_fired", J_INT},
    {"faults_healed", J_INT},    {"reconnects", J_INT},
    {"client_restarts", J_INT},  {"broker_restarts", J_INT},
    {"journal_messages", J_INT}, {"max_outage_us", J_INT},
    {"last_heal_us", J_INT},     {"converged", J_BOOL},
    {"converged_us", J_INT},     {"recovery_us", J_INT},
    {"virtual_us", J_INT},       {"wall_us", J_INT},
    {"events_run", J_INT},       {"history_events", J_INT},
    {"history_hash", J_STR},     {"delivered_distinct", J_INT},
    {"redelivered", J_INT},      {"faults_not_fired", J_INT},
};
static const shape FILES[] = {
    {"history", J_STR_OR_NULL}, {"timeline", J_STR_OR_NULL}, {"repro", J_STR_OR_NULL}};

#define SHAPE(o, s, w) check_shape((o), (s), sizeof(s) / sizeof((s)[0]), (w))

/* The whole documented shape of report.json. */
static void check_report_shape(const json_t *j)
{
    SHAPE(j, TOP, "report");
    SHAPE(json_object_get(j, "scenario"), SCENARIO, "scenario");
    SHAPE(json_object_get(j, "figures"), FIGURES, "figures");
    SHAPE(json_object_get(j, "files"), FILES, "files");
    assert_string_equal(json_string_value(json_object_get(j, "format")), "faultline-report");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    const char *res = json_string_value(json_object_get(j, "result"));
    assert_true(strcmp(res, "pass") == 0 || strcmp(res, "fail") == 0);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(j, "checks"), key, v) assert_true(json_is_string(v));
    size_t i;
    json_array_foreach(json_object_get(j, "violations"), i, v)
    {
        SHAPE(v, VIOLATION, "violation");
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(v, "context"), k, c)
        {
            SHAPE(c, CONTEXT, "context event");
            if (!json_is_null(json_object_get(c, "event")))
                SHAPE(json_object_get(c, "event"), EVENT, "history event");
        }
    }
    json_array_foreach(json_object_get(j, "faults"), i, v) SHAPE(v, FAULT, "fault");
    json_array_foreach(json_object_get(j, "errors"), i, v) SHAPE(v, ERROR, "error");
    const char *hash =
        json_string_value(json_object_get(json_object_get(j, "figures"), "history_hash"));
    assert_int_equal(strlen(hash), 16);
    for (const char *p = hash; *p; p++)
        assert_true(isxdigit((unsigned char)*p) && !isupper((unsigned char)*p));
}

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/test_report.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"report.json",   "junit.xml",       "repro.json",
                                        "timeline.html", "run/report.json", "run/timeline.html",
                                        "run/repro.json"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/run", f->dir);
    rmdir(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_report_json_shape(void **state)
{
    fixture *f = *state;
    sim_report r = sample_report();
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/report.json", f->dir);
    assert_int_equal(sim_report_write_json(&r, path, err, sizeof err), 0);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(j);
    check_report_shape(j);

    /* The values made it through, escaped and typed. */
    json_t *sc = json_object_get(j, "scenario");
    assert_string_equal(json_string_value(json_object_get(sc, "name")), "failover <\"sample\">");
    assert_int_equal(json_integer_value(json_object_get(j, "seed")), 42);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
    json_t *checks = json_object_get(j, "checks");
    assert_int_equal(json_object_size(checks), 5);
    assert_string_equal(json_string_value(json_object_get(checks, "no_duplicates")),
                        "expected_violation_fired");
    json_t *v0 = json_array_get(json_object_get(j, "violations"), 0);
    assert_string_equal(json_string_value(json_object_get(v0, "message")), "9|17|");
    assert_string_equal(json_string_value(json_object_get(v0, "client")), "pub-1");
    assert_string_equal(json_string_value(json_object_get(v0, "topic")), "orders");
    json_t *ctx = json_object_get(v0, "context");
    assert_int_equal(json_array_size(ctx), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ctx, 1), "t_us")), 2100000);
    json_t *ev0 = json_object_get(json_array_get(ctx, 0), "event");
    assert_int_equal(json_integer_value(json_object_get(ev0, "seq")), 17);
    assert_true(json_is_null(json_object_get(json_array_get(ctx, 2), "t_us")));
    assert_true(json_is_null(json_object_get(json_array_get(ctx, 2), "event")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ctx, 2), "text")),
                        "not json at all </script>");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ctx, 3), "t_us")), 2100000);
    assert_true(json_is_null(json_object_get(json_array_get(ctx, 3), "event")));
    json_t *faults = json_object_get(j, "faults");
    assert_int_equal(json_array_size(faults), 4);
    assert_true(json_is_null(json_object_get(json_array_get(faults, 3), "fired_us")));
    assert_true(json_is_null(json_object_get(json_array_get(faults, 2), "healed_us")));
    assert_true(json_is_true(json_object_get(json_array_get(faults, 1), "by_trigger")));
    static const char *const status[] = {"skipped", "fired", "fired", "never_fired"};
    for (size_t i = 0; i < 4; i++) {
        json_t *fi = json_array_get(faults, i);
        assert_string_equal(json_string_value(json_object_get(fi, "status")), status[i]);
        assert_true(json_is_boolean(json_object_get(fi, "optional")));
        assert_int_equal(json_is_true(json_object_get(fi, "optional")), i == 3);
    }
    json_t *fig = json_object_get(j, "figures");
    assert_string_equal(json_string_value(json_object_get(fig, "history_hash")),
                        "0123456789abcdef");
    assert_int_equal(json_integer_value(json_object_get(fig, "accepted")), 99);
    assert_int_equal(json_integer_value(json_object_get(fig, "delivered_distinct")), 97);
    assert_int_equal(json_integer_value(json_object_get(fig, "redelivered")), 1);
    assert_int_equal(json_integer_value(json_object_get(fig, "faults_not_fired")), 1);
    json_t *files = json_object_get(j, "files");
    assert_string_equal(json_string_value(json_object_get(files, "history")), "history.jsonl");
    assert_true(json_is_null(json_object_get(files, "repro")));
    json_decref(j);

    /* A passing run: failure "", revision defaults, a seed above 2^63-1. */
    sim_report p = {0};
    p.scenario = "ok";
    p.passed = true;
    p.failure = "ignored for a pass";
    p.seed = UINT64_MAX;
    j = sim_report_to_json(&p);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "failure")), "");
    assert_string_equal(json_string_value(json_object_get(j, "revision")), "unknown");
    assert_string_equal(json_string_value(json_object_get(j, "seed")), "18446744073709551615");
    assert_int_equal(json_array_size(json_object_get(j, "violations")), 0);
    json_decref(j);

    /* Unwritable path: a clear error. */
    assert_int_equal(sim_report_write_json(&r, "/nonexistent-dir/report.json", err, sizeof err),
                     FL_E_IO);
    assert_non_null(strstr(err, "/nonexistent-dir/report.json"));
}

static void test_failing_checks(void **state)
{
    (void)state;
    sim_report r = sample_report();
    char buf[64];
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf), "no_loss,liveness");
    r.nchecks = 2;
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf), "no_loss");
    r.checks = CHECKS + 1;
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf), "expect");
    r.passed = true;
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf), "");
    r = sample_report();
    assert_string_equal(sim_report_failing_checks(&r, buf, 10), "no_loss");

    /* The checker's own verdict names: exactly fail and
     * expected_violation_missing fail a run. */
    static const char *const names[] = {"skipped",
                                        "pass",
                                        "not_applicable",
                                        "fail",
                                        "expected_violation_fired",
                                        "expected_violation_missing"};
    sim_report_check all[SIM_CHK_EXPECTED_MISSING + 1];
    for (int v = SIM_CHK_SKIPPED; v <= SIM_CHK_EXPECTED_MISSING; v++) {
        all[v].name = names[v];
        all[v].verdict = sim_chk_verdict_name((sim_chk_verdict)v);
        assert_string_equal(all[v].verdict, names[v]);
    }
    r.checks = all;
    r.nchecks = SIM_CHK_EXPECTED_MISSING + 1;
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf),
                        "fail,expected_violation_missing");
}

typedef struct failure_case {
    const char *check, *failure, *want;
} failure_case;

/* The console names the failing check once. */
static void test_failure_line(void **state)
{
    (void)state;
    static const failure_case cases[] = {
        {"no_loss", "no_loss: 100 violation(s)", "no_loss: 100 violation(s)"},
        {"no_loss", "no_loss: 3 violation(s); expected error BOOKMARK_EXPIRED not reported",
         "no_loss: 3 violation(s); expected error BOOKMARK_EXPIRED not reported"},
        {"faults", "fault #2 (crash_client pub-1) never fired",
         "faults: fault #2 (crash_client pub-1) never fired"},
        {"repeat_check", "nondeterministic: history hash 1 then 2",
         "repeat_check: nondeterministic: history hash 1 then 2"},
        {"order", "ordered: not a prefix match", "order: ordered: not a prefix match"},
        {"", "something failed", "something failed"},
        {NULL, NULL, ""},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(
            sim_report_failure_line(cases[i].check, cases[i].failure, buf, sizeof buf),
            cases[i].want);
    assert_string_equal(sim_report_failure_line("faults", "fault #1", buf, 8), "faults:");
}

/* ---- a small XML well-formedness checker ---------------------------------- */

typedef struct xml_stats {
    int testsuites, testsuite, testcase, failure, error, property;
    char suite_attrs[256];
} xml_stats;

static bool valid_entity(const char *p, size_t *len)
{
    static const char *const names[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < 5; i++)
        if (strncmp(p, names[i], strlen(names[i])) == 0) {
            *len = strlen(names[i]);
            return true;
        }
    const char *q = p + 1;
    if (*q++ != '#')
        return false;
    bool hex = *q == 'x';
    q += hex;
    const char *d = q;
    while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))
        q++;
    if (q == d || *q != ';')
        return false;
    *len = (size_t)(q - p) + 1;
    return true;
}

/* Character data up to the next '<': no raw '>'-free rule needed, but
 * every '&' must start an entity. */
static const char *xml_text(const char *p)
{
    while (*p && *p != '<') {
        size_t n = 1;
        if (*p == '&' && !valid_entity(p, &n))
            fail_msg("bad entity near: %.20s", p);
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
            fail_msg("control character in XML text");
        p += n;
    }
    return p;
}

static const char *xml_name(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    if (!isalpha((unsigned char)*p) && *p != '_')
        fail_msg("bad name start near: %.20s", p);
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '.' ||
           p[n] == ':') {
        if (n + 1 < cap)
            out[n] = p[n];
        n++;
    }
    out[n < cap ? n : cap - 1] = 0;
    return p + n;
}

static const char *xml_attrs(const char *p, char *names, size_t cap)
{
    names[0] = ' ';
    names[1] = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '>' || *p == '/' || *p == '?')
            return p;
        char an[64];
        p = xml_name(p, an, sizeof an);
        char token[80];
        snprintf(token, sizeof token, " %s ", an);
        if (strstr(names, token))
            fail_msg("duplicate attribute %s", an);
        strncat(names, token, cap - strlen(names) - 1);
        if (*p++ != '=' || *p != '"')
            fail_msg("attribute %s without a quoted value", an);
        for (p++; *p != '"'; p++) {
            size_t n = 1;
            if (!*p || *p == '<')
                fail_msg("raw '<' or end inside attribute %s", an);
            if (*p == '&' && !valid_entity(p, &n))
                fail_msg("bad entity in attribute %s", an);
            p += n - 1;
        }
        p++;
    }
}

static void count_element(xml_stats *st, const char *name, const char *attrs_start,
                          const char *attrs_end)
{
    if (strcmp(name, "testsuites") == 0)
        st->testsuites++;
    if (strcmp(name, "testsuite") == 0) {
        st->testsuite++;
        size_t n = (size_t)(attrs_end - attrs_start);
        n = n < sizeof st->suite_attrs - 1 ? n : sizeof st->suite_attrs - 1;
        memcpy(st->suite_attrs, attrs_start, n);
        st->suite_attrs[n] = 0;
    }
    st->testcase += strcmp(name, "testcase") == 0;
    st->failure += strcmp(name, "failure") == 0;
    st->error += strcmp(name, "error") == 0;
    st->property += strcmp(name, "property") == 0;
}

/* Checks `doc` is well-formed XML (one root, matched tags, quoted unique
 * attributes, valid entities) and counts the JUnit elements. */
static void xml_check(const char *doc, xml_stats *st)
{
    char stack[16][64];
    int depth = 0, roots = 0;
    const char *p = doc;
    memset(st, 0, sizeof *st);
    if (strncmp(p, "<?xml ", 6) == 0) {
        p = strstr(p, "?>");
        assert_non_null(p);
        p += 2;
    }
    while (*p) {
        p = xml_text(p);
        if (!*p)
            break;
        if (depth == 0 && *p != '<')
            fail_msg("text outside the root");
        p++;
        bool closing = *p == '/';
        p += closing;
        char name[64], names[512];
        p = xml_name(p, name, sizeof name);
        const char *astart = p;
        p = closing ? p : xml_attrs(p, names, sizeof names);
        bool empty = *p == '/';
        p += empty;
        if (*p++ != '>')
            fail_msg("tag %s not closed", name);
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                fail_msg("mismatched </%s>", name);
            depth--;
            continue;
        }
        count_element(st, name, astart, p);
        roots += depth == 0;
        if (!empty) {
            assert_true(depth < 16);
            snprintf(stack[depth++], sizeof stack[0], "%s", name);
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
}

static char *slurp(FILE *f)
{
    long len = ftell(f);
    char *buf = calloc(1, (size_t)len + 1);
    assert_non_null(buf);
    rewind(f);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    return buf;
}

static void test_junit(void **state)
{
    (void)state;
    sim_report fail = sample_report();
    sim_report pass = {0};
    pass.scenario = "clean 'run' & more";
    pass.file = "scenarios/clean.json";
    pass.passed = true;
    pass.checks = CHECKS + 1;
    pass.nchecks = 1;
    pass.figures.wall_us = 2500000;
    sim_report broken = {0};
    broken.scenario = "broken";
    broken.file = "scenarios/broken.json";
    broken.run_error = "scenarios/broken.json:3:5: brokers: expected an array \x01 <here>";
    const sim_report *reps[] = {&pass, &fail, &broken};

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(sim_report_write_junit(f, "scenarios & more", reps, 3, 1.5), 0);
    char *doc = slurp(f);
    fclose(f);
    xml_stats st;
    xml_check(doc, &st);
    assert_int_equal(st.testsuites, 1);
    assert_int_equal(st.testsuite, 1);
    assert_int_equal(st.testcase, 3);
    assert_int_equal(st.failure, 1);
    assert_int_equal(st.error, 1);
    /* seed (3) + history_hash (2) + checks (1 + 5). */
    assert_int_equal(st.property, 3 + 2 + 6);
    assert_non_null(strstr(st.suite_attrs, "tests=\"3\""));
    assert_non_null(strstr(st.suite_attrs, "failures=\"1\""));
    assert_non_null(strstr(st.suite_attrs, "errors=\"1\""));
    assert_non_null(strstr(st.suite_attrs, "name=\"scenarios &amp; more\""));
    assert_non_null(strstr(doc, "classname=\"faultline.scenarios\" "
                                "name=\"failover &lt;&quot;sample&quot;&gt;\""));
    assert_non_null(strstr(doc, "<property name=\"check.no_loss\" value=\"fail\"/>"));
    assert_non_null(strstr(doc, "<failure type=\"checker\" message=\"no_loss: 1 violation;"));
    assert_non_null(strstr(doc, "9|17|: message &lt;17&gt; &amp; &quot;friends&quot;"));
    assert_non_null(strstr(doc, "time=\"2.500000\""));
    assert_non_null(strstr(doc, "\xEF\xBF\xBD")); /* the control character */
    free(doc);
}

/* report.json read back (what `faultline run` writes junit.xml from):
 * every field the writers use survives, so junit.xml written from the
 * record carries the real history hash and violation times. */
static void test_report_json_read_back(void **state)
{
    (void)state;
    sim_report r = sample_report();
    r.seed = UINT64_MAX; /* written as a decimal string */
    r.figures.recovery_us = 777;
    json_t *j = sim_report_to_json(&r);
    assert_non_null(j);
    sim_report_json_view v;
    assert_int_equal(sim_report_view_json(j, &v), 0);
    const sim_report *b = &v.rep;
    assert_string_equal(b->scenario, r.scenario);
    assert_string_equal(b->file, r.file);
    assert_string_equal(b->revision, r.revision);
    assert_true(b->seed == UINT64_MAX);
    assert_false(b->passed);
    assert_null(b->run_error);
    assert_string_equal(b->failure, r.failure);
    assert_true(b->figures.history_hash == 0x0123456789abcdefULL);
    assert_int_equal(b->figures.wall_us, 12345);
    assert_int_equal(b->figures.recovery_us, 777);
    assert_int_equal(b->figures.accepted, 99);
    assert_int_equal(b->figures.delivered_distinct, 97);
    assert_int_equal(b->figures.faults_not_fired, 1);
    assert_true(b->figures.converged);
    assert_int_equal(b->nchecks, r.nchecks);
    for (size_t i = 0; i < r.nchecks; i++) {
        assert_string_equal(b->checks[i].name, r.checks[i].name);
        assert_string_equal(b->checks[i].verdict, r.checks[i].verdict);
    }
    assert_int_equal(b->nviolations, r.nviolations);
    for (size_t i = 0; i < r.nviolations; i++) {
        const sim_report_violation *x = &b->violations[i], *y = &r.violations[i];
        assert_string_equal(x->checker, y->checker);
        assert_string_equal(x->sub_id, y->sub_id);
        assert_string_equal(x->message, y->message);
        assert_string_equal(x->text, y->text);
        assert_int_equal(x->t_us, y->t_us);
        assert_int_equal(x->ncontext, y->ncontext);
        for (size_t k = 0; k < y->ncontext; k++)
            assert_string_equal(x->context[k], y->context[k]);
    }
    assert_int_equal(b->nfaults, r.nfaults);
    assert_int_equal(b->faults[1].healed_us, 3500000);
    assert_true(b->faults[1].by_trigger);
    assert_true(b->faults[0].skipped);
    assert_true(b->faults[3].optional);
    assert_false(b->faults[2].optional);
    assert_int_equal(b->nerrors, 1);
    assert_string_equal(b->errors[0].error, "BOOKMARK_EXPIRED");
    assert_string_equal(b->history_file, "history.jsonl");
    assert_null(b->repro_file);

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(sim_report_write_junit(f, NULL, &b, 1, 0.5), 0);
    char *doc = slurp(f);
    fclose(f);
    assert_non_null(strstr(doc, "<property name=\"history_hash\" value=\"0123456789abcdef\"/>"));
    assert_non_null(strstr(doc, "[no_loss] t=2100000us 9|17|"));
    assert_non_null(strstr(doc, "[no_duplicates] t=4000000us "));
    free(doc);
    sim_report_json_view_release(&v);
    assert_null(v.violations);
    json_decref(j);

    /* A CLI record of a run that could not be performed; not an object. */
    j = json_pack("{s:s, s:{s:s}, s:s}", "result", "error", "scenario", "name", "x", "run_error",
                  "bad store");
    assert_int_equal(sim_report_view_json(j, &v), 0);
    assert_string_equal(v.rep.run_error, "bad store");
    assert_string_equal(v.rep.revision, "unknown");
    assert_int_equal(v.rep.nchecks + v.rep.nviolations + v.rep.nfaults, 0);
    sim_report_json_view_release(&v);
    json_decref(j);
    j = json_array();
    assert_int_equal(sim_report_view_json(j, &v), FL_E_INVAL);
    json_decref(j);
}

typedef struct esc_case {
    const char *in, *out;
} esc_case;

static void test_xml_escape(void **state)
{
    (void)state;
    static const esc_case cases[] = {
        {"plain", "plain"},
        {"a<b>&\"'", "a&lt;b&gt;&amp;&quot;&#39;"},
        {"tab\tnl\n", "tab\tnl\n"},
        {"bell\x07", "bell\xEF\xBF\xBD"},
        {"caf\xC3\xA9", "caf\xC3\xA9"},   /* valid UTF-8 kept */
        {"bad\xC3(", "bad\xEF\xBF\xBD("}, /* broken sequence replaced */
        {"\xFF", "\xEF\xBF\xBD"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = tmpfile();
        assert_int_equal(sim_report_xml_escape(f, cases[i].in), 0);
        char *s = slurp(f);
        fclose(f);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

typedef struct ctx_time_case {
    const char *line;
    bool has_t;
    int64_t t_us;
    bool has_event; /* a canonical history line: event is it, parsed */
} ctx_time_case;

/* Context lines: history JSON, checker "t=" lines, anything else. */
static void test_context_times(void **state)
{
    (void)state;
    static const ctx_time_case cases[] = {
        {"t=0.000000s a", true, 0, false},
        {"t=12.345678s pub-1 publish", true, 12345678, false},
        {"t=1.5s short fraction", false, 0, false},
        {"t=.000001s no seconds", false, 0, false},
        {"t=1.000001 no unit", false, 0, false},
        {"t=99999999999999999999.000000s overflow", false, 0, false},
        {"{\"t\":7,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\"}", true, 7, true},
        {"{\"t\":8,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\",\"seq\":3}", true, 8, true},
        {"{\"t\":9,\"node\":\"n\",\"src\":\"s\"}", false, 0, false}, /* no ev */
        {"{\"t\":\"9\",\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\"}", false, 0, false},
        {"{\"t\":-7}", false, 0, false},
        {"{\"t\":1,\"t\":2,\"node\":\"n\",\"src\":\"s\",\"ev\":\"e\"}", false, 0, false},
        {"[1]", false, 0, false},
        {"", false, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *ctx[] = {cases[i].line};
        sim_report_violation v = {"no_loss", NULL, NULL, NULL, NULL, "x", 0, ctx, 1};
        sim_report r = {0};
        r.scenario = "ctx";
        r.violations = &v;
        r.nviolations = 1;
        json_t *j = sim_report_to_json(&r);
        assert_non_null(j);
        json_t *c = json_array_get(
            json_object_get(json_array_get(json_object_get(j, "violations"), 0), "context"), 0);
        SHAPE(c, CONTEXT, "context event");
        json_t *t = json_object_get(c, "t_us");
        if (cases[i].has_t)
            assert_int_equal(json_integer_value(t), cases[i].t_us);
        else
            assert_true(json_is_null(t));
        assert_string_equal(json_string_value(json_object_get(c, "text")), cases[i].line);
        json_t *ev = json_object_get(c, "event");
        if (cases[i].has_event) {
            SHAPE(ev, EVENT, "history event");
            json_t *want = json_loads(cases[i].line, 0, NULL);
            assert_true(json_equal(ev, want));
            json_decref(want);
        } else {
            assert_true(json_is_null(ev));
        }
        json_decref(j);
    }
}

static void keep_line(void *arg, const sim_history_event *ev)
{
    snprintf(arg, 256, "%.*s", (int)ev->line_len, ev->line);
}

/* A line as the recorder writes it is a canonical history line. */
static void test_context_history_line(void **state)
{
    (void)state;
    sim_history *h = sim_history_new(0);
    assert_non_null(h);
    char line[256] = "";
    assert_int_equal(sim_history_observe(h, keep_line, line), 0);
    sim_history_add(h, 2010200, "pub-1", "sim", "crash", "\"incarnation\":1");
    sim_history_free(h);
    const char *ctx[] = {line, "t=2.010200s pub-1 crash"};
    sim_report_violation v = {"no_loss", NULL, NULL, NULL, NULL, "x", 0, ctx, 2};
    sim_report r = {0};
    r.violations = &v;
    r.nviolations = 1;
    json_t *j = sim_report_to_json(&r);
    assert_non_null(j);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "violations"), 0), "context");
    json_t *ev = json_object_get(json_array_get(c, 0), "event");
    assert_string_equal(json_string_value(json_object_get(ev, "node")), "pub-1");
    assert_string_equal(json_string_value(json_object_get(ev, "ev")), "crash");
    assert_int_equal(json_integer_value(json_object_get(ev, "incarnation")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 0), "t_us")), 2010200);
    /* the checker's text line for the same event: dated, no event */
    assert_true(json_is_null(json_object_get(json_array_get(c, 1), "event")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 1), "t_us")), 2010200);
    json_decref(j);
}

/* A real checker's verdicts and violations become report views. */
static void test_checker_view(void **state)
{
    (void)state;
    sim_checker_config cfg = SIM_CHECKER_CONFIG_INIT;
    sim_checker_client_cfg cl = {
        "pub-1", 0, SIM_STORE_MEMORY, SIM_SYNC_BATCH, SIM_STORE_MEMORY, SIM_SYNC_BATCH};
    static const char *const topics[] = {"orders"};
    cfg.checks = SIM_CHECK_NO_LOSS | SIM_CHECK_ORDER;
    cfg.clients = &cl;
    cfg.nclients = 1;
    cfg.journaled_topics = topics;
    cfg.njournaled_topics = 1;
    sim_checker *chk = NULL;
    assert_int_equal(sim_checker_new(&cfg, &chk, NULL, 0), 0);
    assert_int_equal(sim_checker_publish(chk, 1000000, "pub-1", "orders", 1, 0), 0);
    assert_int_equal(sim_checker_publish(chk, 2000000, "pub-1", "orders", 2, 0), 0);
    assert_int_equal(sim_checker_journal_begin(chk, "a"), 0);
    assert_int_equal(sim_checker_journal_message(chk, "a", "orders", fl_publisher_id("pub-1", 5), 1,
                                                 1577836801000000LL),
                     0);
    assert_int_equal(sim_checker_finish(chk, 5000000), 0);

    sim_report_checker_view v;
    assert_int_equal(sim_report_view_checker(chk, &v), 0);
    assert_int_equal(v.nchecks, SIM_CHK_COUNT);
    assert_string_equal(v.checks[0].name, "no_loss");
    assert_string_equal(v.checks[0].verdict, "fail");
    assert_string_equal(v.checks[1].verdict, "skipped");
    assert_int_equal(v.nviolations, 1);
    const sim_report_violation *rv = &v.violations[0];
    assert_string_equal(rv->checker, "no_loss");
    assert_string_equal(rv->client, "pub-1");
    char want[64];
    snprintf(want, sizeof want, "%" PRIu64 "|2|", fl_publisher_id("pub-1", 5));
    assert_true(strncmp(rv->message, want, strlen(want)) == 0);
    const sim_checker_violation *cv = sim_checker_violation_at(chk, 0);
    assert_ptr_equal(rv->context, cv->context);
    assert_int_equal(rv->ncontext, cv->ncontext);
    assert_int_equal(rv->t_us, cv->t_us);
    assert_string_equal(rv->text, cv->text);

    sim_report r = sample_report();
    r.checks = v.checks;
    r.nchecks = v.nchecks;
    r.violations = v.violations;
    r.nviolations = v.nviolations;
    json_t *j = sim_report_to_json(&r);
    assert_non_null(j);
    check_report_shape(j);
    json_t *ctx = json_object_get(json_array_get(json_object_get(j, "violations"), 0), "context");
    assert_int_equal(json_array_size(ctx), cv->ncontext);
    for (size_t i = 0; i < cv->ncontext; i++) /* the checker's "t=..." lines are dated */
        assert_true(json_is_integer(json_object_get(json_array_get(ctx, i), "t_us")));
    json_decref(j);
    char buf[64];
    assert_string_equal(sim_report_failing_checks(&r, buf, sizeof buf), "no_loss");
    sim_report_checker_view_release(&v);
    assert_null(v.violations);
    sim_checker_free(chk);
}

/* ---- repro.json ------------------------------------------------------------ */

static void test_repro_loads_back(void **state)
{
    fixture *f = *state;
    sim_scenario *sc = NULL;
    sim_scenario_error serr;
    assert_int_equal(sim_scenario_load_file("tests/scenarios/valid/full.json", &sc, &serr), 0);
    json_t *concrete = sim_scenario_to_json(sc);
    assert_non_null(concrete);
    /* What the runner does for a concrete scenario: fix the seed. */
    assert_int_equal(json_object_set_new(concrete, "seed", json_integer(987654321)), 0);
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/repro.json", f->dir);
    assert_int_equal(sim_report_write_repro(concrete, path, err, sizeof err), 0);

    sim_scenario *back = NULL;
    assert_int_equal(sim_scenario_load_file(path, &back, &serr), 0);
    assert_int_equal(back->seed, 987654321);
    assert_int_equal(back->nfaults, sc->nfaults);
    json_t *again = sim_scenario_to_json(back);
    assert_non_null(again);
    json_object_del(again, "source");
    json_object_del(concrete, "source");
    assert_true(json_equal(again, concrete));
    json_decref(again);
    json_decref(concrete);
    sim_scenario_free(back);
    sim_scenario_free(sc);

    assert_int_equal(sim_report_write_repro(NULL, path, err, sizeof err), FL_E_INVAL);
}

/* ---- timeline ------------------------------------------------------------ */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *render(const sim_timeline *tl, const sim_report *r)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(sim_timeline_write_html(tl, r, f), 0);
    char *s = slurp(f);
    fclose(f);
    return s;
}

static void test_timeline_page(void **state)
{
    (void)state;
    sim_report r = sample_report();
    sim_timeline *tl = sample_timeline();
    /* A node no lane list names still gets a lane. */
    sim_timeline_add_event(tl, 500, "observer", "sim", "node_create", "");
    char *html = render(tl, &r);
    assert_int_equal(count(html, "<g class=\"lane\""), 5);
    assert_non_null(strstr(html, "data-name=\"pub-1\" data-kind=\"client\""));
    assert_non_null(strstr(html, "data-name=\"a\" data-kind=\"broker\""));
    assert_non_null(strstr(html, "data-name=\"observer\" data-kind=\"node\""));
    assert_true(strstr(html, "data-name=\"sub-1\"") < strstr(html, "data-name=\"a\""));
    assert_int_equal(count(html, "<rect class=\"fault\""), 3); /* the unfired one is not drawn */
    assert_int_equal(count(html, "<g class=\"violation\""), 2);
    assert_non_null(strstr(html, "id=\"violation-1\""));
    assert_non_null(strstr(html, "class=\"state st-down\""));
    assert_non_null(strstr(html, "class=\"state st-waiting\""));
    assert_non_null(strstr(html, "class=\"state st-logged_on\""));
    assert_non_null(strstr(html, "class=\"rate rate-publish\" data-total=\"100\""));
    assert_non_null(strstr(html, "class=\"rate rate-delivery\" data-total=\"100\""));
    assert_non_null(strstr(html, "class=\"rate rate-persisted_ack\" data-total=\"10\""));
    /* Self-contained and escaped. */
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "https:"));
    assert_int_equal(count(html, "http:"), 1); /* the SVG namespace only */
    assert_null(strstr(html, "failover <\"sample\">"));
    assert_non_null(strstr(html, "failover &lt;&quot;sample&quot;&gt;"));
    assert_int_equal(count(html, "</script>"), 2); /* the data one and the code one */
    assert_non_null(strstr(html, "\\u003c/script\\u003e"));
    free(html);

    /* No timeline data and nothing fired: still a page with the listed lanes. */
    sim_report p = {0};
    p.scenario = "empty";
    p.passed = true;
    p.clients = CLIENTS;
    p.nclients = 2;
    html = render(NULL, &p);
    assert_int_equal(count(html, "<g class=\"lane\""), 2);
    assert_int_equal(count(html, "class=\"violation\""), 0);
    assert_non_null(strstr(html, "None."));
    free(html);
    sim_timeline_free(tl);
}

/* Buckets widen as the run gets longer, keeping every count. */
static void test_timeline_buckets(void **state)
{
    (void)state;
    sim_timeline *tl = sim_timeline_new();
    assert_non_null(tl);
    uint64_t t = 0;
    for (int i = 0; i < 5000; i++) {
        sim_timeline_add_event(tl, t, "c", "client", "publish", "");
        t += (uint64_t)i * 997; /* ever larger steps: many widenings */
    }
    sim_report r = {0};
    r.scenario = "long";
    r.passed = true;
    r.figures.virtual_us = t;
    char *html = render(tl, &r);
    assert_non_null(strstr(html, "class=\"rate rate-publish\" data-total=\"5000\""));
    free(html);
    sim_timeline_free(tl);
}

typedef struct line_case {
    const char *line;
    int rc;
} line_case;

static void test_timeline_lines(void **state)
{
    (void)state;
    static const line_case cases[] = {
        {"{\"t\":0,\"node\":\"b\",\"src\":\"sim\",\"ev\":\"node_create\"}", 0},
        {"{\"t\":10,\"node\":\"c\",\"src\":\"client\",\"ev\":\"state\",\"state\":\"logged_on\"}\n",
         0},
        {"{\"t\":20,\"node\":\"c\",\"src\":\"client\",\"ev\":\"publish\",\"seq\":1}", 0},
        {"{\"t\":30,\"node\":\"c\",\"src\":\"net\",\"ev\":\"tx\",\"conn\":1,\"len\":3}", 0},
        {"{\"t\":40,\"node\":\"b\",\"src\":\"broker\",\"ev\":\"publish\",\"client\":\"c\","
         "\"seq\":1,\"outcome\":\"logged\",\"recno\":0}",
         0},
        {"{\"t\":41,\"node\":\"b\",\"src\":\"broker\",\"ev\":\"publish\",\"client\":\"c\","
         "\"seq\":1,\"outcome\":\"duplicate\"}",
         0},
        {"{\"t\":42,\"node\":\"b\",\"src\":\"broker\",\"ev\":\"deliver\",\"client\":\"s\"}", 0},
        {"{\"t\":-1,\"node\":\"c\",\"src\":\"client\",\"ev\":\"publish\"}", FL_E_CORRUPT},
        {"{\"node\":\"c\",\"src\":\"client\",\"ev\":\"publish\"}", FL_E_CORRUPT},
        {"{\"t\":1,\"node\":7,\"src\":\"client\",\"ev\":\"publish\"}", FL_E_CORRUPT},
        {"[1,2,3]", FL_E_CORRUPT},
        {"{\"t\":1,", FL_E_CORRUPT},
        {"", FL_E_CORRUPT},
    };
    sim_timeline *tl = sim_timeline_new();
    assert_non_null(tl);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(sim_timeline_add_line(tl, cases[i].line, strlen(cases[i].line)),
                         cases[i].rc);
    sim_report r = {0};
    r.scenario = "lines";
    r.passed = true;
    char *html = render(tl, &r);
    assert_int_equal(count(html, "<g class=\"lane\""), 2);
    assert_non_null(strstr(html, "data-name=\"c\" data-kind=\"client\""));
    assert_non_null(strstr(html, "class=\"state st-logged_on\""));
    assert_non_null(strstr(html, "class=\"state st-up\""));
    assert_non_null(strstr(html, "data-name=\"b\" data-kind=\"broker\""));
    /* one logged publish on b (the duplicate is not counted), one on c */
    assert_int_equal(count(html, "class=\"rate rate-publish\" data-total=\"1\""), 2);
    assert_int_equal(count(html, "class=\"rate rate-delivery\" data-total=\"1\""), 1);
    free(html);
    sim_timeline_free(tl);
}

/* The observer form sees the same events through a real recorder. */
static void test_timeline_observer(void **state)
{
    (void)state;
    sim_history *h = sim_history_new(0);
    sim_timeline *tl = sim_timeline_new();
    assert_non_null(h);
    assert_non_null(tl);
    assert_int_equal(sim_history_observe(h, sim_timeline_observe, tl), 0);
    sim_history_add(h, 0, "p", "sim", "node_create", NULL);
    sim_history_add(h, 5, "p", "client", "state", "\"state\":\"gave_up\"");
    sim_report r = {0};
    r.scenario = "obs";
    r.passed = true;
    char *html = render(tl, &r);
    assert_non_null(strstr(html, "class=\"state st-gave_up\""));
    free(html);
    sim_timeline_free(tl);
    sim_history_free(h);
}

/* ---- report directory ------------------------------------------------------ */

static bool exists(const char *dir, const char *name)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_report_dir(void **state)
{
    fixture *f = *state;
    char dir[128], path[160], err[256] = "";
    snprintf(dir, sizeof dir, "%s/run", f->dir);
    sim_report r = sample_report();
    sim_timeline *tl = sample_timeline();
    json_t *concrete = json_pack("{s:s}", "name", "x");
    assert_int_equal(sim_report_write_dir(&r, tl, concrete, dir, err, sizeof err), 0);
    assert_true(exists(dir, "report.json"));
    assert_true(exists(dir, "timeline.html"));
    assert_true(exists(dir, "repro.json"));
    snprintf(path, sizeof path, "%s/report.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    check_report_shape(j);
    json_t *files = json_object_get(j, "files");
    assert_string_equal(json_string_value(json_object_get(files, "repro")), "repro.json");
    assert_string_equal(json_string_value(json_object_get(files, "timeline")), "timeline.html");
    assert_string_equal(json_string_value(json_object_get(files, "history")), "history.jsonl");
    json_decref(j);
    assert_null(r.repro_file); /* the caller's view is untouched */

    /* A pass writes no repro.json and removes the failing run's. */
    r.passed = true;
    assert_int_equal(sim_report_write_dir(&r, NULL, concrete, dir, err, sizeof err), 0);
    assert_false(exists(dir, "repro.json"));
    assert_int_equal(sim_report_write_dir(&r, NULL, concrete, dir, err, sizeof err), 0);
    assert_false(exists(dir, "repro.json"));
    snprintf(path, sizeof path, "%s/report.json", dir);
    j = json_load_file(path, 0, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(j, "files"), "timeline")));
    json_decref(j);

    /* A directory that cannot be made. */
    assert_int_equal(sim_report_write_dir(&r, NULL, NULL, "/proc/no/such", err, sizeof err),
                     FL_E_IO);
    assert_non_null(strstr(err, "/proc/no"));
    json_decref(concrete);
    sim_timeline_free(tl);
}

static int write_sample(const char *path)
{
    sim_report r = sample_report();
    sim_timeline *tl = sample_timeline();
    FILE *f = tl ? fopen(path, "w") : NULL;
    int rc = f ? sim_timeline_write_html(tl, &r, f) : FL_E_IO;
    if (f && fclose(f) != 0)
        rc = FL_E_IO;
    sim_timeline_free(tl);
    if (rc)
        fprintf(stderr, "test_report: cannot write %s\n", path);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--timeline-sample") == 0)
        return write_sample(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_json_shape, setup, teardown),
        cmocka_unit_test(test_failing_checks),
        cmocka_unit_test(test_failure_line),
        cmocka_unit_test(test_junit),
        cmocka_unit_test(test_report_json_read_back),
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_context_times),
        cmocka_unit_test(test_context_history_line),
        cmocka_unit_test(test_checker_view),
        cmocka_unit_test_setup_teardown(test_repro_loads_back, setup, teardown),
        cmocka_unit_test(test_timeline_page),
        cmocka_unit_test(test_timeline_buckets),
        cmocka_unit_test(test_timeline_lines),
        cmocka_unit_test(test_timeline_observer),
        cmocka_unit_test_setup_teardown(test_report_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
