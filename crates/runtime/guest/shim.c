/*
 * pyworker reactor shim: the C side of runtime ABI v1 (docs/runtime-abi.md).
 *
 * Linked with libpython3.13.a (scripts/build-guest) or libpython3.14.so
 * (scripts/build-guest-314, pre-linked by pywrangler-wasmlink). It only moves
 * bytes; all policy lives in the Python package `_pywrangler` (/runtime):
 *   _pywrangler.snapshot_init() -> str | bytes | None   (status JSON, or None)
 *   _pywrangler.init_status()   -> str | bytes           (optional, preferred)
 *   _pywrangler.invoke(envelope: bytes) -> bytes         (response envelope)
 * Python reaches the host through the builtin module `_pwhost`:
 *   _pwhost.call(envelope: bytes) -> bytes
 * Nothing here traps on a Python error, and Py_Finalize is never called.
 */
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PW_IMPORT(name) __attribute__((import_module("pywrangler"), import_name(name)))
#define PW_EXPORT(name) __attribute__((export_name(name)))
/* The stdlib's guest path, from the headers compiled against: L"/lib/python3.13". */
#define PW_WIDEN2(s) L##s
#define PW_WIDEN(s) PW_WIDEN2(s)
#define PW_STR2(x) #x
#define PW_STR(x) PW_STR2(x)
#define PW_STDLIB PW_WIDEN("/lib/python" PW_STR(PY_MAJOR_VERSION) "." PW_STR(PY_MINOR_VERSION))

PW_IMPORT("host_call") extern int32_t pw_host_call(const void *ptr, int32_t len);
PW_IMPORT("host_result") extern void pw_host_result(void *dst);

static int g_python_up;         /* Py_InitializeFromConfig succeeded */
static int g_started;           /* wizer-initialize already ran */
static PyObject *g_module;      /* the imported _pywrangler, or NULL */
static PyObject *g_init_result; /* what snapshot_init returned (new ref) */
static char *g_init_error;      /* status JSON when init failed (malloc'd) */
static char *g_status;          /* last buffer handed out by pw_init_status */

/* ---- _pwhost: Python -> host calls ------------------------------------- */

static PyObject *pwhost_call(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len > INT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "_pwhost.call: envelope larger than 2 GiB");
        return NULL;
    }
    int32_t n = pw_host_call(view.buf, (int32_t)view.len);
    PyBuffer_Release(&view);
    if (n < 0) {
        PyErr_Format(PyExc_RuntimeError, "_pwhost.call: host_call failed (%d)", (int)n);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) return NULL;
    if (n > 0) pw_host_result(PyBytes_AS_STRING(out));
    return out;
}

