/* The fault engine of the scenario runner: the scenario's fault timeline
 * applied to a running simulation.
 *
 * Every fault kind of scenario-format.md maps onto one call of the
 * simulation core (sim_net for the network, sim_disk for the disks,
 * sim_node crash / power loss / restart for processes, sim_clock_jump for
 * the clock) or of the runner (application and broker restarts). A fault
 * fires at its `at` time or at the Nth event of its trigger and always
 * applies through the barrier of its instant (see faults.h). Faults with a
 * duration heal by themselves; the liveness phase heals the rest.
 *
 * Every application and heal is recorded in the history (src "runner", ev
 * "fault_start" / "fault_heal", with the kind and the target, never the
 * fault's index, so a concrete scenario whose faults were reordered records
 * the same lines) and reported to the checkers.
 *
 * Corruption (corrupt_file) is held until the target next opens its files:
 * rn_faults_apply_corruptions damages the durable bytes right before the
 * restart. The files of a store or journal are its segment files (*.seg) in
 * path order, seen as one byte space: an offset in bytes or "middle" points
 * into that space; "tail" means the end of the newest non-empty segment.
 */
#include "faults.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/record.h"
#include "faultline/wire.h"

/* ------------------------------------------------------------------ */
/* names and small helpers                                              */

static const char *target_name(const sim_run *r, const sim_fault *f)
{
    if (f->target_sort == SIM_TARGET_CLIENT)
        return r->sc->clients[f->target].name;
    if (f->target_sort == SIM_TARGET_BROKER)
        return r->sc->brokers[f->target].name;
    return "";
}

static const char *kind_name(const sim_fault *f)
{
    return sim_scenario_enum_name(SIM_ENUM_FAULT_KIND, (int)f->kind);
}

static sim_net *net_of(sim_run *r)
{
    return sim_ctx_net(r->ctx);
}

/* The length of a duration-limited fault: its `for`, or until the end of the
 * workload phase when it has none. */
static uint64_t fault_duration(const sim_run *r, const sim_fault *f)
{
    if (f->has_for)
        return f->for_us;
    uint64_t now = sim_now(r->ctx);
    return r->sc->duration_us > now ? r->sc->duration_us - now : 0;
}

static size_t counter_slot(const sim_run *r, sim_event ev, sim_target_sort sort, size_t idx)
{
    size_t width = r->sc->nclients + r->sc->nbrokers;
    size_t col = sort == SIM_TARGET_CLIENT ? idx : r->sc->nclients + idx;
    return (size_t)ev * width + col;
}

static void record(sim_run *r, rn_fault *rf, const char *event, const char *extra)
{
    const sim_fault *f = rf->f;
    rn_trace(r, target_name(r, f), event, "\"kind\":\"%s\",\"target\":\"%s\"%s%s", kind_name(f),
             target_name(r, f), extra && *extra ? "," : "", extra ? extra : "");
}

/* ------------------------------------------------------------------ */
/* heal                                                                 */

void rn_fault_healed(sim_run *r, rn_fault *rf)
{
    if (rf->pub.healed)
        return;
    if (rf->heal_ev) {
        sim_cancel(r->ctx, rf->heal_ev);
        rf->heal_ev = 0;
    }
    uint64_t now = sim_now(r->ctx);
    rf->active = false;
    rf->pub.healed = true;
    rf->pub.healed_us = now;
    r->fig.faults_healed++;
    if (now > r->fig.last_heal_us)
        r->fig.last_heal_us = now;
    record(r, rf, "fault_heal", NULL);
    if (rf->chk_started)
        sim_checker_fault(r->chk, now, rf->pub.index, kind_name(rf->f), target_name(r, rf->f),
                          SIM_CHK_FAULT_HEAL);
}

/* A fault that acts once and is over at once. */
static void instant(sim_run *r, rn_fault *rf)
{
    rn_fault_healed(r, rf);
}

static void heal_event(void *arg);
static void slow_sync_add(sim_run *r, const sim_fault *f, bool on);

