# Sixth device call (H100): issue 12's T=16 recipe with attention pooling, seeds 2 and 3 (42 and 1 ran in
# run5.sh), and the same with ConvLSTM hidden [48, 48] over four seeds (sweep2.py).
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl3/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
W=/tmp/w; mkdir -p $W
python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; el "gen rc $?"
T16="sequence.length=16 sequence.stride=8 training.early_stopping.patience=16 training.epochs=16 model.pooling=attention"
run() { n=$1; shift; timeout ${BUDGET:-230} python3 scripts/device/sweep2.py $n /tmp/rf $W device=cuda training.amp=false data.num_workers=2 "$@" > $W/$n.log 2>&1; }
for s in 2 3; do run T16att_seed$s seed=$s $T16 & done
for s in 42 1 2 3; do run T16attH48_seed$s seed=$s $T16 "model.convlstm.hidden_channels=[48,48]" & done
wait; el "sweep done"
for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error" $f | tail -20; done > $OUT/sweep_epochs.log
grep -h "^ROW" $W/*.log | cut -c5- > $OUT/sweep_rows.jsonl
missing=$(for f in $W/*.log; do grep -q "^ROW" $f || basename $f .log; done)
[ -n "$missing" ] && timeout ${EVAL:-40} python3 scripts/device/evalall.py /tmp/rf $W $missing > $OUT/missing_eval.log 2>&1
grep -h '^{' $OUT/missing_eval.log 2>/dev/null >> $OUT/sweep_rows.jsonl
cut -c1-420 $OUT/sweep_rows.jsonl
el end
