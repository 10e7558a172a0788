"""Command line: ``grader grade | selftest | template build | template check``."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from grader.assignment import Assignment, find_repo_root, list_assignments, load_assignment
from grader.errors import GraderError

# Share of a download's files that may belong to no student before `grader batch` refuses to score.
UNMATCHED_SHARE = 0.05
# Every option ever renamed: old spelling -> the spelling that replaced it. Instructors' scripts keep
# working: the old spelling does what the new one does and prints one line saying so. Add a line here
# for every rename (tests/test_cli.py runs each one).
RENAMED_OPTIONS = {
    "--canvas-assignment-id": "--lms-assignment",   # export, before LMS-neutral names
    "--assignment-id": "--assignment",              # upload canvas/lti: the kit's assignment
}


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
    except Exception as error:  # noqa: BLE001 - an LMS that cannot be reached is one line, not a traceback
        if type(error).__module__.split(".")[0] != "httpx":
            raise
        print(f"grader: error: could not reach the LMS ({type(error).__name__}: {error}); check --url / the "
              "config's addresses and the network", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grader: interrupted; results already written are kept", file=sys.stderr)
        return 130


def students_edition() -> bool:
    """True in the kit a handout ships (``grader/_handout.py``): it holds ``check`` only."""
    return importlib.util.find_spec("grader._handout") is not None


def _parser() -> argparse.ArgumentParser:
    if students_edition():
        parser = argparse.ArgumentParser(prog="grader", description="Check your DeZero homework against the "
                                                                   "public tests (grader check --help).")
        _check_command(parser.add_subparsers(title="commands"))
        return parser
    parser = argparse.ArgumentParser(
        prog="grader", description="Grade DeZero homework in a sandbox.",
        epilog="Assignments (-a) are looked up in $GRADER_HOME/assignments, else in the nearest assignments/ "
               "folder here or above, else in the kit this grader was installed from (pip install KIT_FOLDER).")
    commands = parser.add_subparsers(title="commands")

    grade = commands.add_parser("grade", help="grade one submission (.py, .ipynb, folder or .zip)")
    grade.add_argument("submission", type=Path, help="a .py, .ipynb, package folder or .zip")
    _assignment_option(grade, chosen=True)
    grade.add_argument("-o", "--output", type=Path, help="result file (default: results.json here, or in the "
                                                          "temp folder's grader-results/ when here is inside the kit)")
    grade.add_argument("--insecure", action="store_true", help="grade even if essential sandbox layers are missing")
    _lang_option(grade)
    grade.set_defaults(handler=_grade)

    _check_command(commands)

    handout = commands.add_parser("handout", help="build the students' handout zip (no hidden tests, no solution)")
    _assignment_option(handout)
    handout.add_argument("-o", "--output", type=Path, default=Path("handout.zip"),
                         help="the zip to write (default: handout.zip)")
    handout.add_argument("--lang", choices=("en", "ko"),
                         help="feedback language of the students' checker (default: each student's locale)")
    handout.set_defaults(handler=_handout)

    batch = commands.add_parser("batch", help="grade a whole class: an LMS download (zip or folder)")
    batch.add_argument("input", type=Path, help="Canvas, Moodle or Gradescope download, or one file/folder per student")
    _assignment_option(batch)
    batch.add_argument("-o", "--outdir", type=Path, required=True, help="results/, scores.csv and report.html go here")
    batch.add_argument("-j", "--jobs", type=int, default=None, help="cores to use (default: all)")
    batch.add_argument("--roster", type=Path, help="CSV with a name column (and id, sid or email): absent students are listed as missing")
    batch.add_argument("--force", action="store_true", help="regrade submissions that already have a current result")
    batch.add_argument("--insecure", action="store_true", help="grade even if essential sandbox layers are missing")
    batch.add_argument("--allow-unmatched", action="store_true",
                       # argparse %-formats help strings: a bare percent sign breaks --help, so it is doubled.
                       help=f"write scores even when more than {UNMATCHED_SHARE * 100:g}%% of the files belong to "
                            "no student")
    batch.add_argument("--moodle-teams", action="store_true",
                       help="a Moodle team assignment: the numbers in folder names are group ids")
    _lang_option(batch)
    batch.set_defaults(handler=_batch)

    export = commands.add_parser("export", help="scores of a graded batch as an LMS import file")
    export.add_argument("outdir", type=Path, help="the -o folder of a grader batch run")
    export.add_argument("--to", choices=("canvas", "moodle", "csv"), required=True,
                        help="Canvas gradebook CSV, Moodle grading worksheet, or plain CSV")
    export.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
    export.add_argument("--roster", type=Path, help="roster CSV (names, ids, emails; absent students listed)")
    _lms_assignment_option(export, required=False)
    _scale_option(export)
    export.add_argument("--moodle-language", default="en", help="language of the Moodle site's worksheet headers (en, ko)")
    _assignment_option(export)
    export.set_defaults(handler=_export)

    gradescope = commands.add_parser("gradescope", help="Gradescope autograder: build the zip, or run inside it")
    gradescope_commands = gradescope.add_subparsers(title="gradescope commands")
    gs_build = gradescope_commands.add_parser("build", help="write autograder.zip (setup.sh, run_autograder, kit/)")
    _assignment_option(gs_build)
    gs_build.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"),
                          help="the zip to upload to Gradescope (default: autograder.zip)")
    gs_build.set_defaults(handler=_gradescope_build)
    gs_run = gradescope_commands.add_parser("run", help="grade inside Gradescope's /autograder layout")
    _assignment_option(gs_run)
    gs_run.add_argument("--root", type=Path, default=Path("/autograder"),
                        help="Gradescope's autograder folder (default: /autograder)")
    gs_run.set_defaults(handler=_gradescope_run)

    upload = commands.add_parser("upload", help="post a graded batch's scores to Canvas or an LTI 1.3 platform")
    upload_commands = upload.add_subparsers(title="upload targets")
    canvas = upload_commands.add_parser("canvas", help="Canvas REST API (token from $CANVAS_TOKEN)")
    canvas.add_argument("outdir", type=Path, help="the -o folder of a grader batch run")
    canvas.add_argument("--url", required=True, help="your Canvas address, e.g. https://canvas.example.edu")
    canvas.add_argument("--course", required=True, help="course id (the number in the course URL)")
    _lms_assignment_option(canvas, required=True)
    lti = upload_commands.add_parser("lti", help="LTI 1.3 Assignment and Grade Services")
    lti.add_argument("outdir", type=Path, help="the -o folder of a grader batch run")
    lti.add_argument("--config", type=Path, required=True, help="TOML: issuer, client_id, key_file, platform, context_id "
                                                                 "(see docs/lms.md)")
    for sub, handler in ((canvas, _upload_canvas), (lti, _upload_lti)):
        sub.add_argument("--dry-run", action="store_true", help="show exactly what would be sent, send nothing")
        sub.add_argument("--roster", type=Path, help="roster CSV with ids/emails for matching students")
        _assignment_option(sub)
        sub.set_defaults(handler=handler)

    _serve_command(commands)

    new = commands.add_parser("new", help="scaffold a new assignment (config, probes, tests, messages, reference)")
    new.add_argument("id", help="the assignment id: lowercase letters, digits and _")
    new.add_argument("--title", help="the title students see (default: from the id)")
    new.add_argument("--root", type=Path, help="the kit folder holding assignments/ (default: the current kit)")
    new.set_defaults(handler=_new)

    selftest = commands.add_parser("selftest", help="reference full marks, template 0, variants as declared, "
                                                    "mutation score above the threshold, each part's tests "
                                                    "isolated")
    _assignment_option(selftest)
    selftest.add_argument("--unnamed", action="store_true",
                          help="list the wrong-answer fingerprints no hint names, by mutant id (to write hints.toml)")
    selftest.set_defaults(handler=_selftest)

    template = commands.add_parser("template", help="build or check student_template/ from the reference")
    template_commands = template.add_subparsers(title="template commands")
    for name, handler, text in (("build", _template_build, "write student_template/"),
                                ("check", _template_check, "fail if student_template/ is out of date")):
        sub = template_commands.add_parser(name, help=text)
        _assignment_option(sub)
        sub.set_defaults(handler=handler)
    return parser


def _serve_command(commands) -> None:
    serve = commands.add_parser(
        "serve", help="a live LTI 1.3 tool: students upload, get their result in seconds, the score goes to the LMS",
        description="Run the grading service (docs/serve.md). Needs the serve extra: pip install '.[serve]'.")
    serve.add_argument("--config", type=Path, help="serve.toml: data folder, database, queue, LMS platforms")
    serve.add_argument("--data", type=Path, help="folder for the database, the tool's key and secrets "
                                                 "(overrides the config's)")
    serve.add_argument("--demo", action="store_true",
                       help="a demo course with every installed assignment; prints 'student token: T' per demo "
                            "student and 'instructor token: T' (without --data: a fresh temporary folder)")
    serve.add_argument("--demo-students", type=int, default=2, help="how many demo students (default 2)")
    serve.add_argument("--demo-rate", type=int, help="the demo's uploads per student per window (default: the "
                                                     "config's, 10 per 10 minutes)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; behind a proxy keep it local)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0: any free port, printed)")
    serve.add_argument("--workers", type=int, help="grading processes to start (default 2)")
    serve.add_argument("--queue", help="'embedded' (default: the database's job table) or redis://HOST:PORT/DB "
                                       "(Celery on Redis, for workers on other machines)")
    serve.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the data folder; "
                                          "postgresql://user:password@host/db)")
    serve.add_argument("--base-url", help="the public address students reach (https://… behind a reverse proxy)")
    serve.add_argument("--worker", action="store_true",
                       help="only grading processes, pulling jobs from --queue and --database (another machine)")
    serve.set_defaults(handler=_serve)


def _check_command(commands) -> None:
    check = commands.add_parser("check", help="students: run the public tests on your file")
    check.add_argument("file", type=Path, nargs="?", help="your .py or .ipynb (default: the template name here)")
    _assignment_option(check, chosen=True)
    _lang_option(check)
    check.set_defaults(handler=_check)


def _lms_assignment_option(parser: argparse.ArgumentParser, required: bool) -> None:
    # One spelling for the LMS's own assignment id in every command (-a is the kit's assignment).
    # Required is checked after parsing (_require_lms_assignment): the old spellings count too.
    parser.add_argument("--lms-assignment", help="the LMS's assignment id (the number in its URL)"
                        + (" (required)" if required else ""))
    _old_spellings(parser, "--lms-assignment", "lms_assignment")


def _old_spellings(parser: argparse.ArgumentParser, new: str, dest: str) -> None:
    """Hidden options for every old spelling of ``new`` (see RENAMED_OPTIONS)."""
    for old, current in RENAMED_OPTIONS.items():
        if current == new:
            parser.add_argument(old, dest=dest, action=_RenamedOption, help=argparse.SUPPRESS)


class _RenamedOption(argparse.Action):
    """An old spelling: does what the new one does, and says once that it was renamed."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"grader: note: {option_string} is now {RENAMED_OPTIONS[option_string]}; the old spelling still "
              "works but may be removed later", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _require_lms_assignment(args: argparse.Namespace) -> None:
    """``upload canvas`` needs the LMS's assignment id. Before the rename, ``--assignment N`` gave it
    (Canvas ids are numbers; a kit assignment id never is): that old spelling still works."""
    if args.lms_assignment:
        return
    if args.assignment and args.assignment.isdigit():
        print(f"grader: note: upload canvas --assignment {args.assignment} is now --lms-assignment "
              f"{args.assignment} (-a/--assignment is the kit's assignment); the old spelling still works",
              file=sys.stderr)
        args.lms_assignment, args.assignment = args.assignment, None
        return
    raise GraderError("upload canvas needs --lms-assignment ID (the number in the Canvas assignment's URL)")


