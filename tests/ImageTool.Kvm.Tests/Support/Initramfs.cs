using System.Text;

namespace ImageTool.Kvm.Tests.Support;

/// <summary>Writes an uncompressed newc cpio archive (what <c>cpio -o -H newc</c> writes), the initramfs format.</summary>
public sealed class Initramfs
{
    private readonly MemoryStream _archive = new();
    private int _inode = 1000;

    public Initramfs Directory(string name) => Add(name, 0x41ED, []);

    public Initramfs File(string name, byte[] data, bool executable = false) => Add(name, executable ? 0x81EDu : 0x81A4u, data);

    public byte[] ToArray()
    {
        Add("TRAILER!!!", 0, []);
        while (_archive.Length % 512 != 0) _archive.WriteByte(0);
        return _archive.ToArray();
    }

    private Initramfs Add(string name, uint mode, byte[] data)
    {
        byte[] path = Encoding.ASCII.GetBytes(name + "\0");
        uint[] fields = [(uint)_inode++, mode, 0, 0, (mode & 0x4000) != 0 ? 2u : 1u, 0, (uint)data.Length, 0, 0, 0, 0, (uint)path.Length, 0];
        var header = new StringBuilder("070701");
        foreach (uint f in fields) header.Append(f.ToString("X8"));
        _archive.Write(Encoding.ASCII.GetBytes(header.ToString()));
        _archive.Write(path);
        Pad();
        _archive.Write(data);
        Pad();
        return this;
    }

    private void Pad()
    {
        while (_archive.Length % 4 != 0) _archive.WriteByte(0);
    }
}
