using ImageTool;
using ImageTool.Capabilities;
using ImageTool.Check;

/// <summary>What each fuzz input goes through: probe or open, check, block status over the disk, and reads.</summary>
internal static class FuzzTarget
{
    private const long ReadBudget = 16L << 20;
    private const int MaxRuns = 4096;

    public static bool IsCleanFailure(Exception e) => e is ImageFormatException or IOException;

    public static void Exercise(string path, string format)
    {
        var options = new OpenOptions
        {
            Format = format == "probe" ? null : format,
            // the luks seeds are made with --object secret,id=s0,data=pw
            DriverOptions = format == "luks" ? new ImageTool.Options.ImageOptions().Set("key-secret", "s0") : null,
            Secrets = new Dictionary<string, string> { ["s0"] = "pw" },
        };
        using var image = DiskImage.Open(path, options);
        if (image is ICheckable checkable)
        {
            try
            {
                checkable.Check(CheckRepair.None, _ => { });
            }
            catch (ImageFormatException)
            {
                // a failed check still leaves the reads to try
            }
        }
        var buffer = new byte[1 << 20];
        long budget = ReadBudget, offset = 0;
        for (int runs = 0; offset < image.Length && budget > 0 && runs < MaxRuns; runs++)
        {
            var status = image.GetBlockStatus(offset, image.Length - offset);
            if (status.Length <= 0) throw new InvalidOperationException($"block status of length {status.Length} at {offset}");
            if (status.IsZero && !status.IsData)
            {
                offset = status.End;
                continue;
            }
            int n = (int)Math.Min(Math.Min(status.Length, buffer.Length), budget);
            image.Read(offset, buffer.AsSpan(0, n));
            budget -= n;
            offset += n;
        }
    }
}
