# Third device call (H100): issue 14's GPU figures alone on the GPU (gpu_bench.py, footage generated beside it on
# other cores), then the shipped energy recipe over four seeds beside the previous recipe over two.
set -u
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl3/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi -L; nproc
python3 -c "import torch, torchvision, cv2, av, sklearn; print(torch.__version__, torchvision.__version__, cv2.__version__, av.__version__, torch.cuda.get_device_name(0))"
W=/tmp/w; mkdir -p $W
( taskset -c 12-15 python3 -m lab.cli synth --real-footage --out /tmp/rf > $OUT/gen.log 2>&1; echo "gen rc $?" >> $OUT/gen.log ) &
GEN=$!
el "gpu bench"
timeout ${BENCH:-270} taskset -c 0-11 python3 scripts/device/gpu_bench.py $OUT > $OUT/gpu_bench.log 2>&1; el "gpu bench rc $?"
wait $GEN; el "gen done"; tail -1 $OUT/gen.log
run() { n=$1; shift; timeout ${BUDGET:-230} python3 scripts/device/sweep.py $n /tmp/rf $W device=cuda training.amp=false data.num_workers=2 "$@" > $W/$n.log 2>&1; }
for s in 42 1 2 3; do run E_energy_seed$s seed=$s & done
for s in 42 1; do run R_res_res2_seed$s seed=$s "model.input_streams=[residual,residual2]" & done
wait; el "sweep done"
for f in $W/*.log; do echo "== $f"; grep -E "^epoch|FITDONE|Error|error" $f | tail -12; done > $OUT/sweep_epochs.log
timeout ${EVAL:-80} python3 scripts/device/evalall.py /tmp/rf $W > $OUT/sweep_eval.log 2>&1; el "eval rc $?"
grep -E '"part": "(convlstm_vs_naive|seed_train_step|matmul_peak|shared_encoder|frame_cache)"|"ok"' $OUT/gpu.jsonl | cut -c1-330
grep '^{' $OUT/sweep_eval.log; el end
