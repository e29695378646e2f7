/* Unit tests for the simulated disk (simulator/sim_disk.c): the volatile vs
 * durable model checked byte for byte under every fault. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim_disk.h"
#include "faultline/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* helpers */

static int setup(void **state)
{
    sim_disk *d = sim_disk_new();
    if (d == NULL)
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    sim_disk_free(*state);
    return 0;
}

static fl_file *open_rw(sim_disk *d, const char *path)
{
    fl_file *f = NULL;
    assert_int_equal(sim_disk_file_open(d, path, FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE, &f),
                     0);
    assert_non_null(f);
    return f;
}

static void write_at(sim_disk *d, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    assert_int_equal(sim_disk_file_write(d, f, off, buf, len), 0);
}

static void write_str(sim_disk *d, fl_file *f, uint64_t off, const char *s)
{
    write_at(d, f, off, s, strlen(s));
}

/* Create `path` holding `s`, synced and with its directory synced. */
static void make_durable_file(sim_disk *d, const char *path, const char *s)
{
    fl_file *f = open_rw(d, path);
    write_str(d, f, 0, s);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    char dir[256];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    assert_int_equal(sim_disk_dir_sync(d, dir), 0);
    sim_disk_file_close(d, f);
}

static void expect_bytes(const uint8_t *got, size_t got_len, const void *want, size_t want_len)
{
    assert_int_equal(got_len, want_len);
    if (want_len > 0)
        assert_memory_equal(got, want, want_len);
}

static void expect_durable(sim_disk *d, const char *path, const void *want, size_t want_len)
{
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(sim_disk_read_durable(d, path, &got, &len), 0);
    expect_bytes(got, len, want, want_len);
    free(got);
}

static void expect_current(sim_disk *d, const char *path, const void *want, size_t want_len)
{
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(sim_disk_read_current(d, path, &got, &len), 0);
    expect_bytes(got, len, want, want_len);
    free(got);
}

static void expect_both(sim_disk *d, const char *path, const char *s)
{
    expect_durable(d, path, s, strlen(s));
    expect_current(d, path, s, strlen(s));
}

/* expect_both with binary contents. */
static void expect_both_bin(sim_disk *d, const char *path, const void *want, size_t len)
{
    expect_durable(d, path, want, len);
    expect_current(d, path, want, len);
}

/* Read the whole file through a fresh handle. */
static void expect_read_back(sim_disk *d, const char *path, const void *want, size_t want_len)
{
    fl_file *f = NULL;
    assert_int_equal(sim_disk_file_open(d, path, FL_FILE_READ, &f), 0);
    uint64_t size = 0;
    assert_int_equal(sim_disk_file_size(d, f, &size), 0);
    assert_int_equal(size, want_len);
    uint8_t *buf = malloc(want_len + 16);
    assert_non_null(buf);
    size_t n = 0;
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, want_len + 16, &n), 0);
    expect_bytes(buf, n, want, want_len);
    free(buf);
    sim_disk_file_close(d, f);
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* A PRNG returning a scripted sequence (cycled). */
typedef struct script_rng {
    const uint64_t *vals;
    size_t n, i;
} script_rng;

static uint64_t script_next(void *arg)
{
    script_rng *r = arg;
    return r->vals[r->i++ % r->n];
}

static uint64_t splitmix_next(void *arg)
{
    uint64_t *s = arg;
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ */
/* paths */

typedef struct path_case {
    const char *path;
    int want;
} path_case;

static void test_path_validation_files(void **state)
{
    sim_disk *d = *state;
    char longp[SIM_DISK_PATH_MAX + 2];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(sim_disk_dir_create(d, "dir"), 0);
    static const path_case cases[] = {
        {"a", 0},
        {"a.b", 0},
        {"dir/x", 0},
        {"./c", 0},
        {"dir/./y", 0},
        {"..a", 0},
        {"", FL_E_INVAL},
        {".", FL_E_INVAL},
        {"/a", FL_E_INVAL},
        {"a/", FL_E_INVAL},
        {"dir//x", FL_E_INVAL},
        {"..", FL_E_INVAL},
        {"../a", FL_E_INVAL},
        {"dir/../a", FL_E_INVAL},
        {"dir/..", FL_E_INVAL},
        {"dir", FL_E_INVAL}, /* a directory */
        {"nodir/x", FL_E_NOENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_file *f = NULL;
        int rc = sim_disk_file_open(d, cases[i].path, FL_FILE_WRITE | FL_FILE_CREATE, &f);
        if (rc != cases[i].want)
            fail_msg("path \"%s\": got %d want %d", cases[i].path, rc, cases[i].want);
        sim_disk_file_close(d, f);
    }
    fl_file *f = NULL;
    assert_int_equal(sim_disk_file_open(d, longp, FL_FILE_WRITE | FL_FILE_CREATE, &f), FL_E_INVAL);
    assert_int_equal(sim_disk_file_open(d, NULL, FL_FILE_WRITE | FL_FILE_CREATE, &f), FL_E_INVAL);
    /* Normalised names are the same file. */
    assert_true(sim_disk_exists(d, "c", 0));
    assert_true(sim_disk_exists(d, "./dir/y", 0));
    assert_true(sim_disk_exists(d, "dir/y", 0));
    assert_false(sim_disk_exists(d, "dir//y", 0));
    assert_int_equal(sim_disk_file_count(d), 6);
}

static void test_path_validation_dirs(void **state)
{
    sim_disk *d = *state;
    static const path_case cases[] = {
        {"", 0},
        {".", 0},
        {"a/b/c", 0},
        {"./a/./d", 0},
        {"/a", FL_E_INVAL},
        {"a/", FL_E_INVAL},
        {"a//b", FL_E_INVAL},
        {"a/..", FL_E_INVAL},
        {"..", FL_E_INVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = sim_disk_dir_create(d, cases[i].path);
        if (rc != cases[i].want)
            fail_msg("dir \"%s\": got %d want %d", cases[i].path, rc, cases[i].want);
    }
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    assert_int_equal(sim_disk_dir_sync(d, "a/b"), 0);
    assert_int_equal(sim_disk_dir_sync(d, "a/d"), 0);
    assert_int_equal(sim_disk_dir_sync(d, "nope"), FL_E_NOENT);
    assert_int_equal(sim_disk_dir_sync(d, "/a"), FL_E_INVAL);
    /* A file in the way of a directory. */
    fl_file *f = open_rw(d, "a/file");
    sim_disk_file_close(d, f);
    assert_int_equal(sim_disk_dir_create(d, "a/file/sub"), FL_E_EXIST);
    assert_int_equal(sim_disk_dir_create(d, "a/file"), FL_E_EXIST);
}

/* ------------------------------------------------------------------ */
/* open flags and handles */

static void test_open_flags(void **state)
{
    sim_disk *d = *state;
    fl_file *f = NULL;
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_READ, &f), FL_E_NOENT);
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_CREATE, &f), FL_E_INVAL);
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_READ | FL_FILE_TRUNC, &f), FL_E_INVAL);
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_WRITE | FL_FILE_EXCL, &f), FL_E_INVAL);
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_WRITE | 0x100, &f), FL_E_INVAL);
    make_durable_file(d, "x", "hello");
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_EXCL, &f),
                     FL_E_EXIST);

    /* Read-only handle cannot write or truncate; write-only cannot read. */
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_READ, &f), 0);
    assert_int_equal(sim_disk_file_write(d, f, 0, "z", 1), FL_E_INVAL);
    assert_int_equal(sim_disk_file_truncate(d, f, 0), FL_E_INVAL);
    sim_disk_file_close(d, f);
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_WRITE, &f), 0);
    char buf[8];
    size_t n = 99;
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, sizeof buf, &n), FL_E_INVAL);
    assert_int_equal(n, 0);
    sim_disk_file_close(d, f);

    /* TRUNC empties the file, volatile until synced. */
    assert_int_equal(sim_disk_file_open(d, "x", FL_FILE_WRITE | FL_FILE_TRUNC, &f), 0);
    expect_current(d, "x", "", 0);
    expect_durable(d, "x", "hello", 5);
    sim_disk_file_close(d, f);
    sim_disk_power_loss_exact(d);
    expect_both(d, "x", "hello");
}

