#pragma once
// Waiting-time distribution of an accepted request under FCFS (docs/queueing-model.md §6.1, §6.3), exact within the
// Markov model: a mixture of Erlang(k-N+1, μ_N) laws over the arrival-seen queue position.
#include "inferno/queue/chain.hpp"

namespace inferno::queue {

// `rates` may hold more batch sizes than the chain's cap N: only μ_1..μ_N are read.

/// P(an accepted arrival waits) = A_0.
double prob_wait(const ChainSolution& chain, const CompletionRates& rates);
/// P(W > t_ms) of the Markov model (no κ scaling). Evaluated directly, never as 1 - CDF.
double wait_survival(const ChainSolution& chain, const CompletionRates& rates, double t_ms);
/// inf{t >= 0 : P(W > t) <= 1 - p}, p in (0, 1), by bisection returning the conservative end.
double wait_quantile(const ChainSolution& chain, const CompletionRates& rates, double p);

}  // namespace inferno::queue
