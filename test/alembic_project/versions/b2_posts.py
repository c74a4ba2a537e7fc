"""create posts

Revision ID: b2
Revises: a1
"""
from alembic import op
import sqlalchemy as sa

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
    )
    op.create_index("ix_posts_user_id", "posts", ["user_id"])


def downgrade():
    op.drop_index("ix_posts_user_id", table_name="posts")
    op.drop_table("posts")
