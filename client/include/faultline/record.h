/* The segment record format shared by the broker journal and the file stores,
 * and its recovery scanner.
 *
 * A segment file is a fixed 64-byte header followed by records. All integers
 * are big-endian.
 *
 * Segment header (FL_SEG_HEADER_SIZE = 64 bytes):
 *     0  magic            8   "FLSEGv1\0"
 *     8  version          u16 FL_SEG_VERSION
 *    10  kind             u16 FL_SEG_KIND_* (never 0)
 *    12  flags            u32 FL_SEG_FLAG_*; other bits must be zero (this
 *                           field was "reserved, zero" before recycling,
 *                           so every older header reads as flags 0)
 *    16  segment_id       u64 never 0 (0 means "no segment")
 *    24  salt             u64 random, drawn by the caller from the runtime PRNG
 *    32  prev_segment_id  u64 predecessor's id, 0 for the first segment ever
 *    40  prev_last_recno  u64 last record number of the predecessor
 *    48  first_recno      u64 number of this segment's first record (>= 1)
 *    56  reserved         u32 zero
 *    60  header_crc       u32 masked CRC32C of bytes 0..59
 * A chain of segments is checkable: next.prev_segment_id == prev.segment_id,
 * next.prev_last_recno == last record of prev, next.first_recno ==
 * next.prev_last_recno + 1 (see fl_seg_chain_check).
 *
 * Record (FL_RECORD_HEADER_SIZE = 32 bytes, then the payload):
 *     0  crc       u32 masked CRC32C of bytes 4..31 and the payload
 *     4  hcrc      u32 masked CRC32C of bytes 8..31 (the header alone, so a
 *                      damaged length is caught before it is trusted)
 *     8  length    u32 payload bytes, <= the caller's maximum
 *    12  type      u16 0 is reserved (zeroed / preallocated space, never
 *                      valid); FL_REC_SAFE_TO_IGNORE is the high bit
 *    14  reserved  u16 zero
 *    16  recno     u64 gapless: each data record is the previous one + 1
 *    24  salt      u64 the segment's salt, so bytes left over from an older
 *                      segment or a reused file never validate
 *
 * The SEAL record (type FL_REC_SEAL) is the last record of a finished
 * segment. It does not consume a record number: its recno field repeats the
 * last data record's number (first_recno - 1 for an empty segment) and its
 * 16-byte payload holds the data-record count (u64) and the last record
 * number (u64). Because of the seal, a segment cut exactly at a record
 * boundary is detectable when the caller knows it must be sealed
 * (opts.expect_sealed, e.g. every segment but the newest). In an unsealed
 * segment such a cut is indistinguishable from a segment that simply ended
 * there: nothing in the bytes says more records were written.
 *
 * Types 1..15 are reserved for the format (only SEAL is defined); callers use
 * FL_REC_TYPE_USER_MIN..0x7fff, optionally with FL_REC_SAFE_TO_IGNORE.
 *
 * Recycled segments (FL_SEG_FLAG_RECYCLED): a segment written over the file
 * of an older, deleted segment (seglog's `recycle` option) is not truncated
 * first, so after its last record (or its seal) the file still holds the
 * older generation's bytes. Those bytes carry another salt (seglog draws
 * again when the new one equals the old) and older record numbers, so they
 * never validate as this segment's records; the scanner treats the first position
 * that is not a good record as the clean end of the data ("stale" bytes,
 * counted in fl_scan_report.stale_bytes, not dropped) unless a valid record
 * with this segment's salt and a chain number not below the expected one
 * starts anywhere after it, in which case it is damage in the middle and the
 * mode applies as for any segment. A last record whose header is this
 * segment's but whose checksum fails, with nothing of the segment after it,
 * is reported as a torn tail of its own length (its write was cut short and
 * the rest of its bytes are stale), so tolerate_torn_tail accepts it. A
 * last record (or seal) whose header CRC fails but whose salt or record
 * number is the one due there (one flipped bit leaves one of them intact) is
 * damage in place: a checksum drop of its header, which tolerate_torn_tail
 * refuses. STRICT ignores the flag: it cannot tell a torn or damaged last
 * record from stale bytes, so it refuses a recycled segment with anything
 * after its data. seglog recycles only under point_in_time and salvage.
 */
#ifndef FAULTLINE_RECORD_H
#define FAULTLINE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- segment header ---------------------------------------------------- */

#define FL_SEG_MAGIC       "FLSEGv1\0" /* 8 bytes including the NUL */
#define FL_SEG_MAGIC_LEN   8
#define FL_SEG_VERSION     1
#define FL_SEG_HEADER_SIZE 64

