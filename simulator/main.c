/* The `faultline` command line.
 *
 *   faultline run SCENARIO|DIR... [--seed N] [--report-dir DIR] [--junit FILE]
 *                 [--quiet|--verbose] [--jobs J] [--history] [--repeat-check]
 *   faultline history [--scenario S] [--failures] [--limit N] [--db PATH]
 *   faultline --help | faultline run --help
 *
 * `run` loads every scenario first (a scenario that does not load is bad
 * input: exit 2 before anything runs), then runs each one (in J child
 * processes with --jobs: runs are independent), writes its report
 * directory (report.json, timeline.html, repro.json for a failure,
 * history.jsonl with --history), records it in the run database, prints one
 * line per scenario and a summary. Exit status: 0 every run passed, 1 some
 * failed, 2 bad input (usage, a scenario that does not load or cannot run).
 *
 * Every run, in-process or in a child, ends as one JSON record (its
 * report.json object plus a few console fields); the parent prints and
 * gathers those records, so both paths report the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "faultline/error.h"
#include "report.h"
#include "rundb.h"
#include "runner.h"
#include "scenario.h"
#include "serve.h"
#include "util.h"

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_BAD  2

#define VERBOSE_VIOLATIONS 5 /* printed with --verbose; all are in report.json */

typedef struct cli {
    bool has_seed;
    uint64_t seed;
    const char *report_dir;
    const char *junit;
    bool quiet, verbose, history, repeat_check;
    long jobs;
    char **files;
    size_t nfiles, files_cap;
    bool tty;
} cli;

static const char *usage_main = "usage: faultline <command> [options]\n"
                                "\n"
                                "commands:\n"
                                "  run SCENARIO|DIR...   run scenarios, check them, write reports\n"
                                "  history               list past runs from the run database\n"
                                "  serve                 serve the simulated broker over real TCP\n"
                                "  admin                 inject a fault into a running serve\n"
                                "\n"
                                "faultline COMMAND --help says more.\n";

static const char *usage_run =
    "usage: faultline run SCENARIO|DIR... [options]\n"
    "\n"
    "Runs each scenario file (a directory means every *.json in it) in the\n"
    "deterministic simulator, checks it and writes its reports.\n"
    "\n"
    "options:\n"
    "  --seed N           use seed N instead of each scenario's seed\n"
    "  --report-dir DIR   where run reports go (default reports/runs)\n"
    "  --junit FILE       also write the JUnit XML of this invocation to FILE\n"
    "  --quiet            print only failures and the summary\n"
    "  --verbose          also print violations with their context\n"
    "  --jobs J           run up to J scenarios at once in child processes\n"
    "  --history          write each run's history.jsonl into its report dir\n"
    "  --repeat-check     run each scenario twice; fail if the histories differ\n"
    "  --help             this text\n"
    "\n"
    "exit status: 0 every run passed, 1 some run failed, 2 bad input.\n";

/* ------------------------------------------------------------------ */
/* arguments                                                            */

static int add_file(cli *c, const char *path)
{
    if (c->nfiles == c->files_cap) {
        size_t cap = c->files_cap ? 2 * c->files_cap : 16;
        char **v = realloc(c->files, cap * sizeof *v);
        if (!v)
            return FL_E_NOMEM;
        c->files = v;
        c->files_cap = cap;
    }
    c->files[c->nfiles] = strdup(path);
    if (!c->files[c->nfiles])
        return FL_E_NOMEM;
    c->nfiles++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True for the scenario library's JSON Schema (a "$schema" document without
 * brokers): it sits beside the scenarios and is not one. */
static bool is_schema_file(const char *path)
{
    json_t *j = json_load_file(path, 0, NULL);
    bool schema = json_is_object(j) && json_object_get(j, "$schema") != NULL &&
                  json_object_get(j, "brokers") == NULL;
    json_decref(j);
    return schema;
}

/* Every *.json directly in `dir`, in name order. */
static int add_dir(cli *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "faultline: %s: %s\n", dir, strerror(errno));
        return FL_E_NOENT;
    }
    size_t first = c->nfiles;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 || e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!is_schema_file(path))
            rc = add_file(c, path);
    }
    closedir(d);
    qsort(c->files + first, c->nfiles - first, sizeof *c->files, cmp_str);
    return rc;
}

