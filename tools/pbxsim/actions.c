/* AMI actions: what Asterisk 22 answers, and what each one does to the PBX. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "tools/pbxsim/pbxsim_int.h"

/* The connection the response goes to; NULL while an action is swallowed. */
static pconn_t *out_conn(pbx_t *s)
{
    return s->cur;
}

static void resp_begin(pbx_t *s, const pbx_msg_t *m, const char *response)
{
    buf_reset(&s->ev);
    buf_printf(&s->ev, "Response: %s\r\n", response);
    ccd_str_t id = pbx_msg_get(m, "ActionID");
    if (id.p)
        buf_printf(&s->ev, "ActionID: %.*s\r\n", (int)id.len, id.p);
}

static void resp_end(pbx_t *s)
{
    pbx_ev_end_to(s, out_conn(s));
}

static void respond(pbx_t *s, const pbx_msg_t *m, const char *response, const char *msg)
{
    resp_begin(s, m, response);
    if (msg)
        pbx_ev_kv(s, "Message", "%s", msg);
    resp_end(s);
}

/* Starts a list event (no Privilege/Timestamp) for the asking connection. */
static void list_begin(pbx_t *s, const char *event)
{
    buf_reset(&s->ev);
    buf_printf(&s->ev, "Event: %s\r\n", event);
}

static void list_actionid(pbx_t *s, const pbx_msg_t *m)
{
    ccd_str_t id = pbx_msg_get(m, "ActionID");
    if (id.p)
        buf_printf(&s->ev, "ActionID: %.*s\r\n", (int)id.len, id.p);
}

static void list_complete(pbx_t *s, const pbx_msg_t *m, const char *event, int items)
{
    list_begin(s, event);
    list_actionid(s, m);
    pbx_ev_kv(s, "EventList", "Complete");
    pbx_ev_kv(s, "ListItems", "%d", items);
    resp_end(s);
}

static void list_start(pbx_t *s, const pbx_msg_t *m, const char *msg)
{
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "EventList", "start");
    pbx_ev_kv(s, "Message", "%s", msg);
    resp_end(s);
}

static bool truthy(ccd_str_t v)
{
    return v.p && (ccd_str_ieq(v, CCD_STR_LIT("true")) || ccd_str_ieq(v, CCD_STR_LIT("yes")) ||
                   ccd_str_ieq(v, CCD_STR_LIT("1")) || ccd_str_ieq(v, CCD_STR_LIT("on")));
}

/* ---------------- login ---------------- */

static void md5_hex(const char *a, const char *b, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(ctx, a, strlen(a)) != 1 ||
        EVP_DigestUpdate(ctx, b, strlen(b)) != 1 || EVP_DigestFinal_ex(ctx, d, &n) != 1)
        n = 0;
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < n && i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[n ? 32 : 0] = '\0';
}

static void act_challenge(pbx_t *s, pconn_t *c, const pbx_msg_t *m)
{
    snprintf(c->challenge, sizeof c->challenge, "%09llu", (unsigned long long)(pbx_rand(s) % 1000000000ull));
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "Challenge", "%s", c->challenge);
    resp_end(s);
}

static void act_login(pbx_t *s, pconn_t *c, const pbx_msg_t *m)
{
    char user[64], secret[128], key[64], authtype[16];
    pbx_msg_copy(m, "Username", user, sizeof user);
    pbx_msg_copy(m, "Secret", secret, sizeof secret);
    pbx_msg_copy(m, "Key", key, sizeof key);
    pbx_msg_copy(m, "AuthType", authtype, sizeof authtype);
    bool ok = strcmp(user, s->username) == 0;
    if (ok && strcasecmp(authtype, "md5") == 0) {
        char want[33];
        md5_hex(c->challenge, s->secret, want);
        ok = c->challenge[0] && strcasecmp(want, key) == 0;
    } else if (ok) {
        ok = strcmp(secret, s->secret) == 0;
    }
    if (!ok) {
        LOG_INFO("pbxsim", "login failed for user '%s'", user);
        if (s->o.auth_fail_delay_ms == 0) {
            respond(s, m, "Error", "Authentication failed");
            c->closing = true; /* Asterisk ends the session after a failed login */
        } else {
            pbx_msg_copy(m, "ActionID", c->pending_id, sizeof c->pending_id);
            c->auth_fail_at = 1; /* server.c turns this into a deadline */
        }
        return;
    }
    respond(s, m, "Success", "Authentication accepted");
    c->logged_in = true;
    c->events_on = true;
    c->class_mask = PBX_CLS_ALL;
    int64_t up = pbx_vnow(s) / 1000;
    buf_reset(&s->ev);
    buf_printf(&s->ev, "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: %lld\r\nLastReload: %lld\r\n"
                       "Status: Fully Booted\r\n",
               (long long)up, (long long)up);
    pbx_ev_end_to(s, c);
    pbx_ev_begin(s, "SuccessfulAuth", "security,all");
    time_t t = time(NULL);
    struct tm tm;
    char tv[40];
    gmtime_r(&t, &tm);
    strftime(tv, sizeof tv, "%Y-%m-%dT%H:%M:%S.000+0000", &tm);
    pbx_ev_kv(s, "EventTV", "%s", tv);
    pbx_ev_kv(s, "Severity", "Informational");
    pbx_ev_kv(s, "Service", "AMI");
    pbx_ev_kv(s, "EventVersion", "1");
    pbx_ev_kv(s, "AccountID", "%s", user);
    pbx_ev_kv(s, "SessionID", "0x%llx", (unsigned long long)(uintptr_t)c);
    pbx_ev_kv(s, "LocalAddress", "IPV4/TCP/127.0.0.1/%u", (unsigned)s->port);
    pbx_ev_kv(s, "RemoteAddress", "IPV4/TCP/%s", c->peer);
    pbx_ev_kv(s, "UsingPassword", "0");
    pbx_ev_kv(s, "SessionTV", "%s", tv);
    pbx_ev_end_to(s, c);
    /* Login's own "Events:" header sets the session's event mask, as the
     * Events action does ("off" = none; a class list = those classes). */
    char events[256];
    pbx_msg_copy(m, "Events", events, sizeof events);
    if (events[0]) {
        unsigned bits = pbx_class_bits(events);
        c->events_on = bits != 0;
        c->class_mask = bits;
    }
}

/* ---------------- Originate and channel actions ---------------- */

