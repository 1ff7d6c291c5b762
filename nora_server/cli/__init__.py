"""Command-line tools: ``nora`` (NORA-compatible data CLI) and ``noractl`` (admin)."""
