"""The exit status of every command, one meaning each, so a script or CI job can tell why a run
stopped without reading its log (docs/running.md, Exit status)."""

SUCCESS = 0
# A setting, a path or a file the command cannot use; nothing was started or changed.
BAD_INPUT = 2
# The data was refused before training: schema anomalies, drift, a changed class set, too few
# images in a split, too many bad files.
DATA_REFUSED = 3
# A pipeline step failed for any other reason (its log says why).
STEP_FAILED = 4
# Asked for (REQUIRE_PUSH), and the run pushed no model: the candidate was not blessed, or the
# registry already held it.
NOT_PUSHED = 5
