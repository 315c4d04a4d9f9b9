/* Allocation-free error lines for the preload library. */
#include "base/log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static size_t append(char *buf, size_t len, size_t cap, const char *s) {
    while (*s && len + 1 < cap)
        buf[len++] = *s++;
    return len;
}

static void say(const char *what, const char *detail, int err, const char *tail) {
    int saved = errno;
    char buf[512];
    size_t n = append(buf, 0, sizeof buf, "memtap: ");
    n = append(buf, n, sizeof buf, what);
    if (detail) {
        n = append(buf, n, sizeof buf, ": ");
        n = append(buf, n, sizeof buf, detail);
    }
    if (err) {
        char ebuf[128];
        /* GNU strerror_r returns a pointer to a static or the given buffer; no allocation */
        const char *msg = strerror_r(err, ebuf, sizeof ebuf);
        n = append(buf, n, sizeof buf, ": ");
        n = append(buf, n, sizeof buf, msg);
    }
    n = append(buf, n, sizeof buf, tail);
    if (n > 0 && buf[n - 1] != '\n')
        buf[n - 1] = '\n';
    ssize_t w = write(2, buf, n);
    (void)w;
    errno = saved;
}

void memtap_log(const char *what, const char *detail, int err) {
    say(what, detail, err, "; tracking is off, the program goes on\n");
}

void memtap_note(const char *what, const char *detail, int err) { say(what, detail, err, "\n"); }
