/*
 * The camt reader's element tree, built in C.
 *
 * Why by hand: the reader turns every entry into plain Python nodes (text, currency, source
 * line, children by local name) because lxml's path look-ups cost microseconds each. Building
 * those nodes through lxml's Python API costs about 30 us an entry, more than libxml2 takes to
 * parse it; no library builds such a tree. This walks libxml2's nodes directly through lxml's
 * public C API and builds exactly what ingest/bank/camt.py's _subtree builds (a test checks the
 * two against each other on every real camt file we have). When this module is not built, or
 * was built from another version of this file, camt.py uses _subtree instead.
 *
 * Built by scripts/build_native.py; nothing here is needed for correctness, only for speed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <string.h>

#include <libxml/tree.h>

#include "lxml.etree_api.h"

#ifndef SOURCE_DIGEST
#define SOURCE_DIGEST ""
#endif

/* libxml2's own source-line rule (lines past 65535 included), as lxml's sourceline reads it.
 * lxml exports the symbol but loads privately, so it is looked up in lxml's module. */
static long (*line_of)(const xmlNode *) = NULL;

#define NAME_SLOTS 256 /* a camt document uses about sixty element names */

typedef struct {
    const xmlChar *key; /* libxml2 interns names per document: usually the same pointer */
    PyObject *name;     /* the local name, interned */
} NameSlot;

typedef struct {
    PyObject_HEAD
    PyTypeObject *node_type; /* camt._Node: a named tuple (text, ccy, line, children) */
    PyObject *no_children;   /* the empty dict every leaf shares */
    xmlChar *namespace;      /* the document's version namespace; other elements are left out */
    NameSlot names[NAME_SLOTS];
} TreeBuilder;

static PyObject *empty_string = NULL;
static PyTypeObject *element_type = NULL; /* lxml.etree._Element */

static int
ends_with_amt(const xmlChar *name)
{
    size_t length = strlen((const char *)name);
    return length >= 3 && memcmp(name + length - 3, "Amt", 3) == 0;
}

/* The local name of an element of the document's namespace (a new reference), and whether it
 * names an amount; NULL with an error set when it cannot be made. */
static PyObject *
local_name(TreeBuilder *self, const xmlChar *name, int *is_amount)
{
    *is_amount = ends_with_amt(name);
    size_t start = ((size_t)name >> 4) % NAME_SLOTS;
    for (size_t probe = 0; probe < NAME_SLOTS; probe++) {
        NameSlot *slot = &self->names[(start + probe) % NAME_SLOTS];
        if (slot->key == NULL) {
            PyObject *text = PyUnicode_FromString((const char *)name);
            if (text == NULL)
                return NULL;
            PyUnicode_InternInPlace(&text);
            slot->key = name;
            slot->name = text;
            return Py_NewRef(text);
        }
        /* a pointer from another document may now hold another name: compare the text too */
        if (slot->key == name && strcmp(PyUnicode_AsUTF8(slot->name), (const char *)name) == 0)
            return Py_NewRef(slot->name);
    }
    /* table full (a hostile file with thousands of names): slower, still right */
    return PyUnicode_FromString((const char *)name);
}

static PyObject *
stripped(PyObject *text)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (length == 0)
        return text;
    if (!Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, 0)) &&
        !Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, length - 1)))
        return text;
    PyObject *result = PyObject_CallMethod(text, "strip", NULL);
    Py_DECREF(text);
    return result;
}

/* lxml's .text ('' for None) */
static PyObject *
text_of(xmlNode *c_node)
{
    PyObject *text = textOf(c_node);
    if (text == Py_None) {
        Py_DECREF(text);
        Py_INCREF(empty_string);
        return empty_string;
    }
    return text;
}

