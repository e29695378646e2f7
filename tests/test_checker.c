/* Tests for the checkers (simulator/checker.c): every check fed hand-made
 * histories with and without the violation it looks for, the
 * expected-violation logic, the crash-redelivery allowance, range
 * boundaries, reported gaps, liveness, expected errors, JSON and bounded
 * memory on a long in-order stream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "checker.h"
#include "scenario.h"
#include "faultline/bookmark.h"
#include "faultline/error.h"

#include <stdio.h>
#include <string.h>

#define S(x) ((uint64_t)(x)*1000000u)
/* 2020-01-01T00:00:00Z, the default scenario start */
#define START 1577836800000000LL
#define TS(t) (START + (int64_t)(t))

enum { NO_LOSS, ACK_HONESTY, NO_DUPLICATES, ORDER, RANGE_EXACT, GAPS, LIVENESS, UNPERSISTED };

/* ---- fixture -------------------------------------------------------------- */

typedef struct fx {
    sim_checker_config cfg;
    sim_checker_client_cfg clients[3];
    sim_checker_sub_cfg subs[4];
    const char *topics[1];
    sim_checker *chk;
    uint64_t pub; /* publisher id of pub-1 */
} fx;

/* Two clients: pub-1 (file publish store, sync always) and sub-1 (bookmark
 * store of the given type). Topic "orders" journaled. */
static void fx_init(fx *f, sim_store_type bstore, sim_sync_policy bsync)
{
    memset(f, 0, sizeof *f);
    sim_checker_config init = SIM_CHECKER_CONFIG_INIT;
    f->cfg = init;
    f->clients[0] = (sim_checker_client_cfg){
        "pub-1", 0, SIM_STORE_FILE, SIM_SYNC_ALWAYS, SIM_STORE_MEMORY, SIM_SYNC_BATCH};
    f->clients[1] =
        (sim_checker_client_cfg){"sub-1", 0, SIM_STORE_MEMORY, SIM_SYNC_BATCH, bstore, bsync};
    f->cfg.clients = f->clients;
    f->cfg.nclients = 2;
    f->topics[0] = "orders";
    f->cfg.journaled_topics = f->topics;
    f->cfg.njournaled_topics = 1;
    f->pub = fl_publisher_id("pub-1", 5);
}

static void fx_sub(fx *f, const char *sub_id, const char *bookmark)
{
    f->subs[f->cfg.nsubs] = (sim_checker_sub_cfg){"sub-1", sub_id, "orders", bookmark, 0};
    f->cfg.subs = f->subs;
    f->cfg.nsubs++;
}

static void fx_new(fx *f)
{
    char err[256] = "";
    int rc = sim_checker_new(&f->cfg, &f->chk, err, sizeof err);
    if (rc)
        fail_msg("sim_checker_new: %d %s", rc, err);
}

static int setup(void **state)
{
    fx *f = test_malloc(sizeof *f);
    memset(f, 0, sizeof *f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_checker_free(f->chk);
    test_free(f);
    return 0;
}

/* Publish seq lo..hi, one per 10 ms from t0, all accepted. */
static void publish_run(fx *f, uint64_t t0, uint64_t lo, uint64_t hi)
{
    for (uint64_t s = lo; s <= hi; s++)
        assert_int_equal(
            sim_checker_publish(f->chk, t0 + (s - lo) * 10000u, "pub-1", "orders", s, 0), 0);
}

/* The message pub-1 seq s was received by the broker at s seconds. */
static sim_checker_msg msg(fx *f, uint64_t s)
{
    return (sim_checker_msg){"orders", f->pub, s, TS(S(s))};
}

static void deliver(fx *f, uint64_t t, const char *sub, uint64_t s)
{
    sim_checker_msg m = msg(f, s);
    assert_int_equal(sim_checker_delivery(f->chk, t, "sub-1", sub, &m), 0);
}

static void journal_run(fx *f, const char *broker, uint64_t lo, uint64_t hi, uint64_t skip)
{
    for (uint64_t s = lo; s <= hi; s++)
        if (s != skip)
            assert_int_equal(
                sim_checker_journal_message(f->chk, broker, "orders", f->pub, s, TS(S(s))), 0);
}

static sim_chk_verdict verdict(fx *f, int i)
{
    sim_checker_verdict v;
    assert_int_equal(sim_checker_verdict_at(f->chk, i, &v), 0);
    return v.verdict;
}

static uint64_t fired(fx *f, int i)
{
    sim_checker_verdict v;
    assert_int_equal(sim_checker_verdict_at(f->chk, i, &v), 0);
    return v.violations;
}

/* The first stored violation of check i (fails the test if none). */
static const sim_checker_violation *first_of(fx *f, int i)
{
    for (size_t k = 0; k < sim_checker_violation_count(f->chk); k++) {
        const sim_checker_violation *v = sim_checker_violation_at(f->chk, k);
        if (v->check == i)
            return v;
    }
    fail_msg("no violation of %s", sim_checker_check_name(i));
    return NULL;
}

static bool context_has(const sim_checker_violation *v, const char *needle)
{
    for (size_t i = 0; i < v->ncontext; i++)
        if (strstr(v->context[i], needle))
            return true;
    return false;
}

/* ---- no_loss ---------------------------------------------------------------- */

static void test_no_loss_pass(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_new(f);
    publish_run(f, S(1), 1, 5);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 5), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 5, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_PASS);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_PASS);
    assert_true(sim_checker_passed(f->chk));
    assert_string_equal(sim_checker_failure_text(f->chk), "");
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.accepted, 5);
    assert_int_equal(fig.journal_messages, 5);
}

static void test_no_loss_missing(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.checks = SIM_CHECK_NO_LOSS;
    fx_new(f);
    publish_run(f, S(1), 1, 5);
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "pub-1", true), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 5, 3);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_FAIL);
    assert_int_equal(fired(f, NO_LOSS), 1);
    assert_false(sim_checker_passed(f->chk));
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_string_equal(v->client, "pub-1");
    assert_true(v->has_message);
    assert_int_equal(v->publisher, f->pub);
    assert_int_equal(v->sequence, 3);
    assert_non_null(strstr(v->text, "3..3"));
    /* dated at its publish time (1.02 s); the power loss is shown */
    assert_int_equal(v->t_us, S(1) + 20000u);
    assert_true(context_has(v, "t=3.000000s pub-1 power loss"));
    assert_string_equal(sim_checker_failure_text(f->chk), "no_loss: 1 violation(s)");
    /* ack_honesty is not asked for: skipped */
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_SKIPPED);
}

static void test_no_loss_journal_twice(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_new(f);
    publish_run(f, S(1), 1, 3);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), FL_E_INVAL);
    journal_run(f, "a", 1, 3, 0);
    journal_run(f, "b", 1, 3, 0); /* a replica holding the same: fine */
    assert_int_equal(sim_checker_journal_message(f->chk, "b", "orders", f->pub, 2, TS(S(2))), 0);
    assert_int_equal(sim_checker_journal_message(f->chk, "c", "orders", f->pub, 2, TS(S(2))),
                     FL_E_NOT_FOUND);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 1);
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_non_null(strstr(v->text, "broker b holds this message twice"));
    assert_int_equal(v->sequence, 2);
    assert_string_equal(v->client, "pub-1");
    assert_string_equal(v->topic, "orders");
    char bm[FL_BOOKMARK_MAX_TEXT];
    fl_bookmark b = fl_bookmark_exact(f->pub, 2, TS(S(2)));
    fl_bookmark_format(&b, bm, sizeof bm);
    assert_string_equal(v->bookmark, bm);
}

/* Exactly once per APPLICATION message: one identity under two sequence
 * numbers in the union of the journals (no_loss) or delivered under two
 * sequence numbers (no_duplicates); the same sequence in two journals (a
 * replica) is fine. */
