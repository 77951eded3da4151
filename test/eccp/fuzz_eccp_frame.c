/*
 * Fuzz target for ECCP framing + XML parsing.  Input: one byte choosing the
 * chunk size, then the stream.  The stream is framed whole and in chunks; the
 * packet sequences and errors must agree (abort otherwise), and every packet
 * goes through the hardened parser.  With clang -fsanitize=fuzzer define
 * CCD_LIBFUZZER; otherwise main() replays every file of the directories given.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/eccp/frame_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    size_t all = n ? n : 1;
    feed_out_t a = feed(s, n, chunk_all, &all, 4096, 16);
    feed_out_t b = feed(s, n, chunk_all, &chunk, 4096, 16);
    /* On error the chunked run may stop at the same packet; compare what both produced. */
    if (a.err != b.err || a.npkts != b.npkts || a.len != b.len || memcmp(a.pkts, b.pkts, a.len) != 0)
        abort();
    size_t st = 0;
    for (size_t i = 0; i < a.len; i++) {
        if (a.pkts[i] != '\x1e')
            continue;
        eccp_req_t r;
        if (eccp__req_parse(a.pkts + st, i - st, &r) == 0) {
            char v[64];
            if (r.cmd)
                eccp__arg(r.cmd, "agent_number", v, sizeof(v));
            eccp__req_free(&r);
        }
        st = i + 1;
    }
    free(a.pkts);
    free(b.pkts);
    return 0;
}

#ifndef CCD_LIBFUZZER
int main(int argc, char **argv)
{
    eccp__xml_init();
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            uint8_t *buf = malloc(1 << 20);
            size_t n = fread(buf, 1, 1 << 20, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
            free(buf);
            files++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
#endif