static void test_read_semantics(void **state)
{
    sim_disk *d = *state;
    fl_file *f = open_rw(d, "r");
    write_str(d, f, 0, "0123456789");
    char buf[16];
    size_t n = 0;
    assert_int_equal(sim_disk_file_read(d, f, 4, buf, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "456", 3);
    assert_int_equal(sim_disk_file_read(d, f, 8, buf, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(sim_disk_file_read(d, f, 10, buf, 16, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sim_disk_file_read(d, f, 1000, buf, 16, &n), 0);
    assert_int_equal(n, 0);
    /* Writing past the end zero-fills the gap. */
    write_str(d, f, 12, "ab");
    expect_current(d, "r", "0123456789\0\0ab", 14);
    assert_int_equal(sim_disk_file_write(d, f, SIM_DISK_MAX_FILE_SIZE, "a", 1), FL_E_OVERFLOW);
    assert_int_equal(sim_disk_file_write(d, f, UINT64_MAX, "a", 1), FL_E_OVERFLOW);
    assert_int_equal(sim_disk_file_truncate(d, f, SIM_DISK_MAX_FILE_SIZE + 1), FL_E_OVERFLOW);
    /* Truncate down and back up: zeros, not the old bytes. */
    assert_int_equal(sim_disk_file_truncate(d, f, 2), 0);
    assert_int_equal(sim_disk_file_truncate(d, f, 5), 0);
    expect_current(d, "r", "01\0\0\0", 5);
    sim_disk_file_close(d, f);
}

static void test_unlinked_file_stays_usable_through_handle(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "u", "abc");
    fl_file *f = open_rw(d, "u");
    assert_int_equal(sim_disk_file_unlink(d, "u"), 0);
    assert_false(sim_disk_exists(d, "u", 0));
    assert_int_equal(sim_disk_file_unlink(d, "u"), FL_E_NOENT);
    write_str(d, f, 3, "def");
    char buf[8];
    size_t n = 0;
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, sizeof buf, &n), 0);
    expect_bytes((uint8_t *)buf, n, "abcdef", 6);
    assert_int_equal(sim_disk_total_bytes(d), 6);
    sim_disk_file_close(d, f);
    /* Still durable (no dir sync), so its durable inode keeps 3 bytes. */
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    assert_int_equal(sim_disk_total_bytes(d), 0);
    assert_false(sim_disk_exists(d, "u", 1));
}

/* ------------------------------------------------------------------ */
/* volatile vs durable contents */

static void test_write_sync_write_power_loss(void **state)
{
    sim_disk *d = *state;
    fl_file *f = open_rw(d, "j");
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    write_str(d, f, 0, "synced-");
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    write_str(d, f, 7, "lost");
    expect_current(d, "j", "synced-lost", 11);
    expect_durable(d, "j", "synced-", 7);
    sim_disk_power_loss_exact(d);
    expect_both(d, "j", "synced-");
    expect_read_back(d, "j", "synced-", 7);
    assert_int_equal(sim_disk_total_bytes(d), 7);
    sim_disk_file_close(d, f);
}

static void test_overwrite_synced_restores_old_bytes(void **state)
{
    sim_disk *d = *state;
    uint8_t orig[3000], cur[3000], patch[700];
    fill_pattern(orig, sizeof orig, 1);
    fill_pattern(patch, sizeof patch, 99);
    fl_file *f = open_rw(d, "data");
    assert_int_equal(sim_disk_dir_sync(d, "."), 0);
    write_at(d, f, 0, orig, sizeof orig);
    assert_int_equal(sim_disk_file_sync(d, f), 0);

    /* Overwrite, overwrite again, shrink below the durable size, extend. */
    write_at(d, f, 100, patch, sizeof patch);
    write_at(d, f, 500, patch, 100);
    assert_int_equal(sim_disk_file_truncate(d, f, 1000), 0);
    write_at(d, f, 1500, patch, 300); /* gap [1000,1500) is zeros */
    write_at(d, f, 2900, patch, 600); /* past the durable end */
    memcpy(cur, orig, sizeof cur);
    memcpy(cur + 100, patch, sizeof patch);
    memcpy(cur + 500, patch, 100);
    memset(cur + 1000, 0, 500);
    memcpy(cur + 1500, patch, 300);
    memset(cur + 1800, 0, 1100);
    uint8_t full[3500];
    memcpy(full, cur, 2900);
    memcpy(full + 2900, patch, 600);
    expect_current(d, "data", full, sizeof full);
    expect_durable(d, "data", orig, sizeof orig);

    sim_disk_power_loss_exact(d);
    expect_both_bin(d, "data", orig, sizeof orig);
    sim_disk_file_close(d, f);
}

static void test_overwrite_synced_restores_old_bytes_exact(void **state)
{
    sim_disk *d = *state;
    uint8_t orig[3000], patch[700];
    fill_pattern(orig, sizeof orig, 1);
    fill_pattern(patch, sizeof patch, 99);
    fl_file *f = open_rw(d, "data");
    assert_int_equal(sim_disk_dir_sync(d, "."), 0);
    write_at(d, f, 0, orig, sizeof orig);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    write_at(d, f, 100, patch, sizeof patch);
    assert_int_equal(sim_disk_file_truncate(d, f, 1000), 0);
    write_at(d, f, 1500, patch, 300);
    write_at(d, f, 2900, patch, 600);
    sim_disk_power_loss_exact(d);
    expect_both_bin(d, "data", orig, sizeof orig);
    expect_read_back(d, "data", orig, sizeof orig);
    sim_disk_file_close(d, f);
}

static void test_sync_after_overwrite_makes_new_bytes_durable(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "s", "aaaaaaaaaa");
    fl_file *f = open_rw(d, "s");
    write_str(d, f, 2, "BB");
    assert_int_equal(sim_disk_file_truncate(d, f, 8), 0);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    write_str(d, f, 0, "C");
    sim_disk_power_loss_exact(d);
    expect_both(d, "s", "aaBBaaaa");
    sim_disk_file_close(d, f);
}

