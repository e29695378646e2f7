/* faultline error codes.
 *
 * Every fallible call in faultline returns an int: 0 for success, or one of
 * the negative FL_E... codes below. The table is a single X-macro so the
 * enum, fl_strerror() and fl_err_name() can never drift apart. Codes are
 * stable: new ones are appended, never renumbered.
 */
#ifndef FAULTLINE_ERROR_H
#define FAULTLINE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, "message") */
#define FL_ERRNO_MAP(X)                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(AGAIN, -3, "need more input")                                                                \
    X(BAD_FRAME, -4, "malformed frame")                                                            \
    X(FRAME_TOO_LARGE, -5, "frame exceeds the maximum size")                                       \
    X(UNKNOWN_COMMAND, -6, "unknown command")                                                      \
    X(UNKNOWN_FIELD, -7, "unknown field type")                                                     \
    X(DUPLICATE_FIELD, -8, "field appears twice")                                                  \
    X(TRUNCATED, -9, "truncated field")                                                            \
    X(MISSING_FIELD, -10, "required field missing")                                                \
    X(BAD_BOOKMARK, -11, "malformed bookmark")                                                     \
    X(BAD_RANGE, -12, "malformed bookmark range")                                                  \
    X(BAD_TIMESTAMP, -13, "malformed timestamp")                                                   \
    X(CHECKSUM, -14, "checksum mismatch")                                                          \
    X(TORN_RECORD, -15, "torn or incomplete record")                                               \
    X(CORRUPT, -16, "corrupt data")                                                                \
    X(BAD_MAGIC, -17, "not a faultline file (bad magic)")                                          \
    X(BAD_VERSION, -18, "unsupported format version")                                              \
    X(IO, -19, "I/O error")                                                                        \
    X(NOSPC, -20, "no space left on device")                                                       \
    X(NOENT, -21, "no such file")                                                                  \
    X(EXIST, -22, "file exists")                                                                   \
    X(TIMEOUT, -23, "timed out")                                                                   \
    X(DISCONNECTED, -24, "disconnected")                                                           \
    X(REFUSED, -25, "connection refused")                                                          \
    X(DUPLICATE, -26, "duplicate")                                                                 \
    X(NOT_ENTITLED, -27, "not entitled")                                                           \
    X(BOOKMARK_EXPIRED, -28, "bookmark expired")                                                   \
    X(INVALID_BOOKMARK, -29, "invalid bookmark")                                                   \
    X(AUTH, -30, "authentication failed")                                                          \
    X(LOGON_REFUSED, -31, "logon refused")                                                         \
    X(GAVE_UP, -32, "gave up reconnecting")                                                        \
    X(FULL, -33, "store full")                                                                     \
    X(CLOSED, -34, "handle closed")                                                                \
    X(STATE, -35, "operation not valid in this state")                                             \
    X(SYNC_FAILED, -36, "sync failed; handle must be reopened")                                    \
    X(UNSUPPORTED, -37, "unsupported")                                                             \
    X(OVERFLOW, -38, "value out of range")                                                         \
    X(NOT_FOUND, -39, "not found")                                                                 \
    X(SCENARIO, -40, "invalid scenario")                                                           \
    X(PLUGIN, -41, "plugin error")                                                                 \
    X(SHUTDOWN, -42, "shut down")                                                                  \
    X(DAMAGED, -43, "damaged data refused by recovery mode")                                       \
    X(BUSY, -44, "resource busy")

typedef enum fl_err {
    FL_OK = 0,
#define FL__ERR_ENUM(name, value, msg) FL_E_##name = (value),
    FL_ERRNO_MAP(FL__ERR_ENUM)
#undef FL__ERR_ENUM
} fl_err;

/* A human-readable message for an error code. Never NULL; unknown codes give
 * "unknown error". 0 gives "success". */
const char *fl_strerror(int err);

/* The symbolic name without prefix ("BAD_FRAME"), "OK" for 0, "UNKNOWN"
 * for unknown codes. Never NULL. */
const char *fl_err_name(int err);

/* Map an errno value (positive) to the closest FL_E code. */
int fl_err_from_errno(int errnum);

#ifdef __cplusplus
}
#endif
#endif
