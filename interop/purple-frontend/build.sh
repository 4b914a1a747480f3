#!/usr/bin/env bash
# Builds the headless libpurple front end `rvp-purple` and unpacks Debian's librvp plugin
# next to it. Fetches nothing but Debian packages. Idempotent.
#
# Usage: interop/purple-frontend/build.sh [OUT_DIR]
#   OUT_DIR defaults to <repo>/target/purple (git-ignored). Afterwards:
#     OUT_DIR/rvp-purple          the front end
#     OUT_DIR/plugins/librvp.so   the plugin (pass OUT_DIR/plugins as --plugin-dir)
#   Env: RVP_PURPLE_NO_APT=1 skips every apt-get call (fail instead of installing).
# Needs root for apt-get install when packages are missing (CI runs as root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/target/purple}"
src="$here/rvp-purple.c"

die() { echo "build.sh: error: $*" >&2; exit 1; }
say() { echo "build.sh: $*" >&2; }

# --- 1. build dependencies (Debian packages) ------------------------------------------
pkgs=(gcc libc6-dev pkg-config libglib2.0-dev libpurple-dev libpurple0 libgcrypt20-dev libcrypt-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${RVP_PURPLE_NO_APT:-}" != 1 ] || die "missing Debian packages: ${missing[*]} (RVP_PURPLE_NO_APT=1 forbids installing)"
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
fi

# --- 2. the librvp plugin, unpacked (not installed: it depends on GTK Pidgin) ---------
mkdir -p "$out/deb" "$out/plugins"
plugin="$out/plugins/librvp.so"
fresh=0
if [ ! -f "$plugin" ]; then
  fresh=1
  deb="$(ls "$out"/deb/pidgin-librvp_*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    [ "${RVP_PURPLE_NO_APT:-}" != 1 ] || die "pidgin-librvp .deb not in $out/deb and RVP_PURPLE_NO_APT=1"
    say "downloading pidgin-librvp into $out/deb"
    # apt's sandbox user cannot write into root-owned folders: download in a temp dir it owns.
    tmp="$(mktemp -d)"
    chmod 0777 "$tmp"
    if ! (cd "$tmp" && apt-get download pidgin-librvp >&2); then
      say "apt-get download failed; refreshing package lists and retrying"
      apt-get update -qq || true
      (cd "$tmp" && apt-get download pidgin-librvp >&2) \
        || die "apt-get download pidgin-librvp failed (is the Debian 'main' archive in sources.list?)"
    fi
    mv "$tmp"/pidgin-librvp_*.deb "$out/deb/"
    rmdir "$tmp" 2>/dev/null || true
    deb="$(ls "$out"/deb/pidgin-librvp_*.deb | head -n1)"
  fi
  say "unpacking $(basename "$deb")"
  rm -rf "$out/deb/root"
  dpkg -x "$deb" "$out/deb/root" || die "dpkg -x $deb failed"
  so="$(find "$out/deb/root" -name librvp.so -path '*purple-2*' | head -n1)"
  [ -n "$so" ] || die "librvp.so not found inside $deb"
  cp "$so" "$plugin"
fi

# --- 3. the front end -----------------------------------------------------------------
bin="$out/rvp-purple"
cand="$bin"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$0" -nt "$bin" ]; then
  fresh=1
  cand="$bin.tmp"
  say "compiling $bin"
  cflags="$(pkg-config --cflags purple glib-2.0)" || die "pkg-config cannot find purple/glib-2.0"
  libs="$(pkg-config --libs purple glib-2.0)"
  # -rdynamic exports gtk_events_pending/gtk_main_iteration to librvp.so;
  # libgcrypt (gcry_md_*) and libcrypt (setkey/encrypt) are needed by the plugin only, so
  # they must be linked even though the front end itself does not use them.
  # shellcheck disable=SC2086
  gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -rdynamic $cflags -o "$cand" "$src" \
    $libs -Wl,--no-as-needed -lgcrypt -lcrypt -Wl,--as-needed \
    || die "gcc failed"
fi

# --- 4. check that every symbol the plugin needs resolves (after any change) ------------
if [ "$fresh" = 1 ]; then
  defined="$(mktemp)"
  trap 'rm -f "$defined"' EXIT
  {
    nm -D --defined-only "$cand"
    for lib in $(ldd "$cand" | awk '/=>/ {print $3}'); do nm -D --defined-only "$lib" 2>/dev/null; done
  } | awk '{print $3}' | sed 's/@.*//' | sort -u >"$defined"
  missing_syms="$(nm -D --undefined-only "$plugin" | awk '$1 == "U" {print $2}' | sed 's/@.*//' \
    | sort -u | comm -23 - "$defined" | tr '\n' ' ')"
  if [ -n "$missing_syms" ]; then
    rm -f "$cand" "$plugin" # so that the next run checks again
    die "librvp.so needs symbols that rvp-purple does not provide: $missing_syms"
  fi
  [ "$cand" = "$bin" ] || mv "$cand" "$bin"
fi

echo "$bin"
