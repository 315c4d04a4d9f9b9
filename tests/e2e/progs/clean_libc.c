/* A clean program that uses what libc keeps for the life of the process: stdio buffers,
 * the locale, the name service (getpwuid), tmpfile, threads (their TLS and stacks), and a
 * cache of its own reachable from a global until exit. The leak check must pass it, by
 * default and with --check=possible; its own cache fails --check=reachable, nothing else. */
#include <locale.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct entry {
    struct entry *next;
    char key[24];
};
static struct entry *cache; /* reachable until exit: never freed, on purpose */

__attribute__((noinline)) static void fill_cache(int n) {
    for (int i = 0; i < n; i++) {
        struct entry *e = malloc(sizeof *e); /* CACHE */
        snprintf(e->key, sizeof e->key, "key%d", i);
        e->next = cache;
        cache = e;
    }
}

static __thread char tls_buf[256];

static void *worker(void *arg) {
    snprintf(tls_buf, sizeof tls_buf, "worker %ld", (long)(size_t)arg);
    char *p = malloc(1000);
    free(p);
    return NULL;
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    printf("locale %s\n", setlocale(LC_ALL, NULL));
    struct passwd *pw = getpwuid(getuid());
    printf("user %s\n", pw ? pw->pw_name : "?");
    FILE *t = tmpfile();
    if (t) {
        fputs("scratch", t);
        fclose(t);
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    fill_cache(5);
    fprintf(stderr, "cache %s\n", cache->key);
    return 0;
}
