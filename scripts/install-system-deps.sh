#!/usr/bin/env bash
# Installs the system packages stacforge builds and tests against (Debian 12, as root).
# Quick when everything is already there: apt-get runs only for missing packages.
set -euo pipefail

packages=(
  # build: GDAL, PROJ, netCDF, HDF5 and what their Rust bindings need
  libgdal-dev gdal-bin libproj-dev proj-bin libnetcdf-dev netcdf-bin libhdf5-dev hdf5-tools
  pkg-config clang libclang-dev cmake build-essential
  # interop tests: GDAL's own COG validator script, and a venv for the pinned Python consumers
  python3-gdal python3-venv python3-pip
  # the benchmark suite: peak memory of each run
  time
  # publishing tests: the STAC API's database
  postgresql-15 postgresql-15-postgis-3
  # scale-out tests: a single-node Slurm cluster (scripts/slurm.sh)
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "install-system-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-system-deps: no Rust toolchain (cargo) on PATH; install Rust 1.89 or newer with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
echo "install-system-deps: GDAL $(gdal-config --version), PROJ $(pkg-config --modversion proj 2>/dev/null || echo "?"), $(cargo --version)" >&2
