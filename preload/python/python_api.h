/* The part of CPython's C API that libmemtap.so uses, resolved at run time with dlsym so one
 * library serves every interpreter (3.11's executable with libpython linked in, the shared
 * libpython3.12/3.13 builds) and programs without Python pay one failed lookup. Only types
 * whose layout is part of the stable C API are declared here; objects stay opaque. */
#ifndef MEMTAP_PRELOAD_PYTHON_API_H
#define MEMTAP_PRELOAD_PYTHON_API_H

#include <stddef.h>
#include <sys/types.h>

typedef struct py_object py_object_t; /* PyObject, PyCodeObject: opaque (pylayout.h has the
                                       * few offsets memtap reads) */

/* PyMemAllocatorEx and PyObjectArenaAllocator (unchanged since 3.5). */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} py_mem_allocator_t;

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} py_arena_allocator_t;

/* PyMethodDef */
typedef struct {
    const char *name;
    py_object_t *(*meth)(py_object_t *self, py_object_t *args);
    int flags;
    const char *doc;
} py_method_def_t;

enum { PY_MEM_DOMAIN_RAW = 0, PY_MEM_DOMAIN_MEM = 1, PY_MEM_DOMAIN_OBJ = 2 };
enum { PY_METH_VARARGS = 1 };

typedef int (*py_audit_hook_t)(const char *event, py_object_t *args, void *data);

typedef struct {
    int (*Py_IsInitialized)(void);
    int (*PySys_AddAuditHook)(py_audit_hook_t hook, void *data);
    void (*PyMem_GetAllocator)(int domain, py_mem_allocator_t *a);
    void (*PyMem_SetAllocator)(int domain, py_mem_allocator_t *a);
    void (*PyObject_GetArenaAllocator)(py_arena_allocator_t *a);
    void (*PyObject_SetArenaAllocator)(py_arena_allocator_t *a);
    const char *(*Py_GetVersion)(void); /* a static buffer: allocates nothing */
    /* the calling thread's own thread state (NULL: none); reads a thread-specific key,
     * takes no lock and needs no GIL */
    void *(*PyGILState_GetThisThreadState)(void);
    /* reads the code's line table only: no allocation, no GIL needed */
    int (*PyCode_Addr2Line)(py_object_t *code, int byte_offset);
    void (*Py_DecRef)(py_object_t *o); /* Py_XDECREF: NULL is nothing */
    void (*Py_IncRef)(py_object_t *o);
    py_object_t *(*PyObject_CallMethod)(py_object_t *o, const char *name, const char *fmt, ...);
    py_object_t *(*PyImport_ImportModule)(const char *name);
    py_object_t *(*PyCFunction_NewEx)(py_method_def_t *def, py_object_t *self, py_object_t *module);
    void (*PyErr_Clear)(void);
    py_object_t *none;     /* _Py_NoneStruct */
    const void *code_type; /* PyCode_Type: a code object's ob_type */
} py_api_t;

extern py_api_t py; /* python_api.c */

/* Looks the API up in the loaded program. Returns 1 when every function memtap needs is
 * there (the program embeds CPython), else 0. */
int memtap_py_resolve(void);

#endif
