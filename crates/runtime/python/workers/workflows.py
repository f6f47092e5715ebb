"""Workflow helpers: `NonRetryableError` marks a step failure as final."""


class NonRetryableError(Exception):
    """Raise from a workflow step to stop it being retried."""
