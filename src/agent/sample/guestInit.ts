/**
 * The /init of the sample's bootable guests (busybox sh as PID 1). What it does, in order, and what it prints on the
 * serial console (ttyS0) — the guest side of src/domain/instanceConsole.ts:
 *
 * 1. mounts /dev (devtmpfs first: without it a write to /dev/ttyS0 creates a plain file), /proc, /sys, /run, /tmp;
 * 2. loads the storage, CD-ROM, console and network drivers its kernel has (insmod, dependencies first);
 * 3. finds its boot disk by the MBR signature written at build time, whatever the bus made of it (vda, sda,
 *    nvme0n1…), waiting up to 20 s; a guest given a controller its kernel has no driver for never finds it and
 *    prints `FERRY-BOOT-FAILED no disk …` instead of the marker, exactly as a real guest would fail to boot;
 * 4. reads a NoCloud seed if one is attached (a filesystem labelled `cidata`): `local-hostname` from meta-data
 *    becomes the hostname, `public-keys` go to /root/.ssh/authorized_keys;
 * 5. starts the QEMU guest agent when the image carries one and the `org.qemu.guest_agent.0` port exists;
 * 6. prints `FERRY-BOOT-OK <hostname>`;
 * 7. runs the seed's `vendor-data`, then its `user-data`, each when it is a `#!` script or a MIME multipart of such
 *    parts (as cloud-init's scripts-vendor and scripts-user stages would; cloud-config is not interpreted; see
 *    SEED_SCRIPTS), in the background with their output on the console and `FERRY_ROOT_DISK` (the boot disk's
 *    device) in their environment;
 * 8. stays up quietly, reaping orphans, until the domain is destroyed.
 */
import { BOOT_MARKER } from '../../domain/instanceConsole.ts';

export interface GuestInitOptions {
  /** The hostname when no seed says otherwise. */
  hostname: string;
  /** Bytes 440–443 of the boot disk (the MBR disk signature) as 8 hex digits, in disk order. */
  diskSignature: string;
  /** Module files under /lib/modules, in insmod order. */
  modules: string[];
  /** Path of the guest agent in the image, when it carries one. */
  guestAgent?: string;
}

/**
 * `run_seed_scripts SEED_DIR WORK_DIR`: runs the seed's vendor-data, then its user-data, as cloud-init's scripts
 * stages would for what these guests can run: a `#!` script is run; a MIME multipart (src/launch/seedUserData.ts) is
 * split into its parts, base64 parts decoded, and every part that is a `#!` script run in order (nested multiparts
 * and cloud-config are not interpreted). Busybox sh and awk only.
 */
export const SEED_SCRIPTS = String.raw`run_script() {
  [ "$(head -c 2 "$1")" = '#!' ] || return 0
  chmod 700 "$1" && "$1" < /dev/null
}
split_parts() {
  awk -v dir="$2" '
    { sub(/\r$/, "") }
    boundary == "" && tolower($0) ~ /^content-type: *multipart\// {
      if (match($0, /boundary="?[^";]+/)) { boundary = substr($0, RSTART, RLENGTH); sub(/^boundary="?/, "", boundary) }
      next
    }
    boundary == "" { next }
    $0 == "--" boundary "--" { inpart = 0; next }
    $0 == "--" boundary { n++; inpart = 1; header = 1; file = sprintf("%s/%03d", dir, n); printf "" > (file ".head"); printf "" > (file ".body"); next }
    inpart && header && $0 == "" { header = 0; next }
    inpart && header { print tolower($0) >> (file ".head"); next }
    inpart { print >> (file ".body") }
  ' "$1"
}
run_seed_scripts() {
  for part in vendor-data user-data; do
    [ -f "$1/$part" ] || continue
    if head -c 1024 "$1/$part" | grep -qi '^content-type: *multipart/'; then
      mkdir -p "$2/$part.d"
      split_parts "$1/$part" "$2/$part.d"
      for head in "$2/$part.d"/*.head; do
        [ -f "$head" ] || continue
        body="$(dirname "$head")/$(basename "$head" .head)"
        if grep -q '^content-transfer-encoding: *base64' "$head"; then base64 -d < "$body.body" > "$body.part"; else cp "$body.body" "$body.part"; fi
        run_script "$body.part"
      done
    else
      cp "$1/$part" "$2/$part" && run_script "$2/$part"
    fi
  done
}
`;

