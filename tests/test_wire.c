/* Unit tests for the wire protocol codec (client/wire.c): round trips of
 * every command and field, partial input, streams of frames, a table of
 * malformed frames with their expected error codes and offsets, max-frame
 * enforcement, encoder validation and the name tables. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/buf.h"
#include "faultline/error.h"
#include "faultline/wire.h"

#include <stdlib.h>
#include <string.h>

#define S(str) fl_slice_make((str), sizeof(str) - 1)

static int setup(void **state)
{
    fl_buf *b = malloc(sizeof *b);
    if (b == NULL)
        return -1;
    fl_buf_init(b);
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    fl_buf *b = *state;
    fl_buf_free(b);
    free(b);
    return 0;
}

/* ---- sample frames: every command, every field ------------------------ */

static const uint8_t PAYLOAD[] = {0x00, 0x01, 0xFF, 'h', 'i', 0x00};

static fl_frame frame_logon(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_LOGON);
    f.client_name = S("pub-1");
    f.password = S("s3cret");
    f.heartbeat_us = 5000000;
    f.proto_version = FL_WIRE_VERSION;
    f.command_id = 77;
    f.present = FL_HAS_CLIENT_NAME | FL_HAS_PASSWORD | FL_HAS_HEARTBEAT_US | FL_HAS_PROTO_VERSION |
                FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_publish(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_PUBLISH);
    f.topic = S("orders");
    f.sequence = UINT64_MAX - 1;
    f.payload = fl_slice_make(PAYLOAD, sizeof PAYLOAD);
    f.command_id = 1;
    f.present = FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_subscribe(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_SUBSCRIBE);
    f.topic = S("orders");
    f.sub_id = S("sub-a");
    f.bookmark_text = S("[20200604T000000:20200605T000000)");
    f.sub_options = FL_SUB_COMPLETED;
    f.max_pending = 1000;
    f.command_id = 9;
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK_TEXT | FL_HAS_SUB_OPTIONS |
                FL_HAS_MAX_PENDING | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_unsubscribe(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_UNSUBSCRIBE);
    f.sub_id = S("sub-a");
    f.command_id = 10;
    f.present = FL_HAS_SUB_ID | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_heartbeat(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_HEARTBEAT);
    f.flags = 0x5A;
    return f;
}

static fl_frame frame_ack_full(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_ACK);
    f.ack_type = FL_ACK_PERSISTED;
    f.status = FL_STATUS_FAILURE;
    f.reason = FL_REASON_BOOKMARK_EXPIRED;
    f.sequence = 42;
    f.sub_id = S("sub-a");
    f.bookmark.publisher = 0x0123456789ABCDEFull;
    f.bookmark.sequence = 7;
    f.bookmark.timestamp_us = -1; /* negative survives the trip */
    f.reason_text = S("");
    f.command_id = 9;
    f.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_REASON | FL_HAS_SEQUENCE | FL_HAS_SUB_ID |
                FL_HAS_BOOKMARK | FL_HAS_REASON_TEXT | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_ack_logon(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_ACK);
    f.ack_type = FL_ACK_LOGON;
    f.status = FL_STATUS_SUCCESS;
    f.sequence = 1234;
    f.command_id = 77;
    f.present = FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_SEQUENCE | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_delivery(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_DELIVERY);
    f.topic = S("orders");
    f.sub_id = S("sub-a");
    f.bookmark.publisher = 99;
    f.bookmark.sequence = 100;
    f.bookmark.timestamp_us = 1591228800000000LL;
    f.payload = fl_slice_make(NULL, 0); /* empty payload is legal */
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD;
    return f;
}

static fl_frame frame_replicate(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_REPLICATE);
    f.topic = S("orders");
    f.sequence = 555; /* the origin's record number */
    f.bookmark.publisher = 0xFEDCBA9876543210ull;
    f.bookmark.sequence = 12;
    f.bookmark.timestamp_us = 1591228800000001LL;
    f.payload = fl_slice_make(PAYLOAD, sizeof PAYLOAD);
    f.command_id = 3;
    f.present =
        FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD | FL_HAS_BOOKMARK | FL_HAS_COMMAND_ID;
    return f;
}

static fl_frame frame_repl_logon(void)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_REPL_LOGON);
    f.client_name = S("broker-a");
    f.password = S("pw");
    f.command_id = 1;
    f.present = FL_HAS_CLIENT_NAME | FL_HAS_PASSWORD | FL_HAS_COMMAND_ID;
    return f;
}

