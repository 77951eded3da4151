/*
 * Loading ccdialer.conf: reads the file, walks the parser's items, maps
 * sections to structs and keys to directives, resolves secrets, and checks
 * what single keys cannot (duplicates, AMI server names, cross-key bounds).
 *
 * Only the main thread calls these, once, before any other thread starts; the
 * conf_t is then read-only for everyone (see conf.h).  The allowed-networks
 * helpers are pure and may be called from any thread.
 */
#include "conf/conf_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void *scope_base(conf_t *c, conf_scope_e scope, int ami_index)
{
    switch (scope) {
    case CONF_SC_GENERAL: return c;
    case CONF_SC_AMI: return &c->ami[ami_index];
    case CONF_SC_DATABASE: return &c->database;
    case CONF_SC_ECCP: return &c->eccp;
    case CONF_SC_AGI: return &c->agi;
    case CONF_SC_DIALER: return &c->dialer;
    case CONF_SC_LOG: return &c->log;
    case CONF_SC_METRICS: return &c->metrics;
    case CONF_SC_AGENTS: return &c->agents;
    case CONF_SC_COUNT: break;
    }
    return NULL;
}

static void ami_server_init(conf_ami_server_t *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    conf__apply_defaults(CONF_SC_AMI, s);
}

void conf_defaults(conf_t *c)
{
    memset(c, 0, sizeof(*c));
    for (int sc = 0; sc < CONF_SC_COUNT; sc++) {
        if (sc != CONF_SC_AMI)
            conf__apply_defaults((conf_scope_e)sc, scope_base(c, (conf_scope_e)sc, 0));
    }
    ami_server_init(&c->ami[0], "default");
    c->nami = 1;
}

/* ---- secrets ---- */

static int check_secret_text(const char *p, size_t len, size_t dstsz, const char *what, char *why,
                             size_t whylen)
{
    if (len == 0) {
        snprintf(why, whylen, "%s is empty: expected a non-empty secret", what);
        return CCD_EINVAL;
    }
    if (len >= dstsz) {
        snprintf(why, whylen, "%s is too long: expected at most %zu bytes", what, dstsz - 1);
        return CCD_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(why, whylen, "%s contains a control character: expected printable text", what);
            return CCD_EINVAL;
        }
    }
    return 0;
}

static int secret_from_env(ccd_str_t name, char *dst, size_t dstsz, char *why, size_t whylen)
{
    char var[128];
    bool ok = name.len > 0 && name.len < sizeof(var) && !(name.p[0] >= '0' && name.p[0] <= '9');
    for (size_t i = 0; ok && i < name.len; i++) {
        char ch = name.p[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    }
    if (!ok) {
        snprintf(why, whylen, "expected env:VARNAME with a valid variable name");
        return CCD_EINVAL;
    }
    memcpy(var, name.p, name.len);
    var[name.len] = '\0';
    const char *val = getenv(var);
    if (!val) {
        snprintf(why, whylen, "environment variable %s is not set", var);
        return CCD_EINVAL;
    }
    char what[160];
    snprintf(what, sizeof(what), "environment variable %s", var);
    size_t len = strlen(val);
    if (check_secret_text(val, len, dstsz, what, why, whylen) != 0)
        return CCD_EINVAL;
    memset(dst, 0, dstsz);
    memcpy(dst, val, len);
    return 0;
}

static int secret_from_file(ccd_str_t path, char *dst, size_t dstsz, char *why, size_t whylen)
{
    char fn[CONF_STR_LEN * 4];
    if (path.len == 0 || path.p[0] != '/' || path.len >= sizeof(fn)) {
        snprintf(why, whylen, "expected file:/absolute/path");
        return CCD_EINVAL;
    }
    memcpy(fn, path.p, path.len);
    fn[path.len] = '\0';
    int fd = open(fn, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open secret file %s: %s", fn, strerror(errno));
        return CCD_EINVAL;
    }
    /* Only the first line counts; read a little past the field so an overlong
     * secret is reported instead of cut. */
    char tmp[CONF_STR_LEN * 2];
    size_t cap = dstsz + 2 < sizeof(tmp) ? dstsz + 2 : sizeof(tmp);
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, tmp + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            snprintf(why, whylen, "cannot read secret file %s: %s", fn, strerror(e));
            return CCD_EINVAL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (memchr(tmp, '\n', n))
            break;
    }
    close(fd);
    const char *nl = memchr(tmp, '\n', n);
    size_t len = nl ? (size_t)(nl - tmp) : n;
    if (len > 0 && tmp[len - 1] == '\r')
        len--;
    char what[CONF_STR_LEN * 4 + 16];
    snprintf(what, sizeof(what), "secret file %s", fn);
    if (check_secret_text(tmp, len, dstsz, what, why, whylen) != 0)
        return CCD_EINVAL;
    memset(dst, 0, dstsz);
    memcpy(dst, tmp, len);
    return 0;
}

