/*
 * ECCP authentication helpers: the session cookie and agent hashes.
 *
 * The wire format is fixed by Issabel's clients: app_cookie is 32 lower-case
 * hex digits, agent_hash = md5_hex(app_cookie + agent_number + eccp_password).
 * The cookie comes from libcrypto's CSPRNG (Issabel used md5(pid.time.rand)),
 * and hashes are compared in constant time.
 */
#include "eccp/eccp_auth.h"

#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/err.h"

static void hex32(const unsigned char *d, char out[33])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[32] = '\0';
}

int eccp__cookie_new(char out[33])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return CCD_ERR;
    hex32(r, out);
    return 0;
}

int eccp__md5_hex3(const char *a, const char *b, const char *c, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, strlen(a)) == 1 && EVP_DigestUpdate(ctx, b, strlen(b)) == 1 &&
             EVP_DigestUpdate(ctx, c, strlen(c)) == 1 && EVP_DigestFinal_ex(ctx, d, &dl) == 1 &&
             dl == 16;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        out[0] = '\0';
        return CCD_ERR;
    }
    hex32(d, out);
    return 0;
}

void eccp_agent_hash(const char *cookie, const char *agent_number, const char *password,
                     char out[33])
{
    if (eccp__md5_hex3(cookie, agent_number, password, out) != 0)
        out[0] = '\0';
}

bool eccp__agent_hash_ok(const char *cookie, const char *agent_number, const char *password,
                        const char *client_hash)
{
    /* A NULL eccp_password made Issabel accept any hash; we reject instead. */
    if (!cookie || !cookie[0] || !password || !client_hash)
        return false;
    char want[33];
    if (eccp__md5_hex3(cookie, agent_number, password, want) != 0)
        return false;
    /* PHP compared with ==, so the client must send lower-case hex; accept upper case too. */
    if (strlen(client_hash) != 32)
        return false;
    char got[33];
    for (int i = 0; i < 32; i++)
        got[i] = (char)tolower((unsigned char)client_hash[i]);
    got[32] = '\0';
    return CRYPTO_memcmp(want, got, 32) == 0;
}