static PyObject *
new_node(TreeBuilder *self, PyObject *text, PyObject *ccy, xmlNode *c_node, int with_line,
         PyObject *children)
{
    /* steals text, ccy and children */
    long line = with_line ? line_of(c_node) : 0;
    PyObject *line_number = line > 0 ? PyLong_FromLong(line) : Py_NewRef(Py_None);
    PyObject *node = line_number ? self->node_type->tp_alloc(self->node_type, 4) : NULL;
    if (node == NULL) {
        Py_XDECREF(line_number);
        Py_DECREF(text);
        Py_DECREF(ccy);
        Py_DECREF(children);
        return NULL;
    }
    PyTuple_SET_ITEM(node, 0, text);
    PyTuple_SET_ITEM(node, 1, ccy);
    PyTuple_SET_ITEM(node, 2, line_number);
    PyTuple_SET_ITEM(node, 3, children);
    return node;
}

static PyObject *
currency_of(xmlNode *c_node, int is_amount)
{
    if (is_amount) {
        PyObject *ccy = attributeValueFromNsName(c_node, NULL, (const xmlChar *)"Ccy");
        if (ccy == NULL)
            return NULL;
        if (ccy != Py_None)
            return stripped(ccy);
        Py_DECREF(ccy);
    }
    Py_INCREF(empty_string);
    return empty_string;
}

static PyObject *
subtree(TreeBuilder *self, xmlNode *c_node, int is_amount, const xmlChar *namespace)
{
    PyObject *children = NULL;
    for (xmlNode *child = c_node->children; child != NULL; child = child->next) {
        if (child->type != XML_ELEMENT_NODE || child->ns == NULL || child->ns->href == NULL ||
            strcmp((const char *)child->ns->href, (const char *)namespace) != 0)
            continue;
        int amount;
        PyObject *name = local_name(self, child->name, &amount);
        if (name == NULL)
            goto error;
        PyObject *node = subtree(self, child, amount, namespace);
        if (node == NULL) {
            Py_DECREF(name);
            goto error;
        }
        if (children == NULL)
            children = PyDict_New();
        PyObject *siblings = children ? PyDict_GetItemWithError(children, name) : NULL;
        int failed = children == NULL || (siblings == NULL && PyErr_Occurred());
        if (!failed && siblings != NULL) {
            failed = PyList_Append(siblings, node) < 0;
        } else if (!failed) {
            siblings = PyList_New(1);
            failed = siblings == NULL;
            if (!failed) {
                PyList_SET_ITEM(siblings, 0, Py_NewRef(node));
                failed = PyDict_SetItem(children, name, siblings) < 0;
                Py_DECREF(siblings);
            }
        }
        Py_DECREF(node);
        Py_DECREF(name);
        if (failed)
            goto error;
    }
    /* Only leaves carry text, and only amounts a currency: as _subtree. */
    PyObject *text = children != NULL ? Py_NewRef(empty_string) : text_of(c_node);
    if (text == NULL)
        goto error;
    PyObject *ccy = currency_of(c_node, is_amount);
    if (ccy == NULL) {
        Py_DECREF(text);
        goto error;
    }
    /* as _subtree: of the leaves (no element-like child) only amounts carry their line */
    int with_line = is_amount || children != NULL || hasChild(c_node);
    if (children == NULL)
        children = Py_NewRef(self->no_children);
    return new_node(self, text, ccy, c_node, with_line, children);

error:
    Py_XDECREF(children);
    return NULL;
}

static PyObject *
TreeBuilder_call(TreeBuilder *self, PyObject *args, PyObject *kwargs)
{
    PyObject *element;
    if (!PyArg_ParseTuple(args, "O:TreeBuilder", &element))
        return NULL;
    if (!PyObject_TypeCheck(element, element_type)) {
        PyErr_SetString(PyExc_TypeError, "an lxml element is required");
        return NULL;
    }
    if (self->node_type == NULL) {
        PyErr_SetString(PyExc_TypeError, "TreeBuilder was not initialised");
        return NULL;
    }
    xmlNode *c_node = ((struct LxmlElement *)element)->_c_node;
    if (c_node == NULL) {
        PyErr_SetString(PyExc_ValueError, "the element has been freed");
        return NULL;
    }
    return subtree(self, c_node, 0, self->namespace);
}

