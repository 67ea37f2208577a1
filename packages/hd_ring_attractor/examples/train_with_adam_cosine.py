"""Train with the design document's API: ``train_model_enhanced``, then read ``trainer.param_history``.

    python examples/train_with_adam_cosine.py --fast     # 64/16 neurons, 6 epochs: well under a minute
    python examples/train_with_adam_cosine.py            # 800/200 neurons, the design's size (slow on a CPU)

What it shows: training starts with no velocity coupling (g_av = 0) and finds Zhang's g_av close to 1,
which turns a bump that stays where the cue left it into one that path-integrates. Checkpoints and the
PNGs go to --out (default runs/train_with_adam_cosine); rerunning resumes.
"""

import argparse
import sys
from pathlib import Path

from hd_ring_attractor import RingAttractorNetwork, evaluate, train_model_enhanced

from trainkit import validate
from trainkit.cli import TrainkitArgumentParser, add_common_arguments, run_cli, set_handler


def run(args: argparse.Namespace) -> int:
    if args.fast:
        model = RingAttractorNetwork(n_exc=64, n_inh=16, sigma_ee=0.3)
        settings = {"learning_rate": 1e-2, "max_epochs": 6, "batch_size": 8, "n_sequences": 64}
    else:
        model = RingAttractorNetwork(n_exc=800, n_inh=200, sigma_ee=0.3)
        settings = {"learning_rate": 1e-3, "max_epochs": 100, "batch_size": 32}
    print(f"checkpoints and plots go to {args.out}; base learning rate {settings['learning_rate']:g}")
    trained_model, _, trainer = train_model_enhanced(
        model,
        early_stopping=True,
        plot_progress=True,
        checkpoint_dir=str(args.out),
        log_interval=1,
        threads=args.threads,
        seed=args.seed,
        **settings,
    )
    print("what it shows: the velocity gain g_av is learned from 0 towards Zhang's 1; the other parameters:")
    for name in ("g_ee", "g_ei", "g_ie", "g_av", "sigma_ee"):
        values = trainer.param_history[name]
        print(f"  {name}: initial {values[0]:.4f} -> final {values[-1]:.4f}")
    metrics = evaluate(trained_model, trainer.test_data)
    untrained = evaluate(RingAttractorNetwork(model.n_exc, model.n_inh, sigma_ee=0.3), trainer.test_data)
    print(
        f"test mean |error|: untrained {untrained['mean_error_deg']:.2f} deg -> "
        f"trained {metrics['mean_error_deg']:.2f} deg"
    )
    print(f"plots (training_curves.png, parameter_evolution.png) and checkpoints: {args.out}")
    return 0


def main(argv=None) -> int:
    parser = TrainkitArgumentParser(
        prog="train_with_adam_cosine.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast", action="store_true", help="64/16 neurons and 6 epochs instead of 800/200 and 100")
    parser.add_argument(
        "--out",
        type=validate.output_dir,
        default=Path("runs/train_with_adam_cosine"),
        help="checkpoints and plots (rerunning resumes)",
    )
    add_common_arguments(parser, device=False, tensorboard=False)
    set_handler(parser, run)
    return run_cli(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
