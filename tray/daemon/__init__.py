"""The daemon: watcher events in, checks on a worker pool, state snapshots and diagnosis out."""
