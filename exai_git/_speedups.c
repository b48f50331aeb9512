/* The common commit messages, parsed in C: an optional accelerator for markers.parse().
 *
 * scan(text, prefix, comment_char, env_conversation) answers exactly as the full grammar in
 * markers.py does, or returns None to say "use the Python parser". It answers ASCII messages
 * (no carriage return, code fence, scissors line or revert) in which every line that names
 * the key or a Conversation trailer is one of:
 *   - a well-formed Conversation trailer;
 *   - a whole-line canonical marker: `Verb KEY-n[ step(s) LIST][ conv:UUID]`, or
 *     `Verb KEY-n, KEY-m and KEY-k`, optionally qualified (`Partially fixes KEY-n`);
 *   - a line that names one key with no verb before it (a mention).
 * Anything else (comments, quotes, negations, near misses, errors, warnings) returns None.
 * The verb table, the notes' wording and the result types come from markers.py (setup()),
 * so the grammar is written down once. The tests hold scan() to the full grammar.
 *
 * Only the text's own bytes are read, always within [0, length); every index is checked
 * against the end of its line before it is read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *Action, *Note, *Parsed, *Nothing, *Verbs, *VerbEnds, *Qualified;
static PyObject *MentionNote, *PartialNote, *RefAction;
static PyObject *Fallback, *DefaultPrefix, *DefaultComment, *DefaultEnv; /* markers' parser */

#define MAX_STEPS 1000
#define MAX_DIGITS 9 /* [1-9][0-9]{0,8}: below PostgreSQL's integer limit */
#define SCISSORS " ------------------------ >8 ------------------------"

static int is_space(unsigned char c) {
    /* what str.isspace() and the regex \s accept in ASCII */
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alnum(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int is_word(unsigned char c) { return is_alnum(c) || c == '_'; }
static int is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* first occurrence of needle in hay[from, to), or -1. Commit messages are short and the
   needles shorter: memchr to each candidate first byte, then compare (memmem's setup for a
   longer needle costs more than the whole search here) */
static Py_ssize_t find(const char *hay, Py_ssize_t from, Py_ssize_t to, const char *needle,
                       Py_ssize_t len) {
    if (len == 0 || to - from < len)
        return -1;
    const char *p = hay + from, *last = hay + to - len;
    while (p <= last) {
        p = memchr(p, needle[0], (size_t)(last - p) + 1);
        if (p == NULL)
            return -1;
        if (memcmp(p + 1, needle + 1, (size_t)len - 1) == 0)
            return p - hay;
        p++;
    }
    return -1;
}

/* low[p, end) starts with word */
static int starts(const char *low, Py_ssize_t p, Py_ssize_t end, const char *word) {
    Py_ssize_t len = (Py_ssize_t)strlen(word);
    return end - p >= len && memcmp(low + p, word, (size_t)len) == 0;
}

/* a number [1-9][0-9]{0,8} at low[p, end): its end, or -1; *value its value */
static Py_ssize_t number_at(const char *low, Py_ssize_t p, Py_ssize_t end, long *value) {
    if (p >= end || low[p] < '1' || low[p] > '9')
        return -1;
    Py_ssize_t q = p;
    long v = 0;
    while (q < end && is_digit((unsigned char)low[q])) {
        if (q - p == MAX_DIGITS)
            return -1; /* longer: the grammar's own rules (an error or a near miss) */
        v = v * 10 + (low[q] - '0');
        q++;
    }
    *value = v;
    return q;
}

/* `KEY-n` at low[p, end): the end of the number, or -1 */
static Py_ssize_t key_at(const char *low, Py_ssize_t p, Py_ssize_t end, const char *key,
                         Py_ssize_t klen, long *value) {
    if (end - p < klen + 1 || memcmp(low + p, key, (size_t)klen) != 0 || low[p + klen] != '-')
        return -1;
    return number_at(low, p + klen + 1, end, value);
}

/* a UUID 8-4-4-4-12 at low[p, end) */
static int uuid_at(const char *low, Py_ssize_t p, Py_ssize_t end) {
    if (end - p < 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        unsigned char c = (unsigned char)low[p + i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!is_hex(c)) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    const char *text, *low;
    const char *key; /* lower case */
    Py_ssize_t klen;
    PyObject *actions; /* list of Action, their conversation set at the end, when the
                          default is known */
    PyObject *ignored; /* list of Note */
    PyObject *trailer; /* the first Conversation trailer (lower case), or NULL */
} Scan;

enum { FAIL = -1, DECLINE = 0, DONE = 1 };

/* A new instance of a named tuple type, filled with items (references stolen; on failure
   they are released). Made as tuple.__new__ makes one for a subclass (tuple_subtype_new):
   allocated by the type, then filled before anything else can see it. */
static PyObject *make(PyObject *type, Py_ssize_t n, PyObject **items) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == NULL) {
            for (Py_ssize_t j = 0; j < n; j++)
                Py_XDECREF(items[j]);
            return NULL;
        }
    }
    PyObject *obj = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, n);
    if (obj == NULL) {
        for (Py_ssize_t j = 0; j < n; j++)
            Py_DECREF(items[j]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(obj, i, items[i]);
    return obj;
}

static PyObject *ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}

