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
        __atomic_store_n(&table[0][i], c, __ATOMIC_RELAXED);
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) {
            uint32_t prev = __atomic_load_n(&table[t - 1][i], __ATOMIC_RELAXED);
            uint32_t low = __atomic_load_n(&table[0][prev & 0xff], __ATOMIC_RELAXED);
            __atomic_store_n(&table[t][i], (prev >> 8) ^ low, __ATOMIC_RELAXED);
        }
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

/* ------------------------------------------------------------------ */
/* Polynomial arithmetic modulo P, in the reflected representation: bit i
 * of a 32-bit value is the coefficient of x^(31-i), so 0x80000000 is 1.
 * The raw CRC register (before the final inversion) is linear in its
 * input: after feeding B to a register holding s it holds
 * s * x^(8|B|) mod P  xor  raw(0, B). Everything below rests on that. */

/* a * b mod P (zlib's multmodp). */
static uint32_t mulmodp(uint32_t a, uint32_t b)
{
    uint32_t m = (uint32_t)1 << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0)
                break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

/* x^(8n) mod P by squaring: x^(2^k) for k = 3, 4, ... */
static uint32_t x8nmodp(uint64_t n)
{
    uint32_t p = (uint32_t)1 << 31;  /* 1 */
    uint32_t sq = (uint32_t)1 << 23; /* x^8 */
    while (n) {
        if (n & 1)
            p = mulmodp(sq, p);
        sq = mulmodp(sq, sq);
        n >>= 1;
    }
    return p;
}

static uint32_t combine_sw(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return mulmodp(x8nmodp(len_b), crc_a) ^ crc_b;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Shifting a raw register by 8k bytes (k qwords) with one carry-less
 * multiply: crc32q(0, v) is v * x^32 mod P for the 64-bit reflected v, and
 * the 64-bit product of two reflected 32-bit values is x * a * b, so
 * crc32q(0, clmul(a, x^(64k-33) mod P)) = a * x^(64k) mod P. shift_k[k]
 * holds x^(64k-33) mod P for k = 1 .. SHIFT_MAX_Q, built once like the
 * slicing table (the same values whichever thread builds them). */
#define SHIFT_MAX_Q 512
static uint32_t shift_k[SHIFT_MAX_Q + 1];
static int shift_ready;

static void shift_init(void)
{
    uint32_t v = 1; /* x^31 = x^(64*1-33) */
    for (size_t k = 1; k <= SHIFT_MAX_Q; k++) {
        __atomic_store_n(&shift_k[k], v, __ATOMIC_RELAXED);
        for (int i = 0; i < 64; i++)
            v = v & 1 ? (v >> 1) ^ POLY : v >> 1;
    }
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

/* The register `c` advanced over 8k zero bytes, 1 <= k <= SHIFT_MAX_Q. */
__attribute__((target("sse4.2,pclmul"))) static inline uint64_t shift_q(uint64_t c, size_t k)
{
    uint32_t kk = __atomic_load_n(&shift_k[k], __ATOMIC_RELAXED);
    __m128i prod =
        _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)(uint32_t)c), _mm_cvtsi32_si128((int)kk), 0x00);
    return __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

/* Streams below this many qwords each run serially: the combine costs
 * about as much as three qwords of one chain. */
#define TRIPLE_MIN_Q 3
/* Largest stream per round (the shift table covers two of them). */
#define TRIPLE_MAX_Q (SHIFT_MAX_Q / 2)

/* Align p to 8 bytes with at most one 1-, one 2- and one 4-byte step
 * (for len >= 8). Aligned 8-byte loads then match the stores of a caller
 * that just wrote the bytes the same way (e.g. a record header), so the
 * CPU forwards them instead of waiting for the stores to reach the cache. */
__attribute__((target("sse4.2"), always_inline)) static inline uint64_t
crc_head(uint64_t c, const unsigned char **pp, size_t *plen)
{
    const unsigned char *p = *pp;
    size_t len = *plen;
    if (len >= 8) {
        if ((uintptr_t)p & 1) {
            c = __builtin_ia32_crc32qi((uint32_t)c, *p);
            p++, len--;
        }
        if ((uintptr_t)p & 2) {
            uint16_t v;
            memcpy(&v, p, 2);
            c = __builtin_ia32_crc32hi((uint32_t)c, v);
            p += 2, len -= 2;
        }
        if ((uintptr_t)p & 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            c = __builtin_ia32_crc32si((uint32_t)c, v);
            p += 4, len -= 4;
        }
    }
    *pp = p;
    *plen = len;
    return c;
}

/* One chain over the remaining qwords, then a 4-, 2- and 1-byte tail;
 * returns the finished CRC. */
__attribute__((target("sse4.2"), always_inline)) static inline uint32_t
crc_rest(uint64_t c, const unsigned char *p, size_t len)
{
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    if (len & 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = __builtin_ia32_crc32si((uint32_t)c, v);
        p += 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        c = __builtin_ia32_crc32hi((uint32_t)c, v);
        p += 2;
    }
    if (len & 1)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p);
    return ~(uint32_t)c;
}

