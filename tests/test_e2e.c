/* End-to-end simulation test (issue 4): scenarios/e2e-100k-failover.json
 * through the scenario loader and the runner, exactly as `make test` runs it
 * through the CLI, with the assertions spelled out:
 *
 *   - the run passes (every check of its `expect`);
 *   - the subscriber's application got exactly the 100,000 messages the
 *     publisher's application published -- distinct count 100,000 and
 *     handler calls 100,000, so not one was handed over twice (the stores
 *     are file stores with sync=always, which promise that across power
 *     loss) -- and the no_loss / ack_honesty / no_duplicates / order /
 *     gaps_reported / liveness / unpersisted_zero checks passed;
 *   - every fault of the timeline fired (by time or by trigger), had its
 *     effect (not skipped) and healed;
 *   - determinism: the same seed twice gives the same history hash and the
 *     same figures, for the scenario's seed and three others; the seeds do
 *     reach the simulation (their histories differ).
 *
 * Each run simulates 100,000 messages, and there are eight of them, so
 * they run in forked child processes, a few at a time (one per CPU, at most
 * four): each child runs one simulation and writes a summary of the result
 * (run_summary) into a pipe; the assertions run in the parent. Where fork is
 * not available the runs happen in-process one after the other. The
 * simulation itself stays single-threaded and deterministic.
 *
 * The scenario file is read from scenarios/ relative to the working
 * directory (the repository root, where ci/run-tests.sh runs the tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/error.h"
#include "runner.h"
#include "scenario.h"

#define SCENARIO_FILE "scenarios/e2e-100k-failover.json"
#define MESSAGES      100000u
#define MAX_FAULTS    32
#define MAX_JOBS      4

/* What the parent needs to know of one run (plain data: it crosses a pipe). */
typedef struct run_summary {
    int rc; /* of sim_run_scenario */
    bool passed;
    char failure[512]; /* sim_run_failure_text, or the setup error */
    uint64_t seed;
    sim_run_figures fig;
    uint64_t delivered_distinct; /* sub-1/s1 */
    size_t nerrors;
    size_t nviolations;
    sim_chk_verdict verdict[SIM_CHK_COUNT];
    size_t nfaults;
    sim_run_fault faults[MAX_FAULTS];
} run_summary;

