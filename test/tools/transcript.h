/*
 * The one reader of the recorded AMI transcripts (test/data/asterisk/transcripts),
 * for tests and benchmarks: the raw bytes of either direction (the parser tests
 * and bench/ami), the parsed messages (pbxsim's fidelity test), and the reduction
 * of AMI message streams to comparable "key events".
 *
 * File format: annotation lines "# <<< t" (what Asterisk sent, t seconds after
 * connect) and "# >>> t" (what the probe sent) switch the direction; every other
 * line starting with '#' is a note; the rest are the wire lines of the current
 * direction, saved with LF (the wire uses CRLF).
 */
#ifndef CCD_TEST_TOOLS_TRANSCRIPT_H
#define CCD_TEST_TOOLS_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#define TM_MAX_HDR 192

typedef enum { TI_SENT, TI_RECV, TI_NOTE } titem_kind_e;

typedef struct tmsg {
    titem_kind_e kind;
    int n;
    char *k[TM_MAX_HDR];
    char *v[TM_MAX_HDR];
    char *note; /* TI_NOTE text */
    double t;   /* seconds since connect, from the annotation */
} tmsg_t;

typedef struct tscript {
    tmsg_t *items;
    size_t n, cap;
} tscript_t;

/*
 * Takes one message off a live AMI stream (data[0..len)): returns 1 and sets
 * *used, or 0 when no complete message is there yet.  Unlike pbxsim's action
 * parser it has room for the biggest events (AttendedTransfer has ~85 fields).
 */
int ts_parse_stream(const char *data, size_t len, tmsg_t *out, size_t *used);

/* Loads a transcript; returns 0 or -1 (file missing or unreadable). */
int ts_load(const char *path, tscript_t *ts);
void ts_free(tscript_t *ts);

const char *tm_get(const tmsg_t *m, const char *key);
void tm_add(tmsg_t *m, const char *k, const char *v);
void tm_clear(tmsg_t *m);

/* A key event: which causal stream it belongs to and what it says. */
typedef struct tkey {
    char stream[128];
    char sig[160];
    bool list; /* list streams compare as sorted multisets */
} tkey_t;

/* Reduces one message (received from the PBX) to a key event; false if it does not matter. */
bool tm_key(const tmsg_t *m, tkey_t *out);

/* "Local/5001@customers-00000016;1" -> "Local/5001@customers;1" */
void ts_norm_chan(const char *in, char *out, size_t n);

typedef struct tkeys {
    tkey_t *k;
    size_t n, cap;
} tkeys_t;

void tk_push(tkeys_t *ks, const tkey_t *k);
void tk_free(tkeys_t *ks);

/*
 * Compares recorded and simulated key events stream by stream; prints every
 * difference to stderr prefixed by label.  Returns the number of differing streams.
 */
int tk_compare(const char *label, const tkeys_t *rec, const tkeys_t *sim);

/* As tk_compare, but only the streams whose name starts with one of prefixes (NULL-ended). */
int tk_compare_some(const char *label, const tkeys_t *rec, const tkeys_t *sim, const char *const *prefixes);

/* How many key events have a signature starting with sig_prefix. */
size_t tk_count(const tkeys_t *ks, const char *sig_prefix);

/* ---- files and raw streams ---- */

/* Directory of the transcripts: the environment variable CCD_AMI_TRANSCRIPTS when set,
 * else the repository's test/data/asterisk/transcripts (absolute, from CMake). */
const char *tr_dir(void);

/* Reads a whole file (malloc'ed, NUL-terminated, length in *len); NULL on error. */
char *tr_read_file(const char *path, size_t *len);

/* The wire bytes of one direction of tr_dir()/name: received (Asterisk -> us) or sent
 * (our actions), lines ended with CRLF or LF; malloc'ed, NUL-terminated for
 * convenience, length in *len; NULL on error.  The received side starts with the banner. */
char *tr_stream(const char *name, bool received, bool crlf, size_t *len);

/* tr_stream(name, true, crlf, len). */
char *tr_received(const char *name, bool crlf, size_t *len);

/* The AMI transcript files of tr_dir() (*.txt except SUMMARY* and the FastAGI-only
 * fastagi_sessions.txt, which has its own format): a malloc'ed array of malloc'ed
 * names, sorted, count in *n (NULL and 0 when the directory cannot be read). */
char **tr_list(size_t *n);
void tr_list_free(char **names, size_t n);

#endif
