# Replicas, against a real standby this test makes with pg_basebackup -R on
# the same machine (as the cluster's user, in a temporary folder, on port
# DBM_STANDBY_PORT, default PGPORT + 1; stopped and removed at the end, also
# after a failure).  The primary (PGHOST/PGPORT) needs wal_level replica and
# a replication entry in pg_hba.conf, which scripts/lib.sh's clusters have.
#   - upgrade --wait-replicas returns once the standby has replayed the
#     commit: the new column is there on the standby right away;
#   - with replay paused, --wait-replicas=1 exits 1 naming the standby and
#     its lag; the primary keeps the deploy;
#   - a deploy pointed at the standby fails with 25006 and the hint; current,
#     check and health() work there;
#   - without pg_monitor the wait refuses (exit 2); without standbys there
#     is nothing to wait for.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep);
use Test::More;

my $host = $ENV{PGHOST} || '127.0.0.1';
my $port = $ENV{PGPORT} || 5432;
my $user = $ENV{PGUSER} || 'postgres';
my $sport = $ENV{DBM_STANDBY_PORT} || $port + 1;
my $bindir = $ENV{PGBIN};
unless ($bindir) {
    my $pgc = $ENV{PG_CONFIG} || 'pg_config';
    $bindir = `$pgc --bindir`;
    chomp $bindir;
}
my $os_user = $< == 0 ? 'postgres' : scalar getpwuid($<);
my $name = "dbm_cli_standby_$$";
my ($rc, $out, $err);

# as_cluster_user(CMD...): run CMD as the user the servers run as
sub as_cluster_user {
    my @cmd = @_;
    @cmd = ('runuser', '-u', $os_user, '--', @cmd) if $< == 0;
    return system(@cmd);
}

# the standby's folder; removed (and the standby stopped) however the test ends
my $sb = tempdir("dbm_standby_XXXXXX", TMPDIR => 1, CLEANUP => 0);
my $owner = $$;
if ($< == 0) {
    my (undef, undef, $uid, $gid) = getpwnam($os_user) or die "no user $os_user";
    chown $uid, $gid, $sb or die "chown $sb: $!";
}
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { die "interrupted by SIG$_[0]\n" };
$SIG{PIPE} = 'IGNORE';    # prove gone: finish, and clean up
END {
    if ($$ == $owner && -d $sb) {
        local $SIG{INT} = 'IGNORE';
        local $SIG{TERM} = 'IGNORE';
        my $rc = $?;
        as_cluster_user("$bindir/pg_ctl", '-s', '-D', "$sb/data", '-m', 'immediate', '-w', 'stop')
            if -f "$sb/data/postmaster.pid";
        system('rm', '-rf', '--', $sb);
        $? = $rc;
    }
}

# standby_value(DB, SQL): psql_value on the standby
sub standby_value {
    my ($db, $sql) = @_;
    return psql_value("host=$host port=$sport dbname=$db", $sql);
}

# wait_for(CODE): poll CODE until true (at most 30 s); returns its last value
sub wait_for {
    my ($code) = @_;
    for (1 .. 300) {
        my $v = $code->();
        return $v if $v;
        sleep 0.1;
    }
    return $code->();
}

my $db = new_db();
my $p = CliTest::new_project();
for my $f (glob(root_dir() . '/examples/migrations/*.sql')) {
    my ($n) = $f =~ m{([^/]+)$};
    write_file("$p/migrations/$n", read_file($f));
}
($rc, $out, $err) = dbm($p, '-d', "dbname=$db", 'upgrade', '--wait-replicas');
is($rc, 0, 'the primary is deployed to head before the standby exists');
like($out, qr/^No streaming standby in pg_stat_replication: nothing to wait for$/m,
    '--wait-replicas without standbys: nothing to wait for');

# the standby: pg_basebackup -R, its own port and socket folder
isnt(psql_value($db, 'SHOW wal_level'), 'minimal', 'the primary has wal_level replica or logical');
is(as_cluster_user("$bindir/pg_basebackup", '-h', $host, '-p', $port, '-U', $user, '-D', "$sb/data",
        '-R', '-X', 'stream', '-c', 'fast'), 0, 'pg_basebackup -R made the standby') or BAIL_OUT('no standby');
