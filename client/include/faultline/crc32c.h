/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * fl_crc32c() picks, once per process, the SSE4.2 crc32 instruction (three
 * interleaved chains joined with carry-less multiplies) when the CPU has
 * SSE4.2 and PCLMUL, one chain of it with SSE4.2 alone, and a slicing-by-8
 * table otherwise; all give identical results.
 * Stored checksums use the masked form (as LevelDB/RocksDB do) because a
 * CRC computed over data that itself contains CRCs is weak.
 */
#ifndef FAULTLINE_CRC32C_H
#define FAULTLINE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Extend `crc` (0 to start) with `len` bytes of `data`. Standard CRC32C:
 * fl_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t fl_crc32c(uint32_t crc, const void *data, size_t len);

/* The portable table-driven implementation (slicing-by-8). */
uint32_t fl_crc32c_sw(uint32_t crc, const void *data, size_t len);

/* The byte-at-a-time table implementation: the plain baseline benchmarks
 * compare against. */
uint32_t fl_crc32c_bytewise(uint32_t crc, const void *data, size_t len);

/* The CRC32C of A followed by B, from crc_a = fl_crc32c(0, A, |A|),
 * crc_b = fl_crc32c(0, B, len_b) and len_b alone (zlib's crc32_combine):
 * lets independent pieces be checksummed apart and joined. */
uint32_t fl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The same by polynomial arithmetic alone (the portable path). */
uint32_t fl_crc32c_combine_sw(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* One dependent chain of the crc32 instruction (the path fl_crc32c takes
 * on a CPU with SSE4.2 but no PCLMUL); slicing-by-8 without SSE4.2. */
uint32_t fl_crc32c_hw_serial(uint32_t crc, const void *data, size_t len);

/* Non-zero when fl_crc32c() uses the SSE4.2 instruction. */
int fl_crc32c_hw_available(void);

#define FL_CRC32C_MASK_DELTA 0xa282ead8u

/* Masked form for storage: rotate right by 15 bits and add a constant. */
static inline uint32_t fl_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + FL_CRC32C_MASK_DELTA;
}

static inline uint32_t fl_crc32c_unmask(uint32_t masked)
{
    uint32_t rot = masked - FL_CRC32C_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#ifdef __cplusplus
}
#endif
#endif
