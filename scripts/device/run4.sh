# Fourth device call (H100): the ConvLSTM four ways (input conv batched or concat, gate arithmetic fused or eager)
# and the seed step with fused / eager gates, alone on the GPU; then issue 12's recipe variants (sweep2.py, each
# scored right after its fit; evalall.py for any cut short).
BUDGET=${BUDGET:-300}; EVAL=${EVAL:-60}
. scripts/device/sweep_lib.sh
nvidia-smi -L
( taskset -c 12-15 python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; echo "gen rc $?" >> $OUT/gen.log ) &
GEN=$!
el "gpu bench"
PARTS="convlstm variants,seed step" NO_COMPILE=1 UNFUSED=1 timeout ${BENCH:-170} taskset -c 0-11 \
    python3 scripts/device/gpu_bench.py $OUT > $OUT/gpu_bench.log 2>&1; el "gpu bench rc $?"
wait $GEN; el "gen done"; tail -1 $OUT/gen.log
T16="sequence.length=16 sequence.stride=8 training.epochs=16 training.early_stopping.patience=16"
for s in 42 1 2 3; do run T16_seed$s seed=$s $T16 & done
for s in 42 1 2 3; do ENERGY_FIT=1 run FIT_seed$s seed=$s & done
for s in 42 1; do ENERGY_FIT=1 run FIT_T16_seed$s seed=$s $T16 & done
wait; el "sweep done"
collect
grep -E '"part": "(convlstm_variants|seed_train_step)"|"ok"' $OUT/gpu.jsonl | cut -c1-600
el end
