using System.Globalization;
using System.Text;

namespace ImageTool.Operations;

/// <summary><c>img map</c>: the allocation of an image and its backing chain, as qemu-img map prints it.</summary>
public static class MapOperation
{
    /// <summary>The error of a human-readable map over data that is not stored plainly.</summary>
    internal const string ExternalDataMessage = "File contains external, encrypted or compressed clusters.";

    /// <summary>The status of one run starting at <paramref name="offset"/>, resolved down the chain as qemu's get_block_status.</summary>
    internal static MapEntry StatusAt(IImage image, long offset, long length)
    {
        int depth = 0;
        for (IImage current = image; ; depth++)
        {
            var status = current.GetBlockStatus(offset, length);
            length = status.Length;
            if (status.IsAllocated)
                return new MapEntry(offset, length, depth, true, status.IsZero, status.IsData, status.HostOffset,
                    status.HostOffset == null ? null : status.HostFile);
            // Unallocated: below is the backing image; without one (or past its end) the run reads as zeros.
            // qemu keeps the host offset an unallocated run may have (subclusters of an allocated cluster).
            if (current.Backing is not { } backing || offset >= backing.Length)
                return new MapEntry(offset, length, depth, false, current.Backing != null || current.UnallocatedReadsAsZero, false, status.HostOffset,
                    status.HostOffset == null ? null : status.HostFile);
            length = Math.Min(length, backing.Length - offset);
            current = backing;
        }
    }

    /// <summary>The merged entries of [start, start + maxLength) (the whole image when maxLength is null).</summary>
    public static IEnumerable<MapEntry> Entries(IImage image, long start = 0, long? maxLength = null, bool human = false)
    {
        long end = image.Length;
        if (maxLength != null) end = Math.Min(end, start + maxLength.Value);
        var current = new MapEntry(start, 0, 0, false, false, false, null, null);
        while (current.Start + current.Length < end)
        {
            long offset = current.Start + current.Length;
            var next = StatusAt(image, offset, end - offset);
            if (current.CanAbsorb(next))
            {
                current = current with { Length = current.Length + next.Length };
                continue;
            }
            if (current.Length > 0)
            {
                yield return current;
                // Human output ignores the difference between unallocated, zero and zero-with-data: qemu
                // rewrites the next entry's flags after printing so more of them merge.
                if (human && (!next.Data || next.Zero)) next = next with { Data = false, Zero = true };
            }
            current = next;
        }
        yield return current;
    }

    /// <summary>Writes qemu's human or JSON map; throws (after the lines already written) on compressed or encrypted data in human mode.</summary>
    internal static void Write(IImage image, TextWriter output, bool json, long start = 0, long? maxLength = null)
    {
        if (!json) output.Write("Offset          Length          Mapped to       File\n");
        else output.Write('[');
        MapEntry? pending = null;
        try
        {
            foreach (var entry in Entries(image, start, maxLength, human: !json))
            {
                if (pending is { } previous) WriteEntry(output, previous, json, last: false);
                pending = entry;
            }
        }
        catch (Exception e) when (SourceErrors.IsReadFailure(e))
        {
            output.Flush();
            throw new ImageFormatException($"Could not read file metadata: {SourceErrors.Errno(e)}", e);
        }
        if (pending is { } final) WriteEntry(output, final, json, last: true);
        if (json) output.Write("]\n");
    }

    private static void WriteEntry(TextWriter output, MapEntry e, bool json, bool last)
    {
        if (!json)
        {
            if (e.Data && e.Offset == null)
            {
                output.Flush();
                throw new ImageFormatException(ExternalDataMessage);
            }
            if (e.Data && !e.Zero)
                output.Write($"{Hex(e.Start),-16}{Hex(e.Length),-16}{Hex(e.Offset ?? 0),-16}{e.File}\n");
            return;
        }
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{{ \"start\": {e.Start}, \"length\": {e.Length}, \"depth\": {e.Depth}, ");
        sb.Append(CultureInfo.InvariantCulture, $"\"present\": {Bool(e.Present)}, \"zero\": {Bool(e.Zero)}, \"data\": {Bool(e.Data)}");
        if (e.Offset is { } offset) sb.Append(CultureInfo.InvariantCulture, $", \"offset\": {offset}");
        sb.Append('}');
        if (!last) sb.Append(",\n");
        output.Write(sb.ToString());
    }

    private static string Bool(bool value) => value ? "true" : "false";

    private static string Hex(long value) => value == 0 ? "0" : "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
