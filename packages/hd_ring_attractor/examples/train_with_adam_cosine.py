"""Train with the design document's API: ``train_model_enhanced`` then inspect ``trainer.param_history``.

    python examples/train_with_adam_cosine.py --fast           # 64/16 neurons, a minute on 2 cores
    python examples/train_with_adam_cosine.py                  # 800/200 neurons, the seed's size

Checkpoints and PNGs go to --out (default runs/train_with_adam_cosine); rerunning resumes.
"""

import argparse
import sys
from pathlib import Path

from hd_ring_attractor import RingAttractorNetwork, evaluate, train_model_enhanced

from trainkit import run_cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="64/16 neurons and 6 epochs instead of 800/200 and 100")
    parser.add_argument("--out", type=Path, default=Path("runs/train_with_adam_cosine"))
    args = parser.parse_args(argv)
    if args.fast:
        model = RingAttractorNetwork(n_exc=64, n_inh=16, sigma_ee=0.3)
        settings = {"learning_rate": 1e-2, "max_epochs": 6, "batch_size": 8, "n_sequences": 64}
    else:
        model = RingAttractorNetwork(n_exc=800, n_inh=200, sigma_ee=0.3)
        settings = {"learning_rate": 1e-3, "max_epochs": 100, "batch_size": 32}
    trained_model, _, trainer = train_model_enhanced(
        model, early_stopping=True, plot_progress=True, checkpoint_dir=str(args.out), log_interval=1, **settings
    )
    for name in ("g_ee", "g_ei", "g_ie", "g_av", "sigma_ee", "noise_rate_e"):
        values = trainer.param_history[name]
        print(f"{name}: initial {values[0]:.4f} -> final {values[-1]:.4f}")
    metrics = evaluate(trained_model, trainer.test_data)
    print(", ".join(f"{key} {value:.3g}" for key, value in metrics.items()))
    print(f"plots and checkpoints: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="train_with_adam_cosine.py"))
