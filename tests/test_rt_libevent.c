/* Tests of the libevent runtime (client/rt_libevent.c): timers (order,
 * cancel, never inline), connections over loopback TCP (refused and timed
 * out connects reported from the loop, echo, close from either side, no
 * callback after close), the file layer in a mkdtemp directory (I/O, sync,
 * rename, unlink, listing order, path validation), the PRNG, the clock, the
 * trace sink, and a smoke run of the reference client against a tiny
 * in-test broker that speaks the wire protocol far enough to ack a logon.
 *
 * Everything is real but bounded: the event base is driven with
 * event_base_loop(EVLOOP_ONCE) under a guard timer, never with sleeps, and
 * only loopback addresses are used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/buf.h"
#include "faultline/chooser.h"
#include "faultline/client.h"
#include "faultline/error.h"
#include "faultline/rt_libevent.h"
#include "faultline/wire.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GUARD_MS 3000 /* upper bound for anything that should happen "soon" */

typedef struct fx fx;

/* One side of a connection, as the test sees it. */
typedef struct endpoint {
    fx *f;
    fl_conn_id conn;
    int opened, closed, reason;
    int after_close; /* callbacks that ran after our own close(): must stay 0 */
    bool closed_by_us;
    bool echo;          /* send back what arrives */
    bool close_on_data; /* close() from inside the first data callback */
    uint8_t *rx;
    size_t rx_len, rx_cap;
} endpoint;

struct fx {
    struct event_base *base;
    fl_rt_libevent *le;
    const fl_runtime *rt;
    char dir[64];
    int in_call;    /* > 0 while the test is inside a seam call */
    int inline_cbs; /* callbacks that ran inside a seam call: must stay 0 */
    int order[32];
    size_t norder;
    endpoint cli;
    endpoint srv[4];
    size_t nsrv;
    bool refuse;
    bool greet;           /* the server sends "hi!" from inside accept */
    int data_before_open; /* client data callbacks before opened: must stay 0 */
    char peer[64];
};

/* ---- fixture ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/fl-rtle-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->base = event_base_new();
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = f->dir;
    o.seed = 42;
    o.connect_timeout_us = 2000000;
    if (f->base == NULL || fl_rt_libevent_new(f->base, &o, &f->le) != 0)
        return -1;
    f->rt = fl_rt_libevent_runtime(f->le);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    fl_rt_libevent_free(f->le);
    event_base_free(f->base);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->cli.rx);
    for (size_t i = 0; i < f->nsrv; i++)
        free(f->srv[i].rx);
    free(f);
    return 0;
}

/* ---- driving the loop ------------------------------------------------------------ */

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

typedef bool (*pred_fn)(const fx *f);

/* Run the loop until pred holds or max_ms passed; returns pred. pred NULL
 * runs the whole max_ms (to show that nothing happens). */
static bool run_until(fx *f, pred_fn pred, int max_ms)
{
    bool expired = false;
    struct event *g = evtimer_new(f->base, on_guard, &expired);
    struct timeval tv = {max_ms / 1000, (max_ms % 1000) * 1000};
    assert_non_null(g);
    evtimer_add(g, &tv);
    while (!(pred && pred(f)) && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(g);
    return pred && pred(f);
}

static void note_cb(fx *f)
{
    if (f->in_call > 0)
        f->inline_cbs++;
}

/* ---- seam calls, marked so inline callbacks are caught ----------------------------- */

static const fl_conn_callbacks EP_CBS;

static int t_timer(fx *f, uint64_t delay_us, fl_timer_fn fn, void *arg, fl_timer_id *id)
{
    f->in_call++;
    int rc = f->rt->ops->timer_start(f->rt->self, delay_us, fn, arg, id);
    f->in_call--;
    return rc;
}

static void t_cancel(fx *f, fl_timer_id id)
{
    f->in_call++;
    f->rt->ops->timer_cancel(f->rt->self, id);
    f->in_call--;
}

static int t_connect(fx *f, const fl_runtime *rt, const char *uri, endpoint *e)
{
    e->f = f;
    f->in_call++;
    int rc = rt->ops->connect(rt->self, uri, &EP_CBS, e, &e->conn);
    f->in_call--;
    return rc;
}

static int t_send(endpoint *e, const void *buf, size_t len)
{
    e->f->in_call++;
    int rc = e->f->rt->ops->send(e->f->rt->self, e->conn, buf, len);
    e->f->in_call--;
    return rc;
}

static void t_close(endpoint *e)
{
    e->closed_by_us = true;
    e->f->in_call++;
    e->f->rt->ops->close(e->f->rt->self, e->conn);
    e->f->in_call--;
}

/* ---- connection callbacks ---------------------------------------------------------- */

static void ep_opened(void *arg, fl_conn_id conn)
{
    endpoint *e = arg;
    note_cb(e->f);
    assert_int_equal(conn, e->conn);
    e->after_close += e->closed_by_us;
    e->opened++;
}

static void rx_append(endpoint *e, const uint8_t *buf, size_t len)
{
    if (e->rx_len + len > e->rx_cap) {
        size_t cap = e->rx_cap ? e->rx_cap : 4096;
        while (cap < e->rx_len + len)
            cap *= 2;
        e->rx = realloc(e->rx, cap);
        assert_non_null(e->rx);
        e->rx_cap = cap;
    }
    memcpy(e->rx + e->rx_len, buf, len);
    e->rx_len += len;
}

static void ep_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    endpoint *e = arg;
    note_cb(e->f);
    assert_int_equal(conn, e->conn);
    e->after_close += e->closed_by_us;
    if (e == &e->f->cli && e->opened == 0)
        e->f->data_before_open++;
    rx_append(e, buf, len);
    if (e->echo)
        assert_int_equal(t_send(e, buf, len), 0);
    if (e->close_on_data)
        t_close(e);
}

