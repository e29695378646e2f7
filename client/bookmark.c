/* Bookmarks: parsing and formatting of points, lists, ranges and UTC
 * timestamps, the log-free ordering helpers the broker uses for range
 * bounds, and publisher ids. See faultline/bookmark.h for the grammar.
 *
 * Design note: the selector parser works on (pointer, length) input and
 * never looks past it. It first rejects any byte outside printable ASCII
 * (so NUL bytes and whitespace get a clear error), then splits the input
 * into point tokens at the structural characters , : [ ( ] ) and checks the
 * structure around each token. Point tokens are classified by shape:
 * anything with '|' is EXACT (or NOW), "0" is EPOCH, "recent" is RECENT, a
 * leading digit means a timestamp. Every error carries the byte offset of
 * the first character that is wrong (or the input length when text is
 * missing at the end).
 *
 * Time conversion uses the days-from-civil / civil-from-days algorithms
 * (proleptic Gregorian, era of 400 years), so no libc time function (and no
 * TZ or locale) is involved.
 */
#include "faultline/bookmark.h"
#include "faultline/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_SEC 1000000LL
#define US_PER_DAY (86400LL * US_PER_SEC)

/* ---- errors -------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int fail(fl_bm_error *err, int code, size_t offset,
                                                      const char *fmt, ...)
{
    if (err == NULL)
        return code;
    char msg[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->offset = offset;
    snprintf(err->text, sizeof err->text, "%s at offset %zu", msg, offset);
    return code;
}

/* ---- civil calendar -------------------------------------------------------- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29u : dim[m - 1];
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Broken-down UTC time with microseconds. */
typedef struct civil {
    int64_t year;
    unsigned month, day, hour, min, sec;
    int64_t frac_us;
} civil;

static int64_t civil_to_us(const civil *c)
{
    int64_t days = days_from_civil(c->year, c->month, c->day);
    int64_t secs = (int64_t)c->hour * 3600 + (int64_t)c->min * 60 + c->sec;
    return days * US_PER_DAY + secs * US_PER_SEC + c->frac_us;
}

static void us_to_civil(int64_t us, civil *c)
{
    int64_t days = us / US_PER_DAY;
    int64_t rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days -= 1;
    }
    civil_from_days(days, &c->year, &c->month, &c->day);
    int64_t secs = rem / US_PER_SEC;
    c->frac_us = rem % US_PER_SEC;
    c->hour = (unsigned)(secs / 3600);
    c->min = (unsigned)(secs / 60 % 60);
    c->sec = (unsigned)(secs % 60);
}

/* ---- timestamp parsing --------------------------------------------------- */

/* A small cursor over one timestamp; `base` turns local positions into
 * offsets of the whole input for error reports. */
typedef struct tcur {
    const char *s;
    size_t len;
    size_t pos;
    size_t base;
    fl_bm_error *err;
} tcur;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read exactly n digits. */
static int read_digits(tcur *t, unsigned n, const char *what, unsigned *out)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t p = t->pos + i;
        if (p >= t->len)
            return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + p, "timestamp truncated in %s", what);
        if (!is_digit(t->s[p]))
            return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + p, "expected digit in %s", what);
        v = v * 10 + (unsigned)(t->s[p] - '0');
    }
    t->pos += n;
    *out = v;
    return 0;
}

static int expect_char(tcur *t, char c, const char *what)
{
    if (t->pos >= t->len)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + t->pos,
                    "timestamp truncated, expected %s", what);
    if (t->s[t->pos] != c)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + t->pos, "expected %s in timestamp", what);
    t->pos++;
    return 0;
}

/* Optional ".f" .. ".ffffff". */
static int read_fraction(tcur *t, int64_t *frac_us)
{
    *frac_us = 0;
    if (t->pos >= t->len || t->s[t->pos] != '.')
        return 0;
    size_t dot = t->pos++;
    unsigned n = 0;
    int64_t v = 0;
    while (t->pos < t->len && is_digit(t->s[t->pos])) {
        if (n == 6)
            return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + t->pos,
                        "fraction finer than microseconds");
        v = v * 10 + (t->s[t->pos] - '0');
        n++;
        t->pos++;
    }
    if (n == 0)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + dot + 1, "expected digit after '.'");
    for (; n < 6; n++)
        v *= 10;
    *frac_us = v;
    return 0;
}

