using ImageTool.Formats.Raw;
using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>A FLAT or VMFS extent: the disk bytes sit in the file from a fixed offset on.</summary>
internal sealed class VmdkFlatExtent : VmdkExtent
{
    private readonly long _dataStart;

    public VmdkFlatExtent(HostFile file, long sectors, string type, long startSector)
        : base(file, ownsFile: true, sectors, type)
    {
        _dataStart = startSector * 512;
    }

    public override bool IsFlat => true;

    // qemu answers DATA with BDRV_BLOCK_RECURSE, so holes of the file show as zeros (data and zero).
    public override VmdkRun Map(long offset, long length)
    {
        long host = _dataStart + offset;
        long fileLength = File.Length;
        if (host >= fileLength) return new VmdkRun(VmdkRunKind.Zero, length, host);
        long? data = File.NextData(host);
        if (data == null) return new VmdkRun(VmdkRunKind.Zero, length, host);
        if (data > host) return new VmdkRun(VmdkRunKind.Zero, Math.Min(data.Value - host, length), host);
        long hole = File.NextHole(host);
        return new VmdkRun(VmdkRunKind.Data, Math.Min(hole - host, length), host);
    }

    public override void Write(long offset, ReadOnlySpan<byte> data, FillBelow fillBelow) =>
        File.Write(_dataStart + offset, data);

    public override void WriteZeroes(long offset, long length, bool mayDeallocate, bool hasBacking, FillBelow fillBelow)
    {
        long host = _dataStart + offset;
        long end = Math.Min(host + length, File.Length);
        if (end <= host) return;
        if (mayDeallocate && File.PunchHole(host, end - host)) return;
        RawFormat.ZeroFill(File, host, end - host);
    }
}
