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

__all__ = ["System"]

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
