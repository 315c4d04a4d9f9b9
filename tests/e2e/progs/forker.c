/* A parent and a forked child that leak different amounts; the child writes its own
 * capture, <output>.<pid>. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

__attribute__((noinline)) static void parent_leak(void) {
    for (int i = 0; i < 2; i++)
        sink = malloc(111); /* LEAK:parent */
}

__attribute__((noinline)) static void child_leak(void) {
    for (int i = 0; i < 5; i++)
        sink = malloc(222); /* LEAK:child */
}

int main(void) {
    parent_leak();
    pid_t pid = fork();
    if (pid == 0) {
        child_leak();
        exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
