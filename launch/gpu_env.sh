# Sourced by the scripts that run on a lent GPU machine: installs the wheels
# its image lacks (fetched beforehand into .whl/ by ../shared/tools/gpu-wheels.sh)
# and sets $python.
python="${PYTHON:-python3}"
if [[ -d .whl ]]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