static void parse_callerid(const char *in, char *num, size_t nn, char *name, size_t nm)
{
    const char *lt = strchr(in, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt) {
        snprintf(num, nn, "%.*s", (int)(gt - lt - 1), lt + 1);
        const char *p = in, *e = lt;
        while (p < e && (*p == ' ' || *p == '"'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '"'))
            e--;
        snprintf(name, nm, "%.*s", (int)(e - p), p);
    } else {
        snprintf(num, nn, "%.39s", in);
        name[0] = '\0';
    }
}

static void act_originate(pbx_t *s, const pbx_msg_t *m)
{
    char chan[128];
    pbx_msg_copy(m, "Channel", chan, sizeof chan);
    const char *at = strchr(chan, '@');
    if (strncasecmp(chan, "Local/", 6) != 0 || !at || at == chan + 6) {
        respond(s, m, "Error", chan[0] ? "Originate failed" : "Channel not specified");
        return;
    }
    pcall_t *c = pbx_call_new(s);
    if (!c) {
        respond(s, m, "Error", "Originate failed");
        return;
    }
    snprintf(c->dialstr, sizeof c->dialstr, "%.95s", chan);
    snprintf(c->callee, sizeof c->callee, "%.*s", (int)(at - chan - 6), chan + 6);
    snprintf(c->callee_ctx, sizeof c->callee_ctx, "%s", at + 1);
    char *slash = strchr(c->callee_ctx, '/'); /* Local/x@ctx/n options */
    if (slash)
        *slash = '\0';
    pbx_msg_copy(m, "ActionID", c->action_id, sizeof c->action_id);
    pbx_msg_copy(m, "Context", c->dest_ctx, sizeof c->dest_ctx);
    pbx_msg_copy(m, "Exten", c->dest_exten, sizeof c->dest_exten);
    pbx_msg_copy(m, "Application", c->dest_app, sizeof c->dest_app);
    pbx_msg_copy(m, "Data", c->dest_data, sizeof c->dest_data);
    pbx_msg_copy(m, "ChannelId", c->chan_id, sizeof c->chan_id);
    pbx_msg_copy(m, "OtherChannelId", c->other_id, sizeof c->other_id);
    c->use_app = c->dest_app[0] != '\0';
    char tmp[128];
    pbx_msg_copy(m, "Timeout", tmp, sizeof tmp);
    c->timeout_ms = (uint32_t)strtoul(tmp, NULL, 10);
    pbx_msg_copy(m, "CallerID", tmp, sizeof tmp);
    parse_callerid(tmp, c->cid_num, sizeof c->cid_num, c->cid_name, sizeof c->cid_name);
    for (int i = 0; i < m->n; i++) {
        if (!ccd_str_ieq(m->h[i].key, CCD_STR_LIT("Variable")))
            continue;
        char v[160];
        ccd_str_copy(v, sizeof v, m->h[i].val);
        char *eq = strchr(v, '=');
        if (!eq || c->nvars >= PCHAN_VARS)
            continue;
        *eq = '\0';
        snprintf(c->vars[c->nvars].name, sizeof c->vars[0].name, "%.31s", v);
        snprintf(c->vars[c->nvars].value, sizeof c->vars[0].value, "%.95s", eq + 1);
        c->nvars++;
    }
    if (c->chan_id[0] && pbx_chan_find(s, c->chan_id)) {
        respond(s, m, "Error", "Uniqueid already in use");
        pbx_call_finish(s, c);
        return;
    }
    if (!c->use_app) {
        if (strcmp(c->dest_ctx, "dialer-queue") == 0 || strcmp(c->dest_ctx, "dialer-queue-xfer") == 0)
            c->dest = DEST_QUEUE;
        else if (strcmp(c->dest_ctx, "agent-login") == 0)
            c->dest = DEST_AGENTLOGIN;
        else if (strcmp(c->dest_ctx, "dialer-agi") == 0)
            c->dest = DEST_AGI;
        else if (strcmp(c->dest_ctx, "dialer-asyncagi") == 0)
            c->dest = DEST_ASYNCAGI;
        else if (strcmp(c->dest_ctx, "llamada_agendada") == 0)
            c->dest = DEST_CALLBACK;
    }
    s->originates++;
    respond(s, m, "Success", "Originate successfully queued");
    pbx_originate_start(s, c);
}

static pchan_t *find_chan_hdr(pbx_t *s, const pbx_msg_t *m, const char *hdr)
{
    char name[128];
    pbx_msg_copy(m, hdr, name, sizeof name);
    return name[0] ? pbx_chan_find(s, name) : NULL;
}

static void act_hangup(pbx_t *s, const pbx_msg_t *m)
{
    pchan_t *c = find_chan_hdr(s, m, "Channel");
    if (!c) {
        respond(s, m, "Error", "No such channel");
        return;
    }
    respond(s, m, "Success", "Channel Hungup");
    char cause[16];
    pbx_msg_copy(m, "Cause", cause, sizeof cause);
    pbx_hangup_channel(s, c, cause[0] ? atoi(cause) : 16);
}

/* The contexts of the test dialplan (conf/extensions.conf, res_parking.conf). */
static bool known_context(const char *ctx)
{
    static const char *const ctxs[] = {"customers", "phones", "agent-login", "agents", "dialer-queue",
                                       "dialer-answered", "dialer-agi", "dialer-asyncagi", "agi-test",
                                       "dialer-queue-xfer", "hold", "agent-hold", "transfer-target",
                                       "agent-dial", "parkedcalls", "park-dial", NULL};
    for (int i = 0; ctxs[i]; i++)
        if (strcmp(ctx, ctxs[i]) == 0)
            return true;
    return false;
}

static void act_redirect(pbx_t *s, const pbx_msg_t *m)
{
    pchan_t *c = find_chan_hdr(s, m, "Channel");
    if (!c) {
        char name[128];
        pbx_msg_copy(m, "Channel", name, sizeof name);
        char msg[160];
        snprintf(msg, sizeof msg, "Channel does not exist: %s", name);
        respond(s, m, "Error", msg);
        return;
    }
    char ctx[40], exten[40];
    pbx_msg_copy(m, "Context", ctx, sizeof ctx);
    pbx_msg_copy(m, "Exten", exten, sizeof exten);
    pchan_t *x = find_chan_hdr(s, m, "ExtraChannel");
    char xctx[40], xexten[40];
    pbx_msg_copy(m, "ExtraContext", xctx, sizeof xctx);
    pbx_msg_copy(m, "ExtraExten", xexten, sizeof xexten);
    respond(s, m, "Success", x ? "Dual Redirect successful" : "Redirect successful");
    if (!x && !known_context(ctx)) {
        /* Asterisk accepts it, then the channel finds no such extension and no
         * invalid handler and is hung up at once (redirect_invalid_context.txt) */
        pbx_hangup_channel(s, c, 16);
        return;
    }
    pbx_redirect(s, c, ctx, exten, x, xctx, xexten);
}

