/* The store contract table (see store_contract.h): every case a publish or
 * bookmark store must pass, written against the store ABI only, and the
 * cmocka runner that turns the applicable cases into one test each.
 *
 * Failure messages name the operation, its arguments, what came back and
 * what was expected, plus the line in this file; cmocka names the case.
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
#include "lib/store_contract.h"

struct fl_sc {
    const fl_store_under_test *sut;
    const fl_store_contract_case *c;
    const fl_runtime *rt;
    void *pub; /* open publish store, or NULL */
    void *bm;  /* open bookmark store, or NULL */
    const char *pub_options;
};

#define PUB_DIR "contract/pub"
#define BM_DIR  "contract/bm"

/* ===================================================================== */
/* opening and closing                                                    */
/* ===================================================================== */

static fl_store_env make_env(const fl_sc *t, const char *dir, const char *options)
{
    fl_store_env env = {
        .version = FL_STORE_ABI_VERSION,
        .rt = t->rt,
        .dir = dir,
        .client_name = "contract",
        .options = options,
    };
    return env;
}

static void make_dir(const fl_sc *t, const char *dir)
{
    if (!t->rt || !t->rt->ops || !t->rt->ops->dir_create)
        return;
    int rc = t->rt->ops->dir_create(t->rt->self, dir);
    if (rc != 0 && rc != FL_E_UNSUPPORTED)
        fail_msg("dir_create(%s) = %s", dir, fl_err_name(rc));
}

static void pub_open_with(fl_sc *t, const char *options)
{
    assert_null(t->pub);
    fl_store_env env = make_env(t, PUB_DIR, options);
    char err[256] = "";
    fl_store_recovery rec;
    int rc = t->sut->pub->open(&env, &t->pub, &rec, err, sizeof err);
    if (rc != 0) {
        t->pub = NULL;
        fail_msg("pubstore %s open(\"%s\") = %s: %s", t->sut->pub->name,
                 options ? options : "(null)", fl_err_name(rc), err);
    }
    assert_non_null(t->pub);
    t->pub_options = options;
}

static void pub_open(fl_sc *t)
{
    pub_open_with(t, t->sut->options);
}

static void pub_close(fl_sc *t)
{
    if (t->pub)
        t->sut->pub->close(t->pub);
    t->pub = NULL;
}

static void bm_open(fl_sc *t)
{
    assert_null(t->bm);
    fl_store_env env = make_env(t, BM_DIR, t->sut->options);
    char err[256] = "";
    fl_store_recovery rec;
    int rc = t->sut->bm->open(&env, &t->bm, &rec, err, sizeof err);
    if (rc != 0) {
        t->bm = NULL;
        fail_msg("bmstore %s open = %s: %s", t->sut->bm->name, fl_err_name(rc), err);
    }
    assert_non_null(t->bm);
}

static void bm_close(fl_sc *t)
{
    if (t->bm)
        t->sut->bm->close(t->bm);
    t->bm = NULL;
}

/* Kill the process under the open stores, close them, bring it back. */
static void crash_and_restart(fl_sc *t)
{
    assert_non_null(t->sut->crash);
    t->sut->crash(t->sut->ctx);
    pub_close(t);
    bm_close(t);
    if (t->sut->restart) {
        t->rt = t->sut->restart(t->sut->ctx);
        assert_non_null(t->rt);
    }
}

/* Cut the power under the open stores (any sync policy), close them,
 * bring the process back. */
static void power_loss_and_restart(fl_sc *t)
{
    assert_non_null(t->sut->power_loss);
    t->sut->power_loss(t->sut->ctx);
    pub_close(t);
    bm_close(t);
    if (t->sut->restart) {
        t->rt = t->sut->restart(t->sut->ctx);
        assert_non_null(t->rt);
    }
}

static void pub_reopen(fl_sc *t, bool crash)
{
    const char *options = t->pub_options;
    if (crash)
        crash_and_restart(t);
    else
        pub_close(t);
    pub_open_with(t, options);
}

static void bm_reopen(fl_sc *t, bool crash)
{
    if (crash)
        crash_and_restart(t);
    else
        bm_close(t);
    bm_open(t);
}

/* ===================================================================== */
/* publish helpers                                                        */
/* ===================================================================== */

/* The content every case stores under a sequence: topic "t<seq % 5>",
 * payload of (seq * 37) % 200 bytes (zero-length included), byte i being
 * (seq * 13 + i) & 0xff. */
typedef struct msg_buf {
    char topic[16];
    uint8_t payload[256];
    fl_pub_msg msg;
} msg_buf;

static const fl_pub_msg *make_msg(msg_buf *b, uint64_t seq)
{
    int n = snprintf(b->topic, sizeof b->topic, "t%u", (unsigned)(seq % 5));
    size_t len = (size_t)((seq * 37) % 200);
    for (size_t i = 0; i < len; i++)
        b->payload[i] = (uint8_t)((seq * 13 + i) & 0xff);
    b->msg = (fl_pub_msg){
        .sequence = seq,
        .topic = b->topic,
        .topic_len = (size_t)n,
        .payload = b->payload,
        .payload_len = len,
    };
    return &b->msg;
}

/* Does a replayed message carry exactly what make_msg stored? */
static bool msg_matches(const fl_pub_msg *m)
{
    msg_buf b;
    const fl_pub_msg *want = make_msg(&b, m->sequence);
    if (m->topic_len != want->topic_len || m->payload_len != want->payload_len)
        return false;
    if (m->topic_len && (!m->topic || memcmp(m->topic, want->topic, m->topic_len) != 0))
        return false;
    if (m->payload_len && (!m->payload || memcmp(m->payload, want->payload, m->payload_len) != 0))
        return false;
    return true;
}

#define PUB_STORE(t, seq, want) pub_store_line((t), __LINE__, (seq), (want))
static void pub_store_line(fl_sc *t, int line, uint64_t seq, int want)
{
    msg_buf b;
    int rc = t->sut->pub->store(t->pub, make_msg(&b, seq));
    if (rc != want)
        fail_msg("line %d: store(seq %" PRIu64 ") = %s, want %s (%s)", line, seq, fl_err_name(rc),
                 fl_err_name(want), t->sut->pub->last_error(t->pub));
}

static void pub_store_range(fl_sc *t, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++)
        PUB_STORE(t, s, 0);
}

#define PUB_DISCARD(t, seq) pub_discard_line((t), __LINE__, (seq))
static void pub_discard_line(fl_sc *t, int line, uint64_t seq)
{
    int rc = t->sut->pub->discard_up_to(t->pub, seq);
    if (rc != 0)
        fail_msg("line %d: discard_up_to(%" PRIu64 ") = %s (%s)", line, seq, fl_err_name(rc),
                 t->sut->pub->last_error(t->pub));
}

/* What a replay saw. */
typedef struct collect {
    uint64_t seqs[512];
    size_t n;
    size_t stop_after; /* return 1 after this many (0: never) */
    uint64_t bad_seq;  /* first message whose content did not match, or 0 */
    bool overflow;
} collect;

static int collect_fn(void *arg, const fl_pub_msg *m)
{
    collect *c = arg;
    if (!msg_matches(m) && !c->bad_seq)
        c->bad_seq = m->sequence ? m->sequence : UINT64_MAX;
    if (c->n < sizeof c->seqs / sizeof c->seqs[0])
        c->seqs[c->n] = m->sequence;
    else
        c->overflow = true;
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void pub_replay(fl_sc *t, collect *c, int line)
{
    int rc = t->sut->pub->replay(t->pub, collect_fn, c);
    if (rc != 0)
        fail_msg("line %d: replay = %s (%s)", line, fl_err_name(rc),
                 t->sut->pub->last_error(t->pub));
    if (c->bad_seq)
        fail_msg("line %d: replay: message %" PRIu64 " came back with different content", line,
                 c->bad_seq);
    assert_false(c->overflow);
}

static void print_seqs(char *out, size_t cap, const uint64_t *s, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 24 < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRIu64, i ? "," : "", s[i]);
    if (n && len + 24 >= cap)
        snprintf(out + len, cap - len, ",...");
}

