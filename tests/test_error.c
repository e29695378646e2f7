/* Tests for the error table: every code has a distinct name and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "faultline/error.h"

static const int all_codes[] = {
#define CODE(name, value, msg) FL_E_##name,
    FL_ERRNO_MAP(CODE)
#undef CODE
};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

static void test_codes_negative_and_distinct(void **state)
{
    for (size_t i = 0; i < N_CODES; i++) {
        assert_true(all_codes[i] < 0);
        for (size_t j = i + 1; j < N_CODES; j++) {
            assert_int_not_equal(all_codes[i], all_codes[j]);
            assert_string_not_equal(fl_err_name(all_codes[i]), fl_err_name(all_codes[j]));
            assert_string_not_equal(fl_strerror(all_codes[i]), fl_strerror(all_codes[j]));
        }
    }
}

static void test_names_and_messages(void **state)
{
    assert_string_equal(fl_err_name(0), "OK");
    assert_string_equal(fl_strerror(0), "success");
    assert_string_equal(fl_err_name(FL_E_BAD_FRAME), "BAD_FRAME");
    assert_string_equal(fl_strerror(FL_E_CHECKSUM), "checksum mismatch");
    assert_string_equal(fl_err_name(FL_E_BOOKMARK_EXPIRED), "BOOKMARK_EXPIRED");
    assert_string_equal(fl_err_name(12345), "UNKNOWN");
    assert_string_equal(fl_strerror(-9999), "unknown error");
    for (size_t i = 0; i < N_CODES; i++) {
        assert_non_null(fl_strerror(all_codes[i]));
        assert_true(strlen(fl_strerror(all_codes[i])) > 0);
    }
}

static void test_errno_mapping(void **state)
{
    static const struct {
        int errnum, expect;
    } cases[] = {
        {0, 0},
        {ENOSPC, FL_E_NOSPC},
        {EDQUOT, FL_E_NOSPC},
        {ENOENT, FL_E_NOENT},
        {EEXIST, FL_E_EXIST},
        {ENOMEM, FL_E_NOMEM},
        {ECONNREFUSED, FL_E_REFUSED},
        {ECONNRESET, FL_E_DISCONNECTED},
        {ETIMEDOUT, FL_E_TIMEOUT},
        {EIO, FL_E_IO},
        {EROFS, FL_E_IO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(fl_err_from_errno(cases[i].errnum), cases[i].expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_negative_and_distinct),
        cmocka_unit_test(test_names_and_messages),
        cmocka_unit_test(test_errno_mapping),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
