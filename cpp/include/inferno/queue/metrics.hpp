#pragma once

namespace inferno::queue {

/// Metrics at one offered rate (docs/queueing-model.md §4).
struct Metrics {
  double offered_rps = 0;     // the input rate
  double throughput_rps = 0;  // accepted rate 1000·X
  double dropped_rps = 0;     // offered - accepted
  double resp_time_ms = 0;    // T
  double wait_time_ms = 0;    // W (queueing delay of accepted requests)
  double service_time_ms = 0; // S
  double prefill_time_ms = 0; // P̄
  double ttft_ms = 0;         // mean time to first token
  double itl_ms = 0;          // mean inter-token latency
  double num_in_service = 0;  // L_s: mean batch occupancy
  double num_in_system = 0;   // L
  double queue_length = 0;    // Lq
  double rho = 0;             // L_s / N: mean batch fill (not the busy probability)
  double loss_prob = 0;       // p_K
  double busy_prob = 0;       // 1 - p_0
  double prob_wait = 0;       // P(an accepted request waits)
  double tokens_per_sec = 0;  // 1000·X·m_eff
};

}  // namespace inferno::queue
