using ImageTool.Crypto;
using System.Buffers;
using ImageTool.Codecs;
using ImageTool.Info;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Luks;

/// <summary>
/// An opened raw LUKS1 container: the guest disk is the file after the payload offset, each 512-byte sector encrypted with
/// its guest sector number as IV (qemu's block/crypto.c). Without a key it opens for metadata only (info), as qemu does.
/// </summary>
internal sealed class LuksImage : IImage, IResizable, IAmendable
{
    private const int Sector = LuksHeader.SectorSize;
    /// <summary>Bounce buffers of at most 1 MiB, as qemu's crypto driver uses.</summary>
    private const int MaxIo = 1 << 20;

    private readonly HostFile _file;
    private readonly LuksHeader _header;
    private readonly long _payload;
    private readonly IReadOnlyDictionary<string, string>? _secrets;
    private readonly Lock _writeLock = new();
    private LuksSectorCipher? _cipher;
    private byte[]? _masterKey;

    private LuksImage(HostFile file, IImageFormat format, LuksHeader header, IReadOnlyDictionary<string, string>? secrets)
    {
        _file = file;
        Format = format;
        _header = header;
        _payload = (long)header.PayloadOffsetSectors * Sector;
        _secrets = secrets;
        Length = PayloadLength(file.Length);
    }

    public static LuksImage Open(string path, IImageFormat format, OpenOptions options)
    {
        // qemu asks for the secret before it reads the header (unless it opens for metadata only).
        string? password = null;
        if (!options.MetadataOnly)
            password = SecretObjects.Lookup(options.Secrets, LuksFormat.KeySecret(options.DriverOptions));
        var file = HostFile.Open(path, options);
        try
        {
            var raw = new byte[LuksHeader.Size];
            if (file.ReadAvailable(0, raw) < raw.Length) throw new ImageFormatException("Volume is not in LUKS format");
            var header = LuksHeader.Read(raw);
            LuksVolume.Validate(header, 0, forUnlock: password != null);
            if ((long)header.PayloadOffsetSectors * Sector > file.Length)
                throw new ImageFormatException("Could not refresh total sector count: Input/output error");
            var image = new LuksImage(file, format, header, options.Secrets);
            if (password != null)
            {
                image._masterKey = LuksVolume.Unlock(header, (off, buf) => file.Read(off, buf), password);
                image._cipher = new LuksSectorCipher(LuksCipherSpec.FromHeader(header), image._masterKey);
            }
            return image;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length { get; private set; }
    public bool IsReadOnly => _file.IsReadOnly;

    /// <summary>qemu counts whole sectors: a file that ends inside a sector adds that sector (it reads zeros past EOF).</summary>
    private long PayloadLength(long fileLength) => (fileLength - _payload + Sector - 1) / Sector * Sector;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'luks'");
    }

    private LuksSectorCipher Cipher => _cipher ?? throw new ImageFormatException("Parameter 'key-secret' is required for cipher");

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        var cipher = Cipher;
        if (((offset | (long)buffer.Length) & (Sector - 1)) == 0)
        {
            _file.Read(_payload + offset, buffer);
            cipher.Decrypt(buffer, offset / Sector);
            return;
        }
        // Partial sectors: decrypt the whole sectors around the request in a bounce buffer.
        while (buffer.Length > 0)
        {
            long start = offset & ~(long)(Sector - 1);
            int head = (int)(offset - start);
            int n = Math.Min(buffer.Length, MaxIo - head);
            int total = (head + n + Sector - 1) & ~(Sector - 1);
            var tmp = ArrayPool<byte>.Shared.Rent(total);
            try
            {
                var span = tmp.AsSpan(0, total);
                _file.Read(_payload + start, span);
                cipher.Decrypt(span, start / Sector);
                span.Slice(head, n).CopyTo(buffer);
            }
            finally { ArrayPool<byte>.Shared.Return(tmp); }
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        var cipher = Cipher;
        var tmp = ArrayPool<byte>.Shared.Rent(MaxIo + Sector);
        try
        {
            while (buffer.Length > 0)
            {
                long start = offset & ~(long)(Sector - 1);
                int head = (int)(offset - start);
                int n = Math.Min(buffer.Length, MaxIo - head);
                int total = (head + n + Sector - 1) & ~(Sector - 1);
                var span = tmp.AsSpan(0, total);
                bool partial = head != 0 || total != n;
                // Read-modify-write of partial sectors must not interleave with another writer of the same sector.
                lock (_writeLock)
                {
                    if (partial)
                    {
                        Read(start, span[..Sector]);
                        if (total > Sector) Read(start + total - Sector, span[(total - Sector)..]);
                    }
                    buffer[..n].CopyTo(span[head..]);
                    cipher.Encrypt(span, start / Sector);
                    _file.Write(_payload + start, span);
                }
                buffer = buffer[n..];
                offset += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(tmp); }
    }

    /// <summary>qemu's crypto driver has no zero write: zeros are encrypted and written like any data.</summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        var zeros = ArrayPool<byte>.Shared.Rent(MaxIo);
        try
        {
            Array.Clear(zeros, 0, MaxIo);
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(MaxIo, length - done);
                Write(offset + done, zeros.AsSpan(0, n));
                done += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(zeros); }
    }

    // qemu's crypto driver reports no block status: everything is data, with no host offset (encrypted).
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        return new BlockStatus(offset, length, BlockState.Data);
    }

    public void Flush() => _file.Flush();

    /// <summary>The payload grows or shrinks with the file (qemu truncates the file to payload offset + size).</summary>
    public void Resize(long size, string preallocation)
    {
        _ = Cipher; // qemu opens the container with its key to resize it
        long old = _file.Length;
        long target = _payload + size;
        switch (preallocation)
        {
            case "off":
            case "metadata":
                _file.SetLength(target);
                break;
            case "falloc":
                _file.Allocate(old, target - old);
                _file.SetLength(target);
                break;
            case "full":
                _file.SetLength(target);
                Raw.RawFormat.ZeroFill(_file, old, target - old);
                break;
            default:
                throw new UnsupportedFeatureException($"Unsupported preallocation mode: {preallocation}");
        }
        Length = PayloadLength(_file.Length);
    }

    /// <summary>Key slots added or erased as <c>qemu-img amend -o state=...</c> does it (qemu's option names, no prefix).</summary>
    public void Amend(ImageOptions options, bool force, Action<long, long>? status = null)
    {
        var amendment = LuksKeySlotAmendment.Parse(options, "");
        _ = Cipher;
        lock (_writeLock)
        {
            amendment.Apply(_header, _masterKey!, force, id => SecretObjects.Lookup(_secrets, id),
                (off, buf) => _file.Read(off, buf), (off, buf) => _file.Write(off, buf), _file.Flush);
        }
    }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        DirtyFlag = false,
        Encrypted = true,
        FormatSpecificType = "luks",
        FormatSpecificData = LuksInfo.Describe(_header),
    };

    public void Dispose()
    {
        _cipher?.Dispose();
        _file.Dispose();
    }
}