/* Range checks; `off_*` are local offsets of each field. */
static int check_civil(const tcur *t, const civil *c, size_t off_month, size_t off_day,
                       size_t off_hour, size_t off_min, size_t off_sec)
{
    if (c->month < 1 || c->month > 12)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + off_month, "month %u out of range",
                    c->month);
    if (c->day < 1 || c->day > days_in_month(c->year, c->month))
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + off_day, "day %u invalid for %04lld-%02u",
                    c->day, (long long)c->year, c->month);
    if (c->hour > 23)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + off_hour, "hour %u out of range",
                    c->hour);
    if (c->min > 59)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + off_min, "minute %u out of range",
                    c->min);
    if (c->sec > 59)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->base + off_sec, "second %u out of range",
                    c->sec);
    return 0;
}

/* The compact form; `base` is the offset of s within the caller's input. */
static int parse_compact(const char *s, size_t len, size_t base, int64_t *out_us, fl_bm_error *err)
{
    tcur t = {s, len, 0, base, err};
    civil c = {0};
    unsigned year = 0;
    int rc;
    if ((rc = read_digits(&t, 4, "year", &year)) != 0 ||
        (rc = read_digits(&t, 2, "month", &c.month)) != 0 ||
        (rc = read_digits(&t, 2, "day", &c.day)) != 0 || (rc = expect_char(&t, 'T', "'T'")) != 0 ||
        (rc = read_digits(&t, 2, "hour", &c.hour)) != 0 ||
        (rc = read_digits(&t, 2, "minute", &c.min)) != 0 ||
        (rc = read_digits(&t, 2, "second", &c.sec)) != 0 ||
        (rc = read_fraction(&t, &c.frac_us)) != 0)
        return rc;
    if (t.pos < len && s[t.pos] == 'Z')
        t.pos++;
    if (t.pos != len)
        return fail(err, FL_E_BAD_TIMESTAMP, base + t.pos, "unexpected character after timestamp");
    c.year = year;
    if ((rc = check_civil(&t, &c, 4, 6, 9, 11, 13)) != 0)
        return rc;
    *out_us = civil_to_us(&c);
    return 0;
}

int fl_time_parse(const char *s, size_t len, int64_t *out_us, fl_bm_error *err)
{
    if (s == NULL && len > 0)
        return fail(err, FL_E_BAD_TIMESTAMP, 0, "no input");
    return parse_compact(s, len, 0, out_us, err);
}

/* "+HH:MM" / "-HH:MM" / "Z" / "z" at the cursor; offset in seconds east. */
static int read_utc_offset(tcur *t, int64_t *off_s)
{
    *off_s = 0;
    if (t->pos >= t->len)
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->pos, "expected 'Z' or a UTC offset");
    char c = t->s[t->pos];
    if (c == 'Z' || c == 'z') {
        t->pos++;
        return 0;
    }
    if (c != '+' && c != '-')
        return fail(t->err, FL_E_BAD_TIMESTAMP, t->pos, "expected 'Z' or a UTC offset");
    t->pos++;
    size_t off_h = t->pos;
    unsigned hh = 0, mm = 0;
    int rc;
    if ((rc = read_digits(t, 2, "offset hour", &hh)) != 0 ||
        (rc = expect_char(t, ':', "':'")) != 0 || (rc = read_digits(t, 2, "offset minute", &mm)))
        return rc;
    if (hh > 23)
        return fail(t->err, FL_E_BAD_TIMESTAMP, off_h, "offset hour %u out of range", hh);
    if (mm > 59)
        return fail(t->err, FL_E_BAD_TIMESTAMP, off_h + 3, "offset minute %u out of range", mm);
    *off_s = (int64_t)(hh * 3600 + mm * 60) * (c == '-' ? -1 : 1);
    return 0;
}

