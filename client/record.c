/* Segment header and record codec, and the recovery scanner (see record.h for
 * the on-disk layout).
 *
 * Design note — how the scanner decides what a byte range is.
 *
 * At each record position p the scanner classifies what it finds
 * (examine()): a clean end of file, a good data record, a skippable unknown
 * record, the seal, or damage with a reason. The checks run in an order that
 * never trusts a field before it is covered by a checksum:
 *   1. all-zero bytes            -> ZEROED (a tail if the zeros reach EOF)
 *   2. fewer bytes than a header -> TORN_TAIL
 *   3. header CRC (hcrc)         -> CHECKSUM; the length is not trusted
 *   4. salt                      -> STALE_SALT (a valid record of another segment)
 *   5. type / reserved bits      -> BAD_TYPE
 *   6. length <= max             -> BAD_LENGTH; only now is the length used
 *   7. payload inside the file   -> TORN_TAIL
 *   8. record CRC                -> CHECKSUM
 *   9. record number             -> RECNO_GAP
 *  10. seal payload / type known -> BAD_SEAL / BAD_TYPE / skip
 * When steps 3-6 passed the record's framing is trusted, so salvage resumes
 * its search right after the damaged record instead of inside its payload
 * (a payload may legitimately contain bytes that look like a record).
 *
 * Record numbers form one chain: a data record has chain number = recno, the
 * seal has recno + 1 (it repeats the last data record number), so "chain ==
 * expected" checks both.
 *
 * Reading goes through a sliding window over the read callback, so a segment
 * is never loaded whole; the window only grows to hold one record, whose
 * length has been validated first.
 *
 * Recycled segments (header flag FL_SEG_FLAG_RECYCLED, any mode but
 * STRICT): at the first position that is not a good record the scanner
 * looks for anything of this segment further on (own_record_after: a valid
 * record with its salt and a chain number not below the expected one, found
 * by the same salt search salvage uses). Nothing: the data ends there and
 * the rest of the file is an older generation's (stale_bytes; a record
 * header of this segment whose record does not verify is its last write,
 * cut short, dropped as a torn tail of its own length; a header whose CRC
 * fails but whose salt and record number are the ones due there is the
 * last record damaged in place, a checksum drop). Something: it is
 * damage in the middle and the mode applies as usual, except that the
 * region POINT_IN_TIME drops ends with the last record of this segment
 * (own_extent), not at end of file. Bytes after a seal are stale, not
 * AFTER_SEAL. The salt search uses memmem on the window for the salt bytes
 * (offset 24 of a record header), so scanning a 16 MiB stale tail costs
 * about as much as reading it.
 */
#include "faultline/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/buf.h"
#include "faultline/crc32c.h"
#include "faultline/error.h"

#define HDR           FL_RECORD_HEADER_SIZE
#define SEG_CRC_OFF   60
#define DEFAULT_CHUNK (64u * 1024)
#define MIN_CHUNK     256u

/* ---- segment header ---------------------------------------------------- */

int fl_seg_header_encode(const fl_seg_header *h, uint8_t *out, size_t cap)
{
    if (h == NULL || out == NULL || cap < FL_SEG_HEADER_SIZE)
        return FL_E_INVAL;
    if (h->kind == 0 || h->segment_id == 0 || h->first_recno == 0 ||
        (h->flags & ~FL_SEG_FLAGS_KNOWN) != 0)
        return FL_E_INVAL;
    memset(out, 0, FL_SEG_HEADER_SIZE);
    memcpy(out, FL_SEG_MAGIC, FL_SEG_MAGIC_LEN);
    fl_store_be16(out + 8, FL_SEG_VERSION);
    fl_store_be16(out + 10, h->kind);
    fl_store_be32(out + 12, h->flags);
    fl_store_be64(out + 16, h->segment_id);
    fl_store_be64(out + 24, h->salt);
    fl_store_be64(out + 32, h->prev_segment_id);
    fl_store_be64(out + 40, h->prev_last_recno);
    fl_store_be64(out + 48, h->first_recno);
    fl_store_be32(out + SEG_CRC_OFF, fl_crc32c_mask(fl_crc32c(0, out, SEG_CRC_OFF)));
    return 0;
}

