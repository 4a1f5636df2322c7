namespace ImageTool.Nbd;

/// <summary>
/// What a server tells about one of its exports without entering transmission (qemu-nbd -L): the name and
/// description from OPT_LIST, size, flags and block sizes from OPT_INFO (null when the server did not answer it)
/// and the meta contexts OPT_LIST_META_CONTEXT names.
/// </summary>
internal sealed record NbdExportListing(string Name, string Description)
{
    public long? Size { get; init; }
    public NbdTransmissionFlags Flags { get; init; }
    public (uint Minimum, uint Preferred, uint Maximum)? BlockSizes { get; init; }
    public IReadOnlyList<string> Contexts { get; init; } = [];
}
