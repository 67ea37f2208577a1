"""CAGE-2 decoys: service-specific, a finite ordered set per host, foiling only exploits of their service."""

from __future__ import annotations

import numpy as np
from workflow_rl.services import DECOY_MASKS, EXPLOITS, MAX_DECOYS, SERVICES, decoy_names
from workflow_rl.sim import HOST_NAMES, NetDefenseSim

DECOY = 1 + 3 * 13
RESTORE = 1 + 2 * 13
OP_SERVER = HOST_NAMES.index("op_server0")
ENTERPRISE2 = HOST_NAMES.index("enterprise2")


def test_each_host_has_cage2s_finite_ordered_decoys():
    assert decoy_names(OP_SERVER) == ["Haraka", "Apache", "Tomcat", "Vsftpd"]
    assert decoy_names(ENTERPRISE2) == ["Femitter"]
    assert decoy_names(HOST_NAMES.index("op_host0")) == []
    # enterprise0's Apache finds both its slots taken (SQL by Tomcat, HTTPRFI by the mis-ported Vsftpd)
    assert decoy_names(HOST_NAMES.index("enterprise0")) == ["Haraka", "Tomcat", "Vsftpd"]
    # a decoy never sits on a slot a real service holds
    assert not (DECOY_MASKS & SERVICES[:, None, :]).any()


def test_repeated_decoy_actions_place_the_next_until_none_remain():
    sim = NetDefenseSim(1, "sleep", seed=0)
    sim.reset()
    for expected in [1, 2, 3, 4, 4, 4]:
        obs, *_ = sim.step(np.array([DECOY + OP_SERVER]))
        assert sim.decoys[0, OP_SERVER] == expected
    assert obs[0, 13 * 4 + OP_SERVER] == 0.0  # blue sees no decoys left there
    sim.step(np.array([RESTORE + OP_SERVER]))
    assert sim.decoys[0, OP_SERVER] == 0 and MAX_DECOYS[OP_SERVER] == 4


def test_a_decoy_foils_only_exploits_of_its_service():
    sim = NetDefenseSim(2, "sleep", seed=0)
    sim.reset()
    sim.decoys[:, OP_SERVER] = 1  # Haraka decoy on a host whose only real service is SSH (Brute)
    target = np.full(2, OP_SERVER)
    # u_pick < 0.75: red goes for the highest-priority service (Haraka, the decoy) and is trapped;
    # otherwise it picks another service (Brute), which the decoy does not answer.
    trapped, works = sim._pick_service(target, np.array([0.1, 0.9]), np.array([0.5, 0.5]))
    assert trapped.tolist() == [True, False] and works.tolist() == [False, True]
    assert EXPLOITS.index("Haraka") < EXPLOITS.index("Brute")


def test_without_decoys_red_never_trips_and_with_all_four_mostly_does():
    sim = NetDefenseSim(20_000, "sleep", seed=1)
    sim.reset()
    target = np.full(20_000, OP_SERVER)
    trapped, works = sim._pick_service(target, sim.rng.random(20_000), sim.rng.random(20_000))
    assert not trapped.any() and works.all()
    sim.decoys[:, OP_SERVER] = 4
    trapped, works = sim._pick_service(target, sim.rng.random(20_000), sim.rng.random(20_000))
    # 0.75 (priority decoy) + 0.25 * 3/4 (three of the four other slots are decoys) = 0.9375
    assert abs(trapped.mean() - 0.9375) < 0.01 and (trapped ^ works).all()


def test_femitter_keeps_trapping_after_restore_as_cage2s_bug_does():
    sim = NetDefenseSim(1, "sleep", seed=0)
    sim.reset()
    sim.step(np.array([DECOY + ENTERPRISE2]))
    sim.step(np.array([RESTORE + ENTERPRISE2]))
    assert sim.decoys[0, ENTERPRISE2] == 0
    trapped, _ = sim._pick_service(np.array([ENTERPRISE2]), np.array([0.1]), np.array([0.5]))
    assert trapped.tolist() == [True]
