/*
 * The pacer's estimators as one line of text, and back (dl_pacer_export_estimates /
 * dl_pacer_seed_estimates).  Text rather than bytes: the line sits in a database row an admin
 * may read, it needs no byte order, and the database layer binds it as a string.
 *
 *   e1 N o K s:e:a ... t K ms ... w K ms ... c K ms ...
 *
 * e1 is the version; N the outcomes ever added; after o, K steps of the outcome weights
 * (step s = outcomes that took s-1 to s seconds; e = the weight of all of them, a = of those
 * answered, both relative to an outcome added at the export, which weighs 1); after t, w and
 * c, the K last talk, wrap-up and cycle times in ms, oldest first.  Tokens are separated by
 * one space; the reader accepts nothing else, since the row may have been edited by hand.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "dialer/dl_pacing_int.h"

/* Bounds on what the reader accepts: far above anything a campaign produces. */
#define MAX_OUTCOMES 1000000000000000ULL
#define MAX_WEIGHT 1e15
/* Weights below this (relative to a new outcome) are outcomes many hours old: left out. */
#define MIN_WEIGHT 1e-12

/* Oldest first: the ring's next slot holds the oldest once it is full. */
static void put_dist(ccd_sbuf_t *b, char tag, const dl__dist_t *d)
{
    ccd_sbuf_printf(b, " %c %d", tag, d->n);
    int first = d->n < DL__DUR_N ? 0 : d->next;
    for (int i = 0; i < d->n; i++)
        ccd_sbuf_printf(b, " %d", (int)d->sample_ms[(first + i) % DL__DUR_N]);
}

int dl__estimates_format(const dl__outcomes_t *o, const dl__dist_t *talk, const dl__dist_t *wrap,
                         const dl__dist_t *cycle, int64_t now_ms, char *out, size_t len)
{
    if (len == 0)
        return -1;
    ccd_sbuf_t b;
    ccd_sbuf_init(&b, out, len);
    /* What a new outcome would weigh now: every weight is written relative to it. */
    double unit = o->unit;
    if (unit > 0 && now_ms > o->unit_at)
        unit *= exp((double)(now_ms - o->unit_at) / DL__OUT_LIFE_MS);
    int steps[DL__RING_STEPS + 1], k = 0;
    for (int s = 1; unit > 0 && s <= DL__RING_STEPS; s++)
        if (o->ended_at[s] / unit >= MIN_WEIGHT)
            steps[k++] = s;
    /* No weight left means no outcome worth knowing: a count without weights would pass the
     * pacer's warm-up with nothing to model. */
    ccd_sbuf_printf(&b, "e1 %llu o %d", k ? (unsigned long long)o->n : 0ULL, k);
    for (int i = 0; i < k; i++) {
        int s = steps[i];
        ccd_sbuf_printf(&b, " %d:%.6g:%.6g", s, o->ended_at[s] / unit, o->answered_at[s] / unit);
    }
    put_dist(&b, 't', talk);
    put_dist(&b, 'w', wrap);
    put_dist(&b, 'c', cycle);
    if (b.overflow) {
        out[0] = '\0';
        return -1;
    }
    return (int)b.len;
}

/* ---- reading ---- */

typedef struct cursor {
    const char *p;
    bool bad;
} cursor_t;

/* The next token, up to a space, a ':' or the end: [*start, *start + *n). */
static bool token(cursor_t *c, const char **start, size_t *n)
{
    if (c->bad)
        return false;
    size_t i = 0;
    while (c->p[i] && c->p[i] != ' ' && c->p[i] != ':')
        i++;
    if (i == 0 || i > 32) {
        c->bad = true;
        return false;
    }
    *start = c->p;
    *n = i;
    c->p += i;
    return true;
}

/* The separator that must come next (' ' or ':'). */
static void sep(cursor_t *c, char want)
{
    if (c->bad || *c->p != want)
        c->bad = true;
    else
        c->p++;
}

static void word(cursor_t *c, const char *want)
{
    const char *t;
    size_t n;
    if (token(c, &t, &n) && (n != strlen(want) || memcmp(t, want, n) != 0))
        c->bad = true;
}

/* A decimal integer in [0, max]: digits only (no sign, no space, no hex). */
static unsigned long long uint_tok(cursor_t *c, unsigned long long max)
{
    const char *t;
    size_t n;
    if (!token(c, &t, &n))
        return 0;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9' || v > (max - (unsigned long long)(t[i] - '0')) / 10) {
            c->bad = true;
            return 0;
        }
        v = v * 10 + (unsigned long long)(t[i] - '0');
    }
    return v;
}

/* A finite number in [0, MAX_WEIGHT] as %g writes it (digits, '.', an exponent): strtod
 * alone would also take "inf", "nan" and hexadecimal. */
static double weight_tok(cursor_t *c)
{
    const char *t;
    size_t n;
    if (!token(c, &t, &n))
        return 0;
    if (t[0] < '0' || t[0] > '9') {
        c->bad = true;
        return 0;
    }
    char tmp[33];
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == '-' || ch == '+')) {
            c->bad = true;
            return 0;
        }
        tmp[i] = ch;
    }
    tmp[n] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0' || !isfinite(v) || v < 0 || v > MAX_WEIGHT) {
        c->bad = true;
        return 0;
    }
    return v;
}

static void read_dist(cursor_t *c, const char *tag, dl__dist_t *d)
{
    sep(c, ' ');
    word(c, tag);
    sep(c, ' ');
    int k = (int)uint_tok(c, DL__DUR_N);
    for (int i = 0; i < k && !c->bad; i++) {
        sep(c, ' ');
        dl__dist_add(d, (int64_t)uint_tok(c, INT32_MAX)); /* what a sample can hold */
    }
}

int dl__estimates_parse(const char *text, int64_t now_ms, dl__outcomes_t *o, dl__dist_t *talk,
                        dl__dist_t *wrap, dl__dist_t *cycle)
{
    memset(o, 0, sizeof *o);
    memset(talk, 0, sizeof *talk);
    memset(wrap, 0, sizeof *wrap);
    memset(cycle, 0, sizeof *cycle);
    if (!text || strnlen(text, DL_PACER_ESTIMATES_MAX) >= DL_PACER_ESTIMATES_MAX)
        return -1;
    cursor_t c = {text, false};
    word(&c, "e1");
    sep(&c, ' ');
    unsigned long long n = uint_tok(&c, MAX_OUTCOMES);
    sep(&c, ' ');
    word(&c, "o");
    sep(&c, ' ');
    int k = (int)uint_tok(&c, DL__RING_STEPS);
    int last = 0;
    double total = 0;
    for (int i = 0; i < k && !c.bad; i++) {
        sep(&c, ' ');
        int s = (int)uint_tok(&c, DL__RING_STEPS);
        sep(&c, ':');
        double e = weight_tok(&c);
        sep(&c, ':');
        double a = weight_tok(&c);
        /* Steps rise; answered outcomes are among all outcomes (%.6g rounds both alike). */
        if (s <= last || a > e * (1 + 1e-5))
            c.bad = true;
        last = s;
        o->ended_at[s] = e;
        o->answered_at[s] = a > e ? e : a;
        total += e;
    }
    if ((k > 0) != (n > 0) || (k > 0 && !(total > 0)))
        c.bad = true;
    read_dist(&c, "t", talk);
    read_dist(&c, "w", wrap);
    read_dist(&c, "c", cycle);
    if (c.bad || *c.p != '\0')
        return -1;
    o->n = n;
    o->unit = 1.0;
    o->unit_at = now_ms;
    o->dirty = true;
    return 0;
}
