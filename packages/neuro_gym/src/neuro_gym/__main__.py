"""``python -m neuro_gym``: the command line lives in :mod:`neuro_gym.cli`."""

from neuro_gym.cli import entry

if __name__ == "__main__":
    entry()
