#!/usr/bin/env bash
# Side-by-side benchmark of img against qemu-img (hyperfine, same run, median of RUNS, ratio img/qemu-img).
# usage: tools/bench/bench.sh [ROW_FILTER]     env: RUNS (default 5), WARMUP (runs not timed, default 1), BENCH_SIZE (default 4G), RBD_BENCH_SIZE (512M),
#   TMPDIR (where outputs go: tmpfs such as /dev/shm to time the copy, not the disk), REFLINK_DIR (reflink rows)
# ROW_FILTER: rows whose name contains it; several filters separated by | ("qcow2->raw|bench 4k").
# The input is built once and cached in tools/bench/cache: a raw disk holding an ext4 file system filled
# with /usr/share (mkfs.ext4 -d), i.e. real files, free space and holes, like an OS image.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="$root/tools/bench/cache"
runs="${RUNS:-5}"
filter="${1:-}"
mkdir -p "$cache"
cd "$cache"
# Outputs go to a private scratch folder: the cache may be shared, and stays as built.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/img-bench.XXXXXX")"
# Rows that start servers or attach devices add their own undo steps to cleanup_steps.
cleanup_steps=()
cleanup() { local step; for step in "${cleanup_steps[@]}"; do eval "$step" || true; done; rm -rf "$scratch"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
out="$scratch/out.img"

"$root/img" --version >/dev/null            # builds the NativeAOT binary when stale
IMG="$root/artifacts/img/img"
QEMU="$(command -v qemu-img)"

if [ ! -s fs.raw ]; then
  echo "building fs.raw (${BENCH_SIZE:-4G} ext4 with /usr/share) ..." >&2
  rm -f fs.raw
  truncate -s "${BENCH_SIZE:-4G}" fs.raw
  mkfs.ext4 -q -F -d /usr/share fs.raw
fi
[ -s small.raw ] || "$QEMU" create -q -f raw small.raw 10M
# wanted NAME: the row is selected by the filter
wanted() {
  [ -z "$filter" ] && return 0
  local f IFS='|'
  for f in $filter; do [[ "$1" == *"$f"* ]] && return 0; done
  return 1
}
# Inputs in other formats, made by qemu-img once (so img reads what qemu writes).
ensure() { [ -s "$1" ] || { echo "building $1 ..." >&2; shift; "$@"; }; }
# input ARG: builds the cached input ARG names the first time a selected row reads it.
input() {
  case "$1" in
    fs.qcow2) ensure fs.qcow2 "$QEMU" convert -O qcow2 fs.raw fs.qcow2 ;;
    fs.vmdk) ensure fs.vmdk "$QEMU" convert -O vmdk fs.raw fs.vmdk ;;
    fs.vhd) ensure fs.vhd "$QEMU" convert -O vpc fs.raw fs.vhd ;;
    fs.vhdx) ensure fs.vhdx "$QEMU" convert -O vhdx fs.raw fs.vhdx ;;
    fs.vdi) ensure fs.vdi "$QEMU" convert -O vdi fs.raw fs.vdi ;;
    fs.qed) ensure fs.qed "$QEMU" convert -O qed fs.raw fs.qed ;;
    fs.parallels) ensure fs.parallels "$QEMU" convert -O parallels fs.raw fs.parallels ;;
    fs-stream.vmdk) ensure fs-stream.vmdk "$QEMU" convert -O vmdk -o subformat=streamOptimized fs.raw fs-stream.vmdk ;;
    fs-zlib.qcow2) ensure fs-zlib.qcow2 "$QEMU" convert -c -O qcow2 fs.raw fs-zlib.qcow2 ;;
    fs-zstd.qcow2) ensure fs-zstd.qcow2 "$QEMU" convert -c -O qcow2 -o compression_type=zstd fs.raw fs-zstd.qcow2 ;;
    fs.qcow) ensure fs.qcow "$QEMU" convert -O qcow fs.raw fs.qcow ;;
    fs.cloop) ensure fs.cloop create_compressed_fs -q -B 65536 fs.raw fs.cloop ;;
  esac
}


