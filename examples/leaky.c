/* A small program with leaks to find: a settings loader that forgets to free what it
 * parsed. Run: memtap run -- build/examples/leaky 3 && memtap leaks <capture> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct setting {
    char *name;
    char *value;
};

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    memcpy(p, s, n);
    return p;
}

/* Parses "name=value" into a setting. The caller is supposed to free both strings. */
static struct setting parse_setting(const char *line) {
    struct setting s;
    const char *eq = strchr(line, '=');
    s.name = strndup(line, (size_t)(eq - line));
    s.value = copy_string(eq + 1);
    return s;
}

/* Leaks: the value strings (copy_string) of every setting. */
static size_t load_settings(int rounds) {
    static const char *lines[] = {"color=blue", "size=large", "mode=fast"};
    size_t total = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 3; i++) {
            struct setting s = parse_setting(lines[i]);
            total += strlen(s.name) + strlen(s.value);
            free(s.name); /* the value is forgotten */
        }
    }
    return total;
}

/* Leaks: one 64 KiB cache that nobody frees. */
static char *make_cache(void) {
    char *cache = calloc(64, 1024);
    cache[0] = 1;
    return cache;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    size_t total = load_settings(rounds);
    char *cache = make_cache();
    /* temporary work that is freed properly */
    for (int i = 0; i < 1000; i++) {
        char *tmp = malloc(256 + (size_t)i);
        snprintf(tmp, 256, "item %d", i);
        total += strlen(tmp);
        free(tmp);
    }
    printf("loaded %zu bytes of settings, cache at %p\n", total, (void *)cache);
    return 0;
}
