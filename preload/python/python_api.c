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
    RESOLVE(PyEval_SetProfile, "PyEval_SetProfile");
    RESOLVE(PyFrame_GetCode, "PyFrame_GetCode");
    RESOLVE(PyFrame_GetLasti, "PyFrame_GetLasti");
    RESOLVE(PyFrame_GetLineNumber, "PyFrame_GetLineNumber");
    RESOLVE(PyCode_Addr2Line, "PyCode_Addr2Line");
    if (!RESOLVE(RequestCodeExtraIndex, "PyUnstable_Eval_RequestCodeExtraIndex"))
        RESOLVE(RequestCodeExtraIndex, "_PyEval_RequestCodeExtraIndex");
    if (!RESOLVE(Code_GetExtra, "PyUnstable_Code_GetExtra"))
        RESOLVE(Code_GetExtra, "_PyCode_GetExtra");
    if (!RESOLVE(Code_SetExtra, "PyUnstable_Code_SetExtra"))
        RESOLVE(Code_SetExtra, "_PyCode_SetExtra");
    RESOLVE(Py_DecRef, "Py_DecRef");
    RESOLVE(Py_IncRef, "Py_IncRef");
    RESOLVE(PyObject_GetAttrString, "PyObject_GetAttrString");
    RESOLVE(PyObject_CallMethod, "PyObject_CallMethod");
    RESOLVE(PyUnicode_AsUTF8AndSize, "PyUnicode_AsUTF8AndSize");
    RESOLVE(PyLong_AsLong, "PyLong_AsLong");
    RESOLVE(PyImport_ImportModule, "PyImport_ImportModule");
    RESOLVE(PyCFunction_NewEx, "PyCFunction_NewEx"); /* PyCFunction_New is a macro in 3.9 */
    RESOLVE(PyErr_Clear, "PyErr_Clear");
    RESOLVE(none, "_Py_NoneStruct");
    /* every pointer but PyFrame_GetLasti (3.11+) is needed */
    void **slots = (void **)&py;
    for (size_t i = 0; i < sizeof py / sizeof(void *); i++)
        if (!slots[i] && &slots[i] != (void **)&py.PyFrame_GetLasti)
            return 0;
    return 1;
}