def _scale_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, help="the LMS assignment's maximum: scores are scaled to it, never above")


def _lang_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=("en", "ko"), help="language of feedback (default: config, then locale)")


def _assignment_option(parser: argparse.ArgumentParser, chosen: bool = False) -> None:
    """``chosen``: without -a, the command picks the assignment the file is plainly for (grade, check)."""
    parser.add_argument("-a", "--assignment", help="assignment id or folder (" + (
        "without it: the one the file is plainly for, named on stderr" if chosen else
        "optional with one assignment; selftest and template without it: every assignment") + ")")
    _old_spellings(parser, "--assignment", "assignment")


def _kit_assignments(args: argparse.Namespace) -> list[Assignment]:
    """-a ID, or every assignment of the kit: for the commands that check the kit itself."""
    if args.assignment:
        return [load_assignment(args.assignment)]
    folders = list_assignments(find_repo_root())
    if not folders:
        raise GraderError(f"{find_repo_root() / 'assignments'}: no assignment here; create one with grader new ID")
    return [load_assignment(str(folder)) for folder in folders]


def _results_assignment(args: argparse.Namespace) -> Assignment:
    """-a ID, else the kit's only assignment, else the one assignment a graded batch folder holds."""
    if args.assignment:
        return load_assignment(args.assignment)
    folders = list_assignments(find_repo_root())
    if len(folders) <= 1:
        return load_assignment(None)
    from grader.report import load_results

    _require_results(args.outdir)
    ids = {r.get("extra_data", {}).get("assignment_id") for r in load_results(args.outdir)}
    if len(ids) == 1 and None not in ids:
        return load_assignment(ids.pop())
    known = ", ".join(folder.name for folder in folders)
    raise GraderError(f"{args.outdir}: cannot tell which assignment these results are for; choose one with -a "
                      f"({known})")