int fl_seg_header_decode(const uint8_t *buf, size_t len, fl_seg_header *h)
{
    if (buf == NULL || h == NULL)
        return FL_E_INVAL;
    if (len < FL_SEG_HEADER_SIZE)
        return FL_E_TRUNCATED;
    if (memcmp(buf, FL_SEG_MAGIC, FL_SEG_MAGIC_LEN) != 0)
        return FL_E_BAD_MAGIC;
    uint16_t version = fl_load_be16(buf + 8);
    uint32_t crc = fl_crc32c_mask(fl_crc32c(0, buf, SEG_CRC_OFF));
    /* A version we do not know may have another layout, so its CRC proves
     * nothing: report the version first. */
    if (version != FL_SEG_VERSION)
        return FL_E_BAD_VERSION;
    if (crc != fl_load_be32(buf + SEG_CRC_OFF))
        return FL_E_CHECKSUM;
    fl_seg_header t;
    t.version = version;
    t.kind = fl_load_be16(buf + 10);
    t.segment_id = fl_load_be64(buf + 16);
    t.salt = fl_load_be64(buf + 24);
    t.prev_segment_id = fl_load_be64(buf + 32);
    t.prev_last_recno = fl_load_be64(buf + 40);
    t.first_recno = fl_load_be64(buf + 48);
    t.flags = fl_load_be32(buf + 12);
    if (t.kind == 0 || t.segment_id == 0 || t.first_recno == 0)
        return FL_E_CORRUPT;
    if ((t.flags & ~FL_SEG_FLAGS_KNOWN) != 0 || fl_load_be32(buf + 56) != 0)
        return FL_E_CORRUPT;
    *h = t;
    return 0;
}

int fl_seg_chain_check(const fl_seg_header *prev, uint64_t prev_last_recno,
                       const fl_seg_header *next, char *errbuf, size_t errlen)
{
    const char *why = NULL;
    if (prev == NULL || next == NULL)
        return FL_E_INVAL;
    if (next->kind != prev->kind)
        why = "segment kinds differ";
    else if (next->prev_segment_id != prev->segment_id)
        why = "predecessor segment id does not match";
    else if (next->prev_last_recno != prev_last_recno)
        why = "predecessor's last record number does not match";
    else if (next->first_recno != prev_last_recno + 1)
        why = "first record number does not follow the predecessor";
    if (why == NULL)
        return 0;
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "segment %llu after segment %llu (last record %llu): %s",
                 (unsigned long long)next->segment_id, (unsigned long long)prev->segment_id,
                 (unsigned long long)prev_last_recno, why);
    return FL_E_CORRUPT;
}

/* ---- records ----------------------------------------------------------- */

size_t fl_record_size(uint32_t payload_len)
{
    return (size_t)HDR + payload_len;
}

static void put_header(uint8_t *out, uint64_t salt, uint64_t recno, unsigned type,
                       const void *payload, uint32_t len)
{
    /* len (4), type (2) and the reserved zero (2) as one 8-byte store, so
     * the CRC's 8-byte loads each read back exactly one store and the CPU
     * forwards them instead of waiting for the stores to retire. */
    fl_store_be64(out + 8, (uint64_t)len << 32 | (uint64_t)(type & 0xffff) << 16);
    fl_store_be64(out + 16, recno);
    fl_store_be64(out + 24, salt);
    fl_store_be32(out + 4, fl_crc32c_mask(fl_crc32c(0, out + 8, HDR - 8)));
    if (len > 0 && payload != out + HDR)
        memmove(out + HDR, payload, len);
    fl_store_be32(out, fl_crc32c_mask(fl_crc32c(0, out + 4, (size_t)HDR - 4 + len)));
}

int fl_record_encode(uint8_t *out, size_t cap, uint64_t salt, uint64_t recno, unsigned type,
                     const void *payload, uint32_t len)
{
    if (len > FL_RECORD_MAX_PAYLOAD)
        return FL_E_FRAME_TOO_LARGE;
    if (out == NULL || cap < fl_record_size(len) || (payload == NULL && len > 0))
        return FL_E_INVAL;
    if (type > FL_REC_TYPE_MAX || (type & ~FL_REC_SAFE_TO_IGNORE) == 0)
        return FL_E_INVAL;
    if (recno == 0 || recno == UINT64_MAX)
        return FL_E_INVAL;
    put_header(out, salt, recno, type, payload, len);
    return 0;
}

int fl_record_encode_seal(uint8_t *out, size_t cap, uint64_t salt, uint64_t first_recno,
                          uint64_t last_recno)
{
    if (out == NULL || cap < FL_SEAL_RECORD_SIZE || first_recno == 0)
        return FL_E_INVAL;
    if (last_recno < first_recno - 1 || last_recno == UINT64_MAX)
        return FL_E_INVAL;
    uint8_t p[FL_SEAL_PAYLOAD_SIZE];
    fl_store_be64(p, last_recno - first_recno + 1);
    fl_store_be64(p + 8, last_recno);
    put_header(out, salt, last_recno, FL_REC_SEAL, p, sizeof p);
    return 0;
}

