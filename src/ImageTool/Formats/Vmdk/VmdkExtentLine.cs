namespace ImageTool.Formats.Vmdk;

/// <summary>One extent line of a descriptor: <c>RW 204800 FLAT "x-flat.vmdk" 0</c>.</summary>
/// <param name="Sectors">Extent size in 512-byte sectors.</param>
/// <param name="Type">FLAT, SPARSE, VMFS, VMFSSPARSE or SESPARSE (other types are dropped while parsing).</param>
/// <param name="FileName">The file as written, relative to the descriptor's directory unless absolute.</param>
/// <param name="FlatOffset">Start of the extent's data in its file, in sectors (flat types only).</param>
internal sealed record VmdkExtentLine(long Sectors, string Type, string FileName, long FlatOffset)
{
    public bool IsFlat => Type is "FLAT" or "VMFS";
}