static PyMethodDef pwhost_methods[] = {
    {"call", pwhost_call, METH_O, "call(envelope: bytes) -> bytes: one synchronous host call."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef pwhost_module = {
    PyModuleDef_HEAD_INIT, "_pwhost", "Host calls of the pywrangler runtime (ABI v1).", -1,
    pwhost_methods, NULL, NULL, NULL, NULL,
};

static PyObject *PyInit__pwhost(void) { return PyModule_Create(&pwhost_module); }

/* ---- JSON built in C, so errors reach the host even if Python is broken -- */

/* Append `s` as a JSON string literal (quotes included) to buf; returns new length. */
static size_t json_str(char *buf, size_t at, const char *s) {
    buf[at++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') { buf[at++] = '\\'; buf[at++] = (char)*p; }
        else if (*p == '\n') { buf[at++] = '\\'; buf[at++] = 'n'; }
        else if (*p < 0x20) at += (size_t)sprintf(buf + at, "\\u%04x", *p);
        else buf[at++] = (char)*p;
    }
    buf[at++] = '"';
    return at;
}

/* `{"type":T,"message":M,"traceback":TB}` followed by `tail`, after `head`. */
static char *json_error(const char *head, const char *type, const char *msg, const char *tb,
                        const char *tail, size_t *out_len) {
    size_t cap = strlen(head) + strlen(tail) + 64 + 6 * (strlen(type) + strlen(msg) + strlen(tb));
    char *buf = malloc(cap);
    if (buf == NULL) return NULL;
    size_t at = (size_t)sprintf(buf, "%s{\"type\":", head);
    at = json_str(buf, at, type);
    at += (size_t)sprintf(buf + at, ",\"message\":");
    at = json_str(buf, at, msg);
    at += (size_t)sprintf(buf + at, ",\"traceback\":");
    at = json_str(buf, at, tb);
    at += (size_t)sprintf(buf + at, "}%s", tail);
    *out_len = at;
    return buf;
}

/* Consume the current Python exception into a JSON error object wrapped in head/tail. */
static char *json_from_exception(const char *head, const char *tail, size_t *out_len) {
    PyObject *exc = PyErr_GetRaisedException();
    const char *type = "Error", *msg = "unknown error", *tb = "";
    PyObject *msg_obj = NULL, *tb_obj = NULL, *tbmod = NULL, *lines = NULL, *sep = NULL;
    if (exc != NULL) {
        type = Py_TYPE(exc)->tp_name;
        if ((msg_obj = PyObject_Str(exc)) != NULL) msg = PyUnicode_AsUTF8(msg_obj);
        PyErr_Clear(); /* str() or UTF-8 encoding may fail (e.g. lone surrogates) */
        if ((tbmod = PyImport_ImportModule("traceback")) != NULL &&
            (lines = PyObject_CallMethod(tbmod, "format_exception", "O", exc)) != NULL &&
            (sep = PyUnicode_FromString("")) != NULL &&
            (tb_obj = PyUnicode_Join(sep, lines)) != NULL)
            tb = PyUnicode_AsUTF8(tb_obj);
        PyErr_Clear();
    }
    if (msg == NULL) msg = "(unprintable exception)";
    if (tb == NULL) tb = "";
    char *json = json_error(head, type, msg, tb, tail, out_len);
    Py_XDECREF(msg_obj); Py_XDECREF(tb_obj); Py_XDECREF(tbmod); Py_XDECREF(lines);
    Py_XDECREF(sep); Py_XDECREF(exc);
    return json;
}

static const char STATUS_HEAD[] = "{\"ok\":false,\"error\":";
static const char STATUS_TAIL[] = ",\"entrypoints\":{},\"startup_ms\":0}";

/* ---- exports --------------------------------------------------------------- */

PW_EXPORT("wizer-initialize") void pw_wizer_initialize(void) {
    if (g_started) return;
    g_started = 1;
    size_t len;
    PyImport_AppendInittab("_pwhost", PyInit__pwhost);

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config); /* no PYTHON* env, no user site, safe_path */
    config.site_import = 0;
    config.write_bytecode = 0;  /* the stdlib and app mounts are read-only */
    config.use_environment = 0; /* _pywrangler reads PW_MAIN_MODULE from os.environ */
    config.buffered_stdio = 0;  /* print() reaches the host's stdout at once */
    config.pathconfig_warnings = 0;
    config.module_search_paths_set = 1;
    static const wchar_t *paths[] = {L"/runtime", L"/app/src", L"/app/python_modules",
                                     PW_STDLIB, PW_STDLIB L"/lib-dynload"};
    PyStatus st = PyConfig_SetString(&config, &config.home, L"/");
    if (!PyStatus_Exception(st)) st = PyConfig_SetString(&config, &config.program_name, L"pyworker");
    for (size_t i = 0; i < sizeof paths / sizeof *paths && !PyStatus_Exception(st); i++)
        st = PyWideStringList_Append(&config.module_search_paths, paths[i]);
    if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        g_init_error = json_error(STATUS_HEAD, "PythonInitError",
                                  st.err_msg ? st.err_msg : "Python failed to start",
                                  st.func ? st.func : "", STATUS_TAIL, &len);
        return;
    }
    g_python_up = 1;

    g_module = PyImport_ImportModule("_pywrangler");
    if (g_module != NULL) g_init_result = PyObject_CallMethod(g_module, "snapshot_init", NULL);
    if (g_module == NULL || g_init_result == NULL)
        g_init_error = json_from_exception(STATUS_HEAD, STATUS_TAIL, &len);
}

/* Copy a str/bytes-like object into a fresh malloc'd buffer. */
static char *copy_out(PyObject *obj, size_t *len) {
    Py_buffer view;
    const char *data;
    Py_ssize_t n;
    int have_view = 0;
    if (PyUnicode_Check(obj)) {
        if ((data = PyUnicode_AsUTF8AndSize(obj, &n)) == NULL) return NULL;
    } else {
        if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) return NULL;
        data = view.buf; n = view.len; have_view = 1;
    }
    char *out = malloc((size_t)n + 1);
    if (out != NULL) { memcpy(out, data, (size_t)n); out[n] = 0; *len = (size_t)n; }
    else PyErr_NoMemory();
    if (have_view) PyBuffer_Release(&view);
    return out;
}