static int add_path(cli *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return add_dir(c, path);
    if (stat(path, &st) == 0 && is_schema_file(path)) {
        if (!c->quiet)
            fprintf(stderr, "faultline run: skipping %s: a JSON Schema, not a scenario\n", path);
        return 0;
    }
    return add_file(c, path);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* The value of option `name` at argv[*i] ("--x V" or "--x=V"), or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *matched)
{
    size_t n = strlen(name);
    *matched = false;
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=') {
        *matched = true;
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] != 0)
        return NULL;
    *matched = true;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* 0 ok, 1 help printed, EXIT_BAD on a usage error. */
static int parse_run_args(cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool m = false;
        const char *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_run, stdout);
            return 1;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            c->quiet = true;
            continue;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            c->verbose = true;
            continue;
        }
        if (strcmp(a, "--history") == 0) {
            c->history = true;
            continue;
        }
        if (strcmp(a, "--repeat-check") == 0) {
            c->repeat_check = true;
            continue;
        }
        v = opt_value(argc, argv, &i, "--seed", &m);
        if (m) {
            if (!parse_u64(v, &c->seed)) {
                fprintf(stderr, "faultline run: --seed needs a non-negative integer\n");
                return EXIT_BAD;
            }
            c->has_seed = true;
            continue;
        }
        v = opt_value(argc, argv, &i, "--report-dir", &m);
        if (m) {
            if (!v || !*v) {
                fprintf(stderr, "faultline run: --report-dir needs a directory\n");
                return EXIT_BAD;
            }
            c->report_dir = v;
            continue;
        }
        v = opt_value(argc, argv, &i, "--junit", &m);
        if (m) {
            if (!v || !*v) {
                fprintf(stderr, "faultline run: --junit needs a file name\n");
                return EXIT_BAD;
            }
            c->junit = v;
            continue;
        }
        v = opt_value(argc, argv, &i, "--jobs", &m);
        if (m) {
            uint64_t j = 0;
            if (!parse_u64(v, &j) || j < 1 || j > 1024) {
                fprintf(stderr, "faultline run: --jobs needs a number from 1 to 1024\n");
                return EXIT_BAD;
            }
            c->jobs = (long)j;
            continue;
        }
        if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "faultline run: unknown option '%s' (see faultline run --help)\n", a);
            return EXIT_BAD;
        }
        if (add_path(c, a) != 0)
            return EXIT_BAD;
    }
    if (c->quiet && c->verbose) {
        fprintf(stderr, "faultline run: --quiet and --verbose exclude each other\n");
        return EXIT_BAD;
    }
    if (c->nfiles == 0) {
        fprintf(stderr, "faultline run: no scenario given (see faultline run --help)\n");
        return EXIT_BAD;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* files and directories                                                */

/* A file-name-safe copy of a scenario name. */
static void safe_name(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 1 < cap; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        out[j++] = ok ? ch : '_';
    }
    out[j] = 0;
}

static const char *revision(void)
{
    const char *r = getenv("FAULTLINE_REVISION");
#ifdef FAULTLINE_REVISION
    if (!r || !*r)
        r = FAULTLINE_REVISION;
#endif
    return r && *r ? r : "unknown";
}

/* ------------------------------------------------------------------ */
/* one run -> sim_report                                                */

/* Storage behind a sim_report filled from a sim_run. */
typedef struct report_view {
    sim_report rep;
    sim_report_checker_view checks; /* checks and violations */
    sim_report_fault *faults;
    sim_report_error *errors;
    const char **clients;
    const char **brokers;
} report_view;

static void copy_figures(const sim_run_figures *f, sim_report_figures *o)
{
    *o = (sim_report_figures){
        .published = f->published,
        .accepted = f->accepted,
        .refused = f->refused,
        .persisted_acks = f->persisted_acks,
        .delivered = f->delivered,
        .discarded = f->discarded,
        .duplicates = f->duplicates,
        .gaps = f->gaps,
        .errors = f->errors,
        .faults_fired = f->faults_fired,
        .faults_healed = f->faults_healed,
        .reconnects = f->reconnects,
        .client_restarts = f->client_restarts,
        .broker_restarts = f->broker_restarts,
        .journal_messages = f->journal_messages,
        .max_outage_us = f->max_outage_us,
        .last_heal_us = f->last_heal_us,
        .converged = f->converged,
        .converged_us = f->converged_us,
        .recovery_us = f->recovery_us,
        .virtual_us = f->virtual_us,
        .wall_us = f->wall_us,
        .events_run = f->events_run,
        .history_events = f->history_events,
        .history_hash = f->history_hash,
        .delivered_distinct = f->delivered_distinct,
        .redelivered = f->redelivered,
        .faults_not_fired = f->faults_not_fired,
    };
}

