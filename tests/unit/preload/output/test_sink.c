/* The LZ4 sink: output decompresses to the input; a failing write is sticky. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/sink.h"

static int calls_before_failure;
static ssize_t failing_write(int fd, const void *buf, size_t n) {
    if (calls_before_failure-- <= 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, buf, n);
}

static int temp_fd(char *path) {
    strcpy(path, "/tmp/memtap-sink-XXXXXX");
    return mkstemp(path);
}

Test(sink, round_trip_through_lz4) {
    char path[64];
    int fd = temp_fd(path);
    memtap_sink_t s = {0};
    cr_assert_eq(memtap_sink_open(&s, fd, NULL), 0);
    static uint8_t data[3 * MEMTAP_SINK_CHUNK];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 / 13);
    for (size_t off = 0; off < sizeof data; off += MEMTAP_SINK_CHUNK) {
        cr_assert_eq(memtap_sink_put(&s, data + off, MEMTAP_SINK_CHUNK), 0);
        cr_assert_eq(memtap_sink_flush(&s), 0);
    }
    cr_assert_eq(memtap_sink_end(&s), 0);
    memtap_sink_release(&s);
    off_t size = lseek(fd, 0, SEEK_END);
    cr_assert_eq((uint64_t)size, s.bytes);
    uint8_t *comp = malloc((size_t)size), *out = malloc(sizeof data + 16);
    cr_assert_eq(pread(fd, comp, (size_t)size, 0), size);
    LZ4F_dctx *d;
    LZ4F_createDecompressionContext(&d, LZ4F_VERSION);
    size_t out_n = sizeof data + 16, in_n = (size_t)size;
    size_t hint = LZ4F_decompress(d, out, &out_n, comp, &in_n, NULL);
    cr_assert_eq(hint, 0, "a whole frame, checksums included");
    cr_assert_eq(out_n, sizeof data);
    cr_assert_eq(memcmp(out, data, sizeof data), 0);
    LZ4F_freeDecompressionContext(d);
    free(comp);
    free(out);
    close(fd);
    unlink(path);
}

Test(sink, write_failure_is_sticky) {
    char path[64];
    int fd = temp_fd(path);
    memtap_sink_t s = {0};
    calls_before_failure = 1; /* the frame header goes through, then the disk is full */
    cr_assert_eq(memtap_sink_open(&s, fd, failing_write), 0);
    uint8_t data[1000] = {1};
    cr_assert_eq(memtap_sink_put(&s, data, sizeof data), -1);
    cr_assert_eq(s.error, ENOSPC);
    calls_before_failure = 100;
    cr_assert_eq(memtap_sink_put(&s, data, sizeof data), -1, "no write after a failure");
    cr_assert_eq(memtap_sink_flush(&s), -1);
    memtap_sink_release(&s);
    close(fd);
    unlink(path);
}

Test(sink, refuses_a_descriptor_that_changed_file) {
    char a[64], b[64];
    int fd = temp_fd(a);
    memtap_sink_t s = {0};
    cr_assert_eq(memtap_sink_open(&s, fd, NULL), 0);
    /* the program closes our descriptor and opens another file under the same number */
    int other = temp_fd(b);
    cr_assert_eq(dup2(other, fd), fd);
    uint8_t data[10] = {0};
    cr_assert_eq(memtap_sink_put(&s, data, sizeof data), -1);
    cr_assert_eq(s.error, EBADF);
    cr_assert_eq(lseek(other, 0, SEEK_END), 0, "not one byte into the program's file");
    memtap_sink_release(&s);
    close(fd);
    close(other);
    unlink(a);
    unlink(b);
}
