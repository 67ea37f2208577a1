"""The bad-input table: one row per bad input to one of the five CLIs (``python -m <package> ...``).

Every row must give exit status 2, exactly one line on stderr, no traceback, no changed file and no payload run.
``argv`` placeholders: ``{out}`` an empty output folder, ``{in}`` the inputs folder, ``{csv}`` a valid OHLC
CSV, ``{data}`` a valid early_inference dataset, ``{run}`` a trained early_inference run, ``{bad}`` the file a
``make`` setup wrote, ``{ro}`` a read-only folder (a read-only tmpfs), ``{full}`` a full 1 MiB tmpfs, ``{afile}``
a regular file where a folder is expected. ``setup`` entries: ``make:<kind>`` writes ``{bad}``;
``plant:<path under {out}>:<kind>`` plants a file where the command looks for its own; ``ro``, ``full``;
``locked:<folder under {out}>`` has another process hold that run folder while the row runs.
Every base command is small (a few epochs or steps), so a silently accepted row costs seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BASES", "ROWS", "SUBPROCESS_ROWS", "Row"]

SEED_MAX = 2**32  # trainkit.validate.seed accepts [0, 2**32)
PPO_SEED_FACTOR = 1_000  # ppo_trading seeds candidate c of iteration i with seed * 1000 + 10 i + c


@dataclass(frozen=True)
class Row:
    package: str
    id: str
    argv: tuple[str, ...]
    setup: tuple[str, ...] = ()
    category: str = ""
    flag: str = ""  # a bad value of this flag: its one-line error must name it

    @property
    def plants_payload(self) -> bool:
        return any("malicious" in step for step in self.setup)


# Small valid commands; each row adds or replaces one flag. Later flags win in argparse, so a bad value is
# appended after the base's good one.
NG_TRAIN = ("train", "--task", "xor", "--max-epochs", "3", "--checkpoint-dir", "{out}/ck", "--checkpoint-every", "1")
NG_STDP = ("stdp-competition", "--out", "{out}/stdp", "--duration", "0.5")
NG_BENCH = ("bench", "--preset", "ci", "--seeds", "1", "--out", "{out}/bench")
HD_TRAIN = (
    "train", "--n-exc", "16", "--n-inh", "4", "--epochs", "1", "--sequences", "4", "--val-sequences", "4",
    "--test-sequences", "4", "--batch-size", "2", "--checkpoint-dir", "{out}/ck", "--threads", "1",
)  # fmt: skip
HD_DEMO = ("demo", "--n-exc", "16", "--n-inh", "4", "--epochs", "1", "--out", "{out}/demo")
HD_BENCH = ("bench", "--preset", "ci", "--seeds", "1", "--out", "{out}/bench")
EI_GEN = (
    "generate", "--simulator", "linear_gaussian", "--n-train", "16", "--n-val", "8", "--n-test", "8",
    "--prefix-lengths", "10", "--workers", "1", "--cache-dir", "{out}/cache",
)  # fmt: skip
EI_TRAIN = (
    "train", "--data", "{data}", "--prefix-length", "10", "--profile", "ci", "--epochs", "2",
    "--run-dir", "{out}/run", "--threads", "1", "--device", "cpu",
)  # fmt: skip
EI_EVAL = ("evaluate", "--run-dir", "{run}", "--data", "{data}", "--fit-samples", "2", "--out", "{out}/metrics.json")
EI_BENCH = ("bench", "--preset", "ci", "--seeds", "1", "--out", "{out}/bench", "--cache-dir", "{out}/cache")
PT_TRAIN = (
    "train", "--preset", "ci", "--data_path", "{csv}", "--results_dir", "{out}/r", "--seed", "42",
    "--verbose", "0", "--total_timesteps", "256", "--min_timesteps", "256", "--eval_freq", "256",
    "--iterations", "1", "--max_workers", "1", "--device", "cpu",
)  # fmt: skip
PT_GEN = ("generate-data", "--n_bars", "500", "--out", "{out}/gen.csv")
PT_SCALING = ("scaling", "--backends", "serial", "--workers", "1", "--candidates", "1", "--repeats", "1",
              "--preset", "ci", "--out", "{out}/scaling")  # fmt: skip
PT_COMPARE = ("compare", "--original", "{out}/a", "--optimized", "{out}/b", "--plot", "{out}/c.png")
PT_BENCH = ("bench", "--preset", "ci", "--seeds", "1", "--out", "{out}/bench")
WF_TRAIN = (
    "train", "--n-envs", "4", "--total-episodes", "8", "--max-episodes", "4",
    "--workflow", "op_server,enterprise,defender,op_host,user", "--out", "{out}/wf", "--checkpoint-every-s", "1",
    "--device", "cpu",
)  # fmt: skip
WF_BASELINES = ("baselines", "--episodes", "4")
WF_BENCH = ("bench", "--preset", "ci", "--seeds", "1", "--out", "{out}/bench")
WF_RLLIB = ("rllib", "--iterations", "1", "--out", "{out}/rllib")

BASES = {
    "neuro_gym": NG_TRAIN,
    "hd_ring_attractor": HD_TRAIN,
    "early_inference": EI_TRAIN,
    "ppo_trading": PT_TRAIN,
    "workflow_rl": WF_TRAIN,
}

# Where each train command looks for the checkpoint it resumes from.
OWN_CHECKPOINTS = {  # neuro_gym resumes from its highest epoch file; its last.pt is only written
    "neuro_gym": ("ck/epoch000099.pt",),
    "hd_ring_attractor": ("ck/last.pt",),
    "early_inference": ("run/epoch000099.pt",),
    "ppo_trading": ("r/42/progress.pt",),
    "workflow_rl": ("wf/checkpoint.pt",),
}

# Checkpoint paths the command writes: a folder sitting there makes the output unwritable.
WRITTEN_CHECKPOINTS = {
    "neuro_gym": ("ck/last.pt",),
    "hd_ring_attractor": ("ck/last.pt",),
    "ppo_trading": ("r/42/progress.pt",),
    "workflow_rl": ("wf/checkpoint.pt",),
}

ROWS: list[Row] = []


def add(package: str, row_id: str, argv: tuple[str, ...], *setup: str, category: str, flag: str = "") -> None:
    ROWS.append(Row(package, f"{package}:{row_id}", argv, tuple(setup), category, flag))


def seeds(package: str, base: tuple[str, ...], flag: str = "--seed", name: str = "") -> None:
    for value in ("-1", str(2**40), str(SEED_MAX), "1.5", "abc", "", "nan"):
        add(package, f"{name or base[0]} {flag} {value!r}", (*base, flag, value), category="seed", flag=flag)


def numbers(package: str, base: tuple[str, ...], flag: str, values: tuple[str, ...], name: str = "") -> None:
    for value in values:
        add(package, f"{name or base[0]} {flag} {value}", (*base, flag, value), category="number", flag=flag)


def folders(package: str, base: tuple[str, ...], flag: str, name: str = "", is_file: bool = False) -> None:
    """Outputs that cannot be written: a read-only mount, a full disk, a file (for a folder), a path under a file."""
    name = name or base[0]
    add(package, f"{name} {flag} read-only", (*base, flag, "{ro}/sub"), "ro", category="output folder")
    add(package, f"{name} {flag} full disk", (*base, flag, "{full}/sub"), "full", category="output folder")
    if not is_file:  # overwriting an existing file named as the output file is what such a flag is for
        add(package, f"{name} {flag} is a file", (*base, flag, "{afile}"), category="output folder")
    add(package, f"{name} {flag} under a file", (*base, flag, "{afile}/sub"), category="output folder")


def checkpoints(package: str, base: tuple[str, ...], foreign: str, name: str = "") -> None:
    """Another package's checkpoint, truncated, empty, garbage and malicious files where this one resumes."""
    for where in OWN_CHECKPOINTS[package]:
        label = f"{name or base[0]} {where}"
        add(package, f"{label} foreign ({foreign})", base, f"plant:{where}:foreign", category="foreign checkpoint")
        add(package, f"{label} truncated", base, f"plant:{where}:truncated", category="truncated checkpoint")
        add(package, f"{label} empty", base, f"plant:{where}:empty", category="truncated checkpoint")
        add(package, f"{label} garbage", base, f"plant:{where}:garbage", category="truncated checkpoint")
        add(package, f"{label} malicious torch", base, f"plant:{where}:malicious", category="malicious checkpoint")
        add(
            package,
            f"{label} malicious pickle",
            base,
            f"plant:{where}:malicious_pickle",
            category="malicious checkpoint",
        )
    for where in WRITTEN_CHECKPOINTS.get(package, ()):
        add(package, f"{name or base[0]} {where} is a folder", base, f"plant:{where}:folder", category="output folder")


