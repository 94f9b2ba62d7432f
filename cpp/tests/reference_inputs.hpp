// Inputs shared by the queue tests. Input A is the reference's examples/problem-data.json server
// (docs/queueing-model.md §9.3).
#pragma once

#include "inferno/queue/analyzer.hpp"

namespace inferno::test {

inline queue::QueueConfig input_a(int max_batch = 48) {
  queue::QueueConfig c;
  c.service_model = "iteration";
  c.params = {{"alpha", 12}, {"beta", 0.05}, {"gamma", 0.0005}};
  c.shape = queue::RequestShape{128, 512, 8192};
  c.max_batch = max_batch;
  c.max_queue = 128;
  return c;
}

}  // namespace inferno::test