static void test_app_message_exactly_once(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "0");
    fx_new(f);
    sim_checker_app_msg app[5];
    for (uint64_t k = 0; k < 5; k++)
        app[k] = (sim_checker_app_msg){true, 0, k};
    /* app messages 0..4 accepted as 1..5; 3 is refused with SYNC_FAILED,
     * handed again and accepted as 5 while its record (4) survived */
    for (uint64_t s = 1; s <= 3; s++)
        assert_int_equal(
            sim_checker_publish_app(f->chk, S(s), "pub-1", "orders", s, 0, &app[s - 1]), 0);
    assert_int_equal(
        sim_checker_publish_app(f->chk, S(4), "pub-1", "orders", 0, FL_E_SYNC_FAILED, &app[3]), 0);
    assert_int_equal(sim_checker_publish_app(f->chk, S(5), "pub-1", "orders", 5, 0, &app[3]), 0);
    sim_checker_msg m;
    for (uint64_t s = 1; s <= 5; s++) {
        m = msg(f, s);
        const sim_checker_app_msg *a = &app[s <= 4 ? s - 1 : 3];
        assert_int_equal(sim_checker_delivery_app(f->chk, S(10 + s), "sub-1", "s1", &m, a), 0);
    }
    for (const char *b = "a"; b; b = b[0] == 'a' ? "b" : NULL) {
        assert_int_equal(sim_checker_journal_begin(f->chk, b), 0);
        for (uint64_t s = 1; s <= 5; s++)
            assert_int_equal(sim_checker_journal_message_app(f->chk, b, "orders", f->pub, s,
                                                             TS(S(s)), &app[s <= 4 ? s - 1 : 3]),
                             0);
    }
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 1);
    assert_int_equal(fired(f, NO_DUPLICATES), 1);
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_int_equal(v->sequence, 5);
    assert_int_equal(v->t_us, S(5));
    assert_non_null(strstr(v->text, "application message pub-1/0/3"));
    assert_non_null(strstr(v->text, "sequences 4 and 5"));
    v = first_of(f, NO_DUPLICATES);
    assert_int_equal(v->sequence, 5);
    assert_non_null(strstr(v->text, "pub-1/0/3 twice, as sequences 4 and 5"));
}

static void test_no_loss_sequence_reuse(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->clients[0].publish_store = SIM_STORE_MEMORY;
    f->cfg.checks = SIM_CHECK_NO_LOSS;
    fx_new(f);
    publish_run(f, S(1), 1, 4);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 2), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "pub-1", false), 0);
    assert_int_equal(sim_checker_client_restart(f->chk, S(4), "pub-1"), 0);
    /* the memory store forgot 3..4: the client starts again after 2 */
    assert_int_equal(sim_checker_publish(f->chk, S(5), "pub-1", "orders", 3, 0), 0);
    assert_int_equal(sim_checker_publish(f->chk, S(6), "pub-1", "orders", 5, 0), 0);
    assert_int_equal(sim_checker_store_discard(f->chk, S(7), "pub-1", 5), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 3, 0);
    journal_run(f, "a", 5, 5, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    /* seq 3 reused online; seq 4 lost at the end */
    assert_int_equal(fired(f, NO_LOSS), 2);
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_int_equal(v->sequence, 3);
    assert_non_null(strstr(v->text, "second time"));
    assert_int_equal(v->t_us, S(5));
    /* before: the crash and restart; after: the next events of pub-1 */
    assert_true(context_has(v, "t=3.000000s pub-1 crash"));
    assert_true(context_has(v, "t=4.000000s pub-1 restart"));
    assert_true(context_has(v, "t=5.000000s pub-1 publish orders seq=3 accepted"));
    assert_true(context_has(v, "t=6.000000s pub-1 publish orders seq=5 accepted"));
    assert_true(context_has(v, "t=7.000000s pub-1 publish store discard up to seq=5"));
    assert_true(v->ncontext <= 8);
    const sim_checker_violation *w = sim_checker_violation_at(f->chk, 1);
    assert_int_equal(w->check, NO_LOSS);
    assert_int_equal(w->sequence, 4);
}

static void test_no_loss_exclusions(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_new(f);
    publish_run(f, S(1), 1, 4);
    /* not journaled topic: never required */
    assert_int_equal(sim_checker_publish(f->chk, S(2), "pub-1", "scratch", 5, 0), 0);
    /* refused publishes are not required */
    assert_int_equal(sim_checker_publish(f->chk, S(2), "pub-1", "orders", 0, FL_E_FULL), 0);
    /* the broker refused 2 and said so */
    assert_int_equal(sim_checker_failed_write(f->chk, S(2), "pub-1", 2, FL_E_NOT_ENTITLED), 0);
    /* a duplicate ack does not excuse anything */
    assert_int_equal(sim_checker_failed_write(f->chk, S(2), "pub-1", 4, FL_E_DUPLICATE), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 1, 0);
    assert_int_equal(sim_checker_journal_expired(f->chk, "a", f->pub, 3), 0); /* retention */
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 1);
    assert_int_equal(first_of(f, NO_LOSS)->sequence, 4);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.published, 6);
    assert_int_equal(fig.refused, 1);
}

/* ---- ack_honesty ------------------------------------------------------------ */

static void test_ack_honesty(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY;
    fx_new(f);
    publish_run(f, S(1), 1, 10);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 6), 0);
    assert_int_equal(sim_checker_fault(f->chk, S(3), 0, "failover", "a", SIM_CHK_FAULT_INSTANT), 0);
    /* the surviving replica lacks 5..8: 5 and 6 were acked (dishonest),
     * 7 and 8 were not (a loss, but not an ack lie) */
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), 0);
    journal_run(f, "b", 1, 4, 0);
    journal_run(f, "b", 9, 10, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_FAIL);
    assert_int_equal(fired(f, ACK_HONESTY), 1);
    const sim_checker_violation *v = first_of(f, ACK_HONESTY);
    assert_int_equal(v->sequence, 5);
    assert_non_null(strstr(v->text, "sequences 5..6"));
    assert_non_null(strstr(v->text, "up to 6"));
    assert_true(context_has(v, "fault #0 failover a (instant)"));
    assert_true(context_has(v, "discard up to seq=6"));
}

static void test_ack_honesty_pass(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY;
    fx_new(f);
    publish_run(f, S(1), 1, 10);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 6), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), 0);
    journal_run(f, "b", 1, 6, 0); /* 7..10 lost, but never acked */
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_PASS);
    assert_true(sim_checker_passed(f->chk));
}

/* ---- messages lost from the publish store at a crash ------------------------- */

/* pub-1 (publish store `type`/`sync`) accepts 1..10, has 1..4 discarded,
 * loses power (or crashes) at 3 s, restarts at 4 s with the store holding
 * only 5..7 (reported when `report`), then accepts 4101..4105 above the
 * reserved block, all acked (discard up to 4105). The journal has
 * everything but 8..10. */
static void store_loss_history(fx *f, bool power_loss, bool report)
{
    publish_run(f, S(1), 1, 10);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 4), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "pub-1", power_loss), 0);
    assert_int_equal(sim_checker_client_restart(f->chk, S(4), "pub-1"), 0);
    if (report) {
        sim_checker_seq_range kept[] = {{5, 7}};
        assert_int_equal(sim_checker_store_reopened(f->chk, S(4), "pub-1", kept, 1), 0);
    }
    publish_run(f, S(5), 4101, 4105);
    assert_int_equal(sim_checker_store_discard(f->chk, S(6), "pub-1", 4105), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 7, 0);
    journal_run(f, "a", 4101, 4105, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
}

static void fx_pub_store(fx *f, sim_store_type type, sim_sync_policy sync)
{
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->clients[0].publish_store = type;
    f->clients[0].publish_sync = sync;
}

/* Power loss with sync=none: the lost messages lie below the later acks
 * but were never discarded on one (ack_honesty passes); they are still a
 * no_loss violation, and its text names the configuration. */
static void test_store_loss_power_loss(void **state)
{
    fx *f = *state;
    fx_pub_store(f, SIM_STORE_SQLITE, SIM_SYNC_NONE);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY;
    f->cfg.violations = SIM_CHECK_NO_LOSS;
    fx_new(f);
    store_loss_history(f, true, true);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_PASS);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_EXPECTED_FIRED);
    assert_int_equal(fired(f, NO_LOSS), 1);
    assert_true(sim_checker_passed(f->chk));
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_int_equal(v->sequence, 8);
    assert_true(v->expected);
    assert_non_null(strstr(v->text, "sequences 8..10"));
    assert_non_null(strstr(v->text, "lost from the publish store at the power loss of pub-1 at "
                                    "t=3.000000s"));
    assert_non_null(strstr(v->text, "sqlite store with sync=none does not survive a power loss"));
    assert_non_null(strstr(v->text, "the configuration allows this loss"));
    assert_true(context_has(v, "t=3.000000s pub-1 power loss"));
    assert_true(context_has(
        v, "t=4.000000s pub-1 publish store reopened without seq=8..10 (lost at the power loss)"));
}

/* Without the reopen report the checker cannot tell the lost messages
 * from discarded ones: the later ack covers them (the false positive the
 * report removes). */
