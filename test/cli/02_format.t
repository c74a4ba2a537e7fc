# The migration file format and the folder's graph, checked before
# connecting: every bad input gets its exact message and exit 2.  The
# connection given leads nowhere, so a message about it would mean the
# client connected before checking.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use Test::More;

my @nowhere = ('-d', 'host=127.0.0.1 port=1 connect_timeout=2');
my $ok_header = "-- revision: r1\n-- down_revision: 001_initial_migration\n-- message: m\n";

# bad(NAME, {file => content, ...}, expected stderr)
sub bad {
    my ($name, $files, $expected) = @_;
    my $p = CliTest::new_project();
    write_file("$p/migrations/$_", $files->{$_}) for keys %$files;
    my ($rc, $out, $err) = dbm($p, @nowhere, 'upgrade');
    is($rc, 2, "$name: exit 2");
    is($err, $expected, "$name: message");
}

bad('no migrate:up', { 'a.sql' => $ok_header . "CREATE TABLE t();\n" },
    "dbmigrate: migrations/a.sql:4: SQL before \"-- migrate:up\"\n"
    . "HINT:  A migration file starts with its header (\"-- revision: ...\", \"-- down_revision: ...\"), then a line \"-- migrate:up\" and the SQL.\n");
bad('header only', { 'a.sql' => $ok_header },
    "dbmigrate: migrations/a.sql: no \"-- migrate:up\" line\n"
    . "HINT:  Put the upgrade SQL after a line \"-- migrate:up\", and the SQL that undoes it after \"-- migrate:down\".\n");
