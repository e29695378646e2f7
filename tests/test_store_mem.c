/* Tests for the built-in in-memory stores (client/pubstore_mem.c,
 * client/bmstore_mem.c) and the store registry (client/store.c):
 *   - the whole store contract table (tests/lib/store_contract.h) against
 *     "none", "memory" and, when tests/plugins/memplugin.so was built next to
 *     this binary (../plugins/memplugin.so, or $FL_TEST_MEMPLUGIN), the same
 *     stores loaded through fl_store_plugin_load;
 *   - the option-string parser (tables of valid and invalid strings);
 *   - built-in lookup, vtable and plugin checks, the loader's error paths;
 *   - memory-store specifics: argument checks, exact capacity accounting,
 *     ring wrap-around, a randomized model check of the bookmark store and
 *     1M log+discard pairs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/store.h"
#include "lib/store_contract.h"
#include "lib/store_contract_sim.h"
#include "store_util.h"

/* ===================================================================== */
/* option strings                                                         */
/* ===================================================================== */

typedef struct opt_ok {
    const char *s;
    fl__store_sync sync;
    uint64_t window;
    fl__store_recovery recovery;
    uint64_t capacity;
    unsigned present;
} opt_ok;

static void test_options_valid(void **state)
{
    static const opt_ok cases[] = {
        {NULL, FL__SYNC_BATCH, 1000, FL__RECOVERY_POINT_IN_TIME, 0, 0},
        {"", FL__SYNC_BATCH, 1000, FL__RECOVERY_POINT_IN_TIME, 0, 0},
        {"sync=always", FL__SYNC_ALWAYS, 1000, FL__RECOVERY_POINT_IN_TIME, 0, FL__OPT_SYNC},
        {"sync=none;batch_window=0", FL__SYNC_NONE, 0, FL__RECOVERY_POINT_IN_TIME, 0,
         FL__OPT_SYNC | FL__OPT_BATCH_WINDOW},
        {"sync=batch;batch_window=250000;recovery=salvage;capacity=1048576;", FL__SYNC_BATCH,
         250000, FL__RECOVERY_SALVAGE, 1048576,
         FL__OPT_SYNC | FL__OPT_BATCH_WINDOW | FL__OPT_RECOVERY | FL__OPT_CAPACITY},
        {"recovery=strict", FL__SYNC_BATCH, 1000, FL__RECOVERY_STRICT, 0, FL__OPT_RECOVERY},
        {"recovery=tolerate_torn_tail", FL__SYNC_BATCH, 1000, FL__RECOVERY_TOLERATE_TORN_TAIL, 0,
         FL__OPT_RECOVERY},
        {"recovery=point_in_time", FL__SYNC_BATCH, 1000, FL__RECOVERY_POINT_IN_TIME, 0,
         FL__OPT_RECOVERY},
        {"capacity=18446744073709551615", FL__SYNC_BATCH, 1000, FL__RECOVERY_POINT_IN_TIME,
         UINT64_MAX, FL__OPT_CAPACITY},
        {"capacity=1;sync=always", FL__SYNC_ALWAYS, 1000, FL__RECOVERY_POINT_IN_TIME, 1,
         FL__OPT_SYNC | FL__OPT_CAPACITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl__store_options o;
        char err[128] = "x";
        int rc = fl__store_options_parse(cases[i].s, &o, err, sizeof err);
        if (rc != 0)
            fail_msg("case %zu \"%s\": %s: %s", i, cases[i].s ? cases[i].s : "(null)",
                     fl_err_name(rc), err);
        assert_string_equal(err, "");
        assert_int_equal(o.sync, cases[i].sync);
        assert_int_equal(o.batch_window_us, cases[i].window);
        assert_int_equal(o.recovery, cases[i].recovery);
        assert_int_equal(o.capacity, cases[i].capacity);
        assert_int_equal(o.present, cases[i].present);
    }
}

typedef struct opt_bad {
    const char *s;
    int code;
    const char *text; /* a substring of the detail */
} opt_bad;

static void test_options_invalid(void **state)
{
    static const opt_bad cases[] = {
        {";", FL_E_INVAL, "empty entry at offset 0"},
        {"sync=always;;capacity=1", FL_E_INVAL, "empty entry at offset 12"},
        {"sync", FL_E_INVAL, "expected key=value at offset 0"},
        {"sync=always;capacity", FL_E_INVAL, "expected key=value at offset 12"},
        {"=always", FL_E_INVAL, "empty key at offset 0"},
        {"sync=", FL_E_INVAL, "empty value for sync at offset 5"},
        {"sync=sometimes", FL_E_INVAL, "bad value 'sometimes' for sync at offset 5"},
        {"sync=ALWAYS", FL_E_INVAL, "bad value 'ALWAYS'"},
        {"sync=always ", FL_E_INVAL, "bad value 'always '"},
        {" sync=always", FL_E_INVAL, "unknown key ' sync' at offset 0"},
        {"syncc=always", FL_E_INVAL, "unknown key 'syncc' at offset 0"},
        {"sync=always;Sync=none", FL_E_INVAL, "unknown key 'Sync' at offset 12"},
        {"sync=always;sync=none", FL_E_INVAL, "'sync' given twice (offset 12)"},
        {"capacity=1;recovery=salvage;capacity=2", FL_E_INVAL, "'capacity' given twice"},
        {"capacity=0", FL_E_INVAL, "capacity must be > 0"},
        {"capacity=-1", FL_E_INVAL, "got '-' at offset 9"},
        {"capacity=01", FL_E_INVAL, "leading zero in capacity at offset 9"},
        {"capacity=18446744073709551616", FL_E_OVERFLOW, "capacity is too large at offset 9"},
        {"batch_window=1ms", FL_E_INVAL, "got 'm' at offset 14"},
        {"batch_window=1.5", FL_E_INVAL, "got '.' at offset 14"},
        {"recovery=point-in-time", FL_E_INVAL, "bad value 'point-in-time' for recovery"},
        {"recovery=", FL_E_INVAL, "empty value for recovery"},
        {"sync=always=none", FL_E_INVAL, "bad value 'always=none'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl__store_options o;
        char err[160] = "";
        int rc = fl__store_options_parse(cases[i].s, &o, err, sizeof err);
        if (rc != cases[i].code)
            fail_msg("case %zu \"%s\": got %s (%s), want %s", i, cases[i].s, fl_err_name(rc), err,
                     fl_err_name(cases[i].code));
        if (!strstr(err, cases[i].text))
            fail_msg("case %zu \"%s\": detail \"%s\" lacks \"%s\"", i, cases[i].s, err,
                     cases[i].text);
        /* a NULL error buffer is fine */
        assert_int_equal(fl__store_options_parse(cases[i].s, &o, NULL, 0), cases[i].code);
    }
}

typedef struct extra_keys {
    int seen;
    char last[32];
} extra_keys;

static int extra_fn(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                    char *err, size_t errcap)
{
    extra_keys *x = arg;
    if (klen == 4 && memcmp(key, "page", 4) == 0) {
        x->seen++;
        snprintf(x->last, sizeof x->last, "%.*s", (int)vlen, val);
        return 0;
    }
    return fl__store_errf(FL_E_INVAL, err, errcap, "no such key here");
}

static void test_options_extra_keys(void **state)
{
    fl__store_options o;
    extra_keys x = {0};
    char err[128];
    assert_int_equal(
        fl__store_options_parse_ex("sync=none;page=4096", &o, extra_fn, &x, err, sizeof err), 0);
    assert_int_equal(x.seen, 1);
    assert_string_equal(x.last, "4096");
    assert_int_equal(o.sync, FL__SYNC_NONE);
    assert_int_equal(o.present, FL__OPT_SYNC);
    assert_int_equal(fl__store_options_parse_ex("bogus=1", &o, extra_fn, &x, err, sizeof err),
                     FL_E_INVAL);
    assert_string_equal(err, "no such key here");
    assert_int_equal(fl__store_options_parse("page=1", &o, err, sizeof err), FL_E_INVAL);
    assert_string_equal(fl__store_sync_name(FL__SYNC_ALWAYS), "always");
    assert_string_equal(fl__store_recovery_name(FL__RECOVERY_TOLERATE_TORN_TAIL),
                        "tolerate_torn_tail");
    assert_string_equal(fl__store_sync_name((fl__store_sync)9), "?");
}

/* ===================================================================== */
/* lookup, checks, loader                                                 */
/* ===================================================================== */

static void test_builtin_lookup(void **state)
{
    assert_ptr_equal(fl_pubstore_builtin("none"), &fl_pubstore_none);
    assert_ptr_equal(fl_pubstore_builtin("memory"), &fl_pubstore_memory);
    assert_ptr_equal(fl_bmstore_builtin("memory"), &fl_bmstore_memory);
    assert_string_equal(fl_pubstore_builtin("none")->name, "none");
    assert_string_equal(fl_pubstore_builtin("memory")->name, "memory");
    assert_string_equal(fl_bmstore_builtin("memory")->name, "memory");
    assert_ptr_equal(fl_pubstore_builtin("file"), &fl_pubstore_file);
    assert_ptr_equal(fl_bmstore_builtin("file"), &fl_bmstore_file);
    assert_string_equal(fl_pubstore_builtin("file")->name, "file");
    assert_string_equal(fl_bmstore_builtin("file")->name, "file");
    assert_ptr_equal(fl_pubstore_builtin("sqlite"), &fl_pubstore_sqlite);
    assert_ptr_equal(fl_bmstore_builtin("sqlite"), &fl_bmstore_sqlite);
    assert_null(fl_bmstore_builtin("none")); /* no bookmark store keeps nothing */
    assert_null(fl_pubstore_builtin("Memory"));
    assert_null(fl_pubstore_builtin(""));
    assert_null(fl_pubstore_builtin(NULL));
    assert_null(fl_bmstore_builtin(NULL));
    assert_int_equal(fl__pubstore_ops_check(&fl_pubstore_none, NULL, 0), 0);
    assert_int_equal(fl__pubstore_ops_check(&fl_pubstore_memory, NULL, 0), 0);
    assert_int_equal(fl__bmstore_ops_check(&fl_bmstore_memory, NULL, 0), 0);
}

static void expect_plugin_err(int rc, const char *err, const char *text)
{
    assert_int_equal(rc, FL_E_PLUGIN);
    if (!strstr(err, text))
        fail_msg("detail \"%s\" lacks \"%s\"", err, text);
}

static void test_ops_checks(void **state)
{
    char err[160];
    fl_pubstore_ops p = fl_pubstore_memory;
    p.version = 0;
    expect_plugin_err(fl__pubstore_ops_check(&p, err, sizeof err), err,
                      "ABI version 0 not supported");
    p.version = FL_STORE_ABI_VERSION + 1;
    expect_plugin_err(fl__pubstore_ops_check(&p, err, sizeof err), err, "ABI version 2");
    p = fl_pubstore_memory;
    p.name = NULL;
    expect_plugin_err(fl__pubstore_ops_check(&p, err, sizeof err), err, "missing name");
    p = fl_pubstore_memory;
    p.replay_one = NULL;
    expect_plugin_err(fl__pubstore_ops_check(&p, err, sizeof err), err,
                      "publish store 'memory': missing operation 'replay_one'");
    p = fl_pubstore_memory;
    p.last_error = NULL;
    expect_plugin_err(fl__pubstore_ops_check(&p, err, sizeof err), err, "'last_error'");
    expect_plugin_err(fl__pubstore_ops_check(NULL, err, sizeof err), err, "NULL vtable");

    fl_bmstore_ops b = fl_bmstore_memory;
    b.most_recent = NULL;
    expect_plugin_err(fl__bmstore_ops_check(&b, err, sizeof err), err,
                      "bookmark store 'memory': missing operation 'most_recent'");
    b = fl_bmstore_memory;
    b.version = -1;
    expect_plugin_err(fl__bmstore_ops_check(&b, err, sizeof err), err, "ABI version -1");
}

static void test_plugin_checks(void **state)
{
    char err[160];
    fl_store_plugin ok = {FL_STORE_ABI_VERSION, "p", &fl_pubstore_memory, &fl_bmstore_memory};
    assert_int_equal(fl__store_plugin_check(&ok, err, sizeof err), 0);
    fl_store_plugin only_bm = {FL_STORE_ABI_VERSION, "p", NULL, &fl_bmstore_memory};
    assert_int_equal(fl__store_plugin_check(&only_bm, err, sizeof err), 0);

    expect_plugin_err(fl__store_plugin_check(NULL, err, sizeof err), err, "entry returned NULL");
    fl_store_plugin p = ok;
    p.version = 0;
    expect_plugin_err(fl__store_plugin_check(&p, err, sizeof err), err,
                      "plugin 'p': ABI version 0 not supported");
    p.version = FL_STORE_ABI_VERSION + 1;
    expect_plugin_err(fl__store_plugin_check(&p, err, sizeof err), err,
                      "ABI version 2 not supported");
    p = ok;
    p.name = "";
    expect_plugin_err(fl__store_plugin_check(&p, err, sizeof err), err, "missing name");
    p = ok;
    p.pubstore = NULL;
    p.bmstore = NULL;
    expect_plugin_err(fl__store_plugin_check(&p, err, sizeof err), err, "offers no store");
    fl_pubstore_ops bad = fl_pubstore_memory;
    bad.version = 7;
    p = ok;
    p.pubstore = &bad;
    expect_plugin_err(fl__store_plugin_check(&p, err, sizeof err), err,
                      "publish store 'memory': ABI version 7");
}

static void test_plugin_load_errors(void **state)
{
    char err[512];
    assert_null(fl_store_plugin_load("/nonexistent/dir/plugin.so", err, sizeof err));
    if (!strstr(err, "cannot load plugin '/nonexistent/dir/plugin.so'"))
        fail_msg("missing file: \"%s\"", err);
    /* a real shared object without the entry symbol */
    assert_null(fl_store_plugin_load("libm.so.6", err, sizeof err));
    if (!strstr(err, "does not export fl_store_plugin_v1"))
        fail_msg("libm: \"%s\"", err);
    /* not a shared object at all */
    assert_null(fl_store_plugin_load("/etc/hostname", err, sizeof err));
    assert_true(strstr(err, "cannot load plugin") != NULL);
    assert_null(fl_store_plugin_load("", err, sizeof err));
    assert_string_equal(err, "plugin path is empty");
    assert_null(fl_store_plugin_load(NULL, err, sizeof err));
    assert_null(fl_store_plugin_load("libm.so.6", NULL, 0));
}

/* Where main found memplugin.so ("" if it was not built). */
typedef struct plugin_path {
    char path[1024];
} plugin_path;

static void test_plugin_load_memplugin(void **state)
{
    const plugin_path *pp = *state;
    if (!pp->path[0])
        skip(); /* build it with the rule in tests/plugins/memplugin.c */
    char err[512] = "x";
    const fl_store_plugin *p = fl_store_plugin_load(pp->path, err, sizeof err);
    if (!p)
        fail_msg("load %s: %s", pp->path, err);
    assert_string_equal(err, "");
    assert_string_equal(p->name, "memplugin");
    assert_int_equal(p->version, FL_STORE_ABI_VERSION);
    assert_non_null(p->pubstore);
    assert_non_null(p->bmstore);
    assert_string_equal(p->pubstore->name, "memory");
    /* a second load gives the same (still loaded) plugin */
    assert_ptr_equal(fl_store_plugin_load(pp->path, err, sizeof err), p);
}

/* ===================================================================== */
/* memory stores: specifics                                               */
/* ===================================================================== */

static fl_store_env plain_env(const char *options)
{
    fl_store_env env = {
        .version = FL_STORE_ABI_VERSION, .dir = "x", .client_name = "c", .options = options};
    return env;
}

static void test_open_errors(void **state)
{
    const fl_pubstore_ops *pubs[] = {&fl_pubstore_none, &fl_pubstore_memory};
    for (size_t i = 0; i < 2; i++) {
        void *self = (void *)1;
        char err[160];
        fl_store_env env = plain_env("sync=maybe");
        assert_int_equal(pubs[i]->open(&env, &self, NULL, err, sizeof err), FL_E_INVAL);
        assert_ptr_equal(self, (void *)1); /* untouched on failure */
        assert_non_null(strstr(err, "bad value 'maybe' for sync"));
        env = plain_env(NULL);
        env.version = 0;
        assert_int_equal(pubs[i]->open(&env, &self, NULL, err, sizeof err), FL_E_BAD_VERSION);
        env.version = FL_STORE_ABI_VERSION + 1;
        assert_int_equal(pubs[i]->open(&env, &self, NULL, err, sizeof err), FL_E_BAD_VERSION);
        assert_int_equal(pubs[i]->open(NULL, &self, NULL, err, sizeof err), FL_E_INVAL);
        env = plain_env(NULL);
        assert_int_equal(pubs[i]->open(&env, NULL, NULL, NULL, 0), FL_E_INVAL);
        fl_store_recovery rec;
        memset(&rec, 0xff, sizeof rec);
        assert_int_equal(pubs[i]->open(&env, &self, &rec, err, sizeof err), 0);
        assert_int_equal(rec.records_dropped, 0);
        assert_string_equal(rec.text, "");
        pubs[i]->close(self);
    }
    void *self = NULL;
    char err[160];
    fl_store_env env = plain_env("recovery=fast");
    assert_int_equal(fl_bmstore_memory.open(&env, &self, NULL, err, sizeof err), FL_E_INVAL);
    assert_null(self);
    env.version = 0;
    assert_int_equal(fl_bmstore_memory.open(&env, &self, NULL, err, sizeof err), FL_E_BAD_VERSION);
    fl_pubstore_none.close(NULL);
    fl_pubstore_memory.close(NULL);
    fl_bmstore_memory.close(NULL);
}

static void *open_pub(const fl_pubstore_ops *ops, const char *options)
{
    fl_store_env env = plain_env(options);
    void *self = NULL;
    char err[160];
    int rc = ops->open(&env, &self, NULL, err, sizeof err);
    if (rc)
        fail_msg("open %s: %s", ops->name, err);
    return self;
}

static void test_pub_bad_messages(void **state)
{
    const fl_pubstore_ops *ops = &fl_pubstore_memory;
    void *s = open_pub(ops, NULL);
    assert_string_equal(ops->last_error(s), "");
    assert_int_equal(ops->store(s, NULL), FL_E_INVAL);
    assert_true(strlen(ops->last_error(s)) > 0);
    fl_pub_msg m = {.sequence = 1, .topic = NULL, .topic_len = 3};
    assert_int_equal(ops->store(s, &m), FL_E_INVAL);
    m = (fl_pub_msg){.sequence = 1, .topic = "t", .topic_len = 1, .payload_len = 2};
    assert_int_equal(ops->store(s, &m), FL_E_INVAL);
    m = (fl_pub_msg){.sequence = 1}; /* empty topic and payload are fine */
    assert_int_equal(ops->store(s, &m), 0);
    m.sequence = 1;
    assert_int_equal(ops->store(s, &m), FL_E_INVAL);
    assert_non_null(strstr(ops->last_error(s), "sequence 1 is not above the last sequence 1"));
    assert_int_equal(ops->replay(s, NULL, NULL), FL_E_INVAL);
    assert_int_equal(ops->replay_one(s, 1, NULL, NULL), FL_E_INVAL);
    assert_int_equal(ops->unpersisted_count(s), 1);
    ops->close(s);
}

static void test_pub_capacity_exact(void **state)
{
    const fl_pubstore_ops *ops = &fl_pubstore_memory;
    void *s = open_pub(ops, "capacity=10");
    static const uint8_t pay[16] = {0};
    fl_pub_msg m = {
        .sequence = 1, .topic = "abc", .topic_len = 3, .payload = pay, .payload_len = 8};
    assert_int_equal(ops->store(s, &m), FL_E_FULL); /* 11 bytes never fit */
    assert_non_null(strstr(ops->last_error(s), "capacity 10 bytes"));
    m.payload_len = 7; /* exactly 10 */
    assert_int_equal(ops->store(s, &m), 0);
    m.sequence = 2;
    m.payload_len = 0;
    m.topic_len = 1;
    assert_int_equal(ops->store(s, &m), FL_E_FULL);
    m.topic_len = 0; /* zero bytes always fit */
    assert_int_equal(ops->store(s, &m), 0);
    m.sequence = 3;
    m.topic_len = 1;
    assert_int_equal(ops->discard_up_to(s, 1), 0);
    assert_int_equal(ops->store(s, &m), 0);
    assert_int_equal(ops->unpersisted_count(s), 2);
    ops->close(s);

    /* "none" ignores capacity: it holds nothing */
    s = open_pub(&fl_pubstore_none, "capacity=1");
    m.sequence = 9;
    m.payload_len = 16;
    assert_int_equal(fl_pubstore_none.store(s, &m), 0);
    assert_int_equal(fl_pubstore_none.last_sequence(s), 9);
    fl_pubstore_none.close(s);
}

typedef struct seq_sink {
    uint64_t last;
    uint64_t n;
    uint64_t sum;
} seq_sink;

static int sink_fn(void *arg, const fl_pub_msg *m)
{
    seq_sink *k = arg;
    assert_true(m->sequence > k->last);
    assert_int_equal(m->payload_len, 8);
    uint64_t v;
    memcpy(&v, m->payload, 8);
    assert_int_equal(v, m->sequence * 3);
    k->last = m->sequence;
    k->n++;
    k->sum += m->sequence;
    return 0;
}

/* Interleave stores and discards so the ring wraps many times; check
 * replay_one across the wrap. */
static void test_pub_ring_wraps(void **state)
{
    const fl_pubstore_ops *ops = &fl_pubstore_memory;
    void *s = open_pub(ops, NULL);
    uint64_t next = 1, discarded = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 50; i++, next++) {
            uint64_t v = next * 3;
            fl_pub_msg m = {.sequence = next,
                            .topic = "w",
                            .topic_len = 1,
                            .payload = (const uint8_t *)&v,
                            .payload_len = 8};
            assert_int_equal(ops->store(s, &m), 0);
        }
        discarded += 47;
        assert_int_equal(ops->discard_up_to(s, discarded), 0);
        assert_int_equal(ops->unpersisted_count(s), next - 1 - discarded);
        assert_int_equal(ops->lowest_unpersisted(s), discarded + 1);
        for (uint64_t q = discarded + 1; q < next; q += 7) {
            seq_sink k = {.last = q - 1};
            assert_int_equal(ops->replay_one(s, q, sink_fn, &k), 0);
            assert_int_equal(k.n, 1);
        }
        seq_sink k = {0};
        assert_int_equal(ops->replay_one(s, discarded, sink_fn, &k), FL_E_NOT_FOUND);
    }
    seq_sink all = {0};
    assert_int_equal(ops->replay(s, sink_fn, &all), 0);
    assert_int_equal(all.n, next - 1 - discarded);
    assert_int_equal(all.last, next - 1);
    ops->close(s); /* frees what is still held */
}

