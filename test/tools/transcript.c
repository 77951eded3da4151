/* The transcript reader (raw streams, parsed messages) and the tolerant comparator of key events. */
#include "test/tools/transcript.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void tm_add(tmsg_t *m, const char *k, const char *v)
{
    if (m->n >= TM_MAX_HDR)
        return;
    m->k[m->n] = strdup(k);
    m->v[m->n] = strdup(v);
    m->n++;
}

void tm_clear(tmsg_t *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->k[i]);
        free(m->v[i]);
    }
    free(m->note);
    memset(m, 0, sizeof *m);
}

const char *tm_get(const tmsg_t *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (strcasecmp(m->k[i], key) == 0)
            return m->v[i];
    return NULL;
}

static tmsg_t *ts_push(tscript_t *ts, titem_kind_e kind)
{
    if (ts->n == ts->cap) {
        size_t nc = ts->cap ? ts->cap * 2 : 256;
        tmsg_t *ni = realloc(ts->items, nc * sizeof *ni);
        if (!ni)
            abort();
        ts->items = ni;
        ts->cap = nc;
    }
    tmsg_t *m = &ts->items[ts->n++];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    return m;
}

/* Keys that belong to SuccessfulAuth: lines of ours mixed into it go back to the action. */
static bool auth_key(const char *k)
{
    static const char *const keys[] = {"Event", "Privilege", "Timestamp", "SystemName", "EventTV", "Severity",
                                       "Service", "EventVersion", "AccountID", "SessionID", "LocalAddress",
                                       "RemoteAddress", "UsingPassword", "SessionTV", NULL};
    for (int i = 0; keys[i]; i++)
        if (strcasecmp(k, keys[i]) == 0)
            return true;
    return false;
}

static void split_kv(char *line, char **k, char **v)
{
    char *c = strchr(line, ':');
    *k = line;
    if (!c) {
        *v = line + strlen(line);
        return;
    }
    *c = '\0';
    char *p = c + 1;
    while (*p == ' ')
        p++;
    *v = p;
}

int ts_parse_stream(const char *data, size_t len, tmsg_t *out, size_t *used)
{
    size_t pos = 0;
    memset(out, 0, sizeof *out);
    for (;;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl) {
            tm_clear(out);
            return 0;
        }
        size_t l = (size_t)(nl - (data + pos));
        const char *line = data + pos;
        pos += l + 1;
        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l == 0) {
            if (out->n == 0)
                continue;
            *used = pos;
            return 1;
        }
        const char *c = memchr(line, ':', l);
        if (!c)
            continue; /* the banner */
        char k[128], v[8192];
        snprintf(k, sizeof k, "%.*s", (int)(c - line), line);
        const char *p = c + 1;
        while (p < line + l && *p == ' ')
            p++;
        snprintf(v, sizeof v, "%.*s", (int)(line + l - p), p);
        tm_add(out, k, v);
    }
}

/* ---- the file format, read in one place ---- */

#ifndef CCD_AMI_TRANSCRIPTS
#define CCD_AMI_TRANSCRIPTS "test/data/asterisk/transcripts"
#endif

const char *tr_dir(void)
{
    const char *e = getenv("CCD_AMI_TRANSCRIPTS");
    return (e && *e) ? e : CCD_AMI_TRANSCRIPTS;
}

char *tr_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    long sz = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        sz = ftell(f);
    char *d = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    rewind(f);
    if (!d || fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        fclose(f);
        return NULL;
    }
    fclose(f);
    d[sz] = '\0';
    *len = (size_t)sz;
    return d;
}

/* Called for each line: a note (kind TI_NOTE, the text after "# "), or a wire line of
 * direction kind (TI_SENT / TI_RECV), sent or received t seconds after connect; and
 * with line NULL at each direction annotation (a new read or write section starts,
 * even in the same direction: a message may be cut there). */
typedef void (*tr_line_fn)(void *ctx, titem_kind_e kind, double t, char *line, size_t len);

