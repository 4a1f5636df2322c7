using System.Buffers.Binary;
using System.IO.Compression;

namespace ImageTool.Kvm.Boot;

/// <summary>
/// The compressed vmlinux inside a bzImage (setup header payload_offset/payload_length, boot protocol 2.08+),
/// decompressed on the host when it is LZ4 (Debian's kernels) or gzip. Loading that ELF image directly skips
/// the kernel's own decompressor, which on hosts that emulate guest kernel code (kvm_pvm) takes a minute or
/// more; the kernel then runs at its link address, as with nokaslr. Other formats stay with the guest.
/// </summary>
internal static class KernelPayload
{
    /// <summary>The vmlinux ELF image, or null when the payload is absent, in another format or not ELF.</summary>
    public static byte[]? TryDecompress(byte[] kernel, int protectedModeStart, long limit)
    {
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(kernel.AsSpan(0x206));
        if (version < 0x208 || kernel.Length < 0x250) return null;
        long offset = protectedModeStart + (long)BinaryPrimitives.ReadUInt32LittleEndian(kernel.AsSpan(0x248));
        long length = BinaryPrimitives.ReadUInt32LittleEndian(kernel.AsSpan(0x24C));
        if (length < 4 || offset + length > kernel.Length) return null;
        var payload = kernel.AsSpan((int)offset, (int)length);
        try
        {
            byte[]? image = Lz4Legacy.IsLz4Legacy(payload) ? Lz4Legacy.Decompress(payload, (int)Math.Min(limit, int.MaxValue))
                : payload[0] == 0x1F && payload[1] == 0x8B ? Gunzip(payload, limit) : null;
            return image != null && ElfKernel.IsElf64(image) ? image : null;
        }
        catch (InvalidDataException)
        {
            return null; // the guest's decompressor will report it
        }
    }

    // gzip member (RFC 1952): a 10-byte header with optional fields, then raw deflate; the kernel's appended
    // size after it is ignored.
    private static byte[]? Gunzip(ReadOnlySpan<byte> data, long limit)
    {
        if (data.Length < 18 || data[2] != 8) return null;
        byte flags = data[3];
        int at = 10;
        if ((flags & 4) != 0) at += 2 + BinaryPrimitives.ReadUInt16LittleEndian(data[at..]);
        if ((flags & 8) != 0) at = data[at..].IndexOf((byte)0) + at + 1;
        if ((flags & 16) != 0) at = data[at..].IndexOf((byte)0) + at + 1;
        if ((flags & 2) != 0) at += 2;
        if (at <= 0 || at >= data.Length) return null;
        using var input = new MemoryStream(data[at..].ToArray());
        using var inflate = new DeflateStream(input, CompressionMode.Decompress);
        var output = new MemoryStream();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = inflate.Read(buffer)) > 0)
        {
            if (output.Length + n > limit) throw new InvalidDataException("gzip data larger than expected");
            output.Write(buffer, 0, n);
        }
        return output.ToArray();
    }
}
