/*
 * conf internals shared by conf_parse.c (tokenizer), conf_table.c (the
 * directive table and value setters) and conf.c (loading, secrets, nets).
 * Tests include this header to drive the parser and walk the table; no other
 * module may.
 */
#ifndef CCD_CONF_CONF_INT_H
#define CCD_CONF_CONF_INT_H

#include "conf/conf.h"
#include "core/buf.h"

#include <stddef.h>

/* Longest line accepted, newline excluded.  A longer line is an error, never
 * silently cut: a cut secret or path would fail later and far from the cause. */
#define CONF_LINE_MAX 4096

/* Largest file conf_load() reads; a config is a few KiB, anything near this
 * is the wrong file. */
#define CONF_FILE_MAX (1024 * 1024)

/* ---- parser (conf_parse.c): pure, no I/O, no allocation ---- */

typedef enum conf_item_kind {
    CONF_ITEM_SECTION = 1, /* "[name]" or "[name arg]" */
    CONF_ITEM_KEY = 2,     /* "key = value" */
} conf_item_kind_e;

/* Slices point into the text given to conf__parser_init() and live as long as it. */
typedef struct conf_item {
    conf_item_kind_e kind;
    int line;        /* 1-based line number */
    ccd_str_t name;  /* section name or key, trimmed */
    ccd_str_t arg;   /* section argument ("NAME" of [ami NAME]); len 0 if none */
    ccd_str_t value; /* trimmed value, one pair of surrounding double quotes removed */
} conf_item_t;

/* Owned by the caller; one parser per text, never shared between threads. */
typedef struct conf_parser {
    const char *name; /* file name used in messages */
    const char *p;    /* next unread byte */
    const char *end;
    int line; /* number of the last line returned or skipped */
} conf_parser_t;

void conf__parser_init(conf_parser_t *ps, const char *name, const char *text, size_t len);

/*
 * Reads the next section header or key line, skipping blanks and comments.
 * Returns 1 with *item filled, 0 at the end of the text, or CCD_EPROTO with
 * "name:line: message" in err.  After an error the parser must not be used.
 */
int conf__parser_next(conf_parser_t *ps, conf_item_t *item, char *err, size_t errlen);

/* Writes "name:line: " + the formatted message into err (always NUL-terminated). */
void conf__errf(char *err, size_t errlen, const char *name, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- directive table (conf_table.c) ---- */

typedef enum conf_type {
    CONF_T_STRING = 1, /* any text up to CONF_STR_LEN - 1 bytes */
    CONF_T_PATH,       /* empty or an absolute path */
    CONF_T_INT,        /* decimal integer within [min, max] */
    CONF_T_PORT,       /* TCP port 1-65535 */
    CONF_T_BOOL,       /* yes/no, true/false, on/off, 1/0 */
    CONF_T_DOUBLE,     /* decimal number within [dmin, dmax] */
    CONF_T_LOGLEVEL,   /* error, warning, notice, info, debug */
    CONF_T_LOGTARGET,  /* stderr, syslog or an absolute file path */
    CONF_T_SECRET,     /* plain text, env:NAME or file:/path; never echoed */
    CONF_T_NETS,       /* comma list of addresses or CIDRs; empty = everyone */
    CONF_T_HOST,       /* host name or IP address literal */
    CONF_T_ADDR,       /* numeric IPv4 or IPv6 address (listen address) */
    CONF_T_IDENT,      /* letters, digits, '_', '-', '.' (contexts, database names) */
} conf_type_e;

/* Which struct a directive's offset is relative to. */
typedef enum conf_scope {
    CONF_SC_GENERAL = 0,
    CONF_SC_AMI,
    CONF_SC_DATABASE,
    CONF_SC_ECCP,
    CONF_SC_AGI,
    CONF_SC_DIALER,
    CONF_SC_LOG,
    CONF_SC_METRICS,
    CONF_SC_AGENTS,
    CONF_SC_COUNT
} conf_scope_e;

typedef struct conf_directive {
    conf_scope_e scope;
    const char *name;
    conf_type_e type;
    const char *def; /* default, in the same text form as the file; parsed by the same setter */
    size_t offset;   /* of the field inside the scope's struct */
    size_t size;     /* of the field (bounds string copies) */
    long long min, max; /* CONF_T_INT */
    double dmin, dmax;  /* CONF_T_DOUBLE */
    int nets_count_offset; /* CONF_T_NETS: offset of the int count field */
    const char *help;   /* one-line meaning, for messages and docs */
} conf_directive_t;

extern const conf_directive_t conf__directives[];
extern const size_t conf__ndirectives;

/* Section names as written in the file, indexed by conf_scope_e. */
extern const char *const conf__scope_names[CONF_SC_COUNT];

/*
 * Parses value into the field of d inside base (the scope's struct).
 * Returns 0, or CCD_EINVAL with a message naming what was expected in why
 * (no file:line, no key; the caller adds them).  Secrets are resolved here.
 */
int conf__set(const conf_directive_t *d, void *base, ccd_str_t value, char *why, size_t whylen);

/* Applies every default of scope to base. */
void conf__apply_defaults(conf_scope_e scope, void *base);

/* ---- helpers (conf.c) ---- */

/* Resolves a secret value (plain, env:NAME, file:/path) into dst. */
int conf__secret_resolve(ccd_str_t value, char *dst, size_t dstsz, char *why, size_t whylen);

#endif
