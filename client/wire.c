/* Wire protocol codec: strict, zero-copy frame decoding and encoding.
 *
 * Design note. Everything about a field (its width rule, where it lives in
 * fl_frame) is in one table indexed by field type, and everything about a
 * command (which fields it allows and requires) in another; the decoder and
 * the encoder both check a frame against the same tables and the same
 * per-value rules, so any frame the decoder accepts re-encodes, and any
 * frame the encoder writes decodes to an equal frame. The fuzz target
 * asserts exactly that.
 *
 * The decoder only ever indexes buf below the frame end, and the frame end
 * is only trusted after it has been compared with both max_frame and len.
 */
#include "faultline/wire.h"

#include "faultline/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum field_kind {
    K_NONE = 0, /* not a known field type */
    K_NAME,     /* text, non-empty */
    K_TEXT,     /* text, may be empty */
    K_BYTES,    /* any bytes */
    K_U8,
    K_U32,
    K_U64,
    K_BOOKMARK,
};

typedef struct field_desc {
    const char *name;
    enum field_kind kind;
    size_t offset; /* of the member in fl_frame */
} field_desc;

static const field_desc FIELDS[FL_FIELD_LAST + 1] = {
#define FIELD_DESC(name_, type, member, kind)                                                      \
    [type] = {#member, K_##kind, offsetof(fl_frame, member)},
    FL_WIRE_FIELD_MAP(FIELD_DESC)
#undef FIELD_DESC
};

typedef struct cmd_desc {
    uint32_t allowed;
    uint32_t required;
} cmd_desc;

static const cmd_desc COMMANDS[] = {
    [FL_CMD_LOGON] = {FL_HAS_CLIENT_NAME | FL_HAS_PASSWORD | FL_HAS_HEARTBEAT_US |
                          FL_HAS_PROTO_VERSION | FL_HAS_COMMAND_ID,
                      FL_HAS_CLIENT_NAME | FL_HAS_HEARTBEAT_US | FL_HAS_PROTO_VERSION |
                          FL_HAS_COMMAND_ID},
    [FL_CMD_PUBLISH] = {FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD | FL_HAS_COMMAND_ID,
                        FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD},
    [FL_CMD_SUBSCRIBE] = {FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK_TEXT | FL_HAS_SUB_OPTIONS |
                              FL_HAS_MAX_PENDING | FL_HAS_COMMAND_ID,
                          FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_COMMAND_ID},
    [FL_CMD_UNSUBSCRIBE] = {FL_HAS_SUB_ID | FL_HAS_COMMAND_ID, FL_HAS_SUB_ID},
    [FL_CMD_HEARTBEAT] = {0, 0},
    [FL_CMD_ACK] = {FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_REASON | FL_HAS_SEQUENCE |
                        FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_REASON_TEXT | FL_HAS_COMMAND_ID,
                    FL_HAS_ACK_TYPE | FL_HAS_STATUS},
    [FL_CMD_DELIVERY] = {FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD,
                         FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD},
    [FL_CMD_REPLICATE] = {FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD | FL_HAS_BOOKMARK |
                              FL_HAS_COMMAND_ID,
                          FL_HAS_TOPIC | FL_HAS_SEQUENCE | FL_HAS_PAYLOAD | FL_HAS_BOOKMARK},
    [FL_CMD_REPL_LOGON] = {FL_HAS_CLIENT_NAME | FL_HAS_PASSWORD | FL_HAS_COMMAND_ID,
                           FL_HAS_CLIENT_NAME | FL_HAS_COMMAND_ID},
};

#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static const cmd_desc *cmd_lookup(unsigned cmd)
{
    if (cmd == 0 || cmd >= NCOMMANDS)
        return NULL;
    return &COMMANDS[cmd];
}

static const field_desc *field_lookup(unsigned type)
{
    if (type > FL_FIELD_LAST || FIELDS[type].kind == K_NONE)
        return NULL;
    return &FIELDS[type];
}

/* ---- names ------------------------------------------------------------- */

const char *fl_cmd_name(int cmd)
{
    switch (cmd) {
#define NAME_CASE(name, value, str)                                                                \
    case value:                                                                                    \
        return str;
        FL_WIRE_CMD_MAP(NAME_CASE)
    default:
        return "unknown";
    }
}

const char *fl_ack_type_name(int ack_type)
{
    switch (ack_type) {
        FL_WIRE_ACK_MAP(NAME_CASE)
    default:
        return "unknown";
    }
}

const char *fl_reason_name(int reason)
{
    switch (reason) {
        FL_WIRE_REASON_MAP(NAME_CASE)
#undef NAME_CASE
    default:
        return "unknown";
    }
}

const char *fl_status_name(int status)
{
    switch (status) {
    case FL_STATUS_SUCCESS:
        return "success";
    case FL_STATUS_FAILURE:
        return "failure";
    default:
        return "unknown";
    }
}

const char *fl_wire_field_name(int field_type)
{
    const field_desc *d = field_type < 0 ? NULL : field_lookup((unsigned)field_type);
    return d ? d->name : "unknown";
}

int fl_cmd_from_name(const char *name)
{
#define FROM_NAME(name_, value, str)                                                               \
    if (strcmp(name, str) == 0)                                                                    \
        return value;
    if (name == NULL)
        return -1;
    FL_WIRE_CMD_MAP(FROM_NAME)
    return -1;
}

int fl_ack_type_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    FL_WIRE_ACK_MAP(FROM_NAME)
    return -1;
}

