/*
 * ami_parse: incremental framing of the AMI byte stream.
 *
 * DESIGN
 * - Pure: no I/O, no globals, no locks, no allocation.  All state lives in
 *   the ami_parser_t the caller owns, so a connection, a test and a fuzz
 *   target can each run their own.
 * - Zero copy: headers come back as ccd_str_t slices into the caller's
 *   buffer.  While a message is incomplete the parser remembers header
 *   positions as offsets from the message start, because the caller may
 *   grow (realloc) or compact its buffer between calls; slices are made only
 *   when the message is complete.
 * - Incremental: each byte is looked at once.  `scan` is how far the current
 *   message has been split into lines; a call with more bytes resumes there.
 * - Bounded: a line longer than max_line, more than max_hdr headers or a
 *   message longer than max_msg (which bounds legacy command output and runs
 *   of blank lines) is a protocol error.  Asterisk itself caps headers at 128.
 * - Legacy `Response: Follows` (Asterisk <= 13 `Command`): after the header
 *   block the raw output follows up to a line that is or ends with
 *   `--END COMMAND--` (old versions glue it to an unterminated last line),
 *   then the empty line that ends every message.  Empty lines inside the
 *   output are output, not the end of the message.
 */
#include <string.h>

#include "ami/ami.h"
#include "core/err.h"

enum {
    ST_HEADERS = 0,     /* Key: Value lines until an empty line */
    ST_FOLLOWS_HDRS,    /* after Response: Follows, the few headers before output */
    ST_FOLLOWS_OUT,     /* raw output lines until --END COMMAND-- */
    ST_FOLLOWS_END,     /* saw --END COMMAND--, waiting for the empty line */
    ST_FAILED,          /* EPROTO returned; only ami_parser_reset() helps */
};

static const char END_CMD[] = "--END COMMAND--";
#define END_CMD_LEN (sizeof(END_CMD) - 1)

void ami_parser_init(ami_parser_t *p, size_t max_line, int max_hdr, size_t max_msg)
{
    p->max_line = max_line ? max_line : AMI_LINE_MAX;
    p->max_hdr = (max_hdr > 0 && max_hdr <= AMI_HDR_MAX) ? max_hdr : AMI_HDR_MAX;
    p->max_msg = max_msg ? max_msg : AMI_MSG_MAX;
    ami_parser_reset(p);
}

void ami_parser_reset(ami_parser_t *p)
{
    p->scan = 0;
    p->nhdr = 0;
    p->state = ST_HEADERS;
    p->out_off = p->out_len = 0;
    p->err = NULL;
    p->err_off = 0;
}

static int fail(ami_parser_t *p, const char *why, size_t off)
{
    p->state = ST_FAILED;
    p->err = why;
    p->err_off = off;
    return CCD_EPROTO;
}

static inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/* Headers that old Asterisk put between `Response: Follows` and the output. */
static bool follows_header(const char *k, size_t kl)
{
    return (kl == 8 && ieq_n(k, "actionid", 8)) || (kl == 9 && ieq_n(k, "privilege", 9)) ||
           (kl == 7 && ieq_n(k, "message", 7));
}

/* Splits one `Key: Value` line (without its line end) and records it. */
static int add_header(ami_parser_t *p, const char *line, size_t off, size_t eol)
{
    const char *colon = memchr(line, ':', eol);
    if (!colon || colon == line)
        return fail(p, "line is not `Key: Value`", off);
    if (p->nhdr >= p->max_hdr)
        return fail(p, "too many headers", off);
    size_t kl = (size_t)(colon - line);
    size_t vo = kl + 1;
    while (vo < eol && line[vo] == ' ')
        vo++;
    ami_hoff_t *h = &p->off[p->nhdr++];
    h->ko = (uint32_t)off;
    h->kl = (uint32_t)kl;
    h->vo = (uint32_t)(off + vo);
    h->vl = (uint32_t)(eol - vo);
    if (kl == 8 && eol - vo == 7 && ieq_n(line, "response", 8) && ieq_n(line + vo, "follows", 7))
        p->state = ST_FOLLOWS_HDRS;
    return CCD_OK;
}

static int complete(ami_parser_t *p, const char *buf, ami_msg_t *m)
{
    for (int i = 0; i < p->nhdr; i++) {
        const ami_hoff_t *h = &p->off[i];
        p->hdr[i].key = (ccd_str_t){buf + h->ko, h->kl};
        p->hdr[i].val = (ccd_str_t){buf + h->vo, h->vl};
    }
    m->hdr = p->hdr;
    m->nhdr = p->nhdr;
    m->output = (ccd_str_t){p->out_len ? buf + p->out_off : "", p->out_len};
    m->len = p->scan;
    /* Ready for the next message, which starts at buf + m->len. */
    p->scan = 0;
    p->nhdr = 0;
    p->state = ST_HEADERS;
    p->out_off = p->out_len = 0;
    return CCD_OK;
}

