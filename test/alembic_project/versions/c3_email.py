"""add users.email

Revision ID: c3
Revises: b2
"""
from alembic import op
import sqlalchemy as sa

revision = "c3"
down_revision = "b2"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("email", sa.String(100), nullable=True))


def downgrade():
    op.drop_column("users", "email")
