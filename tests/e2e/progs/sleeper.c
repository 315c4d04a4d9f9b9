/* Allocates known blocks, says so, then waits to be killed. */
#include <stdlib.h>
#include <unistd.h>

void *volatile sink;

int main(void) {
    for (int i = 0; i < 50; i++)
        sink = malloc(4096); /* LEAK:sleeper */
    if (write(1, "ready\n", 6) < 0)
        return 1;
    for (;;)
        pause();
}
