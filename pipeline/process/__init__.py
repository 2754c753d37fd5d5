"""Process: the runner and one module per stage, from raw bytes to a registered ticket."""
