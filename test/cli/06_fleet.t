# Many databases: --dsn-file FILE -j N runs a command on every database the
# file lists, each deploy its own transaction.  A fleet of four where one
# database already holds a conflicting "posts" table: the other three are
# upgraded, the fourth is untouched, the table says so, exit 1; -j 1 and -j 4
# give the same table.  Then --json, downgrade, check, current, a database
# that does not exist, and every bad option and bad file, with its message.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use JSON::PP;
use Test::More;

my $host = $ENV{PGHOST} || '127.0.0.1';
my $port = $ENV{PGPORT} || 5432;
my $user = $ENV{PGUSER} || 'postgres';
my ($rc, $out, $err);

my $p = CliTest::new_project();
for my $f (glob(root_dir() . '/examples/migrations/*.sql')) {
    my ($name) = $f =~ m{([^/]+)$};
    write_file("$p/migrations/$name", read_file($f));
}

# a fleet of four: the third has a "posts" table of its own (002 conflicts)
sub fleet {
    my @dbs = map { new_db() } 1 .. 4;
    psql_value($dbs[2], 'CREATE TABLE posts (note text); INSERT INTO posts VALUES (\'mine\')');
    # the four ways a line may look: conninfo, URL, padding, after comments
    write_file("$p/fleet.txt", "# the fleet\ndbname=$dbs[0]\n\npostgresql://$user\@$host:$port/$dbs[1]\n"
        . "   dbname=$dbs[2]   \r\n  # a comment\ndbname=$dbs[3]\n");
    return @dbs;
}

# the table with its columns joined by " | ", durations as <t>, database
# names replaced by their position
sub table_of {
    my ($out, @dbs) = @_;
    my ($table) = $out =~ /\n(DATABASE .*)\z/s or return "no table in:\n$out";
    for my $i (0 .. $#dbs) { $table =~ s/\Q$dbs[$i]\E/db$i/g; }
    $table =~ s/\(\d+ ms, -j \d\)/(<t>)/;
    $table =~ s/\d+ ms(?= |\n)/<t>/g;
    $table =~ s/ {2,}/ | /g;
    return $table;
}

my %tables;
for my $j (1, 4) {
    my @dbs = fleet();
    ($rc, $out, $err) = dbm($p, '--dsn-file', 'fleet.txt', '-j', $j, 'upgrade');
    is($rc, 1, "-j $j: exit 1, one database failed");
    for my $i (0, 1, 3) {
        is(psql_value($dbs[$i], 'SELECT * FROM dbmigrate.migrate_current()'), '003_posts_published',
            "-j $j: database $i upgraded to head");
    }
    is(psql_value($dbs[2], "SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'") . ','
        . psql_value($dbs[2], 'SELECT note FROM posts') . ','
        . psql_value($dbs[2], "SELECT to_regclass('users') IS NULL"), '0,mine,t',
        "-j $j: the failed database is untouched (no extension, no users table, its own posts)");
    like($out, qr/^\[\Q$dbs[0]\E\] Running upgrade 001_initial_migration -> 002_create_posts, Create posts$/m,
        "-j $j: progress lines carry the database");
    like($out, qr/^\[\Q$host:$port\/$dbs[1]\E\] Upgraded database "\Q$dbs[1]\E": 3 revisions/m,
        "-j $j: a URL's database is shown as host:port/dbname");
    like($err, qr/^\[\Q$dbs[2]\E\] dbmigrate: migrations\/002_create_posts.sql:7: ERROR:  42P07: relation "posts" already exists$/m,
        "-j $j: the failed database's error, prefixed");
    $tables{$j} = table_of($out, @dbs);
}
is($tables{1},
    "DATABASE | RESULT | FROM -> TO | DURATION | ERROR\n"
    . "db0 | ok | base -> 003_posts_published | <t>\n"
    . "$host:$port/db1 | ok | base -> 003_posts_published | <t>\n"
    . "db2 | failed | base -> base | <t> | migrations/002_create_posts.sql:7: ERROR: | 42P07: relation \"posts\" already exists\n"
    . "db3 | ok | base -> 003_posts_published | <t>\n"
    . "upgrade: 3 of 4 databases ok; 1 not (<t>)\n",
    'the table: database, result, from -> to, duration, error');
is($tables{4}, $tables{1}, '-j 1 and -j 4 give the same table');

# --json: the table as one document; progress and errors on stderr
my @dbs = fleet();
($rc, $out, $err) = dbm($p, '--json', '--dsn-file', 'fleet.txt', '-j2', 'upgrade');
is($rc, 1, '--json: exit 1');
my $doc = eval { decode_json($out) };
ok($doc, '--json: stdout is one JSON document') or diag($out);
is(join(' ', map { "$_->{line}:$_->{result}:$_->{exit_status}:$_->{from}:$_->{to}" } @{ $doc->{databases} }),
    '2:ok:0:base:003_posts_published 4:ok:0:base:003_posts_published 5:failed:1:base:base '
    . '7:ok:0:base:003_posts_published', '--json: line, result, exit status, from, to of each');
is(join('|', map { defined $_->{error} ? $_->{error} : 'null' } @{ $doc->{databases} }),
    'null|null|migrations/002_create_posts.sql:7: ERROR:  42P07: relation "posts" already exists|null',
    '--json: the error of the failed one only');
is("$doc->{command} $doc->{status} $doc->{jobs} $doc->{databases}[1]{database}",
    "upgrade failed 2 $host:$port/$dbs[1]", '--json: command, status, jobs, database label');
unlike($err, qr/^\[[^]]+\] Running/m, '--json: no progress lines');

