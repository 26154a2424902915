"""The study seen from outside: the lm-evaluation-harness model class and the data-parallel CLI."""
