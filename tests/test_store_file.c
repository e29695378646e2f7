/* Unit tests for the file publish store (client/pubstore_file.c) and the file
 * bookmark store (client/bmstore_file.c), run on the simulation runtime with
 * the simulated disk: basic contracts, pruning and compaction, sequences
 * never reused, crash at every disk operation of a prune, and recovery under
 * every simulated file fault in every recovery mode and sync policy. */
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
#include "sim.h"
#include "sim_disk.h"

#define DIR       "store"
#define PAYLOAD   100
#define MAX_SEQ   4096
#define WINDOW_US 1000
/* pubstore_file.c's reservation block, and its reservation file */
#define RESERVE_BLOCK 65536u
#define RESERVE_PATH  DIR "/reserve"

static const char *const k_modes[] = {"strict", "tolerate_torn_tail", "point_in_time", "salvage"};
static const char *const k_syncs[] = {"always", "batch", "none"};

/* ------------------------------------------------------------------ */
/* fixture: one simulated node with a disk */

typedef struct fx {
    sim_ctx *ctx;
    sim_node *node;
    void *ps;          /* open publish store or NULL */
    void *bs;          /* open bookmark store or NULL */
    char options[160]; /* options of the next open */
    fl_store_recovery rec;
    char err[256];
    unsigned drop_traces; /* "recovery_drop" events seen in the history */
} fx;

static void on_history(void *arg, const sim_history_event *ev)
{
    fx *f = arg;
    if (strcmp(ev->event, "recovery_drop") == 0 &&
        (strcmp(ev->source, "pubstore") == 0 || strcmp(ev->source, "bmstore") == 0))
        f->drop_traces++;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    sim_ctx_options o = SIM_CTX_OPTIONS_INIT;
    o.seed = 7;
    f->ctx = sim_ctx_new(&o);
    if (f->ctx == NULL || sim_node_new(f->ctx, "c", &f->node) != 0)
        return -1;
    if (sim_history_observe(sim_ctx_history(f->ctx), on_history, f) != 0)
        return -1;
    const fl_runtime *rt = sim_node_runtime(f->node);
    if (rt->ops->dir_create(rt->self, DIR) != 0)
        return -1;
    snprintf(f->options, sizeof f->options, "sync=always;segment_size=4096");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->ps)
        fl_pubstore_file.close(f->ps);
    if (f->bs)
        fl_bmstore_file.close(f->bs);
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

static const fl_runtime *rt_of(fx *f)
{
    return sim_node_runtime(f->node);
}

static sim_disk *disk_of(fx *f)
{
    return sim_node_disk(f->node);
}

static fl_store_env env_of(fx *f)
{
    fl_store_env env = {FL_STORE_ABI_VERSION, rt_of(f), DIR, "c", f->options};
    return env;
}

/* Run the simulation past any batch window. */
static void run_timers(fx *f)
{
    sim_run_until(f->ctx, sim_now(f->ctx) + 10 * WINDOW_US);
}

/* Kill the process (`power` 0), or cut the power (1: random tear with the
 * ctx PRNG, 2: drop every unsynced byte), and bring it back. The store
 * handles of the dead incarnation are closed (their calls are no-ops). */
static void crash(fx *f, int power)
{
    if (power == 1)
        sim_node_power_loss(f->node);
    else if (power == 2) {
        sim_disk_power_loss_exact(disk_of(f));
        sim_node_crash(f->node);
    } else
        sim_node_crash(f->node);
    if (f->ps)
        fl_pubstore_file.close(f->ps);
    if (f->bs)
        fl_bmstore_file.close(f->bs);
    f->ps = f->bs = NULL;
    assert_int_equal(sim_node_restart(f->node), 0);
}

/* ------------------------------------------------------------------ */
/* publish store helpers */

static void payload_of(uint64_t seq, uint8_t *out)
{
    for (size_t i = 0; i < PAYLOAD; i++)
        out[i] = (uint8_t)(seq * 31 + i * 7);
}

static int ps_open(fx *f)
{
    fl_store_env env = env_of(f);
    memset(&f->rec, 0, sizeof f->rec);
    f->err[0] = '\0';
    return fl_pubstore_file.open(&env, &f->ps, &f->rec, f->err, sizeof f->err);
}

static void ps_open_ok(fx *f)
{
    int rc = ps_open(f);
    if (rc != 0)
        fail_msg("open: %s: %s", fl_err_name(rc), f->err);
}

static void ps_close(fx *f)
{
    fl_pubstore_file.close(f->ps);
    f->ps = NULL;
}

static int ps_store(fx *f, uint64_t seq)
{
    uint8_t p[PAYLOAD];
    payload_of(seq, p);
    char topic[32];
    int tl = snprintf(topic, sizeof topic, "topic-%" PRIu64, seq % 3);
    fl_pub_msg m = {seq, topic, (size_t)tl, p, sizeof p};
    return fl_pubstore_file.store(f->ps, &m);
}

static void ps_store_range(fx *f, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++)
        assert_int_equal(ps_store(f, s), 0);
}

typedef struct seen {
    uint64_t seqs[MAX_SEQ];
    size_t n;
    int bad; /* a message whose topic or payload did not match */
    size_t stop_after;
} seen;

static int collect(void *arg, const fl_pub_msg *m)
{
    seen *s = arg;
    uint8_t p[PAYLOAD];
    payload_of(m->sequence, p);
    char topic[32];
    int tl = snprintf(topic, sizeof topic, "topic-%" PRIu64, m->sequence % 3);
    if (m->payload_len != PAYLOAD || memcmp(m->payload, p, PAYLOAD) != 0 ||
        m->topic_len != (size_t)tl || memcmp(m->topic, topic, m->topic_len) != 0)
        s->bad++;
    if (s->n < MAX_SEQ)
        s->seqs[s->n++] = m->sequence;
    return s->stop_after && s->n >= s->stop_after;
}

/* Replay everything and check it is exactly from..to, ascending, intact. */
static void expect_replay(fx *f, uint64_t from, uint64_t to)
{
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(fl_pubstore_file.replay(f->ps, collect, s), 0);
    assert_int_equal(s->bad, 0);
    uint64_t want = to >= from ? to - from + 1 : 0;
    assert_int_equal(s->n, want);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(s->seqs[i], from + i);
    assert_int_equal(fl_pubstore_file.unpersisted_count(f->ps), want);
    assert_int_equal(fl_pubstore_file.lowest_unpersisted(f->ps), want ? from : 0);
    free(s);
}

/* Replay and return the recovered contiguous run [*from, *to] (fails the
 * test if the messages are not one intact ascending run). */
static void replay_run(fx *f, uint64_t *from, uint64_t *to)
{
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(fl_pubstore_file.replay(f->ps, collect, s), 0);
    assert_int_equal(s->bad, 0);
    *from = s->n ? s->seqs[0] : 0;
    *to = s->n ? s->seqs[s->n - 1] : 0;
    for (size_t i = 1; i < s->n; i++)
        assert_int_equal(s->seqs[i], s->seqs[i - 1] + 1);
    free(s);
}

static int count_file(void *arg, const char *path)
{
    (void)path;
    (*(unsigned *)arg)++;
    return 0;
}

static unsigned ps_file_count(fx *f)
{
    unsigned n = 0;
    assert_int_equal(fl_pubstore_file.list_files(f->ps, count_file, &n), 0);
    return n;
}

/* ------------------------------------------------------------------ */
/* publish store: contracts */