printf '| %-34s | %9s | %9s | %6s |\n' "operation" "img s" "qemu s" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "-----------" "-----------" "--------"

# time_pair NAME PREPARE COMMAND_A COMMAND_B: hyperfine medians of both and the ratio A/B, one table row
time_pair() {
  local name="$1" prepare="$2" json; json=$(mktemp)
  # shellcheck disable=SC2086  # pair_flags: extra hyperfine flags a row sets (-i: a failed run is timed, not fatal)
  hyperfine -N -w "${WARMUP:-1}" -r "$runs" ${pair_flags:-} --prepare "$prepare" --export-json "$json" "$3" "$4" >/dev/null 2>&1
  local a b; a=$(jq '.results[0].median' "$json"); b=$(jq '.results[1].median' "$json")
  rm -f "$json"
  printf '| %-34s | %9.4f | %9.4f | %6.2f |\n' "$name" "$a" "$b" "$(echo "$a / $b" | bc -l)"
}

# row NAME PREPARE IMG_ARGS... -- QEMU_ARGS...
row() {
  local name="$1" prepare="$2"; shift 2
  wanted "$name" || return 0
  local img_args=() qemu_args=()
  while [ "$1" != "--" ]; do img_args+=("$1"); input "$1"; shift; done; shift
  qemu_args=("$@")
  if ! ( eval "$prepare"; "$IMG" "${img_args[@]}" ) >/dev/null 2>&1; then
    printf '| %-34s | %9s | %9s | %6s |\n' "$name" "n/a" "" ""; return 0
  fi
  time_pair "$name" "$prepare" "$IMG ${img_args[*]}" "$QEMU ${qemu_args[*]}"
}

# tool_row NAME PREPARE IMG_ARGS... -- OTHER_COMMAND...  (img against another tool than qemu-img)
tool_row() {
  local name="$1" prepare="$2"; shift 2
  wanted "$name" || return 0
  local img_args=() other=()
  while [ "$1" != "--" ]; do img_args+=("$1"); input "$1"; shift; done; shift
  other=("$@")
  time_pair "$name" "$prepare" "$IMG ${img_args[*]}" "${other[*]}"
}

# rss NAME PREPARE IMG_ARGS... -- QEMU_ARGS...  (peak resident set, MiB)
rss() {
  local name="$1" prepare="$2"; shift 2
  wanted "$name" || return 0
  local img_args=() qemu_args=()
  while [ "$1" != "--" ]; do img_args+=("$1"); input "$1"; shift; done; shift
  qemu_args=("$@")
  local t; t=$(mktemp)
  eval "$prepare"; /usr/bin/time -o "$t" -f %M "$IMG" "${img_args[@]}" >/dev/null 2>&1; local a; a=$(tail -1 "$t")
  eval "$prepare"; /usr/bin/time -o "$t" -f %M "$QEMU" "${qemu_args[@]}" >/dev/null 2>&1; local b; b=$(tail -1 "$t")
  rm -f "$t"
  printf '| %-34s | %7.1fMi | %7.1fMi | %6.2f |\n' "$name (peak RSS)" "$(echo "$a/1024" | bc -l)" "$(echo "$b/1024" | bc -l)" "$(echo "$a / $b" | bc -l)"
}

rm_out="rm -f $out $out.*"
row "info start-up" "true" info small.raw -- info small.raw
# The packaged .NET tool as `dotnet tool install ImageTool.Cli` gives it (the NativeAOT linux-x64 package of
# src/ImageTool.Cli), packed from this checkout into the scratch folder and installed with --tool-path.
if wanted "info start-up (dotnet tool)"; then
  pkg="$scratch/pkg"
  dotnet pack "$root/src/ImageTool.Cli" -c Release -o "$pkg" -v quiet -nologo >/dev/null 2>&1
  dotnet pack "$root/src/ImageTool.Cli" -c Release -r linux-x64 -o "$pkg" -v quiet -nologo >/dev/null 2>&1
  version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props")
  dotnet tool install --tool-path "$scratch/tool" --add-source "$pkg" --version "$version" ImageTool.Cli >/dev/null 2>&1 || true
  if [ -x "$scratch/tool/img" ]; then
    time_pair "info start-up (dotnet tool)" "true" "$scratch/tool/img info small.raw" "$QEMU info small.raw"
  else
    printf '| %-34s | %9s | %9s | %6s |\n' "info start-up (dotnet tool)" "n/a" "" ""
  fi