/* Replay must give exactly these sequences (with their content), and the
 * counters must agree. */
#define EXPECT_PUB(t, ...)                                                                         \
    do {                                                                                           \
        static const uint64_t want_[] = {__VA_ARGS__};                                             \
        expect_pub_line((t), __LINE__, want_, sizeof want_ / sizeof want_[0]);                     \
    } while (0)
#define EXPECT_PUB_EMPTY(t) expect_pub_line((t), __LINE__, NULL, 0)

static void expect_pub_line(fl_sc *t, int line, const uint64_t *want, size_t n)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    collect c = {0};
    pub_replay(t, &c, line);
    bool same = c.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = c.seqs[i] == want[i];
    if (!same) {
        char got[256], exp[256];
        print_seqs(got, sizeof got, c.seqs, c.n);
        print_seqs(exp, sizeof exp, want, n);
        fail_msg("line %d: replay gave [%s], want [%s]", line, got, exp);
    }
    uint64_t count = ops->unpersisted_count(t->pub);
    uint64_t lowest = ops->lowest_unpersisted(t->pub);
    if (count != n)
        fail_msg("line %d: unpersisted_count = %" PRIu64 ", want %zu", line, count, n);
    if (lowest != (n ? want[0] : 0))
        fail_msg("line %d: lowest_unpersisted = %" PRIu64 ", want %" PRIu64, line, lowest,
                 n ? want[0] : 0);
}

#define EXPECT_LAST(t, want) expect_last_line((t), __LINE__, (want))
static void expect_last_line(fl_sc *t, int line, uint64_t want)
{
    uint64_t got = t->sut->pub->last_sequence(t->pub);
    if (got != want)
        fail_msg("line %d: last_sequence = %" PRIu64 ", want %" PRIu64, line, got, want);
}

/* After a reopen last_sequence may be above the highest message stored (a
 * store may reserve sequences in blocks, store.h): at least `floor`.
 * Returns it. */
#define EXPECT_LAST_AT_LEAST(t, floor) expect_last_at_least_line((t), __LINE__, (floor))
static uint64_t expect_last_at_least_line(fl_sc *t, int line, uint64_t floor)
{
    uint64_t got = t->sut->pub->last_sequence(t->pub);
    if (got < floor)
        fail_msg("line %d: last_sequence = %" PRIu64 " after reopen, want >= %" PRIu64
                 " (a sequence handed out before could be reused)",
                 line, got, floor);
    return got;
}

/* ===================================================================== */
/* publish cases                                                          */
/* ===================================================================== */

static void pub_empty(fl_sc *t)
{
    pub_open(t);
    EXPECT_PUB_EMPTY(t);
    EXPECT_LAST(t, 0);
    collect c = {0};
    assert_int_equal(t->sut->pub->replay_one(t->pub, 1, collect_fn, &c), FL_E_NOT_FOUND);
    assert_int_equal(c.n, 0);
    assert_int_equal(t->sut->pub->flush(t->pub), 0);
    assert_int_equal(t->sut->pub->discard_up_to(t->pub, 5), 0);
    EXPECT_LAST(t, 0);
    assert_non_null(t->sut->pub->last_error(t->pub));
}

static void pub_store_replay_order(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 40); /* payload sizes vary with the sequence */
    PUB_STORE(t, 200, 0);      /* (200 * 37) % 200 == 0: an empty payload */
    PUB_STORE(t, 1000, 0);     /* gaps between sequences are fine */
    collect c = {0};
    pub_replay(t, &c, __LINE__);
    assert_int_equal(c.n, 42);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(c.seqs[i], i + 1);
    assert_int_equal(c.seqs[40], 200);
    assert_int_equal(c.seqs[41], 1000);
    assert_int_equal(t->sut->pub->unpersisted_count(t->pub), 42);
    assert_int_equal(t->sut->pub->lowest_unpersisted(t->pub), 1);
    EXPECT_LAST(t, 1000);
    /* replay again: replay does not consume */
    EXPECT_PUB(t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
               24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 200, 1000);
}

static void pub_sequence_must_increase(fl_sc *t)
{
    pub_open(t);
    PUB_STORE(t, 0, FL_E_INVAL); /* 0 is never above last_sequence */
    EXPECT_LAST(t, 0);
    PUB_STORE(t, 5, 0);
    PUB_STORE(t, 5, FL_E_INVAL);
    PUB_STORE(t, 3, FL_E_INVAL);
    EXPECT_LAST(t, 5);
    if (t->sut->flags & FL_SUT_RETAINS)
        EXPECT_PUB(t, 5);
    PUB_STORE(t, 6, 0);
    EXPECT_LAST(t, 6);
    if (t->sut->flags & FL_SUT_RETAINS)
        EXPECT_PUB(t, 5, 6);
}

/* A script of stores and discards with the expected counters after each. */
static void pub_counts_each_step(fl_sc *t)
{
    static const struct {
        char op; /* 's' store, 'd' discard_up_to */
        uint64_t seq;
        uint64_t count, lowest, last;
    } steps[] = {
        {'s', 1, 1, 1, 1},   {'s', 2, 2, 1, 2},    {'s', 4, 3, 1, 4},    {'d', 1, 2, 2, 4},
        {'d', 3, 1, 4, 4},   {'s', 9, 2, 4, 9},    {'d', 3, 2, 4, 9},    {'d', 4, 1, 9, 9},
        {'d', 9, 0, 0, 9},   {'d', 50, 0, 0, 9},   {'s', 10, 1, 10, 10}, {'s', 11, 2, 10, 11},
        {'d', 0, 2, 10, 11}, {'d', 10, 1, 11, 11},
    };
    pub_open(t);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (steps[i].op == 's')
            PUB_STORE(t, steps[i].seq, 0);
        else
            PUB_DISCARD(t, steps[i].seq);
        uint64_t count = t->sut->pub->unpersisted_count(t->pub);
        uint64_t lowest = t->sut->pub->lowest_unpersisted(t->pub);
        uint64_t last = t->sut->pub->last_sequence(t->pub);
        if (count != steps[i].count || lowest != steps[i].lowest || last != steps[i].last)
            fail_msg("step %zu (%s %" PRIu64 "): count/lowest/last = %" PRIu64 "/%" PRIu64
                     "/%" PRIu64 ", want %" PRIu64 "/%" PRIu64 "/%" PRIu64,
                     i, steps[i].op == 's' ? "store" : "discard_up_to", steps[i].seq, count, lowest,
                     last, steps[i].count, steps[i].lowest, steps[i].last);
    }
}

static void pub_discard_up_to(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 10);
    PUB_DISCARD(t, 0); /* nothing */
    EXPECT_PUB(t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    PUB_DISCARD(t, 3); /* partial */
    EXPECT_PUB(t, 4, 5, 6, 7, 8, 9, 10);
    PUB_DISCARD(t, 3); /* idempotent */
    PUB_DISCARD(t, 2); /* lower than before: nothing */
    EXPECT_PUB(t, 4, 5, 6, 7, 8, 9, 10);
    PUB_STORE(t, 12, 0);
    PUB_STORE(t, 14, 0);
    PUB_DISCARD(t, 11); /* a point between stored sequences */
    EXPECT_PUB(t, 12, 14);
    PUB_DISCARD(t, 13);
    EXPECT_PUB(t, 14);
    PUB_DISCARD(t, 1000); /* beyond the last: all */
    EXPECT_PUB_EMPTY(t);
    EXPECT_LAST(t, 14);
    PUB_DISCARD(t, UINT64_MAX);
    EXPECT_PUB_EMPTY(t);
}

