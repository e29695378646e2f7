/* The libevent runtime: the runtime seam (faultline/runtime.h) over real
 * TCP bufferevents, a timer heap driven by one evtimer, POSIX files and the
 * wall clock. See faultline/rt_libevent.h for the behaviour users see.
 *
 * Design note (callback rules). The seam promises that no callback runs
 * inside a seam call, that closed() runs at most once and never after the
 * caller's close(), and that nothing runs for a connection after it is
 * gone. Three things make that hold here:
 *   - Every connection lives in an id table; every libevent callback and
 *     every internal timer re-finds its connection by id after calling user
 *     code, so a close() from inside a callback is always seen.
 *   - A connection is released (table entry removed, bufferevent freed,
 *     internal timers cancelled) BEFORE its closed() callback runs; a second
 *     failure report cannot find it, and send/close from inside closed()
 *     see an unknown id.
 *   - Failures known inside a seam call (connect refused at once) are turned
 *     into an internal zero-delay timer, so closed() arrives from the loop.
 *
 * Timers are our own binary heap keyed by (due on CLOCK_MONOTONIC, id), ids
 * being handed out in start order: equal due times run in start order,
 * which a libevent timer per fl timer would not promise. One evtimer is
 * armed for the heap's top; a tick runs only timers that existed when it
 * began, so a timer_start(0) from a timer callback runs on a later turn
 * and I/O is not starved.
 */
#include "faultline/rt_libevent.h"

#include "faultline/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#define RT_PATH_MAX     1024u /* as the simulator's SIM_DISK_PATH_MAX */
#define RT_DATADIR_MAX  4096u
#define RT_HOST_MAX     255u
#define RT_SCRATCH_SIZE 65536u
#define RT_PEER_MAX     64u

/* ---- id table: sorted (ids only grow, so appends keep it sorted) --------------- */

typedef struct id_entry {
    uint64_t id;
    void *p;
} id_entry;

typedef struct id_table {
    id_entry *v;
    size_t n, cap;
} id_table;

static int idt_add(id_table *t, uint64_t id, void *p)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        id_entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return FL_E_NOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (id_entry){id, p};
    return 0;
}

static size_t idt_pos(const id_table *t, uint64_t id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void *idt_find(const id_table *t, uint64_t id)
{
    size_t i = idt_pos(t, id);
    return i < t->n && t->v[i].id == id ? t->v[i].p : NULL;
}

static void idt_remove(id_table *t, uint64_t id)
{
    size_t i = idt_pos(t, id);
    if (i >= t->n || t->v[i].id != id)
        return;
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof t->v[0]);
    t->n--;
}

/* ---- types ----------------------------------------------------------------- */

typedef struct rt_timer {
    fl_timer_id id;
    uint64_t due; /* CLOCK_MONOTONIC microseconds */
    fl_timer_fn fn;
    void *arg;
    size_t heap_idx;
} rt_timer;

enum { C_CONNECTING = 1, C_OPEN, C_FAILED };

typedef struct rt_conn {
    fl_conn_id id;
    fl_rt_libevent *rt;
    struct bufferevent *bev; /* NULL when the connect failed at once */
    const fl_conn_callbacks *cbs;
    void *arg;
    int state;
    int fail_reason;       /* C_FAILED: what closed() will report */
    fl_timer_id t_timeout; /* connect timeout */
    fl_timer_id t_defer;   /* deferred closed() */
} rt_conn;

typedef struct rt_listener {
    fl_rt_libevent *rt;
    struct evconnlistener *lev;
    uint16_t port;
    fl_rt_accept_fn accept;
    void *arg;
    struct rt_listener *next;
} rt_listener;

struct fl_file {
    int fd;
    bool size_dirty;  /* the size may differ from the last synced one */
    bool sync_failed; /* fsync failed once: never report success again */
    uint64_t size;    /* size as this handle last saw it */
};

struct fl_rt_libevent {
    fl_runtime seam;
    struct event_base *base;
    struct event *tick;
    int dirfd;
    uint64_t connect_timeout_us;
    uint64_t seed;
    uint64_t prng[4];
    uint64_t last_now;
    FILE *trace_file;
    fl_rt_trace_fn trace_fn;
    void *trace_arg;