fi
row "convert raw->raw" "$rm_out" convert -O raw fs.raw "$out" -- convert -O raw fs.raw "$out"
rss "convert raw->raw" "$rm_out" convert -O raw fs.raw "$out" -- convert -O raw fs.raw "$out"
row "convert raw->qcow2" "$rm_out" convert -O qcow2 fs.raw "$out" -- convert -O qcow2 fs.raw "$out"
rss "convert raw->qcow2" "$rm_out" convert -O qcow2 fs.raw "$out" -- convert -O qcow2 fs.raw "$out"
row "convert qcow2->raw" "$rm_out" convert -O raw fs.qcow2 "$out" -- convert -O raw fs.qcow2 "$out"
rss "convert qcow2->raw" "$rm_out" convert -O raw fs.qcow2 "$out" -- convert -O raw fs.qcow2 "$out"
row "convert -c raw->qcow2 (zlib)" "$rm_out" convert -c -O qcow2 fs.raw "$out" -- convert -c -O qcow2 fs.raw "$out"
row "convert -c raw->qcow2 (zstd)" "$rm_out" convert -c -O qcow2 -o compression_type=zstd fs.raw "$out" -- convert -c -O qcow2 -o compression_type=zstd fs.raw "$out"
rss "convert -c raw->qcow2 (zstd)" "$rm_out" convert -c -O qcow2 -o compression_type=zstd fs.raw "$out" -- convert -c -O qcow2 -o compression_type=zstd fs.raw "$out"
row "convert -c qcow2 (zlib)->raw" "$rm_out" convert -O raw fs-zlib.qcow2 "$out" -- convert -O raw fs-zlib.qcow2 "$out"
row "convert -c qcow2 (zstd)->raw" "$rm_out" convert -O raw fs-zstd.qcow2 "$out" -- convert -O raw fs-zstd.qcow2 "$out"
row "convert raw->qcow" "$rm_out" convert -O qcow fs.raw "$out" -- convert -O qcow fs.raw "$out"
row "convert qcow->raw" "$rm_out" convert -O raw fs.qcow "$out" -- convert -O raw fs.qcow "$out"
row "convert cloop->raw" "$rm_out" convert -O raw fs.cloop "$out" -- convert -O raw fs.cloop "$out"
tool_row "write cloop (vs create_compressed_fs)" "$rm_out" convert -O cloop -o block_size=65536 fs.raw "$out" -- create_compressed_fs -q -B 65536 fs.raw "$out"
row "convert raw->vmdk" "$rm_out" convert -O vmdk fs.raw "$out" -- convert -O vmdk fs.raw "$out"
row "convert raw->vmdk streamOptimized" "$rm_out" convert -O vmdk -o subformat=streamOptimized fs.raw "$out" -- convert -O vmdk -o subformat=streamOptimized fs.raw "$out"
row "convert vmdk->raw" "$rm_out" convert -O raw fs.vmdk "$out" -- convert -O raw fs.vmdk "$out"
row "convert vmdk streamOptimized->raw" "$rm_out" convert -O raw fs-stream.vmdk "$out" -- convert -O raw fs-stream.vmdk "$out"
row "convert raw->vpc" "$rm_out" convert -O vpc fs.raw "$out" -- convert -O vpc fs.raw "$out"
rss "convert raw->vpc" "$rm_out" convert -O vpc fs.raw "$out" -- convert -O vpc fs.raw "$out"
row "convert vpc->raw" "$rm_out" convert -O raw fs.vhd "$out" -- convert -O raw fs.vhd "$out"
rss "convert vpc->raw" "$rm_out" convert -O raw fs.vhd "$out" -- convert -O raw fs.vhd "$out"
row "convert raw->vhdx" "$rm_out" convert -O vhdx fs.raw "$out" -- convert -O vhdx fs.raw "$out"
rss "convert raw->vhdx" "$rm_out" convert -O vhdx fs.raw "$out" -- convert -O vhdx fs.raw "$out"
row "convert vhdx->raw" "$rm_out" convert -O raw fs.vhdx "$out" -- convert -O raw fs.vhdx "$out"
rss "convert vhdx->raw" "$rm_out" convert -O raw fs.vhdx "$out" -- convert -O raw fs.vhdx "$out"
row "convert raw->vdi" "$rm_out" convert -O vdi fs.raw "$out" -- convert -O vdi fs.raw "$out"
rss "convert raw->vdi" "$rm_out" convert -O vdi fs.raw "$out" -- convert -O vdi fs.raw "$out"
row "convert vdi->raw" "$rm_out" convert -O raw fs.vdi "$out" -- convert -O raw fs.vdi "$out"
rss "convert vdi->raw" "$rm_out" convert -O raw fs.vdi "$out" -- convert -O raw fs.vdi "$out"
row "convert raw->qed" "$rm_out" convert -O qed fs.raw "$out" -- convert -O qed fs.raw "$out"
row "convert qed->raw" "$rm_out" convert -O raw fs.qed "$out" -- convert -O raw fs.qed "$out"
row "convert raw->parallels" "$rm_out" convert -O parallels fs.raw "$out" -- convert -O parallels fs.raw "$out"
row "convert parallels->raw" "$rm_out" convert -O raw fs.parallels "$out" -- convert -O raw fs.parallels "$out"
for f in vpc:fs.vhd vhdx:fs.vhdx vdi:fs.vdi qed:fs.qed parallels:fs.parallels; do
  row "info start-up ${f%%:*}" "true" info "${f#*:}" -- info "${f#*:}"
