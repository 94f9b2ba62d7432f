"""
Discrete-event simulator of continuous batching
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['Simulator', 'run_simulation_requests', 'simulate']
class Simulator:
    """
    A run that can be stepped (docs/simulator.md, "Stepping")
    """
    def __init__(self, config: dict, workload: dict, fleet: dict, options: dict) -> None:
        ...
    def advance_to(self, time_s: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        Runs the events up to time_s (s, >= now_s)
        """
    def counters(self) -> dict:
        """
        Counters since the start and gauges now, as a metrics endpoint reports them
        """
    def finish(self) -> dict:
        """
        Runs to the end and summarises, as simulate() does
        """
    def scale_to(self, replicas: typing.SupportsInt | typing.SupportsIndex, startup_delay_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        """
        Serving plus starting replicas become `replicas` now; new ones serve after startup_delay_s
        """
    def stop_arrivals_at(self, time_s: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        No arrival at or after time_s is offered to this run (a successor takes them)
        """
    @property
    def now_s(self) -> float:
        ...
def run_simulation_requests(lines: collections.abc.Sequence[str], threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[list[str], int]:
    ...
def simulate(config: dict, workload: dict, fleet: dict, options: dict) -> dict:
    ...
