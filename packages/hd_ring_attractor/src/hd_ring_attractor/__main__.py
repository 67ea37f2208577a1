from hd_ring_attractor.cli import entry_point

entry_point()
