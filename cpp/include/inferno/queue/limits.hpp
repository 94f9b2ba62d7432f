#pragma once
// The ranges of the queueing model's numeric inputs (docs/queueing-model.md, "Input ranges").
// Inside them every result is finite; values outside are rejected with the field's name and the
// range, instead of computing with numbers the arithmetic cannot represent.

namespace inferno::queue {

constexpr double kMaxRateRps = 1e9;        // arrival rate (req/s)
constexpr double kMaxModelParam = 1e6;     // service-model parameters: α (ms), β, γ (ms/token), ...
constexpr double kMaxTokens = 1e8;         // mean input and output tokens per request
constexpr double kMaxCov = 100;            // coefficients of variation of arrivals and service
constexpr double kMaxTargetTps = 1e12;     // a throughput target (tokens/s)
constexpr int kMaxPercentiles = 1000;      // percentiles asked for in one analysis

}  // namespace inferno::queue
