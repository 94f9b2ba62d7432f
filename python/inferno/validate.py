"""Accuracy against measured benchmark sweeps (GuideLLM, ``vllm bench serve`` and the like).

``read_sweeps`` reads the sweep CSV layout of docs/validation.md: one row per benchmark (a rate
point), strictly, naming the line and column of anything it cannot use. ``validate`` fits the
service model's parameters to the rate points (pooled, or per token mix), predicts every point
with the queueing model and reports the errors as tables: by mix, by load band, and the capacity
of the burst benchmarks.

The server's limits are not in the sweeps. ``ServerLimits`` states them, as vLLM names them: the
batch cap N is min(max_num_seqs, KV-cache tokens / tokens a request holds on average, in-flight
limit) and the rest of the benchmark's in-flight limit waits in the queue.
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ._lazy import np, pd

from . import sim as S
from . import tuner as T
from ._text import excerpt as _excerpt
from .queue import QueueModel

STRATEGIES = ("synchronous", "constant", "poisson", "throughput", "concurrent")
# Rate points: an offered rate and measured latencies. Burst points: capacity only.
RATE_STRATEGIES = ("synchronous", "constant", "poisson", "concurrent")
REQUIRED = ("sweep", "strategy", "rate_rps", "throughput_rps", "in_tokens", "out_tokens", "ttft_mean_ms",
            "itl_mean_ms", "latency_mean_s", "concurrency")
OPTIONAL_NUMBERS = ("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p95_ms", "itl_p99_ms",
                    "tpot_mean_ms", "n_ok", "n_incomplete", "n_errored", "duration_s", "in_nominal", "out_nominal")
OPTIONAL_TEXT = ("model", "accelerator", "note", "source", "exclude")
LOAD_BANDS = ("alone", "low", "middle", "top")


@dataclass(frozen=True)
class ServerLimits:
    """The serving engine's limits during the sweeps (vLLM's names). Defaults: the shared
    Llama-3.1-8B / H100 sweeps (KV cache of 447,936 tokens at gpu-memory-utilization 0.9,
    GuideLLM's 512 requests in flight)."""

    kv_cache_tokens: float = 447_936
    max_num_seqs: int = 1024
    max_in_flight: int = 512
    max_num_batched_tokens: int = 8192

    def __post_init__(self) -> None:
        for name in ("kv_cache_tokens", "max_num_seqs", "max_in_flight", "max_num_batched_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
                raise ValueError(f"{name} must be a finite number >= 1, got {value!r}")

    def batch_cap(self, in_tokens: float, out_tokens: float) -> int:
        """N: the requests that fit in the KV cache at once, each holding its prompt and on average
        half its output, within max_num_seqs and the in-flight limit."""
        by_memory = math.floor(self.kv_cache_tokens / (in_tokens + out_tokens / 2.0))
        return int(max(1, min(self.max_num_seqs, self.max_in_flight, by_memory)))

    def queue_cap(self, in_tokens: float, out_tokens: float) -> int:
        return int(max(0, self.max_in_flight - self.batch_cap(in_tokens, out_tokens)))


def read_sweeps(path: str | Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Reads a sweep CSV. Returns the rows used (a DataFrame with the file's line number in
    ``line``) and the rows excluded, as (line, reason): rows whose ``exclude`` column is set, and
    rows of strategies that are not rate points are kept (they carry capacity) but flagged by
    ``strategy``. Raises ValueError naming the line and column of a missing column, a value that
    is not a number, a negative or non-finite number, or a percentile below its mean."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the sweep file: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file; expected a header with the columns {', '.join(REQUIRED)}") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: line 1: unreadable header: {exc}") from None
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; a sweep file needs "
                             f"{', '.join(REQUIRED)} (docs/validation.md, 'Sweep files')")
        rows: list[dict[str, Any]] = []
        excluded: list[tuple[int, str]] = []
        line = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"{path}: line {line + 1}: unreadable row: {exc}") from None
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise ValueError(f"{path}: line {line}: {len(cells)} fields, the header has {len(header)}")
            record = dict(zip(header, (c.strip() for c in cells)))
            row = _parse_row(record, line, path)
            if record.get("exclude", "").lower() not in ("", "0", "false", "no"):
                excluded.append((line, f"marked excluded ({record['exclude']})"))
                continue
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows to validate against")
    frame = pd.DataFrame(rows)
    return frame, excluded


def _number(record: dict[str, str], column: str, line: int, path: Path, *, required: bool,
            positive: bool = False) -> float:
    text = record.get(column, "")
    if text == "":
        if required:
            raise ValueError(f"{path}: line {line}: column {column} is empty; it needs a number")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: line {line}: column {column} is not a number: {_excerpt(text)}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{path}: line {line}: column {column} must be a finite number {bound}, got {text[:40]}")
    return value