static int view_fill(report_view *v, const sim_run *r, const char *file)
{
    const sim_scenario *sc = sim_run_get_scenario(r);
    const sim_checker *chk = sim_run_checker(r);
    memset(v, 0, sizeof *v);
    size_t nf = sim_run_fault_count(r), ne = sim_run_error_count(r);
    v->faults = calloc(nf + 1, sizeof *v->faults);
    v->errors = calloc(ne + 1, sizeof *v->errors);
    v->clients = calloc(sc->nclients + 1, sizeof *v->clients);
    v->brokers = calloc(sc->nbrokers + 1, sizeof *v->brokers);
    if (!v->faults || !v->errors || !v->clients || !v->brokers ||
        sim_report_view_checker(chk, &v->checks) != 0)
        return FL_E_NOMEM;
    sim_report *rep = &v->rep;
    rep->scenario = sc->name;
    rep->file = file;
    rep->description = sc->description;
    rep->seed = sim_run_seed(r);
    rep->revision = revision();
    rep->passed = sim_run_passed(r);
    rep->failure = sim_run_failure_text(r);
    rep->checks = v->checks.checks;
    rep->nchecks = v->checks.nchecks;
    rep->violations = v->checks.violations;
    rep->nviolations = v->checks.nviolations;
    for (size_t i = 0; i < nf; i++) {
        const sim_run_fault *f = sim_run_fault_at(r, i);
        const sim_fault *sf = &sc->faults[f->index];
        const char *target = sf->target_sort == SIM_TARGET_CLIENT   ? sc->clients[sf->target].name
                             : sf->target_sort == SIM_TARGET_BROKER ? sc->brokers[sf->target].name
                                                                    : "";
        v->faults[i] = (sim_report_fault){
            .index = f->index,
            .kind = sim_scenario_enum_name(SIM_ENUM_FAULT_KIND, (int)sf->kind),
            .target = target,
            .fired = f->fired,
            .by_trigger = f->by_trigger,
            .skipped = f->skipped,
            .fired_us = f->fired_us,
            .healed = f->healed,
            .healed_us = f->healed_us,
            .optional = sf->optional,
        };
    }
    rep->faults = v->faults;
    rep->nfaults = nf;
    for (size_t i = 0; i < ne; i++) {
        const sim_run_error *e = sim_run_error_at(r, i);
        v->errors[i] =
            (sim_report_error){sc->clients[e->client].name, fl_err_name(e->code), e->t_us};
    }
    rep->errors = v->errors;
    rep->nerrors = ne;
    copy_figures(sim_run_get_figures(r), &rep->figures);
    for (size_t i = 0; i < sc->nclients; i++)
        v->clients[i] = sc->clients[i].name;
    for (size_t i = 0; i < sc->nbrokers; i++)
        v->brokers[i] = sc->brokers[i].name;
    rep->clients = v->clients;
    rep->nclients = sc->nclients;
    rep->brokers = v->brokers;
    rep->nbrokers = sc->nbrokers;
    return 0;
}

static void view_free(report_view *v)
{
    sim_report_checker_view_release(&v->checks);
    free(v->faults);
    free(v->errors);
    free(v->clients);
    free(v->brokers);
}

/* ------------------------------------------------------------------ */
/* running one scenario into a record                                   */

static json_t *error_record(const char *file, const sim_scenario *sc, const char *text)
{
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s}", "result", "error", "scenario", "name",
                     sc ? sc->name : "", "file", file, "description", sc ? sc->description : "",
                     "failure", text, "run_error", text);
}