    rt_timer **heap;
    size_t heap_n, heap_cap;
    id_table timers;
    fl_timer_id next_timer;

    id_table conns;
    fl_conn_id next_conn;
    rt_listener *listeners;
    uint8_t *scratch;
};

static int errno_code(void)
{
    return fl_err_from_errno(errno);
}

/* ---- clock and PRNG -------------------------------------------------------- */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rt_now(void *self)
{
    fl_rt_libevent *rt = self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (us < rt->last_now)
        return rt->last_now;
    rt->last_now = us;
    return us;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna). */
static uint64_t rt_random(void *self)
{
    fl_rt_libevent *rt = self;
    uint64_t *s = rt->prng;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static int os_seed(uint64_t *out)
{
    uint64_t v = 0;
    ssize_t n;
    do {
        n = getrandom(&v, sizeof v, 0);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof v) {
        *out = v;
        return 0;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_code();
    n = read(fd, &v, sizeof v);
    close(fd);
    if (n != (ssize_t)sizeof v)
        return FL_E_IO;
    *out = v;
    return 0;
}

static void seed_prng(fl_rt_libevent *rt, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rt->prng[i] = splitmix64(&x);
}

/* ---- timers ---------------------------------------------------------------- */

static bool tm_less(const rt_timer *a, const rt_timer *b)
{
    return a->due != b->due ? a->due < b->due : a->id < b->id;
}

static void heap_set(fl_rt_libevent *rt, size_t i, rt_timer *t)
{
    rt->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(fl_rt_libevent *rt, size_t i)
{
    rt_timer *t = rt->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!tm_less(t, rt->heap[parent]))
            break;
        heap_set(rt, i, rt->heap[parent]);
        i = parent;
    }
    heap_set(rt, i, t);
}

static void heap_down(fl_rt_libevent *rt, size_t i)
{
    rt_timer *t = rt->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const rt_timer *best = t;
        if (l < rt->heap_n && tm_less(rt->heap[l], best)) {
            m = l;
            best = rt->heap[l];
        }
        if (r < rt->heap_n && tm_less(rt->heap[r], best))
            m = r;
        if (m == i)
            break;
        heap_set(rt, i, rt->heap[m]);
        i = m;
    }
    heap_set(rt, i, t);
}

static void heap_remove(fl_rt_libevent *rt, rt_timer *t)
{
    size_t i = t->heap_idx;
    rt_timer *last = rt->heap[--rt->heap_n];
    if (i == rt->heap_n)
        return;
    heap_set(rt, i, last);
    heap_up(rt, i);
    heap_down(rt, last->heap_idx);
}

/* Arm the libevent timer for the heap's top (or disarm). */
static void tick_rearm(fl_rt_libevent *rt)
{
    if (rt->heap_n == 0) {
        evtimer_del(rt->tick);
        return;
    }
    uint64_t now = mono_us(), due = rt->heap[0]->due;
    uint64_t d = due > now ? due - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000000u), .tv_usec = (suseconds_t)(d % 1000000u)};
    evtimer_add(rt->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fl_rt_libevent *rt = arg;
    fl_timer_id limit = rt->next_timer; /* timers started from here on wait a turn */
    uint64_t now = mono_us();
    while (rt->heap_n > 0) {
        rt_timer *t = rt->heap[0];
        if (t->due > now || t->id > limit)
            break;
        heap_remove(rt, t);
        idt_remove(&rt->timers, t->id);
        fl_timer_fn fn = t->fn;
        void *targ = t->arg;
        free(t);
        fn(targ);
    }
    tick_rearm(rt);
}

static int rt_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg,
                          fl_timer_id *out)
{
    fl_rt_libevent *rt = self;
    if (fn == NULL)
        return FL_E_INVAL;
    uint64_t now = mono_us();
    if (delay_us > UINT64_MAX / 2 - now)
        return FL_E_OVERFLOW;
    if (rt->heap_n == rt->heap_cap) {
        size_t cap = rt->heap_cap ? rt->heap_cap * 2 : 16;
        rt_timer **h = realloc(rt->heap, cap * sizeof *h);
        if (h == NULL)
            return FL_E_NOMEM;
        rt->heap = h;
        rt->heap_cap = cap;
    }
    rt_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return FL_E_NOMEM;
    *t = (rt_timer){.id = rt->next_timer + 1, .due = now + delay_us, .fn = fn, .arg = arg};
    if (idt_add(&rt->timers, t->id, t) != 0) {
        free(t);
        return FL_E_NOMEM;
    }
    rt->next_timer = t->id;
    heap_set(rt, rt->heap_n++, t);
    heap_up(rt, t->heap_idx);
    if (rt->heap[0] == t)
        tick_rearm(rt);
    if (out)
        *out = t->id;
    return 0;
}

