"""Package submissions and what a submission may import (contract 1; issue 22 item 3, issue 23 item 3).

The worker-level tests run a small package of their own ("shapes", not DeZero: nothing here is about
one assignment) in the sandbox and in the portable runner, which a student's own check uses and must
behave the same. The grading-level tests use stage 1 and 2 and the book's own package.
"""
import json
from pathlib import Path

import pytest

from book import book_zip, requires_book
from conftest import EXAMPLES, ROOT
from grader.assignment import load_assignment
from grader.grading import grade_files
from grader.portable import PortableWorker, PortableZygote
from grader.sandbox import Limits, Worker, Zygote
from grader.sandbox.interpreter import prepare
from grader.submission import PackageShape, find_package, load_submission

PROBES = '''import sys


def names(mod, wanted):
    """What the probes' namespace holds under each name: its type and its KIND or its value."""
    found = {}
    for name in wanted:
        value = getattr(mod, name, None)
        found[name] = [type(value).__name__, str(getattr(value, "KIND", value if isinstance(value, str) else ""))]
    return found


def call(mod, name, args):
    return getattr(mod, name)(*args)


def worker(mod):
    """What the worker's process looks like to the student's code."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    font_manager = sys.modules.get("matplotlib.font_manager")
    return {"argv": list(sys.argv), "matplotlib": "matplotlib" in sys.modules, "PIL": "PIL" in sys.modules,
            "backend": pyplot.get_backend().lower() if pyplot else None,
            "marker": getattr(getattr(font_manager, "fontManager", None), "marker", None)}


PROBES = {probe.__name__: probe for probe in (names, call, worker)}
'''
INIT = '''"""shapes: area in core, perimeter in extra."""
from shapes.core import area
import shapes.extra
KIND = "init"
'''
CORE = '''def area(w, h):
    return w * h


KIND = "core"
'''
EXTRA = '''def perimeter(w, h):
    return 2 * (w + h)


def _helper():
    return 0


KIND = "extra"
'''


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    path = tmp_path_factory.mktemp("probes") / "probes.py"
    path.write_text(PROBES, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def font_list(tmp_path_factory):
    """matplotlib's own font list, marked: a worker that reads it (not builds its own) shows the mark."""
    runtime = prepare(None, ("matplotlib",))
    data = json.loads(Path(runtime.font_cache).read_text(encoding="utf-8"))
    data["marker"] = "read, not built"
    path = tmp_path_factory.mktemp("fonts") / Path(runtime.font_cache).name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["sandbox", "portable"])
def runner(request, probes, font_list):
    """Starts workers of one kind; both must load and refuse alike."""
    runtime = prepare(None, ("matplotlib", "mpl_toolkits", "PIL"))
    runtime = type(runtime)(**{**runtime.__dict__, "font_cache": str(font_list)})
    zygote = Zygote(str(probes), [], runtime) if request.param == "sandbox" else PortableZygote(str(probes), runtime)
    kind = Worker if request.param == "sandbox" else PortableWorker
    started = []

    def start(cells=None, package=None, setup=()):
        worker = kind(zygote, 0, Limits())
        started.append(worker)
        worker.launch(cells or [], False, package, setup)
        return worker.wait_ready(30), worker

    yield start
    for worker in started:
        worker.close()
    zygote.close()


def shapes(modules, **files):
    sources = {"shapes/__init__.py": INIT, "shapes/core.py": CORE, "shapes/extra.py": EXTRA, **files}
    return {"name": "shapes", "modules": modules, "files": {k: v for k, v in sources.items() if v is not None}}


def ask(worker, probe, **args):
    reply = worker.call(probe, args, 30)
    assert reply["ok"], reply
    return reply["value"]


# ---- the namespace the probes see ------------------------------------------------------------------

def test_probes_see_one_namespace_of_the_modules_public_names_earlier_modules_winning(runner):
    ready, worker = runner(package=shapes(["shapes", "shapes.extra"]))
    assert ready["load_errors"] == []
    found = ask(worker, "names", wanted=["area", "perimeter", "KIND", "_helper", "extra"])
    assert found["area"][0] == found["perimeter"][0] == "function"
    assert found["KIND"] == ["str", "init"]          # __init__ is listed first: its KIND wins over extra's
    assert found["_helper"][0] == "NoneType"          # not a public name
    assert ask(worker, "call", name="perimeter", args=[2, 3]) == 10


def test_a_module_listed_first_wins_and_all_limits_its_names(runner):
    extra = EXTRA + '__all__ = ["perimeter"]\n'
    ready, worker = runner(package=shapes(["shapes.extra", "shapes"], **{"shapes/extra.py": extra}))
    assert ready["load_errors"] == []
    found = ask(worker, "names", wanted=["perimeter", "KIND", "area"])
    assert found["KIND"] == ["str", "init"] and found["area"][0] == "function"  # extra exports perimeter only


def test_the_dotted_form_gives_that_module_itself(runner):
    ready, worker = runner(package=shapes(["shapes.extra"]))
    found = ask(worker, "names", wanted=["KIND", "_helper", "area"])
    assert found["KIND"] == ["str", "extra"] and found["_helper"][0] == "function" and found["area"][0] == "NoneType"