static void record_in_db(const sim_report *rep, const char *dir, json_t *figs)
{
    char failing[512];
    sim_report_failing_checks(rep, failing, sizeof failing);
    char *fj = figs ? json_dumps(figs, JSON_COMPACT) : NULL;
    sim_rundb_run row = {rep->scenario,
                         rep->file,
                         rep->seed,
                         rep->revision,
                         rep->passed,
                         failing,
                         fj,
                         rep->figures.history_hash,
                         dir};
    const char *path = sim_rundb_path(getenv("FAULTLINE_DB"));
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        sim_mkdir_p(parent, NULL, 0);
    }
    char err[512];
    if (sim_rundb_record(path, &row, (int64_t)time(NULL), err, sizeof err) != 0)
        fprintf(stderr, "faultline: run database %s: %s\n", path, err);
    free(fj);
}

/* What the console shows beyond report.json: a note per fault that never
 * fired or had no effect. */
static void add_fault_notes(json_t *rec, const sim_report *rep)
{
    json_t *notes = json_array();
    for (size_t i = 0; notes && i < rep->nfaults; i++) {
        const sim_report_fault *f = &rep->faults[i];
        if (f->fired && !f->skipped)
            continue;
        const char *target = f->target ? f->target : "";
        char line[256];
        if (!f->fired)
            snprintf(line, sizeof line, "fault #%zu (%s%s%s) never fired%s", f->index, f->kind,
                     *target ? " " : "", target, f->optional ? " (optional)" : "");
        else
            snprintf(line, sizeof line, "fault #%zu (%s%s%s) fired at %.3fs but had no effect",
                     f->index, f->kind, *target ? " " : "", target, (double)f->fired_us / 1e6);
        json_array_append_new(notes, json_string(line));
    }
    json_object_set_new(rec, "fault_notes", notes ? notes : json_array());
}

