/* Source positions for JSON values: a bounded, non-recursive scanner that
 * follows a key/index path through raw JSON text. See jsonpos.h. */
#include "jsonpos.h"

#include "faultline/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    const char *text;
    size_t len;
    size_t pos;
    int line;
    int col;
} cursor;

static int peek(const cursor *c)
{
    return c->pos < c->len ? (unsigned char)c->text[c->pos] : -1;
}

static void advance(cursor *c)
{
    if (c->pos >= c->len)
        return;
    unsigned char b = (unsigned char)c->text[c->pos++];
    if (b == '\n') {
        c->line++;
        c->col = 1;
    } else if ((b & 0xC0) != 0x80) {
        c->col++;
    }
}

static void skip_ws(cursor *c)
{
    for (;;) {
        int b = peek(c);
        if (b != ' ' && b != '\t' && b != '\n' && b != '\r')
            return;
        advance(c);
    }
}

static void mark(const cursor *c, sim_jsonpos *out)
{
    out->line = c->line;
    out->column = c->col;
    out->offset = c->pos;
}

static int hexval(int b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    if (b >= 'A' && b <= 'F')
        return b - 'A' + 10;
    return -1;
}

static int read_hex4(cursor *c, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(peek(c));
        if (h < 0)
            return FL_E_INVAL;
        x = x * 16 + (unsigned)h;
        advance(c);
    }
    *v = x;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape (after the 'u'), with a following low surrogate if any. */