# ---------------------------------------------------------------- neuro_gym
seeds("neuro_gym", NG_TRAIN)
numbers("neuro_gym", NG_TRAIN, "--max-epochs", ("0", "-1", "1e9x"))
numbers("neuro_gym", NG_TRAIN, "--checkpoint-every", ("0", "-5"))
numbers("neuro_gym", NG_TRAIN, "--threads", ("0", "-1"))
numbers("neuro_gym", NG_TRAIN, "--target", ("nan", "inf", "-0.5", "0", "1.5"))
add("neuro_gym", "train --device bogus", (*NG_TRAIN, "--device", "bogus"), category="choice")
for kind in (
    "empty",
    "garbage",
    "npz_wrong_keys",
    "npz_nan",
    "npz_mismatch",
    "malicious_npz",
    "text_file",
    "npz_forged_shape",
):
    add("neuro_gym", f"train --task-file {kind}", (*NG_TRAIN, "--task-file", "{bad}"), f"make:{kind}",
        category="malicious checkpoint" if "malicious" in kind else "malformed input file")  # fmt: skip
add(
    "neuro_gym",
    "train --task-file missing",
    (*NG_TRAIN, "--task-file", "{in}/nope.npz"),
    category="malformed input file",
)
folders("neuro_gym", NG_TRAIN, "--checkpoint-dir")
add(
    "neuro_gym",
    "train --save-brain read-only",
    (*NG_TRAIN, "--save-brain", "{ro}/brain.pt"),
    "ro",
    category="output folder",
)
checkpoints("neuro_gym", NG_TRAIN, "early_inference")
seeds("neuro_gym", NG_STDP, name="stdp-competition")
numbers("neuro_gym", NG_STDP, "--duration", ("0", "-1", "nan", "inf"))
numbers("neuro_gym", NG_STDP, "--dt", ("0", "-0.1", "nan"))
folders("neuro_gym", NG_STDP, "--out")
numbers("neuro_gym", NG_BENCH, "--seeds", ("0", "-1"))
folders("neuro_gym", NG_BENCH, "--out")

