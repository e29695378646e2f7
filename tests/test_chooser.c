/* Unit tests for the default round-robin server chooser (client/chooser.c):
 * order, advancing only on reported failures, per-URI passwords, the empty
 * chooser's error, the description text and the NULL-safe helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/chooser.h"
#include "faultline/error.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    fl_chooser *ch = malloc(sizeof *ch);
    if (ch == NULL || fl_chooser_default_new(ch) != 0) {
        free(ch);
        return -1;
    }
    *state = ch;
    return 0;
}

static int teardown(void **state)
{
    fl_chooser *ch = *state;
    fl_chooser_free(ch);
    free(ch);
    return 0;
}

static void add3(fl_chooser *ch)
{
    assert_int_equal(fl_chooser_default_add(ch, "a", "pa"), 0);
    assert_int_equal(fl_chooser_default_add(ch, "b", NULL), 0);
    assert_int_equal(fl_chooser_default_add(ch, "c", "pc"), 0);
}

static void test_empty_has_no_server(void **state)
{
    fl_chooser *ch = *state;
    assert_null(fl_chooser_current_uri(ch));
    assert_null(fl_chooser_current_password(ch));
    assert_string_equal(fl_chooser_get_error(ch), "no servers configured");
    /* Reports on an empty chooser are harmless. */
    fl_chooser_report_failure(ch, "x", FL_E_REFUSED);
    fl_chooser_report_success(ch);
    assert_null(fl_chooser_current_uri(ch));
}

static void test_round_robin_advances_on_failure(void **state)
{
    fl_chooser *ch = *state;
    add3(ch);
    const char *expect[] = {"a", "b", "c", "a", "b"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(fl_chooser_current_uri(ch), expect[i]);
        assert_string_equal(fl_chooser_get_error(ch), "");
        fl_chooser_report_failure(ch, expect[i], FL_E_REFUSED);
    }
}

static void test_success_and_disconnect_stay(void **state)
{
    fl_chooser *ch = *state;
    add3(ch);
    fl_chooser_report_failure(ch, "a", FL_E_TIMEOUT);
    assert_string_equal(fl_chooser_current_uri(ch), "b");
    fl_chooser_report_success(ch);
    /* A plain disconnect is not reported: the same server comes first. */
    assert_string_equal(fl_chooser_current_uri(ch), "b");
    assert_string_equal(fl_chooser_current_uri(ch), "b");
}

static void test_per_uri_password(void **state)
{
    fl_chooser *ch = *state;
    add3(ch);
    assert_string_equal(fl_chooser_current_password(ch), "pa");
    fl_chooser_report_failure(ch, "a", FL_E_AUTH);
    assert_null(fl_chooser_current_password(ch));
    fl_chooser_report_failure(ch, "b", FL_E_AUTH);
    assert_string_equal(fl_chooser_current_password(ch), "pc");
}

static void test_describe_names_servers_and_errors(void **state)
{
    fl_chooser *ch = *state;
    add3(ch);
    fl_chooser_report_failure(ch, "a", FL_E_REFUSED);
    const char *d = fl_chooser_describe(ch);
    assert_non_null(strstr(d, "round-robin"));
    assert_non_null(strstr(d, "a: connection refused"));
    assert_non_null(strstr(d, "b (current)"));
    assert_non_null(strstr(d, "c"));
    /* A success clears the server's error. */
    fl_chooser_report_success(ch);
    fl_chooser_report_failure(ch, "b", FL_E_TIMEOUT);
    d = fl_chooser_describe(ch);
    assert_non_null(strstr(d, "b: timed out"));
}

static void test_add_validation(void **state)
{
    fl_chooser *ch = *state;
    assert_int_equal(fl_chooser_default_add(ch, "", NULL), FL_E_INVAL);
    assert_int_equal(fl_chooser_default_add(ch, NULL, NULL), FL_E_INVAL);
    assert_int_equal(fl_chooser_default_add(NULL, "a", NULL), FL_E_INVAL);
    fl_chooser other = {NULL, NULL};
    assert_int_equal(fl_chooser_default_add(&other, "a", NULL), FL_E_INVAL);
    assert_int_equal(fl_chooser_default_new(NULL), FL_E_INVAL);
}

static void test_null_helpers(void **state)
{
    (void)state;
    fl_chooser none = {NULL, NULL};
    assert_null(fl_chooser_current_uri(&none));
    assert_string_equal(fl_chooser_get_error(NULL), "no server chooser set");
    assert_string_equal(fl_chooser_describe(&none), "no server chooser");
    fl_chooser_report_failure(NULL, "a", 0);
    fl_chooser_free(&none);
}

/* A custom chooser through the vtable: the helpers call it. */
typedef struct fixed_ch {
    int successes, failures, last_err;
} fixed_ch;

static const char *f_uri(void *s)
{
    (void)s;
    return "only";
}
static void f_success(void *s)
{
    ((fixed_ch *)s)->successes++;
}
static void f_failure(void *s, const char *uri, int err)
{
    fixed_ch *f = s;
    assert_string_equal(uri, "only");
    f->failures++;
    f->last_err = err;
}

static void test_custom_vtable(void **state)
{
    (void)state;
    static const fl_chooser_ops ops = {
        FL_CHOOSER_OPS_VERSION, "fixed", f_uri, NULL, f_success, f_failure, NULL, NULL, NULL};
    fixed_ch f = {0, 0, 0};
    fl_chooser ch = {&ops, &f};
    assert_string_equal(fl_chooser_current_uri(&ch), "only");
    assert_null(fl_chooser_current_password(&ch));
    fl_chooser_report_success(&ch);
    fl_chooser_report_failure(&ch, "only", FL_E_LOGON_REFUSED);
    assert_int_equal(f.successes, 1);
    assert_int_equal(f.failures, 1);
    assert_int_equal(f.last_err, FL_E_LOGON_REFUSED);
    assert_string_equal(fl_chooser_get_error(&ch), "");
    assert_string_equal(fl_chooser_describe(&ch), "fixed");
    fl_chooser_free(&ch);
    assert_null(ch.ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_has_no_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_advances_on_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_and_disconnect_stay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_uri_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_names_servers_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_validation, setup, teardown),
        cmocka_unit_test(test_null_helpers),
        cmocka_unit_test(test_custom_vtable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
