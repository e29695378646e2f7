/* Value syntaxes of the scenario format: durations, sizes, rates, times.
 *
 * A number is parsed as an exact decimal (integer digits, optional fraction
 * digits) and scaled by its unit in 128-bit arithmetic, so "1.5s" is exactly
 * 1500000 us and nothing goes through floating point.
 */
#include "units.h"

#include "faultline/error.h"

#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

typedef struct unit {
    const char *name;
    uint64_t scale;
} unit;

static const unit duration_units[] = {
    {"us", 1},
    {"ms", SIM_US_PER_MS},
    {"s", SIM_US_PER_S},
    {"m", SIM_US_PER_MIN},
    {"h", 60ull * SIM_US_PER_MIN},
    {"d", 24ull * 60ull * SIM_US_PER_MIN},
};

static const unit size_units[] = {
    {"B", 1},
    {"KiB", 1024ull},
    {"MiB", 1024ull * 1024ull},
    {"GiB", 1024ull * 1024ull * 1024ull},
};

#define NUNITS(a) (sizeof(a) / sizeof((a)[0]))

/* An exact decimal: value = ip + fp / 10^fdigits. */
typedef struct decimal {
    u128 ip;
    u128 fp;
    unsigned fdigits;
} decimal;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static u128 pow10_u128(unsigned n)
{
    u128 p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* Parses digits[.digits] at s; *end gets the first byte after. At most 24
 * integer and 18 fraction digits (so the u128 arithmetic below can't wrap). */
static int parse_decimal(const char *s, decimal *d, const char **end)
{
    const char *p = s;
    unsigned n = 0;
    d->ip = 0;
    d->fp = 0;
    d->fdigits = 0;
    while (is_digit(*p)) {
        if (++n > 24)
            return FL_E_OVERFLOW;
        d->ip = d->ip * 10 + (u128)(*p - '0');
        p++;
    }
    if (n == 0)
        return FL_E_INVAL;
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return FL_E_INVAL;
        while (is_digit(*p)) {
            if (++d->fdigits > 18)
                return FL_E_INVAL;
            d->fp = d->fp * 10 + (u128)(*p - '0');
            p++;
        }
    }
    *end = p;
    return 0;
}

/* decimal * scale as an exact integer; FL_E_INVAL if not whole, FL_E_OVERFLOW
 * beyond UINT64_MAX. */
static int scale_decimal(const decimal *d, uint64_t scale, uint64_t *out)
{
    u128 div = pow10_u128(d->fdigits);
    u128 frac = d->fp * scale;
    if (frac % div != 0)
        return FL_E_INVAL;
    u128 v = d->ip * scale + frac / div;
    if (v > UINT64_MAX)
        return FL_E_OVERFLOW;
    *out = (uint64_t)v;
    return 0;
}

static int parse_with_units(const char *s, const unit *units, size_t nunits, uint64_t *out)
{
    if (s == NULL)
        return FL_E_INVAL;
    if (s[0] == '-') {
        const char *end;
        decimal d;
        /* a well-formed negative number is out of range, not malformed */
        if (parse_decimal(s + 1, &d, &end) == 0) {
            for (size_t i = 0; i < nunits; i++)
                if (strcmp(end, units[i].name) == 0)
                    return FL_E_OVERFLOW;
        }
        return FL_E_INVAL;
    }
    decimal d;
    const char *end;
    int rc = parse_decimal(s, &d, &end);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(end, units[i].name) == 0)
            return scale_decimal(&d, units[i].scale, out);
    }
    return FL_E_INVAL;
}

int sim_parse_duration(const char *s, uint64_t *out_us)
{
    return parse_with_units(s, duration_units, NUNITS(duration_units), out_us);
}

int sim_parse_size(const char *s, uint64_t *out_bytes)
{
    return parse_with_units(s, size_units, NUNITS(size_units), out_bytes);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Builds a reduced rate of (d) events per `per` ("s" or "m"). */
static int make_rate(const decimal *d, const char *per, sim_rate *out)
{
    uint64_t unit_us;
    if (strcmp(per, "s") == 0)
        unit_us = SIM_US_PER_S;
    else if (strcmp(per, "m") == 0)
        unit_us = SIM_US_PER_MIN;
    else
        return FL_E_INVAL;
    if (d->fdigits > 6)
        return FL_E_INVAL;
    u128 den = pow10_u128(d->fdigits);
    u128 num = d->ip * den + d->fp;
    u128 per_us = (u128)unit_us * den;
    if (num == 0)
        return FL_E_OVERFLOW;
    if (num > UINT64_MAX || per_us > UINT64_MAX)
        return FL_E_OVERFLOW;
    uint64_t g = gcd_u64((uint64_t)num, (uint64_t)per_us);
    out->num = (uint64_t)num / g;
    out->per_us = (uint64_t)per_us / g;
    return 0;
}

int sim_parse_rate(const char *s, sim_rate *out)
{
    if (s == NULL)
        return FL_E_INVAL;
    decimal d;
    const char *end;
    int rc = parse_decimal(s[0] == '-' ? s + 1 : s, &d, &end);
    if (rc < 0)
        return rc;
    if (*end != '/')
        return FL_E_INVAL;
    sim_rate r;
    rc = make_rate(&d, end + 1, &r);
    if (rc < 0)
        return rc;
    if (s[0] == '-')
        return FL_E_OVERFLOW;
    *out = r;
    return 0;
}

int sim_parse_bandwidth(const char *s, sim_rate *out)
{
    if (s == NULL)
        return FL_E_INVAL;
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) >= 64)
        return FL_E_INVAL;
    char size[64];
    memcpy(size, s, (size_t)(slash - s));
    size[slash - s] = '\0';
    uint64_t bytes;
    int rc = sim_parse_size(size, &bytes);
    if (rc < 0)
        return rc;
    decimal d = {bytes, 0, 0};
    sim_rate r;
    rc = make_rate(&d, slash + 1, &r);
    if (rc < 0)
        return rc;
    *out = r;
    return 0;
}

