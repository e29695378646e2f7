/* The scenario file loader: JSON text -> a fully defaulted sim_scenario.
 *
 * Design note. jansson decodes the text (rejecting duplicate keys and giving
 * syntax errors with positions); this file then walks the decoded tree with
 * a stack of path steps. Every check that fails formats its message at once
 * -- path, position (found by re-scanning the raw text, see jsonpos.h) and
 * text -- and the error code simply propagates up, so the first error found
 * is the one reported. Checks run in a fixed order: per object, unknown keys
 * first (in file order), then keys in the order of the format's tables.
 * Brokers and clients are walked in name order and faults in file order, so
 * the same input always gives the same error.
 *
 * Names of brokers and clients are collected before anything refers to them,
 * so references (servers, replicate_to, credentials, fault targets and
 * triggers, expect.delivered) are resolved to indices as they are read.
 */
#include "scenario.h"

#include "jsonpos.h"

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "faultline/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH      16
#define MAX_FILE_BYTES (16u * 1024u * 1024u)
#define MAX_NAME_LEN   64

#define TRY(e)                                                                                     \
    do {                                                                                           \
        int rc_ = (e);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* enum tables                                                          */

typedef struct enum_def {
    const char *noun;
    const char *const *names;
    size_t n;
} enum_def;

static const char *const recovery_names[] = {"strict", "tolerate_torn_tail", "point_in_time",
                                             "salvage"};
static const char *const expired_names[] = {"error", "now", "oldest"};
static const char *const repl_names[] = {"sync", "async"};
static const char *const dup_logon_names[] = {"refuse", "replace"};
static const char *const store_names[] = {"none", "memory", "file", "sqlite", "plugin"};
static const char *const sync_names[] = {"always", "batch", "none"};
static const char *const delay_names[] = {"fixed", "exponential"};
static const char *const fallback_names[] = {"fail", "epoch", "now"};
static const char *const kind_names[] = {"disconnect",        "stall",         "partition",
                                         "latency",           "drop_acks",     "crash_client",
                                         "power_loss_client", "crash_broker",  "power_loss_broker",
                                         "failover",          "corrupt_file",  "disk_full",
                                         "io_error",          "advance_clock", "slow_sync"};
static const char *const event_names[] = {"publish",      "persisted_ack", "delivery",
                                          "discard",      "logon",         "reconnect_attempt",
                                          "store_write",  "store_sync",    "journal_write",
                                          "journal_sync", "replication"};
static const char *const ack_names[] = {"persisted", "logon", "completed"};
static const char *const file_names[] = {"publish_store", "bookmark_store", "journal"};
static const char *const mode_names[] = {"bit_flip", "truncate", "tear_last_record", "zero_sector"};
static const char *const op_names[] = {"read", "write", "sync"};
static const char *const check_names[] = {"no_loss",  "ack_honesty",     "no_duplicates",
                                          "order",    "range_exact",     "gaps_reported",
                                          "liveness", "unpersisted_zero"};

#define ENUM(noun, t)                                                                              \
    {                                                                                              \
        noun, t, COUNT(t)                                                                          \
    }
static const enum_def enums[] = {
    [SIM_ENUM_RECOVERY] = ENUM("recovery mode", recovery_names),
    [SIM_ENUM_EXPIRED] = ENUM("expired_bookmark policy", expired_names),
    [SIM_ENUM_REPL_MODE] = ENUM("replication mode", repl_names),
    [SIM_ENUM_DUP_LOGON] = ENUM("duplicate_logon policy", dup_logon_names),
    [SIM_ENUM_STORE_TYPE] = ENUM("store type", store_names),
    [SIM_ENUM_SYNC] = ENUM("sync policy", sync_names),
    [SIM_ENUM_DELAY_TYPE] = ENUM("delay type", delay_names),
    [SIM_ENUM_REPLAY_FALLBACK] = ENUM("replay_fallback", fallback_names),
    [SIM_ENUM_FAULT_KIND] = ENUM("fault kind", kind_names),
    [SIM_ENUM_EVENT] = ENUM("trigger event", event_names),
    [SIM_ENUM_ACK_TYPE] = ENUM("ack type", ack_names),
    [SIM_ENUM_FILE] = ENUM("file", file_names),
    [SIM_ENUM_CORRUPT_MODE] = ENUM("corruption mode", mode_names),
    [SIM_ENUM_IO_OP] = ENUM("I/O operation", op_names),
    [SIM_ENUM_CHECK] = ENUM("check", check_names),
};

const char *sim_scenario_enum_name(sim_enum_id which, int value)
{
    if ((size_t)which >= COUNT(enums) || value < 0 || (size_t)value >= enums[which].n)
        return "?";
    return enums[which].names[value];
}

/* Error names usable in expect.errors: the FL_E_* table, lower-cased. */
typedef struct err_name {
    const char *upper;
    int code;
} err_name;

#define ERR_ENTRY(name, value, msg) {#name, value},
static const err_name err_names[] = {FL_ERRNO_MAP(ERR_ENTRY)};
#undef ERR_ENTRY
#define NERR_NAMES COUNT(err_names)

/* ------------------------------------------------------------------ */
/* key tables                                                           */

static const char *const top_keys[] = {"name",    "description", "seed",   "start", "duration",
                                       "brokers", "clients",     "faults", "expect"};
static const char *const broker_keys[] = {"topics",      "journal",          "ack_interval",
                                          "heartbeat",   "expired_bookmark", "replicate_to",
                                          "credentials", "duplicate_logon",  "down"};
static const char *const topic_keys[] = {"journal"};
static const char *const journal_keys[] = {"segment_size", "segment_age", "retention",
                                           "sync_interval", "recovery"};
static const char *const replica_keys[] = {"broker", "mode", "lag"};
static const char *const client_keys[] = {
    "servers",   "password",           "publish_store", "bookmark_store", "delay",
    "heartbeat", "connection_timeout", "link",          "publish",        "subscribe",
    "flush"};
static const char *const store_keys[] = {"type",     "sync",   "batch_window", "recovery",
                                         "capacity", "plugin", "options"};
static const char *const delay_fixed_keys[] = {"type", "delay", "max_retry"};
static const char *const delay_exp_keys[] = {"type", "initial",   "exponent",
                                             "max",  "max_retry", "jitter"};
static const char *const delay_all_keys[] = {"type", "delay",     "initial", "exponent",
                                             "max",  "max_retry", "jitter"};
static const char *const heartbeat_keys[] = {"interval", "idle_timeout"};
static const char *const link_keys[] = {"latency", "jitter", "bandwidth"};
static const char *const publish_keys[] = {"topic", "count", "rate", "size", "start", "at"};
static const char *const subscribe_keys[] = {"topic", "sub_id",  "bookmark",    "start",
                                             "stop",  "discard", "max_pending", "replay_fallback"};
static const char *const discard_keys[] = {"delay", "never"};
static const char *const flush_keys[] = {"at", "timeout"};
static const char *const trigger_keys[] = {"event", "client", "broker", "count"};
static const char *const expect_keys[] = {"checks", "violations", "errors", "delivered",
                                          "recovery"};
static const char *const expect_error_keys[] = {"name", "client", "after", "before"};

/* Every key a fault may have, and which kinds take which extra keys. */
static const char *const fault_extra_keys[] = {
    "for",  "from", "add",    "jitter", "count", "type", "restart_after", "down_for",
    "file", "mode", "offset", "bytes",  "op",    "nth",  "persistent",    "by"};

typedef struct kind_spec {
    sim_target_sort sort; /* NONE with either_sort = any */
    bool either_sort;     /* client or broker */
    const char *keys[5];  /* extra keys, NULL-terminated */
} kind_spec;

static const kind_spec kind_specs[] = {
    [SIM_FAULT_DISCONNECT] = {SIM_TARGET_CLIENT, false, {NULL}},
    [SIM_FAULT_STALL] = {SIM_TARGET_CLIENT, false, {"for", NULL}},
    [SIM_FAULT_PARTITION] = {SIM_TARGET_CLIENT, false, {"for", "from", NULL}},
    [SIM_FAULT_LATENCY] = {SIM_TARGET_CLIENT, false, {"for", "add", "jitter", NULL}},
    [SIM_FAULT_DROP_ACKS] = {SIM_TARGET_CLIENT, false, {"for", "count", "type", NULL}},
    [SIM_FAULT_CRASH_CLIENT] = {SIM_TARGET_CLIENT, false, {"restart_after", NULL}},
    [SIM_FAULT_POWER_LOSS_CLIENT] = {SIM_TARGET_CLIENT, false, {"restart_after", NULL}},
    [SIM_FAULT_CRASH_BROKER] = {SIM_TARGET_BROKER, false, {"down_for", NULL}},
    [SIM_FAULT_POWER_LOSS_BROKER] = {SIM_TARGET_BROKER, false, {"down_for", NULL}},
    [SIM_FAULT_FAILOVER] = {SIM_TARGET_BROKER, false, {NULL}},
    [SIM_FAULT_CORRUPT_FILE] = {SIM_TARGET_NONE, true, {"file", "mode", "offset", "bytes", NULL}},
    [SIM_FAULT_DISK_FULL] = {SIM_TARGET_NONE, true, {"for", NULL}},
    [SIM_FAULT_IO_ERROR] = {SIM_TARGET_NONE, true, {"op", "nth", "persistent", NULL}},
    [SIM_FAULT_ADVANCE_CLOCK] = {SIM_TARGET_NONE, false, {"by", NULL}},
    [SIM_FAULT_SLOW_SYNC] = {SIM_TARGET_NONE, true, {"for", "add", NULL}},
};

/* ------------------------------------------------------------------ */
/* context, paths and errors                                            */

typedef struct ctx {
    const char *text;
    size_t len;
    sim_scenario_error *err;
    sim_jsonpos_seg path[MAX_DEPTH];
    size_t depth;
    sim_scenario *sc;
    const char **bnames; /* sorted broker names (borrowed from the JSON) */
    const char **cnames; /* sorted client names */
} ctx;

static void push_key(ctx *c, const char *key)
{
    if (c->depth < MAX_DEPTH) {
        c->path[c->depth].key = key;
        c->path[c->depth].index = 0;
    }
    c->depth++;
}

static void push_index(ctx *c, size_t index)
{
    if (c->depth < MAX_DEPTH) {
        c->path[c->depth].key = NULL;
        c->path[c->depth].index = index;
    }
    c->depth++;
}

static void pop(ctx *c)
{
    if (c->depth > 0)
        c->depth--;
}

static void format_message(sim_scenario_error *e)
{
    if (e->line <= 0)
        snprintf(e->message, sizeof e->message, "%s: %s%s%s", e->file, e->path,
                 e->path[0] ? ": " : "", e->text);
    else if (e->path[0] == '\0')
        snprintf(e->message, sizeof e->message, "%s:%d:%d: %s", e->file, e->line, e->column,
                 e->text);
    else
        snprintf(e->message, sizeof e->message, "%s:%d:%d: %s: %s", e->file, e->line, e->column,
                 e->path, e->text);
}

/* Records the error at the current path (at the key of the last step when
 * at_key) and returns FL_E_SCENARIO. */
__attribute__((format(printf, 3, 4))) static int fail(ctx *c, bool at_key, const char *fmt, ...)
{
    sim_scenario_error *e = c->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    size_t depth = c->depth < MAX_DEPTH ? c->depth : MAX_DEPTH;
    sim_jsonpos_format_path(c->path, depth, e->path, sizeof e->path);
    bool want_key = at_key && depth > 0 && c->path[depth - 1].key != NULL;
    sim_jsonpos pos = {0, 0, 0, 0};
    (void)sim_jsonpos_find(c->text, c->len, c->path, depth, want_key, &pos);
    e->line = pos.line;
    e->column = pos.column;
    format_message(e);
    return FL_E_SCENARIO;
}

static int oom(ctx *c)
{
    sim_scenario_error *e = c->err;
    snprintf(e->text, sizeof e->text, "out of memory");
    e->path[0] = '\0';
    e->line = e->column = 0;
    format_message(e);
    return FL_E_NOMEM;
}

static int xcalloc(ctx *c, size_t n, size_t size, void *out)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        return oom(c);
    memcpy(out, &p, sizeof p);
    return 0;
}

static int dup(ctx *c, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? 0 : oom(c);
}

