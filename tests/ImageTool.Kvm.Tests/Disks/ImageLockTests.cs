using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Disks;

public class ImageLockTests
{
    // Says READY on COM1, then idles with interrupts on (the guest keeps running until stopped).
    private const string Idle = """
        bits 16
        org 0x7c00
            xor ax, ax
            mov ds, ax
            mov si, msg
            mov dx, 0x3f8
        .s: lodsb
            test al, al
            jz .idle
            out dx, al
            jmp .s
        .idle:
            sti
            hlt
            jmp .idle
        msg: db "READY", 13, 10, 0
        times 510-($-$$) db 0
        dw 0xaa55
        """;

    private static string MakeOverlay(TempDir dir)
    {
        Images.WriteRaw(dir["base.raw"], 4 << 20, (0, Guest.Assemble(dir, "idle", Idle)));
        return Images.Disk(dir, dir["base.raw"], "qcow2");
    }

    [Test]
    public void Run_WhileGuestRuns_QemuImgCannotOpenTheImagesForWriting()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string overlay = MakeOverlay(dir);
        using var guest = Guest.Start(["-hda", overlay]);
        Assert.That(guest.WaitFor("READY", 30), Is.True);

        var info = Tools.QemuImg("info", overlay);
        var resize = Tools.QemuImg("resize", "-f", "raw", dir["base.raw"], "8M");

        Assert.That(info.ExitCode, Is.EqualTo(1));
        Assert.That(info.Stderr, Does.Contain("Failed to get shared \"write\" lock"));
        Assert.That(resize.ExitCode, Is.EqualTo(1), "the backing file must not be writable by others either");
        Assert.That(guest.Stop().ExitCode, Is.Zero);
        Tools.QemuImg("info", overlay).Ok(); // released at exit
    }

    [Test]
    public void Run_ImageInUseByAnotherGuest_IsRefused()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string overlay = MakeOverlay(dir);
        using var guest = Guest.Start(["-hda", overlay]);
        Assert.That(guest.WaitFor("READY", 30), Is.True);

        var e = Assert.Throws<ImageLockedException>(() => Guest.Run(["-hda", overlay]));
        var shared = Guest.Run(["-hda", dir["base.raw"], "-snapshot"], until: "READY");

        Assert.That(e!.Message, Is.EqualTo($"Could not open '{overlay}': Failed to get \"write\" lock\nIs another process using the image [{overlay}]?"));
        Assert.That(shared.Output, Does.StartWith("READY"), "two read-only users of a base image are fine");
    }
}