int conf__secret_resolve(ccd_str_t v, char *dst, size_t dstsz, char *why, size_t whylen)
{
    if (v.len >= 4 && memcmp(v.p, "env:", 4) == 0)
        return secret_from_env((ccd_str_t){v.p + 4, v.len - 4}, dst, dstsz, why, whylen);
    if (v.len >= 5 && memcmp(v.p, "file:", 5) == 0)
        return secret_from_file((ccd_str_t){v.p + 5, v.len - 5}, dst, dstsz, why, whylen);
    if (v.len >= dstsz) {
        snprintf(why, whylen, "expected at most %zu bytes", dstsz - 1);
        return CCD_EINVAL;
    }
    /* The plain form may be empty (the default); never echo it. */
    if (v.len && check_secret_text(v.p, v.len, dstsz, "secret", why, whylen) != 0)
        return CCD_EINVAL;
    memset(dst, 0, dstsz);
    if (v.len)
        memcpy(dst, v.p, v.len);
    return 0;
}

/* ---- networks ---- */

int conf_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1)
        return 0;
    return CCD_EINVAL;
}

int conf_net_parse(const char *s, conf_net_t *out)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr))
        return CCD_EINVAL;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    struct in_addr a4;
    bool v4 = inet_pton(AF_INET, addr, &a4) == 1;
    conf_net_t n;
    memset(&n, 0, sizeof(n));
    if (conf_addr_parse(addr, n.addr) != 0)
        return CCD_EINVAL;
    int maxp = v4 ? 32 : 128;
    int prefix = maxp;
    if (slash) {
        const char *p = slash + 1;
        size_t digits = strlen(p);
        if (digits == 0 || digits > 3)
            return CCD_EINVAL;
        prefix = 0;
        for (size_t i = 0; i < digits; i++) {
            if (p[i] < '0' || p[i] > '9')
                return CCD_EINVAL;
            prefix = prefix * 10 + (p[i] - '0');
        }
        if (prefix > maxp)
            return CCD_EINVAL;
    }
    n.prefix = v4 ? prefix + 96 : prefix;
    /* Clear host bits so matching is a plain masked compare. */
    for (int bit = n.prefix; bit < 128; bit++)
        n.addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    *out = n;
    return 0;
}

int conf_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return CCD_EINVAL;
}

bool conf_net_allows(const conf_net_t *nets, int nnets, const uint8_t addr[16])
{
    if (nnets <= 0)
        return true;
    for (int i = 0; i < nnets; i++) {
        int bits = nets[i].prefix;
        int full = bits / 8, rest = bits % 8;
        if (full && memcmp(nets[i].addr, addr, (size_t)full) != 0)
            continue;
        if (rest) {
            uint8_t mask = (uint8_t)(0xffu << (8 - rest));
            if ((nets[i].addr[full] & mask) != (addr[full] & mask))
                continue;
        }
        return true;
    }
    return false;
}

/* ---- loading ---- */

/* Loader state for one text; lives on conf_load_string's stack. */
typedef struct load_state {
    const char *name;
    conf_t *c;
    int scope;            /* current conf_scope_e, -1 before the first section */
    void *base;           /* struct the current section's keys write into */
    int section_line;
    int section_seen[CONF_SC_COUNT];       /* header line of each non-AMI section, 0 = not yet */
    int ami_line[CONF_MAX_AMI_SERVERS];    /* header line of each AMI server section */
    bool ami_from_file;                    /* the first AMI section replaces the built-in default */
    int key_line[128];                     /* per directive: line set in the current section */
} load_state_t;

