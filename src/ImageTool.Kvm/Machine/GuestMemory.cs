using System.Buffers.Binary;
using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// Guest RAM from guest-physical 0: one anonymous mapping handed to KVM as memory slot 0. Every access is
/// bounds-checked, because guest-supplied addresses (disk buffers, vrings) must never reach outside it.
/// </summary>
internal sealed unsafe class GuestMemory : IDisposable
{
    private byte* _base;

    public GuestMemory(long size)
    {
        Size = size;
        nint p = LibC.Mmap(0, (nuint)size, LibC.ProtRead | LibC.ProtWrite,
            LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve, -1, 0);
        if (p == -1) throw new KvmException($"Could not allocate {size >> 20} MiB of guest memory: {LibC.ErrorText(LibC.Errno)}");
        _base = (byte*)p;
    }

    public long Size { get; }

    public nint HostAddress => (nint)_base;

    public bool Contains(ulong address, long length) =>
        length >= 0 && address <= (ulong)Size && (ulong)length <= (ulong)Size - address;

    /// <summary>The bytes at [address, address+length); throws <see cref="GuestMemoryException"/> outside RAM.</summary>
    public Span<byte> Span(ulong address, int length)
    {
        if (!Contains(address, length)) throw new GuestMemoryException(address, length);
        return new Span<byte>(_base + address, length);
    }

    public byte ReadByte(ulong address) => Span(address, 1)[0];
    public ushort ReadUInt16(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(Span(address, 2));
    public uint ReadUInt32(ulong address) => BinaryPrimitives.ReadUInt32LittleEndian(Span(address, 4));
    public ulong ReadUInt64(ulong address) => BinaryPrimitives.ReadUInt64LittleEndian(Span(address, 8));
    public void WriteByte(ulong address, byte value) => Span(address, 1)[0] = value;
    public void WriteUInt16(ulong address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Span(address, 2), value);
    public void WriteUInt32(ulong address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Span(address, 4), value);
    public void WriteUInt64(ulong address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Span(address, 8), value);
    public void Write(ulong address, ReadOnlySpan<byte> data) => data.CopyTo(Span(address, data.Length));

    public void Dispose()
    {
        if (_base == null) return;
        LibC.Munmap((nint)_base, (nuint)Size);
        _base = null;
    }
}
