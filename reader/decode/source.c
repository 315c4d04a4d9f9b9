/* Streaming decompression of a capture file, LZ4 frame by LZ4 frame (one an image). May
 * call: liblz4's LZ4F API, stdio. */
#include "decode/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IN_SIZE (1 << 20)

int memtap_source_open(memtap_source_t *src, const char *path) {
    memset(src, 0, sizeof *src);
    src->path = path;
    src->file = fopen(path, "rb");
    if (!src->file) {
        snprintf(src->error, sizeof src->error, "%s", strerror(errno));
        return MEMTAP_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(src->file), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(src->error, sizeof src->error, "is a directory");
        fclose(src->file);
        src->file = NULL;
        return MEMTAP_ERR_IO;
    }
    src->file_size = (uint64_t)st.st_size;
    src->in = malloc(IN_SIZE);
    if (!src->in || LZ4F_isError(LZ4F_createDecompressionContext(&src->dctx, LZ4F_VERSION))) {
        snprintf(src->error, sizeof src->error, "out of memory");
        memtap_source_close(src);
        return MEMTAP_ERR_NOMEM;
    }
    return MEMTAP_OK;
}

void memtap_source_close(memtap_source_t *src) {
    if (src->file)
        fclose(src->file);
    if (src->dctx)
        LZ4F_freeDecompressionContext(src->dctx);
    free(src->in);
    src->file = NULL;
    src->dctx = NULL;
    src->in = NULL;
}

static int refill(memtap_source_t *src) {
    src->in_len = fread(src->in, 1, IN_SIZE, src->file);
    src->in_pos = 0;
    if (src->in_len == 0) {
        if (ferror(src->file)) {
            snprintf(src->error, sizeof src->error, "%s", strerror(errno));
            return MEMTAP_ERR_IO;
        }
        src->eof = 1;
    }
    return MEMTAP_OK;
}

int memtap_source_read(memtap_source_t *src, uint8_t *dst, size_t cap, size_t *n, int *image_end) {
    *n = 0;
    *image_end = 0;
    while (*n < cap) {
        if (src->in_pos == src->in_len) {
            if (src->eof)
                return MEMTAP_OK;
            int rc = refill(src);
            if (rc != MEMTAP_OK)
                return rc;
            if (src->eof)
                return MEMTAP_OK;
        }
        size_t out = cap - *n, in = src->in_len - src->in_pos;
        /* block by block (a new LZ4 frame: its header first), so an error names the damaged
         * block and a non-LZ4 file is recognised at its first bytes */
        size_t want = src->hint ? src->hint : LZ4F_HEADER_SIZE_MIN;
        if (want < in)
            in = want;
        size_t hint = LZ4F_decompress(src->dctx, dst + *n, &out, src->in + src->in_pos, &in, NULL);
        if (LZ4F_isError(hint)) {
            snprintf(src->error, sizeof src->error, "corrupt capture at byte %llu: %s",
                     (unsigned long long)src->file_pos, LZ4F_getErrorName(hint));
            return MEMTAP_ERR_CORRUPT;
        }
        src->in_pos += in;
        src->file_pos += in;
        src->hint = hint;
        *n += out;
        if (in || out)
            src->in_image = 1;
        if (hint == 0) { /* the LZ4 frame is complete */
            src->in_image = 0;
            *image_end = 1;
            return MEMTAP_OK;
        }
        if (in == 0 && out == 0 && src->in_pos < src->in_len)
            break; /* no progress possible with this much room */
    }
    return MEMTAP_OK;
}
