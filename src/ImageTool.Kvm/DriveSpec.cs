namespace ImageTool.Kvm;

/// <summary>How a disk is attached: the IDE bus (served by the BIOS) or virtio-blk (PCI, visible to Linux).</summary>
public enum DriveInterface
{
    Ide,
    Virtio,
}

/// <summary>One guest disk, from <c>-hda/-hdb/-cdrom</c> or <c>-drive file=...,format=...,if=...,media=...,readonly=on</c>.</summary>
/// <param name="File">The image path.</param>
/// <param name="Format">Image format, null to probe.</param>
/// <param name="Interface">Bus the disk is on.</param>
/// <param name="IsCdrom">media=cdrom: read-only, 2048-byte sectors, El Torito boot.</param>
/// <param name="ReadOnly">readonly=on.</param>
/// <param name="Snapshot">snapshot=on (or the global -snapshot): writes go to a throw-away overlay.</param>
/// <param name="Boot">boot=on (qemu-kvm's spelling): the BIOS numbers this hard disk 0x80 and boots it.</param>
public sealed record DriveSpec(string File, string? Format = null, DriveInterface Interface = DriveInterface.Ide,
    bool IsCdrom = false, bool ReadOnly = false, bool Snapshot = false, bool Boot = false);
