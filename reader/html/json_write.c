/* The buffered JSON writer (json_write.h): strings escaped byte by byte, UTF-8 checked. */
#include "html/json_write.h"

#include <inttypes.h>
#include <string.h>

void memtap_jw_init(memtap_jw_t *w, FILE *out, int html) {
    w->out = out;
    w->html = html;
    w->error = 0;
    w->n = 0;
}

int memtap_jw_flush(memtap_jw_t *w) {
    if (w->n && fwrite(w->buf, 1, w->n, w->out) != w->n)
        w->error = 1;
    w->n = 0;
    return w->error ? -1 : 0;
}

void memtap_jw_raw(memtap_jw_t *w, const char *s, size_t n) {
    if (w->n + n > sizeof w->buf) {
        memtap_jw_flush(w);
        if (n > sizeof w->buf) {
            if (fwrite(s, 1, n, w->out) != n)
                w->error = 1;
            return;
        }
    }
    memcpy(w->buf + w->n, s, n);
    w->n += n;
}

void memtap_jw_put(memtap_jw_t *w, const char *s) { memtap_jw_raw(w, s, strlen(s)); }

/* The length of the valid UTF-8 sequence at s[0..n) (a byte >= 0x80 first), or 0:
 * overlong forms, surrogates and code points past U+10FFFF are not valid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogate */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))   /* overlong, > U+10FFFF */
        return 0;
    return len;
}

/* The escape of ASCII byte c, or NULL when it stands as it is. */
static const char *escape_of(unsigned char c, int html, char tmp[8]) {
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\t':
        return "\\t";
    case '\r':
        return "\\r";
    case '<':
    case '>':
    case '&':
        break;
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
    if (!html)
        return NULL;
    return c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : "\\u0026";
}

void memtap_jw_strn(memtap_jw_t *w, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    char tmp[8];
    size_t start = 0, i = 0;
    memtap_jw_raw(w, "\"", 1);
    while (i < n) {
        const char *esc = NULL;
        if (s[i] >= 0x80) {
            size_t len = utf8_len(s + i, n - i);
            if (len) {
                i += len;
                continue;
            }
            esc = "\\ufffd"; /* not UTF-8: the replacement character, as a browser shows it */
        } else if (!(esc = escape_of(s[i], w->html, tmp))) {
            i++;
            continue;
        }
        memtap_jw_raw(w, str + start, i - start);
        memtap_jw_put(w, esc);
        start = ++i;
    }
    memtap_jw_raw(w, str + start, n - start);
    memtap_jw_raw(w, "\"", 1);
}

void memtap_jw_str(memtap_jw_t *w, const char *s) {
    if (!s)
        memtap_jw_raw(w, "null", 4);
    else
        memtap_jw_strn(w, s, strlen(s));
}

void memtap_jw_u64(memtap_jw_t *w, uint64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    do
        tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (w->n + sizeof tmp <= sizeof w->buf) { /* most numbers: straight into the buffer */
        memcpy(w->buf + w->n, tmp + i, sizeof tmp - i);
        w->n += sizeof tmp - i;
        return;
    }
    memtap_jw_raw(w, tmp + i, sizeof tmp - i);
}

void memtap_jw_i64(memtap_jw_t *w, int64_t v) {
    if (v < 0) {
        memtap_jw_raw(w, "-", 1);
        memtap_jw_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        memtap_jw_u64(w, (uint64_t)v);
    }
}

void memtap_jw_ms(memtap_jw_t *w, double v) {
    char tmp[64];
    int len = snprintf(tmp, sizeof tmp, "%.3f", v == v ? v : 0.0);
    while (len > 1 && tmp[len - 1] == '0')
        len--;
    if (tmp[len - 1] == '.')
        len--;
    memtap_jw_raw(w, tmp, (size_t)len);
}
