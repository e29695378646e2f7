/* CRC32C: slicing-by-8 tables built once on first use, plus the SSE4.2
 * crc32 instruction on x86-64, chosen once at run time. */
#include "faultline/crc32c.h"

#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int table_ready;

/* Building the table twice (two threads racing on first use) writes the same
 * values, so the race is benign; it is never partially observed because
 * table_ready is set only after the whole table is written. */
static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static inline void ensure_table(void)
{
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
        table_init();
}

uint32_t fl_crc32c_bytewise(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    ensure_table();
    crc = ~crc;
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

uint32_t fl_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    ensure_table();
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *data,
                                                            size_t len)
{
    const unsigned char *p = data;
    uint64_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

int fl_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}
#else
static uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return fl_crc32c_sw(crc, data, len);
}

int fl_crc32c_hw_available(void)
{
    return 0;
}
#endif

uint32_t fl_crc32c(uint32_t crc, const void *data, size_t len)
{
    /* 0 = undecided, 1 = software, 2 = hardware; benign race as above. */
    static int impl;
    int i = __atomic_load_n(&impl, __ATOMIC_RELAXED);
    if (i == 0) {
        i = fl_crc32c_hw_available() ? 2 : 1;
        __atomic_store_n(&impl, i, __ATOMIC_RELAXED);
    }
    return i == 2 ? crc32c_hw(crc, data, len) : fl_crc32c_sw(crc, data, len);
}