/* A short description of a value for "got ..." (strings quoted, truncated). */
static void describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(buf, n, "an object");
        return;
    case JSON_ARRAY:
        snprintf(buf, n, "an array");
        return;
    case JSON_INTEGER:
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        snprintf(buf, n, "%.17g", json_real_value(v));
        return;
    case JSON_TRUE:
        snprintf(buf, n, "true");
        return;
    case JSON_FALSE:
        snprintf(buf, n, "false");
        return;
    case JSON_NULL:
        snprintf(buf, n, "null");
        return;
    case JSON_STRING:
        break;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    if (s == NULL) {
        snprintf(buf, n, "a string");
        return;
    }
    if (strlen(s) > 80)
        snprintf(buf, n, "%.76s...\"", s);
    else
        snprintf(buf, n, "%s", s);
    free(s);
}

static int type_error(ctx *c, const json_t *v, const char *expected)
{
    char got[128];
    describe(v, got, sizeof got);
    return fail(c, false, "expected %s, got %s", expected, got);
}

/* ------------------------------------------------------------------ */
/* suggestions                                                          */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX_NAME_LEN || lb > MAX_NAME_LEN)
        return SIZE_MAX;
    size_t row[MAX_NAME_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest candidate within edit distance 2 (and closer than the word is
 * long), first in table order on ties; NULL if none. */
static const char *suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < bestd && d < wl) {
            best = cands[i];
            bestd = d;
        }
    }
    return best;
}

static void join(const char *const *names, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", names[i]);
        if (k < 0)
            return;
        at += (size_t)k;
    }
}

/* "(did you mean "x"?)" or "(expected one of: ...)" / "(<label>: ...)". */
static void hint(const char *word, const char *const *cands, size_t n, const char *label, char *buf,
                 size_t len)
{
    const char *s = suggest(word, cands, n);
    if (s != NULL) {
        snprintf(buf, len, "did you mean \"%s\"?", s);
        return;
    }
    char list[400];
    join(cands, n, list, sizeof list);
    snprintf(buf, len, "%s: %s", label, list);
}

static bool in_list(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

static long find_name(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (long)i;
    return -1;
}

/* Unknown keys of obj (in file order) against the allowed table. */
static int check_keys(ctx *c, json_t *obj, const char *const *allowed, size_t n)
{
    const char *key = NULL;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (in_list(key, allowed, n))
            continue;
        char h[512];
        hint(key, allowed, n, "expected one of", h, sizeof h);
        push_key(c, key);
        return fail(c, true, "unknown key \"%s\" (%s)", key, h);
    }
    return 0;
}

static int missing(ctx *c, const char *key)
{
    return fail(c, false, "missing required key \"%s\"", key);
}

/* ------------------------------------------------------------------ */
/* values                                                               */

static int value_object(ctx *c, json_t *v)
{
    return json_is_object(v) ? 0 : type_error(c, v, "an object");
}

static int value_array(ctx *c, json_t *v)
{
    return json_is_array(v) ? 0 : type_error(c, v, "an array");
}

/* True for a well-formed duration whose fraction is finer than the unit
 * allows ("1.5us"): it parses once the fraction digits are removed. */
static bool finer_than_us(const char *s)
{
    const char *dot = strchr(s, '.');
    if (dot == NULL || strlen(s) >= 64)
        return false;
    size_t k = strspn(dot + 1, "0123456789");
    char buf[64];
    memcpy(buf, s, (size_t)(dot - s));
    snprintf(buf + (dot - s), sizeof buf - (size_t)(dot - s), "%s", dot + 1 + k);
    uint64_t v;
    return k > 0 && sim_parse_duration(buf, &v) == 0;
}

static int value_duration(ctx *c, json_t *v, uint64_t *out)
{
    if (!json_is_string(v))
        return type_error(c, v, "a duration like \"250ms\"");
    const char *s = json_string_value(v);
    int rc = sim_parse_duration(s, out);
    if (rc == FL_E_OVERFLOW && s[0] == '-')
        return fail(c, false, "a duration must not be negative, got \"%s\"", s);
    if (rc == FL_E_OVERFLOW)
        return fail(c, false, "duration \"%s\" is too large", s);
    if (rc < 0 && finer_than_us(s))
        return fail(c, false, "duration \"%s\" is finer than a microsecond", s);
    if (rc < 0)
        return type_error(c, v, "a duration like \"250ms\" (units us, ms, s, m, h, d)");
    return 0;
}

/* A duration or the string "none" (*has = false). */
static int value_duration_or_none(ctx *c, json_t *v, bool *has, uint64_t *out)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0) {
        *has = false;
        return 0;
    }
    if (!json_is_string(v))
        return type_error(c, v, "a duration like \"250ms\" or \"none\"");
    TRY(value_duration(c, v, out));
    *has = true;
    return 0;
}

static int value_time(ctx *c, json_t *v, uint64_t *out)
{
    static const char *what = "a time like \"30s\" or \"20200604T120000Z\"";
    if (!json_is_string(v))
        return type_error(c, v, what);
    const char *s = json_string_value(v);
    int rc = sim_parse_time(s, c->sc->start_unix_us, out);
    if (rc == FL_E_OVERFLOW && sim_time_is_absolute(s)) {
        char start[64];
        sim_format_rfc3339(c->sc->start_unix_us, start, sizeof start);
        return fail(c, false, "time \"%s\" is before start (%s)", s, start);
    }
    if (rc == FL_E_OVERFLOW && s[0] == '-')
        return fail(c, false, "a time must not be negative, got \"%s\"", s);
    if (rc == FL_E_OVERFLOW)
        return fail(c, false, "time \"%s\" is too large", s);
    if (rc < 0)
        return type_error(c, v, what);
    return 0;
}

static int value_size(ctx *c, json_t *v, uint64_t *out)
{
    if (!json_is_string(v))
        return type_error(c, v, "a size like \"64MiB\"");
    const char *s = json_string_value(v);
    int rc = sim_parse_size(s, out);
    if (rc == FL_E_OVERFLOW && s[0] == '-')
        return fail(c, false, "a size must not be negative, got \"%s\"", s);
    if (rc == FL_E_OVERFLOW)
        return fail(c, false, "size \"%s\" is too large", s);
    if (rc < 0)
        return type_error(c, v, "a size like \"64MiB\" (units B, KiB, MiB, GiB)");
    return 0;
}

static int value_rate(ctx *c, json_t *v, sim_rate *out)
{
    if (!json_is_string(v))
        return type_error(c, v, "a rate like \"200/s\"");
    const char *s = json_string_value(v);
    int rc = sim_parse_rate(s, out);
    if (rc == FL_E_OVERFLOW)
        return fail(c, false, "a rate must be positive, got \"%s\"", s);
    if (rc < 0)
        return type_error(c, v, "a rate like \"200/s\"");
    return 0;
}

static int value_bandwidth(ctx *c, json_t *v, sim_rate *out)
{
    if (!json_is_string(v))
        return type_error(c, v, "a bandwidth like \"10MiB/s\"");
    int rc = sim_parse_bandwidth(json_string_value(v), out);
    if (rc == FL_E_OVERFLOW)
        return fail(c, false, "a bandwidth must be positive, got \"%s\"", json_string_value(v));
    if (rc < 0)
        return type_error(c, v, "a bandwidth like \"10MiB/s\"");
    return 0;
}

static int value_uint(ctx *c, json_t *v, uint64_t min, uint64_t *out)
{
    char what[64];
    snprintf(what, sizeof what, "an integer >= %llu", (unsigned long long)min);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min)
        return type_error(c, v, what);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int value_bool(ctx *c, json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return type_error(c, v, "true or false");
    *out = json_is_true(v);
    return 0;
}

static int value_string(ctx *c, json_t *v, bool nonempty, const char **out)
{
    if (!json_is_string(v))
        return type_error(c, v, "a string");
    if (nonempty && json_string_length(v) == 0)
        return fail(c, false, "must not be empty");
    *out = json_string_value(v);
    return 0;
}

static int value_enum(ctx *c, json_t *v, sim_enum_id which, int *out)
{
    const enum_def *e = &enums[which];
    char list[400];
    if (!json_is_string(v)) {
        char what[480];
        join(e->names, e->n, list, sizeof list);
        snprintf(what, sizeof what, "a %s (one of: %s)", e->noun, list);
        return type_error(c, v, what);
    }
    const char *s = json_string_value(v);
    long i = find_name(e->names, e->n, s);
    if (i >= 0) {
        *out = (int)i;
        return 0;
    }
    char h[480];
    hint(s, e->names, e->n, "expected one of", h, sizeof h);
    return fail(c, false, "unknown %s \"%s\" (%s)", e->noun, s, h);
}

/* Names of brokers, clients, sub_ids: they appear in paths, report file
 * names and "client/sub_id" keys, so they are kept plain. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME_LEN || s[0] == '.' || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static int check_name(ctx *c, const char *what, const char *s)
{
    if (valid_name(s))
        return 0;
    return fail(c, false,
                "invalid %s name \"%s\": use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                what, s);
}

/* A broker (or client) name reference at the current path. */
static int ref_broker(ctx *c, json_t *v, size_t *out)
{
    const char *s = NULL;
    TRY(value_string(c, v, false, &s));
    long i = find_name(c->bnames, c->sc->nbrokers, s);
    if (i >= 0) {
        *out = (size_t)i;
        return 0;
    }
    char h[480];
    hint(s, c->bnames, c->sc->nbrokers, "brokers", h, sizeof h);
    return fail(c, false, "unknown broker \"%s\" (%s)", s, h);
}

static int ref_client(ctx *c, json_t *v, size_t *out)
{
    const char *s = NULL;
    TRY(value_string(c, v, false, &s));
    long i = find_name(c->cnames, c->sc->nclients, s);
    if (i >= 0) {
        *out = (size_t)i;
        return 0;
    }
    char h[480];
    hint(s, c->cnames, c->sc->nclients, "clients", h, sizeof h);
    return fail(c, false, "unknown client \"%s\" (%s)", s, h);
}

/* ------------------------------------------------------------------ */
/* fields: optional keys leave *out as it is (the caller's default)      */

typedef int (*dur_fn)(ctx *, json_t *, uint64_t *);

static int field_u64(ctx *c, json_t *o, const char *k, bool required, dur_fn fn, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return required ? missing(c, k) : 0;
    push_key(c, k);
    TRY(fn(c, v, out));
    pop(c);
    return 0;
}

static int field_duration(ctx *c, json_t *o, const char *k, bool required, uint64_t *out)
{
    return field_u64(c, o, k, required, value_duration, out);
}

static int field_time(ctx *c, json_t *o, const char *k, bool required, uint64_t *out)
{
    return field_u64(c, o, k, required, value_time, out);
}

static int field_size(ctx *c, json_t *o, const char *k, bool required, uint64_t *out)
{
    return field_u64(c, o, k, required, value_size, out);
}

static int field_duration_opt(ctx *c, json_t *o, const char *k, bool *has, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return 0;
    push_key(c, k);
    TRY(value_duration(c, v, out));
    pop(c);
    *has = true;
    return 0;
}

static int field_duration_or_none(ctx *c, json_t *o, const char *k, bool *has, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return 0;
    push_key(c, k);
    TRY(value_duration_or_none(c, v, has, out));
    pop(c);
    return 0;
}

static int field_uint(ctx *c, json_t *o, const char *k, bool required, uint64_t min, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return required ? missing(c, k) : 0;
    push_key(c, k);
    TRY(value_uint(c, v, min, out));
    pop(c);
    return 0;
}

static int field_bool(ctx *c, json_t *o, const char *k, bool *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return 0;
    push_key(c, k);
    TRY(value_bool(c, v, out));
    pop(c);
    return 0;
}

static int field_number(ctx *c, json_t *o, const char *k, double min, double *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return 0;
    push_key(c, k);
    char what[64];
    snprintf(what, sizeof what, "a number >= %g", min);
    if (!json_is_number(v) || json_number_value(v) < min)
        return type_error(c, v, what);
    *out = json_number_value(v);
    pop(c);
    return 0;
}

static int field_string(ctx *c, json_t *o, const char *k, bool required, bool nonempty, char **out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return required ? missing(c, k) : 0;
    push_key(c, k);
    const char *s = NULL;
    TRY(value_string(c, v, nonempty, &s));
    TRY(dup(c, s, out));
    pop(c);
    return 0;
}

/* The enum value is written through an int so each enum type can use it. */
#define FIELD_ENUM(c, o, k, which, out)                                                            \
    do {                                                                                           \
        int v_ = (int)*(out);                                                                      \
        TRY(field_enum((c), (o), (k), (which), &v_));                                              \
        *(out) = v_;                                                                               \
    } while (0)

