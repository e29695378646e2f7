/* Internal helpers shared by the built-in stores (none, memory, file, sqlite)
 * and the plugin loader: the option-string parser, ABI checks for a store's
 * vtable, and a small error formatter. Not installed; include as
 * "store_util.h" from client/ sources only.
 *
 * Option strings ("key=value;key=value") are what fl_store_env.options
 * carries. Grammar, strict like every other faultline parser:
 *   options := "" | pair (';' pair)* [';']
 *   pair    := key '=' value          (no whitespace anywhere)
 * Keys understood by the built-in stores:
 *   sync=always|batch|none            default batch
 *   batch_window=<microseconds>       default 1000, decimal, 0 allowed
 *   recovery=strict|tolerate_torn_tail|point_in_time|salvage
 *                                     default point_in_time
 *   capacity=<bytes>                  decimal > 0; absent = unbounded
 * Errors (all FL_E_INVAL, except a number too large for 64 bits which is
 * FL_E_OVERFLOW): an empty pair, a pair without '=', an empty key or value,
 * an unknown key, a key given twice, a bad value. The detail text names the
 * key and the byte offset, e.g. "options: unknown key 'syncc' at offset 0".
 */
#ifndef FAULTLINE_STORE_UTIL_H
#define FAULTLINE_STORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/store.h"

typedef enum fl__store_sync {
    FL__SYNC_ALWAYS = 0,
    FL__SYNC_BATCH,
    FL__SYNC_NONE,
} fl__store_sync;

typedef enum fl__store_recovery {
    FL__RECOVERY_STRICT = 0,
    FL__RECOVERY_TOLERATE_TORN_TAIL,
    FL__RECOVERY_POINT_IN_TIME,
    FL__RECOVERY_SALVAGE,
} fl__store_recovery;

/* Bits of fl__store_options.present: which keys the string named. */
enum {
    FL__OPT_SYNC = 1u << 0,
    FL__OPT_BATCH_WINDOW = 1u << 1,
    FL__OPT_RECOVERY = 1u << 2,
    FL__OPT_CAPACITY = 1u << 3,
};

typedef struct fl__store_options {
    fl__store_sync sync;         /* default FL__SYNC_BATCH */
    uint64_t batch_window_us;    /* default 1000 */
    fl__store_recovery recovery; /* default FL__RECOVERY_POINT_IN_TIME */
    uint64_t capacity;           /* bytes; 0 = unbounded (the default) */
    unsigned present;            /* FL__OPT_* bits of the keys given */
} fl__store_options;

/* Called for a key the parser does not know. Return 0 to accept it, or a
 * negative FL_E code (and optionally detail text in err) to reject it.
 * key/value are not NUL-terminated. */
typedef int (*fl__store_option_fn)(void *arg, const char *key, size_t key_len, const char *value,
                                   size_t value_len, char *err, size_t errcap);

/* Fill *out with the defaults. */
void fl__store_options_defaults(fl__store_options *out);

/* Parse `s` (NULL or "" = all defaults) into *out. Returns 0, or FL_E_INVAL
 * / FL_E_OVERFLOW with detail in err (may be NULL); *out is unspecified on
 * failure. Unknown keys are errors. */
int fl__store_options_parse(const char *s, fl__store_options *out, char *err, size_t errcap);

/* As fl__store_options_parse, but unknown keys go to `unknown` (when it is
 * NULL they are errors). For stores with keys of their own. */
int fl__store_options_parse_ex(const char *s, fl__store_options *out, fl__store_option_fn unknown,
                               void *arg, char *err, size_t errcap);

/* Names for messages: "always", "point_in_time", ... ("?" if out of range). */
const char *fl__store_sync_name(fl__store_sync s);
const char *fl__store_recovery_name(fl__store_recovery r);

/* Check a vtable against the ABI this library was built with: version in
 * 1..FL_STORE_ABI_VERSION, a name, every operation present. Returns 0 or
 * FL_E_PLUGIN with detail in err (may be NULL). */
int fl__pubstore_ops_check(const fl_pubstore_ops *ops, char *err, size_t errcap);
int fl__bmstore_ops_check(const fl_bmstore_ops *ops, char *err, size_t errcap);

/* Check what a plugin's entry point returned (NULL included): version,
 * name, at least one store, each store's vtable. 0 or FL_E_PLUGIN. */
int fl__store_plugin_check(const fl_store_plugin *p, char *err, size_t errcap);

/* Check an env handed to open(): non-NULL, version in 1..FL_STORE_ABI_VERSION,
 * and a runtime with its ops when need_rt. 0 or FL_E_INVAL / FL_E_BAD_VERSION
 * with detail in err. */
int fl__store_env_check(const fl_store_env *env, bool need_rt, char *err, size_t errcap);

/* snprintf into err when err && errcap; always returns `code`. */
int fl__store_errf(int code, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