/*
 * Walks a transcript's lines (LF or CRLF ends, not passed on).  Direction
 * annotations switch the direction and time and are not passed on; lines before
 * the first one count as received (the banner).  Returns 0 or -1 (unreadable).
 */
static int tr_walk(const char *path, tr_line_fn fn, void *ctx)
{
    size_t n;
    char *src = tr_read_file(path, &n);
    if (!src)
        return -1;
    titem_kind_e dir = TI_RECV;
    double t = 0;
    for (size_t i = 0; i < n;) {
        char *line = src + i;
        char *nl = memchr(line, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - line) : n - i;
        i += ll + 1;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        line[ll] = '\0'; /* the '\n' (or '\r', or the file's NUL) */
        if (ll > 0 && line[0] == '#') {
            bool sent = ll >= 5 && memcmp(line, "# >>>", 5) == 0;
            bool recv = ll >= 5 && memcmp(line, "# <<<", 5) == 0;
            if (sent || recv) {
                dir = sent ? TI_SENT : TI_RECV;
                t = atof(line + 5);
                fn(ctx, dir, t, NULL, 0);
            } else {
                size_t skip = ll >= 2 && line[1] == ' ' ? 2 : 1;
                fn(ctx, TI_NOTE, t, line + skip, ll - skip);
            }
            continue;
        }
        fn(ctx, dir, t, line, ll);
    }
    free(src);
    return 0;
}

/* ---- raw streams ---- */

typedef struct stream_ctx {
    bool received, crlf;
    char *out;
    size_t len;
} stream_ctx_t;

static void stream_line(void *ctx, titem_kind_e kind, double t, char *line, size_t len)
{
    (void)t;
    stream_ctx_t *c = ctx;
    if (!line || kind == TI_NOTE || (kind == TI_RECV) != c->received)
        return;
    memcpy(c->out + c->len, line, len);
    c->len += len;
    if (c->crlf)
        c->out[c->len++] = '\r';
    c->out[c->len++] = '\n';
}

char *tr_stream(const char *name, bool received, bool crlf, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tr_dir(), name);
    FILE *f = fopen(path, "rb");
    long sz = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        sz = ftell(f);
    if (f)
        fclose(f);
    if (sz < 0)
        return NULL;
    /* at most every byte plus a '\r' per line: twice the file is room enough */
    stream_ctx_t c = {.received = received, .crlf = crlf, .out = malloc((size_t)sz * 2 + 2)};
    if (!c.out || tr_walk(path, stream_line, &c) != 0) {
        free(c.out);
        return NULL;
    }
    c.out[c.len] = '\0';
    *len = c.len;
    return c.out;
}

