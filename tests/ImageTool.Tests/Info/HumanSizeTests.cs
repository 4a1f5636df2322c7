using ImageTool.Info;

namespace ImageTool.Tests.Info;

public class HumanSizeTests
{
    [TestCase(0L, "0 B")]
    [TestCase(512L, "512 B")]
    [TestCase(1022976L, "999 KiB")]
    [TestCase(1023488L, "1e+03 KiB")]
    [TestCase(1024000L, "0.977 MiB")]
    [TestCase(1572864L, "1.5 MiB")]
    [TestCase(123457024L, "118 MiB")]
    [TestCase(8795019280384L, "8 TiB")]
    [TestCase(1152L, "1.12 KiB")]
    [TestCase(1179648L, "1.12 MiB")]
    [TestCase(1458176L, "1.39 MiB")]
    [TestCase(10485760L, "10 MiB")]
    public void Format_MatchesQemuSizeToStr(long bytes, string expected) =>
        Assert.That(HumanSize.Format(bytes), Is.EqualTo(expected));
}