typedef fl_frame (*frame_fn)(void);
static const frame_fn SAMPLES[] = {
    frame_logon,    frame_publish,   frame_subscribe, frame_unsubscribe, frame_heartbeat,
    frame_ack_full, frame_ack_logon, frame_delivery,  frame_replicate,   frame_repl_logon};
#define NSAMPLES (sizeof SAMPLES / sizeof SAMPLES[0])

static void test_samples_cover_every_field_and_command(void **state)
{
    (void)state;
    uint32_t fields = 0, cmds = 0;
    for (size_t i = 0; i < NSAMPLES; i++) {
        fl_frame f = SAMPLES[i]();
        fields |= f.present;
        cmds |= 1u << f.command;
    }
    uint32_t all_fields = 0;
    for (int t = 1; t <= FL_FIELD_LAST; t++)
        all_fields |= 1u << t;
    assert_int_equal(fields, all_fields);
    assert_int_equal(cmds, 0x3FEu); /* commands 1..9 */
}

static void test_round_trip_every_command(void **state)
{
    fl_buf *b = *state;
    for (size_t i = 0; i < NSAMPLES; i++) {
        fl_frame f = SAMPLES[i](), g;
        size_t used = 0;
        fl_buf_clear(b);
        assert_int_equal(fl_frame_encode(b, &f), 0);
        assert_int_equal(b->len, fl_frame_encoded_size(&f));
        assert_int_equal(fl_frame_decode(b->data, b->len, 0, &g, &used), 0);
        assert_int_equal(used, b->len);
        assert_true(fl_frame_equal(&f, &g));
        /* slices borrow the input */
        if (g.present & FL_HAS_TOPIC)
            assert_true(g.topic.ptr >= b->data && g.topic.ptr < b->data + b->len);
    }
}

static void test_round_trip_values(void **state)
{
    fl_buf *b = *state;
    fl_frame f = frame_ack_full(), g;
    size_t used;
    assert_int_equal(fl_frame_encode(b, &f), 0);
    assert_int_equal(fl_frame_decode(b->data, b->len, 0, &g, &used), 0);
    assert_int_equal(g.command, FL_CMD_ACK);
    assert_int_equal(g.ack_type, FL_ACK_PERSISTED);
    assert_int_equal(g.status, FL_STATUS_FAILURE);
    assert_int_equal(g.reason, FL_REASON_BOOKMARK_EXPIRED);
    assert_true(g.sequence == 42);
    assert_true(g.bookmark.publisher == 0x0123456789ABCDEFull);
    assert_true(g.bookmark.sequence == 7);
    assert_true(g.bookmark.timestamp_us == -1);
    assert_int_equal(g.sub_id.len, 5);
    assert_memory_equal(g.sub_id.ptr, "sub-a", 5);
    assert_int_equal(g.reason_text.len, 0);
    assert_true(g.present & FL_HAS_REASON_TEXT);
    assert_false(g.present & FL_HAS_PAYLOAD);
    assert_null(g.payload.ptr); /* absent fields are zero */
}

static void test_equal_detects_differences(void **state)
{
    (void)state;
    fl_frame a = frame_publish(), b = frame_publish();
    assert_true(fl_frame_equal(&a, &b));
    b.sequence++;
    assert_false(fl_frame_equal(&a, &b));
    b = frame_publish();
    b.topic = S("orderz");
    assert_false(fl_frame_equal(&a, &b));
    b = frame_publish();
    b.present &= ~FL_HAS_COMMAND_ID;
    assert_false(fl_frame_equal(&a, &b));
    b = frame_publish();
    b.flags = 1;
    assert_false(fl_frame_equal(&a, &b));
}

/* ---- the encoded layout itself ----------------------------------------- */

static void test_publish_exact_bytes(void **state)
{
    fl_buf *b = *state;
    static const uint8_t want[] = {
        0,    0, 0, 30,         /* length: 4 header + 6 topic + 13 seq + 7 payload */
        0xFB, 1, 2, 0,          /* magic, version, publish, flags */
        6,    0, 0, 0,  1, 't', /* topic */
        7,    0, 0, 0,  8, 0,   0,   0, 0, 0, 0, 1, 2, /* sequence 258 */
        8,    0, 0, 0,  2, 'h', 'i',                   /* payload */
    };
    assert_int_equal(fl_wire_encode_publish(b, S("t"), 258, S("hi")), 0);
    assert_int_equal(b->len, sizeof want);
    assert_memory_equal(b->data, want, sizeof want);
}

