/* The faultline wire protocol: frame codec between client and broker.
 *
 * Frame layout (all integers big-endian):
 *
 *   u32  length    bytes that follow this prefix (header + fields)
 *   u8   magic     FL_WIRE_MAGIC
 *   u8   version   FL_WIRE_VERSION
 *   u8   command   FL_CMD_*
 *   u8   flags     reserved, carried through unchanged
 *   then fields, each a TLV:
 *   u8   type      FL_FIELD_*; the high bit (FL_FIELD_IGNORABLE) marks a
 *                  field a decoder that does not know it may skip
 *   u32  length    value bytes
 *   ...  value     strings/bytes raw; u8/u32/u64 exactly 1/4/8 bytes;
 *                  bookmarks 24 bytes (publisher u64, sequence u64,
 *                  timestamp i64 microseconds UTC)
 *
 * A frame's whole size (prefix included) must not exceed the decoder's
 * max_frame. Fields may appear in any order, each at most once; the encoder
 * writes them in ascending type order. Which fields a command allows and
 * requires is fixed per command (see DESIGN.md "Wire protocol" and the table
 * in wire.c); a known field that the command does not allow is an error.
 * Text fields (names, topic, password, bookmark text, reason text) may not
 * contain NUL bytes; client name, topic and sub id may not be empty.
 *
 * Decoding is zero-copy: string and byte fields of fl_frame are slices into
 * the input, valid only while the input is.
 */
#ifndef FAULTLINE_WIRE_H
#define FAULTLINE_WIRE_H

#include "faultline/buf.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_WIRE_MAGIC             0xFBu
#define FL_WIRE_VERSION           1u
#define FL_WIRE_PREFIX_SIZE       4u /* the u32 length */
#define FL_WIRE_HEADER_SIZE       4u /* magic, version, command, flags */
#define FL_WIRE_MIN_FRAME         (FL_WIRE_PREFIX_SIZE + FL_WIRE_HEADER_SIZE)
#define FL_WIRE_FIELD_HEADER_SIZE 5u  /* type u8 + length u32 */
#define FL_WIRE_BOOKMARK_SIZE     24u /* publisher, sequence, timestamp */
#define FL_WIRE_MAX_FRAME_DEFAULT (16u * 1024u * 1024u)
#define FL_FIELD_IGNORABLE        0x80u

/* X(NAME, value, "name") */
#define FL_WIRE_CMD_MAP(X)                                                                         \
    X(LOGON, 1, "logon")                                                                           \
    X(PUBLISH, 2, "publish")                                                                       \
    X(SUBSCRIBE, 3, "subscribe")                                                                   \
    X(UNSUBSCRIBE, 4, "unsubscribe")                                                               \
    X(HEARTBEAT, 5, "heartbeat")                                                                   \
    X(ACK, 6, "ack")                                                                               \
    X(DELIVERY, 7, "delivery")                                                                     \
    X(REPLICATE, 8, "replicate")                                                                   \
    X(REPL_LOGON, 9, "repl_logon")

typedef enum fl_cmd {
#define FL__CMD_ENUM(name, value, str) FL_CMD_##name = (value),
    FL_WIRE_CMD_MAP(FL__CMD_ENUM)
#undef FL__CMD_ENUM
} fl_cmd;

#define FL_WIRE_ACK_MAP(X)                                                                         \
    X(LOGON, 1, "logon")                                                                           \
    X(PROCESSED, 2, "processed")                                                                   \
    X(PERSISTED, 3, "persisted")                                                                   \
    X(COMPLETED, 4, "completed")                                                                   \
    X(SUBSCRIBED, 5, "subscribed")

typedef enum fl_ack_type {
#define FL__ACK_ENUM(name, value, str) FL_ACK_##name = (value),
    FL_WIRE_ACK_MAP(FL__ACK_ENUM)
#undef FL__ACK_ENUM
} fl_ack_type;

typedef enum fl_status {
    FL_STATUS_SUCCESS = 0,
    FL_STATUS_FAILURE = 1,
} fl_status;

/* Failure reasons. The decoder accepts reason values it does not know (a
 * newer broker may send them); fl_reason_name() calls them "unknown". */
#define FL_WIRE_REASON_MAP(X)                                                                      \
    X(NONE, 0, "none")                                                                             \
    X(DUPLICATE, 1, "duplicate")                                                                   \
    X(NOT_ENTITLED, 2, "not_entitled")                                                             \
    X(BOOKMARK_EXPIRED, 3, "bookmark_expired")                                                     \
    X(INVALID_BOOKMARK, 4, "invalid_bookmark")                                                     \
    X(AUTH_FAILED, 5, "auth_failed")                                                               \
    X(LOGON_REFUSED, 6, "logon_refused")                                                           \
    X(BAD_REQUEST, 7, "bad_request")                                                               \
    X(NAME_IN_USE, 8, "name_in_use")                                                               \
    X(SUB_ID_IN_USE, 9, "sub_id_in_use")                                                           \
    X(UNKNOWN_SUB, 10, "unknown_sub")                                                              \
    X(NOT_LOGGED_ON, 11, "not_logged_on")                                                          \
    X(INTERNAL, 12, "internal")

