"""Placeholder: being written now (issue 4)."""
