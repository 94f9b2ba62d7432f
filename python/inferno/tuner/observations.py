"""Observations of a server: their fields and units, conversion from dicts, Observation objects
and DataFrame rows, and the CSV readers (docs/tuner.md §5)."""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Iterator

from .._lazy import pd

from .._text import excerpt as _excerpt
from ._common import _check_choice

LAYOUTS = ("auto", "inferno", "offline-observer")

#: Observation fields (units in the names) and what they mean.
OBSERVATION_FIELDS = {
    "rate_rpm": "offered arrival rate, requests per minute (> 0)",
    "in_tokens": "mean prompt tokens per request (> 0; ignored by the decode configuration)",
    "out_tokens": "mean output tokens per request (>= 1)",
    "max_batch": "concurrency cap in force during the window (integer >= 1)",
    "max_queue": "external waiting room (integer >= 0; default 0 = none)",
    "arrival_cov": "coefficient of variation of inter-arrival times (in [0, 100]; default 1 = Poisson, "
                   "0 = evenly spaced as a benchmark's constant rate)",
    "ttft_ms": "observed mean time to first token, ms",
    "itl_ms": "observed mean inter-token latency, ms",
    "wait_ms": "observed mean queueing wait, ms (decode and full configurations)",
    "throughput_rpm": "completed requests per minute (optional; a saturation signal)",
    "avg_concurrency": "mean requests in service (optional; a saturation signal)",
    "saturated": "the producer's saturation flag (optional)",
}
# Other accepted spellings: name -> (canonical name, factor).
_ALIASES = {
    "rate_rps": ("rate_rpm", 60.0),
    "arrival_rate_rpm": ("rate_rpm", 1.0),
    "throughput_rps": ("throughput_rpm", 60.0),
    "wait_s": ("wait_ms", 1000.0),
}
_UNITLESS = {"rate": "rate_rpm", "ttft": "ttft_ms", "itl": "itl_ms", "wait": "wait_ms",
             "throughput": "throughput_rpm", "arrival_rate": "rate_rpm"}


@dataclasses.dataclass
class Observation:
    """One measurement window of one replica (units in the field names)."""

    rate_rpm: float
    in_tokens: float
    out_tokens: float
    max_batch: int
    max_queue: int = 0
    arrival_cov: float = 1.0
    ttft_ms: float | None = None
    itl_ms: float | None = None
    wait_ms: float | None = None
    throughput_rpm: float | None = None
    avg_concurrency: float | None = None
    saturated: bool = False