/* The fixed fields of a record header, parsed without any trust. */
typedef struct rhdr {
    uint32_t crc, hcrc, len;
    unsigned type, rsv;
    uint64_t recno, salt;
} rhdr;

static void parse_rhdr(const uint8_t *h, rhdr *r)
{
    r->crc = fl_load_be32(h);
    r->hcrc = fl_load_be32(h + 4);
    r->len = fl_load_be32(h + 8);
    r->type = fl_load_be16(h + 12);
    r->rsv = fl_load_be16(h + 14);
    r->recno = fl_load_be64(h + 16);
    r->salt = fl_load_be64(h + 24);
}

static int hcrc_ok(const uint8_t *h, const rhdr *r)
{
    return fl_crc32c_mask(fl_crc32c(0, h + 8, HDR - 8)) == r->hcrc;
}

static int crc_ok(const uint8_t *h, const rhdr *r)
{
    return fl_crc32c_mask(fl_crc32c(0, h + 4, (size_t)HDR - 4 + r->len)) == r->crc;
}

static int type_bad(const rhdr *r)
{
    return (r->type & ~FL_REC_SAFE_TO_IGNORE) == 0 || r->rsv != 0;
}

static uint32_t effective_max(uint32_t max_payload)
{
    if (max_payload == 0)
        return FL_RECORD_DEFAULT_MAX;
    return max_payload > FL_RECORD_MAX_PAYLOAD ? FL_RECORD_MAX_PAYLOAD : max_payload;
}

int fl_record_decode(const uint8_t *buf, size_t len, uint64_t salt, uint32_t max_payload,
                     fl_record *rec)
{
    rhdr r;
    if (buf == NULL || rec == NULL)
        return FL_E_INVAL;
    if (len < HDR)
        return FL_E_TRUNCATED;
    parse_rhdr(buf, &r);
    if (!hcrc_ok(buf, &r))
        return FL_E_CHECKSUM;
    if (r.salt != salt || type_bad(&r))
        return FL_E_CORRUPT;
    if (r.len > effective_max(max_payload))
        return FL_E_FRAME_TOO_LARGE;
    if (len - HDR < r.len)
        return FL_E_TRUNCATED;
    if (!crc_ok(buf, &r))
        return FL_E_CHECKSUM;
    rec->offset = 0;
    rec->recno = r.recno;
    rec->type = r.type;
    rec->len = r.len;
    rec->payload = buf + HDR;
    return 0;
}

/* ---- names ------------------------------------------------------------- */

static const char *const mode_names[] = {
    [FL_RECOVERY_POINT_IN_TIME] = "point_in_time",
    [FL_RECOVERY_STRICT] = "strict",
    [FL_RECOVERY_TOLERATE_TORN_TAIL] = "tolerate_torn_tail",
    [FL_RECOVERY_SALVAGE] = "salvage",
};

int fl_recovery_mode_parse(const char *s, fl_recovery_mode *out)
{
    if (s == NULL || out == NULL)
        return FL_E_INVAL;
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (fl_recovery_mode)i;
            return 0;
        }
    }
    return FL_E_INVAL;
}

const char *fl_recovery_mode_name(fl_recovery_mode mode)
{
    if ((unsigned)mode >= sizeof mode_names / sizeof mode_names[0])
        return "unknown";
    return mode_names[mode];
}

static const char *const drop_names[] = {
    [FL_DROP_TORN_TAIL] = "torn_tail",
    [FL_DROP_CHECKSUM] = "checksum",
    [FL_DROP_BAD_LENGTH] = "bad_length",
    [FL_DROP_BAD_TYPE] = "bad_type",
    [FL_DROP_RECNO_GAP] = "recno_gap",
    [FL_DROP_STALE_SALT] = "stale_salt",
    [FL_DROP_ZEROED] = "zeroed",
    [FL_DROP_BAD_SEAL] = "bad_seal",
    [FL_DROP_MISSING_SEAL] = "missing_seal",
    [FL_DROP_AFTER_SEAL] = "after_seal",
};

const char *fl_drop_reason_name(int reason)
{
    if (reason <= 0 || (size_t)reason >= sizeof drop_names / sizeof drop_names[0])
        return "unknown";
    return drop_names[reason];
}