static int read_unicode_escape(cursor *c, unsigned *cp)
{
    unsigned hi;
    if (read_hex4(c, &hi) < 0)
        return FL_E_INVAL;
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = hi;
        return 0;
    }
    unsigned lo;
    if (peek(c) != '\\')
        return FL_E_INVAL;
    advance(c);
    if (peek(c) != 'u')
        return FL_E_INVAL;
    advance(c);
    if (read_hex4(c, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
        return FL_E_INVAL;
    *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return 0;
}

static int escape_char(int b)
{
    switch (b) {
    case '"':
    case '\\':
    case '/':
        return b;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return -1;
    }
}

/* Reads a string at the cursor (on its opening quote). If dst is not NULL it
 * receives the decoded bytes (it must hold the raw remaining length + 1;
 * decoding never grows). */
static int read_string(cursor *c, char *dst, size_t *dlen)
{
    if (peek(c) != '"')
        return FL_E_INVAL;
    advance(c);
    size_t n = 0;
    for (;;) {
        int b = peek(c);
        if (b < 0)
            return FL_E_INVAL;
        advance(c);
        if (b == '"')
            break;
        if (b != '\\') {
            if (dst)
                dst[n] = (char)b;
            n++;
            continue;
        }
        int e = peek(c);
        advance(c);
        if (e == 'u') {
            unsigned cp;
            char tmp[4];
            if (read_unicode_escape(c, &cp) < 0)
                return FL_E_INVAL;
            size_t k = put_utf8(tmp, cp);
            if (dst)
                memcpy(dst + n, tmp, k);
            n += k;
            continue;
        }
        int ch = escape_char(e);
        if (ch < 0)
            return FL_E_INVAL;
        if (dst)
            dst[n] = (char)ch;
        n++;
    }
    if (dst)
        dst[n] = '\0';
    if (dlen)
        *dlen = n;
    return 0;
}

/* Skips one value of any kind, counting nesting instead of recursing. */
static int skip_value(cursor *c)
{
    size_t depth = 0;
    do {
        skip_ws(c);
        int b = peek(c);
        if (b < 0)
            return FL_E_INVAL;
        if (b == '"') {
            if (read_string(c, NULL, NULL) < 0)
                return FL_E_INVAL;
        } else if (b == '{' || b == '[') {
            depth++;
            advance(c);
        } else if (b == '}' || b == ']') {
            if (depth == 0)
                return FL_E_INVAL;
            depth--;
            advance(c);
        } else if (b == ',' || b == ':') {
            if (depth == 0)
                return FL_E_INVAL;
            advance(c);
        } else {
            /* number, true, false, null: a run of word characters */
            size_t start = c->pos;
            while (c->pos < c->len && strchr(" \t\r\n,:]}[{\"", peek(c)) == NULL)
                advance(c);
            if (c->pos == start)
                return FL_E_INVAL;
        }
    } while (depth > 0);
    return 0;
}

/* Finds `key` in the object at the cursor; leaves the cursor on the value
 * and the key's position in *keypos. FL_E_NOT_FOUND if absent. */
static int find_key(cursor *c, const char *key, sim_jsonpos *keypos)
{
    if (peek(c) != '{')
        return FL_E_NOT_FOUND;
    advance(c);
    char *buf = malloc(c->len - c->pos + 1);
    if (buf == NULL)
        return FL_E_NOMEM;
    int rc = FL_E_NOT_FOUND;
    for (;;) {
        skip_ws(c);
        if (peek(c) == '}')
            break;
        sim_jsonpos kp;
        mark(c, &kp);
        size_t klen;
        if (read_string(c, buf, &klen) < 0) {
            rc = FL_E_INVAL;
            break;
        }
        skip_ws(c);
        if (peek(c) != ':') {
            rc = FL_E_INVAL;
            break;
        }
        advance(c);
        skip_ws(c);
        if (klen == strlen(key) && memcmp(buf, key, klen) == 0) {
            *keypos = kp;
            rc = 0;
            break;
        }
        if (skip_value(c) < 0) {
            rc = FL_E_INVAL;
            break;
        }
        skip_ws(c);
        if (peek(c) == ',')
            advance(c);
        else
            break;
    }
    free(buf);
    return rc;
}

static int find_index(cursor *c, size_t index)
{
    if (peek(c) != '[')
        return FL_E_NOT_FOUND;
    advance(c);
    for (size_t i = 0;; i++) {
        skip_ws(c);
        if (peek(c) == ']')
            return FL_E_NOT_FOUND;
        if (i == index)
            return 0;
        if (skip_value(c) < 0)
            return FL_E_INVAL;
        skip_ws(c);
        if (peek(c) != ',')
            return FL_E_NOT_FOUND;
        advance(c);
    }
}

int sim_jsonpos_find(const char *text, size_t len, const sim_jsonpos_seg *path, size_t n,
                     bool want_key, sim_jsonpos *out)
{
    cursor c = {text, text ? len : 0, 0, 1, 1};
    skip_ws(&c);
    mark(&c, out);
    out->matched = 0;
    for (size_t i = 0; i < n; i++) {
        sim_jsonpos keypos;
        int rc;
        if (path[i].key != NULL)
            rc = find_key(&c, path[i].key, &keypos);
        else
            rc = find_index(&c, path[i].index);
        if (rc < 0)
            return rc;
        out->matched = i + 1;
        mark(&c, out);
        if (want_key && i + 1 == n) {
            if (path[i].key == NULL)
                return FL_E_INVAL;
            keypos.matched = n;
            *out = keypos;
        }
    }
    return 0;
}

static bool plain_key(const char *k)
{
    if (*k == '\0')
        return false;
    for (; *k; k++) {
        unsigned char b = (unsigned char)*k;
        if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
              b == '_' || b == '-'))
            return false;
    }
    return true;
}

/* Appends to buf at *at, keeping the snprintf-style total in *at. */
static void append(char *buf, size_t buflen, size_t *at, const char *s, size_t n)
{
    if (*at < buflen) {
        size_t room = buflen - *at - 1;
        memcpy(buf + *at, s, n < room ? n : room);
        buf[*at + (n < room ? n : room)] = '\0';
    }
    *at += n;
}

