/* libFuzzer target for the segment recovery scanner (client/record.c).
 *
 * The input is a whole segment file. It is scanned in all four recovery
 * modes, with and without expect_sealed, and the invariants are checked:
 * every yielded record re-validates from the input bytes (CRCs, salt), its
 * payload is the input's bytes, offsets lie inside the file, record numbers
 * strictly increase, the report is consistent, only the documented error
 * codes come back, and the records before the first damage are the same in
 * every mode.
 *
 * Built with -DFL_RECORD_CORPUS_GEN this file is instead a small program that
 * writes the seed corpus: `fuzz_record_gen DIR`.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/error.h"
#include "faultline/record.h"

#define MAX_PAYLOAD 4096u

typedef struct run {
    const uint8_t *data;
    size_t size;
    uint64_t salt;
    size_t n, cap;
    uint64_t *recno;
    uint64_t *offset;
} run;

static int check_record(void *arg, const fl_record *rec)
{
    run *r = arg;
    assert(rec->offset >= FL_SEG_HEADER_SIZE);
    assert(rec->offset <= r->size && r->size - rec->offset >= fl_record_size(rec->len));
    assert(rec->len <= MAX_PAYLOAD);
    assert(rec->type != FL_REC_SEAL && (rec->type & ~FL_REC_SAFE_TO_IGNORE) != 0);
    fl_record again;
    assert(fl_record_decode(r->data + rec->offset, r->size - rec->offset, r->salt, MAX_PAYLOAD,
                            &again) == 0);
    assert(again.recno == rec->recno && again.len == rec->len && again.type == rec->type);
    assert(rec->len == 0 || memcmp(rec->payload, again.payload, rec->len) == 0);
    if (r->n > 0) {
        assert(rec->recno > r->recno[r->n - 1]);
        assert(rec->offset >= r->offset[r->n - 1] + FL_RECORD_HEADER_SIZE);
    }
    assert(r->n < r->cap);
    r->recno[r->n] = rec->recno;
    r->offset[r->n] = rec->offset;
    r->n++;
    return 0;
}

static void check_report(const run *r, const fl_scan_report *rep, fl_recovery_mode mode, int rc)
{
    assert(rep->header_ok);
    assert(rep->records_ok == r->n);
    assert(rep->end_offset >= FL_SEG_HEADER_SIZE && rep->end_offset <= r->size);
    assert(rep->file_size == r->size);
    assert(rep->drops_len <= FL_SCAN_MAX_DROPS && rep->drops_len <= rep->drops_total);
    assert(rep->damaged == (rep->drops_total > 0));
    assert(rep->bytes_dropped <= r->size);
    for (size_t i = 0; i < rep->drops_len; i++) {
        const fl_scan_drop *d = &rep->drops[i];
        assert(d->offset <= r->size && d->length <= r->size - d->offset);
        assert(d->reason >= FL_DROP_TORN_TAIL && d->reason <= FL_DROP_AFTER_SEAL);
    }
    if (r->n > 0) {
        assert(rep->last_recno == r->recno[r->n - 1]);
        assert(rep->end_offset > r->offset[r->n - 1]);
    }
    if (mode == FL_RECOVERY_POINT_IN_TIME || mode == FL_RECOVERY_SALVAGE)
        assert(rc == 0);
    else
        assert(rc == 0 || rc == FL_E_DAMAGED);
    if (mode == FL_RECOVERY_STRICT)
        assert((rc == 0) == !rep->damaged);
    /* A recycled segment's data may end before the file: the rest is stale
     * bytes of an older generation, counted apart, never dropped. */
    assert(rep->stale_bytes <= r->size - rep->end_offset);
    if (rc == 0 && !rep->damaged)
        assert(rep->end_offset + rep->stale_bytes == r->size);
}