static void ep_closed(void *arg, fl_conn_id conn, int reason)
{
    endpoint *e = arg;
    note_cb(e->f);
    assert_int_equal(conn, e->conn);
    e->after_close += e->closed_by_us;
    e->closed++;
    e->reason = reason;
}

static const fl_conn_callbacks EP_CBS = {ep_opened, ep_data, ep_closed};

static int on_accept(void *arg, fl_conn_id conn, const char *peer, const fl_conn_callbacks **cbs,
                     void **cbs_arg)
{
    fx *f = arg;
    note_cb(f);
    if (f->refuse)
        return FL_E_BUSY;
    assert_true(f->nsrv < 4);
    endpoint *e = &f->srv[f->nsrv++];
    memset(e, 0, sizeof *e);
    e->f = f;
    e->conn = conn;
    e->echo = true;
    snprintf(f->peer, sizeof f->peer, "%s", peer);
    if (f->greet)
        assert_int_equal(t_send(e, "hi!", 3), 0); /* accept may already send */
    *cbs = &EP_CBS;
    *cbs_arg = e;
    return 0;
}

static bool cli_opened(const fx *f)
{
    return f->cli.opened > 0 && f->nsrv > 0;
}
static bool cli_closed(const fx *f)
{
    return f->cli.closed > 0;
}
static bool srv_closed(const fx *f)
{
    return f->nsrv > 0 && f->srv[0].closed > 0;
}

/* A loopback port with nothing listening (bound, then released). */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static uint16_t listen_here(fx *f)
{
    uint16_t port = 0;
    assert_int_equal(fl_rt_libevent_listen(f->le, "127.0.0.1:0", on_accept, f, &port), 0);
    assert_true(port != 0);
    return port;
}

static void open_pair(fx *f, uint16_t port)
{
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(t_connect(f, f->rt, uri, &f->cli), 0);
    assert_int_equal(f->cli.opened, 0); /* not inline */
    assert_true(run_until(f, cli_opened, GUARD_MS));
}

/* ---- timers -------------------------------------------------------------------------- */

typedef struct tctx {
    fx *f;
    int tag;
    struct tctx *chain; /* started (delay 0) from inside this timer */
} tctx;

static void on_timer_tag(void *arg)
{
    tctx *t = arg;
    note_cb(t->f);
    assert_true(t->f->norder < 32);
    t->f->order[t->f->norder++] = t->tag;
    if (t->chain)
        assert_int_equal(t_timer(t->f, 0, on_timer_tag, t->chain, NULL), 0);
}

static bool six_fired(const fx *f)
{
    return f->norder >= 6;
}

static void test_timers_order_and_cancel(void **state)
{
    fx *f = *state;
    tctx t[8];
    fl_timer_id id[8];
    const uint64_t delay[8] = {0, 20000, 0, 0, 5000, 0, 5000, 5000};
    for (int i = 1; i < 8; i++) {
        t[i] = (tctx){f, i, NULL};
        assert_int_equal(t_timer(f, delay[i], on_timer_tag, &t[i], &id[i]), 0);
        assert_true(id[i] != 0);
        if (i > 1)
            assert_true(id[i] > id[i - 1]);
    }
    t_cancel(f, id[3]);
    t_cancel(f, 0);      /* no-op */
    t_cancel(f, 999999); /* unknown: no-op */
    assert_int_equal(f->norder, 0);
    assert_true(run_until(f, six_fired, GUARD_MS));
    /* delay 0 in start order, then the three 5 ms timers in start order,
     * then the 20 ms one; 3 was cancelled. */
    const int want[6] = {2, 5, 4, 6, 7, 1};
    assert_memory_equal(f->order, want, sizeof want);
    t_cancel(f, id[1]); /* already fired: no-op */
    run_until(f, NULL, 30);
    assert_int_equal(f->norder, 6);
    assert_int_equal(f->inline_cbs, 0);
    assert_int_equal(t_timer(f, 0, NULL, NULL, NULL), FL_E_INVAL);
}

static void test_timer_zero_runs_on_a_later_turn(void **state)
{
    fx *f = *state;
    tctx b = {f, 2, NULL}, a = {f, 1, &b};
    assert_int_equal(t_timer(f, 0, on_timer_tag, &a, NULL), 0);
    assert_int_equal(f->norder, 0); /* never inside timer_start */
    event_base_loop(f->base, EVLOOP_ONCE);
    /* a ran; b, started from inside a with delay 0, waits for a later turn */
    assert_int_equal(f->norder, 1);
    assert_int_equal(f->order[0], 1);
    event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(f->norder, 2);
    assert_int_equal(f->order[1], 2);
    assert_int_equal(f->inline_cbs, 0);
}

/* ---- connections --------------------------------------------------------------------- */