static void heal_after(sim_run *r, rn_fault *rf, uint64_t delay_us)
{
    rf->active = true;
    if (sim_schedule(r->ctx, delay_us, heal_event, rf, &rf->heal_ev) != 0)
        rn_fault_healed(r, rf);
}

/* What ending a fault does besides recording it. */
static void undo(sim_run *r, rn_fault *rf)
{
    const sim_fault *f = rf->f;
    switch (f->kind) {
    case SIM_FAULT_CRASH_CLIENT:
    case SIM_FAULT_POWER_LOSS_CLIENT:
        rn_app_restart(r, &r->apps[f->target]);
        break;
    case SIM_FAULT_CRASH_BROKER:
    case SIM_FAULT_POWER_LOSS_BROKER:
        rn_broker_restart(r, &r->brokers[f->target]);
        break;
    case SIM_FAULT_DISK_FULL:
        sim_disk_set_space_budget(sim_node_disk(f->target_sort == SIM_TARGET_CLIENT
                                                    ? r->apps[f->target].node
                                                    : r->brokers[f->target].node),
                                  UINT64_MAX);
        break;
    case SIM_FAULT_IO_ERROR:
        sim_disk_clear_faults(sim_node_disk(f->target_sort == SIM_TARGET_CLIENT
                                                ? r->apps[f->target].node
                                                : r->brokers[f->target].node));
        break;
    case SIM_FAULT_SLOW_SYNC:
        slow_sync_add(r, f, false);
        break;
    default:
        break; /* network faults heal inside sim_net; drop_acks just stops */
    }
}

static void heal_event(void *arg)
{
    rn_fault *rf = arg;
    rf->heal_ev = 0;
    undo(rf->run, rf);
    rn_fault_healed(rf->run, rf);
}

/* ------------------------------------------------------------------ */
/* drop_acks: a link filter on the client's paths                       */

static int ack_type_of(sim_ack_type t)
{
    switch (t) {
    case SIM_ACK_LOGON:
        return FL_ACK_LOGON;
    case SIM_ACK_COMPLETED:
        return FL_ACK_COMPLETED;
    default:
        return FL_ACK_PERSISTED;
    }
}

/* The active drop_acks fault of `a` that wants a unit whose frames are all
 * acks of one type, or NULL. */
static rn_fault *dropping_fault(sim_run *r, const rn_app *a, int ack_type)
{
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        const sim_fault *f = rf->f;
        if (f->kind != SIM_FAULT_DROP_ACKS || !rf->active || f->target != a->idx)
            continue;
        if (ack_type_of(f->ack_type) == ack_type && (!f->has_count || rf->drops_left > 0))
            return rf;
    }
    return NULL;
}

/* The ack type shared by every frame of the unit, or -1 (not all acks of one
 * type, or not whole frames). */
static int unit_ack_type(const uint8_t *buf, size_t len)
{
    int type = -1;
    while (len > 0) {
        fl_frame fr;
        size_t used = 0;
        if (fl_frame_decode(buf, len, 0, &fr, &used) != 0 || fr.command != FL_CMD_ACK)
            return -1;
        if (type >= 0 && type != fr.ack_type)
            return -1;
        type = fr.ack_type;
        buf += used;
        len -= used;
    }
    return type;
}

static int drop_filter(void *arg, sim_dir dir, const uint8_t *buf, size_t len)
{
    rn_app *a = arg;
    sim_run *r = a->run;
    if (dir != SIM_DIR_TO_CLIENT || r->liveness)
        return SIM_UNIT_PASS;
    bool any = false;
    for (size_t i = 0; i < r->sc->nfaults && !any; i++)
        any = r->faults[i].f->kind == SIM_FAULT_DROP_ACKS && r->faults[i].active &&
              r->faults[i].f->target == a->idx;
    if (!any)
        return SIM_UNIT_PASS;
    int type = unit_ack_type(buf, len);
    if (type < 0)
        return SIM_UNIT_PASS;
    rn_fault *rf = dropping_fault(r, a, type);
    if (!rf)
        return SIM_UNIT_PASS;
    if (rf->f->has_count && --rf->drops_left == 0 && !rf->heal_ev)
        sim_schedule(r->ctx, 0, heal_event, rf, &rf->heal_ev);
    return SIM_UNIT_DROP;
}

