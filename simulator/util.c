/* Small helpers shared by the simulator's files (util.h). */
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faultline/error.h"

void sim_set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int sim_mkdir_p(const char *dir, char *err, size_t errcap)
{
    if (!dir[0]) {
        sim_set_err(err, errcap, "cannot create a directory with an empty name");
        return FL_E_INVAL;
    }
    char *p = strdup(dir);
    if (!p) {
        sim_set_err(err, errcap, "%s: out of memory", dir);
        return FL_E_NOMEM;
    }
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        bool end = *s == 0;
        if (*s != '/' && !end)
            continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            sim_set_err(err, errcap, "%s: cannot create directory: %s", p, strerror(errno));
            rc = FL_E_IO;
        }
        if (end)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}

int sim_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    assert(elem > 0 && first > 0);
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : first;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return FL_E_NOMEM;
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (!q)
        return FL_E_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

char *sim_dup_n(const void *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
