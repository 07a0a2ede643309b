"""Monitoring: Prometheus metrics, drift detectors, scheduled checks and alerts."""