static void *open_bm(void)
{
    fl_store_env env = plain_env(NULL);
    void *self = NULL;
    assert_int_equal(fl_bmstore_memory.open(&env, &self, NULL, NULL, 0), 0);
    return self;
}

static void test_bm_bad_args(void **state)
{
    const fl_bmstore_ops *ops = &fl_bmstore_memory;
    void *s = open_bm();
    fl_store_bookmark b = {.publisher = 0, .sequence = 1, .ts_us = -1};
    assert_int_equal(ops->log(s, "s", &b), FL_E_INVAL); /* publisher 0 is EPOCH/NOW */
    assert_non_null(strstr(ops->last_error(s), "publisher 0"));
    b.publisher = 5;
    b.ts_us = INT64_MAX; /* beyond year 9999: no text for it */
    assert_int_equal(ops->log(s, "s", &b), FL_E_INVAL);
    assert_int_equal(ops->discard(s, "s", &b), FL_E_INVAL);
    b.ts_us = -1;
    assert_int_equal(ops->log(s, NULL, &b), FL_E_INVAL);
    assert_int_equal(ops->log(s, "s", NULL), FL_E_INVAL);
    assert_int_equal(ops->is_discarded(s, NULL, &b), FL_E_INVAL);
    assert_int_equal(ops->persisted(s, NULL, &b), FL_E_INVAL);
    char buf[8];
    assert_int_equal(ops->most_recent(s, NULL, buf, sizeof buf), FL_E_INVAL);
    assert_int_equal(ops->most_recent(s, "s", NULL, 4), FL_E_INVAL);
    assert_int_equal(ops->most_recent(s, "s", NULL, 0), FL_E_OVERFLOW);
    /* failed calls changed nothing */
    assert_int_equal(ops->most_recent(s, "s", buf, sizeof buf), 1);
    assert_string_equal(buf, "0");
    b.ts_us = -12345;                         /* any negative time means "unknown" */
    assert_int_equal(ops->log(s, "", &b), 0); /* an empty sub id is a sub id */
    assert_int_equal(ops->discard(s, "", &b), 0);
    assert_int_equal(ops->most_recent(s, "", buf, sizeof buf), 4);
    assert_string_equal(buf, "5|1|");
    ops->close(s);
}

