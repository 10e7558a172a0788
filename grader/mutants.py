"""Mutants of the reference's solution regions, to measure how sharp the tests are.

Every ``# BEGIN SOLUTION`` / ``# END SOLUTION`` region is what students write, so each small
plausible mistake made there (an operator swapped, a constant changed, a statement dropped,
``pop()`` for ``pop(0)``, ``as_array`` forgotten, ...) should fail at least one test. A mutant is
the reference with exactly one such edit, spliced into the source text: everything outside the
edited node, comments and other regions included, stays byte-identical.

Built on the stdlib ``ast`` (mutmut needs libcst and drives its own test runner; cosmic-ray brings
a dozen service dependencies): each operator proposes a replacement node, ``ast.unparse`` writes
it, and the spliced file is re-parsed and compared with the intended tree, so a precedence slip
can never produce a different mutant than the one reported. The list is deterministic: source
order, then operator order.
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Callable, Iterator

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"

_BINOP_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div, ast.Add), ast.Div: (ast.Mult,),
    ast.Pow: (ast.Mult,), ast.FloorDiv: (ast.Div,), ast.Mod: (ast.FloorDiv,),
}
_ORDERED = (ast.Sub, ast.Div, ast.Pow, ast.FloorDiv, ast.Mod)  # operands worth swapping
_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt,), ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt,),
    ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
# The graph's two ends and a variable's two arrays: the mix-ups students make most.
_ATTRIBUTE_SWAPS = {"input": "output", "output": "input", "data": "grad", "grad": "data"}
_ATOMS = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Call, ast.List, ast.Dict, ast.Set)


@dataclass(frozen=True)
class Mutant:
    id: str        # stable across runs and unrelated edits: "<function>: <before> -> <after>"
    operator: str
    line: int
    before: str    # the edited line(s) of the reference, stripped
    after: str     # the same line(s) in the mutant
    source: str    # the whole mutated file

    def diff(self) -> str:
        return f"line {self.line}: {self.before}  ->  {self.after}"


def solution_regions(source: str) -> list[tuple[int, int]]:
    """1-based (first, last) line numbers strictly between each BEGIN/END SOLUTION pair."""
    regions, start = [], None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            start = number
        elif marker == END and start is not None:
            regions.append((start + 1, number - 1))
            start = None
    return regions


def generate(source: str) -> list[Mutant]:
    """Every mutant of the solution regions, in a deterministic order, duplicates removed."""
    tree = ast.parse(source)
    regions = solution_regions(source)
    expected_dump = ast.dump(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    mutants, seen = [], {source}
    for node, owner in _nodes_in(tree, regions):
        for operator, replacement in _proposals(node, owner, parents):
            mutant = _splice(source, tree, node, replacement, parents, operator, owner.name)
            if mutant is not None and mutant.source not in seen and ast.dump(ast.parse(mutant.source)) != expected_dump:
                seen.add(mutant.source)
                mutants.append(mutant)
    return _unique_ids(mutants)


def _nodes_in(tree: ast.Module, regions: list[tuple[int, int]]) -> Iterator[tuple[ast.AST, "_Owner"]]:
    """Nodes fully inside a region, in source order, with the function that holds them."""
    found = []

    def visit(node: ast.AST, owner: "_Owner | None") -> None:
        for child in ast.iter_child_nodes(node):
            inner = owner
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                prefix = f"{owner.name}." if owner else ""
                inner = _Owner(prefix + child.name, child if not isinstance(child, ast.ClassDef) else None)
            elif isinstance(child, ast.JoinedStr):
                continue  # an f-string's pieces only shape a message, which no spec fixes
            elif owner is not None and owner.function is not None and _inside(child, regions):
                found.append((child.lineno, child.col_offset, -child.end_lineno, -child.end_col_offset,
                              len(found), child, owner))
            visit(child, inner)

    visit(tree, None)
    found.sort(key=lambda item: item[:5])
    return iter([(node, owner) for *_, node, owner in found])


@dataclass(frozen=True)
class _Owner:
    name: str
    function: ast.FunctionDef | None


def _inside(node: ast.AST, regions: list[tuple[int, int]]) -> bool:
    if not hasattr(node, "lineno") or node.end_lineno is None:
        return False
    return any(first <= node.lineno and node.end_lineno <= last for first, last in regions)


def _proposals(node: ast.AST, owner: _Owner, parents: dict) -> Iterator[tuple[str, ast.AST]]:
    for operator, propose in _OPERATORS:
        for replacement in propose(node, owner, parents):
            yield operator, replacement


def _binop(node, owner, parents):
    if isinstance(node, ast.BinOp):
        for op in _BINOP_SWAPS.get(type(node.op), ()):
            yield ast.BinOp(left=node.left, op=op(), right=node.right)


def _swap_operands(node, owner, parents):
    if isinstance(node, ast.BinOp) and isinstance(node.op, _ORDERED):
        yield ast.BinOp(left=node.right, op=node.op, right=node.left)


def _compare(node, owner, parents):
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        for op in _COMPARE_SWAPS.get(type(node.ops[0]), ()):
            yield ast.Compare(left=node.left, ops=[op()], comparators=node.comparators)


def _negate(node, owner, parents):
    """``while pending`` -> ``while not pending``; comparisons are left to ``_compare``."""
    parent = parents.get(node)
    if isinstance(parent, (ast.If, ast.While)) and parent.test is node and not isinstance(node, ast.Compare):
        yield node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) else \
            ast.UnaryOp(op=ast.Not(), operand=node)


def _constant(node, owner, parents):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            yield ast.Constant(not node.value)
        elif isinstance(node.value, (int, float)):
            yield ast.Constant(node.value + 1)


def _drop_statement(node, owner, parents):
    if isinstance(node, ast.stmt) and not isinstance(node, (ast.Pass, ast.FunctionDef, ast.ClassDef)):
        yield ast.Pass()


def _pop_end(node, owner, parents):
    """``xs.pop()`` (last) <-> ``xs.pop(0)`` (first): the two traversal orders."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "pop":
        if not node.args:
            yield ast.Call(func=node.func, args=[ast.Constant(0)], keywords=[])
        elif len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0:
            yield ast.Call(func=node.func, args=[], keywords=[])


