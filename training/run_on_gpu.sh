#!/bin/bash
# The one GPU call that makes the default model (see training/README.md). Run from the repo root
# on the GPU machine, with the corpus from prepare_corpus.py at .device/corpus/train.txt.gz.
# Results go to $OUT (or ./out): log.txt and run.tar split into 15 MB parts (the workplace's GPU
# tool returns files of at most 16 MB). The HF checkpoint is packed only when QAT did not finish.
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c 'import torch, transformers, tokenizers, matplotlib; print(torch.__version__, transformers.__version__, tokenizers.__version__, matplotlib.__version__, torch.cuda.get_device_name(0))'
PYTHONUNBUFFERED=1 timeout "${TIMEOUT:-300}" python3 training/train.py \
    --corpus .device/corpus/train.txt.gz --heldout models/heldout.txt --work /tmp/run \
    --train-seconds "${TRAIN_SECONDS:-320}" --qat-seconds "${QAT_SECONDS:-90}" "$@" 2>&1 | tee "$OUT/log.txt"
rc=$?
exclude=--exclude=./hf
[ -f /tmp/run/gannet-default-qat.gguf ] || exclude=
tar -C /tmp/run -cf - $exclude . | split -b 15m - "$OUT/run.tar.part-"
ls -la "$OUT"
exit $rc
