using System.Diagnostics;
using ImageTool.Tests.Support;

namespace ImageTool.Tests;

/// <summary>qemu's OFD lock protocol, both directions, against real qemu-img and qemu-io processes.</summary>
[Category("Qemu")]
public class ImageLockTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        _dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", _dir["l.qcow2"], "1M").Ok();
        Tools.QemuImg("create", "-q", "-f", "raw", _dir["l.raw"], "1M").Ok();
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void OpenForWriting_Qcow2_QemuReaderGetsSharedWriteLockError()
    {
        using (DiskImage.Open(_dir["l.qcow2"], new OpenOptions { ReadOnly = false }))
        {
            var r = Tools.QemuImg("info", _dir["l.qcow2"]);
            Assert.That(r.ExitCode, Is.EqualTo(1));
            Assert.That(r.Stderr, Does.Contain("Failed to get shared \"write\" lock"));
            Tools.QemuImg("info", "-U", _dir["l.qcow2"]).Ok();
        }
        Tools.QemuImg("info", _dir["l.qcow2"]).Ok();
    }

    [Test]
    public void OpenReadOnly_Qcow2_QemuWriterGetsWriteLockErrorButReaderSucceeds()
    {
        using (DiskImage.Open(_dir["l.qcow2"]))
        {
            var r = Tools.QemuImg("resize", _dir["l.qcow2"], "2M");
            Assert.That(r.ExitCode, Is.EqualTo(1));
            Assert.That(r.Stderr, Does.Contain("Failed to get \"write\" lock"));
            Tools.QemuImg("info", _dir["l.qcow2"]).Ok();
        }
        Tools.QemuImg("resize", _dir["l.qcow2"], "2M").Ok();
    }

    [Test]
    public void OpenForWriting_Raw_SharesLikeQemu()
    {
        // qemu's raw driver lets others read and write next to a writer; only formats with metadata refuse.
        using var image = DiskImage.Open(_dir["l.raw"], new OpenOptions { ReadOnly = false, Format = "raw" });
        Tools.QemuImg("info", _dir["l.raw"]).Ok();
    }

    [Test]
    public void ForceShare_ReadOnlyOpenNextToQemuWriter_Succeeds()
    {
        using var holder = QemuIoHolding(_dir["l.qcow2"], readOnly: false);
        var e = Assert.Throws<ImageLockedException>(() => DiskImage.Open(_dir["l.qcow2"]).Dispose());
        Assert.That(e!.Message, Is.EqualTo($"Could not open '{_dir["l.qcow2"]}': Failed to get shared \"write\" lock\nIs another process using the image [{_dir["l.qcow2"]}]?"));
        using var shared = DiskImage.Open(_dir["l.qcow2"], new OpenOptions { ForceShare = true });
        Assert.That(shared.Length, Is.EqualTo(1 << 20));
    }

    [Test]
    public void OpenForWriting_NextToQemuReader_FailsWithWriteLockError()
    {
        using var holder = QemuIoHolding(_dir["l.qcow2"], readOnly: true);
        var e = Assert.Throws<ImageLockedException>(() => DiskImage.Open(_dir["l.qcow2"], new OpenOptions { ReadOnly = false }).Dispose());
        Assert.That(e!.Message, Does.EndWith($"Failed to get \"write\" lock\nIs another process using the image [{_dir["l.qcow2"]}]?"));
        using var reader = DiskImage.Open(_dir["l.qcow2"]);
    }

    /// <summary>A qemu-io process with the image open, reading commands from a pipe kept open until disposed.</summary>
    public static IDisposable QemuIoHolding(string path, bool readOnly)
    {
        var psi = new ProcessStartInfo(Tools.Require("qemu-io")) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (readOnly) psi.ArgumentList.Add("-r");
        psi.ArgumentList.Add(path);
        var process = Process.Start(psi)!;
        // Wait until qemu-io has the image open: it answers a command only after opening it.
        process.StandardInput.WriteLine("length");
        process.StandardInput.Flush();
        process.StandardOutput.ReadLine();
        return new Holder(process);
    }

    private sealed class Holder(Process process) : IDisposable
    {
        public void Dispose()
        {
            process.StandardInput.WriteLine("quit");
            process.StandardInput.Close();
            if (!process.WaitForExit(10_000)) process.Kill();
            process.Dispose();
        }
    }
}
