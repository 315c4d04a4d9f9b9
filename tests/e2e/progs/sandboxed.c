/* A program that enters a seccomp sandbox after start (as OpenSSH's privsep child or a
 * browser's renderer do): one syscall it never makes itself, membarrier, kills it. Under
 * memtap it must still run to its end and exit 0: the preloaded library may not make a
 * sandboxed program die of a syscall the program never asked for. argv[1] = "thread":
 * a second thread allocates too. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++)
        free(malloc(64 + i % 7)); /* SANDBOXED:worker */
    return NULL;
}

int main(int argc, char **argv) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("seccomp");
        return 2;
    }
    pthread_t t;
    int threaded = argc > 1 && !strcmp(argv[1], "thread");
    if (threaded && pthread_create(&t, NULL, worker, NULL))
        return 3;
    worker(NULL);
    if (threaded)
        pthread_join(t, NULL);
    void *kept = malloc(4321); /* SANDBOXED:leak */
    (void)kept;
    return 0;
}