int fl_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us, fl_bm_error *err)
{
    if (s == NULL && len > 0)
        return fail(err, FL_E_BAD_TIMESTAMP, 0, "no input");
    tcur t = {s, len, 0, 0, err};
    civil c = {0};
    unsigned year = 0;
    int64_t off_s;
    int rc;
    if ((rc = read_digits(&t, 4, "year", &year)) != 0 || (rc = expect_char(&t, '-', "'-'")) ||
        (rc = read_digits(&t, 2, "month", &c.month)) != 0 || (rc = expect_char(&t, '-', "'-'")) ||
        (rc = read_digits(&t, 2, "day", &c.day)) != 0)
        return rc;
    if (t.pos >= len || (s[t.pos] != 'T' && s[t.pos] != 't'))
        return fail(err, FL_E_BAD_TIMESTAMP, t.pos, "expected 'T' in timestamp");
    t.pos++;
    if ((rc = read_digits(&t, 2, "hour", &c.hour)) != 0 || (rc = expect_char(&t, ':', "':'")) ||
        (rc = read_digits(&t, 2, "minute", &c.min)) != 0 || (rc = expect_char(&t, ':', "':'")) ||
        (rc = read_digits(&t, 2, "second", &c.sec)) != 0 ||
        (rc = read_fraction(&t, &c.frac_us)) != 0 || (rc = read_utc_offset(&t, &off_s)) != 0)
        return rc;
    if (t.pos != len)
        return fail(err, FL_E_BAD_TIMESTAMP, t.pos, "unexpected character after timestamp");
    c.year = year;
    if ((rc = check_civil(&t, &c, 5, 8, 11, 14, 17)) != 0)
        return rc;
    int64_t us = civil_to_us(&c) - off_s * US_PER_SEC;
    if (us < FL_TIME_MIN_US || us > FL_TIME_MAX_US)
        return fail(err, FL_E_BAD_TIMESTAMP, 0, "timestamp outside years 0000-9999 in UTC");
    *out_us = us;
    return 0;
}

/* ---- timestamp formatting ------------------------------------------------ */

static int format_time(int64_t us, char *buf, size_t cap, bool rfc3339)
{
    if (us < FL_TIME_MIN_US || us > FL_TIME_MAX_US)
        return FL_E_BAD_TIMESTAMP;
    civil c;
    us_to_civil(us, &c);
    char tmp[FL_TIME_MAX_TEXT];
    int n;
    if (rfc3339)
        n = snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)c.year, c.month,
                     c.day, c.hour, c.min, c.sec);
    else
        n = snprintf(tmp, sizeof tmp, "%04lld%02u%02uT%02u%02u%02u", (long long)c.year, c.month,
                     c.day, c.hour, c.min, c.sec);
    if (c.frac_us != 0)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%06lld", (long long)c.frac_us);
    tmp[n++] = 'Z';
    tmp[n] = '\0';
    if ((size_t)n >= cap)
        return FL_E_OVERFLOW;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

int fl_time_format(int64_t us, char *buf, size_t cap)
{
    return format_time(us, buf, cap, false);
}

int fl_time_format_rfc3339(int64_t us, char *buf, size_t cap)
{
    return format_time(us, buf, cap, true);
}

/* ---- points -------------------------------------------------------------- */

fl_bookmark fl_bookmark_epoch(void)
{
    fl_bookmark b = {FL_BM_EPOCH, 0, 0, FL_BM_NO_TS};
    return b;
}

fl_bookmark fl_bookmark_now(void)
{
    fl_bookmark b = {FL_BM_NOW, 0, 0, FL_BM_NO_TS};
    return b;
}

fl_bookmark fl_bookmark_recent(void)
{
    fl_bookmark b = {FL_BM_RECENT, 0, 0, FL_BM_NO_TS};
    return b;
}

fl_bookmark fl_bookmark_exact(uint64_t publisher, uint64_t sequence, int64_t ts_us)
{
    fl_bookmark b = {FL_BM_EXACT, publisher, sequence, ts_us};
    return b;
}

fl_bookmark fl_bookmark_timestamp(int64_t ts_us)
{
    fl_bookmark b = {FL_BM_TIMESTAMP, 0, 0, ts_us};
    return b;
}

