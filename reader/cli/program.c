/* The program memtap run starts: found the way execvp will find it, and what keeps the
 * dynamic loader from preloading libmemtap.so into it (a static binary, a setuid one). */
#include "cli/program.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Finds PROGRAM the way execvp will. Returns 0 when it exists and is executable. */
int memtap_find_program(const char *prog, char *out, size_t cap) {
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return access(prog, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        struct stat st;
        if ((size_t)snprintf(out, cap, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", prog) <
                cap &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        path += len + (colon ? 1 : 0);
    }
    return -1;
}

/* 1 when the ELF file at path has no PT_INTERP: no dynamic loader, so no LD_PRELOAD. */
static int statically_linked(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf64_Ehdr eh;
    int is_static = 0;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
        eh.e_phnum > 0 && eh.e_phnum < 4096) {
        is_static = 1;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph ||
                ph.p_type == PT_INTERP) {
                is_static = 0;
                break;
            }
        }
    }
    close(fd);
    return is_static;
}

int memtap_untrackable_reason(const char *prog, char *why, size_t cap) {
    char path[4096];
    struct stat st;
    if (memtap_find_program(prog, path, sizeof path) != 0 || stat(path, &st) != 0)
        return 0;
    if (statically_linked(path)) {
        snprintf(why, cap, "it is statically linked, so the dynamic loader cannot preload "
                           "libmemtap.so into it");
        return 1;
    }
    /* the loader runs a set-user-ID program in secure mode, ignoring LD_PRELOAD, unless it
     * runs as the user it becomes */
    if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
        ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
        snprintf(why, cap, "it is set-user-ID or set-group-ID, so the loader ignores "
                           "LD_PRELOAD for it");
        return 1;
    }
    return 0;
}
