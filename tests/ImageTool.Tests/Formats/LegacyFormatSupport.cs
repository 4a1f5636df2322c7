using ImageTool.Info;
using ImageTool.Operations;

namespace ImageTool.Tests.Formats;

/// <summary>Helpers shared by the qcow, cow and cloop tests.</summary>
internal static class LegacyFormatSupport
{
    public static string InfoHuman(string path) =>
        ImageInfoFormatter.Human(InfoOperation.Collect(path, new OpenOptions(), backingChain: false));

    public static string InfoJson(string path) =>
        ImageInfoFormatter.Json(InfoOperation.Collect(path, new OpenOptions(), backingChain: false), asList: false);

    public static byte[] ReadAll(IBlockDevice device)
    {
        var data = new byte[device.Length];
        device.Read(0, data);
        return data;
    }

    /// <summary>The message DiskImage.Open fails with.</summary>
    public static string OpenError(string path, OpenOptions? options = null)
    {
        var e = Assert.Throws(Is.InstanceOf<ImageFormatException>(), () => DiskImage.Open(path, options).Dispose());
        return e!.Message;
    }

    /// <summary>qemu-img's one-line error without its "qemu-img: " prefix.</summary>
    public static string QemuError(Support.Tools.Result result)
    {
        Assert.That(result.ExitCode, Is.Not.Zero, result.Stdout);
        return result.Stderr.Trim().Replace("qemu-img: ", "", StringComparison.Ordinal);
    }

    /// <summary>Compressible but non-trivial data: seeded random runs, text-like runs and zeros.</summary>
    public static byte[] MixedData(int length, int seed)
    {
        var data = new byte[length];
        var random = new Random(seed);
        for (int at = 0; at < length;)
        {
            int run = Math.Min(length - at, random.Next(512, 96 << 10));
            switch (random.Next(3))
            {
                case 0: random.NextBytes(data.AsSpan(at, run)); break;
                case 1:
                    for (int i = 0; i < run; i++) data[at + i] = (byte)"ImageTool cloop qcow cow "[(at + i) % 25];
                    break;
            }
            at += run;
        }
        return data;
    }
}