static void rt_timer_cancel(void *self, fl_timer_id id)
{
    fl_rt_libevent *rt = self;
    rt_timer *t = id ? idt_find(&rt->timers, id) : NULL;
    if (t == NULL)
        return;
    idt_remove(&rt->timers, id);
    heap_remove(rt, t);
    free(t);
    /* A stale evtimer for a cancelled top only costs one empty tick. */
}

/* ---- addresses ------------------------------------------------------------- */

/* Split "host:port" / "[v6]:port" and resolve it (synchronously for names).
 * Port 0 only when allow_port0 (listening). */
static int resolve(const char *uri, bool passive, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[RT_HOST_MAX + 1];
    if (uri == NULL)
        return FL_E_INVAL;
    const char *hs = uri, *he, *colon;
    if (uri[0] == '[') {
        hs = uri + 1;
        he = strchr(hs, ']');
        if (he == NULL || he[1] != ':')
            return FL_E_INVAL;
        colon = he + 1;
    } else {
        colon = strrchr(uri, ':');
        if (colon == NULL || memchr(uri, ':', (size_t)(colon - uri)) != NULL)
            return FL_E_INVAL; /* no port, or a bare IPv6 literal */
        he = colon;
    }
    size_t hlen = (size_t)(he - hs);
    if (hlen == 0 || hlen > RT_HOST_MAX)
        return FL_E_INVAL;
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    const char *ps = colon + 1;
    size_t plen = strlen(ps);
    if (plen == 0 || plen > 5 || strspn(ps, "0123456789") != plen)
        return FL_E_INVAL;
    long port = strtol(ps, NULL, 10);
    if (port > 65535 || (port == 0 && !passive))
        return FL_E_INVAL;

    struct evutil_addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV | (passive ? EVUTIL_AI_PASSIVE : 0);
    int gai = evutil_getaddrinfo(host, ps, &hints, &ai);
    if (gai != 0)
        return gai == EVUTIL_EAI_MEMORY ? FL_E_NOMEM : FL_E_NOT_FOUND;
    int rc = FL_E_NOT_FOUND;
    if (ai != NULL && ai->ai_addrlen <= sizeof *ss) {
        memset(ss, 0, sizeof *ss);
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *sl = (socklen_t)ai->ai_addrlen;
        rc = 0;
    }
    evutil_freeaddrinfo(ai);
    return rc;
}

static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(out, cap, "unknown");
    }
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- connections ----------------------------------------------------------- */

static rt_conn *conn_find(fl_rt_libevent *rt, fl_conn_id id)
{
    return id ? idt_find(&rt->conns, id) : NULL;
}

/* Forget a connection: no callback for it can run afterwards. */
static void conn_release(rt_conn *c)
{
    fl_rt_libevent *rt = c->rt;
    idt_remove(&rt->conns, c->id);
    rt_timer_cancel(rt, c->t_timeout);
    rt_timer_cancel(rt, c->t_defer);
    if (c->bev)
        bufferevent_free(c->bev); /* clears its callbacks, closes the socket */
    free(c);
}

/* The connection is gone for `reason`: release it, then tell its owner. */
static void conn_fail(rt_conn *c, int reason)
{
    const fl_conn_callbacks *cbs = c->cbs;
    void *arg = c->arg;
    fl_conn_id id = c->id;
    conn_release(c);
    if (cbs && cbs->closed)
        cbs->closed(arg, id, reason);
}

