#include "inferno/sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <queue>
#include <set>
#include <tuple>

#include "inferno/enum_names.hpp"
#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"

namespace inferno::sim {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// xoshiro256** seeded by splitmix64, with our own transforms: the same seed gives the same
// numbers on every platform (the standard library's distributions are not specified bit-exactly).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : state_) s = splitmix(seed);
  }
  double uniform() {  // in (0, 1)
    return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53;
  }
  double exponential() { return -std::log(uniform()); }
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform())), phi = 2.0 * M_PI * uniform();
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }
  double gamma(double shape) {  // Marsaglia–Tsang, unit scale
    if (shape < 1) return gamma(shape + 1) * std::pow(uniform(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9 * d);
    while (true) {
      double x, v;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
    }
  }
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)) % n; }

 private:
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9, t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  std::uint64_t state_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

int draw_tokens(const TokenDist& d, Rng& rng, int minimum) {
  double x = 0;
  switch (d.kind) {
    case TokenDist::Kind::fixed: x = std::round(d.value); break;
    case TokenDist::Kind::geometric: {
      const double excess = d.value - minimum;  // mean above the minimum
      x = excess <= 0 ? minimum : minimum + std::floor(rng.exponential() / std::log1p(1.0 / excess));
      break;
    }
    case TokenDist::Kind::uniform:
      x = std::round(d.low) + static_cast<double>(rng.below(static_cast<std::uint64_t>(std::round(d.high) - std::round(d.low) + 1)));
      break;
    case TokenDist::Kind::empirical: x = std::round(d.values[rng.below(d.values.size())]); break;
  }
  return static_cast<int>(std::max<double>(minimum, std::min(x, 1e9)));
}

// Limits of one run (docs/simulator.md, "Limits"): checked before it starts.
constexpr int kMaxSimReplicas = 1000;
constexpr std::size_t kMaxTraceRows = 10'000'000;
constexpr double kMaxSimTokens = 5e8;  // about 1 GB of per-token records
constexpr int kMaxClients = 1'000'000;

void check_run_size(double expected_tokens, const char* how) {
  if (!(expected_tokens <= kMaxSimTokens))
    throw InvalidArgument("the run would generate about " + format_number(std::round(expected_tokens)) +
                          " output tokens (" + how + "); at most 5e8 per run: shorten duration_s or lower the load");
}

void validate_dist(const TokenDist& d, const char* name, int minimum) {
  const std::string field(name);
  const char* range = minimum == 0 ? "a finite number in [0, 1e8]" : "a finite number in [1, 1e8]";
  const auto ok = [&](double v) { return std::isfinite(v) && v >= minimum && v <= queue::kMaxTokens; };
  switch (d.kind) {
    case TokenDist::Kind::fixed:
    case TokenDist::Kind::geometric:
      require(ok(d.value), field, range, d.value);
      break;
    case TokenDist::Kind::uniform:
      require(ok(d.low), field + " low", range, d.low);
      require(ok(d.high) && d.high >= d.low, field + " high", std::string(range) + ", >= low", d.high);
      break;
    case TokenDist::Kind::empirical:
      if (d.values.empty()) throw InvalidArgument(field + " values must not be empty");
      for (double v : d.values) require(ok(v), field + " value", range, v);
      break;
  }
}

// Arrival times (ms) of a renewal process in operational time mapped through the inverse of the
// cumulative rate Λ(t): a Poisson or gamma-renewal stream with a time-varying rate.
class ArrivalClock {
 public:
  ArrivalClock(const WorkloadSpec& w, double duration_s, Rng& rng) : w_(w), rng_(rng), end_s_(duration_s) {
    if (w.schedule.empty()) {
      times_ = {0.0};
      rates_ = {w.rate_rps};
    } else {
      times_ = w.schedule.times_s;
      rates_ = w.schedule.rates_rps;
    }
    shape_ = w.arrivals == WorkloadSpec::Arrivals::gamma ? 1.0 / (w.cv * w.cv) : 1.0;
  }
  /// Next arrival time in seconds, or +∞ past the duration.
  double next() {
    double step = 1.0;  // constant: one unit of cumulative rate between arrivals
    if (w_.arrivals == WorkloadSpec::Arrivals::gamma) step = rng_.gamma(shape_) / shape_;
    else if (w_.arrivals == WorkloadSpec::Arrivals::poisson) step = rng_.exponential();
    return advance(step);
  }

 private:
  // Pieces: p = -1 is [0, t_0) at r_0; p = i is [t_i, t_{i+1}) at r_i (or linear to r_{i+1});
  // the last is [t_{n-1}, ∞) at r_{n-1}.
  void piece_bounds(long p, double& a, double& b, double& ra, double& rb) const {
    const auto n = static_cast<long>(times_.size());
    if (p < 0) {
      a = 0;
      b = times_[0];
      ra = rb = rates_[0];
    } else if (p < n - 1) {
      a = times_[static_cast<std::size_t>(p)];
      b = times_[static_cast<std::size_t>(p) + 1];
      ra = rates_[static_cast<std::size_t>(p)];
      rb = w_.schedule.linear ? rates_[static_cast<std::size_t>(p) + 1] : ra;
    } else {
      a = times_[static_cast<std::size_t>(n - 1)];
      b = kInf;
      ra = rb = rates_[static_cast<std::size_t>(n - 1)];
    }
  }
  // Moves the clock forward by `amount` of cumulative rate Λ; +∞ once past the duration.
  double advance(double amount) {
    while (true) {
      double a, b, ra, rb;
      piece_bounds(piece_, a, b, ra, rb);
      const double slope = b == kInf || b <= a ? 0.0 : (rb - ra) / (b - a);
      const double end = std::min(b, end_s_);
      const double r_now = ra + slope * (t_s_ - a);
      const double r_end = ra + slope * (end - a);
      const double length = std::max(0.0, end - t_s_);
      const double capacity = 0.5 * (r_now + r_end) * length;
      if (amount <= capacity && capacity > 0) {
        const double x = slope == 0 ? amount / r_now
                                    : 2 * amount / (r_now + std::sqrt(std::max(0.0, r_now * r_now + 2 * slope * amount)));
        t_s_ = std::min(t_s_ + x, end);
        return t_s_ < end_s_ ? t_s_ : kInf;
      }
      if (end >= end_s_) return kInf;
      amount -= capacity;
      t_s_ = end;
      ++piece_;
    }
  }

