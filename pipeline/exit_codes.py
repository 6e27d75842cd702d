"""The exit status of every command, one meaning each, so a script or CI job can tell why a run
stopped without reading its log (docs/running.md, Exit codes)."""

SUCCESS = 0
# A pipeline step failed for a reason other than the data (its log says why), or a service
# the command needs (the KFP API) refused the work.
STEP_FAILED = 1
# A setting, a path or a file the command cannot use; nothing was started or changed.
BAD_INPUT = 2
# The data was refused during the run: schema anomalies, drift, a changed class set, too many
# undecodable files, a split left without a class.
DATA_REFUSED = 3
# Asked for (REQUIRE_PUSH), and the run pushed no model: the candidate was not blessed, or the
# registry held it already.
NOT_PUSHED = 4