static void test_store_loss_unreported(void **state)
{
    fx *f = *state;
    fx_pub_store(f, SIM_STORE_SQLITE, SIM_SYNC_NONE);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY | SIM_CHECK_NO_LOSS;
    fx_new(f);
    store_loss_history(f, true, false);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_FAIL);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_FAIL);
    const sim_checker_violation *v = first_of(f, NO_LOSS);
    assert_null(strstr(v->text, "lost from the publish store"));
    assert_non_null(strstr(first_of(f, ACK_HONESTY)->text, "sequences 8..10"));
}

/* The cause in the text: allowed by the configuration or a store fault. */
static void test_store_loss_reasons(void **state)
{
    static const struct {
        sim_store_type type;
        sim_sync_policy sync;
        bool power_loss;
        const char *text;
    } cases[] = {
        {SIM_STORE_FILE, SIM_SYNC_NONE, true,
         "at the power loss of pub-1 at t=3.000000s (file store with sync=none does not survive "
         "a power loss: the configuration allows this loss, use sync=always)"},
        {SIM_STORE_FILE, SIM_SYNC_BATCH, true,
         "(file store with sync=batch loses at a power loss what its batch window had not "
         "synced: the configuration allows this loss"},
        {SIM_STORE_MEMORY, SIM_SYNC_BATCH, false,
         "at the crash of pub-1 at t=3.000000s (a memory publish store does not survive a "
         "crash)"},
        {SIM_STORE_NONE, SIM_SYNC_BATCH, false, "(no publish store: nothing survives a crash)"},
        {SIM_STORE_FILE, SIM_SYNC_ALWAYS, true,
         "(file store with sync=always promises to survive a power loss: a store fault)"},
        {SIM_STORE_SQLITE, SIM_SYNC_NONE, false,
         "(sqlite store with sync=none promises to survive a process crash: a store fault)"},
        {SIM_STORE_PLUGIN, SIM_SYNC_ALWAYS, true, "(the plugin publish store did not keep it)"},
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_pub_store(f, cases[i].type, cases[i].sync);
        f->cfg.checks = SIM_CHECK_ACK_HONESTY | SIM_CHECK_NO_LOSS;
        fx_new(f);
        store_loss_history(f, cases[i].power_loss, true);
        assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_PASS);
        assert_int_equal(fired(f, NO_LOSS), 1);
        const char *text = first_of(f, NO_LOSS)->text;
        if (!strstr(text, cases[i].text))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, text, cases[i].text);
        sim_checker_free(f->chk);
        f->chk = NULL;
    }
}

/* A missing run split at the loss: the part lost from the store is
 * explained and never an ack lie; the acked part outside it is both. */
static void test_store_loss_split(void **state)
{
    fx *f = *state;
    fx_pub_store(f, SIM_STORE_FILE, SIM_SYNC_NONE);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY | SIM_CHECK_NO_LOSS;
    fx_new(f);
    publish_run(f, S(1), 1, 10);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 4), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "pub-1", true), 0);
    assert_int_equal(sim_checker_client_restart(f->chk, S(4), "pub-1"), 0);
    sim_checker_seq_range kept[] = {{1, 2}, {5, 5}, {7, 7}, {20, 30}};
    assert_int_equal(sim_checker_store_reopened(f->chk, S(4), "pub-1", kept, 4), 0);
    assert_int_equal(sim_checker_store_discard(f->chk, S(6), "pub-1", 12), 0);
    publish_run(f, S(5), 11, 12);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    /* missing: 3..4 (acked before the loss), 6 and 8..10 (lost), 11 (acked) */
    journal_run(f, "a", 1, 2, 0);
    journal_run(f, "a", 5, 5, 0);
    journal_run(f, "a", 7, 7, 0);
    journal_run(f, "a", 12, 12, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 4);
    assert_int_equal(fired(f, ACK_HONESTY), 2);
    static const struct {
        int check;
        uint64_t seq;
        const char *text;
    } want[] = {
        {NO_LOSS, 3, "sequences 3..4 (accepted at t=1.020000s), in no surviving journal"},
        {ACK_HONESTY, 3, "sequences 3..4, discarded"},
        {NO_LOSS, 6, "sequences 6..6 (accepted at t=1.050000s), lost from the publish store"},
        {NO_LOSS, 8, "sequences 8..10 (accepted at t=1.070000s), lost from the publish store"},
        {NO_LOSS, 11, "sequences 11..11 (accepted at t=5.000000s), in no surviving journal"},
        {ACK_HONESTY, 11, "sequences 11..11, discarded"},
    };
    assert_int_equal(sim_checker_violation_count(f->chk), 6);
    for (size_t i = 0; i < 6; i++) {
        const sim_checker_violation *v = sim_checker_violation_at(f->chk, i);
        assert_int_equal(v->check, want[i].check);
        assert_int_equal(v->sequence, want[i].seq);
        if (!strstr(v->text, want[i].text))
            fail_msg("violation %zu: \"%s\" lacks \"%s\"", i, v->text, want[i].text);
    }
}

/* sim_checker_store_lost: clipped above the highest discard, a second
 * report of a sequence keeps the first loss, argument and state errors. */
static void test_store_lost_api(void **state)
{
    fx *f = *state;
    fx_pub_store(f, SIM_STORE_FILE, SIM_SYNC_BATCH);
    f->cfg.checks = SIM_CHECK_ACK_HONESTY | SIM_CHECK_NO_LOSS;
    fx_new(f);
    publish_run(f, S(1), 1, 10);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 4), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "pub-1", true), 0);
    /* 1..4 were discarded before: not lost, so 3's absence is an ack lie */
    assert_int_equal(sim_checker_store_lost(f->chk, S(4), "pub-1", 1, 8), 0);
    assert_int_equal(sim_checker_store_lost(f->chk, S(4), "pub-1", 9, 8), FL_E_INVAL);
    assert_int_equal(sim_checker_store_lost(f->chk, S(4), "nobody", 1, 8), FL_E_NOT_FOUND);
    sim_checker_seq_range bad[] = {{5, 7}, {6, 9}};
    assert_int_equal(sim_checker_store_reopened(f->chk, S(4), "pub-1", bad, 2), FL_E_INVAL);
    bad[1] = (sim_checker_seq_range){9, 8};
    assert_int_equal(sim_checker_store_reopened(f->chk, S(4), "pub-1", bad, 2), FL_E_INVAL);
    assert_int_equal(sim_checker_store_reopened(f->chk, S(4), "pub-1", NULL, 1), FL_E_INVAL);
    /* a later process crash loses 7..10 again: 7..8 keep the power loss */
    assert_int_equal(sim_checker_client_crash(f->chk, S(5), "pub-1", false), 0);
    assert_int_equal(sim_checker_store_reopened(f->chk, S(6), "pub-1", NULL, 0), 0);
    assert_int_equal(sim_checker_store_discard(f->chk, S(7), "pub-1", 20), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_store_lost(f->chk, S(8), "pub-1", 1, 2), FL_E_STATE);
    /* missing: 3 (acked), 7..8 (lost at the power loss), 9..10 (at the crash) */
    journal_run(f, "a", 1, 2, 0);
    journal_run(f, "a", 4, 6, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 3);
    assert_int_equal(fired(f, ACK_HONESTY), 1);
    assert_int_equal(first_of(f, ACK_HONESTY)->sequence, 3);
    static const struct {
        uint64_t seq;
        const char *text;
    } want[] = {
        {3, "sequences 3..3 (accepted at t=1.020000s), in no surviving journal"},
        {7, "sequences 7..8 (accepted at t=1.060000s), lost from the publish store at the power "
            "loss of pub-1 at t=3.000000s (file store with sync=batch loses"},
        {9, "sequences 9..10 (accepted at t=1.080000s), lost from the publish store at the crash "
            "of pub-1 at t=5.000000s (file store with sync=batch promises to survive a process "
            "crash: a store fault)"},
    };
    size_t k = 0;
    for (size_t i = 0; i < sim_checker_violation_count(f->chk); i++) {
        const sim_checker_violation *v = sim_checker_violation_at(f->chk, i);
        if (v->check != NO_LOSS)
            continue;
        assert_true(k < 3);
        assert_int_equal(v->sequence, want[k].seq);
        if (!strstr(v->text, want[k].text))
            fail_msg("violation %zu: \"%s\" lacks \"%s\"", k, v->text, want[k].text);
        k++;
    }
    assert_int_equal(k, 3);
    assert_true(context_has(first_of(f, NO_LOSS),
                            "pub-1 publish store reopened without seq=5..8 (lost at the power "
                            "loss)"));
}

/* ---- no_duplicates and order -------------------------------------------------- */

