"""softq benchmarks: run a module with ``python -m benchmarks.<name>``."""
