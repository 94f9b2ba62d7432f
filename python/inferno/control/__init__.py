"""The control loop (docs/control.md): the stages of a cycle (sensor, prediction, planning,
stabilizer, actuator), the controller that runs them one cycle at a time, and the closed-loop
simulator that compares autoscaling policies on a simulated fleet.

The same controller runs in simulation (here) and live; the live sensor and actuator
(Prometheus, Kubernetes, HPA/KEDA) come with the ``inferno[control]`` extra.
"""

from .closed_loop import ClosedLoop, Comparison, PolicyRun, compare
from .controller import Controller, CycleRecord
from .inventory import Inventory, Placement
from .planning import Plan, Planner, PlanningSettings
from .tuning import Tuning, TuningSettings
from .policies import POLICIES, ServerInfo, make_policy
from .prediction import PREDICTORS, Forecast, PredictionSettings, Predictor, forecast_errors
from .scenario import Scenario, ScenarioError, Workload, load_scenario, read_trace
from .snapshot import FleetSnapshot, ServerSnapshot
from .stabilizer import Decision, Stabilizer, StabilizerSettings

__all__ = ["POLICIES", "PREDICTORS", "ClosedLoop", "Comparison", "Controller", "CycleRecord", "Decision",
           "FleetSnapshot", "Forecast", "Inventory", "Placement", "Plan", "Planner", "PlanningSettings", "PolicyRun", "PredictionSettings",
           "Predictor", "Scenario", "ScenarioError", "ServerInfo", "ServerSnapshot", "Stabilizer",
           "StabilizerSettings", "Tuning", "TuningSettings", "Workload", "compare", "forecast_errors", "load_scenario", "make_policy",
           "read_trace"]
