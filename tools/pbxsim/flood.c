/* The flood mode: realistic event traffic as fast as the sockets take it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pbxsim/pbxsim_int.h"

/* ---------------- flood ---------------- */

/*
 * Flood: a repeating queue-call pattern with fresh names and uniqueids each
 * cycle.  Each of the pattern's events is formatted once into a template with
 * fixed-width placeholders; emitting one is a copy plus a few digit patches,
 * so the simulator is not the bottleneck of an ingest benchmark.
 */
#define FLOOD_PAT 12
#define FLOOD_MARKS 16

typedef struct flood_tpl {
    char *text;
    size_t len;
    size_t ts_off;                 /* "Timestamp: " value, 17 chars */
    char priv[24];                 /* its Privilege, for EventMask */
    size_t num_off[FLOOD_MARKS];   /* "XXX" (3 digits) */
    size_t hex_off[FLOOD_MARKS];   /* "YYYYYYYY" (8 hex) */
    size_t uid_off[FLOOD_MARKS];   /* "ZZZZZZZZZZZZ" (12 digits) */
    int nnum, nhex, nuid;
} flood_tpl_t;

static void flood_render(pbx_t *s, int k, buf_t *out)
{
    static const char *const pattern[FLOOD_PAT] = {"Newchannel", "VarSet", "Newstate", "DialBegin", "VarSet",
                                                   "QueueCallerJoin", "AgentCalled", "VarSet", "AgentConnect",
                                                   "Newexten", "AgentComplete", "Hangup"};
    pchan_t fake;
    memset(&fake, 0, sizeof fake);
    const char *ev = pattern[k];
    strcpy(fake.name, "Local/5XXX@customers-YYYYYYYY;1");
    strcpy(fake.uniqueid, "flood-ZZZZZZZZZZZZ");
    strcpy(fake.linkedid, "flood-ZZZZZZZZZZZZ");
    strcpy(fake.cid_num, "0215550100");
    strcpy(fake.cid_name, "Dialer");
    strcpy(fake.con_num, "0215550100");
    strcpy(fake.con_name, "Dialer");
    strcpy(fake.context, "dialer-queue");
    strcpy(fake.exten, "8000");
    fake.prio = 3;
    fake.state = 6;
    const char *priv = strncmp(ev, "Agent", 5) == 0 || strncmp(ev, "Queue", 5) == 0 ? "agent,all"
                       : strcmp(ev, "VarSet") == 0 || strcmp(ev, "Newexten") == 0 ? "dialplan,all"
                                                                                  : "call,all";
    pbx_ev_begin(s, ev, priv);
    pbx_ev_chan(s, "", &fake);
    if (strcmp(ev, "VarSet") == 0) {
        pbx_ev_kv(s, "Variable", "QUEUEPOSITION");
        pbx_ev_kv(s, "Value", "1");
    } else if (strcmp(ev, "Hangup") == 0) {
        pbx_ev_kv(s, "Cause", "16");
        pbx_ev_kv(s, "Cause-txt", "Normal Clearing");
    } else if (strncmp(ev, "Agent", 5) == 0) {
        pbx_ev_chan(s, "Dest", &fake);
        pbx_ev_kv(s, "Queue", "8000");
        pbx_ev_kv(s, "Interface", "Local/9000@agents");
        pbx_ev_kv(s, "MemberName", "Agent 9000");
        if (strcmp(ev, "AgentComplete") == 0) {
            pbx_ev_kv(s, "HoldTime", "1");
            pbx_ev_kv(s, "TalkTime", "30");
            pbx_ev_kv(s, "Reason", "caller");
        }
    } else if (strcmp(ev, "QueueCallerJoin") == 0) {
        pbx_ev_kv(s, "Queue", "8000");
        pbx_ev_kv(s, "Position", "1");
        pbx_ev_kv(s, "Count", "1");
    } else if (strcmp(ev, "Newexten") == 0) {
        pbx_ev_kv(s, "Extension", "8000");
        pbx_ev_kv(s, "Application", "Queue");
        pbx_ev_kv(s, "AppData", "8000,,,,300");
    } else if (strcmp(ev, "DialBegin") == 0) {
        pbx_ev_chan(s, "Dest", &fake);
        pbx_ev_kv(s, "DialString", "Local/9000@agents");
    }
    buf_append(&s->ev, "\r\n", 2);
    buf_reset(out);
    buf_append(out, buf_data(&s->ev), s->ev.len);
}