static int
TreeBuilder_init(TreeBuilder *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"node_type", "namespace", "no_children", NULL};
    PyObject *node_type, *no_children;
    const char *namespace;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!sO!:TreeBuilder", keywords, &PyType_Type,
                                     &node_type, &namespace, &PyDict_Type, &no_children))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)node_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "node_type must be a tuple type");
        return -1;
    }
    Py_XSETREF(self->node_type, (PyTypeObject *)Py_NewRef(node_type));
    Py_XSETREF(self->no_children, Py_NewRef(no_children));
    PyMem_Free(self->namespace);
    self->namespace = (xmlChar *)PyMem_Malloc(strlen(namespace) + 1);
    if (self->namespace == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    strcpy((char *)self->namespace, namespace);
    return 0;
}

static void
forget_names(TreeBuilder *self)
{
    for (int i = 0; i < NAME_SLOTS; i++) {
        Py_CLEAR(self->names[i].name);
        self->names[i].key = NULL;
    }
}

static int
TreeBuilder_traverse(TreeBuilder *self, visitproc visit, void *arg)
{
    Py_VISIT(self->node_type);
    Py_VISIT(self->no_children);
    return 0;
}

static int
TreeBuilder_clear(TreeBuilder *self)
{
    Py_CLEAR(self->node_type);
    Py_CLEAR(self->no_children);
    return 0;
}

static void
TreeBuilder_dealloc(TreeBuilder *self)
{
    PyObject_GC_UnTrack(self);
    TreeBuilder_clear(self);
    forget_names(self);
    PyMem_Free(self->namespace);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject TreeBuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ingest.bank._camt_tree.TreeBuilder",
    .tp_doc = PyDoc_STR("TreeBuilder(node_type, namespace, no_children)(element) -> node"),
    .tp_basicsize = sizeof(TreeBuilder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)TreeBuilder_init,
    .tp_call = (ternaryfunc)TreeBuilder_call,
    .tp_traverse = (traverseproc)TreeBuilder_traverse,
    .tp_clear = (inquiry)TreeBuilder_clear,
    .tp_dealloc = (destructor)TreeBuilder_dealloc,
};

static int
find_line_function(void)
{
    PyObject *module = PyImport_ImportModule("lxml.etree");
    if (module == NULL)
        return -1;
    PyObject *path = PyObject_GetAttrString(module, "__file__");
    element_type = (PyTypeObject *)PyObject_GetAttrString(module, "_Element");
    Py_DECREF(module);
    if (path == NULL || element_type == NULL) {
        Py_XDECREF(path);
        return -1;
    }
    void *library = dlopen(PyUnicode_AsUTF8(path), RTLD_NOW | RTLD_NOLOAD);
    Py_DECREF(path);
    if (library != NULL)
        line_of = (long (*)(const xmlNode *))dlsym(library, "xmlGetLineNo");
    if (line_of == NULL) {
        PyErr_SetString(PyExc_ImportError, "lxml does not expose libxml2's xmlGetLineNo");
        return -1;
    }
    return 0;
}

/* -- look-ups on the built nodes: camt.py's _find, _findall and _text ----------------------- */

static PyObject *steps_by_path = NULL; /* 'Refs/EndToEndId' -> ('Refs', 'EndToEndId') */

static PyObject *
steps_of(PyObject *path)
{
    PyObject *steps = PyDict_GetItemWithError(steps_by_path, path);
    if (steps != NULL || PyErr_Occurred())
        return steps;
    PyObject *separator = PyUnicode_FromString("/");
    if (separator == NULL)
        return NULL;
    PyObject *parts = PyUnicode_Split(path, separator, -1);
    Py_DECREF(separator);
    if (parts == NULL)
        return NULL;
    steps = PyList_AsTuple(parts);
    Py_DECREF(parts);
    if (steps == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(steps); i++)
        PyUnicode_InternInPlace(&PyTuple_GET_ITEM(steps, i));
    int failed = PyDict_SetItem(steps_by_path, path, steps) < 0;
    Py_DECREF(steps);
    return failed ? NULL : steps; /* borrowed from the cache */
}

