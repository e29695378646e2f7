/* A growable byte buffer.
 *
 * fl_buf is a plain struct (not opaque: callers embed it and read data/len
 * directly) holding `len` valid bytes in `data`, with room for `cap`.
 * Appends grow the storage geometrically; multi-byte integers are appended
 * big-endian (network order, as the wire protocol and the store records use).
 * fl_buf_consume() drops bytes from the front with one memmove, so a stream
 * reader should decode every complete frame it has and then consume them in
 * one call rather than frame by frame.
 *
 * The big-endian load/store helpers and fl_slice (a borrowed pointer+length)
 * below are shared by every codec in the client.
 *
 * Ownership: the buffer owns `data`; fl_buf_free() releases it. A failed
 * append leaves the buffer unchanged.
 */
#ifndef FAULTLINE_BUF_H
#define FAULTLINE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_buf {
    uint8_t *data; /* NULL until the first reservation */
    size_t len;    /* valid bytes */
    size_t cap;    /* allocated bytes */
} fl_buf;

#define FL_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* A borrowed run of bytes: the memory belongs to someone else (for decoded
 * frames, the input buffer) and must outlive the slice. */
typedef struct fl_slice {
    const uint8_t *ptr; /* may be NULL when len == 0 */
    size_t len;
} fl_slice;

/* A slice over `n` bytes at `p`. */
static inline fl_slice fl_slice_make(const void *p, size_t n)
{
    fl_slice s = {(const uint8_t *)p, n};
    return s;
}

/* A slice over a NUL-terminated string (without the NUL). */
static inline fl_slice fl_slice_cstr(const char *s)
{
    return fl_slice_make(s, s ? strlen(s) : 0);
}

/* Non-zero when both slices hold the same bytes. */
static inline int fl_slice_eq(fl_slice a, fl_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Make `b` an empty buffer that owns no memory. */
void fl_buf_init(fl_buf *b);

/* Release the storage and leave `b` empty (safe to reuse or free again). */
void fl_buf_free(fl_buf *b);

/* Ensure room for `extra` more bytes past `len` without a reallocation.
 * Returns 0, FL_E_OVERFLOW if len + extra overflows size_t, or FL_E_NOMEM;
 * on failure the buffer is unchanged. */
int fl_buf_reserve(fl_buf *b, size_t extra);

/* Append `n` bytes from `p` (p may be NULL when n == 0). 0 or FL_E_NOMEM /
 * FL_E_OVERFLOW; on failure the buffer is unchanged. */
int fl_buf_append(fl_buf *b, const void *p, size_t n);

/* Append one integer, big-endian. Same return contract as fl_buf_append. */
int fl_buf_append_u8(fl_buf *b, uint8_t v);
int fl_buf_append_u16(fl_buf *b, uint16_t v);
int fl_buf_append_u32(fl_buf *b, uint32_t v);
int fl_buf_append_u64(fl_buf *b, uint64_t v);

/* Drop the first `n` bytes (all of them if n >= len); the rest moves to the
 * front. Keeps the allocation. */
void fl_buf_consume(fl_buf *b, size_t n);

/* Set len to `n` if n <= len (used to roll back a partial append); larger
 * values are ignored. Keeps the allocation. */
void fl_buf_truncate(fl_buf *b, size_t n);

/* Set len to 0, keeping the allocation. */
void fl_buf_clear(fl_buf *b);

/* Big-endian loads and stores on raw memory; the caller guarantees the
 * bytes exist. One unaligned access and a byte swap each (memcpy of a
 * fixed size compiles to a plain load or store). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FL__BE16(v) __builtin_bswap16(v)
#define FL__BE32(v) __builtin_bswap32(v)
#define FL__BE64(v) __builtin_bswap64(v)
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FL__BE16(v) (v)
#define FL__BE32(v) (v)
#define FL__BE64(v) (v)
#endif

#ifdef FL__BE16
static inline uint16_t fl_load_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return FL__BE16(v);
}

static inline uint32_t fl_load_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return FL__BE32(v);
}

static inline uint64_t fl_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return FL__BE64(v);
}

static inline void fl_store_be16(uint8_t *p, uint16_t v)
{
    v = FL__BE16(v);
    memcpy(p, &v, 2);
}

static inline void fl_store_be32(uint8_t *p, uint32_t v)
{
    v = FL__BE32(v);
    memcpy(p, &v, 4);
}

static inline void fl_store_be64(uint8_t *p, uint64_t v)
{
    v = FL__BE64(v);
    memcpy(p, &v, 8);
}
#else /* portable byte-at-a-time */
static inline uint16_t fl_load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t fl_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t fl_load_be64(const uint8_t *p)
{
    return (uint64_t)fl_load_be32(p) << 32 | fl_load_be32(p + 4);
}

static inline void fl_store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void fl_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void fl_store_be64(uint8_t *p, uint64_t v)
{
    fl_store_be32(p, (uint32_t)(v >> 32));
    fl_store_be32(p + 4, (uint32_t)v);
}
#endif

#ifdef __cplusplus
}
#endif
#endif
