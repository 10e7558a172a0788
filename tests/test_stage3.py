"""Stage 3 (steps 25-36): DOT text read by its structure, the book's own code graded like a single file,
a runaway graph stopped by the memory limit, and the stage through handout, batch, exports and uploads."""
import csv
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book import book_file, book_package_files, book_zip, requires_book
from conftest import ROOT
from grader import wire
from grader.assignment import load_assignment
from grader.compat import tomllib
from grader.grading import grade_files
from grader.handles import load_module
from grader.handout import build_handout
from grader.i18n import catalogue
from grader.replies import check_value
from grader.variants import find_variants
from lms_doubles import CanvasDouble

STAGE3 = "stage3_higher_order"
FOLDER = ROOT / "assignments" / STAGE3
REFERENCE = ROOT / "reference" / "dezero_stage3.py"
BUGGY = FOLDER / "variants" / "buggy"
PROBES = load_module(FOLDER / "probes.py", "stage3_probes_under_test")
read_dot = PROBES._read_dot


def cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def stage3():
    return load_assignment(STAGE3, repo_root=ROOT)


# ---- DOT text is graded on what it draws ------------------------------------------------------------

@st.composite
def graphs(draw):
    """A computational graph: leaves, then functions that each read earlier variables and make new ones."""
    variables = [draw(st.sampled_from(["x", "y", "", "(2,) float64", "w: () int64"])) for _ in range(draw(st.integers(1, 3)))]
    functions = []
    for number in range(draw(st.integers(1, 6))):
        inputs = draw(st.lists(st.integers(0, len(variables) - 1), min_size=1, max_size=3))
        outputs = list(range(len(variables), len(variables) + draw(st.integers(1, 2))))
        variables += [draw(st.sampled_from(["", "z", "t"])) for _ in outputs]
        functions.append((draw(st.sampled_from(["Add", "Mul", "Sin", "Split"])), inputs, outputs))
    return variables, functions


def book_style(graph, salt):
    """As the book writes it: numeric ids, every input's node line again, one edge per input use."""
    variables, functions = graph
    lines = ["digraph g {"]
    for number, (label, inputs, outputs) in reversed(list(enumerate(functions))):
        me = salt + 1000 + number
        lines.append(f'{me} [label="{label}", color=lightblue, style=filled, shape=box]')
        lines += [f"{salt + i} -> {me}" for i in inputs] + [f"{me} -> {salt + o}" for o in outputs]
        lines += [f'{salt + i} [label="{variables[i]}", color=orange, style=filled]' for i in inputs]
    lines += [f'{salt + o} [label="{variables[o]}", color=orange, style=filled]' for _, _, outs in functions for o in outs]
    return "\n".join(lines) + "\n}"


def other_style(graph, order):
    """Quoted names, node defaults, semicolons, comments, each node and edge once, in another order."""
    variables, functions = graph
    drawn = {i for _, inputs, outputs in functions for i in inputs + outputs}
    statements = [f'"v{i}" [label="{label}", color=orange];' for i, label in enumerate(variables) if i in drawn]
    for number, (label, inputs, outputs) in enumerate(functions):
        statements.append(f'"f{number}" [shape=box, label="{label}", color=lightblue]; // a function')
        statements += sorted({f'"v{i}" -> "f{number}";' for i in inputs}) + [f'"f{number}" -> "v{o}";' for o in outputs]
    statements = [statements[i] for i in order(len(statements))]
    return "strict digraph dezero {\n  rankdir=LR;\n  node [style=filled];\n  /* the graph */\n  " + \
        "\n  ".join(statements) + "\n}\n"


