/* libFuzzer target for the scenario loader (simulator/scenario.c, with
 * units.c and jsonpos.c underneath).
 *
 * Loads the input as a scenario. On failure the result must be
 * FL_E_SCENARIO or FL_E_NOMEM, no scenario may be returned, and every text
 * field of the error must be NUL-terminated within its array. On success
 * the canonical JSON (sim_scenario_to_json -> json_dumps) must load again
 * and dump to byte-identical text: canonicalisation is a fixed point. A
 * violation aborts so the fuzzer reports it.
 */
#include "scenario.h"

#include "faultline/error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_scenario: check failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_error(const sim_scenario_error *err)
{
    CHECK(memchr(err->file, '\0', sizeof err->file) != NULL);
    CHECK(memchr(err->path, '\0', sizeof err->path) != NULL);
    CHECK(memchr(err->text, '\0', sizeof err->text) != NULL);
    CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
    CHECK(err->text[0] != '\0');
    CHECK(err->line >= 0 && err->column >= 0);
}

/* The canonical text of a scenario; NULL only on allocation failure. */
static char *canonical(const sim_scenario *sc)
{
    json_t *j = sim_scenario_to_json(sc);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static void check_round_trip(const sim_scenario *sc)
{
    char *first = canonical(sc);
    if (first == NULL)
        return;
    sim_scenario *again = NULL;
    sim_scenario_error err;
    int rc = sim_scenario_load_buffer("canonical.json", first, strlen(first), &again, &err);
    if (rc == FL_E_NOMEM) {
        free(first);
        return;
    }
    if (rc != 0)
        fprintf(stderr, "fuzz_scenario: canonical form rejected: %s\n%s\n", err.message, first);
    CHECK(rc == 0 && again != NULL);
    char *second = canonical(again);
    if (second != NULL && strcmp(first, second) != 0)
        fprintf(stderr, "fuzz_scenario: canonical form not stable:\n%s\n%s\n", first, second);
    CHECK(second == NULL || strcmp(first, second) == 0);
    free(second);
    sim_scenario_free(again);
    free(first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap block so ASan catches any read past it
     * (the loader must not need a terminating NUL). */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);

    sim_scenario *sc = NULL;
    sim_scenario_error err;
    int rc = sim_scenario_load_buffer("fuzz.json", text, size, &sc, &err);
    if (rc != 0) {
        CHECK(rc == FL_E_SCENARIO || rc == FL_E_NOMEM);
        CHECK(sc == NULL);
        if (rc == FL_E_SCENARIO)
            check_error(&err);
    } else {
        CHECK(sc != NULL);
        check_round_trip(sc);
        sim_scenario_free(sc);
    }
    free(text);
    return 0;
}
