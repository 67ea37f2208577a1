"""Workflows: priority orders over the 5 host unit types, their encoding and compliance.

A workflow is a permutation of the unit types (5! = 120). A fix (Remove or Restore) is compliant
when it targets the highest-priority type among the hosts red has truly compromised, or when no
host is compromised. Episode compliance = compliant fixes / fixes (NaN when the episode had no fix).
"""

from __future__ import annotations

import itertools

import numpy as np

from trainkit import ConfigError

__all__ = [
    "ALL_WORKFLOWS",
    "DEFAULT_ALIGNMENT_LAMBDA",
    "N_TYPES",
    "UNIT_TYPES",
    "WORKFLOW_DIM",
    "alignment_reward",
    "discordant_fraction",
    "episode_compliance",
    "fix_compliance",
    "kendall_distance",
    "one_hot",
    "parse_workflow",
    "rank_of_type",
    "workflow_name",
]

UNIT_TYPES: tuple[str, ...] = ("defender", "enterprise", "op_server", "op_host", "user")
N_TYPES = len(UNIT_TYPES)
WORKFLOW_DIM = N_TYPES * N_TYPES
ALL_WORKFLOWS: tuple[tuple[int, ...], ...] = tuple(itertools.permutations(range(N_TYPES)))
# Alignment reward weight: +λ per compliant fix of a compromised host, −λ per violating fix.
DEFAULT_ALIGNMENT_LAMBDA = 0.5


def parse_workflow(text: str) -> tuple[int, ...]:
    """Parse ``"op_server,enterprise,defender,op_host,user"`` (names or indices) into an order."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    order = []
    for part in parts:
        if part.isdigit():
            order.append(int(part))
        elif part in UNIT_TYPES:
            order.append(UNIT_TYPES.index(part))
        else:
            raise ConfigError(f"--workflow: unknown unit type {part!r}; use {', '.join(UNIT_TYPES)}")
    if sorted(order) != list(range(N_TYPES)):
        raise ConfigError(f"--workflow must order each of the {N_TYPES} unit types exactly once, got {text!r}")
    return tuple(order)


def workflow_name(order: tuple[int, ...]) -> str:
    return ",".join(UNIT_TYPES[t] for t in order)


def one_hot(order: tuple[int, ...]) -> np.ndarray:
    """25 values: position p holds a one-hot of the type ranked p."""
    code = np.zeros(WORKFLOW_DIM, dtype=np.float32)
    for position, unit_type in enumerate(order):
        code[position * N_TYPES + unit_type] = 1.0
    return code


def rank_of_type(order: tuple[int, ...]) -> np.ndarray:
    """rank[t] = position of unit type t in the order (0 = highest priority)."""
    rank = np.empty(N_TYPES, dtype=np.int64)
    rank[list(order)] = np.arange(N_TYPES)
    return rank


def discordant_fraction(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Normalised Kendall-tau distance between every rank vector in X (n, 5) and in Y (m, 5)."""
    i, j = np.triu_indices(X.shape[1], k=1)
    sx = np.sign(X[:, i] - X[:, j])
    sy = np.sign(Y[:, i] - Y[:, j])
    return (sx[:, None, :] != sy[None, :, :]).mean(axis=2)


def kendall_distance(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Normalised Kendall-tau distance in [0, 1] between two orders (0 = identical, 1 = reversed)."""
    return float(discordant_fraction(rank_of_type(a)[None], rank_of_type(b)[None])[0, 0])


def fix_compliance(
    compromised: np.ndarray, host_types: np.ndarray, target: np.ndarray, is_fix: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Per env: is the fix on ``target`` compliant with the workflow, given the true compromise mask?

    ``compromised`` is (N, hosts) bool, ``target`` (N,) host index, ``is_fix`` (N,) bool, ``rank``
    (types,) the workflow's rank of each type. Non-fix actions return False.
    """
    host_rank = rank[host_types]
    top = np.where(compromised, host_rank, N_TYPES).min(axis=1)
    nothing_compromised = top == N_TYPES
    return is_fix & (nothing_compromised | (host_rank[target] == top))


def episode_compliance(compliant_fixes: np.ndarray, fixes: np.ndarray) -> np.ndarray:
    """Compliant fixes / fixes, NaN where an episode had no fix."""
    fixes = np.asarray(fixes, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(fixes > 0, np.asarray(compliant_fixes, dtype=np.float64) / np.maximum(fixes, 1), np.nan)


def alignment_reward(
    compliant: np.ndarray, is_fix: np.ndarray, target_compromised: np.ndarray, alignment_lambda: float
) -> np.ndarray:
    """+λ for a compliant fix of a host red holds, −λ for a violating fix, 0 otherwise.

    A compliant fix of a clean host earns nothing, so fixing at random cannot farm the bonus.
    """
    bonus = (compliant & target_compromised).astype(np.float32)
    penalty = (is_fix & ~compliant).astype(np.float32)
    return np.float32(alignment_lambda) * (bonus - penalty)
