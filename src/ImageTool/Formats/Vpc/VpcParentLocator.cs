using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Formats.Vpc;

/// <summary>One of the eight parent locator entries of a differencing disk's dynamic header (24 bytes).</summary>
internal readonly record struct VpcParentLocator(uint PlatformCode, uint DataSpace, uint DataLength, ulong DataOffset)
{
    public const int Size = 24;

    /// <summary>Windows path relative to the child, UTF-16LE.</summary>
    public const uint W2ru = 0x57327275;
    /// <summary>Absolute Windows path, UTF-16LE.</summary>
    public const uint W2ku = 0x57326B75;
    /// <summary>Mac OS X file URL, UTF-8.</summary>
    public const uint MacX = 0x4D616358;

    public static VpcParentLocator Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32BigEndian(b), BinaryPrimitives.ReadUInt32BigEndian(b[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[8..]), BinaryPrimitives.ReadUInt64BigEndian(b[16..]));

    public bool IsPath => PlatformCode is W2ru or W2ku or MacX;

    /// <summary>The stored path as a name for this host: backslashes to slashes, ".\" and file:// dropped.</summary>
    public string Decode(ReadOnlySpan<byte> data)
    {
        string text = PlatformCode == MacX ? Encoding.UTF8.GetString(data) : Encoding.Unicode.GetString(data);
        text = text.TrimEnd('\0');
        if (PlatformCode == MacX)
        {
            if (text.StartsWith("file://", StringComparison.Ordinal)) text = text["file://".Length..];
            return text;
        }
        text = text.Replace('\\', '/');
        if (text.StartsWith("./", StringComparison.Ordinal)) text = text[2..];
        // A drive letter path ("C:/dir/p.vhd") names nothing on this host; its file name may sit beside the child.
        if (text.Length > 2 && text[1] == ':') text = text[2..];
        return text;
    }
}
