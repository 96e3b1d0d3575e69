"""Export of a deployable network: a standalone Python module (torch only)."""