static void act_park(pbx_t *s, const pbx_msg_t *m)
{
    pchan_t *c = find_chan_hdr(s, m, "Channel");
    if (!c) {
        respond(s, m, "Error", "Channel does not exist");
        return;
    }
    pchan_t *t = find_chan_hdr(s, m, "TimeoutChannel");
    if (!t)
        t = find_chan_hdr(s, m, "Channel2");
    char tmo[16];
    pbx_msg_copy(m, "Timeout", tmo, sizeof tmo);
    if (!c->call || c != c->call->a || c->call->parked) {
        respond(s, m, "Error", "Park failed");
        return;
    }
    respond(s, m, "Success", "Park successful");
    int space = 0;
    pbx_park(s, c, t, (uint32_t)strtoul(tmo, NULL, 10), &space);
}

static void act_getvar(pbx_t *s, const pbx_msg_t *m)
{
    char var[64], chan[128];
    pbx_msg_copy(m, "Variable", var, sizeof var);
    pbx_msg_copy(m, "Channel", chan, sizeof chan);
    const char *val = "";
    if (chan[0]) {
        pchan_t *c = pbx_chan_find(s, chan);
        if (!c) {
            respond(s, m, "Error", "No such channel");
            return;
        }
        if (strcasecmp(var, "CHANNEL(state)") == 0)
            val = pbx_state_desc(c->state);
        else if (strcmp(var, "UNIQUEID") == 0)
            val = c->uniqueid;
        else if (pbx_chan_getvar(c, var))
            val = pbx_chan_getvar(c, var);
    } else {
        const char *g = hmap_get(s->globals, var);
        val = g ? g : "";
    }
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "Variable", "%s", var);
    pbx_ev_kv(s, "Value", "%s", val);
    resp_end(s);
}

static void act_setvar(pbx_t *s, const pbx_msg_t *m)
{
    char var[64], val[96], chan[128];
    pbx_msg_copy(m, "Variable", var, sizeof var);
    pbx_msg_copy(m, "Value", val, sizeof val);
    pbx_msg_copy(m, "Channel", chan, sizeof chan);
    if (!var[0]) {
        respond(s, m, "Error", "No variable specified");
        return;
    }
    if (chan[0]) {
        pchan_t *c = pbx_chan_find(s, chan);
        if (!c) {
            respond(s, m, "Error", "Channel not found");
            return;
        }
        respond(s, m, "Success", "Variable Set");
        pbx_chan_setvar(c, var, val);
        pbx_e_varset(s, c, var, val);
        return;
    }
    char *dup = strdup(val), *old = NULL;
    if (dup && hmap_put(s->globals, var, dup, (void **)&old) == 0)
        free(old);
    else
        free(dup);
    respond(s, m, "Success", "Variable Set");
}

static void fmt_dur(int64_t ms, char *out, size_t n)
{
    int64_t sec = ms / 1000;
    snprintf(out, n, "%02lld:%02lld:%02lld", (long long)(sec / 3600), (long long)(sec / 60 % 60),
             (long long)(sec % 60));
}

static void act_coreshowchannels(pbx_t *s, const pbx_msg_t *m)
{
    list_start(s, m, "Channels will follow");
    int n = 0;
    for (pchan_t *c = s->chans; c; c = c->next, n++) {
        char dur[32];
        fmt_dur(pbx_vnow(s) - c->created_vms, dur, sizeof dur);
        list_begin(s, "CoreShowChannel");
        list_actionid(s, m);
        pbx_ev_chan(s, "", c);
        pbx_ev_kv(s, "Application", "%s", c->app);
        pbx_ev_kv(s, "ApplicationData", "%s", c->appdata);
        pbx_ev_kv(s, "Duration", "%s", dur);
        pbx_ev_kv(s, "BridgeId", "%s", c->bridge ? c->bridge->id : "");
        resp_end(s);
    }
    list_complete(s, m, "CoreShowChannelsComplete", n);
}

static void act_status(pbx_t *s, const pbx_msg_t *m)
{
    char chan[128], vars[256];
    pbx_msg_copy(m, "Channel", chan, sizeof chan);
    pbx_msg_copy(m, "Variables", vars, sizeof vars);
    pchan_t *only = NULL;
    if (chan[0] && !(only = pbx_chan_find(s, chan))) {
        respond(s, m, "Error", "No such channel");
        return;
    }
    list_start(s, m, "Channel status will follow");
    int n = 0;
    for (pchan_t *c = s->chans; c; c = c->next) {
        if (only && c != only)
            continue;
        n++;
        char dur[32];
        fmt_dur(pbx_vnow(s) - c->created_vms, dur, sizeof dur);
        list_begin(s, "Status");
        pbx_ev_kv(s, "Privilege", "Call");
        pbx_ev_chan(s, "", c);
        pbx_ev_kv(s, "Type", "Local");
        pbx_ev_kv(s, "DNID", "%s", "");
        pbx_ev_kv(s, "EffectiveConnectedLineNum", "%s", c->con_num);
        pbx_ev_kv(s, "EffectiveConnectedLineName", "%s", c->con_name);
        pbx_ev_kv(s, "TimeToHangup", "0");
        pbx_ev_kv(s, "BridgeID", "%s", c->bridge ? c->bridge->id : "");
        pbx_ev_kv(s, "Application", "%s", c->app);
        pbx_ev_kv(s, "Data", "%s", c->appdata);
        pbx_ev_kv(s, "Nativeformats", "(slin)");
        pbx_ev_kv(s, "Readformat", "slin");
        pbx_ev_kv(s, "Readtrans", "%s", "");
        pbx_ev_kv(s, "Writeformat", "slin");
        pbx_ev_kv(s, "Writetrans", "%s", "");
        pbx_ev_kv(s, "Callgroup", "0");
        pbx_ev_kv(s, "Pickupgroup", "0");
        pbx_ev_kv(s, "Seconds", "%lld", (long long)((pbx_vnow(s) - c->created_vms) / 1000));
        if (vars[0]) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", vars);
            char *save = NULL;
            for (char *v = strtok_r(tmp, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
                const char *val = pbx_chan_getvar(c, v);
                pbx_ev_kv(s, "Variable", "%s=%s", v, val ? val : "");
            }
        }
        list_actionid(s, m);
        resp_end(s);
    }
    list_begin(s, "StatusComplete");
    list_actionid(s, m);
    pbx_ev_kv(s, "EventList", "Complete");
    pbx_ev_kv(s, "ListItems", "%d", n);
    pbx_ev_kv(s, "Items", "%d", n); /* Asterisk 22 still sends the old name too */
    resp_end(s);
}

