namespace ImageTool.Kvm.Machine;

/// <summary>Routes MMIO exits to devices by address range; unclaimed addresses float (reads all-ones, writes ignored).</summary>
internal sealed class MmioBus
{
    private readonly List<(ulong First, ulong Length, IMmioDevice Device)> _ranges = [];

    public void Add(ulong first, ulong length, IMmioDevice device) => _ranges.Add((first, length, device));

    public void Handle(RunState run)
    {
        ulong address = run.MmioAddress;
        var data = run.MmioData;
        foreach (var (first, length, device) in _ranges)
        {
            if (address - first >= length) continue;
            ulong offset = address - first;
            if (run.MmioIsWrite)
            {
                uint value = 0;
                for (int i = 0; i < Math.Min(4, data.Length); i++) value |= (uint)data[i] << (8 * i);
                device.Write(offset, data.Length, value);
            }
            else
            {
                uint value = device.Read(offset, data.Length);
                data.Clear();
                for (int i = 0; i < Math.Min(4, data.Length); i++) data[i] = (byte)(value >> (8 * i));
            }
            return;
        }
        if (!run.MmioIsWrite) data.Fill(0xFF);
    }
}
