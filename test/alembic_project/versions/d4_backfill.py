"""backfill users.email, then require it

Revision ID: d4
Revises: c3
"""
from alembic import op
import sqlalchemy as sa

revision = "d4"
down_revision = "c3"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("name", sa.String), sa.column("email", sa.String))


def upgrade():
    op.bulk_insert(users, [{"name": "admin", "email": None}, {"name": "o'brien", "email": None}])
    op.execute(users.update().where(users.c.email.is_(None))
               .values(email=users.c.name + "@example.com"))
    op.alter_column("users", "email", nullable=False)
    op.create_unique_constraint("uq_users_email", "users", ["email"])


def downgrade():
    op.drop_constraint("uq_users_email", "users")
    op.alter_column("users", "email", nullable=True)
    op.execute(users.delete().where(users.c.name.in_(["admin", "o'brien"])))
