#!/bin/bash
# The one GPU call of the 2-bit QAT (issue 8; see training/README.md): qat.py from the shipped F16
# model with plans/mobile-2bit.json, QAT_SECONDS (default 90) of fine-tuning, ~3 min in all. Run from
# the repo root on the GPU machine with the corpus at .device/corpus/train.txt.gz (carried).
# Results in $OUT (or ./out): log.txt, and qat2.tar split into 15 MB parts (the GPU tool returns
# files of at most 16 MB): gannet-default-qat2.gguf (F16, ~18 MB) and gannet-default-qat2.json.
#   cat qat2.tar.part-* | tar -xf -        # then: cp gannet-default-qat2.gguf models/
set -o pipefail
OUT=${OUT:-out}
mkdir -p "$OUT" /tmp/qat2
nvidia-smi -L
python3 -c 'import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__, torch.cuda.get_device_name(0))'
PYTHONUNBUFFERED=1 timeout "${TIMEOUT:-270}" python3 training/qat.py \
    --corpus .device/corpus/train.txt.gz --plan plans/mobile-2bit.json \
    --seconds "${QAT_SECONDS:-90}" --out /tmp/qat2/gannet-default-qat2.gguf "$@" 2>&1 | tee "$OUT/log.txt"
rc=$?
tar -C /tmp/qat2 -cf - . | split -b 15m - "$OUT/qat2.tar.part-"
ls -la "$OUT"
exit $rc