static void test_connect_refused_reported_from_loop(void **state)
{
    fx *f = *state;
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)closed_port());
    assert_int_equal(t_connect(f, f->rt, uri, &f->cli), 0);
    assert_true(f->cli.conn != 0);
    assert_int_equal(f->cli.closed, 0); /* not inside connect() */
    int rc = t_send(&f->cli, "x", 1);   /* not open: refused either way */
    assert_true(rc == FL_E_STATE || rc == FL_E_DISCONNECTED);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    assert_int_equal(f->cli.reason, FL_E_REFUSED);
    assert_int_equal(f->cli.opened, 0);
    run_until(f, NULL, 20);
    assert_int_equal(f->cli.closed, 1); /* at most once */
    assert_int_equal(t_send(&f->cli, "x", 1), FL_E_DISCONNECTED);
    assert_int_equal(f->inline_cbs, 0);
}

/* The loopback network's broadcast address: Linux fails a TCP connect to it
 * inside connect() (ENETUNREACH), without sending anything. The runtime must
 * still report closed() from the loop, once. */
static void test_connect_failing_at_once_reported_from_loop(void **state)
{
    fx *f = *state;
    assert_int_equal(t_connect(f, f->rt, "127.255.255.255:9", &f->cli), 0);
    assert_true(f->cli.conn != 0);
    assert_int_equal(f->cli.closed, 0);
    assert_int_equal(t_send(&f->cli, "x", 1), FL_E_DISCONNECTED);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    assert_true(f->cli.reason < 0);
    assert_int_equal(f->cli.opened, 0);
    run_until(f, NULL, 20);
    assert_int_equal(f->cli.closed, 1);
    assert_int_equal(f->inline_cbs, 0);

    /* closed before the loop ran: silence */
    endpoint e = {0};
    assert_int_equal(t_connect(f, f->rt, "127.255.255.255:9", &e), 0);
    e.closed_by_us = true;
    f->rt->ops->close(f->rt->self, e.conn);
    run_until(f, NULL, 20);
    assert_int_equal(e.closed + e.opened, 0);
}

static void test_close_before_refusal_silences_it(void **state)
{
    fx *f = *state;
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)closed_port());
    assert_int_equal(t_connect(f, f->rt, uri, &f->cli), 0);
    t_close(&f->cli);
    t_close(&f->cli); /* twice: no-op */
    run_until(f, NULL, 50);
    assert_int_equal(f->cli.closed + f->cli.opened, 0);
}

static bool echoed(const fx *f)
{
    return f->cli.rx_len >= (1u << 20) + 5;
}

static void test_echo_then_client_closes(void **state)
{
    fx *f = *state;
    open_pair(f, listen_here(f));
    assert_int_equal(strncmp(f->peer, "127.0.0.1:", 10), 0);
    assert_int_equal(f->srv[0].opened, 0); /* accept is the server's opened */
    size_t big = 1u << 20;
    uint8_t *pattern = malloc(big);
    assert_non_null(pattern);
    for (size_t i = 0; i < big; i++)
        pattern[i] = (uint8_t)(i * 131u + (i >> 8));
    assert_int_equal(t_send(&f->cli, "hello", 5), 0);
    assert_int_equal(t_send(&f->cli, pattern, big), 0);
    assert_int_equal(t_send(&f->cli, NULL, 0), 0);
    assert_true(run_until(f, echoed, GUARD_MS));
    assert_int_equal(f->cli.rx_len, big + 5);
    assert_memory_equal(f->cli.rx, "hello", 5);
    assert_memory_equal(f->cli.rx + 5, pattern, big);
    free(pattern);
    t_close(&f->cli);
    assert_int_equal(t_send(&f->cli, "x", 1), FL_E_DISCONNECTED);
    assert_true(run_until(f, srv_closed, GUARD_MS));
    assert_int_equal(f->srv[0].reason, 0); /* orderly */
    assert_int_equal(f->cli.closed, 0);    /* no closed() after our own close() */
    assert_int_equal(f->cli.after_close, 0);
    assert_int_equal(f->inline_cbs, 0);
}

static bool cli_got_3(const fx *f)
{
    return f->cli.rx_len >= 3;
}

static void test_server_closes_client_sees_closed(void **state)
{
    fx *f = *state;
    f->greet = true;
    open_pair(f, listen_here(f));
    assert_true(run_until(f, cli_got_3, GUARD_MS));
    assert_memory_equal(f->cli.rx, "hi!", 3);
    assert_int_equal(f->data_before_open, 0);
    f->cli.rx_len = 0;
    /* send then close at once: the bytes still arrive, then closed(0) */
    assert_int_equal(t_send(&f->srv[0], "bye", 3), 0);
    t_close(&f->srv[0]);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    assert_int_equal(f->cli.rx_len, 3);
    assert_memory_equal(f->cli.rx, "bye", 3);
    assert_int_equal(f->cli.reason, 0);
    assert_int_equal(f->srv[0].closed, 0);
    assert_int_equal(t_send(&f->cli, "x", 1), FL_E_DISCONNECTED);
    run_until(f, NULL, 20);
    assert_int_equal(f->cli.closed, 1);
    assert_int_equal(f->inline_cbs, 0);
}

static bool srv_got_some(const fx *f)
{
    return f->nsrv > 0 && f->srv[0].rx_len > 0;
}

static void test_no_callback_after_close(void **state)
{
    fx *f = *state;
    open_pair(f, listen_here(f));
    uint8_t buf[100000];
    memset(buf, 7, sizeof buf);
    assert_int_equal(t_send(&f->cli, buf, sizeof buf), 0);
    /* the echo is under way; the client closes before reading all of it */
    assert_true(run_until(f, srv_got_some, GUARD_MS));
    t_close(&f->cli);
    assert_true(run_until(f, srv_closed, GUARD_MS));
    run_until(f, NULL, 20);
    assert_int_equal(f->cli.after_close, 0);
    assert_int_equal(f->cli.closed, 0);
}