static void test_convenience_encoders_match_generic(void **state)
{
    fl_buf *b = *state;
    fl_buf g = FL_BUF_INIT;
    fl_frame f;
    fl_wire_bookmark bm = {1, 2, 3};

    fl_frame_init(&f, FL_CMD_PUBLISH);
    f.topic = S("orders");
    f.sequence = 5;
    f.payload = S("x");
    f.present = FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD;
    assert_int_equal(fl_wire_encode_publish(b, f.topic, 5, f.payload), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    fl_frame_init(&f, FL_CMD_LOGON);
    f.client_name = S("c");
    f.heartbeat_us = 10;
    f.proto_version = FL_WIRE_VERSION;
    f.command_id = 3;
    f.present = FL_HAS_CLIENT_NAME | FL_HAS_HEARTBEAT_US | FL_HAS_PROTO_VERSION | FL_HAS_COMMAND_ID;
    assert_int_equal(fl_wire_encode_logon(b, S("c"), fl_slice_make(NULL, 0), 10, 3), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    fl_frame_init(&f, FL_CMD_SUBSCRIBE);
    f.topic = S("t");
    f.sub_id = S("s");
    f.bookmark_text = S("recent");
    f.max_pending = 4;
    f.command_id = 8;
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK_TEXT | FL_HAS_MAX_PENDING |
                FL_HAS_COMMAND_ID;
    assert_int_equal(fl_wire_encode_subscribe(b, S("t"), S("s"), S("recent"), 0, 4, 8), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    fl_frame_init(&f, FL_CMD_UNSUBSCRIBE);
    f.sub_id = S("s");
    f.present = FL_HAS_SUB_ID;
    assert_int_equal(fl_wire_encode_unsubscribe(b, S("s")), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    fl_frame_init(&f, FL_CMD_HEARTBEAT);
    assert_int_equal(fl_wire_encode_heartbeat(b), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    fl_frame_init(&f, FL_CMD_DELIVERY);
    f.topic = S("t");
    f.sub_id = S("s");
    f.bookmark = bm;
    f.payload = S("p");
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD;
    assert_int_equal(fl_wire_encode_delivery(b, S("t"), S("s"), &bm, S("p")), 0);
    assert_int_equal(fl_frame_encode(&g, &f), 0);

    assert_int_equal(b->len, g.len);
    assert_memory_equal(b->data, g.data, g.len);
    fl_buf_free(&g);
}

/* ---- partial input and streams ----------------------------------------- */

static void encode_all_samples(fl_buf *b)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        fl_frame f = SAMPLES[i]();
        assert_int_equal(fl_frame_encode(b, &f), 0);
    }
}

static void test_every_split_point(void **state)
{
    fl_buf *b = *state;
    for (size_t i = 0; i < NSAMPLES; i++) {
        fl_frame f = SAMPLES[i](), g;
        fl_buf_clear(b);
        assert_int_equal(fl_frame_encode(b, &f), 0);
        for (size_t k = 0; k < b->len; k++) {
            /* an exact-size heap copy so a sanitizer sees any over-read */
            uint8_t *part = malloc(k ? k : 1);
            assert_non_null(part);
            memcpy(part, b->data, k);
            size_t used = 12345;
            assert_int_equal(fl_frame_decode(part, k, 0, &g, &used), FL_E_AGAIN);
            assert_int_equal(used, 12345); /* untouched */
            free(part);
        }
        size_t used = 0;
        assert_int_equal(fl_frame_decode(b->data, b->len, 0, &g, &used), 0);
        assert_int_equal(used, b->len);
        assert_true(fl_frame_equal(&f, &g));
    }
}

static void test_back_to_back(void **state)
{
    fl_buf *b = *state;
    encode_all_samples(b);
    size_t off = 0;
    for (size_t i = 0; i < NSAMPLES; i++) {
        fl_frame f = SAMPLES[i](), g;
        size_t used = 0;
        assert_int_equal(fl_frame_decode(b->data + off, b->len - off, 0, &g, &used), 0);
        assert_true(fl_frame_equal(&f, &g));
        off += used;
    }
    assert_int_equal(off, b->len);
    fl_frame g;
    size_t used;
    assert_int_equal(fl_frame_decode(b->data + off, 0, 0, &g, &used), FL_E_AGAIN);
}

/* A TCP-like stream: bytes arrive in chunks of every size from 1 to 13, the
 * reader decodes what it can and consumes from the front of its buffer. */
static void test_stream_chunks(void **state)
{
    fl_buf *all = *state;
    encode_all_samples(all);
    for (size_t chunk = 1; chunk <= 13; chunk++) {
        fl_buf in = FL_BUF_INIT;
        size_t sent = 0, got = 0;
        while (sent < all->len) {
            size_t n = all->len - sent < chunk ? all->len - sent : chunk;
            assert_int_equal(fl_buf_append(&in, all->data + sent, n), 0);
            sent += n;
            size_t off = 0, used;
            fl_frame g;
            int rc;
            while ((rc = fl_frame_decode(in.data + off, in.len - off, 0, &g, &used)) == 0) {
                fl_frame f = SAMPLES[got++]();
                assert_true(fl_frame_equal(&f, &g));
                off += used;
            }
            assert_int_equal(rc, FL_E_AGAIN);
            fl_buf_consume(&in, off);
        }
        assert_int_equal(got, NSAMPLES);
        assert_int_equal(in.len, 0);
        fl_buf_free(&in);
    }
}

/* ---- hand-built frames -------------------------------------------------- */

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define HDR(cmd)   0xFB, 1, (cmd), 0
#define L4(n)      0, 0, 0, (n)
#define SEQ8       L4(8), 0, 0, 0, 0, 0, 0, 0, 1

/* `bytes` are the frame after the length prefix unless raw is set (then they
 * are the whole input, prefix included). */
typedef struct wire_case {
    const char *name;
    const uint8_t *bytes;
    size_t n;
    int raw;
    int want;        /* expected return code */
    size_t want_off; /* expected error offset (whole-input based) */
} wire_case;

static const wire_case BAD[] = {
    {"bad magic", BYTES(0xFA, 1, 5, 0), 0, FL_E_BAD_FRAME, 4},
    {"bad version", BYTES(0xFB, 2, 5, 0), 0, FL_E_BAD_VERSION, 5},
    {"command zero", BYTES(HDR(0)), 0, FL_E_UNKNOWN_COMMAND, 6},
    {"command 10", BYTES(HDR(10)), 0, FL_E_UNKNOWN_COMMAND, 6},
    {"replicate without bookmark", BYTES(HDR(8), 6, L4(1), 't', 7, SEQ8, 8, L4(0)), 0,
     FL_E_MISSING_FIELD, 32},
    {"repl_logon without command id", BYTES(HDR(9), 1, L4(1), 'a'), 0, FL_E_MISSING_FIELD, 14},
    {"command 255", BYTES(HDR(255)), 0, FL_E_UNKNOWN_COMMAND, 6},
    {"length below header", BYTES(0, 0, 0, 3, 0xFB, 1, 5), 1, FL_E_BAD_FRAME, 0},
    {"length zero", BYTES(0, 0, 0, 0), 1, FL_E_BAD_FRAME, 0},
    {"length 4 GiB, prefix only", BYTES(0xFF, 0xFF, 0xFF, 0xFF), 1, FL_E_FRAME_TOO_LARGE, 0},
    {"length over 16 MiB default", BYTES(0x01, 0, 0, 0x01, 0xFB), 1, FL_E_FRAME_TOO_LARGE, 0},
    {"unknown field", BYTES(HDR(5), 0x20, L4(0)), 0, FL_E_UNKNOWN_FIELD, 8},
    {"unknown field after known", BYTES(HDR(4), 9, L4(1), 's', 0x7F, L4(1), 0), 0,
     FL_E_UNKNOWN_FIELD, 14},
    {"field value past frame end", BYTES(HDR(4), 9, L4(5), 's'), 0, FL_E_TRUNCATED, 8},
    {"field length 4 GiB", BYTES(HDR(4), 9, 0xFF, 0xFF, 0xFF, 0xFF, 's'), 0, FL_E_TRUNCATED, 8},
    {"partial field header", BYTES(HDR(5), 0x80, 0, 0), 0, FL_E_TRUNCATED, 8},
    {"ignorable field value past end", BYTES(HDR(5), 0x80, L4(9), 1), 0, FL_E_TRUNCATED, 8},
    {"duplicate sub id", BYTES(HDR(4), 9, L4(1), 's', 9, L4(1), 't'), 0, FL_E_DUPLICATE_FIELD, 14},
    {"sequence 4 bytes", BYTES(HDR(2), 6, L4(1), 't', 7, L4(4), 0, 0, 0, 1, 8, L4(0)), 0,
     FL_E_BAD_FRAME, 14},
    {"heartbeat_us 9 bytes",
     BYTES(HDR(1), 1, L4(1), 'c', 3, L4(9), 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, L4(4), 0, 0, 0, 1, 5,
           SEQ8),
     0, FL_E_BAD_FRAME, 14},
    {"ack type 2 bytes", BYTES(HDR(6), 13, L4(2), 0, 1, 14, L4(1), 0), 0, FL_E_BAD_FRAME, 8},
    {"bookmark 23 bytes",
     BYTES(HDR(7), 6, L4(1), 't', 9, L4(1), 's', 8, L4(0), 16, L4(23), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
     0, FL_E_BAD_FRAME, 25},
    {"publish without payload", BYTES(HDR(2), 6, L4(1), 't', 7, SEQ8), 0, FL_E_MISSING_FIELD, 27},
    {"publish without topic", BYTES(HDR(2), 7, SEQ8, 8, L4(0)), 0, FL_E_MISSING_FIELD, 26},
    {"logon without command id", BYTES(HDR(1), 1, L4(1), 'c', 3, SEQ8, 4, L4(4), 0, 0, 0, 1), 0,
     FL_E_MISSING_FIELD, 36},
    {"subscribe without command id", BYTES(HDR(3), 6, L4(1), 't', 9, L4(1), 's'), 0,
     FL_E_MISSING_FIELD, 20},
    {"unsubscribe empty", BYTES(HDR(4)), 0, FL_E_MISSING_FIELD, 8},
    {"ack without status", BYTES(HDR(6), 13, L4(1), 1), 0, FL_E_MISSING_FIELD, 14},
    {"subscribed ack without sub id", BYTES(HDR(6), 13, L4(1), 5, 14, L4(1), 0), 0,
     FL_E_MISSING_FIELD, 20},
    {"delivery without bookmark", BYTES(HDR(7), 6, L4(1), 't', 9, L4(1), 's', 8, L4(0)), 0,
     FL_E_MISSING_FIELD, 25},
    {"field not allowed: payload in logon", BYTES(HDR(1), 8, L4(0)), 0, FL_E_BAD_FRAME, 8},
    {"field not allowed: sequence in heartbeat", BYTES(HDR(5), 7, SEQ8), 0, FL_E_BAD_FRAME, 8},
    {"empty topic", BYTES(HDR(2), 6, L4(0), 7, SEQ8, 8, L4(0)), 0, FL_E_BAD_FRAME, 8},
    {"empty sub id", BYTES(HDR(4), 9, L4(0)), 0, FL_E_BAD_FRAME, 8},
    {"NUL in topic", BYTES(HDR(2), 6, L4(2), 'a', 0, 7, SEQ8, 8, L4(0)), 0, FL_E_BAD_FRAME, 8},
    {"NUL in reason text", BYTES(HDR(6), 13, L4(1), 2, 14, L4(1), 1, 17, L4(1), 0), 0,
     FL_E_BAD_FRAME, 20},
    {"ack type 0", BYTES(HDR(6), 13, L4(1), 0, 14, L4(1), 0), 0, FL_E_BAD_FRAME, 8},
    {"ack type 6", BYTES(HDR(6), 13, L4(1), 6, 14, L4(1), 0), 0, FL_E_BAD_FRAME, 8},
    {"status 2", BYTES(HDR(6), 13, L4(1), 2, 14, L4(1), 2), 0, FL_E_BAD_FRAME, 14},
};

static const wire_case GOOD[] = {
    {"heartbeat", BYTES(HDR(5)), 0, 0, 0},
    {"ignorable unknown field skipped", BYTES(HDR(5), 0xA0, L4(3), 1, 2, 3), 0, 0, 0},
    {"ignorable zero-length field", BYTES(HDR(4), 0xFF, L4(0), 9, L4(1), 's'), 0, 0, 0},
    {"fields out of order", BYTES(HDR(2), 8, L4(1), 'p', 7, SEQ8, 6, L4(1), 't'), 0, 0, 0},
    {"unknown reason accepted", BYTES(HDR(6), 13, L4(1), 2, 14, L4(1), 1, 15, L4(1), 200), 0, 0, 0},
    {"NUL in payload is fine", BYTES(HDR(2), 6, L4(1), 't', 7, SEQ8, 8, L4(1), 0), 0, 0, 0},
};

/* Put the case into an exact-size heap buffer, adding the length prefix. */
static uint8_t *case_bytes(const wire_case *c, size_t *n)
{
    size_t pre = c->raw ? 0 : 4;
    uint8_t *p = malloc(c->n + pre);
    assert_non_null(p);
    if (!c->raw)
        fl_store_be32(p, (uint32_t)c->n);
    memcpy(p + pre, c->bytes, c->n);
    *n = c->n + pre;
    return p;
}

static void test_malformed_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const wire_case *c = &BAD[i];
        size_t n, used = 999, off = 999;
        char msg[128] = "";
        fl_frame g;
        uint8_t *p = case_bytes(c, &n);
        int rc = fl_frame_decode_ex(p, n, 0, &g, &used, &off, msg, sizeof msg);
        if (rc != c->want || off != c->want_off)
            fail_msg("case '%s': got %s at %zu (%s), want %s at %zu", c->name, fl_err_name(rc), off,
                     msg, fl_err_name(c->want), c->want_off);
        assert_int_equal(used, 999);
        assert_true(msg[0] != '\0');
        /* the plain entry point agrees */
        assert_int_equal(fl_frame_decode(p, n, 0, &g, &used), c->want);
        free(p);
    }
}

static void test_good_table(void **state)
{
    fl_buf *b = *state;
    for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
        const wire_case *c = &GOOD[i];
        size_t n, used = 0;
        fl_frame g, h;
        uint8_t *p = case_bytes(c, &n);
        int rc = fl_frame_decode(p, n, 0, &g, &used);
        if (rc != 0)
            fail_msg("case '%s': got %s", c->name, fl_err_name(rc));
        assert_int_equal(used, n);
        /* re-encodes (canonically) to an equal frame */
        fl_buf_clear(b);
        assert_int_equal(fl_frame_encode(b, &g), 0);
        assert_int_equal(fl_frame_decode(b->data, b->len, 0, &h, &used), 0);
        assert_true(fl_frame_equal(&g, &h));
        free(p);
    }
}

static void test_ignorable_field_not_reported(void **state)
{
    (void)state;
    static const uint8_t in[] = {0, 0, 0, 12, HDR(5), 0xA0, L4(3), 1, 2, 3};
    fl_frame g;
    size_t used;
    assert_int_equal(fl_frame_decode(in, sizeof in, 0, &g, &used), 0);
    assert_int_equal(g.present, 0);
    assert_int_equal(g.command, FL_CMD_HEARTBEAT);
}

/* ---- maximum frame size ------------------------------------------------- */

static void test_max_frame(void **state)
{
    fl_buf *b = *state;
    fl_frame g;
    size_t used = 0;
    assert_int_equal(fl_wire_encode_publish(b, S("t"), 1, S("0123456789")), 0);
    size_t n = b->len;
    assert_int_equal(fl_frame_decode(b->data, n, n, &g, &used), 0);
    assert_int_equal(used, n);
    assert_int_equal(fl_frame_decode(b->data, n, n - 1, &g, &used), FL_E_FRAME_TOO_LARGE);
    /* rejected from the prefix alone, before the body arrives */
    assert_int_equal(fl_frame_decode(b->data, 4, n - 1, &g, &used), FL_E_FRAME_TOO_LARGE);
    assert_int_equal(fl_frame_decode(b->data, 4, n, &g, &used), FL_E_AGAIN);
    assert_int_equal(fl_frame_decode(b->data, n, 3, &g, &used), FL_E_FRAME_TOO_LARGE);

    /* the default (max_frame 0) is 16 MiB including the prefix */
    uint8_t pre[4];
    fl_store_be32(pre, FL_WIRE_MAX_FRAME_DEFAULT - 4);
    assert_int_equal(fl_frame_decode(pre, 4, 0, &g, &used), FL_E_AGAIN);
    fl_store_be32(pre, FL_WIRE_MAX_FRAME_DEFAULT - 3);
    assert_int_equal(fl_frame_decode(pre, 4, 0, &g, &used), FL_E_FRAME_TOO_LARGE);
    assert_int_equal(fl_frame_decode(pre, 4, FL_WIRE_MAX_FRAME_DEFAULT + 1, &g, &used), FL_E_AGAIN);
}

static void test_large_payload(void **state)
{
    fl_buf *b = *state;
    size_t n = 1u << 20;
    uint8_t *big = calloc(1, n);
    assert_non_null(big);
    big[n - 1] = 0xEE;
    fl_frame g;
    size_t used;
    assert_int_equal(fl_wire_encode_publish(b, S("t"), 1, fl_slice_make(big, n)), 0);
    assert_int_equal(fl_frame_decode(b->data, b->len, 0, &g, &used), 0);
    assert_int_equal(g.payload.len, n);
    assert_int_equal(g.payload.ptr[n - 1], 0xEE);
    assert_int_equal(fl_frame_decode(b->data, b->len, n, &g, &used), FL_E_FRAME_TOO_LARGE);
    free(big);
}

/* ---- encoder validation ------------------------------------------------- */

static void test_encode_rejects_invalid(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_append(b, "keep", 4), 0);
    fl_frame f = frame_publish();
    f.present &= ~FL_HAS_PAYLOAD;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_MISSING_FIELD);
    assert_int_equal(fl_frame_encoded_size(&f), 0);
    f = frame_publish();
    f.command = 0;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_UNKNOWN_COMMAND);
    f.command = 42;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_UNKNOWN_COMMAND);
    f = frame_publish();
    f.present |= FL_HAS_CLIENT_NAME; /* not allowed in publish */
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f = frame_publish();
    f.present |= 1u << 30; /* not a field */
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f = frame_publish();
    f.topic = S("a\0b");
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f.topic = S("");
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f.topic = fl_slice_make(NULL, 3);
    assert_int_equal(fl_frame_encode(b, &f), FL_E_INVAL);
    f = frame_ack_full();
    f.ack_type = 0;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f = frame_ack_full();
    f.status = 7;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_BAD_FRAME);
    f = frame_ack_full();
    f.ack_type = FL_ACK_COMPLETED;
    f.present &= ~FL_HAS_SUB_ID;
    assert_int_equal(fl_frame_encode(b, &f), FL_E_MISSING_FIELD);

    assert_int_equal(fl_wire_encode_publish(b, S(""), 1, S("x")), FL_E_BAD_FRAME);
    assert_int_equal(fl_wire_encode_publish(b, S("t\0"), 1, S("x")), FL_E_BAD_FRAME);
    assert_int_equal(fl_wire_encode_publish(b, S("t"), 1, fl_slice_make(NULL, 1)), FL_E_INVAL);
    assert_int_equal(fl_wire_encode_publish(b, S("t"), 1, fl_slice_make(b->data, SIZE_MAX)),
                     FL_E_FRAME_TOO_LARGE);
    assert_int_equal(fl_wire_encode_delivery(b, S("t"), S("s"), NULL, S("p")), FL_E_INVAL);
    assert_int_equal(fl_wire_encode_unsubscribe(b, S("")), FL_E_BAD_FRAME);
    assert_int_equal(fl_wire_encode_logon(b, S("c"), S("p\0w"), 1, 1), FL_E_BAD_FRAME);

    /* failures leave the buffer unchanged */
    assert_int_equal(b->len, 4);
    assert_memory_equal(b->data, "keep", 4);
}

