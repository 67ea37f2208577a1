"""The CLI convention: one parser class, subcommands registered one way, errors as one line and exit 2.

```python
parser = build_parser("my_pkg", "What it does.", [Command("train", "Train a model.", add_train, train)])
sys.exit(run_cli(parser, argv))
```

Every parser is a :class:`TrainkitArgumentParser`: help shows defaults, and an argparse error is one line,
``prog: error: ...``, with exit status 2 (no usage block). ``run_cli`` turns a :class:`TrainkitError`
(and a full disk or a permission error) into the same one line, and Ctrl-C into exit 130. It also routes
``logging`` at INFO to stderr (``configure_logging``), so packages log notes instead of printing them.
Flags for a config dataclass come from its fields (:func:`add_config_arguments`), so a field and its flag
are defined once; a field without ``metadata={"help": ...}`` is an error when the parser is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib.util
import logging
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from trainkit import validate
from trainkit.checkpoint import last_checkpoint_path
from trainkit.errors import TrainkitError

__all__ = [
    "DEFAULT_THREADS",
    "EXIT_INTERRUPTED",
    "EXIT_USER_ERROR",
    "Command",
    "TrainkitArgumentParser",
    "add_common_arguments",
    "add_config_arguments",
    "assert_every_flag_has_help",
    "build_parser",
    "config_from_args",
    "configure_logging",
    "iter_parsers",
    "run_cli",
    "set_handler",
    "tensorboard_dir",
]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# One torch thread: the v2 spec's default for this repo's small models (each package's bench records the
# threads it used, so a faster count shows there); pass --threads N for larger models.
DEFAULT_THREADS = 1
HANDLER_KEY = "_trainkit_handler"
# OS errors a user fixes (space, permissions), not bugs: one line instead of a traceback.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # EFBIG: a file-size limit (ulimit -f) is hit
_USER_OS_ERRORS = _NO_SPACE | {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ELOOP
}  # fmt: skip

Handler = Callable[[argparse.Namespace], "int | None"]
C = TypeVar("C")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after each flag's help, except when there is no default to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        plain_switch = action.default is False and not isinstance(action, argparse.BooleanOptionalAction)
        if action.default is None or plain_switch or isinstance(action, argparse._StoreConstAction):
            return action.help
        return super()._get_help_string(action)


class TrainkitArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit 2; its subparsers share the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {' '.join(message.split())}\n")


@dataclasses.dataclass
class Command:
    """One subcommand: ``add_arguments(subparser)`` declares its flags, ``handler(args)`` runs it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    aliases: Sequence[str] = ()


def set_handler(parser: argparse.ArgumentParser, handler: Handler) -> None:
    """Make ``run_cli(parser)`` call ``handler(args)``; for single-command scripts without subcommands."""
    parser.set_defaults(**{HANDLER_KEY: handler})


def build_parser(package: str, description: str, commands: Sequence[Command]) -> TrainkitArgumentParser:
    """The parser of ``python -m <package>``, with one subparser per command (a command is required)."""
    parser = TrainkitArgumentParser(prog=f"python -m {package}", description=description)
    if commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        for command in commands:
            child = sub.add_parser(
                command.name, aliases=list(command.aliases), help=command.help, description=command.help
            )
            command.add_arguments(child)
            set_handler(child, command.handler)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _user_os_error(exc: OSError) -> str:
    if exc.errno in _NO_SPACE:
        last = last_checkpoint_path()
        resume = f"the last checkpoint is {last}" if last else "this run wrote no checkpoint yet"
        return f"no space left writing {exc.filename or 'a file'} ({exc.strerror}); {resume}"
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or _one_line(exc)}{where}"


