/* Unit tests for the segment record format and its recovery scanner
 * (client/record.c): codec round trips and error tables, then a small
 * in-memory segment truncated at every byte and bit-flipped at every bit,
 * scanned in all four recovery modes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "faultline/buf.h"
#include "faultline/crc32c.h"
#include "faultline/error.h"
#include "faultline/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NREC     8
#define SALT     0x5eed5a1700c0ffeeull
#define FIRST    100u
#define SEGCAP   4096
#define MAXYIELD 64
#define TUSER    (FL_REC_TYPE_USER_MIN + 1)

static const fl_recovery_mode all_modes[] = {FL_RECOVERY_STRICT, FL_RECOVERY_TOLERATE_TORN_TAIL,
                                             FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_SALVAGE};

/* An in-memory segment: header, NREC records, optional seal. */
typedef struct seg {
    uint8_t data[SEGCAP];
    size_t len;
    size_t off[NREC + 1]; /* off[i] = start of record i; off[NREC] = seal or end */
    uint8_t payload[NREC][128];
    uint32_t plen[NREC];
    int sealed;
} seg;

/* What a scan yielded. */
typedef struct yield {
    size_t n;
    uint64_t recno[MAXYIELD];
    uint64_t offset[MAXYIELD];
    int bad; /* a yielded record did not match the original */
    const seg *orig;
} yield;

static const uint32_t lens[NREC] = {0, 1, 5, 17, 100, 3, 64, 9};

static fl_seg_header make_header(uint64_t salt)
{
    fl_seg_header h = {0};
    h.kind = FL_SEG_KIND_TEST;
    h.segment_id = 7;
    h.salt = salt;
    h.prev_segment_id = 6;
    h.prev_last_recno = FIRST - 1;
    h.first_recno = FIRST;
    return h;
}

static void build(seg *s, int sealed)
{
    memset(s, 0, sizeof *s);
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, s->data, SEGCAP), 0);
    s->len = FL_SEG_HEADER_SIZE;
    for (int i = 0; i < NREC; i++) {
        s->plen[i] = lens[i];
        for (uint32_t j = 0; j < lens[i]; j++)
            s->payload[i][j] = (uint8_t)(i * 31 + j * 7 + 1);
        s->off[i] = s->len;
        assert_int_equal(fl_record_encode(s->data + s->len, SEGCAP - s->len, SALT, FIRST + i, TUSER,
                                          s->payload[i], lens[i]),
                         0);
        s->len += fl_record_size(lens[i]);
    }
    s->off[NREC] = s->len;
    s->sealed = sealed;
    if (sealed) {
        assert_int_equal(
            fl_record_encode_seal(s->data + s->len, SEGCAP - s->len, SALT, FIRST, FIRST + NREC - 1),
            0);
        s->len += FL_SEAL_RECORD_SIZE;
    }
}

static int collect(void *arg, const fl_record *rec)
{
    yield *y = arg;
    const seg *o = y->orig;
    if (y->n >= MAXYIELD)
        return -1000;
    y->recno[y->n] = rec->recno;
    y->offset[y->n] = rec->offset;
    y->n++;
    uint64_t i = rec->recno - FIRST;
    if (o == NULL)
        return 0;
    if (i >= NREC || o->off[i] != rec->offset || o->plen[i] != rec->len || rec->type != TUSER ||
        memcmp(o->payload[i], rec->payload, rec->len) != 0)
        y->bad = 1;
    return 0;
}

static int scan_mem(const uint8_t *data, size_t len, fl_recovery_mode mode, int expect_sealed,
                    size_t chunk, const seg *orig, yield *y, fl_scan_report *rep)
{
    fl_seg_mem m = {data, len};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.mode = mode;
    o.expect_sealed = expect_sealed;
    o.read_chunk = chunk;
    o.max_payload = 4096;
    memset(y, 0, sizeof *y);
    y->orig = orig;
    char err[128];
    return fl_seg_scan(fl_seg_mem_read, &m, &o, collect, y, rep, err, sizeof err);
}

static int has_reason(const fl_scan_report *r, int reason)
{
    for (size_t i = 0; i < r->drops_len; i++)
        if (r->drops[i].reason == reason)
            return 1;
    return 0;
}

/* Records 0..k-1 and nothing else, in order. */
static void assert_prefix(const yield *y, size_t k)
{
    assert_false(y->bad);
    assert_int_equal(y->n, k);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(y->recno[i], FIRST + i);
}

static int fixture_setup(void **state)
{
    seg *s = malloc(2 * sizeof *s);
    if (s == NULL)
        return -1;
    build(&s[0], 0);
    build(&s[1], 1);
    *state = s;
    return 0;
}

static int fixture_teardown(void **state)
{
    free(*state);
    return 0;
}

/* ---- codec ------------------------------------------------------------- */

static void test_seg_header_roundtrip(void **state)
{
    (void)state;
    uint8_t b[FL_SEG_HEADER_SIZE];
    fl_seg_header h = make_header(SALT), d;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    assert_memory_equal(b, FL_SEG_MAGIC, FL_SEG_MAGIC_LEN);
    assert_int_equal(fl_load_be64(b + 24), SALT); /* big-endian on disk */
    assert_int_equal(fl_seg_header_decode(b, sizeof b, &d), 0);
    assert_int_equal(d.version, FL_SEG_VERSION);
    assert_int_equal(d.kind, h.kind);
    assert_int_equal(d.segment_id, h.segment_id);
    assert_int_equal(d.salt, h.salt);
    assert_int_equal(d.prev_segment_id, h.prev_segment_id);
    assert_int_equal(d.prev_last_recno, h.prev_last_recno);
    assert_int_equal(d.first_recno, h.first_recno);
}

static void recrc(uint8_t *b)
{
    fl_store_be32(b + 60, fl_crc32c_mask(fl_crc32c(0, b, 60)));
}

