"""The modules of the benchmark harness that ``benchmarks/run.py`` runs.

* :mod:`.harness`: benchmarks registered by name, paired rounds, medians and spreads, tables.
* :mod:`.roundtrips`: a loopback TCP proxy that counts a driver's request/response turns.
* :mod:`.scratch`: a database of its own for each benchmark, dropped at the end.
* :mod:`.spends`: spends through the library against hand-written driver baselines.
* :mod:`.history`: histories loaded in bulk, laid out as the SQL store keeps them.
* :mod:`.views`: the profile view's flatness in history and the dashboard's member table.
* :mod:`.reports`: usage reports and CSV exports of a month of a million transfers.
"""
