/*
 * agi: the FastAGI server the Asterisk dialplan calls (AGI(agi://host:4573/script,args)).
 *
 * DESIGN (docs/agi.md has the long form)
 * - Asterisk is the TCP client.  It sends its agi_* environment (one "key: value" line
 *   each, an empty line at the end); then the server sends one command line at a time and
 *   Asterisk answers each: "200 result=N [(data)] [endpos=N]", 510 (unknown command), 511
 *   (dead channel), or a multi-line "520-..." usage ending "520 End of proper usage.".  A
 *   "HANGUP" line can arrive at any time (the channel hung up); commands still get answers.
 * - Parser (agi_parse.c): pure, incremental, bounded; one line per call, no I/O.
 * - Server (agi_server.c): worker threads, each with an epoll set, sharing the listening
 *   socket (EPOLLEXCLUSIVE).  A worker owns its sessions; a session is a state machine
 *   (environment, then script steps), never a thread, so a slow channel blocks nobody.
 *   Each command has a deadline ([agi] command_timeout_s); the environment too.
 * - Scripts (agi_scripts.c): selected by agi_network_script from a table of names.  A
 *   script is a step function called with the answer to its last command (or the result
 *   of its last database read); it sends the next command, starts a read job, or ends.
 *   Database reads are read jobs (db_read_submit) whose results come back to the worker's
 *   inbox; writes go through db_write_submit; call facts are posted to the registry.
 * - Lifecycle: agi_new / agi_start / agi_stop / agi_free from one controlling thread.
 */
#ifndef CCD_AGI_AGI_H
#define CCD_AGI_AGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/buf.h"

/* ====================================================================== */
/* Parser (agi_parse.c): no I/O, no globals, no locks.                    */
/* ====================================================================== */

#define AGI_LINE_MAX 4096     /* default longest line, line end excluded */
#define AGI_ENV_MAX 128       /* default most environment lines */
#define AGI_USAGE_LINES_MAX 256 /* most lines of one 520 usage text */

typedef enum agi_item_type {
    AGI_IT_ENV = 1,  /* one environment line: key, val */
    AGI_IT_ENV_END,  /* the empty line after the environment */
    AGI_IT_RESPONSE, /* an answer: code, result, data, endpos */
    AGI_IT_HANGUP,   /* the channel hung up (a "HANGUP" line) */
    AGI_IT_USAGE,    /* a line inside a 520 usage text (no answer yet; nothing to do) */
} agi_item_type_e;

/* One parsed line.  Slices point into the buffer given to agi_parse() and stay valid until
 * the caller changes that buffer. */
typedef struct agi_item {
    agi_item_type_e type;
    size_t len;          /* bytes of the stream this item used: consume them */
    ccd_str_t key, val;  /* AGI_IT_ENV */
    int code;            /* AGI_IT_RESPONSE: 200, 510, 511, 520, ... */
    ccd_str_t result_text; /* what follows result= up to a space (may be empty) */
    bool has_result;     /* result_text is one decimal number */
    long long result;    /* result=N (a digit's ASCII code for WAIT FOR DIGIT, -1 = hung up) */
    bool has_data;
    ccd_str_t data;      /* the text between the parentheses: "(data)" */
    bool has_endpos;
    long long endpos;
    ccd_str_t text;      /* the whole line (510/511 reason, 520 last line) */
} agi_item_t;

/* Parser state: owned by one thread (its session's worker), never shared. */
typedef struct agi_parser {
    size_t max_line;
    int max_env;
    int nenv;
    bool env_done;  /* the empty line came: answers from now on */
    bool in_usage;  /* between "520-..." and "520 ..." */
    int usage_lines;
    const char *err; /* static text saying why CCD_EPROTO was returned */
} agi_parser_t;

/* Sets bounds (0 = the defaults above) and the start state (environment first). */
void agi_parser_init(agi_parser_t *p, size_t max_line, int max_env);
/*
 * Parses the next line of data[0..len).  CCD_OK with *out (consume out->len bytes, then
 * call again), CCD_EAGAIN (no complete line yet: read more; nothing consumed), or
 * CCD_EPROTO (p->err says why: a line longer than max_line, too many environment or usage
 * lines, a NUL byte, an environment line without ": ", an answer that is not one).  Lines
 * may end in "\n" or "\r\n".  After CCD_EPROTO the stream cannot be trusted: close it.
 */
int agi_parse(agi_parser_t *p, const char *data, size_t len, agi_item_t *out);

/* ====================================================================== */
/* Command building (agi_parse.c, pure)                                   */
/* ====================================================================== */

/*
 * Appends an AGI argument to out (size outsz, NUL-terminated, *used updated): quoted with
 * "..." and \" \\ escapes when it is empty or has a space, quote or backslash; characters
 * below 0x20 are dropped, since a line end would end the command.  0 or CCD_ETOOBIG.
 */
int agi_arg_append(char *out, size_t outsz, size_t *used, const char *arg);

/* ====================================================================== */
/* Server                                                                 */
/* ====================================================================== */

typedef struct agi agi_t;
struct reg;
struct db;
struct ags;

/* What the scripts need besides the configuration; reg is required, db may be NULL (scripts
 * that read or write then answer with their failure path and say so in the log). */
typedef struct agi_deps {
    struct reg *reg;
    struct db *db;
    struct ags *ags; /* the agent service (agentlogin); NULL: agentlogin answers failed */
} agi_deps_t;

/*
 * Checks and allocates; binds the listening socket ([agi] bind:port; port 0 picks a free
 * one, see agi_port).  NULL with the reason in err on failure.
 */
agi_t *agi_new(const conf_agi_t *cfg, const agi_deps_t *deps, char *err, size_t errlen);
/* Starts the worker threads.  0, CCD_EBUSY (started already) or CCD_ERR. */
int agi_start(agi_t *a);
/* Closes every session (their scripts end where they are), joins the workers; waits for
 * read jobs still out (up to 30 s).  A no-op when not running and the second time. */
void agi_stop(agi_t *a);
/* Stops if needed and frees.  NULL is a no-op. */
void agi_free(agi_t *a);
/* The bound port (for port 0 in the configuration). */
uint16_t agi_port(const agi_t *a);

typedef struct agi_stats {
    uint64_t accepted;        /* sessions taken */
    uint64_t refused_full;    /* connections closed at once: max_sessions reached */
    uint64_t finished;        /* sessions whose script ran to its end */
    uint64_t hangups;         /* sessions ended by the channel hanging up */
    uint64_t timeouts;        /* sessions closed: no answer within command_timeout_s */
    uint64_t protocol_errors; /* sessions closed: the peer broke the protocol */
    uint64_t unknown_script;  /* sessions for a script name not in the table */
    uint64_t commands;        /* commands sent */
    uint64_t db_refused;      /* read jobs or writes the database refused (full queue) */
    int sessions;             /* open now */
    int64_t heartbeat_ms;     /* oldest worker's last loop (clk_mono_ms); 0 = not started */
} agi_stats_t;
void agi_get_stats(agi_t *a, agi_stats_t *out);

/* The name of script i of the table, NULL past its end (for docs and tests). */
const char *agi_script_name(size_t i);

#endif
