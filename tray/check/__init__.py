"""The health check: items 1-11, validity, the clock verdict, advice and the orchestration."""
