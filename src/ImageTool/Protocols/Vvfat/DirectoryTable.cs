namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// Every directory entry of the generated file system in one array of 32-byte records, as qemu keeps them: the
/// root directory first, then each subdirectory from a cluster boundary on.
/// </summary>
internal sealed class DirectoryTable
{
    public const int EntrySize = 32;
    public const byte LongNameAttributes = 0x0F;

    private byte[] _bytes = new byte[64 * EntrySize];

    public int Count { get; private set; }

    public Span<byte> this[int index] => _bytes.AsSpan(index * EntrySize, EntrySize);

    public ReadOnlySpan<byte> Bytes => _bytes.AsSpan(0, Count * EntrySize);

    /// <summary>Appends a zeroed entry and returns its index.</summary>
    public int Add()
    {
        if ((Count + 1) * EntrySize > _bytes.Length) Array.Resize(ref _bytes, _bytes.Length * 2);
        _bytes.AsSpan(Count * EntrySize, EntrySize).Clear();
        return Count++;
    }

    public bool IsLongName(int index) => this[index][11] == LongNameAttributes;
}
