using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// An opened VMDK disk: the descriptor (embedded in a sparse file or standalone) and its extents in order.
/// </summary>
internal sealed partial class VmdkImage : IImage, ICompressedClusterWriter, IHostFileRuns
{
    private readonly HostFile _file;
    private readonly VmdkExtent[] _extents;
    private readonly long _descriptorOffset;
    private readonly Lock _writeLock = new();
    private IImage? _backing;
    private bool _cidUpdated;
    private volatile bool _cidChecked;

    public VmdkImage(HostFile file, IImageFormat format, IReadOnlyList<VmdkExtent> extents, long descriptorOffset,
        string createType, uint cid, uint parentCid, string? parentHint)
    {
        _file = file;
        Format = format;
        _extents = [.. extents];
        _descriptorOffset = descriptorOffset;
        CreateType = createType;
        Cid = cid;
        ParentCid = parentCid;
        BackingFileName = parentHint;
        long start = 0;
        foreach (var extent in _extents)
        {
            extent.Start = start;
            start += extent.Length;
        }
        Length = start;
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string CreateType { get; }
    public uint Cid { get; }
    public uint ParentCid { get; }
    public string? BackingFileName { get; }

    // qemu records "vmdk" as the parent's format: a parentFileNameHint always names a VMDK.
    public string? BackingFormat => BackingFileName == null ? null : "vmdk";
    public IImage? Backing => _backing;
    public IReadOnlyList<VmdkExtent> Extents => _extents;

    public void AttachBacking(IImage? backing) => _backing = backing;

    public long Length { get; }
    public bool IsReadOnly => _file.IsReadOnly;

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        int done = 0;
        int e = FindExtent(offset);
        while (done < buffer.Length)
        {
            long pos = offset + done;
            var extent = _extents[e];
            while (pos >= extent.Start + extent.Length) extent = _extents[++e];
            long rel = pos - extent.Start;
            int n = (int)Math.Min(buffer.Length - done, extent.Length - rel);
            var run = extent.Map(rel, n);
            var part = buffer.Slice(done, (int)run.Length);
            switch (run.Kind)
            {
                case VmdkRunKind.Data:
                    extent.File.Read(run.HostOffset, part);
                    break;
                case VmdkRunKind.Zero:
                    part.Clear();
                    break;
                case VmdkRunKind.Compressed:
                    extent.ReadCompressed(run, rel, part);
                    break;
                default:
                    ReadBelow(pos, part);
                    break;
            }
            done += part.Length;
        }
    }

    /// <summary>What an unallocated range reads: the parent's data (after qemu's CID check) or zeros.</summary>
    private void ReadBelow(long offset, Span<byte> buffer)
    {
        if (_backing == null)
        {
            buffer.Clear();
            return;
        }
        CheckParentCid();
        BackingChain.Read(_backing, offset, buffer);
    }

    /// <summary>
    /// qemu's vmdk_is_cid_valid: the parent's current CID (read from its descriptor now) must equal our
    /// parentCID, else reads that reach the parent fail with EINVAL. Checked once per open when it passes.
    /// </summary>
    private void CheckParentCid()
    {
        if (_cidChecked) return;
        if (_backing is not VmdkImage parent || parent.ReadCurrentCid() != ParentCid)
            throw new IOException("Invalid argument");
        _cidChecked = true;
    }

