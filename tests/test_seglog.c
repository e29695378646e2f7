/* Unit tests for the segmented log (client/seglog.c) on the simulation core:
 * round trips, rotation, deletion, reads, each sync policy under crashes and
 * power loss, and recovery under every file fault in every recovery mode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/error.h"
#include "faultline/record.h"
#include "faultline/seglog.h"
#include "sim.h"
#include "sim_disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR        "log"
#define PAYLOAD    100 /* bytes per test record: 132 on disk */
#define RECSIZE    (FL_RECORD_HEADER_SIZE + PAYLOAD)
#define REC_OFF(i) (FL_SEG_HEADER_SIZE + ((uint64_t)(i)-1) * RECSIZE)
#define USER_TYPE  0x20u

/* ------------------------------------------------------------------ */
/* fixture */

typedef struct fx {
    sim_ctx *ctx;
    sim_node *node;
    sim_disk *disk;
    fl_seglog_options o;
    fl_seglog *log;
    fl_store_recovery rep;
    char err[256];
    uint64_t *got; /* record numbers handed to on_record / a read */
    size_t ngot, capgot;
    uint64_t durable_seen;
    unsigned durable_calls;
} fx;

static void on_durable(void *arg, uint64_t recno)
{
    fx *f = arg;
    assert_true(recno >= f->durable_seen);
    f->durable_seen = recno;
    f->durable_calls++;
}

static void fill_payload(uint64_t recno, uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(recno * 31 + i * 7);
}

static int collect(void *arg, uint64_t recno, unsigned type, const uint8_t *payload, size_t len)
{
    fx *f = arg;
    uint8_t want[PAYLOAD];
    assert_int_equal(type, USER_TYPE);
    assert_int_equal(len, PAYLOAD);
    fill_payload(recno, want, sizeof want);
    assert_memory_equal(payload, want, PAYLOAD);
    if (f->ngot == f->capgot) {
        f->capgot = f->capgot ? f->capgot * 2 : 256;
        f->got = realloc(f->got, f->capgot * sizeof *f->got);
        assert_non_null(f->got);
    }
    f->got[f->ngot++] = recno;
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    co.seed = 42;
    f->ctx = sim_ctx_new(&co);
    if (!f->ctx || sim_node_new(f->ctx, "n1", &f->node) != 0)
        return -1;
    f->disk = sim_node_disk(f->node);
    fl_seglog_options o = FL_SEGLOG_OPTIONS_INIT;
    o.rt = sim_node_runtime(f->node);
    o.dir = DIR;
    o.kind = FL_SEG_KIND_TEST;
    o.sync = FL_SYNC_ALWAYS;
    o.recovery = FL_RECOVERY_POINT_IN_TIME;
    o.max_record = 4096;
    o.on_durable = on_durable;
    o.arg = f;
    f->o = o;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    fl_seglog_close(f->log);
    sim_ctx_free(f->ctx);
    free(f->got);
    free(f);
    return 0;
}

/* Open the log (records collected into f->got). */
static int fx_open(fx *f)
{
    f->ngot = 0;
    f->o.rt = sim_node_runtime(f->node);
    f->err[0] = 0;
    int rc = fl_seglog_open(&f->o, collect, f, &f->log, &f->rep, f->err, sizeof f->err);
    if (rc == 0)
        assert_non_null(f->log);
    else
        assert_null(f->log);
    return rc;
}

static void fx_close(fx *f)
{
    fl_seglog_close(f->log);
    f->log = NULL;
}

/* Kill the process (the disk keeps everything) and restart the node. */
static void fx_crash(fx *f)
{
    sim_node_crash(f->node);
    fx_close(f); /* a dead incarnation: no sync happens */
    assert_int_equal(sim_node_restart(f->node), 0);
}

/* Power loss that keeps exactly what was synced. */
static void fx_power_loss_exact(fx *f)
{
    sim_node_crash(f->node);
    sim_disk_power_loss_exact(f->disk);
    fx_close(f);
    assert_int_equal(sim_node_restart(f->node), 0);
}

static int append_one(fx *f, uint64_t *recno)
{
    uint8_t p[PAYLOAD];
    fill_payload(fl_seglog_next_recno(f->log), p, sizeof p);
    return fl_seglog_append(f->log, USER_TYPE, p, sizeof p, recno);
}

static void append_n(fx *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t want = fl_seglog_next_recno(f->log), got = 0;
        assert_int_equal(append_one(f, &got), 0);
        assert_int_equal(got, want);
    }
}

/* f->got holds exactly first..last (inclusive). */
static void assert_got_range(fx *f, uint64_t first, uint64_t last)
{
    assert_int_equal(f->ngot, last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < f->ngot; i++)
        assert_int_equal(f->got[i], first + i);
}

static void assert_report_clean(const fx *f)
{
    assert_int_equal(f->rep.records_dropped, 0);
    assert_int_equal(f->rep.bytes_dropped, 0);
    assert_int_equal(f->rep.bytes_quarantined, 0);
    assert_string_equal(f->rep.text, "");
}

typedef struct seglist {
    fl_seglog_segment s[64];
    size_t n;
} seglist;

static int seg_cb(void *arg, const fl_seglog_segment *s)
{
    seglist *l = arg;
    assert_true(l->n < 64);
    l->s[l->n++] = *s;
    return 0;
}

static seglist segments(fx *f)
{
    seglist l = {.n = 0};
    assert_int_equal(fl_seglog_segments(f->log, seg_cb, &l), 0);
    return l;
}

static void seg_file(uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, DIR "/%016llx.seg", (unsigned long long)id);
}

static int read_collect(fx *f, uint64_t from)
{
    f->ngot = 0;
    return fl_seglog_read(f->log, from, collect, f);
}

/* ------------------------------------------------------------------ */
/* parsing and options */

static void test_sync_policy_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        fl_sync_policy p;
    } cases[] = {
        {"always", 0, FL_SYNC_ALWAYS}, {"batch", 0, FL_SYNC_BATCH}, {"none", 0, FL_SYNC_NONE},
        {"", FL_E_INVAL, 0},           {"Always", FL_E_INVAL, 0},   {"batch ", FL_E_INVAL, 0},
        {"nones", FL_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_sync_policy p = (fl_sync_policy)99;
        assert_int_equal(fl_sync_policy_parse(cases[i].s, &p), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(p, cases[i].p);
            assert_string_equal(fl_sync_policy_name(p), cases[i].s);
        } else {
            assert_int_equal(p, 99);
        }
    }
    assert_int_equal(fl_sync_policy_parse(NULL, NULL), FL_E_INVAL);
    assert_string_equal(fl_sync_policy_name((fl_sync_policy)7), "unknown");
}

static void test_options_invalid(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 9; i++) {
        fl_seglog_options o = f->o;
        switch (i) {
        case 0:
            o.version = FL_SEGLOG_OPTIONS_VERSION + 1;
            break;
        case 1:
            o.rt = NULL;
            break;
        case 2:
            o.dir = NULL;
            break;
        case 3:
            o.dir = "";
            break;
        case 4:
            o.kind = 0;
            break;
        case 5:
            o.segment_size = 100;
            break;
        case 6:
            o.recovery = 9;
            break;
        case 7:
            o.sync = (fl_sync_policy)5;
            break;
        case 8:
            o.max_record = FL_RECORD_MAX_PAYLOAD + 1;
            break;
        }
        fl_seglog *log = (fl_seglog *)1;
        char err[128] = "";
        assert_int_equal(fl_seglog_open(&o, NULL, NULL, &log, NULL, err, sizeof err), FL_E_INVAL);
        assert_null(log);
        assert_true(err[0] != 0);
    }
    assert_int_equal(fl_seglog_open(&f->o, NULL, NULL, NULL, NULL, NULL, 0), FL_E_INVAL);
}

