/* Small helpers shared by the simulator's files: the error text written
 * into a caller's buffer, mkdir -p, growing an array, copying a counted
 * string, decimal digits. Internal to the simulator. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* printf into err[0..cap) (truncated, NUL-terminated); err NULL or cap 0
 * is a no-op. */
void sim_set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* mkdir -p `dir` (mode 0777, existing directories are fine). 0,
 * FL_E_INVAL (empty path), FL_E_NOMEM or FL_E_IO; err (may be NULL) says
 * which directory could not be created. */
int sim_mkdir_p(const char *dir, char *err, size_t errcap);

/* Make room for `need` elements of `elem` bytes in the array *p of
 * capacity *cap: the capacity doubles (from `first` for an empty array)
 * until it holds `need`. 0 or FL_E_NOMEM (*p and *cap unchanged). Call as
 * sim_grow((void **)&a, &cap, n + 1, sizeof *a, 16). */
int sim_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* A NUL-terminated copy of the n bytes at s (which need not be
 * NUL-terminated); NULL on allocation failure. Free with free(). */
char *sim_dup_n(const void *s, size_t n);

/* The decimal digits of v into out (no NUL); returns their count (1..20).
 * Inline: the trace and history lines of every event are built with it. */
static inline size_t sim_u64_digits(uint64_t v, char out[20])
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

#endif
