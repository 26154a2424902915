"""Records carry their provenance; writes are atomic; hashes identify data and weights."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from mdlm_study.core import records


@dataclass
class _Problem:
    question: str
    answer: str


def test_provenance_names_code_software_hardware_time_and_command():
    p = records.provenance(["python", "bench.py", "--out", "a b.json"])
    assert set(p) >= {"commit", "dirty", "python", "torch", "transformers", "cpu", "cpu_detail", "threads", "date", "command"}
    assert p["command"] == "python bench.py --out 'a b.json'"
    assert p["commit"] == "unknown" or len(p["commit"]) == 40
    assert p["dirty"] in (True, False, None)


def test_a_scripts_command_names_its_own_arguments(monkeypatch):
    """A benchmark's main(argv) called from Python records argv, not the calling process's; from the shell
    (argv None), sys.argv; an empty argv stays empty. The script is named from the repository root."""
    script = records.ROOT / "benchmarks" / "bench_regime.py"
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest", "-k", "x"])
    assert records.script_command(script, ["--out", "a.json"]) == ["benchmarks/bench_regime.py", "--out", "a.json"]
    assert records.script_command(script) == ["benchmarks/bench_regime.py", "-k", "x"]
    assert records.script_command(script, []) == ["benchmarks/bench_regime.py"]


ZEN3 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse2 avx avx2 fma

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
flags		: avx2 avx512f avx512_bf16
"""


def test_cpu_detail_tells_cpus_apart_that_share_a_model_name():
    """Zen 3 and Zen 4 both call themselves "AMD EPYC" in a VM; family, model and instruction sets differ."""
    assert records.cpu_detail(ZEN3) == {"vendor": "AuthenticAMD", "family": 25, "model": 1, "stepping": 1, "isa": ["avx2"]}
    zen4 = records.cpu_detail(ZEN3.split("\n\n")[1])
    assert zen4["model"] == 17 and zen4["isa"] == ["avx2", "avx512f", "avx512_bf16"] and zen4["stepping"] is None
    assert records.cpu_detail("") == {}


def test_write_record_wraps_lists_adds_provenance_and_reads_back(tmp_path):
    path = records.write_record(tmp_path / "sub" / "r.json", [{"accuracy": 0.5}], command="x")
    data = json.loads(path.read_text())
    assert data["records"] == [{"accuracy": 0.5}] and data["provenance"]["command"] == "x"
    assert records.read_records(path) == [{"accuracy": 0.5}]
    assert list((tmp_path / "sub").iterdir()) == [path]  # no temporary file left behind


def test_read_records_refuses_what_is_not_records(tmp_path):
    (tmp_path / "m.json").write_text('{"weights": 1}')
    with pytest.raises(ValueError, match="m.json is not a list of records"):
        records.read_records(tmp_path / "m.json")
    with pytest.raises(ValueError, match="no such record file"):
        records.read_records(tmp_path / "absent.json")


def test_problems_sha256_depends_on_content_and_order_only():
    a, b = _Problem("1+1", "2"), _Problem("2+2", "4")
    assert records.problems_sha256([a, b]) == records.problems_sha256([{"question": "1+1", "answer": "2"}, b])
    assert records.problems_sha256([a, b]) != records.problems_sha256([b, a])
    assert records.problems_sha256([a]) != records.problems_sha256([_Problem("1+1", "3")])


def test_model_identity_checks_the_hash():
    assert records.model_identity("default", "a" * 64) == {"model": "default", "weights_sha256": "a" * 64}
    with pytest.raises(ValueError, match="64-hex-digit"):
        records.model_identity("default", "abc")


def test_relative_paths_inside_the_repository(tmp_path):
    assert records.relative(records.ROOT / "data" / "x.jsonl") == "data/x.jsonl"
    assert records.relative(tmp_path / "y") == str(tmp_path / "y")


def test_result_records_put_the_decoding_keys_at_the_top_level():
    from mdlm_study.engine import DecodeConfig

    identity = {**records.model_identity("default", "b" * 64), "problems": "held_out_1500", "problems_sha256": "c" * 64}
    rec = records.result_record(DecodeConfig("med", med_lambda=0.2, exit_gamma=0.1), {"accuracy": 0.8, "mean_nfe": 12.5, "n_problems": 300},
                                identity)
    assert {k: rec[k] for k in records.DECODING_KEYS} == {"sampler": "med", "tokens_per_step": 1, "block_size": None, "med_lambda": 0.2,
                                                          "exit_gamma": 0.1, "mean_nfe": 12.5, "accuracy": 0.8, "n_problems": 300,
                                                          "tokens_per_forward": None, "aup": None}
    with_tpf = records.result_record(DecodeConfig("entropy"), {"accuracy": 0.75, "mean_nfe": 10.0, "n_problems": 4, "tokens_per_forward": 2.5})
    assert with_tpf["aup"] == pytest.approx(187.5)  # one point: ρ·y = 2.5 × 75
    assert rec["model"] == "default" and rec["problems_sha256"] == "c" * 64
    entropy = records.result_record(DecodeConfig("entropy"), {"accuracy": None, "mean_nfe": None, "n_problems": 0})
    assert entropy["med_lambda"] is None and entropy["accuracy"] is None  # a setting of another rule; nothing decoded
    assert DecodeConfig.from_dict({k: v for k, v in rec.items() if k in DecodeConfig().to_dict() or k == "med_lambda"}) == DecodeConfig(
        "med", med_lambda=0.2, exit_gamma=0.1)


def test_records_are_readable_like_any_written_file(tmp_path):
    import os

    path = records.write_record(tmp_path / "r.json", {"a": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_every_atomic_write_gives_a_plain_file_mode_and_leaves_no_temporary(tmp_path):
    """Records, figure and table sidecars, JSON files: one writer, files as ``open()`` would make them."""
    import os

    import pandas as pd

    from mdlm_study.reporting import figures

    previous = os.umask(0o027)
    try:
        written = [records.write_text_atomic(tmp_path / "t.txt", "x"), records.write_json_atomic(tmp_path / "j.json", {"a": [1]}),
                   figures.save_table(pd.DataFrame({"a": [1]}), "t", tmp_path, {"n": 1})]
        written.append(tmp_path / "figures" / "tables" / "t.json")
    finally:
        os.umask(previous)
    assert {path.stat().st_mode & 0o777 for path in written} == {0o640}
    assert (tmp_path / "j.json").read_text() == '{\n  "a": [\n    1\n  ]\n}\n'
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    import os

    records.write_text_atomic(tmp_path / "f.txt", "old")
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        records.write_text_atomic(tmp_path / "f.txt", "new")
    assert (tmp_path / "f.txt").read_text() == "old" and not list(tmp_path.glob(".*.tmp"))


def test_dirty_ignores_the_study_outputs_but_not_code(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.json").write_text("1")
    (tmp_path / "code.py").write_text("x = 1")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init")
    monkeypatch.setattr(records, "ROOT", tmp_path)
    assert records.git_state()["dirty"] is False
    (tmp_path / "figures" / "a.json").write_text("2")
    assert records.git_state()["dirty"] is False  # an output being rewritten
    (tmp_path / "code.py").write_text("x = 2")
    assert records.git_state()["dirty"] is True