static void test_append_invalid(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    uint8_t big[4097] = {0};
    assert_int_equal(fl_seglog_append(f->log, 0, big, 1, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_append(f->log, FL_REC_SEAL, big, 1, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_append(f->log, 15, big, 1, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_append(f->log, 0x10000, big, 1, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_append(f->log, USER_TYPE, big, sizeof big, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_append(f->log, USER_TYPE, NULL, 1, NULL), FL_E_INVAL);
    assert_int_equal(fl_seglog_next_recno(f->log), 1);
    uint64_t r = 0;
    assert_int_equal(fl_seglog_append(f->log, USER_TYPE | FL_REC_SAFE_TO_IGNORE, big, 4096, &r), 0);
    assert_int_equal(r, 1);
    assert_int_equal(fl_seglog_append(f->log, USER_TYPE, NULL, 0, &r), 0);
    assert_int_equal(r, 2);
}

/* fl_seglog_appendv refuses what fl_seglog_append refuses, counting the
 * pieces together, and appends nothing then. */
static void test_appendv_invalid(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    static uint8_t big[4096];
    const fl_seglog_iov over[2] = {{big, 4000}, {big, 97}}; /* 4097 > max_record */
    const fl_seglog_iov null_piece[2] = {{big, 1}, {NULL, 1}};
    const fl_seglog_iov huge[2] = {{big, 1}, {big, SIZE_MAX}};
    const fl_seglog_iov one[1] = {{big, 1}};
    static const struct {
        unsigned type;
        int which; /* 0 over, 1 null_piece, 2 huge, 3 one, 4 NULL array */
        size_t n;
    } cases[] = {
        {USER_TYPE, 0, 2}, {USER_TYPE, 1, 2}, {USER_TYPE, 2, 2},
        {USER_TYPE, 4, 1}, {0, 3, 1},         {FL_REC_SEAL, 3, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const fl_seglog_iov *v = cases[i].which == 0   ? over
                                 : cases[i].which == 1 ? null_piece
                                 : cases[i].which == 2 ? huge
                                 : cases[i].which == 3 ? one
                                                       : NULL;
        assert_int_equal(fl_seglog_appendv(f->log, cases[i].type, v, cases[i].n, NULL), FL_E_INVAL);
        assert_true(fl_seglog_last_error(f->log)[0] != '\0');
    }
    assert_int_equal(fl_seglog_next_recno(f->log), 1);
    uint64_t r = 0;
    const fl_seglog_iov full[3] = {{big, 4000}, {NULL, 0}, {big, 96}};
    assert_int_equal(fl_seglog_appendv(f->log, USER_TYPE, full, 3, &r), 0);
    assert_int_equal(r, 1);
    assert_int_equal(fl_seglog_appendv(f->log, USER_TYPE, NULL, 0, &r), 0);
    assert_int_equal(r, 2);
}

/* Records appended in pieces read back as the concatenation, across
 * rotations, mixed with plain appends, and survive a strict reopen. */
static void test_appendv_roundtrip(void **state)
{
    fx *f = *state;
    f->o.segment_size = 4096;
    assert_int_equal(fx_open(f), 0);
    for (unsigned i = 0; i < 120; i++) {
        uint64_t want = fl_seglog_next_recno(f->log), got = 0;
        if (i % 3 == 0) {
            assert_int_equal(append_one(f, &got), 0);
        } else {
            uint8_t p[PAYLOAD];
            fill_payload(want, p, sizeof p);
            size_t cut = (i * 37) % (PAYLOAD + 1); /* 0..PAYLOAD: empty pieces too */
            const fl_seglog_iov v[3] = {{p, cut}, {NULL, 0}, {p + cut, PAYLOAD - cut}};
            assert_int_equal(fl_seglog_appendv(f->log, USER_TYPE, v, 3, &got), 0);
        }
        assert_int_equal(got, want);
    }
    assert_true(segments(f).n >= 4);
    assert_int_equal(read_collect(f, 1), 0);
    assert_got_range(f, 1, 120);
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f);
    assert_got_range(f, 1, 120);
}

/* ------------------------------------------------------------------ */
/* round trip, rotation, deletion, reads */

static void test_roundtrip(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f);
    assert_int_equal(fl_seglog_next_recno(f->log), 1);
    assert_int_equal(segments(f).n, 0); /* nothing created before the first append */
    append_n(f, 100);
    fx_close(f);

    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f);
    assert_int_equal(f->rep.records_ok, 100);
    assert_got_range(f, 1, 100);
    assert_int_equal(fl_seglog_next_recno(f->log), 101);
    assert_int_equal(fl_seglog_durable_recno(f->log), 100);
    append_n(f, 5);
    fx_close(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 105);
}

static void test_rotation_by_size(void **state)
{
    fx *f = *state;
    f->o.segment_size = 4096;
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 200);
    seglist l = segments(f);
    assert_true(l.n >= 7);
    uint64_t next = 1;
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.s[i].first_recno, next);
        assert_true(l.s[i].bytes <= 4096);
        assert_int_equal(l.s[i].active, i + 1 == l.n);
        if (i > 0)
            assert_true(l.s[i].id > l.s[i - 1].id);
        next = l.s[i].last_recno + 1;
        /* every older segment holds as many records as fit with its seal */
        if (i + 1 < l.n)
            assert_int_equal(l.s[i].bytes,
                             FL_SEG_HEADER_SIZE +
                                 (l.s[i].last_recno - l.s[i].first_recno + 1) * RECSIZE +
                                 FL_SEAL_RECORD_SIZE);
    }
    assert_int_equal(next, 201);
    fx_close(f);

    /* strict recovery accepts every seal and chain link */
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f);
    assert_got_range(f, 1, 200);
    assert_int_equal(segments(f).n, l.n);
}

static void test_rotation_by_age(void **state)
{
    fx *f = *state;
    f->o.segment_age_us = 1000000;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 3);
    seglist l = segments(f);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.s[0].created_us, sim_now_utc(f->ctx));
    sim_run_until(f->ctx, sim_now(f->ctx) + 999999);
    append_n(f, 1);
    assert_int_equal(segments(f).n, 1);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1);
    append_n(f, 1);
    l = segments(f);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.s[1].created_us, sim_now_utc(f->ctx));
    assert_int_equal(l.s[1].first_recno, 5);
    /* the age survives a reopen (it is in the segment id) */
    fx_close(f);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1500000);
    assert_int_equal(fx_open(f), 0);
    append_n(f, 1);
    assert_int_equal(segments(f).n, 3);
    /* an explicit rotation of a fresh segment works too */
    assert_int_equal(fl_seglog_rotate(f->log), 0);
    assert_int_equal(segments(f).n, 4);
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 6);
}

static void test_delete_before_never_reuses(void **state)
{
    fx *f = *state;
    f->o.segment_size = 2048;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 60);
    seglist l = segments(f);
    assert_true(l.n >= 4);
    /* nothing below the second segment's first record: only the first goes */
    assert_int_equal(fl_seglog_delete_before(f->log, l.s[1].first_recno + 1), 0);
    assert_int_equal(segments(f).n, l.n - 1);
    assert_int_equal(fl_seglog_first_recno(f->log), l.s[1].first_recno);
    char path[64];
    seg_file(l.s[0].id, path, sizeof path);
    assert_false(sim_disk_exists(f->disk, path, 1)); /* unlink made durable */
    assert_int_equal(read_collect(f, 1), FL_E_NOT_FOUND);
    assert_int_equal(read_collect(f, l.s[1].first_recno), 0);
    assert_got_range(f, l.s[1].first_recno, 60);

    /* everything: only the active segment stays */
    assert_int_equal(fl_seglog_delete_before(f->log, UINT64_MAX), 0);
    l = segments(f);
    assert_int_equal(l.n, 1);
    assert_true(l.s[0].active);
    /* an empty active segment after a rotation */
    assert_int_equal(fl_seglog_rotate(f->log), 0);
    assert_int_equal(fl_seglog_delete_before(f->log, UINT64_MAX), 0);
    l = segments(f);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.s[0].first_recno, 61);
    assert_int_equal(l.s[0].last_recno, 60);
    fx_power_loss_exact(f);

    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f);
    assert_int_equal(f->ngot, 0);
    assert_int_equal(fl_seglog_next_recno(f->log), 61);
    assert_int_equal(fl_seglog_first_recno(f->log), 61);
    uint64_t r = 0;
    assert_int_equal(append_one(f, &r), 0);
    assert_int_equal(r, 61);
    assert_int_equal(read_collect(f, 60), FL_E_NOT_FOUND);
    assert_int_equal(read_collect(f, 61), 0);
    assert_got_range(f, 61, 61);
}

typedef struct stopper {
    fx *f;
    size_t stop_after;
} stopper;

static int stop_cb(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    stopper *s = arg;
    collect(s->f, recno, type, p, len);
    return s->f->ngot >= s->stop_after;
}

static void test_read_ranges(void **state)
{
    fx *f = *state;
    f->o.segment_size = 3000;
    f->o.sync = FL_SYNC_NONE;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 250);
    seglist l = segments(f);
    assert_true(l.n > 5);
    uint64_t froms[] = {0, 1, 2, 21, 22, 23, 100, 199, 249, 250};
    for (size_t i = 0; i < sizeof froms / sizeof froms[0]; i++) {
        assert_int_equal(read_collect(f, froms[i]), 0);
        assert_got_range(f, froms[i] ? froms[i] : 1, 250);
    }
    /* every segment boundary */
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(read_collect(f, l.s[i].first_recno), 0);
        assert_got_range(f, l.s[i].first_recno, 250);
    }
    assert_int_equal(read_collect(f, 251), 0);
    assert_int_equal(f->ngot, 0);
    assert_int_equal(read_collect(f, 100000), 0);
    assert_int_equal(f->ngot, 0);
    /* stopping early */
    f->ngot = 0;
    stopper s = {f, 7};
    assert_int_equal(fl_seglog_read(f->log, 40, stop_cb, &s), 0);
    assert_got_range(f, 40, 46);
    /* records bigger than the read chunk */
    fx_close(f);
}

/* Reads from many record numbers inside large segments (the sparse index),
 * both as appended and as rebuilt by recovery. */
static void test_read_indexed(void **state)
{
    fx *f = *state;
    f->o.segment_size = 1 << 20;
    f->o.sync = FL_SYNC_NONE;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 12000); /* about 1.6 MB: two segments */
    assert_int_equal(segments(f).n, 2);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t from = 1; from <= 12000; from += 97) {
            f->ngot = 0;
            stopper st = {f, 3};
            assert_int_equal(fl_seglog_read(f->log, from, stop_cb, &st), 0);
            assert_got_range(f, from, from + 2 > 12000 ? 12000 : from + 2);
        }
        assert_int_equal(read_collect(f, 11999), 0);
        assert_got_range(f, 11999, 12000);
        fx_close(f);
        assert_int_equal(fx_open(f), 0);
        assert_got_range(f, 1, 12000);
    }
}