/* A naive model of one sub's bookmark store, for a randomized comparison. */
#define MODEL_PUBS 3
#define MODEL_SEQS 400

typedef struct model {
    uint64_t highest[MODEL_PUBS];
    uint8_t logged[MODEL_PUBS][MODEL_SEQS + 1];
    uint8_t discarded[MODEL_PUBS][MODEL_SEQS + 1];
} model;

static const uint64_t model_ids[MODEL_PUBS] = {300, 20, 1000}; /* not sorted on purpose */

static int model_log(model *m, int p, uint64_t s)
{
    if (s > m->highest[p]) {
        m->highest[p] = s;
        m->logged[p][s] = 1;
        return 0;
    }
    return m->logged[p][s] && !m->discarded[p][s] ? 0 : 1;
}

static void model_recent(const model *m, char *out, size_t cap)
{
    static const int order[MODEL_PUBS] = {1, 0, 2}; /* ids ascending: 20, 300, 1000 */
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < MODEL_PUBS; k++) {
        int p = order[k];
        if (!m->highest[p])
            continue;
        uint64_t point = 0;
        for (uint64_t s = 1; s <= m->highest[p]; s++) {
            if (!m->logged[p][s])
                continue;
            if (!m->discarded[p][s])
                break;
            point = s;
        }
        if (!point) {
            snprintf(out, cap, "0");
            return;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRIu64 "|%" PRIu64 "|", len ? "," : "",
                                model_ids[p], point);
    }
    if (!len)
        snprintf(out, cap, "0");
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_bm_model(void **state)
{
    const fl_bmstore_ops *ops = &fl_bmstore_memory;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        void *s = open_bm();
        model *m = calloc(1, sizeof *m);
        assert_non_null(m);
        uint64_t rng = seed;
        uint64_t next[MODEL_PUBS] = {1, 1, 1};
        for (int step = 0; step < 3000; step++) {
            int p = (int)(splitmix(&rng) % MODEL_PUBS);
            uint64_t r = splitmix(&rng) % 10;
            fl_store_bookmark b = {.publisher = model_ids[p], .ts_us = -1};
            if (r < 4 && next[p] <= MODEL_SEQS) { /* a new message, maybe after a gap */
                next[p] += splitmix(&rng) % 3 == 0;
                if (next[p] > MODEL_SEQS)
                    continue;
                b.sequence = next[p]++;
                int want = model_log(m, p, b.sequence);
                assert_int_equal(ops->log(s, "sub", &b), want);
            } else if (r < 8 && m->highest[p]) { /* discard something seen or not */
                b.sequence = 1 + splitmix(&rng) % m->highest[p];
                assert_int_equal(ops->discard(s, "sub", &b), 0);
                if (m->logged[p][b.sequence])
                    m->discarded[p][b.sequence] = 1;
            } else if (m->highest[p]) { /* a redelivery */
                b.sequence = 1 + splitmix(&rng) % (m->highest[p] + 2);
                if (b.sequence > MODEL_SEQS)
                    continue;
                int isd = b.sequence > m->highest[p] ? 0 : model_log(m, p, b.sequence);
                assert_int_equal(ops->is_discarded(s, "sub", &b), isd);
                int want = model_log(m, p, b.sequence);
                assert_int_equal(ops->log(s, "sub", &b), want);
                if (next[p] <= m->highest[p])
                    next[p] = m->highest[p] + 1;
            }
            char got[256], want[256];
            assert_true(ops->most_recent(s, "sub", got, sizeof got) > 0);
            model_recent(m, want, sizeof want);
            if (strcmp(got, want) != 0)
                fail_msg("seed %" PRIu64 " step %d: most_recent \"%s\", model \"%s\"", seed, step,
                         got, want);
        }
        free(m);
        ops->close(s);
    }
}