def configure_logging(level: int = logging.INFO) -> None:
    """Send ``logging`` records (progress notes, "wrote X") to stderr as plain lines, leaving stdout for
    the command's result; a no-op when the program has configured logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


def _dispatch(main: Callable[[], int | None], label: str) -> int:
    configure_logging()
    try:
        code = main()
    except TrainkitError as exc:
        print(f"{label}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        if exc.errno not in _USER_OS_ERRORS:
            raise
        print(f"{label}: error: {_user_os_error(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{label}: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(code or 0)


def run_cli(
    parser: argparse.ArgumentParser | Callable[[Sequence[str] | None], int | None],
    argv: Sequence[str] | None = None,
    prog: str = "",
) -> int:
    """Parse ``argv`` and run the chosen command's handler; return the exit status.

    A :class:`TrainkitError` (or a full disk / permission error) prints ``prog: error: <first line>`` and
    returns 2; Ctrl-C returns 130. The older form ``run_cli(main, argv, prog)``, where ``main(argv)``
    parses by itself, still works.
    """
    if not isinstance(parser, argparse.ArgumentParser):
        main = parser
        return _dispatch(lambda: main(argv), prog or "error")
    args = parser.parse_args(argv)
    handler = getattr(args, HANDLER_KEY, None)
    if handler is None:
        parser.error("no command to run (build the parser with build_parser or set_handler)")
    delattr(args, HANDLER_KEY)
    return _dispatch(lambda: handler(args), prog or parser.prog)


def tensorboard_dir(value: Any) -> Path:
    """``--tensorboard DIR``: the ``tensorboard`` extra must be installed and DIR writable."""
    if importlib.util.find_spec("tensorboard") is None:
        raise validate.ValidationError(
            "TensorBoard logging needs the tensorboard package: pip install 'fivebench-trainkit[tensorboard]'"
        )
    return validate.output_dir(value)


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    seed: bool = True,
    threads: bool = True,
    device: bool = True,
    tensorboard: bool = True,
) -> None:
    """``--seed`` (default 0; change with ``parser.set_defaults(seed=...)``), ``--threads``, ``--device``,
    ``--tensorboard DIR``."""
    if seed:
        parser.add_argument("--seed", type=validate.seed, default=0, help="random seed, in [0, 2**32)")
    if threads:
        parser.add_argument("--threads", type=validate.threads, default=DEFAULT_THREADS, help="torch intra-op threads")
    if device:
        parser.add_argument(
            "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto = CUDA when available, else CPU"
        )
    if tensorboard:
        parser.add_argument(
            "--tensorboard",
            type=tensorboard_dir,
            default=None,
            metavar="DIR",
            help="also write TensorBoard scalars under DIR (needs the tensorboard extra); "
            "view with: tensorboard --logdir DIR",
        )


# ---- config dataclasses -> flags ------------------------------------------------------------------------


def _flag_type(annotation: Any) -> tuple[dict[str, Any], bool]:
    """argparse keywords for a field's annotation, and whether None is allowed."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"cannot make a flag for {annotation}; give metadata={{'type': ...}}")
        return _flag_type(members[0])[0], True
    if origin is Literal:
        choices = typing.get_args(annotation)
        return {"choices": choices, "type": type(choices[0])}, False
    if origin in (list, tuple, Sequence):
        inner = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        element = _flag_type(inner[0])[0] if inner else {"type": str}
        return {**element, "nargs": "+"}, False
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}, False
    if annotation is float:
        return {"type": validate.finite_float}, False
    if annotation in (int, str, Path):
        return {"type": annotation}, False
    raise TypeError(f"cannot make a flag for {annotation!r}; give metadata={{'type': ...}}")


def _field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def add_config_arguments(
    parser: argparse.ArgumentParser,
    config_cls: type,
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    exclude: Sequence[str] = (),
) -> None:
    """One kebab-case flag per field of the dataclass ``config_cls`` (``batch_size`` -> ``--batch-size``).

    ``field(metadata={"help": ..., "type": validator, "choices": ..., "metavar": ...})``: help is required;
    ``type`` overrides the type derived from the annotation (use a :mod:`trainkit.validate` validator for
    every number with a range). ``aliases`` adds spellings, e.g. ``{"total_timesteps": ["--total_timesteps"]}``.
    A bool field gives ``--flag/--no-flag``; a field without a default gives a required flag. A path
    default is passed to argparse as a string, so that its validator (e.g. ``output_dir``) runs on it too.
    """
    aliases = aliases or {}
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = (set(aliases) | set(exclude)) - names
    if unknown:
        raise ValueError(f"{config_cls.__name__} has no fields {sorted(unknown)}")
    for field in dataclasses.fields(config_cls):
        if not field.init or field.name in exclude:
            continue
        help_text = field.metadata.get("help")
        if not help_text or not str(help_text).strip():
            raise ValueError(
                f"{config_cls.__name__}.{field.name} has no help text; declare it with field(metadata={{'help': ...}})"
            )
        kwargs, _ = _flag_type(hints[field.name])
        if "type" in field.metadata:
            kwargs["type"] = field.metadata["type"]
        for key in ("choices", "metavar"):
            if key in field.metadata:
                kwargs[key] = field.metadata[key]
        default = _field_default(field)
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        elif isinstance(default, os.PathLike):
            # argparse runs `type` on string defaults only: so a default output folder is probed too
            kwargs["default"] = os.fspath(default)
        else:
            kwargs["default"] = default
        flags = ["--" + field.name.replace("_", "-"), *aliases.get(field.name, ())]
        parser.add_argument(*flags, dest=field.name, help=str(help_text).replace("%", "%%"), **kwargs)


def config_from_args(config_cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build ``config_cls`` from the parsed flags (fields absent from ``args`` keep their defaults)."""
    hints = typing.get_type_hints(config_cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_cls):  # type: ignore[arg-type]
        if not field.init or not hasattr(args, field.name):
            continue
        value = getattr(args, field.name)
        if isinstance(value, list) and typing.get_origin(hints[field.name]) is tuple:
            value = tuple(value)
        values[field.name] = value
    values.update(overrides)
    return config_cls(**values)


# ---- walking parsers (tests) ------------------------------------------------------------------------------


def iter_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every subparser below it, each once (aliases share a parser)."""
    seen: set[int] = set()
    stack = [parser]
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())


def assert_every_flag_has_help(parser: argparse.ArgumentParser) -> None:
    """Raise AssertionError naming every argument or subcommand (in any subparser) without help text."""
    missing = []
    for current in iter_parsers(parser):
        for action in current._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                # add_parser(name) without help= leaves no entry in _choices_actions; aliases share a parser
                helped = {c.dest for c in action._choices_actions if (c.help or "").strip()}
                names: dict[int, list[str]] = {}
                for name, child in action.choices.items():
                    names.setdefault(id(child), []).append(name)
                missing += [f"{current.prog} {n[0]}" for n in names.values() if not helped.intersection(n)]
                continue
            if not (action.help or "").strip():
                missing.append(f"{current.prog} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help text: " + "; ".join(missing)
