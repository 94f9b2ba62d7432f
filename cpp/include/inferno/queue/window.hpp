#pragma once
// Throughput measured over a finite window from a cold start (docs/queueing-model.md, "Capacity
// measured in a window"). A throughput benchmark starts its requests at once and counts those that
// finish within its duration; with long requests that count is well below the steady state's.

namespace inferno::queue {

/// Expected number of requests one batch slot completes in [0, window_ms] when it starts a request
/// at 0 and the next one the moment the last finishes: the renewal function M(W) = Σ_k P(T_k <= W)
/// of service times with mean `mean_ms` (> 0) and coefficient of variation `cv` (>= 0), T_k being
/// the sum of k of them, taken as normal (exact for cv = 0: floor(W / mean)).
/// Throws InvalidArgument naming the field on a non-finite or out-of-range argument.
double expected_completions(double mean_ms, double cv, double window_ms);

}  // namespace inferno::queue
