"""Probes for DeZero stage 3: small trusted functions run inside the sandboxed worker.

Each probe takes the student's module and JSON-able arguments, exercises one behaviour, and
returns plain data (numbers, strings, booleans, ndarrays) that the grading process compares with
the same probe run on the reference. This file holds no inputs and no expected values: those live
in the tests, which never enter the worker.

Only names the book's package exports are used (``Variable``, ``Function``, ``Config``,
``no_grad`` from ``dezero``; ``sin``, ``cos``, ``tanh`` from ``dezero.functions``;
``get_dot_graph``, ``plot_dot_graph`` from ``dezero.utils``; and the operators), so the book's
``dezero/`` package and a single file are graded alike. Where a probe needs a function the test is
not about, it uses one that is given code (``+``, ``-``) or defines its own ``Function`` subclass.

The loops that drive the framework (Newton's method, the n-th derivative, double backprop) are
the book's, written here: the book's package has no such functions, its step files are scripts.
"""
import gc
import os
import shutil
import sys
import tempfile
from _weakref import ref
from subprocess import SubprocessError

import numpy as np


def describe(value):
    """Plain description of whatever the student's code produced."""
    kind = type(value).__name__
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": list(value.shape), "array": value}
    if isinstance(value, np.generic) and np.asarray(value).dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": [], "array": np.asarray(value)}
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return {"type": kind, "dtype": None, "shape": [], "array": np.asarray(value, dtype=float)}
    return {"type": kind, "dtype": None, "shape": None, "array": None}


def _value(variable):
    """describe() of a Variable's data (a grad is a Variable in stage 3), or of the object itself."""
    if isinstance(getattr(variable, "data", None), np.ndarray):
        return describe(variable.data)
    return describe(variable)


def _grad(variable):
    return _value(getattr(variable, "grad", None))


def _kind(value):
    return type(value).__name__


# ---- sin, cos, tanh and the operators, one function at a time ------------------------------------

UNARY = {"sin": lambda mod, x: mod.sin(x), "cos": lambda mod, x: mod.cos(x), "tanh": lambda mod, x: mod.tanh(x)}


def forward(mod, func, x):
    """``sin(x)``, ``cos(x)`` or ``tanh(x)`` for a Variable x: what it returns and its data."""
    out = UNARY[func](mod, mod.Variable(np.asarray(x)))
    return {"type": _kind(out), "data": _value(out)}


def _reaches(value, targets):
    """For each target Variable: can it be reached from ``value`` by following creators and inputs?"""
    found, seen, pending = set(), set(), [value]
    while pending and len(seen) < 10_000:
        item = pending.pop()
        for number, target in enumerate(targets):
            if item is target:
                found.add(number)
        creator = getattr(item, "creator", None)
        if creator is not None and id(creator) not in seen:
            seen.add(id(creator))
            pending.extend(getattr(creator, "inputs", None) or [])
    return [number in found for number in range(len(targets))]


def _operation(mod, op, values, c):
    sources = [mod.Variable(np.asarray(v)) for v in values]
    if op in UNARY:
        return sources, UNARY[op](mod, sources[0])
    if op == "pow":
        return sources, sources[0] ** c
    left, right = sources
    return sources, (left * right if op == "mul" else left / right)


def backward_alone(mod, op, values, gy, c=None):
    """Call one function's ``backward(gy)`` directly, gy a Variable, with backprop on.

    The function is made by the spec's own ``__call__`` (given code), so only this function's
    backward runs: no ``Variable.backward``. For each gradient it returns: its type, its values,
    whether it has a creator, and which inputs can be reached from it through the graph (a
    gradient computed with ndarrays reaches none of them, so it cannot be differentiated again).
    """
    sources, out = _operation(mod, op, values, c)
    func = out.creator
    grads = func.backward(mod.Variable(np.asarray(gy)))
    grads = grads if isinstance(grads, tuple) else (grads,)
    return [{"type": _kind(g), "value": _value(g), "has_creator": getattr(g, "creator", None) is not None,
             "reaches": _reaches(g, sources)} for g in grads]


# ---- the book's loops: n-th derivatives, Newton's method, double backprop ------------------------

