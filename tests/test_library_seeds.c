/* The scenario library depends on the seed: every scenarios/ *.json (except
 * schema.json), loaded and run through the runner with seed 1 twice and
 * seed 2 once, must give the same history hash for the same seed and a
 * different one for the other seed. A scenario that draws nothing from the
 * PRNG (no link jitter, no reconnect jitter, no random power-loss prefix...)
 * runs the same history for every seed, so a seed sweep over it finds
 * nothing new; this test fails for it, naming the scenario.
 *
 * The verdicts are not asserted here: the scenario suite (ci/run-scenarios.sh)
 * checks each scenario with its own seed, and a few documented scenarios
 * (unsafe-power-loss-publish-store-batch) reach their expected outcome only
 * for some seeds.
 *
 * One cmocka test per library file, discovered when the binary starts, in
 * name order. The library is read from scenarios/ relative to the working
 * directory (the repository root, where ci/run-tests.sh runs the tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "runner.h"
#include "scenario.h"

#define LIBRARY_DIR "scenarios"
#define SCHEMA_FILE "schema.json"
#define SEED_A      1u
#define SEED_B      2u

/* The library's file paths, sorted. */
typedef struct library {
    char **paths;
    size_t n, cap;
} library;

/* The fixture of one test: the loaded scenario of its file. */
typedef struct fx {
    const char *path;
    sim_scenario *sc;
} fx;

static void library_free(library *lib)
{
    for (size_t i = 0; i < lib->n; i++)
        free(lib->paths[i]);
    free(lib->paths);
    lib->paths = NULL;
    lib->n = lib->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_scenario_file(const char *name)
{
    size_t len = strlen(name);
    return len > 5 && strcmp(name + len - 5, ".json") == 0 && strcmp(name, SCHEMA_FILE) != 0;
}

static int library_add(library *lib, const char *name)
{
    if (lib->n == lib->cap) {
        size_t cap = lib->cap ? lib->cap * 2 : 32;
        char **p = realloc(lib->paths, cap * sizeof *p);
        if (p == NULL)
            return FL_E_NOMEM;
        lib->paths = p;
        lib->cap = cap;
    }
    size_t len = strlen(LIBRARY_DIR) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    if (path == NULL)
        return FL_E_NOMEM;
    snprintf(path, len, "%s/%s", LIBRARY_DIR, name);
    lib->paths[lib->n++] = path;
    return 0;
}

/* List the library's scenario files in name order; 0, or a negative code
 * (FL_E_IO: the directory cannot be read). */
static int library_list(library *lib)
{
    DIR *d = opendir(LIBRARY_DIR);
    if (d == NULL)
        return FL_E_IO;
    int rc = 0;
    const struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (is_scenario_file(e->d_name))
            rc = library_add(lib, e->d_name);
    closedir(d);
    if (rc == 0 && lib->n > 1)
        qsort(lib->paths, lib->n, sizeof *lib->paths, cmp_str);
    return rc;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->path = *state;
    sim_scenario_error err;
    int rc = sim_scenario_load_file(f->path, &f->sc, &err);
    if (rc != 0) {
        const char *path = f->path;
        free(f);
        fail_msg("%s: %s (%s)", path, err.message, fl_err_name(rc));
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_scenario_free(f->sc);
    free(f);
    return 0;
}

/* The history hash of one run of `sc` with `seed`. */
static uint64_t run_hash(const fx *f, uint64_t seed)
{
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.has_seed = true;
    o.seed = seed;
    o.history_tail = 1;
    sim_run *r = NULL;
    char err[512] = "";
    int rc = sim_run_scenario(f->sc, &o, &r, err, sizeof err);
    if (rc != 0)
        fail_msg("%s seed %llu: the run did not complete: %s (%s)", f->path,
                 (unsigned long long)seed, err, fl_err_name(rc));
    assert_int_equal(sim_run_seed(r), seed);
    uint64_t h = sim_run_get_figures(r)->history_hash;
    sim_run_free(r);
    return h;
}

static void test_depends_on_seed(void **state)
{
    const fx *f = *state;
    uint64_t a = run_hash(f, SEED_A);
    uint64_t again = run_hash(f, SEED_A);
    uint64_t b = run_hash(f, SEED_B);
    if (a != again)
        fail_msg("%s: seed %u gave history hashes %016llx then %016llx (nondeterministic)", f->path,
                 SEED_A, (unsigned long long)a, (unsigned long long)again);
    if (a == b)
        fail_msg("%s: seeds %u and %u give the same history (hash %016llx): the scenario draws "
                 "nothing from the PRNG, so a seed sweep explores nothing; give its clients link "
                 "jitter or a jittered reconnect delay",
                 f->path, SEED_A, SEED_B, (unsigned long long)a);
}

/* Registered instead of the per-file tests when the library cannot be listed
 * or is empty; its state is the listing's result code. */
static void test_library_found(void **state)
{
    int rc = (int)(intptr_t)*state;
    if (rc != 0)
        fail_msg("cannot list %s/ (%s; run from the repository root)", LIBRARY_DIR,
                 fl_err_name(rc));
    fail_msg("no scenario files in %s/", LIBRARY_DIR);
}

int main(void)
{
    library lib = {0};
    int rc = library_list(&lib);
    if (rc != 0 || lib.n == 0) {
        const struct CMUnitTest missing[] = {
            {"library_found", test_library_found, NULL, NULL, (void *)(intptr_t)rc},
        };
        library_free(&lib);
        return cmocka_run_group_tests(missing, NULL, NULL);
    }
    struct CMUnitTest *tests = calloc(lib.n, sizeof *tests);
    if (tests == NULL) {
        library_free(&lib);
        fprintf(stderr, "test_library_seeds: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < lib.n; i++) {
        tests[i].name = lib.paths[i];
        tests[i].test_func = test_depends_on_seed;
        tests[i].setup_func = setup;
        tests[i].teardown_func = teardown;
        tests[i].initial_state = lib.paths[i];
    }
    int failed = _cmocka_run_group_tests("test_library_seeds", tests, lib.n, NULL, NULL);
    free(tests);
    library_free(&lib);
    return failed;
}
