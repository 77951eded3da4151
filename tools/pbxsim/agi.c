/*
 * The FastAGI client side of the dialplan step AGI(agi://host:port/script,...):
 * Asterisk connects, sends its agi_* environment, then answers each command
 * line the server sends, and says HANGUP when the channel hangs up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "tools/pbxsim/pbxsim_int.h"

#define AGI_LINE_MAX 4096

static void agi_send(pcall_t *c, const char *line)
{
    if (buf_append(&c->agi_out, line, strlen(line)) != 0 || buf_append(&c->agi_out, "\n", 1) != 0)
        LOG_WARN("pbxsim", "FastAGI output full, line dropped");
}

static void env(pcall_t *c, const char *k, const char *v)
{
    char line[512];
    snprintf(line, sizeof line, "%s: %s", k, v);
    agi_send(c, line);
}

void pbx_agi_start(pbx_t *s, pcall_t *c)
{
    pchan_t *a = c->a;
    const char *path = pbx_chan_getvar(a, "AGIPATH");
    if (!path || !*path)
        path = "test";
    pbx_e_newexten(s, a, "Answer", "");
    pbx_e_varset(s, a, "AGIPATH", path);
    char req[160];
    snprintf(req, sizeof req, "agi://%s:%u/%s", s->agi_host, (unsigned)s->o.fastagi_port, path);
    char data[256];
    snprintf(data, sizeof data, "%s,%s,campaign1", req, a->exten);
    snprintf(a->app, sizeof a->app, "AGI");
    snprintf(a->appdata, sizeof a->appdata, "%.95s", data);
    pbx_e_newexten(s, a, "AGI", data);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(s->o.fastagi_port);
    if (fd < 0 || inet_pton(AF_INET, s->agi_host, &sa.sin_addr) != 1 ||
        (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
        LOG_WARN("pbxsim", "FastAGI connect to %s:%u failed", s->agi_host, (unsigned)s->o.fastagi_port);
        if (fd >= 0)
            close(fd);
        pbx_chan_setvar(a, "AGISTATUS", "FAILURE");
        pbx_agi_finished(s, c);
        return;
    }
    c->agi_fd = fd;
    s->nagi++;
    char tmp[64];
    env(c, "agi_network", "yes");
    env(c, "agi_network_script", path);
    env(c, "agi_request", req);
    env(c, "agi_channel", a->name);
    env(c, "agi_language", "en");
    env(c, "agi_type", "Local");
    env(c, "agi_uniqueid", a->uniqueid);
    env(c, "agi_version", "22.10.1");
    env(c, "agi_callerid", a->cid_num);
    env(c, "agi_calleridname", a->cid_name);
    env(c, "agi_callingpres", "0");
    env(c, "agi_callingani2", "0");
    env(c, "agi_callington", "0");
    env(c, "agi_callingtns", "0");
    env(c, "agi_dnid", "unknown");
    env(c, "agi_rdnis", "unknown");
    env(c, "agi_context", a->context);
    env(c, "agi_extension", a->exten);
    snprintf(tmp, sizeof tmp, "%d", a->prio);
    env(c, "agi_priority", tmp);
    env(c, "agi_enhanced", "0.0");
    env(c, "agi_accountcode", "");
    snprintf(tmp, sizeof tmp, "%llu", 139901207094976ull + c->id);
    env(c, "agi_threadid", tmp);
    /* AGIARGS (an Originate Variable, comma-separated) stands for the AGI() arguments of a
     * dialplan line other than dialer-agi's own "<exten>,campaign1" */
    const char *args = pbx_chan_getvar(a, "AGIARGS");
    if (args && *args) {
        int n = 0;
        for (const char *p = args; p && n < 16;) {
            const char *comma = strchr(p, ',');
            char key[32], val[128];
            snprintf(key, sizeof key, "agi_arg_%d", ++n);
            snprintf(val, sizeof val, "%.*s", comma ? (int)(comma - p) : (int)strlen(p), p);
            env(c, key, val);
            p = comma ? comma + 1 : NULL;
        }
    } else {
        env(c, "agi_arg_1", a->exten);
        env(c, "agi_arg_2", "campaign1");
    }
    agi_send(c, "");
}

