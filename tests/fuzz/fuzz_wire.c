/* libFuzzer target for the wire decoder (client/wire.c).
 *
 * Treats the input as a TCP byte stream: decodes frames from the front until
 * an error or FL_E_AGAIN. Every decoded frame must re-encode, the encoding
 * must decode to an equal frame of exactly the encoded size, and encoding
 * that frame again must give identical bytes; any prefix of a frame must be
 * FL_E_AGAIN. Error offsets must lie within the input (the frame end at
 * most). A violation aborts so the fuzzer reports it.
 *
 * Built with -DFL_FUZZ_WIRE_GEN (and no libFuzzer) this file is instead the
 * seed-corpus generator: `fuzz_wire_gen DIR` writes DIR/<name> files.
 */
#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: check failed: %s (line %d)\n", #cond, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Re-encode `f` (decoded from `orig_len` bytes) and check the round trip. */
static void check_round_trip(const fl_frame *f, size_t orig_len, fl_buf *b1, fl_buf *b2)
{
    fl_frame g;
    size_t used = 0;

    fl_buf_clear(b1);
    fl_buf_clear(b2);
    CHECK(fl_frame_encode(b1, f) == 0);
    CHECK(b1->len == fl_frame_encoded_size(f));
    CHECK(b1->len <= orig_len); /* canonical form only drops ignorable fields */
    CHECK(fl_frame_decode(b1->data, b1->len, b1->len, &g, &used) == 0);
    CHECK(used == b1->len);
    CHECK(fl_frame_equal(f, &g));
    CHECK(fl_frame_encode(b2, &g) == 0);
    CHECK(b2->len == b1->len && memcmp(b1->data, b2->data, b1->len) == 0);
    CHECK(fl_frame_decode(b1->data, b1->len - 1, 0, &g, &used) == FL_E_AGAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fl_buf b1 = FL_BUF_INIT, b2 = FL_BUF_INIT;
    /* A small limit from the first byte exercises FRAME_TOO_LARGE too. */
    size_t max_frame = size > 0 && data[0] == 0 ? 64 : 0;
    size_t off = 0;

    for (;;) {
        fl_frame f;
        size_t used = 0, err_off = (size_t)-1;
        char msg[96];
        int rc = fl_frame_decode_ex(data + off, size - off, max_frame, &f, &used, &err_off, msg,
                                    sizeof msg);
        if (rc == FL_E_AGAIN)
            break;
        if (rc != 0) {
            CHECK(rc < 0 && rc != FL_E_INVAL);
            CHECK(err_off <= size - off); /* missing fields point at the frame end */
            CHECK(strlen(msg) < sizeof msg);
            break;
        }
        CHECK(used >= FL_WIRE_MIN_FRAME && used <= size - off);
        check_round_trip(&f, used, &b1, &b2);
        off += used;
    }
    fl_buf_free(&b1);
    fl_buf_free(&b2);
    return 0;
}

#ifdef FL_FUZZ_WIRE_GEN
#define S(str) fl_slice_make((str), sizeof(str) - 1)

static int write_file(const char *dir, const char *name, const fl_buf *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    size_t n = fwrite(b->data, 1, b->len, fp);
    return fclose(fp) == 0 && n == b->len ? 0 : -1;
}

static void ack(fl_buf *b, int type, int status, int reason, int with_sub)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_ACK);
    f.ack_type = (uint8_t)type;
    f.status = (uint8_t)status;
    f.reason = (uint8_t)reason;
    f.sequence = 41;
    f.command_id = 2;
    f.present =
        FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_REASON | FL_HAS_SEQUENCE | FL_HAS_COMMAND_ID;
    if (with_sub) {
        f.sub_id = S("sub-1");
        f.bookmark.publisher = 0x1122334455667788ull;
        f.bookmark.sequence = 9;
        f.bookmark.timestamp_us = 1591228800000000LL;
        f.reason_text = S("bookmark older than retention");
        f.present |= FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_REASON_TEXT;
    }
    CHECK(fl_frame_encode(b, &f) == 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    fl_buf b = FL_BUF_INIT, all = FL_BUF_INIT;
    fl_wire_bookmark bm = {0x1122334455667788ull, 9, 1591228800000000LL};
    int rc = 0;

#define EMIT(name, stmt)                                                                           \
    do {                                                                                           \
        fl_buf_clear(&b);                                                                          \
        CHECK((stmt) == 0);                                                                        \
        CHECK(fl_buf_append(&all, b.data, b.len) == 0);                                            \
        rc |= write_file(dir, name, &b);                                                           \
    } while (0)

    EMIT("logon", fl_wire_encode_logon(&b, S("pub-1"), S("secret"), 1000000, 1));
    EMIT("logon-nopass", fl_wire_encode_logon(&b, S("sub-client"), fl_slice_make(NULL, 0), 0, 2));
    EMIT("publish", fl_wire_encode_publish(&b, S("orders"), 1, S("hello")));
    EMIT("publish-empty", fl_wire_encode_publish(&b, S("t"), UINT64_MAX, fl_slice_make(NULL, 0)));
    EMIT("subscribe-range", fl_wire_encode_subscribe(&b, S("orders"), S("sub-1"),
                                                     S("[20200604T000000:20200605T000000)"),
                                                     FL_SUB_COMPLETED, 100, 3));
    EMIT("subscribe-live",
         fl_wire_encode_subscribe(&b, S("orders"), S("sub-2"), fl_slice_make(NULL, 0), 0, 0, 4));
    EMIT("unsubscribe", fl_wire_encode_unsubscribe(&b, S("sub-1")));
    EMIT("heartbeat", fl_wire_encode_heartbeat(&b));
    EMIT("delivery", fl_wire_encode_delivery(&b, S("orders"), S("sub-1"), &bm, S("payload")));
    fl_buf_clear(&b);
    ack(&b, FL_ACK_LOGON, FL_STATUS_SUCCESS, FL_REASON_NONE, 0);
    CHECK(fl_buf_append(&all, b.data, b.len) == 0);
    rc |= write_file(dir, "ack-logon", &b);
    fl_buf_clear(&b);
    ack(&b, FL_ACK_PERSISTED, FL_STATUS_SUCCESS, FL_REASON_NONE, 1);
    rc |= write_file(dir, "ack-persisted-bookmark", &b);
    fl_buf_clear(&b);
    ack(&b, FL_ACK_SUBSCRIBED, FL_STATUS_FAILURE, FL_REASON_BOOKMARK_EXPIRED, 1);
    rc |= write_file(dir, "ack-subscribe-failed", &b);
    rc |= write_file(dir, "stream", &all);

    /* a frame with an ignorable unknown field, and one truncated frame */
    static const uint8_t ign[] = {
        0, 0, 0, 12, FL_WIRE_MAGIC, FL_WIRE_VERSION, FL_CMD_HEARTBEAT, 0, 0xA0, 0, 0, 0,
        3, 1, 2, 3};
    fl_buf_clear(&b);
    CHECK(fl_buf_append(&b, ign, sizeof ign) == 0);
    rc |= write_file(dir, "ignorable-field", &b);
    fl_buf_clear(&b);
    CHECK(fl_wire_encode_publish(&b, S("orders"), 7, S("cut short")) == 0);
    fl_buf_truncate(&b, b.len - 3);
    rc |= write_file(dir, "truncated", &b);

    fl_buf_free(&b);
    fl_buf_free(&all);
    return rc ? 1 : 0;
}
#endif
