#!/usr/bin/env bash
# Coverage-guided fuzzing of img's formats with afl++ (Debian's afl++) and SharpFuzz.
#
#   tools/fuzz/run.sh [-t SECONDS] [FORMAT ...]     # default: every format below, 600 s each
#
# Each target probes or opens the input as FORMAT, checks it, walks block status and reads up to 16 MiB
# (tools/fuzz/ImageTool.Fuzz/FuzzTarget.cs). Seeds are small images made by qemu-img/qemu-io at run time
# (cow by img itself: qemu-img cannot create it; dmg has no maker here and is left out).
# An exception other than ImageFormatException/IOException is a crash; more than 5 s is a hang; a managed
# heap over 512 MiB (DOTNET_GCHeapHardLimit) is an out-of-memory crash. Findings stay in
# $FUZZ_DIR/FORMAT/default/{crashes,hangs} (FUZZ_DIR defaults to /tmp/img-fuzz); replay one with
#   $FUZZ_DIR/replay/img-fuzz FORMAT FILE
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds=600
if [ "${1:-}" = "-t" ]; then seconds="$2"; shift 2; fi
formats=("$@")
[ ${#formats[@]} -gt 0 ] || formats=(qcow2 qcow cow vmdk cloop vpc vhdx vdi qed parallels luks bochs raw probe)
work="${FUZZ_DIR:-/tmp/img-fuzz}"
bin="$work/bin"
command -v afl-fuzz >/dev/null || { echo "afl-fuzz missing: apt-get install afl++" >&2; exit 2; }
export PATH="$PATH:$HOME/.dotnet/tools"
command -v sharpfuzz >/dev/null || dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null

mkdir -p "$work"
head -c 1048576 /dev/zero | tr '\0' '\1' >"$work/base.raw"
rm -rf "$bin"
dotnet publish "$root/tools/fuzz/ImageTool.Fuzz" -c Release -o "$bin" --nologo -v q >/dev/null
rm -rf "$work/replay"; cp -r "$bin" "$work/replay" # uninstrumented: instrumented code only runs under afl
sharpfuzz "$bin/ImageTool.dll" >/dev/null

qio() { qemu-io -f "$1" "${@:3}" "$2" >/dev/null; }
pack() { # pack FILE: its non-zero 512-byte runs as SparseInput records (ImageTool.Fuzz/SparseInput.cs)
  python3 - "$1" <<'PY'
import struct, sys
path = sys.argv[1]
data = open(path, 'rb').read()
out = bytearray(b'IMGSPARSE')
pos = 0
while pos < len(data):
    if data[pos:pos + 512].strip(b'\0'):
        end = pos
        while end < len(data) and end - pos < 32768 and data[end:end + 512].strip(b'\0'):
            end += 512
        out += struct.pack('<QH', pos, end - pos) + data[pos:end]
        pos = end
    else:
        pos += 512
# the last byte, so the file keeps its length (formats read footers and check sizes)
out += struct.pack('<QH', len(data) - 1, 1) + data[-1:]
open(path, 'wb').write(out)
PY
}
seeds() { # seeds FORMAT DIR: a few small images of FORMAT
  local f="$1" d="$2" s="-o secret,id=s0,data=pw"
  mkdir -p "$d"; cd "$d"
  qemu-img create -q -f raw base.raw 1M; qio raw base.raw -c "write -P 1 0 1M"
  case "$f" in
    qcow2) qemu-img create -q -f qcow2 -o cluster_size=4k a 1M; qio qcow2 a -c "write -P 1 0 20k" -c "write -c -P 2 64k 4k" -c "write -z 128k 8k"
           qemu-img snapshot -c s a; qemu-img bitmap --add a b0
           qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k,compat=1.1 b 1M; qio qcow2 b -c "write -P 1 0 3k" ;;
    qcow) qemu-img create -q -f qcow a 1M; qio qcow a -c "write -P 1 0 20k" ;;
    cow) "$work/replay/img-fuzz" create cow a 1048576 "$work/base.raw" ;; # cow keeps the absolute name
    vmdk) qemu-img create -q -f vmdk a 1M; qio vmdk a -c "write -P 1 0 20k"
          qemu-img convert -O vmdk -o subformat=streamOptimized base.raw b ;;
    cloop) head -c 20000 /dev/urandom >in; create_compressed_fs -q -B 4096 in a >/dev/null 2>&1 ;;
    vpc) qemu-img create -q -f vpc a 1M; qio vpc a -c "write -P 1 0 20k" ;;
    vhdx) qemu-img create -q -f vhdx -o block_size=1M,log_size=1M a 2M; qio vhdx a -c "write -P 1 0 20k" ;;
    vdi) qemu-img create -q -f vdi a 1M; qio vdi a -c "write -P 1 0 20k" ;;
    qed) qemu-img create -q -f qed -o cluster_size=4k,table_size=2 -b base.raw -F raw a 1M; qio qed a -c "write -P 2 4k 8k" ;;
    parallels) qemu-img create -q -f parallels -o cluster_size=4k a 1M; qio parallels a -c "write -P 1 0 20k" ;;
    luks) qemu-img create -q --object secret,id=s0,data=pw -f luks -o key-secret=s0,iter-time=1 a 64k ;;
    bochs) bximage -q -func=create -hd=1M -imgmode=growing a >/dev/null 2>&1 ;;
    raw) head -c 4096 /dev/urandom >a ;;
    probe) cp "$work/qcow2/seeds/a" "$work/vhdx/seeds/a" . 2>/dev/null || true
           qemu-img create -q -f vpc v 64k; qemu-img create -q -f vdi d 64k ;;
  esac
  rm -f base.raw in
  for seed in *; do [ "$(stat -c %s "$seed")" -le 65536 ] || pack "$seed"; done # afl wants small seeds
  cd - >/dev/null
}

for f in "${formats[@]}"; do
  dir="$work/$f"; rm -rf "$dir"; mkdir -p "$dir"
  seeds "$f" "$dir/seeds"
  echo "== $f: ${seconds}s"
  AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 \
  DOTNET_GCHeapHardLimit=0x20000000 \
    afl-fuzz -i "$dir/seeds" -o "$dir" -t 5000 -m none -V "$seconds" -- "$bin/img-fuzz" "$f" >"$dir/afl.log" 2>&1 || true
  stats="$dir/default/fuzzer_stats"
  if [ -f "$stats" ]; then
    get() { sed -n "s/^$1 *: //p" "$stats"; }
    echo "$f: $(get execs_done) execs, $(get corpus_count) paths, $(get saved_crashes) crashes, $(get saved_hangs) hangs"
  else
    echo "$f: afl-fuzz did not start; see $dir/afl.log"; tail -5 "$dir/afl.log"
  fi
done