static rt_conn *conn_new(fl_rt_libevent *rt, const fl_conn_callbacks *cbs, void *arg)
{
    rt_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    *c = (rt_conn){.id = rt->next_conn + 1, .rt = rt, .cbs = cbs, .arg = arg};
    if (idt_add(&rt->conns, c->id, c) != 0) {
        free(c);
        return NULL;
    }
    rt->next_conn = c->id;
    return c;
}

static void on_read(struct bufferevent *bev, void *ctx)
{
    rt_conn *c = ctx;
    fl_rt_libevent *rt = c->rt;
    fl_conn_id id = c->id;
    struct evbuffer *in = bufferevent_get_input(bev);
    int n;
    while ((n = evbuffer_remove(in, rt->scratch, RT_SCRATCH_SIZE)) > 0) {
        if (c->cbs == NULL || c->cbs->data == NULL)
            continue;
        c->cbs->data(c->arg, id, rt->scratch, (size_t)n);
        c = conn_find(rt, id); /* closed from inside data()? */
        if (c == NULL)
            return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *ctx)
{
    int err = EVUTIL_SOCKET_ERROR();
    rt_conn *c = ctx;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = C_OPEN;
        rt_timer_cancel(c->rt, c->t_timeout);
        c->t_timeout = 0;
        bufferevent_enable(bev, EV_READ | EV_WRITE);
        if (c->cbs && c->cbs->opened)
            c->cbs->opened(c->arg, c->id);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        conn_fail(c, 0);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        int reason = err ? fl_err_from_errno(err) : FL_E_DISCONNECTED;
        if (reason == FL_E_AGAIN || reason == FL_E_INVAL)
            reason = FL_E_DISCONNECTED;
        conn_fail(c, reason);
    }
}

static void on_connect_timeout(void *arg)
{
    rt_conn *c = arg;
    c->t_timeout = 0;
    conn_fail(c, FL_E_TIMEOUT);
}

static void on_deferred_close(void *arg)
{
    rt_conn *c = arg;
    c->t_defer = 0;
    conn_fail(c, c->fail_reason);
}

/* A connect that failed inside the call: report closed() from the loop. */
static int conn_fail_later(rt_conn *c, int reason)
{
    c->state = C_FAILED;
    c->fail_reason = reason ? reason : FL_E_REFUSED;
    return rt_timer_start(c->rt, 0, on_deferred_close, c, &c->t_defer);
}

static int start_socket(fl_rt_libevent *rt, rt_conn *c, const struct sockaddr_storage *ss,
                        socklen_t sl)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno_code();
    set_nodelay(fd);
    if (connect(fd, (const struct sockaddr *)ss, sl) != 0 && errno != EINPROGRESS &&
        errno != EINTR) {
        int rc = fl_err_from_errno(errno);
        close(fd);
        return conn_fail_later(c, rc);
    }
    c->bev = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        return FL_E_NOMEM;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    /* No address: the socket is already connecting; libevent reports
     * BEV_EVENT_CONNECTED or an error (errno = SO_ERROR) when it is done. */
    if (bufferevent_socket_connect(c->bev, NULL, 0) != 0)
        return FL_E_IO;
    if (rt->connect_timeout_us)
        return rt_timer_start(rt, rt->connect_timeout_us, on_connect_timeout, c, &c->t_timeout);
    return 0;
}

static int rt_connect(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                      fl_conn_id *out)
{
    fl_rt_libevent *rt = self;
    if (cbs == NULL || out == NULL)
        return FL_E_INVAL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = resolve(uri, false, &ss, &sl);
    if (rc != 0)
        return rc;
    rt_conn *c = conn_new(rt, cbs, arg);
    if (c == NULL)
        return FL_E_NOMEM;
    c->state = C_CONNECTING;
    rc = start_socket(rt, c, &ss, sl);
    if (rc != 0) {
        conn_release(c); /* no callback ever runs for a failed call */
        return rc;
    }
    *out = c->id;
    return 0;
}

static int rt_send(void *self, fl_conn_id conn, const void *buf, size_t len)
{
    fl_rt_libevent *rt = self;
    rt_conn *c = conn_find(rt, conn);
    if (c == NULL || c->state == C_FAILED)
        return FL_E_DISCONNECTED;
    if (c->state != C_OPEN)
        return FL_E_STATE;
    if (len && buf == NULL)
        return FL_E_INVAL;
    if (len == 0)
        return 0;
    return bufferevent_write(c->bev, buf, len) == 0 ? 0 : FL_E_NOMEM;
}