static void act_corestatus(pbx_t *s, const pbx_msg_t *m)
{
    char d1[16], t1[16], d2[16], t2[16];
    time_t st = (time_t)s->startup_wall, rl = (time_t)s->reload_wall;
    struct tm tm;
    localtime_r(&st, &tm);
    strftime(d1, sizeof d1, "%Y-%m-%d", &tm);
    strftime(t1, sizeof t1, "%H:%M:%S", &tm);
    localtime_r(&rl, &tm);
    strftime(d2, sizeof d2, "%Y-%m-%d", &tm);
    strftime(t2, sizeof t2, "%H:%M:%S", &tm);
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "CoreStartupDate", "%s", d1);
    pbx_ev_kv(s, "CoreStartupTime", "%s", t1);
    pbx_ev_kv(s, "CoreReloadDate", "%s", d2);
    pbx_ev_kv(s, "CoreReloadTime", "%s", t2);
    pbx_ev_kv(s, "CoreCurrentCalls", "%u", s->nchans);
    pbx_ev_kv(s, "CoreProcessedCalls", "%llu", (unsigned long long)s->processed_calls);
    resp_end(s);
}

static void act_coresettings(pbx_t *s, const pbx_msg_t *m)
{
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "AMIversion", "11.0.0");
    pbx_ev_kv(s, "AsteriskVersion", "22.10.1");
    pbx_ev_kv(s, "SystemName", "%s", s->sysname);
    pbx_ev_kv(s, "CoreMaxCalls", "0");
    pbx_ev_kv(s, "CoreMaxLoadAvg", "0.000000");
    pbx_ev_kv(s, "CoreRunUser", "%s", "");
    pbx_ev_kv(s, "CoreRunGroup", "%s", "");
    pbx_ev_kv(s, "CoreMaxFilehandles", "0");
    pbx_ev_kv(s, "CoreRealTimeEnabled", "No");
    pbx_ev_kv(s, "CoreCDRenabled", "Yes");
    pbx_ev_kv(s, "CoreHTTPenabled", "No");
    pbx_ev_kv(s, "SoundsSearchCustomDir", "No");
    resp_end(s);
}

static void act_command(pbx_t *s, const pbx_msg_t *m)
{
    char cmd[256];
    pbx_msg_copy(m, "Command", cmd, sizeof cmd);
    if (strcmp(cmd, "core show version") == 0) {
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", "Asterisk 22.10.1 (pbxsim) on a x86_64 running Linux");
    } else if (strcmp(cmd, "core show calls") == 0) {
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", "%u active calls", s->nchans / 2);
        pbx_ev_kv(s, "Output", "%llu calls processed", (unsigned long long)s->processed_calls);
    } else if (strncmp(cmd, "core show channel ", 18) == 0 && !pbx_chan_find(s, cmd + 18)) {
        /* not an error for the CLI: core_show_channel.txt */
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", "%s is not a known channel", cmd + 18);
    } else if (strncmp(cmd, "core show channel ", 18) == 0) {
        pchan_t *c = pbx_chan_find(s, cmd + 18);
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", " -- General --");
        pbx_ev_kv(s, "Output", "           Name: %s", c->name);
        pbx_ev_kv(s, "Output", "           Type: Local");
        pbx_ev_kv(s, "Output", "       UniqueID: %s", c->uniqueid);
        pbx_ev_kv(s, "Output", "       LinkedID: %s", c->linkedid);
        pbx_ev_kv(s, "Output", "      Caller ID: %s", c->cid_num);
        pbx_ev_kv(s, "Output", " Caller ID Name: %s", c->cid_name);
        pbx_ev_kv(s, "Output", "          State: %s (%d)", pbx_state_desc(c->state), c->state);
        pbx_ev_kv(s, "Output", "    Elapsed Time: %lds", (long)((pbx_vnow(s) - c->created_vms) / 1000));
        if (c->bridge)
            pbx_ev_kv(s, "Output", "      Bridge ID: %s", c->bridge->id);
        pbx_ev_kv(s, "Output", " --   PBX   --");
        pbx_ev_kv(s, "Output", "        Context: %s", c->context);
        pbx_ev_kv(s, "Output", "      Extension: %s", c->exten);
        pbx_ev_kv(s, "Output", "       Priority: %d", c->prio);
        pbx_ev_kv(s, "Output", "    Application: %s", c->app);
        pbx_ev_kv(s, "Output", "           Data: %s", c->appdata);
        /* newest first, as Asterisk walks the channel's variable list */
        pbx_ev_kv(s, "Output", "      Variables:");
        for (int i = c->nvars - 1; i >= 0; i--)
            pbx_ev_kv(s, "Output", "%s=%s", c->vars[i].name, c->vars[i].value);
        pbx_ev_kv(s, "Output", "  CDR Variables:");
        pbx_ev_kv(s, "Output", "level 1: channel=%s", c->name);
        pbx_ev_kv(s, "Output", "level 1: uniqueid=%s", c->uniqueid);
        pbx_ev_kv(s, "Output", "level 1: linkedid=%s", c->linkedid);
    } else if (strncmp(cmd, "queue show", 10) == 0) {
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        for (int i = 0; i < s->nqueues; i++) {
            pqueue_t *q = &s->queues[i];
            if (cmd[10] == ' ' && strcmp(cmd + 11, q->name) != 0)
                continue;
            pbx_ev_kv(s, "Output", "%s has %d calls (max unlimited) in 'rrmemory' strategy, C:%d, A:%d", q->name,
                      q->ncallers, q->completed, q->abandoned);
            pbx_ev_kv(s, "Output", "   Members: ");
            for (int j = 0; j < q->nmembers; j++)
                pbx_ev_kv(s, "Output", "      %s (%s from %s) (status %d)%s", q->members[j]->name,
                          q->members[j]->interface, q->members[j]->state_if, pbx_member_status(q->members[j]),
                          q->members[j]->paused ? " (paused)" : "");
            pbx_ev_kv(s, "Output", "   %s", q->ncallers ? "Callers: " : "No Callers");
        }
    } else if (strcmp(cmd, "core show uptime") == 0) {
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", "System uptime: %lld seconds", (long long)(pbx_vnow(s) / 1000));
    } else {
        char first2[128];
        int words = 0;
        size_t i = 0;
        for (; cmd[i] && i < sizeof first2 - 1; i++) {
            if (cmd[i] == ' ' && ++words == 2)
                break;
            first2[i] = cmd[i];
        }
        first2[i] = '\0';
        resp_begin(s, m, "Error");
        pbx_ev_kv(s, "Message", "Command output follows");
        pbx_ev_kv(s, "Output", "No such command '%s' (type 'core show help %s' for other possible commands)", cmd,
                  first2);
    }
    resp_end(s);
}