/* Closes the socket without continuing the dialplan (call teardown). */
void pbx_agi_close(pbx_t *s, pcall_t *c)
{
    if (c->agi_fd >= 0) {
        close(c->agi_fd);
        c->agi_fd = -1;
        s->nagi--;
    }
}

static void exec_event(pbx_t *s, pcall_t *c, const char *cmd, int code, bool end)
{
    if (!c->a)
        return;
    pbx_ev_begin(s, end ? "AGIExecEnd" : "AGIExecStart", "agi,all");
    pbx_ev_chan(s, "", c->a);
    if (c->agi_async)
        pbx_ev_kv(s, "CommandId", "%s", c->agi_cmdid);
    else
        pbx_ev_kv(s, "CommandId", "%d", 1000000 + c->agi_cmd_seq);
    pbx_ev_kv(s, "Command", "%s", cmd);
    if (end) {
        pbx_ev_kv(s, "ResultCode", "%d", code);
        pbx_ev_kv(s, "Result", "%s", code == 200 ? "Success" : "Invalid or unknown command");
    }
    pbx_ev_end(s);
}

static void url_encode(const char *in, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < n; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~' || ch == '(' || ch == ')') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

static void async_next(pbx_t *s, pcall_t *c);

static void reply(pbx_t *s, pcall_t *c, const char *cmd, const char *ans)
{
    exec_event(s, c, cmd, ans[0] == '2' ? 200 : 510, true);
    if (!c->agi_async) {
        agi_send(c, ans);
        return;
    }
    char line[600], enc[1800];
    snprintf(line, sizeof line, "%s\n", ans);
    url_encode(line, enc, sizeof enc);
    if (c->a) {
        pbx_ev_begin(s, "AsyncAGIExec", "agi,all");
        pbx_ev_chan(s, "", c->a);
        pbx_ev_kv(s, "Result", "%s", enc);
        pbx_ev_kv(s, "CommandId", "%s", c->agi_cmdid);
        pbx_ev_end(s);
    }
}

/* Substitutes ${CHANNEL}, ${UNIQUEID}, ${CALLERID(num)}, ${CALLERID(name)} and ${VAR}. */
static void expand(pcall_t *c, const char *in, char *out, size_t n)
{
    size_t o = 0;
    while (*in && o + 1 < n) {
        if (in[0] == '$' && in[1] == '{') {
            const char *end = strchr(in, '}');
            if (end) {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(end - in - 2), in + 2);
                const char *v = "";
                if (c->a) {
                    if (strcmp(name, "CHANNEL") == 0)
                        v = c->a->name;
                    else if (strcmp(name, "UNIQUEID") == 0)
                        v = c->a->uniqueid;
                    else if (strcmp(name, "CALLERID(num)") == 0)
                        v = c->a->cid_num;
                    else if (strcmp(name, "CALLERID(name)") == 0)
                        v = c->a->cid_name;
                    else if (pbx_chan_getvar(c->a, name))
                        v = pbx_chan_getvar(c->a, name);
                }
                o += (size_t)snprintf(out + o, n - o, "%s", v);
                if (o >= n)
                    o = n - 1;
                in = end + 1;
                continue;
            }
        }
        out[o++] = *in++;
    }
    out[o] = '\0';
}

static void wait_done(pbx_t *s, pcall_t *c, uint64_t gen)
{
    if (!c->agi_waiting || gen != c->agi_wait_gen)
        return;
    c->agi_waiting = false;
    reply(s, c, c->agi_cmd, "200 result=0");
    if (c->agi_async) {
        async_next(s, c);
        return;
    }
    if (c->agi_fd < 0) { /* the server left while we waited */
        pbx_agi_finished(s, c);
        return;
    }
    pbx_agi_io(s, c, 0); /* handle commands that queued up meanwhile */
}

