"""
Configuration search: the analytical screen and the Pareto flag
"""
from __future__ import annotations
import collections.abc
import inferno._core.sizing
import typing
__all__: list[str] = ['pareto', 'screen']
def pareto(cost: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], ttft: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], itl: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> list[bool]:
    """
    Pareto flags of points (lower is better in all three).
    """
def screen(catalog: inferno._core.sizing.Catalog, registry: collections.abc.Mapping[str, inferno._core.sizing.ModelArch], models: collections.abc.Sequence[str], accelerators: collections.abc.Sequence[str], tensor_parallel: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], pipeline_parallel: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], max_num_seqs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], max_num_batched_tokens: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], serving: typing.Any, rate_rps: typing.SupportsFloat | typing.SupportsIndex, in_tokens: typing.SupportsFloat | typing.SupportsIndex, out_tokens: typing.SupportsFloat | typing.SupportsIndex, arrival_cov: typing.SupportsFloat | typing.SupportsIndex = 1.0, in_tokens_spread: typing.SupportsFloat | typing.SupportsIndex = 0.0, slo: collections.abc.Sequence[tuple[str, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] = [], efficiency: typing.Any = None, service_model: str = 'iteration', per_sequence_ms: typing.SupportsFloat | typing.SupportsIndex = 0.0, queue_to_batch_ratio: typing.SupportsInt | typing.SupportsIndex = 10, costs: collections.abc.Mapping[str, typing.SupportsFloat | typing.SupportsIndex] = {}, cost_rule: str = 'compute', report_percentile: typing.SupportsFloat | typing.SupportsIndex = 95.0, threads: typing.SupportsInt | typing.SupportsIndex = 1) -> tuple[dict, int]:
    """
    Screens the cross product of the lists; returns (columns by field, configurations that reached the queueing model).
    """
