#include "inferno/queue/analyzer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "inferno/error.hpp"
#include "inferno/queue/limits.hpp"
#include "inferno/queue/percentiles.hpp"
#include "inferno/queue/window.hpp"
#include "bracket.hpp"

namespace inferno::queue {

void validate_analyzer_options(const AnalyzerOptions& options) {
  require_finite_in("arrival_cov", options.arrival_cov, 0.0, false, kMaxCov);
  require_finite_in("service_cov", options.service_cov, 0.0, false, kMaxCov);
  require_finite_in("in_tokens_spread", options.in_tokens_spread, 0.0, false, 1.0);
}

QueueAnalyzer::QueueAnalyzer(const QueueConfig& config)
    : max_batch_(config.max_batch), max_queue_(config.max_queue), options_(config.options) {
  require(config.max_batch >= 1 && config.max_batch <= kMaxBatchLimit, "max_batch",
          "an integer in [1, " + std::to_string(kMaxBatchLimit) + "]", config.max_batch);
  require(config.max_queue >= 0, "max_queue", "an integer >= 0",
          static_cast<double>(config.max_queue));
  model_ = make_service_model(config.service_model, config.params, config.shape, config.max_batch);
  init();
}

QueueAnalyzer::QueueAnalyzer(std::shared_ptr<const ServiceModel> model, int max_batch,
                             std::int64_t max_queue, const AnalyzerOptions& options)
    : model_(std::move(model)), max_batch_(max_batch), max_queue_(max_queue), options_(options) {
  if (!model_) throw InvalidArgument("service model must not be null");
  if (!(max_batch >= 1 && max_batch <= model_->max_batch()))
    require(false, "max_batch", "an integer in [1, " + std::to_string(model_->max_batch()) + "]", max_batch);
  if (max_queue < 0) require(false, "max_queue", "an integer >= 0", static_cast<double>(max_queue));
  init();
}

void QueueAnalyzer::init() {
  validate_analyzer_options(options_);
  kappa_ = (options_.arrival_cov * options_.arrival_cov +
            options_.service_cov * options_.service_cov) / 2.0;
  const auto& tau = model_->service_times_ms();
  auto table = std::make_shared<RateTable>();
  table->rates = completion_rates_from_service_times(
      std::vector<double>(tau.begin(), tau.begin() + max_batch_));
  const auto& mu = table->rates.mu;
  table->peak_batch.resize(mu.size());
  int best = 0;
  for (std::size_t i = 0; i < mu.size(); ++i) {
    if (mu[i] > mu[static_cast<std::size_t>(best)]) best = static_cast<int>(i);
    table->peak_batch[i] = best + 1;
  }
  table_ = std::move(table);
  set_cap();
}

void QueueAnalyzer::set_cap() {
  peak_batch_ = table_->peak_batch[static_cast<std::size_t>(max_batch_) - 1];
  peak_rate_rps_ = 1000.0 * table_->rates.mu[static_cast<std::size_t>(peak_batch_) - 1];
  itl_table_ = std::make_shared<ItlTable>();
}

QueueAnalyzer::QueueAnalyzer(const QueueAnalyzer& base, int max_batch, std::int64_t max_queue)
    : model_(base.model_), max_batch_(max_batch), max_queue_(max_queue), options_(base.options_),
      kappa_(base.kappa_), table_(base.table_) {
  if (!(max_batch >= 1 && max_batch <= base.max_batch_))
    require(false, "max_batch", "an integer in [1, " + std::to_string(base.max_batch_) + "]", max_batch);
  if (max_queue < 0) require(false, "max_queue", "an integer >= 0", static_cast<double>(max_queue));
  set_cap();
}

CompletionRates QueueAnalyzer::rates() const {
  const CompletionRates& r = table_->rates;
  const auto n = static_cast<long>(max_batch_);
  CompletionRates out;
  out.mu.assign(r.mu.begin(), r.mu.begin() + n);
  out.log_mu.assign(r.log_mu.begin(), r.log_mu.begin() + n);
  out.inv_mu.assign(r.inv_mu.begin(), r.inv_mu.begin() + n);
  out.cum_log_mu.assign(r.cum_log_mu.begin(), r.cum_log_mu.begin() + n + 1);
  out.nondecreasing_prefix = std::min(r.nondecreasing_prefix, max_batch_);
  return out;
}

const QueueAnalyzer::ItlTable& QueueAnalyzer::itl_table() const {
  std::call_once(itl_table_->once, [this] {
    ItlTable& t = *itl_table_;
    t.itl_ms.resize(static_cast<std::size_t>(max_batch_));
    for (int b = 1; b <= max_batch_; ++b) t.itl_ms[b - 1] = model_->itl_ms(b, max_batch_);
    t.order.resize(static_cast<std::size_t>(max_batch_));
    std::iota(t.order.begin(), t.order.end(), 0);
    std::stable_sort(t.order.begin(), t.order.end(), [&](int a, int b) { return t.itl_ms[a] < t.itl_ms[b]; });
  });
  return *itl_table_;
}

void QueueAnalyzer::evaluate(double rate_rps, Evaluation& ev) const {
  if (!(std::isfinite(rate_rps) && rate_rps > 0 && rate_rps <= kMaxRateRps))
    require_finite_in("rate_rps", rate_rps, 0.0, true, kMaxRateRps);
  ChainSolution& c = ev.chain;
  solve_chain(rate_rps / 1000.0, table_->rates, max_batch_, max_queue_, ev.head, c);
  const MeanSplit split = model_->mean_split_for_arrivals(c.service_ms, c.num_in_service, max_batch_,
                                                          options_.arrival_cov * options_.arrival_cov);

  Metrics& m = ev.metrics;
  m.offered_rps = rate_rps;
  m.throughput_rps = 1000.0 * c.throughput;
  m.dropped_rps = rate_rps * c.prob_full;
  m.service_time_ms = c.service_ms;
  m.prefill_time_ms = split.prefill_ms;
  m.itl_ms = split.itl_ms;
  m.num_in_service = c.num_in_service;
  m.rho = std::clamp(c.num_in_service / max_batch_, 0.0, 1.0);
  m.loss_prob = c.prob_full;
  m.busy_prob = c.busy;
  m.prob_wait = prob_wait(c, table_->rates);
  m.tokens_per_sec = m.throughput_rps * model_->tokens_per_request();
  if (kappa_ == 1.0) {
    m.wait_time_ms = c.wait_ms;
    m.resp_time_ms = c.response_ms;
    m.queue_length = c.queue_length;
    m.num_in_system = c.num_in_system;
  } else {  // Allen–Cunneen: scale the queueing delay only (docs/queueing-model.md §8)
    m.wait_time_ms = kappa_ * c.wait_ms;
    m.resp_time_ms = m.wait_time_ms + c.service_ms;
    m.queue_length = c.throughput * m.wait_time_ms;
    m.num_in_system = c.num_in_service + m.queue_length;
  }
  m.resp_time_ms += split.arrival_adjust_ms;
  m.ttft_ms = m.wait_time_ms + split.post_queue_ms;
  ev.post_queue_ms = split.post_queue_ms;
  ev.post_queue_spread_ms = split.post_queue_spread_ms;
  ev.post_queue_jitter_ms = options_.in_tokens_spread * split.own_prefill_ms;
}

Metrics QueueAnalyzer::analyze(double rate_rps) const {
  Evaluation ev;
  evaluate(rate_rps, ev);
  return ev.metrics;
}

double QueueAnalyzer::burst_throughput_rps(double window_ms, double out_tokens_spread) const {
  require_finite_in("window_ms", window_ms, 0, true, 1e15);
  require_finite_in("out_tokens_spread", out_tokens_spread, 0, false, 1);
  const double service_ms = model_->service_times_ms()[static_cast<std::size_t>(max_batch_) - 1];
  // Output lengths uniform in m(1 ± s) have cv s/√3; only the decode part of τ_N scales with them.
  const MeanSplit split = model_->mean_split(service_ms, max_batch_, max_batch_);
  const double decode_ms = std::max(0.0, model_->tokens_per_request() - 1.0) * split.itl_ms;
  const double decode_share = std::min(1.0, decode_ms / service_ms);
  const double cv = out_tokens_spread / std::sqrt(3.0) * decode_share;
  return 1000.0 * max_batch_ * expected_completions(service_ms, cv, window_ms) / window_ms;
}

double QueueAnalyzer::wait_survival(const Evaluation& ev, double t_ms) const {
  if (kappa_ == 0) return 0.0;
  return queue::wait_survival(ev.chain, table_->rates, t_ms / kappa_);
}

double QueueAnalyzer::wait_quantile(const Evaluation& ev, double p) const {
  return kappa_ * queue::wait_quantile(ev.chain, table_->rates, p);
}

namespace {
// P(W + V > s) for V = U1 + U2, U1 uniform on [0, a] (the phase of the iteration boundary) and U2
// on [-b, b] (the prompt's length), independent of the queue wait W. V has a trapezoidal density;
// the integrand is smooth between its kinks (-b, a - b, b, a + b) and the jump of P(W > s - v) at
// v = s, so Simpson's rule on each piece between them is accurate (exact where it is linear).
template <class WaitSurvival>
double spread_survival(double s, double a, double b, const WaitSurvival& wait_survival) {
  const auto density = [&](double v) {
    const double overlap = std::min(a, v + b) - std::max(0.0, v - b);
    if (a <= 0) return std::abs(v) <= b ? 1.0 / (2 * b) : 0.0;
    return std::max(0.0, overlap) / (a * 2 * b);
  };
  const auto integrand = [&](double v) { return density(v) * (s - v < 0 ? 1.0 : wait_survival(s - v)); };
  double cuts[] = {-b, a - b, b, a + b, s};
  std::sort(std::begin(cuts), std::end(cuts));
  double total = 0;
  for (int k = 0; k + 1 < 5; ++k) {
    const double lo = std::max(-b, cuts[k]), hi = std::min(a + b, cuts[k + 1]);
    if (!(hi > lo)) continue;
    constexpr int kPanels = 16;
    // Inside a piece: nudge the ends off the kinks, where the one-sided values are the right ones.
    const double h = (hi - lo) / kPanels;
    double piece = 0;
    for (int i = 0; i <= kPanels; ++i) {
      const double v = i == 0 ? lo + 1e-12 * h : i == kPanels ? hi - 1e-12 * h : lo + i * h;
      piece += (i == 0 || i == kPanels ? 1 : (i % 2 ? 4 : 2)) * integrand(v);
    }
    total += piece * h / 3.0;
  }
  return std::clamp(total, 0.0, 1.0);
}
}  // namespace

double QueueAnalyzer::ttft_quantile(const Evaluation& ev, double p) const {
  const double width = ev.post_queue_spread_ms;
  const double jitter = ev.post_queue_jitter_ms;
  if (jitter > 0) {
    // TTFT = W + (post_queue - width/2) + U1 + U2 (spread_survival); the quantile lies in
    // [q_W(p) - b, q_W(p) + a + b].
    if (!(p > 0 && p < 1)) throw InvalidArgument("quantile probability must be in (0, 1)");
    const double base = ev.post_queue_ms - 0.5 * width;
    const auto wait_tail = [&](double t) { return ev.metrics.prob_wait > 0 ? wait_survival(ev, t) : 0.0; };
    const auto f = [&](double s) { return (1.0 - p) - spread_survival(s, width, jitter, wait_tail); };
    const double q = wait_quantile(ev, p), lo = q - jitter, hi = q + width + jitter;
    return base + detail::refine_crossing(f, lo, f(lo), hi, f(hi), 1e-12, 200).second;
  }
  if (!(width > 0)) return wait_quantile(ev, p) + ev.post_queue_ms;
  // TTFT = W + U + (post_queue - width/2), U uniform on [0, width] and independent of the queue
  // wait W. P(W + U > s) = (1/width)·∫₀^width P(W > s - u) du: the part with s - u < 0 is 1, the
  // rest is ∫ of P(W > t) over t in [max(0, s - width), s], smooth there (the atom of W at 0 is
  // outside the open interval), by Simpson's rule on 32 panels. The quantile lies in
  // [q_W(p), q_W(p) + width] and is refined there as the wait quantile is, returning the
  // conservative end.
  if (!(p > 0 && p < 1)) throw InvalidArgument("quantile probability must be in (0, 1)");
  const double base = ev.post_queue_ms - 0.5 * width;
  if (ev.metrics.prob_wait <= 0) return base + p * width;  // no queueing: U alone
  const auto survival = [&](double s) {
    constexpr int kPanels = 32;
    const double from = std::max(0.0, s - width);
    const double h = (s - from) / kPanels;
    double integral = 0;
    if (h > 0) {
      for (int i = 0; i <= kPanels; ++i)
        integral += (i == 0 || i == kPanels ? 1 : (i % 2 ? 4 : 2)) * wait_survival(ev, from + i * h);
      integral *= h / 3.0;
    }
    return (std::max(0.0, width - s) + integral) / width;
  };
  const double exceed = 1.0 - p;
  const auto f = [&](double s) { return exceed - survival(s); };  // <= 0 below the quantile
  const double lo = wait_quantile(ev, p), hi = lo + width;
  return base + detail::refine_crossing(f, lo, f(lo), hi, f(hi), 1e-12, 200).second;
}

namespace {
// Weight of batch occupancy b (1-based) in the ITL distribution, unnormalised.
double occupancy_weight(const ChainSolution& c, const std::vector<double>& head, int b,
                        double itl_ms, ItlWeighting weighting) {
  const double q_b = b < c.max_batch ? head[b] : head[b] + c.tail_mass;  // ∝ P(min(k,N) = b)
  const double time_weight = b * q_b;
  return weighting == ItlWeighting::token ? time_weight / itl_ms : time_weight;
}
}  // namespace

double QueueAnalyzer::itl_quantile(const Evaluation& ev, double p) const {
  if (!(p > 0 && p < 1)) throw InvalidArgument("quantile probability must be in (0, 1)");
  const ItlTable& t = itl_table();
  double total = 0;
  for (int b = 1; b <= max_batch_; ++b)
    total += occupancy_weight(ev.chain, ev.head, b, t.itl_ms[b - 1], options_.itl_weighting);
  if (!(total > 0)) return t.itl_ms.front();  // vanishing load: always alone in the batch
  const double needed = p * total;
  double cumulative = 0;
  for (int index : t.order) {
    cumulative +=
        occupancy_weight(ev.chain, ev.head, index + 1, t.itl_ms[index], options_.itl_weighting);
    if (cumulative >= needed) return t.itl_ms[index];
  }
  return t.itl_ms[t.order.back()];
}

namespace {
// The quantile at p of atoms (value, weight) sorted by value, of total weight `total`.
double atom_quantile(const std::vector<std::pair<double, double>>& atoms, double total, double p) {
  const double needed = p * total;
  double cumulative = 0;
  for (const auto& [value, weight] : atoms) {
    cumulative += weight;
    if (cumulative >= needed) return value;
  }
  return atoms.back().first;
}
}  // namespace

double QueueAnalyzer::tpot_quantile(const Evaluation& ev, double p) const {
  if (!(p > 0 && p < 1)) throw InvalidArgument("quantile probability must be in (0, 1)");
  double total = 0;
  const std::vector<std::pair<double, double>> atoms = tpot_atoms(ev, total);
  return atom_quantile(atoms, total, p);
}

std::vector<std::pair<double, double>> QueueAnalyzer::tpot_atoms(const Evaluation& ev, double& total) const {
  const ChainSolution& c = ev.chain;
  const auto& head = ev.head;
  // A request admitted into a batch of b (itself included) sees the occupancy relax towards its
  // mean over its life: as for M/M/∞ over one mean service time, its life-average occupancy is
  // x_b = L_s + (1 - 1/e)(b - b̄). Its TPOT is the ITL there, shifted so that the mean of the
  // distribution is the model's mean ITL. Arrivals see the chain's time average (PASTA):
  // b = k + 1 for k < N others present, N when it had to queue.
  const int n = max_batch_;
  std::vector<std::pair<double, double>> atoms(static_cast<std::size_t>(n));  // (value, weight)
  total = 0;
  double mean_b = 0;
  for (int b = 1; b <= n; ++b) {
    const double w = b < n ? head[static_cast<std::size_t>(b - 1)]
                           : head[static_cast<std::size_t>(n - 1)] + head[static_cast<std::size_t>(n)] + c.tail_mass;
    atoms[static_cast<std::size_t>(b - 1)].second = w;
    total += w;
    mean_b += w * b;
  }
  const double occupancy = std::max(1.0, ev.metrics.num_in_service);
  const double shift = ev.metrics.itl_ms - model_->itl_ms(occupancy, n);
  if (!(total > 0)) {  // vanishing load: always alone in the batch
    total = 1;
    return {{model_->itl_ms(1.0, n) + shift, 1.0}};
  }
  mean_b /= total;
  for (int b = 1; b <= n; ++b) {
    const double x = std::max(1.0, occupancy + (1.0 - std::exp(-1.0)) * (b - mean_b));
    atoms[static_cast<std::size_t>(b - 1)].first = model_->itl_ms(x, n) + shift;
  }
  std::sort(atoms.begin(), atoms.end());
  return atoms;
}

ItlDistribution QueueAnalyzer::itl_distribution(const Evaluation& ev) const {
  ItlDistribution dist;
  const ItlTable& t = itl_table();
  double total = 0;
  for (int index : t.order) {
    const double w = occupancy_weight(ev.chain, ev.head, index + 1, t.itl_ms[index],
                                      options_.itl_weighting);
    total += w;
    if (!dist.itl_ms.empty() && dist.itl_ms.back() == t.itl_ms[index]) {
      dist.prob.back() += w;
    } else {
      dist.itl_ms.push_back(t.itl_ms[index]);
      dist.prob.push_back(w);
    }
  }
  if (total > 0) {
    for (double& w : dist.prob) w /= total;
  } else {
    dist.prob.assign(dist.prob.size(), 0.0);
    dist.prob.front() = 1.0;
  }
  return dist;
}

PercentileValues QueueAnalyzer::percentiles(const Evaluation& ev,
                                            const std::vector<double>& percents) const {
  require(percents.size() <= static_cast<std::size_t>(kMaxPercentiles), "percentiles",
          "at most " + std::to_string(kMaxPercentiles) + " values", static_cast<double>(percents.size()));
  PercentileValues out;
  out.percentiles = percents;
  double tpot_total = 0;  // the TPOT atoms once per evaluation, not once per percentile
  const std::vector<std::pair<double, double>> tpot = percents.empty() ? decltype(tpot){} : tpot_atoms(ev, tpot_total);
  for (double pct : percents) {
    require(std::isfinite(pct) && pct > 0 && pct < 100, "percentile", "in (0, 100)", pct);
    const double p = pct / 100.0;
    out.wait_ms.push_back(wait_quantile(ev, p));
    out.ttft_ms.push_back(ttft_quantile(ev, p));
    out.itl_ms.push_back(itl_quantile(ev, p));
    out.tpot_ms.push_back(atom_quantile(tpot, tpot_total, p));
  }
  return out;
}

double QueueAnalyzer::metric_value(const Evaluation& ev, const Constraint& c) const {
  const double p = c.percentile / 100.0;
  switch (c.metric) {
    case TargetMetric::ttft:
      return c.percentile == 0 ? ev.metrics.ttft_ms : ttft_quantile(ev, p);
    case TargetMetric::itl:
      return c.percentile == 0 ? ev.metrics.itl_ms : itl_quantile(ev, p);
    case TargetMetric::wait:
      return c.percentile == 0 ? ev.metrics.wait_time_ms : wait_quantile(ev, p);
    case TargetMetric::loss:
      return ev.metrics.loss_prob;
    case TargetMetric::e2e:
      return ev.metrics.resp_time_ms;
  }
  return 0.0;
}

}  // namespace inferno::queue
