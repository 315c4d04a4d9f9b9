/* Writes to stdout and stderr, reads its arguments, and exits with a chosen status. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        printf("arg %d: %s\n", i, argv[i]);
    fprintf(stderr, "to stderr\n");
    char *p = malloc(10);
    free(p);
    return argc > 1 ? atoi(argv[1]) : 0;
}
