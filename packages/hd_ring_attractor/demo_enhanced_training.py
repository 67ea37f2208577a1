"""The design document's demo: train a ring attractor with Adam + cosine annealing and show what it learned.

    python demo_enhanced_training.py --fast          # 64/16 neurons, 3 epochs: well under a minute
    python demo_enhanced_training.py                 # 64/16 neurons, 6 epochs
    python demo_enhanced_training.py --n-exc 800 --n-inh 200 --epochs 30   # the seed's size (slow on a CPU)

Same as ``python -m hd_ring_attractor demo``; plots and checkpoints go to ``--out``.
"""

import sys

from hd_ring_attractor.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
