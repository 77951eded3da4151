/* The AMI action parser of the simulator: pure, bounded, no I/O. */
#include <string.h>

#include "core/err.h"
#include "tools/pbxsim/pbxsim_int.h"

static ccd_str_t trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    return (ccd_str_t){p, n};
}

int pbx_wire_parse(const char *data, size_t len, pbx_msg_t *msg, size_t *used)
{
    size_t pos = 0;
    msg->n = 0;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl)
            return (len - pos > PBX_LINE_MAX) ? CCD_ETOOBIG : 0;
        size_t llen = (size_t)(nl - (data + pos));
        if (llen > PBX_LINE_MAX)
            return CCD_ETOOBIG;
        const char *line = data + pos;
        size_t eff = llen;
        if (eff > 0 && line[eff - 1] == '\r')
            eff--;
        pos += llen + 1;
        if (eff == 0) {
            if (msg->n == 0)
                continue; /* stray blank lines between actions */
            *used = pos;
            return 1;
        }
        const char *colon = memchr(line, ':', eff);
        if (!colon)
            continue;
        if (msg->n >= PBX_HDR_MAX)
            return CCD_ETOOBIG;
        msg->h[msg->n].key = trim(line, (size_t)(colon - line));
        msg->h[msg->n].val = trim(colon + 1, eff - (size_t)(colon - line) - 1);
        msg->n++;
    }
}

ccd_str_t pbx_msg_get(const pbx_msg_t *m, const char *key)
{
    ccd_str_t k = ccd_str(key);
    for (int i = 0; i < m->n; i++)
        if (ccd_str_ieq(m->h[i].key, k))
            return m->h[i].val;
    return (ccd_str_t){NULL, 0};
}

void pbx_msg_copy(const pbx_msg_t *m, const char *key, char *dst, size_t dstsz)
{
    ccd_str_t v = pbx_msg_get(m, key);
    if (!v.p) {
        dst[0] = '\0';
        return;
    }
    (void)ccd_str_copy(dst, dstsz, v);
}
