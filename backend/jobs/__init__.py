"""Batch jobs: the job store (SQLAlchemy), the workers that run jobs, and their results."""
