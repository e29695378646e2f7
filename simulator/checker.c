/* The checkers (see checker.h for what each one promises).
 *
 * Design notes:
 * - Sequence sets are `iset`s: sorted arrays of disjoint, non-adjacent
 *   closed intervals. Appending the next sequence extends the last interval
 *   in O(1), so an in-order stream of any length is one interval.
 * - Keyed collections (per publisher, per journal) are arrays sorted by a
 *   u64 key or a name, searched with bsearch: deterministic, never hashed.
 * - Every event goes into a per-client ring (last RING events) and, when
 *   notable, a per-client ring of notable events; fault events go into a
 *   global ring. A violation found online takes its "before" context from
 *   those rings and collects its "after" context from the next events of the
 *   same client (or global ones). A violation found at the end (loss,
 *   completeness, liveness) is dated (the publish-time index gives the time
 *   a lost sequence was accepted) and takes the notable events closest to
 *   that time.
 */
#include "checker.h"

#include "faultline/error.h"
#include "util.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RING             16
#define MAX_CONTEXT      16
#define TIME_INDEX_MAX   4096
#define MAX_GAPS_PER_SUB 4096
#define MAX_ERRORS       65536

/* Check indices (bit indices of SIM_CHECK_*). */
enum {
    CK_NO_LOSS = 0,
    CK_ACK_HONESTY = 1,
    CK_NO_DUPLICATES = 2,
    CK_ORDER = 3,
    CK_RANGE_EXACT = 4,
    CK_GAPS_REPORTED = 5,
    CK_LIVENESS = 6,
    CK_UNPERSISTED_ZERO = 7,
};

/* ---- interval sets -------------------------------------------------------- */

typedef struct ivl {
    uint64_t lo, hi;
} ivl;

typedef struct iset {
    ivl *v;
    size_t n, cap;
} iset;

static void iset_free(iset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static void iset_clear(iset *s)
{
    s->n = 0;
}

/* Index of the first interval with hi >= x (n if none). */
static size_t iset_lower(const iset *s, uint64_t x)
{
    size_t a = 0, b = s->n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (s->v[m].hi < x)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static bool iset_contains(const iset *s, uint64_t x)
{
    size_t i = iset_lower(s, x);
    return i < s->n && s->v[i].lo <= x;
}

static int iset_reserve(iset *s, size_t need)
{
    return sim_grow((void **)&s->v, &s->cap, need, sizeof *s->v, 4);
}

/* Add [lo, hi] (lo <= hi), merging with overlapping or adjacent intervals. */
static int iset_add_range(iset *s, uint64_t lo, uint64_t hi)
{
    assert(lo <= hi);
    if (s->n > 0) { /* fast path: at or after the end */
        ivl *last = &s->v[s->n - 1];
        if (lo >= last->lo && (last->hi == UINT64_MAX || lo <= last->hi + 1)) {
            if (hi > last->hi)
                last->hi = hi;
            return 0;
        }
    }
    /* first interval that touches or follows lo: hi + 1 >= lo */
    size_t i = iset_lower(s, lo == 0 ? 0 : lo - 1);
    size_t j = i;
    while (j < s->n && (hi == UINT64_MAX || s->v[j].lo <= hi + 1))
        j++;
    if (i == j) {
        int rc = iset_reserve(s, s->n + 1);
        if (rc)
            return rc;
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(ivl));
        s->v[i] = (ivl){lo, hi};
        s->n++;
        return 0;
    }
    ivl merged = {lo < s->v[i].lo ? lo : s->v[i].lo, hi > s->v[j - 1].hi ? hi : s->v[j - 1].hi};
    s->v[i] = merged;
    memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(ivl));
    s->n -= j - i - 1;
    return 0;
}

/* Add x: 1 if it was new, 0 if already there, <0 on error. */
static int iset_add(iset *s, uint64_t x)
{
    if (iset_contains(s, x))
        return 0;
    int rc = iset_add_range(s, x, x);
    return rc ? rc : 1;
}

static int iset_merge(iset *dst, const iset *src)
{
    for (size_t i = 0; i < src->n; i++) {
        int rc = iset_add_range(dst, src->v[i].lo, src->v[i].hi);
        if (rc)
            return rc;
    }
    return 0;
}

static uint64_t iset_count(const iset *s)
{
    uint64_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        c += s->v[i].hi - s->v[i].lo + 1;
    return c;
}

/* Remove from *run ([lo, hi]) the part covered by s starting at index *k;
 * returns the first uncovered sub-run in *out and advances; false when
 * nothing of [lo, hi] is left uncovered. Used to walk a - b in order. */
typedef struct diff_iter {
    const iset *a;
    const iset *const *sub; /* sets to subtract */
    size_t nsub;
    size_t ai;
    uint64_t cur; /* next candidate value within a->v[ai] */
    bool started;
} diff_iter;

static bool covered_until(const diff_iter *it, uint64_t x, uint64_t *end)
{
    /* If x is in one of the subtracted sets, *end = the end of that
     * interval; the caller loops because intervals of different sets may
     * chain. */
    for (size_t k = 0; k < it->nsub; k++) {
        const iset *s = it->sub[k];
        size_t i = iset_lower(s, x);
        if (i < s->n && s->v[i].lo <= x) {
            *end = s->v[i].hi;
            return true;
        }
    }
    return false;
}

/* The first value >= x that some subtracted set holds (UINT64_MAX: none). */
static uint64_t next_covered(const diff_iter *it, uint64_t x)
{
    uint64_t best = UINT64_MAX;
    for (size_t k = 0; k < it->nsub; k++) {
        const iset *s = it->sub[k];
        size_t i = iset_lower(s, x);
        if (i < s->n) {
            uint64_t c = s->v[i].lo > x ? s->v[i].lo : x;
            if (c < best)
                best = c;
        }
    }
    return best;
}

/* Next maximal run of a minus the union of sub[], in increasing order. */
static bool diff_next(diff_iter *it, uint64_t *lo, uint64_t *hi)
{
    while (it->ai < it->a->n) {
        const ivl *r = &it->a->v[it->ai];
        if (!it->started) {
            it->cur = r->lo;
            it->started = true;
        }
        uint64_t x = it->cur, end;
        while (x <= r->hi && covered_until(it, x, &end)) {
            if (end >= r->hi) {
                x = r->hi;
                goto next_interval;
            }
            x = end + 1;
        }
        if (x > r->hi)
            goto next_interval;
        uint64_t nc = next_covered(it, x);
        uint64_t stop = nc == UINT64_MAX || nc > r->hi ? r->hi : nc - 1;
        *lo = x;
        *hi = stop;
        if (stop == r->hi) {
            it->ai++;
            it->started = false;
        } else {
            it->cur = stop + 1;
        }
        return true;
    next_interval:
        it->ai++;
        it->started = false;
    }
    return false;
}

/* ---- small sorted u64-keyed arrays ---------------------------------------- */

/* Find the element with `key` (the first u64 of each element). */
static void *kv_find(void *base, size_t n, size_t sz, uint64_t key, size_t *pos)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        uint64_t k;
        memcpy(&k, (char *)base + m * sz, sizeof k);
        if (k < key)
            a = m + 1;
        else
            b = m;
    }
    if (pos)
        *pos = a;
    if (a < n) {
        uint64_t k;
        memcpy(&k, (char *)base + a * sz, sizeof k);
        if (k == key)
            return (char *)base + a * sz;
    }
    return NULL;
}

/* Find or insert (zeroed, key set). NULL on out of memory. The returned
 * pointer is valid until the next insertion. */
static void *kv_get(void **base, size_t *n, size_t *cap, size_t sz, uint64_t key)
{
    size_t pos;
    void *e = kv_find(*base, *n, sz, key, &pos);
    if (e)
        return e;
    if (sim_grow(base, cap, *n + 1, sz, 4))
        return NULL;
    char *b = *base;
    memmove(b + (pos + 1) * sz, b + pos * sz, (*n - pos) * sz);
    memset(b + pos * sz, 0, sz);
    memcpy(b + pos * sz, &key, sizeof key);
    (*n)++;
    return b + pos * sz;
}

/* ---- application identity -> sequence maps -------------------------------- */

/* A run of application identities lo..hi mapped to sequences seq0.. in
 * step (an in-order stream stays one run). */
typedef struct idrun {
    uint64_t lo, hi, seq0;
} idrun;

typedef struct idmap {
    idrun *v;
    size_t n, cap;
} idmap;

/* Identity of message k of workload w (w < 2^24, k < 2^40). */
#define APP_W_SHIFT 40
#define APP_K_MASK  ((UINT64_C(1) << APP_W_SHIFT) - 1)

static bool app_key(const sim_checker_app_msg *a, uint64_t *key)
{
    if (!a || !a->valid || a->workload >= (1u << 24) || a->index > APP_K_MASK)
        return false;
    *key = ((uint64_t)a->workload << APP_W_SHIFT) | a->index;
    return true;
}