static void test_seg_header_decode_errors(void **state)
{
    (void)state;
    struct {
        size_t at;    /* byte to change */
        uint8_t xor ; /* 0: no change */
        int fix_crc;  /* recompute the CRC after the change */
        size_t len;   /* bytes handed to decode */
        int want;
    } cases[] = {
        {0, 0, 0, FL_SEG_HEADER_SIZE, 0},
        {0, 0, 0, FL_SEG_HEADER_SIZE - 1, FL_E_TRUNCATED},
        {0, 0, 0, 0, FL_E_TRUNCATED},
        {0, 0x01, 0, FL_SEG_HEADER_SIZE, FL_E_BAD_MAGIC},
        {7, 0x01, 1, FL_SEG_HEADER_SIZE, FL_E_BAD_MAGIC},
        {9, 0x02, 1, FL_SEG_HEADER_SIZE, FL_E_BAD_VERSION},
        {9, 0x02, 0, FL_SEG_HEADER_SIZE, FL_E_BAD_VERSION},
        {30, 0x10, 0, FL_SEG_HEADER_SIZE, FL_E_CHECKSUM},
        {61, 0x10, 0, FL_SEG_HEADER_SIZE, FL_E_CHECKSUM},
        {13, 0x01, 1, FL_SEG_HEADER_SIZE, FL_E_CORRUPT}, /* reserved */
        {57, 0x01, 1, FL_SEG_HEADER_SIZE, FL_E_CORRUPT}, /* reserved */
        {11, 0xff, 1, FL_SEG_HEADER_SIZE, 0},            /* another kind is fine */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[FL_SEG_HEADER_SIZE];
        fl_seg_header h = make_header(SALT), d;
        assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
        b[cases[i].at] ^= cases[i].xor ;
        if (cases[i].fix_crc)
            recrc(b);
        assert_int_equal(fl_seg_header_decode(b, cases[i].len, &d), cases[i].want);
    }
    /* kind 0, segment id 0, first_recno 0 with a valid CRC */
    size_t zero_at[] = {10, 16, 48};
    size_t zero_len[] = {2, 8, 8};
    for (size_t i = 0; i < 3; i++) {
        uint8_t b[FL_SEG_HEADER_SIZE];
        fl_seg_header h = make_header(SALT), d;
        assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
        memset(b + zero_at[i], 0, zero_len[i]);
        recrc(b);
        assert_int_equal(fl_seg_header_decode(b, sizeof b, &d), FL_E_CORRUPT);
    }
}

static void test_seg_header_encode_invalid(void **state)
{
    (void)state;
    uint8_t b[FL_SEG_HEADER_SIZE];
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b - 1), FL_E_INVAL);
    assert_int_equal(fl_seg_header_encode(NULL, b, sizeof b), FL_E_INVAL);
    h.kind = 0;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), FL_E_INVAL);
    h = make_header(SALT);
    h.segment_id = 0;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), FL_E_INVAL);
    h = make_header(SALT);
    h.first_recno = 0;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), FL_E_INVAL);
}

static void test_chain_check(void **state)
{
    (void)state;
    fl_seg_header a = make_header(1), b = make_header(2);
    b.segment_id = a.segment_id + 1;
    b.prev_segment_id = a.segment_id;
    b.prev_last_recno = FIRST + 9;
    b.first_recno = FIRST + 10;
    char err[160];
    assert_int_equal(fl_seg_chain_check(&a, FIRST + 9, &b, err, sizeof err), 0);
    assert_int_equal(fl_seg_chain_check(&a, FIRST + 8, &b, err, sizeof err), FL_E_CORRUPT);
    assert_non_null(strstr(err, "last record number"));
    b.prev_segment_id = 99;
    assert_int_equal(fl_seg_chain_check(&a, FIRST + 9, &b, NULL, 0), FL_E_CORRUPT);
    b.prev_segment_id = a.segment_id;
    b.first_recno = FIRST + 11;
    assert_int_equal(fl_seg_chain_check(&a, FIRST + 9, &b, NULL, 0), FL_E_CORRUPT);
    b.first_recno = FIRST + 10;
    b.kind = FL_SEG_KIND_JOURNAL;
    assert_int_equal(fl_seg_chain_check(&a, FIRST + 9, &b, NULL, 0), FL_E_CORRUPT);
}

static void test_record_roundtrip(void **state)
{
    (void)state;
    uint8_t b[256];
    const char *p = "hello, segment";
    uint32_t n = (uint32_t)strlen(p);
    unsigned types[] = {TUSER, FL_REC_TYPE_USER_MIN | FL_REC_SAFE_TO_IGNORE, 0x7fff, 0xffff};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(fl_record_encode(b, sizeof b, SALT, 42, types[i], p, n), 0);
        fl_record r;
        assert_int_equal(fl_record_decode(b, fl_record_size(n), SALT, 0, &r), 0);
        assert_int_equal(r.recno, 42);
        assert_int_equal(r.type, types[i]);
        assert_int_equal(r.len, n);
        assert_memory_equal(r.payload, p, n);
    }
    assert_int_equal(fl_record_size(0), FL_RECORD_HEADER_SIZE);
    assert_int_equal(fl_record_encode(b, FL_RECORD_HEADER_SIZE, SALT, 1, TUSER, NULL, 0), 0);
    fl_record r;
    assert_int_equal(fl_record_decode(b, FL_RECORD_HEADER_SIZE, SALT, 0, &r), 0);
    assert_int_equal(r.len, 0);
}

