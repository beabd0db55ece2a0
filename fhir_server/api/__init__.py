"""HTTP routers: parse the request, call the repository or search, format the answer. Nothing else."""