static int big_cb(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    size_t *n = arg;
    assert_int_equal(len, 300000);
    for (size_t i = 0; i < len; i += 4099)
        assert_int_equal(p[i], (uint8_t)(recno + i));
    (*n)++;
    return 0;
}

static void test_read_big_records(void **state)
{
    fx *f = *state;
    f->o.max_record = 1 << 20;
    f->o.sync = FL_SYNC_NONE;
    assert_int_equal(fx_open(f), 0);
    uint8_t *p = malloc(300000);
    assert_non_null(p);
    for (uint64_t r = 1; r <= 5; r++) {
        for (size_t i = 0; i < 300000; i++)
            p[i] = (uint8_t)(r + i);
        assert_int_equal(fl_seglog_append(f->log, USER_TYPE, p, 300000, NULL), 0);
    }
    free(p);
    size_t n = 0;
    assert_int_equal(fl_seglog_read(f->log, 2, big_cb, &n), 0);
    assert_int_equal(n, 4);
}

/* ------------------------------------------------------------------ */
/* sync policies */

static void test_sync_always(void **state)
{
    fx *f = *state;
    f->o.segment_size = 4096;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 50);
    assert_int_equal(fl_seglog_durable_recno(f->log), 50);
    /* on_durable runs from the loop, never inside append */
    assert_int_equal(f->durable_calls, 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1);
    assert_int_equal(f->durable_seen, 50);
    fx_power_loss_exact(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 50);
}

static void test_sync_batch_window(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_BATCH;
    f->o.batch_window_us = 1000;
    f->o.batch_count = 0;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 10);
    assert_int_equal(fl_seglog_durable_recno(f->log), 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 999);
    assert_int_equal(f->durable_calls, 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1);
    assert_int_equal(f->durable_calls, 1);
    assert_int_equal(f->durable_seen, 10);
    assert_int_equal(fl_seglog_durable_recno(f->log), 10);
    append_n(f, 5); /* the window is armed but never fires */
    sim_run_until(f->ctx, sim_now(f->ctx) + 500);
    fx_power_loss_exact(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 10);
    assert_int_equal(fl_seglog_next_recno(f->log), 11);
}

static void test_sync_batch_count(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_BATCH;
    f->o.batch_window_us = 1000000;
    f->o.batch_count = 4;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 3);
    assert_int_equal(fl_seglog_durable_recno(f->log), 0);
    append_n(f, 1);
    assert_int_equal(fl_seglog_durable_recno(f->log), 4);
    assert_int_equal(f->durable_calls, 0);
    append_n(f, 2);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1);
    assert_int_equal(f->durable_seen, 4);
    /* close syncs everything under batch */
    fx_close(f);
    sim_node_crash(f->node);
    sim_disk_power_loss_exact(f->disk);
    assert_int_equal(sim_node_restart(f->node), 0);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 6);
}

static void test_sync_none(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_NONE;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 10);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000000);
    assert_int_equal(f->durable_calls, 0);
    assert_int_equal(fl_seglog_durable_recno(f->log), 0);
    /* a process crash keeps everything */
    fx_crash(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 10);
    assert_int_equal(fl_seglog_durable_recno(f->log), 10); /* open synced what it found */
    fx_power_loss_exact(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 10);
    append_n(f, 10);
    /* an explicit sync calls on_durable before it returns */
    assert_int_equal(fl_seglog_sync(f->log), 0);
    assert_int_equal(f->durable_seen, 20);
    append_n(f, 5);
    /* a power loss loses what was not synced */
    fx_power_loss_exact(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 20);
}

/* Under none the log syncs nothing on its own: appends, rotations, segment
 * creation and deletion and close all succeed while every file and
 * directory sync would fail. */
static void test_sync_none_never_syncs_on_its_own(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_NONE;
    f->o.segment_size = 1100; /* 7 records per segment */
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_SYNC, 1, true, NULL), 0);
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_DIR_SYNC, 1, true, NULL), 0);
    append_n(f, 40);
    assert_int_equal(fl_seglog_rotate(f->log), 0);
    append_n(f, 2);
    assert_int_equal(segments(f).n, 7);
    assert_int_equal(fl_seglog_delete_before(f->log, 22), 0);
    assert_int_equal(segments(f).n, 4);
    sim_run_until(f->ctx, sim_now(f->ctx) + 10000000);
    assert_int_equal(fl_seglog_durable_recno(f->log), 0);
    assert_int_equal(f->durable_calls, 0);
    /* only the owner's sync syncs, and it fails here */
    assert_int_equal(fl_seglog_sync(f->log), FL_E_SYNC_FAILED);
    fx_close(f);
    sim_disk_clear_faults(f->disk);
    /* a process crash keeps everything, deletions included */
    fx_crash(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 22, 42);
    assert_report_clean(f);
}

/* fl_seglog_sync under none makes every append durable, also those in
 * segments sealed since the last sync, and the directory entries. */
static void test_sync_none_sync_covers_sealed_segments(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_NONE;
    f->o.segment_size = 1100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 5);
    assert_int_equal(fl_seglog_sync(f->log), 0);
    assert_int_equal(f->durable_seen, 5);
    append_n(f, 30); /* four rotations since the sync */
    assert_int_equal(fl_seglog_delete_before(f->log, 8), 0);
    assert_int_equal(fl_seglog_durable_recno(f->log), 5);
    assert_int_equal(fl_seglog_sync(f->log), 0);
    assert_int_equal(fl_seglog_durable_recno(f->log), 35);
    assert_int_equal(f->durable_seen, 35);
    append_n(f, 3);
    fx_power_loss_exact(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 8, 35); /* the deletion was made durable too */
    assert_report_clean(f);
}

/* After a process crash, open makes what it kept durable: a power loss right
 * after the reopen loses nothing, even of segments sealed unsynced. */
static void test_sync_none_open_syncs_what_it_kept(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_NONE;
    f->o.segment_size = 1100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 30);
    fx_crash(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 30);
    assert_int_equal(fl_seglog_durable_recno(f->log), 30);
    fx_power_loss_exact(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 30);
    assert_report_clean(f);
}

/* How a none-policy power loss is made in test_none_power_loss_matrix. */
enum none_loss {
    NL_EXACT,     /* every unsynced write and entry lost */
    NL_TEAR,      /* PRNG prefix of the pending writes, the last torn */
    NL_DIR_EXACT, /* as a file system that wrote the directory but no data */
    NL_DIR_TEAR,  /* ... and a PRNG prefix of the data */
    NL_COUNT
};

