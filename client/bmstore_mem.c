/* The built-in "memory" bookmark store: duplicate filtering and resume
 * points for bookmark subscriptions, kept in memory only (nothing survives
 * close or a crash; a restarted client resumes from EPOCH for every sub id).
 *
 * Design. Per sub id (sorted array, binary search) a sorted array of
 * publishers (ascending id, which is also the order of the resume list), and
 * per publisher:
 *   - highest_seen: the highest sequence ever logged;
 *   - the contiguous point: the highest discarded sequence such that every
 *     sequence logged before it is discarded too (with its timestamp);
 *   - a ring of the entries logged above that point, ascending by sequence
 *     (log only ever appends: a sequence not above highest_seen is never
 *     new), each flagged discarded or not. Discarding the head advances the
 *     contiguous point past every discarded entry at the front.
 * So log and discard are O(log p + log n) and amortised O(1) in the ring,
 * with n the entries outstanding above the contiguous point.
 *
 * Rules (anchors.md, AMPS bookmark store):
 *   - log: above highest_seen is new (logged, 0). At or below it the entry is
 *     looked up: a logged, not yet discarded entry is a redelivery of
 *     something unprocessed (0); a discarded one, or one the store does not
 *     know, is a duplicate (1).
 *   - is_discarded answers the same lookup without logging anything: 1 for a
 *     discarded or unknown sequence at or below highest_seen, else 0.
 *   - most_recent: per publisher the contiguous point, "pub|seq|ts" joined by
 *     ',' in ascending publisher id. If a publisher's first logged message is
 *     still undiscarded there is no point for it that precedes that message,
 *     so the answer is "0" (EPOCH): replaying from the start and filtering is
 *     safe, leaving the publisher out would lose the message.
 *   - persisted acks change nothing here (nothing to prune in memory).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "faultline/store.h"
#include "store_util.h"

typedef struct bm_entry {
    uint64_t seq;
    int64_t ts_us;
    bool discarded;
} bm_entry;

typedef struct bm_pub {
    uint64_t id;
    uint64_t highest_seen;
    bool has_point;
    uint64_t point_seq;
    int64_t point_ts;
    bm_entry *ring; /* cap is a power of two (or 0) */
    size_t cap, head, len;
} bm_pub;

typedef struct bm_sub {
    char *id;
    bm_pub *pubs; /* ascending id */
    size_t npubs, cappubs;
} bm_sub;

typedef struct mem_bmstore {
    bm_sub *subs; /* ascending strcmp(id) */
    size_t nsubs, capsubs;
    char err[160];
} mem_bmstore;

/* --- lookups ---------------------------------------------------------- */

