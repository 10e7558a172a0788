"""What ``grader check`` prints (issue 14, item 5): Korean wrapped at 80 columns without losing a
character, the student's locale when the handout names no language, notebook cells counted as
Jupyter shows them, and skipped cells shown."""
import io
import re
import zipfile

import nbformat
import pytest
from hypothesis import given, settings, strategies as st
from rich.console import Console

from conftest import EXAMPLES
from grader.i18n import choose_language
from grader.selfcheck import check_table


def _flat(text: str) -> str:
    return re.sub(r"\s", "", text)


def _result(output: str) -> dict:
    return {"tests": [{"status": "failed", "name": "x = 1에서 square(exp(square(x)))의 기울기", "score": 0,
                       "max_score": 2, "output": output}]}


KNOWN = ("x.grad의 값이 틀렸습니다: 결과 float64 5.436564 (dtype float64, shape ()), 기대값 float64 29.556224 "
         "(dtype float64, shape ()): 힌트: Exp.backward가 gy를 곱하지 않는 것 같습니다: np.exp(x)에 gy를 곱하세요")


def _shown(result: dict, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width).print(check_table(result, "ko"))
    return out.getvalue()


def test_korean_feedback_keeps_every_character_at_80_columns():
    shown = _shown(_result(KNOWN))
    assert "…" not in shown and _flat(KNOWN) in _flat(shown)
    assert max(len(line) for line in shown.splitlines()) <= 80


words = st.text(alphabet=st.sampled_from("가나다라마바사같은값기울기곱하세요abcxyz.()[]:,0123456789"),
                min_size=1, max_size=14)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, min_size=1, max_size=40))
def test_any_mix_of_korean_and_ascii_words_wraps_without_loss(parts):
    text = " ".join(parts)
    shown = _shown(_result(text))
    assert _flat(text) in _flat(shown) and "…" not in shown


def test_a_handout_without_a_language_follows_the_locale(assignment, monkeypatch):
    from grader.handout import handout_files

    config = handout_files(assignment)["assignments/stage1_autodiff/assignment.toml"].decode()
    assert "language" not in config
    fixed = handout_files(assignment, "ko")["assignments/stage1_autodiff/assignment.toml"].decode()
    assert 'language = "ko"' in fixed
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert choose_language(None, None) == "ko" and choose_language("en", None) == "en"


@pytest.mark.e2e
def test_korean_locale_student_gets_korean_from_a_handout_built_without_a_language(assignment, tmp_path):
    import os
    import subprocess
    import sys

    from grader.handout import build_handout

    build_handout(assignment, tmp_path / "h.zip")
    zipfile.ZipFile(tmp_path / "h.zip").extractall(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env["LANG"] = "ko_KR.UTF-8"
    ran = subprocess.run([sys.executable, "-m", "grader.cli", "check"], cwd=tmp_path / "dezero_stage1_handout",
                         env=env, capture_output=True, text=True, timeout=120)
    assert "공개 테스트: 7개 중 0개 통과" in ran.stdout, ran.stdout + ran.stderr
    # Issue 24, item 5: the header names the assignment in Korean too (the handout ships both titles).
    header = ran.stdout.split("\n\n")[0].replace("\n", " ")
    assert "DeZero 1단계: 변수, 함수, 역전파" in header and "variables, functions" not in header, ran.stdout
    readme = (tmp_path / "dezero_stage1_handout" / "README.md").read_text(encoding="utf-8")
    assert "DeZero 1단계: 변수, 함수, 역전파" in readme and readme.startswith("# DeZero stage 1: variables")


def _notebook(tmp_path):
    code = (EXAMPLES / "correct.py").read_text()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Stage 1"), nbformat.v4.new_code_cell(code),
        nbformat.v4.new_markdown_cell("A demo:"), nbformat.v4.new_markdown_cell("(it fails)"),
        nbformat.v4.new_code_cell("x = 1\n\nVariable(1.0)\n")])
    path = tmp_path / "dezero_stage1.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.e2e
def test_notebook_warnings_count_cells_as_jupyter_shows_them_and_check_prints_them(assignment, tmp_path):
    from grader.selfcheck import run_check

    out = io.StringIO()
    assert run_check(assignment, _notebook(tmp_path), "en", Console(file=out, width=120)) is True
    # The failing cell is the 5th on screen (3 markdown cells before or between), its line 3.
    assert "Warning: cell 5, line 3: TypeError" in out.getvalue() and "that cell was skipped" in out.getvalue()


@pytest.mark.e2e
def test_the_files_own_demo_output_is_shown_as_its_own_and_not_graded(grade, tmp_path):
    """Issue 24, item 3: a template's demo lines print while loading; the student is told that this is
    their file's own output, shown for information, and that it is not graded."""
    source = (EXAMPLES / "correct.py").read_text() + "\nprint('demo: y =', square(Variable(np.array(3.0))).data)\n"
    result = grade(source, tmp=tmp_path)
    assert result["score"] == result["max_score"]
    lines = result["output"].splitlines()
    at = lines.index("Your file printed this itself while loading (shown for your information; it is not graded):")
    assert lines[at + 1] == "demo: y = 9.0"
