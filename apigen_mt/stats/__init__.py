"""Run statistics (pure computations over a run's records), their renderers, and pass^k."""
