"""The results index is generated from the files and kept up to date."""

from __future__ import annotations

import itertools
import shutil

from mdlm_study.core import records
from mdlm_study.reporting import results_index


def test_index_is_up_to_date():
    assert results_index.main(["--check"]) == 0, "run python -m mdlm_study.reporting.results_index"


def test_entry_reads_model_weights_and_command_from_a_record(tmp_path):
    path = records.write_record(tmp_path / "default" / "decoding_x.json", [{"accuracy": 0.5, "weights_sha256": "f" * 64}],
                                command="python benchmarks/bench_seeds.py --n 5")
    row = results_index.entry(path, root=tmp_path)
    assert row["file"] == "default/decoding_x.json" and row["model"] == "default" and row["weights"] == "f" * 12
    assert row["command"] == "python benchmarks/bench_seeds.py --n 5" and "decoding rule" in row["measures"]


def test_entry_says_when_provenance_is_missing(tmp_path):
    (tmp_path / "odd_thing.json").write_text("[]")
    row = results_index.entry(tmp_path / "odd_thing.json", root=tmp_path)
    assert row["model"] == "(none)" and row["weights"] == "not recorded" and "not recorded" in row["command"]
    assert "not described" in row["measures"]


def test_entry_names_the_trainer_for_a_training_record(tmp_path):
    path = tmp_path / "trial_3l12k" / "run_chains_seed0.json"
    path.parent.mkdir()
    path.write_text('{"recipe": "chains", "train": {"seed": 0}, "history": [], "weights_sha256": "%s"}' % ("a" * 64))
    row = results_index.entry(path, root=tmp_path)
    assert row["command"].startswith("python -m mdlm_study.training.recipes chains") and row["weights"] == "a" * 12
    assert "training record" in row["measures"]
    (tmp_path / "not_a_run.json").write_text('{"recipe": "chains"}')
    assert "not recorded" in results_index.entry(tmp_path / "not_a_run.json", root=tmp_path)["command"]


def test_every_result_cited_in_the_documents_exists():
    """README, docs and notebook sources cite result files and figures that exist in the tree."""
    import re

    root = records.ROOT
    documents = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "notebooks").glob("*.ipynb"))]
    missing = []
    for doc in documents:
        for cited in re.findall(r"((?:benchmarks/results|figures)/[\w./-]+\.(?:json|png|csv))", doc.read_text()):
            if not (root / cited).exists():
                missing.append(f"{doc.relative_to(root)}: {cited}")
    assert missing == []


def _recipe(target: str) -> list[str]:
    """The command lines of a Makefile target, ``$(PY)`` kept as written."""
    lines = (records.ROOT / "Makefile").read_text().split(f"\n{target}:", 1)[1].splitlines()[1:]
    return [line.strip() for line in itertools.takewhile(lambda line: line.startswith("\t"), lines)]


def test_the_main_command_ends_with_the_bookkeeping_the_test_command_checks():
    steps = _recipe("reproduce")
    assert steps[-2:] == ["$(PY) -m mdlm_study.reporting.results_doc", "$(PY) -m mdlm_study.reporting.results_index"], steps
    assert any("benchmarks/results/" in step for step in steps[:-2])  # steps before it write result files


def test_reproduce_then_test_in_either_order_any_number_of_times(tmp_path):
    """The main command's last writes (a new reproduce record), its bookkeeping, then the test
    command's index check: passes, and keeps passing when both run again."""
    results = tmp_path / "results"
    shutil.copytree(results_index.RESULTS, results)
    assert results_index.main(["--check", "--results", str(results)]) == 0  # `make test` first: up to date
    for run in range(2):
        records.write_record(results / "machine" / "reproduce_weights.json", [{"model": "default", "same": True, "run": run}],
                             command="python -m mdlm_study.models.released compare --checkpoints checkpoints")
        if run == 0:  # a new result file: the index is stale until the bookkeeping runs (what `make reproduce` left)
            assert results_index.main(["--check", "--results", str(results)]) == 1
        assert results_index.main(["--results", str(results)]) == 0
        assert results_index.main(["--check", "--results", str(results)]) == 0
