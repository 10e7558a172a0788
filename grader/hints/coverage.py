"""``grader selftest``'s hint report: how many of the known bugs' fingerprints a hint names.

A fingerprint is a group of the answer book: known bugs (killed mutants, buggy variants) that give
the same wrong answers on every test they fail. Bugs that only raise, time out, or answer within
tolerance of the reference have none: exceptions get their own hints (``grader.plugin.likely_bug``).
A fingerprint is *named* when a submission behaving exactly like it is shown its hint, which
``hint_report`` checks by matching each fingerprint's own answers against the book.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.hints.book import WRONG, AnswerBook
from grader.hints.catalogue import HINTS_NAME, VARIANT_PREFIX, KnownBug
from grader.hints.record import Recording, named
from grader.variants import HINT_LANGUAGES


@dataclass
class HintReport:
    fingerprints: int
    named: int
    unnamed: list[list[str]] = field(default_factory=list)  # each unnamed fingerprint's bug names
    problems: list[str] = field(default_factory=list)

    def lines(self, list_unnamed: bool = False) -> list[str]:
        lines = [f"hints: {self.named} of {self.fingerprints} fingerprints named"]
        if list_unnamed:
            for members in self.unnamed:
                more = f"  (and {len(members) - 1} more with the same answers)" if len(members) > 1 else ""
                lines.append(f"  unnamed: {members[0]}{more}")
        return lines


def hint_report(book: AnswerBook, bugs: list[KnownBug], recordings: dict[str, Recording], threshold: float,
                correct: dict[str, Recording] | None = None, stale_ids: frozenset = frozenset()) -> HintReport:
    """Count the named fingerprints and list what keeps a hint from showing."""
    hints = {bug.name: bug.hint for bug in bugs if bug.hint}
    hinted, conflicts = named(book, hints)
    report = HintReport(fingerprints=len(book.groups), named=0)
    for number, group in enumerate(book.groups):
        if _shown(hinted, number, recordings[group["members"][0]]):
            report.named += 1
        else:
            report.unnamed.append(sorted(group["members"], key=_variants_first))
    report.problems += [f"known bugs that give the same answers to every test have different hints, so none shows "
                        f"(keep one): {'; '.join(members)}" for members in conflicts]
    report.problems += _entry_problems(book, bugs, recordings)
    report.problems += [f"{HINTS_NAME} names a mutant that is no longer generated; update or remove it: {name}"
                        for name in sorted(stale_ids)]
    for name, recording in (correct or {}).items():
        report.problems += [f"correct variant {name}'s answers to {case} are those of a known bug: its hint could "
                            "name correct code" for case in _looks_like_a_bug(book, recording)]
    share = report.named / report.fingerprints if report.fingerprints else 1.0
    if share < threshold:
        report.problems.append(f"hints name {report.named} of {report.fingerprints} fingerprints ({share:.0%}), "
                               f"below [selftest] hint_threshold = {threshold:g}: name more mutants in {HINTS_NAME} "
                               "(grader selftest --unnamed lists the others)")
    return report


def _shown(book: AnswerBook, group: int, recording: Recording) -> bool:
    """Whether a submission answering like this group's first bug is shown the group's hint."""
    tests = {case: (WRONG, answers) for case, answers in recording.wrong().items()
             if group in book.matching_groups(case, answers)}
    hint = book.hints[group]
    return hint is not None and hint in book.hints_for(tests).values()


def _entry_problems(book: AnswerBook, bugs: list[KnownBug], recordings: dict[str, Recording]) -> list[str]:
    """Hints that can never show: for a mutant no longer generated, not killed, or without wrong answers."""
    problems = []
    in_groups = {name for group in book.groups for name in group["members"]}
    for bug in bugs:
        if bug.hint is None or bug.name.startswith(VARIANT_PREFIX):
            continue
        missing = [lang for lang in HINT_LANGUAGES if lang not in bug.hint]
        if missing:
            problems.append(f"{HINTS_NAME}: [mutants.\"{bug.name}\"] has no hint in {missing[0]}")
        if bug.name in in_groups:
            continue
        recording = recordings.get(bug.name)
        why = ("the tests do not kill it" if recording is not None and not recording.killed else
               "it only raises, times out or answers within tolerance of the reference")
        problems.append(f"{HINTS_NAME} names a mutant whose hint can never show ({why}): {bug.name}")
    return problems


def _looks_like_a_bug(book: AnswerBook, recording: Recording) -> list[str]:
    """The tests where a correct submission's first answers are some known bug's whole wrong trace."""
    found = []
    for case, (_, _, answers) in recording.tests.items():
        for length in sorted({len(t["answers"]) for t in book.tests.get(case, {}).get("traces", [])}):
            if book.matching_groups(case, answers[:length]):
                found.append(case)
                break
    return found


def _variants_first(name: str) -> tuple:
    return (not name.startswith(VARIANT_PREFIX), name)