/* 1M in-order log+discard pairs (the subscriber's steady state), then a
 * burst of 100k outstanding discarded newest-first. O(1)/O(log n) per
 * operation keeps this well under a second in a debug build. */
static void test_bm_million(void **state)
{
    const fl_bmstore_ops *ops = &fl_bmstore_memory;
    void *s = open_bm();
    fl_store_bookmark b = {.publisher = 42, .ts_us = -1};
    for (uint64_t q = 1; q <= 1000000; q++) {
        b.sequence = q;
        if (ops->log(s, "s", &b) != 0 || ops->discard(s, "s", &b) != 0)
            fail_msg("pair %" PRIu64 " failed", q);
    }
    char buf[64];
    assert_int_equal(ops->most_recent(s, "s", buf, sizeof buf), 11);
    assert_string_equal(buf, "42|1000000|");
    for (uint64_t q = 1000001; q <= 1100000; q++) {
        b.sequence = q;
        assert_int_equal(ops->log(s, "s", &b), 0);
    }
    for (uint64_t q = 1100000; q > 1000001; q--) {
        b.sequence = q;
        assert_int_equal(ops->discard(s, "s", &b), 0);
    }
    assert_int_equal(ops->most_recent(s, "s", buf, sizeof buf), 11);
    assert_string_equal(buf, "42|1000000|");
    b.sequence = 1000001;
    assert_int_equal(ops->discard(s, "s", &b), 0);
    assert_int_equal(ops->most_recent(s, "s", buf, sizeof buf), 11);
    assert_string_equal(buf, "42|1100000|");
    ops->close(s);
}