# downgrade, check and current across the fleet (the failed one stays at base)
($rc, $out, $err) = dbm($p, '--dsn-file', 'fleet.txt', '-j', '3', 'downgrade', '-1');
is($rc, 1, 'downgrade: exit 1 (the one without dbmigrate has nothing to downgrade)');
is(join(',', map { psql_value($_, "SELECT coalesce(string_agg(c, ','), 'base') FROM dbmigrate.migrate_current() c") }
        @dbs[0, 1, 3]), '002_create_posts,002_create_posts,002_create_posts', 'downgrade -1 on each');
like($out, qr/^\Q$dbs[0]\E +ok +003_posts_published -> 002_create_posts +\d+ ms$/m, 'downgrade: from -> to');
like($out, qr/^\Q$dbs[2]\E +failed +base -> base +\d+ ms  nothing to downgrade: database "\Q$dbs[2]\E" has no dbmigrate yet \(nothing is applied\)$/m,
    'downgrade: the failed one says why');
($rc, $out, $err) = dbm($p, '--dsn-file', 'fleet.txt', 'check');
is($rc, 1, 'check: exit 1 when something is pending somewhere');
like($out, qr/^\Q$dbs[0]\E +pending +002_create_posts -> 002_create_posts +\d+ ms$/m, 'check: pending');
like($out, qr/^check: 0 of 4 databases up to date; 4 not/m, 'check: summary');
($rc, $out, $err) = dbm($p, '--dsn-file', 'fleet.txt', '-j', '4', 'upgrade', '002_create_posts');
($rc, $out, $err) = dbm($p, '--dsn-file', 'fleet.txt', 'current', '-j', '4');
is($rc, 0, 'current (options after the command): exit 0');
like($out, qr/^\[\Q$dbs[3]\E\] 002_create_posts$/m, 'current: each database\'s revisions, prefixed');
like($out, qr/^current: 4 of 4 databases ok; 0 not/m, 'current: summary');

# a database that does not exist: error (exit 2), the others still run
write_file("$p/missing.txt", "dbname=$dbs[0]\ndbname=dbm_cli_no_such_db\n");
($rc, $out, $err) = dbm($p, '--dsn-file', 'missing.txt', '-j', '2', 'upgrade');
is($rc, 2, 'a database that does not exist: exit 2');
like($out, qr/^dbm_cli_no_such_db +error +\? -> \? +\d+ ms  database "dbm_cli_no_such_db" does not exist at \Q$host:$port\E \(settings from missing.txt line 2\); create it with createdb "dbm_cli_no_such_db", or name an existing one in -d, DATABASE_URL or PGDATABASE$/m,
    'a database that does not exist: its row') or diag($out, $err);
is(psql_value($dbs[0], 'SELECT * FROM dbmigrate.migrate_current()'), '003_posts_published',
    'a database that does not exist: the other one is upgraded');

# bad options and bad files: exit 2, nothing runs
my @bad = (
    [['--dsn-file', 'nofile.txt', 'current'], 'dbmigrate: cannot read nofile.txt: No such file or directory'],
    [['-j', '0', '--dsn-file', 'fleet.txt', 'current'], 'dbmigrate: -j: "0" is not a number of connections from 1 to 64'],
    [['-j', 'x', '--dsn-file', 'fleet.txt', 'current'], 'dbmigrate: -j: "x" is not a number of connections from 1 to 64'],
    [['current', '-j'], 'dbmigrate: option "-j" needs a value'],
    [['-j', '2', 'current'], 'dbmigrate: -j needs --dsn-file FILE (the databases to run on)'],
    [['--dsn-file', 'fleet.txt', '-d', "dbname=$dbs[0]", 'current'],
        'dbmigrate: --dsn-file and -d exclude each other: the file names the databases'],
    [['--dsn-file', 'fleet.txt', 'history'],
        'dbmigrate: history: --dsn-file works with upgrade, downgrade, stamp, check and current'],
    [['--dsn-file', 'empty.txt', 'current'],
        "dbmigrate: empty.txt lists no database (one connection string or URL a line; '#' comments)"],
    [['--dsn-file', 'badline.txt', 'upgrade'],
        'dbmigrate: badline.txt:2: not a connection string or URL: missing "=" after "oops" in connection info string'],
    [['--wait-replicas', 'current'], 'dbmigrate: current: --wait-replicas applies to upgrade, downgrade and stamp'],
    [['upgrade', '--wait-replicas=soon'],
        'dbmigrate: --wait-replicas: "soon" is not a timeout in seconds (more than 0, at most 86400)'],
    [['upgrade', '--wait-replicas=0'],
        'dbmigrate: --wait-replicas: "0" is not a timeout in seconds (more than 0, at most 86400)'],
);
write_file("$p/empty.txt", "# nothing here\n\n");
write_file("$p/badline.txt", "dbname=$dbs[3]\noops\n");
for my $case (@bad) {
    my ($args, $msg) = @$case;
    ($rc, $out, $err) = dbm($p, @$args);
    is("$rc|" . (split /\n/, $err)[0], "2|$msg", "refused: @$args");
}
is(psql_value($dbs[3], 'SELECT * FROM dbmigrate.migrate_current()'), '002_create_posts',
    'a file with a bad line: nothing ran, not even on its good line');

done_testing();