done
# Scale: time and memory grow with the data, not the virtual size or the chain length (issue 22).
# data.raw is the first GiB of fs.raw; big.qcow2 and small.qcow2 hold it in 1 TiB and 4 GiB disks; chain50.qcow2
# is 50 files deep (the base and 49 overlays, each overlay writing its own 8 MiB), flat.qcow2 the same disk in one
# file; frag.raw has 100 000 data extents (4 KiB of data every 8 KiB).
if wanted "scale"; then
  ensure data.raw sh -c 'cp --sparse=always fs.raw data.raw && truncate -s 1G data.raw'
  ensure small.qcow2 sh -c "'$QEMU' convert -O qcow2 data.raw small.qcow2 && '$QEMU' resize -q small.qcow2 4G"
  ensure big.qcow2 sh -c "'$QEMU' convert -O qcow2 data.raw big.qcow2 && '$QEMU' resize -q big.qcow2 1T"
  if [ ! -s chain50.qcow2 ]; then
    echo "building chain50.qcow2 ..." >&2
    cp small.qcow2 chain0.qcow2
    for i in $(seq 1 49); do
      "$QEMU" create -q -f qcow2 -b "chain$((i - 1)).qcow2" -F qcow2 "chain$i.qcow2"
      qemu-io -f qcow2 -c "write -P $((i % 250 + 1)) $((i * 64))M 8M" "chain$i.qcow2" >/dev/null
    done
    mv chain49.qcow2 chain50.qcow2
  fi
  ensure flat.qcow2 "$QEMU" convert -O qcow2 chain50.qcow2 flat.qcow2
  ensure frag.raw python3 -c '