static void test_duplicate_without_crash(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", NULL); /* live */
    fx_new(f);
    deliver(f, S(1), "s1", 1);
    deliver(f, S(2), "s1", 2);
    deliver(f, S(3), "s1", 2);
    deliver(f, S(4), "s1", 3);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, NO_DUPLICATES), SIM_CHK_FAIL);
    assert_int_equal(fired(f, NO_DUPLICATES), 1);
    assert_int_equal(verdict(f, ORDER), SIM_CHK_PASS); /* a repeat is not an order problem */
    const sim_checker_violation *v = first_of(f, NO_DUPLICATES);
    assert_string_equal(v->client, "sub-1");
    assert_string_equal(v->sub_id, "s1");
    assert_int_equal(v->publisher, f->pub);
    assert_int_equal(v->sequence, 2);
    assert_int_equal(v->t_us, S(3));
    assert_true(context_has(v, "t=2.000000s sub-1/s1 delivery"));
    assert_true(context_has(v, "t=4.000000s sub-1/s1 delivery")); /* after */
    assert_true(sim_checker_delivered_count(f->chk, "sub-1", "s1") == 3);
}

static void test_no_duplicates_pass(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", NULL);
    fx_new(f);
    for (uint64_t s = 1; s <= 5; s++)
        deliver(f, S(s), "s1", s);
    sim_checker_msg m = msg(f, 3);
    assert_int_equal(sim_checker_duplicate_filtered(f->chk, S(6), "sub-1", "s1", &m), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, NO_DUPLICATES), SIM_CHK_PASS);
    assert_int_equal(verdict(f, ORDER), SIM_CHK_PASS);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.duplicates_filtered, 1);
}

/* The crash-redelivery allowance: after a crash, what was delivered but
 * not discarded may come again; what was discarded into a store that
 * survives the crash may not. */
static void crash_case(fx *f, sim_store_type st, sim_sync_policy sync, bool power_loss,
                       uint64_t expect_dups)
{
    fx_init(f, st, sync);
    fx_sub(f, "s1", "recent");
    fx_new(f);
    for (uint64_t s = 1; s <= 4; s++)
        deliver(f, S(s), "s1", s);
    for (uint64_t s = 1; s <= 2; s++)
        assert_int_equal(sim_checker_bookmark_discard(f->chk, S(4), "sub-1", "s1", f->pub, s), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(5), "sub-1", power_loss), 0);
    assert_int_equal(sim_checker_client_restart(f->chk, S(6), "sub-1"), 0);
    /* redelivery from the start: 1, 2 were discarded, 3, 4 were not */
    for (uint64_t s = 1; s <= 5; s++)
        deliver(f, S(6 + s), "s1", s);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_DUPLICATES), expect_dups);
    assert_int_equal(verdict(f, ORDER), SIM_CHK_PASS);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.redelivered_allowed, 4 - expect_dups);
    sim_checker_free(f->chk);
    f->chk = NULL;
}

static void test_crash_redelivery_allowance(void **state)
{
    fx *f = *state;
    /* memory store: forgets everything, all four may come again */
    crash_case(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH, false, 0);
    /* durable store, process crash: 1 and 2 must stay filtered */
    crash_case(f, SIM_STORE_FILE, SIM_SYNC_NONE, false, 2);
    crash_case(f, SIM_STORE_SQLITE, SIM_SYNC_BATCH, false, 2);
    /* power loss: only sync always keeps the discards */
    crash_case(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS, true, 2);
    crash_case(f, SIM_STORE_FILE, SIM_SYNC_BATCH, true, 0);
}

/* Within one incarnation, after a new logon: what was delivered and not
 * discarded may come again (the store ABI's log() says "new"); what was
 * discarded may not; within one session nothing may. */
static void test_reconnect_redelivery_allowance(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "recent");
    fx_new(f);
    assert_int_equal(sim_checker_client_logon(f->chk, 0, "sub-1"), 0);
    for (uint64_t s = 1; s <= 4; s++)
        deliver(f, S(s), "s1", s);
    for (uint64_t s = 1; s <= 2; s++) /* 3 and 4 still in processing */
        assert_int_equal(sim_checker_bookmark_discard(f->chk, S(4), "sub-1", "s1", f->pub, s), 0);
    assert_int_equal(sim_checker_client_logon(f->chk, S(5), "sub-1"), 0);
    deliver(f, S(6), "s1", 3); /* allowed: not discarded */
    deliver(f, S(7), "s1", 4); /* allowed */
    deliver(f, S(8), "s1", 5);
    deliver(f, S(9), "s1", 4); /* same session: a violation */
    assert_int_equal(sim_checker_bookmark_discard(f->chk, S(9), "sub-1", "s1", f->pub, 3), 0);
    assert_int_equal(sim_checker_client_logon(f->chk, S(10), "sub-1"), 0);
    deliver(f, S(11), "s1", 3); /* discarded before the logon: a violation */
    deliver(f, S(12), "s1", 2); /* discarded in the first session: a violation */
    deliver(f, S(13), "s1", 5); /* never discarded: allowed */
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_DUPLICATES), 3);
    assert_int_equal(verdict(f, ORDER), SIM_CHK_PASS);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.redelivered_allowed, 3);
    const sim_checker_violation *v = first_of(f, NO_DUPLICATES);
    assert_int_equal(v->sequence, 4);
    assert_int_equal(v->t_us, S(9));
    assert_true(strstr(v->text, "within one session") != NULL);
    size_t n = 0;
    for (size_t k = 0; k < sim_checker_violation_count(f->chk); k++) {
        const sim_checker_violation *w = sim_checker_violation_at(f->chk, k);
        if (w->check == NO_DUPLICATES && strstr(w->text, "already discarded"))
            n++;
    }
    assert_int_equal(n, 2);
}

static void test_durable_discard_violation_identity(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "recent");
    fx_new(f);
    deliver(f, S(1), "s1", 1);
    assert_int_equal(sim_checker_bookmark_discard(f->chk, S(1), "sub-1", "s1", f->pub, 1), 0);
    assert_int_equal(sim_checker_client_crash(f->chk, S(2), "sub-1", false), 0);
    /* a crash before the previous crash's discards: they stay durable */
    assert_int_equal(sim_checker_client_crash(f->chk, S(3), "sub-1", false), 0);
    deliver(f, S(4), "s1", 1);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    const sim_checker_violation *v = first_of(f, NO_DUPLICATES);
    assert_int_equal(v->sequence, 1);
    assert_non_null(strstr(v->text, "durable"));
    assert_true(context_has(v, "sub-1 crash"));
}

static void test_order(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", NULL);
    fx_new(f);
    deliver(f, S(1), "s1", 1);
    deliver(f, S(2), "s1", 3);
    deliver(f, S(3), "s1", 2);
    /* another publisher interleaves freely */
    sim_checker_msg other = {"orders", 77, 1, TS(S(4))};
    assert_int_equal(sim_checker_delivery(f->chk, S(4), "sub-1", "s1", &other), 0);
    deliver(f, S(5), "s1", 4);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, ORDER), SIM_CHK_FAIL);
    assert_int_equal(fired(f, ORDER), 1);
    assert_int_equal(verdict(f, NO_DUPLICATES), SIM_CHK_PASS);
    const sim_checker_violation *v = first_of(f, ORDER);
    assert_int_equal(v->sequence, 2);
    assert_non_null(strstr(v->text, "sequence 2 after sequence 3"));
}

static void test_order_restarts_after_crash(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", "0");
    fx_new(f);
    deliver(f, S(1), "s1", 1);
    deliver(f, S(2), "s1", 2);
    deliver(f, S(3), "s1", 3);
    assert_int_equal(sim_checker_client_crash(f->chk, S(4), "sub-1", false), 0);
    deliver(f, S(5), "s1", 1);
    deliver(f, S(6), "s1", 2);
    deliver(f, S(7), "s1", 3);
    deliver(f, S(8), "s1", 4);
    /* but within the new incarnation order still holds */
    deliver(f, S(9), "s1", 2 + 0); /* a repeat in this incarnation: a duplicate */
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, ORDER), 0);
    assert_int_equal(fired(f, NO_DUPLICATES), 1);
}

/* ---- range_exact -------------------------------------------------------------- */

/* 4 June 2020 in UTC microseconds */
#define JUNE4 1591228800000000LL
#define JUNE5 (JUNE4 + 86400000000LL)
#define ST    (JUNE4 - 3600000000LL) /* the scenario starts at 3 June 23:00 */

static void range_fixture(fx *f, const char *range)
{
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    f->cfg.start_unix_us = ST;
    fx_sub(f, "r", range);
    fx_new(f);
}

/* Messages at: 3 June 23:59:59, exactly 4 June 00:00, 4 June noon,
 * exactly 5 June 00:00, 5 June 00:00:01 (seq 1..5). */