def nth_derivatives(mod, func, x, n):
    """y = func(x), then the book's loop (step 34): differentiate x.grad again, n times in all,
    with ``x.cleargrad()`` between orders. Stops early when x.grad is missing."""
    source = mod.Variable(np.asarray(x))
    out = UNARY[func](mod, source)
    out.backward(create_graph=True)
    grads = [_grad(source)]
    types = [_kind(source.grad)]
    for _ in range(n - 1):
        gx = source.grad
        if getattr(gx, "creator", None) is None:
            break  # no graph to differentiate: the derivative of a constant
        source.cleargrad()
        gx.backward(create_graph=True)
        grads.append(_grad(source))
        types.append(_kind(source.grad))
    return {"y": _value(out), "grads": grads, "types": types}


def _polynomial(x, coefficients):
    """sum of c * x ** k for k >= 1 (the book's f(x) = x**4 - 2 * x**2 is [0, -2, 0, 1] from k = 1)."""
    total = None
    for power, c in enumerate(coefficients, start=1):
        if c:
            term = c * x ** power if power > 1 else x * c
            total = term if total is None else total + term
    return total


def newton(mod, coefficients, x0, iters):
    """Minimise a polynomial by Newton's method as in step 33: the second derivative comes from
    differentiating x.grad again. Returns x after each step (a missing second derivative ends it)."""
    source = mod.Variable(np.asarray(x0, dtype=float))
    path, problem = [], None
    for _ in range(iters):
        out = _polynomial(source, coefficients)
        source.cleargrad()
        out.backward(create_graph=True)
        gx = source.grad
        source.cleargrad()
        if getattr(gx, "creator", None) is None:
            problem = "first derivative has no graph"
            break
        gx.backward()
        gx2 = source.grad
        if getattr(gx2, "data", None) is None:
            problem = "no second derivative"
            break
        source.data = source.data - gx.data / gx2.data
        path.append(float(source.data))
    return {"path": path, "problem": problem}


DOUBLE = {
    # z as a function of x, y = f(x) and gx = f'(x): step 36's z = gx ** 3 + y, and others like it.
    "book": (lambda x: x ** 2, lambda x, y, gx: gx ** 3 + y),
    "product": (lambda x: x ** 3, lambda x, y, gx: gx * x + y * 2.0),
    "mixed": (lambda x: x ** 3 - x * 2.0, lambda x, y, gx: gx ** 2 * x + y),
}


def double_backprop(mod, form, x):
    """Step 36: y = f(x); gx = dy/dx as a graph; z = g(x, y, gx); x.grad after z.backward()."""
    make_y, make_z = DOUBLE[form]
    source = mod.Variable(np.asarray(x))
    out = make_y(source)
    out.backward(create_graph=True)
    gx = source.grad
    source.cleargrad()
    z = make_z(source, out, gx)
    z.backward()
    return {"z": _value(z), "grad": _grad(source)}


def cleargrad_orders(mod, x):
    """y = x * x * x: x.grad after a second backward, with x.cleargrad() between the two and without."""
    cleared = mod.Variable(np.asarray(x))
    (cleared * cleared * cleared).backward(create_graph=True)
    gx = cleared.grad
    cleared.cleargrad()
    gx.backward()
    kept = mod.Variable(np.asarray(x))
    (kept * kept * kept).backward(create_graph=True)
    kept.grad.backward()
    return {"cleared": _grad(cleared), "accumulated": _grad(kept)}


# ---- Variable.backward alone, through given functions only (+, - and negation) -----------------

def _linear(x):
    """A graph of given functions only: their backward passes gy on or negates it."""
    return -(x + x) + (x - x) - x


def grads_are_variables(mod, x, create_graph):
    """After backward: the types of y.grad (retain_grad) and x.grad, their values, whether x.grad has
    a creator, and Config.enable_backprop afterwards."""
    source = mod.Variable(np.asarray(x))
    out = _linear(source)
    out.backward(retain_grad=True, create_graph=create_graph)
    return {"seed_type": _kind(out.grad), "seed": _grad(out), "grad_type": _kind(source.grad), "grad": _grad(source),
            "grad_has_creator": getattr(source.grad, "creator", None) is not None,
            "backprop_after": bool(mod.Config.enable_backprop)}