static void test_decode_rejects_bad_arguments(void **state)
{
    (void)state;
    fl_frame g;
    size_t used;
    assert_int_equal(fl_frame_decode(NULL, 5, 0, &g, &used), FL_E_INVAL);
    assert_int_equal(fl_frame_decode(NULL, 0, 0, &g, &used), FL_E_AGAIN);
    static const uint8_t hb[] = {0, 0, 0, 4, HDR(5)};
    assert_int_equal(fl_frame_decode(hb, sizeof hb, 0, NULL, &used), FL_E_INVAL);
    assert_int_equal(fl_frame_decode(hb, sizeof hb, 0, &g, NULL), FL_E_INVAL);
}

static void test_error_detail(void **state)
{
    (void)state;
    static const uint8_t in[] = {0, 0, 0, 15, HDR(4), 9, L4(1), 's', 9, L4(0)};
    fl_frame g;
    size_t used, off = 0;
    char msg[64];
    assert_int_equal(fl_frame_decode_ex(in, sizeof in, 0, &g, &used, &off, msg, sizeof msg),
                     FL_E_DUPLICATE_FIELD);
    assert_int_equal(off, 14);
    assert_non_null(strstr(msg, "sub_id"));
    /* a tiny detail buffer is truncated, never overrun */
    char tiny[4] = {'x', 'x', 'x', 'x'};
    assert_int_equal(fl_frame_decode_ex(in, sizeof in, 0, &g, &used, NULL, tiny, 3),
                     FL_E_DUPLICATE_FIELD);
    assert_int_equal(tiny[2], '\0');
    assert_int_equal(tiny[3], 'x');
}