  const WorkloadSpec& w_;
  Rng& rng_;
  std::vector<double> times_, rates_;
  double shape_ = 1, end_s_ = 0, t_s_ = 0;
  long piece_ = -1;
};

struct Request {
  double arrival_ms = 0, start_ms = -1, prefill_done_ms = -1, first_ms = -1, finish_ms = -1;
  int in = 0, out = 1, prefix = 0, replica = -1;
  // What is left to do: `prompt` tokens to prefill (the prompt; after a preemption also the
  // tokens generated before it) and `remaining` decode steps after that.
  int prompt = 0, remaining = 1;
  long join_iteration = 0;  // the replica's iteration counter when its decoding began
  long admitted = 0;        // admission order (on_demand preemption picks the latest)
  int epoch = 0;            // preemptions so far: older completion entries are stale
  bool blocked = false;
};

struct Replica {
  bool exists = true, serving = false, draining = false;
  double ready_ms = 0;
  std::deque<int> waiting;
  int batch = 0;
  double kv_used = 0, outstanding = 0;
  double next_event_ms = kInf;  // iteration end (iteration) or next completion (markov)
  // iteration mode
  std::deque<int> prefilling;
  int decoding = 0;
  double decode_read = 0;
  // (iteration of completion, request, epoch), earliest first.
  std::priority_queue<std::tuple<long, int, int>, std::vector<std::tuple<long, int, int>>, std::greater<>> finishing;
  std::vector<int> first_pending, just_prefilled;
  long iteration = 0;
  // on_demand KV: prompt tokens held by requests still in prefill, and the admitted requests in
  // admission order (the last is preempted first).
  double prefill_kv = 0;
  std::set<std::pair<long, int>> running;
  long admissions = 0;
  // markov mode
  std::vector<int> in_service;
};

double t_quantile_975(int dof) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) return kInf;
  return dof <= 30 ? table[dof - 1] : 1.96 + 2.5 / dof;
}

double half_width(const std::vector<double>& batch_means) {
  const auto b = static_cast<int>(batch_means.size());
  if (b < 2) return kInf;
  double mean = 0;
  for (double x : batch_means) mean += x;
  mean /= b;
  double ss = 0;
  for (double x : batch_means) ss += (x - mean) * (x - mean);
  return t_quantile_975(b - 1) * std::sqrt(ss / (b - 1) / b);
}

