#pragma once
// Birth–death chain with state-dependent completion rate (docs/queueing-model.md §2): arrivals at rate λ in states
// 0..K-1, completions at μ_min(k,N) in state k ≥ 1, K = N + Q. Rates are in requests per
// millisecond, times in milliseconds.
#include <cstdint>
#include <vector>

namespace inferno::queue {

/// Completion rates of one server configuration, precomputed once: μ_b and ln μ_b for b = 1..N
/// (stored 0-based: mu[b-1]).
struct CompletionRates {
  std::vector<double> mu;          // req/ms
  std::vector<double> log_mu;      // ln(mu)
  std::vector<double> inv_mu;      // 1/mu, ms
  std::vector<double> cum_log_mu;  // C_k = Σ_{i<=k} ln μ_i for k = 0..N (Neumaier-compensated)
  int nondecreasing_prefix = 0;    // largest n with μ_1 <= ... <= μ_n (lets solve_chain skip a pass)
  int max_batch() const { return static_cast<int>(mu.size()); }
};

/// Builds the rates μ_b = b / τ_b from service times τ_b (ms), b = 1..N.
CompletionRates completion_rates_from_service_times(const std::vector<double>& tau_ms);

/// Stationary solution of the chain. All means are over accepted requests where it matters.
struct ChainSolution {
  double lambda = 0;          // arrival rate, req/ms
  int max_batch = 0;          // N
  std::int64_t max_queue = 0; // Q
  // Probabilities.
  double prob_empty = 0;       // p_0
  double prob_full = 0;        // p_K: blocking probability
  double prob_batch_full = 0;  // P(k >= N)
  double busy = 0;             // 1 - p_0
  // Means.
  double num_in_system = 0;   // L
  double num_in_service = 0;  // L_s
  double queue_length = 0;    // Lq
  double throughput = 0;      // X, req/ms (accepted)
  double response_ms = 0;     // T = L/X
  double service_ms = 0;      // S = L_s/X
  double wait_ms = 0;         // W = Lq/X
  // Internals kept for the distributions (docs/queueing-model.md §6): weights are exp(ell - log_max) / norm.
  double log_max = 0;    // Mx
  double theta = 0;      // ln λ - ln μ_N
  double ell_batch = 0;  // ℓ_N
  double ell_full = 0;   // ℓ_K
  double norm = 0;       // Z
  double tail_mass = 0;  // T0 = Σ_{k>N} unnormalised weights
};

/// Solves the chain in O(N) time with log-space weights and a closed-form geometric tail.
/// `head` is resized to N+1 and receives the unnormalised weights h_0..h_N (reuse it across calls
/// to avoid allocation). Preconditions (checked): λ finite > 0, rates non-empty, Q >= 0.
void solve_chain(double lambda, const CompletionRates& rates, std::int64_t max_queue,
                 std::vector<double>& head, ChainSolution& out);

/// The same with batch cap N = `max_batch` <= rates.max_batch(): only the first N rates are used,
/// so analyzers for every cap can share one rate table.
void solve_chain(double lambda, const CompletionRates& rates, int max_batch, std::int64_t max_queue,
                 std::vector<double>& head, ChainSolution& out);

/// Convenience overload that allocates its own head buffer.
ChainSolution solve_chain(double lambda, const CompletionRates& rates, std::int64_t max_queue);

/// Σ_{j=0..q-1} e^{x·j} for x < 0, q >= 0, without overflow or cancellation.
double geometric_sum_negative(double x, std::int64_t q);

/// Mean of j ∈ {0..q-1} under the pmf ∝ e^{-u·j}, u > 0, q >= 1.
double truncated_geometric_mean(double u, std::int64_t q);

}  // namespace inferno::queue