static const int64_t range_ts[5] = {JUNE4 - 1000000, JUNE4, JUNE4 + 43200000000LL, JUNE5,
                                    JUNE5 + 1000000};

static void range_deliver(fx *f, uint64_t s)
{
    sim_checker_msg m = {"orders", f->pub, s, range_ts[s - 1]};
    assert_int_equal(
        sim_checker_delivery(f->chk, (uint64_t)(range_ts[s - 1] - ST) + 1000, "sub-1", "r", &m), 0);
}

static void range_journal(fx *f)
{
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    for (uint64_t s = 1; s <= 5; s++)
        assert_int_equal(
            sim_checker_journal_message(f->chk, "a", "orders", f->pub, s, range_ts[s - 1]), 0);
}

static uint64_t range_end_t(void)
{
    return (uint64_t)(JUNE5 - ST) + S(10);
}

static void test_range_june4_exact(void **state)
{
    fx *f = *state;
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 2);
    range_deliver(f, 3);
    assert_int_equal(sim_checker_completed(f->chk, range_end_t() - S(5), "sub-1", "r"), 0);
    range_journal(f);
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(verdict(f, RANGE_EXACT), SIM_CHK_PASS);
    assert_int_equal(verdict(f, GAPS), SIM_CHK_PASS);
    assert_true(sim_checker_passed(f->chk));
}

static void test_range_exclusive_begin_inclusive_end(void **state)
{
    fx *f = *state;
    range_fixture(f, "(20200604T000000:20200605T000000]");
    range_deliver(f, 3);
    range_deliver(f, 4);
    assert_int_equal(sim_checker_completed(f->chk, range_end_t() - S(5), "sub-1", "r"), 0);
    range_journal(f);
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(verdict(f, RANGE_EXACT), SIM_CHK_PASS);
}

static void test_range_boundary_violations(void **state)
{
    fx *f = *state;
    /* exclusive end: the message exactly at 5 June must not come */
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 2);
    range_deliver(f, 3);
    range_deliver(f, 4);
    assert_int_equal(sim_checker_completed(f->chk, range_end_t() - S(5), "sub-1", "r"), 0);
    range_journal(f);
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(fired(f, RANGE_EXACT), 1);
    const sim_checker_violation *v = first_of(f, RANGE_EXACT);
    assert_int_equal(v->sequence, 4);
    assert_non_null(strstr(v->text, "outside its range"));
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* exclusive begin: the message exactly at 4 June is missing on purpose;
     * inclusive begin requires it */
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 3);
    assert_int_equal(sim_checker_completed(f->chk, range_end_t() - S(5), "sub-1", "r"), 0);
    range_journal(f);
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(fired(f, RANGE_EXACT), 1);
    v = first_of(f, RANGE_EXACT);
    assert_int_equal(v->sequence, 2);
    assert_non_null(strstr(v->text, "never delivered a journaled message inside its range"));
    assert_int_equal(fired(f, GAPS), 1); /* and no gap was reported */
}

static void test_range_completed_required(void **state)
{
    fx *f = *state;
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 2);
    range_deliver(f, 3);
    range_journal(f);
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(fired(f, RANGE_EXACT), 1);
    assert_non_null(strstr(first_of(f, RANGE_EXACT)->text, "completed"));
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* the run ends before 5 June: completed cannot be demanded */
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 2);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_journal_message(f->chk, "a", "orders", f->pub, 2, range_ts[1]), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(7200)), 0);
    assert_int_equal(verdict(f, RANGE_EXACT), SIM_CHK_PASS);
}

static void test_range_after_completed_and_unjournaled(void **state)
{
    fx *f = *state;
    range_fixture(f, "[20200604T000000:20200605T000000)");
    range_deliver(f, 2);
    assert_int_equal(sim_checker_completed(f->chk, S(4000), "sub-1", "r"), 0);
    range_deliver(f, 3); /* after completed */
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_journal_message(f->chk, "a", "orders", f->pub, 2, range_ts[1]), 0);
    /* 3 is in no journal */
    assert_int_equal(sim_checker_finish(f->chk, range_end_t()), 0);
    assert_int_equal(fired(f, RANGE_EXACT), 2);
    assert_non_null(strstr(first_of(f, RANGE_EXACT)->text, "after its range completed"));
    const sim_checker_violation *v = sim_checker_violation_at(f->chk, 1);
    assert_int_equal(v->check, RANGE_EXACT);
    assert_non_null(strstr(v->text, "in no surviving journal"));
    assert_int_equal(v->sequence, 3);
}

/* ---- gaps_reported ------------------------------------------------------------- */

/* A bookmark subscription from EPOCH; the journal holds 1..10 (at 1..10 s);
 * 5..7 were never delivered. */
static void gap_history(fx *f, int report)
{
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "0");
    fx_sub(f, "live", NULL);
    fx_new(f);
    for (uint64_t s = 1; s <= 4; s++)
        deliver(f, S(s) + 500, "s1", s);
    if (report == 1)
        assert_int_equal(sim_checker_gap(f->chk, S(7), "sub-1", "s1", false, 0, 0), 0);
    if (report == 2) /* explicit, too narrow: covers 5 and 6 only */
        assert_int_equal(sim_checker_gap(f->chk, S(7), "sub-1", "s1", true, TS(S(5)), TS(S(6))), 0);
    if (report == 3) /* a gap with no delivery after it, reported at 4.5 s */
        assert_int_equal(sim_checker_gap(f->chk, S(4) + 500000, "sub-1", "s1", false, 0, 0), 0);
    if (report != 3)
        for (uint64_t s = 8; s <= 10; s++)
            deliver(f, S(s) + 500, "s1", s);
    deliver(f, S(10), "live", 10); /* live: nothing required */
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 10, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
}

static void test_gap_not_reported(void **state)
{
    fx *f = *state;
    gap_history(f, 0);
    assert_int_equal(verdict(f, GAPS), SIM_CHK_FAIL);
    assert_int_equal(fired(f, GAPS), 3);
    const sim_checker_violation *v = first_of(f, GAPS);
    assert_string_equal(v->sub_id, "s1");
    assert_int_equal(v->sequence, 5);
    assert_int_equal(v->t_us, S(5));
    assert_non_null(strstr(v->text, "no gap was reported"));
}

static void test_gap_reported(void **state)
{
    fx *f = *state;
    gap_history(f, 1);
    assert_int_equal(verdict(f, GAPS), SIM_CHK_PASS);
    sim_checker_free(f->chk);
    f->chk = NULL;

    gap_history(f, 2);
    assert_int_equal(fired(f, GAPS), 1);
    assert_int_equal(first_of(f, GAPS)->sequence, 7);
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* no delivery after the report: it covers up to report + 1 s grace, so
     * 5 (at 5 s) is covered and 6.. are not */
    gap_history(f, 3);
    assert_int_equal(fired(f, GAPS), 5);
    assert_int_equal(first_of(f, GAPS)->sequence, 6);
}

static void test_gap_window_now_and_end(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    f->subs[0] = (sim_checker_sub_cfg){"sub-1", "s1", "orders", "0|1|", S(3)};
    f->cfg.subs = f->subs;
    f->cfg.nsubs = 1;
    fx_new(f);
    /* NOW at 3 s + 1 s grace: 1..4 not required; 5, 6 required; the
     * subscription ends at 9 s: from 8 s on nothing is required */
    deliver(f, S(5), "s1", 5);
    assert_int_equal(sim_checker_sub_end(f->chk, S(9), "sub-1", "s1"), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 10, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, GAPS), 2); /* 6 and 7 */
    assert_int_equal(first_of(f, GAPS)->sequence, 6);
}

/* Gaps are kept up to a cap; past it the last one widens and still covers. */
/* After advance_clock the broker's timestamps run ahead of virtual time:
 * violations dated from them land inside the run, and NOW of a
 * subscription that starts after the jump is read on the new clock. */