/* A decimal u64 field of an EXACT bookmark, s[a..b). */
static int parse_u64(const char *s, size_t a, size_t b, const char *what, uint64_t *out,
                     fl_bm_error *err)
{
    if (a == b)
        return fail(err, FL_E_BAD_BOOKMARK, a, "empty %s", what);
    if (b - a > 1 && s[a] == '0')
        return fail(err, FL_E_BAD_BOOKMARK, a, "leading zero in %s", what);
    uint64_t v = 0;
    for (size_t i = a; i < b; i++) {
        if (!is_digit(s[i]))
            return fail(err, FL_E_BAD_BOOKMARK, i, "expected digit in %s", what);
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(err, FL_E_BAD_BOOKMARK, a, "%s out of range", what);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static const char *find_bar(const char *s, size_t a, size_t b)
{
    const char *p = memchr(s + a, '|', b - a);
    return p;
}

/* "pub|seq|[ts]" in s[a..b) where s[a..b) is known to contain a '|'. */
static int parse_exact(const char *s, size_t a, size_t b, fl_bookmark *out, fl_bm_error *err)
{
    size_t p1 = (size_t)(find_bar(s, a, b) - s);
    const char *q = find_bar(s, p1 + 1, b);
    if (q == NULL)
        return fail(err, FL_E_BAD_BOOKMARK, b, "expected '|' after sequence");
    size_t p2 = (size_t)(q - s);
    uint64_t pub, seq;
    int64_t ts = FL_BM_NO_TS;
    int rc;
    if ((rc = parse_u64(s, a, p1, "publisher", &pub, err)) != 0 ||
        (rc = parse_u64(s, p1 + 1, p2, "sequence", &seq, err)) != 0)
        return rc;
    if (p2 + 1 < b && (rc = parse_compact(s + p2 + 1, b - p2 - 1, p2 + 1, &ts, err)) != 0)
        return rc;
    if (pub == 0) {
        if (seq != 1 || ts != FL_BM_NO_TS)
            return fail(err, FL_E_BAD_BOOKMARK, a, "publisher 0 is reserved (only 0|1| is valid)");
        *out = fl_bookmark_now();
        return 0;
    }
    *out = fl_bookmark_exact(pub, seq, ts);
    return 0;
}

/* One point in s[a..b) (a < b); offsets are relative to s. */
static int parse_point(const char *s, size_t a, size_t b, fl_bookmark *out, fl_bm_error *err)
{
    size_t n = b - a;
    if (find_bar(s, a, b) != NULL)
        return parse_exact(s, a, b, out, err);
    if (n == 1 && s[a] == '0') {
        *out = fl_bookmark_epoch();
        return 0;
    }
    if (n == 6 && memcmp(s + a, "recent", 6) == 0) {
        *out = fl_bookmark_recent();
        return 0;
    }
    if (is_digit(s[a])) {
        int64_t ts;
        int rc = parse_compact(s + a, n, a, &ts, err);
        if (rc != 0)
            return rc;
        *out = fl_bookmark_timestamp(ts);
        return 0;
    }
    return fail(err, FL_E_BAD_BOOKMARK, a, "unknown bookmark");
}

/* Offset of the first byte outside printable ASCII, or len. */
static size_t first_bad_byte(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return i;
    }
    return len;
}

static int check_bytes(const char *s, size_t len, fl_bm_error *err)
{
    size_t i = first_bad_byte(s, len);
    if (i < len)
        return fail(err, FL_E_BAD_BOOKMARK, i, "invalid byte 0x%02x", (unsigned char)s[i]);
    return 0;
}

int fl_bookmark_parse(const char *s, size_t len, fl_bookmark *out, fl_bm_error *err)
{
    if (len == 0 || s == NULL)
        return fail(err, FL_E_BAD_BOOKMARK, 0, "empty bookmark");
    int rc = check_bytes(s, len, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < len; i++) {
        if (strchr(",:[]()", s[i]) != NULL)
            return fail(err, FL_E_BAD_BOOKMARK, i, "unexpected '%c' in a single bookmark", s[i]);
    }
    return parse_point(s, 0, len, out, err);
}

static bool ts_valid(int64_t ts)
{
    return ts >= FL_TIME_MIN_US && ts <= FL_TIME_MAX_US;
}

int fl_bookmark_format(const fl_bookmark *bm, char *buf, size_t cap)
{
    char tmp[FL_BOOKMARK_MAX_TEXT];
    int n;
    switch (bm->kind) {
    case FL_BM_EPOCH:
        n = snprintf(tmp, sizeof tmp, "0");
        break;
    case FL_BM_NOW:
        n = snprintf(tmp, sizeof tmp, "0|1|");
        break;
    case FL_BM_RECENT:
        n = snprintf(tmp, sizeof tmp, "recent");
        break;
    case FL_BM_EXACT:
        if (bm->publisher == 0 || (bm->ts_us != FL_BM_NO_TS && !ts_valid(bm->ts_us)))
            return FL_E_INVAL;
        n = snprintf(tmp, sizeof tmp, "%llu|%llu|", (unsigned long long)bm->publisher,
                     (unsigned long long)bm->sequence);
        if (bm->ts_us != FL_BM_NO_TS)
            n += fl_time_format(bm->ts_us, tmp + n, sizeof tmp - (size_t)n);
        break;
    case FL_BM_TIMESTAMP:
        if (!ts_valid(bm->ts_us))
            return FL_E_INVAL;
        n = fl_time_format(bm->ts_us, tmp, sizeof tmp);
        break;
    default:
        return FL_E_INVAL;
    }
    if ((size_t)n >= cap)
        return FL_E_OVERFLOW;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

bool fl_bookmark_equal(const fl_bookmark *a, const fl_bookmark *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case FL_BM_EXACT:
        return a->publisher == b->publisher && a->sequence == b->sequence && a->ts_us == b->ts_us;
    case FL_BM_TIMESTAMP:
        return a->ts_us == b->ts_us;
    default:
        return true;
    }
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static bool epoch_orderable(fl_bm_kind k)
{
    return k == FL_BM_EPOCH || k == FL_BM_EXACT || k == FL_BM_TIMESTAMP;
}

int fl_bookmark_compare(const fl_bookmark *a, const fl_bookmark *b, int *cmp)
{
    if (a->kind == FL_BM_EPOCH && epoch_orderable(b->kind)) {
        *cmp = b->kind == FL_BM_EPOCH ? 0 : -1;
        return 0;
    }
    if (b->kind == FL_BM_EPOCH && epoch_orderable(a->kind)) {
        *cmp = 1;
        return 0;
    }
    if (a->kind == FL_BM_EXACT && b->kind == FL_BM_EXACT && a->publisher == b->publisher) {
        *cmp = cmp_u64(a->sequence, b->sequence);
        return 0;
    }
    if (a->kind == FL_BM_TIMESTAMP && b->kind == FL_BM_TIMESTAMP) {
        *cmp = cmp_i64(a->ts_us, b->ts_us);
        return 0;
    }
    return FL_E_INVAL;
}

static fl_bm_order order_of(int c)
{
    return c < 0 ? FL_BM_ORDER_BEFORE : c > 0 ? FL_BM_ORDER_AFTER : FL_BM_ORDER_AT;
}

fl_bm_order fl_bm_order_msg(const fl_bookmark *point, uint64_t publisher, uint64_t sequence,
                            int64_t ts_us)
{
    switch (point->kind) {
    case FL_BM_EPOCH:
        return FL_BM_ORDER_AFTER;
    case FL_BM_TIMESTAMP:
        if (ts_us == FL_BM_NO_TS)
            return FL_BM_ORDER_UNKNOWN;
        return order_of(cmp_i64(ts_us, point->ts_us));
    case FL_BM_EXACT:
        if (publisher == point->publisher)
            return order_of(cmp_u64(sequence, point->sequence));
        if (point->ts_us == FL_BM_NO_TS || ts_us == FL_BM_NO_TS || ts_us == point->ts_us)
            return FL_BM_ORDER_UNKNOWN;
        return order_of(cmp_i64(ts_us, point->ts_us));
    default:
        return FL_BM_ORDER_UNKNOWN;
    }
}

/* ---- lists ----------------------------------------------------------------- */

void fl_bm_list_init(fl_bm_list *l)
{
    l->items = NULL;
    l->count = 0;
    l->cap = 0;
}

void fl_bm_list_free(fl_bm_list *l)
{
    free(l->items);
    fl_bm_list_init(l);
}

int fl_bm_list_append(fl_bm_list *l, const fl_bookmark *bm)
{
    if (l->count >= FL_BM_MAX_POINTS)
        return FL_E_BAD_BOOKMARK;
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        if (ncap > FL_BM_MAX_POINTS)
            ncap = FL_BM_MAX_POINTS;
        fl_bookmark *p = realloc(l->items, ncap * sizeof *p);
        if (p == NULL)
            return FL_E_NOMEM;
        l->items = p;
        l->cap = ncap;
    }
    l->items[l->count++] = *bm;
    return 0;
}

static int list_copy(fl_bm_list *dst, const fl_bm_list *src)
{
    fl_bm_list_init(dst);
    for (size_t i = 0; i < src->count; i++) {
        int rc = fl_bm_list_append(dst, &src->items[i]);
        if (rc != 0) {
            fl_bm_list_free(dst);
            return rc;
        }
    }
    return 0;
}

static bool list_equal(const fl_bm_list *a, const fl_bm_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        if (!fl_bookmark_equal(&a->items[i], &b->items[i]))
            return false;
    }
    return true;
}