static void pub_last_sequence_survives_discard_all(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 7);
    PUB_DISCARD(t, 7);
    EXPECT_LAST(t, 7);
    PUB_STORE(t, 7, FL_E_INVAL); /* never reused */
    PUB_STORE(t, 1, FL_E_INVAL);
    PUB_STORE(t, 8, 0);
    EXPECT_LAST(t, 8);
    PUB_DISCARD(t, UINT64_MAX);
    EXPECT_LAST(t, 8);
}

static void pub_replay_one(fl_sc *t)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    pub_open(t);
    PUB_STORE(t, 2, 0);
    PUB_STORE(t, 4, 0);
    PUB_STORE(t, 6, 0);
    collect c = {0};
    assert_int_equal(ops->replay_one(t->pub, 4, collect_fn, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.seqs[0], 4);
    assert_int_equal(c.bad_seq, 0);
    static const uint64_t misses[] = {0, 1, 3, 5, 7, UINT64_MAX};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        collect m = {0};
        int rc = ops->replay_one(t->pub, misses[i], collect_fn, &m);
        if (rc != FL_E_NOT_FOUND || m.n != 0)
            fail_msg("replay_one(%" PRIu64 ") = %s with %zu calls, want NOT_FOUND and none",
                     misses[i], fl_err_name(rc), m.n);
    }
    PUB_DISCARD(t, 4);
    collect d = {0};
    assert_int_equal(ops->replay_one(t->pub, 4, collect_fn, &d), FL_E_NOT_FOUND);
    assert_int_equal(ops->replay_one(t->pub, 2, collect_fn, &d), FL_E_NOT_FOUND);
    assert_int_equal(ops->replay_one(t->pub, 6, collect_fn, &d), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.seqs[0], 6);
    EXPECT_PUB(t, 6); /* replay_one does not consume */
}

static void pub_replay_stop_early(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 10);
    collect c = {.stop_after = 3};
    pub_replay(t, &c, __LINE__);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.seqs[2], 3);
    EXPECT_PUB(t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
}

/* The store must copy what it keeps: the caller's buffers are reused. */
static void pub_copies_caller_memory(fl_sc *t)
{
    pub_open(t);
    msg_buf b;
    for (uint64_t s = 1; s <= 5; s++) {
        assert_int_equal(t->sut->pub->store(t->pub, make_msg(&b, s)), 0);
        memset(&b, 0xee, sizeof b); /* scribble over topic and payload */
    }
    EXPECT_PUB(t, 1, 2, 3, 4, 5); /* contents checked against make_msg */
}

typedef struct big_check {
    size_t n;
    bool ok;
} big_check;

static int big_fn(void *arg, const fl_pub_msg *m)
{
    big_check *c = arg;
    c->n++;
    c->ok = m->sequence == 1 && m->topic_len == 3 && memcmp(m->topic, "big", 3) == 0 &&
            m->payload_len == 65536;
    for (size_t i = 0; c->ok && i < m->payload_len; i++)
        c->ok = m->payload[i] == (uint8_t)(i * 7 + 1);
    return 0;
}

static void pub_large_message(fl_sc *t)
{
    pub_open(t);
    uint8_t *p = malloc(65536);
    assert_non_null(p);
    for (size_t i = 0; i < 65536; i++)
        p[i] = (uint8_t)(i * 7 + 1);
    fl_pub_msg m = {
        .sequence = 1, .topic = "big", .topic_len = 3, .payload = p, .payload_len = 65536};
    int rc = t->sut->pub->store(t->pub, &m);
    free(p);
    assert_int_equal(rc, 0);
    big_check c = {0};
    assert_int_equal(t->sut->pub->replay(t->pub, big_fn, &c), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.ok);
    big_check one = {0};
    assert_int_equal(t->sut->pub->replay_one(t->pub, 1, big_fn, &one), 0);
    assert_true(one.ok);
}

static void pub_flush(fl_sc *t)
{
    pub_open(t);
    assert_int_equal(t->sut->pub->flush(t->pub), 0);
    pub_store_range(t, 1, 3);
    assert_int_equal(t->sut->pub->flush(t->pub), 0);
    assert_int_equal(t->sut->pub->flush(t->pub), 0);
    EXPECT_LAST(t, 3);
    if (t->sut->flags & FL_SUT_RETAINS)
        EXPECT_PUB(t, 1, 2, 3);
}

typedef struct file_list {
    char names[32][128];
    size_t n;
} file_list;

static int list_fn(void *arg, const char *path)
{
    file_list *l = arg;
    if (!path)
        return 0;
    if (l->n < 32)
        snprintf(l->names[l->n], sizeof l->names[0], "%s", path);
    l->n++;
    return 0;
}

static void check_list_stable(int rc1, const file_list *a, int rc2, const file_list *b)
{
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n && i < 32; i++) {
        assert_true(a->names[i][0] != '\0');
        assert_string_equal(a->names[i], b->names[i]);
    }
}

static void pub_list_files(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 3);
    file_list a = {0}, b = {0};
    int rc1 = t->sut->pub->list_files(t->pub, list_fn, &a);
    int rc2 = t->sut->pub->list_files(t->pub, list_fn, &b);
    check_list_stable(rc1, &a, rc2, &b);
}

static void pub_nonretaining_keeps_nothing(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 5);
    EXPECT_PUB_EMPTY(t);
    EXPECT_LAST(t, 5);
    collect c = {0};
    assert_int_equal(t->sut->pub->replay_one(t->pub, 3, collect_fn, &c), FL_E_NOT_FOUND);
    assert_int_equal(c.n, 0);
    PUB_DISCARD(t, 2);
    EXPECT_LAST(t, 5);
    PUB_STORE(t, 5, FL_E_INVAL);
}

static void pub_capacity_full(fl_sc *t)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    pub_open_with(t, t->sut->capacity_options);
    static uint8_t payload[100];
    memset(payload, 'x', sizeof payload);
    fl_pub_msg m = {.topic = "cap", .topic_len = 3, .payload = payload, .payload_len = 100};
    uint64_t seq = 0;
    int rc = 0;
    while (rc == 0 && seq < 20000) {
        m.sequence = ++seq;
        rc = ops->store(t->pub, &m);
    }
    if (rc != FL_E_FULL)
        fail_msg("storing 100-byte messages: %s after %" PRIu64 " (want FULL within 20000)",
                 fl_err_name(rc), seq);
    uint64_t stored = seq - 1;
    assert_true(stored > 0);
    /* nothing changed by the failed store */
    assert_int_equal(ops->unpersisted_count(t->pub), stored);
    assert_int_equal(ops->last_sequence(t->pub), stored);
    assert_int_equal(ops->lowest_unpersisted(t->pub), 1);
    collect c = {0};
    if (stored <= 512) {
        assert_int_equal(ops->replay(t->pub, collect_fn, &c), 0);
        assert_int_equal(c.n, stored);
        assert_int_equal(c.seqs[stored - 1], stored);
    }
    /* still full for the same sequence; a retry is allowed (never stored) */
    assert_int_equal(ops->store(t->pub, &m), FL_E_FULL);
    assert_int_equal(ops->last_sequence(t->pub), stored);
    /* discarding makes room */
    PUB_DISCARD(t, stored);
    assert_int_equal(ops->unpersisted_count(t->pub), 0);
    rc = ops->store(t->pub, &m);
    if (rc != 0)
        fail_msg("store after discarding everything = %s (%s)", fl_err_name(rc),
                 ops->last_error(t->pub));
    assert_int_equal(ops->last_sequence(t->pub), seq);
    assert_int_equal(ops->unpersisted_count(t->pub), 1);
}

/* Store 1..20, discard up to 5, reopen: 6..20 must come back unchanged and
 * in order; 1..5 may come back too (discards need not be durable). */
