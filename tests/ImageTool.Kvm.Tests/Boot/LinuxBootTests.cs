using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

/// <summary>
/// Linux direct boot to user space, opt-in: set IMG_KVM_LINUX_KERNEL to a bzImage, e.g. the vmlinuz of Debian's
/// linux-image-6.1.0-*-cloud-amd64-unsigned unpacked with <c>dpkg -x</c>; its virtio modules are taken from
/// ../lib/modules/VERSION beside the kernel's folder, or from IMG_KVM_LINUX_MODULES. Needs busybox-static.
/// On hosts whose KVM emulates guest kernel code (kvm_pvm, see KVM.md) this takes many minutes: on this project's
/// 2-core host, Debian's 6.1 cloud kernel printed its banner after 13 s, ran /init after 14 min and powered off
/// after 18 min (mostly idle host); expect seconds on a VMX/SVM host. Give the run IMG_KVM_TRACE=FILE to follow it.
/// </summary>
public class LinuxBootTests
{
    // The PVM work-arounds of KVM.md §2 (features the host's instruction emulator lacks); harmless elsewhere.
    private const string CommandLine = "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=t panic=-1 nokaslr "
        + "nosoftlockup cryptomgr.notests noxsave nofsgsbase nopcid noinvpcid nopku mitigations=off "
        + "clearcpuid=141,151,158,306,308,137,147,148,153,129,317";

    private static readonly string[] Modules = ["virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_blk"];

    // /init: loads the virtio modules, then on each disk reads sector 0 and writes sector 1, and powers off.
    private const string Init = """
        #!/bin/busybox sh
        B=/bin/busybox
        echo "INIT: user space"
        $B mount -t devtmpfs dev /dev
        for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
          $B insmod /lib/modules/$m.ko || echo "INIT: insmod $m failed"
        done
        for d in vda vdb; do
          read -r line < /dev/$d
          echo "INIT: $d sector 0: $line"
          echo "written by the guest to $d" | $B dd of=/dev/$d bs=512 seek=1 conv=sync,fsync 2>/dev/null
          echo "INIT: $d write rc=$?"
        done
        echo "INIT: done"
        $B poweroff -f

        """;

    [Test]
    public void Run_Bzimage_UserSpaceReadsAndWritesVirtioDisks_WritesLandInTheOverlayOnly()
    {
        string? kernel = Environment.GetEnvironmentVariable("IMG_KVM_LINUX_KERNEL");
        if (string.IsNullOrEmpty(kernel)) Assert.Ignore("set IMG_KVM_LINUX_KERNEL to a bzImage to run the Linux boot test");
        Guest.RequireKvm();
        if (!File.Exists("/bin/busybox")) Assert.Ignore("the Linux boot test needs busybox-static (/bin/busybox)");
        using var dir = new TempDir();
        File.WriteAllBytes(dir["initrd"], BuildInitramfs(kernel));
        Images.WriteRaw(dir["base.raw"], 8 << 20, (0, Images.Text("sector zero of the persistent disk\n")));
        Images.WriteRaw(dir["base2.raw"], 8 << 20, (0, Images.Text("sector zero of the snapshot disk\n")));
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", dir["base.raw"], "-F", "raw", dir["disk.qcow2"]).Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", dir["base2.raw"], "-F", "raw", dir["snap.qcow2"]).Ok();
        byte[] base1 = File.ReadAllBytes(dir["base.raw"]), base2 = File.ReadAllBytes(dir["base2.raw"]);
        byte[] snap = File.ReadAllBytes(dir["snap.qcow2"]);

        var result = Guest.Run(["-m", "256", "-kernel", kernel, "-initrd", dir["initrd"], "-append", CommandLine,
            "-drive", $"file={dir["disk.qcow2"]},format=qcow2,if=virtio",
            "-drive", $"file={dir["snap.qcow2"]},format=qcow2,if=virtio,snapshot=on"], timeoutSeconds: 3600);

        Assert.That(result.Output, Does.Contain("Linux version").And.Contain("pci 0000:00:01.0: [1af4:1001]"));
        Assert.That(result.Output, Does.Contain("INIT: vda sector 0: sector zero of the persistent disk"));
        Assert.That(result.Output, Does.Contain("INIT: vdb sector 0: sector zero of the snapshot disk"));
        Assert.That(result.Output, Does.Contain("INIT: vda write rc=0").And.Contain("INIT: vdb write rc=0").And.Contain("INIT: done"));
        Assert.That(result.ExitCode, Is.Zero);
        var disk = Images.ReadWithQemu(dir, dir["disk.qcow2"]);
        Assert.That(Images.Sector(disk, 1, 27), Is.EqualTo("written by the guest to vda"));
        Assert.That(File.ReadAllBytes(dir["base.raw"]), Is.EqualTo(base1), "the base under the overlay");
        Assert.That(File.ReadAllBytes(dir["base2.raw"]), Is.EqualTo(base2), "the base of the snapshot=on disk");
        Assert.That(File.ReadAllBytes(dir["snap.qcow2"]), Is.EqualTo(snap), "the snapshot=on overlay");
    }

    private static byte[] BuildInitramfs(string kernel)
    {
        string modules = Environment.GetEnvironmentVariable("IMG_KVM_LINUX_MODULES") is { Length: > 0 } m ? m
            : Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(kernel)))!, "lib", "modules",
                Path.GetFileName(kernel).Replace("vmlinuz-", ""));
        var initramfs = new Initramfs().Directory("bin").Directory("dev").Directory("lib").Directory("lib/modules")
            .File("bin/busybox", File.ReadAllBytes("/bin/busybox"), executable: true)
            .File("init", System.Text.Encoding.ASCII.GetBytes(Init.ReplaceLineEndings("\n")), executable: true);
        foreach (string name in Modules)
        {
            string? ko = Directory.Exists(modules) ? Directory.EnumerateFiles(modules, name + ".ko", SearchOption.AllDirectories).FirstOrDefault() : null;
            if (ko == null) Assert.Fail($"{name}.ko not found under {modules} (set IMG_KVM_LINUX_MODULES to the kernel's lib/modules/VERSION)");
            initramfs.File($"lib/modules/{name}.ko", File.ReadAllBytes(ko!));
        }
        return initramfs.ToArray();
    }
}
