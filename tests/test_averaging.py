"""Tail averaging (``mdlm_study.training.averaging``): the mean of hand-built state dicts, its refusals, and the
averaged model of a smoke run's kept weights, checked against the mean computed here from the kept folders."""

from __future__ import annotations

import json

import pytest
import torch

from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import MARKER
from mdlm_study.training.averaging import average_state_dicts, main, tail_average
from mdlm_study.training.recipes import train_all


def test_the_mean_is_taken_key_by_key_in_each_tensor_s_dtype():
    states = [{"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([1.0], dtype=torch.bfloat16), "n": torch.tensor([3])},
              {"w": torch.tensor([2.0, 4.0]), "h": torch.tensor([2.0], dtype=torch.bfloat16), "n": torch.tensor([3])},
              {"w": torch.tensor([6.0, 0.0]), "h": torch.tensor([4.0], dtype=torch.bfloat16), "n": torch.tensor([3])}]
    mean = average_state_dicts(states)
    assert torch.equal(mean["w"], torch.tensor([3.0, 2.0]))
    assert mean["h"].dtype == torch.bfloat16 and mean["h"].item() == pytest.approx(7 / 3, abs=1e-2)
    assert torch.equal(mean["n"], torch.tensor([3]))  # an integer tensor equal everywhere is kept
    # one state is its own mean, bit for bit
    single = average_state_dicts(states[:1])
    assert all(torch.equal(single[key], states[0][key]) for key in states[0])


def test_the_mean_sums_in_float64_so_float32_rounding_does_not_build_up():
    # 0.1 summed ten times in float32 drifts from 1.0; the mean of ten copies of a value is that value
    value = torch.tensor([0.1, 1e-8, 3.3], dtype=torch.float32)
    assert torch.equal(average_state_dicts([{"w": value.clone()} for _ in range(10)])["w"], value)


@pytest.mark.parametrize(("states", "match"), [
    ([], "need at least one state dict"),
    ([{"a": torch.zeros(2)}, {"b": torch.zeros(2)}], r"state 1 has other keys than state 0: \['a', 'b'\]"),
    ([{"a": torch.zeros(2)}, {"a": torch.zeros(3)}], r"'a': state 1 holds \(3,\) torch.float32, state 0 \(2,\)"),
    ([{"a": torch.zeros(2)}, {"a": torch.zeros(2, dtype=torch.float64)}], r"'a': state 1 holds \(2,\) torch.float64"),
    ([{"n": torch.tensor([1])}, {"n": torch.tensor([1])}, {"n": torch.tensor([2])}],
     r"'n': a torch.int64 tensor cannot be averaged and differs between state 0 and state 2"),
])
def test_states_that_cannot_be_averaged_are_refused_by_name(states, match):
    with pytest.raises(ValueError, match=match):
        average_state_dicts(states)


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """A smoke chains run (30 steps) keeping its weights every 10 steps: kept at 10, 15 (the recipe's base), 20, 30."""
    root = tmp_path_factory.mktemp("averaging")
    train_all(["chains"], root / "data", root / "ck", smoke=True, progress=False, threads=1, keep_every=10)
    return root / "ck" / "chains"


def test_the_tail_average_is_the_mean_of_the_last_kept_weights_and_names_them(kept_run, tmp_path):
    made = tail_average(kept_run, 3, tmp_path / "tail3")
    assert [source["step"] for source in made["averaged_from"]] == [15, 20, 30]
    sources = [load_model(kept_run / "step15"), load_model(kept_run / "step20"), load_model(kept_run)]
    assert [source["weights_sha256"] for source in made["averaged_from"]] == [s.weights_sha256() for s in sources]
    averaged = load_model(tmp_path / "tail3")
    assert averaged.weights_sha256() == made["weights_sha256"]
    for key, tensor in averaged.model.state_dict().items():
        expected = sum(s.model.state_dict()[key].double() for s in sources) / 3
        assert torch.equal(tensor, expected.to(tensor.dtype)), key
    # the averaged weights differ from every source, and the marker records where they came from
    assert made["weights_sha256"] not in {s.weights_sha256() for s in sources}
    marker = json.loads((tmp_path / "tail3" / MARKER).read_text())
    assert marker["step"] == 30 and marker["averaged_from"] == made["averaged_from"]
    # the average of the last one is the run's final weights
    assert tail_average(kept_run, 1, tmp_path / "tail1")["weights_sha256"] == sources[-1].weights_sha256()


@pytest.mark.parametrize(("last", "match"), [(0, "last must be an int >= 1, got 0"),
                                             (5, r"last=5: .* keeps only 4 weights \(steps \[10, 15, 20, 30\]\)")])
def test_a_tail_longer_than_the_kept_weights_or_empty_is_refused(kept_run, tmp_path, last, match):
    with pytest.raises(ValueError, match=match):
        tail_average(kept_run, last, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_only_the_averaged_weights_need_their_folders(kept_run, tmp_path):
    (kept_run / "step10").rename(kept_run / "moved")
    try:
        assert [source["step"] for source in tail_average(kept_run, 2, tmp_path / "tail2")["averaged_from"]] == [20, 30]
        with pytest.raises(ValueError, match=r"lists snapshots that no folder holds: \[.*step10'\]"):
            tail_average(kept_run, 4, tmp_path / "tail4")
    finally:
        (kept_run / "moved").rename(kept_run / "step10")


def test_the_command_writes_a_folder_every_loader_takes(kept_run, tmp_path, capsys):
    made = main([str(kept_run), "--last", "2", "--out", str(tmp_path / "tail2"), "--record", str(tmp_path / "tail2.json")])
    assert "[average] steps [20, 30]" in capsys.readouterr().out
    assert load_model(tmp_path / "tail2").weights_sha256() == made["weights_sha256"]
    record = json.loads((tmp_path / "tail2.json").read_text())
    assert record["weights_sha256"] == made["weights_sha256"] and record["last"] == 2
    assert record["averaged_from"] == made["averaged_from"] and record["provenance"]["command"].endswith("tail2.json")