@settings(max_examples=150, deadline=None)
@given(graphs(), st.integers(1, 10_000), st.randoms(use_true_random=False))
def test_dot_text_is_read_the_same_whatever_its_ids_order_and_spelling(graph, salt, rng):
    def shuffled(n):
        order = list(range(n))
        rng.shuffle(order)
        return order

    book, other = read_dot(book_style(graph, salt)), read_dot(other_style(graph, shuffled))
    assert book["digraph"] and book == other
    variables, functions = graph
    assert book["functions"] == sorted(label for label, _, _ in functions) and book["functions_once"]
    assert book["edges"]["variable->function"] == sum(len(set(inputs)) for _, inputs, _ in functions)
    # One label changed, or one edge turned round, is another drawing.
    relabelled = (variables[:-1] + [variables[-1] + "'"], functions)
    assert read_dot(other_style(relabelled, shuffled))["structure"] != book["structure"]
    text = book_style(graph, salt)
    first_edge = next(line for line in text.splitlines() if " -> " in line)
    tail, head = first_edge.split(" -> ")
    assert read_dot(text.replace(first_edge, f"{head} -> {tail}"))["edges"] != book["edges"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.lists(st.sampled_from(
    ["digraph", "strict", "{", "}", "[", "]", "=", ",", ";", ":", "->", "--", '"a\\"b"', "<x>", "label", "shape",
     "box", "node", "edge", "subgraph", "/*", "*/", "//", "#", "\n", " ", "1", "2", "color"]), max_size=80).map(" ".join)))
def test_any_text_reads_as_plain_bounded_data(text):
    answer = read_dot(text)
    check_value(wire.decode_value(wire.encode_value(answer)))  # what crosses the wire, validated as a reply
    assert set(answer) == {"digraph", "variables", "functions", "looks", "edges", "functions_once", "structure"}


def test_a_graph_with_a_cycle_is_read_without_depths():
    answer = read_dot('digraph { a [shape=box]; a -> b; b -> a; }')
    assert answer["digraph"] and [row[0] for row in answer["structure"]] == [-1, -1]
    assert not read_dot("graph g { a -- b }")["digraph"]


# ---- the book's own package answers every stage-3 test like the reference ---------------------------

_BOOK_RUN = r'''
import importlib, json, sys, types, warnings
import matplotlib
matplotlib.use("Agg")
warnings.simplefilter("ignore")
folder, root, modules = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [folder, root]
from grader import wire
from grader.assignment import load_assignment
from grader.checks import CheckFailure
from grader.handles import ReferenceHandle, load_module
from grader.replies import check_value
from grader.variants import find_variants

assignment = load_assignment("stage3_higher_order", repo_root=__import__("pathlib").Path(root))
probes = load_module(assignment.probes, "book_probes").PROBES
book = types.SimpleNamespace()
for module in reversed([importlib.import_module(name) for name in modules]):  # earlier modules win a clash
    for name, value in vars(module).items():
        if not name.startswith("_"):
            setattr(book, name, value)


class Book:
    def probe(self, name, **args):
        value = wire.decode_value(wire.encode_value(probes[name](book, **wire.copy_value(args))))
        check_value(value)
        return value


reference = ReferenceHandle.for_assignment(assignment)
outcome = {}
for folder in (assignment.public_tests, assignment.hidden_tests):
    for path in sorted(folder.glob("test_*.py")):
        module = load_module(path, "book_" + path.stem)
        for name, test in vars(module).items():
            if name.startswith("test_") and callable(test):
                try:
                    test(Book(), reference)
                    outcome[name] = "passed"
                except CheckFailure as failure:
                    outcome[name] = str(failure)
                except Exception as error:
                    outcome[name] = f"{type(error).__name__}: {error}"
print(json.dumps(outcome))
'''


