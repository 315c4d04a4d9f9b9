/* Execs itself once: the first image's live blocks vanish with it (not leaks), the
 * second image's leaks are reported, all in one capture. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile sink;

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "second")) {
        for (int i = 0; i < 4; i++)
            sink = malloc(333); /* LEAK:second */
        return 0;
    }
    for (int i = 0; i < 9; i++)
        sink = malloc(777); /* first image: gone at exec */
    char *args[] = {argv[0], "second", NULL};
    execv(argv[0], args);
    return 1;
}