/* ---- selectors ----------------------------------------------------------- */

void fl_bm_selector_init(fl_bm_selector *sel)
{
    sel->kind = FL_BM_SEL_POINTS;
    fl_bm_list_init(&sel->points);
    fl_bm_list_init(&sel->begin);
    fl_bm_list_init(&sel->end);
    sel->begin_inclusive = false;
    sel->end_inclusive = false;
}

void fl_bm_selector_free(fl_bm_selector *sel)
{
    fl_bm_list_free(&sel->points);
    fl_bm_list_free(&sel->begin);
    fl_bm_list_free(&sel->end);
    fl_bm_selector_init(sel);
}

int fl_bm_selector_copy(fl_bm_selector *dst, const fl_bm_selector *src)
{
    fl_bm_selector_init(dst);
    dst->kind = src->kind;
    dst->begin_inclusive = src->begin_inclusive;
    dst->end_inclusive = src->end_inclusive;
    if (list_copy(&dst->points, &src->points) != 0 || list_copy(&dst->begin, &src->begin) != 0 ||
        list_copy(&dst->end, &src->end) != 0) {
        fl_bm_selector_free(dst);
        return FL_E_NOMEM;
    }
    return 0;
}

bool fl_bm_selector_equal(const fl_bm_selector *a, const fl_bm_selector *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == FL_BM_SEL_POINTS)
        return list_equal(&a->points, &b->points);
    return a->begin_inclusive == b->begin_inclusive && a->end_inclusive == b->end_inclusive &&
           list_equal(&a->begin, &b->begin) && list_equal(&a->end, &b->end);
}