# ---- every module loads leniently, and names its own file and line (issue 23 item 3) -----------------

def test_a_module_that_raises_at_its_end_keeps_its_definitions_and_names_its_own_line(runner):
    extra = EXTRA + 'x = perimeter(1, 1)\nraise RuntimeError("a demo line")\n'
    init = INIT + "AFTER = True\n"
    ready, worker = runner(package=shapes(["shapes"], **{"shapes/extra.py": extra, "shapes/__init__.py": init}))
    [error] = ready["load_errors"]
    assert error["type"] == "RuntimeError" and error["file"] == "shapes/extra.py"
    assert error["line"] == extra.splitlines().index('raise RuntimeError("a demo line")') + 1
    found = ask(worker, "names", wanted=["AFTER", "area"])
    assert found["AFTER"][0] == "bool" and found["area"][0] == "function"  # __init__ went on after the import
    assert ready["defined"]  # so the trusted side grades what was defined


def test_a_syntax_error_in_one_module_names_that_file_and_line(runner):
    ready, worker = runner(package=shapes(["shapes"], **{"shapes/core.py": "def area(w, h)\n    return w * h\n"}))
    first = ready["load_errors"][0]
    assert (first["type"], first["file"], first["line"]) == ("SyntaxError", "shapes/core.py", 1)
    # __init__'s own import of the broken module is the next error, in its file, and extra still loaded.
    assert ready["load_errors"][1]["file"] == "shapes/__init__.py"


# ---- what a submission may import ------------------------------------------------------------------

def test_a_package_the_assignment_does_not_allow_fails_in_one_line_as_module_not_found(runner):
    ready, _ = runner(cells=["import json, numpy\nimport PIL\nimport torch\n"])
    [error] = ready["load_errors"]
    assert error["type"] == "ModuleNotFoundError" and error["line"] == 3
    assert "'torch' is not available for grading" in error["message"] and "PIL" in error["message"]


def test_code_that_tries_an_import_and_falls_back_goes_on(runner):
    source = '''import importlib.util
try:
    import cupy as xp
except ImportError:
    import numpy as xp
FOUND = importlib.util.find_spec("cupy") is None
def double(x):
    return float(xp.asarray(x) * 2)
'''
    ready, worker = runner(cells=[source])
    assert ready["load_errors"] == []
    assert ask(worker, "call", name="double", args=[1.5]) == 3.0
    assert ask(worker, "names", wanted=["FOUND"])["FOUND"][0] == "bool"


def test_allowed_packages_cost_nothing_unused_and_import_their_own_dependencies(runner):
    _, worker = runner(cells=["import numpy as np\n"])
    state = ask(worker, "worker")
    assert state["matplotlib"] is False and state["PIL"] is False  # nothing imported ahead
    plot = '''import matplotlib.pyplot as plt
from mpl_toolkits.mplot3d import Axes3D
from PIL import Image
import io
plt.plot([1, 2], [3, 4])
plt.savefig(io.BytesIO(), format="png")
Image.new("RGB", (2, 2)).save(io.BytesIO(), format="png")
plt.show()
'''
    ready, worker = runner(cells=[plot])
    assert ready["load_errors"] == [] and b"show" not in bytes(worker.output)  # plt.show() returned, silently
    state = ask(worker, "worker")
    assert state["backend"] == "agg" and state["matplotlib"] and state["PIL"]
    # What the allowed packages do for the student (exec, frames, ctypes, their own files) is no sign of the watch.
    assert worker.signs == []


def test_matplotlib_reads_the_font_list_built_once_instead_of_scanning_fonts(runner):
    ready, worker = runner(cells=["import matplotlib.pyplot\n"])
    assert ask(worker, "worker")["marker"] == "read, not built"


def test_the_student_sees_argv_as_if_they_ran_their_file(runner):
    _, worker = runner(cells=["x = 1\n"])
    assert ask(worker, "worker")["argv"] == ["submission.py"]


# ---- choosing the package in a submission ----------------------------------------------------------

def test_a_plain_package_name_finds_the_shallowest_package_folder():
    shape = PackageShape.configured("shapes", ["shapes", "shapes.extra"])
    files = {"repo/shapes/__init__.py": b"", "repo/shapes/extra.py": b"x = 1", "repo/deep/shapes/__init__.py": b"",
             "repo/steps/step1.py": b""}
    assert set(find_package(files, shape)) == {"shapes/__init__.py", "shapes/extra.py"}
    assert find_package({"shapes/extra.py": b"x"}, shape) is None  # no __init__.py: not a package
    assert PackageShape.configured("dezero.core_simple") == PackageShape("dezero", ("dezero.core_simple",))


