using ImageTool.Info;

namespace ImageTool.Tests.Info;

public class QemuJsonWriterTests
{
    [Test]
    public void Write_ImageInfo_UsesQemuHashOrder()
    {
        var node = new InfoObject()
            .Add("filename", "r.raw").Add("format", "raw").Add("virtual-size", 10485760L)
            .Add("actual-size", 4096L).Add("dirty-flag", false);
        Assert.That(QemuJsonWriter.Write(node), Is.EqualTo(
            "{\n    \"virtual-size\": 10485760,\n    \"filename\": \"r.raw\",\n    \"format\": \"raw\",\n" +
            "    \"actual-size\": 4096,\n    \"dirty-flag\": false\n}\n"));
    }

    [TestCase("backing-image", 80)]
    [TestCase("virtual-size", 309)]
    [TestCase("filename", 313)]
    [TestCase("dirty-flag", 501)]
    [TestCase("icount", 18)]
    [TestCase("extended-l2", 503)]
    public void Bucket_MatchesQemu(string key, int bucket) => Assert.That(QemuHash.Bucket(key), Is.EqualTo(bucket));

    [Test]
    public void Write_EmptyList_PrintsBracketsOnTwoLines()
    {
        var node = new InfoObject().Add("extents", new InfoList([]));
        Assert.That(QemuJsonWriter.Write(node), Is.EqualTo("{\n    \"extents\": [\n    ]\n}\n"));
    }
}
