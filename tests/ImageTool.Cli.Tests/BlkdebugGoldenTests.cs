using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 020, 074 and 098: blkdebug under a qcow2 image (config file and json:{} rules) failing the
/// requests after a format's debug event, commit emptying its top as qemu's make_completely_empty (and what a
/// failure part-way leaves), a relative commit -b; blkdebug above a format (204). img and qemu-img on the same
/// files.
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

    [TestCase("qcow2")]
    [TestCase("vmdk")]
    [TestCase("qcow")]
    [TestCase("qed")]
    public void Commit_IntoBackingWhoseWritesFailWithEnospc_ReportsTheJobFailure(string format)
    {
        string backing = $"json:{{'driver': '{format}', 'file': {{ 'driver': 'blkdebug', 'inject-error': [{{ 'event': 'write_aio', " +
            "'errno': 28, 'once': true }], 'image': { 'driver': 'file', 'filename': 'b.img' }}}";
        Same(["commit", "t.img"], () =>
        {
            Qemu("create", "-q", "-f", format, "b.img", "1M");
            Qemu("create", "-q", "-f", format, "-b", backing, "-F", format, "t.img");
            Tools.RunIn(Dir.Path, "qemu-io", "-f", format, "-c", "write 0 64k", "t.img").Ok();
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

    /// <summary>
    /// qemu-iotests 217: an I/O error once the snapshot's clusters are being freed leaves the snapshot deleted and its
    /// clusters leaked (a warning, then the error), which check then reports and repairs as for qemu-img's image.
    /// </summary>
    [Test]
    public void SnapshotDelete_WithErrorWhileFreeing_LeaksWhatQemuImgLeaks()
    {
        Config("[inject-error]\nevent = \"cluster_free\"\nerrno = \"5\"\n");
        void Prepare()
        {
            Qemu("create", "-q", "-f", "qcow2", "t.qcow2", "64M");
            QemuIo("t.qcow2", "write 0 64k");
            Qemu("snapshot", "-c", "foo", "t.qcow2");
        }
        Prepare();
        var qemu = Tools.RunIn(Dir.Path, "qemu-img", "snapshot", "-d", "foo", "blkdebug:blkdebug.conf:t.qcow2");
        var qemuCheck = Tools.RunIn(Dir.Path, "qemu-img", "check", "t.qcow2");
        Prepare();
        var img = Img.Run(Dir.Path, "snapshot", "-d", "foo", "blkdebug:blkdebug.conf:t.qcow2");
        var imgCheck = Tools.RunIn(Dir.Path, "qemu-img", "check", "t.qcow2");
        Assert.Multiple(() =>
        {
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
            Assert.That(imgCheck.Stdout, Is.EqualTo(qemuCheck.Stdout), "qemu-img check of the image left behind");
            Assert.That(qemuCheck.Stdout, Does.Contain("leaked clusters were found"));
        });
        File.Copy(Dir["t.qcow2"], Dir["leaked.qcow2"], overwrite: true);
        void Leaked() => File.Copy(Dir["leaked.qcow2"], Dir["t.qcow2"], overwrite: true);
        Same(["check", "t.qcow2"], Leaked);
        Same(["check", "-r", "leaks", "t.qcow2"], Leaked);
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

    /// <summary>
    /// info of blkdebug above a format reports the filter node: driver blkdebug, no disk size, format-specific part or
    /// backing file of its own, the snapshots seen through it; the data through the filter still reads the backing file.
    /// </summary>
    [TestCase("human")]
    [TestCase("json")]
    public void Info_BlkdebugAboveTheFormat_ReportsTheFilterAsQemuImg(string output)
    {
        Qemu("create", "-q", "-f", "qcow2", "b.qcow2", "1M");
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 64k", "b.qcow2").Ok();
        Qemu("snapshot", "-c", "s1", "b.qcow2");
        Qemu("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "o.qcow2");
        Same(["info", "--output=" + output, "--image-opts", "driver=blkdebug,image.driver=qcow2,image.file.filename=o.qcow2"]);
        Same(["info", "--output=" + output, "--image-opts", "driver=blkdebug,image.driver=qcow2,image.file.filename=b.qcow2"]);
        Same(["compare", "--image-opts", "driver=blkdebug,image.driver=qcow2,image.file.filename=o.qcow2", "driver=qcow2,file.filename=b.qcow2"]);
    }
}
