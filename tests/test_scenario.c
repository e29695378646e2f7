/* Unit tests for the scenario loader (simulator/scenario.c) and the JSON
 * position scanner it uses (simulator/jsonpos.c).
 *
 * The corpora are files: every tests/scenarios/valid/ *.json must load and
 * survive load(to_json(load(x))) unchanged; every tests/scenarios/invalid/
 * *.json must fail with exactly the message in its .expect sibling. Run from
 * the repository root (the Makefile does). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "jsonpos.h"
#include "scenario.h"

#include "faultline/error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALID_DIR   "tests/scenarios/valid"
#define INVALID_DIR "tests/scenarios/invalid"
#define S           1000000ull /* microseconds per second */
#define MS          1000ull

/* ---- helpers ---------------------------------------------------------- */

typedef struct name_list {
    char **names;
    size_t n;
} name_list;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of dir, sorted. */
static name_list list_json(const char *dir)
{
    name_list l = {NULL, 0};
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        l.names = realloc(l.names, (l.n + 1) * sizeof *l.names);
        assert_non_null(l.names);
        l.names[l.n] = strdup(e->d_name);
        assert_non_null(l.names[l.n]);
        l.n++;
    }
    closedir(d);
    qsort(l.names, l.n, sizeof *l.names, cmp_names);
    return l;
}