static void idmap_free(idmap *m)
{
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* Index of the first run with hi >= id (n if none). */
static size_t idmap_lower(const idmap *m, uint64_t id)
{
    size_t a = 0, b = m->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (m->v[mid].hi < id)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

/* The sequence `id` maps to: true and *seq, or false. */
static bool idmap_get(const idmap *m, uint64_t id, uint64_t *seq)
{
    size_t i = idmap_lower(m, id);
    if (i == m->n || m->v[i].lo > id)
        return false;
    *seq = m->v[i].seq0 + (id - m->v[i].lo);
    return true;
}

/* Map id (absent) to seq. */
static int idmap_put(idmap *m, uint64_t id, uint64_t seq)
{
    size_t i = idmap_lower(m, id);
    if (i > 0) {
        idrun *p = &m->v[i - 1];
        if (p->hi + 1 == id && p->seq0 + (p->hi - p->lo) + 1 == seq) {
            p->hi = id;
            return 0;
        }
    }
    if (i < m->n && id + 1 == m->v[i].lo && seq + 1 == m->v[i].seq0) {
        m->v[i].lo = id;
        m->v[i].seq0 = seq;
        return 0;
    }
    if (sim_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v, 4))
        return FL_E_NOMEM;
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
    m->v[i] = (idrun){id, id, seq};
    m->n++;
    return 0;
}

/* Per publisher identity maps, sorted by publisher. */
typedef struct pubid {
    uint64_t pub; /* key */
    idmap ids;
} pubid;

typedef struct pubids {
    pubid *v;
    size_t n, cap;
} pubids;

static void pubids_free(pubids *p)
{
    for (size_t i = 0; i < p->n; i++)
        idmap_free(&p->v[i].ids);
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

/* ---- state ---------------------------------------------------------------- */

typedef enum ev_kind {
    EV_PUBLISH,
    EV_DISCARD,
    EV_FAILED_WRITE,
    EV_DELIVERY,
    EV_DUP_FILTERED,
    EV_BM_DISCARD,
    EV_GAP,
    EV_COMPLETED,
    EV_SUB_END,
    EV_ERROR,
    EV_CRASH,
    EV_POWER_LOSS,
    EV_RESTART,
    EV_LOGON,
    EV_FAULT_START,
    EV_FAULT_HEAL,
    EV_FAULT_INSTANT,
    EV_UNPERSISTED,
    EV_STORE_LOST,
} ev_kind;

typedef struct ev_rec {
    uint64_t gseq; /* global event number, for merging rings */
    uint64_t t_us;
    ev_kind kind;
    int32_t client; /* -1: none */
    int32_t sub;    /* -1: none */
    int32_t topic;  /* -1: none */
    uint64_t pub, seq, aux;
    int64_t ts;
    int code;
    char text[72];
} ev_rec;

typedef struct ring {
    ev_rec e[RING];
    size_t n, head; /* head: next slot */
} ring;

typedef struct time_pt {
    uint64_t seq, t_us;
} time_pt;

typedef struct topic_max {
    uint64_t topic; /* key: topic index */
    uint64_t max_seq;
} topic_max;

/* Sequences lo..hi lost from a publish store at the crash (or power loss)
 * at t_us: the store reopened without them. */
typedef struct store_loss {
    uint64_t lo, hi, t_us;
    bool power_loss;
} store_loss;

typedef struct chk_client {
    char *name;
    uint64_t pub;
    sim_store_type pstore, bstore;
    sim_sync_policy psync, bsync;
    bool any_accepted;
    uint64_t max_accepted;
    uint64_t max_discard;
    iset accepted_j;    /* accepted on journaled topics */
    iset not_entitled;  /* refused by the broker, app told */
    iset lost;          /* lost from the publish store at a crash */
    store_loss *losses; /* the same with when and how, ascending, disjoint */
    size_t nlosses, caplosses;
    bool has_crash; /* the last crash: dates a loss found at the reopen */
    bool crash_power;
    uint64_t crash_t;
    topic_max *tmax; /* per topic: highest accepted seq (liveness) */
    size_t ntmax, captmax;
    time_pt *tidx; /* publish-time index (thinned) */
    size_t ntidx;
    uint64_t tidx_stride, tidx_count;
    bool has_unpersisted;
    uint64_t unpersisted, unpersisted_t;
    ring recent, notable;
    /* liveness */
    bool lv_has, lv_met;
    uint64_t lv_target, lv_met_t;
} chk_client;

typedef struct subpub {
    uint64_t pub; /* key */
    /* delivered: ever / this incarnation / this session (since the last
     * logon of this incarnation); discarded: this incarnation / into a
     * store that kept it across a crash */
    iset all, cur, sess, disc_cur, disc_durable;
    idmap ids; /* application identity -> the sequence it was delivered as */
    bool has_last;
    uint64_t last_seq;
    bool lv_has, lv_met;
    uint64_t lv_target, lv_met_t;
} subpub;

typedef struct gap {
    uint64_t t_us;
    int64_t lo, hi; /* inclusive journal timestamps */
    bool pending;   /* hi not known yet */
} gap;

typedef struct chk_sub {
    bool subscribed; /* the client subscribed it at least once */
    uint64_t first_sub_t;
    size_t client;
    char *sub_id;
    size_t topic;
    sim_chk_sub_kind kind;
    fl_bm_selector sel;
    fl_bm_list begin_lo, begin_hi; /* begin points with NOW/RECENT resolved */
    uint64_t start_us;
    bool ended, completed;
    uint64_t end_t, completed_t;
    bool has_max_ts;
    int64_t max_ts; /* newest delivered timestamp */
    gap *gaps;
    size_t ngaps, capgaps;
    subpub *pubs;
    size_t npubs, cappubs;
    uint64_t range_journal_in; /* journaled messages inside the range */
} chk_sub;

typedef struct jpub {
    uint64_t pub; /* key */
    iset seqs;
} jpub;

typedef struct pubsets {
    jpub *v;
    size_t n, cap;
} pubsets;

typedef struct journal {
    char *broker;
    pubsets seqs;
} journal;

typedef struct err_rec {
    uint64_t t_us;
    int32_t client;
    char name[40];
} err_rec;

typedef struct fault_rec {
    uint64_t id; /* key */
    bool open;
    uint64_t start_t;
    char kind[24];
    char target[40];
} fault_rec;

typedef struct viol {
    sim_checker_violation pub;
    char *client, *sub_id, *topic, *bookmark, *text, *ctx_store;
    char *ctx[MAX_CONTEXT];
    size_t nctx;
    size_t need_after;
    int32_t ctx_client;
} viol;

/* A jump of the UTC clock (advance_clock) at virtual time t_us; cum_us is
 * the total of every jump up to and including this one. */
typedef struct clock_jump {
    uint64_t t_us, cum_us;
} clock_jump;

/* A message retention removed, kept until the final pass. */
typedef struct xmsg {
    uint64_t pub, seq;
    int64_t ts;
    int32_t topic;
    bool has_expired_at;
    uint64_t expired_us;
    sim_checker_app_msg app;
} xmsg;

struct sim_checker {
    uint32_t run_mask, pass_mask, fire_mask;
    bool tracks_subscribes; /* sim_checker_sub_subscribed was called */
    xmsg *xmsgs;
    size_t nxmsgs, capxmsgs;
    int64_t start_unix_us;
    clock_jump *jumps; /* in time order */
    size_t njumps, capjumps;
    uint64_t recovery_us, grace_us;
    size_t ctx_max, ctx_before, max_viol;
    chk_client *clients; /* sorted by name */
    size_t nclients;
    chk_sub *subs; /* config order */
    size_t nsubs;
    char **topics; /* interned, insertion order */
    bool *topic_journaled;
    size_t ntopics, captopics;
    journal *journals;
    size_t njournals, capjournals;
    pubsets uni, expired;
    pubids uni_ids; /* identity -> sequence over the union of the journals */
    err_rec *errs;
    size_t nerrs, caperrs;
    uint64_t errs_dropped;
    fault_rec *faults;
    size_t nfaults, capfaults;
    ring global;
    uint64_t gseq;
    bool has_lh;
    uint64_t lh;
    /* expectations */
    sim_checker_expect_error *xerr;
    size_t nxerr;
    sim_checker_expect_delivered *xdel;
    size_t nxdel;
    /* results */
    viol **viols;
    size_t nviols, capviols;
    size_t *pending; /* indices of violations still collecting context */
    size_t npending, cappending;
    uint64_t fired[SIM_CHK_COUNT];
    uint64_t stored[SIM_CHK_COUNT];
    bool applicable[SIM_CHK_COUNT];
    char detail[SIM_CHK_COUNT][160];
    sim_chk_verdict verdict[SIM_CHK_COUNT];
    char *failure_text;
    bool feeding, finished;
    int oom; /* sticky out-of-memory while recording violations */
    sim_checker_figures fig;
    uint64_t t_end;
};

static const char *const check_names[SIM_CHK_COUNT] = {
    "no_loss",       "ack_honesty", "no_duplicates",    "order",  "range_exact",
    "gaps_reported", "liveness",    "unpersisted_zero", "errors", "delivered",
};

const char *sim_checker_check_name(int i)
{
    return i >= 0 && i < SIM_CHK_COUNT ? check_names[i] : "?";
}

const char *sim_chk_verdict_name(sim_chk_verdict v)
{
    static const char *const names[] = {
        "skipped",
        "pass",
        "not_applicable",
        "fail",
        "expected_violation_fired",
        "expected_violation_missing",
    };
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

static bool check_runs(const sim_checker *chk, int i)
{
    if (i >= SIM_CHK_ERRORS)
        return true;
    return (chk->run_mask >> i) & 1u;
}

/* ---- lookups -------------------------------------------------------------- */

static int cmp_client_name(const void *key, const void *elem)
{
    return strcmp(key, ((const chk_client *)elem)->name);
}

static int32_t client_index(const sim_checker *chk, const char *name)
{
    if (!name)
        return -1;
    const chk_client *c =
        bsearch(name, chk->clients, chk->nclients, sizeof *chk->clients, cmp_client_name);
    return c ? (int32_t)(c - chk->clients) : -1;
}

static int32_t sub_index(const sim_checker *chk, int32_t client, const char *sub_id)
{
    if (client < 0 || !sub_id)
        return -1;
    for (size_t i = 0; i < chk->nsubs; i++)
        if (chk->subs[i].client == (size_t)client && strcmp(chk->subs[i].sub_id, sub_id) == 0)
            return (int32_t)i;
    return -1;
}

static int32_t topic_find(const sim_checker *chk, const char *topic)
{
    if (!topic)
        return -1;
    for (size_t i = 0; i < chk->ntopics; i++)
        if (strcmp(chk->topics[i], topic) == 0)
            return (int32_t)i;
    return -1;
}

/* Index of topic, interning it (not journaled) when new; -1 on NULL, -2 on
 * out of memory. */
static int32_t topic_intern(sim_checker *chk, const char *topic, bool journaled)
{
    if (!topic)
        return -1;
    int32_t i = topic_find(chk, topic);
    if (i >= 0) {
        chk->topic_journaled[i] |= journaled;
        return i;
    }
    if (chk->ntopics == chk->captopics) {
        size_t nc = chk->captopics ? chk->captopics * 2 : 8;
        char **t = realloc(chk->topics, nc * sizeof *t);
        if (!t)
            return -2;
        chk->topics = t;
        bool *j = realloc(chk->topic_journaled, nc * sizeof *j);
        if (!j)
            return -2;
        chk->topic_journaled = j;
        chk->captopics = nc;
    }
    char *dup = strdup(topic);
    if (!dup)
        return -2;
    chk->topics[chk->ntopics] = dup;
    chk->topic_journaled[chk->ntopics] = journaled;
    return (int32_t)chk->ntopics++;
}

static iset *pubsets_get(pubsets *ps, uint64_t pub)
{
    jpub *j = kv_get((void **)&ps->v, &ps->n, &ps->cap, sizeof *ps->v, pub);
    return j ? &j->seqs : NULL;
}

static const iset *pubsets_find(const pubsets *ps, uint64_t pub)
{
    const jpub *j = kv_find(ps->v, ps->n, sizeof *ps->v, pub, NULL);
    return j ? &j->seqs : NULL;
}

static void pubsets_free(pubsets *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        iset_free(&ps->v[i].seqs);
    free(ps->v);
    ps->v = NULL;
    ps->n = ps->cap = 0;
}

static subpub *sub_pub(chk_sub *s, uint64_t pub)
{
    return kv_get((void **)&s->pubs, &s->npubs, &s->cappubs, sizeof *s->pubs, pub);
}

/* The broker's UTC clock at virtual time t: start + t + every clock jump
 * made by then. */
static int64_t utc_of(const sim_checker *chk, uint64_t t_us)
{
    uint64_t cum = 0;
    for (size_t i = chk->njumps; i-- > 0;)
        if (chk->jumps[i].t_us <= t_us) {
            cum = chk->jumps[i].cum_us;
            break;
        }
    return chk->start_unix_us + (int64_t)t_us + (int64_t)cum;
}

/* The virtual time at which the broker clock read `ts` (the inverse of
 * utc_of). A timestamp inside the UTC span a jump skipped maps to the
 * jump's time. */
static uint64_t utc_to_virtual(const sim_checker *chk, int64_t ts)
{
    uint64_t next_t = UINT64_MAX; /* time of the jump that ends the segment */
    for (size_t i = chk->njumps + 1; i-- > 0;) {
        uint64_t t0 = i ? chk->jumps[i - 1].t_us : 0;
        uint64_t cum = i ? chk->jumps[i - 1].cum_us : 0;
        int64_t seg0 = chk->start_unix_us + (int64_t)t0 + (int64_t)cum;
        if (ts >= seg0 || i == 0) {
            int64_t v = ts - chk->start_unix_us - (int64_t)cum;
            uint64_t vu = v > 0 ? (uint64_t)v : 0;
            return vu < next_t ? vu : next_t;
        }
        next_t = t0;
    }
    return 0;
}

/* The checked client whose publisher id is `pub` (-1: none). */
static int32_t client_of_pub(const sim_checker *chk, uint64_t pub)
{
    for (size_t i = 0; i < chk->nclients; i++)
        if (chk->clients[i].pub == pub)
            return (int32_t)i;
    return -1;
}

/* "pub-1/0/902": the application message `key` of publisher `pub`. */
static void fmt_app(const sim_checker *chk, uint64_t pub, uint64_t key, char *buf, size_t cap)
{
    int32_t ci = client_of_pub(chk, pub);
    if (ci >= 0)
        snprintf(buf, cap, "%s/%" PRIu64 "/%" PRIu64, chk->clients[ci].name, key >> APP_W_SHIFT,
                 key & APP_K_MASK);
    else
        snprintf(buf, cap, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, pub, key >> APP_W_SHIFT,
                 key & APP_K_MASK);
}

/* ---- event rings and formatting ------------------------------------------- */

static void ring_push(ring *r, const ev_rec *e)
{
    r->e[r->head] = *e;
    r->head = (r->head + 1) % RING;
    if (r->n < RING)
        r->n++;
}

/* The k-th newest element (0 = newest). */
static const ev_rec *ring_get(const ring *r, size_t k)
{
    return &r->e[(r->head + RING - 1 - k) % RING];
}

static bool ev_notable(ev_kind k)
{
    switch (k) {
    case EV_FAILED_WRITE:
    case EV_GAP:
    case EV_COMPLETED:
    case EV_SUB_END:
    case EV_ERROR:
    case EV_CRASH:
    case EV_POWER_LOSS:
    case EV_RESTART:
    case EV_UNPERSISTED:
    case EV_DISCARD:
    case EV_STORE_LOST:
        return true;
    default:
        return false;
    }
}

static int fmt_time(char *buf, size_t cap, uint64_t t_us)
{
    return snprintf(buf, cap, "t=%" PRIu64 ".%06" PRIu64 "s", t_us / 1000000u, t_us % 1000000u);
}

static void fmt_bookmark(char *buf, size_t cap, uint64_t pub, uint64_t seq, int64_t ts)
{
    fl_bookmark bm = fl_bookmark_exact(pub, seq, ts);
    if (fl_bookmark_format(&bm, buf, cap) < 0)
        snprintf(buf, cap, "%" PRIu64 "|%" PRIu64 "|", pub, seq);
}

static const char *ev_client_name(const sim_checker *chk, const ev_rec *e)
{
    return e->client >= 0 ? chk->clients[e->client].name : "-";
}

static const char *ev_sub_name(const sim_checker *chk, const ev_rec *e)
{
    return e->sub >= 0 ? chk->subs[e->sub].sub_id : "-";
}

static const char *ev_topic_name(const sim_checker *chk, const ev_rec *e)
{
    return e->topic >= 0 ? chk->topics[e->topic] : "-";
}

static void ev_format(const sim_checker *chk, const ev_rec *e, char *buf, size_t cap)
{
    char t[40], bm[FL_BOOKMARK_MAX_TEXT];
    fmt_time(t, sizeof t, e->t_us);
    const char *c = ev_client_name(chk, e);
    switch (e->kind) {
    case EV_PUBLISH:
        if (e->code == 0 && e->aux) {
            char app[96];
            fmt_app(chk, e->pub, e->aux - 1, app, sizeof app);
            snprintf(buf, cap, "%s %s publish %s seq=%" PRIu64 " accepted (app message %s)", t, c,
                     ev_topic_name(chk, e), e->seq, app);
        } else if (e->code == 0)
            snprintf(buf, cap, "%s %s publish %s seq=%" PRIu64 " accepted", t, c,
                     ev_topic_name(chk, e), e->seq);
        else
            snprintf(buf, cap, "%s %s publish %s refused %s", t, c, ev_topic_name(chk, e),
                     fl_err_name(e->code));
        break;
    case EV_DISCARD:
        snprintf(buf, cap, "%s %s publish store discard up to seq=%" PRIu64 " (persisted ack)", t,
                 c, e->seq);
        break;
    case EV_FAILED_WRITE:
        snprintf(buf, cap, "%s %s failed write seq=%" PRIu64 " %s", t, c, e->seq,
                 fl_err_name(e->code));
        break;
    case EV_DELIVERY:
    case EV_DUP_FILTERED:
        fmt_bookmark(bm, sizeof bm, e->pub, e->seq, e->ts);
        snprintf(buf, cap, "%s %s/%s %s %s", t, c, ev_sub_name(chk, e),
                 e->kind == EV_DELIVERY ? "delivery" : "duplicate filtered", bm);
        break;
    case EV_BM_DISCARD:
        snprintf(buf, cap, "%s %s/%s discard %" PRIu64 "|%" PRIu64 "|", t, c, ev_sub_name(chk, e),
                 e->pub, e->seq);
        break;
    case EV_GAP:
        snprintf(buf, cap, "%s %s/%s gap reported", t, c, ev_sub_name(chk, e));
        break;
    case EV_COMPLETED:
        snprintf(buf, cap, "%s %s/%s completed", t, c, ev_sub_name(chk, e));
        break;
    case EV_SUB_END:
        snprintf(buf, cap, "%s %s/%s subscription ended", t, c, ev_sub_name(chk, e));
        break;
    case EV_ERROR:
        snprintf(buf, cap, "%s %s error %s", t, c, e->text);
        break;
    case EV_CRASH:
        snprintf(buf, cap, "%s %s crash", t, c);
        break;
    case EV_POWER_LOSS:
        snprintf(buf, cap, "%s %s power loss", t, c);
        break;
    case EV_RESTART:
        snprintf(buf, cap, "%s %s restart", t, c);
        break;
    case EV_LOGON:
        snprintf(buf, cap, "%s %s logged on", t, c);
        break;
    case EV_FAULT_START:
    case EV_FAULT_HEAL:
    case EV_FAULT_INSTANT:
        snprintf(buf, cap, "%s fault #%" PRIu64 " %s %s", t, e->aux, e->text,
                 e->kind == EV_FAULT_START  ? "starts"
                 : e->kind == EV_FAULT_HEAL ? "heals"
                                            : "(instant)");
        break;
    case EV_UNPERSISTED:
        snprintf(buf, cap, "%s %s unpersisted=%" PRIu64 " at end", t, c, e->aux);
        break;
    case EV_STORE_LOST:
        snprintf(buf, cap,
                 "%s %s publish store reopened without seq=%" PRIu64 "..%" PRIu64
                 " (lost at the %s)",
                 t, c, e->seq, e->aux, e->code ? "power loss" : "crash");
        break;
    }
}

/* ---- violations ----------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

static int viol_add_ctx(viol *v, const char *line)
{
    if (v->nctx >= MAX_CONTEXT)
        return 0;
    char *d = strdup(line);
    if (!d)
        return FL_E_NOMEM;
    v->ctx[v->nctx++] = d;
    v->pub.context = (const char *const *)v->ctx;
    v->pub.ncontext = v->nctx;
    return 0;
}

static void viol_free(viol *v)
{
    if (!v)
        return;
    free(v->client);
    free(v->sub_id);
    free(v->topic);
    free(v->bookmark);
    free(v->text);
    for (size_t i = 0; i < v->nctx; i++)
        free(v->ctx[i]);
    free(v);
}

/* Collect candidate events: the client's rings and the global ring, merged
 * by global sequence, without duplicates. Returns the count (<= 3 * RING). */
static size_t gather(const sim_checker *chk, int32_t client, bool notable_only, const ev_rec **out)
{
    size_t n = 0;
    const ring *rs[3] = {NULL, NULL, &chk->global};
    if (client >= 0) {
        rs[0] = &chk->clients[client].notable;
        rs[1] = notable_only ? NULL : &chk->clients[client].recent;
    }
    for (size_t r = 0; r < 3; r++) {
        if (!rs[r])
            continue;
        for (size_t k = 0; k < rs[r]->n; k++) {
            const ev_rec *e = ring_get(rs[r], k);
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = out[i]->gseq == e->gseq;
            if (!dup)
                out[n++] = e;
        }
    }
    /* insertion sort by gseq (n <= 48) */
    for (size_t i = 1; i < n; i++) {
        const ev_rec *x = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1]->gseq > x->gseq) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = x;
    }
    return n;
}

/* Context for an online violation: the last ctx_before events (ending
 * with the current one); the rest is collected as the events come. */
static int ctx_online(sim_checker *chk, viol *v, int32_t client)
{
    const ev_rec *cand[3 * RING];
    size_t n = gather(chk, client, false, cand);
    size_t from = n > chk->ctx_before ? n - chk->ctx_before : 0;
    char line[256];
    for (size_t i = from; i < n; i++) {
        ev_format(chk, cand[i], line, sizeof line);
        if (viol_add_ctx(v, line))
            return FL_E_NOMEM;
    }
    v->need_after = chk->ctx_max > v->nctx ? chk->ctx_max - v->nctx : 0;
    v->ctx_client = client;
    return 0;
}

/* Context for a violation of the final pass: the notable events closest to
 * time `t` (half at or before it, the rest after), oldest first. */
static int ctx_dated(sim_checker *chk, viol *v, int32_t client, uint64_t t)
{
    const ev_rec *cand[3 * RING];
    size_t n = gather(chk, client, true, cand);
    size_t split = 0; /* first event after t */
    while (split < n && cand[split]->t_us <= t)
        split++;
    size_t before = chk->ctx_max / 2 + chk->ctx_max % 2;
    size_t after = n - split;
    if (after > chk->ctx_max - (split < before ? split : before))
        after = chk->ctx_max - (split < before ? split : before);
    size_t nb = chk->ctx_max - after;
    size_t from = split > nb ? split - nb : 0;
    char line[256];
    for (size_t i = from; i < split + after; i++) {
        ev_format(chk, cand[i], line, sizeof line);
        if (viol_add_ctx(v, line))
            return FL_E_NOMEM;
    }
    return 0;
}

typedef struct viol_spec {
    int check;
    int32_t client;
    int32_t sub;
    int32_t topic;
    bool has_message;
    uint64_t pub, seq;
    int64_t ts;
    uint64_t t_us;
    bool online; /* context from the rings now + after; else dated at t_us */
} viol_spec;

/* Record one violation of spec->check with text fmt. Counted always; stored
 * while under the per-check cap. Out of memory is sticky (chk->oom). */
static void violate(sim_checker *chk, const viol_spec *sp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violate(sim_checker *chk, const viol_spec *sp, const char *fmt, ...)
{
    int c = sp->check;
    if (!check_runs(chk, c))
        return;
    chk->fired[c]++;
    if (chk->stored[c] >= chk->max_viol)
        return;
    viol *v = calloc(1, sizeof *v);
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char bm[FL_BOOKMARK_MAX_TEXT] = "";
    if (sp->has_message)
        fmt_bookmark(bm, sizeof bm, sp->pub, sp->seq, sp->ts);
    if (!v)
        goto oom;
    v->client = xstrdup(sp->client >= 0 ? chk->clients[sp->client].name : "");
    v->sub_id = xstrdup(sp->sub >= 0 ? chk->subs[sp->sub].sub_id : "");
    v->topic = xstrdup(sp->topic >= 0 ? chk->topics[sp->topic] : "");
    v->bookmark = xstrdup(bm);
    v->text = xstrdup(text);
    if (!v->client || !v->sub_id || !v->topic || !v->bookmark || !v->text)
        goto oom;
    v->pub = (sim_checker_violation){
        .check = c,
        .client = v->client,
        .sub_id = v->sub_id,
        .topic = v->topic,
        .has_message = sp->has_message,
        .publisher = sp->pub,
        .sequence = sp->seq,
        .bookmark = v->bookmark,
        .t_us = sp->t_us,
        .text = v->text,
        .expected = (chk->fire_mask >> c) & 1u,
        .context = (const char *const *)v->ctx,
        .ncontext = 0,
    };
    int rc = sp->online ? ctx_online(chk, v, sp->client) : ctx_dated(chk, v, sp->client, sp->t_us);
    if (rc)
        goto oom;
    if (sim_grow((void **)&chk->viols, &chk->capviols, chk->nviols + 1, sizeof *chk->viols, 16))
        goto oom;
    if (v->need_after > 0) {
        if (sim_grow((void **)&chk->pending, &chk->cappending, chk->npending + 1,
                     sizeof *chk->pending, 16))
            goto oom;
        chk->pending[chk->npending++] = chk->nviols;
    }
    chk->viols[chk->nviols++] = v;
    chk->stored[c]++;
    return;
oom:
    viol_free(v);
    chk->oom = FL_E_NOMEM;
}

/* Feed a new event to the violations still collecting "after" context. */
static void pending_feed(sim_checker *chk, const ev_rec *e)
{
    if (chk->npending == 0)
        return;
    char line[256];
    bool formatted = false;
    size_t keep = 0;
    for (size_t i = 0; i < chk->npending; i++) {
        viol *v = chk->viols[chk->pending[i]];
        if (e->client < 0 || e->client == v->ctx_client) {
            if (!formatted) {
                ev_format(chk, e, line, sizeof line);
                formatted = true;
            }
            if (viol_add_ctx(v, line))
                chk->oom = FL_E_NOMEM;
            v->need_after--;
        }
        if (v->need_after > 0)
            chk->pending[keep++] = chk->pending[i];
    }
    chk->npending = keep;
}

/* Record an event in the rings (the caller then runs its checks). */
static void record(sim_checker *chk, ev_rec *e)
{
    e->gseq = chk->gseq++;
    pending_feed(chk, e);
    if (e->client >= 0) {
        chk_client *c = &chk->clients[e->client];
        ring_push(&c->recent, e);
        if (ev_notable(e->kind))
            ring_push(&c->notable, e);
    } else {
        ring_push(&chk->global, e);
    }
}

static ev_rec ev_make(ev_kind kind, uint64_t t_us, int32_t client)
{
    ev_rec e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.t_us = t_us;
    e.client = client;
    e.sub = -1;
    e.topic = -1;
    e.ts = FL_BM_NO_TS;
    return e;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- construction --------------------------------------------------------- */

static int cmp_clients(const void *a, const void *b)
{
    return strcmp(((const chk_client *)a)->name, ((const chk_client *)b)->name);
}

/* Begin points with RECENT -> EPOCH and NOW -> the timestamp `now_ts`. */
static int resolve_begin(const fl_bm_list *src, int64_t now_ts, fl_bm_list *dst)
{
    fl_bm_list_init(dst);
    for (size_t i = 0; i < src->count; i++) {
        fl_bookmark p = src->items[i];
        if (p.kind == FL_BM_RECENT)
            p = fl_bookmark_epoch();
        else if (p.kind == FL_BM_NOW)
            p = fl_bookmark_timestamp(now_ts);
        int rc = fl_bm_list_append(dst, &p);
        if (rc)
            return rc;
    }
    return 0;
}

/* The begin points of a bookmark / range subscription, NOW resolved to the
 * broker clock at its start time (again after a clock jump). */
static int sub_resolve_begin(const sim_checker *chk, chk_sub *s)
{
    if (s->kind == SIM_CHK_SUB_LIVE)
        return 0;
    const fl_bm_list *b = s->kind == SIM_CHK_SUB_RANGE ? &s->sel.begin : &s->sel.points;
    int64_t now = utc_of(chk, s->start_us);
    fl_bm_list_free(&s->begin_lo);
    fl_bm_list_free(&s->begin_hi);
    int rc = resolve_begin(b, now, &s->begin_lo);
    if (!rc)
        rc = resolve_begin(b, now + (int64_t)chk->grace_us, &s->begin_hi);
    return rc;
}

static int sub_init(sim_checker *chk, chk_sub *s, const sim_checker_sub_cfg *sc, char *err,
                    size_t errcap)
{
    fl_bm_selector_init(&s->sel);
    fl_bm_list_init(&s->begin_lo);
    fl_bm_list_init(&s->begin_hi);
    s->sub_id = strdup(sc->sub_id);
    if (!s->sub_id)
        return FL_E_NOMEM;
    int32_t t = topic_intern(chk, sc->topic, false);
    if (t == -2)
        return FL_E_NOMEM;
    if (t < 0) {
        sim_set_err(err, errcap, "subscription %s/%s: no topic", sc->client, sc->sub_id);
        return FL_E_INVAL;
    }
    s->topic = (size_t)t;
    s->start_us = sc->start_us;
    if (!sc->bookmark) {
        s->kind = SIM_CHK_SUB_LIVE;
        return 0;
    }
    fl_bm_error be;
    int rc = fl_bm_selector_parse(sc->bookmark, strlen(sc->bookmark), &s->sel, &be);
    if (rc) {
        sim_set_err(err, errcap, "subscription %s/%s: bookmark \"%s\": %s", sc->client, sc->sub_id,
                    sc->bookmark, be.text);
        return rc;
    }
    s->kind = s->sel.kind == FL_BM_SEL_RANGE ? SIM_CHK_SUB_RANGE : SIM_CHK_SUB_BOOKMARK;
    return sub_resolve_begin(chk, s);
}

static int check_config(const sim_checker_config *cfg, char *err, size_t errcap)
{
    if (!cfg || cfg->version != SIM_CHECKER_CONFIG_VERSION) {
        sim_set_err(err, errcap, "checker config: missing or unknown version");
        return FL_E_INVAL;
    }
    if (cfg->checks & cfg->violations) {
        sim_set_err(err, errcap, "checker config: a check cannot both pass and fire");
        return FL_E_INVAL;
    }
    if ((cfg->nclients && !cfg->clients) || (cfg->nsubs && !cfg->subs) ||
        (cfg->njournaled_topics && !cfg->journaled_topics) || (cfg->nerrors && !cfg->errors) ||
        (cfg->ndelivered && !cfg->delivered)) {
        sim_set_err(err, errcap, "checker config: a count without its array");
        return FL_E_INVAL;
    }
    for (size_t i = 0; i < cfg->nclients; i++)
        if (!cfg->clients[i].name) {
            sim_set_err(err, errcap, "checker config: client %zu has no name", i);
            return FL_E_INVAL;
        }
    for (size_t i = 0; i < cfg->nsubs; i++)
        if (!cfg->subs[i].client || !cfg->subs[i].sub_id || !cfg->subs[i].topic) {
            sim_set_err(err, errcap, "checker config: subscription %zu incomplete", i);
            return FL_E_INVAL;
        }
    for (size_t i = 0; i < cfg->nerrors; i++)
        if (!cfg->errors[i].name) {
            sim_set_err(err, errcap, "checker config: expected error %zu has no name", i);
            return FL_E_INVAL;
        }
    return 0;
}

static int init_clients(sim_checker *chk, const sim_checker_config *cfg, char *err, size_t errcap)
{
    chk->clients = calloc(cfg->nclients ? cfg->nclients : 1, sizeof *chk->clients);
    if (!chk->clients)
        return FL_E_NOMEM;
    for (size_t i = 0; i < cfg->nclients; i++) {
        const sim_checker_client_cfg *cc = &cfg->clients[i];
        chk_client *c = &chk->clients[i];
        c->name = strdup(cc->name);
        if (!c->name)
            return FL_E_NOMEM;
        chk->nclients++;
        c->pub = cc->publisher_id ? cc->publisher_id : fl_publisher_id(cc->name, strlen(cc->name));
        c->pstore = cc->publish_store;
        c->psync = cc->publish_sync;
        c->bstore = cc->bookmark_store;
        c->bsync = cc->bookmark_sync;
        c->tidx_stride = 1;
    }
    qsort(chk->clients, chk->nclients, sizeof *chk->clients, cmp_clients);
    for (size_t i = 1; i < chk->nclients; i++)
        if (strcmp(chk->clients[i - 1].name, chk->clients[i].name) == 0) {
            sim_set_err(err, errcap, "checker config: client \"%s\" twice", chk->clients[i].name);
            return FL_E_INVAL;
        }
    return 0;
}

static int init_subs(sim_checker *chk, const sim_checker_config *cfg, char *err, size_t errcap)
{
    chk->subs = calloc(cfg->nsubs ? cfg->nsubs : 1, sizeof *chk->subs);
    if (!chk->subs)
        return FL_E_NOMEM;
    for (size_t i = 0; i < cfg->nsubs; i++) {
        const sim_checker_sub_cfg *sc = &cfg->subs[i];
        int32_t ci = client_index(chk, sc->client);
        if (ci < 0) {
            sim_set_err(err, errcap, "subscription %s/%s: unknown client", sc->client, sc->sub_id);
            return FL_E_INVAL;
        }
        if (sub_index(chk, ci, sc->sub_id) >= 0) {
            sim_set_err(err, errcap, "subscription %s/%s twice", sc->client, sc->sub_id);
            return FL_E_INVAL;
        }
        chk_sub *s = &chk->subs[chk->nsubs++];
        s->client = (size_t)ci;
        int rc = sub_init(chk, s, sc, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

static int init_expect(sim_checker *chk, const sim_checker_config *cfg)
{
    chk->xerr = calloc(cfg->nerrors ? cfg->nerrors : 1, sizeof *chk->xerr);
    chk->xdel = calloc(cfg->ndelivered ? cfg->ndelivered : 1, sizeof *chk->xdel);
    if (!chk->xerr || !chk->xdel)
        return FL_E_NOMEM;
    for (size_t i = 0; i < cfg->nerrors; i++) {
        sim_checker_expect_error *x = &chk->xerr[chk->nxerr++];
        *x = cfg->errors[i];
        x->name = strdup(cfg->errors[i].name);
        x->client = cfg->errors[i].client ? strdup(cfg->errors[i].client) : NULL;
        if (!x->name || (cfg->errors[i].client && !x->client))
            return FL_E_NOMEM;
    }
    for (size_t i = 0; i < cfg->ndelivered; i++) {
        sim_checker_expect_delivered *x = &chk->xdel[chk->nxdel++];
        *x = cfg->delivered[i];
        x->client = strdup(cfg->delivered[i].client ? cfg->delivered[i].client : "");
        x->sub_id = strdup(cfg->delivered[i].sub_id ? cfg->delivered[i].sub_id : "");
        if (!x->client || !x->sub_id)
            return FL_E_NOMEM;
    }
    return 0;
}

int sim_checker_new(const sim_checker_config *cfg, sim_checker **out, char *err, size_t errcap)
{
    if (!out)
        return FL_E_INVAL;
    *out = NULL;
    int rc = check_config(cfg, err, errcap);
    if (rc)
        return rc;
    sim_checker *chk = calloc(1, sizeof *chk);
    if (!chk)
        return FL_E_NOMEM;
    chk->pass_mask = cfg->checks & SIM_CHECK_ALL;
    chk->fire_mask = cfg->violations & SIM_CHECK_ALL;
    chk->run_mask = chk->pass_mask | chk->fire_mask;
    chk->start_unix_us = cfg->start_unix_us;
    chk->recovery_us = cfg->recovery_us;
    chk->grace_us = cfg->inflight_grace_us;
    chk->ctx_max = cfg->context_events > MAX_CONTEXT ? MAX_CONTEXT : cfg->context_events;
    chk->ctx_before = chk->ctx_max / 2 + 1 < chk->ctx_max ? chk->ctx_max / 2 + 1 : chk->ctx_max;
    chk->max_viol = cfg->max_violations;
    rc = init_clients(chk, cfg, err, errcap);
    for (size_t i = 0; !rc && i < cfg->njournaled_topics; i++)
        if (topic_intern(chk, cfg->journaled_topics[i], true) < 0)
            rc = FL_E_NOMEM;
    if (!rc)
        rc = init_subs(chk, cfg, err, errcap);
    if (!rc)
        rc = init_expect(chk, cfg);
    if (rc) {
        if (rc == FL_E_NOMEM)
            sim_set_err(err, errcap, "out of memory");
        sim_checker_free(chk);
        return rc;
    }
    *out = chk;
    return 0;
}

static void sub_free(chk_sub *s)
{
    free(s->sub_id);
    fl_bm_selector_free(&s->sel);
    fl_bm_list_free(&s->begin_lo);
    fl_bm_list_free(&s->begin_hi);
    free(s->gaps);
    for (size_t i = 0; i < s->npubs; i++) {
        iset_free(&s->pubs[i].all);
        iset_free(&s->pubs[i].cur);
        iset_free(&s->pubs[i].sess);
        iset_free(&s->pubs[i].disc_cur);
        iset_free(&s->pubs[i].disc_durable);
        idmap_free(&s->pubs[i].ids);
    }
    free(s->pubs);
}

void sim_checker_free(sim_checker *chk)
{
    if (!chk)
        return;
    for (size_t i = 0; i < chk->nclients; i++) {
        chk_client *c = &chk->clients[i];
        free(c->name);
        iset_free(&c->accepted_j);
        iset_free(&c->not_entitled);
        iset_free(&c->lost);
        free(c->losses);
        free(c->tmax);
        free(c->tidx);
    }
    free(chk->clients);
    for (size_t i = 0; i < chk->nsubs; i++)
        sub_free(&chk->subs[i]);
    free(chk->subs);
    for (size_t i = 0; i < chk->ntopics; i++)
        free(chk->topics[i]);
    free(chk->topics);
    free(chk->topic_journaled);
    for (size_t i = 0; i < chk->njournals; i++) {
        free(chk->journals[i].broker);
        pubsets_free(&chk->journals[i].seqs);
    }
    free(chk->journals);
    pubsets_free(&chk->uni);
    pubsets_free(&chk->expired);
    pubids_free(&chk->uni_ids);
    free(chk->errs);
    free(chk->faults);
    free(chk->jumps);
    free(chk->xmsgs);
    for (size_t i = 0; i < chk->nxerr; i++) {
        free((char *)chk->xerr[i].name);
        free((char *)chk->xerr[i].client);
    }
    free(chk->xerr);
    for (size_t i = 0; i < chk->nxdel; i++) {
        free((char *)chk->xdel[i].client);
        free((char *)chk->xdel[i].sub_id);
    }
    free(chk->xdel);
    for (size_t i = 0; i < chk->nviols; i++)
        viol_free(chk->viols[i]);
    free(chk->viols);
    free(chk->pending);
    free(chk->failure_text);
    free(chk);
}

/* ---- online events: publishing -------------------------------------------- */

static int online_client(const sim_checker *chk, const char *client, int32_t *ci)
{
    if (chk->feeding || chk->finished)
        return FL_E_STATE;
    *ci = client_index(chk, client);
    return *ci < 0 ? FL_E_NOT_FOUND : 0;
}

/* Remember roughly when `seq` was accepted: a bounded index of (seq, t),
 * thinned by half (and its stride doubled) when full. */
static int time_index_add(chk_client *c, uint64_t seq, uint64_t t_us)
{
    if (c->tidx_count++ % c->tidx_stride != 0)
        return 0;
    if (!c->tidx) {
        c->tidx = malloc(TIME_INDEX_MAX * sizeof *c->tidx);
        if (!c->tidx)
            return FL_E_NOMEM;
    }
    if (c->ntidx == TIME_INDEX_MAX) {
        for (size_t i = 0; i < TIME_INDEX_MAX / 2; i++)
            c->tidx[i] = c->tidx[2 * i];
        c->ntidx = TIME_INDEX_MAX / 2;
        c->tidx_stride *= 2;
    }
    c->tidx[c->ntidx++] = (time_pt){seq, t_us};
    return 0;
}

/* Approximate accept time of seq: the latest indexed point at or before it
 * (sequences rise with time); `exact` when the index holds seq itself. */
static uint64_t time_of_seq(const chk_client *c, uint64_t seq, bool *exact)
{
    *exact = false;
    uint64_t t = 0;
    for (size_t i = c->ntidx; i-- > 0;) {
        if (c->tidx[i].seq <= seq) {
            t = c->tidx[i].t_us;
            *exact = c->tidx[i].seq == seq;
            break;
        }
    }
    return t;
}

static int note_topic_max(chk_client *c, int32_t topic, uint64_t seq)
{
    topic_max *tm =
        kv_get((void **)&c->tmax, &c->ntmax, &c->captmax, sizeof *c->tmax, (uint64_t)topic);
    if (!tm)
        return FL_E_NOMEM;
    if (seq > tm->max_seq)
        tm->max_seq = seq;
    return 0;
}

int sim_checker_publish(sim_checker *chk, uint64_t t_us, const char *client, const char *topic,
                        uint64_t seq, int result)
{
    return sim_checker_publish_app(chk, t_us, client, topic, seq, result, NULL);
}

int sim_checker_publish_app(sim_checker *chk, uint64_t t_us, const char *client, const char *topic,
                            uint64_t seq, int result, const sim_checker_app_msg *app)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    int32_t ti = topic_intern(chk, topic, false);
    if (ti == -2)
        return FL_E_NOMEM;
    chk_client *c = &chk->clients[ci];
    ev_rec e = ev_make(EV_PUBLISH, t_us, ci);
    e.topic = ti;
    e.seq = seq;
    e.code = result;
    e.pub = c->pub;
    uint64_t key;
    if (app_key(app, &key))
        e.aux = key + 1;
    chk->fig.published++;
    if (result != 0) {
        chk->fig.refused++;
        record(chk, &e);
        return 0;
    }
    bool journaled = ti >= 0 && chk->topic_journaled[ti];
    bool reused = (c->any_accepted && seq <= c->max_accepted) && iset_contains(&c->accepted_j, seq);
    if (journaled && !reused && (rc = iset_add_range(&c->accepted_j, seq, seq)))
        return rc;
    if (ti >= 0 && (rc = note_topic_max(c, ti, seq)))
        return rc;
    if ((rc = time_index_add(c, seq, t_us)))
        return rc;
    chk->fig.accepted++;
    if (!c->any_accepted || seq > c->max_accepted)
        c->max_accepted = seq;
    c->any_accepted = true;
    record(chk, &e);
    if (reused) {
        viol_spec sp = {CK_NO_LOSS, ci, -1, ti, true, c->pub, seq, FL_BM_NO_TS, t_us, true};
        violate(chk, &sp,
                "%s accepted sequence %" PRIu64
                " a second time: the two messages cannot both be in the journal",
                c->name, seq);
    }
    return chk->oom;
}

int sim_checker_store_discard(sim_checker *chk, uint64_t t_us, const char *client, uint64_t up_to)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    chk_client *c = &chk->clients[ci];
    ev_rec e = ev_make(EV_DISCARD, t_us, ci);
    e.seq = up_to;
    record(chk, &e);
    if (up_to > c->max_discard)
        c->max_discard = up_to;
    if (c->lv_has && !c->lv_met && c->max_discard >= c->lv_target) {
        c->lv_met = true;
        c->lv_met_t = t_us;
    }
    return chk->oom;
}

/* The first piece a..b of [x, hi] that s does not hold; false when none. */
static bool next_uncovered(const iset *s, uint64_t x, uint64_t hi, uint64_t *a, uint64_t *b)
{
    while (x <= hi) {
        size_t i = iset_lower(s, x);
        if (i < s->n && s->v[i].lo <= x) {
            if (s->v[i].hi >= hi)
                return false;
            x = s->v[i].hi + 1;
            continue;
        }
        *a = x;
        *b = i < s->n && s->v[i].lo <= hi ? s->v[i].lo - 1 : hi;
        return true;
    }
    return false;
}

/* Walk the pieces of runs[] above the client's highest discard that no
 * earlier loss holds: counts them, and with `apply` records them. */
static size_t loss_pieces(chk_client *c, const sim_checker_seq_range *runs, size_t n, uint64_t when,
                          bool apply)
{
    size_t count = 0;
    uint64_t floor = c->max_discard == UINT64_MAX ? UINT64_MAX : c->max_discard + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = runs[i].lo > floor ? runs[i].lo : floor, hi = runs[i].hi, a, b;
        if (c->max_discard == UINT64_MAX)
            break;
        while (next_uncovered(&c->lost, x, hi, &a, &b)) {
            count++;
            if (apply) {
                int rc = iset_add_range(&c->lost, a, b);
                assert(rc == 0); /* reserved by the caller */
                (void)rc;
                c->losses[c->nlosses++] = (store_loss){a, b, when, c->crash_power};
            }
            if (b == hi)
                break;
            x = b + 1;
        }
    }
    return count;
}

static int cmp_loss(const void *a, const void *b)
{
    const store_loss *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Record the runs as lost from client ci's publish store at its last crash.
 * All or nothing. */
static int add_losses(sim_checker *chk, int32_t ci, uint64_t t_us,
                      const sim_checker_seq_range *runs, size_t n)
{
    chk_client *c = &chk->clients[ci];
    uint64_t when = c->has_crash ? c->crash_t : t_us;
    size_t k = loss_pieces(c, runs, n, when, false);
    if (k == 0)
        return 0;
    int rc = iset_reserve(&c->lost, c->lost.n + k);
    if (rc)
        return rc;
    if (sim_grow((void **)&c->losses, &c->caplosses, c->nlosses + k, sizeof *c->losses, 4))
        return FL_E_NOMEM;
    size_t first = c->nlosses;
    loss_pieces(c, runs, n, when, true);
    for (size_t i = first; i < c->nlosses; i++) {
        ev_rec e = ev_make(EV_STORE_LOST, t_us, ci);
        e.seq = c->losses[i].lo;
        e.aux = c->losses[i].hi;
        e.code = c->losses[i].power_loss;
        record(chk, &e);
    }
    qsort(c->losses, c->nlosses, sizeof *c->losses, cmp_loss);
    return chk->oom;
}

int sim_checker_store_lost(sim_checker *chk, uint64_t t_us, const char *client, uint64_t lo,
                           uint64_t hi)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    if (lo > hi)
        return FL_E_INVAL;
    sim_checker_seq_range run = {lo, hi};
    return add_losses(chk, ci, t_us, &run, 1);
}

int sim_checker_store_reopened(sim_checker *chk, uint64_t t_us, const char *client,
                               const sim_checker_seq_range *kept, size_t nkept)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    if (nkept > 0 && !kept)
        return FL_E_INVAL;
    for (size_t i = 0; i < nkept; i++)
        if (kept[i].lo > kept[i].hi || (i > 0 && kept[i].lo <= kept[i - 1].hi))
            return FL_E_INVAL;
    chk_client *c = &chk->clients[ci];
    if (!c->any_accepted || c->max_accepted <= c->max_discard)
        return 0;
    sim_checker_seq_range *runs = malloc((nkept + 1) * sizeof *runs);
    if (!runs)
        return FL_E_NOMEM;
    size_t n = 0;
    uint64_t x = c->max_discard + 1, hi = c->max_accepted;
    bool done = false;
    for (size_t i = 0; i < nkept && !done; i++) {
        if (kept[i].hi < x)
            continue;
        if (kept[i].lo > hi)
            break;
        if (kept[i].lo > x)
            runs[n++] = (sim_checker_seq_range){x, kept[i].lo - 1};
        done = kept[i].hi >= hi;
        x = done ? hi : kept[i].hi + 1;
    }
    if (!done)
        runs[n++] = (sim_checker_seq_range){x, hi};
    rc = add_losses(chk, ci, t_us, runs, n);
    free(runs);
    return rc;
}

int sim_checker_failed_write(sim_checker *chk, uint64_t t_us, const char *client, uint64_t seq,
                             int reason)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    chk_client *c = &chk->clients[ci];
    ev_rec e = ev_make(EV_FAILED_WRITE, t_us, ci);
    e.seq = seq;
    e.code = reason;
    if (reason == FL_E_NOT_ENTITLED && (rc = iset_add_range(&c->not_entitled, seq, seq)))
        return rc;
    record(chk, &e);
    return chk->oom;
}

/* ---- online events: subscriptions ----------------------------------------- */

static int online_sub(const sim_checker *chk, const char *client, const char *sub_id, int32_t *ci,
                      int32_t *si)
{
    int rc = online_client(chk, client, ci);
    if (rc)
        return rc;
    *si = sub_index(chk, *ci, sub_id);
    return *si < 0 ? FL_E_NOT_FOUND : 0;
}

typedef enum win {
    WIN_OUT,
    WIN_IN,
    WIN_AMBIG,
} win;

/* Where a message lies relative to a subscription's bookmark / range,
 * ignoring when the subscription ended. */
static win sub_window(const chk_sub *s, uint64_t pub, uint64_t seq, int64_t ts)
{
    if (s->kind == SIM_CHK_SUB_LIVE || ts == FL_BM_NO_TS)
        return WIN_AMBIG;
    if (s->kind == SIM_CHK_SUB_BOOKMARK) {
        /* a plain bookmark resumes after its point; a message exactly at a
         * timestamp point is the broker's call */
        if (fl_bm_range_begin_admits(&s->begin_hi, false, pub, seq, ts) == FL_BM_YES)
            return WIN_IN;
        if (fl_bm_range_begin_admits(&s->begin_lo, true, pub, seq, ts) == FL_BM_NO)
            return WIN_OUT;
        return WIN_AMBIG;
    }
    bool incl = s->sel.begin_inclusive;
    fl_bm_verdict b_in = fl_bm_range_begin_admits(&s->begin_hi, incl, pub, seq, ts);
    fl_bm_verdict b_lo = fl_bm_range_begin_admits(&s->begin_lo, incl, pub, seq, ts);
    fl_bm_end e = fl_bm_range_end_check(&s->sel.end, s->sel.end_inclusive, pub, seq, ts);
    if (b_lo == FL_BM_NO || e == FL_BM_END_PAST)
        return WIN_OUT;
    if (b_in == FL_BM_YES && (e == FL_BM_END_INSIDE || e == FL_BM_END_LAST))
        return WIN_IN;
    return WIN_AMBIG;
}

/* Is a journaled message one the subscription had to deliver? */
static bool sub_requires(const sim_checker *chk, const chk_sub *s, uint64_t pub, uint64_t seq,
                         int64_t ts)
{
    if (sub_window(s, pub, seq, ts) != WIN_IN)
        return false;
    if (s->ended && ts >= utc_of(chk, s->end_t) - (int64_t)chk->grace_us)
        return false;
    return true;
}

/* Durable across this kind of crash? */
static bool bm_store_durable(const chk_client *c, bool power_loss)
{
    if (c->bstore == SIM_STORE_MEMORY || c->bstore == SIM_STORE_NONE)
        return false;
    return !power_loss || c->bsync == SIM_SYNC_ALWAYS;
}

static void liveness_sub_delivery(chk_sub *s, subpub *sp, uint64_t seq, uint64_t t_us)
{
    (void)s;
    if (sp->lv_has && !sp->lv_met && seq >= sp->lv_target) {
        sp->lv_met = true;
        sp->lv_met_t = t_us;
    }
}

static void check_range_delivery(sim_checker *chk, const viol_spec *base, chk_sub *s,
                                 const sim_checker_msg *m)
{
    if (s->kind != SIM_CHK_SUB_RANGE)
        return;
    viol_spec sp = *base;
    sp.check = CK_RANGE_EXACT;
    if (s->completed) {
        violate(chk, &sp, "%s/%s delivered a message after its range completed",
                chk->clients[s->client].name, s->sub_id);
        return;
    }
    if (sub_window(s, m->publisher, m->sequence, m->ts_us) == WIN_OUT)
        violate(chk, &sp, "%s/%s delivered a message outside its range",
                chk->clients[s->client].name, s->sub_id);
}

int sim_checker_delivery(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id,
                         const sim_checker_msg *m)
{
    return sim_checker_delivery_app(chk, t_us, client, sub_id, m, NULL);
}

int sim_checker_delivery_app(sim_checker *chk, uint64_t t_us, const char *client,
                             const char *sub_id, const sim_checker_msg *m,
                             const sim_checker_app_msg *app)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    if (!m)
        return FL_E_INVAL;
    chk_sub *s = &chk->subs[si];
    subpub *sp = sub_pub(s, m->publisher);
    if (!sp)
        return FL_E_NOMEM;
    bool in_cur = iset_contains(&sp->cur, m->sequence);
    bool in_sess = iset_contains(&sp->sess, m->sequence);
    bool in_all = iset_contains(&sp->all, m->sequence);
    if ((rc = iset_add_range(&sp->cur, m->sequence, m->sequence)) ||
        (rc = iset_add_range(&sp->sess, m->sequence, m->sequence)) ||
        (rc = iset_add_range(&sp->all, m->sequence, m->sequence)))
        return rc;
    ev_rec e = ev_make(EV_DELIVERY, t_us, ci);
    e.sub = si;
    e.topic = (int32_t)s->topic;
    e.pub = m->publisher;
    e.seq = m->sequence;
    e.ts = m->ts_us;
    record(chk, &e);
    chk->fig.delivered++;
    /* a pending gap ends at the first delivery after it */
    if (m->ts_us != FL_BM_NO_TS) {
        for (size_t i = 0; i < s->ngaps; i++)
            if (s->gaps[i].pending) {
                s->gaps[i].pending = false;
                s->gaps[i].hi = m->ts_us - 1;
            }
        if (!s->has_max_ts || m->ts_us > s->max_ts)
            s->max_ts = m->ts_us;
        s->has_max_ts = true;
    }
    viol_spec base = {
        CK_NO_DUPLICATES, ci,   si,  (int32_t)s->topic, true, m->publisher, m->sequence,
        m->ts_us,         t_us, true};
    const char *cn = chk->clients[ci].name;
    if (in_cur && in_sess) {
        base.check = CK_NO_DUPLICATES;
        violate(chk, &base, "%s/%s delivered the same message twice within one session", cn,
                s->sub_id);
    } else if (in_cur && iset_contains(&sp->disc_cur, m->sequence)) {
        base.check = CK_NO_DUPLICATES;
        violate(chk, &base,
                "%s/%s redelivered after a reconnect a message it had already discarded", cn,
                s->sub_id);
    } else if (in_cur) {
        chk->fig.redelivered_allowed++; /* logged, not discarded: new again after a logon */
    } else if (in_all) {
        if (iset_contains(&sp->disc_durable, m->sequence)) {
            base.check = CK_NO_DUPLICATES;
            violate(chk, &base,
                    "%s/%s redelivered after a crash a message it had discarded into a durable "
                    "bookmark store",
                    cn, s->sub_id);
        } else {
            chk->fig.redelivered_allowed++;
        }
    }
    if (!in_cur) {
        if (sp->has_last && m->sequence < sp->last_seq) {
            base.check = CK_ORDER;
            violate(chk, &base,
                    "%s/%s delivered sequence %" PRIu64 " after sequence %" PRIu64
                    " of the same publisher",
                    cn, s->sub_id, m->sequence, sp->last_seq);
        }
        if (!sp->has_last || m->sequence > sp->last_seq)
            sp->last_seq = m->sequence;
        sp->has_last = true;
    }
    uint64_t key, was;
    if (app_key(app, &key)) {
        if (!idmap_get(&sp->ids, key, &was)) {
            if ((rc = idmap_put(&sp->ids, key, m->sequence)))
                return rc;
        } else if (was != m->sequence) {
            char id[96];
            fmt_app(chk, m->publisher, key, id, sizeof id);
            base.check = CK_NO_DUPLICATES;
            violate(chk, &base,
                    "%s/%s delivered application message %s twice, as sequences %" PRIu64
                    " and %" PRIu64,
                    cn, s->sub_id, id, was, m->sequence);
        }
    }
    check_range_delivery(chk, &base, s, m);
    liveness_sub_delivery(s, sp, m->sequence, t_us);
    return chk->oom;
}