bad('unknown header field', { 'a.sql' => "-- revison: r1\n-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:1: unknown header field \"revison\"\n"
    . "HINT:  The header fields are revision, down_revision, message and transactional.\n");
bad('no revision line', { 'a.sql' => "-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:1: no \"-- revision:\" line in the header\n");
bad('no down_revision line', { 'a.sql' => "-- comment\n-- revision: r1\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:2: no \"-- down_revision:\" line in the header\n"
    . "HINT:  Name the parent revision, or write \"-- down_revision:\" with nothing after it for a root.\n");
bad('two revision lines', { 'a.sql' => "-- revision: r1\n-- revision: r2\n-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:2: a second \"revision\" line (the first is line 1)\n");
bad('reserved id', { 'a.sql' => "-- revision: Head\n-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:1: revision \"Head\" is reserved (head, heads and base name targets)\n");
bad('id with a space', { 'a.sql' => "-- revision: add posts\n-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:1: revision \"add posts\" contains the character \" \" (ids are letters, digits, \"_\", \".\" and \"-\")\n");
bad('empty id', { 'a.sql' => "-- revision:\n-- down_revision:\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:1: revision \"\" is empty\n");
bad('bad transactional', { 'a.sql' => $ok_header . "-- transactional: no\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:4: transactional must be true or false, not \"no\"\n");
bad('down before up', { 'a.sql' => $ok_header . "-- migrate:down\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:4: \"-- migrate:down\" before \"-- migrate:up\"\n");
bad('two up markers', { 'a.sql' => $ok_header . "-- migrate:up\nSELECT 1;\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:6: a second \"-- migrate:up\" (the first is line 4)\n");
bad('two down markers', { 'a.sql' => $ok_header . "-- migrate:up\n-- migrate:down\n-- migrate:down\n" },
    "dbmigrate: migrations/a.sql:6: a second \"-- migrate:down\" (the first is line 5)\n");
bad('bad dbmate option', { 'a.sql' => $ok_header . "-- migrate:up transaction:maybe\n" },
    "dbmigrate: migrations/a.sql:4: unknown option \"transaction:maybe\" after \"-- migrate:up\"\n"
    . "HINT:  The only option is dbmate's transaction:false; or write \"-- transactional: false\" in the header.\n");
bad('own parent', { 'a.sql' => "-- revision: r1\n-- down_revision: r1\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:2: revision \"r1\" names itself as its parent\n");
bad('parent twice', { 'a.sql' => "-- revision: r1\n-- down_revision: a, a\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:2: down_revision names \"a\" twice\n");
bad('missing parent file', { 'a.sql' => "-- revision: r2\n-- down_revision: r1\n-- migrate:up\n" },
    "dbmigrate: migrations/a.sql:2: down_revision \"r1\" is not a revision of the folder\n"
    . "HINT:  Every parent must be a file of the folder or \"001_initial_migration\"; add the missing file or correct the down_revision line.\n");
bad('duplicate id across files', {
        'a.sql' => $ok_header . "-- migrate:up\n",
        'b.sql' => "-- note\n" . $ok_header . "-- migrate:up\n" },
    "dbmigrate: migrations/b.sql:2: revision \"r1\" is also defined in migrations/a.sql:1\n"
    . "HINT:  Every file needs its own revision id; give one of them a new id (dbmigrate revision makes one).\n");
bad('cycle', {
        'a.sql' => "-- revision: x\n-- down_revision: z\n-- migrate:up\n",
        'b.sql' => "-- revision: y\n-- down_revision: x\n-- migrate:up\n",
        'c.sql' => "-- revision: z\n-- down_revision: y\n-- migrate:up\n" },
    "dbmigrate: the revisions form a cycle: x <- z <- y <- x\n"
    . "HINT:  See migrations/a.sql:2; a revision cannot descend from itself.\n");
bad('several heads for head', {
        'a.sql' => "-- revision: x\n-- down_revision: 001_initial_migration\n-- migrate:up\n",
        'b.sql' => "-- revision: y\n-- down_revision: 001_initial_migration\n-- migrate:up\n" },
    "dbmigrate: target \"head\" is ambiguous: the folder migrations has 2 heads\n"
    . "DETAIL:  Heads: \"x\" (migrations/a.sql), \"y\" (migrations/b.sql).\n"
    . "HINT:  Join them with dbmigrate merge -m \"merge heads\" heads, or upgrade to one of them, or to heads.\n");
bad('not UTF-8 (Latin-1)', { 'a.sql' => $ok_header . "-- migrate:up\nCOMMENT ON TABLE t IS 'caf\xe9';\n" },
    "dbmigrate: migrations/a.sql: not valid UTF-8 at byte offset 110 (byte 0xe9); convert the file to UTF-8\n");
bad('overlong UTF-8', { 'a.sql' => "-- revision: r1\xc0\xaf\n" },
    "dbmigrate: migrations/a.sql: not valid UTF-8 at byte offset 15 (byte 0xc0); convert the file to UTF-8\n");
bad('NUL byte', { 'a.sql' => $ok_header . "-- migrate:up\nSELECT 1;\0\n" },
    "dbmigrate: migrations/a.sql: NUL byte at byte offset 93; migration files are UTF-8 text\n");
bad('several bad files: each reported', {
        'a.sql' => "-- revision: r1\n",
        'b.sql' => "SELECT 1;\n" },
    "dbmigrate: migrations/a.sql: no \"-- migrate:up\" line\n"
    . "HINT:  Put the upgrade SQL after a line \"-- migrate:up\", and the SQL that undoes it after \"-- migrate:down\".\n"
    . "dbmigrate: migrations/b.sql:1: SQL before \"-- migrate:up\"\n"
    . "HINT:  A migration file starts with its header (\"-- revision: ...\", \"-- down_revision: ...\"), then a line \"-- migrate:up\" and the SQL.\n");

# a missing folder that was named
{
    my $p = CliTest::new_project();
    my ($rc, $out, $err) = dbm($p, @nowhere, '--dir', 'nosuch', 'upgrade');
    is($rc, 2, 'missing --dir folder: exit 2');
    is($err, "dbmigrate: cannot open the migrations folder nosuch: No such file or directory\n"
        . "HINT:  Create it with \"dbmigrate init\", or name another with --dir.\n", 'missing folder: message');
}

# what is accepted: a BOM, CRLF, free comments, dbmate's option, other files ignored
{
    my $p = CliTest::new_project();
    write_file("$p/migrations/a.sql", "\xEF\xBB\xBF-- revision: r1\r\n-- down_revision: 001_initial_migration\r\n"
        . "-- message:  first one \r\n-- Note: free text\r\n\r\n-- migrate:up\r\nSELECT 1;\r\n-- migrate:down\r\n");
    write_file("$p/migrations/b.sql", "-- revision: r2\n-- down_revision: r1\n-- migrate:up transaction:false\n"
        . "VACUUM;\n");
    write_file("$p/migrations/README.md", "not a migration\n");
    write_file("$p/migrations/.hidden.sql", "garbage\n");
    my ($rc, $out, $err) = dbm($p, @nowhere, 'upgrade');
    is($rc, 2, 'valid folder: the client went on to connect');
    like($err, qr/^dbmigrate: cannot connect to 127\.0\.0\.1:1: connection refused/, 'valid folder: then the connection fails');
}

done_testing();