open(my $conf, '>>', "$sb/data/postgresql.conf") or die;
print $conf "port = $sport\nunix_socket_directories = '$sb'\ncluster_name = '$name'\nhot_standby = on\n";
close($conf);
unlink "$sb/data/postmaster.pid";
is(as_cluster_user("$bindir/pg_ctl", '-s', '-D', "$sb/data", '-l', "$sb/server.log", '-w', '-t', '60', 'start'), 0,
    'the standby started') or BAIL_OUT('standby did not start: ' . read_file("$sb/server.log"));
is(wait_for(sub { psql_value($db, "SELECT state FROM pg_stat_replication WHERE application_name = '$name'")
            eq 'streaming' }), 1, 'the standby streams from the primary');
is(standby_value($db, 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# --wait-replicas: the standby has the new column as soon as the deploy returns
write_file("$p/migrations/004_nickname.sql", "-- revision: 004_nickname\n-- down_revision: 003_posts_published\n"
    . "-- message: users get a nickname\n-- migrate:up\nALTER TABLE users ADD COLUMN nickname text;\n"
    . "-- migrate:down\nALTER TABLE users DROP COLUMN nickname;\n");
($rc, $out, $err) = dbm($p, '-d', "dbname=$db", 'upgrade', '--wait-replicas=30');
is($rc, 0, 'upgrade --wait-replicas: exit 0') or diag($out, $err);
like($out, qr/^1 standby replayed the deploy's commit \(LSN [0-9A-F]+\/[0-9A-F]+\) in \d+ ms\n(.*\n)?Upgraded database/m,
    'upgrade --wait-replicas: says the standby replayed the commit, then the summary');
is(standby_value($db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.users'::regclass "
        . "AND attname = 'nickname' AND NOT attisdropped"), '1', 'the standby has the new column right away');
is(standby_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '004_nickname',
    'the standby has the new current revision');

# read-only things work on the standby
is(standby_value($db, "SELECT dbmigrate.health() ->> 'status'"), 'healthy', 'health() works on the standby');
($rc, $out, $err) = dbm($p, '-d', "host=$host port=$sport dbname=$db", 'current');
is("$rc|$out", "0|004_nickname (head)\n", 'current works on the standby');
($rc, $out, $err) = dbm($p, '-d', "host=$host port=$sport dbname=$db", 'check');
is($rc, 0, 'check works on the standby (up to date)') or diag($out, $err);

# a deploy pointed at the standby: 25006, the server's hint, and where to go
my $hint = 'HINT:  Run it on the primary; the read-only functions (migrate_current, migrate_history, health) work here.';
my $where = "dbmigrate: database \"%s\" on $host port $sport is a hot standby (read-only): run %s against the "
    . "primary; health() and the commands that only read (current, heads, history, show, check) work on a standby";
write_file("$p/migrations/005_motto.sql", "-- revision: 005_motto\n-- down_revision: 004_nickname\n"
    . "-- message: users get a motto\n-- migrate:up\nALTER TABLE users ADD COLUMN motto text;\n"
    . "-- migrate:down\nALTER TABLE users DROP COLUMN motto;\n");
($rc, $out, $err) = dbm($p, '-d', "host=$host port=$sport dbname=$db", 'upgrade');
is($rc, 1, 'upgrade on the standby: exit 1');
like($err, qr/^dbmigrate: migrations\/002_create_posts.sql:1: ERROR:  25006: migrate_register\(\) cannot run on a hot standby$/m,
    'upgrade on the standby: 25006 from the server');
like($err, qr/^\Q$hint\E$/m, 'upgrade on the standby: the hint');
like($err, qr/^\Q${\ sprintf($where, $db, 'upgrade')}\E$/m, 'upgrade on the standby: it says it is a standby');
($rc, $out, $err) = dbm($p, '-d', "host=$host port=$sport dbname=$db", 'downgrade');
is($rc . '|' . (split /\n/, $err)[0], '1|dbmigrate: ERROR:  25006: migrate_downgrade() cannot run on a hot standby',
    'downgrade on the standby: exit 1, 25006');
like($err, qr/^\Q${\ sprintf($where, $db, 'downgrade')}\E$/m, 'downgrade on the standby: it says it is a standby');
my $fresh = new_db();
is(wait_for(sub { standby_value('postgres', "SELECT count(*) FROM pg_database WHERE datname = '$fresh'") }), '1',
    'a fresh database reached the standby');
($rc, $out, $err) = dbm($p, '-d', "host=$host port=$sport dbname=$fresh", 'upgrade');
is($rc . '|' . (split /\n/, $err)[0], '1|dbmigrate: ERROR:  25006: cannot execute CREATE EXTENSION in a read-only transaction',
    'upgrade of a database without dbmigrate on the standby: 25006 from CREATE EXTENSION');
like($err, qr/^\Q${\ sprintf($where, $fresh, 'upgrade')}\E$/m, '... and it says it is a standby');
is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '004_nickname', 'the primary is unchanged');

# replay paused: the wait times out, names the standby and its lag; the deploy stays
standby_value($db, 'SELECT pg_wal_replay_pause()');
is(wait_for(sub { standby_value($db, "SELECT pg_get_wal_replay_pause_state() = 'paused'") eq 't' }), 1,
    'replay paused on the standby');
($rc, $out, $err) = dbm($p, '-d', "dbname=$db", 'upgrade', '--wait-replicas=1');
is($rc, 1, 'replay paused: --wait-replicas=1 exits 1');
like($err, qr/^dbmigrate: standby "\Q$name\E" \(127\.0\.0\.1, pid \d+\) has not replayed the deploy's commit \(LSN [0-9A-F]+\/[0-9A-F]+\) after 1 s: replay_lsn [0-9A-F]+\/[0-9A-F]+, [1-9]\d* bytes behind$/m,
    'replay paused: which standby lags and by how much') or diag($err);
like($err, qr/^HINT:  The deploy is committed on the primary; new code may read a standby without it\./m,
    'replay paused: the hint says the deploy is committed');
is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '005_motto', 'replay paused: the primary keeps the deploy');
is(standby_value($db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.users'::regclass AND attname = 'motto'"),
    '0', 'replay paused: the standby lacks the column');
standby_value($db, 'SELECT pg_wal_replay_resume()');
is(standby_value($db, 'SELECT pg_get_wal_replay_pause_state()'), 'not paused', 'replay resumed');
($rc, $out, $err) = dbm($p, '--json', '-d', "dbname=$db", 'upgrade', '--wait-replicas=30');
my $doc = eval { decode_json($out) } || {};
is($rc, 0, 'after resuming: a no-op upgrade --wait-replicas exits 0') or diag($out, $err);
is(join(',', $doc->{replicas}{timed_out} ? 'timed out' : 'in time', map { "$_->{application_name}:" . ($_->{lag_bytes} <= 0 ? 'caught up' : 'lags') }
        @{ $doc->{replicas}{standbys} || [] }), "in time,$name:caught up", '--json: the standbys and their lag');
is(standby_value($db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.users'::regclass AND attname = 'motto'"),
    '1', 'after resuming: the standby has the column');

# without pg_monitor: pg_stat_replication hides the standbys; the wait refuses
my $role = "dbm_cli_nomon_$$";
psql_value($db, "CREATE ROLE $role LOGIN; GRANT USAGE ON SCHEMA dbmigrate TO $role; "
    . "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dbmigrate TO $role; "
    . "GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA dbmigrate TO $role");
($rc, $out, $err) = dbm($p, '-d', "dbname=$db user=$role", 'upgrade', '--wait-replicas');
is("$rc|$err", "2|dbmigrate: --wait-replicas: cannot see the standbys in pg_stat_replication: role \"$role\" "
    . "lacks the privileges of pg_monitor (the deploy is committed)\nHINT:  GRANT pg_monitor TO \"$role\"; "
    . "(or deploy as a superuser).\n", 'without pg_monitor: exit 2, and which role to grant');
psql_value($db, "GRANT pg_monitor TO $role");
($rc, $out, $err) = dbm($p, '-d', "dbname=$db user=$role", 'upgrade', '--wait-replicas');
is($rc, 0, 'with pg_monitor: the wait works') or diag($out, $err);
psql_value($db, "DROP OWNED BY $role; DROP ROLE $role");

done_testing();
