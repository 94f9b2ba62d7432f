"""
Queueing models of continuous-batching servers
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['METRIC_FIELDS', 'Queue', 'SERVICE_MODELS']
class Queue:
    """
    One server configuration (immutable); see inferno.QueueModel
    """
    def __init__(self, service_model: str, params: collections.abc.Mapping[str, typing.SupportsFloat | typing.SupportsIndex], in_tokens: typing.SupportsFloat | typing.SupportsIndex, out_tokens: typing.SupportsFloat | typing.SupportsIndex, max_num_tokens: typing.SupportsInt | typing.SupportsIndex, max_batch: typing.SupportsInt | typing.SupportsIndex, max_queue: typing.SupportsInt | typing.SupportsIndex, arrival_cov: typing.SupportsFloat | typing.SupportsIndex, service_cov: typing.SupportsFloat | typing.SupportsIndex, itl_weighting: str, in_tokens_spread: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        ...
    def analyze(self, rate_rps: typing.SupportsFloat | typing.SupportsIndex, percentiles: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> dict:
        ...
    def analyze_many(self, rates_rps: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], percentiles: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> dict:
        ...
    def burst_throughput_rps(self, window_ms: typing.SupportsFloat | typing.SupportsIndex, out_tokens_spread: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    def itl_distribution(self, rate_rps: typing.SupportsFloat | typing.SupportsIndex) -> tuple:
        ...
    def max_rate(self, constraints: collections.abc.Sequence[tuple[str, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]], tps: typing.SupportsFloat | typing.SupportsIndex, grid_points: typing.SupportsInt | typing.SupportsIndex, tps_safety_fraction: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    def optimal_concurrency(self, constraints: collections.abc.Sequence[tuple[str, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]], tps: typing.SupportsFloat | typing.SupportsIndex, min_batch: typing.SupportsInt | typing.SupportsIndex, epsilon: typing.SupportsFloat | typing.SupportsIndex, max_iters: typing.SupportsInt | typing.SupportsIndex, converge: bool, verify_hi: bool, grid_points: typing.SupportsInt | typing.SupportsIndex, tps_safety_fraction: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    def wait_survival(self, rate_rps: typing.SupportsFloat | typing.SupportsIndex, t_ms: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def completion_rates_rps(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def itl_by_batch_ms(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def kappa(self) -> float:
        ...
    @property
    def max_batch(self) -> int:
        ...
    @property
    def max_queue(self) -> int:
        ...
    @property
    def max_stable_rate_rps(self) -> float:
        ...
    @property
    def min_rate_rps(self) -> float:
        ...
    @property
    def peak_batch(self) -> int:
        ...
    @property
    def peak_rate_rps(self) -> float:
        ...
    @property
    def prefill_chunks_by_batch(self) -> typing.Any:
        ...
    @property
    def service_times_ms(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
METRIC_FIELDS: tuple = ('rate_rps', 'throughput_rps', 'dropped_rps', 'ttft_ms', 'itl_ms', 'wait_ms', 'prefill_ms', 'service_ms', 'response_ms', 'num_in_service', 'num_in_system', 'queue_length', 'batch_fill', 'busy_prob', 'blocking_prob', 'wait_prob', 'tokens_per_s')
SERVICE_MODELS: list = [{'name': 'iteration', 'description': 'continuous batching with chunked prefill under a per-iteration token budget (default)', 'params': [{'name': 'alpha', 'unit': 'ms', 'description': 'fixed time per engine iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'beta', 'unit': 'ms/token', 'description': 'compute time per processed token', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'gamma', 'unit': 'ms/token', 'description': 'KV-cache read time per cached token per iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}], 'uses_request_shape': True}, {'name': 'prefill-decode', 'description': 'separate prefill and decode step times (decodeParms / prefillParms)', 'params': [{'name': 'decode_alpha', 'unit': 'ms', 'description': 'decode step time at zero batch (decodeParms.alpha)', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'decode_beta', 'unit': 'ms/request', 'description': 'decode step time per batch member (decodeParms.beta)', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'prefill_gamma', 'unit': 'ms', 'description': 'fixed prefill time (prefillParms.gamma)', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'prefill_delta', 'unit': 'ms/token/request', 'description': 'prefill time per input token per batch member (prefillParms.delta)', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}], 'uses_request_shape': True}, {'name': 'token', 'description': '2024 token model: each token takes alpha + beta*batch ms', 'params': [{'name': 'alpha', 'unit': 'ms', 'description': 'fixed time per token step', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'beta', 'unit': 'ms/request', 'description': 'time per token step per batch member', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'tokens_per_request', 'unit': 'tokens', 'description': 'tokens generated per request (K_tok)', 'lower': 0.0, 'lower_strict': True, 'upper': 1000000.0}], 'uses_request_shape': False}, {'name': 'iteration-v2', 'description': "2026-02 iteration model (queue-analysis v0.3.0), kept to reproduce the reference optimizer's sample solutions; prefer 'iteration'", 'params': [{'name': 'alpha', 'unit': 'ms', 'description': 'fixed time per engine iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'beta', 'unit': 'ms/token', 'description': 'compute time per processed token', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'gamma', 'unit': 'ms/token', 'description': 'KV-cache read time per cached token per iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}], 'uses_request_shape': True}, {'name': 'vllm', 'description': 'the iteration loop as vLLM runs it: a new request waits for the iteration in progress, and a per-sequence cost makes large batches slower', 'params': [{'name': 'alpha', 'unit': 'ms', 'description': 'fixed time per engine iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'beta', 'unit': 'ms/token', 'description': 'compute time per processed token', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'gamma', 'unit': 'ms/token', 'description': 'KV-cache read time per cached token per iteration', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'delta', 'unit': 'ms', 'description': 'per-sequence cost: an iteration of b sequences takes delta*b^2 more', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}, {'name': 'epsilon', 'unit': 'ms/token^2', 'description': 'prefill attention: a prompt of n tokens takes epsilon*n^2/2 more', 'lower': 0.0, 'lower_strict': False, 'upper': 1000000.0}], 'uses_request_shape': True}]
