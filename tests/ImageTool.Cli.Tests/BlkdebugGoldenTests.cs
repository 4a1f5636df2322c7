using System.Buffers.Binary;
using System.Text;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 020, 036, 074 and 098: blkdebug under a qcow2 image (config file and json:{} rules) failing the
/// requests after a format's debug event, commit emptying its top as qemu's make_completely_empty (and what a
/// failure part-way leaves), a relative commit -b, and the feature name table in "Unsupported qcow2 feature(s)".
/// img and qemu-img on the same files.
/// </summary>
[Category("Qemu")]
public class BlkdebugGoldenTests : QemuGoldenTestBase
{
    private void Same(string[] args, Action? prepare = null) => Img.AssertSameAsQemu(Dir.Path, args, prepare);

    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    private void QemuIo(string file, string command) => Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow2", "-c", command, file).Ok();

    private void Config(string text) => File.WriteAllText(Dir["blkdebug.conf"], text);

    [Test]
    public void Compare_WithReadErrorInjectedAfterReadAio_FailsAsQemuImg()
    {
        Config("[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\nonce =\"off\"\n");
        Qemu("create", "-q", "-f", "qcow2", "t.qcow2", "1G");
        QemuIo("t.qcow2", "write -P 102 512 512");
        Qemu("create", "-q", "-f", "qcow2", "t2.qcow2", "1G");
        Same(["compare", "blkdebug:blkdebug.conf:t.qcow2", "t2.qcow2"]);
        Qemu("create", "-q", "-f", "qcow2", "t2.qcow2", "0");
        Same(["compare", "blkdebug:blkdebug.conf:t.qcow2", "t2.qcow2"]);
    }

    [Test]
    public void Commit_IntoBackingWhoseWritesFailWithEnospc_ReportsTheJobFailure()
    {
        string backing = "json:{'driver': 'qcow2', 'file': { 'driver': 'blkdebug', 'inject-error': [{ 'event': 'write_aio', " +
            "'errno': 28, 'once': true }], 'image': { 'driver': 'file', 'filename': 'b.qcow2' }}}";
        Same(["commit", "t.qcow2"], () =>
        {
            Qemu("create", "-q", "-f", "qcow2", "b.qcow2", "1M");
            Qemu("create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", "t.qcow2");
            QemuIo("t.qcow2", "write 0 64k");
        });
    }

