/* The run-history database (rundb.h): reports/history.db in SQLite, its
 * schema checks, inserts from concurrent processes, listing with
 * NEW FAILURE / FIXED marks, and the `faultline history` subcommand. */
#include "rundb.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/error.h"
#include "util.h"

#define BUSY_TIMEOUT_MS 30000

struct sim_rundb {
    sqlite3 *db;
};

static const char SCHEMA_SQL[] = "CREATE TABLE runs ("
                                 " id INTEGER PRIMARY KEY,"
                                 " time TEXT NOT NULL,"
                                 " scenario TEXT NOT NULL,"
                                 " file TEXT NOT NULL,"
                                 " seed INTEGER NOT NULL,"
                                 " revision TEXT NOT NULL,"
                                 " result TEXT NOT NULL CHECK (result IN ('pass','fail')),"
                                 " failing TEXT NOT NULL,"
                                 " figures TEXT NOT NULL,"
                                 " history_hash TEXT NOT NULL,"
                                 " report_dir TEXT NOT NULL);"
                                 "CREATE INDEX runs_by_scenario ON runs(scenario, seed, id);";

/* SQLite result code -> FL_E_*. */
static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return FL_E_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return FL_E_BUSY;
    case SQLITE_NOTADB:
        return FL_E_BAD_MAGIC;
    case SQLITE_CANTOPEN:
        return FL_E_NOENT;
    default:
        return FL_E_IO;
    }
}

/* Run SQL without results; on failure detail "<what>: <sqlite message>". */
static int exec_sql(sqlite3 *db, const char *sql, const char *what, char *err, size_t cap)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    sim_set_err(err, cap, "%s: %s", what, sqlite3_errmsg(db));
    return map_rc(rc);
}

/* Read one integer from a single-row statement (a PRAGMA or COUNT). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        sim_set_err(err, cap, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return map_rc(rc);
}

/* Inside an IMMEDIATE transaction: accept our database, initialise an
 * empty one, refuse anything else. */
static int check_or_init(sqlite3 *db, const char *path, char *err, size_t cap)
{
    int64_t app = 0, ver = 0, ntables = 0;
    int rc = query_int(db, "PRAGMA application_id", &app, err, cap);
    if (rc == FL_E_BAD_MAGIC)
        sim_set_err(err, cap, "%s: not a faultline run database (not an SQLite file)", path);
    if (rc)
        return rc;
    if ((rc = query_int(db, "PRAGMA user_version", &ver, err, cap)))
        return rc;
    if ((rc = query_int(db, "SELECT count(*) FROM sqlite_master", &ntables, err, cap)))
        return rc;
    if (app == SIM_RUNDB_APPLICATION_ID) {
        if (ver > SIM_RUNDB_SCHEMA_VERSION) {
            sim_set_err(err, cap,
                        "%s: run database schema version %" PRId64
                        " is newer than this faultline supports (%d); use a newer faultline",
                        path, ver, SIM_RUNDB_SCHEMA_VERSION);
            return FL_E_BAD_VERSION;
        }
        if (ver < 1) {
            sim_set_err(err, cap, "%s: run database has no schema version", path);
            return FL_E_BAD_VERSION;
        }
        return 0;
    }
    if (app != 0 || ntables != 0) {
        sim_set_err(err, cap,
                    "%s: not a faultline run database (application_id 0x%08" PRIx64 ", %" PRId64
                    " foreign schema objects)",
                    path, (uint64_t)(uint32_t)app, ntables);
        return FL_E_BAD_MAGIC;
    }
    char sql[sizeof SCHEMA_SQL + 128];
    snprintf(sql, sizeof sql, "%sPRAGMA application_id=%d;PRAGMA user_version=%d;", SCHEMA_SQL,
             SIM_RUNDB_APPLICATION_ID, SIM_RUNDB_SCHEMA_VERSION);
    return exec_sql(db, sql, "creating the run database", err, cap);
}

