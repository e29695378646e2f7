/* timeline.html (report.h): a per-run collector fed with history events,
 * and the writer of one self-contained page (inline CSS, SVG and JS) with a
 * swimlane per client and broker.
 *
 * Design note: the collector keeps only what the page draws, so it stays
 * small whatever the length of the run:
 *   - per lane, the list of state changes (connection state of a client,
 *     up/down of any node), consecutive duplicates folded, capped;
 *   - per lane, three rate series (publishes, persisted acks, deliveries)
 *     in NBUCKETS buckets of a shared width that doubles (merging
 *     neighbouring buckets) whenever an event falls past the last bucket,
 *     so memory is fixed and the resolution adapts to the run's length.
 * Faults and violations come from the sim_report at write time. */
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"

#define NBUCKETS    240
#define FIRST_WIDTH 1000 /* us: the first bucket width */
#define MAX_CHANGES 20000
#define SVG_W       1200
#define LABEL_W     170
#define PLOT_W      (SVG_W - LABEL_W - 20)
#define AXIS_H      44
#define LANE_H      58
#define SERIES      3

typedef enum lane_state {
    ST_NONE,
    ST_UP,
    ST_DOWN,
    ST_DISCONNECTED,
    ST_WAITING,
    ST_CONNECTING,
    ST_CONNECTED,
    ST_LOGGED_ON,
    ST_GAVE_UP,
    ST_SHUT_DOWN,
    ST__COUNT,
} lane_state;

static const char *const STATE_NAME[ST__COUNT] = {
    "none",       "up",        "down",      "disconnected", "waiting",
    "connecting", "connected", "logged_on", "gave_up",      "shut_down",
};

static const char *const SERIES_NAME[SERIES] = {"publish", "persisted_ack", "delivery"};

typedef enum lane_kind {
    KIND_NODE,
    KIND_CLIENT,
    KIND_BROKER,
} lane_kind;

typedef struct change {
    uint64_t t_us;
    lane_state st;
} change;

typedef struct lane {
    char *name;
    lane_kind kind;
    change *ch;
    size_t nch, capch;
    uint64_t rate[SERIES][NBUCKETS];
} lane;

struct sim_timeline {
    lane *lanes; /* first-seen order */
    size_t nlanes, cap;
    uint64_t width_us; /* bucket width */
    uint64_t last_t_us;
    uint64_t lost; /* events not drawn for lack of memory or over the cap */
};

sim_timeline *sim_timeline_new(void)
{
    sim_timeline *tl = calloc(1, sizeof *tl);
    if (tl)
        tl->width_us = FIRST_WIDTH;
    return tl;
}

void sim_timeline_free(sim_timeline *tl)
{
    if (!tl)
        return;
    for (size_t i = 0; i < tl->nlanes; i++) {
        free(tl->lanes[i].name);
        free(tl->lanes[i].ch);
    }
    free(tl->lanes);
    free(tl);
}

static lane *find_lane(const sim_timeline *tl, const char *name)
{
    for (size_t i = 0; i < tl->nlanes; i++)
        if (strcmp(tl->lanes[i].name, name) == 0)
            return &tl->lanes[i];
    return NULL;
}

static lane *get_lane(sim_timeline *tl, const char *name)
{
    lane *l = find_lane(tl, name);
    if (l)
        return l;
    if (tl->nlanes == tl->cap) {
        size_t ncap = tl->cap ? tl->cap * 2 : 8;
        lane *nl = realloc(tl->lanes, ncap * sizeof *nl);
        if (!nl)
            return NULL;
        tl->lanes = nl;
        tl->cap = ncap;
    }
    l = &tl->lanes[tl->nlanes];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    if (!l->name)
        return NULL;
    tl->nlanes++;
    return l;
}

static void add_change(sim_timeline *tl, lane *l, uint64_t t, lane_state st)
{
    if (l->nch && l->ch[l->nch - 1].st == st)
        return;
    if (l->nch && l->ch[l->nch - 1].t_us == t) {
        l->ch[l->nch - 1].st = st; /* the last word at one instant wins */
        return;
    }
    if (l->nch == l->capch) {
        size_t ncap = l->capch ? l->capch * 2 : 16;
        change *nc = ncap <= MAX_CHANGES ? realloc(l->ch, ncap * sizeof *nc) : NULL;
        if (!nc) {
            tl->lost++;
            return;
        }
        l->ch = nc;
        l->capch = ncap;
    }
    l->ch[l->nch++] = (change){t, st};
}

