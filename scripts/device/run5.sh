# Fifth device call (H100): the ConvLSTM against concat with both captured as CUDA graphs (how much of the gap is
# the host issuing kernels), alone on the GPU; then issue 12's T=16 recipe at the CPU-affordable 14 epochs over
# four seeds, and two more variants over two seeds (sweep2.py).
BUDGET=${BUDGET:-270}; EVAL=${EVAL:-60}
. scripts/device/sweep_lib.sh
( taskset -c 12-15 python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; echo "gen rc $?" >> $OUT/gen.log ) &
GEN=$!
el "gpu bench"
PARTS="convlstm variants" timeout ${BENCH:-120} taskset -c 0-11 python3 scripts/device/gpu_bench.py $OUT > $OUT/gpu_bench.log 2>&1
el "gpu bench rc $?"
wait $GEN; el "gen done"; tail -1 $OUT/gen.log
T16="sequence.length=16 sequence.stride=8 training.early_stopping.patience=16"
for s in 42 1 2 3; do run T16e14_seed$s seed=$s $T16 training.epochs=14 & done
for s in 42 1; do run H64_seed$s seed=$s "model.convlstm.hidden_channels=[64,64]" & done
for s in 42 1; do run T16att_seed$s seed=$s $T16 training.epochs=16 model.pooling=attention & done
wait; el "sweep done"
collect
grep -E '"part": "convlstm_variants"|"ok"' $OUT/gpu.jsonl
tail -5 $OUT/gpu_bench.log | cut -c1-300
el end