static int field_enum(ctx *c, json_t *o, const char *k, sim_enum_id which, int *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return 0;
    push_key(c, k);
    TRY(value_enum(c, v, which, out));
    pop(c);
    return 0;
}

/* An object member that must be an object (if present); NULL if absent. */
static int member_object(ctx *c, json_t *o, const char *k, json_t **out)
{
    *out = json_object_get(o, k);
    if (*out == NULL)
        return 0;
    push_key(c, k);
    TRY(value_object(c, *out));
    pop(c);
    return 0;
}

static int member_array(ctx *c, json_t *o, const char *k, json_t **out)
{
    *out = json_object_get(o, k);
    if (*out == NULL)
        return 0;
    push_key(c, k);
    TRY(value_array(c, *out));
    pop(c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* bookmarks                                                            */

/* validate_bookmark_text: the one place a subscription's bookmark text is
 * checked, with the client's own bookmark parser (fl_bm_selector_parse), so
 * a scenario is refused for exactly the texts the client would refuse. The
 * text itself is kept as written (the client parses it again at subscribe
 * time). The parser's byte offset becomes a column: the value's column + 1
 * (the opening quote) + the offset, exact for texts without JSON escapes
 * (bookmarks are plain ASCII). */
static int validate_bookmark_text(ctx *c, const char *text)
{
    fl_bm_selector sel;
    fl_bm_error bmerr = {0, ""};
    fl_bm_selector_init(&sel);
    int rc = fl_bm_selector_parse(text, strlen(text), &sel, &bmerr);
    fl_bm_selector_free(&sel);
    if (rc == FL_E_NOMEM)
        return oom(c);
    if (rc == 0)
        return 0;
    rc = fail(c, false, "invalid bookmark \"%s\": %s", text, bmerr.text);
    if (c->err->line > 0 && bmerr.offset < (size_t)INT32_MAX - (size_t)c->err->column - 1) {
        c->err->column += 1 + (int)bmerr.offset;
        format_message(c->err);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* top level names                                                      */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects and sorts the keys of brokers/clients, validating each name. */
static int collect_names(ctx *c, json_t *obj, const char *what, const char ***out, size_t *n)
{
    size_t k = json_object_size(obj);
    if (k == 0)
        return fail(c, false, "expected at least one %s", what);
    TRY(xcalloc(c, k, sizeof(char *), out));
    size_t i = 0;
    const char *key = NULL;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        push_key(c, key);
        TRY(check_name(c, what, key));
        pop(c);
        (*out)[i++] = key;
    }
    qsort(*out, k, sizeof(char *), cmp_str);
    *n = k;
    return 0;
}

/* ------------------------------------------------------------------ */
/* brokers                                                              */

static int parse_topics(ctx *c, json_t *b, sim_broker_spec *br)
{
    json_t *topics;
    TRY(member_object(c, b, "topics", &topics));
    if (topics == NULL)
        return 0;
    push_key(c, "topics");
    size_t n = json_object_size(topics);
    const char **names = NULL;
    TRY(xcalloc(c, n, sizeof(char *), &names));
    size_t i = 0;
    const char *key = NULL;
    json_t *v;
    json_object_foreach(topics, key, v) names[i++] = key;
    qsort(names, n, sizeof(char *), cmp_str);
    int rc = xcalloc(c, n, sizeof(sim_topic), &br->topics);
    for (i = 0; rc == 0 && i < n; i++) {
        br->ntopics = i + 1;
        json_t *t = json_object_get(topics, names[i]);
        push_key(c, names[i]);
        if (names[i][0] == '\0')
            rc = fail(c, true, "a topic name must not be empty");
        if (rc == 0)
            rc = value_object(c, t);
        if (rc == 0)
            rc = check_keys(c, t, topic_keys, COUNT(topic_keys));
        if (rc == 0)
            rc = field_bool(c, t, "journal", &br->topics[i].journal);
        if (rc == 0)
            rc = dup(c, names[i], &br->topics[i].name);
        pop(c);
    }
    free(names);
    if (rc < 0)
        return rc;
    pop(c);
    return 0;
}

static int parse_journal(ctx *c, json_t *b, sim_journal_cfg *j)
{
    json_t *o;
    TRY(member_object(c, b, "journal", &o));
    if (o == NULL)
        return 0;
    push_key(c, "journal");
    TRY(check_keys(c, o, journal_keys, COUNT(journal_keys)));
    TRY(field_size(c, o, "segment_size", false, &j->segment_size));
    if (j->segment_size == 0) {
        push_key(c, "segment_size");
        return fail(c, false, "segment_size must be greater than 0B");
    }
    TRY(field_duration(c, o, "segment_age", false, &j->segment_age_us));
    if (j->segment_age_us == 0) {
        push_key(c, "segment_age");
        return fail(c, false, "segment_age must be greater than 0s");
    }
    TRY(field_duration_or_none(c, o, "retention", &j->has_retention, &j->retention_us));
    TRY(field_duration(c, o, "sync_interval", false, &j->sync_interval_us));
    FIELD_ENUM(c, o, "recovery", SIM_ENUM_RECOVERY, &j->recovery);
    pop(c);
    return 0;
}

static int parse_replica(ctx *c, json_t *r, size_t self, sim_broker_spec *br, size_t idx)
{
    sim_replica *rep = &br->replicate_to[idx];
    TRY(value_object(c, r));
    TRY(check_keys(c, r, replica_keys, COUNT(replica_keys)));
    json_t *v = json_object_get(r, "broker");
    if (v == NULL)
        return missing(c, "broker");
    push_key(c, "broker");
    TRY(ref_broker(c, v, &rep->broker));
    if (rep->broker == self)
        return fail(c, false, "a broker cannot replicate to itself");
    for (size_t i = 0; i < idx; i++)
        if (br->replicate_to[i].broker == rep->broker)
            return fail(c, false, "broker \"%s\" is listed twice in replicate_to",
                        json_string_value(v));
    pop(c);
    rep->mode = SIM_REPL_SYNC;
    FIELD_ENUM(c, r, "mode", SIM_ENUM_REPL_MODE, &rep->mode);
    TRY(field_duration(c, r, "lag", false, &rep->lag_us));
    if (json_object_get(r, "lag") != NULL && rep->mode != SIM_REPL_ASYNC) {
        push_key(c, "lag");
        return fail(c, true, "\"lag\" applies only to \"async\" replication");
    }
    return 0;
}

static int parse_replicate_to(ctx *c, json_t *b, size_t self, sim_broker_spec *br)
{
    json_t *a;
    TRY(member_array(c, b, "replicate_to", &a));
    if (a == NULL)
        return 0;
    push_key(c, "replicate_to");
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(sim_replica), &br->replicate_to));
    br->nreplicate_to = n;
    for (size_t i = 0; i < n; i++) {
        push_index(c, i);
        TRY(parse_replica(c, json_array_get(a, i), self, br, i));
        pop(c);
    }
    pop(c);
    return 0;
}

static int parse_credentials(ctx *c, json_t *b, sim_broker_spec *br)
{
    json_t *o;
    TRY(member_object(c, b, "credentials", &o));
    if (o == NULL)
        return 0;
    push_key(c, "credentials");
    size_t n = json_object_size(o);
    br->has_credentials = true;
    TRY(xcalloc(c, n, sizeof(sim_credential), &br->credentials));
    /* sorted by client index, which is name order */
    const char *key = NULL;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        push_key(c, key);
        long ci = find_name(c->cnames, c->sc->nclients, key);
        if (ci < 0) {
            char h[480];
            hint(key, c->cnames, c->sc->nclients, "clients", h, sizeof h);
            return fail(c, true, "unknown client \"%s\" (%s)", key, h);
        }
        const char *pw = NULL;
        TRY(value_string(c, v, false, &pw));
        size_t at = br->ncredentials;
        while (at > 0 && br->credentials[at - 1].client > (size_t)ci) {
            br->credentials[at] = br->credentials[at - 1];
            at--;
        }
        br->credentials[at].client = (size_t)ci;
        br->credentials[at].password = NULL;
        br->ncredentials++;
        TRY(dup(c, pw, &br->credentials[at].password));
        pop(c);
    }
    pop(c);
    return 0;
}

static void broker_defaults(sim_broker_spec *br)
{
    br->journal.segment_size = 64ull * 1024 * 1024;
    br->journal.segment_age_us = 3600ull * SIM_US_PER_S;
    br->journal.has_retention = false;
    br->journal.sync_interval_us = 0;
    br->journal.recovery = SIM_RECOVERY_POINT_IN_TIME;
    br->ack_interval_us = SIM_US_PER_S;
    br->heartbeat_us = 3 * SIM_US_PER_S;
    br->expired_bookmark = SIM_EXPIRED_NOW;
    br->duplicate_logon = SIM_DUP_LOGON_REFUSE;
    br->down = false;
}

static int parse_broker(ctx *c, json_t *b, size_t self)
{
    sim_broker_spec *br = &c->sc->brokers[self];
    broker_defaults(br);
    TRY(value_object(c, b));
    TRY(check_keys(c, b, broker_keys, COUNT(broker_keys)));
    TRY(parse_topics(c, b, br));
    TRY(parse_journal(c, b, &br->journal));
    TRY(field_duration(c, b, "ack_interval", false, &br->ack_interval_us));
    TRY(field_duration(c, b, "heartbeat", false, &br->heartbeat_us));
    if (br->heartbeat_us == 0) {
        push_key(c, "heartbeat");
        return fail(c, false, "heartbeat must be greater than 0s");
    }
    FIELD_ENUM(c, b, "expired_bookmark", SIM_ENUM_EXPIRED, &br->expired_bookmark);
    TRY(parse_replicate_to(c, b, self, br));
    TRY(parse_credentials(c, b, br));
    FIELD_ENUM(c, b, "duplicate_logon", SIM_ENUM_DUP_LOGON, &br->duplicate_logon);
    TRY(field_bool(c, b, "down", &br->down));
    return 0;
}

/* ------------------------------------------------------------------ */
/* clients                                                              */

static int parse_servers(ctx *c, json_t *o, sim_client *cl)
{
    json_t *a;
    TRY(member_array(c, o, "servers", &a));
    if (a == NULL)
        return missing(c, "servers");
    push_key(c, "servers");
    size_t n = json_array_size(a);
    if (n == 0)
        return fail(c, false, "expected at least one broker name");
    TRY(xcalloc(c, n, sizeof(size_t), &cl->servers));
    for (size_t i = 0; i < n; i++) {
        push_index(c, i);
        TRY(ref_broker(c, json_array_get(a, i), &cl->servers[i]));
        for (size_t j = 0; j < i; j++)
            if (cl->servers[j] == cl->servers[i])
                return fail(c, false, "broker \"%s\" is listed twice", c->bnames[cl->servers[i]]);
        cl->nservers = i + 1;
        pop(c);
    }
    pop(c);
    return 0;
}

static void store_defaults(sim_store_cfg *s)
{
    s->type = SIM_STORE_MEMORY;
    s->sync = SIM_SYNC_BATCH;
    s->batch_window_us = SIM_US_PER_MS;
    s->recovery = SIM_RECOVERY_POINT_IN_TIME;
}

/* Keys valid only for some store types. */
static int check_store_keys(ctx *c, json_t *o, sim_store_type t)
{
    static const char *const durable_only[] = {"sync", "batch_window", "recovery"};
    for (size_t i = 0; i < COUNT(durable_only); i++) {
        if (json_object_get(o, durable_only[i]) == NULL)
            continue;
        if (t == SIM_STORE_FILE || t == SIM_STORE_SQLITE || t == SIM_STORE_PLUGIN)
            continue;
        push_key(c, durable_only[i]);
        return fail(c, true, "\"%s\" applies only to file, sqlite and plugin stores, not \"%s\"",
                    durable_only[i], store_names[t]);
    }
    if (t == SIM_STORE_NONE && json_object_get(o, "capacity") != NULL) {
        push_key(c, "capacity");
        return fail(c, true, "\"capacity\" does not apply to store type \"none\"");
    }
    if (t != SIM_STORE_PLUGIN) {
        const char *k = json_object_get(o, "plugin")    ? "plugin"
                        : json_object_get(o, "options") ? "options"
                                                        : NULL;
        if (k != NULL) {
            push_key(c, k);
            return fail(c, true, "\"%s\" applies only to store type \"plugin\"", k);
        }
    }
    return 0;
}

