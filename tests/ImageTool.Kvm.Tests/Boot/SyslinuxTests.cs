using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

public class SyslinuxTests
{
    // A real boot loader: SYSLINUX (Debian's syslinux package) on a FAT16 image built with mtools. It runs in
    // 32-bit protected mode with the BIOS timer ticking, so it exercises the monitor's IRET fix-up on hosts
    // whose KVM emulates guest kernel code (about 15 s here); its SAY text arrives through INT 10h AH=09h.
    [Test]
    public void Run_SyslinuxOnFat_ReachesItsPromptAndShowsSayText()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string disk = dir["fat.img"];
        using (var f = File.Create(disk)) f.SetLength(16 << 20);
        Tools.Run("mkfs.vfat", "-F", "16", disk).Ok();
        Tools.Run("syslinux", "--install", disk).Ok();
        File.WriteAllText(dir["syslinux.cfg"], "SAY Hello from the SYSLINUX SAY line\nPROMPT 1\nTIMEOUT 0\nDEFAULT nothing\n");
        Tools.Run("mcopy", "-i", disk, dir["syslinux.cfg"], "::syslinux.cfg").Ok();

        var result = Guest.Run(["-hda", disk, "-snapshot"], until: "boot:", timeoutSeconds: 90);

        Assert.That(result.Output, Does.Contain("SYSLINUX 6.").And.Contain("Hello from the SYSLINUX SAY line\r\nboot:"));
    }
}