typedef struct fx {
    sim_scenario *sc;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    sim_scenario_error err;
    int rc = sim_scenario_load_file(SCENARIO_FILE, &f->sc, &err);
    if (rc != 0)
        fail_msg("%s: %s (%s; run from the repository root)", SCENARIO_FILE, err.message,
                 fl_err_name(rc));
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

/* Index of client `name` (SIZE_MAX if absent). */
static size_t client_index(const sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->nclients; i++)
        if (strcmp(sc->clients[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

/* Run once in this process and summarise. No cmocka assertions here: it
 * also runs in a child process. */
static void summarize(const sim_scenario *sc, bool has_seed, uint64_t seed, run_summary *s)
{
    memset(s, 0, sizeof *s);
    sim_run_options o = SIM_RUN_OPTIONS_INIT;
    o.has_seed = has_seed;
    o.seed = seed;
    o.history_tail = 16;
    sim_run *r = NULL;
    s->rc = sim_run_scenario(sc, &o, &r, s->failure, sizeof s->failure);
    if (s->rc != 0)
        return;
    s->passed = sim_run_passed(r);
    snprintf(s->failure, sizeof s->failure, "%s", sim_run_failure_text(r));
    s->seed = sim_run_seed(r);
    s->fig = *sim_run_get_figures(r);
    size_t sub = client_index(sc, "sub-1");
    s->delivered_distinct = sub == SIZE_MAX ? 0 : sim_run_delivered_count(r, sub, 0);
    s->nerrors = sim_run_error_count(r);
    const sim_checker *chk = sim_run_checker(r);
    s->nviolations = sim_checker_violation_count(chk);
    for (int i = 0; i < SIM_CHK_COUNT; i++) {
        sim_checker_verdict v;
        s->verdict[i] = sim_checker_verdict_at(chk, i, &v) == 0 ? v.verdict : SIM_CHK_SKIPPED;
    }
    s->nfaults = sim_run_fault_count(r);
    for (size_t i = 0; i < s->nfaults && i < MAX_FAULTS; i++)
        s->faults[i] = *sim_run_fault_at(r, i);
    sim_run_free(r);
}

typedef struct job {
    bool has_seed;
    uint64_t seed;
    pid_t pid;
    int fd;
} job;

static bool read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Start job j in a child; false if fork or pipe fails (run it here then). */
static bool job_start(const sim_scenario *sc, job *j)
{
    int p[2];
    if (pipe(p) != 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    if (pid == 0) {
        close(p[0]);
        run_summary *s = malloc(sizeof *s);
        if (s == NULL)
            _exit(3);
        summarize(sc, j->has_seed, j->seed, s);
        bool ok = write_all(p[1], s, sizeof *s);
        free(s);
        _exit(ok ? 0 : 2);
    }
    close(p[1]);
    j->pid = pid;
    j->fd = p[0];
    return true;
}

static void job_finish(job *j, run_summary *out)
{
    bool ok = read_all(j->fd, out, sizeof *out);
    close(j->fd);
    int status = 0;
    while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("run with seed %llu: the child process died (status %d)",
                 (unsigned long long)j->seed, status);
}

static size_t job_limit(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_JOBS ? MAX_JOBS : (size_t)n;
}

/* Run every job (at most job_limit() at once); out[i] is job i's summary. */
static void run_jobs(const sim_scenario *sc, job *jobs, size_t n, run_summary *out)
{
    size_t limit = job_limit();
    for (size_t first = 0; first < n; first += limit) {
        size_t end = first + limit < n ? first + limit : n;
        bool forked[MAX_JOBS] = {false};
        for (size_t i = first; i < end; i++)
            forked[i - first] = limit > 1 && job_start(sc, &jobs[i]);
        for (size_t i = first; i < end; i++) {
            if (forked[i - first])
                job_finish(&jobs[i], &out[i]);
            else
                summarize(sc, jobs[i].has_seed, jobs[i].seed, &out[i]);
        }
    }
}

/* Everything the issue asks of one run. */
static void assert_e2e_run(const sim_scenario *sc, const run_summary *s)
{
    if (s->rc != 0)
        fail_msg("sim_run_scenario: %s %s", fl_err_name(s->rc), s->failure);
    if (!s->passed)
        fail_msg("seed %llu failed: %s", (unsigned long long)s->seed, s->failure);
    const sim_run_figures *fg = &s->fig;
    assert_int_equal(fg->published, MESSAGES);
    assert_int_equal(fg->accepted, MESSAGES);
    assert_int_equal(fg->journal_messages, MESSAGES);
    /* none lost, none duplicated: 100,000 distinct, 100,000 handler calls */
    assert_int_equal(s->delivered_distinct, MESSAGES);
    assert_int_equal(fg->delivered, MESSAGES);
    assert_int_equal(fg->discarded, MESSAGES);
    assert_int_equal(fg->gaps, 0);
    assert_int_equal(fg->errors, 0);
    assert_int_equal(s->nerrors, 0);
    static const char *const must_pass[] = {"no_loss",       "ack_honesty", "no_duplicates",
                                            "order",         "liveness",    "unpersisted_zero",
                                            "gaps_reported", "delivered"};
    for (size_t i = 0; i < sizeof must_pass / sizeof *must_pass; i++) {
        int k = 0;
        while (k < SIM_CHK_COUNT && strcmp(sim_checker_check_name(k), must_pass[i]) != 0)
            k++;
        assert_true(k < SIM_CHK_COUNT);
        if (s->verdict[k] != SIM_CHK_PASS)
            fail_msg("seed %llu: %s is %s", (unsigned long long)s->seed, must_pass[i],
                     sim_chk_verdict_name(s->verdict[k]));
    }
    assert_int_equal(s->nviolations, 0);
    /* every fault fired, had its effect and healed */
    assert_int_equal(s->nfaults, sc->nfaults);
    assert_true(s->nfaults <= MAX_FAULTS);
    for (size_t i = 0; i < s->nfaults; i++) {
        const sim_run_fault *f = &s->faults[i];
        assert_int_equal(f->index, i);
        if (!f->fired || f->skipped || !f->healed)
            fail_msg("seed %llu: fault %zu (%s) fired=%d skipped=%d healed=%d",
                     (unsigned long long)s->seed, i,
                     sim_scenario_enum_name(SIM_ENUM_FAULT_KIND, (int)sc->faults[i].kind), f->fired,
                     f->skipped, f->healed);
        assert_int_equal(f->by_trigger, !sc->faults[i].has_at);
        assert_true(f->healed_us >= f->fired_us);
        assert_true(f->fired_us <= sc->duration_us);
    }
    assert_int_equal(fg->faults_fired, sc->nfaults);
    assert_int_equal(fg->client_restarts, 4); /* both crashed once, both lost power once */
    assert_true(fg->reconnects >= 6);
    assert_true(fg->converged);
}

/* Two summaries of the same seed: the same history and figures. */
static void assert_same_run(const run_summary *a, const run_summary *b)
{
    assert_int_equal(a->seed, b->seed);
    assert_int_equal(a->fig.history_hash, b->fig.history_hash);
    assert_int_equal(a->fig.history_events, b->fig.history_events);
    assert_int_equal(a->fig.events_run, b->fig.events_run);
    assert_int_equal(a->fig.virtual_us, b->fig.virtual_us);
    assert_int_equal(a->fig.reconnects, b->fig.reconnects);
    assert_int_equal(a->fig.max_outage_us, b->fig.max_outage_us);
    assert_int_equal(a->nfaults, b->nfaults);
    for (size_t i = 0; i < a->nfaults && i < MAX_FAULTS; i++) {
        assert_int_equal(a->faults[i].fired_us, b->faults[i].fired_us);
        assert_int_equal(a->faults[i].healed_us, b->faults[i].healed_us);
    }
}

/* The scenario's own shape: what the issue describes, so an edit of the
 * file that weakens the test fails here. */
static void test_scenario_shape(void **state)
{
    fx *f = *state;
    const sim_scenario *sc = f->sc;
    assert_int_equal(sc->nbrokers, 2);
    assert_int_equal(sc->nclients, 2);
    size_t pi = client_index(sc, "pub-1"), si = client_index(sc, "sub-1");
    assert_true(pi != SIZE_MAX && si != SIZE_MAX);
    const sim_client *pub = &sc->clients[pi];
    const sim_client *sub = &sc->clients[si];
    assert_int_equal(pub->publish_store.type, SIM_STORE_FILE);
    assert_int_equal(pub->publish_store.sync, SIM_SYNC_ALWAYS);
    assert_int_equal(pub->npublish, 1);
    assert_int_equal(pub->publish[0].count, MESSAGES);
    assert_int_equal(pub->nsubscribe, 0);
    assert_int_equal(sub->bookmark_store.type, SIM_STORE_FILE);
    assert_int_equal(sub->bookmark_store.sync, SIM_SYNC_ALWAYS);
    assert_int_equal(sub->npublish, 0);
    assert_int_equal(sub->nsubscribe, 1);
    assert_string_equal(sub->subscribe[0].bookmark, "recent");
    bool sync_repl = false;
    for (size_t i = 0; i < sc->nbrokers; i++)
        for (size_t k = 0; k < sc->brokers[i].nreplicate_to; k++)
            sync_repl |= sc->brokers[i].replicate_to[k].mode == SIM_REPL_SYNC;
    assert_true(sync_repl);
    /* every fault kind of the issue, against both clients where it applies */
    unsigned seen = 0;
    for (size_t i = 0; i < sc->nfaults; i++) {
        const sim_fault *ft = &sc->faults[i];
        bool on_pub = ft->target_sort == SIM_TARGET_CLIENT && ft->target == pi;
        switch (ft->kind) {
        case SIM_FAULT_DISCONNECT:
            seen |= on_pub ? 1u : 2u;
            break;
        case SIM_FAULT_STALL:
            seen |= on_pub ? 4u : 8u;
            break;
        case SIM_FAULT_CRASH_CLIENT:
            seen |= on_pub ? 16u : 32u;
            break;
        case SIM_FAULT_POWER_LOSS_CLIENT:
            seen |= on_pub ? 64u : 128u;
            break;
        case SIM_FAULT_FAILOVER:
            seen |= 256u;
            break;
        default:
            break;
        }
    }
    assert_int_equal(seen, 511u);
}

/* The scenario's seed, twice: passes, and the same history both times. */
static void test_e2e_passes_and_repeats(void **state)
{
    fx *f = *state;
    job jobs[2] = {{false, 0, 0, -1}, {false, 0, 0, -1}};
    run_summary *s = calloc(2, sizeof *s);
    assert_non_null(s);
    run_jobs(f->sc, jobs, 2, s);
    assert_e2e_run(f->sc, &s[0]);
    assert_e2e_run(f->sc, &s[1]);
    assert_int_equal(s[0].seed, f->sc->seed);
    assert_same_run(&s[0], &s[1]);
    free(s);
}

/* Three other seeds, twice each: each passes and repeats itself exactly;
 * the seeds do reach the simulation (the histories differ). */
static void test_e2e_other_seeds(void **state)
{
    fx *f = *state;
    static const uint64_t seeds[] = {1, 7, 20200604};
    job jobs[6];
    for (size_t i = 0; i < 6; i++)
        jobs[i] = (job){true, seeds[i / 2], 0, -1};
    run_summary *s = calloc(6, sizeof *s);
    assert_non_null(s);
    run_jobs(f->sc, jobs, 6, s);
    for (size_t i = 0; i < 6; i += 2) {
        assert_e2e_run(f->sc, &s[i]);
        assert_e2e_run(f->sc, &s[i + 1]);
        assert_int_equal(s[i].seed, seeds[i / 2]);
        assert_same_run(&s[i], &s[i + 1]);
    }
    assert_true(s[0].fig.history_hash != s[2].fig.history_hash);
    assert_true(s[2].fig.history_hash != s[4].fig.history_hash);
    assert_true(s[0].fig.history_hash != s[4].fig.history_hash);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scenario_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_passes_and_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_e2e_other_seeds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