def _unwrap_call(node, owner, parents):
    """``as_array(y)`` -> ``y``, ``np.exp(x)`` -> ``x``: the call forgotten, its argument kept.

    Skipped for a call whose result is discarded (unwrapping it is the same as dropping it) and for
    ``raise Error(message)``: raising a plain message is no one's mistake, and Python turns it into
    a TypeError anyway.
    """
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords \
            and not isinstance(node.args[0], ast.Starred) and not isinstance(parents.get(node), (ast.Expr, ast.Raise)):
        yield node.args[0]


def _swap_arguments(node, owner, parents):
    if isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args):
        yield ast.Call(func=node.func, args=[node.args[1], node.args[0], *node.args[2:]], keywords=node.keywords)
    if isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load) and len(node.elts) == 2:
        yield ast.Tuple(elts=[node.elts[1], node.elts[0]], ctx=ast.Load())


def _attribute(node, owner, parents):
    if isinstance(node, ast.Attribute) and node.attr in _ATTRIBUTE_SWAPS:
        yield ast.Attribute(value=node.value, attr=_ATTRIBUTE_SWAPS[node.attr], ctx=node.ctx)


def _return_input(node, owner, parents):
    """``return <anything>`` -> ``return <first parameter after self>``."""
    if isinstance(node, ast.Return) and node.value is not None:
        params = [a.arg for a in owner.function.args.args if a.arg not in ("self", "cls")]
        if params and not (isinstance(node.value, ast.Name) and node.value.id == params[0]):
            yield ast.Return(value=ast.Name(id=params[0], ctx=ast.Load()))


_OPERATORS: tuple[tuple[str, Callable], ...] = (
    ("drop-statement", _drop_statement), ("return-input", _return_input), ("binop", _binop),
    ("swap-operands", _swap_operands), ("compare", _compare), ("negate", _negate), ("constant", _constant),
    ("pop-end", _pop_end), ("unwrap-call", _unwrap_call), ("swap-arguments", _swap_arguments),
    ("attribute", _attribute),
)
OPERATORS = tuple(name for name, _ in _OPERATORS)


def _splice(source: str, tree: ast.Module, node: ast.AST, replacement: ast.AST, parents: dict,
            operator: str, owner: str) -> Mutant | None:
    """The source with ``node``'s text replaced, checked to parse to exactly the intended tree."""
    intended = ast.dump(_replaced(tree, node, replacement))
    text = ast.unparse(replacement)
    bare = text[1:-1] if isinstance(replacement, ast.Tuple) and text.startswith("(") else text
    for candidate in (bare, text, f"({text})"):
        mutated = _replace_span(source, node, candidate)
        try:
            if ast.dump(ast.parse(mutated)) == intended:
                return _describe(source, mutated, node, operator, owner)
        except SyntaxError:
            continue
    return None  # no spelling gives the intended tree: not a mutant we can report honestly


def _replaced(tree: ast.Module, target: ast.AST, replacement: ast.AST) -> ast.Module:
    """A copy of ``tree`` with the node at ``target``'s position replaced."""
    clone = copy.deepcopy(tree)
    key = _position(target)
    for parent in ast.walk(clone):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if type(item) is type(target) and _position(item) == key:
                        value[index] = replacement
                        return clone
            elif type(value) is type(target) and _position(value) == key:
                setattr(parent, field, replacement)
                return clone
    raise ValueError("mutation target not found")  # cannot happen: target comes from the same source


def _position(node: ast.AST) -> tuple:
    return node.lineno, node.col_offset, node.end_lineno, node.end_col_offset


def _replace_span(source: str, node: ast.AST, text: str) -> str:
    """Replace the node's exact span; AST columns count UTF-8 bytes, so slice bytes."""
    lines = source.splitlines(keepends=True)
    first, last = lines[node.lineno - 1].encode(), lines[node.end_lineno - 1].encode()
    joined = (first[:node.col_offset] + text.encode() + last[node.end_col_offset:]).decode()
    return "".join(lines[:node.lineno - 1]) + joined + "".join(lines[node.end_lineno:])


def _describe(source: str, mutated: str, node: ast.AST, operator: str, owner: str) -> Mutant:
    old_lines = source.splitlines()
    new_lines = mutated.splitlines()
    tail = len(old_lines) - node.end_lineno  # lines after the edit are identical
    before = _one_line(old_lines[node.lineno - 1:node.end_lineno])
    after = _one_line(new_lines[node.lineno - 1:len(new_lines) - tail])
    return Mutant(id=f"{owner}: {before} -> {after}", operator=operator, line=node.lineno, before=before,
                  after=after, source=mutated)


def _one_line(lines: list[str]) -> str:
    """A dropped block reads as its first line and an ellipsis."""
    return lines[0].strip() + (" ..." if len(lines) > 1 else "")


def _unique_ids(mutants: list[Mutant]) -> list[Mutant]:
    """Two edits can read the same on their lines (``x`` twice on one line): number the repeats."""
    counts: dict[str, int] = {}
    unique = []
    for mutant in mutants:
        counts[mutant.id] = counts.get(mutant.id, 0) + 1
        if counts[mutant.id] > 1:
            mutant = Mutant(**{**mutant.__dict__, "id": f"{mutant.id} #{counts[mutant.id]}"})
        unique.append(mutant)
    return unique
