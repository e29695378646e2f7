/* Benchmark for the segment record format (suite "foundations"):
 *
 *   segment_append_nosync — records per second appended to a segment file
 *   without sync: each ~100-byte-payload record is encoded (two CRC32Cs) into
 *   a memory buffer and written with one write(2) to a temp file in /tmp, the
 *   way a file store with sync policy `none` appends. Segments rotate at
 *   64 MiB (truncate and write a fresh header), as the journal does.
 *
 * Prints one JSON object per figure on stdout (see ci/bench.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/record.h"

#define PAYLOAD     100u
#define SEGMENT_MAX (64ull * 1024 * 1024)
#define RUN_SECONDS 3.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Start segment `id` at the beginning of the file. */
static int new_segment(int fd, uint64_t id, uint64_t first_recno)
{
    uint8_t h[FL_SEG_HEADER_SIZE];
    fl_seg_header sh = {0};
    sh.kind = FL_SEG_KIND_TEST;
    sh.segment_id = id;
    sh.salt = 0x9e3779b97f4a7c15ull * id;
    sh.prev_segment_id = id - 1;
    sh.prev_last_recno = first_recno - 1;
    sh.first_recno = first_recno;
    if (fl_seg_header_encode(&sh, h, sizeof h) != 0)
        return -1;
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    return write_all(fd, h, sizeof h);
}

int main(void)
{
    char path[] = "/tmp/faultline-bench-record-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    unlink(path);
    uint8_t payload[PAYLOAD], rec[FL_RECORD_HEADER_SIZE + PAYLOAD];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 13);
    uint64_t segid = 1, recno = 1, seg_bytes = FL_SEG_HEADER_SIZE, n = 0;
    const uint64_t salt0 = 0x9e3779b97f4a7c15ull;
    if (new_segment(fd, segid, recno) != 0)
        goto fail;
    double t0 = now_s(), t = t0;
    while (t - t0 < RUN_SECONDS) {
        for (int i = 0; i < 4096; i++) {
            payload[0] = (uint8_t)recno;
            if (fl_record_encode(rec, sizeof rec, salt0 * segid, recno, FL_REC_TYPE_USER_MIN,
                                 payload, PAYLOAD) != 0)
                goto fail;
            if (write_all(fd, rec, sizeof rec) != 0)
                goto fail;
            recno++;
            n++;
            seg_bytes += sizeof rec;
            if (seg_bytes + sizeof rec > SEGMENT_MAX) {
                if (new_segment(fd, ++segid, recno) != 0)
                    goto fail;
                seg_bytes = FL_SEG_HEADER_SIZE;
            }
        }
        t = now_s();
    }
    close(fd);
    printf("{\"suite\": \"foundations\", \"name\": \"segment_append_nosync\", \"value\": %.0f, "
           "\"unit\": \"records/s\", \"target\": null, \"higher_is_better\": true, "
           "\"baseline\": null}\n",
           (double)n / (t - t0));
    return 0;
fail:
    perror("bench_record");
    close(fd);
    return 1;
}