def _grade(args: argparse.Namespace) -> int:
    from grader.grading import assignment_for, grade_files
    from grader.results import write_json_atomic
    from grader.summary import print_result

    from grader.grading import open_session
    from grader.sandbox import missing_essential_layers

    if not args.submission.exists():
        raise GraderError(f"{args.submission}: no such file or folder; check the path")
    assignment = load_assignment(args.assignment) if args.assignment else assignment_for(args.submission)
    if not args.assignment and len(list_assignments(find_repo_root())) > 1:
        print(f"grader: grading {args.submission} as {assignment.id} (chosen from the file; -a chooses another)",
              file=sys.stderr)
    session = open_session(assignment, [str(args.submission.resolve().parent)], insecure=args.insecure,
                           lang=args.lang)
    try:
        _say_missing_layers(missing_essential_layers(session.layers))
        result = grade_files(assignment, [args.submission], insecure=args.insecure, session=session)[0]
    finally:
        session.close()
    output = args.output or default_result_path(assignment, args.submission)
    try:
        write_json_atomic(output, result)
    except OSError as exc:
        raise GraderError(f"{output}: cannot write the result ({exc.strerror}); choose another -o path") from None
    print_result(result)
    print(f"result written to {output}")
    return 0


def default_result_path(assignment, submission: Path, here: Path | None = None) -> Path:
    """``results.json`` in the current folder, unless that folder is inside the kit: a grade run
    never writes into the kit (its checkout, its examples), so then the temp folder takes it."""
    import tempfile

    here = (here or Path.cwd()).resolve()
    kit = assignment.root.resolve().parent.parent  # the folder holding assignments/
    if here == kit or kit in here.parents:
        return Path(tempfile.gettempdir()) / "grader-results" / f"{submission.name}.results.json"
    return here / "results.json"


