#!/usr/bin/env bash
# FL partitions A/B: 6ef1496 (before #19), main (bb8205e), new (decrement restructure), l16 (new + 16 lanes)
set -u
eval "$(sed -n '/^missing_libraries()/,/^}/p;/^setup_libraries()/,/^}/p' scripts/gpu.sh)"
BUNDLE=.deps/gpu; BIN=.deps/gpu/var; setup_libraries
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
V=.deps/gpu/var; R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv > $R/gpu.txt
T0=$SECONDS
( time $V/test_fl_cuda ) > $R/test_fl_cuda.txt 2>&1; echo "test_fl_cuda rc=$?" | tee -a $R/summary.txt
for rep in 1 2; do
  for v in main new l16; do
    echo "$v $(timeout 60 $V/bench_fl-$v 128 20000:200 40000:400 | tr '\n' ' ')" >> $R/bench-exact.txt
  done
done
for d in 100 256; do for v in main new l16; do
  echo "$v $d $(timeout 60 $V/bench_fl-$v partitions 4000 4096 $d 9 | tr '\n' ' ')" >> $R/bench-partitions.txt
done; done
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
for rep in 1 2; do for v in 6ef1496 main new l16; do job $v $v-$rep; [ $rep = 2 ] && rm -f $R/craig-$v-2.h5; done; done
echo "all done at $((SECONDS-T0)) s" >> $R/summary.txt
cat $R/summary.txt