static void test_ps_basic(void **state)
{
    fx *f = *state;
    ps_open_ok(f);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 0);
    assert_int_equal(fl_pubstore_file.lowest_unpersisted(f->ps), 0);
    ps_store_range(f, 1, 10);
    assert_int_equal(ps_store(f, 10), FL_E_INVAL); /* not above last */
    assert_int_equal(ps_store(f, 3), FL_E_INVAL);
    assert_true(fl_pubstore_file.last_error(f->ps)[0] != '\0');
    expect_replay(f, 1, 10);
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 4), 0);
    expect_replay(f, 5, 10);
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 2), 0); /* nothing */
    expect_replay(f, 5, 10);

    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(fl_pubstore_file.replay_one(f->ps, 7, collect, s), 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->seqs[0], 7);
    assert_int_equal(s->bad, 0);
    assert_int_equal(fl_pubstore_file.replay_one(f->ps, 4, collect, s), FL_E_NOT_FOUND);
    assert_int_equal(fl_pubstore_file.replay_one(f->ps, 11, collect, s), FL_E_NOT_FOUND);
    /* a replay stopped early returns 0 */
    memset(s, 0, sizeof *s);
    s->stop_after = 2;
    assert_int_equal(fl_pubstore_file.replay(f->ps, collect, s), 0);
    assert_int_equal(s->n, 2);
    free(s);

    /* reopen: the same contents */
    ps_close(f);
    ps_open_ok(f);
    assert_int_equal(f->rec.records_dropped, 0);
    assert_string_equal(f->rec.text, "");
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 10);
    expect_replay(f, 5, 10);
    assert_int_equal(fl_pubstore_file.flush(f->ps), 0);
    assert_true(ps_file_count(f) >= 1);
}

/* A discard past last_sequence does not raise it (store.h: "highest ever
 * stored"); a message stored after such a discard is not hidden by it after
 * a reopen. */
static void test_ps_discard_past_last(void **state)
{
    fx *f = *state;
    ps_open_ok(f);
    ps_store_range(f, 1, 3);
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 50), 0);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 3);
    expect_replay(f, 1, 0);
    ps_store_range(f, 4, 6);
    ps_close(f);
    ps_open_ok(f);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 6);
    expect_replay(f, 4, 6);
}

static void test_ps_bad_options(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {
        "sync=sometimes", "recovery=maybe", "capacity=-1",     "capacity=",
        "bogus=1",        "sync",           "batch_window=1x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(f->options, sizeof f->options, "%s", bad[i]);
        assert_int_equal(ps_open(f), FL_E_INVAL);
        assert_null(f->ps);
        assert_true(f->err[0] != '\0');
    }
    fl_store_env env = env_of(f);
    env.options = NULL;
    assert_int_equal(fl_pubstore_file.open(&env, &f->ps, NULL, NULL, 0), 0);
}

static void test_ps_capacity(void **state)
{
    fx *f = *state;
    snprintf(f->options, sizeof f->options, "sync=none;capacity=%d", 3 * (PAYLOAD + 7));
    ps_open_ok(f);
    ps_store_range(f, 1, 3);
    assert_int_equal(ps_store(f, 4), FL_E_FULL);
    expect_replay(f, 1, 3);
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 1), 0);
    assert_int_equal(ps_store(f, 4), 0);
    assert_int_equal(ps_store(f, 5), FL_E_FULL);
    expect_replay(f, 2, 4);
}

/* A full prune deletes every old segment; sequences continue after reopen. */
static void test_ps_full_prune_never_reuses(void **state)
{
    fx *f = *state;
    for (size_t si = 0; si < 3; si++) {
        snprintf(f->options, sizeof f->options, "sync=%s;segment_size=4096", k_syncs[si]);
        ps_open_ok(f);
        uint64_t base = fl_pubstore_file.last_sequence(f->ps);
        ps_store_range(f, base + 1, base + 300); /* ~10 segments */
        assert_true(ps_file_count(f) > 5);
        assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, base + 300), 0);
        /* one segment, and from the first batch/none session on the
         * reservation file */
        assert_int_equal(ps_file_count(f), si == 0 ? 1 : 2);
        expect_replay(f, 1, 0);
        ps_close(f);
        ps_open_ok(f);
        /* batch/none: the reservation block (store.h) comes back whole */
        uint64_t last = fl_pubstore_file.last_sequence(f->ps);
        if (strcmp(k_syncs[si], "always") == 0)
            assert_int_equal(last, base + 300);
        else
            assert_int_equal(last, base + RESERVE_BLOCK);
        assert_int_equal(ps_store(f, base + 300), FL_E_INVAL);
        expect_replay(f, 1, 0);
        /* even after a power loss (the prune synced) */
        crash(f, 2);
        ps_open_ok(f);
        assert_int_equal(fl_pubstore_file.last_sequence(f->ps), last);
        ps_close(f);
    }
}

/* Stragglers are compacted forward; replay stays in sequence order across
 * reopen and power loss. */
static void test_ps_compaction_order(void **state)
{
    fx *f = *state;
    ps_open_ok(f);
    ps_store_range(f, 1, 200);
    unsigned before = ps_file_count(f);
    assert_true(before >= 5);
    /* leave a few messages at the end of the oldest segment */
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 25), 0);
    assert_true(ps_file_count(f) < before);
    expect_replay(f, 26, 200);
    ps_store_range(f, 201, 220);
    expect_replay(f, 26, 220);
    for (uint64_t d = 30; d <= 180; d += 15) {
        assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, d), 0);
        expect_replay(f, d + 1, 220);
    }
    ps_close(f);
    ps_open_ok(f);
    expect_replay(f, 181, 220);
    crash(f, 2);
    ps_open_ok(f);
    expect_replay(f, 181, 220);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 220);
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(fl_pubstore_file.replay_one(f->ps, 200, collect, s), 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->bad, 0);
    free(s);
}

/* Disk operations of a prune, counted by an observer. */
typedef struct op_count {
    unsigned by_kind[16];
    unsigned total;
    int kinds[512];
} op_count;

static void count_op(void *arg, int op, const char *path, uint64_t bytes)
{
    (void)path;
    (void)bytes;
    op_count *c = arg;
    if (op > 0 && op < 16)
        c->by_kind[op]++;
    if (c->total < 512)
        c->kinds[c->total] = op;
    c->total++;
}

/* Syncs seen by an observer: of the reservation file (and its .tmp), of
 * anything else, of directories; and writes to the reservation file. */
typedef struct sync_count {
    unsigned reserve_syncs, other_syncs, dir_syncs, reserve_writes;
} sync_count;

static void count_sync(void *arg, int op, const char *path, uint64_t bytes)
{
    (void)bytes;
    sync_count *c = arg;
    bool reserve = path && strncmp(path, RESERVE_PATH, strlen(RESERVE_PATH)) == 0;
    if (op == SIM_DISK_OP_SYNC)
        (*(reserve ? &c->reserve_syncs : &c->other_syncs))++;
    else if (op == SIM_DISK_OP_DIR_SYNC)
        c->dir_syncs++;
    else if (op == SIM_DISK_OP_WRITE && reserve)
        c->reserve_writes++;
}

/* The sequence reservation (store.h, F2) lives in its own small file. Under
 * none, 100,000 stores make three syncs in all: two of that file (its
 * creation, then the block at 65537) and one of the directory (the
 * creation), never one of the log. Under batch (a window longer than the
 * test, one segment) the reservation costs the same two file syncs; a
 * later session finds the file and its first store costs one 20-byte write
 * and one sync. A power loss right after leaves last_sequence at the end
 * of the second block, above every sequence handed out. */
static void test_ps_reservation_costs_few_syncs(void **state)
{
    fx *f = *state;
    /* one segment for both sessions: no rotation */
    static const char *const options[] = {
        "sync=none;segment_size=1073741824",
        "sync=batch;batch_window=1000000000;segment_size=1073741824"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        snprintf(f->options, sizeof f->options, "%s", options[i]);
        ps_open_ok(f);
        uint64_t base = fl_pubstore_file.last_sequence(f->ps);
        sync_count c = {0};
        sim_disk_set_observer(disk_of(f), count_sync, &c);
        ps_store_range(f, base + 1, base + 100000);
        sim_disk_set_observer(disk_of(f), NULL, NULL);
        if (c.reserve_syncs != 2)
            fail_msg("%s: %u syncs of the reservation file for 100000 stores, want 2", options[i],
                     c.reserve_syncs);
        if (i == 0 && (c.other_syncs != 0 || c.dir_syncs != 1))
            fail_msg("sync=none: %u other file syncs and %u directory syncs for 100000 stores, "
                     "want 0 and 1",
                     c.other_syncs, c.dir_syncs);
        /* the creation or a raise: one write each */
        assert_int_equal(c.reserve_writes, 2);
        /* power loss with everything after the last reservation unsynced */
        crash(f, 2);
        ps_open_ok(f);
        uint64_t last = fl_pubstore_file.last_sequence(f->ps);
        assert_true(last >= base + 100000);
        assert_int_equal(last, base + 2 * RESERVE_BLOCK); /* the second block, whole */
        assert_int_equal(f->rec.records_dropped, 0);
        ps_close(f);
    }
}

