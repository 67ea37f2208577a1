"""A bench's finished runs on disk, so a killed bench resumes from its last finished arm and seed.

Each finished run is one JSON file under ``<out>/partial/``, written atomically; ``state.json`` holds the
fingerprint of what is being measured (package, preset, seeds, threads, device and a hash of the package's
and trainkit's source). A rerun of the same command with the same code reuses those runs and measures the
rest; anything else is refused with one line, so runs of different code never mix in one document.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trainkit.atomic import atomic_write
from trainkit.errors import ConfigError

__all__ = ["BenchState", "source_hash"]

PARTIAL = "partial"


def source_hash(*packages: str) -> str:
    """sha256 over the ``.py`` files of each importable package, in a stable order."""
    digest = hashlib.sha256()
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            digest.update(f"<{name}: not a package>".encode())
            continue
        for folder in spec.submodule_search_locations:
            for path in sorted(Path(folder).rglob("*.py")):
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    from trainkit.contract import _json_default as contract_default

    return contract_default(value)


class BenchState:
    """Finished runs and extra comparisons of one bench, kept under ``out/partial`` until the document is written."""

    def __init__(self, out: Path, fingerprint: Mapping[str, Any], fresh: bool = False) -> None:
        self.folder = Path(out) / PARTIAL
        self.fingerprint = json.loads(json.dumps(dict(fingerprint), default=_json_default))
        state = self.folder / "state.json"
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        if state.is_file():
            stored = json.loads(state.read_text())
            if stored != self.fingerprint:
                changed = sorted(
                    k for k in set(stored) | set(self.fingerprint) if stored.get(k) != self.fingerprint.get(k)
                )
                raise ConfigError(
                    f"{self.folder} holds a partial bench of another configuration or code ({', '.join(changed)} "
                    "differ); rerun with --fresh to discard it, or use another --out"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(state) as handle:
                json.dump(self.fingerprint, handle, indent=2)

    def _run_path(self, arm: str, seed: int) -> Path:
        return self.folder / f"run.{arm}.seed{seed}.json"

    def finished(self) -> int:
        return len(list(self.folder.glob("run.*.json")))

    def load_run(self, arm: str, seed: int) -> dict[str, Any] | None:
        path = self._run_path(arm, seed)
        return json.loads(path.read_text()) if path.is_file() else None

    def save_run(self, arm: str, result: Any) -> None:
        with atomic_write(self._run_path(arm, result.seed)) as handle:
            json.dump(asdict(result), handle, default=_json_default)

    def load_extras(self) -> dict[str, Any] | None:
        path = self.folder / "extras.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save_extras(self, extras: Mapping[str, Any], wall_s: float, cpu_s: float) -> None:
        with atomic_write(self.folder / "extras.json") as handle:
            json.dump({"extras": dict(extras), "wall_s": wall_s, "cpu_s": cpu_s}, handle, default=_json_default)

    def discard(self) -> None:
        """Remove the partial results once the document that holds them is written."""
        shutil.rmtree(self.folder, ignore_errors=True)
