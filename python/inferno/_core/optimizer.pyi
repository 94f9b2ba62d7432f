"""
Global optimizer: input system, candidates, solvers
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['Run', 'System', 'highs_versions', 'load_system', 'option_registry']
class Run:
    """
    One optimisation: its system, candidates and solution
    """
    def apply(self) -> System:
        ...
    def document(self, reference_format: bool = False, candidates: bool = False, timing: bool = False) -> typing.Any:
        ...
    def solution(self) -> dict:
        ...
    def to_json(self, reference_format: bool = False, candidates: bool = False, timing: bool = False, indent: typing.SupportsInt | typing.SupportsIndex = 2) -> str:
        ...
    @property
    def candidates(self) -> list:
        ...
class System:
    """
    Immutable optimizer input; see inferno.System
    """
    def candidates(self, threads: typing.SupportsInt | typing.SupportsIndex = 0) -> list:
        ...
    def optimize(self, threads: typing.SupportsInt | typing.SupportsIndex = 0) -> Run:
        """
        Candidates and the solver chosen by the options; the GIL is released meanwhile
        """
    def with_arrival_rates(self, rates_rpm: collections.abc.Mapping[str, typing.SupportsFloat | typing.SupportsIndex]) -> System:
        ...
    def with_current(self, allocations: collections.abc.Mapping[str, dict], keep_accelerator: bool = False, keep_batch: bool = False) -> System:
        """
        A copy with current allocations: {server: {accelerator, replicas, max_batch}}
        """
    def with_documents(self, documents: collections.abc.Sequence[tuple[str, typing.Any]]) -> System:
        """
        A copy with more (source, dict or JSON text) documents applied (e.g. option overrides)
        """
    def with_loads(self, loads: collections.abc.Mapping[str, dict]) -> System:
        """
        A copy with new loads: {server: {rate_rps, in_tokens, out_tokens}}
        """
    def with_perf(self, records: collections.abc.Sequence[dict]) -> System:
        """
        A copy with these performance records (model, accelerator, alpha_ms, ...) replacing or adding
        """
    @property
    def accelerators(self) -> list:
        ...
    @property
    def capacity(self) -> dict[str, int]:
        ...
    @property
    def diagnostics(self) -> list:
        ...
    @property
    def options(self) -> dict:
        """
        Effective options by optimizer-data.json key, in registry order
        """
    @property
    def perf_records(self) -> list:
        ...
    @property
    def servers(self) -> list:
        ...
    @property
    def targets(self) -> list:
        ...
    @property
    def units_per_card(self) -> dict[str, int]:
        ...
def highs_versions() -> dict:
    """
    The HiGHS version inferno was compiled against and the one of the library it loaded
    """
def load_system(directories: collections.abc.Sequence[str], documents: collections.abc.Sequence[tuple[str, typing.Any]]) -> System:
    """
    Builds a System from directories of reference JSON files, then (source, document) pairs, each a dict or the text of a file, applied in order with insert-or-replace semantics.
    """
def option_registry() -> list:
    """
    The optimizer's options, defined once: key, name, type, nullable, default, choices, bounds, doc
    """
