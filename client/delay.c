/* Reconnect delay strategies: fixed and exponential (see delay.h for the
 * exact semantics). Per-URI state is a small array in insertion order, so
 * nothing depends on pointer or hash order. */
#include "faultline/delay.h"

#include "faultline/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-URI state: the delay the next repeated attempt waits. */
typedef struct uri_slot {
    char *uri;
    double next_us;
} uri_slot;

typedef struct uri_table {
    uri_slot *items;
    size_t count;
    size_t cap;
} uri_table;

static uri_slot *table_find(uri_table *t, const char *uri)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->items[i].uri, uri) == 0)
            return &t->items[i];
    return NULL;
}

/* Add `uri`; NULL on out of memory (the table is unchanged). */
static uri_slot *table_add(uri_table *t, const char *uri, double next_us)
{
    if (t->count == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 4;
        uri_slot *n = realloc(t->items, ncap * sizeof *n);
        if (n == NULL)
            return NULL;
        t->items = n;
        t->cap = ncap;
    }
    char *copy = strdup(uri);
    if (copy == NULL)
        return NULL;
    uri_slot *s = &t->items[t->count++];
    s->uri = copy;
    s->next_us = next_us;
    return s;
}

static void table_clear(uri_table *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->items[i].uri);
    t->count = 0;
}

static void table_free(uri_table *t)
{
    table_clear(t);
    free(t->items);
    t->items = NULL;
    t->cap = 0;
}

/* The total-time budget shared by both strategies. */
typedef struct budget {
    uint64_t max_total_us; /* 0 = none */
    int started;
    uint64_t start_us;
} budget;

/* Start the clock on first use; FL_E_GAVE_UP once the budget is spent,
 * else 0 with *remaining (UINT64_MAX when unlimited). */
static int budget_check(budget *b, const fl_runtime *rt, uint64_t *remaining)
{
    uint64_t now = fl_rt_now(rt);
    if (!b->started) {
        b->started = 1;
        b->start_us = now;
    }
    *remaining = UINT64_MAX;
    if (b->max_total_us == 0)
        return 0;
    uint64_t elapsed = now - b->start_us;
    if (elapsed >= b->max_total_us)
        return FL_E_GAVE_UP;
    *remaining = b->max_total_us - elapsed;
    return 0;
}

/* ---- fixed ---------------------------------------------------------------- */

typedef struct fixed_delay {
    const fl_runtime *rt;
    uint64_t delay_us;
    budget budget;
    uri_table seen;
    char text[160];
} fixed_delay;

static int fixed_next_wait(void *self, const char *uri, uint64_t *wait_us)
{
    fixed_delay *d = self;
    uint64_t remaining;
    if (uri == NULL || wait_us == NULL)
        return FL_E_INVAL;
    int rc = budget_check(&d->budget, d->rt, &remaining);
    if (rc != 0)
        return rc;
    uint64_t w = d->delay_us;
    if (table_find(&d->seen, uri) == NULL) {
        if (table_add(&d->seen, uri, 0) == NULL)
            return FL_E_NOMEM;
        w = 0;
    }
    *wait_us = w < remaining ? w : remaining;
    return 0;
}

static void fixed_reset(void *self)
{
    fixed_delay *d = self;
    table_clear(&d->seen);
    d->budget.started = 0;
}

static const char *fixed_describe(void *self)
{
    fixed_delay *d = self;
    snprintf(d->text, sizeof d->text, "fixed delay=%lluus max_total=%lluus",
             (unsigned long long)d->delay_us, (unsigned long long)d->budget.max_total_us);
    return d->text;
}

static void fixed_free(void *self)
{
    fixed_delay *d = self;
    if (d == NULL)
        return;
    table_free(&d->seen);
    free(d);
}

static const fl_delay_ops FIXED_OPS = {
    FL_DELAY_OPS_VERSION, "fixed", fixed_next_wait, fixed_reset, fixed_describe, fixed_free,
};

int fl_delay_fixed_new(const fl_runtime *rt, const fl_delay_fixed_options *opts, fl_delay *out)
{
    fl_delay_fixed_options defaults = FL_DELAY_FIXED_OPTIONS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (rt == NULL || out == NULL || opts->version != FL_DELAY_OPTIONS_VERSION)
        return FL_E_INVAL;
    fixed_delay *d = calloc(1, sizeof *d);
    if (d == NULL)
        return FL_E_NOMEM;
    d->rt = rt;
    d->delay_us = opts->delay_us;
    d->budget.max_total_us = opts->max_total_us;
    out->ops = &FIXED_OPS;
    out->self = d;
    return 0;
}