static json_t *run_one(const cli *c, const char *file, const sim_scenario *sc)
{
    char name[256], dir[2048], hpath[2100], err[4096] = "";
    uint64_t seed = c->has_seed ? c->seed : sc->seed;
    safe_name(sc->name, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s-s%" PRIu64, c->report_dir, name, seed);
    if (sim_mkdir_p(dir, NULL, 0) != 0) {
        snprintf(err, sizeof err, "cannot create report directory %s", dir);
        return error_record(file, sc, err);
    }
    FILE *hist = NULL;
    if (c->history) {
        snprintf(hpath, sizeof hpath, "%s/history.jsonl", dir);
        hist = fopen(hpath, "w");
    }
    sim_timeline *tl = sim_timeline_new();
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.has_seed = c->has_seed;
    o.seed = c->seed;
    o.history_sink = hist;
    o.observe = tl ? sim_timeline_observe : NULL;
    o.observe_arg = tl;
    sim_run *r = NULL;
    int rc = sim_run_scenario(sc, &o, &r, err, sizeof err);
    if (hist)
        fclose(hist);
    if (rc != 0) {
        sim_timeline_free(tl);
        return error_record(file, sc, err[0] ? err : fl_strerror(rc));
    }
    char nondet[256] = "";
    if (c->repeat_check) {
        sim_run_options o2 = SIM_RUN_OPTIONS_INIT;
        o2.has_seed = c->has_seed;
        o2.seed = c->seed;
        sim_run *r2 = NULL;
        if (sim_run_scenario(sc, &o2, &r2, err, sizeof err) == 0) {
            uint64_t h1 = sim_run_get_figures(r)->history_hash;
            uint64_t h2 = sim_run_get_figures(r2)->history_hash;
            if (h1 != h2)
                snprintf(nondet, sizeof nondet,
                         "nondeterministic: history hash %016" PRIx64 " then %016" PRIx64, h1, h2);
        }
        sim_run_free(r2);
    }
    report_view v;
    json_t *rec = NULL;
    if (view_fill(&v, r, file) == 0) {
        if (nondet[0]) {
            v.rep.passed = false;
            v.rep.failure = nondet;
        }
        if (c->history)
            v.rep.history_file = "history.jsonl";
        json_t *concrete = v.rep.passed ? NULL : sim_run_concrete_scenario(r);
        if (sim_report_write_dir(&v.rep, tl, concrete, dir, err, sizeof err) != 0)
            fprintf(stderr, "faultline: %s: %s\n", dir, err);
        json_decref(concrete);
        rec = sim_report_to_json(&v.rep);
        if (rec) {
            add_fault_notes(rec, &v.rep);
            record_in_db(&v.rep, dir, json_object_get(rec, "figures"));
            json_object_set_new(rec, "report_dir", json_string(dir));
            const char *fc = nondet[0] ? "repeat_check" : sim_run_failing_check(r);
            json_object_set_new(rec, "failing", json_string(fc ? fc : ""));
        }
    }
    view_free(&v);
    sim_timeline_free(tl);
    sim_run_free(r);
    return rec ? rec : error_record(file, sc, "out of memory");
}

/* ------------------------------------------------------------------ */
/* records -> console and junit                                         */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static uint64_t jfig(const json_t *rec, const char *key)
{
    json_t *v = json_object_get(json_object_get(rec, "figures"), key);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static const char *rec_result(const json_t *rec)
{
    return rec ? jstr(rec, "result") : "error";
}

static void print_record(const cli *c, const json_t *rec, const char *file)
{
    const char *res = rec_result(rec);
    bool pass = strcmp(res, "pass") == 0;
    const char *name = jstr(json_object_get(rec, "scenario"), "name");
    if (c->tty && !c->quiet)
        fputs("\r\033[K", stderr);
    if (strcmp(res, "error") == 0) {
        printf("ERROR %s (%s): %s\n", *name ? name : file, file, jstr(rec, "run_error"));
        return;
    }
    if (pass && c->quiet)
        return;
    json_t *seed = json_object_get(rec, "seed");
    char seedtxt[32];
    if (json_is_integer(seed))
        snprintf(seedtxt, sizeof seedtxt, "%" PRIu64, (uint64_t)json_integer_value(seed));
    else
        snprintf(seedtxt, sizeof seedtxt, "%s",
                 json_string_value(seed) ? json_string_value(seed) : "?");
    printf("%s %s (seed %s): published %" PRIu64 ", accepted %" PRIu64 ", journal %" PRIu64
           ", delivered %" PRIu64 ", redelivered %" PRIu64 ", faults %" PRIu64
           ", reconnects %" PRIu64 ", recovery %.3fs, virtual %.3fs, wall %.3fs",
           pass ? "PASS" : "FAIL", name, seedtxt, jfig(rec, "published"), jfig(rec, "accepted"),
           jfig(rec, "journal_messages"), jfig(rec, "delivered_distinct"), jfig(rec, "redelivered"),
           jfig(rec, "faults_fired"), jfig(rec, "reconnects"),
           (double)jfig(rec, "recovery_us") / 1e6, (double)jfig(rec, "virtual_us") / 1e6,
           (double)jfig(rec, "wall_us") / 1e6);
    if (!pass) {
        char line[1024];
        printf(
            "\n      %s\n      report: %s",
            sim_report_failure_line(jstr(rec, "failing"), jstr(rec, "failure"), line, sizeof line),
            jstr(rec, "report_dir"));
    }
    printf("\n");
    size_t ni;
    json_t *note;
    json_array_foreach(json_object_get(rec, "fault_notes"), ni, note)
        printf("      note: %s\n", json_string_value(note) ? json_string_value(note) : "?");
    if (!c->verbose)
        return;
    size_t i;
    json_t *v;
    json_t *all = json_object_get(rec, "violations");
    json_array_foreach(all, i, v)
    {
        if (i == VERBOSE_VIOLATIONS) {
            printf("      ... %zu more violations in %s/report.json\n", json_array_size(all) - i,
                   jstr(rec, "report_dir"));
            break;
        }
        printf("      violation %s %s: %s\n", jstr(v, "checker"), jstr(v, "message"),
               jstr(v, "text"));
        size_t k;
        json_t *ctx;
        json_array_foreach(json_object_get(v, "context"), k, ctx)
        {
            if (json_is_object(ctx) && json_is_string(json_object_get(ctx, "text"))) {
                printf("        %s\n", json_string_value(json_object_get(ctx, "text")));
                continue;
            }
            char *line = json_is_string(ctx) ? strdup(json_string_value(ctx))
                                             : json_dumps(ctx, JSON_COMPACT);
            printf("        %s\n", line ? line : "?");
            free(line);
        }
    }
}

static int write_junit(const char *path, json_t *const *recs, char *const *files, size_t n,
                       double wall_s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return FL_E_IO;
    sim_report_json_view *views = calloc(n + 1, sizeof *views);
    const sim_report **reps = calloc(n + 1, sizeof *reps);
    int rc = views && reps ? 0 : FL_E_NOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sim_report *rep = &views[i].rep;
        rc = sim_report_view_json(recs[i], &views[i]);
        if (rc == FL_E_INVAL) { /* no record at all: the run could not be performed */
            rep->run_error = "run failed";
            rc = 0;
        }
        if (!rep->scenario || !*rep->scenario)
            rep->scenario = files[i];
        if (!rep->file || !*rep->file)
            rep->file = files[i];
        reps[i] = rep;
    }
    if (rc == 0)
        rc = sim_report_write_junit(f, "faultline", reps, n, wall_s);
    for (size_t i = 0; views && i < n; i++)
        sim_report_json_view_release(&views[i]);
    free(views);
    free(reps);
    if (fclose(f) != 0 && rc == 0)
        rc = FL_E_IO;
    return rc;
}

/* ------------------------------------------------------------------ */
/* running everything                                                   */

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const cli *c, size_t done, size_t total, const char *name)
{
    if (!c->tty || c->quiet)
        return;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s", done, total, name);
    fflush(stderr);
}

