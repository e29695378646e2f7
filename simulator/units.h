/* Value syntaxes of the scenario format: durations, sizes, rates and times.
 *
 * Everything here is pure string <-> integer arithmetic with no clock and no
 * locale: durations are whole microseconds ("250ms", "1.5s", "26h", "0s";
 * units us, ms, s, m, h, d), sizes whole bytes (B, KiB, MiB, GiB), rates a
 * count per second or per minute ("200/s", "0.5/m"), wall times microseconds
 * since the Unix epoch (RFC 3339 UTC "2020-01-01T00:00:00Z" or the bookmark
 * form "20200604T120000[.ffffff]Z"). Calendar conversion is the
 * days-from-civil algorithm (proleptic Gregorian), not timegm(), so it is
 * independent of the TZ environment.
 *
 * Parsers return 0, FL_E_INVAL for malformed text, or FL_E_OVERFLOW for text
 * that is well formed but out of range (negative, too large, before start).
 * On failure *out is unchanged.
 */
#ifndef SIM_UNITS_H
#define SIM_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_US_PER_MS  1000ull
#define SIM_US_PER_S   1000000ull
#define SIM_US_PER_MIN (60ull * SIM_US_PER_S)

/* A rate: `num` events per `per_us` microseconds, reduced (gcd 1). num and
 * per_us are both > 0 for any parsed rate. */
typedef struct sim_rate {
    uint64_t num;
    uint64_t per_us;
} sim_rate;

/* "1.5s" -> 1500000. A fraction must come to whole microseconds ("1.5us" is
 * FL_E_INVAL). A leading '-' gives FL_E_OVERFLOW (negative), as does a value
 * beyond UINT64_MAX microseconds. */
int sim_parse_duration(const char *s, uint64_t *out_us);

/* "64MiB" -> 67108864. A fraction must come to whole bytes. */
int sim_parse_size(const char *s, uint64_t *out_bytes);

/* "200/s", "2.5/s", "30/m". A zero rate is FL_E_OVERFLOW. At most 6 fraction
 * digits. */
int sim_parse_rate(const char *s, sim_rate *out);

/* "10MiB/s": a size per second (or "/m") as a rate in bytes. */
int sim_parse_bandwidth(const char *s, sim_rate *out);

/* Offset from the first event of event k (k = 0 is at offset 0) for a rate:
 * floor(k * per_us / num), saturating at UINT64_MAX. Drift-free. */
uint64_t sim_rate_offset_us(sim_rate r, uint64_t k);

/* RFC 3339 UTC: "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z". Only "Z" (UTC) is accepted.
 * Years 0001-9999. Invalid dates (Feb 30) are FL_E_INVAL. */
int sim_parse_rfc3339(const char *s, int64_t *out_unix_us);

/* Bookmark timestamp "YYYYMMDDTHHMMSS[.f{1,6}][Z]" (the Z is optional, as in
 * bookmark ranges). */
int sim_parse_bookmark_time(const char *s, int64_t *out_unix_us);

/* True if s looks like an absolute bookmark timestamp (8 digits then 'T')
 * rather than a duration; decides which parser sim_parse_time() uses. */
bool sim_time_is_absolute(const char *s);

/* A scenario time: a duration from virtual zero, or an absolute bookmark
 * timestamp converted with start_unix_us (the wall time of virtual zero).
 * An absolute time before start is FL_E_OVERFLOW. */
int sim_parse_time(const char *s, int64_t start_unix_us, uint64_t *out_us);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31), and
 * the inverse. */
int64_t sim_days_from_civil(int64_t y, unsigned m, unsigned d);
void sim_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Canonical text forms; each returns the snprintf-style length (the text is
 * truncated if buflen is too small) and parses back to the same value. */
/* Largest unit that divides exactly: 1500000 -> "1500ms", 0 -> "0s". */
int sim_format_duration(uint64_t us, char *buf, size_t buflen);
/* Largest unit that divides exactly: 1024 -> "1KiB". */
int sim_format_size(uint64_t bytes, char *buf, size_t buflen);
/* "200/s" when exact with <= 6 fraction digits per second, else per minute. */
int sim_format_rate(sim_rate r, char *buf, size_t buflen);
/* As sim_format_rate with a size per second: "10MiB/s" or "1000B/s". */
int sim_format_bandwidth(sim_rate r, char *buf, size_t buflen);
/* "2020-01-01T00:00:00Z", with ".ffffff" only when the microseconds are not
 * zero. unix_us must be within years 0001-9999. */
int sim_format_rfc3339(int64_t unix_us, char *buf, size_t buflen);
/* "20200604T120000.000000Z" (always 6 fraction digits), the bookmark form. */
int sim_format_bookmark_time(int64_t unix_us, char *buf, size_t buflen);

#endif