import os
fd = os.open("frag.raw", os.O_WRONLY | os.O_CREAT, 0o644)
block = os.urandom(4096)
for i in range(100000): os.pwrite(fd, block, i * 8192)
os.ftruncate(fd, 100000 * 8192)
os.close(fd)'
  row "convert scale 1TiB qcow2 (1GiB)->raw" "$rm_out" convert -O raw big.qcow2 "$out" -- convert -O raw big.qcow2 "$out"
  rss "convert scale 1TiB qcow2 (1GiB)->raw" "$rm_out" convert -O raw big.qcow2 "$out" -- convert -O raw big.qcow2 "$out"
  row "convert scale 4GiB qcow2 (1GiB)->raw" "$rm_out" convert -O raw small.qcow2 "$out" -- convert -O raw small.qcow2 "$out"
  row "convert scale 50-deep chain->raw" "$rm_out" convert -O raw chain50.qcow2 "$out" -- convert -O raw chain50.qcow2 "$out"
  rss "convert scale 50-deep chain->raw" "$rm_out" convert -O raw chain50.qcow2 "$out" -- convert -O raw chain50.qcow2 "$out"
  row "convert scale flat chain->raw" "$rm_out" convert -O raw flat.qcow2 "$out" -- convert -O raw flat.qcow2 "$out"
  row "convert scale frag raw->qcow2" "$rm_out" convert -O qcow2 frag.raw "$out" -- convert -O qcow2 frag.raw "$out"
  rss "convert scale frag raw->qcow2" "$rm_out" convert -O qcow2 frag.raw "$out" -- convert -O qcow2 frag.raw "$out"
  row "map scale frag raw" "true" map --output=json frag.raw -- map --output=json frag.raw
fi
# Copy offload where the file system shares blocks: REFLINK_DIR is a mount of xfs (mkfs.xfs -m reflink=1) or btrfs
# with room for fs.raw and fs.qcow2 (~4 GiB); the inputs are copied there once, the outputs written there.
if [ -n "${REFLINK_DIR:-}" ] && wanted "reflink"; then
  [ -s "$REFLINK_DIR/fs.raw" ] || cp --sparse=always fs.raw "$REFLINK_DIR/fs.raw"
  [ -s "$REFLINK_DIR/fs.qcow2" ] || "$QEMU" convert -O qcow2 fs.raw "$REFLINK_DIR/fs.qcow2"
  rout="$REFLINK_DIR/out.img"
  rm_rout="rm -f $rout"
  row "convert raw->raw (reflink)" "$rm_rout" convert -O raw "$REFLINK_DIR/fs.raw" "$rout" -- convert -O raw "$REFLINK_DIR/fs.raw" "$rout"
  row "convert -C raw->raw (reflink)" "$rm_rout" convert -C -O raw "$REFLINK_DIR/fs.raw" "$rout" -- convert -C -O raw "$REFLINK_DIR/fs.raw" "$rout"
  row "convert raw->qcow2 (reflink)" "$rm_rout" convert -O qcow2 "$REFLINK_DIR/fs.raw" "$rout" -- convert -O qcow2 "$REFLINK_DIR/fs.raw" "$rout"
  row "convert qcow2->raw (reflink)" "$rm_rout" convert -O raw "$REFLINK_DIR/fs.qcow2" "$rout" -- convert -O raw "$REFLINK_DIR/fs.qcow2" "$rout"
  rm -f "$rout"
