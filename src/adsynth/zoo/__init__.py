"""zoo: anomaly detection methods, the generic trainer, checkpoints and prediction (imports torch)."""
