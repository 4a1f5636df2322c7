using System.Buffers.Binary;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Cloop;

/// <summary>
/// cloop V2.0 compressed loop images. qemu reads them only; we also write them (create and convert
/// targets), in the layout cloop-utils' create_compressed_fs produces.
/// </summary>
internal sealed class CloopFormat : IImageFormat
{
    public static readonly CloopFormat Instance = new();

    public const int DefaultBlockSize = 64 << 10;

    public string Name => "cloop";
    public int ProbeSize => CloopHeader.ProbeMagic.Length;

    // qemu's cloop_probe: the first three preamble lines exactly, and a low score since it is only a shell script.
    public int Probe(ReadOnlySpan<byte> header) => header.StartsWith(CloopHeader.ProbeMagic) ? 2 : 0;

    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("block_size", OptionType.Size, "Uncompressed bytes per block (multiple of 512, at most 64 MiB)", Default: "65536"),
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options.ReadOnly);
        try
        {
            var image = CloopImage.Open(file, this);
            if (options.ReadOnly) return image;
            // Reopened for writing, the image is rewritten from its start with the same geometry.
            return new CloopWriter(file, this, new CloopHeader((uint)image.BlockSize, (uint)(image.Length / image.BlockSize)));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes an image of zero blocks; opening it writable then fills it sequentially (as convert does).</summary>
    public void Create(string path, CreateParameters parameters)
    {
        long blockSize = parameters.Options.GetSize("block_size") ?? DefaultBlockSize;
        if (blockSize <= 0 || blockSize % 512 != 0 || blockSize > CloopHeader.MaxBlockSize)
            throw new ImageFormatException($"block_size {blockSize} must be a non-zero multiple of 512 and 64 MB or less");
        long blocks = (parameters.Size + blockSize - 1) / blockSize;
        if (blocks > CloopHeader.MaxBlockCount || (blocks + 1) * 8 > CloopHeader.MaxIndexBytes)
            throw new ImageFormatException("image requires too many offsets, try increasing block size");
        var header = new CloopHeader((uint)blockSize, (uint)blocks);
        byte[] zero = CloopWriter.CompressZeroBlock((int)blockSize);
        using var file = HostFile.Create(path);
        var head = new byte[header.DataOffset];
        header.Write(head);
        for (long i = 0; i <= blocks; i++)
            BinaryPrimitives.WriteUInt64BigEndian(head.AsSpan((int)(CloopHeader.IndexOffset + i * 8)), (ulong)(header.DataOffset + i * zero.Length));
        file.Write(0, head);
        var run = new byte[zero.Length * (int)Math.Min(Math.Max(blocks, 1), 1024)];
        for (int i = 0; i < run.Length; i += zero.Length) zero.CopyTo(run, i);
        for (long done = 0; done < blocks;)
        {
            int n = (int)Math.Min(blocks - done, run.Length / zero.Length);
            file.Write(header.DataOffset + done * zero.Length, run.AsSpan(0, n * zero.Length));
            done += n;
        }
        file.Flush();
    }
}