/* One session under f->options: open, store last_sequence + 1 (which raises
 * the reservation), close. Returns the reservation that store made. */
static uint64_t reopen_and_store_one(fx *f)
{
    ps_open_ok(f);
    uint64_t last = fl_pubstore_file.last_sequence(f->ps);
    assert_int_equal(ps_store(f, last + 1), 0);
    ps_close(f);
    return last + RESERVE_BLOCK; /* the reservation that store made */
}

/* A power loss tears the write of a reservation (its sync failed, so the
 * store() failed and nothing above the old reservation was handed out):
 * whichever prefix of the 20-byte slot survives, the other slot keeps the
 * last durable reservation; the store opens in every recovery mode, strict
 * included, reports nothing, and never goes below what was handed out.
 * Both slots take a turn at being torn. */
static void test_ps_reserve_torn_write(void **state)
{
    (void)state;
    static const uint64_t keep[] = {0, 1, 8, 12, 16, 19, 20};
    for (int raises = 1; raises <= 2; raises++) {
        for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
            for (int mode = 0; mode < 4; mode++) {
                fx *f = NULL;
                assert_int_equal(setup((void **)&f), 0);
                snprintf(f->options, sizeof f->options, "sync=none;recovery=%s", k_modes[mode]);
                uint64_t durable = 0;
                for (int r = 0; r < raises; r++)
                    durable = reopen_and_store_one(f);
                ps_open_ok(f);
                uint64_t handed = fl_pubstore_file.last_sequence(f->ps);
                assert_int_equal(handed, durable);
                /* the raise's write lands in the cache, its sync fails */
                sim_disk *d = disk_of(f);
                assert_int_equal(
                    sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, false, RESERVE_PATH), 0);
                assert_int_equal(ps_store(f, handed + 1), FL_E_SYNC_FAILED);
                assert_int_equal(ps_store(f, handed + 2), FL_E_SYNC_FAILED); /* poisoned */
                /* the power goes with `keep` bytes of that write on disk */
                assert_int_equal(sim_disk_power_loss_at(d, RESERVE_PATH, 1, keep[k]), 0);
                crash(f, 0);
                sim_disk_clear_faults(d);
                int rc = ps_open(f);
                if (rc != 0)
                    fail_msg("raises %d keep %" PRIu64 " mode %s: open %s: %s", raises, keep[k],
                             k_modes[mode], fl_err_name(rc), f->err);
                uint64_t last = fl_pubstore_file.last_sequence(f->ps);
                /* the whole slot survived: the new reservation, else the old */
                assert_int_equal(last, keep[k] == 20 ? durable + RESERVE_BLOCK : durable);
                assert_int_equal(f->rec.records_dropped, 0);
                assert_string_equal(f->rec.text, "");
                /* and raising works again (the torn slot is written again) */
                assert_int_equal(ps_store(f, last + 1), 0);
                crash(f, 2);
                ps_open_ok(f);
                assert_int_equal(fl_pubstore_file.last_sequence(f->ps), last + RESERVE_BLOCK);
                void *st = f;
                teardown(&st);
            }
        }
    }
}

typedef struct names {
    char v[8][64];
    unsigned n;
} names;

static int collect_name(void *arg, const char *path)
{
    names *l = arg;
    if (l->n < 8)
        snprintf(l->v[l->n], sizeof l->v[0], "%s", path);
    l->n++;
    return 0;
}

static bool has_name(const names *l, const char *path)
{
    for (unsigned i = 0; i < l->n && i < 8; i++)
        if (strcmp(l->v[i], path) == 0)
            return true;
    return false;
}

/* A reservation file with no valid slot (media damage: both slots' bits
 * flipped, or the file cut to nothing). strict and tolerate_torn_tail
 * refuse to open and change nothing; point_in_time and salvage quarantine
 * the file, take the log's last sequence + one block, write that at once,
 * and say so in the recovery report and the history; a second open finds
 * no damage and the same last_sequence. */
static void test_ps_reserve_damaged(void **state)
{
    (void)state;
    for (int damage = 0; damage < 2; damage++) {
        for (int mode = 0; mode < 4; mode++) {
            fx *f = NULL;
            assert_int_equal(setup((void **)&f), 0);
            snprintf(f->options, sizeof f->options, "sync=none;recovery=%s", k_modes[mode]);
            ps_open_ok(f);
            ps_store_range(f, 1, 200);
            crash(f, 0); /* the process dies: the log keeps 1..200 */
            sim_disk *d = disk_of(f);
            if (damage == 0) {
                assert_int_equal(sim_disk_flip_bit(d, RESERVE_PATH, 9, 2), 0);
                assert_int_equal(sim_disk_flip_bit(d, RESERVE_PATH, 512 + 9, 2), 0);
            } else {
                assert_int_equal(sim_disk_truncate_file(d, RESERVE_PATH, 0), 0);
            }
            uint64_t bytes_before = sim_disk_total_bytes(d);
            f->drop_traces = 0;
            int rc = ps_open(f);
            if (mode <= 1) {
                if (rc != FL_E_DAMAGED)
                    fail_msg("mode %s: open %s, want DAMAGED", k_modes[mode], fl_err_name(rc));
                assert_non_null(strstr(f->err, "reserve"));
                assert_null(f->ps);
                assert_int_equal(sim_disk_total_bytes(d), bytes_before);
                assert_int_equal(ps_open(f), FL_E_DAMAGED); /* still there */
                void *st = f;
                teardown(&st);
                continue;
            }
            if (rc != 0)
                fail_msg("mode %s: open %s: %s", k_modes[mode], fl_err_name(rc), f->err);
            uint64_t last = fl_pubstore_file.last_sequence(f->ps);
            assert_int_equal(last, 200 + RESERVE_BLOCK);
            expect_replay(f, 1, 200);
            assert_int_equal(f->rec.records_dropped, 1);
            assert_int_equal(f->rec.bytes_quarantined, damage == 0 ? 1024 : 0);
            assert_non_null(strstr(f->rec.text, "reservation file damaged"));
            assert_true(f->drop_traces > 0);
            names l = {0};
            assert_int_equal(fl_pubstore_file.list_files(f->ps, collect_name, &l), 0);
            assert_true(has_name(&l, RESERVE_PATH));
            assert_true(has_name(&l, RESERVE_PATH ".quarantine"));
            /* the repair is durable at once: a power loss keeps it */
            crash(f, 2);
            ps_open_ok(f);
            assert_int_equal(f->rec.records_dropped, 0);
            assert_int_equal(fl_pubstore_file.last_sequence(f->ps), last);
            assert_int_equal(ps_store(f, last + 1), 0);
            void *st = f;
            teardown(&st);
        }
    }
}

/* A store written without a reservation file (sync=always, or before the
 * file existed) opens under none as it is, and the first store creates the
 * file; list_files names it, after the segments. */
