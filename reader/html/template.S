/* memtap's page template, embedded: the file the Makefile names in MEMTAP_PAGE_FILE
 * (build/reader/html/page.html, made by build-page.mjs), as memtap_page_template with a NUL
 * after it, and its length as memtap_page_template_len (page.h). */
    .section .rodata
    .global memtap_page_template
    .type memtap_page_template, %object
    .balign 16
memtap_page_template:
    .incbin MEMTAP_PAGE_FILE
template_end:
    .byte 0
    .size memtap_page_template, . - memtap_page_template

    .global memtap_page_template_len
    .type memtap_page_template_len, %object
    .balign __SIZEOF_SIZE_T__
memtap_page_template_len:
#if __SIZEOF_SIZE_T__ == 8
    .quad template_end - memtap_page_template
#else
    .long template_end - memtap_page_template
#endif
    .size memtap_page_template_len, __SIZEOF_SIZE_T__

    /* no executable stack */
    .section .note.GNU-stack, "", %progbits
