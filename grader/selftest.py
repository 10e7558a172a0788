"""``grader selftest``: the assignment is consistent, and its tests are proven sharp.

Consistency: the reference earns full marks, the generated template (both forms) earns 0, every
test has points, every points entry names a test, and the committed template is current.

Sharpness (docs/selftest.md): every file in ``variants/correct`` earns full marks, every file in
``variants/buggy`` fails exactly the tests it declares, and the tests kill at least
``[selftest] mutation_threshold`` of the reference's mutants that ``mutants.toml`` does not list
as equivalent. Mutants are graded in the sandbox as one class, each test's answers kept: the
same recordings give the answer book that names students' bugs (``grader.hints``) and the hint
report ("hints: H of F fingerprints named", at least ``[selftest] hint_threshold``).

Isolation (grader.parts): the reference with any one part removed loses only the tests that
declare that part, and at least one that measures it; graded by the batch engine.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.assignment import Assignment
from grader.batch import BatchPlan, default_jobs, load_entry, result_path, run_batch
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.hints.book import AnswerBook
from grader.hints.catalogue import KnownBug, known_bugs, mutant_hints
from grader.hints.coverage import hint_report
from grader.hints.record import (REFERENCE, Recording, book_key, bug_limits, build_book, record,
                                 reference_submission, save_book, submission_of)
from grader.lms.layouts import Entry
from grader.mutants import Mutant, generate
from grader.parts import PartsReport, declarations, derive_removals, judge
from grader.template import stale_template_files, template_files
from grader.variants import Variant, find_variants, variant_problems

EQUIVALENT_NAME = "mutants.toml"


def selftest_problems(assignment: Assignment, variants: list[Variant] | None = None) -> list[str]:
    problems = [f"{p} is out of date: run grader template build" for p in stale_template_files(assignment)]
    template_paths = sorted(template_files(assignment))
    variants = find_variants(assignment.root) if variants is None else variants
    paths = [assignment.reference, *template_paths, *(v.path for v in variants)]
    # No hints here (the known bugs are recorded afterwards, and a variant's expectations are about scores).
    session = open_session(assignment, [str(Path(p).resolve().parent) for p in paths], book=AnswerBook.empty())
    try:
        results = grade_files(assignment, paths, session=session)
    finally:
        session.close()
    reference = results[0]
    templates = results[1:1 + len(template_paths)]
    for test in reference["tests"]:
        if test["status"] != "passed":
            problems.append(f"reference fails '{test['name']}': {test['output']}")
        if test["max_score"] <= 0:
            problems.append(f"test '{test['tags'][-1]}' has no points in assignment.toml [points]")
    if reference["score"] != reference["max_score"]:
        problems.append(f"reference scores {reference['score']:g}/{reference['max_score']:g}, not full marks")
    for path, result in zip(template_paths, templates):
        if result["score"] != 0:
            earned = [t["tags"][-1] for t in result["tests"] if t["score"] > 0]
            problems.append(f"untouched template {path.name} scores {result['score']:g}: {', '.join(earned)}")
    test_names = {t["tags"][-1] for t in reference["tests"]}
    for key in assignment.points:
        if not any(name == key or name.split("[", 1)[0] == key for name in test_names):
            problems.append(f"[points] entry '{key}' matches no test")
    for variant, result in zip(variants, results[1 + len(template_paths):]):
        problems += variant_problems(variant, result)
    return problems


@dataclass
class MutationReport:
    total: int
    killed: list[Mutant] = field(default_factory=list)
    equivalent: list[Mutant] = field(default_factory=list)
    survivors: list[Mutant] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        judged = self.total - len(self.equivalent)
        return len(self.killed) / judged if judged else 1.0

    def lines(self) -> list[str]:
        lines = [f"mutants: killed {len(self.killed)} of {self.total} ({len(self.equivalent)} marked equivalent)"
                 f", score {self.score:.0%}"]
        lines += [f"  survivor {m.diff()}    [id: {m.id}]" for m in self.survivors]
        return lines


def mutation_report(assignment: Assignment, mutants: list[Mutant] | None = None,
                    recordings: dict[str, Recording] | None = None) -> MutationReport:
    """Grade every mutant (or the given ones) and sort them into killed, equivalent and survivors.

    ``recordings``: the mutants already graded (``grader.hints.record``), keyed by their ids.
    """
    if assignment.reference is None:
        raise GraderError(f"{assignment.id}: no reference to mutate; selftest needs the instructor's kit")
    if mutants is None:
        mutants = generate(assignment.reference.read_text(encoding="utf-8"))
    if recordings is None:
        recordings = record(assignment, {m.id: submission_of(KnownBug(m.id, None, source=m.source), assignment)
                                         for m in mutants})
    equivalent = load_equivalent(assignment.root / EQUIVALENT_NAME)
    report = MutationReport(total=len(mutants))
    settings = assignment.selftest
    if len(mutants) < settings.min_mutants:
        report.problems.append(f"only {len(mutants)} mutants, fewer than [selftest] min_mutants = "
                               f"{settings.min_mutants}: are the BEGIN/END SOLUTION regions intact?")
    for mutant in mutants:
        dead = recordings[mutant.id].killed
        if mutant.id in equivalent:
            report.equivalent.append(mutant)
            if dead:
                report.problems.append(f"{EQUIVALENT_NAME} marks a mutant equivalent that the tests kill; "
                                       f"remove its entry: {mutant.id}")
        else:
            (report.killed if dead else report.survivors).append(mutant)
    generated = {m.id for m in mutants}
    for stale in sorted(set(equivalent) - generated):
        report.problems.append(f"{EQUIVALENT_NAME} lists a mutant that is no longer generated; remove it: {stale}")
    if report.score < settings.mutation_threshold:
        report.problems.append(f"mutation score {report.score:.1%} is below [selftest] mutation_threshold = "
                               f"{settings.mutation_threshold:g}: sharpen a test for each survivor, or list it "
                               f"with a reason in {EQUIVALENT_NAME}")
    return report


def load_equivalent(path: Path) -> dict[str, str]:
    """``[equivalent]`` of mutants.toml: mutant id -> why no test can or should kill it."""
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GraderError(f"{path}: not readable TOML ({exc}); fix the file") from None
    if set(raw) - {"equivalent"}:
        raise GraderError(f"{path}: only an [equivalent] table belongs here (found {', '.join(sorted(raw))})")
    table = raw.get("equivalent", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) and v.strip() for v in table.values()):
        raise GraderError(f"{path}: [equivalent] must map each mutant id to a non-empty reason")
    return dict(table)


def grade_derived(assignment: Assignment, sources: list[tuple[str, str]], jobs: int, kind: str) -> list[dict]:
    """Files derived from the reference (parts removed), graded as one class by the batch
    engine, sandbox on, with [selftest]'s tight deadlines: one result per ``(name, source)``."""
    if not sources:
        return []
    tight = bug_limits(assignment)
    entries = [Entry(student=f"{kind}{number:03d}", name=name, files={f"{assignment.template_name}.py": source.encode()})
               for number, (name, source) in enumerate(sources)]
    todo = [(entry, load_entry(entry, tight), hashlib.sha256(entry.student.encode()).hexdigest())
            for entry in entries]
    with tempfile.TemporaryDirectory(prefix=f"grader-{kind}s-") as outdir:
        run_batch(BatchPlan("selftest", entries, todo, 0), tight, Path(outdir), jobs=jobs, hide=[outdir])
        return [json.loads(result_path(Path(outdir), entry).read_text(encoding="utf-8")) for entry in entries]