/* Double the bucket width until t falls inside the buckets. */
static void fit_buckets(sim_timeline *tl, uint64_t t)
{
    while (t / tl->width_us >= NBUCKETS && tl->width_us <= UINT64_MAX / 2) {
        for (size_t li = 0; li < tl->nlanes; li++)
            for (int s = 0; s < SERIES; s++) {
                uint64_t *r = tl->lanes[li].rate[s];
                for (size_t i = 0; i < NBUCKETS / 2; i++)
                    r[i] = r[2 * i] + r[2 * i + 1];
                memset(r + NBUCKETS / 2, 0, NBUCKETS / 2 * sizeof *r);
            }
        tl->width_us *= 2;
    }
}

static void add_rate(sim_timeline *tl, lane *l, uint64_t t, int series)
{
    fit_buckets(tl, t);
    uint64_t b = t / tl->width_us;
    if (b < NBUCKETS)
        l->rate[series][b]++;
}

/* The value of "state":"..." in fields, copied into out. */
static bool field_state(const char *fields, char *out, size_t cap)
{
    const char *p = fields ? strstr(fields, "\"state\":\"") : NULL;
    if (!p)
        return false;
    p += 9;
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = 0;
    return p[n] == '"';
}

static lane_state client_state(const char *name)
{
    static const struct {
        const char *name;
        lane_state st;
    } map[] = {
        {"disconnected", ST_DISCONNECTED},     {"connected", ST_CONNECTED},
        {"logged_on", ST_LOGGED_ON},           {"publish_replayed", ST_LOGGED_ON},
        {"heartbeat_initiated", ST_LOGGED_ON}, {"resubscribed", ST_LOGGED_ON},
        {"shut_down", ST_SHUT_DOWN},           {"gave_up", ST_GAVE_UP},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0)
            return map[i].st;
    return ST_NONE;
}

/* What (src, ev) means for a lane: a state (or ST_NONE) and a series (or
 * -1). */
static void classify(const char *src, const char *ev, const char *fields, lane_state *st,
                     int *series, lane_kind *kind)
{
    static const struct {
        const char *src, *ev;
        lane_state st;
        int series;
    } table[] = {
        {"sim", "node_create", ST_UP, -1},
        {"sim", "restart", ST_UP, -1},
        {"sim", "crash", ST_DOWN, -1},
        {"sim", "power_loss", ST_DOWN, -1},
        {"client", "connect", ST_CONNECTING, -1},
        {"client", "reconnect_attempt", ST_CONNECTING, -1},
        {"client", "reconnect_wait", ST_WAITING, -1},
        {"client", "session_lost", ST_DISCONNECTED, -1},
        {"client", "attempt_failed", ST_DISCONNECTED, -1},
        {"client", "publish", ST_NONE, 0},
        {"client", "persisted_ack", ST_NONE, 1},
        {"client", "deliver", ST_NONE, 2},
        {"broker", "start", ST_UP, -1},
        {"broker", "persisted_ack", ST_NONE, 1},
        {"broker", "deliver", ST_NONE, 2},
    };
    *st = ST_NONE;
    *series = -1;
    *kind = strcmp(src, "client") == 0   ? KIND_CLIENT
            : strcmp(src, "broker") == 0 ? KIND_BROKER
                                         : KIND_NODE;
    if (*kind == KIND_CLIENT && strcmp(ev, "state") == 0) {
        char name[32];
        if (field_state(fields, name, sizeof name))
            *st = client_state(name);
        return;
    }
    if (*kind == KIND_BROKER && strcmp(ev, "publish") == 0) {
        /* only what the journal took: not duplicates, not refusals */
        if (fields && strstr(fields, "\"outcome\":\"logged\""))
            *series = 0;
        return;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].src, src) == 0 && strcmp(table[i].ev, ev) == 0) {
            *st = table[i].st;
            *series = table[i].series;
            return;
        }
}

