/* Descriptions of the reader's error codes. */
#include "common/errors.h"

const char *memtap_strerror(int err) {
#define MEMTAP_ERROR_TEXT(name, text) case name: return text;
    switch (err) { MEMTAP_ERRORS(MEMTAP_ERROR_TEXT) }
#undef MEMTAP_ERROR_TEXT
    return "unknown error";
}
