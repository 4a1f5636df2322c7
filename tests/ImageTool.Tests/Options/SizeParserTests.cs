using ImageTool.Options;

namespace ImageTool.Tests.Options;

public class SizeParserTests
{
    [TestCase("0", 0L)]
    [TestCase("1024", 1024L)]
    [TestCase("010", 10L)]
    [TestCase(" +5", 5L)]
    [TestCase("0x10", 16L)]
    [TestCase("0x10k", 16384L)]
    [TestCase("1b", 1L)]
    [TestCase("1B", 1L)]
    [TestCase("4k", 4096L)]
    [TestCase("4K", 4096L)]
    [TestCase("512M", 536870912L)]
    [TestCase("1G", 1073741824L)]
    [TestCase("1.5G", 1610612736L)]
    [TestCase("0.5k", 512L)]
    [TestCase("1.3k", 1331L)]
    [TestCase("1.k", 1024L)]
    [TestCase("1024.0", 1024L)]
    [TestCase("1024.0b", 1024L)]
    [TestCase("2T", 2199023255552L)]
    [TestCase("1P", 1125899906842624L)]
    [TestCase("7E", 8070450532247928832L)]
    [TestCase("9223372036854775807", long.MaxValue)]
    public void Parse_ValidSize_ReturnsBytes(string text, long expected)
    {
        Assert.That(SizeParser.TryParse(text, out long value, out var error), Is.True, error.ToString());
        Assert.That(value, Is.EqualTo(expected));
    }

    [TestCase("")]
    [TestCase("abc")]
    [TestCase("1.5")]
    [TestCase("1.5b")]
    [TestCase(".5k")]
    [TestCase("2048s")]
    [TestCase("1KiB")]
    [TestCase("1e3")]
    [TestCase("-1")]
    [TestCase("1k ")]
    [TestCase("0x1.5k")]
    public void Parse_Malformed_IsInvalid(string text)
    {
        Assert.That(SizeParser.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo(SizeParser.Error.Invalid));
    }

    [TestCase("9223372036854775808")]
    [TestCase("8E")]
    [TestCase("18446744073709551616")]
    public void Parse_TooLarge_IsOutOfRange(string text)
    {
        Assert.That(SizeParser.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo(SizeParser.Error.OutOfRange));
    }

    [Test]
    public void Parse_HexWithSuffix_FlagsDeprecation()
    {
        SizeParser.TryParse("0x10k", out _, out _, out bool hexWithSuffix);
        Assert.That(hexWithSuffix, Is.True);
    }
}