static void test_tear_at_sector_boundary(void **state)
{
    sim_disk *d = *state;
    uint8_t head[100], w[2000], want[2100];
    fill_pattern(head, sizeof head, 3);
    fill_pattern(w, sizeof w, 200);
    fl_file *f = open_rw(d, "t");
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    write_at(d, f, 0, head, sizeof head);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    write_at(d, f, 100, w, sizeof w); /* spans [100, 2100): boundaries 512..2048 */
    memcpy(want, head, sizeof head);
    memcpy(want + 100, w, sizeof w);

    /* k = 1 % 2 -> keep the write; tear choice 2 of 5 -> cut at 1536. */
    static const uint64_t vals[] = {1, 2};
    script_rng r = {vals, 2, 0};
    sim_disk_power_loss(d, script_next, &r);
    assert_int_equal(r.i, 2);
    expect_both_bin(d, "t", want, 1536);
    sim_disk_file_close(d, f);
}

static void test_tear_random_keeps_whole_sectors(void **state)
{
    (void)state;
    uint8_t head[100], w[2000], want[2100];
    fill_pattern(head, sizeof head, 3);
    fill_pattern(w, sizeof w, 200);
    memcpy(want, head, sizeof head);
    memcpy(want + 100, w, sizeof w);
    bool seen[6] = {false};
    static const size_t sizes[6] = {100, 512, 1024, 1536, 2048, 2100};
    for (uint64_t seed = 0; seed < 64; seed++) {
        sim_disk *e = sim_disk_new();
        assert_non_null(e);
        fl_file *f = open_rw(e, "t");
        assert_int_equal(sim_disk_dir_sync(e, ""), 0);
        write_at(e, f, 0, head, sizeof head);
        assert_int_equal(sim_disk_file_sync(e, f), 0);
        write_at(e, f, 100, w, sizeof w);
        uint64_t s = seed;
        sim_disk_power_loss(e, splitmix_next, &s);
        uint8_t *got = NULL;
        size_t len = 0;
        assert_int_equal(sim_disk_read_durable(e, "t", &got, &len), 0);
        size_t which = 6;
        for (size_t i = 0; i < 6; i++)
            if (len == sizes[i])
                which = i;
        if (which == 6)
            fail_msg("seed %llu: torn length %zu not at a sector boundary",
                     (unsigned long long)seed, len);
        seen[which] = true;
        assert_memory_equal(got, want, len);
        free(got);
        sim_disk_file_close(e, f);
        sim_disk_free(e);
    }
    for (size_t i = 0; i < 6; i++)
        assert_true(seen[i]);
}

static void test_power_loss_at_keeps_prefix_of_writes(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "p", "base|");
    make_durable_file(d, "q", "other");
    fl_file *f = open_rw(d, "p");
    write_str(d, f, 5, "one|");
    write_str(d, f, 9, "two|");
    write_str(d, f, 13, "three|");
    fl_file *g = open_rw(d, "q");
    write_str(d, g, 5, "+lost");
    assert_int_equal(sim_disk_power_loss_at(d, "p", 4, 0), FL_E_INVAL);
    assert_int_equal(sim_disk_power_loss_at(d, "zz", 0, 0), FL_E_NOENT);
    assert_int_equal(sim_disk_power_loss_at(d, "p", 3, 2), 0);
    expect_both(d, "p", "base|one|two|th");
    expect_both(d, "q", "other");
    /* Handles were invalidated. */
    assert_int_equal(sim_disk_file_write(d, f, 0, "x", 1), FL_E_CLOSED);
    sim_disk_file_close(d, f);
    sim_disk_file_close(d, g);

    f = open_rw(d, "p");
    write_str(d, f, 0, "BASE");
    write_str(d, f, 15, "ree|");
    assert_int_equal(sim_disk_power_loss_at(d, "p", 1, UINT64_MAX), 0);
    expect_both(d, "p", "BASE|one|two|th");
    sim_disk_file_close(d, f);
}

static void test_power_loss_kept_write_uses_current_bytes(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "w", "");
    fl_file *f = open_rw(d, "w");
    write_str(d, f, 0, "aaaa");
    write_str(d, f, 0, "bb");
    /* Keeping only the first write persists the current bytes of its extent
     * (page-cache writeback), documented in sim_disk.h. */
    assert_int_equal(sim_disk_power_loss_at(d, "w", 1, UINT64_MAX), 0);
    expect_both(d, "w", "bbaa");
    sim_disk_file_close(d, f);
}

