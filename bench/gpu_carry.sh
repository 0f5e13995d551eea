# Sourced by the device-machine benches (gpu_sandbox.sh, gpu_ray.sh) from the repo root: the
# py3.12 wheels carried in .carry/whl into /tmp/site, and bubblewrap from the .debs in .carry/deb.
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/bw && for f in .carry/deb/*.deb; do dpkg -x "$f" /tmp/bw; done
export PATH=/tmp/bw/usr/bin:$PATH LD_LIBRARY_PATH=/tmp/bw/usr/lib/x86_64-linux-gnu:/tmp/bw/lib/x86_64-linux-gnu