int fl_reason_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    FL_WIRE_REASON_MAP(FROM_NAME)
#undef FROM_NAME
    return -1;
}

int fl_reason_to_err(int reason)
{
    switch (reason) {
    case FL_REASON_NONE:
        return 0;
    case FL_REASON_DUPLICATE:
        return FL_E_DUPLICATE;
    case FL_REASON_NOT_ENTITLED:
        return FL_E_NOT_ENTITLED;
    case FL_REASON_BOOKMARK_EXPIRED:
        return FL_E_BOOKMARK_EXPIRED;
    case FL_REASON_INVALID_BOOKMARK:
        return FL_E_INVALID_BOOKMARK;
    case FL_REASON_AUTH_FAILED:
        return FL_E_AUTH;
    case FL_REASON_LOGON_REFUSED:
    case FL_REASON_NAME_IN_USE:
        return FL_E_LOGON_REFUSED;
    case FL_REASON_SUB_ID_IN_USE:
        return FL_E_BUSY;
    case FL_REASON_UNKNOWN_SUB:
        return FL_E_NOT_FOUND;
    case FL_REASON_NOT_LOGGED_ON:
        return FL_E_STATE;
    case FL_REASON_INTERNAL:
        return FL_E_IO;
    default:
        return FL_E_INVAL;
    }
}

/* ---- value rules shared by decoder and encoder -------------------------- */

/* Why a value is not acceptable for its field, or NULL when it is. */
static const char *check_slice(enum field_kind kind, fl_slice s)
{
    if (s.ptr == NULL && s.len != 0)
        return "NULL data with non-zero length";
    if (kind == K_NAME && s.len == 0)
        return "must not be empty";
    if ((kind == K_NAME || kind == K_TEXT) && s.len != 0 && memchr(s.ptr, 0, s.len) != NULL)
        return "text contains a NUL byte";
    return NULL;
}

static const char *check_u8(unsigned type, uint8_t v)
{
    if (type == FL_FIELD_ACK_TYPE && (v < FL_ACK_LOGON || v > FL_ACK_SUBSCRIBED))
        return "unknown ack type";
    if (type == FL_FIELD_STATUS && v > FL_STATUS_FAILURE)
        return "unknown status";
    return NULL;
}

/* Per-ack-type requirements beyond the command table. */
static uint32_t ack_required(uint8_t ack_type)
{
    if (ack_type == FL_ACK_SUBSCRIBED || ack_type == FL_ACK_COMPLETED)
        return FL_HAS_SUB_ID;
    return 0;
}

