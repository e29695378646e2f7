/* The run-history database (reports/history.db) and `faultline history`.
 *
 * Every `faultline run` records each scenario run here so that CI can tell a
 * new failure from an old one. The database is SQLite:
 *
 *   PRAGMA application_id = 0x464C5452 ("FLTR"), PRAGMA user_version = 1;
 *   table runs (
 *     id        INTEGER PRIMARY KEY,  -- insertion order = run order
 *     time      TEXT,    -- wall clock UTC, "YYYY-MM-DDTHH:MM:SSZ" (reports are
 *                           not simulation, so the wall clock is fine here)
 *     scenario  TEXT,    -- scenario name
 *     file      TEXT,    -- scenario file as given on the command line
 *     seed      INTEGER, -- the run's seed (stored as signed 64-bit bits)
 *     revision  TEXT,    -- `git describe` of the build, or "unknown"
 *     result    TEXT,    -- "pass" or "fail"
 *     failing   TEXT,    -- failing checkers, comma-separated ("" for a pass)
 *     figures   TEXT,    -- figures JSON object (report.json "figures")
 *     history_hash TEXT, -- 16 lower-case hex digits
 *     report_dir TEXT    -- where the run's reports are
 *   )
 *
 * A run's identity for change marking is (scenario, seed): the previous run
 * of a row is the newest older row with the same scenario name and seed. A
 * failing row whose previous run passed is a NEW FAILURE, and so is a
 * failing row with no previous run (nothing shows the failure is known); a
 * passing row whose previous run failed is FIXED.
 *
 * Concurrency: `faultline run --jobs` writes from several processes. Every
 * connection sets a busy timeout, the schema is created inside a BEGIN
 * IMMEDIATE transaction, and each insert is its own IMMEDIATE transaction.
 */
#ifndef SIM_RUNDB_H
#define SIM_RUNDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_RUNDB_APPLICATION_ID 0x464C5452 /* "FLTR" */
#define SIM_RUNDB_SCHEMA_VERSION 1
#define SIM_RUNDB_DEFAULT_PATH   "reports/history.db"

typedef struct sim_rundb sim_rundb;

/* One run to record; every string is borrowed and may be NULL (stored as ""
 * except revision, stored as "unknown"). */
typedef struct sim_rundb_run {
    const char *scenario;
    const char *file;
    uint64_t seed;
    const char *revision;
    bool passed;
    const char *failing;      /* comma-separated checker names */
    const char *figures_json; /* a JSON object as text; NULL: "{}" */
    uint64_t history_hash;
    const char *report_dir;
} sim_rundb_run;

/* How a row compares with the previous run of the same (scenario, seed). */
typedef enum sim_rundb_change {
    SIM_RUNDB_SAME = 0,    /* same result as before */
    SIM_RUNDB_NEW_FAILURE, /* fails now; passed before or never ran */
    SIM_RUNDB_FIXED,       /* passes now; failed before */
} sim_rundb_change;

/* One listed row; strings are owned by the row array (sim_rundb_rows_free). */
typedef struct sim_rundb_row {
    int64_t id;
    char *time;
    char *scenario;
    char *file;
    uint64_t seed;
    char *revision;
    bool passed;
    char *failing;
    char *figures_json;
    uint64_t history_hash;
    char *report_dir;
    sim_rundb_change change;
} sim_rundb_row;

/* Filter for sim_rundb_list. _INIT lists everything. */
typedef struct sim_rundb_query {
    const char *scenario; /* NULL: all scenarios */
    bool failures_only;   /* only failing rows */
    size_t limit;         /* 0: no limit */
} sim_rundb_query;

#define SIM_RUNDB_QUERY_INIT                                                                       \
    {                                                                                              \
        NULL, false, 0                                                                             \
    }

/* The run database path when no --db is given: `env` (the value of the
 * FAULTLINE_DB environment variable, or NULL) when it is set and not
 * empty, else SIM_RUNDB_DEFAULT_PATH. `faultline run` writes there and
 * `faultline history` reads there, so both agree. */
const char *sim_rundb_path(const char *env);

/* Open (creating if missing) the run database at `path`. The parent
 * directory must exist. Returns 0 and *out, or: FL_E_BAD_MAGIC (the file is
 * not a SQLite database, or one that belongs to something else: another
 * application_id, or foreign tables without ours), FL_E_BAD_VERSION (written
 * by a newer faultline: user_version above SIM_RUNDB_SCHEMA_VERSION),
 * FL_E_BUSY (locked past the busy timeout), FL_E_IO, FL_E_NOMEM. Detail text
 * goes into err (optional). */
int sim_rundb_open(const char *path, sim_rundb **out, char *err, size_t errcap);

/* Close; NULL is a no-op. */
void sim_rundb_close(sim_rundb *db);

/* Record one run in its own transaction; `now_unix` is the wall-clock time
 * to store (seconds since 1970). *id_out (optional) gets the new row id.
 * 0, FL_E_BUSY, FL_E_IO. */
int sim_rundb_add(sim_rundb *db, const sim_rundb_run *run, int64_t now_unix, int64_t *id_out,
                  char *err, size_t errcap);

/* List rows newest first, each with its change mark. On success *rows is a
 * new array of *nrows rows (NULL when 0; free with sim_rundb_rows_free).
 * 0, FL_E_IO, FL_E_NOMEM. */
int sim_rundb_list(sim_rundb *db, const sim_rundb_query *q, sim_rundb_row **rows, size_t *nrows,
                   char *err, size_t errcap);

/* Free what sim_rundb_list returned. */
void sim_rundb_rows_free(sim_rundb_row *rows, size_t nrows);

/* "", "NEW FAILURE" or "FIXED". */
const char *sim_rundb_change_name(sim_rundb_change c);

/* Open, add one run, close: the call `faultline run` makes after each
 * scenario. */
int sim_rundb_record(const char *path, const sim_rundb_run *run, int64_t now_unix, char *err,
                     size_t errcap);

/* The `faultline history` subcommand:
 *   faultline history [--scenario S] [--failures] [--limit N] [--db PATH]
 * argv[0] is "history" (the subcommand name); options follow. The database
 * is --db PATH, else sim_rundb_path(getenv("FAULTLINE_DB")). Prints one
 * line per run, newest first, to `out`; errors to `errf`. Returns the exit
 * status: 0 listed (even nothing), 2 bad usage or a database error. */
int sim_rundb_history_main(int argc, char **argv, FILE *out, FILE *errf);

#endif