void sim_timeline_add_event(sim_timeline *tl, uint64_t t_us, const char *node, const char *src,
                            const char *ev, const char *fields_json)
{
    if (!tl || !node || !node[0] || !src || !ev)
        return;
    lane_state st;
    int series;
    lane_kind kind;
    classify(src, ev, fields_json, &st, &series, &kind);
    if (st == ST_NONE && series < 0)
        return;
    lane *l = get_lane(tl, node);
    if (!l) {
        tl->lost++;
        return;
    }
    if (kind != KIND_NODE)
        l->kind = kind;
    if (t_us > tl->last_t_us)
        tl->last_t_us = t_us;
    if (st != ST_NONE)
        add_change(tl, l, t_us, st);
    if (series >= 0)
        add_rate(tl, l, t_us, series);
}

void sim_timeline_observe(void *tl, const sim_history_event *ev)
{
    sim_timeline_add_event(tl, ev->t_us, ev->node, ev->source, ev->event, ev->fields_json);
}

int sim_timeline_add_line(sim_timeline *tl, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    json_t *t = json_object_get(j, "t");
    const char *node = json_string_value(json_object_get(j, "node"));
    const char *src = json_string_value(json_object_get(j, "src"));
    const char *ev = json_string_value(json_object_get(j, "ev"));
    if (!json_is_integer(t) || json_integer_value(t) < 0 || !node || !src || !ev) {
        json_decref(j);
        return FL_E_CORRUPT;
    }
    /* the only fields the timeline reads */
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *outcome = json_string_value(json_object_get(j, "outcome"));
    char fields[160] = "";
    if (state && strlen(state) < 64)
        snprintf(fields, sizeof fields, "\"state\":\"%s\"", state);
    else if (outcome && strlen(outcome) < 64)
        snprintf(fields, sizeof fields, "\"outcome\":\"%s\"", outcome);
    sim_timeline_add_event(tl, (uint64_t)json_integer_value(t), node, src, ev, fields);
    json_decref(j);
    return 0;
}

/* ---- the page ----------------------------------------------------------- */

typedef struct page {
    FILE *f;
    const sim_timeline *tl;
    const sim_report *rep;
    uint64_t end_us;
    const lane **lanes; /* display order */
    lane_kind *kinds;
    const char **names;
    size_t nlanes;
} page;

static double xpos(const page *pg, uint64_t t)
{
    if (t > pg->end_us)
        t = pg->end_us;
    return LABEL_W + (double)t * PLOT_W / (double)pg->end_us;
}

static void fmt_dur(char *out, size_t cap, uint64_t us)
{
    double v = (double)us;
    if (us < 1000)
        snprintf(out, cap, "%" PRIu64 "us", us);
    else if (us < 1000000)
        snprintf(out, cap, "%.4gms", v / 1e3);
    else if (us < 120000000)
        snprintf(out, cap, "%.4gs", v / 1e6);
    else if (us < 7200000000ULL)
        snprintf(out, cap, "%.4gmin", v / 6e7);
    else
        snprintf(out, cap, "%.4gh", v / 3.6e9);
}

static void esc(const page *pg, const char *s)
{
    sim_report_xml_escape(pg->f, s);
}

static uint64_t end_time(const sim_timeline *tl, const sim_report *rep)
{
    uint64_t end = rep->figures.virtual_us;
    if (tl && tl->last_t_us > end)
        end = tl->last_t_us;
    for (size_t i = 0; i < rep->nfaults; i++) {
        const sim_report_fault *f = &rep->faults[i];
        if (f->fired && f->fired_us > end)
            end = f->fired_us;
        if (f->healed && f->healed_us > end)
            end = f->healed_us;
    }
    for (size_t i = 0; i < rep->nviolations; i++)
        if (rep->violations[i].t_us > end)
            end = rep->violations[i].t_us;
    return end ? end : 1;
}

static bool listed(const page *pg, const char *name)
{
    for (size_t i = 0; i < pg->nlanes; i++)
        if (strcmp(pg->names[i], name) == 0)
            return true;
    return false;
}

static void add_display_lane(page *pg, const char *name, lane_kind kind)
{
    if (listed(pg, name))
        return;
    const lane *l = pg->tl ? find_lane(pg->tl, name) : NULL;
    pg->names[pg->nlanes] = name;
    pg->lanes[pg->nlanes] = l;
    pg->kinds[pg->nlanes] = kind != KIND_NODE ? kind : l ? l->kind : KIND_NODE;
    pg->nlanes++;
}