fi
row "compare raw qcow2" "true" compare fs.raw fs.qcow2 -- compare fs.raw fs.qcow2
row "map qcow2" "true" map --output=json fs.qcow2 -- map --output=json fs.qcow2
# bench: 4 KiB requests at depth 1, stepping 64 MiB + 4 KiB so that the offsets hop across the whole disk
# (and its L2 tables) instead of reading one cluster after another; writes go to a fresh copy every run.
step=$(((64 << 20) + 4096))
bench_reads=(bench -c 100000 -d 1 -s 4k -S "$step" fs.qcow2)
row "bench 4k reads qcow2 (d1)" "true" "${bench_reads[@]}" -- "${bench_reads[@]}"
bench_writes=(bench -w -c 50000 -d 1 -s 4k -S "$step" "$scratch/w.qcow2")
row "bench 4k writes qcow2 (d1)" "cp fs.qcow2 $scratch/w.qcow2" "${bench_writes[@]}" -- "${bench_writes[@]}"
# nbd: fs.qcow2 served read-only on a Unix socket (-e 4: both servers then offer multi-conn, which nbdcopy uses),
# read end to end by nbdcopy into null: (img nbd against qemu-nbd); then img convert from nbd:// served by qemu-nbd
# into a local qcow2 against qemu-img doing the same.
nbdcopy_row="nbdcopy qcow2 from img nbd (vs qemu-nbd)" nbd_convert_row="convert nbd->qcow2 (qemu-nbd)"
if { wanted "$nbdcopy_row" || wanted "$nbd_convert_row"; } && command -v qemu-nbd >/dev/null && command -v nbdcopy >/dev/null; then
  img_sock="$scratch/img-nbd.sock" qemu_sock="$scratch/qemu-nbd.sock"
  "$IMG" nbd -t -r -e 4 -f qcow2 -k "$img_sock" --fork --pid-file "$scratch/img-nbd.pid" fs.qcow2
  qemu-nbd -t -r -e 4 -f qcow2 -k "$qemu_sock" --fork --pid-file "$scratch/qemu-nbd.pid" fs.qcow2
  if wanted "$nbdcopy_row"; then
    time_pair "$nbdcopy_row" "true" "nbdcopy nbd+unix:///?socket=$img_sock null:" "nbdcopy nbd+unix:///?socket=$qemu_sock null:"
  fi
  row "$nbd_convert_row" "$rm_out" convert -O qcow2 "nbd+unix:///?socket=$qemu_sock" "$out" -- convert -O qcow2 "nbd+unix:///?socket=$qemu_sock" "$out"
  kill "$(cat "$scratch/img-nbd.pid")" "$(cat "$scratch/qemu-nbd.pid")"
fi
# http: fs.raw served by lighttpd on a free loopback port, converted to raw and qcow2 (qemu-img through its curl
# driver, block-curl.so). qemu-img 7.2 with its default 8 coroutines stalls for good in this convert on this
# machine (no byte moves after a few hundred MiB, with lighttpd's keep-alive limits raised or not), so it runs
# with -m 1, the setting that finishes; its runs are also cut off after HTTP_TIMEOUT seconds (default 900), so a
# row showing that time did not finish.
http_raw_row="convert http->raw" http_qcow2_row="convert http->qcow2"
if { wanted "$http_raw_row" || wanted "$http_qcow2_row"; } && command -v lighttpd >/dev/null \
  && [ -e /usr/lib/x86_64-linux-gnu/qemu/block-curl.so ]; then
  http_port=$(free_port)
  printf 'server.document-root = "%s"\nserver.bind = "127.0.0.1"\nserver.port = %s\n' "$cache" "$http_port" >"$scratch/lighttpd.conf"
  lighttpd -D -f "$scratch/lighttpd.conf" & http_pid=$!
  cleanup_steps+=("kill $http_pid")
  for _ in $(seq 100); do curl -sfI -m 5 "http://127.0.0.1:$http_port/fs.raw" >/dev/null && break; sleep 0.3; done
  url="http://127.0.0.1:$http_port/fs.raw"
  qemu_cut="timeout ${HTTP_TIMEOUT:-900} $QEMU"
  for fmt in raw qcow2; do
    name="convert http->$fmt"
    wanted "$name" || continue
    pair_flags=-i time_pair "$name" "$rm_out" "$IMG convert -f raw -O $fmt $url $out" "$qemu_cut convert -m 1 -f raw -O $fmt $url $out"
  done
