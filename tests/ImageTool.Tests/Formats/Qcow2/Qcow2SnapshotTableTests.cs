using System.Buffers.Binary;
using ImageTool.Formats.Qcow2;
using ImageTool.IO;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

public class Qcow2SnapshotTableTests
{
    private static (int Count, long Offset) Pointer(string path)
    {
        byte[] h = new byte[72];
        using (var fs = File.OpenRead(path)) fs.ReadExactly(h);
        return (BinaryPrimitives.ReadInt32BigEndian(h.AsSpan(60)), BinaryPrimitives.ReadInt64BigEndian(h.AsSpan(64)));
    }

    [Test]
    public void Read_TableWrittenByQemuImg_ParsesAndSerializesIdentically()
    {
        using var dir = new TempDir();
        string img = dir["s.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", img, "1G").Ok();
        Tools.QemuImg("snapshot", "-c", "snap1", img).Ok();
        Tools.QemuImg("snapshot", "-c", "a-much-longer-snapshot-name", img).Ok();
        var (count, offset) = Pointer(img);

        using var file = HostFile.Open(img, readOnly: true);
        var (snaps, size) = Qcow2SnapshotTable.Read(file, offset, count, 65536, 1L << 30);

        Assert.That(snaps.Select(s => (s.Id, s.Name)), Is.EqualTo(new[] { ("1", "snap1"), ("2", "a-much-longer-snapshot-name") }));
        Assert.That(snaps[0].DiskSize, Is.EqualTo(1L << 30));
        Assert.That(snaps[0].Icount, Is.Zero);
        Assert.That(snaps[0].ToInfo().Icount, Is.EqualTo(0L));
        byte[] onDisk = new byte[size];
        file.Read(offset, onDisk);
        Assert.That(Qcow2SnapshotTable.Serialize(snaps), Is.EqualTo(onDisk));
        Assert.That(Qcow2SnapshotTable.NextId(snaps), Is.EqualTo("3"));
    }

    [Test]
    public void Serialize_UnknownExtraData_IsPreserved()
    {
        var snap = new Qcow2Snapshot { L1TableOffset = 0x70000, L1Size = 2, Id = "1", Name = "x", DiskSize = 1 << 20, UnknownExtraData = [1, 2, 3, 4, 5, 6, 7, 8] };
        byte[] table = Qcow2SnapshotTable.Serialize([snap, snap with { Id = "2" }]);
        using var dir = new TempDir();
        byte[] file = new byte[0x20000];
        table.CopyTo(file, 0x10000);
        File.WriteAllBytes(dir["t"], file);
        using var hf = HostFile.Open(dir["t"], readOnly: true);
        var (back, size) = Qcow2SnapshotTable.Read(hf, 0x10000, 2, 65536, 0);
        Assert.That(size, Is.EqualTo(table.Length));
        Assert.That(back[1].UnknownExtraData, Is.EqualTo(snap.UnknownExtraData));
        Assert.That(back[1].Id, Is.EqualTo("2"));
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(table.AsSpan(36)), Is.EqualTo(32), "extra_data_size = 24 known + 8 unknown");
    }

    [TestCase(65537, 0x10000, "Snapshot table too large")]
    [TestCase(1, 0x10001, "Snapshot table offset invalid")]
    public void Read_BadPointer_ThrowsCorrupt(int count, long offset, string message)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t"], new byte[0x10000 + 100]);
        using var hf = HostFile.Open(dir["t"], readOnly: true);
        var e = Assert.Throws<ImageCorruptException>(() => Qcow2SnapshotTable.Read(hf, offset, count, 65536, 0));
        Assert.That(e!.Message, Is.EqualTo(message));
    }

    [Test]
    public void Read_EntriesPastEndOfFile_ReadAsZerosLikeQemu()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t"], new byte[0x10000 + 100]);
        using var hf = HostFile.Open(dir["t"], readOnly: true);
        var (snaps, size) = Qcow2SnapshotTable.Read(hf, 0x10000, 256, 65536, 0);
        Assert.That(snaps, Has.Count.EqualTo(256));
        Assert.That(size, Is.EqualTo(255 * 40 + 40));
    }

    [Test]
    public void Read_ExtraDataOverLimit_ThrowsCorrupt()
    {
        using var dir = new TempDir();
        byte[] file = new byte[0x20000];
        BinaryPrimitives.WriteInt32BigEndian(file.AsSpan(0x10000 + 36), 5000); // extra_data_size
        File.WriteAllBytes(dir["t"], file);
        using var hf = HostFile.Open(dir["t"], readOnly: true);
        var e = Assert.Throws<ImageCorruptException>(() => Qcow2SnapshotTable.Read(hf, 0x10000, 1, 65536, 0));
        Assert.That(e!.Message, Is.EqualTo("Too much extra metadata in snapshot table entry 0"));
    }
}
