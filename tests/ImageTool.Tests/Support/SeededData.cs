namespace ImageTool.Tests.Support;

/// <summary>Deterministic test content.</summary>
public static class SeededData
{
    public static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Writes a raw file of <paramref name="size"/> bytes with seeded data at the given (offset, length) runs; the rest stays a hole.</summary>
    public static void WriteRaw(string path, long size, int seed, params (long Offset, int Length)[] runs)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.ReadWrite);
        fs.SetLength(size);
        int i = 0;
        foreach (var (offset, length) in runs)
        {
            fs.Position = offset;
            fs.Write(Bytes(length, seed + i++));
        }
    }
}