static void test_ps_reserve_file_absent(void **state)
{
    fx *f = *state;
    snprintf(f->options, sizeof f->options, "sync=always");
    ps_open_ok(f);
    ps_store_range(f, 1, 50);
    names l = {0};
    assert_int_equal(fl_pubstore_file.list_files(f->ps, collect_name, &l), 0);
    assert_false(has_name(&l, RESERVE_PATH));
    ps_close(f);
    assert_false(sim_disk_exists(disk_of(f), RESERVE_PATH, 0));
    snprintf(f->options, sizeof f->options, "sync=none;recovery=strict");
    ps_open_ok(f);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 50);
    expect_replay(f, 1, 50);
    assert_int_equal(ps_store(f, 51), 0);
    assert_true(sim_disk_exists(disk_of(f), RESERVE_PATH, 1)); /* durable */
    memset(&l, 0, sizeof l);
    assert_int_equal(fl_pubstore_file.list_files(f->ps, collect_name, &l), 0);
    assert_true(l.n >= 2);
    assert_string_equal(l.v[l.n - 1], RESERVE_PATH);
    crash(f, 2);
    ps_open_ok(f);
    assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 50 + RESERVE_BLOCK);
}

static void prune_scene(fx *f)
{
    ps_open_ok(f);
    ps_store_range(f, 1, 200);
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 20), 0);
}

/* sync=none: storing, discarding, rotation, pruning and compaction never
 * sync (every file and directory sync would fail), and a process crash
 * keeps everything. */
static void test_ps_none_prunes_without_sync(void **state)
{
    fx *f = *state;
    /* recycle=0: the reopen below is strict, which refuses a recycled
     * segment's stale bytes after a crash (test_ps_recycle_strict_after_crash) */
    snprintf(f->options, sizeof f->options, "sync=none;segment_size=4096;recycle=0");
    ps_open_ok(f);
    /* the first store may sync a sequence reservation (store.h,
     * last_sequence): from then on nothing syncs */
    assert_int_equal(ps_store(f, 1), 0);
    sim_disk *d = disk_of(f);
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, true, DIR), 0);
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_DIR_SYNC, 1, true, DIR), 0);
    for (uint64_t seq = 2; seq <= 600; seq++) {
        assert_int_equal(ps_store(f, seq), 0);
        /* acks lag by 30: the oldest segment often keeps a few stragglers */
        if (seq % 20 == 0)
            assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, seq - 30), 0);
    }
    assert_true(ps_file_count(f) <= 4);                                /* pruned as it went */
    assert_int_equal(fl_pubstore_file.flush(f->ps), FL_E_SYNC_FAILED); /* only flush syncs */
    sim_disk_clear_faults(d);
    crash(f, 0);
    snprintf(f->options, sizeof f->options, "sync=none;segment_size=4096;recovery=strict");
    ps_open_ok(f);
    assert_int_equal(f->rec.records_dropped, 0);
    expect_replay(f, 571, 600);
    assert_true(fl_pubstore_file.last_sequence(f->ps) >= 600);
}

/* sync=none: what flush() made durable stays durable through a later prune
 * that compacts flushed stragglers and deletes their segment, even when the
 * file system makes the deletion durable before anything else. */
static void test_ps_none_flush_survives_compaction(void **state)
{
    fx *f = *state;
    snprintf(f->options, sizeof f->options, "sync=none;segment_size=4096");
    ps_open_ok(f);
    ps_store_range(f, 1, 80); /* segments of about 26 messages */
    assert_int_equal(fl_pubstore_file.flush(f->ps), 0);
    unsigned before = ps_file_count(f);
    /* 22..26 are left in the first segment: stragglers, copied forward */
    assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 21), 0);
    assert_true(ps_file_count(f) < before);
    /* a file system that commits the directory on its own, then the power
     * goes */
    assert_int_equal(sim_disk_dir_sync(disk_of(f), DIR), 0);
    crash(f, 2);
    ps_open_ok(f);
    expect_replay(f, 22, 80);
    assert_true(fl_pubstore_file.last_sequence(f->ps) >= 80);
}

/* Crash (power loss) at every disk operation of a discard that compacts
 * stragglers and deletes segments: after recovery the store holds every
 * message not discarded, in order, each once, and never reuses a sequence. */
static void test_ps_crash_during_prune(void **state)
{
    fx *f0 = *state;
    (void)f0;
    op_count dry;
    memset(&dry, 0, sizeof dry);
    {
        fx *f = NULL;
        assert_int_equal(setup((void **)&f), 0);
        prune_scene(f);
        sim_disk_set_observer(disk_of(f), count_op, &dry);
        assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, 48), 0);
        sim_disk_set_observer(disk_of(f), NULL, NULL);
        void *st = f;
        teardown(&st);
    }
    assert_true(dry.total > 10);
    for (unsigned k = 0; k <= dry.total && k < 512; k++) {
        fx *f = NULL;
        assert_int_equal(setup((void **)&f), 0);
        prune_scene(f);
        /* fail every operation from the (k+1)-th on, then cut the power */
        unsigned seen_kind[16] = {0};
        for (unsigned i = 0; i < k; i++)
            seen_kind[dry.kinds[i]]++;
        for (int op = SIM_DISK_OP_READ; op <= SIM_DISK_OP_DIR_LIST; op++)
            assert_int_equal(sim_disk_inject_io_error(disk_of(f), (sim_disk_op)op,
                                                      seen_kind[op] + 1, true, NULL),
                             0);
        int rc = fl_pubstore_file.discard_up_to(f->ps, 48);
        if (k == dry.total)
            assert_int_equal(rc, 0);
        crash(f, 1);
        sim_disk_clear_faults(disk_of(f));
        ps_open_ok(f);
        uint64_t from, to;
        replay_run(f, &from, &to);
        assert_int_equal(to, 200);
        assert_true(from == 21 || from == 49);
        assert_int_equal(fl_pubstore_file.last_sequence(f->ps), 200);
        assert_int_equal(ps_store(f, 201), 0);
        void *st = f;
        teardown(&st);
    }
}

/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* bookmark store helpers and tests */

#define BM_PUB 7
#define BM_TS0 1591228800000000LL /* 2020-06-04T00:00:00Z */

static int bs_open(fx *f)
{
    fl_store_env env = env_of(f);
    memset(&f->rec, 0, sizeof f->rec);
    f->err[0] = '\0';
    return fl_bmstore_file.open(&env, &f->bs, &f->rec, f->err, sizeof f->err);
}

static void bs_open_ok(fx *f)
{
    int rc = bs_open(f);
    if (rc != 0)
        fail_msg("open: %s: %s", fl_err_name(rc), f->err);
}

static void bs_close(fx *f)
{
    fl_bmstore_file.close(f->bs);
    f->bs = NULL;
}

static fl_store_bookmark bmk(uint64_t pub, uint64_t seq)
{
    fl_store_bookmark b = {pub, seq, BM_TS0 + (int64_t)seq * 1000000};
    return b;
}

static int bs_log(fx *f, const char *sub, uint64_t pub, uint64_t seq)
{
    fl_store_bookmark b = bmk(pub, seq);
    return fl_bmstore_file.log(f->bs, sub, &b);
}

static int bs_discard(fx *f, const char *sub, uint64_t pub, uint64_t seq)
{
    fl_store_bookmark b = bmk(pub, seq);
    return fl_bmstore_file.discard(f->bs, sub, &b);
}

/* One processed message: logged and discarded. */
static int bs_put(fx *f, uint64_t seq)
{
    int rc = bs_log(f, "s", BM_PUB, seq);
    return rc != 0 ? (rc < 0 ? rc : FL_E_STATE) : bs_discard(f, "s", BM_PUB, seq);
}

static void bs_recent(fx *f, const char *sub, char *buf, size_t cap)
{
    int rc = fl_bmstore_file.most_recent(f->bs, sub, buf, cap);
    assert_true(rc > 0);
    assert_int_equal((size_t)rc, strlen(buf));
}

/* The sequence of BM_PUB in sub "s"'s resume point; 0 for EPOCH. */
static uint64_t bs_resume_seq(fx *f)
{
    char buf[256];
    bs_recent(f, "s", buf, sizeof buf);
    if (strcmp(buf, "0") == 0)
        return 0;
    unsigned long long pub = 0, seq = 0;
    assert_int_equal(sscanf(buf, "%llu|%llu|", &pub, &seq), 2);
    assert_int_equal(pub, BM_PUB);
    return seq;
}

