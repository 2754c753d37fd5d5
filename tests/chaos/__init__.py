"""Fault-injection harness: real Dovecot, a counting SMTP receiver, `triaje run` as a process.

Shared by the chaos tests (tests/test_chaos_*.py, tests/test_loops.py, ...) and by
bench/chaos/run.py, which runs the same scenarios at soak size.
"""
