-- 002_create_posts: posts written by users.
-- One file per revision, kept in git; apply with psql -f, then run
--   SELECT * FROM dbmigrate.migrate_upgrade();
-- Re-running this file is a no-op while its text is unchanged.
SELECT dbmigrate.migrate_register(
    revision      => '002_create_posts',
    down_revision => '001_initial_migration',
    message       => 'Create posts',
    upgrade_sql   => $up$
        CREATE TABLE posts (
            id         SERIAL PRIMARY KEY,
            author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            title      VARCHAR(200) NOT NULL,
            body       TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ DEFAULT now()
        );
        CREATE INDEX ix_posts_author_id ON posts (author_id);
    $up$,
    downgrade_sql => $down$
        DROP TABLE posts;
    $down$);