static void command(pbx_t *s, pcall_t *c, const char *cmd)
{
    char ans[600], w[4][128];
    int nw = sscanf(cmd, "%127s %127s %127s %127s", w[0], w[1], w[2], w[3]);
    c->agi_cmd_seq++;
    exec_event(s, c, cmd, 0, false);
    pchan_t *a = c->a;
    if (nw >= 1 && strcasecmp(w[0], "VERBOSE") == 0) {
        reply(s, c, cmd, "200 result=1");
    } else if (nw >= 3 && strcasecmp(w[0], "GET") == 0 && strcasecmp(w[1], "VARIABLE") == 0) {
        char expr[160], val[400];
        snprintf(expr, sizeof expr, "${%s}", w[2]);
        expand(c, expr, val, sizeof val);
        bool set = (a && (pbx_chan_getvar(a, w[2]) || strcmp(w[2], "UNIQUEID") == 0 ||
                          strcmp(w[2], "CHANNEL") == 0));
        if (set) {
            snprintf(ans, sizeof ans, "200 result=1 (%s)", val);
            reply(s, c, cmd, ans);
        } else {
            reply(s, c, cmd, "200 result=0");
        }
    } else if (nw >= 3 && strcasecmp(w[0], "GET") == 0 && strcasecmp(w[1], "FULL") == 0) {
        const char *p = strcasestr(cmd, "VARIABLE");
        p = p ? p + 8 : "";
        while (*p == ' ')
            p++;
        char val[400];
        expand(c, p, val, sizeof val);
        snprintf(ans, sizeof ans, "200 result=1 (%s)", val);
        reply(s, c, cmd, ans);
    } else if (nw >= 2 && strcasecmp(w[0], "CHANNEL") == 0 && strcasecmp(w[1], "STATUS") == 0) {
        reply(s, c, cmd, c->b ? "200 result=6" : "200 result=-1");
    } else if (nw >= 3 && strcasecmp(w[0], "SET") == 0 && strcasecmp(w[1], "VARIABLE") == 0) {
        const char *p = strcasestr(cmd, "VARIABLE") + 8;
        while (*p == ' ')
            p++;
        const char *sp = strchr(p, ' ');
        char name[64], val[96];
        snprintf(name, sizeof name, "%.*s", sp ? (int)(sp - p) : (int)strlen(p), p);
        snprintf(val, sizeof val, "%s", sp ? sp + 1 : "");
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            memmove(val, val + 1, vl - 2);
            val[vl - 2] = '\0';
        }
        if (a) {
            pbx_chan_setvar(a, name, val);
            pbx_e_varset(s, a, name, val);
        }
        reply(s, c, cmd, "200 result=1");
    } else if (nw >= 2 && strcasecmp(w[0], "GET") == 0 && strcasecmp(w[1], "DATA") == 0) {
        /* the caller's key presses come from AGIDIGITS (an Originate Variable), one answer
         * per '|' for successive GET DATA; none is a timeout, answered as Asterisk does */
        const char *d = a ? pbx_chan_getvar(a, "AGIDIGITS") : NULL;
        for (int k = 0; d && k < c->agi_getdata_n; k++) {
            d = strchr(d, '|');
            d = d ? d + 1 : NULL;
        }
        c->agi_getdata_n++;
        size_t dl = d ? strcspn(d, "|") : 0;
        if (!c->b) {
            reply(s, c, cmd, "200 result=-1");
        } else if (dl > 0) {
            snprintf(ans, sizeof ans, "200 result=%.*s", (int)(dl < 60 ? dl : 60), d);
            reply(s, c, cmd, ans);
        } else {
            reply(s, c, cmd, "200 result= (timeout)");
        }
    } else if (nw >= 2 && strcasecmp(w[0], "STREAM") == 0 && strcasecmp(w[1], "FILE") == 0) {
        reply(s, c, cmd, "200 result=0 endpos=2400");
    } else if (nw >= 2 && strcasecmp(w[0], "EXEC") == 0) {
        if (strcasecmp(w[1], "Wait") == 0 && nw >= 3 && c->b) {
            c->agi_waiting = true;
            c->agi_wait_gen++;
            snprintf(c->agi_cmd, sizeof c->agi_cmd, "%.255s", cmd);
            pbx_timer_add(s, (int64_t)(atof(w[2]) * 1000.0), wait_done, c, c->agi_wait_gen);
            return;
        }
        reply(s, c, cmd, c->b ? "200 result=0" : "200 result=-1");
    } else if (nw >= 4 && strcasecmp(w[0], "DATABASE") == 0 && strcasecmp(w[1], "PUT") == 0) {
        char key[300];
        const char *v = strstr(cmd, w[3]);
        v = v ? v + strlen(w[3]) : "";
        while (*v == ' ')
            v++;
        snprintf(key, sizeof key, "db/%s/%s", w[2], w[3]);
        char *old = NULL;
        char *dup = strdup(v);
        if (dup && hmap_put(s->globals, key, dup, (void **)&old) == 0)
            free(old);
        else
            free(dup);
        reply(s, c, cmd, "200 result=1");
    } else if (nw >= 4 && strcasecmp(w[0], "DATABASE") == 0 && strcasecmp(w[1], "GET") == 0) {
        char key[300];
        snprintf(key, sizeof key, "db/%s/%s", w[2], w[3]);
        const char *v = hmap_get(s->globals, key);
        if (v) {
            snprintf(ans, sizeof ans, "200 result=1 (%s)", v);
            reply(s, c, cmd, ans);
        } else {
            reply(s, c, cmd, "200 result=0");
        }
    } else if (nw >= 1 && (strcasecmp(w[0], "NOOP") == 0 || strcasecmp(w[0], "ANSWER") == 0)) {
        reply(s, c, cmd, "200 result=0");
    } else if (nw >= 1 && strcasecmp(w[0], "HANGUP") == 0) {
        reply(s, c, cmd, "200 result=1");
        if (c->b)
            pbx_hangup_channel(s, c->b, 16);
    } else {
        reply(s, c, cmd, "510 Invalid or unknown command");
    }
}

