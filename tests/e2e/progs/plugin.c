/* A shared library loaded with dlopen; its leak must be symbolized from its own module. */
#include <stdlib.h>

void *volatile plugin_sink;

__attribute__((noinline)) void plugin_leak(int n) {
    for (int i = 0; i < n; i++)
        plugin_sink = malloc(4444); /* LEAK:plugin */
}