typedef struct child {
    pid_t pid;
    int fd;
    size_t idx;
    char *buf;
    size_t len, cap;
} child;

static int child_read(child *ch)
{
    if (ch->len + 4096 > ch->cap) {
        size_t cap = ch->cap ? 2 * ch->cap : 65536;
        char *b = realloc(ch->buf, cap);
        if (!b)
            return -1;
        ch->buf = b;
        ch->cap = cap;
    }
    ssize_t n = read(ch->fd, ch->buf + ch->len, ch->cap - ch->len - 1);
    if (n < 0 && errno == EINTR)
        return 1;
    if (n <= 0)
        return 0;
    ch->len += (size_t)n;
    return 1;
}

static int spawn(const cli *c, sim_scenario *const *scs, size_t idx, child *ch)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        json_t *rec = run_one(c, c->files[idx], scs[idx]);
        char *txt = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        size_t len = txt ? strlen(txt) : 0, off = 0;
        while (off < len) {
            ssize_t n = write(fds[1], txt + off, len - off);
            if (n <= 0 && errno != EINTR)
                break;
            if (n > 0)
                off += (size_t)n;
        }
        _exit(0);
    }
    close(fds[1]);
    *ch = (child){pid, fds[0], idx, NULL, 0, 0};
    return 0;
}

static json_t *child_finish(child *ch, const char *file)
{
    close(ch->fd);
    int status = 0;
    waitpid(ch->pid, &status, 0);
    json_t *rec = NULL;
    if (ch->buf) {
        ch->buf[ch->len] = 0;
        rec = json_loads(ch->buf, 0, NULL);
    }
    free(ch->buf);
    if (!rec)
        rec = error_record(file, NULL, "the run's process died without a result");
    return rec;
}

static void run_parallel(const cli *c, sim_scenario *const *scs, json_t **recs)
{
    size_t n = c->nfiles, next = 0, done = 0, nrun = 0;
    child *kids = calloc((size_t)c->jobs, sizeof *kids);
    struct pollfd *pfd = calloc((size_t)c->jobs, sizeof *pfd);
    if (!kids || !pfd) {
        free(kids);
        free(pfd);
        for (size_t i = 0; i < n; i++)
            recs[i] = run_one(c, c->files[i], scs[i]);
        return;
    }
    while (done < n) {
        while (nrun < (size_t)c->jobs && next < n) {
            if (spawn(c, scs, next, &kids[nrun]) != 0) {
                recs[next] = run_one(c, c->files[next], scs[next]);
                print_record(c, recs[next], c->files[next]);
                done++;
            } else {
                nrun++;
            }
            next++;
        }
        if (nrun == 0)
            continue;
        for (size_t k = 0; k < nrun; k++)
            pfd[k] = (struct pollfd){kids[k].fd, POLLIN, 0};
        if (poll(pfd, nrun, -1) < 0 && errno != EINTR)
            break;
        for (size_t k = 0; k < nrun;) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) || child_read(&kids[k]) > 0) {
                k++;
                continue;
            }
            size_t idx = kids[k].idx;
            recs[idx] = child_finish(&kids[k], c->files[idx]);
            print_record(c, recs[idx], c->files[idx]);
            done++;
            progress(c, done, n, jstr(json_object_get(recs[idx], "scenario"), "name"));
            kids[k] = kids[nrun - 1];
            pfd[k] = pfd[nrun - 1];
            nrun--;
        }
    }
    free(kids);
    free(pfd);
}

