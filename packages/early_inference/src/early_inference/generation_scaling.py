"""Trajectories/s of ``generate`` with 1 and 2 workers, local process pool and Ray tasks.

``python -m early_inference.generation_scaling --out FILE`` (needs the ``distributed`` extra for Ray).
Wall times depend on what else the machine runs; the JSON records the load average before and after.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from early_inference.distributed import connect
from early_inference.generate_early_inference_data import generate_dataset
from trainkit import validate, write_json
from trainkit.cli import TrainkitArgumentParser, run_cli, set_handler

__all__ = ["main", "measure"]

CONFIG = {"n_train": 600, "n_val": 100, "n_test": 100, "prefix_lengths": [30, 60, 300], "seed": 11}


def measure(workers: Sequence[int] = (1, 2), address: str | None = None) -> dict:
    n = CONFIG["n_train"] + CONFIG["n_val"] + CONFIG["n_test"]
    out = {"command": " ".join(["python -m early_inference.generation_scaling", *sys.argv[1:]]), "config": CONFIG}
    out["load_average_1min_before"] = os.getloadavg()[0]
    connect(address)
    runs = []
    for backend in ("local", "ray"):
        for count in workers:
            started = time.perf_counter()
            generate_dataset(CONFIG, n_workers=count, chunk_size=50, backend=backend)
            wall = time.perf_counter() - started
            runs.append({"backend": backend, "workers": count, "wall_s": wall, "trajectories_per_s": n / wall})
    out["runs"] = runs
    out["load_average_1min_after"] = os.getloadavg()[0]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = TrainkitArgumentParser(prog="python -m early_inference.generation_scaling", description=__doc__)
    parser.add_argument("--out", type=validate.output_dir, required=True, help="folder for generation_scaling.json")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local Ray)")

    def handler(args) -> int:
        print(write_json(args.out / "generation_scaling.json", measure(address=args.ray_address)))
        return 0

    set_handler(parser, handler)
    return run_cli(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
