/* The built-in publish stores that keep no files: "none" and "memory".
 *
 * none:   keeps nothing. store() only checks and records the sequence, so
 *         sequences still never go backwards within the process; nothing is
 *         ever replayed. For publishers that accept loss.
 * memory: keeps every message until discard_up_to, in a ring of entries in
 *         ascending sequence order (store appends at the tail, discard pops
 *         from the head, replay_one binary-searches), so every operation is
 *         O(1) amortised or O(log n). capacity=<bytes> bounds the sum of
 *         topic and payload bytes held: a store that would pass it fails with
 *         FL_E_FULL and stores nothing. Nothing survives close or a crash;
 *         last_sequence survives discards but not a restart.
 *
 * Both accept the built-in option keys (store_util.h) and ignore the ones
 * that mean nothing without files (sync, batch_window, recovery); "none"
 * also ignores capacity.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/store.h"
#include "store_util.h"

/* One stored message: header then topic bytes then payload bytes. */
typedef struct mem_msg {
    uint64_t sequence;
    size_t topic_len;
    size_t payload_len;
    uint8_t data[];
} mem_msg;

typedef struct mem_pubstore {
    bool keep;         /* false for "none" */
    uint64_t capacity; /* bytes, 0 = unbounded */
    uint64_t bytes;    /* topic + payload bytes held */
    uint64_t last_seq; /* highest sequence ever stored */
    mem_msg **ring;    /* cap is a power of two (or 0) */
    size_t cap, head, len;
    char err[160];
} mem_pubstore;

static int set_err(mem_pubstore *s, int code, const char *text)
{
    snprintf(s->err, sizeof s->err, "%s", text);
    return code;
}

static mem_msg *at(const mem_pubstore *s, size_t i)
{
    return s->ring[(s->head + i) & (s->cap - 1)];
}

static int open_common(const fl_store_env *env, bool keep, void **self_out,
                       fl_store_recovery *recovery, char *err, size_t errcap)
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
    mem_pubstore *s = calloc(1, sizeof *s);
    if (!s)
        return fl__store_errf(FL_E_NOMEM, err, errcap, "out of memory");
    s->keep = keep;
    s->capacity = keep ? o.capacity : 0;
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    *self_out = s;
    return 0;
}

static int none_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery,
                     char *err, size_t errcap)
{
    return open_common(env, false, self_out, recovery, err, errcap);
}

static int memory_open(const fl_store_env *env, void **self_out, fl_store_recovery *recovery,
                       char *err, size_t errcap)
{
    return open_common(env, true, self_out, recovery, err, errcap);
}

static void mem_close(void *self)
{
    mem_pubstore *s = self;
    if (!s)
        return;
    for (size_t i = 0; i < s->len; i++)
        free(at(s, i));
    free(s->ring);
    free(s);
}

static int grow(mem_pubstore *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    if (ncap > SIZE_MAX / sizeof *s->ring)
        return FL_E_NOMEM;
    mem_msg **r = malloc(ncap * sizeof *r);
    if (!r)
        return FL_E_NOMEM;
    for (size_t i = 0; i < s->len; i++)
        r[i] = at(s, i);
    free(s->ring);
    s->ring = r;
    s->cap = ncap;
    s->head = 0;
    return 0;
}

static int check_msg(mem_pubstore *s, const fl_pub_msg *msg)
{
    if (!msg)
        return set_err(s, FL_E_INVAL, "store: msg is NULL");
    if ((msg->topic_len && !msg->topic) || (msg->payload_len && !msg->payload))
        return set_err(s, FL_E_INVAL, "store: NULL topic or payload with a non-zero length");
    if (msg->sequence <= s->last_seq) {
        snprintf(s->err, sizeof s->err, "store: sequence %llu is not above the last sequence %llu",
                 (unsigned long long)msg->sequence, (unsigned long long)s->last_seq);
        return FL_E_INVAL;
    }
    return 0;
}