double quantile(std::vector<double>& sorted, double p) {  // linear interpolation between order statistics
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = p * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// The batch-means slice (of `batches` equal slices of the measured window) holding time t_ms.
std::size_t slice_of(double t_ms, double window_start_ms, double window_ms, int batches) {
  return std::min<std::size_t>(static_cast<std::size_t>(batches) - 1,
                               static_cast<std::size_t>(std::max(0.0, (t_ms - window_start_ms) / window_ms * batches)));
}

// Weighted sums per slice; the half-width of the mean from the slices' means (empty slices skipped).
class BatchMeans {
 public:
  explicit BatchMeans(int batches)
      : sums_(static_cast<std::size_t>(batches), 0.0), weights_(static_cast<std::size_t>(batches), 0.0) {}
  void add(std::size_t slice, double value, double weight = 1.0) {
    sums_[slice] += weight * value;
    weights_[slice] += weight;
  }
  double half_width() const {
    std::vector<double> means;
    for (std::size_t b = 0; b < sums_.size(); ++b)
      if (weights_[b] > 0) means.push_back(sums_[b] / weights_[b]);
    return inferno::sim::half_width(means);
  }

 private:
  std::vector<double> sums_, weights_;
};

Stat make_stat(std::vector<std::pair<double, double>>& samples, double window_start_ms, double window_ms, int batches) {
  // samples: (arrival ms, value)
  Stat s;
  s.count = static_cast<long>(samples.size());
  if (samples.empty()) {
    s.mean = s.p50 = s.p90 = s.p95 = s.p99 = s.half_width = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  BatchMeans slices(batches);
  std::vector<double> values;
  values.reserve(samples.size());
  double total = 0;
  for (const auto& [t, v] : samples) {
    total += v;
    values.push_back(v);
    slices.add(slice_of(t, window_start_ms, window_ms, batches), v);
  }
  s.mean = total / static_cast<double>(samples.size());
  std::sort(values.begin(), values.end());
  s.p50 = quantile(values, 0.50);
  s.p90 = quantile(values, 0.90);
  s.p95 = quantile(values, 0.95);
  s.p99 = quantile(values, 0.99);
  s.half_width = slices.half_width();
  return s;
}

// Token-weighted statistics of decode intervals: each interval counts once per token it delayed.
template <class Interval>
Stat token_stat(std::vector<Interval>& intervals, double window_start_ms, double window_ms, int batches) {
  Stat s;
  double weight = 0, total = 0;
  for (const auto& i : intervals) weight += i.tokens, total += i.tokens * i.length_ms;
  s.count = static_cast<long>(weight);
  if (!(weight > 0)) {
    s.mean = s.p50 = s.p90 = s.p95 = s.p99 = s.half_width = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = total / weight;
  BatchMeans slices(batches);
  for (const auto& i : intervals) slices.add(slice_of(i.start_ms, window_start_ms, window_ms, batches), i.length_ms, i.tokens);
  s.half_width = slices.half_width();
  std::sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) { return a.length_ms < b.length_ms; });
  // Inverse of the weighted distribution function: the smallest interval reaching p of the tokens.
  const auto at = [&](double p) {
    double cumulative = 0;
    for (const auto& i : intervals) {
      cumulative += i.tokens;
      if (cumulative >= p * weight) return i.length_ms;
    }
    return intervals.back().length_ms;
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p95 = at(0.95);
  s.p99 = at(0.99);
  return s;
}

void validate(const SimulatedReplica& server, const WorkloadSpec& w, const FleetSpec& fleet, const SimOptions& o) {
  require(std::isfinite(o.duration_s) && o.duration_s > 0 && o.duration_s <= 1e8, "duration_s", "a finite number in (0, 1e8]", o.duration_s);
  require(std::isfinite(o.warmup_s) && o.warmup_s >= 0 && o.warmup_s < o.duration_s, "warmup_s", "in [0, duration_s)", o.warmup_s);
  require(std::isfinite(o.sample_interval_s) && o.sample_interval_s >= 0 && o.sample_interval_s <= 1e8, "sample_interval_s",
          "a finite number in [0, 1e8] (0 = no series)", o.sample_interval_s);
  if (o.sample_interval_s > 0 && o.duration_s / o.sample_interval_s > 1e7)
    require(false, "sample_interval_s", "at most 1e7 samples per run", o.sample_interval_s);
  require(o.ci_batches >= 2 && o.ci_batches <= 1000, "ci_batches", "an integer in [2, 1000]", o.ci_batches);
  require(fleet.replicas >= 0 && fleet.replicas <= kMaxSimReplicas, "replicas", "an integer in [0, 1000]", fleet.replicas);
  require_finite_in("startup_delay_s", fleet.startup_delay_s, 0, false, 1e8);
  double most_replicas = fleet.replicas;
  for (const auto& e : fleet.scale_events) {
    require_finite_in("scale event time_s", e.time_s, 0, false, 1e8);
    most_replicas += std::max(0, e.delta);
    require(most_replicas <= kMaxSimReplicas, "scale events", "at most 1000 replicas in all", most_replicas);
  }
  require(std::isfinite(server.kv_capacity_tokens) && server.kv_capacity_tokens >= 0 && server.kv_capacity_tokens <= 1e15,
          "kv_capacity_tokens", "a finite number in [0, 1e15] (0 = unlimited)", server.kv_capacity_tokens);
  // Beyond a CV of 10 the log-normal factor's variance, exp(σ²) - 1, is no longer a noise level
  // but a different model (and at 1e200 it overflows to NaN iteration times).
  require_finite_in("iteration_noise_cv", server.iteration_noise_cv, 0, false, 10);
  // The work of a run grows with the output tokens it generates; bounded before it starts.
  double expected_tokens = 0;
  switch (w.arrivals) {
    case WorkloadSpec::Arrivals::trace:
      require(w.trace.size() <= kMaxTraceRows, "trace", "at most 1e7 requests", static_cast<double>(w.trace.size()));
      for (const auto& e : w.trace) {
        require_finite_in("trace time_s", e.time_s, 0, false, 1e8);
        require(std::isfinite(e.in_tokens) && e.in_tokens >= 0 && e.in_tokens <= queue::kMaxTokens, "trace in_tokens",
                "a finite number in [0, 1e8]", e.in_tokens);
        require(std::isfinite(e.out_tokens) && e.out_tokens >= 1 && e.out_tokens <= queue::kMaxTokens, "trace out_tokens",
                "a finite number in [1, 1e8]", e.out_tokens);
        if (e.time_s <= o.duration_s) expected_tokens += e.out_tokens;
      }
      break;
    case WorkloadSpec::Arrivals::closed:
      require(w.clients >= 1 && w.clients <= kMaxClients, "clients", "an integer in [1, 1000000]", w.clients);
      require_finite_in("think_time_s", w.think_time_s, 0, false, 1e8);
      validate_dist(w.in_tokens, "in_tokens", 0);
      validate_dist(w.out_tokens, "out_tokens", 1);
      break;  // the size of the run is bounded in simulate(), from the model's highest throughput
    case WorkloadSpec::Arrivals::gamma:
      require(std::isfinite(w.cv) && w.cv > 0.01 && w.cv <= 100, "cv", "in (0.01, 100]", w.cv);
      [[fallthrough]];
    case WorkloadSpec::Arrivals::poisson:
    case WorkloadSpec::Arrivals::constant: {
      double peak_rps = w.rate_rps;
      if (w.schedule.empty()) {
        require(std::isfinite(w.rate_rps) && w.rate_rps > 0 && w.rate_rps <= 1e7, "rate_rps", "a finite number in (0, 1e7]", w.rate_rps);
      } else {
        const auto& s = w.schedule;
        if (s.times_s.size() != s.rates_rps.size())
          throw InvalidArgument("rate schedule: times_s and rates_rps must have the same length");
        peak_rps = 0;
        for (std::size_t i = 0; i < s.times_s.size(); ++i) {
          require(std::isfinite(s.times_s[i]) && s.times_s[i] >= 0 && (i == 0 || s.times_s[i] > s.times_s[i - 1]),
                  "rate schedule time_s", "finite, >= 0 and increasing", s.times_s[i]);
          require(std::isfinite(s.rates_rps[i]) && s.rates_rps[i] >= 0 && s.rates_rps[i] <= 1e7, "rate schedule rate_rps",
                  "a finite number in [0, 1e7]", s.rates_rps[i]);
          peak_rps = std::max(peak_rps, s.rates_rps[i]);
        }
      }
      validate_dist(w.in_tokens, "in_tokens", 0);
      validate_dist(w.out_tokens, "out_tokens", 1);
      expected_tokens = peak_rps * o.duration_s * w.out_tokens.mean();
      break;
    }
  }
  check_run_size(expected_tokens, "rate x duration_s x mean out_tokens");
}

}  // namespace

TokenDist TokenDist::constant(double v) {
  TokenDist d;
  d.value = v;
  return d;
}

double TokenDist::mean() const {
  switch (kind) {
    case Kind::fixed:
    case Kind::geometric: return value;
    case Kind::uniform: return 0.5 * (std::round(low) + std::round(high));
    case Kind::empirical: {
      double s = 0;
      for (double v : values) s += std::round(v);
      return values.empty() ? 0 : s / static_cast<double>(values.size());
    }
  }
  return value;
}

KvPolicy parse_kv_policy(const std::string& s) { return parse_enum(kKvPolicies, s, "kv_policy"); }
Mode parse_mode(const std::string& s) { return parse_enum(kModes, s, "simulation mode"); }
Router parse_router(const std::string& s) { return parse_enum(kRouters, s, "router"); }
const char* mode_name(Mode m) { return enum_name(kModes, m); }
const char* router_name(Router r) { return enum_name(kRouters, r); }

// The state of a run and its event loop; simulate() runs it to the end, Simulator steps it.
struct Simulator::Engine {
  struct TokenInterval {
    double start_ms, length_ms;
    int tokens;
  };

  SimulatedReplica server;
  WorkloadSpec workload;
  FleetSpec fleet;
  SimOptions options;
  bool vllm_loop;
  queue::QueueAnalyzer analyzer;  // validates N, Q, the service model and its parameters; gives μ_B
  int n_cap;
  long long q_cap;
  double alpha = 0, beta = 0, gamma_kv = 0, delta_seq = 0, epsilon_attn = 0, budget;
  std::vector<double> mu;  // req/ms, b = 1..N
  bool closed, from_trace, on_demand;
  Rng arrival_rng, token_rng, service_rng;
  double duration_ms, warmup_ms, window_ms;
  int batches;
  double noise_sigma;
  std::vector<Request> reqs;
  std::vector<Replica> reps;
  ArrivalClock clock;
  std::vector<TraceEntry> trace;
  std::size_t trace_pos = 0;
  // Closed loop: when each client sends its next request (ms), earliest first.
  std::priority_queue<double, std::vector<double>, std::greater<>> client_due;
  double think_ms;
  double arrival_at = kInf;
  double arrivals_end_ms = kInf;  // stop_arrivals_at: later requests go to a successor
  std::vector<ScaleEvent> scaling;
  std::size_t scale_pos = 0;
  double sample_at;
  // Time integrals over the measured window, overall and per batch (for half-widths).
  double last_ms = 0, in_system = 0, in_service = 0, waiting_total = 0, busy = 0, existing = 0, serving = 0;
  double int_system = 0, int_service = 0, int_waiting = 0, int_busy = 0, int_existing = 0, int_serving = 0;
  std::vector<double> slice_system, slice_done;
  Summary sum;
  std::size_t rr_next = 0;
  std::vector<TokenInterval> token_intervals;  // iteration mode, measured window
  std::vector<TimeSample> series;
  ServerCounters counters;  // the whole run, as a metrics endpoint counts
  double counted_ms = 0;    // counters' time integrals reach this time

  Engine(const SimulatedReplica& server_in, const WorkloadSpec& workload_in, const FleetSpec& fleet_in,
         const SimOptions& options_in)
      : server(server_in), workload(workload_in), fleet(fleet_in), options(options_in),
        vllm_loop(server.queue.service_model == "vllm"), analyzer(checked(server, workload, fleet, options)),
        n_cap(server.queue.max_batch), q_cap(static_cast<long long>(server.queue.max_queue)),
        budget(server.queue.shape.max_num_tokens), mu(analyzer.rates().mu),
        closed(workload.arrivals == WorkloadSpec::Arrivals::closed),
        from_trace(workload.arrivals == WorkloadSpec::Arrivals::trace),
        on_demand(server.kv_policy == KvPolicy::on_demand && server.kv_capacity_tokens > 0),
        arrival_rng(options.seed), token_rng(options.seed ^ 0x5DEECE66DULL), service_rng(options.seed ^ 0xA24BAED4963EE407ULL),
        duration_ms(1000 * options.duration_s), warmup_ms(1000 * options.warmup_s), window_ms(duration_ms - warmup_ms),
        batches(options.ci_batches),
        noise_sigma(std::sqrt(std::log1p(server.iteration_noise_cv * server.iteration_noise_cv))),
        reps(static_cast<std::size_t>(fleet.replicas)), clock(workload, options.duration_s, arrival_rng),
        trace(workload.trace), think_ms(1000 * workload.think_time_s), scaling(fleet.scale_events),
        sample_at(options.sample_interval_s > 0 ? 0.0 : kInf),
        slice_system(static_cast<std::size_t>(batches), 0.0), slice_done(static_cast<std::size_t>(batches), 0.0) {
    const queue::QueueConfig& qc = server.queue;
    if (options.mode == Mode::iteration) {
      alpha = qc.params.at("alpha");
      beta = qc.params.at("beta");
      gamma_kv = qc.params.at("gamma");
      if (vllm_loop) {
        delta_seq = qc.params.at("delta");
        epsilon_attn = qc.params.at("epsilon");
      }
      if (budget < n_cap)
        throw InvalidArgument("max_num_tokens (" + format_number(budget) + ") must be >= max_batch (" +
                              std::to_string(n_cap) + "): every decoding request needs one token per iteration");
    }
    if (closed) {  // at most the model's saturated throughput per replica
      double most_replicas = fleet.replicas;
      for (const auto& e : fleet.scale_events) most_replicas += std::max(0, e.delta);
      check_run_size(most_replicas * mu.back() * 1000 * options.duration_s * workload.out_tokens.mean(),
                     "replicas x saturated throughput x duration_s x mean out_tokens");
    }
    for (auto& r : reps) r.serving = true;
    std::stable_sort(trace.begin(), trace.end(), [](const TraceEntry& a, const TraceEntry& b) { return a.time_s < b.time_s; });
    if (closed)
      for (int c = 0; c < workload.clients; ++c) client_due.push(0.0);
    arrival_at = next_arrival_ms();
    std::stable_sort(scaling.begin(), scaling.end(), [](const ScaleEvent& a, const ScaleEvent& b) { return a.time_s < b.time_s; });
    refresh_counts();
  }

  // The checks before a run, then the configuration the analyzer is built from.
  static const queue::QueueConfig& checked(const SimulatedReplica& server, const WorkloadSpec& workload,
                                           const FleetSpec& fleet, const SimOptions& options) {
    if (options.mode == Mode::iteration && server.queue.service_model != "iteration" && server.queue.service_model != "vllm")
      throw InvalidArgument("the iteration simulation runs the engine loop of the 'iteration' and 'vllm' service models; got service model '" +
                            server.queue.service_model + "' (use mode 'markov' for other models)");
    validate(server, workload, fleet, options);
    return server.queue;
  }

  double next_arrival_ms() {
    const double t = next_offered_ms();
    return t < arrivals_end_ms ? t : kInf;
  }

  double next_offered_ms() {
    if (closed) return !client_due.empty() && client_due.top() < duration_ms ? client_due.top() : kInf;
    if (from_trace) {
      return trace_pos < trace.size() && trace[trace_pos].time_s < options.duration_s ? 1000 * trace[trace_pos].time_s : kInf;
    }
    return 1000 * clock.next();
  }

  // Moves the time integrals (measured window, and the counters' whole-run ones) to t.
  void advance(double t) {
    const double a = std::max(last_ms, warmup_ms), b = std::min(t, duration_ms);
    if (b > a) {
      const double dt = b - a;
      int_system += in_system * dt;
      int_service += in_service * dt;
      int_waiting += waiting_total * dt;
      int_busy += busy * dt;
      int_existing += existing * dt;
      int_serving += serving * dt;
      // Split across batch slices for the L half-width.
      double x = a;
      while (x < b) {
        const std::size_t k = slice_of(x, warmup_ms, window_ms, batches);
        const double slice_end = std::min(b, warmup_ms + window_ms * static_cast<double>(k + 1) / batches);
        slice_system[k] += in_system * (slice_end - x);
        x = slice_end > x ? slice_end : b;
      }
    }
    if (t > counted_ms) {
      const double dt_s = (t - counted_ms) / 1000;
      counters.running_seconds += in_service * dt_s;
      counters.waiting_seconds += waiting_total * dt_s;
      counters.replica_seconds += existing * dt_s;
      counted_ms = t;
    }
    last_ms = std::max(last_ms, t);
  }

  void refresh_counts() {
    in_system = in_service = waiting_total = busy = existing = serving = 0;
    for (const auto& r : reps) {
      if (!r.exists) continue;
      existing += 1;
      serving += r.serving;
      in_service += r.batch;
      waiting_total += static_cast<double>(r.waiting.size());
      in_system += r.batch + static_cast<double>(r.waiting.size());
      busy += r.batch > 0;
    }
  }

  void complete(int id, double now) {
    Request& q = reqs[static_cast<std::size_t>(id)];
    q.finish_ms = now;
    ++sum.total_completed;
    ++counters.request_success;
    counters.generation_tokens += q.out;
    counters.e2e_sum_s += (now - q.arrival_ms) / 1000;
    if (closed) client_due.push(now + think_ms);
    if (now >= warmup_ms && now <= duration_ms) slice_done[slice_of(now, warmup_ms, window_ms, batches)] += 1;
  }

  // on_demand: frees a request's cache and puts it back at the head of the queue; it will
  // recompute its prompt and the tokens it had generated (vLLM's preemption by recompute).
  void preempt(Replica& rep, int id) {
    Request& q = reqs[static_cast<std::size_t>(id)];
    rep.running.erase({q.admitted, id});
    const auto in_prefill = std::find(rep.prefilling.begin(), rep.prefilling.end(), id);
    if (in_prefill != rep.prefilling.end()) {
      rep.prefilling.erase(in_prefill);
      rep.prefill_kv -= q.prompt;
      rep.outstanding += q.prefix;
    } else {
      const long decoded = rep.iteration - 1 - q.join_iteration;  // decode steps completed
      rep.decode_read -= static_cast<double>(q.prompt + 1 + decoded);
      --rep.decoding;
      q.prompt += static_cast<int>(decoded);
      q.remaining -= static_cast<int>(decoded);
      rep.outstanding += q.prompt;
      const auto pending = std::find(rep.first_pending.begin(), rep.first_pending.end(), id);
      if (pending != rep.first_pending.end()) rep.first_pending.erase(pending);
    }
    q.prefix = 0;
    ++q.epoch;
    --rep.batch;
    rep.waiting.push_front(id);
    ++sum.preemptions;
  }

  // Iteration mode: start the next engine iteration at `now` (admission, then the work).
  void start_iteration(Replica& rep, double now) {
    bool admit = true;
    if (on_demand) {
      // Every decoder's cache grows by one token in this iteration; make room for that first. A
      // request alone is never preempted: it fits (it was admitted), and preempting it would leave
      // the engine with nothing to run.
      while (rep.running.size() > 1 && rep.prefill_kv + rep.decode_read + rep.decoding > server.kv_capacity_tokens) {
        preempt(rep, std::prev(rep.running.end())->second);
        admit = false;  // as vLLM: nothing is admitted in a step that preempted
      }
    }
    while (admit && rep.batch < n_cap && !rep.waiting.empty()) {
      const int id = rep.waiting.front();
      Request& q = reqs[static_cast<std::size_t>(id)];
      if (on_demand) {
        if (rep.prefill_kv + rep.decode_read + rep.decoding + q.prompt > server.kv_capacity_tokens) break;
        rep.prefill_kv += q.prompt;
        q.admitted = rep.admissions++;
        rep.running.insert({q.admitted, id});
      } else if (server.kv_capacity_tokens > 0) {
        if (rep.kv_used + q.in + q.out > server.kv_capacity_tokens) break;
        rep.kv_used += q.in + q.out;
      }
      rep.waiting.pop_front();
      if (q.start_ms < 0) q.start_ms = now;
      rep.prefilling.push_back(id);
      ++rep.batch;
    }
    if (rep.batch == 0) {
      rep.next_event_ms = kInf;
      return;
    }
    sum.max_batch_seen = std::max(sum.max_batch_seen, rep.batch);
    long computed = rep.decoding;
    double reads = rep.decode_read;
    long left = static_cast<long>(budget) - rep.decoding;
    long sequences = rep.decoding;
    double attention_pairs = 0;  // prompt token pairs the prefill chunks attend over (causal)
    rep.just_prefilled.clear();
    for (int id : rep.prefilling) {
      Request& q = reqs[static_cast<std::size_t>(id)];
      const int rest = q.prompt - q.prefix;
      if (rest > 0) {
        if (left <= 0) continue;
        const int s = static_cast<int>(std::min<long>(rest, left));
        computed += s;
        reads += q.prefix + s;
        // A chunk of s tokens after `prefix` cached ones: s·prefix pairs plus s²/2 within the
        // chunk, so that a prompt of n tokens sums to n²/2 however it is chunked.
        attention_pairs += static_cast<double>(s) * (static_cast<double>(q.prefix) + 0.5 * s);
        q.prefix += s;
        left -= s;
      }
      ++sequences;
      if (q.prefix == q.prompt) rep.just_prefilled.push_back(id);
    }
    sum.max_tokens_in_iteration = std::max(sum.max_tokens_in_iteration, computed);
    rep.outstanding -= static_cast<double>(computed);
    double t_iter = alpha + beta * static_cast<double>(computed) + gamma_kv * reads;
    if (delta_seq > 0) t_iter += delta_seq * static_cast<double>(sequences) * static_cast<double>(sequences);
    if (epsilon_attn > 0) t_iter += epsilon_attn * attention_pairs;
    if (noise_sigma > 0) t_iter *= std::exp(noise_sigma * service_rng.normal() - 0.5 * noise_sigma * noise_sigma);
    rep.next_event_ms = now + t_iter;
    ++sum.iterations;
    // Every request decoding in this iteration waits t_iter for its next token.
    if (rep.decoding > 0) {
      counters.itl_sum_s += t_iter / 1000 * rep.decoding;
      counters.itl_count += rep.decoding;
      if (now >= warmup_ms && now < duration_ms) token_intervals.push_back({now, t_iter, rep.decoding});
    }
  }

  void end_iteration(Replica& rep, double now) {
    for (int id : rep.first_pending) {
      Request& q = reqs[static_cast<std::size_t>(id)];
      q.first_ms = now;
      counters.ttft_sum_s += (now - q.arrival_ms) / 1000;
      ++counters.ttft_count;
    }
    rep.first_pending.clear();
    while (!rep.finishing.empty() && std::get<0>(rep.finishing.top()) <= rep.iteration) {
      const auto [at, id, epoch] = rep.finishing.top();
      rep.finishing.pop();
      const Request& q = reqs[static_cast<std::size_t>(id)];
      if (epoch != q.epoch || at != rep.iteration) continue;  // preempted since this entry was made
      rep.decode_read -= q.prompt + q.remaining;
      if (on_demand) rep.running.erase({q.admitted, id});
      else rep.kv_used -= q.in + q.out;
      --rep.decoding;
      --rep.batch;
      complete(id, now);
    }
    rep.decode_read += rep.decoding;  // every remaining decoder reads one more cached token
    if (!rep.just_prefilled.empty()) {
      // Remove the finished prefills, keeping the FCFS order of the others.
      std::size_t k = 0;
      std::deque<int> kept;
      for (int id : rep.prefilling) {
        if (k < rep.just_prefilled.size() && rep.just_prefilled[k] == id) ++k;
        else kept.push_back(id);
      }
      rep.prefilling.swap(kept);
      for (int id : rep.just_prefilled) {
        Request& q = reqs[static_cast<std::size_t>(id)];
        if (q.prefill_done_ms < 0) {
          q.prefill_done_ms = now;  // a recompute keeps the first prefill's time
          counters.prompt_tokens += q.in;
        }
        ++rep.decoding;
        if (on_demand) rep.prefill_kv -= q.prompt;
        rep.decode_read += q.prompt + 1;
        q.join_iteration = rep.iteration;
        rep.finishing.push({rep.iteration + q.remaining, id, q.epoch});
        if (q.first_ms < 0) rep.first_pending.push_back(id);
      }
      rep.just_prefilled.clear();
    }
    ++rep.iteration;
  }

  // Markov mode: a state change; the next completion is exponential at μ_B.
  void resample(Replica& rep, double now) {
    const auto b = rep.in_service.size();
    rep.next_event_ms = b == 0 ? kInf : now + service_rng.exponential() / mu[b - 1];
  }

  void markov_admit(Replica& rep, double now) {
    while (static_cast<int>(rep.in_service.size()) < n_cap && !rep.waiting.empty()) {
      const int id = rep.waiting.front();
      rep.waiting.pop_front();
      reqs[static_cast<std::size_t>(id)].start_ms = now;
      rep.in_service.push_back(id);
    }
    rep.batch = static_cast<int>(rep.in_service.size());
    sum.max_batch_seen = std::max(sum.max_batch_seen, rep.batch);
  }

  int route() {
    int best = -1;
    const auto n = reps.size();
    switch (fleet.router) {
      case Router::round_robin:
        for (std::size_t k = 0; k < n; ++k) {
          const std::size_t i = (rr_next + k) % n;
          if (reps[i].exists && reps[i].serving) {
            rr_next = i + 1;
            return static_cast<int>(i);
          }
        }
        return -1;
      case Router::join_shortest_queue: {
        double best_load = kInf;
        for (std::size_t i = 0; i < n; ++i) {
          if (!reps[i].exists || !reps[i].serving) continue;
          const double load = reps[i].batch + static_cast<double>(reps[i].waiting.size());
          if (load < best_load) best_load = load, best = static_cast<int>(i);
        }
        return best;
      }
      case Router::least_outstanding_tokens: {
        double best_load = kInf;
        for (std::size_t i = 0; i < n; ++i) {
          if (!reps[i].exists || !reps[i].serving) continue;
          if (reps[i].outstanding < best_load) best_load = reps[i].outstanding, best = static_cast<int>(i);
        }
        return best;
      }
    }
    return best;
  }

  // +k replicas (serving after `startup_s`) or -k (the newest serving or starting ones drain).
  void rescale(int delta, double t, double startup_s) {
    if (delta > 0) {
      for (int k = 0; k < delta; ++k) {
        Replica r;
        r.serving = startup_s == 0;
        r.ready_ms = t + 1000 * startup_s;
        reps.push_back(std::move(r));
      }
      return;
    }
    for (int k = 0; k < -delta; ++k) {
      for (std::size_t i = reps.size(); i-- > 0;) {
        Replica& r = reps[i];
        if (!r.exists || r.draining) continue;
        r.serving = false;
        r.draining = true;
        if (r.batch == 0 && r.waiting.empty()) r.exists = false;
        break;
      }
    }
  }

  // The time of the next event (ms, +∞ when none); `who` is the replica when it is a replica's.
  double next_event(std::size_t& who, double& t_rep, double& t_scale, double& t_sample) {
    // The earliest event; ties: replica events, then scaling, then arrivals, then samples.
    t_rep = kInf;
    who = 0;
    for (std::size_t i = 0; i < reps.size(); ++i) {
      const Replica& r = reps[i];
      const bool starting = r.exists && !r.serving && !r.draining;
      const double t = !r.exists ? kInf : starting ? r.ready_ms : r.next_event_ms;
      if (t < t_rep) t_rep = t, who = i;
    }
    t_scale = scale_pos < scaling.size() && 1000 * scaling[scale_pos].time_s <= duration_ms ? 1000 * scaling[scale_pos].time_s : kInf;
    t_sample = sample_at * 1000 <= duration_ms ? 1000 * sample_at : kInf;  // the whole window
    if (closed) arrival_at = next_arrival_ms();  // completions schedule the clients' next requests
    return std::min({t_rep, t_scale, arrival_at, t_sample});
  }

  // Runs the events up to and including time `until_ms`; false when none is left at all.
  bool run_until(double until_ms) {
    while (true) {
      std::size_t who;
      double t_rep, t_scale, t_sample;
      const double t = next_event(who, t_rep, t_scale, t_sample);
      if (t == kInf) return false;
      if (t > until_ms) return true;
      process(t, who, t_rep, t_scale);
    }
  }

  void process(double t, std::size_t who, double t_rep, double t_scale) {
    advance(t);
    if (t == t_rep) {
      Replica& rep = reps[who];
      if (!rep.serving && !rep.draining) {  // start-up finished
        rep.serving = true;
      } else if (options.mode == Mode::iteration) {
        end_iteration(rep, t);
        start_iteration(rep, t);
      } else {
        const auto pick = static_cast<std::size_t>(service_rng.below(rep.in_service.size()));
        const int id = rep.in_service[pick];
        rep.in_service[pick] = rep.in_service.back();
        rep.in_service.pop_back();
        rep.outstanding -= reqs[static_cast<std::size_t>(id)].in + reqs[static_cast<std::size_t>(id)].out;
        complete(id, t);
        markov_admit(rep, t);
        resample(rep, t);
      }
      if (rep.draining && rep.batch == 0 && rep.waiting.empty()) rep.exists = false;
    } else if (t == t_scale) {
      rescale(scaling[scale_pos++].delta, t, fleet.startup_delay_s);
    } else if (t == arrival_at) {
      arrive(t);
    } else {
      TimeSample s;
      s.time_s = sample_at;
      refresh_counts();
      s.queue_length = waiting_total;
      s.batch = in_service;
      s.replicas = static_cast<int>(serving);
      series.push_back(s);
      sample_at += options.sample_interval_s;
    }
    refresh_counts();
  }

  void arrive(double t) {
    if (closed) client_due.pop();
    Request q;
    q.arrival_ms = t;
    if (from_trace) {
      q.in = static_cast<int>(std::round(trace[trace_pos].in_tokens));
      q.out = std::max(1, static_cast<int>(std::round(trace[trace_pos].out_tokens)));
      ++trace_pos;
    } else {
      q.in = draw_tokens(workload.in_tokens, token_rng, 0);
      q.out = draw_tokens(workload.out_tokens, token_rng, 1);
    }
    q.prompt = q.in;
    q.remaining = q.out;
    const int id = static_cast<int>(reqs.size());
    ++sum.total_arrivals;
    ++counters.arrivals;
    const int r = route();
    bool accepted = false;
    if (r >= 0) {
      Replica& rep = reps[static_cast<std::size_t>(r)];
      const bool room = rep.batch + static_cast<long long>(rep.waiting.size()) < n_cap + q_cap;
      const bool fits = server.kv_capacity_tokens <= 0 || q.in + q.out <= server.kv_capacity_tokens;
      if (room && fits) {
        accepted = true;
        q.replica = r;
        reqs.push_back(q);
        rep.waiting.push_back(id);
        rep.outstanding += q.in + q.out;
        if (options.mode == Mode::iteration) {
          if (rep.next_event_ms == kInf) start_iteration(rep, t);  // an idle engine starts at once
        } else {
          markov_admit(rep, t);
          resample(rep, t);
        }
      }
    }
    if (!accepted) {
      q.blocked = true;
      q.replica = r;
      reqs.push_back(q);
      ++sum.total_blocked;
      ++counters.blocked;
      // A blocked client tries again after its think time, and at least 1 ms later.
      if (closed) client_due.push(t + std::max(think_ms, 1.0));
    }
    arrival_at = next_arrival_ms();
  }

  ServerCounters snapshot(double now_ms) const {
    ServerCounters c = counters;
    c.time_s = now_ms / 1000;
    int replicas_serving = 0, replicas_starting = 0, replicas_draining = 0;
    double kv = 0;
    int running = 0, waiting = 0;
    for (const auto& r : reps) {
      if (!r.exists) continue;
      replicas_serving += r.serving;
      replicas_draining += r.draining;
      replicas_starting += !r.serving && !r.draining;
      running += r.batch;
      waiting += static_cast<int>(r.waiting.size());
      if (server.kv_capacity_tokens > 0)
        kv += (on_demand ? r.prefill_kv + r.decode_read : r.kv_used) / server.kv_capacity_tokens;
    }
    c.running = running;
    c.waiting = waiting;
    c.replicas_serving = replicas_serving;
    c.replicas_starting = replicas_starting;
    c.replicas_draining = replicas_draining;
    const int with_cache = replicas_serving + replicas_draining;
    c.kv_cache_usage = with_cache > 0 ? kv / with_cache : 0.0;
    return c;
  }

  SimResult result() {
    advance(std::max(last_ms, duration_ms));
    // Statistics over requests arriving in the measured window.
    std::vector<std::pair<double, double>> ttft, itl, e2e, wait;
    for (const Request& q : reqs) {
      if (q.arrival_ms < warmup_ms || q.arrival_ms >= duration_ms) continue;
      ++sum.arrivals;
      if (q.blocked) {
        ++sum.blocked;
        continue;
      }
      if (q.finish_ms < 0) continue;
      ++sum.completed;
      e2e.push_back({q.arrival_ms, q.finish_ms - q.arrival_ms});
      wait.push_back({q.arrival_ms, q.start_ms - q.arrival_ms});
      if (options.mode == Mode::iteration) {
        ttft.push_back({q.arrival_ms, q.first_ms - q.arrival_ms});
        itl.push_back({q.arrival_ms, (q.finish_ms - q.prefill_done_ms) / q.out});
      }
    }
    for (const Request& q : reqs) sum.unfinished += !q.blocked && q.finish_ms < 0;
    sum.window_s = window_ms / 1000;
    sum.ttft_ms = make_stat(ttft, warmup_ms, window_ms, batches);
    sum.itl_ms = make_stat(itl, warmup_ms, window_ms, batches);
    sum.token_itl_ms = token_stat(token_intervals, warmup_ms, window_ms, batches);
    sum.e2e_ms = make_stat(e2e, warmup_ms, window_ms, batches);
    sum.wait_ms = make_stat(wait, warmup_ms, window_ms, batches);
    double done = 0;
    std::vector<double> rates, levels;
    for (std::size_t k = 0; k < slice_done.size(); ++k) {
      done += slice_done[k];
      rates.push_back(slice_done[k] / (window_ms / batches) * 1000);
      levels.push_back(slice_system[k] / (window_ms / batches));
    }
    sum.throughput_rps = done / window_ms * 1000;
    sum.throughput_half_width = half_width(rates);
    sum.offered_rps = static_cast<double>(sum.arrivals) / sum.window_s;
    sum.mean_num_in_system = int_system / window_ms;
    sum.num_in_system_half_width = half_width(levels);
    sum.mean_num_in_service = int_service / window_ms;
    sum.mean_queue_length = int_waiting / window_ms;
    sum.utilisation = int_existing > 0 ? int_busy / int_existing : 0.0;
    sum.mean_replicas = int_serving / window_ms;
    sum.blocking_prob = sum.arrivals > 0 ? static_cast<double>(sum.blocked) / static_cast<double>(sum.arrivals) : 0.0;

    SimResult out;
    out.summary = sum;
    out.series = series;
    if (options.keep_requests) {
      out.requests.reserve(reqs.size());
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        const Request& q = reqs[i];
        RequestRecord r;
        r.id = static_cast<std::int64_t>(i);
        r.arrival_ms = q.arrival_ms;
        r.start_ms = q.start_ms;
        r.first_token_ms = q.first_ms;
        r.finish_ms = q.finish_ms;
        r.in_tokens = q.in;
        r.out_tokens = q.out;
        r.replica = q.replica;
        r.blocked = q.blocked;
        out.requests.push_back(r);
      }
    }
    return out;
  }
};

