# Connections as every PostgreSQL tool makes them: -d (conninfo or URL), then
# DATABASE_URL (environment, then ./.env), then PG* variables; the three
# failures of the seed document's troubleshooting, one line each, with the
# fix (exit 2).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use Test::More;

my ($rc, $out, $err);
my $host = $ENV{PGHOST} || '127.0.0.1';
my $port = $ENV{PGPORT} || 5432;
my $user = $ENV{PGUSER} || 'postgres';
my $db = new_db();
my $other = new_db();
my $p = CliTest::new_project();
psql_value($db, 'CREATE EXTENSION dbmigrate CASCADE');
psql_value($db, 'SELECT dbmigrate.migrate_stamp(\'001_initial_migration\')');

# which database each source leads to: $db is stamped, $other has nothing
sub current_of { my ($env, @args) = @_; my ($rc, $out, $err) = run_in($p, $env, @args, 'current'); return "$rc:$out$err"; }
my $at_db = "0:001_initial_migration (head)\n";
my $at_other = "0:(database \"$other\" is at base: nothing applied; dbmigrate is not installed yet)\n";

is(current_of({ DATABASE_URL => undef, PGDATABASE => $db }), $at_db, 'PG* variables');
is(current_of({ DATABASE_URL => undef, PGDATABASE => $other }, '-d', "dbname=$db"), $at_db, '-d conninfo before PGDATABASE');
is(current_of({ DATABASE_URL => undef }, '-d', "postgresql://$user\@$host:$port/$db"), $at_db, '-d URL');
is(current_of({ DATABASE_URL => "postgresql://$user\@$host:$port/$db", PGDATABASE => $other }), $at_db,
    'DATABASE_URL before PGDATABASE');
is(current_of({ DATABASE_URL => "postgresql://$user\@$host:$port/$other" }, '-d', "dbname=$db"), $at_db,
    '-d before DATABASE_URL');
write_file("$p/.env", "# settings\nOTHER=1\nexport DATABASE_URL=\"postgresql://$user\@$host:$port/$db\"\n");
is(current_of({ DATABASE_URL => undef, PGDATABASE => $other }), $at_db, './.env before PGDATABASE');
is(current_of({ DATABASE_URL => "postgresql://$user\@$host:$port/$other" }), $at_other,
    'DATABASE_URL from the environment before ./.env');
unlink "$p/.env";

# connection refused
($rc, $out, $err) = run_in($p, { DATABASE_URL => undef }, '-d', 'host=127.0.0.1 port=1', 'current');
is($rc, 2, 'connection refused: exit 2');
is($err, "dbmigrate: cannot connect to 127.0.0.1:1: connection refused (settings from -d); start the server "
    . "there, or point -d, DATABASE_URL or PGHOST/PGPORT at one that runs\n", 'connection refused: one line with the fix');

# database does not exist
($rc, $out, $err) = run_in($p, { DATABASE_URL => "postgresql://$user\@$host:$port/dbm_cli_no_such_db" }, 'upgrade');
is($rc, 2, 'no such database: exit 2');
is($err, "dbmigrate: database \"dbm_cli_no_such_db\" does not exist at $host:$port (settings from DATABASE_URL); "
    . "create it with createdb \"dbm_cli_no_such_db\", or name an existing one in -d, DATABASE_URL or PGDATABASE\n",
    'no such database: one line with the fix');

# password authentication failed: a role that must give a password (a line
# for it alone at the top of the server's pg_hba.conf, removed afterwards)
my $hba = psql_value($db, 'SHOW hba_file');
SKIP: {
    skip "cannot write $hba", 4 unless -w $hba;
    my $saved = read_file($hba);
    psql_value($db, "DROP ROLE IF EXISTS dbm_cli_pw; CREATE ROLE dbm_cli_pw LOGIN PASSWORD 'right'; "
        . "GRANT USAGE ON SCHEMA dbmigrate TO dbm_cli_pw");
    write_file($hba, "host all dbm_cli_pw 127.0.0.1/32 scram-sha-256\n" . $saved);
    psql_value($db, 'SELECT pg_reload_conf()');
    sleep 1;
    ($rc, $out, $err) = run_in($p, { PGPASSWORD => 'wrong', DATABASE_URL => undef },
        '-d', "host=127.0.0.1 port=$port user=dbm_cli_pw dbname=$db", 'current');
    is($rc, 2, 'wrong password: exit 2');
    is($err, "dbmigrate: password authentication failed for user \"dbm_cli_pw\" at 127.0.0.1:$port (settings from -d); "
        . "fix the password in -d, DATABASE_URL, PGPASSWORD or ~/.pgpass\n", 'wrong password: one line with the fix');
    my $home = CliTest::new_project();
    write_file("$home/.pgpass", "127.0.0.1:$port:*:dbm_cli_pw:right\n");
    chmod 0600, "$home/.pgpass";
    ($rc, $out, $err) = run_in($p, { HOME => $home, PGPASSWORD => undef, PGPASSFILE => undef, DATABASE_URL => undef },
        '-d', "host=127.0.0.1 port=$port user=dbm_cli_pw dbname=$db", 'current');
    is("$rc:$out$err", $at_db, 'the password from ~/.pgpass (a role with USAGE on dbmigrate only)');
    ($rc, $out, $err) = run_in($p, { HOME => $home, PGPASSWORD => undef, PGPASSFILE => undef,
        DATABASE_URL => "postgresql://dbm_cli_pw:wrong\@127.0.0.1:$port/$db" }, 'current');
    like($err, qr/^dbmigrate: password authentication failed for user "dbm_cli_pw" at 127\.0\.0\.1:$port \(settings from DATABASE_URL\)/,
        'a wrong password in the URL wins over ~/.pgpass');
    write_file($hba, $saved);
    psql_value($db, 'SELECT pg_reload_conf()');
    psql_value($db, 'DROP OWNED BY dbm_cli_pw; DROP ROLE dbm_cli_pw');
}

done_testing();