static void pub_reopen_common(fl_sc *t, bool crash)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    pub_open(t);
    pub_store_range(t, 1, 20);
    PUB_DISCARD(t, 5);
    pub_reopen(t, crash);
    uint64_t last = EXPECT_LAST_AT_LEAST(t, 20);
    collect c = {0};
    pub_replay(t, &c, __LINE__);
    if (c.n < 15 || c.n > 20)
        fail_msg("after reopen replay gave %zu messages, want 15 (6..20) up to 20", c.n);
    uint64_t first = c.seqs[0];
    assert_true(first >= 1 && first <= 6);
    for (size_t i = 0; i < c.n; i++) {
        if (c.seqs[i] != first + i)
            fail_msg("after reopen replay[%zu] = %" PRIu64 ", want %" PRIu64, i, c.seqs[i],
                     first + i);
    }
    assert_int_equal(c.seqs[c.n - 1], 20);
    assert_int_equal(ops->unpersisted_count(t->pub), c.n);
    assert_int_equal(ops->lowest_unpersisted(t->pub), first);
    PUB_STORE(t, 20, FL_E_INVAL);
    PUB_STORE(t, last, FL_E_INVAL);
    PUB_STORE(t, last + 1, 0);
    PUB_DISCARD(t, 10);
    uint64_t want[11] = {11, 12, 13, 14, 15, 16, 17, 18, 19, 20, last + 1};
    expect_pub_line(t, __LINE__, want, 11);
}

static void pub_reopen_keeps_unpersisted(fl_sc *t)
{
    pub_reopen_common(t, false);
}

static void pub_crash_keeps_unpersisted(fl_sc *t)
{
    pub_reopen_common(t, true);
}

/* Sequences are never reused, even after everything was discarded and the
 * store reopened. */
static void pub_reopen_last_common(fl_sc *t, bool crash)
{
    pub_open(t);
    pub_store_range(t, 1, 9);
    PUB_DISCARD(t, 9);
    assert_int_equal(t->sut->pub->flush(t->pub), 0);
    pub_reopen(t, crash);
    uint64_t last = EXPECT_LAST_AT_LEAST(t, 9);
    PUB_STORE(t, 9, FL_E_INVAL);
    PUB_STORE(t, last, FL_E_INVAL);
    PUB_STORE(t, last + 1, 0);
    pub_reopen(t, crash);
    EXPECT_LAST_AT_LEAST(t, last + 1);
}

static void pub_reopen_keeps_last_sequence(fl_sc *t)
{
    pub_reopen_last_common(t, false);
}

static void pub_crash_keeps_last_sequence(fl_sc *t)
{
    pub_reopen_last_common(t, true);
}

/* What a validating replay saw (no capacity limit). */
typedef struct scan {
    uint64_t n, first, last;
    uint64_t bad_seq;   /* first message with other content, or 0 */
    uint64_t unordered; /* first sequence not above the previous, or 0 */
    bool has[8];        /* has[i]: sequence `probe + i` came back */
    uint64_t probe;
} scan;

static int scan_fn(void *arg, const fl_pub_msg *m)
{
    scan *c = arg;
    if (!msg_matches(m) && !c->bad_seq)
        c->bad_seq = m->sequence ? m->sequence : UINT64_MAX;
    if (c->n && m->sequence <= c->last && !c->unordered)
        c->unordered = m->sequence ? m->sequence : UINT64_MAX;
    if (c->n++ == 0)
        c->first = m->sequence;
    c->last = m->sequence;
    if (c->probe && m->sequence >= c->probe && m->sequence - c->probe < 8)
        c->has[m->sequence - c->probe] = true;
    return 0;
}

/* Replay everything: every message intact, ascending; counters agree. */
static scan pub_scan(fl_sc *t, uint64_t probe, int line)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    scan c = {.probe = probe};
    int rc = ops->replay(t->pub, scan_fn, &c);
    if (rc != 0)
        fail_msg("line %d: replay = %s (%s)", line, fl_err_name(rc), ops->last_error(t->pub));
    if (c.bad_seq)
        fail_msg("line %d: replay: message %" PRIu64 " came back damaged or different", line,
                 c.bad_seq);
    if (c.unordered)
        fail_msg("line %d: replay: sequence %" PRIu64 " out of order", line, c.unordered);
    if (ops->unpersisted_count(t->pub) != c.n)
        fail_msg("line %d: unpersisted_count = %" PRIu64 ", replay gave %" PRIu64, line,
                 ops->unpersisted_count(t->pub), c.n);
    if (ops->lowest_unpersisted(t->pub) != (c.n ? c.first : 0))
        fail_msg("line %d: lowest_unpersisted = %" PRIu64 ", want %" PRIu64, line,
                 ops->lowest_unpersisted(t->pub), c.n ? c.first : 0);
    if (c.n && ops->last_sequence(t->pub) < c.last)
        fail_msg("line %d: last_sequence %" PRIu64 " below stored %" PRIu64, line,
                 ops->last_sequence(t->pub), c.last);
    return c;
}

/* Power loss with the store's own sync policy (none and batch included):
 * whatever messages it loses, no sequence a store() returned is handed out
 * again (store.h, last_sequence). 5000 stores cross any reasonable
 * reservation block. */
static void pub_power_loss_never_reuses_sequence(fl_sc *t)
{
    pub_open(t);
    pub_store_range(t, 1, 5000);
    PUB_DISCARD(t, 100);
    power_loss_and_restart(t);
    pub_open(t);
    uint64_t last = EXPECT_LAST_AT_LEAST(t, 5000);
    scan c = pub_scan(t, 0, __LINE__);
    if (c.n && (c.first < 1 || c.last > 5000))
        fail_msg("after power loss replay gave %" PRIu64 "..%" PRIu64 ", want within 1..5000",
                 c.first, c.last);
    PUB_STORE(t, last, FL_E_INVAL);
    pub_store_range(t, last + 1, last + 10);
    /* a second power loss right away: still nothing reused */
    power_loss_and_restart(t);
    pub_open(t);
    uint64_t again = EXPECT_LAST_AT_LEAST(t, last + 10);
    pub_scan(t, 0, __LINE__);
    PUB_STORE(t, again + 1, 0);
}

/* A sync fails under store(6) (or, when the policy does not sync in
 * store(), under the flush after it). Outcome unknown (store.h): the handle
 * is poisoned; after a reopen (clean close, or a power loss) 1..5 (flushed)
 * are back, 6 is back intact or absent, nothing else is stored under 6, and
 * the store works again above last_sequence. */
static void pub_sync_failure_common(fl_sc *t, bool power_loss)
{
    const fl_pubstore_ops *ops = t->sut->pub;
    pub_open(t);
    pub_store_range(t, 1, 5);
    assert_int_equal(ops->flush(t->pub), 0);
    t->sut->fail_next_sync(t->sut->ctx);
    msg_buf b;
    int rc = ops->store(t->pub, make_msg(&b, 6));
    if (rc == 0)
        rc = ops->flush(t->pub); /* no sync in store() under this policy */
    if (rc != FL_E_SYNC_FAILED)
        fail_msg("store(6) + flush with a failing sync = %s, want SYNC_FAILED (%s)",
                 fl_err_name(rc), ops->last_error(t->pub));
    PUB_STORE(t, 7, FL_E_SYNC_FAILED); /* poisoned: never retried */
    assert_int_equal(ops->flush(t->pub), FL_E_SYNC_FAILED);
    if (power_loss)
        power_loss_and_restart(t);
    else
        pub_close(t);
    pub_open(t);
    scan c = pub_scan(t, 6, __LINE__);
    if (c.n < 5 || c.n > 6 || c.first != 1)
        fail_msg("after the failed sync and reopen replay gave %" PRIu64 " message(s) from %" PRIu64
                 ", want 1..5 and maybe 6",
                 c.n, c.first);
    if (c.n == 6 && !c.has[0])
        fail_msg("after the failed sync a message other than 6 came back");
    if (c.has[1])
        fail_msg("message 7, refused by the poisoned handle, came back");
    uint64_t last = EXPECT_LAST_AT_LEAST(t, c.has[0] ? 6 : 5);
    collect one = {0};
    rc = ops->replay_one(t->pub, 6, collect_fn, &one);
    if (c.has[0] ? rc != 0 || one.n != 1 || one.bad_seq : rc != FL_E_NOT_FOUND)
        fail_msg("replay_one(6) = %s (%zu message(s)) disagrees with replay (6 %s)",
                 fl_err_name(rc), one.n, c.has[0] ? "present" : "absent");
    PUB_STORE(t, last + 1, 0);
    assert_int_equal(ops->flush(t->pub), 0);
    scan after = pub_scan(t, 0, __LINE__);
    assert_int_equal(after.last, last + 1);
}

