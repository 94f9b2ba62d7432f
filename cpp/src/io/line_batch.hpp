#pragma once
// Private helper: answer a batch of JSON request lines in parallel, output in input order.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace inferno::io::detail {

/// The body of a line whose answer failed outside the operation's own error handling (an
/// exception while formatting its error, say): still a JSON error object for that line.
std::string unexpected_failure_body(const char* what);

/// `answer(line)` returns the response body and whether it succeeded. Blank lines give an empty
/// string and are not counted; `threads` = 0 means the hardware concurrency. Whatever one line
/// throws becomes that line's error object: every other line is still answered, in order.
template <class Answer>
std::vector<std::string> answer_lines(const std::vector<std::string>& lines, unsigned threads, std::size_t* failures,
                                      const Answer& answer) {
  std::vector<std::string> out(lines.size());
  std::vector<char> failed(lines.size(), 0);
  auto work = [&](std::size_t begin, std::size_t step) {
    for (std::size_t i = begin; i < lines.size(); i += step) {
      if (lines[i].find_first_not_of(" \t\r\n") == std::string::npos) continue;
      try {
        auto [body, ok] = answer(lines[i]);
        out[i] = std::move(body);
        failed[i] = ok ? 0 : 1;
      } catch (const std::exception& e) {
        out[i] = unexpected_failure_body(e.what());
        failed[i] = 1;
      } catch (...) {
        out[i] = unexpected_failure_body("unknown error");
        failed[i] = 1;
      }
    }
  };
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(1, lines.size())));
  if (threads <= 1) {
    work(0, 1);
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t, threads);
    for (auto& th : pool) th.join();
  }
  if (failures) *failures = static_cast<std::size_t>(std::count(failed.begin(), failed.end(), 1));
  return out;
}

}  // namespace inferno::io::detail
