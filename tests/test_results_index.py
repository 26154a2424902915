"""The results index is generated from the files and kept up to date."""

from __future__ import annotations

from mdlm_study import records, results_index


def test_index_is_up_to_date():
    assert results_index.main(["--check"]) == 0, "run python -m mdlm_study.results_index"


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
