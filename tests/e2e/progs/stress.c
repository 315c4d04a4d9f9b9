/* Threads allocating while the main thread forks children and a failing exec runs again and
 * again: no deadlock, no lost or corrupt record. Each worker leaks exactly LEAKS blocks. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 4
#define ROUNDS 20000
#define LEAKS 3

void *volatile sink;
static volatile int stop;

__attribute__((noinline)) static void *worker(void *arg) {
    (void)arg;
    void *ring[64] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        int k = i % 64;
        free(ring[k]);
        ring[k] = malloc(16 + (size_t)(i % 300));
        if (i % 1000 == 0) {
            void *r = realloc(NULL, 100);
            r = realloc(r, 5000);
            free(r);
        }
    }
    for (int k = 0; k < 64; k++)
        free(ring[k]);
    for (int i = 0; i < LEAKS; i++)
        sink = malloc(777); /* LEAK:stress */
    return NULL;
}

__attribute__((noinline)) static void *failing_execs(void *arg) {
    (void)arg;
    char *args[] = {"/nonexistent/memtap-stress", NULL};
    for (int i = 0; i < 3000 && !stop; i++)
        execv(args[0], args); /* fails: the image goes on in a continued frame */
    return NULL;
}

int main(void) {
    pthread_t th[WORKERS], ex;
    for (int t = 0; t < WORKERS; t++)
        pthread_create(&th[t], NULL, worker, NULL);
    pthread_create(&ex, NULL, failing_execs, NULL);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sink = malloc(55);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    for (int t = 0; t < WORKERS; t++)
        pthread_join(th[t], NULL);
    stop = 1;
    pthread_join(ex, NULL);
    return 0;
}