int fl_seg_mem_read(void *arg, uint64_t off, void *buf, size_t len, size_t *nread)
{
    const fl_seg_mem *m = arg;
    if (m == NULL || nread == NULL || (buf == NULL && len > 0))
        return FL_E_INVAL;
    *nread = 0;
    if (off >= m->len)
        return 0;
    size_t n = m->len - (size_t)off;
    if (n > len)
        n = len;
    memcpy(buf, m->data + off, n);
    *nread = n;
    return 0;
}

/* ---- scanner: the read window ------------------------------------------ */

typedef struct scanner {
    fl_seg_read_fn read;
    void *read_arg;
    uint8_t *buf;
    size_t cap;
    uint64_t boff; /* file offset of buf[0] */
    size_t blen;   /* valid bytes in buf */
    int eof;       /* eof_off is known */
    uint64_t eof_off;
    uint64_t seen; /* end of the furthest bytes a read delivered */
    size_t chunk;
    uint32_t max;
    const fl_scan_opts *opts;
    fl_scan_report *rep;
    char *errbuf;
    size_t errlen;
    uint64_t salt;
    uint64_t first_recno;
    uint64_t expected; /* chain number the next record must carry */
    int recycled;      /* stale bytes of an older generation end the data */
} scanner;

/* A read at `at` delivered nothing and `at` lies past the furthest byte
 * known to exist: the file ends in [seen, at]. Read forward from `seen` to
 * find where, so eof_off is the file's true size. */
static int probe_eof(scanner *s, uint64_t at)
{
    uint8_t tmp[512];
    uint64_t q = s->seen;
    while (q < at) {
        size_t ask = sizeof tmp, nr = 0;
        if (ask > at - q)
            ask = (size_t)(at - q);
        int rc = s->read(s->read_arg, q, tmp, ask, &nr);
        if (rc != 0)
            return rc < 0 ? rc : FL_E_IO;
        if (nr > ask)
            nr = ask;
        q += nr;
        if (nr < ask)
            break;
    }
    s->seen = q;
    s->eof_off = q;
    return 0;
}

/* Make bytes [off, off+n) available. *p points at off, *avail = how many of
 * the n bytes exist before end of file. n must be <= HDR + max (validated by
 * the caller), so the window stays bounded. */
static int win(scanner *s, uint64_t off, size_t n, const uint8_t **p, size_t *avail)
{
    if (off >= s->boff && off - s->boff <= s->blen) {
        size_t have = s->blen - (size_t)(off - s->boff);
        if (have >= n || (s->eof && s->boff + s->blen >= s->eof_off)) {
            *p = s->buf + (off - s->boff);
            *avail = have < n ? have : n;
            return 0;
        }
    }
    size_t want = n > s->chunk ? n : s->chunk;
    if (s->cap < want) {
        uint8_t *nb = realloc(s->buf, want);
        if (nb == NULL)
            return FL_E_NOMEM;
        s->buf = nb;
        s->cap = want;
    }
    size_t keep = 0;
    if (off >= s->boff && off - s->boff <= s->blen) {
        keep = s->blen - (size_t)(off - s->boff);
        if (keep > 0)
            memmove(s->buf, s->buf + (off - s->boff), keep);
    }
    s->boff = off;
    s->blen = keep;
    while (s->blen < n && !(s->eof && s->boff + s->blen >= s->eof_off)) {
        size_t ask = s->cap - s->blen, nr = 0;
        int rc = s->read(s->read_arg, s->boff + s->blen, s->buf + s->blen, ask, &nr);
        if (rc != 0)
            return rc < 0 ? rc : FL_E_IO;
        if (nr > ask)
            nr = ask;
        s->blen += nr;
        if (nr > 0 && s->boff + s->blen > s->seen)
            s->seen = s->boff + s->blen;
        if (nr < ask) {
            /* Nothing at all past the furthest known byte (a skip landed
             * beyond the end): the end is somewhere in between. */
            if (nr == 0 && s->boff + s->blen > s->seen) {
                rc = probe_eof(s, s->boff + s->blen);
                if (rc != 0)
                    return rc;
            } else {
                s->eof_off = s->boff + s->blen;
            }
            s->eof = 1;
        }
    }
    *p = s->buf;
    *avail = s->blen < n ? s->blen : n;
    return 0;
}

