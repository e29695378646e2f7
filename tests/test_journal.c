/* Tests for the broker's transaction log (simulator/journal.c): append and
 * the in-memory view, bookmark and timestamp lookups, replay batches,
 * retention (and expiry across a restart), and recovery in every mode after
 * a simulated power loss with a torn tail, a bit flip, a truncation and a
 * zeroed sector: what survives is exactly what the mode promises; and a
 * failed sync: the owner hears of it from the loop (on_failed), the journal
 * refuses writes, a second handle recovers it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "journal.h"
#include "sim.h"
#include "sim_disk.h"

#define PAYLOAD_LEN 50
/* 32-byte record header + 40-byte message header + topic "t" + payload */
#define REC_SIZE (32 + 40 + 1 + PAYLOAD_LEN)
#define SEG_HDR  64
#define PUB_A    1001
#define PUB_B    2002

typedef struct fx {
    sim_ctx *ctx;
    sim_node *node;
    sim_journal *j;
    sim_journal_options o;
    uint64_t durable; /* last on_durable value */
    int ndurable;
    int nfailed, failed_err; /* on_failed calls, last error */
} fx;

static void on_failed(void *arg, int error)
{
    fx *f = arg;
    f->nfailed++;
    f->failed_err = error;
}

static void on_durable(void *arg, uint64_t recno)
{
    fx *f = arg;
    f->durable = recno;
    f->ndurable++;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    f->ctx = sim_ctx_new(&co);
    assert_int_equal(sim_node_new(f->ctx, "b", &f->node), 0);
    sim_journal_options o = SIM_JOURNAL_OPTIONS_INIT;
    o.on_durable = on_durable;
    o.on_failed = on_failed;
    o.arg = f;
    f->o = o;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_journal_close(f->j);
    sim_ctx_free(f->ctx);
    free(f);
    return 0;
}

static int open_j(fx *f)
{
    f->o.rt = sim_node_runtime(f->node);
    return sim_journal_open(&f->o, &f->j, NULL, NULL, 0);
}

static void append(fx *f, uint64_t pub, uint64_t seq, uint64_t *recno)
{
    uint8_t payload[PAYLOAD_LEN];
    memset(payload, (int)(seq & 0xff), sizeof payload);
    sim_journal_msg m = {0};
    m.topic = "t";
    m.topic_len = 1;
    m.publisher = pub;
    m.sequence = seq;
    m.ts_us = (int64_t)fl_rt_now(sim_node_runtime(f->node));
    m.payload = payload;
    m.payload_len = sizeof payload;
    assert_int_equal(sim_journal_append(f->j, &m, recno), 0);
}

/* Crash the node (the disk keeps what sim_disk_* left it with), abandon the
 * journal, restart and reopen. Returns the open's result. */
static int restart(fx *f)
{
    sim_node_crash(f->node);
    sim_journal_close(f->j); /* dead runtime: frees only */
    f->j = NULL;
    assert_int_equal(sim_node_restart(f->node), 0);
    return open_j(f);
}

typedef struct collect {
    uint64_t seqs[4096];
    size_t n;
} collect;

static int collect_fn(void *arg, const sim_journal_msg *m)
{
    collect *c = arg;
    if (c->n < 4096)
        c->seqs[c->n++] = m->sequence;
    return 0;
}

static collect *survivors(fx *f)
{
    collect *c = calloc(1, sizeof *c);
    assert_int_equal(sim_journal_iterate(f->j, 0, collect_fn, c), 0);
    return c;
}

/* ---- basic ------------------------------------------------------------- */

