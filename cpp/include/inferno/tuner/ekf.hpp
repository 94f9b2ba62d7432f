#pragma once
// Generic Kalman filters (docs/tuner.md §2, §2.3): a linear KF and an EKF with numerical
// Jacobians, a state limiter, and the Joseph-form measurement update that both share with the
// parameter tuner. Dynamic sizes: the tuner's systems are 2-3 states by 2-3 observations.
#include <Eigen/Dense>
#include <functional>

namespace inferno::tuner {

using Vector = Eigen::VectorXd;
using Matrix = Eigen::MatrixXd;
using VectorFn = std::function<Vector(const Vector&)>;

/// Central-difference Jacobian of f at x with step steps[j] for column j (every step > 0).
Matrix numerical_jacobian(const VectorFn& f, const Vector& x, const Vector& steps);
/// The reference step rule: ε_j = rel_step·|x_j|, or rel_step itself where x_j = 0.
Matrix numerical_jacobian(const VectorFn& f, const Vector& x, double rel_step = 0.01);

/// Component-wise clamp to [lower, upper]; an empty vector means no bound on that side.
class Limiter {
 public:
  Limiter() = default;
  /// Throws InvalidArgument if a non-empty bound has the wrong length or lower_i > upper_i.
  Limiter(Vector lower, Vector upper, int dim);
  bool active() const { return lower_.size() > 0 || upper_.size() > 0; }
  const Vector& lower() const { return lower_; }
  const Vector& upper() const { return upper_; }
  /// Clamps x in place; returns, per component, whether it was moved.
  Eigen::Array<bool, Eigen::Dynamic, 1> clamp(Vector& x) const;

 private:
  Vector lower_, upper_;
};

/// Everything the measurement update computes, for reporting and gating.
struct UpdateInfo {
  Vector innovation;     // y = z - h(x⁻)
  Matrix innovation_cov; // S = H P⁻ Hᵀ + R
  Matrix gain;           // K = P⁻ Hᵀ S⁻¹ (from a Cholesky solve, never S⁻¹ itself)
  double nis = 0;        // yᵀ S⁻¹ y
};

enum class UpdateFailure { none, singular_innovation, covariance_not_positive_definite };

/// Joseph-form update P⁺ = (I-KH)P⁻(I-KH)ᵀ + KRKᵀ, symmetrised and checked positive definite.
/// On failure x_out and P_out are left untouched; `info` holds what was computed.
UpdateFailure joseph_update(const Vector& x, const Matrix& P, const Vector& innovation,
                            const Matrix& H, const Matrix& R, Vector& x_out, Matrix& P_out,
                            UpdateInfo& info);

/// Linear Kalman filter x' = F x + w, z = H x + v. F defaults to I, H to 0, Q and R to 0.
class KalmanFilter {
 public:
  /// n, m >= 1; x0 defaults to 0 (length n), P0 to I (n×n). Throws InvalidArgument otherwise.
  KalmanFilter(int n, int m, const Vector& x0 = Vector(), const Matrix& P0 = Matrix());
  virtual ~KalmanFilter() = default;

  int state_dim() const { return n_; }
  int obs_dim() const { return m_; }

  void set_Q(const Matrix& Q);
  void set_R(const Matrix& R);
  void set_F(const Matrix& F);
  void set_H(const Matrix& H);
  /// Installs the limiter and clamps the current state.
  void set_limiter(const Limiter& limiter);

  /// x ← F x, clamp, P ← F P Fᵀ + Q.
  virtual void predict();
  void predict(const Matrix& Q);
  /// Joseph-form update with z (length m); NumericalError if S or P⁺ is not positive definite.
  virtual void update(const Vector& z);
  void update(const Vector& z, const Matrix& R);

  const Vector& x() const { return x_; }
  const Matrix& P() const { return P_; }
  const Matrix& Q() const { return Q_; }
  const Matrix& R() const { return R_; }
  const Matrix& F() const { return F_; }
  const Matrix& H() const { return H_; }
  const Vector& y() const { return info_.innovation; }
  const Matrix& S() const { return info_.innovation_cov; }
  const Matrix& K() const { return info_.gain; }
  double nis() const { return info_.nis; }

 protected:
  void check_square(const Matrix& M, int dim, const char* name) const;
  /// Joseph update with this innovation (H_ and R_ set), then the clamp; NumericalError on failure.
  void apply_innovation(const Vector& innovation);

  int n_, m_;
  Vector x_;
  Matrix P_, Q_, R_, F_, H_;
  Limiter limiter_;
  UpdateInfo info_;
};

/// Extended Kalman filter: x' = f(x) + w, z = h(x) + v, Jacobians by central differences
/// (reference step rule). f defaults to the identity and h to the zero vector.
class ExtendedKalmanFilter : public KalmanFilter {
 public:
  using KalmanFilter::KalmanFilter;
  using KalmanFilter::predict;  // predict(Q) and update(z, R) dispatch to the overrides below
  using KalmanFilter::update;
  /// Checks that f(x) has length n at the current state, then installs f.
  void set_f(VectorFn f);
  /// Checks that h(x) has length m at the current state, then installs h.
  void set_h(VectorFn h);
  void set_jacobian_step(double rel_step);

  /// F = ∂f/∂x at the current state, x ← clamp(f(x)), P ← F P Fᵀ + Q.
  void predict() override;
  /// H = ∂h/∂x at the predicted state, innovation z - h(x), Joseph update.
  void update(const Vector& z) override;

 private:
  VectorFn f_, h_;
  double rel_step_ = 0.01;
};

/// χ² quantile with `dof` degrees of freedom at probability p in (0, 1) (the NIS gate).
double chi_square_quantile(double p, int dof);

}  // namespace inferno::tuner