def _parse_row(record: dict[str, str], line: int, path: Path) -> dict[str, Any]:
    strategy = record["strategy"]
    if strategy not in STRATEGIES:
        raise ValueError(f"{path}: line {line}: column strategy must be one of {', '.join(STRATEGIES)}, "
                         f"got {_excerpt(strategy)}")
    if not record["sweep"]:
        raise ValueError(f"{path}: line {line}: column sweep is empty; it names the token mix, e.g. i1024-o256")
    rate_point = strategy in RATE_STRATEGIES
    row: dict[str, Any] = {"line": line, "sweep": record["sweep"], "strategy": strategy}
    for column in REQUIRED[2:]:
        # A burst benchmark has no offered rate, and its latencies are not used.
        needed = rate_point or column in ("throughput_rps", "in_tokens", "out_tokens", "concurrency")
        row[column] = _number(record, column, line, path, required=needed,
                              positive=column in ("rate_rps", "throughput_rps", "out_tokens", "concurrency"))
    if row["out_tokens"] < 1:
        raise ValueError(f"{path}: line {line}: column out_tokens must be >= 1, got {row['out_tokens']:g}")
    for column in OPTIONAL_NUMBERS:
        if column in record:
            row[column] = _number(record, column, line, path, required=False)
    for metric in ("ttft", "itl"):
        mean = row.get(f"{metric}_mean_ms", math.nan)
        for p in ("p95", "p99"):
            value = row.get(f"{metric}_{p}_ms", math.nan)
            if not math.isnan(value) and not math.isnan(mean) and value < mean * (1 - 1e-9):
                raise ValueError(f"{path}: line {line}: column {metric}_{p}_ms ({value:g}) is below "
                                 f"{metric}_mean_ms ({mean:g}); a 95th or 99th percentile of latencies "
                                 f"cannot be below their mean unless the columns are swapped")
    for column in OPTIONAL_TEXT:
        if column in record:
            row[column] = record[column]
    return row


