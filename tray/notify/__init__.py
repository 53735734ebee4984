"""Notifications: when to notify (policy), the backends, and the glue between them."""