static int lowest_bit(uint32_t m)
{
    return __builtin_ctz(m);
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct derr {
    size_t *offset;
    char *buf;
    size_t len;
} derr;

__attribute__((format(printf, 4, 5))) static int fail(const derr *e, int code, size_t off,
                                                      const char *fmt, ...)
{
    if (e->offset)
        *e->offset = off;
    if (e->buf && e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int decode_value(fl_frame *out, unsigned type, const field_desc *d, const uint8_t *v,
                        uint32_t vlen, size_t off, const derr *e)
{
    void *dst = (char *)out + d->offset;
    static const uint32_t width[] = {
        [K_U8] = 1, [K_U32] = 4, [K_U64] = 8, [K_BOOKMARK] = FL_WIRE_BOOKMARK_SIZE};
    const char *why;

    switch (d->kind) {
    case K_NAME:
    case K_TEXT:
    case K_BYTES: {
        fl_slice s = {v, vlen};
        why = check_slice(d->kind, s);
        if (why)
            return fail(e, FL_E_BAD_FRAME, off, "field %s: %s", d->name, why);
        *(fl_slice *)dst = s;
        return 0;
    }
    default:
        break;
    }
    if (vlen != width[d->kind])
        return fail(e, FL_E_BAD_FRAME, off, "field %s: length %u, expected %u", d->name,
                    (unsigned)vlen, (unsigned)width[d->kind]);
    switch (d->kind) {
    case K_U8:
        why = check_u8(type, v[0]);
        if (why)
            return fail(e, FL_E_BAD_FRAME, off, "field %s: %s (%u)", d->name, why, v[0]);
        *(uint8_t *)dst = v[0];
        return 0;
    case K_U32:
        *(uint32_t *)dst = fl_load_be32(v);
        return 0;
    case K_U64:
        *(uint64_t *)dst = fl_load_be64(v);
        return 0;
    default: {
        fl_wire_bookmark *b = dst;
        b->publisher = fl_load_be64(v);
        b->sequence = fl_load_be64(v + 8);
        b->timestamp_us = (int64_t)fl_load_be64(v + 16);
        return 0;
    }
    }
}

/* Decode the field whose header is at buf[off]; the caller has checked that
 * its value lies inside the frame. */
static int decode_field(fl_frame *out, const cmd_desc *cd, const uint8_t *buf, size_t off,
                        const derr *e)
{
    unsigned type = buf[off];
    uint32_t vlen = fl_load_be32(buf + off + 1);
    const field_desc *d = field_lookup(type);

    if (d == NULL) {
        if (type & FL_FIELD_IGNORABLE)
            return 0;
        return fail(e, FL_E_UNKNOWN_FIELD, off, "unknown field type 0x%02x", type);
    }
    uint32_t bit = 1u << type;
    if (!(cd->allowed & bit))
        return fail(e, FL_E_BAD_FRAME, off, "field %s not allowed in %s", d->name,
                    fl_cmd_name(out->command));
    if (out->present & bit)
        return fail(e, FL_E_DUPLICATE_FIELD, off, "field %s appears twice", d->name);
    int rc = decode_value(out, type, d, buf + off + FL_WIRE_FIELD_HEADER_SIZE, vlen, off, e);
    if (rc == 0)
        out->present |= bit;
    return rc;
}

static int check_required(const fl_frame *f, const cmd_desc *cd, size_t off, const derr *e)
{
    uint32_t need = cd->required;
    if (f->command == FL_CMD_ACK)
        need |= ack_required(f->ack_type);
    uint32_t missing = need & ~f->present;
    if (missing)
        return fail(e, FL_E_MISSING_FIELD, off, "%s without required field %s",
                    fl_cmd_name(f->command), fl_wire_field_name(lowest_bit(missing)));
    return 0;
}

/* Parse the prefix and header of the frame at buf; on success *total is the
 * whole frame size and it lies within len. */
static int decode_header(const uint8_t *buf, size_t len, size_t max_frame, size_t *total,
                         const derr *e)
{
    if (len < FL_WIRE_PREFIX_SIZE)
        return FL_E_AGAIN;
    uint32_t flen = fl_load_be32(buf);
    if (max_frame < FL_WIRE_PREFIX_SIZE || flen > max_frame - FL_WIRE_PREFIX_SIZE)
        return fail(e, FL_E_FRAME_TOO_LARGE, 0, "frame of %zu bytes exceeds the maximum %zu",
                    (size_t)flen + FL_WIRE_PREFIX_SIZE, max_frame);
    if (flen < FL_WIRE_HEADER_SIZE)
        return fail(e, FL_E_BAD_FRAME, 0, "frame length %u is shorter than the header",
                    (unsigned)flen);
    *total = (size_t)flen + FL_WIRE_PREFIX_SIZE;
    if (len < *total)
        return FL_E_AGAIN;
    if (buf[4] != FL_WIRE_MAGIC)
        return fail(e, FL_E_BAD_FRAME, 4, "bad magic 0x%02x", buf[4]);
    if (buf[5] != FL_WIRE_VERSION)
        return fail(e, FL_E_BAD_VERSION, 5, "unsupported protocol version %u", buf[5]);
    return 0;
}

int fl_frame_decode_ex(const uint8_t *buf, size_t len, size_t max_frame, fl_frame *out,
                       size_t *consumed, size_t *err_offset, char *errbuf, size_t errlen)
{
    const derr e = {err_offset, errbuf, errlen};
    size_t total = 0;

    if ((buf == NULL && len != 0) || out == NULL || consumed == NULL)
        return fail(&e, FL_E_INVAL, 0, "invalid argument");
    if (max_frame == 0)
        max_frame = FL_WIRE_MAX_FRAME_DEFAULT;
    int rc = decode_header(buf, len, max_frame, &total, &e);
    if (rc != 0)
        return rc;
    const cmd_desc *cd = cmd_lookup(buf[6]);
    if (cd == NULL)
        return fail(&e, FL_E_UNKNOWN_COMMAND, 6, "unknown command %u", buf[6]);

    memset(out, 0, sizeof *out);
    out->command = buf[6];
    out->flags = buf[7];
    size_t off = FL_WIRE_MIN_FRAME;
    while (off < total) {
        if (total - off < FL_WIRE_FIELD_HEADER_SIZE)
            return fail(&e, FL_E_TRUNCATED, off, "%zu bytes left, a field header needs %u",
                        total - off, FL_WIRE_FIELD_HEADER_SIZE);
        size_t vlen = fl_load_be32(buf + off + 1);
        size_t room = total - off - FL_WIRE_FIELD_HEADER_SIZE;
        if (vlen > room)
            return fail(&e, FL_E_TRUNCATED, off,
                        "field type 0x%02x declares %zu bytes, %zu left in frame", buf[off], vlen,
                        room);
        rc = decode_field(out, cd, buf, off, &e);
        if (rc != 0)
            return rc;
        off += FL_WIRE_FIELD_HEADER_SIZE + vlen;
    }
    rc = check_required(out, cd, total, &e);
    if (rc != 0)
        return rc;
    *consumed = total;
    return 0;
}

int fl_frame_decode(const uint8_t *buf, size_t len, size_t max_frame, fl_frame *out,
                    size_t *consumed)
{
    return fl_frame_decode_ex(buf, len, max_frame, out, consumed, NULL, NULL, 0);
}

/* ---- encoding ----------------------------------------------------------- */

void fl_frame_init(fl_frame *f, int cmd)
{
    memset(f, 0, sizeof *f);
    f->command = (uint8_t)cmd;
}

static size_t value_size(const fl_frame *f, const field_desc *d)
{
    switch (d->kind) {
    case K_U8:
        return 1;
    case K_U32:
        return 4;
    case K_U64:
        return 8;
    case K_BOOKMARK:
        return FL_WIRE_BOOKMARK_SIZE;
    default:
        return ((const fl_slice *)((const char *)f + d->offset))->len;
    }
}

static int check_field(const fl_frame *f, unsigned type, const field_desc *d)
{
    const void *src = (const char *)f + d->offset;
    switch (d->kind) {
    case K_NAME:
    case K_TEXT:
    case K_BYTES: {
        const fl_slice *s = src;
        if (s->ptr == NULL && s->len != 0)
            return FL_E_INVAL;
        if (s->len > UINT32_MAX)
            return FL_E_FRAME_TOO_LARGE;
        return check_slice(d->kind, *s) ? FL_E_BAD_FRAME : 0;
    }
    case K_U8:
        return check_u8(type, *(const uint8_t *)src) ? FL_E_BAD_FRAME : 0;
    default:
        return 0;
    }
}

/* Validate `f` against the tables; on success *size is its encoded size. */
static int validate(const fl_frame *f, size_t *size)
{
    const cmd_desc *cd = cmd_lookup(f->command);
    if (cd == NULL)
        return FL_E_UNKNOWN_COMMAND;
    if (f->present & ~cd->allowed)
        return FL_E_BAD_FRAME;
    uint32_t need = cd->required | (f->command == FL_CMD_ACK ? ack_required(f->ack_type) : 0);
    if (need & ~f->present)
        return FL_E_MISSING_FIELD;
    size_t total = FL_WIRE_MIN_FRAME;
    for (unsigned t = 1; t <= FL_FIELD_LAST; t++) {
        if (!(f->present & (1u << t)))
            continue;
        const field_desc *d = &FIELDS[t];
        int rc = check_field(f, t, d);
        if (rc != 0)
            return rc;
        total += FL_WIRE_FIELD_HEADER_SIZE + value_size(f, d);
        if (total - FL_WIRE_PREFIX_SIZE > UINT32_MAX)
            return FL_E_FRAME_TOO_LARGE;
    }
    *size = total;
    return 0;
}

size_t fl_frame_encoded_size(const fl_frame *f)
{
    size_t size = 0;
    return validate(f, &size) == 0 ? size : 0;
}

static uint8_t *put_header(uint8_t *p, size_t total, uint8_t cmd, uint8_t flags)
{
    fl_store_be32(p, (uint32_t)(total - FL_WIRE_PREFIX_SIZE));
    p[4] = FL_WIRE_MAGIC;
    p[5] = FL_WIRE_VERSION;
    p[6] = cmd;
    p[7] = flags;
    return p + FL_WIRE_MIN_FRAME;
}

static uint8_t *put_field_header(uint8_t *p, unsigned type, size_t vlen)
{
    p[0] = (uint8_t)type;
    fl_store_be32(p + 1, (uint32_t)vlen);
    return p + FL_WIRE_FIELD_HEADER_SIZE;
}

static uint8_t *put_bytes(uint8_t *p, unsigned type, fl_slice s)
{
    p = put_field_header(p, type, s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

static uint8_t *put_u64(uint8_t *p, unsigned type, uint64_t v)
{
    p = put_field_header(p, type, 8);
    fl_store_be64(p, v);
    return p + 8;
}

static uint8_t *put_u32(uint8_t *p, unsigned type, uint32_t v)
{
    p = put_field_header(p, type, 4);
    fl_store_be32(p, v);
    return p + 4;
}

static uint8_t *put_bookmark(uint8_t *p, unsigned type, const fl_wire_bookmark *b)
{
    p = put_field_header(p, type, FL_WIRE_BOOKMARK_SIZE);
    fl_store_be64(p, b->publisher);
    fl_store_be64(p + 8, b->sequence);
    fl_store_be64(p + 16, (uint64_t)b->timestamp_us);
    return p + FL_WIRE_BOOKMARK_SIZE;
}

static uint8_t *put_field(uint8_t *p, const fl_frame *f, unsigned type, const field_desc *d)
{
    const void *src = (const char *)f + d->offset;
    switch (d->kind) {
    case K_U8:
        p = put_field_header(p, type, 1);
        *p = *(const uint8_t *)src;
        return p + 1;
    case K_U32:
        return put_u32(p, type, *(const uint32_t *)src);
    case K_U64:
        return put_u64(p, type, *(const uint64_t *)src);
    case K_BOOKMARK:
        return put_bookmark(p, type, src);
    default:
        return put_bytes(p, type, *(const fl_slice *)src);
    }
}

int fl_frame_encode(fl_buf *out, const fl_frame *f)
{
    size_t total = 0;
    if (out == NULL || f == NULL)
        return FL_E_INVAL;
    int rc = validate(f, &total);
    if (rc != 0)
        return rc;
    rc = fl_buf_reserve(out, total);
    if (rc != 0)
        return rc;
    uint8_t *start = out->data + out->len;
    uint8_t *p = put_header(start, total, f->command, f->flags);
    for (unsigned t = 1; t <= FL_FIELD_LAST; t++) {
        if (f->present & (1u << t))
            p = put_field(p, f, t, &FIELDS[t]);
    }
    assert((size_t)(p - start) == total);
    out->len += total;
    return 0;
}

/* The hot path: a publish written without going through fl_frame. */
int fl_wire_encode_publish(fl_buf *out, fl_slice topic, uint64_t sequence, fl_slice payload)
{
    if (out == NULL || (payload.ptr == NULL && payload.len != 0))
        return FL_E_INVAL;
    if (check_slice(K_NAME, topic))
        return topic.ptr == NULL && topic.len ? FL_E_INVAL : FL_E_BAD_FRAME;
    /* Keep the body length (header, three field headers, sequence, topic,
     * payload: 27 bytes of overhead) within a u32. */
    if (topic.len > UINT32_MAX - 64 || payload.len > UINT32_MAX - 64 - topic.len)
        return FL_E_FRAME_TOO_LARGE;
    size_t total = FL_WIRE_MIN_FRAME + 3 * FL_WIRE_FIELD_HEADER_SIZE + topic.len + 8 + payload.len;
    int rc = fl_buf_reserve(out, total);
    if (rc != 0)
        return rc;
    uint8_t *p = put_header(out->data + out->len, total, FL_CMD_PUBLISH, 0);
    p = put_bytes(p, FL_FIELD_TOPIC, topic);
    p = put_u64(p, FL_FIELD_SEQUENCE, sequence);
    put_bytes(p, FL_FIELD_PAYLOAD, payload);
    out->len += total;
    return 0;
}

int fl_wire_encode_logon(fl_buf *out, fl_slice client_name, fl_slice password,
                         uint64_t heartbeat_us, uint64_t command_id)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_LOGON);
    f.client_name = client_name;
    f.heartbeat_us = heartbeat_us;
    f.proto_version = FL_WIRE_VERSION;
    f.command_id = command_id;
    f.present = FL_HAS_CLIENT_NAME | FL_HAS_HEARTBEAT_US | FL_HAS_PROTO_VERSION | FL_HAS_COMMAND_ID;
    if (password.ptr != NULL) {
        f.password = password;
        f.present |= FL_HAS_PASSWORD;
    }
    return fl_frame_encode(out, &f);
}

int fl_wire_encode_subscribe(fl_buf *out, fl_slice topic, fl_slice sub_id, fl_slice bookmark_text,
                             uint32_t options, uint32_t max_pending, uint64_t command_id)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_SUBSCRIBE);
    f.topic = topic;
    f.sub_id = sub_id;
    f.command_id = command_id;
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_COMMAND_ID;
    if (bookmark_text.ptr != NULL) {
        f.bookmark_text = bookmark_text;
        f.present |= FL_HAS_BOOKMARK_TEXT;
    }
    if (options != 0) {
        f.sub_options = options;
        f.present |= FL_HAS_SUB_OPTIONS;
    }
    if (max_pending != 0) {
        f.max_pending = max_pending;
        f.present |= FL_HAS_MAX_PENDING;
    }
    return fl_frame_encode(out, &f);
}

int fl_wire_encode_unsubscribe(fl_buf *out, fl_slice sub_id)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_UNSUBSCRIBE);
    f.sub_id = sub_id;
    f.present = FL_HAS_SUB_ID;
    return fl_frame_encode(out, &f);
}

