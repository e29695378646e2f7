/* Tests for the run-history database (simulator/rundb.c): insert and list,
 * NEW FAILURE / FIXED marks, filters, foreign and newer databases refused
 * with clear errors, concurrent writers, and `faultline history`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/error.h"
#include "rundb.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/test_rundb.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/history.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[160];
    snprintf(p, sizeof p, "%s-journal", f->path);
    unlink(p);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static sim_rundb_run mkrun(const char *scenario, uint64_t seed, bool passed)
{
    sim_rundb_run r = {0};
    r.scenario = scenario;
    r.file = "scenarios/x.json";
    r.seed = seed;
    r.revision = "v0.1-3-gabc";
    r.passed = passed;
    r.failing = passed ? "" : "no_loss";
    r.figures_json = "{\"published\":10}";
    r.history_hash = 0xfedcba9876543210ULL;
    r.report_dir = "reports/runs/x";
    return r;
}

static void add(sim_rundb *db, const char *scenario, uint64_t seed, bool passed, int64_t t)
{
    sim_rundb_run r = mkrun(scenario, seed, passed);
    char err[256] = "";
    assert_int_equal(sim_rundb_add(db, &r, t, NULL, err, sizeof err), 0);
}

static void test_insert_and_list(void **state)
{
    fixture *f = *state;
    sim_rundb *db = NULL;
    char err[256] = "";
    assert_int_equal(sim_rundb_open(f->path, &db, err, sizeof err), 0);
    sim_rundb_run r = mkrun("alpha", UINT64_MAX, false);
    r.revision = NULL;
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(sim_rundb_add(db, &r, 1700000000, &id1, err, sizeof err), 0);
    r = mkrun("beta", 7, true);
    assert_int_equal(sim_rundb_add(db, &r, 1700000060, &id2, err, sizeof err), 0);
    assert_true(id2 > id1);
    sim_rundb_close(db);

    /* Reopening an existing database of ours works and keeps the rows. */
    assert_int_equal(sim_rundb_open(f->path, &db, err, sizeof err), 0);
    sim_rundb_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(sim_rundb_list(db, NULL, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, id2); /* newest first */
    assert_string_equal(rows[0].scenario, "beta");
    assert_true(rows[0].passed);
    assert_string_equal(rows[0].time, "2023-11-14T22:14:20Z");
    assert_string_equal(rows[1].scenario, "alpha");
    assert_false(rows[1].passed);
    assert_true(rows[1].seed == UINT64_MAX);
    assert_string_equal(rows[1].revision, "unknown");
    assert_string_equal(rows[1].failing, "no_loss");
    assert_string_equal(rows[1].figures_json, "{\"published\":10}");
    assert_true(rows[1].history_hash == 0xfedcba9876543210ULL);
    assert_string_equal(rows[1].report_dir, "reports/runs/x");
    assert_string_equal(rows[1].time, "2023-11-14T22:13:20Z");
    sim_rundb_rows_free(rows, n);
    sim_rundb_close(db);

    /* The schema marks are set. */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), SIM_RUNDB_APPLICATION_ID);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), SIM_RUNDB_SCHEMA_VERSION);
    sqlite3_finalize(st);
    sqlite3_close(raw);
}

typedef struct change_case {
    const char *scenario;
    uint64_t seed;
    bool passed;
    sim_rundb_change expect; /* mark of this row once all are inserted */
} change_case;

