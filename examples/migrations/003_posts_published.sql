-- revision: 003_posts_published
-- down_revision: 002_create_posts
-- message: Posts can be published
-- A publication flag, with a trigger function whose dollar-quoted body
-- contains semicolons (dbmigrate never splits on ';').
-- migrate:up
ALTER TABLE posts ADD COLUMN published_at TIMESTAMPTZ;
CREATE FUNCTION posts_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF NEW.published_at IS NULL AND OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'a published post cannot be unpublished';
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts
    FOR EACH ROW EXECUTE FUNCTION posts_touch();

-- migrate:down
DROP TRIGGER posts_touch ON posts;
DROP FUNCTION posts_touch();
ALTER TABLE posts DROP COLUMN published_at;
