/* The default round-robin server chooser with per-URI passwords, and the
 * call-through helpers of the chooser vtable (see chooser.h).
 *
 * Round robin: `cur` indexes the server to try. A reported failure moves to
 * the next server (wrapping); success and plain disconnects (which are not
 * reported) leave it, so the same server is retried first. */
#include "faultline/chooser.h"

#include "faultline/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct server {
    char *uri;
    char *password; /* NULL: none */
    int last_err;   /* last reported failure, 0 if none since success */
} server;

typedef struct rr_chooser {
    server *servers;
    size_t count;
    size_t cap;
    size_t cur;
    char text[512];
} rr_chooser;

static const char *rr_current_uri(void *self)
{
    rr_chooser *c = self;
    return c->count ? c->servers[c->cur].uri : NULL;
}

static const char *rr_current_password(void *self)
{
    rr_chooser *c = self;
    return c->count ? c->servers[c->cur].password : NULL;
}

static void rr_report_success(void *self)
{
    rr_chooser *c = self;
    if (c->count)
        c->servers[c->cur].last_err = 0;
}

static void rr_report_failure(void *self, const char *uri, int err)
{
    rr_chooser *c = self;
    if (c->count == 0)
        return;
    /* Record against the server tried; advance past it. */
    if (uri == NULL || strcmp(c->servers[c->cur].uri, uri) == 0)
        c->servers[c->cur].last_err = err ? err : FL_E_DISCONNECTED;
    c->cur = (c->cur + 1) % c->count;
}

static const char *rr_get_error(void *self)
{
    rr_chooser *c = self;
    if (c->count == 0)
        return "no servers configured";
    return "";
}

/* Append `s` to c->text at *off, truncating quietly. */
static void text_add(rr_chooser *c, size_t *off, const char *s)
{
    size_t room = sizeof c->text - *off;
    size_t n = strlen(s);
    if (room <= 1)
        return;
    if (n >= room)
        n = room - 1;
    memcpy(c->text + *off, s, n);
    *off += n;
    c->text[*off] = '\0';
}

static const char *rr_describe(void *self)
{
    rr_chooser *c = self;
    size_t off = 0;
    c->text[0] = '\0';
    text_add(c, &off, "round-robin over [");
    for (size_t i = 0; i < c->count; i++) {
        const server *s = &c->servers[i];
        if (i)
            text_add(c, &off, ", ");
        text_add(c, &off, s->uri);
        if (i == c->cur)
            text_add(c, &off, " (current)");
        if (s->last_err) {
            text_add(c, &off, ": ");
            text_add(c, &off, fl_strerror(s->last_err));
        }
    }
    text_add(c, &off, "]");
    return c->text;
}

static void rr_free(void *self)
{
    rr_chooser *c = self;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->servers[i].uri);
        free(c->servers[i].password);
    }
    free(c->servers);
    free(c);
}

static const fl_chooser_ops RR_OPS = {
    FL_CHOOSER_OPS_VERSION, "round-robin",     rr_current_uri,
    rr_current_password,    rr_report_success, rr_report_failure,
    rr_get_error,           rr_describe,       rr_free,
};

int fl_chooser_default_new(fl_chooser *out)
{
    if (out == NULL)
        return FL_E_INVAL;
    rr_chooser *c = calloc(1, sizeof *c);
    if (c == NULL)
        return FL_E_NOMEM;
    out->ops = &RR_OPS;
    out->self = c;
    return 0;
}

int fl_chooser_default_add(fl_chooser *ch, const char *uri, const char *password)
{
    if (ch == NULL || ch->ops != &RR_OPS || uri == NULL || uri[0] == '\0')
        return FL_E_INVAL;
    rr_chooser *c = ch->self;
    if (c->count == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4;
        server *n = realloc(c->servers, ncap * sizeof *n);
        if (n == NULL)
            return FL_E_NOMEM;
        c->servers = n;
        c->cap = ncap;
    }
    char *u = strdup(uri);
    char *p = password ? strdup(password) : NULL;
    if (u == NULL || (password && p == NULL)) {
        free(u);
        free(p);
        return FL_E_NOMEM;
    }
    c->servers[c->count++] = (server){u, p, 0};
    return 0;
}

/* ---- call-through helpers --------------------------------------------------- */

static int usable(const fl_chooser *ch)
{
    return ch != NULL && ch->ops != NULL;
}

const char *fl_chooser_current_uri(const fl_chooser *ch)
{
    return usable(ch) ? ch->ops->current_uri(ch->self) : NULL;
}

const char *fl_chooser_current_password(const fl_chooser *ch)
{
    if (!usable(ch) || ch->ops->current_password == NULL)
        return NULL;
    return ch->ops->current_password(ch->self);
}

void fl_chooser_report_success(const fl_chooser *ch)
{
    if (usable(ch) && ch->ops->report_success)
        ch->ops->report_success(ch->self);
}

void fl_chooser_report_failure(const fl_chooser *ch, const char *uri, int err)
{
    if (usable(ch) && ch->ops->report_failure)
        ch->ops->report_failure(ch->self, uri, err);
}

const char *fl_chooser_get_error(const fl_chooser *ch)
{
    if (!usable(ch))
        return "no server chooser set";
    const char *e = ch->ops->get_error ? ch->ops->get_error(ch->self) : NULL;
    return e ? e : "";
}

const char *fl_chooser_describe(const fl_chooser *ch)
{
    if (!usable(ch))
        return "no server chooser";
    const char *d = ch->ops->describe ? ch->ops->describe(ch->self) : NULL;
    return d ? d : (ch->ops->name ? ch->ops->name : "custom chooser");
}

void fl_chooser_free(fl_chooser *ch)
{
    if (!usable(ch))
        return;
    if (ch->ops->free)
        ch->ops->free(ch->self);
    ch->ops = NULL;
    ch->self = NULL;
}