uint64_t sim_rate_offset_us(sim_rate r, uint64_t k)
{
    if (r.num == 0)
        return UINT64_MAX;
    u128 v = (u128)k * r.per_us / r.num;
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

int64_t sim_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sim_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const int64_t doe = days - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at *p into *v. */
static bool read_digits(const char **p, unsigned n, unsigned *v)
{
    unsigned x = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        x = x * 10 + (unsigned)((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Optional ".f{1,6}" -> microseconds. */
static bool read_fraction(const char **p, unsigned *us)
{
    *us = 0;
    if (**p != '.')
        return true;
    (*p)++;
    unsigned n = 0, v = 0;
    while (is_digit(**p)) {
        if (++n > 6)
            return false;
        v = v * 10 + (unsigned)(**p - '0');
        (*p)++;
    }
    if (n == 0)
        return false;
    while (n++ < 6)
        v *= 10;
    *us = v;
    return true;
}

typedef struct civil {
    unsigned y, mo, d, h, mi, s, us;
} civil;

static int civil_to_unix(const civil *c, int64_t *out)
{
    if (c->y < 1 || c->mo < 1 || c->mo > 12 || c->d < 1 || c->d > days_in_month(c->y, c->mo))
        return FL_E_INVAL;
    if (c->h > 23 || c->mi > 59 || c->s > 59)
        return FL_E_INVAL;
    int64_t days = sim_days_from_civil(c->y, c->mo, c->d);
    int64_t secs = days * 86400 + c->h * 3600 + c->mi * 60 + c->s;
    *out = secs * (int64_t)SIM_US_PER_S + c->us;
    return 0;
}

static bool expect_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

int sim_parse_rfc3339(const char *s, int64_t *out_unix_us)
{
    if (s == NULL)
        return FL_E_INVAL;
    civil c;
    const char *p = s;
    if (!read_digits(&p, 4, &c.y) || !expect_char(&p, '-') || !read_digits(&p, 2, &c.mo) ||
        !expect_char(&p, '-') || !read_digits(&p, 2, &c.d) || !expect_char(&p, 'T') ||
        !read_digits(&p, 2, &c.h) || !expect_char(&p, ':') || !read_digits(&p, 2, &c.mi) ||
        !expect_char(&p, ':') || !read_digits(&p, 2, &c.s) || !read_fraction(&p, &c.us) ||
        !expect_char(&p, 'Z') || *p != '\0')
        return FL_E_INVAL;
    return civil_to_unix(&c, out_unix_us);
}

int sim_parse_bookmark_time(const char *s, int64_t *out_unix_us)
{
    if (s == NULL)
        return FL_E_INVAL;
    civil c;
    const char *p = s;
    if (!read_digits(&p, 4, &c.y) || !read_digits(&p, 2, &c.mo) || !read_digits(&p, 2, &c.d) ||
        !expect_char(&p, 'T') || !read_digits(&p, 2, &c.h) || !read_digits(&p, 2, &c.mi) ||
        !read_digits(&p, 2, &c.s) || !read_fraction(&p, &c.us))
        return FL_E_INVAL;
    (void)expect_char(&p, 'Z');
    if (*p != '\0')
        return FL_E_INVAL;
    return civil_to_unix(&c, out_unix_us);
}

bool sim_time_is_absolute(const char *s)
{
    if (s == NULL)
        return false;
    for (int i = 0; i < 8; i++)
        if (!is_digit(s[i]))
            return false;
    return s[8] == 'T';
}

int sim_parse_time(const char *s, int64_t start_unix_us, uint64_t *out_us)
{
    if (!sim_time_is_absolute(s))
        return sim_parse_duration(s, out_us);
    int64_t t;
    int rc = sim_parse_bookmark_time(s, &t);
    if (rc < 0)
        return rc;
    if (t < start_unix_us)
        return FL_E_OVERFLOW;
    *out_us = (uint64_t)(t - start_unix_us);
    return 0;
}

static int format_scaled(uint64_t v, const unit *units, size_t nunits, char *buf, size_t buflen)
{
    size_t best = 0;
    if (v != 0) {
        for (size_t i = 0; i < nunits; i++)
            if (v % units[i].scale == 0)
                best = i;
    } else {
        best = nunits > 2 && units == duration_units ? 2 : 0; /* "0s", "0B" */
    }
    return snprintf(buf, buflen, "%llu%s", (unsigned long long)(v / units[best].scale),
                    units[best].name);
}

int sim_format_duration(uint64_t us, char *buf, size_t buflen)
{
    return format_scaled(us, duration_units, NUNITS(duration_units), buf, buflen);
}

int sim_format_size(uint64_t bytes, char *buf, size_t buflen)
{
    return format_scaled(bytes, size_units, NUNITS(size_units), buf, buflen);
}

/* num/per_us events per unit_us as an exact decimal with <= 6 fraction
 * digits into buf; false if not exact. */
static bool rate_decimal(sim_rate r, uint64_t unit_us, char *buf, size_t buflen)
{
    u128 scaled = (u128)r.num * unit_us * 1000000u;
    if (r.per_us == 0 || scaled % r.per_us != 0)
        return false;
    u128 micro = scaled / r.per_us;
    u128 ip = micro / 1000000u;
    unsigned frac = (unsigned)(micro % 1000000u);
    if (ip > UINT64_MAX)
        return false;
    if (frac == 0) {
        snprintf(buf, buflen, "%llu", (unsigned long long)ip);
        return true;
    }
    char f[12];
    snprintf(f, sizeof f, "%06u", frac);
    for (int i = 5; i > 0 && f[i] == '0'; i--)
        f[i] = '\0';
    snprintf(buf, buflen, "%llu.%s", (unsigned long long)ip, f);
    return true;
}

int sim_format_rate(sim_rate r, char *buf, size_t buflen)
{
    char num[64];
    if (rate_decimal(r, SIM_US_PER_S, num, sizeof num))
        return snprintf(buf, buflen, "%s/s", num);
    if (rate_decimal(r, SIM_US_PER_MIN, num, sizeof num))
        return snprintf(buf, buflen, "%s/m", num);
    /* Not reachable for parsed rates; give the closest per-minute figure. */
    return snprintf(buf, buflen, "%llu/m",
                    (unsigned long long)(r.per_us ? (u128)r.num * SIM_US_PER_MIN / r.per_us : 0));
}

int sim_format_bandwidth(sim_rate r, char *buf, size_t buflen)
{
    char size[64];
    const uint64_t units[2] = {SIM_US_PER_S, SIM_US_PER_MIN};
    const char *names[2] = {"s", "m"};
    for (int i = 0; i < 2; i++) {
        u128 scaled = (u128)r.num * units[i];
        if (r.per_us != 0 && scaled % r.per_us == 0 && scaled / r.per_us <= UINT64_MAX) {
            sim_format_size((uint64_t)(scaled / r.per_us), size, sizeof size);
            return snprintf(buf, buflen, "%s/%s", size, names[i]);
        }
    }
    return snprintf(buf, buflen, "0B/s");
}

static void split_unix(int64_t unix_us, civil *c)
{
    int64_t secs = unix_us / (int64_t)SIM_US_PER_S;
    int64_t us = unix_us % (int64_t)SIM_US_PER_S;
    if (us < 0) {
        us += (int64_t)SIM_US_PER_S;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    sim_civil_from_days(days, &y, &c->mo, &c->d);
    c->y = (unsigned)y;
    c->h = (unsigned)(rem / 3600);
    c->mi = (unsigned)(rem / 60 % 60);
    c->s = (unsigned)(rem % 60);
    c->us = (unsigned)us;
}

int sim_format_rfc3339(int64_t unix_us, char *buf, size_t buflen)
{
    civil c;
    split_unix(unix_us, &c);
    if (c.us == 0)
        return snprintf(buf, buflen, "%04u-%02u-%02uT%02u:%02u:%02uZ", c.y, c.mo, c.d, c.h, c.mi,
                        c.s);
    char f[12];
    snprintf(f, sizeof f, "%06u", c.us);
    for (int i = 5; i > 0 && f[i] == '0'; i--)
        f[i] = '\0';
    return snprintf(buf, buflen, "%04u-%02u-%02uT%02u:%02u:%02u.%sZ", c.y, c.mo, c.d, c.h, c.mi,
                    c.s, f);
}

int sim_format_bookmark_time(int64_t unix_us, char *buf, size_t buflen)
{
    civil c;
    split_unix(unix_us, &c);
    return snprintf(buf, buflen, "%04u%02u%02uT%02u%02u%02u.%06uZ", c.y, c.mo, c.d, c.h, c.mi, c.s,
                    c.us);
}