int sim_checker_duplicate_filtered(sim_checker *chk, uint64_t t_us, const char *client,
                                   const char *sub_id, const sim_checker_msg *m)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    if (!m)
        return FL_E_INVAL;
    ev_rec e = ev_make(EV_DUP_FILTERED, t_us, ci);
    e.sub = si;
    e.pub = m->publisher;
    e.seq = m->sequence;
    e.ts = m->ts_us;
    record(chk, &e);
    chk->fig.duplicates_filtered++;
    return chk->oom;
}

int sim_checker_bookmark_discard(sim_checker *chk, uint64_t t_us, const char *client,
                                 const char *sub_id, uint64_t publisher, uint64_t seq)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    subpub *sp = sub_pub(&chk->subs[si], publisher);
    if (!sp)
        return FL_E_NOMEM;
    if ((rc = iset_add_range(&sp->disc_cur, seq, seq)))
        return rc;
    ev_rec e = ev_make(EV_BM_DISCARD, t_us, ci);
    e.sub = si;
    e.pub = publisher;
    e.seq = seq;
    record(chk, &e);
    return chk->oom;
}

/* Past MAX_GAPS_PER_SUB the last gap widens to cover the new one too. */
static int gap_push(chk_sub *s, const gap *g)
{
    if (s->ngaps == MAX_GAPS_PER_SUB) {
        gap *last = &s->gaps[s->ngaps - 1];
        if (g->lo < last->lo)
            last->lo = g->lo;
        if (g->pending)
            last->pending = true;
        else if (!last->pending && g->hi > last->hi)
            last->hi = g->hi;
        return 0;
    }
    if (sim_grow((void **)&s->gaps, &s->capgaps, s->ngaps + 1, sizeof *s->gaps, 4))
        return FL_E_NOMEM;
    s->gaps[s->ngaps++] = *g;
    return 0;
}

