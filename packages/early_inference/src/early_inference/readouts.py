"""Readouts from TCN features (batch, channels, time) to one vector per sequence.

``WeightedTemporalPooling`` is the seed's single-softmax pooling. ``ContrastReadout`` is the v2 readout:
several pooling heads whose priors run from early to late, a time-moment vector and the last step, so
the head can contrast late with early activity (k_d shows up as a drift of the apparent activity over
time). ``FlattenTemporalReadout`` is the position-aware extra arm. ``PrefixBranch`` reads the raw
prefix point by point, beside the TCN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ContrastReadout",
    "FlattenTemporalReadout",
    "MultiHeadTemporalPooling",
    "PrefixBranch",
    "WeightedTemporalPooling",
]

# Head priors exp(-decay * s), s in [0, 1]: the first head weighs the start most, the last one the end.
DEFAULT_HEAD_DECAYS = (3.0, 1.0, -1.0, -3.0)


def _positions(h: torch.Tensor) -> torch.Tensor:
    return torch.linspace(0.0, 1.0, h.shape[-1], device=h.device, dtype=h.dtype)


class WeightedTemporalPooling(nn.Module):
    """Attention over time steps: softmax(conv(h) + log decay) weights, then a weighted sum.

    The log of an exponential decay exp(-decay * s), s in [0, 1] along the sequence, is added to the
    attention logits, and the last convolution starts at zero, so the initial weights equal the decay
    profile (early time points weigh most) and training moves them from there.
    """

    def __init__(self, channels: int, decay: float = 2.0) -> None:
        super().__init__()
        self.decay = decay
        self.score_hidden = nn.Conv1d(channels, max(channels // 2, 1), 1)
        self.score_out = nn.Conv1d(max(channels // 2, 1), 1, 1)
        nn.init.zeros_(self.score_out.weight)
        nn.init.zeros_(self.score_out.bias)

    def weights(self, h: torch.Tensor) -> torch.Tensor:
        """(batch, time) attention weights summing to 1."""
        logits = self.score_out(F.relu(self.score_hidden(h))).squeeze(1) - self.decay * _positions(h)
        return torch.softmax(logits, dim=-1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bct,bt->bc", h, self.weights(h))


class MultiHeadTemporalPooling(nn.Module):
    """``len(decays)`` softmax poolings over time, each with its own decay prior; output (batch, heads * channels).

    The score layer starts at zero, so at initialisation head ``k`` pools with weights
    proportional to exp(-decays[k] * s): positive decays favour early points, negative ones late points.
    """

    def __init__(self, channels: int, decays: Sequence[float] = DEFAULT_HEAD_DECAYS) -> None:
        super().__init__()
        self.register_buffer("decays", torch.tensor([float(d) for d in decays]))
        hidden = max(channels // 2, 1)
        self.score_hidden = nn.Conv1d(channels, hidden, 1)
        self.score_out = nn.Conv1d(hidden, len(decays), 1)
        nn.init.zeros_(self.score_out.weight)
        nn.init.zeros_(self.score_out.bias)

    @property
    def heads(self) -> int:
        return len(self.decays)

    def weights(self, h: torch.Tensor) -> torch.Tensor:
        """(batch, heads, time) weights, each head summing to 1 over time."""
        prior = -self.decays.to(h.dtype)[:, None] * _positions(h)[None, :]
        logits = self.score_out(F.relu(self.score_hidden(h))) + prior
        return torch.softmax(logits, dim=-1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bct,bkt->bkc", h, self.weights(h)).flatten(1)


class ContrastReadout(nn.Module):
    """Multi-head pooling, plus mean over time of h * (2s - 1), plus the last time step.

    The time-moment vector is zero for a constant feature and grows with a linear drift, which is
    the signature of enzyme decay; the last step is the feature the causal TCN built from the most
    recent receptive field.
    """

    def __init__(self, channels: int, decays: Sequence[float] = DEFAULT_HEAD_DECAYS) -> None:
        super().__init__()
        self.pool = MultiHeadTemporalPooling(channels, decays)
        self.out_features = channels * (self.pool.heads + 2)

    @staticmethod
    def time_moment(h: torch.Tensor) -> torch.Tensor:
        """(batch, channels): mean over time of h * (2s - 1), s in [0, 1]."""
        return (h * (2.0 * _positions(h) - 1.0)).mean(dim=-1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(h), self.time_moment(h), h[..., -1]], dim=1)


class FlattenTemporalReadout(nn.Module):
    """A learned linear map from all (channel, time step) features to ``out_features``: position-aware.

    Average and attention pooling are sums of per-step features, so they cannot compare the late-time
    curvature with the early rise, where k_d lives. This readout gives every time step its own weights,
    at the price of a fixed sequence length.
    """

    def __init__(self, channels: int, sequence_length: int, out_features: int) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.linear = nn.Linear(channels * sequence_length, out_features)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape[-1] != self.sequence_length:
            raise ValueError(f"flatten readout built for {self.sequence_length} time steps, got {h.shape[-1]}")
        return self.linear(h.flatten(1))


class PrefixBranch(nn.Module):
    """Two ReLU layers on the standardised raw prefix (the pH channel point by point) and the known inputs.

    The prefix MLP baseline learns k_d at 30 and 60 s while the TCN does not: there k_d is a small
    late-time bend of a curve that has already risen by ~4 input units, and a per-time-point
    standardisation exposes it. This branch gives the heads that view beside the TCN's pooled features.
    ``prefix_mean`` and ``prefix_sd`` are buffers (set from the training split by ``set_standardization``),
    so they travel in the checkpoint.
    """

    def __init__(self, sequence_length: int, n_known: int, width: int) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        inputs = sequence_length + n_known
        self.register_buffer("prefix_mean", torch.zeros(inputs))
        self.register_buffer("prefix_sd", torch.ones(inputs))
        self.mlp = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.out_features = width

    @staticmethod
    def flat(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """(batch, time + known): the first (pH) channel of ``x`` point by point, then the known inputs."""
        return torch.cat([x[:, 0, :], known], dim=1)

    @torch.no_grad()
    def set_standardization(self, x: torch.Tensor, known: torch.Tensor) -> None:
        flat = self.flat(x, known)
        self.prefix_mean.copy_(flat.mean(0))
        self.prefix_sd.copy_(flat.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.sequence_length:
            raise ValueError(f"prefix branch built for {self.sequence_length} time steps, got {x.shape[-1]}")
        return self.mlp((self.flat(x, known) - self.prefix_mean) / self.prefix_sd)