static void free_list(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

/* First line of a file, without the newline. */
static void read_first_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("missing %s", path);
    if (fgets(buf, (int)len, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

static sim_scenario *load_ok(const char *path)
{
    sim_scenario *sc = NULL;
    sim_scenario_error err;
    int rc = sim_scenario_load_file(path, &sc, &err);
    if (rc != 0)
        fail_msg("%s: rc %d: %s", path, rc, err.message);
    return sc;
}

static sim_scenario *load_text(const char *text, sim_scenario_error *err)
{
    sim_scenario *sc = NULL;
    int rc = sim_scenario_load_buffer("t.json", text, strlen(text), &sc, err);
    if (rc != 0)
        assert_null(sc);
    return sc;
}

static char *dump(const sim_scenario *sc)
{
    json_t *j = sim_scenario_to_json(sc);
    assert_non_null(j);
    char *s = json_dumps(j, 0);
    json_decref(j);
    assert_non_null(s);
    return s;
}

/* ---- fixtures --------------------------------------------------------- */

static int setup_minimal(void **state)
{
    *state = load_ok(VALID_DIR "/minimal.json");
    return *state ? 0 : -1;
}

static int setup_full(void **state)
{
    *state = load_ok(VALID_DIR "/full.json");
    return *state ? 0 : -1;
}

static int setup_example(void **state)
{
    *state = load_ok(VALID_DIR "/example.json");
    return *state ? 0 : -1;
}

static int teardown_scenario(void **state)
{
    sim_scenario_free(*state);
    return 0;
}

/* ---- corpora ---------------------------------------------------------- */

static void test_invalid_corpus(void **state)
{
    (void)state;
    name_list l = list_json(INVALID_DIR);
    assert_true(l.n >= 30);
    for (size_t i = 0; i < l.n; i++) {
        char path[512], expect_path[512], want[1400];
        snprintf(path, sizeof path, INVALID_DIR "/%s", l.names[i]);
        snprintf(expect_path, sizeof expect_path, INVALID_DIR "/%.*s.expect",
                 (int)(strlen(l.names[i]) - 5), l.names[i]);
        read_first_line(expect_path, want, sizeof want);
        sim_scenario *sc = NULL;
        sim_scenario_error err;
        int rc = sim_scenario_load_file(path, &sc, &err);
        if (rc != FL_E_SCENARIO)
            fail_msg("%s: rc %d, want FL_E_SCENARIO", path, rc);
        assert_null(sc);
        if (strcmp(err.message, want) != 0)
            fail_msg("%s:\n  got  %s\n  want %s", path, err.message, want);
        assert_true(err.line >= 1);
        assert_true(err.column >= 1);
        assert_string_equal(err.file, path);
    }
    free_list(&l);
}

static void test_valid_corpus_round_trip(void **state)
{
    (void)state;
    name_list l = list_json(VALID_DIR);
    assert_true(l.n >= 4);
    for (size_t i = 0; i < l.n; i++) {
        char path[512];
        snprintf(path, sizeof path, VALID_DIR "/%s", l.names[i]);
        sim_scenario *a = load_ok(path);
        char *ja = dump(a);
        sim_scenario_error err;
        sim_scenario *b = load_text(ja, &err);
        if (b == NULL)
            fail_msg("%s: canonical form does not load: %s", path, err.message);
        char *jb = dump(b);
        if (strcmp(ja, jb) != 0)
            fail_msg("%s: round trip differs:\n%s\n%s", path, ja, jb);
        /* structural spot checks beyond the JSON text */
        assert_int_equal(a->nbrokers, b->nbrokers);
        assert_int_equal(a->nclients, b->nclients);
        assert_int_equal(a->nfaults, b->nfaults);
        assert_int_equal(a->start_unix_us, b->start_unix_us);
        assert_int_equal(a->duration_us, b->duration_us);
        free(ja);
        free(jb);
        sim_scenario_free(a);
        sim_scenario_free(b);
    }
    free_list(&l);
}

/* ---- defaults --------------------------------------------------------- */

static void assert_default_store(const sim_store_cfg *s)
{
    assert_int_equal(s->type, SIM_STORE_MEMORY);
    assert_int_equal(s->sync, SIM_SYNC_BATCH);
    assert_int_equal(s->batch_window_us, 1 * MS);
    assert_int_equal(s->recovery, SIM_RECOVERY_POINT_IN_TIME);
    assert_false(s->has_capacity);
    assert_null(s->plugin);
    assert_null(s->options);
}

static void test_defaults(void **state)
{
    const sim_scenario *sc = *state;
    assert_string_equal(sc->name, "minimal");
    assert_string_equal(sc->description, "");
    assert_int_equal(sc->seed, 1);
    assert_int_equal(sc->start_unix_us, 1577836800ll * (int64_t)S);
    assert_int_equal(sc->duration_us, 10 * S);
    assert_string_equal(sc->source, VALID_DIR "/minimal.json");

    assert_int_equal(sc->nbrokers, 1);
    const sim_broker_spec *b = &sc->brokers[0];
    assert_string_equal(b->name, "a");
    assert_int_equal(b->ntopics, 0);
    assert_int_equal(b->journal.segment_size, 64ull << 20);
    assert_int_equal(b->journal.segment_age_us, 3600 * S);
    assert_false(b->journal.has_retention);
    assert_int_equal(b->journal.sync_interval_us, 0);
    assert_int_equal(b->journal.recovery, SIM_RECOVERY_POINT_IN_TIME);
    assert_int_equal(b->ack_interval_us, 1 * S);
    assert_int_equal(b->heartbeat_us, 3 * S);
    assert_int_equal(b->expired_bookmark, SIM_EXPIRED_NOW);
    assert_int_equal(b->nreplicate_to, 0);
    assert_false(b->has_credentials);
    assert_int_equal(b->duplicate_logon, SIM_DUP_LOGON_REFUSE);
    assert_false(b->down);

    assert_int_equal(sc->nclients, 1);
    const sim_client *c = &sc->clients[0];
    assert_string_equal(c->name, "c");
    assert_int_equal(c->nservers, 1);
    assert_int_equal(c->servers[0], 0);
    assert_null(c->password);
    assert_default_store(&c->publish_store);
    assert_default_store(&c->bookmark_store);
    assert_int_equal(c->delay.type, SIM_DELAY_EXPONENTIAL);
    assert_int_equal(c->delay.initial_us, 200 * MS);
    assert_true(c->delay.exponent == 2.0);
    assert_int_equal(c->delay.max_us, 20 * S);
    assert_true(c->delay.jitter == 1.0);
    assert_false(c->delay.has_max_retry);
    assert_false(c->has_heartbeat);
    assert_false(c->has_connection_timeout);
    assert_int_equal(c->link_latency_us, 100);
    assert_int_equal(c->link_jitter_us, 0);
    assert_false(c->has_bandwidth);
    assert_int_equal(c->npublish, 0);
    assert_int_equal(c->nsubscribe, 0);
    assert_int_equal(c->nflush, 0);

    assert_int_equal(sc->nfaults, 0);
    assert_false(sc->expect.has_checks);
    assert_int_equal(sc->expect.checks, 0);
    assert_int_equal(sc->expect.violations, 0);
    assert_int_equal(sc->expect.nerrors, 0);
    assert_false(sc->expect.has_delivered);
    assert_int_equal(sc->expect.recovery_us, 30 * S);
}

/* Defaults inside optional objects, which minimal.json does not have. */
static void test_nested_defaults(void **state)
{
    (void)state;
    static const char *text =
        "{\"name\":\"n\",\"duration\":\"1s\",\"brokers\":{\"a\":{\"topics\":{\"t\":{}},"
        "\"replicate_to\":[{\"broker\":\"b\"}]},\"b\":{}},"
        "\"clients\":{\"c\":{\"servers\":[\"a\"],\"heartbeat\":{\"interval\":\"2s\"},"
        "\"delay\":{\"type\":\"fixed\"},\"publish_store\":{\"type\":\"file\"},"
        "\"publish\":[{\"topic\":\"t\",\"count\":1,\"rate\":\"1/s\"}],"
        "\"subscribe\":[{\"topic\":\"t\",\"sub_id\":\"s\"}],\"flush\":[{\"at\":\"1s\"}]}},"
        "\"faults\":[{\"kind\":\"crash_client\",\"target\":\"c\",\"on\":{\"event\":\"publish\","
        "\"client\":\"c\"}},{\"kind\":\"crash_broker\",\"target\":\"a\",\"at\":\"1s\"},"
        "{\"kind\":\"corrupt_file\",\"target\":\"c\",\"at\":\"1s\",\"file\":\"publish_store\"},"
        "{\"kind\":\"io_error\",\"target\":\"a\",\"at\":\"1s\",\"op\":\"write\"},"
        "{\"kind\":\"drop_acks\",\"target\":\"c\",\"at\":\"1s\"},"
        "{\"kind\":\"partition\",\"target\":\"c\",\"at\":\"1s\"},"
        "{\"kind\":\"latency\",\"target\":\"c\",\"at\":\"1s\",\"add\":\"1ms\"}],"
        "\"expect\":{\"errors\":[{\"name\":\"timeout\"}]}}";
    sim_scenario_error err;
    sim_scenario *sc = load_text(text, &err);
    if (sc == NULL)
        fail_msg("%s", err.message);
    const sim_broker_spec *a = &sc->brokers[0];
    assert_int_equal(a->ntopics, 1);
    assert_false(a->topics[0].journal);
    assert_int_equal(a->replicate_to[0].broker, 1);
    assert_int_equal(a->replicate_to[0].mode, SIM_REPL_SYNC);
    assert_int_equal(a->replicate_to[0].lag_us, 0);
    const sim_client *c = &sc->clients[0];
    assert_int_equal(c->hb_interval_us, 2 * S);
    assert_int_equal(c->hb_idle_timeout_us, 4 * S); /* 2 x interval */
    assert_int_equal(c->delay.type, SIM_DELAY_FIXED);
    assert_int_equal(c->delay.delay_us, 200 * MS);
    assert_int_equal(c->publish_store.sync, SIM_SYNC_BATCH);
    assert_int_equal(c->publish[0].size, 100);
    assert_int_equal(c->publish[0].start_us, 0);
    assert_int_equal(c->publish[0].nat, 0);
    const sim_subscribe *s = &c->subscribe[0];
    assert_null(s->bookmark);
    assert_int_equal(s->start_us, 0);
    assert_false(s->has_stop);
    assert_int_equal(s->discard, SIM_DISCARD_IMMEDIATE);
    assert_false(s->has_max_pending);
    assert_int_equal(s->replay_fallback, SIM_FALLBACK_FAIL);
    assert_int_equal(c->flush[0].timeout_us, 0);
    const sim_fault *f = sc->faults;
    assert_false(f[0].has_at);
    assert_int_equal(f[0].on_count, 1);
    assert_int_equal(f[0].restart_after_us, 1 * S);
    assert_int_equal(f[1].down_for_us, 1 * S);
    assert_int_equal(f[2].mode, SIM_CORRUPT_BIT_FLIP);
    assert_int_equal(f[2].offset_kind, SIM_OFFSET_MIDDLE);
    assert_int_equal(f[2].bytes, 1);
    assert_int_equal(f[3].nth, 1);
    assert_false(f[3].persistent);
    assert_false(f[4].has_for);
    assert_false(f[4].has_count);
    assert_int_equal(f[4].ack_type, SIM_ACK_PERSISTED);
    assert_int_equal(f[5].nfrom, 0);
    assert_false(f[5].has_for);
    assert_int_equal(f[6].jitter_us, 0);
    assert_false(sc->expect.errors[0].has_client);
    assert_false(sc->expect.errors[0].has_after);
    assert_false(sc->expect.errors[0].has_before);
    assert_int_equal(sc->expect.errors[0].code, FL_E_TIMEOUT);
    sim_scenario_free(sc);
}

/* ---- every key with a non-default value -------------------------------- */

static void test_full_brokers(void **state)
{
    const sim_scenario *sc = *state;
    assert_string_equal(sc->description, "Every key with a value that is not its default.");
    assert_int_equal(sc->seed, 42);
    assert_int_equal(sc->start_unix_us, 1591272000500000ll);
    assert_int_equal(sc->duration_us, 26 * 3600 * S);
    /* name order, not file order */
    assert_int_equal(sc->nbrokers, 2);
    assert_string_equal(sc->brokers[0].name, "a");
    assert_string_equal(sc->brokers[1].name, "b");
    const sim_broker_spec *b = &sc->brokers[1];
    assert_int_equal(b->ntopics, 3);
    assert_string_equal(b->topics[0].name, "audit");
    assert_false(b->topics[0].journal);
    assert_string_equal(b->topics[1].name, "misc");
    assert_string_equal(b->topics[2].name, "orders");
    assert_true(b->topics[2].journal);
    assert_int_equal(b->journal.segment_size, 1ull << 20);
    assert_int_equal(b->journal.segment_age_us, 600 * S);
    assert_true(b->journal.has_retention);
    assert_int_equal(b->journal.retention_us, 7200 * S);
    assert_int_equal(b->journal.sync_interval_us, 5 * MS);
    assert_int_equal(b->journal.recovery, SIM_RECOVERY_SALVAGE);
    assert_int_equal(b->ack_interval_us, 250 * MS);
    assert_int_equal(b->heartbeat_us, 1500 * MS);
    assert_int_equal(b->expired_bookmark, SIM_EXPIRED_ERROR);
    assert_int_equal(b->nreplicate_to, 1);
    assert_int_equal(b->replicate_to[0].broker, 0);
    assert_int_equal(b->replicate_to[0].mode, SIM_REPL_ASYNC);
    assert_int_equal(b->replicate_to[0].lag_us, 20 * MS);
    assert_true(b->has_credentials);
    assert_int_equal(b->ncredentials, 2);
    assert_int_equal(b->credentials[0].client, 0); /* pub */
    assert_string_equal(b->credentials[0].password, "secret");
    assert_int_equal(b->credentials[1].client, 1); /* sub */
    assert_string_equal(b->credentials[1].password, "hunter2");
    assert_int_equal(b->duplicate_logon, SIM_DUP_LOGON_REPLACE);
    assert_true(b->down);
}

static void test_full_clients(void **state)
{
    const sim_scenario *sc = *state;
    assert_int_equal(sc->nclients, 2);
    const sim_client *p = &sc->clients[0];
    assert_string_equal(p->name, "pub");
    assert_int_equal(p->nservers, 2);
    assert_int_equal(p->servers[0], 1); /* b */
    assert_int_equal(p->servers[1], 0); /* a */
    assert_string_equal(p->password, "secret");
    assert_int_equal(p->publish_store.type, SIM_STORE_SQLITE);
    assert_int_equal(p->publish_store.sync, SIM_SYNC_ALWAYS);
    assert_int_equal(p->publish_store.batch_window_us, 10 * MS);
    assert_int_equal(p->publish_store.recovery, SIM_RECOVERY_STRICT);
    assert_true(p->publish_store.has_capacity);
    assert_int_equal(p->publish_store.capacity, 4ull << 20);
    assert_int_equal(p->bookmark_store.type, SIM_STORE_FILE);
    assert_int_equal(p->delay.type, SIM_DELAY_EXPONENTIAL);
    assert_int_equal(p->delay.initial_us, 100 * MS);
    assert_true(p->delay.exponent == 1.5);
    assert_int_equal(p->delay.max_us, 5 * S);
    assert_true(p->delay.has_max_retry);
    assert_int_equal(p->delay.max_retry_us, 120 * S);
    assert_true(p->delay.jitter == 0.25);
    assert_true(p->has_heartbeat);
    assert_int_equal(p->hb_interval_us, 500 * MS);
    assert_int_equal(p->hb_idle_timeout_us, 3 * S);
    assert_true(p->has_connection_timeout);
    assert_int_equal(p->connection_timeout_us, 45 * S);
    assert_int_equal(p->link_latency_us, 2 * MS);
    assert_int_equal(p->link_jitter_us, 300);
    assert_true(p->has_bandwidth);
    assert_int_equal(sim_rate_offset_us(p->bandwidth, 10ull << 20), 1 * S);
    assert_int_equal(p->npublish, 2);
    assert_string_equal(p->publish[0].topic, "orders");
    assert_int_equal(p->publish[0].count, 1000);
    assert_int_equal(sim_rate_offset_us(p->publish[0].rate, 5), 2 * S);
    assert_int_equal(p->publish[0].size, 1024);
    assert_int_equal(p->publish[0].start_us, 10 * S); /* absolute, start has .5s */
    assert_int_equal(p->publish[1].nat, 3);
    assert_int_equal(p->publish[1].at_us[0], 1 * S);
    assert_int_equal(p->publish[1].at_us[1], 2 * S);
    assert_int_equal(p->publish[1].at_us[2], 3500 * MS);
    assert_int_equal(p->publish[1].size, 10);
    assert_int_equal(p->nflush, 2);
    assert_int_equal(p->flush[0].at_us, 30 * S);
    assert_int_equal(p->flush[0].timeout_us, 5 * S);
    assert_int_equal(p->flush[1].at_us, 60 * S);

    const sim_client *s = &sc->clients[1];
    assert_string_equal(s->name, "sub");
    assert_int_equal(s->bookmark_store.type, SIM_STORE_PLUGIN);
    assert_string_equal(s->bookmark_store.plugin, "./libmystore.so");
    assert_string_equal(s->bookmark_store.options, "dir=/tmp/x");
    assert_int_equal(s->bookmark_store.sync, SIM_SYNC_NONE);
    assert_int_equal(s->bookmark_store.batch_window_us, 2 * MS);
    assert_int_equal(s->bookmark_store.recovery, SIM_RECOVERY_TOLERATE_TORN_TAIL);
    assert_int_equal(s->delay.type, SIM_DELAY_FIXED);
    assert_int_equal(s->delay.delay_us, 300 * MS);
    assert_int_equal(s->delay.max_retry_us, 60 * S);
    assert_int_equal(s->nsubscribe, 3);
    const sim_subscribe *s1 = &s->subscribe[0];
    assert_string_equal(s1->sub_id, "s1");
    assert_string_equal(s1->bookmark, "recent");
    assert_int_equal(s1->start_us, 1 * S);
    assert_true(s1->has_stop);
    assert_int_equal(s1->stop_us, 3600 * S - 500 * MS);
    assert_int_equal(s1->discard, SIM_DISCARD_NEVER);
    assert_int_equal(s1->nnever, 2); /* sorted, duplicates merged */
    assert_int_equal(s1->never[0], 3);
    assert_int_equal(s1->never[1], 7);
    assert_true(s1->has_max_pending);
    assert_int_equal(s1->max_pending, 10);
    assert_int_equal(s1->replay_fallback, SIM_FALLBACK_EPOCH);
    assert_int_equal(s->subscribe[1].discard, SIM_DISCARD_DELAY);
    assert_int_equal(s->subscribe[1].discard_delay_us, 5 * MS);
    assert_int_equal(s->subscribe[1].replay_fallback, SIM_FALLBACK_NOW);
    assert_string_equal(s->subscribe[2].bookmark, "[20200604T000000:20200605T000000)");
    assert_int_equal(s->subscribe[2].discard, SIM_DISCARD_IMMEDIATE);
}

static void test_full_faults(void **state)
{
    const sim_scenario *sc = *state;
    assert_int_equal(sc->nfaults, 16);
    const sim_fault *f = sc->faults;
    for (int k = 0; k <= SIM_FAULT_ADVANCE_CLOCK; k++) {
        bool seen = false;
        for (size_t i = 0; i < sc->nfaults; i++)
            seen = seen || (int)f[i].kind == k;
        if (!seen)
            fail_msg("fault kind %s not covered", sim_scenario_enum_name(SIM_ENUM_FAULT_KIND, k));
    }
    assert_int_equal(f[0].kind, SIM_FAULT_DISCONNECT);
    assert_int_equal(f[0].target_sort, SIM_TARGET_CLIENT);
    assert_int_equal(f[0].target, 0);
    assert_true(f[0].has_at);
    assert_int_equal(f[0].at_us, 1 * S);
    assert_true(f[1].has_for);
    assert_int_equal(f[1].for_us, 3 * S);
    assert_int_equal(f[2].target, 1);
    assert_int_equal(f[2].nfrom, 1);
    assert_int_equal(f[2].from[0], 0);
    assert_int_equal(f[3].add_us, 50 * MS);
    assert_int_equal(f[3].jitter_us, 5 * MS);
    assert_int_equal(f[3].for_us, 10 * S);
    assert_true(f[4].has_count);
    assert_int_equal(f[4].count, 3);
    assert_int_equal(f[4].ack_type, SIM_ACK_LOGON);
    assert_false(f[5].has_at);
    assert_int_equal(f[5].on_event, SIM_EVENT_PERSISTED_ACK);
    assert_int_equal(f[5].on_sort, SIM_TARGET_CLIENT);
    assert_int_equal(f[5].on_index, 0);
    assert_int_equal(f[5].on_count, 40);
    assert_int_equal(f[5].restart_after_us, 2 * S);
    assert_int_equal(f[6].on_event, SIM_EVENT_DELIVERY);
    assert_int_equal(f[6].restart_after_us, 500 * MS);
    assert_int_equal(f[7].target_sort, SIM_TARGET_BROKER);
    assert_int_equal(f[7].on_event, SIM_EVENT_JOURNAL_WRITE);
    assert_int_equal(f[7].on_sort, SIM_TARGET_BROKER);
    assert_int_equal(f[7].on_count, 500);
    assert_int_equal(f[7].down_for_us, 4 * S);
    assert_int_equal(f[8].on_event, SIM_EVENT_REPLICATION);
    assert_int_equal(f[8].down_for_us, 3 * S);
    assert_int_equal(f[9].kind, SIM_FAULT_FAILOVER);
    assert_int_equal(f[9].at_us, 59500 * MS); /* 12:01:00 - 12:00:00.5 */
    assert_int_equal(f[10].file, SIM_FILE_JOURNAL);
    assert_int_equal(f[10].mode, SIM_CORRUPT_TRUNCATE);
    assert_int_equal(f[10].offset_kind, SIM_OFFSET_BYTES);
    assert_int_equal(f[10].offset, 4096);
    assert_int_equal(f[10].bytes, 16);
    assert_int_equal(f[11].file, SIM_FILE_PUBLISH_STORE);
    assert_int_equal(f[11].mode, SIM_CORRUPT_TEAR_LAST_RECORD);
    assert_int_equal(f[11].offset_kind, SIM_OFFSET_TAIL);
    assert_int_equal(f[12].kind, SIM_FAULT_DISK_FULL);
    assert_int_equal(f[12].for_us, 2 * S);
    assert_int_equal(f[13].op, SIM_IO_SYNC);
    assert_int_equal(f[13].nth, 3);
    assert_true(f[13].persistent);
    assert_int_equal(f[13].on_event, SIM_EVENT_LOGON);
    assert_int_equal(f[13].on_sort, SIM_TARGET_BROKER);
    assert_int_equal(f[14].target_sort, SIM_TARGET_NONE);
    assert_int_equal(f[14].by_us, 26 * 3600 * S);
    assert_int_equal(f[15].on_event, SIM_EVENT_STORE_SYNC);
    assert_true(f[15].has_for);
}

static void test_full_expect(void **state)
{
    const sim_scenario *sc = *state;
    const sim_expect *e = &sc->expect;
    assert_true(e->has_checks);
    assert_int_equal(e->checks, SIM_CHECK_NO_LOSS | SIM_CHECK_ORDER | SIM_CHECK_LIVENESS);
    assert_int_equal(e->violations, SIM_CHECK_NO_DUPLICATES);
    assert_int_equal(e->nerrors, 2);
    assert_string_equal(e->errors[0].name, "bookmark_expired");
    assert_int_equal(e->errors[0].code, FL_E_BOOKMARK_EXPIRED);
    assert_false(e->errors[0].has_client);
    assert_string_equal(e->errors[1].name, "gave_up");
    assert_int_equal(e->errors[1].code, FL_E_GAVE_UP);
    assert_true(e->errors[1].has_client);
    assert_int_equal(e->errors[1].client, 0);
    assert_int_equal(e->errors[1].after_us, 10 * S);
    assert_int_equal(e->errors[1].before_us, 59500 * MS);
    assert_true(e->has_delivered);
    assert_int_equal(e->ndelivered, 2);
    /* sorted by client, then subscription position: s1 before s2 */
    assert_int_equal(e->delivered[0].client, 1);
    assert_int_equal(e->delivered[0].subscribe, 0);
    assert_int_equal(e->delivered[0].count, 1000);
    assert_int_equal(e->delivered[1].subscribe, 1);
    assert_int_equal(e->delivered[1].count, 5);
    assert_int_equal(e->recovery_us, 60 * S);
}

static void test_example(void **state)
{
    const sim_scenario *sc = *state;
    assert_string_equal(sc->name, "failover-sync-replication");
    assert_int_equal(sc->seed, 7);
    assert_int_equal(sc->duration_us, 120 * S);
    assert_int_equal(sc->brokers[0].replicate_to[0].broker, 1);
    assert_int_equal(sc->brokers[0].replicate_to[0].mode, SIM_REPL_SYNC);
    assert_string_equal(sc->clients[0].name, "pub-1");
    assert_int_equal(sc->clients[0].publish_store.type, SIM_STORE_FILE);
    assert_int_equal(sc->clients[0].publish_store.sync, SIM_SYNC_ALWAYS);
    assert_int_equal(sc->clients[0].publish[0].count, 10000);
    assert_int_equal(sim_rate_offset_us(sc->clients[0].publish[0].rate, 200), 1 * S);
    assert_string_equal(sc->clients[1].subscribe[0].bookmark, "recent");
    assert_int_equal(sc->faults[0].kind, SIM_FAULT_FAILOVER);
    assert_int_equal(sc->faults[0].at_us, 20 * S);
    assert_int_equal(sc->faults[1].kind, SIM_FAULT_CRASH_CLIENT);
    assert_int_equal(sc->faults[1].on_count, 40);
    assert_int_equal(sc->expect.recovery_us, 10 * S);
}

/* ---- the error struct and API edges ----------------------------------- */

static void test_error_fields(void **state)
{
    (void)state;
    static const char *text = "{\n  \"name\": \"x\",\n  \"duration\": \"fast\",\n"
                              "  \"brokers\": {\"a\": {}}, \"clients\": {}\n}";
    sim_scenario_error err;
    assert_null(load_text(text, &err));
    assert_string_equal(err.file, "t.json");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 15);
    assert_string_equal(err.path, "duration");
    assert_string_equal(
        err.text, "expected a duration like \"250ms\" (units us, ms, s, m, h, d), got \"fast\"");
    assert_string_equal(err.message, "t.json:3:15: duration: expected a duration like \"250ms\" "
                                     "(units us, ms, s, m, h, d), got \"fast\"");

    /* syntax errors come from jansson and have no path */
    assert_null(load_text("{\"name\": }", &err));
    assert_int_equal(err.line, 1);
    assert_string_equal(err.path, "");

    /* columns count characters, not bytes, as jansson's do */
    static const char *utf8 = "{\"description\": \"\xc3\xa9\xc3\xa9\", \"seed\": \"x\"}";
    assert_null(load_text(utf8, &err));
    /* missing keys are checked first; they are reported at their object */
    assert_string_equal(err.path, "");
    assert_string_equal(err.text, "missing required key \"name\"");
    static const char *utf8b = "{\"name\": \"\xc3\xa9\xc3\xa9\", \"seed\": true, "
                               "\"duration\": \"1s\", \"brokers\": {\"a\": {}}, "
                               "\"clients\": {\"c\": {\"servers\": [\"a\"]}}}";
    assert_null(load_text(utf8b, &err));
    assert_string_equal(err.path, "seed");
    assert_int_equal(err.column, 24);
}

static void test_api_edges(void **state)
{
    (void)state;
    sim_scenario *sc = (sim_scenario *)1;
    sim_scenario_error err;
    assert_int_equal(sim_scenario_load_file(INVALID_DIR "/no-such-file.json", &sc, &err),
                     FL_E_NOENT);
    assert_null(sc);
    assert_non_null(strstr(err.message, "no-such-file.json: cannot open"));
    /* err may be NULL */
    assert_int_equal(sim_scenario_load_file(INVALID_DIR "/bad-rate.json", &sc, NULL),
                     FL_E_SCENARIO);
    assert_int_equal(sim_scenario_load_buffer("x", "", 0, &sc, NULL), FL_E_SCENARIO);
    /* the text need not be NUL-terminated: only len bytes are read */
    static const char text[] = "{\"name\":\"n\",\"duration\":\"1s\",\"brokers\":{\"a\":{}},"
                               "\"clients\":{\"c\":{\"servers\":[\"a\"]}}}GARBAGE";
    assert_int_equal(sim_scenario_load_buffer("x", text, sizeof text - 1 - 7, &sc, &err), 0);
    assert_string_equal(sc->name, "n");
    sim_scenario_free(sc);
    sim_scenario_free(NULL);
    assert_string_equal(sim_scenario_enum_name(SIM_ENUM_RECOVERY, SIM_RECOVERY_SALVAGE), "salvage");
    assert_string_equal(sim_scenario_enum_name(SIM_ENUM_CHECK, 7), "unpersisted_zero");
    assert_string_equal(sim_scenario_enum_name(SIM_ENUM_EVENT, 99), "?");
    assert_string_equal(sim_scenario_enum_name(SIM_ENUM_IO_OP, -1), "?");
}

/* Small inline cases for rules the corpus does not reach. */
typedef struct inline_case {
    const char *body; /* spliced into a base scenario after "clients" */
    const char *text; /* expected error text */
} inline_case;

static void test_inline_errors(void **state)
{
    (void)state;
    static const inline_case cases[] = {
        {"\"faults\": [{\"kind\": \"io_error\", \"target\": \"c\", \"at\": \"1s\"}]",
         "missing required key \"op\""},
        {"\"faults\": [{\"kind\": \"advance_clock\", \"at\": \"1s\"}]",
         "missing required key \"by\""},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"at\": \"1s\", "
         "\"restart_after\": \"1s\"}]",
         "key \"restart_after\" is not valid for fault kind \"disconnect\" (it takes no extra "
         "keys)"},
        {"\"faults\": [{\"kind\": \"stall\", \"target\": \"c\", \"at\": \"1s\", \"fr\": \"1s\"}]",
         "unknown key \"fr\" (did you mean \"for\"?)"},
        {"\"faults\": [{\"kind\": \"corrupt_file\", \"target\": \"a\", \"at\": \"1s\", "
         "\"file\": \"journal\"}]",
         "broker \"a\" journals no topic, so it has no journal file"},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"on\": {\"event\": "
         "\"replication\", \"broker\": \"a\"}}]",
         "event \"replication\" is impossible for broker \"a\": it replicates to no broker"},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"on\": {\"event\": "
         "\"store_write\", \"client\": \"c\"}}]",
         "event \"store_write\" is impossible for client \"c\": it has no file, sqlite or plugin "
         "store"},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"on\": {\"event\": "
         "\"delivery\", \"client\": \"c\"}}]",
         "event \"delivery\" is impossible for client \"c\": it subscribes to nothing"},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"on\": {\"event\": "
         "\"logon\"}}]",
         "missing \"client\" or \"broker\" (whose events are counted)"},
        {"\"faults\": [{\"kind\": \"disconnect\", \"target\": \"c\", \"on\": {\"event\": "
         "\"logon\", \"client\": \"c\", \"count\": 0}}]",
         "expected an integer >= 1, got 0"},
        {"\"faults\": [{\"kind\": \"partition\", \"target\": \"c\", \"at\": \"1s\", "
         "\"from\": [\"a\", \"a\"]}]",
         "broker \"a\" is listed twice"},
        {"\"expect\": {\"checks\": [\"order\", \"order\"]}", "check \"order\" is listed twice"},
        {"\"expect\": {\"delivered\": {\"c\": 1}}", "expected a key \"client/sub_id\", got \"c\""},
        {"\"expect\": {\"errors\": [{\"name\": \"timeout\", \"after\": \"2s\", \"before\": "
         "\"1s\"}]}",
         "\"before\" must be later than \"after\""},
        {"\"expect\": {\"recovery\": \"-5s\"}", "a duration must not be negative, got \"-5s\""},
        {"\"expect\": []", "expected an object, got an array"},
        {"\"faults\": {}", "expected an array, got an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text,
                 "{\"name\": \"n\", \"duration\": \"1s\", \"brokers\": {\"a\": {}}, "
                 "\"clients\": {\"c\": {\"servers\": [\"a\"]}}, %s}",
                 cases[i].body);
        sim_scenario_error err;
        sim_scenario *sc = load_text(text, &err);
        if (sc != NULL)
            fail_msg("case %zu loaded", i);
        if (strcmp(err.text, cases[i].text) != 0)
            fail_msg("case %zu:\n  got  %s\n  want %s", i, err.text, cases[i].text);
    }
}

