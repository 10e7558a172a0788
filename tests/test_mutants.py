"""The mutant generator: deterministic, valid Python, only inside BEGIN/END SOLUTION."""
import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.mutants import OPERATORS, generate, solution_regions

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "reference" / "dezero_stage1.py").read_text(encoding="utf-8")

# One region using every construct an operator looks for, between code that must stay untouched.
EVERY_OPERATOR = '''import numpy as np
LIMIT = 3 ** 2  # outside: never mutated


class Box:
    def run(self, value, other):
        # BEGIN SOLUTION
        # a comment inside the region survives: café
        pending = [self.first, value]
        total = value.data - 1.5 * other / 2
        if total is None or value.grad == 0:
            pending.append(value)
        while pending:
            item = pending.pop()
            total = np.maximum(total, item)
        flag = True
        if flag:
            raise ValueError(f"bad {type(value)} at {1 + 2}")
        return np.exp(total)
        # END SOLUTION

    def untouched(self, x):
        return x.data - 1
'''


def _outside_region_unchanged(original: str, mutated: str) -> bool:
    """Everything before the first and after the last differing line lies outside every region."""
    old, new = original.splitlines(keepends=True), mutated.splitlines(keepends=True)
    start = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
    tail = 0
    while tail < min(len(old), len(new)) - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    first, last = start + 1, len(old) - tail  # 1-based changed lines of the original
    return any(lo <= first and last <= hi for lo, hi in solution_regions(original))


def test_generation_is_deterministic():
    first, second = generate(REFERENCE), generate(REFERENCE)
    assert [(m.id, m.source) for m in first] == [(m.id, m.source) for m in second]
    assert len({m.id for m in first}) == len(first)  # ids are unique keys for mutants.toml


def test_reference_mutants_are_valid_distinct_and_inside_regions():
    mutants = generate(REFERENCE)
    assert len(mutants) >= 30
    assert len({m.source for m in mutants}) == len(mutants)
    original = ast.dump(ast.parse(REFERENCE))
    for mutant in mutants:
        assert ast.dump(ast.parse(mutant.source)) != original, mutant.id
        assert _outside_region_unchanged(REFERENCE, mutant.source), mutant.id


def test_every_operator_produces_valid_python_and_touches_only_its_region():
    mutants = generate(EVERY_OPERATOR)
    assert {m.operator for m in mutants} == set(OPERATORS)
    for mutant in mutants:
        compile(mutant.source, "mutant.py", "exec")
        assert _outside_region_unchanged(EVERY_OPERATOR, mutant.source), mutant.id
        assert "# a comment inside the region survives: café" in mutant.source
        assert mutant.source.endswith("    def untouched(self, x):\n        return x.data - 1\n")


@pytest.mark.parametrize("operator, diff", [
    ("pop-end", "item = pending.pop()  ->  item = pending.pop(0)"),
    ("unwrap-call", "return np.exp(total)  ->  return total"),
    ("return-input", "return np.exp(total)  ->  return value"),
    ("swap-operands", "total = value.data - 1.5 * other / 2  ->  total = 1.5 * other / 2 - value.data"),
    ("binop", "total = value.data - 1.5 * other / 2  ->  total = value.data - (1.5 + other) / 2"),
    ("compare", "if total is None or value.grad == 0:  ->  if total is not None or value.grad == 0:"),
    ("constant", "flag = True  ->  flag = False"),
    ("negate", "while pending:  ->  while not pending:"),
    ("attribute", "total = value.data - 1.5 * other / 2  ->  total = value.grad - 1.5 * other / 2"),
    ("swap-arguments", "total = np.maximum(total, item)  ->  total = np.maximum(item, total)"),
    ("drop-statement", "pending.append(value)  ->  pass"),
])
def test_operator_reports_the_edit_it_made(operator, diff):
    diffs = {m.diff().split(": ", 1)[1] for m in generate(EVERY_OPERATOR) if m.operator == operator}
    assert diff in diffs


def test_messages_and_raised_exceptions_are_left_alone():
    """Only dropping the raise is a mistake worth making; its message text is no spec's business."""
    on_raise = [m for m in generate(EVERY_OPERATOR) if m.before.startswith("raise")]
    assert [m.diff().split(": ", 1)[1] for m in on_raise] == [
        'raise ValueError(f"bad {type(value)} at {1 + 2}")  ->  pass']


def test_a_source_without_regions_has_no_mutants():
    assert generate("def f(x):\n    return x + 1\n") == []
    assert generate(REFERENCE.replace("# BEGIN SOLUTION", "# BEGIN").replace("# END SOLUTION", "# END")) == []


def test_ids_do_not_depend_on_line_numbers():
    shifted = REFERENCE.replace("import numpy as np\n", "import numpy as np\n\n\n# a new comment\n", 1)
    assert [m.id for m in generate(shifted)] == [m.id for m in generate(REFERENCE)]
    assert [m.line for m in generate(shifted)] != [m.line for m in generate(REFERENCE)]


_OPS = ["+", "-", "*", "/", "**"]


@st.composite
def expressions(draw, depth=0):
    if depth >= 3 or draw(st.booleans()):
        return draw(st.sampled_from(["a", "b", "c", "2", "3"]))
    left, right = draw(expressions(depth=depth + 1)), draw(expressions(depth=depth + 1))
    text = f"{left} {draw(st.sampled_from(_OPS))} {right}"
    return f"({text})" if draw(st.booleans()) else text


@settings(max_examples=60, deadline=None)
@given(expressions())
def test_operator_swaps_change_one_operator_whatever_the_precedence(expression):
    """A swapped operator is parenthesised where needed: the tree keeps its shape, one op differs."""
    source = f"def f(a, b, c):\n    # BEGIN SOLUTION\n    return {expression}\n    # END SOLUTION\n"
    original = [type(n).__name__ for n in ast.walk(ast.parse(source))]
    for mutant in generate(source):
        if mutant.operator != "binop":
            continue
        mutated = [type(n).__name__ for n in ast.walk(ast.parse(mutant.source))]
        assert len(mutated) == len(original)
        assert sum(a != b for a, b in zip(original, mutated)) == 1, mutant.diff()
