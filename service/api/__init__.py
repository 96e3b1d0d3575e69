"""The REST API: dependencies, error handlers and one router module per resource."""