/* ------------------------------------------------------------------ */
/* corruption                                                           */

typedef struct seg_file {
    char *path;
    uint64_t size;
} seg_file;

typedef struct seg_list {
    const char *dir;
    seg_file *v;
    size_t n, cap;
    int err;
} seg_list;

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int collect_seg(void *arg, const sim_disk_file_info *info)
{
    seg_list *l = arg;
    size_t dl = strlen(l->dir);
    if (!info->exists_current || strncmp(info->path, l->dir, dl) != 0 || info->path[dl] != '/')
        return 0;
    if (!has_suffix(info->path, ".seg") && !has_suffix(info->path, ".db"))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        seg_file *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->err = FL_E_NOMEM;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].path = strdup(info->path);
    if (!l->v[l->n].path) {
        l->err = FL_E_NOMEM;
        return 1;
    }
    l->v[l->n++].size = info->current_size;
    return 0;
}

static void seg_list_free(seg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the last whole record in a segment image and its size; false if
 * there is none. */
static bool last_record(const uint8_t *buf, size_t len, size_t *off, size_t *size)
{
    size_t pos = FL_SEG_HEADER_SIZE;
    bool found = false;
    while (pos + FL_RECORD_HEADER_SIZE <= len) {
        uint32_t plen = be32(buf + pos + 8);
        if (plen > FL_RECORD_MAX_PAYLOAD)
            break;
        size_t rs = fl_record_size(plen);
        if (rs == 0 || rs > len - pos)
            break;
        *off = pos;
        *size = rs;
        found = true;
        pos += rs;
    }
    return found;
}

/* Damage one file at `off` per the fault's mode; returns 0 or a code. */
static int damage(sim_run *r, sim_disk *d, const seg_file *sf, uint64_t off, const sim_fault *f,
                  char *what, size_t cap)
{
    uint64_t n = f->bytes ? f->bytes : 1;
    switch (f->mode) {
    case SIM_CORRUPT_BIT_FLIP: {
        if (off + n > sf->size)
            n = sf->size - off;
        for (uint64_t i = 0; i < n; i++) {
            int bit = (int)sim_prng_below(sim_ctx_prng(r->ctx), 8);
            int rc = sim_disk_flip_bit(d, sf->path, off + i, bit);
            if (rc != 0)
                return rc;
        }
        snprintf(what, cap, "\"bytes\":%" PRIu64, n);
        return 0;
    }
    case SIM_CORRUPT_TRUNCATE:
        snprintf(what, cap, "\"size\":%" PRIu64, off);
        return sim_disk_truncate_file(d, sf->path, off);
    case SIM_CORRUPT_ZERO_SECTOR:
        snprintf(what, cap, "\"sector\":%" PRIu64, off / SIM_DISK_SECTOR);
        return sim_disk_zero_sector(d, sf->path, off / SIM_DISK_SECTOR);
    case SIM_CORRUPT_TEAR_LAST_RECORD: {
        uint8_t *buf = NULL;
        size_t len = 0, roff = 0, rsize = 0;
        int rc = sim_disk_read_current(d, sf->path, &buf, &len);
        if (rc != 0)
            return rc;
        uint64_t cut = len > n ? len - n : 0;
        if (last_record(buf, len, &roff, &rsize))
            cut = roff + (rsize > 1 ? rsize / 2 : 0);
        free(buf);
        snprintf(what, cap, "\"size\":%" PRIu64, cut);
        return sim_disk_truncate_file(d, sf->path, cut);
    }
    }
    return FL_E_INVAL;
}

/* Where in the file list the fault points: file index and offset. */
static bool locate(const seg_list *l, const sim_fault *f, size_t *fi, uint64_t *off)
{
    uint64_t total = 0;
    for (size_t i = 0; i < l->n; i++)
        total += l->v[i].size;
    if (total == 0)
        return false;
    if (f->offset_kind == SIM_OFFSET_TAIL || f->mode == SIM_CORRUPT_TEAR_LAST_RECORD) {
        size_t i = l->n;
        while (i > 0 && l->v[i - 1].size == 0)
            i--;
        if (i == 0)
            return false;
        uint64_t n = f->bytes ? f->bytes : 1;
        uint64_t sz = l->v[i - 1].size;
        *fi = i - 1;
        *off = sz > n ? sz - n : 0;
        return true;
    }
    uint64_t pos = f->offset_kind == SIM_OFFSET_MIDDLE ? total / 2 : f->offset;
    if (pos >= total)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        if (pos < l->v[i].size) {
            *fi = i;
            *off = pos;
            return true;
        }
        pos -= l->v[i].size;
    }
    return false;
}