int ami_parse(ami_parser_t *p, const char *buf, size_t len, ami_msg_t *m)
{
    if (p->state == ST_FAILED)
        return CCD_EPROTO;
    while (p->scan < len) {
        size_t off = p->scan;
        const char *line = buf + off;
        size_t avail = len - off;
        /* A line may hold max_line bytes plus its "\r\n". */
        size_t look = avail < p->max_line + 2 ? avail : p->max_line + 2;
        const char *nl = memchr(line, '\n', look);
        if (!nl) {
            if (avail >= p->max_line + 2)
                return fail(p, "line too long", off);
            break;
        }
        size_t eol = (size_t)(nl - line);
        size_t next = off + eol + 1;
        if (eol && line[eol - 1] == '\r')
            eol--;
        if (eol > p->max_line)
            return fail(p, "line too long", off);
        if (next > p->max_msg)
            return fail(p, "message too long", off);
        p->scan = next;

        switch (p->state) {
        case ST_HEADERS:
            if (eol == 0) {
                if (p->nhdr == 0)
                    continue; /* stray empty lines between messages */
                return complete(p, buf, m);
            }
            if (add_header(p, line, off, eol) != CCD_OK)
                return CCD_EPROTO;
            break;
        case ST_FOLLOWS_HDRS: {
            const char *colon = eol ? memchr(line, ':', eol) : NULL;
            if (colon && colon != line && follows_header(line, (size_t)(colon - line))) {
                if (add_header(p, line, off, eol) != CCD_OK)
                    return CCD_EPROTO;
                p->state = ST_FOLLOWS_HDRS; /* add_header may not leave it */
                break;
            }
            p->out_off = off;
            p->state = ST_FOLLOWS_OUT;
        }
            /* This line is the first output line. */
            __attribute__((fallthrough));
        case ST_FOLLOWS_OUT:
            if (eol >= END_CMD_LEN && memcmp(line + eol - END_CMD_LEN, END_CMD, END_CMD_LEN) == 0) {
                /* Output is everything before the marker, glued text included. */
                p->out_len = off + eol - END_CMD_LEN - p->out_off;
                p->state = ST_FOLLOWS_END;
            }
            break;
        case ST_FOLLOWS_END:
            if (eol != 0)
                return fail(p, "text after --END COMMAND--", off);
            return complete(p, buf, m);
        default:
            return fail(p, "bad parser state", off);
        }
    }
    return CCD_EAGAIN;
}

int ami_parse_banner(const char *buf, size_t len, ccd_str_t *version, size_t *consumed)
{
    static const char pfx[] = "Asterisk Call Manager";
    size_t look = len < AMI_BANNER_MAX ? len : AMI_BANNER_MAX;
    const char *nl = memchr(buf, '\n', look);
    if (!nl)
        return len >= AMI_BANNER_MAX ? CCD_EPROTO : CCD_EAGAIN;
    size_t eol = (size_t)(nl - buf);
    if (eol && buf[eol - 1] == '\r')
        eol--;
    if (eol < sizeof(pfx) - 1 || memcmp(buf, pfx, sizeof(pfx) - 1) != 0)
        return CCD_EPROTO;
    const char *slash = memchr(buf, '/', eol);
    /* no version: an empty slice that still lies inside the buffer */
    if (version)
        *version = slash ? (ccd_str_t){slash + 1, eol - (size_t)(slash + 1 - buf)}
                         : (ccd_str_t){buf + eol, 0};
    if (consumed)
        *consumed = (size_t)(nl - buf) + 1;
    return CCD_OK;
}

const ami_hdr_t *ami_msg_find(const ami_msg_t *m, const char *key, size_t klen,
                              const ami_hdr_t *after)
{
    int i = after ? (int)(after - m->hdr) + 1 : 0;
    for (; i < m->nhdr; i++) {
        const ami_hdr_t *h = &m->hdr[i];
        if (h->key.len == klen && ieq_n(h->key.p, key, klen))
            return h;
    }
    return NULL;
}

ccd_str_t ami_msg_get(const ami_msg_t *m, const char *key)
{
    const ami_hdr_t *h = ami_msg_find(m, key, strlen(key), NULL);
    return h ? h->val : (ccd_str_t){"", 0};
}

bool ami_str_ieq(ccd_str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && ieq_n(a.p, lit, n);
}
