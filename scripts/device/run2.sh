# Second device call: the notebooks headless on the GPU with papermill, beside a seed-noise sweep and the 224 GPU recipe.
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD JUPYTER_PATH=/tmp/site/share/jupyter
W=/tmp/w; mkdir -p $W
python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; el "gen rc $?"
run() { n=$1; shift; timeout ${BUDGET:-215} python3 scripts/device/sweep.py $n /tmp/rf $W device=cuda data.num_workers=2 "$@" > $W/$n.log 2>&1; }
run A_base10_seed1 training.amp=false seed=1 &
run A_base10_seed2 training.amp=false seed=2 &
run A_base10_seed3 training.amp=false seed=3 &
run H_gpu224 image.height=224 image.width=224 model.output_stride=8 training.epochs=8 training.amp=true training.channels_last=true &
el "sweep started; notebooks beside it"
timeout 260 python3 -m lab.cli notebooks --run-name gpu --param device=cuda > $OUT/notebooks.log 2>&1; el "notebooks rc $?"
(cd reports/gpu && python3 -m zipfile -c $OUT/notebooks_gpu.zip notebooks) ; ls -la reports/gpu/notebooks
wait; el "sweep done"
for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error|model:" $f | tail -30; done > $OUT/sweep_epochs.log
timeout 60 python3 scripts/device/evalall.py /tmp/rf $W > $OUT/sweep_eval.log 2>&1; el "eval rc $?"
grep '^{' $OUT/sweep_eval.log; tail -5 $OUT/notebooks.log; el end
