using System.Text.Json.Nodes;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Info;

/// <summary>The library's <see cref="ImageTool.Info.ImageInfo"/> carries what qemu-img info --output=json reports.</summary>
public class ImageInfoTests
{
    [TestCase("qcow2", "lazy_refcounts=on,refcount_bits=64")]
    [TestCase("qcow2", "compat=0.10")]
    [TestCase("vmdk", "subformat=monolithicSparse")]
    public void FormatSpecific_EqualsQemuImgsFormatSpecificData(string format, string options)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        string path = dir["image"];
        Tools.QemuImg("create", "-q", "-f", format, "-o", options, path, "16M").Ok();
        var qemu = JsonNode.Parse(Tools.QemuImg("info", "--output=json", path).Ok().Stdout)!["format-specific"]!;

        using var image = DiskImage.Open(path);
        var info = image.GetInfo();

        Assert.That(info.FormatSpecificType, Is.EqualTo((string?)qemu["type"]));
        Assert.That(JsonNode.DeepEquals(info.FormatSpecific, qemu["data"]), Is.True,
            $"img: {info.FormatSpecific?.ToJsonString()}\nqemu: {qemu["data"]!.ToJsonString()}");
    }

    [Test]
    public void FormatSpecific_IsNullForRaw()
    {
        using var dir = new TempDir();
        string path = dir["image.raw"];
        File.WriteAllBytes(path, new byte[65536]);

        using var image = DiskImage.Open(path);

        Assert.That(image.GetInfo().FormatSpecific, Is.Null);
    }
}
