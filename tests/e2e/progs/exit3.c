/* Frees everything and exits with the status given (default 3): memtap run --check keeps
 * a clean program's own status, failures included. */
#include <stdlib.h>

int main(int argc, char **argv) {
    char *p = malloc(100);
    free(p);
    return argc > 1 ? atoi(argv[1]) : 3;
}