int sim_rundb_open(const char *path, sim_rundb **out, char *err, size_t errcap)
{
    *out = NULL;
    sim_rundb *r = calloc(1, sizeof *r);
    if (!r)
        return FL_E_NOMEM;
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        sim_set_err(err, errcap, "%s: cannot open: %s", path,
                    r->db ? sqlite3_errmsg(r->db) : "out of memory");
        rc = map_rc(rc);
        goto fail;
    }
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
    rc = exec_sql(r->db, "BEGIN IMMEDIATE", path, err, errcap);
    if (rc == FL_E_BAD_MAGIC)
        sim_set_err(err, errcap, "%s: not a faultline run database (not an SQLite file)", path);
    if (rc)
        goto fail;
    rc = check_or_init(r->db, path, err, errcap);
    if (rc) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    if ((rc = exec_sql(r->db, "COMMIT", path, err, errcap)))
        goto fail;
    *out = r;
    return 0;
fail:
    sqlite3_close(r->db);
    free(r);
    return rc;
}

void sim_rundb_close(sim_rundb *db)
{
    if (!db)
        return;
    sqlite3_close(db->db);
    free(db);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void format_utc(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, cap, "%" PRId64, t);
        return;
    }
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int bind_run(sqlite3_stmt *st, const sim_rundb_run *run, const char *when)
{
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, run->history_hash);
    int rc = sqlite3_bind_text(st, 1, when, -1, SQLITE_TRANSIENT);
    rc = rc ? rc : sqlite3_bind_text(st, 2, or_empty(run->scenario), -1, SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_text(st, 3, or_empty(run->file), -1, SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_int64(st, 4, (sqlite3_int64)run->seed);
    rc =
        rc ? rc
           : sqlite3_bind_text(st, 5, run->revision ? run->revision : "unknown", -1, SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_text(st, 6, run->passed ? "pass" : "fail", -1, SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_text(st, 7, or_empty(run->failing), -1, SQLITE_STATIC);
    rc = rc ? rc
            : sqlite3_bind_text(st, 8, run->figures_json ? run->figures_json : "{}", -1,
                                SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_text(st, 9, hash, -1, SQLITE_TRANSIENT);
    rc = rc ? rc : sqlite3_bind_text(st, 10, or_empty(run->report_dir), -1, SQLITE_STATIC);
    return rc;
}

int sim_rundb_add(sim_rundb *db, const sim_rundb_run *run, int64_t now_unix, int64_t *id_out,
                  char *err, size_t errcap)
{
    static const char sql[] = "INSERT INTO runs(time,scenario,file,seed,revision,result,"
                              "failing,figures,history_hash,report_dir) "
                              "VALUES(?,?,?,?,?,?,?,?,?,?)";
    char when[32];
    format_utc(now_unix, when, sizeof when);
    int rc = exec_sql(db->db, "BEGIN IMMEDIATE", "recording a run", err, errcap);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
    src = src ? src : bind_run(st, run, when);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
        src = src == SQLITE_DONE ? SQLITE_OK : src;
    }
    if (src != SQLITE_OK)
        sim_set_err(err, errcap, "recording a run: %s", sqlite3_errmsg(db->db));
    sqlite3_finalize(st);
    if (src != SQLITE_OK) {
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
        return map_rc(src);
    }
    int64_t id = sqlite3_last_insert_rowid(db->db);
    if ((rc = exec_sql(db->db, "COMMIT", "recording a run", err, errcap))) {
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (id_out)
        *id_out = id;
    return 0;
}

int sim_rundb_record(const char *path, const sim_rundb_run *run, int64_t now_unix, char *err,
                     size_t errcap)
{
    sim_rundb *db = NULL;
    int rc = sim_rundb_open(path, &db, err, errcap);
    if (rc)
        return rc;
    rc = sim_rundb_add(db, run, now_unix, NULL, err, errcap);
    sim_rundb_close(db);
    return rc;
}

const char *sim_rundb_change_name(sim_rundb_change c)
{
    switch (c) {
    case SIM_RUNDB_NEW_FAILURE:
        return "NEW FAILURE";
    case SIM_RUNDB_FIXED:
        return "FIXED";
    default:
        return "";
    }
}

void sim_rundb_rows_free(sim_rundb_row *rows, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        sim_rundb_row *r = &rows[i];
        free(r->time);
        free(r->scenario);
        free(r->file);
        free(r->revision);
        free(r->failing);
        free(r->figures_json);
        free(r->report_dir);
    }
    free(rows);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

static sim_rundb_change change_of(bool passed, int prev_type, const unsigned char *prev)
{
    bool had_prev = prev_type != SQLITE_NULL && prev;
    bool prev_passed = had_prev && strcmp((const char *)prev, "pass") == 0;
    if (!passed && (!had_prev || prev_passed))
        return SIM_RUNDB_NEW_FAILURE;
    if (passed && had_prev && !prev_passed)
        return SIM_RUNDB_FIXED;
    return SIM_RUNDB_SAME;
}

/* Fill one row from the current statement row; FL_E_NOMEM. */
static int read_row(sqlite3_stmt *st, sim_rundb_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->time = col_dup(st, 1);
    r->scenario = col_dup(st, 2);
    r->file = col_dup(st, 3);
    r->seed = (uint64_t)sqlite3_column_int64(st, 4);
    r->revision = col_dup(st, 5);
    const unsigned char *res = sqlite3_column_text(st, 6);
    r->passed = res && strcmp((const char *)res, "pass") == 0;
    r->failing = col_dup(st, 7);
    r->figures_json = col_dup(st, 8);
    const unsigned char *hash = sqlite3_column_text(st, 9);
    r->history_hash = hash ? strtoull((const char *)hash, NULL, 16) : 0;
    r->report_dir = col_dup(st, 10);
    r->change = change_of(r->passed, sqlite3_column_type(st, 11), sqlite3_column_text(st, 11));
    if (!r->time || !r->scenario || !r->file || !r->revision || !r->failing || !r->figures_json ||
        !r->report_dir)
        return FL_E_NOMEM;
    return 0;
}

static int prepare_list(sqlite3 *db, const sim_rundb_query *q, sqlite3_stmt **st)
{
    static const char sql[] =
        "SELECT r.id,r.time,r.scenario,r.file,r.seed,r.revision,r.result,r.failing,r.figures,"
        "r.history_hash,r.report_dir,"
        "(SELECT p.result FROM runs p WHERE p.scenario=r.scenario AND p.seed=r.seed"
        " AND p.id<r.id ORDER BY p.id DESC LIMIT 1) "
        "FROM runs r WHERE (?1 IS NULL OR r.scenario=?1) AND (?2=0 OR r.result='fail') "
        "ORDER BY r.id DESC LIMIT ?3";
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = q->scenario ? sqlite3_bind_text(*st, 1, q->scenario, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(*st, 1);
    rc = rc ? rc : sqlite3_bind_int(*st, 2, q->failures_only ? 1 : 0);
    rc = rc ? rc : sqlite3_bind_int64(*st, 3, q->limit ? (sqlite3_int64)q->limit : -1);
    return rc;
}

int sim_rundb_list(sim_rundb *db, const sim_rundb_query *q, sim_rundb_row **rows, size_t *nrows,
                   char *err, size_t errcap)
{
    static const sim_rundb_query all = SIM_RUNDB_QUERY_INIT;
    *rows = NULL;
    *nrows = 0;
    sqlite3_stmt *st = NULL;
    sim_rundb_row *v = NULL;
    size_t n = 0, cap = 0;
    int rc = prepare_list(db->db, q ? q : &all, &st);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            sim_rundb_row *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        int r = read_row(st, &v[n++]);
        rc = r ? SQLITE_NOMEM : SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        sim_set_err(err, errcap, "listing runs: %s",
                    rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db->db));
        sqlite3_finalize(st);
        sim_rundb_rows_free(v, n);
        return map_rc(rc);
    }
    sqlite3_finalize(st);
    *rows = v;
    *nrows = n;
    return 0;
}

/* ---- faultline history ----------------------------------------------------- */

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: faultline history [--scenario NAME] [--failures] [--limit N] "
            "[--db PATH]\n"
            "  Lists recorded runs, newest first; NEW FAILURE / FIXED mark a result that\n"
            "  changed since the previous run of the same scenario and seed.\n"
            "  The database is --db PATH, else $FAULTLINE_DB, else " SIM_RUNDB_DEFAULT_PATH ".\n");
}

typedef struct history_args {
    sim_rundb_query q;
    const char *db;
    bool help;
} history_args;

/* Parse options; 0 or 2 (usage error, already printed). */
static int parse_history_args(int argc, char **argv, history_args *a, FILE *errf)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(o, "--failures") == 0) {
            a->q.failures_only = true;
        } else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            a->help = true;
        } else if (strcmp(o, "--scenario") == 0 && has_val) {
            a->q.scenario = argv[++i];
        } else if (strcmp(o, "--db") == 0 && has_val) {
            a->db = argv[++i];
        } else if (strcmp(o, "--limit") == 0 && has_val) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || !end || *end || argv[i][0] == '-' || argv[i][0] == 0) {
                fprintf(errf, "faultline history: --limit needs a count, got '%s'\n", argv[i]);
                return 2;
            }
            a->q.limit = (size_t)v;
        } else {
            fprintf(errf, "faultline history: %s '%s'\n",
                    o[0] == '-' && !has_val ? "missing value or unknown option"
                                            : "unknown argument",
                    o);
            print_usage(errf);
            return 2;
        }
    }
    return 0;
}