static void test_record_encode_invalid(void **state)
{
    (void)state;
    uint8_t b[64];
    struct {
        size_t cap;
        uint64_t recno;
        unsigned type;
        const void *p;
        uint32_t len;
        int want;
    } cases[] = {
        {sizeof b, 1, TUSER, "x", 1, 0},
        {FL_RECORD_HEADER_SIZE, 1, TUSER, "x", 1, FL_E_INVAL}, /* cap */
        {sizeof b, 1, 0, "x", 1, FL_E_INVAL},                  /* type 0 */
        {sizeof b, 1, FL_REC_SAFE_TO_IGNORE, "x", 1, FL_E_INVAL},
        {sizeof b, 1, 0x10000, "x", 1, FL_E_INVAL},
        {sizeof b, 0, TUSER, "x", 1, FL_E_INVAL},
        {sizeof b, UINT64_MAX, TUSER, "x", 1, FL_E_INVAL},
        {sizeof b, 1, TUSER, NULL, 1, FL_E_INVAL},
        {sizeof b, 1, TUSER, "x", FL_RECORD_MAX_PAYLOAD + 1, FL_E_FRAME_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(fl_record_encode(b, cases[i].cap, SALT, cases[i].recno, cases[i].type,
                                          cases[i].p, cases[i].len),
                         cases[i].want);
    assert_int_equal(fl_record_encode_seal(b, FL_SEAL_RECORD_SIZE - 1, SALT, 1, 1), FL_E_INVAL);
    assert_int_equal(fl_record_encode_seal(b, sizeof b, SALT, 0, 1), FL_E_INVAL);
    assert_int_equal(fl_record_encode_seal(b, sizeof b, SALT, 5, 3), FL_E_INVAL);
    assert_int_equal(fl_record_encode_seal(b, sizeof b, SALT, 5, 4), 0); /* empty */
}

static void test_record_decode_errors(void **state)
{
    (void)state;
    uint8_t b[64];
    assert_int_equal(fl_record_encode(b, sizeof b, SALT, 9, TUSER, "abcd", 4), 0);
    size_t n = fl_record_size(4);
    fl_record r;
    assert_int_equal(fl_record_decode(b, n - 1, SALT, 0, &r), FL_E_TRUNCATED);
    assert_int_equal(fl_record_decode(b, FL_RECORD_HEADER_SIZE - 1, SALT, 0, &r), FL_E_TRUNCATED);
    assert_int_equal(fl_record_decode(b, n, SALT + 1, 0, &r), FL_E_CORRUPT);
    assert_int_equal(fl_record_decode(b, n, SALT, 3, &r), FL_E_FRAME_TOO_LARGE);
    b[n - 1] ^= 1; /* payload */
    assert_int_equal(fl_record_decode(b, n, SALT, 0, &r), FL_E_CHECKSUM);
    b[n - 1] ^= 1;
    b[9] ^= 0x80; /* length: caught by the header CRC */
    assert_int_equal(fl_record_decode(b, n, SALT, 0, &r), FL_E_CHECKSUM);
    memset(b, 0, sizeof b);
    assert_int_equal(fl_record_decode(b, n, SALT, 0, &r), FL_E_CHECKSUM);
}

static void test_mode_names(void **state)
{
    (void)state;
    struct {
        const char *s;
        int rc;
        fl_recovery_mode m;
    } cases[] = {
        {"strict", 0, FL_RECOVERY_STRICT},
        {"tolerate_torn_tail", 0, FL_RECOVERY_TOLERATE_TORN_TAIL},
        {"point_in_time", 0, FL_RECOVERY_POINT_IN_TIME},
        {"salvage", 0, FL_RECOVERY_SALVAGE},
        {"", FL_E_INVAL, 0},
        {"Strict", FL_E_INVAL, 0},
        {"salvage ", FL_E_INVAL, 0},
        {"truncate_tail", FL_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fl_recovery_mode m = (fl_recovery_mode)99;
        assert_int_equal(fl_recovery_mode_parse(cases[i].s, &m), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(m, cases[i].m);
            assert_string_equal(fl_recovery_mode_name(m), cases[i].s);
        } else {
            assert_int_equal(m, 99);
        }
    }
    assert_int_equal(fl_recovery_mode_parse(NULL, NULL), FL_E_INVAL);
    assert_string_equal(fl_recovery_mode_name((fl_recovery_mode)42), "unknown");
    assert_string_equal(fl_drop_reason_name(FL_DROP_STALE_SALT), "stale_salt");
    assert_string_equal(fl_drop_reason_name(FL_DROP_AFTER_SEAL), "after_seal");
    assert_string_equal(fl_drop_reason_name(0), "unknown");
    assert_string_equal(fl_drop_reason_name(999), "unknown");
}

/* ---- scanner ----------------------------------------------------------- */

static void test_scan_clean(void **state)
{
    seg *s = *state;
    for (int sealed = 0; sealed < 2; sealed++) {
        for (size_t m = 0; m < 4; m++) {
            yield y;
            fl_scan_report rep;
            int rc = scan_mem(s[sealed].data, s[sealed].len, all_modes[m], sealed, 0, &s[sealed],
                              &y, &rep);
            assert_int_equal(rc, 0);
            assert_prefix(&y, NREC);
            assert_true(rep.header_ok);
            assert_int_equal(rep.header.salt, SALT);
            assert_int_equal(rep.records_ok, NREC);
            assert_int_equal(rep.last_recno, FIRST + NREC - 1);
            assert_int_equal(rep.next_recno, FIRST + NREC);
            assert_int_equal(rep.end_offset, s[sealed].len);
            assert_int_equal(rep.file_size, s[sealed].len);
            assert_int_equal(rep.sealed, sealed);
            assert_false(rep.damaged);
            assert_int_equal(rep.drops_total, 0);
        }
    }
}

static void test_scan_empty_segments(void **state)
{
    (void)state;
    uint8_t b[FL_SEG_HEADER_SIZE + FL_SEAL_RECORD_SIZE];
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    yield y;
    fl_scan_report rep;
    assert_int_equal(scan_mem(b, FL_SEG_HEADER_SIZE, FL_RECOVERY_STRICT, 0, 0, NULL, &y, &rep), 0);
    assert_int_equal(y.n, 0);
    assert_int_equal(rep.next_recno, FIRST);
    assert_int_equal(rep.last_recno, FIRST - 1);
    assert_int_equal(rep.end_offset, FL_SEG_HEADER_SIZE);
    assert_int_equal(
        fl_record_encode_seal(b + FL_SEG_HEADER_SIZE, FL_SEAL_RECORD_SIZE, SALT, FIRST, FIRST - 1),
        0);
    assert_int_equal(scan_mem(b, sizeof b, FL_RECOVERY_STRICT, 1, 0, NULL, &y, &rep), 0);
    assert_true(rep.sealed);
    assert_int_equal(rep.end_offset, sizeof b);
    /* too short for a header: every mode refuses, the caller decides */
    for (size_t m = 0; m < 4; m++)
        assert_int_equal(scan_mem(b, 10, all_modes[m], 0, 0, NULL, &y, &rep), FL_E_TRUNCATED);
}

/* Records wholly before `cut`. */
static size_t full_before(const seg *s, size_t cut)
{
    size_t k = 0;
    while (k < NREC && s->off[k] + fl_record_size(s->plen[k]) <= cut)
        k++;
    return k;
}

static int at_boundary(const seg *s, size_t cut)
{
    for (size_t i = 0; i <= NREC; i++)
        if (s->off[i] == cut)
            return 1;
    return cut == s->len;
}

static void check_truncation(const seg *s, size_t cut, fl_recovery_mode mode, size_t chunk)
{
    yield y;
    fl_scan_report rep;
    int rc = scan_mem(s->data, cut, mode, s->sealed, chunk, s, &y, &rep);
    if (cut < FL_SEG_HEADER_SIZE) {
        assert_int_equal(rc, FL_E_TRUNCATED);
        assert_int_equal(y.n, 0);
        return;
    }
    size_t k = full_before(s, cut);
    int complete = cut == s->len;
    int torn = !at_boundary(s, cut);
    assert_false(y.bad);
    assert_true(y.n <= k);
    if (complete) {
        assert_int_equal(rc, 0);
        assert_prefix(&y, NREC);
        assert_false(rep.damaged);
        return;
    }
    if (!torn && !s->sealed) { /* indistinguishable from a shorter segment */
        assert_int_equal(rc, 0);
        assert_prefix(&y, k);
        assert_false(rep.damaged);
        return;
    }
    /* a damaged segment: something is reported */
    assert_true(rep.damaged);
    if (torn)
        assert_true(has_reason(&rep, FL_DROP_TORN_TAIL) || has_reason(&rep, FL_DROP_ZEROED));
    if (s->sealed)
        assert_true(has_reason(&rep, FL_DROP_MISSING_SEAL));
    if (mode == FL_RECOVERY_STRICT || (mode == FL_RECOVERY_TOLERATE_TORN_TAIL && s->sealed)) {
        assert_int_equal(rc, FL_E_DAMAGED);
        return;
    }
    assert_int_equal(rc, 0);
    assert_prefix(&y, k);
    uint64_t good_end = k < NREC ? s->off[k] : s->off[NREC];
    assert_int_equal(rep.end_offset, good_end);
    assert_int_equal(rep.next_recno, FIRST + k);
    if (torn) {
        assert_int_equal(rep.drops[0].offset, good_end);
        assert_int_equal(rep.drops[0].length, cut - good_end);
        assert_int_equal(rep.bytes_dropped, cut - good_end);
    }
}

static void test_truncate_every_byte_unsealed(void **state)
{
    seg *s = &((seg *)*state)[0];
    for (size_t cut = 0; cut <= s->len; cut++) {
        for (size_t m = 0; m < 4; m++)
            check_truncation(s, cut, all_modes[m], cut % 2 ? 256 : 0);
        /* unsealed and cut at a record boundary: nothing to detect */
        if (cut >= FL_SEG_HEADER_SIZE && at_boundary(s, cut)) {
            yield y;
            fl_scan_report rep;
            assert_int_equal(scan_mem(s->data, cut, FL_RECOVERY_STRICT, 0, 0, s, &y, &rep), 0);
            assert_false(rep.damaged);
        }
    }
}

static void test_truncate_every_byte_sealed(void **state)
{
    seg *s = &((seg *)*state)[1];
    for (size_t cut = 0; cut <= s->len; cut++)
        for (size_t m = 0; m < 4; m++)
            check_truncation(s, cut, all_modes[m], cut % 2 ? 256 : 0);
}

static void test_boundary_cut_sealed_vs_unsealed(void **state)
{
    seg *s = &((seg *)*state)[1];
    size_t cut = s->off[5]; /* exactly after record 4: the seal is gone */
    yield y;
    fl_scan_report rep;
    /* known to be sealed: the missing seal is damage */
    assert_int_equal(scan_mem(s->data, cut, FL_RECOVERY_STRICT, 1, 0, s, &y, &rep), FL_E_DAMAGED);
    assert_true(has_reason(&rep, FL_DROP_MISSING_SEAL));
    assert_int_equal(rep.drops[0].offset, cut);
    assert_int_equal(rep.drops[0].first_recno, FIRST + 5);
    assert_int_equal(scan_mem(s->data, cut, FL_RECOVERY_POINT_IN_TIME, 1, 0, s, &y, &rep), 0);
    assert_prefix(&y, 5);
    assert_true(rep.damaged);
    assert_false(rep.sealed);
    /* not known to be sealed (the newest segment): indistinguishable from a
     * segment that simply ended there */
    assert_int_equal(scan_mem(s->data, cut, FL_RECOVERY_STRICT, 0, 0, s, &y, &rep), 0);
    assert_prefix(&y, 5);
    assert_false(rep.damaged);
}

static size_t record_of(const seg *s, size_t byte)
{
    for (size_t i = 0; i < NREC; i++)
        if (byte >= s->off[i] && byte < s->off[i] + fl_record_size(s->plen[i]))
            return i;
    return NREC; /* the seal */
}

static void check_flip(const seg *s, uint8_t *b, size_t byte, fl_recovery_mode mode)
{
    yield y;
    fl_scan_report rep;
    int rc = scan_mem(b, s->len, mode, s->sealed, 256, s, &y, &rep);
    assert_false(y.bad);
    if (byte < FL_SEG_HEADER_SIZE) {
        assert_true(rc == FL_E_CHECKSUM || rc == FL_E_BAD_MAGIC || rc == FL_E_BAD_VERSION);
        assert_int_equal(y.n, 0);
        return;
    }
    size_t k = record_of(s, byte);
    assert_true(rep.damaged);
    if (mode == FL_RECOVERY_STRICT || mode == FL_RECOVERY_TOLERATE_TORN_TAIL) {
        assert_int_equal(rc, FL_E_DAMAGED);
        assert_true(y.n <= k);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(rep.drops[0].offset, s->off[k]);
    if (k == NREC) { /* the seal: all data records, but not sealed */
        assert_prefix(&y, NREC);
        assert_false(rep.sealed);
        assert_true(has_reason(&rep, FL_DROP_MISSING_SEAL));
        return;
    }
    if (mode == FL_RECOVERY_POINT_IN_TIME) {
        assert_prefix(&y, k);
        assert_int_equal(rep.drops[0].length, s->len - s->off[k]);
        return;
    }
    /* salvage: everything but record k */
    assert_int_equal(y.n, NREC - 1);
    for (size_t i = 0, j = 0; i < NREC; i++)
        if (i != k)
            assert_int_equal(y.recno[j++], FIRST + i);
    assert_int_equal(rep.drops[0].first_recno, FIRST + k);
    if (s->sealed || k + 1 < NREC) {
        assert_int_equal(rep.drops[0].length, fl_record_size(s->plen[k]));
        assert_int_equal(rep.drops[0].last_recno, FIRST + k);
        assert_int_equal(rep.sealed, s->sealed);
    }
}

static void flip_every_bit(const seg *s)
{
    uint8_t *b = malloc(s->len);
    assert_non_null(b);
    for (size_t byte = 0; byte < s->len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, s->data, s->len);
            b[byte] ^= (uint8_t)(1u << bit);
            for (size_t m = 0; m < 4; m++)
                check_flip(s, b, byte, all_modes[m]);
        }
    }
    free(b);
}

static void test_flip_every_bit_unsealed(void **state)
{
    flip_every_bit(&((seg *)*state)[0]);
}

static void test_flip_every_bit_sealed(void **state)
{
    flip_every_bit(&((seg *)*state)[1]);
}

/* A new segment written over a reused file: the old segment's records
 * (other salt, even with the "right" record numbers) must never validate. */
static void test_stale_salt(void **state)
{
    seg *s = &((seg *)*state)[0];
    uint8_t b[SEGCAP];
    memcpy(b, s->data, s->len);
    size_t len = s->off[3];
    /* after record 2, the old segment's tail: records 3.. with another salt */
    for (int i = 3; i < NREC; i++) {
        assert_int_equal(fl_record_encode(b + len, sizeof b - len, SALT ^ 1, FIRST + i, TUSER,
                                          s->payload[i], s->plen[i]),
                         0);
        len += fl_record_size(s->plen[i]);
    }
    yield y;
    fl_scan_report rep;
    for (size_t m = 0; m < 4; m++) {
        int rc = scan_mem(b, len, all_modes[m], 0, 0, s, &y, &rep);
        assert_prefix(&y, 3);
        assert_int_equal(rep.drops[0].reason, FL_DROP_STALE_SALT);
        assert_int_equal(rep.drops[0].offset, s->off[3]);
        assert_int_equal(rep.drops[0].length, len - s->off[3]);
        assert_int_equal(rep.end_offset, s->off[3]);
        if (all_modes[m] == FL_RECOVERY_STRICT || all_modes[m] == FL_RECOVERY_TOLERATE_TORN_TAIL)
            assert_int_equal(rc, FL_E_DAMAGED);
        else
            assert_int_equal(rc, 0);
    }
}

/* A read callback that remembers the largest request. */
typedef struct spy {
    fl_seg_mem m;
    size_t max_ask;
    uint64_t fail_at; /* fail reads at or past this offset (0: never) */
} spy;

static int spy_read(void *arg, uint64_t off, void *buf, size_t len, size_t *nread)
{
    spy *p = arg;
    if (len > p->max_ask)
        p->max_ask = len;
    if (p->fail_at != 0 && off + len > p->fail_at)
        return FL_E_IO;
    return fl_seg_mem_read(&p->m, off, buf, len, nread);
}

static void test_huge_length_no_allocation(void **state)
{
    seg *s = &((seg *)*state)[0];
    uint8_t b[SEGCAP];
    memcpy(b, s->data, s->len);
    uint8_t *r = b + s->off[2];
    fl_store_be32(r + 8, 0xfffffff0u); /* length */
    fl_store_be32(r + 4, fl_crc32c_mask(fl_crc32c(0, r + 8, 24)));
    for (int fixed = 0; fixed < 2; fixed++) {
        if (!fixed)
            r[4] ^= 0xff; /* header CRC broken too: the length is never trusted */
        spy p = {{b, s->len}, 0, 0};
        fl_scan_opts o = FL_SCAN_OPTS_INIT;
        o.read_chunk = 512;
        o.max_payload = 1024;
        fl_scan_report rep;
        yield y = {0};
        y.orig = s;
        assert_int_equal(fl_seg_scan(spy_read, &p, &o, collect, &y, &rep, NULL, 0), 0);
        assert_prefix(&y, 2);
        assert_int_equal(rep.drops[0].reason, fixed ? FL_DROP_BAD_LENGTH : FL_DROP_CHECKSUM);
        assert_true(p.max_ask <= 512);
        o.mode = FL_RECOVERY_SALVAGE;
        memset(&y, 0, sizeof y);
        y.orig = s;
        p.max_ask = 0;
        assert_int_equal(fl_seg_scan(spy_read, &p, &o, collect, &y, &rep, NULL, 0), 0);
        assert_false(y.bad);
        assert_int_equal(y.n, NREC - 1);
        assert_true(p.max_ask <= 512);
        if (!fixed)
            r[4] ^= 0xff;
    }
}

static void test_read_error_and_callback_stop(void **state)
{
    seg *s = &((seg *)*state)[0];
    spy p = {{s->data, s->len}, 0, s->off[4]};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.read_chunk = 256;
    fl_scan_report rep;
    yield y = {0};
    assert_int_equal(fl_seg_scan(spy_read, &p, &o, collect, &y, &rep, NULL, 0), FL_E_IO);
    assert_int_equal(fl_seg_scan(spy_read, &p, NULL, NULL, NULL, &rep, NULL, 0), FL_E_IO);
    assert_int_equal(fl_seg_scan(NULL, &p, &o, NULL, NULL, &rep, NULL, 0), FL_E_INVAL);
    o.mode = (fl_recovery_mode)17;
    assert_int_equal(fl_seg_scan(spy_read, &p, &o, NULL, NULL, &rep, NULL, 0), FL_E_INVAL);
}

static int stop_at_third(void *arg, const fl_record *rec)
{
    int *n = arg;
    return ++*n == 3 ? 77 : 0;
}

static void test_callback_stops_scan(void **state)
{
    seg *s = &((seg *)*state)[0];
    fl_seg_mem m = {s->data, s->len};
    fl_scan_report rep;
    int n = 0;
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, NULL, stop_at_third, &n, &rep, NULL, 0), 77);
    assert_int_equal(n, 3);
}

