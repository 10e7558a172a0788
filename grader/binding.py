"""Binding the tools trusted code measures with, before any student line runs.

Student code runs in the worker's own process: it can replace ``weakref.ref``, ``gc.disable``,
``numpy.asarray`` or ``builtins.isinstance`` in its ``__init__.py``, and a probe that looked them
up when called would measure with the student's tools (issue 23, item 1). So code that measures
(the probes) or answers (the dispatcher and the wire) never looks a tool up at call time:

- every ``module.attr`` chain its source refers to (``weakref.ref``, ``np.random.default_rng``)
  is resolved once, when the code is loaded, and read from a :class:`BoundModule` from then on;
  only callables and modules are bound (tools); data such as ``sys.stdout`` is still read live;
- its builtins are a private copy of the builtins module's, made at the same moment;
- a probe file's module-level containers are frozen (dicts read-only, lists tuples, sets
  frozensets), and :class:`Guard` tells whether anything a probe reads was changed while it ran.

This module imports only the standard library: the worker, the zygote and the trusted side all
load probes through :func:`load_probes`, so the reference is measured by the same bound code.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import types
from typing import Any, Callable

_MISSING = object()


class BoundModule:
    """A module's tools as they were when bound; any other attribute is read from the live module.

    ``np.asarray`` inside bound code reads this object's ``asarray``, never the module's, so
    ``numpy.asarray = fake`` after binding changes nothing here.
    """

    def __init__(self, live: types.ModuleType, tools: dict[str, Any]) -> None:
        object.__setattr__(self, "_live", live)
        self.__dict__.update(tools)

    # Default arguments are this module's own way of binding: evaluated once, when the class is made.
    def __getattr__(self, name: str, _getattr=getattr, _get=object.__getattribute__) -> Any:
        # Only reached for names not bound: data (sys.stdout), or a name the source never spells out.
        return _getattr(_get(self, "_live"), name)

    def __setattr__(self, name: str, value: Any, _setattr=setattr, _get=object.__getattribute__) -> None:
        # ``sys.dont_write_bytecode = True`` in bound code sets the module's attribute, as unbound code would.
        _setattr(_get(self, "_live"), name, value)

    def __delattr__(self, name: str, _delattr=delattr, _get=object.__getattribute__) -> None:
        _delattr(_get(self, "_live"), name)

    def __repr__(self) -> str:
        tools = sorted(name for name in self.__dict__ if name != "_live")
        return f"<bound {object.__getattribute__(self, '_live').__name__}: {', '.join(tools)}>"


def attribute_chains(source: str) -> dict[str, set[tuple[str, ...]]]:
    """For each name, the attribute chains the source reads from it: ``np.random.default_rng`` gives
    ``{"np": {("random", "default_rng"), ("random",)}}``. Scopes are not told apart: binding a
    chain a local variable happens to share costs nothing."""
    chains: dict[str, set[tuple[str, ...]]] = {}
    for node in ast.walk(ast.parse(source)):
        path: list[str] = []
        while isinstance(node, ast.Attribute):
            path.append(node.attr)
            node = node.value
        if path and isinstance(node, ast.Name):
            chains.setdefault(node.id, set()).add(tuple(reversed(path)))
    return chains


def bound_module(module: types.ModuleType, chains: set[tuple[str, ...]]) -> BoundModule:
    """``module`` with every tool the chains name resolved now (nested modules bound in turn)."""
    tools: dict[str, Any] = {}
    for first in {chain[0] for chain in chains if chain}:
        value = getattr(module, first, _MISSING)
        if isinstance(value, types.ModuleType):
            tools[first] = bound_module(value, {chain[1:] for chain in chains if chain and chain[0] == first})
        elif value is not _MISSING and callable(value):
            tools[first] = value
    return BoundModule(module, tools)


@functools.lru_cache(maxsize=None)
def file_chains(path: str) -> dict[str, frozenset[tuple[str, ...]]]:
    """``attribute_chains`` of a file, parsed once per process: the worker's own files are parsed in the
    zygote (``grader.sandbox.child`` asks at import), so a worker's private copies cost no parse."""
    with open(path, encoding="utf-8") as handle:
        return {name: frozenset(chains) for name, chains in attribute_chains(handle.read()).items()}


def bind_namespace(namespace: dict, source: str | None = None, path: str | None = None) -> list[BoundModule]:
    """Replace, in place, every module in ``namespace`` that the source (text, or the file at ``path``)
    reads attributes of by its bound form; returns the bound modules (for :class:`Guard`)."""
    made = []
    for name, chains in (file_chains(path) if path else attribute_chains(source)).items():
        value = namespace.get(name)
        if isinstance(value, types.ModuleType):
            namespace[name] = bound_module(value, chains)
            made.append(namespace[name])
    return made


