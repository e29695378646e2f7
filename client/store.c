/* Store registry and helpers: the built-in store lookup by name, the plugin
 * loader (dlopen + version checks), vtable checks, and the option-string
 * parser shared by the built-in stores (store_util.h).
 *
 * The lookup references the file and SQLite stores (pubstore_file.c,
 * bmstore_file.c, pubstore_sqlite.c, bmstore_sqlite.c) strongly on purpose:
 * a weak reference would not pull them out of the static library, and
 * "file" or "sqlite" would silently look up to NULL.
 */
#include "store_util.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/store.h"

/* --- built-in lookup -------------------------------------------------- */

const fl_pubstore_ops *fl_pubstore_builtin(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "none") == 0)
        return &fl_pubstore_none;
    if (strcmp(name, "memory") == 0)
        return &fl_pubstore_memory;
    if (strcmp(name, "file") == 0)
        return &fl_pubstore_file;
    if (strcmp(name, "sqlite") == 0)
        return &fl_pubstore_sqlite;
    return NULL;
}

const fl_bmstore_ops *fl_bmstore_builtin(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "memory") == 0)
        return &fl_bmstore_memory;
    if (strcmp(name, "file") == 0)
        return &fl_bmstore_file;
    if (strcmp(name, "sqlite") == 0)
        return &fl_bmstore_sqlite;
    return NULL; /* there is no "none" bookmark store */
}

/* --- errors ----------------------------------------------------------- */

