/* Error code table: messages and names generated from FL_ERRNO_MAP. */
#include "faultline/error.h"

#include <errno.h>

const char *fl_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define FL__ERR_MSG(name, value, msg)                                                              \
    case value:                                                                                    \
        return msg;
        FL_ERRNO_MAP(FL__ERR_MSG)
#undef FL__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *fl_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define FL__ERR_NAME(name, value, msg)                                                             \
    case value:                                                                                    \
        return #name;
        FL_ERRNO_MAP(FL__ERR_NAME)
#undef FL__ERR_NAME
    default:
        return "UNKNOWN";
    }
}

int fl_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return 0;
    case ENOMEM:
        return FL_E_NOMEM;
    case ENOSPC:
    case EDQUOT:
        return FL_E_NOSPC;
    case ENOENT:
        return FL_E_NOENT;
    case EEXIST:
        return FL_E_EXIST;
    case EINVAL:
        return FL_E_INVAL;
    case ETIMEDOUT:
        return FL_E_TIMEOUT;
    case ECONNREFUSED:
        return FL_E_REFUSED;
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
        return FL_E_DISCONNECTED;
    case EAGAIN:
        return FL_E_AGAIN;
    case EBUSY:
        return FL_E_BUSY;
    default:
        return FL_E_IO;
    }
}
