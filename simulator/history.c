/* The run history recorder (history.h): canonical JSON lines, a running
 * FNV-1a 64 hash, a streaming sink, a bounded tail and observers. */
#include "history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "util.h"

typedef struct observer {
    sim_history_observer_fn fn; /* NULL once removed (compacted later) */
    void *arg;
} observer;

typedef struct tail_slot {
    char *line;
    size_t cap;
} tail_slot;

struct sim_history {
    uint64_t hash;
    uint64_t count;
    uint64_t dropped;
    FILE *sink;
    int sink_err;

    tail_slot *tail; /* ring of tail_max slots */
    size_t tail_max;
    size_t tail_first; /* index of the oldest line */
    size_t tail_len;

    observer *obs;
    size_t nobs, obs_cap;
    int depth;        /* nesting of observer dispatch */
    bool obs_removed; /* some observer was removed during a dispatch */

    char *buf; /* line buffer for non-nested adds */
    size_t buf_cap;
};

sim_history *sim_history_new(size_t tail_lines)
{
    sim_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->hash = SIM_HISTORY_FNV_OFFSET;
    if (tail_lines) {
        h->tail = calloc(tail_lines, sizeof *h->tail);
        if (!h->tail) {
            free(h);
            return NULL;
        }
        h->tail_max = tail_lines;
    }
    return h;
}

void sim_history_free(sim_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->tail_max; i++)
        free(h->tail[i].line);
    free(h->tail);
    free(h->obs);
    free(h->buf);
    free(h);
}

void sim_history_set_sink(sim_history *h, FILE *f)
{
    h->sink = f;
    h->sink_err = 0;
}

int sim_history_sink_error(const sim_history *h)
{
    return h->sink_err;
}

int sim_history_observe(sim_history *h, sim_history_observer_fn fn, void *arg)
{
    if (!fn)
        return FL_E_INVAL;
    if (h->nobs == h->obs_cap) {
        size_t cap = h->obs_cap ? h->obs_cap * 2 : 4;
        observer *o = realloc(h->obs, cap * sizeof *o);
        if (!o)
            return FL_E_NOMEM;
        h->obs = o;
        h->obs_cap = cap;
    }
    h->obs[h->nobs++] = (observer){fn, arg};
    return 0;
}

static void compact_observers(sim_history *h)
{
    size_t j = 0;
    for (size_t i = 0; i < h->nobs; i++)
        if (h->obs[i].fn)
            h->obs[j++] = h->obs[i];
    h->nobs = j;
    h->obs_removed = false;
}

int sim_history_unobserve(sim_history *h, sim_history_observer_fn fn, void *arg)
{
    for (size_t i = 0; i < h->nobs; i++) {
        if (h->obs[i].fn == fn && h->obs[i].arg == arg) {
            h->obs[i].fn = NULL;
            h->obs_removed = true;
            if (h->depth == 0)
                compact_observers(h);
            return 0;
        }
    }
    return FL_E_NOT_FOUND;
}

/* --- line building --- */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_reserve(strbuf *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

/* Append n bytes. The buffer is NUL-terminated by build_line once the line
 * is complete (sb_reserve always keeps room for it). */
static void sb_put(strbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static const char hexdig[] = "0123456789abcdef";

/* The escape of one byte into esc[] (without quotes); returns its length. */
static size_t escape_byte(unsigned char c, char esc[7])
{
    switch (c) {
    case '"':
        memcpy(esc, "\\\"", 2);
        return 2;
    case '\\':
        memcpy(esc, "\\\\", 2);
        return 2;
    case '\n':
        memcpy(esc, "\\n", 2);
        return 2;
    case '\r':
        memcpy(esc, "\\r", 2);
        return 2;
    case '\t':
        memcpy(esc, "\\t", 2);
        return 2;
    default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hexdig[c >> 4];
        esc[5] = hexdig[c & 15];
        return 6;
    }
    esc[0] = (char)c;
    return 1;
}

/* True for the bytes escape_byte() copies unchanged. */
static inline bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

/* Every line has several of these: runs of plain bytes (all of them, in
 * practice) are copied with one sb_put, only the rest byte by byte. */
static void sb_put_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    const unsigned char *q = (const unsigned char *)s;
    while (*q) {
        const unsigned char *run = q;
        while (*q && plain_byte(*q))
            q++;
        if (q > run)
            sb_put(b, (const char *)run, (size_t)(q - run));
        if (!*q)
            break;
        char esc[7];
        size_t n = escape_byte(*q++, esc);
        sb_put(b, esc, n);
    }
    sb_put(b, "\"", 1);
}

/* Append n bytes at *need, writing only what fits (keeping room for NUL). */
static void put_bounded(char *out, size_t cap, size_t *need, const char *p, size_t n)
{
    if (out && *need + n < cap) {
        memcpy(out + *need, p, n);
        out[*need + n] = '\0';
    }
    *need += n;
}

size_t sim_json_escape(char *out, size_t cap, const char *s)
{
    size_t need = 0;
    if (out && cap)
        out[0] = '\0';
    put_bounded(out, cap, &need, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)(s ? s : ""); *q; q++) {
        char esc[7];
        size_t n = escape_byte(*q, esc);
        put_bounded(out, cap, &need, esc, n);
    }
    put_bounded(out, cap, &need, "\"", 1);
    return need;
}