/* Both stores parse options with one parser (store_file_util.c): the same
 * string gives the same answer and the same detail text from either. */
static void test_file_options_both_stores(void **state)
{
    fx *f = *state;
    static const struct {
        const char *options;
        int rc;
        const char *detail; /* expected in the error text, NULL when rc is 0 */
    } cases[] = {
        {"segment_size=4096", 0, NULL},
        {"sync=none;segment_size=1048576;capacity=100", 0, NULL},
        {"segment_size=4095", FL_E_INVAL, "must be >= 4096"},
        {"segment_size=", FL_E_INVAL, "segment_size"},
        {"segment_size=4k", FL_E_INVAL, "bad segment_size '4k'"},
        {"segment_size=99999999999999999999999", FL_E_INVAL, "bad segment_size"},
        {"segment_size=4096;segment_size=8192", FL_E_INVAL, "'segment_size' given twice"},
        {"segments=4096", FL_E_INVAL, "unknown key 'segments'"},
        {"recycle=0", 0, NULL},
        {"recycle=64;segment_size=4096", 0, NULL},
        {"recycle=65", FL_E_INVAL, "recycle '65' must be 0..64"},
        {"recycle=", FL_E_INVAL, "empty value for recycle"},
        {"recycle=-1", FL_E_INVAL, "recycle '-1'"},
        {"recycle=99999999999999999999999", FL_E_INVAL, "recycle '9"},
        {"recycle=1;recycle=2", FL_E_INVAL, "'recycle' given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(f->options, sizeof f->options, "%s", cases[i].options);
        int prc = ps_open(f);
        char perr[sizeof f->err];
        snprintf(perr, sizeof perr, "%s", f->err);
        int brc = bs_open(f);
        if (prc != cases[i].rc || brc != cases[i].rc)
            fail_msg("'%s': pubstore %s, bmstore %s, want %s", cases[i].options, fl_err_name(prc),
                     fl_err_name(brc), fl_err_name(cases[i].rc));
        if (cases[i].rc == 0) {
            ps_close(f);
            bs_close(f);
            continue;
        }
        assert_null(f->ps);
        assert_null(f->bs);
        assert_string_equal(perr, f->err);
        if (strstr(f->err, cases[i].detail) == NULL)
            fail_msg("'%s': error '%s' lacks '%s'", cases[i].options, f->err, cases[i].detail);
    }
}

typedef struct spare_count {
    unsigned segs, spares;
} spare_count;

static int spare_cb(void *arg, const char *name)
{
    spare_count *c = arg;
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".seg") == 0)
        c->segs++;
    if (n > 6 && strcmp(name + n - 6, ".spare") == 0)
        c->spares++;
    return 0;
}

static spare_count dir_spares(fx *f)
{
    spare_count c = {0, 0};
    assert_int_equal(sim_disk_dir_list(disk_of(f), DIR, spare_cb, &c), 0);
    return c;
}

typedef struct name_list {
    char names[64][64];
    size_t n;
} name_list;

static int name_cb(void *arg, const char *name)
{
    name_list *l = arg;
    assert_true(l->n < 64 && strlen(name) < 64);
    snprintf(l->names[l->n++], 64, "%s", name);
    return 0;
}

/* Remove every file of the store's directory. */
static void clear_dir(fx *f)
{
    name_list l = {.n = 0};
    assert_int_equal(sim_disk_dir_list(disk_of(f), DIR, name_cb, &l), 0);
    for (size_t i = 0; i < l.n; i++) {
        char path[96];
        snprintf(path, sizeof path, DIR "/%s", l.names[i]);
        assert_int_equal(sim_disk_file_unlink(disk_of(f), path), 0);
    }
}

/* The publish store recycles dead segments by default (two spares at most,
 * never under strict, recycle=0 turns it off); what it holds survives a
 * crash and a clean reopen either way, and a crash leaves a log that a
 * non-strict open takes whole. */
static void test_ps_recycles(void **state)
{
    fx *f = *state;
    static const struct {
        const char *options;
        unsigned max_spares, min_spares;
    } cases[] = {
        {"sync=none;segment_size=4096", 2, 1},
        {"sync=always;segment_size=4096", 2, 1},
        {"sync=none;segment_size=4096;recycle=0", 0, 0},
        {"sync=none;segment_size=4096;recovery=strict", 0, 0},
        {"sync=batch;segment_size=4096;recycle=5;recovery=salvage", 5, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(f->options, sizeof f->options, "%s", cases[i].options);
        ps_open_ok(f);
        unsigned most = 0;
        uint64_t seq = 1;
        for (; seq <= 400; seq++) {
            assert_int_equal(ps_store(f, seq), 0);
            if (seq % 20 == 0) {
                assert_int_equal(fl_pubstore_file.discard_up_to(f->ps, seq - 10), 0);
                spare_count c = dir_spares(f);
                if (c.spares > most)
                    most = c.spares;
                assert_true(c.spares <= cases[i].max_spares);
            }
        }
        if (most < cases[i].min_spares)
            fail_msg("'%s': %u spares at most", cases[i].options, most);
        crash(f, 0);
        ps_open_ok(f);
        assert_int_equal(f->rec.records_dropped, 0);
        expect_replay(f, 391, 400);
        ps_close(f);
        ps_open_ok(f);
        expect_replay(f, 391, 400);
        ps_close(f);
        /* a cleanly closed store opens in strict whatever it did */
        snprintf(f->options, sizeof f->options, "%s;recovery=strict", "segment_size=4096");
        ps_open_ok(f);
        expect_replay(f, 391, 400);
        assert_int_equal(dir_spares(f).spares, 0); /* strict removes them */
        ps_close(f);
        crash(f, 0);
        clear_dir(f);
    }
}

static void test_bs_basic(void **state)
{
    fx *f = *state;
    bs_open_ok(f);
    char buf[256];
    bs_recent(f, "s", buf, sizeof buf);
    assert_string_equal(buf, "0");
    assert_int_equal(bs_log(f, "s", 5, 1), 0);
    assert_int_equal(bs_log(f, "s", 5, 2), 0);
    assert_int_equal(bs_log(f, "s", 5, 3), 0);
    assert_int_equal(bs_log(f, "s", 9, 1), 0);
    assert_int_equal(bs_discard(f, "s", 5, 1), 0);
    assert_int_equal(bs_discard(f, "s", 5, 3), 0);
    assert_int_equal(bs_discard(f, "s", 9, 1), 0);
    bs_recent(f, "s", buf, sizeof buf);
    assert_string_equal(buf, "5|1|20200604T000001Z,9|1|20200604T000001Z");
    /* survives reopen: undiscarded 5|2 is logged but not discarded, so its
     * redelivery is new (0) and 5|3 is a duplicate */
    bs_close(f);
    bs_open_ok(f);
    assert_int_equal(f->rec.records_dropped, 0);
    bs_recent(f, "s", buf, sizeof buf);
    assert_string_equal(buf, "5|1|20200604T000001Z,9|1|20200604T000001Z");
    assert_int_equal(bs_log(f, "s", 5, 2), 0);
    assert_int_equal(bs_log(f, "s", 5, 3), 1);
    assert_int_equal(bs_log(f, "s", 5, 1), 1);
    fl_store_bookmark b = bmk(5, 3);
    assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 1);
    b = bmk(5, 2);
    assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 0);
    assert_int_equal(bs_discard(f, "s", 5, 2), 0);
    bs_recent(f, "s", buf, sizeof buf);
    assert_string_equal(buf, "5|3|20200604T000003Z,9|1|20200604T000001Z");
    /* purge one sub survives reopen */
    assert_int_equal(bs_put(f, 1), 0);
    assert_int_equal(fl_bmstore_file.purge(f->bs, "s"), 0);
    bs_close(f);
    bs_open_ok(f);
    bs_recent(f, "s", buf, sizeof buf);
    assert_string_equal(buf, "0");
    assert_int_equal(bs_log(f, "s", 5, 1), 0); /* new again after purge */
}