static int load_all(const cli *c, sim_scenario **scs)
{
    int bad = 0;
    for (size_t i = 0; i < c->nfiles; i++) {
        sim_scenario_error e;
        int rc = sim_scenario_load_file(c->files[i], &scs[i], &e);
        if (rc == FL_E_SCENARIO) {
            fprintf(stderr, "faultline: %s\n", e.message);
            bad = 1;
        } else if (rc != 0) {
            fprintf(stderr, "faultline: %s: %s\n", c->files[i], fl_strerror(rc));
            bad = 1;
        }
    }
    return bad;
}

static int cmd_run(int argc, char **argv)
{
    cli c = {.report_dir = "reports/runs", .jobs = 1};
    int rc = parse_run_args(&c, argc, argv);
    int status = rc == 1 ? EXIT_PASS : rc;
    sim_scenario **scs = NULL;
    json_t **recs = NULL;
    if (rc != 0)
        goto out;
    c.tty = isatty(STDERR_FILENO) != 0;
    scs = calloc(c.nfiles, sizeof *scs);
    recs = calloc(c.nfiles, sizeof *recs);
    status = EXIT_BAD;
    if (!scs || !recs || load_all(&c, scs) != 0)
        goto out;
    if (sim_mkdir_p(c.report_dir, NULL, 0) != 0) {
        fprintf(stderr, "faultline run: cannot create %s\n", c.report_dir);
        goto out;
    }
    double t0 = wall_s();
    if (c.jobs > 1 && c.nfiles > 1) {
        run_parallel(&c, scs, recs);
    } else {
        for (size_t i = 0; i < c.nfiles; i++) {
            progress(&c, i, c.nfiles, scs[i]->name);
            recs[i] = run_one(&c, c.files[i], scs[i]);
            print_record(&c, recs[i], c.files[i]);
        }
    }
    double wall = wall_s() - t0;
    size_t pass = 0, fail = 0, err = 0;
    for (size_t i = 0; i < c.nfiles; i++) {
        const char *res = rec_result(recs[i]);
        if (strcmp(res, "pass") == 0)
            pass++;
        else if (strcmp(res, "fail") == 0)
            fail++;
        else
            err++;
    }
    char jpath[4200];
    snprintf(jpath, sizeof jpath, "%s/junit.xml", c.report_dir);
    if (write_junit(jpath, recs, c.files, c.nfiles, wall) != 0)
        fprintf(stderr, "faultline run: cannot write %s\n", jpath);
    if (c.junit && write_junit(c.junit, recs, c.files, c.nfiles, wall) != 0)
        fprintf(stderr, "faultline run: cannot write %s\n", c.junit);
    if (c.tty && !c.quiet)
        fputs("\r\033[K", stderr);
    printf("%zu scenario%s: %zu passed, %zu failed", c.nfiles, c.nfiles == 1 ? "" : "s", pass,
           fail);
    if (err)
        printf(", %zu could not run", err);
    printf(" in %.2fs; reports in %s\n", wall, c.report_dir);
    status = err ? EXIT_BAD : fail ? EXIT_FAIL : EXIT_PASS;
out:
    for (size_t i = 0; scs && i < c.nfiles; i++)
        sim_scenario_free(scs[i]);
    for (size_t i = 0; recs && i < c.nfiles; i++)
        json_decref(recs[i]);
    free(scs);
    free(recs);
    for (size_t i = 0; i < c.nfiles; i++)
        free(c.files[i]);
    free(c.files);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_BAD;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return EXIT_PASS;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "history") == 0)
        return sim_rundb_history_main(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(cmd, "serve") == 0)
        return sim_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "admin") == 0)
        return sim_admin_main(argc - 1, argv + 1);
    fprintf(stderr, "faultline: unknown command '%s'\n\n%s", cmd, usage_main);
    return EXIT_BAD;
}