Simulator::Simulator(const SimulatedReplica& server, const WorkloadSpec& workload, const FleetSpec& fleet,
                     const SimOptions& options)
    : engine_(std::make_unique<Engine>(server, workload, fleet, options)) {}
Simulator::~Simulator() = default;
Simulator::Simulator(Simulator&&) noexcept = default;
Simulator& Simulator::operator=(Simulator&&) noexcept = default;

double Simulator::now_s() const { return now_ms_ / 1000; }

void Simulator::advance_to(double time_s) {
  if (finished_) throw InvalidArgument("the simulation has finished: advance_to is not possible after finish()");
  require(std::isfinite(time_s) && time_s >= now_s() && time_s <= 1e8, "time_s",
          "a finite number in [now_s, 1e8] (time only moves forward)", time_s);
  engine_->run_until(1000 * time_s);
  now_ms_ = 1000 * time_s;
  engine_->advance(now_ms_);
}

void Simulator::scale_to(int replicas, double startup_delay_s) {
  if (finished_) throw InvalidArgument("the simulation has finished: scale_to is not possible after finish()");
  require(replicas >= 0 && replicas <= kMaxSimReplicas, "replicas", "an integer in [0, 1000]", replicas);
  require_finite_in("startup_delay_s", startup_delay_s, 0, false, 1e8);
  if (engine_->closed) {  // the run's size was bounded for the replicas known at the start
    int most = engine_->fleet.replicas;
    for (const auto& e : engine_->fleet.scale_events) most += std::max(0, e.delta);
    require(replicas <= most, "replicas", "at most " + std::to_string(most) + " with closed arrivals (the run size was bounded for them)", replicas);
  }
  const ServerCounters c = engine_->snapshot(now_ms_);
  // Draining replicas are on their way out: the target counts serving and starting ones.
  const int delta = replicas - (c.replicas_serving + c.replicas_starting);
  if (delta == 0) return;
  engine_->advance(now_ms_);
  engine_->rescale(delta, now_ms_, startup_delay_s);
  engine_->refresh_counts();
}

void Simulator::stop_arrivals_at(double time_s) {
  if (finished_) throw InvalidArgument("the simulation has finished: stop_arrivals_at is not possible after finish()");
  require(std::isfinite(time_s) && time_s >= now_s(), "time_s", "a finite number >= now_s", time_s);
  Engine& e = *engine_;
  e.arrivals_end_ms = std::min(e.arrivals_end_ms, 1000 * time_s);
  if (e.arrival_at >= e.arrivals_end_ms) e.arrival_at = kInf;
}

ServerCounters Simulator::counters() const { return engine_->snapshot(now_ms_); }

SimResult Simulator::finish() {
  if (finished_) throw InvalidArgument("the simulation has finished already");
  engine_->run_until(kInf);
  finished_ = true;
  return engine_->result();
}

SimResult simulate(const SimulatedReplica& server, const WorkloadSpec& workload, const FleetSpec& fleet,
                   const SimOptions& options) {
  return Simulator(server, workload, fleet, options).finish();
}

}  // namespace inferno::sim
