"""Check families, one module each; every module has `run(run)` that records its own features."""