static int parse_store(ctx *c, json_t *o, const char *key, bool bookmark, sim_store_cfg *s)
{
    store_defaults(s);
    json_t *st;
    TRY(member_object(c, o, key, &st));
    if (st == NULL)
        return 0;
    push_key(c, key);
    TRY(check_keys(c, st, store_keys, COUNT(store_keys)));
    FIELD_ENUM(c, st, "type", SIM_ENUM_STORE_TYPE, &s->type);
    if (bookmark && s->type == SIM_STORE_NONE) {
        push_key(c, "type");
        return fail(c, false,
                    "a bookmark store cannot be \"none\" (use memory, file, sqlite or plugin)");
    }
    TRY(check_store_keys(c, st, s->type));
    FIELD_ENUM(c, st, "sync", SIM_ENUM_SYNC, &s->sync);
    TRY(field_duration(c, st, "batch_window", false, &s->batch_window_us));
    FIELD_ENUM(c, st, "recovery", SIM_ENUM_RECOVERY, &s->recovery);
    json_t *cap = json_object_get(st, "capacity");
    if (cap != NULL) {
        push_key(c, "capacity");
        TRY(value_size(c, cap, &s->capacity));
        if (s->capacity == 0)
            return fail(c, false, "capacity must be greater than 0B");
        s->has_capacity = true;
        pop(c);
    }
    TRY(field_string(c, st, "plugin", s->type == SIM_STORE_PLUGIN, true, &s->plugin));
    TRY(field_string(c, st, "options", false, false, &s->options));
    pop(c);
    return 0;
}

static int parse_delay(ctx *c, json_t *o, sim_delay_cfg *d)
{
    d->type = SIM_DELAY_EXPONENTIAL;
    d->delay_us = 200 * SIM_US_PER_MS;
    d->initial_us = 200 * SIM_US_PER_MS;
    d->exponent = 2.0;
    d->max_us = 20 * SIM_US_PER_S;
    d->jitter = 1.0;
    d->has_max_retry = false;
    json_t *dl;
    TRY(member_object(c, o, "delay", &dl));
    if (dl == NULL)
        return 0;
    push_key(c, "delay");
    /* the type decides which keys are valid, so read it first */
    TRY(check_keys(c, dl, delay_all_keys, COUNT(delay_all_keys)));
    FIELD_ENUM(c, dl, "type", SIM_ENUM_DELAY_TYPE, &d->type);
    bool fixed = d->type == SIM_DELAY_FIXED;
    const char *key = NULL;
    json_t *v;
    const char *const *ok = fixed ? delay_fixed_keys : delay_exp_keys;
    size_t nok = fixed ? COUNT(delay_fixed_keys) : COUNT(delay_exp_keys);
    json_object_foreach(dl, key, v)
    {
        if (in_list(key, ok, nok))
            continue;
        push_key(c, key);
        return fail(c, true, "key \"%s\" is not valid for a %s delay", key,
                    fixed ? "fixed" : "exponential");
    }
    TRY(field_duration(c, dl, "delay", false, &d->delay_us));
    TRY(field_duration(c, dl, "initial", false, &d->initial_us));
    TRY(field_number(c, dl, "exponent", 1.0, &d->exponent));
    TRY(field_duration(c, dl, "max", false, &d->max_us));
    if (!fixed && d->max_us < d->initial_us) {
        push_key(c, json_object_get(dl, "max") ? "max" : "initial");
        return fail(c, false, "the maximum delay must not be less than the initial delay");
    }
    TRY(field_duration_or_none(c, dl, "max_retry", &d->has_max_retry, &d->max_retry_us));
    TRY(field_number(c, dl, "jitter", 0.0, &d->jitter));
    pop(c);
    return 0;
}

static int parse_heartbeat(ctx *c, json_t *o, sim_client *cl)
{
    json_t *hb;
    TRY(member_object(c, o, "heartbeat", &hb));
    if (hb == NULL)
        return 0;
    push_key(c, "heartbeat");
    TRY(check_keys(c, hb, heartbeat_keys, COUNT(heartbeat_keys)));
    TRY(field_duration(c, hb, "interval", true, &cl->hb_interval_us));
    if (cl->hb_interval_us == 0) {
        push_key(c, "interval");
        return fail(c, false, "interval must be greater than 0s");
    }
    cl->hb_idle_timeout_us = cl->hb_interval_us * 2;
    TRY(field_duration(c, hb, "idle_timeout", false, &cl->hb_idle_timeout_us));
    if (cl->hb_idle_timeout_us < cl->hb_interval_us) {
        push_key(c, "idle_timeout");
        return fail(c, false, "idle_timeout must not be less than interval");
    }
    cl->has_heartbeat = true;
    pop(c);
    return 0;
}

static int parse_link(ctx *c, json_t *o, sim_client *cl)
{
    cl->link_latency_us = 100;
    cl->link_jitter_us = 0;
    json_t *l;
    TRY(member_object(c, o, "link", &l));
    if (l == NULL)
        return 0;
    push_key(c, "link");
    TRY(check_keys(c, l, link_keys, COUNT(link_keys)));
    TRY(field_duration(c, l, "latency", false, &cl->link_latency_us));
    TRY(field_duration(c, l, "jitter", false, &cl->link_jitter_us));
    json_t *bw = json_object_get(l, "bandwidth");
    if (bw != NULL) {
        push_key(c, "bandwidth");
        TRY(value_bandwidth(c, bw, &cl->bandwidth));
        cl->has_bandwidth = true;
        pop(c);
    }
    pop(c);
    return 0;
}

static int parse_time_list(ctx *c, json_t *a, uint64_t **out, size_t *n)
{
    TRY(value_array(c, a));
    size_t k = json_array_size(a);
    if (k == 0)
        return fail(c, false, "expected at least one time");
    TRY(xcalloc(c, k, sizeof(uint64_t), out));
    *n = k;
    for (size_t i = 0; i < k; i++) {
        push_index(c, i);
        TRY(value_time(c, json_array_get(a, i), &(*out)[i]));
        pop(c);
    }
    return 0;
}

/* Room a frame carrying a payload needs besides it: length prefix and
 * header, the fixed fields (sequence, bookmark, options, command id) and
 * the names of every frame that carries the payload on (publish, delivery,
 * replication: sub ids and broker names are at most MAX_NAME_LEN). */
#define PAYLOAD_FRAME_OVERHEAD 1024u

/* A payload must fit the wire's frame limit (with its topic): a larger one
 * could never be published (and a huge one would only eat memory). */
static int check_payload_size(ctx *c, const sim_publish *p)
{
    uint64_t room = FL_WIRE_MAX_FRAME_DEFAULT - PAYLOAD_FRAME_OVERHEAD;
    uint64_t tl = strlen(p->topic);
    uint64_t max = room > tl ? room - tl : 0;
    if (p->size <= max)
        return 0;
    char got[32], lim[32];
    sim_format_size(p->size, got, sizeof got);
    sim_format_size(FL_WIRE_MAX_FRAME_DEFAULT, lim, sizeof lim);
    push_key(c, "size");
    return fail(c, false,
                "%s does not fit in a message: the wire's frame limit of %s leaves at most %" PRIu64
                " bytes of payload on topic \"%s\"",
                got, lim, max, p->topic);
}

static int parse_publish_one(ctx *c, json_t *o, sim_publish *p)
{
    TRY(value_object(c, o));
    TRY(check_keys(c, o, publish_keys, COUNT(publish_keys)));
    TRY(field_string(c, o, "topic", true, true, &p->topic));
    p->size = 100;
    TRY(field_size(c, o, "size", false, &p->size));
    TRY(check_payload_size(c, p));
    json_t *at = json_object_get(o, "at");
    if (at != NULL) {
        static const char *const rate_only[] = {"count", "rate", "start"};
        for (size_t i = 0; i < COUNT(rate_only); i++) {
            if (json_object_get(o, rate_only[i]) == NULL)
                continue;
            push_key(c, rate_only[i]);
            return fail(c, true, "\"%s\" cannot be combined with \"at\"", rate_only[i]);
        }
        push_key(c, "at");
        TRY(parse_time_list(c, at, &p->at_us, &p->nat));
        pop(c);
        return 0;
    }
    if (json_object_get(o, "count") == NULL)
        return fail(c, false, "missing required key \"count\" (or give \"at\": [times])");
    TRY(field_uint(c, o, "count", true, 1, &p->count));
    json_t *rate = json_object_get(o, "rate");
    if (rate == NULL)
        return missing(c, "rate");
    push_key(c, "rate");
    TRY(value_rate(c, rate, &p->rate));
    pop(c);
    TRY(field_time(c, o, "start", false, &p->start_us));
    return 0;
}

static int parse_publish(ctx *c, json_t *o, sim_client *cl)
{
    json_t *a;
    TRY(member_array(c, o, "publish", &a));
    if (a == NULL)
        return 0;
    push_key(c, "publish");
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(sim_publish), &cl->publish));
    for (size_t i = 0; i < n; i++) {
        cl->npublish = i + 1;
        push_index(c, i);
        TRY(parse_publish_one(c, json_array_get(a, i), &cl->publish[i]));
        pop(c);
    }
    pop(c);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_never(ctx *c, json_t *a, sim_subscribe *s)
{
    TRY(value_array(c, a));
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(uint64_t), &s->never));
    for (size_t i = 0; i < n; i++) {
        push_index(c, i);
        TRY(value_uint(c, json_array_get(a, i), 0, &s->never[i]));
        pop(c);
    }
    qsort(s->never, n, sizeof(uint64_t), cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || s->never[k - 1] != s->never[i])
            s->never[k++] = s->never[i];
    s->nnever = k;
    return 0;
}

static int parse_discard(ctx *c, json_t *v, sim_subscribe *s)
{
    static const char *what =
        "\"immediate\", {\"delay\": DURATION} or {\"never\": [message indices]}";
    if (json_is_string(v) && strcmp(json_string_value(v), "immediate") == 0) {
        s->discard = SIM_DISCARD_IMMEDIATE;
        return 0;
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return type_error(c, v, what);
    TRY(check_keys(c, v, discard_keys, COUNT(discard_keys)));
    if (json_object_size(v) > 1) {
        push_key(c, "never");
        return fail(c, true, "\"delay\" and \"never\" are exclusive: give one of them");
    }
    json_t *d = json_object_get(v, "delay");
    if (d != NULL) {
        s->discard = SIM_DISCARD_DELAY;
        return field_duration(c, v, "delay", true, &s->discard_delay_us);
    }
    s->discard = SIM_DISCARD_NEVER;
    push_key(c, "never");
    TRY(parse_never(c, json_object_get(v, "never"), s));
    pop(c);
    return 0;
}

static int parse_subscribe_one(ctx *c, json_t *o, sim_client *cl, size_t idx)
{
    sim_subscribe *s = &cl->subscribe[idx];
    TRY(value_object(c, o));
    TRY(check_keys(c, o, subscribe_keys, COUNT(subscribe_keys)));
    TRY(field_string(c, o, "topic", true, true, &s->topic));
    json_t *id = json_object_get(o, "sub_id");
    if (id == NULL)
        return missing(c, "sub_id");
    push_key(c, "sub_id");
    const char *sid = NULL;
    TRY(value_string(c, id, false, &sid));
    TRY(check_name(c, "sub_id", sid));
    for (size_t i = 0; i < idx; i++)
        if (strcmp(cl->subscribe[i].sub_id, sid) == 0)
            return fail(c, false, "duplicate sub_id \"%s\" (also used by subscribe[%zu])", sid, i);
    TRY(dup(c, sid, &s->sub_id));
    pop(c);
    json_t *bm = json_object_get(o, "bookmark");
    if (bm != NULL) {
        push_key(c, "bookmark");
        const char *text = NULL;
        TRY(value_string(c, bm, true, &text));
        TRY(validate_bookmark_text(c, text));
        TRY(dup(c, text, &s->bookmark));
        pop(c);
    }
    TRY(field_time(c, o, "start", false, &s->start_us));
    json_t *stop = json_object_get(o, "stop");
    if (stop != NULL) {
        push_key(c, "stop");
        TRY(value_time(c, stop, &s->stop_us));
        if (s->stop_us <= s->start_us)
            return fail(c, false, "stop must be after start");
        s->has_stop = true;
        pop(c);
    }
    json_t *d = json_object_get(o, "discard");
    if (d != NULL) {
        push_key(c, "discard");
        TRY(parse_discard(c, d, s));
        pop(c);
    }
    TRY(field_uint(c, o, "max_pending", false, 1, &s->max_pending));
    s->has_max_pending = json_object_get(o, "max_pending") != NULL;
    FIELD_ENUM(c, o, "replay_fallback", SIM_ENUM_REPLAY_FALLBACK, &s->replay_fallback);
    return 0;
}

static int parse_subscribe(ctx *c, json_t *o, sim_client *cl)
{
    json_t *a;
    TRY(member_array(c, o, "subscribe", &a));
    if (a == NULL)
        return 0;
    push_key(c, "subscribe");
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(sim_subscribe), &cl->subscribe));
    for (size_t i = 0; i < n; i++) {
        cl->nsubscribe = i + 1;
        push_index(c, i);
        TRY(parse_subscribe_one(c, json_array_get(a, i), cl, i));
        pop(c);
    }
    pop(c);
    return 0;
}

