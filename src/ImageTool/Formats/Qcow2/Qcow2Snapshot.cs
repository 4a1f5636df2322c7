using ImageTool.Info;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// One internal snapshot table entry (FORMATS.md §6.1). <see cref="UnknownExtraData"/> keeps extra bytes beyond the
/// 24 qemu knows so a rewrite preserves them; VM state lives in the snapshot's own clusters and is never touched.
/// </summary>
internal sealed record Qcow2Snapshot
{
    public required long L1TableOffset { get; init; }
    public required int L1Size { get; init; }
    public required string Id { get; init; }
    public required string Name { get; init; }
    public uint DateSec { get; init; }
    public uint DateNsec { get; init; }
    public ulong VmClockNsec { get; init; }
    public ulong VmStateSize { get; init; }
    public required long DiskSize { get; init; }
    /// <summary>-1 (all ones) when the entry has no icount field, as in qemu.</summary>
    public ulong Icount { get; init; }
    public byte[] UnknownExtraData { get; init; } = [];

    public SnapshotInfo ToInfo() => new(
        Id, Name, (long)VmStateSize, DateSec, DateNsec, (long)VmClockNsec, Icount == ulong.MaxValue ? null : (long)Icount);
}
