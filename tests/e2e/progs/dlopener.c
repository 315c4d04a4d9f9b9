/* Loads plugin.so with dlopen, calls it, and unloads it. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void (*leak)(int) = (void (*)(int))dlsym(h, "plugin_leak");
    leak(3);
    return 0;
}