static const char *corrupt_dir(const sim_fault *f)
{
    switch (f->file) {
    case SIM_FILE_PUBLISH_STORE:
        return RN_PUBSTORE_DIR;
    case SIM_FILE_BOOKMARK_STORE:
        return RN_BMSTORE_DIR;
    default:
        return RN_JOURNAL_DIR;
    }
}

static void corrupt_now(sim_run *r, rn_fault *rf, sim_node *node)
{
    const sim_fault *f = rf->f;
    sim_disk *d = sim_node_disk(node);
    seg_list l = {.dir = corrupt_dir(f)};
    sim_disk_list_all(d, collect_seg, &l);
    size_t fi = 0;
    uint64_t off = 0;
    char what[96] = "", extra[1400];
    int rc = l.err;
    if (rc == 0 && !locate(&l, f, &fi, &off))
        rc = FL_E_NOENT;
    if (rc == 0)
        rc = damage(r, d, &l.v[fi], off, f, what, sizeof what);
    if (rc != 0) {
        rf->pub.skipped = true;
        snprintf(extra, sizeof extra, "\"dir\":\"%s\",\"err\":\"%s\"", l.dir, fl_err_name(rc));
    } else {
        char jp[1100];
        sim_json_escape(jp, sizeof jp, l.v[fi].path);
        snprintf(extra, sizeof extra, "\"file\":%s,\"mode\":\"%s\",\"offset\":%" PRIu64 ",%s", jp,
                 sim_scenario_enum_name(SIM_ENUM_CORRUPT_MODE, (int)f->mode), off, what);
    }
    record(r, rf, "corrupt", extra);
    seg_list_free(&l);
}

void rn_faults_apply_corruptions(sim_run *r, sim_target_sort sort, size_t idx)
{
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        if (!rf->pending_corruption || rf->f->target_sort != sort || rf->f->target != idx)
            continue;
        rf->pending_corruption = false;
        corrupt_now(r, rf, sort == SIM_TARGET_CLIENT ? r->apps[idx].node : r->brokers[idx].node);
    }
}

/* ------------------------------------------------------------------ */
/* apply                                                                */

static sim_disk *target_disk(sim_run *r, const sim_fault *f)
{
    return sim_node_disk(f->target_sort == SIM_TARGET_CLIENT ? r->apps[f->target].node
                                                             : r->brokers[f->target].node);
}

static sim_disk_op disk_op(sim_io_op op)
{
    switch (op) {
    case SIM_IO_READ:
        return SIM_DISK_OP_READ;
    case SIM_IO_SYNC:
        return SIM_DISK_OP_SYNC;
    default:
        return SIM_DISK_OP_WRITE;
    }
}

static void apply_partition(sim_run *r, rn_fault *rf)
{
    const sim_fault *f = rf->f;
    uint64_t dur = fault_duration(r, f);
    const char *peers[64];
    size_t n = 0;
    for (size_t i = 0; i < f->nfrom && n < 64; i++)
        peers[n++] = r->sc->brokers[f->from[i]].name;
    if (dur == 0 || sim_net_partition(net_of(r), target_name(r, f), peers, n, dur) != 0) {
        rf->pub.skipped = true;
        instant(r, rf);
        return;
    }
    heal_after(r, rf, dur);
}