def _batch(args: argparse.Namespace) -> int:
    from grader.batch import default_jobs, plan_batch, processes_for, progress_printer, run_batch
    from grader.report import load_results, read_roster, score_rows, write_report, write_scores_csv
    from grader.summary import safe

    assignment = load_assignment(args.assignment)
    roster = read_roster(args.roster) if args.roster else None
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GraderError(f"{args.outdir}: cannot create the output folder ({exc.strerror}); choose another -o") from None
    plan = plan_batch(args.input, assignment, args.outdir, args.force, moodle_teams=args.moodle_teams or None)
    _check_unattributed(plan, args.outdir, args.allow_unmatched)
    jobs = max(1, args.jobs or default_jobs())
    hide = [str(args.input.resolve() if args.input.is_dir() else args.input.resolve().parent), str(args.outdir.resolve())]
    progress, tick = progress_printer(len(plan.todo))

    def started(missing: list[str]) -> None:
        """Once the first grading session is up: the layers it lacks first (``--insecure``), then the plan."""
        _say_missing_layers(missing)
        where = f" on {jobs} core(s), {processes_for(jobs, len(plan.todo))[0]} grading process(es)" if plan.todo else ""
        print(f"{len(plan.entries)} submissions ({plan.layout} layout): {plan.skipped} already graded, "
              f"{len(plan.todo)} to grade{where}", flush=True)
        for entry in plan.entries:
            for warning in entry.warnings:
                print(f"warning: {safe(warning)}", file=sys.stderr)
        if progress:
            progress.start()

    if not plan.todo:
        started([])
    try:
        run_batch(plan, assignment, args.outdir, jobs=jobs, hide=hide, insecure=args.insecure, on_done=tick,
                  lang=args.lang, on_start=started)
    finally:
        if progress:
            progress.stop()
    students = {entry.student for entry in plan.entries}
    write_batch_manifest(args.outdir, plan.layout, sorted(students), plan.unattributed)
    results = [r for r in load_results(args.outdir) if r["extra_data"].get("student") in students]
    rows = score_rows(results, roster)
    write_scores_csv(rows, args.outdir / "scores.csv")
    write_report(results, rows, args.outdir / "report.html", f"{assignment.title}: class report")
    counts = {status: sum(r["status"] == status for r in rows) for status in ("graded", "late", "error", "missing")}
    print(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing graded")
    print(f"wrote {args.outdir / 'scores.csv'}, {args.outdir / 'report.html'} and {args.outdir / 'results'}/")
    return 0


def _say_missing_layers(missing: list[str]) -> None:
    """The first line of an insecure run, every run: which isolation layers the results lack."""
    if missing:
        import os

        who = " (not running as root)" if hasattr(os, "geteuid") and os.geteuid() != 0 else ""
        print(f"warning: sandbox layers missing{who}: {', '.join(missing)}; results are marked insecure "
              "(see docs/security.md)", flush=True)


def _check_unattributed(plan, outdir: Path, allow: bool) -> None:
    """Every file no student was found for is printed and kept in OUT/unattributed.txt."""
    from grader.summary import safe

    path = outdir / "unattributed.txt"
    if not plan.unattributed:
        path.unlink(missing_ok=True)
        return
    path.write_text("".join(f"{safe(name)}\n" for name in plan.unattributed), encoding="utf-8")
    for name in plan.unattributed:
        print(f"warning: no student found for {safe(name)}", file=sys.stderr)
    total = len(plan.unattributed) + sum(len(entry.files) for entry in plan.entries)
    share = len(plan.unattributed) / max(total, 1)
    print(f"{len(plan.unattributed)} of {total} files belong to no student (listed in {path})", file=sys.stderr)
    if share > UNMATCHED_SHARE and not allow:
        raise GraderError(f"{len(plan.unattributed)} of {total} files ({share:.0%}) belong to no student, more than "
                          f"{UNMATCHED_SHARE:.0%}: check the download and {path}, or pass --allow-unmatched")


def write_batch_manifest(outdir: Path, layout: str, students: list[str], unattributed: list[str]) -> None:
    """Which students the latest batch input had: exports and uploads include these and no others."""
    from grader.results import write_json_atomic

    write_json_atomic(outdir / "batch.json", {"layout": layout, "students": students, "unattributed": unattributed})


def _check(args: argparse.Namespace) -> int:
    from grader.grading import assignment_for
    from grader.i18n import choose_language
    from grader.selfcheck import default_file, run_check

    guess = args.file is not None and not args.assignment and args.file.exists()
    assignment = assignment_for(args.file) if guess else load_assignment(args.assignment)
    lang = choose_language(args.lang, assignment.language)
    path = args.file or default_file(assignment, lang)
    if not path.exists():
        raise GraderError(f"{path}: no such file; check the name")
    return 0 if run_check(assignment, path, lang) else 1


def _handout(args: argparse.Namespace) -> int:
    from grader.handout import build_handout

    files = build_handout(load_assignment(args.assignment), args.output, args.lang)
    print(f"wrote {args.output} ({len(files)} files; leak check passed)")
    return 0


def _require_results(outdir: Path) -> None:
    if not (outdir / "results").is_dir():
        raise GraderError(f"{outdir}: no results/ folder; run grader batch -o {outdir} first")


def batch_rows(outdir: Path, roster_path: Path | None, assignment, scale: float | None = None) -> list[dict]:
    """Score rows of a graded batch folder: the latest batch's students only, every group member,
    late policy applied, scaled to the LMS's maximum when one is given."""
    from grader.lms.scores import apply_late_policy, expand_groups, scale_rows
    from grader.report import load_results, read_roster, score_rows

    _require_results(outdir)
    results = [r for r in load_results(outdir) if r["extra_data"]["assignment_id"] == assignment.id]
    current = _batch_students(outdir)
    if current is not None:  # results of students no longer in the batch input are not exported
        results = [r for r in results if r["extra_data"].get("student") in current]
    if not results:
        raise GraderError(f"{outdir}/results: no results for assignment {assignment.id}; check -a")
    rows = expand_groups(score_rows(results, read_roster(roster_path) if roster_path else None))
    return scale_rows(apply_late_policy(rows, assignment), scale)


def _batch_students(outdir: Path) -> set[str] | None:
    import json

    try:
        return set(json.loads((outdir / "batch.json").read_text(encoding="utf-8"))["students"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a folder graded before the manifest existed: every result counts


def _export(args: argparse.Namespace) -> int:
    from grader.lms.canvas import canvas_csv
    from grader.lms.moodle import moodle_csv
    from grader.lms.scores import plain_csv

    assignment = _results_assignment(args)
    rows = batch_rows(args.outdir, args.roster, assignment, args.scale)
    skipped: list[str] = []
    if args.to == "canvas":
        if not args.lms_assignment:
            raise GraderError("--to canvas needs --lms-assignment (the number in the assignment's Canvas URL)")
        text, skipped = canvas_csv(rows, assignment, args.lms_assignment)
    elif args.to == "moodle":
        text, skipped = moodle_csv(rows, assignment, lang=args.moodle_language)
    else:
        text = plain_csv(rows)
    exported = len(rows) - len(skipped)
    if skipped:
        print(f"left out (no {args.to} id; add them to --roster): {', '.join(skipped[:10])}"
              + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    if not exported:
        raise GraderError(f"no student has a {args.to} id, so the gradebook would be empty: give --roster with "
                          "the LMS ids (name,id,email), or grade the LMS's own download")
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"{args.output}: cannot write ({exc.strerror}); choose another -o") from None
    unknown = sum(1 for r in rows if r.get("late_unknown"))
    if unknown:
        print(f"note: {unknown} late submission(s) have no submission time, so no kit penalty was applied; "
              "'grader upload canvas' reads Canvas's seconds_late, or set late_policy = \"lms\"")
    print(f"wrote {args.output}: {exported} students")
    return 0


def _gradescope_build(args: argparse.Namespace) -> int:
    from grader.lms.gradescope import build_autograder

    files = build_autograder(load_assignment(args.assignment), args.output)
    print(f"wrote {args.output} ({len(files)} files): upload it as the assignment's autograder")
    return 0


def _gradescope_run(args: argparse.Namespace) -> int:
    from grader.lms.gradescope import run_in_autograder

    result = run_in_autograder(args.root, load_assignment(args.assignment))
    print(f"score {result['score']:g}; wrote {args.root / 'results' / 'results.json'}")
    return 0


def _upload_canvas(args: argparse.Namespace) -> int:
    import os

    from grader.lms.canvas import CanvasUploader
    from grader.lms.posting import PostedState

    _require_lms_assignment(args)
    assignment = _results_assignment(args)
    rows = batch_rows(args.outdir, args.roster, assignment)
    uploader = CanvasUploader(args.url, args.course, args.lms_assignment, os.environ.get("CANVAS_TOKEN", ""),
                              dry_run=args.dry_run)
    name = f"canvas-{args.course}-{args.lms_assignment}"
    report = uploader.upload(rows, PostedState(args.outdir / "uploads" / f"{name}.json"), dry_run=args.dry_run,
                             assignment=assignment)
    return _finish_upload(report, args.outdir, name, args.dry_run)


def _upload_lti(args: argparse.Namespace) -> int:
    import hashlib

    from grader.lms.lti import LtiConfig, LtiUploader
    from grader.lms.posting import PostedState

    assignment = _results_assignment(args)
    config = LtiConfig.load(args.config)
    rows = batch_rows(args.outdir, args.roster, assignment)
    uploader = LtiUploader(config)
    lineitem = uploader.find_lineitem(assignment, rows, create=not args.dry_run)
    name = "lti-" + hashlib.sha256((lineitem or config.lineitems_url() or "").encode()).hexdigest()[:12]
    report = uploader.upload(rows, PostedState(args.outdir / "uploads" / f"{name}.json"), dry_run=args.dry_run)
    return _finish_upload(report, args.outdir, name, args.dry_run)


def _finish_upload(report, outdir: Path, name: str, dry_run: bool) -> int:
    path = outdir / "uploads" / f"{name}{'-dry-run' if dry_run else ''}-report.csv"
    report.write_csv(path)
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("posted", "dry-run", "unchanged", "unknown", "stale",
                                                           "invalid", "skipped", "failed") if report.count(s))
    print(f"{counts or 'nothing to send'}; per-student report: {path}")
    if report.outcomes and not any(report.count(s) for s in ("posted", "dry-run", "unchanged", "stale")):
        print("grader: error: no student could be matched to the LMS: give --roster with their LMS ids or "
              "emails, or grade the LMS's own download", file=sys.stderr)
        return 2
    return 1 if report.count("failed") else 0


def _serve(args: argparse.Namespace) -> int:
    from grader.serve.main import missing_libraries, run

    missing = missing_libraries()
    if missing:
        raise GraderError(f"grader serve needs the service's libraries ({', '.join(missing)} missing): "
                          "pip install 'dezero-autograder[serve]' (from the kit's folder: pip install '.[serve]')")
    return run(args)


def _new(args: argparse.Namespace) -> int:
    from grader.authoring import scaffold

    root = args.root or _kit_root_or_here()
    for path in scaffold(root, args.id, args.title):
        print(f"wrote {path}")
    print(f"next: write the reference and the tests (docs/authoring.md), then: grader selftest -a {args.id}")
    return 0


def _kit_root_or_here() -> Path:
    try:
        return find_repo_root()
    except GraderError:
        return Path.cwd()


def _selftest(args: argparse.Namespace) -> int:
    from grader.authoring import missing_parts
    from grader.selftest import run_selftest

    # Without -a every assignment of the kit is tested; all must pass. An assignment still being
    # written is told what is missing, in order, before anything is graded.
    outcomes = []
    for assignment in _kit_assignments(args):
        missing = missing_parts(assignment)
        for problem in missing:
            print(f"selftest: {assignment.id}: missing: {problem}")
        outcomes.append(not missing and run_selftest(assignment, args.unnamed))
    return 0 if all(outcomes) else 1


def _template_build(args: argparse.Namespace) -> int:
    from grader.template import build_template

    for assignment in _kit_assignments(args):
        for path in build_template(assignment):
            print(f"wrote {path}")
    return 0


def _template_check(args: argparse.Namespace) -> int:
    from grader.template import stale_template_files

    stale = []
    for assignment in _kit_assignments(args):
        for path in stale_template_files(assignment):
            stale.append(path)
            print(f"out of date: {path} (run: grader template build -a {assignment.id})", file=sys.stderr)
    if not stale:
        print("student_template/ is up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
