/*
 * ECCP XML: one framed packet -> request, and the writer for responses and
 * events.
 *
 * Parsing uses libxml2 with network access off and without entity
 * substitution or DTD loading; the framer has already refused any "<!DOCTYPE"
 * or "<!ENTITY", and a document that still carries a DTD is refused here too,
 * so external entities and entity-expansion bombs cannot happen.  The packet
 * size and depth were bounded by the framer.
 *
 * The writer produces the byte layout Issabel's clients expect (PHP's
 * SimpleXMLElement::asXML()): `<?xml version="1.0"?>` newline, the whole
 * document on one line, newline; empty elements as <x/>; &, <, > escaped in
 * text, and quotes too in attributes.
 *
 * Pure apart from libxml2: no I/O, no globals.
 */
#include "eccp/eccp_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "core/err.h"

void eccp__xml_init(void)
{
    xmlInitParser();
}

int eccp__req_parse(const char *p, size_t len, eccp_req_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len > (size_t)INT32_MAX)
        return CCD_EPROTO;
    xmlDoc *doc = xmlReadMemory(p, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return CCD_EPROTO;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset || !root || root->ns ||
        strcmp((const char *)root->name, "request") != 0) {
        xmlFreeDoc(doc);
        return CCD_EPROTO;
    }
    out->doc = doc;
    xmlChar *id = xmlGetProp(root, (const xmlChar *)"id");
    if (id) {
        out->has_id = true;
        snprintf(out->id, sizeof(out->id), "%s", (const char *)id);
        xmlFree(id);
    }
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (out->nchildren++ == 0)
            out->cmd = n;
    }
    if (out->nchildren != 1) {
        out->cmd = NULL;
    } else if (strlen((const char *)out->cmd->name) < sizeof(out->name)) {
        strcpy(out->name, (const char *)out->cmd->name);
    } /* else: name stays "" and dispatch answers 501 */
    return 0;
}

void eccp__req_free(eccp_req_t *r)
{
    if (r->doc)
        xmlFreeDoc(r->doc);
    r->doc = NULL;
    r->cmd = NULL;
}

xmlNode *eccp__child(xmlNode *parent, const char *name)
{
    if (!parent)
        return NULL;
    for (xmlNode *n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
            return n;
    return NULL;
}

int eccp__node_text(xmlNode *n, char *out, size_t outsz)
{
    size_t len = 0;
    out[0] = '\0';
    /* Direct text and CDATA children only, as PHP's (string) cast of a SimpleXML node. */
    for (xmlNode *t = n->children; t; t = t->next) {
        if (t->type != XML_TEXT_NODE && t->type != XML_CDATA_SECTION_NODE)
            continue;
        const char *s = (const char *)t->content;
        size_t l = s ? strlen(s) : 0;
        if (len + l >= outsz)
            return CCD_ETOOBIG;
        memcpy(out + len, s, l);
        len += l;
        out[len] = '\0';
    }
    return 1;
}

int eccp__arg(xmlNode *parent, const char *name, char *out, size_t outsz)
{
    out[0] = '\0';
    xmlNode *n = eccp__child(parent, name);
    if (!n)
        return 0;
    return eccp__node_text(n, out, outsz);
}

long long eccp__intval(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
        s++;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    long long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10)
            return neg ? INT64_MIN : INT64_MAX; /* PHP saturates too */
        v = v * 10 + (*s - '0');
    }
    return neg ? -v : v;
}

static bool is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

bool eccp__agent_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || slash[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (p != slash && !is_word((unsigned char)*p))
            return false;
    return true;
}

static bool match_pattern(const char *s, const char *pat)
{
    /* pat: 'd' = digit, anything else literal */
    for (; *pat; pat++, s++) {
        if (*pat == 'd') {
            if (!isdigit((unsigned char)*s))
                return false;
        } else if (*s != *pat) {
            return false;
        }
    }
    return *s == '\0';
}

bool eccp__is_date(const char *s)
{
    return match_pattern(s, "dddd-dd-dd");
}

bool eccp__is_time(const char *s)
{
    return match_pattern(s, "dd:dd:dd");
}

bool eccp__is_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* ---------------- writer ---------------- */

void eccp__xw_init(xw_t *w, buf_t *b)
{
    w->b = b;
    w->open_tag = false;
    w->err = 0;
}

void eccp__xw_raw(xw_t *w, const char *s, size_t n)
{
    if (w->err)
        return;
    int rc = buf_append(w->b, s, n);
    if (rc)
        w->err = rc;
}

static void xw_finish_open(xw_t *w)
{
    if (w->open_tag) {
        eccp__xw_raw(w, ">", 1);
        w->open_tag = false;
    }
}