static int only_tuser(void *arg, unsigned type)
{
    return type == TUSER;
}

static void test_types(void **state)
{
    (void)state;
    uint8_t b[SEGCAP];
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    size_t len = FL_SEG_HEADER_SIZE;
    unsigned types[] = {TUSER, TUSER + 1 + FL_REC_SAFE_TO_IGNORE, TUSER, TUSER + 2, TUSER};
    size_t bad_at = 0;
    for (size_t i = 0; i < 5; i++) {
        if (i == 3)
            bad_at = len;
        assert_int_equal(
            fl_record_encode(b + len, sizeof b - len, SALT, FIRST + i, types[i], "t", 1), 0);
        len += fl_record_size(1);
    }
    fl_seg_mem m = {b, len};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.known_type = only_tuser;
    fl_scan_report rep;
    yield y;
    memset(&y, 0, sizeof y);
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, collect, &y, &rep, NULL, 0), 0);
    /* the SAFE_TO_IGNORE unknown is skipped, the other unknown is damage */
    assert_int_equal(y.n, 2);
    assert_int_equal(y.recno[0], FIRST);
    assert_int_equal(y.recno[1], FIRST + 2);
    assert_int_equal(rep.records_ignored, 1);
    assert_int_equal(rep.drops[0].reason, FL_DROP_BAD_TYPE);
    assert_int_equal(rep.drops[0].offset, bad_at);
    o.mode = FL_RECOVERY_SALVAGE;
    memset(&y, 0, sizeof y);
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, collect, &y, &rep, NULL, 0), 0);
    assert_int_equal(y.n, 3);
    assert_int_equal(y.recno[2], FIRST + 4);
    assert_int_equal(rep.drops[0].length, fl_record_size(1));
    /* without a known_type callback every user type is understood, but the
     * format-reserved types are not */
    o.known_type = NULL;
    memset(&y, 0, sizeof y);
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, collect, &y, &rep, NULL, 0), 0);
    assert_int_equal(y.n, 5);
    fl_store_be16(b + bad_at + 12, 2); /* a reserved format type */
    fl_store_be32(b + bad_at + 4, fl_crc32c_mask(fl_crc32c(0, b + bad_at + 8, 24)));
    fl_store_be32(b + bad_at, fl_crc32c_mask(fl_crc32c(0, b + bad_at + 4, 29)));
    memset(&y, 0, sizeof y);
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, collect, &y, &rep, NULL, 0), 0);
    assert_int_equal(y.n, 4);
    assert_int_equal(rep.drops[0].reason, FL_DROP_BAD_TYPE);
}