/* Random operations against the memory store and the file store side by
 * side, with reopens of the file store (and prunes) in between: every
 * answer and every resume point is identical. */
static void test_bs_matches_memory(void **state)
{
    fx *f = *state;
    snprintf(f->options, sizeof f->options, "sync=none;segment_size=4096");
    bs_open_ok(f);
    fl_store_env env = env_of(f);
    env.options = NULL;
    void *mem = NULL;
    assert_int_equal(fl_bmstore_memory.open(&env, &mem, NULL, NULL, 0), 0);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    static const char *const subs[] = {"a", "b", "c"};
    for (int step = 0; step < 6000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const char *sub = subs[x % 3];
        fl_store_bookmark b = {2 + (x >> 8) % 3, 1 + (x >> 16) % 60, (int64_t)(x >> 24) % 1000};
        if (b.ts_us % 7 == 0)
            b.ts_us = -1;
        unsigned op = (unsigned)(x >> 40) % 100;
        if (op < 45) {
            assert_int_equal(fl_bmstore_file.log(f->bs, sub, &b),
                             fl_bmstore_memory.log(mem, sub, &b));
        } else if (op < 85) {
            assert_int_equal(fl_bmstore_file.discard(f->bs, sub, &b),
                             fl_bmstore_memory.discard(mem, sub, &b));
        } else if (op < 90) {
            assert_int_equal(fl_bmstore_file.is_discarded(f->bs, sub, &b),
                             fl_bmstore_memory.is_discarded(mem, sub, &b));
        } else if (op < 92) {
            assert_int_equal(fl_bmstore_file.purge(f->bs, op == 90 ? sub : NULL),
                             fl_bmstore_memory.purge(mem, op == 90 ? sub : NULL));
        } else if (op < 95) {
            assert_int_equal(fl_bmstore_file.prune(f->bs), 0);
        } else if (op < 97) {
            bs_close(f);
            bs_open_ok(f);
            if (f->rec.records_dropped)
                fail_msg("step %d: %s", step, f->rec.text);
        } else {
            crash(f, 0);
            bs_open_ok(f);
        }
        for (size_t k = 0; k < 3; k++) {
            char a[512], m[512];
            int ra = fl_bmstore_file.most_recent(f->bs, subs[k], a, sizeof a);
            int rm = fl_bmstore_memory.most_recent(mem, subs[k], m, sizeof m);
            assert_int_equal(ra, rm);
            assert_string_equal(a, m);
        }
    }
    fl_bmstore_memory.close(mem);
}

/* Prune writes a checkpoint and deletes the old segments; answers are
 * unchanged before and after reopen, also after a power loss. */
static void test_bs_prune(void **state)
{
    fx *f = *state;
    bs_open_ok(f);
    for (uint64_t i = 1; i <= 120; i++) /* below the automatic prune's threshold */
        assert_int_equal(bs_put(f, i), 0);
    assert_int_equal(bs_log(f, "s", BM_PUB, 121), 0); /* logged, not discarded */
    assert_int_equal(bs_log(f, "s", BM_PUB, 122), 0);
    assert_int_equal(bs_discard(f, "s", BM_PUB, 122), 0);
    unsigned before = 0;
    assert_int_equal(fl_bmstore_file.list_files(f->bs, count_file, &before), 0);
    assert_int_equal(fl_bmstore_file.prune(f->bs), 0);
    unsigned after = 0;
    assert_int_equal(fl_bmstore_file.list_files(f->bs, count_file, &after), 0);
    assert_true(before > 3);
    assert_true(after <= 2);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(bs_resume_seq(f), 120);
        fl_store_bookmark b = bmk(BM_PUB, 122);
        assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 1);
        b = bmk(BM_PUB, 121);
        assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 0);
        b = bmk(BM_PUB, 60);
        assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 1);
        if (round == 0) {
            bs_close(f);
        } else {
            crash(f, 2);
        }
        bs_open_ok(f);
    }
    assert_int_equal(bs_discard(f, "s", BM_PUB, 121), 0);
    assert_int_equal(bs_resume_seq(f), 122);
}

/* Power loss at every disk operation of a prune: the answers after
 * recovery are those from before the prune. */
static void bs_prune_scene(fx *f)
{
    snprintf(f->options, sizeof f->options, "sync=none;segment_size=4096");
    bs_open_ok(f);
    for (uint64_t i = 1; i <= 120; i++)
        assert_int_equal(bs_put(f, i), 0);
    assert_int_equal(bs_log(f, "s", BM_PUB, 121), 0);
    assert_int_equal(bs_log(f, "s", BM_PUB, 122), 0);
    assert_int_equal(bs_discard(f, "s", BM_PUB, 122), 0);
    assert_int_equal(fl_bmstore_file.flush(f->bs), 0);
}

static void test_bs_crash_during_prune(void **state)
{
    (void)state;
    op_count dry;
    memset(&dry, 0, sizeof dry);
    {
        fx *f = NULL;
        assert_int_equal(setup((void **)&f), 0);
        bs_prune_scene(f);
        sim_disk_set_observer(disk_of(f), count_op, &dry);
        assert_int_equal(fl_bmstore_file.prune(f->bs), 0);
        sim_disk_set_observer(disk_of(f), NULL, NULL);
        void *st = f;
        teardown(&st);
    }
    assert_true(dry.total > 5);
    for (unsigned k = 0; k <= dry.total && k < 512; k++) {
        fx *f = NULL;
        assert_int_equal(setup((void **)&f), 0);
        bs_prune_scene(f);
        unsigned seen_kind[16] = {0};
        for (unsigned i = 0; i < k; i++)
            seen_kind[dry.kinds[i]]++;
        for (int op = SIM_DISK_OP_READ; op <= SIM_DISK_OP_DIR_LIST; op++)
            assert_int_equal(sim_disk_inject_io_error(disk_of(f), (sim_disk_op)op,
                                                      seen_kind[op] + 1, true, NULL),
                             0);
        int rc = fl_bmstore_file.prune(f->bs);
        if (k == dry.total)
            assert_int_equal(rc, 0);
        crash(f, 1);
        sim_disk_clear_faults(disk_of(f));
        bs_open_ok(f);
        assert_int_equal(bs_resume_seq(f), 120);
        fl_store_bookmark b = bmk(BM_PUB, 121);
        assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 0);
        b = bmk(BM_PUB, 122);
        assert_int_equal(fl_bmstore_file.is_discarded(f->bs, "s", &b), 1);
        assert_int_equal(bs_log(f, "s", BM_PUB, 121), 0);
        assert_int_equal(bs_log(f, "s", BM_PUB, 123), 0);
        void *st = f;
        teardown(&st);
    }
}

/* ------------------------------------------------------------------ */
/* recovery under every simulated file fault, every mode, every policy */

typedef enum fault {
    F_CRASH,
    F_POWER,
    F_TORN,
    F_TRUNC,
    F_FLIP,
    F_ZERO,
    F_IO_READ,
    F_IO_WRITE,
    F_IO_SYNC,
    F_NOSPC,
    F_COUNT
} fault;

static const char *const k_faults[] = {"crash",    "power_loss",  "torn_tail", "truncate",
                                       "bit_flip", "zero_sector", "io_read",   "io_write",
                                       "io_sync",  "enospc"};

#define N_ITEMS  60
#define N_SYNCED 40
/* publish-store record layout: 64-byte header, then 32 + 12 + 7 + 100 */
#define PS_REC        151
#define PS_REC_OFF(i) (64u + ((i)-1u) * PS_REC)

typedef struct seg_names {
    char first[64], last[64];
    unsigned n;
} seg_names;

static int seg_name(void *arg, const char *name)
{
    seg_names *s = arg;
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 4, ".seg") != 0)
        return 0;
    if (s->n++ == 0)
        snprintf(s->first, sizeof s->first, "%s/%s", DIR, name);
    snprintf(s->last, sizeof s->last, "%s/%s", DIR, name);
    return 0;
}

typedef struct durable_seg {
    sim_disk *d;
    char path[64];
} durable_seg;

