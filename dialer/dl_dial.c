/*
 * Dial strings, the Originate action and cap arithmetic (pure).
 */
#include "dialer/dl_int.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

bool dl__phone_ok(const char *phone)
{
    size_t n = phone ? strlen(phone) : 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = phone[i];
        if ((c >= '0' && c <= '9') || c == '*' || c == '#')
            continue;
        if (c == '+' && i == 0 && n > 1)
            continue;
        return false;
    }
    return true;
}

static const char *const tech_prefixes[] = {"SIP/", "PJSIP/", "IAX2/", "DAHDI/", NULL};

int dl__dial_string(const char *trunk, const char *phone, const char *default_context, char *out,
                    size_t outsz)
{
    if (!dl__phone_ok(phone))
        return CCD_EINVAL;
    int n;
    if (!trunk || !*trunk) {
        if (!default_context || !*default_context)
            return CCD_EINVAL;
        n = snprintf(out, outsz, "Local/%s@%s", phone, default_context);
        return n < 0 || (size_t)n >= outsz ? CCD_ETOOBIG : 0;
    }
    const char *mark = strstr(trunk, "$OUTNUM$");
    if (mark) {
        size_t o = 0, plen = strlen(phone);
        for (const char *p = trunk; *p;) {
            if (strncmp(p, "$OUTNUM$", 8) == 0) {
                if (o + plen >= outsz)
                    return CCD_ETOOBIG;
                memcpy(out + o, phone, plen);
                o += plen;
                p += 8;
            } else {
                if (o + 1 >= outsz)
                    return CCD_ETOOBIG;
                out[o++] = *p++;
            }
        }
        out[o] = '\0';
        return 0;
    }
    for (int i = 0; tech_prefixes[i]; i++) {
        size_t pl = strlen(tech_prefixes[i]);
        if (strncmp(trunk, tech_prefixes[i], pl) == 0 && trunk[pl] && !strchr(trunk + pl, '/')) {
            n = snprintf(out, outsz, "%s/%s", trunk, phone);
            return n < 0 || (size_t)n >= outsz ? CCD_ETOOBIG : 0;
        }
    }
    return CCD_EINVAL;
}

int dl__originate_timeout_ms(int originate_timeout_s)
{
    long long ms = (long long)originate_timeout_s * 1000;
    return ms < DL_MIN_RING_MS ? DL_MIN_RING_MS : (int)ms;
}

int dl__cap(int want, int camp_cap, int camp_live, int global_cap, int global_live)
{
    if (want < 0)
        want = 0;
    if (camp_cap > 0 && want > camp_cap - camp_live)
        want = camp_cap - camp_live;
    if (global_cap > 0 && want > global_cap - global_live)
        want = global_cap - global_live;
    return want < 0 ? 0 : want;
}

int dl__campaign_cap(int max_channels, uint32_t max_canales)
{
    if (max_channels > 0)
        return max_channels;
    return max_canales > 100000 ? 100000 : (int)max_canales;
}

void dl__channel_id(char *out, size_t outsz, const char *instance, uint32_t id_call,
                    uint32_t retries)
{
    snprintf(out, outsz, "ccd%.8s-%u-%u", instance ? instance : "", id_call, retries);
}

void dl__agent_channel(const char *agent, const char *agents_context, char *out, size_t outsz)
{
    if (strncmp(agent, "Agent/", 6) == 0)
        snprintf(out, outsz, "Local/%s@%s", agent + 6, agents_context);
    else
        snprintf(out, outsz, "%s", agent);
}

ami_action_t *dl__originate(const dl_orig_t *o)
{
    ami_action_t *a = ami_action_new("Originate");
    if (!a)
        return NULL;
    int rc = 0;
    rc |= ami_action_add(a, "Channel", o->channel);
    rc |= ami_action_add(a, "Context", o->context);
    rc |= ami_action_add(a, "Exten", o->exten);
    rc |= ami_action_add(a, "Priority", "1");
    rc |= ami_action_addf(a, "Timeout", "%d", o->timeout_ms);
    if (o->callerid && *o->callerid)
        rc |= ami_action_add(a, "CallerID", o->callerid);
    rc |= ami_action_add(a, "Async", "true");
    rc |= ami_action_add(a, "ChannelId", o->channel_id);
    /* Issabel's variables, one header each (Asterisk 1.6+ accepts both forms). */
    rc |= ami_action_addf(a, "Variable", "ID_CAMPAIGN=%u", o->id_campaign);
    rc |= ami_action_addf(a, "Variable", "ID_CALL=%u", o->id_call);
    rc |= ami_action_addf(a, "Variable", "NUMBER=%s", o->number);
    rc |= ami_action_addf(a, "Variable", "QUEUE=%s", o->queue);
    rc |= ami_action_addf(a, "Variable", "CONTEXT=%s", o->camp_context);
    if (o->agentchannel)
        rc |= ami_action_addf(a, "Variable", "AGENTCHANNEL=%s", o->agentchannel);
    if (rc) {
        ami_action_free(a);
        return NULL;
    }
    return a;
}
