#pragma once
// The formats of the optimizer's documents (docs/schemas.md): the six input documents, their
// one-file bundle system-data.json, and the solution. The document readers (system.cpp) take each
// field's type and range from these tables, and the published JSON Schemas are generated from them.
#include <string>
#include <vector>

#include "inferno/io/schema.hpp"

namespace inferno::optimizer {

struct DocumentFormat {
  std::string file;   // e.g. "accelerator-data.json"
  std::string title;  // one line: what the document holds
  const io::Field* format;
};

const io::Field& accelerator_data_format();
const io::Field& capacity_data_format();
const io::Field& model_data_format();
const io::Field& serviceclass_data_format();
const io::Field& server_data_format();
/// From the option registry (options.hpp).
const io::Field& optimizer_data_format();
const io::Field& system_data_format();
const io::Field& solution_data_format();

/// Every format above, inputs first.
const std::vector<DocumentFormat>& document_formats();

}  // namespace inferno::optimizer
