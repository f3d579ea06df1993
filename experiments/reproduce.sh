#!/usr/bin/env bash
# The paper's protocol for one config: meta-train each algorithm (all seeds in one program),
# meta-test it on fresh tasks, then draw the comparison. Wall times go to OUT/timings.md.
#
#   experiments/reproduce.sh CONFIG OUT SEEDS TASKS ALGORITHM... [-- --config.KEY=VALUE ...]
#   e.g. experiments/reproduce.sh moving_bandits.py results/mb 3 256 mlsh mlsh_no_warmup shared scratch
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
config=$1 out=$2 seeds=$3 tasks=$4
shift 4
algorithms=() overrides=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do algorithms+=("$1"); shift; done
[ $# -gt 0 ] && shift
overrides=("$@")
python=${PYTHON:-python}
mkdir -p "$out"
[ -f "$out/timings.md" ] || printf '| algorithm | train | meta-test |\n|---|---|---|\n' > "$out/timings.md"
workdirs=()
for algorithm in "${algorithms[@]}"; do
  workdir="$out/$algorithm"
  workdirs+=("$workdir")
  start=$SECONDS
  "$python" -m experiments.run --config "$config" --workdir "$workdir" \
    --config.algorithm="$algorithm" --config.num_seeds="$seeds" ${overrides[@]+"${overrides[@]}"}
  trained=$SECONDS
  "$python" -m experiments.evaluate --workdir "$workdir" --tasks "$tasks"
  echo "| $algorithm | $((trained - start)) s | $((SECONDS - trained)) s |" >> "$out/timings.md"
done
"$python" -m experiments.compare --workdirs "${workdirs[@]}" --out "$out"
