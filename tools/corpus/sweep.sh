#!/usr/bin/env bash
# Generates a corpus of images with qemu-img, qemu-io and create_compressed_fs into a scratch folder and
# compares img with qemu-img on each: info (human, json, --backing-chain), check (human, json), map (human,
# json), compare against the image's raw copy, and the content of `convert -O raw`.
#
#   tools/corpus/sweep.sh [CASE-REGEX]      # e.g. tools/corpus/sweep.sh 'qcow2-cl|vmdk'
#
# IMG (default artifacts/img-jit/img, built with `IMG_BUILD=jit ./img --version`), CORPUS_DIR (default
# /tmp/img-corpus, wiped first). Differences go to $CORPUS_DIR/report.txt; exit 1 when there is any.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMG="${IMG:-$root/artifacts/img-jit/img}"
WORK="${CORPUS_DIR:-/tmp/img-corpus}"
FILTER="${1:-.}"
export LC_ALL=C
[ -x "$IMG" ] || { echo "build img first: IMG_BUILD=jit ./img --version" >&2; exit 2; }
rm -rf "$WORK"; mkdir -p "$WORK"
REPORT="$WORK/report.txt"; : >"$REPORT"
cases=0; checks=0; diffs=0
SECRET=(--object secret,id=s0,data=pw)

# --- comparison ---------------------------------------------------------------------------------------------