static void apply_client_crash(sim_run *r, rn_fault *rf, bool power_loss)
{
    rn_app *a = &r->apps[rf->f->target];
    if (!rn_app_crash(r, a, power_loss, rf->f->restart_after_us)) {
        rf->pub.skipped = true;
        instant(r, rf);
        return;
    }
    heal_after(r, rf, rf->f->restart_after_us);
}

static void apply_broker_crash(sim_run *r, rn_fault *rf, bool power_loss)
{
    rn_broker *b = &r->brokers[rf->f->target];
    if (b->gone) {
        rf->pub.skipped = true;
        instant(r, rf);
        return;
    }
    /* A broker that is down already (`down`: true) comes up at the end. */
    rn_broker_crash(r, b, power_loss, rf->f->down_for_us);
    heal_after(r, rf, rf->f->down_for_us);
}

static void apply_disk_full(sim_run *r, rn_fault *rf)
{
    sim_disk *d = target_disk(r, rf->f);
    sim_disk_set_space_budget(d, sim_disk_total_bytes(d));
    uint64_t dur = fault_duration(r, rf->f);
    if (rf->f->has_for || dur > 0)
        heal_after(r, rf, dur);
    else
        rf->active = true; /* healed by the liveness phase */
}

/* Add (on) or take back the fault's sync latency on the target's disk.
 * Overlapping slow_sync faults on one disk sum, as latency faults do; with
 * one at a time the heal brings the disk back to 0. */
static void slow_sync_add(sim_run *r, const sim_fault *f, bool on)
{
    sim_disk *d = target_disk(r, f);
    uint64_t cur = sim_disk_sync_latency(d);
    if (on)
        cur = f->add_us > UINT64_MAX - cur ? UINT64_MAX : cur + f->add_us;
    else
        cur = f->add_us < cur ? cur - f->add_us : 0;
    sim_disk_set_sync_latency(d, cur);
}

/* Every file_sync of the target blocks it for `add` more (sim.h "Slow
 * syncs"), until `for` ends, else until the end of the workload phase. */
static void apply_slow_sync(sim_run *r, rn_fault *rf)
{
    slow_sync_add(r, rf->f, true);
    uint64_t dur = fault_duration(r, rf->f);
    if (rf->f->has_for || dur > 0)
        heal_after(r, rf, dur);
    else
        rf->active = true; /* healed by the liveness phase */
}

static void apply_io_error(sim_run *r, rn_fault *rf)
{
    const sim_fault *f = rf->f;
    unsigned nth = f->nth > 0 && f->nth <= UINT32_MAX ? (unsigned)f->nth : 1;
    if (sim_disk_inject_io_error(target_disk(r, f), disk_op(f->op), nth, f->persistent, NULL) != 0)
        rf->pub.skipped = true;
    if (f->persistent && !rf->pub.skipped)
        rf->active = true; /* until the liveness phase */
    else
        instant(r, rf);
}

static void apply_drop_acks(sim_run *r, rn_fault *rf)
{
    const sim_fault *f = rf->f;
    rf->active = true;
    if (f->has_count) {
        rf->drops_left = f->count;
        if (rf->drops_left == 0)
            instant(r, rf);
        return;
    }
    uint64_t dur = fault_duration(r, f);
    heal_after(r, rf, dur);
}

/* Whether applying the fault starts something that heals later. */
static bool fault_lasts(const sim_run *r, const sim_fault *f)
{
    switch (f->kind) {
    case SIM_FAULT_DISCONNECT:
    case SIM_FAULT_FAILOVER:
    case SIM_FAULT_CORRUPT_FILE:
    case SIM_FAULT_ADVANCE_CLOCK:
        return false;
    case SIM_FAULT_STALL:
        return f->has_for && f->for_us > 0;
    case SIM_FAULT_IO_ERROR:
        return f->persistent;
    case SIM_FAULT_CRASH_CLIENT:
    case SIM_FAULT_POWER_LOSS_CLIENT:
        return !r->apps[f->target].down;
    case SIM_FAULT_CRASH_BROKER:
    case SIM_FAULT_POWER_LOSS_BROKER:
        return !r->brokers[f->target].gone;
    case SIM_FAULT_DROP_ACKS:
        return !f->has_count || f->count > 0;
    default:
        return true;
    }
}

