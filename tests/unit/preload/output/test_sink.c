/* The LZ4 sink: output decompresses to the input; a failing write is sticky. */
#include "support/live_capture.h"

#include "output/sink.h"

Test(sink, round_trip_through_lz4, .timeout = 10) {
    char path[64];
    int fd = live_temp(path);
    memtap_sink_t s = {0};
    cr_assert_eq(memtap_sink_open(&s, fd, NULL, 1, 42), 0);
    static uint8_t data[3 * MEMTAP_SINK_CHUNK];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 / 13);
    for (size_t off = 0; off < sizeof data; off += MEMTAP_SINK_CHUNK) {
        cr_assert_eq(memtap_sink_put(&s, data + off, MEMTAP_SINK_CHUNK), 0);
        cr_assert_eq(memtap_sink_flush(&s), 0);
    }
    cr_assert_eq(memtap_sink_end(&s), 0);
    memtap_sink_release(&s);
    size_t n;
    int ended;
    uint8_t *out = live_raw(path, &n, &ended);
    cr_assert(ended, "a whole LZ4 frame, checksums included");
    cr_assert_eq(n, sizeof data);
    cr_assert_eq(memcmp(out, data, sizeof data), 0);
    free(out);
    close(fd);
    unlink(path);
}

Test(sink, write_failure_is_sticky, .timeout = 10) {
    char path[64];
    int fd = live_temp(path);
    memtap_sink_t s = {0};
    live_writes_left = 2; /* the piece header and the LZ4 frame header go through, then the disk is full */
    cr_assert_eq(memtap_sink_open(&s, fd, live_filling_disk, 1, 42), 0);
    uint8_t data[1000] = {1};
    cr_assert_eq(memtap_sink_put(&s, data, sizeof data), -1);
    cr_assert_eq(s.error, ENOSPC);
    live_writes_left = 100;
    cr_assert_eq(memtap_sink_put(&s, data, sizeof data), -1, "no write after a failure");
    cr_assert_eq(memtap_sink_flush(&s), -1);
    memtap_sink_release(&s);
    close(fd);
    unlink(path);
}

Test(sink, refuses_a_descriptor_that_changed_file, .timeout = 10) {
    char a[64], b[64];
    int fd = live_temp(a);
    memtap_sink_t s = {0};
    cr_assert_eq(memtap_sink_open(&s, fd, NULL, 1, 42), 0);
    /* the program closes our descriptor and opens another file under the same number */
    int other = live_temp(b);
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