static void test_append_get_find(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    uint64_t r1, r2, r3;
    append(f, PUB_A, 1, &r1);
    append(f, PUB_B, 7, &r2);
    append(f, PUB_A, 2, &r3);
    assert_true(r1 == 1 && r2 == 2 && r3 == 3);
    assert_int_equal(sim_journal_count(f->j), 3);
    assert_true(sim_journal_highest_seq(f->j, PUB_A) == 2);
    assert_true(sim_journal_highest_seq(f->j, PUB_B) == 7);
    assert_true(sim_journal_highest_seq(f->j, 3) == 0);
    uint64_t r;
    assert_int_equal(sim_journal_find(f->j, PUB_B, 7, &r), 0);
    assert_true(r == 2);
    assert_int_equal(sim_journal_find(f->j, PUB_B, 6, &r), FL_E_NOT_FOUND);
    sim_journal_msg m;
    assert_int_equal(sim_journal_get(f->j, 3, &m), 0);
    assert_true(m.publisher == PUB_A && m.sequence == 2 && m.payload_len == PAYLOAD_LEN);
    assert_int_equal(m.topic_len, 1);
    assert_int_equal(m.origin_len, 0);
    assert_int_equal(sim_journal_get(f->j, 4, &m), FL_E_NOT_FOUND);
    /* durability arrives from the loop */
    assert_true(sim_journal_durable_recno(f->j) == 0);
    sim_run_until(f->ctx, 1000);
    assert_true(f->durable == 3);
    assert_true(sim_journal_durable_recno(f->j) == 3);
}

static void test_append_rejects_bad_input(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    sim_journal_msg m = {0};
    m.topic = "";
    assert_int_equal(sim_journal_append(f->j, &m, NULL), FL_E_INVAL);
    m.topic = "t";
    m.topic_len = 1;
    m.payload_len = 3; /* NULL payload with a length */
    assert_int_equal(sim_journal_append(f->j, &m, NULL), FL_E_INVAL);
    assert_int_equal(sim_journal_count(f->j), 0);
}

static void test_origin_and_reopen(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    append(f, PUB_A, 1, NULL);
    sim_journal_msg m = {0};
    m.topic = "t";
    m.topic_len = 1;
    m.publisher = PUB_B;
    m.sequence = 4;
    m.ts_us = 123;
    m.origin = "a";
    m.origin_len = 1;
    m.origin_recno = 77;
    assert_int_equal(sim_journal_append(f->j, &m, NULL), 0);
    assert_true(sim_journal_origin_recno(f->j, "a") == 77);
    sim_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(open_j(f), 0);
    assert_int_equal(sim_journal_count(f->j), 2);
    assert_true(sim_journal_origin_recno(f->j, "a") == 77);
    assert_true(sim_journal_origin_recno(f->j, "zz") == 0);
    assert_int_equal(sim_journal_get(f->j, 2, &m), 0);
    assert_true(m.ts_us == 123 && m.origin_len == 1 && m.origin[0] == 'a');
    assert_true(m.payload_len == 0);
}

static void test_locate(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    /* A1 at t0, B5 at t0+1s, A2 at t0+2s, A4 at t0+3s (A3 never logged) */
    uint64_t t0 = fl_rt_now(sim_node_runtime(f->node));
    append(f, PUB_A, 1, NULL);
    sim_run_until(f->ctx, 1000000);
    append(f, PUB_B, 5, NULL);
    sim_run_until(f->ctx, 2000000);
    append(f, PUB_A, 2, NULL);
    sim_run_until(f->ctx, 3000000);
    append(f, PUB_A, 4, NULL);
    uint64_t r = 0;
    fl_bookmark bm = fl_bookmark_epoch();
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == 1);
    bm = fl_bookmark_now();
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == 5);
    bm = fl_bookmark_exact(PUB_B, 5, FL_BM_NO_TS);
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == 3);
    assert_int_equal(sim_journal_locate(f->j, &bm, true, &r), SIM_JLOC_FOUND);
    assert_true(r == 2);
    bm = fl_bookmark_exact(PUB_A, 3, FL_BM_NO_TS); /* a gap: next of A is recno 4 */
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == 4);
    bm = fl_bookmark_exact(PUB_A, 9, FL_BM_NO_TS); /* beyond the highest */
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_UNKNOWN);
    bm = fl_bookmark_exact(77, 1, FL_BM_NO_TS); /* unknown publisher */
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_UNKNOWN);
    bm = fl_bookmark_exact(77, 1, (int64_t)t0 + 1500000); /* ... with a timestamp */
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == 3);
    bm = fl_bookmark_timestamp((int64_t)t0 + 1000000);
    assert_int_equal(sim_journal_locate(f->j, &bm, true, &r), SIM_JLOC_FOUND);
    assert_true(r == 2);
    bm = fl_bookmark_timestamp((int64_t)t0 + 9000000);
    assert_int_equal(sim_journal_locate(f->j, &bm, true, &r), SIM_JLOC_FOUND);
    assert_true(r == 5);
}