/* Hand what send() queued to the kernel, as far as it takes it without
 * blocking, so that "send then close" delivers like the simulator's FIN
 * after queued data. What the kernel does not take is discarded. */
static void conn_flush(rt_conn *c)
{
    if (c->bev == NULL || c->state != C_OPEN)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    /* A bufferevent keeps its output frozen at the front; only its own
     * write callback drains it. The bufferevent is freed right after. */
    evbuffer_unfreeze(out, 1);
    while (evbuffer_get_length(out) > 0 && evbuffer_write(out, fd) > 0)
        ;
}

static void rt_close(void *self, fl_conn_id conn)
{
    rt_conn *c = conn_find(self, conn);
    if (c == NULL)
        return;
    conn_flush(c);
    conn_release(c);
}

/* ---- listeners ------------------------------------------------------------- */

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *ctx)
{
    (void)lev;
    (void)socklen;
    rt_listener *l = ctx;
    fl_rt_libevent *rt = l->rt;
    set_nodelay(fd);
    rt_conn *c = conn_new(rt, NULL, NULL);
    struct bufferevent *bev =
        c ? bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        if (c)
            conn_release(c);
        evutil_closesocket(fd);
        return;
    }
    c->bev = bev;
    c->state = C_OPEN;
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    char peer[RT_PEER_MAX];
    format_peer(sa, peer, sizeof peer);
    const fl_conn_callbacks *cbs = NULL;
    void *cbs_arg = NULL;
    fl_conn_id id = c->id;
    int rc = l->accept(l->arg, id, peer, &cbs, &cbs_arg);
    c = conn_find(rt, id); /* the accept callback may have closed it */
    if (c == NULL)
        return;
    if (rc != 0) {
        conn_release(c);
        return;
    }
    c->cbs = cbs;
    c->arg = cbs_arg;
}

int fl_rt_libevent_listen(fl_rt_libevent *rt, const char *addr, fl_rt_accept_fn accept, void *arg,
                          uint16_t *port_out)
{
    if (rt == NULL || accept == NULL)
        return FL_E_INVAL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = resolve(addr, true, &ss, &sl);
    if (rc != 0)
        return rc;
    rt_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return FL_E_NOMEM;
    *l = (rt_listener){.rt = rt, .accept = accept, .arg = arg};
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    l->lev = evconnlistener_new_bind(rt->base, on_accept, l, flags, -1,
                                     (const struct sockaddr *)&ss, (int)sl);
    if (l->lev == NULL) {
        rc = errno == EADDRINUSE ? FL_E_BUSY : errno_code();
        free(l);
        return rc ? rc : FL_E_IO;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&bound, &bl) != 0) {
        rc = errno_code();
        evconnlistener_free(l->lev);
        free(l);
        return rc;
    }
    l->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    l->next = rt->listeners;
    rt->listeners = l;
    if (port_out)
        *port_out = l->port;
    return 0;
}

int fl_rt_libevent_unlisten(fl_rt_libevent *rt, uint16_t port)
{
    if (rt == NULL)
        return FL_E_INVAL;
    for (rt_listener **pp = &rt->listeners; *pp; pp = &(*pp)->next) {
        rt_listener *l = *pp;
        if (l->port != port)
            continue;
        *pp = l->next;
        evconnlistener_free(l->lev);
        free(l);
        return 0;
    }
    return FL_E_NOT_FOUND;
}

/* ---- paths ----------------------------------------------------------------- */

/* Normalise a seam path as the simulator does: drop "." components; reject
 * "..", empty components, absolute and overlong paths. The root ("" or
 * ".") becomes "." and is allowed only when allow_root. */
