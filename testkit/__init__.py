"""What the tests and the benchmarks share: fixed test keys, case builders and workloads,
and the dev server and worker as child processes. Never installed, never used in production."""
