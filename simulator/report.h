/* Run reports: report.json, junit.xml, repro.json and timeline.html.
 *
 * The writers read a plain-data view of one finished run, sim_report, that
 * borrows every string and array. Keeping the writers on this view (rather
 * than on sim_run) lets them be tested without running a simulation and
 * keeps them independent of how the runner stores its results; the runner
 * (or the CLI) fills one sim_report per run. The timeline also needs what
 * happened over virtual time; a sim_timeline collects that from the history
 * events (as a sim_history observer, or from history.jsonl lines).
 *
 * report.json (format "faultline-report", version 1). Every key is always
 * present; times are virtual microseconds since virtual zero unless named
 * otherwise:
 *
 *   format       string  "faultline-report"
 *   version      integer 1 (bumped when a key changes meaning or goes away;
 *                        new keys may appear without a bump)
 *   scenario     object  {name: string, file: string, description: string}
 *   seed         integer the run's seed (a decimal string above 2^63-1)
 *   revision     string  `git describe` of the faultline build, or "unknown"
 *   result       string  "pass" | "fail"
 *   failure      string  one line saying why the run failed ("" for a pass)
 *   checks       object  check name (no_loss ... unpersisted_zero, and the
 *                        pseudo-checks errors, delivered) -> verdict, the
 *                        checker's own name for it (sim_chk_verdict_name):
 *                        "skipped" (not asked for), "pass",
 *                        "not_applicable" (asked for, nothing to check),
 *                        "fail", "expected_violation_fired",
 *                        "expected_violation_missing" (in check order; the
 *                        same strings in junit.xml's check properties)
 *   violations   array of {checker: string, client: string, sub_id:
 *                        string, topic: string ("" when none), message:
 *                        string (the message's identity as a bookmark
 *                        "publisher|sequence|timestamp", "" when none),
 *                        text: string, t_us: integer (when it shows),
 *                        context: array of events that show it, oldest
 *                        first, each {t_us: integer|null (virtual time),
 *                        text: string (the line as the checker wrote it),
 *                        event: object|null}. A context line is either a
 *                        canonical history line (history.h): event is
 *                        that line parsed, {t, node, src, ev, ...fields},
 *                        and t_us its t; or a checker text line
 *                        ("t=2.010200s pub-1 crash", what the built-in
 *                        checker writes): event is null and t_us is read
 *                        from its "t=" prefix; any other line has both
 *                        null}
 *   faults       array of {index: integer (into the scenario's faults),
 *                        kind: string, target: string ("" for none),
 *                        status: string ("fired"; "never_fired": its time
 *                        or trigger never came; "skipped": it fired but
 *                        had no effect, e.g. its target was down),
 *                        optional: bool (the scenario fault's `optional`:
 *                        never firing does not fail the run),
 *                        fired: bool, by_trigger: bool, skipped: bool,
 *                        fired_us: integer|null, healed: bool,
 *                        healed_us: integer|null}
 *   errors       array of {client: string, error: string (FL_E_ name,
 *                        e.g. "BOOKMARK_EXPIRED"), t_us: integer}: errors
 *                        the applications were told about, in order
 *   figures      object  published, accepted, refused, persisted_acks,
 *                        delivered, discarded, duplicates, gaps, errors,
 *                        faults_fired, faults_healed, reconnects,
 *                        client_restarts, broker_restarts, journal_messages,
 *                        max_outage_us, last_heal_us, converged_us,
 *                        recovery_us, virtual_us, wall_us, events_run,
 *                        history_events, delivered_distinct (distinct
 *                        messages delivered, summed over subscriptions),
 *                        redelivered (deliveries of a message the
 *                        subscription had already delivered),
 *                        faults_not_fired (optional ones included)
 *                        (integers); converged (bool); history_hash
 *                        (string, 16 lower-case hex digits: FNV-1a 64 of
 *                        history.jsonl)
 *   files        object  {history, timeline, repro}: names of the sibling
 *                        files in the report directory, null when absent
 *
 * junit.xml: one <testsuite> per CLI invocation, one <testcase
 * classname="faultline.scenarios" name="<scenario>"> per run, properties
 * seed, history_hash (figures.history_hash; not for a run that could not be
 * performed) and the verdict of every checker as <property
 * name="check.<checker>" value="<verdict>">, a failed run as <failure
 * type="checker" message="<failure>"> holding one line per violation
 * ("[checker] t=<t_us>us message: text"), a run that could not be
 * performed as <error>. The CLI writes it from the runs' report.json
 * records (sim_report_view_json).
 *
 * repro.json: the concrete scenario of a failed run (the runner's
 * sim_run_concrete_scenario: seed fixed, triggered faults turned into timed
 * ones), so `faultline run repro.json` reproduces the same failure.
 */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "checker.h"
#include "history.h"

#define SIM_REPORT_FORMAT  "faultline-report"
#define SIM_REPORT_VERSION 1

/* One checker's verdict. */
typedef struct sim_report_check {
    const char *name;    /* "no_loss" */
    const char *verdict; /* sim_chk_verdict_name(): "skipped", "pass", "not_applicable",
                            "fail", "expected_violation_fired", "expected_violation_missing" */
} sim_report_check;