static int norm_path(const char *in, char out[RT_PATH_MAX + 1], bool allow_root)
{
    if (in == NULL)
        return FL_E_INVAL;
    size_t inlen = strnlen(in, RT_PATH_MAX + 1);
    if (inlen > RT_PATH_MAX)
        return FL_E_INVAL;
    size_t o = 0;
    for (const char *p = in; inlen > 0;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
            return FL_E_INVAL;
        if (!(n == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    if (o == 0) {
        if (!allow_root)
            return FL_E_INVAL;
        out[o++] = '.';
    }
    out[o] = '\0';
    return 0;
}

/* mkdir -p of `path` relative to dirfd (AT_FDCWD for the data directory
 * itself, which may be absolute). */
static int mkdir_p(int dirfd, const char *path)
{
    char buf[RT_DATADIR_MAX + 1];
    size_t len = strlen(path);
    if (len == 0 || len > RT_DATADIR_MAX)
        return FL_E_INVAL;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* repeated slash */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdirat(dirfd, buf, 0755) != 0 && errno != EEXIST)
            return errno_code();
        buf[i] = saved;
    }
    struct stat st;
    if (fstatat(dirfd, path, &st, 0) != 0)
        return errno_code();
    return S_ISDIR(st.st_mode) ? 0 : FL_E_EXIST;
}

/* ---- files ----------------------------------------------------------------- */

static bool open_flags_valid(int flags)
{
    const int all = FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_EXCL | FL_FILE_TRUNC;
    if ((flags & ~all) || !(flags & (FL_FILE_READ | FL_FILE_WRITE)))
        return false;
    if ((flags & FL_FILE_TRUNC) && !(flags & FL_FILE_WRITE))
        return false;
    return !((flags & FL_FILE_EXCL) && !(flags & FL_FILE_CREATE));
}

static int open_code(void)
{
    return errno == EISDIR ? FL_E_INVAL : errno_code();
}

static int rt_file_open(void *self, const char *path, int flags, fl_file **out)
{
    fl_rt_libevent *rt = self;
    char p[RT_PATH_MAX + 1];
    if (out == NULL || !open_flags_valid(flags))
        return FL_E_INVAL;
    *out = NULL;
    int rc = norm_path(path, p, false);
    if (rc != 0)
        return rc;
    int of = O_CLOEXEC;
    if ((flags & FL_FILE_READ) && (flags & FL_FILE_WRITE))
        of |= O_RDWR;
    else
        of |= (flags & FL_FILE_WRITE) ? O_WRONLY : O_RDONLY;
    of |= (flags & FL_FILE_CREATE) ? O_CREAT : 0;
    of |= (flags & FL_FILE_EXCL) ? O_EXCL : 0;
    of |= (flags & FL_FILE_TRUNC) ? O_TRUNC : 0;
    int fd;
    do {
        fd = openat(rt->dirfd, p, of, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return open_code();
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = errno_code();
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return FL_E_INVAL;
    }
    fl_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        close(fd);
        return FL_E_NOMEM;
    }
    /* A created or truncated file: its size must be made durable once. */
    *f = (fl_file){.fd = fd,
                   .size_dirty = (flags & (FL_FILE_CREATE | FL_FILE_TRUNC)) != 0,
                   .size = (uint64_t)st.st_size};
    *out = f;
    return 0;
}

static int rt_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    (void)self;
    if (nread)
        *nread = 0;
    if (f == NULL || nread == NULL || (len && buf == NULL))
        return FL_E_INVAL;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return FL_E_OVERFLOW;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(f->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno_code();
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *nread = got;
    return 0;
}

static int rt_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    (void)self;
    if (f == NULL || (len && buf == NULL))
        return FL_E_INVAL;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
        return FL_E_OVERFLOW;
    size_t put = 0;
    int rc = 0;
    while (put < len) {
        ssize_t n = pwrite(f->fd, (const uint8_t *)buf + put, len - put, (off_t)(off + put));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? errno_code() : FL_E_IO;
            break;
        }
        put += (size_t)n;
    }
    if (off + put > f->size) {
        f->size = off + put;
        f->size_dirty = true;
    }
    return rc;
}

static int rt_file_sync(void *self, fl_file *f)
{
    (void)self;
    if (f == NULL)
        return FL_E_INVAL;
    if (f->sync_failed)
        return FL_E_IO;
    int r = f->size_dirty ? fsync(f->fd) : fdatasync(f->fd);
    if (r != 0) {
        int rc = errno_code();
        f->sync_failed = true;
        return rc == FL_E_NOSPC ? rc : FL_E_IO;
    }
    f->size_dirty = false;
    return 0;
}

