import random

import pytest

from mdlm_study.tasks.sudoku import (
    all_grids,
    count_solutions,
    generate_puzzles,
    is_valid_solution,
    make_puzzle,
    solves,
)


def test_there_are_288_grids_all_valid():
    grids = all_grids()
    assert len(grids) == 288 and len(set(grids)) == 288
    assert all(is_valid_solution(g) for g in grids)


def test_validity_check_rejects_broken_grids():
    good = all_grids()[0]
    swapped = good[1] + good[0] + good[2:]
    assert not is_valid_solution(swapped)
    assert not is_valid_solution(good[:15])
    assert not is_valid_solution("5" + good[1:])


def test_puzzles_have_unique_solutions_and_are_deterministic():
    a = generate_puzzles(30, seed=0)
    assert a == generate_puzzles(30, seed=0)
    for p in a:
        assert count_solutions(p.puzzle) == 1
        assert solves(p.puzzle, p.solution)
        assert 6 <= p.puzzle.count(".") <= 10
        assert p.answer == p.solution and len(p.answer) == 16


def test_solves_requires_clues_kept():
    p = make_puzzle(random.Random(0), n_blanks=8)
    other = next(g for g in all_grids() if g != p.solution)
    assert not solves(p.puzzle, other)


def test_bad_blank_count_raises():
    with pytest.raises(ValueError, match="n_blanks"):
        make_puzzle(random.Random(0), n_blanks=0)


def test_check_puzzle_accepts_generated_puzzles_and_names_the_broken_cell_or_unit():
    from mdlm_study.tasks.sudoku import SudokuPuzzle, check_puzzle

    puzzles = generate_puzzles(20, seed=1)
    for p in puzzles:
        check_puzzle(p)
    p = puzzles[0]
    repeated = p.solution[0] * 2 + p.solution[2:]  # row 1 holds its first digit twice
    given = next(i for i, c in enumerate(p.puzzle) if c != ".")
    other = next(d for d in "1234" if d != p.solution[given])
    bad = [(SudokuPuzzle(p.puzzle[:15], p.solution), "puzzle .* has 15 cells"),
           (SudokuPuzzle(p.puzzle, p.solution[:15] + "5"), r"solution .* has characters outside '1234': \['5'\]"),
           (SudokuPuzzle("." * 16, repeated), "not a valid grid: row 1 does not hold 1-4 once each"),
           (SudokuPuzzle(p.puzzle[:given] + other + p.puzzle[given + 1:], p.solution),
            f"contradicts the puzzle's given {other} at row {given // 4 + 1}, column {given % 4 + 1}")]
    for puzzle, match in bad:
        with pytest.raises(ValueError, match=match):
            check_puzzle(puzzle)
