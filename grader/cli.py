"""Command line: ``grader grade | selftest | template build | template check``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.assignment import load_assignment
from grader.errors import GraderError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except GraderError as error:
        print(f"grader: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted; results already written are kept", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade DeZero homework in a sandbox.")
    commands = parser.add_subparsers(title="commands")

    grade = commands.add_parser("grade", help="grade one submission (.py, .ipynb, folder or .zip)")
    grade.add_argument("submission", type=Path)
    _assignment_option(grade)
    grade.add_argument("-o", "--output", type=Path, default=Path("results.json"), help="result file (default: results.json)")
    grade.add_argument("--insecure", action="store_true", help="grade even if essential sandbox layers are missing")
    grade.set_defaults(handler=_grade)

    selftest = commands.add_parser("selftest", help="reference scores full marks, template scores 0")
    _assignment_option(selftest)
    selftest.set_defaults(handler=_selftest)

    template = commands.add_parser("template", help="build or check student_template/ from the reference")
    template_commands = template.add_subparsers(title="template commands")
    for name, handler, text in (("build", _template_build, "write student_template/"),
                                ("check", _template_check, "fail if student_template/ is out of date")):
        sub = template_commands.add_parser(name, help=text)
        _assignment_option(sub)
        sub.set_defaults(handler=handler)
    return parser


def _assignment_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--assignment", help="assignment id or folder (optional with one assignment)")


def _grade(args: argparse.Namespace) -> int:
    from grader.grading import grade_files
    from grader.results import write_json_atomic
    from grader.summary import print_result

    assignment = load_assignment(args.assignment)
    if not args.submission.exists():
        raise GraderError(f"{args.submission}: no such file or folder; check the path")
    result = grade_files(assignment, [args.submission], insecure=args.insecure)[0]
    try:
        write_json_atomic(args.output, result)
    except OSError as exc:
        raise GraderError(f"{args.output}: cannot write the result ({exc.strerror}); choose another -o path") from None
    print_result(result)
    print(f"result written to {args.output}")
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from grader.selftest import run_selftest

    return 0 if run_selftest(load_assignment(args.assignment)) else 1


def _template_build(args: argparse.Namespace) -> int:
    from grader.template import build_template

    for path in build_template(load_assignment(args.assignment)):
        print(f"wrote {path}")
    return 0


def _template_check(args: argparse.Namespace) -> int:
    from grader.template import stale_template_files

    stale = stale_template_files(load_assignment(args.assignment))
    for path in stale:
        print(f"out of date: {path} (run: grader template build)", file=sys.stderr)
    if not stale:
        print("student_template/ is up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