def read_vllm_bench(paths: str | Path | Sequence[str | Path], mix: str | None = None) -> pd.DataFrame:
    """Rows of the sweep layout from result files of ``vllm bench serve --save-result`` (one file
    per rate). Means and percentiles are vLLM's: ``ttft``, ``tpot`` (per-request mean ITL, the
    sweep layout's ``itl``) and ``e2el``. A finite ``request_rate`` is a ``poisson`` rate point;
    ``inf`` with ``max_concurrency`` a ``concurrent`` one (offered rate = throughput); ``inf``
    alone a ``throughput`` burst. ``mix`` names the sweep; by default the mean token counts,
    rounded to two significant figures, do (``i1000-o250``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    for path in map(Path, paths):
        doc = _json_document(path, "result file")
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a vllm bench serve result is a JSON object")
        row = _vllm_row(doc, path, mix)
        # The "line" of a result file is its position among the files.
        rows.append(_checked_row(row, len(rows) + 1, path))
    return pd.DataFrame(rows)


def _vllm_row(doc: dict[str, Any], path: Path, mix: str | None) -> dict[str, Any]:
    def number(key: str, *, required: bool = True) -> float:
        value = doc.get(key)
        if value is None:
            if required:
                raise ValueError(f"{path}: key {key} is missing; save the result with vllm bench serve --save-result "
                                 f"(and --percentile-metrics ttft,tpot,itl,e2el for the latency)")
            return math.nan
        if not _nonnegative(value):
            raise ValueError(f"{path}: key {key} must be a finite number >= 0, got {str(value)[:40]}")
        return float(value)

    completed = number("completed")
    if completed < 1:
        raise ValueError(f"{path}: key completed is 0: no request finished, nothing to compare with")
    in_tokens = number("total_input_tokens") / completed
    out_tokens = number("total_output_tokens") / completed
    latency_ms = number("mean_e2el_ms", required=False)
    if math.isnan(latency_ms) and isinstance(doc.get("latencies"), list) and doc["latencies"]:
        finished = [x for x in doc["latencies"] if isinstance(x, (int, float)) and x > 0]
        latency_ms = 1000.0 * sum(finished) / len(finished) if finished else math.nan
    if math.isnan(latency_ms):
        raise ValueError(f"{path}: the mean end-to-end latency is missing (key mean_e2el_ms, or the per-request "
                         f"latencies); run vllm bench serve with --percentile-metrics ttft,tpot,itl,e2el")
    throughput = number("request_throughput")
    rate = doc.get("request_rate", "inf")
    finite_rate = isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate)
    if finite_rate:
        strategy, rate_rps = "poisson", float(rate)
    elif doc.get("max_concurrency"):
        strategy, rate_rps = "concurrent", throughput
    else:
        strategy, rate_rps = "throughput", math.nan
    name = mix or f"i{_two_figures(in_tokens)}-o{_two_figures(out_tokens)}"
    row = {"sweep": name, "strategy": strategy, "rate_rps": rate_rps, "throughput_rps": throughput,
           "in_tokens": in_tokens, "out_tokens": out_tokens, "ttft_mean_ms": number("mean_ttft_ms"),
           "itl_mean_ms": number("mean_tpot_ms"), "latency_mean_s": latency_ms / 1000.0,
           "concurrency": throughput * latency_ms / 1000.0,  # Little's law on the client side
           "ttft_p50_ms": number("median_ttft_ms", required=False),
           "ttft_p95_ms": number("p95_ttft_ms", required=False), "ttft_p99_ms": number("p99_ttft_ms", required=False),
           "itl_p50_ms": number("median_tpot_ms", required=False),
           "itl_p95_ms": number("p95_tpot_ms", required=False), "itl_p99_ms": number("p99_tpot_ms", required=False),
           "n_ok": completed, "duration_s": number("duration", required=False),
           "source": str(path)}
    if strategy == "poisson" and doc.get("burstiness", 1.0) not in (1, 1.0):
        row["note"] = f"gamma arrivals (burstiness {doc['burstiness']}); the model assumes Poisson"
    return row


GUIDELLM_STRATEGIES = {"synchronous": "synchronous", "constant": "constant", "poisson": "poisson",
                       "concurrent": "concurrent", "throughput": "throughput"}


def read_guidellm(paths: str | Path | Sequence[str | Path], mix: str | None = None) -> pd.DataFrame:
    """Rows of the sweep layout from GuideLLM's own report files (``guidellm benchmark
    --output-path benchmarks.json``): one row per benchmark of every file. Means and percentiles
    are GuideLLM's, over successful requests: ``time_to_first_token_ms``,
    ``inter_token_latency_ms`` (the sweep layout's ITL), ``request_latency`` (s),
    ``request_concurrency``, ``prompt_token_count`` and ``output_token_count``. The strategy
    (``synchronous``, ``constant``, ``poisson``, ``concurrent``, ``throughput``) and its rate come
    from the benchmark's configuration (``config.strategy``, or ``args.strategy`` in GuideLLM
    0.3). ``mix`` names the sweep; by default each file is one sweep named by its mean token
    counts, rounded to two significant figures (``i1000-o250``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    for path in map(Path, paths):
        doc = _json_document(path, "GuideLLM report")
        benchmarks = doc.get("benchmarks") if isinstance(doc, dict) else None
        if not isinstance(benchmarks, list) or not benchmarks:
            raise ValueError(f"{path}: key benchmarks is missing or empty; a GuideLLM report is the JSON file "
                             f"`guidellm benchmark --output-path FILE.json` writes")
        file_rows = [_guidellm_row(bench, path, i) for i, bench in enumerate(benchmarks)]
        name = mix or "i{}-o{}".format(_two_figures(sum(r["in_tokens"] for r in file_rows) / len(file_rows)),
                                        _two_figures(sum(r["out_tokens"] for r in file_rows) / len(file_rows)))
        for i, row in enumerate(file_rows):
            row["sweep"] = name
            # Errors name the benchmark's position in the file; "line" numbers the rows read.
            rows.append({**_checked_row(row, i + 1, path), "line": len(rows) + 1})
    return pd.DataFrame(rows)


INPUT_FORMATS = ("auto", "sweeps", "vllm-bench", "guidellm")


def read_benchmarks(paths: str | Path | Sequence[str | Path], input_format: str = "auto",
                    mix: str | None = None) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Benchmark rows in the sweep layout from any supported input, and the rows excluded.

    ``input_format``: ``"sweeps"`` (one sweep CSV), ``"vllm-bench"`` (result JSON files of
    ``vllm bench serve``, one per rate), ``"guidellm"`` (GuideLLM report JSON files), or
    ``"auto"``: a ``.json`` file holding ``benchmarks`` is a GuideLLM report, any other ``.json``
    a vllm bench result, anything else a sweep CSV."""
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {', '.join(INPUT_FORMATS)}, got {_excerpt(input_format)}")
    if not files:
        raise ValueError("no benchmark file given")
    if input_format == "auto":
        kinds = set()
        for path in files:
            if path.suffix.lower() != ".json":
                kinds.add("sweeps")
            else:
                doc = _json_document(path, "benchmark file")
                if isinstance(doc, dict) and "benchmarks" in doc:
                    kinds.add("guidellm")
                elif isinstance(doc, dict) and ("completed" in doc or "request_throughput" in doc):
                    kinds.add("vllm-bench")
                else:
                    raise ValueError(f"{path}: not a benchmark result: neither a GuideLLM report (key benchmarks) "
                                     f"nor a vllm bench serve result (keys completed, request_throughput)")
        if len(kinds) > 1:
            raise ValueError(f"the files mix formats ({', '.join(sorted(kinds))}); give one kind at a time")
        input_format = kinds.pop()
    if input_format == "sweeps":
        if len(files) != 1:
            raise ValueError(f"a sweep CSV is one file; got {len(files)} (benchmark results are .json)")
        return read_sweeps(files[0])
    if input_format == "guidellm":
        return read_guidellm(files, mix=mix), []
    return read_vllm_bench(files, mix=mix), []


def _checked_row(row: dict[str, Any], line: int, path: Path) -> dict[str, Any]:
    """A row read from a result file, through the same checks as a sweep file's rows (percentiles
    not below their means, ...)."""
    record = {key: "" if isinstance(value, float) and math.isnan(value) else
              repr(value) if isinstance(value, float) else str(value) for key, value in row.items()}
    return _parse_row(record, line, path)


def _nonnegative(value: Any) -> bool:
    """A finite number >= 0 (not a bool) in a JSON document."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def _json_document(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON document: {exc}") from None


