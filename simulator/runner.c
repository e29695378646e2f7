/* The scenario runner (runner.h): topology, the application model around
 * each reference client, the phases of a run, feeding the checkers and the
 * verdict. The fault engine is in faults.c.
 *
 * Design note: the application model.
 *   An application is a node with one fl_client and its stores. Its
 *   publish workloads are feeds (rn_feed): the feed remembers the index of
 *   the next message it has not handed to a client, so after a crash the new
 *   incarnation goes on with exactly that message (overdue ones at once, in
 *   order). A crash kills the node first (sim_node_crash / power_loss) and
 *   then frees the client and closes the stores: every call they make into
 *   the dead incarnation's runtime is a no-op, so nothing of the dead
 *   process reaches the disk or the network. A restart brings the node back,
 *   applies pending corruptions to its files, reopens the stores from the
 *   same directories, builds a new client with the same name, re-enters the
 *   subscriptions whose time has come and resumes the feeds.
 *
 *   The publish store is wrapped (pwrap): every discard_up_to that succeeds
 *   is reported to the checkers as a store discard, which is what ack
 *   honesty needs, whatever store type or plugin is in use.
 */
#include "runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faultline/bookmark.h"
#include "faultline/error.h"
#include "faultline/wire.h"
#include "faults.h"
#include "units.h"
#include "util.h"

#define DEFAULT_TAIL     200
#define DEFAULT_QUIET_US 2000000u
#define DEFAULT_MAX_EV   50000000u
#define LIVENESS_STEP_US 100000u

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

void rn_trace(sim_run *r, const char *node, const char *event, const char *fmt, ...)
{
    char buf[2048];
    buf[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    sim_trace(r->ctx, node, "runner", event, buf);
}

static uint64_t wall_now_us(void)
{
    /* Only for the wall_us figure: never part of the simulation. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void progress(sim_run *r)
{
    r->last_progress_us = sim_now(r->ctx);
}

static int client_index(const sim_run *r, const char *name)
{
    size_t lo = 0, hi = r->sc->nclients;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->sc->clients[mid].name, name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void note_error(sim_run *r, rn_app *a, int code, const char *text)
{
    if (r->nerrors == r->errors_cap) {
        size_t cap = r->errors_cap ? 2 * r->errors_cap : 16;
        sim_run_error *v = realloc(r->errors, cap * sizeof *v);
        if (!v)
            return;
        r->errors = v;
        r->errors_cap = cap;
    }
    r->errors[r->nerrors++] = (sim_run_error){a->idx, code, sim_now(r->ctx)};
    r->fig.errors++;
    char name[64];
    snprintf(name, sizeof name, "%s", fl_err_name(code));
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    rn_trace(r, a->cfg->name, "app_error", "\"err\":\"%s\"", name);
    sim_checker_error(r->chk, sim_now(r->ctx), a->cfg->name, name);
    (void)text;
}

/* ------------------------------------------------------------------ */
/* distinct deliveries: a small open-addressing set per subscription    */

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ULL);
    return sim_splitmix64(&x);
}

static int set_add(rn_key_set *s, uint64_t pub, uint64_t seq)
{
    if (seq == 0)
        seq = UINT64_MAX;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *k = calloc(2 * cap, sizeof *k);
        if (!k)
            return FL_E_NOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->k[2 * i + 1])
                continue;
            size_t j = mix(s->k[2 * i], s->k[2 * i + 1]) & (cap - 1);
            while (k[2 * j + 1])
                j = (j + 1) & (cap - 1);
            k[2 * j] = s->k[2 * i];
            k[2 * j + 1] = s->k[2 * i + 1];
        }
        free(s->k);
        s->k = k;
        s->cap = cap;
    }
    size_t j = mix(pub, seq) & (s->cap - 1);
    while (s->k[2 * j + 1]) {
        if (s->k[2 * j] == pub && s->k[2 * j + 1] == seq)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[2 * j] = pub;
    s->k[2 * j + 1] = seq;
    s->n++;
    return 1;
}

static bool set_has(const rn_key_set *s, uint64_t pub, uint64_t seq)
{
    if (seq == 0)
        seq = UINT64_MAX;
    if (!s->cap)
        return false;
    size_t j = mix(pub, seq) & (s->cap - 1);
    while (s->k[2 * j + 1]) {
        if (s->k[2 * j] == pub && s->k[2 * j + 1] == seq)
            return true;
        j = (j + 1) & (s->cap - 1);
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* application identity of a payload                                  */

/* Index of the client whose publisher id is `pub`, -1 if none. */
static int client_of_pub(const sim_run *r, uint64_t pub)
{
    for (size_t i = 0; i < r->sc->nclients; i++)
        if (r->pub_ids[i] == pub)
            return (int)i;
    return -1;
}

static bool parse_dec(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
    size_t n = 0;
    uint64_t v = 0;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9' && n < 19) {
        v = v * 10 + (uint64_t)(p[*i] - '0');
        (*i)++;
        n++;
    }
    *out = v;
    return n > 0;
}

/* The application identity in a payload of publisher `pub`: the tag
 * "client/w/k;" make_payload wrote (cut short payloads have none). */
static sim_checker_app_msg payload_app(const sim_run *r, uint64_t pub, const uint8_t *p, size_t len)
{
    sim_checker_app_msg app = {false, 0, 0};
    int ci = client_of_pub(r, pub);
    if (ci < 0 || !p)
        return app;
    const char *name = r->sc->clients[ci].name;
    size_t nl = strlen(name), i = nl + 1;
    uint64_t w, k;
    if (len <= nl || memcmp(p, name, nl) != 0 || p[nl] != '/')
        return app;
    if (!parse_dec(p, len, &i, &w) || i >= len || p[i++] != '/' || !parse_dec(p, len, &i, &k) ||
        i >= len || p[i] != ';' || w >= r->sc->clients[ci].npublish)
        return app;
    app = (sim_checker_app_msg){true, (uint32_t)w, k};
    return app;
}

/* ------------------------------------------------------------------ */
/* the publish store wrapper                                            */

static int pw_store(void *self, const fl_pub_msg *msg)
{
    rn_app *a = self;
    return a->pops->store(a->pself, msg);
}

static int pw_discard_up_to(void *self, uint64_t seq)
{
    rn_app *a = self;
    int rc = a->pops->discard_up_to(a->pself, seq);
    if (rc == 0)
        sim_checker_store_discard(a->run->chk, sim_now(a->run->ctx), a->cfg->name, seq);
    return rc;
}

static int pw_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    rn_app *a = self;
    return a->pops->replay(a->pself, fn, arg);
}

static int pw_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    rn_app *a = self;
    return a->pops->replay_one(a->pself, seq, fn, arg);
}

static uint64_t pw_unpersisted_count(void *self)
{
    rn_app *a = self;
    return a->pops->unpersisted_count(a->pself);
}

static uint64_t pw_last_sequence(void *self)
{
    rn_app *a = self;
    return a->pops->last_sequence(a->pself);
}

static uint64_t pw_lowest_unpersisted(void *self)
{
    rn_app *a = self;
    return a->pops->lowest_unpersisted(a->pself);
}

static int pw_flush(void *self)
{
    rn_app *a = self;
    return a->pops->flush(a->pself);
}

static int pw_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    rn_app *a = self;
    return a->pops->list_files ? a->pops->list_files(a->pself, fn, arg) : 0;
}

static const char *pw_last_error(void *self)
{
    rn_app *a = self;
    return a->pops->last_error ? a->pops->last_error(a->pself) : "";
}

static void pw_init(rn_app *a)
{
    a->pwrap = (fl_pubstore_ops){
        .version = FL_STORE_ABI_VERSION,
        .name = a->pops->name,
        .open = NULL,
        .close = NULL,
        .store = pw_store,
        .discard_up_to = pw_discard_up_to,
        .replay = pw_replay,
        .replay_one = pw_replay_one,
        .unpersisted_count = pw_unpersisted_count,
        .last_sequence = pw_last_sequence,
        .lowest_unpersisted = pw_lowest_unpersisted,
        .flush = pw_flush,
        .list_files = pw_list_files,
        .last_error = pw_last_error,
    };
}

/* ------------------------------------------------------------------ */
/* stores                                                               */