static void append_quoted(char *buf, size_t buflen, size_t *at, const char *k)
{
    append(buf, buflen, at, "[\"", 2);
    for (; *k; k++) {
        unsigned char b = (unsigned char)*k;
        char esc[8];
        if (b == '"' || b == '\\') {
            esc[0] = '\\';
            esc[1] = (char)b;
            append(buf, buflen, at, esc, 2);
        } else if (b < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", b);
            append(buf, buflen, at, esc, 6);
        } else {
            append(buf, buflen, at, (const char *)&b, 1);
        }
    }
    append(buf, buflen, at, "\"]", 2);
}

int sim_jsonpos_format_path(const sim_jsonpos_seg *path, size_t n, char *buf, size_t buflen)
{
    size_t at = 0;
    if (buflen > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (path[i].key == NULL) {
            char tmp[32];
            int k = snprintf(tmp, sizeof tmp, "[%zu]", path[i].index);
            append(buf, buflen, &at, tmp, (size_t)k);
        } else if (plain_key(path[i].key)) {
            if (i > 0)
                append(buf, buflen, &at, ".", 1);
            append(buf, buflen, &at, path[i].key, strlen(path[i].key));
        } else {
            append_quoted(buf, buflen, &at, path[i].key);
        }
    }
    return at > INT32_MAX ? INT32_MAX : (int)at;
}

/* Splits a textual path into segments; keys are decoded into `store`. */
#define MAX_STR_SEGS 64

static int parse_index(const char **p, size_t *index)
{
    size_t v = 0;
    int digits = 0;
    while (**p >= '0' && **p <= '9') {
        if (v > (SIZE_MAX - 9) / 10)
            return FL_E_INVAL;
        v = v * 10 + (size_t)(**p - '0');
        (*p)++;
        digits++;
    }
    if (digits == 0 || **p != ']')
        return FL_E_INVAL;
    (*p)++;
    *index = v;
    return 0;
}

static int parse_str_path(const char *path, char *store, sim_jsonpos_seg *segs, size_t *n)
{
    const char *p = path;
    size_t ns = 0;
    char *o = store;
    while (*p) {
        if (ns == MAX_STR_SEGS)
            return FL_E_INVAL;
        if (*p == '[' && p[1] == '"') {
            /* a quoted key: decode it with the JSON string reader */
            size_t rest = strlen(p + 1);
            cursor c = {p + 1, rest, 0, 1, 1};
            size_t klen;
            if (read_string(&c, o, &klen) < 0 || p[1 + c.pos] != ']')
                return FL_E_INVAL;
            segs[ns].key = o;
            o += klen + 1;
            p += 1 + c.pos + 1;
        } else if (*p == '[') {
            p++;
            segs[ns].key = NULL;
            if (parse_index(&p, &segs[ns].index) < 0)
                return FL_E_INVAL;
        } else {
            if (*p == '.') {
                if (ns == 0)
                    return FL_E_INVAL;
                p++;
            }
            size_t k = strcspn(p, ".[");
            if (k == 0)
                return FL_E_INVAL;
            memcpy(o, p, k);
            o[k] = '\0';
            segs[ns].key = o;
            o += k + 1;
            p += k;
        }
        ns++;
    }
    *n = ns;
    return 0;
}

int sim_jsonpos_find_str(const char *text, size_t len, const char *path, bool want_key,
                         sim_jsonpos *out)
{
    if (path == NULL)
        return FL_E_INVAL;
    size_t plen = strlen(path);
    char *store = malloc(2 * plen + 2);
    sim_jsonpos_seg *segs = malloc(sizeof *segs * MAX_STR_SEGS);
    int rc = FL_E_NOMEM;
    size_t n = 0;
    if (store != NULL && segs != NULL) {
        rc = parse_str_path(path, store, segs, &n);
        if (rc == 0)
            rc = sim_jsonpos_find(text, len, segs, n, want_key, out);
    }
    free(store);
    free(segs);
    return rc;
}