def test_every_way_in_reads_the_package_with_its_modules(tmp_path):
    """grade, check and batch all pass the assignment's package shape on, modules included."""
    import dataclasses

    from grader.batch import load_entry
    from grader.grading import load_or_error
    from grader.lms.layouts import Entry

    stage2 = load_assignment("stage2_natural_code", repo_root=ROOT)
    shaped = dataclasses.replace(stage2, package=PackageShape.configured("shapes", ["shapes", "shapes.extra"]))
    files = {f"hw/{name}": source.encode() for name, source in shapes([])["files"].items()}
    from_batch = load_entry(Entry(student="kim", name="kim", files=files), shaped)
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(source)
    from_grade = load_or_error(tmp_path / "hw", shaped)
    for submission in (from_batch, from_grade):
        assert submission.package["modules"] == ["shapes", "shapes.extra"] and submission.chosen == "shapes/__init__.py"


@pytest.mark.parametrize("package, modules, words", [
    ("dezero.core_simple", ["dezero"], "names a module, and load.modules is set"),
    ("dezero", ["numpy"], "modules of the package 'dezero'"),
    ("dezero-x", None, "must name a package"),
])
def test_a_bad_package_setting_is_one_line(package, modules, words):
    with pytest.raises(ValueError, match=words):
        PackageShape.configured(package, modules)


# ---- grading: the one-line messages ----------------------------------------------------------------

@pytest.fixture(scope="module")
def stage2():
    return load_assignment("stage2_natural_code", repo_root=ROOT)


@pytest.mark.e2e
def test_import_errors_say_what_to_do_in_one_line(tmp_path, assignment, stage2):
    correct = (EXAMPLES / "correct.py").read_text(encoding="utf-8")
    files = {"step24.py": "import numpy as np\nfrom dezero import Variable\nx = Variable(np.array(1.0))\n",
             "torch.py": "import torch\n" + correct,
             "lib.py": "from numpy.lib.arraysetops import unique\n" + correct,
             "scalar.py": correct + "\nimport numpy as np\nvalue = np.asscalar(np.ones(1))\n",
             "tested.py": "import unittest\nimport pytest\n" + correct}
    for name, source in files.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    [step] = grade_files(stage2, [tmp_path / "step24.py"])
    step24, torch, lib, scalar, tested = [step] + grade_files(assignment, [tmp_path / n for n in list(files)[1:]])
    assert step["score"] == 0 and _one_line(step, "step24.py imports dezero, which was not submitted with it: "
                                                  "submit the dezero folder together with this file")
    assert torch["score"] == 0 and _one_line(torch, "torch is not available for grading: a submission may import "
                                                    "numpy, the standard library, matplotlib, mpl_toolkits, PIL, pytest")
    import numpy
    assert lib["score"] == 0 and _one_line(lib, f"numpy.lib.arraysetops was removed in NumPy 2.0 (the grader runs "
                                                f"NumPy {numpy.__version__}): import what you used from numpy itself")
    # Defined before the removed name's line: graded, with the warning saying what replaces it.
    assert scalar["score"] == scalar["max_score"] and _one_line(scalar, "np.asscalar was removed in NumPy 2.0")
    assert "use a.item()" in scalar["output"]
    assert tested["score"] == tested["max_score"], tested["output"]  # step 10: students import unittest/pytest


def _one_line(result, words):
    return len([line for line in result["output"].splitlines() if words in line]) == 1


def _book_like_package(folder: Path, core_tail: str = "") -> Path:
    """dezero/__init__.py + dezero/core_simple.py as the book lays them out at step 23 (the kit's reference)."""
    reference = (ROOT / "reference" / "dezero_stage2.py").read_text(encoding="utf-8")
    package = folder / "dezero"
    package.mkdir(parents=True)
    (package / "core_simple.py").write_text(reference.rstrip()[: -len("setup_variable()")] + core_tail, "utf-8")
    (package / "__init__.py").write_text("from dezero.core_simple import Variable, Function, setup_variable\n"
                                         "setup_variable()\n", "utf-8")
    return folder


@pytest.mark.e2e
def test_a_package_module_that_raises_at_its_end_is_graded_and_named(tmp_path, stage2):
    demo = "\nx = Variable(1.0)  # NG: raises on purpose, as the book's demo lines do\n"
    folder = _book_like_package(tmp_path / "pkg", demo)
    [result] = grade_files(stage2, [folder])
    assert result["score"] == result["max_score"] == 46, result["output"]
    line = len((folder / "dezero" / "core_simple.py").read_text().splitlines())
    assert _one_line(result, f"Warning: dezero/core_simple.py, line {line} `x = Variable(1.0)")


@pytest.mark.e2e
@requires_book
def test_the_books_complete_package_gets_full_marks_for_stage_2(tmp_path, stage2):
    """The book's final dezero/ (core.py, functions, layers, matplotlib and PIL at import, cuda's cupy
    fallback) holds stage 2's core_simple.py unchanged, and its __init__ never sets that one up."""
    archive = book_zip(tmp_path / "book.zip")
    submission = load_submission(archive, stage2.template_name, stage2.package)
    assert submission.package and "dezero/datasets.py" in submission.package["files"]
    [result] = grade_files(stage2, [archive])
    assert result["score"] == result["max_score"] == 46, [t["output"] for t in result["tests"] if t["output"]]
    assert result["extra_data"]["review"] == []  # loading matplotlib and PIL is no sign of the run-time watch