/* Where a list sits, for the rules on 'recent' and on what may follow it. */
typedef enum list_ctx { CTX_TOP, CTX_BEGIN, CTX_END } list_ctx;

static bool is_struct_char(char c)
{
    return c == ',' || c == ':' || c == '[' || c == '(' || c == ']' || c == ')';
}

/* Parse a list starting at *pos, stopping at (not consuming) a ':' / ']' /
 * ')' / end of input that ends it. Empty first elements and misplaced
 * structural characters are errors. */
static int parse_list(const char *s, size_t len, size_t *pos, list_ctx ctx, fl_bm_list *out,
                      fl_bm_error *err)
{
    size_t i = *pos;
    size_t recent_at = SIZE_MAX; /* offset of a 'recent' first element */
    for (;;) {
        size_t a = i;
        while (i < len && !is_struct_char(s[i]))
            i++;
        if (a == i) {
            if (a < len && (s[a] == '[' || s[a] == '('))
                return fail(err, FL_E_BAD_RANGE, a,
                            ctx == CTX_TOP ? "range inside a list" : "nested range");
            if (out->count > 0)
                return fail(err, FL_E_BAD_BOOKMARK, a, "empty list element");
            if (ctx == CTX_TOP)
                return fail(err, FL_E_BAD_BOOKMARK, a, "empty bookmark");
            return fail(err, FL_E_BAD_RANGE, a,
                        ctx == CTX_BEGIN ? "missing range begin" : "missing range end");
        }
        if (out->count >= FL_BM_MAX_POINTS)
            return fail(err, FL_E_BAD_BOOKMARK, a, "more than %d bookmarks in a list",
                        FL_BM_MAX_POINTS);
        fl_bookmark bm;
        int rc = parse_point(s, a, i, &bm, err);
        if (rc != 0)
            return rc;
        if (bm.kind == FL_BM_RECENT) {
            if (ctx == CTX_END || out->count > 0)
                return fail(err, FL_E_BAD_BOOKMARK, a, "'recent' must stand alone");
            recent_at = a;
        } else if (recent_at != SIZE_MAX) {
            return fail(err, FL_E_BAD_BOOKMARK, recent_at, "'recent' must stand alone");
        }
        rc = fl_bm_list_append(out, &bm);
        if (rc != 0)
            return fail(err, rc, a, "out of memory");
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && (s[i] == '[' || s[i] == '('))
            return fail(err, FL_E_BAD_RANGE, i, "unexpected '%c'", s[i]);
        *pos = i;
        return 0;
    }
}

