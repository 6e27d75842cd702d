"""Running a pipeline on this machine: preflight checks, progress and logs (execute), one run
at a time (lock), what a run did, read back from ML Metadata (summary), its peak memory."""
