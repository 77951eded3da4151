/*
 * Byte slices and a growable, bounded byte buffer.
 *
 * A ccd_str_t points into memory someone else owns (usually a connection's
 * input buffer) and is valid only until that owner next changes it; it never
 * crosses a thread.  A buf_t owns its memory; buf_free() releases it.
 */
#ifndef CCD_CORE_BUF_H
#define CCD_CORE_BUF_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct ccd_str {
    const char *p;
    size_t len;
} ccd_str_t;

#define CCD_STR_LIT(s) ((ccd_str_t){(s), sizeof(s) - 1})

static inline ccd_str_t ccd_str(const char *s)
{
    return (ccd_str_t){s, s ? strlen(s) : 0};
}

static inline bool ccd_str_eq(ccd_str_t a, ccd_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Case-insensitive ASCII comparison (AMI header names are case-insensitive). */
bool ccd_str_ieq(ccd_str_t a, ccd_str_t b);

/* Copies s into dst (size dstsz, always NUL-terminated); returns 0 or CCD_ETOOBIG
 * when it had to cut. */
int ccd_str_copy(char *dst, size_t dstsz, ccd_str_t s);

/* Returns a malloc'ed NUL-terminated copy (caller frees), or NULL. */
char *ccd_str_dup(ccd_str_t s);

typedef struct buf {
    char *data;
    size_t len; /* bytes in use, starting at data[off] */
    size_t off; /* consumed prefix not yet compacted */
    size_t cap;
    size_t max; /* hard bound on len; 0 = unbounded */
} buf_t;

/* Initialises an empty buffer that will refuse to hold more than max bytes. */
void buf_init(buf_t *b, size_t max);

/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_free(buf_t *b);

/* Start of the unconsumed bytes. */
static inline char *buf_data(const buf_t *b)
{
    return b->data ? b->data + b->off : NULL;
}

/* Appends n bytes; returns 0, CCD_ETOOBIG (over max, nothing appended) or CCD_ENOMEM. */
int buf_append(buf_t *b, const void *p, size_t n);

/* Appends a formatted string; same returns as buf_append. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_printf for a caller that takes its own variable arguments (ap is used up). */
int buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Makes room for at least n more bytes and returns where to write them (for
 * read(2) straight into the buffer); call buf_commit() with what was written.
 * Returns NULL when n would take the length past max + 1 (one byte of slack
 * so a NUL can follow full data) or memory is short.
 */
char *buf_reserve(buf_t *b, size_t n);
void buf_commit(buf_t *b, size_t n);

/* Drops n bytes from the front (cheap: moves an offset, compacts lazily). */
void buf_consume(buf_t *b, size_t n);

/* Empties the buffer without freeing its memory. */
void buf_reset(buf_t *b);

/*
 * A string built in a caller's fixed array, for code that must not allocate: each append
 * that does not fit whole sets overflow and is dropped, as is every append after it, so the
 * caller checks once at the end.  The array always holds a NUL-terminated string.
 */
typedef struct ccd_sbuf {
    char *p;
    size_t len, cap;
    bool overflow;
} ccd_sbuf_t;

/* cap >= 1. */
void ccd_sbuf_init(ccd_sbuf_t *b, char *p, size_t cap);
void ccd_sbuf_printf(ccd_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