/* make(type, n, items), appended to list */
static int append_new(PyObject *list, PyObject *type, Py_ssize_t n, PyObject **items) {
    PyObject *obj = make(type, n, items);
    if (obj == NULL)
        return FAIL;
    int rc = PyList_Append(list, obj);
    Py_DECREF(obj);
    return rc < 0 ? FAIL : DONE;
}

static int add_note(Scan *sc, long line, Py_ssize_t from, Py_ssize_t to, PyObject *reason,
                    long issue) {
    PyObject *items[] = {PyLong_FromLong(line),
                         PyUnicode_FromStringAndSize(sc->text + from, to - from), ref(reason),
                         PyLong_FromLong(issue), ref(Py_None)};
    return append_new(sc->ignored, Note, 5, items);
}

/* An Action; its conversation (None here) may still be set by finish(), before the Action
   leaves this module. */
static int add_action(Scan *sc, long issue, PyObject *action, PyObject *steps, PyObject *conv,
                      Py_ssize_t from, Py_ssize_t to, long line) {
    PyObject *items[] = {PyLong_FromLong(issue), ref(action), ref(steps), ref(conv),
                         PyUnicode_FromStringAndSize(sc->text + from, to - from),
                         PyLong_FromLong(line)};
    return append_new(sc->actions, Action, 6, items);
}

/* `Conversation: UUID` filling the line [s, e); DECLINE when the line is not a trailer
   (*is_trailer 0) or is one the Python parser must word (a bad or second value) */
static int trailer_line(Scan *sc, Py_ssize_t s, Py_ssize_t e, int *is_trailer) {
    const char *low = sc->low;
    Py_ssize_t p = s;
    *is_trailer = 0;
    while (p < e && is_space((unsigned char)low[p]))
        p++;
    if (starts(low, p, e, sc->key) && p + sc->klen < e && low[p + sc->klen] == '-' &&
        starts(low, p + sc->klen + 1, e, "conversation"))
        p += sc->klen + 1;
    else if (starts(low, p, e, "exai-conversation"))
        p += 5;
    if (!starts(low, p, e, "conversation"))
        return DONE;
    p += 12;
    while (p < e && is_space((unsigned char)low[p]))
        p++;
    if (p >= e || low[p] != ':')
        return DONE;
    p++;
    while (p < e && is_space((unsigned char)low[p]))
        p++;
    Py_ssize_t v = p;
    while (p < e && !is_space((unsigned char)low[p]))
        p++;
    Py_ssize_t vend = p;
    while (p < e && is_space((unsigned char)low[p]))
        p++;
    if (p != e)
        return DONE; /* not a trailer: words after the value */
    *is_trailer = 1;
    while (vend > v && low[vend - 1] == '.')
        vend--;
    if (vend - v != 36 || !uuid_at(low, v, vend))
        return DECLINE; /* an error to report */
    if (sc->trailer == NULL) {
        sc->trailer = PyUnicode_FromStringAndSize(low + v, 36);
        return sc->trailer ? DONE : FAIL;
    }
    /* a second trailer: the same value says nothing; another one is a warning */
    return memcmp(PyUnicode_1BYTE_DATA(sc->trailer), low + v, 36) == 0 ? DONE : DECLINE;
}

