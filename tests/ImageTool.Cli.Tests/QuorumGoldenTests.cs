using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu's quorum driver (qemu-iotests 081, 110, 059, 148): reads voted over the children, writes to all of them,
/// the node named by its refreshed json:{...}, and no directory to join relative names to. img and qemu-img on the
/// same files.
/// </summary>
[Category("Qemu")]
public class QuorumGoldenTests : QemuGoldenTestBase
{
    private const string Size = "4M";

    private void Same(params string[] args) => Img.AssertSameAsQemu(Dir.Path, args);

    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    private void QemuIo(string file, string command) => Tools.RunIn(Dir.Path, "qemu-io", "-f", "raw", "-c", command, file).Ok();

    private static string Quorum(int threshold, string extra = "") =>
        $"driver=raw,file.driver=quorum,file.vote-threshold={threshold}{extra}" +
        string.Concat(Enumerable.Range(0, 3).Select(i => $",file.children.{i}.driver=raw,file.children.{i}.file.filename={i}.raw"));

    /// <summary>Three children of 0x32 bytes; child 1 differs at 1 MiB and child 2 at <paramref name="child2At"/>.</summary>
    private void Children(string child2At = "2M")
    {
        for (int i = 0; i < 3; i++)
        {
            Qemu("create", "-q", "-f", "raw", $"{i}.raw", Size);
            QemuIo($"{i}.raw", $"write -P 0x32 0 {Size}");
        }
        QemuIo("1.raw", "write -P 0x42 1M 64k");
        QemuIo("2.raw", $"write -P 0x43 {child2At} 64k");
    }

    [TestCase("")]
    [TestCase(",file.read-pattern=fifo")]
    public void Convert_FromQuorum_WritesWhatQemuImgWrites(string pattern)
    {
        Children();
        Qemu("convert", "-O", "raw", "--image-opts", Quorum(2, pattern), "qemu.raw");
        Img.Run(Dir.Path, "convert", "-O", "raw", "--image-opts", Quorum(2, pattern), "img.raw").Ok();
        Assert.That(File.ReadAllBytes(Dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(Dir["qemu.raw"])));
        // The vote outweighs the one corrupted child at each place.
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "raw", "-c", $"read -P 0x32 0 {Size}", "img.raw").Ok();
    }

    [Test]
    public void Convert_FromQuorumWithATie_TakesTheVersionQemuTakes()
    {
        // At 1 MiB each child holds its own bytes: one vote each, and threshold 1 lets the tie through.
        Children(child2At: "1M");
        Qemu("convert", "-O", "raw", "--image-opts", Quorum(1), "qemu.raw");
        Img.Run(Dir.Path, "convert", "-O", "raw", "--image-opts", Quorum(1), "img.raw").Ok();
        Assert.That(File.ReadAllBytes(Dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(Dir["qemu.raw"])));
    }

    [Test]
    public void Convert_FromQuorumWithoutAgreement_FailsAsQemuImg()
    {
        Children(child2At: "0");
        Same("convert", "-O", "raw", "--image-opts", Quorum(3), "out.raw");
    }

    [Test]
    public void Convert_IntoQuorum_WritesEveryChild()
    {
        Children();
        Qemu("create", "-q", "-f", "raw", "src.raw", Size);
        QemuIo("src.raw", "write -P 0x55 64k 1M");
        string target = "json:{\"driver\": \"raw\", \"file\": {\"driver\": \"quorum\", \"vote-threshold\": 2, \"children\": [" +
            string.Join(", ", Enumerable.Range(0, 3).Select(i => $"{{\"driver\": \"file\", \"filename\": \"{i}.raw\"}}")) + "]}}";
        Img.Run(Dir.Path, "convert", "-n", "-O", "raw", "src.raw", target).Ok();
        for (int i = 0; i < 3; i++)
            Tools.RunIn(Dir.Path, "qemu-img", "compare", "-f", "raw", "-F", "raw", "src.raw", $"{i}.raw").Ok();
    }

    /// <summary>Sparse children: data where one child has data (its longest run), zeros only where all read zeros.</summary>
    private void SparseChildren()
    {
        for (int i = 0; i < 3; i++) Qemu("create", "-q", "-f", "raw", $"{i}.raw", Size);
        QemuIo("0.raw", "write -P 0x32 0 64k");
        QemuIo("1.raw", "write -P 0x32 0 128k");
        QemuIo("2.raw", "write -P 0x32 0 64k");
        QemuIo("2.raw", "write -P 0x32 1M 64k");
    }

    [Test]
    public void Map_SparseQuorum_ShowsWhatQemuImgShows()
    {
        SparseChildren();
        Same("map", "--output=json", "--image-opts", Quorum(1));
    }

    [TestCase("human")]
    [TestCase("json")]
    public void Info_OverlayOnQuorum_CannotDetermineTheBackingPath(string output)
    {
        Qemu("create", "-q", "-f", "qcow2", "t.qcow2.base", "64M");
        Qemu("create", "-q", "-f", "qcow2", "-b", "t.qcow2.base", "-F", "qcow2", "t.qcow2");
        File.Copy(Dir["t.qcow2"], Dir["t.qcow2.copy"]);
        Same("info", "--output=" + output, "json:{'driver': 'qcow2', 'file': {'driver': 'quorum', 'vote-threshold': 1, 'children': [" +
            $"{{'driver': 'file', 'filename': '{Dir["t.qcow2"]}'}}, {{'driver': 'file', 'filename': '{Dir["t.qcow2.copy"]}'}}]}}}}");
    }

    [Test]
    public void Info_VmdkDescriptorOnQuorum_RefusesRelativeExtents()
    {
        Qemu("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", "t.vmdk", "64M");
        File.Copy(Dir["t.vmdk"], Dir["t.vmdk.orig"]);
        Same("info", "json:{\"driver\": \"vmdk\", \"file\": {\"driver\": \"quorum\", \"children\": [ " +
            $"{{\"driver\": \"file\", \"filename\": \"{Dir["t.vmdk"]}\"}}, {{\"driver\": \"file\", \"filename\": \"{Dir["t.vmdk.orig"]}\"}}" +
            " ], \"vote-threshold\": 1 } }");
    }

    [TestCase("file.vote-threshold=0")]
    [TestCase("file.vote-threshold=4")]
    [TestCase("file.vote-threshold=2,file.read-pattern=random")]
    [TestCase("file.vote-threshold=2,file.read-pattern=fifo,file.rewrite-corrupted=on")]
    [TestCase("file.vote-threshold=2,file.blkverify=on")]
    [TestCase("file.vote-threshold=2,file.read-pattern=fifo,file.rewrite-corrupted=on,file.blkverify=on")]
    public void Info_WithBadQuorumOptions_RefusedAsQemuImg(string settings)
    {
        Children();
        Same("info", "--image-opts", Quorum(2).Replace("file.vote-threshold=2", settings, StringComparison.Ordinal));
    }
}