fi
# Host block device: fs.raw attached read-only to a loop device (root only), converted to qcow2.
if wanted "convert blockdev->qcow2" && [ "$(id -u)" = 0 ] && loop_dev=$(losetup -f --show -r fs.raw 2>/dev/null); then
  cleanup_steps+=("losetup -d $loop_dev")
  row "convert blockdev->qcow2" "$rm_out" convert -O qcow2 "$loop_dev" "$out" -- convert -O qcow2 "$loop_dev" "$out"
fi
# rbd: a one-node Ceph cluster (tools/ceph-cluster, memstore OSD) on free loopback ports, the first RBD_BENCH_SIZE
# (default 512M) of fs.raw converted into a pool and back out.
if wanted "rbd" && command -v ceph-mon >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so ]; then
  ceph_dir="$scratch/ceph"
  cleanup_steps+=('"$root/tools/ceph-cluster" stop "$ceph_dir"')
  eval "$(CEPH_V2PORT=$(free_port) CEPH_V1PORT=$(free_port) "$root/tools/ceph-cluster" start "$ceph_dir" --owner $$ 2>/dev/null)"
  export CEPH_CONF
  rbd_src="$scratch/rbd-src.raw"
  "$QEMU" convert -f raw -O raw fs.raw "$rbd_src"
  "$QEMU" resize -q -f raw --shrink "$rbd_src" "${RBD_BENCH_SIZE:-512M}"
  "$QEMU" convert -f raw -O raw "$rbd_src" rbd:rbd/bench-src
  # hyperfine -N runs --prepare without a shell: the redirection and || need one.
  rm_rbd="bash -c 'rbd rm --no-progress rbd/bench-out >/dev/null 2>&1 || true'"
  row "convert raw->rbd" "$rm_rbd" convert -f raw -O raw "$rbd_src" rbd:rbd/bench-out -- convert -f raw -O raw "$rbd_src" rbd:rbd/bench-out
  row "convert rbd->raw" "$rm_out" convert -f raw -O raw rbd:rbd/bench-src "$out" -- convert -f raw -O raw rbd:rbd/bench-src "$out"
fi
# img run: a boot sector that prints on COM1 and resets through the keyboard controller (qemu -no-reboot quits then).
if wanted "run boot sector" && command -v nasm >/dev/null && command -v qemu-system-x86_64 >/dev/null; then
  cat >"$scratch/boot.asm" <<'ASM'
bits 16
org 0x7c00
    mov si, msg
    mov dx, 0x3f8
.next:
    cs lodsb
    test al, al
    jz .reset
    out dx, al
    jmp .next
.reset:
    mov al, 0xfe
    out 0x64, al
    cli
    hlt
msg: db "Hello from the boot sector", 13, 10, 0
times 510-($-$$) db 0
dw 0xaa55
ASM
  nasm -f bin -o "$scratch/boot.img" "$scratch/boot.asm"
  truncate -s 1M "$scratch/boot.img"
  drive="-drive file=$scratch/boot.img,format=raw,if=ide"
  tool_row "run boot sector (vs qemu-system)" "true" run $drive -nographic -- qemu-system-x86_64 -enable-kvm -nographic -no-reboot $drive
fi

# Guest networking per NIC (virtio, e1000, ne2k_pci), img run against qemu-system-x86_64 (-enable-kvm, same
# micro guest, -net user), next to the tutorial's table: TCP guest->host through the NAT and host->guest through
# hostfwd (NET_MIB MiB each, default 4; MB/s and img/qemu ratio) and the time from start to the guest's DHCP lease.
if wanted "network" && [ -r /dev/kvm ] && command -v nasm >/dev/null && command -v qemu-system-x86_64 >/dev/null; then
  echo
  IMG_NET_BENCH_MIB="${NET_MIB:-4}" IMG_NET_BENCH_OUT="$scratch/net.md" \
    dotnet test "$root/tests/ImageTool.Kvm.Tests" --filter "FullyQualifiedName~NicThroughputBench" >/dev/null 2>&1 || true
  cat "$scratch/net.md" 2>/dev/null || echo "network bench: no result"
fi