static int mem_store(void *self, const fl_pub_msg *msg)
{
    mem_pubstore *s = self;
    int rc = check_msg(s, msg);
    if (rc)
        return rc;
    if (!s->keep) {
        s->last_seq = msg->sequence;
        return 0;
    }
    if (msg->topic_len > SIZE_MAX / 2 - sizeof(mem_msg) ||
        msg->payload_len > SIZE_MAX / 2 - sizeof(mem_msg) - msg->topic_len)
        return set_err(s, FL_E_NOMEM, "store: message too large");
    uint64_t size = (uint64_t)msg->topic_len + msg->payload_len;
    if (s->capacity && (size > s->capacity || s->bytes > s->capacity - size)) {
        snprintf(s->err, sizeof s->err, "store: capacity %llu bytes reached (%llu held, %llu more)",
                 (unsigned long long)s->capacity, (unsigned long long)s->bytes,
                 (unsigned long long)size);
        return FL_E_FULL;
    }
    if (s->len == s->cap && grow(s) != 0)
        return set_err(s, FL_E_NOMEM, "store: out of memory");
    mem_msg *m = malloc(sizeof *m + msg->topic_len + msg->payload_len);
    if (!m)
        return set_err(s, FL_E_NOMEM, "store: out of memory");
    m->sequence = msg->sequence;
    m->topic_len = msg->topic_len;
    m->payload_len = msg->payload_len;
    if (msg->topic_len)
        memcpy(m->data, msg->topic, msg->topic_len);
    if (msg->payload_len)
        memcpy(m->data + msg->topic_len, msg->payload, msg->payload_len);
    s->ring[(s->head + s->len) & (s->cap - 1)] = m;
    s->len++;
    s->bytes += size;
    s->last_seq = msg->sequence;
    return 0;
}

static int mem_discard_up_to(void *self, uint64_t seq)
{
    mem_pubstore *s = self;
    while (s->len && at(s, 0)->sequence <= seq) {
        mem_msg *m = at(s, 0);
        s->bytes -= (uint64_t)m->topic_len + m->payload_len;
        free(m);
        s->head = (s->head + 1) & (s->cap - 1);
        s->len--;
    }
    return 0;
}

static int emit(const mem_msg *m, fl_pub_replay_fn fn, void *arg)
{
    fl_pub_msg out = {
        .sequence = m->sequence,
        .topic = (const char *)m->data,
        .topic_len = m->topic_len,
        .payload = m->data + m->topic_len,
        .payload_len = m->payload_len,
    };
    return fn(arg, &out);
}

static int mem_replay(void *self, fl_pub_replay_fn fn, void *arg)
{
    mem_pubstore *s = self;
    if (!fn)
        return set_err(s, FL_E_INVAL, "replay: fn is NULL");
    for (size_t i = 0; i < s->len; i++) {
        if (emit(at(s, i), fn, arg) != 0)
            break;
    }
    return 0;
}

/* Index of the entry with this sequence, or s->len. */
static size_t find(const mem_pubstore *s, uint64_t seq)
{
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = at(s, mid)->sequence;
        if (v == seq)
            return mid;
        if (v < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return s->len;
}

static int mem_replay_one(void *self, uint64_t seq, fl_pub_replay_fn fn, void *arg)
{
    mem_pubstore *s = self;
    if (!fn)
        return set_err(s, FL_E_INVAL, "replay_one: fn is NULL");
    size_t i = find(s, seq);
    if (i == s->len)
        return FL_E_NOT_FOUND;
    emit(at(s, i), fn, arg);
    return 0;
}

static uint64_t mem_unpersisted_count(void *self)
{
    return ((mem_pubstore *)self)->len;
}

static uint64_t mem_last_sequence(void *self)
{
    return ((mem_pubstore *)self)->last_seq;
}

static uint64_t mem_lowest_unpersisted(void *self)
{
    mem_pubstore *s = self;
    return s->len ? at(s, 0)->sequence : 0;
}

static int mem_flush(void *self)
{
    return 0; /* nothing to make durable */
}

static int mem_list_files(void *self, fl_store_file_fn fn, void *arg)
{
    return 0; /* no files */
}

static const char *mem_last_error(void *self)
{
    return ((mem_pubstore *)self)->err;
}

const fl_pubstore_ops fl_pubstore_none = {
    .version = FL_STORE_ABI_VERSION,
    .name = "none",
    .open = none_open,
    .close = mem_close,
    .store = mem_store,
    .discard_up_to = mem_discard_up_to,
    .replay = mem_replay,
    .replay_one = mem_replay_one,
    .unpersisted_count = mem_unpersisted_count,
    .last_sequence = mem_last_sequence,
    .lowest_unpersisted = mem_lowest_unpersisted,
    .flush = mem_flush,
    .list_files = mem_list_files,
    .last_error = mem_last_error,
};

const fl_pubstore_ops fl_pubstore_memory = {
    .version = FL_STORE_ABI_VERSION,
    .name = "memory",
    .open = memory_open,
    .close = mem_close,
    .store = mem_store,
    .discard_up_to = mem_discard_up_to,
    .replay = mem_replay,
    .replay_one = mem_replay_one,
    .unpersisted_count = mem_unpersisted_count,
    .last_sequence = mem_last_sequence,
    .lowest_unpersisted = mem_lowest_unpersisted,
    .flush = mem_flush,
    .list_files = mem_list_files,
    .last_error = mem_last_error,
};
