"""The contract-v2 bench: arms, decomposition rows, equal budget, measured epoch notes; the FLOP count."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
import torch
from neuro_gym import bench
from neuro_gym import cli as neuro_gym_main
from neuro_gym.cli import make_parser
from neuro_gym.headline import README_END, README_START, update_readme
from neuro_gym.peers import flops_per_step

from trainkit.cli import assert_every_flag_has_help
from trainkit.contract import read_document, validate_document


def test_bench_writes_a_valid_document_with_three_decomposition_rows(tmp_path, monkeypatch):
    tiny = bench.BenchPreset(seeds=1, xor_epochs=12, sequence_epochs=2, control_seeds=1, engine_check=False)
    monkeypatch.setitem(bench.PRESETS, "tiny", tiny)
    package_readme = Path(neuro_gym_main.README).read_bytes()
    assert neuro_gym_main.main(["bench", "--preset", "tiny", "--out", str(tmp_path)]) == 0
    assert Path(neuro_gym_main.README).read_bytes() == package_readme  # not the evidence run: README untouched
    doc = read_document(tmp_path / "benchmark.json")
    validate_document(doc)
    assert set(doc["modes"]) == {"original", "original_per_sample", "max_speed", "optimized"}
    rows = [(row["baseline"], row["variant"]) for row in doc["decomposition"]]
    assert rows == [
        ("original_per_sample", "original"),
        ("original", "max_speed"),
        ("original_per_sample", "optimized"),
    ]
    assert "per-sample engine vs our batched engine" in doc["decomposition"][0]["label"]
    assert "re-implementation" in doc["modes"]["original"]["description"]  # not the original project's code
    assert doc["design_claim"]["low"] == 3.4 and doc["margin"]["reason"]
    assert {o["name"] for o in doc["opponents"]} == {"chance", "untrained_readout", "order_blind"}
    for mode in doc["modes"].values():
        (run,) = mode["runs"]
        assert run["work"] == {"xor_epochs": 12.0, "sequence_epochs": 2.0}  # the same budget for every arm
        assert run["quality_at_budget"] is not None and 0.0 <= run["quality_at_budget"] <= 1.0
    # The notes carry this run's epochs to target and the answer to the design document's claim.
    assert any("30-40% fewer epochs" in note and "original_per_sample" in note for note in doc["notes"])
    assert doc["extra_comparisons"]["controls"]["untrained"] == [pytest.approx(0.1)]
    assert (tmp_path / "neuro_gym_bench.png").stat().st_size > 1000
    # The README headline is rewritten from that file, between its markers only.
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    assert update_readme(readme, tmp_path / "benchmark.json", "reports/bench/neuro_gym/benchmark.json")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    for row in doc["decomposition"]:
        assert f"| {row['label']}" in text
    assert "**headline**" in text and "| original_per_sample |" in text and "30-40% fewer epochs" in text


def test_flops_per_step_counts_the_products_and_the_elementwise_work():
    # 18 inputs -> 256 hidden -> 10 outputs, batch 100, readout in 1 step of 3.
    hidden_product, hidden_lif = 2 * 100 * 18 * 256, 8 * 100 * 256
    readout = (2 * 100 * 256 * 10 + 8 * 100 * 10) / 3
    assert flops_per_step(6, 256, 10, learn=False) == pytest.approx(hidden_product + hidden_lif + readout)
    learning = 2 * 100 * 256 + (4 * 10 * 100 * 256 + 8 * 10 * 256) / 3
    assert flops_per_step(6, 256, 10, learn=True) == pytest.approx(hidden_product + hidden_lif + readout + learning)


def test_every_flag_has_help_and_only_two_console_scripts():
    assert_every_flag_has_help(make_parser())
    pyproject = Path(__file__).resolve().parents[2] / "packages" / "neuro_gym" / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert set(scripts) == {"neuro-gym", "neuro-gym-bench"}


@pytest.mark.slow
def test_engine_comparison_reports_bound_ratios_and_peers():
    from neuro_gym.peers import engine_comparison

    result = engine_comparison(with_compiled=False, profile=True)
    seq = result["sequence size"]
    assert result["gemm_gflops_measured"] > 0
    assert seq["ours_fused"]["eval_x_bound"] >= 1.0  # nothing beats the arithmetic bound
    assert seq["ours_stepwise_before_fusion"]["eval_us_per_step"] > 0
    for phase in ("profile_of_an_evaluation", "profile_of_a_training_epoch"):
        profile = seq[phase]
        assert all(row["op"].startswith("aten::") and 0 < row["share"] <= 1 for row in profile["top_ops"])
        # At least the hidden layer's 6 operations per step (plus the readout's in the decision window).
        assert profile["hidden_layer_ops_per_step"] >= 6 and profile["dispatch_us_per_call"] > 0
        assert profile["aten_calls_per_step"] > profile["hidden_layer_ops_per_step"]
        assert profile["dispatch_floor_us_per_step"] == pytest.approx(
            profile["dispatch_us_per_call"] * profile["aten_calls_per_step"]
        )
    assert set(result["issue_targets"]) == {
        "ours_at_least_2x_faster_than_each_peer",
        "eval_within_3x_bound",
        "train_within_5x_bound",
    }


def test_thread_comparison_measures_each_count_and_restores_the_setting():
    from neuro_gym.peers import thread_comparison

    before = torch.get_num_threads()
    result = thread_comparison(threads=(1, 2), rounds=1)
    assert torch.get_num_threads() == before
    assert all(result[f"{n}_threads_{phase}_us_per_step"] > 0 for n in (1, 2) for phase in ("eval", "train"))
    faster = result["faster_threads"]
    other = 3 - faster
    assert sum(result[f"{faster}_threads_{p}_us_per_step"] for p in ("eval", "train")) <= sum(
        result[f"{other}_threads_{p}_us_per_step"] for p in ("eval", "train")
    )