static uint64_t xorshift(void *arg)
{
    uint64_t *x = arg;
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

#define NL_SYNCED   10 /* records made durable by fl_seglog_sync */
#define NL_APPENDED 40 /* records appended in all (several rotations) */

/* Check one recovery after a none-policy power loss: never a damaged record
 * (collect checks every payload), numbers increasing, the synced ones kept
 * where the mode keeps anything, every drop reported. Returns the open's
 * result. */
static int check_none_recovery(fx *f, int mode, enum none_loss how)
{
    int rc = fx_open(f);
    if (rc != 0) {
        /* refusing is the documented outcome of strict and tolerate */
        assert_int_equal(rc, FL_E_DAMAGED);
        assert_true(mode == FL_RECOVERY_STRICT || mode == FL_RECOVERY_TOLERATE_TORN_TAIL);
        assert_true(f->err[0] != '\0');
        /* a clean loss (every write whole, no stray entry) is not damage */
        assert_true(how != NL_EXACT);
        return rc;
    }
    for (size_t i = 1; i < f->ngot; i++)
        assert_true(f->got[i] > f->got[i - 1]);
    assert_true(f->ngot >= NL_SYNCED);
    for (size_t i = 0; i < NL_SYNCED; i++)
        assert_int_equal(f->got[i], i + 1);
    if (f->ngot)
        assert_true(f->got[f->ngot - 1] <= NL_APPENDED);
    uint64_t last = f->ngot ? f->got[f->ngot - 1] : 0;
    uint64_t next = fl_seglog_next_recno(f->log);
    assert_true(next > last);
    /* every number below next that was not yielded (salvage: a gap between
     * segments or inside one, or a kept segment with no records left) is
     * counted as dropped */
    uint64_t gaps = next - 1 - f->ngot;
    if (f->rep.records_dropped < gaps)
        fail_msg("mode %d loss %d: %llu numbers missing, %llu reported dropped (%s)", mode,
                 (int)how, (unsigned long long)gaps, (unsigned long long)f->rep.records_dropped,
                 f->rep.text);
    if (gaps)
        assert_int_equal(mode, FL_RECOVERY_SALVAGE);
    assert_int_equal(f->rep.bytes_quarantined, f->rep.bytes_dropped);
    if (f->rep.records_dropped || f->rep.bytes_dropped)
        assert_true(f->rep.text[0] != '\0');
    if (how == NL_EXACT)
        assert_report_clean(f);
    return 0;
}

/* Under none, a power loss after several rotations and a deletion, in every
 * recovery mode and four flavours of loss: nothing damaged is ever
 * returned, what was synced survives wherever the mode keeps the log, drops
 * are reported, and the log goes on working. */
static void test_none_power_loss_matrix(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    unsigned refused = 0;
    for (int how = NL_EXACT; how < NL_COUNT; how++) {
        unsigned seeds = how == NL_EXACT || how == NL_DIR_EXACT ? 1 : 25;
        for (unsigned seed = 1; seed <= seeds; seed++) {
            for (size_t m = 0; m < 4; m++) {
                void *st = NULL;
                assert_int_equal(setup(&st), 0);
                fx *f = st;
                f->o.sync = FL_SYNC_NONE;
                f->o.segment_size = 1100; /* 7 records per segment */
                f->o.recovery = modes[m];
                assert_int_equal(fx_open(f), 0);
                append_n(f, NL_SYNCED);
                assert_int_equal(fl_seglog_sync(f->log), 0);
                append_n(f, NL_APPENDED - NL_SYNCED);
                assert_true(segments(f).n >= 5);
                if (how == NL_EXACT || how == NL_TEAR) /* deleted ones may come back */
                    assert_int_equal(fl_seglog_delete_before(f->log, 15), 0);
                sim_node_crash(f->node);
                fx_close(f);
                if (how == NL_DIR_EXACT || how == NL_DIR_TEAR)
                    assert_int_equal(sim_disk_dir_sync(f->disk, DIR), 0);
                uint64_t x = 0x9e3779b97f4a7c15ull * seed + (uint64_t)m;
                if (how == NL_EXACT || how == NL_DIR_EXACT)
                    sim_disk_power_loss_exact(f->disk);
                else
                    sim_disk_power_loss(f->disk, xorshift, &x);
                assert_int_equal(sim_node_restart(f->node), 0);
                int rc = check_none_recovery(f, modes[m], (enum none_loss)how);
                if (rc != 0) {
                    refused++;
                    /* salvage opens what strict refused, with the same guarantees */
                    f->o.recovery = FL_RECOVERY_SALVAGE;
                    assert_int_equal(
                        check_none_recovery(f, FL_RECOVERY_SALVAGE, (enum none_loss)how), 0);
                }
                /* the log goes on: new records after the survivors, kept by
                 * a reopen in the same mode (salvage may report its holes
                 * again, nothing else) */
                size_t kept = f->ngot;
                uint64_t next = fl_seglog_next_recno(f->log);
                append_n(f, 3);
                assert_int_equal(fl_seglog_sync(f->log), 0);
                uint64_t *before = malloc(kept * sizeof *before);
                assert_true(kept == 0 || before != NULL);
                if (kept)
                    memcpy(before, f->got, kept * sizeof *before);
                fx_close(f);
                assert_int_equal(fx_open(f), 0);
                assert_int_equal(f->ngot, kept + 3);
                if (kept)
                    assert_memory_equal(f->got, before, kept * sizeof *before);
                for (size_t i = 0; i < 3; i++)
                    assert_int_equal(f->got[kept + i], next + i);
                if (f->o.recovery != FL_RECOVERY_SALVAGE)
                    assert_report_clean(f);
                free(before);
                teardown(&st);
            }
        }
    }
    assert_true(refused > 0); /* the damaging flavours did hit strict */
}

/* ------------------------------------------------------------------ */
/* recovery under file faults, in every mode */

enum fault { F_TORN_TAIL, F_BIT_FLIP, F_TRUNCATE, F_ZERO_SECTOR };

typedef struct expect {
    int rc;                    /* of the open */
    uint64_t surv_lo, surv_hi; /* survivors: lo..hi ... */
    uint64_t hole_lo, hole_hi; /* ... minus hole_lo..hole_hi (salvage) */
    uint64_t dropped;          /* records_dropped */
    uint64_t bytes;            /* bytes_dropped == bytes_quarantined */
    uint64_t drop_off;         /* first dropped byte */
    uint64_t size_after;       /* segment size after recovery */
} expect;

#define N_REC   20
#define SEG_END REC_OFF(N_REC + 1)

/* Build a one-segment log of N_REC records, apply the fault (as media damage
 * after a crash, or as a torn power loss). Returns the segment path. */
static void build_and_damage(fx *f, enum fault fault, char *path, size_t cap)
{
    f->o.sync = fault == F_TORN_TAIL ? FL_SYNC_NONE : FL_SYNC_ALWAYS;
    int mode = f->o.recovery;
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    append_n(f, N_REC);
    seglist l = segments(f);
    assert_int_equal(l.n, 1);
    seg_file(l.s[0].id, path, cap);
    sim_node_crash(f->node);
    fx_close(f);
    switch (fault) {
    case F_TORN_TAIL:
        /* Under none nothing synced the new segment: its directory entry is
         * made durable here (as a file system may do on its own); the
         * header and every append but the last survive, 50 bytes of the
         * last. */
        assert_int_equal(sim_disk_dir_sync(f->disk, DIR), 0);
        assert_int_equal(sim_disk_power_loss_at(f->disk, path, 1 + N_REC, 50), 0);
        break;
    case F_BIT_FLIP:
        assert_int_equal(sim_disk_flip_bit(f->disk, path, REC_OFF(10) + 40, 3), 0);
        break;
    case F_TRUNCATE:
        assert_int_equal(sim_disk_truncate_file(f->disk, path, REC_OFF(15) + 60), 0);
        break;
    case F_ZERO_SECTOR:
        assert_int_equal(sim_disk_zero_sector(f->disk, path, 2), 0); /* bytes 1024..1535 */
        break;
    }
    assert_int_equal(sim_node_restart(f->node), 0);
    f->o.recovery = mode;
    f->o.sync = FL_SYNC_ALWAYS;
}

static expect expected(enum fault fault, int mode)
{
    expect e = {0};
    if (mode == FL_RECOVERY_STRICT) {
        e.rc = FL_E_DAMAGED;
        return e;
    }
    switch (fault) {
    case F_TORN_TAIL:
        e = (expect){0, 1, 19, 0, 0, 1, 50, REC_OFF(20), REC_OFF(20)};
        break;
    case F_TRUNCATE:
        e = (expect){0, 1, 14, 0, 0, 1, 60, REC_OFF(15), REC_OFF(15)};
        break;
    case F_BIT_FLIP:
        if (mode == FL_RECOVERY_TOLERATE_TORN_TAIL)
            e.rc = FL_E_DAMAGED;
        else if (mode == FL_RECOVERY_POINT_IN_TIME)
            e = (expect){0, 1, 9, 0, 0, 11, SEG_END - REC_OFF(10), REC_OFF(10), REC_OFF(10)};
        else
            e = (expect){0, 1, 20, 10, 10, 1, RECSIZE, REC_OFF(10), SEG_END};
        break;
    case F_ZERO_SECTOR: /* records 8 (988..1120) to 12 (1516..1648) are hit */
        if (mode == FL_RECOVERY_TOLERATE_TORN_TAIL)
            e.rc = FL_E_DAMAGED;
        else if (mode == FL_RECOVERY_POINT_IN_TIME)
            e = (expect){0, 1, 7, 0, 0, 13, SEG_END - REC_OFF(8), REC_OFF(8), REC_OFF(8)};
        else
            e = (expect){0, 1, 20, 8, 12, 5, REC_OFF(13) - REC_OFF(8), REC_OFF(8), SEG_END};
        break;
    }
    return e;
}

static void assert_survivors(fx *f, const expect *e, uint64_t extra_hi)
{
    size_t k = 0;
    for (uint64_t r = e->surv_lo; r <= extra_hi; r++) {
        if (e->hole_lo && r >= e->hole_lo && r <= e->hole_hi)
            continue;
        assert_true(k < f->ngot);
        assert_int_equal(f->got[k], r);
        k++;
    }
    assert_int_equal(k, f->ngot);
}

static int history_has(fx *f, const char *needle)
{
    sim_history *h = sim_ctx_history(f->ctx);
    for (size_t i = 0; i < sim_history_tail_count(h); i++)
        if (strstr(sim_history_tail_line(h, i), needle))
            return 1;
    return 0;
}

static void run_fault_case(fx *f, enum fault fault, int mode)
{
    static const char *const fault_names[] = {"torn_tail", "bit_flip", "truncate", "zero_sector"};
    char path[64], qpath[80];
    f->o.recovery = mode;
    build_and_damage(f, fault, path, sizeof path);
    snprintf(qpath, sizeof qpath, "%s.quarantine", path);
    uint8_t *damaged = NULL, *after = NULL, *q = NULL;
    size_t dlen = 0, alen = 0, qlen = 0;
    assert_int_equal(sim_disk_read_current(f->disk, path, &damaged, &dlen), 0);

    expect e = expected(fault, mode);
    int rc = fx_open(f);
    if (rc != e.rc)
        fail_msg("%s/%s: open %s (%s), expected %s", fault_names[fault],
                 fl_recovery_mode_name((fl_recovery_mode)mode), fl_err_name(rc), f->err,
                 fl_err_name(e.rc));
    if (e.rc) {
        /* refused: nothing on disk changed */
        assert_true(strstr(f->err, "refuses") != NULL);
        assert_false(sim_disk_exists(f->disk, qpath, 0));
        assert_int_equal(sim_disk_read_current(f->disk, path, &after, &alen), 0);
        assert_int_equal(alen, dlen);
        assert_memory_equal(after, damaged, dlen);
        free(after);
        free(damaged);
        return;
    }
    /* what survived, and what the report says */
    assert_survivors(f, &e, e.surv_hi);
    assert_int_equal(f->rep.records_ok, f->ngot);
    assert_int_equal(f->rep.records_dropped, e.dropped);
    assert_int_equal(f->rep.bytes_dropped, e.bytes);
    assert_int_equal(f->rep.bytes_quarantined, e.bytes);
    char needle[64];
    snprintf(needle, sizeof needle, ".seg@%llu+%llu", (unsigned long long)e.drop_off,
             (unsigned long long)e.bytes);
    if (!strstr(f->rep.text, needle))
        fail_msg("report text '%s' lacks '%s'", f->rep.text, needle);
    snprintf(needle, sizeof needle, "\"offset\":%llu", (unsigned long long)e.drop_off);
    assert_true(history_has(f, "recovery_drop"));
    assert_true(history_has(f, needle));
    /* the quarantine holds the damaged bytes, durably */
    assert_int_equal(sim_disk_read_durable(f->disk, qpath, &q, &qlen), 0);
    assert_int_equal(qlen, e.bytes);
    assert_memory_equal(q, damaged + e.drop_off, e.bytes);
    /* the tail was cut and the cut is durable */
    sim_disk_file_info info;
    assert_int_equal(sim_disk_stat(f->disk, path, &info), 0);
    assert_int_equal(info.durable_size, e.size_after);
    assert_int_equal(info.current_size, e.size_after);
    /* new appends continue after the survivors and recover next time */
    uint64_t next = fl_seglog_next_recno(f->log);
    assert_int_equal(next, e.surv_hi + 1);
    append_n(f, 5);
    fx_power_loss_exact(f);
    assert_int_equal(fx_open(f), 0);
    assert_survivors(f, &e, next + 4);
    if (e.hole_lo) {
        /* salvage leaves the damaged region in place: reported again */
        assert_int_equal(f->rep.records_dropped, e.dropped);
    } else {
        assert_report_clean(f);
    }
    fx_close(f);
    free(q);
    free(damaged);
}

static void test_fault_matrix(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (int fault = F_TORN_TAIL; fault <= F_ZERO_SECTOR; fault++) {
        for (size_t m = 0; m < 4; m++) {
            void *st = NULL;
            assert_int_equal(setup(&st), 0);
            run_fault_case(st, (enum fault)fault, modes[m]);
            teardown(&st);
        }
    }
}

/* Random torn power losses: what survives is a prefix including everything
 * that was durable, and the log keeps working. */
static void test_random_power_loss(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        f->o.sync = FL_SYNC_NONE;
        f->o.segment_size = 2048;
        f->o.recovery = FL_RECOVERY_TOLERATE_TORN_TAIL;
        assert_int_equal(fx_open(f), 0);
        append_n(f, 30);
        assert_int_equal(fl_seglog_sync(f->log), 0);
        append_n(f, (unsigned)(seed % 17) + 1);
        uint64_t appended = fl_seglog_next_recno(f->log) - 1;
        sim_node_power_loss(f->node);
        fx_close(f);
        assert_int_equal(sim_node_restart(f->node), 0);
        int rc = fx_open(f);
        if (rc)
            fail_msg("seed %llu: %s", (unsigned long long)seed, f->err);
        assert_true(f->ngot >= 30 && f->ngot <= appended);
        assert_got_range(f, 1, f->ngot);
        append_n(f, 3);
        size_t kept = f->ngot + 3;
        fx_close(f);
        f->o.recovery = FL_RECOVERY_STRICT;
        assert_int_equal(fx_open(f), 0);
        assert_got_range(f, 1, kept);
        teardown(&st);
    }
}