/* ---- exponential ------------------------------------------------------------ */

typedef struct exp_delay {
    const fl_runtime *rt;
    fl_delay_exp_options o;
    budget budget;
    uri_table uris;
    char text[200];
} exp_delay;

/* The jitter to add: uniform in [0, initial * jitter], no draw when 0. */
static uint64_t exp_jitter(const exp_delay *d)
{
    if (d->o.jitter <= 0.0)
        return 0;
    double span = floor((double)d->o.initial_us * d->o.jitter);
    if (span < 1.0)
        return 0;
    if (span >= 1e18)
        span = 1e18;
    return fl_rt_random_below(d->rt, (uint64_t)span + 1);
}

static int exp_next_wait(void *self, const char *uri, uint64_t *wait_us)
{
    exp_delay *d = self;
    uint64_t remaining;
    if (uri == NULL || wait_us == NULL)
        return FL_E_INVAL;
    int rc = budget_check(&d->budget, d->rt, &remaining);
    if (rc != 0)
        return rc;
    uri_slot *s = table_find(&d->uris, uri);
    uint64_t w = 0;
    if (s == NULL) {
        if (table_add(&d->uris, uri, (double)d->o.initial_us) == NULL)
            return FL_E_NOMEM;
    } else {
        double base = s->next_us;
        double grown = base * d->o.exponent;
        s->next_us = grown > (double)d->o.max_us ? (double)d->o.max_us : grown;
        w = (uint64_t)floor(base);
        uint64_t j = exp_jitter(d);
        w = (d->o.max_us - w < j) ? d->o.max_us : w + j;
    }
    *wait_us = w < remaining ? w : remaining;
    return 0;
}

static void exp_reset(void *self)
{
    exp_delay *d = self;
    table_clear(&d->uris);
    d->budget.started = 0;
}

static const char *exp_describe(void *self)
{
    exp_delay *d = self;
    snprintf(d->text, sizeof d->text,
             "exponential initial=%lluus exponent=%g max=%lluus max_total=%lluus jitter=%g",
             (unsigned long long)d->o.initial_us, d->o.exponent, (unsigned long long)d->o.max_us,
             (unsigned long long)d->o.max_total_us, d->o.jitter);
    return d->text;
}

static void exp_free(void *self)
{
    exp_delay *d = self;
    if (d == NULL)
        return;
    table_free(&d->uris);
    free(d);
}

static const fl_delay_ops EXP_OPS = {
    FL_DELAY_OPS_VERSION, "exponential", exp_next_wait, exp_reset, exp_describe, exp_free,
};

static int exp_options_valid(const fl_delay_exp_options *o)
{
    if (o->version != FL_DELAY_OPTIONS_VERSION)
        return 0;
    if (!isfinite(o->exponent) || o->exponent < 1.0)
        return 0;
    if (!isfinite(o->jitter) || o->jitter < 0.0)
        return 0;
    return o->max_us >= o->initial_us;
}

int fl_delay_exponential_new(const fl_runtime *rt, const fl_delay_exp_options *opts, fl_delay *out)
{
    fl_delay_exp_options defaults = FL_DELAY_EXP_OPTIONS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (rt == NULL || out == NULL || !exp_options_valid(opts))
        return FL_E_INVAL;
    exp_delay *d = calloc(1, sizeof *d);
    if (d == NULL)
        return FL_E_NOMEM;
    d->rt = rt;
    d->o = *opts;
    d->budget.max_total_us = opts->max_total_us;
    out->ops = &EXP_OPS;
    out->self = d;
    return 0;
}

/* ---- call-through helpers --------------------------------------------------- */

int fl_delay_next_wait(const fl_delay *d, const char *uri, uint64_t *wait_us)
{
    if (d == NULL || d->ops == NULL)
        return FL_E_INVAL;
    return d->ops->next_wait(d->self, uri, wait_us);
}

void fl_delay_reset(const fl_delay *d)
{
    if (d != NULL && d->ops != NULL)
        d->ops->reset(d->self);
}

const char *fl_delay_describe(const fl_delay *d)
{
    if (d == NULL || d->ops == NULL)
        return "no delay strategy";
    if (d->ops->describe == NULL)
        return d->ops->name ? d->ops->name : "custom";
    return d->ops->describe(d->self);
}

void fl_delay_free(fl_delay *d)
{
    if (d == NULL || d->ops == NULL)
        return;
    if (d->ops->free)
        d->ops->free(d->self);
    d->ops = NULL;
    d->self = NULL;
}