static void print_rows(FILE *out, const sim_rundb_row *rows, size_t n)
{
    fprintf(out, "%-6s %-20s %-4s %-12s %-32s %-20s %-16s %s\n", "ID", "TIME", "RES", "CHANGE",
            "SCENARIO", "SEED", "REVISION", "FAILING / REPORT");
    for (size_t i = 0; i < n; i++) {
        const sim_rundb_row *r = &rows[i];
        fprintf(out, "%-6" PRId64 " %-20s %-4s %-12s %-32s %-20" PRIu64 " %-16s %s%s%s\n", r->id,
                r->time, r->passed ? "pass" : "FAIL", sim_rundb_change_name(r->change), r->scenario,
                r->seed, r->revision, r->failing, r->failing[0] ? "  " : "", r->report_dir);
    }
}

const char *sim_rundb_path(const char *env)
{
    return env && *env ? env : SIM_RUNDB_DEFAULT_PATH;
}

int sim_rundb_history_main(int argc, char **argv, FILE *out, FILE *errf)
{
    history_args a = {SIM_RUNDB_QUERY_INIT, sim_rundb_path(getenv("FAULTLINE_DB")), false};
    if (parse_history_args(argc, argv, &a, errf))
        return 2;
    if (a.help) {
        print_usage(out);
        return 0;
    }
    if (access(a.db, F_OK) != 0) {
        fprintf(out, "no runs recorded yet (%s does not exist)\n", a.db);
        return 0;
    }
    char err[512] = "";
    sim_rundb *db = NULL;
    int rc = sim_rundb_open(a.db, &db, err, sizeof err);
    sim_rundb_row *rows = NULL;
    size_t n = 0;
    if (!rc)
        rc = sim_rundb_list(db, &a.q, &rows, &n, err, sizeof err);
    sim_rundb_close(db);
    if (rc) {
        fprintf(errf, "faultline history: %s (%s)\n", err[0] ? err : fl_strerror(rc),
                fl_err_name(rc));
        return 2;
    }
    if (n == 0)
        fprintf(out, "no matching runs in %s\n", a.db);
    else
        print_rows(out, rows, n);
    sim_rundb_rows_free(rows, n);
    return 0;
}