static int parse_flush(ctx *c, json_t *o, sim_client *cl)
{
    json_t *a;
    TRY(member_array(c, o, "flush", &a));
    if (a == NULL)
        return 0;
    push_key(c, "flush");
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(sim_flush), &cl->flush));
    cl->nflush = n;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(a, i);
        push_index(c, i);
        TRY(value_object(c, f));
        TRY(check_keys(c, f, flush_keys, COUNT(flush_keys)));
        TRY(field_time(c, f, "at", true, &cl->flush[i].at_us));
        TRY(field_duration(c, f, "timeout", false, &cl->flush[i].timeout_us));
        pop(c);
    }
    pop(c);
    return 0;
}

static int parse_client(ctx *c, json_t *o, size_t self)
{
    sim_client *cl = &c->sc->clients[self];
    TRY(value_object(c, o));
    TRY(check_keys(c, o, client_keys, COUNT(client_keys)));
    TRY(parse_servers(c, o, cl));
    TRY(field_string(c, o, "password", false, false, &cl->password));
    TRY(parse_store(c, o, "publish_store", false, &cl->publish_store));
    TRY(parse_store(c, o, "bookmark_store", true, &cl->bookmark_store));
    TRY(parse_delay(c, o, &cl->delay));
    TRY(parse_heartbeat(c, o, cl));
    TRY(field_duration_opt(c, o, "connection_timeout", &cl->has_connection_timeout,
                           &cl->connection_timeout_us));
    TRY(parse_link(c, o, cl));
    TRY(parse_publish(c, o, cl));
    TRY(parse_subscribe(c, o, cl));
    TRY(parse_flush(c, o, cl));
    return 0;
}

/* ------------------------------------------------------------------ */
/* faults                                                               */

static bool has_file_store(const sim_store_cfg *s)
{
    return s->type == SIM_STORE_FILE || s->type == SIM_STORE_SQLITE || s->type == SIM_STORE_PLUGIN;
}

static bool broker_journals(const sim_broker_spec *b)
{
    for (size_t i = 0; i < b->ntopics; i++)
        if (b->topics[i].journal)
            return true;
    return false;
}

static bool kind_takes(sim_fault_kind k, const char *key)
{
    for (size_t i = 0; kind_specs[k].keys[i] != NULL; i++)
        if (strcmp(kind_specs[k].keys[i], key) == 0)
            return true;
    return false;
}

/* Unknown keys and keys that belong to another kind. */
static int check_fault_keys(ctx *c, json_t *o, sim_fault_kind k)
{
    const char *allowed[12];
    size_t n = 0;
    allowed[n++] = "kind";
    if (k != SIM_FAULT_ADVANCE_CLOCK)
        allowed[n++] = "target";
    allowed[n++] = "at";
    allowed[n++] = "on";
    allowed[n++] = "optional";
    size_t ncommon = n;
    for (size_t i = 0; kind_specs[k].keys[i] != NULL; i++)
        allowed[n++] = kind_specs[k].keys[i];
    const char *key = NULL;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (in_list(key, allowed, n))
            continue;
        push_key(c, key);
        if (in_list(key, fault_extra_keys, COUNT(fault_extra_keys)) || strcmp(key, "target") == 0) {
            char list[200];
            join(kind_specs[k].keys, n - ncommon, list, sizeof list);
            return fail(c, true, "key \"%s\" is not valid for fault kind \"%s\" (%s%s)", key,
                        kind_names[k], list[0] ? "it takes: " : "it takes no extra keys", list);
        }
        char h[480];
        hint(key, allowed, n, "expected one of", h, sizeof h);
        return fail(c, true, "unknown key \"%s\" (%s)", key, h);
    }
    return 0;
}

static int parse_target(ctx *c, json_t *o, sim_fault *f)
{
    const kind_spec *ks = &kind_specs[f->kind];
    if (f->kind == SIM_FAULT_ADVANCE_CLOCK) {
        f->target_sort = SIM_TARGET_NONE;
        return 0;
    }
    json_t *v = json_object_get(o, "target");
    if (v == NULL)
        return missing(c, "target");
    push_key(c, "target");
    const char *name = NULL;
    TRY(value_string(c, v, false, &name));
    long ci = find_name(c->cnames, c->sc->nclients, name);
    long bi = find_name(c->bnames, c->sc->nbrokers, name);
    if (ci < 0 && bi < 0) {
        const char *cands[2 * 64];
        size_t n = 0;
        if (ks->either_sort || ks->sort == SIM_TARGET_CLIENT)
            for (size_t i = 0; i < c->sc->nclients && n < COUNT(cands); i++)
                cands[n++] = c->cnames[i];
        if (ks->either_sort || ks->sort == SIM_TARGET_BROKER)
            for (size_t i = 0; i < c->sc->nbrokers && n < COUNT(cands); i++)
                cands[n++] = c->bnames[i];
        char h[480];
        hint(name, cands, n, "expected one of", h, sizeof h);
        return fail(c, false, "unknown target \"%s\" (%s)", name, h);
    }
    f->target_sort = ci >= 0 ? SIM_TARGET_CLIENT : SIM_TARGET_BROKER;
    f->target = ci >= 0 ? (size_t)ci : (size_t)bi;
    if (!ks->either_sort && ks->sort != f->target_sort)
        return fail(c, false, "fault kind \"%s\" needs a %s, but \"%s\" is a %s",
                    kind_names[f->kind], ks->sort == SIM_TARGET_CLIENT ? "client" : "broker", name,
                    f->target_sort == SIM_TARGET_CLIENT ? "client" : "broker");
    pop(c);
    return 0;
}

/* Whether the trigger's event can ever happen at that client or broker. */
static int check_event_possible(ctx *c, sim_fault *f)
{
    static const char *why_pub = "it publishes nothing";
    static const char *why_sub = "it subscribes to nothing";
    static const char *why_store = "it has no file, sqlite or plugin store";
    static const char *why_journal = "it journals no topic";
    static const char *why_repl = "it replicates to no broker";
    sim_event e = f->on_event;
    bool broker_event =
        e == SIM_EVENT_JOURNAL_WRITE || e == SIM_EVENT_JOURNAL_SYNC || e == SIM_EVENT_REPLICATION;
    bool either = e == SIM_EVENT_LOGON;
    if (!either && broker_event != (f->on_sort == SIM_TARGET_BROKER))
        return fail(c, false, "event \"%s\" happens at a %s: give \"%s\", not \"%s\"",
                    event_names[e], broker_event ? "broker" : "client",
                    broker_event ? "broker" : "client", broker_event ? "client" : "broker");
    const char *why = NULL;
    if (f->on_sort == SIM_TARGET_CLIENT) {
        const sim_client *cl = &c->sc->clients[f->on_index];
        if ((e == SIM_EVENT_PUBLISH || e == SIM_EVENT_PERSISTED_ACK) && cl->npublish == 0)
            why = why_pub;
        if ((e == SIM_EVENT_DELIVERY || e == SIM_EVENT_DISCARD) && cl->nsubscribe == 0)
            why = why_sub;
        if ((e == SIM_EVENT_STORE_WRITE || e == SIM_EVENT_STORE_SYNC) &&
            !has_file_store(&cl->publish_store) && !has_file_store(&cl->bookmark_store))
            why = why_store;
        if (why != NULL)
            return fail(c, false, "event \"%s\" is impossible for client \"%s\": %s",
                        event_names[e], cl->name, why);
        return 0;
    }
    const sim_broker_spec *br = &c->sc->brokers[f->on_index];
    if ((e == SIM_EVENT_JOURNAL_WRITE || e == SIM_EVENT_JOURNAL_SYNC) && !broker_journals(br))
        why = why_journal;
    if (e == SIM_EVENT_REPLICATION && br->nreplicate_to == 0)
        why = why_repl;
    if (why != NULL)
        return fail(c, false, "event \"%s\" is impossible for broker \"%s\": %s", event_names[e],
                    br->name, why);
    return 0;
}

static int parse_trigger(ctx *c, json_t *on, sim_fault *f)
{
    TRY(value_object(c, on));
    TRY(check_keys(c, on, trigger_keys, COUNT(trigger_keys)));
    json_t *ev = json_object_get(on, "event");
    if (ev == NULL)
        return missing(c, "event");
    int e = 0;
    push_key(c, "event");
    TRY(value_enum(c, ev, SIM_ENUM_EVENT, &e));
    pop(c);
    f->on_event = (sim_event)e;
    json_t *cv = json_object_get(on, "client");
    json_t *bv = json_object_get(on, "broker");
    if (cv != NULL && bv != NULL) {
        push_key(c, "broker");
        return fail(c, true, "\"client\" and \"broker\" are exclusive: give one of them");
    }
    if (cv == NULL && bv == NULL)
        return fail(c, false, "missing \"client\" or \"broker\" (whose events are counted)");
    push_key(c, cv ? "client" : "broker");
    if (cv != NULL)
        TRY(ref_client(c, cv, &f->on_index));
    else
        TRY(ref_broker(c, bv, &f->on_index));
    pop(c);
    f->on_sort = cv ? SIM_TARGET_CLIENT : SIM_TARGET_BROKER;
    f->on_count = 1;
    TRY(field_uint(c, on, "count", false, 1, &f->on_count));
    push_key(c, "event");
    TRY(check_event_possible(c, f));
    pop(c);
    return 0;
}

static int parse_when(ctx *c, json_t *o, sim_fault *f)
{
    json_t *at = json_object_get(o, "at");
    json_t *on = json_object_get(o, "on");
    if (at != NULL && on != NULL) {
        push_key(c, "on");
        return fail(c, true, "\"at\" and \"on\" are exclusive: give one of them");
    }
    if (at == NULL && on == NULL)
        return fail(c, false, "missing \"at\" or \"on\" (when the fault fires)");
    if (at != NULL) {
        f->has_at = true;
        return field_time(c, o, "at", true, &f->at_us);
    }
    push_key(c, "on");
    TRY(parse_trigger(c, on, f));
    pop(c);
    return 0;
}

static int parse_from(ctx *c, json_t *o, sim_fault *f)
{
    json_t *a;
    TRY(member_array(c, o, "from", &a));
    if (a == NULL)
        return 0;
    push_key(c, "from");
    size_t n = json_array_size(a);
    if (n == 0)
        return fail(c, false, "expected at least one broker name (omit \"from\" for all)");
    TRY(xcalloc(c, n, sizeof(size_t), &f->from));
    for (size_t i = 0; i < n; i++) {
        push_index(c, i);
        TRY(ref_broker(c, json_array_get(a, i), &f->from[i]));
        for (size_t j = 0; j < i; j++)
            if (f->from[j] == f->from[i])
                return fail(c, false, "broker \"%s\" is listed twice", c->bnames[f->from[i]]);
        f->nfrom = i + 1;
        pop(c);
    }
    pop(c);
    return 0;
}