    /// <summary>The CID as stored on disk now (qemu re-reads it for the child's check).</summary>
    public uint? ReadCurrentCid()
    {
        var desc = new byte[VmdkDescriptor.Size];
        _file.Read(_descriptorOffset, desc);
        return VmdkDescriptor.ReadCid(VmdkDescriptor.Text(desc.AsSpan(0, desc.Length - 1)), parent: false);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            int done = 0;
            int e = FindExtent(offset);
            while (done < buffer.Length)
            {
                long pos = offset + done;
                var extent = _extents[e];
                while (pos >= extent.Start + extent.Length) extent = _extents[++e];
                int n = (int)Math.Min(buffer.Length - done, extent.Length - (pos - extent.Start));
                extent.Write(pos - extent.Start, buffer.Slice(done, n), ReadBelow);
                UpdateCidOnce();
                done += n;
            }
        }
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        lock (_writeLock)
        {
            for (long pos = offset; pos < offset + length;)
            {
                var extent = _extents[FindExtent(pos)];
                long n = Math.Min(offset + length - pos, extent.Length - (pos - extent.Start));
                extent.WriteZeroes(pos - extent.Start, n, mayDeallocate, _backing != null, ReadBelow);
                UpdateCidOnce();
                pos += n;
            }
        }
    }

    /// <summary>qemu stores a new random CID after the first successful write of every open, rewriting the descriptor in place.</summary>
    private void UpdateCidOnce()
    {
        if (_cidUpdated) return;
        var desc = new byte[VmdkDescriptor.Size];
        _file.Read(_descriptorOffset, desc);
        if (!VmdkDescriptor.ReplaceCid(desc, (uint)Random.Shared.NextInt64(0, 1L << 32)))
            throw new IOException("Invalid argument");
        // A standalone descriptor grows only to whole sectors (verified: 339 bytes become 512).
        int length = _descriptorOffset == 0
            ? (int)Math.Min(desc.Length, (_file.Length + 511) & ~511L)
            : desc.Length;
        _file.Write(_descriptorOffset, desc.AsSpan(0, length));
        _cidUpdated = true;
    }

    public HostRun? FindHostRun(long offset, long length)
    {
        var status = GetBlockStatus(offset, length);
        return HostRun.Of(status, _extents[FindExtent(offset)].File);
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        if (length == 0) return new BlockStatus(offset, 0, BlockState.Zero);
        var extent = _extents[FindExtent(offset)];
        long rel = offset - extent.Start;
        var run = extent.Map(rel, Math.Min(length, extent.Length - rel));
        return run.Kind switch
        {
            VmdkRunKind.Unallocated => new BlockStatus(offset, run.Length, BlockState.Unallocated),
            VmdkRunKind.Zero when extent.IsFlat =>
                new BlockStatus(offset, run.Length, BlockState.Data | BlockState.Zero, HostOffset: run.HostOffset, HostFile: extent.File.Path),
            VmdkRunKind.Zero => new BlockStatus(offset, run.Length, BlockState.Zero),
            VmdkRunKind.Compressed => new BlockStatus(offset, run.Length, BlockState.Data),
            _ => new BlockStatus(offset, run.Length, BlockState.Data, HostOffset: run.HostOffset, HostFile: extent.File.Path),
        };
    }

    private int FindExtent(long offset)
    {
        int lo = 0, hi = _extents.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (_extents[mid].Start <= offset) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    public void Flush()
    {
        lock (_writeLock)
        {
            foreach (var extent in _extents) extent.Flush();
            _file.Flush();
        }
    }

    public ImageInfo GetInfo()
    {
        long? actual = _file.AllocatedBytes;
        foreach (var extent in _extents)
            if (extent.OwnsFile) actual += extent.File.AllocatedBytes;

        // qemu's vmdk_co_get_info: no cluster size (and no info at all) when the extents differ in kind.
        bool uniform = _extents.All(e => e.IsFlat == _extents[0].IsFlat && e.IsCompressed == _extents[0].IsCompressed
            && (e.IsFlat || e.GrainSize == _extents[0].GrainSize));
        bool hasInfo = uniform && _extents.Length > 0;
        var list = new List<InfoNode>();
        foreach (var extent in _extents)
        {
            var item = new InfoObject()
                .Add("filename", extent.OwnsFile ? extent.File.Path : FileName)
                .Add("format", extent.Type ?? "")
                .Add("virtual-size", extent.Length);
            if (!extent.IsFlat) item.Add("cluster-size", extent.GrainSize);
            if (extent.IsCompressed) item.Add("compressed", true);
            list.Add(item);
        }
        var data = new InfoObject()
            .Add("cid", (long)Cid)
            .Add("parent-cid", (long)ParentCid)
            .Add("create-type", CreateType)
            .Add("extents", new InfoList(list));
        return new ImageInfo
        {
            Format = Format.Name,
            VirtualSize = Length,
            ActualSize = actual,
            ClusterSize = hasInfo && !_extents[0].IsFlat ? _extents[0].GrainSize : null,
            DirtyFlag = hasInfo ? false : null,
            FormatSpecificType = "vmdk",
            FormatSpecificData = data,
        };
    }

    public void Dispose()
    {
        try
        {
            if (!IsReadOnly)
                foreach (var extent in _extents)
                    if (extent is VmdkSparseExtent sparse) sparse.FinishWrites();
        }
        finally
        {
            foreach (var extent in _extents) extent.Dispose();
            _file.Dispose();
            _backing?.Dispose();
        }
    }
}