static void apply(sim_run *r, rn_fault *rf)
{
    const sim_fault *f = rf->f;
    uint64_t now = sim_now(r->ctx);
    rf->queued = false;
    rf->pub.fired = true;
    rf->pub.fired_us = now;
    rf->pub.fire_seq = r->fire_seq++;
    r->fig.faults_fired++;
    record(r, rf, "fault_start", NULL);
    /* Tell the checker first (START or INSTANT): a heal inside the switch
     * must come after it. */
    bool lasts = fault_lasts(r, f);
    rf->chk_started = lasts;
    sim_checker_fault(r->chk, now, rf->pub.index, kind_name(f), target_name(r, f),
                      lasts ? SIM_CHK_FAULT_START : SIM_CHK_FAULT_INSTANT);
    const char *name = target_name(r, f);
    switch (f->kind) {
    case SIM_FAULT_DISCONNECT:
        sim_net_cut(net_of(r), name);
        instant(r, rf);
        break;
    case SIM_FAULT_STALL:
        sim_net_stall(net_of(r), name, f->has_for ? f->for_us : 0);
        if (f->has_for && f->for_us > 0)
            heal_after(r, rf, f->for_us);
        else
            instant(r, rf);
        break;
    case SIM_FAULT_PARTITION:
        apply_partition(r, rf);
        break;
    case SIM_FAULT_LATENCY: {
        uint64_t dur = fault_duration(r, f);
        if (dur == 0 || sim_net_add_latency(net_of(r), name, f->add_us, f->jitter_us, dur) != 0) {
            rf->pub.skipped = true;
            instant(r, rf);
        } else {
            heal_after(r, rf, dur);
        }
        break;
    }
    case SIM_FAULT_DROP_ACKS:
        apply_drop_acks(r, rf);
        break;
    case SIM_FAULT_CRASH_CLIENT:
        apply_client_crash(r, rf, false);
        break;
    case SIM_FAULT_POWER_LOSS_CLIENT:
        apply_client_crash(r, rf, true);
        break;
    case SIM_FAULT_CRASH_BROKER:
        apply_broker_crash(r, rf, false);
        break;
    case SIM_FAULT_POWER_LOSS_BROKER:
        apply_broker_crash(r, rf, true);
        break;
    case SIM_FAULT_FAILOVER:
        if (r->brokers[f->target].gone)
            rf->pub.skipped = true;
        else
            rn_broker_crash(r, &r->brokers[f->target], false, UINT64_MAX);
        r->brokers[f->target].gone = true;
        instant(r, rf);
        break;
    case SIM_FAULT_CORRUPT_FILE:
        rf->pending_corruption = true;
        instant(r, rf);
        break;
    case SIM_FAULT_DISK_FULL:
        apply_disk_full(r, rf);
        break;
    case SIM_FAULT_IO_ERROR:
        apply_io_error(r, rf);
        break;
    case SIM_FAULT_SLOW_SYNC:
        apply_slow_sync(r, rf);
        break;
    case SIM_FAULT_ADVANCE_CLOCK:
        sim_clock_jump(r->ctx, f->by_us);
        sim_checker_clock_jump(r->chk, sim_now(r->ctx), f->by_us);
        for (size_t i = 0; i < r->sc->nbrokers; i++)
            if (r->brokers[i].b)
                rn_broker_run_retention(r->brokers[i].b);
        instant(r, rf);
        break;
    }
}

/* ------------------------------------------------------------------ */
/* the barrier and the triggers                                         */

static void barrier_run(void *arg)
{
    sim_run *r = arg;
    r->barrier_ev = 0;
    uint64_t t = 0;
    if (sim_next_time(r->ctx, &t) && t <= sim_now(r->ctx)) {
        sim_schedule(r->ctx, 0, barrier_run, r, &r->barrier_ev);
        return;
    }
    while (r->nbarrier > 0) {
        size_t i = r->barrier[0];
        memmove(r->barrier, r->barrier + 1, (r->nbarrier - 1) * sizeof *r->barrier);
        r->nbarrier--;
        apply(r, &r->faults[i]);
    }
}