enum fl_seg_kind {
    FL_SEG_KIND_JOURNAL = 1,        /* broker journal */
    FL_SEG_KIND_PUBLISH_STORE = 2,  /* client file publish store */
    FL_SEG_KIND_BOOKMARK_STORE = 3, /* client file bookmark store */
    FL_SEG_KIND_TEST = 0x7fff       /* tests, fuzz corpora, benchmarks */
};

typedef struct fl_seg_header {
    uint16_t version; /* filled by decode; encode always writes FL_SEG_VERSION */
    uint16_t kind;
    uint64_t segment_id;
    uint64_t salt;
    uint64_t prev_segment_id;
    uint64_t prev_last_recno;
    uint64_t first_recno;
    uint32_t flags; /* FL_SEG_FLAG_* */
} fl_seg_header;

#define FL_SEG_FLAG_RECYCLED 0x1u /* written over an older segment's file */
#define FL_SEG_FLAGS_KNOWN   FL_SEG_FLAG_RECYCLED

/* Encode `h` into out[0..FL_SEG_HEADER_SIZE). Returns 0, or FL_E_INVAL when
 * cap < FL_SEG_HEADER_SIZE, kind == 0, segment_id == 0, first_recno == 0 or
 * flags outside FL_SEG_FLAGS_KNOWN. */
int fl_seg_header_encode(const fl_seg_header *h, uint8_t *out, size_t cap);

/* Decode the header at the start of buf[0..len). Returns 0 and fills *h, or:
 * FL_E_TRUNCATED (len < FL_SEG_HEADER_SIZE), FL_E_BAD_MAGIC, FL_E_BAD_VERSION
 * (a version other than ours: a future format, or damage in that field),
 * FL_E_CHECKSUM (header CRC mismatch), FL_E_CORRUPT (CRC fine but a field is
 * impossible: kind 0, id 0, first_recno 0, unknown flags, non-zero reserved
 * bytes). *h is
 * untouched on failure. */
int fl_seg_header_decode(const uint8_t *buf, size_t len, fl_seg_header *h);

/* Check that `next` directly follows `prev` whose last record number is
 * `prev_last_recno`: same kind, next.prev_segment_id == prev.segment_id,
 * next.prev_last_recno == prev_last_recno, next.first_recno ==
 * prev_last_recno + 1. Returns 0 or FL_E_CORRUPT (detail into errbuf when
 * errbuf != NULL). */
int fl_seg_chain_check(const fl_seg_header *prev, uint64_t prev_last_recno,
                       const fl_seg_header *next, char *errbuf, size_t errlen);

/* ---- records ----------------------------------------------------------- */

#define FL_RECORD_HEADER_SIZE 32
#define FL_RECORD_MAX_PAYLOAD (64u * 1024 * 1024) /* hard limit of the format */
#define FL_RECORD_DEFAULT_MAX (1u * 1024 * 1024)  /* scan default when max is 0 */
#define FL_REC_SAFE_TO_IGNORE 0x8000u
#define FL_REC_TYPE_ZERO      0u /* reserved: never valid */
#define FL_REC_SEAL           1u
#define FL_REC_TYPE_USER_MIN  16u
#define FL_REC_TYPE_MAX       0xffffu
#define FL_SEAL_PAYLOAD_SIZE  16
#define FL_SEAL_RECORD_SIZE   (FL_RECORD_HEADER_SIZE + FL_SEAL_PAYLOAD_SIZE)

/* Bytes one record with a `payload_len`-byte payload occupies. */
size_t fl_record_size(uint32_t payload_len);

/* Encode one record into out[0..fl_record_size(len)). Returns 0 on success.
 * Errors: FL_E_INVAL (cap too small, type 0 or
 * with only the SAFE_TO_IGNORE bit, type > 0xffff, recno 0 or UINT64_MAX,
 * payload NULL with len > 0), FL_E_FRAME_TOO_LARGE (len >
 * FL_RECORD_MAX_PAYLOAD). SEAL records should be written with
 * fl_record_encode_seal. */
int fl_record_encode(uint8_t *out, size_t cap, uint64_t salt, uint64_t recno, unsigned type,
                     const void *payload, uint32_t len);

/* Encode the SEAL record of a segment whose first record number is
 * `first_recno` and whose last data record is `last_recno` (first_recno - 1
 * when it holds none). Needs cap >= FL_SEAL_RECORD_SIZE. 0 or FL_E_INVAL. */
int fl_record_encode_seal(uint8_t *out, size_t cap, uint64_t salt, uint64_t first_recno,
                          uint64_t last_recno);