# ---------------------------------------------------------------- hd_ring_attractor
seeds("hd_ring_attractor", HD_TRAIN)
numbers("hd_ring_attractor", HD_TRAIN, "--n-exc", ("0", "-4"))
numbers("hd_ring_attractor", HD_TRAIN, "--n-inh", ("-1",))
numbers("hd_ring_attractor", HD_TRAIN, "--epochs", ("0", "-1"))
numbers("hd_ring_attractor", HD_TRAIN, "--lr", ("nan", "inf", "-0.001", "0"))
numbers("hd_ring_attractor", HD_TRAIN, "--batch-size", ("0", "-2"))
numbers("hd_ring_attractor", HD_TRAIN, "--sequences", ("0",))
numbers("hd_ring_attractor", HD_TRAIN, "--val-sequences", ("0",))
numbers("hd_ring_attractor", HD_TRAIN, "--test-sequences", ("-1",))
numbers("hd_ring_attractor", HD_TRAIN, "--threads", ("0", "-1"))
numbers("hd_ring_attractor", HD_TRAIN, "--lr", ("1e300", "11"), name="train (absurd)")
for _flag in ("--sequences", "--val-sequences", "--test-sequences"):
    numbers("hd_ring_attractor", HD_TRAIN, _flag, ("1000000000000",), name="train (allocation)")