static void pub_sync_failure_then_reopen(fl_sc *t)
{
    pub_sync_failure_common(t, false);
}

static void pub_sync_failure_then_power_loss(fl_sc *t)
{
    pub_sync_failure_common(t, true);
}

/* ===================================================================== */
/* bookmark helpers                                                       */
/* ===================================================================== */

/* 2020-01-01T00:00:00Z; the reopen cases give message s the time base + s
 * seconds so the resume point's text is predictable. */
#define TS_BASE 1577836800000000LL

static fl_store_bookmark bk(uint64_t pub, uint64_t seq)
{
    return (fl_store_bookmark){.publisher = pub, .sequence = seq, .ts_us = -1};
}

static fl_store_bookmark bkt(uint64_t pub, uint64_t seq)
{
    return (fl_store_bookmark){
        .publisher = pub, .sequence = seq, .ts_us = TS_BASE + (int64_t)seq * 1000000};
}

#define BM_LOG(t, sub, b, want) bm_log_line((t), __LINE__, (sub), (b), (want))
static void bm_log_line(fl_sc *t, int line, const char *sub, fl_store_bookmark b, int want)
{
    int rc = t->sut->bm->log(t->bm, sub, &b);
    if (rc != want)
        fail_msg("line %d: log(%s, %" PRIu64 "|%" PRIu64 ") = %d (%s), want %d", line, sub,
                 b.publisher, b.sequence, rc, rc < 0 ? fl_err_name(rc) : "", want);
}

#define BM_DISCARD(t, sub, b) bm_discard_line((t), __LINE__, (sub), (b))
static void bm_discard_line(fl_sc *t, int line, const char *sub, fl_store_bookmark b)
{
    int rc = t->sut->bm->discard(t->bm, sub, &b);
    if (rc != 0)
        fail_msg("line %d: discard(%s, %" PRIu64 "|%" PRIu64 ") = %s (%s)", line, sub, b.publisher,
                 b.sequence, fl_err_name(rc), t->sut->bm->last_error(t->bm));
}

#define BM_IS_DISCARDED(t, sub, b, want) bm_isd_line((t), __LINE__, (sub), (b), (want))
static void bm_isd_line(fl_sc *t, int line, const char *sub, fl_store_bookmark b, int want)
{
    int rc = t->sut->bm->is_discarded(t->bm, sub, &b);
    if (rc != want)
        fail_msg("line %d: is_discarded(%s, %" PRIu64 "|%" PRIu64 ") = %d, want %d", line, sub,
                 b.publisher, b.sequence, rc, want);
}

#define BM_RECENT(t, sub, want) bm_recent_line((t), __LINE__, (sub), (want))
static void bm_recent_line(fl_sc *t, int line, const char *sub, const char *want)
{
    char buf[1024];
    memset(buf, 'Z', sizeof buf);
    int rc = t->sut->bm->most_recent(t->bm, sub, buf, sizeof buf);
    if (rc < 0)
        fail_msg("line %d: most_recent(%s) = %s, want \"%s\"", line, sub, fl_err_name(rc), want);
    if (strcmp(buf, want) != 0)
        fail_msg("line %d: most_recent(%s) = \"%s\", want \"%s\"", line, sub, buf, want);
    if ((size_t)rc != strlen(want))
        fail_msg("line %d: most_recent(%s) returned %d, want the length %zu", line, sub, rc,
                 strlen(want));
}

/* Log and discard pub|from..to on sub. */
static void bm_log_discard(fl_sc *t, const char *sub, uint64_t pub, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++) {
        BM_LOG(t, sub, bk(pub, s), 0);
        BM_DISCARD(t, sub, bk(pub, s));
    }
}

/* ===================================================================== */
/* bookmark cases                                                         */
/* ===================================================================== */

static void bm_unknown_sub_is_epoch(fl_sc *t)
{
    bm_open(t);
    BM_RECENT(t, "never-seen", "0");
    BM_IS_DISCARDED(t, "never-seen", bk(7, 1), 0);
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_RECENT(t, "other", "0");
}

static void bm_log_new_and_duplicate(fl_sc *t)
{
    bm_open(t);
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_LOG(t, "s", bk(7, 2), 0);
    BM_DISCARD(t, "s", bk(7, 1));
    BM_LOG(t, "s", bk(7, 1), 1); /* discarded: duplicate */
    BM_LOG(t, "s", bk(7, 3), 0); /* above the highest seen: new */
    BM_LOG(t, "s", bk(8, 1), 0); /* another publisher has its own sequence space */
}

/* Logged but not discarded, delivered again (replay after reconnect): the
 * application has not processed it, so it is new again. */
static void bm_redelivery_of_unprocessed_is_new(fl_sc *t)
{
    bm_open(t);
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_LOG(t, "s", bk(7, 2), 0);
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_LOG(t, "s", bk(7, 2), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 1), 0);
    BM_DISCARD(t, "s", bk(7, 2));
    BM_LOG(t, "s", bk(7, 2), 1);
    BM_LOG(t, "s", bk(7, 1), 0);
}

/* At or below the highest sequence seen and unknown to the store: a
 * duplicate (anchors.md). */
static void bm_unknown_below_highest_is_duplicate(fl_sc *t)
{
    bm_open(t);
    BM_LOG(t, "s", bk(7, 5), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 3), 1);
    BM_LOG(t, "s", bk(7, 3), 1);
    BM_LOG(t, "s", bk(7, 9), 0);
    BM_LOG(t, "s", bk(7, 7), 1);
    BM_IS_DISCARDED(t, "s", bk(7, 5), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 10), 0); /* above the highest: new */
}

static void bm_discard_then_is_discarded(fl_sc *t)
{
    bm_open(t);
    for (uint64_t s = 1; s <= 3; s++)
        BM_LOG(t, "s", bk(7, s), 0);
    for (uint64_t s = 1; s <= 3; s++)
        BM_IS_DISCARDED(t, "s", bk(7, s), 0);
    BM_DISCARD(t, "s", bk(7, 2));
    BM_IS_DISCARDED(t, "s", bk(7, 1), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 2), 1);
    BM_IS_DISCARDED(t, "s", bk(7, 3), 0);
    BM_DISCARD(t, "s", bk(7, 2)); /* twice is fine */
    BM_IS_DISCARDED(t, "s", bk(7, 2), 1);
    BM_DISCARD(t, "s", bk(7, 1));
    BM_DISCARD(t, "s", bk(7, 3));
    for (uint64_t s = 1; s <= 3; s++)
        BM_IS_DISCARDED(t, "s", bk(7, s), 1);
}

static void bm_discard_unknown_is_noop(fl_sc *t)
{
    bm_open(t);
    BM_DISCARD(t, "nobody", bk(7, 1)); /* unknown sub */
    BM_RECENT(t, "nobody", "0");
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_DISCARD(t, "s", bk(7, 9)); /* never logged, above highest seen */
    BM_IS_DISCARDED(t, "s", bk(7, 9), 0);
    BM_LOG(t, "s", bk(7, 9), 0);
    BM_DISCARD(t, "s", bk(8, 1)); /* unknown publisher */
    BM_LOG(t, "s", bk(8, 1), 0);
    BM_RECENT(t, "s", "0"); /* nothing on s was discarded */
}