/* Truncates in the kept prefix are replayed; a kept write later cut by a
 * truncate persists only up to the current size (documented). */
static void test_power_loss_replays_truncates(void **state)
{
    (void)state;
    static const struct {
        size_t keep_ops;
        uint64_t last_bytes;
        const char *want;
    } cases[] = {
        {0, UINT64_MAX, "0123456789"}, {1, UINT64_MAX, "0123"},
        {2, UINT64_MAX, "0123ab"},     {2, 1, "0123a"},
        {3, UINT64_MAX, "0123ab"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sim_disk *d = sim_disk_new();
        assert_non_null(d);
        make_durable_file(d, "t", "0123456789");
        fl_file *f = open_rw(d, "t");
        assert_int_equal(sim_disk_file_truncate(d, f, 4), 0);
        write_str(d, f, 4, "abcdef");
        assert_int_equal(sim_disk_file_truncate(d, f, 6), 0);
        expect_current(d, "t", "0123ab", 6);
        assert_int_equal(sim_disk_power_loss_at(d, "t", cases[i].keep_ops, cases[i].last_bytes), 0);
        expect_both(d, "t", cases[i].want);
        assert_int_equal(sim_disk_total_bytes(d), strlen(cases[i].want));
        sim_disk_file_close(d, f);
        sim_disk_free(d);
    }
}

static void test_zero_range_damages_durable_copy(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "z", "AAAAAAAA");
    fl_file *f = open_rw(d, "z");
    write_str(d, f, 2, "BBBB");
    assert_int_equal(sim_disk_zero_range(d, "z", 3, 2), 0);
    expect_current(d, "z", "AAB\0\0BAA", 8);
    expect_durable(d, "z", "AAA\0\0AAA", 8);
    sim_disk_power_loss_exact(d);
    expect_both_bin(d, "z", "AAA\0\0AAA", 8);
    sim_disk_file_close(d, f);
}

static void test_fresh_file_rename_and_nested_dir_sync(void **state)
{
    sim_disk *d = *state;
    sim_disk_file_info info;
    assert_int_equal(sim_disk_dir_create(d, "sub"), 0);
    sim_disk_file_close(d, open_rw(d, "n"));
    sim_disk_file_close(d, open_rw(d, "sub/x"));
    assert_int_equal(sim_disk_file_rename(d, "n", "m"), 0);
    assert_int_equal(sim_disk_stat(d, "n", &info), FL_E_NOENT); /* no trace left */
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    assert_true(sim_disk_exists(d, "m", 1));
    assert_false(sim_disk_exists(d, "sub/x", 1)); /* another directory */
    sim_disk_power_loss_exact(d);
    assert_true(sim_disk_exists(d, "m", 0));
    assert_false(sim_disk_exists(d, "sub/x", 0));
    assert_int_equal(sim_disk_file_count(d), 1);
}

/* ------------------------------------------------------------------ */
/* directory entries */

static void test_create_without_dir_sync_disappears(void **state)
{
    sim_disk *d = *state;
    assert_int_equal(sim_disk_dir_create(d, "st"), 0);
    fl_file *f = open_rw(d, "st/new");
    write_str(d, f, 0, "data");
    assert_int_equal(sim_disk_file_sync(d, f), 0); /* data synced, entry not */
    assert_true(sim_disk_exists(d, "st/new", 0));
    assert_false(sim_disk_exists(d, "st/new", 1));
    assert_int_equal(sim_disk_dir_sync(d, ""), 0); /* wrong directory */
    assert_false(sim_disk_exists(d, "st/new", 1));
    sim_disk_file_close(d, f);
    sim_disk_power_loss_exact(d);
    assert_false(sim_disk_exists(d, "st/new", 0));
    assert_int_equal(sim_disk_file_count(d), 0);
    assert_int_equal(sim_disk_total_bytes(d), 0);
    /* The directory itself survives. */
    assert_int_equal(sim_disk_dir_sync(d, "st"), 0);
}

static void test_create_with_dir_sync_survives(void **state)
{
    sim_disk *d = *state;
    assert_int_equal(sim_disk_dir_create(d, "st"), 0);
    fl_file *f = open_rw(d, "st/new");
    write_str(d, f, 0, "data");
    assert_int_equal(sim_disk_dir_sync(d, "st"), 0);
    assert_true(sim_disk_exists(d, "st/new", 1));
    sim_disk_power_loss_exact(d);
    /* Entry survives; its unsynced data does not. */
    assert_true(sim_disk_exists(d, "st/new", 0));
    expect_both(d, "st/new", "");
    sim_disk_file_close(d, f);
}

static void test_rename_without_dir_sync_reverts(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "a", "AAA");
    make_durable_file(d, "b", "BBB");
    assert_int_equal(sim_disk_file_rename(d, "a", "b"), 0);
    assert_false(sim_disk_exists(d, "a", 0));
    expect_current(d, "b", "AAA", 3);
    expect_durable(d, "a", "AAA", 3);
    expect_durable(d, "b", "BBB", 3);
    sim_disk_power_loss_exact(d);
    expect_both(d, "a", "AAA");
    expect_both(d, "b", "BBB");

    assert_int_equal(sim_disk_file_rename(d, "a", "c"), 0);
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    sim_disk_power_loss_exact(d);
    assert_false(sim_disk_exists(d, "a", 0));
    expect_both(d, "c", "AAA");
    expect_both(d, "b", "BBB");
}

