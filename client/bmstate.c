/* The in-memory bookmark state behind the memory and file bookmark stores:
 * sorted subs, sorted publishers, a ring of outstanding entries per
 * publisher above its contiguous point. Design and rules in bmstate.h.
 */
#include "bmstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "store_util.h"

/* --- lookups ---------------------------------------------------------- */

/* Binary search; returns the index of the match or of the insertion point. */
static size_t sub_pos(const fl__bmstate *st, const char *id, bool *found)
{
    size_t lo = 0, hi = st->nsubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->subs[mid].id, id);
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

fl__bm_sub *fl__bmstate_sub_find(const fl__bmstate *st, const char *sub_id)
{
    bool found;
    size_t i = sub_pos(st, sub_id, &found);
    return found ? &st->subs[i] : NULL;
}

static size_t pub_pos(const fl__bm_sub *sub, uint64_t id, bool *found)
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

static fl__bm_pub *pub_find(const fl__bmstate *st, const char *sub_id, uint64_t id)
{
    const fl__bm_sub *sub = fl__bmstate_sub_find(st, sub_id);
    if (!sub)
        return NULL;
    bool found;
    size_t i = pub_pos(sub, id, &found);
    return found ? &sub->pubs[i] : NULL;
}

fl__bm_entry *fl__bmstate_entry(const fl__bm_pub *p, size_t i)
{
    return &p->ring[(p->head + i) & (p->cap - 1)];
}

