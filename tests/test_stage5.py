"""Stage 5 (steps 53-60): files a submission writes are read as data only, CuPy is optional, a runaway
graph stops at the memory limit, and the book's own package is graded at full marks."""
import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book import book_file, book_package_files, book_zip, requires_book
from conftest import ROOT
from grader.assignment import load_assignment
from grader.checks import CheckFailure, check_npz
from grader.grading import grade_files
from grader.npz import MAX_ARRAY_BYTES, NpzError, read_npz, write_npz

STAGE5 = "stage5_deep_learning"
REFERENCE = ROOT / "reference" / "dezero_stage5.py"
VARIANTS = ROOT / "assignments" / STAGE5 / "variants"

try:
    import cupy  # noqa: F401 - only whether it imports matters
    HAS_CUPY = True
except ImportError:
    HAS_CUPY = False

requires_cupy = pytest.mark.skipif(not HAS_CUPY, reason="CuPy is not installed here (no GPU): the GPU checks of "
                                                        "stage 5 run only on a machine with CuPy and a GPU")


@pytest.fixture(scope="module")
def stage5():
    return load_assignment(STAGE5, repo_root=ROOT)


def as_blob(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).copy()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# ---- an .npz from a submission is data ----------------------------------------------------------

def test_a_saved_npz_is_read_back_by_name_with_its_values():
    weights = {"l1/W": np.arange(6, dtype=np.float32).reshape(2, 3), "block/fc/b": np.array([1.5, -2.0])}
    arrays = read_npz(as_blob(npz_bytes(**weights)))
    assert set(arrays) == set(weights) and all(np.array_equal(arrays[k], v) for k, v in weights.items())
    again = read_npz(write_npz(arrays))  # what the reference is given to load: written by the kit
    assert set(again) == set(weights) and all(np.array_equal(again[k], v) for k, v in weights.items())


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = npz_bytes(W=np.array([Boom()], dtype=object))
    with pytest.raises(NpzError, match="not a plain numeric"):
        read_npz(as_blob(payload))
    assert not marker.exists()


@pytest.mark.parametrize("members, words", [
    ({"../evil.npy": np.zeros(2)}, "not a parameter"),
    ({"W.txt": None}, "not a parameter"),
    ({"a b.npy": np.zeros(2)}, "not a parameter"),
    ({"W.npy": "text"}, "not a plain numeric"),
])
def test_members_that_are_not_parameter_arrays_are_refused(members, words):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in members.items():
            if isinstance(value, np.ndarray):
                member = io.BytesIO()
                np.lib.format.write_array(member, value)
                archive.writestr(name, member.getvalue())
            else:
                archive.writestr(name, b"not an array" if value is None else value.encode())
    with pytest.raises(NpzError, match=words):
        read_npz(as_blob(buffer.getvalue()))


def test_a_compressed_bomb_is_refused_before_it_is_inflated():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("W.npy", b"\0" * (MAX_ARRAY_BYTES + 1))
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(NpzError, match="MiB"):
        read_npz(as_blob(buffer.getvalue()))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.builds(lambda data, cut: npz_bytes(W=np.zeros(3))[:cut] + data,
                                             st.binary(max_size=50), st.integers(0, 400)))
def test_any_bytes_are_read_or_refused_with_npz_error(data):
    try:
        arrays = read_npz(as_blob(data))
    except NpzError:
        return
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "biufc" for v in arrays.values())


@pytest.mark.parametrize("blob", [b"x" * 10, np.zeros(3), np.zeros((2, 2), dtype=np.uint8), "text", None])
def test_check_npz_turns_every_bad_file_into_a_failed_check(blob):
    with pytest.raises(CheckFailure) as failure:
        check_npz(blob, {"W": (2,)}, "the file")
    assert "the file" in str(failure.value)


