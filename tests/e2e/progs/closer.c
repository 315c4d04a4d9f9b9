/* Closes every descriptor above 2 between two sets of leaks, as daemons and some test
 * harnesses do (close_range(3, ~0U, 0)), then dup2s over descriptor 3: neither may cost
 * memtap a record. Each leaking line is tagged LEAK:<name>. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) static void before(void) {
    for (int i = 0; i < 10; i++)
        sink = malloc(111); /* LEAK:before */
}

__attribute__((noinline)) static void after(void) {
    for (int i = 0; i < 20; i++)
        sink = malloc(222); /* LEAK:after */
}

int main(void) {
    before();
    syscall(SYS_close_range, 3u, ~0u, 0u);
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0 && fd != 3)
        dup2(fd, 3);
    after();
    return 0;
}
