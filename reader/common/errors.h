/* Reader error codes, from one list, with memtap_strerror(). */
#ifndef MEMTAP_READER_ERRORS_H
#define MEMTAP_READER_ERRORS_H

#define MEMTAP_ERRORS(X)                                                                    \
    X(MEMTAP_OK, "success")                                                                 \
    X(MEMTAP_ERR_IO, "cannot read the file")                                                \
    X(MEMTAP_ERR_CORRUPT, "corrupt capture")                                                \
    X(MEMTAP_ERR_VERSION, "unsupported capture format version")                             \
    X(MEMTAP_ERR_NOMEM, "out of memory")

#define MEMTAP_ERROR_ENUM(name, text) name,
typedef enum { MEMTAP_ERRORS(MEMTAP_ERROR_ENUM) } memtap_err_t;
#undef MEMTAP_ERROR_ENUM

/* A static description of err. */
const char *memtap_strerror(int err);

#endif
