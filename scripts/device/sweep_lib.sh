# Sourced by run4.sh-run6.sh: the shared set-up, one recipe run (sweep2.py, BUDGET seconds) and the collection of
# the runs' rows (evalall.py scores any run cut short). Needs OUT (the device tool's output folder).
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl3/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
W=/tmp/w; mkdir -p $W

run() {  # NAME OVERRIDES...: fit cpu_real.yaml + overrides on /tmp/rf, then score it (one ROW line in W/NAME.log)
    n=$1; shift
    timeout ${BUDGET:-270} python3 scripts/device/sweep2.py $n /tmp/rf $W device=cuda training.amp=false \
        data.num_workers=2 "$@" > $W/$n.log 2>&1
}

collect() {  # after `wait`: epochs, rows (OUT/sweep_rows.jsonl), and a score for any run without its ROW
    for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error" $f | tail -20; done > $OUT/sweep_epochs.log
    grep -h "^ROW" $W/*.log | cut -c5- > $OUT/sweep_rows.jsonl
    missing=$(for f in $W/*.log; do grep -q "^ROW" $f || basename $f .log; done)
    [ -n "$missing" ] && timeout ${EVAL:-60} python3 scripts/device/evalall.py /tmp/rf $W $missing > $OUT/missing_eval.log 2>&1
    grep -h '^{' $OUT/missing_eval.log 2>/dev/null >> $OUT/sweep_rows.jsonl
    cut -c1-420 $OUT/sweep_rows.jsonl
}
