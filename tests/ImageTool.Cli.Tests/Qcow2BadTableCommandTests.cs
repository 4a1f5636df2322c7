using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Broken snapshot tables and LUKS headers (seeded patches of qemu-made images): img prints what qemu-img prints, or,
/// where qemu would damage the image, refuses with one clear line and writes nothing.
/// </summary>
[Category("Qemu")]
public class Qcow2BadTableCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        string t = _dir["t.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", t, "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 200k", t).Ok();
        Tools.QemuImg("snapshot", "-c", "s1", t).Ok();
        Tools.QemuIo("-c", "write -P 0x22 100k 200k", t).Ok();
        Tools.QemuImg("snapshot", "-c", "s2", t).Ok();
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>Offsets of the two snapshot table entries of t.qcow2.</summary>
    private (int First, int Second) Entries(byte[] f)
    {
        int first = (int)BinaryPrimitives.ReadInt64BigEndian(f.AsSpan(64));
        int idLength = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(first + 12));
        int nameLength = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(first + 14));
        int extra = BinaryPrimitives.ReadInt32BigEndian(f.AsSpan(first + 36));
        return (first, (first + 40 + extra + idLength + nameLength + 7) & ~7);
    }

    private void Patched(string patch)
    {
        byte[] f = File.ReadAllBytes(_dir["t.qcow2"]);
        var (first, second) = Entries(f);
        switch (patch)
        {
            case "unaligned-l1": BinaryPrimitives.WriteInt64BigEndian(f.AsSpan(first), 0x12345); break;
            case "huge-l1": BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(first + 8), 0x10000000); break;
            case "long-name": BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(first + 14), 0xffff); break;
            case "table-past-eof": BinaryPrimitives.WriteInt64BigEndian(f.AsSpan(64), 0x10000000); break;
            case "shared-l1": f.AsSpan(first, 8).CopyTo(f.AsSpan(second)); break;
            case "active-l1": f.AsSpan(40, 8).CopyTo(f.AsSpan(first)); break;
        }
        File.WriteAllBytes(_dir["w.qcow2"], f);
    }

    [TestCase("unaligned-l1", "info w.qcow2")]
    [TestCase("unaligned-l1", "snapshot -l w.qcow2")]
    [TestCase("unaligned-l1", "check w.qcow2")]
    [TestCase("unaligned-l1", "snapshot -a s1 w.qcow2")]
    [TestCase("unaligned-l1", "snapshot -d s1 w.qcow2")]
    [TestCase("unaligned-l1", "convert -O raw -l s1 w.qcow2 out.raw")]
    [TestCase("unaligned-l1", "snapshot -a s2 w.qcow2")]
    [TestCase("huge-l1", "info --output=json w.qcow2")]
    [TestCase("huge-l1", "check w.qcow2")]
    [TestCase("huge-l1", "snapshot -a 1 w.qcow2")]
    [TestCase("huge-l1", "snapshot -d s1 w.qcow2")]
    [TestCase("huge-l1", "convert -O raw -l 1 w.qcow2 out.raw")]
    [TestCase("long-name", "info w.qcow2")]
    [TestCase("long-name", "snapshot -l w.qcow2")]
    [TestCase("table-past-eof", "info w.qcow2")]
    [TestCase("table-past-eof", "snapshot -a s1 w.qcow2")]
    [TestCase("table-past-eof", "snapshot -c s3 w.qcow2")]
    [TestCase("shared-l1", "convert -O raw -l s2 w.qcow2 out.raw")]
    public void BrokenSnapshotTable_SameAsQemuImg(string patch, string command) =>
        Img.AssertSameAsQemu(_dir.Path, command.Split(' '), () => Patched(patch));

    [TestCase("shared-l1", "s1", "the L1 table of snapshot 2")]
    [TestCase("active-l1", "s1", "the active L1 table")]
    public void SnapshotL1SharedWithOtherMetadata_ApplyAndDeleteRefusedNothingWritten(string patch, string name, string other)
    {
        Patched(patch);
        byte[] before = File.ReadAllBytes(_dir["w.qcow2"]);
        var apply = Img.Run(_dir.Path, "snapshot", "-a", name, "w.qcow2");
        Assert.That(apply.ExitCode, Is.EqualTo(1));
        Assert.That(apply.Stderr, Is.EqualTo($"img: Snapshot L1 table overlaps with {other}\nimg: Could not apply snapshot '{name}': Failed to load snapshot: Invalid argument\n"));
        var delete = Img.Run(_dir.Path, "snapshot", "-d", name, "w.qcow2");
        Assert.That(delete.Stderr, Is.EqualTo($"img: Could not delete snapshot '{name}': Snapshot L1 table overlaps with {other}\n"));
        Assert.That(File.ReadAllBytes(_dir["w.qcow2"]), Is.EqualTo(before));
    }

    private const string Secret = "secret,id=s,data=pw";

    [TestCase(7, "02")] // version
    [TestCase(8, "666f6f")] // cipher name
    [TestCase(40, "7a7a7a")] // cipher mode
    [TestCase(40, "7874732d626f677573000000")] // "xts-bogus": IV generator
    [TestCase(72, "666f6f000000")] // hash
    [TestCase(104, "00000000")] // payload offset
    [TestCase(108, "7fffffff")] // key bytes
    [TestCase(164, "00000000")] // master key iterations
    [TestCase(212, "00000000")] // slot 0 iterations
    [TestCase(300, "00fa0001")] // slot 1 stripes (inactive slots are checked too)
    [TestCase(296, "00000064")] // slot 1 key offset inside slot 0
    [TestCase(5000, "ff")] // key material: info works, unlocking does not (Qcow2EncryptionTests)
    public void DamagedLuksHeader_InfoSameAsQemuImgNothingWritten(int offset, string hex)
    {
        string luks = _dir["l.qcow2"];
        for (int attempt = 0; ; attempt++)
        {
            var r = Tools.RunIn(_dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "--object", Secret, "-o",
                "encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10", "l.qcow2", "1M");
            if (r.ExitCode == 0 || attempt == 5) break;
        }
        byte[] f = File.ReadAllBytes(luks);
        int header = f.AsSpan().IndexOf("LUKS\xba\xbe"u8);
        Convert.FromHexString(hex).CopyTo(f, header + offset);
        File.WriteAllBytes(luks, f);
        // qemu checks the whole header even for info, which needs no key.
        Img.AssertSameAsQemu(_dir.Path, ["info", "l.qcow2"]);
        Assert.That(File.ReadAllBytes(luks), Is.EqualTo(f));
    }
}
