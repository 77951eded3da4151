/*
 * Result codes shared by every ccdialer module.
 *
 * Functions return 0 on success or one of the negative CCD_E* codes below; a
 * system call failure may also be returned as -errno when that tells the caller
 * more (ccd_strerror() understands both).  Parsers use CCD_EAGAIN for "need
 * more bytes", which is not an error, so it is kept apart from CCD_EPROTO.
 */
#ifndef CCD_CORE_ERR_H
#define CCD_CORE_ERR_H

#define CCD_OK 0
/* Codes live below -1000 so they never collide with -errno values. */
#define CCD_ERR (-1001)       /* unspecified failure (logged where it happened) */
#define CCD_EAGAIN (-1002)    /* incomplete input or nothing available yet */
#define CCD_EPROTO (-1003)    /* the peer broke the protocol */
#define CCD_EFULL (-1004)     /* a bounded queue or buffer is full */
#define CCD_ECLOSED (-1005)   /* the queue/connection is shut down */
#define CCD_ETIMEDOUT (-1006) /* no answer within the allotted time */
#define CCD_ENOMEM (-1007)    /* allocation failed */
#define CCD_EINVAL (-1008)    /* invalid argument or value */
#define CCD_ENOTFOUND (-1009) /* no such object */
#define CCD_EIO (-1010)       /* I/O failure on a socket, file or database */
#define CCD_ETOOBIG (-1011)   /* input exceeds a configured bound */
#define CCD_EEXIST (-1012)    /* the object already exists */
#define CCD_EBUSY (-1013)     /* try again later: resource is temporarily unavailable */

/* Size of the error-text buffers that functions fill for a human reader. */
#define CCD_ERR_LEN 256

/* Returns a static, human-readable description of a CCD_E* code or -errno. */
const char *ccd_strerror(int code);

#endif