static bool str_ieq_c(ccd_str_t a, const char *b)
{
    return ccd_str_ieq(a, ccd_str(b));
}

/* Checks the current section as a whole once its last key is read. */
static int finish_section(load_state_t *st, char *err, size_t errlen)
{
    if (st->scope == CONF_SC_ECCP) {
        const conf_eccp_t *e = st->base;
        if (e->login_fail_delay_ms > e->login_fail_delay_max_ms) {
            conf__errf(err, errlen, st->name, st->section_line,
                       "[eccp] login_fail_delay_ms (%d) must not exceed login_fail_delay_max_ms (%d)",
                       e->login_fail_delay_ms, e->login_fail_delay_max_ms);
            return CCD_EINVAL;
        }
        return 0;
    }
    if (st->scope != CONF_SC_AMI)
        return 0;
    conf_ami_server_t *s = st->base;
    if (s->reconnect_min_ms > s->reconnect_max_ms) {
        conf__errf(err, errlen, st->name, st->section_line,
                   "[ami %s] reconnect_min_ms (%d) must not exceed reconnect_max_ms (%d)", s->name,
                   s->reconnect_min_ms, s->reconnect_max_ms);
        return CCD_EINVAL;
    }
    return 0;
}

static int begin_section(load_state_t *st, const conf_item_t *it, char *err, size_t errlen)
{
    int rc = finish_section(st, err, errlen);
    if (rc != 0)
        return rc;
    int scope = -1;
    for (int sc = 0; sc < CONF_SC_COUNT; sc++) {
        if (str_ieq_c(it->name, conf__scope_names[sc]))
            scope = sc;
    }
    int nl = (int)(it->name.len > 64 ? 64 : it->name.len);
    if (scope < 0) {
        conf__errf(err, errlen, st->name, it->line,
                   "unknown section [%.*s]: expected general, ami, database, eccp, agi, dialer, agents, log or metrics",
                   nl, it->name.p);
        return CCD_EINVAL;
    }
    memset(st->key_line, 0, sizeof(st->key_line));
    st->scope = scope;
    st->section_line = it->line;
    if (scope != CONF_SC_AMI) {
        if (it->arg.len) {
            conf__errf(err, errlen, st->name, it->line,
                       "section [%s] takes no name: expected [%s]", conf__scope_names[scope],
                       conf__scope_names[scope]);
            return CCD_EINVAL;
        }
        if (st->section_seen[scope]) {
            conf__errf(err, errlen, st->name, it->line, "duplicate section [%s] (first at line %d)",
                       conf__scope_names[scope], st->section_seen[scope]);
            return CCD_EINVAL;
        }
        st->section_seen[scope] = it->line;
        st->base = scope_base(st->c, (conf_scope_e)scope, 0);
        return 0;
    }

    /* [ami] is the server named "default"; [ami NAME] adds a server. */
    char sname[sizeof(st->c->ami[0].name)];
    if (it->arg.len == 0) {
        strcpy(sname, "default");
    } else if (ccd_str_copy(sname, sizeof(sname), it->arg) != 0) {
        conf__errf(err, errlen, st->name, it->line, "AMI server name too long: expected at most %zu bytes",
                   sizeof(sname) - 1);
        return CCD_EINVAL;
    }
    if (!st->ami_from_file) {
        st->ami_from_file = true;
        st->c->nami = 0;
    }
    for (int i = 0; i < st->c->nami; i++) {
        if (strcasecmp(st->c->ami[i].name, sname) == 0) {
            conf__errf(err, errlen, st->name, it->line,
                       "duplicate section [ami %s] (first at line %d): each AMI server needs its own name",
                       sname, st->ami_line[i]);
            return CCD_EINVAL;
        }
    }
    if (st->c->nami >= CONF_MAX_AMI_SERVERS) {
        conf__errf(err, errlen, st->name, it->line, "too many AMI servers: at most %d",
                   CONF_MAX_AMI_SERVERS);
        return CCD_EINVAL;
    }
    int idx = st->c->nami++;
    ami_server_init(&st->c->ami[idx], sname);
    st->ami_line[idx] = it->line;
    st->base = &st->c->ami[idx];
    return 0;
}

