#pragma once
// The part of HiGHS's stable C API (highs_c_api.h, HiGHS >= 1.7) that inferno calls. The
// libhighs shared library comes from the `highspy` wheel on PyPI, which ships the library but
// not its headers, so the few entry points we use are declared here; HighsInt is HiGHS's default
// 32-bit integer, checked at run time with Highs_getSizeofHighsInt.
#include <cstdint>

namespace inferno::optimizer::highs {

using HighsInt = std::int32_t;

constexpr HighsInt kStatusError = -1;
constexpr HighsInt kMatrixRowwise = 2;
constexpr HighsInt kSenseMinimize = 1;
constexpr HighsInt kVarContinuous = 0;
constexpr HighsInt kVarInteger = 1;
constexpr HighsInt kSolutionFeasible = 2;

// Model status codes (HighsModelStatus).
constexpr HighsInt kModelEmpty = 6;
constexpr HighsInt kOptimal = 7;
constexpr HighsInt kInfeasible = 8;
constexpr HighsInt kUnboundedOrInfeasible = 9;
constexpr HighsInt kTimeLimit = 13;
constexpr HighsInt kIterationLimit = 14;
constexpr HighsInt kSolutionLimit = 16;
constexpr HighsInt kInterrupt = 17;
constexpr HighsInt kMemoryLimit = 18;

}  // namespace inferno::optimizer::highs

extern "C" {
void* Highs_create(void);
void Highs_destroy(void* highs);
const char* Highs_version(void);
inferno::optimizer::highs::HighsInt Highs_getSizeofHighsInt(const void* highs);
inferno::optimizer::highs::HighsInt Highs_passMip(
    void* highs, inferno::optimizer::highs::HighsInt num_col, inferno::optimizer::highs::HighsInt num_row,
    inferno::optimizer::highs::HighsInt num_nz, inferno::optimizer::highs::HighsInt a_format,
    inferno::optimizer::highs::HighsInt sense, double offset, const double* col_cost, const double* col_lower,
    const double* col_upper, const double* row_lower, const double* row_upper,
    const inferno::optimizer::highs::HighsInt* a_start, const inferno::optimizer::highs::HighsInt* a_index,
    const double* a_value, const inferno::optimizer::highs::HighsInt* integrality);
inferno::optimizer::highs::HighsInt Highs_setBoolOptionValue(void* highs, const char* option,
                                                             inferno::optimizer::highs::HighsInt value);
inferno::optimizer::highs::HighsInt Highs_setIntOptionValue(void* highs, const char* option,
                                                            inferno::optimizer::highs::HighsInt value);
inferno::optimizer::highs::HighsInt Highs_setDoubleOptionValue(void* highs, const char* option, double value);
inferno::optimizer::highs::HighsInt Highs_setSolution(void* highs, const double* col_value, const double* row_value,
                                                      const double* col_dual, const double* row_dual);
inferno::optimizer::highs::HighsInt Highs_run(void* highs);
inferno::optimizer::highs::HighsInt Highs_getModelStatus(const void* highs);
inferno::optimizer::highs::HighsInt Highs_getSolution(const void* highs, double* col_value, double* col_dual,
                                                      double* row_value, double* row_dual);
inferno::optimizer::highs::HighsInt Highs_getIntInfoValue(const void* highs, const char* info,
                                                          inferno::optimizer::highs::HighsInt* value);
inferno::optimizer::highs::HighsInt Highs_getDoubleInfoValue(const void* highs, const char* info, double* value);
double Highs_getObjectiveValue(const void* highs);
}