/* Build three sealed-and-chained segments plus the active one. */
static seglist build_segments(fx *f)
{
    f->o.segment_size = 1100; /* 7 records per segment */
    assert_int_equal(fx_open(f), 0);
    append_n(f, 25);
    seglist l = segments(f);
    assert_int_equal(l.n, 4);
    fx_crash(f);
    return l;
}

static void test_damage_in_older_segment(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (size_t m = 0; m < 4; m++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        seglist l = build_segments(f);
        char path[64];
        seg_file(l.s[1].id, path, sizeof path);
        /* flip a bit in the payload of record 10 (the 3rd of segment 2) */
        assert_int_equal(sim_disk_flip_bit(f->disk, path, REC_OFF(3) + 50, 0), 0);
        f->o.recovery = modes[m];
        int rc = fx_open(f);
        if (m < 2) {
            assert_int_equal(rc, FL_E_DAMAGED);
        } else if (modes[m] == FL_RECOVERY_POINT_IN_TIME) {
            assert_int_equal(rc, 0);
            assert_got_range(f, 1, 9);
            /* records 10..14 of segment 2 and all of segments 3 and 4 */
            assert_int_equal(f->rep.records_dropped, 25 - 9);
            assert_int_equal(segments(f).n, 2);
            char p3[64];
            seg_file(l.s[2].id, p3, sizeof p3);
            assert_false(sim_disk_exists(f->disk, p3, 1));
            strcat(p3, ".quarantine");
            assert_true(sim_disk_exists(f->disk, p3, 1));
            append_n(f, 2);
            fx_close(f);
            f->o.recovery = FL_RECOVERY_STRICT;
            assert_int_equal(fx_open(f), 0);
            assert_got_range(f, 1, 11);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(f->ngot, 24);
            assert_int_equal(f->rep.records_dropped, 1);
            assert_int_equal(segments(f).n, 4);
            assert_int_equal(fl_seglog_next_recno(f->log), 26);
            /* reads skip the hole */
            assert_int_equal(read_collect(f, 8), 0);
            assert_int_equal(f->ngot, 25 - 8);
            assert_int_equal(f->got[2], 11);
        }
        teardown(&st);
    }
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random media damage to a multi-segment log: point_in_time keeps a prefix,
 * salvage an increasing subset; both leave a log that takes new appends and
 * recovers them. */
static void test_random_damage(void **state)
{
    static const int modes[] = {FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        for (size_t m = 0; m < 2; m++) {
            void *st = NULL;
            assert_int_equal(setup(&st), 0);
            fx *f = st;
            seglist l = build_segments(f);
            uint64_t x = seed;
            for (int k = 0; k < 1 + (int)(seed % 3); k++) {
                const fl_seglog_segment *sg = &l.s[splitmix(&x) % l.n];
                char path[64];
                seg_file(sg->id, path, sizeof path);
                uint64_t off = splitmix(&x) % sg->bytes;
                switch (splitmix(&x) % 4) {
                case 0:
                    sim_disk_flip_bit(f->disk, path, off, (int)(splitmix(&x) % 8));
                    break;
                case 1:
                    sim_disk_truncate_file(f->disk, path, off);
                    break;
                case 2:
                    sim_disk_zero_sector(f->disk, path, off / 512);
                    break;
                default:
                    sim_disk_file_unlink(f->disk, path);
                    break;
                }
            }
            f->o.recovery = modes[m];
            int rc = fx_open(f);
            if (rc)
                fail_msg("seed %llu %s: %s", (unsigned long long)seed,
                         fl_recovery_mode_name((fl_recovery_mode)modes[m]), f->err);
            /* point_in_time: one contiguous run (a lost first segment looks
             * like one removed by delete_before) */
            if (modes[m] == FL_RECOVERY_POINT_IN_TIME && f->ngot)
                assert_got_range(f, f->got[0], f->got[0] + f->ngot - 1);
            for (size_t i = 1; i < f->ngot; i++)
                assert_true(f->got[i] > f->got[i - 1]);
            uint64_t *before = malloc((f->ngot + 1) * sizeof *before);
            assert_non_null(before);
            if (f->ngot)
                memcpy(before, f->got, f->ngot * sizeof *before);
            size_t nbefore = f->ngot;
            uint64_t next = fl_seglog_next_recno(f->log);
            /* salvage may continue past lost numbers (the newest segment's
             * header says where it starts) */
            if (nbefore && (next <= before[nbefore - 1] || (modes[m] == FL_RECOVERY_POINT_IN_TIME &&
                                                            next != before[nbefore - 1] + 1)))
                fail_msg("seed %llu %s: next %llu after %llu (%s)", (unsigned long long)seed,
                         fl_recovery_mode_name((fl_recovery_mode)modes[m]),
                         (unsigned long long)next, (unsigned long long)before[nbefore - 1],
                         f->rep.text);
            append_n(f, 3);
            fx_close(f);
            assert_int_equal(fx_open(f), 0);
            assert_int_equal(f->ngot, nbefore + 3);
            if (nbefore)
                assert_memory_equal(f->got, before, nbefore * sizeof *before);
            for (size_t i = 0; i < 3; i++)
                assert_int_equal(f->got[nbefore + i], next + i);
            if (modes[m] == FL_RECOVERY_POINT_IN_TIME)
                assert_report_clean(f);
            free(before);
            teardown(&st);
        }
    }
}

static void test_missing_middle_segment(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (size_t m = 0; m < 4; m++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        seglist l = build_segments(f);
        char path[64];
        seg_file(l.s[1].id, path, sizeof path);
        assert_int_equal(sim_disk_file_unlink(f->disk, path), 0);
        f->o.recovery = modes[m];
        int rc = fx_open(f);
        if (m < 2) {
            assert_int_equal(rc, FL_E_DAMAGED);
        } else if (modes[m] == FL_RECOVERY_POINT_IN_TIME) {
            assert_int_equal(rc, 0);
            assert_got_range(f, 1, 7);
            assert_int_equal(segments(f).n, 1);
            assert_int_equal(fl_seglog_next_recno(f->log), 8);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(f->ngot, 25 - 7);
            assert_int_equal(f->rep.records_dropped, 7); /* 8..14 */
            assert_true(strstr(f->rep.text, "chain_break") != NULL);
            assert_int_equal(fl_seglog_next_recno(f->log), 26);
        }
        teardown(&st);
    }
}

static void test_bad_header_last_segment(void **state)
{
    fx *f = *state;
    seglist l = build_segments(f);
    char path[64];
    seg_file(l.s[3].id, path, sizeof path);
    assert_int_equal(sim_disk_flip_bit(f->disk, path, 20, 1), 0); /* in the id */
    f->o.recovery = FL_RECOVERY_TOLERATE_TORN_TAIL;
    assert_int_equal(fx_open(f), FL_E_DAMAGED);
    f->o.recovery = FL_RECOVERY_POINT_IN_TIME;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 21);
    assert_int_equal(f->rep.records_dropped, 0); /* its records are unknown */
    assert_true(f->rep.bytes_quarantined > 0);
    /* the newest kept segment is sealed: the next append starts a new one */
    append_n(f, 1);
    assert_int_equal(segments(f).n, 4);
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 22);
}

