"""`make bench`: the server measured against PostgreSQL's own limit, in one run.

- `processes`: what the benchmark starts and watches (a PostgreSQL cluster, the server),
  the cores each runs on, and the CPU time each spends.
- `load`: the load generators (wrk, pgbench, `billing-bench pages`), each returning its
  figures or raising `MeasurementFailed`.
- `plan`: what is measured, and the ratios read from it, as data.
- `run`: carries the plan out and writes the raw results as JSON.
- `report`: renders the markdown tables from that JSON: the figures, their gates and goals.
"""