static int parse_corrupt(ctx *c, json_t *o, sim_fault *f)
{
    json_t *fv = json_object_get(o, "file");
    if (fv == NULL)
        return missing(c, "file");
    int file = 0;
    push_key(c, "file");
    TRY(value_enum(c, fv, SIM_ENUM_FILE, &file));
    f->file = (sim_file_kind)file;
    if (f->target_sort == SIM_TARGET_BROKER) {
        if (f->file != SIM_FILE_JOURNAL)
            return fail(c, false, "a broker has only a \"journal\" file, not \"%s\"",
                        file_names[file]);
        if (!broker_journals(&c->sc->brokers[f->target]))
            return fail(c, false, "broker \"%s\" journals no topic, so it has no journal file",
                        c->sc->brokers[f->target].name);
    } else {
        const sim_client *cl = &c->sc->clients[f->target];
        if (f->file == SIM_FILE_JOURNAL)
            return fail(c, false,
                        "a client has no journal (use \"publish_store\" or \"bookmark_store\")");
        const sim_store_cfg *s =
            f->file == SIM_FILE_PUBLISH_STORE ? &cl->publish_store : &cl->bookmark_store;
        if (!has_file_store(s))
            return fail(c, false, "client \"%s\" keeps its %s in memory: there is no file",
                        cl->name, file_names[file]);
    }
    pop(c);
    f->mode = SIM_CORRUPT_BIT_FLIP;
    FIELD_ENUM(c, o, "mode", SIM_ENUM_CORRUPT_MODE, &f->mode);
    f->offset_kind = SIM_OFFSET_MIDDLE;
    json_t *ov = json_object_get(o, "offset");
    if (ov != NULL) {
        push_key(c, "offset");
        if (json_is_string(ov) && strcmp(json_string_value(ov), "middle") == 0)
            f->offset_kind = SIM_OFFSET_MIDDLE;
        else if (json_is_string(ov) && strcmp(json_string_value(ov), "tail") == 0)
            f->offset_kind = SIM_OFFSET_TAIL;
        else if (json_is_integer(ov) && json_integer_value(ov) >= 0) {
            f->offset_kind = SIM_OFFSET_BYTES;
            f->offset = (uint64_t)json_integer_value(ov);
        } else if (json_is_string(ov) && sim_parse_size(json_string_value(ov), &f->offset) == 0)
            f->offset_kind = SIM_OFFSET_BYTES;
        else
            return type_error(c, ov,
                              "an offset: bytes (an integer >= 0 or a size), "
                              "\"middle\" or \"tail\"");
        pop(c);
    }
    f->bytes = 1;
    return field_uint(c, o, "bytes", false, 1, &f->bytes);
}

static int parse_fault_extras(ctx *c, json_t *o, sim_fault *f)
{
    switch (f->kind) {
    case SIM_FAULT_STALL:
    case SIM_FAULT_DISK_FULL:
        return field_duration_opt(c, o, "for", &f->has_for, &f->for_us);
    case SIM_FAULT_PARTITION:
        TRY(field_duration_opt(c, o, "for", &f->has_for, &f->for_us));
        return parse_from(c, o, f);
    case SIM_FAULT_LATENCY:
        TRY(field_duration_opt(c, o, "for", &f->has_for, &f->for_us));
        TRY(field_duration(c, o, "add", true, &f->add_us));
        return field_duration(c, o, "jitter", false, &f->jitter_us);
    case SIM_FAULT_DROP_ACKS:
        if (json_object_get(o, "for") && json_object_get(o, "count")) {
            push_key(c, "count");
            return fail(c, true, "\"for\" and \"count\" are exclusive: give one of them");
        }
        TRY(field_duration_opt(c, o, "for", &f->has_for, &f->for_us));
        TRY(field_uint(c, o, "count", false, 1, &f->count));
        f->has_count = json_object_get(o, "count") != NULL;
        f->ack_type = SIM_ACK_PERSISTED;
        FIELD_ENUM(c, o, "type", SIM_ENUM_ACK_TYPE, &f->ack_type);
        return 0;
    case SIM_FAULT_CRASH_CLIENT:
    case SIM_FAULT_POWER_LOSS_CLIENT:
        f->restart_after_us = SIM_US_PER_S;
        return field_duration(c, o, "restart_after", false, &f->restart_after_us);
    case SIM_FAULT_CRASH_BROKER:
    case SIM_FAULT_POWER_LOSS_BROKER:
        f->down_for_us = SIM_US_PER_S;
        return field_duration(c, o, "down_for", false, &f->down_for_us);
    case SIM_FAULT_CORRUPT_FILE:
        return parse_corrupt(c, o, f);
    case SIM_FAULT_IO_ERROR: {
        json_t *op = json_object_get(o, "op");
        if (op == NULL)
            return missing(c, "op");
        FIELD_ENUM(c, o, "op", SIM_ENUM_IO_OP, &f->op);
        f->nth = 1;
        TRY(field_uint(c, o, "nth", false, 1, &f->nth));
        return field_bool(c, o, "persistent", &f->persistent);
    }
    case SIM_FAULT_ADVANCE_CLOCK:
        return field_duration(c, o, "by", true, &f->by_us);
    case SIM_FAULT_SLOW_SYNC:
        TRY(field_duration_opt(c, o, "for", &f->has_for, &f->for_us));
        return field_duration(c, o, "add", true, &f->add_us);
    case SIM_FAULT_DISCONNECT:
    case SIM_FAULT_FAILOVER:
        return 0;
    }
    return 0;
}

static int parse_fault(ctx *c, json_t *o, sim_fault *f)
{
    TRY(value_object(c, o));
    json_t *kv = json_object_get(o, "kind");
    if (kv == NULL) {
        /* unknown keys still come first */
        const char *all[5 + COUNT(fault_extra_keys)] = {"kind", "target", "at", "on", "optional"};
        memcpy(all + 5, fault_extra_keys, sizeof fault_extra_keys);
        TRY(check_keys(c, o, all, COUNT(all)));
        return missing(c, "kind");
    }
    int k = 0;
    push_key(c, "kind");
    TRY(value_enum(c, kv, SIM_ENUM_FAULT_KIND, &k));
    pop(c);
    f->kind = (sim_fault_kind)k;
    TRY(check_fault_keys(c, o, f->kind));
    TRY(parse_target(c, o, f));
    TRY(parse_when(c, o, f));
    TRY(field_bool(c, o, "optional", &f->optional));
    return parse_fault_extras(c, o, f);
}