/* ===================================================================== */
/* a journaled memory store: exercises the contract's reopen/crash cases  */
/* ===================================================================== */

/* A test double that makes the memory stores durable: every mutating call
 * is appended to "<dir>/journal" through the runtime's file layer and
 * synced before it returns; open replays the journal into a fresh memory
 * store. Its purpose is to run the contract's FL_SC_DURABLE and FL_SC_CRASH
 * cases (close/reopen, simulated power loss) against something that should
 * pass them, so those cases are known to work before the file stores use
 * them. Records: op byte, then u64 fields (host order) and byte strings. */
typedef struct jstore {
    const fl_runtime *rt;
    fl_file *f;
    uint64_t off;
    void *mem;
} jstore;

static int j_append(jstore *j, const void *rec, size_t len)
{
    const fl_runtime_ops *o = j->rt->ops;
    int rc = o->file_write(j->rt->self, j->f, j->off, rec, len);
    if (rc == 0)
        rc = o->file_sync(j->rt->self, j->f);
    if (rc == 0)
        j->off += len;
    return rc;
}

static size_t put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
    return 8;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

typedef int (*j_apply_fn)(jstore *j, const uint8_t *rec, size_t avail, size_t *used);

static int j_open(const fl_store_env *env, jstore **out, void *mem, j_apply_fn apply)
{
    jstore *j = calloc(1, sizeof *j);
    if (!j)
        return FL_E_NOMEM;
    j->rt = env->rt;
    j->mem = mem;
    char path[256];
    snprintf(path, sizeof path, "%s/journal", env->dir);
    const fl_runtime_ops *o = env->rt->ops;
    int rc =
        o->file_open(env->rt->self, path, FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE, &j->f);
    if (rc == 0)
        rc = o->dir_sync(env->rt->self, env->dir);
    uint64_t size = 0;
    if (rc == 0)
        rc = o->file_size(env->rt->self, j->f, &size);
    uint8_t *buf = rc == 0 ? malloc(size + 1) : NULL;
    size_t got = 0;
    if (rc == 0 && !buf)
        rc = FL_E_NOMEM;
    if (rc == 0)
        rc = o->file_read(env->rt->self, j->f, 0, buf, size, &got);
    size_t pos = 0, used = 0;
    while (rc == 0 && pos < got && apply(j, buf + pos, got - pos, &used) == 0)
        pos += used;
    free(buf);
    j->off = pos; /* a torn tail is overwritten */
    if (rc) {
        if (j->f)
            o->file_close(env->rt->self, j->f);
        free(j);
        return rc;
    }
    *out = j;
    return 0;
}