static int
is_node(PyObject *node)
{
    return PyTuple_Check(node) && PyTuple_GET_SIZE(node) == 4 &&
           PyDict_Check(PyTuple_GET_ITEM(node, 3));
}

/* The first node at path under node, or NULL without an error when there is none. Borrowed. */
static PyObject *
first_at(PyObject *node, PyObject *path)
{
    PyObject *steps = steps_of(path);
    if (steps == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(steps); i++) {
        if (!is_node(node)) {
            PyErr_SetString(PyExc_TypeError, "not a camt node");
            return NULL;
        }
        PyObject *found = PyDict_GetItemWithError(PyTuple_GET_ITEM(node, 3),
                                                  PyTuple_GET_ITEM(steps, i));
        if (found == NULL || !PyList_Check(found) || PyList_GET_SIZE(found) == 0)
            return NULL;
        node = PyList_GET_ITEM(found, 0);
    }
    return node;
}

static PyObject *
find(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "find(node, path: str)");
        return NULL;
    }
    PyObject *node = first_at(args[0], args[1]);
    if (node == NULL && PyErr_Occurred())
        return NULL;
    return Py_NewRef(node != NULL ? node : Py_None);
}

static PyObject *
text(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "text(node, path: str)");
        return NULL;
    }
    if (args[0] == Py_None)
        return Py_NewRef(empty_string);
    PyObject *node = first_at(args[0], args[1]);
    if (node == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(empty_string);
    PyObject *value = PyTuple_GET_ITEM(node, 0);
    if (!PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a camt node's text is not a str");
        return NULL;
    }
    return stripped(Py_NewRef(value));
}

static PyObject *
findall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "findall(node, path: str)");
        return NULL;
    }
    PyObject *steps = steps_of(args[1]);
    if (steps == NULL)
        return NULL;
    PyObject *nodes = PyList_New(1);
    if (nodes == NULL)
        return NULL;
    PyList_SET_ITEM(nodes, 0, Py_NewRef(args[0]));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(steps); i++) {
        PyObject *next = PyList_New(0);
        if (next == NULL)
            goto error;
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(nodes); j++) {
            PyObject *node = PyList_GET_ITEM(nodes, j);
            if (!is_node(node)) {
                PyErr_SetString(PyExc_TypeError, "not a camt node");
                Py_DECREF(next);
                goto error;
            }
            PyObject *found = PyDict_GetItemWithError(PyTuple_GET_ITEM(node, 3),
                                                      PyTuple_GET_ITEM(steps, i));
            if (found == NULL && PyErr_Occurred()) {
                Py_DECREF(next);
                goto error;
            }
            if (found != NULL && PyList_Check(found) &&
                PyList_SetSlice(next, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, found) < 0) {
                Py_DECREF(next);
                goto error;
            }
        }
        Py_SETREF(nodes, next);
    }
    return nodes;

error:
    Py_DECREF(nodes);
    return NULL;
}

static PyMethodDef functions[] = {
    {"find", (PyCFunction)(void (*)(void))find, METH_FASTCALL,
     "find(node, path) -> the first node at path ('Refs/EndToEndId'), or None"},
    {"findall", (PyCFunction)(void (*)(void))findall, METH_FASTCALL,
     "findall(node, path) -> every node at path, in document order"},
    {"text", (PyCFunction)(void (*)(void))text, METH_FASTCALL,
     "text(node, path) -> the stripped text at path ('' when absent or node is None)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ingest.bank._camt_tree",
    .m_doc = "The camt reader's element tree, built in C (see ingest/bank/_camt_tree.c).",
    .m_size = -1,
    .m_methods = functions,
};

PyMODINIT_FUNC
PyInit__camt_tree(void)
{
    if (import_lxml__etree() < 0 || find_line_function() < 0)
        return NULL;
    empty_string = PyUnicode_FromString("");
    steps_by_path = PyDict_New();
    if (empty_string == NULL || steps_by_path == NULL || PyType_Ready(&TreeBuilderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "TreeBuilder", (PyObject *)&TreeBuilderType) < 0 ||
        PyModule_AddStringConstant(m, "SOURCE_DIGEST", SOURCE_DIGEST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
