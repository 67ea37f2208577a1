"""Issue 27's fresh attack on the five CLIs and trainkit's commands: 46 inputs that tests/ did not hold when it
was written (each class it found is now a row of tests/bad_input or a test in tests/trainkit). Each case runs as
a real process in its own folder and is judged: a clean refusal (exit 2, one stderr line, no traceback) or a
correct result (checked), and never a write outside the case's output folder (a sentinel file outside is
hashed before and after, and no stray file may appear beside it).

    python tests/bad_input/fresh_attack.py /tmp/attack   # writes /tmp/attack/attack.json, prints the counts
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(sys.argv[1])
ASSETS = ROOT / "assets"
PY = sys.executable
ENV = {**os.environ, "CI": "1", "MPLBACKEND": "Agg"}
results = []
if (ROOT / "cases").exists():
    sys.exit(f"{ROOT / 'cases'} exists: give an empty folder")
ASSETS.mkdir(parents=True, exist_ok=True)
subprocess.run([PY, "-m", "ppo_trading", "generate-data", "--n_bars", "4000", "--seed", "7", "--out", "gold.csv"],
               cwd=ASSETS, env=ENV, check=True, capture_output=True)  # fmt: skip
subprocess.run([PY, "-m", "early_inference", "generate", "--simulator", "linear_gaussian", "--n-train", "64",
                "--n-val", "32", "--n-test", "32", "--prefix-lengths", "10", "--workers", "1", "--cache-dir", "cache"],
               cwd=ASSETS, env=ENV, check=True, capture_output=True)  # fmt: skip
(ASSETS / "data.npz").write_bytes(next((ASSETS / "cache").glob("*.npz")).read_bytes())


def sh(args, cwd, timeout=240):
    try:
        done = subprocess.run([PY, "-m", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=timeout)
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        return None, "", "TIMEOUT"


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def case(name, args, setup=None, expect="refuse", check=None, outputs=("out",)):
    folder = ROOT / "cases" / name.replace(" ", "_").replace("/", "_")
    folder.mkdir(parents=True)
    (folder / "outside").mkdir()
    (folder / "outside" / "sentinel.txt").write_text("do not touch\n")
    for out in outputs:
        (folder / out).mkdir(exist_ok=True)
    if setup:
        setup(folder)
    before = digest(folder / "outside")
    code, out, err = sh([a.format(d=folder, a=ASSETS) for a in args], folder)
    after = digest(folder / "outside")
    lines = [rows for rows in err.strip().splitlines() if rows.strip()]
    stray = sorted(p.name for p in folder.iterdir() if p.name not in {"outside", "in", *outputs})
    verdict = {
        "name": name,
        "code": code,
        "stderr_tail": err.strip()[-300:],
        "traceback": "Traceback" in err,
        "outside_changed": before != after,
        "stray": stray,
    }
    if expect == "refuse":
        ok = code == 2 and len(lines) == 1 and "Traceback" not in err
    else:
        ok = code == 0 and "Traceback" not in err and (check is None or check(folder, out, err))
    verdict["silent_wrong"] = (not ok) and not verdict["traceback"] and code in (0, None)
    verdict["ok"] = ok and not verdict["outside_changed"] and not stray
    results.append(verdict)
    print(
        ("PASS " if verdict["ok"] else "FAIL ")
        + name
        + ("" if verdict["ok"] else f"  code={code} {err.strip()[-240:]!r} stray={stray}"),
        flush=True,
    )


def write_npz(path: Path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def csv_from_gold(folder: Path, name: str, transform):
    lines = (ASSETS / "gold.csv").read_text().splitlines()
    (folder / "in").mkdir(exist_ok=True)
    (folder / "in" / name).write_text("\n".join(transform(lines)) + "\n")


def link_outside(rel):
    def setup(folder):
        target = folder / "outside" / "sentinel.txt"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    return setup


NG = ["neuro_gym", "train", "--task", "xor", "--max-epochs", "3", "--checkpoint-dir", "{d}/out/ck"]
HD = [
    "hd_ring_attractor",
    "train",
    "--n-exc",
    "16",
    "--n-inh",
    "4",
    "--epochs",
    "1",
    "--sequences",
    "4",
    "--val-sequences",
    "4",
    "--test-sequences",
    "4",
    "--batch-size",
    "2",
    "--checkpoint-dir",
    "{d}/out/ck",
]
EI = [
    "early_inference",
    "train",
    "--data",
    "{a}/data.npz",
    "--prefix-length",
    "10",
    "--profile",
    "ci",
    "--epochs",
    "2",
    "--run-dir",
    "{d}/out/run",
    "--device",
    "cpu",
]
PT = [
    "ppo_trading",
    "train",
    "--preset",
    "ci",
    "--results_dir",
    "{d}/out/r",
    "--seed",
    "1",
    "--verbose",
    "0",
    "--total_timesteps",
    "256",
    "--min_timesteps",
    "256",
    "--eval_freq",
    "256",
    "--iterations",
    "1",
    "--max_workers",
    "1",
    "--device",
    "cpu",
    "--instrument",
    "xauusd",
]
WF = [
    "workflow_rl",
    "train",
    "--n-envs",
    "2",
    "--total-episodes",
    "4",
    "--max-episodes",
    "2",
    "--out",
    "{d}/out/wf",
    "--device",
    "cpu",
]

# ---- neuro_gym
case(
    "ng task-file negative labels",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.ones((4, 2)), labels=np.array([0, -1, 1, 0])),
)
# (N, tokens, channels) is the documented multi-token layout: a correct run, with a brain written
case(
    "ng task-file 3-D inputs (tokens)",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.ones((4, 2, 2)), labels=np.array([0, 1, 1, 0])),
    expect="ok",
    check=lambda d, o, e: (d / "out/ck/brain/brain.pt").is_file(),
)
case(
    "ng task-file no samples",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.ones((0, 2)), labels=np.zeros(0, int)),
)
case(
    "ng task-file num_classes 1e9",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(
        d / "in/t.npz", inputs=np.ones((4, 2)), labels=np.array([0, 1, 1, 0]), num_classes=np.array(10**9)
    ),
)
case(
    "ng task-file inf inputs",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.full((4, 2), np.inf), labels=np.array([0, 1, 1, 0])),
)
case(
    "ng task-file string labels",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.ones((4, 2)), labels=np.array(["a", "b", "a", "b"])),
)
case(
    "ng save-brain symlink replaced, not followed",
    [*NG, "--save-brain", "{d}/out/brain.pt"],
    link_outside("out/brain.pt"),
    expect="ok",
    check=lambda d, o, e: not (d / "out/brain.pt").is_symlink(),
)


def ng_header(d):
    subprocess.run([PY, "-m", *[a.format(d=d) for a in NG]], cwd=d, env=ENV, capture_output=True)
    log = d / "out/ck/log.csv"
    log.write_text("x,y\n" + "\n".join(log.read_text().splitlines()[1:]) + "\n")


case(
    "ng resume with a foreign log header", [*NG[:-3], "--max-epochs", "6", "--checkpoint-dir", "{d}/out/ck"], ng_header
)
case(
    "ng tensorboard dir is a file",
    [*NG, "--tensorboard", "{d}/in/f"],
    lambda d: ((d / "in").mkdir(), (d / "in/f").write_text("x")),
)
case("ng --target 1e-300", [*NG, "--target", "1e-300"], expect="ok")

# ---- hd_ring_attractor
case("hd --n-exc 1e9", [*HD, "--n-exc", "1000000000"])
case("hd --sequences 1e12", [*HD, "--sequences", "1000000000000"])
case("hd --batch-size above sequences", [*HD, "--batch-size", "64"])
case("hd --lr 1e300", [*HD, "--lr", "1e300"])
case(
    "hd last.pt is a symlink to a folder",
    HD,
    lambda d: ((d / "out/ck").mkdir(parents=True), (d / "out/ck/last.pt").symlink_to(d / "outside")),
)
case("hd --checkpoint-dir under a symlinked file", [*HD[:-1], "{d}/out/lnk/ck"], link_outside("out/lnk"))


# ---- early_inference
def ei_bad_config(d):
    with np.load(ASSETS / "data.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["config_json"] = np.array("{not json")
    write_npz(d / "in/bad.npz", **arrays)


case("ei dataset config not JSON", [*EI[:2], "--data", "{d}/in/bad.npz", *EI[4:]], ei_bad_config)


def ei_strings(d):
    with np.load(ASSETS / "data.npz") as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k in arrays if k != "config_json" and arrays[k].ndim >= 1)
    arrays[key] = np.array(["x"] * len(arrays[key]))
    write_npz(d / "in/bad.npz", **arrays)


case("ei dataset array of strings", [*EI[:2], "--data", "{d}/in/bad.npz", *EI[4:]], ei_strings)


def ei_nan(d):
    with np.load(ASSETS / "data.npz") as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k in arrays if arrays[k].dtype.kind == "f" and arrays[k].ndim >= 2)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[3] = np.nan
    write_npz(d / "in/bad.npz", **arrays)


case("ei dataset with a NaN", [*EI[:2], "--data", "{d}/in/bad.npz", *EI[4:]], ei_nan)
case("ei --prefix-length 1e308", [*EI, "--prefix-length", "1e308"])
case(
    "ei generate --n-train 1e12",
    [
        "early_inference",
        "generate",
        "--simulator",
        "linear_gaussian",
        "--n-train",
        "1000000000000",
        "--n-val",
        "8",
        "--n-test",
        "8",
        "--prefix-lengths",
        "10",
        "--cache-dir",
        "{d}/out/c",
    ],
)


def finite_dataset(d, o, e):
    (path,) = (d / "out/c").glob("*.npz")
    with np.load(path) as z:
        return all(np.all(np.isfinite(z[k])) for k in z.files if z[k].dtype.kind == "f")


EI_HUGE_PREFIX = ["early_inference", "generate", "--simulator", "linear_gaussian", "--n-train", "16", "--n-val", "8",
                  "--n-test", "8", "--prefix-lengths", "1000000000000"]  # fmt: skip


# a 1e12 s prefix is an odd but valid time span (100 points on it): a correct, finite dataset
case(
    "ei generate --prefix-lengths 1e12",
    [*EI_HUGE_PREFIX, "--cache-dir", "{d}/out/c"],
    expect="ok",
    check=finite_dataset,
)
case(
    "ei generate adaptive points on a 1e12 s prefix",
    [*EI_HUGE_PREFIX, "--adaptive-n-points", "--cache-dir", "{d}/out/c"],
)
case("ei run-dir log.csv planted as symlink", EI, link_outside("out/run/log.csv"))

# ---- ppo_trading
case("pt header only", [*PT, "--data_path", "{d}/in/h.csv"], lambda d: csv_from_gold(d, "h.csv", lambda rows: rows[:1]))


def same_bars_as_gold(d, o, e):
    from ppo_trading.data import data_sha256, load_ohlc

    summary = json.loads((d / "out/r/1/optimization_summary.json").read_text())
    return summary["data_sha256"] == data_sha256(load_ohlc(ASSETS / "gold.csv"))


# the delimiter is sniffed: a correct run only if it read the very bars of the comma file
case(
    "pt semicolon delimiter",
    [*PT, "--data_path", "{d}/in/s.csv"],
    lambda d: csv_from_gold(d, "s.csv", lambda rows: [x.replace(",", ";") for x in rows]),
    expect="ok",
    check=same_bars_as_gold,
)
case(
    "pt descending timestamps",
    [*PT, "--data_path", "{d}/in/r.csv"],
    lambda d: csv_from_gold(d, "r.csv", lambda rows: rows[:1] + rows[1:][::-1]),
)
case(
    "pt one timestamp repeated",
    [*PT, "--data_path", "{d}/in/t.csv"],
    lambda d: csv_from_gold(
        d, "t.csv", lambda rows: rows[:1] + [rows[1].split(",", 1)[0] + "," + x.split(",", 1)[1] for x in rows[1:]]
    ),
)


def high_below_low(lines):
    header = lines[0].split(",")
    hi, lo = header.index("high"), header.index("low")
    out = [lines[0]]
    for x in lines[1:]:
        f = x.split(",")
        f[hi], f[lo] = f[lo], f[hi]
        out.append(",".join(f))
    return out


case(
    "pt high below low on every bar",
    [*PT, "--data_path", "{d}/in/hl.csv"],
    lambda d: csv_from_gold(d, "hl.csv", high_below_low),
)
case("pt data_path is a folder", [*PT, "--data_path", "{d}/outside"])
case(
    "pt text in the close column",
    [*PT, "--data_path", "{d}/in/x.csv"],
    lambda d: csv_from_gold(
        d,
        "x.csv",
        lambda rows: [*rows[:5], rows[5].rsplit(",", 3)[0] + ",abc," + ",".join(rows[5].rsplit(",", 3)[2:]), *rows[6:]],
    ),
)
case(
    "pt generate-data --n_bars 1e12",
    ["ppo_trading", "generate-data", "--n_bars", "1000000000000", "--out", "{d}/out/g.csv"],
)
case(
    "pt generate-data --out symlink replaced",
    ["ppo_trading", "generate-data", "--n_bars", "500", "--out", "{d}/out/g.csv"],
    link_outside("out/g.csv"),
    expect="ok",
    check=lambda d, o, e: not (d / "out/g.csv").is_symlink(),
)
case(
    "pt compare missing folders",
    ["ppo_trading", "compare", "--original", "{d}/out/a", "--optimized", "{d}/out/b", "--plot", "{d}/out/c.png"],
)
case(
    "pt BOM in header",
    [*PT, "--data_path", "{d}/in/b.csv"],
    lambda d: csv_from_gold(d, "b.csv", lambda rows: ["\ufeff" + rows[0], *rows[1:]]),
    expect="ok",
)

# ---- workflow_rl
case("wf --n-envs 1e7", [*WF, "--n-envs", "10000000"])
case("wf --workflow duplicates", [*WF, "--workflow", "user,user,user,user,user"])
case("wf --workflow four items", [*WF, "--workflow", "op_server,enterprise,defender,op_host"])


def wf_header(d):
    (d / "out/wf").mkdir(parents=True)
    (d / "out/wf/episodes.csv").write_text("a,b\n1,2\n")


case("wf foreign episodes.csv", WF, wf_header)
case("wf episodes.csv planted as symlink", WF, link_outside("out/wf/episodes.csv"))
case("wf --lr 1e300", [*WF, "--lr", "1e300"])
case("hd --test-sequences 1e12", [*HD, "--test-sequences", "1000000000000"])
case(
    "ng task-file labels above num_classes",
    [*NG, "--task-file", "{d}/in/t.npz"],
    lambda d: write_npz(d / "in/t.npz", inputs=np.ones((4, 2)), labels=np.array([0, 1, 5, 0]), num_classes=np.array(2)),
)


# ---- trainkit
def not_json(d):
    (d / "in").mkdir()
    (d / "in/b.json").write_text("{oops")


case("report on a non-JSON file", ["trainkit.report", "{d}/in/b.json", "--out", "{d}/out/rep"], not_json)


def wrong_schema(d):
    (d / "in").mkdir()
    (d / "in/b.json").write_text(json.dumps({"schema": 3, "package": "x"}))


case("report on a foreign JSON", ["trainkit.report", "{d}/in/b.json", "--out", "{d}/out/rep"], wrong_schema)
case("suite with an unknown package", ["trainkit.suite", "--root", "{d}/out", "--packages", "bogus", "--preset", "ci"])

(ROOT / "attack.json").write_text(json.dumps(results, indent=2))
bad = [r for r in results if not r["ok"]]
print(
    f"{len(results)} inputs: {len(results) - len(bad)} handled, {sum(r['traceback'] for r in results)} tracebacks, "
    f"{sum(r['silent_wrong'] for r in results)} silent wrong results, "
    f"{sum(r['outside_changed'] or bool(r['stray']) for r in results)} writes outside the output folder"
)
