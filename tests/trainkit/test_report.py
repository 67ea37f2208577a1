from trainkit import RunResult, build_benchmark, write_benchmark
from trainkit.report import main, render_report


def _write(folder, package, ratio, quality_shift):
    results = {
        "original": [RunResult(s, ratio * (s + 1), {"steps": 10}, 0.5 + 0.1 * s) for s in range(3)],
        "optimized": [RunResult(s, float(s + 1), {"steps": 10}, 0.5 + 0.1 * s + quality_shift) for s in range(3)],
    }
    doc = build_benchmark(package, "ci", f"python -m {package} bench --preset ci", results, "acc", True)
    return write_benchmark(folder / package, doc)


def test_report_has_one_row_per_package_plots_and_readme_tables(tmp_path):
    a = _write(tmp_path / "bench", "alpha", 4.0, 0.0)
    b = _write(tmp_path / "bench", "beta", 0.5, -0.3)
    readme_root = tmp_path / "packages"
    (readme_root / "alpha").mkdir(parents=True)
    (readme_root / "alpha" / "README.md").write_text(
        "# alpha\n<!-- benchmark:start -->\nold\n<!-- benchmark:end -->\ntail\n"
    )
    report = render_report([b, a], tmp_path / "reports", readme_root, failures={"gamma": "exit 1"})
    text = report.read_text()
    assert "| [alpha](../bench/alpha/benchmark.json) | ci | 4.00× (wall_s)" in text
    assert "not faster, quality lower" in text
    assert "**bench failed**: exit 1" in text
    assert "python -m beta bench --preset ci" in text
    for png in ("speedup.png", "quality.png"):
        assert (tmp_path / "reports" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (readme_root / "alpha" / "README.md").read_text()
    assert "old" not in readme and "4.00×" in readme and readme.endswith("tail\n")
    assert "python -m alpha bench --preset ci" in readme


def test_cli_writes_report(tmp_path, capsys):
    a = _write(tmp_path / "bench", "alpha", 2.0, 0.0)
    assert main([str(a), "--out", str(tmp_path / "out"), "--elapsed=alpha=90", "--elapsed=beta=30"]) == 0
    text = (tmp_path / "out" / "BENCHMARKS.md").read_text()
    assert "`nox -s bench` took 2.0 min" in text and "alpha 1.5 min" in text
    assert "wrote" in capsys.readouterr().out