static void test_zeroed(void **state)
{
    seg *s = &((seg *)*state)[0];
    uint8_t b[SEGCAP];
    memset(b, 0, sizeof b);
    memcpy(b, s->data, s->len);
    size_t len = s->len + 1000; /* preallocated, never written */
    yield y;
    fl_scan_report rep;
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_TOLERATE_TORN_TAIL, 0, 256, s, &y, &rep), 0);
    assert_prefix(&y, NREC);
    assert_int_equal(rep.drops[0].reason, FL_DROP_ZEROED);
    assert_int_equal(rep.drops[0].length, 1000);
    assert_int_equal(rep.end_offset, s->len);
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_STRICT, 0, 256, s, &y, &rep), FL_E_DAMAGED);
    /* a zeroed record in the middle is not a tail */
    memset(b + s->off[4], 0, fl_record_size(s->plen[4]));
    assert_int_equal(scan_mem(b, s->len, FL_RECOVERY_TOLERATE_TORN_TAIL, 0, 256, s, &y, &rep),
                     FL_E_DAMAGED);
    assert_int_equal(scan_mem(b, s->len, FL_RECOVERY_SALVAGE, 0, 256, s, &y, &rep), 0);
    assert_false(y.bad);
    assert_int_equal(y.n, NREC - 1);
    assert_int_equal(rep.drops[0].reason, FL_DROP_ZEROED);
    assert_int_equal(rep.drops[0].first_recno, FIRST + 4);
    assert_int_equal(rep.drops[0].last_recno, FIRST + 4);
}

