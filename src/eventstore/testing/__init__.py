"""A test kit for projects using the event store.

- `InMemoryBackend`: a backend in process memory, for fast tests without a database.
- `given(Aggregate, *events).when(command).then(*events)`: aggregate tests, no storage at all.
- `BackendContract`: the tests every backend passes, to subclass for a backend of one's own.
- `eventstore.testing.pytest_plugin`: fixtures `eventstore_memory_backend` and `eventstore_backend`.

`BackendContract` (and the plugin) need pytest; they are imported only when asked for, so
importing this package does not.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .gwt import given
from .memory import InMemoryBackend

if TYPE_CHECKING:
    from .contract import BackendContract

_pytest = sys.modules.get("pytest")
if _pytest is not None:
    # Under pytest, have it rewrite the contract's asserts (as in test modules) so that a failing
    # contract test shows the values compared; it must hear of the module before its import.
    _pytest.register_assert_rewrite(f"{__name__}.contract")

__all__ = ["BackendContract", "InMemoryBackend", "given"]


def __getattr__(name: str) -> Any:
    """Import BackendContract on first use: it needs pytest, which production code may lack."""
    if name == "BackendContract":
        from .contract import BackendContract

        return BackendContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
