/* The runner's glue to the simulated broker: a scenario's broker ->
 * sim_broker_config, and thin wrappers for the calls the runner makes (see
 * runner_broker.h).
 */
#include "runner_broker.h"

#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "journal.h"

static fl_recovery_mode recovery_of(sim_recovery_mode m)
{
    switch (m) {
    case SIM_RECOVERY_STRICT:
        return FL_RECOVERY_STRICT;
    case SIM_RECOVERY_TOLERATE_TORN_TAIL:
        return FL_RECOVERY_TOLERATE_TORN_TAIL;
    case SIM_RECOVERY_SALVAGE:
        return FL_RECOVERY_SALVAGE;
    case SIM_RECOVERY_POINT_IN_TIME:
        break;
    }
    return FL_RECOVERY_POINT_IN_TIME;
}

int rn_broker_config_init(rn_broker_config *out, const sim_scenario *sc, const sim_broker_spec *b)
{
    size_t nt = b->ntopics, nr = b->nreplicate_to, nc = b->ncredentials;
    sim_broker_config init = SIM_BROKER_CONFIG_INIT;
    *out = (rn_broker_config){init, calloc(nt + 1, sizeof *out->topics),
                              calloc(nr + 1, sizeof *out->replicas),
                              calloc(nc + 1, sizeof *out->credentials)};
    if (!out->topics || !out->replicas || !out->credentials)
        return FL_E_NOMEM;
    for (size_t i = 0; i < nt; i++)
        out->topics[i] = (sim_broker_topic){b->topics[i].name, b->topics[i].journal};
    for (size_t i = 0; i < nr; i++) {
        const sim_replica *r = &b->replicate_to[i];
        out->replicas[i] = (sim_broker_replica){sc->brokers[r->broker].name, r->mode, r->lag_us};
    }
    for (size_t i = 0; i < nc; i++)
        out->credentials[i] = (sim_broker_credential){sc->clients[b->credentials[i].client].name,
                                                      b->credentials[i].password};
    sim_broker_config *c = &out->cfg;
    c->name = b->name;
    c->topics = out->topics;
    c->ntopics = nt;
    c->segment_size = b->journal.segment_size;
    c->segment_age_us = b->journal.segment_age_us;
    c->retention_us = b->journal.has_retention ? b->journal.retention_us : 0;
    c->sync_interval_us = b->journal.sync_interval_us;
    c->recovery = recovery_of(b->journal.recovery);
    c->ack_interval_us = b->ack_interval_us;
    c->heartbeat_us = b->heartbeat_us;
    c->expired_bookmark = b->expired_bookmark;
    c->replicate_to = out->replicas;
    c->nreplicas = nr;
    c->has_credentials = b->has_credentials;
    c->credentials = out->credentials;
    c->ncredentials = nc;
    c->duplicate_logon = b->duplicate_logon;
    return 0;
}

void rn_broker_config_release(rn_broker_config *c)
{
    free(c->topics);
    free(c->replicas);
    free(c->credentials);
    c->topics = NULL;
    c->replicas = NULL;
    c->credentials = NULL;
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
    if (o->fn)
        o->fn(o->arg, ev, client, value);
}

/* The instance and its observer record travel together. */
typedef struct glue {
    sim_broker *b;
    glue_obs obs;
} glue;

int rn_broker_new(sim_node *node, const sim_broker_config *cfg, rn_broker_event_fn fn, void *arg,
                  void **out, char *err, size_t errcap)
{
    glue *g = calloc(1, sizeof *g);
    if (!g)
        return FL_E_NOMEM;
    g->obs = (glue_obs){fn, arg, NULL, NULL, NULL};
    int rc = sim_broker_new(sim_node_runtime(node), cfg, &g->b, err, errcap);
    if (rc != 0)
        goto out;
    g->obs.b = g->b;
    sim_broker_set_observer(g->b, on_event, &g->obs);
    rc = sim_broker_listen_sim(g->b, node, cfg->name);
    if (rc != 0) {
        sim_broker_free(g->b);
        goto out;
    }
    *out = g;
    g = NULL;
out:
    free(g);
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