/* ---- names -------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    for (int c = FL_CMD_LOGON; c <= FL_CMD_DELIVERY; c++)
        assert_int_equal(fl_cmd_from_name(fl_cmd_name(c)), c);
    for (int a = FL_ACK_LOGON; a <= FL_ACK_SUBSCRIBED; a++)
        assert_int_equal(fl_ack_type_from_name(fl_ack_type_name(a)), a);
    for (int r = FL_REASON_NONE; r <= FL_REASON_INTERNAL; r++)
        assert_int_equal(fl_reason_from_name(fl_reason_name(r)), r);
    assert_string_equal(fl_cmd_name(FL_CMD_PUBLISH), "publish");
    assert_string_equal(fl_cmd_name(0), "unknown");
    assert_string_equal(fl_ack_type_name(FL_ACK_COMPLETED), "completed");
    assert_string_equal(fl_ack_type_name(99), "unknown");
    assert_string_equal(fl_reason_name(FL_REASON_BOOKMARK_EXPIRED), "bookmark_expired");
    assert_string_equal(fl_reason_name(250), "unknown");
    assert_string_equal(fl_status_name(FL_STATUS_FAILURE), "failure");
    assert_string_equal(fl_status_name(FL_STATUS_SUCCESS), "success");
    assert_string_equal(fl_status_name(3), "unknown");
    assert_string_equal(fl_wire_field_name(FL_FIELD_HEARTBEAT_US), "heartbeat_us");
    assert_string_equal(fl_wire_field_name(0), "unknown");
    assert_string_equal(fl_wire_field_name(-1), "unknown");
    assert_string_equal(fl_wire_field_name(200), "unknown");
    assert_int_equal(fl_cmd_from_name("nope"), -1);
    assert_int_equal(fl_cmd_from_name(NULL), -1);
    assert_int_equal(fl_reason_from_name(NULL), -1);
    assert_int_equal(fl_ack_type_from_name("unknown"), -1);
}

static void test_reason_to_err(void **state)
{
    (void)state;
    assert_int_equal(fl_reason_to_err(FL_REASON_NONE), 0);
    assert_int_equal(fl_reason_to_err(FL_REASON_DUPLICATE), FL_E_DUPLICATE);
    assert_int_equal(fl_reason_to_err(FL_REASON_NOT_ENTITLED), FL_E_NOT_ENTITLED);
    assert_int_equal(fl_reason_to_err(FL_REASON_BOOKMARK_EXPIRED), FL_E_BOOKMARK_EXPIRED);
    assert_int_equal(fl_reason_to_err(FL_REASON_INVALID_BOOKMARK), FL_E_INVALID_BOOKMARK);
    assert_int_equal(fl_reason_to_err(FL_REASON_AUTH_FAILED), FL_E_AUTH);
    assert_int_equal(fl_reason_to_err(FL_REASON_LOGON_REFUSED), FL_E_LOGON_REFUSED);
    assert_int_equal(fl_reason_to_err(FL_REASON_NAME_IN_USE), FL_E_LOGON_REFUSED);
    assert_int_equal(fl_reason_to_err(FL_REASON_SUB_ID_IN_USE), FL_E_BUSY);
    assert_int_equal(fl_reason_to_err(FL_REASON_UNKNOWN_SUB), FL_E_NOT_FOUND);
    assert_int_equal(fl_reason_to_err(FL_REASON_NOT_LOGGED_ON), FL_E_STATE);
    assert_int_equal(fl_reason_to_err(FL_REASON_INTERNAL), FL_E_IO);
    assert_int_equal(fl_reason_to_err(FL_REASON_BAD_REQUEST), FL_E_INVAL);
    assert_int_equal(fl_reason_to_err(200), FL_E_INVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_samples_cover_every_field_and_command),
        T(test_round_trip_every_command),
        T(test_round_trip_values),
        T(test_equal_detects_differences),
        T(test_publish_exact_bytes),
        T(test_convenience_encoders_match_generic),
        T(test_every_split_point),
        T(test_back_to_back),
        T(test_stream_chunks),
        T(test_malformed_table),
        T(test_good_table),
        T(test_ignorable_field_not_reported),
        T(test_max_frame),
        T(test_large_payload),
        T(test_encode_rejects_invalid),
        T(test_decode_rejects_bad_arguments),
        T(test_error_detail),
        T(test_names),
        T(test_reason_to_err),
    };
#undef T
    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
