/* The CPython API libmemtap.so uses, looked up with dlsym in the running program (see
 * python_api.h). Calls nothing of memtap's. */
#include "python/python_api.h"

#include <dlfcn.h>

py_api_t py;

#define RESOLVE(field, name) (py.field = (__typeof__(py.field))dlsym(RTLD_DEFAULT, name))

int memtap_py_resolve(void) {
    if (!RESOLVE(PySys_AddAuditHook, "PySys_AddAuditHook"))
        return 0; /* not a Python program: the usual case, one lookup */
    RESOLVE(Py_IsInitialized, "Py_IsInitialized");
    RESOLVE(PyMem_GetAllocator, "PyMem_GetAllocator");
    RESOLVE(PyMem_SetAllocator, "PyMem_SetAllocator");
    RESOLVE(PyObject_GetArenaAllocator, "PyObject_GetArenaAllocator");
    RESOLVE(PyObject_SetArenaAllocator, "PyObject_SetArenaAllocator");
    RESOLVE(Py_GetVersion, "Py_GetVersion");
    RESOLVE(PyGILState_GetThisThreadState, "PyGILState_GetThisThreadState");
    RESOLVE(PyCode_Addr2Line, "PyCode_Addr2Line");
    RESOLVE(Py_DecRef, "Py_DecRef");
    RESOLVE(Py_IncRef, "Py_IncRef");
    RESOLVE(PyObject_CallMethod, "PyObject_CallMethod");
    RESOLVE(PyImport_ImportModule, "PyImport_ImportModule");
    RESOLVE(PyCFunction_NewEx, "PyCFunction_NewEx"); /* PyCFunction_New is a macro in 3.9 */
    RESOLVE(PyErr_Clear, "PyErr_Clear");
    RESOLVE(none, "_Py_NoneStruct");
    RESOLVE(code_type, "PyCode_Type");
    void **slots = (void **)&py;
    for (size_t i = 0; i < sizeof py / sizeof(void *); i++)
        if (!slots[i])
            return 0;
    return 1;
}