typedef enum fl_reason {
#define FL__REASON_ENUM(name, value, str) FL_REASON_##name = (value),
    FL_WIRE_REASON_MAP(FL__REASON_ENUM)
#undef FL__REASON_ENUM
} fl_reason;

/* Subscribe option flags (the `sub_options` field). Unknown bits are carried
 * through; the broker decides whether to honour them. */
#define FL_SUB_COMPLETED 0x1u /* send a `completed` ack at the end of a range */

/* Fields: X(NAME, type, member, kind). Presence bit FL_HAS_NAME. */
#define FL_WIRE_FIELD_MAP(X)                                                                       \
    X(CLIENT_NAME, 1, client_name, NAME)                                                           \
    X(PASSWORD, 2, password, TEXT)                                                                 \
    X(HEARTBEAT_US, 3, heartbeat_us, U64)                                                          \
    X(PROTO_VERSION, 4, proto_version, U32)                                                        \
    X(COMMAND_ID, 5, command_id, U64)                                                              \
    X(TOPIC, 6, topic, NAME)                                                                       \
    X(SEQUENCE, 7, sequence, U64)                                                                  \
    X(PAYLOAD, 8, payload, BYTES)                                                                  \
    X(SUB_ID, 9, sub_id, NAME)                                                                     \
    X(BOOKMARK_TEXT, 10, bookmark_text, TEXT)                                                      \
    X(SUB_OPTIONS, 11, sub_options, U32)                                                           \
    X(MAX_PENDING, 12, max_pending, U32)                                                           \
    X(ACK_TYPE, 13, ack_type, U8)                                                                  \
    X(STATUS, 14, status, U8)                                                                      \
    X(REASON, 15, reason, U8)                                                                      \
    X(BOOKMARK, 16, bookmark, BOOKMARK)                                                            \
    X(REASON_TEXT, 17, reason_text, TEXT)

typedef enum fl_wire_field {
#define FL__FIELD_ENUM(name, type, member, kind) FL_FIELD_##name = (type),
    FL_WIRE_FIELD_MAP(FL__FIELD_ENUM)
#undef FL__FIELD_ENUM
        FL_FIELD_LAST = 17
} fl_wire_field;

enum {
#define FL__FIELD_HAS(name, type, member, kind) FL_HAS_##name = (1u << (type)),
    FL_WIRE_FIELD_MAP(FL__FIELD_HAS)
#undef FL__FIELD_HAS
};

/* A broker-assigned message identity, as carried on the wire. */
typedef struct fl_wire_bookmark {
    uint64_t publisher;   /* stable 64-bit hash of the publishing client name */
    uint64_t sequence;    /* the publisher's sequence number */
    int64_t timestamp_us; /* broker receipt time, microseconds since the UTC epoch */
} fl_wire_bookmark;

/* One frame. `present` is a mask of FL_HAS_* bits; a field whose bit is
 * clear is absent and its member is zero after decoding (the encoder ignores
 * it). Slices borrow the decoder's input (or the encoder caller's memory). */
typedef struct fl_frame {
    uint8_t command; /* FL_CMD_* */
    uint8_t flags;   /* header flags, reserved */
    uint32_t present;

    fl_slice client_name;      /* logon */
    fl_slice password;         /* logon, optional */
    uint64_t heartbeat_us;     /* logon: heartbeat interval */
    uint32_t proto_version;    /* logon */
    uint64_t command_id;       /* logon, subscribe; optional elsewhere */
    fl_slice topic;            /* publish, subscribe, delivery */
    uint64_t sequence;         /* publish; ack (see DESIGN.md) */
    fl_slice payload;          /* publish, delivery */
    fl_slice sub_id;           /* subscribe, unsubscribe, delivery; ack */
    fl_slice bookmark_text;    /* subscribe: bookmark, list or range text */
    uint32_t sub_options;      /* subscribe: FL_SUB_* flags */
    uint32_t max_pending;      /* subscribe: prefetch bound, 0 = unbounded */
    uint8_t ack_type;          /* ack: FL_ACK_* */
    uint8_t status;            /* ack: FL_STATUS_* */
    uint8_t reason;            /* ack: FL_REASON_* */
    fl_wire_bookmark bookmark; /* delivery; persisted ack to a bookmark subscriber */
    fl_slice reason_text;      /* ack, optional */
} fl_frame;

/* Replication between broker instances (simulator/broker.c):
 *   repl_logon (client_name = the sending instance's name, optional
 *     password, command_id): opens a replication stream; the receiver
 *     answers with a logon ack whose `sequence` is the highest origin record
 *     number it holds durably from that instance (where to resume).
 *   replicate (topic, bookmark = the original publisher, sequence and
 *     receipt timestamp, payload, sequence = the origin's record number):
 *     one journaled message; the receiver answers with persisted acks whose
 *     `sequence` is the highest origin record number now durable there. */