static bool srv_got_all(const fx *f)
{
    return f->nsrv > 0 && f->srv[0].rx_len >= 3;
}

static void test_close_inside_data_callback(void **state)
{
    fx *f = *state;
    open_pair(f, listen_here(f));
    f->srv[0].echo = false;
    f->cli.close_on_data = true;
    assert_int_equal(t_send(&f->srv[0], "a", 1), 0);
    assert_int_equal(t_send(&f->srv[0], "b", 1), 0);
    assert_int_equal(t_send(&f->cli, "abc", 3), 0);
    assert_true(run_until(f, srv_got_all, GUARD_MS));
    assert_true(run_until(f, srv_closed, GUARD_MS));
    assert_true(f->cli.rx_len >= 1);
    assert_int_equal(f->cli.after_close, 0);
    assert_int_equal(f->cli.closed, 0);
}

static void test_accept_refused_closes_the_client(void **state)
{
    fx *f = *state;
    uint16_t port = listen_here(f);
    f->refuse = true;
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(t_connect(f, f->rt, uri, &f->cli), 0);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    assert_int_equal(f->nsrv, 0);
    assert_int_equal(f->inline_cbs, 0);
}

static void test_listen_busy_and_unlisten(void **state)
{
    fx *f = *state;
    uint16_t port = listen_here(f), p2 = 0;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(fl_rt_libevent_listen(f->le, addr, on_accept, f, &p2), FL_E_BUSY);
    assert_int_equal(fl_rt_libevent_listen(f->le, addr, NULL, f, &p2), FL_E_INVAL);
    assert_int_equal(fl_rt_libevent_listen(f->le, "127.0.0.1", on_accept, f, &p2), FL_E_INVAL);
    assert_int_equal(fl_rt_libevent_unlisten(f->le, port), 0);
    assert_int_equal(fl_rt_libevent_unlisten(f->le, port), FL_E_NOT_FOUND);
    assert_int_equal(t_connect(f, f->rt, addr, &f->cli), 0);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    assert_int_equal(f->cli.reason, FL_E_REFUSED);
}

static void test_ipv6_loopback_echo(void **state)
{
    fx *f = *state;
    uint16_t port = 0;
    if (fl_rt_libevent_listen(f->le, "[::1]:0", on_accept, f, &port) != 0)
        skip(); /* no IPv6 loopback here */
    char uri[64];
    snprintf(uri, sizeof uri, "[::1]:%u", (unsigned)port);
    assert_int_equal(t_connect(f, f->rt, uri, &f->cli), 0);
    assert_true(run_until(f, cli_opened, GUARD_MS));
    assert_int_equal(strncmp(f->peer, "[::1]:", 6), 0);
}

/* A connect whose SYN is dropped: a listener whose accept queue is full
 * (backlog 1, never accepted, filled by raw connects) drops further SYNs, so
 * the connect neither opens nor fails and the connect timeout decides. */
static void test_connect_timeout(void **state)
{
    fx *f = *state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(lfd, 1), 0);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[i] >= 0);
        (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = f->dir;
    o.seed = 1;
    o.connect_timeout_us = 50000;
    fl_rt_libevent *le = NULL;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &le), 0);
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(t_connect(f, fl_rt_libevent_runtime(le), uri, &f->cli), 0);
    assert_true(run_until(f, cli_closed, GUARD_MS));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(f->cli.reason, FL_E_TIMEOUT);
    assert_int_equal(f->cli.opened, 0);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 45);
    fl_rt_libevent_free(le);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

typedef struct uri_case {
    const char *uri;
    int want;
} uri_case;