static void test_unsealed_older_segment_resealed(void **state)
{
    fx *f = *state;
    seglist l = build_segments(f);
    char path[64];
    seg_file(l.s[0].id, path, sizeof path);
    /* lose exactly the seal of the first segment */
    assert_int_equal(sim_disk_truncate_file(f->disk, path, l.s[0].bytes - FL_SEAL_RECORD_SIZE), 0);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), FL_E_DAMAGED);
    f->o.recovery = FL_RECOVERY_TOLERATE_TORN_TAIL;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 25);
    assert_report_clean(f); /* nothing lost: the successor proves it */
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0); /* the seal was written again */
    assert_got_range(f, 1, 25);
}

static void test_empty_newest_file(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 3);
    fx_crash(f);
    fl_file *h = NULL;
    assert_int_equal(sim_disk_file_open(f->disk, DIR "/ffffffffffffff00.seg",
                                        FL_FILE_WRITE | FL_FILE_CREATE, &h),
                     0);
    sim_disk_file_close(f->disk, h);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 3);
    assert_false(sim_disk_exists(f->disk, DIR "/ffffffffffffff00.seg", 0));
    append_n(f, 1);
    /* ids keep increasing past every name seen */
    seglist l = segments(f);
    assert_int_equal(l.n, 1);
}

/* ------------------------------------------------------------------ */
/* I/O errors and ENOSPC */

static void test_write_error_leaves_log_unchanged(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 5);
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_WRITE, 1, false, NULL), 0);
    uint64_t r = 0;
    assert_int_equal(append_one(f, &r), FL_E_IO);
    assert_int_equal(fl_seglog_next_recno(f->log), 6);
    assert_true(strstr(fl_seglog_last_error(f->log), "append") != NULL);
    assert_int_equal(append_one(f, &r), 0);
    assert_int_equal(r, 6);
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 6);
}

static void test_sync_error_poisons(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 5);
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    assert_int_equal(append_one(f, NULL), FL_E_SYNC_FAILED);
    assert_int_equal(append_one(f, NULL), FL_E_SYNC_FAILED);
    assert_int_equal(fl_seglog_sync(f->log), FL_E_SYNC_FAILED);
    assert_int_equal(fl_seglog_rotate(f->log), FL_E_SYNC_FAILED);
    assert_int_equal(fl_seglog_delete_before(f->log, 3), FL_E_SYNC_FAILED);
    assert_int_equal(read_collect(f, 1), FL_E_SYNC_FAILED);
    assert_int_equal(fl_seglog_durable_recno(f->log), 5);
    fx_close(f);
    /* reopen and recover: the record whose sync failed may or may not be there */
    assert_int_equal(fx_open(f), 0);
    assert_true(f->ngot == 5 || f->ngot == 6);
    assert_got_range(f, 1, f->ngot);
    append_n(f, 1);
}

static void test_batch_timer_sync_error(void **state)
{
    fx *f = *state;
    f->o.sync = FL_SYNC_BATCH;
    f->o.batch_window_us = 100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 2);
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_SYNC, 1, false, NULL), 0);
    sim_run_until(f->ctx, sim_now(f->ctx) + 1000);
    assert_int_equal(f->durable_calls, 0);
    assert_int_equal(append_one(f, NULL), FL_E_SYNC_FAILED);
}

static void test_enospc(void **state)
{
    fx *f = *state;
    f->o.segment_size = 1100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 3);
    uint64_t total = sim_disk_total_bytes(f->disk);
    sim_disk_set_space_budget(f->disk, total + RECSIZE - 1);
    assert_int_equal(append_one(f, NULL), FL_E_NOSPC);
    assert_int_equal(fl_seglog_next_recno(f->log), 4);
    sim_disk_set_space_budget(f->disk, UINT64_MAX);
    append_n(f, 4); /* 7 records: the segment is full */
    /* room for the seal but not for the new segment's header */
    total = sim_disk_total_bytes(f->disk);
    sim_disk_set_space_budget(f->disk, total + FL_SEAL_RECORD_SIZE);
    assert_int_equal(append_one(f, NULL), FL_E_NOSPC);
    assert_int_equal(fl_seglog_next_recno(f->log), 8);
    assert_int_equal(segments(f).n, 1);
    sim_disk_set_space_budget(f->disk, UINT64_MAX);
    append_n(f, 1);
    assert_int_equal(segments(f).n, 2);
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 8);
}

static void test_failed_creation_then_crash(void **state)
{
    fx *f = *state;
    f->o.segment_size = 1100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 7);
    /* the new segment's file cannot be created: the old one stays sealed */
    assert_int_equal(sim_disk_inject_io_error(f->disk, SIM_DISK_OP_OPEN, 1, false, NULL), 0);
    assert_int_equal(append_one(f, NULL), FL_E_IO);
    fx_power_loss_exact(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0); /* a sealed newest segment is not damage */
    assert_got_range(f, 1, 7);
    append_n(f, 1);
    assert_int_equal(segments(f).n, 2);
    fx_close(f);
    assert_int_equal(fx_open(f), 0);
    assert_got_range(f, 1, 8);
}

static int files_cb(void *arg, const char *path)
{
    int *n = arg;
    assert_true(strncmp(path, DIR "/", 4) == 0);
    (*n)++;
    return 0;
}

static void test_list_files(void **state)
{
    fx *f = *state;
    f->o.segment_size = 1100;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 20);
    fl_file *h = NULL;
    assert_int_equal(
        sim_disk_file_open(f->disk, DIR "/other.txt", FL_FILE_WRITE | FL_FILE_CREATE, &h), 0);
    sim_disk_file_close(f->disk, h);
    int n = 0;
    assert_int_equal(fl_seglog_list_files(f->log, files_cb, &n), 0);
    assert_int_equal(n, (int)segments(f).n);
}

/* ------------------------------------------------------------------ */
/* recycling dead segment files (opts.recycle) */

typedef struct dir_count {
    int segs, spares, others;
} dir_count;

static int count_cb(void *arg, const char *name)
{
    dir_count *c = arg;
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".seg") == 0)
        c->segs++;
    else if (n > 6 && strcmp(name + n - 6, ".spare") == 0)
        c->spares++;
    else
        c->others++;
    return 0;
}

static dir_count count_files(fx *f)
{
    dir_count c = {0, 0, 0};
    assert_int_equal(sim_disk_dir_list(f->disk, DIR, count_cb, &c), 0);
    return c;
}

/* The header of segment `id` as it is now (in the cache). */
static fl_seg_header current_header(fx *f, uint64_t id)
{
    char path[64];
    seg_file(id, path, sizeof path);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sim_disk_read_current(f->disk, path, &buf, &len), 0);
    fl_seg_header h;
    assert_int_equal(fl_seg_header_decode(buf, len, &h), 0);
    free(buf);
    return h;
}

static uint64_t current_size(fx *f, uint64_t id)
{
    char path[64];
    seg_file(id, path, sizeof path);
    sim_disk_file_info info;
    assert_int_equal(sim_disk_stat(f->disk, path, &info), 0);
    return info.current_size;
}

/* Append until the log has rotated into a new segment, then delete every
 * segment but the active one. Returns the active segment. */