int sim_checker_gap(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id,
                    bool has_bounds, int64_t from_ts, int64_t to_ts)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    if (has_bounds && from_ts > to_ts)
        return FL_E_INVAL;
    chk_sub *s = &chk->subs[si];
    gap g = {t_us, INT64_MIN, INT64_MAX, false};
    if (has_bounds) {
        g.lo = from_ts;
        g.hi = to_ts;
    } else {
        g.lo = s->has_max_ts ? s->max_ts + 1 : INT64_MIN;
        g.pending = true;
    }
    if ((rc = gap_push(s, &g)))
        return rc;
    ev_rec e = ev_make(EV_GAP, t_us, ci);
    e.sub = si;
    record(chk, &e);
    chk->fig.gaps++;
    return chk->oom;
}

/* Record event `kind` of a subscription; *s is the subscription. */
static int sub_event(sim_checker *chk, ev_kind kind, uint64_t t_us, const char *client,
                     const char *sub_id, chk_sub **s)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    ev_rec e = ev_make(kind, t_us, ci);
    e.sub = si;
    record(chk, &e);
    *s = &chk->subs[si];
    return 0;
}

/* The first time a subscription reaches a state: set its flag and time. */
static void mark_first(bool *flag, uint64_t *when, uint64_t t_us)
{
    if (!*flag) {
        *flag = true;
        *when = t_us;
    }
}

