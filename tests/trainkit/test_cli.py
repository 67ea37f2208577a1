import argparse
import errno
import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

import trainkit.checkpoint as checkpoint_module
from trainkit import ConfigError
from trainkit import validate as v
from trainkit.cli import (
    DEFAULT_THREADS,
    Command,
    TrainkitArgumentParser,
    add_common_arguments,
    add_config_arguments,
    assert_every_flag_has_help,
    build_parser,
    config_from_args,
    iter_parsers,
    run_cli,
    set_handler,
)


@dataclass
class TrainConfig:
    total_timesteps: int = field(default=100, metadata={"help": "environment steps", "type": v.positive_int})
    lr: float = field(default=3e-4, metadata={"help": "learning rate (100% = 1.0)"})
    mode: Literal["fast", "original"] = field(default="fast", metadata={"help": "which trainer"})
    hidden: tuple[int, ...] = field(default=(64, 64), metadata={"help": "hidden layer sizes"})
    normalize: bool = field(default=True, metadata={"help": "normalize observations"})
    data: Path | None = field(default=None, metadata={"help": "optional CSV", "type": v.existing_file})
    note: str = field(default="", metadata={"help": "free text"})


def _parser(calls):
    def add_train(p):
        add_common_arguments(p, tensorboard=False)
        add_config_arguments(p, TrainConfig, aliases={"total_timesteps": ["--total_timesteps"]})

    def train(args):
        calls.append(args)
        return 0

    def fail(args):
        raise ConfigError("bad config\nsecond line")

    return build_parser(
        "demo",
        "A demo package.",
        [
            Command("train", "Train.", add_train, train, aliases=("fit",)),
            Command("fail", "Fails.", lambda p: None, fail),
        ],
    )