def parts_report(assignment: Assignment, jobs: int | None = None) -> PartsReport:
    """Grade the reference with each part removed (grader.parts) and judge the tests' declarations."""
    if assignment.reference is None:
        raise GraderError(f"{assignment.id}: no reference to take parts from; selftest needs the instructor's kit")
    source = assignment.reference.read_text(encoding="utf-8")
    removals = derive_removals(source)
    results = grade_derived(assignment, [(r.label, r.source) for r in removals], jobs or default_jobs(), "part")
    tests = {d.test: d for result in results for d in declarations(result)}
    return judge(source, removals, results, assignment.parts_everywhere, list(tests.values()))


def run_selftest(assignment: Assignment, list_unnamed: bool = False, jobs: int | None = None) -> bool:
    variants = find_variants(assignment.root)
    problems = selftest_problems(assignment, variants)
    kinds = [v.kind for v in variants]
    print(f"variants: {kinds.count('correct')} correct, {kinds.count('buggy')} buggy graded")
    mutants = generate(assignment.reference.read_text(encoding="utf-8"))
    bugs = known_bugs(assignment, variants, mutants)
    # Every known bug once, in the sandbox, as one class: the mutation report, the answer book and the
    # hint report all read these recordings; the correct variants and the reference are the yardstick.
    correct = {v.label: v for v in variants if v.kind == "correct"}
    submissions = {REFERENCE: reference_submission(assignment)}
    submissions.update({label: submission_of(KnownBug(label, None, path=v.path), assignment)
                        for label, v in correct.items()})
    submissions.update({bug.name: submission_of(bug, assignment) for bug in bugs})
    recordings = record(assignment, submissions)
    report = mutation_report(assignment, mutants, recordings)
    for line in report.lines():
        print(line)
    book = build_book({name: recordings[name] for name in [REFERENCE, *(bug.name for bug in bugs)]},
                      book_key(assignment))
    # Saved before the parts are graded: that batch looks the book up, and finding none it would grade
    # every known bug a second time to record it.
    save_book(book, assignment)
    isolation = parts_report(assignment, jobs)
    for line in isolation.lines():
        print(line)
    hints = hint_report(book, bugs, recordings, assignment.selftest.hint_threshold,
                        {label: recordings[label] for label in correct},
                        frozenset(set(mutant_hints(assignment.root)) - {m.id for m in mutants}))
    for line in hints.lines(list_unnamed):
        print(line)
    problems += report.problems + isolation.problems + hints.problems
    for problem in problems:
        print(f"selftest: {problem}")
    if not problems:
        print(f"selftest: {assignment.id} ok: reference full marks, template 0, every test has points, "
              f"variants as declared, mutation score {report.score:.0%}, every part isolated, "
              f"{hints.named} of {hints.fingerprints} fingerprints named")
    return not problems