static void bm_resume_point_gap(fl_sc *t)
{
    bm_open(t);
    for (uint64_t s = 1; s <= 3; s++)
        BM_LOG(t, "s", bk(7, s), 0);
    BM_DISCARD(t, "s", bk(7, 1));
    BM_DISCARD(t, "s", bk(7, 3));
    BM_RECENT(t, "s", "7|1|");
    BM_DISCARD(t, "s", bk(7, 2));
    BM_RECENT(t, "s", "7|3|");
    BM_LOG(t, "s", bk(7, 4), 0); /* logged, not processed: the point stays */
    BM_RECENT(t, "s", "7|3|");
    BM_LOG(t, "s", bk(7, 6), 0);
    BM_DISCARD(t, "s", bk(7, 6));
    BM_RECENT(t, "s", "7|3|");
    BM_DISCARD(t, "s", bk(7, 4));
    BM_RECENT(t, "s", "7|6|");
}

/* A publisher whose first logged message is still unprocessed has no exact
 * bookmark before it: the resume point is EPOCH, not a list without it. */
static void bm_resume_point_unprocessed_first_is_epoch(fl_sc *t)
{
    bm_open(t);
    BM_LOG(t, "s", bk(7, 1), 0);
    BM_LOG(t, "s", bk(7, 2), 0);
    BM_DISCARD(t, "s", bk(7, 2));
    BM_RECENT(t, "s", "0");
    BM_DISCARD(t, "s", bk(7, 1));
    BM_RECENT(t, "s", "7|2|");
    BM_LOG(t, "s", bk(9, 40), 0); /* a new publisher, unprocessed */
    BM_RECENT(t, "s", "0");
    BM_DISCARD(t, "s", bk(9, 40));
    BM_RECENT(t, "s", "7|2|,9|40|");
}

static void bm_resume_point_timestamps(fl_sc *t)
{
    static const struct {
        int64_t ts;
        uint64_t pub;
    } cases[] = {
        {1577836800000000LL, 11}, /* 2020-01-01T00:00:00Z */
        {1577836800500000LL, 12}, /* half a second */
        {1577836800000001LL, 13}, /* one microsecond */
        {1591272000123456LL, 14}, /* 2020-06-04T12:00:00.123456Z */
        {-1, 15},                 /* unknown */
    };
    bm_open(t);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_store_bookmark b = {.publisher = cases[i].pub, .sequence = 1, .ts_us = cases[i].ts};
        BM_LOG(t, "s", b, 0);
        BM_DISCARD(t, "s", b);
    }
    BM_RECENT(t, "s",
              "11|1|20200101T000000Z,12|1|20200101T000000.500000Z,13|1|20200101T000000.000001Z,"
              "14|1|20200604T120000.123456Z,15|1|");
}

static void bm_publishers_sorted(fl_sc *t)
{
    bm_open(t);
    /* ascending unsigned order: ids above INT64_MAX sort last */
    bm_log_discard(t, "s", 12345678901234567890ULL, 1, 2);
    bm_log_discard(t, "s", 900, 5, 5);
    bm_log_discard(t, "s", 7, 3, 4);
    bm_log_discard(t, "s", 0x7fffffffffffffffULL, 1, 1);
    BM_RECENT(t, "s", "7|4|,900|5|,9223372036854775807|1|,12345678901234567890|2|");
}

static void bm_sub_isolation(fl_sc *t)
{
    bm_open(t);
    bm_log_discard(t, "a", 7, 1, 3);
    BM_RECENT(t, "a", "7|3|");
    BM_RECENT(t, "b", "0");
    BM_IS_DISCARDED(t, "b", bk(7, 2), 0);
    BM_LOG(t, "b", bk(7, 2), 0); /* new on b */
    BM_RECENT(t, "b", "0");
    BM_DISCARD(t, "b", bk(7, 2));
    BM_RECENT(t, "b", "7|2|");
    BM_RECENT(t, "a", "7|3|");
    BM_LOG(t, "a", bk(7, 2), 1);
    BM_LOG(t, "ab", bk(7, 1), 0); /* prefixes are different sub ids */
    BM_RECENT(t, "ab", "0");
}

static void bm_purge_one(fl_sc *t)
{
    bm_open(t);
    bm_log_discard(t, "a", 7, 1, 3);
    bm_log_discard(t, "b", 7, 1, 2);
    assert_int_equal(t->sut->bm->purge(t->bm, "a"), 0);
    BM_RECENT(t, "a", "0");
    BM_IS_DISCARDED(t, "a", bk(7, 2), 0);
    BM_LOG(t, "a", bk(7, 2), 0); /* forgotten: new again */
    BM_RECENT(t, "b", "7|2|");
    BM_LOG(t, "b", bk(7, 2), 1);
    assert_int_equal(t->sut->bm->purge(t->bm, "never-seen"), 0);
    BM_RECENT(t, "b", "7|2|");
}

static void bm_purge_all(fl_sc *t)
{
    bm_open(t);
    bm_log_discard(t, "a", 7, 1, 3);
    bm_log_discard(t, "b", 8, 1, 2);
    assert_int_equal(t->sut->bm->purge(t->bm, NULL), 0);
    BM_RECENT(t, "a", "0");
    BM_RECENT(t, "b", "0");
    BM_LOG(t, "a", bk(7, 1), 0);
    BM_LOG(t, "b", bk(8, 1), 0);
    assert_int_equal(t->sut->bm->purge(t->bm, NULL), 0); /* twice is fine */
    BM_RECENT(t, "a", "0");
}

/* Every answer the store gives for a fixed set of questions, as text. */
static void bm_answers(fl_sc *t, char *out, size_t cap)
{
    static const char *const subs[] = {"a", "b", "c"};
    static const uint64_t pubs[] = {7, 8};
    size_t len = 0;
    for (size_t i = 0; i < 3; i++) {
        char recent[512];
        int rc = t->sut->bm->most_recent(t->bm, subs[i], recent, sizeof recent);
        assert_true(rc > 0);
        len += (size_t)snprintf(out + len, cap - len, "%s=%s;", subs[i], recent);
        for (size_t p = 0; p < 2; p++) {
            for (uint64_t s = 0; s <= 12; s++) {
                fl_store_bookmark b = bk(pubs[p], s);
                int d = t->sut->bm->is_discarded(t->bm, subs[i], &b);
                assert_true(d == 0 || d == 1);
                out[len++] = (char)('0' + d);
            }
        }
        assert_true(len + 1 < cap);
        out[len] = '\0';
    }
}

/* A mix with gaps, two publishers, two subs and a purged one. */
static void bm_prepare_mix(fl_sc *t)
{
    for (uint64_t s = 1; s <= 10; s++)
        BM_LOG(t, "a", bk(7, s), 0);
    for (uint64_t s = 1; s <= 10; s += 2)
        BM_DISCARD(t, "a", bk(7, s));
    BM_DISCARD(t, "a", bk(7, 2));
    bm_log_discard(t, "a", 8, 1, 6);
    bm_log_discard(t, "b", 7, 1, 9);
    bm_log_discard(t, "c", 8, 1, 4);
    assert_int_equal(t->sut->bm->purge(t->bm, "c"), 0);
}