/* One good record, as yielded by the scanner or fl_record_decode. */
typedef struct fl_record {
    uint64_t offset;        /* byte offset of the record in the segment file */
    uint64_t recno;         /* record number */
    unsigned type;          /* full type, including FL_REC_SAFE_TO_IGNORE */
    uint32_t len;           /* payload length */
    const uint8_t *payload; /* borrowed: valid only during the callback / while
                               the decoded buffer lives */
} fl_record;

/* Decode the single record at buf[0..len) written with `salt`, accepting
 * payloads up to max_payload (0: FL_RECORD_DEFAULT_MAX). On success fills
 * *rec (offset 0, payload pointing into buf) and returns 0. Errors:
 * FL_E_TRUNCATED (fewer bytes than the header or the header's length needs),
 * FL_E_CHECKSUM (header or record CRC), FL_E_CORRUPT (salt mismatch, type 0,
 * reserved bits), FL_E_FRAME_TOO_LARGE (length above max). Type semantics
 * (seal, unknown types) are left to the caller. */
int fl_record_decode(const uint8_t *buf, size_t len, uint64_t salt, uint32_t max_payload,
                     fl_record *rec);

/* ---- recovery modes ---------------------------------------------------- */

typedef enum fl_recovery_mode {
    FL_RECOVERY_POINT_IN_TIME = 0,      /* default: stop at the first damage */
    FL_RECOVERY_STRICT = 1,             /* any damage fails the scan */
    FL_RECOVERY_TOLERATE_TORN_TAIL = 2, /* only an incomplete/zeroed tail is dropped */
    FL_RECOVERY_SALVAGE = 3             /* skip damage, resync, continue */
} fl_recovery_mode;

/* "strict", "tolerate_torn_tail", "point_in_time", "salvage" -> mode.
 * 0 or FL_E_INVAL (*out untouched). */
int fl_recovery_mode_parse(const char *s, fl_recovery_mode *out);

/* The mode's name as accepted by fl_recovery_mode_parse; "unknown" otherwise. */
const char *fl_recovery_mode_name(fl_recovery_mode mode);

/* ---- scanner ----------------------------------------------------------- */

/* Why a region of a segment was dropped. */
typedef enum fl_drop_reason {
    FL_DROP_TORN_TAIL = 1, /* last record incomplete at end of file */
    FL_DROP_CHECKSUM,      /* header or record CRC mismatch */
    FL_DROP_BAD_LENGTH,    /* valid header, length above the maximum */
    FL_DROP_BAD_TYPE,      /* type 0, reserved bits, or unknown type without
                              FL_REC_SAFE_TO_IGNORE */
    FL_DROP_RECNO_GAP,     /* record number not previous + 1 */
    FL_DROP_STALE_SALT,    /* a valid record of another segment (other salt) */
    FL_DROP_ZEROED,        /* all-zero bytes (preallocated / zeroed sector) */
    FL_DROP_BAD_SEAL,      /* seal payload inconsistent with the records */
    FL_DROP_MISSING_SEAL,  /* opts.expect_sealed but no seal (length 0 region) */
    FL_DROP_AFTER_SEAL     /* bytes after the seal */
} fl_drop_reason;

/* "torn_tail", "checksum", ... ; "unknown" for other values. */
const char *fl_drop_reason_name(int reason);

typedef struct fl_scan_drop {
    uint64_t offset;      /* first dropped byte */
    uint64_t length;      /* dropped bytes (0 for a pure record-number gap or a
                             missing seal) */
    uint64_t first_recno; /* record numbers the region is believed to have held; */
    uint64_t last_recno;  /* 0 when unknown */
    int reason;           /* fl_drop_reason */
} fl_scan_drop;

#define FL_SCAN_MAX_DROPS 16

typedef struct fl_scan_report {
    fl_seg_header header; /* valid when header_ok */
    int header_ok;
    uint64_t records_ok;      /* data records yielded to the callback */
    uint64_t records_ignored; /* valid unknown SAFE_TO_IGNORE records skipped */
    uint64_t last_recno;      /* last accepted record number (first_recno - 1 if none) */
    uint64_t next_recno;      /* number the next appended record must carry */
    uint64_t end_offset;      /* end of the last good record (or of the header,
                                 or of the seal): where appends continue and
                                 where a damaged tail is truncated */
    uint64_t file_size;       /* size of the file (read to its end even when the
                                 scan stopped at damage early) */
    int sealed;               /* a valid seal was found */
    int damaged;              /* drops_total > 0 */
    uint64_t bytes_dropped;
    uint64_t drops_total; /* may exceed drops_len */
    size_t drops_len;     /* entries in drops[] (first FL_SCAN_MAX_DROPS) */
    fl_scan_drop drops[FL_SCAN_MAX_DROPS];
    int recycled;         /* the header has FL_SEG_FLAG_RECYCLED (and the mode
                             is not STRICT): stale bytes end the data */
    uint64_t stale_bytes; /* bytes at the end of a recycled segment that are
                             an older generation's, not dropped: the data
                             ends at file_size - stale_bytes */
} fl_scan_report;

