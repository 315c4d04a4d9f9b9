/* exec (exec.c): the image ends with an EXEC record and hands the capture's descriptor to
 * the new image through MEMTAP_FD, which continues the capture; a failed exec begins a new
 * image in the same file. */
#ifndef MEMTAP_PRELOAD_EXEC_H
#define MEMTAP_PRELOAD_EXEC_H

/* Before a real exec: ends this image and returns a copy of envp (NULL: environ) that hands
 * the capture descriptor to the new image; the trie and record locks stay held, and no
 * record starts until the exec fails (memtap_image_closing). Returns NULL when not
 * tracking or in another process (vfork child), the locks then let go. The copy comes from
 * the real malloc. Guard raised. */
char **memtap_exec_prepare(char *const envp[]);

/* After a failed exec (newenv: what memtap_exec_prepare returned): tracking resumes in a
 * new image (MEMTAP_HDR_CONTINUED) and the locks are let go. Keeps errno. */
void memtap_exec_failed(char **newenv);

#endif