static void test_rename_errors_and_cross_directory(void **state)
{
    sim_disk *d = *state;
    assert_int_equal(sim_disk_dir_create(d, "x"), 0);
    assert_int_equal(sim_disk_dir_create(d, "y"), 0);
    make_durable_file(d, "x/f", "F");
    assert_int_equal(sim_disk_file_rename(d, "x/missing", "y/f"), FL_E_NOENT);
    assert_int_equal(sim_disk_file_rename(d, "x/f", "nodir/f"), FL_E_NOENT);
    assert_int_equal(sim_disk_file_rename(d, "x/f", "y"), FL_E_INVAL);
    assert_int_equal(sim_disk_file_rename(d, "x/f", "../f"), FL_E_INVAL);
    assert_int_equal(sim_disk_file_rename(d, "x/f", "./x/f"), 0); /* onto itself */
    expect_both(d, "x/f", "F");
    /* Only the destination directory synced: both names survive. */
    assert_int_equal(sim_disk_file_rename(d, "x/f", "y/f"), 0);
    assert_int_equal(sim_disk_dir_sync(d, "y"), 0);
    sim_disk_power_loss_exact(d);
    expect_both(d, "x/f", "F");
    expect_both(d, "y/f", "F");
}

static void test_unlink_without_dir_sync_resurrects(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "gone", "durable");
    fl_file *f = open_rw(d, "gone");
    write_str(d, f, 7, "+volatile");
    sim_disk_file_close(d, f);
    assert_int_equal(sim_disk_file_unlink(d, "gone"), 0);
    assert_false(sim_disk_exists(d, "gone", 0));
    assert_true(sim_disk_exists(d, "gone", 1));
    assert_int_equal(sim_disk_file_open(d, "gone", FL_FILE_READ, &f), FL_E_NOENT);
    sim_disk_power_loss_exact(d);
    expect_both(d, "gone", "durable");

    assert_int_equal(sim_disk_file_unlink(d, "gone"), 0);
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    sim_disk_power_loss_exact(d);
    assert_false(sim_disk_exists(d, "gone", 0));
    assert_int_equal(sim_disk_file_count(d), 0);
}

static void test_recreate_after_unlink(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "r", "old");
    assert_int_equal(sim_disk_file_unlink(d, "r"), 0);
    fl_file *f = open_rw(d, "r");
    write_str(d, f, 0, "new");
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    expect_current(d, "r", "new", 3);
    expect_durable(d, "r", "old", 3);
    sim_disk_power_loss_exact(d);
    expect_both(d, "r", "old");
    sim_disk_file_close(d, f);
}

typedef struct name_list {
    char names[8][32];
    size_t n;
    size_t stop_after;
} name_list;

static int collect_name(void *arg, const char *name)
{
    name_list *l = arg;
    assert_true(l->n < 8);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->n++;
    return l->stop_after != 0 && l->n >= l->stop_after;
}

static void test_dir_list_order(void **state)
{
    sim_disk *d = *state;
    assert_int_equal(sim_disk_dir_create(d, "s/sub"), 0);
    assert_int_equal(sim_disk_dir_create(d, "s.x"), 0);
    static const char *const files[] = {"s/b", "s/a", "s/sub/deep", "s/a.1", "s.x/z", "top"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        sim_disk_file_close(d, open_rw(d, files[i]));
    name_list l = {0};
    assert_int_equal(sim_disk_dir_list(d, "s", collect_name, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.names[0], "a");
    assert_string_equal(l.names[1], "a.1");
    assert_string_equal(l.names[2], "b");
    l = (name_list){.stop_after = 2};
    assert_int_equal(sim_disk_dir_list(d, "./s", collect_name, &l), 0);
    assert_int_equal(l.n, 2);
    l = (name_list){0};
    assert_int_equal(sim_disk_dir_list(d, "", collect_name, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "top");
    l = (name_list){0};
    assert_int_equal(sim_disk_dir_list(d, "s/sub", collect_name, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(sim_disk_dir_list(d, "missing", collect_name, &l), FL_E_NOENT);
    assert_int_equal(sim_disk_file_unlink(d, "s/a"), 0);
    l = (name_list){0};
    assert_int_equal(sim_disk_dir_list(d, "s", collect_name, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.names[0], "a.1");
}

/* ------------------------------------------------------------------ */
/* crash and handles */

static void test_crash_keeps_everything(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "old", "x");
    fl_file *f = open_rw(d, "c");
    write_str(d, f, 0, "unsynced");
    assert_int_equal(sim_disk_file_unlink(d, "old"), 0);
    sim_disk_crash(d);
    expect_current(d, "c", "unsynced", 8);
    assert_false(sim_disk_exists(d, "old", 0));

    /* Every operation on the old handle is refused; close frees it. */
    char buf[4];
    size_t n = 1;
    uint64_t size = 0;
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, 4, &n), FL_E_CLOSED);
    assert_int_equal(n, 0);
    assert_int_equal(sim_disk_file_write(d, f, 0, "a", 1), FL_E_CLOSED);
    assert_int_equal(sim_disk_file_sync(d, f), FL_E_CLOSED);
    assert_int_equal(sim_disk_file_truncate(d, f, 0), FL_E_CLOSED);
    assert_int_equal(sim_disk_file_size(d, f, &size), FL_E_CLOSED);
    sim_disk_file_close(d, f);

    /* A handle dropped without close is freed with the disk (ASan checks). */
    fl_file *dropped = open_rw(d, "c");
    (void)dropped;
    sim_disk_crash(d);
    expect_read_back(d, "c", "unsynced", 8);
    /* Then the power goes: nothing of it was durable. */
    sim_disk_power_loss_exact(d);
    assert_false(sim_disk_exists(d, "c", 0));
    expect_both(d, "old", "x");
}

static void test_handle_of_other_disk(void **state)
{
    sim_disk *d = *state;
    sim_disk *other = sim_disk_new();
    assert_non_null(other);
    fl_file *f = open_rw(other, "f");
    assert_int_equal(sim_disk_file_write(d, f, 0, "a", 1), FL_E_INVAL);
    sim_disk_file_close(d, f); /* ignored: not ours */
    sim_disk_free(other);      /* frees the handle */
}

/* ------------------------------------------------------------------ */
/* injected errors, space */

static void test_io_error_transient(void **state)
{
    sim_disk *d = *state;
    fl_file *f = open_rw(d, "e");
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 3, false, NULL), 0);
    assert_int_equal(sim_disk_file_write(d, f, 0, "1", 1), 0);
    assert_int_equal(sim_disk_file_write(d, f, 1, "2", 1), 0);
    assert_int_equal(sim_disk_file_write(d, f, 2, "3", 1), FL_E_IO);
    assert_int_equal(sim_disk_file_write(d, f, 2, "4", 1), 0);
    assert_int_equal(sim_disk_file_write(d, f, 3, "5", 1), 0);
    expect_current(d, "e", "1245", 4); /* the failed write changed nothing */
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 0, false, NULL), FL_E_INVAL);
    assert_int_equal(sim_disk_inject_io_error(d, (sim_disk_op)0, 1, false, NULL), FL_E_INVAL);
    assert_int_equal(sim_disk_inject_io_error(d, (sim_disk_op)99, 1, false, NULL), FL_E_INVAL);

    /* Reads. */
    char buf[4];
    size_t n = 7;
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_READ, 1, false, NULL), 0);
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, 4, &n), FL_E_IO);
    assert_int_equal(n, 0);
    assert_int_equal(sim_disk_file_read(d, f, 0, buf, 4, &n), 0);
    assert_int_equal(n, 4);
    sim_disk_file_close(d, f);
}

