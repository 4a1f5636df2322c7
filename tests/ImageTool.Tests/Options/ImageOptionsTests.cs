using ImageTool.Options;

namespace ImageTool.Tests.Options;

public class ImageOptionsTests
{
    [Test]
    public void Parse_CommaList_LastDuplicateWins()
    {
        var o = new ImageOptions().Parse("cluster_size=4k,lazy_refcounts=on").Parse("cluster_size=8k");
        Assert.That(o.GetString("cluster_size"), Is.EqualTo("8k"));
        Assert.That(o.GetBool("lazy_refcounts"), Is.True);
    }

    [Test]
    public void Parse_DoubledComma_IsLiteral()
    {
        var o = new ImageOptions().Parse("backing_file=a,,b.img,backing_fmt=raw");
        Assert.That(o.GetString("backing_file"), Is.EqualTo("a,b.img"));
        Assert.That(o.GetString("backing_fmt"), Is.EqualTo("raw"));
    }

    [TestCase(",cluster_size=4k")]
    [TestCase("")]
    public void Parse_LeadingComma_Throws(string list)
    {
        var e = Assert.Throws<ArgumentException>(() => new ImageOptions().Parse(list));
        Assert.That(e!.Message, Is.EqualTo($"Invalid option list: {list}"));
    }

    [Test]
    public void Validate_UnknownName_ThrowsQemuMessage()
    {
        var schema = new[] { FileProtocolOptions.Size };
        var e = Assert.Throws<ArgumentException>(() => new ImageOptions().Parse("bogus=1").Validate(schema));
        Assert.That(e!.Message, Is.EqualTo("Invalid parameter 'bogus'"));
    }

    [Test]
    public void Validate_BadBool_ThrowsQemuMessage()
    {
        var schema = new[] { new OptionSpec("lazy_refcounts", OptionType.Bool, "") };
        var e = Assert.Throws<ArgumentException>(() => new ImageOptions().Parse("lazy_refcounts=maybe").Validate(schema));
        Assert.That(e!.Message, Is.EqualTo("Parameter 'lazy_refcounts' expects 'on' or 'off'"));
    }

    [Test]
    public void FormatForDisplay_PrintsDefaultsAndSizesAsIntegers()
    {
        var schema = new[]
        {
            new OptionSpec("cluster_size", OptionType.Size, "", "65536"),
            new OptionSpec("size", OptionType.Size, ""),
            new OptionSpec("backing_file", OptionType.String, ""),
            new OptionSpec("lazy_refcounts", OptionType.Bool, "", "off"),
        };
        var o = new ImageOptions().Parse("cluster_size=4k,size=1M,lazy_refcounts=yes");
        Assert.That(o.FormatForDisplay(schema), Is.EqualTo("cluster_size=4096 size=1048576 lazy_refcounts=yes"));
    }
}
