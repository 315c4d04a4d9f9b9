/* vfork then exec, as shells and posix_spawn do: the child runs on the parent's memory
 * until it execs, so memtap's hooks in it must change nothing of the parent's. The parent
 * then leaks 7 blocks, which must be recorded, and exits normally. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

int main(void) {
    for (int round = 0; round < 2; round++) {
        pid_t pid = vfork();
        if (pid == 0) {
            char *args[] = {"/bin/true", NULL};
            execv(args[0], args);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 7; i++)
        sink = malloc(555); /* LEAK:after_vfork */
    return 0;
}
