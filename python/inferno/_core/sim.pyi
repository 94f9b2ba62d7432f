"""
Discrete-event simulator of continuous batching
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['run_simulation_requests', 'simulate']
def run_simulation_requests(lines: collections.abc.Sequence[str], threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[list[str], int]:
    ...
def simulate(config: dict, workload: dict, fleet: dict, options: dict) -> dict:
    ...
