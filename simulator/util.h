/* Small helpers shared by the simulator's files: the error text written
 * into a caller's buffer, and mkdir -p. Internal to the simulator. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stddef.h>

/* printf into err[0..cap) (truncated, NUL-terminated); err NULL or cap 0
 * is a no-op. */
void sim_set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* mkdir -p `dir` (mode 0777, existing directories are fine). 0,
 * FL_E_INVAL (empty path), FL_E_NOMEM or FL_E_IO; err (may be NULL) says
 * which directory could not be created. */
int sim_mkdir_p(const char *dir, char *err, size_t errcap);

#endif
