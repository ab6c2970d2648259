# Fifth device call (H100): the ConvLSTM against concat with both captured as CUDA graphs (how much of the gap is
# the host issuing kernels), alone on the GPU; then issue 12's T=16 recipe at the CPU-affordable 14 epochs over
# four seeds, and two more variants over two seeds (sweep2.py).
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl3/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
W=/tmp/w; mkdir -p $W
( taskset -c 12-15 python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; echo "gen rc $?" >> $OUT/gen.log ) &
GEN=$!
el "gpu bench"
PARTS="convlstm variants" timeout ${BENCH:-120} taskset -c 0-11 python3 scripts/device/gpu_bench.py $OUT > $OUT/gpu_bench.log 2>&1
el "gpu bench rc $?"
wait $GEN; el "gen done"; tail -1 $OUT/gen.log
T16="sequence.length=16 sequence.stride=8 training.early_stopping.patience=16"
run() { n=$1; shift; timeout ${BUDGET:-270} python3 scripts/device/sweep2.py $n /tmp/rf $W device=cuda training.amp=false data.num_workers=2 "$@" > $W/$n.log 2>&1; }
for s in 42 1 2 3; do run T16e14_seed$s seed=$s $T16 training.epochs=14 & done
for s in 42 1; do run H64_seed$s seed=$s "model.convlstm.hidden_channels=[64,64]" & done
for s in 42 1; do run T16att_seed$s seed=$s $T16 training.epochs=16 model.pooling=attention & done
wait; el "sweep done"
for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error" $f | tail -20; done > $OUT/sweep_epochs.log
grep -h "^ROW" $W/*.log | cut -c5- > $OUT/sweep_rows.jsonl
missing=$(for f in $W/*.log; do grep -q "^ROW" $f || basename $f .log; done)
[ -n "$missing" ] && timeout ${EVAL:-60} python3 scripts/device/evalall.py /tmp/rf $W $missing > $OUT/missing_eval.log 2>&1
grep -h '^{' $OUT/missing_eval.log 2>/dev/null >> $OUT/sweep_rows.jsonl
cut -c1-420 $OUT/sweep_rows.jsonl
grep -E '"part": "convlstm_variants"|"ok"' $OUT/gpu.jsonl
tail -5 $OUT/gpu_bench.log | cut -c1-300
el end
