/* ECCP cookies and agent hashes (libcrypto); internal to the eccp module. */
#ifndef CCD_ECCP_AUTH_H
#define CCD_ECCP_AUTH_H

#include <stdbool.h>

#include "eccp/eccp.h"

/* 32 random lower-case hex digits from RAND_bytes. 0 or CCD_ERR. */
int eccp__cookie_new(char out[33]);
/* md5 hex of a + b + c. 0 or CCD_ERR. */
int eccp__md5_hex3(const char *a, const char *b, const char *c, char out[33]);
/* Constant-time check of a client's agent_hash; password NULL (no eccp_password) is refused. */
bool eccp__agent_hash_ok(const char *cookie, const char *agent_number, const char *password,
                        const char *client_hash);

#endif