/* ---- jsonpos ------------------------------------------------------------ */

static void test_jsonpos_find(void **state)
{
    (void)state;
    static const char *text = "{\n"
                              "  \"a\": [1, {\"x\": \"s,]}\"}, [2, 3]],\n"
                              "  \"b.c\": {\"k\\u00e9y\": true, \"q\\\"\": null},\n"
                              "  \"d\": \"\xc3\xa9\", \"e\": -1.5e3\n"
                              "}";
    size_t len = strlen(text);
    sim_jsonpos p;
    assert_int_equal(sim_jsonpos_find_str(text, len, "", false, &p), 0);
    assert_int_equal(p.line, 1);
    assert_int_equal(p.column, 1);
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[1].x", false, &p), 0);
    assert_int_equal(p.line, 2);
    assert_int_equal(p.column, 18);
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[2][1]", false, &p), 0);
    assert_int_equal(p.column, 31);
    assert_int_equal(sim_jsonpos_find_str(text, len, "[\"b.c\"][\"k\xc3\xa9y\"]", false, &p), 0);
    assert_int_equal(p.line, 3);
    assert_int_equal(p.column, 23);
    assert_int_equal(sim_jsonpos_find_str(text, len, "[\"b.c\"][\"q\\\"\"]", true, &p), 0);
    assert_int_equal(p.column, 29);
    assert_int_equal(sim_jsonpos_find_str(text, len, "e", true, &p), 0);
    assert_int_equal(p.line, 4);
    assert_int_equal(p.column, 13); /* the é before counts as one column */
    /* not found: the position of the deepest container found */
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[1].y", false, &p), FL_E_NOT_FOUND);
    assert_int_equal(p.matched, 2);
    assert_int_equal(p.column, 12);
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[3]", false, &p), FL_E_NOT_FOUND);
    assert_int_equal(sim_jsonpos_find_str(text, len, "d.x", false, &p), FL_E_NOT_FOUND);
    assert_int_equal(p.matched, 1);
    /* malformed paths */
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[x]", false, &p), FL_E_INVAL);
    assert_int_equal(sim_jsonpos_find_str(text, len, ".a", false, &p), FL_E_INVAL);
    assert_int_equal(sim_jsonpos_find_str(text, len, "a..b", false, &p), FL_E_INVAL);
    assert_int_equal(sim_jsonpos_find_str(text, len, "a[0]", true, &p), FL_E_INVAL);
}

