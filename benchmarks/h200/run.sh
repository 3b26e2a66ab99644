#!/bin/bash
# How the rows in this folder were made, on a lent machine with one H200 and 16 cores (Python
# 3.12, CUDA 13, no network). The wheels (ctranslate2, faster-whisper, av and the service's
# packages, cp312) and models/whisper-base travelled as a tar split into /tmp/stage/p*; this
# unpacks them and runs the benchmark steps named in STEPS. JSON goes to $OUT; the Markdown
# beside each JSON here was rebuilt from it by the benchmark's own markdown().
set -u
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}
SECS=${SECS:-420}; LIVE_S=${LIVE_S:-45}; REP=${REP:-3}
if [ ! -f /tmp/site/.done ]; then
  cat /tmp/stage/p* | tar -x -C /tmp || exit 1
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site /tmp/payload/whl/*.whl || exit 1
  mkdir -p /tmp/models && cp models/manifest.yaml /tmp/models/ \
      && mv /tmp/payload/whisper-base /tmp/models/ && touch /tmp/site/.done
fi
export PYTHONPATH=/tmp/site:$PWD/src:$PWD ETIQUETTE_MODELS_DIR=${MODELS:-/tmp/models}
# CTranslate2 4.8.5 is built for CUDA 12; this image has CUDA 13 (cuBLAS keeps its API).
CUDALIB=/usr/local/cuda/targets/x86_64-linux/lib
mkdir -p /tmp/culib
for l in libcublas libcublasLt; do
  src=$(ls $CUDALIB/$l.so.13 2>/dev/null || find /usr /opt -name "$l.so.13" 2>/dev/null | head -1)
  [ -n "$src" ] && ln -sf "$src" /tmp/culib/$l.so.12
done
CUDNN=$(dirname "$(find /usr /opt -name 'libcudnn.so.9' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=/tmp/culib:$CUDALIB:$CUDNN:${LD_LIBRARY_PATH:-}
echo "cudnn: $CUDNN"; ls -la /tmp/culib
$PY -c "import ctranslate2 as c; print('cuda devices', c.get_cuda_device_count(), c.get_supported_compute_types('cuda') if c.get_cuda_device_count() else '')"
nvidia-smi -L 2>/dev/null
for step in ${STEPS:-rec_gpu live_gpu live_gpu_t1 rec_cpu rec_gpu8 live_cpu ingest}; do
  start=$(date +%s)
  case $step in
    rec_gpu)  $PY -m benchmarks.recogniser --seconds $SECS --device cuda --compute-type float16 \
                --batch-size 16 --beam-size 1 --beam-size 5 --repeat $REP --out $OUT/rec_cuda_float16.json ;;
    rec_gpu8) $PY -m benchmarks.recogniser --seconds $SECS --device cuda --compute-type int8_float16 \
                --batch-size 16 --beam-size 1 --beam-size 5 --repeat $REP --out $OUT/rec_cuda_int8_float16.json ;;
    rec_cpu)  $PY -m benchmarks.recogniser --seconds $SECS --device cpu --compute-type int8 \
                --batch-size 8 --beam-size 1 --beam-size 5 --repeat 2 --out $OUT/rec_cpu16_int8.json ;;
    live_gpu) $PY -m benchmarks.live --device cuda --compute-type float16 --batch-size 16 \
                --seconds $LIVE_S ${GPU_WINDOWS:---windows 32 --windows 64 --windows 128} \
                --out $OUT/live_cuda_float16.json > /dev/null ;;
    # The process used 8 of 16 cores at 32 windows on the GPU: is it CTranslate2's CPU
    # threads (cores / workers by default) waiting on the GPU? One thread per worker instead.
    live_gpu_t1) $PY -m benchmarks.live --device cuda --compute-type float16 --batch-size 16 \
                --threads 1 --seconds $LIVE_S --windows 32 --out $OUT/live_cuda_float16_t1.json > /dev/null ;;
    live_cpu) $PY -m benchmarks.live --device cpu --compute-type int8 --seconds $LIVE_S \
                ${CPU_WINDOWS:---windows 32 --windows 64} --out $OUT/live_cpu16_int8.json > /dev/null ;;
    # The central service's ingest on the 16 cores (no GPU): 50 sites posting to `serve --workers
    # 1`, 4 and 8 on PostgreSQL, each on a fresh cluster. Needs initdb (on PATH or Debian's
    # /usr/lib/postgresql/*/bin), the psycopg wheels in the payload and, as root, a user
    # postgres; where one is missing it prints "skipped: <what>" and exits 3, and the row waits.
    ingest)   timeout 600 $PY -m benchmarks.load_ingest --postgres --sites 50 \
                --incidents ${INGEST_N:-10000} --workers 1 --workers 4 --workers 8 \
                --out $OUT/ingest_cpu16.json ;;
  esac
  echo "=== $step rc=$? $(( $(date +%s) - start )) s"
  rm -f $OUT/*.md  # at most 8 files come back; the Markdown is rebuilt from the JSON
done 2>&1 | tee $OUT/log.txt | grep -E "^===|Error|error|rows|\{'beam|\"windows\"|skipped|incidents_per_s|rate_vs" | cut -c1-400