static void test_clock_jump_dating(void **state)
{
    fx *f = *state;
    const uint64_t jump = S(7200);
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "recent");
    f->subs[1] = (sim_checker_sub_cfg){"sub-1", "now", "orders", "0|1|", S(300)};
    f->cfg.nsubs = 2;
    fx_new(f);
    assert_int_equal(sim_checker_clock_jump(f->chk, S(100), jump), 0);
    assert_int_equal(sim_checker_clock_jump(f->chk, S(50), 1), FL_E_INVAL); /* out of order */
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    /* seq 1 at 50 s (before the jump), 2 at 200 s, 3 at 400 s (after it);
     * nothing delivered, no gap */
    assert_int_equal(sim_checker_journal_message(f->chk, "a", "orders", f->pub, 1, TS(S(50))), 0);
    assert_int_equal(
        sim_checker_journal_message(f->chk, "a", "orders", f->pub, 2, TS(S(200) + jump)), 0);
    assert_int_equal(
        sim_checker_journal_message(f->chk, "a", "orders", f->pub, 3, TS(S(400) + jump)), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(1800)), 0);
    /* s1 owes 1, 2, 3; "now" (from 300 s) owes only 3 */
    assert_int_equal(fired(f, GAPS), 4);
    uint64_t want[2][3] = {{S(50), S(200), S(400)}, {0, 0, S(400)}};
    for (size_t k = 0; k < sim_checker_violation_count(f->chk); k++) {
        const sim_checker_violation *v = sim_checker_violation_at(f->chk, k);
        assert_true(v->t_us <= S(1800));
        size_t si = strcmp(v->sub_id, "s1") == 0 ? 0 : 1;
        assert_int_equal(v->t_us, want[si][v->sequence - 1]);
    }
}

/* Messages retention removed are held against the subscriptions that were
 * subscribed before they expired; a copy surviving in another journal is
 * checked there; without topic and time nothing is held. */
static void test_expired_messages_owed(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "recent");
    fx_sub(f, "s2", "0");
    fx_new(f);
    assert_int_equal(sim_checker_sub_subscribed(f->chk, S(1), "sub-1", "s1"), 0);
    assert_int_equal(sim_checker_sub_subscribed(f->chk, S(50), "sub-1", "s2"), 0);
    assert_int_equal(sim_checker_sub_subscribed(f->chk, S(70), "sub-1", "s2"), 0); /* again */
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), 0);
    sim_checker_app_msg app = {true, 0, 2};
    /* 1..3 journaled at 1..3 s; 1 expired at 40 s, 2 and 3 at 60 s; 3
     * survives on b; 4 expired with nothing known */
    for (uint64_t seq = 1; seq <= 3; seq++) {
        sim_checker_expired_msg x = {"orders",
                                     f->pub,
                                     seq,
                                     TS(S(seq)),
                                     true,
                                     seq == 1 ? S(40) : S(60),
                                     seq == 3 ? &app : NULL};
        assert_int_equal(sim_checker_journal_expired_msg(f->chk, "a", &x), 0);
    }
    sim_checker_expired_msg blind = {NULL, f->pub, 4, FL_BM_NO_TS, false, 0, NULL};
    assert_int_equal(sim_checker_journal_expired_msg(f->chk, "a", &blind), 0);
    assert_int_equal(
        sim_checker_journal_message_app(f->chk, "b", "orders", f->pub, 3, TS(S(3)), &app), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(100)), 0);
    /* s1 owes 1, 2, 3 (3 via b); s2 (first subscribed at 50 s) owes 2, 3 */
    assert_int_equal(fired(f, GAPS), 5);
    size_t removed = 0;
    for (size_t k = 0; k < sim_checker_violation_count(f->chk); k++) {
        const sim_checker_violation *v = sim_checker_violation_at(f->chk, k);
        assert_true(v->sequence >= 1 && v->sequence <= 3);
        if (strcmp(v->sub_id, "s2") == 0)
            assert_true(v->sequence >= 2);
        assert_int_equal(v->t_us, S(v->sequence));
        removed += strstr(v->text, "removed by retention") != NULL;
    }
    assert_int_equal(removed, 3); /* 1 and 2 of s1, 2 of s2 */
    assert_int_equal(fired(f, NO_LOSS), 0);
}

static void test_gap_cap(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "0");
    fx_new(f);
    for (uint64_t i = 0; i < 5000; i++)
        assert_int_equal(
            sim_checker_gap(f->chk, S(1), "sub-1", "s1", true, TS(S(100 + i)), TS(S(100 + i))), 0);
    sim_checker_memory mem;
    sim_checker_get_memory(f->chk, &mem);
    assert_int_equal(mem.gaps, 4096);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    /* 4999 s is covered by the widened last gap; 5100 s is not */
    assert_int_equal(
        sim_checker_journal_message(f->chk, "a", "orders", f->pub, 1, TS(S(100 + 4999))), 0);
    assert_int_equal(sim_checker_journal_message(f->chk, "a", "orders", f->pub, 2, TS(S(5100))), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(6000)), 0);
    assert_int_equal(fired(f, GAPS), 1);
    assert_int_equal(first_of(f, GAPS)->sequence, 2);
}

/* ---- liveness ------------------------------------------------------------------ */

static void liveness_history(fx *f, uint64_t discard_at, uint64_t sub_at, bool heal)
{
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "0");
    f->cfg.checks = SIM_CHECK_LIVENESS;
    f->cfg.recovery_us = S(30);
    fx_new(f);
    assert_int_equal(sim_checker_fault(f->chk, S(5), 3, "partition", "pub-1", SIM_CHK_FAULT_START),
                     0);
    publish_run(f, S(6), 1, 10);
    if (heal)
        assert_int_equal(
            sim_checker_fault(f->chk, S(20), 3, "partition", "pub-1", SIM_CHK_FAULT_HEAL), 0);
    publish_run(f, S(21), 11, 12); /* after the heal: not a target */
    for (uint64_t s = 1; s <= 10; s++)
        deliver(f, sub_at, "s1", s);
    assert_int_equal(sim_checker_store_discard(f->chk, discard_at, "pub-1", 10), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 10, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(100)), 0);
}

static void test_liveness(void **state)
{
    fx *f = *state;
    liveness_history(f, S(25), S(40), true);
    assert_int_equal(verdict(f, LIVENESS), SIM_CHK_PASS);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_true(fig.has_last_heal);
    assert_int_equal(fig.last_heal_us, S(20));
    assert_true(fig.has_recovery);
    assert_int_equal(fig.recovery_us, S(20));
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* the publisher persists late */
    liveness_history(f, S(55), S(40), true);
    assert_int_equal(verdict(f, LIVENESS), SIM_CHK_FAIL);
    const sim_checker_violation *v = first_of(f, LIVENESS);
    assert_string_equal(v->client, "pub-1");
    assert_int_equal(v->sequence, 10);
    assert_int_equal(v->t_us, S(55));
    assert_true(context_has(v, "partition pub-1 heals"));
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* the subscriber delivers late */
    liveness_history(f, S(25), S(51), true);
    assert_int_equal(fired(f, LIVENESS), 1);
    v = first_of(f, LIVENESS);
    assert_string_equal(v->sub_id, "s1");
    assert_int_equal(v->sequence, 10);
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* a fault that never heals: nothing to converge to */
    liveness_history(f, S(55), S(40), false);
    assert_int_equal(verdict(f, LIVENESS), SIM_CHK_NOT_APPLICABLE);
    sim_checker_verdict vd;
    assert_int_equal(sim_checker_verdict_at(f->chk, LIVENESS, &vd), 0);
    assert_non_null(strstr(vd.detail, "never healed"));
}

static void test_liveness_never_persisted(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    f->cfg.checks = SIM_CHECK_LIVENESS;
    fx_new(f);
    publish_run(f, S(1), 1, 5);
    assert_int_equal(sim_checker_store_discard(f->chk, S(2), "pub-1", 3), 0);
    assert_int_equal(sim_checker_fault(f->chk, S(3), 1, "failover", "a", SIM_CHK_FAULT_INSTANT), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(100)), 0);
    assert_int_equal(fired(f, LIVENESS), 1);
    assert_non_null(strstr(first_of(f, LIVENESS)->text, "discarded up to 3 of 5"));
}

/* ---- unpersisted_zero ------------------------------------------------------------ */

static void test_unpersisted_zero(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    f->cfg.checks = SIM_CHECK_UNPERSISTED_ZERO;
    fx_new(f);
    assert_int_equal(sim_checker_unpersisted(f->chk, S(50), "pub-1", 0), 0);
    assert_int_equal(sim_checker_unpersisted(f->chk, S(50), "sub-1", 0), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, UNPERSISTED), SIM_CHK_PASS);
    sim_checker_free(f->chk);
    f->chk = NULL;

    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    f->cfg.checks = SIM_CHECK_UNPERSISTED_ZERO;
    fx_new(f);
    assert_int_equal(sim_checker_unpersisted(f->chk, S(50), "pub-1", 3), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, UNPERSISTED), SIM_CHK_FAIL);
    const sim_checker_violation *v = first_of(f, UNPERSISTED);
    assert_string_equal(v->client, "pub-1");
    assert_false(v->has_message);
    assert_non_null(strstr(v->text, "3 unpersisted"));
    assert_true(context_has(v, "pub-1 unpersisted=3 at end"));
}

