"""``EarlyInferenceModel``: a causal TCN over the prefix, a readout over time, Gaussian heads.

Two input layouts. The seed's (``known_as_channels=False``): ``x`` is (batch, 3, time) with the pH
channel, per-sequence z-scored time and its increment, and the known inputs join through an MLP after
pooling. The v2 layout (``known_as_channels=True``): ``x`` is (batch, 1, time), the pH channel only,
and the known inputs enter the TCN as constant channels, so every time step's features can use them.
The output is a mean and a variance per parameter in target space; the variance is multiplied by the
buffer ``variance_scale`` (ones while training, the validation-fitted scale after), which travels in
the state dict and so in every checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from early_inference.readouts import (
    DEFAULT_HEAD_DECAYS,
    ContrastReadout,
    FlattenTemporalReadout,
    PrefixBranch,
    WeightedTemporalPooling,
)

__all__ = [
    "POOLINGS",
    "EarlyInferenceModel",
    "GaussianHeads",
    "TemporalBlock",
    "gaussian_nll_loss",
    "per_parameter_nll",
    "time_channels",
]

VARIANCE_EPS = 1e-6
POOLINGS = ("avg", "weighted", "flatten", "contrast")


def time_channels(times: torch.Tensor) -> torch.Tensor:
    """(2, time): z-scored time and its first difference (first element repeated)."""
    t_norm = (times - times.mean()) / times.std().clamp_min(1e-12)
    dt = torch.diff(t_norm, prepend=t_norm[:1] - (t_norm[1:2] - t_norm[:1]))
    return torch.stack([t_norm, dt])


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions (left padding only) with ReLU and dropout, plus a residual.

    The parameters are ``nn.Conv1d``'s, but the forward pass runs them as ``conv2d`` over a
    (batch, channels, 1, time) tensor in channels-last memory format: the same arithmetic, and oneDNN's
    channels-last kernels are about twice as fast as its Conv1d path for these 16-32 channel layers
    on CPU (the profile is in the README).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation)
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    @staticmethod
    def _causal(conv: nn.Conv1d, x: torch.Tensor, left_pad: int) -> torch.Tensor:
        padded = F.pad(x, (left_pad, 0)) if left_pad else x
        return F.conv2d(padded, conv.weight.unsqueeze(2), conv.bias, dilation=(1, conv.dilation[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, channels, 1, time), channels-last."""
        out = self.dropout(F.relu(self._causal(self.conv1, x, self.left_pad)))
        out = self.dropout(F.relu(self._causal(self.conv2, out, self.left_pad)))
        residual = x if isinstance(self.residual, nn.Identity) else self._causal(self.residual, x, 0)
        return F.relu(out + residual)


