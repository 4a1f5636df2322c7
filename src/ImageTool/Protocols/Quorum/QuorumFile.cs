using ImageTool.Formats;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Protocols.Quorum;

/// <summary>
/// qemu's quorum driver as the bytes below a format (or as the disk itself): every write goes to all children and
/// succeeds when at least vote-threshold of them took it; a read asks every child and returns the version that
/// the most children agree on, if that many reach the threshold (read-pattern=fifo: the first child that answers).
/// With rewrite-corrupted, children that disagreed with the winner get the winner's bytes.
/// </summary>
internal sealed class QuorumFile : IRemoteFile
{
    private readonly IImage[] _children;
    private readonly QuorumSettings _settings;

    private QuorumFile(string name, IImage[] children, QuorumSettings settings, bool readOnly)
    {
        Name = name;
        _children = children;
        _settings = settings;
        IsReadOnly = readOnly;
    }

    public string Name { get; }
    public bool IsReadOnly { get; }

    // qemu's quorum_getlength: the first child's length; children of other lengths make it fail.
    public long Length => _children[0].Length;

    /// <summary>Opens the node named by <paramref name="name"/> (<see cref="QuorumName"/>) and each of its children.</summary>
    public static QuorumFile Open(string name, bool readOnly)
    {
        var options = JsonFileName.Parse(name);
        int count = 0;
        while (options.Values.Keys.Any(k => k == $"children.{count}" || k.StartsWith($"children.{count}.", StringComparison.Ordinal))) count++;
        var settings = QuorumSettings.Read(options, count);
        var children = new List<IImage>();
        try
        {
            for (int i = 0; i < count; i++) children.Add(OpenChild(options, $"children.{i}", readOnly));
            long length = children[0].Length;
            if (children.Any(c => c.Length != length)) throw new ImageFormatException("Input/output error");
            return new QuorumFile(name, [.. children], settings, readOnly);
        }
        catch
        {
            foreach (var child in children) child.Dispose();
            throw;
        }
    }

    private static IImage OpenChild(ImageOptions all, string key, bool readOnly)
    {
        if (all.GetString(key) is { } reference)
            throw new ImageFormatException($"Cannot find device='' nor node-name='{reference}'");
        var options = new ImageOptions();
        foreach (var (k, v) in all.Values)
            if (k.StartsWith(key + ".", StringComparison.Ordinal)) options.Set(k[(key.Length + 1)..], v);
        string path = FormatRegistry.ImageOptsPath(options) ?? throw new ImageFormatException("A block device must be specified for \"file\"");
        return FormatRegistry.Open(path, new OpenOptions
        {
            ReadOnly = readOnly,
            Format = options.GetString("driver"),
            DriverOptions = options,
        });
    }

    public void Read(long offset, Span<byte> buffer)
    {
        if (_settings.Fifo)
        {
            ReadFirst(offset, buffer);
            return;
        }
        var versions = new byte[_children.Length][];
        var errors = new List<Exception>();
        for (int i = 0; i < _children.Length; i++)
        {
            var data = new byte[buffer.Length];
            try
            {
                _children[i].Read(offset, data);
                versions[i] = data;
            }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                errors.Add(e);
            }
        }
        if (_children.Length - errors.Count < _settings.Threshold) throw MostCommon(errors);
        byte[] winner = Winner(versions, out int votes);
        if (votes < _settings.Threshold) throw new IOException("Input/output error");
        winner.CopyTo(buffer);
        if (_settings.RewriteCorrupted && !IsReadOnly) Rewrite(offset, versions, winner);
    }

    private void ReadFirst(long offset, Span<byte> buffer)
    {
        Exception? last = null;
        foreach (var child in _children)
        {
            try
            {
                child.Read(offset, buffer);
                return;
            }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                last = e;
            }
        }
        throw last!;
    }

    /// <summary>
    /// The version most children returned and how many returned it. Among versions with as many votes, the one
    /// first returned by the highest-numbered child wins, as in qemu (its vote list puts new versions at the head).
    /// </summary>
    private static byte[] Winner(byte[]?[] versions, out int votes)
    {
        byte[]? best = null;
        votes = 0;
        for (int i = 0; i < versions.Length; i++)
        {
            if (versions[i] is not { } candidate || SeenBefore(versions, i, candidate)) continue;
            int count = versions.Count(v => v != null && v.AsSpan().SequenceEqual(candidate));
            if (count >= votes)
            {
                best = candidate;
                votes = count;
            }
        }
        return best!;
    }

    private static bool SeenBefore(byte[]?[] versions, int index, byte[] candidate) =>
        versions.Take(index).Any(v => v != null && v.AsSpan().SequenceEqual(candidate));

    private void Rewrite(long offset, byte[]?[] versions, byte[] winner)
    {
        for (int i = 0; i < _children.Length; i++)
        {
            if (versions[i] is not { } version || version.AsSpan().SequenceEqual(winner)) continue;
            try { _children[i].Write(offset, winner); }
            catch (Exception e) when (e is IOException or ImageFormatException) { }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        var errors = new List<Exception>();
        foreach (var child in _children)
        {
            try { child.Write(offset, buffer); }
            catch (Exception e) when (e is IOException or ImageFormatException) { errors.Add(e); }
        }
        if (_children.Length - errors.Count < _settings.Threshold) throw MostCommon(errors);
    }

    public void Flush()
    {
        var errors = new List<Exception>();
        foreach (var child in _children)
        {
            try { child.Flush(); }
            catch (Exception e) when (e is IOException or ImageFormatException) { errors.Add(e); }
        }
        if (_children.Length - errors.Count < _settings.Threshold) throw MostCommon(errors);
    }

    // qemu's quorum_vote_error: the error the most children failed with.
    private static IOException MostCommon(List<Exception> errors)
    {
        var error = errors.GroupBy(e => e.Message).OrderByDescending(g => g.Count()).First().First();
        return error as IOException ?? new IOException(error.Message, error);
    }

    // qemu sums the children's allocation for a node without its own (bdrv_sum_allocated_file_size).
    public long? AllocatedBytes => _children.Select(c => c.GetInfo().ActualSize).Aggregate((long?)0, (sum, size) => sum + size);

    public bool PunchHole(long offset, long length) => false;

    /// <summary>
    /// qemu's quorum_co_block_status: zeros where every child reads zeros through its chain (the shortest such
    /// run), data otherwise (the longest data run among the children); a child that fails makes the whole run data.
    /// </summary>
    public BlockStatus? GetBlockStatus(long offset, long length)
    {
        long zeroRun = length;
        long dataRun = 0;
        foreach (var child in _children)
        {
            BlockStatus status;
            try { status = BackingChain.GetStatus(child, offset, length); }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                dataRun = length;
                break;
            }
            if (status.IsZero || !status.IsAllocated) zeroRun = Math.Min(zeroRun, status.Length);
            else dataRun = Math.Max(dataRun, status.Length);
        }
        return dataRun > 0 ? new BlockStatus(offset, dataRun, BlockState.Data) : new BlockStatus(offset, zeroRun, BlockState.Zero);
    }

    public long? NextData(long offset) => offset < Length ? offset : null;

    public long NextHole(long offset) => Length;

    public void Dispose()
    {
        foreach (var child in _children) child.Dispose();
    }
}
