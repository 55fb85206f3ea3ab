#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, and the smoke DAG run through profiles/slurm.
#
#   sudo bash tests/slurm/run_slurm_test.sh          # as root (installs Debian packages)
#   python -m pytest -q -m slurm tests/slurm          # the same, from pytest
#
# 1. installs Debian's slurm-wlm, slurmdbd, munge and mariadb-server (if missing);
# 2. starts munged, MariaDB, slurmdbd (real accounting, as on a cluster), slurmctld and slurmd
#    itself (no systemd needed), each stopped by its PID on exit; no cgroups needed
#    (proctrack/linuxproc, task/none); the node advertises 4 GPUs (stand-in device files), so
#    jobs asking for gpu=1 are really scheduled as GPU jobs;
# 3. runs `snakemake --profile profiles/slurm` on the smoke preset with resources.gpu=1;
# 4. checks the outputs, and through `sacct` that every non-local job ran as a SLURM job,
#    completed, and that the training/search jobs were allocated gres/gpu=1.
# Every wait is bounded. Env: PYTHON (a python with a2d and the slurm extra; default `python3`),
# A2D_SLURM_WORK (work dir; default a fresh /tmp dir), A2D_SLURM_KEEP=1 (keep it),
# A2D_SLURM_DAG_TIMEOUT (seconds for the DAG, default 1800), A2D_SLURM_CLUSTER_ONLY=1 (start the
# cluster, run one probe job, stop).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
PY="$(command -v "$PY")"
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # absolute, symlinks kept (a venv's)
export PATH="$(dirname "$PY"):$PATH"   # rules call `a2d` and `python`: the venv's, in every job
WORK="${A2D_SLURM_WORK:-$(mktemp -d /tmp/a2d-slurm.XXXXXX)}"
DAG_TIMEOUT="${A2D_SLURM_DAG_TIMEOUT:-1800}"
CLUSTER=a2dtest
T0=$(date +%s)

