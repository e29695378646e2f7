/* Benchmark: wire codec round trips. One figure: frames per second for
 * encoding a publish with a 100-byte payload into a reused fl_buf and
 * decoding it again (fl_wire_encode_publish + fl_frame_decode), for ~3 s. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    uint8_t payload[100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 37 + 11);
    fl_slice topic = fl_slice_cstr("orders.eu");
    fl_slice body = fl_slice_make(payload, sizeof payload);
    fl_buf b = FL_BUF_INIT;
    uint64_t frames = 0, sink = 0;
    double t0 = now_s(), t;

    do {
        for (int i = 0; i < 4096; i++) {
            fl_frame f;
            size_t used;
            fl_buf_clear(&b);
            if (fl_wire_encode_publish(&b, topic, frames, body) != 0 ||
                fl_frame_decode(b.data, b.len, 0, &f, &used) != 0 || f.sequence != frames) {
                fprintf(stderr, "bench_wire: round trip failed\n");
                fl_buf_free(&b);
                return 1;
            }
            sink += used + f.payload.ptr[99];
            frames++;
        }
        t = now_s();
    } while (t - t0 < 3.0);

    printf("{\"suite\": \"foundations\", \"name\": \"frame_encode_decode_100B\", \"value\": %.0f, "
           "\"unit\": \"frames/s\", \"target\": null, \"higher_is_better\": true, "
           "\"baseline\": null}\n",
           (double)frames / (t - t0));
    fprintf(stderr, "(%llu frames, sink %llu)\n", (unsigned long long)frames,
            (unsigned long long)sink);
    fl_buf_free(&b);
    return 0;
}
