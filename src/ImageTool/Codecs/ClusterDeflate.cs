namespace ImageTool.Codecs;

/// <summary>
/// Raw deflate of qcow and qcow2 clusters for qemu's inflater (4 KiB window): ISA-L when it is installed, else, or
/// when asked for qemu-img's exact bytes, the system zlib with qemu's settings.
/// </summary>
internal static class ClusterDeflate
{
    // Set once ISA-L refuses its settings (a library built without them): from then on every cluster goes to zlib
    // directly instead of trying ISA-L first each time.
    private static volatile bool s_isalRefused;

    /// <summary>The stream length, or -1 when it does not fit in <paramref name="destination"/>. Thread-safe.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, bool qemuIdentical)
    {
        if (!qemuIdentical && !s_isalRefused && IsalDeflater.ForCurrentThread is { } fast)
        {
            int n = fast.Compress(source, destination);
            if (n >= -1) return n;
            s_isalRefused = true;
        }
        return RawDeflater.ForCurrentThread.Compress(source, destination);
    }
}