static int durable_seg_cb(void *arg, const char *name)
{
    durable_seg *s = arg;
    size_t len = strlen(name);
    char path[64];
    if (len < 4 || strcmp(name + len - 4, ".seg") != 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s", DIR, name);
    if (sim_disk_exists(s->d, path, 1))
        snprintf(s->path, sizeof s->path, "%s", path);
    return 0;
}

/* The newest segment a power loss would keep (under sync=none the segments
 * created since the last flush have no durable directory entry). */
static void newest_durable_segment(sim_disk *d, char *out, size_t cap)
{
    durable_seg s = {d, ""};
    assert_int_equal(sim_disk_dir_list(d, DIR, durable_seg_cb, &s), 0);
    assert_true(s.path[0] != '\0');
    snprintf(out, cap, "%s", s.path);
}

static seg_names segments(fx *f)
{
    seg_names s;
    memset(&s, 0, sizeof s);
    assert_int_equal(sim_disk_dir_list(disk_of(f), DIR, seg_name, &s), 0);
    assert_true(s.n >= 1);
    return s;
}

/* The store under test in the matrix. */
typedef struct kind {
    const char *name;
    int (*open)(fx *f);
    void (*close)(fx *f);
    int (*put)(fx *f, uint64_t i);
    int (*flush)(fx *f);
} kind;

static int ps_flush(fx *f)
{
    return fl_pubstore_file.flush(f->ps);
}

static int bs_flush(fx *f)
{
    return fl_bmstore_file.flush(f->bs);
}

static void bs_close_any(fx *f)
{
    bs_close(f);
}

static void ps_close_any(fx *f)
{
    ps_close(f);
}

static const kind k_ps = {"pubstore", ps_open, ps_close_any, ps_store, ps_flush};
static const kind k_bs = {"bmstore", bs_open, bs_close_any, bs_put, bs_flush};

/* Items 1..N_SYNCED made durable by the policy's own means, then up to
 * N_ITEMS written (durable only under always, or where a rotation synced). */
static void fill(fx *f, const kind *k, int sync)
{
    for (uint64_t i = 1; i <= N_SYNCED; i++)
        assert_int_equal(k->put(f, i), 0);
    if (sync == 1)
        run_timers(f);
    else if (sync == 2)
        assert_int_equal(k->flush(f), 0);
    for (uint64_t i = N_SYNCED + 1; i <= N_ITEMS; i++)
        assert_int_equal(k->put(f, i), 0);
}

/* What survived, as the highest contiguous item and a bitmap. */
typedef struct outcome {
    int open_rc;
    uint64_t top; /* highest item present with every earlier one */
    unsigned char has[N_ITEMS + 2];
} outcome;

static void observe(fx *f, const kind *k, outcome *o)
{
    memset(o->has, 0, sizeof o->has);
    o->top = 0;
    if (k == &k_ps) {
        seen *s = calloc(1, sizeof *s);
        assert_non_null(s);
        assert_int_equal(fl_pubstore_file.replay(f->ps, collect, s), 0);
        assert_int_equal(s->bad, 0); /* never a damaged message */
        for (size_t i = 0; i < s->n; i++) {
            assert_true(s->seqs[i] >= 1 && s->seqs[i] <= N_ITEMS + 1);
            if (i)
                assert_true(s->seqs[i] > s->seqs[i - 1]);
            o->has[s->seqs[i]] = 1;
        }
        free(s);
        while (o->top < N_ITEMS + 1 && o->has[o->top + 1])
            o->top++;
    } else {
        o->top = bs_resume_seq(f);
        for (uint64_t i = 1; i <= o->top; i++)
            o->has[i] = 1;
    }
}

static bool damage_fault(fault ft)
{
    return ft == F_TORN || ft == F_TRUNC || ft == F_FLIP || ft == F_ZERO;
}

/* Apply a fault that happens while the store is open (I/O errors, ENOSPC)
 * and check the calls' results; on return the process has crashed. */
static void live_fault(fx *f, const kind *k, fault ft, int sync)
{
    sim_disk *d = disk_of(f);
    if (ft == F_IO_WRITE) {
        assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 1, false, DIR), 0);
        assert_int_equal(k->put(f, N_ITEMS + 1), FL_E_IO);
        assert_int_equal(k->put(f, N_ITEMS + 1), 0); /* the log was cut back */
    } else if (ft == F_NOSPC) {
        sim_disk_set_space_budget(d, sim_disk_total_bytes(d) + 20);
        assert_int_equal(k->put(f, N_ITEMS + 1), FL_E_NOSPC);
        sim_disk_set_space_budget(d, UINT64_MAX);
        assert_int_equal(k->put(f, N_ITEMS + 1), 0);
    } else if (ft == F_IO_SYNC) {
        assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, false, DIR), 0);
        if (sync == 0) {
            assert_int_equal(k->put(f, N_ITEMS + 1), FL_E_SYNC_FAILED);
        } else if (sync == 1) {
            assert_int_equal(k->put(f, N_ITEMS + 1), 0);
            run_timers(f); /* the batch sync fails in the timer */
        } else {
            assert_int_equal(k->flush(f), FL_E_SYNC_FAILED);
        }
        /* poisoned: every later call fails the same way */
        assert_int_equal(k->put(f, N_ITEMS + 2), FL_E_SYNC_FAILED);
        assert_int_equal(k->flush(f), FL_E_SYNC_FAILED);
    }
    crash(f, 0);
}

/* Damage the files after the process is gone. */
static void disk_fault(fx *f, const kind *k, fault ft)
{
    sim_disk *d = disk_of(f);
    seg_names s = segments(f);
    sim_disk_file_info info;
    assert_int_equal(sim_disk_stat(d, s.last, &info), 0);
    char newest[64];
    newest_durable_segment(d, newest, sizeof newest);
    sim_disk_file_info ninfo;
    assert_int_equal(sim_disk_stat(d, newest, &ninfo), 0);
    switch (ft) {
    case F_TORN:
        if (ninfo.pending_ops > 0) {
            /* the first write after the last sync of that segment tears */
            assert_int_equal(sim_disk_power_loss_at(d, newest, 1, 20), 0);
            crash(f, 0);
        } else { /* sync=always: the last write tears as if the power went mid-write */
            crash(f, 0);
            assert_int_equal(sim_disk_truncate_file(d, s.last, info.current_size - 60), 0);
        }
        break;
    case F_TRUNC:
        crash(f, 0);
        assert_int_equal(sim_disk_truncate_file(d, s.last, info.current_size - 60), 0);
        break;
    case F_FLIP:
        crash(f, 0);
        assert_int_equal(sim_disk_flip_bit(d, s.first, k == &k_ps ? PS_REC_OFF(10) + 50 : 700, 3),
                         0);
        break;
    case F_ZERO:
        crash(f, 0);
        assert_int_equal(sim_disk_zero_sector(d, s.first, 2), 0);
        break;
    default:
        break;
    }
}

static void check_pub_outcome(const outcome *o, fault ft, int sync, int mode)
{
    uint64_t all = (ft == F_IO_WRITE || ft == F_NOSPC || (ft == F_IO_SYNC && sync != 2))
                       ? N_ITEMS + 1
                       : N_ITEMS;
    switch (ft) {
    case F_CRASH:
    case F_IO_READ:
    case F_IO_WRITE:
    case F_NOSPC:
    case F_IO_SYNC:
        assert_int_equal(o->top, all);
        break;
    case F_POWER:
        if (sync == 0)
            assert_int_equal(o->top, N_ITEMS);
        else
            assert_true(o->top >= N_SYNCED && o->top <= N_ITEMS);
        break;
    case F_TORN:
        if (sync == 0)
            assert_int_equal(o->top, N_ITEMS - 1);
        else
            assert_true(o->top >= N_SYNCED && o->top < N_ITEMS);
        break;
    case F_TRUNC:
        assert_int_equal(o->top, N_ITEMS - 1);
        break;
    case F_FLIP: /* record 10 of the first segment */
        assert_int_equal(o->top, 9);
        for (uint64_t i = 11; i <= N_ITEMS; i++)
            assert_int_equal(o->has[i], mode == 3);
        break;
    case F_ZERO: /* sector 2 = bytes 1024..1535: records 7..10 */
        assert_int_equal(o->top, 6);
        for (uint64_t i = 7; i <= 10; i++)
            assert_int_equal(o->has[i], 0);
        for (uint64_t i = 11; i <= N_ITEMS; i++)
            assert_int_equal(o->has[i], mode == 3);
        break;
    default:
        break;
    }
}