int sim_checker_completed(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id)
{
    chk_sub *s;
    int rc = sub_event(chk, EV_COMPLETED, t_us, client, sub_id, &s);
    if (rc)
        return rc;
    mark_first(&s->completed, &s->completed_t, t_us);
    return chk->oom;
}

int sim_checker_sub_subscribed(sim_checker *chk, uint64_t t_us, const char *client,
                               const char *sub_id)
{
    int32_t ci, si;
    int rc = online_sub(chk, client, sub_id, &ci, &si);
    if (rc)
        return rc;
    chk_sub *s = &chk->subs[si];
    chk->tracks_subscribes = true;
    mark_first(&s->subscribed, &s->first_sub_t, t_us);
    return 0;
}

int sim_checker_sub_end(sim_checker *chk, uint64_t t_us, const char *client, const char *sub_id)
{
    chk_sub *s;
    int rc = sub_event(chk, EV_SUB_END, t_us, client, sub_id, &s);
    if (rc)
        return rc;
    mark_first(&s->ended, &s->end_t, t_us);
    return chk->oom;
}

/* ---- online events: process and faults ------------------------------------ */

int sim_checker_error(sim_checker *chk, uint64_t t_us, const char *client, const char *name)
{
    if (chk->feeding || chk->finished)
        return FL_E_STATE;
    if (!name)
        return FL_E_INVAL;
    int32_t ci = client_index(chk, client);
    if (client && ci < 0)
        return FL_E_NOT_FOUND;
    ev_rec e = ev_make(EV_ERROR, t_us, ci);
    copy_text(e.text, sizeof e.text, name);
    record(chk, &e);
    chk->fig.errors++;
    if (chk->nerrs == MAX_ERRORS) {
        chk->errs_dropped++;
        return chk->oom;
    }
    if (sim_grow((void **)&chk->errs, &chk->caperrs, chk->nerrs + 1, sizeof *chk->errs, 16))
        return FL_E_NOMEM;
    err_rec *r = &chk->errs[chk->nerrs++];
    r->t_us = t_us;
    r->client = ci;
    copy_text(r->name, sizeof r->name, name);
    return chk->oom;
}

int sim_checker_error_code(sim_checker *chk, uint64_t t_us, const char *client, int code)
{
    char name[40];
    copy_text(name, sizeof name, fl_err_name(code));
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return sim_checker_error(chk, t_us, client, name);
}

/* A crash starts a new incarnation of every subscription of the client:
 * what was discarded into a store that survives this crash stays
 * filtered, the rest may be redelivered, order restarts. */
static int crash_subs(sim_checker *chk, int32_t ci, bool power_loss)
{
    const chk_client *c = &chk->clients[ci];
    bool durable = bm_store_durable(c, power_loss);
    bool forget = c->bstore == SIM_STORE_MEMORY || c->bstore == SIM_STORE_NONE;
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        if (s->client != (size_t)ci)
            continue;
        for (size_t k = 0; k < s->npubs; k++) {
            subpub *sp = &s->pubs[k];
            if (forget)
                iset_clear(&sp->disc_durable);
            else if (durable) {
                int rc = iset_merge(&sp->disc_durable, &sp->disc_cur);
                if (rc)
                    return rc;
            }
            iset_clear(&sp->disc_cur);
            iset_clear(&sp->cur);
            iset_clear(&sp->sess);
            sp->has_last = false;
        }
    }
    return 0;
}