static int parse_top_list(const char *s, size_t len, fl_bm_selector *sel, fl_bm_error *err)
{
    size_t pos = 0;
    int rc = parse_list(s, len, &pos, CTX_TOP, &sel->points, err);
    if (rc != 0)
        return rc;
    if (pos < len && s[pos] == ':')
        return fail(err, FL_E_BAD_RANGE, pos,
                    "':' outside a range (a range starts with '[' or '(')");
    if (pos < len)
        return fail(err, FL_E_BAD_RANGE, pos, "unbalanced '%c'", s[pos]);
    return 0;
}

static int parse_range(const char *s, size_t len, fl_bm_selector *sel, fl_bm_error *err)
{
    sel->kind = FL_BM_SEL_RANGE;
    sel->begin_inclusive = s[0] == '[';
    size_t pos = 1;
    int rc = parse_list(s, len, &pos, CTX_BEGIN, &sel->begin, err);
    if (rc != 0)
        return rc;
    if (pos >= len)
        return fail(err, FL_E_BAD_RANGE, pos, "expected ':' in range");
    if (s[pos] != ':')
        return fail(err, FL_E_BAD_RANGE, pos, "expected ':' in range before '%c'", s[pos]);
    pos++;
    if ((rc = parse_list(s, len, &pos, CTX_END, &sel->end, err)) != 0)
        return rc;
    if (pos >= len)
        return fail(err, FL_E_BAD_RANGE, pos, "expected ']' or ')' to close range");
    if (s[pos] == ':')
        return fail(err, FL_E_BAD_RANGE, pos, "second ':' in range");
    sel->end_inclusive = s[pos] == ']';
    pos++;
    if (pos < len)
        return fail(err, FL_E_BAD_RANGE, pos, "unexpected characters after range");
    return 0;
}

int fl_bm_selector_parse(const char *s, size_t len, fl_bm_selector *out, fl_bm_error *err)
{
    fl_bm_selector_init(out);
    if (s == NULL || len == 0)
        return fail(err, FL_E_BAD_BOOKMARK, 0, "empty bookmark");
    int rc = check_bytes(s, len, err);
    if (rc != 0)
        return rc;
    fl_bm_selector sel;
    fl_bm_selector_init(&sel);
    if (s[0] == '[' || s[0] == '(')
        rc = parse_range(s, len, &sel, err);
    else
        rc = parse_top_list(s, len, &sel, err);
    if (rc != 0) {
        fl_bm_selector_free(&sel);
        return rc;
    }
    *out = sel;
    return 0;
}

/* ---- selector formatting -------------------------------------------------- */

/* Appends what fits into buf (keeping room for the NUL) and counts the full
 * length regardless, so one routine serves format and format_len. */
typedef struct writer {
    char *buf;
    size_t cap;
    size_t len;
} writer;

static void put(writer *w, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++, w->len++) {
        if (w->len + 1 < w->cap)
            w->buf[w->len] = p[i];
    }
}

static int check_list(const fl_bm_list *l, list_ctx ctx)
{
    if (l->count == 0 || l->count > FL_BM_MAX_POINTS || l->items == NULL)
        return FL_E_INVAL;
    for (size_t i = 0; i < l->count; i++) {
        if (l->items[i].kind == FL_BM_RECENT && (ctx == CTX_END || l->count > 1))
            return FL_E_INVAL;
    }
    return 0;
}

