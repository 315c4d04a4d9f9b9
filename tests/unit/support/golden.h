/* Test helper: golden captures (tests/golden/NAME.hex), written byte by byte from
 * docs/format.md, never by the encoder. A .hex file is text: pairs of hex digits are bytes,
 * `#` starts a comment to the end of the line, and lines starting with `@` are directives:
 *   @image       the bytes that follow are the next image (a new LZ4 frame)
 *   @unfinished  the current image's LZ4 frame has no end mark (a killed program)
 *   @at N        N bytes of the stream (all images) come before this point: a check
 * This turns one into a capture file (each image an LZ4 frame, by liblz4). Header-only,
 * for unit tests. */
#ifndef MEMTAP_TEST_GOLDEN_H
#define MEMTAP_TEST_GOLDEN_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/capture_builder.h"

#ifndef MEMTAP_GOLDEN_DIR
#define MEMTAP_GOLDEN_DIR "tests/golden"
#endif

#define GOLDEN_MAX_IMAGES 8

typedef struct {
    char path[128];                     /* the capture file written */
    uint8_t raw[1 << 16];               /* the decompressed stream, all images */
    size_t len;
    size_t image_end[GOLDEN_MAX_IMAGES]; /* where each image's bytes end in raw */
    size_t images;
    int unfinished; /* the last image's LZ4 frame has no end mark */
} golden_t;

/* One line of NAME.hex (line number `at`) into g. */
static inline void golden_line(golden_t *g, char *line, const char *name, int at) {
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '@') {
        cr_assert(g->images > 0 || !strncmp(s, "@image", 6), "%s:%d: bytes before @image", name,
                  at);
        if (!strncmp(s, "@image", 6)) {
            cr_assert(g->images < GOLDEN_MAX_IMAGES && !g->unfinished, "%s:%d", name, at);
            g->image_end[g->images++] = g->len;
        } else if (!strncmp(s, "@unfinished", 11)) {
            g->unfinished = 1;
        } else {
            unsigned long n;
            cr_assert(sscanf(s, "@at %lu", &n) == 1, "%s:%d: unknown directive", name, at);
            cr_assert_eq(g->len, n, "%s:%d: @at %lu, but %zu bytes come before", name, at, n,
                         g->len);
        }
        return;
    }
    for (char *tok = strtok(s, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        cr_assert(strlen(tok) == 2 && isxdigit((unsigned char)tok[0]) &&
                      isxdigit((unsigned char)tok[1]),
                  "%s:%d: '%s' is not a byte", name, at, tok);
        cr_assert(g->images > 0, "%s:%d: bytes before @image", name, at);
        cr_assert(g->len < sizeof g->raw, "%s: too long", name);
        g->raw[g->len++] = (uint8_t)strtoul(tok, NULL, 16);
        g->image_end[g->images - 1] = g->len;
    }
}

/* Reads tests/golden/NAME.hex and writes it as a capture file, g->path. */
static inline void golden_load(golden_t *g, const char *name) {
    memset(g, 0, sizeof *g);
    char src[512];
    snprintf(src, sizeof src, "%s/%s.hex", MEMTAP_GOLDEN_DIR, name);
    FILE *in = fopen(src, "r");
    cr_assert(in, "cannot open %s", src);
    char line[1024];
    for (int at = 1; fgets(line, sizeof line, in); at++)
        golden_line(g, line, name, at);
    fclose(in);
    cr_assert(g->images > 0, "%s: no @image", name);
    snprintf(g->path, sizeof g->path, "/tmp/memtap-golden-%d-%s.memtap", (int)getpid(), name);
    FILE *out = fopen(g->path, "wb");
    cr_assert(out);
    for (size_t i = 0, start = 0; i < g->images; start = g->image_end[i++])
        cb_compress(out, g->raw + start, g->image_end[i] - start,
                    !(g->unfinished && i + 1 == g->images));
    fclose(out);
}

static inline void golden_done(golden_t *g) { unlink(g->path); }

#endif
