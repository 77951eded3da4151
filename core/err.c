/* Text for the result codes of err.h. */
#include "core/err.h"

#include <string.h>

const char *ccd_strerror(int code)
{
    switch (code) {
    case CCD_OK: return "success";
    case CCD_ERR: return "failure";
    case CCD_EAGAIN: return "incomplete, try again";
    case CCD_EPROTO: return "protocol error";
    case CCD_EFULL: return "queue or buffer full";
    case CCD_ECLOSED: return "closed";
    case CCD_ETIMEDOUT: return "timed out";
    case CCD_ENOMEM: return "out of memory";
    case CCD_EINVAL: return "invalid argument";
    case CCD_ENOTFOUND: return "not found";
    case CCD_EIO: return "I/O error";
    case CCD_ETOOBIG: return "too big";
    case CCD_EEXIST: return "already exists";
    case CCD_EBUSY: return "busy";
    default: break;
    }
    if (code < 0 && code > -4096) {
        /* strerror() is not thread-safe on every libc, but glibc returns static
         * strings for known values, which is all we pass here. */
        return strerror(-code);
    }
    return "unknown error";
}