/* ---------------- queues and agents ---------------- */

static pmember_t *member_in(pqueue_t *q, const char *iface)
{
    for (int i = 0; i < q->nmembers; i++)
        if (strcasecmp(q->members[i]->interface, iface) == 0)
            return q->members[i];
    return NULL;
}

static void act_queuepause(pbx_t *s, const pbx_msg_t *m)
{
    char iface[64], qname[16], reason[64];
    pbx_msg_copy(m, "Interface", iface, sizeof iface);
    pbx_msg_copy(m, "Queue", qname, sizeof qname);
    pbx_msg_copy(m, "Reason", reason, sizeof reason);
    bool paused = truthy(pbx_msg_get(m, "Paused"));
    if (!iface[0]) {
        respond(s, m, "Error", "Need 'Interface' and 'Paused' parameters.");
        return;
    }
    pmember_t *hits[8];
    pqueue_t *hq[8];
    int n = 0;
    for (int i = 0; i < s->nqueues && n < 8; i++) {
        if (qname[0] && strcmp(qname, s->queues[i].name) != 0)
            continue;
        pmember_t *mb = member_in(&s->queues[i], iface);
        if (mb) {
            hq[n] = &s->queues[i];
            hits[n++] = mb;
        }
    }
    if (n == 0) {
        respond(s, m, "Error", "Interface not found");
        return;
    }
    respond(s, m, "Success", paused ? "Interface paused successfully" : "Interface unpaused successfully");
    for (int i = 0; i < n; i++) {
        hits[i]->paused = paused;
        snprintf(hits[i]->reason, sizeof hits[i]->reason, "%s", paused ? reason : "");
        if (paused) /* a new reason while paused is a new pause; unpausing keeps it */
            hits[i]->last_pause = (s->wall0_ms + pbx_vnow(s)) / 1000;
        pbx_e_member(s, "QueueMemberPause", hq[i], hits[i]);
    }
    if (!paused)
        for (int i = 0; i < n; i++)
            pbx_queue_kick(s, hq[i]);
}

static void act_queueadd(pbx_t *s, const pbx_msg_t *m)
{
    char iface[64], qname[16], name[64], sif[64];
    pbx_msg_copy(m, "Interface", iface, sizeof iface);
    pbx_msg_copy(m, "Queue", qname, sizeof qname);
    pbx_msg_copy(m, "MemberName", name, sizeof name);
    pbx_msg_copy(m, "StateInterface", sif, sizeof sif);
    pqueue_t *q = pbx_queue_find(s, qname);
    if (!iface[0] || !qname[0]) {
        respond(s, m, "Error", "'Queue' and 'Interface' not specified.");
        return;
    }
    if (!q) {
        respond(s, m, "Error", "Unable to add interface to queue: No such queue");
        return;
    }
    if (member_in(q, iface)) {
        respond(s, m, "Error", "Unable to add interface: Already there");
        return;
    }
    pmember_t *mb = calloc(1, sizeof *mb);
    if (!mb || pbx_queue_add_member(q, mb) != 0) {
        free(mb);
        respond(s, m, "Error", "Out of memory");
        return;
    }
    snprintf(mb->interface, sizeof mb->interface, "%s", iface);
    snprintf(mb->name, sizeof mb->name, "%s", name[0] ? name : iface);
    snprintf(mb->state_if, sizeof mb->state_if, "%s", sif[0] ? sif : iface);
    mb->dynamic = true;
    mb->paused = truthy(pbx_msg_get(m, "Paused"));
    mb->login_time = (s->wall0_ms + pbx_vnow(s)) / 1000;
    char pen[16];
    pbx_msg_copy(m, "Penalty", pen, sizeof pen);
    mb->penalty = atoi(pen) > 0 ? atoi(pen) : 0;
    if (mb->paused) { /* QueueMemberAdded already carries the pause: no QueueMemberPause follows */
        pbx_msg_copy(m, "Reason", mb->reason, sizeof mb->reason);
        mb->last_pause = mb->login_time;
    }
    if (strncmp(mb->state_if, "Agent:", 6) == 0)
        mb->agent = pbx_agent_find(s, mb->state_if + 6);
    respond(s, m, "Success", "Added interface to queue");
    pbx_e_member(s, "QueueMemberAdded", q, mb);
    pbx_queue_kick(s, q);
}

static void act_queueremove(pbx_t *s, const pbx_msg_t *m)
{
    char iface[64], qname[16];
    pbx_msg_copy(m, "Interface", iface, sizeof iface);
    pbx_msg_copy(m, "Queue", qname, sizeof qname);
    pqueue_t *q = pbx_queue_find(s, qname);
    pmember_t *mb = q ? member_in(q, iface) : NULL;
    if (!q || !mb) {
        respond(s, m, "Error", q ? "Unable to remove interface: Not there" : "Unable to remove interface from queue: No such queue");
        return;
    }
    if (!mb->dynamic) {
        respond(s, m, "Error", "Member not dynamic");
        return;
    }
    if (mb->busy) {
        /* the call keeps going; the member just stops belonging to the queue */
        mb->busy->member = NULL;
    }
    respond(s, m, "Success", "Removed interface from queue");
    pbx_e_member(s, "QueueMemberRemoved", q, mb);
    for (int i = 0; i < q->nmembers; i++)
        if (q->members[i] == mb) {
            memmove(&q->members[i], &q->members[i + 1], (size_t)(q->nmembers - i - 1) * sizeof mb);
            q->nmembers--;
            break;
        }
    free(mb);
}