static void mark_all(const char *t, size_t len, const char *mark, size_t *offs, int *n)
{
    size_t ml = strlen(mark);
    *n = 0;
    for (const char *p = t; *n < FLOOD_MARKS && (p = memmem(p, len - (size_t)(p - t), mark, ml)); p += ml)
        offs[(*n)++] = (size_t)(p - t);
}

void pbx_flood_step(pbx_t *s, int budget)
{
    flood_tpl_t *tpl = s->flood_tpl;
    if (!tpl) {
        tpl = s->flood_tpl = calloc(FLOOD_PAT, sizeof *tpl);
        if (!tpl)
            return;
        buf_t b;
        buf_init(&b, 1 << 16);
        for (int k = 0; k < FLOOD_PAT; k++) {
            flood_render(s, k, &b);
            tpl[k].text = malloc(b.len + 1);
            if (!tpl[k].text)
                continue;
            memcpy(tpl[k].text, buf_data(&b), b.len);
            tpl[k].text[b.len] = '\0';
            tpl[k].len = b.len;
            const char *pv = strstr(tpl[k].text, "Privilege: ");
            if (pv)
                snprintf(tpl[k].priv, sizeof tpl[k].priv, "%.*s", (int)strcspn(pv + 11, "\r"), pv + 11);
            const char *ts = strstr(tpl[k].text, "Timestamp: ");
            tpl[k].ts_off = ts ? (size_t)(ts - tpl[k].text) + 11 : 0;
            mark_all(tpl[k].text, b.len, "XXX", tpl[k].num_off, &tpl[k].nnum);
            mark_all(tpl[k].text, b.len, "YYYYYYYY", tpl[k].hex_off, &tpl[k].nhex);
            mark_all(tpl[k].text, b.len, "ZZZZZZZZZZZZ", tpl[k].uid_off, &tpl[k].nuid);
        }
        buf_free(&b);
    }
    /* one timestamp per batch: events of a burst share their second anyway */
    pbx_ev_begin(s, "x", "call,all");
    const char *tsl = strstr(buf_data(&s->ev), "Timestamp: ");
    char ts[24] = "";
    if (tsl)
        snprintf(ts, sizeof ts, "%.17s", tsl + 11);
    for (int i = 0; i < budget && s->flood_left > 0; i++, s->flood_left--) {
        uint64_t k = s->flood_seq++;
        flood_tpl_t *t = &tpl[k % FLOOD_PAT];
        if (!t->text)
            continue;
        uint64_t cyc = k / FLOOD_PAT;
        char num[8], hex[12], uid[16];
        snprintf(num, sizeof num, "%03u", (unsigned)(cyc % 1000));
        snprintf(hex, sizeof hex, "%08x", (unsigned)cyc);
        snprintf(uid, sizeof uid, "%012llu", (unsigned long long)(cyc % 1000000000000ull));
        buf_reset(&s->ev);
        if (buf_append(&s->ev, t->text, t->len) != 0)
            return;
        char *d = buf_data(&s->ev);
        if (t->ts_off && strlen(ts) == 17)
            memcpy(d + t->ts_off, ts, 17);
        for (int j = 0; j < t->nnum; j++)
            memcpy(d + t->num_off[j], num, 3);
        for (int j = 0; j < t->nhex; j++)
            memcpy(d + t->hex_off[j], hex, 8);
        for (int j = 0; j < t->nuid; j++)
            memcpy(d + t->uid_off[j], uid, 12);
        buf_append(&s->ev, "", 1); /* NUL for filters, not sent */
        s->ev.len--;
        d = buf_data(&s->ev);
        for (int c = 0; c < s->nconns; c++) {
            pconn_t *cn = s->conns[c];
            if (pbx_conn_wants(s, cn, t->priv)) {
                pbx_conn_write(s, cn, d, s->ev.len);
                s->events_sent++;
            }
        }
    }
}

void pbx_flood_free(pbx_t *s)
{
    flood_tpl_t *tpl = s->flood_tpl;
    if (!tpl)
        return;
    for (int k = 0; k < FLOOD_PAT; k++)
        free(tpl[k].text);
    free(tpl);
    s->flood_tpl = NULL;
}
