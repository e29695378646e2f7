/* The runner's glue to the simulated broker: rn_broker_spec (plain values,
 * enums by name) -> sim_broker_config, and thin wrappers for the calls the
 * runner makes. See runner_broker.h for why this is a file of its own.
 */
#include "runner_broker.h"

#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "faultline/error.h"
#include "journal.h"

static fl_recovery_mode recovery_of(const char *s)
{
    if (s && strcmp(s, "strict") == 0)
        return FL_RECOVERY_STRICT;
    if (s && strcmp(s, "tolerate_torn_tail") == 0)
        return FL_RECOVERY_TOLERATE_TORN_TAIL;
    if (s && strcmp(s, "salvage") == 0)
        return FL_RECOVERY_SALVAGE;
    return FL_RECOVERY_POINT_IN_TIME;
}

static sim_expired_policy expired_of(const char *s)
{
    if (s && strcmp(s, "error") == 0)
        return SIM_EXPIRED_ERROR;
    if (s && strcmp(s, "oldest") == 0)
        return SIM_EXPIRED_OLDEST;
    return SIM_EXPIRED_NOW;
}

typedef struct glue_obs {
    rn_broker_event_fn fn;
    void *arg;
    sim_broker *b;
    rn_truth_fn jfn; /* journaled messages, may be NULL */
    void *jarg;
} glue_obs;

typedef struct truth {
    rn_truth_fn fn;
    void *arg;
    char topic[1024];
} truth;

static int truth_one(void *arg, const sim_journal_msg *m)
{
    truth *t = arg;
    size_t n = m->topic_len < sizeof t->topic - 1 ? m->topic_len : sizeof t->topic - 1;
    memcpy(t->topic, m->topic, n);
    t->topic[n] = 0;
    rn_journaled j = {t->topic, m->publisher, m->sequence,   m->ts_us,
                      m->recno, m->payload,   m->payload_len};
    t->fn(t->arg, &j);
    return 0;
}

static void journaled(glue_obs *o, uint64_t recno)
{
    const sim_journal *j = o->b ? sim_broker_journal(o->b) : NULL;
    sim_journal_msg m;
    if (!o->jfn || !j || sim_journal_get(j, recno, &m) != 0)
        return;
    m.recno = recno;
    truth t = {o->jfn, o->jarg, ""};
    truth_one(&t, &m);
}

static void on_event(void *arg, sim_broker_event ev, const char *client, uint64_t value)
{
    glue_obs *o = arg;
    if (ev == SIM_BROKER_EV_JOURNAL_WRITE)
        journaled(o, value);
    if (!o->fn)
        return;
    int e = 0;
    switch (ev) {
    case SIM_BROKER_EV_JOURNAL_WRITE:
        e = RN_BEV_JOURNAL_WRITE;
        break;
    case SIM_BROKER_EV_JOURNAL_SYNC:
        e = RN_BEV_JOURNAL_SYNC;
        break;
    case SIM_BROKER_EV_PERSISTED_ACK:
        e = RN_BEV_PERSISTED_ACK;
        break;
    case SIM_BROKER_EV_DELIVERY:
        e = RN_BEV_DELIVERY;
        break;
    case SIM_BROKER_EV_LOGON:
        e = RN_BEV_LOGON;
        break;
    case SIM_BROKER_EV_REPLICATION:
        e = RN_BEV_REPLICATION;
        break;
    }
    if (e)
        o->fn(o->arg, e, client, value);
}

/* The instance and its observer record travel together. */
typedef struct glue {
    sim_broker *b;
    glue_obs obs;
} glue;

