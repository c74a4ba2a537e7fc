"""comments

Revision ID: j10
Revises: i9
"""
from alembic import op
import sqlalchemy as sa

revision = "j10"
down_revision = "i9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), nullable=False),
        sa.Column("body", sa.Text, server_default="it's fine"),
    )
    op.create_check_constraint("ck_comments_body", "comments", "length(body) < 1000")


def downgrade():
    op.drop_table("comments")
