namespace ImageTool.Kvm.Machine;

/// <summary>Routes port I/O to devices; unclaimed ports float (reads all-ones, writes ignored) so probes fail fast.</summary>
internal sealed class IoBus
{
    private readonly List<(ushort First, ushort Last, IPortDevice Device)> _ranges = [];

    public void Add(ushort first, int count, IPortDevice device) => _ranges.Add((first, (ushort)(first + count - 1), device));

    public uint Read(ushort port, int size)
    {
        var device = Find(port);
        return device != null ? device.Read(port, size) & Mask(size) : Mask(size);
    }

    public void Write(ushort port, int size, uint value) => Find(port)?.Write(port, size, value & Mask(size));

    private IPortDevice? Find(ushort port)
    {
        foreach (var (first, last, device) in _ranges)
        {
            if (port >= first && port <= last) return device;
        }
        return null;
    }

    private static uint Mask(int size) => size >= 4 ? uint.MaxValue : (1u << (8 * size)) - 1;
}