int sim_checker_client_crash(sim_checker *chk, uint64_t t_us, const char *client, bool power_loss)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    if ((rc = crash_subs(chk, ci, power_loss)))
        return rc;
    ev_rec e = ev_make(power_loss ? EV_POWER_LOSS : EV_CRASH, t_us, ci);
    record(chk, &e);
    chk->fig.crashes++;
    chk_client *c = &chk->clients[ci];
    c->has_crash = true;
    c->crash_power = power_loss;
    c->crash_t = t_us;
    return chk->oom;
}

int sim_checker_client_logon(sim_checker *chk, uint64_t t_us, const char *client)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        if (s->client != (size_t)ci)
            continue;
        for (size_t k = 0; k < s->npubs; k++)
            iset_clear(&s->pubs[k].sess);
    }
    ev_rec e = ev_make(EV_LOGON, t_us, ci);
    record(chk, &e);
    return chk->oom;
}

int sim_checker_client_restart(sim_checker *chk, uint64_t t_us, const char *client)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    ev_rec e = ev_make(EV_RESTART, t_us, ci);
    record(chk, &e);
    return chk->oom;
}

/* A heal at t: the liveness targets are what was accepted by now. */
static int liveness_heal(sim_checker *chk, uint64_t t_us)
{
    chk->has_lh = true;
    chk->lh = t_us;
    for (size_t i = 0; i < chk->nclients; i++) {
        chk_client *c = &chk->clients[i];
        c->lv_has = c->any_accepted;
        c->lv_target = c->max_accepted;
        c->lv_met = !c->any_accepted || c->max_discard >= c->max_accepted;
        c->lv_met_t = t_us;
    }
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        for (size_t k = 0; k < s->npubs; k++)
            s->pubs[k].lv_has = false;
        if (s->kind != SIM_CHK_SUB_BOOKMARK || s->ended || s->start_us > t_us)
            continue;
        for (size_t ci = 0; ci < chk->nclients; ci++) {
            const chk_client *c = &chk->clients[ci];
            const topic_max *tm = kv_find(c->tmax, c->ntmax, sizeof *tm, s->topic, NULL);
            if (!tm || !chk->topic_journaled[s->topic])
                continue;
            subpub *sp = sub_pub(s, c->pub);
            if (!sp)
                return FL_E_NOMEM;
            sp->lv_has = true;
            sp->lv_target = tm->max_seq;
            sp->lv_met = sp->all.n > 0 && sp->all.v[sp->all.n - 1].hi >= tm->max_seq;
            sp->lv_met_t = t_us;
        }
    }
    return 0;
}

int sim_checker_fault(sim_checker *chk, uint64_t t_us, uint64_t id, const char *kind,
                      const char *target, sim_chk_fault_phase phase)
{
    if (chk->feeding || chk->finished)
        return FL_E_STATE;
    if (phase != SIM_CHK_FAULT_START && phase != SIM_CHK_FAULT_HEAL &&
        phase != SIM_CHK_FAULT_INSTANT)
        return FL_E_INVAL;
    fault_rec *f =
        kv_get((void **)&chk->faults, &chk->nfaults, &chk->capfaults, sizeof *chk->faults, id);
    if (!f)
        return FL_E_NOMEM;
    if (kind)
        copy_text(f->kind, sizeof f->kind, kind);
    if (target)
        copy_text(f->target, sizeof f->target, target);
    ev_rec e = ev_make(phase == SIM_CHK_FAULT_START  ? EV_FAULT_START
                       : phase == SIM_CHK_FAULT_HEAL ? EV_FAULT_HEAL
                                                     : EV_FAULT_INSTANT,
                       t_us, -1);
    e.aux = id;
    snprintf(e.text, sizeof e.text, "%s %s", f->kind, f->target);
    record(chk, &e);
    if (phase == SIM_CHK_FAULT_START) {
        f->open = true;
        f->start_t = t_us;
        return chk->oom;
    }
    f->open = false;
    int rc = liveness_heal(chk, t_us);
    return rc ? rc : chk->oom;
}

int sim_checker_clock_jump(sim_checker *chk, uint64_t t_us, uint64_t by_us)
{
    if (chk->feeding || chk->finished)
        return FL_E_STATE;
    if (chk->njumps && t_us < chk->jumps[chk->njumps - 1].t_us)
        return FL_E_INVAL;
    if (sim_grow((void **)&chk->jumps, &chk->capjumps, chk->njumps + 1, sizeof *chk->jumps, 4))
        return FL_E_NOMEM;
    uint64_t cum = chk->njumps ? chk->jumps[chk->njumps - 1].cum_us : 0;
    chk->jumps[chk->njumps++] = (clock_jump){t_us, cum + by_us};
    /* NOW of a subscription that starts from here on is read on the new clock */
    for (size_t i = 0; i < chk->nsubs; i++)
        if (chk->subs[i].start_us >= t_us) {
            int rc = sub_resolve_begin(chk, &chk->subs[i]);
            if (rc)
                return rc;
        }
    return 0;
}

int sim_checker_unpersisted(sim_checker *chk, uint64_t t_us, const char *client, uint64_t count)
{
    int32_t ci;
    int rc = online_client(chk, client, &ci);
    if (rc)
        return rc;
    chk_client *c = &chk->clients[ci];
    c->has_unpersisted = true;
    c->unpersisted = count;
    c->unpersisted_t = t_us;
    ev_rec e = ev_make(EV_UNPERSISTED, t_us, ci);
    e.aux = count;
    record(chk, &e);
    return chk->oom;
}

/* ---- ground truth --------------------------------------------------------- */

static journal *journal_find(sim_checker *chk, const char *broker)
{
    for (size_t i = 0; i < chk->njournals; i++)
        if (strcmp(chk->journals[i].broker, broker) == 0)
            return &chk->journals[i];
    return NULL;
}

/* Pending gaps end where the report said, plus the grace. */
static void close_pending_gaps(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        for (size_t k = 0; k < s->ngaps; k++)
            if (s->gaps[k].pending) {
                s->gaps[k].pending = false;
                s->gaps[k].hi = utc_of(chk, s->gaps[k].t_us) + (int64_t)chk->grace_us;
            }
    }
}

int sim_checker_journal_begin(sim_checker *chk, const char *broker)
{
    if (chk->finished)
        return FL_E_STATE;
    if (!broker)
        return FL_E_INVAL;
    if (!chk->feeding) {
        chk->feeding = true;
        close_pending_gaps(chk);
    }
    if (journal_find(chk, broker))
        return FL_E_INVAL;
    if (sim_grow((void **)&chk->journals, &chk->capjournals, chk->njournals + 1,
                 sizeof *chk->journals, 4))
        return FL_E_NOMEM;
    journal *j = &chk->journals[chk->njournals];
    memset(j, 0, sizeof *j);
    j->broker = strdup(broker);
    if (!j->broker)
        return FL_E_NOMEM;
    chk->njournals++;
    return 0;
}

static bool gap_covers(const chk_sub *s, int64_t ts)
{
    for (size_t i = 0; i < s->ngaps; i++)
        if (ts >= s->gaps[i].lo && ts <= s->gaps[i].hi)
            return true;
    return false;
}

/* Was the subscription subscribed before virtual time t? (Without
 * subscribe events: did it start before t?) */
static bool subscribed_before(const sim_checker *chk, const chk_sub *s, uint64_t t)
{
    if (chk->tracks_subscribes)
        return s->subscribed && s->first_sub_t < t;
    return s->start_us < t;
}

/* A message seen in the surviving journals for the first time: every
 * bookmark / range subscription that had to deliver it must have. For a
 * message retention removed (x non-NULL) only the subscriptions that were
 * subscribed before it expired: one that first subscribes afterwards is
 * not owed it. */
static void check_subs_for(sim_checker *chk, int32_t topic, uint64_t pub, uint64_t seq, int64_t ts,
                           const xmsg *x)
{
    uint64_t owed_before = UINT64_MAX;
    if (x)
        owed_before = x->has_expired_at ? x->expired_us : utc_to_virtual(chk, ts) + 1;
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        if ((int32_t)s->topic != topic || s->kind == SIM_CHK_SUB_LIVE)
            continue;
        if (x && !subscribed_before(chk, s, owed_before))
            continue;
        bool in_range = s->kind == SIM_CHK_SUB_RANGE && sub_window(s, pub, seq, ts) == WIN_IN;
        if (in_range)
            s->range_journal_in++;
        if (!sub_requires(chk, s, pub, seq, ts))
            continue;
        const subpub *sp = kv_find(s->pubs, s->npubs, sizeof *s->pubs, pub, NULL);
        if (sp && iset_contains(&sp->all, seq))
            continue;
        viol_spec vs = {
            CK_RANGE_EXACT, (int32_t)s->client, (int32_t)i, topic, true, pub, seq, ts, 0, false};
        vs.t_us = utc_to_virtual(chk, ts);
        const char *cn = chk->clients[s->client].name;
        const char *what =
            x ? "a journaled message (since removed by retention)" : "a journaled message";
        if (in_range)
            violate(chk, &vs, "%s/%s never delivered %s inside its range", cn, s->sub_id, what);
        if (!gap_covers(s, ts)) {
            vs.check = CK_GAPS_REPORTED;
            violate(chk, &vs, "%s/%s never delivered %s of its window and no gap was reported", cn,
                    s->sub_id, what);
        }
    }
}

/* Exactly once per application message over the union of the journals:
 * (publisher, seq) is new to the union; does its identity already stand
 * for another sequence? */
static int check_app_once(sim_checker *chk, int32_t topic, uint64_t publisher, uint64_t seq,
                          int64_t ts_us, const sim_checker_app_msg *app)
{
    uint64_t key, was;
    if (!app_key(app, &key))
        return 0;
    pubid *p = kv_get((void **)&chk->uni_ids.v, &chk->uni_ids.n, &chk->uni_ids.cap,
                      sizeof *chk->uni_ids.v, publisher);
    if (!p)
        return FL_E_NOMEM;
    if (!idmap_get(&p->ids, key, &was))
        return idmap_put(&p->ids, key, seq);
    if (was == seq)
        return 0;
    char id[96];
    fmt_app(chk, publisher, key, id, sizeof id);
    viol_spec vs = {CK_NO_LOSS, client_of_pub(chk, publisher), -1,   topic, true, publisher, seq,
                    ts_us,      utc_to_virtual(chk, ts_us),    false};
    violate(chk, &vs,
            "application message %s is in the journals twice, as sequences %" PRIu64 " and %" PRIu64
            " (exactly once per application message)",
            id, was < seq ? was : seq, was < seq ? seq : was);
    return 0;
}

int sim_checker_journal_message(sim_checker *chk, const char *broker, const char *topic,
                                uint64_t publisher, uint64_t seq, int64_t ts_us)
{
    return sim_checker_journal_message_app(chk, broker, topic, publisher, seq, ts_us, NULL);
}

int sim_checker_journal_message_app(sim_checker *chk, const char *broker, const char *topic,
                                    uint64_t publisher, uint64_t seq, int64_t ts_us,
                                    const sim_checker_app_msg *app)
{
    if (chk->finished || !chk->feeding)
        return FL_E_STATE;
    if (!broker || !topic)
        return FL_E_INVAL;
    journal *j = journal_find(chk, broker);
    if (!j)
        return FL_E_NOT_FOUND;
    int32_t ti = topic_intern(chk, topic, false);
    if (ti < 0)
        return FL_E_NOMEM;
    iset *js = pubsets_get(&j->seqs, publisher);
    if (!js)
        return FL_E_NOMEM;
    int added = iset_add(js, seq);
    if (added < 0)
        return added;
    if (added == 0) {
        int32_t ci = client_of_pub(chk, publisher);
        viol_spec vs = {CK_NO_LOSS, ci, -1, ti, true, publisher, seq, ts_us, 0, false};
        vs.t_us = utc_to_virtual(chk, ts_us);
        violate(chk, &vs, "the journal of broker %s holds this message twice", broker);
        return chk->oom;
    }
    iset *u = pubsets_get(&chk->uni, publisher);
    if (!u)
        return FL_E_NOMEM;
    added = iset_add(u, seq);
    if (added < 0)
        return added;
    if (added == 1) {
        chk->fig.journal_messages++;
        check_subs_for(chk, ti, publisher, seq, ts_us, NULL);
        int rc = check_app_once(chk, ti, publisher, seq, ts_us, app);
        if (rc)
            return rc;
    }
    return chk->oom;
}

int sim_checker_journal_expired(sim_checker *chk, const char *broker, uint64_t publisher,
                                uint64_t seq)
{
    if (chk->finished || !chk->feeding)
        return FL_E_STATE;
    if (!broker)
        return FL_E_INVAL;
    if (!journal_find(chk, broker))
        return FL_E_NOT_FOUND;
    iset *x = pubsets_get(&chk->expired, publisher);
    if (!x)
        return FL_E_NOMEM;
    return iset_add_range(x, seq, seq);
}

int sim_checker_journal_expired_msg(sim_checker *chk, const char *broker,
                                    const sim_checker_expired_msg *m)
{
    if (!m)
        return FL_E_INVAL;
    int rc = sim_checker_journal_expired(chk, broker, m->publisher, m->sequence);
    if (rc || !m->topic || m->ts_us == FL_BM_NO_TS)
        return rc;
    int32_t ti = topic_intern(chk, m->topic, false);
    if (ti < 0)
        return FL_E_NOMEM;
    if (sim_grow((void **)&chk->xmsgs, &chk->capxmsgs, chk->nxmsgs + 1, sizeof *chk->xmsgs, 64))
        return FL_E_NOMEM;
    chk->xmsgs[chk->nxmsgs++] = (xmsg){m->publisher,
                                       m->sequence,
                                       m->ts_us,
                                       ti,
                                       m->has_expired_at,
                                       m->expired_us,
                                       m->app ? *m->app : (sim_checker_app_msg){false, 0, 0}};
    return 0;
}

static const iset empty_set;

static const iset *pub_set(const pubsets *ps, uint64_t pub)
{
    const iset *s = pubsets_find(ps, pub);
    return s ? s : &empty_set;
}

static int cmp_xmsg(const void *a, const void *b)
{
    const xmsg *x = a, *y = b;
    if (x->pub != y->pub)
        return x->pub < y->pub ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    /* the earliest expiry first (unknown last) */
    if (x->has_expired_at != y->has_expired_at)
        return x->has_expired_at ? -1 : 1;
    return x->expired_us < y->expired_us ? -1 : x->expired_us > y->expired_us;
}