static void test_recno_gap(void **state)
{
    (void)state;
    uint8_t b[SEGCAP];
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    size_t len = FL_SEG_HEADER_SIZE, gap_at = 0;
    uint64_t recnos[] = {FIRST, FIRST + 1, FIRST + 4, FIRST + 5, FIRST + 3};
    for (size_t i = 0; i < 5; i++) {
        if (i == 2)
            gap_at = len;
        assert_int_equal(fl_record_encode(b + len, sizeof b - len, SALT, recnos[i], TUSER, "g", 1),
                         0);
        len += fl_record_size(1);
    }
    yield y;
    fl_scan_report rep;
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_POINT_IN_TIME, 0, 0, NULL, &y, &rep), 0);
    assert_int_equal(y.n, 2);
    assert_int_equal(rep.drops[0].reason, FL_DROP_RECNO_GAP);
    assert_int_equal(rep.drops[0].first_recno, FIRST + 2);
    assert_int_equal(rep.drops[0].last_recno, FIRST + 3);
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_STRICT, 0, 0, NULL, &y, &rep), FL_E_DAMAGED);
    /* salvage takes the jump (a zero-length gap region) and drops the record
     * that goes backwards */
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_SALVAGE, 0, 0, NULL, &y, &rep), 0);
    assert_int_equal(y.n, 4);
    assert_int_equal(y.recno[3], FIRST + 5);
    assert_int_equal(rep.drops_total, 2);
    assert_int_equal(rep.drops[0].offset, gap_at);
    assert_int_equal(rep.drops[0].length, 0);
    assert_int_equal(rep.drops[0].first_recno, FIRST + 2);
    assert_int_equal(rep.drops[0].last_recno, FIRST + 3);
    assert_int_equal(rep.drops[1].reason, FL_DROP_RECNO_GAP);
    assert_int_equal(rep.drops[1].length, fl_record_size(1));
    assert_int_equal(rep.next_recno, FIRST + 6);
}

static void test_after_seal_and_bad_seal(void **state)
{
    seg *s = &((seg *)*state)[1];
    uint8_t b[SEGCAP];
    memcpy(b, s->data, s->len);
    assert_int_equal(
        fl_record_encode(b + s->len, sizeof b - s->len, SALT, FIRST + NREC, TUSER, "late", 4), 0);
    size_t len = s->len + fl_record_size(4);
    yield y;
    fl_scan_report rep;
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_POINT_IN_TIME, 1, 0, s, &y, &rep), 0);
    assert_prefix(&y, NREC);
    assert_true(rep.sealed);
    assert_int_equal(rep.drops[0].reason, FL_DROP_AFTER_SEAL);
    assert_int_equal(rep.drops[0].offset, s->len);
    assert_int_equal(rep.end_offset, s->len);
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_SALVAGE, 1, 0, s, &y, &rep), 0);
    assert_int_equal(y.n, NREC);
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_STRICT, 1, 0, s, &y, &rep), FL_E_DAMAGED);
    /* a seal with valid CRCs whose count disagrees */
    uint8_t *seal = b + s->off[NREC];
    fl_store_be64(seal + FL_RECORD_HEADER_SIZE, NREC + 1);
    fl_store_be32(seal, fl_crc32c_mask(fl_crc32c(0, seal + 4, 28 + FL_SEAL_PAYLOAD_SIZE)));
    assert_int_equal(scan_mem(b, s->len, FL_RECOVERY_POINT_IN_TIME, 1, 0, s, &y, &rep), 0);
    assert_prefix(&y, NREC);
    assert_false(rep.sealed);
    assert_int_equal(rep.drops[0].reason, FL_DROP_BAD_SEAL);
}

static void test_big_records_small_chunks(void **state)
{
    (void)state;
    enum { N = 6, PL = 3000 };
    size_t cap = FL_SEG_HEADER_SIZE + N * fl_record_size(PL);
    uint8_t *b = malloc(cap), *p = malloc(PL);
    assert_non_null(b);
    assert_non_null(p);
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, cap), 0);
    size_t len = FL_SEG_HEADER_SIZE;
    for (size_t i = 0; i < N; i++) {
        memset(p, (int)i + 1, PL);
        assert_int_equal(fl_record_encode(b + len, cap - len, SALT, FIRST + i, TUSER, p, PL), 0);
        len += fl_record_size(PL);
    }
    b[FL_SEG_HEADER_SIZE + 2 * fl_record_size(PL) + 1000] ^= 4; /* damage record 2 */
    yield y;
    fl_scan_report rep;
    assert_int_equal(scan_mem(b, len, FL_RECOVERY_SALVAGE, 0, 256, NULL, &y, &rep), 0);
    assert_int_equal(y.n, N - 1);
    assert_int_equal(y.recno[2], FIRST + 3);
    assert_int_equal(rep.drops_total, 1);
    /* a max_payload below the record size: every record is BAD_LENGTH */
    fl_seg_mem m = {b, len};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.max_payload = PL - 1;
    o.mode = FL_RECOVERY_SALVAGE;
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, NULL, NULL, &rep, NULL, 0), 0);
    assert_int_equal(rep.records_ok, 0);
    assert_int_equal(rep.drops[0].reason, FL_DROP_BAD_LENGTH);
    assert_int_equal(rep.drops[0].length, len - FL_SEG_HEADER_SIZE);
    free(b);
    free(p);
}

static void test_drop_list_bounded(void **state)
{
    (void)state;
    enum { N = 40 };
    uint8_t b[FL_SEG_HEADER_SIZE + N * 33];
    fl_seg_header h = make_header(SALT);
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    size_t len = FL_SEG_HEADER_SIZE;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fl_record_encode(b + len, sizeof b - len, SALT, FIRST + i, TUSER, "z", 1),
                         0);
        if (i % 2 == 0)
            b[len + FL_RECORD_HEADER_SIZE] ^= 1; /* damage every other record */
        len += fl_record_size(1);
    }
    yield y;
    fl_scan_report rep;
    char err[128];
    fl_seg_mem m = {b, len};
    fl_scan_opts o = FL_SCAN_OPTS_INIT;
    o.mode = FL_RECOVERY_SALVAGE;
    memset(&y, 0, sizeof y);
    assert_int_equal(fl_seg_scan(fl_seg_mem_read, &m, &o, collect, &y, &rep, err, sizeof err), 0);
    assert_int_equal(y.n, N / 2);
    assert_int_equal(rep.drops_total, N / 2);
    assert_int_equal(rep.drops_len, FL_SCAN_MAX_DROPS);
    assert_int_equal(rep.bytes_dropped, (N / 2) * fl_record_size(1));
    assert_non_null(strstr(err, "offset 64: checksum"));
}

static int count_cb(void *arg, const fl_record *rec)
{
    (void)rec;
    (*(size_t *)arg)++;
    return 0;
}

/* Regression (found by fuzz_record): in salvage a skip over a damaged
 * record whose length points past the end made the report's file_size the
 * skip target (2640) instead of the file's size (702). The input is kept in
 * the fuzz corpus. */
