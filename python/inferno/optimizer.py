"""Global optimizer: choose accelerator, replicas and batch size for every server.

:class:`System` reads and validates the reference's six JSON documents (or one
``system-data.json``), from a directory or from Python dicts, and shows every entity as a pandas
DataFrame; :meth:`System.optimize` returns a :class:`Solution`. Parsing, validation, candidate
sizing and the solvers (greedy, HiGHS MILP) run in the compiled core; a bad document raises
``ValueError`` naming the file, the JSON path, the entity and the allowed values. See
docs/optimizer.md.
"""

from __future__ import annotations

import json
import math
import warnings
import os
from typing import Any, Iterable, Mapping

from ._lazy import np, pd

from . import _core
from ._text import excerpt as _excerpt

__all__ = ["OPTIONS", "Solution", "System", "candidates", "highs_versions", "load", "option_registry", "optimize",
           "options_schema"]

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
        _check_documents(paths)
        return cls(_core.optimizer.load_system([os.fspath(p) for p in paths], []))

    @classmethod
    def from_documents(cls, *documents: Mapping[str, Any] | str,
                       base: str | os.PathLike[str] | None = None) -> "System":
        """Build from documents given as dicts (e.g. ``{"servers": [...]}``) or JSON strings,
        applied in order, optionally on top of a directory ``base``.

        A list of entities may also be a pandas DataFrame with one row per entity and the
        reference's keys as columns; dotted column names nest (``currentAlloc.load.arrivalRate``)
        and missing values (NaN/None) leave the key out, e.g.
        ``{"servers": servers_frame}``."""
        values: list[tuple[str, Any]] = []  # dicts cross as values; a string is the text of a file
        for i, doc in enumerate(documents):
            if isinstance(doc, str):
                values.append((f"document[{i}]", doc))
            elif isinstance(doc, Mapping):
                values.append((f"document[{i}]", {k: _records(v) for k, v in doc.items()}))
            else:
                raise ValueError(f"document[{i}] must be a dict or a JSON string, got {type(doc).__name__}")
        dirs = [] if base is None else [os.fspath(base)]
        return cls(_core.optimizer.load_system(dirs, values))

    # ------------------------------------------------------------------ views
    @property
    def accelerators(self) -> pd.DataFrame:
        """Accelerator profiles: type, multiplicity (cards per unit), cost per unit-hour,
        memory, and the power curve (W)."""
        return _frame(self._core.accelerators, "name")

    @property
    def capacity(self) -> dict[str, int]:
        """Capacity per accelerator type in the units the profiles' multiplicities count: physical
        cards, or shares of a card for a type listed in ``units_per_card``."""
        return dict(self._core.capacity)

    @property
    def units_per_card(self) -> dict[str, int]:
        """Units per card of each type whose capacity is counted in shares of a card (MIG)."""
        return dict(self._core.units_per_card)

    @property
    def perf_records(self) -> pd.DataFrame:
        """Performance records (``model-data.json``), one per (model, accelerator profile)."""
        return _frame(self._core.perf_records)

    @property
    def models(self) -> pd.DataFrame:
        """Deprecated name of :attr:`perf_records` ("model" names an LLM); removed in the next release."""
        warnings.warn("System.models is deprecated: use perf_records", DeprecationWarning, stacklevel=2)
        return self.perf_records

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
        """Optimizer options (reference keys and inferno's extensions, under their snake_case
        names of :data:`OPTIONS`), defaults filled in."""
        keys = {v: k for k, v in OPTIONS.items()}
        return {keys[k]: v for k, v in self._core.options.items()}

    @property
    def diagnostics(self) -> pd.DataFrame:
        """Warnings found while loading: where (file and JSON path, or entity) and what."""
        return pd.DataFrame(self._core.diagnostics, columns=["where", "message"])

    # ------------------------------------------------------------------ options
    def with_options(self, **options: Any) -> "System":
        """A copy with optimizer options replaced, e.g. ``with_options(solver="milp",
        saturation_policy="RoundRobin")``. Names are the snake_case forms of the
        ``optimizer-data.json`` keys (see :data:`OPTIONS`); values are checked by the core."""
        if not options:
            return self
        doc = {}
        for name, value in options.items():
            key = OPTIONS.get(name)
            if key is None:
                raise ValueError(f"unknown optimizer option {_excerpt(name)}; allowed: {', '.join(sorted(OPTIONS))}")
            doc[key] = value
        return System(self._core.with_documents([("options", {"optimizer": doc})]))

    def with_arrival_rates(self, rates_rpm: Mapping[str, float]) -> "System":
        """A copy with new arrival rates (req/min) for the named servers, e.g. a load change
        before re-optimising a deployed solution (see :meth:`Solution.apply`)."""
        return System(self._core.with_arrival_rates({str(k): float(v) for k, v in rates_rpm.items()}))

    # ------------------------------------------------------------------ live state
    def with_loads(self, loads: Mapping[str, Mapping[str, float]] | pd.DataFrame) -> "System":
        """A copy with the loads a control loop measured: ``{server: {"rate_rps": ..., "in_tokens":
        ..., "out_tokens": ...}}`` (any of the keys; the others stay), or a frame indexed by server
        with those columns. Rates are req/s here (the documents' ``arrivalRate`` is req/min)."""
        return System(self._core.with_loads(_rows_by_server(loads, ("rate_rps", "in_tokens", "out_tokens",
                                                                       "throughput_rps"))))

    def with_current(self, allocations: Mapping[str, Mapping[str, Any]] | pd.DataFrame, *,
                     keep_accelerator: bool = False, keep_batch: bool = False) -> "System":
        """A copy in which servers run these allocations now: ``{server: {"accelerator": ...,
        "replicas": ..., "max_batch": ...}}`` or a frame indexed by server with those columns (e.g.
        ``solution.allocations``, whose ``batch`` is read as ``max_batch``); ``accelerator`` is
        an accelerator profile (``2xG2``), not a card type. The next optimisation charges
        transitions from them; with ``keep_accelerator`` it may resize a server but not move it
        to another accelerator, and with ``keep_batch`` it sizes it at the batch cap it runs with."""
        if isinstance(allocations, pd.DataFrame) and "batch" in allocations.columns:
            allocations = allocations.rename(columns={"batch": "max_batch"})
        rows = _rows_by_server(allocations, ("accelerator", "replicas", "max_batch"))
        return System(self._core.with_current(rows, bool(keep_accelerator), bool(keep_batch)))

    def with_capacity(self, cards: Mapping[str, int]) -> "System":
        """A copy whose inventory is ``cards`` per card type (the types not named keep theirs)."""
        count = [{"type": str(t), "count": int(n)} for t, n in {**self.capacity, **dict(cards)}.items()]
        return System(self._core.with_documents([("capacity", {"count": count})]))

    def with_target_percentile(self, percentile: float) -> "System":
        """A copy whose every latency target holds at ``percentile`` (in (0, 100)) instead of on
        the mean, e.g. 95 to size for the P95 TTFT and ITL of each class (0: the documents' own)."""
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 <= percentile < 100:
            raise ValueError(f"percentile must be a number in [0, 100), got {_excerpt(percentile)}")
        if percentile == 0:
            return self
        classes: dict[str, dict[str, Any]] = {}
        for r in self.targets.itertuples():
            c = classes.setdefault(r.service_class, {"name": r.service_class, "priority": int(r.priority),
                                                     "modelTargets": []})
            c["modelTargets"].append({"model": r.model, "slo-itl": r.itl_ms, "slo-ttft": r.ttft_ms, "slo-tps": r.tps,
                                      "slo-itl-percentile": float(percentile),
                                      "slo-ttft-percentile": float(percentile)})
        return System(self._core.with_documents([("targets", {"serviceClasses": list(classes.values())})]))

    def with_perf(self, records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> "System":
        """A copy with performance records replaced or added per (model, accelerator), e.g. tuned
        parameters: dicts or a frame with ``model``, ``accelerator`` and any of ``alpha_ms``,
        ``beta_ms``, ``gamma_ms``, ``delta_ms``, ``epsilon_ms``, ``acc_count``, ``max_batch_size``,
        ``at_tokens`` (a :attr:`perf_records` frame round-trips; its other columns are ignored)."""
        keep = ("model", "accelerator", "acc_count", "max_batch_size", "at_tokens", "alpha_ms", "beta_ms", "gamma_ms",
                "delta_ms", "epsilon_ms")
        if isinstance(records, pd.DataFrame):
            rows = [{k: _plain(v) for k, v in r.items() if k in keep} for r in records.to_dict("records")]
        else:
            rows = [dict(r) for r in records]
        return System(self._core.with_perf(rows))

    # ------------------------------------------------------------------ candidates
    def candidates(self, threads: int = 0, **options: Any) -> pd.DataFrame:
        """Every (server, accelerator) allocation sized with the queueing model (docs/optimizer.md §3).

        One row per server and profile it can run on, feasible or not (``reason`` says why not:
        ``slo``, ``unconverged``, ``noTarget``, ``unknownClass``, ``noPerfData``, ...), plus one
        ``scaledToZero`` row for a server without demand or replica floor. Columns: batch size
        ``batch`` (chosen by the ``batch_size_policy`` option), ``queue``, ``replicas`` (and
        ``required_replicas`` before the ``minNumReplicas`` floor), ``cost``, ``objective``
        (cost, power or their weighted sum), ``value`` (objective plus the transition penalty
        from the current allocation), ``cards``, ``demand_rps``, ``rate_per_replica_rps``
        (SLO-feasible throughput of one replica), ``max_rpm``, and ``itl_ms``, ``ttft_ms``,
        ``batch_fill``, ``busy_prob``, ``blocking_prob``, ``power_w`` predicted at the actual
        per-replica load. Computed in parallel in C++ (``threads`` 0 = all cores); the result
        does not depend on the thread count. ``options`` as in :meth:`with_options`.
        """
        _check_threads(threads)
        rows = self.with_options(**options)._core.candidates(threads)
        return pd.DataFrame(rows).drop(columns=["slo_met", "saturated", "served_rpm", "parts"], errors="ignore")

    def optimize(self, solver: str | None = None, threads: int = 0, **options: Any) -> "Solution":
        """Choose accelerator, replicas and batch size for every server (docs/optimizer.md §4).

        ``solver``: ``"auto"`` (default in limited mode: the greedy, then the exact HiGHS model,
        keeping the better), ``"greedy"`` (the reference heuristic, deterministic),
        ``"milp"`` (HiGHS: SINGLE, SINGLE-LEX when not every server fits, MULTI with
        ``heterogeneous=True``), or ``"unlimited"`` (capacity ignored; separable and exact).
        ``None`` follows the system's options. Other ``options`` (``unlimited``,
        ``heterogeneous``, ``saturation_policy``, ``delayed_best_effort``, ``objective``,
        ``batch_size_policy``, ``milp_time_limit_sec``, ...) override the options document for
        this run; see :meth:`with_options`. The computation releases the GIL.
        """
        _check_threads(threads)
        if solver is not None:
            options["solver"] = solver
        system = self.with_options(**options)
        return Solution(system._core.optimize(threads), system)

    def __repr__(self) -> str:
        return (f"System({len(self._core.accelerators)} accelerators, "
                f"{len(self._core.capacity)} capacity types, {len(self._core.perf_records)} "
                f"performance records, {len(self._core.targets)} targets, "
                f"{len(self._core.servers)} servers, {len(self._core.diagnostics)} diagnostics)")


# What a fleet cannot be optimised without; capacity-data.json and optimizer-data.json may be left
# out (no capacity: nothing is available in limited mode; no options: the defaults).
_REQUIRED_DOCUMENTS = {"accelerator-data.json": "the accelerator profiles",
                       "model-data.json": "the models' performance records",
                       "serviceclass-data.json": "the service classes and their SLOs",
                       "server-data.json": "the servers to optimise"}


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers (the core takes int and float)."""
    return value.item() if isinstance(value, np.generic) else value


def _rows_by_server(rows: Mapping[str, Mapping[str, Any]] | pd.DataFrame, columns: tuple[str, ...]) -> dict[str, dict]:
    """{server: {key: value}} from a mapping, or from a frame indexed by server (only `columns`)."""
    if isinstance(rows, pd.DataFrame):
        return {str(name): {k: _plain(v) for k, v in row.items() if k in columns and not _missing(v)}
                for name, row in rows.iterrows()}
    if not isinstance(rows, Mapping):
        raise ValueError(f"expected {{server: {{...}}}} or a DataFrame indexed by server, got {type(rows).__name__}")
    out: dict[str, dict] = {}
    for name, row in rows.items():
        if not isinstance(row, Mapping):
            raise ValueError(f"server {_excerpt(name)}: expected a mapping of {', '.join(columns)}, got {_excerpt(row)}")
        out[str(name)] = {str(k): _plain(v) for k, v in row.items()}
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_documents(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Directories read together must supply every required document between them (or a
    system-data.json): a missing one is an error naming it, not an empty fleet at cost 0."""
    present: set[str] = set()
    for path in paths:
        if not os.path.isdir(path):
            continue  # the core says "not a directory"
        names = {name for name in _DOCUMENT_FILES if os.path.isfile(os.path.join(path, name))}
        if not names and os.path.isfile(os.path.join(path, "system-data.json")):
            names = set(_REQUIRED_DOCUMENTS)  # the core checks its sections
        present |= names
    missing = [f"{name} ({what})" for name, what in _REQUIRED_DOCUMENTS.items() if name not in present]
    if missing and present:
        where = ", ".join(os.fspath(p) for p in paths)
        raise ValueError(f"{where}: missing {'; '.join(missing)}")


def _records(value: Any) -> Any:
    """A DataFrame of entities as a list of (nested) dicts; anything else unchanged."""
    if not isinstance(value, pd.DataFrame):
        return value
    out = []
    for row in value.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for key, item in row.items():
            if item is None or (isinstance(item, float) and item != item):
                continue
            if hasattr(item, "item"):  # numpy scalar -> Python number for json
                item = item.item()
            *path, leaf = str(key).split(".")
            node = record
            for part in path:
                node = node.setdefault(part, {})
            node[leaf] = item
        out.append(record)
    return out


def _frame(records: Iterable[Mapping[str, Any]], index: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    if index is not None and not frame.empty:
        frame = frame.set_index(index)
    return frame


class Solution:
    """The allocation chosen for every server, with totals and the change from the current state.

    ``to_frame()``: one row per served server (accelerator, replicas, batch size, cost,
    predicted ITL/TTFT next to their SLOs, utilisation, power, outcome, ...).
    ``unallocated``: servers left without an allocation and why. ``by_type``: physical cards, limit
    (cards), cost and, for a type counted in MIG slices, the slices, per accelerator type.
    ``diff``, ``changes`` and ``scaling``: the move from the current allocation. ``candidates``:
    every candidate that was considered. ``solver``: which algorithm ran and how good its answer is
    (``optimal``, ``feasible`` with a gap, ``heuristic``, ...). ``to_json()``: the
    ``solution-data.json`` document (extended or reference format).
    """

    def __init__(self, run: Any, system: System) -> None:
        self._run = run
        self._system = system
        self._data = run.solution()

    # ------------------------------------------------------------------ tables
    def allocation_rows(self) -> dict[str, dict[str, Any]]:
        """The allocations as plain dicts by server (the columns of :attr:`allocations` without
        the SLO ones): for callers in a loop, where building the frame costs more than the solve."""
        return {str(row["server"]): dict(row) for row in self._data["allocations"]}

    @property
    def allocations(self) -> pd.DataFrame:
        """One row per allocated server (full, best-effort or scaled to zero), all columns."""
        frame = _frame(self._data["allocations"], "server")
        if frame.empty:
            return frame
        targets = self._system.targets.set_index(["service_class", "model"])
        servers = self._system.servers
        slo = []
        for name in frame.index:
            key = (servers.at[name, "service_class"], servers.at[name, "model"])
            row = targets.loc[key] if key in targets.index else None
            slo.append((float(row["itl_ms"]) if row is not None else 0.0,
                        float(row["ttft_ms"]) if row is not None else 0.0))
        frame.insert(frame.columns.get_loc("itl_ms") + 1, "itl_slo_ms", [s[0] for s in slo])
        frame.insert(frame.columns.get_loc("ttft_ms") + 1, "ttft_slo_ms", [s[1] for s in slo])
        return frame

    def to_frame(self, *, by_part: bool = False) -> pd.DataFrame:
        """The allocation table: accelerator, replicas, batch, cost, ITL and TTFT next to their
        SLOs (0 = none), ``batch_fill`` (mean batch occupancy over N), power, outcome and demand served. A heterogeneous
        allocation is one row with the primary profile's name and blended figures; with
        ``by_part=True`` it is one row per part instead (its profile, replicas, batch, queue,
        cost, ITL, TTFT, utilisation and power; the server's other columns repeated), so that
        the table says what runs where."""
        columns = ["accelerator", "replicas", "batch", "queue", "cost", "itl_ms", "itl_slo_ms", "ttft_ms",
                   "ttft_slo_ms", "batch_fill", "power_w", "outcome", "slo_met", "required_replicas", "served_rpm",
                   "max_rpm", "blocking_prob", "value"]
        frame = self.allocations
        if frame.empty:
            return frame
        frame = frame[columns]
        if not by_part:
            return frame
        parts = {a["server"]: a["parts"] for a in self._data["allocations"] if a["parts"]}
        if not parts:
            return frame
        rows, index = [], []
        for server, row in frame.iterrows():
            for part in parts.get(server, [None]):
                values = row.to_dict()
                if part is not None:
                    values.update({key: part[key] for key in ("accelerator", "replicas", "batch", "queue", "cost",
                                                               "itl_ms", "ttft_ms", "batch_fill", "power_w")})
                rows.append(values)
                index.append(server)
        return pd.DataFrame(rows, index=pd.Index(index, name=frame.index.name), columns=columns)

    @property
    def unallocated(self) -> pd.DataFrame:
        return pd.DataFrame(self._data["unallocated"], columns=["server", "reason", "detail"])

    @property
    def by_type(self) -> pd.DataFrame:
        """Physical cards used, capacity limit in cards (None when unlimited) and cost per accelerator
        type; for a type counted in shares of a card, ``slices`` counts the replicas on less than a card
        (MIG instances), else None."""
        frame = pd.DataFrame(self._data["by_type"], columns=["type", "cards", "limit", "cost", "slices"]).set_index("type")
        for column in ("cards", "limit"):  # whole numbers print as such; a sliced type may use part of a card
            values = frame[column].dropna()
            if (values == values.round()).all():
                frame[column] = frame[column].astype("Int64")
        frame["slices"] = frame["slices"].astype("Int64")
        return frame

    @property
    def diff(self) -> pd.DataFrame:
        """Every server: from/to accelerator and replicas and the cost change."""
        return _frame(self._data["diff"], "server")

    @property
    def changes(self) -> pd.DataFrame:
        """Servers that move to another accelerator (the slides' "Change" table)."""
        d = self.diff
        return d[d["from_accelerator"] != d["to_accelerator"]] if not d.empty else d

    @property
    def scaling(self) -> pd.DataFrame:
        """Servers that keep their accelerator but change replicas (the "Scale" table), with
        the replica delta."""
        d = self.diff
        if d.empty:
            return d
        d = d[(d["from_accelerator"] == d["to_accelerator"]) & (d["from_replicas"] != d["to_replicas"])].copy()
        d["delta_replicas"] = d["to_replicas"] - d["from_replicas"]
        return d

    @property
    def candidates(self) -> pd.DataFrame:
        """Every candidate the solver chose from (as :meth:`System.candidates`)."""
        return pd.DataFrame(self._run.candidates).drop(columns=["slo_met", "saturated", "served_rpm", "parts"],
                                                       errors="ignore")

    @property
    def parts(self) -> pd.DataFrame:
        """Heterogeneous allocations: one row per (server, profile) part with its load share."""
        rows = [dict(server=a["server"], **p) for a in self._data["allocations"] for p in a["parts"]]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ scalars
    total_cost = property(lambda self: float(self._data["total_cost"]), doc="Sum of allocation costs.")
    total_power_w = property(lambda self: float(self._data["total_power_w"]),
                             doc="Sum of allocation power (W); profiles without a power curve count 0.")
    total_value = property(lambda self: float(self._data["total_value"]),
                           doc="Sum of values (objective plus transition penalties): what is minimised.")
    status = property(lambda self: str(self._data["status"]),
                      doc="'ok' when every server is served in full (or scaled to zero), 'partial' "
                          "when one is best-effort or unallocated, 'error' if a post-check failed.")

    @property
    def solver(self) -> dict[str, Any]:
        """algorithm, status, objective, bound, gap, time_ms, fallback, message, greedy_objective."""
        return dict(self._data["solver"])

    @property
    def diagnostics(self) -> pd.DataFrame:
        return pd.DataFrame(self._data["diagnostics"], columns=["where", "message"])

    def queue_models(self) -> dict[str, Any]:
        """The queue configuration the optimizer assumed for each allocated server, as an
        :class:`inferno.QueueModel`: the performance record of its model on the chosen accelerator
        (α, β, γ, and δ, ε for the ``vllm`` model), the chosen batch cap and waiting room, and the
        server's request shape. A simulated replica started from it runs as planned; a server
        without an allocation is left out. A heterogeneous server (several parts) is given by its
        first part."""
        from .queue import QueueModel
        perf = self._system.perf_records.set_index(["model", "accelerator"])
        servers = self._system.servers
        models: dict[str, Any] = {}
        for name, row in self.allocations.iterrows():
            if not row["accelerator"] or int(row["replicas"]) == 0:
                continue
            record = perf.loc[(servers.loc[name, "model"], row["accelerator"])]
            params = {"alpha": record["alpha_ms"], "beta": record["beta_ms"], "gamma": record["gamma_ms"]}
            if row["service_model"] == "vllm":
                params.update(delta=record["delta_ms"], epsilon=record["epsilon_ms"])
            models[str(name)] = QueueModel(max_batch=int(row["batch"]), max_queue=int(row["queue"]),
                                           in_tokens=float(servers.loc[name, "in_tokens"]),
                                           out_tokens=float(servers.loc[name, "out_tokens"]),
                                           service_model=str(row["service_model"]),
                                           **{k: float(v) for k, v in params.items()})  # type: ignore[arg-type]
        return models

    def apply(self) -> System:
        """The system after this solution is deployed: each server's current allocation becomes
        the chosen one (a server left without one has none), so the next optimisation charges
        transition penalties from it and reports the change (:attr:`changes`, :attr:`scaling`)."""
        return System(self._run.apply())

    def to_json(self, format: str = "extended", candidates: bool = False, timing: bool = False,
                indent: int | None = 2) -> str:
        """``solution-data.json``: ``format="reference"`` writes only the reference's fields;
        ``"extended"`` adds ours (docs/optimizer.md §7). ``candidates`` adds every candidate; ``timing``
        adds run times (which makes the output differ between runs)."""
        if format not in ("extended", "reference"):
            raise ValueError(f"format must be 'extended' or 'reference', got {_excerpt(format)}")
        return self._run.to_json(format == "reference", bool(candidates), bool(timing),
                                 -1 if indent is None else int(indent))

    @property
    def document(self) -> dict[str, Any]:
        """The ``solution-data.json`` document (extended format, camelCase) as a dict; :meth:`to_json`
        writes it with options."""
        result: dict[str, Any] = self._run.document()
        return result

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """JSON-ready, snake_case with units: ``status``, totals, ``solver``, one entry per
        allocation (the candidate's fields), ``unallocated``, ``by_type``, ``diff`` and
        ``diagnostics``. (Called with :meth:`to_json`'s options it returns that document, as it did
        before; that form is deprecated: use :meth:`to_json` or :attr:`document`.)"""
        if kwargs:
            warnings.warn("Solution.to_dict(format=..., candidates=..., ...) is deprecated: it now returns the "
                          "snake_case result; use json.loads(solution.to_json(...)) or .document for the document",
                          DeprecationWarning, stacklevel=2)
            return json.loads(self.to_json(**kwargs))
        d = self._data
        keys = ("status", "total_cost", "total_power_w", "power_known", "total_value", "limited", "solver",
                "allocations", "unallocated", "by_type", "diff")
        out = {k: d[k] for k in keys}
        out["diagnostics"] = [{"where": where, "message": message} for where, message in d["diagnostics"]]
        return json.loads(json.dumps(out))  # a deep copy of plain values

    def __repr__(self) -> str:
        s = self._data["solver"]
        return (f"Solution(solver={s['algorithm']!r}, solver_status={s['status']!r}, status={self.status!r}, "
                f"total_cost={self.total_cost:g}, allocated={len(self._data['allocations'])}, "
                f"unallocated={len(self._data['unallocated'])})")


#: Python option names and their optimizer-data.json keys.
def option_registry() -> list[dict[str, Any]]:
    """The optimizer's options, defined once in the core: ``key`` (optimizer-data.json), ``name``
    (Python keyword; the CLI flag with dashes), ``type``, ``nullable``, ``default``, ``choices``,
    ``minimum``/``maximum`` (with ``exclusive_*``) and ``doc``."""
    return [dict(o) for o in _core.optimizer.option_registry()]


#: snake_case option name -> optimizer-data.json key, from the registry.
OPTIONS = {o["name"]: o["key"] for o in option_registry()}


def options_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``optimizer-data.json``, generated from the registry;
    shipped as ``inferno/schemas/optimizer-data.schema.json`` (``inferno.schemas``)."""
    from . import schemas
    return schemas.generated("optimizer-data")


def _check_threads(threads: Any) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0, got {_excerpt(threads)}")


def load(path: str | os.PathLike[str]) -> System:
    """A System from a directory of reference JSON documents or one ``system-data.json`` file."""
    p = os.fspath(path)
    if os.path.isfile(p):
        with open(p, encoding="utf-8") as f:
            return System.from_documents(f.read())
    return System.from_dir(p)


def optimize(system: System, **options: Any) -> Solution:
    """``system.optimize(**options)``."""
    return system.optimize(**options)


def candidates(system: System, **options: Any) -> pd.DataFrame:
    """``system.candidates(**options)``."""
    return system.candidates(**options)


def highs_versions() -> dict[str, str]:
    """The HiGHS behind the exact solver: ``{"compiled": ..., "linked": ...}``, the version of the
    headers inferno was built against and the version of the library loaded now (the library the
    wheel carries, so the two agree unless another libhighs was put in its place)."""
    return dict(_core.optimizer.highs_versions())
