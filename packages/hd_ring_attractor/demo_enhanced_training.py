"""The design document's demo: train a ring attractor with Adam + cosine annealing and show what it learned.

    python demo_enhanced_training.py                 # 64/16 neurons, 6 epochs, about a minute on 2 cores
    python demo_enhanced_training.py --n-exc 800 --n-inh 200 --epochs 30   # the seed's size (slow on a CPU)

Same as ``python -m hd_ring_attractor demo``; plots and checkpoints go to ``--out``.
"""

import sys

from hd_ring_attractor.cli import main

from trainkit import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main, ["demo", *sys.argv[1:]], prog="demo_enhanced_training.py"))