def private_builtins() -> dict:
    """A copy of the builtins as they are now: code whose globals hold it never sees a replaced builtin."""
    return dict(vars(builtins))


def private_copies(module: types.ModuleType | BoundModule, names: list[str]) -> dict[str, types.FunctionType]:
    """Copies of the module's functions ``names`` (and of every function of that module they call),
    over a snapshot of its globals with its tools bound and private builtins.

    Reassigning the module's names, a function's ``__code__``, or the tools its source refers to
    after the copy was made does not reach the copies.
    """
    if isinstance(module, BoundModule):  # called from a private copy, whose modules are bound
        module = object.__getattribute__(module, "_live")
    namespace = dict(vars(module))
    namespace["__builtins__"] = private_builtins()
    bind_namespace(namespace, path=module.__file__)
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            namespace[name] = types.FunctionType(value.__code__, namespace, value.__name__,
                                                 value.__defaults__, value.__closure__)
    return {name: namespace[name] for name in names}


# ---- probe files ------------------------------------------------------------------------------

def _frozen(value: Any) -> Any:
    if type(value) is dict:
        return types.MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if type(value) is list:
        return tuple(_frozen(item) for item in value)
    if type(value) is set:
        return frozenset(value)
    return value


class Guard:
    """Tells whether anything a probe file's code reads was changed since it was bound, and undoes it.

    Tracked: the file's globals, its bound modules, the builtins it names and its module-level
    classes. Student code handed a probe's function or class can reach these through
    ``__globals__``, ``__builtins__`` or ``type(obj)``; the dispatcher checks after every probe.
    """

    def __init__(self, spaces: list[tuple[Any, dict, bool]]) -> None:
        # (the dict or class, the snapshot, whether only the snapshot's keys are tracked)
        self._spaces = [(space, dict(snapshot), partial) for space, snapshot, partial in spaces]

    def intact(self, _type=type, _dict=dict, _vars=vars, _len=len, _missing=_MISSING) -> bool:
        """Every tracked name still holds what it held when bound (identity, never ``==``, which a
        replacement could answer), and no name was added to a tracked namespace."""
        for space, snapshot, partial in self._spaces:
            current = space if _type(space) is _dict else _vars(space)
            if not partial and _len(current) != _len(snapshot):
                return False
            for key, value in snapshot.items():
                if current.get(key, _missing) is not value:
                    return False
        return True

    def restore(self) -> None:
        for space, snapshot, partial in self._spaces:
            if type(space) is dict:
                if not partial:
                    space.clear()
                space.update(snapshot)
                continue
            for key in [k for k in vars(space) if k not in snapshot and not partial]:
                type.__delattr__(space, key)
            for key, value in snapshot.items():
                if key not in ("__dict__", "__weakref__") and vars(space).get(key, _MISSING) is not value:
                    type.__setattr__(space, key, value)


class ProbeFile:
    """A loaded, bound probe file: ``functions`` is its ``PROBES``; ``guard`` watches its state."""

    def __init__(self, module: types.ModuleType, guard: Guard) -> None:
        self.module, self.guard = module, guard
        self.functions: dict[str, Callable[..., Any]] = dict(module.PROBES)


def load_probes(path, name: str = "grader_probes") -> ProbeFile:
    """Execute a probe file with private builtins, then bind the tools it refers to and freeze its state.

    Raises whatever executing the file raises (the authoring check reports it).
    """
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    namespace = vars(module)
    namespace["__builtins__"] = private_builtins()  # before any function exists: each keeps its builtins
    spec.loader.exec_module(module)
    bound = bind_namespace(namespace, source)
    for key, value in list(namespace.items()):
        if not key.startswith("__"):
            namespace[key] = _frozen(value)
    named = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    privates = namespace["__builtins__"]
    spaces: list[tuple[Any, dict, bool]] = [(namespace, namespace, False)]
    spaces += [(vars(b), vars(b), False) for b in _all_bound(bound)]
    spaces.append((privates, {k: privates[k] for k in named if k in privates}, True))
    spaces += [(value, dict(vars(value)), False) for value in namespace.values()
               if isinstance(value, type) and value.__module__ == name]
    # A property added to the class would win over a bound module's own attributes.
    spaces.append((BoundModule, dict(vars(BoundModule)), False))
    return ProbeFile(module, Guard(spaces))


def _all_bound(bound: list[BoundModule]) -> list[BoundModule]:
    found = []
    for item in bound:
        found.append(item)
        found += _all_bound([v for v in vars(item).values() if isinstance(v, BoundModule)])
    return found
