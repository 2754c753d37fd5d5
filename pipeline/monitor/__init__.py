"""What operators watch: counters the pipeline bumps as it works, and the daemon's
`/healthz` and `/metrics` endpoints (`[metrics] listen`)."""
