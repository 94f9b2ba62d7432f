"""Global optimizer: choose accelerator, replicas and batch size for every server.

This first part covers the optimizer's input: :class:`System` reads and validates the
reference's six JSON documents (or one ``system-data.json``), from a directory or from Python
dicts, and shows every entity as a pandas DataFrame. Parsing and validation run in the compiled
core; a bad document raises ``ValueError`` naming the file, the JSON path, the entity and the
allowed values. See docs/optimizer.md.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

import pandas as pd

from . import _core

__all__ = ["Solution", "System"]

_DOCUMENT_FILES = ("accelerator-data.json", "capacity-data.json", "model-data.json",
                   "serviceclass-data.json", "server-data.json", "optimizer-data.json")


class System:
    """An immutable optimizer input: accelerators, capacity, model performance records,
    service classes with their targets, servers with their load, and optimizer options.

    Build it with :meth:`from_dir` or :meth:`from_documents`. Later documents insert or replace
    entities by name (as the reference does); every replacement, defaulted value and dangling
    reference is listed in :attr:`diagnostics`.
    """

    def __init__(self, core: Any) -> None:
        self._core = core

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dir(cls, *paths: str | os.PathLike[str]) -> "System":
        """Read directories of reference JSON files (``accelerator-data.json``, ...,
        ``optimizer-data.json``, or ``system-data.json``), applied in order."""
        if not paths:
            raise ValueError("from_dir needs at least one directory")
        return cls(_core.optimizer.load_system([os.fspath(p) for p in paths], []))

    @classmethod
    def from_documents(cls, *documents: Mapping[str, Any] | str,
                       base: str | os.PathLike[str] | None = None) -> "System":
        """Build from documents given as dicts (e.g. ``{"servers": [...]}``) or JSON strings,
        applied in order, optionally on top of a directory ``base``."""
        texts = []
        for i, doc in enumerate(documents):
            if isinstance(doc, str):
                texts.append((f"document[{i}]", doc))
            elif isinstance(doc, Mapping):
                texts.append((f"document[{i}]", json.dumps(doc)))
            else:
                raise ValueError(f"document[{i}] must be a dict or a JSON string, got {type(doc).__name__}")
        dirs = [] if base is None else [os.fspath(base)]
        return cls(_core.optimizer.load_system(dirs, texts))

    # ------------------------------------------------------------------ views
    @property
    def accelerators(self) -> pd.DataFrame:
        """Accelerator profiles: type, multiplicity (cards per unit), cost per unit-hour,
        memory, and the power curve (W)."""
        return _frame(self._core.accelerators, "name")

    @property
    def capacity(self) -> dict[str, int]:
        """Available physical cards per accelerator type."""
        return dict(self._core.capacity)

    @property
    def models(self) -> pd.DataFrame:
        """Performance records, one per (model, accelerator)."""
        return _frame(self._core.perf_records)

    @property
    def targets(self) -> pd.DataFrame:
        """SLO targets, one row per (service class, model); 0 means no target."""
        return _frame(self._core.targets)

    @property
    def servers(self) -> pd.DataFrame:
        """Servers (service class x model) with the load to optimise for (req/min, tokens)."""
        return _frame(self._core.servers, "name")

    @property
    def options(self) -> dict[str, Any]:
        """Optimizer options (reference keys and inferno's extensions), defaults filled in."""
        return dict(self._core.options)

    @property
    def diagnostics(self) -> pd.DataFrame:
        """Warnings found while loading: where (file and JSON path, or entity) and what."""
        return pd.DataFrame(self._core.diagnostics, columns=["where", "message"])

    # ------------------------------------------------------------------ candidates
    def candidates(self, threads: int = 0) -> pd.DataFrame:
        """Every (server, accelerator) allocation sized with the queueing model (spec §5).

        One row per server and profile it can run on, feasible or not (``reason`` says why not:
        ``slo``, ``unconverged``, ``noTarget``, ``unknownClass``, ``noPerfData``, ...), plus one
        ``scaledToZero`` row for a server without demand or replica floor. Columns: batch size
        ``batch`` (chosen by the ``batchSizePolicy`` option), ``queue``, ``replicas`` (and
        ``required_replicas`` before the ``minNumReplicas`` floor), ``cost``, ``value`` (cost
        plus the transition penalty from the current allocation), ``cards``, ``demand_rps``,
        ``rate_per_replica_rps`` (SLO-feasible throughput of one replica), ``max_rpm``, and
        ``itl_ms``, ``ttft_ms``, ``rho``, ``busy_prob``, ``blocking_prob`` predicted at the
        actual per-replica load. Computed in parallel in C++ (``threads`` 0 = all cores); the
        result does not depend on the thread count.
        """
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0, got {threads!r}")
        return pd.DataFrame(self._core.candidates(threads))

    def optimize(self, solver: str | None = None, threads: int = 0) -> "Solution":
        """Choose an allocation for every server.

        ``solver``: ``"unlimited"`` (capacity ignored; each server takes its best candidate by
        value, then cost, cards and profile name; exact). ``None`` follows the options:
        ``unlimited: true`` selects it. The limited-capacity solvers (greedy, MILP) are not
        built yet and raise ``ValueError``.
        """
        if solver is None:
            solver = "unlimited" if self.options["unlimited"] else self.options["solver"]
        if solver != "unlimited":
            raise ValueError(
                f"solver {solver!r} is not built yet; available: 'unlimited' (the input asks for "
                "limited capacity unless its optimizer options set unlimited: true)")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0, got {threads!r}")
        return Solution(self._core.optimize_unlimited(threads))

    def __repr__(self) -> str:
        return (f"System({len(self._core.accelerators)} accelerators, "
                f"{len(self._core.capacity)} capacity types, {len(self._core.perf_records)} "
                f"performance records, {len(self._core.targets)} targets, "
                f"{len(self._core.servers)} servers, {len(self._core.diagnostics)} diagnostics)")


def _frame(records: Iterable[Mapping[str, Any]], index: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    if index is not None and not frame.empty:
        frame = frame.set_index(index)
    return frame


class Solution:
    """The allocation chosen for every server, with totals and the change from the current state.

    ``to_frame()`` / ``allocations``: one row per allocated server (accelerator, replicas,
    batch, queue, cost, value, predicted ITL/TTFT, ...); ``unallocated``: servers left without
    an allocation and why; ``by_type``: cards and cost per accelerator type; ``diff``: from/to
    accelerator and replicas and the cost change per server.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    @property
    def allocations(self) -> pd.DataFrame:
        return _frame(self._data["allocations"], "server")

    def to_frame(self) -> pd.DataFrame:
        return self.allocations

    @property
    def unallocated(self) -> pd.DataFrame:
        return pd.DataFrame(self._data["unallocated"], columns=["server", "reason", "detail"])

    @property
    def by_type(self) -> pd.DataFrame:
        return pd.DataFrame(self._data["by_type"], columns=["type", "cards", "limit", "cost"])

    @property
    def diff(self) -> pd.DataFrame:
        return _frame(self._data["diff"], "server")

    total_cost = property(lambda self: float(self._data["total_cost"]), doc="Sum of allocation costs.")
    total_value = property(lambda self: float(self._data["total_value"]),
                           doc="Sum of values (cost plus transition penalties): the minimised objective.")
    solver = property(lambda self: str(self._data["solver"]))
    status = property(lambda self: str(self._data["status"]),
                      doc="'ok' when every server is served (or scaled to zero), else 'partial'.")

    def __repr__(self) -> str:
        return (f"Solution(solver={self.solver!r}, status={self.status!r}, "
                f"total_cost={self.total_cost:g}, allocated={len(self._data['allocations'])}, "
                f"unallocated={len(self._data['unallocated'])})")