static fl_seglog_segment rotate_and_prune(fx *f)
{
    uint64_t before = segments(f).s[segments(f).n - 1].id;
    while (segments(f).s[segments(f).n - 1].id == before)
        append_n(f, 1);
    seglist l = segments(f);
    assert_int_equal(fl_seglog_delete_before(f->log, l.s[l.n - 1].first_recno), 0);
    l = segments(f);
    assert_int_equal(l.n, 1);
    return l.s[0];
}

/* Rotation takes the spares delete_before left: the directory never holds
 * more than the live segments plus `recycle` files, a reused file is written
 * over (its size stays that of the old segment, its header says recycled),
 * and every record reads back. In every sync policy. */
static void test_recycle_reuses_spares(void **state)
{
    static const fl_sync_policy pols[] = {FL_SYNC_ALWAYS, FL_SYNC_BATCH, FL_SYNC_NONE};
    (void)state;
    for (size_t p = 0; p < 3; p++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        f->o.sync = pols[p];
        f->o.batch_count = 3;
        f->o.segment_size = 1100; /* 7 records per segment */
        f->o.recycle = 2;
        assert_int_equal(fx_open(f), 0);
        append_n(f, 1);
        unsigned recycled = 0;
        for (int round = 0; round < 8; round++) {
            fl_seglog_segment a = rotate_and_prune(f);
            dir_count c = count_files(f);
            assert_int_equal(c.segs, 1);
            assert_true(c.spares <= 2);
            assert_int_equal(c.others, 0);
            fl_seg_header h = current_header(f, a.id);
            if (round >= 1) {
                /* the previous rounds left spares: this one was reused */
                assert_int_equal(h.flags, FL_SEG_FLAG_RECYCLED);
                assert_true(current_size(f, a.id) > a.bytes); /* written over */
                recycled++;
            }
            if (h.flags == 0)
                assert_int_equal(current_size(f, a.id), a.bytes);
        }
        assert_true(recycled >= 7);
        uint64_t first = fl_seglog_first_recno(f->log), next = fl_seglog_next_recno(f->log);
        assert_int_equal(read_collect(f, first), 0);
        assert_got_range(f, first, next - 1);
        assert_int_equal(fl_seglog_sync(f->log), 0);
        fx_close(f);
        /* reopened: the spares are kept (no more than recycle), the records
         * are there, nothing reported */
        assert_int_equal(fx_open(f), 0);
        assert_report_clean(f);
        assert_got_range(f, first, next - 1);
        assert_true(count_files(f).spares <= 2);
        fl_seglog_segment a = rotate_and_prune(f);
        assert_int_equal(current_header(f, a.id).flags, FL_SEG_FLAG_RECYCLED);
        teardown(&st);
    }
}

/* recycle=0 (the default, the broker journal's) unlinks as before, and
 * strict never recycles whatever recycle says; spares found at open are
 * removed when recycling is off. */
static void test_recycle_off_and_strict(void **state)
{
    static const int modes[] = {FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_STRICT};
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        f->o.segment_size = 1100;
        f->o.recycle = modes[m] == FL_RECOVERY_STRICT ? 4 : 0;
        f->o.recovery = modes[m];
        assert_int_equal(fx_open(f), 0);
        append_n(f, 1);
        for (int round = 0; round < 4; round++) {
            fl_seglog_segment a = rotate_and_prune(f);
            assert_int_equal(count_files(f).spares, 0);
            assert_int_equal(current_header(f, a.id).flags, 0);
            assert_int_equal(current_size(f, a.id), a.bytes);
        }
        teardown(&st);
    }
    /* spares left by an earlier recycling run go when it is off */
    void *st = NULL;
    assert_int_equal(setup(&st), 0);
    fx *f = st;
    f->o.segment_size = 1100;
    f->o.recycle = 3;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 1);
    for (int round = 0; round < 3; round++)
        (void)rotate_and_prune(f);
    append_n(f, 40); /* 6 more segments, one of them over the spare */
    seglist l = segments(f);
    assert_true(l.n >= 5);
    assert_int_equal(fl_seglog_delete_before(f->log, l.s[l.n - 1].first_recno), 0);
    assert_int_equal(count_files(f).spares, 3); /* no more than recycle */
    fx_close(f);
    f->o.recycle = 1;
    assert_int_equal(fx_open(f), 0);
    assert_int_equal(count_files(f).spares, 1); /* the newest one kept */
    fx_close(f);
    f->o.recovery = FL_RECOVERY_STRICT;
    assert_int_equal(fx_open(f), 0);
    assert_report_clean(f); /* a clean close cut the stale bytes: strict opens */
    assert_int_equal(count_files(f).spares, 0);
    teardown(&st);
}

/* Build a recycled active segment holding `n` records (a previous
 * generation's bytes after them). Returns it. */
static fl_seglog_segment build_recycled(fx *f, unsigned n)
{
    f->o.segment_size = 4096; /* 30 records per segment */
    f->o.recycle = 2;
    assert_int_equal(fx_open(f), 0);
    append_n(f, 1);
    (void)rotate_and_prune(f);
    fl_seglog_segment a = rotate_and_prune(f); /* over the first file */
    assert_int_equal(current_header(f, a.id).flags, FL_SEG_FLAG_RECYCLED);
    append_n(f, n - 1);
    seglist l = segments(f);
    a = l.s[l.n - 1];
    assert_int_equal(a.last_recno - a.first_recno + 1, n);
    assert_true(current_size(f, a.id) > a.bytes + 2 * RECSIZE);
    return a;
}

/* Stale bytes after the end of a recycled segment are not damage: a clean
 * reopen, a reopen after a process crash (the stale tail still in the file)
 * and after a power loss that keeps what was synced, in every mode but
 * strict, keep every record and report nothing; strict refuses the crashed
 * one (documented: it cannot tell) and opens it after another mode has. */
static void test_recycle_stale_tail_not_damage(void **state)
{
    static const int modes[] = {FL_RECOVERY_TOLERATE_TORN_TAIL, FL_RECOVERY_POINT_IN_TIME,
                                FL_RECOVERY_SALVAGE};
    (void)state;
    for (int how = 0; how < 3; how++) {
        for (size_t m = 0; m < 3; m++) {
            void *st = NULL;
            assert_int_equal(setup(&st), 0);
            fx *f = st;
            /* recycled under point_in_time (tolerate does not recycle),
             * then read in each non-strict mode */
            f->o.recovery = FL_RECOVERY_POINT_IN_TIME;
            fl_seglog_segment a = build_recycled(f, 5);
            f->o.recovery = modes[m];
            uint64_t first = fl_seglog_first_recno(f->log);
            if (how == 0) {
                fx_close(f);
            } else if (how == 1) {
                fx_crash(f);
                assert_true(current_size(f, a.id) > a.bytes); /* stale tail there */
                f->o.recovery = FL_RECOVERY_STRICT;
                assert_int_equal(fx_open(f), FL_E_DAMAGED);
                f->o.recovery = modes[m];
            } else {
                fx_power_loss_exact(f); /* always: everything was synced */
            }
            assert_int_equal(fx_open(f), 0);
            assert_report_clean(f);
            assert_got_range(f, first, a.last_recno);
            assert_int_equal(current_size(f, a.id), a.bytes); /* cut at open */
            append_n(f, 3);
            fx_crash(f);
            f->o.recovery = FL_RECOVERY_STRICT;
            assert_int_equal(fx_open(f), 0);
            assert_got_range(f, first, a.last_recno + 3);
            teardown(&st);
        }
    }
}

/* Damage in the middle of a recycled segment (records of the segment after
 * it) is damage, per mode, as in a fresh file; what point_in_time drops and
 * quarantines ends with the segment's last record, not with the stale
 * bytes. */
static void test_recycle_damage_in_middle(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (int fault = 0; fault < 2; fault++) {
        for (size_t m = 0; m < 4; m++) {
            void *st = NULL;
            assert_int_equal(setup(&st), 0);
            fx *f = st;
            f->o.recovery = FL_RECOVERY_POINT_IN_TIME;
            fl_seglog_segment a = build_recycled(f, 20);
            uint64_t first = fl_seglog_first_recno(f->log);
            char path[64];
            seg_file(a.id, path, sizeof path);
            fx_crash(f);
            /* records 1-based in the segment: the 6th, or sector 2 (bytes
             * 1024..1535: records 8..12) */
            uint64_t bad_lo = 6, bad_hi = 6;
            if (fault == 0) {
                assert_int_equal(sim_disk_flip_bit(f->disk, path, REC_OFF(6) + 40, 3), 0);
            } else {
                assert_int_equal(sim_disk_zero_sector(f->disk, path, 2), 0);
                bad_lo = (1024 - FL_SEG_HEADER_SIZE) / RECSIZE + 1;
                bad_hi = (1536 - FL_SEG_HEADER_SIZE - 1) / RECSIZE + 1;
            }
            f->o.recovery = modes[m];
            int rc = fx_open(f);
            uint64_t s0 = a.first_recno - 1; /* record k of the segment is s0 + k */
            if (modes[m] == FL_RECOVERY_STRICT || modes[m] == FL_RECOVERY_TOLERATE_TORN_TAIL) {
                assert_int_equal(rc, FL_E_DAMAGED);
            } else if (modes[m] == FL_RECOVERY_POINT_IN_TIME) {
                assert_int_equal(rc, 0);
                assert_got_range(f, first, s0 + bad_lo - 1);
                assert_int_equal(f->rep.records_dropped, 20 - bad_lo + 1);
                assert_int_equal(f->rep.bytes_dropped, REC_OFF(21) - REC_OFF(bad_lo));
                assert_int_equal(f->rep.bytes_quarantined, f->rep.bytes_dropped);
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(f->ngot, a.first_recno - first + 20 - (bad_hi - bad_lo + 1));
                for (size_t i = 1; i < f->ngot; i++)
                    assert_true(f->got[i] > f->got[i - 1]);
                assert_int_equal(f->got[f->ngot - 1], s0 + 20);
                assert_int_equal(f->rep.records_dropped, bad_hi - bad_lo + 1);
            }
            teardown(&st);
        }
    }
}