void pbx_agi_hangup(pbx_t *s, pcall_t *c)
{
    if (c->agi_hangup_sent)
        return;
    c->agi_hangup_sent = true;
    if (c->agi_waiting) {
        c->agi_waiting = false;
        reply(s, c, c->agi_cmd, "200 result=-1");
    }
    agi_send(c, "HANGUP");
}

void pbx_agi_io(pbx_t *s, pcall_t *c, short revents)
{
    if (c->agi_fd < 0)
        return;
    bool eof = false;
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        eof = (revents & POLLIN) == 0;
    if (revents & POLLIN) {
        char *p = buf_reserve(&c->agi_in, 4096);
        ssize_t n = p ? read(c->agi_fd, p, 4096) : -1;
        if (n > 0)
            buf_commit(&c->agi_in, (size_t)n);
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            eof = true;
    }
    /* one command at a time, like Asterisk; the rest waits in agi_in */
    while (!c->agi_waiting && c->agi_fd >= 0) {
        char *d = buf_data(&c->agi_in);
        char *nl = d ? memchr(d, '\n', c->agi_in.len) : NULL;
        if (!nl) {
            if (c->agi_in.len > AGI_LINE_MAX)
                eof = true;
            break;
        }
        char line[AGI_LINE_MAX + 1];
        size_t l = (size_t)(nl - d);
        snprintf(line, sizeof line, "%.*s", (int)(l > 0 && d[l - 1] == '\r' ? l - 1 : l), d);
        buf_consume(&c->agi_in, l + 1);
        if (line[0])
            command(s, c, line);
    }
    if (c->agi_out.len > 0 && c->agi_fd >= 0) {
        ssize_t n = write(c->agi_fd, buf_data(&c->agi_out), c->agi_out.len);
        if (n > 0)
            buf_consume(&c->agi_out, (size_t)n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN)
            eof = true;
    }
    if (eof && !c->agi_waiting) {
        pbx_agi_close(s, c);
        buf_reset(&c->agi_in);
        buf_reset(&c->agi_out);
        if (c->a)
            pbx_chan_setvar(c->a, "AGISTATUS", "SUCCESS");
        pbx_agi_finished(s, c);
    } else if (eof) {
        pbx_agi_close(s, c);
    }
}