add("hd_ring_attractor", "train --device bogus", (*HD_TRAIN, "--device", "bogus"), category="choice")
folders("hd_ring_attractor", HD_TRAIN, "--checkpoint-dir")
checkpoints("hd_ring_attractor", HD_TRAIN, "neuro_gym")
numbers("hd_ring_attractor", HD_DEMO, "--epochs", ("0",), name="demo")
numbers("hd_ring_attractor", HD_DEMO, "--n-exc", ("0",), name="demo")
numbers("hd_ring_attractor", HD_DEMO, "--threads", ("0",), name="demo")
folders("hd_ring_attractor", HD_DEMO, "--out", name="demo")
numbers("hd_ring_attractor", HD_BENCH, "--seeds", ("0",))
numbers("hd_ring_attractor", HD_BENCH, "--threads", ("0",))
folders("hd_ring_attractor", HD_BENCH, "--out")

# ---------------------------------------------------------------- early_inference
seeds("early_inference", EI_TRAIN)
numbers("early_inference", EI_TRAIN, "--epochs", ("0", "-1"))
numbers("early_inference", EI_TRAIN, "--threads", ("0", "-1"))
numbers("early_inference", EI_TRAIN, "--prefix-length", ("nan", "-10", "7"))
add("early_inference", "train --device bogus", (*EI_TRAIN, "--device", "bogus"), category="choice")
for kind in (
    "empty",
    "garbage",
    "npz_wrong_keys",
    "truncated_data",
    "malicious_npz",
    "text_file",
    "npz_forged_shape",
    "data_strings",
):
    add("early_inference", f"train --data {kind}", (*EI_TRAIN, "--data", "{bad}"), f"make:{kind}",
        category="malicious checkpoint" if "malicious" in kind else "malformed input file")  # fmt: skip
add("early_inference", "train --data missing", (*EI_TRAIN, "--data", "{in}/nope.npz"), category="malformed input file")
folders("early_inference", EI_TRAIN, "--run-dir")
checkpoints("early_inference", EI_TRAIN, "neuro_gym")
seeds("early_inference", EI_GEN, name="generate")
numbers("early_inference", EI_GEN, "--n-train", ("0", "-1", "1000000000000"))
_HUGE_PREFIX = (*EI_GEN, "--prefix-lengths", "1000000000000", "--adaptive-n-points")
add("early_inference", "generate adaptive points on a 1e12 s prefix", _HUGE_PREFIX, category="number")
numbers("early_inference", EI_GEN, "--n-val", ("0",))
numbers("early_inference", EI_GEN, "--workers", ("0", "-2"))
numbers("early_inference", EI_GEN, "--prefix-lengths", ("nan", "-5", "0"))
numbers("early_inference", EI_GEN, "--prefix-n-points", ("0", "1"))
folders("early_inference", EI_GEN, "--cache-dir")
numbers("early_inference", EI_EVAL, "--fit-samples", ("0", "-1"), name="evaluate")
add("early_inference", "evaluate --run-dir empty", (*EI_EVAL, "--run-dir", "{out}"), category="foreign checkpoint")
for kind in ("foreign", "truncated", "malicious"):
    add("early_inference", f"evaluate --run-dir {kind}", (*EI_EVAL, "--run-dir", "{out}/run"),
        f"plant:run/epoch000099.pt:{kind}", category=f"{kind} checkpoint")  # fmt: skip
add("early_inference", "evaluate --out read-only", (*EI_EVAL, "--out", "{ro}/m.json"), "ro", category="output folder")
add(
    "early_inference",
    "evaluate --out full disk",
    (*EI_EVAL, "--out", "{full}/m.json"),
    "full",
    category="output folder",
)
numbers("early_inference", EI_BENCH, "--seeds", ("0",))
numbers("early_inference", EI_BENCH, "--threads", ("0",))
folders("early_inference", EI_BENCH, "--out")

