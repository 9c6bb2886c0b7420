"""HTTP API under /api/v1: thin FastAPI routers over core and storage."""
