"""CAGE-2's services, exploits and decoys per host, as arrays the batched simulator indexes.

Source (read, not copied): ``alan-turing-institute/CAGE_2_Fixed``, ``mini_CAGE/minimal.py`` at f70ca2d:
``HOST_EXPLOITS`` (the services each host runs), ``EXPLOITS`` (red's exploit priority, high to low),
``HOST_DECOYS`` (each host's finite, ordered decoys, "ordered based on the Cardiff implementation"),
``exploits_to_decoys`` (which decoy answers which exploit; CAGE-2's Vsftpd port bug is kept, as mini_CAGE
does by default), ``update_blue`` (a decoy takes the first free slot of an exploit it answers; if none is
free nothing is placed and later decoy actions on that host do nothing) and ``update_red`` (red exploits the
highest-priority service with probability 0.75, otherwise another one at random; picking a decoy fails;
Eternal fails on enterprise1/2 and, by a CAGE-2 bug, Keep on user3). A restore puts back the host's decoys
(``_process_actions``), except that a Femitter once placed keeps trapping FTP exploits on that host for the rest
of the episode (CAGE-2's "femitter previously placed" bug, kept by mini_CAGE's default
``remove_bugs=False``). mini_CAGE orders hosts differently; the tables below use this package's order.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DECOY_MASKS",
    "EXPLOITS",
    "EXPLOIT_BROKEN",
    "FEMITTER_FIRST",
    "FTP_SLOT",
    "MAX_DECOYS",
    "P_PRIORITY_EXPLOIT",
    "SERVICES",
    "decoy_names",
]

EXPLOITS: tuple[str, ...] = ("FTP", "Haraka", "SQL", "HTTPSRFI", "HTTPRFI", "Eternal", "Keep", "Brute")
# Decoy -> the exploits it answers (CAGE-2's Vsftpd listens on the wrong port, so it answers SQL and HTTPRFI).
DECOY_ANSWERS: dict[str, tuple[str, ...]] = {
    "Femitter": ("FTP",),
    "Vsftpd": ("SQL", "HTTPRFI"),
    "Apache": ("SQL", "HTTPRFI"),
    "Haraka": ("Haraka",),
    "SSHD": ("Brute",),
    "SMSS": ("Eternal",),
    "Tomcat": ("SQL", "HTTPSRFI"),
    "Svchost": ("Keep",),
}
_ENTERPRISE_SERVICES = ("Brute", "Eternal", "Keep", "HTTPRFI", "HTTPSRFI")
# Per host, in sim.HOST_NAMES order: (services, ordered decoys).
_HOSTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("Brute",), ("Haraka", "Tomcat", "Apache", "Vsftpd")),  # defender
    (("Brute",), ("Haraka", "Tomcat", "Vsftpd", "Apache")),  # enterprise0
    (_ENTERPRISE_SERVICES, ("Femitter",)),  # enterprise1
    (_ENTERPRISE_SERVICES, ("Femitter",)),  # enterprise2
    (("Brute",), ("Haraka", "Apache", "Tomcat", "Vsftpd")),  # op_server0
    (("Brute",), ()),  # op_host0
    (("Brute",), ()),  # op_host1
    (("Brute",), ()),  # op_host2
    ((), ()),  # user0: red's foothold
    (("Brute", "FTP"), ("Apache", "Tomcat", "SMSS", "Svchost")),  # user1
    (("Eternal", "Keep"), ("Femitter", "Tomcat", "Apache", "SSHD")),  # user2
    (("Keep", "HTTPSRFI", "HTTPRFI", "Haraka"), ("Vsftpd", "SSHD")),  # user3 (CAGE-2 bug: no SQL)
    (("Keep", "HTTPSRFI", "HTTPRFI", "Haraka", "SQL"), ("Vsftpd",)),  # user4
)
_BROKEN = {2: ("Eternal",), 3: ("Eternal",), 11: ("Keep",)}
P_PRIORITY_EXPLOIT = 0.75  # red picks the highest-priority service with this probability (update_red)


def _slot(name: str) -> int:
    return EXPLOITS.index(name)


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
    n_hosts, n_slots = len(_HOSTS), len(EXPLOITS)
    services = np.zeros((n_hosts, n_slots), dtype=bool)
    broken = np.zeros((n_hosts, n_slots), dtype=bool)
    placed: list[list[int]] = []
    names: list[list[str]] = []
    for host, (running, decoys) in enumerate(_HOSTS):
        services[host, [_slot(s) for s in running]] = True
        broken[host, [_slot(s) for s in _BROKEN.get(host, ())]] = True
        taken = services[host].copy()
        slots, placed_names = [], []
        for decoy in decoys:
            free = [_slot(e) for e in DECOY_ANSWERS[decoy] if not taken[_slot(e)]]
            if not free:  # mini_CAGE keeps offering this decoy and never places it: the host's set ends here
                break
            taken[free[0]] = True
            slots.append(free[0])
            placed_names.append(decoy)
        placed.append(slots)
        names.append(placed_names)
    max_decoys = np.array([len(s) for s in placed], dtype=np.int64)
    masks = np.zeros((n_hosts, int(max_decoys.max()) + 1, n_slots), dtype=bool)
    for host, slots in enumerate(placed):
        for count in range(1, len(slots) + 1):
            masks[host, count:, slots[count - 1]] = True
    return services, broken, max_decoys, masks, names


SERVICES, EXPLOIT_BROKEN, MAX_DECOYS, DECOY_MASKS, _DECOY_NAMES = _tables()
FTP_SLOT = EXPLOITS.index("FTP")
# Hosts whose first decoy is the Femitter (the only decoy CAGE-2's bug leaves behind after a restore).
FEMITTER_FIRST = np.array([bool(names) and names[0] == "Femitter" for names in _DECOY_NAMES])


def decoy_names(host: int) -> list[str]:
    """The decoys a host can take, in the order repeated decoy actions place them."""
    return list(_DECOY_NAMES[host])
