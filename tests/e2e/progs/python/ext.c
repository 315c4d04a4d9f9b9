/* A C extension for the Python tests: leak(n) mallocs n bytes from C and keeps them;
 * lose(n) mallocs n bytes and drops the pointer (a real leak for the leak check); call(f)
 * and call_again(f) call a Python function from C (two C callers of the same Python code). Built by tests/e2e/test_python.py against each
 * interpreter's headers, without optimisation so every C frame stays. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept[64];
static int nkept;

static PyObject *ext_leak(PyObject *self, PyObject *arg) {
    (void)self;
    long n = PyLong_AsLong(arg);
    void *p = malloc((size_t)n); /* EXT-MALLOC */
    if (nkept < 64)
        kept[nkept++] = p;
    Py_RETURN_NONE;
}

static PyObject *ext_lose(PyObject *self, PyObject *arg) {
    (void)self;
    long n = PyLong_AsLong(arg);
    char *volatile p = malloc((size_t)n); /* EXT-LOSE */
    memset(p, 0, (size_t)n);
    p = NULL;
    Py_RETURN_NONE;
}

static PyObject *ext_call(PyObject *self, PyObject *fn) {
    (void)self;
    PyObject *r = PyObject_CallObject(fn, NULL); /* EXT-CALL */
    return r;
}

static PyObject *ext_call_again(PyObject *self, PyObject *fn) {
    (void)self;
    PyObject *r = PyObject_CallObject(fn, NULL); /* EXT-CALL-AGAIN */
    return r;
}

static PyMethodDef methods[] = {
    {"leak", ext_leak, METH_O, "malloc(n) from C, never freed"},
    {"lose", ext_lose, METH_O, "malloc(n) from C, the pointer dropped"},
    {"call", ext_call, METH_O, "call a Python function from C"},
    {"call_again", ext_call_again, METH_O, "the same from another C function"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "memtap_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_memtap_ext(void) { return PyModule_Create(&module); }