    [TestCase("l1_update")]
    [TestCase("empty_image_prepare")]
    [TestCase("reftable_update")]
    [TestCase("refblock_alloc")]
    public void Commit_WithErrorWhileEmptying_LeavesTheImageQemuImgLeaves(string evt)
    {
        Config($"[inject-error]\nevent = \"{evt}\"\n");
        void Prepare()
        {
            Qemu("create", "-q", "-f", "qcow2", "b.qcow2", "64M");
            Qemu("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "t.qcow2", "64M");
            QemuIo("t.qcow2", "write 0 64k");
        }
        Prepare();
        var qemu = Tools.RunIn(Dir.Path, "qemu-img", "commit", "blkdebug:blkdebug.conf:t.qcow2");
        byte[] qemuTop = File.ReadAllBytes(Dir["t.qcow2"]);
        Prepare();
        var img = Img.Run(Dir.Path, "commit", "blkdebug:blkdebug.conf:t.qcow2");
        Assert.Multiple(() =>
        {
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
            Assert.That(File.ReadAllBytes(Dir["t.qcow2"]), Is.EqualTo(qemuTop), "the top image after the failure");
        });
    }

    [Test]
    public void Commit_EmptiesTheTopAsQemuImg()
    {
        void Prepare()
        {
            Qemu("create", "-q", "-f", "qcow2", "b.qcow2", "64M");
            Qemu("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "t.qcow2", "64M");
            QemuIo("t.qcow2", "write 0 64k");
            QemuIo("t.qcow2", "write 40M 128k");
        }
        Prepare();
        Qemu("commit", "-q", "t.qcow2");
        byte[] qemuTop = File.ReadAllBytes(Dir["t.qcow2"]);
        Prepare();
        Assert.That(Img.Run(Dir.Path, "commit", "-q", "t.qcow2").ExitCode, Is.EqualTo(0));
        Assert.That(File.ReadAllBytes(Dir["t.qcow2"]), Is.EqualTo(qemuTop));
    }

    [Test]
    public void Commit_RelativeBase_IsNamedFromTheOverlaysDirectory()
    {
        Directory.CreateDirectory(Dir["subdir"]);
        void Prepare()
        {
            Qemu("create", "-q", "-f", "qcow2", "subdir/t.base", "1M");
            Qemu("create", "-q", "-f", "qcow2", "-b", "t.base", "-F", "qcow2", "subdir/t.mid");
            Qemu("create", "-q", "-f", "qcow2", "-b", "t.mid", "-F", "qcow2", "subdir/t.top");
        }
        Same(["commit", "-b", "t.mid", "subdir/t.top"], Prepare);
        Same(["commit", "-b", "subdir/t.mid", "subdir/t.top"], Prepare);
    }

    [TestCase("\0?Test feature")]
    [TestCase("\0=test1\0                                        \0>test2\0                                        ")]
    [TestCase("\u0001=test1\0                                        \0>test2\0                                        \u0002?test3\0                                        ")]
    public void Info_OfUnsupportedFeature_NamesItFromTheTableAsQemuImg(string table)
    {
        Qemu("create", "-q", "-f", "qcow2", "f.qcow2", "64M");
        using (var f = new FileStream(Dir["f.qcow2"], FileMode.Open))
        {
            var features = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(features, 0xE000000000000000);
            f.Position = 72;
            f.Write(features);
            // Replace the extensions after the 112-byte header by this feature table and the end marker.
            byte[] data = Encoding.Latin1.GetBytes(table);
            var ext = new byte[8 + ((data.Length + 7) & ~7) + 8];
            BinaryPrimitives.WriteUInt32BigEndian(ext, 0x6803F857);
            BinaryPrimitives.WriteUInt32BigEndian(ext.AsSpan(4), (uint)data.Length);
            data.CopyTo(ext, 8);
            f.Position = 112;
            f.Write(ext);
        }
        Same(["info", "f.qcow2"]);
    }

    [Test]
    public void Map_ThroughBlkdebugAboveTheFormat_MapsAsQemuImg()
    {
        Qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=1M", "t.base", "128M");
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow2", "-c", "write -P 11 0 128M", "t.base").Ok();
        Qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=1M", "-b", "t.base", "-F", "qcow2", "t.qcow2");
        QemuIo("t.qcow2", "write -P 22 0 110M");
        QemuIo("t.qcow2", "write -z 32M 32M");
        Same(["map", "--image-opts", "driver=blkdebug,image.driver=qcow2,image.file.driver=file,image.file.filename=t.qcow2,align=4k"]);
    }

    [Test]
    public void ConvertSalvage_WithBlockStatusAndReadErrorsInjected_WarnsAndCopiesAsQemuImg()
    {
        Qemu("create", "-q", "-f", "qcow2", "o.qcow2", "64M");
        QemuIo("o.qcow2", "write -P 42 0 64M");
        var rules = new List<string>();
        foreach (long ofs in new long[] { (16 << 20) + 8192, (33 << 20) + 512 })
            rules.Add($"{{ 'event': 'none', 'iotype': 'block-status', 'errno': 5, 'sector': {ofs / 512} }}");
        foreach (long ofs in new long[] { (32 << 20) - 65536, (33 << 20) + 512, 34 << 20, (34 << 20) + 512 })
            rules.Add($"{{ 'event': 'none', 'iotype': 'read', 'errno': 5, 'sector': {ofs / 512} }}");
        string source = "json:{'driver': 'blkdebug', 'image': {'driver': 'qcow2', 'file': {'driver': 'file', 'filename': 'o.qcow2'}}, " +
            $"'inject-error': [{string.Join(", ", rules)}]}}";
        var qemu = Tools.RunIn(Dir.Path, "qemu-img", "convert", "--salvage", source, "q.raw");
        var img = Img.Run(Dir.Path, "convert", "--salvage", source, "i.raw");
        Assert.Multiple(() =>
        {
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
        });
        Tools.RunIn(Dir.Path, "qemu-img", "compare", "-f", "raw", "-F", "raw", "q.raw", "i.raw").Ok();
    }
}
