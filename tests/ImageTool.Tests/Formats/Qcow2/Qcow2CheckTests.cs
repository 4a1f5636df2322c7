using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>img's check on damaged images must print what qemu-img check prints and repair as it does.</summary>
public class Qcow2CheckTests
{
    // qemu layout after "write 0 192k" on a fresh 64 KiB-cluster image: refblock 0x20000, L1 0x30000, L2 0x40000, data 0x50000..0x70000.
    private static void Patch(string path, long offset, ulong value, int size)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        var b = new byte[size];
        if (size == 2) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)value);
        else BinaryPrimitives.WriteUInt64BigEndian(b, value);
        fs.Position = offset;
        fs.Write(b);
    }

    private static string Damaged(TempDir dir, string damage)
    {
        string path = dir["d.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "64M").Ok();
        Tools.QemuIo("-c", "write -P 0x33 0 192k", "-c", "write -P 0x44 32M 64k", path).Ok();
        switch (damage)
        {
            case "leak": Patch(path, 0x20000 + 2 * 6, 2, 2); break;
            case "leak-free": Patch(path, 0x20000 + 2 * 12, 1, 2); using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(0xE0000); break;
            case "zero-refcount": Patch(path, 0x20000 + 2 * 5, 0, 2); break;
            case "flip-copied": Patch(path, 0x40000 + 8, 0x0000000000060000, 8); break;
            case "flip-l1-copied": Patch(path, 0x30000, 0x0000000000040000, 8); break;
            case "reserved-bits": Patch(path, 0x40000 + 16, 0x8000000000070002, 8); break;
            case "past-eof": Patch(path, 0x40000, 0x8000000010000000, 8); break;
            case "none": break;
        }
        return path;
    }

    private static (string Stdout, string Stderr, int Exit) Img(string path, CheckRepair repair)
    {
        var errors = new List<string>();
        using var image = DiskImage.Open(path, new OpenOptions { ReadOnly = repair == CheckRepair.None, Format = "qcow2", OpenBacking = false });
        try
        {
            var result = CheckOperation.Run(image, repair, errors.Add);
            return (CheckOperation.Human(result), string.Concat(errors.Select(e => e + "\n")), result.ExitCode);
        }
        catch (ImageFormatException e)
        {
            return ("", string.Concat(errors.Select(l => l + "\n")) + "qemu-img: Check failed: " + e.Message + "\n", 1);
        }
    }

    [TestCase("none", CheckRepair.None)]
    [TestCase("leak", CheckRepair.None)]
    [TestCase("leak", CheckRepair.Leaks)]
    [TestCase("leak-free", CheckRepair.All)]
    [TestCase("zero-refcount", CheckRepair.None)]
    [TestCase("zero-refcount", CheckRepair.Leaks)]
    [TestCase("zero-refcount", CheckRepair.All)]
    [TestCase("flip-copied", CheckRepair.None)]
    [TestCase("flip-copied", CheckRepair.All)]
    [TestCase("flip-l1-copied", CheckRepair.None)]
    [TestCase("flip-l1-copied", CheckRepair.Leaks)]
    [TestCase("reserved-bits", CheckRepair.None)]
    [TestCase("past-eof", CheckRepair.None)]
    public void Check_DamagedImage_SameOutputAsQemu(string damage, CheckRepair repair)
    {
        using var dir = new TempDir();
        string path = Damaged(dir, damage);
        File.Copy(path, dir["q.qcow2"]);
        string[] r = repair switch { CheckRepair.Leaks => ["-r", "leaks"], CheckRepair.All => ["-r", "all"], _ => [] };
        var qemu = Tools.QemuImg(["check", .. r, dir["q.qcow2"]]);
        var img = Img(path, repair);
        Assert.That(img.Stderr.Replace(path, dir["q.qcow2"], StringComparison.Ordinal), Is.EqualTo(qemu.Stderr), "stderr");
        Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout), "stdout");
        Assert.That(img.Exit, Is.EqualTo(qemu.ExitCode), "exit code");
        if (repair != CheckRepair.None && qemu.ExitCode == 0)
        {
            Tools.QemuImg("check", path).Ok();
            Tools.QemuImg("compare", path, dir["q.qcow2"]).Ok();
        }
    }
}
