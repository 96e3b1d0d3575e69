"""The service: FastAPI app, jobs table, job manager, dashboard and CLI (imports every layer)."""
