"""Durable files: atomic storage, history, the state file, the notification log, the revocation cache, the instance lock and the log file."""
