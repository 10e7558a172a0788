"""``grader selftest``: the assignment is consistent, and its tests are proven sharp.

Consistency: the reference earns full marks, the generated template (both forms) earns 0, every
test has points, every points entry names a test, and the committed template is current.

Sharpness (docs/selftest.md): every file in ``variants/correct`` earns full marks, every file in
``variants/buggy`` fails exactly the tests it declares, and the tests kill at least
``[selftest] mutation_threshold`` of the reference's mutants that ``mutants.toml`` does not list
as equivalent. Mutants are graded by the batch engine, sandbox on, as a class would be.

Isolation (grader.parts): the reference with any one part removed loses only the tests that
declare that part, and at least one that measures it; graded like the mutants.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.assignment import Assignment
from grader.batch import BatchPlan, default_jobs, load_entry, result_path, run_batch
from grader.errors import GraderError
from grader.grading import grade_files
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
    results = grade_files(assignment, [assignment.reference, *template_paths, *(v.path for v in variants)])
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


def mutation_report(assignment: Assignment, mutants: list[Mutant] | None = None, jobs: int | None = None
                    ) -> MutationReport:
    """Grade every mutant (or the given ones) and sort them into killed, equivalent and survivors."""
    if assignment.reference is None:
        raise GraderError(f"{assignment.id}: no reference to mutate; selftest needs the instructor's kit")
    if mutants is None:
        mutants = generate(assignment.reference.read_text(encoding="utf-8"))
    equivalent = load_equivalent(assignment.root / EQUIVALENT_NAME)
    report = MutationReport(total=len(mutants))
    settings = assignment.selftest
    if len(mutants) < settings.min_mutants:
        report.problems.append(f"only {len(mutants)} mutants, fewer than [selftest] min_mutants = "
                               f"{settings.min_mutants}: are the BEGIN/END SOLUTION regions intact?")
    killed = grade_mutants(assignment, mutants, jobs or default_jobs())
    for mutant, dead in zip(mutants, killed):
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


def grade_mutants(assignment: Assignment, mutants: list[Mutant], jobs: int) -> list[bool]:
    """Whether each mutant is killed (loses any point), graded as one class by the batch engine."""
    results = grade_derived(assignment, [(mutant.id, mutant.source) for mutant in mutants], jobs, "mutant")
    return [result["score"] < result["max_score"] for result in results]


def grade_derived(assignment: Assignment, sources: list[tuple[str, str]], jobs: int, kind: str) -> list[dict]:
    """Files derived from the reference (mutants, parts removed), graded as one class by the batch
    engine, sandbox on, with [selftest]'s tight deadlines: one result per ``(name, source)``."""
    if not sources:
        return []
    tight = _mutant_limits(assignment)
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


def _mutant_limits(assignment: Assignment) -> Assignment:
    """The assignment with [selftest]'s tighter deadlines: some mutants loop forever."""
    settings = assignment.selftest
    seconds = min(settings.mutant_submission_seconds, assignment.submission_seconds)
    return dataclasses.replace(
        assignment, test_seconds=min(settings.mutant_test_seconds, assignment.test_seconds),
        submission_seconds=seconds, limits=dataclasses.replace(assignment.limits, cpu_seconds=int(seconds) + 1))


def run_selftest(assignment: Assignment, jobs: int | None = None) -> bool:
    variants = find_variants(assignment.root)
    problems = selftest_problems(assignment, variants)
    kinds = [v.kind for v in variants]
    print(f"variants: {kinds.count('correct')} correct, {kinds.count('buggy')} buggy graded")
    report = mutation_report(assignment, jobs=jobs)
    for line in report.lines():
        print(line)
    problems += report.problems
    isolation = parts_report(assignment, jobs)
    for line in isolation.lines():
        print(line)
    problems += isolation.problems
    for problem in problems:
        print(f"selftest: {problem}")
    if not problems:
        print(f"selftest: {assignment.id} ok: reference full marks, template 0, every test has points, "
              f"variants as declared, mutation score {report.score:.0%}, every part isolated")
    return not problems