static void test_connect_uri_table(void **state)
{
    fx *f = *state;
    const uri_case cases[] = {
        {"127.0.0.1", FL_E_INVAL},
        {"127.0.0.1:", FL_E_INVAL},
        {":80", FL_E_INVAL},
        {"127.0.0.1:65536", FL_E_INVAL},
        {"127.0.0.1:0", FL_E_INVAL},
        {"127.0.0.1:8x", FL_E_INVAL},
        {"127.0.0.1:-1", FL_E_INVAL},
        {"127.0.0.1:123456", FL_E_INVAL},
        {"::1:80", FL_E_INVAL},
        {"[::1]80", FL_E_INVAL},
        {"[::1", FL_E_INVAL},
        {"[]:80", FL_E_INVAL},
        {"", FL_E_INVAL},
        {"999.1.1.1.1:80", FL_E_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        endpoint e = {0};
        int rc = t_connect(f, f->rt, cases[i].uri, &e);
        if (rc != cases[i].want)
            fail_msg("uri \"%s\": got %s, want %s", cases[i].uri, fl_err_name(rc),
                     fl_err_name(cases[i].want));
    }
    endpoint e = {0};
    e.f = f;
    assert_int_equal(f->rt->ops->connect(f->rt->self, NULL, &EP_CBS, &e, &e.conn), FL_E_INVAL);
    assert_int_equal(f->rt->ops->connect(f->rt->self, "127.0.0.1:1", NULL, &e, &e.conn),
                     FL_E_INVAL);
    run_until(f, NULL, 20);
    assert_int_equal(f->inline_cbs, 0);
}

/* ---- files ----------------------------------------------------------------------------- */

static fl_file *open_ok(fx *f, const char *path, int flags)
{
    fl_file *h = NULL;
    int rc = f->rt->ops->file_open(f->rt->self, path, flags, &h);
    if (rc != 0)
        fail_msg("open %s: %s", path, fl_err_name(rc));
    return h;
}

static void test_file_io(void **state)
{
    fx *f = *state;
    const fl_runtime_ops *o = f->rt->ops;
    void *s = f->rt->self;
    fl_file *h = open_ok(f, "one.dat", FL_FILE_READ | FL_FILE_WRITE | FL_FILE_CREATE);
    assert_int_equal(o->file_write(s, h, 0, "hello world", 11), 0);
    assert_int_equal(o->file_write(s, h, 20, "tail", 4), 0); /* leaves a hole */
    uint64_t size = 0;
    assert_int_equal(o->file_size(s, h, &size), 0);
    assert_int_equal(size, 24);
    assert_int_equal(o->file_sync(s, h), 0);
    char buf[64];
    size_t n = 99;
    assert_int_equal(o->file_read(s, h, 6, buf, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(o->file_read(s, h, 11, buf, 9, &n), 0);
    assert_int_equal(n, 9);
    const char zeros[9] = {0};
    assert_memory_equal(buf, zeros, 9);
    assert_int_equal(o->file_read(s, h, 22, buf, 10, &n), 0); /* short only at EOF */
    assert_int_equal(n, 2);
    assert_int_equal(o->file_read(s, h, 100, buf, 10, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(o->file_truncate(s, h, 5), 0);
    assert_int_equal(o->file_size(s, h, &size), 0);
    assert_int_equal(size, 5);
    assert_int_equal(o->file_sync(s, h), 0);
    assert_int_equal(o->file_sync(s, h), 0); /* size unchanged: fdatasync path */
    assert_int_equal(o->file_write(s, h, UINT64_MAX - 2, "x", 1), FL_E_OVERFLOW);
    o->file_close(s, h);

    /* joined to the data directory */
    char real[128];
    struct stat st;
    snprintf(real, sizeof real, "%s/one.dat", f->dir);
    assert_int_equal(stat(real, &st), 0);
    assert_int_equal(st.st_size, 5);

    /* open modes */
    fl_file *x = NULL;
    assert_int_equal(o->file_open(s, "one.dat", FL_FILE_WRITE | FL_FILE_CREATE | FL_FILE_EXCL, &x),
                     FL_E_EXIST);
    assert_null(x);
    assert_int_equal(o->file_open(s, "none.dat", FL_FILE_READ, &x), FL_E_NOENT);
    h = open_ok(f, "one.dat", FL_FILE_WRITE | FL_FILE_TRUNC);
    assert_int_equal(o->file_size(s, h, &size), 0);
    assert_int_equal(size, 0);
    o->file_close(s, h);
    h = open_ok(f, "one.dat", FL_FILE_READ);
    assert_int_equal(o->file_write(s, h, 0, "no", 2), FL_E_IO); /* EBADF: read-only */
    o->file_close(s, h);
    o->file_close(s, NULL);

    /* rename replaces, unlink removes */
    h = open_ok(f, "two.tmp", FL_FILE_WRITE | FL_FILE_CREATE);
    assert_int_equal(o->file_write(s, h, 0, "new", 3), 0);
    assert_int_equal(o->file_sync(s, h), 0);
    o->file_close(s, h);
    assert_int_equal(o->file_rename(s, "two.tmp", "one.dat"), 0);
    assert_int_equal(o->dir_sync(s, ""), 0);
    h = open_ok(f, "one.dat", FL_FILE_READ);
    assert_int_equal(o->file_read(s, h, 0, buf, sizeof buf, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "new", 3);
    o->file_close(s, h);
    assert_int_equal(o->file_rename(s, "two.tmp", "three"), FL_E_NOENT);
    assert_int_equal(o->file_unlink(s, "one.dat"), 0);
    assert_int_equal(o->file_unlink(s, "one.dat"), FL_E_NOENT);
    assert_int_equal(o->dir_sync(s, "."), 0);
}

typedef struct names {
    char v[16][32];
    int n, stop_at;
} names;

static int collect(void *arg, const char *name)
{
    names *nm = arg;
    snprintf(nm->v[nm->n++], sizeof nm->v[0], "%s", name);
    return nm->n == nm->stop_at;
}

static void touch(fx *f, const char *path)
{
    fl_file *h = open_ok(f, path, FL_FILE_WRITE | FL_FILE_CREATE);
    f->rt->ops->file_close(f->rt->self, h);
}

static void test_dirs(void **state)
{
    fx *f = *state;
    const fl_runtime_ops *o = f->rt->ops;
    void *s = f->rt->self;
    assert_int_equal(o->dir_create(s, "a/b/c"), 0);
    assert_int_equal(o->dir_create(s, "a/b/c"), 0); /* existing: fine */
    assert_int_equal(o->dir_create(s, "a/b"), 0);
    assert_int_equal(o->dir_create(s, ""), 0);
    const char *files[] = {"a/b/seg-10", "a/b/seg-9", "a/b/Z", "a/b/seg-1", "a/b/_x"};
    for (size_t i = 0; i < 5; i++)
        touch(f, files[i]);
    char real[160], target[160];
    snprintf(real, sizeof real, "%s/a/b/link", f->dir);
    snprintf(target, sizeof target, "%s/a/b/Z", f->dir);
    assert_int_equal(symlink(target, real), 0); /* not a regular file: not listed */
    assert_int_equal(o->dir_create(s, "a/b/seg-1"), FL_E_EXIST); /* a file is in the way */
    names nm = {.stop_at = 0};
    assert_int_equal(o->dir_list(s, "a/b", collect, &nm), 0);
    const char *want[] = {"Z", "_x", "seg-1", "seg-10", "seg-9"}; /* strcmp order, no "c" */
    assert_int_equal(nm.n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(nm.v[i], want[i]);
    names early = {.stop_at = 2};
    assert_int_equal(o->dir_list(s, "a/b", collect, &early), 0);
    assert_int_equal(early.n, 2);
    names root = {.stop_at = 0};
    assert_int_equal(o->dir_list(s, "", collect, &root), 0);
    assert_int_equal(root.n, 0); /* only the directory "a" */
    assert_int_equal(o->dir_list(s, "nope", collect, &root), FL_E_NOENT);
    assert_int_equal(o->dir_list(s, "a/b/Z", collect, &root), FL_E_NOENT);
    assert_int_equal(o->dir_list(s, "a", NULL, &root), FL_E_INVAL);
    assert_int_equal(o->dir_sync(s, "a/b"), 0);
    assert_int_equal(o->dir_sync(s, "a/zz"), FL_E_NOENT);
    fl_file *h = NULL;
    assert_int_equal(o->file_open(s, "a/b", FL_FILE_READ, &h), FL_E_INVAL); /* a directory */
    assert_int_equal(o->file_open(s, "a/b", FL_FILE_WRITE, &h), FL_E_INVAL);
}

typedef struct path_case {
    const char *path;
    int want;
} path_case;

static void test_path_validation_table(void **state)
{
    fx *f = *state;
    const fl_runtime_ops *o = f->rt->ops;
    void *s = f->rt->self;
    char longp[1100];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(o->dir_create(s, "sub"), 0);
    const path_case cases[] = {
        {"a.txt", 0},
        {"./b.txt", 0},
        {"sub/./c.txt", 0},
        {"sub/d.txt", 0},
        {"", FL_E_INVAL},
        {".", FL_E_INVAL},
        {"/etc/x", FL_E_INVAL},
        {"..", FL_E_INVAL},
        {"../x", FL_E_INVAL},
        {"sub/..", FL_E_INVAL},
        {"sub/../x", FL_E_INVAL},
        {"a//b", FL_E_INVAL},
        {"sub/", FL_E_INVAL},
        {"missing/x", FL_E_NOENT},
        {longp, FL_E_INVAL},
        {"sub", FL_E_INVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_file *h = NULL;
        int rc = o->file_open(s, cases[i].path, FL_FILE_WRITE | FL_FILE_CREATE, &h);
        if (rc != cases[i].want)
            fail_msg("path \"%.40s\": got %s, want %s", cases[i].path, fl_err_name(rc),
                     fl_err_name(cases[i].want));
        if (rc == 0)
            o->file_close(s, h);
        else
            assert_null(h);
    }
    struct stat st;
    char real[128];
    snprintf(real, sizeof real, "%s/b.txt", f->dir);
    assert_int_equal(stat(real, &st), 0);
    snprintf(real, sizeof real, "%s/sub/c.txt", f->dir);
    assert_int_equal(stat(real, &st), 0);
    /* the other calls validate the same way */
    assert_int_equal(o->file_rename(s, "a.txt", "../a.txt"), FL_E_INVAL);
    assert_int_equal(o->file_rename(s, "/a.txt", "b"), FL_E_INVAL);
    assert_int_equal(o->file_unlink(s, "/a.txt"), FL_E_INVAL);
    assert_int_equal(o->file_unlink(s, ""), FL_E_INVAL);
    assert_int_equal(o->dir_create(s, "../d"), FL_E_INVAL);
    assert_int_equal(o->dir_sync(s, "/"), FL_E_INVAL);
    names nm = {0};
    assert_int_equal(o->dir_list(s, "..", collect, &nm), FL_E_INVAL);
    assert_int_equal(o->dir_list(s, ".", collect, &nm), 0);
    assert_int_equal(nm.n, 2); /* a.txt, b.txt */
    assert_string_equal(nm.v[0], "a.txt");
    assert_string_equal(nm.v[1], "b.txt");
    /* open flags */
    const int bad_flags[] = {0, FL_FILE_CREATE, FL_FILE_READ | FL_FILE_TRUNC,
                             FL_FILE_WRITE | FL_FILE_EXCL, FL_FILE_READ | (1 << 10)};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        fl_file *h = NULL;
        assert_int_equal(o->file_open(s, "a.txt", bad_flags[i], &h), FL_E_INVAL);
    }
}

/* ---- PRNG, clock, trace, options --------------------------------------------------- */

static void test_prng_seeded_and_os(void **state)
{
    fx *f = *state;
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = f->dir;
    o.seed = 7;
    fl_rt_libevent *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), 0);
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &b), 0);
    o.seed = 8;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &c), 0);
    o.seed = 0;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &d), 0);
    assert_int_equal(fl_rt_libevent_seed(a), 7);
    assert_true(fl_rt_libevent_seed(d) != 0);
    const fl_runtime *ra = fl_rt_libevent_runtime(a), *rb = fl_rt_libevent_runtime(b),
                     *rc = fl_rt_libevent_runtime(c);
    int same_c = 0, ones = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t va = fl_rt_random(ra), vb = fl_rt_random(rb), vc = fl_rt_random(rc);
        assert_int_equal(va, vb);
        same_c += va == vc;
        ones += __builtin_popcountll(va);
    }
    assert_int_equal(same_c, 0);
    assert_true(ones > 30000 && ones < 34000); /* ~32000 set bits in 64000 */
    uint64_t below[4] = {0};
    for (int i = 0; i < 400; i++)
        below[fl_rt_random_below(ra, 4)]++;
    for (int i = 0; i < 4; i++)
        assert_true(below[i] > 50);
    /* a runtime re-created with the OS-drawn seed repeats its sequence */
    o.seed = fl_rt_libevent_seed(d);
    fl_rt_libevent *e = NULL;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &e), 0);
    assert_int_equal(fl_rt_random(fl_rt_libevent_runtime(d)),
                     fl_rt_random(fl_rt_libevent_runtime(e)));
    fl_rt_libevent_free(a);
    fl_rt_libevent_free(b);
    fl_rt_libevent_free(c);
    fl_rt_libevent_free(d);
    fl_rt_libevent_free(e);
}