int fl__store_errf(int code, char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* --- vtable checks ---------------------------------------------------- */

static int version_check(const char *what, const char *name, int version, char *err, size_t errcap)
{
    if (version < 1 || version > FL_STORE_ABI_VERSION)
        return fl__store_errf(FL_E_PLUGIN, err, errcap,
                              "%s '%s': ABI version %d not supported (this library: 1..%d)", what,
                              name ? name : "?", version, FL_STORE_ABI_VERSION);
    if (!name || !*name)
        return fl__store_errf(FL_E_PLUGIN, err, errcap, "%s: missing name", what);
    return 0;
}

#define CHECK_OP(ops, member, what)                                                                \
    do {                                                                                           \
        if (!(ops)->member)                                                                        \
            return fl__store_errf(FL_E_PLUGIN, err, errcap, "%s '%s': missing operation '%s'",     \
                                  what, (ops)->name, #member);                                     \
    } while (0)

int fl__pubstore_ops_check(const fl_pubstore_ops *ops, char *err, size_t errcap)
{
    if (!ops)
        return fl__store_errf(FL_E_PLUGIN, err, errcap, "publish store: NULL vtable");
    int rc = version_check("publish store", ops->name, ops->version, err, errcap);
    if (rc)
        return rc;
    CHECK_OP(ops, open, "publish store");
    CHECK_OP(ops, close, "publish store");
    CHECK_OP(ops, store, "publish store");
    CHECK_OP(ops, discard_up_to, "publish store");
    CHECK_OP(ops, replay, "publish store");
    CHECK_OP(ops, replay_one, "publish store");
    CHECK_OP(ops, unpersisted_count, "publish store");
    CHECK_OP(ops, last_sequence, "publish store");
    CHECK_OP(ops, lowest_unpersisted, "publish store");
    CHECK_OP(ops, flush, "publish store");
    CHECK_OP(ops, list_files, "publish store");
    CHECK_OP(ops, last_error, "publish store");
    return 0;
}

int fl__bmstore_ops_check(const fl_bmstore_ops *ops, char *err, size_t errcap)
{
    if (!ops)
        return fl__store_errf(FL_E_PLUGIN, err, errcap, "bookmark store: NULL vtable");
    int rc = version_check("bookmark store", ops->name, ops->version, err, errcap);
    if (rc)
        return rc;
    CHECK_OP(ops, open, "bookmark store");
    CHECK_OP(ops, close, "bookmark store");
    CHECK_OP(ops, log, "bookmark store");
    CHECK_OP(ops, discard, "bookmark store");
    CHECK_OP(ops, is_discarded, "bookmark store");
    CHECK_OP(ops, most_recent, "bookmark store");
    CHECK_OP(ops, persisted, "bookmark store");
    CHECK_OP(ops, prune, "bookmark store");
    CHECK_OP(ops, purge, "bookmark store");
    CHECK_OP(ops, flush, "bookmark store");
    CHECK_OP(ops, list_files, "bookmark store");
    CHECK_OP(ops, last_error, "bookmark store");
    return 0;
}

int fl__store_plugin_check(const fl_store_plugin *p, char *err, size_t errcap)
{
    if (!p)
        return fl__store_errf(FL_E_PLUGIN, err, errcap, "plugin entry returned NULL");
    int rc = version_check("plugin", p->name, p->version, err, errcap);
    if (rc)
        return rc;
    if (!p->pubstore && !p->bmstore)
        return fl__store_errf(FL_E_PLUGIN, err, errcap, "plugin '%s': offers no store", p->name);
    if (p->pubstore && (rc = fl__pubstore_ops_check(p->pubstore, err, errcap)) != 0)
        return rc;
    if (p->bmstore && (rc = fl__bmstore_ops_check(p->bmstore, err, errcap)) != 0)
        return rc;
    return 0;
}

int fl__store_env_check(const fl_store_env *env, bool need_rt, char *err, size_t errcap)
{
    if (!env)
        return fl__store_errf(FL_E_INVAL, err, errcap, "store env is NULL");
    if (env->version < 1 || env->version > FL_STORE_ABI_VERSION)
        return fl__store_errf(FL_E_BAD_VERSION, err, errcap,
                              "store env version %d not supported (this store: 1..%d)",
                              env->version, FL_STORE_ABI_VERSION);
    if (need_rt && (!env->rt || !env->rt->ops))
        return fl__store_errf(FL_E_INVAL, err, errcap, "store env has no runtime");
    return 0;
}

/* --- plugin loader ---------------------------------------------------- */

const fl_store_plugin *fl_store_plugin_load(const char *path, char *err, size_t errcap)
{
    if (!path || !*path) {
        fl__store_errf(FL_E_INVAL, err, errcap, "plugin path is empty");
        return NULL;
    }
    dlerror(); /* clear any stale message */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        fl__store_errf(FL_E_PLUGIN, err, errcap, "cannot load plugin '%s': %s", path,
                       why ? why : "unknown dlopen error");
        return NULL;
    }
    dlerror();
    void *sym = dlsym(h, FL_STORE_PLUGIN_SYMBOL);
    if (!sym) {
        fl__store_errf(FL_E_PLUGIN, err, errcap, "plugin '%s' does not export %s", path,
                       FL_STORE_PLUGIN_SYMBOL);
        dlclose(h);
        return NULL;
    }
    fl_store_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object -> function pointer, POSIX-style */
    const fl_store_plugin *p = entry();
    char why[256];
    if (fl__store_plugin_check(p, why, sizeof why) != 0) {
        fl__store_errf(FL_E_PLUGIN, err, errcap, "plugin '%s': %s", path, why);
        dlclose(h);
        return NULL;
    }
    if (err && errcap)
        err[0] = '\0';
    return p; /* h stays open for the life of the process, as store.h says */
}

/* --- option strings --------------------------------------------------- */

static const char *const sync_names[] = {"always", "batch", "none"};
static const char *const recovery_names[] = {"strict", "tolerate_torn_tail", "point_in_time",
                                             "salvage"};

const char *fl__store_sync_name(fl__store_sync s)
{
    return (unsigned)s < sizeof sync_names / sizeof sync_names[0] ? sync_names[s] : "?";
}

const char *fl__store_recovery_name(fl__store_recovery r)
{
    return (unsigned)r < sizeof recovery_names / sizeof recovery_names[0] ? recovery_names[r] : "?";
}

void fl__store_options_defaults(fl__store_options *out)
{
    out->sync = FL__SYNC_BATCH;
    out->batch_window_us = 1000;
    out->recovery = FL__RECOVERY_POINT_IN_TIME;
    out->capacity = 0;
    out->present = 0;
}

/* One key=value pair, located in the whole string for error offsets. */
typedef struct opt_pair {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
    size_t key_off; /* byte offset of the key in the option string */
    size_t val_off;
} opt_pair;

static bool span_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

static int pick_name(const opt_pair *p, const char *const *names, size_t count, int *out, char *err,
                     size_t errcap)
{
    for (size_t i = 0; i < count; i++) {
        if (span_is(p->val, p->val_len, names[i])) {
            *out = (int)i;
            return 0;
        }
    }
    return fl__store_errf(FL_E_INVAL, err, errcap,
                          "options: bad value '%.*s' for %.*s at offset %zu", (int)p->val_len,
                          p->val, (int)p->key_len, p->key, p->val_off);
}

/* Strict decimal u64: digits only, no sign, no leading zeros except "0". */
static int parse_u64(const opt_pair *p, uint64_t *out, char *err, size_t errcap)
{
    uint64_t v = 0;
    if (p->val_len > 1 && p->val[0] == '0')
        return fl__store_errf(FL_E_INVAL, err, errcap,
                              "options: leading zero in %.*s at offset %zu", (int)p->key_len,
                              p->key, p->val_off);
    for (size_t i = 0; i < p->val_len; i++) {
        char c = p->val[i];
        if (c < '0' || c > '9')
            return fl__store_errf(FL_E_INVAL, err, errcap,
                                  "options: %.*s wants a decimal number, got '%c' at offset %zu",
                                  (int)p->key_len, p->key, c, p->val_off + i);
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fl__store_errf(FL_E_OVERFLOW, err, errcap,
                                  "options: %.*s is too large at offset %zu", (int)p->key_len,
                                  p->key, p->val_off);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Apply one known key; 1 if the key is not one of ours. */
static int apply_pair(const opt_pair *p, fl__store_options *o, unsigned *bit, char *err,
                      size_t errcap)
{
    int idx = 0, rc;
    if (span_is(p->key, p->key_len, "sync")) {
        *bit = FL__OPT_SYNC;
        rc = pick_name(p, sync_names, 3, &idx, err, errcap);
        o->sync = (fl__store_sync)idx;
        return rc;
    }
    if (span_is(p->key, p->key_len, "recovery")) {
        *bit = FL__OPT_RECOVERY;
        rc = pick_name(p, recovery_names, 4, &idx, err, errcap);
        o->recovery = (fl__store_recovery)idx;
        return rc;
    }
    if (span_is(p->key, p->key_len, "batch_window")) {
        *bit = FL__OPT_BATCH_WINDOW;
        return parse_u64(p, &o->batch_window_us, err, errcap);
    }
    if (span_is(p->key, p->key_len, "capacity")) {
        *bit = FL__OPT_CAPACITY;
        rc = parse_u64(p, &o->capacity, err, errcap);
        if (rc == 0 && o->capacity == 0)
            return fl__store_errf(FL_E_INVAL, err, errcap,
                                  "options: capacity must be > 0 at offset %zu (omit it for "
                                  "unbounded)",
                                  p->val_off);
        return rc;
    }
    return 1;
}

/* Split s[off..end) into a pair; the segment has no ';'. */
static int split_pair(const char *s, size_t off, size_t end, opt_pair *p, char *err, size_t errcap)
{
    if (off == end)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: empty entry at offset %zu", off);
    const char *eq = memchr(s + off, '=', end - off);
    if (!eq)
        return fl__store_errf(FL_E_INVAL, err, errcap,
                              "options: expected key=value at offset %zu, got '%.*s'", off,
                              (int)(end - off), s + off);
    p->key = s + off;
    p->key_len = (size_t)(eq - p->key);
    p->key_off = off;
    p->val = eq + 1;
    p->val_off = (size_t)(p->val - s);
    p->val_len = end - p->val_off;
    if (p->key_len == 0)
        return fl__store_errf(FL_E_INVAL, err, errcap, "options: empty key at offset %zu", off);
    if (p->val_len == 0)
        return fl__store_errf(FL_E_INVAL, err, errcap,
                              "options: empty value for %.*s at offset %zu", (int)p->key_len,
                              p->key, p->val_off);
    return 0;
}

int fl__store_options_parse_ex(const char *s, fl__store_options *out, fl__store_option_fn unknown,
                               void *arg, char *err, size_t errcap)
{
    fl__store_options_defaults(out);
    if (err && errcap)
        err[0] = '\0';
    if (!s)
        return 0;
    size_t n = strlen(s), off = 0;
    while (off < n) {
        const char *semi = memchr(s + off, ';', n - off);
        size_t end = semi ? (size_t)(semi - s) : n;
        opt_pair p;
        int rc = split_pair(s, off, end, &p, err, errcap);
        if (rc)
            return rc;
        unsigned bit = 0;
        rc = apply_pair(&p, out, &bit, err, errcap);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (!unknown)
                return fl__store_errf(FL_E_INVAL, err, errcap,
                                      "options: unknown key '%.*s' at offset %zu", (int)p.key_len,
                                      p.key, p.key_off);
            rc = unknown(arg, p.key, p.key_len, p.val, p.val_len, err, errcap);
            if (rc)
                return rc < 0 ? rc : FL_E_INVAL;
        } else if (out->present & bit) {
            return fl__store_errf(FL_E_INVAL, err, errcap,
                                  "options: key '%.*s' given twice (offset %zu)", (int)p.key_len,
                                  p.key, p.key_off);
        }
        out->present |= bit;
        off = end + 1; /* a trailing ';' ends the loop with off == n + 1 */
    }
    return 0;
}

int fl__store_options_parse(const char *s, fl__store_options *out, char *err, size_t errcap)
{
    return fl__store_options_parse_ex(s, out, NULL, NULL, err, errcap);
}