/* Clients, then brokers (as the report lists them), then any other node
 * seen in the history. */
static int plan_lanes(page *pg)
{
    size_t max = pg->rep->nclients + pg->rep->nbrokers + (pg->tl ? pg->tl->nlanes : 0);
    pg->lanes = calloc(max + 1, sizeof *pg->lanes);
    pg->kinds = calloc(max + 1, sizeof *pg->kinds);
    pg->names = calloc(max + 1, sizeof *pg->names);
    if (!pg->lanes || !pg->kinds || !pg->names)
        return FL_E_NOMEM;
    for (size_t i = 0; i < pg->rep->nclients; i++)
        add_display_lane(pg, pg->rep->clients[i], KIND_CLIENT);
    for (size_t i = 0; i < pg->rep->nbrokers; i++)
        add_display_lane(pg, pg->rep->brokers[i], KIND_BROKER);
    for (size_t i = 0; pg->tl && i < pg->tl->nlanes; i++)
        add_display_lane(pg, pg->tl->lanes[i].name, KIND_NODE);
    return 0;
}

static const char *kind_name(lane_kind k)
{
    return k == KIND_CLIENT ? "client" : k == KIND_BROKER ? "broker" : "node";
}

static const char CSS[] =
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}"
    "h1{font-size:18px;margin:0 0 4px}.pass{color:#1a7f37}.fail{color:#cf222e}"
    ".meta{color:#555;margin-bottom:8px}.meta b{color:#222}"
    "table.fig{border-collapse:collapse;margin:6px 0 10px}table.fig td{padding:1px 10px 1px 0}"
    "#timeline{width:100%;height:auto;border:1px solid #ddd;background:#fcfcfc}"
    ".legend svg{vertical-align:middle}"
    ".lane-bg{fill:#fff;stroke:#eee}.lane-label{font-size:12px;fill:#222}"
    ".lane-kind{font-size:10px;fill:#888}.axis line{stroke:#ddd}.axis text{font-size:10px;"
    "fill:#666}.st-up,.st-logged_on{fill:#2da44e}.st-connected{fill:#8fd19e}"
    ".st-connecting{fill:#f2cc60}.st-waiting{fill:#f0a050}.st-disconnected{fill:#d0d7de}"
    ".st-down{fill:#6e7781}.st-gave_up{fill:#cf222e}.st-shut_down{fill:#afb8c1}"
    ".st-none{fill:none}rect.fault{fill:#cf222e;fill-opacity:.13;stroke:#cf222e;"
    "stroke-opacity:.5;stroke-dasharray:3 2}.fault-label{font-size:10px;fill:#a40e26}"
    ".rate{fill:none;stroke-width:1.2}.rate-publish{stroke:#0969da}"
    ".rate-persisted_ack{stroke:#8250df}.rate-delivery{stroke:#1a7f37}"
    "g.violation{cursor:pointer}g.violation line{stroke:#cf222e;stroke-width:1.5;"
    "stroke-dasharray:4 3}g.violation path{fill:#cf222e}g.violation.selected path{fill:#000}"
    "g.violation.selected line{stroke:#000}g.violation:focus{outline:none}"
    ".legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;"
    "width:12px;height:10px;margin-right:4px;vertical-align:middle}"
    "#details{margin-top:10px;padding:8px;border:1px solid #ddd;background:#f6f8fa;"
    "min-height:2em}#details table{border-collapse:collapse;font:12px monospace}"
    "#details td{padding:1px 8px 1px 0;vertical-align:top}"
    "#violation-list li{cursor:pointer;color:#cf222e}#violation-list li:hover{"
    "text-decoration:underline}.foot{color:#888;font-size:11px;margin-top:10px}";

