"""The excitatory/inhibitory ring attractor that holds a heading bump and moves it with angular velocity.

Dynamics (times in ms, Euler steps of ``dt``)::

    tau_e dr_e/dt = -r_e + phi(g_ee K r_e + V_t - g_ie W_IE^T r_i + g_input c_t + xi_e)
    tau_i dr_i/dt = -r_i + relu(g_ei W_EI^T r_e + xi_i)
    V_t           = -g_av tau_e omega_t g_ee K' r_e        (Zhang 1996; g_av = 1 moves the bump at omega)

``phi = tanh(relu(.))`` makes the bump amplitude self-limiting. ``K`` is a circulant Gaussian of the
wrapped angle difference (rows sum to 1) and ``K'`` its derivative. Global inhibition comes from the
uniform ``W_EI = 1/N_E`` and ``W_IE = 1/N_I``.

``heterogeneity = h > 0`` perturbs the ring, fixed by ``network_seed``: each excitatory neuron's E->E
input (the rows of ``W_EE = K`` and of the velocity weights) is scaled by ``1 + h z_i``, and every entry
of ``W_EI`` and ``W_IE`` by ``1 + h z_ij`` (z standard normal, factors clipped at 0). Row factors keep
``K`` circulant up to a diagonal, so the FFT still applies. The learnable per-neuron ``excitability``
(init 1) multiplies the same E->E input: it is the correction training may learn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from trainkit import resolve_device

__all__ = ["BOUNDS", "NoiseModel", "RingAttractorNetwork", "SimulationEngine", "poisson_counts"]

SimulationEngine = Literal["batched", "per_sample"]
NoiseModel = Literal["gaussian", "poisson"]

# Biological constraints: the design document's ranges, plus sigma_ee (radians) and g_av.
BOUNDS: dict[str, tuple[float, float]] = {
    "g_ee": (0.1, 10.0),
    "g_ei": (0.1, 10.0),
    "g_ie": (0.1, 10.0),
    "g_input": (0.1, 10.0),
    "noise_rate_e": (0.1, 20.0),
    "noise_rate_i": (0.1, 20.0),
    # A lower bound of 2/3 of the initial 0.3 rad: at 800/200 training otherwise halved it (issue 18),
    # narrowing the bump until single neurons pin it.
    "sigma_ee": (0.2, math.pi / 2),
    "g_av": (0.0, 3.0),
    "W_EI": (-0.5, 2.0),
    # W_IE is subtracted from the excitatory drive: >= 0 keeps every I->E synapse inhibitory.
    "W_IE": (0.0, 0.5),
    "excitability": (0.5, 2.0),
}
# Rates and kernel weights below this are exactly zero (see _zero_tiny).
TINY = 1e-12
# Below this ring size one matrix product beats the FFT on a CPU (measured at 64, 128 and 800 neurons).
FFT_MIN_NEURONS = 256
SCALAR_PARAMETERS = ("g_ee", "g_ei", "g_ie", "g_input", "g_av", "sigma_ee", "noise_rate_e", "noise_rate_i")


class StepWeights(NamedTuple):
    """``gain`` (n_exc,) = g_ee x row factor x excitability; ``inhibition`` = -g_ie W_IE;
    ``excitation_i`` = g_ei W_EI; ``velocity`` = -g_av tau_e (s), Zhang's coefficient of omega K' r_e."""

    gain: torch.Tensor
    inhibition: torch.Tensor
    excitation_i: torch.Tensor
    velocity: torch.Tensor


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(torch.relu(x))


def _zero_tiny(rates: torch.Tensor) -> torch.Tensor:
    # Silent neurons decay geometrically into denormal floats, which make CPU kernels 10-100x slower
    # (torch.set_flush_denormal only covers the calling thread, not the intra-op workers).
    return nn.functional.threshold(rates, TINY, 0.0)


@torch.no_grad()
def poisson_counts(mean: float, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Independent Poisson(``mean``) counts for every element of ``shape``, exactly.

    Poisson splitting: independent Poisson(mean) counts over M cells have the law of a Poisson(M mean)
    total whose events fall independently and uniformly on the cells. At the noise's rates (mean =
    rate*dt <= 0.04) that draws a few hundredths of a random number per element, where
    ``torch.poisson`` samples every element on its own and a normal draw needs one number per element.
    """
    numel = math.prod(shape)
    total = int(torch.poisson(torch.tensor(mean * numel, dtype=torch.float64)))
    where = torch.randint(numel, (total,), device=like.device)
    counts = torch.zeros(numel, dtype=like.dtype, device=like.device)
    counts.index_put_((where,), torch.ones(total, dtype=like.dtype, device=like.device), accumulate=True)
    return counts.view(shape)


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
        heterogeneity: float = 0.0,
        network_seed: int = 0,
        noise_model: NoiseModel = "poisson",
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
        if noise_model not in ("gaussian", "poisson"):
            raise ValueError(f"noise_model must be 'gaussian' or 'poisson', got {noise_model!r}")
        if not 0 <= heterogeneity <= 1:
            raise ValueError(f"need 0 <= heterogeneity <= 1, got {heterogeneity}")
        self.n_exc, self.n_inh = n_exc, n_inh
        self.tau_e, self.tau_i, self.dt = tau_e, tau_i, dt
        self.engine: SimulationEngine = engine
        self.noise_model: NoiseModel = noise_model
        self.heterogeneity = heterogeneity
        self.noise = True
        device = resolve_device(device or "cpu")

        def scalar(value: float) -> nn.Parameter:
            return nn.Parameter(torch.tensor(float(value), device=device))

        self.g_ee, self.g_ei, self.g_ie = scalar(g_ee), scalar(g_ei), scalar(g_ie)
        self.g_input, self.g_av, self.sigma_ee = scalar(g_input), scalar(g_av), scalar(sigma_ee)
        self.noise_rate_e, self.noise_rate_i = scalar(noise_rate_e), scalar(noise_rate_i)
        # Drawn on the CPU from the network's own generator: the same seed gives the same ring anywhere.
        generator = torch.Generator().manual_seed(network_seed)

        def perturbation(*shape: int) -> torch.Tensor:
            factor = (1 + heterogeneity * torch.randn(*shape, generator=generator)).clamp_min(0.0)
            return factor.to(device)

        self.register_buffer("ee_row_factor", perturbation(n_exc))
        self.W_EI = nn.Parameter(perturbation(n_exc, n_inh) / n_exc)
        self.W_IE = nn.Parameter(perturbation(n_inh, n_exc) / n_inh)
        self.excitability = nn.Parameter(torch.ones(n_exc, device=device))
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

    def noise_scale(self, rate_hz: torch.Tensor) -> torch.Tensor:
        """``sqrt(rate*dt)``, the s.d. of the centred counts; the only path a gradient takes to the rate."""
        return (rate_hz * self.dt / 1000.0).sqrt()

    @torch.no_grad()
    def standard_noise(self, shape: tuple[int, ...], rate_hz: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """One draw of unit-variance noise for ``shape``; times :meth:`noise_scale` it is the drive noise.

        ``"poisson"`` gives exactly ``(Poisson(rate*dt) - rate*dt) / sqrt(rate*dt)`` (see
        :func:`poisson_counts`). ``"gaussian"`` draws a standard normal: the same mean (0) and variance (1).
        """
        if self.noise_model == "gaussian":
            return torch.randn(shape, dtype=like.dtype, device=like.device)
        mean = rate_hz * self.dt / 1000.0
        return (poisson_counts(float(mean), shape, like) - mean) / mean.sqrt()

    def drive_noise(self, shape: tuple[int, ...], rate_hz: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The drive noise ``noise_scale * standard_noise`` for ``shape``.

        When no gradient is needed for the rate (the default: noise rates are frozen, or no_grad), the
        draw is made at its final scale in one pass (``normal_`` at the s.d.; Poisson counts minus their
        mean) instead of a draw then a product over the whole trial.
        """
        if torch.is_grad_enabled() and rate_hz.requires_grad:
            return self.noise_scale(rate_hz) * self.standard_noise(shape, rate_hz, like)
        with torch.no_grad():
            mean = float(rate_hz) * self.dt / 1000.0
            if self.noise_model == "gaussian":
                return torch.empty(shape, dtype=like.dtype, device=like.device).normal_(0.0, math.sqrt(mean))
            return poisson_counts(mean, shape, like).sub_(mean)

    def step_weights(self) -> StepWeights:
        """The per-step weights with the gains folded in, built once per forward pass."""
        return StepWeights(
            gain=self.g_ee * self.ee_row_factor * self.excitability,
            inhibition=-self.g_ie * self.W_IE,
            excitation_i=self.g_ei * self.W_EI,
            velocity=-self.g_av * self.tau_e / 1000.0,
        )

    def step(
        self,
        r_e: torch.Tensor,
        r_i: torch.Tensor,
        omega: torch.Tensor,
        external_e: torch.Tensor | None,
        external_i: torch.Tensor | None,
        recurrent: torch.Tensor,
        recurrent_derivative: torch.Tensor,
        weights: StepWeights,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler step for rates (B, n_exc), (B, n_inh) and velocity (B,) rad/s.

        ``external_e``/``external_i`` are the cue and noise drives (None when absent); ``recurrent`` and
        ``recurrent_derivative`` are ``K r_e`` and ``K' r_e``; ``weights`` is :meth:`step_weights`.
        Fused operations (addcmul, addmm, lerp) keep the number of kernels per step small: at these
        sizes each costs about as much to launch as to compute.
        """
        moving = torch.addcmul(recurrent, (weights.velocity * omega)[:, None], recurrent_derivative)
        drive_e = weights.gain * moving if external_e is None else torch.addcmul(external_e, weights.gain, moving)
        drive_e = torch.addmm(drive_e, r_i, weights.inhibition)
        if external_i is None:
            drive_i = r_e @ weights.excitation_i
        else:
            drive_i = torch.addmm(external_i, r_e, weights.excitation_i)
        r_e = torch.lerp(r_e, _phi(drive_e), self.dt / self.tau_e)
        r_i = torch.lerp(r_i, torch.relu(drive_i), self.dt / self.tau_i)
        return _zero_tiny(r_e), _zero_tiny(r_i)

    def forward(
        self,
        angular_velocity: torch.Tensor,
        cue_angle: torch.Tensor,
        cue_steps: int = 50,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        return_state: bool = False,
    ) -> Any:
        """Simulate (B, T) angular velocity (rad/s) with a cue at ``cue_angle`` (B,) on the first ``cue_steps``.

        Returns the excitatory rates (B, T, n_exc); with ``return_state`` also the final ``(r_e, r_i)``,
        which ``state`` takes to continue a trial (truncated backpropagation through time).
        """
        if angular_velocity.dim() != 2 or cue_angle.shape != angular_velocity.shape[:1]:
            raise ValueError(
                f"need angular_velocity (B, T) and cue_angle (B,), got {tuple(angular_velocity.shape)} "
                f"and {tuple(cue_angle.shape)}"
            )
        if self.engine == "per_sample":
            if state is not None or return_state:
                raise ValueError("the per_sample engine simulates whole trials only")
            return self._forward_per_sample(angular_velocity, cue_angle, cue_steps)
        batch, steps = angular_velocity.shape
        circulant = self.circulant_operator()
        weights = self.step_weights()
        cue = self.g_input * self.cue_input(cue_angle)
        # One draw for the whole trial, split with unbind: indexing a tensor that needs a
        # gradient step by step would make each step's backward fill a zero tensor of the whole trial.
        noise_e = noise_i = None
        if self.noise:
            noise_e = self.drive_noise((steps, batch, self.n_exc), self.noise_rate_e, cue).unbind(0)
            noise_i = self.drive_noise((steps, batch, self.n_inh), self.noise_rate_i, cue).unbind(0)
        if state is None:
            r_e = angular_velocity.new_zeros(batch, self.n_exc)
            r_i = angular_velocity.new_zeros(batch, self.n_inh)
        else:
            r_e, r_i = state
        rates = []
        for t in range(steps):
            external_e = noise_e[t] if noise_e is not None else None
            if t < cue_steps:
                external_e = cue if external_e is None else external_e + cue
            external_i = noise_i[t] if noise_i is not None else None
            r_e, r_i = self.step(r_e, r_i, angular_velocity[:, t], external_e, external_i, *circulant(r_e), weights)
            rates.append(r_e)
        return (torch.stack(rates, dim=1), (r_e, r_i)) if return_state else torch.stack(rates, dim=1)

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
                    noise_e = self._noise_like_original(self.n_exc, self.noise_rate_e, r_e[b])
                    external_e = noise_e if external_e is None else external_e + noise_e
                    external_i = self._noise_like_original(self.n_inh, self.noise_rate_i, r_i[b])
                r_e[b], r_i[b] = self.step(
                    r_e[b],
                    r_i[b],
                    angular_velocity[b : b + 1, t],
                    external_e,
                    external_i,
                    r_e[b] @ kernel.T,
                    r_e[b] @ kernel_derivative.T,
                    self.step_weights(),
                )
            rates.append(torch.cat(r_e, dim=0))
        return torch.stack(rates, dim=1)

    def _noise_like_original(self, n: int, rate_hz: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """One sample's drive noise; the Poisson counts drawn the original's way, ``torch.poisson`` per element."""
        if self.noise_model == "gaussian":
            return self.drive_noise((1, n), rate_hz, like)
        mean = (rate_hz * self.dt / 1000.0).detach()
        return self.noise_scale(rate_hz) * (torch.poisson(mean.expand(1, n)) - mean) / mean.sqrt()
