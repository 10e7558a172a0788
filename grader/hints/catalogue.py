"""The known bugs of an assignment, and the hint each one's author wrote for students.

- Every buggy variant (``variants/buggy/*``): its ``# hint(en):`` / ``# hint(ko):`` header lines.
- Every mutant of the reference (``grader.mutants``), named by the id ``grader selftest`` prints;
  ``assignments/<id>/hints.toml`` gives some of them a hint::

      [mutants."Exp.backward: return np.exp(x) * gy -> return x * gy"]
      en = "Exp.backward seems to multiply gy by x; the derivative of exp(x) is exp(x)"
      ko = "..."

A hint describes the mistake as the student would recognise it, from what the code *does* (the
answers), since students write the same bug in many ways.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.assignment import Assignment
from grader.compat import tomllib
from grader.errors import GraderError
from grader.mutants import Mutant, generate
from grader.variants import HINT_LANGUAGES, Variant, find_variants

HINTS_NAME = "hints.toml"
VARIANT_PREFIX = "variant "  # a buggy variant's bug name: "variant exp_backward_forgets_gy"


@dataclass(frozen=True)
class KnownBug:
    name: str                     # a mutant's id, or "variant <file stem>"
    hint: dict[str, str] | None   # language -> text, or None when nobody named it
    source: str | None = None     # a mutant's whole source
    path: Path | None = None      # a variant's file

    @property
    def is_variant(self) -> bool:
        return self.name.startswith(VARIANT_PREFIX)


def known_bugs(assignment: Assignment, variants: list[Variant] | None = None,
               mutants: list[Mutant] | None = None) -> list[KnownBug]:
    """The buggy variants, then every mutant, each with its hint (if any)."""
    variants = find_variants(assignment.root) if variants is None else variants
    mutants = generate(assignment.reference.read_text(encoding="utf-8")) if mutants is None else mutants
    named = mutant_hints(assignment.root)
    bugs = [KnownBug(VARIANT_PREFIX + v.path.stem, dict(v.hints) or None, path=v.path)
            for v in variants if v.kind == "buggy"]
    return bugs + [KnownBug(m.id, named.get(m.id), source=m.source) for m in mutants]


def bug_hints(assignment: Assignment) -> dict[str, dict[str, str]]:
    """Bug name -> hint, for every known bug someone named (without generating any mutant)."""
    hints = {VARIANT_PREFIX + v.path.stem: dict(v.hints) for v in find_variants(assignment.root)
             if v.kind == "buggy" and v.hints}
    hints.update(mutant_hints(assignment.root))
    return hints


def mutant_hints(root: Path) -> dict[str, dict[str, str]]:
    """``hints.toml``'s ``[mutants."<id>"]`` tables: mutant id -> language -> text."""
    path = root / HINTS_NAME
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GraderError(f"{path}: not readable TOML ({exc}); fix the file") from None
    if set(raw) - {"mutants"}:
        raise GraderError(f"{path}: only [mutants.\"<id>\"] tables belong here (found {', '.join(sorted(raw))})")
    table = raw.get("mutants", {})
    for mutant_id, hint in table.items():
        if not isinstance(hint, dict) or not all(isinstance(text, str) and text.strip() for text in hint.values()):
            raise GraderError(f"{path}: [mutants.\"{mutant_id}\"] must give a non-empty text per language")
        unknown = sorted(set(hint) - set(HINT_LANGUAGES))
        if unknown:
            raise GraderError(f"{path}: [mutants.\"{mutant_id}\"] has a hint for unknown language {unknown[0]}; "
                              f"use {', '.join(HINT_LANGUAGES)}")
    return {mutant_id: {lang: text.strip() for lang, text in hint.items()} for mutant_id, hint in table.items()}