static const char JS[] =
    "(function(){\n"
    "var data=JSON.parse(document.getElementById('fl-data').textContent);\n"
    "var det=document.getElementById('details');\n"
    "var list=document.getElementById('violation-list');\n"
    "function fmt(us){if(us<1e3)return us+'us';if(us<1e6)return (us/1e3)+'ms';"
    "return (us/1e6)+'s';}\n"
    "function cell(tr,text){var td=document.createElement('td');td.textContent=text;"
    "tr.appendChild(td);}\n"
    "function show(i){var v=data.violations[i];if(!v)return;\n"
    " det.textContent='';det.setAttribute('data-shown',String(i));\n"
    " var h=document.createElement('div');h.className='detail-head';\n"
    " h.textContent='['+v.checker+'] at '+fmt(v.t_us)+(v.message?' '+v.message:'')+': '+v.text;\n"
    " det.appendChild(h);var tb=document.createElement('table');tb.className='context';\n"
    " v.context.forEach(function(line){var tr=document.createElement('tr');"
    "tr.className='context-event';var e=null;try{e=JSON.parse(line);}catch(x){}\n"
    "  var m=/^t=(\\d+)\\.(\\d{6})s /.exec(line);\n"
    "  if(e&&typeof e==='object'){cell(tr,fmt(e.t));cell(tr,e.node);cell(tr,e.src+' '+e.ev);"
    "cell(tr,line);}else{cell(tr,m?fmt(+m[1]*1e6+(+m[2])):'');cell(tr,'');cell(tr,'');"
    "cell(tr,line);}\n"
    "  tb.appendChild(tr);});\n"
    " if(!v.context.length){var tr=document.createElement('tr');cell(tr,'(no context events)');"
    "tb.appendChild(tr);}\n"
    " det.appendChild(tb);\n"
    " document.querySelectorAll('g.violation').forEach(function(g){"
    "g.classList.toggle('selected',g.getAttribute('data-index')===String(i));});}\n"
    "data.violations.forEach(function(v,i){var li=document.createElement('li');"
    "li.className='violation-item';li.id='violation-item-'+i;\n"
    " li.textContent='['+v.checker+'] '+fmt(v.t_us)+' '+v.text;"
    "li.addEventListener('click',function(){show(i);});list.appendChild(li);});\n"
    "document.querySelectorAll('g.violation').forEach(function(g){var i=+g.getAttribute("
    "'data-index');\n"
    " g.addEventListener('click',function(){show(i);});\n"
    " g.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' ')show(i);});});\n"
    "function fromHash(){var m=/^#violation-(\\d+)$/.exec(location.hash);"
    "if(m)show(+m[1]);}\n"
    "window.addEventListener('hashchange',fromHash);fromHash();\n"
    "document.body.setAttribute('data-ready','1');\n"
    "})();\n";

static void write_head(const page *pg)
{
    const sim_report *r = pg->rep;
    FILE *f = pg->f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>faultline: ",
          f);
    esc(pg, r->scenario);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>", CSS);
    esc(pg, r->scenario);
    fprintf(f, " <span class=\"%s\">%s</span></h1>\n<div class=\"meta\">",
            r->passed ? "pass" : "fail", r->passed ? "PASS" : "FAIL");
    esc(pg, r->description);
    fprintf(f, "<br>file <b>");
    esc(pg, r->file);
    fprintf(f, "</b> &middot; seed <b>%" PRIu64 "</b> &middot; revision <b>", r->seed);
    esc(pg, r->revision ? r->revision : "unknown");
    fprintf(f, "</b> &middot; history hash <b>%016" PRIx64 "</b>", r->figures.history_hash);
    if (!r->passed && r->failure) {
        fputs("<br><span class=\"fail\">", f);
        esc(pg, r->failure);
        fputs("</span>", f);
    }
    fputs("</div>\n", f);
}

static void write_figures(const page *pg)
{
    const sim_report_figures *g = &pg->rep->figures;
    char vt[32], wt[32], rec[32], out[32];
    fmt_dur(vt, sizeof vt, g->virtual_us);
    fmt_dur(wt, sizeof wt, g->wall_us);
    fmt_dur(rec, sizeof rec, g->recovery_us);
    fmt_dur(out, sizeof out, g->max_outage_us);
    fprintf(pg->f,
            "<table class=\"fig\"><tr><td>published <b>%" PRIu64 "</b></td><td>accepted <b>%" PRIu64
            "</b></td><td>persisted acks <b>%" PRIu64 "</b></td><td>delivered <b>%" PRIu64
            "</b></td><td>faults fired <b>%" PRIu64 "</b></td><td>reconnects <b>%" PRIu64
            "</b></td></tr>\n<tr><td>virtual time <b>%s</b></td><td>wall time <b>%s</b></td>"
            "<td>recovery <b>%s</b></td><td>longest outage <b>%s</b></td><td>events <b>%" PRIu64
            "</b></td><td>converged <b>%s</b></td></tr></table>\n",
            g->published, g->accepted, g->persisted_acks, g->delivered, g->faults_fired,
            g->reconnects, vt, wt, rec, out, g->events_run, g->converged ? "yes" : "no");
}

