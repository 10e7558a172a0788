"""The command line as a new user meets it: every --help prints, and every renamed option still works."""
import argparse
import subprocess
import sys

import pytest

from conftest import ROOT
from grader import cli


def _commands(parser: argparse.ArgumentParser, prefix: tuple = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser tree: ("grade",), ("upload", "canvas"), ..."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(prefix + (name,))
                found += _commands(sub, prefix + (name,))
    return found


COMMANDS = _commands(cli._parser())


def test_the_parser_tree_was_walked():
    assert {("grade",), ("batch",), ("export",), ("upload", "canvas"), ("template", "check")} <= set(COMMANDS)


@pytest.mark.parametrize("command", [()] + COMMANDS, ids=lambda c: " ".join(c) or "grader")
def test_every_help_prints(command, capsys):
    """Issue 21 (1): `grader batch --help` ended in a traceback (a bare % in a help string)."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command, "--help"])
    out = capsys.readouterr()
    assert stopped.value.code == 0, out.err
    assert out.out.startswith("usage: grader") and "Traceback" not in out.out + out.err


def test_batch_help_in_a_real_process():
    done = subprocess.run([sys.executable, "-m", "grader.cli", "batch", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "5%" in done.stdout and not done.stderr, done.stderr


def _parse(argv):
    return cli._parser().parse_args(argv)


def _commands_taking(option: str) -> list[tuple[str, ...]]:
    found = []
    for command in COMMANDS:
        parser = cli._parser()
        for name in command:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = sub.choices[name]
        if option in parser._option_string_actions:
            found.append(command)
    return found


def _subparser(command) -> argparse.ArgumentParser:
    parser = cli._parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _minimal_args(command) -> list[str]:
    """The command with every required positional and option filled in, from the parser itself."""
    args = list(command)
    for action in _subparser(command)._actions:
        value = str(action.choices[0]) if action.choices else "x"
        if not action.option_strings and action.nargs not in ("?", "*", argparse.SUPPRESS):
            args.append(value)
        elif action.option_strings and action.required:
            args += [action.option_strings[0], value]
    return args


@pytest.mark.parametrize("old,new", sorted(cli.RENAMED_OPTIONS.items()))
def test_every_old_spelling_does_what_the_new_one_does_and_says_so(old, new, capsys):
    """Issue 21 (2): a renamed option keeps its old spelling working, with a one-line note."""
    commands = [c for c in COMMANDS if new in _subparser(c)._option_string_actions]
    assert commands, f"no command takes {new}"
    for command in commands:
        assert old in _subparser(command)._option_string_actions, f"{' '.join(command)} lost {old}"
        new_args = _parse([*_minimal_args(command), new, "4242"])
        capsys.readouterr()
        old_args = _parse([*_minimal_args(command), old, "4242"])
        note = capsys.readouterr().err
        assert vars(old_args) == vars(new_args)
        assert note.count("\n") == 1 and old in note and new in note


def test_old_spellings_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    text = capsys.readouterr().out
    assert "--lms-assignment" in text and "--canvas-assignment-id" not in text


def test_upload_canvas_assignment_number_is_the_old_spelling_of_lms_assignment(capsys):
    """Before the rename `upload canvas --assignment 123` gave the Canvas id; a kit id is never a number."""
    args = _parse(["upload", "canvas", "out", "--url", "u", "--course", "1", "--assignment", "123"])
    cli._require_lms_assignment(args)
    assert (args.lms_assignment, args.assignment) == ("123", None)
    assert "--lms-assignment" in capsys.readouterr().err


def test_upload_canvas_without_an_lms_assignment_is_one_line():
    args = _parse(["upload", "canvas", "out", "--url", "u", "--course", "1", "-a", "stage1_autodiff"])
    with pytest.raises(cli.GraderError, match="--lms-assignment"):
        cli._require_lms_assignment(args)


@pytest.mark.skipif(sys.platform == "win32", reason="links, pipes and modes as POSIX has them")
def test_a_result_replaces_only_a_regular_file_and_gets_the_usual_mode(tmp_path):
    """`grade -o /dev/null` run as root renamed a temp file over the device: /dev/null became a 0600 file."""
    import json
    import os
    import stat
    import threading

    from grader.results import write_json_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    read = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    write_json_atomic(fifo, {"score": 1})
    reader.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and json.loads(read[0]) == {"score": 1}

    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("{}", encoding="utf-8")
    target.chmod(0o640)
    link.symlink_to(target)
    write_json_atomic(link, {"score": 2})
    assert link.is_symlink() and json.loads(target.read_text(encoding="utf-8")) == {"score": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # an existing file keeps its mode

    mask = os.umask(0o022)
    os.umask(mask)
    write_json_atomic(tmp_path / "new.json", {"score": 3})
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "new.json", "pipe", "target.json"]