/* Reset `f` to an empty frame of command `cmd` (no fields present). */
void fl_frame_init(fl_frame *f, int cmd);

/* Decode one frame from the front of buf[0..len).
 *
 * Returns 0 and sets *consumed to the whole frame size (prefix included);
 * FL_E_AGAIN when buf holds less than a whole frame (including fewer than 4
 * bytes); otherwise a negative code (FL_E_FRAME_TOO_LARGE, FL_E_BAD_FRAME,
 * FL_E_BAD_VERSION, FL_E_UNKNOWN_COMMAND, FL_E_UNKNOWN_FIELD, FL_E_TRUNCATED,
 * FL_E_DUPLICATE_FIELD, FL_E_MISSING_FIELD). An oversize length is rejected
 * as soon as the prefix is in, before the body arrives. max_frame is the
 * largest accepted frame size including the prefix; 0 means
 * FL_WIRE_MAX_FRAME_DEFAULT. Never reads past buf+len. *out is only
 * meaningful on success; its slices point into buf. *consumed is written on
 * success only. */
int fl_frame_decode(const uint8_t *buf, size_t len, size_t max_frame, fl_frame *out,
                    size_t *consumed);

/* fl_frame_decode() plus, on error, the byte offset of the problem in buf
 * (err_offset, may be NULL) and a one-line explanation written into errbuf
 * (may be NULL; errlen bytes including the NUL). */
int fl_frame_decode_ex(const uint8_t *buf, size_t len, size_t max_frame, fl_frame *out,
                       size_t *consumed, size_t *err_offset, char *errbuf, size_t errlen);

/* Append the encoding of `f` to `out`. The frame must satisfy the same rules
 * the decoder enforces: known command, required fields present, no field the
 * command does not allow, valid ack type/status, text without NUL, non-empty
 * names; otherwise the decoder's error code is returned (FL_E_UNKNOWN_COMMAND,
 * FL_E_MISSING_FIELD, FL_E_BAD_FRAME) or FL_E_FRAME_TOO_LARGE when it would
 * not fit a u32 length, or FL_E_NOMEM. On failure `out` is unchanged. */
int fl_frame_encode(fl_buf *out, const fl_frame *f);

/* Size fl_frame_encode() would append for `f`, or 0 if `f` is invalid. */
size_t fl_frame_encoded_size(const fl_frame *f);

/* Convenience encoders (same contract as fl_frame_encode). A slice with a
 * NULL ptr means "absent" for optional text; command_id 0 means absent
 * where it is optional. */
int fl_wire_encode_logon(fl_buf *out, fl_slice client_name, fl_slice password,
                         uint64_t heartbeat_us, uint64_t command_id);
int fl_wire_encode_publish(fl_buf *out, fl_slice topic, uint64_t sequence, fl_slice payload);
/* options and max_pending are omitted when 0. */
int fl_wire_encode_subscribe(fl_buf *out, fl_slice topic, fl_slice sub_id, fl_slice bookmark_text,
                             uint32_t options, uint32_t max_pending, uint64_t command_id);
int fl_wire_encode_unsubscribe(fl_buf *out, fl_slice sub_id);
int fl_wire_encode_heartbeat(fl_buf *out);
int fl_wire_encode_delivery(fl_buf *out, fl_slice topic, fl_slice sub_id,
                            const fl_wire_bookmark *bookmark, fl_slice payload);

/* Non-zero when a and b have the same command, flags, present mask and
 * equal values for every present field (slices compared by content). */
int fl_frame_equal(const fl_frame *a, const fl_frame *b);

/* Names for logs and history. Never NULL; unknown values give "unknown". */
const char *fl_cmd_name(int cmd);
const char *fl_ack_type_name(int ack_type);
const char *fl_status_name(int status);
const char *fl_reason_name(int reason);
const char *fl_wire_field_name(int field_type);

/* The value for a name as produced by the functions above, or -1. */
int fl_cmd_from_name(const char *name);
int fl_ack_type_from_name(const char *name);
int fl_reason_from_name(const char *name);

/* The FL_E_* code an application sees for a failure reason: duplicate ->
 * FL_E_DUPLICATE, not_entitled -> FL_E_NOT_ENTITLED, bookmark_expired ->
 * FL_E_BOOKMARK_EXPIRED, invalid_bookmark -> FL_E_INVALID_BOOKMARK,
 * auth_failed -> FL_E_AUTH, logon_refused / name_in_use -> FL_E_LOGON_REFUSED,
 * sub_id_in_use -> FL_E_BUSY, unknown_sub -> FL_E_NOT_FOUND, bad_request and
 * unknown reasons -> FL_E_INVAL,
 * not_logged_on -> FL_E_STATE, internal -> FL_E_IO, none -> 0. */
int fl_reason_to_err(int reason);

#ifdef __cplusplus
}
#endif
#endif