/* A tick step that reads well in the unit fmt_dur shows, <= 10 ticks. */
static uint64_t nice_step(uint64_t end)
{
    static const uint64_t steps[] = {
        1,
        2,
        5,
        10,
        20,
        50,
        100,
        200,
        500,
        1000,
        2000,
        5000,
        10000,
        20000,
        50000,
        100000,
        200000,
        500000,
        1000000,
        2000000,
        5000000,
        10000000,
        15000000,
        30000000,
        60000000,
        120000000,
        300000000,
        600000000,
        900000000,
        1800000000,
        3600000000,
        7200000000,
        10800000000,
        21600000000,
        43200000000,
        86400000000,
        172800000000,
        604800000000,
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (end / steps[i] <= 10)
            return steps[i];
    return end / 10 + 1;
}

static void write_axis(const page *pg, double height)
{
    uint64_t step = nice_step(pg->end_us);
    fputs("<g class=\"axis\">\n", pg->f);
    for (uint64_t t = 0; t <= pg->end_us; t += step) {
        char lbl[32];
        fmt_dur(lbl, sizeof lbl, t);
        double x = xpos(pg, t);
        fprintf(pg->f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\"/><text x=\"%.1f\" "
                "y=\"12\" text-anchor=\"middle\">%s</text>\n",
                x, 16, x, height, x, lbl);
        if (t > UINT64_MAX - step)
            break;
    }
    fputs("</g>\n", pg->f);
}

static lane_state shown_state(lane_state st, lane_kind kind)
{
    return kind == KIND_CLIENT && st == ST_UP ? ST_DISCONNECTED : st;
}

static void write_states(const page *pg, const lane *l, lane_kind kind, double y)
{
    for (size_t i = 0; l && i < l->nch; i++) {
        uint64_t t0 = l->ch[i].t_us, t1 = i + 1 < l->nch ? l->ch[i + 1].t_us : pg->end_us;
        lane_state st = shown_state(l->ch[i].st, kind);
        if (st == ST_NONE)
            continue;
        double x0 = xpos(pg, t0), x1 = xpos(pg, t1);
        char a[32], b[32];
        fmt_dur(a, sizeof a, t0);
        fmt_dur(b, sizeof b, t1);
        fprintf(pg->f,
                "<rect class=\"state st-%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"16\">"
                "<title>%s %s .. %s</title></rect>\n",
                STATE_NAME[st], x0, y + 6, x1 - x0 > 0.5 ? x1 - x0 : 0.5, STATE_NAME[st], a, b);
    }
}

static void write_rates(const page *pg, const lane *l, double y)
{
    const sim_timeline *tl = pg->tl;
    if (!l)
        return;
    uint64_t max = 0;
    size_t used = (size_t)(pg->end_us / tl->width_us) + 1;
    used = used > NBUCKETS ? NBUCKETS : used;
    for (int s = 0; s < SERIES; s++)
        for (size_t i = 0; i < used; i++)
            max = l->rate[s][i] > max ? l->rate[s][i] : max;
    if (!max)
        return;
    for (int s = 0; s < SERIES; s++) {
        uint64_t total = 0;
        for (size_t i = 0; i < used; i++)
            total += l->rate[s][i];
        if (!total)
            continue;
        double peak = (double)max * 1e6 / (double)tl->width_us;
        fprintf(pg->f, "<polyline class=\"rate rate-%s\" data-total=\"%" PRIu64 "\" points=\"",
                SERIES_NAME[s], total);
        for (size_t i = 0; i < used; i++) {
            double x = xpos(pg, i * tl->width_us + tl->width_us / 2);
            double v = y + LANE_H - 4 - (double)l->rate[s][i] * 26.0 / (double)max;
            fprintf(pg->f, "%.1f,%.1f ", x, v);
        }
        fprintf(pg->f, "\"><title>%s: %" PRIu64 " in all; scale peak %.4g/s</title></polyline>\n",
                SERIES_NAME[s], total, peak);
    }
}

static void write_lanes(const page *pg)
{
    for (size_t i = 0; i < pg->nlanes; i++) {
        double y = AXIS_H + (double)i * LANE_H;
        fprintf(pg->f, "<g class=\"lane\" data-name=\"");
        esc(pg, pg->names[i]);
        fprintf(pg->f,
                "\" data-kind=\"%s\">\n<rect class=\"lane-bg\" x=\"0\" y=\"%.1f\" width=\"%d\" "
                "height=\"%d\"/><text class=\"lane-label\" x=\"6\" y=\"%.1f\">",
                kind_name(pg->kinds[i]), y, SVG_W, LANE_H, y + 20);
        esc(pg, pg->names[i]);
        fprintf(pg->f, "</text><text class=\"lane-kind\" x=\"6\" y=\"%.1f\">%s</text>\n", y + 34,
                kind_name(pg->kinds[i]));
        write_states(pg, pg->lanes[i], pg->kinds[i], y);
        write_rates(pg, pg->lanes[i], y);
        fputs("</g>\n", pg->f);
    }
}

static void write_faults(const page *pg)
{
    double total_h = (double)pg->nlanes * LANE_H;
    for (size_t i = 0; i < pg->rep->nfaults; i++) {
        const sim_report_fault *f = &pg->rep->faults[i];
        if (!f->fired)
            continue;
        size_t lane_i = pg->nlanes;
        for (size_t k = 0; f->target && f->target[0] && k < pg->nlanes; k++)
            if (strcmp(pg->names[k], f->target) == 0)
                lane_i = k;
        double y = lane_i < pg->nlanes ? AXIS_H + (double)lane_i * LANE_H : AXIS_H;
        double h = lane_i < pg->nlanes ? LANE_H : total_h;
        uint64_t t1 = f->healed ? f->healed_us : pg->end_us;
        double x0 = xpos(pg, f->fired_us), x1 = xpos(pg, t1);
        char a[32], b[32];
        fmt_dur(a, sizeof a, f->fired_us);
        fmt_dur(b, sizeof b, t1);
        fprintf(pg->f,
                "<rect class=\"fault\" id=\"fault-%zu\" data-kind=\"%s\" x=\"%.2f\" y=\"%.1f\" "
                "width=\"%.2f\" height=\"%.1f\"><title>",
                i, f->kind ? f->kind : "?", x0, y, x1 - x0 > 2 ? x1 - x0 : 2, h);
        esc(pg, f->kind);
        fputs(" ", pg->f);
        esc(pg, f->target);
        fprintf(pg->f,
                " %s .. %s%s%s</title></rect><text class=\"fault-label\" x=\"%.2f\" "
                "y=\"%.1f\">",
                a, f->healed ? b : "end", f->by_trigger ? " (triggered)" : "",
                f->skipped ? " (no effect)" : "", x0 + 2, y + h - 4);
        esc(pg, f->kind);
        fputs("</text>\n", pg->f);
    }
}

static void write_violations(const page *pg)
{
    double bottom = AXIS_H + (double)pg->nlanes * LANE_H;
    for (size_t i = 0; i < pg->rep->nviolations; i++) {
        const sim_report_violation *v = &pg->rep->violations[i];
        double x = xpos(pg, v->t_us);
        fprintf(pg->f,
                "<g class=\"violation\" id=\"violation-%zu\" data-index=\"%zu\" "
                "data-checker=\"",
                i, i);
        esc(pg, v->checker);
        fprintf(pg->f,
                "\" tabindex=\"0\" role=\"button\"><line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" "
                "y2=\"%.1f\"/><path d=\"M%.2f %d l-7 -12 h14 z\"/><title>",
                x, AXIS_H - 4, x, bottom, x, AXIS_H - 2);
        esc(pg, v->checker);
        fputs(": ", pg->f);
        esc(pg, v->text);
        fputs(" (click for the events)</title></g>\n", pg->f);
    }
}

/* Copy JSON text into a <script> element: '<', '>' and '&' only occur
 * inside JSON strings, where \u escapes keep the data while making "</script"
 * and "<!--" impossible. */
static void write_script_json(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("\\u003c", f);
        else if (*s == '>')
            fputs("\\u003e", f);
        else if (*s == '&')
            fputs("\\u0026", f);
        else
            fputc(*s, f);
    }
}