def _failing(mod):
    class Fails(mod.Function):
        def forward(self, value):
            return value

        def backward(self, gy):
            raise ArithmeticError("a backward that fails on purpose")

    return Fails


def backprop_switch(mod, x):
    """Config.enable_backprop during and after backward: inside the functions' backward it equals
    create_graph; afterwards it is what it was before, even when a backward raised."""
    seen = []

    class Watch(mod.Function):
        def forward(self, value):
            return value

        def backward(self, gy):
            seen.append(bool(mod.Config.enable_backprop))
            return gy

    answers = {}
    try:
        for create_graph in (False, True):
            source = mod.Variable(np.asarray(x))
            (Watch()(source) + source).backward(create_graph=create_graph)
            answers[f"after_create_graph_{create_graph}"] = bool(mod.Config.enable_backprop)
        source = mod.Variable(np.asarray(x))
        try:
            _failing(mod)()(source + source).backward(create_graph=False)
        except ArithmeticError:
            pass
        answers["after_an_error"] = bool(mod.Config.enable_backprop)
        source = mod.Variable(np.asarray(x))
        out = -source - source
        with mod.no_grad():
            out.backward(create_graph=True)
            answers["inside_no_grad_after"] = bool(mod.Config.enable_backprop)
    finally:
        mod.Config.enable_backprop = True  # one bug fails this probe only, not every later one
    answers["inside_backward"] = seen
    return answers


def retain_grad(mod, x, create_graph):
    """Which grads survive backward() and backward(retain_grad=True), with or without create_graph."""
    answers = {}
    for keep in (False, True):
        source = mod.Variable(np.asarray(x))
        middle = source + source
        out = -middle - source
        out.backward(retain_grad=keep, create_graph=create_graph)
        answers[f"retain_{keep}"] = {"x": _grad(source), "middle_is_none": middle.grad is None,
                                     "out_is_none": out.grad is None}
        if keep:
            answers["retain_True"]["middle"] = _grad(middle)
    return answers


def _counting(mod):
    """A pass-through function that counts how often backward visits it."""
    class Tap(mod.Function):
        visits = 0

        def forward(self, value):
            return value

        def backward(self, gy):
            type(self).visits += 1
            return gy

    return Tap


def dag(mod, shape, x, create_graph):
    """A small DAG around one counted function t, of given functions only; backward's visits and x.grad.

    "diamond": two branches from t joined by an add; "skip": a long branch and a short one.
    "_swapped" joins them in the other order: a traversal that is not in generation order gets
    one of the two orders wrong.
    """
    tap = _counting(mod)
    source = mod.Variable(np.asarray(x))
    t = tap()(source + source)
    kind, swapped = shape.split("_")[0], shape.endswith("_swapped")
    if kind == "diamond":
        left, right = -t, t + t
    else:
        left, right = t, ((t + t) - (-t)) + t
    out = right + left if swapped else left + right
    out.backward(retain_grad=True, create_graph=create_graph)
    return {"grad": _grad(source), "visits": tap.visits}


def reuse(mod, x, create_graph):
    """x used several times in one expression of given functions: x.grad adds every path."""
    source = mod.Variable(np.asarray(x))
    (source + source - (-source) + (source - source - source)).backward(create_graph=create_graph)
    return _grad(source)


