/* Test helper: rebuilds the received AMI stream of a transcript (see transcript.h). */
#include "test/ami/transcript.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CCD_AMI_TRANSCRIPTS
#define CCD_AMI_TRANSCRIPTS "test/data/asterisk/transcripts"
#endif

const char *tr_dir(void)
{
    const char *e = getenv("CCD_AMI_TRANSCRIPTS");
    return (e && *e) ? e : CCD_AMI_TRANSCRIPTS;
}

char *tr_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long sz = ftell(f);
    rewind(f);
    char *d = malloc((size_t)sz + 1);
    if (!d || fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        fclose(f);
        return NULL;
    }
    fclose(f);
    d[sz] = 0;
    *len = (size_t)sz;
    return d;
}

char *tr_stream(const char *name, bool received, bool crlf, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tr_dir(), name);
    size_t n;
    char *src = tr_read_file(path, &n);
    if (!src)
        return NULL;
    char *out = malloc(n * 2 + 1);
    size_t o = 0;
    int recv = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(src + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - src) : n;
        size_t ll = e - i;
        const char *line = src + i;
        if (ll > 0 && line[0] == '#') {
            if (ll >= 5 && memcmp(line, "# <<<", 5) == 0)
                recv = 1;
            else if (ll >= 5 && memcmp(line, "# >>>", 5) == 0)
                recv = 0;
        } else if (recv == (int)received) {
            memcpy(out + o, line, ll);
            o += ll;
            if (crlf)
                out[o++] = '\r';
            out[o++] = '\n';
        }
        i = e + 1;
    }
    free(src);
    out[o] = 0;
    *len = o;
    return out;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **tr_list(size_t *n)
{
    DIR *d = opendir(tr_dir());
    *n = 0;
    if (!d)
        return NULL;
    size_t cap = 64;
    char **v = malloc(cap * sizeof(*v));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0 ||
            strncmp(de->d_name, "SUMMARY", 7) == 0 || strcmp(de->d_name, "fastagi_sessions.txt") == 0)
            continue;
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof(*v), cmp);
    return v;
}

void tr_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

char *tr_received(const char *name, bool crlf, size_t *len)
{
    return tr_stream(name, true, crlf, len);
}