def _guidellm_row(bench: Any, path: Path, index: int) -> dict[str, Any]:
    where = f"{path}: benchmarks[{index}]"
    if not isinstance(bench, dict):
        raise ValueError(f"{where}: a benchmark is a JSON object")

    def section(obj: Any, *keys: str) -> Any:
        for key in keys:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return obj

    def stat(metric: str, field_name: str = "mean", *, required: bool = True) -> float:
        summary = section(bench, "metrics", metric, "successful")
        value = section(summary, *field_name.split(".")) if summary is not None else None
        if value is None:
            if required:
                raise ValueError(f"{where}: metrics.{metric}.successful.{field_name} is missing")
            return math.nan
        if not _nonnegative(value):
            raise ValueError(f"{where}: metrics.{metric}.successful.{field_name} must be a finite number >= 0, "
                             f"got {str(value)[:40]}")
        return float(value)

    strategy = section(bench, "config", "strategy") or section(bench, "args", "strategy")
    kind = section(strategy, "type_")
    if kind not in GUIDELLM_STRATEGIES:
        raise ValueError(f"{where}: config.strategy.type_ must be one of {', '.join(GUIDELLM_STRATEGIES)}, "
                         f"got {_excerpt(kind)}")
    count = stat("request_latency", "count", required=False)
    if not count >= 1:
        totals = section(bench, "metrics", "request_totals") or section(bench, "request_totals") or \
            section(bench, "run_stats", "requests_made")
        count = float(section(totals, "successful") or 0) if isinstance(totals, dict) else 0.0
    if count < 1:
        raise ValueError(f"{where}: no successful request; nothing to compare with")
    start, end = bench.get("start_time"), bench.get("end_time")
    duration = bench.get("duration")
    if not isinstance(duration, (int, float)) and isinstance(start, (int, float)) and isinstance(end, (int, float)):
        duration = end - start
    if not (isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration > 0):
        raise ValueError(f"{where}: the benchmark's duration (key duration, or end_time - start_time) is missing")
    throughput = count / float(duration)
    if kind in ("constant", "poisson"):
        rate = section(strategy, "rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"{where}: config.strategy.rate must be a finite number > 0, got {str(rate)[:40]}")
        rate_rps = float(rate)
    elif kind == "throughput":
        rate_rps = math.nan
    else:  # synchronous, concurrent: the offered rate is what was served
        rate_rps = throughput
    return {"strategy": GUIDELLM_STRATEGIES[kind], "rate_rps": rate_rps, "throughput_rps": throughput,
            "in_tokens": stat("prompt_token_count"), "out_tokens": stat("output_token_count"),
            # A burst measures capacity; its latencies are kept when present, never required.
            "ttft_mean_ms": stat("time_to_first_token_ms", required=kind != "throughput"),
            "itl_mean_ms": stat("inter_token_latency_ms", required=kind != "throughput"),
            "latency_mean_s": stat("request_latency", required=kind != "throughput"),
            "concurrency": stat("request_concurrency"),
            "ttft_p50_ms": stat("time_to_first_token_ms", "median", required=False),
            "ttft_p95_ms": stat("time_to_first_token_ms", "percentiles.p95", required=False),
            "ttft_p99_ms": stat("time_to_first_token_ms", "percentiles.p99", required=False),
            "itl_p50_ms": stat("inter_token_latency_ms", "median", required=False),
            "itl_p95_ms": stat("inter_token_latency_ms", "percentiles.p95", required=False),
            "itl_p99_ms": stat("inter_token_latency_ms", "percentiles.p99", required=False),
            "tpot_mean_ms": stat("time_per_output_token_ms", required=False),
            "n_ok": count, "duration_s": float(duration), "source": f"{path}#benchmarks[{index}]"}


def _two_figures(value: float) -> int:
    """A token count rounded to two significant figures (1013 -> 1000, 255.3 -> 260)."""
    if value < 1:
        return 0
    return int(round(value, 1 - int(math.floor(math.log10(value)))))


def _json_number(value: Any, decimals: int | None) -> float | None:
    value = float(value)
    if math.isnan(value):
        return None
    return round(value, decimals) if decimals is not None else value


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", double_precision=15))  # NaN becomes null


@dataclass(repr=False)
class Validation:
    """Measured against predicted, per point, with the fitted parameters.

    ``summary()`` and ``errors()`` are the error tables, ``points``, ``params`` and ``capacity``
    the data; ``to_dict()`` is all of it JSON-ready (the document ``inferno validate --format
    json`` writes)."""

    points: pd.DataFrame
    params: pd.DataFrame        # one row per fit: 'pooled' or the mix, with status and kappa
    capacity: pd.DataFrame      # burst benchmarks: measured and predicted throughput
    excluded: list[tuple[int, str]] = field(default_factory=list)
    service_model: str = "iteration"
    simulated: bool = False     # points and capacity also hold the simulator's predictions

    # itl_p95_ms is a percentile of each request's mean ITL in the sweeps (GuideLLM; vLLM's TPOT):
    # the model's TPOT percentile and the simulator's per-request ITL are compared with it, not
    # the per-token ITL percentiles (docs/validation.md).
    METRICS = ("ttft_mean_ms", "itl_mean_ms", "e2e_mean_ms", "ttft_p95_ms", "ttft_p99_ms", "itl_p95_ms")
    PREDICTORS = ("model", "simulator")

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Validation({len(self.points)} points, {self.service_model} model, TTFT MAPE "
                f"{s['ttft_mean_ms_mape_pct']:.3g} %, ITL {s['itl_mean_ms_mape_pct']:.3g} %, "
                f"end-to-end {s['e2e_mean_ms_mape_pct']:.3g} %)")

    def to_dict(self, points: bool = False, decimals: int | None = None) -> dict[str, Any]:
        """JSON-ready: ``summary``, ``params``, ``by_mix``, ``by_band``, ``capacity``, ``excluded``,
        the simulator's errors when it ran, and with ``points`` every point. ``decimals`` rounds
        the error figures (the CLI writes 4)."""
        def flat(table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
            return {str(index): {f"{metric}_{kind}": _json_number(value, decimals) for (metric, kind), value in row.items()}
                    for index, row in table.iterrows()}

        def summary(predictor: str) -> dict[str, float | None]:
            return {k: _json_number(v, decimals) for k, v in self.summary(predictor).items()}

        doc: dict[str, Any] = {"summary": summary("model"), "params": _json_records(self.params.reset_index()),
                               "by_mix": flat(self.errors("sweep")), "by_band": flat(self.errors("band")),
                               "capacity": _json_records(self.capacity), "excluded": [list(x) for x in self.excluded]}
        if self.simulated:
            doc["simulator"] = {"summary": summary("simulator"), "by_mix": flat(self.errors("sweep", "simulator")),
                                "by_band": flat(self.errors("band", "simulator"))}
        if points:
            doc["points"] = _json_records(self.points)
        return doc

    def _suffix(self, predictor: str) -> str:
        if predictor not in self.PREDICTORS:
            raise ValueError(f"predictor must be one of {self.PREDICTORS}, got {_excerpt(predictor)}")
        if predictor == "simulator" and not self.simulated:
            raise ValueError("this validation ran without the simulator: validate(..., simulate=True)")
        return "_err" if predictor == "model" else "_sim_err"

    def errors(self, by: str = "sweep", predictor: str = "model") -> pd.DataFrame:
        """Mean absolute percentage error (MAPE) and mean signed error (bias) per metric, grouped
        by ``sweep`` (the token mix), ``band`` (load band) or ``None`` (all points), of the
        queueing model's predictions or (``predictor="simulator"``) the simulator's."""
        frame = self.points
        suffix = self._suffix(predictor)
        out = {}
        for metric in self.METRICS:
            rel = frame[f"{metric}{suffix}"]
            grouped = rel.groupby(frame[by]) if by else rel.groupby(lambda _: "all")
            out[(metric, "mape_pct")] = grouped.apply(lambda s: 100 * s.abs().mean())
            out[(metric, "bias_pct")] = grouped.apply(lambda s: 100 * s.mean())
        out[("points", "count")] = (frame.groupby(frame[by]) if by else frame.groupby(lambda _: "all")).size()
        table = pd.DataFrame(out)
        if by == "band":
            table = table.reindex([b for b in LOAD_BANDS if b in table.index])
        return table

    def summary(self, predictor: str = "model") -> pd.Series:
        """One number per metric: MAPE over every rate point, and the worst bias of one mix."""
        suffix = self._suffix(predictor)
        values = {}
        for metric in self.METRICS:
            rel = self.points[f"{metric}{suffix}"]
            values[f"{metric}_mape_pct"] = 100 * rel.abs().mean()
            values[f"{metric}_worst_mix_bias_pct"] = 100 * rel.groupby(self.points["sweep"]).mean().abs().max()
        if len(self.capacity):
            column = "throughput_err" if predictor == "model" else "throughput_sim_err"
            values["capacity_mape_pct"] = 100 * self.capacity[column].abs().mean()
        return pd.Series(values)

    def plot(self, metric: str = "ttft_mean_ms", ax: Any = None, predictor: str = "model") -> Any:
        """Relative error of one metric against the measured concurrency, one marker per prompt
        length (colour-blind-safe palette)."""
        suffix = self._suffix(predictor)
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        from ._style import MARKERS as markers
        from ._style import PALETTE as colours
        key = "in_nominal" if "in_nominal" in self.points else "sweep"
        for i, (value, group) in enumerate(self.points.groupby(key)):
            ax.scatter(group["concurrency"], 100 * group[f"{metric}{suffix}"], label=f"{key} {value:g}"
                       if isinstance(value, float) else str(value), color=colours[i % len(colours)],
                       marker=markers[i % len(markers)], s=22)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("requests in flight (measured mean)")
        ax.set_ylabel(f"{metric}: predicted / measured − 1 (%)")
        ax.set_title(f"{'queueing model' if predictor == 'model' else 'simulator'} ({self.service_model})", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        return ax


def observations(sweeps: pd.DataFrame, limits: ServerLimits | None = None) -> pd.DataFrame:
    """The rate points of benchmark rows as tuner observations (one row per point, the tuner's
    ``inferno`` layout): offered rate, token means, the batch cap and queue from ``limits``, and
    the measured mean TTFT and ITL. Bursts carry no offered rate and are left out."""
    limits = limits or ServerLimits()
    rate = sweeps[sweeps["strategy"].isin(RATE_STRATEGIES)]
    if rate.empty:
        raise ValueError("the benchmarks hold no rate point (strategies synchronous, constant, poisson, "
                         "concurrent); an observation needs an offered rate")
    rows = [{"cycle": int(row["line"]), **_observation(row, limits)} for _, row in rate.iterrows()]
    return pd.DataFrame(rows)


CLOSED_LOOP_STRATEGIES = ("synchronous", "concurrent")


def profiling_points(sweeps: pd.DataFrame, accelerator: str | None = None
                     ) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The closed-loop benchmarks (``synchronous``: one user; ``concurrent``: a fixed number of
    users) as sizing calibration points (docs/sizing.md §4), and the rows left out with the
    reason: open-loop points include queueing and are fitted by the tuner instead, and a burst's
    concurrency is not a configured number of users. The accelerator (a catalog name, e.g.
    ``H100-SXM5-80GB``) is ``accelerator`` when given, else the row's ``accelerator`` column."""
    points, skipped = [], []
    for _, row in sweeps.iterrows():
        if row["strategy"] not in CLOSED_LOOP_STRATEGIES:
            skipped.append((int(row["line"]), f"{row['strategy']} is not a closed-loop benchmark (fit open-loop "
                                              f"points with inferno tune)"))
            continue
        column = row.get("accelerator")
        name = accelerator or (column if isinstance(column, str) and column else None)
        if not name:
            raise ValueError(f"line {int(row['line'])}: the accelerator is not known: give it (--accelerator, a "
                             f"catalog name such as H100-SXM5-80GB) or fill the sweep's accelerator column")
        point = {"accelerator": name, "mode": "closed",
                 "concurrency": 1 if row["strategy"] == "synchronous" else max(1, round(row["concurrency"])),
                 "n": float(row["in_tokens"]), "m": float(row["out_tokens"]), "tpot_ms": float(row["itl_mean_ms"]),
                 "ttft_ms": float(row["ttft_mean_ms"]), "throughput_rps": float(row["throughput_rps"])}
        points.append({k: v for k, v in point.items() if not (isinstance(v, float) and math.isnan(v))})
    return points, skipped


# Coefficient of variation of inter-arrival times per strategy: Poisson arrivals are random (1);
# a constant rate is evenly spaced (0); a closed loop sends the next request when one completes,
# at an iteration boundary, never in a burst (0).
ARRIVAL_COV = {"poisson": 1.0, "constant": 0.0, "synchronous": 0.0, "concurrent": 0.0, "throughput": 0.0}


def _observation(row: pd.Series, limits: ServerLimits) -> dict[str, Any]:
    return {"rate_rpm": 60.0 * _model_rate_rps(row), "in_tokens": row["in_tokens"], "out_tokens": row["out_tokens"],
            "max_batch": limits.batch_cap(row["in_tokens"], row["out_tokens"]),
            "max_queue": limits.queue_cap(row["in_tokens"], row["out_tokens"]),
            "arrival_cov": ARRIVAL_COV[row["strategy"]],
            "ttft_ms": row["ttft_mean_ms"], "itl_ms": row["itl_mean_ms"]}


ALONE_RATE_FRACTION = 1e-3


def _model_rate_rps(row: pd.Series) -> float:
    """The rate at which the model describes a benchmark. A synchronous benchmark is one user
    sending a request when the last one finishes: the server never holds two, which an open
    queue at the same rate would (with one request's service time as its mean gap, another
    arrives during a service most of the time). One user is the model's zero-load limit, taken
    at a thousandth of the measured rate: another request in service 0.1 % of the time."""
    if row["strategy"] == "synchronous":
        return ALONE_RATE_FRACTION * row["rate_rps"]
    return row["rate_rps"]


def _band(row: pd.Series, top_rate: float) -> str:
    if row["strategy"] == "synchronous":
        return "alone"
    share = row["rate_rps"] / top_rate
    return "top" if share > 0.85 else "middle" if share > 0.45 else "low"


def validate(sweeps: pd.DataFrame | str | Path, *, limits: ServerLimits | None = None, fit: str = "pooled",
             params: dict[str, float] | None = None, config: str = "prefill-decode",
             service_model: str = "iteration", simulate: bool = False, token_spread: float = 0.5,
             seed: int = 1) -> Validation:
    """Fits (``fit`` = "pooled" or "per-mix"; or give ``params`` to predict without fitting) and
    predicts every rate point of the sweeps with the queueing model.

    ``simulate=True`` also runs the discrete-event simulator at every point, with the benchmark's
    own shape (docs/validation.md, "The simulator as a second predictor"): the strategy's arrivals
    (evenly spaced, Poisson, or closed-loop users), lengths uniform within ± ``token_spread`` of the
    nominal ones, KV pages allocated on demand in the server's cache, and the statistics of the
    requests completed within the benchmark's duration, as the tools count them."""
    if simulate and service_model not in SIMULATED_MODELS:
        raise ValueError(f"simulate=True runs the engine loop of the {' and '.join(map(repr, SIMULATED_MODELS))} "
                         f"service models; got {_excerpt(service_model)}")
    if not (isinstance(token_spread, (int, float)) and 0 <= token_spread <= 1):
        raise ValueError(f"token_spread must be a number in [0, 1], got {_excerpt(token_spread)}")
    excluded: list[tuple[int, str]] = []
    if not isinstance(sweeps, pd.DataFrame):
        sweeps, excluded = read_sweeps(sweeps)
    limits = limits or ServerLimits()
    if fit not in ("pooled", "per-mix"):
        raise ValueError(f"fit must be 'pooled' or 'per-mix', got {fit!r}")
    rate = sweeps[sweeps["strategy"].isin(RATE_STRATEGIES)].copy()
    burst = sweeps[~sweeps["strategy"].isin(RATE_STRATEGIES)].copy()
    if rate.empty:
        raise ValueError("the sweeps hold no rate point (strategies synchronous, constant, poisson); nothing to fit")
    groups = {"pooled": rate} if (params is not None or fit == "pooled") else dict(tuple(rate.groupby("sweep")))
    fits = []
    parameters: dict[str, dict[str, float]] = {}
    for name, group in groups.items():
        if params is not None:
            parameters[name] = dict(params)
            fits.append({"fit": name, "status": "given", "kappa": math.nan, "points": len(group), **params})
            continue
        problem = _unfittable(group)
        if problem:
            if name == "pooled":
                raise ValueError(f"the pooled fit cannot run: {problem}")
            # One mix without the data to fit: reported with its rows, the other mixes go on.
            fits.append({"fit": name, "status": "not_fitted", "kappa": math.nan, "points": len(group),
                         "weak_direction": problem})
            excluded.extend((int(line), f"{name}: not fitted: {problem}") for line in group["line"])
            continue
        observations = [_observation(row, limits) for _, row in group.iterrows()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", T.IdentifiabilityWarning)  # reported in the table instead
            result = T.fit(observations, config, service_model=service_model)
        if result.params is None:
            raise ValueError(f"the {name} fit of service model {service_model!r} failed ({result.status}, condition "
                             f"number {result.kappa:.3g}); vary the operating points or give the parameters")
        parameters[name] = dict(result.params)
        fits.append({"fit": name, "status": result.status, "kappa": result.kappa, "points": len(group),
                     "weak_direction": result.weak_direction, **result.params})
    if not parameters:
        raise ValueError("no token mix could be fitted: " + "; ".join(f"{f['fit']}: {f['weak_direction']}" for f in fits))
    top = rate.groupby("sweep")["rate_rps"].max()
    records = []
    for _, row in rate.iterrows():
        theta = parameters.get("pooled", parameters.get(row["sweep"]))
        if theta is None:
            continue  # a mix that could not be fitted (reported in excluded)
        model = _model(row, theta, limits, service_model, token_spread)
        analysis = model.analyze(_model_rate_rps(row), percentiles=[95, 99])
        predicted = {"ttft_mean_ms": analysis.ttft_ms, "itl_mean_ms": analysis.itl_ms,
                     "e2e_mean_ms": analysis.ttft_ms + (row["out_tokens"] - 1) * analysis.itl_ms,
                     "ttft_p95_ms": analysis.ttft_p95_ms, "ttft_p99_ms": analysis.ttft_p99_ms,
                     # the sweeps' ITL percentiles are of each request's mean ITL: the model's TPOT
                     "itl_p95_ms": analysis.tpot_p95_ms}
        measured = {"ttft_mean_ms": row["ttft_mean_ms"], "itl_mean_ms": row["itl_mean_ms"],
                    "e2e_mean_ms": 1000.0 * row["latency_mean_s"], "ttft_p95_ms": row.get("ttft_p95_ms", math.nan),
                    "ttft_p99_ms": row.get("ttft_p99_ms", math.nan), "itl_p95_ms": row.get("itl_p95_ms", math.nan)}
        record = {"line": row["line"], "sweep": row["sweep"], "strategy": row["strategy"], "rate_rps": row["rate_rps"],
                  "in_tokens": row["in_tokens"], "out_tokens": row["out_tokens"], "concurrency": row["concurrency"],
                  "band": _band(row, top[row["sweep"]]), "max_batch": model.max_batch, "max_queue": model.max_queue}
        for key in ("in_nominal", "out_nominal"):
            if key in row:
                record[key] = row[key]
        simulated = _simulate(row, theta, limits, service_model, token_spread, seed) if simulate else {}
        for metric, value in measured.items():
            record[metric] = value
            record[f"{metric}_pred"] = predicted[metric]
            record[f"{metric}_err"] = _relative(predicted[metric], value)
            if simulate:
                record[f"{metric}_sim"] = simulated[metric]
                record[f"{metric}_sim_err"] = _relative(simulated[metric], value)
        records.append(record)
    capacity = []
    for _, row in burst.iterrows():
        theta = parameters.get("pooled", parameters.get(row["sweep"]))
        if theta is None:
            continue  # a mix with burst points only: no fit to predict it with
        model = _model(row, theta, limits, service_model, token_spread)
        predicted_rps = model.burst_throughput_rps(_duration_s(row), out_tokens_spread=token_spread)
        entry = {"line": row["line"], "sweep": row["sweep"], "concurrency": row["concurrency"],
                 "throughput_rps": row["throughput_rps"], "throughput_pred": predicted_rps,
                 "throughput_err": predicted_rps / row["throughput_rps"] - 1.0}
        if simulate:
            entry["throughput_sim"] = _simulate(row, theta, limits, service_model, token_spread, seed)["throughput_rps"]
            entry["throughput_sim_err"] = entry["throughput_sim"] / row["throughput_rps"] - 1.0
        capacity.append(entry)
    columns = ["line", "sweep", "concurrency", "throughput_rps", "throughput_pred", "throughput_err"]
    if simulate:
        columns += ["throughput_sim", "throughput_sim_err"]
    return Validation(points=pd.DataFrame(records), params=pd.DataFrame(fits).set_index("fit"),
                      capacity=pd.DataFrame(capacity, columns=columns), excluded=excluded,
                      service_model=service_model, simulated=simulate)


def _unfittable(group: pd.DataFrame) -> str | None:
    """Why the rate points of `group` cannot be fitted, with the data that would fix it, or None."""
    if len(group) < 2:
        return (f"{len(group)} rate point; a fit needs at least 2, and tells the parameters apart with rates "
                f"from light load to the knee, for two or more token mixes: add benchmarks at other rates")
    distinct = group[["rate_rps", "in_tokens", "out_tokens"]].round(6).drop_duplicates()
    if len(distinct) == 1:
        return (f"all {len(group)} rate points are one operating point (the same rate and token counts), "
                f"which cannot tell the parameters apart: add benchmarks at other rates and token mixes")
    return None


def _relative(predicted: float, measured: float) -> float:
    return predicted / measured - 1.0 if measured and not math.isnan(measured) else math.nan


def _model(row: pd.Series, theta: Mapping[str, Any], limits: ServerLimits, service_model: str,
           token_spread: float = 0.0) -> QueueModel:
    return QueueModel(service_model=service_model, max_batch=limits.batch_cap(row["in_tokens"], row["out_tokens"]),
                      max_queue=limits.queue_cap(row["in_tokens"], row["out_tokens"]), in_tokens=row["in_tokens"],
                      out_tokens=row["out_tokens"], max_num_tokens=limits.max_num_batched_tokens,
                      arrival_cov=ARRIVAL_COV[row["strategy"]], in_tokens_spread=token_spread, **theta)


SIMULATED_MODELS = ("iteration", "vllm")
DEFAULT_BENCHMARK_S = 360.0  # GuideLLM's default benchmark length, when a row has no duration_s


def _simulate(row: pd.Series, theta: Mapping[str, Any], limits: ServerLimits, service_model: str, spread: float,
              seed: int) -> dict[str, float]:
    """The simulator's measurements of one benchmark, run as the benchmark ran and counted as the
    tools count: only requests completed within its duration."""
    duration_s = _duration_s(row)
    n = row.get("in_nominal", math.nan)
    m = row.get("out_nominal", math.nan)
    n = row["in_tokens"] if not (isinstance(n, float) and math.isfinite(n)) else n
    m = row["out_tokens"] if not (isinstance(m, float) and math.isfinite(m)) else m
    model = QueueModel(service_model=service_model, max_batch=int(min(limits.max_num_seqs, limits.max_in_flight)),
                       max_queue=0, in_tokens=row["in_tokens"], out_tokens=row["out_tokens"],
                       max_num_tokens=int(limits.max_num_batched_tokens), **theta)
    strategy = row["strategy"]
    if strategy in ("constant", "poisson"):
        load: dict[str, Any] = {"rate_rps": row["rate_rps"], "arrivals": strategy}
    else:  # users in a closed loop: one (synchronous), the concurrency, or the in-flight limit (burst)
        users = {"synchronous": 1, "concurrent": max(1, round(row["concurrency"]))}.get(strategy, limits.max_in_flight)
        load = {"arrivals": "closed", "clients": int(min(users, limits.max_in_flight))}
    run = S.simulate(model, duration_s=duration_s, warmup_s=0, seed=seed, sample_interval_s=0,
                     in_tokens=S.uniform_around(n, spread), out_tokens=S.uniform_around(max(m, 1.0), spread),
                     kv_capacity_tokens=limits.kv_cache_tokens, kv_policy="on-demand", **load)
    q = run.requests
    done = q[~q["blocked"] & (q["finish_ms"] <= 1000.0 * duration_s)]
    many = done[done["out_tokens"] > 1]
    itl = (many["finish_ms"] - many["first_token_ms"]) / (many["out_tokens"] - 1)  # per request, as GuideLLM
    ttft = done["ttft_ms"].to_numpy()

    def pct(values: np.ndarray, p: float) -> float:
        return float(np.percentile(values, p)) if len(values) else math.nan

    return {"ttft_mean_ms": float(ttft.mean()) if len(ttft) else math.nan,
            "itl_mean_ms": float(itl.mean()) if len(itl) else math.nan,
            "e2e_mean_ms": float(done["e2e_ms"].mean()) if len(done) else math.nan,
            "ttft_p95_ms": pct(ttft, 95), "ttft_p99_ms": pct(ttft, 99), "itl_p95_ms": pct(itl.to_numpy(), 95),
            "throughput_rps": len(done) / duration_s}


def _duration_s(row: pd.Series) -> float:
    """The benchmark's length: its duration_s, or GuideLLM's default where the row has none."""
    duration_s = row.get("duration_s", math.nan)
    if isinstance(duration_s, (int, float)) and math.isfinite(duration_s) and duration_s > 0:
        return float(duration_s)
    return DEFAULT_BENCHMARK_S