static int stop_at_3(void *arg, const sim_journal_msg *m)
{
    (*(int *)arg)++;
    return m->sequence == 3;
}

static void test_read_batch(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    for (uint64_t s = 1; s <= 10; s++)
        append(f, PUB_A, s, NULL);
    uint64_t cur = 0;
    collect c = {.n = 0};
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 4, collect_fn, &c), 4);
    assert_true(cur == 5);
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 4, collect_fn, &c), 4);
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 4, collect_fn, &c), 2);
    assert_true(cur == 11);
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 4, collect_fn, &c), 0);
    assert_int_equal(c.n, 10);
    for (size_t i = 0; i < 10; i++)
        assert_true(c.seqs[i] == i + 1);
    /* a message appended later is picked up exactly once */
    append(f, PUB_A, 11, NULL);
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 4, collect_fn, &c), 1);
    assert_true(c.seqs[10] == 11 && cur == 12);
    /* stopping early */
    int calls = 0;
    cur = 1;
    assert_int_equal(sim_journal_read_batch(f->j, &cur, 100, stop_at_3, &calls), 3);
    assert_true(cur == 4);
}

/* ---- retention ------------------------------------------------------------ */

static void fill_hours(fx *f, int hours, int per_hour, uint64_t pub)
{
    uint64_t seq = sim_journal_highest_seq(f->j, pub);
    for (int h = 0; h < hours; h++)
        for (int i = 0; i < per_hour; i++) {
            append(f, pub, ++seq, NULL);
            sim_run_until(f->ctx, sim_now(f->ctx) + 3600000000ull / (uint64_t)per_hour);
        }
}

static void test_retention_removes_old_segments(void **state)
{
    fx *f = *state;
    f->o.segment_age_us = 3600000000ull; /* hourly segments */
    assert_int_equal(open_j(f), 0);
    fill_hours(f, 6, 10, PUB_A);
    assert_true(sim_journal_segment_count(f->j) >= 6);
    int64_t now = (int64_t)fl_rt_now(sim_node_runtime(f->node));
    /* the floor keeps everything */
    uint64_t removed = 99;
    assert_int_equal(sim_journal_retain(f->j, now - 7200000000LL, 1, &removed), 0);
    assert_true(removed == 0);
    /* keep the last two hours */
    assert_int_equal(sim_journal_retain(f->j, now - 7200000000LL, UINT64_MAX, &removed), 0);
    assert_true(removed >= 30 && removed <= 40);
    assert_int_equal(sim_journal_count(f->j), 60 - removed);
    collect *c = survivors(f);
    assert_true(c->seqs[0] == removed + 1);
    free(c);
    /* an exact bookmark whose successors were removed is expired, the last
     * removed one is not (nothing after it is gone) */
    uint64_t r;
    fl_bookmark bm = fl_bookmark_exact(PUB_A, 1, FL_BM_NO_TS);
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_EXPIRED);
    bm = fl_bookmark_exact(PUB_A, removed, FL_BM_NO_TS);
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
    assert_true(r == sim_journal_first_recno(f->j));
    assert_int_equal(sim_journal_locate(f->j, &bm, true, &r), SIM_JLOC_EXPIRED);
    bm = fl_bookmark_timestamp((int64_t)SIM_DEFAULT_START_UTC_US);
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_EXPIRED);
    bm = fl_bookmark_epoch();
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_FOUND);
}

static void test_retention_highwater_survives_restart(void **state)
{
    fx *f = *state;
    f->o.segment_age_us = 3600000000ull;
    assert_int_equal(open_j(f), 0);
    fill_hours(f, 3, 5, PUB_B); /* B: 1..15 */
    fill_hours(f, 3, 5, PUB_A); /* A: 1..15, three hours later */
    int64_t now = (int64_t)fl_rt_now(sim_node_runtime(f->node));
    uint64_t removed;
    assert_int_equal(sim_journal_retain(f->j, now - 3 * 3600000000LL + 1, UINT64_MAX, &removed), 0);
    assert_true(removed >= 15);
    uint64_t r;
    assert_int_equal(sim_journal_find(f->j, PUB_B, 15, &r), FL_E_NOT_FOUND);
    sim_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(open_j(f), 0);
    /* every B message is gone, yet its highest sequence is remembered */
    assert_true(sim_journal_highest_seq(f->j, PUB_B) == 15);
    fl_bookmark bm = fl_bookmark_exact(PUB_B, 3, FL_BM_NO_TS);
    assert_int_equal(sim_journal_locate(f->j, &bm, false, &r), SIM_JLOC_EXPIRED);
}