/* the action of a lower-case verb low[p, q) (single-spaced, as markers._FAST_VERBS holds it),
   borrowed, or NULL */
static PyObject *verb_action(const char *low, Py_ssize_t p, Py_ssize_t q) {
    if (q <= p || q - p > 32)
        return NULL;
    PyObject *word = PyUnicode_FromStringAndSize(low + p, q - p);
    if (word == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *action = PyDict_GetItemWithError(Verbs, word);
    Py_DECREF(word);
    if (action == NULL)
        PyErr_Clear();
    return action;
}

/* what follows the verb of a canonical marker, from the key at `at` to the end e of the
   line; as markers._fast_patterns' marker regex, taken greedily: DECLINE wherever it would
   have to backtrack */
static int marker_line(Scan *sc, Py_ssize_t s, Py_ssize_t at, Py_ssize_t e, long line,
                       PyObject *action, Py_ssize_t verb_at) {
    const char *low = sc->low;
    long issues[64];
    int count = 0;
    long steps_lo[64], steps_hi[64];
    int nsteps = 0;
    Py_ssize_t conv = -1;
    long n;
    Py_ssize_t p = key_at(low, at, e, sc->key, sc->klen, &n);
    if (p < 0)
        return DECLINE;
    issues[count++] = n;
    if (p < e && (low[p] == ',' || starts(low, p, e, " and "))) {
        static const char *seps[] = {", and ", ", ", " and ", ","};
        for (;;) {
            Py_ssize_t next = -1;
            for (int i = 0; i < 4 && next < 0; i++) {
                if (starts(low, p, e, seps[i]))
                    next = key_at(low, p + (Py_ssize_t)strlen(seps[i]), e, sc->key, sc->klen, &n);
            }
            if (next < 0)
                break;
            if (count == 64)
                return DECLINE;
            issues[count++] = n;
            p = next;
        }
        if (count == 1)
            return DECLINE;
    } else {
        if (starts(low, p, e, " step")) {
            Py_ssize_t q = p + 5;
            if (q < e && low[q] == 's')
                q++;
            if (q < e && low[q] == ':')
                q++;
            if (q >= e || low[q] != ' ')
                return DECLINE;
            q++;
            for (;;) {
                long lo, hi;
                q = number_at(low, q, e, &lo);
                if (q < 0)
                    return DECLINE;
                hi = lo;
                if (q < e && low[q] == '-' && q + 1 < e && low[q + 1] >= '1' && low[q + 1] <= '9') {
                    q = number_at(low, q + 1, e, &hi);
                    if (q < 0)
                        return DECLINE;
                }
                if (hi < lo || hi - lo >= MAX_STEPS || nsteps == 64)
                    return DECLINE; /* an error to report */
                steps_lo[nsteps] = lo;
                steps_hi[nsteps++] = hi;
                Py_ssize_t r = q;
                if (r < e && low[r] == ',') {
                    r++;
                    if (r < e && low[r] == ' ')
                        r++;
                    if (r < e && low[r] >= '1' && low[r] <= '9') {
                        q = r;
                        continue;
                    }
                }
                break;
            }
            p = q;
        }
        if (starts(low, p, e, " conv")) {
            Py_ssize_t q = p + 5;
            if (starts(low, q, e, "ersation"))
                q += 8;
            if (q < e && (low[q] == ':' || low[q] == '=') && uuid_at(low, q + 1, e)) {
                conv = q + 1;
                p = q + 37;
                if (p < e && is_hex((unsigned char)low[p]))
                    return DECLINE;
                while (p < e && low[p] == '.')
                    p++;
            }
        }
    }
    Py_ssize_t marker_end = p;
    if (p < e && low[p] == '.')
        p++;
    while (p < e && low[p] == ' ')
        p++;
    if (p != e)
        return DECLINE;

    PyObject *steps = NULL, *conv_id = Py_None;
    if (nsteps) {
        /* the union of the ranges, in order: a bitmap over the span they cover */
        long lo = steps_lo[0], hi = steps_hi[0];
        for (int i = 1; i < nsteps; i++) {
            if (steps_lo[i] < lo)
                lo = steps_lo[i];
            if (steps_hi[i] > hi)
                hi = steps_hi[i];
        }
        if (hi - lo >= 64 * MAX_STEPS)
            return DECLINE;
        unsigned char *seen = PyMem_Calloc((size_t)(hi - lo + 1), 1);
        if (seen == NULL) {
            PyErr_NoMemory();
            return FAIL;
        }
        Py_ssize_t total = 0;
        for (int i = 0; i < nsteps; i++)
            for (long v = steps_lo[i]; v <= steps_hi[i]; v++)
                if (!seen[v - lo]) {
                    seen[v - lo] = 1;
                    total++;
                }
        steps = PyTuple_New(total);
        if (steps == NULL) {
            PyMem_Free(seen);
            return FAIL;
        }
        Py_ssize_t k = 0;
        for (long v = lo; v <= hi; v++) {
            if (!seen[v - lo])
                continue;
            PyObject *num = PyLong_FromLong(v);
            if (num == NULL) {
                PyMem_Free(seen);
                Py_DECREF(steps);
                return FAIL;
            }
            PyTuple_SET_ITEM(steps, k++, num);
        }
        PyMem_Free(seen);
    } else {
        steps = PyTuple_New(0);
        if (steps == NULL)
            return FAIL;
    }
    if (conv >= 0) {
        conv_id = PyUnicode_FromStringAndSize(low + conv, 36);
        if (conv_id == NULL) {
            Py_DECREF(steps);
            return FAIL;
        }
    } else {
        Py_INCREF(conv_id);
    }
    int rc = DONE;
    for (int i = 0; i < count && rc == DONE; i++) {
        if (verb_at)
            rc = add_note(sc, line, s + verb_at, marker_end, PartialNote, issues[i]);
        if (rc == DONE)
            rc = add_action(sc, issues[i], verb_at ? RefAction : action, steps, conv_id,
                            s + verb_at, marker_end, line);
    }
    Py_DECREF(steps);
    Py_DECREF(conv_id);
    return rc;
}

/* a line [s, e) that names the key first at `at`: as markers._fast_line */
static int key_line(Scan *sc, Py_ssize_t s, Py_ssize_t at, Py_ssize_t e, long line) {
    const char *low = sc->low;
    if (at > s) {
        unsigned char before = (unsigned char)low[at - 1];
        if (is_alnum(before) || before == '_' || before == '-')
            return DECLINE;
    }
    /* the verb: the text before the key, less the separator `(?: ?: ?| )` */
    Py_ssize_t h = at, v = -1;
    if (h - s >= 3 && memcmp(low + h - 3, " : ", 3) == 0)
        v = h - 3;
    else if (h - s >= 2 && (memcmp(low + h - 2, ": ", 2) == 0 || memcmp(low + h - 2, " :", 2) == 0))
        v = h - 2;
    else if (h - s >= 1 && (low[h - 1] == ' ' || low[h - 1] == ':'))
        v = h - 1;
    if (v >= 0) {
        PyObject *action = verb_action(low, s, v);
        Py_ssize_t verb_at = 0;
        if (action == NULL) {
            Py_ssize_t nq = PyTuple_GET_SIZE(Qualified);
            for (Py_ssize_t i = 0; i < nq && action == NULL; i++) {
                PyObject *q = PyTuple_GET_ITEM(Qualified, i);
                Py_ssize_t qlen = PyUnicode_GET_LENGTH(q);
                if (v - s > qlen && memcmp(low + s, PyUnicode_1BYTE_DATA(q), (size_t)qlen) == 0 &&
                    (action = verb_action(low, s + qlen, v)) != NULL)
                    verb_at = qlen;
            }
        }
        if (action != NULL)
            return marker_line(sc, s, at, e, line, action, verb_at);
    }
    /* a mention: one key, no verb (nor `for`) right before it */
    long n;
    Py_ssize_t end = key_at(low, at, e, sc->key, sc->klen, &n);
    if (end < 0 || (end < e && is_word((unsigned char)low[end])))
        return DECLINE;
    if (find(low, at + 1, e, sc->key, sc->klen) >= 0)
        return DECLINE;
    Py_ssize_t t = at;
    while (t > s && (is_space((unsigned char)low[t - 1]) || low[t - 1] == ':'))
        t--;
    Py_ssize_t nends = PyTuple_GET_SIZE(VerbEnds);
    for (Py_ssize_t i = 0; i < nends; i++) {
        PyObject *w = PyTuple_GET_ITEM(VerbEnds, i);
        Py_ssize_t wlen = PyUnicode_GET_LENGTH(w);
        if (t - s >= wlen && memcmp(low + t - wlen, PyUnicode_1BYTE_DATA(w), (size_t)wlen) == 0)
            return DECLINE;
    }
    return add_note(sc, line, at, end, MentionNote, n);
}

static int scan_lines(Scan *sc, Py_ssize_t size, int has_conv, const char *cc, Py_ssize_t cclen) {
    const char *text = sc->text, *low = sc->low;
    long number = 1;
    for (Py_ssize_t s = 0; s <= size; number++) {
        const char *nl = memchr(text + s, '\n', (size_t)(size - s));
        Py_ssize_t e = nl ? nl - text : size;
        Py_ssize_t at = find(low, s, e, sc->key, sc->klen);
        int conv = has_conv && find(low, s, e, "conversation", 12) >= 0;
        if (at >= 0 || conv) {
            if (cclen && e - s >= cclen && memcmp(text + s, cc, (size_t)cclen) == 0)
                return DECLINE; /* a comment */
            Py_ssize_t p = s;
            while (p < e && is_space((unsigned char)text[p]))
                p++;
            if (p < e && text[p] == '>')
                return DECLINE; /* a quote */
            if (starts(text, s, e, "Revert ") || starts(text, s, e, "Reapply "))
                return DECLINE;
            int is_trailer = 0;
            if (conv && memchr(text + s, ':', (size_t)(e - s))) {
                int rc = trailer_line(sc, s, e, &is_trailer);
                if (rc != DONE || is_trailer) {
                    if (rc != DONE)
                        return rc;
                    goto next;
                }
            }
            if (at >= 0) {
                int rc = key_line(sc, s, at, e, number);
                if (rc != DONE)
                    return rc;
            }
        }
    next:
        if (nl == NULL)
            break;
        s = e + 1;
    }
    return DONE;
}

static PyObject *finish(Scan *sc, PyObject *env) {
    Py_ssize_t count = PyList_GET_SIZE(sc->actions);
    if (count == 0 && PyList_GET_SIZE(sc->ignored) == 0)
        return ref(Nothing);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *action = PyList_GET_ITEM(sc->actions, i);
        if (PyTuple_GET_ITEM(action, 3) != Py_None)
            continue;
        if (sc->trailer != NULL) {
            /* the Action is this module's alone (its list's reference): still being made */
            Py_DECREF(Py_None);
            PyTuple_SET_ITEM(action, 3, ref(sc->trailer));
        } else if (env != Py_None && PyObject_IsTrue(env)) {
            Py_RETURN_NONE; /* the environment's default: the Python parser words it */
        }
    }
    PyObject *items[] = {PyList_AsTuple(sc->actions), PyList_AsTuple(sc->ignored),
                         PyTuple_New(0), PyTuple_New(0), PyTuple_New(0)};
    return make(Parsed, 5, items);
}

