"""Running a pipeline on this machine: preflight checks, progress and logs (execute), one run
at a time (lock), what a run did, read back from ML Metadata (summary), its peak memory
(memory), the stack's imports kept out of the garbage collector's way (collector), and the
process's end without the interpreter's teardown (process_exit)."""
