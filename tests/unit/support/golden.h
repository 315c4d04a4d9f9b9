/* Test helper: golden captures (tests/golden/NAME.hex), written byte by byte from
 * docs/format.md, never by the encoder. A .hex file is text: pairs of hex digits are bytes,
 * `#` starts a comment to the end of the line, and lines starting with `@` are directives:
 *   @file        the bytes that follow go into the file as they are (piece headers, and
 *                whatever else a test puts between pieces)
 *   @lz4         the bytes that follow are the content of one LZ4 frame (made by liblz4)
 *   @unfinished  the current LZ4 frame has no end mark (a killed program, a file cut short)
 *   @at N        N bytes of LZ4 frame content (all LZ4 frames so far, what `lz4 -dc`
 *                prints) come before this point: a check
 * This turns one into a capture file. Header-only, for unit tests. */
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

#define GOLDEN_MAX_SEGMENTS 64

typedef struct {
    int lz4;           /* an LZ4 frame's content, else file bytes */
    int unfinished;    /* (lz4) no end mark */
    size_t start, end; /* in bytes */
} golden_segment_t;

typedef struct {
    char path[128];         /* the capture file written */
    uint8_t bytes[1 << 16]; /* every byte of the .hex file, in order */
    size_t len;
    size_t content; /* LZ4 frame content so far */
    golden_segment_t seg[GOLDEN_MAX_SEGMENTS];
    size_t nseg;
} golden_t;

static inline void golden_segment(golden_t *g, int lz4, const char *name, int at) {
    cr_assert(g->nseg < GOLDEN_MAX_SEGMENTS, "%s:%d: too many segments", name, at);
    g->seg[g->nseg++] = (golden_segment_t){lz4, 0, g->len, g->len};
}

/* One line of NAME.hex (line number `at`) into g. */
static inline void golden_line(golden_t *g, char *line, const char *name, int at) {
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '@') {
        if (!strncmp(s, "@file", 5) || !strncmp(s, "@lz4", 4)) {
            golden_segment(g, s[1] == 'l', name, at);
        } else if (!strncmp(s, "@unfinished", 11)) {
            cr_assert(g->nseg && g->seg[g->nseg - 1].lz4, "%s:%d: not in @lz4", name, at);
            g->seg[g->nseg - 1].unfinished = 1;
        } else {
            unsigned long n;
            cr_assert(sscanf(s, "@at %lu", &n) == 1, "%s:%d: unknown directive", name, at);
            cr_assert_eq(g->content, n, "%s:%d: @at %lu, but %zu bytes come before", name, at, n,
                         g->content);
        }
        return;
    }
    for (char *tok = strtok(s, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
        cr_assert(strlen(tok) == 2 && isxdigit((unsigned char)tok[0]) &&
                      isxdigit((unsigned char)tok[1]),
                  "%s:%d: '%s' is not a byte", name, at, tok);
        cr_assert(g->nseg > 0, "%s:%d: bytes before @file or @lz4", name, at);
        cr_assert(g->len < sizeof g->bytes, "%s: too long", name);
        g->bytes[g->len++] = (uint8_t)strtoul(tok, NULL, 16);
        g->seg[g->nseg - 1].end = g->len;
        g->content += g->seg[g->nseg - 1].lz4;
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
    cr_assert(g->nseg > 0, "%s: no @file nor @lz4", name);
    snprintf(g->path, sizeof g->path, "/tmp/memtap-golden-%d-%s.memtap", (int)getpid(), name);
    FILE *out = fopen(g->path, "wb");
    cr_assert(out);
    for (size_t i = 0; i < g->nseg; i++) {
        const golden_segment_t *s = &g->seg[i];
        if (s->lz4)
            cb_compress(out, g->bytes + s->start, s->end - s->start, !s->unfinished);
        else
            fwrite(g->bytes + s->start, 1, s->end - s->start, out);
    }
    fclose(out);
}

static inline void golden_done(golden_t *g) {
    unlink(g->path);
}

#endif