/* Index in the ring of the entry with this sequence, or p->len. */
static size_t ent_find(const fl__bm_pub *p, uint64_t seq)
{
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = fl__bmstate_entry(p, mid)->seq;
        if (v == seq)
            return mid;
        if (v < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return p->len;
}

/* 1 if a sequence at or below highest_seen counts as a duplicate. */
static int lookup_is_dup(const fl__bm_pub *p, uint64_t seq)
{
    if (p->has_point && seq <= p->point_seq)
        return 1;
    size_t i = ent_find(p, seq);
    return i == p->len ? 1 : fl__bmstate_entry(p, i)->discarded;
}

/* --- creation and removal --------------------------------------------- */

static fl__bm_sub *sub_get(fl__bmstate *st, const char *id)
{
    bool found;
    size_t i = sub_pos(st, id, &found);
    if (found)
        return &st->subs[i];
    if (st->nsubs == st->capsubs) {
        size_t ncap = st->capsubs ? st->capsubs * 2 : 4;
        fl__bm_sub *n = realloc(st->subs, ncap * sizeof *n);
        if (!n)
            return NULL;
        st->subs = n;
        st->capsubs = ncap;
    }
    char *copy = strdup(id);
    if (!copy)
        return NULL;
    memmove(&st->subs[i + 1], &st->subs[i], (st->nsubs - i) * sizeof *st->subs);
    st->subs[i] = (fl__bm_sub){.id = copy};
    st->nsubs++;
    return &st->subs[i];
}

static fl__bm_pub *pub_get(fl__bm_sub *sub, uint64_t id)
{
    bool found;
    size_t i = pub_pos(sub, id, &found);
    if (found)
        return &sub->pubs[i];
    if (sub->npubs == sub->cappubs) {
        size_t ncap = sub->cappubs ? sub->cappubs * 2 : 4;
        fl__bm_pub *n = realloc(sub->pubs, ncap * sizeof *n);
        if (!n)
            return NULL;
        sub->pubs = n;
        sub->cappubs = ncap;
    }
    memmove(&sub->pubs[i + 1], &sub->pubs[i], (sub->npubs - i) * sizeof *sub->pubs);
    sub->pubs[i] = (fl__bm_pub){.id = id};
    sub->npubs++;
    return &sub->pubs[i];
}

fl__bm_pub *fl__bmstate_pub_get(fl__bmstate *st, const char *sub_id, uint64_t pub)
{
    fl__bm_sub *sub = sub_get(st, sub_id);
    return sub ? pub_get(sub, pub) : NULL;
}

static void sub_clear(fl__bm_sub *sub)
{
    for (size_t i = 0; i < sub->npubs; i++)
        free(sub->pubs[i].ring);
    free(sub->pubs);
    free(sub->id);
}

void fl__bmstate_free(fl__bmstate *st)
{
    for (size_t i = 0; i < st->nsubs; i++)
        sub_clear(&st->subs[i]);
    free(st->subs);
    memset(st, 0, sizeof *st);
}

void fl__bmstate_purge(fl__bmstate *st, const char *sub_id)
{
    if (sub_id == NULL) {
        for (size_t i = 0; i < st->nsubs; i++)
            sub_clear(&st->subs[i]);
        st->nsubs = 0;
        return;
    }
    bool found;
    size_t i = sub_pos(st, sub_id, &found);
    if (!found)
        return;
    sub_clear(&st->subs[i]);
    memmove(&st->subs[i], &st->subs[i + 1], (st->nsubs - i - 1) * sizeof *st->subs);
    st->nsubs--;
}

/* Remove a sub left without publishers by a failed insertion. */
static void sub_drop_if_empty(fl__bmstate *st, const char *id)
{
    fl__bm_sub *sub = fl__bmstate_sub_find(st, id);
    if (sub && sub->npubs == 0)
        fl__bmstate_purge(st, id);
}

/* Remove a publisher just created by pub_get (it holds no ring yet). */
static void pub_drop(fl__bm_sub *sub, uint64_t id)
{
    bool found;
    size_t i = pub_pos(sub, id, &found);
    memmove(&sub->pubs[i], &sub->pubs[i + 1], (sub->npubs - i - 1) * sizeof *sub->pubs);
    sub->npubs--;
}

int fl__bmstate_push(fl__bm_pub *p, uint64_t seq, int64_t ts, bool discarded)
{
    if (p->len == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        if (ncap > SIZE_MAX / sizeof(fl__bm_entry))
            return FL_E_NOMEM;
        fl__bm_entry *r = malloc(ncap * sizeof *r);
        if (!r)
            return FL_E_NOMEM;
        for (size_t i = 0; i < p->len; i++)
            r[i] = *fl__bmstate_entry(p, i);
        free(p->ring);
        p->ring = r;
        p->cap = ncap;
        p->head = 0;
    }
    *fl__bmstate_entry(p, p->len) = (fl__bm_entry){.seq = seq, .ts_us = ts, .discarded = discarded};
    p->len++;
    p->highest_seen = seq;
    return 0;
}

void fl__bmstate_set_point(fl__bm_pub *p, uint64_t seq, int64_t ts)
{
    p->has_point = true;
    p->point_seq = p->highest_seen = seq;
    p->point_ts = ts;
}

/* --- operations ------------------------------------------------------- */

int fl__bmstate_check_args(const char *op, const char *sub_id, const fl_store_bookmark *bm,
                           char *err, size_t errcap)
{
    if (!sub_id || !bm)
        return fl__store_errf(FL_E_INVAL, err, errcap, "%s: NULL sub id or bookmark", op);
    if (bm->publisher == 0 || bm->ts_us > FL_TIME_MAX_US)
        return fl__store_errf(FL_E_INVAL, err, errcap, "%s: publisher 0 or timestamp out of range",
                              op);
    return 0;
}

int fl__bmstate_log_verdict(const fl__bmstate *st, const char *sub_id, const fl_store_bookmark *bm)
{
    const fl__bm_pub *p = pub_find(st, sub_id, bm->publisher);
    if (p == NULL || bm->sequence > p->highest_seen)
        return 2;
    return lookup_is_dup(p, bm->sequence);
}

int fl__bmstate_log(fl__bmstate *st, const char *sub_id, uint64_t pub, uint64_t seq, int64_t ts)
{
    fl__bm_sub *sub = sub_get(st, sub_id);
    if (!sub)
        return FL_E_NOMEM;
    fl__bm_pub *p = pub_get(sub, pub);
    if (!p) {
        sub_drop_if_empty(st, sub_id);
        return FL_E_NOMEM;
    }
    bool fresh = p->len == 0 && !p->has_point;
    if (!fresh && seq <= p->highest_seen)
        return FL_E_CORRUPT; /* only possible from a damaged log */
    if (fl__bmstate_push(p, seq, ts, false) != 0) {
        if (fresh) {
            pub_drop(sub, pub);
            sub_drop_if_empty(st, sub_id);
        }
        return FL_E_NOMEM;
    }
    return 0;
}

/* Move the contiguous point past every discarded entry at the front. */
static void advance_point(fl__bm_pub *p)
{
    while (p->len && fl__bmstate_entry(p, 0)->discarded) {
        fl__bm_entry *e = fl__bmstate_entry(p, 0);
        p->has_point = true;
        p->point_seq = e->seq;
        p->point_ts = e->ts_us;
        p->head = (p->head + 1) & (p->cap - 1);
        p->len--;
    }
}

/* The ring entry a discard would mark, or NULL if the discard is a no-op. */
static fl__bm_entry *discard_target(const fl__bmstate *st, const char *sub_id, uint64_t pub,
                                    uint64_t seq, fl__bm_pub **pp)
{
    fl__bm_pub *p = pub_find(st, sub_id, pub);
    if (!p)
        return NULL;
    size_t i = ent_find(p, seq);
    if (i == p->len || fl__bmstate_entry(p, i)->discarded)
        return NULL;
    *pp = p;
    return fl__bmstate_entry(p, i);
}

int fl__bmstate_discard_changes(const fl__bmstate *st, const char *sub_id, uint64_t pub,
                                uint64_t seq)
{
    fl__bm_pub *p = NULL;
    return discard_target(st, sub_id, pub, seq, &p) != NULL;
}

void fl__bmstate_discard(fl__bmstate *st, const char *sub_id, uint64_t pub, uint64_t seq)
{
    fl__bm_pub *p = NULL;
    fl__bm_entry *e = discard_target(st, sub_id, pub, seq, &p);
    if (e == NULL)
        return;
    e->discarded = true;
    advance_point(p);
}

int fl__bmstate_is_discarded(const fl__bmstate *st, const char *sub_id, const fl_store_bookmark *bm)
{
    const fl__bm_pub *p = pub_find(st, sub_id, bm->publisher);
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

/* The sub if every publisher in it has a point, else NULL (EPOCH). */
static const fl__bm_sub *resumable_sub(const fl__bmstate *st, const char *sub_id)
{
    const fl__bm_sub *sub = fl__bmstate_sub_find(st, sub_id);
    for (size_t i = 0; sub && i < sub->npubs; i++)
        if (!sub->pubs[i].has_point)
            return NULL; /* an unprocessed first message pins the sub to EPOCH */
    return sub;
}

int fl__bmstate_most_recent(const fl__bmstate *st, const char *sub_id, char *buf, size_t cap)
{
    if (cap == 0)
        return FL_E_OVERFLOW;
    buf[0] = '\0';
    size_t len = 0;
    const fl__bm_sub *sub = resumable_sub(st, sub_id);
    if (!sub || sub->npubs == 0)
        return append(buf, cap, &len, "0", 1) ? FL_E_OVERFLOW : 1;
    for (size_t i = 0; i < sub->npubs; i++) {
        const fl__bm_pub *p = &sub->pubs[i];
        fl_bookmark b =
            fl_bookmark_exact(p->id, p->point_seq, p->point_ts < 0 ? FL_BM_NO_TS : p->point_ts);
        char text[FL_BOOKMARK_MAX_TEXT + 1];
        size_t n = 0;
        if (i)
            text[n++] = ',';
        int w = fl_bookmark_format(&b, text + n, sizeof text - n);
        if (w < 0)
            return w; /* log checked publisher and timestamp: not reached */
        n += (size_t)w;
        if (append(buf, cap, &len, text, n))
            return FL_E_OVERFLOW;
    }
    return (int)len;
}
