#!/usr/bin/env bash
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/var; setup_libraries
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
V=.deps/gpu/var; R=/tmp/r; mkdir -p $R
T0=$SECONDS
job() { # variant name
  local v=$1 n=$2
  timeout 90 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 $V/gradcore-$v select --device cuda \
    --data "synthetic:n=16000000,d=128,classes=100,seed=1" --method craig --k 0.1% \
    --timings $R/craig-$n.json --out $R/craig-$n.h5 --quiet > $R/craig-$n.log 2>&1
  echo "craig $n rc=$? $(grep TRACE $R/craig-$n.log) $(python3 -c "
import json
t=json.load(open('$R/craig-$n.json'))
print(', '.join('%s %.3f' % (p['name'], p['max_s']) for p in t['phases'] if p['depth'] <= 1))" 2>&1 | head -c 700)" >> $R/summary.txt
}
for v in trace main new trace; do job $v $v-$RANDOM; done
timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum -c 200 $V/bench_fl-new partitions 8 4096 100 9 8 > $R/ncu-new.txt 2>&1
echo "ncu rc=$? at $((SECONDS-T0)) s" >> $R/summary.txt
python3 - >> $R/summary.txt 2>&1 <<'PY'
import glob
try:
    import h5py, numpy as np
except Exception as e:
    print("no h5py", e); raise SystemExit
fs = sorted(glob.glob('/tmp/r/craig-*.h5'))
ref = h5py.File(fs[0], 'r')
def dump(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset): out[name] = obj[()]
    f.visititems(visit)
    return out
a = dump(ref)
for f in fs[1:]:
    b = dump(h5py.File(f, 'r'))
    diff = [k for k in a if k not in b or not np.array_equal(a[k], b[k])]
    print(f, 'vs', fs[0], 'differ in', diff)
PY
rm -f $R/*.h5
tar -cf $OUT/r.tar -C /tmp r
cat $R/summary.txt