# ---------------------------------------------------------------- ppo_trading
seeds("ppo_trading", PT_TRAIN)
# Valid for trainkit.validate.seed, but ppo seeds candidates with seed * 1000 + ...: past 2**32 for numpy.
add("ppo_trading", "train --seed 2**32-1 (x1000 overflows)", (*PT_TRAIN, "--seed", str(SEED_MAX - 1)), category="seed")
add(
    "ppo_trading",
    "train --seed 2**32//1000+1",
    (*PT_TRAIN, "--seed", str(SEED_MAX // PPO_SEED_FACTOR + 1)),
    category="seed",
)
numbers("ppo_trading", PT_TRAIN, "--total_timesteps", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--min_timesteps", ("0", "-64"))
numbers("ppo_trading", PT_TRAIN, "--iterations", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--eval_freq", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--max_bars", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--max_workers", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--parallel_candidates", ("0", "-1"))
numbers("ppo_trading", PT_TRAIN, "--early_stopping_patience", ("-1",))
numbers("ppo_trading", PT_TRAIN, "--convergence_threshold", ("nan", "inf", "-1"))
numbers("ppo_trading", PT_TRAIN, "--test_fraction", ("0", "0.9", "nan"))
numbers("ppo_trading", PT_TRAIN, "--commission", ("nan", "-1"))
numbers("ppo_trading", PT_TRAIN, "--point_size", ("0", "inf"))
numbers("ppo_trading", PT_TRAIN, "--train_bars", ("0",))
add("ppo_trading", "train --date_format bogus", (*PT_TRAIN, "--date_format", "%Q"), category="choice")
add("ppo_trading", "train --device bogus", (*PT_TRAIN, "--device", "bogus"), category="choice")
for kind in (
    "empty", "header_only", "one_row", "too_few_rows", "nan_rows", "all_nan", "inf_prices", "unsorted",
    "reversed", "duplicate_timestamps", "wrong_columns", "missing_close", "text_prices", "negative_prices",
    "zero_prices", "bad_timestamps", "binary", "ragged",
):  # fmt: skip
    add(
        "ppo_trading",
        f"train csv {kind}",
        (*PT_TRAIN, "--data_path", "{bad}"),
        f"make:csv_{kind}",
        category="malformed CSV",
    )
add("ppo_trading", "train --data_path missing", (*PT_TRAIN, "--data_path", "{in}/nope.csv"), category="malformed CSV")
add("ppo_trading", "train --data_path a folder", (*PT_TRAIN, "--data_path", "{in}"), category="malformed CSV")
folders("ppo_trading", PT_TRAIN, "--results_dir")
checkpoints("ppo_trading", PT_TRAIN, "neuro_gym")
add("ppo_trading", "train results/42 progress.pt malicious sb3 zip", PT_TRAIN, "plant:r/42/progress.pt:malicious_sb3",
    category="malicious checkpoint")  # fmt: skip
seeds("ppo_trading", PT_GEN, name="generate-data")
numbers("ppo_trading", PT_GEN, "--n_bars", ("0", "-1", "1"))
folders("ppo_trading", PT_GEN, "--out", is_file=True)
numbers("ppo_trading", PT_SCALING, "--workers", ("0",))
numbers("ppo_trading", PT_SCALING, "--candidates", ("0",))
numbers("ppo_trading", PT_SCALING, "--repeats", ("0",))
numbers("ppo_trading", PT_SCALING, "--seed", ("-1",))
add("ppo_trading", "compare missing runs", PT_COMPARE, category="malformed input file")
numbers("ppo_trading", PT_BENCH, "--seeds", ("0",))
folders("ppo_trading", PT_BENCH, "--out")

# ---------------------------------------------------------------- workflow_rl
seeds("workflow_rl", WF_TRAIN)
numbers("workflow_rl", WF_TRAIN, "--n-envs", ("0", "-1"))
numbers("workflow_rl", WF_TRAIN, "--total-episodes", ("0", "-8"))
numbers("workflow_rl", WF_TRAIN, "--max-episodes", ("0",))
numbers("workflow_rl", WF_TRAIN, "--update-steps", ("0", "-1"))
numbers("workflow_rl", WF_TRAIN, "--torch-threads", ("0", "-1"))
numbers("workflow_rl", WF_TRAIN, "--lr", ("nan", "inf", "-0.001", "0"))
numbers("workflow_rl", WF_TRAIN, "--checkpoint-every-s", ("-1", "nan", "inf"))
numbers("workflow_rl", WF_TRAIN, "--compliance-threshold", ("nan", "1.5", "-0.1"))
numbers("workflow_rl", WF_TRAIN, "--alignment-lambda", ("nan", "-1"))
numbers("workflow_rl", WF_TRAIN, "--patience", ("-1",))
numbers("workflow_rl", WF_TRAIN, "--min-episodes", ("-1",))
numbers("workflow_rl", WF_TRAIN, "--n-envs", ("10000000",), name="train (allocation)")
numbers("workflow_rl", WF_TRAIN, "--lr", ("1e300", "11"), name="train (absurd)")
add("workflow_rl", "train --workflow bogus", (*WF_TRAIN, "--workflow", "bogus,host"), category="choice")
add("workflow_rl", "train --device bogus", (*WF_TRAIN, "--device", "bogus"), category="choice")
folders("workflow_rl", WF_TRAIN, "--out")
checkpoints("workflow_rl", WF_TRAIN, "neuro_gym")
seeds("workflow_rl", WF_BASELINES, name="baselines")
numbers("workflow_rl", WF_BASELINES, "--episodes", ("0", "-1"))
add("workflow_rl", "baselines --workflow bogus", (*WF_BASELINES, "--workflow", "bogus"), category="choice")
numbers("workflow_rl", WF_BENCH, "--seeds", ("0", "-1"))
folders("workflow_rl", WF_BENCH, "--out")
numbers("workflow_rl", WF_RLLIB, "--iterations", ("0",), name="rllib")
numbers("workflow_rl", WF_RLLIB, "--seed", ("-1",), name="rllib")

# ---------------------------------------------------------------- every train command: outputs and checkpoints
# The folder each train command claims (one run at a time) and the log it appends to.
RUN_FOLDERS = {"neuro_gym": "ck", "hd_ring_attractor": "ck", "early_inference": "run", "ppo_trading": "r/42",
               "workflow_rl": "wf"}  # fmt: skip
APPENDED_LOGS = {
    "neuro_gym": "ck/log.csv",
    "early_inference": "run/log.csv",
    "ppo_trading": "r/42/training_log.csv",
    "workflow_rl": "wf/episodes.csv",
}  # fmt: skip (hd_ring_attractor appends to no file)
for _package, _base in BASES.items():
    for _where in OWN_CHECKPOINTS[_package]:
        add(_package, f"{_base[0]} {_where} bits flipped", _base, f"plant:{_where}:bitflip",
            category="corrupted checkpoint")  # fmt: skip
    add(_package, f"{_base[0]} folder held by another run", _base, f"locked:{RUN_FOLDERS[_package]}",
        category="concurrent run")  # fmt: skip
    if _package in APPENDED_LOGS:
        add(_package, f"{_base[0]} {APPENDED_LOGS[_package]} is a symlink", _base,
            f"plant:{APPENDED_LOGS[_package]}:symlink", category="symlinked output")  # fmt: skip

# A few rows also run as real `python -m` processes (exit status, stderr and tracebacks as a shell sees them).
SUBPROCESS_ROWS = [
    "neuro_gym:train --seed '-1'",
    "hd_ring_attractor:train --lr nan",
    "early_inference:train run/epoch000099.pt malicious torch",
    "ppo_trading:train csv empty",
    "workflow_rl:train --checkpoint-dir read-only".replace("--checkpoint-dir", "--out"),
    "ppo_trading:train --seed 2**32-1 (x1000 overflows)",
    "hd_ring_attractor:train ck/last.pt bits flipped",
    "workflow_rl:train folder held by another run",
]

_ids = [row.id for row in ROWS]
assert len(_ids) == len(set(_ids)), "duplicate row ids"
assert all(row_id in set(_ids) for row_id in SUBPROCESS_ROWS), "SUBPROCESS_ROWS names an unknown row"