static void test_io_error_persistent(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "e", "base");
    fl_file *f = open_rw(d, "e");
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_SYNC, 2, true, NULL), 0);
    write_str(d, f, 4, "1");
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    write_str(d, f, 5, "2");
    assert_int_equal(sim_disk_file_sync(d, f), FL_E_IO);
    assert_int_equal(sim_disk_file_sync(d, f), FL_E_IO);
    assert_int_equal(sim_disk_file_sync(d, f), FL_E_IO);
    /* A failed sync leaves the data volatile. */
    expect_durable(d, "e", "base1", 5);
    sim_disk_clear_faults(d);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    expect_both(d, "e", "base12");
    sim_disk_file_close(d, f);
}

static void test_io_error_path_prefix(void **state)
{
    sim_disk *d = *state;
    assert_int_equal(sim_disk_dir_create(d, "journal"), 0);
    fl_file *j = open_rw(d, "journal/0001.seg");
    fl_file *s = open_rw(d, "store");
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 2, false, "journal/"), 0);
    assert_int_equal(sim_disk_file_write(d, s, 0, "s", 1), 0);
    assert_int_equal(sim_disk_file_write(d, s, 0, "s", 1), 0);
    assert_int_equal(sim_disk_file_write(d, j, 0, "j", 1), 0);
    assert_int_equal(sim_disk_file_write(d, s, 0, "s", 1), 0);
    assert_int_equal(sim_disk_file_write(d, j, 1, "j", 1), FL_E_IO);
    assert_int_equal(sim_disk_file_write(d, j, 1, "j", 1), 0);
    /* Other kinds of operation: open, dir_sync. */
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_DIR_SYNC, 1, false, NULL), 0);
    assert_int_equal(sim_disk_dir_sync(d, "journal"), FL_E_IO);
    assert_false(sim_disk_exists(d, "journal/0001.seg", 1));
    assert_int_equal(sim_disk_dir_sync(d, "journal"), 0);
    assert_true(sim_disk_exists(d, "journal/0001.seg", 1));
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_OPEN, 1, false, "store"), 0);
    fl_file *f = NULL;
    assert_int_equal(sim_disk_file_open(d, "store", FL_FILE_READ, &f), FL_E_IO);
    assert_null(f);
    sim_disk_file_close(d, j);
    sim_disk_file_close(d, s);
}

static void test_enospc_at_budget(void **state)
{
    sim_disk *d = *state;
    uint8_t buf[600];
    fill_pattern(buf, sizeof buf, 5);
    sim_disk_set_space_budget(d, 1000);
    fl_file *f = open_rw(d, "a");
    fl_file *g = open_rw(d, "b");
    write_at(d, f, 0, buf, 600);
    assert_int_equal(sim_disk_file_write(d, g, 0, buf, 500), FL_E_NOSPC);
    expect_current(d, "b", "", 0); /* whole write refused */
    write_at(d, f, 1, buf, 599);   /* overwrite needs no space */
    write_at(d, g, 0, buf, 400);   /* exactly at the budget */
    assert_int_equal(sim_disk_total_bytes(d), 1000);
    assert_int_equal(sim_disk_file_write(d, g, 400, "x", 1), FL_E_NOSPC);
    assert_int_equal(sim_disk_file_truncate(d, g, 401), FL_E_NOSPC);
    /* Freeing space: shrink, or unlink once nothing holds the file. */
    assert_int_equal(sim_disk_file_truncate(d, g, 300), 0);
    assert_int_equal(sim_disk_file_write(d, g, 300, buf, 100), 0);
    assert_int_equal(sim_disk_file_unlink(d, "a"), 0);
    assert_int_equal(sim_disk_file_write(d, g, 400, "x", 1), FL_E_NOSPC); /* f still open */
    sim_disk_file_close(d, f);
    assert_int_equal(sim_disk_total_bytes(d), 400);
    assert_int_equal(sim_disk_file_write(d, g, 400, "x", 1), 0);
    sim_disk_set_space_budget(d, UINT64_MAX);
    write_at(d, g, 10000, buf, 600);
    assert_int_equal(sim_disk_total_bytes(d), 10600);
    sim_disk_file_close(d, g);
}

/* ------------------------------------------------------------------ */
/* media damage */

static void test_flip_bit(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "m", "ABCD");
    assert_int_equal(sim_disk_flip_bit(d, "m", 1, 0), 0); /* 'B' ^ 1 = 'C' */
    expect_both(d, "m", "ACCD");
    expect_read_back(d, "m", "ACCD", 4);
    assert_int_equal(sim_disk_flip_bit(d, "m", 4, 0), FL_E_INVAL);
    assert_int_equal(sim_disk_flip_bit(d, "m", 0, 8), FL_E_INVAL);
    assert_int_equal(sim_disk_flip_bit(d, "m", 0, -1), FL_E_INVAL);
    assert_int_equal(sim_disk_flip_bit(d, "zz", 0, 0), FL_E_NOENT);

    /* A durable byte overwritten in the cache: the media copy is damaged. */
    fl_file *f = open_rw(d, "m");
    write_str(d, f, 0, "xyz");
    assert_int_equal(sim_disk_flip_bit(d, "m", 2, 5), 0); /* 'C' ^ 0x20 = 'c' */
    expect_current(d, "m", "xyZD", 4);
    expect_durable(d, "m", "ACcD", 4);
    sim_disk_power_loss_exact(d);
    expect_both(d, "m", "ACcD");
    sim_disk_file_close(d, f);
}

