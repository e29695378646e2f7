/* Benchmark: the file publish store appending 100-byte messages on the real
 * disk, under each sync policy, against a raw append loop (write(2) of a
 * CRC32C-framed 100-byte record) measured in the same run.
 *
 * The store does its I/O through the runtime seam; the libevent runtime is
 * not part of this build, so a small POSIX implementation of the file layer
 * lives here (open/pread/pwrite/fdatasync/ftruncate/fstat/unlink/rename/
 * mkdir/directory fsync/sorted readdir), with a timer list that the bench
 * loop drives from CLOCK_MONOTONIC for the batch policy's window. Files go
 * to a fresh directory under /tmp, removed at the end. Each figure is the
 * best of five short rounds, the raw loop and the three stores interleaved
 * (about 6 s in all), because the machine is shared. The publisher acks
 * (discard_up_to) all but its last 1000 messages every 1000 stores, so
 * pruning runs as it would in a client.
 *
 * Two figures for sync=none. The raw loop only appends: it never deletes
 * anything while it is timed. The store's publisher also acks, and
 * discard_up_to writes a DISCARD record, drops index entries and prunes: it
 * unlinks each dead 16 MiB segment, and the kernel frees that segment's
 * page cache then (truncate_inode_pages, about 16 ns per append on ext4
 * here; proportional to the bytes freed, so batching deletions would not
 * make it cheaper). pubstore_file_none_appends is the whole cycle, stores,
 * acks and prunes, and carries the 0.8 x raw target;
 * pubstore_file_none_store_calls is the rate of store() calls alone (the
 * time inside discard_up_to timed apart and left out), against the same
 * raw loop, for what the append path itself costs.
 *
 * What bounds none/raw (ext4, 2 cores). Since sync=none stopped syncing at
 * rotation, segment creation and deletion (seglog.h), a none store that is
 * never flushed makes no sync at all. Per append it then costs one pwrite
 * like the raw loop's write, plus: 42 bytes more per record (150-byte
 * records: 32-byte record header, 12-byte STORE header, topic; about 17 ns
 * more in the kernel), the record's two CRC32C passes (header, then header
 * and payload; about 11 ns since fl_crc32c runs three interleaved chains,
 * about 25 ns before), and the bookkeeping of store, seglog and file layer
 * (about 25 ns, measured with a file layer whose write does nothing). An
 * encode of our record plus one pwrite, with no store around it, runs at
 * about 0.9 of the raw loop. Measured on a quiet machine without
 * recycling: the whole cycle 0.76-0.84 of raw (0.73-0.77 with one CRC
 * chain), store() calls alone 0.80-0.87. With the store's default
 * recycle=2 (seglog.c, "Recycling": dead segment files are renamed to
 * spares and written over, so appends land on cached pages and prunes free
 * nothing; one directory sync per recycled segment) the whole cycle runs
 * at 0.87-0.96 of raw and store() calls alone at 0.89-0.98.
 * The sequence reservation (pubstore_file.c, store.h last_sequence) costs
 * one 20-byte write and one sync of the small "reserve" file per 65536
 * stores under none and batch; when it synced the log instead (a MARK
 * record and fl_seglog_sync per 4096 stores, writing out ~600 KB of
 * unsynced records each time) none/raw fell to about 0.53.
 *
 * Figures (suite "client"):
 * - pubstore_file_none_appends: messages/s, stores with acks and prunes;
 *   baseline = raw loop, target = 0.8 x raw.
 * - pubstore_file_none_store_calls: store() calls/s, discards left out;
 *   baseline = raw loop, no target.
 * - pubstore_file_batch1ms_appends: appends/s, target 200000.
 * - pubstore_file_always_appends: appends/s, no target.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultline/buf.h"
#include "faultline/crc32c.h"
#include "faultline/error.h"
#include "faultline/runtime.h"
#include "faultline/store.h"

#define PAYLOAD    100
#define MAX_TIMERS 16
#define PATH_CAP   1024
#define ACK_WINDOW 1000 /* discard everything older than this many messages */

/* ------------------------------------------------------------------ */
/* clocks */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mono_us(void)
{
    return (uint64_t)(mono_s() * 1e6);
}

/* ------------------------------------------------------------------ */
/* the POSIX runtime */

struct fl_file {
    int fd;
};

typedef struct bench_timer {
    fl_timer_id id;
    uint64_t due_us;
    fl_timer_fn fn;
    void *arg;
} bench_timer;

typedef struct posix_rt {
    char base[PATH_CAP];
    uint64_t rng;
    bench_timer timers[MAX_TIMERS];
    size_t ntimers;
    fl_timer_id next_id;
} posix_rt;

