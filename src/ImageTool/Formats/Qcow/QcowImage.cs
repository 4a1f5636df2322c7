using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Codecs;
using ImageTool.Crypto;
using ImageTool.IO;
using ImageTool.Info;

namespace ImageTool.Formats.Qcow;

/// <summary>
/// An opened qcow (version 1) image: a two-level table maps guest clusters to host clusters (plain,
/// or raw-deflate compressed with an exact byte length); unmapped clusters read from the backing file.
/// New tables and clusters are appended at the end of the file, as qemu does.
/// </summary>
internal sealed partial class QcowImage : IImage, ICompressedClusterWriter
{
    private const ulong CompressedFlag = 1UL << 63;
    private const long L2CacheBudget = 64L << 20;

    private readonly HostFile _file;
    private readonly QcowHeader _header;
    private readonly ulong[] _l1;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _l2Bits;
    private readonly ulong _offsetMask;
    private readonly Dictionary<ulong, ulong[]> _l2Cache = [];
    private readonly Lock _cacheLock = new();
    private readonly Lock _writeLock = new();
    private readonly Lock _compressedLock = new();
    private readonly byte[] _compressedCache;
    private ulong _compressedCacheEntry;
    private readonly LegacyAesCipher? _cipher;
    private readonly HashSet<ulong> _dirtyL2 = [];
    private long _end;
    private IImage? _backing;

    private QcowImage(HostFile file, IImageFormat format, QcowHeader header, ulong[] l1, string? backingName, LegacyAesCipher? cipher)
    {
        _file = file;
        Format = format;
        _header = header;
        _l1 = l1;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _l2Bits = header.L2Bits;
        _offsetMask = (1UL << (63 - _clusterBits)) - 1;
        _compressedCache = new byte[_clusterSize];
        BackingFileName = backingName;
        _cipher = cipher;
        _end = file.Length;
    }