static void test_now_monotonic_and_real(void **state)
{
    fx *f = *state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    uint64_t prev = fl_rt_now(f->rt);
    assert_true(prev + 5000000u > wall && prev < wall + 5000000u);
    for (int i = 0; i < 10000; i++) {
        uint64_t t = fl_rt_now(f->rt);
        assert_true(t >= prev);
        prev = t;
    }
}

typedef struct trace_rec {
    int n;
    char last[128];
} trace_rec;

static void trace_cb(void *arg, uint64_t now_us, const char *source, const char *event,
                     const char *fields)
{
    trace_rec *t = arg;
    assert_true(now_us > 0);
    t->n++;
    snprintf(t->last, sizeof t->last, "%s/%s/%s", source, event, fields ? fields : "-");
}

static void test_trace_sinks(void **state)
{
    fx *f = *state;
    fl_rt_trace(f->rt, "client", "ignored", NULL); /* no sink: ignored */
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    o.data_dir = f->dir;
    o.seed = 3;
    char text[512] = {0};
    o.trace_file = fmemopen(text, sizeof text - 1, "w");
    assert_non_null(o.trace_file);
    fl_rt_libevent *a = NULL;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), 0);
    fl_rt_trace(fl_rt_libevent_runtime(a), "client", "publish", "\"seq\":12");
    fl_rt_trace(fl_rt_libevent_runtime(a), "odd\"src", "x", NULL);
    fclose(o.trace_file);
    assert_non_null(strstr(text, "\"source\":\"client\",\"event\":\"publish\",\"seq\":12}\n"));
    assert_non_null(strstr(text, "\"source\":\"odd\\\"src\",\"event\":\"x\"}\n"));
    assert_int_equal(strncmp(text, "{\"t_us\":", 8), 0);
    fl_rt_libevent_free(a);

    trace_rec rec = {0};
    o.trace_file = NULL;
    o.trace_fn = trace_cb;
    o.trace_arg = &rec;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), 0);
    fl_rt_trace(fl_rt_libevent_runtime(a), "broker", "logon", "\"name\":\"p\"");
    fl_rt_trace(fl_rt_libevent_runtime(a), "broker", "tick", NULL);
    assert_int_equal(rec.n, 2);
    assert_string_equal(rec.last, "broker/tick/-");
    fl_rt_libevent_free(a);
}