def graph_freed(mod, x):
    """Drop what backward(create_graph=True) made: freed at once by reference counting alone?

    y = f(x) with f of given functions and a counted pass-through; after y.backward(create_graph=True)
    (and, when x.grad has a graph, differentiating it again), dropping y and the first x.grad must
    free them and their creators at once: outputs are held by weakref, and backward keeps nothing.
    The cyclic collector is off meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tap = _counting(mod)
        source = mod.Variable(np.asarray(x))
        out = tap()(source + source) - source
        out.backward(create_graph=True)
        refs = [ref(out), ref(out.creator)]
        first = source.grad
        if getattr(first, "creator", None) is not None:
            source.cleargrad()
            first.backward(create_graph=True)
            refs += [ref(first), ref(first.creator)]
        del out, first
        return {"freed_at_once": all(r() is None for r in refs)}
    finally:
        if was_enabled:
            gc.enable()


def _stack_depth():
    depth, frame = 0, sys._getframe(1)
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def deep_chain(mod, x, length, create_graph):
    """``length`` pass-through functions then a negation; the stack depth is sampled every 500 calls."""
    depths, calls = [], [0]

    class PassThrough(mod.Function):
        def forward(self, value):
            return value

        def backward(self, gy):
            if calls[0] % 500 == 0:
                depths.append(_stack_depth())
            calls[0] += 1
            return gy

    source = value = mod.Variable(np.asarray(x))
    for _ in range(length):
        value = PassThrough()(value)
    (-value).backward(create_graph=create_graph)
    growth = max(depths) - min(depths) if depths else None
    return {"grad": _grad(source), "calls": calls[0], "stack_growth": growth}


# ---- the graph as DOT text ------------------------------------------------------------------------

def _goldstein(x, y):
    first = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2)
    second = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)
    return first * second


def _split(mod):
    class Split(mod.Function):
        """Two inputs, two outputs: (a + b, a - b)."""

        def forward(self, a, b):
            return a + b, a - b

    return Split


def _graph(mod, name, x):
    """The output of one of a few graphs built by forward passes of given code; the other objects
    the graph needs are returned too, so none of them is freed while the DOT text is made."""
    source = mod.Variable(np.asarray(x), "x")
    if name == "goldstein":
        other = mod.Variable(np.asarray(np.asarray(x) * 0.5 - 0.25), "y")
        out = _goldstein(source, other)
    elif name == "split":
        other = mod.Variable(np.asarray(np.asarray(x) + 1.0), "w")
        first, second = _split(mod)()(source, other)
        first.name = "sum"
        out = first - second * 2.0
        return _named(out), [other, first, second]
    elif name == "diamonds":  # each intermediate used twice by the next function: draw it once
        other = out = source * source
        for _ in range(8):
            out = (out + out) * 0.5
    else:  # "reuse": a variable used twice by one function and once more
        other = source * source
        out = other + source
    return _named(out), [other]


def _named(out):
    out.name = "z"
    return out


def dot_graph(mod, graph, x, verbose):
    """get_dot_graph(output, verbose) of a graph built by forward passes only, parsed."""
    out, keep = _graph(mod, graph, x)
    text = mod.get_dot_graph(out, verbose=verbose)
    del keep
    return _read_dot(text)


def plot_graph(mod, graph, x, verbose):
    """plot_dot_graph(output, verbose, to_file) with a fresh home folder: the DOT text it wrote last.

    The grading machine has no Graphviz ``dot`` and workers may not start programs: an OSError or
    a SubprocessError from drawing is expected, after the DOT file is written. Any file holding
    "digraph" below the home folder or beside ``to_file`` counts (the book writes
    ~/.dezero/tmp_graph.dot).
    """
    out, keep = _graph(mod, graph, x)
    folder = tempfile.mkdtemp(prefix="dezero-plot-")
    saved_home = os.environ.get("HOME")
    os.environ["HOME"] = os.path.join(folder, "home")
    os.mkdir(os.environ["HOME"])
    try:
        for drawn in (not verbose, verbose):  # twice: a second call must write again, over the first
            try:
                mod.plot_dot_graph(out, verbose=drawn, to_file=os.path.join(folder, "graph.png"))
            except (OSError, SubprocessError):
                pass
        del keep
        texts = _dot_files(folder)
    finally:
        if saved_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = saved_home
        shutil.rmtree(folder, ignore_errors=True)
    answer = _read_dot(texts[0]) if texts else _read_dot("")
    answer["files"] = len(texts)
    return answer


_DOT_BYTES = 1 << 20


def _dot_files(folder):
    """The text of every file below ``folder`` that holds a DOT digraph, ``.dot`` files first."""
    found = []
    for where, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(where, name)
            try:
                with open(path, "rb") as handle:
                    data = handle.read(_DOT_BYTES)
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if "digraph" in text:
                found.append((not name.endswith(".dot"), path, text))
    return [text for _, _, text in sorted(found)]


# ---- reading DOT text (str methods only: nothing student code could patch) ------------------------

_PUNCTUATION = "{}[]=,;:"
_WORD_STOP = " \t\r\n" + _PUNCTUATION + '"<>/#'
_MAX_TOKENS = 200_000


def _dot_tokens(text):
    """Graphviz's lexical rules, as far as a computational graph needs them."""
    tokens, at, end = [], 0, len(text)
    while at < end and len(tokens) < _MAX_TOKENS:
        char = text[at]
        if char in " \t\r\n":
            at += 1
        elif text.startswith("//", at) or char == "#":
            newline = text.find("\n", at)
            at = end if newline < 0 else newline + 1
        elif text.startswith("/*", at):
            close = text.find("*/", at + 2)
            at = end if close < 0 else close + 2
        elif text.startswith("->", at) or text.startswith("--", at):
            tokens.append(("edge", "->"))
            at += 2
        elif char in _PUNCTUATION:
            tokens.append(("punct", char))
            at += 1
        elif char == '"':
            value, at = _quoted(text, at + 1)
            tokens.append(("id", value))
        elif char == "<":
            close = text.find(">", at + 1)
            close = end if close < 0 else close
            tokens.append(("id", text[at + 1:close]))
            at = close + 1
        else:
            start = at
            while at < end and text[at] not in _WORD_STOP:
                at += 1
            if at == start:
                at += 1
                tokens.append(("punct", char))
            else:
                tokens.append(("id", text[start:at]))
    return tokens