static void barrier_join(sim_run *r, rn_fault *rf, bool by_trigger)
{
    if (rf->queued || rf->pub.fired)
        return;
    rf->queued = true;
    rf->pub.by_trigger = by_trigger;
    r->barrier[r->nbarrier++] = rf->pub.index; /* capacity nfaults: each joins once */
    if (!r->barrier_ev)
        sim_schedule(r->ctx, 0, barrier_run, r, &r->barrier_ev);
}

static void at_event(void *arg)
{
    rn_fault *rf = arg;
    rf->at_ev = 0;
    barrier_join(rf->run, rf, false);
}

void rn_trigger(sim_run *r, sim_event ev, sim_target_sort sort, size_t idx)
{
    if (r->liveness || (unsigned)ev >= RN_NEVENTS)
        return;
    uint64_t n = ++r->counters[counter_slot(r, ev, sort, idx)];
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        const sim_fault *f = rf->f;
        if (f->has_at || f->on_event != ev || f->on_sort != sort || f->on_index != idx)
            continue;
        if (f->on_count == n)
            barrier_join(r, rf, true);
    }
}

/* ------------------------------------------------------------------ */
/* disk observers                                                       */

typedef struct disk_obs {
    sim_run *r;
    sim_target_sort sort;
    size_t idx;
} disk_obs;

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return path && strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void client_disk_observer(void *arg, int op, const char *path, uint64_t bytes)
{
    rn_app *a = arg;
    if (!under(path, RN_PUBSTORE_DIR) && !under(path, RN_BMSTORE_DIR))
        return;
    if (op == SIM_DISK_OP_WRITE)
        rn_trigger(a->run, SIM_EVENT_STORE_WRITE, SIM_TARGET_CLIENT, a->idx);
    else if (op == SIM_DISK_OP_SYNC)
        rn_trigger(a->run, SIM_EVENT_STORE_SYNC, SIM_TARGET_CLIENT, a->idx);
}

void rn_faults_observe_disks(sim_run *r)
{
    for (size_t i = 0; i < r->sc->nclients; i++)
        sim_disk_set_observer(sim_node_disk(r->apps[i].node), client_disk_observer, &r->apps[i]);
}

/* ------------------------------------------------------------------ */
/* start and the liveness phase                                         */

int rn_faults_start(sim_run *r)
{
    size_t width = r->sc->nclients + r->sc->nbrokers;
    r->counters = calloc(RN_NEVENTS * width + 1, sizeof *r->counters);
    r->barrier = calloc(r->sc->nfaults + 1, sizeof *r->barrier);
    if (!r->counters || !r->barrier)
        return FL_E_NOMEM;
    for (size_t i = 0; i < r->sc->nclients; i++)
        sim_net_set_filter(net_of(r), r->sc->clients[i].name, NULL, drop_filter, &r->apps[i]);
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        if (!rf->f->has_at)
            continue;
        int rc = sim_schedule_at(r->ctx, rf->f->at_us, at_event, rf, &rf->at_ev);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void rn_faults_heal_all(sim_run *r)
{
    r->liveness = true;
    for (size_t i = 0; i < r->sc->nfaults; i++) {
        rn_fault *rf = &r->faults[i];
        if (rf->at_ev) {
            sim_cancel(r->ctx, rf->at_ev);
            rf->at_ev = 0;
        }
        if (!rf->active)
            continue;
        switch (rf->f->kind) {
        case SIM_FAULT_STALL:
        case SIM_FAULT_PARTITION:
        case SIM_FAULT_LATENCY:
            break; /* the network heals these itself at their end */
        default:
            if (rf->heal_ev) {
                sim_cancel(r->ctx, rf->heal_ev);
                rf->heal_ev = 0;
            }
            undo(r, rf);
            rn_fault_healed(r, rf);
            break;
        }
    }
}