static void test_new_options(void **state)
{
    fx *f = *state;
    fl_rt_libevent *a = NULL;
    fl_rt_libevent_options o = FL_RT_LIBEVENT_OPTIONS_INIT;
    assert_int_equal(fl_rt_libevent_new(NULL, &o, &a), FL_E_INVAL);
    assert_int_equal(fl_rt_libevent_new(f->base, &o, NULL), FL_E_INVAL);
    o.version = 0;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), FL_E_INVAL);
    o.version = FL_RT_LIBEVENT_OPTIONS_VERSION + 1;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), FL_E_INVAL);
    assert_null(a);
    /* a missing data directory is created, parents included */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/x/y/data", f->dir);
    o.version = FL_RT_LIBEVENT_OPTIONS_VERSION;
    o.data_dir = dir;
    assert_int_equal(fl_rt_libevent_new(f->base, &o, &a), 0);
    touch(f, "unused"); /* on the fixture's runtime, not this one */
    fl_file *h = NULL;
    const fl_runtime *r = fl_rt_libevent_runtime(a);
    assert_int_equal(r->ops->file_open(r->self, "in-data", FL_FILE_WRITE | FL_FILE_CREATE, &h), 0);
    r->ops->file_close(r->self, h);
    char real[160];
    struct stat st;
    snprintf(real, sizeof real, "%s/in-data", dir);
    assert_int_equal(stat(real, &st), 0);
    assert_string_equal(r->ops->name, "libevent");
    fl_rt_libevent_free(a);
    /* a data directory that is a file */
    snprintf(dir, sizeof dir, "%s/unused", f->dir);
    a = NULL;
    assert_true(fl_rt_libevent_new(f->base, &o, &a) < 0);
    assert_null(a);
    fl_rt_libevent_free(NULL);
    assert_null(fl_rt_libevent_runtime(NULL));
}

/* ---- the reference client on this runtime ---------------------------------------------- */

/* A broker just good enough for a logon: acks it, records publishes. */
typedef struct mini_broker {
    fx *f;
    fl_conn_id conn;
    fl_buf in;
    int logons, publishes, closed;
    char client_name[64];
    char topic[64];
    uint64_t last_seq;
} mini_broker;

