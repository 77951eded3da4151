/*
 * The INI tokenizer: turns text in memory into section and key items, one
 * line at a time, with no I/O, no allocation and no globals, so tests and fuzz
 * targets can drive it alone.  It knows nothing of which sections or keys
 * exist; conf.c and conf_table.c decide that.
 *
 * Grammar (one construct per line; CR LF and LF both end a line):
 *   blank line | '#' comment | ';' comment
 *   '[' name [ ws arg ] ']'        name and arg: letters, digits, '_', '-', '.'
 *   key ws* '=' ws* value          key: letters, digits, '_', '-', '.'
 * There are no trailing comments: everything after '=' is the value (trimmed),
 * so a secret or a path may contain '#' or ';'.  A value wrapped in one pair
 * of double quotes keeps its inner spaces and loses the quotes.
 */
#include "conf/conf_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void conf__errf(char *err, size_t errlen, const char *name, int line, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", name, line) : snprintf(err, errlen, "%s: ", name);
    if (n < 0)
        n = 0;
    if ((size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

void conf__parser_init(conf_parser_t *ps, const char *name, const char *text, size_t len)
{
    ps->name = name ? name : "(config)";
    ps->p = text;
    ps->end = text + len;
    ps->line = 0;
    /* A UTF-8 byte order mark from a Windows editor is not content. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        ps->p += 3;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static ccd_str_t trim(const char *b, const char *e)
{
    while (b < e && is_space(*b))
        b++;
    while (e > b && is_space(e[-1]))
        e--;
    return (ccd_str_t){b, (size_t)(e - b)};
}

/* Length of the word at s (all is_word), or 0. */
static size_t word_len(ccd_str_t s)
{
    size_t i = 0;
    while (i < s.len && is_word(s.p[i]))
        i++;
    return i;
}

static int parse_section(conf_parser_t *ps, const char *b, const char *e, conf_item_t *item,
                         char *err, size_t errlen)
{
    /* b points at '['. */
    const char *close = memchr(b, ']', (size_t)(e - b));
    if (!close) {
        conf__errf(err, errlen, ps->name, ps->line, "unterminated section header: missing ']'");
        return CCD_EPROTO;
    }
    ccd_str_t rest = trim(close + 1, e);
    if (rest.len && rest.p[0] != '#' && rest.p[0] != ';') {
        conf__errf(err, errlen, ps->name, ps->line,
                   "unexpected text after section header: expected end of line after ']'");
        return CCD_EPROTO;
    }
    ccd_str_t in = trim(b + 1, close);
    size_t n = word_len(in);
    if (n == 0) {
        conf__errf(err, errlen, ps->name, ps->line,
                   in.len ? "invalid section name: expected letters, digits, '_', '-' or '.'"
                          : "empty section name: expected [name] or [name arg]");
        return CCD_EPROTO;
    }
    item->kind = CONF_ITEM_SECTION;
    item->name = (ccd_str_t){in.p, n};
    item->arg = (ccd_str_t){NULL, 0};
    item->value = (ccd_str_t){NULL, 0};
    ccd_str_t after = trim(in.p + n, in.p + in.len);
    if (after.len) {
        if (!is_space(in.p[n])) {
            conf__errf(err, errlen, ps->name, ps->line,
                       "invalid character in section name: expected letters, digits, '_', '-' or '.'");
            return CCD_EPROTO;
        }
        size_t an = word_len(after);
        if (an != after.len) {
            conf__errf(err, errlen, ps->name, ps->line,
                       "invalid section argument: expected one word of letters, digits, '_', '-' or '.'");
            return CCD_EPROTO;
        }
        item->arg = after;
    }
    return 1;
}

static int parse_key(conf_parser_t *ps, const char *b, const char *e, conf_item_t *item, char *err,
                     size_t errlen)
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    ccd_str_t key = trim(b, eq ? eq : e);
    size_t n = word_len(key);
    if (!eq) {
        /* Name the leading word: "port 20005" is most likely key 'port'. */
        if (n > 0)
            conf__errf(err, errlen, ps->name, ps->line, "missing '=' after key '%.*s': expected key = value",
                       (int)(n > 64 ? 64 : n), key.p);
        else
            conf__errf(err, errlen, ps->name, ps->line, "missing '=': expected key = value");
        return CCD_EPROTO;
    }
    if (key.len == 0) {
        conf__errf(err, errlen, ps->name, ps->line, "missing key before '=': expected key = value");
        return CCD_EPROTO;
    }
    if (n != key.len) {
        conf__errf(err, errlen, ps->name, ps->line,
                   "invalid key '%.*s': expected letters, digits, '_', '-' or '.'",
                   (int)(key.len > 64 ? 64 : key.len), key.p);
        return CCD_EPROTO;
    }
    ccd_str_t v = trim(eq + 1, e);
    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
        v.p++;
        v.len -= 2;
    }
    item->kind = CONF_ITEM_KEY;
    item->name = key;
    item->arg = (ccd_str_t){NULL, 0};
    item->value = v;
    return 1;
}

int conf__parser_next(conf_parser_t *ps, conf_item_t *item, char *err, size_t errlen)
{
    while (ps->p < ps->end) {
        const char *b = ps->p;
        size_t avail = (size_t)(ps->end - b);
        const char *nl = memchr(b, '\n', avail);
        const char *e = nl ? nl : ps->end;
        ps->p = nl ? nl + 1 : ps->end;
        ps->line++;
        if (e > b && e[-1] == '\r')
            e--;
        if ((size_t)(e - b) > CONF_LINE_MAX) {
            conf__errf(err, errlen, ps->name, ps->line, "line too long: at most %d bytes",
                       CONF_LINE_MAX);
            return CCD_EPROTO;
        }
        if (memchr(b, '\0', (size_t)(e - b))) {
            conf__errf(err, errlen, ps->name, ps->line, "NUL byte in line: expected text");
            return CCD_EPROTO;
        }
        ccd_str_t t = trim(b, e);
        if (t.len == 0 || t.p[0] == '#' || t.p[0] == ';')
            continue;
        item->line = ps->line;
        if (t.p[0] == '[')
            return parse_section(ps, t.p, t.p + t.len, item, err, errlen);
        return parse_key(ps, t.p, t.p + t.len, item, err, errlen);
    }
    return 0;
}