class GaussianHeads(nn.Module):
    """Mean and variance (softplus + eps) heads: one pair shared by all parameters, or one pair each."""

    def __init__(self, features: int, hidden: int, n_params: int, per_parameter: bool) -> None:
        super().__init__()
        groups = n_params if per_parameter else 1
        width = 1 if per_parameter else n_params

        def head() -> nn.Module:
            return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, width))

        self.mean_heads = nn.ModuleList(head() for _ in range(groups))
        self.var_heads = nn.ModuleList(head() for _ in range(groups))

    def forward(self, features: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``features``: one tensor for every head, or one per group of heads (per parameter, or one)."""
        per_group = [features] * len(self.mean_heads) if isinstance(features, torch.Tensor) else list(features)
        mean = torch.cat([h(f) for h, f in zip(self.mean_heads, per_group, strict=True)], dim=-1)
        var = torch.cat([h(f) for h, f in zip(self.var_heads, per_group, strict=True)], dim=-1)
        return mean, F.softplus(var) + VARIANCE_EPS


class EarlyInferenceModel(nn.Module):
    """Causal TCN + readout (+ known-input MLP in the seed layout) -> Gaussian heads per parameter.

    ``pooling``: "avg", "weighted" (the seed's), "flatten" (needs ``sequence_length``) or "contrast"
    (the v2 readout). ``per_parameter_heads`` gives each parameter its own mean and variance head.
    ``prefix_branch`` > 0 adds ``PrefixBranch``es of that width (needs ``sequence_length``) whose
    features join the readout's before the heads: one per parameter when ``branch_per_parameter`` and
    the heads are per parameter (each read only by its own parameter's heads, so E0's gradient cannot
    reshape k_d's view, as in the per-parameter prefix MLP), else one read by all heads.
    """

    def __init__(
        self,
        n_known: int,
        n_params: int,
        channels: Sequence[int] = (32, 32, 32, 32, 32),
        kernel_size: int = 3,
        dropout: float = 0.0,
        pooling: Literal["avg", "weighted", "flatten", "contrast"] = "avg",
        mlp_hidden: Sequence[int] = (64, 32),
        head_hidden: int = 64,
        sequence_length: int | None = None,
        known_as_channels: bool = False,
        per_parameter_heads: bool = False,
        head_decays: Sequence[float] = DEFAULT_HEAD_DECAYS,
        prefix_branch: int = 0,
        branch_per_parameter: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "flatten" and not sequence_length:
            raise ValueError("pooling='flatten' needs sequence_length (the number of points per prefix)")
        if prefix_branch and not sequence_length:
            raise ValueError("prefix_branch needs sequence_length (the number of points per prefix)")
        self.known_as_channels = known_as_channels
        blocks, width = [], (1 + n_known if known_as_channels else 3)
        self.in_channels = width
        for level, out in enumerate(channels):
            blocks.append(TemporalBlock(width, out, kernel_size, dilation=2**level, dropout=dropout))
            width = out
        self.tcn = nn.Sequential(*blocks)
        self.pooling_kind = pooling
        pooled = width
        if pooling == "flatten":
            self.pool = FlattenTemporalReadout(width, sequence_length, width)
        elif pooling == "weighted":
            self.pool = WeightedTemporalPooling(width)
        elif pooling == "contrast":
            self.pool = ContrastReadout(width, head_decays)
            pooled = self.pool.out_features
        else:
            self.pool = nn.AdaptiveAvgPool1d(1)
        self.receptive_field = 1 + sum(2 * (kernel_size - 1) * 2**level for level in range(len(channels)))
        layers: list[nn.Module] = []
        known_width = 0 if known_as_channels else n_known
        for hidden in mlp_hidden if known_width else ():
            layers += [nn.Linear(known_width, hidden), nn.ReLU()]
            known_width = hidden
        self.known_mlp = nn.Sequential(*layers)
        groups = n_params if branch_per_parameter and per_parameter_heads else 1
        self.prefix_branches = nn.ModuleList(
            PrefixBranch(sequence_length, n_known, prefix_branch) for _ in range(groups if prefix_branch else 0)
        )
        branch_width = prefix_branch if prefix_branch else 0
        self.heads = GaussianHeads(pooled + known_width + branch_width, head_hidden, n_params, per_parameter_heads)
        self.register_buffer("variance_scale", torch.ones(n_params))

    def encode(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """TCN features (batch, channels, time)."""
        if self.known_as_channels and known.shape[-1]:
            x = torch.cat([x, known.unsqueeze(-1).expand(-1, -1, x.shape[-1])], dim=1)
        hidden = self.tcn(x.unsqueeze(2).contiguous(memory_format=torch.channels_last))
        return hidden.squeeze(2)

    def features(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """The heads' inputs: one tensor, or one per prefix branch when there are several."""
        shared = [self.pool(self.encode(x, known)).reshape(x.shape[0], -1)]
        if not self.known_as_channels and known.shape[-1]:
            shared.append(self.known_mlp(known))
        if not self.prefix_branches:
            return torch.cat(shared, dim=-1) if len(shared) > 1 else shared[0]
        groups = [torch.cat([*shared, branch(x, known)], dim=-1) for branch in self.prefix_branches]
        return groups[0] if len(groups) == 1 else groups

    def forward(self, x: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = self.heads(self.features(x, known))
        return mean, var * self.variance_scale

    def attention(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor | None:
        """Pooling weights over time, (batch, heads, time); None for readouts without them."""
        if isinstance(self.pool, WeightedTemporalPooling):
            return self.pool.weights(self.encode(x, known)).unsqueeze(1)
        if isinstance(self.pool, ContrastReadout):
            return self.pool.pool.weights(self.encode(x, known))
        return None


def per_parameter_nll(mean: torch.Tensor, var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Full Gaussian NLL (with 0.5 log 2 pi) per element."""
    return 0.5 * (math.log(2 * math.pi) + torch.log(var) + (target - mean) ** 2 / var)


def gaussian_nll_loss(
    mean: torch.Tensor,
    var: torch.Tensor,
    target: torch.Tensor,
    var_reg: float = 0.0,
    var_target: float = 0.1,
    beta: float = 0.0,
) -> torch.Tensor:
    """Gaussian NLL averaged over batch and parameters; ``beta`` > 0 makes it the beta-NLL.

    beta-NLL (Seitzer et al., ICLR 2022) weighs each element's NLL by ``var.detach() ** beta``. With one
    loss for all parameters, the plain NLL weighs squared errors by 1/var, so once E0's variance is
    small its errors dominate the shared features and k_d's gradient fades; the weight undoes part of
    that. beta = 0 is the plain NLL. ``var_reg`` > 0 adds the original's "variance ~0.1" penalty
    ``var_reg * mean((var - var_target)^2)``, which biases calibration; it is off by default.
    """
    nll = per_parameter_nll(mean, var, target)
    if beta:
        nll = nll * var.detach() ** beta
    loss = nll.mean()
    if var_reg > 0:
        loss = loss + var_reg * ((var - var_target) ** 2).mean()
    return loss
