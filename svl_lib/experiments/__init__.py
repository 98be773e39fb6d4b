"""Experiments: run folders and run data, one run end to end (``experiment``), the registries and
``resolve``, results tables, sweeps and the grid files with their protocols, the cluster, and the
``run`` command. Builds on training, evaluation, models, data and the concepts below.
"""