static void bm_prune_keeps_answers(fl_sc *t)
{
    char before[2048], after[2048];
    bm_open(t);
    bm_prepare_mix(t);
    BM_RECENT(t, "a", "7|3|,8|6|");
    bm_answers(t, before, sizeof before);
    assert_int_equal(t->sut->bm->prune(t->bm), 0);
    bm_answers(t, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(t->sut->bm->prune(t->bm), 0);
    bm_answers(t, after, sizeof after);
    assert_string_equal(before, after);
    /* the store still works after a prune */
    BM_DISCARD(t, "a", bk(7, 4));
    BM_RECENT(t, "a", "7|5|,8|6|");
}

/* After a reconnect the broker replays from the resume point: everything
 * already discarded is filtered. */
static void bm_duplicate_after_replay(fl_sc *t)
{
    bm_open(t);
    bm_log_discard(t, "s", 7, 1, 5);
    for (uint64_t s = 1; s <= 5; s++)
        BM_LOG(t, "s", bk(7, s), 1);
    BM_LOG(t, "s", bk(7, 6), 0);
    BM_RECENT(t, "s", "7|5|");
}

static void bm_most_recent_overflow(fl_sc *t)
{
    bm_open(t);
    bm_log_discard(t, "s", 7, 1, 12);
    bm_log_discard(t, "s", 900, 1, 3);
    const char *want = "7|12|,900|3|"; /* 12 characters */
    size_t n = strlen(want);
    char buf[64];
    static const size_t small[] = {0, 1, 2, 5, 11, 12};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        int rc = t->sut->bm->most_recent(t->bm, "s", buf, small[i]);
        if (rc != FL_E_OVERFLOW)
            fail_msg("most_recent with cap %zu = %d, want OVERFLOW", small[i], rc);
    }
    memset(buf, 'Z', sizeof buf);
    assert_int_equal(t->sut->bm->most_recent(t->bm, "s", buf, n + 1), (int)n);
    assert_string_equal(buf, want);
    /* "0" needs two bytes */
    assert_int_equal(t->sut->bm->most_recent(t->bm, "nobody", buf, 1), FL_E_OVERFLOW);
    assert_int_equal(t->sut->bm->most_recent(t->bm, "nobody", buf, 2), 1);
    assert_string_equal(buf, "0");
}

/* A persisted ack is about the broker's side: it never makes an unprocessed
 * message look discarded nor moves the resume point past it. */
static void bm_persisted_never_skips_unprocessed(fl_sc *t)
{
    bm_open(t);
    for (uint64_t s = 1; s <= 4; s++)
        BM_LOG(t, "s", bk(7, s), 0);
    BM_DISCARD(t, "s", bk(7, 1));
    fl_store_bookmark p = bk(7, 4);
    assert_int_equal(t->sut->bm->persisted(t->bm, "s", &p), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 2), 0);
    BM_IS_DISCARDED(t, "s", bk(7, 4), 0);
    char buf[256];
    int rc = t->sut->bm->most_recent(t->bm, "s", buf, sizeof buf);
    assert_true(rc > 0);
    if (strcmp(buf, "7|1|") != 0 && strcmp(buf, "0") != 0)
        fail_msg("most_recent after persisted(7|4|) = \"%s\", want \"7|1|\" (or \"0\")", buf);
    BM_LOG(t, "s", bk(7, 2), 0);
    fl_store_bookmark q = bk(9, 1); /* persisted for a sub/publisher never logged */
    assert_int_equal(t->sut->bm->persisted(t->bm, "other", &q), 0);
    BM_RECENT(t, "other", "0");
}

static void bm_flush_and_list_files(fl_sc *t)
{
    bm_open(t);
    assert_int_equal(t->sut->bm->flush(t->bm), 0);
    bm_log_discard(t, "s", 7, 1, 3);
    assert_int_equal(t->sut->bm->flush(t->bm), 0);
    BM_RECENT(t, "s", "7|3|");
    file_list a = {0}, b = {0};
    int rc1 = t->sut->bm->list_files(t->bm, list_fn, &a);
    int rc2 = t->sut->bm->list_files(t->bm, list_fn, &b);
    check_list_stable(rc1, &a, rc2, &b);
    assert_non_null(t->sut->bm->last_error(t->bm));
}

static void bm_many_in_order(fl_sc *t)
{
    bm_open(t);
    for (uint64_t s = 1; s <= 5000; s++) {
        BM_LOG(t, "s", bk(7, s), 0);
        if (s > 1)
            BM_DISCARD(t, "s", bk(7, s - 1)); /* one outstanding at a time */
    }
    BM_RECENT(t, "s", "7|4999|");
    BM_DISCARD(t, "s", bk(7, 5000));
    BM_RECENT(t, "s", "7|5000|");
    BM_LOG(t, "s", bk(7, 2500), 1);
}

/* Discards survive; logged-but-undiscarded messages are new again. */
static void bm_reopen_common(fl_sc *t, bool crash)
{
    bm_open(t);
    for (uint64_t s = 1; s <= 5; s++)
        BM_LOG(t, "s", bkt(7, s), 0);
    BM_DISCARD(t, "s", bkt(7, 1));
    BM_DISCARD(t, "s", bkt(7, 2));
    BM_DISCARD(t, "s", bkt(7, 4));
    BM_LOG(t, "s", bkt(9, 1), 0);
    BM_LOG(t, "s", bkt(9, 2), 0);
    BM_DISCARD(t, "s", bkt(9, 1));
    BM_DISCARD(t, "s", bkt(9, 2));
    bm_log_discard(t, "other", 7, 1, 3);
    const char *recent = "7|2|20200101T000002Z,9|2|20200101T000002Z";
    BM_RECENT(t, "s", recent);
    bm_reopen(t, crash);
    BM_RECENT(t, "s", recent);
    BM_RECENT(t, "other", "7|3|");
    BM_IS_DISCARDED(t, "s", bkt(7, 4), 1);
    BM_LOG(t, "s", bkt(7, 1), 1);
    BM_LOG(t, "s", bkt(7, 2), 1);
    BM_LOG(t, "s", bkt(7, 4), 1);
    BM_LOG(t, "s", bkt(9, 2), 1);
    BM_LOG(t, "s", bkt(7, 3), 0); /* logged, never discarded: new again */
    BM_LOG(t, "s", bkt(7, 5), 0);
    BM_LOG(t, "s", bkt(7, 6), 0);
    BM_DISCARD(t, "s", bkt(7, 3));
    BM_RECENT(t, "s", "7|4|20200101T000004Z,9|2|20200101T000002Z");
    BM_DISCARD(t, "s", bkt(7, 5));
    BM_DISCARD(t, "s", bkt(7, 6));
    BM_RECENT(t, "s", "7|6|20200101T000006Z,9|2|20200101T000002Z");
    bm_reopen(t, crash);
    BM_RECENT(t, "s", "7|6|20200101T000006Z,9|2|20200101T000002Z");
    BM_LOG(t, "s", bkt(7, 6), 1);
}

static void bm_reopen_keeps_discards(fl_sc *t)
{
    bm_reopen_common(t, false);
}

static void bm_crash_keeps_discards(fl_sc *t)
{
    bm_reopen_common(t, true);
}

static void bm_prune_then_reopen(fl_sc *t)
{
    char before[2048], after[2048];
    bm_open(t);
    bm_prepare_mix(t);
    bm_answers(t, before, sizeof before);
    assert_int_equal(t->sut->bm->prune(t->bm), 0);
    bm_reopen(t, false);
    bm_answers(t, after, sizeof after);
    /* unprocessed entries (a: 7|4, 7|6, 7|8, 7|10) are new again after a
     * reopen, so compare only the resume points and the discarded ones */
    for (size_t i = 0; before[i]; i++) {
        if (before[i] == '1' && after[i] != '1')
            fail_msg("after prune + reopen an answer changed at %zu:\n  %s\n  %s", i, before,
                     after);
    }
    BM_RECENT(t, "a", "7|3|,8|6|");
    BM_RECENT(t, "b", "7|9|");
    BM_RECENT(t, "c", "0");
}

/* ===================================================================== */
/* the table and the runner                                               */
/* ===================================================================== */

#define PUB FL_SC_PUB
#define BM  FL_SC_BM

