/* Source positions for JSON values.
 *
 * jansson keeps no positions for the values it decodes, so a scenario error
 * found after decoding ("clients.pub-1.publish[0].rate is not a rate") would
 * otherwise have no line and column. This module re-scans the raw text with a
 * small tokenizer and follows a path of object keys and array indices to the
 * value (or the key) it names.
 *
 * Positions are 1-based; columns count UTF-8 code points, as jansson's do.
 * The scanner never reads past `len` and needs no recursion (skipped values
 * are walked with a depth counter), so it is safe on any input, but it only
 * promises correct answers for text that is valid JSON.
 */
#ifndef SIM_JSONPOS_H
#define SIM_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>

/* One path step: an object key (key != NULL) or an array index. */
typedef struct sim_jsonpos_seg {
    const char *key; /* decoded key (UTF-8, NUL-terminated), or NULL */
    size_t index;    /* array index when key is NULL */
} sim_jsonpos_seg;

typedef struct sim_jsonpos {
    int line;       /* 1-based */
    int column;     /* 1-based, in code points */
    size_t offset;  /* byte offset into the text */
    size_t matched; /* how many path steps were found */
} sim_jsonpos;

/* Locate the value at `path` (n steps; n == 0 is the top-level value). With
 * want_key, the last step must be an object key and the position is that of
 * the key's opening quote instead of the value.
 *
 * Returns 0 with *out filled, or FL_E_NOT_FOUND with *out at the deepest
 * value that was found (the container in which the next step is missing;
 * `matched` says how deep), or FL_E_INVAL if the text is not JSON where the
 * scanner looked. */
int sim_jsonpos_find(const char *text, size_t len, const sim_jsonpos_seg *path, size_t n,
                     bool want_key, sim_jsonpos *out);

/* As sim_jsonpos_find with a textual path: `a.b[0].c`; a key that is not a
 * plain name (letters, digits, '_', '-') is written `["a.b"]` with JSON string
 * escapes. FL_E_INVAL for a malformed path. */
int sim_jsonpos_find_str(const char *text, size_t len, const char *path, bool want_key,
                         sim_jsonpos *out);

/* Render a path in the textual form above ("" for the empty path). Returns
 * the snprintf-style length; the text is truncated if buflen is too small. */
int sim_jsonpos_format_path(const sim_jsonpos_seg *path, size_t n, char *buf, size_t buflen);

#endif