/* ---- recovery under damage ---------------------------------------------- */

typedef enum damage { D_TORN, D_BITFLIP, D_TRUNCATE, D_ZERO } damage;

typedef struct find_seg {
    char path[128];
} find_seg;

static int find_seg_fn(void *arg, const sim_disk_file_info *info)
{
    find_seg *fs = arg;
    size_t n = strlen(info->path);
    if (n > 4 && strcmp(info->path + n - 4, ".seg") == 0 && info->exists_current)
        snprintf(fs->path, sizeof fs->path, "%s", info->path);
    return 0;
}

/* 20 synced messages (record k of 1..20 at SEG_HDR + (k-1)*REC_SIZE), then
 * damage, restart, reopen in `mode`. Returns the open result; *c the
 * survivors. */
static int damage_and_reopen(fx *f, fl_recovery_mode mode, damage d, collect **c)
{
    f->o.recovery = mode;
    f->o.sync_interval_us = 0;
    assert_int_equal(open_j(f), 0);
    for (uint64_t s = 1; s <= 20; s++)
        append(f, PUB_A, s, NULL);
    assert_int_equal(sim_journal_sync(f->j), 0);
    find_seg fs = {""};
    sim_disk *disk = sim_node_disk(f->node);
    sim_disk_list_all(disk, find_seg_fn, &fs);
    assert_true(fs.path[0] != '\0');
    uint64_t rec10 = SEG_HDR + 9 * REC_SIZE;
    switch (d) {
    case D_TORN:
        /* two more appends, never synced; the power loss keeps the first and
         * 40 bytes of the second */
        f->o.sync_interval_us = 0;
        append(f, PUB_A, 21, NULL);
        append(f, PUB_A, 22, NULL);
        assert_int_equal(sim_disk_power_loss_at(disk, fs.path, 2, 40), 0);
        break;
    case D_BITFLIP:
        assert_int_equal(sim_disk_flip_bit(disk, fs.path, rec10 + 60, 3), 0);
        break;
    case D_TRUNCATE:
        assert_int_equal(sim_disk_truncate_file(disk, fs.path, rec10 + 50), 0);
        break;
    case D_ZERO:
        /* zero the sector holding record 10's start (records after it survive) */
        assert_int_equal(sim_disk_zero_sector(disk, fs.path, rec10 / 512), 0);
        break;
    }
    int rc = restart(f);
    *c = rc == 0 ? survivors(f) : NULL;
    return rc;
}

static void check_range(const collect *c, uint64_t from, uint64_t to)
{
    assert_int_equal(c->n, to - from + 1);
    for (size_t i = 0; i < c->n; i++)
        assert_true(c->seqs[i] == from + i);
}

static void test_recovery_torn_tail(void **state)
{
    fx *f = *state;
    collect *c;
    for (int mode = 0; mode < 4; mode++) {
        if (mode) {
            teardown(state);
            setup(state);
            f = *state;
        }
        int rc = damage_and_reopen(f, (fl_recovery_mode)mode, D_TORN, &c);
        if (mode == FL_RECOVERY_STRICT) {
            assert_int_equal(rc, FL_E_DAMAGED);
            continue;
        }
        assert_int_equal(rc, 0);
        check_range(c, 1, 21); /* 21 was written whole before the cut */
        assert_true(sim_journal_highest_seq(f->j, PUB_A) == 21);
        assert_true(sim_journal_next_recno(f->j) == 22);
        free(c);
    }
}

static void test_recovery_bit_flip(void **state)
{
    fx *f = *state;
    collect *c;
    for (int mode = 0; mode < 4; mode++) {
        if (mode) {
            teardown(state);
            setup(state);
            f = *state;
        }
        int rc = damage_and_reopen(f, (fl_recovery_mode)mode, D_BITFLIP, &c);
        switch (mode) {
        case FL_RECOVERY_STRICT:
        case FL_RECOVERY_TOLERATE_TORN_TAIL:
            assert_int_equal(rc, FL_E_DAMAGED);
            break;
        case FL_RECOVERY_POINT_IN_TIME:
            assert_int_equal(rc, 0);
            check_range(c, 1, 9);
            free(c);
            break;
        case FL_RECOVERY_SALVAGE:
            assert_int_equal(rc, 0);
            assert_int_equal(c->n, 19);
            for (size_t i = 0; i < c->n; i++)
                assert_true(c->seqs[i] == (i < 9 ? i + 1 : i + 2));
            free(c);
            break;
        }
    }
}