static const fl_store_contract_case cases[] = {
    {"pub_empty", PUB, pub_empty},
    {"pub_store_replay_order", PUB | FL_SC_RETAIN, pub_store_replay_order},
    {"pub_sequence_must_increase", PUB, pub_sequence_must_increase},
    {"pub_counts_each_step", PUB | FL_SC_RETAIN, pub_counts_each_step},
    {"pub_discard_up_to", PUB | FL_SC_RETAIN, pub_discard_up_to},
    {"pub_last_sequence_survives_discard_all", PUB, pub_last_sequence_survives_discard_all},
    {"pub_replay_one", PUB | FL_SC_RETAIN, pub_replay_one},
    {"pub_replay_stop_early", PUB | FL_SC_RETAIN, pub_replay_stop_early},
    {"pub_copies_caller_memory", PUB | FL_SC_RETAIN, pub_copies_caller_memory},
    {"pub_large_message", PUB | FL_SC_RETAIN, pub_large_message},
    {"pub_flush", PUB, pub_flush},
    {"pub_list_files", PUB, pub_list_files},
    {"pub_nonretaining_keeps_nothing", PUB | FL_SC_NONRETAIN, pub_nonretaining_keeps_nothing},
    {"pub_capacity_full", PUB | FL_SC_RETAIN | FL_SC_CAPACITY, pub_capacity_full},
    {"pub_reopen_keeps_unpersisted", PUB | FL_SC_RETAIN | FL_SC_DURABLE,
     pub_reopen_keeps_unpersisted},
    {"pub_reopen_keeps_last_sequence", PUB | FL_SC_DURABLE, pub_reopen_keeps_last_sequence},
    {"pub_crash_keeps_unpersisted", PUB | FL_SC_RETAIN | FL_SC_CRASH, pub_crash_keeps_unpersisted},
    {"pub_crash_keeps_last_sequence", PUB | FL_SC_CRASH, pub_crash_keeps_last_sequence},
    {"pub_power_loss_never_reuses_sequence", PUB | FL_SC_RETAIN | FL_SC_POWER_LOSS,
     pub_power_loss_never_reuses_sequence},
    {"pub_sync_failure_then_reopen", PUB | FL_SC_RETAIN | FL_SC_DURABLE | FL_SC_SYNC_FAIL,
     pub_sync_failure_then_reopen},
    {"pub_sync_failure_then_power_loss",
     PUB | FL_SC_RETAIN | FL_SC_DURABLE | FL_SC_SYNC_FAIL | FL_SC_POWER_LOSS,
     pub_sync_failure_then_power_loss},

    {"bm_unknown_sub_is_epoch", BM, bm_unknown_sub_is_epoch},
    {"bm_log_new_and_duplicate", BM, bm_log_new_and_duplicate},
    {"bm_redelivery_of_unprocessed_is_new", BM, bm_redelivery_of_unprocessed_is_new},
    {"bm_unknown_below_highest_is_duplicate", BM, bm_unknown_below_highest_is_duplicate},
    {"bm_discard_then_is_discarded", BM, bm_discard_then_is_discarded},
    {"bm_discard_unknown_is_noop", BM, bm_discard_unknown_is_noop},
    {"bm_resume_point_gap", BM, bm_resume_point_gap},
    {"bm_resume_point_unprocessed_first_is_epoch", BM, bm_resume_point_unprocessed_first_is_epoch},
    {"bm_resume_point_timestamps", BM, bm_resume_point_timestamps},
    {"bm_publishers_sorted", BM, bm_publishers_sorted},
    {"bm_sub_isolation", BM, bm_sub_isolation},
    {"bm_purge_one", BM, bm_purge_one},
    {"bm_purge_all", BM, bm_purge_all},
    {"bm_prune_keeps_answers", BM, bm_prune_keeps_answers},
    {"bm_duplicate_after_replay", BM, bm_duplicate_after_replay},
    {"bm_most_recent_overflow", BM, bm_most_recent_overflow},
    {"bm_persisted_never_skips_unprocessed", BM, bm_persisted_never_skips_unprocessed},
    {"bm_flush_and_list_files", BM, bm_flush_and_list_files},
    {"bm_many_in_order", BM, bm_many_in_order},
    {"bm_reopen_keeps_discards", BM | FL_SC_DURABLE, bm_reopen_keeps_discards},
    {"bm_prune_then_reopen", BM | FL_SC_DURABLE, bm_prune_then_reopen},
    {"bm_crash_keeps_discards", BM | FL_SC_CRASH, bm_crash_keeps_discards},
};

const fl_store_contract_case *fl__store_contract_cases(size_t *count)
{
    *count = sizeof cases / sizeof cases[0];
    return cases;
}

bool fl__store_contract_applies(const fl_store_under_test *sut, const fl_store_contract_case *c)
{
    unsigned n = c->needs;
    if ((n & FL_SC_PUB) && !sut->pub)
        return false;
    if ((n & FL_SC_BM) && !sut->bm)
        return false;
    if ((n & FL_SC_RETAIN) && !(sut->flags & FL_SUT_RETAINS))
        return false;
    if ((n & FL_SC_NONRETAIN) && (sut->flags & FL_SUT_RETAINS))
        return false;
    if ((n & FL_SC_DURABLE) && !(sut->flags & FL_SUT_DURABLE))
        return false;
    if ((n & FL_SC_CRASH) && !sut->crash)
        return false;
    if ((n & FL_SC_CAPACITY) && !sut->capacity_options)
        return false;
    if ((n & FL_SC_POWER_LOSS) && !sut->power_loss)
        return false;
    if ((n & FL_SC_SYNC_FAIL) && !sut->fail_next_sync)
        return false;
    return true;
}

static int case_setup(void **state)
{
    fl_sc *t = *state;
    t->rt = t->sut->setup(t->sut->ctx);
    assert_non_null(t->rt);
    t->pub = t->bm = NULL;
    make_dir(t, (t->c->needs & FL_SC_PUB) ? PUB_DIR : BM_DIR);
    return 0;
}

static int case_teardown(void **state)
{
    fl_sc *t = *state;
    pub_close(t);
    bm_close(t);
    if (t->sut->teardown)
        t->sut->teardown(t->sut->ctx);
    return 0;
}

static void case_run(void **state)
{
    fl_sc *t = *state;
    t->c->run(t);
}

static int run_selected(const fl_store_under_test *sut, const char *only)
{
    if (!sut || !sut->setup || (!sut->pub && !sut->bm))
        return -1;
    size_t total = sizeof cases / sizeof cases[0], n = 0;
    struct CMUnitTest *tests = calloc(total, sizeof *tests);
    fl_sc *states = calloc(total, sizeof *states);
    char *names = calloc(total, 96);
    int failed = -1;
    if (!tests || !states || !names)
        goto out;
    for (size_t i = 0; i < total; i++) {
        if (!fl__store_contract_applies(sut, &cases[i]))
            continue;
        if (only && strcmp(only, cases[i].name) != 0)
            continue;
        states[n] = (fl_sc){.sut = sut, .c = &cases[i]};
        snprintf(names + n * 96, 96, "%s", cases[i].name);
        tests[n] = (struct CMUnitTest){
            .name = names + n * 96,
            .test_func = case_run,
            .setup_func = case_setup,
            .teardown_func = case_teardown,
            .initial_state = &states[n],
        };
        n++;
    }
    if (n == 0)
        goto out;
    char group[128];
    snprintf(group, sizeof group, "store_contract_%s", sut->name ? sut->name : "unnamed");
    failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
out:
    free(tests);
    free(states);
    free(names);
    return failed;
}

int fl__run_store_contract(const fl_store_under_test *sut)
{
    return run_selected(sut, NULL);
}

int fl__run_store_contract_case(const fl_store_under_test *sut, const char *case_name)
{
    return run_selected(sut, case_name);
}
