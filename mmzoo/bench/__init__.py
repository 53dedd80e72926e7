"""``mmzoo bench``: a grid of ordinary runs, then a leaderboard.

- :mod:`~mmzoo.bench.suite`: the suite file (recipes × cells of overrides × seeds).
- :mod:`~mmzoo.bench.runner`: one ``mmzoo fit`` (and ``test``) process per (cell, seed), resumable.
- :mod:`~mmzoo.bench.aggregate`: per-cell statistics from the run directories.
- :mod:`~mmzoo.bench.report`: ``leaderboard.{md,csv,json}`` and the plots.
- :mod:`~mmzoo.bench.summary`: the same table and plots as one W&B run of the suite's group.
- :mod:`~mmzoo.bench.command`: the two commands, ``mmzoo bench SUITE`` and ``mmzoo bench report DIR``.
"""