/* A .seg file holding a valid header of another segment (a recycled file
 * whose rename survived a power loss without its new header) holds nothing
 * of its name: removed in every mode that recycles or reads recycled files,
 * said in the report; strict refuses it. */
static void test_recycle_residue(void **state)
{
    static const int modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    for (size_t m = 0; m < 4; m++) {
        void *st = NULL;
        assert_int_equal(setup(&st), 0);
        fx *f = st;
        f->o.segment_size = 1100;
        f->o.recycle = 2;
        assert_int_equal(fx_open(f), 0);
        append_n(f, 10);
        seglist l = segments(f);
        assert_int_equal(l.n, 2);
        uint64_t next = fl_seglog_next_recno(f->log);
        fx_crash(f);
        /* the spare-to-be: a copy of the first segment named as a newer id */
        char from[64], to[64];
        seg_file(l.s[0].id, from, sizeof from);
        seg_file(l.s[1].id + 1000, to, sizeof to);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(sim_disk_read_current(f->disk, from, &buf, &len), 0);
        fl_file *h = NULL;
        assert_int_equal(sim_disk_file_open(f->disk, to, FL_FILE_WRITE | FL_FILE_CREATE, &h), 0);
        assert_int_equal(sim_disk_file_write(f->disk, h, 0, buf, len), 0);
        sim_disk_file_close(f->disk, h);
        free(buf);
        f->o.recovery = modes[m];
        if (modes[m] == FL_RECOVERY_STRICT) {
            /* strict refuses a file that does not hold what its name says */
            assert_int_equal(fx_open(f), FL_E_DAMAGED);
            assert_true(sim_disk_exists(f->disk, to, 0));
            teardown(&st);
            continue;
        }
        assert_int_equal(fx_open(f), 0);
        /* removed, said in the report's text, not counted as damage */
        assert_int_equal(f->rep.records_dropped, 0);
        assert_non_null(strstr(f->rep.text, "a recycled file's residue"));
        assert_got_range(f, 1, next - 1);
        assert_false(sim_disk_exists(f->disk, to, 0));
        append_n(f, 3);
        fx_close(f);
        assert_int_equal(fx_open(f), 0);
        assert_got_range(f, 1, next + 2);
        teardown(&st);
    }
}

/* Power loss at every append of a run that rotates into recycled files
 * (and prunes), under always, batch and none, in every non-strict mode,
 * with and without the directory made durable first (as a file system may
 * do on its own: under none that keeps renames without the headers they
 * were for): the open never refuses stale bytes (only tolerate under none
 * may refuse, for damage none allows), never yields a stale or damaged
 * record (collect checks payloads, numbers must increase and, outside
 * salvage, be contiguous), and keeps everything that was durable. */
#define RL_STEPS 45
static void test_recycle_power_loss_points(void **state)
{
    static const fl_sync_policy pols[] = {FL_SYNC_ALWAYS, FL_SYNC_BATCH, FL_SYNC_NONE};
    /* the modes that recycle (tolerate_torn_tail and strict do not) */
    static const int modes[] = {FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};
    (void)state;
    unsigned runs = 0, refused = 0;
    for (size_t p = 0; p < 3; p++)
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
            for (int dirsync = 0; dirsync < 2; dirsync++)
                for (unsigned cut = 1; cut <= RL_STEPS; cut++) {
                    void *st = NULL;
                    assert_int_equal(setup(&st), 0);
                    fx *f = st;
                    f->o.sync = pols[p];
                    f->o.batch_count = 3;
                    f->o.segment_size = 1100;
                    f->o.recycle = 2;
                    f->o.recovery = modes[m];
                    assert_int_equal(fx_open(f), 0);
                    for (unsigned i = 1; i <= cut; i++) {
                        append_n(f, 1);
                        if (i % 9 == 0) {
                            seglist l = segments(f);
                            assert_int_equal(
                                fl_seglog_delete_before(f->log, l.s[l.n - 1].first_recno), 0);
                        }
                        if (pols[p] == FL_SYNC_NONE && i % 11 == 0)
                            assert_int_equal(fl_seglog_sync(f->log), 0);
                    }
                    uint64_t first = fl_seglog_first_recno(f->log);
                    uint64_t durable = fl_seglog_durable_recno(f->log);
                    uint64_t appended = fl_seglog_next_recno(f->log) - 1;
                    sim_node_crash(f->node);
                    fx_close(f);
                    if (dirsync)
                        assert_int_equal(sim_disk_dir_sync(f->disk, DIR), 0);
                    uint64_t x = 0x9e3779b97f4a7c15ull * cut + p * 7 + m * 3 + (uint64_t)dirsync;
                    sim_disk_power_loss(f->disk, xorshift, &x);
                    assert_int_equal(sim_node_restart(f->node), 0);
                    runs++;
                    int rc = fx_open(f);
                    if (rc != 0) {
                        if (!(rc == FL_E_DAMAGED && pols[p] == FL_SYNC_NONE &&
                              modes[m] == FL_RECOVERY_TOLERATE_TORN_TAIL))
                            fail_msg("policy %zu mode %d dirsync %d cut %u: %s (%s)", p, modes[m],
                                     dirsync, cut, fl_err_name(rc), f->err);
                        refused++;
                        teardown(&st);
                        continue;
                    }
                    for (size_t i = 1; i < f->ngot; i++) {
                        assert_true(f->got[i] > f->got[i - 1]);
                        if (modes[m] != FL_RECOVERY_SALVAGE)
                            assert_int_equal(f->got[i], f->got[i - 1] + 1);
                    }
                    if (f->ngot)
                        assert_true(f->got[f->ngot - 1] <= appended);
                    /* everything durable from the first live record on */
                    for (uint64_t r = first; r <= durable; r++) {
                        int found = 0;
                        for (size_t i = 0; i < f->ngot && !found; i++)
                            found = f->got[i] == r;
                        if (!found)
                            fail_msg("policy %zu mode %d dirsync %d cut %u: durable %llu lost "
                                     "(%s)",
                                     p, modes[m], dirsync, cut, (unsigned long long)r, f->rep.text);
                    }
                    if (pols[p] != FL_SYNC_NONE && !dirsync)
                        assert_int_equal(f->rep.records_dropped <= 1, 1); /* a torn append */
                    /* the log goes on */
                    uint64_t next = fl_seglog_next_recno(f->log);
                    /* none, with a file system that made the deletion of
                     * every durable segment durable on its own and lost the
                     * newer ones' bytes: the log may restart its numbering,
                     * as it does without recycling */
                    if (pols[p] == FL_SYNC_NONE && dirsync)
                        f->durable_seen = 0;
                    if (next <= f->durable_seen)
                        fail_msg("policy %zu mode %d dirsync %d cut %u: next %llu durable was "
                                 "%llu, first %llu got %zu (%s)",
                                 p, modes[m], dirsync, cut, (unsigned long long)next,
                                 (unsigned long long)f->durable_seen, (unsigned long long)first,
                                 f->ngot, f->rep.text);
                    append_n(f, 12);
                    assert_int_equal(fl_seglog_sync(f->log), 0);
                    fx_close(f);
                    assert_int_equal(fx_open(f), 0);
                    assert_true(f->ngot >= 12);
                    for (size_t i = 0; i < 12; i++)
                        assert_int_equal(f->got[f->ngot - 12 + i], next + i);
                    teardown(&st);
                }
    assert_true(refused < runs / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_policy_parse),
        cmocka_unit_test_setup_teardown(test_options_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appendv_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appendv_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_before_never_reuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_big_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_indexed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_batch_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_batch_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_none_never_syncs_on_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_none_sync_covers_sealed_segments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sync_none_open_syncs_what_it_kept, setup, teardown),
        cmocka_unit_test(test_none_power_loss_matrix),
        cmocka_unit_test(test_fault_matrix),
        cmocka_unit_test(test_random_power_loss),
        cmocka_unit_test(test_damage_in_older_segment),
        cmocka_unit_test(test_missing_middle_segment),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test_setup_teardown(test_bad_header_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsealed_older_segment_resealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_newest_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_leaves_log_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_error_poisons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_timer_sync_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_creation_then_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_files, setup, teardown),
        cmocka_unit_test(test_recycle_reuses_spares),
        cmocka_unit_test(test_recycle_off_and_strict),
        cmocka_unit_test(test_recycle_stale_tail_not_damage),
        cmocka_unit_test(test_recycle_damage_in_middle),
        cmocka_unit_test(test_recycle_residue),
        cmocka_unit_test(test_recycle_power_loss_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
