"""merge email and tags

Revision ID: g7
Revises: d4, f6
"""
from alembic import op

revision = "g7"
down_revision = ("d4", "f6")
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE VIEW post_authors AS SELECT p.id, p.title, u.email "
               "FROM posts p JOIN users u ON u.id = p.user_id")


def downgrade():
    op.execute("DROP VIEW post_authors")
