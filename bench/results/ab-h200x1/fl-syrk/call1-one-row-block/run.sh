#!/usr/bin/env bash
# the block by DSYRK and a two-pass finish ("syrk") against 200d03e ("final") and 6ef1496
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/var; setup_libraries
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
V=.deps/gpu/var; R=/tmp/r; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv > $R/gpu.txt
T0=$SECONDS
( time $V/test_fl_cuda ) > $R/test_fl_cuda.txt 2>&1; echo "test_fl_cuda rc=$?" | tee -a $R/summary.txt
for rep in 1 2; do for v in final syrk; do
  echo "$v $(timeout 60 $V/bench_fl-$v 128 20000:200 40000:400 | tr '\n' ' ')" >> $R/bench-exact.txt
done; done
for rep in 1 2; do for d in 100 256; do for v in final syrk; do
  echo "$v $d $(timeout 60 $V/bench_fl-$v partitions 4000 4096 $d 9 | tr '\n' ' ')" >> $R/bench-partitions.txt
done; done; done
echo "bench done at $((SECONDS-T0)) s" >> $R/summary.txt
job() { # variant method classes rep
  local v=$1 method=$2 classes=$3 n=$2-c$3-$1-$4
  timeout 90 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 $V/gradcore-$v select --device cuda \
    --data "synthetic:n=16000000,d=128,classes=$classes,seed=1" --method $method --k 0.1% \
    --timings $R/$n.json --out $R/$n.h5 --quiet > $R/$n.log 2>&1
  echo "$n rc=$? $(python3 -c "
import json
t=json.load(open('$R/$n.json'))
print(', '.join('%s %.3f' % (p['name'], p['max_s']) for p in t['phases'] if p['depth'] <= 1))" 2>&1 | head -c 700)" >> $R/summary.txt
}
for rep in 1 2; do for v in 6ef1496 final syrk; do job $v craig 100 $rep; done; done
for v in final syrk; do job $v craig 10 1; job $v adacore 100 1; done
echo "jobs done at $((SECONDS-T0)) s" >> $R/summary.txt
python3 - >> $R/summary.txt 2>&1 <<'PY'
import glob
import h5py, numpy as np
def dump(path):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset): out[name] = obj[()]
    with h5py.File(path, 'r') as f: f.visititems(visit)
    return out
for cfg in ['craig-c100', 'craig-c10', 'adacore-c100']:
    ref = '/tmp/r/%s-final-1.h5' % cfg
    a = dump(ref)
    for f in sorted(glob.glob('/tmp/r/%s-*.h5' % cfg)):
        b = dump(f)
        diff = [k for k in a if k not in b or not np.array_equal(a[k], b[k])]
        print(f, 'vs', ref, 'differ in', diff)
PY
rm -f $R/*.h5
timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum -c 40 $V/bench_fl-syrk partitions 8 4096 100 9 8 > $R/ncu-syrk.txt 2>&1
echo "ncu rc=$? at $((SECONDS-T0)) s" >> $R/summary.txt
tar -cf $OUT/r.tar -C /tmp r
cat $R/summary.txt