/* One violation a checker found. */
typedef struct sim_report_violation {
    const char *checker;        /* "no_loss" */
    const char *client;         /* client concerned, "" or NULL if none */
    const char *sub_id;         /* subscription concerned, "" or NULL if none */
    const char *topic;          /* "" or NULL if unknown */
    const char *message;        /* identity of the message concerned ("publisher|sequence|timestamp"
                                   as a bookmark), "" or NULL if none */
    const char *text;           /* what is wrong */
    uint64_t t_us;              /* virtual time where it shows (timeline marker) */
    const char *const *context; /* lines that show it: checker context lines
                                   ("t=1.000100s ...", report.json event null)
                                   or canonical history lines (event parsed) */
    size_t ncontext;
} sim_report_violation;

/* One fault of the concrete timeline. */
typedef struct sim_report_fault {
    size_t index;       /* into the scenario's faults[] */
    const char *kind;   /* "disconnect", ... */
    const char *target; /* client or broker name; "" or NULL for none */
    bool fired, by_trigger, skipped;
    uint64_t fired_us;
    bool healed; /* false and fired: active until the end */
    uint64_t healed_us;
    bool optional; /* the scenario fault's `optional` */
} sim_report_fault;

/* A fault's report.json "status": "never_fired" (not fired), "skipped"
 * (fired without effect) or "fired". */
const char *sim_report_fault_status(const sim_report_fault *f);

/* An error an application was told about. */
typedef struct sim_report_error {
    const char *client;
    const char *error; /* fl_err_name() */
    uint64_t t_us;
} sim_report_error;

/* Figures of a run; the meaning of each is that of sim_run_figures
 * (runner.h). */
typedef struct sim_report_figures {
    uint64_t published, accepted, refused, persisted_acks, delivered, discarded, duplicates, gaps,
        errors;
    uint64_t faults_fired, faults_healed, reconnects, client_restarts, broker_restarts;
    uint64_t journal_messages, max_outage_us, last_heal_us;
    bool converged;
    uint64_t converged_us, recovery_us, virtual_us, wall_us, events_run, history_events;
    uint64_t history_hash;
    uint64_t delivered_distinct, redelivered, faults_not_fired;
} sim_report_figures;

/* The plain-data view of one run. Everything is borrowed. */
typedef struct sim_report {
    const char *scenario;    /* scenario name */
    const char *file;        /* scenario file as given */
    const char *description; /* NULL: "" */
    uint64_t seed;
    const char *revision; /* NULL: "unknown" */
    bool passed;
    const char *failure; /* one line, NULL/"" for a pass */
    /* Non-NULL: the run could not be performed (bad scenario, setup
     * failure); only junit.xml reports such a run (as <error>). */
    const char *run_error;
    const sim_report_check *checks;
    size_t nchecks;
    const sim_report_violation *violations;
    size_t nviolations;
    const sim_report_fault *faults;
    size_t nfaults;
    const sim_report_error *errors;
    size_t nerrors;
    sim_report_figures figures;
    /* Lanes for the timeline, in display order (NULL/0: lanes appear in
     * the order their nodes first show up in the history). */
    const char *const *clients;
    size_t nclients;
    const char *const *brokers;
    size_t nbrokers;
    /* Sibling files for report.json "files" (NULL: absent). */
    const char *history_file;
    const char *timeline_file;
    const char *repro_file;
} sim_report;

/* The checks and violations of a finished checker, as report views. The
 * view owns what it allocated; it borrows from the checker, so keep the
 * checker alive while the view is used. */
typedef struct sim_report_checker_view {
    sim_report_check checks[SIM_CHK_COUNT]; /* every check, in check order */
    size_t nchecks;
    sim_report_violation *violations; /* in detection order */
    size_t nviolations;
    char **messages; /* storage of the violations' message identities */
} sim_report_checker_view;

/* Fill *v from `chk` (after sim_checker_finish); verdict strings are
 * sim_chk_verdict_name()'s. Then set rep.checks = v->checks, rep.nchecks =
 * v->nchecks, rep.violations = v->violations, rep.nviolations =
 * v->nviolations. 0 or FL_E_NOMEM (*v is then empty). */
int sim_report_view_checker(const sim_checker *chk, sim_report_checker_view *v);

/* Free what sim_report_view_checker allocated; the view becomes empty. */
void sim_report_checker_view_release(sim_report_checker_view *v);

/* A sim_report read back from a report.json object (sim_report_to_json's
 * output, or a `faultline run` record, which is one with a few more keys;
 * a record whose "result" is "error" gives run_error from its "run_error").
 * Every string is borrowed from the JSON: keep it alive while the view is
 * used. Missing or mistyped keys read as empty, 0 or false; lanes (clients,
 * brokers) are not in report.json and stay empty. */
typedef struct sim_report_json_view {
    sim_report rep;
    sim_report_check *checks;
    sim_report_violation *violations;
    const char **contexts; /* every violation's context lines, in one array */
    sim_report_fault *faults;
    sim_report_error *errors;
} sim_report_json_view;

