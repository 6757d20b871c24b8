"""Jobs, job logs, tokens and user-defined processes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False, index=True),
        sa.Column("title", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("process", sa.JSON(), nullable=False),
        sa.Column("plan", sa.String(128)),
        sa.Column("budget", sa.Float()),
        sa.Column("log_level", sa.String(16), nullable=False),
        sa.Column("job_options", sa.JSON()),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("progress", sa.Float()),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime()),
        sa.Column("started", sa.DateTime()),
        sa.Column("finished", sa.DateTime()),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("heartbeat_at", sa.DateTime()),
        sa.Column("results", sa.JSON()),
    )
    op.create_index("ix_jobs_status_queued", "jobs", ["status", "queued_at"])
    op.create_table(
        "job_logs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(64),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON()),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False, index=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False, index=True),
    )
    op.create_table(
        "user_processes",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_processes")
    op.drop_table("tokens")
    op.drop_table("job_logs")
    op.drop_index("ix_jobs_status_queued", "jobs")
    op.drop_table("jobs")