static void j_close(jstore *j)
{
    j->rt->ops->file_close(j->rt->self, j->f);
    free(j);
}

/* --- publish --- */

static int jp_apply(jstore *j, const uint8_t *r, size_t avail, size_t *used)
{
    if (avail >= 9 && r[0] == 'D') {
        *used = 9;
        return fl_pubstore_memory.discard_up_to(j->mem, get_u64(r + 1));
    }
    if (avail < 25 || r[0] != 'S')
        return -1;
    uint64_t tl = get_u64(r + 9), pl = get_u64(r + 17);
    if (tl > avail - 25 || pl > avail - 25 - tl)
        return -1;
    fl_pub_msg m = {.sequence = get_u64(r + 1),
                    .topic = (const char *)r + 25,
                    .topic_len = tl,
                    .payload = r + 25 + tl,
                    .payload_len = pl};
    *used = 25 + tl + pl;
    return fl_pubstore_memory.store(j->mem, &m);
}

static int jp_open(const fl_store_env *env, void **self, fl_store_recovery *rec, char *err,
                   size_t errcap)
{
    void *mem;
    int rc = fl_pubstore_memory.open(env, &mem, rec, err, errcap);
    if (rc)
        return rc;
    jstore *j;
    rc = j_open(env, &j, mem, jp_apply);
    if (rc) {
        fl_pubstore_memory.close(mem);
        return rc;
    }
    *self = j;
    return 0;
}

