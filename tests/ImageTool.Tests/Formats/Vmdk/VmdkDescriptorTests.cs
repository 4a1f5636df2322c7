using ImageTool.Formats.Vmdk;

namespace ImageTool.Tests.Formats.Vmdk;

public class VmdkDescriptorTests
{
    private const string Head = "# Disk DescriptorFile\nversion=1\nCID=bdd51cc\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n# Extent description\n";

    [Test]
    public void ParseExtents_QemuDescriptor_ReturnsTheExtent()
    {
        var extents = VmdkDescriptor.ParseExtents(Head + "RW 204800 FLAT \"img-flat.vmdk\" 0\n\n# The Disk Data Base\n#DDB\n");
        Assert.That(extents, Is.EqualTo(new[] { new VmdkExtentLine(204800, "FLAT", "img-flat.vmdk", 0) }));
    }

    [Test]
    public void ParseExtents_BlankLineAboveExtent_CountsItTwice()
    {
        // qemu's sscanf skips the newline of a blank line and reads the next line as well (trap 10).
        var extents = VmdkDescriptor.ParseExtents("createType=\"twoGbMaxExtentSparse\"\n\nRW 8 SPARSE \"a.vmdk\"\n");
        Assert.That(extents, Has.Count.EqualTo(2));
    }

    [TestCase("RDONLY 100 SPARSE \"a.vmdk\"")]
    [TestCase("NOACCESS 100 FLAT \"a.vmdk\" 0")]
    [TestCase("RW 100 ZERO")]
    [TestCase("RW 100 ZERO \"z\"")]
    [TestCase("RW -5 SPARSE \"a.vmdk\"")]
    [TestCase("RW 0 FLAT \"a.vmdk\" 0")]
    [TestCase("RW 100 BOGUS \"a.vmdk\"")]
    public void ParseExtents_LinesQemuIgnores_AreSkipped(string line) =>
        Assert.That(VmdkDescriptor.ParseExtents(Head + line + "\n"), Is.Empty);

    [TestCase("RW 100 FLAT \"a.vmdk\"")]
    [TestCase("RW 100 FLAT \"a.vmdk\" -1")]
    [TestCase("RW 100 SPARSE \"a.vmdk\" 7")]
    [TestCase("RW 100 VMFS \"a.vmdk\" 7")]
    public void ParseExtents_BadLine_IsRejectedWithQemuMessage(string line)
    {
        var e = Assert.Throws<ImageFormatException>(() => VmdkDescriptor.ParseExtents(Head + line + "\n"));
        Assert.That(e!.Message, Is.EqualTo($"Invalid extent line: {line}"));
    }

    [Test]
    public void ParseExtents_CrlfAndVmfs_AreAccepted()
    {
        var extents = VmdkDescriptor.ParseExtents("RW 10 VMFS \"v.vmdk\"\r\nRW 20 VMFSSPARSE \"s.vmdk\"\r\n");
        Assert.That(extents, Is.EqualTo(new[]
        {
            new VmdkExtentLine(10, "VMFS", "v.vmdk", 0),
            new VmdkExtentLine(20, "VMFSSPARSE", "s.vmdk", -1),
        }));
    }

    [TestCase("CID=bdd51cc\nparentCID=ffffffff\n", false, 0xbdd51ccu)]
    [TestCase("CID=bdd51cc\nparentCID=ffffffff\n", true, 0xffffffffu)]
    [TestCase("CID= 0x1F\nparentCID=12\n", false, 0x1fu)]
    public void ReadCid_FindsHexAfterKey(string text, bool parent, uint expected) =>
        Assert.That(VmdkDescriptor.ReadCid(text, parent), Is.EqualTo(expected));

    [Test]
    public void ReadCid_Missing_ReturnsNull() => Assert.That(VmdkDescriptor.ReadCid("version=1\n", false), Is.Null);

    [Test]
    public void ReplaceCid_RewritesOnlyTheCidLine()
    {
        var bytes = new byte[VmdkDescriptor.Size];
        System.Text.Encoding.ASCII.GetBytes(Head).CopyTo(bytes, 0);
        Assert.That(VmdkDescriptor.ReplaceCid(bytes, 0xabc), Is.True);
        Assert.That(VmdkDescriptor.Text(bytes), Is.EqualTo(Head.Replace("CID=bdd51cc", "CID=abc", StringComparison.Ordinal)));
    }

    [TestCase("version=1\n", 100)]
    [TestCase("# c\n  \nversion=3\r\n", 100)]
    [TestCase("\nversion=1\n", 0)]
    [TestCase("version=4\n", 0)]
    [TestCase("KDMV", 100)]
    [TestCase("COWD", 100)]
    [TestCase("hello", 0)]
    public void Probe_AsQemu(string text, int score) =>
        Assert.That(VmdkFormat.Instance.Probe(System.Text.Encoding.ASCII.GetBytes(text)), Is.EqualTo(score));

    [Test]
    public void Probe_VersionLineBeyond512Bytes_IsNotVmdk()
    {
        // qemu 7.2 only looks at the first sector (verified with comment lines pushing "version=" out).
        string text = string.Concat(Enumerable.Repeat("# padding comment line\n", 23)) + "version=1\n";
        Assert.That(VmdkFormat.Instance.Probe(System.Text.Encoding.ASCII.GetBytes(text)), Is.Zero);
    }
}