static void act_queuestatus(pbx_t *s, const pbx_msg_t *m)
{
    char qname[16], member[64];
    pbx_msg_copy(m, "Queue", qname, sizeof qname);
    pbx_msg_copy(m, "Member", member, sizeof member);
    list_start(s, m, "Queue status will follow");
    int n = 0;
    int64_t now_wall = (s->wall0_ms + pbx_vnow(s)) / 1000;
    for (int i = 0; i < s->nqueues; i++) {
        pqueue_t *q = &s->queues[i];
        if (qname[0] && strcmp(qname, q->name) != 0)
            continue;
        int done = q->completed + q->abandoned;
        list_begin(s, "QueueParams");
        pbx_ev_kv(s, "Queue", "%s", q->name);
        pbx_ev_kv(s, "Max", "0");
        pbx_ev_kv(s, "Strategy", "rrmemory");
        pbx_ev_kv(s, "Calls", "%d", q->ncallers);
        pbx_ev_kv(s, "Holdtime", "%lld", (long long)(q->completed ? q->hold_total / q->completed : 0));
        pbx_ev_kv(s, "TalkTime", "%lld", (long long)(q->completed ? q->talk_total / q->completed : 0));
        pbx_ev_kv(s, "Completed", "%d", q->completed);
        pbx_ev_kv(s, "Abandoned", "%d", q->abandoned);
        pbx_ev_kv(s, "ServiceLevel", "0");
        pbx_ev_kv(s, "ServicelevelPerf", "%.1f", done ? 100.0 * q->completed / done : 0.0);
        pbx_ev_kv(s, "ServicelevelPerf2", "%.1f", done ? 100.0 * q->completed / done : 0.0);
        pbx_ev_kv(s, "Weight", "0");
        list_actionid(s, m);
        resp_end(s);
        n++;
        for (int j = 0; j < q->nmembers; j++) {
            pmember_t *mb = q->members[j];
            if (member[0] && strcasecmp(member, mb->interface) != 0)
                continue;
            list_begin(s, "QueueMember");
            pbx_ev_kv(s, "Queue", "%s", q->name);
            pbx_ev_kv(s, "Name", "%s", mb->name);
            pbx_ev_kv(s, "Location", "%s", mb->interface);
            pbx_ev_member_state(s, mb);
            pbx_ev_kv(s, "Wrapuptime", "%u", s->o.wrapup_s);
            list_actionid(s, m);
            resp_end(s);
            n++;
        }
        for (int j = 0; j < q->ncallers && !member[0]; j++) {
            pcall_t *c = q->callers[j];
            if (!c->a)
                continue;
            list_begin(s, "QueueEntry");
            pbx_ev_kv(s, "Queue", "%s", q->name);
            pbx_ev_kv(s, "Position", "%d", j + 1);
            pbx_ev_kv(s, "Channel", "%s", c->a->name);
            pbx_ev_kv(s, "Uniqueid", "%s", c->a->uniqueid);
            pbx_ev_kv(s, "CallerIDNum", "%s", c->a->cid_num);
            pbx_ev_kv(s, "CallerIDName", "%s", c->a->cid_name);
            pbx_ev_kv(s, "ConnectedLineNum", "%s", c->a->con_num);
            pbx_ev_kv(s, "ConnectedLineName", "%s", c->a->con_name);
            pbx_ev_kv(s, "Wait", "%lld", (long long)((pbx_vnow(s) - c->join_vms) / 1000));
            pbx_ev_kv(s, "Priority", "0");
            list_actionid(s, m);
            resp_end(s);
            n++;
        }
    }
    (void)now_wall;
    list_complete(s, m, "QueueStatusComplete", n);
}

static void act_queuesummary(pbx_t *s, const pbx_msg_t *m)
{
    char qname[16];
    pbx_msg_copy(m, "Queue", qname, sizeof qname);
    list_start(s, m, "Queue summary will follow");
    int n = 0;
    for (int i = 0; i < s->nqueues; i++) {
        pqueue_t *q = &s->queues[i];
        if (qname[0] && strcmp(qname, q->name) != 0)
            continue;
        int logged = 0, avail = 0;
        int64_t longest = 0;
        for (int j = 0; j < q->nmembers; j++) {
            int st = pbx_member_status(q->members[j]);
            if (st != 5 && st != 4)
                logged++;
            if (st == 1 && !q->members[j]->paused)
                avail++;
        }
        for (int j = 0; j < q->ncallers; j++) {
            int64_t w = (pbx_vnow(s) - q->callers[j]->join_vms) / 1000;
            if (w > longest)
                longest = w;
        }
        list_begin(s, "QueueSummary");
        pbx_ev_kv(s, "Queue", "%s", q->name);
        pbx_ev_kv(s, "LoggedIn", "%d", logged);
        pbx_ev_kv(s, "Available", "%d", avail);
        pbx_ev_kv(s, "Callers", "%d", q->ncallers);
        pbx_ev_kv(s, "HoldTime", "%lld", (long long)(q->completed ? q->hold_total / q->completed : 0));
        pbx_ev_kv(s, "TalkTime", "%lld", (long long)(q->completed ? q->talk_total / q->completed : 0));
        pbx_ev_kv(s, "LongestHoldTime", "%lld", (long long)longest);
        list_actionid(s, m);
        resp_end(s);
        n++;
    }
    list_complete(s, m, "QueueSummaryComplete", n);
}

static void act_agents(pbx_t *s, const pbx_msg_t *m)
{
    list_start(s, m, "Agents will follow");
    for (int i = 0; i < s->nagents; i++) {
        pagent_t *a = &s->agents[i];
        list_begin(s, "Agents");
        pbx_ev_kv(s, "Agent", "%s", a->id);
        pbx_ev_kv(s, "Name", "%s", a->name);
        if (a->logged_in && a->p1) {
            pbx_ev_kv(s, "Status", "%s", a->busy_call ? "AGENT_ONCALL" : "AGENT_IDLE");
            pcall_t *bc = a->busy_call;
            if (bc && bc->m2) { /* the member's ;2 half, bridged with the agent's phone */
                pbx_ev_kv(s, "TalkingToChan", "%s", bc->m2->name);
                pbx_ev_kv(s, "CallStarted", "%lld", (long long)((s->wall0_ms + bc->ring_vms) / 1000));
            }
            pbx_ev_kv(s, "LoggedInTime", "%lld", (long long)a->login_wall);
            pbx_ev_chan(s, "", a->p1);
        } else {
            pbx_ev_kv(s, "Status", "AGENT_LOGGEDOFF");
        }
        list_actionid(s, m);
        resp_end(s);
    }
    list_complete(s, m, "AgentsComplete", s->nagents);
}

static void act_agentlogoff(pbx_t *s, const pbx_msg_t *m)
{
    char id[16];
    pbx_msg_copy(m, "Agent", id, sizeof id);
    pagent_t *a = pbx_agent_find(s, id);
    if (!a || !a->logged_in) {
        respond(s, m, "Error", "No such agent");
        return;
    }
    respond(s, m, "Success", "Agent logged out");
    pbx_agent_logoff(s, a, true);
}

/* ---------------- MixMonitor ---------------- */

