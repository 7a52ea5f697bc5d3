#!/bin/bash
# A parallel sweep of short PPO fine-tunes of the shipped retargeting policy, one process and one thread per variant,
# each stopped after TRAIN_SECONDS of wall time; then each run's last checkpoint is benched on the four training clips
# (bench/retarget_sweep_bench.py: 3 seeds x 20 rollouts, 10 s on looping clips, the bench's own settings) beside the
# shipped policy. Meant for a machine with a core per variant (16 variants: the file below); on 2 cores pass
# MAX_VARIANTS=2.
#
#   bench/retarget_sweep.sh TRAIN_SECONDS MAX_VARIANTS OUTDIR     # PY=python to use (default python3)
#
# Variants: bench/retarget_sweep_variants.txt, one per line: a name, then the overrides it adds to BASE (the shipped
# third stage's settings with 1 env-runner thread and 10 critic-only warm-up updates). Writes OUTDIR/all.jsonl (one
# JSON object per run, the shipped policy's as "shipped"), the training logs beside it, and runs/sw_<name>/.
set -u
T=$1; MAXV=$2; OUTD=$3; PY=${PY:-python3}
HERE=$(dirname "$0")
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUTD" runs
BASE="task=retarget algo=ppo task.clips=[walk,run,punch,kick] task.mirror=false task.residual_scale=0.5 task.num_envs=128
 task.physics_threads=1 threads=1 algo.num_steps=64 algo.num_minibatches=16 algo.hidden=[512,256] algo.gamma=0.95
 algo.lam=0.95 algo.lr=3e-5 algo.critic_lr=1e-3 algo.desired_kl=null algo.critic_warmup=10
 init_from=skills/humanoid/checkpoints/retarget/checkpoint.pt eval_every_steps=${EVERY:-196608} total_steps=40000000
 progress=false"
i=0
while read -r name over; do
  [ "$i" -ge "$MAXV" ] && break
  # BASE and the overrides split into arguments on purpose; PYTHONSAFEPATH: the checkout's ember/ folder (only its
  # __init__.py) must not shadow the installed package
  PYTHONSAFEPATH=1 timeout -s KILL "$T" $PY -m ember.launch.cli train $BASE $over "hydra.run.dir=runs/sw_$name" \
    > "$OUTD/train_$name.log" 2>&1 &
  i=$((i+1))
done < "$HERE/retarget_sweep_variants.txt"
wait
echo "training stopped $(date -u +%H:%M:%S)"
i=0
while read -r name _; do
  [ "$i" -ge "$MAXV" ] && break
  $PY "$HERE/retarget_sweep_bench.py" "runs/sw_$name" > "$OUTD/bench_$name.json" 2> "$OUTD/bench_$name.err" &
  i=$((i+1))
done < "$HERE/retarget_sweep_variants.txt"
$PY "$HERE/retarget_sweep_bench.py" shipped > "$OUTD/bench_shipped.json" 2> "$OUTD/bench_shipped.err" &
wait
cat "$OUTD"/bench_*.json > "$OUTD/all.jsonl"
for f in "$OUTD"/bench_*.err; do [ -s "$f" ] && { echo "== $f"; tail -3 "$f"; }; done
cat "$OUTD/all.jsonl"
