/* Run reports (report.h): report.json, junit.xml, repro.json and a run's
 * report directory. The timeline page is in timeline.c. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/error.h"
#include "util.h"

/* ---- JSON helpers ---------------------------------------------------------- */

/* A JSON string; bytes that are not valid UTF-8 become '?' rather than
 * losing the whole text. */
static json_t *jstr(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* An unsigned integer: a JSON integer when it fits, else a decimal string. */
static json_t *ju64(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

/* Set o[key] = v (stolen); remember any failure in *bad. */
static void put(json_t *o, const char *key, json_t *v, bool *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = true;
}

static void push(json_t *a, json_t *v, bool *bad)
{
    if (!v || json_array_append_new(a, v) != 0)
        *bad = true;
}

/* The figures, in report.json order: one table for the writer and the
 * reader, so the two cannot disagree on a name. */
typedef enum fig_type { FIG_U64, FIG_BOOL, FIG_HASH } fig_type;
typedef struct fig_field {
    const char *name;
    size_t off;
    fig_type type;
} fig_field;
#define FIG(n)                                                                                     \
    {                                                                                              \
#n, offsetof(sim_report_figures, n), FIG_U64                                               \
    }
#define FIGB(n)                                                                                    \
    {                                                                                              \
#n, offsetof(sim_report_figures, n), FIG_BOOL                                              \
    }
#define FIGH(n)                                                                                    \
    {                                                                                              \
#n, offsetof(sim_report_figures, n), FIG_HASH                                              \
    }
static const fig_field FIGURES[] = {
    FIG(published),        FIG(accepted),
    FIG(refused),          FIG(persisted_acks),
    FIG(delivered),        FIG(discarded),
    FIG(duplicates),       FIG(gaps),
    FIG(errors),           FIG(faults_fired),
    FIG(faults_healed),    FIG(reconnects),
    FIG(client_restarts),  FIG(broker_restarts),
    FIG(journal_messages), FIG(max_outage_us),
    FIG(last_heal_us),     FIGB(converged),
    FIG(converged_us),     FIG(recovery_us),
    FIG(virtual_us),       FIG(wall_us),
    FIG(events_run),       FIG(history_events),
    FIGH(history_hash),    FIG(delivered_distinct),
    FIG(redelivered),      FIG(faults_not_fired),
};
#undef FIG
#undef FIGB
#undef FIGH

json_t *sim_report_figures_to_json(const sim_report_figures *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool bad = false;
    const char *base = (const char *)f;
    for (size_t i = 0; i < sizeof FIGURES / sizeof FIGURES[0]; i++) {
        const fig_field *ff = &FIGURES[i];
        if (ff->type == FIG_BOOL) {
            put(o, ff->name, json_boolean(*(const bool *)(base + ff->off)), &bad);
            continue;
        }
        uint64_t v;
        memcpy(&v, base + ff->off, sizeof v);
        if (ff->type == FIG_U64) {
            put(o, ff->name, ju64(v), &bad);
            continue;
        }
        char hash[17];
        snprintf(hash, sizeof hash, "%016" PRIx64, v);
        put(o, ff->name, json_string(hash), &bad);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "t=S.FFFFFFs ..." (a checker context line) -> virtual microseconds. */
static bool checker_line_time(const char *line, uint64_t *t_us)
{
    if (strncmp(line, "t=", 2) != 0)
        return false;
    const char *p = line + 2;
    uint64_t sec = 0, frac = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (sec > (UINT64_MAX / 1000000u - 9) / 10)
            return false;
        sec = sec * 10 + (uint64_t)(*p - '0');
    }
    if (*p++ != '.')
        return false;
    for (int i = 0; i < 6; i++, p++) {
        if (*p < '0' || *p > '9')
            return false;
        frac = frac * 10 + (uint64_t)(*p - '0');
    }
    if (*p != 's')
        return false;
    *t_us = sec * 1000000u + frac;
    return true;
}

/* `line` parsed when it is a canonical history line (history.h: an object
 * with t >= 0 and string node, src, ev), else NULL. */
static json_t *history_event(const char *line)
{
    if (line[0] != '{')
        return NULL;
    json_t *ev = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
    json_t *t = json_object_get(ev, "t");
    if (json_is_integer(t) && json_integer_value(t) >= 0 &&
        json_is_string(json_object_get(ev, "node")) && json_is_string(json_object_get(ev, "src")) &&
        json_is_string(json_object_get(ev, "ev")))
        return ev;
    json_decref(ev);
    return NULL;
}

/* A context entry {t_us, text, event}: see report.h. A canonical history
 * line gives both; a checker text line ("t=S.FFFFFFs ...") gives t_us and a
 * null event; anything else neither. */
static json_t *context_event(const char *line)
{
    if (!line)
        line = "";
    json_t *ev = history_event(line);
    json_t *t = NULL;
    uint64_t t_us = 0;
    if (ev)
        t = json_integer(json_integer_value(json_object_get(ev, "t")));
    else if (checker_line_time(line, &t_us))
        t = ju64(t_us);
    json_t *o = json_object();
    bool bad = !o;
    if (o) {
        put(o, "t_us", t ? t : json_null(), &bad);
        put(o, "text", jstr(line), &bad);
        put(o, "event", ev ? ev : json_null(), &bad);
    } else {
        json_decref(t);
        json_decref(ev);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *violation_json(const sim_report_violation *v)
{
    json_t *o = json_object(), *ctx = json_array();
    bool bad = !o || !ctx;
    for (size_t i = 0; !bad && i < v->ncontext; i++)
        push(ctx, context_event(v->context[i]), &bad);
    if (bad) {
        json_decref(o);
        json_decref(ctx);
        return NULL;
    }
    put(o, "checker", jstr(v->checker), &bad);
    put(o, "client", jstr(v->client), &bad);
    put(o, "sub_id", jstr(v->sub_id), &bad);
    put(o, "topic", jstr(v->topic), &bad);
    put(o, "message", jstr(v->message), &bad);
    put(o, "text", jstr(v->text), &bad);
    put(o, "t_us", ju64(v->t_us), &bad);
    put(o, "context", ctx, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

const char *sim_report_fault_status(const sim_report_fault *f)
{
    return !f->fired ? "never_fired" : f->skipped ? "skipped" : "fired";
}

static json_t *fault_json(const sim_report_fault *f)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool bad = false;
    put(o, "index", ju64(f->index), &bad);
    put(o, "kind", jstr(f->kind), &bad);
    put(o, "target", jstr(f->target), &bad);
    put(o, "status", json_string(sim_report_fault_status(f)), &bad);
    put(o, "optional", json_boolean(f->optional), &bad);
    put(o, "fired", json_boolean(f->fired), &bad);
    put(o, "by_trigger", json_boolean(f->by_trigger), &bad);
    put(o, "skipped", json_boolean(f->skipped), &bad);
    put(o, "fired_us", f->fired ? ju64(f->fired_us) : json_null(), &bad);
    put(o, "healed", json_boolean(f->healed), &bad);
    put(o, "healed_us", f->healed ? ju64(f->healed_us) : json_null(), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *error_json(const sim_report_error *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool bad = false;
    put(o, "client", jstr(e->client), &bad);
    put(o, "error", jstr(e->error), &bad);
    put(o, "t_us", ju64(e->t_us), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *file_ref(const char *name)
{
    return name ? jstr(name) : json_null();
}

static json_t *list_json(const sim_report *rep, int which)
{
    json_t *a = json_array();
    bool bad = !a;
    size_t n = which == 0 ? rep->nviolations : which == 1 ? rep->nfaults : rep->nerrors;
    for (size_t i = 0; !bad && i < n; i++) {
        json_t *v = which == 0   ? violation_json(&rep->violations[i])
                    : which == 1 ? fault_json(&rep->faults[i])
                                 : error_json(&rep->errors[i]);
        push(a, v, &bad);
    }
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *sim_report_to_json(const sim_report *rep)
{
    json_t *o = json_object(), *sc = json_object(), *checks = json_object(), *files = json_object();
    bool bad = !o || !sc || !checks || !files;
    if (bad) {
        json_decref(o);
        json_decref(sc);
        json_decref(checks);
        json_decref(files);
        return NULL;
    }
    put(o, "format", json_string(SIM_REPORT_FORMAT), &bad);
    put(o, "version", json_integer(SIM_REPORT_VERSION), &bad);
    put(sc, "name", jstr(rep->scenario), &bad);
    put(sc, "file", jstr(rep->file), &bad);
    put(sc, "description", jstr(rep->description), &bad);
    put(o, "scenario", sc, &bad);
    put(o, "seed", ju64(rep->seed), &bad);
    put(o, "revision", jstr(rep->revision ? rep->revision : "unknown"), &bad);
    put(o, "result", json_string(rep->passed ? "pass" : "fail"), &bad);
    put(o, "failure", jstr(rep->passed ? "" : rep->failure), &bad);
    for (size_t i = 0; i < rep->nchecks; i++)
        put(checks, rep->checks[i].name ? rep->checks[i].name : "?", jstr(rep->checks[i].verdict),
            &bad);
    put(o, "checks", checks, &bad);
    put(o, "violations", list_json(rep, 0), &bad);
    put(o, "faults", list_json(rep, 1), &bad);
    put(o, "errors", list_json(rep, 2), &bad);
    put(o, "figures", sim_report_figures_to_json(&rep->figures), &bad);
    put(files, "history", file_ref(rep->history_file), &bad);
    put(files, "timeline", file_ref(rep->timeline_file), &bad);
    put(files, "repro", file_ref(rep->repro_file), &bad);
    put(o, "files", files, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- from report.json ------------------------------------------------------- */

/* A string member, "" when absent or not a string (borrowed from o). */
static const char *get_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A string member or NULL (file links). */
static const char *get_str_or_null(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* An unsigned integer as ju64 writes it (an integer, or a decimal string
 * above 2^63-1); 0 when absent or malformed. */
static uint64_t get_u64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
    const char *s = json_string_value(v);
    if (!s || *s < '0' || *s > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long u = strtoull(s, &end, 10);
    return errno || *end ? 0 : (uint64_t)u;
}

/* 16 hex digits -> value; 0 when malformed. */
static uint64_t get_hash(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) != 16)
        return 0;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

static void figures_from_json(const json_t *o, sim_report_figures *f)
{
    char *base = (char *)f;
    for (size_t i = 0; i < sizeof FIGURES / sizeof FIGURES[0]; i++) {
        const fig_field *ff = &FIGURES[i];
        if (ff->type == FIG_BOOL) {
            *(bool *)(base + ff->off) = json_is_true(json_object_get(o, ff->name));
            continue;
        }
        uint64_t v = ff->type == FIG_U64 ? get_u64(o, ff->name) : get_hash(o, ff->name);
        memcpy(base + ff->off, &v, sizeof v);
    }
}

void sim_report_json_view_release(sim_report_json_view *v)
{
    free(v->checks);
    free(v->violations);
    free(v->contexts);
    free(v->faults);
    free(v->errors);
    memset(v, 0, sizeof *v);
}

/* Checks in the object's order (report.json writes them in check order). */
static int checks_from_json(const json_t *checks, sim_report_json_view *v)
{
    v->checks = calloc(json_object_size(checks) + 1, sizeof *v->checks);
    if (!v->checks)
        return FL_E_NOMEM;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)checks, key, val)
    {
        v->checks[v->rep.nchecks].name = key;
        v->checks[v->rep.nchecks++].verdict = json_string_value(val) ? json_string_value(val) : "";
    }
    v->rep.checks = v->checks;
    return 0;
}

static int violations_from_json(const json_t *arr, sim_report_json_view *v)
{
    size_t n = json_array_size(arr), nctx = 0, i;
    json_t *x;
    json_array_foreach(arr, i, x) nctx += json_array_size(json_object_get(x, "context"));
    v->violations = calloc(n + 1, sizeof *v->violations);
    v->contexts = calloc(nctx + 1, sizeof *v->contexts);
    if (!v->violations || !v->contexts)
        return FL_E_NOMEM;
    size_t used = 0;
    json_array_foreach(arr, i, x)
    {
        sim_report_violation *rv = &v->violations[i];
        *rv = (sim_report_violation){.checker = get_str(x, "checker"),
                                     .client = get_str(x, "client"),
                                     .sub_id = get_str(x, "sub_id"),
                                     .topic = get_str(x, "topic"),
                                     .message = get_str(x, "message"),
                                     .text = get_str(x, "text"),
                                     .t_us = get_u64(x, "t_us"),
                                     .context = v->contexts + used};
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(x, "context"), k, c)
        {
            /* {t_us, text, event} entries; a bare string is taken as the line */
            const char *line = json_is_string(c) ? json_string_value(c) : get_str(c, "text");
            v->contexts[used++] = line;
            rv->ncontext++;
        }
    }
    v->rep.violations = v->violations;
    v->rep.nviolations = n;
    return 0;
}

static int faults_from_json(const json_t *arr, sim_report_json_view *v)
{
    v->faults = calloc(json_array_size(arr) + 1, sizeof *v->faults);
    if (!v->faults)
        return FL_E_NOMEM;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        v->faults[i] = (sim_report_fault){
            .index = (size_t)get_u64(x, "index"),
            .kind = get_str(x, "kind"),
            .target = get_str(x, "target"),
            .fired = json_is_true(json_object_get(x, "fired")),
            .by_trigger = json_is_true(json_object_get(x, "by_trigger")),
            .skipped = json_is_true(json_object_get(x, "skipped")),
            .fired_us = get_u64(x, "fired_us"),
            .healed = json_is_true(json_object_get(x, "healed")),
            .healed_us = get_u64(x, "healed_us"),
            .optional = json_is_true(json_object_get(x, "optional")),
        };
    }
    v->rep.faults = v->faults;
    v->rep.nfaults = json_array_size(arr);
    return 0;
}

static int errors_from_json(const json_t *arr, sim_report_json_view *v)
{
    v->errors = calloc(json_array_size(arr) + 1, sizeof *v->errors);
    if (!v->errors)
        return FL_E_NOMEM;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        v->errors[i] =
            (sim_report_error){get_str(x, "client"), get_str(x, "error"), get_u64(x, "t_us")};
    }
    v->rep.errors = v->errors;
    v->rep.nerrors = json_array_size(arr);
    return 0;
}

int sim_report_view_json(const json_t *j, sim_report_json_view *v)
{
    memset(v, 0, sizeof *v);
    if (!json_is_object(j))
        return FL_E_INVAL;
    sim_report *rep = &v->rep;
    const json_t *sc = json_object_get(j, "scenario");
    const char *result = get_str(j, "result");
    rep->scenario = get_str(sc, "name");
    rep->file = get_str(sc, "file");
    rep->description = get_str(sc, "description");
    rep->seed = get_u64(j, "seed");
    rep->revision =
        json_is_string(json_object_get(j, "revision")) ? get_str(j, "revision") : "unknown";
    rep->passed = strcmp(result, "pass") == 0;
    rep->failure = get_str(j, "failure");
    if (strcmp(result, "error") == 0)
        rep->run_error = *get_str(j, "run_error") ? get_str(j, "run_error") : "run failed";
    figures_from_json(json_object_get(j, "figures"), &rep->figures);
    const json_t *files = json_object_get(j, "files");
    rep->history_file = get_str_or_null(files, "history");
    rep->timeline_file = get_str_or_null(files, "timeline");
    rep->repro_file = get_str_or_null(files, "repro");
    int rc = checks_from_json(json_object_get(j, "checks"), v);
    if (!rc)
        rc = violations_from_json(json_object_get(j, "violations"), v);
    if (!rc)
        rc = faults_from_json(json_object_get(j, "faults"), v);
    if (!rc)
        rc = errors_from_json(json_object_get(j, "errors"), v);
    if (rc)
        sim_report_json_view_release(v);
    return rc;
}

/* ---- from the checker ------------------------------------------------------ */

void sim_report_checker_view_release(sim_report_checker_view *v)
{
    for (size_t i = 0; v->messages && i < v->nviolations; i++)
        free(v->messages[i]);
    free(v->messages);
    free(v->violations);
    memset(v, 0, sizeof *v);
}

/* The message identity of a violation: its bookmark, else publisher|seq|. */
static char *message_identity(const sim_checker_violation *cv)
{
    char *s = NULL;
    if (!cv->has_message)
        return strdup("");
    if (cv->bookmark && cv->bookmark[0])
        return strdup(cv->bookmark);
    if (asprintf(&s, "%" PRIu64 "|%" PRIu64 "|", cv->publisher, cv->sequence) < 0)
        return NULL;
    return s;
}

int sim_report_view_checker(const sim_checker *chk, sim_report_checker_view *v)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < SIM_CHK_COUNT; i++) {
        sim_checker_verdict vd;
        if (sim_checker_verdict_at(chk, i, &vd) != 0)
            continue;
        v->checks[v->nchecks].name = sim_checker_check_name(i);
        v->checks[v->nchecks].verdict = sim_chk_verdict_name(vd.verdict);
        v->nchecks++;
    }
    size_t n = sim_checker_violation_count(chk);
    if (n == 0)
        return 0;
    v->violations = calloc(n, sizeof *v->violations);
    v->messages = calloc(n, sizeof *v->messages);
    if (!v->violations || !v->messages) {
        sim_report_checker_view_release(v);
        return FL_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const sim_checker_violation *cv = sim_checker_violation_at(chk, i);
        sim_report_violation *rv = &v->violations[i];
        v->nviolations = i + 1;
        v->messages[i] = message_identity(cv);
        if (!v->messages[i]) {
            sim_report_checker_view_release(v);
            return FL_E_NOMEM;
        }
        rv->checker = sim_checker_check_name(cv->check);
        rv->client = cv->client;
        rv->sub_id = cv->sub_id;
        rv->topic = cv->topic;
        rv->message = v->messages[i];
        rv->text = cv->text;
        rv->t_us = cv->t_us;
        rv->context = cv->context;
        rv->ncontext = cv->ncontext;
    }
    return 0;
}

const char *sim_report_failing_checks(const sim_report *rep, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    buf[0] = 0;
    size_t len = 0;
    for (size_t i = 0; i < rep->nchecks; i++) {
        const char *v = rep->checks[i].verdict ? rep->checks[i].verdict : "";
        if (strcmp(v, "fail") != 0 && strcmp(v, "expected_violation_missing") != 0)
            continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
                         rep->checks[i].name ? rep->checks[i].name : "?");
        if (w < 0 || (size_t)w >= cap - len) {
            buf[len] = 0;
            break;
        }
        len += (size_t)w;
    }
    if (!rep->passed && len == 0)
        snprintf(buf, cap, "expect");
    return buf;
}

const char *sim_report_failure_line(const char *check, const char *failure, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    check = check ? check : "";
    failure = failure ? failure : "";
    size_t n = strlen(check);
    bool named = n == 0 || (strncmp(failure, check, n) == 0 &&
                            (failure[n] == ':' || failure[n] == ' ' || failure[n] == 0));
    if (named)
        snprintf(buf, cap, "%s", failure);
    else
        snprintf(buf, cap, "%s: %s", check, failure);
    return buf;
}

int sim_report_write_json(const sim_report *rep, const char *path, char *err, size_t errcap)
{
    json_t *j = sim_report_to_json(rep);
    if (!j) {
        sim_set_err(err, errcap, "%s: out of memory building the report", path);
        return FL_E_NOMEM;
    }
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(j);
    if (rc != 0) {
        sim_set_err(err, errcap, "%s: cannot write: %s", path, strerror(errno));
        return FL_E_IO;
    }
    return 0;
}

int sim_report_write_repro(const json_t *concrete, const char *path, char *err, size_t errcap)
{
    if (!concrete) {
        sim_set_err(err, errcap, "%s: no concrete scenario to write", path);
        return FL_E_INVAL;
    }
    if (json_dump_file(concrete, path, JSON_INDENT(2)) != 0) {
        sim_set_err(err, errcap, "%s: cannot write: %s", path, strerror(errno));
        return FL_E_IO;
    }
    return 0;
}

/* ---- junit.xml ---------------------------------------------------------- */

/* Length of the UTF-8 sequence starting at p (1 for a byte that does not
 * start a valid sequence, reported through *valid = false). */
static size_t utf8_len(const unsigned char *p, bool *valid)
{
    size_t n = *p < 0x80           ? 1
               : (*p >> 5) == 0x6  ? 2
               : (*p >> 4) == 0xE  ? 3
               : (*p >> 3) == 0x1E ? 4
                                   : 0;
    *valid = n != 0;
    for (size_t i = 1; *valid && i < n; i++)
        *valid = (p[i] & 0xC0) == 0x80;
    return *valid ? n : 1;
}

int sim_report_xml_escape(FILE *f, const char *text)
{
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p) {
        bool valid = true;
        size_t n = utf8_len(p, &valid);
        const char *rep = NULL;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (!valid || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r'))
                rep = "\xEF\xBF\xBD"; /* U+FFFD */
        }
        if (rep ? fputs(rep, f) < 0 : fwrite(p, 1, n, f) != n)
            return FL_E_IO;
        p += n;
    }
    return 0;
}

static void xml_attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s=\"", name);
    sim_report_xml_escape(f, value);
    fputc('"', f);
}

static void junit_properties(FILE *f, const sim_report *r)
{
    char buf[32];
    fputs("      <properties>\n", f);
    snprintf(buf, sizeof buf, "%" PRIu64, r->seed);
    fputs("        <property", f);
    xml_attr(f, "name", "seed");
    xml_attr(f, "value", buf);
    fputs("/>\n", f);
    if (!r->run_error) {
        snprintf(buf, sizeof buf, "%016" PRIx64, r->figures.history_hash);
        fputs("        <property", f);
        xml_attr(f, "name", "history_hash");
        xml_attr(f, "value", buf);
        fputs("/>\n", f);
    }
    for (size_t i = 0; i < r->nchecks; i++) {
        char name[128];
        snprintf(name, sizeof name, "check.%s", r->checks[i].name ? r->checks[i].name : "?");
        fputs("        <property", f);
        xml_attr(f, "name", name);
        xml_attr(f, "value", r->checks[i].verdict);
        fputs("/>\n", f);
    }
    fputs("      </properties>\n", f);
}

static void junit_failure(FILE *f, const sim_report *r)
{
    fputs("      <failure type=\"checker\"", f);
    xml_attr(f, "message", r->failure && r->failure[0] ? r->failure : "failed");
    fputs(">", f);
    for (size_t i = 0; i < r->nviolations; i++) {
        const sim_report_violation *v = &r->violations[i];
        char head[96];
        snprintf(head, sizeof head, "[%s] t=%" PRIu64 "us ", v->checker ? v->checker : "?",
                 v->t_us);
        sim_report_xml_escape(f, head);
        if (v->message && v->message[0]) {
            sim_report_xml_escape(f, v->message);
            fputs(": ", f);
        }
        sim_report_xml_escape(f, v->text);
        fputc('\n', f);
    }
    if (r->nviolations == 0)
        sim_report_xml_escape(f, r->failure);
    fputs("</failure>\n", f);
}

static void junit_testcase(FILE *f, const sim_report *r)
{
    char t[32];
    snprintf(t, sizeof t, "%.6f", (double)r->figures.wall_us / 1e6);
    fputs("    <testcase", f);
    xml_attr(f, "classname", "faultline.scenarios");
    xml_attr(f, "name", r->scenario ? r->scenario : "?");
    xml_attr(f, "file", r->file ? r->file : "");
    xml_attr(f, "time", t);
    fputs(">\n", f);
    junit_properties(f, r);
    if (r->run_error) {
        fputs("      <error type=\"run\"", f);
        xml_attr(f, "message", r->run_error);
        fputs(">", f);
        sim_report_xml_escape(f, r->run_error);
        fputs("</error>\n", f);
    } else if (!r->passed) {
        junit_failure(f, r);
    }
    fputs("    </testcase>\n", f);
}

int sim_report_write_junit(FILE *f, const char *suite, const sim_report *const *reps, size_t n,
                           double wall_s)
{
    size_t failures = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (reps[i]->run_error)
            errors++;
        else if (!reps[i]->passed)
            failures++;
    }
    char counts[160];
    snprintf(counts, sizeof counts, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.6f\"",
             n, failures, errors, wall_s);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", f);
    xml_attr(f, "name", "faultline");
    fprintf(f, "%s>\n  <testsuite", counts);
    xml_attr(f, "name", suite ? suite : "faultline");
    fprintf(f, "%s skipped=\"0\">\n", counts);
    for (size_t i = 0; i < n; i++)
        junit_testcase(f, reps[i]);
    fputs("  </testsuite>\n</testsuites>\n", f);
    return fflush(f) == 0 && !ferror(f) ? 0 : FL_E_IO;
}

/* ---- report directory ------------------------------------------------------- */

static int write_timeline(const sim_timeline *tl, const sim_report *rep, const char *path,
                          char *err, size_t errcap)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        sim_set_err(err, errcap, "%s: cannot write: %s", path, strerror(errno));
        return FL_E_IO;
    }
    int rc = sim_timeline_write_html(tl, rep, f);
    if (fclose(f) != 0 || rc) {
        sim_set_err(err, errcap, "%s: write failed", path);
        return FL_E_IO;
    }
    return 0;
}

int sim_report_write_dir(const sim_report *rep, const sim_timeline *tl, const json_t *concrete,
                         const char *dir, char *err, size_t errcap)
{
    int rc = sim_mkdir_p(dir, err, errcap);
    if (rc)
        return rc;
    sim_report r = *rep;
    r.timeline_file = tl ? "timeline.html" : NULL;
    r.repro_file = !rep->passed && concrete ? "repro.json" : NULL;
    size_t cap = strlen(dir) + 32;
    char *path = malloc(cap);
    if (!path)
        return FL_E_NOMEM;
    snprintf(path, cap, "%s/repro.json", dir);
    if (r.repro_file) {
        rc = sim_report_write_repro(concrete, path, err, errcap);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        /* an earlier failing run's repro.json would pass for this run's */
        sim_set_err(err, errcap, "%s: cannot remove the stale file: %s", path, strerror(errno));
        rc = FL_E_IO;
    }
    if (!rc && tl) {
        snprintf(path, cap, "%s/timeline.html", dir);
        rc = write_timeline(tl, &r, path, err, errcap);
    }
    if (!rc) {
        snprintf(path, cap, "%s/report.json", dir);
        rc = sim_report_write_json(&r, path, err, errcap);
    }
    free(path);
    return rc;
}
