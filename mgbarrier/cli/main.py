"""The ``mgbarrier`` command line: one module per sub-command in this folder.

Every user error prints one line ``mgbarrier: error: FILE: problem`` on stderr and exits
with status 2; outputs are written to a temporary file and renamed (see
:mod:`mgbarrier.io.files`), so a failed, interrupted (Ctrl-C, SIGTERM, SIGHUP) run leaves
no partial or changed output.
"""
from __future__ import annotations

import argparse
import signal
import sys
import warnings
from typing import List, Optional

from .. import __version__
from ..errors import MgBarrierError
from . import artn_labels, evaluate, explain, glass, import_symgnn, info, label, predict, train
from .common import show_warning

#: sub-command modules, in the order ``mgbarrier --help`` lists them
COMMANDS = (predict, evaluate, info, train, import_symgnn, artn_labels, label, explain, glass)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already names one
    (defaults that are None, False or empty mean "not given" and are not shown)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or "%(default)" in text or default in (None, False, "", [])
                or default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """Option errors as the one line every other error is (``mgbarrier: error: ...``), exit 2;
    ``--help`` still prints the usage.  Sub-command parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"mgbarrier: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="mgbarrier", description="Per-atom energy barriers of metallic glasses.")
    ap.add_argument("--version", action="version", version=f"mgbarrier {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    for parser in sub.choices.values():
        if parser.formatter_class is argparse.HelpFormatter:
            parser.formatter_class = HelpFormatter
    return ap


def _terminate(signum, frame):
    """SIGTERM / SIGHUP (how schedulers end jobs) unwind like Ctrl-C, so outputs are cleaned up."""
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, _terminate)
        except (ValueError, AttributeError):  # not the main thread, or no SIGHUP here
            pass
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except MgBarrierError as exc:
        print(f"mgbarrier: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mgbarrier: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