static void build_line(strbuf *b, uint64_t t_us, const char *node, const char *source,
                       const char *event, const char *fields)
{
    char num[20];
    b->len = 0;
    sb_put(b, "{\"t\":", 5);
    sb_put(b, num, sim_u64_digits(t_us, num));
    sb_put(b, ",\"node\":", 8);
    sb_put_json_string(b, node);
    sb_put(b, ",\"src\":", 7);
    sb_put_json_string(b, source);
    sb_put(b, ",\"ev\":", 6);
    sb_put_json_string(b, event);
    if (fields[0]) {
        sb_put(b, ",", 1);
        sb_put(b, fields, strlen(fields));
    }
    sb_put(b, "}", 1);
    if (!b->oom)
        b->p[b->len] = '\0';
}

/* --- recording --- */

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    const unsigned char *q = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) {
        h ^= q[i];
        h *= SIM_HISTORY_FNV_PRIME;
    }
    return h;
}

static bool tail_push(sim_history *h, const char *line, size_t len)
{
    if (!h->tail_max)
        return true;
    size_t idx;
    if (h->tail_len < h->tail_max) {
        idx = (h->tail_first + h->tail_len) % h->tail_max;
        h->tail_len++;
    } else {
        idx = h->tail_first;
        h->tail_first = (h->tail_first + 1) % h->tail_max;
    }
    tail_slot *s = &h->tail[idx];
    if (s->cap < len + 1) {
        char *p = realloc(s->line, len + 1);
        if (!p) {
            if (s->line)
                s->line[0] = '\0';
            return false;
        }
        s->line = p;
        s->cap = len + 1;
    }
    memcpy(s->line, line, len + 1);
    return true;
}

static void notify(sim_history *h, const sim_history_event *ev)
{
    h->depth++;
    /* Index loop: an observer may register or remove observers. */
    for (size_t i = 0; i < h->nobs; i++) {
        observer o = h->obs[i];
        if (o.fn)
            o.fn(o.arg, ev);
    }
    h->depth--;
    if (h->depth == 0 && h->obs_removed)
        compact_observers(h);
}

void sim_history_add(sim_history *h, uint64_t t_us, const char *node, const char *source,
                     const char *event, const char *fields_json)
{
    node = node ? node : "";
    source = source ? source : "";
    event = event ? event : "";
    fields_json = fields_json ? fields_json : "";

    /* Nested adds (from an observer) must not clobber the outer line. */
    bool nested = h->depth > 0;
    strbuf b = nested ? (strbuf){0} : (strbuf){h->buf, 0, h->buf_cap, false};
    build_line(&b, t_us, node, source, event, fields_json);
    if (!nested) {
        h->buf = b.p;
        h->buf_cap = b.cap;
    }

    uint64_t seq = h->count++;
    if (b.oom) {
        /* Keep the hash honest even without a line: hash the parts. */
        h->hash = fnv1a(h->hash, node, strlen(node));
        h->hash = fnv1a(h->hash, event, strlen(event));
        h->hash = fnv1a(h->hash, "\n", 1);
        h->dropped++;
        if (nested)
            free(b.p);
        return;
    }
    h->hash = fnv1a(h->hash, b.p, b.len);
    h->hash = fnv1a(h->hash, "\n", 1);
    if (h->sink && !h->sink_err) {
        if (fwrite(b.p, 1, b.len, h->sink) != b.len || fputc('\n', h->sink) == EOF)
            h->sink_err = FL_E_IO;
    }
    if (!tail_push(h, b.p, b.len))
        h->dropped++;
    if (h->nobs) {
        sim_history_event ev = {seq, t_us, node, source, event, fields_json, b.p, b.len};
        notify(h, &ev);
    }
    if (nested)
        free(b.p);
}

uint64_t sim_history_hash(const sim_history *h)
{
    return h->hash;
}

uint64_t sim_history_count(const sim_history *h)
{
    return h->count;
}

uint64_t sim_history_dropped(const sim_history *h)
{
    return h->dropped;
}

size_t sim_history_tail_count(const sim_history *h)
{
    return h->tail_len;
}

const char *sim_history_tail_line(const sim_history *h, size_t i)
{
    if (i >= h->tail_len)
        return NULL;
    const char *l = h->tail[(h->tail_first + i) % h->tail_max].line;
    return l ? l : "";
}