int fl_wire_encode_heartbeat(fl_buf *out)
{
    fl_frame f;
    fl_frame_init(&f, FL_CMD_HEARTBEAT);
    return fl_frame_encode(out, &f);
}

int fl_wire_encode_delivery(fl_buf *out, fl_slice topic, fl_slice sub_id,
                            const fl_wire_bookmark *bookmark, fl_slice payload)
{
    if (bookmark == NULL)
        return FL_E_INVAL;
    fl_frame f;
    fl_frame_init(&f, FL_CMD_DELIVERY);
    f.topic = topic;
    f.sub_id = sub_id;
    f.bookmark = *bookmark;
    f.payload = payload;
    f.present = FL_HAS_TOPIC | FL_HAS_SUB_ID | FL_HAS_BOOKMARK | FL_HAS_PAYLOAD;
    return fl_frame_encode(out, &f);
}

/* ---- comparison --------------------------------------------------------- */

static int field_equal(const fl_frame *a, const fl_frame *b, const field_desc *d)
{
    const void *pa = (const char *)a + d->offset;
    const void *pb = (const char *)b + d->offset;
    switch (d->kind) {
    case K_U8:
        return *(const uint8_t *)pa == *(const uint8_t *)pb;
    case K_U32:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case K_U64:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case K_BOOKMARK: {
        const fl_wire_bookmark *x = pa, *y = pb;
        return x->publisher == y->publisher && x->sequence == y->sequence &&
               x->timestamp_us == y->timestamp_us;
    }
    default:
        return fl_slice_eq(*(const fl_slice *)pa, *(const fl_slice *)pb);
    }
}

int fl_frame_equal(const fl_frame *a, const fl_frame *b)
{
    if (a->command != b->command || a->flags != b->flags || a->present != b->present)
        return 0;
    for (unsigned t = 1; t <= FL_FIELD_LAST; t++) {
        if ((a->present & (1u << t)) && !field_equal(a, b, &FIELDS[t]))
            return 0;
    }
    return 1;
}
