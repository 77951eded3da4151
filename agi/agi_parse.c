/*
 * The FastAGI line parser: the environment Asterisk sends first, then its answers.
 * One line per call so the caller can consume as it goes; no state is kept about a
 * partial line, so whole and chunked input give the same items.
 */
#include <string.h>

#include "agi/agi.h"
#include "core/err.h"

void agi_parser_init(agi_parser_t *p, size_t max_line, int max_env)
{
    memset(p, 0, sizeof(*p));
    p->max_line = max_line ? max_line : AGI_LINE_MAX;
    p->max_env = max_env > 0 ? max_env : AGI_ENV_MAX;
}

static int fail(agi_parser_t *p, const char *why)
{
    p->err = why;
    return CCD_EPROTO;
}

/* Reads a decimal (optionally negative) at s[*i..n); false when there is none or it would
 * overflow (a peer can send any number of digits). */
static bool read_num(const char *s, size_t n, size_t *i, long long *out)
{
    size_t k = *i;
    bool neg = false;
    if (k < n && s[k] == '-') {
        neg = true;
        k++;
    }
    size_t start = k;
    long long v = 0;
    while (k < n && s[k] >= '0' && s[k] <= '9') {
        if (v > (9223372036854775807LL - 9) / 10)
            return false;
        v = v * 10 + (s[k] - '0');
        k++;
    }
    if (k == start)
        return false;
    *out = neg ? -v : v;
    *i = k;
    return true;
}

/* "200 result=N [(data)] [endpos=N]".  Asterisk puts the data in parentheses and the data
 * itself can hold parentheses and spaces, so it runs to the last ')' before an " endpos=" or
 * the line end. */
static int parse_200(agi_parser_t *p, const char *s, size_t n, agi_item_t *it)
{
    if (n < 11 || memcmp(s + 4, "result=", 7) != 0)
        return fail(p, "200 answer without result=");
    /* result= may be empty (GET DATA with no digits: "200 result= (timeout)") or digits
     * that are not one number ("*1"), so it is kept as text and read as a number if it is one. */
    size_t i = 11;
    while (i < n && s[i] != ' ')
        i++;
    it->result_text.p = s + 11;
    it->result_text.len = i - 11;
    size_t j = 11;
    long long v;
    if (read_num(s, i, &j, &v) && j == i) {
        it->has_result = true;
        it->result = v;
    }
    if (i == n)
        return CCD_OK;
    i++; /* the space */
    size_t end = n;
    static const char ep[] = "endpos=";
    /* endpos= is always last; find it from the end so data may contain anything */
    for (size_t k = n; k > i; k--) {
        size_t at = k - 1;
        if (n - at >= sizeof(ep) - 1 && memcmp(s + at, ep, sizeof(ep) - 1) == 0 &&
            (at == i || s[at - 1] == ' ')) {
            size_t e = at + sizeof(ep) - 1;
            long long pos;
            if (read_num(s, n, &e, &pos) && e == n) {
                it->has_endpos = true;
                it->endpos = pos;
                end = at == i ? i : at - 1;
            }
            break;
        }
    }
    if (end > i) {
        if (s[i] != '(' || s[end - 1] != ')')
            return fail(p, "200 answer: extra text is not (data)");
        it->has_data = true;
        it->data.p = s + i + 1;
        it->data.len = end - i - 2;
    }
    return CCD_OK;
}

static int parse_answer(agi_parser_t *p, const char *s, size_t n, agi_item_t *it)
{
    if (p->in_usage) {
        /* Only "520 " (a space, not a dash) ends the usage text; anything else is its body. */
        if (n >= 4 && memcmp(s, "520 ", 4) == 0) {
            p->in_usage = false;
            it->type = AGI_IT_RESPONSE;
            it->code = 520;
            return CCD_OK;
        }
        if (++p->usage_lines > AGI_USAGE_LINES_MAX)
            return fail(p, "520 usage text too long");
        it->type = AGI_IT_USAGE;
        return CCD_OK;
    }
    if (n == 6 && memcmp(s, "HANGUP", 6) == 0) {
        it->type = AGI_IT_HANGUP;
        return CCD_OK;
    }
    if (n < 3 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return fail(p, "answer without a 3-digit code");
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (n > 3 && s[3] == '-') {
        if (code != 520)
            return fail(p, "multi-line answer other than 520");
        p->in_usage = true;
        p->usage_lines = 0;
        it->type = AGI_IT_USAGE;
        return CCD_OK;
    }
    if (n > 3 && s[3] != ' ')
        return fail(p, "answer code not followed by a space");
    it->type = AGI_IT_RESPONSE;
    it->code = code;
    if (code == 200)
        return parse_200(p, s, n, it);
    return CCD_OK;
}

static int parse_env(agi_parser_t *p, const char *s, size_t n, agi_item_t *it)
{
    if (n == 0) {
        p->env_done = true;
        it->type = AGI_IT_ENV_END;
        return CCD_OK;
    }
    if (++p->nenv > p->max_env)
        return fail(p, "too many environment lines");
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return fail(p, "environment line without 'key:'");
    for (const char *k = s; k < colon; k++) {
        char c = *k;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return fail(p, "environment key with a character other than [A-Za-z0-9_-]");
    }
    it->type = AGI_IT_ENV;
    it->key.p = s;
    it->key.len = (size_t)(colon - s);
    const char *v = colon + 1;
    const char *e = s + n;
    if (v < e && *v == ' ')
        v++;
    it->val.p = v;
    it->val.len = (size_t)(e - v);
    return CCD_OK;
}

int agi_parse(agi_parser_t *p, const char *data, size_t len, agi_item_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t look = len < p->max_line + 2 ? len : p->max_line + 2;
    const char *nl = memchr(data, '\n', look);
    if (!nl) {
        if (len > p->max_line + 1)
            return fail(p, "line too long");
        return CCD_EAGAIN;
    }
    size_t n = (size_t)(nl - data);
    out->len = n + 1;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    if (n > p->max_line)
        return fail(p, "line too long");
    if (memchr(data, '\0', n))
        return fail(p, "NUL byte in a line");
    out->text.p = data;
    out->text.len = n;
    return p->env_done ? parse_answer(p, data, n, out) : parse_env(p, data, n, out);
}

int agi_arg_append(char *out, size_t outsz, size_t *used, const char *arg)
{
    size_t u = *used;
    bool quote = arg[0] == '\0';
    for (const char *c = arg; *c && !quote; c++)
        quote = *c == ' ' || *c == '"' || *c == '\\' || *c == '\t';
    if (u + 1 >= outsz)
        return CCD_ETOOBIG;
    if (quote)
        out[u++] = '"';
    for (const char *c = arg; *c; c++) {
        if ((unsigned char)*c < 0x20)
            continue;
        if (*c == '"' || *c == '\\') {
            if (u + 1 >= outsz)
                return CCD_ETOOBIG;
            out[u++] = '\\';
        }
        if (u + 1 >= outsz)
            return CCD_ETOOBIG;
        out[u++] = *c;
    }
    if (quote) {
        if (u + 1 >= outsz)
            return CCD_ETOOBIG;
        out[u++] = '"';
    }
    out[u] = '\0';
    *used = u;
    return 0;
}
