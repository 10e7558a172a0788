"""Grading without every sandbox layer (not root, no user namespaces) says which ones, on the first
line, every run (issue 14, item 8)."""
import pytest

from conftest import EXAMPLES
from grader import cli, runner

PARTIAL = {"process": "pid namespace", "rlimits": "set"}


@pytest.fixture
def partial_sandbox(monkeypatch):
    monkeypatch.setattr(runner, "probe_layers", lambda zygote, limits: dict(PARTIAL))


@pytest.mark.e2e
def test_insecure_grade_names_the_missing_layers_first_every_time(assignment, partial_sandbox, tmp_path, capsys):
    for run in range(2):
        code = cli.main(["grade", str(EXAMPLES / "correct.py"), "-a", str(assignment.root), "--insecure",
                         "-o", str(tmp_path / f"r{run}.json")])
        out = capsys.readouterr().out
        assert code == 0
        assert out.splitlines()[0].startswith("warning: sandbox layers missing") and "secrets, network" in out.splitlines()[0]


def test_secure_grade_refuses_and_its_one_line_names_the_layers(assignment, partial_sandbox, tmp_path, capsys):
    code = cli.main(["grade", str(EXAMPLES / "correct.py"), "-a", str(assignment.root), "-o", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines()[0].startswith("grader: error: sandbox layers secrets, network are not available")
    assert len(captured.err.splitlines()) == 1


@pytest.mark.e2e
def test_insecure_batch_names_the_missing_layers_first(assignment, partial_sandbox, tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_bytes((EXAMPLES / "correct.py").read_bytes())
    code = cli.main(["batch", str(folder), "-a", str(assignment.root), "-o", str(tmp_path / "out"), "-j", "1",
                     "--insecure"])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[0].startswith("warning: sandbox layers missing")
    assert "secrets, network" in out.splitlines()[0]


def test_batch_without_insecure_refuses_in_one_line_before_grading(assignment, partial_sandbox, tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_bytes((EXAMPLES / "correct.py").read_bytes())
    code = cli.main(["batch", str(folder), "-a", str(assignment.root), "-o", str(tmp_path / "out"), "-j", "2"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.startswith("grader: error: sandbox layers secrets, network are not available")
    assert not (tmp_path / "out" / "results").exists() or not list((tmp_path / "out" / "results").iterdir())


def test_serve_refuses_to_start_without_every_layer_and_has_no_insecure(partial_sandbox, tmp_path, capsys):
    """Students' uploads are never graded insecurely: one line before anything listens or is stored."""
    code = cli.main(["serve", "--data", str(tmp_path / "data"), "--port", "0", "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [captured.err.splitlines()[0]]
    assert captured.err.startswith("grader: error: sandbox layers secrets, network are not available")
    assert not (tmp_path / "data").exists()
    with pytest.raises(SystemExit):
        cli.main(["serve", "--data", str(tmp_path / "data"), "--insecure"])
