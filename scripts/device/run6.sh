# Sixth device call (H100): issue 12's T=16 recipe with attention pooling, seeds 2 and 3 (42 and 1 ran in
# run5.sh), and the same with ConvLSTM hidden [48, 48] over four seeds (sweep2.py).
BUDGET=${BUDGET:-230}; EVAL=${EVAL:-40}
. scripts/device/sweep_lib.sh
python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; el "gen rc $?"
T16="sequence.length=16 sequence.stride=8 training.early_stopping.patience=16 training.epochs=16 model.pooling=attention"
for s in 2 3; do run T16att_seed$s seed=$s $T16 & done
for s in 42 1 2 3; do run T16attH48_seed$s seed=$s $T16 "model.convlstm.hidden_channels=[48,48]" & done
wait; el "sweep done"
collect
el end