static void check_bm_outcome(const outcome *o, fault ft, int sync, int mode)
{
    uint64_t all = (ft == F_IO_WRITE || ft == F_NOSPC) ? N_ITEMS + 1 : N_ITEMS;
    switch (ft) {
    case F_CRASH:
    case F_IO_READ:
    case F_IO_WRITE:
    case F_NOSPC:
        assert_int_equal(o->top, all);
        break;
    case F_IO_SYNC: /* item 61 was logged, maybe discarded, before the failure */
        assert_true(o->top >= N_ITEMS && o->top <= N_ITEMS + 1);
        break;
    case F_POWER:
        if (sync == 0)
            assert_int_equal(o->top, N_ITEMS);
        else
            assert_true(o->top >= N_SYNCED && o->top <= N_ITEMS);
        break;
    case F_TORN:
    case F_TRUNC:
        assert_true(o->top >= (sync == 0 || ft == F_TRUNC ? N_ITEMS - 1 : N_SYNCED));
        assert_true(o->top < N_ITEMS);
        break;
    case F_FLIP:
    case F_ZERO: /* early in the first segment */
        if (mode == 2)
            assert_true(o->top < 20);
        else
            assert_true(o->top <= N_ITEMS);
        break;
    default:
        break;
    }
}

/* Whether a mode must refuse the damage a fault leaves. */
static bool refuses(fault ft, int mode)
{
    if (!damage_fault(ft))
        return false;
    if (mode == 0)
        return true;
    return mode == 1 && (ft == F_FLIP || ft == F_ZERO);
}

static void run_fault_case(const kind *k, fault ft, int sync, int mode)
{
    fx *f = NULL;
    assert_int_equal(setup((void **)&f), 0);
    snprintf(f->options, sizeof f->options, "sync=%s;recovery=%s;segment_size=4096", k_syncs[sync],
             k_modes[mode]);
    assert_int_equal(k->open(f), 0);
    fill(f, k, sync);

    if (ft == F_CRASH) {
        crash(f, 0);
    } else if (ft == F_POWER) {
        crash(f, sync == 0 ? 1 : 2); /* always: random tears find nothing unsynced */
    } else if (damage_fault(ft)) {
        disk_fault(f, k, ft);
    } else if (ft == F_IO_READ) {
        crash(f, 0);
        assert_int_equal(sim_disk_inject_io_error(disk_of(f), SIM_DISK_OP_READ, 1, false, DIR), 0);
        assert_int_equal(k->open(f), FL_E_IO);
        assert_null(k == &k_ps ? f->ps : f->bs);
        assert_true(f->err[0] != '\0');
    } else {
        live_fault(f, k, ft, sync);
    }

    f->drop_traces = 0;
    uint64_t bytes_before = sim_disk_total_bytes(disk_of(f));
    int rc = k->open(f);
    if (refuses(ft, mode)) {
        if (rc != FL_E_DAMAGED)
            fail_msg("%s %s sync=%s mode=%s: open gave %s, want DAMAGED", k->name, k_faults[ft],
                     k_syncs[sync], k_modes[mode], fl_err_name(rc));
        assert_true(f->err[0] != '\0');
        assert_int_equal(sim_disk_total_bytes(disk_of(f)), bytes_before); /* nothing changed */
        void *st = f;
        teardown(&st);
        return;
    }
    if (rc != 0)
        fail_msg("%s %s sync=%s mode=%s: open gave %s: %s", k->name, k_faults[ft], k_syncs[sync],
                 k_modes[mode], fl_err_name(rc), f->err);
    outcome o;
    observe(f, k, &o);
    if (k == &k_ps)
        check_pub_outcome(&o, ft, sync, mode);
    else
        check_bm_outcome(&o, ft, sync, mode);
    if (damage_fault(ft)) {
        /* the report names what was dropped, and so does the history */
        assert_true(f->rec.records_dropped > 0 || f->rec.bytes_dropped > 0);
        assert_true(f->rec.text[0] != '\0');
        assert_true(f->rec.bytes_quarantined > 0);
        assert_true(f->drop_traces > 0);
    } else {
        assert_int_equal(f->rec.records_dropped, 0);
        assert_string_equal(f->rec.text, "");
    }
    /* the store goes on after recovery, and a second open finds no damage */
    if (k == &k_ps) {
        uint64_t next = fl_pubstore_file.last_sequence(f->ps) + 1;
        assert_int_equal(ps_store(f, next), 0);
    } else {
        assert_int_equal(bs_put(f, 1000), 0);
    }
    k->close(f);
    assert_int_equal(k->open(f), 0);
    if (mode != 3)
        assert_int_equal(f->rec.records_dropped, 0);
    void *st = f;
    teardown(&st);
}

static void test_fault_matrix(void **state, const kind *k)
{
    (void)state;
    for (int ft = 0; ft < F_COUNT; ft++)
        for (int sync = 0; sync < 3; sync++)
            for (int mode = 0; mode < 4; mode++)
                run_fault_case(k, (fault)ft, sync, mode);
}

static void test_ps_fault_matrix(void **state)
{
    test_fault_matrix(state, &k_ps);
}

static void test_bs_fault_matrix(void **state)
{
    test_fault_matrix(state, &k_bs);
}

/* The contract table against both stores under every sync policy; the crash
 * cases (power loss) only under sync=always, where every call is durable
 * when it returns. */
/* The contract's fail_next_sync hook: the next fsync on the node's disk
 * fails once. */
static void sim_fail_next_sync(void *ctx)
{
    fl_sc_sim *f = ctx;
    assert_int_equal(
        sim_disk_inject_io_error(sim_node_disk(f->node), SIM_DISK_OP_SYNC, 1, false, NULL), 0);
}

static int run_contract(void)
{
    static const struct {
        const char *name, *options, *capacity;
    } cfg[] = {
        {"file_always", "sync=always", "sync=always;capacity=16384"},
        {"file_batch", "sync=batch;batch_window=1000", "sync=batch;capacity=16384"},
        {"file_none", "sync=none", "sync=none;capacity=16384"},
        {"file_always_small_segments", "sync=always;segment_size=4096",
         "sync=always;segment_size=4096;capacity=16384"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        fl_sc_sim sim = {.seed = 11 + i};
        int always = strncmp(cfg[i].options, "sync=always", 11) == 0;
        fl_store_under_test sut = {
            .name = cfg[i].name,
            .pub = &fl_pubstore_file,
            .bm = &fl_bmstore_file,
            .options = cfg[i].options,
            .capacity_options = cfg[i].capacity,
            .flags = FL_SUT_RETAINS | FL_SUT_DURABLE,
            .ctx = &sim,
            .setup = fl_sc_sim_setup,
            .teardown = fl_sc_sim_teardown,
            .crash = always ? fl_sc_sim_power_loss : NULL,
            .restart = fl_sc_sim_restart,
            .power_loss = fl_sc_sim_power_loss, /* any policy: the sequence promise */
            .fail_next_sync = sim_fail_next_sync,
        };
        int rc = fl__run_store_contract(&sut);
        failed += rc < 0 ? 1 : rc;
    }
    return failed;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ps_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_discard_past_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_full_prune_never_reuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_reservation_costs_few_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_reserve_torn_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_reserve_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_reserve_file_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_compaction_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_crash_during_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_none_prunes_without_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_none_flush_survives_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_options_both_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_recycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bs_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bs_matches_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bs_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bs_crash_during_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ps_fault_matrix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bs_fault_matrix, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + run_contract();
}
