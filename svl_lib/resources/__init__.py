"""Files shipped with the course, read through :func:`importlib.resources.files` (they are data, not code):

- ``grids/<name>.json``: the paper's experiments as grid files (:mod:`svl_lib.experiments.grids`);
- ``grid_results/<name>.csv``: the committed per-run results of a shipped grid, the command that
  made them on the first line (:func:`svl_lib.experiments.results.grid_results`);
- ``paper_results.csv``: the paper's published numbers (:func:`svl_lib.experiments.results.paper_results`).
"""