/* Read forward until end of file is known; *end = the file size. */
static int find_eof(scanner *s, uint64_t from, uint64_t *end)
{
    uint64_t q = from;
    while (!(s->eof && q >= s->eof_off)) {
        const uint8_t *p;
        size_t avail;
        int rc = win(s, q, s->chunk, &p, &avail);
        if (rc != 0)
            return rc;
        if (avail == 0)
            break;
        q += avail;
    }
    *end = s->eof ? s->eof_off : q;
    return 0;
}

/* Offset of the first non-zero byte at or after `from`, or the file size. */
static int zero_run(scanner *s, uint64_t from, uint64_t *end)
{
    uint64_t q = from;
    for (;;) {
        const uint8_t *p;
        size_t avail;
        int rc = win(s, q, s->chunk, &p, &avail);
        if (rc != 0)
            return rc;
        if (avail == 0)
            break;
        for (size_t i = 0; i < avail; i++) {
            if (p[i] != 0) {
                *end = q + i;
                return 0;
            }
        }
        q += avail;
    }
    *end = q;
    return 0;
}

/* ---- scanner: classification ------------------------------------------- */

enum verdict { V_END, V_DATA, V_IGNORE, V_SEAL, V_DROP };

typedef struct exam {
    enum verdict v;
    int reason;     /* for V_DROP */
    int tolerable;  /* V_DROP that TOLERATE_TORN_TAIL accepts */
    int framed;     /* header trusted: size is the record's true extent */
    int crc_ok;     /* the whole record validated (hcrc, salt, length, crc) */
    int own;        /* header CRC and salt are this segment's */
    uint64_t size;  /* HDR + len when framed */
    uint64_t chain; /* chain number when crc_ok */
    rhdr r;
    const uint8_t *at; /* record bytes (valid until the next window call) */
} exam;

static int known_type(const scanner *s, unsigned type)
{
    if ((type & ~FL_REC_SAFE_TO_IGNORE) < FL_REC_TYPE_USER_MIN)
        return 0;
    if (s->opts->known_type == NULL)
        return 1;
    return s->opts->known_type(s->opts->known_type_arg, type) != 0;
}

static void drop(exam *e, int reason)
{
    e->v = V_DROP;
    e->reason = reason;
}

