/* fill-page: writes memtap's HTML page for a page-data JSON file with memtap_page_write(), as
 * memtap will; the browser tests open what it writes. Usage: fill-page DATA.json OUT.html */
#include <stdio.h>
#include <stdlib.h>

#include "html/page.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fill-page DATA.json OUT.html\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    char *json = NULL;
    size_t len = 0, cap = 0, n;
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    do { /* read it all: the data is written in one piece */
        if (len == cap && !(json = realloc(json, cap = cap ? 2 * cap : 1 << 16))) {
            perror("fill-page");
            return 1;
        }
        n = fread(json + len, 1, cap - len, in);
        len += n;
    } while (n > 0);
    fclose(in);
    FILE *out = fopen(argv[2], "wb");
    if (!out || memtap_page_write(out, json, len) < 0 || fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    free(json);
    return 0;
}
