namespace ImageTool.Formats.Vpc;

/// <summary>VHD stores its UUIDs as 16 plain bytes (RFC 4122 order, as qemu's uuid_generate writes them).</summary>
internal static class VpcGuid
{
    public static Guid Read(ReadOnlySpan<byte> b) => new(b[..16], bigEndian: true);

    public static void Write(Span<byte> b, Guid guid) => guid.TryWriteBytes(b[..16], bigEndian: true, out _);
}