char *tr_received(const char *name, bool crlf, size_t *len)
{
    return tr_stream(name, true, crlf, len);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **tr_list(size_t *n)
{
    *n = 0;
    DIR *d = opendir(tr_dir());
    if (!d)
        return NULL;
    size_t cap = 64;
    char **v = malloc(cap * sizeof(*v));
    struct dirent *de;
    while (v && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0 || strncmp(de->d_name, "SUMMARY", 7) == 0 ||
            strcmp(de->d_name, "fastagi_sessions.txt") == 0)
            continue;
        if (*n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (!nv)
                abort();
            v = nv;
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof(*v), cmp_name);
    return v;
}

void tr_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- parsed messages ---- */

typedef struct load_ctx {
    tscript_t *ts;
    tmsg_t *cur;    /* the message being filled; NULL: the next line starts one */
    bool in_auth;   /* inside a SuccessfulAuth event (dropped, see below) */
} load_ctx_t;

static void load_line(void *ctx, titem_kind_e kind, double t, char *line, size_t len)
{
    load_ctx_t *c = ctx;
    tscript_t *ts = c->ts;
    if (!line) { /* a new section: the message in progress (if any) ends */
        c->cur = NULL;
        if (kind == TI_RECV)
            c->in_auth = false;
        return;
    }
    if (kind == TI_NOTE) {
        tmsg_t *n = ts_push(ts, TI_NOTE);
        n->note = strndup(line, len);
        c->cur = NULL;
        return;
    }
    if (len == 0) {
        if (kind == TI_RECV)
            c->cur = NULL; /* a received block may hold several messages */
        return;
    }
    if (!strchr(line, ':'))
        return; /* banner and such */
    char *k, *v;
    split_kv(line, &k, &v);
    if (kind == TI_SENT) {
        if (auth_key(k) && strcasecmp(k, "Event") != 0)
            return; /* SuccessfulAuth lines mixed into our action */
        if (!c->cur) {
            c->cur = ts_push(ts, TI_SENT);
            c->cur->t = t;
        }
        tm_add(c->cur, k, v);
        return;
    }
    if (!c->cur && !c->in_auth) {
        if (strcasecmp(k, "Event") == 0 && strcmp(v, "SuccessfulAuth") == 0) {
            c->in_auth = true;
            return;
        }
        c->cur = ts_push(ts, TI_RECV);
        c->cur->t = t;
    }
    if (c->in_auth) {
        if (!auth_key(k)) {
            /* a line of the action we sent, interleaved by the probe */
            for (size_t i = ts->n; i > 0; i--)
                if (ts->items[i - 1].kind == TI_SENT) {
                    tm_add(&ts->items[i - 1], k, v);
                    break;
                }
        }
        return;
    }
    tm_add(c->cur, k, v);
}

int ts_load(const char *path, tscript_t *ts)
{
    memset(ts, 0, sizeof *ts);
    load_ctx_t c = {.ts = ts};
    return tr_walk(path, load_line, &c);
}

void ts_free(tscript_t *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        tm_clear(&ts->items[i]);
    free(ts->items);
    memset(ts, 0, sizeof *ts);
}

void ts_norm_chan(const char *in, char *out, size_t n)
{
    const char *dash = strrchr(in, '-');
    const char *semi = strrchr(in, ';');
    if (dash && semi && semi > dash && strncmp(in, "Local/", 6) == 0)
        snprintf(out, n, "%.*s%s", (int)(dash - in), in, semi);
    else
        snprintf(out, n, "%s", in);
}

static const char *g(const tmsg_t *m, const char *k)
{
    const char *v = tm_get(m, k);
    return v ? v : "";
}

bool tm_key(const tmsg_t *m, tkey_t *o)
{
    memset(o, 0, sizeof *o);
    const char *resp = tm_get(m, "Response");
    if (resp && !tm_get(m, "Event")) { /* OriginateResponse events carry a Response header too */
        snprintf(o->stream, sizeof o->stream, "responses");
        /* a message may name a channel ("Channel does not exist: Local/…-0000000a;1"):
         * its sequence number is the PBX's, not part of the answer */
        const char *msg = g(m, "Message"), *loc = strstr(msg, "Local/");
        char nm[96];
        if (loc) {
            ts_norm_chan(loc, nm, sizeof nm);
            snprintf(o->sig, sizeof o->sig, "%s[%.*s%s]", resp, (int)(loc - msg), msg, nm);
        } else {
            snprintf(o->sig, sizeof o->sig, "%s[%s]", resp, msg);
        }
        return true;
    }
    const char *ev = tm_get(m, "Event");
    if (!ev)
        return false;
    char ch[96];
    ts_norm_chan(g(m, "Channel"), ch, sizeof ch);
    if (!strcmp(ev, "Newchannel") || !strcmp(ev, "MusicOnHoldStart") || !strcmp(ev, "MusicOnHoldStop") ||
        !strcmp(ev, "Hold") || !strcmp(ev, "Unhold") ||
        !strcmp(ev, "MixMonitorStart") || !strcmp(ev, "MixMonitorStop")) {
        snprintf(o->stream, sizeof o->stream, "chan %s", ch);
        snprintf(o->sig, sizeof o->sig, "%s", ev);
    } else if (!strcmp(ev, "Newstate")) {
        snprintf(o->stream, sizeof o->stream, "chan %s", ch);
        snprintf(o->sig, sizeof o->sig, "Newstate %s", g(m, "ChannelStateDesc"));
    } else if (!strcmp(ev, "Hangup")) {
        snprintf(o->stream, sizeof o->stream, "chan %s", ch);
        snprintf(o->sig, sizeof o->sig, "Hangup %s", g(m, "Cause"));
    } else if (!strcmp(ev, "MixMonitorMute")) {
        snprintf(o->stream, sizeof o->stream, "chan %s", ch);
        snprintf(o->sig, sizeof o->sig, "MixMonitorMute %s", g(m, "State"));
    } else if (!strcmp(ev, "BridgeEnter") || !strcmp(ev, "BridgeLeave")) {
        snprintf(o->stream, sizeof o->stream, "bridge %s", ch);
        snprintf(o->sig, sizeof o->sig, "%s %s", ev, g(m, "BridgeType"));
    } else if (!strcmp(ev, "DialBegin") || !strcmp(ev, "DialEnd")) {
        char d[96];
        ts_norm_chan(g(m, "DestChannel"), d, sizeof d);
        snprintf(o->stream, sizeof o->stream, "dial %s", d);
        snprintf(o->sig, sizeof o->sig, "%s %s", ev, g(m, "DialStatus"));
    } else if (!strcmp(ev, "OriginateResponse")) {
        snprintf(o->stream, sizeof o->stream, "originate %s", g(m, "ActionID"));
        char c2[96];
        ts_norm_chan(g(m, "Channel"), c2, sizeof c2);
        snprintf(o->sig, sizeof o->sig, "OriginateResponse %s %s %s uid=%s", g(m, "Response"), g(m, "Reason"),
                 c2, strncmp(g(m, "Uniqueid"), "dlr-", 4) == 0 || !strcmp(g(m, "Uniqueid"), "<unknown>")
                         ? g(m, "Uniqueid")
                         : "*");
    } else if (!strncmp(ev, "QueueCaller", 11)) {
        snprintf(o->stream, sizeof o->stream, "caller %s", ch);
        snprintf(o->sig, sizeof o->sig, "%s %s", ev, g(m, "Queue"));
    } else if (!strcmp(ev, "AgentCalled") || !strcmp(ev, "AgentConnect") || !strcmp(ev, "AgentRingNoAnswer") ||
               !strcmp(ev, "AgentComplete")) {
        snprintf(o->stream, sizeof o->stream, "member %s/%s", g(m, "Queue"), g(m, "Interface"));
        snprintf(o->sig, sizeof o->sig, "%s %s", ev, g(m, "Reason"));
    } else if (!strncmp(ev, "QueueMember", 11) && strcmp(ev, "QueueMember") != 0) {
        /* QueueMemberStatus follows device state, which Asterisk publishes
         * asynchronously: its order against AgentCalled/AgentComplete varies
         * between runs (status_actions.txt), so it has a stream of its own. */
        snprintf(o->stream, sizeof o->stream, "%s %s/%s", strcmp(ev, "QueueMemberStatus") ? "member" : "mstatus",
                 g(m, "Queue"), g(m, "Interface"));
        /* LastPause is a time, and for an old member it depends on pauses before
         * the recording started: only a new member's (paused at QueueAdd or not)
         * is compared, as set or not */
        bool added = !strcmp(ev, "QueueMemberAdded");
        snprintf(o->sig, sizeof o->sig, "%s status=%s paused=%s %s pen=%s%s%s", ev, g(m, "Status"), g(m, "Paused"),
                 g(m, "PausedReason"), g(m, "Penalty"), added ? " lastpause=" : "",
                 added ? (atoll(g(m, "LastPause")) ? "set" : "0") : "");
    } else if (!strcmp(ev, "AgentLogin") || !strcmp(ev, "AgentLogoff")) {
        snprintf(o->stream, sizeof o->stream, "agent %s", g(m, "Agent"));
        snprintf(o->sig, sizeof o->sig, "%s", ev);
    } else if (!strcmp(ev, "Shutdown")) {
        snprintf(o->stream, sizeof o->stream, "system");
        snprintf(o->sig, sizeof o->sig, "Shutdown %s %s", g(m, "Shutdown"), g(m, "Restart"));
    } else if (!strncmp(ev, "ParkedCall", 10) || !strcmp(ev, "UnParkedCall")) {
        char pk[96];
        ts_norm_chan(g(m, "ParkeeChannel"), pk, sizeof pk);
        o->list = tm_get(m, "ActionID") != NULL;
        if (o->list)
            snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        else
            snprintf(o->stream, sizeof o->stream, "park %s", pk);
        snprintf(o->sig, sizeof o->sig, "%s %s space=%s", ev, pk, g(m, "ParkingSpace"));
    } else if (!strcmp(ev, "DTMFBegin") || !strcmp(ev, "DTMFEnd")) {
        snprintf(o->stream, sizeof o->stream, "chan %s", ch);
        snprintf(o->sig, sizeof o->sig, "%s %s %s", ev, g(m, "Digit"), g(m, "Direction"));
    } else if (!strcmp(ev, "AttendedTransfer")) {
        char te[96];
        ts_norm_chan(g(m, "TransfereeChannel"), te, sizeof te);
        snprintf(o->stream, sizeof o->stream, "xfer %s", te);
        snprintf(o->sig, sizeof o->sig, "AttendedTransfer %s %s", g(m, "Result"), g(m, "DestType"));
    } else if (!strcmp(ev, "BlindTransfer")) {
        char te[96];
        ts_norm_chan(g(m, "TransfereeChannel"), te, sizeof te);
        snprintf(o->stream, sizeof o->stream, "xfer %s", te);
        snprintf(o->sig, sizeof o->sig, "BlindTransfer %s %s %s,%s", g(m, "Result"), g(m, "IsExternal"),
                 g(m, "Context"), g(m, "Extension"));
    } else if (!strcmp(ev, "Parkinglot")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "Parkinglot %s %s-%s", g(m, "Name"), g(m, "StartSpace"), g(m, "StopSpace"));
    } else if (!strcmp(ev, "BridgeListItem")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "BridgeListItem %s", g(m, "BridgeType"));
    } else if (!strncmp(ev, "AsyncAGI", 8)) {
        snprintf(o->stream, sizeof o->stream, "agi %s", ch);
        /* the Result of a GET VARIABLE UNIQUEID differs by run: keep its status part */
        snprintf(o->sig, sizeof o->sig, "%s %s %.17s", ev, g(m, "CommandId"), g(m, "Result"));
    } else if (!strcmp(ev, "AGIExecStart") || !strcmp(ev, "AGIExecEnd")) {
        snprintf(o->stream, sizeof o->stream, "agi %s", ch);
        snprintf(o->sig, sizeof o->sig, "%s %s %s", ev, g(m, "Command"), g(m, "ResultCode"));
    } else if (!strcmp(ev, "Agents")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        char talking[96];
        ts_norm_chan(g(m, "TalkingToChan"), talking, sizeof talking);
        snprintf(o->sig, sizeof o->sig, "Agents %s %s%s%s%s", g(m, "Agent"), g(m, "Status"),
                 talking[0] ? " talking=" : "", talking, tm_get(m, "CallStarted") ? " started" : "");
    } else if (!strcmp(ev, "QueueParams")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "QueueParams %s calls=%s", g(m, "Queue"), g(m, "Calls"));
    } else if (!strcmp(ev, "QueueMember")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "QueueMember %s %s status=%s paused=%s %s pen=%s", g(m, "Queue"),
                 g(m, "Location"), g(m, "Status"), g(m, "Paused"), g(m, "PausedReason"), g(m, "Penalty"));
    } else if (!strcmp(ev, "QueueSummary")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "QueueSummary %s in=%s avail=%s callers=%s", g(m, "Queue"),
                 g(m, "LoggedIn"), g(m, "Available"), g(m, "Callers"));
    } else if (!strcmp(ev, "CoreShowChannel") || !strcmp(ev, "Status")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        /* what the channel runs; the data only when it is not a channel name or a
         * duration (Wait <TALK>, Queue 8000,,,,300, AgentRequest 9000) */
        const char *app = tm_get(m, "Application"), *data = tm_get(m, !strcmp(ev, "Status") ? "Data" : "ApplicationData");
        snprintf(o->sig, sizeof o->sig, "%s %s app=%s(%s)", ev, ch, app ? app : "",
                 data && !strstr(data, "Local/") ? data : "");
    } else if (strlen(ev) > 8 && !strcmp(ev + strlen(ev) - 8, "Complete") && tm_get(m, "ListItems")) {
        o->list = true;
        snprintf(o->stream, sizeof o->stream, "list %s", g(m, "ActionID"));
        snprintf(o->sig, sizeof o->sig, "%s items=%s%s%s", ev, g(m, "ListItems"), tm_get(m, "Items") ? " Items=" : "",
                 g(m, "Items"));
    } else {
        return false;
    }
    return true;
}

