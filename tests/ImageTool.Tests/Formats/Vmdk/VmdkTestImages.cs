using System.Text.RegularExpressions;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>Helpers shared by the vmdk tests.</summary>
internal static partial class VmdkTestImages
{
    public static readonly string[] Subformats =
        ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "streamOptimized"];

    /// <summary>The descriptor text of an image (embedded or standalone), with the CID line masked.</summary>
    public static string Descriptor(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var text = bytes.Length > 4 && bytes[0] == 'K' && bytes[1] == 'D'
            ? ImageTool.Formats.Vmdk.VmdkDescriptor.Text(bytes.AsSpan(512, 10240))
            : System.Text.Encoding.Latin1.GetString(bytes);
        return MaskCid(text);
    }

    public static string MaskCid(string text) => CidLine().Replace(text, "CID=XXXXXXXX");

    [GeneratedRegex("^CID=[0-9a-f]+$", RegexOptions.Multiline)]
    private static partial Regex CidLine();

    /// <summary>A raw model with seeded data runs (some partial grains, one across a 32 MiB table boundary when it fits).</summary>
    public static byte[] Model(long size, int seed)
    {
        var model = new byte[size];
        var random = new Random(seed);
        for (int i = 0; i < 12; i++)
        {
            long at = random.NextInt64(0, size - 1);
            int n = (int)Math.Min(random.Next(1, 200_000), size - at);
            random.NextBytes(model.AsSpan((int)at, n));
        }
        return model;
    }

    public static void AssertReadsAs(IBlockDevice image, byte[] expected)
    {
        var buffer = new byte[expected.Length];
        image.Read(0, buffer);
        Assert.That(buffer.AsSpan().SequenceEqual(expected), Is.True, "content differs");
    }

    public static void QemuCheckClean(string path)
    {
        var r = Tools.QemuImg("check", path);
        Assert.That(r.ExitCode, Is.Zero, r.Stdout + r.Stderr);
    }
}