/* Binary search; returns the index of the match or of the insertion point. */
static size_t sub_pos(const mem_bmstore *s, const char *id, bool *found)
{
    size_t lo = 0, hi = s->nsubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->subs[mid].id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static bm_sub *sub_find(const mem_bmstore *s, const char *id)
{
    bool found;
    size_t i = sub_pos(s, id, &found);
    return found ? &s->subs[i] : NULL;
}

static size_t pub_pos(const bm_sub *sub, uint64_t id, bool *found)
{
    size_t lo = 0, hi = sub->npubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = sub->pubs[mid].id;
        if (v == id) {
            *found = true;
            return mid;
        }
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static bm_pub *pub_find(const bm_sub *sub, uint64_t id)
{
    bool found;
    size_t i = pub_pos(sub, id, &found);
    return found ? &sub->pubs[i] : NULL;
}

static bm_entry *ent(const bm_pub *p, size_t i)
{
    return &p->ring[(p->head + i) & (p->cap - 1)];
}

/* Index in the ring of the entry with this sequence, or p->len. */
static size_t ent_find(const bm_pub *p, uint64_t seq)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = ent(p, mid)->seq;
        if (v == seq)
            return mid;
        if (v < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return p->len;
}

/* --- creation --------------------------------------------------------- */

static bm_sub *sub_get(mem_bmstore *s, const char *id)
{
    bool found;
    size_t i = sub_pos(s, id, &found);
    if (found)
        return &s->subs[i];
    if (s->nsubs == s->capsubs) {
        size_t ncap = s->capsubs ? s->capsubs * 2 : 4;
        bm_sub *n = realloc(s->subs, ncap * sizeof *n);
        if (!n)
            return NULL;
        s->subs = n;
        s->capsubs = ncap;
    }
    char *copy = strdup(id);
    if (!copy)
        return NULL;
    memmove(&s->subs[i + 1], &s->subs[i], (s->nsubs - i) * sizeof *s->subs);
    s->subs[i] = (bm_sub){.id = copy};
    s->nsubs++;
    return &s->subs[i];
}

static bm_pub *pub_get(bm_sub *sub, uint64_t id)
{
    bool found;
    size_t i = pub_pos(sub, id, &found);
    if (found)
        return &sub->pubs[i];
    if (sub->npubs == sub->cappubs) {
        size_t ncap = sub->cappubs ? sub->cappubs * 2 : 4;
        bm_pub *n = realloc(sub->pubs, ncap * sizeof *n);
        if (!n)
            return NULL;
        sub->pubs = n;
        sub->cappubs = ncap;
    }
    memmove(&sub->pubs[i + 1], &sub->pubs[i], (sub->npubs - i) * sizeof *sub->pubs);
    sub->pubs[i] = (bm_pub){.id = id};
    sub->npubs++;
    return &sub->pubs[i];
}

static void sub_clear(bm_sub *sub)
{
    for (size_t i = 0; i < sub->npubs; i++)
        free(sub->pubs[i].ring);
    free(sub->pubs);
    free(sub->id);
}

/* Drop a sub created for a log that then failed, so failures change nothing. */
static void sub_drop_if_empty(mem_bmstore *s, const char *id)
{
    bool found;
    size_t i = sub_pos(s, id, &found);
    if (!found || s->subs[i].npubs)
        return;
    sub_clear(&s->subs[i]);
    memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof *s->subs);
    s->nsubs--;
}

static int ring_push(bm_pub *p, const fl_store_bookmark *bm)
{
    if (p->len == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        if (ncap > SIZE_MAX / sizeof(bm_entry))
            return FL_E_NOMEM;
        bm_entry *r = malloc(ncap * sizeof *r);
        if (!r)
            return FL_E_NOMEM;
        for (size_t i = 0; i < p->len; i++)
            r[i] = *ent(p, i);
        free(p->ring);
        p->ring = r;
        p->cap = ncap;
        p->head = 0;
    }
    *ent(p, p->len) = (bm_entry){.seq = bm->sequence, .ts_us = bm->ts_us};
    p->len++;
    return 0;
}

/* --- operations ------------------------------------------------------- */

static int set_err(mem_bmstore *s, int code, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s", what);
    return code;
}

static int check_args(mem_bmstore *s, const char *op, const char *sub_id,
                      const fl_store_bookmark *bm)
{
    if (!sub_id || !bm) {
        snprintf(s->err, sizeof s->err, "%s: NULL sub id or bookmark", op);
        return FL_E_INVAL;
    }
    if (bm->publisher == 0 || bm->ts_us > FL_TIME_MAX_US) {
        snprintf(s->err, sizeof s->err, "%s: publisher 0 or timestamp out of range", op);
        return FL_E_INVAL;
    }
    return 0;
}

static int bm_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery, char *err,
                   size_t errcap)
{
    if (!self_out)
        return fl__store_errf(FL_E_INVAL, err, errcap, "open: self_out is NULL");
    int rc = fl__store_env_check(env, false, err, errcap);
    if (rc)
        return rc;
    fl__store_options o;
    rc = fl__store_options_parse(env->options, &o, err, errcap);
    if (rc)
        return rc;
    mem_bmstore *s = calloc(1, sizeof *s);
    if (!s)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "out of memory");
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    *self_out = s;
    return 0;
}

static void bm_close(void *self)
{
    mem_bmstore *s = self;
    if (!s)
        return;
    for (size_t i = 0; i < s->nsubs; i++)
        sub_clear(&s->subs[i]);
    free(s->subs);
    free(s);
}

/* 1 if a sequence at or below highest_seen counts as a duplicate. */
static int lookup_is_dup(const bm_pub *p, uint64_t seq)
{
    if (p->has_point && seq <= p->point_seq)
        return 1;
    size_t i = ent_find(p, seq);
    return i == p->len ? 1 : ent(p, i)->discarded;
}

static int bm_log(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "log", sub_id, bm);
    if (rc)
        return rc;
    bm_sub *sub = sub_get(s, sub_id);
    if (!sub)
        return set_err(s, FL_E_NOMEM, "log: out of memory");
    bool had_pub;
    pub_pos(sub, bm->publisher, &had_pub);
    bm_pub *p = pub_get(sub, bm->publisher);
    if (!p) {
        sub_drop_if_empty(s, sub_id);
        return set_err(s, FL_E_NOMEM, "log: out of memory");
    }
    if (had_pub && bm->sequence <= p->highest_seen)
        return lookup_is_dup(p, bm->sequence);
    if (ring_push(p, bm) != 0) {
        if (!had_pub) {
            bool found;
            size_t i = pub_pos(sub, bm->publisher, &found);
            memmove(&sub->pubs[i], &sub->pubs[i + 1], (sub->npubs - i - 1) * sizeof *sub->pubs);
            sub->npubs--;
            sub_drop_if_empty(s, sub_id);
        }
        return set_err(s, FL_E_NOMEM, "log: out of memory");
    }
    p->highest_seen = bm->sequence;
    return 0;
}