def _quoted(text, at):
    parts, end = [], len(text)
    while at < end and text[at] != '"':
        if text[at] == "\\" and at + 1 < end:
            parts.append(text[at + 1] if text[at + 1] in '"\\' else text[at:at + 2])
            at += 2
        else:
            parts.append(text[at])
            at += 1
    return "".join(parts), at + 1


_KEPT = ("label", "color", "style", "shape")


def _parse_dot(text):
    """(is a digraph, {node id: attributes}, [(tail, head)], {node id: node statements}) from DOT text;
    anything unreadable is skipped."""
    tokens = _dot_tokens(text)
    at = 0
    while at < len(tokens) and tokens[at][1].lower() == "strict":
        at += 1
    if at >= len(tokens) or tokens[at][1].lower() != "digraph":
        return False, {}, [], {}
    while at < len(tokens) and tokens[at] != ("punct", "{"):
        at += 1
    nodes, edges, defaults, statements = {}, [], {}, {}
    at += 1
    while at < len(tokens):
        kind, word = tokens[at]
        if kind != "id":
            at += 1
            continue
        lowered = word.lower()
        if lowered in ("node", "edge", "graph") and at + 1 < len(tokens) and tokens[at + 1] == ("punct", "["):
            attributes, at = _attributes(tokens, at + 1)
            if lowered == "node":
                defaults.update(attributes)
            continue
        if lowered == "subgraph":
            at += 2 if at + 1 < len(tokens) and tokens[at + 1][0] == "id" else 1
            continue
        if at + 1 < len(tokens) and tokens[at + 1] == ("punct", "="):
            at += 3  # a graph attribute: rankdir=LR
            continue
        chain, at = [word], _skip_port(tokens, at + 1)
        while at + 1 < len(tokens) and tokens[at][0] == "edge" and tokens[at + 1][0] == "id":
            chain.append(tokens[at + 1][1])
            at = _skip_port(tokens, at + 2)
        attributes = {}
        if at < len(tokens) and tokens[at] == ("punct", "["):
            attributes, at = _attributes(tokens, at)
        for name in chain:
            if name not in nodes:
                nodes[name] = dict(defaults)
        if len(chain) == 1:
            nodes[word].update(attributes)
            statements[word] = statements.get(word, 0) + 1
        edges.extend(zip(chain, chain[1:]))
    return True, nodes, edges, statements


def _skip_port(tokens, at):
    while at + 1 < len(tokens) and tokens[at] == ("punct", ":") and tokens[at + 1][0] == "id":
        at += 2
    return at


