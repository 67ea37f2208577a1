import argparse
import os

import pytest

from trainkit import ConfigError
from trainkit import validate as v


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (v.seed, [("0", 0), ("4294967295", 2**32 - 1), (7, 7)], ["-1", "4294967296", "1.5", "", "x", True]),
        (v.positive_int, [("1", 1), (" 12 ", 12), (3.0, 3)], ["0", "-1", "2.5", "nan", "1e3"]),
        (v.nonnegative_int, [("0", 0), ("5", 5)], ["-1", "one"]),
        (v.positive_float, [("1e-3", 1e-3), ("2", 2.0)], ["0", "-1", "nan", "inf", "-inf", "abc"]),
        (v.nonnegative_float, [("0", 0.0), ("0.5", 0.5)], ["-0.1", "nan", "inf"]),
        (v.finite_float, [("-3.5", -3.5)], ["nan", "-inf", ""]),
        (v.probability, [("0", 0.0), ("1", 1.0), ("0.25", 0.25)], ["1.01", "-0.01", "nan"]),
        (v.int_in_range(2, 5), [("2", 2), ("4", 4)], ["1", "5"]),
    ],
)
def test_validators_accept_good_and_refuse_bad_values(check, good, bad):
    for text, expected in good:
        assert check(text) == expected
    for text in bad:
        with pytest.raises(v.ValidationError) as info:
            check(text)
        message = str(info.value)
        assert message and "\n" not in message


def test_validation_error_is_both_a_config_error_and_an_argparse_type_error():
    with pytest.raises(ConfigError):
        v.seed("-1")
    with pytest.raises(argparse.ArgumentTypeError):
        v.seed("-1")


def test_bad_value_on_the_command_line_is_one_line_and_exit_2(capsys):
    from trainkit.cli import TrainkitArgumentParser

    parser = TrainkitArgumentParser(prog="tool")
    parser.add_argument("--seed", type=v.seed, help="seed")
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--seed", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tool: error: argument --seed: ") and "2**32" in err


def test_output_dir_creates_the_folder_and_leaves_it_empty(tmp_path):
    target = tmp_path / "a" / "b"
    assert v.output_dir(str(target)) == target
    assert target.is_dir() and list(target.iterdir()) == []


def test_output_dir_refuses_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    with pytest.raises(v.ValidationError, match="cannot write to"):
        v.output_dir(blocker / "out")
    with pytest.raises(v.ValidationError, match="cannot write to"):
        v.output_dir(blocker)
    assert blocker.read_text() == "keep me"
    with pytest.raises(v.ValidationError):
        v.output_dir("  ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_output_dir_refuses_a_read_only_folder(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(v.ValidationError, match="cannot write to"):
            v.output_dir(tmp_path)
    finally:
        tmp_path.chmod(0o700)


def test_existing_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a\n")
    assert v.existing_file(str(path)) == path
    with pytest.raises(v.ValidationError, match="no such file"):
        v.existing_file(tmp_path / "missing.csv")
    with pytest.raises(v.ValidationError, match="no such file"):
        v.existing_file(tmp_path)


def test_thread_counts_are_bounded_by_the_usable_cores():
    cores = len(os.sched_getaffinity(0))
    assert v.threads(str(cores)) == cores
    with pytest.raises(v.ValidationError, match="usable cores"):
        v.threads("100000")
    with pytest.raises(v.ValidationError):
        v.threads("0")