static void act_mixmonitor(pbx_t *s, const pbx_msg_t *m, const char *kind)
{
    pchan_t *c = find_chan_hdr(s, m, "Channel");
    if (!c) {
        respond(s, m, "Error", "No such channel");
        return;
    }
    if (strcmp(kind, "MixMonitor") == 0) {
        char file[96];
        pbx_msg_copy(m, "File", file, sizeof file);
        respond(s, m, "Success", NULL);
        c->mixmon = true;
        pbx_chan_setvar(c, "MIXMONITOR_FILENAME", file);
        pbx_e_varset(s, c, "MIXMONITOR_FILENAME", file);
        pbx_e_chan(s, "MixMonitorStart", "call,all", c);
    } else if (strcmp(kind, "StopMixMonitor") == 0) {
        respond(s, m, "Success", NULL);
        pbx_e_chan(s, "MixMonitorStop", "call,all", c);
    } else {
        char dir[16], state[8];
        pbx_msg_copy(m, "Direction", dir, sizeof dir);
        pbx_msg_copy(m, "State", state, sizeof state);
        if (!c->mixmon) {
            respond(s, m, "Error", "Cannot set mute flag");
            return;
        }
        respond(s, m, "Success", NULL);
        pbx_ev_begin(s, "MixMonitorMute", "call,all");
        pbx_ev_chan(s, "", c);
        pbx_ev_kv(s, "Direction", "%s", dir[0] ? dir : "both");
        pbx_ev_kv(s, "State", "%s", truthy(pbx_msg_get(m, "State")) ? "1" : "0");
        pbx_ev_end(s);
    }
}

/* ---------------- pbxsim controls over the wire ---------------- */

static void act_pbxsim_state(pbx_t *s, const pbx_msg_t *m)
{
    int logged = 0, avail = 0;
    for (int i = 0; i < s->nagents; i++) {
        logged += s->agents[i].logged_in;
        avail += s->agents[i].logged_in && s->agents[i].ready && !s->agents[i].busy_call;
    }
    resp_begin(s, m, "Success");
    pbx_ev_kv(s, "Channels", "%u", s->nchans);
    pbx_ev_kv(s, "AgentsLoggedIn", "%d", logged);
    pbx_ev_kv(s, "AgentsAvailable", "%d", avail);
    pbx_ev_kv(s, "Actions", "%llu", (unsigned long long)s->actions);
    pbx_ev_kv(s, "EventsSent", "%llu", (unsigned long long)s->events_sent);
    pbx_ev_kv(s, "FloodPending", "%llu", (unsigned long long)s->flood_left);
    pbx_ev_kv(s, "VirtualMs", "%lld", (long long)pbx_vnow(s));
    resp_end(s);
}

/* Defined in server.c: the control operations shared with the C API. */
void pbx_do_restart(pbx_t *s);