    public static QcowImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        Span<byte> head = stackalloc byte[QcowHeader.Size];
        file.Read(0, head);
        var header = QcowHeader.Read(head);
        header.Validate(file.Length);
        var raw = new byte[header.L1Entries * 8];
        file.Read((long)header.L1TableOffset, raw);
        var l1 = new ulong[header.L1Entries];
        for (int i = 0; i < l1.Length; i++) l1[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        string? backing = null;
        if (header.BackingFileOffset != 0 && header.BackingFileSize > 0)
        {
            var name = new byte[header.BackingFileSize];
            file.Read((long)header.BackingFileOffset, name);
            backing = CString.DecodeName(name);
        }
        LegacyAesCipher? cipher = null;
        if (header.CryptMethod == QcowHeader.CryptAes)
        {
            string? format2 = options.DriverOptions?.GetString("encrypt.format");
            if (format2 != null && format2 != "aes")
                throw new ImageFormatException($"Header reported 'aes' encryption format but options specify '{format2}'");
            if (options.DriverOptions?.GetString("encrypt.key-secret") is { } id)
                cipher = LegacyAesCipher.FromPassword(QcowFormat.Secret(options.Secrets, id));
        }
        return new QcowImage(file, format, header, l1, backing, cipher);
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName { get; }

    /// <summary>qcow records no backing format; qemu probes the backing file.</summary>
    public string? BackingFormat => null;

    public IImage? Backing => _backing;

    // qemu: total_sectors = size / 512.
    public long Length => (long)(_header.VirtualSize / 512 * 512);
    public bool IsReadOnly => _file.IsReadOnly;
    public int ClusterSize => _clusterSize;
    private bool Encrypted => _header.CryptMethod != QcowHeader.CryptNone;

    public void AttachBacking(IImage? backing)
    {
        _backing?.Dispose();
        _backing = backing;
    }

    private LegacyAesCipher Cipher =>
        _cipher ?? throw new ImageFormatException("Parameter 'encrypt.key-secret' is required for cipher");

    private bool IsCompressed(ulong entry) => (entry & CompressedFlag) != 0;

    /// <summary>The L2 entry of a guest cluster (0 when its L1 entry is 0).</summary>
    private ulong Entry(long cluster)
    {
        ulong l2Offset = _l1[cluster >> _l2Bits];
        return l2Offset == 0 ? 0 : L2(l2Offset)[cluster & ((1L << _l2Bits) - 1)];
    }

    private ulong[] L2(ulong l2Offset)
    {
        lock (_cacheLock)
        {
            if (_l2Cache.TryGetValue(l2Offset, out var cached)) return cached;
        }
        var raw = ArrayPool<byte>.Shared.Rent(_header.L2Entries * 8);
        try
        {
            _file.Read((long)l2Offset, raw.AsSpan(0, _header.L2Entries * 8));
            var table = new ulong[_header.L2Entries];
            for (int i = 0; i < table.Length; i++) table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            lock (_cacheLock)
            {
                if (_l2Cache.TryGetValue(l2Offset, out var raced)) return raced;
                if ((long)_l2Cache.Count * table.Length * 8 > L2CacheBudget)
                {
                    foreach (var key in _l2Cache.Keys.Where(k => !_dirtyL2.Contains(k)).ToList()) _l2Cache.Remove(key);
                }
                _l2Cache[l2Offset] = table;
                return table;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        if (Encrypted && ((offset | (long)buffer.Length) & 511) != 0)
        {
            ReadAligned(offset, buffer);
            return;
        }
        while (buffer.Length > 0)
        {
            long cluster = offset >> _clusterBits;
            int inCluster = (int)(offset & (_clusterSize - 1));
            ulong entry = Entry(cluster);
            int n = Math.Min(buffer.Length, _clusterSize - inCluster);
            if (entry == 0)
            {
                for (long next = cluster + 1; n < buffer.Length && Entry(next) == 0; next++)
                    n = Math.Min(buffer.Length, n + _clusterSize);
                BackingChain.Read(_backing, offset, buffer[..n]);
            }
            else if (IsCompressed(entry))
            {
                ReadCompressed(entry, inCluster, buffer[..n]);
            }
            else
            {
                // Clusters appended one after another are read with one call.
                for (long next = cluster + 1; n < buffer.Length; next++)
                {
                    if (Entry(next) != entry + (ulong)(next - cluster) * (ulong)_clusterSize) break;
                    n = Math.Min(buffer.Length, n + _clusterSize);
                }
                var part = buffer[..n];
                _file.Read((long)entry + inCluster, part);
                if (Encrypted) Cipher.Decrypt(part, part, offset / 512);
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    private void ReadAligned(long offset, Span<byte> buffer)
    {
        long start = offset & ~511L;
        long end = Math.Min(Length, (offset + buffer.Length + 511) & ~511L);
        var temp = ArrayPool<byte>.Shared.Rent((int)(end - start));
        try
        {
            Read(start, temp.AsSpan(0, (int)(end - start)));
            temp.AsSpan((int)(offset - start), buffer.Length).CopyTo(buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    private void ReadCompressed(ulong entry, int inCluster, Span<byte> output)
    {
        if (output.Length == _clusterSize)
        {
            Decompress(entry, output);
            return;
        }
        lock (_compressedLock)
        {
            if (_compressedCacheEntry != entry)
            {
                _compressedCacheEntry = 0;
                Decompress(entry, _compressedCache);
                _compressedCacheEntry = entry;
            }
            _compressedCache.AsSpan(inCluster, output.Length).CopyTo(output);
        }
    }

    private (long Offset, int Length) CompressedLocation(ulong entry) =>
        ((long)(entry & _offsetMask), (int)((entry >> (63 - _clusterBits)) & (ulong)(_clusterSize - 1)));

    private void Decompress(ulong entry, Span<byte> output)
    {
        var (offset, length) = CompressedLocation(entry);
        var compressed = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            _file.Read(offset, compressed.AsSpan(0, length));
            if (!RawInflater.TryDecompress(compressed.AsSpan(0, length), output))
                throw new ImageCorruptException($"Could not decompress the qcow cluster stored at offset {offset} (+{length})");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long cluster = offset >> _clusterBits;
        long end = offset + length;
        long runEnd = Math.Min(end, (cluster + 1) << _clusterBits);
        ulong entry = Entry(cluster);
        if (entry == 0)
        {
            while (runEnd < end)
            {
                long next = runEnd >> _clusterBits;
                if (_l1[next >> _l2Bits] == 0) runEnd = Math.Min(end, ((next >> _l2Bits) + 1) << (_l2Bits + _clusterBits));
                else if (Entry(next) == 0) runEnd = Math.Min(end, (next + 1) << _clusterBits);
                else break;
            }
            return new BlockStatus(offset, runEnd - offset, BlockState.Unallocated);
        }
        if (IsCompressed(entry) || Encrypted)
        {
            while (runEnd < end && Entry(runEnd >> _clusterBits) is var e && e != 0 && (IsCompressed(e) || Encrypted))
                runEnd = Math.Min(end, runEnd + _clusterSize);
            return new BlockStatus(offset, runEnd - offset, BlockState.Data);
        }
        while (runEnd < end && Entry(runEnd >> _clusterBits) == entry + (ulong)((runEnd >> _clusterBits) - cluster) * (ulong)_clusterSize)
            runEnd = Math.Min(end, runEnd + _clusterSize);
        long host = (long)entry + (offset & (_clusterSize - 1));
        return new BlockStatus(offset, runEnd - offset, BlockState.Data, HostOffset: host, HostFile: _file.Path);
    }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        ClusterSize = _clusterSize,
        DirtyFlag = false,
        Encrypted = Encrypted,
    };

    public void Flush()
    {
        if (IsReadOnly) return;
        lock (_writeLock)
        {
            WriteDirtyTables();
            _file.Flush();
        }
    }

    public void Dispose()
    {
        try
        {
            if (!IsReadOnly)
            {
                lock (_writeLock) WriteDirtyTables();
            }
        }
        finally
        {
            _backing?.Dispose();
            _cipher?.Dispose();
            _file.Dispose();
        }
    }
}
