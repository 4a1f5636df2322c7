using ImageTool.Options;

namespace ImageTool.Protocols.Quorum;

/// <summary>A quorum node's own options, checked as qemu's quorum_open checks them.</summary>
internal sealed record QuorumSettings(int Threshold, bool Fifo, bool RewriteCorrupted)
{
    public static QuorumSettings Read(ImageOptions options, int childCount)
    {
        if (childCount < 1) throw new ImageFormatException("Number of provided children must be 1 or more");
        long threshold;
        bool rewrite, blkverify;
        try
        {
            threshold = options.GetNumber("vote-threshold") ?? throw new ImageFormatException("Parameter 'vote-threshold' is missing");
            rewrite = options.GetBool("rewrite-corrupted") ?? false;
            blkverify = options.GetBool("blkverify") ?? false;
        }
        catch (ArgumentException e)
        {
            throw new ImageFormatException(e.Message, e);
        }
        if (threshold < 1) throw new ImageFormatException("Parameter 'vote-threshold' expects a value >= 1");
        if (threshold > childCount) throw new ImageFormatException("threshold may not exceed children count");
        bool fifo = options.GetString("read-pattern") switch
        {
            null or "quorum" => false,
            "fifo" => true,
            _ => throw new ImageFormatException("Please set read-pattern as fifo or quorum"),
        };
        // qemu reads blkverify and rewrite-corrupted in quorum mode only.
        if (fifo) return new QuorumSettings((int)threshold, fifo, RewriteCorrupted: false);
        if (blkverify && (childCount != 2 || threshold != 2))
            throw new ImageFormatException("blkverify=on can only be set if there are exactly two files and vote-threshold is 2");
        if (rewrite && blkverify) throw new ImageFormatException("rewrite-corrupted=on cannot be used with blkverify=on");
        return new QuorumSettings((int)threshold, fifo, rewrite);
    }
}
