/* Growable byte buffer (see faultline/buf.h). */
#include "faultline/buf.h"

#include "faultline/error.h"

#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

void fl_buf_init(fl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void fl_buf_free(fl_buf *b)
{
    free(b->data);
    fl_buf_init(b);
}

/* Smallest geometric capacity >= need, or `need` itself when doubling would
 * overflow. */
static size_t grow_cap(size_t cap, size_t need)
{
    size_t n = cap < BUF_MIN_CAP ? BUF_MIN_CAP : cap;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return need;
        n *= 2;
    }
    return n;
}

int fl_buf_reserve(fl_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return FL_E_OVERFLOW;
    size_t ncap = grow_cap(b->cap, b->len + extra);
    uint8_t *p = realloc(b->data, ncap);
    if (p == NULL)
        return FL_E_NOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int fl_buf_append(fl_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = fl_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int fl_buf_append_u8(fl_buf *b, uint8_t v)
{
    return fl_buf_append(b, &v, 1);
}

int fl_buf_append_u16(fl_buf *b, uint16_t v)
{
    uint8_t tmp[2];
    fl_store_be16(tmp, v);
    return fl_buf_append(b, tmp, sizeof tmp);
}

int fl_buf_append_u32(fl_buf *b, uint32_t v)
{
    uint8_t tmp[4];
    fl_store_be32(tmp, v);
    return fl_buf_append(b, tmp, sizeof tmp);
}

int fl_buf_append_u64(fl_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    fl_store_be64(tmp, v);
    return fl_buf_append(b, tmp, sizeof tmp);
}

void fl_buf_consume(fl_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void fl_buf_truncate(fl_buf *b, size_t n)
{
    if (n < b->len)
        b->len = n;
}

void fl_buf_clear(fl_buf *b)
{
    b->len = 0;
}
