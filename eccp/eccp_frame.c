/*
 * ECCP packet framing: finds where one XML document ends in a TCP byte stream.
 *
 * Issabel reads the stream with a streaming parser and cuts a packet when the
 * root element closes; leading whitespace between packets is dropped and every
 * packet may carry its own <?xml ...?> declaration.  This scanner reproduces
 * those cut points without building a tree: it only tracks the markup that can
 * hide a '<' or '>' (quoted attribute values, comments, CDATA, processing
 * instructions), the element depth and which element is open at each depth
 * (by a hash of its name), so an end tag that does not close the open element
 * is refused at once instead of leaving the packet open until the size bound
 * (a session would otherwise hang on "<request><x></request>").  The packet
 * found is then parsed for real by eccp_xml.c.
 *
 * Pure: no I/O, no globals, no allocation.  Bounded by max_bytes (size of one
 * packet) and max_depth.  Any "<!" other than a comment or CDATA (DOCTYPE,
 * ENTITY, ...) is refused here, so no DTD ever reaches libxml2.
 */
#include "eccp/eccp_int.h"

#include "core/err.h"

enum {
    FS_IDLE = 0, /* between packets, skipping whitespace */
    FS_TEXT,     /* character data (or the prolog when depth is 0) */
    FS_LT,       /* just read '<' */
    FS_STAG,     /* inside a start tag */
    FS_STAG_Q,   /* inside a quoted attribute value */
    FS_ETAG,     /* inside an end tag */
    FS_PI,       /* inside <? ... ?> */
    FS_BANG,     /* read "<!", deciding between comment and CDATA */
    FS_COMMENT,  /* inside <!-- ... --> */
    FS_CDATA,    /* inside <![CDATA[ ... ]]> */
};

static const char CDATA_OPEN[] = "[CDATA[";

void eccp__frame_init(eccp_frame_t *f, size_t max_bytes, int max_depth)
{
    memset(f, 0, sizeof(*f));
    f->max_bytes = max_bytes;
    f->max_depth = max_depth < ECCP_FRAME_DEPTH_MAX ? max_depth : ECCP_FRAME_DEPTH_MAX;
}

void eccp__frame_reset(eccp_frame_t *f)
{
    size_t mb = f->max_bytes;
    int md = f->max_depth;
    eccp__frame_init(f, mb, md);
}

static inline bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool is_name_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80;
}

static inline bool is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

#define NAME_HASH0 2166136261u

static inline uint32_t name_add(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

int eccp__frame_scan(eccp_frame_t *f, const char *data, size_t len, ccd_str_t *pkt, size_t *consumed)
{
    size_t i = f->pos;
    *consumed = 0;

    for (; i < len; i++) {
        unsigned char c = (unsigned char)data[i];

        if (f->state == FS_IDLE) {
            if (is_ws(c))
                continue;
            if (c != '<')
                return CCD_EPROTO;
            f->start = i;
            f->state = FS_LT;
            continue;
        }
        if (i - f->start + 1 > f->max_bytes)
            return CCD_ETOOBIG;

        switch (f->state) {
        case FS_TEXT:
            if (c == '<')
                f->state = FS_LT;
            else if (f->depth == 0 && !is_ws(c))
                return CCD_EPROTO; /* text outside the root element */
            break;
        case FS_LT:
            if (c == '?') {
                f->state = FS_PI;
                f->prev = 0;
            } else if (c == '!') {
                f->state = FS_BANG;
                f->match = 0;
            } else if (c == '/') {
                if (f->depth == 0)
                    return CCD_EPROTO;
                f->state = FS_ETAG;
                f->in_name = true;
                f->name = NAME_HASH0;
                f->prev = 0; /* no name byte yet */
            } else if (is_name_start(c)) {
                if (f->depth == 0 && f->root_seen)
                    return CCD_EPROTO;
                f->state = FS_STAG;
                f->prev = c;
                f->in_name = true;
                f->name = name_add(NAME_HASH0, c);
            } else {
                return CCD_EPROTO;
            }
            break;
        case FS_STAG:
            if (f->in_name) {
                if (is_name_char(c)) {
                    f->name = name_add(f->name, c);
                    f->prev = c;
                    break;
                }
                f->in_name = false;
            }
            if (c == '"' || c == '\'') {
                f->quote = c;
                f->state = FS_STAG_Q;
            } else if (c == '<') {
                return CCD_EPROTO;
            } else if (c == '>') {
                bool empty = f->prev == '/';
                if (f->depth == 0)
                    f->root_seen = true;
                if (empty) {
                    if (f->depth == 0)
                        goto done;
                } else if (f->depth >= f->max_depth) {
                    return CCD_ETOOBIG;
                } else {
                    f->open[f->depth++] = f->name;
                }
                f->state = FS_TEXT;
            } else {
                f->prev = c;
            }
            break;
        case FS_STAG_Q:
            if (c == f->quote) {
                f->state = FS_STAG;
                f->prev = c;
            }
            break;
        case FS_ETAG:
            /* "</" name [blanks] ">", and name must be the open element's */
            if (f->in_name) {
                if (f->prev ? is_name_char(c) : is_name_start(c)) {
                    f->name = name_add(f->name, c);
                    f->prev = 1;
                    break;
                }
                if (!f->prev)
                    return CCD_EPROTO;
                f->in_name = false;
            }
            if (c == '>') {
                if (f->open[f->depth - 1] != f->name)
                    return CCD_EPROTO;
                f->depth--;
                if (f->depth == 0)
                    goto done;
                f->state = FS_TEXT;
            } else if (!is_ws(c)) {
                return CCD_EPROTO;
            }
            break;
        case FS_PI:
            if (c == '>' && f->prev == '?')
                f->state = FS_TEXT;
            f->prev = c;
            break;
        case FS_BANG:
            /* "<!--" or "<![CDATA[" (CDATA only inside an element); anything
             * else is a DTD construct, which ECCP never needs. */
            if (f->match == 0 && c == '-') {
                f->match = -1;
            } else if (f->match == -1) {
                if (c != '-')
                    return CCD_EPROTO;
                f->state = FS_COMMENT;
                f->prev = 0;
                f->match = 0;
            } else if (f->match >= 0 && c == (unsigned char)CDATA_OPEN[f->match]) {
                if (f->depth == 0)
                    return CCD_EPROTO;
                if (++f->match == (int)sizeof(CDATA_OPEN) - 1) {
                    f->state = FS_CDATA;
                    f->match = 0;
                }
            } else {
                return CCD_EPROTO;
            }
            break;
        case FS_COMMENT:
        case FS_CDATA:
            /* match counts the closing run: "-->" ends a comment, "]]>" a CDATA section */
            if (c == (f->state == FS_COMMENT ? '-' : ']')) {
                f->match++;
            } else {
                if (c == '>' && f->match >= 2)
                    f->state = FS_TEXT;
                f->match = 0;
            }
            break;
        default:
            return CCD_EPROTO;
        }
    }

    /* Need more bytes.  Whitespace before a packet can go now. */
    if (f->state == FS_IDLE) {
        *consumed = len;
        f->pos = 0;
    } else {
        *consumed = f->start;
        f->pos = len - f->start;
        f->start = 0;
    }
    return CCD_EAGAIN;

done:
    pkt->p = data + f->start;
    pkt->len = i + 1 - f->start;
    *consumed = i + 1;
    eccp__frame_reset(f);
    return 1;
}