static void test_recovery_truncate(void **state)
{
    fx *f = *state;
    collect *c;
    for (int mode = 0; mode < 4; mode++) {
        if (mode) {
            teardown(state);
            setup(state);
            f = *state;
        }
        int rc = damage_and_reopen(f, (fl_recovery_mode)mode, D_TRUNCATE, &c);
        if (mode == FL_RECOVERY_STRICT) {
            assert_int_equal(rc, FL_E_DAMAGED);
            continue;
        }
        assert_int_equal(rc, 0);
        check_range(c, 1, 9);
        /* appends continue after the survivors */
        uint64_t r;
        append(f, PUB_A, 10, &r);
        assert_true(r == 10);
        free(c);
    }
}

static void test_recovery_zero_sector(void **state)
{
    fx *f = *state;
    collect *c;
    uint64_t rec10 = SEG_HDR + 9 * REC_SIZE;
    uint64_t z0 = rec10 / 512 * 512, z1 = z0 + 512;
    for (int mode = 0; mode < 4; mode++) {
        if (mode) {
            teardown(state);
            setup(state);
            f = *state;
        }
        int rc = damage_and_reopen(f, (fl_recovery_mode)mode, D_ZERO, &c);
        switch (mode) {
        case FL_RECOVERY_STRICT:
        case FL_RECOVERY_TOLERATE_TORN_TAIL:
            assert_int_equal(rc, FL_E_DAMAGED);
            break;
        case FL_RECOVERY_POINT_IN_TIME: {
            assert_int_equal(rc, 0);
            /* everything before the first record the sector touches */
            uint64_t first_hit = (z0 - SEG_HDR) / REC_SIZE + 1;
            check_range(c, 1, first_hit - 1);
            free(c);
            break;
        }
        case FL_RECOVERY_SALVAGE: {
            assert_int_equal(rc, 0);
            /* exactly the records that overlap the zeroed sector are gone */
            size_t k = 0;
            for (uint64_t s = 1; s <= 20; s++) {
                uint64_t b = SEG_HDR + (s - 1) * REC_SIZE, e = b + REC_SIZE;
                if (e <= z0 || b >= z1) {
                    assert_true(k < c->n);
                    assert_true(c->seqs[k++] == s);
                }
            }
            assert_int_equal(k, c->n);
            free(c);
            break;
        }
        }
    }
}

static void test_recovery_drops_are_traced(void **state)
{
    fx *f = *state;
    collect *c;
    assert_int_equal(damage_and_reopen(f, FL_RECOVERY_POINT_IN_TIME, D_BITFLIP, &c), 0);
    free(c);
    sim_history *h = sim_ctx_history(f->ctx);
    int drop = 0, summary = 0;
    for (size_t i = 0; i < sim_history_tail_count(h); i++) {
        const char *l = sim_history_tail_line(h, i);
        if (strstr(l, "recovery_drop"))
            drop++;
        if (strstr(l, "\"recovered\"") && strstr(l, "\"records_dropped\":11"))
            summary++;
    }
    assert_true(drop >= 1);
    assert_int_equal(summary, 1);
}

/* ---- failed syncs -------------------------------------------------------- */

/* A sync that fails in the group-commit timer (nobody is inside a journal
 * call) still reaches the owner, once, from the loop; the poisoned journal
 * refuses appends, syncs and rotation; a second handle on the same files
 * recovers every record (nothing was lost: no power loss) and works. */
