/* The chunked feed and the corpus replay of the fuzz targets (see ccd_fuzz.h). */
#include "test/common/ccd_fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int ccd_fuzz_feed(const uint8_t *data, size_t size, uint64_t seed, size_t max_chunk,
                  ccd_fuzz_step_fn step, void *ctx)
{
    int rc = CCD_EAGAIN;
    size_t given = 0, start = 0;
    char *win = NULL;
    for (;;) {
        if (rc != CCD_OK) {
            if (given == size)
                break;
            size_t n = seed ? 1 + ccd_fuzz_rng_next(&seed) % max_chunk : size - given;
            given += n < size - given ? n : size - given;
        }
        size_t have = given - start;
        free(win);
        win = malloc(have ? have : 1);
        if (!win)
            abort();
        memcpy(win, data + start, have);
        size_t used = 0;
        rc = step(ctx, win, have, &used);
        if (rc == CCD_EPROTO)
            break;
        if (rc != CCD_OK)
            continue;
        if (used == 0 || used > have)
            abort();
        start += used;
    }
    free(win);
    return rc;
}

static int replay_file(const char *path, const ccd_fuzz_replay_t *r, uint64_t *rng, size_t *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *d = malloc(1 << 20);
    uint8_t *m = NULL;
    if (!d) {
        fclose(f);
        return -1;
    }
    size_t n = fread(d, 1, 1 << 20, f);
    fclose(f);
    r->target(d, n);
    (*runs)++;
    if (n)
        m = malloc(n);
    for (int i = 0; i < r->mutations && n; i++) {
        if (!m)
            abort();
        size_t mn = n;
        memcpy(m, d, n);
        int k = 1 + (int)(ccd_fuzz_rng_next(rng) % 4);
        for (int j = 0; j < k; j++) {
            size_t at = ccd_fuzz_rng_next(rng) % mn;
            switch (ccd_fuzz_rng_next(rng) % 3) {
            case 0: mn = at + 1; break;
            case 1: m[at] = (uint8_t)ccd_fuzz_rng_next(rng); break;
            default: m[at] = r->pick[ccd_fuzz_rng_next(rng) % r->npick]; break;
            }
        }
        r->target(m, mn);
        (*runs)++;
    }
    free(m);
    free(d);
    return 0;
}

int ccd_fuzz_replay_main(int argc, char **argv, const ccd_fuzz_replay_t *r)
{
    uint64_t rng = 42;
    size_t files = 0, runs = 0;
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            if (replay_file(argv[a], r, &rng, &runs) != 0) {
                fprintf(stderr, "cannot read %s\n", argv[a]);
                return 1;
            }
            files++;
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[a], de->d_name);
            if (replay_file(path, r, &rng, &runs) == 0)
                files++;
        }
        closedir(dir);
    }
    printf("%s: %zu files, %zu runs, no difference\n", r->name, files, runs);
    return files ? 0 : 1;
}
