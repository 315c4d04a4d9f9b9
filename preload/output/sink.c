/* LZ4 frame sink for the capture file. */
#include "output/sink.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memtap/container.h"

static const LZ4F_preferences_t prefs = {
    .frameInfo = {.blockSizeID = LZ4F_max64KB,
                  .blockMode = LZ4F_blockLinked,
                  .contentChecksumFlag = LZ4F_contentChecksumEnabled,
                  .blockChecksumFlag = LZ4F_blockChecksumEnabled},
    .compressionLevel = 0,
    .autoFlush = 1,
};

static int fail(memtap_sink_t *s, int err) {
    if (!s->error)
        s->error = err ? err : EIO;
    return -1;
}

static int write_all(memtap_sink_t *s, const uint8_t *p, size_t n) {
    if (s->error)
        return -1;
    struct stat st;
    if (fstat(s->fd, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino)
        return fail(s, EBADF);
    while (n > 0) {
        ssize_t w = s->write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail(s, w < 0 ? errno : ENOSPC);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int lz4_result(memtap_sink_t *s, size_t r) {
    if (LZ4F_isError(r))
        return fail(s, ENOMEM);
    return write_all(s, s->out, r);
}

int memtap_sink_open(memtap_sink_t *s, int fd, memtap_write_fn write_fn, uint64_t stream,
                     uint64_t pid) {
    struct stat st;
    s->fd = fd;
    s->write = write_fn ? write_fn : write;
    s->error = 0;
    s->cctx = NULL;
    if (fstat(fd, &st) != 0)
        return fail(s, errno);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (!s->out) {
        s->out_cap = LZ4F_compressBound(MEMTAP_SINK_CHUNK, &prefs) + LZ4F_HEADER_SIZE_MAX;
        void *p = mmap(NULL, s->out_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) {
            s->out = NULL;
            return fail(s, errno);
        }
        s->out = p;
    }
    /* the piece header: this LZ4 frame is the whole of one image's stream */
    uint8_t head[MEMTAP_PIECE_MAX_HEADER];
    size_t n = memtap_piece_header(head, stream,
                                   MEMTAP_PIECE_FIRST | MEMTAP_PIECE_LAST | MEMTAP_PIECE_ROOT, pid, 0);
    if (write_all(s, head, n) < 0)
        return -1;
    if (LZ4F_isError(LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION)))
        return fail(s, ENOMEM);
    return lz4_result(s, LZ4F_compressBegin(s->cctx, s->out, s->out_cap, &prefs));
}

int memtap_sink_put(memtap_sink_t *s, const void *data, size_t len) {
    if (s->error || !s->cctx)
        return -1;
    if (len == 0)
        return 0;
    return lz4_result(s, LZ4F_compressUpdate(s->cctx, s->out, s->out_cap, data, len, NULL));
}

int memtap_sink_flush(memtap_sink_t *s) {
    if (s->error || !s->cctx)
        return -1;
    return lz4_result(s, LZ4F_flush(s->cctx, s->out, s->out_cap, NULL));
}

int memtap_sink_end(memtap_sink_t *s) {
    if (s->error || !s->cctx)
        return -1;
    return lz4_result(s, LZ4F_compressEnd(s->cctx, s->out, s->out_cap, NULL));
}

void memtap_sink_release(memtap_sink_t *s) {
    if (s->cctx)
        LZ4F_freeCompressionContext(s->cctx);
    s->cctx = NULL;
}
