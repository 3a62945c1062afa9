#!/usr/bin/env bash
# Type-checks mcp-cli for macOS (aarch64-apple-darwin) on a Debian machine,
# without a Mac: Debian's rustc-web ships the standard library's source
# (rust-web-src), so cargo builds std for the Apple target itself
# (-Zbuild-std, enabled on a stable compiler with RUSTC_BOOTSTRAP=1). It
# catches Linux-only calls and cfg mistakes; it links and runs nothing.
# Installs that toolchain with apt the first time. From ../shared/tools.
#   scripts/check-macos.sh            # the crate, as scripts/test runs it
#   scripts/check-macos.sh --tests    # extra cargo check arguments
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${TARGET:-aarch64-apple-darwin}
if [[ ! -x /usr/bin/rustc || ! -d /usr/lib/rustlib/src/rust/library ]] \
  || ! /usr/bin/rustc --version | grep -q '^rustc 1\.9'; then
  command -v apt-get >/dev/null \
    || { echo "check-macos: needs apt-get for Debian's rustc-web" >&2; exit 1; }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "check-macos: apt-get install rustc-web cargo-web rust-web-src" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rustc-web cargo-web rust-web-src >/dev/null
fi
# Debian's toolchain first; its own target dir, so the main build stays warm.
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_MACOS:-target/check-$TARGET}
# ring's build script compiles C for the target; nothing is linked, so a
# stand-in compiler that writes empty objects will do (see scripts/fake-cc).
target_env=${TARGET//-/_}
export "CC_$target_env=$PWD/scripts/fake-cc" "AR_$target_env=ar"
echo "check-macos: $(/usr/bin/rustc --version), target $TARGET" >&2
exec /usr/bin/cargo check -Zbuild-std=std,panic_abort --target "$TARGET" -p mcp-cli "$@"
