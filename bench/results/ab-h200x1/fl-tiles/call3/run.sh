#!/bin/bash
# Device call 3 (2026-11-29): does call 2's illegal memory access come back on a fresh GPU (craig at
# head and at main 98597a4, partitions at D = 256 several times), memcheck on small partitions, and
# finish_tiles with streaming stores and DSYRK in default math ("combo") against the code as is.
set -u
T0=$SECONDS
BUNDLE=.deps/gpu; BIN=.deps/gpu/bin; source scripts/gpu-libraries.sh && setup_libraries
R=/tmp/r; mkdir -p $R
trap 'dmesg 2>/dev/null | grep -i -E "xid|nvrm" | tail -20 > $R/dmesg.txt; tar -cf $OUT/r.tar -C $R .' EXIT
nvidia-smi > $R/nvidia-smi.txt 2>&1
mkdir -p /tmp/w
echo "craig $((SECONDS-T0))" >> $R/times.txt
for b in head 98597a4; do
  g=$BIN/gradcore; [ $b = head ] || g=.deps/gpu/ab/$b/gradcore
  timeout 90 $g select --device cuda --data synthetic:n=16000000,d=128,classes=100,seed=1 --method craig --k 0.1% \
    --timings $R/craig-$b.json --out /tmp/w/craig-$b.h5 --quiet >> $R/craig.log 2>&1; echo "craig $b rc=$?" >> $R/craig.log
done
timeout 60 python3 - /tmp/w/craig-98597a4.h5 /tmp/w/craig-head.h5 > $R/craig-compare.txt 2>&1 <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(f, "r") for f in sys.argv[1:3])
ia, ib = a["coreset/index"][()], b["coreset/index"][()]
print("coreset size", len(ia), len(ib), "indices in one and not the other:", len(np.setxor1d(ia, ib)))
wa, wb = a["coreset/weight"][()], b["coreset/weight"][()]
print("weights equal where the indices are:", np.array_equal(np.sort(ia), np.sort(ib)) and np.array_equal(wa[np.argsort(ia)], wb[np.argsort(ib)]))
for f, name in ((a, "98597a4"), (b, "head")):
    print(name, {k: f.attrs[k] for k in f.attrs if "error" in k or "objective" in k})
PY
echo "tests $((SECONDS-T0))" >> $R/times.txt
for b in base combo; do
  t=$BIN/tests/gpu/test_fl_cuda; [ $b = base ] || t=.deps/gpu/ab/$b/test_fl_cuda
  timeout 120 $t > $R/test_fl_cuda-$b.txt 2>&1; echo "test_fl_cuda $b rc=$?" >> $R/tests.txt
done
echo "bench $((SECONDS-T0))" >> $R/times.txt
V="base stcs combo"
bin_of() { [ $1 = base ] && echo $BIN/bench_fl || echo .deps/gpu/ab/$1/bench_fl; }
for rep in 1 2 3; do for v in $V; do
  timeout 60 $(bin_of $v) 128 20000:200 40000:400 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/bench_fl.jsonl
done; done
for rep in 1 2; do for v in $V; do
  timeout 60 $(bin_of $v) partitions 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
  timeout 60 $(bin_of $v) partitions 4000 4096 100 9 2>> $R/bench.err | sed "s/^{/{\"variant\": \"$v\", /" >> $R/partitions.jsonl
done; done
echo "memcheck $((SECONDS-T0))" >> $R/times.txt
CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
echo "compute-sanitizer: $CS" > $R/memcheck.txt
for v in base combo; do
  timeout 100 $CS --tool memcheck --print-limit 20 $(bin_of $v) partitions 64 4096 256 9 >> $R/memcheck.txt 2>&1; echo "memcheck partitions $v rc=$?" >> $R/memcheck.txt
done
timeout 100 $CS --tool memcheck --print-limit 20 $BIN/tests/gpu/test_fl_cuda >> $R/memcheck.txt 2>&1; echo "memcheck test_fl_cuda rc=$?" >> $R/memcheck.txt
echo "end $((SECONDS-T0))" >> $R/times.txt
