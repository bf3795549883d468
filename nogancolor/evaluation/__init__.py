"""Measuring colorizations: metrics (low enough for training callbacks), whole-set evaluation of
an exported model, and figures."""
