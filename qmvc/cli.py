"""The `qmvc` command: argparse front; each subcommand imports only what it needs.

Exit codes: `deliver` answers with qmail's (0, 99, 100, 111); every other command
answers 0 for success, 1 for the finding (a bad policy, a failing check), 2 for usage,
and 141 when the reader of its output went away (`qmvc report | head`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qmvc import __version__
from qmvc.paths import policy_path

if TYPE_CHECKING:
    import argparse

BROKEN_PIPE_EXIT = 141
"""What a shell reports for a program that SIGPIPE ended (128 + 13), as `cat` or `grep` would
end in the same place: a script under `set -o pipefail` can tell a reader that stopped early
(`| head`, expected) from a real failure, and 0 would claim output that nobody read."""

COMMANDS = {
    "check-policy": ("check_policy", "check a policy file: errors with line, column and hint"),
    "explain": ("explain", "show the path a message takes through the policy"),
    "notice": ("notice", "preview the incident notices a message would cause"),
    "report": ("report", "the Virulator: sources, sinks, viruses, rules from the logs"),
    "update-signatures": ("update_signatures", "run each scanner's signature update"),
    "doctor": ("doctor", "check the deployment as the delivering user: files, scanners, injector"),
    "fmt": ("fmt", "print a policy in the canonical layout; --check, --diff, -w"),
    "test": ("test", "run a policy's test cases: messages and the verdicts they must get"),
}


def build_parser() -> argparse.ArgumentParser:
    import argparse  # not at the top: `qmvc deliver` never needs it

    parser = argparse.ArgumentParser(prog="qmvc", description="Mail and virus control for qmail.")
    parser.add_argument("--version", action="version", version=f"qmvc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--policy",
            metavar="FILE",
            help="policy file (else QMVC_POLICY, /etc/qmvc/policy.qmvc, shipped default)",
        )
        sub.add_argument("--format", choices=("text", "json"), default="text")
        sub.set_defaults(module=module_name)
        _command_module(module_name).add_arguments(sub)
    return parser


def _command_module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"qmvc.commands.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["deliver"]:  # the hot path skips argparse's module imports
        from qmvc.deliver import main as deliver_main

        return deliver_main(arguments[1:])
    try:
        try:
            args = build_parser().parse_args(arguments)
            return int(_command_module(args.module).run(args, policy_path(args.policy)))
        finally:  # here, not at exit: a closed pipe must surface inside this `try`
            if sys.stdout is not None:  # None when qmvc was started with stdout closed
                sys.stdout.flush()
    except BrokenPipeError:
        return _stop_writing_to_a_closed_pipe()


def _stop_writing_to_a_closed_pipe() -> int:
    """Ends a command whose reader went away, quietly (Python's "Note on SIGPIPE").

    stdout is pointed at /dev/null so that the interpreter's last flush of what is still
    buffered cannot fail again and print "Exception ignored … BrokenPipeError" at exit.
    `deliver` never comes here: it writes nothing to stdout.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_EXIT


if __name__ == "__main__":
    sys.exit(main())