@requires_book
def test_the_books_package_answers_every_test_like_the_reference(tmp_path, stage3):
    """The book's complete dezero/ (it imports matplotlib and PIL at load), its three modules seen as one
    namespace ([load] modules, earlier modules winning): every public and hidden test passes. The zipped
    package graded in the sandbox is the test below, on once the loading branch is in; this one proves the
    probes and the tests today."""
    for name, data in book_package_files(prefix="").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    modules = json.dumps(tomllib.loads((FOLDER / "assignment.toml").read_text(encoding="utf-8"))["load"]["modules"])
    done = subprocess.run([sys.executable, "-c", _BOOK_RUN, str(tmp_path), str(ROOT), modules], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=dict(os.environ, HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(outcome) == {key for key in stage3.points}
    assert {name: text for name, text in outcome.items() if text != "passed"} == {}


@requires_book
@pytest.mark.e2e
def test_the_books_package_and_its_step_files_get_full_marks(tmp_path, stage3):
    """Requirement 1 in the sandbox: the zipped dezero/ and the repository (dezero/ beside steps 33 and 36)
    get full marks; a step file alone, which imports dezero without holding it, is told so in one line."""
    package = book_zip(tmp_path / "book.zip")
    repository = book_zip(tmp_path / "repository.zip", steps=(33, 36))
    alone = []
    for number in (33, 36):
        alone.append(tmp_path / f"step{number}.py")
        alone[-1].write_bytes(book_file(f"steps/step{number}.py"))
    results = grade_files(stage3, [package, repository, *alone])
    for result in results[:2]:
        assert result["score"] == result["max_score"], [t["output"] for t in result["tests"] if t["output"]]
    for result in results[2:]:
        said = [line for line in result["output"].splitlines() if "imports dezero" in line]
        assert result["score"] == 0 and len(said) == 1 and "submit the dezero folder" in said[0], result["output"]


# ---- memory: a runaway graph ends in a MemoryError, not a timeout -----------------------------------

RUNAWAY = """
x = Variable(np.linspace(-7, 7, 200_000))
y = sin(x)
y.backward(create_graph=True)
for i in range(200):
    gx = x.grad
    x.cleargrad()
    gx.backward(create_graph=True)
"""


@pytest.mark.e2e
def test_a_runaway_graph_is_stopped_by_the_memory_limit_with_its_line(tmp_path, stage3):
    """Step 34 on a fine grid, carried on to the 200th derivative: every order's graph keeps its arrays.
    As module-level lines (the step files' style) the graph stays held by the module's globals; run in a
    function, it is given back when the MemoryError unwinds."""
    reference = REFERENCE.read_text(encoding="utf-8")
    flat, in_function = tmp_path / "flat" / "dezero_stage3.py", tmp_path / "function" / "dezero_stage3.py"
    for path, demo in ((flat, RUNAWAY), (in_function, "\n\ndef demo():" + RUNAWAY.replace("\n", "\n    ") + "\n\ndemo()\n")):
        path.parent.mkdir()
        path.write_text(reference + "\n" + demo, encoding="utf-8")
    started = time.monotonic()
    held, released = grade_files(stage3, [flat, in_function])
    assert time.monotonic() - started < 60
    # The warning quotes the module-level line that raised: the last line of the loop, or the call demo().
    for result, path, raised in ((held, flat, "    gx.backward(create_graph=True)"), (released, in_function, "demo()")):
        number = path.read_text(encoding="utf-8").splitlines().index(raised) + 1
        assert "MemoryError" in result["output"] and f"line {number} " in result["output"], result["output"][:600]
        assert "did not finish" not in json.dumps(result)  # stopped by memory, never by a deadline
    # Held by the globals, the memory is the file's own: a test that then runs short says MemoryError.
    assert {t["output"].split(" raised ")[-1][:11] for t in held["tests"] if t["status"] != "passed"} <= {"MemoryError"}
    # Given back, the definitions before the demo are graded as usual.
    assert released["score"] == released["max_score"], [t["output"] for t in released["tests"] if t["output"]][:3]
    assert stage3.limits.memory_bytes == 512 << 20


# ---- hints: each buggy variant named where it fails, no correct variant ever hinted ---------------------

def _failed(result) -> dict:
    return {t["tags"][-1].split("[")[0]: t["output"] for t in result["tests"] if t["status"] != "passed"}


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_buggy_variant_gets_its_hint_and_no_correct_variant_a_hint(stage3, lang):
    """Contract 3 from the student's side: a buggy variant fails exactly what it declares, each failed test
    showing its hint; a correct variant gets full marks and no hint anywhere in its feedback."""
    said_hint = catalogue(lang)["hint.known_bug"].split("{")[0]  # every hint's feedback starts so: "hint: "
    variants = find_variants(stage3.root)
    for variant, result in zip(variants, grade_files(stage3, [v.path for v in variants], lang=lang)):
        failed = _failed(result)
        if variant.kind == "correct":
            assert result["score"] == result["max_score"] and not failed, (variant.label, failed)
            assert said_hint not in json.dumps(result, ensure_ascii=False), variant.label
            continue
        assert set(failed) == set(variant.expect_fail), (variant.label, sorted(failed))
        hint = dict(variant.hints)[lang]
        assert all(hint in output for output in failed.values()), (variant.label, failed)


# ---- handout, batch, exports and uploads ------------------------------------------------------------

@pytest.mark.e2e
def test_the_stage3_handout_checks_the_template_and_a_finished_file(tmp_path, stage3):
    handout = tmp_path / "handout.zip"
    build_handout(stage3, handout)
    names = zipfile.ZipFile(handout).namelist()
    assert "dezero_stage3_handout/dezero_stage3.ipynb" in names and not any("hidden" in n for n in names)
    zipfile.ZipFile(handout).extractall(tmp_path)
    folder = tmp_path / "dezero_stage3_handout"
    untouched = cli("check", "--lang", "en", cwd=folder)
    assert untouched.returncode == 1 and "Traceback" not in untouched.stdout + untouched.stderr
    assert "public tests: 0/7 passed" in untouched.stdout, untouched.stdout[-1500:]
    (folder / "dezero_stage3.py").write_bytes(REFERENCE.read_bytes())
    filled = cli("check", "--lang", "ko", cwd=folder)
    assert filled.returncode == 0 and "7개 중 7개 통과" in filled.stdout, filled.stdout[-1500:]
    (folder / "dezero_stage3.py").write_bytes((BUGGY / "tanh_one_minus_y.py").read_bytes())
    hinted = cli("check", "--lang", "en", cwd=folder)
    # The checker's table wraps long feedback: read the hint across its line breaks.
    assert "hint: Tanh.backward seems to use 1 - y" in " ".join(hinted.stdout.split()), hinted.stdout[-1500:]


CLASS = {  # (file, Canvas user id): a mix of correct, buggy and unfinished stage-3 work
    "reference": (REFERENCE, 3001), "tanh": (BUGGY / "tanh_one_minus_y.py", 3002),
    "graph": (BUGGY / "create_graph_ignored.py", 3003), "template": (ROOT / "student_template" / "dezero_stage3.py", 3004),
    "notebook": (FOLDER / "variants" / "correct" / "notebook_with_failing_demos.ipynb", 3005),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("stage3-class")
    archive = base / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for number, (name, (path, uid)) in enumerate(CLASS.items()):
            out.write(path, f"{name}student_{uid}_{70000 + number}_dezero_stage3{path.suffix}")
    done = cli("batch", "-a", STAGE3, archive, "-o", base / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    scores = {row["canvas_user_id"]: float(row["score"])
              for row in csv.DictReader(io.StringIO((base / "out" / "scores.csv").read_text(encoding="utf-8")))}
    return base, scores


@pytest.mark.e2e
def test_a_stage3_class_is_graded_as_the_selftest_grades_its_files(batch):
    _, scores = batch
    assert scores["3001"] == scores["3005"] == 66 and scores["3004"] == 0
    assert 0 < scores["3003"] < scores["3002"] < 66


@pytest.mark.e2e
def test_stage3_scores_export_to_canvas_and_csv(batch):
    base, scores = batch
    out = base / "out"
    done = cli("export", out, "--to", "canvas", "--lms-assignment", "77", "-o", base / "canvas.csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO((base / "canvas.csv").read_text(encoding="utf-8"))))
    assert table[0][-1] == f"{load_assignment(STAGE3, repo_root=ROOT).title} (77)" and table[1][-1] == "66"
    assert {row[1]: float(row[-1]) for row in table[2:]} == {str(k): v for k, v in scores.items()}
    assert cli("export", out, "--to", "csv", "-o", base / "plain.csv").returncode == 0
    plain = {row["canvas_user_id"]: float(row["final_score"]) for row in
             csv.DictReader(io.StringIO((base / "plain.csv").read_text(encoding="utf-8")))}
    assert plain == scores


@pytest.mark.e2e
def test_a_stage3_moodle_download_exports_its_worksheet(tmp_path):
    download = tmp_path / "moodle"
    for name, pid, path in (("Kim Minji", 4101, REFERENCE), ("Lee Jiho", 4102, BUGGY / "cos_backward_sign.py")):
        folder = download / f"{name}_{pid}_assignsubmission_file_"
        folder.mkdir(parents=True)
        (folder / "dezero_stage3.py").write_bytes(path.read_bytes())
    assert cli("batch", "-a", STAGE3, download, "-o", tmp_path / "out").returncode == 0
    done = cli("export", tmp_path / "out", "--to", "moodle", "-o", tmp_path / "m.csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO((tmp_path / "m.csv").read_text(encoding="utf-8"))))
    grades = {row[0]: (float(row[4]), row[5]) for row in rows[1:]}
    assert grades == {"Participant 4101": (66.0, "66"), "Participant 4102": (58.0, "66")}


@pytest.mark.e2e
def test_stage3_scores_upload_to_canvas_and_over_lti(batch, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lms_doubles import LtiDouble

    base, scores = batch
    env = dict(os.environ, CANVAS_TOKEN="stage3-token")
    with CanvasDouble("stage3-token", [str(uid) for uid in scores], points_possible=66.0) as canvas:
        done = cli("upload", "canvas", base / "out", "--url", canvas.url, "--course", "7", "--lms-assignment", "99",
                   env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert {uid: float(grade["posted_grade"]) for uid, grade in canvas.grades.items()} == scores
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "tool.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with LtiDouble("tool-3", public, [str(uid) for uid in scores], flavour="canvas") as platform:
        (tmp_path / "lti.toml").write_text(
            f'client_id = "tool-3"\nkey_file = "tool.pem"\ntoken_url = "{platform.token_url}"\n'
            f'lineitem = "{platform.lineitem}"\nuser_id_column = "canvas_user_id"\n', encoding="utf-8")
        done = cli("upload", "lti", base / "out", "--config", tmp_path / "lti.toml")
        assert done.returncode == 0, done.stdout + done.stderr
        posted = {uid: score for uid, score in platform.scores.items() if ":" not in uid}
        # Scaled to the line item's maximum (the double's line item is out of 65), never above it.
        assert {uid: score["scoreGiven"] for uid, score in posted.items()} == pytest.approx(
            {uid: value * 65 / 66 for uid, value in scores.items()}, abs=1e-3)
        assert {score["scoreMaximum"] for score in posted.values()} == {65.0}


def test_a_package_goes_to_the_stage_whose_modules_it_holds_all_of(tmp_path):
    """Stages 2 and 3 both take a ``dezero`` package: a stage-3 package (functions.py, utils.py) is for
    stage 3 even when it still holds stage 2's core_simple.py, and a stage-2 package stays stage 2's."""
    from grader.grading import assignment_for

    def package(name, modules):
        folder = tmp_path / name / "dezero"
        folder.mkdir(parents=True)
        for module in modules:
            (folder / module).write_text("import numpy as np\n\n\ndef f():\n    return np.ones(1)\n", encoding="utf-8")
        return folder.parent

    assert assignment_for(package("two", ["__init__.py", "core_simple.py"]), ROOT).id == "stage2_natural_code"
    assert assignment_for(package("three", ["__init__.py", "core.py", "functions.py", "utils.py"]), ROOT).id == STAGE3
    both = package("both", ["__init__.py", "core_simple.py", "core.py", "functions.py", "utils.py"])
    assert assignment_for(both, ROOT).id == STAGE3


@pytest.mark.e2e
def test_grade_without_a_names_the_assignment_it_chose(tmp_path):
    done = cli("grade", REFERENCE, "-o", tmp_path / "r.json")
    assert done.returncode == 0 and f"as {STAGE3} (chosen from the file" in done.stderr, done.stderr
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["extra_data"]["assignment_id"] == STAGE3