/* Fill *v from report.json object `j`. 0, FL_E_INVAL (j is not an object),
 * FL_E_NOMEM (*v is then empty). */
int sim_report_view_json(const json_t *j, sim_report_json_view *v);

/* Free what sim_report_view_json allocated; the view becomes empty. */
void sim_report_json_view_release(sim_report_json_view *v);

/* report.json as a new JSON object (NULL on out of memory). */ /* report.json as a new JSON object
                                                                   (NULL on out of memory). */
json_t *sim_report_to_json(const sim_report *rep);

/* The "figures" object alone (new reference; NULL on out of memory): what
 * the run database stores. */
json_t *sim_report_figures_to_json(const sim_report_figures *fig);

/* Failing checkers of a run, comma-separated, into buf (verdicts "fail" and
 * "expected_violation_missing"; "expect" when the run failed without a
 * failing checker; "" for a pass). Returns buf. */
const char *sim_report_failing_checks(const sim_report *rep, char *buf, size_t cap);

/* The console's failure line: the run's failure text led by its failing
 * check's name once. A text that already starts with the name ("no_loss: 3
 * violation(s)" for no_loss) is kept as it is; any other is prefixed
 * ("faults: fault #2 (crash_client pub-1) never fired"). NULL or "" check:
 * the text alone. Truncated to cap; returns buf. */
const char *sim_report_failure_line(const char *check, const char *failure, char *buf, size_t cap);

/* Write report.json to `path`. 0, FL_E_IO (detail in err), FL_E_NOMEM. */
int sim_report_write_json(const sim_report *rep, const char *path, char *err, size_t errcap);

/* Write junit.xml for one CLI invocation: one testsuite named `suite`
 * (NULL: "faultline") with one testcase per report, in the given order;
 * `wall_s` is the invocation's wall time for the testsuite's time
 * attribute. 0 or FL_E_IO (a write to f failed). */
int sim_report_write_junit(FILE *f, const char *suite, const sim_report *const *reps, size_t n,
                           double wall_s);

/* Write the concrete scenario `concrete` (from sim_run_concrete_scenario)
 * as repro.json at `path`. 0, FL_E_INVAL (NULL concrete), FL_E_IO. */
int sim_report_write_repro(const json_t *concrete, const char *path, char *err, size_t errcap);

/* Write `text` with XML/HTML escaping (& < > " ' and characters XML 1.0
 * forbids, which become U+FFFD). 0 or FL_E_IO. */
int sim_report_xml_escape(FILE *f, const char *text);

/* ---- timeline ------------------------------------------------------------ */

typedef struct sim_timeline sim_timeline;

/* New, empty collector. NULL on out of memory. */
sim_timeline *sim_timeline_new(void);

/* Free; NULL is a no-op. */
void sim_timeline_free(sim_timeline *tl);

/* Feed one history event. Events the timeline does not draw are ignored.
 * What it draws (node = lane):
 *   sim node_create / crash / power_loss / restart        lane up / down
 *   client state {"state"}                                 connection state
 *   client connect, reconnect_attempt / reconnect_wait     connecting / waiting
 *   client publish / persisted_ack / deliver               rate buckets
 *   broker start                                           lane up
 *   broker publish {"outcome":"logged"} / persisted_ack / deliver  rate buckets
 * Out of memory only loses detail (counted in the page's footer). */
void sim_timeline_add_event(sim_timeline *tl, uint64_t t_us, const char *node, const char *src,
                            const char *ev, const char *fields_json);

/* sim_history observer: sim_history_observe(h, sim_timeline_observe, tl). */
void sim_timeline_observe(void *tl, const sim_history_event *ev);

/* Feed one canonical history line (as in history.jsonl, with or without
 * '\n'). FL_E_CORRUPT if it is not a history line (the line is skipped). */
int sim_timeline_add_line(sim_timeline *tl, const char *line, size_t len);

/* Write timeline.html: one self-contained page (inline CSS, JS and SVG; no
 * network) with a swimlane per client and broker (class "lane",
 * data-name), connection states over virtual time, fault intervals (class
 * "fault"), publish / persisted-ack / delivery rates, and violation
 * markers (class "violation", id "violation-<i>") that reveal their
 * context events when clicked (or when the page is opened with
 * #violation-<i>). 0 or FL_E_IO. */
int sim_timeline_write_html(const sim_timeline *tl, const sim_report *rep, FILE *f);

/* ---- a run's report directory ------------------------------------------- */

/* Write the report directory `dir` (created, with parents, if missing):
 * report.json, timeline.html (if tl is not NULL) and, for a failed run
 * with `concrete` not NULL, repro.json. Otherwise a repro.json already in
 * `dir` (an earlier failing run of the same scenario and seed) is removed,
 * so a repro.json in the directory always belongs to its report.json.
 * rep's file links are set to what is written (history_file is kept as
 * given). 0, FL_E_IO, FL_E_NOMEM. */
int sim_report_write_dir(const sim_report *rep, const sim_timeline *tl, const json_t *concrete,
                         const char *dir, char *err, size_t errcap);

#endif