/* ---------------- Async AGI (AGI(agi:async) + Action: AGI) ---------------- */

void pbx_asyncagi_start(pbx_t *s, pcall_t *c)
{
    pchan_t *a = c->a;
    a->prio = 3;
    snprintf(a->app, sizeof a->app, "AGI");
    snprintf(a->appdata, sizeof a->appdata, "agi:async");
    pbx_e_newexten(s, a, "AGI", "agi:async");
    c->agi_async = true;
    char envtxt[2048], tmp[64];
    size_t o = 0;
#define ENV(k, v) o += (size_t)snprintf(envtxt + o, sizeof envtxt - o, "%s: %s\n", (k), (v))
    ENV("agi_request", "async");
    ENV("agi_channel", a->name);
    ENV("agi_language", "en");
    ENV("agi_type", "Local");
    ENV("agi_uniqueid", a->uniqueid);
    ENV("agi_version", "22.10.1");
    ENV("agi_callerid", a->cid_num);
    ENV("agi_calleridname", a->cid_name);
    ENV("agi_callingpres", "0");
    ENV("agi_callingani2", "0");
    ENV("agi_callington", "0");
    ENV("agi_callingtns", "0");
    ENV("agi_dnid", "unknown");
    ENV("agi_rdnis", "unknown");
    ENV("agi_context", a->context);
    ENV("agi_extension", a->exten);
    snprintf(tmp, sizeof tmp, "%d", a->prio);
    ENV("agi_priority", tmp);
    ENV("agi_enhanced", "0.0");
    ENV("agi_accountcode", "");
    snprintf(tmp, sizeof tmp, "%llu", 139901205046976ull + c->id);
    ENV("agi_threadid", tmp);
#undef ENV
    if (o < sizeof envtxt - 1) {
        envtxt[o++] = '\n';
        envtxt[o] = '\0';
    }
    char enc[6144];
    url_encode(envtxt, enc, sizeof enc);
    pbx_ev_begin(s, "AsyncAGIStart", "agi,all");
    pbx_ev_chan(s, "", a);
    pbx_ev_kv(s, "Env", "%s", enc);
    pbx_ev_end(s);
}

static void async_end(pbx_t *s, pcall_t *c)
{
    c->agi_async = false;
    c->aq_len = 0;
    if (c->a) {
        pbx_e_chan(s, "AsyncAGIEnd", "agi,all", c->a);
        pbx_chan_setvar(c->a, "AGISTATUS", "SUCCESS");
    }
    pbx_agi_finished(s, c);
}

/* Runs queued commands until one has to wait or the queue is empty. */
static void async_next(pbx_t *s, pcall_t *c)
{
    while (c->agi_async && !c->agi_waiting && c->aq_len > 0) {
        int i = c->aq_head;
        c->aq_head = (c->aq_head + 1) % 8;
        c->aq_len--;
        snprintf(c->agi_cmdid, sizeof c->agi_cmdid, "%s", c->aq_id[i]);
        if (strcasecmp(c->aq_cmd[i], "ASYNCAGI BREAK") == 0) {
            c->agi_cmd_seq++;
            exec_event(s, c, c->aq_cmd[i], 0, false);
            reply(s, c, c->aq_cmd[i], "200 result=0");
            async_end(s, c);
            return;
        }
        command(s, c, c->aq_cmd[i]);
    }
}

int pbx_asyncagi_queue(pbx_t *s, pchan_t *ch, const char *cmd, const char *id)
{
    pcall_t *c = ch->call;
    if (!c || ch != c->a || !c->agi_async || c->aq_len >= 8)
        return -1;
    int i = (c->aq_head + c->aq_len) % 8;
    snprintf(c->aq_cmd[i], sizeof c->aq_cmd[i], "%.255s", cmd);
    snprintf(c->aq_id[i], sizeof c->aq_id[i], "%.63s", id);
    c->aq_len++;
    (void)s;
    return 0;
}

/* Called by the action handler after its response went out. */
void pbx_asyncagi_kick(pbx_t *s, pchan_t *ch)
{
    if (ch->call)
        async_next(s, ch->call);
}