/* Move the contiguous point past every discarded entry at the front. */
static void advance_point(bm_pub *p)
{
    while (p->len && ent(p, 0)->discarded) {
        bm_entry *e = ent(p, 0);
        p->has_point = true;
        p->point_seq = e->seq;
        p->point_ts = e->ts_us;
        p->head = (p->head + 1) & (p->cap - 1);
        p->len--;
    }
}

static int bm_discard(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "discard", sub_id, bm);
    if (rc)
        return rc;
    bm_sub *sub = sub_find(s, sub_id);
    bm_pub *p = sub ? pub_find(sub, bm->publisher) : NULL;
    if (!p)
        return 0;
    size_t i = ent_find(p, bm->sequence);
    if (i == p->len)
        return 0; /* unknown or already behind the contiguous point */
    ent(p, i)->discarded = true;
    if (i == 0)
        advance_point(p);
    return 0;
}

static int bm_is_discarded(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    mem_bmstore *s = self;
    int rc = check_args(s, "is_discarded", sub_id, bm);
    if (rc)
        return rc;
    bm_sub *sub = sub_find(s, sub_id);
    bm_pub *p = sub ? pub_find(sub, bm->publisher) : NULL;
    if (!p || bm->sequence > p->highest_seen)
        return 0;
    return lookup_is_dup(p, bm->sequence);
}

/* Append text to buf at *len; FL_E_OVERFLOW when it (plus the NUL) won't fit. */
static int append(char *buf, size_t cap, size_t *len, const char *text, size_t n)
{
    if (n >= cap - *len)
        return FL_E_OVERFLOW;
    memcpy(buf + *len, text, n);
    *len += n;
    buf[*len] = '\0';
    return 0;
}

static int bm_most_recent(void *self, const char *sub_id, char *buf, size_t cap)
{
    mem_bmstore *s = self;
    if (!sub_id || (!buf && cap))
        return set_err(s, FL_E_INVAL, "most_recent: NULL sub id or buffer");
    if (cap == 0)
        return FL_E_OVERFLOW;
    buf[0] = '\0';
    size_t len = 0;
    bm_sub *sub = sub_find(s, sub_id);
    for (size_t i = 0; sub && i < sub->npubs; i++) {
        if (!sub->pubs[i].has_point) {
            sub = NULL; /* an unprocessed first message pins the sub to EPOCH */
            len = 0;
            break;
        }
    }
    if (!sub || sub->npubs == 0)
        return append(buf, cap, &len, "0", 1) ? FL_E_OVERFLOW : 1;
    for (size_t i = 0; i < sub->npubs; i++) {
        const bm_pub *p = &sub->pubs[i];
        fl_bookmark b =
            fl_bookmark_exact(p->id, p->point_seq, p->point_ts < 0 ? FL_BM_NO_TS : p->point_ts);
        char text[FL_BOOKMARK_MAX_TEXT + 1];
        size_t n = 0;
        if (i)
            text[n++] = ',';
        int w = fl_bookmark_format(&b, text + n, sizeof text - n);
        assert(w > 0); /* log/discard validated publisher and timestamp */
        n += (size_t)w;
        if (append(buf, cap, &len, text, n))
            return FL_E_OVERFLOW;
    }
    return (int)len;
}

static int bm_persisted(void *self, const char *sub_id, const fl_store_bookmark *bm)
{
    return check_args(self, "persisted", sub_id, bm);
}

static int bm_prune(void *self)
{
    return 0; /* nothing dead is kept: discarded entries leave the ring at once */
}

static int bm_purge(void *self, const char *sub_id)
{
    mem_bmstore *s = self;
    if (!sub_id) {
        for (size_t i = 0; i < s->nsubs; i++)
            sub_clear(&s->subs[i]);
        s->nsubs = 0;
        return 0;
    }
    bool found;
    size_t i = sub_pos(s, sub_id, &found);
    if (!found)
        return 0;
    sub_clear(&s->subs[i]);
    memmove(&s->subs[i], &s->subs[i + 1], (s->nsubs - i - 1) * sizeof *s->subs);
    s->nsubs--;
    return 0;
}

static int bm_flush(void *self)
{
    return 0;
}

static int bm_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return 0;
}

static const char *bm_last_error(void *self)
{
    return ((mem_bmstore *)self)->err;
}

const fl_bmstore_ops fl_bmstore_memory = {
    .version = FL_STORE_ABI_VERSION,
    .name = "memory",
    .open = bm_open,
    .close = bm_close,
    .log = bm_log,
    .discard = bm_discard,
    .is_discarded = bm_is_discarded,
    .most_recent = bm_most_recent,
    .persisted = bm_persisted,
    .prune = bm_prune,
    .purge = bm_purge,
    .flush = bm_flush,
    .list_files = bm_list_files,
    .last_error = bm_last_error,
};
