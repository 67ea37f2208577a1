"""The report renders schema-3 documents: both ratios, equal-budget quality, decomposition, provenance."""

from __future__ import annotations

from types import SimpleNamespace

from trainkit.harness import Arm, BenchSpec, Decomposition, RunResult, cited, run_bench
from trainkit.report import main, render_report

PRESETS = {"ci": SimpleNamespace(seeds=2), "quick": SimpleNamespace(seeds=2)}


def _write(folder, package, cpu_ratio, budget_shift, preset="ci"):
    def arm(factor, shift):
        return Arm(
            run=lambda seed: RunResult(
                seed,
                quality=0.5 + 0.1 * seed,
                quality_at_budget=0.5 + 0.1 * seed + shift,
                cpu_s=factor * (seed + 1),
                wall_s=factor * (seed + 1),
            ),
            warmup=None,
            description=f"costs {factor}",
            hyperparameters={"lr": cited(0.1, "orig/train.py lr=0.1")},
        )

    def build(ctx):
        arms = {"original": arm(cpu_ratio, 0.0), "engine": arm(cpu_ratio / 2, 0.0), "optimized": arm(1.0, budget_shift)}
        return BenchSpec(
            package, "acc", True, "3 epochs", arms, decomposition=[Decomposition("engine only", "original", "engine")]
        )

    args = SimpleNamespace(preset=preset, seeds=2, out=folder / package, threads=1, device="cpu", default_seeds=None)
    return run_bench(package, PRESETS, build, args, argv=["bench", "--preset", preset])


def test_report_has_both_ratios_decomposition_provenance_and_plots(tmp_path):
    a = _write(tmp_path / "bench", "alpha", 4.0, 0.0, preset="quick")
    b = _write(tmp_path / "bench", "beta", 0.5, -0.3, preset="quick")
    readme_root = tmp_path / "packages"
    (readme_root / "alpha").mkdir(parents=True)
    (readme_root / "alpha" / "README.md").write_text("# a\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\nz\n")
    report = render_report([b, a], tmp_path / "reports", readme_root, failures={"gamma": "exit 1"})
    text = report.read_text()
    assert "| [alpha](../bench/alpha/benchmark.json) | quick |" in text
    assert "4.00×" in text  # alpha's CPU ratio
    assert "| engine only | original → engine |" in text
    assert "lr = 0.1 (cited: orig/train.py lr=0.1)" in text
    assert "slower" in text and "quality inconclusive (n = 2 < 10 paired seeds) (at the equal budget)" in text
    assert "all pairs equal, n = 2" in text and "strongest opponent" in text
    assert "**bench failed**: exit 1" in text
    for png in ("speedup.png", "quality.png"):
        assert (tmp_path / "reports" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (readme_root / "alpha" / "README.md").read_text()
    assert "old" not in readme and "4.00× CPU" in readme and readme.endswith("z\n")


def test_other_presets_never_touch_readmes(tmp_path):
    a = _write(tmp_path / "bench", "alpha", 2.0, 0.0, preset="ci")
    readme = tmp_path / "packages" / "alpha" / "README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text("<!-- benchmark:start -->\nkept\n<!-- benchmark:end -->\n")
    render_report([a], tmp_path / "reports", tmp_path / "packages")
    assert "kept" in readme.read_text()


def test_cli_writes_report(tmp_path, capsys):
    a = _write(tmp_path / "bench", "alpha", 2.0, 0.0)
    assert main([str(a), "--out", str(tmp_path / "out"), "--elapsed=alpha=90", "--elapsed=beta=30"]) == 0
    text = (tmp_path / "out" / "BENCHMARKS.md").read_text()
    assert "`nox -s bench` took 2.0 min" in text and "alpha 1.5 min" in text
    assert "wrote" in capsys.readouterr().out