static void test_change_marks(void **state)
{
    fixture *f = *state;
    static const change_case cases[] = {
        {"a", 1, true, SIM_RUNDB_SAME},         /* first run, passes */
        {"a", 1, false, SIM_RUNDB_NEW_FAILURE}, /* pass -> fail */
        {"b", 1, false, SIM_RUNDB_NEW_FAILURE}, /* first run fails */
        {"a", 2, true, SIM_RUNDB_SAME},         /* other seed: own history */
        {"a", 1, false, SIM_RUNDB_SAME},        /* still failing: known */
        {"a", 1, true, SIM_RUNDB_FIXED},        /* fail -> pass */
        {"b", 1, false, SIM_RUNDB_SAME},        {"a", 2, false, SIM_RUNDB_NEW_FAILURE},
        {"a", 1, true, SIM_RUNDB_SAME},
    };
    const size_t nc = sizeof cases / sizeof cases[0];
    sim_rundb *db = NULL;
    char err[256] = "";
    assert_int_equal(sim_rundb_open(f->path, &db, err, sizeof err), 0);
    for (size_t i = 0; i < nc; i++)
        add(db, cases[i].scenario, cases[i].seed, cases[i].passed, 1700000000 + (int64_t)i);
    sim_rundb_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(sim_rundb_list(db, NULL, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, nc);
    for (size_t i = 0; i < nc; i++) {
        const change_case *c = &cases[nc - 1 - i];
        assert_string_equal(rows[i].scenario, c->scenario);
        assert_int_equal(rows[i].seed, c->seed);
        assert_int_equal(rows[i].passed, c->passed);
        assert_int_equal(rows[i].change, c->expect);
    }
    sim_rundb_rows_free(rows, n);

    /* Filters keep the marks computed against the full history. */
    sim_rundb_query q = SIM_RUNDB_QUERY_INIT;
    q.scenario = "a";
    q.failures_only = true;
    assert_int_equal(sim_rundb_list(db, &q, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].seed, 2);
    assert_int_equal(rows[0].change, SIM_RUNDB_NEW_FAILURE);
    assert_int_equal(rows[1].change, SIM_RUNDB_SAME);
    assert_int_equal(rows[2].change, SIM_RUNDB_NEW_FAILURE);
    sim_rundb_rows_free(rows, n);
    q.failures_only = false;
    q.limit = 2;
    assert_int_equal(sim_rundb_list(db, &q, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[1].change, SIM_RUNDB_NEW_FAILURE);
    sim_rundb_rows_free(rows, n);
    q.scenario = "nope";
    q.limit = 0;
    assert_int_equal(sim_rundb_list(db, &q, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    sim_rundb_close(db);
    assert_string_equal(sim_rundb_change_name(SIM_RUNDB_NEW_FAILURE), "NEW FAILURE");
    assert_string_equal(sim_rundb_change_name(SIM_RUNDB_FIXED), "FIXED");
    assert_string_equal(sim_rundb_change_name(SIM_RUNDB_SAME), "");
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
}

typedef struct foreign_case {
    const char *sql; /* NULL: write `text` as a plain file */
    const char *text;
    int expect;
    const char *needle; /* in the error text */
} foreign_case;

static void test_foreign_and_newer(void **state)
{
    fixture *f = *state;
    static const foreign_case cases[] = {
        {"CREATE TABLE users(x);", NULL, FL_E_BAD_MAGIC, "not a faultline run database"},
        {"PRAGMA application_id=1234;", NULL, FL_E_BAD_MAGIC, "application_id 0x000004d2"},
        {NULL, "hello, I am a text file that is long enough to look like a header........",
         FL_E_BAD_MAGIC, "not an SQLite file"},
        {"PRAGMA application_id=1179407442; PRAGMA user_version=2;", NULL, FL_E_BAD_VERSION,
         "newer than this faultline supports"},
        {"PRAGMA application_id=1179407442;", NULL, FL_E_BAD_VERSION, "no schema version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const foreign_case *c = &cases[i];
        unlink(f->path);
        if (c->sql) {
            raw_exec(f->path, c->sql);
        } else {
            FILE *fp = fopen(f->path, "w");
            assert_non_null(fp);
            fputs(c->text, fp);
            fclose(fp);
        }
        sim_rundb *db = (sim_rundb *)1;
        char err[256] = "";
        assert_int_equal(sim_rundb_open(f->path, &db, err, sizeof err), c->expect);
        assert_null(db);
        assert_non_null(strstr(err, c->needle));
        assert_non_null(strstr(err, f->path));

        FILE *out = tmpfile(), *ef = tmpfile();
        char *argv[] = {"history", "--db", f->path};
        assert_int_equal(sim_rundb_history_main(3, argv, out, ef), 2);
        char buf[512] = "";
        rewind(ef);
        size_t got = fread(buf, 1, sizeof buf - 1, ef);
        buf[got] = 0;
        assert_non_null(strstr(buf, c->needle));
        fclose(out);
        fclose(ef);
    }
    /* The foreign file is left as it was: it still is not ours. */
    assert_int_equal(access(f->path, F_OK), 0);
}

/* Several processes recording at once all get their rows in. */
static void test_concurrent_writers(void **state)
{
    fixture *f = *state;
    enum { PROCS = 4, EACH = 25 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            int bad = 0;
            for (int i = 0; i < EACH; i++) {
                sim_rundb_run r = mkrun("conc", (uint64_t)(p * 1000 + i), i % 2 == 0);
                bad |= sim_rundb_record(f->path, &r, 1700000000, NULL, 0) != 0;
            }
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    sim_rundb *db = NULL;
    assert_int_equal(sim_rundb_open(f->path, &db, NULL, 0), 0);
    sim_rundb_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(sim_rundb_list(db, NULL, &rows, &n, NULL, 0), 0);
    assert_int_equal(n, PROCS * EACH);
    sim_rundb_rows_free(rows, n);
    sim_rundb_close(db);
}

static char *run_history(int argc, char **argv, int expect_rc, bool want_err)
{
    FILE *out = tmpfile(), *ef = tmpfile();
    assert_non_null(out);
    assert_non_null(ef);
    assert_int_equal(sim_rundb_history_main(argc, argv, out, ef), expect_rc);
    FILE *src = want_err ? ef : out;
    long len = ftell(src);
    char *buf = calloc(1, (size_t)len + 1);
    assert_non_null(buf);
    rewind(src);
    assert_int_equal(fread(buf, 1, (size_t)len, src), (size_t)len);
    fclose(out);
    fclose(ef);
    return buf;
}

static void test_history_command(void **state)
{
    fixture *f = *state;
    char *argv_missing[] = {"history", "--db", f->path};
    char *s = run_history(3, argv_missing, 0, false);
    assert_non_null(strstr(s, "no runs recorded yet"));
    free(s);

    sim_rundb *db = NULL;
    assert_int_equal(sim_rundb_open(f->path, &db, NULL, 0), 0);
    add(db, "failover", 1, true, 1700000000);
    add(db, "failover", 1, false, 1700000001);
    add(db, "replay", 3, true, 1700000002);
    add(db, "failover", 1, true, 1700000003);
    sim_rundb_close(db);

    char *argv_all[] = {"history", "--db", f->path};
    s = run_history(3, argv_all, 0, false);
    const char *fixed = strstr(s, "FIXED");
    const char *newf = strstr(s, "NEW FAILURE");
    assert_non_null(fixed);
    assert_non_null(newf);
    assert_true(fixed < newf); /* newest first */
    assert_non_null(strstr(s, "replay"));
    assert_non_null(strstr(s, "no_loss"));
    free(s);

    char *argv_fail[] = {"history", "--failures", "--scenario", "failover", "--db", f->path};
    s = run_history(6, argv_fail, 0, false);
    assert_non_null(strstr(s, "NEW FAILURE"));
    assert_null(strstr(s, "FIXED"));
    assert_null(strstr(s, "replay"));
    free(s);

    char *argv_none[] = {"history", "--scenario", "zzz", "--db", f->path};
    s = run_history(5, argv_none, 0, false);
    assert_non_null(strstr(s, "no matching runs"));
    free(s);

    char *argv_bad[] = {"history", "--bogus"};
    s = run_history(2, argv_bad, 2, true);
    assert_non_null(strstr(s, "--bogus"));
    assert_non_null(strstr(s, "usage"));
    free(s);

    char *argv_limit[] = {"history", "--limit", "x1", "--db", f->path};
    s = run_history(5, argv_limit, 2, true);
    assert_non_null(strstr(s, "--limit needs a count"));
    free(s);

    char *argv_help[] = {"history", "--help"};
    s = run_history(2, argv_help, 0, false);
    assert_non_null(strstr(s, "usage"));
    free(s);
}

/* `faultline history` reads the database FAULTLINE_DB names (where
 * `faultline run` records) unless --db says otherwise. */
static void test_history_honours_faultline_db(void **state)
{
    fixture *f = *state;
    assert_string_equal(sim_rundb_path(NULL), SIM_RUNDB_DEFAULT_PATH);
    assert_string_equal(sim_rundb_path(""), SIM_RUNDB_DEFAULT_PATH);
    assert_string_equal(sim_rundb_path(f->path), f->path);

    sim_rundb *db = NULL;
    assert_int_equal(sim_rundb_open(f->path, &db, NULL, 0), 0);
    add(db, "from-env-db", 7, false, 1700000000);
    sim_rundb_close(db);

    char *prev = getenv("FAULTLINE_DB") ? strdup(getenv("FAULTLINE_DB")) : NULL;
    assert_int_equal(setenv("FAULTLINE_DB", f->path, 1), 0);
    char *argv_env[] = {"history"};
    char *s = run_history(1, argv_env, 0, false);
    assert_non_null(strstr(s, "from-env-db"));
    free(s);

    char other[160];
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    char *argv_db[] = {"history", "--db", other};
    s = run_history(3, argv_db, 0, false);
    assert_null(strstr(s, "from-env-db"));
    assert_non_null(strstr(s, "other.db"));
    free(s);

    if (prev)
        setenv("FAULTLINE_DB", prev, 1);
    else
        unsetenv("FAULTLINE_DB");
    free(prev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_honours_faultline_db, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
