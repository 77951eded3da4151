/*
 * ami_action: building actions (any thread, each builder owned by its
 * caller) and the copied records and responses handed to requesters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ami/ami.h"
#include "ami/ami_int.h"
#include "core/err.h"

ami_action_t *ami_action_new(const char *name)
{
    if (!name || !*name || strpbrk(name, "\r\n"))
        return NULL;
    ami_action_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    buf_init(&a->text, AMI_ACTION_MAX);
    snprintf(a->name, sizeof(a->name), "%s", name);
    if (buf_printf(&a->text, "Action: %s\r\n", name) != 0) {
        ami_action_free(a);
        return NULL;
    }
    return a;
}

int ami_action_add(ami_action_t *a, const char *key, const char *value)
{
    if (!a || !key || !*key || !value || strpbrk(key, "\r\n:") || strpbrk(value, "\r\n"))
        return CCD_EINVAL;
    if (strcasecmp(key, "ActionID") == 0)
        return CCD_EINVAL; /* ami_send sets it: the in-flight table depends on it */
    return buf_printf(&a->text, "%s: %s\r\n", key, value);
}

int ami_action_addf(ami_action_t *a, const char *key, const char *fmt, ...)
{
    char v[AMI_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(v))
        return CCD_ETOOBIG;
    return ami_action_add(a, key, v);
}

void ami_action_free(ami_action_t *a)
{
    if (!a)
        return;
    buf_free(&a->text);
    free(a);
}

ami_rec_t *ami_rec_from_msg(const ami_msg_t *m)
{
    size_t sz = sizeof(ami_rec_t) + (size_t)m->nhdr * sizeof(ami_kv_t) + m->output.len + 1;
    for (int i = 0; i < m->nhdr; i++)
        sz += m->hdr[i].key.len + m->hdr[i].val.len + 2;
    ami_rec_t *r = malloc(sz);
    if (!r)
        return NULL;
    r->n = m->nhdr;
    char *w = (char *)&r->kv[m->nhdr];
    for (int i = 0; i < m->nhdr; i++) {
        memcpy(w, m->hdr[i].key.p, m->hdr[i].key.len);
        w[m->hdr[i].key.len] = 0;
        r->kv[i].key = w;
        w += m->hdr[i].key.len + 1;
        memcpy(w, m->hdr[i].val.p, m->hdr[i].val.len);
        w[m->hdr[i].val.len] = 0;
        r->kv[i].val = w;
        w += m->hdr[i].val.len + 1;
    }
    if (m->output.len)
        memcpy(w, m->output.p, m->output.len);
    w[m->output.len] = 0;
    r->output = w;
    return r;
}

const char *ami_rec_find(const ami_rec_t *r, const char *key)
{
    if (!r)
        return NULL;
    for (int i = 0; i < r->n; i++)
        if (strcasecmp(r->kv[i].key, key) == 0)
            return r->kv[i].val;
    return NULL;
}

const char *ami_rec_get(const ami_rec_t *r, const char *key)
{
    const char *v = ami_rec_find(r, key);
    return v ? v : "";
}

void ami_response_free(ami_response_t *r)
{
    if (!r)
        return;
    free(r->resp);
    for (size_t i = 0; i < r->nev; i++)
        free(r->ev[i]);
    free(r->ev);
    free(r);
}

ami_response_t *ami__response_new(int server, const char *action_id, uint64_t user)
{
    ami_response_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->msg.type = MSG_AMI_RESPONSE;
    r->msg.free = (void (*)(mq_msg_t *))ami_response_free;
    r->server = server;
    r->user = user;
    snprintf(r->action_id, sizeof(r->action_id), "%s", action_id);
    return r;
}

const char *ami_state_name(ami_state_e s)
{
    switch (s) {
    case AMI_STATE_DOWN: return "down";
    case AMI_STATE_CONNECTING: return "connecting";
    case AMI_STATE_SYNCING: return "syncing";
    case AMI_STATE_UP: return "up";
    }
    return "?";
}
