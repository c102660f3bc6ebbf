#!/usr/bin/env bash
# Before the tests: the system programs they use. Installed with apt-get when
# missing and we are root; otherwise one line says what to install.
set -u
# program name -> Debian package
declare -A PACKAGES=([mosquitto]=mosquitto [coap-client-notls]=libcoap3-bin [redis-server]=redis-server [redis-cli]=redis-tools [chromium]=chromium)

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
for program in "${!PACKAGES[@]}"; do have "$program" || missing+=("${PACKAGES[$program]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing for the tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }
fi

still=()
for program in "${!PACKAGES[@]}"; do have "$program" || still+=("${PACKAGES[$program]}"); done
if [ ${#still[@]} -gt 0 ]; then
  echo "the tests need: ${still[*]} (Debian: apt-get install ${still[*]})" >&2
  exit 1
fi