static PyObject *scan_message(PyObject *text, PyObject *prefix, PyObject *comment,
                              PyObject *env) {
    if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text) || !PyUnicode_Check(prefix) ||
        !PyUnicode_IS_ASCII(prefix) || (env != Py_None && !PyUnicode_Check(env)))
        Py_RETURN_NONE;
    Py_ssize_t size = PyUnicode_GET_LENGTH(text), klen = PyUnicode_GET_LENGTH(prefix);
    const char *data = (const char *)PyUnicode_1BYTE_DATA(text);
    const char *pre = (const char *)PyUnicode_1BYTE_DATA(prefix);
    char key[33];
    if (klen < 1 || klen > 32 || !((pre[0] | 0x20) >= 'a' && (pre[0] | 0x20) <= 'z'))
        Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < klen; i++) {
        if (!is_alnum((unsigned char)pre[i]))
            Py_RETURN_NONE;
        key[i] = (char)(pre[i] | (pre[i] >= 'A' && pre[i] <= 'Z' ? 0x20 : 0));
    }
    key[klen] = 0;
    const char *cc = NULL;
    Py_ssize_t cclen = 0;
    if (comment != Py_None) {
        if (!PyUnicode_Check(comment))
            Py_RETURN_NONE;
        if (PyUnicode_IS_ASCII(comment)) { /* beyond ASCII it never starts an ASCII line */
            cc = (const char *)PyUnicode_1BYTE_DATA(comment);
            cclen = PyUnicode_GET_LENGTH(comment);
        }
    }
    if (memchr(data, '\r', (size_t)size))
        Py_RETURN_NONE;

    char stack[512];
    char *low = size < (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc((size_t)size + 1);
    if (low == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = data[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    low[size] = 0;
    PyObject *result = NULL;
    int has_key = find(low, 0, size, key, klen) >= 0;
    int has_conv = find(low, 0, size, "conversation", 12) >= 0;
    int has_revert = find(low, 0, size, "reverts commit", 14) >= 0;
    if (!has_key && !has_conv && !has_revert) {
        result = Nothing;
        Py_INCREF(result);
        goto done;
    }
    if (has_revert || find(data, 0, size, "```", 3) >= 0 ||
        find(data, 0, size, "~~~", 3) >= 0 ||
        find(data, 0, size, SCISSORS, (Py_ssize_t)strlen(SCISSORS)) >= 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    Scan sc = {data, low, key, klen, PyList_New(0), PyList_New(0), NULL};
    if (sc.actions && sc.ignored) {
        int rc = scan_lines(&sc, size, has_conv, cc, cclen);
        if (rc == DONE)
            result = finish(&sc, env);
        else if (rc == DECLINE) {
            result = Py_None;
            Py_INCREF(result);
        }
    }
    Py_XDECREF(sc.actions);
    Py_XDECREF(sc.ignored);
    Py_XDECREF(sc.trailer);
done:
    if (low != stack)
        PyMem_Free(low);
    return result;
}

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "scan(text, prefix, comment_char, env_conversation)");
        return NULL;
    }
    if (Parsed == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "scan() before setup()");
        return NULL;
    }
    return scan_message(args[0], args[1], args[2], args[3]);
}

