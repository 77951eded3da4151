/* Byte slices and buffers; see buf.h. */
#include "core/buf.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

bool ccd_str_ieq(ccd_str_t a, ccd_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

int ccd_str_copy(char *dst, size_t dstsz, ccd_str_t s)
{
    if (dstsz == 0)
        return CCD_ETOOBIG;
    size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
    return n == s.len ? 0 : CCD_ETOOBIG;
}

char *ccd_str_dup(ccd_str_t s)
{
    char *d = malloc(s.len + 1);
    if (!d)
        return NULL;
    if (s.len)
        memcpy(d, s.p, s.len);
    d[s.len] = '\0';
    return d;
}

void buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = b->off = b->cap = 0;
    b->max = max;
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->off = b->cap = 0;
}

void buf_reset(buf_t *b)
{
    b->len = b->off = 0;
}

char *buf_reserve(buf_t *b, size_t n)
{
    /* One byte of slack past max so a NUL terminator always fits after full data. */
    if (b->max && b->len + n > b->max + 1)
        return NULL;
    if (b->data && b->off + b->len + n <= b->cap)
        return b->data + b->off + b->len;
    /* Compact first: most connections consume what they read, so this avoids growth. */
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        if (b->len + n <= b->cap)
            return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1;
    char *d = realloc(b->data, cap);
    if (!d)
        return NULL;
    b->data = d;
    b->cap = cap;
    return b->data + b->len;
}

void buf_commit(buf_t *b, size_t n)
{
    b->len += n;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->max && b->len + n > b->max)
        return CCD_ETOOBIG;
    char *w = buf_reserve(b, n);
    if (!w)
        return CCD_ENOMEM;
    if (n)
        memcpy(w, p, n);
    b->len += n;
    return 0;
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int need = vsnprintf(NULL, 0, fmt, ap);
    int rc = 0;
    char *w = NULL;
    if (need < 0)
        rc = CCD_EINVAL;
    else if (b->max && b->len + (size_t)need > b->max)
        rc = CCD_ETOOBIG;
    else if (!(w = buf_reserve(b, (size_t)need + 1)))
        rc = CCD_ENOMEM;
    if (rc == 0) {
        vsnprintf(w, (size_t)need + 1, fmt, again);
        b->len += (size_t)need;
    }
    va_end(again);
    return rc;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void ccd_sbuf_init(ccd_sbuf_t *b, char *p, size_t cap)
{
    *b = (ccd_sbuf_t){p, 0, cap, false};
    p[0] = '\0';
}

void ccd_sbuf_printf(ccd_sbuf_t *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->overflow = true;
        b->p[b->len] = '\0'; /* what vsnprintf cut is dropped whole */
        return;
    }
    b->len += (size_t)n;
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = b->off = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}