static void test_file_size_after_skip_past_eof(void **state)
{
    (void)state;
    FILE *f = fopen("tests/fuzz/corpus/record/regress-salvage-skip-past-eof", "rb");
    assert_non_null(f);
    uint8_t buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, 702);
    static const fl_recovery_mode modes[] = {FL_RECOVERY_POINT_IN_TIME, FL_RECOVERY_STRICT,
                                             FL_RECOVERY_TOLERATE_TORN_TAIL, FL_RECOVERY_SALVAGE};
    for (size_t m = 0; m < 4; m++) {
        for (size_t chunk = 0; chunk <= 256; chunk += 256) {
            fl_seg_mem mem = {buf, n};
            fl_scan_opts o = FL_SCAN_OPTS_INIT;
            o.mode = modes[m];
            o.read_chunk = chunk;
            o.max_payload = 4096;
            fl_scan_report rep;
            size_t good = 0;
            int rc = fl_seg_scan(fl_seg_mem_read, &mem, &o, count_cb, &good, &rep, NULL, 0);
            assert_true(rc == 0 || rc == FL_E_DAMAGED);
            assert_int_equal(rep.file_size, n);
            assert_true(rep.end_offset <= n);
        }
    }
}

/* ---- recycled segments ------------------------------------------------- */

#define OLD_SALT 0x01d5a170000000aull

static void test_seg_header_flags(void **state)
{
    (void)state;
    fl_seg_header h = make_header(SALT), d;
    uint8_t b[FL_SEG_HEADER_SIZE];
    h.flags = FL_SEG_FLAG_RECYCLED;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    assert_int_equal(fl_seg_header_decode(b, sizeof b, &d), 0);
    assert_int_equal(d.flags, FL_SEG_FLAG_RECYCLED);
    assert_int_equal(d.segment_id, h.segment_id);
    h.flags = 2; /* unknown */
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), FL_E_INVAL);
    /* an unknown flag with a valid CRC is impossible, not a checksum error */
    h.flags = 0;
    assert_int_equal(fl_seg_header_encode(&h, b, sizeof b), 0);
    b[15] = 4;
    uint32_t crc = fl_crc32c_mask(fl_crc32c(0, b, 60));
    b[60] = (uint8_t)(crc >> 24);
    b[61] = (uint8_t)(crc >> 16);
    b[62] = (uint8_t)(crc >> 8);
    b[63] = (uint8_t)crc;
    assert_int_equal(fl_seg_header_decode(b, sizeof b, &d), FL_E_CORRUPT);
}

/* An older generation filling SEGCAP bytes (records of `old_len` payload
 * bytes, the rest zeros from `zeros_at` on), then the fixture's segment `s`
 * written over its start with the recycled flag. */
static size_t build_recycled_salt(const seg *s, uint32_t old_len, size_t zeros_at, uint8_t *out,
                                  uint64_t old_salt, uint64_t old_first)
{
    memset(out, 0, SEGCAP);
    fl_seg_header oh = make_header(old_salt);
    oh.segment_id = 3;
    assert_int_equal(fl_seg_header_encode(&oh, out, SEGCAP), 0);
    size_t at = FL_SEG_HEADER_SIZE;
    uint8_t pl[256];
    memset(pl, 0xa5, sizeof pl);
    for (uint64_t r = old_first; at + fl_record_size(old_len) <= zeros_at; r++) {
        assert_int_equal(fl_record_encode(out + at, SEGCAP - at, old_salt, r, TUSER, pl, old_len),
                         0);
        at += fl_record_size(old_len);
    }
    memcpy(out, s->data, s->len);
    fl_seg_header h = make_header(SALT);
    h.flags = FL_SEG_FLAG_RECYCLED;
    assert_int_equal(fl_seg_header_encode(&h, out, SEGCAP), 0);
    return SEGCAP;
}

static size_t build_recycled(const seg *s, uint32_t old_len, size_t zeros_at, uint8_t *out)
{
    return build_recycled_salt(s, old_len, zeros_at, out, OLD_SALT, 1);
}

/* What follows the records (or the seal) in a recycled file is the older
 * generation's: not damage in any mode but strict, whatever it looks like
 * there (a whole stale record, the middle of one, zeros), at any read chunk
 * size. Strict refuses (it cannot tell). */
static void test_recycled_stale_tail(void **state)
{
    const seg *fx = *state;
    static const uint32_t old_lens[] = {0, 50, 100, 7};
    static const size_t zeros[] = {SEGCAP, 700, 300};
    static const size_t chunks[] = {0, 256, 300};
    uint8_t *buf = malloc(SEGCAP);
    assert_non_null(buf);
    for (int sealed = 0; sealed < 2; sealed++)
        for (size_t o = 0; o < 4; o++)
            for (size_t z = 0; z < 3; z++)
                for (size_t c = 0; c < 3; c++)
                    for (size_t m = 0; m < 4; m++) {
                        const seg *s = &fx[sealed];
                        size_t len = build_recycled(s, old_lens[o], zeros[z], buf);
                        yield y;
                        fl_scan_report rep;
                        int rc = scan_mem(buf, len, all_modes[m], 0, chunks[c], s, &y, &rep);
                        if (all_modes[m] == FL_RECOVERY_STRICT) {
                            assert_int_equal(rc, FL_E_DAMAGED);
                            assert_false(rep.recycled);
                            continue;
                        }
                        assert_int_equal(rc, 0);
                        assert_prefix(&y, NREC);
                        assert_true(rep.recycled);
                        assert_false(rep.damaged);
                        assert_int_equal(rep.sealed, sealed);
                        assert_int_equal(rep.end_offset, s->len);
                        assert_int_equal(rep.file_size, len);
                        assert_int_equal(rep.stale_bytes, len - s->len);
                        assert_int_equal(rep.next_recno, FIRST + NREC);
                    }
    free(buf);
}

/* The last record of a recycled segment cut short (its header written, the
 * rest still the older generation's bytes): a torn tail of that record's
 * length, tolerated by tolerate_torn_tail; then stale bytes. */
static void test_recycled_torn_last_record(void **state)
{
    const seg *s = &((const seg *)*state)[0];
    uint8_t *buf = malloc(SEGCAP);
    assert_non_null(buf);
    for (size_t m = 1; m < 4; m++) {
        size_t len = build_recycled(s, 50, SEGCAP, buf);
        /* record NREC-2 (100 bytes of payload): keep its header only */
        size_t at = s->off[NREC - 4], rl = fl_record_size(lens[NREC - 4]);
        uint8_t old[SEGCAP];
        build_recycled(&(seg){.len = 0}, 50, SEGCAP, old);
        memcpy(buf + at + FL_RECORD_HEADER_SIZE, old + at + FL_RECORD_HEADER_SIZE,
               len - at - FL_RECORD_HEADER_SIZE);
        yield y;
        fl_scan_report rep;
        assert_int_equal(scan_mem(buf, len, all_modes[m], 0, 0, s, &y, &rep), 0);
        assert_prefix(&y, NREC - 4);
        assert_int_equal(rep.drops_total, 1);
        assert_int_equal(rep.drops[0].reason, FL_DROP_TORN_TAIL);
        assert_int_equal(rep.drops[0].offset, at);
        assert_int_equal(rep.drops[0].length, rl);
        assert_int_equal(rep.end_offset, at);
        assert_int_equal(rep.stale_bytes, len - at - rl);
    }
    free(buf);
}