static int parse_faults(ctx *c, json_t *root)
{
    json_t *a;
    TRY(member_array(c, root, "faults", &a));
    if (a == NULL)
        return 0;
    push_key(c, "faults");
    size_t n = json_array_size(a);
    TRY(xcalloc(c, n, sizeof(sim_fault), &c->sc->faults));
    for (size_t i = 0; i < n; i++) {
        c->sc->nfaults = i + 1;
        push_index(c, i);
        TRY(parse_fault(c, json_array_get(a, i), &c->sc->faults[i]));
        pop(c);
    }
    pop(c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* expect                                                               */

static int parse_check_list(ctx *c, json_t *o, const char *key, uint32_t *bits)
{
    json_t *a;
    TRY(member_array(c, o, key, &a));
    if (a == NULL)
        return 0;
    push_key(c, key);
    for (size_t i = 0; i < json_array_size(a); i++) {
        push_index(c, i);
        int b = 0;
        TRY(value_enum(c, json_array_get(a, i), SIM_ENUM_CHECK, &b));
        if (*bits & (1u << b))
            return fail(c, false, "check \"%s\" is listed twice", check_names[b]);
        *bits |= 1u << b;
        pop(c);
    }
    pop(c);
    return 0;
}

static int value_error_name(ctx *c, json_t *v, sim_expect_error *e)
{
    const char *s = NULL;
    TRY(value_string(c, v, false, &s));
    char lower[NERR_NAMES][40];
    const char *cands[NERR_NAMES];
    for (size_t i = 0; i < NERR_NAMES; i++) {
        size_t j = 0;
        for (; err_names[i].upper[j] && j + 1 < sizeof lower[i]; j++) {
            char ch = err_names[i].upper[j];
            lower[i][j] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        lower[i][j] = '\0';
        cands[i] = lower[i];
    }
    long i = find_name(cands, NERR_NAMES, s);
    if (i < 0) {
        char h[480];
        hint(s, cands, NERR_NAMES, "expected one of", h, sizeof h);
        return fail(c, false, "unknown error name \"%s\" (%s)", s, h);
    }
    e->code = err_names[i].code;
    return dup(c, s, &e->name);
}

static int parse_expect_error(ctx *c, json_t *v, sim_expect_error *e)
{
    if (json_is_string(v))
        return value_error_name(c, v, e);
    if (!json_is_object(v))
        return type_error(c, v, "an error name or {\"name\": ..., \"client\": ...}");
    TRY(check_keys(c, v, expect_error_keys, COUNT(expect_error_keys)));
    json_t *n = json_object_get(v, "name");
    if (n == NULL)
        return missing(c, "name");
    push_key(c, "name");
    TRY(value_error_name(c, n, e));
    pop(c);
    json_t *cl = json_object_get(v, "client");
    if (cl != NULL) {
        push_key(c, "client");
        TRY(ref_client(c, cl, &e->client));
        e->has_client = true;
        pop(c);
    }
    e->has_after = json_object_get(v, "after") != NULL;
    e->has_before = json_object_get(v, "before") != NULL;
    TRY(field_time(c, v, "after", false, &e->after_us));
    TRY(field_time(c, v, "before", false, &e->before_us));
    if (e->has_after && e->has_before && e->before_us <= e->after_us) {
        push_key(c, "before");
        return fail(c, false, "\"before\" must be later than \"after\"");
    }
    return 0;
}

static int parse_delivered_one(ctx *c, const char *key, json_t *v, sim_expect_delivered *d)
{
    const char *slash = strchr(key, '/');
    if (slash == NULL || (size_t)(slash - key) > MAX_NAME_LEN)
        return fail(c, true, "expected a key \"client/sub_id\", got \"%s\"", key);
    char cname[MAX_NAME_LEN + 1];
    memcpy(cname, key, (size_t)(slash - key));
    cname[slash - key] = '\0';
    long ci = find_name(c->cnames, c->sc->nclients, cname);
    if (ci < 0) {
        char h[480];
        hint(cname, c->cnames, c->sc->nclients, "clients", h, sizeof h);
        return fail(c, true, "unknown client \"%s\" (%s)", cname, h);
    }
    const sim_client *cl = &c->sc->clients[ci];
    const char *sid = slash + 1;
    size_t si = 0;
    while (si < cl->nsubscribe && strcmp(cl->subscribe[si].sub_id, sid) != 0)
        si++;
    if (si == cl->nsubscribe) {
        const char *ids[64] = {0};
        size_t n = 0;
        for (size_t i = 0; i < cl->nsubscribe && n < COUNT(ids); i++)
            ids[n++] = cl->subscribe[i].sub_id;
        char h[480];
        hint(sid, ids, n, "its sub_ids", h, sizeof h);
        if (n == 0)
            snprintf(h, sizeof h, "it subscribes to nothing");
        return fail(c, true, "client \"%s\" has no subscription \"%s\" (%s)", cname, sid, h);
    }
    d->client = (size_t)ci;
    d->subscribe = si;
    return value_uint(c, v, 0, &d->count);
}

static int cmp_delivered(const void *a, const void *b)
{
    const sim_expect_delivered *x = a, *y = b;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    return x->subscribe < y->subscribe ? -1 : x->subscribe > y->subscribe;
}

static int parse_delivered(ctx *c, json_t *o, sim_expect *ex)
{
    json_t *d;
    TRY(member_object(c, o, "delivered", &d));
    if (d == NULL)
        return 0;
    push_key(c, "delivered");
    ex->has_delivered = true;
    TRY(xcalloc(c, json_object_size(d), sizeof(sim_expect_delivered), &ex->delivered));
    const char *key = NULL;
    json_t *v;
    json_object_foreach(d, key, v)
    {
        push_key(c, key);
        TRY(parse_delivered_one(c, key, v, &ex->delivered[ex->ndelivered]));
        ex->ndelivered++;
        pop(c);
    }
    /* sorted by client name, then by sub_id's position; keys are unique */
    qsort(ex->delivered, ex->ndelivered, sizeof *ex->delivered, cmp_delivered);
    pop(c);
    return 0;
}

static int parse_expect(ctx *c, json_t *root)
{
    sim_expect *ex = &c->sc->expect;
    ex->recovery_us = 30 * SIM_US_PER_S;
    json_t *o;
    TRY(member_object(c, root, "expect", &o));
    if (o == NULL)
        return 0;
    push_key(c, "expect");
    TRY(check_keys(c, o, expect_keys, COUNT(expect_keys)));
    ex->has_checks = json_object_get(o, "checks") != NULL;
    TRY(parse_check_list(c, o, "checks", &ex->checks));
    TRY(parse_check_list(c, o, "violations", &ex->violations));
    uint32_t both = ex->checks & ex->violations;
    if (both != 0) {
        json_t *a = json_object_get(o, "violations");
        push_key(c, "violations");
        for (size_t i = 0; i < json_array_size(a); i++) {
            int b = (int)find_name(check_names, COUNT(check_names),
                                   json_string_value(json_array_get(a, i)));
            if (both & (1u << b)) {
                push_index(c, i);
                return fail(c, false, "\"%s\" is listed in both checks and violations",
                            check_names[b]);
            }
        }
    }
    json_t *errs;
    TRY(member_array(c, o, "errors", &errs));
    if (errs != NULL) {
        push_key(c, "errors");
        size_t n = json_array_size(errs);
        TRY(xcalloc(c, n, sizeof(sim_expect_error), &ex->errors));
        for (size_t i = 0; i < n; i++) {
            ex->nerrors = i + 1;
            push_index(c, i);
            TRY(parse_expect_error(c, json_array_get(errs, i), &ex->errors[i]));
            pop(c);
        }
        pop(c);
    }
    TRY(parse_delivered(c, o, ex));
    TRY(field_duration(c, o, "recovery", false, &ex->recovery_us));
    pop(c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* top level                                                            */

static int parse_start(ctx *c, json_t *root)
{
    sim_parse_rfc3339("2020-01-01T00:00:00Z", &c->sc->start_unix_us);
    json_t *v = json_object_get(root, "start");
    if (v == NULL)
        return 0;
    push_key(c, "start");
    static const char *what = "an RFC 3339 UTC time like \"2020-01-01T00:00:00Z\"";
    if (!json_is_string(v) || sim_parse_rfc3339(json_string_value(v), &c->sc->start_unix_us) < 0)
        return type_error(c, v, what);
    pop(c);
    return 0;
}

/* A scenario name reaches terminals, CI logs and reports as it is: no
 * control characters (C0, DEL, or C1 in UTF-8) that could drive a
 * terminal. The message names the byte, never echoes it. */
static int check_scenario_name(ctx *c, const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; p[i]; i++) {
        unsigned cp = p[i];
        if (cp == 0xC2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            cp = p[i + 1];
        else if (cp >= 0x20 && cp != 0x7F)
            continue;
        push_key(c, "name");
        return fail(c, false,
                    "control character U+%04X at byte %zu is not allowed in a scenario name "
                    "(it would reach terminals and logs as it is)",
                    cp, i);
    }
    return 0;
}

static int parse_header(ctx *c, json_t *root)
{
    sim_scenario *sc = c->sc;
    static const char *const required[] = {"name", "duration", "brokers", "clients"};
    for (size_t i = 0; i < COUNT(required); i++)
        if (json_object_get(root, required[i]) == NULL)
            return missing(c, required[i]);
    TRY(field_string(c, root, "name", true, true, &sc->name));
    TRY(check_scenario_name(c, sc->name));
    TRY(field_string(c, root, "description", false, false, &sc->description));
    if (sc->description == NULL)
        TRY(dup(c, "", &sc->description));
    sc->seed = 1;
    TRY(field_uint(c, root, "seed", false, 0, &sc->seed));
    TRY(parse_start(c, root));
    TRY(field_duration(c, root, "duration", true, &sc->duration_us));
    return 0;
}

/* Broker and client names, sorted, checked, and not shared between both. */
static int parse_names(ctx *c, json_t *root, json_t **brokers, json_t **clients)
{
    sim_scenario *sc = c->sc;
    TRY(member_object(c, root, "brokers", brokers));
    TRY(member_object(c, root, "clients", clients));
    push_key(c, "brokers");
    TRY(collect_names(c, *brokers, "broker", &c->bnames, &sc->nbrokers));
    pop(c);
    push_key(c, "clients");
    TRY(collect_names(c, *clients, "client", &c->cnames, &sc->nclients));
    for (size_t i = 0; i < sc->nclients; i++) {
        if (find_name(c->bnames, sc->nbrokers, c->cnames[i]) < 0)
            continue;
        push_key(c, c->cnames[i]);
        return fail(c, true, "\"%s\" is both a client and a broker name; names must differ",
                    c->cnames[i]);
    }
    pop(c);
    TRY(xcalloc(c, sc->nbrokers, sizeof(sim_broker_spec), &sc->brokers));
    for (size_t i = 0; i < sc->nbrokers; i++)
        TRY(dup(c, c->bnames[i], &sc->brokers[i].name));
    TRY(xcalloc(c, sc->nclients, sizeof(sim_client), &sc->clients));
    for (size_t i = 0; i < sc->nclients; i++)
        TRY(dup(c, c->cnames[i], &sc->clients[i].name));
    return 0;
}

static int parse_root(ctx *c, json_t *root)
{
    if (!json_is_object(root))
        return type_error(c, root, "a scenario object");
    TRY(check_keys(c, root, top_keys, COUNT(top_keys)));
    TRY(parse_header(c, root));
    json_t *brokers, *clients;
    TRY(parse_names(c, root, &brokers, &clients));
    push_key(c, "brokers");
    for (size_t i = 0; i < c->sc->nbrokers; i++) {
        push_key(c, c->bnames[i]);
        TRY(parse_broker(c, json_object_get(brokers, c->bnames[i]), i));
        pop(c);
    }
    pop(c);
    push_key(c, "clients");
    for (size_t i = 0; i < c->sc->nclients; i++) {
        push_key(c, c->cnames[i]);
        TRY(parse_client(c, json_object_get(clients, c->cnames[i]), i));
        pop(c);
    }
    pop(c);
    TRY(parse_faults(c, root));
    return parse_expect(c, root);
}

/* ------------------------------------------------------------------ */
/* public API                                                           */

static void init_error(sim_scenario_error *e, const char *name)
{
    memset(e, 0, sizeof *e);
    snprintf(e->file, sizeof e->file, "%s", name ? name : "<scenario>");
}

int sim_scenario_load_buffer(const char *name, const char *text, size_t len, sim_scenario **out,
                             sim_scenario_error *err)
{
    sim_scenario_error local;
    if (err == NULL)
        err = &local;
    init_error(err, name);
    *out = NULL;
    if (text == NULL && len > 0)
        return FL_E_INVAL;
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        err->line = jerr.line > 0 ? jerr.line : 1;
        err->column = jerr.column > 0 ? jerr.column : 1;
        snprintf(err->text, sizeof err->text, "%s", jerr.text);
        format_message(err);
        return FL_E_SCENARIO;
    }
    ctx c = {0};
    c.text = text;
    c.len = len;
    c.err = err;
    c.sc = calloc(1, sizeof *c.sc);
    int rc = c.sc ? 0 : oom(&c);
    if (rc == 0)
        rc = dup(&c, err->file, &c.sc->source);
    if (rc == 0)
        rc = parse_root(&c, root);
    free(c.bnames);
    free(c.cnames);
    json_decref(root);
    if (rc < 0) {
        sim_scenario_free(c.sc);
        return rc;
    }
    *out = c.sc;
    return 0;
}

int sim_scenario_load_file(const char *path, sim_scenario **out, sim_scenario_error *err)
{
    sim_scenario_error local;
    if (err == NULL)
        err = &local;
    init_error(err, path);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(err->text, sizeof err->text, "cannot open: %s", strerror(e));
        format_message(err);
        return fl_err_from_errno(e);
    }
    char *buf = malloc(MAX_FILE_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return FL_E_NOMEM;
    }
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    int rd_err = ferror(f);
    fclose(f);
    int rc;
    if (rd_err) {
        snprintf(err->text, sizeof err->text, "read error");
        format_message(err);
        rc = FL_E_IO;
    } else if (n > MAX_FILE_BYTES) {
        snprintf(err->text, sizeof err->text, "file is larger than %u bytes", MAX_FILE_BYTES);
        format_message(err);
        rc = FL_E_SCENARIO;
    } else {
        rc = sim_scenario_load_buffer(path, buf, n, out, err);
    }
    free(buf);
    return rc;
}

static void free_client(sim_client *cl)
{
    free(cl->name);
    free(cl->servers);
    free(cl->password);
    free(cl->publish_store.plugin);
    free(cl->publish_store.options);
    free(cl->bookmark_store.plugin);
    free(cl->bookmark_store.options);
    for (size_t i = 0; i < cl->npublish; i++) {
        free(cl->publish[i].topic);
        free(cl->publish[i].at_us);
    }
    free(cl->publish);
    for (size_t i = 0; i < cl->nsubscribe; i++) {
        free(cl->subscribe[i].topic);
        free(cl->subscribe[i].sub_id);
        free(cl->subscribe[i].bookmark);
        free(cl->subscribe[i].never);
    }
    free(cl->subscribe);
    free(cl->flush);
}

static void free_broker(sim_broker_spec *b)
{
    free(b->name);
    for (size_t i = 0; i < b->ntopics; i++)
        free(b->topics[i].name);
    free(b->topics);
    free(b->replicate_to);
    for (size_t i = 0; i < b->ncredentials; i++)
        free(b->credentials[i].password);
    free(b->credentials);
}

void sim_scenario_free(sim_scenario *sc)
{
    if (sc == NULL)
        return;
    free(sc->source);
    free(sc->name);
    free(sc->description);
    if (sc->brokers)
        for (size_t i = 0; i < sc->nbrokers; i++)
            free_broker(&sc->brokers[i]);
    free(sc->brokers);
    if (sc->clients)
        for (size_t i = 0; i < sc->nclients; i++)
            free_client(&sc->clients[i]);
    free(sc->clients);
    for (size_t i = 0; i < sc->nfaults; i++)
        free(sc->faults[i].from);
    free(sc->faults);
    for (size_t i = 0; i < sc->expect.nerrors; i++)
        free(sc->expect.errors[i].name);
    free(sc->expect.errors);
    free(sc->expect.delivered);
    free(sc);
}

/* ------------------------------------------------------------------ */
/* canonical JSON                                                       */

typedef struct jb {
    bool ok;
} jb;

static void put(jb *j, json_t *o, const char *k, json_t *v)
{
    if (o == NULL || v == NULL || json_object_set_new(o, k, v) < 0) {
        j->ok = false;
        if (o == NULL)
            json_decref(v);
    }
}

static void append_item(jb *j, json_t *a, json_t *v)
{
    if (a == NULL || v == NULL || json_array_append_new(a, v) < 0) {
        j->ok = false;
        if (a == NULL)
            json_decref(v);
    }
}

static json_t *jdur(uint64_t us)
{
    char b[48];
    sim_format_duration(us, b, sizeof b);
    return json_string(b);
}

static json_t *jsize(uint64_t bytes)
{
    char b[48];
    sim_format_size(bytes, b, sizeof b);
    return json_string(b);
}

static json_t *jenum(sim_enum_id which, int v)
{
    return json_string(sim_scenario_enum_name(which, v));
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *broker_to_json(jb *j, const sim_scenario *sc, const sim_broker_spec *b)
{
    json_t *o = json_object();
    json_t *topics = json_object();
    for (size_t i = 0; i < b->ntopics; i++) {
        json_t *t = json_object();
        put(j, t, "journal", json_boolean(b->topics[i].journal));
        put(j, topics, b->topics[i].name, t);
    }
    put(j, o, "topics", topics);
    json_t *jr = json_object();
    put(j, jr, "segment_size", jsize(b->journal.segment_size));
    put(j, jr, "segment_age", jdur(b->journal.segment_age_us));
    put(j, jr, "retention",
        b->journal.has_retention ? jdur(b->journal.retention_us) : json_string("none"));
    put(j, jr, "sync_interval", jdur(b->journal.sync_interval_us));
    put(j, jr, "recovery", jenum(SIM_ENUM_RECOVERY, b->journal.recovery));
    put(j, o, "journal", jr);
    put(j, o, "ack_interval", jdur(b->ack_interval_us));
    put(j, o, "heartbeat", jdur(b->heartbeat_us));
    put(j, o, "expired_bookmark", jenum(SIM_ENUM_EXPIRED, b->expired_bookmark));
    json_t *reps = json_array();
    for (size_t i = 0; i < b->nreplicate_to; i++) {
        const sim_replica *r = &b->replicate_to[i];
        json_t *ro = json_object();
        put(j, ro, "broker", json_string(sc->brokers[r->broker].name));
        put(j, ro, "mode", jenum(SIM_ENUM_REPL_MODE, r->mode));
        if (r->mode == SIM_REPL_ASYNC)
            put(j, ro, "lag", jdur(r->lag_us));
        append_item(j, reps, ro);
    }
    put(j, o, "replicate_to", reps);
    if (b->has_credentials) {
        json_t *cr = json_object();
        for (size_t i = 0; i < b->ncredentials; i++)
            put(j, cr, sc->clients[b->credentials[i].client].name,
                json_string(b->credentials[i].password));
        put(j, o, "credentials", cr);
    }
    put(j, o, "duplicate_logon", jenum(SIM_ENUM_DUP_LOGON, b->duplicate_logon));
    put(j, o, "down", json_boolean(b->down));
    return o;
}

static json_t *store_to_json(jb *j, const sim_store_cfg *s)
{
    json_t *o = json_object();
    put(j, o, "type", jenum(SIM_ENUM_STORE_TYPE, s->type));
    if (has_file_store(s)) {
        put(j, o, "sync", jenum(SIM_ENUM_SYNC, s->sync));
        put(j, o, "batch_window", jdur(s->batch_window_us));
        put(j, o, "recovery", jenum(SIM_ENUM_RECOVERY, s->recovery));
    }
    if (s->has_capacity)
        put(j, o, "capacity", jsize(s->capacity));
    if (s->plugin)
        put(j, o, "plugin", json_string(s->plugin));
    if (s->options)
        put(j, o, "options", json_string(s->options));
    return o;
}

static json_t *delay_to_json(jb *j, const sim_delay_cfg *d)
{
    json_t *o = json_object();
    put(j, o, "type", jenum(SIM_ENUM_DELAY_TYPE, d->type));
    if (d->type == SIM_DELAY_FIXED) {
        put(j, o, "delay", jdur(d->delay_us));
    } else {
        put(j, o, "initial", jdur(d->initial_us));
        put(j, o, "exponent", json_real(d->exponent));
        put(j, o, "max", jdur(d->max_us));
        put(j, o, "jitter", json_real(d->jitter));
    }
    put(j, o, "max_retry", d->has_max_retry ? jdur(d->max_retry_us) : json_string("none"));
    return o;
}

static json_t *times_to_json(jb *j, const uint64_t *t, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        append_item(j, a, jdur(t[i]));
    return a;
}

static json_t *publish_to_json(jb *j, const sim_publish *p)
{
    json_t *o = json_object();
    put(j, o, "topic", json_string(p->topic));
    put(j, o, "size", jsize(p->size));
    if (p->nat > 0) {
        put(j, o, "at", times_to_json(j, p->at_us, p->nat));
        return o;
    }
    char b[96];
    sim_format_rate(p->rate, b, sizeof b);
    put(j, o, "count", jint(p->count));
    put(j, o, "rate", json_string(b));
    put(j, o, "start", jdur(p->start_us));
    return o;
}

static json_t *subscribe_to_json(jb *j, const sim_subscribe *s)
{
    json_t *o = json_object();
    put(j, o, "topic", json_string(s->topic));
    put(j, o, "sub_id", json_string(s->sub_id));
    if (s->bookmark)
        put(j, o, "bookmark", json_string(s->bookmark));
    put(j, o, "start", jdur(s->start_us));
    if (s->has_stop)
        put(j, o, "stop", jdur(s->stop_us));
    if (s->discard == SIM_DISCARD_IMMEDIATE) {
        put(j, o, "discard", json_string("immediate"));
    } else {
        json_t *d = json_object();
        if (s->discard == SIM_DISCARD_DELAY) {
            put(j, d, "delay", jdur(s->discard_delay_us));
        } else {
            json_t *a = json_array();
            for (size_t i = 0; i < s->nnever; i++)
                append_item(j, a, jint(s->never[i]));
            put(j, d, "never", a);
        }
        put(j, o, "discard", d);
    }
    if (s->has_max_pending)
        put(j, o, "max_pending", jint(s->max_pending));
    put(j, o, "replay_fallback", jenum(SIM_ENUM_REPLAY_FALLBACK, s->replay_fallback));
    return o;
}

static json_t *client_to_json(jb *j, const sim_scenario *sc, const sim_client *cl)
{
    json_t *o = json_object();
    json_t *servers = json_array();
    for (size_t i = 0; i < cl->nservers; i++)
        append_item(j, servers, json_string(sc->brokers[cl->servers[i]].name));
    put(j, o, "servers", servers);
    if (cl->password)
        put(j, o, "password", json_string(cl->password));
    put(j, o, "publish_store", store_to_json(j, &cl->publish_store));
    put(j, o, "bookmark_store", store_to_json(j, &cl->bookmark_store));
    put(j, o, "delay", delay_to_json(j, &cl->delay));
    if (cl->has_heartbeat) {
        json_t *hb = json_object();
        put(j, hb, "interval", jdur(cl->hb_interval_us));
        put(j, hb, "idle_timeout", jdur(cl->hb_idle_timeout_us));
        put(j, o, "heartbeat", hb);
    }
    if (cl->has_connection_timeout)
        put(j, o, "connection_timeout", jdur(cl->connection_timeout_us));
    json_t *link = json_object();
    put(j, link, "latency", jdur(cl->link_latency_us));
    put(j, link, "jitter", jdur(cl->link_jitter_us));
    if (cl->has_bandwidth) {
        char b[96];
        sim_format_bandwidth(cl->bandwidth, b, sizeof b);
        put(j, link, "bandwidth", json_string(b));
    }
    put(j, o, "link", link);
    json_t *pubs = json_array();
    for (size_t i = 0; i < cl->npublish; i++)
        append_item(j, pubs, publish_to_json(j, &cl->publish[i]));
    put(j, o, "publish", pubs);
    json_t *subs = json_array();
    for (size_t i = 0; i < cl->nsubscribe; i++)
        append_item(j, subs, subscribe_to_json(j, &cl->subscribe[i]));
    put(j, o, "subscribe", subs);
    json_t *fl = json_array();
    for (size_t i = 0; i < cl->nflush; i++) {
        json_t *f = json_object();
        put(j, f, "at", jdur(cl->flush[i].at_us));
        put(j, f, "timeout", jdur(cl->flush[i].timeout_us));
        append_item(j, fl, f);
    }
    put(j, o, "flush", fl);
    return o;
}

static const char *target_name(const sim_scenario *sc, sim_target_sort sort, size_t i)
{
    return sort == SIM_TARGET_CLIENT ? sc->clients[i].name : sc->brokers[i].name;
}

static void fault_extras_to_json(jb *j, const sim_scenario *sc, const sim_fault *f, json_t *o)
{
    if (kind_takes(f->kind, "for") && f->has_for)
        put(j, o, "for", jdur(f->for_us));
    if (f->kind == SIM_FAULT_PARTITION && f->nfrom > 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < f->nfrom; i++)
            append_item(j, a, json_string(sc->brokers[f->from[i]].name));
        put(j, o, "from", a);
    }
    if (f->kind == SIM_FAULT_LATENCY) {
        put(j, o, "add", jdur(f->add_us));
        put(j, o, "jitter", jdur(f->jitter_us));
    }
    if (f->kind == SIM_FAULT_DROP_ACKS) {
        if (f->has_count)
            put(j, o, "count", jint(f->count));
        put(j, o, "type", jenum(SIM_ENUM_ACK_TYPE, f->ack_type));
    }
    if (kind_takes(f->kind, "restart_after"))
        put(j, o, "restart_after", jdur(f->restart_after_us));
    if (kind_takes(f->kind, "down_for"))
        put(j, o, "down_for", jdur(f->down_for_us));
    if (f->kind == SIM_FAULT_CORRUPT_FILE) {
        put(j, o, "file", jenum(SIM_ENUM_FILE, f->file));
        put(j, o, "mode", jenum(SIM_ENUM_CORRUPT_MODE, f->mode));
        put(j, o, "offset",
            f->offset_kind == SIM_OFFSET_BYTES    ? jint(f->offset)
            : f->offset_kind == SIM_OFFSET_MIDDLE ? json_string("middle")
                                                  : json_string("tail"));
        put(j, o, "bytes", jint(f->bytes));
    }
    if (f->kind == SIM_FAULT_IO_ERROR) {
        put(j, o, "op", jenum(SIM_ENUM_IO_OP, f->op));
        put(j, o, "nth", jint(f->nth));
        put(j, o, "persistent", json_boolean(f->persistent));
    }
    if (f->kind == SIM_FAULT_ADVANCE_CLOCK)
        put(j, o, "by", jdur(f->by_us));
    if (f->kind == SIM_FAULT_SLOW_SYNC)
        put(j, o, "add", jdur(f->add_us));
}

static json_t *fault_to_json(jb *j, const sim_scenario *sc, const sim_fault *f)
{
    json_t *o = json_object();
    put(j, o, "kind", jenum(SIM_ENUM_FAULT_KIND, f->kind));
    if (f->target_sort != SIM_TARGET_NONE)
        put(j, o, "target", json_string(target_name(sc, f->target_sort, f->target)));
    if (f->has_at) {
        put(j, o, "at", jdur(f->at_us));
    } else {
        json_t *on = json_object();
        put(j, on, "event", jenum(SIM_ENUM_EVENT, f->on_event));
        put(j, on, f->on_sort == SIM_TARGET_CLIENT ? "client" : "broker",
            json_string(target_name(sc, f->on_sort, f->on_index)));
        put(j, on, "count", jint(f->on_count));
        put(j, o, "on", on);
    }
    if (f->optional)
        put(j, o, "optional", json_true());
    fault_extras_to_json(j, sc, f, o);
    return o;
}

static json_t *checks_to_json(jb *j, uint32_t bits)
{
    json_t *a = json_array();
    for (int i = 0; i < SIM_CHECK_COUNT; i++)
        if (bits & (1u << i))
            append_item(j, a, json_string(check_names[i]));
    return a;
}

static json_t *expect_to_json(jb *j, const sim_scenario *sc, const sim_expect *ex)
{
    json_t *o = json_object();
    if (ex->has_checks)
        put(j, o, "checks", checks_to_json(j, ex->checks));
    put(j, o, "violations", checks_to_json(j, ex->violations));
    json_t *errs = json_array();
    for (size_t i = 0; i < ex->nerrors; i++) {
        const sim_expect_error *e = &ex->errors[i];
        json_t *eo = json_object();
        put(j, eo, "name", json_string(e->name));
        if (e->has_client)
            put(j, eo, "client", json_string(sc->clients[e->client].name));
        if (e->has_after)
            put(j, eo, "after", jdur(e->after_us));
        if (e->has_before)
            put(j, eo, "before", jdur(e->before_us));
        append_item(j, errs, eo);
    }
    put(j, o, "errors", errs);
    if (ex->has_delivered) {
        json_t *d = json_object();
        for (size_t i = 0; i < ex->ndelivered; i++) {
            const sim_expect_delivered *dv = &ex->delivered[i];
            const sim_client *cl = &sc->clients[dv->client];
            char key[2 * MAX_NAME_LEN + 2];
            snprintf(key, sizeof key, "%s/%s", cl->name, cl->subscribe[dv->subscribe].sub_id);
            put(j, d, key, jint(dv->count));
        }
        put(j, o, "delivered", d);
    }
    put(j, o, "recovery", jdur(ex->recovery_us));
    return o;
}

json_t *sim_scenario_to_json(const sim_scenario *sc)
{
    jb j = {true};
    json_t *o = json_object();
    char start[64];
    sim_format_rfc3339(sc->start_unix_us, start, sizeof start);
    put(&j, o, "name", json_string(sc->name));
    put(&j, o, "description", json_string(sc->description));
    put(&j, o, "seed", jint(sc->seed));
    put(&j, o, "start", json_string(start));
    put(&j, o, "duration", jdur(sc->duration_us));
    json_t *brokers = json_object();
    for (size_t i = 0; i < sc->nbrokers; i++)
        put(&j, brokers, sc->brokers[i].name, broker_to_json(&j, sc, &sc->brokers[i]));
    put(&j, o, "brokers", brokers);
    json_t *clients = json_object();
    for (size_t i = 0; i < sc->nclients; i++)
        put(&j, clients, sc->clients[i].name, client_to_json(&j, sc, &sc->clients[i]));
    put(&j, o, "clients", clients);
    json_t *faults = json_array();
    for (size_t i = 0; i < sc->nfaults; i++)
        append_item(&j, faults, fault_to_json(&j, sc, &sc->faults[i]));
    put(&j, o, "faults", faults);
    put(&j, o, "expect", expect_to_json(&j, sc, &sc->expect));
    if (!j.ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