def test_check_npz_names_the_missing_and_extra_arrays_only_as_parameter_paths():
    blob = as_blob(npz_bytes(**{"W": np.zeros(2), "b": np.zeros(2)}))
    with pytest.raises(CheckFailure) as failure:
        check_npz(blob, {"l1/W": (2,), "l1/b": (2,)}, "the file")
    assert "['W', 'b']" in str(failure.value) and "['l1/W', 'l1/b']" in str(failure.value)
    with pytest.raises(CheckFailure, match="shape"):
        check_npz(blob, {"W": (3,), "b": (2,)}, "the file")
    assert set(check_npz(blob, {"W": (2,), "b": (2,)}, "the file")) == {"W", "b"}


# ---- grading: the reference, CuPy-ready code, a runaway graph -----------------------------------

@pytest.mark.e2e
def test_reference_full_and_a_submission_written_for_cupy_full_without_a_gpu(stage5, tmp_path):
    # The variant tries `import cupy` and falls back to NumPy, as the book's dezero/cuda.py does: in the
    # sandbox the import fails as a plain ImportError, so it is graded on NumPy like any other file.
    written_for_cupy = VARIANTS / "correct" / "written_for_cupy.py"
    assert "import cupy" in written_for_cupy.read_text()
    results = grade_files(stage5, [REFERENCE, written_for_cupy])
    for result in results:
        assert result["score"] == result["max_score"], [t["output"] for t in result["tests"] if t["output"]]


# An RNN that keeps a history buffer and doubles it at every step. The buffers are np.zeros, whose pages
# the kernel hands out untouched: the test measures what the memory limit does, not how fast this
# machine can fill pages (under load, far slower than the probes' one-second deadlines allow).
RUNAWAY = '''
        self.kept = 2 * getattr(self, "kept", 1 << 19)  # 8 MiB at the first step, then twice as much each time
        self.history = getattr(self, "history", []) + [np.zeros(self.kept)]
'''


@pytest.mark.e2e
def test_a_runaway_rnn_stops_at_the_memory_limit_with_a_clear_message(stage5, tmp_path):
    source = REFERENCE.read_text(encoding="utf-8")
    anchor = "        if self.h is None:\n            h_new = tanh(self.x2h(x))"
    assert anchor in source
    runaway = tmp_path / "dezero_stage5.py"
    runaway.write_text(source.replace(anchor, RUNAWAY.strip("\n") + "\n" + anchor), encoding="utf-8")
    [result] = grade_files(stage5, [runaway])
    by_name = {t["tags"][-1].split("[")[0]: t for t in result["tests"]}
    failed = sorted(name for name, t in by_name.items() if t["status"] != "passed")
    # Only tests that run the RNN long enough to pass the limit fail; the rest is graded as usual.
    assert "test_simple_rnn_learns_the_sine_wave" in failed, failed
    assert set(failed) <= {"test_gradients_flow_back_through_time", "test_rnn_matches_its_equations",
                           "test_simple_rnn_learns_the_sine_wave"}, failed
    for name in failed:
        output = by_name[name]["output"]
        assert "MemoryError" in output or "out of memory" in output, output
        assert "did not finish" not in output and "time limit" not in output, output


@requires_cupy
@pytest.mark.gpu
def test_the_reference_on_cupy_arrays_matches_numpy():
    sys.path.insert(0, str(REFERENCE.parent))
    try:
        import dezero_stage5 as dz
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(5)
    x, W, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    on_cpu = dz.conv2d(x, W, b, 2, 1).data
    on_gpu = dz.conv2d(cupy.asarray(x), cupy.asarray(W), cupy.asarray(b), 2, 1).data
    assert isinstance(on_gpu, cupy.ndarray) and np.allclose(cupy.asnumpy(on_gpu), on_cpu)
    pooled = dz.pooling(cupy.asarray(x), 2, 2).data
    assert np.allclose(cupy.asnumpy(pooled), dz.pooling(x, 2, 2).data)


# ---- the book's own code ------------------------------------------------------------------------

