#!/usr/bin/env bash
# decrement with the old slices and order (new8/new16 loads in flight) against main (bb8205e) and 6ef1496
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/var; setup_libraries
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
V=.deps/gpu/var; R=/tmp/r; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv > $R/gpu.txt
T0=$SECONDS
( time $V/test_fl_cuda ) > $R/test_fl_cuda.txt 2>&1; echo "test_fl_cuda rc=$?" | tee -a $R/summary.txt
for v in main new8 new16; do
  echo "$v $(timeout 60 $V/bench_fl-$v 128 20000:200 40000:400 | tr '\n' ' ')" >> $R/bench-exact.txt
done
for rep in 1 2; do for d in 100 256; do for v in main new8 new16; do
  echo "$v $d $(timeout 60 $V/bench_fl-$v partitions 4000 4096 $d 9 | tr '\n' ' ')" >> $R/bench-partitions.txt
done; done; done
echo "bench done at $((SECONDS-T0)) s" >> $R/summary.txt
job() { # variant name
  local v=$1 n=$2
  timeout 90 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 $V/gradcore-$v select --device cuda \
    --data "synthetic:n=16000000,d=128,classes=100,seed=1" --method craig --k 0.1% \
    --timings $R/craig-$n.json --out $R/craig-$n.h5 --quiet > $R/craig-$n.log 2>&1
  echo "craig $n rc=$? $(python3 -c "
import json
t=json.load(open('$R/craig-$n.json'))
print(', '.join('%s %.3f' % (p['name'], p['max_s']) for p in t['phases'] if p['depth'] <= 1))" 2>&1 | head -c 700)" >> $R/summary.txt
}
for rep in 1 2; do for v in 6ef1496 main new8 new16; do job $v $v-$rep; done; done
echo "jobs done at $((SECONDS-T0)) s" >> $R/summary.txt
python3 - >> $R/summary.txt 2>&1 <<'PY'
import glob
try:
    import h5py, numpy as np
except Exception as e:
    print("no h5py", e); raise SystemExit
fs = sorted(glob.glob('/tmp/r/craig-*.h5'))
ref = [f for f in fs if 'main-1' in f][0]
def dump(path):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset): out[name] = obj[()]
    with h5py.File(path, 'r') as f: f.visititems(visit)
    return out
a = dump(ref)
for f in fs:
    b = dump(f)
    diff = [k for k in a if k not in b or not np.array_equal(a[k], b[k])]
    extra = ''
    if 'coreset/index' in a and 'coreset/index' in b:
        extra = ' indices in common %d of %d' % (len(np.intersect1d(a['coreset/index'], b['coreset/index'])), len(a['coreset/index']))
    print(f, 'vs', ref, 'differ in', diff, extra)
PY
for v in 6ef1496 main new16; do cp $R/craig-$v-1.h5 $R/keep-craig-$v.h5 2>/dev/null; done
rm -f $R/craig-*.h5
tar -cf $OUT/r.tar -C /tmp r
cat $R/summary.txt