static int put_list(writer *w, const fl_bm_list *l, list_ctx ctx)
{
    int rc = check_list(l, ctx);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l->count; i++) {
        char tmp[FL_BOOKMARK_MAX_TEXT];
        int n = fl_bookmark_format(&l->items[i], tmp, sizeof tmp);
        if (n < 0)
            return n;
        if (i > 0)
            put(w, ",", 1);
        put(w, tmp, (size_t)n);
    }
    return 0;
}

static int put_selector(writer *w, const fl_bm_selector *sel)
{
    if (sel->kind == FL_BM_SEL_POINTS)
        return put_list(w, &sel->points, CTX_TOP);
    if (sel->kind != FL_BM_SEL_RANGE)
        return FL_E_INVAL;
    put(w, sel->begin_inclusive ? "[" : "(", 1);
    int rc = put_list(w, &sel->begin, CTX_BEGIN);
    if (rc != 0)
        return rc;
    put(w, ":", 1);
    if ((rc = put_list(w, &sel->end, CTX_END)) != 0)
        return rc;
    put(w, sel->end_inclusive ? "]" : ")", 1);
    return 0;
}

int fl_bm_selector_format_len(const fl_bm_selector *sel)
{
    writer w = {NULL, 0, 0};
    int rc = put_selector(&w, sel);
    return rc != 0 ? rc : (int)w.len;
}

int fl_bm_selector_format(const fl_bm_selector *sel, char *buf, size_t cap)
{
    writer w = {buf, cap, 0};
    int rc = put_selector(&w, sel);
    if (cap > 0)
        buf[w.len < cap ? w.len : cap - 1] = '\0';
    if (rc != 0)
        return rc;
    if (w.len >= cap)
        return FL_E_OVERFLOW;
    return (int)w.len;
}

/* ---- range bounds ---------------------------------------------------------- */

fl_bm_verdict fl_bm_range_begin_admits(const fl_bm_list *begin, bool inclusive, uint64_t publisher,
                                       uint64_t sequence, int64_t ts_us)
{
    bool unknown = false;
    for (size_t i = 0; i < begin->count; i++) {
        fl_bm_order o = fl_bm_order_msg(&begin->items[i], publisher, sequence, ts_us);
        if (o == FL_BM_ORDER_AFTER || (o == FL_BM_ORDER_AT && inclusive))
            return FL_BM_YES;
        if (o == FL_BM_ORDER_UNKNOWN)
            unknown = true;
    }
    return unknown ? FL_BM_UNDECIDED : FL_BM_NO;
}

/* One end point's answer, in the terms of fl_bm_range_end_check. */
static fl_bm_end end_point(const fl_bookmark *p, bool inclusive, uint64_t publisher,
                           uint64_t sequence, int64_t ts_us)
{
    switch (fl_bm_order_msg(p, publisher, sequence, ts_us)) {
    case FL_BM_ORDER_BEFORE:
        return FL_BM_END_INSIDE;
    case FL_BM_ORDER_AT:
        if (!inclusive)
            return FL_BM_END_PAST;
        return p->kind == FL_BM_TIMESTAMP ? FL_BM_END_INSIDE : FL_BM_END_LAST;
    case FL_BM_ORDER_AFTER:
        return FL_BM_END_PAST;
    default:
        return FL_BM_END_UNDECIDED;
    }
}

fl_bm_end fl_bm_range_end_check(const fl_bm_list *end, bool inclusive, uint64_t publisher,
                                uint64_t sequence, int64_t ts_us)
{
    bool unknown = false, last = false;
    for (size_t i = 0; i < end->count; i++) {
        fl_bm_end e = end_point(&end->items[i], inclusive, publisher, sequence, ts_us);
        if (e == FL_BM_END_INSIDE)
            return FL_BM_END_INSIDE;
        unknown |= e == FL_BM_END_UNDECIDED;
        last |= e == FL_BM_END_LAST;
    }
    if (unknown)
        return FL_BM_END_UNDECIDED;
    return last ? FL_BM_END_LAST : FL_BM_END_PAST;
}

/* ---- publisher ids -------------------------------------------------------- */

uint64_t fl_publisher_id(const char *client_name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)client_name[i];
        h *= 0x100000001b3ULL;
    }
    return h < 2 ? h + 2 : h;
}
