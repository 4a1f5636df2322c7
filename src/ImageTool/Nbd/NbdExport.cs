namespace ImageTool.Nbd;

/// <summary>What a server offers under one name: the device and how clients may use it.</summary>
/// <param name="Name">The export name clients ask for (qemu-nbd -x; "" by default).</param>
/// <param name="Description">Sent with NBD_INFO_DESCRIPTION and OPT_LIST (qemu-nbd -D), or null.</param>
/// <param name="Device">The image (with its backing chain) served.</param>
/// <param name="ReadOnly">Writes are refused (qemu-nbd -r).</param>
/// <param name="Discard">TRIM deallocates (qemu-nbd --discard=unmap); otherwise TRIM succeeds and does nothing.</param>
/// <param name="AllocationDepth">The qemu:allocation-depth context is offered (qemu-nbd -A).</param>
/// <param name="MultiConn">NBD_FLAG_CAN_MULTI_CONN: qemu-nbd offers it when more than one client may connect (-e).</param>
internal sealed record NbdExport(string Name, string? Description, IBlockDevice Device, bool ReadOnly, bool Discard, bool AllocationDepth, bool MultiConn)
{
    /// <summary>Persistent bitmaps offered as qemu:dirty-bitmap:NAME meta contexts (qemu-nbd -B), in the order they are listed.</summary>
    public IReadOnlyList<(string Name, BitmapContents Contents)> DirtyBitmaps { get; init; } = [];

    /// <summary>The meta context name of bitmap <paramref name="index"/> of <see cref="DirtyBitmaps"/>.</summary>
    public string DirtyBitmapContext(int index) => NbdMetaContexts.DirtyBitmapPrefix + DirtyBitmaps[index].Name;

    /// <summary>Where the export starts in the device (qemu-nbd -o): export offset 0 is this device offset.</summary>
    public long Offset { get; init; }

    /// <summary>The export's size: the device from <see cref="Offset"/> on.</summary>
    public long Size => Device.Length - Offset;

    /// <summary>The transmission flags qemu-nbd 7.2 sends for such an export (nbdinfo shows the same can_* set).</summary>
    public NbdTransmissionFlags Flags(bool structured)
    {
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
            | NbdTransmissionFlags.SendCache;
        // Every connection shares the one opened device, so a flush on one covers the writes of all.
        if (MultiConn) flags |= NbdTransmissionFlags.CanMultiConn;
        if (structured) flags |= NbdTransmissionFlags.SendDf;
        if (ReadOnly) flags |= NbdTransmissionFlags.ReadOnly;
        else flags |= NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.SendFastZero;
        return flags;
    }

    /// <summary>qemu-nbd's constraints over a file: any alignment, 4 KiB preferred, 32 MiB per request.</summary>
    public const uint MinBlock = 1, PreferredBlock = 4096, MaxBlock = NbdConstants.MaxPayload;
}