/* Messages retention removed from every journal that had them: they count
 * once per application message, and a subscription that was subscribed
 * before they expired still had to deliver them or hear of a gap (a silent
 * expiry policy, `now` or `oldest`, skips them without a word). */
static int final_expired(sim_checker *chk)
{
    if (chk->nxmsgs > 1)
        qsort(chk->xmsgs, chk->nxmsgs, sizeof *chk->xmsgs, cmp_xmsg);
    for (size_t i = 0; i < chk->nxmsgs; i++) {
        const xmsg *x = &chk->xmsgs[i];
        if (i > 0 && x->pub == chk->xmsgs[i - 1].pub && x->seq == chk->xmsgs[i - 1].seq)
            continue;
        if (iset_contains(pub_set(&chk->uni, x->pub), x->seq))
            continue; /* survives in another journal: checked there */
        check_subs_for(chk, x->topic, x->pub, x->seq, x->ts, x);
        int rc = check_app_once(chk, x->topic, x->pub, x->seq, x->ts, &x->app);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the final pass ------------------------------------------------------- */

/* Why a publish store lost accepted messages at a crash: whether its
 * configuration allows it (then the violation documents an unsafe
 * configuration, not a client fault) or not (a store bug). */
static void loss_reason(const chk_client *c, bool power_loss, char *buf, size_t cap)
{
    const char *type = sim_scenario_enum_name(SIM_ENUM_STORE_TYPE, (int)c->pstore);
    const char *sync = sim_scenario_enum_name(SIM_ENUM_SYNC, (int)c->psync);
    bool disk = c->pstore == SIM_STORE_FILE || c->pstore == SIM_STORE_SQLITE;
    if (c->pstore == SIM_STORE_NONE)
        snprintf(buf, cap, "no publish store: nothing survives a crash");
    else if (c->pstore == SIM_STORE_MEMORY)
        snprintf(buf, cap, "a memory publish store does not survive a crash");
    else if (disk && power_loss && c->psync == SIM_SYNC_NONE)
        snprintf(buf, cap,
                 "%s store with sync=none does not survive a power loss: the configuration "
                 "allows this loss, use sync=always",
                 type);
    else if (disk && power_loss && c->psync == SIM_SYNC_BATCH)
        snprintf(buf, cap,
                 "%s store with sync=batch loses at a power loss what its batch window had not "
                 "synced: the configuration allows this loss, use sync=always",
                 type);
    else if (disk)
        snprintf(buf, cap, "%s store with sync=%s promises to survive a %s: a store fault", type,
                 sync, power_loss ? "power loss" : "process crash");
    else
        snprintf(buf, cap, "the %s publish store did not keep it", type);
}

/* The loss holding x, or the first one above it (NULL: none). */
static const store_loss *loss_at_or_after(const chk_client *c, uint64_t x)
{
    size_t a = 0, b = c->nlosses;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (c->losses[m].hi < x)
            a = m + 1;
        else
            b = m;
    }
    return a < c->nlosses ? &c->losses[a] : NULL;
}

/* lo..hi, all lost from the store at loss l and in no journal: no_loss,
 * with the cause; never ack_honesty (not in the store when later acks
 * discarded up past them). */
static void report_lost(sim_checker *chk, int32_t ci, const store_loss *l, uint64_t lo, uint64_t hi)
{
    const chk_client *c = &chk->clients[ci];
    bool exact;
    uint64_t t = time_of_seq(c, lo, &exact);
    viol_spec vs = {CK_NO_LOSS, ci, -1, -1, true, c->pub, lo, FL_BM_NO_TS, t, false};
    char when[48], at[48], why[200];
    fmt_time(when, sizeof when, t);
    fmt_time(at, sizeof at, l->t_us);
    loss_reason(c, l->power_loss, why, sizeof why);
    violate(chk, &vs,
            "%s: %" PRIu64 " accepted message(s), sequences %" PRIu64 "..%" PRIu64
            " (accepted %s%s), lost from the publish store at the %s of %s at %s (%s), in no "
            "surviving journal",
            c->name, hi - lo + 1, lo, hi, exact ? "at " : "after ", when,
            l->power_loss ? "power loss" : "crash", c->name, at, why);
}

/* lo..hi, accepted, not lost from the store, in no journal: no_loss, and
 * ack_honesty for the part a persisted ack discarded. */
static void report_missing(sim_checker *chk, int32_t ci, uint64_t lo, uint64_t hi)
{
    const chk_client *c = &chk->clients[ci];
    bool exact;
    uint64_t t = time_of_seq(c, lo, &exact);
    viol_spec vs = {CK_NO_LOSS, ci, -1, -1, true, c->pub, lo, FL_BM_NO_TS, t, false};
    char when[48];
    fmt_time(when, sizeof when, t);
    violate(chk, &vs,
            "%s: %" PRIu64 " accepted message(s), sequences %" PRIu64 "..%" PRIu64
            " (accepted %s%s), in no surviving journal",
            c->name, hi - lo + 1, lo, hi, exact ? "at " : "after ", when);
    if (lo > c->max_discard)
        return;
    uint64_t top = hi < c->max_discard ? hi : c->max_discard;
    vs.check = CK_ACK_HONESTY;
    violate(chk, &vs,
            "%s: %" PRIu64 " message(s), sequences %" PRIu64 "..%" PRIu64
            ", discarded from the publish store on a persisted ack (up to %" PRIu64
            ") are in no surviving journal",
            c->name, top - lo + 1, lo, top, c->max_discard);
}

/* Split a run missing from the journals into the parts lost from the
 * store at a crash and the rest. */
static void report_run(sim_checker *chk, int32_t ci, uint64_t lo, uint64_t hi)
{
    const chk_client *c = &chk->clients[ci];
    uint64_t x = lo;
    for (;;) {
        const store_loss *l = loss_at_or_after(c, x);
        uint64_t end;
        if (l && l->lo <= x) {
            end = l->hi < hi ? l->hi : hi;
            report_lost(chk, ci, l, x, end);
        } else {
            end = l && l->lo <= hi ? l->lo - 1 : hi;
            report_missing(chk, ci, x, end);
        }
        if (end == hi)
            return;
        x = end + 1;
    }
}

/* no_loss and ack_honesty: accepted (journaled topics) minus the journals,
 * retention and not-entitled refusals. */
static void final_loss(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nclients; i++) {
        chk_client *c = &chk->clients[i];
        if (c->accepted_j.n == 0)
            continue;
        chk->applicable[CK_NO_LOSS] = true;
        if (c->max_discard > 0)
            chk->applicable[CK_ACK_HONESTY] = true;
        const iset *sub[3] = {pub_set(&chk->uni, c->pub), pub_set(&chk->expired, c->pub),
                              &c->not_entitled};
        diff_iter it = {&c->accepted_j, sub, 3, 0, 0, false};
        uint64_t lo, hi;
        while (diff_next(&it, &lo, &hi))
            report_run(chk, (int32_t)i, lo, hi);
    }
}

/* The range can end during the run: no end point lies after it. */
static bool range_end_reachable(const sim_checker *chk, const chk_sub *s)
{
    int64_t end = utc_of(chk, chk->t_end);
    for (size_t i = 0; i < s->sel.end.count; i++) {
        const fl_bookmark *p = &s->sel.end.items[i];
        if (p->ts_us != FL_BM_NO_TS && p->ts_us > end)
            return false;
    }
    return true;
}

static void final_ranges(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        if (s->kind == SIM_CHK_SUB_LIVE)
            continue;
        chk->applicable[CK_GAPS_REPORTED] = true;
        if (s->kind != SIM_CHK_SUB_RANGE)
            continue;
        chk->applicable[CK_RANGE_EXACT] = true;
        const char *cn = chk->clients[s->client].name;
        for (size_t k = 0; k < s->npubs; k++) {
            const subpub *sp = &s->pubs[k];
            const iset *sub[2] = {pub_set(&chk->uni, sp->pub), pub_set(&chk->expired, sp->pub)};
            diff_iter it = {&sp->all, sub, 2, 0, 0, false};
            uint64_t lo, hi;
            while (diff_next(&it, &lo, &hi)) {
                viol_spec vs = {CK_RANGE_EXACT,
                                (int32_t)s->client,
                                (int32_t)i,
                                (int32_t)s->topic,
                                true,
                                sp->pub,
                                lo,
                                FL_BM_NO_TS,
                                chk->t_end,
                                false};
                violate(chk, &vs,
                        "%s/%s delivered %" PRIu64 " message(s) (sequences %" PRIu64 "..%" PRIu64
                        ") that are in no surviving journal",
                        cn, s->sub_id, hi - lo + 1, lo, hi);
            }
        }
        if (s->completed || (s->ended && !s->completed) || !range_end_reachable(chk, s))
            continue;
        viol_spec vs = {
            CK_RANGE_EXACT, (int32_t)s->client, (int32_t)i, (int32_t)s->topic, false, 0, 0,
            FL_BM_NO_TS,    chk->t_end,         false};
        violate(chk, &vs, "%s/%s never received `completed` for its range", cn, s->sub_id);
    }
}

static void note_recovery(sim_checker *chk, uint64_t met_t)
{
    uint64_t r = met_t > chk->lh ? met_t - chk->lh : 0;
    if (!chk->fig.has_recovery || r > chk->fig.recovery_us)
        chk->fig.recovery_us = r;
    chk->fig.has_recovery = true;
}

static void final_liveness_subs(sim_checker *chk, uint64_t deadline)
{
    for (size_t i = 0; i < chk->nsubs; i++) {
        chk_sub *s = &chk->subs[i];
        if (s->ngaps > 0)
            continue; /* a reported gap may cover the target */
        for (size_t k = 0; k < s->npubs; k++) {
            const subpub *sp = &s->pubs[k];
            if (!sp->lv_has || !iset_contains(pub_set(&chk->uni, sp->pub), sp->lv_target))
                continue;
            if (sp->lv_met)
                note_recovery(chk, sp->lv_met_t);
            if (sp->lv_met && sp->lv_met_t <= deadline)
                continue;
            viol_spec vs = {CK_LIVENESS,
                            (int32_t)s->client,
                            (int32_t)i,
                            (int32_t)s->topic,
                            true,
                            sp->pub,
                            sp->lv_target,
                            FL_BM_NO_TS,
                            sp->lv_met ? sp->lv_met_t : deadline,
                            false};
            char a[40], b[40];
            fmt_time(a, sizeof a, chk->lh);
            fmt_time(b, sizeof b, sp->lv_met_t);
            if (sp->lv_met)
                violate(chk, &vs,
                        "%s/%s delivered the last message published before the last heal (%s) "
                        "only at %s, after the recovery bound",
                        chk->clients[s->client].name, s->sub_id, a, b);
            else
                violate(chk, &vs,
                        "%s/%s never delivered the last message published before the last heal "
                        "(%s)",
                        chk->clients[s->client].name, s->sub_id, a);
        }
    }
}

static void final_liveness(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nfaults; i++)
        if (chk->faults[i].open) {
            snprintf(chk->detail[CK_LIVENESS], sizeof chk->detail[0],
                     "fault #%" PRIu64 " (%s %s) never healed", chk->faults[i].id,
                     chk->faults[i].kind, chk->faults[i].target);
            return;
        }
    if (!chk->has_lh) {
        snprintf(chk->detail[CK_LIVENESS], sizeof chk->detail[0], "no fault healed");
        return;
    }
    chk->applicable[CK_LIVENESS] = true;
    chk->fig.has_last_heal = true;
    chk->fig.last_heal_us = chk->lh;
    uint64_t deadline = chk->lh + chk->recovery_us;
    char a[40], b[40];
    fmt_time(a, sizeof a, chk->lh);
    for (size_t i = 0; i < chk->nclients; i++) {
        chk_client *c = &chk->clients[i];
        if (!c->lv_has)
            continue;
        if (c->lv_met)
            note_recovery(chk, c->lv_met_t);
        if (c->lv_met && c->lv_met_t <= deadline)
            continue;
        viol_spec vs = {CK_LIVENESS,  (int32_t)i,  -1,
                        -1,           true,        c->pub,
                        c->lv_target, FL_BM_NO_TS, c->lv_met ? c->lv_met_t : deadline,
                        false};
        fmt_time(b, sizeof b, c->lv_met_t);
        if (c->lv_met)
            violate(chk, &vs,
                    "%s persisted what it had accepted by the last heal (%s) only at %s, after "
                    "the recovery bound",
                    c->name, a, b);
        else
            violate(chk, &vs,
                    "%s never persisted what it had accepted by the last heal (%s): discarded up "
                    "to %" PRIu64 " of %" PRIu64,
                    c->name, a, c->max_discard, c->lv_target);
    }
    final_liveness_subs(chk, deadline);
}

static void final_unpersisted(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nclients; i++) {
        chk_client *c = &chk->clients[i];
        if (!c->has_unpersisted)
            continue;
        chk->applicable[CK_UNPERSISTED_ZERO] = true;
        if (c->unpersisted == 0)
            continue;
        viol_spec vs = {CK_UNPERSISTED_ZERO, (int32_t)i,       -1,   -1, false, 0, 0,
                        FL_BM_NO_TS,         c->unpersisted_t, false};
        violate(chk, &vs, "%s ended with %" PRIu64 " unpersisted message(s)", c->name,
                c->unpersisted);
    }
}

static bool error_matches(const sim_checker *chk, const sim_checker_expect_error *x,
                          const err_rec *r)
{
    if (strcasecmp(x->name, r->name) != 0)
        return false;
    if (x->client && (r->client < 0 || strcmp(x->client, chk->clients[r->client].name) != 0))
        return false;
    if (x->has_after && r->t_us < x->after_us)
        return false;
    return !(x->has_before && r->t_us > x->before_us);
}

static void final_expect(sim_checker *chk)
{
    for (size_t i = 0; i < chk->nxerr; i++) {
        const sim_checker_expect_error *x = &chk->xerr[i];
        chk->applicable[SIM_CHK_ERRORS] = true;
        bool found = false;
        for (size_t k = 0; k < chk->nerrs && !found; k++)
            found = error_matches(chk, x, &chk->errs[k]);
        if (found)
            continue;
        viol_spec vs = {SIM_CHK_ERRORS,
                        client_index(chk, x->client),
                        -1,
                        -1,
                        false,
                        0,
                        0,
                        FL_BM_NO_TS,
                        x->has_after ? x->after_us : chk->t_end,
                        false};
        violate(chk, &vs, "expected error `%s`%s%s was not reported", x->name,
                x->client ? " to " : "", x->client ? x->client : "");
    }
    for (size_t i = 0; i < chk->nxdel; i++) {
        const sim_checker_expect_delivered *x = &chk->xdel[i];
        chk->applicable[SIM_CHK_DELIVERED] = true;
        uint64_t got = sim_checker_delivered_count(chk, x->client, x->sub_id);
        if (got == x->count)
            continue;
        int32_t ci = client_index(chk, x->client);
        viol_spec vs = {
            SIM_CHK_DELIVERED, ci,   sub_index(chk, ci, x->sub_id), -1, false, 0, 0, FL_BM_NO_TS,
            chk->t_end,        false};
        violate(chk, &vs, "%s/%s delivered %" PRIu64 " distinct message(s), expected %" PRIu64,
                x->client, x->sub_id, got, x->count);
    }
}