static int write_data(const page *pg)
{
    json_t *root = json_object(), *vs = json_array();
    bool bad = !root || !vs || json_object_set_new(root, "violations", vs) != 0;
    if (bad)
        json_decref(vs);
    for (size_t i = 0; !bad && i < pg->rep->nviolations; i++) {
        const sim_report_violation *v = &pg->rep->violations[i];
        json_t *ctx = json_array();
        if (!ctx)
            bad = true;
        for (size_t k = 0; ctx && k < v->ncontext; k++)
            if (json_array_append_new(ctx, json_string(v->context[k] ? v->context[k] : "")))
                bad = true;
        json_t *o =
            json_pack("{s:s?, s:s?, s:s?, s:I, s:o}", "checker", v->checker, "message",
                      v->message ? v->message : "", "text", v->text, "t_us",
                      (json_int_t)(v->t_us > INT64_MAX ? INT64_MAX : v->t_us), "context", ctx);
        if (!o || json_array_append_new(vs, o) != 0)
            bad = true;
    }
    char *text = bad ? NULL : json_dumps(root, JSON_ENSURE_ASCII | JSON_COMPACT);
    json_decref(root);
    if (!text)
        return FL_E_NOMEM;
    fputs("<script type=\"application/json\" id=\"fl-data\">", pg->f);
    write_script_json(pg->f, text);
    fputs("</script>\n", pg->f);
    free(text);
    return 0;
}

