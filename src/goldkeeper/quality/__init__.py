"""Versioned baselines, the regression gate, the eval trend, the report and its dashboard."""