static void jp_close(void *self)
{
    jstore *j = self;
    fl_pubstore_memory.close(j->mem);
    j_close(j);
}

static int jp_store(void *self, const fl_pub_msg *m)
{
    jstore *j = self;
    int rc = fl_pubstore_memory.store(j->mem, m);
    if (rc)
        return rc;
    size_t len = 25 + m->topic_len + m->payload_len;
    uint8_t *rec = malloc(len);
    assert_non_null(rec);
    rec[0] = 'S';
    put_u64(rec + 1, m->sequence);
    put_u64(rec + 9, m->topic_len);
    put_u64(rec + 17, m->payload_len);
    if (m->topic_len)
        memcpy(rec + 25, m->topic, m->topic_len);
    if (m->payload_len)
        memcpy(rec + 25 + m->topic_len, m->payload, m->payload_len);
    rc = j_append(j, rec, len);
    free(rec);
    return rc;
}

static int jp_discard_up_to(void *self, uint64_t seq)
{
    jstore *j = self;
    uint8_t rec[9] = {'D'};
    put_u64(rec + 1, seq);
    int rc = fl_pubstore_memory.discard_up_to(j->mem, seq);
    return rc ? rc : j_append(j, rec, sizeof rec);
}

static int jp_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    return fl_pubstore_memory.replay(((jstore *)self)->mem, fn, arg);
}

static int jp_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    return fl_pubstore_memory.replay_one(((jstore *)self)->mem, seq, fn, arg);
}

static uint64_t jp_count(void *self)
{
    return fl_pubstore_memory.unpersisted_count(((jstore *)self)->mem);
}

static uint64_t jp_last(void *self)
{
    return fl_pubstore_memory.last_sequence(((jstore *)self)->mem);
}

static uint64_t jp_lowest(void *self)
{
    return fl_pubstore_memory.lowest_unpersisted(((jstore *)self)->mem);
}

static int jp_flush(void *self)
{
    return 0;
}

static int j_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return fn(arg, "journal");
}

static const char *jp_last_error(void *self)
{
    return fl_pubstore_memory.last_error(((jstore *)self)->mem);
}

static const fl_pubstore_ops journaled_pub = {
    FL_STORE_ABI_VERSION,
    "journaled",
    jp_open,
    jp_close,
    jp_store,
    jp_discard_up_to,
    jp_replay,
    jp_replay_one,
    jp_count,
    jp_last,
    jp_lowest,
    jp_flush,
    j_list_files,
    jp_last_error,
};

/* --- bookmark --- */

/* 'L' log / 'X' discard: sublen, sub, publisher, sequence, ts.
 * 'P' purge: sublen (UINT64_MAX: all), sub. */
static int jb_apply(jstore *j, const uint8_t *r, size_t avail, size_t *used)
{
    if (avail < 9)
        return -1;
    uint64_t sl = get_u64(r + 1);
    char sub[128];
    if (r[0] == 'P') {
        if (sl == UINT64_MAX) {
            *used = 9;
            return fl_bmstore_memory.purge(j->mem, NULL);
        }
        if (sl >= sizeof sub || sl > avail - 9)
            return -1;
        memcpy(sub, r + 9, sl);
        sub[sl] = '\0';
        *used = 9 + sl;
        return fl_bmstore_memory.purge(j->mem, sub);
    }
    if ((r[0] != 'L' && r[0] != 'X') || sl >= sizeof sub || avail < 33 || sl > avail - 33)
        return -1;
    memcpy(sub, r + 9, sl);
    sub[sl] = '\0';
    const uint8_t *q = r + 9 + sl;
    fl_store_bookmark b = {get_u64(q), get_u64(q + 8), (int64_t)get_u64(q + 16)};
    *used = 33 + sl;
    int rc = r[0] == 'L' ? fl_bmstore_memory.log(j->mem, sub, &b)
                         : fl_bmstore_memory.discard(j->mem, sub, &b);
    return rc < 0 ? rc : 0;
}

static int jb_open(const fl_store_env *env, void **self, fl_store_recovery *rec, char *err,
                   size_t errcap)
{
    void *mem;
    int rc = fl_bmstore_memory.open(env, &mem, rec, err, errcap);
    if (rc)
        return rc;
    jstore *j;
    rc = j_open(env, &j, mem, jb_apply);
    if (rc) {
        fl_bmstore_memory.close(mem);
        return rc;
    }
    *self = j;
    return 0;
}

static void jb_close(void *self)
{
    jstore *j = self;
    fl_bmstore_memory.close(j->mem);
    j_close(j);
}

static int jb_record(jstore *j, char op, const char *sub, const fl_store_bookmark *b)
{
    uint8_t rec[200];
    size_t sl = strlen(sub);
    assert_true(sl < 128);
    rec[0] = (uint8_t)op;
    put_u64(rec + 1, sl);
    memcpy(rec + 9, sub, sl);
    put_u64(rec + 9 + sl, b->publisher);
    put_u64(rec + 17 + sl, b->sequence);
    put_u64(rec + 25 + sl, (uint64_t)b->ts_us);
    return j_append(j, rec, 33 + sl);
}