int rn_broker_new(sim_node *node, const rn_broker_spec *spec, rn_broker_event_fn fn, void *arg,
                  void **out, char *err, size_t errcap)
{
    size_t nt = spec->ntopics, nr = spec->nreplicas, nc = spec->ncredentials;
    sim_broker_topic *topics = calloc(nt + 1, sizeof *topics);
    sim_broker_replica *reps = calloc(nr + 1, sizeof *reps);
    sim_broker_credential *creds = calloc(nc + 1, sizeof *creds);
    glue *g = calloc(1, sizeof *g);
    int rc = FL_E_NOMEM;
    if (!topics || !reps || !creds || !g)
        goto out;
    for (size_t i = 0; i < nt; i++)
        topics[i] = (sim_broker_topic){spec->topics[i], spec->journaled[i]};
    for (size_t i = 0; i < nr; i++)
        reps[i] = (sim_broker_replica){spec->replicas[i].peer,
                                       spec->replicas[i].sync ? SIM_REPL_SYNC : SIM_REPL_ASYNC,
                                       spec->replicas[i].lag_us};
    for (size_t i = 0; i < nc; i++)
        creds[i] = (sim_broker_credential){spec->cred_clients[i], spec->cred_passwords[i]};
    sim_broker_config cfg = SIM_BROKER_CONFIG_INIT;
    cfg.name = spec->name;
    cfg.topics = topics;
    cfg.ntopics = nt;
    cfg.segment_size = spec->segment_size;
    cfg.segment_age_us = spec->segment_age_us;
    cfg.retention_us = spec->retention_us;
    cfg.sync_interval_us = spec->sync_interval_us;
    cfg.recovery = recovery_of(spec->recovery);
    cfg.ack_interval_us = spec->ack_interval_us;
    cfg.heartbeat_us = spec->heartbeat_us;
    cfg.expired_bookmark = expired_of(spec->expired_bookmark);
    cfg.replicate_to = reps;
    cfg.nreplicas = nr;
    cfg.has_credentials = spec->has_credentials;
    cfg.credentials = creds;
    cfg.ncredentials = nc;
    cfg.duplicate_logon =
        spec->duplicate_logon_replace ? SIM_DUP_LOGON_REPLACE : SIM_DUP_LOGON_REFUSE;
    if (spec->journal_dir)
        cfg.journal_dir = spec->journal_dir;
    g->obs = (glue_obs){fn, arg, NULL, NULL, NULL};
    rc = sim_broker_new(sim_node_runtime(node), &cfg, &g->b, err, errcap);
    if (rc != 0)
        goto out;
    g->obs.b = g->b;
    sim_broker_set_observer(g->b, on_event, &g->obs);
    rc = sim_broker_listen_sim(g->b, node, spec->name);
    if (rc != 0) {
        sim_broker_free(g->b);
        goto out;
    }
    *out = g;
    g = NULL;
out:
    free(g);
    free(topics);
    free(reps);
    free(creds);
    return rc;
}

void rn_broker_abandon(void *b)
{
    glue *g = b;
    if (!g)
        return;
    sim_broker_abandon(g->b);
    free(g);
}

void rn_broker_free(void *b)
{
    glue *g = b;
    if (!g)
        return;
    sim_broker_free(g->b);
    free(g);
}

void rn_broker_run_retention(void *b)
{
    glue *g = b;
    if (g)
        sim_broker_run_retention(g->b);
}

void rn_broker_on_journaled(void *b, rn_truth_fn fn, void *arg)
{
    glue *g = b;
    if (!g)
        return;
    g->obs.jfn = fn;
    g->obs.jarg = arg;
}

void rn_broker_ground_truth(void *b, rn_truth_fn fn, void *arg)
{
    glue *g = b;
    truth t = {fn, arg, ""};
    const sim_journal *j = g ? sim_broker_journal(g->b) : NULL;
    if (j)
        sim_journal_iterate(j, 0, truth_one, &t);
}

static bool never(void *arg, uint64_t recno)
{
    (void)arg;
    (void)recno;
    return false;
}

uint64_t rn_broker_highest_expired(void *b, uint64_t publisher)
{
    glue *g = b;
    const sim_journal *j = g ? sim_broker_journal(g->b) : NULL;
    /* Retained messages never satisfy `never`; removed ones always count. */
    return j ? sim_journal_highest_seq_where(j, publisher, never, NULL) : 0;
}

bool rn_broker_holds(void *b, uint64_t publisher, uint64_t seq)
{
    glue *g = b;
    const sim_journal *j = g ? sim_broker_journal(g->b) : NULL;
    uint64_t recno = 0;
    return j && sim_journal_find(j, publisher, seq, &recno) == 0;
}