export function guestInitScript(options: GuestInitOptions): string {
  if (!/^[0-9a-f]{8}$/.test(options.diskSignature)) throw new Error(`bad disk signature ${options.diskSignature}`);
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(options.hostname)) throw new Error(`bad hostname ${options.hostname}`);
  for (const m of options.modules) if (!/^[\w-]+\.ko$/.test(m)) throw new Error(`bad module file name ${m}`);
  return `#!/bin/busybox sh
# Ferry sample guest: see src/agent/sample/guestInit.ts in Ferry for what this prints.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs dev /dev
mkdir -p /proc /sys /run /tmp /root /var
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
ln -sf /run /var/run
CONSOLE=/dev/ttyS0
[ -c "$CONSOLE" ] || CONSOLE=/dev/console
say() { echo "$*" > "$CONSOLE"; }

for m in ${options.modules.join(' ')}; do insmod "/lib/modules/$m" 2>/dev/null; done

ROOT_DISK=
tries=0
while [ -z "$ROOT_DISK" ] && [ $tries -lt 200 ]; do
  for b in /sys/block/*; do
    name=\${b##*/}
    case "$name" in loop*|ram*|sr*|zram*) continue ;; esac
    [ -b "/dev/$name" ] || continue
    sig=$(dd if="/dev/$name" bs=1 skip=440 count=4 2>/dev/null | od -An -tx1 | tr -d ' \\n')
    if [ "$sig" = "${options.diskSignature}" ]; then ROOT_DISK=/dev/$name; break; fi
  done
  [ -n "$ROOT_DISK" ] || { sleep 0.1; tries=$((tries + 1)); }
done
if [ -z "$ROOT_DISK" ]; then
  say "FERRY-BOOT-FAILED no disk with signature ${options.diskSignature}: this kernel has no driver for the disk controller"
  exec sh -c 'while :; do sleep 3600; done'
fi
export FERRY_ROOT_DISK=$ROOT_DISK

HOST=${options.hostname}
SEED=
for label in cidata CIDATA; do
  dev=$(findfs "LABEL=$label" 2>/dev/null) || continue
  mkdir -p /run/cidata
  if mount -o ro "$dev" /run/cidata 2>/dev/null; then SEED=/run/cidata; break; fi
done
if [ -n "$SEED" ] && [ -f "$SEED/meta-data" ]; then
  name=$(sed -n -e 's/^local-hostname: *//p' -e 's/.*"local-hostname": *"\\([^"]*\\)".*/\\1/p' "$SEED/meta-data" | head -n 1 | tr -cd 'A-Za-z0-9.-')
  [ -n "$name" ] && HOST=$name
  keys=$(sed -n 's/^ *"\\(\\(ssh\\|ecdsa\\|sk\\)-[^"]*\\)",\\{0,1\\} *$/\\1/p' "$SEED/meta-data")
  if [ -n "$keys" ]; then
    mkdir -p /root/.ssh && chmod 700 /root/.ssh
    echo "$keys" > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
  fi
fi
hostname "$HOST"
${
  options.guestAgent
    ? `
for port in /sys/class/virtio-ports/*; do
  if [ "$(cat "$port/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then
    mkdir -p /run/qemu-ga
    ${options.guestAgent} -m virtio-serial -p "/dev/\${port##*/}" -t /run/qemu-ga -l /run/qemu-ga.log &
  fi
done
`
    : ''
}
say "${BOOT_MARKER} $HOST"

${SEED_SCRIPTS}
if [ -n "$SEED" ]; then
  mkdir -p /run/ferry-scripts
  ( run_seed_scripts "$SEED" /run/ferry-scripts ) > "$CONSOLE" 2>&1 &
fi

while :; do wait; sleep 60; done
`;
}