# Run in a child process: import the book's package from a folder, gather one namespace from the
# modules [load] lists (earlier modules winning a clash, as the worker does), and run every public and
# hidden test with the probes on that namespace against the reference.
THROUGH_MODULES = """
import importlib, json, sys, types
from pathlib import Path

package, root = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, package)
import matplotlib
matplotlib.use("Agg")
from grader import wire
from grader.assignment import load_assignment
from grader.compat import tomllib
from grader.handles import ReferenceHandle, load_module

assignment = load_assignment("stage5_deep_learning", repo_root=root)
modules = tomllib.loads((assignment.root / "assignment.toml").read_text())["load"]["modules"]
namespace = types.ModuleType("dezero_namespace")
for name in reversed(modules):
    for key, value in vars(importlib.import_module(name)).items():
        if not key.startswith("_"):
            setattr(namespace, key, value)
probes = load_module(assignment.probes, "book_probes").PROBES
reference = ReferenceHandle.for_assignment(assignment)


class Book:
    def probe(self, name, **args):
        args = wire.decode_value(json.loads(json.dumps(wire.encode_value(args))))
        return wire.decode_value(json.loads(json.dumps(wire.encode_value(probes[name](namespace, **args)))))


failed = []
for folder in (assignment.public_tests, assignment.hidden_tests):
    for path in sorted(folder.glob("test_*.py")):
        tests = load_module(path, "book_" + path.stem)
        for name in sorted(n for n in dir(tests) if n.startswith("test_")):
            try:
                getattr(tests, name)(Book(), reference)
            except Exception as exc:
                failed.append(f"{name}: {exc}")
kinds = {name: type(getattr(namespace, name)).__name__ for name in ("Linear", "Conv2d", "conv2d", "pooling")}
layers = {name: issubclass(getattr(namespace, name), namespace.Layer) for name in ("Linear", "Conv2d")}
print(json.dumps({"failed": failed, "kinds": kinds, "layers": layers}))
"""


@requires_book
@pytest.mark.e2e
def test_the_books_package_through_the_load_modules_passes_every_test(tmp_path):
    """[load] modules, in their order, give the names the probes mean (Linear and Conv2d are the layers,
    not functions.py's or functions_conv.py's Function classes of the same names), and the book's code
    seen through them passes every public and hidden test."""
    import json

    for path, data in book_package_files(prefix="").items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    done = subprocess.run([sys.executable, "-c", THROUGH_MODULES, str(tmp_path), str(ROOT)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["layers"] == {"Linear": True, "Conv2d": True}, found
    assert found["kinds"]["conv2d"] == found["kinds"]["pooling"] == "function", found
    assert found["failed"] == [], found["failed"]


@requires_book
@pytest.mark.e2e
def test_the_books_package_and_its_repository_get_full_marks(stage5, tmp_path):
    package = book_zip(tmp_path / "book.zip")
    repository = book_zip(tmp_path / "repository.zip", steps=(59, 60))
    step60 = tmp_path / "step60.py"
    step60.write_bytes(book_file("steps/step60.py"))
    results = grade_files(stage5, [package, repository, step60])
    for result in results[:2]:
        assert result["score"] == result["max_score"], [t["output"] for t in result["tests"] if t["output"]]
    # A step file alone imports a package it does not contain: one line says to submit the folder with it.
    said = [line for line in results[2]["output"].splitlines() if "imports dezero" in line]
    assert results[2]["score"] == 0 and len(said) == 1 and "submit the dezero folder" in said[0], results[2]["output"]


# ---- the handout and the autograder zip ----------------------------------------------------------

def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_stage5_handout_and_gradescope_zip_build(tmp_path):
    done = cli("handout", "-a", STAGE5, "-o", tmp_path / "h.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "h.zip").namelist()
    assert {"dezero_stage5_handout/dezero_stage5.py", "dezero_stage5_handout/dezero_stage5.ipynb"} <= set(names)
    assert not any(part in name for name in names for part in ("/hidden/", "/variants/", "reference/", "mutants.toml"))
    done = cli("gradescope", "build", "-a", STAGE5, "-o", tmp_path / "a.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "kit/reference/dezero_stage5.py" in names and f"kit/assignments/{STAGE5}/probes.py" in names
