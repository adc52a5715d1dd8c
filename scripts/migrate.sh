#!/usr/bin/env bash
# migrate.sh: applies sql/NNN_*.sql in numeric order to the application
# database, as the application user over TCP on 127.0.0.1, and records each
# in schema_migrations (version, name, applied_at). A recorded version is
# skipped, so running it twice changes nothing.
#
# Usage: scripts/migrate.sh DIR
# Environment: DB_PORT (3310), DB_USER (tk), DB_NAME (tk), DB_PASSWORD_FILE
# (DIR/secrets/db_password), DB_PASSWORD (overrides the file).
#
# Each file runs in one client session that stops at its first error; the
# version is recorded by the last statement of that same session, so a
# failing migration is never recorded. MariaDB DDL commits implicitly, so a
# file that fails halfway may leave its earlier statements applied: write
# migrations that can be re-run (IF NOT EXISTS) or fix the database by hand.
set -euo pipefail

TK_PROG=migrate.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

[ $# -eq 1 ] || { echo "usage: scripts/migrate.sh DIR" >&2; exit 2; }
DIR=$(tk_abspath "$1")
DB_PORT=${DB_PORT:-3310}
DB_USER=${DB_USER:-tk}
DB_NAME=${DB_NAME:-tk}
DB_PASSWORD_FILE=$(tk_abspath "${DB_PASSWORD_FILE:-$DIR/secrets/db_password}")
SQL_DIR=${SQL_DIR:-$ROOT/sql}
tk_check_port DB_PORT "$DB_PORT"
[[ "$DB_NAME" =~ ^[A-Za-z0-9_]{1,64}$ ]] || tk_die "DB_NAME=$DB_NAME: expected 1-64 of [A-Za-z0-9_]"
command -v mariadb >/dev/null 2>&1 || tk_die "mariadb (client) not found; run scripts/deps.sh (as root)"

if [ -n "${DB_PASSWORD:-}" ]; then
    pw=$DB_PASSWORD
else
    pw=$(tk_read_secret "$DB_PASSWORD_FILE") ||
        tk_die "cannot read the database password from $DB_PASSWORD_FILE (start the services first: scripts/services.sh start $DIR)"
fi

# The password goes in a 0600 option file, never on a command line.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-migrate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cnf=$tmp/client.cnf
pwq=${pw//\\/\\\\}
pwq=${pwq//\"/\\\"}
(umask 077 && cat >"$cnf" <<EOF
[client]
user=$DB_USER
password="$pwq"
host=127.0.0.1
port=$DB_PORT
protocol=tcp
database=$DB_NAME
connect-timeout=10
EOF
)

db() {
    mariadb --defaults-file="$cnf" --batch --skip-column-names "$@"
}

# One migrate.sh at a time against one database.
lockdir=$DIR
[ -d "$lockdir" ] || lockdir=$tmp
exec 9>"$lockdir/.migrate.lock"
flock -w 120 9 || tk_die "another migrate.sh is running against $DIR (waited 120s)"

out=$(db -e "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INT UNSIGNED NOT NULL,
    name        VARCHAR(255) NOT NULL,
    applied_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" 2>&1) ||
    tk_die "cannot reach database $DB_NAME as $DB_USER on 127.0.0.1:$DB_PORT: $out"

declare -A applied=()
while IFS=$'\t' read -r v n; do
    [ -n "$v" ] && applied[$v]=$n
done < <(db -e "SELECT version, name FROM schema_migrations ORDER BY version")

# The files, by number; a number used twice is an error.
files=()
declare -A seen=()
while IFS= read -r f; do
    b=$(basename "$f")
    v=$((10#${b%%_*}))
    [ -z "${seen[$v]:-}" ] || tk_die "two migrations with version $v: ${seen[$v]} and $b"
    seen[$v]=$b
    files+=("$f")
done < <(find "$SQL_DIR" -maxdepth 1 -type f -name '[0-9][0-9][0-9]_*.sql' | sort)
[ ${#files[@]} -gt 0 ] || tk_die "no migrations (NNN_*.sql) in $SQL_DIR"

n_applied=0
for f in "${files[@]}"; do
    b=$(basename "$f")
    v=$((10#${b%%_*}))
    if [ -n "${applied[$v]:-}" ]; then
        [ "${applied[$v]}" = "$b" ] ||
            tk_die "version $v is recorded as ${applied[$v]} but the file is now $b; migrations are never renamed, add a new one"
        continue
    fi
    [[ "$b" =~ ^[A-Za-z0-9_.-]+$ ]] || tk_die "migration file name $b: use only [A-Za-z0-9_.-]"
    tk_say "applying $b"
    if ! out=$({ cat "$f"; printf '\nINSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '"'"'%s'"'"', NOW(3));\n' "$v" "$b"; } |
        db 2>&1); then
        printf '%s\n' "$out" >&2
        tk_die "migration $b failed; it is not recorded (statements before the error may have been applied; every statement must end with ;)"
    fi
    [ -z "$out" ] || printf '%s\n' "$out"
    n_applied=$((n_applied + 1))
done
last=$(db -e "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
if [ "$n_applied" -eq 0 ]; then
    tk_say "database $DB_NAME is up to date (version $last)"
else
    tk_say "applied $n_applied migration(s); database $DB_NAME is at version $last"
fi
