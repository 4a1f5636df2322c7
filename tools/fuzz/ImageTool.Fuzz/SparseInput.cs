using System.Buffers.Binary;

/// <summary>
/// Fuzz inputs are files, except that images whose metadata lies megabytes apart (vhdx, vpc, vdi, luks) would be
/// too large for afl: those seeds are packed by run.sh as "IMGSPARSE" followed by records of a 64-bit file offset,
/// a 16-bit length and that many bytes. Holes read as zeros, as in the sparse image the seed came from.
/// </summary>
internal static class SparseInput
{
    private static readonly byte[] Magic = "IMGSPARSE"u8.ToArray();
    private const long MaxFileSize = 64L << 20;

    public static void WriteFile(Stream input, string path)
    {
        var bytes = new MemoryStream();
        input.CopyTo(bytes);
        var data = bytes.GetBuffer().AsSpan(0, (int)bytes.Length);
        using var file = File.Create(path);
        if (!data.StartsWith(Magic))
        {
            file.Write(data);
            return;
        }
        data = data[Magic.Length..];
        while (data.Length >= 10)
        {
            long offset = (long)(BinaryPrimitives.ReadUInt64LittleEndian(data) % MaxFileSize);
            int length = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(data[8..]), data.Length - 10);
            file.Position = offset;
            file.Write(data.Slice(10, length));
            data = data[(10 + length)..];
        }
    }
}