PW_EXPORT("pw_init_status") const char *pw_init_status(int32_t *out_len) {
    size_t len = 0;
    free(g_status);
    g_status = NULL;
    if (!g_started) pw_wizer_initialize(); /* run without a snapshot: init lazily */
    if (g_init_error == NULL && (g_module == NULL || g_init_result == NULL))
        g_init_error = strdup("{\"ok\":false,\"error\":{\"type\":\"MemoryError\",\"message\":"
                              "\"runtime init failed\",\"traceback\":\"\"},\"entrypoints\":{},"
                              "\"startup_ms\":0}");
    if (g_init_error != NULL) {
        len = strlen(g_init_error);
        g_status = malloc(len + 1);
        if (g_status) memcpy(g_status, g_init_error, len + 1);
    } else if (g_module != NULL) {
        PyObject *st = PyObject_HasAttrString(g_module, "init_status")
                           ? PyObject_CallMethod(g_module, "init_status", NULL)
                           : Py_NewRef(g_init_result);
        if (st == Py_None) {
            g_status = strdup("{\"ok\":true,\"entrypoints\":{},\"startup_ms\":0}");
            len = g_status ? strlen(g_status) : 0;
        } else if (st != NULL) {
            g_status = copy_out(st, &len);
        }
        if (g_status == NULL && PyErr_Occurred())
            g_status = json_from_exception(STATUS_HEAD, STATUS_TAIL, &len);
        Py_XDECREF(st);
    }
    *out_len = g_status ? (int32_t)len : 0;
    return g_status;
}

PW_EXPORT("pw_alloc") void *pw_alloc(int32_t len) { return malloc(len > 0 ? (size_t)len : 1); }

PW_EXPORT("pw_free") void pw_free(void *ptr) { free(ptr); }

/* The pw_invoke return value: (ptr << 32) | len. */
static int64_t pack(const void *ptr, size_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint64_t)(uint32_t)len);
}

/* Wrap an error JSON header into an envelope: u32 LE header length + header, no body. */
static int64_t envelope_from_header(char *header, size_t len) {
    if (header == NULL) return 0;
    char *env = malloc(len + 4);
    if (env == NULL) { free(header); return 0; }
    for (int i = 0; i < 4; i++) env[i] = (char)((len >> (8 * i)) & 0xff);
    memcpy(env + 4, header, len);
    free(header);
    return pack(env, len + 4);
}

static int64_t error_envelope(void) {
    size_t len;
    return envelope_from_header(
        json_from_exception("{\"v\":1,\"ok\":false,\"error\":", "}", &len), len);
}

PW_EXPORT("pw_invoke") int64_t pw_invoke(const char *ptr, int32_t len) {
    size_t n = 0;
    if (!g_started) pw_wizer_initialize();
    if (!g_python_up || g_module == NULL || g_init_result == NULL) {
        /* Init failed: every event gets the init error (the status JSON's "error"). */
        const char *err = g_init_error ? strstr(g_init_error, "\"error\":") : NULL;
        const char *msg = "Python runtime did not initialise";
        char *hdr = err ? malloc(strlen(err) + 32) : NULL;
        if (hdr == NULL) return envelope_from_header(
            json_error("{\"v\":1,\"ok\":false,\"error\":", "RuntimeError", msg, "", "}", &n), n);
        size_t end = strlen(err) - strlen(STATUS_TAIL); /* g_init_error ends with the tail */
        n = (size_t)sprintf(hdr, "{\"v\":1,\"ok\":false,%.*s}", (int)end, err);
        return envelope_from_header(hdr, n);
    }
    PyObject *arg = PyBytes_FromStringAndSize(ptr, len);
    PyObject *res = arg ? PyObject_CallMethod(g_module, "invoke", "O", arg) : NULL;
    Py_XDECREF(arg);
    char *out = res ? copy_out(res, &n) : NULL;
    Py_XDECREF(res);
    if (out == NULL) return error_envelope();
    return pack(out, n);
}