/* markers.parse: what scan_message answers, else the Python parser with the same arguments
   (which also words any mistake in them) */
static PyObject *parse(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (Fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "parse() before setup()");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1) {
        PyObject *prefix = DefaultPrefix, *comment = DefaultComment, *env = DefaultEnv;
        Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
        int known = 1;
        for (Py_ssize_t i = 0; i < nkw && known; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
            if (PyUnicode_CompareWithASCIIString(name, "prefix") == 0)
                prefix = value;
            else if (PyUnicode_CompareWithASCIIString(name, "comment_char") == 0)
                comment = value;
            else if (PyUnicode_CompareWithASCIIString(name, "env_conversation") == 0)
                env = value;
            else
                known = 0;
        }
        if (known) {
            PyObject *found = scan_message(args[0], prefix, comment, env);
            if (found != Py_None)
                return found; /* the answer, or NULL: an error */
            Py_DECREF(found);
        }
    }
    return PyObject_Vectorcall(Fallback, args, nargsf, kwnames);
}

static PyObject *setup(PyObject *self, PyObject *args) {
    PyObject *a, *n, *p, *nothing, *verbs, *ends, *qualified, *mention, *partial, *ref;
    PyObject *fallback, *defaults;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!UUUOO!", &PyType_Type, &a, &PyType_Type, &n,
                          &PyType_Type, &p, &PyTuple_Type, &nothing, &PyDict_Type, &verbs,
                          &PyTuple_Type, &ends, &PyTuple_Type, &qualified, &mention, &partial,
                          &ref, &fallback, &PyDict_Type, &defaults))
        return NULL;
    PyObject *prefix = PyDict_GetItemString(defaults, "prefix");
    PyObject *comment = PyDict_GetItemString(defaults, "comment_char");
    PyObject *env = PyDict_GetItemString(defaults, "env_conversation");
    if (!PyCallable_Check(fallback) || prefix == NULL || comment == NULL || env == NULL) {
        PyErr_SetString(PyExc_TypeError, "setup(): the fallback parser and its defaults");
        return NULL;
    }
    PyObject *all[] = {a, n, p, nothing, verbs, ends, qualified, mention, partial, ref,
                       fallback, prefix, comment, env};
    PyObject **slots[] = {&Action, &Note, &Parsed, &Nothing, &Verbs, &VerbEnds, &Qualified,
                          &MentionNote, &PartialNote, &RefAction, &Fallback, &DefaultPrefix,
                          &DefaultComment, &DefaultEnv};
    for (int i = 0; i < 3; i++) {
        if (!PyType_IsSubtype((PyTypeObject *)all[i], &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "setup(): result types must be tuples");
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ends); i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(ends, i)) ||
            !PyUnicode_IS_ASCII(PyTuple_GET_ITEM(ends, i))) {
            PyErr_SetString(PyExc_TypeError, "setup(): verb ends must be ASCII strings");
            return NULL;
        }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(qualified); i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(qualified, i)) ||
            !PyUnicode_IS_ASCII(PyTuple_GET_ITEM(qualified, i))) {
            PyErr_SetString(PyExc_TypeError, "setup(): qualifiers must be ASCII strings");
            return NULL;
        }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        Py_INCREF(all[i]);
        Py_XSETREF(*slots[i], all[i]);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(text, prefix, comment_char, env_conversation) -> Parsed, or None: use the parser"},
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL | METH_KEYWORDS,
     "parse($module, text, /, *, prefix='EXAI', comment_char='#', env_conversation=None)\n--\n\n"
     "The actions, ignored mentions, warnings and errors of a commit message."},
    {"setup", setup, METH_VARARGS, "setup(Action, Note, Parsed, NOTHING, verbs, verb_ends, "
                                   "qualified, mention_note, partial_note, ref_action, "
                                   "parse_python, its keyword defaults)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "exai_git._speedups",
    .m_doc = "The common commit messages, parsed in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
