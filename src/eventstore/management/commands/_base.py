"""What the event store's commands share: batch size, progress lines, and argument checks."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, NoReturn
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventstore import conf

#: Largest --batch-size: beyond it a batch buys no speed and only risks memory and SQL limits.
MAX_BATCH_SIZE = 100_000


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (argparse turns the ValueError into a one-line error)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def batch_size(text: str) -> int:
    """Parse a batch size: a whole number from 1 to MAX_BATCH_SIZE."""
    value = positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise ValueError(text)
    return value


positive_int.__name__ = "whole number of at least 1"
batch_size.__name__ = f"batch size (1 to {MAX_BATCH_SIZE})"


class EventStoreCommand(BaseCommand):
    """Base class of the event store's commands."""

    verbosity: int = 1
    #: Seconds between progress lines, so that long runs show life without flooding the output.
    progress_interval = 1.0

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> NoReturn:
            # argparse prints its usage too; one line saying what is wrong is easier to read.
            if parser.called_from_command_line:
                self.stderr.write(f"CommandError: {message} (see {prog_name} {subcommand} --help)")
                sys.exit(2)
            raise CommandError(f"Error: {message}")

        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_batch_size(self, parser: argparse.ArgumentParser, default: int | None = None) -> None:
        default = default or conf.get("PROJECTION_BATCH_SIZE")
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=default,
            help=f"Events read per query, 1 to {MAX_BATCH_SIZE} (default {default}).",
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        self.verbosity = options.get("verbosity", 1)
        self._last_progress = 0.0
        return super().execute(*args, **options)

    def progress(self, line: str, *, final: bool = False) -> None:
        """Write a progress line, at most one per interval unless it is the final one."""
        now = time.monotonic()
        if self.verbosity >= 1 and (final or now - self._last_progress >= self.progress_interval):
            self._last_progress = now
            self.stdout.write(line)

    def say(self, line: str, level: int = 1) -> None:
        """Write a line at this verbosity level or above."""
        if self.verbosity >= level:
            self.stdout.write(line)

    @staticmethod
    def select(registry: Any, names: list[str] | None, nothing: str) -> list[Any]:
        """Return the registered items named (each once), or all of them; CommandError for an unknown name or none."""
        try:
            chosen = [registry.get(name) for name in dict.fromkeys(names or registry.names())]
        except LookupError as exc:  # the registries' Unknown… errors name what is registered
            raise CommandError(str(exc)) from None
        if not chosen:
            raise CommandError(nothing)
        return chosen

    @staticmethod
    def parse_uuid(text: str, what: str = "aggregate") -> UUID:
        try:
            return UUID(text)
        except ValueError:
            raise CommandError(f"{text!r} is not a valid {what} UUID.") from None