static int rt_file_truncate(void *self, fl_file *f, uint64_t size)
{
    (void)self;
    if (f == NULL)
        return FL_E_INVAL;
    if (size > (uint64_t)INT64_MAX)
        return FL_E_OVERFLOW;
    int r;
    do {
        r = ftruncate(f->fd, (off_t)size);
    } while (r != 0 && errno == EINTR);
    if (r != 0)
        return errno_code();
    f->size = size;
    f->size_dirty = true;
    return 0;
}

static int rt_file_size(void *self, fl_file *f, uint64_t *size)
{
    (void)self;
    if (f == NULL || size == NULL)
        return FL_E_INVAL;
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return errno_code();
    *size = (uint64_t)st.st_size;
    return 0;
}

static void rt_file_close(void *self, fl_file *f)
{
    (void)self;
    if (f == NULL)
        return;
    close(f->fd);
    free(f);
}

static int rt_file_unlink(void *self, const char *path)
{
    fl_rt_libevent *rt = self;
    char p[RT_PATH_MAX + 1];
    int rc = norm_path(path, p, false);
    if (rc != 0)
        return rc;
    return unlinkat(rt->dirfd, p, 0) == 0 ? 0 : errno_code();
}

static int rt_file_rename(void *self, const char *from, const char *to)
{
    fl_rt_libevent *rt = self;
    char a[RT_PATH_MAX + 1], b[RT_PATH_MAX + 1];
    int rc = norm_path(from, a, false);
    if (rc == 0)
        rc = norm_path(to, b, false);
    if (rc != 0)
        return rc;
    return renameat(rt->dirfd, a, rt->dirfd, b) == 0 ? 0 : errno_code();
}

static int rt_dir_create(void *self, const char *path)
{
    fl_rt_libevent *rt = self;
    char p[RT_PATH_MAX + 1];
    int rc = norm_path(path, p, true);
    if (rc != 0)
        return rc;
    return mkdir_p(rt->dirfd, p);
}

static int open_dir(fl_rt_libevent *rt, const char *path, int *fd)
{
    char p[RT_PATH_MAX + 1];
    int rc = norm_path(path, p, true);
    if (rc != 0)
        return rc;
    *fd = openat(rt->dirfd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOTDIR ? FL_E_NOENT : errno_code();
    return 0;
}

static int rt_dir_sync(void *self, const char *path)
{
    int fd, rc = open_dir(self, path, &fd);
    if (rc != 0)
        return rc;
    rc = fsync(fd) == 0 ? 0 : errno_code();
    close(fd);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_regular(DIR *d, const struct dirent *e)
{
    if (e->d_type == DT_REG)
        return true;
    if (e->d_type != DT_UNKNOWN)
        return false;
    struct stat st;
    return fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Read every regular file name of `d` into a sorted array. */
static int read_names(DIR *d, char ***out, size_t *count)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            rc = errno ? errno_code() : 0;
            break;
        }
        if (!is_regular(d, e))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **v = realloc(names, ncap * sizeof *v);
            if (v == NULL) {
                rc = FL_E_NOMEM;
                break;
            }
            names = v;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            rc = FL_E_NOMEM;
            break;
        }
        n++;
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *count = n;
    return 0;
}

static int rt_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    if (fn == NULL)
        return FL_E_INVAL;
    int fd, rc = open_dir(self, path, &fd);
    if (rc != 0)
        return rc;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        rc = errno_code();
        close(fd);
        return rc;
    }
    char **names = NULL;
    size_t n = 0;
    rc = read_names(d, &names, &n);
    closedir(d);
    if (rc != 0)
        return rc;
    /* Names are copied first: the callback may create, rename or unlink. */
    bool stopped = false;
    for (size_t i = 0; i < n; i++) {
        if (!stopped && fn(arg, names[i]) != 0)
            stopped = true;
        free(names[i]);
    }
    free(names);
    return 0;
}

