"""Whether a data file is synthetic, decided from its bytes, never from its name.

A file is synthetic when its sha256 is the shipped ``data/XAUUSDm_15min.csv``'s (``python -m ppo_trading
generate-data --n_bars 50000 --seed 2024`` rebuilds it byte for byte), or when ``generate-data`` left a
provenance file next to it (``<name>.provenance.json``) that records the same sha256. A verdict on such
bars says so in the same line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ppo_trading.policy_store import file_sha256
from trainkit import atomic_write

__all__ = ["SHIPPED_SYNTHETIC", "data_provenance", "provenance_path", "write_provenance"]

SHIPPED_SYNTHETIC = {
    "da864a2998985f77c24d59375c54f70c9f5a2eb32345fb53e3b463b89a4dc537": (
        "data/XAUUSDm_15min.csv: generate-data --n_bars 50000 --seed 2024"
    ),
}
_MARKER = "ppo_trading.provenance/1"


def provenance_path(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def write_provenance(path: str | os.PathLike[str], n_bars: int, seed: int) -> Path:
    """The marker ``generate-data`` writes next to its CSV: what made it and the CSV's sha256."""
    record = {
        "format": _MARKER,
        "synthetic": True,
        "generator": f"ppo_trading.data.generate_synthetic_xauusd(n_bars={n_bars}, seed={seed})",
        "sha256": file_sha256(path),
    }
    target = provenance_path(path)
    with atomic_write(target) as handle:
        handle.write(json.dumps(record, indent=2) + "\n")
    return target


def _marker(path: Path, sha256: str) -> str | None:
    try:
        record = json.loads(provenance_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("format") == _MARKER and record.get("sha256") == sha256:
        return str(record.get("generator"))
    return None


def data_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"file_sha256", "synthetic", "rule"}`` for the file at ``path``."""
    path = Path(path)
    sha256 = file_sha256(path)
    if sha256 in SHIPPED_SYNTHETIC:
        rule = f"sha256 matches the shipped synthetic file ({SHIPPED_SYNTHETIC[sha256]})"
        return {"file_sha256": sha256, "synthetic": True, "rule": rule}
    generator = _marker(path, sha256)
    if generator is not None:
        rule = f"{provenance_path(path).name} written by generate-data records this sha256 ({generator})"
        return {"file_sha256": sha256, "synthetic": True, "rule": rule}
    rule = "not the shipped synthetic file and no generate-data provenance marker: taken as market data"
    return {"file_sha256": sha256, "synthetic": False, "rule": rule}
