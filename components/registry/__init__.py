"""The versioned model registry in the push destination (registry), what a pushed version
records about where it came from (provenance), and the two components around it:
BaselineModel (what is served now) and the Pusher (publishes blessed models only)."""