/* Damage in the middle of a recycled segment (records with its salt after
 * it) is damage: tolerate refuses, point_in_time drops up to the end of the
 * segment's last record (not the stale bytes), salvage skips it. */
static void test_recycled_damage_in_middle(void **state)
{
    const seg *s = &((const seg *)*state)[0];
    uint8_t *buf = malloc(SEGCAP);
    assert_non_null(buf);
    for (int kind = 0; kind < 2; kind++) {
        for (size_t m = 0; m < 4; m++) {
            size_t len = build_recycled(s, 50, SEGCAP, buf);
            if (kind == 0)
                buf[s->off[3] + 40] ^= 0x08; /* a payload bit */
            else
                memset(buf + s->off[3], 0, fl_record_size(lens[3])); /* zeroed */
            yield y;
            fl_scan_report rep;
            int rc = scan_mem(buf, len, all_modes[m], 0, 0, s, &y, &rep);
            switch (all_modes[m]) {
            case FL_RECOVERY_STRICT:
            case FL_RECOVERY_TOLERATE_TORN_TAIL:
                assert_int_equal(rc, FL_E_DAMAGED);
                break;
            case FL_RECOVERY_POINT_IN_TIME:
                assert_int_equal(rc, 0);
                assert_prefix(&y, 3);
                assert_int_equal(rep.drops_total, 1);
                assert_int_equal(rep.drops[0].offset, s->off[3]);
                assert_int_equal(rep.drops[0].length, s->off[NREC] - s->off[3]);
                assert_int_equal(rep.stale_bytes, len - s->off[NREC]);
                break;
            default:
                assert_int_equal(rc, 0);
                assert_false(y.bad);
                assert_int_equal(y.n, NREC - 1);
                assert_int_equal(y.recno[3], FIRST + 4);
                assert_int_equal(rep.drops_total, 1);
                assert_int_equal(rep.end_offset, s->off[NREC]);
                assert_int_equal(rep.stale_bytes, len - s->off[NREC]);
                break;
            }
        }
    }
    free(buf);
}

/* The last record (or the seal) of a recycled segment with its header
 * damaged in place (a flipped bit in its length field: the header CRC
 * fails, but the salt and record number are this segment's): reported as
 * checksum damage, never taken for the stale bytes that follow; tolerate
 * refuses as it would in a fresh file. */
static void test_recycled_damaged_last_header(void **state)
{
    uint8_t *buf = malloc(SEGCAP);
    assert_non_null(buf);
    for (int sealed = 0; sealed < 2; sealed++) {
        const seg *s = &((const seg *)*state)[sealed];
        size_t last = sealed ? s->off[NREC] : s->off[NREC - 1];
        for (size_t m = 1; m < 12; m++) {
            /* one flipped bit in the length, the record number or the salt */
            static const size_t bytes[] = {9, 17, 26};
            size_t len = build_recycled(s, 50, SEGCAP, buf);
            buf[last + bytes[m / 4]] ^= 0x40;
            if (m % 4 == 0)
                continue; /* strict: not recycled reading */
            yield y;
            fl_scan_report rep;
            int rc = scan_mem(buf, len, all_modes[m % 4], 0, 0, s, &y, &rep);
            if (all_modes[m % 4] == FL_RECOVERY_TOLERATE_TORN_TAIL) {
                assert_int_equal(rc, FL_E_DAMAGED);
                continue;
            }
            assert_int_equal(rc, 0);
            assert_prefix(&y, sealed ? NREC : NREC - 1);
            assert_true(rep.damaged);
            assert_int_equal(rep.drops_total, 1);
            assert_int_equal(rep.drops[0].reason, FL_DROP_CHECKSUM);
            assert_int_equal(rep.drops[0].offset, last);
            assert_int_equal(rep.drops[0].length, FL_RECORD_HEADER_SIZE);
            assert_int_equal(rep.end_offset, last);
            assert_int_equal(rep.stale_bytes, len - last - FL_RECORD_HEADER_SIZE);
        }
    }
    free(buf);
}

/* A new salt equal to the old generation's (the seglog draws again when
 * it is, but the scanner must not depend on it): the old records validate
 * with this salt but carry older record numbers, so they end the data like
 * any stale bytes, never yielded, never damage, even when one starts
 * exactly where the data ends. */
static void test_recycled_same_salt(void **state)
{
    const seg *s = &((const seg *)*state)[0];
    uint8_t *buf = malloc(SEGCAP);
    assert_non_null(buf);
    int aligned = 0;
    for (uint32_t old_len = 0; old_len < 120; old_len++) {
        /* an older generation: numbers below this segment's first */
        uint64_t n_old = (SEGCAP - FL_SEG_HEADER_SIZE) / fl_record_size(old_len);
        if (n_old >= FIRST)
            continue;
        size_t len = build_recycled_salt(s, old_len, SEGCAP, buf, SALT, FIRST - n_old);
        aligned += (s->len - FL_SEG_HEADER_SIZE) % fl_record_size(old_len) == 0;
        for (size_t m = 1; m < 4; m++) {
            yield y;
            fl_scan_report rep;
            assert_int_equal(scan_mem(buf, len, all_modes[m], 0, 0, s, &y, &rep), 0);
            assert_prefix(&y, NREC);
            assert_false(rep.damaged);
            assert_int_equal(rep.end_offset, s->len);
            assert_int_equal(rep.stale_bytes, len - s->len);
        }
    }
    assert_true(aligned > 0); /* an old record started right at the end */
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seg_header_roundtrip),
        cmocka_unit_test(test_seg_header_decode_errors),
        cmocka_unit_test(test_seg_header_encode_invalid),
        cmocka_unit_test(test_chain_check),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_encode_invalid),
        cmocka_unit_test(test_record_decode_errors),
        cmocka_unit_test(test_mode_names),
        cmocka_unit_test_setup_teardown(test_scan_clean, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_scan_empty_segments),
        cmocka_unit_test_setup_teardown(test_truncate_every_byte_unsealed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_truncate_every_byte_sealed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_boundary_cut_sealed_vs_unsealed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_flip_every_bit_unsealed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_flip_every_bit_sealed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stale_salt, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_huge_length_no_allocation, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_read_error_and_callback_stop, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_callback_stops_scan, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_types),
        cmocka_unit_test_setup_teardown(test_zeroed, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_recno_gap),
        cmocka_unit_test_setup_teardown(test_after_seal_and_bad_seal, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_big_records_small_chunks),
        cmocka_unit_test(test_drop_list_bounded),
        cmocka_unit_test(test_file_size_after_skip_past_eof),
        cmocka_unit_test(test_seg_header_flags),
        cmocka_unit_test_setup_teardown(test_recycled_stale_tail, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recycled_torn_last_record, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recycled_same_salt, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recycled_damaged_last_header, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recycled_damage_in_middle, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