static void test_truncate_file_damage(void **state)
{
    sim_disk *d = *state;
    make_durable_file(d, "m", "0123456789");
    fl_file *f = open_rw(d, "m");
    write_str(d, f, 10, "abc");
    assert_int_equal(sim_disk_truncate_file(d, "m", 6), 0);
    expect_both(d, "m", "012345");
    uint64_t size = 0;
    assert_int_equal(sim_disk_file_size(d, f, &size), 0);
    assert_int_equal(size, 6);
    assert_int_equal(sim_disk_truncate_file(d, "m", 100), 0); /* never grows */
    expect_both(d, "m", "012345");
    sim_disk_power_loss_exact(d);
    expect_both(d, "m", "012345");
    assert_int_equal(sim_disk_total_bytes(d), 6);
    sim_disk_file_close(d, f);
}

static void test_zero_range_and_sector(void **state)
{
    sim_disk *d = *state;
    uint8_t data[1500], want[1500];
    fill_pattern(data, sizeof data, 9);
    fl_file *f = open_rw(d, "z");
    assert_int_equal(sim_disk_dir_sync(d, ""), 0);
    write_at(d, f, 0, data, sizeof data);
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    assert_int_equal(sim_disk_zero_sector(d, "z", 1), 0);
    assert_int_equal(sim_disk_zero_range(d, "z", 1400, 1000), 0);
    memcpy(want, data, sizeof want);
    memset(want + 512, 0, 512);
    memset(want + 1400, 0, 100);
    expect_both_bin(d, "z", want, sizeof want);
    expect_read_back(d, "z", want, sizeof want);
    assert_int_equal(sim_disk_zero_sector(d, "z", 3), FL_E_INVAL);
    assert_int_equal(sim_disk_zero_range(d, "z", 1500, 1), FL_E_INVAL);
    assert_int_equal(sim_disk_zero_sector(d, "z", UINT64_MAX), FL_E_INVAL);
    sim_disk_file_close(d, f);
}

/* ------------------------------------------------------------------ */
/* determinism, observer, inspection */

/* Build the same messy disk: synced, unsynced, renamed, unlinked files. */
static sim_disk *build_messy_disk(void)
{
    sim_disk *d = sim_disk_new();
    assert_non_null(d);
    assert_int_equal(sim_disk_dir_create(d, "j"), 0);
    uint8_t buf[3000];
    for (int i = 0; i < 6; i++) {
        char path[32];
        snprintf(path, sizeof path, "j/%04d.seg", i);
        fl_file *f = open_rw(d, path);
        fill_pattern(buf, sizeof buf, (uint8_t)i);
        write_at(d, f, 0, buf, 1000);
        assert_int_equal(sim_disk_file_sync(d, f), 0);
        for (int w = 0; w < 5; w++)
            write_at(d, f, 1000 + (uint64_t)w * 700, buf + w * 300, 700);
        write_at(d, f, 200, buf, 900); /* overwrite of synced bytes */
        sim_disk_file_close(d, f);
    }
    assert_int_equal(sim_disk_dir_sync(d, "j"), 0);
    assert_int_equal(sim_disk_file_rename(d, "j/0001.seg", "j/0009.seg"), 0);
    assert_int_equal(sim_disk_file_unlink(d, "j/0002.seg"), 0);
    return d;
}

typedef struct snapshot {
    char text[8192];
    size_t len;
    const sim_disk *d;
} snapshot;

static int snap_one(void *arg, const sim_disk_file_info *info)
{
    snapshot *s = arg;
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t h = 2166136261u;
    if (info->exists_current) {
        assert_int_equal(sim_disk_read_current(s->d, info->path, &data, &len), 0);
        for (size_t i = 0; i < len; i++)
            h = (h ^ data[i]) * 16777619u;
        free(data);
    }
    int n =
        snprintf(s->text + s->len, sizeof s->text - s->len, "%s %d%d %llu %llu %08x\n", info->path,
                 info->exists_current, info->exists_durable, (unsigned long long)info->current_size,
                 (unsigned long long)info->durable_size, h);
    assert_true(n > 0 && (size_t)n < sizeof s->text - s->len);
    s->len += (size_t)n;
    return 0;
}

static void snapshot_of(const sim_disk *d, snapshot *s)
{
    s->len = 0;
    s->text[0] = '\0';
    s->d = d;
    assert_int_equal(sim_disk_list_all(d, snap_one, s), 0);
}

static void test_same_seed_same_disk(void **state)
{
    (void)state;
    static snapshot a, b;
    size_t distinct = 0;
    char first[8192] = "";
    for (uint64_t seed = 1; seed <= 8; seed++) {
        sim_disk *d1 = build_messy_disk();
        sim_disk *d2 = build_messy_disk();
        uint64_t s1 = seed, s2 = seed;
        sim_disk_power_loss(d1, splitmix_next, &s1);
        sim_disk_power_loss(d2, splitmix_next, &s2);
        snapshot_of(d1, &a);
        snapshot_of(d2, &b);
        assert_string_equal(a.text, b.text);
        assert_int_equal(s1, s2); /* same number of draws */
        if (seed == 1)
            memcpy(first, a.text, a.len + 1);
        else
            distinct += strcmp(first, a.text) != 0;
        /* Reverted namespace: 0001 back, 0002 back, 0009 gone. */
        assert_true(sim_disk_exists(d1, "j/0001.seg", 0));
        assert_true(sim_disk_exists(d1, "j/0002.seg", 0));
        assert_false(sim_disk_exists(d1, "j/0009.seg", 0));
        /* Every surviving file keeps its synced 1000 bytes, except where the
         * pending overwrite of [200, 1100) was kept (then whole sectors of
         * it: [200, 512) and/or [512, 1024)). */
        uint8_t want[1000], over[900], *got = NULL;
        size_t len = 0;
        fill_pattern(want, sizeof want, 3);
        fill_pattern(over, sizeof over, 3);
        assert_int_equal(sim_disk_read_current(d1, "j/0003.seg", &got, &len), 0);
        assert_true(len >= 1000);
        assert_memory_equal(got, want, 200);
        bool s1_new = memcmp(got + 200, over, 312) == 0;
        assert_true(s1_new || memcmp(got + 200, want + 200, 312) == 0);
        bool s2_new = memcmp(got + 512, over + 312, 488) == 0;
        assert_true(s2_new || memcmp(got + 512, want + 512, 488) == 0);
        assert_true(s1_new || !s2_new); /* a prefix of the write, never a hole */
        free(got);
        sim_disk_free(d1);
        sim_disk_free(d2);
    }
    assert_true(distinct > 0); /* the seed matters */
}

