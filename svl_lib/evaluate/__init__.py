"""Evaluation: retrieval metrics (R@K, RSUM, ranks), the evaluation conditions (with and without
the shortcut, on either side) and linear probes. Builds on models, data and the concepts below.
"""
