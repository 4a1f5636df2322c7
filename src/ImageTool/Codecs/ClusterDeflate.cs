namespace ImageTool.Codecs;

/// <summary>
/// Raw deflate of qcow and qcow2 clusters for qemu's inflater (4 KiB window): ISA-L when it is installed, else, or
/// when asked for qemu-img's exact bytes, the system zlib with qemu's settings.
/// </summary>
internal static class ClusterDeflate
{
    /// <summary>The stream length, or -1 when it does not fit in <paramref name="destination"/>. Thread-safe.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, bool qemuIdentical)
    {
        if (!qemuIdentical && IsalDeflater.ForCurrentThread is { } fast && fast.Compress(source, destination) is var n and >= -1)
            return n;
        return RawDeflater.ForCurrentThread.Compress(source, destination);
    }
}