void pbx_action(pbx_t *s, pconn_t *conn, const pbx_msg_t *m)
{
    char act[48];
    pbx_msg_copy(m, "Action", act, sizeof act);
    s->actions++;
    s->cur = conn;
    if (s->swallow[0] && strcasecmp(s->swallow, act) == 0) {
        s->swallow[0] = '\0';
        s->cur = NULL; /* the side effects happen, the answer never comes */
    }
    if (!act[0]) {
        respond(s, m, "Error", "Missing action in request");
    } else if (pbx_shutting_down(s)) {
        /* manager.c refuses every action once the shutdown has begun, login included */
        respond(s, m, "Error", "Asterisk is shutting down");
    } else if (strcasecmp(act, "Login") == 0) {
        if (conn->logged_in)
            respond(s, m, "Success", "Already authenticated");
        else
            act_login(s, conn, m);
    } else if (strcasecmp(act, "Challenge") == 0) {
        act_challenge(s, conn, m);
    } else if (strcasecmp(act, "Logoff") == 0) {
        respond(s, m, "Goodbye", "Thanks for all the fish.");
        conn->closing = true;
    } else if (!conn->logged_in) {
        respond(s, m, "Error", "Authentication Required");
    } else if (strcasecmp(act, "Ping") == 0) {
        int64_t us = (s->wall0_ms + pbx_vnow(s)) * 1000;
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Ping", "Pong");
        pbx_ev_kv(s, "Timestamp", "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
        resp_end(s);
    } else if (strcasecmp(act, "Originate") == 0) {
        act_originate(s, m);
    } else if (strcasecmp(act, "Hangup") == 0) {
        act_hangup(s, m);
    } else if (strcasecmp(act, "Redirect") == 0) {
        act_redirect(s, m);
    } else if (strcasecmp(act, "Atxfer") == 0) {
        pchan_t *c = find_chan_hdr(s, m, "Channel");
        char exten[40];
        pbx_msg_copy(m, "Exten", exten, sizeof exten);
        if (!c) {
            respond(s, m, "Error", "Channel specified does not exist");
        } else {
            respond(s, m, "Success", "Atxfer successfully queued");
            pbx_atxfer(s, c, exten);
        }
    } else if (strcasecmp(act, "Park") == 0) {
        act_park(s, m);
    } else if (strcasecmp(act, "Getvar") == 0) {
        act_getvar(s, m);
    } else if (strcasecmp(act, "Setvar") == 0) {
        act_setvar(s, m);
    } else if (strcasecmp(act, "CoreShowChannels") == 0) {
        act_coreshowchannels(s, m);
    } else if (strcasecmp(act, "Status") == 0) {
        act_status(s, m);
    } else if (strcasecmp(act, "CoreStatus") == 0) {
        act_corestatus(s, m);
    } else if (strcasecmp(act, "CoreSettings") == 0) {
        act_coresettings(s, m);
    } else if (strcasecmp(act, "Command") == 0) {
        act_command(s, m);
    } else if (strcasecmp(act, "Events") == 0) {
        char mask[256];
        pbx_msg_copy(m, "EventMask", mask, sizeof mask);
        unsigned bits = pbx_class_bits(mask);
        conn->events_on = bits != 0;
        conn->class_mask = bits;
        resp_begin(s, m, "Success");
        pbx_ev_kv(s, "Events", "%s", bits ? "On" : "Off");
        resp_end(s);
    } else if (strcasecmp(act, "Filter") == 0) {
        char op[16], f[PBX_LINE_MAX + 1];
        pbx_msg_copy(m, "Operation", op, sizeof op);
        pbx_msg_copy(m, "Filter", f, sizeof f);
        bool neg = f[0] == '!';
        if (op[0] && strcasecmp(op, "Add") != 0) {
            respond(s, m, "Error", "Unknown operation");
        } else if (!f[0] || conn->nfilters >= 16) {
            respond(s, m, "Error", f[0] ? "Too many filters" : "Filter must be specified");
        } else if (regcomp(&conn->filters[conn->nfilters], f + (neg ? 1 : 0), REG_EXTENDED | REG_NOSUB) != 0) {
            respond(s, m, "Error", "Filter Not Added");
        } else {
            conn->filter_neg[conn->nfilters++] = neg;
            conn->npos += !neg;
            respond(s, m, "Success", "Filter Added Successfully");
        }
    } else if (strcasecmp(act, "QueuePause") == 0) {
        act_queuepause(s, m);
    } else if (strcasecmp(act, "QueueAdd") == 0) {
        act_queueadd(s, m);
    } else if (strcasecmp(act, "QueueRemove") == 0) {
        act_queueremove(s, m);
    } else if (strcasecmp(act, "QueueStatus") == 0) {
        act_queuestatus(s, m);
    } else if (strcasecmp(act, "QueueSummary") == 0) {
        act_queuesummary(s, m);
    } else if (strcasecmp(act, "Agents") == 0) {
        act_agents(s, m);
    } else if (strcasecmp(act, "AgentLogoff") == 0) {
        act_agentlogoff(s, m);
    } else if (strcasecmp(act, "MixMonitor") == 0 || strcasecmp(act, "StopMixMonitor") == 0 ||
               strcasecmp(act, "MixMonitorMute") == 0) {
        act_mixmonitor(s, m, strcasecmp(act, "MixMonitor") == 0       ? "MixMonitor"
                             : strcasecmp(act, "StopMixMonitor") == 0 ? "StopMixMonitor"
                                                                       : "MixMonitorMute");
    } else if (strcasecmp(act, "Bridge") == 0) {
        pchan_t *a = find_chan_hdr(s, m, "Channel1"), *b = find_chan_hdr(s, m, "Channel2");
        if (!a || !b) {
            respond(s, m, "Error", "Channel1 or Channel2 does not exist");
        } else if (!a->call || a->call != b->call || !a->call->held || a != a->call->a || b != a->call->m1) {
            respond(s, m, "Error", "Unable to bridge channels");
        } else {
            respond(s, m, "Success", "Channels have been bridged");
            pbx_bridge_action(s, a, b);
        }
    } else if (strcasecmp(act, "BlindTransfer") == 0) {
        pchan_t *c = find_chan_hdr(s, m, "Channel");
        char ctx[40], exten[40];
        pbx_msg_copy(m, "Context", ctx, sizeof ctx);
        pbx_msg_copy(m, "Exten", exten, sizeof exten);
        if (!c || !c->call || !c->call->connected || c != c->call->m1) {
            respond(s, m, "Error", c ? "Transfer failed" : "No such channel");
        } else {
            respond(s, m, "Success", "Transfer succeeded");
            pbx_blind_transfer(s, c, ctx, exten);
        }
    } else if (strcasecmp(act, "AGI") == 0) {
        pchan_t *c = find_chan_hdr(s, m, "Channel");
        char cmd[256], id[64];
        pbx_msg_copy(m, "Command", cmd, sizeof cmd);
        pbx_msg_copy(m, "CommandID", id, sizeof id);
        if (!c) {
            respond(s, m, "Error", "Channel does not exist.");
        } else if (pbx_asyncagi_queue(s, c, cmd, id) != 0) {
            respond(s, m, "Error", "Failed to add AGI command to queue");
        } else {
            respond(s, m, "Success", "Added AGI command to queue");
            pbx_asyncagi_kick(s, c);
        }
    } else if (strcasecmp(act, "ParkedCalls") == 0) {
        list_start(s, m, "Parked calls will follow");
        int n = 0;
        for (int i = 0; i < 20; i++)
            if (s->parked[i] && s->parked[i]->a) {
                pbx_e_park(s, "ParkedCall", s->parked[i], NULL, true);
                list_actionid(s, m);
                resp_end(s);
                n++;
            }
        list_begin(s, "ParkedCallsComplete");
        list_actionid(s, m);
        pbx_ev_kv(s, "EventList", "Complete");
        pbx_ev_kv(s, "ListItems", "%d", n);
        pbx_ev_kv(s, "Total", "%d", n);
        resp_end(s);
    } else if (strcasecmp(act, "Parkinglots") == 0) {
        list_start(s, m, "Parking lots will follow");
        list_begin(s, "Parkinglot");
        list_actionid(s, m);
        pbx_ev_kv(s, "Name", "default");
        pbx_ev_kv(s, "StartSpace", "701");
        pbx_ev_kv(s, "StopSpace", "720");
        pbx_ev_kv(s, "Timeout", "45");
        resp_end(s);
        list_complete(s, m, "ParkinglotsComplete", 1);
    } else if (strcasecmp(act, "BridgeList") == 0) {
        list_start(s, m, "Bridge listing will follow");
        int n = 0;
        for (pbridge_t *b = s->bridges; b; b = b->next, n++) {
            list_begin(s, "BridgeListItem");
            list_actionid(s, m);
            pbx_ev_bridge(s, "", b);
            resp_end(s);
        }
        list_complete(s, m, "BridgeListComplete", n);
    } else if (strcasecmp(act, "ListCommands") == 0) {
        static const char *const cmds[] = {"AgentLogoff", "Agents", "Atxfer", "Challenge", "Command",
                                           "CoreSettings", "CoreShowChannels", "CoreStatus", "Events",
                                           "Filter", "Getvar", "Hangup", "ListCommands", "Login", "Logoff",
                                           "MixMonitor", "MixMonitorMute", "Originate", "Park", "Ping",
                                           "QueueAdd", "QueuePause", "QueueRemove", "QueueStatus",
                                           "QueueSummary", "Redirect", "Setvar", "Status", "StopMixMonitor",
                                           NULL};
        resp_begin(s, m, "Success");
        for (int i = 0; cmds[i]; i++)
            pbx_ev_kv(s, cmds[i], " (Priv: <none>)");
        resp_end(s);
    } else if (strcasecmp(act, "PbxsimRestart") == 0) {
        respond(s, m, "Success", "Restarting");
        pbx_do_restart(s);
    } else if (strcasecmp(act, "PbxsimDrop") == 0) {
        respond(s, m, "Success", "Dropping connections");
        pbx_drop_all(s);
    } else if (strcasecmp(act, "PbxsimSwallow") == 0) {
        pbx_msg_copy(m, "Name", s->swallow, sizeof s->swallow);
        respond(s, m, "Success", "Next one swallowed");
    } else if (strcasecmp(act, "PbxsimFlood") == 0) {
        char n[32];
        pbx_msg_copy(m, "Count", n, sizeof n);
        s->flood_left += strtoull(n, NULL, 10);
        respond(s, m, "Success", "Flooding");
    } else if (strcasecmp(act, "PbxsimState") == 0) {
        act_pbxsim_state(s, m);
    } else {
        respond(s, m, "Error", "Invalid/unknown command");
    }
    s->cur = NULL;
}
