using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

/// <summary>
/// Linux direct boot, opt-in: set IMG_KVM_LINUX_KERNEL to a bzImage (e.g. /boot/vmlinuz-* of Debian's
/// linux-image-6.1.0-*-cloud-amd64-unsigned). On hosts whose KVM emulates guest kernel code (kvm_pvm, see
/// KVM.md) the banner takes 1-2 minutes and PCI enumeration 2-4 minutes; on VMX/SVM hosts, seconds.
/// </summary>
public class LinuxBootTests
{
    // The PVM work-arounds of KVM.md §2 (features the host's instruction emulator lacks); harmless elsewhere.
    private const string CommandLine = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=t panic=-1 nokaslr "
        + "nosoftlockup cryptomgr.notests noxsave nofsgsbase nopcid noinvpcid nopku mitigations=off "
        + "clearcpuid=141,151,158,306,308,137,147,148,153,129,317";

    [Test]
    public void Run_Bzimage_PrintsBannerAndEnumeratesTheVirtioDisk()
    {
        string? kernel = Environment.GetEnvironmentVariable("IMG_KVM_LINUX_KERNEL");
        if (string.IsNullOrEmpty(kernel)) Assert.Ignore("set IMG_KVM_LINUX_KERNEL to a bzImage to run the Linux boot test");
        Guest.RequireKvm();
        using var dir = new TempDir();
        Images.WriteRaw(dir["disk.raw"], 8 << 20);

        var result = Guest.Run(["-m", "256", "-kernel", kernel, "-append", CommandLine,
            "-drive", $"file={dir["disk.raw"]},format=raw,if=virtio", "-snapshot"],
            until: "pci 0000:00:01.0: [1af4:1001]", timeoutSeconds: 900);

        Assert.That(result.Output, Does.Contain("Linux version").And.Contain("pci 0000:00:01.0: [1af4:1001]"));
    }
}
