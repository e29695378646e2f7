/* Unit tests for the growable byte buffer (client/buf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/buf.h"
#include "faultline/error.h"

#include <stdlib.h>
#include <string.h>

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

static void test_init_is_empty(void **state)
{
    fl_buf *b = *state;
    assert_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, 0);
    fl_buf s = FL_BUF_INIT;
    assert_null(s.data);
    assert_int_equal(s.len, 0);
}

static void test_append_big_endian(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_append_u8(b, 0xAB), 0);
    assert_int_equal(fl_buf_append_u16(b, 0x0102), 0);
    assert_int_equal(fl_buf_append_u32(b, 0x03040506u), 0);
    assert_int_equal(fl_buf_append_u64(b, 0x0708090A0B0C0D0Eull), 0);
    assert_int_equal(fl_buf_append(b, "xyz", 3), 0);
    static const uint8_t want[] = {0xAB, 1,  2,  3,  4,  5,  6,   7,   8,
                                   9,    10, 11, 12, 13, 14, 'x', 'y', 'z'};
    assert_int_equal(b->len, sizeof want);
    assert_memory_equal(b->data, want, sizeof want);
    assert_true(b->cap >= b->len);
}

static void test_load_store_helpers(void **state)
{
    (void)state;
    uint8_t m[8];
    fl_store_be16(m, 0xBEEF);
    assert_int_equal(m[0], 0xBE);
    assert_int_equal(fl_load_be16(m), 0xBEEF);
    fl_store_be32(m, 0xDEADBEEFu);
    assert_int_equal(m[0], 0xDE);
    assert_int_equal(m[3], 0xEF);
    assert_int_equal(fl_load_be32(m), 0xDEADBEEFu);
    fl_store_be64(m, 0x0123456789ABCDEFull);
    assert_int_equal(m[0], 0x01);
    assert_int_equal(m[7], 0xEF);
    assert_true(fl_load_be64(m) == 0x0123456789ABCDEFull);
}

static void test_growth_keeps_contents(void **state)
{
    fl_buf *b = *state;
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(fl_buf_append_u32(b, i), 0);
    assert_int_equal(b->len, 40000);
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(fl_load_be32(b->data + 4 * i), i);
}

static void test_reserve(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_reserve(b, 100), 0);
    assert_true(b->cap >= 100);
    assert_int_equal(b->len, 0);
    uint8_t *before = b->data;
    size_t cap = b->cap;
    assert_int_equal(fl_buf_reserve(b, cap), 0); /* already room: no realloc */
    assert_ptr_equal(b->data, before);
    assert_int_equal(fl_buf_append(b, "a", 1), 0);
    assert_int_equal(fl_buf_reserve(b, SIZE_MAX), FL_E_OVERFLOW);
    assert_int_equal(b->len, 1);
    assert_int_equal(b->data[0], 'a');
}

static void test_append_zero_and_null(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_append(b, NULL, 0), 0);
    assert_int_equal(b->len, 0);
}

static void test_consume(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_append(b, "abcdef", 6), 0);
    fl_buf_consume(b, 2);
    assert_int_equal(b->len, 4);
    assert_memory_equal(b->data, "cdef", 4);
    fl_buf_consume(b, 0);
    assert_int_equal(b->len, 4);
    fl_buf_consume(b, 100);
    assert_int_equal(b->len, 0);
    assert_non_null(b->data); /* allocation kept */
}

static void test_truncate_and_clear(void **state)
{
    fl_buf *b = *state;
    assert_int_equal(fl_buf_append(b, "abcdef", 6), 0);
    fl_buf_truncate(b, 10);
    assert_int_equal(b->len, 6);
    fl_buf_truncate(b, 3);
    assert_int_equal(b->len, 3);
    assert_memory_equal(b->data, "abc", 3);
    fl_buf_clear(b);
    assert_int_equal(b->len, 0);
    fl_buf_free(b);
    assert_null(b->data);
    fl_buf_free(b); /* double free of an emptied buffer is safe */
}

static void test_slices(void **state)
{
    (void)state;
    fl_slice a = fl_slice_cstr("abc");
    assert_int_equal(a.len, 3);
    assert_true(fl_slice_eq(a, fl_slice_make("abcd", 3)));
    assert_false(fl_slice_eq(a, fl_slice_make("abd", 3)));
    assert_false(fl_slice_eq(a, fl_slice_make("ab", 2)));
    fl_slice none = fl_slice_cstr(NULL);
    assert_int_equal(none.len, 0);
    assert_true(fl_slice_eq(none, fl_slice_make("", 0)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_big_endian, setup, teardown),
        cmocka_unit_test(test_load_store_helpers),
        cmocka_unit_test_setup_teardown(test_growth_keeps_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_zero_and_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_and_clear, setup, teardown),
        cmocka_unit_test(test_slices),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
