"""Search orchestration: Optuna studies on an SQL store, samplers, Ray Tune with OptunaSearch,
the Pareto front and its hypervolume. Imports workers/ and spaces/, never service/."""