static void test_sync_failure_reported_and_reopen(void **state)
{
    fx *f = *state;
    f->o.sync_interval_us = 1000;
    assert_int_equal(open_j(f), 0);
    for (uint64_t s = 1; s <= 3; s++)
        append(f, PUB_A, s, NULL);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_true(f->durable == 3);
    assert_int_equal(sim_journal_failed(f->j), 0);
    sim_disk *d = sim_node_disk(f->node);
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    append(f, PUB_A, 4, NULL);
    assert_int_equal(f->nfailed, 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 1);
    assert_int_equal(f->failed_err, FL_E_SYNC_FAILED);
    assert_true(f->durable == 3); /* never reported durable */
    assert_int_equal(sim_journal_failed(f->j), FL_E_SYNC_FAILED);
    assert_non_null(strstr(sim_journal_last_error(f->j), "file_sync"));
    uint8_t p = 0;
    sim_journal_msg m = {0, "t", 1, PUB_A, 5, 0, NULL, 0, 0, &p, 1};
    assert_int_equal(sim_journal_append(f->j, &m, NULL), FL_E_SYNC_FAILED);
    assert_int_equal(sim_journal_sync(f->j), FL_E_SYNC_FAILED);
    assert_int_equal(sim_journal_rotate(f->j), FL_E_SYNC_FAILED);
    /* the view stays readable until close */
    assert_int_equal(sim_journal_count(f->j), 4);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 1); /* once */
    /* a second handle while the first is still open (how the broker swaps) */
    sim_journal *old = f->j;
    f->j = NULL;
    assert_int_equal(open_j(f), 0);
    sim_journal_close(old);
    assert_int_equal(sim_journal_failed(f->j), 0);
    assert_int_equal(sim_journal_count(f->j), 4);
    assert_true(sim_journal_highest_seq(f->j, PUB_A) == 4);
    assert_int_equal(sim_journal_sync(f->j), 0);
    assert_true(sim_journal_durable_recno(f->j) == 4);
    size_t segs = sim_journal_segment_count(f->j);
    assert_int_equal(sim_journal_rotate(f->j), 0);
    assert_int_equal(sim_journal_segment_count(f->j), segs + 1);
    append(f, PUB_A, 5, NULL);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 1);
    assert_true(sim_journal_durable_recno(f->j) >= 5);
}

/* A directory sync failing in retention poisons the journal too; a failed
 * write does not (the journal is intact and takes the next append). */
static void test_dir_sync_failure_and_write_error(void **state)
{
    fx *f = *state;
    assert_int_equal(open_j(f), 0);
    append(f, PUB_A, 1, NULL);
    sim_disk *d = sim_node_disk(f->node);
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 1, false, NULL), 0);
    uint8_t p = 0;
    sim_journal_msg m = {0, "t", 1, PUB_A, 2, 0, NULL, 0, 0, &p, 1};
    assert_int_equal(sim_journal_append(f->j, &m, NULL), FL_E_IO);
    sim_disk_set_space_budget(d, sim_disk_total_bytes(d));
    assert_int_equal(sim_journal_append(f->j, &m, NULL), FL_E_NOSPC);
    sim_disk_set_space_budget(d, UINT64_MAX);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 0);
    assert_int_equal(sim_journal_failed(f->j), 0);
    append(f, PUB_A, 2, NULL);
    assert_int_equal(sim_journal_count(f->j), 2);
    /* rotation syncs the directory: make that fail */
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_DIR_SYNC, 1, false, NULL), 0);
    assert_int_equal(sim_journal_rotate(f->j), FL_E_SYNC_FAILED);
    assert_int_equal(f->nfailed, 0); /* not inside the call */
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 1);
    assert_non_null(strstr(sim_journal_last_error(f->j), "rotate: "));
    /* closing before the notification runs: it never runs */
    sim_journal_close(f->j);
    f->j = NULL;
    assert_int_equal(open_j(f), 0);
    assert_int_equal(sim_journal_count(f->j), 2);
    append(f, PUB_A, 3, NULL); /* starts a new segment: the old one was sealed */
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    assert_int_equal(sim_journal_sync(f->j), FL_E_SYNC_FAILED);
    sim_journal_close(f->j);
    f->j = NULL;
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000);
    assert_int_equal(f->nfailed, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_append_get_find),
        T(test_append_rejects_bad_input),
        T(test_origin_and_reopen),
        T(test_locate),
        T(test_read_batch),
        T(test_retention_removes_old_segments),
        T(test_retention_highwater_survives_restart),
        T(test_recovery_torn_tail),
        T(test_recovery_bit_flip),
        T(test_recovery_truncate),
        T(test_recovery_zero_sector),
        T(test_recovery_drops_are_traced),
        T(test_sync_failure_reported_and_reopen),
        T(test_dir_sync_failure_and_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