/* Escapes into the buffer; attr also escapes quotes and whitespace controls. */
static void xw_escape(xw_t *w, const char *s, size_t n, bool attr)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\r': rep = "&#13;"; break;
        case '"': rep = attr ? "&quot;" : NULL; break;
        case '\n': rep = attr ? "&#10;" : NULL; break;
        case '\t': rep = attr ? "&#9;" : NULL; break;
        default:
            /* Control characters are not allowed in XML 1.0 at all: drop them. */
            if (c < 0x20 || c == 0x7f)
                rep = "";
            break;
        }
        if (!rep)
            continue;
        eccp__xw_raw(w, s + run, i - run);
        eccp__xw_raw(w, rep, strlen(rep));
        run = i + 1;
    }
    eccp__xw_raw(w, s + run, n - run);
}

void eccp__xw_fragment(xw_t *w, const char *s, size_t n)
{
    xw_finish_open(w);
    eccp__xw_raw(w, s, n);
}

void eccp__xw_decl(xw_t *w)
{
    eccp__xw_raw(w, "<?xml version=\"1.0\"?>\n", 22);
}

void eccp__xw_open(xw_t *w, const char *name)
{
    xw_finish_open(w);
    eccp__xw_raw(w, "<", 1);
    eccp__xw_raw(w, name, strlen(name));
    w->open_tag = true;
}

void eccp__xw_attr(xw_t *w, const char *k, const char *v)
{
    eccp__xw_raw(w, " ", 1);
    eccp__xw_raw(w, k, strlen(k));
    eccp__xw_raw(w, "=\"", 2);
    if (v)
        xw_escape(w, v, strlen(v), true);
    eccp__xw_raw(w, "\"", 1);
}

void eccp__xw_attr_int(xw_t *w, const char *k, long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%lld", v);
    eccp__xw_attr(w, k, tmp);
}

void eccp__xw_close(xw_t *w, const char *name)
{
    if (w->open_tag) {
        eccp__xw_raw(w, "/>", 2);
        w->open_tag = false;
        return;
    }
    eccp__xw_raw(w, "</", 2);
    eccp__xw_raw(w, name, strlen(name));
    eccp__xw_raw(w, ">", 1);
}

void eccp__xw_text(xw_t *w, const char *s, size_t n)
{
    if (n == 0)
        return;
    xw_finish_open(w);
    xw_escape(w, s, n, false);
}

void eccp__xw_leaf_n(xw_t *w, const char *name, const char *text, size_t n)
{
    eccp__xw_open(w, name);
    if (text && n)
        eccp__xw_text(w, text, n);
    eccp__xw_close(w, name);
}

void eccp__xw_leaf(xw_t *w, const char *name, const char *text)
{
    eccp__xw_leaf_n(w, name, text, text ? strlen(text) : 0);
}

void eccp__xw_leaf_int(xw_t *w, const char *name, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    eccp__xw_leaf_n(w, name, tmp, (size_t)n);
}

void eccp__xw_end_msg(xw_t *w)
{
    xw_finish_open(w);
    eccp__xw_raw(w, "\n", 1);
}

void eccp__xw_failure(xw_t *w, int code, const char *msg)
{
    eccp__xw_open(w, "failure");
    eccp__xw_leaf_int(w, "code", code);
    eccp__xw_leaf(w, "message", msg);
    eccp__xw_close(w, "failure");
}

int eccp__msg_failure(buf_t *b, const char *id, int code, const char *msg)
{
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__xw_decl(&w);
    eccp__xw_open(&w, "response");
    if (id)
        eccp__xw_attr(&w, "id", id);
    eccp__xw_failure(&w, code, msg);
    eccp__xw_close(&w, "response");
    eccp__xw_end_msg(&w);
    return w.err;
}

void eccp__msg_resp_begin(xw_t *w, const char *id, const char *name)
{
    char tag[ECCP_NAME_MAX + 16];
    snprintf(tag, sizeof(tag), "%s_response", name);
    eccp__xw_decl(w);
    eccp__xw_open(w, "response");
    if (id)
        eccp__xw_attr(w, "id", id);
    eccp__xw_open(w, tag);
}

void eccp__msg_resp_end(xw_t *w, const char *name)
{
    char tag[ECCP_NAME_MAX + 16];
    snprintf(tag, sizeof(tag), "%s_response", name);
    eccp__xw_close(w, tag);
    eccp__xw_close(w, "response");
    eccp__xw_end_msg(w);
}

int eccp__msg_req_failure(buf_t *b, const char *id, const char *name, const char *status,
                         int code, const char *msg)
{
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__msg_resp_begin(&w, id, name);
    if (status)
        eccp__xw_leaf(&w, "status", status);
    eccp__xw_failure(&w, code, msg);
    eccp__msg_resp_end(&w, name);
    return w.err;
}
