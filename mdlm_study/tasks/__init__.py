"""Tasks: a task is a problem generator, a template, a grader and recipe defaults (arithmetic, 4x4 Sudoku,
chains, GSM8K); benchmark readers and graders, the code sandbox, the study's datasets on disk."""
