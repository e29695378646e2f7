/* CRC32C known-answer tests (RFC 3720 B.4 and the standard check value),
 * agreement of the hardware, slicing and bytewise paths, masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "faultline/crc32c.h"

static void test_check_value(void **state)
{
    assert_int_equal(fl_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fl_crc32c_bytewise(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fl_crc32c(0, "", 0), 0u);
}

/* RFC 3720 appendix B.4 vectors. */
static void test_rfc3720_vectors(void **state)
{
    uint8_t buf[48];
    memset(buf, 0, 32);
    assert_int_equal(fl_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    assert_int_equal(fl_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(fl_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(fl_crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(fl_crc32c(0, iscsi, 48), 0xD9963A56u);
}

static void fill(uint8_t *buf, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static void agree(const uint8_t *p, size_t len)
{
    uint32_t a = fl_crc32c(0, p, len);
    assert_int_equal(a, fl_crc32c_sw(0, p, len));
    assert_int_equal(a, fl_crc32c_bytewise(0, p, len));
    assert_int_equal(a, fl_crc32c_hw_serial(0, p, len));
    size_t part = len / 3;
    assert_int_equal(a, fl_crc32c(fl_crc32c(0, p, part), p + part, len - part));
}

/* Every implementation agrees for every length up to 600 at every
 * alignment (the hardware path's 1/2/4-byte alignment steps, its
 * three-chain rounds from 72 bytes on and its 4/2/1-byte tail), and
 * incremental computation equals one-shot. */
static void test_implementations_agree(void **state)
{
    uint8_t buf[600 + 8];
    fill(buf, sizeof buf);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len++)
            agree(buf + off, len);
}

/* Long buffers: several three-chain rounds of the largest size (256
 * qwords a chain), then a shorter round and a serial tail. */
static void test_long_buffers_agree(void **state)
{
    static uint8_t buf[40000];
    fill(buf, sizeof buf);
    static const size_t lens[] = {6143, 6144, 6145, 6151, 12288, 12289, 18431, 39990};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 3; off++)
            agree(buf + off, lens[i]);
}

/* fl_crc32c_combine(crc(A), crc(B), |B|) == crc(A||B), by the hardware and
 * the portable path, for B from empty to longer than one table shift. */
static void test_combine(void **state)
{
    static uint8_t buf[9000];
    fill(buf, sizeof buf);
    static const size_t splits[] = {0, 1, 5, 100};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        const uint8_t *b = buf + splits[s];
        uint32_t ca = fl_crc32c(0, buf, splits[s]);
        for (size_t lb = 0; lb + splits[s] <= sizeof buf; lb += lb < 300 ? 1 : 97) {
            uint32_t whole = fl_crc32c(0, buf, splits[s] + lb);
            uint32_t cb = fl_crc32c(0, b, lb);
            assert_int_equal(fl_crc32c_combine(ca, cb, lb), whole);
            assert_int_equal(fl_crc32c_combine_sw(ca, cb, lb), whole);
        }
    }
    /* A huge B (a length from untrusted input) takes logarithmic time, and
     * shifting over m then n zero bytes is shifting over m + n. */
    uint64_t huge = (uint64_t)1 << 62;
    uint32_t x = fl_crc32c_combine(0x12345678u, 0, huge);
    assert_int_equal(x, fl_crc32c_combine_sw(0x12345678u, 0, huge));
    assert_int_equal(fl_crc32c_combine(fl_crc32c_combine(0x12345678u, 0, huge - 4096), 0, 4096), x);
    /* Only the length of B matters, not its content: a zero CRC for B is
     * A shifted over |B| zero bytes. */
    uint8_t zeros[64] = {0};
    assert_int_equal(fl_crc32c_combine(0x12345678u, fl_crc32c(0, zeros, 64), 64),
                     fl_crc32c(0x12345678u, zeros, 64));
}

static void test_mask_roundtrip(void **state)
{
    static const uint32_t vals[] = {0, 1, 0xE3069283u, 0xffffffffu, 0x80000000u, 0x12345678u};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_int_equal(fl_crc32c_unmask(fl_crc32c_mask(vals[i])), vals[i]);
        assert_int_not_equal(fl_crc32c_mask(vals[i]), vals[i]);
    }
}

static void test_detects_single_bit_flips(void **state)
{
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t good = fl_crc32c(0, buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_not_equal(fl_crc32c(0, buf, sizeof buf), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_implementations_agree),
        cmocka_unit_test(test_long_buffers_agree),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_mask_roundtrip),
        cmocka_unit_test(test_detects_single_bit_flips),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
