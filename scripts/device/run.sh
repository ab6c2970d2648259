# One device call: GPU path checks at the seed model's size, then a recipe sweep on the real-footage set.
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L; nproc
python3 -c "import torch, torchvision, cv2, av, sklearn; print(torch.__version__, torchvision.__version__, cv2.__version__, av.__version__, torch.cuda.get_device_name(0))"
W=/tmp/w; mkdir -p $W
el "footage gen start"
( python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; echo "gen rc $?" >> $OUT/gen.log ) &
GEN=$!
el "checks eager"
timeout 150 python3 scripts/device/checks.py $OUT eager > $OUT/checks_eager.log 2>&1; el "checks eager rc $?"
wait $GEN; el "gen done"; tail -2 $OUT/gen.log
run() { n=$1; shift; timeout ${BUDGET:-320} python3 scripts/device/sweep.py $n /tmp/rf $W device=cuda training.amp=false data.num_workers=2 "$@" > $W/$n.log 2>&1; }
run A_base10 &
run B_ep24 training.epochs=24 &
run C_lr3e3_ep16 training.learning_rate=0.003 training.epochs=16 &
run D_native96_ep16 image.height=96 image.width=96 training.epochs=16 &
run E_bs32_lr3e3_ep24 training.batch_size=32 training.learning_rate=0.003 training.epochs=24 &
run F_T16_lr3e3_ep24 sequence.length=16 sequence.stride=8 training.learning_rate=0.003 training.epochs=24 &
run G_noaug_lr3e3_ep16 augmentation.random_crop=false augmentation.color_jitter=false training.learning_rate=0.003 training.epochs=16 &
el "sweep started; checks compile beside it"
timeout 300 python3 scripts/device/checks.py $OUT compile > $OUT/checks_compile.log 2>&1; el "checks compile rc $?"
wait; el "sweep done"
for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error" $f | tail -30; done > $OUT/sweep_epochs.log
timeout 100 python3 scripts/device/evalall.py /tmp/rf $W > $OUT/sweep_eval.log 2>&1; el "eval rc $?"
cp $W/sweep.json $OUT/ 2>/dev/null
cat $OUT/sweep_eval.log | grep '^{' ; el end