void tk_push(tkeys_t *ks, const tkey_t *k)
{
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 256;
        tkey_t *nk = realloc(ks->k, nc * sizeof *nk);
        if (!nk)
            abort();
        ks->k = nk;
        ks->cap = nc;
    }
    ks->k[ks->n++] = *k;
}

void tk_free(tkeys_t *ks)
{
    free(ks->k);
    memset(ks, 0, sizeof *ks);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the sigs of one stream, sorted when it is a list. */
static size_t stream_sigs(const tkeys_t *ks, const char *stream, const char **out, size_t max)
{
    size_t n = 0;
    bool list = false;
    for (size_t i = 0; i < ks->n && n < max; i++)
        if (strcmp(ks->k[i].stream, stream) == 0) {
            out[n++] = ks->k[i].sig;
            list = ks->k[i].list;
        }
    if (list)
        qsort(out, n, sizeof *out, cmp_str);
    return n;
}

#define SIG_MAX 4096

static int compare_stream(const char *label, const char *stream, const tkeys_t *rec, const tkeys_t *sim)
{
    static const char *a[SIG_MAX], *b[SIG_MAX];
    size_t na = stream_sigs(rec, stream, a, SIG_MAX);
    size_t nb = stream_sigs(sim, stream, b, SIG_MAX);
    bool same = na == nb;
    for (size_t i = 0; same && i < na; i++)
        same = strcmp(a[i], b[i]) == 0;
    if (same)
        return 0;
    fprintf(stderr, "[%s] stream '%s' differs:\n", label, stream);
    size_t n = na > nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "   %c recorded: %-60s simulated: %s\n",
                (i < na && i < nb && strcmp(a[i], b[i]) == 0) ? ' ' : '!', i < na ? a[i] : "-",
                i < nb ? b[i] : "-");
    return 1;
}

static bool wanted(const char *stream, const char *const *prefixes)
{
    if (!prefixes)
        return true;
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(stream, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

size_t tk_count(const tkeys_t *ks, const char *sig_prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < ks->n; i++)
        n += strncmp(ks->k[i].sig, sig_prefix, strlen(sig_prefix)) == 0;
    return n;
}

int tk_compare(const char *label, const tkeys_t *rec, const tkeys_t *sim)
{
    return tk_compare_some(label, rec, sim, NULL);
}

int tk_compare_some(const char *label, const tkeys_t *rec, const tkeys_t *sim, const char *const *prefixes)
{
    int bad = 0;
    const tkeys_t *both[2] = {rec, sim};
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < both[w]->n; i++) {
            const char *st = both[w]->k[i].stream;
            bool seen = false; /* compare each stream once */
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(both[w]->k[j].stream, st) == 0;
            if (w == 1)
                for (size_t j = 0; j < rec->n && !seen; j++)
                    seen = strcmp(rec->k[j].stream, st) == 0;
            if (!seen && wanted(st, prefixes))
                bad += compare_stream(label, st, rec, sim);
        }
    return bad;
}