/* ---- expected violations, errors, delivered --------------------------------------- */

static void lossy_run(fx *f, uint32_t checks, uint32_t violations)
{
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.checks = checks;
    f->cfg.violations = violations;
    fx_new(f);
    publish_run(f, S(1), 1, 3);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    journal_run(f, "a", 1, 2, 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
}

static void test_expected_violations(void **state)
{
    fx *f = *state;
    /* listed and fired: pass */
    lossy_run(f, SIM_CHECK_ALL & ~SIM_CHECK_NO_LOSS, SIM_CHECK_NO_LOSS);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_EXPECTED_FIRED);
    assert_true(sim_checker_passed(f->chk));
    assert_true(first_of(f, NO_LOSS)->expected);
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* listed and not fired: fail */
    lossy_run(f, SIM_CHECK_ALL & ~(SIM_CHECK_NO_LOSS | SIM_CHECK_ACK_HONESTY),
              SIM_CHECK_ACK_HONESTY);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_EXPECTED_MISSING);
    assert_false(sim_checker_passed(f->chk));
    assert_string_equal(sim_checker_failure_text(f->chk),
                        "expected violation `ack_honesty` did not occur");
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* unlisted and fired: fail */
    lossy_run(f, SIM_CHECK_ALL & ~SIM_CHECK_ACK_HONESTY, SIM_CHECK_ACK_HONESTY);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_FAIL);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_EXPECTED_MISSING);
    assert_false(sim_checker_passed(f->chk));
    assert_string_equal(sim_checker_failure_text(f->chk),
                        "no_loss: 1 violation(s); expected violation `ack_honesty` did not occur");
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* checks and violations must not overlap */
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.violations = SIM_CHECK_NO_LOSS; /* checks = ALL still */
    char err[128];
    assert_int_equal(sim_checker_new(&f->cfg, &f->chk, err, sizeof err), FL_E_INVAL);
    assert_null(f->chk);
}

static void test_expected_errors(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    sim_checker_expect_error xe[3] = {
        {"bookmark_expired", "sub-1", true, S(10), true, S(20)},
        {"gave_up", NULL, false, 0, false, 0},
        {"timeout", "pub-1", false, 0, false, 0},
    };
    f->cfg.errors = xe;
    f->cfg.nerrors = 3;
    fx_new(f);
    assert_int_equal(sim_checker_error(f->chk, S(5), "sub-1", "bookmark_expired"), 0); /* early */
    assert_int_equal(sim_checker_error(f->chk, S(15), "sub-1", "bookmark_expired"), 0);
    assert_int_equal(sim_checker_error(f->chk, S(16), "pub-1", "gave_up"), 0);
    assert_int_equal(sim_checker_error(f->chk, S(17), "sub-1", "timeout"), 0); /* wrong client */
    assert_int_equal(sim_checker_error(f->chk, S(17), "nobody", "timeout"), FL_E_NOT_FOUND);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, SIM_CHK_ERRORS), SIM_CHK_FAIL);
    assert_int_equal(fired(f, SIM_CHK_ERRORS), 1);
    const sim_checker_violation *v = first_of(f, SIM_CHK_ERRORS);
    assert_string_equal(v->text, "expected error `timeout` to pub-1 was not reported");
    assert_string_equal(v->client, "pub-1");
    sim_checker_free(f->chk);
    f->chk = NULL;

    /* the window matters */
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.errors = xe;
    f->cfg.nerrors = 1;
    fx_new(f);
    assert_int_equal(sim_checker_error(f->chk, S(25), "sub-1", "bookmark_expired"), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, SIM_CHK_ERRORS), 1);
    sim_checker_free(f->chk);
    f->chk = NULL;

    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.errors = xe;
    f->cfg.nerrors = 1;
    fx_new(f);
    assert_int_equal(sim_checker_error(f->chk, S(20), "sub-1", "bookmark_expired"), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, SIM_CHK_ERRORS), SIM_CHK_PASS);
    assert_true(sim_checker_passed(f->chk));
}

static void test_expected_delivered(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", NULL);
    sim_checker_expect_delivered xd[1] = {{"sub-1", "s1", 3}};
    f->cfg.delivered = xd;
    f->cfg.ndelivered = 1;
    fx_new(f);
    deliver(f, S(1), "s1", 1);
    deliver(f, S(2), "s1", 2);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, SIM_CHK_DELIVERED), SIM_CHK_FAIL);
    assert_non_null(strstr(first_of(f, SIM_CHK_DELIVERED)->text, "delivered 2 distinct"));
    sim_checker_free(f->chk);
    f->chk = NULL;

    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", NULL);
    f->cfg.delivered = xd;
    f->cfg.ndelivered = 1;
    fx_new(f);
    for (uint64_t s = 1; s <= 3; s++)
        deliver(f, S(s), "s1", s);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, SIM_CHK_DELIVERED), SIM_CHK_PASS);
}

/* ---- API contracts, JSON, memory ---------------------------------------------------- */

static void test_config_and_state_errors(void **state)
{
    fx *f = *state;
    char err[256];
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", "[20200604T000000:");
    assert_int_equal(sim_checker_new(&f->cfg, &f->chk, err, sizeof err), FL_E_BAD_RANGE);
    assert_non_null(strstr(err, "sub-1/s1"));
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->subs[0] = (sim_checker_sub_cfg){"ghost", "s1", "orders", NULL, 0};
    f->cfg.subs = f->subs;
    f->cfg.nsubs = 1;
    assert_int_equal(sim_checker_new(&f->cfg, &f->chk, err, sizeof err), FL_E_INVAL);
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->clients[1].name = "pub-1";
    assert_int_equal(sim_checker_new(&f->cfg, &f->chk, err, sizeof err), FL_E_INVAL);
    assert_non_null(strstr(err, "twice"));
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    f->cfg.version = 99;
    assert_int_equal(sim_checker_new(&f->cfg, &f->chk, err, sizeof err), FL_E_INVAL);
    assert_null(f->chk);

    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", NULL);
    fx_new(f);
    sim_checker_msg m = msg(f, 1);
    assert_int_equal(sim_checker_publish(f->chk, 0, "nobody", "orders", 1, 0), FL_E_NOT_FOUND);
    assert_int_equal(sim_checker_delivery(f->chk, 0, "sub-1", "nosub", &m), FL_E_NOT_FOUND);
    assert_int_equal(sim_checker_journal_message(f->chk, "a", "orders", 1, 1, 0), FL_E_STATE);
    sim_checker_verdict v;
    assert_int_equal(sim_checker_verdict_at(f->chk, 0, &v), FL_E_STATE);
    assert_null(sim_checker_to_json(f->chk));
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    assert_int_equal(sim_checker_publish(f->chk, 0, "pub-1", "orders", 1, 0), FL_E_STATE);
    assert_int_equal(sim_checker_finish(f->chk, S(1)), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(1)), FL_E_STATE);
    assert_int_equal(sim_checker_verdict_at(f->chk, SIM_CHK_COUNT, &v), FL_E_INVAL);
    assert_string_equal(sim_checker_check_name(7), "unpersisted_zero");
    assert_string_equal(sim_checker_check_name(10), "?");
    assert_string_equal(sim_chk_verdict_name(SIM_CHK_EXPECTED_MISSING),
                        "expected_violation_missing");
}

static void test_json(void **state)
{
    fx *f = *state;
    lossy_run(f, SIM_CHECK_ALL, 0);
    json_t *j = sim_checker_to_json(f->chk);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "passed")));
    assert_string_equal(json_string_value(json_object_get(j, "failure")),
                        "no_loss: 1 violation(s)");
    json_t *verdicts = json_object_get(j, "verdicts");
    assert_int_equal(json_array_size(verdicts), SIM_CHK_COUNT);
    json_t *v0 = json_array_get(verdicts, 0);
    assert_string_equal(json_string_value(json_object_get(v0, "check")), "no_loss");
    assert_string_equal(json_string_value(json_object_get(v0, "verdict")), "fail");
    assert_int_equal(json_integer_value(json_object_get(v0, "violations")), 1);
    json_t *viols = json_object_get(j, "violations");
    assert_int_equal(json_array_size(viols), 1);
    json_t *x = json_array_get(viols, 0);
    char pub[24];
    snprintf(pub, sizeof pub, "%llu", (unsigned long long)f->pub);
    assert_string_equal(json_string_value(json_object_get(x, "publisher")), pub);
    assert_int_equal(json_integer_value(json_object_get(x, "sequence")), 3);
    assert_string_equal(json_string_value(json_object_get(x, "client")), "pub-1");
    assert_true(json_is_array(json_object_get(x, "context")));
    assert_true(json_is_string(json_object_get(x, "text")));
    assert_true(json_is_false(json_object_get(x, "expected")));
    json_decref(j);
}

