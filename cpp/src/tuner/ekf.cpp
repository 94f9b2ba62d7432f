#include "inferno/tuner/ekf.hpp"

#include <cmath>
#include <string>

#include "inferno/error.hpp"

namespace inferno::tuner {

namespace {
std::string dims(Eigen::Index rows, Eigen::Index cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}
}  // namespace

Matrix numerical_jacobian(const VectorFn& f, const Vector& x, const Vector& steps) {
  if (steps.size() != x.size()) throw InvalidArgument("Jacobian steps must have the state's length");
  Matrix J;
  Vector probe = x;
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    const double eps = steps[j];
    if (!(std::isfinite(eps) && eps > 0))
      require(false, "Jacobian step " + std::to_string(j), "a finite number > 0", eps);
    probe[j] = x[j] + eps;
    const Vector plus = f(probe);
    probe[j] = x[j] - eps;
    const Vector minus = f(probe);
    probe[j] = x[j];
    if (j == 0) J.resize(plus.size(), x.size());
    if (plus.size() != J.rows() || minus.size() != J.rows())
      throw InvalidArgument("the function's output length changed between evaluations");
    J.col(j) = (plus - minus) / (2 * eps);
  }
  return J;
}

Matrix numerical_jacobian(const VectorFn& f, const Vector& x, double rel_step) {
  Vector steps(x.size());
  for (Eigen::Index j = 0; j < x.size(); ++j) steps[j] = x[j] == 0 ? rel_step : rel_step * std::fabs(x[j]);
  return numerical_jacobian(f, x, steps);
}

Limiter::Limiter(Vector lower, Vector upper, int dim) : lower_(std::move(lower)), upper_(std::move(upper)) {
  if (lower_.size() != 0 && lower_.size() != dim)
    throw InvalidArgument("limiter lower bound must have length " + std::to_string(dim) + ", got " +
                          std::to_string(lower_.size()));
  if (upper_.size() != 0 && upper_.size() != dim)
    throw InvalidArgument("limiter upper bound must have length " + std::to_string(dim) + ", got " +
                          std::to_string(upper_.size()));
  for (Eigen::Index i = 0; i < lower_.size() && upper_.size() != 0; ++i)
    if (!(lower_[i] <= upper_[i]))
      throw InvalidArgument("limiter bounds of component " + std::to_string(i) + " must satisfy lower <= upper, got [" +
                            format_number(lower_[i]) + ", " + format_number(upper_[i]) + "]");
}

Eigen::Array<bool, Eigen::Dynamic, 1> Limiter::clamp(Vector& x) const {
  Eigen::Array<bool, Eigen::Dynamic, 1> moved = Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(x.size(), false);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (lower_.size() != 0 && x[i] < lower_[i]) {
      x[i] = lower_[i];
      moved[i] = true;
    }
    if (upper_.size() != 0 && x[i] > upper_[i]) {
      x[i] = upper_[i];
      moved[i] = true;
    }
  }
  return moved;
}

UpdateFailure joseph_update(const Vector& x, const Matrix& P, const Vector& innovation,
                            const Matrix& H, const Matrix& R, Vector& x_out, Matrix& P_out,
                            UpdateInfo& info) {
  info.innovation = innovation;
  Matrix S = H * P * H.transpose() + R;
  S = 0.5 * (S + S.transpose());
  info.innovation_cov = S;
  const Eigen::LLT<Matrix> llt(S);
  if (llt.info() != Eigen::Success || !S.allFinite()) return UpdateFailure::singular_innovation;
  // K = P Hᵀ S⁻¹, i.e. Kᵀ = S⁻¹ H P (S and P symmetric).
  info.gain = llt.solve(H * P).transpose();
  info.nis = innovation.dot(llt.solve(innovation));
  const Matrix I_KH = Matrix::Identity(P.rows(), P.cols()) - info.gain * H;
  Matrix P_new = I_KH * P * I_KH.transpose() + info.gain * R * info.gain.transpose();
  P_new = 0.5 * (P_new + P_new.transpose());
  const Eigen::LLT<Matrix> check(P_new);
  if (check.info() != Eigen::Success || !P_new.allFinite()) return UpdateFailure::covariance_not_positive_definite;
  x_out = x + info.gain * innovation;
  P_out = std::move(P_new);
  return UpdateFailure::none;
}

KalmanFilter::KalmanFilter(int n, int m, const Vector& x0, const Matrix& P0) : n_(n), m_(m) {
  if (n < 1) require(false, "state dimension n", "an integer >= 1", n);
  if (m < 1) require(false, "observation dimension m", "an integer >= 1", m);
  if (x0.size() != 0 && x0.size() != n)
    throw InvalidArgument("x0 must have length n = " + std::to_string(n) + ", got " + std::to_string(x0.size()));
  if (P0.size() != 0) check_square(P0, n, "P0");
  x_ = x0.size() != 0 ? x0 : Vector::Zero(n);
  P_ = P0.size() != 0 ? P0 : Matrix::Identity(n, n);
  Q_ = Matrix::Zero(n, n);
  R_ = Matrix::Zero(m, m);
  F_ = Matrix::Identity(n, n);
  H_ = Matrix::Zero(m, n);
}

void KalmanFilter::check_square(const Matrix& M, int dim, const char* name) const {
  if (M.rows() != dim || M.cols() != dim)
    throw InvalidArgument(std::string(name) + " must be " + dims(dim, dim) + ", got " + dims(M.rows(), M.cols()));
}

