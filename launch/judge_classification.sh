#!/usr/bin/env bash
# Judges a classification run the way RESULTS.md's encoder runs were judged,
# in one command: its decoding chosen on the run's own held-out photos by
# the held-out rule (0.5 dB over gray on all of them, 0.2 dB on each folder,
# the neutral scenes allowed -0.5 dB), from the same 80 settings, fixed
# before any score is seen; the held-out photos scored with that decoding,
# per folder; then the three test sets, once.
#
#   launch/judge_classification.sh runs/encoder_classification_marathon
#
# Writes RUN/tune (every setting's scores), RUN_tuned (the run exported with
# the chosen decoding), RUN/tuned_on_held_out and RUN_tuned/eval_SET for
# Kodak24, CBSD68 and McMaster18. The settings can be narrowed for a quick
# check of a run still training (ADJUSTMENTS=1 TEMPERATURES=0.38
# CONFIDENCES=0 SCENE_CHROMAS=0); a choice made that way is not the rule's.
# Extra FLAGS go to colorjax.tune. A regression (MSE) run is judged the same
# way by its chroma gains instead (its task ignores the classification
# settings): launch/judge_classification.sh RUN --saturations=0.6,0.8,1,1.2.
# Everything is scored at the working
# resolution the encoder runs were judged at (RESOLUTION, default 128).
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?Name the run directory to judge, e.g. launch/judge_classification.sh runs/encoder_classification_marathon}"
shift
[[ -d "$run" ]] || { echo "launch/judge_classification.sh: $run is not a run directory; train it first (python -m colorjax.main --workdir=$run ...)." >&2; exit 2; }
python="${PYTHON:-python}"
data="${DATA:-../shared/data}"
resolution="${RESOLUTION:-128}"
tuned="${run%/}_tuned"
"$python" -m colorjax.tune --checkpoint="$run" \
  --adjustments="${ADJUSTMENTS:-0.4,0.6,0.8,1,1.2}" --temperatures="${TEMPERATURES:-0.38,0.6}" \
  --confidences="${CONFIDENCES:-0,2}" --scene_chromas="${SCENE_CHROMAS:-0,6,10,14}" \
  --min_gain_db=0.5 --min_folder_gain_db=0.2 --folder_gains=train_neutral:-0.5 \
  --resolution="$resolution" --out="$run/tune" --export="$tuned" "$@"
"$python" -m colorjax.evaluate --held_out="$run" --checkpoint="$tuned" --resolution="$resolution" \
  --out="$run/tuned_on_held_out"
for set in kodak24 cbsd68 mcmaster18; do
  "$python" -m colorjax.evaluate --checkpoint="$tuned" --data="$data/eval/$set" --resolution="$resolution" \
    --out="$tuned/eval_$set"
done
