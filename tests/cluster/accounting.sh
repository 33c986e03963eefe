# Accounting for the private Slurm test cluster (sourced by slurm.sh, which defines DIR, DB,
# LOG, RUN, SOCKET, MARK and the process helpers): a MariaDB of the cluster's own (datadir,
# socket and port in DIR/db; no option files read, no system service) holding slurmdbd's
# database, and slurmdbd itself. Only `slurm.sh start --accounting` uses it.

DB_USER=slurm
DB_NAME=slurm_acct_db

render_slurmdbd_conf() {
    local host=$1 dbd_port=$2 db_port=$3
    cat <<EOF
$CONF_MARKER
AuthType=auth/munge
AuthInfo=socket=$SOCKET
DbdAddr=127.0.0.1
DbdHost=$host
DbdPort=$dbd_port
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=$DB_USER
StoragePass=$(cat "$DB/password")
StorageLoc=$DB_NAME
EOF
}

db_client() {
    mariadb --no-defaults --socket="$DB/mysqld.sock" --user=root "$@"
}

# make_password: the accounting database's password, made once per folder.
make_password() {
    [[ -s $DB/password ]] && return 0
    mkdir -p "$DB"
    head -c 18 /dev/urandom | base64 | tr -d '/+=' | write_file "$DB/password" 600
}

# start_mariadb PORT: a MariaDB of DIR's own on 127.0.0.1:PORT holding slurmdbd's database.
start_mariadb() {
    local port=$1 pid i
    if [[ ! -d $DB/data/mysql ]]; then
        rm -rf "$DB/data"
        mariadb-install-db --no-defaults --datadir="$DB/data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$LOG/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed; see $LOG/mariadb-install.log"
    fi
    # Small buffers: the accounting database of a test cluster holds a few hundred rows.
    env "$MARK" setsid mariadbd --no-defaults --user=root --datadir="$DB/data" \
        --socket="$DB/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$RUN/mariadbd.pid" --log-error="$LOG/mariadbd.log" --skip-name-resolve \
        --innodb-buffer-pool-size=16M --innodb-log-file-size=8M --skip-log-bin \
        </dev/null >>"$LOG/launch.log" 2>&1 &
    pid=$!
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        db_client -e 'SELECT 1' >/dev/null 2>&1 && break
        proc_alive "$pid" || return 1
        sleep 0.1
    done
    db_client <<EOF || die "could not create the accounting database; see $LOG/mariadbd.log"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$(cat "$DB/password")';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
EOF
}

# start_slurmdbd: slurmdbd, once it answers (its first start creates the database tables).
start_slurmdbd() {
    local i
    launch slurmdbd || return 1
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        timeout 10 sacctmgr -n -P show cluster >/dev/null 2>&1 && return 0
        marked_alive slurmdbd || return 1
        sleep 0.1
    done
    return 1
}