static void write_legend(const page *pg)
{
    fputs("<div class=\"legend\">", pg->f);
    for (int s = ST_UP; s < ST__COUNT; s++)
        fprintf(pg->f,
                "<span><svg width=\"12\" height=\"10\"><rect class=\"st-%s\" width=\"12\" "
                "height=\"10\"/></svg> %s</span>",
                STATE_NAME[s], STATE_NAME[s]);
    fputs("<span><i style=\"background:#f6c6cb\"></i>fault</span>"
          "<span><i style=\"background:#0969da\"></i>publishes/s</span>"
          "<span><i style=\"background:#8250df\"></i>persisted acks/s</span>"
          "<span><i style=\"background:#1a7f37\"></i>deliveries/s</span></div>\n",
          pg->f);
}

static int write_body(page *pg)
{
    int rc = plan_lanes(pg);
    if (rc)
        return rc;
    double height = AXIS_H + (double)pg->nlanes * LANE_H + 6;
    write_head(pg);
    write_figures(pg);
    write_legend(pg);
    fprintf(pg->f,
            "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" "
            "role=\"img\">\n",
            SVG_W, height);
    write_axis(pg, height - 6);
    write_lanes(pg);
    write_faults(pg);
    write_violations(pg);
    fputs("</svg>\n<h2 style=\"font-size:14px\">Violations</h2>\n", pg->f);
    if (pg->rep->nviolations == 0)
        fputs("<p>None.</p>\n", pg->f);
    fputs("<ul id=\"violation-list\"></ul>\n<div id=\"details\">Click a violation marker (red "
          "triangle) to see the events that show it.</div>\n",
          pg->f);
    if ((rc = write_data(pg)))
        return rc;
    fprintf(pg->f, "<script>%s</script>\n<div class=\"foot\">faultline timeline &middot; %zu lanes",
            JS, pg->nlanes);
    if (pg->tl && pg->tl->lost)
        fprintf(pg->f, " &middot; %" PRIu64 " events not drawn (limits)", pg->tl->lost);
    if (pg->rep->history_file) {
        fputs(" &middot; <a href=\"", pg->f);
        esc(pg, pg->rep->history_file);
        fputs("\">history</a>", pg->f);
    }
    fputs(" &middot; <a href=\"report.json\">report.json</a></div>\n</body></html>\n", pg->f);
    return 0;
}

int sim_timeline_write_html(const sim_timeline *tl, const sim_report *rep, FILE *f)
{
    page pg = {f, tl, rep, end_time(tl, rep), NULL, NULL, NULL, 0};
    int rc = write_body(&pg);
    free(pg.lanes);
    free(pg.kinds);
    free(pg.names);
    if (rc)
        return rc;
    return fflush(f) == 0 && !ferror(f) ? 0 : FL_E_IO;
}