static void test_violation_cap(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_MEMORY, SIM_SYNC_BATCH);
    fx_sub(f, "s1", NULL);
    f->cfg.max_violations = 4;
    fx_new(f);
    for (uint64_t i = 0; i < 100; i++)
        deliver(f, S(1) + i, "s1", 1);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_DUPLICATES), 99);
    assert_int_equal(sim_checker_violation_count(f->chk), 4);
    sim_checker_verdict v;
    assert_int_equal(sim_checker_verdict_at(f->chk, NO_DUPLICATES, &v), 0);
    assert_string_equal(v.detail, "99 violation(s), 4 shown");
}

/* 10M in-order publishes, discards, deliveries, bookmark discards and
 * journal records keep every sequence set at one interval. */
static void test_bounded_memory(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_sub(f, "s1", "0");
    fx_new(f);
    const uint64_t n = 10000000;
    sim_checker_msg m = {"orders", f->pub, 0, 0};
    for (uint64_t s = 1; s <= n; s++) {
        uint64_t t = s * 100;
        assert_int_equal(sim_checker_publish(f->chk, t, "pub-1", "orders", s, 0), 0);
        m.sequence = s;
        m.ts_us = TS(t + 50);
        assert_int_equal(sim_checker_delivery(f->chk, t + 60, "sub-1", "s1", &m), 0);
        assert_int_equal(sim_checker_bookmark_discard(f->chk, t + 60, "sub-1", "s1", f->pub, s), 0);
        if (s % 1000 == 0)
            assert_int_equal(sim_checker_store_discard(f->chk, t + 70, "pub-1", s), 0);
    }
    assert_int_equal(sim_checker_unpersisted(f->chk, n * 100 + 100, "pub-1", 0), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    for (uint64_t s = 1; s <= n; s++)
        assert_int_equal(
            sim_checker_journal_message(f->chk, "a", "orders", f->pub, s, TS(s * 100 + 50)), 0);
    sim_checker_memory mem;
    sim_checker_get_memory(f->chk, &mem);
    assert_int_equal(mem.max_set_intervals, 1);
    assert_true(mem.intervals <= 8);
    assert_true(mem.time_index <= 4096);
    assert_int_equal(sim_checker_finish(f->chk, n * 100 + S(10)), 0);
    assert_true(sim_checker_passed(f->chk));
    assert_int_equal(sim_checker_delivered_count(f->chk, "sub-1", "s1"), n);
    sim_checker_figures fig;
    sim_checker_get_figures(f->chk, &fig);
    assert_int_equal(fig.journal_messages, n);
}

/* Out-of-order and holey streams merge back into one interval. */
static void test_interval_merging(void **state)
{
    fx *f = *state;
    fx_init(f, SIM_STORE_FILE, SIM_SYNC_ALWAYS);
    fx_new(f);
    static const uint64_t seqs[] = {5, 1, 9, 3, 2, 7, 4, 8, 6, 10};
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(sim_checker_publish(f->chk, S(i), "pub-1", "orders", seqs[i], 0), 0);
    sim_checker_memory mem;
    sim_checker_get_memory(f->chk, &mem);
    assert_int_equal(mem.max_set_intervals, 1);
    assert_int_equal(sim_checker_journal_begin(f->chk, "a"), 0);
    for (size_t i = 0; i < 10; i++)
        if (seqs[i] != 4 && seqs[i] != 8)
            assert_int_equal(
                sim_checker_journal_message(f->chk, "a", "orders", f->pub, seqs[i], TS(S(seqs[i]))),
                0);
    sim_checker_get_memory(f->chk, &mem);
    assert_int_equal(mem.max_set_intervals, 3); /* 1-3, 5-7, 9-10 */
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(fired(f, NO_LOSS), 2);
    assert_int_equal(first_of(f, NO_LOSS)->sequence, 4);
    assert_int_equal(sim_checker_violation_at(f->chk, 1)->sequence, 8);
}

/* ---- from a scenario ----------------------------------------------------------- */

static const char scenario_json[] =
    "{\"name\": \"t\", \"duration\": \"1m\", \"start\": \"2020-06-04T00:00:00Z\","
    " \"brokers\": {\"a\": {\"topics\": {\"orders\": {\"journal\": true},"
    "                                  \"scratch\": {\"journal\": false}}},"
    "             \"b\": {\"topics\": {\"orders\": {\"journal\": true}}}},"
    " \"clients\": {\"pub-1\": {\"servers\": [\"a\"], \"publish_store\": {\"type\": \"file\"}},"
    "             \"sub-1\": {\"servers\": [\"a\"], \"bookmark_store\": {\"type\": \"file\","
    "                          \"sync\": \"always\"},"
    "                        \"subscribe\": [{\"topic\": \"orders\", \"sub_id\": \"s1\","
    "                                       \"bookmark\": \"recent\"}]}},"
    " \"expect\": {\"violations\": [\"ack_honesty\"],"
    "            \"errors\": [{\"name\": \"bookmark_expired\", \"client\": \"sub-1\"}],"
    "            \"delivered\": {\"sub-1/s1\": 2}}}";

static void test_from_scenario(void **state)
{
    fx *f = *state;
    sim_scenario *sc = NULL;
    sim_scenario_error se;
    int rc = sim_scenario_load_buffer("t.json", scenario_json, sizeof scenario_json - 1, &sc, &se);
    if (rc)
        fail_msg("%s", se.message);
    char err[256];
    assert_int_equal(sim_checker_new_for_scenario(sc, &f->chk, err, sizeof err), 0);
    sim_scenario_free(sc);
    f->pub = fl_publisher_id("pub-1", 5);
    const int64_t start = 1591228800000000LL;
    /* "scratch" is not journaled: its loss is no loss */
    assert_int_equal(sim_checker_publish(f->chk, S(1), "pub-1", "orders", 1, 0), 0);
    assert_int_equal(sim_checker_publish(f->chk, S(1), "pub-1", "scratch", 2, 0), 0);
    assert_int_equal(sim_checker_publish(f->chk, S(2), "pub-1", "orders", 3, 0), 0);
    sim_checker_msg m = {"orders", f->pub, 1, start + (int64_t)S(1)};
    assert_int_equal(sim_checker_delivery(f->chk, S(3), "sub-1", "s1", &m), 0);
    m.sequence = 3;
    m.ts_us = start + (int64_t)S(2);
    assert_int_equal(sim_checker_delivery(f->chk, S(3), "sub-1", "s1", &m), 0);
    assert_int_equal(sim_checker_error_code(f->chk, S(4), "sub-1", FL_E_BOOKMARK_EXPIRED), 0);
    assert_int_equal(sim_checker_journal_begin(f->chk, "b"), 0);
    assert_int_equal(
        sim_checker_journal_message(f->chk, "b", "orders", f->pub, 1, start + (int64_t)S(1)), 0);
    assert_int_equal(
        sim_checker_journal_message(f->chk, "b", "orders", f->pub, 3, start + (int64_t)S(2)), 0);
    assert_int_equal(sim_checker_finish(f->chk, S(60)), 0);
    assert_int_equal(verdict(f, NO_LOSS), SIM_CHK_PASS);
    assert_int_equal(verdict(f, GAPS), SIM_CHK_PASS);
    assert_int_equal(verdict(f, LIVENESS), SIM_CHK_NOT_APPLICABLE);
    assert_int_equal(verdict(f, SIM_CHK_ERRORS), SIM_CHK_PASS);
    assert_int_equal(verdict(f, SIM_CHK_DELIVERED), SIM_CHK_PASS);
    assert_int_equal(verdict(f, ACK_HONESTY), SIM_CHK_EXPECTED_MISSING);
    assert_string_equal(sim_checker_failure_text(f->chk),
                        "expected violation `ack_honesty` did not occur");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_loss_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_loss_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_loss_journal_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_message_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_loss_sequence_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_loss_exclusions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_honesty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_honesty_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_loss_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_loss_unreported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_loss_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_loss_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_lost_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_without_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_duplicates_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_redelivery_allowance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_redelivery_allowance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_discard_violation_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_restarts_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_june4_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_exclusive_begin_inclusive_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_boundary_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_completed_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_after_completed_and_unjournaled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gap_not_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_window_now_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_jump_dating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_messages_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_liveness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_liveness_never_persisted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpersisted_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_and_state_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violation_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_merging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_scenario, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