log() { echo "[slurm-test $(($(date +%s) - T0))s] $*"; }
die() { echo "[slurm-test] FAILED: $*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds, at most SECONDS
wait_for() {
    local limit=$1 what=$2; shift 2
    local end=$(($(date +%s) + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || die "timed out after ${limit}s waiting for $what"
        sleep 1
    done
}

[ "$(id -u)" = 0 ] || die "needs root (installs packages, starts daemons)"
"$PY" -c "import a2d, snakemake_executor_plugin_slurm" \
    || die "$PY lacks a2d or snakemake-executor-plugin-slurm (pip install -e '.[slurm]')"

# ---- 1. packages
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v mariadbd >/dev/null; then
    log "installing slurm-wlm slurmdbd munge mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq --no-install-recommends \
        slurm-wlm slurmdbd munge mariadb-server mariadb-client >/dev/null
fi
log "slurm $(slurmctld -V 2>&1 | head -1), $(mariadbd --version 2>&1 | awk '{print $3}')"

mkdir -p "$WORK"/{etc,log,state,spool,db,run}
PIDS=()
cleanup() {
    local rc=$?
    log "stopping daemons"
    # newest first: slurmd, slurmctld, slurmdbd, mariadbd, munged
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        local pid=${PIDS[i]}
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$rc" != 0 ]; then
        for f in "$WORK"/log/*.log; do
            [ -f "$f" ] || continue
            echo "---- tail $f" >&2; tail -n 25 "$f" >&2
        done
    fi
    if [ "${A2D_SLURM_KEEP:-0}" != 1 ] && [ -z "${A2D_SLURM_WORK:-}" ]; then
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

# ---- 2a. munge (its key comes with the package; make one if absent)
[ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || \
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
runuser -u munge -- munged --foreground --force >"$WORK/log/munged.log" 2>&1 &
PIDS+=($!)
wait_for 20 munged sh -c 'munge -n | unmunge'
log "munged up"

# ---- 2b. MariaDB for slurmdbd (own data dir; the client's default socket)
mkdir -p /run/mysqld
mariadb-install-db --user=root --datadir="$WORK/db" --auth-root-authentication-method=socket \
    >"$WORK/log/mariadb-install.log" 2>&1 || die "mariadb-install-db (see $WORK/log)"
mariadbd --user=root --datadir="$WORK/db" --socket=/run/mysqld/mysqld.sock --skip-networking \
    --pid-file="$WORK/run/mariadb.pid" --log-error="$WORK/log/mariadb.log" \
    --innodb-buffer-pool-size=64M &
PIDS+=($!)
wait_for 60 mariadb mariadb -S /run/mysqld/mysqld.sock -e 'SELECT 1'
DBPASS="a2d-$RANDOM$RANDOM"
mariadb -S /run/mysqld/mysqld.sock -e "CREATE DATABASE slurm_acct_db;
  CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
log "mariadb up"

# ---- 2c. slurm configuration (SLURM_CONF points every slurm command here)
NCPU=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
export SLURM_CONF="$WORK/etc/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
MailProg=/bin/true
SlurmctldParameters=enable_configless
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
# four stand-in GPU device files: slurmd counts GPUs by their files (it drops count-only gpu
# lines) and sets CUDA_VISIBLE_DEVICES from their indices, as on a real GPU node
mkdir -p "$WORK/dev" && touch "$WORK"/dev/fakegpu{0,1,2,3}
cat >"$WORK/etc/gres.conf" <<EOF
NodeName=localhost Name=gpu File=$WORK/dev/fakegpu[0-3]
EOF
cat >"$WORK/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
LogFile=$WORK/log/slurmdbd.log
PidFile=$WORK/run/slurmdbd.pid
EOF
chmod 600 "$WORK/etc/slurmdbd.conf"

# ---- 2d. daemons: slurmdbd, the accounting records, slurmctld, slurmd
slurmdbd -D >"$WORK/log/slurmdbd.out" 2>&1 &
PIDS+=($!)
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account a2d Description=a2d-test Organization=a2d >/dev/null
sacctmgr -i add user root Account=a2d DefaultAccount=a2d >/dev/null
slurmctld -D -i >"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
wait_for 60 slurmctld scontrol ping
# configless slurmd: it fetches slurm.conf from slurmctld and caches it under /run/slurm/conf,
# where commands inside jobs find it (the plugin's job step runs srun with SLURM_* unset)
slurmd -D -N localhost --conf-server localhost:6817 >"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)
wait_for 60 "node localhost idle" sh -c 'sinfo -h -n localhost -o %T | grep -qx idle'
log "cluster up: $(sinfo -h -o '%P %D %c CPUs %m MB %G %T')"
# one trivial GPU job first: a broken cluster fails here, in seconds, with a clear message
timeout 120 sbatch --wait --quiet -A a2d --gpus=1 -t 1 -o "$WORK/log/probe-%j.out" \
    --wrap 'env -u SLURM_CONF srun -n1 true && echo probe ok' \
    || die "a trivial sbatch --gpus=1 job (with srun inside) did not complete"
log "probe job done"
if [ "${A2D_SLURM_CLUSTER_ONLY:-0}" = 1 ]; then log "cluster only: stopping here"; exit 0; fi

# ---- 3. the smoke DAG through the SLURM profile
RESULTS="$WORK/smoke"
mkdir -p "$WORK/wd"
# the smoke preset with GPU jobs: train*/search/retrain* ask for gpu=1 (-> sbatch --gpus=1)
# and one seed: every rule still runs through SLURM (43 jobs instead of 71; the local smoke DAG
# test runs both seeds)
printf 'resources: {train_threads: 1, train_mem_mb: 2000, gpu: 1}\nseeds: [1]\n' >"$WORK/gpu.yaml"
START_ISO=$(date +%Y-%m-%dT%H:%M:%S)
D0=$(date +%s)
log "snakemake --profile profiles/slurm (smoke preset, resources.gpu=1)"
set +e
(cd "$REPO" && timeout "$DAG_TIMEOUT" "$PY" -m snakemake --profile profiles/slurm \
    --snakefile "$REPO/Snakefile" --directory "$WORK/wd" \
    --configfile "$REPO/config.yaml" "$REPO/presets/smoke.yaml" "$WORK/gpu.yaml" \
    --config "results=$RESULTS" \
    --slurm-init-seconds-before-status-checks 2 --latency-wait 10 --jobs 4 \
    --default-resources slurm_account=a2d slurm_partition=debug runtime=30 mem_mb=2000 \
    ) >"$WORK/log/snakemake.log" 2>&1
SM_RC=$?
set -e
DAG_S=$(($(date +%s) - D0))
tail -n 5 "$WORK/log/snakemake.log"
[ "$SM_RC" = 0 ] || { tail -n 60 "$WORK/log/snakemake.log" >&2; die "snakemake exited $SM_RC (124 = timeout)"; }

# ---- 4. outputs and accounting
sacct -X -n -P -a -S "$START_ISO" -o JobID,JobName,State,ExitCode,AllocTRES,Elapsed \
    >"$WORK/sacct.txt"
"$PY" "$REPO/tests/slurm/check_slurm_run.py" --repo "$REPO" --results "$RESULTS" \
    --workdir "$WORK/wd" --sacct "$WORK/sacct.txt" --snakemake-log "$WORK/log/snakemake.log" \
    --dag-seconds "$DAG_S" --overlay "$WORK/gpu.yaml" --out "$WORK/summary.json"
log "passed: DAG ${DAG_S}s, whole test $(($(date +%s) - T0))s"
