#!/usr/bin/env bash
# Build llama.cpp's HTTP server (llama-server: continuous batching over --parallel N slots) for
# the end-to-end tests, from the llama.cpp sources vendored in the llama-cpp-python source
# distribution on PyPI, pinned by version and SHA-256 (the pins: constraints.txt's header and
# README "Pinned test dependencies"). A static binary, installed at $1 (.venv/bin/llama-server).
#
# llama-cpp-python 0.3.16 is the version verified here: 0.3.36 (the newest on 2026-12-02)
# segfaults on the first completion of the SmolLM2 GGUF on this machine's CPU (issue 10).
set -euo pipefail
dest=${1:?usage: build_llama_server.sh DEST}
python=${PYTHON:-python3}
version=0.3.16
sha256=34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
sdist="$work/llama_cpp_python-$version.tar.gz"
echo "$sha256  $sdist" | sha256sum --check --quiet
tar -xzf "$sdist" -C "$work" "llama_cpp_python-$version/vendor/llama.cpp"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$work/cmake.log" 2>&1 \
  || { tail -30 "$work/cmake.log"; exit 1; }
cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
install -m 755 "$work/build/bin/llama-server" "$dest"
"$dest" --version 2>&1 | head -2