static int append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *nb = realloc(*buf, *len + n + 3);
    if (!nb)
        return FL_E_NOMEM;
    if (*len) {
        memcpy(nb + *len, "; ", 2);
        *len += 2;
    }
    memcpy(nb + *len, s, n + 1);
    *len += n;
    *buf = nb;
    return 0;
}

static int compute_verdicts(sim_checker *chk)
{
    size_t len = 0;
    free(chk->failure_text);
    chk->failure_text = NULL;
    for (int i = 0; i < SIM_CHK_COUNT; i++) {
        bool fire = i < SIM_CHK_ERRORS && ((chk->fire_mask >> i) & 1u);
        bool pass = i >= SIM_CHK_ERRORS || ((chk->pass_mask >> i) & 1u);
        sim_chk_verdict v;
        if (fire)
            v = chk->fired[i] ? SIM_CHK_EXPECTED_FIRED : SIM_CHK_EXPECTED_MISSING;
        else if (!pass)
            v = SIM_CHK_SKIPPED;
        else if (chk->fired[i])
            v = SIM_CHK_FAIL;
        else
            v = chk->applicable[i] ? SIM_CHK_PASS : SIM_CHK_NOT_APPLICABLE;
        chk->verdict[i] = v;
        char line[200];
        if (v == SIM_CHK_FAIL || v == SIM_CHK_EXPECTED_FIRED) {
            snprintf(chk->detail[i], sizeof chk->detail[0],
                     "%" PRIu64 " violation(s), %" PRIu64 " shown", chk->fired[i], chk->stored[i]);
        } else if (v == SIM_CHK_EXPECTED_MISSING) {
            snprintf(chk->detail[i], sizeof chk->detail[0], "expected violation `%s` did not occur",
                     check_names[i]);
        } else if (v != SIM_CHK_NOT_APPLICABLE) {
            chk->detail[i][0] = '\0';
        } else if (!chk->detail[i][0]) {
            snprintf(chk->detail[i], sizeof chk->detail[0], "nothing to check");
        }
        if (v == SIM_CHK_FAIL) {
            snprintf(line, sizeof line, "%s: %" PRIu64 " violation(s)", check_names[i],
                     chk->fired[i]);
            if (append(&chk->failure_text, &len, line))
                return FL_E_NOMEM;
        } else if (v == SIM_CHK_EXPECTED_MISSING) {
            if (append(&chk->failure_text, &len, chk->detail[i]))
                return FL_E_NOMEM;
        }
    }
    return 0;
}

int sim_checker_finish(sim_checker *chk, uint64_t t_end_us)
{
    if (chk->finished)
        return FL_E_STATE;
    if (!chk->feeding) {
        chk->feeding = true;
        close_pending_gaps(chk);
    }
    chk->t_end = t_end_us;
    chk->npending = 0; /* the run is over: no more "after" context */
    chk->applicable[CK_NO_DUPLICATES] = chk->applicable[CK_ORDER] = chk->fig.delivered > 0;
    if (chk->fired[CK_NO_LOSS])
        chk->applicable[CK_NO_LOSS] = true;
    int xrc = final_expired(chk);
    if (xrc)
        return xrc;
    final_loss(chk);
    final_ranges(chk);
    final_liveness(chk);
    final_unpersisted(chk);
    final_expect(chk);
    chk->finished = true;
    int rc = compute_verdicts(chk);
    return rc ? rc : chk->oom;
}

/* ---- results -------------------------------------------------------------- */

int sim_checker_verdict_at(const sim_checker *chk, int i, sim_checker_verdict *out)
{
    if (!chk->finished)
        return FL_E_STATE;
    if (i < 0 || i >= SIM_CHK_COUNT || !out)
        return FL_E_INVAL;
    *out = (sim_checker_verdict){check_names[i], i, chk->verdict[i], chk->fired[i], chk->detail[i]};
    return 0;
}

bool sim_checker_passed(const sim_checker *chk)
{
    if (!chk->finished)
        return false;
    for (int i = 0; i < SIM_CHK_COUNT; i++)
        if (chk->verdict[i] == SIM_CHK_FAIL || chk->verdict[i] == SIM_CHK_EXPECTED_MISSING)
            return false;
    return true;
}

const char *sim_checker_failure_text(const sim_checker *chk)
{
    return chk->failure_text ? chk->failure_text : "";
}

size_t sim_checker_violation_count(const sim_checker *chk)
{
    return chk->nviols;
}

const sim_checker_violation *sim_checker_violation_at(const sim_checker *chk, size_t i)
{
    return i < chk->nviols ? &chk->viols[i]->pub : NULL;
}

void sim_checker_get_figures(const sim_checker *chk, sim_checker_figures *out)
{
    *out = chk->fig;
}

static void mem_add(sim_checker_memory *m, const iset *s)
{
    m->intervals += s->n;
    if (s->n > m->max_set_intervals)
        m->max_set_intervals = s->n;
}

static void mem_pubsets(sim_checker_memory *m, const pubsets *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        mem_add(m, &ps->v[i].seqs);
}

void sim_checker_get_memory(const sim_checker *chk, sim_checker_memory *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < chk->nclients; i++) {
        mem_add(out, &chk->clients[i].accepted_j);
        mem_add(out, &chk->clients[i].not_entitled);
        out->time_index += chk->clients[i].ntidx;
    }
    for (size_t i = 0; i < chk->nsubs; i++) {
        const chk_sub *s = &chk->subs[i];
        out->gaps += s->ngaps;
        for (size_t k = 0; k < s->npubs; k++) {
            mem_add(out, &s->pubs[k].all);
            mem_add(out, &s->pubs[k].cur);
            mem_add(out, &s->pubs[k].sess);
            mem_add(out, &s->pubs[k].disc_cur);
            mem_add(out, &s->pubs[k].disc_durable);
        }
    }
    for (size_t i = 0; i < chk->njournals; i++)
        mem_pubsets(out, &chk->journals[i].seqs);
    mem_pubsets(out, &chk->uni);
    mem_pubsets(out, &chk->expired);
    out->errors = chk->nerrs;
    out->faults = chk->nfaults;
}

uint64_t sim_checker_delivered_count(const sim_checker *chk, const char *client, const char *sub_id)
{
    int32_t si = sub_index(chk, client_index(chk, client), sub_id);
    if (si < 0)
        return 0;
    const chk_sub *s = &chk->subs[si];
    uint64_t n = 0;
    for (size_t k = 0; k < s->npubs; k++)
        n += iset_count(&s->pubs[k].all);
    return n;
}

/* ---- JSON ------------------------------------------------------------------ */

static int jset(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0 ? 0 : FL_E_NOMEM;
}

static json_t *viol_json(const sim_checker_violation *v)
{
    json_t *o = json_object();
    json_t *ctx = json_array();
    int rc = o && ctx ? 0 : FL_E_NOMEM;
    if (!rc)
        rc = jset(o, "check", json_string(check_names[v->check]));
    if (!rc)
        rc = jset(o, "client", json_string(v->client));
    if (!rc)
        rc = jset(o, "sub_id", json_string(v->sub_id));
    if (!rc)
        rc = jset(o, "topic", json_string(v->topic));
    if (!rc && v->has_message) {
        char pub[24];
        snprintf(pub, sizeof pub, "%" PRIu64, v->publisher);
        rc = jset(o, "publisher", json_string(pub));
        if (!rc)
            rc = jset(o, "sequence", json_integer((json_int_t)v->sequence));
        if (!rc)
            rc = jset(o, "bookmark", json_string(v->bookmark));
    }
    if (!rc)
        rc = jset(o, "t_us", json_integer((json_int_t)v->t_us));
    if (!rc)
        rc = jset(o, "text", json_string(v->text));
    if (!rc)
        rc = jset(o, "expected", json_boolean(v->expected));
    for (size_t i = 0; !rc && i < v->ncontext; i++)
        if (json_array_append_new(ctx, json_string(v->context[i])))
            rc = FL_E_NOMEM;
    if (!rc) {
        rc = jset(o, "context", ctx);
        ctx = NULL;
    }
    json_decref(ctx);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *verdict_json(const sim_checker *chk, int i)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (jset(o, "check", json_string(check_names[i])) ||
        jset(o, "verdict", json_string(sim_chk_verdict_name(chk->verdict[i]))) ||
        jset(o, "violations", json_integer((json_int_t)chk->fired[i])) ||
        jset(o, "detail", json_string(chk->detail[i]))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *sim_checker_to_json(const sim_checker *chk)
{
    if (!chk->finished)
        return NULL;
    json_t *root = json_object();
    json_t *verdicts = json_array();
    json_t *viols = json_array();
    int rc = root && verdicts && viols ? 0 : FL_E_NOMEM;
    for (int i = 0; !rc && i < SIM_CHK_COUNT; i++) {
        json_t *v = verdict_json(chk, i);
        if (!v || json_array_append_new(verdicts, v))
            rc = FL_E_NOMEM;
    }
    for (size_t i = 0; !rc && i < chk->nviols; i++) {
        json_t *v = viol_json(&chk->viols[i]->pub);
        if (!v || json_array_append_new(viols, v))
            rc = FL_E_NOMEM;
    }
    if (!rc)
        rc = jset(root, "passed", json_boolean(sim_checker_passed(chk)));
    if (!rc)
        rc = jset(root, "failure", json_string(sim_checker_failure_text(chk)));
    if (!rc) {
        rc = jset(root, "verdicts", verdicts);
        verdicts = NULL;
    }
    if (!rc) {
        rc = jset(root, "violations", viols);
        viols = NULL;
    }
    json_decref(verdicts);
    json_decref(viols);
    if (rc) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- from a scenario --------------------------------------------------------- */

typedef struct scen_cfg {
    sim_checker_client_cfg *clients;
    sim_checker_sub_cfg *subs;
    const char **topics;
    sim_checker_expect_error *errors;
    sim_checker_expect_delivered *delivered;
} scen_cfg;

static void scen_cfg_free(scen_cfg *s)
{
    free(s->clients);
    free(s->subs);
    free(s->topics);
    free(s->errors);
    free(s->delivered);
}

static bool has_topic(const char **topics, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(topics[i], t) == 0)
            return true;
    return false;
}

/* Fill cfg's arrays from sc (borrowing sc's strings). */
static int scen_fill(const sim_scenario *sc, sim_checker_config *cfg, scen_cfg *a)
{
    size_t nsubs = 0, ntopics = 0;
    for (size_t i = 0; i < sc->nclients; i++)
        nsubs += sc->clients[i].nsubscribe;
    for (size_t i = 0; i < sc->nbrokers; i++)
        ntopics += sc->brokers[i].ntopics;
    a->clients = calloc(sc->nclients + 1, sizeof *a->clients);
    a->subs = calloc(nsubs + 1, sizeof *a->subs);
    a->topics = calloc(ntopics + 1, sizeof *a->topics);
    a->errors = calloc(sc->expect.nerrors + 1, sizeof *a->errors);
    a->delivered = calloc(sc->expect.ndelivered + 1, sizeof *a->delivered);
    if (!a->clients || !a->subs || !a->topics || !a->errors || !a->delivered)
        return FL_E_NOMEM;
    for (size_t i = 0; i < sc->nclients; i++) {
        const sim_client *c = &sc->clients[i];
        a->clients[cfg->nclients++] = (sim_checker_client_cfg){c->name,
                                                               0,
                                                               c->publish_store.type,
                                                               c->publish_store.sync,
                                                               c->bookmark_store.type,
                                                               c->bookmark_store.sync};
        for (size_t k = 0; k < c->nsubscribe; k++) {
            const sim_subscribe *s = &c->subscribe[k];
            a->subs[cfg->nsubs++] =
                (sim_checker_sub_cfg){c->name, s->sub_id, s->topic, s->bookmark, s->start_us};
        }
    }
    for (size_t i = 0; i < sc->nbrokers; i++)
        for (size_t k = 0; k < sc->brokers[i].ntopics; k++) {
            const sim_topic *t = &sc->brokers[i].topics[k];
            if (t->journal && !has_topic(a->topics, cfg->njournaled_topics, t->name))
                a->topics[cfg->njournaled_topics++] = t->name;
        }
    for (size_t i = 0; i < sc->expect.nerrors; i++) {
        const sim_expect_error *x = &sc->expect.errors[i];
        a->errors[cfg->nerrors++] = (sim_checker_expect_error){
            x->name,       x->has_client ? sc->clients[x->client].name : NULL,
            x->has_after,  x->after_us,
            x->has_before, x->before_us};
    }
    for (size_t i = 0; i < sc->expect.ndelivered; i++) {
        const sim_expect_delivered *x = &sc->expect.delivered[i];
        const sim_client *c = &sc->clients[x->client];
        a->delivered[cfg->ndelivered++] =
            (sim_checker_expect_delivered){c->name, c->subscribe[x->subscribe].sub_id, x->count};
    }
    cfg->clients = a->clients;
    cfg->subs = a->subs;
    cfg->journaled_topics = a->topics;
    cfg->errors = a->errors;
    cfg->delivered = a->delivered;
    return 0;
}

int sim_checker_new_for_scenario(const sim_scenario *sc, sim_checker **out, char *err,
                                 size_t errcap)
{
    if (!out)
        return FL_E_INVAL;
    *out = NULL;
    if (!sc)
        return FL_E_INVAL;
    sim_checker_config cfg = SIM_CHECKER_CONFIG_INIT;
    cfg.violations = sc->expect.violations & SIM_CHECK_ALL;
    cfg.checks = (sc->expect.has_checks ? sc->expect.checks : SIM_CHECK_ALL) & ~cfg.violations;
    cfg.start_unix_us = sc->start_unix_us;
    cfg.recovery_us = sc->expect.recovery_us;
    scen_cfg a = {0};
    int rc = scen_fill(sc, &cfg, &a);
    if (rc)
        sim_set_err(err, errcap, "out of memory");
    else
        rc = sim_checker_new(&cfg, out, err, errcap);
    scen_cfg_free(&a);
    return rc;
}