static void test_jsonpos_truncated_input(void **state)
{
    (void)state;
    static const char *text = "{\"a\": {\"b\": [1, \"x\\u12";
    size_t len = strlen(text);
    /* every prefix is scanned without reading past it */
    for (size_t n = 0; n <= len; n++) {
        sim_jsonpos p;
        char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, text, n);
        int rc = sim_jsonpos_find_str(copy, n, "a.b[2]", false, &p);
        assert_true(rc == FL_E_NOT_FOUND || rc == FL_E_INVAL);
        assert_true(p.offset <= n);
        free(copy);
    }
}

static void test_jsonpos_format_path(void **state)
{
    (void)state;
    const sim_jsonpos_seg path[] = {
        {"clients", 0}, {"pub-1", 0}, {"publish", 0}, {NULL, 0}, {"rate", 0}};
    char buf[128];
    assert_int_equal(sim_jsonpos_format_path(path, 5, buf, sizeof buf), 29);
    assert_string_equal(buf, "clients.pub-1.publish[0].rate");
    const sim_jsonpos_seg odd[] = {{"a.b", 0}, {"q\"\n", 0}, {NULL, 12}};
    sim_jsonpos_format_path(odd, 3, buf, sizeof buf);
    assert_string_equal(buf, "[\"a.b\"][\"q\\\"\\u000a\"][12]");
    /* truncation keeps a terminated prefix and reports the full length */
    char small[8];
    assert_int_equal(sim_jsonpos_format_path(path, 5, small, sizeof small), 29);
    assert_string_equal(small, "clients");
    assert_int_equal(sim_jsonpos_format_path(path, 0, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_corpus),
        cmocka_unit_test(test_valid_corpus_round_trip),
        cmocka_unit_test_setup_teardown(test_defaults, setup_minimal, teardown_scenario),
        cmocka_unit_test(test_nested_defaults),
        cmocka_unit_test_setup_teardown(test_full_brokers, setup_full, teardown_scenario),
        cmocka_unit_test_setup_teardown(test_full_clients, setup_full, teardown_scenario),
        cmocka_unit_test_setup_teardown(test_full_faults, setup_full, teardown_scenario),
        cmocka_unit_test_setup_teardown(test_full_expect, setup_full, teardown_scenario),
        cmocka_unit_test_setup_teardown(test_example, setup_example, teardown_scenario),
        cmocka_unit_test(test_error_fields),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_inline_errors),
        cmocka_unit_test(test_jsonpos_find),
        cmocka_unit_test(test_jsonpos_truncated_input),
        cmocka_unit_test(test_jsonpos_format_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