/* One chain: the path for a CPU with SSE4.2 but no PCLMUL. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_serial(uint32_t crc, const void *data,
                                                                size_t len)
{
    const unsigned char *p = data;
    uint64_t c = crc_head((uint32_t)~crc, &p, &len);
    return crc_rest(c, p, len);
}

uint32_t fl_crc32c_hw_serial(uint32_t crc, const void *data, size_t len)
{
    if (!__builtin_cpu_supports("sse4.2"))
        return fl_crc32c_sw(crc, data, len);
    return crc32c_serial(crc, data, len);
}

/* The crc32 instruction has a latency of three cycles and a throughput of
 * one, so one dependent chain runs at a third of the speed the unit can
 * do. Three independent chains over three consecutive stretches of k
 * qwords, then two shifts to join them, fill it. */
__attribute__((target("sse4.2,pclmul"))) static uint32_t crc32c_hw(uint32_t crc, const void *data,
                                                                   size_t len)
{
    const unsigned char *p = data;
    uint64_t c = crc_head((uint32_t)~crc, &p, &len);
    if (len >= 24 * TRIPLE_MIN_Q && !__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE))
        shift_init();
    while (len >= 24 * TRIPLE_MIN_Q) {
        size_t k = len / 24;
        if (k > TRIPLE_MAX_Q)
            k = TRIPLE_MAX_Q;
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *p1 = p + 8 * k, *p2 = p + 16 * k;
        for (size_t i = 0; i < 8 * k; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p1 + i, 8);
            memcpy(&v2, p2 + i, 8);
            c = __builtin_ia32_crc32di(c, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c = shift_q(c, 2 * k) ^ shift_q(c1, k) ^ c2;
        p += 24 * k;
        len -= 24 * k;
    }
    return crc_rest(c, p, len);
}

/* crc_a advanced over len_b zero bytes, xor crc_b: up to SHIFT_MAX_Q
 * qwords through the table (longer B by squaring, combine_sw), the remaining bytes through the
 * crc32 instruction on zeros (a 4-, 2- or 1-byte step multiplies by x^32, x^16 or x^8). */
__attribute__((target("sse4.2,pclmul"))) static uint32_t combine_hw(uint32_t crc_a, uint32_t crc_b,
                                                                    uint64_t len_b)
{
    if (len_b > 8 * (uint64_t)SHIFT_MAX_Q)
        return combine_sw(crc_a, crc_b, len_b); /* O(log len_b), not a loop */
    if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE))
        shift_init();
    uint64_t c = crc_a;
    if (len_b & 4)
        c = __builtin_ia32_crc32si((uint32_t)c, 0);
    if (len_b & 2)
        c = __builtin_ia32_crc32hi((uint32_t)c, 0);
    if (len_b & 1)
        c = __builtin_ia32_crc32qi((uint32_t)c, 0);
    if (len_b >= 8)
        c = shift_q(c, (size_t)(len_b / 8));
    return (uint32_t)c ^ crc_b;
}

int fl_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

static int pclmul_available(void)
{
    return __builtin_cpu_supports("pclmul") ? 1 : 0;
}
#else
static uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return fl_crc32c_sw(crc, data, len);
}

static uint32_t combine_hw(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return combine_sw(crc_a, crc_b, len_b);
}

static uint32_t crc32c_serial(uint32_t crc, const void *data, size_t len)
{
    return fl_crc32c_sw(crc, data, len);
}

uint32_t fl_crc32c_hw_serial(uint32_t crc, const void *data, size_t len)
{
    return fl_crc32c_sw(crc, data, len);
}

int fl_crc32c_hw_available(void)
{
    return 0;
}

static int pclmul_available(void)
{
    return 0;
}
#endif

/* 0 = undecided, 1 = software, 2 = three chains (SSE4.2 and PCLMUL),
 * 3 = one chain (SSE4.2 alone); benign race as above. */
static int impl_choice(void)
{
    static int impl;
    int i = __atomic_load_n(&impl, __ATOMIC_RELAXED);
    if (i == 0) {
        i = !fl_crc32c_hw_available() ? 1 : pclmul_available() ? 2 : 3;
        __atomic_store_n(&impl, i, __ATOMIC_RELAXED);
    }
    return i;
}

uint32_t fl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return impl_choice() == 2 ? combine_hw(crc_a, crc_b, len_b) : combine_sw(crc_a, crc_b, len_b);
}

uint32_t fl_crc32c_combine_sw(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return combine_sw(crc_a, crc_b, len_b);
}

uint32_t fl_crc32c(uint32_t crc, const void *data, size_t len)
{
    switch (impl_choice()) {
    case 2:
        return crc32c_hw(crc, data, len);
    case 3:
        return crc32c_serial(crc, data, len);
    default:
        return fl_crc32c_sw(crc, data, len);
    }
}
