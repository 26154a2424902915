"""4x4 Sudoku (docs/decisions.md, "Sudoku variant"): the constraint-satisfaction task where any-order decoding can beat
left-to-right, because some cells are determined by the clues while the top-left one may not be.

A puzzle is a 16-character string of digits 1-4 with ``.`` for blanks; its solution is the unique
completed grid. Rows, columns and the four 2x2 boxes each hold 1-4 once.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

SIZE = 4
UNITS = tuple(
    [tuple(range(r * 4, r * 4 + 4)) for r in range(4)]
    + [tuple(range(c, 16, 4)) for c in range(4)]
    + [tuple(r * 4 + c for r in (br, br + 1) for c in (bc, bc + 1)) for br in (0, 2) for bc in (0, 2)]
)


@dataclass(frozen=True)
class SudokuPuzzle:
    puzzle: str  # 16 characters, "." for blanks
    solution: str  # 16 digits

    @property
    def question(self) -> str:
        """The prompt text: the four rows of the puzzle."""
        rows = [" ".join(self.puzzle[r * 4 : r * 4 + 4]) for r in range(4)]
        return "Solve: " + " / ".join(rows)

    @property
    def answer(self) -> str:
        """The answer text: the 16 digits of the solution (one token each)."""
        return self.solution


def is_valid_solution(grid: str) -> bool:
    """True when ``grid`` is 16 digits 1-4 with every row, column and box a permutation."""
    if len(grid) != 16 or any(ch not in "1234" for ch in grid):
        return False
    return all(sorted(grid[i] for i in unit) == ["1", "2", "3", "4"] for unit in UNITS)


def solves(puzzle: str, grid: str) -> bool:
    """True when ``grid`` is a valid solution that keeps every clue of ``puzzle``."""
    return is_valid_solution(grid) and all(p in (".", g) for p, g in zip(puzzle, grid, strict=True))


def _unit_name(index: int) -> str:
    kind, number = ("row", index + 1) if index < 4 else ("column", index - 3) if index < 8 else ("box", index - 7)
    return f"{kind} {number}"


def check_puzzle(puzzle: SudokuPuzzle) -> None:
    """``ValueError`` unless ``puzzle`` is a well-formed 4x4 puzzle with its solution: 16 cells of
    ``1``-``4`` or ``.`` in the puzzle, 16 digits ``1``-``4`` in the solution, every row, column and box
    of the solution a permutation, and the solution keeping every given of the puzzle. The message says
    which cell or unit is wrong."""
    for name, text, alphabet in (("puzzle", puzzle.puzzle, "1234."), ("solution", puzzle.solution, "1234")):
        if len(text) != SIZE * SIZE:
            raise ValueError(f"{name} {text!r} has {len(text)} cells; a 4x4 Sudoku has 16")
        stray = sorted(set(text) - set(alphabet))
        if stray:
            raise ValueError(f"{name} {text!r} has characters outside {alphabet!r}: {stray}")
    for index, unit in enumerate(UNITS):
        if sorted(puzzle.solution[i] for i in unit) != ["1", "2", "3", "4"]:
            raise ValueError(f"solution {puzzle.solution!r} is not a valid grid: {_unit_name(index)} does not hold 1-4 once each")
    for cell, (given, digit) in enumerate(zip(puzzle.puzzle, puzzle.solution, strict=True)):
        if given not in (".", digit):
            raise ValueError(f"solution {puzzle.solution!r} contradicts the puzzle's given {given} at row {cell // 4 + 1}, "
                             f"column {cell % 4 + 1} (solution has {digit})")


@lru_cache(maxsize=1)
def all_grids() -> tuple[str, ...]:
    """The 288 valid 4x4 Sudoku grids, in lexicographic order."""
    rows = ["".join(p) for p in itertools.permutations("1234")]
    grids = []
    for a, b, c, d in itertools.product(rows, repeat=4):
        grid = a + b + c + d
        if is_valid_solution(grid):
            grids.append(grid)
    return tuple(grids)


def count_solutions(puzzle: str) -> int:
    return sum(all(p in (".", g) for p, g in zip(puzzle, grid, strict=True)) for grid in all_grids())


def make_puzzle(rng: random.Random, *, n_blanks: int) -> SudokuPuzzle:
    """A puzzle with ``n_blanks`` blanks and a unique solution, drawn from ``rng``."""
    if not 1 <= n_blanks <= 12:
        raise ValueError(f"n_blanks must be in [1, 12] for a unique 4x4 solution, got {n_blanks}")
    grids = all_grids()
    while True:
        grid = rng.choice(grids)
        blanks = set(rng.sample(range(16), n_blanks))
        puzzle = "".join("." if i in blanks else ch for i, ch in enumerate(grid))
        if count_solutions(puzzle) == 1:
            return SudokuPuzzle(puzzle, grid)


def generate_puzzles(n: int, *, seed: int, blanks: tuple[int, int] = (6, 10), exclude=frozenset()) -> list[SudokuPuzzle]:
    """``n`` distinct puzzles, deterministic from ``seed``, skipping puzzles in ``exclude``."""
    lo, hi = blanks
    if lo > hi:
        raise ValueError(f"blanks must be a non-empty range, got {blanks}")
    rng, seen, out = random.Random(seed), set(exclude), []
    while len(out) < n:
        puzzle = make_puzzle(rng, n_blanks=rng.randint(lo, hi))
        if puzzle.puzzle not in seen:
            seen.add(puzzle.puzzle)
            out.append(puzzle)
    return out
