#pragma once
// Discrete-event simulator of continuous-batching inference servers and fleets. Two modes:
// `iteration` runs the engine loop the `iteration` queue model describes (batch cap N, per-
// iteration token budget with chunked prefill, iteration time α + β·computed + γ·KV read, plus
// δ·b² for b sequences with the `vllm` service model), and
// `markov` completes requests at the queue model's state-dependent rates μ_B, i.e. exactly the
// chain the analytical model solves. Deterministic for a seed (own random transforms, one thread).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inferno/enum_names.hpp"
#include "inferno/queue/analyzer.hpp"

namespace inferno::sim {

/// Token counts per request. `fixed`: value; `geometric`: integers >= minimum with the given mean
/// (the discrete exponential); `uniform`: integers in [low, high]; `empirical`: drawn uniformly
/// from `values`.
struct TokenDist {
  enum class Kind { fixed, geometric, uniform, empirical } kind = Kind::fixed;
  double value = 0;  // fixed value, or the mean for geometric
  double low = 0, high = 0;
  std::vector<double> values;
  static TokenDist constant(double v);
  double mean() const;
};

/// Offered load over time: breakpoints (time s, rate req/s), held (`step`) or interpolated
/// (`linear`) between them; before the first breakpoint its rate, after the last the last rate.
struct RateSchedule {
  std::vector<double> times_s, rates_rps;
  bool linear = false;
  bool empty() const { return times_s.empty(); }
};

struct TraceEntry {
  double time_s = 0;
  double in_tokens = 0, out_tokens = 1;
};

struct WorkloadSpec {
  // constant: evenly spaced arrivals at the rate (the benchmark tools' "constant" strategy).
  // closed: `clients` users, each sending its next request `think_time_s` after its previous one
  // completes (a concurrency-limited benchmark: GuideLLM's throughput and concurrent strategies,
  // `vllm bench serve --max-concurrency`).
  enum class Arrivals { poisson, gamma, trace, constant, closed } arrivals = Arrivals::poisson;
  int clients = 0;
  double think_time_s = 0;
  double rate_rps = 1;        // constant rate when `schedule` is empty
  double cv = 1;              // gamma renewal: coefficient of variation of inter-arrival times
  RateSchedule schedule;      // time-varying rate (poisson and gamma)
  std::vector<TraceEntry> trace;
  TokenDist in_tokens, out_tokens;  // ignored for trace arrivals (the trace carries them)
};

enum class Mode { iteration, markov };
enum class Router { round_robin, join_shortest_queue, least_outstanding_tokens };
Mode parse_mode(const std::string& s);
Router parse_router(const std::string& s);
const char* mode_name(Mode m);
const char* router_name(Router r);

/// How the iteration mode uses a finite KV cache. `reserve`: admission reserves prompt + output
/// tokens for the request's lifetime. `on_demand`: as vLLM does, a request is admitted when its
/// prompt fits, its cache grows by one token per decode step, and when the decoders' growth no
/// longer fits, the most recently admitted request is preempted: its cache is freed and it
/// returns to the head of the queue, to recompute its prompt and the tokens it had generated.
enum class KvPolicy { reserve, on_demand };
inline constexpr EnumName<KvPolicy> kKvPolicies[] = {
    {KvPolicy::reserve, "reserve"}, {KvPolicy::on_demand, "on-demand"}, {KvPolicy::on_demand, "on_demand", true}};
inline constexpr EnumName<Mode> kModes[] = {{Mode::iteration, "iteration"}, {Mode::markov, "markov"}};
inline constexpr EnumName<Router> kRouters[] = {
    {Router::round_robin, "round-robin"}, {Router::join_shortest_queue, "jsq"},
    {Router::least_outstanding_tokens, "least-tokens"}, {Router::round_robin, "round_robin", true},
    {Router::join_shortest_queue, "join-shortest-queue", true}, {Router::join_shortest_queue, "join_shortest_queue", true},
    {Router::least_outstanding_tokens, "least_outstanding_tokens", true},
    {Router::least_outstanding_tokens, "least-outstanding-tokens", true}};
KvPolicy parse_kv_policy(const std::string& s);

/// One replica: the queue model's configuration (service model, parameters, N, Q; the request
/// shape is used by the markov mode), plus what only a simulation can represent.
struct SimulatedReplica;
/// The old name (docs/development.md, "Glossary"): "ServerSpec" also named the reference's server
/// document and a sizing request's server.
using ServerSpec [[deprecated("renamed SimulatedReplica")]] = SimulatedReplica;

struct SimulatedReplica {
  queue::QueueConfig queue;
  double kv_capacity_tokens = 0;  // 0 = unlimited
  KvPolicy kv_policy = KvPolicy::reserve;
  double iteration_noise_cv = 0;  // multiplicative log-normal noise on iteration times (mean 1)
};

/// A change of the fleet size at time_s: +k replicas (serving after the start-up delay) or -k
/// (the newest stop taking requests and drain).
struct ScaleEvent {
  double time_s = 0;
  int delta = 0;
};

struct FleetSpec {
  int replicas = 1;
  Router router = Router::round_robin;
  double startup_delay_s = 0;
  std::vector<ScaleEvent> scale_events;
};

struct SimOptions {
  Mode mode = Mode::iteration;
  double duration_s = 600;      // arrivals stop at this time; in-flight requests then drain
  double warmup_s = 0;          // statistics exclude requests arriving and time before this
  std::uint64_t seed = 1;
  double sample_interval_s = 1; // time series resolution (0 = no series)
  int ci_batches = 20;          // batch means for confidence half-widths
  bool keep_requests = true;    // per-request records in the result
};

struct RequestRecord {
  std::int64_t id = 0;
  double arrival_ms = 0, start_ms = -1, first_token_ms = -1, finish_ms = -1;
  int in_tokens = 0, out_tokens = 0;
  int replica = -1;
  bool blocked = false;
};

struct Stat {
  long count = 0;
  double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0;
  double half_width = 0;  // 95 % confidence half-width of the mean (batch means)
};

struct Summary {
  long arrivals = 0, completed = 0, blocked = 0;  // counted over the measured window
  long total_arrivals = 0, total_completed = 0, total_blocked = 0, unfinished = 0;  // whole run
  double window_s = 0;
  double throughput_rps = 0, throughput_half_width = 0;
  double offered_rps = 0;
  Stat ttft_ms, itl_ms, e2e_ms, wait_ms;  // per request (itl: its mean decode interval)
  Stat token_itl_ms;  // per output token: every decode interval (the model's ITL distribution)
  double mean_num_in_system = 0, num_in_system_half_width = 0;
  double mean_num_in_service = 0;  // mean batch, summed over replicas
  double mean_queue_length = 0;
  double utilisation = 0;          // fraction of replica-time with a non-empty batch
  double blocking_prob = 0;
  long iterations = 0;
  long preemptions = 0;            // whole run; on_demand KV policy only
  int max_batch_seen = 0;          // never above N
  long max_tokens_in_iteration = 0; // never above the token budget
  double mean_replicas = 0;
};

struct TimeSample {
  double time_s = 0;
  double queue_length = 0, batch = 0;
  int replicas = 0;  // serving
};

struct SimResult {
  Summary summary;
  std::vector<RequestRecord> requests;  // in arrival order
  std::vector<TimeSample> series;
};

/// What a server's metrics endpoint would report at a moment (docs/simulator.md, "Stepping"):
/// counters since the start, which a sensor turns into rates over a window by differences, as
/// Prometheus's rate() does with vLLM's counters, and gauges at that moment.
struct ServerCounters {
  double time_s = 0;
  // Counters, with the meaning of vLLM's: requests arrived, finished (vllm:request_success_total)
  // and turned away; prompt tokens (counted when a prompt's prefill ends) and generation tokens
  // (when the request finishes); sums and counts of TTFT, of every decode interval weighted by the
  // requests it delayed (vllm:time_per_output_token_seconds) and of end-to-end latency, in seconds.
  long arrivals = 0, request_success = 0, blocked = 0;
  double prompt_tokens = 0, generation_tokens = 0;
  double ttft_sum_s = 0, itl_sum_s = 0, e2e_sum_s = 0;
  long ttft_count = 0, itl_count = 0;
  // Time integrals since the start: requests running and waiting (for exact window averages of
  // vllm:num_requests_running and _waiting) and replica-seconds (starting and draining ones count:
  // they are paid for).
  double running_seconds = 0, waiting_seconds = 0, replica_seconds = 0;
  // Gauges now.
  int running = 0, waiting = 0;
  double kv_cache_usage = 0;  // mean share of the KV cache in use over replicas (0 when unlimited)
  int replicas_serving = 0, replicas_starting = 0, replicas_draining = 0;
};

/// A run that can be stepped: advance_to(t) runs the events up to t; scale_to changes the number of
/// replicas at the current time (new ones serve after a start-up delay; removed ones stop taking
/// requests and drain); counters() reads the metrics; finish() runs to the end and gives what
/// simulate() gives. Run straight through, it is simulate(), number for number.
class Simulator {
 public:
  Simulator(const SimulatedReplica& server, const WorkloadSpec& workload, const FleetSpec& fleet,
            const SimOptions& options);
  ~Simulator();
  Simulator(Simulator&&) noexcept;
  Simulator& operator=(Simulator&&) noexcept;

  double now_s() const;
  /// Runs the events up to time_s (>= now_s()); arrivals stop at the options' duration_s.
  void advance_to(double time_s);
  /// Serving plus starting replicas become `replicas` at now_s().
  void scale_to(int replicas, double startup_delay_s);
  /// No arrival at or after time_s (>= now_s()) is offered to this run: they belong to a
  /// successor (a make-before-break move to another accelerator or batch cap). Requests already
  /// in the run finish.
  void stop_arrivals_at(double time_s);
  ServerCounters counters() const;
  /// Runs to the end (arrivals stop at duration_s, requests in flight finish) and summarises.
  SimResult finish();

 private:
  struct Engine;
  std::unique_ptr<Engine> engine_;
  double now_ms_ = 0;
  bool finished_ = false;
};

/// Runs the simulation; InvalidArgument naming the field on bad input.
SimResult simulate(const SimulatedReplica& server, const WorkloadSpec& workload, const FleetSpec& fleet,
                   const SimOptions& options);

}  // namespace inferno::sim
