/*
 * Helpers of the FastAGI integration tests: an AMI client of pbxsim that keeps everything
 * it received (to look for the AGIExec/VarSet/Hangup/QueueCallerJoin events a script caused),
 * a raw FastAGI client playing Asterisk by hand, and registry fixtures.
 */
#ifndef CCD_TEST_AGI_AGI_TEST_UTIL_H
#define CCD_TEST_AGI_AGI_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agi/agi.h"
#include "reg/reg.h"

struct pbxsim_opts;

typedef struct amicli {
    int fd;
    char *buf;
    size_t len, cap;
} amicli_t;

/* Connects to pbxsim's AMI port and logs in as dialer/dialer; fails the test on error. */
void amic_open(amicli_t *c, uint16_t port);
void amic_close(amicli_t *c);
void amic_send(amicli_t *c, const char *text);
/* Reads until text appears in what arrived from offset `from` on; returns where it starts.
 * Fails the test (naming text) when the scaled deadline passes. */
size_t amic_wait(amicli_t *c, size_t from, const char *text);
/* Originates Local/<exten>@customers into dialer-agi with script and extra Variable lines
 * ("K=V", NULL-terminated), ChannelId chan_id, CallerID cid. */
void amic_originate(amicli_t *c, const char *exten, const char *chan_id, const char *cid,
                    const char *script, const char *const *vars);

/* A raw FastAGI connection to the server: the test is Asterisk. */
int agic_connect(uint16_t port);
/* Sends the recorded environment for script with args (NULL-terminated, may be NULL). */
void agic_env(int fd, const char *script, const char *uniqueid, const char *const *args);
void agic_send(int fd, const char *text);
/* Reads one line (without its end) into out; fails the test when the deadline passes or the
 * server closes first. */
void agic_line(int fd, char *out, size_t outsz);
/* Waits for the server to close the connection (recv returns 0), failing on a deadline or on
 * any byte received meanwhile (the server must say nothing more). */
void agic_wait_closed(int fd);

/* Starts the FastAGI server with cfg on a port the kernel picks; fails the test on error. */
agi_t *tagi_start(const conf_agi_t *cfg, const agi_deps_t *deps);
agi_stats_t tagi_stats(agi_t *agi);
/* pbxsim as the script tests run it: AMI user dialer/dialer answered at once, 20x time, AGI()
 * dialling agi's port (agi_test_sim.c, built with the tools module). */
void tagi_sim_opts(struct pbxsim_opts *o, agi_t *agi);

/* Puts a call with this uniqueid in the registry (type/status given) and returns its id. */
uint64_t treg_call(reg_t *r, const char *uniqueid, reg_call_type_e type, reg_call_status_e st);
/* The registry's copy of the call with this uniqueid; false when there is none. */
bool treg_find(reg_t *r, const char *uniqueid, reg_call_t *out);

#endif