static int set_key(load_state_t *st, const conf_item_t *it, char *err, size_t errlen)
{
    int kl = (int)(it->name.len > 64 ? 64 : it->name.len);
    if (st->scope < 0) {
        conf__errf(err, errlen, st->name, it->line,
                   "key '%.*s' outside any section: expected a [section] header first", kl, it->name.p);
        return CCD_EINVAL;
    }
    const char *sec = conf__scope_names[st->scope];
    for (size_t i = 0; i < conf__ndirectives; i++) {
        const conf_directive_t *d = &conf__directives[i];
        if ((int)d->scope != st->scope || !str_ieq_c(it->name, d->name))
            continue;
        if (st->key_line[i]) {
            conf__errf(err, errlen, st->name, it->line, "duplicate key '%s' in [%s] (first at line %d)",
                       d->name, sec, st->key_line[i]);
            return CCD_EINVAL;
        }
        st->key_line[i] = it->line;
        char why[CCD_ERR_LEN];
        why[0] = '\0';
        if (conf__set(d, st->base, it->value, why, sizeof(why)) != 0) {
            conf__errf(err, errlen, st->name, it->line, "[%s] %s: %s", sec, d->name, why);
            return CCD_EINVAL;
        }
        return 0;
    }
    conf__errf(err, errlen, st->name, it->line, "unknown key '%.*s' in section [%s]", kl, it->name.p, sec);
    return CCD_EINVAL;
}

int conf_load_string(const char *name, const char *text, size_t len, conf_t *out, char *err,
                     size_t errlen)
{
    if (conf__ndirectives > sizeof(((load_state_t *)0)->key_line) / sizeof(int)) {
        conf__errf(err, errlen, name, 0, "internal error: directive table larger than loader state");
        return CCD_ERR;
    }
    if (err && errlen)
        err[0] = '\0';
    conf_defaults(out);
    load_state_t st;
    memset(&st, 0, sizeof(st));
    st.name = name ? name : "(config)";
    st.c = out;
    st.scope = -1;

    conf_parser_t ps;
    conf__parser_init(&ps, st.name, text, len);
    conf_item_t it;
    int rc;
    while ((rc = conf__parser_next(&ps, &it, err, errlen)) == 1) {
        rc = it.kind == CONF_ITEM_SECTION ? begin_section(&st, &it, err, errlen)
                                          : set_key(&st, &it, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (rc < 0)
        return CCD_EINVAL;
    return finish_section(&st, err, errlen);
}

int conf_load(const char *path, conf_t *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        conf__errf(err, errlen, path, 0, "cannot open: %s", strerror(e));
        return -e;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        conf__errf(err, errlen, path, 0, "not a regular file");
        return CCD_EINVAL;
    }
    if (sb.st_size > CONF_FILE_MAX) {
        close(fd);
        conf__errf(err, errlen, path, 0, "file too big: at most %d bytes", CONF_FILE_MAX);
        return CCD_ETOOBIG;
    }
    /* Read to EOF rather than trusting st_size: the file may change under us. */
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *text = malloc(cap);
    if (!text) {
        close(fd);
        conf__errf(err, errlen, path, 0, "out of memory");
        return CCD_ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap > CONF_FILE_MAX) {
                free(text);
                close(fd);
                conf__errf(err, errlen, path, 0, "file too big: at most %d bytes", CONF_FILE_MAX);
                return CCD_ETOOBIG;
            }
            char *t = realloc(text, cap * 2);
            if (!t) {
                free(text);
                close(fd);
                conf__errf(err, errlen, path, 0, "out of memory");
                return CCD_ENOMEM;
            }
            text = t;
            cap *= 2;
        }
        ssize_t r = read(fd, text + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(text);
            close(fd);
            conf__errf(err, errlen, path, 0, "cannot read: %s", strerror(e));
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    int rc = conf_load_string(path, text, n, out, err, errlen);
    free(text);
    return rc;
}
