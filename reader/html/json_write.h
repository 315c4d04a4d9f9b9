/* A small buffered JSON writer for the page data and the exports (jansson builds a tree of
 * the whole document first, which for a big capture's page costs more than writing it).
 * Strings are escaped by JSON's rules; invalid UTF-8 is written as U+FFFD, so the output is
 * always valid UTF-8 JSON; in html mode '<', '>' and '&' are written as \u003c, \u003e and
 * \u0026 as memtap_page_data (page.h) does, so the output may go straight into the page's
 * data block. Errors are sticky: check memtap_jw_flush's result. Not for use inside malloc. */
#ifndef MEMTAP_READER_JSON_WRITE_H
#define MEMTAP_READER_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    int html;  /* escape '<', '>' and '&' in strings */
    int error; /* a write failed */
    size_t n;  /* bytes in buf */
    char buf[1 << 16];
} memtap_jw_t;

/* Starts writing to out. */
void memtap_jw_init(memtap_jw_t *w, FILE *out, int html);

/* Bytes as they are (JSON punctuation, keys known to need no escape). */
void memtap_jw_raw(memtap_jw_t *w, const char *s, size_t n);
/* A C string as it is. */
void memtap_jw_put(memtap_jw_t *w, const char *s);
/* A JSON string of s (NUL-terminated), or null when s is NULL. */
void memtap_jw_str(memtap_jw_t *w, const char *s);
/* The same for s[0..n). */
void memtap_jw_strn(memtap_jw_t *w, const char *s, size_t n);
/* Numbers: a whole number; a finite double with at most 3 decimals (trailing zeros cut). */
void memtap_jw_u64(memtap_jw_t *w, uint64_t v);
void memtap_jw_i64(memtap_jw_t *w, int64_t v);
void memtap_jw_ms(memtap_jw_t *w, double v);

/* Writes what is buffered. Returns 0, or -1 when some write failed. */
int memtap_jw_flush(memtap_jw_t *w);

#endif