static void store_options(const sim_store_cfg *s, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "sync=%s;batch_window=%" PRIu64 ";recovery=%s",
                     sim_scenario_enum_name(SIM_ENUM_SYNC, (int)s->sync), s->batch_window_us,
                     sim_scenario_enum_name(SIM_ENUM_RECOVERY, (int)s->recovery));
    if (s->has_capacity && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, ";capacity=%" PRIu64, s->capacity);
}

/* Resolve the ops of a store configuration (plugins are loaded here). */
static int resolve_pubstore(const sim_store_cfg *s, const fl_pubstore_ops **out, char *err,
                            size_t cap)
{
    if (s->type == SIM_STORE_PLUGIN) {
        const fl_store_plugin *p = fl_store_plugin_load(s->plugin, err, cap);
        if (!p)
            return FL_E_PLUGIN;
        if (!p->pubstore) {
            sim_set_err(err, cap, "plugin %s has no publish store", s->plugin);
            return FL_E_PLUGIN;
        }
        *out = p->pubstore;
        return 0;
    }
    const char *name = sim_scenario_enum_name(SIM_ENUM_STORE_TYPE, (int)s->type);
    *out = fl_pubstore_builtin(name);
    if (!*out && s->type == SIM_STORE_FILE)
        *out = &fl_pubstore_file;
    if (!*out) {
        sim_set_err(err, cap, "publish store type \"%s\" is not available in this build", name);
        return FL_E_UNSUPPORTED;
    }
    return 0;
}

static int resolve_bmstore(const sim_store_cfg *s, const fl_bmstore_ops **out, char *err,
                           size_t cap)
{
    if (s->type == SIM_STORE_PLUGIN) {
        const fl_store_plugin *p = fl_store_plugin_load(s->plugin, err, cap);
        if (!p)
            return FL_E_PLUGIN;
        if (!p->bmstore) {
            sim_set_err(err, cap, "plugin %s has no bookmark store", s->plugin);
            return FL_E_PLUGIN;
        }
        *out = p->bmstore;
        return 0;
    }
    const char *name = sim_scenario_enum_name(SIM_ENUM_STORE_TYPE, (int)s->type);
    *out = fl_bmstore_builtin(name);
    if (!*out && s->type == SIM_STORE_FILE)
        *out = &fl_bmstore_file;
    if (!*out) {
        sim_set_err(err, cap, "bookmark store type \"%s\" is not available in this build", name);
        return FL_E_UNSUPPORTED;
    }
    return 0;
}

static bool needs_bmstore(const sim_client *c)
{
    for (size_t i = 0; i < c->nsubscribe; i++)
        if (c->subscribe[i].bookmark)
            return true;
    return false;
}

/* Open the application's stores on its current runtime. */
static int open_stores(sim_run *r, rn_app *a, char *err, size_t cap)
{
    const fl_runtime *rt = sim_node_runtime(a->node);
    char opts[256];
    fl_store_recovery rec;
    fl_store_env env = {FL_STORE_ABI_VERSION, rt, RN_PUBSTORE_DIR, a->cfg->name, NULL};
    const sim_store_cfg *ps = &a->cfg->publish_store;
    store_options(ps, opts, sizeof opts);
    env.options = ps->type == SIM_STORE_PLUGIN ? ps->options : opts;
    rt->ops->dir_create(rt->self, RN_PUBSTORE_DIR);
    memset(&rec, 0, sizeof rec);
    int rc = a->pops->open(&env, &a->pself, &rec, err, cap);
    if (rc != 0)
        return rc;
    if (rec.records_dropped || rec.bytes_dropped)
        rn_trace(r, a->cfg->name, "store_recovered",
                 "\"store\":\"publish\",\"records_dropped\":%" PRIu64 ",\"bytes_dropped\":%" PRIu64,
                 rec.records_dropped, rec.bytes_dropped);
    pw_init(a);
    if (!a->bops)
        return 0;
    const sim_store_cfg *bs = &a->cfg->bookmark_store;
    store_options(bs, opts, sizeof opts);
    env.dir = RN_BMSTORE_DIR;
    env.options = bs->type == SIM_STORE_PLUGIN ? bs->options : opts;
    rt->ops->dir_create(rt->self, RN_BMSTORE_DIR);
    memset(&rec, 0, sizeof rec);
    rc = a->bops->open(&env, &a->bself, &rec, err, cap);
    if (rc != 0) {
        a->pops->close(a->pself);
        a->pself = NULL;
        return rc;
    }
    if (rec.records_dropped || rec.bytes_dropped)
        rn_trace(r, a->cfg->name, "store_recovered",
                 "\"store\":\"bookmark\",\"records_dropped\":%" PRIu64
                 ",\"bytes_dropped\":%" PRIu64,
                 rec.records_dropped, rec.bytes_dropped);
    return 0;
}

static void close_stores(rn_app *a)
{
    if (a->pself)
        a->pops->close(a->pself);
    if (a->bself)
        a->bops->close(a->bself);
    a->pself = NULL;
    a->bself = NULL;
}

/* ------------------------------------------------------------------ */
/* client callbacks                                                     */

static void session_up(sim_run *r, rn_app *a)
{
    uint64_t now = sim_now(r->ctx);
    if (a->session)
        return;
    a->session = true;
    if (a->ever_session && now - a->lost_us > r->fig.max_outage_us)
        r->fig.max_outage_us = now - a->lost_us;
    a->ever_session = true;
    if (++a->logons > 1)
        r->fig.reconnects++;
    sim_checker_client_logon(r->chk, now, a->cfg->name);
    progress(r);
    rn_trigger(r, SIM_EVENT_LOGON, SIM_TARGET_CLIENT, a->idx);
}

static void session_down(sim_run *r, rn_app *a)
{
    if (!a->session)
        return;
    a->session = false;
    a->lost_us = sim_now(r->ctx);
}

static void cb_state(void *arg, fl_client *c, int state)
{
    rn_app *a = arg;
    if (state == FL_CLIENT_LOGGED_ON)
        session_up(a->run, a);
    else if (state == FL_CLIENT_DISCONNECTED || state == FL_CLIENT_SHUT_DOWN ||
             state == FL_CLIENT_GAVE_UP)
        session_down(a->run, a);
}

static void cb_error(void *arg, fl_client *c, int err, const char *text)
{
    rn_app *a = arg;
    note_error(a->run, a, err, text);
}

static void cb_failed_write(void *arg, fl_client *c, int err, const fl_pub_msg *msg)
{
    rn_app *a = arg;
    sim_checker_failed_write(a->run->chk, sim_now(a->run->ctx), a->cfg->name, msg->sequence, err);
}

static void cb_duplicate(void *arg, fl_client *c, const char *sub_id, const fl_store_bookmark *bm)
{
    rn_app *a = arg;
    a->run->fig.duplicates++;
    sim_checker_msg m = {NULL, bm->publisher, bm->sequence, bm->ts_us};
    sim_checker_duplicate_filtered(a->run->chk, sim_now(a->run->ctx), a->cfg->name, sub_id, &m);
}

static void cb_gap(void *arg, fl_client *c, const fl_gap_info *gap)
{
    rn_app *a = arg;
    a->run->fig.gaps++;
    sim_checker_gap(a->run->chk, sim_now(a->run->ctx), a->cfg->name, gap->sub_id, false, 0, 0);
    if (gap->policy == FL_FALLBACK_FAIL)
        sim_checker_sub_end(a->run->chk, sim_now(a->run->ctx), a->cfg->name, gap->sub_id);
}

static void cb_capacity(void *arg, fl_client *c, int event, uint64_t unpersisted)
{
    (void)arg;
}

static void cb_completed(void *arg, fl_client *c, const char *sub_id)
{
    rn_app *a = arg;
    sim_checker_completed(a->run->chk, sim_now(a->run->ctx), a->cfg->name, sub_id);
}

/* ------------------------------------------------------------------ */
/* subscriptions                                                        */

static void discard_now(sim_run *r, rn_app *a, const fl_message *msg)
{
    uint64_t pub = msg->bookmark.publisher, seq = msg->bookmark.sequence;
    char sub_id[256];
    snprintf(sub_id, sizeof sub_id, "%s", msg->sub_id);
    if (fl_client_discard(a->c, msg) != 0)
        return;
    sim_checker_bookmark_discard(r->chk, sim_now(r->ctx), a->cfg->name, sub_id, pub, seq);
    r->fig.discarded++;
    rn_trigger(r, SIM_EVENT_DISCARD, SIM_TARGET_CLIENT, a->idx);
}

