#!/usr/bin/env bash
# mgbarrier label in one process vs on a 2-worker Dask LocalCluster, same seeds (issue 17).
# Makes a 256-atom Cu50Zr50 glass (README "Label your own glass") under runs/label_dask/ if missing.
#   [ATOMS=72] bash benchmarks/label_dask.sh        (results: benchmarks/results/label_dask.md, written by hand from its output)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/runs/label_dask
mkdir -p "$work" && cd "$work"
export OMP_NUM_THREADS=1
[ -f glass/glass.data ] || python "$repo/lammps_examples/melt_quench/run_melt_quench.py" --preset ci --cu-fraction 0.5 -o glass/ --no-predict -q
atoms=${ATOMS:-24}   # random atoms, 2 searches each
pot=(--pair-style eam/fs --pair-coeff '* * CuZr_mm.eam.fs Cu Zr')
rm -rf serial dask2
s=$(date +%s.%N); mgbarrier label glass/glass.data "${pot[@]}" --minimize --atoms random:$atoms --searches 2 --seed 3 -o serial/ -q; e=$(date +%s.%N)
echo "one process: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); mgbarrier label glass/glass.data "${pot[@]}" --minimize --atoms random:$atoms --searches 2 --seed 3 -o dask2/ --workers 2 -q; e=$(date +%s.%N)
echo "2 workers: $(echo "$e - $s" | bc) s"
cmp serial/log.event dask2/log.event && echo "log.event identical"
