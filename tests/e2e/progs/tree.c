/* A process tree under stress, for `memtap run`: each process starts two threads that
 * allocate 300 blocks of 48 bytes and free 100 of them while it allocates 5 blocks of 77,
 * forks a child that does the same one level down, execs another that does (through its own
 * argv), and forks a third that allocates in a loop until it is killed with SIGKILL a few
 * milliseconds later. Every process that exits normally made exactly 605 allocations and
 * 200 frees. usage: tree DEPTH [SEED] */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *volatile sink;
static const char *self;

static void *worker(void *arg) {
    void **blocks = arg;
    for (int i = 0; i < 300; i++)
        blocks[i] = malloc(48); /* LEAK:worker */
    for (int i = 0; i < 100; i++)
        free(blocks[i]);
    return NULL;
}

static int run(int depth, unsigned seed) {
    static void *blocks[2][300];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, blocks[i]);
    for (int i = 0; i < 5; i++)
        sink = malloc(77); /* LEAK:main */
    if (depth > 0) {
        pid_t a = fork();
        if (a == 0)
            exit(run(depth - 1, seed * 31 + 1));
        pid_t b = fork();
        if (b == 0) {
            char d[16], s[16];
            snprintf(d, sizeof d, "%d", depth - 1);
            snprintf(s, sizeof s, "%u", seed * 31 + 2);
            execl(self, self, d, s, (char *)NULL);
            _exit(127);
        }
        pid_t k = fork();
        if (k == 0)
            for (;;) {
                void *p = malloc(16);
                sink = p;
                free(p);
            }
        struct timespec ts = {0, (long)(seed % 20) * 1000000L};
        nanosleep(&ts, NULL);
        kill(k, SIGKILL);
        int st, bad = 0;
        waitpid(a, &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st);
        waitpid(b, &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st);
        waitpid(k, &st, 0);
        if (bad)
            return 1;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

int main(int argc, char **argv) {
    self = argv[0];
    int depth = argc > 1 ? atoi(argv[1]) : 2;
    unsigned seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1;
    return run(depth, seed);
}