static int full_path(posix_rt *r, const char *path, char *out)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", r->base, path);
    return n < 0 || n >= PATH_CAP ? FL_E_INVAL : 0;
}

static uint64_t rt_now(void *self)
{
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rt_random(void *self)
{
    posix_rt *r = self;
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static int rt_timer_start(void *self, uint64_t delay_us, fl_timer_fn fn, void *arg,
                          fl_timer_id *out)
{
    posix_rt *r = self;
    if (r->ntimers == MAX_TIMERS)
        return FL_E_NOMEM;
    bench_timer *t = &r->timers[r->ntimers++];
    t->id = ++r->next_id;
    t->due_us = mono_us() + delay_us;
    t->fn = fn;
    t->arg = arg;
    if (out)
        *out = t->id;
    return 0;
}

static void rt_timer_cancel(void *self, fl_timer_id id)
{
    posix_rt *r = self;
    for (size_t i = 0; i < r->ntimers; i++) {
        if (r->timers[i].id == id) {
            memmove(&r->timers[i], &r->timers[i + 1], (r->ntimers - i - 1) * sizeof r->timers[0]);
            r->ntimers--;
            return;
        }
    }
}

/* Fire the timers that are due, in start order (the bench loop's turn). */
static void run_due_timers(posix_rt *r)
{
    if (r->ntimers == 0)
        return;
    uint64_t now = mono_us();
    for (size_t i = 0; i < r->ntimers;) {
        if (r->timers[i].due_us > now) {
            i++;
            continue;
        }
        bench_timer t = r->timers[i];
        memmove(&r->timers[i], &r->timers[i + 1], (r->ntimers - i - 1) * sizeof r->timers[0]);
        r->ntimers--;
        t.fn(t.arg);
        i = 0; /* the callback may have started or cancelled timers */
        now = mono_us();
    }
}

static int rt_connect(void *self, const char *uri, const fl_conn_callbacks *cbs, void *arg,
                      fl_conn_id *out)
{
    return FL_E_UNSUPPORTED;
}

static int rt_send(void *self, fl_conn_id conn, const void *buf, size_t len)
{
    return FL_E_UNSUPPORTED;
}

static void rt_close(void *self, fl_conn_id conn)
{
}

static int rt_file_open(void *self, const char *path, int flags, fl_file **out)
{
    char p[PATH_CAP];
    if (full_path(self, path, p))
        return FL_E_INVAL;
    int o = (flags & FL_FILE_WRITE) ? ((flags & FL_FILE_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
    if (flags & FL_FILE_CREATE)
        o |= O_CREAT;
    if (flags & FL_FILE_EXCL)
        o |= O_EXCL;
    if (flags & FL_FILE_TRUNC)
        o |= O_TRUNC;
    int fd = open(p, o | O_CLOEXEC, 0644);
    if (fd < 0)
        return fl_err_from_errno(errno);
    fl_file *f = malloc(sizeof *f);
    if (!f) {
        close(fd);
        return FL_E_NOMEM;
    }
    f->fd = fd;
    *out = f;
    return 0;
}

static int rt_file_read(void *self, fl_file *f, uint64_t off, void *buf, size_t len, size_t *nread)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *nread = 0;
            return fl_err_from_errno(errno);
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *nread = done;
    return 0;
}

static int rt_file_write(void *self, fl_file *f, uint64_t off, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fl_err_from_errno(errno);
        done += (size_t)n;
    }
    return 0;
}

static int rt_file_sync(void *self, fl_file *f)
{
    return fdatasync(f->fd) == 0 ? 0 : fl_err_from_errno(errno);
}

static int rt_file_truncate(void *self, fl_file *f, uint64_t size)
{
    return ftruncate(f->fd, (off_t)size) == 0 ? 0 : fl_err_from_errno(errno);
}

static int rt_file_size(void *self, fl_file *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return fl_err_from_errno(errno);
    *size = (uint64_t)st.st_size;
    return 0;
}

static void rt_file_close(void *self, fl_file *f)
{
    if (f) {
        close(f->fd);
        free(f);
    }
}

static int rt_file_unlink(void *self, const char *path)
{
    char p[PATH_CAP];
    if (full_path(self, path, p))
        return FL_E_INVAL;
    return unlink(p) == 0 ? 0 : fl_err_from_errno(errno);
}

static int rt_file_rename(void *self, const char *from, const char *to)
{
    char a[PATH_CAP], b[PATH_CAP];
    if (full_path(self, from, a) || full_path(self, to, b))
        return FL_E_INVAL;
    return rename(a, b) == 0 ? 0 : fl_err_from_errno(errno);
}

/* mkdir -p of an absolute path. */
static int mkdir_p(const char *p)
{
    char tmp[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%s", p);
    for (char *c = tmp + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return fl_err_from_errno(errno);
        *c = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return fl_err_from_errno(errno);
    return 0;
}

static int rt_dir_create(void *self, const char *path)
{
    char p[PATH_CAP];
    if (full_path(self, path, p))
        return FL_E_INVAL;
    return mkdir_p(p);
}

static int rt_dir_sync(void *self, const char *path)
{
    char p[PATH_CAP];
    if (full_path(self, path, p))
        return FL_E_INVAL;
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fl_err_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : fl_err_from_errno(errno);
    close(fd);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rt_dir_list(void *self, const char *path, fl_dir_entry_fn fn, void *arg)
{
    char p[PATH_CAP];
    if (full_path(self, path, p))
        return FL_E_INVAL;
    DIR *d = opendir(p);
    if (!d)
        return fl_err_from_errno(errno);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = FL_E_NOMEM;
                break;
            }
            names = nn;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            rc = FL_E_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (fn(arg, names[i]))
            break;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void rt_trace(void *self, const char *source, const char *event, const char *fields)
{
}

static const fl_runtime_ops posix_ops = {
    .version = FL_RUNTIME_OPS_VERSION,
    .name = "bench-posix",
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

/* rm -r of one level of files in base/sub, then the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char p[PATH_CAP + 300];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* measurements */

/* Raw loop: write(2) of [len u32][crc u32][100 bytes] records. */
typedef struct raw_loop {
    int fd;
    uint64_t n;
} raw_loop;

static double raw_round(raw_loop *w, double secs)
{
    uint8_t rec[8 + PAYLOAD];
    uint64_t n0 = w->n;
    double t0 = mono_s(), t;
    do {
        for (int i = 0; i < 256; i++, w->n++) {
            memset(rec + 8, (int)(w->n & 0xff), PAYLOAD);
            fl_store_be32(rec, PAYLOAD);
            fl_store_be32(rec + 4, fl_crc32c_mask(fl_crc32c(0, rec + 8, PAYLOAD)));
            if (write(w->fd, rec, sizeof rec) != (ssize_t)sizeof rec)
                return 0;
        }
        t = mono_s();
    } while (t - t0 < secs);
    return (double)(w->n - n0) / (t - t0);
}

/* An open file publish store being appended to. */
typedef struct store_loop {
    posix_rt *r;
    fl_runtime rt;
    void *ps;
    uint64_t seq;
    char sub[32];
} store_loop;

static int store_begin(store_loop *l, posix_rt *r, const char *sub, const char *options)
{
    memset(l, 0, sizeof *l);
    l->r = r;
    l->rt.ops = &posix_ops;
    l->rt.self = r;
    snprintf(l->sub, sizeof l->sub, "%s", sub);
    fl_store_env env = {FL_STORE_ABI_VERSION, &l->rt, sub, "bench", options};
    char err[256] = "";
    int rc = fl_pubstore_file.open(&env, &l->ps, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "open %s: %s\n", options, err);
    return rc;
}

static void store_end(store_loop *l)
{
    fl_pubstore_file.close(l->ps);
    char dir[PATH_CAP + 64];
    snprintf(dir, sizeof dir, "%s/%s", l->r->base, l->sub);
    remove_dir(dir);
}

/* One round of `secs` of stores, acking (discarding) all but the last
 * ACK_WINDOW messages every ACK_WINDOW stores, as a publisher would.
 * out[0] is appends per second of the time spent outside discard_up_to (the
 * store() calls and the loop), out[1] messages per second of all of it:
 * the discards, and with them the prune that deletes dead segments, are
 * timed apart (two clock reads per ACK_WINDOW stores). */
static int store_round(store_loop *l, double secs, double out[2])
{
    uint8_t payload[PAYLOAD];
    uint64_t s0 = l->seq;
    double in_discard = 0;
    double t0 = mono_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            uint64_t seq = ++l->seq;
            memset(payload, (int)(seq & 0xff), sizeof payload);
            fl_pub_msg m = {seq, "orders", 6, payload, sizeof payload};
            int rc = fl_pubstore_file.store(l->ps, &m);
            if (rc != 0) {
                fprintf(stderr, "store: %s: %s\n", fl_err_name(rc),
                        fl_pubstore_file.last_error(l->ps));
                return rc;
            }
            if (seq % ACK_WINDOW == 0 && seq > ACK_WINDOW) {
                double d0 = mono_s();
                rc = fl_pubstore_file.discard_up_to(l->ps, seq - ACK_WINDOW);
                in_discard += mono_s() - d0;
                if (rc != 0) {
                    fprintf(stderr, "discard: %s: %s\n", fl_err_name(rc),
                            fl_pubstore_file.last_error(l->ps));
                    return rc;
                }
            }
            run_due_timers(l->r);
        }
        t = mono_s();
    } while (t - t0 < secs);
    double n = (double)(l->seq - s0);
    out[0] = n / (t - t0 - in_discard);
    out[1] = n / (t - t0);
    return 0;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

/* The best of five rounds of each policy; the machine is shared, so a
 * short round at a quiet moment is the better estimate of what the code
 * costs, and interleaving exposes the raw loop and the store to the same
 * background. out: raw, then for none, batch, always: appends/s outside
 * discards and messages/s with them. */
static int measure(posix_rt *r, double out[7])
{
    static const char *const opts[3] = {"sync=none", "sync=batch;batch_window=1000", "sync=always"};
    static const char *const subs[3] = {"none", "batch", "always"};
    static const double secs[3] = {0.3, 0.3, 0.2};
    char p[PATH_CAP + 16];
    snprintf(p, sizeof p, "%s/raw.log", r->base);
    raw_loop w = {open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644), 0};
    if (w.fd < 0)
        return -1;
    store_loop l[3];
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++)
        rc = store_begin(&l[k], r, subs[k], opts[k]);
    memset(out, 0, 7 * sizeof out[0]);
    for (int round = 0; round < 5 && rc == 0; round++) {
        out[0] = maxd(out[0], raw_round(&w, 0.3));
        for (int k = 0; k < 3 && rc == 0; k++) {
            double v[2];
            rc = store_round(&l[k], secs[k], v);
            out[1 + 2 * k] = maxd(out[1 + 2 * k], rc ? 0 : v[0]);
            out[2 + 2 * k] = maxd(out[2 + 2 * k], rc ? 0 : v[1]);
        }
    }
    for (int k = 0; k < 3; k++)
        if (l[k].ps)
            store_end(&l[k]);
    close(w.fd);
    unlink(p);
    return rc;
}

static void emit(const char *name, double value, const char *target, const char *baseline)
{
    printf("{\"suite\": \"client\", \"name\": \"%s\", \"value\": %.1f, \"unit\": \"appends/s\", "
           "\"target\": %s, \"higher_is_better\": true, \"baseline\": %s}\n",
           name, value, target, baseline);
}

/* With an argument, only one store runs for 3 s (for profiling) and no JSON
 * is printed: "none" is the store under sync=none, anything else is taken
 * as the store's option string (e.g. "sync=none;segment_size=1073741824"). */
int main(int argc, char **argv)
{
    posix_rt r;
    memset(&r, 0, sizeof r);
    r.rng = 0x9e3779b97f4a7c15ull;
    snprintf(r.base, sizeof r.base, "/tmp/faultline-bench-store-XXXXXX");
    if (!mkdtemp(r.base)) {
        perror("mkdtemp");
        return 1;
    }
    if (argc > 1) {
        const char *options = strcmp(argv[1], "none") == 0 ? "sync=none" : argv[1];
        store_loop l;
        double v[2];
        if (store_begin(&l, &r, "none", options) == 0) {
            if (store_round(&l, 3.0, v) == 0)
                fprintf(stderr, "%s: %.0f appends/s outside discards, %.0f msgs/s with them\n",
                        options, v[0], v[1]);
            store_end(&l);
        }
        remove_dir(r.base);
        return 0;
    }
    double v[7];
    int rc = measure(&r, v);
    remove_dir(r.base);
    double raw = v[0];
    if (rc != 0 || raw <= 0)
        return 1;
    for (int i = 1; i < 7; i++)
        if (v[i] <= 0)
            return 1;

    char target[64], base[64];
    snprintf(target, sizeof target, "%.1f", 0.8 * raw);
    snprintf(base, sizeof base, "%.1f", raw);
    emit("pubstore_file_none_appends", v[2], target, base);
    emit("pubstore_file_none_store_calls", v[1], "null", base);
    emit("pubstore_file_batch1ms_appends", v[4], "200000", "null");
    emit("pubstore_file_always_appends", v[6], "null", "null");
    fprintf(stderr, "(none/raw: with acks and prunes %.2f, store() calls alone %.2f)\n", v[2] / raw,
            v[1] / raw);
    return 0;
}
