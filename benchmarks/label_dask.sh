#!/usr/bin/env bash
# mgbarrier label in one process vs on a 2-worker Dask LocalCluster, same seeds (issue 17).
# Makes a 256-atom Cu50Zr50 glass (README "Label your own glass") under runs/label_dask/ if missing.
#   [ATOMS=72] [SEARCHES=2] bash benchmarks/label_dask.sh
#   GLASS=path/glass.data WORK=runs/label_dask_2000 ATOMS=48 SEARCHES=1 bash benchmarks/label_dask.sh
#       (another glass, e.g. the 2,000-atom one of benchmarks/label_glass.py)
# results: benchmarks/results/label_dask.md, written by hand from its output
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-$repo/runs/label_dask}
glass=${GLASS:+$(realpath "$GLASS")}
mkdir -p "$work" && cd "$work"
export OMP_NUM_THREADS=1
if [ -z "$glass" ]; then
  glass=glass/glass.data
  [ -f $glass ] || python "$repo/lammps_examples/melt_quench/run_melt_quench.py" --preset ci --cu-fraction 0.5 -o glass/ --no-predict -q
fi
atoms=${ATOMS:-24}        # random atoms
searches=${SEARCHES:-2}   # searches each
pot=(--pair-style eam/fs --pair-coeff '* * CuZr_mm.eam.fs Cu Zr')
rm -rf serial dask2
s=$(date +%s.%N); mgbarrier label "$glass" "${pot[@]}" --minimize --atoms random:$atoms --searches $searches --seed 3 -o serial/ -q; e=$(date +%s.%N)
echo "one process: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); mgbarrier label "$glass" "${pot[@]}" --minimize --atoms random:$atoms --searches $searches --seed 3 -o dask2/ --workers 2 -q; e=$(date +%s.%N)
echo "2 workers: $(echo "$e - $s" | bc) s"
cmp serial/log.event dask2/log.event && echo "log.event identical"
python - <<'PY'
import json
for d in ("serial", "dask2"):
    rs = [json.loads(line) for line in open(f"{d}/searches.jsonl")]
    print(f"{d}: {len(rs)} searches, {sum(r['accepted'] for r in rs)} accepted, {sum(r['force_calls'] for r in rs)} "
          f"force calls, search wall summed {sum(r['seconds'] for r in rs):.1f} s, CPU summed "
          f"{sum(r['cpu_seconds'] for r in rs):.1f} s")
PY