static int jb_log(void *self, const char *sub, const fl_store_bookmark *b)
{
    jstore *j = self;
    int rc = fl_bmstore_memory.log(j->mem, sub, b);
    if (rc != 0)
        return rc;
    rc = jb_record(j, 'L', sub, b);
    return rc;
}

static int jb_discard(void *self, const char *sub, const fl_store_bookmark *b)
{
    jstore *j = self;
    int rc = fl_bmstore_memory.discard(j->mem, sub, b);
    return rc ? rc : jb_record(j, 'X', sub, b);
}

static int jb_is_discarded(void *self, const char *sub, const fl_store_bookmark *b)
{
    return fl_bmstore_memory.is_discarded(((jstore *)self)->mem, sub, b);
}

static int jb_most_recent(void *self, const char *sub, char *buf, size_t cap)
{
    return fl_bmstore_memory.most_recent(((jstore *)self)->mem, sub, buf, cap);
}

static int jb_persisted(void *self, const char *sub, const fl_store_bookmark *b)
{
    return fl_bmstore_memory.persisted(((jstore *)self)->mem, sub, b);
}

static int jb_prune(void *self)
{
    return 0;
}

static int jb_purge(void *self, const char *sub)
{
    jstore *j = self;
    int rc = fl_bmstore_memory.purge(j->mem, sub);
    if (rc)
        return rc;
    uint8_t rec[140] = {'P'};
    size_t sl = sub ? strlen(sub) : 0;
    assert_true(sl < 128);
    put_u64(rec + 1, sub ? sl : UINT64_MAX);
    if (sl)
        memcpy(rec + 9, sub, sl);
    return j_append(j, rec, 9 + sl);
}

static const char *jb_last_error(void *self)
{
    return fl_bmstore_memory.last_error(((jstore *)self)->mem);
}

static const fl_bmstore_ops journaled_bm = {
    FL_STORE_ABI_VERSION, "journaled",  jb_open,  jb_close, jb_log,   jb_discard,   jb_is_discarded,
    jb_most_recent,       jb_persisted, jb_prune, jb_purge, jp_flush, j_list_files, jb_last_error,
};

/* ===================================================================== */
/* main                                                                   */
/* ===================================================================== */

static void find_plugin(const char *argv0, plugin_path *pp)
{
    pp->path[0] = '\0';
    const char *env = getenv("FL_TEST_MEMPLUGIN");
    char cand[1024];
    if (env && *env) {
        snprintf(cand, sizeof cand, "%s", env);
    } else {
        const char *slash = strrchr(argv0, '/');
        int dirlen = slash ? (int)(slash - argv0) : 1;
        snprintf(cand, sizeof cand, "%.*s/../plugins/memplugin.so", dirlen, slash ? argv0 : ".");
    }
    FILE *f = fopen(cand, "rb");
    if (!f)
        return;
    fclose(f);
    snprintf(pp->path, sizeof pp->path, "%s", cand);
}

int main(int argc, char **argv)
{
    plugin_path pp;
    find_plugin(argc > 0 ? argv[0] : "", &pp);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_valid),
        cmocka_unit_test(test_options_invalid),
        cmocka_unit_test(test_options_extra_keys),
        cmocka_unit_test(test_builtin_lookup),
        cmocka_unit_test(test_ops_checks),
        cmocka_unit_test(test_plugin_checks),
        cmocka_unit_test(test_plugin_load_errors),
        cmocka_unit_test_prestate(test_plugin_load_memplugin, &pp),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_pub_bad_messages),
        cmocka_unit_test(test_pub_capacity_exact),
        cmocka_unit_test(test_pub_ring_wraps),
        cmocka_unit_test(test_bm_bad_args),
        cmocka_unit_test(test_bm_model),
        cmocka_unit_test(test_bm_million),
    };
    int failed = cmocka_run_group_tests_name("store_mem", tests, NULL, NULL);

    fl_sc_sim sim = {.seed = 1};
    const fl_store_under_test none = {
        .name = "none",
        .pub = &fl_pubstore_none,
        .options = "sync=always",
        .flags = 0,
        .ctx = &sim,
        .setup = fl_sc_sim_setup,
        .teardown = fl_sc_sim_teardown,
    };
    const fl_store_under_test memory = {
        .name = "memory",
        .pub = &fl_pubstore_memory,
        .bm = &fl_bmstore_memory,
        .options = NULL,
        .capacity_options = "capacity=4096",
        .flags = FL_SUT_RETAINS,
        .ctx = &sim,
        .setup = fl_sc_sim_setup,
        .teardown = fl_sc_sim_teardown,
    };
    const fl_store_under_test journaled = {
        .name = "journaled_power_loss",
        .pub = &journaled_pub,
        .bm = &journaled_bm,
        .capacity_options = "capacity=4096",
        .flags = FL_SUT_RETAINS | FL_SUT_DURABLE,
        .ctx = &sim,
        .setup = fl_sc_sim_setup,
        .teardown = fl_sc_sim_teardown,
        .crash = fl_sc_sim_power_loss,
        .restart = fl_sc_sim_restart,
    };
    failed += fl__run_store_contract(&none);
    failed += fl__run_store_contract(&memory);
    failed += fl__run_store_contract(&journaled);

    if (pp.path[0]) {
        const fl_store_plugin *p = fl_store_plugin_load(pp.path, NULL, 0);
        if (!p)
            return failed + 1; /* test_plugin_load_memplugin reported why */
        fl_store_under_test plug = memory;
        plug.name = "memplugin";
        plug.pub = p->pubstore;
        plug.bm = p->bmstore;
        failed += fl__run_store_contract(&plug);
    }
    return failed;
}