typedef struct obs_log {
    int ops[32];
    uint64_t bytes[32];
    char paths[32][32];
    size_t n;
} obs_log;

static void record_op(void *arg, int op, const char *path, uint64_t bytes)
{
    obs_log *l = arg;
    if (l->n >= 32)
        return;
    l->ops[l->n] = op;
    l->bytes[l->n] = bytes;
    snprintf(l->paths[l->n], sizeof l->paths[0], "%s", path);
    l->n++;
}

static void test_observer(void **state)
{
    sim_disk *d = *state;
    obs_log l = {0};
    sim_disk_set_observer(d, record_op, &l);
    assert_int_equal(sim_disk_dir_create(d, "./q"), 0);
    fl_file *f = open_rw(d, "q/f");
    write_str(d, f, 0, "hello");
    assert_int_equal(sim_disk_inject_io_error(d, SIM_DISK_OP_WRITE, 1, false, NULL), 0);
    assert_int_equal(sim_disk_file_write(d, f, 0, "x", 1), FL_E_IO); /* not observed */
    assert_int_equal(sim_disk_file_sync(d, f), 0);
    char buf[8];
    size_t n;
    assert_int_equal(sim_disk_file_read(d, f, 1, buf, 8, &n), 0);
    assert_int_equal(sim_disk_file_truncate(d, f, 2), 0);
    assert_int_equal(sim_disk_dir_sync(d, "q"), 0);
    assert_int_equal(sim_disk_file_rename(d, "q/f", "q/g"), 0);
    assert_int_equal(sim_disk_file_unlink(d, "q/g"), 0);
    sim_disk_file_close(d, f);
    static const int want_ops[] = {
        SIM_DISK_OP_DIR_CREATE, SIM_DISK_OP_OPEN,   SIM_DISK_OP_WRITE,
        SIM_DISK_OP_SYNC,       SIM_DISK_OP_READ,   SIM_DISK_OP_TRUNCATE,
        SIM_DISK_OP_DIR_SYNC,   SIM_DISK_OP_RENAME, SIM_DISK_OP_UNLINK,
    };
    static const uint64_t want_bytes[] = {0, 0, 5, 5, 4, 2, 0, 0, 0};
    static const char *const want_paths[] = {"q",   "q/f", "q/f", "q/f", "q/f",
                                             "q/f", "q",   "q/f", "q/g"};
    assert_int_equal(l.n, 9);
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(l.ops[i], want_ops[i]);
        assert_int_equal(l.bytes[i], want_bytes[i]);
        assert_string_equal(l.paths[i], want_paths[i]);
    }
    sim_disk_set_observer(d, NULL, NULL);
    sim_disk_file_close(d, open_rw(d, "q/h"));
    assert_int_equal(l.n, 9);
}

static int count_entries(void *arg, const sim_disk_file_info *info)
{
    size_t *n = arg;
    (*n)++;
    return strcmp(info->path, "b") == 0 ? 7 : 0;
}

static void test_inspection(void **state)
{
    sim_disk *d = *state;
    sim_disk_set_sync_latency(d, 250);
    assert_int_equal(sim_disk_sync_latency(d), 250);
    make_durable_file(d, "a", "12345");
    fl_file *f = open_rw(d, "b");
    write_str(d, f, 0, "xy");
    write_str(d, f, 2, "z");
    make_durable_file(d, "c", "");
    assert_int_equal(sim_disk_file_unlink(d, "c"), 0);
    sim_disk_file_info info;
    assert_int_equal(sim_disk_stat(d, "b", &info), 0);
    assert_string_equal(info.path, "b");
    assert_true(info.exists_current);
    assert_true(info.exists_durable); /* made durable by make_durable_file's dir sync */
    assert_int_equal(info.current_size, 3);
    assert_int_equal(info.durable_size, 0);
    assert_int_equal(info.pending_ops, 2);
    assert_int_equal(sim_disk_stat(d, "c", &info), 0);
    assert_false(info.exists_current);
    assert_true(info.exists_durable);
    assert_int_equal(sim_disk_stat(d, "nope", &info), FL_E_NOENT);
    assert_int_equal(sim_disk_file_count(d), 2);
    assert_int_equal(sim_disk_total_bytes(d), 8);
    uint8_t *out = (uint8_t *)1;
    size_t len = 9;
    assert_int_equal(sim_disk_read_durable(d, "c", &out, &len), 0);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(sim_disk_read_current(d, "c", &out, &len), FL_E_NOENT);
    assert_int_equal(sim_disk_read_durable(d, "zz", &out, &len), FL_E_NOENT);
    size_t n = 0;
    assert_int_equal(sim_disk_list_all(d, count_entries, &n), 7); /* stopped at "b" */
    assert_int_equal(n, 2);
    sim_disk_file_close(d, f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_validation_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_validation_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlinked_file_stays_usable_through_handle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_sync_write_power_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_synced_restores_old_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_synced_restores_old_bytes_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sync_after_overwrite_makes_new_bytes_durable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tear_at_sector_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tear_random_keeps_whole_sectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_at_keeps_prefix_of_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_kept_write_uses_current_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_replays_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_range_damages_durable_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_file_rename_and_nested_dir_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_without_dir_sync_disappears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_with_dir_sync_survives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_without_dir_sync_reverts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_errors_and_cross_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_without_dir_sync_resurrects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recreate_after_unlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_list_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_of_other_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error_persistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error_path_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc_at_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_file_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_range_and_sector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_seed_same_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspection, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