/* The checks after the record CRC: record number chain, seal, type. */
static void examine_valid(const scanner *s, exam *e)
{
    const rhdr *r = &e->r;
    e->crc_ok = 1;
    e->chain = r->type == FL_REC_SEAL ? r->recno + 1 : r->recno;
    if (e->chain != s->expected || e->chain == 0 || r->recno == UINT64_MAX) {
        drop(e, FL_DROP_RECNO_GAP);
        return;
    }
    if (r->type == FL_REC_SEAL) {
        const uint8_t *pl = e->at + HDR;
        uint64_t count = fl_load_be64(pl), last = fl_load_be64(pl + 8);
        if (last != r->recno || count != r->recno - s->first_recno + 1)
            drop(e, FL_DROP_BAD_SEAL);
        else
            e->v = V_SEAL;
        return;
    }
    if (known_type(s, r->type))
        e->v = V_DATA;
    else if (r->type & FL_REC_SAFE_TO_IGNORE)
        e->v = V_IGNORE;
    else
        drop(e, FL_DROP_BAD_TYPE);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* Classify what starts at `off` (see the design note). `probe` skips the
 * zero-run measurement, which salvage's byte-by-byte search does not need. */
static int examine(scanner *s, uint64_t off, int probe, exam *e)
{
    const uint8_t *h;
    size_t avail;
    memset(e, 0, sizeof *e);
    int rc = win(s, off, HDR, &h, &avail);
    if (rc != 0)
        return rc;
    if (avail == 0) {
        e->v = V_END;
        return 0;
    }
    if (all_zero(h, avail)) {
        drop(e, FL_DROP_ZEROED);
        if (probe)
            return 0;
        uint64_t end = 0;
        rc = zero_run(s, off, &end);
        if (rc != 0)
            return rc;
        e->tolerable = s->eof && end >= s->eof_off;
        return 0;
    }
    if (avail < HDR) {
        drop(e, FL_DROP_TORN_TAIL);
        e->tolerable = 1;
        return 0;
    }
    parse_rhdr(h, &e->r);
    if (!hcrc_ok(h, &e->r)) {
        drop(e, FL_DROP_CHECKSUM);
        return 0;
    }
    if (e->r.salt != s->salt) {
        drop(e, FL_DROP_STALE_SALT);
        return 0;
    }
    e->own = 1;
    if (e->r.len > s->max) {
        drop(e, FL_DROP_BAD_LENGTH);
        return 0;
    }
    e->framed = 1;
    e->size = (uint64_t)HDR + e->r.len;
    if (type_bad(&e->r)) {
        drop(e, FL_DROP_BAD_TYPE);
        return 0;
    }
    if (e->r.type == FL_REC_SEAL && e->r.len != FL_SEAL_PAYLOAD_SIZE) {
        drop(e, FL_DROP_BAD_SEAL);
        return 0;
    }
    rc = win(s, off, (size_t)e->size, &h, &avail);
    if (rc != 0)
        return rc;
    if (avail < e->size) {
        drop(e, FL_DROP_TORN_TAIL);
        e->tolerable = 1;
        e->framed = 0;
        return 0;
    }
    e->at = h;
    if (!crc_ok(h, &e->r)) {
        drop(e, FL_DROP_CHECKSUM);
        return 0;
    }
    examine_valid(s, e);
    return 0;
}

/* ---- scanner: report --------------------------------------------------- */

static void note(scanner *s, uint64_t off, const char *what)
{
    if (s->errbuf == NULL || s->errlen == 0 || s->errbuf[0] != '\0')
        return;
    snprintf(s->errbuf, s->errlen, "offset %llu: %s", (unsigned long long)off, what);
}

static void add_drop(scanner *s, uint64_t off, uint64_t len, uint64_t first, uint64_t last,
                     int reason)
{
    fl_scan_report *rep = s->rep;
    if (rep->drops_len < FL_SCAN_MAX_DROPS) {
        fl_scan_drop *d = &rep->drops[rep->drops_len++];
        d->offset = off;
        d->length = len;
        d->first_recno = first;
        d->last_recno = last;
        d->reason = reason;
    }
    rep->drops_total++;
    rep->damaged = 1;
    rep->bytes_dropped += len;
    note(s, off, fl_drop_reason_name(reason));
}

/* Salvage: the first offset >= from holding a whole valid record whose chain
 * number is not below the expected one; *found = 0 when none before EOF.
 * Candidates are the offsets whose salt field (bytes 24..31) holds this
 * segment's salt, found with memmem over the window. */
static int resync(scanner *s, uint64_t from, uint64_t *at, int *found)
{
    uint8_t salt_be[8];
    fl_store_be64(salt_be, s->salt);
    *found = 0;
    for (uint64_t q = from;;) {
        const uint8_t *p;
        size_t avail;
        int rc = win(s, q, s->chunk, &p, &avail);
        if (rc != 0)
            return rc;
        if (avail < HDR) /* end of file is now known */
            return find_eof(s, q, at);
        /* a candidate i in [0, avail - HDR] has its salt at p + i + 24 */
        const uint8_t *hit = memmem(p + 24, avail - 24, salt_be, sizeof salt_be);
        if (hit == NULL) {
            q += avail - HDR + 1;
            continue;
        }
        uint64_t c = q + (uint64_t)(hit - p) - 24;
        exam e;
        rc = examine(s, c, 1, &e);
        if (rc != 0)
            return rc;
        if (e.crc_ok && e.chain >= s->expected) {
            *at = c;
            *found = 1;
            return 0;
        }
        q = c + 1;
    }
}

/* Salvage one damaged region at `off`; returns the offset to continue at. */
static int salvage(scanner *s, uint64_t off, const exam *e, uint64_t *next)
{
    uint64_t from = e->framed ? off + e->size : off + 1;
    uint64_t at;
    int found;
    int rc = resync(s, from, &at, &found);
    if (rc != 0)
        return rc;
    uint64_t first = 0, last = 0;
    if (!found) {
        first = s->expected;
    } else {
        exam c;
        rc = examine(s, at, 1, &c);
        if (rc != 0)
            return rc;
        if (c.chain > s->expected) {
            first = s->expected;
            last = c.chain - 1;
            s->expected = c.chain; /* the gap is part of this region */
        }
    }
    add_drop(s, off, at - off, first, last, e->reason);
    *next = at;
    return 0;
}

static void accept(scanner *s, uint64_t off, const exam *e)
{
    s->rep->end_offset = off + e->size;
    if (e->v == V_SEAL) {
        s->expected = e->chain; /* the seal does not consume a number */
        return;
    }
    s->expected = e->chain + 1;
    s->rep->last_recno = e->r.recno;
}

/* Everything after a valid seal is dropped. */
static int after_seal(scanner *s, uint64_t off, int *bad)
{
    uint64_t end;
    int rc = find_eof(s, off, &end);
    if (rc != 0 || end <= off)
        return rc;
    if (s->recycled) {
        s->rep->stale_bytes = end - off; /* an older generation's bytes */
        return 0;
    }
    add_drop(s, off, end - off, 0, 0, FL_DROP_AFTER_SEAL);
    *bad = 1;
    return 0;
}

/* Recycled segment: the end of the last valid record with this segment's
 * salt (and a chain number not below the expected one) at or after `from`;
 * `from` itself when there is none. What follows is an older generation's. */
static int own_extent(scanner *s, uint64_t from, uint64_t *end)
{
    *end = from;
    for (uint64_t q = from;;) {
        uint64_t at;
        int found;
        int rc = resync(s, q, &at, &found);
        if (rc != 0 || !found)
            return rc;
        exam e;
        rc = examine(s, at, 1, &e);
        if (rc != 0)
            return rc;
        *end = at + e.size;
        q = *end;
    }
}

/* Handle damage outside salvage: drop [off, EOF) and stop (in a recycled
 * segment [off, end of the last record of this segment): the rest is
 * stale). */
static int stop_at(scanner *s, uint64_t off, const exam *e, int *bad)
{
    uint64_t end;
    int rc = find_eof(s, off, &end);
    if (rc != 0)
        return rc;
    if (s->recycled) {
        uint64_t file_end = end;
        rc = own_extent(s, e->framed ? off + e->size : off + 1, &end);
        if (rc != 0)
            return rc;
        if (end > file_end)
            end = file_end;
        s->rep->stale_bytes = file_end > end ? file_end - end : 0;
    }
    uint64_t first = s->expected, last = 0;
    if (e->reason == FL_DROP_RECNO_GAP && e->chain > s->expected)
        last = e->chain - 1;
    add_drop(s, off, end > off ? end - off : 0, first, last, e->reason);
    if (!e->tolerable || s->opts->mode != FL_RECOVERY_TOLERATE_TORN_TAIL)
        *bad = 1;
    return 0;
}

/* Recycled segment, damage at `off`: whether anything of this segment
 * follows, i.e. a valid record with its salt (the one at `off` itself, or
 * one starting later with a chain number not below the expected one). */
static int own_record_after(scanner *s, uint64_t off, const exam *e, int *later)
{
    if (e->crc_ok && e->chain >= s->expected) {
        *later = 1;
        return 0;
    }
    uint64_t at;
    return resync(s, e->framed ? off + e->size : off + 1, &at, later);
}

/* Recycled segment: nothing of it follows `off`, so the data ends there and
 * the rest is stale. A record header of this segment at `off` whose record
 * does not verify was the last write, cut short: a torn tail of its own
 * length. */
static int stale_end(scanner *s, uint64_t off, const exam *e, int *bad)
{
    uint64_t end;
    int rc = find_eof(s, off, &end);
    if (rc != 0)
        return rc;
    uint64_t cut = off;
    if (e->own && !e->crc_ok) {
        uint64_t len = e->r.len <= s->max ? (uint64_t)HDR + e->r.len : HDR;
        cut = end - off < len ? end : off + len;
        add_drop(s, off, cut - off, s->expected, 0, FL_DROP_TORN_TAIL);
    } else if (e->v == V_DROP && e->reason == FL_DROP_CHECKSUM &&
               (e->r.salt == s->salt ||
                (e->r.recno + 1 >= s->expected && e->r.recno <= s->expected))) {
        /* The header CRC fails, but the salt is this segment's or the
         * record number is the one due here (or the seal's): the bytes of
         * an older generation carry another salt and older numbers, and a
         * write torn at a sector boundary that kept the salt kept every
         * byte before it, so this is the last record damaged in place (one
         * flipped bit leaves one of the two intact), not the end of the
         * data: reported as damage, never passed over as stale. */
        cut = end - off < HDR ? end : off + HDR;
        add_drop(s, off, cut - off, s->expected, 0, FL_DROP_CHECKSUM);
        s->rep->stale_bytes = end - cut;
        *bad = 1;
        return 0;
    }
    s->rep->stale_bytes = end - cut;
    return 0;
}

static int scan_records(scanner *s, fl_record_fn on_record, void *cb_arg, int *bad)
{
    uint64_t off = FL_SEG_HEADER_SIZE;
    for (;;) {
        exam e;
        int rc = examine(s, off, 0, &e);
        if (rc != 0)
            return rc;
        if (e.v == V_END)
            return 0;
        if (e.v == V_DATA) {
            fl_record rec = {off, e.r.recno, e.r.type, e.r.len, e.at + HDR};
            if (on_record != NULL && (rc = on_record(cb_arg, &rec)) != 0)
                return rc;
            s->rep->records_ok++;
        } else if (e.v == V_IGNORE) {
            s->rep->records_ignored++;
        }
        if (e.v != V_DROP) {
            accept(s, off, &e);
            if (e.v == V_SEAL) {
                s->rep->sealed = 1;
                return after_seal(s, off + e.size, bad);
            }
            off += e.size;
            continue;
        }
        if (s->recycled) {
            int later = 0;
            rc = own_record_after(s, off, &e, &later);
            if (rc != 0)
                return rc;
            if (!later)
                return stale_end(s, off, &e, bad);
        }
        if (s->opts->mode != FL_RECOVERY_SALVAGE)
            return stop_at(s, off, &e, bad);
        if (e.reason == FL_DROP_RECNO_GAP && e.chain > s->expected) {
            /* A whole valid record after a jump: report the gap, take it. */
            add_drop(s, off, 0, s->expected, e.chain - 1, FL_DROP_RECNO_GAP);
            s->expected = e.chain;
            continue;
        }
        rc = salvage(s, off, &e, &off);
        if (rc != 0)
            return rc;
    }
}

static int scan_header(scanner *s)
{
    const uint8_t *p;
    size_t avail;
    int rc = win(s, 0, FL_SEG_HEADER_SIZE, &p, &avail);
    if (rc != 0)
        return rc;
    rc = fl_seg_header_decode(p, avail, &s->rep->header);
    if (rc != 0) {
        note(s, 0, rc == FL_E_TRUNCATED ? "segment header incomplete" : fl_strerror(rc));
        return rc;
    }
    s->rep->header_ok = 1;
    s->recycled =
        (s->rep->header.flags & FL_SEG_FLAG_RECYCLED) != 0 && s->opts->mode != FL_RECOVERY_STRICT;
    s->rep->recycled = s->recycled;
    s->salt = s->rep->header.salt;
    s->first_recno = s->rep->header.first_recno;
    s->expected = s->first_recno;
    s->rep->last_recno = s->first_recno - 1;
    s->rep->end_offset = FL_SEG_HEADER_SIZE;
    return 0;
}

int fl_seg_scan(fl_seg_read_fn read, void *read_arg, const fl_scan_opts *opts,
                fl_record_fn on_record, void *cb_arg, fl_scan_report *report, char *errbuf,
                size_t errlen)
{
    static const fl_scan_opts defaults = FL_SCAN_OPTS_INIT;
    if (opts == NULL)
        opts = &defaults;
    if (read == NULL || report == NULL || opts->version == 0 ||
        (unsigned)opts->mode > FL_RECOVERY_SALVAGE)
        return FL_E_INVAL;
    memset(report, 0, sizeof *report);
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    scanner s = {0};
    s.read = read;
    s.read_arg = read_arg;
    s.chunk = opts->read_chunk == 0 ? DEFAULT_CHUNK : opts->read_chunk;
    if (s.chunk < MIN_CHUNK)
        s.chunk = MIN_CHUNK;
    s.max = effective_max(opts->max_payload);
    s.opts = opts;
    s.rep = report;
    s.errbuf = errbuf;
    s.errlen = errlen;

    int bad = 0;
    int rc = scan_header(&s);
    if (rc == 0)
        rc = scan_records(&s, on_record, cb_arg, &bad);
    if (rc == 0 && opts->expect_sealed && !report->sealed) {
        add_drop(&s, report->end_offset, 0, s.expected, 0, FL_DROP_MISSING_SEAL);
        bad = 1;
    }
    report->next_recno = s.expected;
    /* A scan that stopped at damage has not seen the end of the file; the
     * report's file_size is the whole file (callers quarantine and truncate
     * by it), so read on to the end. A read error here leaves what is known. */
    if (!s.eof) {
        uint64_t end;
        (void)find_eof(&s, s.boff + s.blen, &end);
    }
    report->file_size = s.eof ? s.eof_off : s.boff + s.blen;
    free(s.buf);
    if (rc != 0)
        return rc;
    if (bad && opts->mode != FL_RECOVERY_POINT_IN_TIME && opts->mode != FL_RECOVERY_SALVAGE)
        return FL_E_DAMAGED;
    return 0;
}
