/*
 * Test helper: the received side of a recorded AMI transcript.
 *
 * Transcript files (test/data/asterisk/transcripts) mark direction with
 * annotation lines "# <<< t" (received) and "# >>> t" (sent); every other
 * '#' line is a note.  The received bytes are rebuilt by keeping the lines
 * of "<<<" sections, with LF or CRLF line ends (the wire uses CRLF; the
 * files were saved with LF).
 */
#ifndef CCD_TEST_AMI_TRANSCRIPT_H
#define CCD_TEST_AMI_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

/* Directory of the transcripts (compile-time CCD_AMI_TRANSCRIPTS, or the
 * environment variable of the same name). */
const char *tr_dir(void);

/* Reads dir/name and returns the received stream (malloc'ed, NUL-terminated
 * for convenience, length in *len), banner line included. NULL on error. */
char *tr_received(const char *name, bool crlf, size_t *len);

/* Either direction: received (Asterisk -> us) or sent (our actions). */
char *tr_stream(const char *name, bool received, bool crlf, size_t *len);

/* Lists the AMI transcript files (*.txt except SUMMARY* and the FastAGI-only
 * fastagi_sessions.txt, which has its own format); returns a malloc'ed array of
 * malloc'ed names (sorted), count in *n. */
char **tr_list(size_t *n);
void tr_list_free(char **names, size_t n);

/* Reads a whole file (malloc'ed, NUL-terminated). */
char *tr_read_file(const char *path, size_t *len);

#endif
