#!/bin/bash
# Device call 2 (2026-11-29): finish_tiles variants (tile order, streaming stores, blocks a SM,
# DSYRK in default math), the first-gain test, craig's coreset against main's.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,memory.total --format=csv > $R/device.txt
timeout 120 $BIN/tests/gpu/test_fl_cuda > $R/test_fl_cuda.txt 2>&1; echo "test_fl_cuda rc=$?" >> $R/tests.txt
echo "bench $((SECONDS-T0))" >> $R/times.txt
V="base rowmajor stcs mb5 mb6 defmath"
bin_of() { [ $1 = base ] && echo $BIN/bench_fl || echo .deps/gpu/ab/$1/bench_fl; }
for rep in 1 2; do for v in $V; do
  timeout 60 $(bin_of $v) 128 40000:400 | sed "s/^{/{\"variant\": \"$v\", /" >> $R/bench_fl.jsonl
done; done
for v in $V; do
  timeout 60 $(bin_of $v) partitions | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
  timeout 60 $(bin_of $v) partitions 4000 4096 100 9 | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
done
echo "ncu $((SECONDS-T0))" >> $R/times.txt
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active
timeout 90 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw -c 24 $BIN/bench_fl 128 40000:400 > $R/ncu-base-all.csv 2> $R/ncu-base-all.err
for v in $V; do
  timeout 60 $NCU --clock-control none --cache-control none --metrics $M --csv --page raw -k 'regex:finish_tiles|syrk' -c 3 $(bin_of $v) 128 40000:400 > $R/ncu-$v.csv 2>> $R/ncu.err
done
echo "craig $((SECONDS-T0))" >> $R/times.txt
mkdir -p /tmp/w
for b in head 98597a4; do
  g=$BIN/gradcore; [ $b = head ] || g=.deps/gpu/ab/$b/gradcore
  timeout 90 $g select --device cuda --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% \
    --timings $R/craig-$b.json --out /tmp/w/craig-$b.h5 --quiet >> $R/craig.log 2>&1
done
timeout 60 python3 - /tmp/w/craig-98597a4.h5 /tmp/w/craig-head.h5 > $R/craig-compare.txt 2>&1 <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(f, "r") for f in sys.argv[1:3])
ia, ib = a["coreset/index"][()], b["coreset/index"][()]
print("coreset size", len(ia), len(ib), "indices in one and not the other:", len(np.setxor1d(ia, ib)))
for f, name in ((a, "98597a4"), (b, "head")):
    print(name, {k: (float(v) if np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.number) else str(v)[:60]) for k, v in f.attrs.items() if "error" in k or "objective" in k})
    print(name, "root attrs:", sorted(f.attrs.keys())[:40])
PY
echo "end $((SECONDS-T0))" >> $R/times.txt