static int scan(run *r, fl_recovery_mode mode, int sealed, size_t chunk, fl_scan_report *rep)
{
    fl_seg_mem m = {r->data, r->size};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.mode = mode;
    o.expect_sealed = sealed;
    o.read_chunk = chunk;
    o.max_payload = MAX_PAYLOAD;
    r->n = 0;
    char err[96];
    return fl_seg_scan(fl_seg_mem_read, &m, &o, check_record, r, rep, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fl_recovery_mode modes[] = {FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_STRICT,
                                             FL_RECOVERY_TOLERATE_TORN_TAIL, FL_RECOVERY_SALVAGE};
    fl_seg_header h;
    int hrc = fl_seg_header_decode(data, size, &h);
    size_t cap = size / FL_RECORD_HEADER_SIZE + 1;
    run r = {data, size, hrc == 0 ? h.salt : 0, 0, cap, NULL, NULL};
    uint64_t *pit = malloc(cap * sizeof *pit);
    r.recno = malloc(cap * sizeof *r.recno);
    r.offset = malloc(cap * sizeof *r.offset);
    if (pit == NULL || r.recno == NULL || r.offset == NULL)
        goto out;
    for (int sealed = 0; sealed < 2; sealed++) {
        size_t pit_n = 0;
        for (size_t i = 0; i < 4; i++) {
            fl_scan_report rep;
            int rc = scan(&r, modes[i], sealed, sealed ? 0 : 256, &rep);
            if (hrc != 0) {
                assert(rc == hrc && r.n == 0 && !rep.header_ok);
                continue;
            }
            check_report(&r, &rep, modes[i], rc);
            if (i == 0) {
                pit_n = r.n;
                memcpy(pit, r.recno, r.n * sizeof *pit);
                continue;
            }
            /* every mode agrees up to the first damage */
            size_t common = r.n < pit_n ? r.n : pit_n;
            assert(memcmp(pit, r.recno, common * sizeof *pit) == 0);
            if (modes[i] == FL_RECOVERY_SALVAGE || rc == 0)
                assert(r.n >= pit_n);
        }
    }
out:
    free(pit);
    free(r.recno);
    free(r.offset);
    return 0;
}

#ifdef FL_RECORD_CORPUS_GEN
/* ---- seed corpus generator ---------------------------------------------- */

static size_t put_segment(uint8_t *b, size_t cap, uint64_t salt, int nrec, uint32_t plen,
                          int sealed, int ignorable, uint32_t flags)
{
    fl_seg_header h = {0};
    h.flags = flags;
    h.kind = FL_SEG_KIND_TEST;
    h.segment_id = 3;
    h.salt = salt;
    h.prev_segment_id = 2;
    h.prev_last_recno = 40;
    h.first_recno = 41;
    if (fl_seg_header_encode(&h, b, cap) != 0)
        return 0;
    size_t len = FL_SEG_HEADER_SIZE;
    uint8_t p[512];
    for (int i = 0; i < nrec; i++) {
        uint32_t n = plen + (uint32_t)i % 7;
        for (uint32_t j = 0; j < n; j++)
            p[j] = (uint8_t)(i + j);
        unsigned type = FL_REC_TYPE_USER_MIN + (unsigned)(i % 3);
        if (ignorable && i == 1)
            type = 0x7000 | FL_REC_SAFE_TO_IGNORE;
        if (fl_record_encode(b + len, cap - len, salt, 41 + (uint64_t)i, type, p, n) != 0)
            return 0;
        len += fl_record_size(n);
    }
    if (sealed) {
        if (fl_record_encode_seal(b + len, cap - len, salt, 41, 40 + (uint64_t)nrec) != 0)
            return 0;
        len += FL_SEAL_RECORD_SIZE;
    }
    return len;
}

static int write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(b, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static uint8_t b[8192];
    struct {
        const char *name;
        uint64_t salt;
        int nrec;
        uint32_t plen;
        int sealed, ignorable;
        size_t cut;   /* bytes to drop from the end */
        int recycled; /* written over an older, longer generation */
    } seeds[] = {
        {"unsealed-8", 0x1122334455667788ull, 8, 10, 0, 0, 0, 0},
        {"sealed-5", 0x0badc0ffee0ddf00ull, 5, 30, 1, 0, 0, 0},
        {"sealed-empty", 0x0123456789abcdefull, 0, 0, 1, 0, 0, 0},
        {"ignorable", 0xfeedfacecafebeefull, 4, 100, 0, 1, 0, 0},
        {"torn-tail", 0x5555aaaa5555aaaaull, 6, 20, 0, 0, 13, 0},
        {"header-only", 0x7777777777777777ull, 0, 0, 0, 0, 0, 0},
        {"recycled-stale-tail", 0x3141592653589793ull, 3, 25, 0, 0, 0, 1},
        {"recycled-sealed", 0x2718281828459045ull, 2, 40, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        size_t old = 0;
        if (seeds[i].recycled) /* the older generation: more records, another salt */
            old = put_segment(b, sizeof b, ~seeds[i].salt, 12, 30, 0, 0, 0);
        size_t n =
            put_segment(b, sizeof b, seeds[i].salt, seeds[i].nrec, seeds[i].plen, seeds[i].sealed,
                        seeds[i].ignorable, seeds[i].recycled ? FL_SEG_FLAG_RECYCLED : 0);
        if (n < old)
            n = old;
        if (n == 0 || write_file(argv[1], seeds[i].name, b, n - seeds[i].cut) != 0) {
            fprintf(stderr, "cannot write %s\n", seeds[i].name);
            return 1;
        }
    }
    return 0;
}
#endif