static void discard_event(void *arg)
{
    rn_discard *d = arg;
    rn_app *a = d->app;
    rn_discard **pp = &a->discards;
    while (*pp && *pp != d)
        pp = &(*pp)->next;
    if (*pp)
        *pp = d->next;
    const fl_message *msg = d->msg;
    free(d);
    if (a->c)
        discard_now(a->run, a, msg);
}

static bool never_discard(const sim_subscribe *s, uint64_t k)
{
    size_t lo = 0, hi = s->nnever;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->never[mid] == k)
            return true;
        if (s->never[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void on_message(void *arg, fl_client *c, const fl_message *msg)
{
    rn_sub *s = arg;
    rn_app *a = s->app;
    sim_run *r = a->run;
    const sim_subscribe *cfg = &a->cfg->subscribe[s->s];
    uint64_t pub = msg->bookmark.publisher, seq = msg->bookmark.sequence;
    r->fig.delivered++;
    /* `never` indices count distinct messages: a redelivered "never"
     * message stays undiscarded */
    bool never = false;
    if (set_add(&s->seen, pub, seq) == 1) {
        uint64_t k = s->distinct++;
        never = cfg->discard == SIM_DISCARD_NEVER && never_discard(cfg, k);
        if (never)
            set_add(&s->never_msgs, pub, seq);
    } else {
        never = cfg->discard == SIM_DISCARD_NEVER && set_has(&s->never_msgs, pub, seq);
    }
    progress(r);
    sim_checker_msg m = {msg->topic, pub, seq, msg->bookmark.ts_us};
    sim_checker_app_msg app = payload_app(r, pub, msg->payload, msg->payload_len);
    sim_checker_delivery_app(r->chk, sim_now(r->ctx), a->cfg->name, cfg->sub_id, &m, &app);
    rn_trigger(r, SIM_EVENT_DELIVERY, SIM_TARGET_CLIENT, a->idx);
    if (never)
        return;
    if (cfg->discard != SIM_DISCARD_DELAY) {
        discard_now(r, a, msg);
        return;
    }
    rn_discard *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->app = a;
    d->msg = msg;
    /* Application events are the node's own: they wait while it is blocked
     * in a slow fsync (slow_sync), like its timers. */
    if (sim_schedule_for_node(r->ctx, a->node, sim_now(r->ctx) + cfg->discard_delay_us,
                              discard_event, d, &d->ev) != 0) {
        free(d);
        return;
    }
    d->next = a->discards;
    a->discards = d;
}

static void subscribe_now(sim_run *r, rn_app *a, rn_sub *s)
{
    const sim_subscribe *cfg = &a->cfg->subscribe[s->s];
    fl_sub_options o = FL_SUB_OPTIONS_INIT;
    o.topic = cfg->topic;
    o.sub_id = cfg->sub_id;
    o.bookmark = cfg->bookmark;
    if (cfg->bookmark && (cfg->bookmark[0] == '[' || cfg->bookmark[0] == '('))
        o.options = FL_SUB_COMPLETED;
    o.max_pending = cfg->has_max_pending ? (uint32_t)cfg->max_pending : 0;
    o.replay_fallback = cfg->replay_fallback == SIM_FALLBACK_EPOCH ? FL_FALLBACK_EPOCH
                        : cfg->replay_fallback == SIM_FALLBACK_NOW ? FL_FALLBACK_NOW
                                                                   : FL_FALLBACK_FAIL;
    o.fn = on_message;
    o.arg = s;
    int rc = fl_client_subscribe(a->c, &o);
    if (rc != 0)
        note_error(r, a, rc, "subscribe refused by the client");
    else
        sim_checker_sub_subscribed(r->chk, sim_now(r->ctx), a->cfg->name, cfg->sub_id);
}

static void sub_start_event(void *arg)
{
    rn_sub *s = arg;
    s->started = true;
    if (s->app->c && !s->stopped)
        subscribe_now(s->app->run, s->app, s);
}

static void sub_stop_event(void *arg)
{
    rn_sub *s = arg;
    s->stopped = true;
    const char *sub_id = s->app->cfg->subscribe[s->s].sub_id;
    if (s->app->c && s->started)
        fl_client_unsubscribe(s->app->c, sub_id);
    if (s->started)
        sim_checker_sub_end(s->app->run->chk, sim_now(s->app->run->ctx), s->app->cfg->name, sub_id);
}

/* ------------------------------------------------------------------ */
/* flushes                                                              */

static void flush_done(void *arg, fl_client *c, int result)
{
    rn_app *a = arg;
    rn_trace(a->run, a->cfg->name, "flush_done", "\"result\":\"%s\"", fl_err_name(result));
    if (result == FL_E_TIMEOUT)
        note_error(a->run, a, result, "publish_flush timed out");
}

static void flush_event(void *arg)
{
    rn_flush *f = arg;
    rn_app *a = f->app;
    if (!a->c)
        return;
    int rc = fl_client_publish_flush(a->c, a->cfg->flush[f->i].timeout_us, flush_done, a);
    if (rc != 0)
        note_error(a->run, a, rc, "publish_flush refused");
}

/* ------------------------------------------------------------------ */
/* publish feeds                                                        */

static uint64_t feed_due(const sim_publish *p, uint64_t k)
{
    if (p->nat)
        return p->at_us[k];
    uint64_t off = sim_rate_offset_us(p->rate, k);
    return p->start_us > UINT64_MAX - off ? UINT64_MAX : p->start_us + off;
}

/* Messages of the workload due by the end of the workload phase. */
static uint64_t feed_total(const sim_publish *p, uint64_t duration_us)
{
    uint64_t n = p->nat ? p->nat : p->count;
    uint64_t k = 0;
    if (p->nat) {
        while (k < n && p->at_us[k] <= duration_us)
            k++;
        return k;
    }
    uint64_t lo = 0, hi = n; /* first index due after the duration */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (feed_due(p, mid) <= duration_us)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Message k of workload w of a client: `size` bytes, a readable tag
 * "client/w/k;" then bytes derived from (client, w, k). */
static const uint8_t *make_payload(sim_run *r, rn_app *a, size_t w, uint64_t k, size_t size)
{
    if (size > r->payload_cap) {
        uint8_t *p = realloc(r->payload, size);
        if (!p)
            return NULL;
        r->payload = p;
        r->payload_cap = size;
    }
    char tag[128];
    int n = snprintf(tag, sizeof tag, "%s/%zu/%" PRIu64 ";", a->cfg->name, w, k);
    size_t tl = n > 0 ? (size_t)n : 0;
    if (tl > size)
        tl = size;
    memcpy(r->payload, tag, tl);
    uint64_t x = fl_publisher_id(a->cfg->name, strlen(a->cfg->name)) ^ ((uint64_t)w << 48) ^ k;
    for (size_t i = tl; i < size; i += 8) {
        uint64_t v = sim_splitmix64(&x);
        for (size_t b = 0; b < 8 && i + b < size; b++)
            r->payload[i + b] = (uint8_t)('a' + (v >> (8 * b)) % 26);
    }
    return r->payload;
}

static void feed_event(void *arg);

static void restart_event(void *arg)
{
    rn_app *a = arg;
    a->restart_ev = 0;
    rn_app_restart(a->run, a);
}

/* A store handle the application cannot go on with (a failed sync poisons
 * it): the application exits and its supervisor starts it again, which
 * reopens and recovers the store. Runs from a top-level event only. */
static void app_exit_restart(sim_run *r, rn_app *a, int why)
{
    rn_trace(r, a->cfg->name, "app_exit", "\"reason\":\"%s\"", fl_err_name(why));
    note_error(r, a, why, "fatal store error: the application restarts");
    if (rn_app_crash(r, a, false, RN_RETRY_US))
        sim_schedule(r->ctx, RN_RETRY_US, restart_event, a, &a->restart_ev);
}

static void feed_schedule(sim_run *r, rn_feed *f, uint64_t delay_us)
{
    if (f->ev || f->next >= f->total || !f->app->c)
        return;
    const sim_publish *p = &f->app->cfg->publish[f->w];
    uint64_t due = feed_due(p, f->next);
    uint64_t now = sim_now(r->ctx);
    uint64_t t = due > now + delay_us ? due : now + delay_us;
    sim_schedule_for_node(r->ctx, f->app->node, t, feed_event, f, &f->ev);
}

static void feed_event(void *arg)
{
    rn_feed *f = arg;
    rn_app *a = f->app;
    sim_run *r = a->run;
    f->ev = 0;
    if (!a->c || f->next >= f->total)
        return;
    const sim_publish *p = &a->cfg->publish[f->w];
    const uint8_t *payload = make_payload(r, a, f->w, f->next, (size_t)p->size);
    if (!payload && p->size)
        return;
    uint64_t seq = 0;
    int rc = fl_client_publish(a->c, p->topic, payload, (size_t)p->size, &seq);
    r->fig.published++;
    if (rc != 0)
        rn_trace(r, a->cfg->name, "publish_refused", "\"err\":\"%s\"", fl_err_name(rc));
    if (rc == FL_E_SYNC_FAILED) {
        /* Outcome unknown: a failed sync does not undo the write, so the
         * store may hold the message and republish it after the restart.
         * The restarted application looks before handing it again
         * (resolve_unsure): the idempotent producer. */
        f->unsure = true;
        app_exit_restart(r, a, rc);
        return;
    }
    sim_checker_app_msg app = {true, (uint32_t)f->w, f->next};
    sim_checker_publish_app(r->chk, sim_now(r->ctx), a->cfg->name, p->topic, seq, rc, &app);
    if (rc == FL_E_FULL || rc == FL_E_DISCONNECTED || rc == FL_E_STATE || rc == FL_E_IO ||
        rc == FL_E_NOSPC) {
        r->fig.refused++;
        feed_schedule(r, f, RN_RETRY_US);
        return;
    }
    if (rc != 0) {
        r->fig.refused++;
        note_error(r, a, rc, "publish refused");
        f->next++;
        feed_schedule(r, f, 0);
        return;
    }
    r->fig.accepted++;
    progress(r);
    f->next++;
    rn_trigger(r, SIM_EVENT_PUBLISH, SIM_TARGET_CLIENT, a->idx);
    feed_schedule(r, f, 0);
}

/* ------------------------------------------------------------------ */
/* application lifetime                                                 */

static int make_delay(const fl_runtime *rt, const sim_delay_cfg *d, fl_delay *out)
{
    if (d->type == SIM_DELAY_FIXED) {
        fl_delay_fixed_options o = FL_DELAY_FIXED_OPTIONS_INIT;
        o.delay_us = d->delay_us;
        o.max_total_us = d->has_max_retry ? d->max_retry_us : 0;
        return fl_delay_fixed_new(rt, &o, out);
    }
    fl_delay_exp_options o = FL_DELAY_EXP_OPTIONS_INIT;
    o.initial_us = d->initial_us;
    o.exponent = d->exponent;
    o.max_us = d->max_us;
    o.max_total_us = d->has_max_retry ? d->max_retry_us : 0;
    o.jitter = d->jitter;
    return fl_delay_exponential_new(rt, &o, out);
}

static int configure_client(sim_run *r, rn_app *a, const fl_runtime *rt)
{
    const sim_client *cfg = a->cfg;
    fl_chooser ch;
    int rc = fl_chooser_default_new(&ch);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < cfg->nservers && rc == 0; i++)
        rc = fl_chooser_default_add(&ch, r->sc->brokers[cfg->servers[i]].name, cfg->password);
    if (rc == 0)
        rc = fl_client_set_chooser(a->c, &ch);
    if (rc != 0) {
        fl_chooser_free(&ch);
        return rc;
    }
    fl_delay d;
    rc = make_delay(rt, &cfg->delay, &d);
    if (rc != 0)
        return rc;
    rc = fl_client_set_delay(a->c, &d);
    if (rc != 0) {
        fl_delay_free(&d);
        return rc;
    }
    rc = fl_client_set_publish_store(a->c, &a->pwrap, a);
    if (rc == 0 && a->bself)
        rc = fl_client_set_bookmark_store(a->c, a->bops, a->bself);
    return rc;
}

typedef struct find_tag {
    const sim_run *r;
    uint64_t pub;
    uint32_t w;
    uint64_t k;
    bool found;
    uint64_t seq;
} find_tag;

static int find_tag_fn(void *arg, const fl_pub_msg *m)
{
    find_tag *ft = arg;
    sim_checker_app_msg app = payload_app(ft->r, ft->pub, m->payload, m->payload_len);
    if (!app.valid || app.workload != ft->w || app.index != ft->k)
        return 0;
    ft->found = true;
    ft->seq = m->sequence;
    return 1;
}

/* Tell the checker (and the figures) how a publish with an unknown outcome
 * ended: stored under `seq`, or not (seq 0). */
static void settle_unsure(sim_run *r, rn_app *a, rn_feed *f, bool stored, uint64_t seq)
{
    const sim_publish *p = &a->cfg->publish[f->w];
    sim_checker_app_msg app = {true, (uint32_t)f->w, f->next};
    sim_checker_publish_app(r->chk, sim_now(r->ctx), a->cfg->name, p->topic, seq,
                            stored ? 0 : FL_E_SYNC_FAILED, &app);
    rn_trace(r, a->cfg->name, "publish_outcome",
             "\"workload\":%zu,\"index\":%" PRIu64 ",\"stored\":%s,\"seq\":%" PRIu64, f->w, f->next,
             stored ? "true" : "false", seq);
    f->unsure = false;
    if (!stored) {
        r->fig.refused++;
        return;
    }
    r->fig.accepted++;
    f->next++;
    progress(r);
}

/* After a publish refused with FL_E_SYNC_FAILED the application cannot know
 * whether the store kept the message. Right after reopening the store it
 * looks for the message's tag: found, the message counts as accepted under
 * the stored sequence (the client republishes it); not found, it is handed
 * again. Handing it again blindly would publish it twice under two
 * sequences. */
static void resolve_unsure(sim_run *r, rn_app *a)
{
    for (size_t i = 0; i < a->cfg->npublish; i++) {
        rn_feed *f = &a->feeds[i];
        if (!f->unsure)
            continue;
        find_tag ft = {r, r->pub_ids[a->idx], (uint32_t)f->w, f->next, false, 0};
        int rc = a->pops->replay(a->pself, find_tag_fn, &ft);
        if (rc != 0)
            rn_trace(r, a->cfg->name, "publish_outcome_unknown", "\"err\":\"%s\"", fl_err_name(rc));
        settle_unsure(r, a, f, rc == 0 && ft.found, ft.found ? ft.seq : 0);
    }
}

/* The sequences a replay met, as ascending runs. */
typedef struct kept_runs {
    sim_checker_seq_range *v;
    size_t n, cap;
    int rc;
} kept_runs;

static int kept_fn(void *arg, const fl_pub_msg *m)
{
    kept_runs *k = arg;
    uint64_t s = m->sequence;
    if (k->n > 0 && k->v[k->n - 1].hi != UINT64_MAX && s == k->v[k->n - 1].hi + 1) {
        k->v[k->n - 1].hi = s;
        return 0;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        sim_checker_seq_range *v = realloc(k->v, cap * sizeof *v);
        if (!v) {
            k->rc = FL_E_NOMEM;
            return 1;
        }
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = (sim_checker_seq_range){s, s};
    return 0;
}

/* Tell the checker what the reopened publish store kept: a message the
 * client accepted and had not discarded before the crash but the store
 * no longer holds was lost from it (a memory store, or sync none/batch at
 * a power loss), not discarded on an ack. */
static void report_store_kept(sim_run *r, rn_app *a)
{
    kept_runs k = {NULL, 0, 0, 0};
    int rc = a->pops->replay(a->pself, kept_fn, &k);
    if (rc == 0)
        rc = k.rc;
    if (rc == 0)
        rc = sim_checker_store_reopened(r->chk, sim_now(r->ctx), a->cfg->name, k.v, k.n);
    if (rc != 0)
        rn_trace(r, a->cfg->name, "store_kept_unknown", "\"err\":\"%s\"", fl_err_name(rc));
    free(k.v);
}

/* Start (or restart) the application on its node's current incarnation. */
static int app_start(sim_run *r, rn_app *a, char *err, size_t cap)
{
    const fl_runtime *rt = sim_node_runtime(a->node);
    char detail[256] = "";
    int rc = open_stores(r, a, detail, sizeof detail);
    if (rc != 0) {
        sim_set_err(err, cap, "client %s: cannot open its stores: %s", a->cfg->name, detail);
        return rc;
    }
    report_store_kept(r, a);
    resolve_unsure(r, a);
    fl_client_options o = FL_CLIENT_OPTIONS_INIT;
    o.heartbeat_us = a->cfg->has_heartbeat ? a->cfg->hb_interval_us : 0;
    o.idle_timeout_us = a->cfg->has_heartbeat ? a->cfg->hb_idle_timeout_us : 0;
    o.connection_timeout_us = a->cfg->has_connection_timeout ? a->cfg->connection_timeout_us : 0;
    o.cb = (fl_client_callbacks){a,      cb_state,    cb_error,    cb_failed_write, cb_duplicate,
                                 cb_gap, cb_capacity, cb_completed};
    rc = fl_client_new(rt, a->cfg->name, &o, &a->c);
    if (rc == 0)
        rc = configure_client(r, a, rt);
    if (rc != 0) {
        sim_set_err(err, cap, "client %s: setup failed: %s", a->cfg->name, fl_strerror(rc));
        fl_client_free(a->c);
        a->c = NULL;
        close_stores(a);
        return rc;
    }
    a->logons = 0;
    for (size_t i = 0; i < a->cfg->nsubscribe; i++)
        if (a->subs[i].started && !a->subs[i].stopped)
            subscribe_now(r, a, &a->subs[i]);
    rc = fl_client_connect(a->c);
    if (rc != 0)
        note_error(r, a, rc, "connect refused");
    for (size_t i = 0; i < a->cfg->npublish; i++)
        feed_schedule(r, &a->feeds[i], 0);
    return 0;
}

bool rn_app_crash(sim_run *r, rn_app *a, bool power_loss, uint64_t restart_after_us)
{
    if (a->down)
        return false;
    (void)restart_after_us;
    for (size_t i = 0; i < a->cfg->npublish; i++) {
        sim_cancel(r->ctx, a->feeds[i].ev);
        a->feeds[i].ev = 0;
    }
    while (a->discards) {
        rn_discard *d = a->discards;
        a->discards = d->next;
        sim_cancel(r->ctx, d->ev);
        free(d);
    }
    session_down(r, a);
    if (power_loss)
        sim_node_power_loss(a->node);
    else
        sim_node_crash(a->node);
    /* The node is dead: these calls reach only no-op runtime entries. */
    fl_client_free(a->c);
    a->c = NULL;
    close_stores(a);
    a->down = true;
    sim_checker_client_crash(r->chk, sim_now(r->ctx), a->cfg->name, power_loss);
    return true;
}

void rn_app_restart(sim_run *r, rn_app *a)
{
    if (!a->down)
        return;
    if (sim_node_restart(a->node) != 0)
        return;
    a->down = false;
    r->fig.client_restarts++;
    rn_faults_apply_corruptions(r, SIM_TARGET_CLIENT, a->idx);
    sim_checker_client_restart(r->chk, sim_now(r->ctx), a->cfg->name);
    char err[512];
    int rc = app_start(r, a, err, sizeof err);
    if (rc != 0) {
        rn_trace(r, a->cfg->name, "app_start_failed", "\"err\":\"%s\"", fl_err_name(rc));
        note_error(r, a, rc, err);
    }
}

/* ------------------------------------------------------------------ */
/* brokers                                                              */

/* --- glue to the simulated broker (runner_broker.h) --- */

static void broker_event(void *arg, sim_broker_event ev, const char *client, uint64_t value)
{
    rn_broker *b = arg;
    sim_run *r = b->run;
    switch (ev) {
    case SIM_BROKER_EV_JOURNAL_WRITE:
        rn_trigger(r, SIM_EVENT_JOURNAL_WRITE, SIM_TARGET_BROKER, b->idx);
        break;
    case SIM_BROKER_EV_JOURNAL_SYNC:
        rn_trigger(r, SIM_EVENT_JOURNAL_SYNC, SIM_TARGET_BROKER, b->idx);
        break;
    case SIM_BROKER_EV_LOGON:
        rn_trigger(r, SIM_EVENT_LOGON, SIM_TARGET_BROKER, b->idx);
        break;
    case SIM_BROKER_EV_REPLICATION:
        rn_trigger(r, SIM_EVENT_REPLICATION, SIM_TARGET_BROKER, b->idx);
        break;
    default:
        break;
    }
}

static int broker_glue_start(sim_run *r, rn_broker *b, char *err, size_t cap)
{
    rn_broker_config bc;
    int rc = rn_broker_config_init(&bc, r->sc, b->cfg);
    if (rc == 0) {
        bc.cfg.journal_dir = RN_JOURNAL_DIR;
        rc = rn_broker_new(b->node, &bc.cfg, broker_event, b, &b->b, err, cap);
    }
    rn_broker_config_release(&bc);
    return rc;
}

static void broker_glue_abandon(sim_run *r, rn_broker *b)
{
    (void)r;
    rn_broker_abandon(b->b);
    b->b = NULL;
}

static void broker_glue_free(sim_run *r, rn_broker *b)
{
    (void)r;
    rn_broker_free(b->b);
    b->b = NULL;
}

/* --- the journal ledger (faults.h) --- */

static rn_lpub *ledger_pub(rn_ledger *l, uint64_t pub, bool create)
{
    for (size_t i = 0; i < l->npubs; i++)
        if (l->pubs[i].pub == pub)
            return &l->pubs[i];
    if (!create)
        return NULL;
    if (l->npubs == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        rn_lpub *v = realloc(l->pubs, cap * sizeof *v);
        if (!v)
            return NULL;
        l->pubs = v;
        l->cap = cap;
    }
    l->pubs[l->npubs] = (rn_lpub){pub, NULL, 0, 0, 0};
    return &l->pubs[l->npubs++];
}

/* Forget the entries recovery dropped: record numbers from `recno` on. */
static void ledger_cut_recno(rn_ledger *l, uint64_t recno)
{
    for (size_t i = 0; i < l->npubs; i++) {
        rn_lpub *p = &l->pubs[i];
        while (p->n > 0 && p->v[p->n - 1].recno >= recno)
            p->n--;
        if (p->nexp > p->n)
            p->nexp = p->n;
    }
}

static void ledger_add(sim_run *r, rn_broker *b, const rn_journaled *m)
{
    rn_ledger *l = &b->ledger;
    if (m->recno <= l->last_recno)
        ledger_cut_recno(l, m->recno);
    l->last_recno = m->recno;
    rn_lpub *p = ledger_pub(l, m->publisher, true);
    if (!p)
        return;
    while (p->n > 0 && p->v[p->n - 1].seq >= m->seq) /* re-logged after a recovery */
        p->n--;
    if (p->nexp > p->n)
        p->nexp = p->n;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        rn_lent *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return;
        p->v = v;
        p->cap = cap;
    }
    size_t t = 0;
    while (t + 1 < b->cfg->ntopics && strcmp(b->cfg->topics[t].name, m->topic) != 0)
        t++;
    p->v[p->n++] =
        (rn_lent){m->seq,     m->recno, m->ts_us,
                  UINT64_MAX, t,        payload_app(r, m->publisher, m->payload, m->payload_len)};
}

/* Retention removed every record below first_recno, now. */
static void ledger_expire(rn_ledger *l, uint64_t first_recno, uint64_t now)
{
    for (size_t i = 0; i < l->npubs; i++) {
        rn_lpub *p = &l->pubs[i];
        while (p->nexp < p->n && p->v[p->nexp].recno < first_recno)
            p->v[p->nexp++].expired_us = now;
    }
}

static const rn_lent *ledger_find(const rn_ledger *l, uint64_t pub, uint64_t seq)
{
    const rn_lpub *p = ledger_pub((rn_ledger *)l, pub, false);
    size_t lo = 0, hi = p ? p->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return p && lo < p->n && p->v[lo].seq == seq ? &p->v[lo] : NULL;
}

static void ledger_free(rn_ledger *l)
{
    for (size_t i = 0; i < l->npubs; i++)
        free(l->pubs[i].v);
    free(l->pubs);
    memset(l, 0, sizeof *l);
}

static void on_journaled(void *arg, const rn_journaled *m)
{
    rn_broker *b = arg;
    ledger_add(b->run, b, m);
}

/* The journal's `retention` trace of broker `name` (history observer). */
static void observe_retention(sim_run *r, const sim_history_event *ev)
{
    const char *f = strstr(ev->fields_json, "\"first_recno\":");
    if (!f)
        return;
    uint64_t first = strtoull(f + strlen("\"first_recno\":"), NULL, 10);
    for (size_t i = 0; i < r->sc->nbrokers; i++)
        if (r->brokers[i].ledger.on && strcmp(r->brokers[i].cfg->name, ev->node) == 0)
            ledger_expire(&r->brokers[i].ledger, first, ev->t_us);
}

typedef struct truth_arg {
    sim_run *r;
    const char *broker;
} truth_arg;

static void truth_message(void *arg, const rn_journaled *m)
{
    truth_arg *t = arg;
    sim_checker_app_msg app = payload_app(t->r, m->publisher, m->payload, m->payload_len);
    sim_checker_journal_message_app(t->r->chk, t->broker, m->topic, m->publisher, m->seq, m->ts_us,
                                    &app);
}

static void broker_glue_ground_truth(sim_run *r, rn_broker *b)
{
    truth_arg t = {r, b->cfg->name};
    rn_broker_ground_truth(b->b, truth_message, &t);
    for (size_t i = 0; i < r->sc->nclients; i++) {
        uint64_t p = fl_publisher_id(r->sc->clients[i].name, strlen(r->sc->clients[i].name));
        uint64_t hi = rn_broker_highest_expired(b->b, p);
        for (uint64_t s = 1; s <= hi; s++) {
            if (rn_broker_holds(b->b, p, s))
                continue;
            const rn_lent *e = ledger_find(&b->ledger, p, s);
            sim_checker_expired_msg x = {NULL, p, s, FL_BM_NO_TS, false, 0, NULL};
            if (e) {
                x.topic = b->cfg->topics[e->topic].name;
                x.ts_us = e->ts_us;
                x.has_expired_at = e->expired_us != UINT64_MAX;
                x.expired_us = e->expired_us;
                x.app = &e->app;
            }
            sim_checker_journal_expired_msg(r->chk, b->cfg->name, &x);
        }
    }
}

static int broker_start(sim_run *r, rn_broker *b, char *err, size_t cap)
{
    int rc = broker_glue_start(r, b, err, cap);
    b->ledger.on = b->cfg->journal.has_retention && b->cfg->journal.retention_us > 0;
    if (rc == 0 && b->ledger.on)
        rn_broker_on_journaled(b->b, on_journaled, b);
    return rc;
}

bool rn_broker_crash(sim_run *r, rn_broker *b, bool power_loss, uint64_t down_for_us)
{
    (void)down_for_us;
    if (!b->b && !sim_node_alive(b->node))
        return false;
    if (power_loss)
        sim_node_power_loss(b->node);
    else
        sim_node_crash(b->node);
    broker_glue_abandon(r, b);
    return true;
}

void rn_broker_restart(sim_run *r, rn_broker *b)
{
    if (b->gone || b->b)
        return;
    if (sim_node_restart(b->node) != 0)
        return;
    r->fig.broker_restarts++;
    rn_faults_apply_corruptions(r, SIM_TARGET_BROKER, b->idx);
    char err[512];
    int rc = broker_start(r, b, err, sizeof err);
    if (rc != 0)
        rn_trace(r, b->cfg->name, "broker_start_failed", "\"err\":\"%s\"", fl_err_name(rc));
}

/* ------------------------------------------------------------------ */
/* history observer: trigger events the client and broker trace         */

static void observe(void *arg, const sim_history_event *ev)
{
    sim_run *r = arg;
    if (strcmp(ev->source, "journal") == 0 && strcmp(ev->event, "retention") == 0)
        observe_retention(r, ev);
    if (strcmp(ev->source, "client") != 0)
        return;
    int ci = client_index(r, ev->node);
    if (ci < 0)
        return;
    if (strcmp(ev->event, "persisted_ack") == 0) {
        r->fig.persisted_acks++;
        progress(r);
        rn_trigger(r, SIM_EVENT_PERSISTED_ACK, SIM_TARGET_CLIENT, (size_t)ci);
    } else if (strcmp(ev->event, "reconnect_attempt") == 0) {
        rn_trigger(r, SIM_EVENT_RECONNECT_ATTEMPT, SIM_TARGET_CLIENT, (size_t)ci);
    }
}

/* ------------------------------------------------------------------ */
/* building the run                                                     */

static sim_link_params link_of(const sim_client *c)
{
    sim_link_params p = SIM_LINK_PARAMS_DEFAULT;
    p.latency_us = c->link_latency_us;
    p.jitter_us = c->link_jitter_us;
    if (c->has_bandwidth && c->bandwidth.per_us > 0) {
        unsigned __int128 bps =
            (unsigned __int128)c->bandwidth.num * 1000000u / c->bandwidth.per_us;
        p.bandwidth_bps = bps > UINT64_MAX ? UINT64_MAX : (uint64_t)bps;
        if (p.bandwidth_bps == 0)
            p.bandwidth_bps = 1;
    }
    return p;
}

static int build_nodes(sim_run *r, char *err, size_t cap)
{
    const sim_scenario *sc = r->sc;
    for (size_t i = 0; i < sc->nbrokers; i++) {
        rn_broker *b = &r->brokers[i];
        b->run = r;
        b->idx = i;
        b->cfg = &sc->brokers[i];
        int rc = sim_node_new(r->ctx, b->cfg->name, &b->node);
        if (rc != 0) {
            sim_set_err(err, cap, "broker %s: cannot create its node: %s", b->cfg->name,
                        fl_strerror(rc));
            return rc;
        }
    }
    for (size_t i = 0; i < sc->nclients; i++) {
        rn_app *a = &r->apps[i];
        a->run = r;
        a->idx = i;
        a->cfg = &sc->clients[i];
        int rc = sim_node_new(r->ctx, a->cfg->name, &a->node);
        if (rc != 0) {
            sim_set_err(err, cap, "client %s: cannot create its node: %s%s", a->cfg->name,
                        fl_strerror(rc), rc == FL_E_EXIST ? " (a broker has the same name)" : "");
            return rc;
        }
        sim_link_params p = link_of(a->cfg);
        for (size_t j = 0; j < sc->nbrokers; j++)
            sim_net_set_link(sim_ctx_net(r->ctx), a->cfg->name, sc->brokers[j].name, &p, &p);
    }
    return 0;
}

static int build_apps(sim_run *r, char *err, size_t cap)
{
    const sim_scenario *sc = r->sc;
    for (size_t i = 0; i < sc->nclients; i++) {
        rn_app *a = &r->apps[i];
        const sim_client *c = a->cfg;
        int rc = resolve_pubstore(&c->publish_store, &a->pops, err, cap);
        if (rc == 0 && needs_bmstore(c))
            rc = resolve_bmstore(&c->bookmark_store, &a->bops, err, cap);
        if (rc != 0)
            return rc;
        a->feeds = calloc(c->npublish + 1, sizeof *a->feeds);
        a->subs = calloc(c->nsubscribe + 1, sizeof *a->subs);
        a->flushes = calloc(c->nflush + 1, sizeof *a->flushes);
        if (!a->feeds || !a->subs || !a->flushes)
            return FL_E_NOMEM;
        for (size_t w = 0; w < c->npublish; w++)
            a->feeds[w] = (rn_feed){a, w, 0, feed_total(&c->publish[w], sc->duration_us), 0, false};
        for (size_t s = 0; s < c->nsubscribe; s++) {
            rn_sub *sub = &a->subs[s];
            sub->app = a;
            sub->s = s;
            sub->started = c->subscribe[s].start_us == 0;
            if (!sub->started)
                sim_schedule_for_node(r->ctx, a->node, c->subscribe[s].start_us, sub_start_event,
                                      sub, NULL);
            if (c->subscribe[s].has_stop)
                sim_schedule_for_node(r->ctx, a->node, c->subscribe[s].stop_us, sub_stop_event, sub,
                                      NULL);
        }
        for (size_t f = 0; f < c->nflush; f++) {
            a->flushes[f] = (rn_flush){a, f};
            sim_schedule_for_node(r->ctx, a->node, c->flush[f].at_us, flush_event, &a->flushes[f],
                                  NULL);
        }
    }
    for (size_t i = 0; i < sc->nclients; i++) {
        int rc = app_start(r, &r->apps[i], err, cap);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int build(sim_run *r, char *err, size_t cap)
{
    const sim_scenario *sc = r->sc;
    sim_ctx_options co = SIM_CTX_OPTIONS_INIT;
    co.seed = r->seed;
    co.start_utc_us = (uint64_t)sc->start_unix_us;
    co.history_tail = r->opts.history_tail ? r->opts.history_tail : DEFAULT_TAIL;
    r->ctx = sim_ctx_new(&co);
    r->apps = calloc(sc->nclients + 1, sizeof *r->apps);
    r->brokers = calloc(sc->nbrokers + 1, sizeof *r->brokers);
    r->faults = calloc(sc->nfaults + 1, sizeof *r->faults);
    r->pub_ids = calloc(sc->nclients + 1, sizeof *r->pub_ids);
    if (!r->ctx || !r->apps || !r->brokers || !r->faults || !r->pub_ids)
        return FL_E_NOMEM;
    for (size_t i = 0; i < sc->nclients; i++)
        r->pub_ids[i] = fl_publisher_id(sc->clients[i].name, strlen(sc->clients[i].name));
    for (size_t i = 0; i < sc->nfaults; i++) {
        r->faults[i].run = r;
        r->faults[i].f = &sc->faults[i];
        r->faults[i].pub.index = i;
    }
    sim_history *h = sim_ctx_history(r->ctx);
    if (r->opts.history_sink)
        sim_history_set_sink(h, r->opts.history_sink);
    int rc = sim_checker_new_for_scenario(r->sc, &r->chk, err, cap);
    if (rc == 0)
        rc = sim_history_observe(h, observe, r);
    if (rc == 0 && r->opts.observe)
        rc = sim_history_observe(h, r->opts.observe, r->opts.observe_arg);
    if (rc == 0)
        rc = build_nodes(r, err, cap);
    if (rc != 0)
        return rc;
    rn_faults_observe_disks(r);
    rc = rn_faults_start(r);
    for (size_t i = 0; i < sc->nbrokers && rc == 0; i++) {
        rn_broker *b = &r->brokers[i];
        if (b->cfg->down)
            sim_node_crash(b->node);
        else
            rc = broker_start(r, b, err, cap);
    }
    if (rc == 0)
        rc = build_apps(r, err, cap);
    return rc;
}

/* ------------------------------------------------------------------ */
/* phases                                                               */

static bool converged(sim_run *r, uint64_t quiet_us)
{
    for (size_t i = 0; i < r->sc->nfaults; i++)
        if (r->faults[i].active)
            return false;
    for (size_t i = 0; i < r->sc->nclients; i++) {
        rn_app *a = &r->apps[i];
        if (a->down || !a->c || !a->session)
            return false;
        for (size_t w = 0; w < a->cfg->npublish; w++)
            if (a->feeds[w].next < a->feeds[w].total)
                return false;
        if (a->cfg->npublish > 0 && fl_client_unpersisted_count(a->c) > 0)
            return false;
    }
    return sim_now(r->ctx) - r->last_progress_us >= quiet_us;
}

static void run_phases(sim_run *r)
{
    const sim_scenario *sc = r->sc;
    uint64_t max_ev = r->opts.max_events ? r->opts.max_events : DEFAULT_MAX_EV;
    uint64_t quiet = r->opts.quiet_us ? r->opts.quiet_us : DEFAULT_QUIET_US;
    /* workload phase, in slices so a runaway run stops at max_events */
    while (sim_now(r->ctx) < sc->duration_us && sim_events_run(r->ctx) < max_ev) {
        uint64_t next = sim_now(r->ctx) + LIVENESS_STEP_US * 10;
        sim_run_until(r->ctx, next < sc->duration_us ? next : sc->duration_us);
    }
    sim_run_until(r->ctx, sc->duration_us);
    r->fig.liveness_start_us = sim_now(r->ctx);
    rn_trace(r, NULL, "liveness_phase", NULL);
    rn_faults_heal_all(r);
    for (;;) {
        uint64_t now = sim_now(r->ctx);
        uint64_t base =
            r->fig.last_heal_us > sc->duration_us ? r->fig.last_heal_us : sc->duration_us;
        uint64_t deadline = base + sc->expect.recovery_us;
        if (converged(r, quiet)) {
            r->fig.converged = true;
            r->fig.converged_us = r->last_progress_us;
            break;
        }
        if (now >= deadline || sim_events_run(r->ctx) >= max_ev)
            break;
        uint64_t step = now + LIVENESS_STEP_US;
        sim_run_until(r->ctx, step < deadline ? step : deadline);
    }
    rn_trace(r, NULL, "run_end", "\"converged\":%s", r->fig.converged ? "true" : "false");
}

static void feed_ground_truth(sim_run *r)
{
    for (size_t i = 0; i < r->sc->nbrokers; i++) {
        rn_broker *b = &r->brokers[i];
        if (b->gone || !b->b)
            continue;
        sim_checker_journal_begin(r->chk, b->cfg->name);
        broker_glue_ground_truth(r, b);
    }
}

/* A fault that never fired tested nothing: unless it is `optional` the run
 * fails, saying which. */
static void faults_not_fired(sim_run *r)
{
    char *text = strdup(sim_checker_failure_text(r->chk));
    size_t len = text ? strlen(text) : 0;
    bool failed = false;
    for (size_t i = 0; text && i < r->sc->nfaults; i++) {
        const sim_fault *f = &r->sc->faults[i];
        if (r->faults[i].pub.fired)
            continue;
        r->fig.faults_not_fired++;
        const char *target = f->target_sort == SIM_TARGET_CLIENT   ? r->sc->clients[f->target].name
                             : f->target_sort == SIM_TARGET_BROKER ? r->sc->brokers[f->target].name
                                                                   : "";
        const char *kind = sim_scenario_enum_name(SIM_ENUM_FAULT_KIND, (int)f->kind);
        rn_trace(r, target, "fault_not_fired", "\"index\":%zu,\"kind\":\"%s\",\"optional\":%s", i,
                 kind, f->optional ? "true" : "false");
        if (f->optional)
            continue;
        char line[200];
        int n = snprintf(line, sizeof line, "%sfault #%zu (%s%s%s) never fired", len ? "; " : "", i,
                         kind, *target ? " " : "", target);
        char *t = n > 0 ? realloc(text, len + (size_t)n + 1) : NULL;
        if (!t)
            break;
        text = t;
        memcpy(text + len, line, (size_t)n + 1);
        len += (size_t)n;
        failed = true;
    }
    if (!failed) {
        free(text);
        return;
    }
    r->failure_text = text;
    r->result = SIM_RUN_FAIL;
    if (!r->failing)
        r->failing = "faults";
}

/* Distinct deliveries and redeliveries over every subscription. */
static void delivery_figures(sim_run *r)
{
    for (size_t i = 0; i < r->sc->nclients; i++)
        for (size_t s = 0; s < r->sc->clients[i].nsubscribe; s++)
            r->fig.delivered_distinct += sim_run_delivered_count(r, i, s);
    r->fig.redelivered = r->fig.delivered > r->fig.delivered_distinct
                             ? r->fig.delivered - r->fig.delivered_distinct
                             : 0;
}

static void finish(sim_run *r)
{
    uint64_t t = sim_now(r->ctx);
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        if (!rf->pending_corruption)
            continue;
        rf->pending_corruption = false;
        rf->pub.skipped = true; /* its target never reopened the file */
        const sim_fault *f = rf->f;
        rn_trace(r,
                 f->target_sort == SIM_TARGET_CLIENT ? r->sc->clients[f->target].name
                                                     : r->sc->brokers[f->target].name,
                 "corrupt_not_applied", NULL);
    }
    for (size_t i = 0; i < r->sc->nclients; i++) {
        rn_app *a = &r->apps[i];
        for (size_t w = 0; w < a->cfg->npublish; w++)
            if (a->feeds[w].unsure) /* never restarted: it never learnt */
                settle_unsure(r, a, &a->feeds[w], false, 0);
        if (a->c)
            sim_checker_unpersisted(r->chk, t, a->cfg->name, fl_client_unpersisted_count(a->c));
    }
    feed_ground_truth(r);
    sim_checker_finish(r->chk, t);
    sim_checker_figures cf;
    sim_checker_get_figures(r->chk, &cf);
    r->fig.journal_messages = cf.journal_messages;
    if (r->fig.faults_healed > 0 && r->fig.converged && r->fig.converged_us > r->fig.last_heal_us)
        r->fig.recovery_us = r->fig.converged_us - r->fig.last_heal_us;
    if (cf.has_recovery)
        r->fig.recovery_us = cf.recovery_us;
    r->result = sim_checker_passed(r->chk) ? SIM_RUN_PASS : SIM_RUN_FAIL;
    r->failing = NULL;
    for (int i = 0; i < SIM_CHK_COUNT && r->result == SIM_RUN_FAIL && !r->failing; i++) {
        sim_checker_verdict v;
        if (sim_checker_verdict_at(r->chk, i, &v) == 0 &&
            (v.verdict == SIM_CHK_FAIL || v.verdict == SIM_CHK_EXPECTED_MISSING))
            r->failing = v.check;
    }
    faults_not_fired(r);
    delivery_figures(r);
    rn_trace(r, NULL, "verdict", "\"result\":\"%s\"", r->result == SIM_RUN_PASS ? "pass" : "fail");
    sim_history *h = sim_ctx_history(r->ctx);
    r->fig.virtual_us = sim_now(r->ctx);
    r->fig.events_run = sim_events_run(r->ctx);
    r->fig.history_events = sim_history_count(h);
    r->fig.history_hash = sim_history_hash(h);
    size_t n = sim_history_tail_count(h);
    r->tail = calloc(n + 1, sizeof *r->tail);
    for (size_t i = 0; r->tail && i < n; i++) {
        r->tail[i] = strdup(sim_history_tail_line(h, i));
        if (r->tail[i])
            r->ntail++;
    }
}

/* Free the simulation (clients, stores, brokers, ctx); the results stay. */
static void teardown(sim_run *r)
{
    if (r->ctx)
        sim_history_set_sink(sim_ctx_history(r->ctx), NULL);
    for (size_t i = 0; r->apps && i < r->sc->nclients; i++) {
        rn_app *a = &r->apps[i];
        while (a->discards) {
            rn_discard *d = a->discards;
            a->discards = d->next;
            free(d);
        }
        fl_client_free(a->c);
        a->c = NULL;
        close_stores(a);
        for (size_t s = 0; a->subs && s < a->cfg->nsubscribe; s++) {
            free(a->subs[s].seen.k);
            free(a->subs[s].never_msgs.k);
        }
        free(a->feeds);
        free(a->subs);
        free(a->flushes);
    }
    for (size_t i = 0; r->brokers && i < r->sc->nbrokers; i++) {
        broker_glue_free(r, &r->brokers[i]);
        ledger_free(&r->brokers[i].ledger);
    }
    sim_ctx_free(r->ctx);
    r->ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* public API                                                           */

int sim_run_scenario(const sim_scenario *sc, const sim_run_options *opts, sim_run **out, char *err,
                     size_t errcap)
{
    static const sim_run_options defaults = SIM_RUN_OPTIONS_INIT;
    *out = NULL;
    if (!sc || (opts && opts->version != SIM_RUN_OPTIONS_VERSION))
        return FL_E_INVAL;
    sim_run *r = calloc(1, sizeof *r);
    if (!r)
        return FL_E_NOMEM;
    uint64_t wall0 = wall_now_us();
    r->sc = sc;
    r->opts = opts ? *opts : defaults;
    r->seed = r->opts.has_seed ? r->opts.seed : sc->seed;
    if (err && errcap)
        err[0] = 0;
    int rc = build(r, err, errcap);
    if (rc != 0) {
        if (err && errcap && !err[0])
            sim_set_err(err, errcap, "cannot set up the run: %s", fl_strerror(rc));
        teardown(r);
        sim_run_free(r);
        return rc == FL_E_SCENARIO || rc == FL_E_PLUGIN || rc == FL_E_UNSUPPORTED ||
                       rc == FL_E_BAD_BOOKMARK || rc == FL_E_BAD_RANGE || rc == FL_E_BAD_TIMESTAMP
                   ? FL_E_INVAL
                   : rc;
    }
    run_phases(r);
    finish(r);
    teardown(r);
    r->fig.wall_us = wall_now_us() - wall0;
    *out = r;
    return 0;
}

void sim_run_free(sim_run *r)
{
    if (!r)
        return;
    sim_checker_free(r->chk);
    for (size_t i = 0; i < r->ntail; i++)
        free(r->tail[i]);
    free(r->tail);
    free(r->errors);
    free(r->apps);
    free(r->brokers);
    free(r->faults);
    free(r->counters);
    free(r->barrier);
    free(r->payload);
    free(r->pub_ids);
    free(r->failure_text);
    free(r);
}

const sim_scenario *sim_run_get_scenario(const sim_run *r)
{
    return r->sc;
}

uint64_t sim_run_seed(const sim_run *r)
{
    return r->seed;
}

sim_run_result sim_run_get_result(const sim_run *r)
{
    return r->result;
}

bool sim_run_passed(const sim_run *r)
{
    return r->result == SIM_RUN_PASS;
}

const char *sim_run_failure_text(const sim_run *r)
{
    if (r->failure_text)
        return r->failure_text;
    return r->chk ? sim_checker_failure_text(r->chk) : "";
}

const char *sim_run_failing_check(const sim_run *r)
{
    return r->result == SIM_RUN_PASS ? NULL : r->failing ? r->failing : "expect";
}

const sim_checker *sim_run_checker(const sim_run *r)
{
    return r->chk;
}

const sim_run_figures *sim_run_get_figures(const sim_run *r)
{
    return &r->fig;
}

size_t sim_run_fault_count(const sim_run *r)
{
    return r->sc->nfaults;
}

const sim_run_fault *sim_run_fault_at(const sim_run *r, size_t i)
{
    return i < r->sc->nfaults ? &r->faults[i].pub : NULL;
}

size_t sim_run_history_tail_count(const sim_run *r)
{
    return r->ntail;
}

const char *sim_run_history_tail_line(const sim_run *r, size_t i)
{
    return i < r->ntail ? r->tail[i] : NULL;
}

size_t sim_run_error_count(const sim_run *r)
{
    return r->nerrors;
}

const sim_run_error *sim_run_error_at(const sim_run *r, size_t i)
{
    return i < r->nerrors ? &r->errors[i] : NULL;
}

uint64_t sim_run_delivered_count(const sim_run *r, size_t client, size_t sub)
{
    if (client >= r->sc->nclients || sub >= r->sc->clients[client].nsubscribe)
        return 0;
    return sim_checker_delivered_count(r->chk, r->sc->clients[client].name,
                                       r->sc->clients[client].subscribe[sub].sub_id);
}

static int by_fire_seq(const void *pa, const void *pb)
{
    const sim_run_fault *a = *(const sim_run_fault *const *)pa;
    const sim_run_fault *b = *(const sim_run_fault *const *)pb;
    return a->fire_seq < b->fire_seq ? -1 : a->fire_seq > b->fire_seq;
}

json_t *sim_run_concrete_scenario(const sim_run *r)
{
    json_t *j = sim_scenario_to_json(r->sc);
    if (!j)
        return NULL;
    json_object_set_new(j, "seed", json_integer((json_int_t)r->seed));
    json_t *old = json_object_get(j, "faults");
    json_t *faults = json_array();
    const sim_run_fault **fired = calloc(r->sc->nfaults + 1, sizeof *fired);
    if (!faults || !fired || !json_is_array(old)) {
        free(fired);
        json_decref(faults);
        json_decref(j);
        return NULL;
    }
    size_t nf = 0;
    for (size_t i = 0; i < r->sc->nfaults; i++)
        if (r->faults[i].pub.fired)
            fired[nf++] = &r->faults[i].pub;
    qsort(fired, nf, sizeof *fired, by_fire_seq);
    for (size_t k = 0; k < nf; k++) {
        json_t *f = json_deep_copy(json_array_get(old, fired[k]->index));
        if (f && fired[k]->by_trigger) {
            char at[64];
            sim_format_duration(fired[k]->fired_us, at, sizeof at);
            json_object_del(f, "on");
            json_object_set_new(f, "at", json_string(at));
        }
        json_array_append_new(faults, f);
    }
    for (size_t i = 0; i < r->sc->nfaults; i++)
        if (!r->faults[i].pub.fired)
            json_array_append_new(faults, json_deep_copy(json_array_get(old, i)));
    free(fired);
    json_object_set_new(j, "faults", faults);
    return j;
}
