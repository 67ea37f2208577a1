"""The excitatory/inhibitory ring attractor that holds a heading bump and moves it with angular velocity.

Dynamics (times in ms, Euler steps of ``dt``)::

    tau_e dr_e/dt = -r_e + phi(g_ee K r_e + V_t - g_ie W_IE^T r_i + g_input c_t + xi_e)
    tau_i dr_i/dt = -r_i + relu(g_ei W_EI^T r_e + xi_i)
    V_t           = -g_av tau_e omega_t g_ee K' r_e        (Zhang 1996; g_av = 1 moves the bump at omega)

``phi = tanh(relu(.))`` makes the bump amplitude self-limiting. ``K`` is a circulant Gaussian of the
wrapped angle difference (rows sum to 1) and ``K'`` its derivative. Global inhibition comes from the
uniform ``W_EI = 1/N_E`` and ``W_IE = 1/N_I``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from trainkit import resolve_device

__all__ = ["BOUNDS", "RingAttractorNetwork", "SimulationEngine"]

SimulationEngine = Literal["batched", "per_sample"]

# Biological constraints: the design document's ranges, plus sigma_ee (radians) and g_av.
BOUNDS: dict[str, tuple[float, float]] = {
    "g_ee": (0.1, 10.0),
    "g_ei": (0.1, 10.0),
    "g_ie": (0.1, 10.0),
    "g_input": (0.1, 10.0),
    "noise_rate_e": (0.1, 20.0),
    "noise_rate_i": (0.1, 20.0),
    "sigma_ee": (0.05, math.pi / 2),
    "g_av": (0.0, 3.0),
    "W_EI": (-0.5, 2.0),
    "W_IE": (-math.inf, 0.5),
}
# Rates and kernel weights below this are exactly zero (see _zero_tiny).
TINY = 1e-12
# Below this ring size one matrix product beats the FFT on a CPU (measured at 64, 128 and 800 neurons).
FFT_MIN_NEURONS = 256
SCALAR_PARAMETERS = ("g_ee", "g_ei", "g_ie", "g_input", "g_av", "sigma_ee", "noise_rate_e", "noise_rate_i")


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(torch.relu(x))


def _zero_tiny(rates: torch.Tensor) -> torch.Tensor:
    # Silent neurons decay geometrically into denormal floats, which make CPU kernels 10-100x slower
    # (torch.set_flush_denormal only covers the calling thread, not the intra-op workers).
    return nn.functional.threshold(rates, TINY, 0.0)


class RingAttractorNetwork(nn.Module):
    """A rate ring attractor of ``n_exc`` excitatory and ``n_inh`` inhibitory neurons.

    ``engine="batched"`` builds the E->E kernel once per forward pass and steps the whole batch at
    once; ``engine="per_sample"`` is the original's way (kernel rebuilt every step, a Python loop
    over the batch). Both compute the same dynamics.
    """

    def __init__(
        self,
        n_exc: int = 800,
        n_inh: int = 200,
        sigma_ee: float = 0.3,
        tau_e: float = 10.0,
        tau_i: float = 5.0,
        dt: float = 2.0,
        g_ee: float = 4.0,
        g_ei: float = 2.0,
        g_ie: float = 3.0,
        g_input: float = 1.0,
        g_av: float = 0.0,
        noise_rate_e: float = 10.0,
        noise_rate_i: float = 10.0,
        weight_jitter: float = 0.0,
        engine: SimulationEngine = "batched",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        if n_exc < 8 or n_inh < 1:
            raise ValueError(f"need n_exc >= 8 and n_inh >= 1, got {n_exc} and {n_inh}")
        if not 0 < dt < min(tau_e, tau_i):
            raise ValueError(f"need 0 < dt < min(tau_e, tau_i), got dt={dt}, tau_e={tau_e}, tau_i={tau_i}")
        if engine not in ("batched", "per_sample"):
            raise ValueError(f"engine must be 'batched' or 'per_sample', got {engine!r}")
        self.n_exc, self.n_inh = n_exc, n_inh
        self.tau_e, self.tau_i, self.dt = tau_e, tau_i, dt
        self.engine: SimulationEngine = engine
        self.noise = True
        device = resolve_device(device or "cpu")

        def scalar(value: float) -> nn.Parameter:
            return nn.Parameter(torch.tensor(float(value), device=device))

        self.g_ee, self.g_ei, self.g_ie = scalar(g_ee), scalar(g_ei), scalar(g_ie)
        self.g_input, self.g_av, self.sigma_ee = scalar(g_input), scalar(g_av), scalar(sigma_ee)
        self.noise_rate_e, self.noise_rate_i = scalar(noise_rate_e), scalar(noise_rate_i)
        w_ei = torch.full((n_exc, n_inh), 1.0 / n_exc, device=device)
        w_ie = torch.full((n_inh, n_exc), 1.0 / n_inh, device=device)
        if weight_jitter > 0:
            w_ei = w_ei * (1 + weight_jitter * torch.randn_like(w_ei))
            w_ie = w_ie * (1 + weight_jitter * torch.randn_like(w_ie))
        self.W_EI, self.W_IE = nn.Parameter(w_ei), nn.Parameter(w_ie)
        # Preferred directions 2*pi*i/N: the endpoint is excluded, so no two neurons share an angle.
        self.register_buffer("preferred", 2 * math.pi * torch.arange(n_exc, device=device) / n_exc)
        self.apply_constraints()

    @property
    def size(self) -> tuple[int, int]:
        return self.n_exc, self.n_inh

    def train(self, mode: bool = True) -> RingAttractorNetwork:
        """Noise is on in ``train()`` and off in ``eval()``."""
        super().train(mode)
        self.noise = mode
        return self

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Clamp every parameter into :data:`BOUNDS`; called after every optimizer step."""
        for name, (low, high) in BOUNDS.items():
            getattr(self, name).clamp_(min=low, max=high)

    def kernel_profiles(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The E->E kernel as a function of ``theta_k - theta_0`` (rows sum to 1) and its derivative."""
        wrapped = torch.remainder(self.preferred + math.pi, 2 * math.pi) - math.pi
        profile = torch.exp(-(wrapped**2) / (2 * self.sigma_ee**2))
        profile = profile / profile.sum()
        profile = torch.where(profile > TINY, profile, torch.zeros_like(profile))
        return profile, -wrapped / self.sigma_ee**2 * profile

    def circulant_operator(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """``r_e -> (K r_e, K' r_e)`` with the kernel built once.

        Large rings use the FFT (a circulant matrix is a circular convolution, O(N log N)); small
        ones one matrix product with ``[K; K']``, which is faster there.
        """
        profile, derivative = self.kernel_profiles()
        n = self.n_exc
        if n >= FFT_MIN_NEURONS:
            spectra = torch.fft.rfft(torch.stack([profile, derivative]), n=n)[:, None, :]

            def apply_fft(r_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                both = torch.fft.irfft(torch.fft.rfft(r_e, n=n)[None] * spectra, n=n)
                return both[0], both[1]

            return apply_fft
        index = torch.remainder(torch.arange(n)[None, :] - torch.arange(n)[:, None], n).to(profile.device)
        stacked = torch.cat([profile[index], derivative[index]], dim=1)  # (n, 2n): column j of K is profile[i - j]

        def apply_matmul(r_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            both = r_e @ stacked
            return both[:, :n], both[:, n:]

        return apply_matmul

    def kernels_like_original(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The same kernels built the original's way: atan2 of every pairwise difference, then exp."""
        diff = self.preferred[:, None] - self.preferred[None, :]
        wrapped = torch.atan2(torch.sin(diff), torch.cos(diff))
        weights = torch.exp(-(wrapped**2) / (2 * self.sigma_ee**2))
        weights = weights / weights.sum(dim=1, keepdim=True)
        return weights, -wrapped / self.sigma_ee**2 * weights

    def cue_input(self, cue_angle: torch.Tensor, width: float = 0.3) -> torch.Tensor:
        """A Gaussian bump of amplitude 1 centred on ``cue_angle`` (B,) -> (B, n_exc)."""
        diff = torch.remainder(self.preferred[None, :] - cue_angle[:, None] + math.pi, 2 * math.pi) - math.pi
        return torch.exp(-(diff**2) / (2 * width**2))

    def _noise(self, shape: tuple[int, ...], rate_hz: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Centred Poisson counts whose scale carries the gradient to ``rate_hz``.

        The forward value is exactly ``Poisson(rate*dt) - rate*dt``; the sample is standardised and
        detached, then multiplied by ``sqrt(rate*dt)``, the only path a gradient can take.
        """
        mean = rate_hz.detach() * self.dt / 1000.0
        counts = torch.poisson(mean.expand(shape).to(like.dtype))
        standardised = (counts - mean) / mean.sqrt()
        return standardised * (rate_hz * self.dt / 1000.0).sqrt()

    def step(
        self,
        r_e: torch.Tensor,
        r_i: torch.Tensor,
        omega: torch.Tensor,
        external_e: torch.Tensor | None,
        external_i: torch.Tensor | None,
        recurrent: torch.Tensor,
        recurrent_derivative: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler step for rates (B, n_exc), (B, n_inh) and velocity (B,) rad/s.

        ``external_e``/``external_i`` are the cue and noise drives (None when absent); ``recurrent`` and
        ``recurrent_derivative`` are ``K r_e`` and ``K' r_e``.
        """
        velocity = -(self.g_av * self.tau_e / 1000.0) * omega[:, None] * recurrent_derivative
        drive_e = self.g_ee * (recurrent + velocity) - self.g_ie * (r_i @ self.W_IE)
        drive_i = self.g_ei * (r_e @ self.W_EI)
        if external_e is not None:
            drive_e = drive_e + external_e
        if external_i is not None:
            drive_i = drive_i + external_i
        r_e = r_e + self.dt / self.tau_e * (-r_e + _phi(drive_e))
        r_i = r_i + self.dt / self.tau_i * (-r_i + torch.relu(drive_i))
        return _zero_tiny(r_e), _zero_tiny(r_i)

    def forward(self, angular_velocity: torch.Tensor, cue_angle: torch.Tensor, cue_steps: int = 50) -> torch.Tensor:
        """Simulate (B, T) angular velocity (rad/s) after a ``cue_steps`` cue at ``cue_angle`` (B,).

        Returns the excitatory rates (B, T, n_exc).
        """
        if angular_velocity.dim() != 2 or cue_angle.shape != angular_velocity.shape[:1]:
            raise ValueError(
                f"need angular_velocity (B, T) and cue_angle (B,), got {tuple(angular_velocity.shape)} "
                f"and {tuple(cue_angle.shape)}"
            )
        if self.engine == "per_sample":
            return self._forward_per_sample(angular_velocity, cue_angle, cue_steps)
        batch, steps = angular_velocity.shape
        circulant = self.circulant_operator()
        cue = self.g_input * self.cue_input(cue_angle)
        # All noise is drawn at once: a few large operations instead of several small ones per step.
        noise_e = self._noise((steps, batch, self.n_exc), self.noise_rate_e, cue) if self.noise else None
        noise_i = self._noise((steps, batch, self.n_inh), self.noise_rate_i, cue) if self.noise else None
        r_e = angular_velocity.new_zeros(batch, self.n_exc)
        r_i = angular_velocity.new_zeros(batch, self.n_inh)
        rates = []
        for t in range(steps):
            external_e = noise_e[t] if noise_e is not None else None
            if t < cue_steps:
                external_e = cue if external_e is None else external_e + cue
            external_i = noise_i[t] if noise_i is not None else None
            r_e, r_i = self.step(r_e, r_i, angular_velocity[:, t], external_e, external_i, *circulant(r_e))
            rates.append(r_e)
        return torch.stack(rates, dim=1)

    def _forward_per_sample(
        self, angular_velocity: torch.Tensor, cue_angle: torch.Tensor, cue_steps: int
    ) -> torch.Tensor:
        """The original's cost structure: the kernel is rebuilt every step and each sample steps alone."""
        batch, steps = angular_velocity.shape
        r_e = [angular_velocity.new_zeros(1, self.n_exc) for _ in range(batch)]
        r_i = [angular_velocity.new_zeros(1, self.n_inh) for _ in range(batch)]
        rates = []
        for t in range(steps):
            kernel, kernel_derivative = self.kernels_like_original()
            for b in range(batch):
                external_e = self.g_input * self.cue_input(cue_angle[b : b + 1]) if t < cue_steps else None
                external_i = None
                if self.noise:
                    noise_e = self._noise((1, self.n_exc), self.noise_rate_e, r_e[b])
                    external_e = noise_e if external_e is None else external_e + noise_e
                    external_i = self._noise((1, self.n_inh), self.noise_rate_i, r_i[b])
                r_e[b], r_i[b] = self.step(
                    r_e[b],
                    r_i[b],
                    angular_velocity[b : b + 1, t],
                    external_e,
                    external_i,
                    r_e[b] @ kernel.T,
                    r_e[b] @ kernel_derivative.T,
                )
            rates.append(torch.cat(r_e, dim=0))
        return torch.stack(rates, dim=1)