def test_prog_help_with_defaults_and_dispatch(capsys):
    calls = []
    parser = _parser(calls)
    assert parser.prog == "python -m demo"
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["train", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m demo train")
    assert "(default: 100)" in text and "(default: 1)" in text and "100% = 1.0" in text
    assert "--total-timesteps TOTAL_TIMESTEPS, --total_timesteps" in text

    assert (
        run_cli(parser, ["fit", "--total_timesteps", "7", "--hidden", "8", "4", "--no-normalize", "--seed", "3"]) == 0
    )
    (args,) = calls
    config = config_from_args(TrainConfig, args, note="over")
    assert config == TrainConfig(total_timesteps=7, hidden=(8, 4), normalize=False, note="over")
    assert (args.seed, args.threads, args.device) == (3, DEFAULT_THREADS, "auto")
    assert not hasattr(args, "_trainkit_handler")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["train", "--seed", "-1"],
        ["train", "--seed", str(2**32)],
        ["train", "--threads", "0"],
        ["train", "--lr", "nan"],
        ["train", "--total-timesteps", "0"],
        ["train", "--mode", "slow"],
        ["train", "--data", "/no/such/file.csv"],
        ["train", "--unknown"],
        ["train", "--device", "tpu"],
    ],
)
def test_bad_input_is_one_stderr_line_and_exit_2(argv, capsys):
    calls = []
    with pytest.raises(SystemExit) as info:
        run_cli(_parser(calls), argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("python -m demo")
    assert ": error: " in captured.err and "usage" not in captured.err
    assert calls == []


def test_trainkit_error_in_a_handler_is_one_line(capsys):
    assert run_cli(_parser([]), ["fail"]) == 2
    assert capsys.readouterr().err == "python -m demo: error: bad config\n"


def test_user_os_errors_are_one_line_and_bugs_are_not(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint_module, "_last_checkpoint", None)  # as in a fresh process

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/x.pt")

    def bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    parser = TrainkitArgumentParser(prog="tool")
    set_handler(parser, full)
    assert run_cli(parser, []) == 2
    assert capsys.readouterr().err == (
        "tool: error: no space left writing /tmp/x.pt (No space left on device); this run wrote no checkpoint yet\n"
    )
    saved = checkpoint_module.save_checkpoint(tmp_path / "epoch3.pt", {"epoch": 3})
    assert run_cli(parser, []) == 2
    assert capsys.readouterr().err.endswith(f"; the last checkpoint is {saved}\n")
    set_handler(parser, bug)
    with pytest.raises(OSError):
        run_cli(parser, [])


def test_ctrl_c_is_130(capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    parser = TrainkitArgumentParser(prog="tool")
    set_handler(parser, interrupted)
    assert run_cli(parser, []) == 130
    assert "interrupted" in capsys.readouterr().err


def test_old_call_style_still_works(capsys):
    assert run_cli(lambda argv: 3, ["x"], prog="tool") == 3
    assert run_cli(lambda argv: None, None) == 0


def test_subparsers_share_the_parser_class_and_iter_parsers_sees_each_once():
    parser = _parser([])
    parsers = list(iter_parsers(parser))
    assert [p.prog for p in parsers] == ["python -m demo", "python -m demo train", "python -m demo fail"]
    assert all(isinstance(p, TrainkitArgumentParser) for p in parsers)


def test_every_flag_has_help_passes_on_a_good_parser_and_fails_on_a_bad_one():
    parser = _parser([])
    assert_every_flag_has_help(parser)
    sub = next(p for p in iter_parsers(parser) if p.prog.endswith("fail"))
    sub.add_argument("--quiet-flag")
    with pytest.raises(AssertionError, match="python -m demo fail --quiet-flag"):
        assert_every_flag_has_help(parser)

    bare = TrainkitArgumentParser(prog="bare")
    bare.add_subparsers().add_parser("undocumented")
    with pytest.raises(AssertionError, match="undocumented"):
        assert_every_flag_has_help(bare)


def test_a_config_field_without_help_fails_when_the_parser_is_built():
    @dataclass
    class Undocumented:
        epochs: int = 3

    with pytest.raises(ValueError, match=r"Undocumented.epochs has no help text"):
        add_config_arguments(argparse.ArgumentParser(), Undocumented)
    with pytest.raises(ValueError, match="no fields"):
        add_config_arguments(argparse.ArgumentParser(), TrainConfig, exclude=["epochs"])


def test_required_field_and_exclude():
    @dataclass
    class Needs:
        path: str = field(metadata={"help": "where"})
        skip: int = field(default=1, metadata={"help": "left out"})

    parser = TrainkitArgumentParser(prog="tool")
    add_config_arguments(parser, Needs, exclude=["skip"])
    assert config_from_args(Needs, parser.parse_args(["--path", "p"])) == Needs(path="p")
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_tensorboard_flag(tmp_path, capsys):
    parser = TrainkitArgumentParser(prog="tool")
    add_common_arguments(parser, seed=False, threads=False, device=False)
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(SystemExit):
            parser.parse_args(["--tensorboard", str(tmp_path / "tb")])
        assert "needs the tensorboard package" in capsys.readouterr().err
    else:
        assert parser.parse_args(["--tensorboard", str(tmp_path / "tb")]).tensorboard == tmp_path / "tb"
        assert (tmp_path / "tb").is_dir()
    assert parser.parse_args([]).tensorboard is None
    assert not hasattr(parser.parse_args([]), "seed")


LOGS_SCRIPT = """
import logging, sys
from trainkit.cli import TrainkitArgumentParser, run_cli, set_handler

def handler(args):
    logging.getLogger("pkg.train").info("epoch 1 done")
    logging.getLogger("pkg.train").debug("hidden")
    print("RESULT 42")

parser = TrainkitArgumentParser(prog="tool")
set_handler(parser, handler)
sys.exit(run_cli(parser, []))
"""


def test_run_cli_routes_logging_to_stderr_and_keeps_stdout_for_the_result():
    done = subprocess.run([sys.executable, "-c", LOGS_SCRIPT], capture_output=True, text=True, check=True)
    assert done.stdout == "RESULT 42\n"
    assert done.stderr == "epoch 1 done\n"


def test_a_path_default_goes_through_its_validator(tmp_path):
    @dataclass
    class Out:
        out: Path = field(default=tmp_path / "default_out", metadata={"help": "folder", "type": v.output_dir})

    parser = TrainkitArgumentParser(prog="tool")
    add_config_arguments(parser, Out)
    assert not (tmp_path / "default_out").exists()
    assert config_from_args(Out, parser.parse_args([])) == Out()
    assert (tmp_path / "default_out").is_dir(), "the default folder was probed before any work"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", str(blocker / "x")])
