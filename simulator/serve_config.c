/* `faultline serve --config FILE`: the config file, read with the scenario
 * loader so that a broker object means exactly what it means in a scenario
 * (same keys, defaults, validation and error paths), turned into a
 * sim_broker_config the way the runner does it (rn_broker_config_init,
 * runner_broker.h). See serve.h for the two accepted forms.
 */
#include "serve.h"

#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "runner_broker.h"
#include "scenario.h"
#include "util.h"

#define PLACEHOLDER_CLIENT "serve-placeholder-client"

struct sim_serve_config {
    sim_scenario *sc;
    rn_broker_config broker;
};

/* Add {"name": ..., "duration": ..., "clients": {...}} around a
 * {"brokers": {...}} document: one client per credentials name (they must
 * exist for the loader), or a placeholder. Returns a new text or NULL. */
static char *complete_small_form(json_t *doc, const char *path, char *err, size_t cap)
{
    json_t *brokers = json_object_get(doc, "brokers");
    const char *first = NULL, *bname, *key;
    json_t *b, *v;
    if (json_object_size(doc) != 1 || !json_is_object(brokers) || json_object_size(brokers) == 0) {
        sim_set_err(err, cap, "%s: a config file is a scenario or {\"brokers\": {NAME: {...}}}",
                    path);
        return NULL;
    }
    json_t *clients = json_object();
    json_object_foreach(brokers, bname, b)
    {
        if (!first || strcmp(bname, first) < 0)
            first = bname;
    }
    json_object_foreach(brokers, bname, b)
    {
        json_t *creds = json_is_object(b) ? json_object_get(b, "credentials") : NULL;
        if (!json_is_object(creds))
            continue;
        json_object_foreach(creds, key, v)
        {
            json_object_set_new(clients, key, json_pack("{s:[s]}", "servers", first));
        }
    }
    if (json_object_size(clients) == 0)
        json_object_set_new(clients, PLACEHOLDER_CLIENT, json_pack("{s:[s]}", "servers", first));
    json_t *sc = json_pack("{s:s,s:s,s:O,s:o}", "name", "serve", "duration", "1s", "brokers",
                           brokers, "clients", clients);
    char *text = sc ? json_dumps(sc, JSON_SORT_KEYS) : NULL;
    json_decref(sc);
    if (!text)
        sim_set_err(err, cap, "%s: %s", path, "out of memory");
    return text;
}

static int read_text(const char *path, char **out, size_t *len, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        sim_set_err(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return FL_E_NOENT;
    }
    char *buf = NULL;
    size_t n = 0, capb = 0;
    int rc = 0;
    for (;;) {
        if (n == capb) {
            capb = capb ? capb * 2 : 4096;
            if (capb > (64u << 20)) {
                sim_set_err(err, cap, "%s: %s", path, "larger than 64 MiB");
                rc = FL_E_IO;
                break;
            }
            char *p = realloc(buf, capb + 1);
            if (!p) {
                rc = FL_E_NOMEM;
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, capb - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        sim_set_err(err, cap, "%s: %s", path, "read error");
        rc = FL_E_IO;
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Load the text as a scenario, completing the small form first. */
static int load_scenario(const char *path, const char *text, size_t len, sim_scenario **sc,
                         char *err, size_t cap)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    sim_scenario_error se;
    if (doc && json_is_object(doc) && !json_object_get(doc, "clients")) {
        char *full = complete_small_form(doc, path, err, cap);
        json_decref(doc);
        if (!full)
            return FL_E_SCENARIO;
        int rc = sim_scenario_load_buffer(path, full, strlen(full), sc, &se);
        free(full);
        if (rc == FL_E_SCENARIO && err && cap) /* positions are of the completed text */
            snprintf(err, cap, "%s: %s: %s", path, se.path[0] ? se.path : "(document)", se.text);
        return rc;
    }
    json_decref(doc);
    int rc = sim_scenario_load_buffer(path, text, len, sc, &se);
    if (rc == FL_E_SCENARIO && err && cap)
        snprintf(err, cap, "%s", se.message);
    return rc;
}

static const sim_broker_spec *pick_broker(const sim_scenario *sc, const char *name, char *err,
                                          size_t cap)
{
    if (!name && sc->nbrokers == 1)
        return &sc->brokers[0];
    for (size_t i = 0; name && i < sc->nbrokers; i++)
        if (strcmp(sc->brokers[i].name, name) == 0)
            return &sc->brokers[i];
    char names[512] = "";
    for (size_t i = 0; i < sc->nbrokers; i++) {
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", sc->brokers[i].name);
    }
    if (name)
        sim_set_err(err, cap, "no broker \"%s\" in the config (brokers: %s)", name, names);
    else
        sim_set_err(err, cap, "the config has several brokers (%s): choose one with --broker",
                    names);
    return NULL;
}

int sim_serve_config_load(const char *path, const char *broker, sim_serve_config **out, char *err,
                          size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!path || !out)
        return FL_E_INVAL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(path, &text, &len, err, errcap);
    if (rc)
        return rc;
    sim_serve_config *c = calloc(1, sizeof *c);
    if (!c) {
        free(text);
        return FL_E_NOMEM;
    }
    rc = load_scenario(path, text, len, &c->sc, err, errcap);
    free(text);
    const sim_broker_spec *b = rc == 0 ? pick_broker(c->sc, broker, err, errcap) : NULL;
    if (rc == 0 && !b)
        rc = FL_E_SCENARIO;
    if (rc == 0)
        rc = rn_broker_config_init(&c->broker, c->sc, b);
    if (rc) {
        sim_serve_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

const sim_broker_config *sim_serve_config_broker(const sim_serve_config *cfg)
{
    return &cfg->broker.cfg;
}

void sim_serve_config_free(sim_serve_config *cfg)
{
    if (!cfg)
        return;
    sim_scenario_free(cfg->sc);
    rn_broker_config_release(&cfg->broker);
    free(cfg);
}
