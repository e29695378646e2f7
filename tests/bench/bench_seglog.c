/* Benchmark for the segmented log on the simulated disk (suite "storage"):
 *
 *   seglog_append_nosync — records/s appended (100-byte payloads, 132 bytes on
 *                          disk, sync policy none, 64 MiB segments);
 *   seglog_read          — records/s replayed by fl_seglog_read from record 1
 *                          (the broker's journal replay path);
 *   seglog_recover       — records/s handed to on_record by fl_seglog_open's
 *                          recovery scan (point_in_time);
 *   seglog_read_one      — single-record reads/s at scattered record numbers
 *                          (a publish store's replay_one; the sparse index).
 *
 * Prints one JSON object per figure on stdout (see ci/bench.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faultline/record.h"
#include "faultline/seglog.h"
#include "sim.h"

#define PAYLOAD 100u
#define RECORDS 1000000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_cb(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    uint64_t *n = arg;
    (*n) += len == PAYLOAD && p[0] == (uint8_t)recno;
    return 0;
}

static int one_cb(void *arg, uint64_t recno, unsigned type, const uint8_t *p, size_t len)
{
    uint64_t *n = arg;
    (*n) += p[0] == (uint8_t)recno;
    return 1;
}

static void figure(const char *name, double value, const char *unit, double target)
{
    printf("{\"suite\": \"storage\", \"name\": \"%s\", \"value\": %.0f, \"unit\": \"%s\", "
           "\"target\": %.0f, \"higher_is_better\": true, \"baseline\": null}\n",
           name, value, unit, target);
}

int main(void)
{
    sim_ctx *ctx = sim_ctx_new(NULL);
    sim_node *node = NULL;
    if (!ctx || sim_node_new(ctx, "bench", &node) != 0)
        return 1;
    fl_seglog_options o = FL_SEGLOG_OPTIONS_INIT;
    o.rt = sim_node_runtime(node);
    o.dir = "journal";
    o.kind = FL_SEG_KIND_TEST;
    o.sync = FL_SYNC_NONE;
    fl_seglog *log = NULL;
    char err[256];
    if (fl_seglog_open(&o, NULL, NULL, &log, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    uint8_t p[PAYLOAD];
    memset(p, 'x', sizeof p);
    double t0 = now_s();
    for (uint32_t i = 1; i <= RECORDS; i++) {
        p[0] = (uint8_t)i;
        if (fl_seglog_append(log, 0x20, p, sizeof p, NULL) != 0) {
            fprintf(stderr, "append: %s\n", fl_seglog_last_error(log));
            return 1;
        }
    }
    double t1 = now_s();
    figure("seglog_append_nosync", RECORDS / (t1 - t0), "records/s", 1000000);

    uint64_t n = 0;
    t0 = now_s();
    int rc = fl_seglog_read(log, 1, count_cb, &n);
    t1 = now_s();
    if (rc != 0 || n != RECORDS) {
        fprintf(stderr, "read: %d, %llu records\n", rc, (unsigned long long)n);
        return 1;
    }
    figure("seglog_read", RECORDS / (t1 - t0), "records/s", 2000000);

    n = 0;
    t0 = now_s();
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t r = 1 + (i * 7919 * 131) % RECORDS;
        if (fl_seglog_read(log, r, one_cb, &n) != 0)
            return 1;
    }
    t1 = now_s();
    if (n != 10000) {
        fprintf(stderr, "read_one: %llu\n", (unsigned long long)n);
        return 1;
    }
    figure("seglog_read_one", 10000 / (t1 - t0), "reads/s", 10000);
    fl_seglog_close(log);

    n = 0;
    t0 = now_s();
    rc = fl_seglog_open(&o, count_cb, &n, &log, NULL, err, sizeof err);
    t1 = now_s();
    if (rc != 0 || n != RECORDS) {
        fprintf(stderr, "recover: %s, %llu records\n", err, (unsigned long long)n);
        return 1;
    }
    figure("seglog_recover", RECORDS / (t1 - t0), "records/s", 2000000);
    fl_seglog_close(log);
    sim_ctx_free(ctx);
    return 0;
}
