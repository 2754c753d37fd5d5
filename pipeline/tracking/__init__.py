"""Tracking: human labels, corrections, misclassification metrics, reports and retraining."""