/* Read up to len bytes at `off` into buf; *nread < len only at end of file.
 * Returns 0 or a negative FL_E code (the scan stops and returns it). The
 * runtime's file_read has this shape once bound to its file. */
typedef int (*fl_seg_read_fn)(void *arg, uint64_t off, void *buf, size_t len, size_t *nread);

/* Called for each good data record, in file order. Return 0 to go on; any
 * other value stops the scan, which then returns that value. */
typedef int (*fl_record_fn)(void *arg, const fl_record *rec);

/* Optional: non-zero when the caller understands `type` (the full type,
 * including FL_REC_SAFE_TO_IGNORE). NULL means every type >=
 * FL_REC_TYPE_USER_MIN is understood. */
typedef int (*fl_known_type_fn)(void *arg, unsigned type);

#define FL_SCAN_OPTS_VERSION 1

typedef struct fl_scan_opts {
    unsigned version; /* FL_SCAN_OPTS_VERSION */
    fl_recovery_mode mode;
    uint32_t max_payload;        /* 0: FL_RECORD_DEFAULT_MAX; capped at FL_RECORD_MAX_PAYLOAD */
    int expect_sealed;           /* the segment must end with a seal */
    fl_known_type_fn known_type; /* may be NULL */
    void *known_type_arg;
    size_t read_chunk; /* bytes per read call; 0: 64 KiB */
} fl_scan_opts;

#define FL_SCAN_OPTS_INIT                                                                          \
    {                                                                                              \
        FL_SCAN_OPTS_VERSION, FL_RECOVERY_POINT_IN_TIME, 0, 0, NULL, NULL, 0                       \
    }

/* Scan one segment file through `read`, incrementally (memory use is about
 * read_chunk + one record, never the whole file; a record's length is checked
 * against max_payload before any byte of its payload is read or allocated).
 *
 * Yields every good data record through on_record (may be NULL); never yields
 * a damaged record, a seal, or an unknown SAFE_TO_IGNORE record. Fills
 * *report (always, as far as the scan got; it is zeroed first).
 *
 * Modes:
 *  - POINT_IN_TIME: stop at the first damage; everything from there to end of
 *    file is one dropped region. Returns 0.
 *  - STRICT: like POINT_IN_TIME but any drop (including a torn tail, a zeroed
 *    tail and a missing seal) returns FL_E_DAMAGED.
 *  - TOLERATE_TORN_TAIL: like POINT_IN_TIME; returns 0 when the only drop is
 *    an incomplete last record (too few bytes for its header or payload) or
 *    an all-zero tail, FL_E_DAMAGED for anything else (a CRC mismatch in the
 *    last record, stale salt, a missing seal...).
 *  - SALVAGE: skip damage and continue with the next valid record found by
 *    scanning forward byte by byte (a candidate must pass the header CRC,
 *    salt, length, record CRC and have a record number above the last one
 *    accepted); a record-number jump is reported as a gap. Returns 0.
 * In STRICT and TOLERATE modes records before the damage have already been
 * yielded when FL_E_DAMAGED is returned: the caller must discard them.
 *
 * Other returns: a bad segment header fails in every mode with
 * fl_seg_header_decode's code (FL_E_TRUNCATED for a file shorter than the
 * header, e.g. a creation that was torn; the caller decides), FL_E_INVAL for
 * bad arguments, FL_E_NOMEM, the read callback's error, or on_record's
 * non-zero value. A one-line detail of the first problem (with its byte
 * offset) goes into errbuf when errbuf != NULL. */
int fl_seg_scan(fl_seg_read_fn read, void *read_arg, const fl_scan_opts *opts,
                fl_record_fn on_record, void *cb_arg, fl_scan_report *report, char *errbuf,
                size_t errlen);

/* A read callback over memory, for tests and in-memory segments:
 * fl_seg_mem m = {data, len}; fl_seg_scan(fl_seg_mem_read, &m, ...). */
typedef struct fl_seg_mem {
    const uint8_t *data;
    size_t len;
} fl_seg_mem;

int fl_seg_mem_read(void *arg, uint64_t off, void *buf, size_t len, size_t *nread);

#ifdef __cplusplus
}
#endif
#endif