/* ---- trace ----------------------------------------------------------------- */

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void rt_trace(void *self, const char *source, const char *event, const char *fields_json)
{
    fl_rt_libevent *rt = self;
    if (rt->trace_fn == NULL && rt->trace_file == NULL)
        return;
    uint64_t now = rt_now(rt);
    if (rt->trace_fn) {
        rt->trace_fn(rt->trace_arg, now, source ? source : "", event ? event : "", fields_json);
        return;
    }
    FILE *f = rt->trace_file;
    fprintf(f, "{\"t_us\":%llu,\"source\":", (unsigned long long)now);
    put_json_string(f, source ? source : "");
    fputs(",\"event\":", f);
    put_json_string(f, event ? event : "");
    if (fields_json && fields_json[0])
        fprintf(f, ",%s", fields_json);
    fputs("}\n", f);
}

/* ---- lifecycle --------------------------------------------------------------- */

static const fl_runtime_ops RT_OPS = {
    .version = FL_RUNTIME_OPS_VERSION,
    .name = "libevent",
    .now = rt_now,
    .random = rt_random,
    .timer_start = rt_timer_start,
    .timer_cancel = rt_timer_cancel,
    .connect = rt_connect,
    .send = rt_send,
    .close = rt_close,
    .file_open = rt_file_open,
    .file_read = rt_file_read,
    .file_write = rt_file_write,
    .file_sync = rt_file_sync,
    .file_truncate = rt_file_truncate,
    .file_size = rt_file_size,
    .file_close = rt_file_close,
    .file_unlink = rt_file_unlink,
    .file_rename = rt_file_rename,
    .dir_create = rt_dir_create,
    .dir_sync = rt_dir_sync,
    .dir_list = rt_dir_list,
    .trace = rt_trace,
};

static int open_data_dir(const char *dir, int *fd)
{
    int rc = mkdir_p(AT_FDCWD, dir);
    if (rc != 0)
        return rc;
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *fd < 0 ? errno_code() : 0;
}

int fl_rt_libevent_new(struct event_base *base, const fl_rt_libevent_options *opts,
                       fl_rt_libevent **out)
{
    const fl_rt_libevent_options defaults = FL_RT_LIBEVENT_OPTIONS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (base == NULL || out == NULL || opts->version < 1 ||
        opts->version > FL_RT_LIBEVENT_OPTIONS_VERSION)
        return FL_E_INVAL;
    fl_rt_libevent *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        return FL_E_NOMEM;
    rt->dirfd = -1;
    rt->base = base;
    rt->seam = (fl_runtime){.ops = &RT_OPS, .self = rt};
    rt->connect_timeout_us = opts->connect_timeout_us;
    rt->trace_file = opts->trace_file;
    rt->trace_fn = opts->trace_fn;
    rt->trace_arg = opts->trace_arg;
    rt->seed = opts->seed;
    int rc = rt->seed ? 0 : os_seed(&rt->seed);
    if (rc == 0)
        rc = open_data_dir(opts->data_dir ? opts->data_dir : ".", &rt->dirfd);
    if (rc == 0) {
        rt->tick = evtimer_new(base, on_tick, rt);
        rt->scratch = malloc(RT_SCRATCH_SIZE);
        if (rt->tick == NULL || rt->scratch == NULL)
            rc = FL_E_NOMEM;
    }
    if (rc != 0) {
        fl_rt_libevent_free(rt);
        return rc;
    }
    seed_prng(rt, rt->seed);
    *out = rt;
    return 0;
}

void fl_rt_libevent_free(fl_rt_libevent *rt)
{
    if (rt == NULL)
        return;
    while (rt->listeners) {
        rt_listener *l = rt->listeners;
        rt->listeners = l->next;
        evconnlistener_free(l->lev);
        free(l);
    }
    while (rt->conns.n > 0)
        conn_release(rt->conns.v[rt->conns.n - 1].p);
    for (size_t i = 0; i < rt->heap_n; i++)
        free(rt->heap[i]);
    free(rt->heap);
    free(rt->timers.v);
    free(rt->conns.v);
    if (rt->tick)
        event_free(rt->tick);
    if (rt->dirfd >= 0)
        close(rt->dirfd);
    free(rt->scratch);
    free(rt);
}

const fl_runtime *fl_rt_libevent_runtime(fl_rt_libevent *rt)
{
    return rt ? &rt->seam : NULL;
}

uint64_t fl_rt_libevent_seed(const fl_rt_libevent *rt)
{
    return rt ? rt->seed : 0;
}