static void mb_reply_logon(mini_broker *b)
{
    fl_frame a;
    fl_frame_init(&a, FL_CMD_ACK);
    a.ack_type = FL_ACK_LOGON;
    a.status = FL_STATUS_SUCCESS;
    a.sequence = 0;
    a.present |= FL_HAS_ACK_TYPE | FL_HAS_STATUS | FL_HAS_SEQUENCE;
    fl_buf out = FL_BUF_INIT;
    assert_int_equal(fl_frame_encode(&out, &a), 0);
    assert_int_equal(b->f->rt->ops->send(b->f->rt->self, b->conn, out.data, out.len), 0);
    fl_buf_free(&out);
}

static void mb_data(void *arg, fl_conn_id conn, const uint8_t *buf, size_t len)
{
    mini_broker *b = arg;
    assert_int_equal(conn, b->conn);
    assert_int_equal(fl_buf_append(&b->in, buf, len), 0);
    for (;;) {
        fl_frame fr;
        size_t used = 0;
        int rc = fl_frame_decode(b->in.data, b->in.len, 0, &fr, &used);
        if (rc == FL_E_AGAIN)
            return;
        assert_int_equal(rc, 0);
        if (fr.command == FL_CMD_LOGON) {
            b->logons++;
            snprintf(b->client_name, sizeof b->client_name, "%.*s", (int)fr.client_name.len,
                     (const char *)fr.client_name.ptr);
            mb_reply_logon(b);
        } else if (fr.command == FL_CMD_PUBLISH) {
            b->publishes++;
            b->last_seq = fr.sequence;
            snprintf(b->topic, sizeof b->topic, "%.*s", (int)fr.topic.len,
                     (const char *)fr.topic.ptr);
        }
        fl_buf_consume(&b->in, used);
    }
}

static void mb_closed(void *arg, fl_conn_id conn, int reason)
{
    mini_broker *b = arg;
    (void)conn;
    (void)reason;
    b->closed++;
}

static const fl_conn_callbacks MB_CBS = {NULL, mb_data, mb_closed};

static int mb_accept(void *arg, fl_conn_id conn, const char *peer, const fl_conn_callbacks **cbs,
                     void **cbs_arg)
{
    mini_broker *b = arg;
    (void)peer;
    b->conn = conn;
    *cbs = &MB_CBS;
    *cbs_arg = b;
    return 0;
}

typedef struct client_obs {
    int states[32];
    int nstates;
    int last;
} client_obs;

static void on_client_state(void *arg, fl_client *c, int st)
{
    client_obs *o = arg;
    (void)c;
    if (o->nstates < 32)
        o->states[o->nstates++] = st;
    o->last = st;
}

static void test_reference_client_logs_on(void **state)
{
    fx *f = *state;
    mini_broker b = {.f = f, .in = FL_BUF_INIT};
    client_obs obs = {0};
    uint16_t port = 0;
    assert_int_equal(fl_rt_libevent_listen(f->le, "127.0.0.1:0", mb_accept, &b, &port), 0);

    fl_client_options o = FL_CLIENT_OPTIONS_INIT;
    o.cb.arg = &obs;
    o.cb.state = on_client_state;
    fl_client *c = NULL;
    assert_int_equal(fl_client_new(f->rt, "pub-1", &o, &c), 0);
    fl_chooser ch;
    char uri[64];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(fl_chooser_default_new(&ch), 0);
    assert_int_equal(fl_chooser_default_add(&ch, uri, NULL), 0);
    assert_int_equal(fl_client_set_chooser(c, &ch), 0);
    assert_int_equal(fl_client_connect(c), 0);
    assert_int_equal(obs.nstates, 0); /* reported from the loop */

    bool expired = false;
    struct event *g = evtimer_new(f->base, on_guard, &expired);
    struct timeval tv = {GUARD_MS / 1000, 0};
    evtimer_add(g, &tv);
    while (obs.last != FL_CLIENT_RESUBSCRIBED && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(obs.last, FL_CLIENT_RESUBSCRIBED);
    assert_int_equal(obs.states[0], FL_CLIENT_CONNECTED);
    assert_int_equal(obs.states[1], FL_CLIENT_LOGGED_ON);
    assert_int_equal(b.logons, 1);
    assert_string_equal(b.client_name, "pub-1");

    uint64_t seq = 0;
    assert_int_equal(fl_client_publish(c, "orders", "hi", 2, &seq), 0);
    assert_int_equal(seq, 1);
    while (b.publishes == 0 && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(b.publishes, 1);
    assert_string_equal(b.topic, "orders");
    assert_int_equal(b.last_seq, 1);

    assert_int_equal(fl_client_disconnect(c), 0);
    while ((obs.last != FL_CLIENT_SHUT_DOWN || b.closed == 0) && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(obs.last, FL_CLIENT_SHUT_DOWN);
    assert_int_equal(b.closed, 1);
    event_free(g);
    fl_client_free(c);
    fl_buf_free(&b.in);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_order_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_zero_runs_on_a_later_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused_reported_from_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_failing_at_once_reported_from_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_before_refusal_silences_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_then_client_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_client_sees_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_callback_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_data_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_refused_closes_the_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_busy_and_unlisten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_loopback_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_uri_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_validation_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prng_seeded_and_os, setup, teardown),
        cmocka_unit_test_setup_teardown(test_now_monotonic_and_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_sinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_client_logs_on, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