# same NAME ARGS...: runs qemu-img ARGS and img ARGS in the case folder, records any difference.
same() {
  local what="$1"; shift
  checks=$((checks + 1))
  local q i
  q=$(timeout 120 qemu-img "$@" 2>"$WORK/q.err"); local qrc=$?
  i=$(timeout 120 "$IMG" "$@" 2>"$WORK/i.err"); local irc=$?
  q=${q//qemu-img/img}
  local qerr; qerr=$(sed 's/qemu-img/img/g' "$WORK/q.err")
  local ierr; ierr=$(cat "$WORK/i.err")
  if [ "$q" != "$i" ] || [ "$qerr" != "$ierr" ] || [ $qrc != $irc ]; then
    diffs=$((diffs + 1))
    {
      echo "=== $case_name: $what: img $* (exit qemu $qrc, img $irc)"
      diff <(echo "$q"; echo "$qerr") <(echo "$i"; echo "$ierr") | head -20
    } >>"$REPORT"
  fi
}

# probe FILE: every read-only command on FILE. PROBE_OPTS (array) goes before the file name (e.g. --object,
# --image-opts); PROBE_ARG replaces the file name when set (an --image-opts string).
probe() {
  local f="$1" arg="${PROBE_ARG:-$1}"
  local -a o=("${PROBE_OPTS[@]}")
  sync "$f" 2>/dev/null # "disk size" changes while delayed allocation settles
  same info info "${o[@]}" "$arg"
  same info-json info "${o[@]}" --output=json "$arg"
  same info-chain info "${o[@]}" --backing-chain "$arg"
  same info-chain-json info "${o[@]}" --backing-chain --output=json "$arg"
  same check check "${o[@]}" "$arg"
  same check-json check "${o[@]}" --output=json "$arg"
  same map map "${o[@]}" "$arg"
  same map-json map "${o[@]}" --output=json "$arg"
  # convert -O raw: exit codes and content
  checks=$((checks + 1))
  rm -f "$WORK/q.raw" "$WORK/i.raw"
  timeout 300 qemu-img convert "${o[@]}" -O raw "$arg" "$WORK/q.raw" 2>"$WORK/q.err"; local qrc=$?
  timeout 300 "$IMG" convert "${o[@]}" -O raw "$arg" "$WORK/i.raw" 2>"$WORK/i.err"; local irc=$?
  if [ $qrc != $irc ] || { [ $qrc = 0 ] && ! cmp -s "$WORK/q.raw" "$WORK/i.raw"; }; then
    diffs=$((diffs + 1))
    { echo "=== $case_name: convert -O raw $f: exit qemu $qrc img $irc, content $(cmp "$WORK/q.raw" "$WORK/i.raw" 2>&1 | head -1)"
      sed 's/^/  qemu: /' "$WORK/q.err"; sed 's/^/  img:  /' "$WORK/i.err"; } >>"$REPORT"
  fi
  if [ $qrc = 0 ]; then
    local -a co=("${o[@]}")
    local raw="$WORK/q.raw"
    if [ -n "${PROBE_ARG:-}" ]; then raw="driver=raw,file.filename=$WORK/q.raw"; fi
    same compare-raw compare "${co[@]}" "$arg" "$raw"
    same compare-raw-strict compare "${co[@]}" -s "$arg" "$raw"
  fi
  rm -f "$WORK/q.raw" "$WORK/i.raw"
}

# --- cases ----------------------------------------------------------------------------------------------------

# run_case NAME FUNCTION: FUNCTION makes images in a fresh folder and calls probe on them.
run_case() {
  case_name="$1"
  [[ "$case_name" =~ $FILTER ]] || return 0
  cases=$((cases + 1))
  local dir="$WORK/$case_name"
  mkdir -p "$dir"
  (cd "$dir" && checks=0 && diffs=0 && PROBE_OPTS=() && "$2" >"$dir/make.log" 2>&1) || true
  # the function's probe calls ran in a subshell: fold its counters back in
  if [ -f "$dir/.counts" ]; then read -r c d <"$dir/.counts"; checks=$((checks + c)); diffs=$((diffs + d)); fi
}
# counters live in the subshell of run_case; each case writes them on exit
finish() { echo "$checks $diffs" >.counts; }

qio() { qemu-io -f "$1" "${@:3}" "$2" >/dev/null; }
writes() { # a few patterned writes spread over the disk, one zero write, one discard
  local f="$1" fmt="$2"
  qemu-io -f "$fmt" -c "write -P 0x11 0 70k" -c "write -P 0x22 1M 4k" -c "write -P 0x33 3M 130k" \
    -c "write -z 5M 64k" -c "write -P 0x44 6M 8k" -c "discard 6M 4k" "$f" >/dev/null
}

c_raw() { qemu-img create -q -f raw a.raw 16M; writes a.raw raw; probe a.raw
  truncate -s 1000000 odd.raw; printf 'xx' | dd of=odd.raw bs=1 seek=999000 conv=notrunc 2>/dev/null; probe odd.raw
  : >empty.raw; probe empty.raw; finish; }

c_qcow2_cluster() { for v in 0.10 1.1; do for cs in 512 1k 2k 4k 8k 16k 32k 64k 128k 256k 512k 1M 2M; do
  qemu-img create -q -f qcow2 -o compat=$v,cluster_size=$cs c$v-$cs.qcow2 16M; writes c$v-$cs.qcow2 qcow2
  probe c$v-$cs.qcow2; done; done; finish; }

c_qcow2_refcount() { for rb in 1 2 4 8 16 32 64; do
  qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4k r$rb.qcow2 8M; writes r$rb.qcow2 qcow2
  probe r$rb.qcow2; done; finish; }

c_qcow2_lazy() {
  qemu-img create -q -f qcow2 -o lazy_refcounts=on l.qcow2 16M; writes l.qcow2 qcow2; probe l.qcow2
  qemu-img create -q -f qcow2 -o lazy_refcounts=on dirty.qcow2 16M
  qemu-io -c "write -P 0x55 0 128k" -c abort dirty.qcow2 >/dev/null 2>&1; probe dirty.qcow2; finish; }

c_qcow2_prealloc() { for p in off metadata falloc full; do for v in 0.10 1.1; do
  qemu-img create -q -f qcow2 -o preallocation=$p,compat=$v p$p$v.qcow2 5M; qio qcow2 p$p$v.qcow2 -c "write -P 7 1M 64k"
  probe p$p$v.qcow2; done; done
  qemu-img create -q -f raw -o preallocation=full pf.raw 3M; probe pf.raw
  qemu-img create -q -f raw -o preallocation=falloc pa.raw 3M; probe pa.raw; finish; }

c_qcow2_backing() {
  qemu-img create -q -f raw base.raw 8M; qio raw base.raw -c "write -P 1 0 8M"
  qemu-img create -q -f qcow2 -b base.raw -F raw o1.qcow2; qio qcow2 o1.qcow2 -c "write -P 2 1M 64k" -c "write -z 2M 64k"
  probe o1.qcow2
  qemu-img create -q -f qcow2 -b o1.qcow2 -F qcow2 o2.qcow2 12M; qio qcow2 o2.qcow2 -c "write -P 3 9M 4k"
  probe o2.qcow2
  mkdir -p sub; qemu-img create -q -f qcow2 -b ../o2.qcow2 -F qcow2 sub/o3.qcow2; probe sub/o3.qcow2
  qemu-img create -q -f vmdk vb.vmdk 8M; qio vmdk vb.vmdk -c "write -P 4 0 1M"
  qemu-img create -q -f qcow2 -b vb.vmdk -F vmdk ov.qcow2; probe ov.qcow2
  qemu-img create -q -f qcow qb.qcow 8M; qio qcow qb.qcow -c "write -P 5 64k 1M"
  qemu-img create -q -f qcow2 -b qb.qcow -F qcow oq.qcow2; qio qcow2 oq.qcow2 -c "write -P 6 100k 10k"; probe oq.qcow2
  qemu-img create -q -f qcow2 -o compat=0.10 -b base.raw -F raw v2o.qcow2; qio qcow2 v2o.qcow2 -c "write -z 0 64k"; probe v2o.qcow2
  qemu-img create -q -f qcow2 -b missing.qcow2 -F qcow2 miss.qcow2 1M; probe miss.qcow2
  qemu-img create -q -f qcow2 -b base.raw -F raw small.qcow2 4M; probe small.qcow2
  qemu-img create -q -f qcow2 -b small.qcow2 -F qcow2 big.qcow2 16M; probe big.qcow2
  qemu-img create -q -f qcow2 -u -b base.raw nofmt.qcow2 8M; probe nofmt.qcow2
  finish; }

c_qcow2_compressed() { qemu-img create -q -f raw src.raw 8M
  qemu-io -f raw -c "write -P 0x61 0 1M" -c "write -P 0x62 3M 100k" src.raw >/dev/null
  head -c 200000 /dev/urandom >rnd; dd if=rnd of=src.raw bs=1 seek=5000000 conv=notrunc 2>/dev/null
  for t in zlib zstd; do for cs in 4k 64k 1M; do
    qemu-img convert -c -O qcow2 -o compression_type=$t,cluster_size=$cs src.raw c$t$cs.qcow2; probe c$t$cs.qcow2; done; done
  qemu-img convert -c -O qcow2 -o compat=0.10 src.raw v2.qcow2; probe v2.qcow2
  qemu-img create -q -f qcow2 w.qcow2 8M; qio qcow2 w.qcow2 -c "write -c -P 9 0 128k" -c "write -P 8 64k 4k"; probe w.qcow2
  finish; }

c_qcow2_snapshot() {
  qemu-img create -q -f qcow2 s.qcow2 8M; qio qcow2 s.qcow2 -c "write -P 1 0 1M"
  qemu-img snapshot -c one s.qcow2; qio qcow2 s.qcow2 -c "write -P 2 512k 1M"; qemu-img snapshot -c two s.qcow2
  qio qcow2 s.qcow2 -c "write -P 3 0 4k"; probe s.qcow2
  qemu-img snapshot -d one s.qcow2; probe s.qcow2
  qemu-img snapshot -a two s.qcow2; probe s.qcow2
  qemu-img create -q -f qcow2 -o compat=0.10 s2.qcow2 4M; qemu-img snapshot -c a s2.qcow2; probe s2.qcow2
  finish; }

c_qcow2_extl2() { for cs in 16k 64k 2M; do
  qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=$cs e$cs.qcow2 16M
  qemu-io -c "write -P 1 0 3k" -c "write -P 2 1M 1k" -c "write -z 8k 2k" -c "write -P 3 5M 70k" e$cs.qcow2 >/dev/null
  probe e$cs.qcow2; done
  qemu-img create -q -f raw b.raw 4M; qio raw b.raw -c "write -P 9 0 4M"
  qemu-img create -q -f qcow2 -o extended_l2=on -b b.raw -F raw eb.qcow2; qio qcow2 eb.qcow2 -c "write -P 1 2k 2k" -c "write -z 40k 4k"
  probe eb.qcow2; finish; }

c_qcow2_datafile() {
  qemu-img create -q -f qcow2 -o data_file=d.data df.qcow2 8M; writes df.qcow2 qcow2; probe df.qcow2
  qemu-img create -q -f qcow2 -o data_file=r.data,data_file_raw=on dr.qcow2 8M; writes dr.qcow2 qcow2; probe dr.qcow2
  qemu-img create -q -f qcow2 -o data_file=p.data,data_file_raw=on,preallocation=metadata dp.qcow2 4M; probe dp.qcow2
  finish; }

c_qcow2_luks() {
  qemu-img create -q "${SECRET[@]}" -f qcow2 -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 l.qcow2 4M
  qemu-io "${SECRET[@]}" --image-opts -c "write -P 5 0 100k" -c "write -z 64k 64k" driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=s0 >/dev/null
  PROBE_OPTS=("${SECRET[@]}" --image-opts) PROBE_ARG=driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=s0 probe l.qcow2
  PROBE_OPTS=() probe l.qcow2
  qemu-img create -q "${SECRET[@]}" -f qcow2 -o encrypt.format=aes,encrypt.key-secret=s0 a.qcow2 4M
  qemu-io "${SECRET[@]}" --image-opts -c "write -P 5 0 100k" driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s0 >/dev/null 2>&1
  PROBE_OPTS=("${SECRET[@]}" --image-opts) PROBE_ARG=driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=s0 probe a.qcow2
  PROBE_OPTS=() probe a.qcow2
  finish; }

c_qcow2_bitmap() {
  qemu-img create -q -f qcow2 b.qcow2 16M; writes b.qcow2 qcow2
  qemu-img bitmap --add b.qcow2 bm0; qemu-img bitmap --add -g 1M b.qcow2 bm1; qemu-img bitmap --add --disable b.qcow2 bm2
  probe b.qcow2; finish; }

c_qcow() {
  qemu-img create -q -f qcow q.qcow 16M; writes q.qcow qcow; probe q.qcow
  qemu-img create -q -f raw base.raw 4M; qio raw base.raw -c "write -P 1 0 4M"
  qemu-img create -q -f qcow -b base.raw -F raw qb.qcow; qio qcow qb.qcow -c "write -P 2 1M 8k"; probe qb.qcow
  qemu-img create -q -f raw src.raw 4M; qio raw src.raw -c "write -P 3 0 1M"
  qemu-img convert -c -O qcow src.raw qc.qcow; probe qc.qcow
  qemu-img create -q "${SECRET[@]}" -f qcow -o encrypt.format=aes,encrypt.key-secret=s0 qe.qcow 4M
  qemu-io "${SECRET[@]}" --image-opts -c "write -P 5 0 100k" driver=qcow,file.filename=qe.qcow,encrypt.key-secret=s0 >/dev/null 2>&1
  PROBE_OPTS=("${SECRET[@]}" --image-opts) PROBE_ARG=driver=qcow,file.filename=qe.qcow,encrypt.key-secret=s0 probe qe.qcow
  PROBE_OPTS=() probe qe.qcow
  qemu-img create -q -f qcow2 -b qb.qcow -F qcow o.qcow2; probe o.qcow2
  finish; }

c_vmdk() {
  for sub in monolithicSparse monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat streamOptimized; do
    qemu-img create -q -f vmdk -o subformat=$sub v$sub.vmdk 8M
    [ $sub = streamOptimized ] || writes v$sub.vmdk vmdk
    probe v$sub.vmdk; done
  qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  qemu-img convert -O vmdk -o subformat=streamOptimized src.raw so.vmdk; probe so.vmdk
  for a in ide buslogic lsilogic legacyESX; do qemu-img create -q -f vmdk -o adapter_type=$a a$a.vmdk 4M; probe a$a.vmdk; done
  qemu-img create -q -f vmdk -o hwversion=6 h6.vmdk 4M; probe h6.vmdk
  qemu-img create -q -f vmdk -o compat6 c6.vmdk 4M; probe c6.vmdk
  qemu-img create -q -f vmdk -o zeroed_grain=on z.vmdk 8M; writes z.vmdk vmdk; probe z.vmdk
  qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse big.vmdk 5G; qio vmdk big.vmdk -c "write -P 1 2047M 2M"; probe big.vmdk
  qemu-img create -q -f vmdk base.vmdk 4M; qio vmdk base.vmdk -c "write -P 1 0 4M"
  qemu-img create -q -f vmdk -b base.vmdk -F vmdk ov.vmdk; qio vmdk ov.vmdk -c "write -P 2 64k 4k"; probe ov.vmdk
  finish; }

c_cloop() { head -c 3000000 /dev/urandom >rnd.bin; head -c 2000000 /dev/zero >>rnd.bin; printf 'tail' >>rnd.bin
  for bs in 512 4096 65536 131072; do create_compressed_fs -B $bs rnd.bin c$bs.cloop >/dev/null 2>&1; probe c$bs.cloop; done
  finish; }

c_vpc() {
  for sub in dynamic fixed; do for sz in 16M 100M 1000000k; do
    qemu-img create -q -f vpc -o subformat=$sub vp$sub$sz.vhd $sz
    [ $sz = 16M ] && writes vp$sub$sz.vhd vpc
    probe vp$sub$sz.vhd; done; done
  qemu-img create -q -f vpc -o force_size=on fs.vhd 100M; writes fs.vhd vpc; probe fs.vhd
  qemu-img create -q -f vpc -o subformat=fixed,force_size=on ffs.vhd 10M; probe ffs.vhd
  qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  qemu-img convert -O vpc src.raw cv.vhd; probe cv.vhd
  qemu-img convert -O vpc -o subformat=fixed src.raw cvf.vhd; probe cvf.vhd
  finish; }

c_vhdx() {
  for sub in dynamic fixed; do qemu-img create -q -f vhdx -o subformat=$sub x$sub.vhdx 16M; writes x$sub.vhdx vhdx; probe x$sub.vhdx; done
  for bs in 1M 8M 32M; do qemu-img create -q -f vhdx -o block_size=$bs b$bs.vhdx 64M; writes b$bs.vhdx vhdx; probe b$bs.vhdx; done
  qemu-img create -q -f vhdx -o log_size=2M,block_state_zero=off l.vhdx 16M; writes l.vhdx vhdx; probe l.vhdx
  qemu-img create -q -f vhdx odd.vhdx 1000000k; qio vhdx odd.vhdx -c "write -P 1 999M 1k"; probe odd.vhdx
  qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  qemu-img convert -O vhdx src.raw cv.vhdx; probe cv.vhdx
  finish; }

c_vdi() {
  qemu-img create -q -f vdi d.vdi 16M; writes d.vdi vdi; probe d.vdi
  qemu-img create -q -f vdi -o static=on s.vdi 8M; writes s.vdi vdi; probe s.vdi
  qemu-img create -q -f vdi odd.vdi 1000001k; qio vdi odd.vdi -c "write -P 1 999M 1k"; probe odd.vdi
  qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  qemu-img convert -O vdi src.raw cv.vdi; probe cv.vdi
  finish; }

c_qed() {
  for cs in 4k 64k 1M; do qemu-img create -q -f qed -o cluster_size=$cs c$cs.qed 16M; writes c$cs.qed qed; probe c$cs.qed; done
  qemu-img create -q -f qed -o table_size=16 t.qed 16M; writes t.qed qed; probe t.qed
  qemu-img create -q -f raw base.raw 8M; qio raw base.raw -c "write -P 1 0 8M"
  qemu-img create -q -f qed -b base.raw -F raw ob.qed; qio qed ob.qed -c "write -P 2 1M 64k" -c "write -z 2M 64k"; probe ob.qed
  qemu-img create -q -f qcow2 -b ob.qed -F qed oq.qcow2 12M; probe oq.qcow2
  qemu-img create -q -f qed dirty.qed 4M; qemu-io -f qed -c "write -P 0x55 0 128k" -c abort dirty.qed >/dev/null 2>&1; probe dirty.qed
  finish; }

c_parallels() {
  for cs in 64k 1M; do qemu-img create -q -f parallels -o cluster_size=$cs p$cs.parallels 16M; writes p$cs.parallels parallels; probe p$cs.parallels; done
  qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  qemu-img convert -O parallels src.raw cv.parallels; probe cv.parallels
  finish; }

c_luks() {
  qemu-img create -q "${SECRET[@]}" -f luks -o key-secret=s0,iter-time=10 l.luks 4M
  qemu-io "${SECRET[@]}" --image-opts -c "write -P 5 0 100k" -c "write -z 64k 64k" driver=luks,file.filename=l.luks,key-secret=s0 >/dev/null
  PROBE_OPTS=("${SECRET[@]}" --image-opts) PROBE_ARG=driver=luks,file.filename=l.luks,key-secret=s0 probe l.luks
  PROBE_OPTS=() probe l.luks
  qemu-img create -q "${SECRET[@]}" -f luks -o key-secret=s0,iter-time=10,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha1 c.luks 2M
  PROBE_OPTS=("${SECRET[@]}" --image-opts) PROBE_ARG=driver=luks,file.filename=c.luks,key-secret=s0 probe c.luks
  finish; }

c_bochs() {
  bximage -q -func=create -hd=10M -imgmode=growing bg.img >/dev/null 2>&1 && probe bg.img
  bximage -q -func=create -hd=10M -imgmode=flat bf.img >/dev/null 2>&1 && probe bf.img
  finish; }

c_convert_targets() { qemu-img create -q -f raw src.raw 8M; writes src.raw raw
  for f in qcow2 qcow vmdk vpc vhdx vdi qed parallels; do qemu-img convert -O $f src.raw x.$f 2>/dev/null && probe x.$f; done
  finish; }

run_case raw c_raw
run_case qcow2-cluster c_qcow2_cluster
run_case qcow2-refcount c_qcow2_refcount
run_case qcow2-lazy c_qcow2_lazy
run_case qcow2-prealloc c_qcow2_prealloc
run_case qcow2-backing c_qcow2_backing
run_case qcow2-compressed c_qcow2_compressed
run_case qcow2-snapshot c_qcow2_snapshot
run_case qcow2-extl2 c_qcow2_extl2
run_case qcow2-datafile c_qcow2_datafile
run_case qcow2-luks c_qcow2_luks
run_case qcow2-bitmap c_qcow2_bitmap
run_case qcow c_qcow
run_case vmdk c_vmdk
run_case cloop c_cloop
run_case vpc c_vpc
run_case vhdx c_vhdx
run_case vdi c_vdi
run_case qed c_qed
run_case parallels c_parallels
run_case luks c_luks
run_case bochs c_bochs
run_case convert-targets c_convert_targets

echo "$cases cases, $checks checks, $diffs differences (details: $REPORT)"
[ "$diffs" = 0 ]