void KalmanFilter::set_Q(const Matrix& Q) { check_square(Q, n_, "Q"); Q_ = Q; }
void KalmanFilter::set_R(const Matrix& R) { check_square(R, m_, "R"); R_ = R; }
void KalmanFilter::set_F(const Matrix& F) { check_square(F, n_, "F"); F_ = F; }
void KalmanFilter::set_H(const Matrix& H) {
  if (H.rows() != m_ || H.cols() != n_)
    throw InvalidArgument("H must be " + dims(m_, n_) + ", got " + dims(H.rows(), H.cols()));
  H_ = H;
}
void KalmanFilter::set_limiter(const Limiter& limiter) {
  if ((limiter.lower().size() != 0 && limiter.lower().size() != n_) ||
      (limiter.upper().size() != 0 && limiter.upper().size() != n_))
    throw InvalidArgument("limiter bounds must have length n = " + std::to_string(n_));
  limiter_ = limiter;
  limiter_.clamp(x_);
}

void KalmanFilter::predict() {
  x_ = F_ * x_;
  limiter_.clamp(x_);
  P_ = F_ * P_ * F_.transpose() + Q_;
}

void KalmanFilter::predict(const Matrix& Q) {
  set_Q(Q);
  predict();
}

void KalmanFilter::apply_innovation(const Vector& innovation) {
  switch (joseph_update(x_, P_, innovation, H_, R_, x_, P_, info_)) {
    case UpdateFailure::none: break;
    case UpdateFailure::singular_innovation:
      throw NumericalError("singular matrix: the innovation covariance S = H P Hᵀ + R is not positive definite");
    case UpdateFailure::covariance_not_positive_definite:
      throw NumericalError("the updated covariance is not positive definite");
  }
  limiter_.clamp(x_);
}

void KalmanFilter::update(const Vector& z) {
  if (z.size() != m_)
    throw InvalidArgument("z must have length m = " + std::to_string(m_) + ", got " + std::to_string(z.size()));
  const Vector innovation = z - H_ * x_;
  apply_innovation(innovation);
}

void KalmanFilter::update(const Vector& z, const Matrix& R) {
  set_R(R);
  update(z);
}

namespace {
// A model function must be callable and return `length` entries at the current state.
void check_function(const VectorFn& fn, const Vector& x, Eigen::Index length, const char* name, const char* dim) {
  if (!fn) throw InvalidArgument(std::string(name) + " must be a function");
  const Eigen::Index got = fn(x).size();
  if (got != length)
    throw InvalidArgument(std::string(name) + " must return a vector of length " + dim + " = " + std::to_string(length) +
                          ", got " + std::to_string(got));
}
}  // namespace

void ExtendedKalmanFilter::set_f(VectorFn f) {
  check_function(f, x_, n_, "f", "n");
  f_ = std::move(f);
}

void ExtendedKalmanFilter::set_h(VectorFn h) {
  check_function(h, x_, m_, "h", "m");
  h_ = std::move(h);
}

void ExtendedKalmanFilter::set_jacobian_step(double rel_step) {
  if (!(std::isfinite(rel_step) && rel_step > 0)) require(false, "Jacobian step", "a finite number > 0", rel_step);
  rel_step_ = rel_step;
}

void ExtendedKalmanFilter::predict() {
  if (f_) {
    F_ = numerical_jacobian(f_, x_, rel_step_);
    x_ = f_(x_);
  } else {
    F_ = Matrix::Identity(n_, n_);
  }
  limiter_.clamp(x_);
  P_ = F_ * P_ * F_.transpose() + Q_;
}

void ExtendedKalmanFilter::update(const Vector& z) {
  if (z.size() != m_)
    throw InvalidArgument("z must have length m = " + std::to_string(m_) + ", got " + std::to_string(z.size()));
  Vector predicted = Vector::Zero(m_);
  if (h_) {
    H_ = numerical_jacobian(h_, x_, rel_step_);
    predicted = h_(x_);
  } else {
    H_ = Matrix::Zero(m_, n_);
  }
  apply_innovation(z - predicted);
}

namespace {
// Regularised lower incomplete gamma P(s, x) by its series (s <= 2 here, x moderate).
double lower_gamma_regularized(double s, double x) {
  if (x <= 0) return 0.0;
  if (x > s + 40) {  // continued fraction for the upper tail (Lentz)
    double b = x + 1 - s, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 500; ++i) {
      const double an = -i * (i - s);
      b += 2;
      d = an * d + b;
      if (std::fabs(d) < 1e-300) d = 1e-300;
      c = b + an / c;
      if (std::fabs(c) < 1e-300) c = 1e-300;
      d = 1 / d;
      const double delta = d * c;
      h *= delta;
      if (std::fabs(delta - 1) < 1e-16) break;
    }
    return 1.0 - std::exp(-x + s * std::log(x) - std::lgamma(s)) * h;
  }
  double term = 1.0 / s, sum = term;
  for (int n = 1; n < 1000; ++n) {
    term *= x / (s + n);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum * std::exp(-x + s * std::log(x) - std::lgamma(s));
}
}  // namespace

double chi_square_quantile(double p, int dof) {
  if (!(p > 0 && p < 1)) require(false, "gate probability", "in (0, 1)", p);
  if (dof < 1) require(false, "degrees of freedom", "an integer >= 1", dof);
  if (dof == 2) return -2.0 * std::log1p(-p);  // closed form: the common case
  const double s = dof / 2.0;
  double lo = 0, hi = dof + 10.0;
  while (lower_gamma_regularized(s, hi / 2) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (lower_gamma_regularized(s, mid / 2) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace inferno::tuner
