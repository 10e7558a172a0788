"""grader.binding: tools bound when code is loaded, frozen probe state, and the guard that sees it changed."""
import builtins
import sys
import textwrap
import types

import numpy as np
import pytest

from grader.authoring import late_imports
from grader.binding import BoundModule, attribute_chains, bound_module, load_probes, private_copies

PROBE_FILE = '''
import gc
import sys

import numpy as np

SHAPES = {"row": [1, 3]}


class Tap:
    visits = 0


def measure(mod, x):
    gc.disable()
    try:
        return {"ndim": int(np.ndim(x)), "frame": sys._getframe(0).f_code.co_name, "is": isinstance(x, list),
                "shape": list(SHAPES["row"])}
    finally:
        gc.enable()


PROBES = {"measure": measure}
'''


@pytest.fixture
def probe_file(tmp_path):
    path = tmp_path / "probes.py"
    path.write_text(PROBE_FILE, encoding="utf-8")
    return load_probes(path, "binding_test_probes")


def test_chains_are_read_from_the_source():
    chains = attribute_chains("import numpy as np\nnp.random.default_rng(1)\nx.y\nos.path.join('a')\n")
    assert chains["np"] == {("random",), ("random", "default_rng")}
    assert ("path", "join") in chains["os"] and ("y",) in chains["x"]


def test_a_bound_module_keeps_its_tools_and_reads_data_live(monkeypatch):
    fake = types.ModuleType("fake")
    fake.tool, fake.data = len, 1
    bound = bound_module(fake, {("tool",), ("data",)})
    monkeypatch.setattr(fake, "tool", lambda x: -1)
    fake.data = 2
    assert bound.tool is len and bound.data == 2
    bound.data = 3  # a store reaches the module, as unbound code's would
    assert fake.data == 3


def test_probes_measure_with_the_tools_of_load_time(probe_file, monkeypatch):
    monkeypatch.setattr(np, "ndim", lambda x: 99)
    monkeypatch.setattr(sys, "_getframe", lambda depth=0: None)
    assert probe_file.functions["measure"](None, [1, 2]) == {"ndim": 1, "frame": "measure", "is": True,
                                                             "shape": [1, 3]}
    assert isinstance(vars(probe_file.module)["np"], BoundModule)
    # Builtins: a private copy (replacing builtins.isinstance here would break pytest itself; the
    # end-to-end test in test_probe_integrity.py replaces it in a worker).
    privates = probe_file.functions["measure"].__builtins__
    assert privates is not vars(builtins) and privates["isinstance"] is isinstance


def test_probe_state_is_frozen_and_the_guard_undoes_changes(probe_file):
    namespace = vars(probe_file.module)
    with pytest.raises(TypeError):
        namespace["SHAPES"]["row"] = [9]
    assert namespace["SHAPES"]["row"] == (1, 3) and probe_file.guard.intact()
    for change in (lambda: namespace.__setitem__("isinstance", lambda *a: False),  # shadows the builtin
                   lambda: namespace["__builtins__"].__setitem__("isinstance", lambda *a: 0),
                   lambda: object.__setattr__(namespace["np"], "ndim", lambda x: 0),
                   lambda: setattr(namespace["Tap"], "visits", 5),
                   lambda: namespace.__setitem__("SHAPES", {"row": [9]})):
        change()
        assert not probe_file.guard.intact()
        probe_file.guard.restore()
        assert probe_file.guard.intact()
    assert probe_file.functions["measure"](None, [1, 2])["shape"] == [1, 3]


def test_private_copies_do_not_see_later_patches(monkeypatch):
    from grader import wire

    frame = private_copies(wire, ["frame"])["frame"]
    expected = wire.frame({"a": np.arange(2.0)})
    monkeypatch.setattr(wire, "encode_value", lambda value: {"forged": True})
    monkeypatch.setattr(np, "ascontiguousarray", lambda value: np.zeros(2))
    assert frame({"a": np.arange(2.0)}) == expected


def test_imports_inside_probe_functions_are_named(tmp_path):
    path = tmp_path / "probes.py"
    path.write_text(textwrap.dedent('''
        import numpy as np

        def probe(mod):
            import weakref
            return weakref.ref
    '''), encoding="utf-8")
    [problem] = late_imports(path)
    assert ":5: import inside a function" in problem