def to_observation(item: Any) -> dict[str, Any]:
    """An observation as the core's dict, from a dict, a dataclass, a namedtuple or a DataFrame
    row. Other columns are ignored; a known quantity without its unit is an error."""
    if isinstance(item, pd.Series):
        raw = item.to_dict()
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        raw = dataclasses.asdict(item)
    elif hasattr(item, "_asdict"):
        raw = item._asdict()
    elif isinstance(item, Mapping):
        raw = dict(item)
    else:
        raise TypeError(f"an observation must be a dict, a dataclass, a namedtuple or a DataFrame row, "
                        f"got {type(item).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        if name in _UNITLESS:
            raise ValueError(f"observation field '{name}' needs its unit: use '{_UNITLESS[name]}'")
        factor = 1.0
        if name in _ALIASES:
            name, factor = _ALIASES[name]
        if name not in OBSERVATION_FIELDS:
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if name == "saturated":
            out[name] = bool(value)
        else:
            try:
                out[name] = float(value) * factor
            except (TypeError, ValueError):
                raise ValueError(f"observation field '{name}' must be a number, got {_excerpt(value)}") from None
    return out


def _observations(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return [to_observation(row) for _, row in data.iterrows()]
    if isinstance(data, (Mapping, pd.Series, Observation)) or dataclasses.is_dataclass(data) or hasattr(data, "_asdict"):
        return [to_observation(data)]
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return [to_observation(item) for item in data]
    return [to_observation(data)]


def observations_from_server_specs(specs: Iterable[Mapping[str, Any]]) -> tuple[
        dict[tuple[str, str], list[dict[str, Any]]], list[tuple[str, str]]]:
    """Observations per variant from the reference's per-replica ServerSpec documents (the
    collector's ``/tune`` input, docs/tuner.md §5): replicas with arrivalRate > 0, grouped by (model,
    currentAlloc.accelerator), in replica-name order. N is maxBatchSize if > 0, else
    currentAlloc.maxBatch; Qmax is maxQueueSize. Keys are matched case-insensitively. Returns the
    groups and the skipped replicas as (name, reason)."""
    def get(d: Any, key: str, default: Any = None) -> Any:
        if not isinstance(d, Mapping):
            return default
        for k, v in d.items():
            if str(k).lower() == key.lower():
                return v
        return default

    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        name = str(get(spec, "name", ""))
        alloc = get(spec, "currentAlloc", {}) or {}
        load = get(alloc, "load", {}) or {}
        rate = float(get(load, "arrivalRate", 0) or 0)
        if not rate > 0:
            continue  # no active traffic: not an observation
        batch = int(get(spec, "maxBatchSize", 0) or 0) or int(get(alloc, "maxBatch", 0) or 0)
        obs = {"rate_rpm": rate, "in_tokens": float(get(load, "avgInTokens", 0) or 0),
               "out_tokens": float(get(load, "avgOutTokens", 0) or 0), "max_batch": batch,
               "max_queue": int(get(spec, "maxQueueSize", 0) or 0),
               "ttft_ms": float(get(alloc, "ttftAverage", 0) or 0), "itl_ms": float(get(alloc, "itlAverage", 0) or 0)}
        throughput = get(load, "throughput")
        if throughput is not None:
            obs["throughput_rpm"] = float(throughput)
        concurrency = get(alloc, "avgConcurrency")
        if concurrency is not None:
            obs["avg_concurrency"] = float(concurrency)
        problems = [f for f, ok in (("avgInTokens", obs["in_tokens"] > 0), ("avgOutTokens", obs["out_tokens"] > 0),
                                    ("ttftAverage", obs["ttft_ms"] > 0), ("itlAverage", obs["itl_ms"] > 0),
                                    ("maxBatchSize/maxBatch", batch > 0)) if not ok]
        if problems:
            skipped.append((name, f"not usable: {', '.join(problems)} must be > 0"))
            continue
        key = (str(get(spec, "model", "")), str(get(alloc, "accelerator", "")))
        groups.setdefault(key, []).append((name, obs))
    return {k: [o for _, o in sorted(v, key=lambda item: item[0])] for k, v in sorted(groups.items())}, skipped


def read_observations(path: str | Path, layout: str = "auto") -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Reads observations from CSV. ``layout``: ``"inferno"`` (columns named as
    :data:`OBSERVATION_FIELDS`, extra columns kept), ``"offline-observer"`` (the reference's
    ``RPM,tokens,avgConcurrency,maxConcurrency,avgWait,avgITL``, UTF-8 BOM allowed) or ``"auto"``
    (chosen from the header). Returns the table and the skipped rows as (line number, reason)."""
    _check_choice(layout, LAYOUTS, "observation layout")
    path = Path(path)
    with path.open("rb") as handle:
        lines = _csv_lines(handle)
        try:
            header_line, header = next(lines)
        except StopIteration:
            raise ValueError(f"{path}: empty file (expected a header line)") from None
        if isinstance(header, str):
            raise ValueError(f"{path}:{header_line}: header line: {header}")
        header = [h.strip() for h in header]
        observer = ["RPM", "tokens", "avgConcurrency", "maxConcurrency", "avgWait", "avgITL"]
        if layout == "auto":
            layout = "offline-observer" if header[:len(observer)] == observer else "inferno"
        if layout == "offline-observer" and header[:len(observer)] != observer:
            raise ValueError(f"{path}: the offline-observer layout needs the header {','.join(observer)}, "
                             f"got {','.join(header)}")
        if layout == "inferno":
            for name in header:
                if name in _UNITLESS:
                    raise ValueError(f"{path}: column '{name}' needs its unit: use '{_UNITLESS[name]}'")
            present = set(header) | {canonical for name, (canonical, _) in _ALIASES.items() if name in header}
            missing = sorted({"rate_rpm", "out_tokens", "max_batch"} - present)
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; columns: {sorted(OBSERVATION_FIELDS)}")
        rows: list[dict[str, Any]] = []
        skipped: list[tuple[int, str]] = []
        for line, values in lines:
            if len(rows) >= MAX_OBSERVATION_ROWS:
                raise ValueError(f"{path}: more than {MAX_OBSERVATION_ROWS:,} observation rows; split the file "
                                 f"(or feed a Tuner row by row from Python)")
            if isinstance(values, str):  # the line could not be read: the reason
                skipped.append((line, values))
                continue
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                skipped.append((line, f"{len(values)} fields, expected {len(header)}"))
                continue
            record = dict(zip(header, (v.strip() for v in values)))
            row: dict[str, Any]
            try:
                if layout == "offline-observer":
                    row = {"rate_rpm": _number(record["RPM"], "RPM"), "in_tokens": 0.0,
                           "out_tokens": _number(record["tokens"], "tokens"),
                           "avg_concurrency": _number(record["avgConcurrency"], "avgConcurrency"),
                           "max_batch": _number(record["maxConcurrency"], "maxConcurrency"), "max_queue": 0.0,
                           "wait_ms": _number(record["avgWait"], "avgWait"),
                           "itl_ms": _number(record["avgITL"], "avgITL")}
                else:
                    row = {}
                    for name, text in record.items():
                        if name in OBSERVATION_FIELDS or name in _ALIASES:
                            if text == "":
                                continue
                            row[name] = (text.lower() in ("1", "true", "yes")) if name == "saturated" \
                                else _number(text, name)
                        else:
                            row[name] = text
            except ValueError as exc:
                skipped.append((line, str(exc)))
                continue
            rows.append(row)
    frame = pd.DataFrame(rows)
    if layout == "inferno":
        for name, (canonical, factor) in _ALIASES.items():
            if name in frame.columns and canonical not in frame.columns:
                frame[canonical] = frame.pop(name) * factor
    return frame, skipped


MAX_CSV_LINE = 10_000  # characters: an observation row is a few dozen
MAX_OBSERVATION_ROWS = 1_000_000  # per file: read whole before tuning (about 0.5 GB at the limit)


def _csv_lines(handle: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(line number, fields) per line of a binary file, or (line number, reason) for a line that
    is too long or not UTF-8: one bad line is reported and skipped, never the end of the file.
    (Observation files have no quoted line breaks.)"""
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the UTF-8 byte-order mark
        if len(raw) > MAX_CSV_LINE:
            yield number, f"line of {len(raw)} bytes, longer than {MAX_CSV_LINE}"
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, f"not valid UTF-8 (byte {exc.start + 1})"
            continue
        try:
            yield number, next(csv.reader([text.rstrip("\r\n")]), [])
        except csv.Error as exc:
            yield number, f"malformed CSV: {exc}"


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"column {column}: {_excerpt(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column}: {_excerpt(text)} is not a finite number")
    return value
