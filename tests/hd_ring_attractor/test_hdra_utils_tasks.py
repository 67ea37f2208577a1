"""Encoding, decoding, bump measurements and the seeded path-integration task."""

from __future__ import annotations

import math

import pytest
import torch
from hd_ring_attractor import PathIntegrationTask, angle_to_input, circular_error_deg, decode_heading, make_splits
from hd_ring_attractor.evaluation import cue_only_error_deg
from hd_ring_attractor.utils import bump_fwhm_deg, single_peak_ratio


def test_decoding_an_encoded_angle_returns_it_for_a_whole_batch():
    angles = torch.tensor([[0.1, 3.0], [6.2, 4.4]])
    decoded = decode_heading(angle_to_input(angles, 128))
    assert decoded.shape == angles.shape
    assert circular_error_deg(decoded, angles).max() < 1e-3


def test_circular_error_wraps_around():
    error = circular_error_deg(torch.tensor([math.radians(359.0)]), torch.tensor([math.radians(1.0)]))
    assert error.item() == pytest.approx(2.0, abs=1e-4)


def test_fwhm_and_single_peak_ratio_of_known_profiles():
    width = 0.3
    bumps = angle_to_input(torch.tensor([0.0, 2.0]), 360, width=width)
    expected = math.degrees(2 * math.sqrt(2 * math.log(2)) * width)
    assert bump_fwhm_deg(bumps).tolist() == pytest.approx([expected, expected], abs=2.0)
    two_bumps = angle_to_input(torch.tensor([0.5]), 360) + angle_to_input(torch.tensor([3.5]), 360)
    assert single_peak_ratio(bumps) == 1.0
    assert single_peak_ratio(two_bumps) == 0.0


def test_trajectories_are_seeded_and_follow_the_spec():
    task = PathIntegrationTask()
    first, again, other = task.sample(512, seed=1), task.sample(512, seed=1), task.sample(512, seed=2)
    assert torch.equal(first.angular_velocity, again.angular_velocity)
    assert not torch.equal(first.cue_angle, other.cue_angle)
    assert first.angular_velocity.shape == (512, 300) and first.cue_steps == 50
    assert torch.all(first.angular_velocity[:, :50] == 0)
    assert torch.allclose(first.heading[:, 49], first.cue_angle)
    dark_sd = math.degrees(first.angular_velocity[:, 50:].std().item())
    assert 80 < dark_sd < 100
    assert first.cue_angle.min() >= 0 and first.cue_angle.max() < 2 * math.pi


def test_slow_trials_turn_at_one_constant_slow_speed_and_leave_the_other_trials_alone():
    plain, mixed = PathIntegrationTask(), PathIntegrationTask(slow_fraction=0.5, slow_range_deg=(5.0, 90.0))
    base, trials = plain.sample(512, seed=3), mixed.sample(512, seed=3)
    dark = trials.angular_velocity[:, 50:]
    constant = (dark == dark[:, :1]).all(dim=1)
    assert 200 < int(constant.sum()) < 312  # about half
    speeds = torch.rad2deg(dark[constant, 0].abs())
    assert speeds.min() >= 5.0 - 1e-3 and speeds.max() <= 90.0 + 1e-3
    assert 0.3 < float((dark[constant, 0] > 0).double().mean()) < 0.7  # both directions
    # The Ornstein-Uhlenbeck trials and the cues are the plain task's, and the heading integrates the velocity.
    assert torch.equal(trials.angular_velocity[~constant], base.angular_velocity[~constant])
    assert torch.equal(trials.cue_angle, base.cue_angle)
    turned = trials.heading[constant, -1] - trials.heading[constant, 49]
    expected = dark[constant, 0] * 250 * 2.0 / 1000.0
    assert torch.allclose(
        torch.remainder(turned - expected + math.pi, 2 * math.pi) - math.pi, torch.zeros_like(turned), atol=1e-4
    )
    with pytest.raises(ValueError, match="slow_fraction"):
        PathIntegrationTask(slow_fraction=1.5)


def test_splits_differ_and_the_cue_only_baseline_is_far_from_zero():
    train, val, test = make_splits(PathIntegrationTask(), 64, 64, 64, seed=0)
    assert not torch.equal(train.cue_angle, val.cue_angle) and not torch.equal(val.cue_angle, test.cue_angle)
    baseline = cue_only_error_deg(test)
    assert baseline["mean_error_deg"] > 8 and baseline["end_error_deg"] > baseline["mean_error_deg"]