def _attributes(tokens, at):
    """``[a=b, c=d]`` starting at the "[" token: the kept attributes, and the position after "]"."""
    attributes, at = {}, at + 1
    while at < len(tokens) and tokens[at] != ("punct", "]"):
        if tokens[at][0] == "id" and at + 2 < len(tokens) and tokens[at + 1] == ("punct", "=") \
                and tokens[at + 2][0] == "id":
            name = tokens[at][1].lower()
            if name in _KEPT:
                value = tokens[at + 2][1]
                attributes[name] = value if name == "label" else value.lower()
            at += 3
        else:
            at += 1
    return attributes, at + 1


def _read_dot(text):
    """What a DOT text draws, without its node ids: node labels and looks by kind (a box is a
    function), the directions of its edges, and its whole structure in a canonical form."""
    digraph, nodes, edges, statements = _parse_dot(text)
    edges = sorted(set(edges))
    kinds = {name: "function" if attributes.get("shape") == "box" else "variable"
             for name, attributes in nodes.items()}
    labels = {name: attributes.get("label", "(no label)") for name, attributes in nodes.items()}
    looks = sorted({" ".join([kinds[name]] + [f"{key}={attributes.get(key, '')}" for key in _KEPT[1:]])
                    for name, attributes in nodes.items()})
    directions = {"variable->function": 0, "function->variable": 0, "other": 0}
    for tail, head in edges:
        pair = f"{kinds[tail]}->{kinds[head]}"
        directions[pair if pair in directions else "other"] += 1
    return {"digraph": digraph,
            "variables": sorted(labels[n] for n in nodes if kinds[n] == "variable"),
            "functions": sorted(labels[n] for n in nodes if kinds[n] == "function"),
            "looks": looks, "edges": directions,
            "functions_once": all(statements.get(n, 0) <= 1 for n in nodes if kinds[n] == "function"),
            "structure": _canonical(nodes, edges, kinds, labels)}


def _canonical(nodes, edges, kinds, labels):
    """The DAG as rows [depth, kind, label, looks, inputs], the same for any two drawings of one graph.

    A node's depth is its longest path from a node without inputs; its inputs are named by the
    canonical numbers of the nodes they come from. Numbers are handed out depth by depth in the
    sorted order of the rows, so they depend on the graph only, never on the node ids. A graph
    with a cycle has no depths: its rows are [-1, ...] without inputs.
    """
    inputs = {name: [] for name in nodes}
    for tail, head in edges:
        inputs[head].append(tail)
    depth = _depths(inputs)
    numbers, rows = {}, []
    if depth is None:
        return sorted([-1, kinds[n], labels[n], [], []] for n in nodes)
    for level in range(max(depth.values(), default=-1) + 1):
        signatures = {}
        for name in nodes:
            if depth[name] == level:
                looks = [nodes[name].get(key, "") for key in _KEPT[1:]]
                signatures[name] = (kinds[name], labels[name], looks, sorted(numbers[i] for i in inputs[name]))
        ordered = sorted({repr(s): s for s in signatures.values()}.items())
        rank = {key: len(numbers) + position for position, (key, _) in enumerate(ordered)}
        for name, signature in signatures.items():
            numbers[name] = rank[repr(signature)]
            rows.append([level, signature[0], signature[1], signature[2], signature[3]])
    return sorted(rows, key=repr)


def _depths(inputs):
    """Longest path from a source for each node, or None when the graph has a cycle."""
    outputs = {name: [] for name in inputs}
    waiting = {name: len(tails) for name, tails in inputs.items()}
    for head, tails in inputs.items():
        for tail in tails:
            outputs[tail].append(head)
    depth = {name: 0 for name in inputs}
    ready = [name for name, count in waiting.items() if count == 0]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        for head in outputs[name]:
            depth[head] = max(depth[head], depth[name] + 1)
            waiting[head] -= 1
            if waiting[head] == 0:
                ready.append(head)
    return depth if done == len(inputs) else None


PROBES = {probe.__name__: probe for probe in (
    forward, backward_alone, nth_derivatives, newton, double_backprop, cleargrad_orders, grads_are_variables,
    backprop_switch, retain_grad, dag, reuse, graph_freed, deep_chain, dot_graph, plot_graph)}
