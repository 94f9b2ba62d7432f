"""Batch experiments: a function mapped over a parameter grid, on local processes or a Dask cluster.

::

    def run(rate_rps, seed):
        sim = inferno.simulate(model, rate_rps, duration_s=600, seed=seed, keep_requests=False)
        return {"ttft_p95_ms": sim.stat("ttft_ms")["p95"]}

    table = inferno.experiments.sweep(run, {"rate_rps": [1, 2, 4], "seed": [1, 2, 3]},
                                      store="runs.jsonl")            # resumes if interrupted
    table = inferno.experiments.sweep(run, grid, client="tcp://scheduler:8786")   # on Dask

The result has one row per grid point, in grid order: the point's parameters, then what the
function returned (a mapping gives one column per key, anything else a ``result`` column). A
point whose function raises, or whose worker dies, is tried once more on its own; if it fails
again it is reported (a warning, and an ``error`` column naming the failure) and the other points
are kept. docs/search.md, "Batch experiments", has the details.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._lazy import pd

from ._text import excerpt as _excerpt

__all__ = ["grid_points", "sweep", "SweepStore"]


def grid_points(grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[dict[str, Any]]:
    """The points of a grid: a mapping of parameter → values (the cross product, first parameter
    outermost), a DataFrame (one point per row) or an iterable of mappings (as given)."""
    if isinstance(grid, pd.DataFrame):
        return [dict(zip(grid.columns, row)) for row in grid.itertuples(index=False, name=None)]
    if isinstance(grid, Mapping):
        if not grid:
            raise ValueError("grid: no parameter; give a mapping of parameter names to lists of values")
        names = list(grid)
        values = []
        for name in names:
            v = grid[name]
            if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
                raise ValueError(f"grid.{name}: must be a list of values, got {_excerpt(v)}")
            v = list(v)
            if not v:
                raise ValueError(f"grid.{name}: is empty; the grid would have no point")
            values.append(v)
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]
    points = []
    for i, p in enumerate(grid):
        if not isinstance(p, Mapping):
            raise ValueError(f"grid[{i}]: each point must be a mapping of parameter names to values, got {_excerpt(p)}")
        points.append(dict(p))
    if not points:
        raise ValueError("grid: no point")
    return points


def _key(point: Mapping[str, Any]) -> str:
    """A point's identity in the store: its parameters as canonical JSON."""
    try:
        return json.dumps(point, sort_keys=True, default=_plain, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"grid point {_excerpt(point)}: its values must be JSON numbers, strings, booleans, None "
                         f"or lists of them ({error})") from None


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python values (for the store)."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class SweepStore:
    """Completed points of a sweep, one JSON line each (``{"key", "result"}``), appended and flushed
    as they complete: a sweep given the same store skips what it holds. A torn last line (the
    process killed mid-write) is ignored; any other malformed line is an error naming it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.results: dict[str, Any] = {}
        if self.path.exists():
            text = self.path.read_text()
            lines = text.splitlines()
            torn = False
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key, result = record["key"], record["result"]
                except (ValueError, KeyError, TypeError):
                    if number == len(lines):
                        torn = True  # interrupted while writing its last record
                        continue
                    raise ValueError(f"{self.path}: line {number} is not a sweep record "
                                     f"(a JSON object with key and result): {_excerpt(line)}") from None
                self.results[key] = result
            if torn or (text and not text.endswith("\n")):
                # Drop the torn record, so that the next one starts on a line of its own.
                kept = lines[:-1] if torn else lines
                self.path.write_text("".join(line + "\n" for line in kept))
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, key: str, result: Any) -> None:
        line = json.dumps({"key": key, "result": result}, default=_plain, allow_nan=True)
        with self._lock, self.path.open("a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.results[key] = result


def _call(function: Callable[..., Any], point: dict[str, Any]) -> Any:
    return function(**point)


def _progress(total: int, initial: int, enabled: bool | None, desc: str | None) -> Any:
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, initial=initial, disable=disable, desc=desc or "sweep", unit="point")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _run_local(function: Callable[..., Any], todo: list[tuple[int, dict[str, Any]]], workers: int,
               context: str | None, done: Callable[[int, Any, str | None], None]) -> None:
    """Runs the points on a process pool. A dead worker breaks the pool for every point in flight:
    those are then run one by one, each in a pool of its own, so that only the culprit fails."""
    ctx = multiprocessing.get_context(context) if context else None
    failed: list[tuple[int, dict[str, Any], str]] = []
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_call, function, point): (i, point) for i, point in todo}
        for future in cf.as_completed(futures):
            i, point = futures[future]
            try:
                done(i, future.result(), None)
            except BaseException as error:  # the function's own exception, or a broken pool
                if isinstance(error, KeyboardInterrupt):
                    raise
                failed.append((i, point, _describe(error)))
    for i, point, first in sorted(failed, key=lambda f: f[0]):
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as single:
            try:
                done(i, single.submit(_call, function, point).result(), None)
            except Exception as error:
                done(i, None, f"{_describe(error)} (first attempt: {first})")


def _run_dask(function: Callable[..., Any], todo: list[tuple[int, dict[str, Any]]], client: Any,
              done: Callable[[int, Any, str | None], None]) -> None:
    """Runs the points as Dask tasks. A failed task (an exception, or the scheduler's KilledWorker
    when its worker died) is submitted once more before it is reported; as on the local pool, the
    retries run one at a time after the first pass, so that a point that kills its worker cannot
    take an innocent point queued on the same worker down with it twice."""
    from distributed import as_completed

    # pure=False: a point is a run, not a cacheable value (two sweeps of one grid both run).
    futures = {client.submit(_call, function, point, pure=False): (i, point) for i, point in todo}
    failed: list[tuple[int, dict[str, Any], str]] = []
    for future in as_completed(list(futures)):
        i, point = futures.pop(future)
        try:
            done(i, future.result(), None)
        except Exception as error:
            failed.append((i, point, _describe(error)))
        finally:
            future.release()
    for i, point, first in sorted(failed, key=lambda f: f[0]):
        retry = client.submit(_call, function, point, pure=False)
        try:
            done(i, retry.result(), None)
        except Exception as error:
            done(i, None, f"{_describe(error)} (first attempt: {first})")
        finally:
            retry.release()


def sweep(function: Callable[..., Any], grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]] | pd.DataFrame,
          *, client: Any = None, workers: int | None = None, store: str | os.PathLike[str] | SweepStore | None = None,
          progress: bool | None = None, desc: str | None = None, mp_context: str | None = None) -> pd.DataFrame:
    """Maps ``function(**point)`` over the grid's points and returns a DataFrame, one row per point
    in grid order.

    client: None runs on a local process pool of ``workers`` processes (default: the CPU count;
        1 runs in this process, in order); a ``distributed.Client``, or a scheduler address such
        as ``"tcp://10.0.0.5:8786"`` (a client is opened and closed around the sweep), runs each
        point as a Dask task. ``function`` must be picklable: defined at module level (or in the
        notebook, which process pools on Linux fork, and Dask pickles by value).
    store: a JSON-lines file (or SweepStore) of completed points, written as each completes; a
        sweep given a store that holds some points runs only the others.
    progress: a progress bar (tqdm) on stderr; default: when stderr is a terminal.
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    points = grid_points(grid)
    keys = [_key(p) for p in points]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"grid: the point {dup} appears more than once")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 4096):
        raise ValueError(f"workers must be an integer in [1, 4096], got {_excerpt(workers)}")
    if client is not None and workers is not None:
        raise ValueError("workers is for the local pool; a Dask cluster has its own (give client or workers, not both)")
    box = store if isinstance(store, SweepStore) or store is None else SweepStore(store)
    results: list[Any] = [None] * len(points)
    errors: list[str | None] = [None] * len(points)
    todo = []
    for i, key in enumerate(keys):
        if box is not None and key in box.results:
            results[i] = box.results[key]
        else:
            todo.append((i, points[i]))
    bar = _progress(len(points), len(points) - len(todo), progress, desc)

    def done(i: int, result: Any, error: str | None) -> None:
        if error is None:
            results[i] = result
            if box is not None:
                box.add(keys[i], result)
        else:
            errors[i] = error
        bar.update(1)

    try:
        if not todo:
            pass
        elif client is not None:
            own = isinstance(client, str)
            if own:
                from distributed import Client

                client = Client(client)
            try:
                _run_dask(function, todo, client, done)
            finally:
                if own:
                    client.close()
        elif (workers or os.cpu_count() or 1) == 1:
            for i, point in todo:
                try:
                    done(i, function(**point), None)
                except Exception as first:
                    try:
                        done(i, function(**point), None)
                    except Exception as error:
                        done(i, None, f"{_describe(error)} (first attempt: {_describe(first)})")
        else:
            _run_local(function, todo, min(workers or os.cpu_count() or 1, len(todo)), mp_context, done)
    finally:
        bar.close()
    failed = [(points[i], e) for i, e in enumerate(errors) if e is not None]
    if failed:
        shown = "; ".join(f"{_excerpt(p)}: {e}" for p, e in failed[:5])
        warnings.warn(f"sweep: {len(failed)} of {len(points)} points failed twice and are reported in the error "
                      f"column: {shown}", RuntimeWarning, stacklevel=2)
    return _frame(points, results, errors)


def _frame(points: list[dict[str, Any]], results: list[Any], errors: list[str | None]) -> pd.DataFrame:
    rows = []
    for point, result, error in zip(points, results, errors):
        row = dict(point)
        if error is None:
            if isinstance(result, Mapping):
                clash = [k for k in result if k in point]
                if clash:
                    raise ValueError(f"sweep: the function returned {clash}, which are parameters of the point "
                                     f"{_excerpt(point)}; rename the result keys")
                row.update(result)
            else:
                row["result"] = result
        rows.append(row)
    frame = pd.DataFrame(rows)
    if any(e is not None for e in errors):
        frame["error"] = errors
    return frame
